"""A live relay server, built only on the public server API.

Streams are keyed by app and stream key.  One publisher per stream, any number of
players; late joiners get the metadata, every track's sequence headers and the cached
GOP (from the last keyframe of the first video track) first.  A slow player never
slows the publisher or the other players: each player's output is bounded in bytes,
and when it is full the relay drops that player's non-key video (then its audio)
until the next keyframe; sequence headers and metadata are never dropped.  A player
whose writes stall is disconnected by the server (``write_stall_timeout``).

.. code-block:: python

    relay = trio_rtmp.relay.Relay()
    async with trio.open_nursery() as nursery:
        server = await nursery.start(relay.serve, 1935)

Each message is chunked once (per receiving stream id) and the same bytes go to every
player; the messages of one read of the publisher's connection go out together, so
a player that keeps up costs one non-blocking ``send`` per read and no Python work per
chunk.  Optional: FLV recording per stream, push of every stream (or some) to
upstream RTMP URLs with reconnect and backoff, and an auth hook.
"""

from __future__ import annotations

import collections
import contextlib
import inspect
import logging
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import attrs
import trio

from .core import amf0
from .core import events as ev
from .core.amf import ECMAArray
from .core.errors import LocalProtocolError
from .core.url import RTMPURL
from .media.flv import (
    GopTrack,
    TagType,
    is_audio_multichannel_config,
    is_audio_sequence_header,
    is_video_metadata,
    track_ids,
    video_info,
)
from .media.flvfile import FlvTag, FlvWriter
from .server import (
    PreparedBatch,
    PreparedMessage,
    Reject,
    RTMPServer,
    ServerConfig,
    ServerHandler,
    ServerSession,
    serve_rtmp,
)

__all__ = [
    "AuthRequest",
    "Relay",
    "RelayConfig",
    "RelayStream",
    "StreamStatistics",
]

logger = logging.getLogger(__name__)

# What a relayed message is, for the slow-player policy.
_HEADER, _KEY, _INTER, _AUDIO = range(4)
# The most configuration messages a stream keeps (a few per track in practice).
_MAX_HEADERS = 64


@attrs.frozen(kw_only=True)
class AuthRequest:
    """What the auth hook decides on."""

    #: "publish" or "play".
    action: str
    app: str
    #: The stream key without its query string.
    stream_key: str
    #: The query string's parameters (``key?token=abc`` gives ``{"token": "abc"}``),
    #: with those of the app (``rtmp://host/app?x=1/key``) merged in.
    query: dict[str, str]
    #: The client's address.
    remote_address: Any = None


AuthHook = Callable[[AuthRequest], bool | Awaitable[bool]]


@attrs.frozen(kw_only=True)
class RelayConfig:
    """How the relay behaves."""

    #: A player of a stream that is not live waits for its publisher (and gets
    #: NetStream.Play.PublishNotify when it starts); else it gets StreamNotFound.
    wait_for_publisher: bool = True
    #: The GOP cache is bounded in frames (messages) and bytes; a GOP over either
    #: limit is not cached (late joiners then start at the next keyframe).
    gop_cache_frames: int = 1000
    gop_cache_bytes: int = 16 * 1024 * 1024
    #: Output bytes a player may have queued before the relay drops for it.
    player_queue_bytes: int = 1024 * 1024
    #: Record every stream as FLV under this folder (``app/key-YYYYmmdd-HHMMSS.flv``,
    #: made at the stream's first audio or video message).
    record_dir: str | None = None
    #: Push every stream to these upstream URLs (``rtmp://host/app``: the stream key
    #: is appended), reconnecting with backoff while the stream is live and moving
    #: where an upstream's ReconnectRequest says (at the next keyframe).
    push: tuple[str, ...] = ()
    #: Which streams to push, by ``(app, stream_key)``; all when ``None``.
    push_filter: Callable[[str, str], bool] | None = None
    #: Decides publish and play requests; may be async.  Refused requests get
    #: NetStream.Publish.BadName / NetStream.Play.Failed.
    auth: AuthHook | None = None
    #: Applications clients may connect to; any when ``None``.
    apps: frozenset[str] | None = None
    #: Messages waiting for the recorder or a pusher (each) before dropping.  A
    #: warning is logged when one starts dropping, and another, with the count it
    #: missed, when it catches up.
    forward_buffer: int = 2048


