"""The Trio server: serve_rtmp, ServerHandler callbacks, Reject, the session's send
methods, and the per-connection limits and timeouts (handshake deadline, idle timeout
and pings, max connections, max message size, max streams, write stall), with a
misbehaving connection next to a good stream that must not notice it.

Clients are our own (``open_client``), a hand-driven sans-IO client
(:class:`server_support.RawClient`) for what no honest client does, and FFmpeg.
"""

from __future__ import annotations

import logging
import socket
import ssl
import struct
from pathlib import Path
from typing import Any, ClassVar

import pytest
import trio
import trio.testing
from connection_pair import amf_burst
from peers import WAIT, Peers, SampleCache, compare_media, decode_errors, probe_packets
from server_support import (
    RawClient,
    keyframe_index_metadata,
    open_fds,
    publish_tags,
    read_tags,
    spy_on_tcp_nodelay,
    wait_for,
    write_flv,
)

import trio_rtmp
import trio_rtmp.media
import trio_rtmp.server as server_module
from trio_rtmp.core import events as ev
from trio_rtmp.core import messages
from trio_rtmp.core.chunks import ChunkWriter, encode_message
from trio_rtmp.core.config import Limits
from trio_rtmp.core.connection import ConnectionConfig
from trio_rtmp.media.flvfile import FlvTag
from trio_rtmp.media.frames import AudioSample, CodecConfig, Metadata, VideoSample
from trio_rtmp.relay import Relay
from trio_rtmp.server import ServerConfig

README = Path(__file__).resolve().parent.parent / "README.md"


# -- helpers ------------------------------------------------------------------------


class Recorder(trio_rtmp.ServerHandler):
    """Records every callback, in order, into a shared log."""

    def __init__(self, log: list[tuple[Any, ...]]) -> None:
        self.log = log

    async def on_connect(self, request: ev.ConnectRequest) -> None:
        self.log.append(("connect", request.app))

    async def on_publish(self, request: ev.PublishRequest) -> None:
        self.log.append(("publish", request.stream_id, request.stream_key))

    async def on_play(self, request: ev.PlayRequest) -> None:
        self.log.append(("play", request.stream_id, request.stream_key))

    async def on_play_started(self, request: ev.PlayRequest) -> None:
        self.log.append(("play_started", request.stream_id))

    async def on_delete_stream(self, stream_id: int) -> None:
        self.log.append(("delete_stream", stream_id))

    async def on_metadata(self, stream_id: int, metadata: dict[str, Any]) -> None:
        self.log.append(("metadata", stream_id, metadata))

    async def on_video(self, stream_id: int, data: Any) -> None:
        self.log.append(("video", stream_id, data))

    async def on_audio(self, stream_id: int, data: Any) -> None:
        self.log.append(("audio", stream_id, data))

    async def on_data(self, stream_id: int, event: ev.DataReceived) -> None:
        self.log.append(("data", stream_id, event.values))

    async def on_command(self, event: ev.CommandReceived) -> None:
        self.log.append(("command", event.command.name))
        self.session.connection.send_result(event.command.transaction_id, None, "pong")

    async def on_disconnect(self) -> None:
        self.log.append(("disconnect",))


async def start_server(nursery: trio.Nursery, factory: Any, **options: Any) -> trio_rtmp.RTMPServer:
    server: trio_rtmp.RTMPServer = await nursery.start(
        lambda task_status: trio_rtmp.serve_rtmp(
            factory, 0, host="127.0.0.1", task_status=task_status, **options
        )
    )
    return server


def url(server: trio_rtmp.RTMPServer, app: str = "live", key: str = "key") -> str:
    return f"rtmp://127.0.0.1:{server.port}/{app}/{key}"


async def seconds_until_closed(client: RawClient, start: float, timeout: float) -> float:
    """Read, answering nothing, until the server closes ``client``; the seconds from
    ``start`` to then."""
    with trio.fail_after(timeout):
        while await client.stream.receive_some(65536):
            pass
    return trio.current_time() - start


def kinds(log: list[tuple[Any, ...]]) -> list[str]:
    return [entry[0] for entry in log]


@pytest.fixture
def sample_tags(sample_flv: Path) -> list[FlvTag]:
    return read_tags(sample_flv)


# -- serve_rtmp and the handler callbacks ---------------------------------------------


async def test_serve_rtmp_started_with_port_and_stop() -> None:
    log: list[tuple[Any, ...]] = []
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, lambda: Recorder(log))
        assert server.port > 0
        assert server.address == ("127.0.0.1", server.port)
        async with trio_rtmp.open_client(url(server)) as client:
            assert client.server_properties["fmsVer"]
            await wait_for(lambda: server.statistics().connections == 1)
            server.stop()
            # Stopping closes the session too: the client sees its connection end.
            with trio.fail_after(WAIT):
                await client._reader_done.wait()
    assert ("disconnect",) in log
    stats = server.statistics()
    assert (stats.connections, stats.total_connections, stats.refused) == (0, 1, 0)


async def test_the_client_probes_a_quiet_connection() -> None:
    """Our client's socket has TCP keepalive on: probes after 30 s of quiet, 10 s apart,
    3 of them.  A player only receives: without it, a server whose host lost power or
    its network would leave it waiting forever."""
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, lambda: Recorder([]))
        async with trio_rtmp.open_client(url(server)) as client:
            stream = client._stream
            assert isinstance(stream, trio.SocketStream)
            assert stream.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
            options = [
                stream.getsockopt(socket.IPPROTO_TCP, option)
                for option in (socket.TCP_KEEPIDLE, socket.TCP_KEEPINTVL, socket.TCP_KEEPCNT)
            ]
            assert options == [30, 10, 3]
        server.stop()


async def test_publish_callbacks_with_frames(sample_flv: Path, sample_tags: list[FlvTag]) -> None:
    """demux=True: on_connect, on_publish, on_metadata, on_video/on_audio with frames
    (as many samples as ffprobe counts), on_delete_stream, on_disconnect, in order."""
    log: list[tuple[Any, ...]] = []
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, lambda: Recorder(log))
        async with trio_rtmp.open_client(url(server, "live", "cam")) as client:
            await client.publish()
            await publish_tags(client, sample_tags)
        await wait_for(lambda: ("disconnect",) in log)
        server.stop()
    assert log[:2] == [("connect", "live"), ("publish", 1, "cam")]
    assert log[-2:] == [("delete_stream", 1), ("disconnect",)]
    metadata = [entry for entry in log if entry[0] == "metadata"]
    assert len(metadata) == 1 and metadata[0][2]["width"] == 320.0
    video = [entry[2] for entry in log if entry[0] == "video"]
    audio = [entry[2] for entry in log if entry[0] == "audio"]
    assert isinstance(video[0], CodecConfig) and video[0].codec == "h264"
    assert isinstance(audio[0], CodecConfig) and audio[0].codec == "aac"
    packets = probe_packets(sample_flv)
    source_video = [p for p in packets if p.media == "video"]
    samples = [f for f in video if isinstance(f, VideoSample)]
    assert len(samples) == len(source_video)
    assert [s.keyframe for s in samples] == [p.keyframe for p in source_video]
    assert [s.pts - s.dts for s in samples] == [p.composition_offset for p in source_video]
    assert sum(isinstance(f, AudioSample) for f in audio) == sum(
        p.media == "audio" for p in packets
    )


