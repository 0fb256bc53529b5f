"""Enhanced RTMP codecs with real streams: HEVC, AV1, VP9, VP8, Opus, FLAC.

FFmpeg 5.1 cannot put these codecs in FLV, so the test takes the elementary streams
FFmpeg does produce (HEVC, AV1 and VP9 in MP4, VP8 in IVF, Opus in Ogg, FLAC in .flac),
reads the configuration records and the packets with ffprobe (``-show_data``) or a
small container parser, builds Enhanced RTMP tags from them with the tag classes, and
checks that the demuxer gives back exactly those packets, with the right times, key
flags and configuration (the picture size and sample rate ffprobe reports).
Multitrack messages and an FLV file round trip use the same real data.
"""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path
from typing import Any

import attrs
import pytest
from media_helpers import ffprobe, hexdump_bytes, require_tools, run_ffmpeg

from trio_rtmp.media import (
    AudioSample,
    CodecConfig,
    Demuxer,
    FlvTag,
    FlvWriter,
    VideoSample,
    read_flv,
)
from trio_rtmp.media.codecs import (
    parse_hevc_decoder_configuration_record,
    vp8_frame_size,
    vp9_frame_size,
)
from trio_rtmp.media.flv import (
    AudioFourCC,
    AudioPacketType,
    AudioTrack,
    AVCPacketType,
    AvMultitrackType,
    ExAudioTag,
    ExVideoTag,
    ModEx,
    MultitrackAudioTag,
    MultitrackVideoTag,
    VideoCodecId,
    VideoFourCC,
    VideoFrameType,
    VideoPacketType,
    VideoTag,
    VideoTrack,
)
from trio_rtmp.media.nal import join_length_prefixed, split_annexb

pytestmark = pytest.mark.interop

# RTMP timestamps are unsigned; MP4 B-frame streams start with negative decode times.
OFFSET_MS = 1000


@attrs.frozen
class Packet:
    dts: int
    pts: int
    keyframe: bool
    data: bytes


@attrs.frozen
class Stream:
    codec: str
    config: bytes
    packets: list[Packet]
    info: dict[str, Any]
    path: Path


def _milliseconds(value: int, time_base: str) -> int:
    return round(Fraction(value) * Fraction(time_base) * 1000) + OFFSET_MS


def probe_stream(path: Path) -> tuple[dict[str, Any], list[Packet]]:
    stream = ffprobe(path, "-show_streams", "-show_data")["streams"][0]
    packets = ffprobe(path, "-show_packets", "-show_data")["packets"]
    base = stream["time_base"]
    return stream, [
        Packet(
            _milliseconds(packet["dts"], base),
            _milliseconds(packet["pts"], base),
            "K" in packet["flags"],
            hexdump_bytes(packet["data"]),
        )
        for packet in packets
    ]


def mp4_box(path: Path, kind: bytes) -> bytes:
    """The body of the first box of type ``kind`` (enough for a small test file)."""
    data = path.read_bytes()
    index = data.find(kind)
    assert index >= 4, f"no {kind!r} box"
    (size,) = struct.unpack(">I", data[index - 4 : index])
    return data[index + 4 : index - 4 + size]


def ivf_frames(path: Path) -> list[bytes]:
    data = path.read_bytes()
    assert data[:4] == b"DKIF"
    position = struct.unpack("<H", data[6:8])[0]
    frames = []
    while position + 12 <= len(data):
        (size,) = struct.unpack("<I", data[position : position + 4])
        frames.append(data[position + 12 : position + 12 + size])
        position += 12 + size
    return frames