@attrs.frozen(kw_only=True)
class StreamStatistics:
    """One relayed stream's counters (``Relay.statistics()``)."""

    app: str
    stream_key: str
    live: bool
    players: int
    #: Incoming bitrate (bits/s) and video frame rate over the last few seconds.
    bitrate: float
    fps: float
    #: Messages received from publishers, and bytes of them.
    messages: int
    bytes: int
    #: Messages dropped for slow players (summed over players).
    dropped: int
    #: Seconds since the current publisher started (0 when not live).
    uptime: float


class _Player:
    """One playing client of a stream."""

    __slots__ = ("dropped", "dropping", "paused", "session", "stream_id")

    def __init__(self, session: ServerSession, stream_id: int) -> None:
        self.session = session
        self.stream_id = stream_id
        # Paused by the player: out of the fan-out until it resumes.
        self.paused = False
        # Dropping non-key video until the next keyframe that fits.
        self.dropping = False
        self.dropped = 0


class _Meter:
    """Bitrate and frame rate over a sliding window of one-second buckets."""

    def __init__(self) -> None:
        self._buckets: collections.deque[tuple[float, int, int]] = collections.deque(maxlen=5)
        self._start = time.monotonic()
        self._bytes = 0
        self._frames = 0

    def add(self, size: int, frame: bool) -> None:
        now = time.monotonic()
        if now - self._start >= 1.0:
            self._buckets.append((now - self._start, self._bytes, self._frames))
            self._start = now
            self._bytes = 0
            self._frames = 0
        self._bytes += size
        self._frames += frame

    def rates(self) -> tuple[float, float]:
        seconds = sum(b[0] for b in self._buckets) + (time.monotonic() - self._start)
        if seconds <= 0:
            return 0.0, 0.0
        size = sum(b[1] for b in self._buckets) + self._bytes
        frames = sum(b[2] for b in self._buckets) + self._frames
        return size * 8 / seconds, frames / seconds