async def test_a_malformed_frame_from_a_publisher_is_skipped(
    sample_tags: list[FlvTag], caplog: pytest.LogCaptureFixture
) -> None:
    """demux=True: a message the demuxer cannot read is skipped, logged (the first at
    warning level) and counted, and the publish goes on, as a playing client does it
    (before, it closed the publisher's connection)."""
    log: list[tuple[Any, ...]] = []
    stats: list[trio_rtmp.server.SessionStatistics] = []

    class Counting(Recorder):
        async def on_delete_stream(self, stream_id: int) -> None:
            stats.append(self.session.statistics())
            await super().on_delete_stream(stream_id)

    caplog.set_level(logging.DEBUG, logger="trio_rtmp.server")
    media = [tag for tag in sample_tags if tag.tag_type != 18]
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, lambda: Counting(log))
        async with trio_rtmp.open_client(url(server)) as client:
            await client.publish()
            await publish_tags(client, media[:10])
            # A NAL unit length past the end of the frame; AAC without its packet type.
            await client.send_raw(
                9, media[9].timestamp, b"\x27\x01\x00\x00\x00\x00\x00\x00\x09short"
            )
            await client.send_raw(8, media[9].timestamp, b"\xaf")
            await publish_tags(client, media[10:])
        await wait_for(lambda: ("disconnect",) in log)
        server.stop()
    demuxer = trio_rtmp.media.Demuxer()
    expected = [f for t in media for f in demuxer.tag(t.tag_type, t.timestamp, t.data)]
    assert [entry[2] for entry in log if entry[0] in ("video", "audio")] == expected
    assert [s.messages_dropped for s in stats] == [2]
    skipped = [r for r in caplog.records if "skipped a malformed" in r.getMessage()]
    assert [r.levelno for r in skipped] == [logging.WARNING, logging.DEBUG]
    assert "skipped a malformed video message: NAL unit length" in skipped[0].getMessage()
    assert "skipped a malformed audio message" in skipped[1].getMessage()


async def test_publish_callbacks_with_raw_tags(sample_tags: list[FlvTag]) -> None:
    """demux=False: on_video/on_audio get the FlvTag exactly as published."""
    log: list[tuple[Any, ...]] = []
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, lambda: Recorder(log), demux=False)
        async with trio_rtmp.open_client(url(server)) as client:
            await client.publish()
            await publish_tags(client, sample_tags)
        await wait_for(lambda: ("disconnect",) in log)
        server.stop()
    received = [entry[2] for entry in log if entry[0] in ("video", "audio")]
    assert all(isinstance(tag, FlvTag) for tag in received)
    media = [tag for tag in sample_tags if tag.tag_type != 18]
    assert [(t.tag_type, t.timestamp, t.data) for t in received] == [
        (t.tag_type, t.timestamp, t.data) for t in media
    ]


async def test_data_command_and_delete_stream_callbacks() -> None:
    log: list[tuple[Any, ...]] = []
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, lambda: Recorder(log))
        raw = await RawClient.open(server.port)
        assert isinstance(await raw.connect(port=server.port), ev.Connected)
        # A command the server does not know reaches on_command, which answers it.
        transaction = raw.conn.call("customCall", None, 1.0)
        await raw.flush()
        result = await raw.until(lambda e: isinstance(e, ev.CommandResult))
        assert isinstance(result, ev.CommandResult)
        assert result.transaction_id == transaction and result.arguments[-1:] == ("pong",)
        assert isinstance(await raw.publish("k"), ev.PublishStarted)
        raw.conn.send_data(1, ("onTextData", {"text": "hello"}))
        raw.conn.delete_stream(1)
        await raw.flush()
        await wait_for(lambda: ("delete_stream", 1) in log)
        # The connection lives on after deleteStream; closing it ends the session.
        assert ("disconnect",) not in log
        await raw.aclose()
        await wait_for(lambda: ("disconnect",) in log)
        server.stop()
    assert ("command", "customCall") in log
    assert ("data", 1, ("onTextData", {"text": "hello"})) in log
    assert log.index(("data", 1, ("onTextData", {"text": "hello"}))) < log.index(
        ("delete_stream", 1)
    )
    assert log.count(("delete_stream", 1)) == 1


async def test_abrupt_disconnect_ends_every_stream() -> None:
    """A publisher and a player on one connection that just vanishes: on_delete_stream
    for each, then on_disconnect."""
    log: list[tuple[Any, ...]] = []
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, lambda: Recorder(log))
        raw = await RawClient.open(server.port)
        await raw.connect(port=server.port)
        assert isinstance(await raw.publish("a"), ev.PublishStarted)
        assert isinstance(await raw.play("b"), ev.PlayStarted)
        await raw.aclose()
        await wait_for(lambda: ("disconnect",) in log)
        server.stop()
    assert log[-3:] == [("delete_stream", 1), ("delete_stream", 2), ("disconnect",)]
    assert ("play_started", 2) in log


class Refuser(trio_rtmp.ServerHandler):
    """Refuses what its class attributes say."""

    connect: trio_rtmp.Reject | None = None
    publish: trio_rtmp.Reject | None = None
    play: trio_rtmp.Reject | None = None
    calls: list[str]

    async def on_connect(self, request: ev.ConnectRequest) -> None:
        if self.connect:
            raise self.connect

    async def on_publish(self, request: ev.PublishRequest) -> None:
        if self.publish:
            raise self.publish

    async def on_play(self, request: ev.PlayRequest) -> None:
        if self.play:
            raise self.play

    async def on_play_started(self, request: ev.PlayRequest) -> None:
        raise AssertionError("a refused play must not start")


@pytest.mark.parametrize(
    ("reject", "code"),
    [
        (trio_rtmp.Reject("go away"), "NetConnection.Connect.Rejected"),
        (
            trio_rtmp.Reject("no app", code="NetConnection.Connect.InvalidApp"),
            "NetConnection.Connect.InvalidApp",
        ),
    ],
)
async def test_reject_connect(reject: trio_rtmp.Reject, code: str) -> None:
    handler = type("H", (Refuser,), {"connect": reject})
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, handler)
        with pytest.raises(trio_rtmp.ConnectionRejected) as info:
            async with trio_rtmp.open_client(url(server)):
                pass
        assert info.value.code == code
        assert info.value.description == reject.reason
        # The server then closes the connection.
        raw = await RawClient.open(server.port)
        assert isinstance(await raw.connect(port=server.port), ev.ConnectRejected)
        await raw.read_until_closed()
        await wait_for(lambda: server.statistics().connections == 0)
        server.stop()


@pytest.mark.parametrize(
    ("reject", "code"),
    [
        (trio_rtmp.Reject("wrong key"), "NetStream.Publish.BadName"),
        (trio_rtmp.Reject("later", code="NetStream.Publish.Failed"), "NetStream.Publish.Failed"),
    ],
)
async def test_reject_publish(reject: trio_rtmp.Reject, code: str) -> None:
    handler = type("H", (Refuser,), {"publish": reject})
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, handler)
        async with trio_rtmp.open_client(url(server)) as client:
            with pytest.raises(trio_rtmp.PublishRejected) as info:
                await client.publish()
            assert (info.value.code, info.value.description) == (code, reject.reason)
        server.stop()


@pytest.mark.parametrize(
    ("reject", "error", "code"),
    [
        (
            trio_rtmp.Reject("nothing here"),
            trio_rtmp.StreamNotFound,
            "NetStream.Play.StreamNotFound",
        ),
        (
            trio_rtmp.Reject("forbidden", code="NetStream.Play.Failed"),
            trio_rtmp.PlayRejected,
            "NetStream.Play.Failed",
        ),
    ],
)
async def test_reject_play(reject: trio_rtmp.Reject, error: type[Exception], code: str) -> None:
    handler = type("H", (Refuser,), {"play": reject})
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, handler)
        async with trio_rtmp.open_client(url(server)) as client:
            with pytest.raises(error) as info:
                await client.play()
            assert info.value.code == code  # type: ignore[attr-defined]
        server.stop()


