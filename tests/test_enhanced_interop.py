"""Enhanced RTMP against a real peer that speaks it: FFmpeg 8.0 or later.

FFmpeg 8 sends HEVC, VVC, AV1, VP9, Opus, FLAC, AC-3 and E-AC-3 with Enhanced RTMP
headers, and the audio and video tracks after the first as multitrack messages (one
per track and frame).  Debian's FFmpeg 5.1 does none of that; CI gets FFmpeg 9 from
the ``imageio-ffmpeg`` package (see :func:`peers.enhanced_ffmpeg`).

The source files are made by that FFmpeg from lavfi sources, and what FFmpeg itself
reads from a source (``-f framemd5``: each packet's stream, times, size and MD5) is the
reference every output is compared with:

- FFmpeg's files, demuxed, give FFmpeg's packets; muxed again by us, FFmpeg reads
  the same packets from them.
- FFmpeg publishes through our relay; FFmpeg, our client (frames, demuxed),
  ``trio-rtmp play -o`` and rtmpdump play from the start and get every packet; both also join 1.5 s late and must get every
  track's configuration first and then every packet from a keyframe of the first video
  track on (FFmpeg decoding them without an error).
- ``trio-rtmp publish`` sends the files to FFmpeg's own RTMP server (``-listen 1``),
  which must read exactly the source's packets.
- FFmpeg publishes to a server handler: its frames are FFmpeg's packets, and its
  ``fourCcList`` (``-rtmp_enhanced_codecs``) reaches the handler.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import trio
from peers import WAIT, PeerProcess, Peers, enhanced_ffmpeg, free_port, wait_for_listen_async
from server_support import wait_for
from test_relay import ClientPlayer, players, relay_url, start_relay

import trio_rtmp
from trio_rtmp.core import events as ev
from trio_rtmp.media import (
    AudioSample,
    CodecConfig,
    Demuxer,
    FlvWriter,
    Muxer,
    VideoSample,
    join_length_prefixed,
    read_flv,
)

pytestmark = [pytest.mark.interop]

SECONDS = 4
VIDEO = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"]
SMALL_VIDEO = ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=25"]
AUDIO = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
OTHER_AUDIO = ["-f", "lavfi", "-i", "sine=frequency=660:sample_rate=44100"]
X265 = ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error:keyint=25"]
X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-bf", "2"]
VPX_VP9 = ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-g", "25"]
MAP_3 = ["-map", "0", "-map", "1", "-map", "2"]
OPUS_AND_FLAC = ["-c:a:0", "libopus", "-c:a:1", "flac"]
AAC_AND_MP3 = ["-c:a:0", "aac", "-c:a:1", "libmp3lame"]
VVENC = ["-c:v", "libvvenc", "-preset", "faster", "-g", "25"]

#: name -> the FFmpeg arguments that make the source (inputs, maps, codecs).
CASES = {
    "hevc-opus": [*VIDEO, *AUDIO, *X265, "-c:a", "libopus"],
    "av1-flac": [*VIDEO, *AUDIO, "-c:v", "libsvtav1", "-preset", "12", "-g", "25", "-c:a", "flac"],
    "vp9-ac3": [*VIDEO, *AUDIO, *VPX_VP9, "-c:a", "ac3"],
    "h264-eac3": [*VIDEO, *AUDIO, *X264, "-c:a", "eac3"],
    "vvc-mp3": [*VIDEO, *AUDIO, *VVENC, "-c:a", "libmp3lame"],
    # AAC on track 0 (legacy tags), MP3 on track 1 (by FourCC, multitrack).
    "multitrack-aac-mp3": [*VIDEO, *AUDIO, *OTHER_AUDIO, *MAP_3, *X264, *AAC_AND_MP3],
    # Audio track 1 (FLAC) beside track 0 (Opus): multitrack messages.
    "multitrack-audio": [*VIDEO, *AUDIO, *OTHER_AUDIO, *MAP_3, *X265, *OPUS_AND_FLAC],
    # Video track 1 (a second picture size) beside track 0, each keyframe its own message.
    "multitrack-video": [*VIDEO, *SMALL_VIDEO, *AUDIO, *MAP_3, *X264, "-c:a", "aac"],
}


class Packet(NamedTuple):
    """One packet as FFmpeg's framemd5 lists it (times in ms)."""

    stream: int
    dts: int
    pts: int
    size: int
    md5: str


