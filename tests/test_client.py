"""The Trio client against a fake server made of the sans-IO ``ServerConnection``.

The client's ``_open_stream`` is replaced by one that hands it one end of an in-memory
stream pair, with a :class:`FakeServer` on the other end; everything else (handshake,
connect, the reader task, the frames channel, closing) is the real thing.  Timeouts
run on Trio's ``MockClock`` (``autojump_clock``), so they take no real time.  Every
test checks that no task outlives it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import pytest
import trio
import trio.testing
from client_support import NoLeakedTasks
from connection_pair import amf_burst

import trio_rtmp
import trio_rtmp.client as client_module
from trio_rtmp import AudioSample, CodecConfig, Metadata, VideoSample
from trio_rtmp.core import amf0
from trio_rtmp.core import events as ev
from trio_rtmp.core.chunks import ChunkWriter
from trio_rtmp.core.config import Limits
from trio_rtmp.core.connection import ClientConnection, ConnectionConfig, ServerConnection
from trio_rtmp.core.errors import LocalProtocolError
from trio_rtmp.media import FlvTag, Muxer, VideoInfo
from trio_rtmp.media.codecs import build_avc_decoder_configuration_record
from trio_rtmp.media.flv import (
    AACPacketType,
    AnyTag,
    AudioTag,
    AVCPacketType,
    ExVideoTag,
    ScriptTag,
    SoundFormat,
    VideoCodecId,
    VideoFourCC,
    VideoFrameType,
    VideoPacketType,
    VideoTag,
)

URL = "rtmp://fake.test/live/key"
SPS = bytes.fromhex("6764001facd9405005bb0110000003001000000303c0f1831960")
PPS = bytes.fromhex("68ebe3cb22c0")
AVCC = build_avc_decoder_configuration_record([SPS], [PPS]).to_bytes()
ASC = b"\x12\x10"  # AAC LC, 44.1 kHz, stereo


def stream_frames(count: int = 10, *, size: int = 0) -> list[Any]:
    """A little H.264 + AAC stream as frames: metadata, configs, then samples."""
    frames: list[Any] = [
        Metadata("onMetaData", {"width": 1280.0, "height": 720.0}),
        CodecConfig("video", "h264", AVCC),
        CodecConfig("audio", "aac", ASC),
    ]
    for n in range(count):
        dts = 40 * n
        picture = b"\x65idr" if n % 5 == 0 else b"\x41p"
        nals = [b"\x06sei" + bytes([n]), picture + bytes(size) + bytes([n])]
        frames.append(VideoSample(nals, dts, dts + 80, n % 5 == 0))
        frames.append(AudioSample(b"\x21\x10" + bytes([n]), dts + 3))
    return frames


def tags_of(frames: list[Any]) -> list[tuple[int, Any]]:
    muxer = Muxer()
    return [pair for frame in frames for pair in muxer.mux(frame)]


Handler = Callable[["FakeServer", int], Awaitable[None]]


class FakeServer:
    """One RTMP server connection (``ServerConnection``) on a Trio stream.

    ``connect``, ``publish`` and ``play`` say how to answer: "accept", "reject" (with
    ``reject_code``), "silent" (never answer) or "close" (hang up).  ``after_play``
    runs once a play is accepted (to send media).  What the client sends is recorded.
    """

    def __init__(
        self,
        *,
        connect: str = "accept",
        publish: str = "accept",
        play: str = "accept",
        reject_code: str | None = None,
        after_play: Handler | None = None,
        handshake: bool = True,
        config: ConnectionConfig | None = None,
    ) -> None:
        self.connect = connect
        self.publish = publish
        self.play = play
        self.reject_code = reject_code
        self.after_play = after_play
        self.handshake = handshake
        self.conn = ServerConnection(random=bytes(1528), config=config)
        self.muxer = Muxer()
        self.events: list[ev.Event] = []
        self.bytes_received = 0
        self.bytes_sent = 0
        self.stream: trio.abc.Stream | None = None
        self.done = trio.Event()
        #: False: stop reading (see freeze()).
        self.reading = True
        #: Read at most this many bytes at a time, and sleep this long before each
        #: read (a slow reader).
        self.read_size = 65536
        self.read_pause = 0.0

    def of(self, kind: type[Any]) -> list[Any]:
        """The recorded events of one type."""
        return [e for e in self.events if isinstance(e, kind)]

    async def flush(self) -> None:
        data = self.conn.data_to_send()
        if data and self.stream is not None:
            try:
                await self.stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return  # the client is gone; keep reading what it said last
            self.bytes_sent += len(data)

    async def hang_up(self) -> None:
        if self.stream is not None:
            await self.stream.aclose()

    async def run(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        try:
            while True:
                if self.read_pause:
                    await trio.sleep(self.read_pause)
                data = await stream.receive_some(self.read_size)
                self.bytes_received += len(data)
                if not self.handshake:
                    continue  # a silent server: takes the bytes, never answers
                for event in self.conn.receive_data(data):
                    await self.handle(event)
                await self.flush()
                if not data:
                    return
                if not self.reading:
                    await trio.sleep_forever()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            # The client's EOF (or an error) ends the connection, as real servers do.
            await trio.aclose_forcefully(stream)
            self.done.set()

    async def handle(self, event: ev.Event) -> None:
        self.events.append(event)
        conn = self.conn
        if isinstance(event, ev.ConnectRequest):
            await self.answer(
                self.connect,
                accept=lambda: conn.accept_connect(),
                reject=lambda: conn.reject_connect(
                    "go away", code=self.reject_code or "NetConnection.Connect.Rejected"
                ),
            )
        elif isinstance(event, ev.PublishRequest):
            sid = event.stream_id
            await self.answer(
                self.publish,
                accept=lambda: conn.accept_publish(sid),
                reject=lambda: conn.reject_publish(
                    sid, "Already publishing", code=self.reject_code or "NetStream.Publish.BadName"
                ),
            )
        elif isinstance(event, ev.PlayRequest):
            sid = event.stream_id
            await self.answer(
                self.play,
                accept=lambda: conn.accept_play(sid),
                reject=lambda: conn.reject_play(
                    sid, "No such stream", code=self.reject_code or "NetStream.Play.StreamNotFound"
                ),
            )
            if self.play == "accept" and self.after_play is not None:
                await self.after_play(self, sid)

    async def answer(
        self, how: str, *, accept: Callable[[], Any], reject: Callable[[], Any]
    ) -> None:
        if how == "accept":
            for event in accept() or []:  # accept_connect returns held-back events
                await self.handle(event)
        elif how == "reject":
            reject()
        elif how == "close":
            await self.hang_up()
            return
        await self.flush()

    # -- sending to a player ---------------------------------------------------------------

    async def send_frames(self, stream_id: int, frames: list[Any]) -> None:
        for frame in frames:
            self.send_tag(stream_id, *self.muxer.mux(frame)[0])
        await self.flush()

    def send_tag(self, stream_id: int, timestamp: int, tag: Any) -> None:
        if isinstance(tag, ScriptTag):
            self.conn.send_data(stream_id, ("onMetaData", tag.values[1]), timestamp)
        elif tag.tag_type == 9:
            self.conn.send_video(stream_id, timestamp, tag.to_bytes())
        else:
            self.conn.send_audio(stream_id, timestamp, tag.to_bytes())

    async def send_status(self, stream_id: int, level: str, code: str) -> None:
        info = {"level": level, "code": code, "description": code}
        self.conn.send_command("onStatus", None, info, stream_id=stream_id)
        await self.flush()


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """``async with serve(FakeServer(...)) as server:`` makes the client connect to it."""

    @asynccontextmanager
    async def serve(server: FakeServer, *, lockstep: bool = False) -> AsyncIterator[FakeServer]:
        async with trio.open_nursery() as nursery:

            async def open_stream(url: Any, ssl_context: Any, timeout: float) -> trio.abc.Stream:
                pair = (
                    trio.testing.lockstep_stream_pair
                    if lockstep
                    else trio.testing.memory_stream_pair
                )
                client_end, server_end = pair()
                nursery.start_soon(server.run, server_end)
                return client_end

            monkeypatch.setattr(client_module, "_open_stream", open_stream)
            try:
                yield server
            finally:
                nursery.cancel_scope.cancel()

    return serve


async def play_all(**options: Any) -> list[Any]:
    async with trio_rtmp.open_client(URL, **options) as client:
        await client.play()
        return [frame async for frame in client.frames]


# -- connect ----------------------------------------------------------------------------------


async def test_connect_announces_enhanced_rtmp(serve: Any) -> None:
    with NoLeakedTasks():
        async with serve(FakeServer()) as server, trio_rtmp.open_client(URL) as client:
            assert client.server_properties["fmsVer"] == "FMS/3,0,1,123"
            assert client.server_properties["capsEx"] == 7.0  # the server's, echoed
            assert client.url.app == "live" and client.stream_key == "key"
    [request] = server.of(ev.ConnectRequest)
    assert request.app == "live"
    assert request.tc_url == "rtmp://fake.test:1935/live"
    # So that servers which can send HEVC, AV1... do.
    assert {"avc1", "hvc1", "av01", "vp09"} <= set(request.fourcc_list)
    assert request.video_fourcc_info_map["hvc1"] == 7.0  # decode | encode | forward
    assert request.audio_fourcc_info_map["Opus"] == 7.0
    assert request.caps_ex & 4  # ModEx
    assert request.object_encoding == 0.0


@pytest.mark.parametrize(
    ("url", "stream_key", "app", "key"),
    [
        ("rtmp://fake.test/live/key", None, "live", "key"),
        ("rtmp://fake.test/app/instance/key", None, "app/instance", "key"),
        ("rtmp://fake.test/app/instance", "given", "app/instance", "given"),
        ("rtmp://fake.test:1936/live", "k?token=1", "live", "k?token=1"),
    ],
)
async def test_stream_key_from_the_url_or_given(
    serve: Any, url: str, stream_key: str | None, app: str, key: str
) -> None:
    async with serve(FakeServer()) as server, trio_rtmp.open_client(url, stream_key) as client:
        await client.play()
        assert client.stream_key == key
    assert server.of(ev.ConnectRequest)[0].app == app
    assert server.of(ev.PlayRequest)[0].stream_key == key


@pytest.mark.parametrize(
    ("how", "code", "description"),
    [
        ("reject", "NetConnection.Connect.Rejected", "go away"),
        ("close", "NetConnection.Connect.Closed", "the server closed the connection"),
    ],
)
async def test_connect_rejected(serve: Any, how: str, code: str, description: str) -> None:
    with NoLeakedTasks():
        async with serve(FakeServer(connect=how)):
            with pytest.raises(trio_rtmp.ConnectionRejected) as caught:
                async with trio_rtmp.open_client(URL):
                    pytest.fail("connected")
    # Our exception itself, not an ExceptionGroup around it.
    assert type(caught.value) is trio_rtmp.ConnectionRejected
    assert caught.value.code == code
    assert caught.value.description.startswith(description)
    assert isinstance(caught.value, trio_rtmp.RTMPError)


async def test_connect_rejected_with_invalid_app(serve: Any) -> None:
    server = FakeServer(connect="reject", reject_code="NetConnection.Connect.InvalidApp")
    async with serve(server):
        with pytest.raises(trio_rtmp.ConnectionRejected, match="InvalidApp: go away"):
            async with trio_rtmp.open_client(URL):
                pass


async def test_server_closing_in_the_handshake(serve: Any) -> None:
    server = FakeServer()

    async def hang_up_at_once(stream: trio.abc.Stream) -> None:
        await stream.receive_some()
        await stream.aclose()

    server.run = hang_up_at_once  # type: ignore[method-assign]
    with NoLeakedTasks():
        async with serve(server):
            with pytest.raises(trio_rtmp.ConnectionClosed, match="handshake") as caught:
                async with trio_rtmp.open_client(URL):
                    pass
    assert not isinstance(caught.value, trio_rtmp.ConnectionFailed)


async def test_garbage_handshake(serve: Any) -> None:
    server = FakeServer()

    async def answer_garbage(stream: trio.abc.Stream) -> None:
        await stream.receive_some()
        await stream.send_all(b"\x06" + bytes(3072))  # RTMPE's version byte
        await trio.sleep_forever()

    server.run = answer_garbage  # type: ignore[method-assign]
    async with serve(server):
        with pytest.raises(trio_rtmp.ConnectionClosed, match="broke the handshake"):
            async with trio_rtmp.open_client(URL):
                pass


# -- timeouts (MockClock: no real time passes) -------------------------------------------------


async def test_silent_server_times_out_in_the_handshake(
    serve: Any, autojump_clock: trio.testing.MockClock
) -> None:
    with NoLeakedTasks():
        async with serve(FakeServer(handshake=False)) as server:
            started = trio.current_time()
            with pytest.raises(trio_rtmp.ConnectionTimeout, match="no RTMP handshake") as caught:
                async with trio_rtmp.open_client(URL, connect_timeout=7):
                    pass
            assert trio.current_time() - started == pytest.approx(7)
    assert isinstance(caught.value, TimeoutError)
    assert server.bytes_received == 1 + 1536


async def test_unanswered_connect_times_out(
    serve: Any, autojump_clock: trio.testing.MockClock
) -> None:
    with NoLeakedTasks():
        async with serve(FakeServer(connect="silent")):
            started = trio.current_time()
            with pytest.raises(trio_rtmp.ConnectionTimeout, match="no answer to connect"):
                async with trio_rtmp.open_client(URL, connect_timeout=3):
                    pass
            assert trio.current_time() - started == pytest.approx(3)


@pytest.mark.parametrize("what", ["play", "publish"])
async def test_unanswered_play_or_publish_times_out(
    serve: Any, autojump_clock: trio.testing.MockClock, what: str
) -> None:
    with NoLeakedTasks():
        async with serve(FakeServer(play="silent", publish="silent")) as server:
            async with trio_rtmp.open_client(URL, response_timeout=5) as client:
                started = trio.current_time()
                with pytest.raises(trio_rtmp.ConnectionTimeout, match=f"no answer to {what}"):
                    await getattr(client, what)()
                assert trio.current_time() - started == pytest.approx(5)
            # Leaving still says goodbye.
            await server.done.wait()
    assert server.of(ev.StreamDeleted)


def freeze(server: FakeServer) -> None:
    """Stop the server reading after the read it is waiting in (on a lockstep stream,
    every send after that blocks)."""
    server.reading = False


@asynccontextmanager
async def publishing_to_a_frozen_server(
    serve: Any, **options: Any
) -> AsyncIterator[tuple[FakeServer, trio_rtmp.RTMPClient]]:
    """A client (``open_client`` with ``options``) publishing to a FakeServer on a
    lockstep stream that has stopped reading (after the read it is waiting in)."""
    server = FakeServer()
    with NoLeakedTasks():
        async with (
            serve(server, lockstep=True),
            trio_rtmp.open_client(URL, **options) as client,
        ):
            await client.publish()
            await trio.testing.wait_all_tasks_blocked()
            freeze(server)
            yield server, client


async def test_close_gives_up_on_a_server_that_does_not_read(
    serve: Any, autojump_clock: trio.testing.MockClock
) -> None:
    """The polite goodbye is bounded by close_timeout; the socket is closed anyway."""
    async with publishing_to_a_frozen_server(serve, close_timeout=2) as (server, client):
        await client.send_tag(0, FlvTag(8, 0, b"\xaf\x01\x00"))  # its last read
        started = trio.current_time()
    assert trio.current_time() - started == pytest.approx(2)
    assert client.statistics().bytes_sent == server.bytes_received


async def test_an_interrupted_send_ends_the_connection(
    serve: Any, autojump_clock: trio.testing.MockClock
) -> None:
    """A send_tag cancelled halfway leaves half a message on the wire: no more sending."""
    async with publishing_to_a_frozen_server(serve, close_timeout=2) as (_server, client):
        with trio.move_on_after(1):
            await client.send_tag(0, FlvTag(8, 0, b"\x2f" + bytes(70000)))
        with pytest.raises(trio_rtmp.ConnectionClosed, match="interrupted"):
            await client.send_tag(10, FlvTag(8, 10, b"\x2f"))
        started = trio.current_time()
    # No goodbye is tried on a broken connection: closing is immediate.
    assert trio.current_time() == started


async def test_a_server_that_stops_reading_ends_the_connection(
    serve: Any, autojump_clock: trio.testing.MockClock
) -> None:
    """A send that gets nothing out for write_stall_timeout ends the connection (a
    frozen server, or a host gone without a word, would hold it forever)."""
    async with publishing_to_a_frozen_server(serve, write_stall_timeout=3) as (_server, client):
        started = trio.current_time()
        with (
            trio.fail_after(60),
            pytest.raises(trio_rtmp.ConnectionClosed, match="no write progress"),
        ):
            await client.send_tag(0, FlvTag(9, 0, b"\x17" + bytes(200_000)))
        assert trio.current_time() - started == pytest.approx(3)
        with pytest.raises(trio_rtmp.ConnectionClosed, match="no write progress"):
            await client.send_tag(10, FlvTag(8, 10, b"\x2f"))
        started = trio.current_time()
    assert trio.current_time() == started  # no goodbye on a broken connection


async def test_a_slow_but_steady_server_is_not_stalled(
    serve: Any, autojump_clock: trio.testing.MockClock
) -> None:
    """Only a send that makes no progress counts: a server that takes 16 KiB every
    2 s gets a tag of 200 KB whole in 26 s, with write_stall_timeout at 3 s."""
    server = FakeServer()
    body = b"\x17" + bytes(range(256)) * 800
    with NoLeakedTasks():
        async with (
            serve(server, lockstep=True),
            trio_rtmp.open_client(URL, write_stall_timeout=3) as client,
        ):
            await client.publish()
            await trio.testing.wait_all_tasks_blocked()
            server.read_size = 16384
            server.read_pause = 2
            started = trio.current_time()
            await client.send_tag(0, FlvTag(9, 0, body))
            assert trio.current_time() - started > 20
            server.read_pause = 0
    assert [e.payload for e in server.of(ev.VideoData)] == [body]


async def test_no_write_stall_timeout(serve: Any, autojump_clock: trio.testing.MockClock) -> None:
    """``write_stall_timeout=None``: a send waits for the server however long it takes."""
    async with publishing_to_a_frozen_server(serve, write_stall_timeout=None) as (_, client):
        with trio.move_on_after(3600) as scope:
            await client.send_tag(0, FlvTag(9, 0, b"\x17" + bytes(200_000)))
        assert scope.cancelled_caught


async def test_receive_timeout_ends_a_play_from_a_silent_server(
    serve: Any, autojump_clock: trio.testing.MockClock
) -> None:
    """With ``receive_timeout``, a play from a server that has gone quiet (hung) ends
    with ConnectionClosed that long after the last byte came, after the frames that
    came before.  Before playing, and while publishing, quiet is normal: no timeout."""
    sent = stream_frames(2)
    async with (
        serve(FakeServer(after_play=sends(sent))),
        trio_rtmp.open_client(URL, receive_timeout=5) as client,
    ):
        await trio.sleep(60)
        await client.play()
        got = []
        with pytest.raises(trio_rtmp.ConnectionClosed, match="nothing from fake.test:1935 for 5 s"):
            async for frame in client.frames:
                got.append(frame)
                last = trio.current_time()
        assert trio.current_time() - last == pytest.approx(5)
    assert got == sent

    async with (
        serve(FakeServer()) as server,
        trio_rtmp.open_client(URL, receive_timeout=5) as client,
    ):
        await client.publish()
        await trio.sleep(60)
        await client.send_tag(0, FlvTag(8, 0, b"\xaf\x01\x00"))
        await trio.testing.wait_all_tasks_blocked()
        assert len(server.of(ev.AudioData)) == 1


async def test_receive_timeout_waits_while_paused(
    serve: Any, autojump_clock: trio.testing.MockClock
) -> None:
    """A paused play is quiet on purpose: no receive_timeout until it resumes."""
    sent = stream_frames(2)
    async with (
        serve(FakeServer(after_play=sends(sent))),
        trio_rtmp.open_client(URL, receive_timeout=5) as client,
    ):
        await client.play()
        got = [await client.frames.receive() for _ in sent]
        await client.pause()
        await trio.sleep(60)
        await client.resume()  # the server's answer is the last thing it says
        resumed = trio.current_time()
        with trio.fail_after(60), pytest.raises(trio_rtmp.ConnectionClosed, match="nothing from"):
            await client.frames.receive()
        assert trio.current_time() - resumed == pytest.approx(5)
    assert got == sent


async def test_a_send_cancelled_before_it_starts_is_harmless(serve: Any) -> None:
    async with serve(FakeServer()) as server, trio_rtmp.open_client(URL) as client:
        await client.publish()
        with trio.CancelScope() as scope:
            scope.cancel()
            await client.send_tag(0, FlvTag(8, 0, b"\xaf\x01\x00"))
        # The tag stayed queued in the core and goes out with the next one.
        await client.send_tag(23, FlvTag(8, 23, b"\xaf\x01\x01"))
        await trio.testing.wait_all_tasks_blocked()
    assert [e.timestamp for e in server.of(ev.AudioData)] == [0, 23]


async def test_cancelled_while_playing_still_says_goodbye(
    serve: Any, autojump_clock: trio.testing.MockClock
) -> None:
    with NoLeakedTasks():
        async with serve(FakeServer()) as server:
            with trio.move_on_after(30) as scope:
                async with trio_rtmp.open_client(URL) as client:
                    await client.play()
                    await trio.sleep_forever()
            assert scope.cancelled_caught
            await server.done.wait()
            # The reader was cancelled too; closing read to the server's end itself.
            assert client.statistics().bytes_received == server.bytes_sent
    assert [e.stream_id for e in server.of(ev.StreamDeleted)] == [1]
    assert isinstance(server.events[-1], ev.ConnectionClosed)


# -- play -----------------------------------------------------------------------------------------


async def test_play_delivers_the_frames_and_ends_cleanly(serve: Any) -> None:
    sent = stream_frames()

    async def stream_then_unpublish(server: FakeServer, stream_id: int) -> None:
        await server.send_frames(stream_id, sent)
        server.conn.notify_unpublish(stream_id)  # UnpublishNotify + StreamEOF
        await server.flush()

    with NoLeakedTasks():
        async with serve(FakeServer(after_play=stream_then_unpublish)) as server:
            async with trio_rtmp.open_client(URL) as client:
                await client.play()
                assert client.stream_id == 1
                got = [frame async for frame in client.frames]
                # The end is final: receiving again says so again.
                with pytest.raises(trio.EndOfChannel):
                    await client.frames.receive()
            await server.done.wait()
            stats = client.statistics()
    assert got == sent
    video_config = got[1]
    assert isinstance(video_config, CodecConfig) and isinstance(video_config.info, VideoInfo)
    assert video_config.info.width == 1280  # parsed from the SPS
    assert stats.frames_delivered == len(sent)
    assert stats.messages_received == len(sent) - 1  # all but the metadata
    assert stats.messages_dropped == 0
    assert stats.bytes_received == server.bytes_sent
    assert stats.bytes_sent == server.bytes_received
    assert stats.bitrate_in > 0 and stats.duration > 0
    # The client asked as FFmpeg does, and closed politely.
    [request] = server.of(ev.PlayRequest)
    assert (request.stream_key, request.start, request.duration) == ("key", -2000.0, -1.0)
    assert server.of(ev.BufferLengthSet)[0].buffer_length == 3000
    assert [e.stream_id for e in server.of(ev.StreamDeleted)] == [1]


async def test_a_read_that_completes_many_amf_messages_is_handled_in_steps(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a server's session does (see test_server): a read that completes ten AMF
    messages is handled one message per step (under a 16 KiB AMF limit), and the rest
    of the program runs between the steps."""
    ticks = 0
    # Per step: the ticker's count, and how many of the ten messages it handled.
    steps: list[tuple[int, int]] = []
    next_events = ClientConnection.next_events

    def spy(self: ClientConnection) -> list[ev.Event]:
        events = next_events(self)
        texts = [
            e for e in events if isinstance(e, ev.DataReceived) and e.values[0] == "onTextData"
        ]
        steps.append((ticks, len(texts)))
        return events

    monkeypatch.setattr(ClientConnection, "next_events", spy)

    async def tick() -> None:
        nonlocal ticks
        while True:
            await trio.lowlevel.checkpoint()
            ticks += 1

    async def burst(server: FakeServer, stream_id: int) -> None:
        assert server.stream is not None
        heads, tails = amf_burst(stream_id, 10, 12000)
        await server.flush()
        await server.stream.send_all(heads)
        await server.stream.send_all(tails)
        server.conn.notify_unpublish(stream_id)
        await server.flush()

    config = ConnectionConfig(limits=Limits(max_amf_message_size=16384))
    async with trio.open_nursery() as nursery, serve(FakeServer(after_play=burst)):
        nursery.start_soon(tick)
        async with trio_rtmp.open_client(URL, config=config) as client:
            await client.play()
            async for _ in client.frames:
                pass
        nursery.cancel_scope.cancel()
    data_steps = [(at, count) for at, count in steps if count]
    assert [count for _, count in data_steps] == [1] * 10
    assert data_steps[-1][0] - data_steps[0][0] >= len(data_steps) - 2


