"""RTMP URLs, split into host, port, application and stream key the way FFmpeg does.

An RTMP URL names two things an RTMP client sends separately: the *application*
(``connect``'s ``app``, and the ``tcUrl`` built from it) and the *stream key* (the play
path or publish name of ``play``, ``publish``, ``releaseStream``, ``FCPublish``).
Nothing in the URL marks where one ends and the other begins, so every client has its
own rule.  :func:`parse_url` follows FFmpeg's (``rtmp_open`` in
``libavformat/rtmpproto.c``, checked against FFmpeg 5.1 on the wire by
``tests/test_url.py``), which is what ``ffmpeg -f flv rtmp://...`` users and the
single-URL instructions of streaming platforms assume.  Pure string work: no I/O, no
DNS.

The URL
-------

``scheme://[user[:password]@]host[:port]/path``, where

* *scheme* is ``rtmp`` (plain TCP, default port 1935) or ``rtmps`` (TLS, default port
  443), in any letter case (FFmpeg wants lower case; RFC 3986 says case does not
  matter).  ``rtmpt``, ``rtmpts``, ``rtmpe``, ``rtmpte`` (HTTP tunnelling, Adobe's
  encryption) and ``rtmfp`` are named as unsupported; anything else is "not an RTMP
  URL".  ``://`` is required.
* *host* is a name or IPv4 address, or an IPv6 address in brackets
  (``rtmp://[::1]:1936/live/key``).  :attr:`RTMPURL.host` holds it without brackets
  (ready for ``getaddrinfo``); :attr:`RTMPURL.url_host` has them.  IPv6 zone
  identifiers (``[fe80::1%25eth0]``) are refused.  The host is kept as written (no
  lower-casing, no IDNA), as FFmpeg sends it in ``tcUrl``.
* *port* is 1 to 65535; an empty port (``rtmp://h:/live``) means the default (RFC
  3986).  FFmpeg would ``atoi`` anything; we refuse what is not a number.
* *user* and *password*: FFmpeg uses them for the Adobe and Limelight authentication
  schemes of some servers (and only when a ``:`` is present).  They are kept in
  :attr:`~RTMPURL.username` and :attr:`~RTMPURL.password`, never put in ``tc_url``, and
  masked in ``repr``.  As in FFmpeg, the host starts after the *last* ``@`` and the
  password after the *first* ``:``, so ``rtmp://u:p@ss@h/live`` is user ``u``,
  password ``p@ss``.
* The authority ends at the first ``/``, ``?`` or ``#``.  The path must start with
  ``/`` (FFmpeg would silently drop the first character of ``rtmp://h?x/y`` and use
  app ``x``; we refuse it).

Nothing is percent-decoded, anywhere: FFmpeg sends ``rtmp://h/live/a%20b`` as stream
key ``a%20b``, and so do we.  ``?query`` and ``#fragment`` are not split off either:
they belong to whichever of app and stream key they fall in, and the server sees them
(nginx-rtmp, for one, cuts ``app?args`` at the first ``?`` in ``connect`` after
dropping one trailing ``/`` or ``/_definst_``, and ``name?args`` likewise in ``publish``
and ``play``, and hands the arguments to its ``on_connect``/``on_publish`` hooks).

Leading and trailing whitespace around the whole URL is stripped (it comes from
copy and paste).  Whitespace or control characters inside the URL are refused:
FFmpeg reads a space as the start of librtmp-style options (``rtmp://h/app/key
live=1``), warns that it does not support them and cuts the URL there; we would
rather say so than drop part of what the user wrote.

The split (no ``stream_key`` argument)
--------------------------------------

With *path* the part after the authority, and the rules tried in this order:

1. **slist**: if a ``?`` occurs in the path and ``slist=`` occurs after it, the
   whole path (without its leading ``/``, query included) is the app, and the stream
   key is the text after the first ``slist=`` in the path, up to the next ``&``.
   ``/live?slist=a/b&x=1`` -> app ``live?slist=a/b&x=1``, key ``a/b``.  (FFmpeg 5.1;
   older versions cut the app at the ``?``.)
2. **ondemand**: a path starting ``/ondemand/`` has app ``ondemand`` and everything
   after that is the key.  ``/ondemand/a/b/c`` -> ``ondemand``, ``a/b/c``.
3. Otherwise look at the path after its first character:

   * no ``/`` in it: all of it is the app and the key is empty.  ``/live`` ->
     ``live``, ``""``; ``""`` and ``/`` -> ``""``, ``""``.
   * one ``/``, or a ``:`` in the second component (before the next ``/``): the
     first component is the app and the rest is the key.  ``/live/key`` -> ``live``,
     ``key``; ``/vod/mp4:dir/file.mp4`` -> ``vod``, ``mp4:dir/file.mp4`` (the ``:``
     rule: ``mp4:dir`` is a play path, not an application instance).
   * otherwise (two or more ``/``): the first two components are the app
     (``app/instance``) and the rest is the key.  ``/app/inst/key`` -> ``app/inst``,
     ``key``; ``/app/inst/a/b`` -> ``app/inst``, ``a/b``; ``/live/key/`` ->
     ``live/key``, ``""`` (a trailing slash makes a two-component app: FFmpeg does
     exactly this, so we do too).

Then the key, if it came from the URL, gets FFmpeg's file-name treatment (case
sensitive, as in FFmpeg):

* no ``:`` in it and ending ``.mp4`` or ``.f4v``: ``mp4:`` is put in front
  (``file.mp4`` -> ``mp4:file.mp4``);
* otherwise, ending ``.flv``: that is cut off (``file.flv`` -> ``file``).

A query stays where the split puts it: ``/live/key?token=abc`` -> ``live``,
``key?token=abc``; ``/live?x=1/key`` -> ``live?x=1``, ``key``.

Examples (``tc_url`` always names the port, as FFmpeg's and librtmp's do)::

    URL                                        app         stream key    tc_url
    rtmp://h/live/key                          live        key           rtmp://h:1935/live
    rtmps://h/live/key                         live        key           rtmps://h:443/live
    rtmp://[::1]:1936/live/key                 live        key           rtmp://[::1]:1936/live
    rtmp://h/live                              live        ""            rtmp://h:1935/live
    rtmp://h/vod/file.flv                      vod         file          rtmp://h:1935/vod
    rtmp://live.twitch.tv/app/live_123_abc     app         live_123_abc  (Twitch ingest)
    rtmp://a.rtmp.youtube.com/live2/xxxx-xxxx  live2       xxxx-xxxx     (YouTube ingest)

The ``stream_key`` argument
---------------------------

``parse_url(url, stream_key=key)`` is the form of ExRTMP's ``uri:`` + ``stream_key:``
and of FFmpeg's ``-rtmp_app PATH -rtmp_playpath KEY``: the whole path after the host
is the app (one trailing ``/`` dropped: ``rtmp://h/app/inst/`` -> ``app/inst``), and
the key is used exactly as given (no ``mp4:``/``.flv`` treatment, as FFmpeg's
``-rtmp_playpath``).  Note that FFmpeg's ``-rtmp_playpath`` *alone* still splits the
path as above and throws the URL's key away, so ``rtmp://h/app/inst`` with
``-rtmp_playpath k`` connects to app ``app`` there but to ``app/inst`` here.

Limits FFmpeg has and we do not: it truncates the app to 127 bytes, the host to 255
and the path to 1023.  We only refuse an app, stream key or ``tcUrl`` longer than the
65535 bytes of an AMF0 string.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final

import attrs

from .errors import LocalProtocolError

__all__ = [
    "DEFAULT_PORTS",
    "RTMPS_DEFAULT_PORT",
    "RTMP_DEFAULT_PORT",
    "RTMPURL",
    "parse_url",
]

#: Default port of ``rtmp://``.
RTMP_DEFAULT_PORT: Final = 1935
#: Default port of ``rtmps://`` (as in FFmpeg; some services use 443, others 1935 + TLS).
RTMPS_DEFAULT_PORT: Final = 443
#: Default port by scheme.
DEFAULT_PORTS: Final[dict[str, int]] = {"rtmp": RTMP_DEFAULT_PORT, "rtmps": RTMPS_DEFAULT_PORT}

_UNSUPPORTED_SCHEMES: Final = {
    "rtmpt": "RTMP tunnelled over HTTP",
    "rtmpts": "RTMP tunnelled over HTTPS",
    "rtmpe": "Adobe-encrypted RTMP",
    "rtmpte": "Adobe-encrypted RTMP tunnelled over HTTP",
    "rtmfp": "RTMFP, a different protocol over UDP",
}

# An AMF0 string (app, tcUrl, stream key) holds at most this many bytes of UTF-8.
_AMF0_STRING_MAX: Final = 0xFFFF

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
# Whitespace (Unicode's idea of it) and C0/DEL controls never belong inside a URL.
_BAD_CHARACTER = re.compile(r"[\s\x00-\x1f\x7f]")
# RFC 3986 reg-name characters (unreserved, pct-encoded, sub-delims), plus non-ASCII
# for internationalized names, which the resolver may or may not accept.
_HOST_NAME = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=%\u0080-\U0010ffff]+")
_PORT = re.compile(r"[0-9]{1,5}")


def _fail(message: str) -> LocalProtocolError:
    return LocalProtocolError(f"bad RTMP URL: {message}")


# -- FFmpeg's split -----------------------------------------------------------------------


def _split_path(path: str) -> tuple[str, str]:
    """(app, stream key) from a URL path, by FFmpeg's rules (see the module docstring)."""
    fname: str | None
    query = path.find("?")
    if query >= 0 and "slist=" in path[query:]:
        app = path[1:]
        # FFmpeg looks for "slist=" from the start of the path, not from the "?".
        fname = path[path.index("slist=") + 6 :].partition("&")[0]
    elif path.startswith("/ondemand/"):
        app, fname = "ondemand", path[10:]
    else:
        rest = path[1:]
        first = rest.find("/")
        if first < 0:
            app, fname = rest, None
        else:
            after = rest[first + 1 :]
            slash = after.find("/")
            colon = after.find(":")
            if slash < 0 or 0 <= colon < slash:
                app, fname = rest[:first], after
            else:
                app, fname = rest[: first + 1 + slash], after[slash + 1 :]
    return app, _play_path(fname)