async def test_a_peer_without_an_address_is_logged_as_such(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A peer that resets its connection at once has no address left to ask for
    (``remote_address`` is None); the log says so instead of "session None"."""
    monkeypatch.setattr(server_module, "_peer_address", lambda stream: None)
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, trio_rtmp.ServerHandler)
        with caplog.at_level(logging.INFO, logger="trio_rtmp.server"):
            raw = await RawClient.open(server.port)
            await raw.send_raw(b"\x06" + bytes(1536))
            await raw.read_until_closed(timeout=WAIT)
            await wait_for(lambda: server.statistics().connections == 0)
        server.stop()
    assert "session <unknown address>: protocol error: C0 version byte is 6" in caplog.text
    assert "session None" not in caplog.text


async def test_handler_error_closes_only_its_connection(caplog: pytest.LogCaptureFixture) -> None:
    class Faulty(trio_rtmp.ServerHandler):
        async def on_publish(self, request: ev.PublishRequest) -> None:
            if request.stream_key == "boom":
                raise RuntimeError("handler bug")

    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, Faulty)
        async with trio_rtmp.open_client(url(server, key="fine")) as good:
            await good.publish()
            with caplog.at_level(logging.ERROR, logger="trio_rtmp.server"):
                bad = await RawClient.open(server.port)
                await bad.connect(port=server.port)
                stream_id = await bad.create_stream()
                bad.conn.publish(stream_id, "boom")
                await bad.flush()
                await bad.read_until_closed()
            assert "handler bug" in caplog.text
            # Logged as the handler's own error, with its traceback (not the group the
            # session's nursery wrapped it in).
            [record] = [r for r in caplog.records if r.exc_info]
            assert record.exc_info is not None and record.exc_info[0] is RuntimeError
            assert "in on_publish" in caplog.text
            # The other connection is untouched.
            await good.send_metadata({"still": True})
            await wait_for(lambda: server.statistics().connections == 1)
        server.stop()


async def test_a_client_that_does_not_wait_for_connect_is_answered_in_order() -> None:
    # Some encoders send createStream and publish right behind connect.  What comes
    # while the handler decides on connect is held, then handled in order.
    calls: list[str] = []

    class Slow(trio_rtmp.ServerHandler):
        async def on_connect(self, request: ev.ConnectRequest) -> None:
            calls.append("connect")
            await trio.sleep(0.2)
            calls.append("connect done")

        async def on_publish(self, request: ev.PublishRequest) -> None:
            calls.append(f"publish {request.stream_key}")

    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, Slow)
        client = await RawClient.open(server.port)
        client.conn.connect(app="live", tc_url=f"rtmp://127.0.0.1:{server.port}/live")
        writer = ChunkWriter()
        for command in (
            messages.Command(name="createStream", transaction_id=2.0, arguments=()),
            messages.Command(
                name="publish", transaction_id=3.0, arguments=("k", "live"), message_stream_id=1
            ),
        ):
            writer.write(*messages.encode_message(command, chunk_stream_id=8))
        # One write: the handshake's C0+C1 and, behind it, C2 and all three commands
        # as soon as the server's S0+S1+S2 are in.
        await client.flush()
        while not client.conn.data_to_send() and client.conn.state.value == "handshaking":
            await client.receive()
        await client.send_raw(client.conn.data_to_send() + writer.data_to_send())
        status = await client.until(
            lambda e: isinstance(e, ev.StatusReceived) and e.code == "NetStream.Publish.Start"
        )
        assert isinstance(status, ev.StatusReceived) and status.stream_id == 1
        assert any(isinstance(e, ev.Connected) for e in client.events)
        assert calls == ["connect", "connect done", "publish k"]
        await client.aclose()
        server.stop()


async def test_handler_factory_error_closes_the_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def factory() -> trio_rtmp.ServerHandler:
        raise RuntimeError("no handler today")

    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, factory)
        with caplog.at_level(logging.ERROR, logger="trio_rtmp.server"):
            raw = await RawClient.open(server.port)
            await raw.flush()
            await raw.read_until_closed()
        assert "no handler today" in caplog.text
        server.stop()


class Generator(trio_rtmp.ServerHandler):
    """Plays the sample to every player with send_metadata/send_frame and stops."""

    tags: ClassVar[list[FlvTag]] = []

    async def on_play_started(self, request: ev.PlayRequest) -> None:
        session = self.session
        await session.send_metadata(request.stream_id, {"width": 320.0, "height": 240.0})
        demuxer = trio_rtmp.media.Demuxer()
        for tag in self.tags:
            if tag.tag_type == 18:
                continue
            for frame in demuxer.tag(tag.tag_type, tag.timestamp, tag.data):
                await session.send_frame(request.stream_id, frame)
        session.stop_play(request.stream_id)


async def test_session_sends_frames_to_a_player(sample_tags: list[FlvTag]) -> None:
    """The session's send_* methods: a player gets metadata, the codec configurations
    and every sample (muxed back from frames), then the end of the stream."""
    handler = type("G", (Generator,), {"tags": sample_tags})
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, handler)
        async with trio_rtmp.open_client(url(server)) as client:
            await client.play()
            with trio.fail_after(WAIT):
                frames = [frame async for frame in client.frames]
        server.stop()
    assert isinstance(frames[0], Metadata) and frames[0].value == {"width": 320.0, "height": 240.0}
    source = trio_rtmp.media.Demuxer()
    expected = [
        f
        for t in sample_tags
        if t.tag_type != 18
        for f in source.tag(t.tag_type, t.timestamp, t.data)
    ]
    assert frames[1:] == expected


class TagPlayer(trio_rtmp.ServerHandler):
    """Plays its tags to every player with send_tag, as they are, and stops."""

    tags: ClassVar[list[FlvTag]] = []

    async def on_play_started(self, request: ev.PlayRequest) -> None:
        for tag in self.tags:
            await self.session.send_tag(request.stream_id, tag.timestamp, tag)
        self.session.stop_play(request.stream_id)


async def test_metadata_over_the_amf_limit_reaches_players(
    peers: Peers,
    sample_flv: Path,
    sample_tags: list[FlvTag],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A file's onMetaData with a keyframe index, past the 64 KiB of AMF that is
    decoded: the session sends it as it is.  Our client passes it on undecoded (raw
    tags) or skips it with a warning (frames); FFmpeg takes it; every frame arrives."""
    big = keyframe_index_metadata(4000)
    assert len(big.data) > 65536
    media = [t for t in sample_tags if t.tag_type != 18]
    handler = type("P", (TagPlayer,), {"tags": [big, *media]})
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, handler)
        ffmpeg = peers.ffmpeg_play(url(server), tmp_path / "ffmpeg.flv")
        async with trio_rtmp.open_client(url(server), demux=False) as client:
            await client.play()
            with trio.fail_after(WAIT):
                tags = [tag async for tag in client.frames]
        async with trio_rtmp.open_client(url(server)) as client:
            await client.play()
            with trio.fail_after(WAIT):
                frames = [frame async for frame in client.frames]
        assert await ffmpeg.wait_async() == 0, ffmpeg.log()
        server.stop()
    assert tags == [big, *media]
    source = trio_rtmp.media.Demuxer()
    expected = [f for t in media for f in source.tag(t.tag_type, t.timestamp, t.data)]
    assert frames == expected
    assert f"skipped an onMetaData of {len(big.data)} bytes" in caplog.text
    compare_media(sample_flv, tmp_path / "ffmpeg.flv").assert_ok(min_compared=90, max_source_left=0)


