"""The Trio client against real peers: nginx-rtmp, FFmpeg (as publisher, player and
``-listen`` server), an RTMPS front, and servers that vanish, refuse or stay silent.

What the client hands out is checked against what independent tools see in the
source: ffprobe's packets (payload MD5, keyframe flags, dts and pts) and the source
FLV's tag bodies split into NAL units by this file's own little parser, from the
join point (the first keyframe the client received) on.
"""

from __future__ import annotations

import hashlib
import math
import re
import socket
import struct
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import trio
from client_support import NoLeakedTasks
from peers import (
    WAIT,
    HookRequest,
    HookServer,
    NginxRtmp,
    Packet,
    Peers,
    compare_media,
    compare_packets,
    decode_errors,
    probe_packets,
    probe_streams,
)

import trio_rtmp
from trio_rtmp import AudioSample, CodecConfig, Metadata, VideoSample
from trio_rtmp.media import FlvTag, VideoInfo, read_flv

pytestmark = pytest.mark.interop


# -- the source, read independently ------------------------------------------------------


class SourceVideo:
    """One H.264 frame of the source FLV, parsed here (not by trio_rtmp.media)."""

    def __init__(self, timestamp: int, body: bytes, length_size: int) -> None:
        self.dts = timestamp
        self.keyframe = body[0] >> 4 == 1
        (cts,) = struct.unpack(">i", body[2:5] + b"\x00")
        self.pts = timestamp + (cts >> 8)
        self.nals: list[bytes] = []
        data, offset = body[5:], 0
        while offset < len(data):
            size = int.from_bytes(data[offset : offset + length_size], "big")
            offset += length_size
            self.nals.append(data[offset : offset + size])
            offset += size
        assert offset == len(data)


class Source:
    """The sample FLV as a player should see it: config records and frames, by hand."""

    def __init__(self, path: Path) -> None:
        flv = read_flv(path.read_bytes())
        self.tags = flv.tags
        self.metadata = flv.metadata
        self.avc_record = b""
        self.aac_config = b""
        self.video: list[SourceVideo] = []
        self.audio: list[tuple[int, bytes]] = []
        length_size = 4
        for tag in flv.tags:
            body = tag.data
            if tag.tag_type == 9 and body[0] & 0x0F == 7:  # AVC
                if body[1] == 0:
                    self.avc_record = body[5:]
                    length_size = (body[9] & 3) + 1
                elif body[1] == 1:
                    self.video.append(SourceVideo(tag.timestamp, body, length_size))
            elif tag.tag_type == 8 and body[0] >> 4 == 10:  # AAC
                if body[1] == 0:
                    self.aac_config = body[2:]
                else:
                    self.audio.append((tag.timestamp, body[2:]))
        assert self.avc_record and self.aac_config and self.video and self.audio


def md5(data: bytes) -> str:
    return "MD5:" + hashlib.md5(data).hexdigest()


def as_packets(frames: Sequence[object]) -> list[Packet]:
    """Our frames as ffprobe would describe them (payload MD5 of the AVCC/raw AAC data)."""
    packets = []
    for frame in frames:
        if isinstance(frame, VideoSample):
            assert isinstance(frame.payload, list)
            data = b"".join(len(nal).to_bytes(4, "big") + nal for nal in frame.payload)
            packets.append(
                Packet("video", 0, "h264", frame.pts, frame.dts, None, len(data),
                       frame.keyframe, md5(data), None)
            )  # fmt: skip
        elif isinstance(frame, AudioSample):
            packets.append(
                Packet("audio", 1, "aac", frame.timestamp, frame.timestamp, None,
                       len(frame.payload), True, md5(frame.payload), None)
            )  # fmt: skip
    return packets


