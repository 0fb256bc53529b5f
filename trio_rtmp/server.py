"""The RTMP server for Trio: ``serve_rtmp``, ``ServerHandler`` and ``ServerSession``.

The Trio side of ExRTMP's ``ExRTMP.Server`` and its ``Server.Handler`` callbacks,
driven entirely by the sans-IO :class:`~trio_rtmp.core.connection.ServerConnection`.

.. code-block:: python

    class Handler(trio_rtmp.ServerHandler):
        async def on_publish(self, request):
            if request.stream_key != "secret":
                raise trio_rtmp.Reject("wrong key")

        async def on_video(self, stream_id, frame):
            print(frame)

    async with trio.open_nursery() as nursery:
        server = await nursery.start(trio_rtmp.serve_rtmp, Handler, 1935)

One session per connection: a task reads the connection, feeds the core, and calls the
handler's callbacks in order.  What the server sends goes through one output path per
session: a plain, non-blocking ``send`` straight away when nothing is waiting (no task
switch, no copy), else a bounded queue that a writer task drains with one write for
everything queued.  A write that makes no progress for ``write_stall_timeout`` closes
the session.  A misbehaving connection costs only its own session.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import math
import os
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

from .core import events as ev
from .core._state import ENDED_STATES, ConnectionState, StreamState
from .core.amf import ECMAArray
from .core.chunks import encode_message
from .core.connection import ConnectionConfig, ServerConnection
from .core.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from .exceptions import ConnectionClosed
from .media.demux import Demuxer
from .media.flv import TagType
from .media.flvfile import FlvTag
from .media.frames import Frame
from .media.mux import Muxer

__all__ = [
    "PreparedBatch",
    "PreparedMessage",
    "RTMPServer",
    "Reject",
    "ServerConfig",
    "ServerHandler",
    "ServerSession",
    "ServerStatistics",
    "SessionStatistics",
    "serve_rtmp",
    "server_ssl_context",
]

logger = logging.getLogger(__name__)

_READ_SIZE = 65536
# Chunk streams for prepared (shared) messages: the session's own chunk writer never
# uses them, so their fmt 0 headers cannot upset its header compression.
_PREPARED_CHUNK_STREAMS = {8: 7, 9: 8, 18: 9}
# Connections over ``max_connections`` that get a polite refusal at once; more are
# closed without a word.
_MAX_REFUSING = 64


def _positive(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{attribute.name} must be positive, not {value!r}")


@attrs.frozen(kw_only=True)
class ServerConfig:
    """Limits and timeouts of a server, per connection unless said otherwise."""

    #: The protocol core's configuration (limits such as the maximum message size,
    #: chunk size, window sizes, maximum message streams per connection).
    connection: ConnectionConfig = attrs.field(factory=ConnectionConfig)
    #: The handshake and ``connect`` must be done within this many seconds.
    handshake_timeout: float = attrs.field(default=10.0, validator=_positive)
    #: Close a connection that has neither sent nor received anything this long.
    idle_timeout: float = attrs.field(default=60.0, validator=_positive)
    #: Close a connection that publishes a stream but has sent nothing this long
    #: (``None``: only ``idle_timeout`` applies).  An encoder that lost power or its
    #: network leaves its TCP connection open; without this it would keep its stream
    #: key, and its players waiting, for ``idle_timeout``.  Live encoders send many
    #: messages a second.  Time spent waiting for a slow handler does not count.
    publish_timeout: float | None = attrs.field(default=10.0, validator=_positive)
    #: Close a connection whose pending output has made no progress this long.
    write_stall_timeout: float = attrs.field(default=10.0, validator=_positive)
    #: Send a PingRequest after this many seconds without input (``None``: never).
    ping_interval: float | None = attrs.field(default=30.0, validator=_positive)
    #: Most connections at once, server-wide; more are refused (after the handshake,
    #: with NetConnection.Connect.Rejected; beyond 64 being refused at once, the
    #: rest are closed straight away).
    max_connections: int = attrs.field(default=1000, validator=_positive)
    #: Output bytes a session may hold before ``await session.send_*`` waits.
    max_queued_bytes: int = attrs.field(default=4 * 1024 * 1024, validator=_positive)
    #: Send every write at once (TCP_NODELAY).  Off by default, as in nginx-rtmp: the
    #: kernel may then coalesce small writes while earlier data is unacknowledged,
    #: which costs far less CPU per player (a relay makes many small writes).  The
    #: price is on media: a small message that follows unacknowledged data waits for
    #: the client's acknowledgement, which a client with nothing to send delays (40 ms
    #: on Linux, up to 200 ms on Windows).  Answers to commands and the end of a play
    #: are pushed out at once either way.
    tcp_nodelay: bool = False
    #: Messages a connection may send per second on average, with bursts of two
    #: seconds' worth (``None``: no limit).  Beyond it the session stops reading
    #: from that connection until it is back within the rate: TCP slows the peer
    #: down and nothing is lost.  Each message costs a few microseconds of Python,
    #: and one 64 KiB read can hold 65,536 empty ones, so without a limit one peer
    #: flooding tiny messages can take a whole CPU core.  Live encoders send tens to a
    #: few hundred a second; publishing a file faster than real time sends more.
    #: What counts is :attr:`~trio_rtmp.core.connection.ServerConnection.input_steps`: every
    #: message (each of an aggregate's too, and those that make no event), and each
    #: chunk that does not complete a message (a peer interleaving tiny chunks).
    max_message_rate: float | None = attrs.field(default=None, validator=_positive)


class Reject(Exception):
    """Raise from a handler callback to refuse (connect, publish or play).

    ``reason`` goes to the client as the status description; ``code`` overrides the
    status code (NetConnection.Connect.Rejected, NetStream.Publish.BadName and
    NetStream.Play.StreamNotFound by default).
    """

    def __init__(self, reason: str = "refused", *, code: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class ServerHandler:
    """Callbacks for one connection; subclass and override what you need.

    The server makes one handler per connection with ``handler_factory()`` and sets
    :attr:`session` before calling anything.  Every callback is optional.  Raising
    :class:`Reject` from ``on_connect``, ``on_publish`` or ``on_play`` refuses the
    request; returning accepts it.  Any other exception closes the connection (and is
    logged).
    """

    #: The connection this handler serves.
    session: ServerSession

    async def on_connect(self, request: ev.ConnectRequest) -> None:
        """A client connects to ``request.app``."""

    async def on_publish(self, request: ev.PublishRequest) -> None:
        """The client wants to publish ``request.stream_key`` on ``request.stream_id``."""

    async def on_play(self, request: ev.PlayRequest) -> None:
        """The client wants to play ``request.stream_key`` on ``request.stream_id``.

        Return to accept (then :meth:`on_play_started` is called, and media may be
        sent with the session's ``send_*`` methods), raise :class:`Reject` to refuse.
        """

    async def on_play_started(self, request: ev.PlayRequest) -> None:
        """The play was accepted (NetStream.Play.Start is on its way): send the first
        media here, e.g. a relay's cached sequence headers and GOP.

        It runs in a task of its own, beside the session reading the client, so it
        may take as long as it likes (a clip sent in real time); it is cancelled when
        the client ends that play (closeStream, deleteStream) or the connection.
        """

    async def on_delete_stream(self, stream_id: int) -> None:
        """A publishing or playing stream ended (deleteStream, closeStream, FCUnpublish,
        or the connection went away)."""

    async def on_metadata(self, stream_id: int, metadata: dict[str, Any]) -> None:
        """A publisher sent ``onMetaData`` (via ``@setDataFrame``)."""

    async def on_video(self, stream_id: int, data: Frame | FlvTag) -> None:
        """Video from a publisher: frames when the server demuxes, else raw tags."""

    async def on_audio(self, stream_id: int, data: Frame | FlvTag) -> None:
        """Audio from a publisher: frames when the server demuxes, else raw tags."""

    async def on_data(self, stream_id: int, event: ev.DataReceived) -> None:
        """Any other data message from a publisher (``onTextData``, ``onCuePoint``...)."""

    async def on_pause(self, stream_id: int, paused: bool) -> None:
        """A player paused (``paused`` true) or resumed ``stream_id``.

        The session has answered the player already.  While it is paused,
        ``session.send_video``/``send_audio``/``send_metadata``/``send_tag``/``send_frame``
        for it wait (a clip sent in real time pauses with it); what an application
        writes with ``write_prepared`` is its own to hold back (the relay stops
        sending, and on resume starts the player over from the cached GOP).
        """

    async def on_command(self, event: ev.CommandReceived) -> None:
        """A command the server does not handle itself; answer with
        ``session.connection.send_result(...)`` if it expects an answer."""

    async def on_disconnect(self) -> None:
        """The connection is gone (called once, last)."""

    def on_batch_end(self) -> None:
        """All events of one read from the connection were handled (synchronous).

        A place to act once per batch of messages instead of once per message; the
        relay fans out a publisher's messages here, one write per player per read.
        (A read that completes more commands and data than one step of the connection
        decodes, ``max_amf_message_size``, is handled in several batches; so is one
        that ``ServerConfig.max_message_rate`` holds up.)
        """


class PreparedMessage:
    """A message chunked once and shared by many sessions (what a relay fans out).

    The chunk bytes depend only on the receiving message stream id (and the chunk size,
    which is the same for every session of a server), so they are made once per stream
    id and cached.
    """

    __slots__ = ("_cache", "media", "payload", "timestamp", "type_id")

    def __init__(self, type_id: int, timestamp: int, payload: bytes) -> None:
        if type_id not in _PREPARED_CHUNK_STREAMS:
            raise LocalProtocolError("only audio, video and data messages can be prepared")
        self.type_id = type_id
        #: 1 for audio and video, 0 for data (what a session's ``messages_sent`` counts).
        self.media = 1 if type_id != 18 else 0
        self.timestamp = timestamp & 0xFFFFFFFF
        self.payload = payload
        self._cache: dict[tuple[int, int], bytes] = {}

    def chunks(self, message_stream_id: int, chunk_size: int) -> bytes:
        """The chunk bytes for a receiver using ``message_stream_id`` and ``chunk_size``."""
        key = (message_stream_id, chunk_size)
        data = self._cache.get(key)
        if data is None:
            data = self._cache[key] = encode_message(
                _PREPARED_CHUNK_STREAMS[self.type_id],
                self.type_id,
                self.timestamp,
                message_stream_id,
                self.payload,
                chunk_size,
            )
        return data

    def __len__(self) -> int:
        return len(self.payload)


class PreparedBatch:
    """Several prepared messages sent as one write (what a relay sends per read)."""

    __slots__ = ("_cache", "media", "messages")

    def __init__(self, messages: list[PreparedMessage]) -> None:
        self.messages = messages
        #: How many of them are audio or video.
        self.media = sum(m.media for m in messages)
        self._cache: dict[tuple[int, int], bytes] = {}

    def chunks(self, message_stream_id: int, chunk_size: int) -> bytes:
        """The messages' chunk bytes, one after another, for one receiver format."""
        key = (message_stream_id, chunk_size)
        data = self._cache.get(key)
        if data is None:
            data = self._cache[key] = b"".join(
                [m.chunks(message_stream_id, chunk_size) for m in self.messages]
            )
        return data

    def __len__(self) -> int:
        return sum(len(m) for m in self.messages)


def _allow_coalescing(stream: trio.abc.Stream) -> trio.SocketStream | None:
    """Turn TCP_NODELAY off (Trio turns it on for every TCP socket).

    Returns the TCP stream (under TLS, the one beneath), or ``None`` when there is none.
    """
    inner = stream.transport_stream if isinstance(stream, trio.SSLStream) else stream
    if isinstance(inner, trio.SocketStream):
        try:
            inner.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, False)
        except OSError:  # not TCP after all
            return None
        return inner
    return None