async def test_handler_closes_the_session() -> None:
    """``session.aclose()`` sends what is queued, then closes: the client gets the
    metadata, then loses the connection; on_disconnect runs."""
    log: list[tuple[Any, ...]] = []

    class Closer(Recorder):
        async def on_play_started(self, request: ev.PlayRequest) -> None:
            await self.session.send_metadata(request.stream_id, {"bye": True})
            await self.session.aclose()

    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, lambda: Closer(log))
        async with trio_rtmp.open_client(url(server)) as client:
            await client.play()
            with trio.fail_after(WAIT):
                assert await client.frames.receive() == Metadata("onMetaData", {"bye": True})
                with pytest.raises(trio_rtmp.ConnectionClosed):
                    await client.frames.receive()
        await wait_for(lambda: ("disconnect",) in log)
        # The session leaves the server's count after on_disconnect and the close.
        await wait_for(lambda: server.statistics().connections == 0, what="the count to drop")
        server.stop()


# -- the README example ---------------------------------------------------------------

README_HEADING = "## Write your own server"
README_EXAMPLE = """\
from pathlib import Path

import trio
import trio_rtmp
from trio_rtmp.media.flvfile import read_flv


class Clips(trio_rtmp.ServerHandler):
    \"\"\"Plays clips/NAME.flv to players of rtmp://host/live/NAME; takes publishers
    with the key "secret" and counts their frames.\"\"\"

    frames = 0

    async def on_connect(self, request):
        if request.app != "live":
            raise trio_rtmp.Reject("unknown app", code="NetConnection.Connect.InvalidApp")

    async def on_publish(self, request):
        if request.stream_key != "secret":
            raise trio_rtmp.Reject("wrong stream key")  # NetStream.Publish.BadName

    async def on_video(self, stream_id, frame):
        Clips.frames += 1  # CodecConfig, then a VideoSample per frame

    async def on_audio(self, stream_id, frame):
        Clips.frames += 1  # CodecConfig, then an AudioSample per frame

    async def on_play(self, request):
        if not Path("clips", f"{request.stream_key}.flv").is_file():
            raise trio_rtmp.Reject("no such clip")  # NetStream.Play.StreamNotFound

    async def on_play_started(self, request):
        clip = read_flv(Path("clips", f"{request.stream_key}.flv").read_bytes())
        start = trio.current_time()
        for tag in clip.tags:  # metadata, sequence headers, then the media, in real time
            await trio.sleep_until(start + tag.timestamp / 1000)
            await self.session.send_tag(request.stream_id, tag.timestamp, tag)
        self.session.stop_play(request.stream_id)  # NetStream.Play.Stop: players end


async def main(port=1935, *, task_status=trio.TASK_STATUS_IGNORED):
    async with trio.open_nursery() as nursery:
        server = await nursery.start(trio_rtmp.serve_rtmp, Clips, port)
        print(f"rtmp://127.0.0.1:{server.port}/live/NAME")
        task_status.started(server)


if __name__ == "__main__":
    trio.run(main)
"""


