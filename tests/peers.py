"""Real RTMP peers for the interop tests: FFmpeg, ffprobe, nginx-rtmp, rtmpdump, openssl.

Everything here runs on 127.0.0.1, on free ports, with every wait bounded, and stops
only the processes it started, by their PID.  A missing peer skips the test with a
clear reason, or fails it when ``TRIO_RTMP_REQUIRE_PEERS=1`` (CI installs every peer).

The pieces, used through the fixtures in ``tests/conftest.py``:

- :func:`peer_binary`, :func:`nginx_module`, :func:`free_port`, :func:`wait_for_listen`:
  finding peers and ports.
- :class:`Peers` (fixture ``peers``): starts peer processes (:class:`PeerProcess`,
  logs in files, stopped at teardown) in the roles the tests need: nginx-rtmp
  (:meth:`Peers.nginx_rtmp`, optionally with an RTMPS front), an FFmpeg publisher,
  player and ``-listen`` server, and an rtmpdump player.
- :class:`HookServer` (fixture ``http_hook_server``): answers nginx-rtmp's ``on_publish``
  / ``on_play`` / ``on_done`` notifications, 403 for refused stream names.
- :func:`make_sample_flv` (fixtures ``sample_flv``, ``sample_media``): H.264 + AAC test
  media from lavfi sources, generated at test time.
- :func:`probe_packets`, :func:`probe_streams`, :func:`compare_packets`,
  :func:`compare_media`, :func:`decode_errors`: what ffprobe and FFmpeg's decoder make
  of a file, and whether an output carries the same packets as its source from the
  point where the output joined it.
- :class:`RecordingProxy`: a loopback TCP proxy that records both directions of each
  connection, so a test can feed what two real peers said to our sans-IO core.
- :func:`make_tls_certificate` (fixture ``tls_certificate``): a throw-away CA and a
  server certificate for 127.0.0.1 / localhost.

The helpers are synchronous (threads and blocking waits) so that plain tests stay
plain; a Trio test that runs our own server in the same loop must not block it, so
it uses the ``*_async`` variants (:meth:`PeerProcess.wait_async`,
:meth:`PeerProcess.run_for_async`, :meth:`PeerProcess.stop_async`,
:meth:`NginxRtmp.wait_for_publish_async`, :meth:`HookServer.wait_for_async`,
:func:`wait_for_listen_async`...).  Starting a peer never blocks for long, except
:meth:`Peers.nginx_rtmp` and :meth:`Peers.ffmpeg_listen_server`, which wait for a
port that only the peer itself opens.  pytest-trio
drops the reason of a skip raised inside a Trio test, so let a sync fixture
(``sample_flv``, ``nginx_rtmp``...) or a sync ``peer_binary`` call in a fixture find
the peers first.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import http.server
import json
import logging
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

import attrs
import pytest

logger = logging.getLogger(__name__)

#: Upper bound, in seconds, on any single wait for a peer (start, connect, exit).
WAIT = 10.0
#: Set to "1" (as CI does) to turn a missing peer into a failure instead of a skip.
REQUIRE_PEERS_ENV = "TRIO_RTMP_REQUIRE_PEERS"
#: Where Debian's libnginx-mod-rtmp and libnginx-mod-stream put their modules.
NGINX_MODULES_DIR = Path("/usr/lib/nginx/modules")
NGINX_MODULE_FILES = {"rtmp": "ngx_rtmp_module.so", "stream": "ngx_stream_module.so"}
#: The peers tests may ask for, with the Debian package that provides each.
PEER_PACKAGES = {
    "ffmpeg": "ffmpeg",
    "ffprobe": "ffmpeg",
    "nginx": "nginx (with libnginx-mod-rtmp)",
    "rtmpdump": "rtmpdump",
    "openssl": "openssl",
    "gst-launch-1.0": "gstreamer1.0-tools",
    "gst-inspect-1.0": "gstreamer1.0-tools",
}
#: The GStreamer elements the interop tests use, and the Debian packages they are in.
#: rtmp2sink and rtmp2src are GStreamer's own RTMP implementation (not librtmp).
GSTREAMER_ELEMENTS = {
    "rtmp2sink": "gstreamer1.0-plugins-bad",
    "rtmp2src": "gstreamer1.0-plugins-bad",
    "flvmux": "gstreamer1.0-plugins-good",
    "x264enc": "gstreamer1.0-plugins-ugly",
    "avenc_aac": "gstreamer1.0-libav",
    "h264parse": "gstreamer1.0-plugins-bad",
    "aacparse": "gstreamer1.0-plugins-good",
    "videotestsrc": "gstreamer1.0-plugins-base",
    "audiotestsrc": "gstreamer1.0-plugins-base",
}
# How much of a log goes into an assertion message (the end is what matters).
_LOG_TAIL = 6000
_POLL = 0.02


# -- finding peers ----------------------------------------------------------------------


def peers_required() -> bool:
    """Whether a missing peer must fail the test (``TRIO_RTMP_REQUIRE_PEERS=1``)."""
    return os.environ.get(REQUIRE_PEERS_ENV) == "1"


def missing_peer(reason: str) -> NoReturn:
    """Skip the running test because a peer is missing, or fail it when peers are required."""
    if peers_required():
        pytest.fail(f"{reason} ({REQUIRE_PEERS_ENV}=1)", pytrace=False)
    pytest.skip(reason)


def peer_binary(name: str) -> str:
    """The path of peer program ``name`` (ffmpeg, ffprobe, nginx, rtmpdump, openssl...).

    Skips the test (or fails it, see :func:`missing_peer`) when it is not installed.

        ffmpeg = peer_binary("ffmpeg")
    """
    path = shutil.which(name)
    if path is None:
        package = PEER_PACKAGES.get(name, name)
        missing_peer(f"{name} is not installed (Debian package: {package})")
    return path


#: Where to find an FFmpeg that speaks Enhanced RTMP (see :func:`enhanced_ffmpeg`).
ENHANCED_FFMPEG_ENV = "TRIO_RTMP_ENHANCED_FFMPEG"


@functools.cache
def _ffmpeg_major(path: str) -> int | None:
    """The major version of the FFmpeg at ``path`` (a git build counts as new)."""
    try:
        result = subprocess.run(
            [path, "-hide_banner", "-version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=WAIT,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.match(r"ffmpeg version (?:n?(\d+)\.|N-)", result.stdout)
    if match is None:
        return None
    return int(match.group(1)) if match.group(1) else 99


def enhanced_ffmpeg() -> str:
    """The path of an FFmpeg 8.0 or later, which speaks Enhanced RTMP v2 itself.

    FFmpeg 8 puts HEVC, AV1, VP9, Opus, FLAC, AC-3 and E-AC-3 in FLV and RTMP with
    Enhanced RTMP headers, and several audio or video tracks as multitrack messages;
    Debian 12's FFmpeg 5.1 does none of that.  Looked for in ``$TRIO_RTMP_ENHANCED_FFMPEG``,
    then in the ``imageio-ffmpeg`` package (``pip install imageio-ffmpeg``, which CI
    does: a static FFmpeg build), then as ``ffmpeg`` on the PATH.  Skips the test (or
    fails it, see :func:`missing_peer`) when there is none.
    """
    candidates = [os.environ.get(ENHANCED_FFMPEG_ENV, "")]
    with contextlib.suppress(Exception):
        import imageio_ffmpeg  # type: ignore[import-not-found]

        candidates.append(str(imageio_ffmpeg.get_ffmpeg_exe()))
    candidates.append(shutil.which("ffmpeg") or "")
    for path in candidates:
        major = _ffmpeg_major(path) if path else None
        if major is not None and major >= 8:
            return path
    missing_peer(
        "no FFmpeg 8.0 or later for the Enhanced RTMP interop tests "
        f"(pip install imageio-ffmpeg, or set {ENHANCED_FFMPEG_ENV})"
    )


@functools.cache
def gstreamer() -> str:
    """gst-launch-1.0's path, once every element in :data:`GSTREAMER_ELEMENTS` is there.

    Skips the test (or fails it, see :func:`missing_peer`) otherwise.
    """
    launch = peer_binary("gst-launch-1.0")
    inspect = peer_binary("gst-inspect-1.0")
    missing = sorted(
        f"{element} (Debian package: {package})"
        for element, package in GSTREAMER_ELEMENTS.items()
        if subprocess.run(
            [inspect, "--exists", element], capture_output=True, timeout=60, check=False
        ).returncode
        != 0
    )
    if missing:
        missing_peer(f"GStreamer lacks {', '.join(missing)}")
    return launch


def nginx_module(name: str) -> Path:
    """The path of nginx dynamic module ``name`` ("rtmp" or "stream"), or skip/fail.

    load = f"load_module {nginx_module('rtmp')};"
    """
    path = NGINX_MODULES_DIR / NGINX_MODULE_FILES[name]
    if not path.is_file():
        missing_peer(f"the nginx {name} module is not installed ({path}; libnginx-mod-{name})")
    return path


def run_tool(
    command: Sequence[str | os.PathLike[str]], *, timeout: float = 60.0, what: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a short-lived tool to completion (bounded); fail the test with its stderr if it fails.

    ``command[0]`` is looked up with :func:`peer_binary`.
    """
    argv = [peer_binary(str(command[0])), *map(str, command[1:])]
    label = what or Path(argv[0]).name
    try:
        result = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{label} did not finish within {timeout} s: {argv}\n{exc.stderr!r}")
    if result.returncode != 0:
        pytest.fail(
            f"{label} failed with exit code {result.returncode}: {argv}\n"
            f"{result.stderr[-_LOG_TAIL:]}"
        )
    return result