@pytest.fixture(scope="session")
def streams(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Stream]:
    require_tools("ffmpeg", "ffprobe")
    folder = tmp_path_factory.mktemp("elementary")
    video = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "1.2"]
    audio = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "1"]
    result = {}

    hevc = folder / "hevc.mp4"
    run_ffmpeg(
        *video,
        "-c:v", "libx265", "-tag:v", "hvc1",
        "-x265-params", "log-level=0:bframes=3:keyint=10",
        str(hevc),
    )  # fmt: skip
    info, packets = probe_stream(hevc)
    result["h265"] = Stream("h265", hexdump_bytes(info["extradata"]), packets, info, hevc)

    av1 = folder / "av1.mp4"
    run_ffmpeg(*video, "-c:v", "libaom-av1", "-cpu-used", "8", "-g", "10", str(av1))
    info, packets = probe_stream(av1)
    result["av1"] = Stream("av1", hexdump_bytes(info["extradata"]), packets, info, av1)

    vp9 = folder / "vp9.mp4"
    run_ffmpeg(*video, "-c:v", "libvpx-vp9", "-deadline", "realtime", "-g", "10", str(vp9))
    info, packets = probe_stream(vp9)
    # FFmpeg keeps no extradata for VP9: take the vpcC box (FullBox header included,
    # which is also what FFmpeg's Enhanced RTMP muxer sends).
    result["vp9"] = Stream("vp9", mp4_box(vp9, b"vpcC"), packets, info, vp9)

    vp8 = folder / "vp8.ivf"
    run_ffmpeg(*video, "-c:v", "libvpx", "-deadline", "realtime", "-g", "10", str(vp8))
    info, packets = probe_stream(vp8)
    raw = ivf_frames(vp8)
    assert [packet.data for packet in packets] == raw
    vpcc = b"\x01\x00\x00\x00" + bytes((0, 10, 0x82, 2, 2, 2, 0, 0))
    result["vp8"] = Stream("vp8", vpcc, packets, info, vp8)

    opus = folder / "opus.ogg"
    run_ffmpeg(*audio, "-c:a", "libopus", "-b:a", "48k", "-ac", "2", str(opus))
    info, packets = probe_stream(opus)
    result["opus"] = Stream("opus", hexdump_bytes(info["extradata"]), packets, info, opus)

    flac = folder / "audio.flac"
    run_ffmpeg(*audio, "-c:a", "flac", "-ac", "1", str(flac))
    info, packets = probe_stream(flac)
    streaminfo = hexdump_bytes(info["extradata"])
    assert len(streaminfo) == 34
    header = b"fLaC\x80\x00\x00\x22" + streaminfo
    result["flac"] = Stream("flac", header, packets, info, flac)
    return result


VIDEO_FOURCCS = {
    "h265": VideoFourCC.HEVC,
    "av1": VideoFourCC.AV1,
    "vp9": VideoFourCC.VP9,
    "vp8": VideoFourCC.VP8,
}
AUDIO_FOURCCS = {"opus": AudioFourCC.OPUS, "flac": AudioFourCC.FLAC}


def video_tags(stream: Stream) -> list[tuple[int, Any]]:
    fourcc = VIDEO_FOURCCS[stream.codec]
    tags: list[tuple[int, Any]] = [
        (
            stream.packets[0].dts,
            ExVideoTag(
                frame_type=VideoFrameType.KEY,
                packet_type=VideoPacketType.SEQUENCE_START,
                fourcc=fourcc,
                data=stream.config,
            ),
        )
    ]
    for index, packet in enumerate(stream.packets):
        cts = packet.pts - packet.dts
        kind = VideoPacketType.CODED_FRAMES
        if fourcc != VideoFourCC.HEVC:
            assert cts == 0
        elif cts == 0 and index % 2:
            kind = VideoPacketType.CODED_FRAMES_X  # both forms, on alternate frames
        mod_ex = (ModEx.timestamp_offset_nano(index * 1000),) if index % 3 == 0 else ()
        tags.append(
            (
                packet.dts,
                ExVideoTag(
                    frame_type=VideoFrameType.KEY if packet.keyframe else VideoFrameType.INTER,
                    packet_type=kind,
                    fourcc=fourcc,
                    composition_time=cts,
                    data=packet.data,
                    mod_ex=mod_ex,
                ),
            )
        )
    return tags


def audio_tags(stream: Stream) -> list[tuple[int, Any]]:
    fourcc = AUDIO_FOURCCS[stream.codec]
    tags: list[tuple[int, Any]] = [
        (
            stream.packets[0].dts,
            ExAudioTag(
                packet_type=AudioPacketType.SEQUENCE_START, fourcc=fourcc, data=stream.config
            ),
        )
    ]
    tags += [
        (
            packet.dts,
            ExAudioTag(packet_type=AudioPacketType.CODED_FRAMES, fourcc=fourcc, data=packet.data),
        )
        for packet in stream.packets
    ]
    return tags


def run_demuxer(tags: list[tuple[int, Any]]) -> list[Any]:
    demuxer = Demuxer()
    frames = []
    for timestamp, tag in tags:
        frames += demuxer.tag(tag.tag_type, timestamp, tag.to_bytes())
    assert demuxer.dropped == 0
    return frames


