"""The RTMP client for Trio: connect, play, publish, send tags, close.

The Trio side of ExRTMP's ``ExRTMP.Client``, driven entirely by the sans-IO
:class:`~trio_rtmp.core.connection.ClientConnection` and the media layer.

.. code-block:: python

    async with trio_rtmp.open_client("rtmp://127.0.0.1/live/key") as client:
        await client.play()
        async for frame in client.frames:
            ...  # CodecConfig, VideoSample, AudioSample, Metadata

One task reads from the connection and feeds the core; every write goes out under one
lock, and whatever the core queued (acknowledgements, ping answers) is flushed after
every receive and every send.

Backpressure
    Frames go into a bounded channel (``frame_buffer`` frames).  When the consumer is
    slower than the stream, the reading task waits for room, stops reading the socket,
    and TCP pushes back on the server.  Nothing is buffered without bound and nothing
    is dropped.  (A relay that must not slow its publisher uses the server's own
    bounded queues instead.)
"""

from __future__ import annotations

import collections
import contextlib
import logging
import math
import os
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio

from .core import amf0
from .core import events as ev
from .core._state import ConnectionState
from .core.amf import ECMAArray
from .core.connection import ClientConnection, ConnectionConfig
from .core.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from .core.url import RTMPURL, parse_url
from .exceptions import (
    ConnectionClosed,
    ConnectionFailed,
    ConnectionRejected,
    ConnectionTimeout,
    PlayRejected,
    PublishRejected,
    Refused,
    StreamNotFound,
)
from .media.demux import Demuxer
from .media.flv import AnyTag, TagType
from .media.flvfile import FlvTag
from .media.frames import Frame, Metadata, VideoSample

__all__ = [
    "ClientStatistics",
    "FrameChannel",
    "RTMPClient",
    "connect_client",
    "open_client",
]

logger = logging.getLogger(__name__)

_READ_SIZE = 65536
# What the client sends at most per write under ``write_stall_timeout``.
_SEND_PIECE = 16384
# Bytes of media the reader holds beside a full frames channel while a command waits
# for its answer (see RTMPClient._deliver).
_HELD_BYTES = 16 * 1024 * 1024
# What a held item costs beside its payload bytes (the frame or tag object and its
# bytes objects: about 110-230 bytes measured), and each NAL unit of a video sample:
# a stream of tiny frames must not hold a hundred times what it counts.
_HELD_ITEM_COST = 256
_HELD_NAL_COST = 64
# A decoded onMetaData (a dict tree) costs up to about 18 times the AMF it came in
# (the worst case, arrays of empty objects); it is charged as the worst of the AMF
# that is decoded (Limits.max_amf_message_size).
_AMF_EXPANSION = 20
_SET_DATA_FRAME = amf0.encode("@setDataFrame")
#: The items a client delivers: frames, or raw tags when ``demux=False``.
Item = Frame | FlvTag


@attrs.frozen(kw_only=True)
class ClientStatistics:
    """Counters of one client connection (``RTMPClient.statistics()``)."""

    #: Bytes read from and written to the connection (after TLS).
    bytes_received: int
    bytes_sent: int
    #: Audio and video messages received and sent.
    messages_received: int
    messages_sent: int
    #: Frames (or raw tags) handed to the consumer.
    frames_delivered: int
    #: Audio/video messages of the stream played that the demuxer could not read
    #: (malformed bodies; each is skipped, the first logged as a warning and the rest
    #: at debug level).
    messages_dropped: int
    #: Seconds since the connection was made.
    duration: float
    #: Average incoming and outgoing bitrates since the connection was made, bits/s.
    bitrate_in: float
    bitrate_out: float


class FrameChannel(trio.abc.ReceiveChannel[Item]):
    """The frames of a playing client: a bounded Trio memory channel with one twist.

    It ends cleanly (``async for`` stops; ``receive`` raises ``trio.EndOfChannel``)
    when the stream ends: the publisher left (UnpublishNotify / StreamEOF), playback
    stopped (NetStream.Play.Stop, a server's deleteStream), or the client was closed.
    When the connection is lost instead, ``receive`` raises
    :class:`~trio_rtmp.exceptions.ConnectionClosed` once the frames before the loss
    are consumed (and :class:`~trio_rtmp.exceptions.PlayRejected` if the server
    failed the play with an error status).
    """

    def __init__(self, channel: trio.MemoryReceiveChannel[Item], client: RTMPClient) -> None:
        self._channel = channel
        self._client = client

    async def receive(self) -> Item:
        """The next frame (waits for one)."""
        try:
            return await self._channel.receive()
        except trio.EndOfChannel:
            self._client._raise_if_frames_failed()
            raise

    def receive_nowait(self) -> Item:
        """The next frame if one is ready, else raise ``trio.WouldBlock``."""
        try:
            return self._channel.receive_nowait()
        except trio.EndOfChannel:
            self._client._raise_if_frames_failed()
            raise

    def clone(self) -> FrameChannel:
        """Another handle on the same frames (each frame goes to one receiver)."""
        return FrameChannel(self._channel.clone(), self._client)

    async def aclose(self) -> None:
        """Stop receiving: later frames are dropped by the client."""
        await self._channel.aclose()

    def close(self) -> None:
        """Synchronous :meth:`aclose`."""
        self._channel.close()

    def statistics(self) -> Any:
        """The underlying memory channel's statistics (buffer size, waiting tasks)."""
        return self._channel.statistics()


class _Waiter:
    """A task waiting for an event that matches ``match``."""

    def __init__(self, match: Callable[[ev.Event], bool]) -> None:
        self.match = match
        self.done = trio.Event()
        self.result: ev.Event | None = None


