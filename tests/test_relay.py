"""The live relay (trio_rtmp.relay) against real peers.

FFmpeg (or librtmp) publishes and FFmpeg, rtmpdump, our client and the asyncio example play; what
each player gets is compared with the source (ffprobe, packet by packet, from the join
point), and a late joiner must decode without an error.  Also: our client publishing
to FFmpeg, FLV recording, push to nginx-rtmp (and reconnecting), nginx-rtmp pushing to
us and pulling from us, two publishers on one key, playing before publishing, a
publisher leaving and coming back, the GOP cache bounds, the slow-player policy (a
player that never reads beside 20 that do, a slow reader), 500 idle connections beside
a stream, the auth hook and statistics.

The relay runs in the test's Trio loop (``Relay.serve`` on port 0), so its state can be
inspected; the CLI tests run the same server as ``trio-rtmp serve``.
"""

from __future__ import annotations

import errno
import functools
import itertools
import json
import logging
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
import trio
from peers import (
    WAIT,
    NginxRtmp,
    PeerProcess,
    Peers,
    SampleCache,
    compare_media,
    decode_errors,
    free_port,
    peer_binary,
    probe_packets,
    probe_streams,
)
from server_support import (
    MovingUpstreams,
    RawClient,
    keyframe_index_metadata,
    open_fds,
    publish_tags,
    read_tags,
    recording_upstream,
    rss_bytes,
    wait_for,
    write_flv,
)

import trio_rtmp
from trio_rtmp.core import amf0
from trio_rtmp.core import events as ev
from trio_rtmp.core.errors import ProtocolError
from trio_rtmp.media.flv import (
    AudioPacketType,
    AudioTrack,
    ExAudioTag,
    ExVideoTag,
    MultitrackAudioTag,
    MultitrackVideoTag,
    VideoFrameType,
    VideoPacketType,
    VideoTrack,
    video_info,
)
from trio_rtmp.media.flvfile import FlvTag
from trio_rtmp.media.frames import AudioSample, CodecConfig, VideoSample
from trio_rtmp.relay import AuthRequest, Relay, RelayConfig, RelayStream
from trio_rtmp.server import ServerConfig

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


# -- helpers ------------------------------------------------------------------------


async def start_relay(
    nursery: trio.Nursery,
    config: RelayConfig | None = None,
    server_config: ServerConfig | None = None,
) -> tuple[Relay, trio_rtmp.RTMPServer]:
    relay = Relay(config)
    server: trio_rtmp.RTMPServer = await nursery.start(
        functools.partial(relay.serve, 0, host="127.0.0.1", server_config=server_config)
    )
    return relay, server


async def start_tls_relay(
    nursery: trio.Nursery, certificate: Any
) -> tuple[Relay, trio_rtmp.RTMPServer, list[str]]:
    """A relay serving rtmps:// with the test certificate, and the FFmpeg options that
    make FFmpeg verify it."""
    context = trio_rtmp.server_ssl_context(certificate.cert_path, certificate.key_path)
    relay = Relay()
    server: trio_rtmp.RTMPServer = await nursery.start(
        functools.partial(relay.serve, 0, host="127.0.0.1", ssl_context=context)
    )
    return relay, server, ["-tls_verify", "1", "-ca_file", str(certificate.ca_path)]


def relay_url(server: trio_rtmp.RTMPServer, key: str, app: str = "live") -> str:
    return f"rtmp://127.0.0.1:{server.port}/{app}/{key}"


async def collect_tags(
    client: trio_rtmp.RTMPClient, into: list[FlvTag], ended: trio.Event | None = None
) -> None:
    """Append the tags of a raw (``demux=False``) player to ``into`` until they end."""
    async for tag in client.frames:
        assert isinstance(tag, FlvTag)
        into.append(tag)
    if ended is not None:
        ended.set()


def players(relay: Relay, key: str, app: str = "live") -> int:
    stream = relay.streams.get((app, key))
    return len(stream.players) if stream else 0


class ClientPlayer:
    """Our client playing a stream (raw tags), in a task of its own."""

    def __init__(self, url: str, *, follow: bool = False, demux: bool = False) -> None:
        self.url = url
        self.follow = follow
        self.demux = demux
        self.items: list[Any] = []
        self.started = trio.Event()
        self.done = trio.Event()
        self.error: BaseException | None = None

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            async with trio_rtmp.open_client(self.url, demux=self.demux) as client:
                await client.play(follow=self.follow)
                self.started.set()
                task_status.started()
                async for item in client.frames:
                    self.items.append(item)
        except trio_rtmp.RTMPError as exc:
            self.error = exc
            if not self.started.is_set():
                raise
        finally:
            self.done.set()

    def tags(self) -> list[FlvTag]:
        return [t for t in self.items if isinstance(t, FlvTag)]

    def flv(self, path: Path) -> Path:
        return write_flv(path, self.tags())


async def messages_reach(relay: Relay, key: str, count: int) -> None:
    """Wait until the relay has had ``count`` media messages on ``key``."""
    stream = relay.streams["live", key]
    await wait_for(lambda: stream.messages >= count, what=f"{count} messages on {key}")