def expected_video(stream: Stream, track: int = 0) -> list[Any]:
    frames: list[Any] = [CodecConfig("video", stream.codec, stream.config, track)]
    for packet in stream.packets:
        payload: Any = packet.data
        if stream.codec == "h265":
            payload = _split4(packet.data)
        frames.append(VideoSample(payload, packet.dts, packet.pts, packet.keyframe, track))
    return frames


def _split4(data: bytes) -> list[bytes]:
    nals = []
    position = 0
    while position < len(data):
        (size,) = struct.unpack(">I", data[position : position + 4])
        nals.append(data[position + 4 : position + 4 + size])
        position += 4 + size
    return nals


@pytest.mark.parametrize("codec", ["h265", "av1", "vp9", "vp8"])
def test_video_codecs(streams: dict[str, Stream], codec: str) -> None:
    stream = streams[codec]
    frames = run_demuxer(video_tags(stream))
    assert frames == expected_video(stream)
    config = frames[0]
    samples = frames[1:]
    assert len(samples) == len(stream.packets) > 10
    assert sum(sample.keyframe for sample in samples) >= 2
    if codec in ("h265", "av1"):
        assert (config.info.width, config.info.height) == (
            stream.info["width"],
            stream.info["height"],
        )
    if codec == "vp9":
        assert config.info.profile == "0" and config.info.bit_depth == 8
        assert vp9_frame_size(samples[0].payload) == (320, 240)
    if codec == "vp8":
        assert vp8_frame_size(samples[0].payload) == (320, 240)


def test_hevc_nal_units_and_composition_times(streams: dict[str, Stream], tmp_path: Path) -> None:
    stream = streams["h265"]
    samples = [frame for frame in run_demuxer(video_tags(stream)) if type(frame) is VideoSample]
    # B-frames: presentation differs from decode order.
    assert len({sample.pts - sample.dts for sample in samples}) > 1
    for sample, packet in zip(samples, stream.packets, strict=True):
        assert join_length_prefixed(sample.payload) == packet.data
        types = [(nal[0] >> 1) & 0x3F for nal in sample.payload]
        assert all(nal[0] & 0x80 == 0 and nal[1] & 0x07 for nal in sample.payload)
        assert any(16 <= kind <= 21 for kind in types) == sample.keyframe
    # An independent split: FFmpeg's own Annex B conversion of the same stream, cut at
    # start codes, has the same NAL units (parameter sets aside, which it may add).
    annexb = tmp_path / "hevc.h265"
    run_ffmpeg(
        "-i", str(stream.path),
        "-c:v", "copy", "-bsf:v", "hevc_mp4toannexb", "-f", "hevc", str(annexb),
    )  # fmt: skip
    # hevc_mp4toannexb inserts the hvcC's NAL units (parameter sets, SEI) in front of
    # key frames; leave those out on both sides.
    inserted = {
        nal
        for array in parse_hevc_decoder_configuration_record(stream.config).arrays
        for nal in array.nal_units
    }
    theirs = [nal for nal in split_annexb(annexb.read_bytes()) if nal not in inserted]
    ours = [nal for sample in samples for nal in sample.payload if nal not in inserted]
    assert len(ours) >= len(samples)
    assert ours == theirs


def test_hevc_as_legacy_codec_id_12(streams: dict[str, Stream]) -> None:
    stream = streams["h265"]
    tags: list[tuple[int, Any]] = [
        (
            0,
            VideoTag(
                frame_type=VideoFrameType.KEY,
                codec_id=VideoCodecId.HEVC,
                avc_packet_type=AVCPacketType.SEQUENCE_HEADER,
                data=stream.config,
            ),
        )
    ]
    tags += [
        (
            packet.dts,
            VideoTag(
                frame_type=VideoFrameType.KEY if packet.keyframe else VideoFrameType.INTER,
                codec_id=VideoCodecId.HEVC,
                avc_packet_type=AVCPacketType.NALU,
                composition_time=packet.pts - packet.dts,
                data=packet.data,
            ),
        )
        for packet in stream.packets
    ]
    assert run_demuxer(tags) == expected_video(stream)


@pytest.mark.parametrize("codec", ["opus", "flac"])
def test_audio_codecs(streams: dict[str, Stream], codec: str) -> None:
    stream = streams[codec]
    frames = run_demuxer(audio_tags(stream))
    expected = [CodecConfig("audio", codec, stream.config)]
    expected += [AudioSample(packet.data, packet.dts) for packet in stream.packets]
    assert frames == expected
    info = frames[0].info
    assert info.channels == stream.info["channels"]
    assert info.sample_rate == int(stream.info["sample_rate"])
    if codec == "flac":
        assert info.sample_size == int(stream.info["bits_per_raw_sample"])