class RelayStream:
    """A stream of the relay: its publisher, players and caches."""

    def __init__(self, relay: Relay, app: str, stream_key: str) -> None:
        self.relay = relay
        self.app = app
        self.stream_key = stream_key
        self.publisher: tuple[ServerSession, int] | None = None
        self.players: dict[tuple[ServerSession, int], _Player] = {}
        self._player_list: list[_Player] = []
        self.metadata: PreparedMessage | None = None
        # The latest configuration of each track, oldest first: sequence headers,
        # Enhanced RTMP video metadata (colorInfo) and audio MultichannelConfig, by
        # (message type, which of the two, tracks).
        self._headers: dict[tuple[int, bool, tuple[int, ...]], PreparedMessage] = {}
        # Which video keyframes start a GOP (of a multitrack stream: the first track's).
        self.gop_track = GopTrack()
        self._gop: list[PreparedMessage] = []
        self._gop_bytes = 0
        self._gop_valid = False
        self._meter = _Meter()
        self.messages = 0
        self.bytes = 0
        self._dropped_gone = 0
        self._live_since = 0.0
        self._forwards: list[trio.MemorySendChannel[FlvTag]] = []
        # The forwards that are behind, and how many messages each has missed so far.
        self._forward_dropped: dict[trio.MemorySendChannel[FlvTag], int] = {}
        # Messages relayed but not yet sent to the players (see flush()).
        self._pending: list[tuple[PreparedMessage, int]] = []

    @property
    def live(self) -> bool:
        """Whether a publisher is sending."""
        return self.publisher is not None

    @property
    def headers(self) -> list[PreparedMessage]:
        """The configuration messages a new player gets before the GOP.

        The latest sequence header of each audio and video track (multitrack streams
        have one per track), and each track's latest Enhanced RTMP video metadata
        (colorInfo) and audio MultichannelConfig, in the order they came.
        """
        return list(self._headers.values())

    @property
    def video_header(self) -> PreparedMessage | None:
        """The latest video sequence header (of any track), if any."""
        return self._latest(TagType.VIDEO)

    @property
    def audio_header(self) -> PreparedMessage | None:
        """The latest audio sequence header (of any track), if any."""
        return self._latest(TagType.AUDIO)

    def _latest(self, tag_type: int) -> PreparedMessage | None:
        for (kind, extra, _), message in reversed(self._headers.items()):
            if kind == tag_type and not extra:
                return message
        return None

    def statistics(self) -> StreamStatistics:
        """This stream's counters."""
        bitrate, fps = self._meter.rates() if self.live else (0.0, 0.0)
        return StreamStatistics(
            app=self.app,
            stream_key=self.stream_key,
            live=self.live,
            players=len(self.players),
            bitrate=bitrate,
            fps=fps,
            messages=self.messages,
            bytes=self.bytes,
            dropped=self._dropped_gone + sum(p.dropped for p in self.players.values()),
            uptime=trio.current_time() - self._live_since if self.live else 0.0,
        )

    # -- publisher side -------------------------------------------------------

    def start(self, session: ServerSession, stream_id: int) -> None:
        self.publisher = (session, stream_id)
        self._live_since = trio.current_time()
        self._meter = _Meter()
        for player in self.players.values():
            # Video only from the first keyframe on: what comes before cannot be decoded.
            player.dropping = True
            player.session.notify_publish(player.stream_id)
        self._forwards = self.relay._start_forwards(self)

    def stop(self) -> None:
        self.flush()
        self.publisher = None
        for player in self.players.values():
            if not player.session.closed:
                player.session.notify_unpublish(player.stream_id)
        # The next publisher may send other codecs: forget everything cached.
        self.metadata = None
        self._headers = {}
        self.gop_track = GopTrack()
        self._gop = []
        self._gop_bytes = 0
        self._gop_valid = False
        for channel in self._forwards:
            channel.close()
        self._forwards = []
        self._forward_dropped.clear()
        self.relay._forget_if_unused(self)

    def set_metadata(self, metadata: dict[str, Any], timestamp: int = 0) -> None:
        body = amf0.encode("onMetaData", ECMAArray(metadata))
        self.metadata = PreparedMessage(18, timestamp, body)
        self._pending.append((self.metadata, _HEADER))
        self._forward(FlvTag(18, timestamp, body))

    def clear_metadata(self) -> None:
        """Forget the metadata (``@clearDataFrame``): players that join later get none."""
        self.metadata = None

    def publish_data(self, timestamp: int, values: tuple[Any, ...]) -> None:
        """Relay a data message of the publisher (``onCuePoint``, ``onTextData``...).

        Players get it as it comes (dropped, like audio, for a player that is behind;
        not kept for late joiners), pushes send it on, recordings keep it in place.
        """
        try:
            body = amf0.encode(*values)
        except LocalProtocolError:
            # Only possible for values from an AMF3 message that AMF0 cannot hold.
            logger.debug("%s/%s: data message not relayed", self.app, self.stream_key)
            return
        self.messages += 1
        self.bytes += len(body)
        self._pending.append((PreparedMessage(18, timestamp, body), _AUDIO))
        if self._forwards:
            self._forward(FlvTag(18, timestamp, body))

    def publish(self, tag: FlvTag) -> None:
        """Relay one message of the publisher (the hot path)."""
        body = tag.data
        size = len(body)
        self.messages += 1
        self.bytes += size
        message = PreparedMessage(tag.tag_type, tag.timestamp, body)
        if tag.tag_type == 9:
            key, header = video_info(body)
            if header:
                self._keep_header(9, False, body, message)
                kind = _HEADER
            elif not key and size and body[0] & 0x80 and is_video_metadata(body):
                self._keep_header(9, True, body, message)
                kind = _HEADER
            elif key and self.gop_track.starts_gop(body):
                self._gop = [message]
                self._gop_bytes = size
                self._gop_valid = True
                kind = _KEY
            else:
                # Also the keyframes of the other video tracks of a multitrack
                # stream: a player starting there could not decode the first track.
                kind = _INTER
                self._cache(message, size)
            frame = kind != _HEADER
            if frame and size and body[0] & 0x80:
                # Enhanced RTMP: the frames of the first video track make the frame rate.
                frame = (self.gop_track.track or 0) in track_ids(9, body)
            self._meter.add(size, frame)
        else:
            self._meter.add(size, False)
            if is_audio_sequence_header(body):
                self._keep_header(8, False, body, message)
                kind = _HEADER
            elif size and body[0] >> 4 == 9 and is_audio_multichannel_config(body):
                self._keep_header(8, True, body, message)
                kind = _HEADER
            else:
                kind = _AUDIO
                self._cache(message, size)
        # Fanned out once per read of the publisher's connection (flush(), called
        # from the handler's on_batch_end): one write per player for all of it.
        self._pending.append((message, kind))
        if self._forwards:
            self._forward(tag)

    def _keep_header(
        self, tag_type: int, extra: bool, body: bytes, message: PreparedMessage
    ) -> None:
        headers = self._headers
        key = (tag_type, extra, track_ids(tag_type, body))
        # The latest goes last: a new player gets the configurations in the order
        # the publisher last sent them.
        headers.pop(key, None)
        headers[key] = message
        if len(headers) > _MAX_HEADERS:
            # Only a publisher cycling through track combinations gets here.
            del headers[next(iter(headers))]

    def _cache(self, message: PreparedMessage, size: int) -> None:
        if not self._gop_valid:
            return
        config = self.relay.config
        if (
            len(self._gop) >= config.gop_cache_frames
            or self._gop_bytes + size > config.gop_cache_bytes
        ):
            # Over the limits: no GOP for late joiners until the next keyframe.
            self._gop = []
            self._gop_bytes = 0
            self._gop_valid = False
            return
        self._gop.append(message)
        self._gop_bytes += size

    def flush(self) -> None:
        """Send the messages relayed since the last flush to every player."""
        pending = self._pending
        if not pending:
            return
        self._pending = []
        if len(pending) == 1:
            self._fan_out(*pending[0])
            return
        limit = self.relay.config.player_queue_bytes
        batch = PreparedBatch([message for message, _ in pending])
        for player in self._player_list:
            session = player.session
            if player.dropping or session.queued_bytes >= limit:
                # A player behind: the per-message rules decide what it still gets.
                for message, kind in pending:
                    self._deliver(player, session, message, kind, limit)
            else:
                session.write_prepared(player.stream_id, batch)

    def _fan_out(self, message: PreparedMessage, kind: int) -> None:
        limit = self.relay.config.player_queue_bytes
        for player in self._player_list:
            self._deliver(player, player.session, message, kind, limit)

    @staticmethod
    def _deliver(
        player: _Player, session: ServerSession, message: PreparedMessage, kind: int, limit: int
    ) -> None:
        """The slow-player policy for one message and one player."""
        if kind != _HEADER:
            queued = session.queued_bytes
            if kind == _KEY:
                if queued >= limit:
                    player.dropping = True
                    player.dropped += 1
                    session.dropped += 1
                    return
                player.dropping = False
            elif kind == _INTER:
                if player.dropping or queued >= limit:
                    player.dropping = True
                    player.dropped += 1
                    session.dropped += 1
                    return
            elif queued >= limit:
                player.dropped += 1
                session.dropped += 1
                return
        session.write_prepared(player.stream_id, message)

    def forward_dropped(self, channel: trio.MemorySendChannel[FlvTag]) -> bool:
        """Whether a recorder's or pusher's channel is missing messages (it fell behind)."""
        return channel in self._forward_dropped

    def _forward(self, tag: FlvTag) -> None:
        dropped = self._forward_dropped
        for channel in self._forwards:
            try:
                channel.send_nowait(tag)
            except trio.WouldBlock:
                # Said once when it falls behind and once when it catches up, not for
                # every message (that would be dozens of lines a second).
                count = dropped.get(channel, 0)
                if not count:
                    logger.warning(
                        "relay %s/%s: a recorder or pusher is behind; dropping its "
                        "messages until it catches up",
                        self.app,
                        self.stream_key,
                    )
                dropped[channel] = count + 1
                continue
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                continue
            if dropped and channel in dropped:
                logger.warning(
                    "relay %s/%s: a recorder or pusher caught up; it missed %d messages",
                    self.app,
                    self.stream_key,
                    dropped.pop(channel),
                )

    def snapshot(self) -> list[FlvTag]:
        """What a new consumer needs first: metadata, sequence headers, the GOP."""
        return [FlvTag(m.type_id, m.timestamp, m.payload) for m in self._start_messages()]

    def _start_messages(self) -> list[PreparedMessage]:
        first = [self.metadata] if self.metadata is not None else []
        return first + self.headers + (self._gop if self._gop_valid else [])

    # -- player side ----------------------------------------------------------

    @property
    def _starts_at_next_keyframe(self) -> bool:
        # Without a cached GOP (none yet, or over the cache's bounds) a player starting
        # now waits for the next keyframe: the frames before it cannot be decoded.
        return not (self.live and self._gop_valid)

    def add_player(self, session: ServerSession, stream_id: int) -> None:
        player = _Player(session, stream_id)
        player.dropping = self._starts_at_next_keyframe
        self.players[session, stream_id] = player
        self._update_player_list()

    def _update_player_list(self) -> None:
        # The fan-out's list: the players that are not paused.
        self._player_list = [p for p in self.players.values() if not p.paused]

    def pause_player(self, session: ServerSession, stream_id: int, paused: bool) -> None:
        """Stop sending to a player that paused; start it over when it resumes.

        A live stream resumes at the present: the player gets what a late joiner
        gets (metadata, sequence headers, the GOP since the last keyframe), then
        the live messages.
        """
        player = self.players.get((session, stream_id))
        if player is None or player.paused == paused:
            return
        # What is pending goes out first, to this player too if it is pausing.
        self.flush()
        player.paused = paused
        if not paused:
            self.start_player(session, stream_id)
            player.dropping = self._starts_at_next_keyframe
        self._update_player_list()

    def start_player(self, session: ServerSession, stream_id: int) -> None:
        """Send a player that just started what it needs to begin decoding."""
        # What is pending is in the caches already: the others get it first.
        self.flush()
        if not self.live:
            return
        headers = self.headers
        gop = self._gop if self._gop_valid else []
        if gop:
            # Stamp the sequence headers with the GOP's first time, so a late joiner's
            # timeline starts where its media does (a recording of it would otherwise
            # begin minutes before its first frame).  Not the metadata: it stays at 0,
            # as nginx-rtmp sends it, for FFmpeg reads an onMetaData stamped later as
            # a subtitle stream (and then cannot copy the play into MP4).
            start = gop[0].timestamp
            headers = [PreparedMessage(m.type_id, start, m.payload) for m in headers]
        metadata = [self.metadata] if self.metadata is not None else []
        for message in metadata + headers + gop:
            session.write_prepared(stream_id, message)

    def remove_player(self, session: ServerSession, stream_id: int) -> None:
        player = self.players.pop((session, stream_id), None)
        if player is not None:
            self._dropped_gone += player.dropped
            self._update_player_list()
        self.relay._forget_if_unused(self)