@pytest.mark.parametrize("ending", ["unpublish", "stop", "delete", "delete-0"])
async def test_the_ends_of_a_stream(serve: Any, ending: str) -> None:
    sent = stream_frames(3)

    async def stream_then_end(server: FakeServer, stream_id: int) -> None:
        await server.send_frames(stream_id, sent)
        conn = server.conn
        if ending == "unpublish":
            conn.notify_unpublish(stream_id)
        elif ending == "stop":
            conn.stop_play(stream_id)  # StreamEOF + NetStream.Play.Stop
        elif ending == "delete":
            conn.send_command("deleteStream", None, float(stream_id))
        else:
            conn.send_command("deleteStream", None, 0.0)  # FFmpeg -listen's way
        await server.flush()
        # (The server hangs up only when the client does: the end is the message.)

    async with serve(FakeServer(after_play=stream_then_end)):
        assert await play_all() == sent


async def test_media_on_stream_zero_as_ffmpeg_serves_it(serve: Any) -> None:
    """FFmpeg's -listen server sends a player everything on message stream 0."""
    sent = stream_frames(4)

    async def stream_on_zero(server: FakeServer, stream_id: int) -> None:
        writer = ChunkWriter(chunk_size=server.conn.chunk_size)
        for timestamp, tag in tags_of(sent):
            if isinstance(tag, ScriptTag):
                values = ("@setDataFrame", "onMetaData", tag.values[1])
                writer.write(8, 18, timestamp, 0, amf0.encode(*values))
            else:
                writer.write(
                    7 if tag.tag_type == 8 else 9, tag.tag_type, timestamp, 0, tag.to_bytes()
                )
        server.conn.send_command("FCUnpublish", None, "key")
        await server.flush()
        assert server.stream is not None
        await server.stream.send_all(writer.data_to_send())
        server.conn.send_command("deleteStream", None, 0.0)
        await server.flush()

    async with serve(FakeServer(after_play=stream_on_zero)):
        assert await play_all() == sent