def check_against_source(frames: Sequence[object], sample: Path, *, whole: bool) -> None:
    """The frames a player received carry the sample's media from the join point on.

    ``whole``: nothing may be missing at the end (the player saw the stream end).
    """
    source = Source(sample)
    configs = [f for f in frames if isinstance(f, CodecConfig)]
    # (in the order the server sends them: nginx-rtmp may send audio first)
    assert sorted((c.media, c.codec) for c in configs) == [("audio", "aac"), ("video", "h264")]
    [video_config] = [c for c in configs if c.media == "video"]
    [audio_config] = [c for c in configs if c.media == "audio"]
    assert video_config.init_data == source.avc_record
    assert audio_config.init_data == source.aac_config
    assert isinstance(video_config.info, VideoInfo)
    assert (video_config.info.width, video_config.info.height) == (320, 240)
    # Each configuration comes before the first sample of its media.
    first_video = next(i for i, f in enumerate(frames) if isinstance(f, VideoSample))
    first_audio = next(i for i, f in enumerate(frames) if isinstance(f, AudioSample))
    assert frames.index(video_config) < first_video
    assert frames.index(audio_config) < first_audio

    # 1. Against ffprobe: payload MD5, keyframe flags, dts (relative) and pts - dts, from
    #    the join point (for video the first keyframe received) on.
    probed = probe_packets(sample)
    received = as_packets(frames)
    for media in ("video", "audio"):
        comparison = compare_packets(probed, received, media=media)
        assert comparison.ok, comparison.summary()
        assert comparison.compared >= 40, comparison.summary()
        if whole:
            assert comparison.source_left == 0, comparison.summary()
    both = compare_media(probed, received)
    assert both.av_drift == 0, both.summary()

    # 2. Against the source's own bytes, NAL unit by NAL unit.
    samples = [f for f in frames if isinstance(f, VideoSample)]
    key = next(i for i, sample in enumerate(samples) if sample.keyframe)
    samples = samples[key:]
    join = next(i for i, v in enumerate(source.video) if v.nals == samples[0].payload)
    expected = source.video[join:]
    assert len(samples) == len(expected) if whole else len(samples) <= len(expected)
    offset = samples[0].dts - expected[0].dts
    for got, want in zip(samples, expected, strict=False):
        assert got.payload == want.nals
        assert got.keyframe == want.keyframe
        assert (got.dts - offset, got.pts - offset) == (want.dts, want.pts)
    audio = [(a.timestamp - offset, a.payload) for a in frames if isinstance(a, AudioSample)]
    start = source.audio.index(audio[0])
    assert audio == source.audio[start : start + len(audio)]
    if whole:
        assert start + len(audio) == len(source.audio)


async def collect(frames: trio.abc.ReceiveChannel[Any]) -> list[Any]:
    return [frame async for frame in frames]


def assert_closed_politely(nginx: NginxRtmp) -> None:
    """None of our clients' connections was reset: they half-closed and read to nginx's
    end.  (FFmpeg's are, sometimes: it closes with unread data.)"""
    lines = nginx.log().splitlines()
    ours = {
        match.group(1)
        for line in lines
        if "compatible; trio-rtmp" in line and (match := re.search(r" (\*\d+) connect: ", line))
    }
    assert ours, "no trio-rtmp connection in nginx's log"
    others = [line for line in lines if " connect: " in line and "trio-rtmp" not in line]
    for line in lines:
        if "reset by peer" in line:
            # (Only ours connect when there is a TLS front, whose ids differ.)
            assert others and not any(f" {connection} " in line for connection in ours), line
    assert sum("deleteStream" in line for line in lines) >= len(ours)


# -- playing from nginx-rtmp ---------------------------------------------------------------


async def test_play_from_nginx_fed_by_ffmpeg(
    peers: Peers, nginx_rtmp: NginxRtmp, sample_flv: Path
) -> None:
    """FFmpeg publishes H.264 (B-frames) + AAC; the client joins and plays to the end."""
    url = nginx_rtmp.url("live", "bframes")
    publisher = peers.ffmpeg_publish(url, sample_flv)
    with trio.fail_after(WAIT + 10):
        await nginx_rtmp.wait_for_publish_async("bframes")
        async with trio_rtmp.open_client(url) as client:
            assert client.stream_key == "bframes"
            assert client.server_properties["fmsVer"].startswith("FMS/")
            await client.play()
            frames = await collect(client.frames)
            stats = client.statistics()
        assert await publisher.wait_async() == 0
    assert_closed_politely(nginx_rtmp)
    # nginx forwards the stored metadata first.
    [metadata] = [f for f in frames if isinstance(f, Metadata)]
    assert metadata.name == "onMetaData"
    assert (metadata.value["width"], metadata.value["height"]) == (320.0, 240.0)
    check_against_source(frames, sample_flv, whole=True)
    media = [f for f in frames if isinstance(f, VideoSample | AudioSample)]
    assert stats.messages_received >= len(media)
    assert stats.frames_delivered == len(frames)
    assert stats.bytes_received > sum(len(t.data) for t in Source(sample_flv).tags) // 2
    assert stats.bitrate_in > 0