async def test_readme_server_example(
    peers: Peers, sample_media: SampleCache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's handler example: FFmpeg plays a clip (the packets match the file and
    decode cleanly), a publisher with the right key is counted, a wrong key and a
    missing clip are refused."""
    clip = sample_media.get(seconds=2)
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "demo.flv").write_bytes(clip.read_bytes())
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(README_EXAMPLE, "<README server example>", "exec"), namespace)
    async with trio.open_nursery() as nursery:
        server = await nursery.start(namespace["main"], 0)
        base = f"rtmp://127.0.0.1:{server.port}/live"
        out = tmp_path / "played.flv"
        player = peers.ffmpeg_play(f"{base}/demo", out)
        assert await player.wait_async(timeout=WAIT) == 0, player.log()
        compare_media(clip, out).assert_ok(min_compared=40, max_source_left=0)
        assert decode_errors(out) == ""

        tags = read_tags(clip)
        async with trio_rtmp.open_client(f"{base}/secret") as client:
            await client.publish()
            await publish_tags(client, tags)
        demuxer = trio_rtmp.media.Demuxer()
        expected = [f for t in tags if t.tag_type != 18 for f in demuxer.tag(*t[:3])]
        # (FFmpeg ends an H.264 FLV with an end-of-sequence tag, which is no frame.)
        await wait_for(lambda: namespace["Clips"].frames >= len(expected), what="every frame")
        assert namespace["Clips"].frames == len(expected)
        async with trio_rtmp.open_client(f"{base}/wrong") as client:
            with pytest.raises(trio_rtmp.PublishRejected):
                await client.publish()
        async with trio_rtmp.open_client(f"{base}/nothing") as client:
            with pytest.raises(trio_rtmp.StreamNotFound):
                await client.play()
        with pytest.raises(trio_rtmp.ConnectionRejected):
            async with trio_rtmp.open_client(f"rtmp://127.0.0.1:{server.port}/other/x"):
                pass
        nursery.cancel_scope.cancel()


def test_readme_holds_the_server_example_verbatim() -> None:
    text = README.read_text() if README.exists() else ""
    if README_HEADING not in text:
        pytest.skip("the server section is not in README.md yet")
    assert README_EXAMPLE in text, "README.md's server example differs from the tested one"


# -- limits and timeouts -------------------------------------------------------------


async def test_handshake_deadline_silent_client(autojump_clock: trio.testing.MockClock) -> None:
    """A client that connects and sends nothing is closed at the handshake deadline
    (10 s by default), and a good client connecting meanwhile is served."""
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, trio_rtmp.ServerHandler)
        silent = await RawClient.open(server.port)
        opened = trio.current_time()
        await trio.sleep(5)
        async with trio_rtmp.open_client(url(server)):
            pass
        await silent.read_until_closed(timeout=30)
        assert 10.0 <= trio.current_time() - opened < 10.5
        assert silent.events == [ev.ConnectionClosed()]  # nothing but the close
        server.stop()


@pytest.mark.parametrize("sent", ["C0", "C0+half C1", "C0+C1", "handshake without connect"])
async def test_handshake_deadline_partial(sent: str) -> None:
    """Half a handshake, or a handshake without ``connect``: closed at the deadline."""
    config = ServerConfig(handshake_timeout=0.5)
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, trio_rtmp.ServerHandler, config=config)
        client = await RawClient.open(server.port)
        c0c1 = client.conn.data_to_send()
        assert len(c0c1) == 1537
        opened = trio.current_time()
        if sent == "handshake without connect":
            await client.send_raw(c0c1)
            await client.until(lambda e: isinstance(e, ev.HandshakeComplete))
        else:
            await client.send_raw(c0c1[: {"C0": 1, "C0+half C1": 700, "C0+C1": 1537}[sent]])
        await client.read_until_closed(timeout=5)
        assert 0.5 <= trio.current_time() - opened < 2.0
        await wait_for(lambda: server.statistics().connections == 0)
        server.stop()


async def test_handshake_deadline_slow_drip(autojump_clock: trio.testing.MockClock) -> None:
    """A client that drips its handshake and connect a byte at a time, each well within
    any idle timeout, is still closed at the deadline: it covers the whole exchange."""
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, trio_rtmp.ServerHandler)
        client = await RawClient.open(server.port)
        data = client.conn.data_to_send()
        opened = trio.current_time()
        with pytest.raises(trio.BrokenResourceError):
            for index in range(len(data)):
                await client.send_raw(data[index : index + 1])
                await trio.sleep(0.5)  # 1537 bytes: 768 s
        assert 10.0 <= trio.current_time() - opened < 11.0
        server.stop()


async def test_idle_timeout_and_pings(autojump_clock: trio.testing.MockClock) -> None:
    """A connected client that answers the server's pings stays; one that reads nothing
    (so never answers) is closed after the idle timeout."""
    config = ServerConfig(idle_timeout=60, ping_interval=20)
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, trio_rtmp.ServerHandler, config=config)
        deaf = await RawClient.open(server.port)
        await deaf.connect(port=server.port)
        alive = await RawClient.open(server.port)
        await alive.connect(port=server.port)
        start = trio.current_time()

        async def keep_answering() -> None:
            while not alive.closed:
                await alive.receive(timeout=1000)

        nursery.start_soon(keep_answering)
        await trio.sleep(59)
        assert server.statistics().connections == 2
        assert 60 <= await seconds_until_closed(deaf, start, 100) < 61
        await trio.sleep(200)
        assert not alive.closed and server.statistics().connections == 1
        # The live one received a ping every 20 s (and answered, by its core).
        assert alive.conn.bytes_received > 0
        server.stop()


async def flooded_publisher(
    nursery: trio.Nursery, config: ServerConfig
) -> tuple[trio_rtmp.RTMPServer, RawClient, bytes, list[float]]:
    """A server under ``config`` whose handler notes when each audio message comes,
    and a raw client publishing to it: the server, the client, the published stream's
    id as four little-endian bytes, and the times."""
    times: list[float] = []

    class Counting(trio_rtmp.ServerHandler):
        async def on_audio(self, stream_id: int, data: Any) -> None:
            times.append(trio.current_time())

    server = await start_server(nursery, Counting, config=config, demux=False)
    client = await RawClient.open(server.port)
    await client.connect(port=server.port)
    started = await client.publish("k")
    assert isinstance(started, ev.PublishStarted)
    return server, client, started.stream_id.to_bytes(4, "little"), times


@pytest.mark.parametrize("rate", [None, 1000.0])
async def test_max_message_rate_slows_a_flooding_peer_down(
    autojump_clock: trio.testing.MockClock, rate: float | None, caplog: pytest.LogCaptureFixture
) -> None:
    """A peer flooding tiny messages (5000 empty audio messages in 5 KB) is read at
    ServerConfig.max_message_rate once its two seconds' burst is spent: about 3 s
    here, every message handled, and the wait is not taken for the peer's silence
    (the publish timeout, 2 s, does not fire).  Without a rate all go at once."""
    caplog.set_level(logging.INFO, logger="trio_rtmp.server")
    config = ServerConfig(max_message_rate=rate, publish_timeout=2)
    async with trio.open_nursery() as nursery:
        server, client, msid, times = await flooded_publisher(nursery, config)
        start = trio.current_time()
        # fmt 0 on chunk stream 20, then fmt 3 headers: each a new empty message.
        first = b"\x14" + bytes(6) + b"\x08" + msid
        await client.send_raw(first + b"\xd4" * 4999)
        await wait_for(lambda: len(times) == 5000, timeout=60)
        assert server.statistics().connections == 1
        server.stop()
    elapsed = times[-1] - start
    slowed = [r for r in caplog.records if "reading it more slowly" in r.getMessage()]
    if rate is None:
        assert elapsed < 0.1
        assert slowed == []
    else:
        assert 2.9 <= elapsed < 3.1
        # Said once, at info level, however many times it waits.
        assert [r.levelno for r in slowed] == [logging.INFO]
        assert "over 1000 messages a second" in slowed[0].getMessage()


@pytest.mark.parametrize("flood", ["media for no stream", "interleaved chunks"])
@pytest.mark.parametrize("rate", [None, 1000.0])
async def test_max_message_rate_counts_work_that_makes_no_event(
    autojump_clock: trio.testing.MockClock, rate: float | None, flood: str
) -> None:
    """The message rate counts what makes no event too: 5000 empty audio messages
    on a message stream that does not exist (dropped), or two audio messages sent in
    1-byte chunks interleaved (5000 chunks, each read on its own).  At 1000 a second
    the audio after them is handled about 3 s later; without a rate at once."""
    config = ServerConfig(max_message_rate=rate, publish_timeout=5)
    async with trio.open_nursery() as nursery:
        server, client, msid, times = await flooded_publisher(nursery, config)
        start = trio.current_time()
        if flood == "media for no stream":
            # fmt 0 on chunk stream 20 for message stream 7, then fmt 3 headers: each a
            # new empty audio message there; then one on the stream being published.
            data = b"\x14" + bytes(6) + b"\x08" + (7).to_bytes(4, "little")
            data += b"\xd4" * 4999
            data += b"\x15" + bytes(3) + b"\x00\x00\x01\x08" + msid + b"\xaf"
            await client.send_raw(data)
            expected = 1
        else:
            # Set Chunk Size 1, then two 2500-byte messages, chunk by chunk in turn.
            data = b"\x02" + bytes(3) + b"\x00\x00\x04\x01" + bytes(4) + (1).to_bytes(4, "big")
            first = b"\x00\x09\xc4\x08" + msid + b"\xaf"
            data += b"\x14" + bytes(3) + first + b"\x15" + bytes(3) + first
            data += b"\xd4\xaf\xd5\xaf" * 2499
            await client.send_raw(data)
            expected = 2
        await wait_for(lambda: len(times) == expected, timeout=60)
        assert server.statistics().connections == 1
        server.stop()
    elapsed = times[-1] - start
    if rate is None:
        assert elapsed < 0.1
    else:
        # 5000 steps, 2000 of them the burst; reading resumes at 0.1 s of budget.
        assert 2.9 <= elapsed <= 3.2


async def test_replies_and_stream_ends_are_not_held_for_coalescing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With Nagle's algorithm on (the default), a small write waits until the client
    acknowledges what went before, and a client with nothing to say delays that by
    40 ms (Linux) to 200 ms (Windows).  The session pushes its answers to commands and
    the end of a play out at once: TCP_NODELAY on, then off again, on its socket."""
    calls = spy_on_tcp_nodelay(monkeypatch)
    go = trio.Event()

    class Clip(trio_rtmp.ServerHandler):
        async def on_play_started(self, request: ev.PlayRequest) -> None:
            await self.session.send_metadata(request.stream_id, {"n": 1.0})
            await go.wait()
            self.session.stop_play(request.stream_id)

    def pushes(stream: trio.SocketStream, since: int) -> int:
        """The pushes on ``stream`` among ``calls[since:]`` (not counting Trio's own
        TCP_NODELAY and the server's turning it off, when the socket was new)."""
        values = [value for s, value in calls[since:] if s is stream]
        if since == 0:
            values = values[values.index(False) + 1 :]
        return sum(values[i : i + 2] == [True, False] for i in range(len(values) - 1))

    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, Clip)
        async with trio_rtmp.open_client(url(server)) as client:
            await client.play()
            # The session's socket: the one the server turned TCP_NODELAY off on.
            [session_stream] = {s for s, value in calls if value is False}
            assert pushes(session_stream, 0) >= 1  # connect, createStream, play answered
            assert await client.frames.receive() == Metadata("onMetaData", {"n": 1.0})
            before_end = len(calls)
            go.set()
            with trio.fail_after(WAIT):
                assert [frame async for frame in client.frames] == []
            assert pushes(session_stream, before_end) == 1
        server.stop()