def _play_path(fname: str | None) -> str:
    """FFmpeg's treatment of a file name taken from a URL (``mp4:`` prefix, ``.flv``)."""
    if fname is None:
        return ""
    if ":" not in fname and fname.endswith((".mp4", ".f4v")):
        return "mp4:" + fname
    if fname.endswith(".flv"):
        return fname[:-4]
    return fname


def _path_for(app: str, stream_key: str) -> str | None:
    """A URL path that :func:`_split_path` turns into exactly (app, stream key), or None.

    Each candidate is checked by splitting it again, so a wrong one can never be
    returned.  Every split of a real URL path has one: the first candidate covers the
    ``app/key`` forms, the second the ``slist=`` form and empty keys.
    """
    # FFmpeg looks only at a name's last four characters: ".flv" is cut off and then
    # no "mp4:" is put in front, so the key with ".flv" added always reads back as
    # itself.  That is how a key that ends in ".flv", ".mp4" or ".f4v" is written.
    candidates: tuple[str, ...]
    if stream_key:
        candidates = (
            f"/{app}/{stream_key}",
            f"/{app}/{stream_key}.flv",
            f"/{app}",
        )
    else:
        candidates = (f"/{app}" if app else "", f"/{app}/")
    for candidate in candidates:
        if not _BAD_CHARACTER.search(candidate) and _split_path(candidate) == (app, stream_key):
            return candidate
    return None