async def test_play_a_recording_from_nginx_vod(
    peers: Peers, sample_flv: Path, tmp_path: Path
) -> None:
    """nginx-rtmp serving a file (``play DIR``, video on demand): NetStream.Play.Reset,
    Play.Start, the file as fast as the client takes it, then onPlayStatus
    NetStream.Play.Complete and StreamEOF.  The client gets every frame, and its frames
    end with the recording."""
    recordings = tmp_path / "vod"
    recordings.mkdir()
    (recordings / "clip.flv").write_bytes(sample_flv.read_bytes())
    nginx = peers.nginx_rtmp(applications={"vod": f"play {recordings};"})
    with trio.fail_after(WAIT + 10):
        async with trio_rtmp.open_client(nginx.url("vod", "clip.flv")) as client:
            await client.play()
            frames = await collect(client.frames)
    [metadata] = [f for f in frames if isinstance(f, Metadata)]
    assert metadata.value["width"] == 320.0
    check_against_source(frames, sample_flv, whole=True)
    # trio-rtmp play records it, and ends by itself (StreamEOF) with status 0.
    output = tmp_path / "played.flv"
    player = peers.start(
        [sys.executable, "-m", "trio_rtmp", "play", nginx.url("vod", "clip.flv"), "-o", output],
        "play",
    )
    assert await player.wait_async() == 0, player.log()
    compare_media(sample_flv, output).assert_ok(min_compared=90, max_source_left=0)


async def test_pause_a_recording_from_nginx_vod_after_falling_behind(
    peers: Peers, sample_flv: Path, tmp_path: Path
) -> None:
    """nginx-rtmp sends a recording as fast as the client takes it, so a consumer that
    pauses has a full channel and the answer is behind media not yet read: pause()
    returns all the same, and the frames up to it are the file's first, in order."""
    recordings = tmp_path / "vod"
    recordings.mkdir()
    (recordings / "clip.flv").write_bytes(sample_flv.read_bytes())
    nginx = peers.nginx_rtmp(applications={"vod": f"play {recordings};"})
    with trio.fail_after(WAIT + 10):
        async with trio_rtmp.open_client(
            nginx.url("vod", "clip.flv"), frame_buffer=4, response_timeout=5
        ) as client:
            await client.play()
            while client.frames.statistics().current_buffer_used < 4:
                await trio.sleep(0.01)
            with trio.fail_after(2):
                await client.pause()
            frames = []
            with trio.move_on_after(0.5):
                async for frame in client.frames:
                    frames.append(frame)
    samples = [f for f in frames if isinstance(f, VideoSample)]
    assert len(samples) >= 10
    source = [p for p in probe_packets(sample_flv) if p.media == "video"]
    assert [s.dts for s in samples] == [p.dts for p in source[: len(samples)]]


# -- publishing to nginx-rtmp ------------------------------------------------------------


async def publish_file(
    client: trio_rtmp.RTMPClient, tags: Sequence[FlvTag], *, speed: float = math.inf
) -> None:
    """Send every tag of an FLV file, paced at ``speed`` x real time (inf: at once)."""
    start = trio.current_time()
    for tag in tags:
        if speed != math.inf:
            await trio.sleep_until(start + tag.timestamp / 1000 / speed)
        await client.send_tag(tag.timestamp, tag)