@attrs.frozen(kw_only=True)
class SessionStatistics:
    """Counters of one session (``ServerSession.statistics()``)."""

    bytes_received: int
    bytes_sent: int
    #: Audio/video messages received from a publisher and sent to a player.
    messages_received: int
    messages_sent: int
    #: Output bytes waiting (the slow-player queue).
    queued_bytes: int
    #: Messages dropped for this player by its relay.
    dropped: int
    #: Audio/video messages of a publisher that the demuxer could not read (with
    #: ``demux=True``): each is skipped, the first logged as a warning and the rest
    #: at debug level.
    messages_dropped: int
    duration: float
    bitrate_in: float
    bitrate_out: float


class _Output:
    """One session's output: direct non-blocking sends when idle, else a queue."""

    def __init__(
        self, session: ServerSession, stream: trio.abc.Stream, *, coalescing: bool
    ) -> None:
        self._session = session
        self._stream = stream
        # With coalescing (Nagle's algorithm), the TCP stream to push() on.
        self._tcp = _allow_coalescing(stream) if coalescing else None
        self._push_when_sent = False
        self._raw: socket.socket | None = None
        if isinstance(stream, trio.SocketStream):
            try:
                # The same file descriptor as Trio's socket (already non-blocking),
                # used only while no write of Trio's is in progress.  detach() frees
                # it without closing the descriptor.
                self._raw = socket.socket(fileno=stream.socket.fileno())
                self._raw.setblocking(False)
            except OSError:  # pragma: no cover - not a socket we can share
                self._raw = None
        self._queue: collections.deque[bytes] = collections.deque()
        self.queued = 0
        self.sent = 0
        self._writing = False
        self._wakeup = trio.Event()
        self._drained = trio.Event()
        self._drained.set()
        self.failed: BaseException | None = None

    def write(self, data: bytes) -> None:
        """Queue ``data`` (never blocks).  Sent straight away when nothing is waiting."""
        if not data or self.failed is not None:
            return
        if not self._writing and self._raw is not None:
            try:
                sent = self._raw.send(data)
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                self._fail(exc)
                return
            self.sent += sent
            if sent == len(data):
                return
            data = data[sent:]
        self._queue.append(data)
        self.queued += len(data)
        if not self._writing:
            self._writing = True
            self._drained = trio.Event()
            self._wakeup.set()

    def push(self) -> None:
        """Have TCP send what it holds back for coalescing now.

        With Nagle's algorithm on, a small write waits until the client acknowledges
        what went before, and a client with nothing to send delays its acknowledgement
        (40 ms on Linux, up to 200 ms on Windows).  A reply, a status or the end of a
        stream must not wait for that: nothing may follow it soon.  Turning
        TCP_NODELAY on sends what is pending at once; it goes off again straight away.
        What is still queued here is pushed once the writer task has sent it.
        """
        if self._tcp is None or self.failed is not None:
            return
        if self._writing:
            self._push_when_sent = True
            return
        self._push_when_sent = False
        with contextlib.suppress(OSError):
            self._tcp.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
            self._tcp.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, False)

    async def wait_room(self, limit: int) -> None:
        """Wait until fewer than ``limit`` bytes are queued (always a checkpoint)."""
        if self.queued < limit or self.failed is not None:
            await trio.lowlevel.checkpoint()
        while self.queued >= limit and self.failed is None:
            await self._drained.wait()

    async def drain(self) -> None:
        """Wait until everything queued is sent."""
        while self._writing and self.failed is None:
            await self._drained.wait()

    async def run(self, stall_timeout: float) -> None:
        """The writer task: drain the queue, one write for everything in it.

        The session fails when ``stall_timeout`` passes without *any* byte going out,
        however long the whole write takes: a slow but steady client is not stalled.
        """
        queue = self._queue
        while True:
            await self._wakeup.wait()
            self._wakeup = trio.Event()
            while queue:
                data = queue[0] if len(queue) == 1 else b"".join(queue)
                queue.clear()
                try:
                    if self._raw is not None:
                        await self._send_raw(self._raw, data, stall_timeout)
                    else:
                        await self._send_stream(data, stall_timeout)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                    self._fail(exc)
                    return
            self._writing = False
            self._progress()
            if self._push_when_sent:
                self.push()

    async def _send_raw(self, raw: socket.socket, data: bytes, stall_timeout: float) -> None:
        view = memoryview(data)
        offset = 0
        size = len(data)
        while offset < size:
            try:
                sent = raw.send(view[offset:])
            except BlockingIOError:
                sent = 0
            if sent:
                offset += sent
                self.sent += sent
                self.queued -= sent
                self._progress()
                continue
            with trio.move_on_after(stall_timeout):
                await trio.lowlevel.wait_writable(raw)
                continue
            raise TimeoutError(f"no write progress for {stall_timeout} s")

    async def _send_stream(self, data: bytes, stall_timeout: float) -> None:
        # TLS (or any other stream): pieces small enough that each one's timeout
        # measures progress.
        piece = 65536
        for offset in range(0, len(data), piece):
            chunk = data[offset : offset + piece]
            with trio.move_on_after(stall_timeout):
                await self._stream.send_all(chunk)
                self.sent += len(chunk)
                self.queued -= len(chunk)
                self._progress()
                continue
            raise TimeoutError(f"no write progress for {stall_timeout} s")

    def _progress(self) -> None:
        """Wake whoever waits for room or for the queue to drain."""
        self._drained.set()
        self._drained = trio.Event()

    def _fail(self, exc: BaseException) -> None:
        if self.failed is None:
            self.failed = exc
            self._queue.clear()
            self.queued = 0
            self._drained.set()
            self._session._output_failed(exc)

    def release(self) -> None:
        """Give up the shared descriptor without closing it."""
        if self._raw is not None:
            self._raw.detach()
            self._raw = None


