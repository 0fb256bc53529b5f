"""Helpers for the server and relay tests: a hand-driven RTMP client and small utilities.

:class:`RawClient` drives our sans-IO :class:`~trio_rtmp.core.connection.ClientConnection`
over a plain Trio socket, one step at a time, so a test can stop anywhere: after half a
handshake, after ``play`` (a player that never reads again), or send bytes no honest
client would.
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

import trio_rtmp
from trio_rtmp.core import amf0
from trio_rtmp.core import events as ev
from trio_rtmp.core.amf import ECMAArray
from trio_rtmp.core.connection import ClientConnection, ConnectionConfig
from trio_rtmp.media.flv import video_info
from trio_rtmp.media.flvfile import FlvReader, FlvTag, FlvWriter

WAIT = 10.0


async def wait_for(
    predicate: Callable[[], bool], timeout: float = WAIT, what: str = "a condition"
) -> None:
    """Wait (bounded) until ``predicate()`` holds, polling every 10 ms."""
    with trio.move_on_after(timeout):
        while not predicate():
            await trio.sleep(0.01)
        return
    raise AssertionError(f"timed out waiting for {what}")


class RawClient:
    """An RTMP client whose every step the test drives by hand.

    Only one task may read it at a time: Trio's ``recv`` has a schedule point after
    the bytes are taken, so two readers can hand the core their pieces out of order.
    """

    def __init__(self, stream: trio.SocketStream, config: ConnectionConfig | None = None) -> None:
        self.stream = stream
        self.conn = ClientConnection(random=os.urandom(1528), time=0, config=config)
        #: Every event received so far.
        self.events: list[ev.Event] = []
        # How far ``until`` has looked.
        self._cursor = 0
        self.closed = False

    @classmethod
    async def open(
        cls, port: int, *, receive_buffer: int | None = None, config: ConnectionConfig | None = None
    ) -> RawClient:
        """Connect to 127.0.0.1:``port`` (optionally with a small SO_RCVBUF, set before
        connecting so that the TCP window stays small)."""
        sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        with trio.fail_after(WAIT):
            await sock.connect(("127.0.0.1", port))
        return cls(trio.SocketStream(sock), config)

    async def send_raw(self, data: bytes) -> None:
        """Send bytes as they are."""
        await self.stream.send_all(data)

    async def flush(self) -> None:
        """Send what the core has queued."""
        data = self.conn.data_to_send()
        if data:
            await self.stream.send_all(data)

    async def receive(self, timeout: float = WAIT, size: int = 65536) -> list[ev.Event]:
        """Read once, at most ``size`` bytes (bounded in time); returns the events
        (closed: ``self.closed``)."""
        with trio.fail_after(timeout):
            try:
                data = await self.stream.receive_some(size)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
        if not data:
            self.closed = True
        events = self.conn.receive_data(data)
        self.events.extend(events)
        if data:
            await self.flush()
        return events

    async def until(self, match: Callable[[ev.Event], bool], timeout: float = WAIT) -> ev.Event:
        """The next event (after the last one ``until`` returned) that matches, reading
        as needed; fail (TooSlowError) after ``timeout``."""
        with trio.fail_after(timeout):
            while True:
                while self._cursor < len(self.events):
                    event = self.events[self._cursor]
                    self._cursor += 1
                    if match(event):
                        return event
                if self.closed:
                    raise AssertionError(f"closed before the awaited event; got {self.events}")
                await self.receive()

    async def read_until_closed(self, timeout: float = WAIT) -> None:
        """Read (and parse) until the server closes the connection."""
        with trio.fail_after(timeout):
            while not self.closed:
                await self.receive()

    async def connect(self, app: str = "live", port: int = 1935) -> ev.Event:
        """Handshake and ``connect``; returns Connected or ConnectRejected."""
        self.conn.connect(app=app, tc_url=f"rtmp://127.0.0.1:{port}/{app}")
        await self.flush()
        return await self.until(lambda e: isinstance(e, ev.Connected | ev.ConnectRejected))

    async def create_stream(self) -> int:
        self.conn.create_stream()
        await self.flush()
        event = await self.until(lambda e: isinstance(e, ev.StreamCreated | ev.CommandError))
        assert isinstance(event, ev.StreamCreated), event
        return event.stream_id

    async def play(self, key: str) -> ev.Event:
        """createStream and play; returns PlayStarted or PlayRejected."""
        stream_id = await self.create_stream()
        self.conn.play(stream_id, key)
        await self.flush()
        return await self.until(lambda e: isinstance(e, ev.PlayStarted | ev.PlayRejected))

    async def publish(self, key: str) -> ev.Event:
        """createStream and publish; returns PublishStarted or PublishRejected."""
        stream_id = await self.create_stream()
        self.conn.publish(stream_id, key)
        await self.flush()
        return await self.until(lambda e: isinstance(e, ev.PublishStarted | ev.PublishRejected))

    async def aclose(self) -> None:
        await trio.aclose_forcefully(self.stream)


def read_tags(path: Path) -> list[FlvTag]:
    """The tags of an FLV file (our reader)."""
    reader = FlvReader()
    events = reader.receive_data(path.read_bytes()) + reader.receive_data(b"")
    return [e for e in events if isinstance(e, FlvTag)]


def write_flv(path: Path, tags: list[FlvTag]) -> Path:
    """Write tags (as a player received them) to an FLV file for ffprobe."""
    writer = FlvWriter()
    parts = [writer.write_tag(t.tag_type, t.timestamp, t.data) for t in tags]
    parts.append(writer.finish()[0])
    path.write_bytes(b"".join(parts))
    return path


async def publish_tags(
    client: trio_rtmp.RTMPClient, tags: list[FlvTag], *, speed: float | None = None
) -> None:
    """Send tags; paced at ``speed`` times real time when given, else as fast as possible."""
    start = trio.current_time()
    for tag in tags:
        if speed is not None:
            await trio.sleep_until(start + tag.timestamp / 1000 / speed)
        await client.send_tag(tag.timestamp, tag)


def keyframe_index_metadata(keyframes: int) -> FlvTag:
    """An onMetaData with a file's keyframe index, the shape FFmpeg's
    ``-flvflags add_keyframe_index`` and yamdi write (about 18 bytes per keyframe)."""
    index = {
        "filepositions": [float(13 + i * 4000) for i in range(keyframes)],
        "times": [i * 0.04 for i in range(keyframes)],
    }
    metadata = ECMAArray({"duration": keyframes * 0.04, "width": 320.0, "keyframes": index})
    return FlvTag(18, 0, amf0.encode("onMetaData", metadata))


def rss_bytes() -> int:
    """This process's resident set size (VmRSS)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def open_fds() -> int:
    """How many file descriptors this process has open."""
    return len(os.listdir("/proc/self/fd"))