async def test_follow_keeps_the_channel_open_across_publishers(serve: Any) -> None:
    # The first publisher's times are just before the 32-bit wrap.
    start = 2**32 - 100
    first = [
        f._replace(dts=f.dts + start, pts=f.pts + start)
        if isinstance(f, VideoSample)
        else f._replace(timestamp=f.timestamp + start)
        if isinstance(f, AudioSample)
        else f
        for f in stream_frames(2)
    ]
    # The next publisher: same video configuration, another audio one, times from 0.
    second = [
        CodecConfig("audio", "aac", b"\x11\x90")
        if isinstance(f, CodecConfig) and f.media == "audio"
        else f
        for f in stream_frames(3)
    ]
    # The demuxer starts over at the server's PublishNotify: every configuration is
    # announced again (even one the last publisher had), and the times are the new
    # publisher's, not read as going on past the wrap from the old one's.
    expected = first + second
    next_publisher = trio.Event()

    async def two_publishers(server: FakeServer, stream_id: int) -> None:
        await server.send_frames(stream_id, first)
        server.conn.notify_unpublish(stream_id)
        await server.flush()
        await next_publisher.wait()
        server.conn.notify_publish(stream_id)
        await server.send_frames(stream_id, second)

    with NoLeakedTasks():
        async with serve(FakeServer(after_play=two_publishers)):
            async with trio_rtmp.open_client(URL) as client:
                await client.play(follow=True)
                got = [await client.frames.receive() for _ in first]
                await trio.testing.wait_all_tasks_blocked()
                with pytest.raises(trio.WouldBlock):  # still open, just nothing yet
                    client.frames.receive_nowait()
                next_publisher.set()
                with trio.move_on_after(10):  # (what does not come leaves got short)
                    for _ in expected[len(first) :]:
                        got.append(await client.frames.receive())
            # Closing the client ends the frames cleanly.
            assert [frame async for frame in client.frames] == []
    assert got == expected