def media_counts(path: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for packet in probe_packets(path):
        counts[packet.media] = counts.get(packet.media, 0) + 1
    return counts


@pytest.fixture
def sample_tags(sample_flv: Path) -> list[FlvTag]:
    return read_tags(sample_flv)


# pytest-trio drops the reason of a skip raised inside a Trio test: these sync fixtures
# find the peers first.


@pytest.fixture
def rtmpdump(peers: Peers) -> str:
    """rtmpdump's path (skips, or fails under TRIO_RTMP_REQUIRE_PEERS=1, if missing)."""
    return peer_binary("rtmpdump")


@pytest.fixture
def nginx_play_restart(peers: Peers) -> NginxRtmp:
    """nginx-rtmp that sends its players NetStream.Play.Stop when the publisher leaves."""
    return peers.nginx_rtmp(play_restart=True)


# -- FFmpeg publishes, everyone plays ---------------------------------------------------


@pytest.mark.slow
async def test_ffmpeg_publishes_every_player_plays(
    peers: Peers, rtmpdump: str, sample_flv: Path, tmp_path: Path
) -> None:
    """FFmpeg publishes; FFmpeg, rtmpdump, our client and the asyncio example play from
    the start and get every packet; FFmpeg, rtmpdump and a client joining mid-stream start at
    a keyframe (metadata, both sequence headers and the cached GOP first), match the
    source from there and decode without an error."""
    source_counts = media_counts(sample_flv)
    async with trio.open_nursery() as nursery:
        relay, server = await start_relay(nursery)
        url = relay_url(server, "show")
        early_ffmpeg = peers.ffmpeg_play(url, tmp_path / "ffmpeg.flv", name="ffmpeg-early")
        dump = peers.rtmpdump_play(url, tmp_path / "rtmpdump.flv", idle_timeout=3)
        example = peers.start(
            [sys.executable, EXAMPLES / "asyncio_client.py", url, "--duration", "20"], "asyncio"
        )
        client = ClientPlayer(url)
        await nursery.start(client.run)
        await wait_for(lambda: players(relay, "show") == 4, what="four players")

        publisher = peers.ffmpeg_publish(url, sample_flv)
        stream = relay.streams["live", "show"]
        # Join in the middle of the second GOP (1.5 s in).
        await wait_for(lambda: stream.messages > 0, what="the publisher")
        await trio.sleep(1.5)
        late_ffmpeg = peers.ffmpeg_play(url, tmp_path / "late.flv", name="ffmpeg-late")
        late_dump = peers.rtmpdump_play(url, tmp_path / "late-rtmpdump.flv", idle_timeout=3)
        late_client = ClientPlayer(url)
        await nursery.start(late_client.run)

        assert await publisher.wait_async(timeout=WAIT + 5) == 0, publisher.log()
        # The publisher left: FFmpeg players end at UnpublishNotify, so does our client
        # (its frames end) and the example.
        assert await early_ffmpeg.wait_async() == 0, early_ffmpeg.log()
        assert await late_ffmpeg.wait_async() == 0, late_ffmpeg.log()
        with trio.fail_after(WAIT):
            await client.done.wait()
            await late_client.done.wait()
        assert await example.wait_async() == 0, example.log()
        await dump.run_for_async(0.5)
        await late_dump.run_for_async(0.5)
        assert client.error is None and late_client.error is None
        server.stop()

    for name in ("ffmpeg.flv", "rtmpdump.flv"):
        compare_media(sample_flv, tmp_path / name).assert_ok(min_compared=90, max_source_left=0)

    compare_media(sample_flv, client.flv(tmp_path / "client.flv")).assert_ok(
        min_compared=90, max_source_left=0
    )
    report = json.loads(example.stdout())
    assert report["started"] and report["end"] == "StreamUnpublished"
    # Every message: the example (the bare core) counts messages, which are ffprobe's
    # packets plus the sequence headers and H.264's end-of-sequence tag.
    tags = read_tags(sample_flv)
    assert (report["video"], report["audio"]) == (
        sum(t.tag_type == 9 for t in tags),
        sum(t.tag_type == 8 for t in tags),
    )
    assert report["video"] == source_counts["video"] + 2
    assert report["audio"] == source_counts["audio"] + 1
    assert report["metadata"]["width"] == 320

    late_outputs = [
        tmp_path / "late.flv",
        tmp_path / "late-rtmpdump.flv",
        late_client.flv(tmp_path / "late-client.flv"),
    ]
    for out in late_outputs:
        comparison = compare_media(sample_flv, out)
        comparison.assert_ok(min_compared=40, max_source_left=0)
        video = comparison.streams["video"]
        # Joined at a keyframe after the start (the cached GOP), nothing skipped.
        assert video.skipped == 0 and video.source_join in (25, 50), video.summary()
        assert decode_errors(out) == "", out
    # What a late joiner got first: metadata, the two sequence headers, a keyframe.
    first = late_client.tags()[:4]
    assert [t.tag_type for t in first[:3]] == [18, 9, 8]
    assert video_info(first[1].data) == (False, True)
    assert first[3].tag_type == 9 and video_info(first[3].data) == (True, False)


async def test_ffmpeg_player_sees_only_the_media(
    peers: Peers, sample_media: SampleCache, tmp_path: Path
) -> None:
    """FFmpeg copying everything (-map 0) into MP4 finds audio and video and nothing
    else, whether it waits for the publisher or joins late: the play's status messages
    must not look like a data stream (FFmpeg 5.1 made one of a NetStream.Data.Start data
    message and then failed to write the MP4), and neither may the metadata a late
    joiner gets first (FFmpeg reads an onMetaData stamped later than 0 as a subtitle
    stream: it must be at 0, as nginx-rtmp sends it)."""
    source = sample_media.get(seconds=4)

    def ffmpeg_to_mp4(url: str, out: Path, name: str) -> PeerProcess:
        command = ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-i", url]
        return peers.start([*command, "-map", "0", "-c", "copy", str(out)], name)

    async with trio.open_nursery() as nursery:
        relay, server = await start_relay(nursery)
        url = relay_url(server, "mp4")
        early = ffmpeg_to_mp4(url, tmp_path / "early.mp4", "ffmpeg-mp4")
        await wait_for(lambda: players(relay, "mp4") == 1, what="the player")
        publisher = peers.ffmpeg_publish(url, source)
        stream = relay.streams["live", "mp4"]
        # Join in the middle of the second GOP, with the metadata 1.5 s behind.
        await wait_for(lambda: stream.messages > 0, what="the publisher")
        await trio.sleep(1.5)
        late = ffmpeg_to_mp4(url, tmp_path / "late.mp4", "ffmpeg-mp4-late")
        assert await publisher.wait_async(timeout=WAIT + 5) == 0, publisher.log()
        assert await early.wait_async() == 0, early.log()
        assert await late.wait_async() == 0, late.log()
        server.stop()
    for name in ("early.mp4", "late.mp4"):
        streams = probe_streams(tmp_path / name)
        assert sorted(s.media for s in streams) == ["audio", "video"], name


async def test_librtmp_publishes_every_player_plays(
    peers: Peers, rtmpdump: str, sample_flv: Path, tmp_path: Path
) -> None:
    """librtmp (rtmpdump's library, which encoders and cameras publish with) publishes in
    real time: releaseStream, FCPublish, createStream, publish, then the file's tags cut
    into messages by librtmp itself (``onMetaData`` as ``@setDataFrame``), then
    FCUnpublish and deleteStream.  FFmpeg, rtmpdump and our client play every packet,
    and the metadata reaches our client as librtmp sent it."""
    async with trio.open_nursery() as nursery:
        relay, server = await start_relay(nursery)
        url = relay_url(server, "librtmp")
        ffmpeg = peers.ffmpeg_play(url, tmp_path / "ffmpeg.flv")
        dump = peers.rtmpdump_play(url, tmp_path / "rtmpdump.flv", idle_timeout=3)
        client = ClientPlayer(url)
        await nursery.start(client.run)
        await wait_for(lambda: players(relay, "librtmp") == 3, what="three players")
        publisher = peers.librtmp_publish(url, sample_flv)
        assert await publisher.wait_async(timeout=WAIT + 5) == 0, publisher.log()
        assert "librtmp_publish: done" in publisher.stderr()
        # librtmp's RTMP_Close unpublishes: the stream ends for the players.
        assert await ffmpeg.wait_async() == 0, ffmpeg.log()
        with trio.fail_after(WAIT):
            await client.done.wait()
        await dump.run_for_async(0.5)
        assert client.error is None
        server.stop()
    for name in ("ffmpeg.flv", "rtmpdump.flv"):
        compare_media(sample_flv, tmp_path / name).assert_ok(min_compared=90, max_source_left=0)
    compare_media(sample_flv, client.flv(tmp_path / "client.flv")).assert_ok(
        min_compared=90, max_source_left=0
    )
    [source_metadata] = [t for t in read_tags(sample_flv) if t.tag_type == 18]
    [played_metadata] = [t for t in client.tags() if t.tag_type == 18]
    assert played_metadata.data == source_metadata.data


def ipv6_loopback() -> bool:
    """Whether this machine has the IPv6 loopback address (containers may not)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback (::1) on this machine")
async def test_ipv6_ffmpeg_publishes_and_plays(
    peers: Peers, sample_media: SampleCache, tmp_path: Path
) -> None:
    """The relay on ::1: FFmpeg publishes and plays ``rtmp://[::1]:PORT/...`` (its
    tcUrl has the address in brackets), and our client plays it too."""
    source = sample_media.get(seconds=2)
    async with trio.open_nursery() as nursery:
        relay = Relay()
        server: trio_rtmp.RTMPServer = await nursery.start(
            functools.partial(relay.serve, 0, host="::1")
        )
        url = f"rtmp://[::1]:{server.port}/live/v6"
        player = peers.ffmpeg_play(url, tmp_path / "v6.flv")
        ours = ClientPlayer(url)
        await nursery.start(ours.run)
        await wait_for(lambda: players(relay, "v6") == 2, what="the two players")
        publisher = peers.ffmpeg_publish(url, source)
        assert await publisher.wait_async(timeout=WAIT + 5) == 0, publisher.log()
        assert await player.wait_async() == 0, player.log()
        with trio.fail_after(WAIT):
            await ours.done.wait()
        server.stop()
    compare_media(source, tmp_path / "v6.flv").assert_ok(min_compared=40, max_source_left=0)
    assert ours.error is None
    media = [(t.tag_type, t.timestamp, t.data) for t in read_tags(source) if t.tag_type != 18]
    assert [(t.tag_type, t.timestamp, t.data) for t in ours.tags() if t.tag_type != 18] == media


@pytest.mark.slow
async def test_client_publishes_ffmpeg_plays_and_recording(
    peers: Peers, sample_flv: Path, tmp_path: Path
) -> None:
    """Our client publishes (in real time), FFmpeg plays; the relay records an FLV that
    ffprobe reads with the source's packets."""
    record_dir = tmp_path / "recordings"
    async with trio.open_nursery() as nursery:
        relay, server = await start_relay(nursery, RelayConfig(record_dir=str(record_dir)))
        url = relay_url(server, "cam?token=x")
        player = peers.ffmpeg_play(relay_url(server, "cam"), tmp_path / "played.flv")
        await wait_for(lambda: players(relay, "cam") == 1, what="the FFmpeg player")
        async with trio_rtmp.open_client(url) as client:
            await client.publish()
            await publish_tags(client, read_tags(sample_flv), speed=1.0)
        assert await player.wait_async() == 0, player.log()
        await wait_for(
            lambda: any(record_dir.glob("live/cam-*.flv")) and not relay.streams,
            what="the recording",
        )
        await trio.sleep(0.2)  # the recorder finishes the file after the stream ended
        server.stop()
    compare_media(sample_flv, tmp_path / "played.flv").assert_ok(min_compared=90, max_source_left=0)
    (recording,) = record_dir.glob("live/cam-*.flv")
    # ffprobe finds the source's packets, no more (the metadata is no packet).
    assert media_counts(recording) == media_counts(sample_flv)
    compare_media(sample_flv, recording).assert_ok(min_compared=90, max_source_left=0)
    assert decode_errors(recording) == ""


async def test_metadata_over_the_amf_limit_is_skipped_not_fatal(
    peers: Peers, sample_flv: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A publisher's onMetaData bigger than the AMF the relay decodes (64 KiB: a
    keyframe index of 4000 entries), sent as it is by our client: the relay skips it
    with a warning and keeps the publisher; FFmpeg plays every frame."""
    big = keyframe_index_metadata(4000)
    assert len(big.data) > 65536
    tags = [big, *(t for t in read_tags(sample_flv) if t.tag_type != 18)]
    played = tmp_path / "played.flv"
    async with trio.open_nursery() as nursery:
        relay, server = await start_relay(nursery)
        player = peers.ffmpeg_play(relay_url(server, "big"), played)
        await wait_for(lambda: players(relay, "big") == 1, what="the FFmpeg player")
        async with trio_rtmp.open_client(relay_url(server, "big")) as client:
            await client.publish()
            await publish_tags(client, tags, speed=4.0)
        assert await player.wait_async() == 0, player.log()
        server.stop()
    compare_media(sample_flv, played).assert_ok(min_compared=90, max_source_left=0)
    assert "skipped a data message (@setDataFrame onMetaData) of" in caplog.text


@pytest.mark.slow
async def test_rtmps_ffmpeg_publishes_and_plays(
    peers: Peers, tls_certificate: Any, sample_media: SampleCache, tmp_path: Path
) -> None:
    """The relay over TLS (the session output without the direct socket path): FFmpeg
    publishes and plays rtmps://, verifying the certificate."""
    sample = sample_media.get(seconds=2)
    async with trio.open_nursery() as nursery:
        relay, server, verify = await start_tls_relay(nursery, tls_certificate)
        url = f"rtmps://127.0.0.1:{server.port}/live/tls"
        player = peers.ffmpeg_play(url, tmp_path / "tls.flv", input_options=verify)
        await wait_for(lambda: players(relay, "tls") == 1, what="the TLS player")
        publisher = peers.ffmpeg_publish(url, sample, extra=verify)
        assert await publisher.wait_async(timeout=WAIT) == 0, publisher.log()
        assert await player.wait_async() == 0, player.log()
        server.stop()
    compare_media(sample, tmp_path / "tls.flv").assert_ok(min_compared=40, max_source_left=0)