async def test_a_long_callback_is_not_cut_short_by_timeouts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A handler that takes minutes in on_play_started (a clip sent in real time) is not
    cut short: it runs beside the session, which goes on pinging the client (the
    client answers, so it is not idle)."""

    class Slow(trio_rtmp.ServerHandler):
        async def on_play_started(self, request: ev.PlayRequest) -> None:
            await trio.sleep(300)  # longer than the ping interval and the idle timeout
            await self.session.send_metadata(request.stream_id, {"late": True})
            self.session.stop_play(request.stream_id)

    # No Nagle: under the mock clock, a small write held for a real-time ACK would
    # wait while the clock jumps minutes ahead.
    config = ServerConfig(idle_timeout=60, ping_interval=20, tcp_nodelay=True)
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, Slow, config=config)
        async with trio_rtmp.open_client(url(server), response_timeout=30) as client:
            await client.play()
            with trio.fail_after(400):
                frames = [frame async for frame in client.frames]
        server.stop()
    assert frames == [Metadata("onMetaData", {"late": True})]


async def test_a_silent_publisher_is_closed_after_publish_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A publisher that sends nothing (a frozen encoder, a network drop that left the
    TCP connection open) is closed after ``publish_timeout``, and its stream ends for
    the handler; one that keeps sending stays, and so does a silent player (only the
    idle timeout applies to it)."""
    log: list[tuple[Any, ...]] = []
    config = ServerConfig(idle_timeout=60, ping_interval=20, publish_timeout=10)
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, lambda: Recorder(log), config=config, demux=False)
        silent = await RawClient.open(server.port)
        await silent.connect(port=server.port)
        started = await silent.publish("frozen")
        assert isinstance(started, ev.PublishStarted)
        steady = await RawClient.open(server.port)
        await steady.connect(port=server.port)
        assert isinstance(await steady.publish("steady"), ev.PublishStarted)
        player = await RawClient.open(server.port)
        await player.connect(port=server.port)
        assert isinstance(await player.play("steady"), ev.PlayStarted)
        start = trio.current_time()

        sending = trio.CancelScope()

        async def keep_sending() -> None:
            with sending:
                for index in range(12):  # one message every 5 s for a minute
                    steady.conn.send_audio(1, index * 5000, b"\xaf\x01" + bytes(64))
                    await steady.flush()
                    await trio.sleep(5)

        nursery.start_soon(keep_sending)
        await trio.sleep(9.5)
        assert server.statistics().connections == 3
        assert 10 <= await seconds_until_closed(silent, start, 10) < 11
        await wait_for(lambda: log.count(("disconnect",)) == 1)
        assert ("delete_stream", started.stream_id) in log
        await trio.sleep(40)  # 50 s in: the steady publisher and the player are there
        assert server.statistics().connections == 2
        assert sum(entry[0] == "audio" for entry in log) == 10
        sending.cancel()
        server.stop()