class ServerSession:
    """One client connection, as seen by its :class:`ServerHandler`.

    Send media to a playing client with :meth:`send_video`, :meth:`send_audio`,
    :meth:`send_metadata`, :meth:`send_tag` or :meth:`send_frame` (each waits while
    more than ``max_queued_bytes`` are queued for a slow client, and raises
    :class:`~trio_rtmp.exceptions.ConnectionClosed` once the session is closed or its
    client stopped taking data for ``write_stall_timeout``), and :meth:`aclose` the
    connection.
    """

    def __init__(
        self,
        server: RTMPServer,
        stream: trio.abc.Stream,
        handler: ServerHandler,
        *,
        refuse: str | None = None,
    ) -> None:
        self._server = server
        self._config = server.config
        self._stream = stream
        self._handler = handler
        self._refuse = refuse
        self._conn = ServerConnection(
            random=os.urandom(1528),
            time=int(trio.current_time() * 1000) & 0xFFFFFFFF,
            config=self._config.connection,
        )
        self._output = _Output(self, stream, coalescing=not self._config.tcp_nodelay)
        self._chunk_size = self._conn.chunk_size
        # Whether the events being handled may have been answered (see _Output.push).
        self._answered = False
        self._cancel = trio.CancelScope()
        self._started_at = trio.current_time()
        self._last_activity = self._last_input = self._started_at
        # The message budget (ServerConfig.max_message_rate): a token bucket.
        rate = self._config.max_message_rate
        self._tokens = 2 * rate if rate is not None else 0.0
        self._tokens_at = self._started_at
        self._throttled = False
        self._bytes_received = 0
        self._messages_received = 0
        self._messages_dropped = 0
        self._data_too_large = 0
        self._messages_sent = 0
        self._demuxers: dict[int, Demuxer] = {}
        self._muxers: dict[int, Muxer] = {}
        self._active: set[int] = set()
        self._publishing: set[int] = set()
        # Paused plays, each with the event that resuming (or ending) sets.
        self._pauses: dict[int, trio.Event] = {}
        # The tasks running on_play_started, by stream id (cancelled when that play
        # ends), and the nursery they run in.
        self._plays: dict[int, trio.CancelScope] = {}
        self._tasks: trio.Nursery | None = None
        self._closed = False
        #: Messages the application dropped for this client (a relay's slow-player
        #: policy counts here); reported by :meth:`statistics`.
        self.dropped = 0
        #: The ``connect`` request, once it came.
        self.connect_request: ev.ConnectRequest | None = None
        #: Stream keys of the streams publishing or playing, by stream id.
        self.stream_keys: dict[int, str] = {}
        #: The peer's address.
        self.remote_address: Any = _peer_address(stream)
        # For log lines: a peer that resets the connection at once has no address left.
        self._log_name: object = (
            "<unknown address>" if self.remote_address is None else self.remote_address
        )
        #: Free for the application (e.g. a relay's per-session state).
        self.context: dict[str, Any] = {}

    # -- what handlers use ------------------------------------------------------

    @property
    def server(self) -> RTMPServer:
        """The server this session belongs to."""
        return self._server

    @property
    def connection(self) -> ServerConnection:
        """The sans-IO connection underneath (for ``send_result``, state...)."""
        return self._conn

    @property
    def app(self) -> str:
        """The application the client connected to."""
        return self._conn.app

    @property
    def chunk_size(self) -> int:
        """The chunk size this session writes with."""
        return self._conn.chunk_size

    @property
    def queued_bytes(self) -> int:
        """Output bytes waiting for a slow client."""
        return self._output.queued

    @property
    def closed(self) -> bool:
        """Whether the session has ended."""
        return self._closed

    def statistics(self) -> SessionStatistics:
        """Bytes, messages, queue and bitrates of this session."""
        duration = max(trio.current_time() - self._started_at, 1e-9)
        sent = self._output.sent
        return SessionStatistics(
            bytes_received=self._bytes_received,
            bytes_sent=sent,
            messages_received=self._messages_received,
            messages_sent=self._messages_sent,
            queued_bytes=self._output.queued,
            dropped=self.dropped,
            messages_dropped=self._messages_dropped,
            duration=duration,
            bitrate_in=self._bytes_received * 8 / duration,
            bitrate_out=sent * 8 / duration,
        )

    async def send_video(self, stream_id: int, timestamp: int, data: bytes) -> None:
        """Send a video tag body to a playing client."""
        await self._room(stream_id)
        self._conn.send_video(stream_id, timestamp & 0xFFFFFFFF, data)
        self._messages_sent += 1
        self._flush()

    async def send_audio(self, stream_id: int, timestamp: int, data: bytes) -> None:
        """Send an audio tag body to a playing client."""
        await self._room(stream_id)
        self._conn.send_audio(stream_id, timestamp & 0xFFFFFFFF, data)
        self._messages_sent += 1
        self._flush()

    async def send_metadata(
        self, stream_id: int, metadata: dict[str, Any], timestamp: int = 0
    ) -> None:
        """Send ``onMetaData`` to a playing client."""
        await self._room(stream_id)
        self._conn.send_metadata(stream_id, ECMAArray(metadata), timestamp)
        self._flush()

    async def send_tag(self, stream_id: int, timestamp: int, tag: Any) -> None:
        """Send an FLV tag object (or a raw ``FlvTag``) to a playing client."""
        if isinstance(tag, FlvTag):
            tag_type, body = tag.tag_type, tag.data
        else:
            tag_type, body = tag.tag_type, tag.to_bytes()
        if tag_type == TagType.VIDEO:
            await self.send_video(stream_id, timestamp, body)
        elif tag_type == TagType.AUDIO:
            await self.send_audio(stream_id, timestamp, body)
        elif tag_type == TagType.SCRIPT:
            # As it is, undecoded: a file's onMetaData can be big.
            await self._room(stream_id)
            self._conn.send_data_body(stream_id, body, timestamp & 0xFFFFFFFF)
            self._flush()
        else:
            raise LocalProtocolError(f"cannot send an FLV tag of type {tag_type}")

    async def send_frame(self, stream_id: int, frame: Frame) -> None:
        """Send a frame (CodecConfig, VideoSample, AudioSample, Metadata), muxed to tags."""
        muxer = self._muxers.get(stream_id)
        if muxer is None:
            muxer = self._muxers[stream_id] = Muxer()
        for timestamp, tag in muxer.mux(frame):
            await self.send_tag(stream_id, timestamp, tag)

    def write_prepared(self, stream_id: int, message: PreparedMessage | PreparedBatch) -> None:
        """Queue a shared message for a playing client; never blocks, never drops.

        The relay's fast path: the bytes are chunked once for every session.  The
        caller decides what to drop by looking at :attr:`queued_bytes`.
        """
        self._output.write(message.chunks(stream_id, self._chunk_size))
        self._messages_sent += message.media

    def notify_publish(self, stream_id: int) -> None:
        """Tell a waiting player a publisher started (NetStream.Play.PublishNotify)."""
        self._conn.notify_publish(stream_id)
        self._flush_now()

    def notify_unpublish(self, stream_id: int) -> None:
        """Tell a player its publisher left (UnpublishNotify and StreamEOF)."""
        self._conn.notify_unpublish(stream_id)
        self._flush_now()

    def stop_play(self, stream_id: int, description: str = "Stopped playing.") -> None:
        """End a play (StreamEOF and NetStream.Play.Stop)."""
        self._conn.stop_play(stream_id, description)
        self._resume(stream_id)
        self._flush_now()

    def request_reconnect(self, tc_url: str | None = None, description: str = "") -> None:
        """Ask the client to reconnect (Enhanced RTMP ReconnectRequest)."""
        self._conn.request_reconnect(tc_url, description)
        self._flush_now()

    def _flush_now(self) -> None:
        """Flush, and push it past coalescing: nothing may follow it soon."""
        self._flush()
        self._output.push()

    def close(self) -> None:
        """End the session (the connection closes as soon as possible)."""
        self._cancel.cancel()

    async def aclose(self) -> None:
        """Send what is queued (briefly), then close the connection."""
        with trio.move_on_after(1.0):
            await self._output.drain()
        self.close()

    # -- internals ----------------------------------------------------------

    async def _room(self, stream_id: int) -> None:
        pause = self._pauses.get(stream_id)
        if pause is not None:
            await pause.wait()
        output = self._output
        await output.wait_room(self._config.max_queued_bytes)
        if self._closed or output.failed is not None:
            raise ConnectionClosed(
                "the session is closed"
                if output.failed is None
                else f"the connection to the client failed: {output.failed!r}"
            )

    def _flush(self, *, activity: bool = True) -> None:
        data = self._conn.data_to_send()
        # The chunk size shared messages are cut for (it changes only when we send a
        # Set Chunk Size, which goes out through here).
        self._chunk_size = self._conn.chunk_size
        if data:
            self._output.write(data)
            if activity:
                self._last_activity = trio.current_time()

    def _output_failed(self, exc: BaseException) -> None:
        if type(exc) is TimeoutError:
            # A write stall: worth knowing about (a player that stopped reading).
            logger.info("session %s: closed: %s", self._log_name, exc)
        else:
            logger.debug("session %s: output failed: %r", self._log_name, exc)
        self._cancel.cancel()

    async def _run(self) -> None:
        """Serve the connection until it ends; never raises (but Cancelled)."""
        try:
            with self._cancel:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._output.run, self._config.write_stall_timeout)
                    self._tasks = nursery
                    try:
                        await self._serve()
                    finally:
                        nursery.cancel_scope.cancel()
        except* trio.TooSlowError:
            logger.info("session %s: handshake deadline passed", self._log_name)
        except* TimeoutError as group:
            logger.info("session %s: %s", self._log_name, group.exceptions[0])
        except* (
            trio.BrokenResourceError,
            trio.ClosedResourceError,
            OSError,
            ConnectionClosed,
        ) as group:
            logger.debug("session %s: connection lost: %r", self._log_name, group)
        except* ProtocolError as group:
            logger.info("session %s: protocol error: %s", self._log_name, group.exceptions[0])
        except* Exception as group:
            # Each error with its own traceback, not the nursery's group around it.
            for error in _leaves(group):
                logger.exception(
                    "session %s: handler or server error: %r",
                    self._log_name,
                    error,
                    exc_info=error,
                )
        finally:
            self._closed = True
            self._output.release()
            with trio.CancelScope(shield=True):
                await self._finish()
                await trio.aclose_forcefully(self._stream)

    def _resume(self, stream_id: int) -> None:
        """Wake the senders waiting for a paused play (it resumed or ended)."""
        pause = self._pauses.pop(stream_id, None)
        if pause is not None:
            pause.set()

    async def _finish(self) -> None:
        for stream_id in list(self._pauses):
            self._resume(stream_id)
        handler = self._handler
        for stream_id in sorted(self._active):
            await self._call(handler.on_delete_stream(stream_id))
        self._active.clear()
        await self._call(handler.on_disconnect())

    async def _call(self, coroutine: Awaitable[None]) -> None:
        try:
            await coroutine
        except Exception:
            logger.exception("session %s: handler failed while closing", self._log_name)

    async def _serve(self) -> None:
        config = self._config
        conn = self._conn
        # The handshake and connect must finish by the deadline.
        with trio.fail_after(config.handshake_timeout):
            while conn.state in (
                ConnectionState.HANDSHAKING,
                ConnectionState.IDLE,
                ConnectionState.CONNECTING,
            ):
                await self._receive_once()
        if conn.state is not ConnectionState.CONNECTED:
            await self.aclose()
            return
        output = self._output
        idle_timeout = config.idle_timeout
        ping_interval = config.ping_interval
        publish_timeout = config.publish_timeout
        last_ping = trio.current_time()
        # Since when we have been waiting for input (processing the last input, which
        # may wait for a slow handler, is not the peer being silent).
        waiting_since = last_ping
        sent_mark = output.sent
        while True:
            idle_deadline = self._last_activity + idle_timeout
            ping_deadline = math.inf
            if ping_interval is not None:
                ping_deadline = max(self._last_input, last_ping) + ping_interval
            publish_deadline = math.inf
            if publish_timeout is not None and self._publishing:
                publish_deadline = waiting_since + publish_timeout
            # Only the wait for input is timed: a handler's callback (on_video waiting
            # for a slow consumer, say) may take as long as it needs.
            with trio.move_on_at(min(idle_deadline, ping_deadline, publish_deadline)) as scope:
                data = await self._stream.receive_some(_READ_SIZE)
            if not scope.cancelled_caught:
                await self._process(data)
                if conn.state in ENDED_STATES:
                    return
                waiting_since = trio.current_time()
                continue
            now = trio.current_time()
            if now >= publish_deadline:
                raise TimeoutError(f"published nothing for {publish_timeout} s")
            if output.sent != sent_mark:
                # Bytes went out since the last look (media to a player that sends
                # nothing back, say): the connection is in use.
                sent_mark = output.sent
                self._last_activity = max(self._last_activity, now)
            elif now >= idle_deadline:
                raise TimeoutError(f"idle for {idle_timeout} s")
            if now >= ping_deadline:
                conn.ping(int(now * 1000) & 0xFFFFFFFF)
                # Our own pings are no sign of life: a client that never answers
                # them (nor sends or receives anything else) is idle.
                self._flush(activity=False)
                last_ping = now
                sent_mark = output.sent

    async def _receive_once(self) -> None:
        await self._process(await self._stream.receive_some(_READ_SIZE))

    async def _process(self, data: bytes | bytearray) -> None:
        self._bytes_received += len(data)
        self._last_activity = self._last_input = trio.current_time()
        conn = self._conn
        steps = conn.input_steps
        conn.feed_data(data)
        rate = self._config.max_message_rate
        while True:
            events = conn.next_events()
            self._flush()
            if rate is not None:
                # Work that made no event of its own counts too: messages such as
                # pings or media for no stream, and chunks of messages still in
                # progress (a peer interleaving tiny chunks).  Each event is counted
                # as it is handled, below.
                done = conn.input_steps
                self._tokens -= max(0, done - steps - len(events))
                steps = done
                if self._tokens < 0:
                    await self._throttle(rate)
            if events:
                for event in events:
                    await self._event(event)
                    if rate is not None:
                        self._tokens -= 1
                        if self._tokens < 0:
                            await self._throttle(rate)
                self._handler.on_batch_end()
                # A callback may have used the connection directly (``on_command``
                # answering with ``session.connection.send_result``).
                self._flush()
                if self._answered:
                    self._answered = False
                    self._output.push()
            if not conn.has_pending_input:
                break
            # One read completed more AMF than one step decodes (a peer can make it
            # complete dozens of messages): let the other sessions run in between.
            await trio.lowlevel.checkpoint()
        if not data:
            raise trio.BrokenResourceError("the client closed the connection")

    async def _throttle(self, rate: float) -> None:
        """The message budget is spent: refill it for the time gone by and, if that
        is not enough, wait (reading nothing meanwhile) until a tenth of a second's
        worth is there again."""
        now = trio.current_time()
        tokens = min(2 * rate, self._tokens + (now - self._tokens_at) * rate)
        self._tokens_at = now
        if tokens >= 0:
            self._tokens = tokens
            return
        if not self._throttled:
            self._throttled = True
            logger.info(
                "session %s: over %g messages a second; reading it more slowly",
                self._log_name,
                rate,
            )
        # What the handler holds for this batch (the relay's fan-out) goes out first.
        self._handler.on_batch_end()
        self._flush()
        await trio.sleep((rate / 10 - tokens) / rate)
        self._tokens = rate / 10
        self._tokens_at = trio.current_time()
        # The wait is ours: it is not the peer being silent (idle timeout, pings).
        self._last_activity = self._last_input = self._tokens_at

    async def _event(self, event: ev.Event) -> None:
        handler = self._handler
        conn = self._conn
        if isinstance(event, ev.VideoData | ev.AudioData):
            self._messages_received += 1
            await self._media(event)
            return
        # Anything else may get an answer (a command's reply, a status), sent without
        # waiting for coalescing once the batch is handled.
        self._answered = True
        if isinstance(event, ev.StreamMetadata):
            await handler.on_metadata(event.stream_id, event.metadata)
        elif isinstance(event, ev.ConnectRequest):
            self.connect_request = event
            if self._refuse is not None:
                conn.reject_connect(self._refuse)
                self._flush()
                return
            try:
                await handler.on_connect(event)
            except Reject as reject:
                conn.reject_connect(
                    reject.reason, code=reject.code or "NetConnection.Connect.Rejected"
                )
                self._flush()
                return
            for later in conn.accept_connect():
                self._flush()
                await self._event(later)
            self._flush()
        elif isinstance(event, ev.PublishRequest):
            try:
                await handler.on_publish(event)
            except Reject as reject:
                conn.reject_publish(
                    event.stream_id, reject.reason, code=reject.code or "NetStream.Publish.BadName"
                )
            else:
                conn.accept_publish(event.stream_id)
                self._active.add(event.stream_id)
                self._publishing.add(event.stream_id)
                self.stream_keys[event.stream_id] = event.stream_key
                self._demuxers[event.stream_id] = Demuxer(limits=self._config.connection.limits)
            self._flush()
        elif isinstance(event, ev.PlayRequest):
            try:
                await handler.on_play(event)
            except Reject as reject:
                conn.reject_play(
                    event.stream_id,
                    reject.reason,
                    code=reject.code or "NetStream.Play.StreamNotFound",
                )
                self._flush()
            else:
                # The handler may have ended the play already (a relay that found
                # nothing); accept only what is still pending.
                if conn.stream_state(event.stream_id) is StreamState.PLAY_PENDING:
                    conn.accept_play(event.stream_id)
                    self._active.add(event.stream_id)
                    self.stream_keys[event.stream_id] = event.stream_key
                self._flush()
                if event.stream_id in self._active and self._tasks is not None:
                    # In a task of its own, so that the session goes on reading the
                    # client (pause, closeStream, pings) while the handler sends.
                    scope = self._plays[event.stream_id] = trio.CancelScope()
                    self._tasks.start_soon(self._played, event, scope)
        elif isinstance(event, ev.PlayPaused):
            stream_id = event.stream_id
            if event.paused:
                self._pauses.setdefault(stream_id, trio.Event())
            else:
                self._resume(stream_id)
            if stream_id in self._active:
                await handler.on_pause(stream_id, event.paused)
        elif isinstance(event, ev.StreamClosed | ev.StreamDeleted):
            self._publishing.discard(event.stream_id)
            self._resume(event.stream_id)
            play = self._plays.pop(event.stream_id, None)
            if play is not None:
                # The play is over: whatever on_play_started was still sending is moot.
                play.cancel()
            if event.stream_id in self._active:
                self._active.discard(event.stream_id)
                self._demuxers.pop(event.stream_id, None)
                self._muxers.pop(event.stream_id, None)
                await handler.on_delete_stream(event.stream_id)
            self.stream_keys.pop(event.stream_id, None)
        elif isinstance(event, ev.DataReceived):
            if event.stream_id in self._active:
                await handler.on_data(event.stream_id, event)
        elif isinstance(event, ev.DataTooLarge):
            if event.stream_id in self._active:
                # Once a session at warning level, then at debug: a publisher that
                # sends only such messages must not flood the log.
                self._data_too_large += 1
                logger.log(
                    logging.WARNING if self._data_too_large == 1 else logging.DEBUG,
                    "session %s: skipped a data message (%s) of %d bytes, over the limit "
                    "of AMF data decoded (Limits.max_amf_message_size)",
                    self._log_name,
                    " ".join(event.names) or "unnamed",
                    len(event.payload),
                )
        elif isinstance(event, ev.CommandReceived):
            await handler.on_command(event)

    async def _played(self, request: ev.PlayRequest, scope: trio.CancelScope) -> None:
        stream_id = request.stream_id
        try:
            with scope:
                if stream_id in self._active:
                    await self._handler.on_play_started(request)
        finally:
            if self._plays.get(stream_id) is scope:
                del self._plays[stream_id]

    async def _media(self, event: ev.VideoData | ev.AudioData) -> None:
        handler = self._handler
        stream_id = event.stream_id
        video = isinstance(event, ev.VideoData)
        if not self._server.demux:
            tag = FlvTag(9 if video else 8, event.timestamp, event.payload)
            if video:
                await handler.on_video(stream_id, tag)
            else:
                await handler.on_audio(stream_id, tag)
            return
        demuxer = self._demuxers.get(stream_id)
        if demuxer is None:
            return
        try:
            if video:
                frames = demuxer.video(event.timestamp, event.payload)
            else:
                frames = demuxer.audio(event.timestamp, event.payload)
        except RemoteProtocolError as exc:
            # One unreadable frame is the encoder's problem, not the connection's (the
            # demuxer is unchanged by it): skip it, as the client does.
            self._messages_dropped += 1
            logger.log(
                logging.WARNING if self._messages_dropped == 1 else logging.DEBUG,
                "session %s: skipped a malformed %s message: %s",
                self._log_name,
                "video" if video else "audio",
                exc,
            )
            return
        on_frame = handler.on_video if video else handler.on_audio
        for frame in frames:
            await on_frame(stream_id, frame)