@pytest.mark.slow
async def test_push_to_nginx_then_play_from_nginx(
    peers: Peers, nginx_play_restart: NginxRtmp, sample_flv: Path, tmp_path: Path
) -> None:
    """Every stream the filter selects is pushed to nginx-rtmp; FFmpeg plays it there."""
    nginx = nginx_play_restart
    upstream = f"rtmp://127.0.0.1:{nginx.port}/live"
    config = RelayConfig(push=(upstream,), push_filter=lambda app, key: key != "local")
    async with trio.open_nursery() as nursery:
        _relay, server = await start_relay(nursery, config)
        # nginx lets a player wait for a stream that is not published yet.
        player = peers.ffmpeg_play(nginx.url("live", "pushed"), tmp_path / "from-nginx.flv")
        await nginx.wait_for_play_async("pushed")
        publisher = peers.ffmpeg_publish(relay_url(server, "pushed"), sample_flv)
        async with trio_rtmp.open_client(relay_url(server, "local")) as local:
            await local.publish()
            await publish_tags(local, read_tags(sample_flv)[:20])
            assert await publisher.wait_async(timeout=WAIT + 5) == 0, publisher.log()
        assert await player.wait_async() == 0, player.log()
        server.stop()
    compare_media(sample_flv, tmp_path / "from-nginx.flv").assert_ok(
        min_compared=90, max_source_left=0
    )
    assert "local" not in nginx.log()


@pytest.mark.slow
async def test_nginx_pushes_into_the_relay(peers: Peers, sample_flv: Path, tmp_path: Path) -> None:
    """nginx-rtmp's relay as our publisher: it pushes what FFmpeg publishes to it (its
    ``push`` directive), and FFmpeg plays it from us.

    nginx-rtmp's push joins its live stream after FFmpeg's first keyframe went by and
    waits for the next one (it does the same pushing to another nginx-rtmp), so the
    output starts at the second GOP; from there on, every packet."""
    async with trio.open_nursery() as nursery:
        relay, server = await start_relay(nursery)
        nginx = peers.nginx_rtmp(
            applications={"out": f"live on; push rtmp://127.0.0.1:{server.port}/live;"}
        )
        player = peers.ffmpeg_play(relay_url(server, "pushed"), tmp_path / "from-relay.flv")
        await wait_for(lambda: players(relay, "pushed") == 1, what="the FFmpeg player")
        publisher = peers.ffmpeg_publish(nginx.url("out", "pushed"), sample_flv)
        assert await publisher.wait_async(timeout=WAIT + 5) == 0, publisher.log()
        # nginx-rtmp's push ends with the publish; the relay tells its player.
        assert await player.wait_async() == 0, player.log()
        server.stop()
    comparison = compare_media(sample_flv, tmp_path / "from-relay.flv")
    comparison.assert_ok(min_compared=70, max_source_left=0)
    video = comparison.streams["video"]
    assert video.source_join is not None and video.source_join <= 25, comparison.summary()
    assert "relay: create push name='pushed'" in nginx.log()


@pytest.mark.slow
async def test_nginx_pulls_from_the_relay(peers: Peers, sample_flv: Path, tmp_path: Path) -> None:
    """nginx-rtmp's relay as our player: FFmpeg plays a stream from nginx-rtmp, which
    pulls it from us (its ``pull`` directive) before anyone publishes it; then FFmpeg
    publishes to us.  Every packet reaches FFmpeg through nginx, and the stream's end
    too."""
    async with trio.open_nursery() as nursery:
        relay, server = await start_relay(nursery)
        nginx = peers.nginx_rtmp(
            applications={"in": f"live on; pull rtmp://127.0.0.1:{server.port}/live;"},
            play_restart=True,
        )
        player = peers.ffmpeg_play(nginx.url("in", "pulled"), tmp_path / "from-nginx.flv")
        await wait_for(lambda: players(relay, "pulled") == 1, what="nginx-rtmp's pull")
        publisher = peers.ffmpeg_publish(relay_url(server, "pulled"), sample_flv)
        assert await publisher.wait_async(timeout=WAIT + 5) == 0, publisher.log()
        assert await player.wait_async() == 0, player.log()
        server.stop()
    compare_media(sample_flv, tmp_path / "from-nginx.flv").assert_ok(
        min_compared=90, max_source_left=0
    )


async def test_push_reconnects_with_backoff(sample_tags: list[FlvTag]) -> None:
    """A push target that is down at first: the pusher retries (1 s, 2 s...) and, once
    the target is up, starts with metadata, the sequence headers and the GOP."""
    port = free_port()
    got: list[Any] = []
    config = RelayConfig(push=(f"rtmp://127.0.0.1:{port}/up",))
    async with trio.open_nursery() as nursery:
        _relay, server = await start_relay(nursery, config)
        async with trio_rtmp.open_client(relay_url(server, "k")) as client:
            await client.publish()
            # 1.5 s of media (a GOP and a half) while the target is down.
            await publish_tags(client, [t for t in sample_tags if t.timestamp < 1500])
            await trio.sleep(0.5)
            upstream: trio_rtmp.RTMPServer = await nursery.start(
                functools.partial(
                    trio_rtmp.serve_rtmp,
                    recording_upstream(got),
                    port,
                    host="127.0.0.1",
                    demux=False,
                )
            )
            await wait_for(lambda: ("publish", "k") in got, timeout=6, what="the push")
            await publish_tags(client, [t for t in sample_tags if 1500 <= t.timestamp < 2500])
            await wait_for(lambda: any(g[1] >= 2000 for g in got if g[0] == "video"))
        upstream.stop()
        server.stop()
    video = [g for g in got if g[0] == "video"]
    assert got[:3] == [("connect", "up"), ("publish", "k"), ("metadata",)]
    # The sequence header, then the cached GOP from the keyframe at 1 s, then live.
    assert video[0][2] == (False, True)
    assert video[1][1:] == (1000, (True, False))
    timestamps = [g[1] for g in video[1:]]
    assert timestamps[-1] >= 2000
    assert sorted(set(timestamps)) == sorted(timestamps)  # no duplicates, no reordering


async def test_a_push_that_connects_at_once_sends_the_stream_from_its_start(
    sample_tags: list[FlvTag],
) -> None:
    """A push whose first session starts before anything was lost sends every message
    from the start: audio before the first keyframe too, which no cache keeps (it used
    to start from the cache, at the first keyframe)."""
    media = [t for t in sample_tags if t.tag_type != 18 and t.timestamp < 1500]
    first_key = next(i for i, t in enumerate(media) if video_info(t.data)[0])
    audio = next(t for t in media[first_key:] if t.tag_type == 8 and t.data[1] == 1)
    # Two audio frames before the first keyframe.
    early = [FlvTag(8, 0, audio.data), FlvTag(8, 1, audio.data)]
    source = [*media[:first_key], *early, *media[first_key:]]
    got: list[tuple[int, int, bytes]] = []

    class Upstream(trio_rtmp.ServerHandler):
        async def on_video(self, stream_id: int, data: Any) -> None:
            got.append((9, data.timestamp, data.data))

        async def on_audio(self, stream_id: int, data: Any) -> None:
            got.append((8, data.timestamp, data.data))

    async with trio.open_nursery() as nursery:
        upstream: trio_rtmp.RTMPServer = await nursery.start(
            functools.partial(trio_rtmp.serve_rtmp, Upstream, 0, host="127.0.0.1", demux=False)
        )
        config = RelayConfig(push=(f"rtmp://127.0.0.1:{upstream.port}/up",))
        _relay, server = await start_relay(nursery, config)
        async with trio_rtmp.open_client(relay_url(server, "whole")) as client:
            await client.publish()
            await publish_tags(client, source)
            await wait_for(lambda: len(got) >= len(source), what="every message upstream")
        upstream.stop()
        server.stop()
    assert got == [(t.tag_type, t.timestamp, t.data) for t in source]


async def publish_rounds(
    client: trio_rtmp.RTMPClient,
    tags: list[FlvTag],
    rounds: range,
    *,
    speed: float | None = None,
) -> None:
    """Publish ``tags`` once per round of ``rounds``, the timestamps going on from round
    to round (as ``trio-rtmp publish --loop`` does); paced at ``speed`` times real time
    when given, else as fast as possible."""
    span = tags[-1].timestamp + 40
    start = trio.current_time()
    for number in rounds:
        for tag in tags:
            timestamp = tag.timestamp + number * span
            if speed is not None:
                offset = timestamp - rounds.start * span
                await trio.sleep_until(start + offset / 1000 / speed)
            await client.send_tag(timestamp, tag)


@pytest.mark.slow
async def test_a_push_to_a_frozen_upstream_starts_again_when_it_thaws(
    peers: Peers, sample_tags: list[FlvTag], caplog: pytest.LogCaptureFixture
) -> None:
    """nginx-rtmp, the push target, freezes (SIGSTOP: a hung server, or a host gone
    without a word).  Once nothing more goes out to it for the client's
    ``write_stall_timeout`` (10 s), the push gives up instead of waiting forever, and it
    starts again when nginx comes back: a player there gets the stream."""
    caplog.set_level(logging.INFO, logger="trio_rtmp")
    nginx = peers.nginx_rtmp()
    config = RelayConfig(push=(f"rtmp://127.0.0.1:{nginx.port}/live",))
    # The publisher below sends faster than real time, then nothing while the push
    # stalls: it must not be closed as a silent publisher (10 s, the same as the
    # push's stall timeout) before the push gives up (seen once in a full run).
    server_config = ServerConfig(publish_timeout=60)
    async with trio.open_nursery() as nursery:
        _relay, server = await start_relay(nursery, config, server_config)
        async with trio_rtmp.open_client(relay_url(server, "cam")) as client:
            await client.publish()
            await publish_rounds(client, sample_tags, range(1))
            await nginx.wait_for_publish_async("cam")
            os.kill(nginx.process.pid, signal.SIGSTOP)
            try:
                # Megabytes, to fill the socket buffers between the push and nginx.
                await publish_rounds(client, sample_tags, range(1, 40))
                await wait_for(
                    lambda: "no write progress" in caplog.text,
                    timeout=WAIT + 10,
                    what="the push to give up",
                )
                assert "push of cam to rtmp://127.0.0.1" in caplog.text
            finally:
                os.kill(nginx.process.pid, signal.SIGCONT)
            async with trio.open_nursery() as publishing:
                publishing.start_soon(
                    functools.partial(publish_rounds, client, sample_tags, range(40, 60), speed=2)
                )
                # nginx-rtmp takes one publisher per name: a second publish there is
                # the push's new session, after nginx has read the old one to its end.
                await wait_for(
                    lambda: nginx.log().count("publish: name='cam'") >= 2,
                    timeout=WAIT + 10,
                    what="the push to start again",
                )
                async with trio_rtmp.open_client(nginx.url("live", "cam")) as player:
                    await player.play()
                    video = 0
                    with trio.fail_after(WAIT):
                        async for frame in player.frames:
                            video += isinstance(frame, VideoSample)
                            if video == 50:
                                break
                publishing.cancel_scope.cancel()
        server.stop()