class RTMPClient(trio.abc.AsyncResource):
    """A connected RTMP client (made by :func:`open_client` or :func:`connect_client`).

    Use it to :meth:`play` (frames arrive on :attr:`frames`), or to :meth:`publish`
    and then :meth:`send_tag`.  :meth:`aclose` is idempotent and always closes the
    socket; leaving :func:`open_client` calls it.
    """

    def __init__(
        self,
        stream: trio.abc.Stream,
        url: RTMPURL,
        *,
        stream_key: str,
        receiver: trio.MemorySendChannel[Item] | None = None,
        frame_buffer: int = 64,
        demux: bool = True,
        config: ConnectionConfig | None = None,
        response_timeout: float = 10.0,
        close_timeout: float = 2.0,
        write_stall_timeout: float | None = 10.0,
        receive_timeout: float | None = None,
    ) -> None:
        self._stream = stream
        self._url = url
        self._stream_key = stream_key
        self._conn = ClientConnection(
            random=os.urandom(1528), time=_now_ms(), config=config or ConnectionConfig()
        )
        self._demux = demux
        self._demuxer = Demuxer(limits=self._conn.config.limits)
        self._response_timeout = response_timeout
        self._close_timeout = close_timeout
        self._write_stall_timeout = write_stall_timeout
        self._receive_timeout = receive_timeout
        # The reader's wait for input, while it waits (see _receive).
        self._receive_scope: trio.CancelScope | None = None
        if receiver is None:
            send, receive = trio.open_memory_channel[Item](frame_buffer)
            self._frames: FrameChannel | None = FrameChannel(receive, self)
            self._frames_out: trio.MemorySendChannel[Item] = send
        else:
            self._frames = None
            self._frames_out = receiver
        self._send_lock = trio.Lock()
        self._waiters: list[_Waiter] = []
        # Frames the reader could not put in a full channel while a command waited for
        # its answer, and their sizes; the pump delivers them in order (see _deliver).
        self._held: collections.deque[tuple[Item, int]] = collections.deque()
        self._held_bytes = 0
        self._held_added = trio.Event()
        self._held_taken = trio.Event()
        # The reader's wait for the pump (backpressure), which a new waiter cancels.
        self._held_wait: trio.CancelScope | None = None
        # The frames ended with frames still held: the pump closes the channel after them.
        self._close_when_delivered = False
        # The pump is sending a frame it took off ``_held``.
        self._pump_sending = False
        self._lost: BaseException | None = None
        self._closed = False
        self._closing = False
        self._ended = False
        self._frames_error: BaseException | None = None
        self._play_started = False
        self._publish_error: PublishRejected | None = None
        self._reader_scope = trio.CancelScope()
        self._reader_started = False
        self._reader_done = trio.Event()
        self._reader_cancelled = False
        self._eof_sent = False
        self._eof_received = False
        self._close_done = trio.Event()
        self._stream_id: int | None = None
        self._mode: str | None = None
        self._follow = False
        # Paused by pause(), and the last media timestamp played (pause's position).
        self._paused = False
        self._position = 0
        self._started_at = trio.current_time()
        self._bytes_received = 0
        self._bytes_sent = 0
        self._messages_received = 0
        self._messages_sent = 0
        self._frames_delivered = 0
        self._messages_dropped = 0
        #: The properties of the server's connect ``_result`` (fmsVer, capabilities, ...).
        self.server_properties: dict[str, Any] = {}
        self._reconnect_request: ev.ReconnectRequested | None = None

    # -- public API -------------------------------------------------------------

    @property
    def url(self) -> RTMPURL:
        """Where this client is connected."""
        return self._url

    @property
    def stream_key(self) -> str:
        """The stream this client plays or publishes."""
        return self._stream_key

    @property
    def frames(self) -> FrameChannel:
        """The frames of the stream being played (see :class:`FrameChannel`)."""
        if self._frames is None:
            raise RuntimeError("frames go to the receiver given to open_client")
        return self._frames

    @property
    def connection(self) -> ClientConnection:
        """The sans-IO connection underneath (for inspection)."""
        return self._conn

    @property
    def stream_id(self) -> int | None:
        """The message stream playing or publishing, once there is one."""
        return self._stream_id

    @property
    def reconnect_request(self) -> ev.ReconnectRequested | None:
        """The server's latest ReconnectRequest (Enhanced RTMP), or None.

        A server about to go away, or moving clients elsewhere, sends one and keeps
        serving until the client leaves.  The client does not reconnect by itself:
        see :attr:`reconnect_url` and the README's "Reconnect requests".
        """
        return self._reconnect_request

    @property
    def reconnect_url(self) -> RTMPURL | None:
        """Where :attr:`reconnect_request` sends this client (same stream key), or None.

        Raises :class:`~trio_rtmp.core.errors.LocalProtocolError` if the server named a
        URL that is not usable (see :meth:`RTMPURL.reconnect_target`).
        """
        request = self._reconnect_request
        if request is None:
            return None
        return self._url.reconnect_target(request.tc_url)

    def statistics(self) -> ClientStatistics:
        """Bytes, messages, frames and bitrates so far."""
        duration = max(trio.current_time() - self._started_at, 1e-9)
        return ClientStatistics(
            bytes_received=self._bytes_received,
            bytes_sent=self._bytes_sent,
            messages_received=self._messages_received,
            messages_sent=self._messages_sent,
            frames_delivered=self._frames_delivered,
            messages_dropped=self._messages_dropped,
            duration=duration,
            bitrate_in=self._bytes_received * 8 / duration,
            bitrate_out=self._bytes_sent * 8 / duration,
        )

    async def connect(self, *, timeout: float | None = None, **options: Any) -> None:
        """Send ``connect`` and wait for the answer (:func:`open_client` does this).

        ``options`` go to :meth:`ClientConnection.connect` (e.g. ``extra``,
        ``arguments``, ``page_url``, ``swf_url``, ``flash_version``).  Raises
        :class:`ConnectionRejected` if the server refuses.
        """
        url = self._url
        waiter = self._expect(lambda e: isinstance(e, ev.Connected | ev.ConnectRejected))
        self._conn.connect(app=url.app, tc_url=url.tc_url, **options)
        await self._flush()
        event = await self._wait(waiter, "connect", timeout)
        if isinstance(event, ev.ConnectRejected):
            raise ConnectionRejected(event.code, event.description)
        assert isinstance(event, ev.Connected)
        self.server_properties = event.properties

    async def play(
        self, *, start: float = -2000.0, duration: float = -1.0, follow: bool = False
    ) -> None:
        """Play the stream; frames then arrive on :attr:`frames`.

        ``start``/``duration`` are ``play``'s (-2000: live or recorded).  With
        ``follow``, the frames channel stays open when the publisher leaves, and frames
        resume when the next one starts.  Raises :class:`StreamNotFound` or
        :class:`PlayRejected` if the server refuses.
        """
        await self._lost_checkpoint()
        self._check_idle("play")
        stream_id = await self._create_stream(PlayRejected)
        waiter = self._expect(
            lambda e: isinstance(e, ev.PlayStarted | ev.PlayRejected) and e.stream_id == stream_id
        )
        self._mode = "play"
        self._follow = follow
        self._conn.play(stream_id, self._stream_key, start=start, duration=duration)
        await self._flush()
        event = await self._wait(waiter, "play")
        if isinstance(event, ev.PlayRejected):
            self._mode = None
            if event.code == "NetStream.Play.StreamNotFound":
                raise StreamNotFound(event.code, event.description)
            raise PlayRejected(event.code, event.description)

    async def pause(self) -> None:
        """Ask the server to stop sending the stream being played, until :meth:`resume`.

        Returns when the server confirms (NetStream.Pause.Notify); raises
        :class:`ConnectionTimeout` if it does not within ``response_timeout`` (a
        server without ``pause`` support).  The frames channel stays open meanwhile.
        """
        await self._toggle_pause(True)

    async def resume(self) -> None:
        """Resume after :meth:`pause` (NetStream.Unpause.Notify).

        A live stream goes on from the present, not from where it was paused: most
        servers (ours and nginx-rtmp) start again with the sequence headers and a
        keyframe.  If the stream ended while paused (the publisher left, and the
        play was not started with ``follow``), the frames channel has ended and this
        raises :class:`~trio_rtmp.core.errors.LocalProtocolError`, as :meth:`pause`
        does then.
        """
        await self._toggle_pause(False)

    @property
    def paused(self) -> bool:
        """Whether :meth:`pause` is in effect."""
        return self._paused

    async def _toggle_pause(self, paused: bool) -> None:
        await self._lost_checkpoint()
        self._raise_if_lost()
        stream_id = self._stream_id
        what = "pause" if paused else "resume"
        if self._mode != "play" or stream_id is None:
            raise LocalProtocolError(f"cannot {what}: not playing")
        if self._ended:
            # (A play with ``follow`` never ends this way.)
            raise LocalProtocolError(f"cannot {what}: the stream has ended")
        code = "NetStream.Pause.Notify" if paused else "NetStream.Unpause.Notify"
        waiter = self._expect(
            lambda e: (
                isinstance(e, ev.StatusReceived) and e.stream_id == stream_id and e.code == code
            )
        )
        if paused:
            # Before the server's StreamEOF comes: it marks the pause, not the end.
            # (And the server goes quiet: no receive_timeout until resumed.)
            self._paused = True
            self._arm_receive_timeout()
        self._conn.pause(stream_id, paused, float(self._position))
        await self._flush()
        try:
            await self._wait(waiter, what)
        except ConnectionTimeout:
            if paused:
                self._paused = False
            raise
        else:
            self._paused = paused
        finally:
            self._arm_receive_timeout()

    async def publish(self, publish_type: str = "live") -> None:
        """Publish the stream (releaseStream, FCPublish, createStream, publish, as FFmpeg).

        Then send media with :meth:`send_tag`.  Raises :class:`PublishRejected` if
        the server refuses (e.g. NetStream.Publish.BadName for a name in use).
        """
        await self._lost_checkpoint()
        self._check_idle("publish")
        key = self._stream_key
        self._conn.release_stream(key)
        self._conn.fc_publish(key)
        stream_id = await self._create_stream(PublishRejected)
        waiter = self._expect(
            lambda e: (
                isinstance(e, ev.PublishStarted | ev.PublishRejected) and e.stream_id == stream_id
            )
        )
        self._conn.publish(stream_id, key, publish_type)
        await self._flush()
        event = await self._wait(waiter, "publish")
        if isinstance(event, ev.PublishRejected):
            raise PublishRejected(event.code, event.description)
        self._mode = "publish"

    async def send_tag(self, timestamp: int, tag: AnyTag | FlvTag) -> None:
        """Send one FLV tag while publishing.

        ``tag`` is a tag object of :mod:`trio_rtmp.media.flv` (legacy or Enhanced
        RTMP audio/video, or a script tag) or a raw :class:`~trio_rtmp.media.flvfile.FlvTag`.
        ``timestamp`` is in milliseconds.  A script ``onMetaData`` is sent as
        ``@setDataFrame onMetaData``, as FFmpeg does, so the server stores it.
        """
        if isinstance(tag, FlvTag):
            tag_type, body = tag.tag_type, tag.data
        else:
            tag_type, body = tag.tag_type, tag.to_bytes()
        await self.send_raw(tag_type, timestamp, body)

    async def send_raw(self, tag_type: int, timestamp: int, body: bytes) -> None:
        """Send a tag body of type 8 (audio), 9 (video) or 18 (script data)."""
        if self._lost is not None:
            await self._lost_checkpoint()
        stream_id = self._publishing_stream()
        timestamp &= 0xFFFFFFFF
        if tag_type == TagType.VIDEO:
            self._conn.send_video(stream_id, timestamp, body)
        elif tag_type == TagType.AUDIO:
            self._conn.send_audio(stream_id, timestamp, body)
        elif tag_type == TagType.SCRIPT:
            # Sent as it is, not decoded (a file's onMetaData can be big), with the
            # @setDataFrame FFmpeg puts before onMetaData so that the server keeps it.
            if amf0.leading_strings(body, 1) == ("onMetaData",):
                body = _SET_DATA_FRAME + body
            self._conn.send_data_body(stream_id, body, timestamp)
        else:
            raise LocalProtocolError(f"cannot send an FLV tag of type {tag_type}")
        self._messages_sent += 1
        await self._flush()

    async def send_metadata(self, metadata: Mapping[str, Any], timestamp: int = 0) -> None:
        """Send ``@setDataFrame onMetaData`` with ``metadata`` while publishing."""
        await self._lost_checkpoint()
        stream_id = self._publishing_stream()
        self._conn.send_metadata(stream_id, ECMAArray(metadata), timestamp)
        await self._flush()

    async def close(self) -> None:
        """Delete the stream (FCUnpublish and deleteStream) and close the connection."""
        await self.aclose()

    async def aclose(self) -> None:
        """Close politely (delete the stream, under a timeout), then close the socket.

        Idempotent.  Frames already delivered stay in :attr:`frames`; later ones
        are dropped.  The polite part, bounded by ``close_timeout``: deleteStream
        (with FCUnpublish when publishing), then a half-close, and reading until the
        server closes too.  Closing a socket with unread data in it resets the
        connection, and a reset throws away whatever we sent that is still on its
        way (the end of a publish); reading to the server's end avoids that.
        """
        if self._closing:
            await self._close_done.wait()
            return
        self._closing = True
        self._drop_held()
        try:
            with trio.move_on_after(self._close_timeout) as scope:
                scope.shield = True
                await self._say_goodbye()
        finally:
            self._closed = True
            self._conn.close()
            self._reader_scope.cancel()
            await trio.aclose_forcefully(self._stream)
            self._end_frames()
            self._wake_all()
            self._close_done.set()

    async def _say_goodbye(self) -> None:
        if (self._lost is not None and not self._reader_cancelled) or not self._reader_started:
            return  # the connection is broken, or was never used
        try:
            async with self._send_lock:
                if self._stream_id is not None:
                    self._conn.delete_stream(self._stream_id)
                    self._stream_id = None
                data = self._conn.data_to_send()
                if data:
                    await self._stream.send_all(data)
                    self._bytes_sent += len(data)
                self._eof_sent = True
                await _send_eof(self._stream)
            # The reader drains the connection (dropping frames) and ends at its EOF.
            self._end_frames()
            await self._reader_done.wait()
            if not self._eof_received:
                # The reader was cancelled (with the block around the client): drain
                # here, now that nobody else reads.
                while rest := await self._stream.receive_some(_READ_SIZE):
                    self._bytes_received += len(rest)
        except (trio.BrokenResourceError, trio.ClosedResourceError, ProtocolError, OSError):
            return

    # -- internals ------------------------------------------------------------

    def _check_idle(self, what: str) -> None:
        self._raise_if_lost()
        if self._closing:
            raise ConnectionClosed("the client is closed")
        if self._mode is not None:
            raise LocalProtocolError(f"cannot {what}: the client is already {self._mode}ing")

    def _publishing_stream(self) -> int:
        self._raise_if_lost()
        if self._closing:
            raise ConnectionClosed("the client is closed")
        error = self._publish_error
        if error is not None:
            raise PublishRejected(error.code, error.description)
        if self._mode != "publish" or self._stream_id is None:
            raise LocalProtocolError("call publish() before sending media")
        return self._stream_id

    async def _create_stream(self, refusal: type[Refused]) -> int:
        transaction_id = self._conn.create_stream()
        waiter = self._expect(
            lambda e: (
                isinstance(e, ev.StreamCreated | ev.CommandError)
                and e.transaction_id == transaction_id
            )
        )
        await self._flush()
        event = await self._wait(waiter, "createStream")
        if isinstance(event, ev.CommandError):
            # What the caller asked for (play or publish) is what was refused.
            raise refusal(event.code or "NetConnection.Call.Failed", event.description)
        assert isinstance(event, ev.StreamCreated)
        self._stream_id = event.stream_id
        return event.stream_id

    def _expect(self, match: Callable[[ev.Event], bool]) -> _Waiter:
        waiter = _Waiter(match)
        self._waiters.append(waiter)
        if self._held_wait is not None:
            # The reader waits for room for frames: the answer may be behind them, so
            # it must read on (see _deliver).
            self._held_wait.cancel()
        return waiter

    async def _wait(self, waiter: _Waiter, what: str, timeout: float | None = None) -> ev.Event:
        timeout = self._response_timeout if timeout is None else timeout
        try:
            with trio.fail_after(timeout):
                await waiter.done.wait()
        except trio.TooSlowError:
            raise ConnectionTimeout(
                f"no answer to {what} from {self._url.host}:{self._url.port} within {timeout} s"
            ) from None
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
        if waiter.result is None:
            await self._lost_checkpoint()
            self._raise_if_lost()
            raise ConnectionClosed(f"the connection closed while waiting for {what}")
        return waiter.result

    async def _lost_checkpoint(self) -> None:
        """A checkpoint, when the reader task died of a cancellation from outside.

        The caller is then usually being cancelled too (``open_client`` inside a
        cancel scope), and must get its ``Cancelled`` rather than the
        :class:`ConnectionClosed` it would raise first: resuming from a shielded
        checkpoint (taking the send lock) it can see the reader's end before its own
        cancellation, and an exception group of that error would escape the scope.
        """
        if self._reader_cancelled:
            await trio.lowlevel.checkpoint()

    def _raise_if_lost(self) -> None:
        if self._lost is not None:
            raise ConnectionClosed(str(self._lost) or "the connection was lost") from self._lost

    def _raise_if_frames_failed(self) -> None:
        error = self._frames_error
        if error is None:
            return
        if isinstance(error, Refused):
            # The server stopped the play with an error (NetStream.Play.Failed...).
            raise type(error)(error.code, error.description)
        raise ConnectionClosed(str(error) or "the connection was lost") from error

    def _wake_all(self) -> None:
        for waiter in self._waiters:
            waiter.done.set()

    def _end_frames(self, error: BaseException | None = None) -> None:
        """End the frames: cleanly, or with ``error`` raised to the consumer (after the
        frames received before, held ones included)."""
        if not self._ended:
            self._ended = True
            self._frames_error = error
            if (self._held or self._pump_sending) and not self._closing:
                self._close_when_delivered = True
            else:
                self._frames_out.close()
        self._held_added.set()  # the pump delivers the rest, or ends

    def _drop_held(self) -> None:
        """Closing: the frames held for delivery are dropped, as later ones are."""
        if self._held or self._close_when_delivered:
            self._held.clear()
            self._held_bytes = 0
            self._close_when_delivered = False
            self._frames_out.close()
        self._held_added.set()
        self._held_taken.set()

    async def _flush(self) -> None:
        """Send whatever the core has queued."""
        # (Acquiring the lock is where a cancellation lands before anything is taken
        # from the core: what is queued then goes out with the next flush.)
        async with self._send_lock:
            if self._lost is not None:
                await self._lost_checkpoint()
                self._raise_if_lost()
            data = self._conn.data_to_send()
            if not data:
                return
            if self._eof_sent:
                return  # closing: whatever the core still says (acknowledgements) is moot
            try:
                await self._send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                self._lose(exc)
                raise ConnectionClosed(f"sending to the server failed: {exc}") from exc
            except ConnectionClosed:
                raise  # a stall (the connection is lost already)
            except BaseException:
                # Cancelled in the middle: some of the bytes may have gone out, and the
                # chunk stream cannot be resumed.  (Trio's streams say the same.)
                self._lose(ConnectionClosed("a send to the server was interrupted"))
                raise
            self._bytes_sent += len(data)

    async def _send_all(self, data: bytes) -> None:
        """Send ``data``, giving up when no piece of it goes out in ``write_stall_timeout``.

        In pieces of at most 16 KiB (a TLS record), each under the timeout, so that a
        slow but steady server is not taken for a stalled one.
        """
        stall = self._write_stall_timeout
        if stall is None:
            await self._stream.send_all(data)
            return
        view = memoryview(data)
        for offset in range(0, len(view), _SEND_PIECE):
            with trio.move_on_after(stall):
                await self._stream.send_all(view[offset : offset + _SEND_PIECE])
                continue
            # Cancelled in the middle of a piece: the connection is unusable.
            error = ConnectionClosed(
                f"no write progress to {self._url.host}:{self._url.port} for {stall} s "
                "(the server stopped reading)"
            )
            self._lose(error)
            raise error

    def _lose(self, exc: BaseException) -> None:
        if self._closing:
            self._end_frames()
        else:
            if self._lost is None:
                self._lost = exc
            self._end_frames(exc)
        self._wake_all()

    async def _handshake(self, timeout: float) -> None:
        """Run the handshake (called by :func:`connect_client`)."""
        with trio.fail_after(timeout):
            await self._flush()
            while self._conn.state is ConnectionState.HANDSHAKING:
                data = await self._stream.receive_some(_READ_SIZE)
                self._bytes_received += len(data)
                events = self._conn.receive_data(data)
                await self._flush()
                if not data:
                    raise ConnectionClosed("the server closed the connection in the handshake")
                for event in events:
                    self._dispatch_control(event)

    async def _run_reader(
        self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """The one task that reads the connection.  It raises nothing but Cancelled."""
        self._reader_started = True
        try:
            with self._reader_scope:
                task_status.started()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._pump)
                    try:
                        await self._read_loop()
                    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                        self._lose(ConnectionClosed(f"the connection to the server failed: {exc}"))
                    except ProtocolError as exc:
                        logger.warning("protocol error from %s: %s", self._url.host, exc)
                        self._lose(ConnectionClosed(f"the server broke the protocol: {exc}"))
                    except ConnectionClosed as exc:
                        self._lose(exc)
                    except Exception as exc:  # a bug: report it, never kill the user's nursery
                        logger.exception("trio-rtmp client reader failed")
                        self._lose(ConnectionClosed(f"internal error: {exc!r}"))
                    # The pump goes on until it has delivered what it holds (_lose woke it).
        finally:
            self._reader_done.set()
            if not self._closing and self._lost is None:
                # Cancelled from outside (the nursery it runs in): nothing reads any more.
                self._reader_cancelled = True
                self._lose(ConnectionClosed("the client's reader task was cancelled"))
            if self._close_when_delivered:
                # The pump was cancelled too: the frames it held are lost, and the
                # consumer must see the end rather than wait for them.
                self._drop_held()

    async def _read_loop(self) -> None:
        conn = self._conn
        while True:
            data = await self._receive()
            self._bytes_received += len(data)
            conn.feed_data(data)
            while True:
                await self._handle(conn.next_events())
                if not conn.has_pending_input:
                    break
                # One read completed more AMF than one step decodes: let the rest of
                # the program run in between.
                await trio.lowlevel.checkpoint()
            if not data:
                self._eof_received = True
                raise ConnectionClosed("the server closed the connection")

    async def _receive(self) -> bytes | bytearray:
        """Read from the connection, within ``receive_timeout`` while playing."""
        with trio.CancelScope(deadline=self._receive_deadline()) as scope:
            self._receive_scope = scope
            try:
                return await self._stream.receive_some(_READ_SIZE)
            finally:
                self._receive_scope = None
        raise ConnectionClosed(
            f"nothing from {self._url.host}:{self._url.port} for {self._receive_timeout} s "
            "while playing (receive_timeout)"
        )

    def _receive_deadline(self) -> float:
        timeout = self._receive_timeout
        if timeout is None or self._mode != "play" or self._paused:
            return math.inf
        return trio.current_time() + timeout

    def _arm_receive_timeout(self) -> None:
        """Pausing lifts ``receive_timeout`` from the reader's wait, resuming sets it."""
        if self._receive_scope is not None:
            self._receive_scope.deadline = self._receive_deadline()

    async def _handle(self, events: list[ev.Event]) -> None:
        """Act on events from the connection (flushing what handling them queued)."""
        await self._flush()
        for event in events:
            if isinstance(event, ev.AudioData | ev.VideoData):
                self._messages_received += 1
                if event.stream_id == self._stream_id and self._mode == "play":
                    self._position = event.timestamp
                    await self._media(event)
            elif isinstance(event, ev.StreamMetadata):
                if event.stream_id == self._stream_id and self._mode == "play":
                    await self._metadata(event)
            elif isinstance(event, ev.DataTooLarge):
                if event.stream_id == self._stream_id and self._mode == "play":
                    await self._large_data(event)
            else:
                await self._control(event)

    async def _media(self, event: ev.AudioData | ev.VideoData) -> None:
        if self._demux:
            try:
                if isinstance(event, ev.VideoData):
                    frames = self._demuxer.video(event.timestamp, event.payload)
                else:
                    frames = self._demuxer.audio(event.timestamp, event.payload)
            except RemoteProtocolError as exc:
                # One unreadable frame is the publisher's problem, not the connection's:
                # the demuxer is unchanged by it, so skip it and go on.
                self._messages_dropped += 1
                # Once at warning level: a stream whose every frame fails would flood
                # the log (statistics().messages_dropped counts them all).
                logger.log(
                    logging.WARNING if self._messages_dropped == 1 else logging.DEBUG,
                    "skipped a malformed %s message: %s",
                    _kind(event),
                    exc,
                )
                return
            size = len(event.payload) // max(len(frames), 1)  # (one message, its frames)
            for frame in frames:
                await self._deliver(frame, size)
        else:
            tag_type = TagType.VIDEO if isinstance(event, ev.VideoData) else TagType.AUDIO
            tag = FlvTag(int(tag_type), event.timestamp, event.payload)
            await self._deliver(tag, len(event.payload))

    async def _metadata(self, event: ev.StreamMetadata) -> None:
        if self._demux:
            worst = _AMF_EXPANSION * self._conn.config.limits.max_amf_message_size
            await self._deliver(Metadata("onMetaData", event.metadata), worst)
        else:
            body = amf0.encode("onMetaData", ECMAArray(event.metadata))
            await self._deliver(FlvTag(int(TagType.SCRIPT), event.timestamp, body), len(body))

    async def _large_data(self, event: ev.DataTooLarge) -> None:
        if event.names[:1] != ("onMetaData",):
            return  # other data messages are not delivered (see _control)
        if self._demux:
            logger.warning(
                "skipped an onMetaData of %d bytes, over the limit of AMF data decoded "
                "(Limits.max_amf_message_size)",
                len(event.payload),
            )
        else:
            # Passed on as it came, undecoded: a recording keeps it whole.
            tag = FlvTag(int(TagType.SCRIPT), event.timestamp, event.payload)
            await self._deliver(tag, len(event.payload))

    async def _deliver(self, item: Item, size: int = 0) -> None:
        """Put ``item`` (of about ``size`` payload bytes) in the frames channel.

        A full channel pushes back: the reader waits, stops reading the socket, and the
        server has to slow down.  Except while a command waits for its answer (pause,
        resume...): the answer may be behind media the server already sent, so the
        reader reads on and holds the frames that do not fit (up to _HELD_BYTES), and
        the pump task puts them in the channel, in order, as room comes.
        """
        if self._ended:
            return
        if not self._held:
            try:
                self._frames_out.send_nowait(item)
            except trio.WouldBlock:
                pass
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                # The consumer closed its end: keep the connection, drop the frames.
                self._ended = True
                return
            else:
                self._frames_delivered += 1
                return
        size += _HELD_ITEM_COST
        if type(item) is VideoSample and type(item.payload) is list:
            size += _HELD_NAL_COST * len(item.payload)
        self._held.append((item, size))
        self._held_bytes += size
        self._held_added.set()
        while self._held and (not self._waiters or self._held_bytes > _HELD_BYTES):
            with trio.CancelScope() as self._held_wait:
                await self._held_taken.wait()
            self._held_wait = None

    async def _pump(self) -> None:
        """Deliver the frames :meth:`_deliver` holds, in order, as the channel takes them."""
        held = self._held
        while True:
            if not held:
                if self._ended:
                    if self._close_when_delivered:
                        self._frames_out.close()
                    return
                await self._held_added.wait()
                self._held_added = trio.Event()
                continue
            # Taken off first: closing may clear ``held`` while the send waits.  (The
            # order holds: while this send waits the channel is full, so the reader's
            # next frame is held behind it, and a receive takes this one first.)
            item, size = held.popleft()
            self._held_bytes -= size
            self._pump_sending = True
            try:
                await self._frames_out.send(item)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._ended = True  # the consumer closed its end (or the client closed)
                held.clear()
                self._held_bytes = 0
            else:
                self._frames_delivered += 1
            finally:
                self._pump_sending = False
            self._held_taken.set()
            self._held_taken = trio.Event()

    async def _control(self, event: ev.Event) -> None:
        self._dispatch_control(event)
        stream_id = self._stream_id
        if self._mode == "publish":
            if isinstance(event, ev.PublishRejected) and event.stream_id == stream_id:
                # The server stopped taking our media (a takeover, an admin's kick).
                logger.warning("the server stopped the publish: %s", event.code)
                self._publish_error = PublishRejected(event.code, event.description)
            return
        if self._mode != "play":
            return
        if isinstance(event, ev.StreamPublished) and event.stream_id == stream_id:
            # A new publisher (PublishNotify): its codecs, tracks and times are its own.
            self._demuxer.reset()
        if isinstance(event, ev.PlayStarted) and event.stream_id == stream_id:
            self._play_started = True
        elif isinstance(event, ev.PlayRejected) and event.stream_id == stream_id:
            if self._play_started:  # (before that, play() raises it)
                error: PlayRejected = (
                    StreamNotFound(event.code, event.description)
                    if event.code == "NetStream.Play.StreamNotFound"
                    else PlayRejected(event.code, event.description)
                )
                self._end_frames(error)
        elif self._follow or not self._play_started:
            return
        elif isinstance(event, ev.StreamEnded) and self._paused:
            return  # a paused stream's StreamEOF: it goes on after resume()
        elif isinstance(event, ev.StreamUnpublished | ev.StreamEnded | ev.PlayStopped):
            if event.stream_id == stream_id:
                # The end of the stream: a clean end of the frames.
                self._end_frames()
        elif (
            isinstance(event, ev.CommandReceived)
            and event.command.name == "deleteStream"
            and event.command.arguments[:1] in ((float(stream_id or 0),), (0.0,))
        ):
            # FFmpeg serving a file (-listen 1) deletes the stream when it is done (the
            # stream it names is 0, the one it sent the media on).
            self._end_frames()

    def _dispatch_control(self, event: ev.Event) -> None:
        for waiter in list(self._waiters):
            if not waiter.done.is_set() and waiter.match(event):
                waiter.result = event
                waiter.done.set()
                break
        if isinstance(event, ev.ReconnectRequested):
            self._reconnect_request = event
            logger.info("the server asks for a reconnect (%s)", event.tc_url or "same URL")