def _split_name(name: str) -> tuple[str, dict[str, str]]:
    key, _, query = name.partition("?")
    return key, dict(parse_qsl(query, keep_blank_values=True))


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
#: A recording keeps at most this many data messages that come before its first audio
#: or video message (the file is made then).
_EARLY_DATA_MESSAGES = 100


def _safe(name: str) -> str:
    """A stream or app name made safe for a file name (no separators, no '..')."""
    cleaned = _UNSAFE.sub("_", name)[:100].lstrip(".")
    return cleaned or "_"


class _RelayHandler(ServerHandler):
    """The per-connection handler of a :class:`Relay`."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self._app = ""
        self._app_query: dict[str, str] = {}
        # stream id -> the stream it publishes or plays
        self._publishing: dict[int, RelayStream] = {}
        self._playing: dict[int, RelayStream] = {}

    async def on_connect(self, request: ev.ConnectRequest) -> None:
        app, query = _split_name(request.app)
        app = app.rstrip("/")
        allowed = self.relay.config.apps
        if allowed is not None and app not in allowed:
            raise Reject(f"No application {app!r}.", code="NetConnection.Connect.InvalidApp")
        self._app = app
        self._app_query = query

    async def _authorize(self, action: str, key: str, query: dict[str, str]) -> None:
        hook = self.relay.config.auth
        if hook is None:
            return
        request = AuthRequest(
            action=action,
            app=self._app,
            stream_key=key,
            query={**self._app_query, **query},
            remote_address=self.session.remote_address,
        )
        verdict = hook(request)
        if inspect.isawaitable(verdict):
            verdict = await verdict
        if not verdict:
            code = "NetStream.Publish.BadName" if action == "publish" else "NetStream.Play.Failed"
            raise Reject(f"Not allowed to {action} {key!r}.", code=code)

    async def on_publish(self, request: ev.PublishRequest) -> None:
        key, query = _split_name(request.stream_key)
        await self._authorize("publish", key, query)
        stream = self.relay._stream(self._app, key)
        if stream.live:
            raise Reject(f"{key} is already being published.", code="NetStream.Publish.BadName")
        stream.start(self.session, request.stream_id)
        self._publishing[request.stream_id] = stream
        logger.info("%s/%s: published by %s", self._app, key, _who(self.session))

    async def on_play(self, request: ev.PlayRequest) -> None:
        key, query = _split_name(request.stream_key)
        await self._authorize("play", key, query)
        existing = self.relay.streams.get((self._app, key))
        if not self.relay.config.wait_for_publisher and (existing is None or not existing.live):
            raise Reject(f"No stream {key!r}.", code="NetStream.Play.StreamNotFound")
        self._playing[request.stream_id] = self.relay._stream(self._app, key)

    async def on_play_started(self, request: ev.PlayRequest) -> None:
        # Join the fan-out only now, right after NetStream.Play.Start, with the cached
        # start of the stream first (no checkpoint between the two).
        stream = self._playing.get(request.stream_id)
        if stream is not None:
            stream.start_player(self.session, request.stream_id)
            stream.add_player(self.session, request.stream_id)
            logger.info(
                "%s/%s: played by %s (%s)",
                stream.app,
                stream.stream_key,
                _who(self.session),
                "live" if stream.live else "waiting for the publisher",
            )

    async def on_metadata(self, stream_id: int, metadata: dict[str, Any]) -> None:
        stream = self._publishing.get(stream_id)
        if stream is not None:
            stream.set_metadata(metadata)

    async def on_data(self, stream_id: int, event: ev.DataReceived) -> None:
        stream = self._publishing.get(stream_id)
        if stream is None or not event.values:
            return
        name = event.values[0]
        if name == "@clearDataFrame":
            stream.clear_metadata()
        elif isinstance(name, str) and not name.startswith(("@", "|")):
            # onCuePoint, onTextData, onCaptionInfo...: to the players.  "@" and "|"
            # names are instructions to a server or a player, not stream data.
            stream.publish_data(event.timestamp, event.values)

    async def on_video(self, stream_id: int, data: Any) -> None:
        stream = self._publishing.get(stream_id)
        if stream is not None:
            stream.publish(data)

    on_audio = on_video

    async def on_pause(self, stream_id: int, paused: bool) -> None:
        stream = self._playing.get(stream_id)
        if stream is not None:
            stream.pause_player(self.session, stream_id, paused)
            logger.info(
                "%s/%s: player %s %s",
                stream.app,
                stream.stream_key,
                _who(self.session),
                "paused" if paused else "resumed",
            )

    def on_batch_end(self) -> None:
        for stream in self._publishing.values():
            stream.flush()

    async def on_delete_stream(self, stream_id: int) -> None:
        stream = self._publishing.pop(stream_id, None)
        if stream is not None and stream.publisher == (self.session, stream_id):
            stream.stop()
            logger.info(
                "%s/%s: publisher %s left", stream.app, stream.stream_key, _who(self.session)
            )
        stream = self._playing.pop(stream_id, None)
        if stream is not None:
            stream.remove_player(self.session, stream_id)
            logger.info("%s/%s: player %s left", stream.app, stream.stream_key, _who(self.session))

    async def on_disconnect(self) -> None:
        for stream_id in list(self._publishing) + list(self._playing):
            await self.on_delete_stream(stream_id)


def _who(session: ServerSession) -> str:
    """``host:port`` of a session's peer, for logs."""
    return _host_port(session.remote_address)