@pytest.mark.parametrize("usable", [True, False])
async def test_push_follows_a_reconnect_request(sample_tags: list[FlvTag], usable: bool) -> None:
    """An upstream asks the push to reconnect elsewhere (Enhanced RTMP ReconnectRequest):
    the push moves at the next keyframe, the new upstream starts with the metadata and
    the sequence headers, and no video frame is lost on the way.  A request the push
    cannot follow (not an RTMP URL) is ignored."""
    upstreams = MovingUpstreams(usable=usable, at=500)
    tags = [t for t in sample_tags if t.timestamp < 3500]
    frames = [t.timestamp for t in tags if t.tag_type == 9 and not video_info(t.data)[1]]
    async with trio.open_nursery() as nursery:
        port = await upstreams.start(nursery)
        config = RelayConfig(push=(f"rtmp://127.0.0.1:{port}/up",))
        _relay, server = await start_relay(nursery, config)
        async with trio_rtmp.open_client(relay_url(server, "k")) as client:
            await client.publish()
            await publish_tags(client, tags, speed=2.0)
            await wait_for(lambda: upstreams.got_frame(frames[-1]), what="the last frame")
        upstreams.stop()
        server.stop()
    upstreams.check(frames, "up", "k")


# -- publishers and players coming and going -------------------------------------------


async def test_second_publisher_gets_bad_name(sample_tags: list[FlvTag]) -> None:
    async with trio.open_nursery() as nursery:
        _relay, server = await start_relay(nursery)
        url = relay_url(server, "one")
        player = ClientPlayer(url)
        await nursery.start(player.run)
        async with trio_rtmp.open_client(url) as first:
            await first.publish()
            await publish_tags(first, sample_tags[:30])
            async with trio_rtmp.open_client(url) as second:
                with pytest.raises(trio_rtmp.PublishRejected) as info:
                    await second.publish()
                assert info.value.code == "NetStream.Publish.BadName"
            # The first publisher goes on, undisturbed.
            await publish_tags(first, sample_tags[30:60])
            await wait_for(lambda: len(player.tags()) >= 59 - 1, what="the player's tags")
        # Once it left, the name is free again.
        async with trio_rtmp.open_client(url) as third:
            await third.publish()
        server.stop()


async def test_second_ffmpeg_publisher_is_refused(
    peers: Peers, sample_flv: Path, sample_tags: list[FlvTag]
) -> None:
    async with trio.open_nursery() as nursery:
        relay, server = await start_relay(nursery)
        url = relay_url(server, "one")
        async with trio_rtmp.open_client(url) as first:
            await first.publish()
            await publish_tags(first, sample_tags[:10])
            stream = relay.streams["live", "one"]
            owner = stream.publisher
            second = peers.ffmpeg_publish(url, sample_flv, realtime=False)
            assert await second.wait_async() != 0
            assert "already being published" in second.stderr()
            assert stream.publisher == owner
            await publish_tags(first, sample_tags[10:20])
            await messages_reach(relay, "one", 19)
        server.stop()


async def test_a_frozen_ffmpeg_publisher_frees_its_key(
    peers: Peers, sample_media: SampleCache, caplog: pytest.LogCaptureFixture
) -> None:
    """An encoder that stops sending but leaves its TCP connection open (FFmpeg frozen
    with SIGSTOP: what a power loss or a network drop looks like from the server) loses
    its stream key after ``publish_timeout``.  The encoder that comes back gets the key,
    and a player that was waiting plays its stream whole."""
    first_source = sample_media.get(seconds=2, bframes=False)
    second_source = sample_media.get(seconds=2, size="160x120")
    caplog.set_level(logging.INFO, logger="trio_rtmp")
    async with trio.open_nursery() as nursery:
        relay, server = await start_relay(nursery, server_config=ServerConfig(publish_timeout=2))
        url = relay_url(server, "cam")
        follower = ClientPlayer(url, follow=True, demux=True)
        await nursery.start(follower.run)
        frozen = peers.ffmpeg_publish(url, first_source, loop=True, name="ffmpeg-frozen")
        try:
            await messages_reach(relay, "cam", 40)
            os.kill(frozen.pid, signal.SIGSTOP)
            stopped_at = trio.current_time()
            stream = relay.streams["live", "cam"]
            await wait_for(lambda: not stream.live, timeout=WAIT, what="the key to be freed")
            # Closed once the connection had been silent for 2 s (the last bytes FFmpeg
            # sent before it froze may come in a little later).
            assert trio.current_time() - stopped_at >= 1.9
            assert "published nothing for 2 s" in caplog.text
            second = peers.ffmpeg_publish(url, second_source)
            assert await second.wait_async(timeout=WAIT + 5) == 0, second.log()
        finally:
            os.kill(frozen.pid, signal.SIGCONT)
            await frozen.stop_async()

        def video_configs() -> list[CodecConfig]:
            return [f for f in follower.items if isinstance(f, CodecConfig) and f.media == "video"]

        await wait_for(lambda: len(video_configs()) >= 2, what="the second stream's header")
        configs = video_configs()
        second_start = follower.items.index(configs[-1])
        expected = media_counts(second_source)
        await wait_for(
            lambda: (
                sum(isinstance(f, VideoSample) for f in follower.items[second_start:])
                >= expected["video"]
            ),
            what="the second stream's frames",
        )
        server.stop()
    second_frames = follower.items[second_start:]
    assert sum(isinstance(f, VideoSample) for f in second_frames) == expected["video"]
    assert sum(isinstance(f, AudioSample) for f in second_frames) == expected["audio"]
    assert [c.init_data for c in configs] == [
        next(t.data for t in read_tags(source) if t.tag_type == 9)[5:]
        for source in (first_source, second_source)
    ]


async def live_server(
    nursery: trio.Nursery, peers: Peers, server_kind: str, key: str
) -> tuple[str, Relay | None, trio_rtmp.RTMPServer | None]:
    """The URL of ``key`` on our relay (started in ``nursery``; also returned, with its
    server) or on nginx-rtmp."""
    if server_kind == "relay":
        relay, server = await start_relay(nursery)
        return relay_url(server, key), relay, server
    return peers.nginx_rtmp().url("live", key), None, None


@pytest.mark.parametrize("server_kind", ["relay", "nginx"])
async def test_pause_and_resume_a_live_stream(
    peers: Peers, sample_media: SampleCache, server_kind: str
) -> None:
    """Our client pauses a live stream (the ``pause`` command, which ffplay sends for
    its "p" key) and resumes it, on our relay and on nginx-rtmp alike: while paused
    nothing comes and the connection stays; on resume the stream goes on from the
    present, from a keyframe after its sequence header."""
    source = sample_media.get(seconds=2, bframes=False)
    async with trio.open_nursery() as nursery:
        url, relay, server = await live_server(nursery, peers, server_kind, "paused")
        publisher = peers.ffmpeg_publish(url, source, loop=True)
        tags: list[FlvTag] = []
        try:
            async with trio_rtmp.open_client(url, demux=False) as client:
                await client.play()
                nursery.start_soon(collect_tags, client, tags)
                await wait_for(lambda: len(tags) >= 50, what="tags before the pause")
                await client.pause()
                assert client.paused
                await trio.sleep(0.3)  # what was on its way
                paused_at = len(tags)
                received = client.statistics().messages_received
                await trio.sleep(2)
                assert (len(tags), client.statistics().messages_received) == (paused_at, received)
                if relay is not None:
                    stream = relay.streams["live", "paused"]
                    assert (len(stream.players), stream.statistics().dropped) == (1, 0)
                await client.resume()
                assert not client.paused
                await wait_for(lambda: len(tags) >= paused_at + 50, what="tags after resuming")
        finally:
            await publisher.stop_async()
        if server is not None:
            server.stop()
    before = [t for t in tags[:paused_at] if t.tag_type == 9]
    after = [t for t in tags[paused_at:] if t.tag_type == 9]
    # The sequence header first, then a keyframe: decodable from the first frame.
    assert video_info(after[0].data) == (False, True)
    assert video_info(after[1].data) == (True, False)
    # From the present: the pause (2.3 s and more) shows in the timestamps.
    assert after[1].timestamp - before[-1].timestamp >= 1300


@pytest.mark.parametrize("server_kind", ["relay", "nginx"])
async def test_pause_and_resume_when_the_player_has_fallen_behind(
    peers: Peers, sample_media: SampleCache, server_kind: str
) -> None:
    """A player that stopped reading (its frames channel full, the socket full behind
    it) pauses: what answers the pause comes behind media the server had already sent,
    so the client reads on, holds those frames and returns from ``pause()`` at once
    (it used to wait out its response timeout).  ``resume()`` works the same way, with
    the channel still full.  No frame is missing up to the pause, and the stream goes
    on in order after it."""
    source = sample_media.get(seconds=2, bframes=False)
    async with trio.open_nursery() as nursery:
        url, _relay, server = await live_server(nursery, peers, server_kind, "behind")
        publisher = peers.ffmpeg_publish(url, source, loop=True)
        try:
            async with trio_rtmp.open_client(
                url, demux=False, frame_buffer=4, response_timeout=5
            ) as client:
                await client.play()
                with trio.fail_after(WAIT):
                    while client.frames.statistics().current_buffer_used < 4:
                        await trio.sleep(0.01)
                await trio.sleep(1)  # about 25 more video frames, sent or on their way
                with trio.fail_after(2):
                    await client.pause()
                assert client.paused
                await trio.sleep(0.5)
                assert client.frames.statistics().current_buffer_used == 4
                with trio.fail_after(2):
                    await client.resume()
                tags = await take_after_resuming(client, video_frames=25)
        finally:
            await publisher.stop_async()
        if server is not None:
            server.stop()
    video = [t for t in tags if t.tag_type == 9]
    headers = [i for i, t in enumerate(video) if video_info(t.data) == (False, True)]
    assert len(headers) == 2, headers
    before, after = video[1 : headers[1]], video[headers[1] + 1 :]
    # Up to the pause, every frame: 40 ms apart (25 fps), or a little more from one
    # pass of the looped source to the next; a missing frame would make 80 ms.
    gaps = [b.timestamp - a.timestamp for a, b in itertools.pairwise(before)]
    assert len(before) >= 20 and all(0 < gap < 80 for gap in gaps), gaps
    # After it: a keyframe first, then the stream in order.
    assert video_info(after[0].data) == (True, False)
    assert all(a.timestamp < b.timestamp for a, b in itertools.pairwise(after))