@pytest.mark.parametrize(
    ("how", "code", "exception"),
    [
        ("reject", None, trio_rtmp.StreamNotFound),
        ("reject", "NetStream.Play.Failed", trio_rtmp.PlayRejected),
        ("close", None, trio_rtmp.PlayRejected),
    ],
)
async def test_play_refused(
    serve: Any, how: str, code: str | None, exception: type[Exception]
) -> None:
    with NoLeakedTasks():
        async with serve(FakeServer(play=how, reject_code=code)):
            with pytest.raises(exception) as caught:
                async with trio_rtmp.open_client(URL) as client:
                    await client.play()
    assert type(caught.value) is exception
    assert isinstance(caught.value, trio_rtmp.Refused)
    assert (
        caught.value.code
        == {
            "reject": code or "NetStream.Play.StreamNotFound",
            "close": "NetConnection.Connect.Closed",
        }[how]
    )


async def test_create_stream_refused(serve: Any) -> None:
    # A server that allows one stream per connection answers the second createStream
    # with _error: the play it was for is refused.
    server = FakeServer(play="reject", config=ConnectionConfig(max_message_streams=1))
    async with serve(server), trio_rtmp.open_client(URL) as client:
        with pytest.raises(trio_rtmp.StreamNotFound):
            await client.play()
        with pytest.raises(trio_rtmp.PlayRejected, match="NetConnection.Call.Failed"):
            await client.play()