class Packets(NamedTuple):
    """What FFmpeg reads from a file or stream: each stream's media and its packets."""

    media: dict[int, str]
    packets: list[Packet]

    def of(self, stream: int) -> list[Packet]:
        return [p for p in self.packets if p.stream == stream]

    @property
    def tracks(self) -> dict[int, tuple[str, int]]:
        """FFmpeg's stream index -> (media, track): tracks numbered in stream order."""
        counts: dict[str, int] = {}
        tracks = {}
        for index in sorted(self.media):
            media = self.media[index]
            tracks[index] = (media, counts.get(media, 0))
            counts[media] = counts.get(media, 0) + 1
        return tracks


def parse_framemd5(text: str) -> Packets:
    media: dict[int, str] = {}
    packets = []
    for line in text.splitlines():
        if line.startswith("#media_type"):
            label, value = line.split(":")
            media[int(label.split()[1])] = value.strip()
        elif line.strip() and not line.startswith("#"):
            stream, dts, pts, _, size, md5 = (field.strip() for field in line.split(","))
            packets.append(Packet(int(stream), int(dts), int(pts), int(size), md5))
    return Packets(media, packets)


def ffmpeg_command(ffmpeg: str, *arguments: str | Path) -> list[str]:
    return [ffmpeg, "-hide_banner", "-nostdin", "-v", "error", *map(str, arguments)]


def framemd5_command(ffmpeg: str, source: str, output: str = "-") -> list[str]:
    """FFmpeg copying every stream of ``source`` into framemd5, times as they are."""
    copy = ("-map", "0", "-c", "copy", "-f", "framemd5", "-y", output)
    return ffmpeg_command(ffmpeg, "-copyts", "-i", source, *copy)