async def take_after_resuming(client: trio_rtmp.RTMPClient, video_frames: int) -> list[FlvTag]:
    """The frames of a raw player, up to ``video_frames`` video frames after its second
    video sequence header (where a resumed play starts), within a bounded time."""
    tags: list[FlvTag] = []
    headers = after = 0
    with trio.fail_after(WAIT):
        while after < video_frames:
            tag = await client.frames.receive()
            assert isinstance(tag, FlvTag)
            tags.append(tag)
            if tag.tag_type == 9:
                headers += video_info(tag.data) == (False, True)
                after += headers == 2
    return tags


async def test_a_player_toggling_pause_disturbs_no_one(
    peers: Peers, sample_media: SampleCache, caplog: pytest.LogCaptureFixture
) -> None:
    """A player that pauses and resumes 40 times in a row, as fast as the relay answers,
    costs the player beside it nothing: no frame dropped, no gap, and the toggler
    itself plays on afterwards, decodable from its last resume."""
    caplog.set_level(logging.WARNING)
    source = sample_media.get(seconds=2, bframes=False)
    async with trio.open_nursery() as nursery:
        relay, server = await start_relay(nursery)
        url = relay_url(server, "toggled")
        publisher = peers.ffmpeg_publish(url, source, loop=True)
        steady: list[FlvTag] = []
        toggled: list[FlvTag] = []

        try:
            async with (
                trio_rtmp.open_client(url, demux=False) as one,
                trio_rtmp.open_client(url, demux=False) as other,
            ):
                await one.play()
                await other.play()
                nursery.start_soon(collect_tags, one, steady)
                nursery.start_soon(collect_tags, other, toggled)
                await wait_for(lambda: len(toggled) >= 20, what="the toggler's first tags")
                for _ in range(40):
                    await other.pause()
                    await other.resume()
                resumed_at = len(toggled)  # at least
                steady_at = len(steady)
                await wait_for(
                    lambda: len(toggled) >= resumed_at + 50 and len(steady) >= steady_at + 50,
                    what="tags after the toggling",
                )
                stream = relay.streams["live", "toggled"]
                assert (len(stream.players), stream.statistics().dropped) == (2, 0)
        finally:
            await publisher.stop_async()
        server.stop()
    video = [t for t in steady if t.tag_type == 9]
    gaps = [b.timestamp - a.timestamp for a, b in itertools.pairwise(video[1:])]
    # 25 frames/s without B-frames: every frame, each 40 ms after the last (the file
    # loops: its restarts go on in time too).
    assert gaps and max(gaps) <= 80 and min(gaps) >= 0, gaps
    # Each start (the play and 40 resumes) is a sequence header, then a keyframe.
    video = [video_info(t.data) for t in toggled if t.tag_type == 9]
    starts = [i for i, info in enumerate(video) if info == (False, True)]
    assert len(starts) == 41
    assert all(video[i + 1] == (True, False) for i in starts)
    assert [r for r in caplog.records if r.name.startswith("trio_rtmp")] == []


async def test_a_paused_player_resumes_on_the_next_publisher(sample_media: SampleCache) -> None:
    """A following player paused while its publisher leaves, and resumed before the
    next one comes, gets the next stream from its sequence header, and nothing of the
    first one's rest."""
    first = read_tags(sample_media.get(seconds=2, bframes=False))
    second = read_tags(sample_media.get(seconds=2, size="160x120"))
    first_header = next(t.data for t in first if t.tag_type == 9)
    second_header = next(t.data for t in second if t.tag_type == 9)
    tags: list[FlvTag] = []
    async with trio.open_nursery() as nursery:
        relay, server = await start_relay(nursery)
        url = relay_url(server, "swap")
        async with trio_rtmp.open_client(url, demux=False) as player:
            await player.play(follow=True)
            nursery.start_soon(collect_tags, player, tags)
            async with trio_rtmp.open_client(url) as publisher:
                await publisher.publish()
                await publish_tags(publisher, first[:20])
                await wait_for(lambda: len(tags) >= 10, what="the first stream")
                await player.pause()
                await publish_tags(publisher, first[20:])
            await wait_for(lambda: not relay.streams["live", "swap"].live, what="unpublish")
            paused_at = len(tags)
            await player.resume()
            async with trio_rtmp.open_client(url) as publisher:
                await publisher.publish()
                await publish_tags(publisher, second)
            await wait_for(
                lambda: len(tags) >= paused_at + len(second) - 1, what="the second stream"
            )
            stream = relay.streams["live", "swap"]
            assert (len(stream.players), stream.statistics().dropped) == (1, 0)
        server.stop()
    before = [t.data for t in tags[:paused_at] if t.tag_type != 18]
    assert before[0] == first_header
    # Nothing sent while it was paused (what came was on its way before the pause).
    assert before == [t.data for t in first[:20] if t.tag_type != 18][: len(before)]
    after = tags[paused_at:]
    assert next(t.data for t in after if t.tag_type == 9) == second_header
    assert [t.data for t in after if t.tag_type != 18] == [
        t.data for t in second if t.tag_type != 18
    ]


async def test_a_play_that_ended_while_paused_cannot_be_resumed(
    sample_media: SampleCache,
) -> None:
    """Without ``follow``, the publisher leaving ends a paused play too: the frames
    channel ends, and resume() (or pause()) says so instead of asking the server."""
    tags = read_tags(sample_media.get(seconds=1, bframes=False))
    got: list[FlvTag] = []
    async with trio.open_nursery() as nursery:
        _relay, server = await start_relay(nursery)
        url = relay_url(server, "gone")
        async with trio_rtmp.open_client(url, demux=False) as player:
            await player.play()
            ended = trio.Event()
            nursery.start_soon(collect_tags, player, got, ended)
            async with trio_rtmp.open_client(url) as publisher:
                await publisher.publish()
                await publish_tags(publisher, tags[:10])
                await wait_for(lambda: len(got) >= 5, what="the first frames")
                await player.pause()
            with trio.fail_after(WAIT):
                await ended.wait()
            for call in (player.resume, player.pause):
                with pytest.raises(trio_rtmp.LocalProtocolError, match="the stream has ended"):
                    await call()
            assert player.paused
            # The connection itself is fine, and closes cleanly.
            assert player.statistics().messages_received > 0
        server.stop()


async def test_play_before_publish_waits_or_not_found(sample_tags: list[FlvTag]) -> None:
    async with trio.open_nursery() as nursery:
        relay, server = await start_relay(nursery)
        raw = await RawClient.open(server.port)
        await raw.connect(port=server.port)
        assert isinstance(await raw.play("later"), ev.PlayStarted)
        async with trio_rtmp.open_client(relay_url(server, "later")) as client:
            await client.publish()
            notify = await raw.until(lambda e: isinstance(e, ev.StreamPublished))
            assert notify.code == "NetStream.Play.PublishNotify"  # type: ignore[attr-defined]
            await publish_tags(client, sample_tags[:5])
            await raw.until(lambda e: isinstance(e, ev.VideoData))
        server.stop()

    async with trio.open_nursery() as nursery:
        relay, server = await start_relay(nursery, RelayConfig(wait_for_publisher=False))
        async with trio_rtmp.open_client(relay_url(server, "nothing")) as client:
            with pytest.raises(trio_rtmp.StreamNotFound):
                await client.play()
        assert relay.streams == {}
        server.stop()


async def test_publisher_leaves_and_comes_back(sample_media: SampleCache, tmp_path: Path) -> None:
    """Players get UnpublishNotify and StreamEOF when the publisher leaves, and go on
    with the next publisher (PublishNotify), which may send other codecs settings: the
    caches are reset, so nobody gets the old stream's headers or GOP."""
    first = read_tags(sample_media.get(seconds=2, bframes=False))
    second = read_tags(sample_media.get(seconds=2, size="160x120"))
    async with trio.open_nursery() as nursery:
        relay, server = await start_relay(nursery)
        url = relay_url(server, "again")
        follower = ClientPlayer(url, follow=True, demux=True)
        await nursery.start(follower.run)
        raw = await RawClient.open(server.port)
        await raw.connect(port=server.port)
        assert isinstance(await raw.play("again"), ev.PlayStarted)
        async with trio_rtmp.open_client(url) as publisher:
            await publisher.publish()
            await publish_tags(publisher, first)
        await raw.until(lambda e: isinstance(e, ev.StreamUnpublished))
        await raw.until(lambda e: isinstance(e, ev.StreamEnded))
        assert not relay.streams["live", "again"].live
        # A player joining between the two publishers gets nothing of the first.
        between = ClientPlayer(url, demux=False)
        await nursery.start(between.run)
        media_before = sum(isinstance(e, ev.VideoData | ev.AudioData) for e in raw.events)
        async with trio_rtmp.open_client(url) as publisher:
            await publisher.publish()
            await raw.until(lambda e: isinstance(e, ev.StreamPublished))
            await publish_tags(publisher, second)
        await raw.until(lambda e: isinstance(e, ev.StreamUnpublished))
        with trio.fail_after(WAIT):
            await between.done.wait()
        await wait_for(
            lambda: sum(isinstance(f, VideoSample) for f in follower.items) >= 100,
            what="both streams at the follower",
        )
        assert not follower.done.is_set()  # follow: still waiting for a third publisher
        server.stop()

    configs = [f for f in follower.items if isinstance(f, CodecConfig) and f.media == "video"]
    first_header = next(t.data for t in first if t.tag_type == 9)
    second_header = next(t.data for t in second if t.tag_type == 9)
    assert [c.init_data for c in configs] == [first_header[5:], second_header[5:]]
    samples = [f for f in follower.items if isinstance(f, VideoSample)]
    assert len(samples) == 100
    # The raw player got the second stream from its sequence header on.
    second_media = [e for e in raw.events if isinstance(e, ev.VideoData | ev.AudioData)][
        media_before:
    ]
    assert second_media[0].payload == second_header
    assert next(t.data for t in between.tags() if t.tag_type == 9) == second_header
    assert len(between.tags()) == len([t for t in second if t.tag_type != 18]) + 1