# -- ports ------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it).

    Another process may still take it before ours binds; the starters that bind
    (:meth:`Peers.nginx_rtmp`, :meth:`Peers.ffmpeg_listen_server`) retry on that.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


_PROC_NET_TCP = Path("/proc/net/tcp")
_TCP_LISTEN = "0A"
_LISTEN_ADDRESSES = {"0100007F", "00000000"}  # 127.0.0.1 and 0.0.0.0, as /proc shows them


def port_is_listening(port: int) -> bool:
    """Whether something listens on 127.0.0.1:``port``, without connecting to it.

    Reads ``/proc/net/tcp`` where it exists: a probe connection would be taken for
    the one client of ``ffmpeg -listen 1``.  Elsewhere it falls back to connecting.
    """
    if _PROC_NET_TCP.exists():
        wanted = f"{port:04X}"
        with open(_PROC_NET_TCP) as table:
            next(table, None)
            for line in table:
                fields = line.split()
                if len(fields) < 4 or fields[3] != _TCP_LISTEN:
                    continue
                address, _, hex_port = fields[1].partition(":")
                if hex_port == wanted and address in _LISTEN_ADDRESSES:
                    return True
        return False
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_listen(
    port: int, *, timeout: float = WAIT, process: PeerProcess | None = None
) -> None:
    """Wait (bounded) until 127.0.0.1:``port`` accepts connections.

    With ``process``, fail at once (with its log) if it exits first.
    """
    deadline = time.monotonic() + timeout
    while not port_is_listening(port):
        if process is not None and process.poll() is not None:
            process.fail(f"exited with {process.returncode} before listening on port {port}")
        if time.monotonic() > deadline:
            message = f"nothing listened on 127.0.0.1:{port} within {timeout} s"
            if process is not None:
                process.fail(message)
            pytest.fail(message)
        time.sleep(_POLL)


async def wait_for_listen_async(
    port: int, *, timeout: float = WAIT, process: PeerProcess | None = None
) -> None:
    """:func:`wait_for_listen` for Trio tests: sleeps with Trio, so the loop keeps running."""
    import trio

    deadline = time.monotonic() + timeout
    while not port_is_listening(port):
        if process is not None and process.poll() is not None:
            process.fail(f"exited with {process.returncode} before listening on port {port}")
        if time.monotonic() > deadline:
            message = f"nothing listened on 127.0.0.1:{port} within {timeout} s"
            if process is not None:
                process.fail(message)
            pytest.fail(message)
        await trio.sleep(_POLL)


# -- processes --------------------------------------------------------------------------