def _leaves(group: BaseExceptionGroup[Exception]) -> list[Exception]:
    """The exceptions in ``group`` and in the groups inside it."""
    leaves: list[Exception] = []
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            leaves += _leaves(error)
        else:
            leaves.append(error)
    return leaves


def _peer_address(stream: trio.abc.Stream) -> Any:
    inner = stream.transport_stream if isinstance(stream, trio.SSLStream) else stream
    if isinstance(inner, trio.SocketStream):
        try:
            return inner.socket.getpeername()
        except OSError:
            return None
    return None


@attrs.frozen(kw_only=True)
class ServerStatistics:
    """Counters of a server (``RTMPServer.statistics()``)."""

    #: Connections open now and since the start.
    connections: int
    total_connections: int
    #: Connections refused because of ``max_connections``.
    refused: int


class RTMPServer:
    """A running server: what ``serve_rtmp`` passes to ``task_status.started()``."""

    def __init__(
        self,
        listeners: list[trio.SocketListener] | list[trio.abc.Listener[Any]],
        handler_factory: Callable[[], ServerHandler],
        *,
        demux: bool,
        config: ServerConfig,
    ) -> None:
        self.listeners = listeners
        self.handler_factory = handler_factory
        self.demux = demux
        self.config = config
        self.sessions: set[ServerSession] = set()
        self._total = 0
        self._refused = 0
        # Connections over max_connections being refused politely right now.
        self._refusing = 0
        self._cancel = trio.CancelScope()

    @property
    def sockets(self) -> list[trio.socket.SocketType]:
        """The listening sockets."""
        out = []
        for listener in self.listeners:
            inner = getattr(listener, "transport_listener", listener)
            sock = getattr(inner, "socket", None)
            if sock is not None:
                out.append(sock)
        return out

    @property
    def port(self) -> int:
        """The port the server listens on (useful after ``port=0``)."""
        port: int = self.sockets[0].getsockname()[1]
        return port

    @property
    def address(self) -> tuple[str, int]:
        """The first listening address (host, port)."""
        host, port = self.sockets[0].getsockname()[:2]
        return host, port

    def statistics(self) -> ServerStatistics:
        """How many connections there are and have been."""
        return ServerStatistics(
            connections=len(self.sessions), total_connections=self._total, refused=self._refused
        )

    def stop(self) -> None:
        """Stop listening and close every session."""
        self._cancel.cancel()

    async def aclose(self) -> None:
        """Same as :meth:`stop` (the serving task ends right after)."""
        self.stop()
        await trio.lowlevel.checkpoint()

    async def _handle(self, stream: trio.abc.Stream) -> None:
        self._total += 1
        refuse = None
        if len(self.sessions) >= self.config.max_connections:
            self._refused += 1
            if self._refusing >= _MAX_REFUSING:
                # A flood: refusing each one politely (a handshake, then
                # NetConnection.Connect.Rejected) would cost as much as serving it.
                await trio.aclose_forcefully(stream)
                return
            refuse = "Too many connections."
            handler = ServerHandler()
        else:
            try:
                handler = self.handler_factory()
            except Exception:
                logger.exception("the handler factory failed")
                await trio.aclose_forcefully(stream)
                return
        session = ServerSession(self, stream, handler, refuse=refuse)
        handler.session = session
        if refuse is None:
            self.sessions.add(session)
        else:
            self._refusing += 1
        try:
            await session._run()
        finally:
            if refuse is None:
                self.sessions.discard(session)
            else:
                self._refusing -= 1