async def test_gop_cache_bounds(sample_tags: list[FlvTag]) -> None:
    """A late joiner gets the GOP from the last keyframe, unless the GOP is over the
    cache's bound in frames or bytes: then it starts at the next keyframe."""
    media = [t for t in sample_tags if t.tag_type != 18]
    gop_bytes = sum(len(t.data) for t in media if 1000 <= t.timestamp < 1500)
    cases = {
        "default": (RelayConfig(), 1000),
        "frames": (RelayConfig(gop_cache_frames=10), 2000),
        "bytes": (RelayConfig(gop_cache_bytes=gop_bytes // 2), 2000),
    }
    for name, (config, first_key) in cases.items():
        async with trio.open_nursery() as nursery:
            relay, server = await start_relay(nursery, config)
            url = relay_url(server, "gop")
            async with trio_rtmp.open_client(url) as publisher:
                await publisher.publish()
                await publish_tags(publisher, [t for t in sample_tags if t.timestamp < 1500])
                await messages_reach(relay, "gop", sum(t.timestamp < 1500 for t in media))
                late = ClientPlayer(url)
                await nursery.start(late.run)
                await publish_tags(publisher, [t for t in sample_tags if t.timestamp >= 1500])
            with trio.fail_after(WAIT):
                await late.done.wait()
            server.stop()
        tags = late.tags()
        assert [t.tag_type for t in tags[:3]] == [18, 9, 8], name
        first_video = next(t for t in tags[3:] if t.tag_type == 9)
        assert first_video.timestamp == first_key and video_info(first_video.data)[0], name
        # From there on, every message of the source, in order.
        start = media.index(next(t for t in media if t.timestamp == first_key and t.tag_type == 9))
        expected = list(media[start:])
        received = tags[3:]
        if name == "default":
            assert received == expected, name
        else:
            # Audio before the keyframe may come first (live, not from the cache).
            assert [t for t in received if t.tag_type == 9] == [
                t for t in expected if t.tag_type == 9
            ], name


def test_a_multitrack_stream_keeps_every_tracks_configuration() -> None:
    """FFmpeg 8 sends each track but the first as OneTrack multitrack messages: the
    relay keeps the latest configuration of each track (and each track's colorInfo and
    MultichannelConfig) for late joiners, and starts a GOP only at a keyframe of the
    first video track, for a player starting at another track's keyframe could not
    decode the first track (the FFmpeg interop of this is in test_enhanced_interop)."""

    def video(frame: VideoFrameType, kind: VideoPacketType, track: int, data: bytes) -> bytes:
        if track == 0:
            tag: Any = ExVideoTag(frame_type=frame, packet_type=kind, fourcc="hvc1", data=data)
        else:
            one = VideoTrack(track_id=track, fourcc="avc1", data=data)
            tag = MultitrackVideoTag(
                frame_type=frame, packet_type=kind, multitrack_type=0, tracks=(one,)
            )
        return bytes(tag.to_bytes())

    def audio(kind: AudioPacketType, track: int, data: bytes) -> bytes:
        one = AudioTrack(track_id=track, fourcc="Opus", data=data)
        if track == 0:
            return bytes(ExAudioTag(packet_type=kind, fourcc="Opus", data=data).to_bytes())
        tag = MultitrackAudioTag(packet_type=kind, multitrack_type=0, tracks=(one,))
        return bytes(tag.to_bytes())

    key, inter, command = VideoFrameType.KEY, VideoFrameType.INTER, VideoFrameType.COMMAND
    start, coded = VideoPacketType.SEQUENCE_START, VideoPacketType.CODED_FRAMES
    color = amf0.encode("colorInfo", {"colorConfig": {"bitDepth": 10.0}})
    a_start, a_coded = AudioPacketType.SEQUENCE_START, AudioPacketType.CODED_FRAMES
    channels = AudioPacketType.MULTICHANNEL_CONFIG
    publisher = [
        FlvTag(9, 0, video(key, start, 0, b"hvcC-0")),
        FlvTag(9, 0, video(key, start, 1, b"avcC-1")),
        FlvTag(9, 0, video(command, VideoPacketType.METADATA, 0, color)),
        FlvTag(8, 0, audio(a_start, 0, b"OpusHead-0")),
        FlvTag(8, 0, audio(channels, 0, b"\x00\x01\x00\x00\x00\x04")),
        FlvTag(8, 0, audio(a_start, 1, b"OpusHead-1")),
        FlvTag(9, 10, video(key, coded, 0, b"key-0")),
        FlvTag(9, 10, video(key, coded, 1, b"key-1")),
        FlvTag(8, 12, audio(a_coded, 0, b"a0")),
        FlvTag(8, 12, audio(a_coded, 1, b"a1")),
        FlvTag(9, 50, video(inter, coded, 0, b"inter-0")),
        # A keyframe of track 1 alone does not start a GOP.
        FlvTag(9, 50, video(key, coded, 1, b"key-1-again")),
        # A new configuration of track 1 replaces only track 1's, and goes last.
        FlvTag(9, 60, video(key, start, 1, b"avcC-1-new")),
    ]
    stream = RelayStream(Relay(), "live", "multitrack")
    for tag in publisher:
        stream.publish(tag)
    # The frame rate counts the first track's frames (two of them), not track 1's.
    assert stream._meter._frames == 2
    headers = [publisher[i] for i in (0, 2, 3, 4, 5)] + [publisher[-1]]
    gop = publisher[6:12]
    assert stream.snapshot() == headers + gop
    assert stream.video_header is not None and stream.video_header.payload == publisher[-1].data
    # A new keyframe of track 0 starts the GOP over.
    stream.publish(FlvTag(9, 90, video(key, coded, 0, b"key-0-again")))
    assert stream.snapshot()[len(headers) :] == [
        FlvTag(9, 90, video(key, coded, 0, b"key-0-again"))
    ]
    # A publisher cycling through track ids cannot grow the cache without bound.
    for track in range(200):
        stream.publish(FlvTag(8, 100, audio(a_start, track % 256, bytes([track]))))
    assert len(stream.headers) == 64


# -- slow players ------------------------------------------------------------------------


@pytest.mark.slow
async def test_player_that_never_reads_beside_20_players(
    peers: Peers, sample_media: SampleCache, tmp_path: Path
) -> None:
    """One player stops reading; 20 others (3 FFmpeg, 17 of our clients) get every
    packet, the publisher keeps real time, the stuck player's queue stays at its bound
    (drops) and it is disconnected after the write-stall timeout; memory stays bounded."""
    sample = sample_media.get(seconds=4, size="640x360", video_bitrate="2M")
    queue_bound = 64 * 1024
    config = RelayConfig(player_queue_bytes=queue_bound)
    server_config = ServerConfig(write_stall_timeout=2.0)
    rss_before = rss_bytes()
    async with trio.open_nursery() as nursery:
        relay, server = await start_relay(nursery, config, server_config)
        url = relay_url(server, "crowd")
        ffmpegs = [
            peers.ffmpeg_play(url, tmp_path / f"ffmpeg-{i}.flv", name=f"play-{i}") for i in range(3)
        ]
        clients = [ClientPlayer(url) for _ in range(17)]
        for client in clients:
            await nursery.start(client.run)
        stuck = await RawClient.open(server.port, receive_buffer=4096)
        await stuck.connect(port=server.port)
        assert isinstance(await stuck.play("crowd"), ev.PlayStarted)
        await wait_for(lambda: players(relay, "crowd") == 21, what="21 players")
        address = stuck.stream.socket.getsockname()
        (stuck_session,) = [s for s in server.sessions if s.remote_address == address]

        publisher = peers.ffmpeg_publish(url, sample)
        started = trio.current_time()
        peak_queue = 0
        peak_rss = 0
        disconnected_at = None
        stats_mid = None
        while publisher.running and trio.current_time() - started < WAIT + 5:
            peak_queue = max(peak_queue, stuck_session.queued_bytes)
            peak_rss = max(peak_rss, rss_bytes())
            if disconnected_at is None and stuck_session.closed:
                disconnected_at = trio.current_time() - started
            if stats_mid is None and trio.current_time() - started > 2.5:
                stats_mid = relay.statistics()
            await trio.sleep(0.005)
        publish_time = trio.current_time() - started
        assert await publisher.wait_async() == 0, publisher.log()
        for ffmpeg in ffmpegs:
            assert await ffmpeg.wait_async() == 0, ffmpeg.log()
        with trio.fail_after(WAIT):
            for client in clients:
                await client.done.wait()
        server.stop()

    # The publisher was not slowed (4 s of media, -re; waiting for the stuck player
    # until its stall timeout would have taken 2 s more).
    assert publish_time < 5.8
    # The stuck player: dropped to its bound, then disconnected by the stall timeout.
    largest_message = 256 * 1024
    assert peak_queue <= queue_bound + largest_message
    assert stuck_session.statistics().dropped > 0
    # (Its queue is full almost at once: the first keyframe is bigger than the bound.)
    assert disconnected_at is not None and 2.0 <= disconnected_at < 4.0
    assert peak_rss - rss_before < 64 * 1024 * 1024
    assert stats_mid is not None
    (mid,) = stats_mid
    assert mid.live and mid.players in (20, 21) and 20 <= mid.fps <= 30
    assert mid.bitrate > 1_000_000
    # Everyone else got everything.
    for i in range(3):
        compare_media(sample, tmp_path / f"ffmpeg-{i}.flv").assert_ok(
            min_compared=90, max_source_left=0
        )
    source = probe_packets(sample)
    for i, client in enumerate(clients):
        assert client.error is None
        compare_media(source, client.flv(tmp_path / f"client-{i}.flv")).assert_ok(
            min_compared=90, max_source_left=0
        )


@pytest.mark.slow
async def test_slow_reader_drops_until_keyframes(sample_media: SampleCache, tmp_path: Path) -> None:
    """A player reading at a third of the stream's rate stays connected; it loses
    non-key video (and some audio) but never a sequence header or metadata, each run of
    video starts at a keyframe, and what it got decodes without an error."""
    sample = sample_media.get(seconds=4, size="640x360", video_bitrate="2M")
    tags = read_tags(sample)
    config = RelayConfig(player_queue_bytes=32 * 1024)
    async with trio.open_nursery() as nursery:
        relay, server = await start_relay(nursery, config, ServerConfig(write_stall_timeout=2.0))
        url = relay_url(server, "slow")
        raw = await RawClient.open(server.port, receive_buffer=16384)
        await raw.connect(port=server.port)
        assert isinstance(await raw.play("slow"), ev.PlayStarted)
        address = raw.stream.socket.getsockname()
        (session,) = [s for s in server.sessions if s.remote_address == address]

        ended = trio.Event()

        async def read_slowly() -> None:
            # The only reader of the connection (two would reorder its bytes).
            while not raw.closed:
                if any(isinstance(e, ev.StreamUnpublished) for e in await raw.receive(size=4096)):
                    ended.set()
                    return
                await trio.sleep(0.05)  # ~80 KB/s at most

        nursery.start_soon(read_slowly)
        async with trio_rtmp.open_client(url) as publisher:
            await publisher.publish()
            await publish_tags(publisher, tags, speed=1.0)
        with trio.fail_after(30):
            await ended.wait()
        dropped = session.statistics().dropped
        (stats,) = relay.statistics()
        assert stats.dropped == dropped
        await raw.aclose()
        server.stop()
    got = [
        FlvTag(9 if isinstance(e, ev.VideoData) else 8, e.timestamp, e.payload)
        for e in raw.events
        if isinstance(e, ev.VideoData | ev.AudioData)
    ]
    metadata = [e for e in raw.events if isinstance(e, ev.StreamMetadata)]
    media = [t for t in tags if t.tag_type != 18]
    assert dropped > 20 and len(got) == len(media) - dropped
    assert len(metadata) == 1
    headers = [t for t in media if t.tag_type in (8, 9) and t.timestamp == 0][:2]
    assert got[:2] == headers or sorted(got[:2]) == sorted(headers)
    # Each run of video after a gap starts with a keyframe.
    source_video = [t for t in media if t.tag_type == 9]
    index = {(t.timestamp, t.data): i for i, t in enumerate(source_video)}
    previous = None
    for tag in (t for t in got if t.tag_type == 9):
        i = index[tag.timestamp, tag.data]  # (a KeyError: something not in the source)
        if previous is not None and i != previous + 1:
            assert video_info(tag.data)[0], f"video resumed at a non-keyframe ({tag.timestamp})"
        previous = i
    out = write_flv(tmp_path / "slow.flv", got)
    assert decode_errors(out) == ""


@pytest.mark.slow
async def test_500_idle_connections_beside_a_stream(
    peers: Peers, sample_flv: Path, tmp_path: Path
) -> None:
    """500 connections that do nothing (silent, half a handshake, connected) while FFmpeg
    publishes and plays: the stream arrives complete, and closing them releases every
    session and file descriptor."""
    fds_before = open_fds()
    async with trio.open_nursery() as nursery:
        relay, server = await start_relay(nursery)
        tasks_before = trio.lowlevel.current_statistics().tasks_living
        idle: list[RawClient] = []
        for i in range(500):
            client = await RawClient.open(server.port)
            idle.append(client)
            if i % 3 == 1:
                await client.send_raw(client.conn.data_to_send()[:1000])
            elif i % 3 == 2:
                client.conn.connect(app="live", tc_url="rtmp://127.0.0.1/live")
                await client.flush()
        await wait_for(lambda: server.statistics().connections == 500, what="500 sessions")
        url = relay_url(server, "main")
        player = peers.ffmpeg_play(url, tmp_path / "main.flv")
        await wait_for(lambda: players(relay, "main") == 1, what="the player")
        publisher = peers.ffmpeg_publish(url, sample_flv)
        assert await publisher.wait_async(timeout=WAIT + 5) == 0, publisher.log()
        assert await player.wait_async() == 0, player.log()
        # The idle ones are all still there (within the 10 s handshake deadline).
        assert server.statistics().connections == 500
        for client in idle:
            await client.aclose()
        await wait_for(lambda: server.statistics().connections == 0, what="sessions to end")
        # Every session's tasks are gone too (the reader and its writer).
        await wait_for(
            lambda: trio.lowlevel.current_statistics().tasks_living <= tasks_before,
            what="the sessions' tasks to end",
        )
        server.stop()
    compare_media(sample_flv, tmp_path / "main.flv").assert_ok(min_compared=90, max_source_left=0)
    assert open_fds() <= fds_before + 5


# -- auth, apps, statistics ---------------------------------------------------------------


async def test_auth_hook_and_apps(sample_tags: list[FlvTag]) -> None:
    seen: list[AuthRequest] = []

    async def auth(request: AuthRequest) -> bool:
        seen.append(request)
        await trio.sleep(0)
        if request.action == "publish":
            return request.query.get("token") == "secret"
        return request.stream_key != "private"

    config = RelayConfig(auth=auth, apps=frozenset({"live"}))
    async with trio.open_nursery() as nursery:
        _relay, server = await start_relay(nursery, config)
        async with trio_rtmp.open_client(relay_url(server, "cam?token=wrong")) as client:
            with pytest.raises(trio_rtmp.PublishRejected) as refused:
                await client.publish()
            assert refused.value.code == "NetStream.Publish.BadName"
        async with trio_rtmp.open_client(relay_url(server, "cam?token=secret")) as client:
            await client.publish()
            await publish_tags(client, sample_tags[:5])
            async with trio_rtmp.open_client(relay_url(server, "cam")) as player:
                await player.play()
            async with trio_rtmp.open_client(relay_url(server, "private")) as player:
                with pytest.raises(trio_rtmp.PlayRejected) as play_refused:
                    await player.play()
                assert play_refused.value.code == "NetStream.Play.Failed"
        with pytest.raises(trio_rtmp.ConnectionRejected) as app_refused:
            async with trio_rtmp.open_client(relay_url(server, "cam", app="other")):
                pass
        assert app_refused.value.code == "NetConnection.Connect.InvalidApp"
        server.stop()
    assert [(r.action, r.app, r.stream_key, r.query) for r in seen] == [
        ("publish", "live", "cam", {"token": "wrong"}),
        ("publish", "live", "cam", {"token": "secret"}),
        ("play", "live", "cam", {}),
        ("play", "live", "private", {}),
    ]
    assert all(r.remote_address[0] == "127.0.0.1" for r in seen)


async def test_synchronous_auth_hook() -> None:
    config = RelayConfig(auth=lambda request: request.stream_key.startswith("ok"))
    async with trio.open_nursery() as nursery:
        _relay, server = await start_relay(nursery, config)
        async with trio_rtmp.open_client(relay_url(server, "ok1")) as client:
            await client.publish()
        async with trio_rtmp.open_client(relay_url(server, "no")) as client:
            with pytest.raises(trio_rtmp.PublishRejected):
                await client.publish()
        server.stop()


async def test_statistics(sample_tags: list[FlvTag]) -> None:
    async with trio.open_nursery() as nursery:
        relay, server = await start_relay(nursery)
        url = relay_url(server, "stats")
        player = ClientPlayer(url)
        await nursery.start(player.run)
        async with trio_rtmp.open_client(url) as client:
            await client.publish()
            await publish_tags(client, sample_tags, speed=4.0)
            await wait_for(lambda: len(player.tags()) == len(sample_tags))
            (stats,) = relay.statistics()
            assert (stats.app, stats.stream_key, stats.live, stats.players) == (
                "live",
                "stats",
                True,
                1,
            )
            media = [t for t in sample_tags if t.tag_type != 18]
            assert stats.messages == len(media)
            assert stats.bytes == sum(len(t.data) for t in media)
            assert 70 <= stats.fps <= 130  # 25 fps at four times real time
            assert stats.bitrate > 0 and stats.uptime > 0.5 and stats.dropped == 0
            publisher_session = relay.streams["live", "stats"].publisher[0]  # type: ignore[index]
            publisher_stats = publisher_session.statistics()
            assert publisher_stats.messages_received == len(media)
            assert publisher_stats.bytes_received > stats.bytes
            (player_session,) = [s for s in server.sessions if s is not publisher_session]
            player_stats = player_session.statistics()
            assert player_stats.messages_sent == len(media)
            assert player_stats.bytes_sent > stats.bytes and player_stats.dropped == 0
        await wait_for(lambda: not relay.streams)
        server.stop()


async def test_clear_data_frame_forgets_the_metadata(sample_media: SampleCache) -> None:
    """``@clearDataFrame`` from the publisher: a player that joins after it gets no
    metadata (the media still starts with both sequence headers and a keyframe), and
    metadata sent later reaches it live."""
    media = [t for t in read_tags(sample_media.get(seconds=1)) if t.tag_type != 18]
    async with trio.open_nursery() as nursery:
        relay, server = await start_relay(nursery)
        async with trio_rtmp.open_client(relay_url(server, "clear")) as publisher:
            await publisher.publish()
            await publisher.send_metadata({"width": 320.0})
            await publisher.send_raw(18, 0, amf0.encode("@clearDataFrame"))
            await publish_tags(publisher, media)
            await wait_for(
                lambda: (
                    (s := relay.streams.get(("live", "clear"))) is not None
                    and s.metadata is None
                    and s.video_header is not None
                ),
                what="the relay to take the stream",
            )
            player = await RawClient.open(server.port)
            await player.connect(port=server.port)
            assert isinstance(await player.play("clear"), ev.PlayStarted)
            await player.until(lambda e: isinstance(e, ev.VideoData) and video_info(e.payload)[0])
            assert not [e for e in player.events if isinstance(e, ev.StreamMetadata)]
            await publisher.send_metadata({"width": 640.0})
            again = await player.until(lambda e: isinstance(e, ev.StreamMetadata))
            assert isinstance(again, ev.StreamMetadata)
            assert again.metadata["width"] == 640.0
            await player.aclose()
        server.stop()


async def test_data_messages_reach_the_players(sample_media: SampleCache, tmp_path: Path) -> None:
    """A publisher's onCuePoint / onTextData reach the players as it sent them, in order
    with the media, and the recording; "@" and "|" data messages (server and player
    instructions) do not."""
    media = [t for t in read_tags(sample_media.get(seconds=1)) if t.tag_type != 18]
    cue = ("onCuePoint", {"name": "ad-break", "time": 0.5, "type": "event"})
    text = ("onTextData", {"text": "hello", "trackid": 1.0})
    async with trio.open_nursery() as nursery:
        relay, server = await start_relay(nursery, RelayConfig(record_dir=str(tmp_path)))
        player = await RawClient.open(server.port)
        await player.connect(port=server.port)
        assert isinstance(await player.play("cues"), ev.PlayStarted)
        await wait_for(lambda: players(relay, "cues") == 1, what="the player")
        async with trio_rtmp.open_client(relay_url(server, "cues")) as publisher:
            await publisher.publish()
            await publish_tags(publisher, media[:10])
            for values in (("@doSomething", 1.0), ("|RtmpSampleAccess", True, True), cue):
                await publisher.send_raw(18, 500, amf0.encode(*values))
            await publish_tags(publisher, media[10:20])
            await publisher.send_raw(18, 600, amf0.encode(*text))
            await publish_tags(publisher, media[20:])
        await player.until(lambda e: isinstance(e, ev.StreamUnpublished))
        data = [e for e in player.events if isinstance(e, ev.DataReceived)]
        # The server's own |RtmpSampleAccess (at play start) is the only one.
        access = [e for e in data if e.values[0] == "|RtmpSampleAccess"]
        assert [(e.timestamp, e.values) for e in access] == [(0, ("|RtmpSampleAccess", True, True))]
        relayed = [e for e in data if e not in access]
        assert [(e.timestamp, e.values) for e in relayed] == [(500, cue), (600, text)]
        # In the order it was published, between the same media messages.
        order = [
            e.values[0] if isinstance(e, ev.DataReceived) else e.payload
            for e in player.events
            if isinstance(e, ev.VideoData | ev.AudioData) or e in relayed
        ]
        expected = [
            *(t.data for t in media[:10]),
            "onCuePoint",
            *(t.data for t in media[10:20]),
            "onTextData",
            *(t.data for t in media[20:]),
        ]
        assert order == expected

        metadata = amf0.encode("onMetaData")

        def recorded() -> list[FlvTag] | None:
            files = list(tmp_path.glob("live/cues-*.flv"))
            try:
                tags = read_tags(files[0]) if files else []
            except ProtocolError:  # still being written
                return None
            # Without the recorder's own onMetaData (duration, size...).
            tags = [t for t in tags if t.tag_type != 18 or not t.data.startswith(metadata)]
            return tags if len(tags) == len(media) + 2 else None

        await wait_for(lambda: recorded() is not None, what="the recording")
        tags = recorded()
        assert tags is not None
        scripts = [(t.timestamp, tuple(amf0.decode(t.data))) for t in tags if t.tag_type == 18]
        assert scripts == [(500, cue), (600, text)]
        assert [amf0.decode(t.data)[0] if t.tag_type == 18 else t.data for t in tags] == expected
        await player.aclose()
        server.stop()


async def test_a_recording_is_made_at_the_first_media_message(
    sample_media: SampleCache,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A publisher that leaves before any audio or video (a failed start, a probe) leaves
    no recording behind (there was an empty FLV file of it, which FFmpeg cannot read); a
    cue point that came before the media is still the recording's first data message.
    Two sessions in the same second get two files (the second overwrote the first)."""
    media = [t for t in read_tags(sample_media.get(seconds=1)) if t.tag_type != 18]
    cue = ("onCuePoint", {"name": "start", "time": 0.0, "type": "event"})
    caplog.set_level(logging.INFO, logger="trio_rtmp.relay")
    monkeypatch.setattr(trio_rtmp.relay, "_session_stamp", lambda: "20260101-000000")
    async with trio.open_nursery() as nursery:
        relay, server = await start_relay(nursery, RelayConfig(record_dir=str(tmp_path)))
        url = relay_url(server, "rec")
        async with trio_rtmp.open_client(url) as publisher:
            await publisher.publish()
            await publisher.send_metadata({"width": 320.0})
            await publisher.send_raw(18, 0, amf0.encode(*cue))
        await wait_for(lambda: not relay.streams, what="the stream to end")
        await wait_for(
            lambda: "nothing to record of live/rec: no audio or video came" in caplog.text,
            what="the recorder",
        )
        assert list(tmp_path.rglob("*")) == []

        for session in range(2):
            async with trio_rtmp.open_client(url) as publisher:
                await publisher.publish()
                await publisher.send_metadata({"width": 320.0 + session})
                await publisher.send_raw(18, 0, amf0.encode(*cue))
                await publish_tags(publisher, media)
            await wait_for(
                lambda n=session + 1: caplog.text.count("recorded ") == n, what="the recording"
            )
        server.stop()
    first = tmp_path / "live" / "rec-20260101-000000.flv"
    second = tmp_path / "live" / "rec-20260101-000000-1.flv"
    assert sorted(tmp_path.glob("live/*")) == sorted([first, second])
    for session, recording in enumerate((first, second)):
        tags = read_tags(recording)
        values = [tuple(amf0.decode(t.data)) for t in tags if t.tag_type == 18]
        assert values[0][0] == "onMetaData" and values[0][1]["width"] == 320.0 + session
        assert values[1:] == [cue]
        assert [t.data for t in tags if t.tag_type != 18] == [t.data for t in media]
        assert [t.tag_type for t in tags[:2]] == [18, 18]


class _FullDisk:
    """A recording file on a disk that fills up after ``room`` writes."""

    def __init__(self, room: int) -> None:
        self.room = room

    async def __aenter__(self) -> _FullDisk:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        pass

    async def write(self, data: bytes) -> None:
        self.room -= 1
        if self.room < 0:
            raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("failure", ["no directory", "disk full"])
async def test_a_failing_recording_does_not_disturb_the_stream(
    failure: str,
    sample_media: SampleCache,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The recorder fails (the folder cannot be made; the disk fills up mid-stream):
    that is logged once, and the publisher and a player go on as if nothing happened."""
    media = [t for t in read_tags(sample_media.get(seconds=1)) if t.tag_type != 18]
    if failure == "no directory":
        record_dir = tmp_path / "a-file"
        record_dir.write_bytes(b"")
    else:
        record_dir = tmp_path

        async def new_file(directory: Path, stem: str) -> tuple[Path, _FullDisk]:
            return directory / f"{stem}.flv", _FullDisk(room=10)

        monkeypatch.setattr(trio_rtmp.relay, "_new_file", new_file)
    async with trio.open_nursery() as nursery:
        relay, server = await start_relay(nursery, RelayConfig(record_dir=str(record_dir)))
        url = relay_url(server, "rec")
        player = ClientPlayer(url)
        async with trio_rtmp.open_client(url) as publisher:
            await publisher.publish()
            await nursery.start(player.run)
            await publish_tags(publisher, media)
        with trio.fail_after(WAIT):
            await player.done.wait()
        await wait_for(lambda: not relay.streams, what="the stream to end")
        await wait_for(lambda: "failed" in caplog.text, what="the recorder's failure")
        server.stop()
    assert player.error is None
    assert [t.data for t in player.tags() if t.tag_type != 18] == [t.data for t in media]
    failures = [r for r in caplog.records if "recording" in r.getMessage()]
    assert [r.levelno for r in failures] == [logging.ERROR], failures
    assert "rec-" in failures[0].getMessage()
    reason = "Not a directory" if failure == "no directory" else "No space left on device"
    assert reason in failures[0].getMessage()


def test_a_data_message_amf0_cannot_hold_is_not_relayed(caplog: pytest.LogCaptureFixture) -> None:
    # publish_data re-encodes in AMF0 what it is given; values AMF0 cannot hold (an
    # object with non-string keys, say) are left out, not an error for the publisher.
    stream = RelayStream(Relay(), "live", "k")
    send, receive = trio.open_memory_channel[FlvTag](4)
    stream._forwards = [send]
    with caplog.at_level(logging.DEBUG, logger="trio_rtmp.relay"):
        stream.publish_data(0, ("onTextData", {1: "one"}))
    assert (stream.messages, stream.bytes) == (0, 0)
    with pytest.raises(trio.WouldBlock):
        receive.receive_nowait()
    assert "live/k: data message not relayed" in caplog.text
    stream.publish_data(40, ("onTextData", {"text": "one"}))
    assert stream.messages == 1
    assert receive.receive_nowait() == FlvTag(18, 40, amf0.encode("onTextData", {"text": "one"}))


def test_a_forward_that_falls_behind_is_reported_once_until_it_catches_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A recorder or pusher behind its channel loses messages; the log says so when it
    # falls behind and when it catches up, not once per message (dozens a second).
    stream = RelayStream(Relay(), "live", "k")
    send, receive = trio.open_memory_channel[FlvTag](2)
    stream._forwards = [send]
    tag = FlvTag(9, 0, b"\x17\x01\x00\x00\x00")
    with caplog.at_level(logging.WARNING, logger="trio_rtmp.relay"):
        for _ in range(10):
            stream._forward(tag)
        receive.receive_nowait()
        stream._forward(tag)
        stream._forward(tag)
    behind = (
        "relay live/k: a recorder or pusher is behind; dropping its messages until it catches up"
    )
    assert [record.getMessage() for record in caplog.records] == [
        behind,
        "relay live/k: a recorder or pusher caught up; it missed 8 messages",
        behind,
    ]