async def test_publish_timeout_off_and_not_counting_a_slow_handler(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The time a publisher's input waits for a slow handler is not silence: a handler
    that takes 30 s over a frame does not get its publisher closed after 10 s.  With
    ``publish_timeout=None`` only the idle timeout closes a silent publisher."""

    class Slow(trio_rtmp.ServerHandler):
        def __init__(self) -> None:
            self.timestamps: list[int] = []

        async def on_audio(self, stream_id: int, data: Any) -> None:
            if not self.timestamps:
                await trio.sleep(30)
            self.timestamps.append(data.timestamp)

    handlers: list[Slow] = []

    def factory() -> Slow:
        handlers.append(Slow())
        return handlers[-1]

    config = ServerConfig(idle_timeout=60, ping_interval=None, publish_timeout=10)
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, factory, config=config, demux=False)
        client = await RawClient.open(server.port)
        await client.connect(port=server.port)
        assert isinstance(await client.publish("slow"), ev.PublishStarted)
        for index in range(40):  # one message a second, sent while the handler sleeps
            client.conn.send_audio(1, index * 1000, b"\xaf\x01" + bytes(64))
            await client.flush()
            await trio.sleep(1)
        await wait_for(lambda: len(handlers[0].timestamps) == 40, timeout=60)
        assert handlers[0].timestamps == [index * 1000 for index in range(40)]
        assert server.statistics().connections == 1
        server.stop()

    config = ServerConfig(idle_timeout=60, ping_interval=None, publish_timeout=None)
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, trio_rtmp.ServerHandler, config=config)
        client = await RawClient.open(server.port)
        await client.connect(port=server.port)
        assert isinstance(await client.publish("quiet"), ev.PublishStarted)
        start = trio.current_time()
        # The idle timeout's first look sees the bytes of the publish's answer go out
        # (activity), so it closes at its second.
        assert 60 <= await seconds_until_closed(client, start, 200) < 121
        server.stop()


async def test_a_paused_player_pauses_the_handlers_sends() -> None:
    """While a player has paused, the session's ``send_*`` for it wait (a clip sent in
    real time pauses with it, nothing is lost) and the handler hears of it
    (``on_pause``); a player that leaves while paused ends the waiting sender (its
    on_play_started is cancelled), not a hang."""
    pauses: list[bool] = []
    outcome: list[str] = []

    class Clip(trio_rtmp.ServerHandler):
        async def on_play_started(self, request: ev.PlayRequest) -> None:
            sent = False
            try:
                for index in range(40):
                    data = b"\xaf\x01" + bytes([index])
                    await self.session.send_audio(request.stream_id, index * 50, data)
                    await trio.sleep(0.05)
                sent = True
                self.session.stop_play(request.stream_id)
            finally:
                outcome.append("sent" if sent else "stopped")

        async def on_pause(self, stream_id: int, paused: bool) -> None:
            pauses.append(paused)

    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, Clip, demux=False)
        async with trio_rtmp.open_client(url(server), demux=False) as client:
            await client.play()
            tags: list[Any] = []
            with trio.fail_after(WAIT):
                async for tag in client.frames:
                    tags.append(tag)
                    if len(tags) == 5:
                        await client.pause()
                        received = client.statistics().messages_received
                        await trio.sleep(1)
                        assert client.statistics().messages_received == received
                        await client.resume()
            assert [t.data[2] for t in tags] == list(range(40))
            assert [t.timestamp for t in tags] == [i * 50 for i in range(40)]
        assert pauses == [True, False]
        assert outcome == ["sent"]

        async with trio_rtmp.open_client(url(server), demux=False) as client:
            await client.play()
            async for _ in client.frames:
                await client.pause()
                break
        await wait_for(lambda: len(outcome) == 2)
        assert outcome[1] == "stopped"
        server.stop()


async def test_max_connections_refused_cleanly() -> None:
    config = ServerConfig(max_connections=3)
    log: list[tuple[Any, ...]] = []
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, lambda: Recorder(log), config=config)
        clients = [await RawClient.open(server.port) for _ in range(3)]
        for client in clients:
            assert isinstance(await client.connect(port=server.port), ev.Connected)
        extra = await RawClient.open(server.port)
        refused = await extra.connect(port=server.port)
        assert isinstance(refused, ev.ConnectRejected)
        assert refused.code == "NetConnection.Connect.Rejected"
        await extra.read_until_closed()
        with pytest.raises(trio_rtmp.ConnectionRejected):
            async with trio_rtmp.open_client(url(server)):
                pass
        stats = server.statistics()
        assert (stats.connections, stats.refused) == (3, 2)
        # The refused ones never reached the application's handler.
        assert log.count(("connect", "live")) == 3
        # The three are still served; one leaving makes room.
        assert isinstance(await clients[0].play("x"), ev.PlayStarted)
        await clients[0].aclose()
        await wait_for(lambda: server.statistics().connections == 2)
        async with trio_rtmp.open_client(url(server)) as client:
            await client.play()
        server.stop()


async def test_connection_flood_over_the_limit_is_closed_at_once() -> None:
    """Beyond 64 connections being refused at once, the rest are closed without a
    handshake; the connections being served are untouched."""
    config = ServerConfig(max_connections=1, handshake_timeout=5.0)
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, trio_rtmp.ServerHandler, config=config)
        async with trio_rtmp.open_client(url(server)) as client:
            flood = [await RawClient.open(server.port) for _ in range(80)]
            await wait_for(lambda: server.statistics().refused == 80, what="80 refusals")
            closed_at_once = 0
            for raw in flood:
                # Those closed at once send nothing at all, not even S0.
                with trio.move_on_after(0.01):
                    if await raw.stream.receive_some(1) == b"":
                        closed_at_once += 1
            assert closed_at_once == 80 - 64
            for raw in flood:
                await raw.aclose()
            await client.play()
            assert server.statistics().connections == 1
        server.stop()


async def test_max_message_size(sample_tags: list[FlvTag]) -> None:
    """A message over the limit closes that connection only."""
    limits = Limits(max_message_size=64 * 1024)
    config = ServerConfig(connection=ConnectionConfig(limits=limits))
    relay = Relay()
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, relay.handler, config=config, demux=False)
        async with trio_rtmp.open_client(url(server, key="good")) as good:
            await good.publish()
            bad = await RawClient.open(server.port)
            await bad.connect(port=server.port)
            assert isinstance(await bad.publish("bad"), ev.PublishStarted)
            bad.conn.send_video(1, 0, b"\x17\x01\x00\x00\x00" + bytes(70 * 1024))
            await bad.flush()
            await bad.read_until_closed()
            await publish_tags(good, sample_tags[:50])
            stream = relay.streams["live", "good"]
            await wait_for(lambda: stream.messages == 49, what="the good publisher's messages")
            assert ("live", "bad") not in relay.streams
        server.stop()


async def test_a_read_that_completes_many_amf_messages_is_handled_in_steps() -> None:
    """A publisher leaves ten AMF messages one chunk short, then completes them all
    with one read: the session decodes them one step at a time (one per step, under
    a 16 KiB AMF limit) and lets the other tasks run between the steps."""
    limits = Limits(max_amf_message_size=16384)
    config = ServerConfig(connection=ConnectionConfig(limits=limits))
    log: list[tuple[Any, ...]] = []
    ticks = 0
    batches: list[tuple[int, int]] = []

    class Batches(Recorder):
        def on_batch_end(self) -> None:
            batches.append((ticks, sum(entry[0] == "data" for entry in log)))

    async def tick() -> None:
        nonlocal ticks
        while True:
            await trio.lowlevel.checkpoint()
            ticks += 1

    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, lambda: Batches(log), config=config)
        raw = await RawClient.open(server.port)
        await raw.connect(port=server.port)
        assert isinstance(await raw.publish("k"), ev.PublishStarted)
        heads, tails = amf_burst(1, 10, 12000)
        await raw.send_raw(heads)
        del batches[:]
        nursery.start_soon(tick)
        await raw.send_raw(tails)
        await wait_for(lambda: sum(entry[0] == "data" for entry in log) == 10)
        nursery.cancel_scope.cancel()
    # One data message per batch, however the reads fell...
    assert [count for _, count in batches] == list(range(1, 11))
    # ... and the ticker ran between them (at least once in every scheduling round
    # but the first and last: Trio runs a round's tasks in random order).
    assert batches[-1][0] - batches[0][0] >= len(batches) - 2


async def test_oversized_data_messages_are_skipped_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Data messages over the AMF limit are skipped, with a warning for the first of
    a session and debug lines for the rest (a publisher sending only those must not
    flood the log); the session goes on."""
    caplog.set_level(logging.DEBUG, logger="trio_rtmp.server")
    limits = Limits(max_amf_message_size=4096)
    config = ServerConfig(connection=ConnectionConfig(limits=limits))
    log: list[tuple[Any, ...]] = []
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, lambda: Recorder(log), config=config)
        raw = await RawClient.open(server.port)
        await raw.connect(port=server.port)
        assert isinstance(await raw.publish("k"), ev.PublishStarted)
        for _ in range(3):
            raw.conn.send_data(1, ("onTextData", {"text": "x" * 5000}))
        raw.conn.send_data(1, ("onTextData", {"text": "small"}))
        await raw.flush()
        await wait_for(lambda: ("data", 1, ("onTextData", {"text": "small"})) in log)
        server.stop()
    skipped = [r.levelname for r in caplog.records if "skipped a data message" in r.message]
    assert skipped == ["WARNING", "DEBUG", "DEBUG"]


async def test_max_streams_per_connection() -> None:
    config = ServerConfig(connection=ConnectionConfig(max_message_streams=2))
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, trio_rtmp.ServerHandler, config=config)
        raw = await RawClient.open(server.port)
        await raw.connect(port=server.port)
        assert await raw.create_stream() == 1
        assert await raw.create_stream() == 2
        raw.conn.create_stream()
        await raw.flush()
        error = await raw.until(lambda e: isinstance(e, ev.CommandError | ev.StreamCreated))
        assert isinstance(error, ev.CommandError)
        assert "Too many streams" in error.description
        # The connection goes on; deleting a stream frees a place.
        raw.conn.delete_stream(2)
        await raw.flush()
        assert await raw.create_stream() == 2
        server.stop()


class Flood(trio_rtmp.ServerHandler):
    """Sends a player video as fast as the session lets it, forever."""

    finished: trio.Event
    errors: list[BaseException]

    async def on_play_started(self, request: ev.PlayRequest) -> None:
        payload = b"\x27\x01\x00\x00\x00" + bytes(16 * 1024)
        timestamp = 0
        try:
            while True:
                await self.session.send_video(request.stream_id, timestamp, payload)
                timestamp += 40
        except BaseException as exc:
            self.errors.append(exc)
            raise

    async def on_disconnect(self) -> None:
        self.finished.set()


async def test_write_stall_disconnects_and_bounds_the_queue() -> None:
    """A player that stops reading: the handler's send_* waits at max_queued_bytes
    (backpressure, memory bounded), and after write_stall_timeout without progress
    the session is closed."""
    finished = trio.Event()
    handler = type("F", (Flood,), {"finished": finished, "errors": []})
    config = ServerConfig(write_stall_timeout=0.5, max_queued_bytes=256 * 1024)
    sessions: list[trio_rtmp.ServerSession] = []
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, handler, config=config)
        raw = await RawClient.open(server.port, receive_buffer=4096)
        await raw.connect(port=server.port)
        assert isinstance(await raw.play("x"), ev.PlayStarted)
        sessions.extend(server.sessions)
        session = sessions[0]
        peak = 0
        stalled_at = None
        with trio.fail_after(WAIT):
            while not finished.is_set():
                peak = max(peak, session.queued_bytes)
                if stalled_at is None and session.queued_bytes >= 256 * 1024:
                    stalled_at = trio.current_time()
                await trio.sleep(0.01)
        assert stalled_at is not None
        assert 0.4 <= trio.current_time() - stalled_at < 2.0
        # Bounded: the limit plus at most one message.
        assert peak <= 256 * 1024 + 17 * 1024
        assert session.closed
        # It leaves the server's count once on_disconnect has run and the socket is
        # closed, which is a few scheduling steps after ``finished`` is set.
        await wait_for(lambda: server.statistics().connections == 0, what="the count to drop")
        # The handler's waiting send ended with the documented exception.
        assert handler.errors and isinstance(handler.errors[0], trio_rtmp.ConnectionClosed)
        await raw.aclose()
        server.stop()