async def test_publish_to_nginx_and_ffmpeg_plays_it_back(
    peers: Peers, sample_flv: Path, tmp_path: Path
) -> None:
    """The client publishes an FLV file tag by tag; FFmpeg plays it back from nginx."""
    # play_restart: nginx tells its players NetStream.Play.Stop when the publisher
    # leaves, and FFmpeg then ends cleanly.
    nginx = peers.nginx_rtmp(play_restart=True)
    url = nginx.url("live", "pushed")
    output = tmp_path / "played.flv"
    player = peers.ffmpeg_play(url, output)
    tags = read_flv(sample_flv.read_bytes()).tags
    with trio.fail_after(WAIT + 10):
        # The player first, so that it sees the stream from its first tag.
        await nginx.wait_for_play_async("pushed")
        async with trio_rtmp.open_client(url) as client:
            await client.publish()
            await publish_file(client, tags, speed=4.0)
            stats = client.statistics()
            closing = trio.current_time()
        # The goodbye (deleteStream, half-close, nginx's end) is quick with nginx.
        assert trio.current_time() - closing < 1
        assert await player.wait_async() == 0, player.log()
    assert_closed_politely(nginx)
    assert stats.messages_sent == len(tags)
    assert stats.bytes_sent > sum(len(tag.data) for tag in tags)
    assert {s.media: s.codec for s in probe_streams(output)} == {"video": "h264", "audio": "aac"}
    comparison = compare_media(sample_flv, output)
    # Every packet, from the first: nothing skipped, nothing lost at the end.
    comparison.assert_ok(min_compared=90, max_source_left=0)
    assert comparison.streams["video"].skipped == 0
    assert comparison.streams["audio"].skipped == 0
    assert decode_errors(output) == ""
    # The metadata went out as @setDataFrame onMetaData, and nginx kept it for players.
    [played_metadata] = [t for t in read_flv(output.read_bytes()).tags if t.tag_type == 18]
    values = played_metadata.script_values()
    assert values[0] == "onMetaData" and values[1]["width"] == 320.0


# -- refusals ---------------------------------------------------------------------------------


@pytest.fixture
def hooked_nginx(peers: Peers, http_hook_server: HookServer) -> NginxRtmp:
    """nginx-rtmp asking the hook server about every publish and play (403 for "banned")."""
    http_hook_server.refused.add("banned")
    return peers.nginx_rtmp(
        on_publish=http_hook_server.url("/on_publish"), on_play=http_hook_server.url("/on_play")
    )


async def test_on_publish_refusal_is_publish_rejected(
    hooked_nginx: NginxRtmp, http_hook_server: HookServer
) -> None:
    with trio.fail_after(WAIT), NoLeakedTasks():
        async with trio_rtmp.open_client(hooked_nginx.url("live", "banned")) as client:
            with pytest.raises(trio_rtmp.PublishRejected) as caught:
                await client.publish()
            # nginx-rtmp answers a refused on_publish by closing the connection.
            assert caught.value.code == "NetConnection.Connect.Closed"
            with pytest.raises(trio_rtmp.ConnectionClosed):
                await client.send_tag(0, FlvTag(8, 0, b"\xaf\x01\x00"))
    [request] = await http_hook_server.wait_for_async("publish", "banned")
    assert request.status == 403


async def test_on_play_refusal_is_play_rejected(
    hooked_nginx: NginxRtmp, http_hook_server: HookServer
) -> None:
    with trio.fail_after(WAIT), NoLeakedTasks():
        with pytest.raises(trio_rtmp.PlayRejected) as caught:
            async with trio_rtmp.open_client(hooked_nginx.url("live", "banned")) as client:
                await client.play()
        assert type(caught.value) is trio_rtmp.PlayRejected
        assert caught.value.code == "NetConnection.Connect.Closed"
    [request] = await http_hook_server.wait_for_async("play", "banned")
    assert request.status == 403


async def test_unknown_app_is_connection_rejected(nginx_rtmp: NginxRtmp) -> None:
    with trio.fail_after(WAIT), NoLeakedTasks():
        with pytest.raises(trio_rtmp.ConnectionRejected) as caught:
            async with trio_rtmp.open_client(nginx_rtmp.url("nosuchapp", "key")):
                pytest.fail("connected to an application nginx does not have")
        # nginx-rtmp closes the connection instead of answering connect.
        assert caught.value.code == "NetConnection.Connect.Closed"
    await nginx_rtmp.wait_for_log_async("application not found: 'nosuchapp'")