async def test_play_failing_mid_stream(serve: Any) -> None:
    sent = stream_frames(2)

    async def stream_then_fail(server: FakeServer, stream_id: int) -> None:
        await server.send_frames(stream_id, sent)
        await server.send_status(stream_id, "error", "NetStream.Play.Failed")

    async with (
        serve(FakeServer(after_play=stream_then_fail)),
        trio_rtmp.open_client(URL) as client,
    ):
        await client.play()
        got = []
        with pytest.raises(trio_rtmp.PlayRejected, match="NetStream.Play.Failed"):
            async for frame in client.frames:
                got.append(frame)
    assert got == sent


async def test_server_vanishing_mid_play(serve: Any) -> None:
    sent = stream_frames(5)

    async def stream_then_vanish(server: FakeServer, stream_id: int) -> None:
        await server.send_frames(stream_id, sent)
        await server.hang_up()

    with NoLeakedTasks():
        async with serve(FakeServer(after_play=stream_then_vanish)):
            async with trio_rtmp.open_client(URL) as client:
                await client.play()
                got = []
                # The frames that arrived come first, then the loss.
                with pytest.raises(trio_rtmp.ConnectionClosed, match="closed the connection"):
                    async for frame in client.frames:
                        got.append(frame)
                with pytest.raises(trio_rtmp.ConnectionClosed):
                    client.frames.receive_nowait()
                with pytest.raises(trio_rtmp.ConnectionClosed):
                    await client.publish()
            await client.aclose()  # idempotent
    assert got == sent


async def test_protocol_error_from_the_server(serve: Any) -> None:
    async def send_garbage(server: FakeServer, stream_id: int) -> None:
        assert server.stream is not None
        # A chunk of message type 20 whose length is over the 8 MiB limit.
        await server.stream.send_all(b"\x03\x00\x00\x00\xff\xff\xff\x14\x00\x00\x00\x00")

    async with serve(FakeServer(after_play=send_garbage)), trio_rtmp.open_client(URL) as client:
        await client.play()
        with pytest.raises(trio_rtmp.ConnectionClosed, match="broke the protocol"):
            await client.frames.receive()


async def test_a_malformed_frame_is_skipped(serve: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="trio_rtmp.client")
    before, after = stream_frames(2), stream_frames(4)[-4:]

    async def send_a_bad_frame(server: FakeServer, stream_id: int) -> None:
        await server.send_frames(stream_id, before)
        # Two AVC frames whose NAL unit length runs past their end.
        for timestamp in (100, 101):
            bad = b"\x27\x01\x00\x00\x00\x00\x00\x00\x09\x41"
            server.conn.send_video(stream_id, timestamp, bad)
        await server.send_frames(stream_id, after)
        server.conn.stop_play(stream_id)
        await server.flush()

    async with (
        serve(FakeServer(after_play=send_a_bad_frame)),
        trio_rtmp.open_client(URL) as client,
    ):
        await client.play()
        got = [frame async for frame in client.frames]
        assert client.statistics().messages_dropped == 2
    assert got == before + [f for f in after if not isinstance(f, Metadata | CodecConfig)]
    # Logged once as a warning, then at debug level (no flood from a broken stream).
    skipped = [r.levelname for r in caplog.records if "skipped a malformed video" in r.message]
    assert skipped == ["WARNING", "DEBUG"]


async def test_raw_mode_hands_out_tags(serve: Any) -> None:
    sent = stream_frames(3)

    async def stream(server: FakeServer, stream_id: int) -> None:
        await server.send_frames(stream_id, sent)
        server.conn.stop_play(stream_id)
        await server.flush()

    async with serve(FakeServer(after_play=stream)):
        got = await play_all(demux=False)
    expected = [(int(tag.tag_type), timestamp, tag.to_bytes()) for timestamp, tag in tags_of(sent)]
    assert all(isinstance(tag, FlvTag) for tag in got)
    assert [(t.tag_type, t.timestamp, t.data) for t in got[1:]] == expected[1:]
    # The metadata comes as a script tag, as in an FLV file.
    assert got[0].tag_type == 18
    assert got[0].script_values() == ["onMetaData", {"width": 1280.0, "height": 720.0}]


async def test_frames_to_a_receiver_channel(serve: Any) -> None:
    sent = stream_frames(2)

    async def stream(server: FakeServer, stream_id: int) -> None:
        await server.send_frames(stream_id, sent)
        server.conn.stop_play(stream_id)
        await server.flush()

    send, receive = trio.open_memory_channel[Any](100)
    async with (
        serve(FakeServer(after_play=stream)),
        trio_rtmp.open_client(URL, receiver=send) as client,
    ):
        with pytest.raises(RuntimeError, match="receiver"):
            _ = client.frames
        await client.play()
        # The end of the stream closes the receiver's channel.
        got = [frame async for frame in receive]
    assert got == sent


async def test_a_slow_consumer_slows_the_server(serve: Any) -> None:
    """Backpressure: the reader waits for room in the channel and stops reading."""
    sent = stream_frames(200, size=3000)  # 600 kB: many reads
    finished_sending = trio.Event()

    async def stream(server: FakeServer, stream_id: int) -> None:
        await server.send_frames(stream_id, sent)  # blocks until the client reads it
        finished_sending.set()
        server.conn.stop_play(stream_id)
        await server.flush()

    # A lockstep stream: like TCP with no buffer, a send waits for the reader.
    async with (
        serve(FakeServer(after_play=stream), lockstep=True) as server,
        trio_rtmp.open_client(URL, frame_buffer=4) as client,
    ):
        await client.play()
        await trio.testing.wait_all_tasks_blocked()
        # The channel is full, the reader waits, and the server cannot send.
        assert client.frames.statistics().current_buffer_used == 4
        assert not finished_sending.is_set()
        # What the client took off the stream: what the server had sent before
        # the media, plus at most one read's worth (of 600 kB waiting).
        read_so_far = client.statistics().bytes_received
        assert read_so_far <= server.bytes_sent + 65536
        got = [frame async for frame in client.frames]
        assert finished_sending.is_set()
    assert got == sent


def sends(frames: list[Any], *, then_hang_up: bool = False) -> Handler:
    """A FakeServer's ``after_play``: send ``frames`` (at once, into the stream's
    buffer), then maybe hang up."""

    async def after_play(server: FakeServer, stream_id: int) -> None:
        await server.send_frames(stream_id, frames)
        if then_hang_up:
            await server.hang_up()

    return after_play


