"""The ``trio-rtmp`` command line: ``serve``, ``play``, ``publish`` and ``probe``.

``trio-rtmp`` (or ``python -m trio_rtmp``) runs one command:

* ``serve``: the live relay (:class:`trio_rtmp.relay.Relay`); anyone may publish
  ``rtmp://HOST:PORT/APP/KEY`` and anyone may play the same URL;
* ``play URL``: play a stream and write it as FLV, to a file or to stdout;
* ``publish FILE.flv URL``: publish an FLV file (or stdin, ``-``), paced at real time;
* ``probe URL``: what a stream carries (codecs, resolution, frame rate, bitrates).

Errors are one line on stderr (``trio-rtmp: error: ...``) and an exit status:

=====  ==========================================================================
0      success (``play``: the stream ended or ``--duration`` passed; ``serve``: stopped
       with Ctrl-C or SIGTERM)
1      the server refused (connect, publish, play, stream not found), the connection
       was lost, the peer broke the protocol, or a local I/O operation failed
2      usage: bad arguments, a bad URL, an input file that is missing or not FLV, an
       output that cannot be written
3      unreachable: the TCP or TLS connection could not be made, or the server did not
       answer in time
130    ``play``, ``publish`` and ``probe`` stopped by Ctrl-C or SIGTERM (``play`` still
       finishes its output file)
=====  ==========================================================================

Logging is configured here and only here (``-v`` info, ``-vv`` debug); importing
trio-rtmp never configures logging.
"""

from __future__ import annotations

import argparse
import collections
import hmac
import io
import json
import logging
import math
import os
import signal
import ssl
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import IO, Any, TypeGuard, TypeVar

import trio

from . import __version__
from .client import RTMPClient, open_client
from .core import amf0
from .core.amf import ECMAArray
from .core.config import DEFAULT_LIMITS, Limits
from .core.errors import LocalProtocolError, ProtocolError, RTMPError
from .core.timestamps import TimestampUnwrapper
from .core.url import RTMPURL, parse_url
from .exceptions import (
    ConnectionClosed,
    ConnectionFailed,
    ConnectionRejected,
    ConnectionTimeout,
    PlayRejected,
    PublishRejected,
    StreamNotFound,
)
from .media.demux import Demuxer
from .media.flv import (
    GopTrack,
    TagType,
    is_audio_multichannel_config,
    is_audio_sequence_header,
    is_video_metadata,
    track_ids,
    video_info,
)
from .media.flvfile import FlvEnd, FlvHeader, FlvReader, FlvTag, FlvWriter
from .media.frames import AudioInfo, AudioSample, CodecConfig, Metadata, VideoInfo, VideoSample
from .relay import AuthRequest, Relay, RelayConfig, _host_port
from .server import RTMPServer, ServerConfig, serve_rtmp, server_ssl_context

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "build_parser",
    "main",
]

logger = logging.getLogger(__name__)

#: Exit status: success.
EXIT_OK = 0
#: Exit status: refused by the server, connection lost, protocol or I/O failure.
EXIT_FAILED = 1
#: Exit status: bad arguments, URL, input file or output.
EXIT_USAGE = 2
#: Exit status: the server could not be reached, or did not answer in time.
EXIT_UNREACHABLE = 3
#: Exit status: stopped by Ctrl-C or SIGTERM (``play``, ``publish``, ``probe``).
EXIT_INTERRUPTED = 130

_PROG = "trio-rtmp"
#: How long a stopping ``serve`` waits for recordings and pushes to finish.
_SERVE_GRACE = 5.0
#: How often the status line and the progress bar are redrawn.
_STATUS_INTERVAL = 0.5
#: Bytes read from an FLV file at a time (``publish``).
_READ_SIZE = 64 * 1024
#: Tags written to the output in one go at most (``play``).
_WRITE_BATCH = 64
#: A backward timestamp jump of more than this (ms) is a new publisher (``play --follow``).
_NEW_PUBLISHER_JUMP = 1000
#: ``play --follow`` reconnects after a lost connection: first after this many seconds,
#: doubling up to the maximum.
_RECONNECT_DELAY = 1.0
_RECONNECT_DELAY_MAX = 30.0
#: The most media tags ``play --follow`` remembers (those since the last keyframe) to
#: recognise what a relay sends again after a reconnect.
_RECENT_TAGS = 4096
# The most configuration tags kept (a few per track; more only from a broken stream).
_MAX_HEADERS = 64
#: What ``probe`` wants to have seen of each track before it stops early (ms of media).
_PROBE_SPAN = 2000


class CLIError(Exception):
    """An expected failure: a one-line message and the exit status to leave with."""

    def __init__(self, message: str, status: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


# -- the parser --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``trio-rtmp`` command."""
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="log more (-v: info, -vv: debug)",
    )
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="RTMP relay server, player, publisher and prober (trio-rtmp).",
        epilog=(
            "URLs are rtmp://host[:port]/app[/instance]/streamkey or rtmps://..., as FFmpeg "
            "takes them. Exit status: 0 ok, 1 refused or failed, 2 usage or bad URL, "
            "3 unreachable or timed out, 130 interrupted."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more (-v: info, -vv: debug)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = commands.add_parser(
        "serve",
        parents=[verbose],
        help="run a live relay server",
        description=(
            "Run a live relay: anyone can publish rtmp://HOST:PORT/APP/KEY and anyone can "
            "play the same URL. Stop it with Ctrl-C."
        ),
    )
    serve.add_argument(
        "--host", default="0.0.0.0", help="address to listen on (default: 0.0.0.0, every IPv4)"
    )
    serve.add_argument(
        "--port", type=_port, default=1935, help="port to listen on (default: 1935; 0: any)"
    )
    serve.add_argument(
        "--record",
        metavar="DIR",
        help="record every published stream as DIR/APP/KEY-YYYYmmdd-HHMMSS.flv",
    )
    serve.add_argument(
        "--push",
        metavar="URL",
        action="append",
        default=[],
        help=(
            "also publish every stream to rtmp://host[:port]/app (the stream key is "
            "appended; follows the upstream's reconnect requests); repeatable"
        ),
    )
    serve.add_argument(
        "--max-connections",
        metavar="N",
        type=_positive_int,
        default=1000,
        help="refuse connections beyond N at once (default: 1000)",
    )
    serve.add_argument(
        "--max-message-rate",
        metavar="N",
        type=_positive_float,
        default=None,
        help=(
            "read at most N messages a second from each connection, with bursts of two "
            "seconds' worth (a peer flooding tiny messages or chunks is slowed down, not "
            "cut off; default: no limit)"
        ),
    )
    serve.add_argument(
        "--tcp-nodelay",
        action="store_true",
        help=(
            "send media at once (TCP_NODELAY), for the lowest latency; costs more CPU "
            "per player (default: let the kernel coalesce small writes, as nginx-rtmp)"
        ),
    )
    for action, who in (("publish", "publishers"), ("play", "players")):
        variable = f"TRIO_RTMP_{action.upper()}_SECRET"
        serve.add_argument(
            f"--{action}-secret",
            metavar="SECRET",
            default=os.environ.get(variable),
            help=(
                f"let only {who} whose stream key ends with ?secret=SECRET {action} "
                f"(the stream's name is the bare key); default: ${variable}"
            ),
        )
    serve.add_argument(
        "--tls-cert",
        metavar="CERT.pem",
        help="also serve rtmps:// with this certificate chain (PEM; may hold the key too)",
    )
    serve.add_argument(
        "--tls-key", metavar="KEY.pem", help="the certificate's private key (PEM), if apart"
    )
    serve.add_argument(
        "--tls-port",
        type=_port,
        help="port for rtmps:// (default: 443; 0: any); needs --tls-cert",
    )
    serve.set_defaults(run=_serve)

    play = commands.add_parser(
        "play",
        parents=[verbose],
        help="play a stream into an FLV file or stdout",
        description=(
            "Play a stream and write it as FLV. Ends with status 0 when the stream ends "
            "or after --duration."
        ),
    )
    play.add_argument("url", metavar="URL")
    play.add_argument(
        "-o",
        "--output",
        metavar="FILE.flv|-",
        help="where to write the FLV; '-' is stdout (the default when stdout is not a terminal)",
    )
    play.add_argument(
        "--duration",
        metavar="S",
        type=_positive_float,
        help="stop after S seconds of media",
    )
    play.add_argument(
        "--follow",
        action="store_true",
        help=(
            "when the publisher leaves, wait for the next one instead of ending; when "
            "the connection is lost, connect again (1 s, 2 s... up to 30 s apart)"
        ),
    )
    play.add_argument(
        "--receive-timeout",
        metavar="S",
        type=_positive_float,
        help=(
            "count the connection as lost when nothing at all comes from the server for "
            "S seconds while playing (a hung server; with --follow, keep S above the "
            "server's ping interval: 30 s for trio-rtmp, 60 s for nginx-rtmp)"
        ),
    )
    play.set_defaults(run=_play)

    publish = commands.add_parser(
        "publish",
        parents=[verbose],
        help="publish an FLV file (or stdin)",
        description=(
            "Publish an FLV file, or FLV from stdin ('-'), paced at real time by its "
            "timestamps.  A server's "
            "reconnect request is followed at the next keyframe."
        ),
    )
    publish.add_argument("file", metavar="FILE.flv", help="the FLV file; '-' is stdin")
    publish.add_argument("url", metavar="URL")
    publish.add_argument(
        "--loop", action="store_true", help="start over at the end, forever (timestamps go on)"
    )
    publish.add_argument(
        "--no-realtime",
        dest="realtime",
        action="store_false",
        help="send as fast as the connection allows instead of at real time",
    )
    publish.set_defaults(run=_publish)

    probe = commands.add_parser(
        "probe",
        parents=[verbose],
        help="show what a stream carries",
        description=(
            "Play a stream briefly and show its codecs, resolution, frame rate, sample "
            "rate and bitrates."
        ),
    )
    probe.add_argument("url", metavar="URL")
    probe.add_argument("--json", action="store_true", help="print JSON instead of text")
    probe.add_argument(
        "--duration",
        metavar="S",
        type=_positive_float,
        default=5.0,
        help="look at the stream for at most S seconds (default: 5)",
    )
    probe.set_defaults(run=_probe)
    return parser


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} is not in 0..65535")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not positive")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