def server_ssl_context(
    certfile: str | os.PathLike[str], keyfile: str | os.PathLike[str] | None = None
) -> ssl.SSLContext:
    """A TLS context to serve ``rtmps://`` with (``serve_rtmp(..., ssl_context=...)``).

    ``ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)`` with the certificate chain in
    ``certfile`` (PEM) and its private key (in ``keyfile``, or in ``certfile`` too), and
    no TLS 1.3 session tickets: librtmp (rtmpdump, and the encoders and cameras built on
    it) fails its RTMP handshake on the tickets a server sends after the TLS handshake,
    and an RTMP connection lasts too long for resuming a session to matter.  Raises
    ``OSError`` (``ssl.SSLError`` among them) if the files cannot be used.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.num_tickets = 0
    context.load_cert_chain(certfile, keyfile)
    return context


async def serve_rtmp(
    handler_factory: Callable[[], ServerHandler],
    port: int = 1935,
    *,
    host: str | None = None,
    demux: bool = True,
    ssl_context: ssl.SSLContext | None = None,
    handler_nursery: trio.Nursery | None = None,
    config: ServerConfig | None = None,
    task_status: trio.TaskStatus[RTMPServer] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve RTMP on ``port`` (``rtmps`` with ``ssl_context``) until cancelled or stopped.

    ``handler_factory()`` makes a :class:`ServerHandler` per connection.  With
    ``demux`` the handler's ``on_video``/``on_audio`` get frames, else raw
    :class:`~trio_rtmp.media.flvfile.FlvTag` values.  ``host=None`` listens on every
    interface.  Calls ``task_status.started(server)`` with the :class:`RTMPServer`,
    which knows its port and can be stopped::

        server = await nursery.start(serve_rtmp, Handler, 0)
        print(server.port)
    """
    config = config or ServerConfig()
    listeners: list[Any] = list(await trio.open_tcp_listeners(port, host=host))
    if ssl_context is not None:
        listeners = [
            trio.SSLListener(listener, ssl_context, https_compatible=False)
            for listener in listeners
        ]
    server = RTMPServer(listeners, handler_factory, demux=demux, config=config)
    with server._cancel:
        try:
            async with trio.open_nursery() as nursery:
                task_status.started(server)
                await trio.serve_listeners(
                    server._handle, listeners, handler_nursery=handler_nursery or nursery
                )
        finally:
            with trio.CancelScope(shield=True):
                for listener in listeners:
                    await trio.aclose_forcefully(listener)