@asynccontextmanager
async def fallen_behind(serve: Any, after_play: Handler) -> AsyncIterator[trio_rtmp.RTMPClient]:
    """A client playing from a FakeServer with ``after_play``, which has stopped reading
    its frames: its channel (4 frames) is full."""
    async with (
        serve(FakeServer(after_play=after_play)),
        trio_rtmp.open_client(URL, frame_buffer=4, response_timeout=1) as client,
    ):
        await client.play()
        await trio.testing.wait_all_tasks_blocked()
        assert client.frames.statistics().current_buffer_used == 4
        yield client


async def take_until_quiet(client: trio_rtmp.RTMPClient) -> list[Any]:
    """The frames until none has come for half a second."""
    got = []
    with trio.move_on_after(0.5):
        async for frame in client.frames:
            got.append(frame)
    return got


async def test_pause_answered_behind_frames_not_yet_read(serve: Any) -> None:
    """Pausing after falling behind: the server answers behind media it had already
    sent, which the reader, held up by a full channel, had not read.  While an answer
    is awaited the reader reads on and holds the frames that do not fit; pause()
    returns, and every frame comes out, in order."""
    sent = stream_frames(40, size=1000)
    async with fallen_behind(serve, sends(sent)) as client:
        await client.pause()  # (before: ConnectionTimeout, the answer never read)
        assert client.paused
        await client.resume()  # the channel still full
        assert not client.paused
        got = await take_until_quiet(client)
    assert got == sent


async def test_frames_held_for_an_answer_come_before_the_end(serve: Any) -> None:
    """Frames held while waiting for an answer still come out before the end of the
    frames: the connection's loss (ConnectionClosed after them), and not at all once
    the client is closed (which does not wait for the consumer)."""
    sent = stream_frames(40, size=1000)
    async with fallen_behind(serve, sends(sent, then_hang_up=True)) as client:
        with pytest.raises(trio_rtmp.ConnectionClosed):
            await client.pause()  # read on to the end: no answer, the server left
        got = []
        with pytest.raises(trio_rtmp.ConnectionClosed):
            async for frame in client.frames:
                got.append(frame)
    assert got == sent

    async with fallen_behind(serve, sends(sent)) as client:
        await client.pause()
        with trio.fail_after(0.5):  # not close_timeout (2 s): nothing waits for the consumer
            await client.aclose()
        got = [frame async for frame in client.frames]
    assert got == sent[:4]  # what was in the channel; the held frames are dropped


async def test_every_frame_before_the_end_of_a_stream_comes_out(serve: Any) -> None:
    """A stream that ends (NetStream.Play.Stop) right behind frames a slow consumer has
    not taken yet: the frames all come out, then the end."""
    sent = stream_frames(40, size=1000)

    async def stream_then_stop(server: FakeServer, stream_id: int) -> None:
        await server.send_frames(stream_id, sent)
        server.conn.stop_play(stream_id)
        await server.flush()

    async with fallen_behind(serve, stream_then_stop) as client:
        got = [frame async for frame in client.frames]
    assert got == sent

    # The same with a call waiting for an answer (which sets the reader reading on)
    # while the pump is still sending the last frame before the end.
    sent = stream_frames(1)  # 5 frames: the channel's 4 and one more
    async with fallen_behind(serve, stream_then_stop) as client, trio.open_nursery() as nursery:
        nursery.start_soon(pause_quietly, client)
        await trio.testing.wait_all_tasks_blocked()
        got = [frame async for frame in client.frames]
        nursery.cancel_scope.cancel()
    assert got == sent


async def pause_quietly(client: trio_rtmp.RTMPClient) -> None:
    """``client.pause()``, whatever comes of it."""
    with contextlib.suppress(trio_rtmp.RTMPError, trio_rtmp.ConnectionTimeout):
        await client.pause()


async def test_closing_right_after_taking_a_frame(serve: Any) -> None:
    """Taking a frame from a full channel lets the pump's waiting frame in; closing the
    client right then (before the pump runs again, as ``trio-rtmp play --duration``
    did) must not upset it.  (It raised IndexError out of open_client.)"""
    sent = stream_frames(40, size=1000)
    async with fallen_behind(serve, sends(sent)) as client:
        assert client.frames.receive_nowait() == sent[0]
        await client.aclose()
        got = [frame async for frame in client.frames]
    assert got == sent[1:5]  # the channel's frames; the rest are dropped