def recording_upstream(
    got: list[Any], ask: Callable[[trio_rtmp.ServerSession, int], None] | None = None
) -> type[trio_rtmp.ServerHandler]:
    """A server handler that notes what a publisher sends it; ``ask(session,
    timestamp)`` is called on every video message."""

    class Upstream(trio_rtmp.ServerHandler):
        async def on_connect(self, request: ev.ConnectRequest) -> None:
            got.append(("connect", request.app))

        async def on_publish(self, request: ev.PublishRequest) -> None:
            got.append(("publish", request.stream_key))

        async def on_metadata(self, stream_id: int, metadata: dict[str, Any]) -> None:
            got.append(("metadata",))

        async def on_video(self, stream_id: int, data: Any) -> None:
            got.append(("video", data.timestamp, video_info(data.data)))
            if ask is not None:
                ask(self.session, data.timestamp)

    return Upstream


class MovingUpstreams:
    """Two servers that note what a publisher sends them (:func:`recording_upstream`).

    The first asks the publisher, once, at its first video message from ``at`` ms on,
    to reconnect (Enhanced RTMP ReconnectRequest) to the second, app ``moved``; or,
    when not ``usable``, to a URL that is not RTMP.
    """

    def __init__(self, *, usable: bool, at: int) -> None:
        self.usable = usable
        self.at = at
        self.old: list[Any] = []
        self.new: list[Any] = []
        self.asked: list[int] = []
        self.servers: list[trio_rtmp.RTMPServer] = []

    async def start(self, nursery: trio.Nursery) -> int:
        """Start both servers on 127.0.0.1; returns the first one's port."""
        for handler in (recording_upstream(self.old, self._ask), recording_upstream(self.new)):
            server = functools.partial(
                trio_rtmp.serve_rtmp, handler, 0, host="127.0.0.1", demux=False
            )
            self.servers.append(await nursery.start(server))
        return self.servers[0].port

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def _ask(self, session: trio_rtmp.ServerSession, timestamp: int) -> None:
        if timestamp >= self.at and not self.asked:
            self.asked.append(timestamp)
            port = self.servers[1].port
            where = f"rtmp://127.0.0.1:{port}/moved" if self.usable else "http://127.0.0.1/"
            session.request_reconnect(where, "going away")

    def got_frame(self, timestamp: int) -> bool:
        """Whether the server that should end up with the stream got this video frame."""
        got = self.new if self.usable else self.old
        return any(g[0] == "video" and g[1] == timestamp for g in got)

    def check(self, frames: list[int], app: str, key: str) -> None:
        """Every video frame (by timestamp, sequence headers aside) reached one server
        or the other, once and in order; a move began with the metadata and the
        sequence header, at a keyframe after the request."""
        old = [g for g in self.old if g[0] == "video"]
        new = [g for g in self.new if g[0] == "video"]
        assert self.old[:3] == [("connect", app), ("publish", key), ("metadata",)]
        before = [g[1] for g in old if g[2] != (False, True)]
        if not self.usable:
            assert self.new == []
            assert before == frames
            return
        assert self.new[:3] == [("connect", "moved"), ("publish", key), ("metadata",)]
        assert new[0][2] == (False, True)
        assert new[1][2] == (True, False) and new[1][1] > self.asked[0]
        assert before + [g[1] for g in new[1:]] == frames


def spy_on_tcp_nodelay(monkeypatch: Any) -> list[tuple[trio.SocketStream, bool]]:
    """Record every TCP_NODELAY that Trio socket streams set, as (stream, on), from now
    on (``monkeypatch``: pytest's fixture, which undoes it)."""
    calls: list[tuple[trio.SocketStream, bool]] = []
    setsockopt = trio.SocketStream.setsockopt

    def spy(self: trio.SocketStream, level: int, option: int, value: Any, *rest: Any) -> None:
        if (level, option) == (socket.IPPROTO_TCP, socket.TCP_NODELAY):
            calls.append((self, bool(value)))
        setsockopt(self, level, option, value, *rest)

    monkeypatch.setattr(trio.SocketStream, "setsockopt", spy)
    return calls