def _host_port(address: Any) -> str:
    """``host:port`` of a socket address (``[host]:port`` for IPv6), for logs."""
    if isinstance(address, tuple) and len(address) >= 2:
        host = f"[{address[0]}]" if ":" in str(address[0]) else address[0]
        return f"{host}:{address[1]}"
    return str(address)


class Relay:
    """A live relay: publish ``rtmp://host/app/key``, play the same URL.

    Use :meth:`serve` to run it (it also runs the recorders and pushers), or pass
    :meth:`handler` to :func:`~trio_rtmp.server.serve_rtmp` with ``demux=False`` and
    call :meth:`attach` with a nursery for the background tasks.
    """

    def __init__(self, config: RelayConfig | None = None) -> None:
        self.config = config or RelayConfig()
        self.streams: dict[tuple[str, str], RelayStream] = {}
        self.server: RTMPServer | None = None
        self._nursery: trio.Nursery | None = None

    def handler(self) -> ServerHandler:
        """A handler for one connection (pass this method as the handler factory)."""
        return _RelayHandler(self)

    def attach(self, nursery: trio.Nursery) -> None:
        """Run recorders and pushers in ``nursery``."""
        self._nursery = nursery

    def statistics(self) -> list[StreamStatistics]:
        """Every stream's counters."""
        return [stream.statistics() for stream in self.streams.values()]

    async def serve(
        self,
        port: int = 1935,
        *,
        host: str | None = None,
        server_config: ServerConfig | None = None,
        ssl_context: Any = None,
        task_status: trio.TaskStatus[RTMPServer] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve the relay on ``port``; ``task_status.started(server)``."""
        async with trio.open_nursery() as nursery:
            self.attach(nursery)
            server: RTMPServer = await nursery.start(
                _serve_with_config,
                self.handler,
                port,
                host,
                server_config,
                ssl_context,
            )
            self.server = server
            task_status.started(server)

    # -- internals ------------------------------------------------------------

    def _stream(self, app: str, key: str) -> RelayStream:
        stream = self.streams.get((app, key))
        if stream is None:
            stream = self.streams[app, key] = RelayStream(self, app, key)
        return stream

    def _forget_if_unused(self, stream: RelayStream) -> None:
        if not stream.live and not stream.players:
            self.streams.pop((stream.app, stream.stream_key), None)

    def _start_forwards(self, stream: RelayStream) -> list[trio.MemorySendChannel[FlvTag]]:
        nursery = self._nursery
        config = self.config
        if nursery is None:
            return []
        channels = []
        if config.record_dir is not None:
            send, receive = trio.open_memory_channel[FlvTag](config.forward_buffer)
            nursery.start_soon(
                _record, Path(config.record_dir), stream.app, stream.stream_key, receive
            )
            channels.append(send)
        if config.push and (
            config.push_filter is None or config.push_filter(stream.app, stream.stream_key)
        ):
            for url in config.push:
                send, receive = trio.open_memory_channel[FlvTag](config.forward_buffer)
                nursery.start_soon(_push, url, stream, receive, send)
                channels.append(send)
        return channels


async def _serve_with_config(
    handler: Callable[[], ServerHandler],
    port: int,
    host: str | None,
    config: ServerConfig | None,
    ssl_context: Any,
    task_status: trio.TaskStatus[RTMPServer] = trio.TASK_STATUS_IGNORED,
) -> None:
    await serve_rtmp(
        handler,
        port,
        host=host,
        demux=False,
        config=config,
        ssl_context=ssl_context,
        task_status=task_status,
    )


async def _record(
    folder: Path, app: str, key: str, receive: trio.MemoryReceiveChannel[FlvTag]
) -> None:
    """Write one publishing session of a stream to an FLV file.

    The file is made at the first audio or video message: a publisher that leaves
    before sending any (a failed start, a probe) leaves no empty file behind.
    """
    directory = folder / _safe(app)
    stem = f"{_safe(key)}-{_session_stamp()}"
    path = directory / f"{stem}.flv"
    writer = FlvWriter(seekable=True)
    # Data messages (cue points, captions) that came before the first media message.
    early: list[FlvTag] = []
    file: Any = None
    try:
        async with contextlib.AsyncExitStack() as stack, receive:
            async for tag in receive:
                if tag.tag_type == TagType.SCRIPT:
                    values = amf0.decode(tag.data)
                    if values[:1] == ["onMetaData"]:
                        # The writer keeps it up to date (duration, size...); before
                        # the first media message it only holds it.
                        if len(values) > 1 and isinstance(values[1], dict):
                            data = writer.write_metadata(values[1])
                            if file is not None:
                                await file.write(data)
                        continue
                    # Other data messages are kept as script tags in place, as an FLV
                    # file carries them.
                    if file is None:
                        if len(early) < _EARLY_DATA_MESSAGES:
                            early.append(tag)
                        continue
                elif file is None:
                    path, opened = await _new_file(directory, stem)
                    file = await stack.enter_async_context(opened)
                    for data_tag in early:
                        await file.write(
                            writer.write_tag(data_tag.tag_type, data_tag.timestamp, data_tag.data)
                        )
                await file.write(writer.write_tag(tag.tag_type, tag.timestamp, tag.data))
            if file is None:
                logger.info("nothing to record of %s/%s: no audio or video came", app, key)
                return
            tail, patches = writer.finish()
            await file.write(tail)
            for offset, data in patches:
                await file.seek(offset)
                await file.write(data)
        logger.info("recorded %s", path)
    except OSError as exc:
        logger.error("recording %s failed: %s", path, exc)  # noqa: TRY400 (no traceback)


def _session_stamp() -> str:
    """The local time, for a recording's name."""
    return time.strftime("%Y%m%d-%H%M%S")


async def _new_file(directory: Path, stem: str) -> tuple[Path, Any]:
    """A new file ``STEM.flv`` in ``directory`` (made if need be), opened for writing,
    never one that exists: two sessions of a stream in the same second get
    ``STEM.flv`` and ``STEM-1.flv``."""
    await trio.Path(directory).mkdir(parents=True, exist_ok=True)
    for number in range(1000):
        path = directory / (f"{stem}.flv" if number == 0 else f"{stem}-{number}.flv")
        try:
            return path, await trio.open_file(path, "xb")
        except FileExistsError:
            continue
    raise FileExistsError(f"{directory / stem}.flv and 999 more exist")


async def _push(
    url: str,
    stream: RelayStream,
    receive: trio.MemoryReceiveChannel[FlvTag],
    send: trio.MemorySendChannel[FlvTag],
) -> None:
    """Publish a stream to an upstream server while it is live, reconnecting with backoff.

    A first session that starts before anything was lost sends the stream from its
    start; a later one (after a failure or a move) starts from the relay's cache.  An
    upstream's Enhanced RTMP ReconnectRequest moves the push to the URL it names (or
    back to the same one) at the next keyframe: the new session starts there, with the
    metadata and sequence headers, and the old one ends.
    """
    from .client import open_client
    from .core.errors import RTMPError

    target: tuple[str, str | None] = (f"{url.rstrip('/')}/{stream.stream_key}", None)
    where = url
    backoff = 1.0
    # Whether ``receive`` holds every message since the stream started: until the first
    # session ends, unless the channel overflowed while it connected.
    whole = True
    async with receive:
        while stream.live:
            moved: RTMPURL | None = None
            try:
                async with open_client(*target) as client:
                    await client.publish()
                    backoff = 1.0
                    logger.info("pushing %s/%s to %s", stream.app, stream.stream_key, where)
                    if not whole or stream.forward_dropped(send):
                        # Start from the cached start of the stream (metadata, headers,
                        # the GOP so far): what queued up before is in it or older, so
                        # drop it first (no checkpoint between the two) or it would be
                        # sent twice.
                        if not _discard_queued(receive):
                            return
                        for tag in stream.snapshot():
                            await client.send_tag(tag.timestamp, tag)
                    # (Else the queue has all of it from the start, audio before the
                    # first keyframe too, which no cache keeps.)
                    whole = False
                    refused = None
                    async for tag in receive:
                        request = client.reconnect_request
                        if request is not refused and _switch_point(stream, tag):
                            try:
                                moved = client.reconnect_url
                            except LocalProtocolError as exc:
                                logger.warning("push to %s: not following %s", where, exc)
                                refused = request
                            else:
                                # The new session starts from the GOP cache, which
                                # starts at this keyframe (or a later one).
                                break
                        await client.send_tag(tag.timestamp, tag)
                    else:
                        return
            except (RTMPError, OSError) as exc:
                logger.warning("push of %s to %s failed: %s", stream.stream_key, where, exc)
            whole = False
            if moved is not None:
                target = (moved.app_url, moved.stream_key)
                where = f"{moved.scheme}://{moved.url_host}:{moved.port}/{moved.app}"
                logger.info("push of %s moves to %s, as asked", stream.stream_key, where)
                continue
            # Drain what piled up while disconnected; the next session starts from
            # the cached GOP anyway.
            with trio.move_on_after(backoff):
                while stream.live:
                    try:
                        receive.receive_nowait()
                    except trio.WouldBlock:
                        await trio.sleep(0.1)
                    except trio.EndOfChannel:
                        return
            backoff = min(backoff * 2, 30.0)


def _switch_point(stream: RelayStream, tag: FlvTag) -> bool:
    """Whether a push may move to another server before ``tag``: at a keyframe."""
    if tag.tag_type == TagType.VIDEO:
        key, header = video_info(tag.data)
        # A keyframe of the track GOPs start with (of a multitrack stream, the first).
        return key and not header and stream.gop_track.starts_gop(tag.data)
    # An audio-only stream may move anywhere.
    return stream.video_header is None and tag.tag_type == TagType.AUDIO


def _discard_queued(receive: trio.MemoryReceiveChannel[FlvTag]) -> bool:
    """Drop what is waiting in ``receive``; False if the channel has ended."""
    while True:
        try:
            receive.receive_nowait()
        except trio.WouldBlock:
            return True
        except trio.EndOfChannel:
            return False