async def test_frames_held_for_an_answer_are_bounded(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the reader holds while waiting for an answer is bounded (_HELD_BYTES):
    beyond it, it waits for the consumer again, and the answer may time out."""
    monkeypatch.setattr(client_module, "_HELD_BYTES", 20_000)
    sent = stream_frames(100, size=3000)  # 300 kB
    async with fallen_behind(serve, sends(sent)) as client:
        with pytest.raises(trio_rtmp.ConnectionTimeout):
            await client.pause()
        # The channel's 4 frames, 20 kB held, and at most one read besides.
        assert client.statistics().bytes_received <= 4 * 3100 + 20_000 + 3100 + 65536
        got = await take_until_quiet(client)
    assert got == sent


@pytest.mark.parametrize("kind", ["tiny frames", "tiny NAL units", "metadata"])
async def test_held_frames_count_what_they_cost_not_only_their_payload(
    serve: Any, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Frames with next to no payload, and decoded metadata, are held at what they
    cost in memory: a server cannot make the reader hold millions of them (or a
    gigabyte of dicts) inside the bound.  Here 20 kB of such frames is far more than
    their payload: the reader stops at the bound and the pause times out (before, it
    held them all, 5 kB of payload, and read on to the answer)."""
    monkeypatch.setattr(client_module, "_HELD_BYTES", 20_000)
    sent = stream_frames(4)
    for n in range(1000):
        if kind == "tiny frames":
            sent.append(AudioSample(bytes([n % 256]), 200 + n))
        elif kind == "tiny NAL units":
            sent.append(VideoSample([bytes([0x41, n % 256])] * 40, 200 + n, 200 + n, False))
        elif n < 10:
            sent.append(Metadata("onMetaData", {"n": float(n)}))
    async with fallen_behind(serve, sends(sent)) as client:
        with pytest.raises(trio_rtmp.ConnectionTimeout):
            await client.pause()
        if kind != "metadata":
            # The channel's 4 frames, the held ones (at 256 bytes each at least), and
            # one more waiting.
            assert client.statistics().messages_received <= 4 + 5 + 20_000 // 256 + 1
        got = await take_until_quiet(client)
    assert got == sent


async def test_frame_channel_handles(serve: Any) -> None:
    sent = stream_frames(1)

    async def stream(server: FakeServer, stream_id: int) -> None:
        await server.send_frames(stream_id, sent)
        server.conn.stop_play(stream_id)
        await server.flush()

    async with serve(FakeServer(after_play=stream)), trio_rtmp.open_client(URL) as client:
        await client.play()
        clone = client.frames.clone()
        first = await clone.receive()
        await trio.testing.wait_all_tasks_blocked()
        rest = []
        while True:
            try:
                rest.append(client.frames.receive_nowait())
            except trio.EndOfChannel:
                break
        assert [first, *rest] == sent
        await clone.aclose()
        client.frames.close()


async def test_closing_the_frames_keeps_the_connection(serve: Any) -> None:
    sent = stream_frames(50)

    async def stream(server: FakeServer, stream_id: int) -> None:
        await server.send_frames(stream_id, sent)

    async with (
        serve(FakeServer(after_play=stream)) as server,
        trio_rtmp.open_client(URL, frame_buffer=2) as client,
    ):
        await client.play()
        assert isinstance(await client.frames.receive(), Metadata)
        await client.frames.aclose()  # not interested any more
        await trio.testing.wait_all_tasks_blocked()
        # The reader drops the rest and goes on reading (acknowledging...).
        assert client.statistics().messages_received == len(sent) - 1
    assert server.of(ev.StreamDeleted)


# -- publish -------------------------------------------------------------------------------------


async def test_publish_sends_tags_byte_for_byte(serve: Any) -> None:
    legacy_video = VideoTag(
        frame_type=VideoFrameType.KEY,
        codec_id=VideoCodecId.AVC,
        avc_packet_type=AVCPacketType.SEQUENCE_HEADER,
        data=AVCC,
    )
    legacy_audio = AudioTag(
        sound_format=SoundFormat.AAC, aac_packet_type=AACPacketType.SEQUENCE_HEADER, data=ASC
    )
    enhanced = ExVideoTag(
        frame_type=VideoFrameType.KEY,
        packet_type=VideoPacketType.CODED_FRAMES,
        fourcc=VideoFourCC.HEVC,
        composition_time=40,
        data=b"\x00\x00\x00\x02\x26\x01",
    )
    raw = FlvTag(9, 0, b"\x27\x01\x00\x00\x00\x00\x00\x00\x02\x41\x9a")
    metadata_tag = ScriptTag(values=("onMetaData", {"width": 640.0}))
    sent: list[tuple[int, AnyTag | FlvTag]] = [
        (0, metadata_tag),
        (0, legacy_video),
        (0, legacy_audio),
        (40, enhanced),
        (80, raw),
        (0x1000000 + 5, legacy_audio),  # an extended timestamp
        (2**32 + 7, legacy_audio),  # wraps to 7
    ]
    with NoLeakedTasks():
        async with serve(FakeServer()) as server:
            async with trio_rtmp.open_client(URL) as client:
                await client.publish()
                assert client.stream_id == 1
                for timestamp, tag in sent:
                    await client.send_tag(timestamp, tag)
                await client.send_metadata({"encoder": "test"}, timestamp=120)
                stats = client.statistics()
            await server.done.wait()
    media = [e for e in server.events if isinstance(e, ev.AudioData | ev.VideoData)]
    assert [(type(e), e.stream_id, e.timestamp, e.payload) for e in media] == [
        (ev.VideoData, 1, 0, legacy_video.to_bytes()),
        (ev.AudioData, 1, 0, legacy_audio.to_bytes()),
        (ev.VideoData, 1, 40, enhanced.to_bytes()),
        (ev.VideoData, 1, 80, raw.data),
        (ev.AudioData, 1, 0x1000005, legacy_audio.to_bytes()),
        (ev.AudioData, 1, 7, legacy_audio.to_bytes()),
    ]
    # Metadata goes out as @setDataFrame onMetaData, which the server keeps.
    assert [(e.timestamp, e.metadata) for e in server.of(ev.StreamMetadata)] == [
        (0, {"width": 640.0}),
        (120, {"encoder": "test"}),
    ]
    assert stats.messages_sent == len(sent)
    # As FFmpeg: releaseStream, FCPublish, createStream, publish ...
    [request] = server.of(ev.PublishRequest)
    assert (request.stream_key, request.publish_type) == ("key", "live")
    names = [e.command.name for e in server.of(ev.CommandReceived)]
    assert names == []  # (releaseStream and FCPublish are answered by the core)
    # ... and at the end FCUnpublish and deleteStream.
    assert [type(e) for e in server.events[-3:]] == [
        ev.StreamClosed,
        ev.StreamDeleted,
        ev.ConnectionClosed,
    ]


async def test_publish_types(serve: Any) -> None:
    async with serve(FakeServer()) as server, trio_rtmp.open_client(URL) as client:
        await client.publish("record")
    assert server.of(ev.PublishRequest)[0].publish_type == "record"


@pytest.mark.parametrize(
    ("how", "code", "afterwards"),
    [
        ("reject", "NetStream.Publish.BadName", LocalProtocolError),  # not publishing
        ("close", "NetConnection.Connect.Closed", trio_rtmp.ConnectionClosed),
    ],
)
async def test_publish_refused(
    serve: Any, how: str, code: str, afterwards: type[Exception]
) -> None:
    with NoLeakedTasks():
        async with serve(FakeServer(publish=how)), trio_rtmp.open_client(URL) as client:
            with pytest.raises(trio_rtmp.PublishRejected) as caught:
                await client.publish()
            assert caught.value.code == code
            with pytest.raises(afterwards):
                await client.send_tag(0, FlvTag(8, 0, b"\xaf\x01\x00"))


async def test_publish_stopped_by_the_server(serve: Any) -> None:
    async with serve(FakeServer()) as server, trio_rtmp.open_client(URL) as client:
        await client.publish()
        await client.send_tag(0, FlvTag(8, 0, b"\xaf\x01\x00"))
        await server.send_status(1, "error", "NetStream.Publish.BadName")
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(trio_rtmp.PublishRejected, match="BadName"):
            await client.send_tag(23, FlvTag(8, 23, b"\xaf\x01\x00"))


async def test_misuse_is_a_local_error(serve: Any) -> None:
    async with serve(FakeServer()):
        async with trio_rtmp.open_client(URL) as client:
            with pytest.raises(LocalProtocolError, match="publish"):
                await client.send_tag(0, FlvTag(8, 0, b"\xaf\x01\x00"))
            await client.play()
            with pytest.raises(LocalProtocolError, match="already playing"):
                await client.publish()
            with pytest.raises(LocalProtocolError, match="already playing"):
                await client.play()
        # After closing, everything says so.
        with pytest.raises(trio_rtmp.ConnectionClosed, match="closed"):
            await client.play()
    async with serve(FakeServer()), trio_rtmp.open_client(URL) as client:
        await client.publish()
        with pytest.raises(LocalProtocolError, match="type 7"):
            await client.send_tag(0, FlvTag(7, 0, b""))
        await client.close()
        with pytest.raises(trio_rtmp.ConnectionClosed):
            await client.send_tag(0, FlvTag(8, 0, b"\xaf\x01\x00"))


# -- the context manager and the low-level form --------------------------------------------------


async def test_an_error_in_the_block_comes_out_as_itself(serve: Any) -> None:
    with NoLeakedTasks():
        async with serve(FakeServer()) as server:
            with pytest.raises(ZeroDivisionError):
                async with trio_rtmp.open_client(URL) as client:
                    await client.play()
                    _ = 1 / 0
            await server.done.wait()
    assert server.of(ev.StreamDeleted)  # closed politely all the same


async def test_connect_client_in_my_own_nursery(serve: Any) -> None:
    with NoLeakedTasks():
        async with serve(FakeServer()) as server, trio.open_nursery() as nursery:
            client = await trio_rtmp.connect_client(nursery, URL)
            assert nursery.child_tasks  # the reader
            await client.publish()
            await client.aclose()
            await client.aclose()
            await trio.testing.wait_all_tasks_blocked()
            assert not nursery.child_tasks
    assert server.of(ev.StreamDeleted)


async def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="connect_timeout"):
        async with trio_rtmp.open_client(URL, connect_timeout=0):
            pass
    for name in ("write_stall_timeout", "receive_timeout"):
        for value in (0, -1, float("nan")):
            with pytest.raises(ValueError, match=name):
                async with trio_rtmp.open_client(URL, **{name: value}):
                    pass
    with pytest.raises(LocalProtocolError, match="RTMP URL"):
        async with trio_rtmp.open_client("http://example.com/live/key"):
            pass