async def test_stream_not_found_and_bad_name(peers: Peers) -> None:
    # Without idle streams nginx-rtmp refuses to play what nobody publishes.
    nginx = peers.nginx_rtmp(idle_streams=False)
    with trio.fail_after(WAIT), NoLeakedTasks():
        async with trio_rtmp.open_client(nginx.url("live", "nobody")) as client:
            with pytest.raises(trio_rtmp.StreamNotFound) as caught:
                await client.play()
            assert caught.value.code == "NetStream.Play.StreamNotFound"
            assert caught.value.description == "No such stream"

        # A name that is already being published: NetStream.Publish.BadName.
        async with trio_rtmp.open_client(nginx.url("live", "taken")) as first:
            await first.publish()
            async with trio_rtmp.open_client(nginx.url("live", "taken")) as second:
                with pytest.raises(trio_rtmp.PublishRejected) as rejected:
                    await second.publish()
            assert rejected.value.code == "NetStream.Publish.BadName"
            # The first publisher is unaffected.
            await first.send_tag(0, FlvTag(8, 0, b"\xaf\x00\x12\x08"))


# -- FFmpeg as the server (-listen 1) -----------------------------------------------------------


async def test_publish_to_ffmpeg_listen(peers: Peers, sample_flv: Path, tmp_path: Path) -> None:
    received = tmp_path / "received.flv"
    server, url = peers.ffmpeg_listen_server(output=received)
    tags = read_flv(sample_flv.read_bytes()).tags
    with trio.fail_after(WAIT + 5), NoLeakedTasks():
        async with trio_rtmp.open_client(url) as client:
            await client.publish()
            await publish_file(client, tags)
        # Our deleteStream ends FFmpeg's input; it finishes the file and exits.
        assert await server.wait_async() == 0, server.log()
    comparison = compare_media(sample_flv, received)
    comparison.assert_ok(min_compared=90, max_source_left=0)
    assert comparison.streams["video"].skipped == 0
    assert decode_errors(received) == ""


async def test_play_from_ffmpeg_listen(peers: Peers, sample_flv: Path) -> None:
    server, url = peers.ffmpeg_listen_server(source=sample_flv, realtime=False)
    with trio.fail_after(WAIT + 5), NoLeakedTasks():
        async with trio_rtmp.open_client(url) as client:
            await client.play()
            # FFmpeg deletes the stream when the file is done: a clean end.
            frames = await collect(client.frames)
        assert await server.wait_async() == 0, server.log()
    check_against_source(frames, sample_flv, whole=True)
    # From the very first frame.
    first = next(f for f in frames if isinstance(f, VideoSample))
    assert first.dts == Source(sample_flv).video[0].dts


# -- RTMPS ------------------------------------------------------------------------------------


async def test_rtmps_publish_and_play(peers: Peers, sample_flv: Path) -> None:
    """Through nginx's stream module terminating TLS in front of nginx-rtmp."""
    nginx = peers.nginx_rtmp(tls=True)
    url = nginx.url("live", "secure", tls=True)
    assert url.startswith("rtmps://127.0.0.1:")
    context = nginx.ssl_context()  # trusts the test CA, checks the name
    tags = read_flv(sample_flv.read_bytes()).tags
    frames: list[object] = []

    async def play(task_status: trio.TaskStatus[None]) -> None:
        async with trio_rtmp.open_client(url, ssl_context=context) as player:
            assert isinstance(player.connection, object)
            await player.play()
            task_status.started()
            frames.extend(await collect(player.frames))

    with trio.fail_after(WAIT + 10), NoLeakedTasks():
        async with trio.open_nursery() as nursery:
            # The player waits on the idle stream, so it sees it from the first tag.
            await nursery.start(play)
            async with trio_rtmp.open_client(url, ssl_context=context) as publisher:
                await publisher.publish()
                await publish_file(publisher, tags, speed=4.0)
    check_against_source(frames, sample_flv, whole=True)
    assert "publish: name='secure'" in nginx.log()
    assert_closed_politely(nginx)