# -- validation ---------------------------------------------------------------------------


def _check_host(host: str) -> None:
    if not host:
        raise _fail("no host")
    if ":" in host:
        if "%" in host:
            raise _fail("IPv6 zone identifiers are not supported")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise _fail(f"{host!r} is not an IPv6 address") from None
    elif not _HOST_NAME.fullmatch(host):
        raise _fail(f"{host!r} is not a valid host name")


def _check_amf_string(what: str, value: str) -> None:
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise _fail(f"the {what} is not valid Unicode (lone surrogate)") from None
    if size > _AMF0_STRING_MAX:
        raise _fail(f"the {what} is {size} bytes long; an AMF0 string holds at most 65535")


def _validate_scheme(instance: RTMPURL, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in DEFAULT_PORTS:
        raise LocalProtocolError(f"RTMPURL.scheme must be 'rtmp' or 'rtmps', not {value!r}")


def _validate_host(instance: RTMPURL, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str):
        raise LocalProtocolError(f"RTMPURL.host must be a str, not {type(value).__name__}")
    _check_host(value)


def _validate_port(instance: RTMPURL, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise LocalProtocolError(f"RTMPURL.port must be an int from 1 to 65535, not {value!r}")


def _validate_text(instance: RTMPURL, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str):
        raise LocalProtocolError(
            f"RTMPURL.{attribute.name} must be a str, not {type(value).__name__}"
        )
    _check_amf_string(attribute.name.replace("_", " "), value)


def _validate_username(
    instance: RTMPURL, attribute: attrs.Attribute[str | None], value: str | None
) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise LocalProtocolError(f"RTMPURL.username must be a str, not {type(value).__name__}")
    if any(c in value for c in ":/?#") or _BAD_CHARACTER.search(value):
        raise LocalProtocolError(
            "RTMPURL.username cannot contain ':', '/', '?', '#', whitespace or controls "
            "(FFmpeg does not percent-decode user information)"
        )


def _validate_password(
    instance: RTMPURL, attribute: attrs.Attribute[str | None], value: str | None
) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise LocalProtocolError(f"RTMPURL.password must be a str, not {type(value).__name__}")
    if instance.username is None:
        raise LocalProtocolError("RTMPURL.password needs a username (it may be '')")
    if any(c in value for c in "/?#") or _BAD_CHARACTER.search(value):
        raise LocalProtocolError(
            "RTMPURL.password cannot contain '/', '?', '#', whitespace or controls "
            "(FFmpeg does not percent-decode user information)"
        )


def _mask(value: str | None) -> str:
    return "None" if value is None else "'***'"


def _default_port(instance: RTMPURL) -> int:
    return DEFAULT_PORTS.get(instance.scheme, RTMP_DEFAULT_PORT)


# -- the value ----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class RTMPURL:
    """Where to connect and what to ask for: an RTMP URL taken apart.

    Make one with :func:`parse_url`, or directly (``port`` then defaults by scheme)::

        >>> url = parse_url("rtmp://example.com/live/key?token=abc")
        >>> url.host, url.port, url.app, url.stream_key
        ('example.com', 1935, 'live', 'key?token=abc')
        >>> url.tc_url
        'rtmp://example.com:1935/live'
        >>> str(url)
        'rtmp://example.com/live/key?token=abc'

    Two values are equal when they connect to the same place with the same strings, so
    ``rtmp://h/live/key`` and ``rtmp://h:1935/live/key`` parse to equal values.
    """

    #: ``"rtmp"`` or ``"rtmps"`` (TLS).
    scheme: str = attrs.field(validator=_validate_scheme)
    #: Host name or address, IPv6 without brackets (``"::1"``), as written in the URL.
    host: str = attrs.field(validator=_validate_host)
    #: TCP port; defaults to 1935 for ``rtmp`` and 443 for ``rtmps``.
    port: int = attrs.field(
        default=attrs.Factory(_default_port, takes_self=True), validator=_validate_port
    )
    #: The application: ``connect``'s ``app`` (``"live"``, ``"app/instance"``, may
    #: carry a ``?query``).
    app: str = attrs.field(default="", validator=_validate_text)
    #: The play path / publish name (``"key"``, ``"key?token=abc"``, ``"mp4:file.mp4"``).
    stream_key: str = attrs.field(default="", validator=_validate_text)
    #: User name from ``user[:password]@`` (not percent-decoded), or None.
    username: str | None = attrs.field(default=None, validator=_validate_username)
    #: Password from ``user:password@`` (not percent-decoded), or None; masked in repr.
    password: str | None = attrs.field(default=None, validator=_validate_password, repr=_mask)

    def __attrs_post_init__(self) -> None:
        _check_amf_string("tcUrl", self.tc_url)

    @property
    def tls(self) -> bool:
        """True for ``rtmps://``: wrap the TCP connection in TLS before the handshake."""
        return self.scheme == "rtmps"

    @property
    def has_default_port(self) -> bool:
        """True when :attr:`port` is the scheme's default."""
        return self.port == DEFAULT_PORTS[self.scheme]

    @property
    def url_host(self) -> str:
        """:attr:`host` as it appears in a URL: IPv6 addresses in brackets."""
        return f"[{self.host}]" if ":" in self.host else self.host

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` to connect a socket to."""
        return self.host, self.port

    @property
    def tc_url(self) -> str:
        """``connect``'s ``tcUrl`` as FFmpeg builds it: ``scheme://host:port/app``.

        The port is always written and user information never is; a query in the app
        stays in it.
        """
        return f"{self.scheme}://{self.url_host}:{self.port}/{self.app}"

    def _origin(self) -> str:
        """``scheme://[user[:password]@]host[:port]``, the port only if not the default."""
        userinfo = ""
        if self.username is not None:
            userinfo = self.username
            if self.password is not None:
                userinfo += ":" + self.password
            userinfo += "@"
        port = "" if self.has_default_port else f":{self.port}"
        return f"{self.scheme}://{userinfo}{self.url_host}{port}"

    @property
    def app_url(self) -> str:
        """The URL of the application, for ``parse_url(app_url, stream_key=...)``.

        ``parse_url(u.app_url, stream_key=u.stream_key) == u`` for every value whose app
        has no whitespace or control characters.
        """
        trailing = "/" if self.app.endswith("/") else ""
        return f"{self._origin()}/{self.app}{trailing}"

    @property
    def url(self) -> str:
        """One URL that :func:`parse_url` turns back into this value (credentials included).

        The default port is left out.  Raises
        :class:`~trio_rtmp.core.errors.LocalProtocolError` when FFmpeg's URL syntax
        cannot say it: some keys with ``/`` after a
        one-component app (``live`` + ``a/b`` reads back as ``live/a`` + ``b``), or
        whitespace or controls in the app or key.  Such values still work: pass
        :attr:`app_url` and :attr:`stream_key` separately.
        """
        path = _path_for(self.app, self.stream_key)
        if path is None:
            raise LocalProtocolError(
                f"app {self.app!r} with stream key {self.stream_key!r} cannot be written "
                "as one RTMP URL; use app_url and stream_key separately"
            )
        return self._origin() + path

    def __str__(self) -> str:
        """:attr:`url`, or if there is none, :attr:`app_url` with the key given apart.

        The fallback (``"rtmp://h/live (stream key 'file.mp4')"``) is for reading, and
        :func:`parse_url` refuses it rather than misreading it.
        """
        try:
            return self.url
        except LocalProtocolError:
            return f"{self.app_url} (stream key {self.stream_key!r})"

    def with_stream_key(self, stream_key: str) -> RTMPURL:
        """The same URL with another stream key, used as given (no ``mp4:``/``.flv`` rules)."""
        return attrs.evolve(self, stream_key=stream_key)

    def with_app(self, app: str) -> RTMPURL:
        """The same URL with another application."""
        return attrs.evolve(self, app=app)

    def reconnect_target(self, tc_url: str | None) -> RTMPURL:
        """Where an Enhanced RTMP ReconnectRequest with ``tc_url`` sends this client.

        ``tc_url`` is resolved against this URL's :attr:`tc_url` as a URI reference
        (RFC 3986): absolute (``rtmp://other:1935/app``), network-path
        (``//192.0.2.1/app``: this scheme), absolute-path (``/app``: this host, port and
        credentials) or relative-path (``app2``: replaces the last segment of the app).
        ``None`` means this URL.  The stream key stays; credentials go only to this
        host.  Raises :class:`~trio_rtmp.core.errors.LocalProtocolError` for a
        ``tc_url`` that is not a usable RTMP URL, and for a move from ``rtmps://`` to
        ``rtmp://`` (it would send the stream key in the clear).
        """
        if tc_url is None:
            return self
        if not isinstance(tc_url, str):
            raise LocalProtocolError(f"tc_url must be a str, not {type(tc_url).__name__}")
        reference = tc_url.strip()
        if reference.startswith("//"):
            target = f"{self.scheme}:{reference}"
        elif reference.startswith("/"):
            target = self._origin() + reference
        elif "://" in reference:
            target = reference
        else:
            directory = ("/" + self.app).rpartition("/")[0]
            target = f"{self._origin()}{directory}/{reference}"
        url = parse_url(target, stream_key=self.stream_key)
        if self.tls and not url.tls:
            raise LocalProtocolError("a reconnect from rtmps:// to rtmp:// is refused")
        return url


# -- parsing ------------------------------------------------------------------------------


def _parse_authority(authority: str) -> tuple[str | None, str | None, str, str]:
    """(username, password, host, port text) of ``[user[:password]@]host[:port]``."""
    username = password = None
    userinfo, at, hostport = authority.rpartition("@")
    if at:
        username, colon, secret = userinfo.partition(":")
        if colon:
            password = secret
    if hostport.startswith("["):
        close = hostport.find("]")
        if close < 0:
            raise _fail("'[' without ']' around an IPv6 address")
        host, after = hostport[1:close], hostport[close + 1 :]
        if after and not after.startswith(":"):
            raise _fail(f"unexpected {after!r} after the IPv6 address")
        if not host:
            raise _fail("no host")
        if ":" not in host:
            raise _fail(f"[{host}] is not an IPv6 address")
        return username, password, host, after[1:]
    if hostport.count(":") > 1:
        raise _fail("an IPv6 address must be written in brackets, as rtmp://[::1]/app/key")
    if "[" in hostport or "]" in hostport:
        raise _fail(f"unexpected bracket in host {hostport!r}")
    host, _, port = hostport.partition(":")
    return username, password, host, port


def parse_url(url: str, stream_key: str | None = None) -> RTMPURL:
    """Take an ``rtmp://`` or ``rtmps://`` URL apart as FFmpeg does.

    Without ``stream_key``, the path is split into app and stream key by FFmpeg's rules
    (module docstring); with it, the whole path is the app (one trailing ``/``
    dropped) and ``stream_key`` is the key, exactly as given.

    Raises :class:`~trio_rtmp.core.errors.LocalProtocolError` for anything that is not
    a usable RTMP URL, with a message that says what is wrong (and never repeats the
    URL, which may hold a password or a secret stream key).
    """
    if not isinstance(url, str):
        raise LocalProtocolError(f"an RTMP URL must be a str, not {type(url).__name__}")
    if stream_key is not None and not isinstance(stream_key, str):
        raise LocalProtocolError(f"stream_key must be a str, not {type(stream_key).__name__}")
    text = url.strip()
    scheme, separator, rest = text.partition("://")
    if not separator or not _SCHEME.fullmatch(scheme):
        raise _fail("expected rtmp://host[:port]/app[/instance]/streamkey or rtmps://...")
    scheme = scheme.lower()
    if scheme not in DEFAULT_PORTS:
        if scheme in _UNSUPPORTED_SCHEMES:
            raise _fail(
                f"{scheme}:// ({_UNSUPPORTED_SCHEMES[scheme]}) is not supported; "
                "use rtmp:// or rtmps://"
            )
        raise _fail(f"{scheme}:// is not RTMP; use rtmp:// or rtmps://")
    bad = _BAD_CHARACTER.search(text)
    if bad is not None:
        what = "whitespace" if bad.group().isspace() else "a control character"
        raise _fail(
            f"{what} at position {bad.start()} (librtmp-style 'key=value' options after "
            "a space are not supported; percent-encode the character if it is data)"
        )
    end = len(rest)
    for delimiter in "/?#":
        found = rest.find(delimiter)
        if 0 <= found < end:
            end = found
    authority, path = rest[:end], rest[end:]
    if path and not path.startswith("/"):
        raise _fail(f"expected '/' after the host, found {path[0]!r}")
    username, password, host, port_text = _parse_authority(authority)
    if not port_text:
        port = DEFAULT_PORTS[scheme]
    elif _PORT.fullmatch(port_text) and 1 <= int(port_text) <= 65535:
        port = int(port_text)
    else:
        raise _fail(f"port {port_text!r} is not a number from 1 to 65535")
    if stream_key is None:
        app, key = _split_path(path)
    else:
        app = path[1:]
        if app.endswith("/"):
            app = app[:-1]
        key = stream_key
    return RTMPURL(
        scheme=scheme,
        host=host,
        port=port,
        app=app,
        stream_key=key,
        username=username,
        password=password,
    )