def test_multitrack_with_real_streams(streams: dict[str, Stream]) -> None:
    hevc, av1, opus, flac = (streams[name] for name in ("h265", "av1", "opus", "flac"))
    tags: list[tuple[int, Any]] = [
        (
            0,
            MultitrackVideoTag(
                frame_type=VideoFrameType.KEY,
                packet_type=VideoPacketType.SEQUENCE_START,
                multitrack_type=AvMultitrackType.MANY_TRACKS_MANY_CODECS,
                tracks=(
                    VideoTrack(track_id=0, fourcc=VideoFourCC.HEVC, data=hevc.config),
                    VideoTrack(track_id=1, fourcc=VideoFourCC.AV1, data=av1.config),
                ),
            ),
        ),
        (
            0,
            MultitrackAudioTag(
                packet_type=AudioPacketType.SEQUENCE_START,
                multitrack_type=AvMultitrackType.MANY_TRACKS_MANY_CODECS,
                tracks=(
                    AudioTrack(track_id=0, fourcc=AudioFourCC.OPUS, data=opus.config),
                    AudioTrack(track_id=1, fourcc=AudioFourCC.FLAC, data=flac.config),
                ),
            ),
        ),
    ]
    # Video: HEVC on track 0 and AV1 on track 1, each in OneTrack messages (their key
    # frames differ, and a message has one frame type).
    for index in range(max(len(hevc.packets), len(av1.packets))):
        for track, stream in ((0, hevc), (1, av1)):
            if index < len(stream.packets):
                packet = stream.packets[index]
                tags.append(
                    (
                        packet.dts,
                        MultitrackVideoTag(
                            frame_type=1 if packet.keyframe else 2,
                            packet_type=VideoPacketType.CODED_FRAMES,
                            multitrack_type=AvMultitrackType.ONE_TRACK,
                            tracks=(
                                VideoTrack(
                                    track_id=track,
                                    fourcc=VIDEO_FOURCCS[stream.codec],
                                    composition_time=packet.pts - packet.dts,
                                    data=packet.data,
                                ),
                            ),
                        ),
                    )
                )
    # Audio: one Opus frame and one FLAC frame per message, while both last.
    for index in range(len(flac.packets)):
        tags.append(
            (
                opus.packets[index].dts,
                MultitrackAudioTag(
                    packet_type=AudioPacketType.CODED_FRAMES,
                    multitrack_type=AvMultitrackType.MANY_TRACKS_MANY_CODECS,
                    tracks=(
                        AudioTrack(
                            track_id=0, fourcc=AudioFourCC.OPUS, data=opus.packets[index].data
                        ),
                        AudioTrack(
                            track_id=1, fourcc=AudioFourCC.FLAC, data=flac.packets[index].data
                        ),
                    ),
                ),
            )
        )
    frames = run_demuxer(tags)
    video = {
        track: [f for f in frames if _media(f) == "video" and f.track == track] for track in (0, 1)
    }
    assert video[0] == expected_video(hevc, 0)
    assert video[1] == expected_video(av1, 1)
    audio = [f for f in frames if _media(f) == "audio"]
    assert audio[:2] == [
        CodecConfig("audio", "opus", opus.config, 0),
        CodecConfig("audio", "flac", flac.config, 1),
    ]
    samples = audio[2:]
    assert samples[0::2] == [
        AudioSample(opus.packets[index].data, opus.packets[index].dts, 0)
        for index in range(len(flac.packets))
    ]
    assert samples[1::2] == [
        AudioSample(flac.packets[index].data, opus.packets[index].dts, 1)
        for index in range(len(flac.packets))
    ]

    # The same stream through an FLV file.
    writer = FlvWriter()
    data = writer.write_tags(tags) + writer.finish()[0]
    flv = read_flv(data)
    assert [(tag.tag_type, tag.timestamp, tag.data) for tag in flv.tags] == [
        (tag.tag_type, timestamp, tag.to_bytes()) for timestamp, tag in tags
    ]
    demuxer = Demuxer()
    again = []
    for tag in flv.tags:
        assert type(tag) is FlvTag
        again += demuxer.tag(tag.tag_type, tag.timestamp, tag.data)
    assert again == frames


def _media(frame: Any) -> str:
    if type(frame) is CodecConfig:
        return frame.media
    return "video" if type(frame) is VideoSample else "audio"