def test_exceptions() -> None:
    error = trio_rtmp.PublishRejected("NetStream.Publish.BadName", "taken")
    assert (error.code, error.description, str(error)) == (
        "NetStream.Publish.BadName",
        "taken",
        "NetStream.Publish.BadName: taken",
    )
    assert str(trio_rtmp.StreamNotFound("NetStream.Play.StreamNotFound")) == (
        "NetStream.Play.StreamNotFound"
    )
    assert issubclass(trio_rtmp.StreamNotFound, trio_rtmp.PlayRejected)
    assert issubclass(trio_rtmp.ConnectionFailed, trio_rtmp.ConnectionClosed)
    assert issubclass(trio_rtmp.ConnectionTimeout, TimeoutError)
    for name in ("ConnectionClosed", "ConnectionTimeout", "Refused"):
        assert issubclass(getattr(trio_rtmp, name), trio_rtmp.RTMPError)


# -- closing -----------------------------------------------------------------------------------


async def test_closing_half_closes_and_reads_to_the_servers_end(serve: Any) -> None:
    """deleteStream, then EOF; whatever the server still sends is read, not reset."""
    server = FakeServer()

    async def last_words(server: FakeServer, stream_id: int) -> None:
        server.conn.send_audio(stream_id, 0, b"\xaf\x01" + bytes(100_000))  # (unread)
        await server.flush()

    server.after_play = last_words
    with NoLeakedTasks():
        async with serve(server):
            async with trio_rtmp.open_client(URL) as client:
                await client.play()
            await server.done.wait()
            # The client read everything the server sent before it hung up.
            assert client.statistics().bytes_received == server.bytes_sent
    # The server saw, in order: deleteStream, then the client's EOF.
    assert [type(e) for e in server.events[-2:]] == [ev.StreamDeleted, ev.ConnectionClosed]


async def test_close_waits_at_most_close_timeout_for_the_servers_end(
    serve: Any, autojump_clock: trio.testing.MockClock
) -> None:
    server = FakeServer()

    async def never_hang_up(stream: trio.abc.Stream) -> None:
        # Reads everything, EOF included, but keeps its end open.
        server.stream = stream
        while True:
            data = await stream.receive_some()
            for event in server.conn.receive_data(data):
                await server.handle(event)
            await server.flush()
            if not data:
                await trio.sleep_forever()

    server.run = never_hang_up  # type: ignore[method-assign]
    with NoLeakedTasks():
        async with serve(server):
            async with trio_rtmp.open_client(URL, close_timeout=3) as client:
                await client.publish()
                started = trio.current_time()
            assert trio.current_time() - started == pytest.approx(3)
    assert server.of(ev.StreamDeleted)


async def test_the_reader_cancelled_from_outside(serve: Any) -> None:
    """connect_client's reader lives in the caller's nursery; if that is cancelled, the
    client says so instead of waiting forever."""
    async with serve(FakeServer()):
        async with trio.open_nursery() as nursery:
            client = await trio_rtmp.connect_client(nursery, URL)
            await client.play()
            nursery.cancel_scope.cancel()
        with pytest.raises(trio_rtmp.ConnectionClosed, match="reader task was cancelled"):
            await client.frames.receive()
        with pytest.raises(trio_rtmp.ConnectionClosed, match="reader task was cancelled"):
            await client.play()
        await client.aclose()


async def test_the_reader_cancelled_from_outside_with_frames_held(serve: Any) -> None:
    """The same with frames held for a pause: they are lost with the reader, and the
    frames end (with the error) instead of waiting for them forever."""
    sent = stream_frames(40, size=1000)
    async with serve(FakeServer(after_play=sends(sent))), trio.open_nursery() as outer:
        async with trio.open_nursery() as nursery:
            client = await trio_rtmp.connect_client(
                nursery, URL, frame_buffer=4, response_timeout=60
            )
            await client.play()
            await trio.testing.wait_all_tasks_blocked()
            outer.start_soon(client.pause)  # never answered: the server's buffer is full
            await trio.testing.wait_all_tasks_blocked()
            assert client._held  # (the frames the reader read on for)
            nursery.cancel_scope.cancel()
        got = []
        with trio.fail_after(1), pytest.raises(trio_rtmp.ConnectionClosed, match="cancelled"):
            async for frame in client.frames:
                got.append(frame)
        assert got == sent[:4]
        await client.aclose()


@pytest.mark.parametrize("call", ["send_tag", "send_metadata", "pause", "play"])
async def test_a_cancelled_caller_is_cancelled_not_told_the_reader_died(
    serve: Any, call: str
) -> None:
    """A cancel scope around a client cancels its reader task too; the caller, being
    cancelled as well, must get its Cancelled (which the scope absorbs) and not a
    ConnectionClosed about the reader: that escaped a ``move_on_after`` around
    ``open_client`` as an exception group, about one time in a hundred when the
    deadline fell in the handshake's last steps.  Here the reader is gone first and
    the caller's scope is cancelled; outside the scope the error stands."""
    async with serve(FakeServer()):
        async with trio.open_nursery() as nursery:
            client = await trio_rtmp.connect_client(nursery, URL)
            if call in ("send_tag", "send_metadata"):
                await client.publish()
            elif call == "pause":
                await client.play()
            nursery.cancel_scope.cancel()
        calls = {
            "send_tag": lambda: client.send_tag(0, FlvTag(8, 0, b"\xaf\x01\x00")),
            "send_metadata": lambda: client.send_metadata({"width": 1.0}),
            "pause": client.pause,
            "play": client.play,
        }
        with trio.CancelScope() as scope:
            scope.cancel()
            await calls[call]()
        assert scope.cancelled_caught
        with pytest.raises(trio_rtmp.ConnectionClosed, match="reader task was cancelled"):
            await calls[call]()
        await client.aclose()


async def test_a_deadline_around_open_client_raises_nothing() -> None:
    """``move_on_after`` around ``open_client`` and ``play``, with deadlines swept
    across the connection's first milliseconds: whenever it falls, the scope absorbs
    the cancellation and nothing escapes (an exception group of ConnectionClosed did,
    now and then, before the client checkpointed ahead of that error)."""
    from trio_rtmp.relay import Relay

    relay = Relay()
    async with trio.open_nursery() as nursery:
        server = await nursery.start(partial(relay.serve, 0, host="127.0.0.1"))
        url = f"rtmp://127.0.0.1:{server.port}/live/deadline"
        for step in range(1000):
            with trio.move_on_after(step * 4e-6):
                async with trio_rtmp.open_client(url) as client:
                    await client.play()
        # (On this project's machine, a connection and play take about 2 ms.)
        async with trio_rtmp.open_client(url) as client:
            await client.play()
        server.stop()
    assert server.statistics().connections == 0


async def test_concurrent_closes(serve: Any) -> None:
    async with serve(FakeServer()) as server:
        async with trio_rtmp.open_client(URL) as client:
            await client.publish()
            async with trio.open_nursery() as nursery:
                for _ in range(3):
                    nursery.start_soon(client.aclose)
            with pytest.raises(trio_rtmp.ConnectionClosed):
                await client.send_tag(0, FlvTag(8, 0, b"\xaf\x01\x00"))
        await server.done.wait()
    assert len(server.of(ev.StreamDeleted)) == 1