async def _send_eof(stream: trio.abc.Stream) -> None:
    """Half-close the connection: TCP's FIN (under TLS, without a close_notify)."""
    if isinstance(stream, trio.SSLStream):
        stream = stream.transport_stream
    if isinstance(stream, trio.abc.HalfCloseableStream):
        await stream.send_eof()


def _kind(event: ev.AudioData | ev.VideoData) -> str:
    return "video" if isinstance(event, ev.VideoData) else "audio"


def _now_ms() -> int:
    return int(trio.current_time() * 1000) & 0xFFFFFFFF if _in_trio() else 0


def _in_trio() -> bool:
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        return False
    return True


# TCP keepalive: probes after 30 s of quiet, every 10 s, 3 of them (see _keep_alive).
_KEEPALIVE = (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3))


def _keep_alive(tcp: trio.SocketStream) -> None:
    """Have TCP probe the connection after 30 s of quiet, every 10 s, 3 times.

    A player only receives, so without this a server whose host lost power or its
    network leaves the connection open forever (nothing to send, no error); with it
    the connection fails about a minute after the last byte came.  A live server's
    kernel answers the probes, whatever the server does.
    """
    with contextlib.suppress(OSError):
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, True)
        for name, value in _KEEPALIVE:
            option = getattr(socket, name, None)
            if option is not None:  # (not every platform has all three)
                tcp.setsockopt(socket.IPPROTO_TCP, option, value)