async def test_slow_reader_is_not_a_stall() -> None:
    """A player that reads slowly but steadily is not disconnected, however long one
    write of its queue takes: the stall timeout counts time without progress."""
    finished = trio.Event()
    handler = type("F", (Flood,), {"finished": finished, "errors": []})
    config = ServerConfig(write_stall_timeout=0.5, max_queued_bytes=512 * 1024)
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, handler, config=config)
        raw = await RawClient.open(server.port, receive_buffer=8192)
        await raw.connect(port=server.port)
        assert isinstance(await raw.play("x"), ev.PlayStarted)
        received = 0
        start = trio.current_time()
        while trio.current_time() - start < 2.0:
            # About 200 KB/s: a 512 KB queue takes well over the stall timeout to send.
            data = await raw.stream.receive_some(4096)
            assert data, "the server closed a slow but steady player"
            received += len(data)
            await trio.sleep(0.02)
        assert not finished.is_set()
        assert received > 100_000
        await raw.aclose()
        await wait_for(finished.is_set)
        server.stop()


async def test_misbehaving_connections_do_not_disturb_a_stream(
    sample_tags: list[FlvTag], tmp_path: Path, sample_flv: Path
) -> None:
    """Garbage bytes, a Set Chunk Size of 0x7FFFFFFF, a declared 16 MB message, a flood of
    chunk stream ids and a half-sent message, each on its own connection, while a
    publisher streams to a player: each bad connection is closed, the player gets
    every packet, and every file descriptor is released."""
    relay = Relay()
    config = ServerConfig(handshake_timeout=2.0, idle_timeout=3.0)
    fds_before = open_fds()
    received: list[FlvTag] = []
    closed: list[str] = []
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, relay.handler, config=config, demux=False)
        async with (
            trio_rtmp.open_client(url(server, key="good")) as publisher,
            trio_rtmp.open_client(url(server, key="good"), demux=False) as player,
        ):
            await player.play()
            await publisher.publish()

            async def consume() -> None:
                async for tag in player.frames:
                    received.append(tag)  # type: ignore[arg-type]

            nursery.start_soon(consume)

            async def misbehave(kind: str) -> None:
                raw = await RawClient.open(server.port)
                try:
                    if kind == "garbage":
                        await raw.send_raw(b"\x03" + bytes(range(256)) * 64)
                    else:
                        await raw.connect(port=server.port)
                        await send_bad(raw, kind)
                except trio.BrokenResourceError:
                    pass  # the server already closed it
                await raw.read_until_closed(timeout=WAIT)
                closed.append(kind)

            async with trio.open_nursery() as bad:
                for kind in BAD_KINDS:
                    bad.start_soon(misbehave, kind)
                await publish_tags(publisher, sample_tags, speed=4.0)
        await wait_for(lambda: server.statistics().connections == 0)
        server.stop()
    assert sorted(closed) == sorted(BAD_KINDS)
    out = write_flv(tmp_path / "good.flv", received)
    compare_media(sample_flv, out).assert_ok(min_compared=90, max_source_left=0)
    assert open_fds() <= fds_before + 2


BAD_KINDS = ("garbage", "huge chunk size", "16 MB message", "chunk stream flood", "half message")


async def send_bad(raw: RawClient, kind: str) -> None:
    """What a misbehaving (connected) client sends."""
    if kind == "huge chunk size":
        # nginx-rtmp #1042: a 2 GB allocation; we must neither allocate nor choke.
        await raw.send_raw(encode_message(2, 1, 0, 0, struct.pack(">I", 0x7FFFFFFF), 128))
        await raw.send_raw(encode_message(3, 9, 0, 1, bytes(1000), 128)[:200])
    elif kind == "16 MB message":
        # A fmt 0 header declaring a 16 MB - 1 video message, then a little of it.
        header = b"\x06" + (0).to_bytes(3, "big") + (0xFFFFFF).to_bytes(3, "big")
        await raw.send_raw(header + b"\x09" + (1).to_bytes(4, "little") + bytes(4096))
    elif kind == "chunk stream flood":
        # Partial messages on ever new chunk stream ids.
        for csid in range(64, 64 + 2000):
            basic = (
                bytes([0, csid - 64]) if csid < 320 else b"\x01" + (csid - 64).to_bytes(2, "little")
            )
            await raw.send_raw(basic + b"\x00\x00\x00\x00\x00\x10\x09\x01\x00\x00\x00" + bytes(8))
    elif kind == "half message":
        # Half a command, then silence: the idle timeout ends it.
        await raw.send_raw(encode_message(3, 20, 0, 0, bytes(5000), 128)[:3000])


async def test_rtmps(tls_certificate: Any, sample_tags: list[FlvTag]) -> None:
    """serve_rtmp with ssl_context: publish and play over TLS (the output path without
    the direct socket)."""
    relay = Relay()
    received: list[Any] = []
    async with trio.open_nursery() as nursery:
        server = await start_server(
            nursery,
            relay.handler,
            demux=False,
            ssl_context=trio_rtmp.server_ssl_context(
                tls_certificate.cert_path, tls_certificate.key_path
            ),
        )
        address = f"rtmps://127.0.0.1:{server.port}/live/tls"
        context = tls_certificate.client_context()
        async with trio_rtmp.open_client(address, ssl_context=context, demux=False) as player:
            await player.play()

            async def consume() -> None:
                with trio.fail_after(WAIT):
                    async for tag in player.frames:
                        received.append(tag)

            async with trio.open_nursery() as inner:
                inner.start_soon(consume)
                async with trio_rtmp.open_client(address, ssl_context=context) as publisher:
                    await publisher.publish()
                    await publish_tags(publisher, sample_tags)
        server.stop()
    media = [(t.tag_type, t.timestamp, t.data) for t in sample_tags]
    assert [(t.tag_type, t.timestamp, t.data) for t in received if t.tag_type != 18] == [
        m for m in media if m[0] != 18
    ]


def test_server_ssl_context(tls_certificate: Any, tmp_path: Path) -> None:
    """The context for rtmps://: the certificate chain and key loaded, no TLS 1.3
    session tickets (librtmp fails on them: see test_serve_rtmps_to_librtmp), and an
    OSError for files it cannot use."""
    context = trio_rtmp.server_ssl_context(tls_certificate.cert_path, tls_certificate.key_path)
    assert context.num_tickets == 0
    assert context.verify_mode == ssl.CERT_NONE  # clients are not asked for certificates
    not_pem = tmp_path / "cert.pem"
    not_pem.write_text("not a certificate\n")
    with pytest.raises(ssl.SSLError):
        trio_rtmp.server_ssl_context(not_pem)
    with pytest.raises(FileNotFoundError):
        trio_rtmp.server_ssl_context(tmp_path / "missing.pem")