async def test_rtmps_checks_the_certificate(peers: Peers, monkeypatch: pytest.MonkeyPatch) -> None:
    nginx = peers.nginx_rtmp(tls=True)
    url = nginx.url("live", "secure", tls=True)
    with trio.fail_after(WAIT), NoLeakedTasks():
        # By default the system's CAs decide, and they do not know the test CA.
        with pytest.raises(trio_rtmp.ConnectionFailed, match="CERTIFICATE_VERIFY_FAILED"):
            async with trio_rtmp.open_client(url):
                pass
        # With the test CA it works, under either of the certificate's names.
        assert nginx.tls_port is not None
        context = nginx.ssl_context()
        for host in ("127.0.0.1", "localhost"):
            async with trio_rtmp.open_client(
                f"rtmps://{host}:{nginx.tls_port}/live/secure", ssl_context=context
            ) as client:
                assert client.url.tls and client.server_properties
        # Plain RTMP to the TLS port: the TLS server does not speak RTMP.  C0 is 0x03,
        # which OpenSSL reads as a record's type, and C1's time field (Trio's clock,
        # which starts at a random offset) as the record's version and length.  When
        # the time's top byte is 3 too and the length is one a record may have but
        # more than was sent (about one run in forty), nginx waits for the rest
        # instead of refusing, and the client times out.  A zero time makes it refuse
        # every time.
        monkeypatch.setattr(trio_rtmp.client, "_now_ms", lambda: 0)
        with pytest.raises(trio_rtmp.ConnectionClosed):
            async with trio_rtmp.open_client(
                f"rtmp://127.0.0.1:{nginx.tls_port}/live/x", connect_timeout=2
            ):
                pass
    assert "publish" not in nginx.log()


# -- servers that vanish, are not there, or say nothing -----------------------------------------


async def test_server_vanishing_mid_play(
    peers: Peers, nginx_rtmp: NginxRtmp, sample_flv: Path
) -> None:
    url = nginx_rtmp.url("live", "doomed")
    peers.ffmpeg_publish(url, sample_flv, loop=True)
    received: list[object] = []
    with trio.fail_after(WAIT + 5), NoLeakedTasks():
        await nginx_rtmp.wait_for_publish_async("doomed")
        async with trio_rtmp.open_client(url) as client:
            await client.play()
            with pytest.raises(trio_rtmp.ConnectionClosed) as caught:
                async for frame in client.frames:
                    received.append(frame)
                    if sum(isinstance(f, VideoSample) for f in received) == 20:
                        nginx_rtmp.process.popen.kill()  # SIGKILL, to this PID only
            assert not isinstance(caught.value, trio_rtmp.ConnectionFailed)
            # Everything after says the same, and closing is still clean.
            with pytest.raises(trio_rtmp.ConnectionClosed):
                await client.frames.receive()
            with pytest.raises(trio_rtmp.ConnectionClosed):
                await client.play()
            stats = client.statistics()
        await client.aclose()  # idempotent
    # The frames before the loss all came through.
    assert sum(isinstance(f, VideoSample) for f in received) >= 20
    assert stats.frames_delivered == len(received)


async def test_leaving_a_live_stream_early(
    peers: Peers, nginx_rtmp: NginxRtmp, sample_flv: Path
) -> None:
    """A player that stops watching mid-stream (its frame buffer full) closes promptly
    and cleanly, while nginx-rtmp keeps sending."""
    url = nginx_rtmp.url("live", "endless")
    peers.ffmpeg_publish(url, sample_flv, loop=True)
    with trio.fail_after(WAIT + 5), NoLeakedTasks():
        await nginx_rtmp.wait_for_publish_async("endless")
        async with trio_rtmp.open_client(url, frame_buffer=4) as client:
            await client.play()
            first = [await client.frames.receive() for _ in range(10)]
            await trio.sleep(0.5)  # nginx fills the buffer and the socket meanwhile
            leaving = trio.current_time()
        assert trio.current_time() - leaving < 1
        # What was buffered is still there; the rest was dropped.
        assert len([frame async for frame in client.frames]) <= 4
    assert len(first) == 10
    assert client.statistics().bytes_received > 0
    await nginx_rtmp.wait_for_log_async("disconnect")
    assert_closed_politely(nginx_rtmp)


