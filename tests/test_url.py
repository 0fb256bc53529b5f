"""RTMP URL parsing: FFmpeg's split of app and stream key, by table, by Hypothesis, and
against a real FFmpeg on loopback.

The expected values in the tables were worked out by hand from ``rtmp_open`` in
FFmpeg's ``libavformat/rtmpproto.c`` (and ``av_url_split``/``ff_url_join``); the
comment on each row names the rule.  ``test_split_matches_real_ffmpeg`` then runs FFmpeg
5.1 against a tiny RTMP responder and checks the ``connect`` app, ``tcUrl`` and the
``releaseStream`` name it sends for the same URLs.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from trio_rtmp.core.chunks import ChunkReader, ChunkWriter
from trio_rtmp.core.errors import LocalProtocolError, ProtocolError
from trio_rtmp.core.handshake import ServerHandshake
from trio_rtmp.core.messages import Command, decode_message, encode_message
from trio_rtmp.core.url import RTMPURL, parse_url

# -- the split, by table ----------------------------------------------------------------

# (url, app, stream key, tc_url): rtmp:// unless written otherwise.
SPLITS = [
    # One '/' after the app: first component is the app, the rest the play path.
    ("rtmp://h/live/key", "live", "key", "rtmp://h:1935/live"),
    # Explicit port; tcUrl always carries the port (ff_url_join gets port >= 0).
    ("rtmp://h:1936/live/key", "live", "key", "rtmp://h:1936/live"),
    # rtmps: RTMPS_DEFAULT_PORT 443.
    ("rtmps://h/live/key", "live", "key", "rtmps://h:443/live"),
    ("rtmps://h:1937/live/key", "live", "key", "rtmps://h:1937/live"),
    # Two or more '/': "app/instance" is the app (the instance rule).
    ("rtmp://h/app/inst/key", "app/inst", "key", "rtmp://h:1935/app/inst"),
    ("rtmp://h/app/inst/a/b", "app/inst", "a/b", "rtmp://h:1935/app/inst"),
    # The query stays in whichever part the split puts it in.
    ("rtmp://h/live/key?token=x", "live", "key?token=x", "rtmp://h:1935/live"),
    ("rtmp://h/live?x=1/key", "live?x=1", "key", "rtmp://h:1935/live?x=1"),
    ("rtmp://h/live/key?a=1&b=2", "live", "key?a=1&b=2", "rtmp://h:1935/live"),
    # "/ondemand/" prefix: app "ondemand", everything after it is the play path.
    ("rtmp://h/ondemand/mp4:file.mp4", "ondemand", "mp4:file.mp4", "rtmp://h:1935/ondemand"),
    ("rtmp://h/ondemand/a/b/c", "ondemand", "a/b/c", "rtmp://h:1935/ondemand"),
    ("rtmp://h/ondemand/", "ondemand", "", "rtmp://h:1935/ondemand"),
    # "/ondemand" without the slash is the ordinary no-'/' case.
    ("rtmp://h/ondemand", "ondemand", "", "rtmp://h:1935/ondemand"),
    # The ':' rule: a ':' before the next '/' marks a play path, not an instance.
    ("rtmp://h/vod/mp4:dir/file.mp4", "vod", "mp4:dir/file.mp4", "rtmp://h:1935/vod"),
    ("rtmp://h/a/b:c/d/e", "a", "b:c/d/e", "rtmp://h:1935/a"),
    # ... but only in the component right after the app.
    ("rtmp://h/a/b/c:d/e", "a/b", "c:d/e", "rtmp://h:1935/a/b"),
    # File names: .mp4/.f4v without ':' get "mp4:", ".flv" is cut (case sensitive).
    ("rtmp://h/vod/file.mp4", "vod", "mp4:file.mp4", "rtmp://h:1935/vod"),
    ("rtmp://h/vod/file.f4v", "vod", "mp4:file.f4v", "rtmp://h:1935/vod"),
    ("rtmp://h/vod/file.flv", "vod", "file", "rtmp://h:1935/vod"),
    ("rtmp://h/vod/x.flv.flv", "vod", "x.flv", "rtmp://h:1935/vod"),
    ("rtmp://h/vod/FILE.MP4", "vod", "FILE.MP4", "rtmp://h:1935/vod"),
    ("rtmp://h/vod/a:b.mp4", "vod", "a:b.mp4", "rtmp://h:1935/vod"),
    ("rtmp://h/vod/mp4:x.flv", "vod", "mp4:x", "rtmp://h:1935/vod"),
    ("rtmp://h/app/inst/file.mp4", "app/inst", "mp4:file.mp4", "rtmp://h:1935/app/inst"),
    # No '/' after the app: no play path (FFmpeg >= 2015 sends an empty name).
    ("rtmp://h/live", "live", "", "rtmp://h:1935/live"),
    ("rtmp://h/live/", "live", "", "rtmp://h:1935/live"),
    ("rtmp://h", "", "", "rtmp://h:1935/"),
    ("rtmp://h/", "", "", "rtmp://h:1935/"),
    # A trailing slash after a key makes a two-component app (FFmpeg does this).
    ("rtmp://h/live/key/", "live/key", "", "rtmp://h:1935/live/key"),
    # An empty first component is an empty app.
    ("rtmp://h//x", "", "x", "rtmp://h:1935/"),
    # slist= after a '?': the whole path is the app (FFmpeg 5.1), the key runs to '&'.
    (
        "rtmp://h/live?slist=a/b&x=1",
        "live?slist=a/b&x=1",
        "a/b",
        "rtmp://h:1935/live?slist=a/b&x=1",
    ),
    ("rtmp://h/live/a?slist=b", "live/a?slist=b", "b", "rtmp://h:1935/live/a?slist=b"),
    # strstr: any "slist=" after the '?' counts, even inside another parameter.
    ("rtmp://h/live/k?x=slist=1", "live/k?x=slist=1", "1", "rtmp://h:1935/live/k?x=slist=1"),
    # No percent-decoding, fragments are data (av_url_split keeps them in the path).
    ("rtmp://h/live/a%20b", "live", "a%20b", "rtmp://h:1935/live"),
    ("rtmp://h/live/key#frag", "live", "key#frag", "rtmp://h:1935/live"),
    ("rtmp://h/l%2Fve/key", "l%2Fve", "key", "rtmp://h:1935/l%2Fve"),
    # IPv6: brackets in tcUrl (ff_url_join brackets numeric IPv6 hosts).
    ("rtmp://[::1]/live/key", "live", "key", "rtmp://[::1]:1935/live"),
    ("rtmp://[::1]:1936/live/key", "live", "key", "rtmp://[::1]:1936/live"),
    ("rtmp://[2001:db8::7]:1/a/b/c", "a/b", "c", "rtmp://[2001:db8::7]:1/a/b"),
    ("rtmp://192.0.2.1:1935/live/key", "live", "key", "rtmp://192.0.2.1:1935/live"),
    # User information never reaches tcUrl (ff_url_join gets NULL authorization).
    ("rtmp://user:pw@h/live/key", "live", "key", "rtmp://h:1935/live"),
    # Real ingest URLs.
    (
        "rtmp://a.rtmp.youtube.com/live2/xxxx-xxxx-xxxx-xxxx",
        "live2",
        "xxxx-xxxx-xxxx-xxxx",
        "rtmp://a.rtmp.youtube.com:1935/live2",
    ),
    (
        "rtmps://a.rtmps.youtube.com:443/live2/abcd-efgh",
        "live2",
        "abcd-efgh",
        "rtmps://a.rtmps.youtube.com:443/live2",
    ),
    (
        "rtmp://live.twitch.tv/app/live_123456_AbCdEf",
        "app",
        "live_123456_AbCdEf",
        "rtmp://live.twitch.tv:1935/app",
    ),
    (
        "rtmps://live-api-s.facebook.com:443/rtmp/FB-123-0-Ab?s_bl=1&s_sw=0",
        "rtmp",
        "FB-123-0-Ab?s_bl=1&s_sw=0",
        "rtmps://live-api-s.facebook.com:443/rtmp",
    ),
    # Scheme case does not matter (RFC 3986); the host is kept as written.
    ("RTMP://Example.COM/live/key", "live", "key", "rtmp://Example.COM:1935/live"),
    # Surrounding whitespace is copy-and-paste residue.
    ("  rtmp://h/live/key\n", "live", "key", "rtmp://h:1935/live"),
    # Empty port means the default (RFC 3986).
    ("rtmp://h:/live/key", "live", "key", "rtmp://h:1935/live"),
    # Non-ASCII is data, passed on as UTF-8 in AMF strings.
    ("rtmp://h/live/ключ", "live", "ключ", "rtmp://h:1935/live"),
]


@pytest.mark.parametrize(("url", "app", "stream_key", "tc_url"), SPLITS)
def test_split(url: str, app: str, stream_key: str, tc_url: str) -> None:
    parsed = parse_url(url)
    assert (parsed.app, parsed.stream_key, parsed.tc_url) == (app, stream_key, tc_url)
    # Whatever came from a URL can be written as a URL again, and reads back equal.
    assert parse_url(parsed.url) == parsed
    assert parse_url(str(parsed)) == parsed
    assert parse_url(parsed.app_url, stream_key=parsed.stream_key) == parsed


@pytest.mark.parametrize(
    ("url", "scheme", "tls", "host", "url_host", "port"),
    [
        ("rtmp://h/live/key", "rtmp", False, "h", "h", 1935),
        ("rtmps://h/live/key", "rtmps", True, "h", "h", 443),
        ("rtmps://h:1935/live/key", "rtmps", True, "h", "h", 1935),
        ("rtmp://h:65535/live/key", "rtmp", False, "h", "h", 65535),
        ("rtmp://h:1/x", "rtmp", False, "h", "h", 1),
        ("rtmp://h:00080/x", "rtmp", False, "h", "h", 80),
        ("rtmp://[::1]/live/key", "rtmp", False, "::1", "[::1]", 1935),
        ("rtmps://[::1]:1936/live/key", "rtmps", True, "::1", "[::1]", 1936),
        (
            "rtmp://[::ffff:192.0.2.1]/x",
            "rtmp",
            False,
            "::ffff:192.0.2.1",
            "[::ffff:192.0.2.1]",
            1935,
        ),
        ("RTMPS://host.example:8443/a/b", "rtmps", True, "host.example", "host.example", 8443),
        ("rtmp://u:p@host/x", "rtmp", False, "host", "host", 1935),
        ("rtmp://my_host-1.local/x", "rtmp", False, "my_host-1.local", "my_host-1.local", 1935),
    ],
)
def test_connection_parts(
    url: str, scheme: str, tls: bool, host: str, url_host: str, port: int
) -> None:
    parsed = parse_url(url)
    assert (parsed.scheme, parsed.tls, parsed.host, parsed.url_host, parsed.port) == (
        scheme,
        tls,
        host,
        url_host,
        port,
    )
    assert parsed.address == (host, port)


# -- user information -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "username", "password"),
    [
        ("rtmp://user:pw@h/live/key", "user", "pw"),
        # Only the first ':' separates (strchr in rtmp_open).
        ("rtmp://user:p:w@h/live/key", "user", "p:w"),
        # The host starts after the last '@' (av_url_split's loop).
        ("rtmp://user:p@ss@h/live/key", "user", "p@ss"),
        ("rtmp://a@b:c@h/live/key", "a@b", "c"),
        # FFmpeg ignores userinfo without ':'; we keep the name and say there is no password.
        ("rtmp://user@h/live/key", "user", None),
        ("rtmp://:pw@h/live/key", "", "pw"),
        ("rtmp://user:@h/live/key", "user", ""),
        ("rtmp://@h/live/key", "", None),
        # Not percent-decoded, like everything else.
        ("rtmp://us%40er:p%3Aw@h/live/key", "us%40er", "p%3Aw"),
        ("rtmp://h/live/key", None, None),
    ],
)
def test_userinfo(url: str, username: str | None, password: str | None) -> None:
    parsed = parse_url(url)
    assert (parsed.username, parsed.password) == (username, password)
    assert parsed.host == "h"
    assert parsed.tc_url == "rtmp://h:1935/live"
    assert parse_url(parsed.url) == parsed


def test_password_is_masked_in_repr_but_kept_in_url() -> None:
    parsed = parse_url("rtmp://user:s3cret@h/live/key")
    assert "s3cret" not in repr(parsed)
    assert "user" in repr(parsed)
    assert parsed.url == "rtmp://user:s3cret@h/live/key"
    assert "s3cret" not in parsed.tc_url


# -- the stream_key argument ------------------------------------------------------------

# The whole path is the app (FFmpeg's -rtmp_app PATH -rtmp_playpath KEY); the key is
# taken verbatim (-rtmp_playpath gets no mp4:/.flv treatment).
OVERRIDES = [
    ("rtmp://h/live", "key", "live", "key"),
    ("rtmp://h/live/", "key", "live", "key"),
    ("rtmp://h/app/inst", "key", "app/inst", "key"),
    ("rtmp://h/app/inst/", "key", "app/inst", "key"),
    ("rtmp://h/a/b/c", "key", "a/b/c", "key"),
    ("rtmp://h/live/urlkey", "key", "live/urlkey", "key"),
    ("rtmp://h/ondemand/x", "key", "ondemand/x", "key"),
    ("rtmp://h/live?token=1", "key", "live?token=1", "key"),
    ("rtmp://h/live?slist=x", "key", "live?slist=x", "key"),
    ("rtmp://h", "key", "", "key"),
    ("rtmp://h/", "key", "", "key"),
    ("rtmp://h/live", "file.mp4", "live", "file.mp4"),
    ("rtmp://h/live", "file.flv", "live", "file.flv"),
    ("rtmp://h/live", "a key with spaces", "live", "a key with spaces"),
    ("rtmp://h/live", "", "live", ""),
    ("rtmp://h/live", "k?token=x", "live", "k?token=x"),
]


@pytest.mark.parametrize(("url", "stream_key", "app", "expected_key"), OVERRIDES)
def test_stream_key_argument(url: str, stream_key: str, app: str, expected_key: str) -> None:
    parsed = parse_url(url, stream_key=stream_key)
    assert (parsed.app, parsed.stream_key) == (app, expected_key)
    assert parsed.tc_url == f"rtmp://h:1935/{app}"
    assert parse_url(parsed.app_url, stream_key=parsed.stream_key) == parsed


def test_with_stream_key_and_with_app() -> None:
    base = parse_url("rtmp://u:p@h:1936/live")
    keyed = base.with_stream_key("abc.mp4")
    assert keyed.stream_key == "abc.mp4"  # verbatim, no "mp4:" added
    assert (keyed.host, keyed.port, keyed.app, keyed.username, keyed.password) == (
        "h",
        1936,
        "live",
        "u",
        "p",
    )
    assert base.with_stream_key("k") == parse_url("rtmp://u:p@h:1936/live/k")
    assert base.with_app("app/inst").with_stream_key("k") == parse_url(
        "rtmp://u:p@h:1936/app/inst/k"
    )
    with pytest.raises(LocalProtocolError):
        base.with_stream_key(42)  # type: ignore[arg-type]


# -- writing URLs back ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "url"),
    [
        (RTMPURL(scheme="rtmp", host="h", app="live", stream_key="key"), "rtmp://h/live/key"),
        (RTMPURL(scheme="rtmp", host="h", port=1936, app="live"), "rtmp://h:1936/live"),
        (RTMPURL(scheme="rtmps", host="h", app="a/b", stream_key="k"), "rtmps://h/a/b/k"),
        (RTMPURL(scheme="rtmps", host="h", port=1935, app="a"), "rtmps://h:1935/a"),
        (RTMPURL(scheme="rtmp", host="::1", app="live", stream_key="k"), "rtmp://[::1]/live/k"),
        (RTMPURL(scheme="rtmp", host="h", app="a/b"), "rtmp://h/a/b/"),
        (RTMPURL(scheme="rtmp", host="h"), "rtmp://h"),
        (RTMPURL(scheme="rtmp", host="h", stream_key="k"), "rtmp://h//k"),
        # A key ending in .flv must be written with .flv twice.
        (RTMPURL(scheme="rtmp", host="h", app="vod", stream_key="x.flv"), "rtmp://h/vod/x.flv.flv"),
        # A key ending in .mp4 or .f4v gets .flv added: FFmpeg looks only at the last
        # four characters, so it cuts the .flv and puts no "mp4:" in front.
        (
            RTMPURL(scheme="rtmp", host="h", app="live", stream_key="file.mp4"),
            "rtmp://h/live/file.mp4.flv",
        ),
        (
            RTMPURL(scheme="rtmp", host="h", app="live", stream_key="file.f4v"),
            "rtmp://h/live/file.f4v.flv",
        ),
        (RTMPURL(scheme="rtmp", host="h", stream_key=".mp4"), "rtmp://h//.mp4.flv"),
        (
            RTMPURL(
                scheme="rtmp", host="h", app="live", stream_key="k", username="u", password="p"
            ),
            "rtmp://u:p@h/live/k",
        ),
        (RTMPURL(scheme="rtmp", host="h", app="live", username="u"), "rtmp://u@h/live"),
    ],
)
def test_url_of_constructed_values(value: RTMPURL, url: str) -> None:
    assert value.url == url
    assert str(value) == url
    assert parse_url(url) == value


@pytest.mark.parametrize(
    ("app", "stream_key"),
    [
        # Would read back as app "live/a", key "b".
        ("live", "a/b"),
        # Would read back as app "ondemand", key "inst/k".
        ("ondemand/inst", "k"),
        # URLs cannot hold whitespace.
        ("live", "a b"),
        ("my app", "k"),
        # "slist=" in the app turns the path into the slist form.
        ("live?slist=1", "k"),
    ],
)
def test_values_no_url_can_express(app: str, stream_key: str) -> None:
    value = RTMPURL(scheme="rtmp", host="h", app=app, stream_key=stream_key)
    with pytest.raises(LocalProtocolError, match="cannot be written as one RTMP URL"):
        _ = value.url
    # str() still says something useful, and parse_url refuses it instead of misreading it.
    text = str(value)
    assert text.startswith("rtmp://h/")
    assert repr(stream_key) in text
    with pytest.raises(LocalProtocolError):
        parse_url(text)
    # The two-part form always works when the app has no whitespace.
    if " " not in app:
        assert parse_url(value.app_url, stream_key=stream_key) == value


def test_default_port_equivalence() -> None:
    assert parse_url("rtmp://h/live/key") == parse_url("rtmp://h:1935/live/key")
    assert parse_url("rtmps://h/live/key") == parse_url("rtmps://h:443/live/key")
    assert parse_url("rtmps://h/live/key") != parse_url("rtmps://h:1935/live/key")
    assert parse_url("rtmp://h:1935/live/key").url == "rtmp://h/live/key"
    assert parse_url("rtmp://h:1935/live/key").has_default_port
    assert not parse_url("rtmp://h:1936/live/key").has_default_port


def test_values_are_frozen_and_hashable() -> None:
    parsed = parse_url("rtmp://h/live/key")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        parsed.app = "other"  # type: ignore[misc]
    assert len({parsed, parse_url("rtmp://h:1935/live/key")}) == 1


# -- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "expected rtmp://"),
        ("live/key", "expected rtmp://"),
        ("rtmp:/h/live/key", "expected rtmp://"),
        ("rtmp:h/live/key", "expected rtmp://"),
        ("://h/live/key", "expected rtmp://"),
        ("1rtmp://h/live/key", "expected rtmp://"),
        ("http://h/live/key", "http:// is not RTMP"),
        ("https://h/live/key", "https:// is not RTMP"),
        ("srt://h:9000", "srt:// is not RTMP"),
        ("rtmpt://h/live/key", r"rtmpt:// \(RTMP tunnelled over HTTP\) is not supported"),
        ("rtmpts://h/live/key", "rtmpts:// .* is not supported"),
        ("rtmpe://h/live/key", "rtmpe:// .* is not supported"),
        ("rtmpte://h/live/key", "rtmpte:// .* is not supported"),
        ("rtmfp://h/live/key", "rtmfp:// .* is not supported"),
        ("rtmp:///live/key", "no host"),
        ("rtmp://", "no host"),
        ("rtmp://:1935/live/key", "no host"),
        ("rtmp://user:pw@/live/key", "no host"),
        ("rtmp://[]/live/key", "no host"),
        ("rtmp://h:0/live/key", "port '0'"),
        ("rtmp://h:65536/live/key", "port '65536'"),
        ("rtmp://h:123456/live/key", "port '123456'"),
        ("rtmp://h:http/live/key", "port 'http'"),
        ("rtmp://h:-1/live/key", "port '-1'"),
        ("rtmp://h:+80/live/key", r"port '\+80'"),
        ("rtmp://h:\uff11\uff19\uff13\uff15/live/key", "port"),  # fullwidth digits
        ("rtmp://h:1935:1/live/key", "IPv6 address must be written in brackets"),
        ("rtmp://::1/live/key", "IPv6 address must be written in brackets"),
        ("rtmp://[::1/live/key", "without ']'"),
        ("rtmp://[::1]x/live/key", "after the IPv6 address"),
        ("rtmp://[::1]:x/live/key", "port 'x'"),
        ("rtmp://[1.2.3.4]/live/key", "not an IPv6 address"),
        ("rtmp://[::g]/live/key", "not an IPv6 address"),
        ("rtmp://[fe80::1%25eth0]/live/key", "zone identifiers"),
        ("rtmp://h]/live/key", "bracket"),
        ("rtmp://h\\x/live/key", "not a valid host name"),
        ("rtmp://h/live/key with spaces", "whitespace at position 17"),
        ("rtmp://h/live/key live=1", "librtmp-style"),
        ("rtmp://h/live/ke\ty", "whitespace"),
        ("rtmp://h/live/k\x00ey", "control character"),
        ("rtmp://h/live/k\x7fey", "control character"),
        ("rtmp://h /live/key", "whitespace"),
        ("rtmp://h/live/k\u00a0ey", "whitespace"),  # no-break space
        ("rtmp://h?app/key", "expected '/' after the host"),
        ("rtmp://h#x/key", "expected '/' after the host"),
        ("rtmp://h/live/\ud800", "lone surrogate"),
        ("rtmp://h/" + "a" * 70000 + "/key", "65535"),
    ],
)
def test_errors(url: str, message: str) -> None:
    with pytest.raises(LocalProtocolError, match=message):
        parse_url(url)


def test_error_messages_do_not_repeat_secrets() -> None:
    with pytest.raises(LocalProtocolError) as info:
        parse_url("rtmp://user:hunter2@h:99999/live/secret-key")
    assert "hunter2" not in str(info.value)
    assert "secret-key" not in str(info.value)


def test_bad_argument_types() -> None:
    with pytest.raises(LocalProtocolError):
        parse_url(b"rtmp://h/live/key")  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        parse_url("rtmp://h/live", stream_key=b"key")  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="lone surrogate"):
        parse_url("rtmp://h/live", stream_key="\udc80")


@pytest.mark.parametrize(
    "fields",
    [
        {"scheme": "http", "host": "h"},
        {"scheme": "RTMP", "host": "h"},
        {"scheme": "rtmp", "host": ""},
        {"scheme": "rtmp", "host": "[::1]"},
        {"scheme": "rtmp", "host": "::g"},
        {"scheme": "rtmp", "host": "a b"},
        {"scheme": "rtmp", "host": "a/b"},
        {"scheme": "rtmp", "host": "a@b"},
        {"scheme": "rtmp", "host": 1},
        {"scheme": "rtmp", "host": "h", "port": 0},
        {"scheme": "rtmp", "host": "h", "port": 65536},
        {"scheme": "rtmp", "host": "h", "port": True},
        {"scheme": "rtmp", "host": "h", "port": "1935"},
        {"scheme": "rtmp", "host": "h", "app": None},
        {"scheme": "rtmp", "host": "h", "stream_key": b"k"},
        {"scheme": "rtmp", "host": "h", "stream_key": "x" * 65536},
        {"scheme": "rtmp", "host": "h", "app": "x" * 65530},  # tcUrl too long
        {"scheme": "rtmp", "host": "h", "username": "a:b"},
        {"scheme": "rtmp", "host": "h", "username": "a/b"},
        {"scheme": "rtmp", "host": "h", "username": "a b"},
        {"scheme": "rtmp", "host": "h", "username": "u", "password": "p/w"},
        {"scheme": "rtmp", "host": "h", "username": "u", "password": "p#w"},
        {"scheme": "rtmp", "host": "h", "password": "pw"},  # a password needs a username
    ],
)
def test_constructor_validates(fields: dict[str, Any]) -> None:
    with pytest.raises(LocalProtocolError):
        RTMPURL(**fields)


def test_constructor_defaults() -> None:
    assert RTMPURL(scheme="rtmp", host="h").port == 1935
    assert RTMPURL(scheme="rtmps", host="h").port == 443
    value = RTMPURL(scheme="rtmp", host="h")
    assert (value.app, value.stream_key, value.username, value.password) == ("", "", None, None)


# -- properties ------------------------------------------------------------------------

_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
_HOSTS = st.one_of(
    st.lists(_LABEL, min_size=1, max_size=4).map(".".join),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
)
_SEGMENT = st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True)
# A first app component of "ondemand" would trigger the ondemand rule.
_APPS = (
    st.lists(_SEGMENT, min_size=1, max_size=2).filter(lambda s: s[0] != "ondemand").map("/".join)
)
_KEYS = (
    st.tuples(
        st.from_regex(r"[A-Za-z0-9_-]{0,20}", fullmatch=True),
        st.one_of(st.just(""), st.from_regex(r"\?[a-z0-9=&]{0,12}", fullmatch=True)),
    )
    .map("".join)
    .filter(lambda key: "slist=" not in key)
)


@settings(max_examples=300)
@given(
    scheme=st.sampled_from(["rtmp", "rtmps"]),
    host=_HOSTS,
    port=st.none() | st.integers(1, 65535),
    app=_APPS,
    key=_KEYS,
)
def test_assembled_urls_give_back_their_parts(
    scheme: str, host: str, port: int | None, app: str, key: str
) -> None:
    url_host = f"[{host}]" if ":" in host else host
    authority = url_host if port is None else f"{url_host}:{port}"
    # Always a '/' before the key: with an empty key that marks the end of the app.
    parsed = parse_url(f"{scheme}://{authority}/{app}/{key}")
    expected_port = port if port is not None else {"rtmp": 1935, "rtmps": 443}[scheme]
    assert parsed == RTMPURL(scheme=scheme, host=host, port=expected_port, app=app, stream_key=key)
    assert parsed.tls is (scheme == "rtmps")
    assert parsed.tc_url == f"{scheme}://{url_host}:{expected_port}/{app}"
    assert parse_url(str(parsed)) == parsed
    assert parse_url(parsed.app_url, stream_key=key) == parsed


# Pieces that hit every branch of the split: separators, the slist/ondemand/mp4 triggers,
# and file extensions.
_PIECES = st.sampled_from(
    ["a", "b", "/", "/", ":", "?", "&", "=", "slist=", "ondemand", "ondemand/", "mp4:",
     ".flv", ".mp4", ".f4v", ".", "#", "%20", "_definst_"]
)  # fmt: skip


@settings(max_examples=500)
@given(path=st.lists(_PIECES, max_size=12).map("".join))
@example(path="/.mp4.flv")  # once found by chance: app "", key ".mp4"
def test_every_split_can_be_written_back(path: str) -> None:
    parsed = parse_url("rtmp://h/" + path)
    assert parse_url(parsed.url) == parsed
    assert parse_url(parsed.app_url, stream_key=parsed.stream_key) == parsed
    # Nothing is lost or invented: the key is a piece of the path, give or take
    # FFmpeg's "mp4:" and ".flv".
    assert parsed.stream_key.removeprefix("mp4:") in "/" + path


@settings(max_examples=300)
@given(
    app=st.lists(st.text(st.characters(blacklist_categories=["Cs", "Cc", "Zs", "Zl", "Zp"],
                                       blacklist_characters="/?#"), min_size=1, max_size=6),
                 max_size=3).map("/".join),
    key=st.text(st.characters(blacklist_categories=["Cs"]), max_size=20),
)  # fmt: skip
def test_stream_key_argument_takes_whole_path(app: str, key: str) -> None:
    parsed = parse_url(f"rtmp://h/{app}", stream_key=key)
    assert (parsed.app, parsed.stream_key) == (app, key)
    assert parse_url(parsed.app_url, stream_key=key) == parsed


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.one_of(
        st.text(max_size=60),
        st.text(max_size=60).map(lambda t: "rtmp://" + t),
        st.text(alphabet="rtmps:/[]@?#%.:1234567890abh-_ \t", max_size=40),
    ),
    key=st.none() | st.text(max_size=10),
)
def test_anything_parses_or_raises_local_protocol_error(text: str, key: str | None) -> None:
    try:
        parsed = parse_url(text, stream_key=key)
    except LocalProtocolError:
        return
    except ProtocolError as error:  # pragma: no cover - would be a bug
        pytest.fail(f"wrong error class {type(error).__name__}")
    # What parses is a valid value whose URL (when it has one) reads back equal.
    try:
        url = parsed.url
    except LocalProtocolError:
        url = None
    if url is not None:
        assert parse_url(url) == parsed


# -- against real FFmpeg ----------------------------------------------------------------

WAIT = 10.0  # upper bound on any single wait for FFmpeg, in seconds

# URL paths (after "rtmp://127.0.0.1:PORT") and the extra FFmpeg options for each.
FFMPEG_CASES: list[tuple[str, list[str], str | None]] = [
    ("/live/key", [], None),
    ("/app/inst/key", [], None),
    ("/app/inst/a/b", [], None),
    ("/live/key?token=x", [], None),
    ("/live?x=1/key", [], None),
    ("/ondemand/mp4:file.mp4", [], None),
    ("/ondemand/a/b/c", [], None),
    ("/vod/mp4:dir/file.mp4", [], None),
    ("/a/b/c:d/e", [], None),
    ("/vod/file.mp4", [], None),
    ("/vod/file.f4v", [], None),
    ("/vod/file.flv", [], None),
    ("/vod/x.flv.flv", [], None),
    ("/vod/file.mp4.flv", [], None),
    ("/vod/file.f4v.flv", [], None),
    ("//.mp4.flv", [], None),
    ("/vod/.mp4", [], None),
    ("/vod/FILE.MP4", [], None),
    ("/live", [], None),
    ("/live/", [], None),
    ("/live/key/", [], None),
    ("", [], None),
    ("//x", [], None),
    ("/live?slist=a/b&x=1", [], None),
    ("/live/k?x=slist=1", [], None),
    ("/live/a%20b", [], None),
    ("/live/key#frag", [], None),
    # The stream_key argument is FFmpeg's -rtmp_app PATH -rtmp_playpath KEY.
    ("/app/inst", ["-rtmp_app", "app/inst", "-rtmp_playpath", "file.mp4"], "file.mp4"),
    ("/live", ["-rtmp_app", "live", "-rtmp_playpath", "k.flv"], "k.flv"),
]


def _ffmpeg() -> str:
    path = shutil.which("ffmpeg")
    if path is None:
        reason = "ffmpeg is not installed"
        if os.environ.get("TRIO_RTMP_REQUIRE_PEERS") == "1":
            pytest.fail(f"{reason} (TRIO_RTMP_REQUIRE_PEERS=1)")
        pytest.skip(reason)
    return path


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; each is killed by its PID at teardown."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=WAIT)


def _listener(family: socket.AddressFamily, address: str) -> socket.socket:
    listener = socket.socket(family)
    listener.bind((address, 0))
    listener.listen(1)
    listener.settimeout(WAIT)
    return listener


def _what_ffmpeg_sends(
    ffmpeg: str,
    url: str,
    options: list[str],
    listener: socket.socket,
    processes: list[subprocess.Popen[bytes]],
    tls: ssl.SSLContext | None = None,
) -> tuple[str, str, str]:
    """(connect app, tcUrl, releaseStream name) that FFmpeg publishing to ``url`` sends."""
    command = [ffmpeg, "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=16x16:rate=1"]
    command += ["-t", "1", *options, "-f", "flv", url]
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    processes.append(process)
    connection, _ = listener.accept()
    connection.settimeout(WAIT)
    if tls is not None:
        connection = tls.wrap_socket(connection, server_side=True)
    deadline = time.monotonic() + WAIT
    connect: Command | None = None
    with connection:
        connection.settimeout(WAIT)
        handshake = ServerHandshake(random=bytes(1528))
        while not handshake.complete:
            assert time.monotonic() < deadline, "FFmpeg did not finish the handshake"
            data = connection.recv(65536)
            assert data, "FFmpeg closed during the handshake"
            handshake.receive_data(data)
            connection.sendall(handshake.data_to_send())
        reader, writer = ChunkReader(), ChunkWriter()
        data = handshake.unused_data()
        while True:
            for message in reader.receive_data(data):
                value = decode_message(message)
                if not isinstance(value, Command):
                    continue
                if value.name == "connect":
                    connect = value
                    # Accepting the connection makes FFmpeg name the stream next.
                    reply = encode_message(
                        Command(
                            name="_result",
                            transaction_id=value.transaction_id,
                            command_object={"fmsVer": "FMS/3,0,1,123", "capabilities": 31.0},
                            arguments=(
                                {"level": "status", "code": "NetConnection.Connect.Success"},
                            ),
                        )
                    )
                    writer.write(*reply)
                    connection.sendall(writer.data_to_send())
                elif value.name == "releaseStream":
                    assert connect is not None, "releaseStream before connect"
                    name = value.arguments[0]
                    return connect.command_object["app"], connect.command_object["tcUrl"], name
            assert time.monotonic() < deadline, "FFmpeg did not send releaseStream in time"
            data = connection.recv(65536)
            assert data, "FFmpeg closed before releaseStream"


@pytest.mark.interop
def test_split_matches_real_ffmpeg(processes: list[subprocess.Popen[bytes]]) -> None:
    ffmpeg = _ffmpeg()
    with _listener(socket.AF_INET, "127.0.0.1") as listener:
        port = listener.getsockname()[1]
        for path, options, stream_key in FFMPEG_CASES:
            url = f"rtmp://127.0.0.1:{port}{path}"
            sent = _what_ffmpeg_sends(ffmpeg, url, options, listener, processes)
            ours = parse_url(url, stream_key=stream_key)
            assert sent == (ours.app, ours.tc_url, ours.stream_key), url


@pytest.mark.interop
def test_ipv6_and_userinfo_match_real_ffmpeg(processes: list[subprocess.Popen[bytes]]) -> None:
    ffmpeg = _ffmpeg()
    try:
        listener = _listener(socket.AF_INET6, "::1")
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    with listener:
        port = listener.getsockname()[1]
        for url in (
            f"rtmp://[::1]:{port}/live/key",
            f"rtmp://user:pw@[::1]:{port}/app/inst/key",
        ):
            sent = _what_ffmpeg_sends(ffmpeg, url, [], listener, processes)
            ours = parse_url(url)
            assert sent == (ours.app, ours.tc_url, ours.stream_key), url


@pytest.mark.interop
def test_rtmps_matches_real_ffmpeg(
    processes: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    ffmpeg = _ffmpeg()
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed (needed for a test certificate)")
    key, certificate = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(certificate), "-days", "1",
         "-subj", "/CN=127.0.0.1"],
        check=True, capture_output=True, timeout=WAIT,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    with _listener(socket.AF_INET, "127.0.0.1") as listener:
        port = listener.getsockname()[1]
        # FFmpeg does not verify the server certificate unless told to (tls_verify=0).
        url = f"rtmps://127.0.0.1:{port}/app/inst/key"
        sent = _what_ffmpeg_sends(ffmpeg, url, [], listener, processes, context)
        ours = parse_url(url)
        assert ours.tls
        assert sent == (ours.app, ours.tc_url, ours.stream_key)
        assert sent[1] == f"rtmps://127.0.0.1:{port}/app/inst"


# -- reconnect targets (Enhanced RTMP ReconnectRequest tcUrl) ---------------------------


@pytest.mark.parametrize(
    ("tc_url", "expected"),
    [
        # The spec's four examples of a tcUrl, and no tcUrl at all.
        (None, "rtmps://u:p@h:1940/live/inst/key"),
        (
            "rtmps://foo.mydomain.com:1935/realtimeapp",
            "rtmps://foo.mydomain.com:1935/realtimeapp/key",
        ),
        ("//192.0.2.0/realtimeapp", "rtmps://192.0.2.0/realtimeapp/key"),
        ("/realtimeapp", "rtmps://u:p@h:1940/realtimeapp/key"),
        ("other", "rtmps://u:p@h:1940/live/other/key"),
        # Credentials go only to the same host.
        ("rtmps://h2/app", "rtmps://h2/app/key"),
    ],
)
def test_reconnect_target(tc_url: str | None, expected: str) -> None:
    current = parse_url("rtmps://u:p@h:1940/live/inst", stream_key="key")
    target = current.reconnect_target(tc_url)
    assert target == parse_url(expected)
    assert target.stream_key == "key"


def test_reconnect_target_refusals() -> None:
    current = parse_url("rtmps://h/live/key")
    with pytest.raises(LocalProtocolError, match="rtmps:// to rtmp://"):
        current.reconnect_target("rtmp://h/live")
    with pytest.raises(LocalProtocolError, match="not RTMP"):
        current.reconnect_target("http://h/live")
    with pytest.raises(LocalProtocolError):
        current.reconnect_target(42)  # type: ignore[arg-type]
    # From rtmp:// anywhere goes, rtmps:// included.
    assert parse_url("rtmp://h/live/k").reconnect_target("rtmps://h/live").tls