# -- running a command -------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        # argparse exits for --help, --version and usage errors (status 2).
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    handler = _configure_logging(args.verbose)
    try:
        status: int = trio.run(_main, args)
    except KeyboardInterrupt:
        # Only possible before the signal handlers are in place.
        return EXIT_INTERRUPTED
    finally:
        logging.getLogger().removeHandler(handler)
    return status


def _configure_logging(verbose: int) -> logging.Handler:
    """Log to stderr: warnings, or more with ``-v``; returns the handler to remove."""
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    if verbose <= 0:
        handler.setFormatter(logging.Formatter(f"{_PROG}: %(levelname)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    return handler


class _Stop:
    """How a command learns of Ctrl-C / SIGTERM.

    The first signal calls :attr:`graceful` when the command set one (``serve`` stops
    listening and lets recordings finish), else cancels :attr:`scope`; a second signal
    always cancels :attr:`scope`.  Commands finish their output in ``finally`` blocks.
    """

    def __init__(self) -> None:
        self.scope = trio.CancelScope()
        self.signalled = False
        self.graceful: Callable[[], None] | None = None

    async def watch(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        signals = [signal.SIGINT, signal.SIGTERM]
        with trio.open_signal_receiver(*signals) as received:
            task_status.started()
            async for signum in received:
                logger.debug("got signal %d", signum)
                if not self.signalled and self.graceful is not None:
                    self.signalled = True
                    self.graceful()
                else:
                    self.signalled = True
                    self.scope.cancel()


Command = Callable[[argparse.Namespace, _Stop], Awaitable[int]]


async def _main(args: argparse.Namespace) -> int:
    stop = _Stop()
    command: Command = args.run
    status = EXIT_INTERRUPTED
    async with trio.open_nursery() as nursery:
        await nursery.start(stop.watch)
        try:
            with stop.scope:
                status = await _run_command(command, args, stop)
        finally:
            nursery.cancel_scope.cancel()
    if stop.scope.cancelled_caught and stop.signalled:
        status = EXIT_OK if command is _serve else EXIT_INTERRUPTED
    return status


async def _run_command(command: Command, args: argparse.Namespace, stop: _Stop) -> int:
    """Run ``command``, turning the failures a user can meet into one line and a status."""
    try:
        return await command(args, stop)
    except BaseExceptionGroup as group:
        single = _single(group)
        if single is None or isinstance(single, trio.Cancelled | KeyboardInterrupt):
            raise
        error = single
    except Exception as exc:
        error = exc
    status, message = _describe(error)
    if status is None:
        raise error
    _error(message)
    return status


def _single(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one exception in a (nested) group of one, else None."""
    exceptions = group.exceptions
    while len(exceptions) == 1 and isinstance(exceptions[0], BaseExceptionGroup):
        exceptions = exceptions[0].exceptions
    return exceptions[0] if len(exceptions) == 1 else None


def _describe(error: BaseException) -> tuple[int | None, str]:
    """The exit status and one-line message for an expected failure (None: a bug)."""
    if isinstance(error, CLIError):
        return error.status, error.message
    if isinstance(error, ConnectionFailed | ConnectionTimeout):
        message = str(error)
        reason = _root_reason(error)
        if reason and isinstance(error, ConnectionFailed):
            # "could not connect to H:P: <what Trio said>" -> "... H:P: Connection refused"
            # (Trio's words repeat the address, or hide the reason in a group).
            head = message.split(": ", 1)[0]
            if head.startswith("could not connect to "):
                message = f"{head}: {reason}"
            elif reason.lower() not in message.lower():
                message = f"{message} ({reason})"
        return EXIT_UNREACHABLE, message
    if isinstance(error, StreamNotFound):
        return EXIT_FAILED, f"stream not found ({error})"
    if isinstance(error, PlayRejected):
        return EXIT_FAILED, f"the server refused to play the stream ({error})"
    if isinstance(error, PublishRejected):
        return EXIT_FAILED, f"the server refused to publish the stream ({error})"
    if isinstance(error, ConnectionRejected):
        return EXIT_FAILED, f"the server refused the connection ({error})"
    if isinstance(error, ConnectionClosed):
        return EXIT_FAILED, str(error) or "the connection was closed"
    if isinstance(error, ProtocolError):
        return EXIT_FAILED, f"protocol error: {error}"
    if isinstance(error, RTMPError):
        return EXIT_FAILED, str(error)
    if isinstance(error, OSError):
        return EXIT_FAILED, _os_error(error)
    return None, ""


def _root_reason(error: BaseException) -> str | None:
    """The operating system's words for why a connection failed ("Connection refused"),
    found down the chain of causes (Trio's "all attempts to connect failed" hides it)."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    reason = None
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError):
            # The deepest one is the plainest; an errno says it best (but an SSLError's
            # "errno" is OpenSSL's, and a gaierror's is negative).
            if isinstance(current, ssl.SSLError):
                reason = current.strerror or str(current)
            elif current.errno is not None and current.errno > 0:
                reason = os.strerror(current.errno)
            elif current.strerror:
                reason = current.strerror
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return reason


def _os_error(error: OSError) -> str:
    if error.filename is not None:
        return f"{error.filename}: {error.strerror or error}"
    return error.strerror or str(error)


def _one_line(text: str) -> str:
    """``text`` with control characters (a server's words may have newlines) as spaces."""
    return "".join(" " if ord(c) < 32 or ord(c) == 127 else c for c in text).strip()


def _error(message: str) -> None:
    print(f"{_PROG}: error: {_one_line(message)}", file=sys.stderr, flush=True)


def _note(message: str) -> None:
    """A line for the user on stderr (not part of any output)."""
    print(f"{_PROG}: {message}", file=sys.stderr, flush=True)


def _parse_url(text: str, *, need_key: bool = True) -> RTMPURL:
    try:
        url = parse_url(text)
    except LocalProtocolError as exc:
        # The parser's message starts "bad RTMP URL: ..." and never repeats the URL.
        raise CLIError(str(exc), EXIT_USAGE) from None
    if need_key and not url.stream_key:
        raise CLIError(
            "bad RTMP URL: no stream key (expected rtmp://host[:port]/app[/instance]/streamkey)",
            EXIT_USAGE,
        )
    return url


def _where(url: RTMPURL) -> str:
    """The server and application of ``url``, never its stream key (often a secret)."""
    return f"{url.scheme}://{url.url_host}:{url.port}/{url.app}"


def _clock(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    hours, rest = divmod(seconds, 3600)
    minutes, rest = divmod(rest, 60)
    return f"{int(hours):02d}:{int(minutes):02d}:{rest:04.1f}"


def _rate(bits_per_second: float) -> str:
    if bits_per_second >= 1e6:
        return f"{bits_per_second / 1e6:.2f} Mbit/s"
    return f"{bits_per_second / 1e3:.0f} kbit/s"


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


class _Line:
    """One line of live status on a terminal's stderr, redrawn in place."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._width = 0

    def draw(self, text: str) -> None:
        try:
            columns = os.get_terminal_size(self._stream.fileno()).columns
        except (OSError, ValueError, io.UnsupportedOperation):
            columns = 0
        if columns <= 0:  # a pseudo-terminal may not know its size
            columns = 80
        text = text[: max(columns - 1, 10)]
        pad = max(self._width - len(text), 0)
        self._width = len(text)
        self._stream.write("\r" + text + " " * pad)
        self._stream.flush()

    def end(self) -> None:
        if self._width:
            self._stream.write("\n")
            self._stream.flush()
            self._width = 0


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class _Window:
    """Bytes and video frames over the last few seconds (for a status line)."""

    def __init__(self, seconds: float = 2.0) -> None:
        self._seconds = seconds
        self._events: collections.deque[tuple[float, int, int]] = collections.deque()
        self._bytes = 0
        self._frames = 0

    def add(self, size: int, frames: int) -> None:
        now = time.monotonic()
        self._events.append((now, size, frames))
        self._bytes += size
        self._frames += frames
        self._expire(now)

    def _expire(self, now: float) -> None:
        events = self._events
        while events and now - events[0][0] > self._seconds:
            _, size, frames = events.popleft()
            self._bytes -= size
            self._frames -= frames

    def rates(self) -> tuple[float, float]:
        """(bits per second, frames per second)."""
        now = time.monotonic()
        self._expire(now)
        if not self._events:
            return 0.0, 0.0
        span = max(now - self._events[0][0], min(self._seconds, 0.5))
        return self._bytes * 8 / span, self._frames / span


# -- serve -----------------------------------------------------------------------------


def _secret_check(secrets: dict[str, str | None]) -> Callable[[AuthRequest], bool]:
    """The relay's auth hook for ``--publish-secret`` and ``--play-secret``: an action
    with a secret needs it in the stream key's query (``KEY?secret=SECRET``)."""
    expected = {action: secret.encode() for action, secret in secrets.items() if secret}

    def allowed(request: AuthRequest) -> bool:
        secret = expected.get(request.action)
        if secret is None:
            return True
        given = request.query.get("secret", "").encode()
        if hmac.compare_digest(given, secret):
            return True
        logger.info(
            "refused to let %s %s %s/%s: %s secret",
            _host_port(request.remote_address),
            request.action,
            request.app,
            request.stream_key,
            "a wrong" if given else "no",
        )
        return False

    return allowed


async def _serve(args: argparse.Namespace, stop: _Stop) -> int:
    for push in args.push:
        url = _parse_url(push, need_key=False)
        if not url.app:
            raise CLIError(f"bad --push URL: no application in {_where(url)}", EXIT_USAGE)
    record_dir = None
    if args.record is not None:
        record_dir = Path(args.record)
        try:
            record_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CLIError(
                f"cannot use --record {args.record}: {_os_error(exc)}", EXIT_USAGE
            ) from None
    secrets = {"publish": args.publish_secret, "play": args.play_secret}
    for action, secret in secrets.items():
        if secret is not None and not secret:
            raise CLIError(f"the {action} secret must not be empty", EXIT_USAGE)
    relay = Relay(
        RelayConfig(
            record_dir=str(record_dir) if record_dir is not None else None,
            push=tuple(args.push),
            auth=_secret_check(secrets) if any(secrets.values()) else None,
        )
    )
    tls_context = _tls_context(args)
    server_config = ServerConfig(
        max_connections=args.max_connections,
        tcp_nodelay=args.tcp_nodelay,
        max_message_rate=args.max_message_rate,
    )
    async with trio.open_nursery() as nursery:
        server = await _listen(
            nursery, args, args.port, partial(relay.serve, server_config=server_config)
        )
        tls_server: RTMPServer | None = None
        if tls_context is not None:
            # The same relay behind a second listener: publish over one, play over either.
            tls_server = await _listen(
                nursery,
                args,
                443 if args.tls_port is None else args.tls_port,
                partial(
                    serve_rtmp,
                    relay.handler,
                    demux=False,
                    ssl_context=tls_context,
                    config=server_config,
                ),
            )
        shown = args.host if args.host else "0.0.0.0"
        shown = f"[{shown}]" if ":" in shown else shown
        example = "<host>" if args.host in ("", "0.0.0.0", "::") else shown
        print(f"{_PROG}: relay listening on rtmp://{shown}:{server.port}", flush=True)
        if tls_server is not None:
            print(f"{_PROG}: relay listening on rtmps://{shown}:{tls_server.port}", flush=True)
        print(
            f"{_PROG}: publish to rtmp://{example}:{server.port}/<app>/<key> "
            "and play the same URL (Ctrl-C stops)",
            flush=True,
        )
        if record_dir is not None:
            print(f"{_PROG}: recording every stream under {record_dir}", flush=True)
        for push in args.push:
            print(f"{_PROG}: pushing every stream to {_where(parse_url(push))}/<key>", flush=True)
        stats = trio.CancelScope()
        if args.verbose:
            listening = [server] if tls_server is None else [server, tls_server]
            nursery.start_soon(_log_statistics, relay, listening, stats)

        def graceful() -> None:
            logger.info("stopping: no new connections; finishing recordings and pushes")
            stats.cancel()
            server.stop()
            if tls_server is not None:
                tls_server.stop()
            # The relay's task ends once recordings and pushes are done; wait that long
            # at most.
            nursery.cancel_scope.deadline = trio.current_time() + _SERVE_GRACE

        stop.graceful = graceful
    return EXIT_OK


def _tls_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The server's TLS context from ``--tls-cert``/``--tls-key`` (None without them)."""
    if args.tls_cert is None:
        for option, value in (("--tls-key", args.tls_key), ("--tls-port", args.tls_port)):
            if value is not None:
                raise CLIError(f"{option} needs --tls-cert", EXIT_USAGE)
        return None
    try:
        # (Without TLS 1.3 session tickets, which librtmp's clients fail on.)
        context = server_ssl_context(args.tls_cert, args.tls_key)
    except OSError as exc:
        # ssl.SSLError is an OSError too: a file that is not PEM, a key that does not
        # match the certificate.
        what = args.tls_cert if args.tls_key is None else f"{args.tls_cert} and {args.tls_key}"
        if isinstance(exc, ssl.SSLError):
            reason = (
                "need a PEM certificate and its private key, in one file or with "
                f"--tls-key (OpenSSL: {exc.reason or exc})"
            )
        else:
            reason = exc.strerror or str(exc)
        raise CLIError(f"cannot use {what} for TLS: {reason}", EXIT_USAGE) from None
    return context


async def _listen(
    nursery: trio.Nursery,
    args: argparse.Namespace,
    port: int,
    serve: Callable[..., Awaitable[None]],
) -> RTMPServer:
    """Start ``serve(port, host=...)`` in ``nursery``; a port in use is a clean error."""
    try:
        server: RTMPServer = await nursery.start(partial(serve, port, host=args.host or None))
    except (OSError, BaseExceptionGroup) as exc:
        error = _single(exc) if isinstance(exc, BaseExceptionGroup) else exc
        if not isinstance(error, OSError):
            raise
        raise CLIError(
            f"cannot listen on {args.host or '*'}:{port}: {error.strerror or error}"
        ) from None
    return server


async def _log_statistics(
    relay: Relay, servers: list[RTMPServer], scope: trio.CancelScope, interval: float = 10.0
) -> None:
    """Every ``interval`` seconds, log the connections and streams (once when idle)."""
    last: object = None
    with scope:
        while True:
            await trio.sleep(interval)
            streams = relay.statistics()
            counts = [server.statistics() for server in servers]
            summary = (counts, [(s.app, s.stream_key, s.live, s.players) for s in streams])
            if not streams and summary == last:
                continue
            last = summary
            logger.info(
                "%d connections (%d in all, %d refused)",
                sum(c.connections for c in counts),
                sum(c.total_connections for c in counts),
                sum(c.refused for c in counts),
            )
            for stream in streams:
                logger.info(
                    "%s/%s: %s, %d players, %s, %.1f fps, %d dropped",
                    stream.app,
                    stream.stream_key,
                    "live" if stream.live else "waiting",
                    stream.players,
                    _rate(stream.bitrate),
                    stream.fps,
                    stream.dropped,
                )


# -- play ------------------------------------------------------------------------------


class _Output:
    """Where ``play`` writes: a file (finished with duration and size) or stdout."""

    def __init__(self, target: str | None) -> None:
        self.path: Path | None = None
        self._file: IO[bytes] | None = None
        if target is None or target == "-":
            if target is None and _stdout_is_terminal():
                raise CLIError(
                    "stdout is a terminal: give -o FILE.flv, or -o - to write there anyway",
                    EXIT_USAGE,
                )
        else:
            self.path = Path(target)
            parent = self.path.parent
            if not parent.is_dir():
                raise CLIError(f"cannot write {target}: no directory {parent}", EXIT_USAGE)
        self.writer: FlvWriter | None = None
        self.bytes = 0
        self.broken = False

    def open(self) -> None:
        if self.path is None:
            self._file = sys.stdout.buffer
            seekable = False
        else:
            try:
                self._file = open(self.path, "wb")  # noqa: SIM115 (closed in finish())
            except OSError as exc:
                raise CLIError(f"cannot write {_os_error(exc)}", EXIT_USAGE) from None
            seekable = self._file.seekable()
        self.writer = FlvWriter(seekable=seekable)

    async def write(self, data: bytes) -> None:
        if not data or self.broken:
            return
        file = self._file
        assert file is not None
        try:
            await trio.to_thread.run_sync(_write_all, file, data)
        except BrokenPipeError:
            # The reader went away (the player was closed): a normal way to stop.
            self.broken = True
            _silence_stdout()
            return
        self.bytes += len(data)

    def finish(self) -> None:
        """Write the end of the file and its duration and size (sync: runs even when
        cancelled, and quickly)."""
        file, writer = self._file, self.writer
        if file is None or writer is None:
            return
        self._file = None
        try:
            if not self.broken:
                tail, patches = writer.finish()
                file.write(tail)
                file.flush()
                for offset, data in patches:
                    file.seek(offset)
                    file.write(data)
                    file.flush()
        except BrokenPipeError:
            self.broken = True
            _silence_stdout()
        finally:
            if self.path is not None:
                file.close()


def _write_all(file: IO[bytes], data: bytes) -> None:
    file.write(data)
    file.flush()


def _stdout_is_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush of a closed pipe
    does not print a BrokenPipeError (the recipe of Python's signal documentation)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, io.UnsupportedOperation):
        pass


class _PlayStatus:
    """The ``play`` status line: media time, bitrate, frame rate, bytes written."""

    def __init__(self, output: _Output) -> None:
        self.output = output
        self.window = _Window()
        self.media_time = 0.0
        self.started = False
        self._line = _Line(sys.stderr)

    def text(self) -> str:
        if not self.started:
            return "waiting for the stream..."
        bitrate, fps = self.window.rates()
        return (
            f"time {_clock(self.media_time)}  {_rate(bitrate)}  {fps:.1f} fps  "
            f"{_size(self.output.bytes)}"
        )

    async def run(self) -> None:
        try:
            while True:
                self._line.draw(self.text())
                await trio.sleep(_STATUS_INTERVAL)
        finally:
            self._line.draw(self.text())
            self._line.end()


class _Timeline:
    """Output timestamps of ``play``: as received, extended past the 32-bit wrap (the
    file gets them modulo 2**32 again, but durations and ``--duration`` count across
    it), and with ``--follow`` shifted so a new publisher (whose clock starts over)
    continues the file instead of going back."""

    def __init__(self, follow: bool) -> None:
        self._follow = follow
        self._unwrap = TimestampUnwrapper()
        self._offset = 0
        self._last = -1
        self._step = 40

    def map(self, tag_type: int, timestamp: int, header: bool = False) -> int:
        # A sequence header is read against the stream's clock without moving it.
        extended = self._unwrap(timestamp, update=not header)
        out = extended + self._offset
        if self._follow and self._last >= 0 and out < self._last - _NEW_PUBLISHER_JUMP:
            self._offset = self._last + self._step - extended
            out = extended + self._offset
            logger.info("timestamps start over (a new publisher); continuing the file")
        if self._last >= 0 and 0 < out - self._last < 1000 and tag_type == TagType.VIDEO:
            self._step = out - self._last
        self._last = max(self._last, out)
        return out


def _is_header(tag: FlvTag) -> bool:
    """Whether an audio or video tag configures its track rather than carrying media:
    a sequence header (decoder configuration), Enhanced RTMP video metadata (colorInfo)
    or an audio MultichannelConfig."""
    if tag.tag_type == TagType.VIDEO:
        return video_info(tag.data)[1] or is_video_metadata(tag.data)
    return is_audio_sequence_header(tag.data) or is_audio_multichannel_config(tag.data)


_HeaderKey = tuple[int, bool, tuple[int, ...]]
_Kept = TypeVar("_Kept")


def _remember(headers: dict[_HeaderKey, _Kept], key: _HeaderKey, value: _Kept) -> None:
    """Keep the latest ``value`` of each header ``key``, for at most _MAX_HEADERS keys.

    A new key beyond that many pushes the oldest one out (as the relay does): a
    publisher cycling through track configurations keeps its latest ones.
    """
    if key not in headers and len(headers) >= _MAX_HEADERS:
        del headers[next(iter(headers))]
    headers[key] = value


def _header_key(tag: FlvTag) -> _HeaderKey:
    """What a header tag configures: a multitrack stream has headers of each track."""
    if tag.tag_type == TagType.VIDEO:
        return TagType.VIDEO, is_video_metadata(tag.data), track_ids(TagType.VIDEO, tag.data)
    if tag.tag_type == TagType.AUDIO:
        extra = is_audio_multichannel_config(tag.data)
        return TagType.AUDIO, extra, track_ids(TagType.AUDIO, tag.data)
    return tag.tag_type, False, ()


async def _play(args: argparse.Namespace, stop: _Stop) -> int:
    url = _parse_url(args.url)
    output = _Output(args.output)
    # Log lines would tear a status line apart: one or the other.
    status = _PlayStatus(output) if _stderr_is_terminal() and not args.verbose else None
    logger.info("playing from %s", _where(url))
    try:
        async with trio.open_nursery() as nursery:
            if status is not None:
                nursery.start_soon(status.run)
            try:
                ended = await _play_and_follow(args, output, status)
            finally:
                nursery.cancel_scope.cancel()
    finally:
        output.finish()
    if output.broken:
        logger.info("the output was closed; stopped")
    elif ended:
        logger.info("the stream ended")
    return EXIT_OK


async def _play_and_follow(
    args: argparse.Namespace, output: _Output, status: _PlayStatus | None
) -> bool:
    """Play into ``output``; with ``--follow``, reconnect whenever the connection is
    lost after the play started.  Returns whether the stream ended."""
    limit = None if args.duration is None else int(args.duration * 1000)
    copier: _Copier | None = None
    delay = _RECONNECT_DELAY
    connected = False
    while True:
        try:
            async with open_client(
                args.url, demux=False, receive_timeout=args.receive_timeout
            ) as client:
                await client.play(follow=args.follow)
                if copier is None:
                    logger.info("play started")
                    output.open()
                    assert output.writer is not None
                    copier = _Copier(output.writer, args.follow, limit)
                else:
                    logger.warning("reconnected; playing again")
                    copier.resume()
                delay = _RECONNECT_DELAY
                connected = True
                return await _copy_stream(client, output, copier, status)
        except (ConnectionClosed, ConnectionTimeout) as exc:
            # With --follow, a connection lost after the play started (the server
            # restarted, the network dropped) is made again; refusals still end it.
            if copier is None or not args.follow or output.broken:
                raise
            what = "lost the connection" if connected else "could not reconnect"
            logger.warning("%s (%s); trying again in %g s", what, exc, delay)
            connected = False
            with trio.move_on_at(copier.deadline):
                await trio.sleep(delay)
            if trio.current_time() >= copier.deadline:
                return False  # --duration's bound in wall-clock time passed meanwhile
            delay = min(delay * 2, _RECONNECT_DELAY_MAX)


class _Copier:
    """Turns the tags of a played stream into FLV bytes for ``play``.

    Sequence headers that come before the first frame are held back and written with
    that frame's timestamp: a relay sends a late joiner the headers stamped when the
    publisher started, maybe hours before the frames that follow, and the file's
    duration is measured from its first audio or video tag.
    """

    def __init__(self, writer: FlvWriter, follow: bool, limit: int | None) -> None:
        self.writer = writer
        self.timeline = _Timeline(follow)
        self.limit = limit
        #: The first frame's timestamp (None until a frame came).
        self.first: int | None = None
        self.media_time = 0
        #: With ``--duration``, when to stop in wall-clock time should the stream
        #: stall (Trio time; set at the first frame).
        self.deadline = math.inf
        self._pending: list[FlvTag] = []
        self._metadata: dict[str, Any] | None = None
        # With --follow: the media tags written since the last keyframe (as hashes of
        # type, timestamp and body), the last sequence header of each type, and
        # whether tags that are among them are skipped (after a reconnect).
        self._follow = follow
        self._recent: set[int] = set()
        self._headers: dict[_HeaderKey, bytes] = {}
        self._gop_track = GopTrack()
        self._resuming = False
        self.skipped = 0

    def resume(self) -> None:
        """A new connection to the same stream: skip what was written already.

        A relay starts a new player at the last keyframe, so the first frames after a
        reconnect may be ones the file has; they are skipped up to the first one it
        does not have (their decoder state is in the file already).
        """
        self._resuming = True
        self.skipped = 0

    def _written_before(self, tag: FlvTag, header: bool) -> bool:
        """With ``--follow``: whether ``tag`` is one the file had before a reconnect
        (asked only while resuming); remembers it otherwise."""
        if header:
            what = _header_key(tag)
            if self._resuming and self._headers.get(what) == tag.data:
                return True
            _remember(self._headers, what, tag.data)
            return False
        key = hash((tag.tag_type, tag.timestamp, tag.data))
        recent = self._recent
        if self._resuming:
            if key in recent:
                return True
            self._resuming = False
            if self.skipped:
                logger.info("skipped %d tags the file had already", self.skipped)
        if len(recent) >= _RECENT_TAGS or (
            tag.tag_type == TagType.VIDEO
            and video_info(tag.data)[0]
            and self._gop_track.starts_gop(tag.data)
        ):
            recent.clear()
        recent.add(key)
        return False

    def add(self, tag: FlvTag) -> tuple[bytes, bool]:
        """The bytes for ``tag``, and whether ``--duration`` is reached (tag not written)."""
        writer = self.writer
        if tag.tag_type == TagType.SCRIPT:
            metadata = _metadata_of(tag)
            if metadata is None or metadata == self._metadata:
                # A repeat says nothing new (a relay's cache and its live stream may
                # both carry it).
                return b"", False
            self._metadata = metadata
            return writer.write_metadata(metadata), False
        if tag.tag_type not in (TagType.AUDIO, TagType.VIDEO):
            return b"", False
        header = _is_header(tag)
        if self._follow and self._written_before(tag, header):
            self.skipped += 1
            return b"", False
        first = self.first
        if first is None and header:
            self._pending.append(tag)
            return b"", False
        timestamp = self.timeline.map(tag.tag_type, tag.timestamp, header)
        if first is None:
            first = self.first = timestamp
            out = [writer.write_tag(h.tag_type, timestamp, h.data) for h in self._pending]
            self._pending = []
            out.append(writer.write_tag(tag.tag_type, timestamp, tag.data))
            return b"".join(out), False
        media_time = timestamp - first
        if not header:
            if self.limit is not None and media_time >= self.limit:
                return b"", True
            self.media_time = max(self.media_time, media_time)
        return writer.write_tag(tag.tag_type, max(timestamp, first), tag.data), False

    def flush(self) -> bytes:
        """Headers still held back (a stream that ended before its first frame)."""
        pending, self._pending = self._pending, []
        return b"".join(self.writer.write_tag(t.tag_type, t.timestamp, t.data) for t in pending)


async def _copy_stream(
    client: RTMPClient, output: _Output, copier: _Copier, status: _PlayStatus | None
) -> bool:
    """Copy tags to ``output`` until the stream ends (True), or ``--duration`` passes or
    the output closes (False)."""
    frames = client.frames
    limit = copier.limit
    with trio.CancelScope(deadline=copier.deadline) as deadline:
        while True:
            try:
                batch = [await frames.receive()]
            except trio.EndOfChannel:
                await output.write(copier.flush())
                return True
            # Whatever else is ready goes out in the same write.
            while len(batch) < _WRITE_BATCH:
                try:
                    batch.append(frames.receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
            chunks = []
            done = False
            for item in batch:
                assert isinstance(item, FlvTag)
                started = copier.first is not None
                data, done = copier.add(item)
                if done:
                    break
                chunks.append(data)
                if not started and copier.first is not None:
                    if limit is not None:
                        # Also a bound in wall-clock time, should the stream stall.
                        copier.deadline = trio.current_time() + limit / 1000 + 1.0
                        deadline.deadline = copier.deadline
                    if status is not None:
                        status.started = True
                if status is not None and item.tag_type in (TagType.AUDIO, TagType.VIDEO):
                    status.media_time = copier.media_time / 1000
                    is_frame = item.tag_type == TagType.VIDEO and not _is_header(item)
                    status.window.add(len(item.data), int(is_frame))
            await output.write(b"".join(chunks))
            if done or output.broken:
                return False
    return False


def _metadata_of(tag: FlvTag) -> dict[str, Any] | None:
    """The value of an ``onMetaData`` script tag, else None."""
    values = _script_values(tag)
    if values and values[0] == "@setDataFrame":
        values = values[1:]
    if values and len(values) >= 2 and values[0] == "onMetaData" and isinstance(values[1], dict):
        return dict(values[1])
    return None


# A local file's script tags are decoded with room for a long file's keyframe index.
_FILE_LIMITS = Limits(max_amf_collection_size=1 << 24)


def _script_values(tag: FlvTag, limits: Limits = DEFAULT_LIMITS) -> list[Any] | None:
    """A script tag's AMF0 values, or None (logged) if they do not decode."""
    try:
        return tag.script_values(limits=limits)
    except ProtocolError as exc:
        logger.warning("ignoring a malformed data message: %s", exc)
        return None


# -- publish ----------------------------------------------------------------------------


class _FlvSource:
    """An FLV file, or standard input (``-``), read a piece at a time (never whole), as
    tags."""

    def __init__(self, path: str) -> None:
        #: Standard input: a pipe from an encoder, say; it cannot be read twice.
        self.stdin = path == "-"
        self.name = "stdin" if self.stdin else path
        if self.stdin and sys.stdin is None:
            # Python found no file descriptor 0 at start, which something else may
            # have taken since.
            raise CLIError("cannot read stdin: it is closed", EXIT_USAGE)
        # Standard input is read from its file descriptor (see _read).
        self._file: IO[bytes] | None = None
        #: The file's size (0 for standard input, whose size is not known).
        self.size = 0
        if not self.stdin:
            try:
                self._file = open(path, "rb")  # noqa: SIM115 (closed in close())
                self.size = os.fstat(self._file.fileno()).st_size
            except OSError as exc:
                raise CLIError(f"cannot read {_os_error(exc)}", EXIT_USAGE) from None
        #: How far into the file the caller got (it adds each tag's size when done).
        self.position = 0
        self._reader = FlvReader()
        self._ended = False
        self._started = False
        self._head = b""

    async def check(self) -> None:
        """Fail (a usage error) unless the input starts as an FLV file does."""
        head = b""
        while len(head) < 9 and (more := await self._read(9 - len(head))):
            head += more  # a pipe may give less than asked for
        if len(head) < 9 or head[:3] != b"FLV":
            raise CLIError(f"{self.name} is not an FLV file", EXIT_USAGE)
        self._head = head

    async def rewind(self) -> None:
        """Start reading from the beginning (again)."""
        if self._started:
            assert self._file is not None, "standard input cannot be read again"
            await trio.to_thread.run_sync(self._file.seek, 0)
            self._head = b""
        self._started = True
        self._reader = FlvReader()
        self._ended = False
        self.position = 0

    async def read(self) -> list[FlvTag] | None:
        """The next tags (maybe none yet), or None at the end of the file."""
        if self._ended:
            return None
        data = await self._read(_READ_SIZE)
        if self._head:
            data, self._head = self._head + data, b""
        try:
            events = self._reader.receive_data(data)
        except ProtocolError as exc:
            raise CLIError(f"{self.name}: not FLV after byte {self.position}: {exc}") from None
        tags = []
        for event in events:
            if type(event) is FlvTag:
                tags.append(event)
            elif type(event) is FlvHeader:
                self.position = event.data_offset + 4
            elif type(event) is FlvEnd:
                self._ended = True
                if event.truncated:
                    logger.warning(
                        "%s ends inside a tag (%d bytes ignored)", self.name, event.unparsed
                    )
        return tags

    async def _read(self, size: int) -> bytes:
        if self._file is None:
            # Standard input: what the pipe has, up to ``size``, so that a live
            # encoder's tags go out as they come, not once 64 KiB have gathered.  A
            # read that waits on a quiet pipe cannot be interrupted, so Ctrl-C leaves
            # it behind.  (os.read, not sys.stdin.buffer: a thread left behind in the
            # buffered reader would hold its lock, and Python aborts at exit over it.)
            return await trio.to_thread.run_sync(os.read, 0, size, abandon_on_cancel=True)
        return await trio.to_thread.run_sync(self._file.read, size)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class _PublishProgress:
    """The ``publish`` progress bar: position in the file, media time, bitrate, loop."""

    def __init__(self, source: _FlvSource) -> None:
        self.source = source
        self.window = _Window()
        self.media_time = 0.0
        self.total: float | None = None
        self.loop = 1
        self._line = _Line(sys.stderr)

    def text(self) -> str:
        bitrate, _ = self.window.rates()
        when = _clock(self.media_time)
        if self.source.stdin:
            # No size to measure progress against: the media time and bytes so far.
            return f"stdin  {when}  {_rate(bitrate)}  {_size(self.source.position)}"
        size = max(self.source.size, 1)
        fraction = min(self.source.position / size, 1.0)
        width = 24
        filled = int(fraction * width)
        bar = "#" * filled + "-" * (width - filled)
        if self.total:
            when += f" / {_clock(self.total)}"
        loop = f"  loop {self.loop}" if self.loop > 1 else ""
        return f"[{bar}] {fraction * 100:3.0f}%  {when}  {_rate(bitrate)}{loop}"

    async def run(self) -> None:
        try:
            while True:
                self._line.draw(self.text())
                await trio.sleep(_STATUS_INTERVAL)
        finally:
            self._line.draw(self.text())
            self._line.end()


async def _publish(args: argparse.Namespace, stop: _Stop) -> int:
    url = _parse_url(args.url)
    if args.file == "-" and args.loop:
        raise CLIError("--loop needs a file: standard input cannot be read again", EXIT_USAGE)
    source = _FlvSource(args.file)
    try:
        await source.check()
        progress = _PublishProgress(source) if _stderr_is_terminal() and not args.verbose else None
        logger.info("publishing %s to %s", source.name, _where(url))
        async with trio.open_nursery() as connections:
            publisher = _Publisher(connections)
            await publisher.open(args.url, None)
            logger.info("publish started")
            try:
                async with trio.open_nursery() as nursery:
                    if progress is not None:
                        nursery.start_soon(progress.run)
                    try:
                        await _send_file(publisher, source, args, progress)
                    finally:
                        nursery.cancel_scope.cancel()
            finally:
                publisher.close()
    finally:
        source.close()
    logger.info("done")
    return EXIT_OK


class _Publisher:
    """The publishing connection; it moves where the server's ReconnectRequest says.

    The move happens before the next keyframe (or the next audio tag, without video):
    a new connection publishes, gets the metadata and sequence headers sent so far,
    and the stream goes on there; then the old connection ends.  A request it cannot
    follow (not a usable URL, or the new server fails) is logged and ignored, and the
    stream stays where it is.
    """

    def __init__(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self._client: RTMPClient | None = None
        self._done = trio.Event()
        self._ignored: object = None
        # What a new server needs first: the metadata, each track's sequence headers.
        self._first: dict[_HeaderKey, tuple[int, FlvTag]] = {}
        self._gop_track = GopTrack()

    @property
    def client(self) -> RTMPClient:
        assert self._client is not None
        return self._client

    async def open(self, uri: str, stream_key: str | None) -> None:
        """Connect and publish; the connection lives in a task of the nursery."""
        done = trio.Event()
        self._client = await self._nursery.start(_publishing, uri, stream_key, done)
        self._done = done

    def close(self) -> None:
        """End the connection (its task unpublishes and leaves)."""
        self._done.set()

    async def send(self, timestamp: int, tag: FlvTag, *, first: bool = False) -> None:
        """Send ``tag``; ``first`` for what a new server must get first (kept)."""
        if first:
            _remember(self._first, _header_key(tag), (timestamp, tag))
        else:
            # Learnt from every keyframe, whether a move is asked for or not.
            gop = tag.tag_type == TagType.VIDEO and self._starts_gop(tag)
            request = self.client.reconnect_request
            if request is not None and request is not self._ignored and self._may_move(tag, gop):
                await self._move(request)
        await self.client.send_tag(timestamp, tag)

    def _starts_gop(self, tag: FlvTag) -> bool:
        key, header = video_info(tag.data)
        return key and not header and self._gop_track.starts_gop(tag.data)

    def _may_move(self, tag: FlvTag, gop: bool) -> bool:
        """At a keyframe of the first video track; an audio-only stream anywhere."""
        if tag.tag_type == TagType.VIDEO:
            return gop
        return tag.tag_type == TagType.AUDIO and not any(
            key[0] == TagType.VIDEO for key in self._first
        )

    async def _move(self, request: object) -> None:
        old, old_done = self.client, self._done
        try:
            target = old.reconnect_url
            assert target is not None
            logger.info("the server asks to reconnect: moving to %s", _where(target))
            await self.open(target.app_url, target.stream_key)
            for timestamp, tag in self._first.values():
                await self.client.send_tag(timestamp, tag)
        except (RTMPError, OSError) as exc:
            logger.warning("not following the server's reconnect request: %s", exc)
            if self._client is not old:
                self.close()
            self._client, self._done = old, old_done
            self._ignored = request
            return
        old_done.set()


async def _publishing(
    uri: str,
    stream_key: str | None,
    done: trio.Event,
    *,
    task_status: trio.TaskStatus[RTMPClient] = trio.TASK_STATUS_IGNORED,
) -> None:
    """One publishing connection, from connect to goodbye (when ``done`` is set)."""
    async with open_client(uri, stream_key) as client:
        await client.publish()
        task_status.started(client)
        await done.wait()


class _Pacer:
    """Sends tags at the pace of their timestamps (or at once, without ``realtime``)."""

    def __init__(self, realtime: bool) -> None:
        self.realtime = realtime
        self._origin: float | None = None
        self._base = 0

    async def wait(self, timestamp: int) -> None:
        if self._origin is None:
            self._origin = trio.current_time()
            self._base = timestamp
        if self.realtime:
            await trio.sleep_until(self._origin + (timestamp - self._base) / 1000)

    def media_time(self, timestamp: int) -> float:
        if self._origin is None:
            return 0.0
        return (timestamp - self._base) / 1000


class _TrackSpan:
    """The first and last frame times of one track in one pass of a file, and its
    frame interval, for ``--loop`` to continue the timestamps."""

    def __init__(self) -> None:
        self.first: int | None = None
        self.last = 0
        self.step = 0

    def add(self, timestamp: int) -> None:
        if self.first is None:
            self.first = timestamp
        elif self.last < timestamp < self.last + 1000:
            self.step = timestamp - self.last
        self.last = max(self.last, timestamp)

    def next_offset(self, default_step: int) -> int:
        """The smallest shift that puts this track's first frame one frame after its last."""
        assert self.first is not None
        return self.last + (self.step or default_step) - self.first


def _is_sequence_end(body: bytes) -> bool:
    """Whether a video body is an end of sequence (legacy AVC/HEVC, or Enhanced RTMP)."""
    if len(body) < 2:
        return False
    first = body[0]
    if first & 0x80:
        return first & 0x0F == 2
    return first & 0x0F in (7, 12) and body[1] == 2


async def _send_file(
    publisher: _Publisher,
    source: _FlvSource,
    args: argparse.Namespace,
    progress: _PublishProgress | None,
) -> None:
    pacer = _Pacer(args.realtime)
    # Added to the file's timestamps: 0 in the first pass; with --loop, each pass starts
    # one frame after the last one ended, so the timestamps keep rising.
    offset = 0
    passes = 0
    # The last sequence header sent, by tag type: later passes send only changes.
    headers: dict[_HeaderKey, bytes] = {}
    while True:
        passes += 1
        if progress is not None:
            progress.loop = passes
        await source.rewind()
        spans = {int(TagType.AUDIO): _TrackSpan(), int(TagType.VIDEO): _TrackSpan()}
        # The file's times, past the 32-bit wrap of FLV timestamps (a recording of a
        # stream that ran 49.7 days, or of an encoder that starts high).
        unwrap = TimestampUnwrapper()
        while (tags := await source.read()) is not None:
            for tag in tags:
                source.position += 15 + len(tag.data)
                kind = tag.tag_type
                if tag.filtered:
                    logger.warning("skipping an encrypted (filtered) tag at %d ms", tag.timestamp)
                    continue
                if kind == TagType.SCRIPT:
                    # Metadata once: later passes would only repeat it.
                    if passes == 1:
                        await _send_script(publisher, tag, tag.timestamp + offset, progress)
                    continue
                if kind not in (TagType.AUDIO, TagType.VIDEO):
                    continue
                header = _is_header(tag)
                # Headers are not the stream's clock (often stamped 0, see below).
                file_time = unwrap(tag.timestamp, update=not header)
                timestamp = file_time + offset
                if header:
                    key = _header_key(tag)
                    if headers.get(key) == tag.data:
                        continue
                    _remember(headers, key, tag.data)
                elif args.loop and kind == TagType.VIDEO and _is_sequence_end(tag.data):
                    # Not the end yet: a decoder would start over for nothing.
                    continue
                if not header:
                    # Sequence headers go out at once: files often carry them at 0,
                    # far before the first frame (FFmpeg's -output_ts_offset, copyts).
                    await pacer.wait(timestamp)
                await publisher.send(timestamp, tag, first=header)
                if not header:
                    spans[kind].add(file_time)
                if progress is not None:
                    progress.media_time = pacer.media_time(timestamp)
                    is_frame = kind == TagType.VIDEO and not header
                    progress.window.add(len(tag.data), int(is_frame))
        if not args.loop:
            return
        used = [(span, 40 if kind == TagType.VIDEO else 23) for kind, span in spans.items()]
        shifts = [span.next_offset(step) for span, step in used if span.first is not None]
        if not shifts:
            raise CLIError(f"{source.name} has no audio or video to loop", EXIT_USAGE)
        offset += max(shifts)
        logger.info("looping %s (pass %d)", source.name, passes + 1)


async def _send_script(
    publisher: _Publisher, tag: FlvTag, timestamp: int, progress: _PublishProgress | None
) -> None:
    values = _script_values(tag, _FILE_LIMITS)
    if not values:
        return
    metadata = values[1] if values[0] == "onMetaData" and len(values) >= 2 else None
    if not isinstance(metadata, dict):
        metadata = None
    if progress is not None and metadata is not None:
        duration = metadata.get("duration")
        if _number(duration) and duration > 0:
            progress.total = duration
    if metadata is not None and "keyframes" in metadata:
        # A file's keyframe index (positions in the file, yamdi's or FFmpeg's
        # add_keyframe_index) means nothing live, and a long one passes what servers
        # decode (64 KiB here): FFmpeg leaves it out too.
        logger.info("leaving the file's keyframe index out of onMetaData")
        rest = ECMAArray({k: v for k, v in metadata.items() if k != "keyframes"})
        tag = FlvTag(tag.tag_type, tag.timestamp, amf0.encode(values[0], rest, *values[2:]))
    # send_tag sends onMetaData as @setDataFrame, as FFmpeg does.
    await publisher.send(timestamp, tag, first=values[0] == "onMetaData")


# -- probe ------------------------------------------------------------------------------


class _Track:
    """What ``probe`` saw of one track."""

    def __init__(self, config: CodecConfig) -> None:
        self.config = config
        self.samples = 0
        self.bytes = 0
        self.first: int | None = None
        self.last = 0

    def add(self, timestamp: int, size: int) -> None:
        self.samples += 1
        self.bytes += size
        if self.first is None:
            self.first = timestamp
        self.last = max(self.last, timestamp)

    @property
    def span(self) -> int:
        return 0 if self.first is None else self.last - self.first

    def frame_rate(self) -> float | None:
        if self.samples >= 2 and self.span > 0:
            return (self.samples - 1) * 1000 / self.span
        return None

    def bitrate(self) -> float | None:
        if self.samples >= 2 and self.span > 0:
            # n samples cover n intervals of about span / (n - 1) each.
            return self.bytes * 8 * 1000 * (self.samples - 1) / (self.span * self.samples)
        return None


class _Probe:
    """Collects what a stream carries, from raw tags."""

    def __init__(self) -> None:
        self.demuxer = Demuxer()
        self.tracks: dict[tuple[str, int], _Track] = {}
        self.metadata: dict[str, Any] | None = None
        self.bytes = 0
        # The media's first and last times (past the 32-bit wrap, as the demuxer's).
        self._unwrap = TimestampUnwrapper()
        self.first: int | None = None
        self.last = 0

    def add(self, tag: FlvTag) -> None:
        if tag.tag_type in (TagType.AUDIO, TagType.VIDEO):
            self.bytes += len(tag.data)
            # Sequence headers may carry the publisher's first timestamp, long ago.
            if not _is_header(tag):
                timestamp = self._unwrap(tag.timestamp)
                if self.first is None:
                    self.first = timestamp
                self.last = max(self.last, timestamp)
        try:
            frames = self.demuxer.tag(tag.tag_type, tag.timestamp, tag.data)
        except ProtocolError as exc:
            logger.warning("ignoring a malformed message: %s", exc)
            return
        for frame in frames:
            if isinstance(frame, CodecConfig):
                key = (frame.media, frame.track)
                track = self.tracks.get(key)
                if track is None:
                    self.tracks[key] = _Track(frame)
                else:
                    track.config = frame
            elif isinstance(frame, VideoSample):
                video = self.tracks.get(("video", frame.track))
                if video is not None:
                    video.add(frame.dts, _payload_size(frame.payload))
            elif isinstance(frame, AudioSample):
                audio = self.tracks.get(("audio", frame.track))
                if audio is not None:
                    audio.add(frame.timestamp, len(frame.payload))
            elif (
                isinstance(frame, Metadata)
                and frame.name == "onMetaData"
                and isinstance(frame.value, dict)
            ):
                self.metadata = dict(frame.value)

    def complete(self) -> bool:
        """Whether every track announced or seen has its codec and enough samples."""
        expected = {media for media, _ in self.tracks}
        metadata = self.metadata or {}
        if metadata.get("videocodecid") not in (None, 0, 0.0) or "width" in metadata:
            expected.add("video")
        if metadata.get("audiocodecid") not in (None,) or "audiosamplerate" in metadata:
            expected.add("audio")
        if not expected:
            return False
        for media in expected:
            tracks = [t for (m, _), t in self.tracks.items() if m == media]
            if not tracks or any(t.samples < 2 or t.span < _PROBE_SPAN for t in tracks):
                return False
        return True

    def report(self, server: str | None) -> dict[str, Any]:
        streams = []
        # Video first, as ffprobe and most tools list them.
        order = sorted(self.tracks.items(), key=lambda item: (item[0][0] != "video", item[0][1]))
        for (media, number), track in order:
            config = track.config
            entry: dict[str, Any] = {"media": media, "track": number, "codec": config.codec}
            info = config.info
            if isinstance(info, VideoInfo):
                entry.update(
                    profile=info.profile,
                    level=info.level,
                    width=info.width,
                    height=info.height,
                    bit_depth=info.bit_depth,
                    chroma_format=info.chroma_format,
                )
            elif isinstance(info, AudioInfo):
                entry.update(
                    profile=info.profile,
                    sample_rate=info.sample_rate,
                    channels=info.channels,
                    sample_size=info.sample_size,
                )
            if media == "video":
                measured = track.frame_rate()
                declared = info.frame_rate if isinstance(info, VideoInfo) else None
                entry["frame_rate"] = _round(measured if measured is not None else declared)
                if number == 0 and self.metadata:
                    # Legacy codecs carry no configuration: the metadata may know the size.
                    for key in ("width", "height"):
                        value = self.metadata.get(key)
                        if entry.get(key) is None and _number(value):
                            entry[key] = int(value)
            elif number == 0 and self.metadata and entry.get("sample_rate") is None:
                rate = self.metadata.get("audiosamplerate")
                if _number(rate):
                    entry["sample_rate"] = int(rate)
            entry["bitrate"] = _round(track.bitrate(), 0)
            entry["frames"] = track.samples
            streams.append({k: v for k, v in entry.items() if v is not None})
        span = 0 if self.first is None else self.last - self.first
        return {
            "streams": streams,
            "bitrate": _round(self.bytes * 8 * 1000 / span, 0) if span > 0 else None,
            "duration": round(span / 1000, 3),
            "metadata": _jsonable(self.metadata) if self.metadata is not None else None,
            "server": server,
        }


def _payload_size(payload: list[bytes] | bytes) -> int:
    if isinstance(payload, bytes):
        return len(payload)
    return sum(len(unit) for unit in payload)


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _round(value: float | None, digits: int = 3) -> float | None:
    if value is None:
        return None
    return round(value, digits) if digits else float(round(value))


def _jsonable(value: Any, depth: int = 0) -> Any:
    """AMF values as JSON values (AMF may hold cycles, dates, bytes, NaN...)."""
    if depth > 16:
        return None
    if value is None or isinstance(value, bool | int | str):
        return str(value) if isinstance(value, str) else value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v, depth + 1) for v in value]
    if isinstance(value, bytes | bytearray):
        return value.hex()
    return str(value)


def _probe_text(report: dict[str, Any]) -> str:
    lines = []
    if report.get("server"):
        lines.append(f"server: {report['server']}")
    for stream in report["streams"]:
        media = stream["media"]
        label = media if stream["track"] == 0 else f"{media} track {stream['track']}"
        codec = stream["codec"]
        if stream.get("profile"):
            codec += f" ({stream['profile']})"
        parts = [codec]
        if media == "video":
            if stream.get("width") and stream.get("height"):
                parts.append(f"{stream['width']}x{stream['height']}")
            if stream.get("frame_rate"):
                parts.append(f"{stream['frame_rate']:.2f} fps")
            if stream.get("chroma_format") and stream.get("bit_depth"):
                parts.append(f"{stream['chroma_format']} {stream['bit_depth']}-bit")
        else:
            if stream.get("sample_rate"):
                parts.append(f"{stream['sample_rate']} Hz")
            channels = stream.get("channels")
            if channels:
                parts.append({1: "mono", 2: "stereo"}.get(channels, f"{channels} channels"))
        if stream.get("bitrate") is not None:
            parts.append(_rate(stream["bitrate"]))
        lines.append(f"{label}: " + ", ".join(parts))
    if report.get("bitrate") is not None:
        lines.append(f"bitrate: {_rate(report['bitrate'])} (over {report['duration']:.1f} s)")
    metadata = report.get("metadata") or {}
    encoder = metadata.get("encoder")
    if isinstance(encoder, str) and encoder:
        lines.append(f"encoder: {encoder}")
    return "\n".join(lines)


async def _probe(args: argparse.Namespace, stop: _Stop) -> int:
    _parse_url(args.url)
    probe = _Probe()
    server: str | None = None
    async with open_client(args.url, demux=False) as client:
        fms = client.server_properties.get("fmsVer")
        server = fms if isinstance(fms, str) else None
        await client.play()
        with trio.move_on_after(args.duration):
            async for tag in client.frames:
                assert isinstance(tag, FlvTag)
                probe.add(tag)
                if probe.complete():
                    break
    report = probe.report(server)
    if args.json:
        print(json.dumps(report, indent=2, allow_nan=False), flush=True)
    elif report["streams"]:
        print(_probe_text(report), flush=True)
    if not report["streams"]:
        raise CLIError(f"no audio or video within {args.duration:g} s")
    return EXIT_OK