async def test_wrong_port_is_connection_failed() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with (
        trio.fail_after(WAIT),
        NoLeakedTasks(),
        pytest.raises(trio_rtmp.ConnectionFailed, match="Connection refused") as caught,
    ):
        async with trio_rtmp.open_client(f"rtmp://127.0.0.1:{port}/live/x"):
            pass
    assert isinstance(caught.value, trio_rtmp.ConnectionClosed)
    assert f"127.0.0.1:{port}" in str(caught.value)


async def test_silent_server_times_out() -> None:
    """A TCP server that accepts and never answers: ConnectionTimeout, in time."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    heard = bytearray()

    async def swallow(stream: trio.SocketStream) -> None:
        async with stream:
            while data := await stream.receive_some():
                heard.extend(data)

    with trio.fail_after(WAIT), NoLeakedTasks():
        async with trio.open_nursery() as nursery:
            await nursery.start(trio.serve_listeners, swallow, listeners)
            started = trio.current_time()
            with pytest.raises(trio_rtmp.ConnectionTimeout, match="handshake"):
                async with trio_rtmp.open_client(
                    f"rtmp://127.0.0.1:{port}/live/x", connect_timeout=0.5
                ):
                    pass
            assert 0.5 <= trio.current_time() - started < 2
            nursery.cancel_scope.cancel()
    assert heard[:1] == b"\x03" and len(heard) == 1 + 1536  # C0 C1, then nothing more


async def test_play_unanswered_times_out(peers: Peers, http_hook_server: HookServer) -> None:
    """nginx-rtmp waiting on an on_play hook that does not answer in time."""
    release = threading.Event()

    def slow(request: HookRequest) -> int:
        # nginx-rtmp waits for the verdict before it answers play.
        if request.call == "play":
            release.wait(WAIT)
        return 200

    http_hook_server.rule = slow
    nginx = peers.nginx_rtmp(on_play=http_hook_server.url("/on_play"))
    try:
        with trio.fail_after(WAIT), NoLeakedTasks():
            async with trio_rtmp.open_client(
                nginx.url("live", "waiting"), response_timeout=0.5
            ) as client:
                started = trio.current_time()
                with pytest.raises(trio_rtmp.ConnectionTimeout, match="no answer to play"):
                    await client.play()
                assert 0.5 <= trio.current_time() - started < 2
    finally:
        release.set()
    [request] = await http_hook_server.wait_for_async("play", "waiting")
    assert request.status == 200  # answered, but too late


async def test_raw_mode_relays_the_tags_unchanged(
    peers: Peers, nginx_rtmp: NginxRtmp, sample_flv: Path
) -> None:
    """demux=False: the audio and video tags come out of nginx-rtmp as they went in."""
    url = nginx_rtmp.url("live", "raw")
    tags = read_flv(sample_flv.read_bytes()).tags
    received: list[FlvTag] = []

    async def play_raw(task_status: trio.TaskStatus[None]) -> None:
        async with trio_rtmp.open_client(url, demux=False) as player:
            await player.play()
            task_status.started()
            received.extend(await collect(player.frames))

    with trio.fail_after(WAIT + 5), NoLeakedTasks():
        async with trio.open_nursery() as nursery:
            await nursery.start(play_raw)
            async with trio_rtmp.open_client(url) as publisher:
                await publisher.publish()
                await publish_file(publisher, tags, speed=4.0)
    assert all(isinstance(tag, FlvTag) for tag in received)
    # Per media type (nginx-rtmp interleaves audio and video in its own order).
    for tag_type in (8, 9):
        sent = [(t.timestamp, t.data) for t in tags if t.tag_type == tag_type]
        assert [(t.timestamp, t.data) for t in received if t.tag_type == tag_type] == sent
    assert_closed_politely(nginx_rtmp)
    [script] = [t for t in received if t.tag_type == 18]
    name, metadata = script.script_values()
    assert name == "onMetaData" and metadata["width"] == 320.0