def read_packets(ffmpeg: str, source: Path) -> Packets:
    result = subprocess.run(
        framemd5_command(ffmpeg, str(source)),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return parse_framemd5(result.stdout)


def picture_sizes(ffmpeg: str, source: Path) -> list[tuple[int, int]]:
    """Each video stream's size, from what FFmpeg prints of ``source``."""
    result = subprocess.run(
        [ffmpeg, "-hide_banner", "-nostdin", "-i", str(source)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    sizes = re.findall(r"Stream #0:\d+.*?: Video: .*?, (\d+)x(\d+)", result.stderr)
    return [(int(width), int(height)) for width, height in sizes]


def frames_as_packets(frames: list[Any], tracks: dict[int, tuple[str, int]]) -> Packets:
    """Our demuxed frames as FFmpeg lists packets (NAL units length-prefixed again)."""
    index = {track: stream for stream, track in tracks.items()}
    media = {stream: track[0] for stream, track in tracks.items()}
    packets = []
    for frame in frames:
        if isinstance(frame, VideoSample):
            data = frame.payload
            if isinstance(data, list):
                data = join_length_prefixed(data, 4)
            stream, dts, pts = index["video", frame.track], frame.dts, frame.pts
        elif isinstance(frame, AudioSample):
            data = frame.payload
            stream, dts = index["audio", frame.track], frame.timestamp
            pts = dts
        else:
            continue
        packets.append(Packet(stream, dts, pts, len(data), hashlib.md5(data).hexdigest()))
    return Packets(media, packets)


@pytest.fixture
def ffmpeg8(peers: Peers) -> str:
    """An FFmpeg 8.0 or later (skips, or fails under TRIO_RTMP_REQUIRE_PEERS=1)."""
    return enhanced_ffmpeg()


class Sources:
    """The source files, made on first use, with what FFmpeg reads from each."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._made: dict[str, tuple[Path, Packets]] = {}

    def get(self, ffmpeg: str, name: str) -> tuple[Path, Packets]:
        if name not in self._made:
            path = self.directory / f"{name}.flv"
            subprocess.run(
                ffmpeg_command(ffmpeg, *CASES[name], "-t", str(SECONDS), "-f", "flv", "-y", path),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=120,
                check=True,
            )
            self._made[name] = (path, read_packets(ffmpeg, path))
        return self._made[name]


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Sources:
    return Sources(tmp_path_factory.mktemp("enhanced-sources"))


def assert_same_packets(got: Packets, expected: Packets, what: str) -> None:
    assert got.media == expected.media, what
    for stream in expected.media:
        mine, theirs = got.of(stream), expected.of(stream)
        assert len(mine) == len(theirs) > 10, f"{what}: stream {stream}"
        assert mine == theirs, f"{what}: stream {stream}"


def assert_a_late_joiners_packets(got: Packets, expected: Packets, what: str) -> None:
    """Every stream is there, and from where it joined on every packet of the source."""
    assert got.media == expected.media, what
    for stream in expected.media:
        mine, theirs = got.of(stream), expected.of(stream)
        # Joined in the second second, at a keyframe: the GOP cache gave it some.
        assert 10 < len(mine) < len(theirs), f"{what}: stream {stream}"
        assert mine == theirs[-len(mine) :], f"{what}: stream {stream}"


def assert_configured_first(frames: list[Any], tracks: dict[int, tuple[str, int]]) -> None:
    """Each track's configuration came before its samples, and video from a keyframe."""
    for media, track in tracks.values():
        sample_type = VideoSample if media == "video" else AudioSample
        own = [
            f
            for f in frames
            if ((isinstance(f, CodecConfig) and f.media == media) or isinstance(f, sample_type))
            and f.track == track
        ]
        assert len(own) > 1 and isinstance(own[0], CodecConfig), (media, track, own[:2])
        if media == "video":
            assert own[1].keyframe, (media, track)


@pytest.mark.parametrize("name", list(CASES))
def test_ffmpeg_made_files_demux_and_mux_as_ffmpeg_reads_them(
    ffmpeg8: str, sources: Sources, tmp_path: Path, name: str
) -> None:
    """FFmpeg's FLV files, demuxed: the frames are FFmpeg's packets; muxed again
    (Enhanced RTMP tags) into a file of ours: FFmpeg reads the same packets from it."""
    source, expected = sources.get(ffmpeg8, name)
    demuxer = Demuxer()
    frames = [
        frame
        for tag in read_flv(source.read_bytes()).tags
        for frame in demuxer.tag(tag.tag_type, tag.timestamp, tag.data)
    ]
    assert demuxer.dropped == 0
    assert_same_packets(frames_as_packets(frames, expected.tracks), expected, "our demuxer")
    # What the configuration records say of the pictures, as FFmpeg says it (a VP9
    # record does not have the size: it is in the frames).
    configs = [f for f in frames if isinstance(f, CodecConfig) and f.media == "video"]
    sizes = picture_sizes(ffmpeg8, source)
    assert len(configs) == len(sizes)
    for config, size in zip(configs, sizes, strict=True):
        assert config.info is not None
        if config.codec != "vp9":
            assert (config.info.width, config.info.height) == size, config
    muxer, writer = Muxer(enhanced=True), FlvWriter(seekable=True)
    data = bytearray(writer.write_tags(item for f in frames for item in muxer.mux(f)))
    end, patches = writer.finish()
    data += end
    for offset, patch in patches:
        data[offset : offset + len(patch)] = patch
    ours = tmp_path / "ours.flv"
    ours.write_bytes(data)
    assert_same_packets(read_packets(ffmpeg8, ours), expected, "our muxer")


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
async def test_ffmpeg_publishes_enhanced_rtmp_through_the_relay(
    peers: Peers,
    ffmpeg8: str,
    sources: Sources,
    tmp_path: Path,
    name: str,
) -> None:
    source, expected = sources.get(ffmpeg8, name)
    tracks = expected.tracks
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            relay, server = await start_relay(nursery)
            url = relay_url(server, name)

            def ffmpeg_player(label: str) -> PeerProcess:
                return peers.start(framemd5_command(ffmpeg8, url, str(tmp_path / label)), label)

            early_ffmpeg = ffmpeg_player("early.md5")
            early = ClientPlayer(url, demux=True)
            await nursery.start(early.run)
            cli_player = peers.start(
                [sys.executable, "-m", "trio_rtmp", "play", url, "-o", tmp_path / "cli.flv"],
                "trio-rtmp-play",
            )
            dump = peers.rtmpdump_play(url, tmp_path / "rtmpdump.flv", idle_timeout=3)
            await wait_for(lambda: players(relay, name) == 4, what="four players")
            publisher = peers.start(
                ffmpeg_command(
                    ffmpeg8, "-re", "-i", source, "-map", "0", "-c", "copy", "-f", "flv", url
                ),
                "ffmpeg-publish",
            )
            stream = relay.streams["live", name]
            await wait_for(lambda: stream.messages > 0, what="the publisher")
            await trio.sleep(1.5)
            late_ffmpeg = ffmpeg_player("late.md5")
            decoder = peers.start(
                ffmpeg_command(ffmpeg8, "-i", url, "-map", "0", "-f", "null", "-"),
                "ffmpeg-decode",
            )
            late = ClientPlayer(url, demux=True)
            await nursery.start(late.run)

            assert await publisher.wait_async(timeout=SECONDS + WAIT) == 0, publisher.log()
            for player in (early_ffmpeg, cli_player, late_ffmpeg, decoder):
                assert await player.wait_async() == 0, player.log()
            with trio.fail_after(WAIT):
                await early.done.wait()
                await late.done.wait()
            await dump.run_for_async(0.5)
            assert early.error is None and late.error is None
            server.stop()

    assert_same_packets(
        parse_framemd5((tmp_path / "early.md5").read_text()), expected, "FFmpeg from the start"
    )
    assert_same_packets(frames_as_packets(early.items, tracks), expected, "ours from the start")
    assert_same_packets(read_packets(ffmpeg8, tmp_path / "cli.flv"), expected, "trio-rtmp play")
    assert_same_packets(read_packets(ffmpeg8, tmp_path / "rtmpdump.flv"), expected, "rtmpdump")
    assert_a_late_joiners_packets(
        parse_framemd5((tmp_path / "late.md5").read_text()), expected, "FFmpeg joining late"
    )
    assert decoder.stderr().strip() == "", decoder.log()
    assert_a_late_joiners_packets(
        frames_as_packets(late.items, tracks), expected, "ours joining late"
    )
    assert_configured_first(late.items, tracks)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["multitrack-audio", "multitrack-video", "av1-flac"])
async def test_trio_rtmp_publish_to_ffmpeg_listen(
    peers: Peers,
    ffmpeg8: str,
    sources: Sources,
    tmp_path: Path,
    name: str,
) -> None:
    source, expected = sources.get(ffmpeg8, name)
    port = free_port()
    url = f"rtmp://127.0.0.1:{port}/live/{name}"
    output = tmp_path / "listen.md5"
    command = framemd5_command(ffmpeg8, url, str(output))
    # FFmpeg as the server: -listen 1 before its input.
    server = peers.start([*command[:6], "-listen", "1", *command[6:]], "ffmpeg-listen")
    await wait_for_listen_async(port)
    publisher = peers.start(
        [sys.executable, "-m", "trio_rtmp", "publish", str(source), url, "--no-realtime"],
        "trio-rtmp-publish",
    )
    assert await publisher.wait_async(timeout=WAIT + SECONDS) == 0, publisher.log()
    await server.wait_async()
    # (FFmpeg's -listen says "Error during demuxing" when the publisher hangs up, and
    # exits with a status to match: its output is what counts.)
    assert_same_packets(parse_framemd5(output.read_text()), expected, "FFmpeg's server")


@pytest.mark.parametrize("name", ["multitrack-audio", "multitrack-video"])
async def test_ffmpeg_publishes_to_a_server_handler(
    peers: Peers, ffmpeg8: str, sources: Sources, name: str
) -> None:
    """A server handler with ``demux=True`` gets FFmpeg's packets as frames, every
    track's, and FFmpeg's ``fourCcList`` (``-rtmp_enhanced_codecs``) in the connect."""
    source, expected = sources.get(ffmpeg8, name)
    requests: list[ev.ConnectRequest] = []
    frames: list[Any] = []
    gone = trio.Event()

    class Handler(trio_rtmp.ServerHandler):
        async def on_connect(self, request: ev.ConnectRequest) -> None:
            requests.append(request)

        async def on_video(self, stream_id: int, data: Any) -> None:
            frames.append(data)

        async def on_audio(self, stream_id: int, data: Any) -> None:
            frames.append(data)

        async def on_disconnect(self) -> None:
            gone.set()

    announce = ("-rtmp_enhanced_codecs", "hvc1,av01,Opus,fLaC", "-f", "flv")
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(trio_rtmp.serve_rtmp, Handler, 0)
            url = f"rtmp://127.0.0.1:{server.port}/live/{name}"
            publisher = peers.start(
                ffmpeg_command(ffmpeg8, "-i", source, "-map", "0", "-c", "copy", *announce, url),
                "ffmpeg-publish",
            )
            assert await publisher.wait_async() == 0, publisher.log()
            await gone.wait()
            server.stop()
    (request,) = requests
    assert request.fourcc_list == ("hvc1", "av01", "Opus", "fLaC")
    assert request.command_object["fourCcList"] == ["hvc1", "av01", "Opus", "fLaC"]
    assert_same_packets(frames_as_packets(frames, expected.tracks), expected, "the handler")
    assert_configured_first(frames, expected.tracks)