async def _open_stream(
    url: RTMPURL, ssl_context: ssl.SSLContext | None, timeout: float
) -> trio.abc.Stream:
    try:
        with trio.fail_after(timeout):
            tcp = await trio.open_tcp_stream(url.host, url.port)
            _keep_alive(tcp)
            if not url.tls:
                return tcp
            context = ssl_context or ssl.create_default_context()
            tls = trio.SSLStream(tcp, context, server_hostname=url.host)
            try:
                await tls.do_handshake()
            except BaseException:
                await trio.aclose_forcefully(tcp)
                raise
            return tls
    except trio.TooSlowError:
        raise ConnectionTimeout(
            f"could not connect to {url.host}:{url.port} within {timeout} s"
        ) from None
    except (OSError, trio.BrokenResourceError) as exc:
        raise ConnectionFailed(
            f"could not connect to {url.host}:{url.port}: {_reason(exc)}"
        ) from exc


def _reason(exc: BaseException) -> str:
    """Why connecting failed, in words: the TLS error or each address's socket error."""
    cause = exc.__cause__
    if isinstance(exc, trio.BrokenResourceError) and cause is not None:
        return str(cause)  # the ssl.SSLError
    if isinstance(cause, BaseExceptionGroup):
        # trio.open_tcp_stream: "all attempts failed", caused by one error per address.
        reasons = dict.fromkeys(
            e.strerror or str(e) if isinstance(e, OSError) else str(e) for e in cause.exceptions
        )
        return "; ".join(reasons)
    return str(exc)