class PeerProcess:
    """A peer process started by :meth:`Peers.start`, its output in files.

    stdout and stderr go to ``<name>.stdout`` / ``<name>.stderr`` in the test's
    directory; :meth:`log` reads them (plus any extra log files, e.g. nginx's
    error log).  :meth:`stop` signals only this PID: terminate, a bounded wait, kill.
    """

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        popen: subprocess.Popen[bytes],
        stdout_path: Path,
        stderr_path: Path,
        extra_logs: Sequence[Path] = (),
    ) -> None:
        #: A unique name within the test ("ffmpeg-publish", "nginx", ...).
        self.name = name
        #: The argument vector it was started with.
        self.command = list(command)
        #: The underlying Popen object.
        self.popen = popen
        #: Where its stdout and stderr go.
        self.stdout_path = stdout_path
        self.stderr_path = stderr_path
        #: Further log files shown by :meth:`log` (nginx's error log).
        self.extra_logs = list(extra_logs)

    def __repr__(self) -> str:
        return f"<PeerProcess {self.name} pid={self.pid} returncode={self.returncode}>"

    @property
    def pid(self) -> int:
        """Its process id."""
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        """Its exit status once it exited (negative: killed by that signal), else None."""
        return self.popen.returncode

    def poll(self) -> int | None:
        """Its exit status if it exited, else None (never blocks)."""
        return self.popen.poll()

    @property
    def running(self) -> bool:
        """Whether it is still running."""
        return self.popen.poll() is None

    def stdout(self) -> str:
        """What it wrote to stdout so far."""
        return _read_text(self.stdout_path)

    def stderr(self) -> str:
        """What it wrote to stderr so far."""
        return _read_text(self.stderr_path)

    def log(self) -> str:
        """Its stderr, stdout and extra log files so far, labelled, for humans."""
        parts = [
            f"--- {self.name} (pid {self.pid}, exit {self.returncode}): {' '.join(self.command)}"
        ]
        for path in [self.stderr_path, self.stdout_path, *self.extra_logs]:
            text = _read_text(path)
            if text:
                parts.append(f"--- {path.name}:\n{text[-_LOG_TAIL:]}")
        return "\n".join(parts)

    def fail(self, message: str) -> NoReturn:
        """Fail the test with ``message`` and this process's log."""
        pytest.fail(f"{self.name}: {message}\n{self.log()}", pytrace=False)

    def wait(self, timeout: float = WAIT) -> int:
        """Wait (bounded) for it to exit by itself; fail the test with its log if it does not."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.fail(f"did not exit within {timeout} s")

    def expect_exit(self, code: int = 0, *, timeout: float = WAIT) -> None:
        """Wait (bounded) for it to exit with ``code``; else fail with its log."""
        returncode = self.wait(timeout)
        if returncode != code:
            self.fail(f"exited with {returncode}, expected {code}")

    def expect_failure(self, *, timeout: float = WAIT) -> int:
        """Wait (bounded) for it to exit with a non-zero status and return the status."""
        returncode = self.wait(timeout)
        if returncode == 0:
            self.fail("exited with 0, expected a failure")
        return returncode

    async def wait_async(self, timeout: float = WAIT) -> int:
        """:meth:`wait` for Trio tests (polls with ``trio.sleep``)."""
        import trio

        deadline = time.monotonic() + timeout
        while (code := self.popen.poll()) is None:
            if time.monotonic() > deadline:
                self.fail(f"did not exit within {timeout} s")
            await trio.sleep(_POLL)
        return code

    def run_for(self, seconds: float, *, grace: float = WAIT) -> int:
        """Let it run up to ``seconds``, then :meth:`stop` it politely; return its status.

        For peers that do not stop by themselves (rtmpdump on a live stream).
        """
        with contextlib.suppress(subprocess.TimeoutExpired):
            return self.popen.wait(timeout=seconds)
        code = self.stop(grace=grace)
        assert code is not None
        return code

    async def run_for_async(self, seconds: float, *, grace: float = WAIT) -> int:
        """:meth:`run_for` for Trio tests."""
        import trio

        with trio.move_on_after(seconds):
            while self.popen.poll() is None:
                await trio.sleep(_POLL)
        code = await self.stop_async(grace=grace)
        assert code is not None
        return code

    async def stop_async(self, *, grace: float = WAIT) -> int | None:
        """:meth:`stop` for Trio tests (the waits sleep with Trio)."""
        import trio

        async def exited_within(seconds: float) -> bool:
            with trio.move_on_after(seconds):
                while self.popen.poll() is None:
                    await trio.sleep(_POLL)
                return True
            return False

        if self.popen.poll() is None:
            self.popen.terminate()
            if not await exited_within(min(grace, 2.0)):
                self.popen.terminate()  # see stop()
            if not await exited_within(max(0.0, grace - 2.0)):
                logger.warning("%s (pid %d) ignored SIGTERM; killing it", self.name, self.pid)
                self.popen.kill()
                await exited_within(WAIT)
        return self.popen.poll()

    def wait_for_log(self, text: str, *, timeout: float = WAIT, path: Path | None = None) -> None:
        """Wait (bounded) until ``text`` appears in its stderr (or in the file ``path``)."""
        source = path or self.stderr_path
        deadline = time.monotonic() + timeout
        while text not in _read_text(source):
            if self.popen.poll() is not None and text not in _read_text(source):
                self.fail(f"exited with {self.returncode} before logging {text!r}")
            if time.monotonic() > deadline:
                self.fail(f"did not log {text!r} within {timeout} s")
            time.sleep(_POLL)

    async def wait_for_log_async(
        self, text: str, *, timeout: float = WAIT, path: Path | None = None
    ) -> None:
        """:meth:`wait_for_log` for Trio tests."""
        import trio

        source = path or self.stderr_path
        deadline = time.monotonic() + timeout
        while text not in _read_text(source):
            if self.popen.poll() is not None and text not in _read_text(source):
                self.fail(f"exited with {self.returncode} before logging {text!r}")
            if time.monotonic() > deadline:
                self.fail(f"did not log {text!r} within {timeout} s")
            await trio.sleep(_POLL)

    def stop(self, *, grace: float = WAIT) -> int | None:
        """Stop it if it still runs: SIGTERM; after 2 s another SIGTERM; SIGKILL at ``grace``.

        Returns its exit status (None only if even SIGKILL did not end it in time).
        Signals go to this PID alone.  nginx and rtmpdump exit at the first SIGTERM
        (rtmpdump with status 2 and a usable file).  FFmpeg exits with 255 once it
        next gets a packet, or at the second SIGTERM if its input is silent; its
        output up to then is on disk (the players here use ``-flush_packets 1``) but
        the FLV header's duration is not filled in.
        """
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=min(grace, 2.0))
            except subprocess.TimeoutExpired:
                # FFmpeg, once transcoding, only sets a flag on the first signal and
                # checks it between packets; a second one interrupts blocked I/O.
                self.popen.terminate()
            try:
                self.popen.wait(timeout=max(0.0, grace - 2.0))
            except subprocess.TimeoutExpired:
                logger.warning("%s (pid %d) ignored SIGTERM; killing it", self.name, self.pid)
                self.popen.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.popen.wait(timeout=WAIT)
        return self.popen.returncode


def _read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


# -- TLS --------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class TLSCertificate:
    """A throw-away CA and a server certificate it signed, for 127.0.0.1 and localhost."""

    #: The CA certificate (PEM): what a client trusts.
    ca_path: Path
    #: The server certificate (PEM) and its private key (PEM, unencrypted).
    cert_path: Path
    key_path: Path

    def client_context(self) -> ssl.SSLContext:
        """An SSLContext that verifies the server certificate against the CA (and the name).

        sock = cert.client_context().wrap_socket(raw, server_hostname="127.0.0.1")
        """
        return ssl.create_default_context(cafile=str(self.ca_path))


def make_tls_certificate(directory: Path) -> TLSCertificate:
    """Create a CA and a server certificate for IP 127.0.0.1 and DNS localhost in ``directory``.

    Uses the openssl command line (skips when it is missing).  EC P-256 keys: quick
    to generate and accepted by OpenSSL and GnuTLS (FFmpeg's TLS) alike.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = directory / "ca.key", directory / "ca.pem"
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.pem"
    extensions = directory / "server.ext"
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run_tool(
        ["openssl", "req", "-x509", *curve, "-keyout", ca_key, "-out", ca_cert,
         "-days", "2", "-subj", "/CN=trio-rtmp test CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
    )  # fmt: skip
    run_tool(
        ["openssl", "req", "-new", *curve, "-keyout", key, "-out", csr,
         "-subj", "/CN=127.0.0.1"],
    )  # fmt: skip
    extensions.write_text(
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
    )
    run_tool(
        ["openssl", "x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key,
         "-CAcreateserial", "-days", "2", "-extfile", extensions, "-out", cert],
    )  # fmt: skip
    return TLSCertificate(ca_path=ca_cert, cert_path=cert, key_path=key)


# -- nginx-rtmp -------------------------------------------------------------------------


class NginxRtmp:
    """A running nginx with the RTMP module (and, optionally, an RTMPS front).

    nginx = peers.nginx_rtmp(tls=True)
    peers.ffmpeg_publish(nginx.url("live", "cam"), sample_flv)
    """

    def __init__(
        self,
        *,
        process: PeerProcess,
        port: int,
        tls_port: int | None,
        directory: Path,
        config_path: Path,
        error_log_path: Path,
        certificate: TLSCertificate | None,
    ) -> None:
        #: The nginx process.
        self.process = process
        #: The plain RTMP port on 127.0.0.1.
        self.port = port
        #: The RTMPS port (the ``stream`` module terminating TLS), or None.
        self.tls_port = tls_port
        #: Its prefix directory, configuration file and error log (level info).
        self.directory = directory
        self.config_path = config_path
        self.error_log_path = error_log_path
        #: The certificate the RTMPS front serves, or None.
        self.certificate = certificate

    def __repr__(self) -> str:
        return f"<NginxRtmp port={self.port} tls_port={self.tls_port} pid={self.process.pid}>"

    def url(self, app: str = "live", key: str = "stream", *, tls: bool = False) -> str:
        """``rtmp://127.0.0.1:PORT/app/key`` (``rtmps://...:TLS_PORT/...`` with ``tls``)."""
        if tls:
            if self.tls_port is None:
                raise ValueError("this nginx has no TLS front; start it with tls=True")
            return f"rtmps://127.0.0.1:{self.tls_port}/{app}/{key}"
        return f"rtmp://127.0.0.1:{self.port}/{app}/{key}"

    @property
    def ca_path(self) -> Path:
        """The CA that signed the RTMPS certificate (for ``-ca_file`` or an SSLContext)."""
        if self.certificate is None:
            raise ValueError("this nginx has no TLS front; start it with tls=True")
        return self.certificate.ca_path

    def ssl_context(self) -> ssl.SSLContext:
        """A client SSLContext that trusts (only) this nginx's test CA."""
        if self.certificate is None:
            raise ValueError("this nginx has no TLS front; start it with tls=True")
        return self.certificate.client_context()

    def log(self) -> str:
        """nginx's error log (level info: connects, publishes, plays, notifies) so far."""
        return _read_text(self.error_log_path)

    def wait_for_log(self, text: str, *, timeout: float = WAIT) -> None:
        """Wait (bounded) until ``text`` appears in the error log, e.g. ``"publish: name='x'"``."""
        self.process.wait_for_log(text, timeout=timeout, path=self.error_log_path)

    def wait_for_publish(self, key: str, *, timeout: float = WAIT) -> None:
        """Wait (bounded) until nginx logged a publish command for stream ``key``.

        nginx logs it when the command arrives, before any ``on_publish`` verdict.
        """
        self.wait_for_log(f"publish: name='{key}'", timeout=timeout)

    def wait_for_play(self, key: str, *, timeout: float = WAIT) -> None:
        """Wait (bounded) until nginx logged a play command for stream ``key``."""
        self.wait_for_log(f"play: name='{key}'", timeout=timeout)

    async def wait_for_log_async(self, text: str, *, timeout: float = WAIT) -> None:
        """:meth:`wait_for_log` for Trio tests (our client may be the one to publish)."""
        await self.process.wait_for_log_async(text, timeout=timeout, path=self.error_log_path)

    async def wait_for_publish_async(self, key: str, *, timeout: float = WAIT) -> None:
        """:meth:`wait_for_publish` for Trio tests."""
        await self.wait_for_log_async(f"publish: name='{key}'", timeout=timeout)

    async def wait_for_play_async(self, key: str, *, timeout: float = WAIT) -> None:
        """:meth:`wait_for_play` for Trio tests."""
        await self.wait_for_log_async(f"play: name='{key}'", timeout=timeout)

    def stop(self) -> int | None:
        """Stop nginx (it is also stopped at teardown)."""
        return self.process.stop()


def nginx_rtmp_config(
    *,
    directory: Path,
    port: int,
    tls_port: int | None = None,
    certificate: TLSCertificate | None = None,
    chunk_size: int = 4096,
    applications: Mapping[str, str] | None = None,
    live_directives: str = "",
    on_connect: str | None = None,
    on_publish: str | None = None,
    on_play: str | None = None,
    on_done: str | None = None,
    on_publish_done: str | None = None,
    on_play_done: str | None = None,
    notify_method: str | None = None,
    wait_key: bool = False,
    wait_video: bool = False,
    play_restart: bool = False,
    idle_streams: bool = True,
    server_directives: str = "",
    extra_config: str = "",
) -> str:
    """The text of an nginx.conf for :meth:`Peers.nginx_rtmp` (see there for the options).

    Every path is inside ``directory``: nginx runs with ``-p directory -c nginx.conf``
    and needs nothing under /etc, /var or /run.
    """
    lines = [f"load_module {nginx_module('rtmp')};"]
    if tls_port is not None:
        lines.append(f"load_module {nginx_module('stream')};")
    lines += [
        "daemon off;",
        "master_process off;",
        "worker_processes 1;",
        f"pid {directory / 'nginx.pid'};",
        f"error_log {directory / 'error.log'} info;",
        "events { worker_connections 256; }",
    ]
    server = [f"listen 127.0.0.1:{port};", f"chunk_size {chunk_size};"]
    notify = {
        "on_connect": on_connect,
        "on_publish": on_publish,
        "on_play": on_play,
        "on_done": on_done,
        "on_publish_done": on_publish_done,
        "on_play_done": on_play_done,
    }
    # At server level so that every application inherits them.
    server += [f"{directive} {url};" for directive, url in notify.items() if url]
    if notify_method:
        server.append(f"notify_method {notify_method};")
    if wait_key:
        server.append("wait_key on;")
    if wait_video:
        server.append("wait_video on;")
    if play_restart:
        server.append("play_restart on;")
    if not idle_streams:
        server.append("idle_streams off;")
    if server_directives:
        server.append(server_directives)
    server.append(f"application live {{ live on; {live_directives} }}")
    for name, body in (applications or {}).items():
        server.append(f"application {name} {{ {body} }}")
    # Without its own access_log the rtmp module writes to nginx's compiled-in
    # /var/log/nginx/access.log, which a non-root user cannot open.
    lines.append(
        f"rtmp {{ access_log {directory / 'access.log'};\nserver {{\n    "
        + "\n    ".join(server)
        + "\n} }"
    )
    if tls_port is not None:
        assert certificate is not None
        lines.append(
            "stream { server {\n"
            f"    listen 127.0.0.1:{tls_port} ssl;\n"
            f"    ssl_certificate {certificate.cert_path};\n"
            f"    ssl_certificate_key {certificate.key_path};\n"
            "    ssl_protocols TLSv1.2 TLSv1.3;\n"
            f"    proxy_pass 127.0.0.1:{port};\n"
            # Pass a client's half-close on to nginx-rtmp and read on to its end, as
            # the client does.  Off (the default), the proxy closes both sides at the
            # client's FIN, with nginx-rtmp's last replies unread: a reset nginx-rtmp
            # logs, which is the proxy's doing, not the client's.
            "    proxy_half_close on;\n"
            "} }"
        )
    if extra_config:
        lines.append(extra_config)
    return "\n".join(lines) + "\n"


# -- the HTTP hook server for nginx-rtmp notifications --------------------------------------


@attrs.frozen(kw_only=True)
class HookRequest:
    """One notification nginx-rtmp sent to the :class:`HookServer`."""

    #: "POST" (nginx-rtmp's default) or "GET" (``notify_method get``).
    method: str
    #: The request path without the query string, e.g. "/on_publish".
    path: str
    #: The form fields (call, app, name, addr, clientid, tcurl, type, flashver...).
    fields: Mapping[str, str]
    #: The status the server answered with.
    status: int

    @property
    def call(self) -> str:
        """nginx-rtmp's ``call`` field: connect, publish, play, done, publish_done, ..."""
        return self.fields.get("call", "")

    @property
    def name(self) -> str:
        """The stream name (``name`` field), "" when absent (connect)."""
        return self.fields.get("name", "")


#: A hook rule: the request (status not yet known, shown as 0) -> status, or status and
#: extra headers (a 3xx with ``Location`` makes nginx-rtmp rename or relay the stream).
HookRule = Callable[[HookRequest], int | tuple[int, Mapping[str, str]]]


class HookServer:
    """A tiny HTTP server (stdlib, one thread) for nginx-rtmp's on_* notifications.

    By default it answers 200 to everything, and 403 to ``publish`` / ``play`` /
    ``connect`` calls whose stream name is in :attr:`refused`; set :attr:`rule` for
    anything else.  Every request is recorded in :attr:`requests`.

        hooks.refused.add("banned")
        nginx = peers.nginx_rtmp(on_publish=hooks.url("/on_publish"))
    """

    REFUSABLE_CALLS = frozenset({"connect", "publish", "play"})

    def __init__(self) -> None:
        #: Stream names answered with 403.
        self.refused: set[str] = set()
        #: Overrides the default answer when set.
        self.rule: HookRule | None = None
        self._requests: list[HookRequest] = []
        self._condition = threading.Condition()
        self._server = _HookHTTPServer(("127.0.0.1", 0), _HookHandler, self)
        #: The port it listens on (127.0.0.1).
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"hook-server-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def url(self, path: str = "/") -> str:
        """``http://127.0.0.1:PORT/path``, for an nginx ``on_*`` directive."""
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    @property
    def requests(self) -> list[HookRequest]:
        """A snapshot of every request so far, in arrival order."""
        with self._condition:
            return list(self._requests)

    def calls(self, call: str | None = None) -> list[HookRequest]:
        """The requests with ``call`` field ``call`` (all if None)."""
        return [r for r in self.requests if call is None or r.call == call]

    def wait_for(
        self, call: str, name: str | None = None, *, count: int = 1, timeout: float = WAIT
    ) -> list[HookRequest]:
        """Wait (bounded) until ``count`` requests with this call (and name) arrived."""

        def matching() -> list[HookRequest]:
            return [
                r for r in self._requests if r.call == call and (name is None or r.name == name)
            ]

        with self._condition:
            if not self._condition.wait_for(lambda: len(matching()) >= count, timeout=timeout):
                pytest.fail(
                    f"hook server: {count} x call={call!r} name={name!r} not seen within "
                    f"{timeout} s; got {self._requests}"
                )
            return matching()

    async def wait_for_async(
        self, call: str, name: str | None = None, *, count: int = 1, timeout: float = WAIT
    ) -> list[HookRequest]:
        """:meth:`wait_for` for Trio tests (polls with ``trio.sleep``)."""
        import trio

        deadline = time.monotonic() + timeout
        while True:
            found = [r for r in self.calls(call) if name is None or r.name == name]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                pytest.fail(
                    f"hook server: {count} x call={call!r} name={name!r} not seen within "
                    f"{timeout} s; got {self.requests}"
                )
            await trio.sleep(_POLL)

    def answer(self, request: HookRequest) -> tuple[int, Mapping[str, str]]:
        """The status and extra headers for ``request`` (the rule, or the default rule)."""
        if self.rule is not None:
            verdict = self.rule(request)
            if isinstance(verdict, tuple):
                return verdict
            return verdict, {}
        if request.call in self.REFUSABLE_CALLS and request.name in self.refused:
            return 403, {}
        return 200, {}

    def record(self, request: HookRequest) -> None:
        """Record a request (called by the handler thread)."""
        with self._condition:
            self._requests.append(request)
            self._condition.notify_all()

    def close(self) -> None:
        """Stop serving (bounded) and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=WAIT)


class _HookHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[http.server.BaseHTTPRequestHandler],
        hooks: HookServer,
    ) -> None:
        self.hooks = hooks
        super().__init__(address, handler)


class _HookHandler(http.server.BaseHTTPRequestHandler):
    server: _HookHTTPServer
    # nginx-rtmp speaks HTTP/1.0 and waits for the connection to close.
    protocol_version = "HTTP/1.0"
    timeout = WAIT

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._handle(self.rfile.read(length).decode("utf-8", "replace"))

    def do_GET(self) -> None:
        self._handle("")

    def _handle(self, body: str) -> None:
        path, _, query = self.path.partition("?")
        fields: dict[str, str] = {}
        for text in (query, body):
            for key, value in urllib.parse.parse_qsl(text, keep_blank_values=True):
                fields.setdefault(key, value)
        hooks = self.server.hooks
        request = HookRequest(method=self.command, path=path, fields=fields, status=0)
        try:
            status, headers = hooks.answer(request)
        except Exception:
            logger.exception("hook rule failed; answering 500")
            status, headers = 500, {}
        hooks.record(attrs.evolve(request, status=status))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("hook server: " + format, *args)


# -- media ------------------------------------------------------------------------------


def make_sample_flv(
    path: Path,
    *,
    seconds: float = 4.0,
    video: bool = True,
    audio: bool = True,
    bframes: bool = True,
    fps: int = 25,
    size: str = "320x240",
    gop_seconds: float = 1.0,
    video_codec: str = "libx264",
    audio_codec: str = "aac",
    sample_rate: int = 44100,
    channels: int = 1,
    video_bitrate: str | None = None,
    extra: Sequence[str] = (),
) -> Path:
    """Generate an FLV test file from lavfi sources (testsrc2 video, sine audio).

    H.264 (libx264, preset veryfast, a closed GOP of ``gop_seconds``, two B-frames when
    ``bframes``) and AAC by default; ``video_codec`` / ``audio_codec`` take any FFmpeg
    encoder that FLV can hold (e.g. "flv1", "libmp3lame", "pcm_s16le", "nellymoser").
    ``extra`` goes before the output path.  Returns ``path``.

        sample = make_sample_flv(tmp_path / "a.flv", seconds=2, bframes=False)
    """
    if not (video or audio):
        raise ValueError("a sample needs video or audio")
    command: list[str] = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    if video:
        command += ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}"]
    if audio:
        command += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={sample_rate}"]
    command += ["-t", f"{seconds}"]
    if video:
        gop = max(1, round(fps * gop_seconds))
        command += ["-map", "0:v", "-c:v", video_codec, "-g", str(gop), "-pix_fmt", "yuv420p"]
        if video_codec == "libx264":
            command += [
                "-preset", "veryfast", "-keyint_min", str(gop), "-sc_threshold", "0",
                "-bf", "2" if bframes else "0",
                # Closed GOPs and no scene cuts: every keyframe is an IDR at a fixed
                # interval, so a player can join at any of them.
                "-x264-params", "open-gop=0:scenecut=0",
            ]  # fmt: skip
        elif not bframes:
            command += ["-bf", "0"]
        if video_bitrate:
            command += ["-b:v", video_bitrate]
    if audio:
        command += ["-map", f"{1 if video else 0}:a", "-c:a", audio_codec]
        command += ["-ar", str(sample_rate), "-ac", str(channels)]
    command += [*extra, "-f", "flv", str(path)]
    path.parent.mkdir(parents=True, exist_ok=True)
    run_tool(command, what="ffmpeg (making a sample)")
    return path


class SampleCache:
    """Sample files generated once per test session, keyed by their parameters.

    path = sample_media.get(seconds=2, bframes=False)
    """

    def __init__(self, directory: Path) -> None:
        #: Where the samples are written.
        self.directory = directory
        self._samples: dict[tuple[tuple[str, Any], ...], Path] = {}
        self._lock = threading.Lock()

    def get(self, **options: Any) -> Path:
        """The sample for :func:`make_sample_flv` ``options``, made on first use."""
        key = tuple(sorted((name, _hashable(value)) for name, value in options.items()))
        with self._lock:
            path = self._samples.get(key)
            if path is None or not path.exists():
                path = self.directory / f"sample-{len(self._samples)}.flv"
                make_sample_flv(path, **options)
                self._samples[key] = path
            return path


def _hashable(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(value)
    return value


# -- ffprobe ----------------------------------------------------------------------------


class Packet(NamedTuple):
    """One packet as ffprobe sees it (times in milliseconds)."""

    #: "video", "audio", "data"...
    media: str
    stream_index: int
    #: The codec name of its stream ("h264", "aac"...).
    codec: str
    #: Presentation / decoding timestamps and duration in ms (None when unknown).
    pts: int | None
    dts: int | None
    duration: int | None
    #: Payload size in bytes.
    size: int
    keyframe: bool
    #: "MD5:..." of the payload: what identifies the same packet in two files.
    data_hash: str
    #: Byte position in the file (None when unknown).
    pos: int | None

    @property
    def composition_offset(self) -> int | None:
        """pts - dts (the FLV CompositionTime, non-zero with B-frames)."""
        if self.pts is None or self.dts is None:
            return None
        return self.pts - self.dts


@attrs.frozen(kw_only=True)
class StreamInfo:
    """One stream as ffprobe sees it."""

    index: int
    #: "video", "audio", "data"...
    media: str
    #: "h264", "aac"... ("" when ffprobe does not know it).
    codec: str
    profile: str = ""
    width: int | None = None
    height: int | None = None
    sample_rate: int | None = None
    channels: int | None = None
    #: The frame rate ffprobe guessed ("25/1"), "" for audio.
    frame_rate: str = ""
    #: ffprobe's whole JSON object for the stream.
    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False)


def _ffprobe_json(path: Path, *arguments: str) -> dict[str, Any]:
    result = run_tool(
        ["ffprobe", "-v", "error", *arguments, "-of", "json", str(path)],
        what=f"ffprobe {Path(path).name}",
    )
    data: dict[str, Any] = json.loads(result.stdout or "{}")
    return data


def _stream_info(raw: Mapping[str, Any]) -> StreamInfo:
    def number(key: str) -> int | None:
        value = raw.get(key)
        return int(value) if value not in (None, "") else None

    media = raw.get("codec_type", "")
    return StreamInfo(
        index=int(raw["index"]),
        media=media,
        codec=raw.get("codec_name", ""),
        profile=raw.get("profile", ""),
        width=number("width"),
        height=number("height"),
        sample_rate=number("sample_rate"),
        channels=number("channels"),
        frame_rate=raw.get("r_frame_rate", "") if media == "video" else "",
        raw=dict(raw),
    )


def probe_streams(path: Path) -> list[StreamInfo]:
    """The streams ffprobe finds in ``path``, by index.

    assert {s.codec for s in probe_streams(out)} == {"h264", "aac"}
    """
    data = _ffprobe_json(path, "-show_streams")
    return [_stream_info(raw) for raw in data.get("streams", [])]


def _ms(seconds: str | None) -> int | None:
    if seconds in (None, "", "N/A"):
        return None
    return round(float(seconds) * 1000)


def probe_packets(path: Path) -> list[Packet]:
    """Every packet of ``path`` in file order, with an MD5 of each payload.

    video = [p for p in probe_packets(out) if p.media == "video"]
    """
    data = _ffprobe_json(path, "-show_packets", "-show_streams", "-show_data_hash", "MD5")
    codecs = {int(s["index"]): s.get("codec_name", "") for s in data.get("streams", [])}
    packets = []
    for raw in data.get("packets", []):
        index = int(raw["stream_index"])
        packets.append(
            Packet(
                media=raw.get("codec_type", ""),
                stream_index=index,
                codec=codecs.get(index, ""),
                pts=_ms(raw.get("pts_time")),
                dts=_ms(raw.get("dts_time")),
                duration=_ms(raw.get("duration_time")),
                size=int(raw["size"]),
                keyframe="K" in raw.get("flags", ""),
                data_hash=raw.get("data_hash", ""),
                pos=int(raw["pos"]) if raw.get("pos") not in (None, "", "N/A") else None,
            )
        )
    return packets


def decode_errors(path: Path, *, timeout: float = 60.0) -> str:
    """What FFmpeg's decoders complain about in ``path`` (``-v error ... -f null -``); "" if clean.

    assert decode_errors(out) == ""
    """
    argv = [peer_binary("ffmpeg"), "-nostdin", "-v", "error", "-i", str(path), "-f", "null", "-"]
    try:
        result = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"decoding {path} took more than {timeout} s")
    errors = result.stderr.strip()
    if result.returncode != 0 and not errors:
        errors = f"ffmpeg exited with {result.returncode}"
    return errors


@attrs.frozen(kw_only=True)
class PacketComparison:
    """How the packets of one media type in an output line up with its source.

    The *join point* is the first packet of the output that is also in the source
    (same payload MD5): for video the first such keyframe.  Packets before it
    (a player that joined mid-GOP) are :attr:`skipped`.  From there the output and
    the source are walked side by side; each pair must have the same payload,
    keyframe flag, composition offset (pts - dts), and the same dts relative to the
    join point.
    """

    media: str
    #: Packets of this type in the source and in the output.
    source_count: int
    output_count: int
    #: Indices (among this media type) of the join point, None if there is none.
    source_join: int | None
    output_join: int | None
    #: Output packets before the join point.
    skipped: int
    #: Pairs walked from the join point, and how many of them differ.
    compared: int
    mismatched: int
    #: Source packets after the compared ones (the player stopped before the end).
    source_left: int
    #: Output packets after the source ran out (only a looping publisher has those).
    output_left: int
    #: output dts - source dts at the join point (how the timeline was shifted).
    dts_offset: int | None
    #: The first few differences, described.
    differences: tuple[str, ...] = ()

    @property
    def joined(self) -> bool:
        """Whether a join point was found."""
        return self.source_join is not None

    @property
    def ok(self) -> bool:
        """Joined, and no difference from the join point on."""
        return self.joined and self.mismatched == 0 and self.output_left == 0

    def summary(self) -> str:
        """One line for an assertion message."""
        return (
            f"{self.media}: source {self.source_count}, output {self.output_count}, "
            f"join src#{self.source_join}/out#{self.output_join}, skipped {self.skipped}, "
            f"compared {self.compared}, mismatched {self.mismatched}, "
            f"source left {self.source_left}, output left {self.output_left}, "
            f"dts offset {self.dts_offset}" + "".join(f"\n    {d}" for d in self.differences)
        )


def _find_join(source: Sequence[Packet], output: Sequence[Packet], video: bool) -> tuple[int, int]:
    by_hash: dict[str, list[int]] = {}
    for index, packet in enumerate(source):
        by_hash.setdefault(packet.data_hash, []).append(index)
    for out_index, packet in enumerate(output):
        if video and not packet.keyframe:
            continue
        candidates = by_hash.get(packet.data_hash, [])
        if not candidates:
            continue
        # Equal payloads can recur (a looped or periodic source): take the candidate
        # whose next few packets also match.
        for src_index in candidates:
            window = min(8, len(source) - src_index, len(output) - out_index)
            if all(
                source[src_index + k].data_hash == output[out_index + k].data_hash
                for k in range(window)
            ):
                return src_index, out_index
        return candidates[0], out_index
    return -1, -1


def compare_packets(
    source: Sequence[Packet],
    output: Sequence[Packet],
    *,
    media: str = "video",
    tolerance_ms: int = 1,
    max_differences: int = 10,
) -> PacketComparison:
    """Compare the ``media`` packets of ``output`` with ``source`` from the join point on.

    See :class:`PacketComparison`.  ``tolerance_ms`` allows for rounding of times.

        c = compare_packets(probe_packets(sample), probe_packets(out), media="video")
        assert c.ok and c.compared > 50, c.summary()
    """
    src = [p for p in source if p.media == media]
    out = [p for p in output if p.media == media]
    src_join, out_join = _find_join(src, out, video=media == "video")
    if src_join < 0:
        return PacketComparison(
            media=media,
            source_count=len(src),
            output_count=len(out),
            source_join=None,
            output_join=None,
            skipped=len(out),
            compared=0,
            mismatched=0,
            source_left=len(src),
            output_left=0,
            dts_offset=None,
            differences=("no output packet matches a source packet",) if out else (),
        )
    src_base = src[src_join].dts or 0
    out_base = out[out_join].dts or 0
    compared = min(len(src) - src_join, len(out) - out_join)
    mismatched = 0
    differences: list[str] = []
    for k in range(compared):
        s, o = src[src_join + k], out[out_join + k]
        problems = []
        if s.data_hash != o.data_hash:
            problems.append(f"payload differs (size {s.size} -> {o.size})")
        if s.keyframe != o.keyframe:
            problems.append(f"keyframe {s.keyframe} -> {o.keyframe}")
        if s.dts is not None and o.dts is not None:
            drift = (o.dts - out_base) - (s.dts - src_base)
            if abs(drift) > tolerance_ms:
                problems.append(f"dts {s.dts} -> {o.dts} (off by {drift} ms from the join)")
        s_cts, o_cts = s.composition_offset, o.composition_offset
        if s_cts is not None and o_cts is not None and abs(s_cts - o_cts) > tolerance_ms:
            problems.append(f"pts-dts {s_cts} -> {o_cts}")
        if problems:
            mismatched += 1
            if len(differences) < max_differences:
                differences.append(f"src#{src_join + k}/out#{out_join + k}: " + "; ".join(problems))
    return PacketComparison(
        media=media,
        source_count=len(src),
        output_count=len(out),
        source_join=src_join,
        output_join=out_join,
        skipped=out_join,
        compared=compared,
        mismatched=mismatched,
        source_left=len(src) - src_join - compared,
        output_left=len(out) - out_join - compared,
        dts_offset=out_base - src_base,
        differences=tuple(differences),
    )


@attrs.frozen(kw_only=True)
class MediaComparison:
    """:class:`PacketComparison` for each media type, and whether A/V sync survived."""

    #: By media type ("video", "audio").
    streams: Mapping[str, PacketComparison]
    tolerance_ms: int = 1

    @property
    def av_drift(self) -> int | None:
        """Video dts offset minus audio dts offset (0 when both moved together)."""
        video, audio = self.streams.get("video"), self.streams.get("audio")
        if video is None or audio is None or video.dts_offset is None or audio.dts_offset is None:
            return None
        return video.dts_offset - audio.dts_offset

    @property
    def ok(self) -> bool:
        """Every stream :attr:`PacketComparison.ok` and no A/V drift."""
        drift = self.av_drift
        return all(c.ok for c in self.streams.values()) and (
            drift is None or abs(drift) <= self.tolerance_ms
        )

    def summary(self) -> str:
        """Lines for an assertion message."""
        lines = [c.summary() for c in self.streams.values()]
        lines.append(f"A/V drift: {self.av_drift} ms")
        return "\n".join(lines)

    def assert_ok(self, *, min_compared: int = 1, max_source_left: int | None = None) -> None:
        """Assert :attr:`ok`, at least ``min_compared`` packets per stream compared, and
        (when given) at most ``max_source_left`` source packets missing at the end."""
        assert self.ok, self.summary()
        for comparison in self.streams.values():
            assert comparison.compared >= min_compared, self.summary()
            if max_source_left is not None:
                assert comparison.source_left <= max_source_left, self.summary()


def compare_media(
    source: Path | Sequence[Packet],
    output: Path | Sequence[Packet],
    *,
    media: Iterable[str] | None = None,
    tolerance_ms: int = 1,
) -> MediaComparison:
    """:func:`compare_packets` for each of ``media``, from files or packet lists.

    ``media`` defaults to the types the source has (of "video" and "audio").

    compare_media(sample_flv, out).assert_ok(min_compared=50)
    """
    src = probe_packets(source) if isinstance(source, Path) else source
    out = probe_packets(output) if isinstance(output, Path) else output
    if media is None:
        present = {p.media for p in src}
        media = [kind for kind in ("video", "audio") if kind in present]
    return MediaComparison(
        streams={
            kind: compare_packets(src, out, media=kind, tolerance_ms=tolerance_ms) for kind in media
        },
        tolerance_ms=tolerance_ms,
    )


# -- the recording proxy ------------------------------------------------------------------


class ProxiedConnection:
    """One connection through a :class:`RecordingProxy` and the bytes of each direction."""

    def __init__(self, index: int, condition: threading.Condition) -> None:
        #: 0 for the first connection accepted, 1 for the next...
        self.index = index
        self._condition = condition
        self._to_server = bytearray()
        self._to_client = bytearray()
        #: The byte strings each recv returned, in order, per direction.
        self.client_to_server_pieces: list[bytes] = []
        self.server_to_client_pieces: list[bytes] = []
        self._open_directions = 2

    @property
    def client_to_server(self) -> bytes:
        """Everything the client (connecting side) sent so far."""
        with self._condition:
            return bytes(self._to_server)

    @property
    def server_to_client(self) -> bytes:
        """Everything the upstream server answered so far."""
        with self._condition:
            return bytes(self._to_client)

    @property
    def closed(self) -> bool:
        """Whether both directions have ended."""
        with self._condition:
            return self._open_directions == 0

    def _add(self, to_server: bool, data: bytes) -> None:
        with self._condition:
            if to_server:
                self._to_server += data
                self.client_to_server_pieces.append(data)
            else:
                self._to_client += data
                self.server_to_client_pieces.append(data)
            self._condition.notify_all()

    def _direction_ended(self) -> None:
        with self._condition:
            self._open_directions -= 1
            self._condition.notify_all()

    def wait_closed(self, timeout: float = WAIT) -> None:
        """Wait (bounded) until both directions have ended."""
        with self._condition:
            if not self._condition.wait_for(lambda: self._open_directions == 0, timeout):
                pytest.fail(f"proxied connection {self.index} still open after {timeout} s")

    def wait_for_bytes(
        self, *, client_to_server: int = 0, server_to_client: int = 0, timeout: float = WAIT
    ) -> None:
        """Wait (bounded) until at least this many bytes went each way."""

        def enough() -> bool:
            return (
                len(self._to_server) >= client_to_server
                and len(self._to_client) >= server_to_client
            )

        with self._condition:
            if not self._condition.wait_for(enough, timeout):
                pytest.fail(
                    f"proxied connection {self.index}: {len(self._to_server)} bytes to the "
                    f"server and {len(self._to_client)} to the client after {timeout} s"
                )


class RecordingProxy:
    """A TCP proxy on 127.0.0.1 that forwards to an upstream port and records every byte.

    Each accepted connection opens its own upstream connection; two threads per
    connection copy bytes each way (a half-close is passed on as a half-close).  Use
    it as a context manager, or call :meth:`close` (the ``recording_proxy`` fixture
    does it at teardown).

        with RecordingProxy(nginx.port) as proxy:
            peers.ffmpeg_publish(f"rtmp://127.0.0.1:{proxy.port}/live/x", sample_flv, ...)
            ...
            c2s = proxy.connections[0].client_to_server
    """

    def __init__(self, upstream_port: int, *, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self._condition = threading.Condition()
        self._connections: list[ProxiedConnection] = []
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._closing = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        # A short accept timeout lets the accept loop notice close() promptly.
        self._listener.settimeout(0.1)
        #: The port clients connect to.
        self.port: int = self._listener.getsockname()[1]
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"proxy-{self.port}", daemon=True
        )
        self._accept_thread.start()

    def __enter__(self) -> RecordingProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def url(self, app: str = "live", key: str = "stream") -> str:
        """``rtmp://127.0.0.1:PROXY_PORT/app/key``."""
        return f"rtmp://127.0.0.1:{self.port}/{app}/{key}"

    @property
    def connections(self) -> list[ProxiedConnection]:
        """The connections so far, in accept order."""
        with self._condition:
            return list(self._connections)

    def wait_for_connections(self, count: int = 1, *, timeout: float = WAIT) -> None:
        """Wait (bounded) until ``count`` connections have been accepted."""
        with self._condition:
            if not self._condition.wait_for(lambda: len(self._connections) >= count, timeout):
                pytest.fail(
                    f"proxy: {len(self._connections)} of {count} connections in {timeout} s"
                )

    def _accept_loop(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=WAIT)
            except OSError:
                logger.warning("proxy: upstream %s refused", self.upstream)
                client.close()
                continue
            for sock in (client, server):
                sock.settimeout(None)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._condition:
                if self._closing.is_set():
                    client.close()
                    server.close()
                    return
                connection = ProxiedConnection(len(self._connections), self._condition)
                self._connections.append(connection)
                self._sockets += [client, server]
                for source, sink, to_server in ((client, server, True), (server, client, False)):
                    thread = threading.Thread(
                        target=self._pump,
                        args=(source, sink, connection, to_server),
                        name=f"proxy-{self.port}-{connection.index}-{'up' if to_server else 'down'}",
                        daemon=True,
                    )
                    self._threads.append(thread)
                    thread.start()
                self._condition.notify_all()

    @staticmethod
    def _pump(
        source: socket.socket, sink: socket.socket, connection: ProxiedConnection, to_server: bool
    ) -> None:
        try:
            while True:
                try:
                    data = source.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    break
                connection._add(to_server, data)
                try:
                    sink.sendall(data)
                except OSError:
                    break
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
            connection._direction_ended()

    def close(self) -> None:
        """Stop accepting, close every connection, and join the threads (bounded)."""
        with self._condition:
            self._closing.set()
            sockets = list(self._sockets)
        self._accept_thread.join(timeout=WAIT)
        self._listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join(timeout=WAIT)


# -- the process manager and the peer roles --------------------------------------------------


class Peers:
    """Starts peer processes for one test and stops them (by PID) at teardown.

    Obtained from the ``peers`` fixture.  Logs go to ``directory`` (inside tmp_path).
    """

    def __init__(
        self,
        directory: Path,
        *,
        certificate: Callable[[], TLSCertificate] | None = None,
    ) -> None:
        #: Where logs, configurations and outputs go.
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._certificate = certificate
        self._processes: list[PeerProcess] = []
        self._names: set[str] = set()

    @property
    def processes(self) -> list[PeerProcess]:
        """Every process started so far."""
        return list(self._processes)

    def _unique(self, name: str) -> str:
        candidate, number = name, 1
        while candidate in self._names:
            number += 1
            candidate = f"{name}-{number}"
        self._names.add(candidate)
        return candidate

    def start(
        self,
        command: Sequence[str | os.PathLike[str]],
        name: str,
        *,
        env: Mapping[str, str] | None = None,
        extra_logs: Sequence[Path] = (),
        stdin: int = subprocess.DEVNULL,
        stdout: int | None = None,
    ) -> PeerProcess:
        """Start ``command`` (``command[0]`` found by :func:`peer_binary`), logs to files.

        stdin is /dev/null, or the file descriptor ``stdin`` (a pipe's end, say); stdout
        goes to a log file, or to the file descriptor ``stdout``.  It is stopped at
        teardown if still running.

            proc = peers.start(["ffmpeg", "-version"], "ffmpeg-version")
        """
        return self._spawn(
            command,
            self._unique(name),
            env=env,
            extra_logs=extra_logs,
            stdin=stdin,
            stdout=stdout,
        )

    def _spawn(
        self,
        command: Sequence[str | os.PathLike[str]],
        name: str,
        *,
        env: Mapping[str, str] | None = None,
        extra_logs: Sequence[Path] = (),
        stdin: int = subprocess.DEVNULL,
        stdout: int | None = None,
    ) -> PeerProcess:
        argv = [peer_binary(str(command[0])), *map(str, command[1:])]
        stdout_path = self.directory / f"{name}.stdout"
        stderr_path = self.directory / f"{name}.stderr"
        with open(stdout_path, "wb") as stdout_log, open(stderr_path, "wb") as stderr:
            popen = subprocess.Popen(
                argv,
                stdin=stdin,
                stdout=stdout_log if stdout is None else stdout,
                stderr=stderr,
                env=None if env is None else {**os.environ, **env},
            )
        process = PeerProcess(name, argv, popen, stdout_path, stderr_path, extra_logs)
        self._processes.append(process)
        logger.debug("started %s (pid %d): %s", name, popen.pid, argv)
        return process

    def stop_all(self) -> None:
        """Stop every process still running (newest first), each by its own PID."""
        for process in reversed(self._processes):
            process.stop(grace=5.0)

    def logs(self) -> str:
        """The logs of every process, for a failure message."""
        return "\n".join(process.log() for process in self._processes)

    # -- nginx ----------------------------------------------------------------------------

    def nginx_rtmp(
        self,
        *,
        tls: bool = False,
        chunk_size: int = 4096,
        applications: Mapping[str, str] | None = None,
        live_directives: str = "",
        on_connect: str | None = None,
        on_publish: str | None = None,
        on_play: str | None = None,
        on_done: str | None = None,
        on_publish_done: str | None = None,
        on_play_done: str | None = None,
        notify_method: str | None = None,
        wait_key: bool = False,
        wait_video: bool = False,
        play_restart: bool = False,
        idle_streams: bool = True,
        server_directives: str = "",
        extra_config: str = "",
        timeout: float = WAIT,
    ) -> NginxRtmp:
        """Start nginx-rtmp on a free port and wait until it listens.

        The ``rtmp`` server has ``application live { live on; <live_directives> }`` plus
        ``applications`` (name -> the directives inside its block).  The ``on_*`` URLs
        (see :class:`HookServer`), ``notify_method``, ``wait_key`` and ``wait_video`` are
        set at server level, so every application inherits them; ``server_directives``
        are added there verbatim, ``extra_config`` at the top level.  With ``tls``, a
        ``stream`` server terminates TLS on :attr:`NginxRtmp.tls_port` with the
        session's test certificate and forwards to the RTMP port.

        When a publisher leaves, nginx-rtmp by default only sends its players a
        StreamEOF, which FFmpeg and rtmpdump ignore: they keep waiting.  ``play_restart``
        makes it send NetStream.Play.Stop (FFmpeg then ends cleanly, status 0);
        ``idle_streams=False`` makes it drop the players' connections instead.

            nginx = peers.nginx_rtmp(on_publish=hooks.url("/publish"), wait_key=True)
        """
        nginx = peer_binary("nginx")
        certificate = None
        if tls:
            if self._certificate is None:
                raise ValueError("no certificate provider: use the peers fixture")
            certificate = self._certificate()
        attempts = 3
        for attempt in range(attempts):
            name = self._unique("nginx")
            directory = self.directory / name
            directory.mkdir()
            port = free_port()
            tls_port = free_port() if tls else None
            config_text = nginx_rtmp_config(
                directory=directory,
                port=port,
                tls_port=tls_port,
                certificate=certificate,
                chunk_size=chunk_size,
                applications=applications,
                live_directives=live_directives,
                on_connect=on_connect,
                on_publish=on_publish,
                on_play=on_play,
                on_done=on_done,
                on_publish_done=on_publish_done,
                on_play_done=on_play_done,
                notify_method=notify_method,
                wait_key=wait_key,
                wait_video=wait_video,
                play_restart=play_restart,
                idle_streams=idle_streams,
                server_directives=server_directives,
                extra_config=extra_config,
            )
            config = directory / "nginx.conf"
            config.write_text(config_text)
            error_log = directory / "error.log"
            process = self._spawn(
                [nginx, "-p", f"{directory}/", "-c", str(config), "-e", str(error_log)],
                name,
                extra_logs=[config, error_log],
            )
            ports = [port] if tls_port is None else [port, tls_port]
            if self._wait_listening(process, ports, timeout, error_log):
                return NginxRtmp(
                    process=process,
                    port=port,
                    tls_port=tls_port,
                    directory=directory,
                    config_path=config,
                    error_log_path=error_log,
                    certificate=certificate,
                )
            logger.info("nginx lost a port race (attempt %d); retrying", attempt + 1)
        pytest.fail(f"nginx could not bind free ports in {attempts} attempts\n{self.logs()}")

    @staticmethod
    def _wait_listening(
        process: PeerProcess, ports: Sequence[int], timeout: float, *logs: Path
    ) -> bool:
        """Wait until every port listens; False if the process lost a port race."""
        deadline = time.monotonic() + timeout
        while not all(port_is_listening(port) for port in ports):
            if process.poll() is not None:
                text = process.stderr() + "".join(_read_text(path) for path in logs)
                if "Address already in use" in text:
                    return False
                process.fail(f"exited with {process.returncode} before listening on {ports}")
            if time.monotonic() > deadline:
                process.fail(f"did not listen on {ports} within {timeout} s")
            time.sleep(_POLL)
        return True

    # -- FFmpeg -------------------------------------------------------------------------------

    def ffmpeg_publish(
        self,
        url: str,
        source: Path,
        *,
        realtime: bool = True,
        loop: bool = False,
        input_options: Sequence[str] = (),
        extra: Sequence[str] = (),
        name: str = "ffmpeg-publish",
    ) -> PeerProcess:
        """FFmpeg publishing ``source`` to ``url``: ``ffmpeg [-re] -i source -c copy -f flv url``.

        ``realtime`` paces it at the media's rate (``-re``); ``loop`` repeats the input
        forever (stop it yourself).  ``input_options`` go before ``-i``, ``extra`` before
        the URL (e.g. ``["-tls_verify", "1", "-ca_file", ca]``).  Returns at once.

            peers.ffmpeg_publish(nginx.url("live", "a"), sample_flv).expect_exit(0, timeout=15)
        """
        command: list[str] = ["ffmpeg", "-hide_banner", "-nostdin", "-nostats"]
        command += ["-loglevel", "info"]
        if realtime:
            command.append("-re")
        if loop:
            command += ["-stream_loop", "-1"]
        command += [*input_options, "-i", str(source), "-c", "copy", "-map", "0"]
        command += [*extra, "-f", "flv", url]
        return self.start(command, name)

    def ffmpeg_play(
        self,
        url: str,
        output: Path,
        *,
        seconds: float | None = None,
        extra: Sequence[str] = (),
        input_options: Sequence[str] = (),
        name: str = "ffmpeg-play",
    ) -> PeerProcess:
        """FFmpeg playing ``url`` into an FLV file without re-encoding (``-c copy``).

        With ``seconds`` it stops after that much media (``-t``); it also stops when the
        stream ends.  A 10 s I/O timeout (``-rw_timeout``) keeps a stalled server from
        holding it forever.  Returns at once; wait with :meth:`PeerProcess.wait`.

            play = peers.ffmpeg_play(nginx.url("live", "a"), tmp_path / "out.flv", seconds=3)
        """
        command: list[str] = ["ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-y"]
        command += ["-loglevel", "info", "-rw_timeout", str(int(WAIT * 1_000_000))]
        command += [*input_options, "-i", url]
        if seconds is not None:
            command += ["-t", str(seconds)]
        # Without -flush_packets FFmpeg 5.1 keeps a live input's packets in memory, and
        # a player stopped by a signal leaves an empty file.
        command += ["-c", "copy", "-map", "0", "-flush_packets", "1", *extra]
        command += ["-f", "flv", str(output)]
        return self.start(command, name)

    def ffmpeg_listen_server(
        self,
        *,
        output: Path | None = None,
        source: Path | None = None,
        app: str = "live",
        key: str = "stream",
        realtime: bool = True,
        extra: Sequence[str] = (),
        timeout: float = WAIT,
        name: str = "ffmpeg-listen",
    ) -> tuple[PeerProcess, str]:
        """FFmpeg as a one-connection RTMP server (``-listen 1``); returns it and its URL.

        Exactly one of:

        - ``output``: it waits for a *publisher* and writes what arrives to this FLV
          (``ffmpeg -listen 1 -i rtmp://127.0.0.1:PORT/app/key -c copy out.flv``);
        - ``source``: it waits for a *player* and sends it this file
          (``ffmpeg [-re] -i source -c copy -f flv -listen 1 rtmp://...``).

        It serves one connection and exits.  This returns once it listens (checked
        without connecting, see :func:`port_is_listening`).

            server, url = peers.ffmpeg_listen_server(output=tmp_path / "got.flv")
        """
        if (output is None) == (source is None):
            raise ValueError("give exactly one of output= (receive) or source= (serve)")
        attempts = 3
        for attempt in range(attempts):
            port = free_port()
            url = f"rtmp://127.0.0.1:{port}/{app}/{key}"
            command: list[str] = ["ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-y"]
            command += ["-loglevel", "info"]
            if output is not None:
                command += ["-listen", "1", "-i", url, "-c", "copy", "-map", "0"]
                command += ["-flush_packets", "1", *extra, "-f", "flv", str(output)]
            else:
                assert source is not None
                command += ["-re"] if realtime else []
                command += ["-i", str(source), "-c", "copy", "-map", "0", *extra]
                command += ["-f", "flv", "-listen", "1", url]
            process = self.start(command, name)
            if self._wait_listening(process, [port], timeout):
                return process, url
            logger.info("ffmpeg -listen lost a port race (attempt %d); retrying", attempt + 1)
        pytest.fail(f"ffmpeg -listen could not bind a free port in {attempts} attempts")

    # -- rtmpdump -------------------------------------------------------------------------------

    def rtmpdump_play(
        self,
        url: str,
        output: Path,
        *,
        live: bool = True,
        idle_timeout: int = 5,
        extra: Sequence[str] = (),
        name: str = "rtmpdump",
    ) -> PeerProcess:
        """rtmpdump (librtmp) playing ``url`` into an FLV file: ``rtmpdump -r url [-v] -o out``.

        rtmpdump does not stop at the end of a live stream (it ignores StreamEOF and
        ``-B`` on live streams): it exits (status 2, "incomplete") once it has received
        nothing for ``idle_timeout`` seconds (``-m``), or when stopped.  So bound it with
        :meth:`PeerProcess.run_for`, which stops it with SIGTERM (it then closes the
        file properly).

            dump = peers.rtmpdump_play(nginx.url("live", "a"), tmp_path / "d.flv")
            dump.run_for(5)
        """
        command: list[str] = ["rtmpdump", "-r", url, "-o", str(output), "-m", str(idle_timeout)]
        if live:
            command.append("-v")
        command += list(extra)
        return self.start(command, name)

    def gstreamer_publish(
        self,
        url: str,
        reference: Path,
        *,
        seconds: int = 3,
        sink_options: Sequence[str] = (),
        name: str = "gst-publish",
    ) -> PeerProcess:
        """GStreamer publishing live test media to ``url`` with rtmp2sink.

        Encodes ``seconds`` of a 30 fps 320x240 test picture (H.264 with B-frames, a
        keyframe every second) and a 44.1 kHz tone (AAC) as they are made, muxes them as
        FLV (``flvmux``) and sends the tags with ``rtmp2sink`` (GStreamer's own RTMP
        client, chunk size 128 unless ``sink_options`` say ``chunk-size=N``).  The same
        FLV goes to the file ``reference`` too: exactly what was published, for ffprobe
        to compare the far end with.  It unpublishes (FCUnpublish, deleteStream) and
        exits 0 at the end.  Returns at once.

            gst = peers.gstreamer_publish(url, tmp_path / "sent.flv")
        """
        frames = seconds * 30
        command: list[str] = [gstreamer(), "-e", "-q"]
        command += ["videotestsrc", "is-live=true", "pattern=ball", f"num-buffers={frames}"]
        command += ["!", "video/x-raw,format=I420,width=320,height=240,framerate=30/1"]
        command += ["!", "x264enc", "speed-preset=ultrafast", "bframes=2", "key-int-max=30"]
        command += ["!", "h264parse", "!", "queue", "!", "mux."]
        command += ["audiotestsrc", "is-live=true", f"num-buffers={seconds * 44100 // 1024}"]
        command += ["!", "audio/x-raw,rate=44100,channels=2", "!", "audioconvert"]
        command += ["!", "avenc_aac", "!", "aacparse", "!", "queue", "!", "mux."]
        command += ["flvmux", "name=mux", "streamable=true", "!", "tee", "name=sent"]
        command += ["sent.", "!", "queue", "!", "rtmp2sink", f"location={url}", *sink_options]
        command += ["sent.", "!", "queue", "!", "filesink", f"location={reference}"]
        return self.start(command, name)

    def gstreamer_play(self, url: str, output: Path, *, name: str = "gst-play") -> PeerProcess:
        """GStreamer playing ``url`` with rtmp2src into the FLV file ``output``.

        It exits 0 at the stream's StreamEOF.  A GStreamer 1.22 race: rtmp2src hands
        each received message to its output thread through a one-message slot, and
        when the StreamEOF comes right behind the last message it stops and empties
        the slot before that thread took it.  So the last message of a stream whose
        publisher leaves right after it is usually missing (seen with nginx-rtmp as
        the server as with ours; not when the publisher leaves a moment later).
        Returns at once.

            gst = peers.gstreamer_play(url, tmp_path / "played.flv")
        """
        command = [gstreamer(), "-q", "rtmp2src", f"location={url}", "!", "filesink"]
        command.append(f"location={output}")
        return self.start(command, name)

    def librtmp_publish(
        self, url: str, source: Path, *, realtime: bool = True, name: str = "librtmp-publish"
    ) -> PeerProcess:
        """librtmp (rtmpdump's library) publishing the FLV file ``source`` to ``url``, as
        encoders built on it do: ``tests/librtmp_publish.py`` drives it through ctypes.
        ``realtime`` paces the tags by their timestamps.  Returns at once; it exits 0
        once all of the file is sent.

            peers.librtmp_publish(url, sample_flv).expect_exit(0, timeout=15)
        """
        if ctypes.util.find_library("rtmp") is None:
            missing_peer(f"librtmp is not installed (Debian package: {PEER_PACKAGES['rtmpdump']})")
        command = [sys.executable, str(Path(__file__).with_name("librtmp_publish.py"))]
        command += [str(source), url, *(["--realtime"] if realtime else [])]
        return self.start(command, name)