async def connect_client(
    nursery: trio.Nursery,
    uri: str,
    stream_key: str | None = None,
    *,
    receiver: trio.MemorySendChannel[Item] | None = None,
    connect_timeout: float = 10.0,
    response_timeout: float = 10.0,
    close_timeout: float = 2.0,
    write_stall_timeout: float | None = 10.0,
    receive_timeout: float | None = None,
    ssl_context: ssl.SSLContext | None = None,
    frame_buffer: int = 64,
    demux: bool = True,
    config: ConnectionConfig | None = None,
    connect_options: Mapping[str, Any] | None = None,
) -> RTMPClient:
    """Connect (TCP or TLS), handshake and ``connect``; the reader runs in ``nursery``.

    The low-level form of :func:`open_client`: the caller must ``await client.aclose()``.
    See :func:`open_client` for the arguments.
    """
    url = parse_url(uri, stream_key)
    if not math.isfinite(connect_timeout) or connect_timeout <= 0:
        raise ValueError("connect_timeout must be a positive number of seconds")
    for name, value in (
        ("write_stall_timeout", write_stall_timeout),
        ("receive_timeout", receive_timeout),
    ):
        if value is not None and not value > 0:
            raise ValueError(f"{name} must be a positive number of seconds or None")
    stream = await _open_stream(url, ssl_context, connect_timeout)
    client = RTMPClient(
        stream,
        url,
        stream_key=url.stream_key,
        receiver=receiver,
        frame_buffer=frame_buffer,
        demux=demux,
        config=config,
        response_timeout=response_timeout,
        close_timeout=close_timeout,
        write_stall_timeout=write_stall_timeout,
        receive_timeout=receive_timeout,
    )
    try:
        try:
            await client._handshake(connect_timeout)
        except trio.TooSlowError:
            raise ConnectionTimeout(
                f"no RTMP handshake from {url.host}:{url.port} within {connect_timeout} s"
            ) from None
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            raise ConnectionClosed(f"the connection failed during the handshake: {exc}") from exc
        except ProtocolError as exc:
            raise ConnectionClosed(f"the server broke the handshake: {exc}") from exc
        await nursery.start(client._run_reader)
        await client.connect(timeout=connect_timeout, **dict(connect_options or {}))
    except BaseException:
        with trio.CancelScope(shield=True):
            await client.aclose()
        raise
    return client


def _unwrap(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one exception in a group of one (recursively), else None."""
    exceptions = group.exceptions
    while len(exceptions) == 1 and isinstance(exceptions[0], BaseExceptionGroup):
        exceptions = exceptions[0].exceptions
    return exceptions[0] if len(exceptions) == 1 else None


@asynccontextmanager
async def open_client(
    uri: str,
    stream_key: str | None = None,
    *,
    receiver: trio.MemorySendChannel[Item] | None = None,
    connect_timeout: float = 10.0,
    response_timeout: float = 10.0,
    close_timeout: float = 2.0,
    write_stall_timeout: float | None = 10.0,
    receive_timeout: float | None = None,
    ssl_context: ssl.SSLContext | None = None,
    frame_buffer: int = 64,
    demux: bool = True,
    config: ConnectionConfig | None = None,
    connect_options: Mapping[str, Any] | None = None,
) -> AsyncIterator[RTMPClient]:
    """Connect to an RTMP server and yield a connected :class:`RTMPClient`.

    - ``uri``: ``rtmp://host[:port]/app[/instance]/key`` or ``rtmps://...``.
    - ``stream_key``: when given, the URL's whole path is the app and this is the
      key; otherwise the key is the URL's last path segment (as FFmpeg splits it).
    - ``receiver``: a ``trio.MemorySendChannel`` to deliver frames to instead of
      ``client.frames`` (it is closed when the stream ends; pass a clone to share it).
      A plain channel cannot carry an exception: a lost connection closes it too,
      and the client's next call raises :class:`ConnectionClosed`.
    - ``connect_timeout``: for TCP, TLS, the handshake and the connect answer, each.
    - ``response_timeout``: for the answers to ``play``/``publish``.
    - ``close_timeout``: for the polite goodbye when closing.
    - ``write_stall_timeout``: a send (``send_tag``, a command) that gets less than
      16 KiB out in this long ends the connection with :class:`ConnectionClosed`: the
      server stopped reading, or its host is gone without a word.  ``None``: wait
      forever.
    - ``receive_timeout``: while playing (and not paused), nothing at all from the
      server for this long ends the connection with :class:`ConnectionClosed` (a hung
      server).  Off (``None``) by default: a stream waiting for its publisher (with
      ``follow``) is quiet but for the server's pings, which come every 30 s from ours
      and every 60 s from nginx-rtmp.  A server whose host is gone is noticed without
      it: TCP keepalive probes a connection that has been quiet for 30 s.
    - ``ssl_context``: for ``rtmps://``; certificates are checked by default.
    - ``frame_buffer``: how many frames may wait for the consumer (backpressure).
    - ``demux``: ``False`` delivers raw :class:`~trio_rtmp.media.flvfile.FlvTag`
      values instead of frames (for relaying without parsing).
    - ``connect_options``: more ``connect`` command options (``extra`` members...).

    Leaving the block closes the client politely and always closes the socket.
    Errors are our exceptions (:mod:`trio_rtmp.exceptions`), never exception groups:
    :class:`ConnectionFailed` (no connection: refused, unreachable, TLS certificate),
    :class:`ConnectionTimeout`, :class:`ConnectionRejected` (``connect`` refused, or
    the server hung up instead of answering it), :class:`ConnectionClosed`.
    """
    single: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            client = await connect_client(
                nursery,
                uri,
                stream_key,
                receiver=receiver,
                connect_timeout=connect_timeout,
                response_timeout=response_timeout,
                close_timeout=close_timeout,
                write_stall_timeout=write_stall_timeout,
                receive_timeout=receive_timeout,
                ssl_context=ssl_context,
                frame_buffer=frame_buffer,
                demux=demux,
                config=config,
                connect_options=connect_options,
            )
            try:
                yield client
            finally:
                await client.aclose()
    except BaseExceptionGroup as group:
        single = _unwrap(group)
        if single is None:
            raise
    if single is not None:
        # Raised outside the except block, so the group does not become its context.
        raise single
