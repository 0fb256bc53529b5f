"""Real media: FLV files made by FFmpeg, read by trio-rtmp, checked against ffprobe.

FFmpeg (5.1) generates short FLV files from lavfi test sources at test time: H.264
with B-frames (so composition times matter) and several slices per frame (so frames
have several NAL units) with AAC; video only; MP3, Speex, Nellymoser, G.711, ADPCM
and PCM audio; Sorenson H.263 and Screen Video.  Each file is read with
:class:`FlvReader` and :class:`Demuxer`, and every sample is compared with ffprobe's
``-show_packets`` (time stamps, key flags, sizes, an MD5 of the data) and, for H.264,
``-show_frames``.  Then the file is written back, once tag by tag with
:class:`FlvWriter` and once through frames with :class:`Muxer`, and ffprobe must see
identical packets in the copies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from media_helpers import ffprobe, md5, require_tools, run_ffmpeg

from trio_rtmp.media import (
    AudioSample,
    CodecConfig,
    Demuxer,
    FlvEnd,
    FlvReader,
    FlvTag,
    FlvWriter,
    Metadata,
    Muxer,
    VideoSample,
)
from trio_rtmp.media.flv import ExAudioTag, ExVideoTag
from trio_rtmp.media.nal import join_length_prefixed

pytestmark = pytest.mark.interop

_TESTSRC = "testsrc2=size={size}:rate={rate}"
_SINE = "sine=frequency=440:sample_rate=44100"

#: name -> (ffmpeg arguments after the inputs, has video, has audio)
MEDIA: dict[str, tuple[list[str], bool, bool]] = {
    "h264_aac": (
        [
            "-t",
            "3",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-bf",
            "2",
            "-g",
            "25",
            "-x264-params",
            "slices=2",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
            "-ac",
            "2",
        ],
        True,
        True,
    ),
    "h264_only": (
        [
            "-t",
            "2",
            "-an",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-profile:v",
            "high",
            "-bf",
            "3",
            "-g",
            "12",
        ],
        True,
        False,
    ),
    "mp3": (["-t", "2", "-vn", "-c:a", "libmp3lame", "-ar", "48000", "-ac", "2"], False, True),
    "speex": (["-t", "2", "-vn", "-c:a", "libspeex", "-ar", "16000", "-ac", "1"], False, True),
    "nellymoser": (
        ["-t", "2", "-vn", "-c:a", "nellymoser", "-ar", "22050", "-ac", "1"],
        False,
        True,
    ),
    "flv1_adpcm": (
        ["-t", "2", "-c:v", "flv1", "-g", "10", "-c:a", "adpcm_swf", "-ar", "22050"],
        True,
        True,
    ),
    "screen_alaw": (
        ["-t", "1", "-c:v", "flashsv", "-g", "5", "-c:a", "pcm_alaw", "-ar", "8000", "-ac", "1"],
        True,
        True,
    ),
    "pcm": (["-t", "1", "-vn", "-c:a", "pcm_s16le", "-ar", "11025", "-ac", "1"], False, True),
}
_SIZES = {"h264_aac": ("320x240", 25), "h264_only": ("426x240", 30)}

FFPROBE_CODECS = {
    "h264": "h264",
    "flv1": "sorenson_h263",
    "flashsv": "screen_video",
    "aac": "aac",
    "mp3": "mp3",
    "speex": "speex",
    "nellymoser": "nellymoser",
    "adpcm_swf": "adpcm",
    "pcm_alaw": "pcma",
    "pcm_s16le": "pcm",
}


@pytest.fixture(scope="session")
def flv_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    require_tools("ffmpeg", "ffprobe")
    folder = tmp_path_factory.mktemp("flv")
    files = {}
    for name, (args, video, audio) in MEDIA.items():
        size, rate = _SIZES.get(name, ("176x144", 10))
        inputs: list[str] = []
        if video:
            inputs += ["-f", "lavfi", "-i", _TESTSRC.format(size=size, rate=rate)]
        if audio:
            inputs += ["-f", "lavfi", "-i", _SINE]
        path = folder / f"{name}.flv"
        run_ffmpeg(*inputs, *args, str(path))
        files[name] = path
    return files


def read_tags(path: Path, chunk: int = 4096) -> tuple[list[FlvTag], bool]:
    reader = FlvReader()
    tags = []
    truncated = True
    with path.open("rb") as file:
        while True:
            data = file.read(chunk)
            for event in reader.receive_data(data):
                if type(event) is FlvTag:
                    tags.append(event)
                elif type(event) is FlvEnd:
                    truncated = event.truncated
            if not data:
                return tags, truncated


def demux(tags: list[FlvTag]) -> list[Any]:
    demuxer = Demuxer()
    frames = []
    for tag in tags:
        frames += demuxer.tag(tag.tag_type, tag.timestamp, tag.data)
    assert demuxer.dropped == 0
    return frames


def packet_view(path: Path) -> list[tuple[Any, ...]]:
    probe = ffprobe(path, "-show_packets", "-show_data_hash", "MD5")
    return [
        (p["codec_type"], p.get("pts"), p.get("dts"), p["flags"], p["size"], p["data_hash"])
        for p in probe["packets"]
    ]


def payload_bytes(sample: VideoSample | AudioSample) -> bytes:
    if isinstance(sample.payload, list):
        return join_length_prefixed(sample.payload, 4)
    return sample.payload


@pytest.mark.parametrize("name", sorted(MEDIA))
def test_demuxer_matches_ffprobe(flv_files: dict[str, Path], name: str) -> None:
    path = flv_files[name]
    _, has_video, has_audio = MEDIA[name]
    tags, truncated = read_tags(path)
    assert not truncated
    frames = demux(tags)
    probe = ffprobe(path, "-show_packets", "-show_data_hash", "MD5", "-show_streams")
    streams = {stream["codec_type"]: stream for stream in probe["streams"]}
    assert ("video" in streams, "audio" in streams) == (has_video, has_audio)

    metadata = [frame for frame in frames if type(frame) is Metadata]
    assert [frame.name for frame in metadata] == ["onMetaData"]
    configs = [frame for frame in frames if type(frame) is CodecConfig]
    assert sorted(config.media for config in configs) == sorted(streams)

    for media, stream in streams.items():
        (config,) = [config for config in configs if config.media == media]
        assert config.codec == FFPROBE_CODECS[stream["codec_name"]]
        packets = [p for p in probe["packets"] if p["codec_type"] == media]
        kind = VideoSample if media == "video" else AudioSample
        samples = [frame for frame in frames if type(frame) is kind]
        # The config comes before the first sample of its track.
        assert frames.index(config) < frames.index(samples[0])
        assert len(samples) == len(packets) > 0
        for sample, packet in zip(samples, packets, strict=True):
            if type(sample) is VideoSample:
                assert (sample.dts, sample.pts) == (packet["dts"], packet["pts"])
                assert sample.keyframe == ("K" in packet["flags"])
            else:
                assert sample.timestamp == packet["pts"] == packet["dts"]
            assert md5(payload_bytes(sample)) == packet["data_hash"]
            assert len(payload_bytes(sample)) == int(packet["size"])
        info: Any = config.info
        if media == "video" and config.codec == "h264":
            assert (info.width, info.height) == (stream["width"], stream["height"])
            assert info.profile == stream["profile"]
            assert metadata[0].value["width"] == stream["width"]
        if media == "audio":
            assert info.sample_rate == int(stream["sample_rate"])
            assert info.channels == stream["channels"]


@pytest.mark.parametrize("name", ["h264_aac", "h264_only"])
def test_h264_frames_nal_units_and_composition_times(flv_files: dict[str, Path], name: str) -> None:
    path = flv_files[name]
    samples = [frame for frame in demux(read_tags(path)[0]) if type(frame) is VideoSample]
    decoded = ffprobe(path, "-show_frames", "-select_streams", "v")["frames"]
    assert len(decoded) == len(samples)
    assert sorted(frame["pts"] for frame in decoded) == sorted(sample.pts for sample in samples)
    assert sum(frame["key_frame"] for frame in decoded) == sum(s.keyframe for s in samples)
    # B-frames: composition time offsets are real, and some are not the first offset.
    assert len({sample.pts - sample.dts for sample in samples}) > 1
    assert any(frame["pict_type"] == "B" for frame in decoded)
    slices = 2 if name == "h264_aac" else 1
    for sample in samples:
        assert isinstance(sample.payload, list)
        types = [nal[0] & 0x1F for nal in sample.payload]
        assert all(nal[0] & 0x80 == 0 for nal in sample.payload)
        coded = [kind for kind in types if kind in (1, 5)]
        assert len(coded) == slices
        assert (5 in coded) == sample.keyframe
    # x264 puts its SEI (type 6) in front of the first IDR.
    assert samples[0].payload[0][0] & 0x1F == 6


@pytest.mark.parametrize("name", sorted(MEDIA))
def test_copies_have_identical_packets(
    flv_files: dict[str, Path], name: str, tmp_path: Path
) -> None:
    path = flv_files[name]
    tags, _ = read_tags(path, chunk=1000)
    _, has_video, has_audio = MEDIA[name]
    original = packet_view(path)

    # 1. Tag by tag, to a seekable file: onMetaData copied through, then patched.
    copy = tmp_path / "copy.flv"
    writer = FlvWriter(has_audio=has_audio, has_video=has_video, seekable=True)
    with copy.open("wb") as file:
        for tag in tags:
            if tag.tag_type == 18:
                values = tag.script_values()
                file.write(writer.write_metadata(values[1]))
            else:
                file.write(writer.write_tag(tag.tag_type, tag.timestamp, tag.data))
        tail, patches = writer.finish()
        file.write(tail)
        for offset, patch in patches:
            file.seek(offset)
            file.write(patch)
    assert packet_view(copy) == original
    fmt = ffprobe(copy, "-show_format")["format"]
    assert int(fmt["size"]) == copy.stat().st_size
    last = max(tag.timestamp for tag in tags if tag.tag_type != 18)
    first = min(tag.timestamp for tag in tags if tag.tag_type != 18)
    probe = ffprobe(copy, "-show_entries", "format_tags", "-show_format")
    assert abs(float(probe["format"]["duration"]) - (last - first) / 1000) < 0.2

    # 2. An onMetaData in the middle (an encoder's update, a new publisher's) adds
    # no packet: FFmpeg made a subtitle stream of one stamped at the media's time.
    middle = tmp_path / "middle.flv"
    writer = FlvWriter(has_audio=has_audio, has_video=has_video)
    media = [tag for tag in tags if tag.tag_type != 18]
    half = len(media) // 2
    assert media[half].timestamp > 0
    parts = [writer.write_tag(t.tag_type, t.timestamp, t.data) for t in media[:half]]
    parts.append(writer.write_metadata({"width": 640.0, "height": 480.0}))
    parts += [writer.write_tag(t.tag_type, t.timestamp, t.data) for t in media[half:]]
    middle.write_bytes(b"".join(parts) + writer.finish()[0])
    assert packet_view(middle) == original

    # 3. Through frames: demux, mux again, write to a pipe-like (non-seekable) output.
    frames = demux(tags)
    muxer = Muxer()
    writer = FlvWriter(has_audio=has_audio, has_video=has_video)
    parts = []
    for frame in frames:
        for timestamp, tag in muxer.mux(frame):
            parts.append(writer.write(timestamp, tag))
    parts.append(writer.finish()[0])
    remuxed = tmp_path / "remuxed.flv"
    remuxed.write_bytes(b"".join(parts))
    assert packet_view(remuxed) == original
    again = demux(read_tags(remuxed)[0])
    assert again == frames


def test_enhanced_fourcc_forms_of_legacy_streams(flv_files: dict[str, Path]) -> None:
    # The same H.264/AAC and MP3 frames, sent as Enhanced RTMP avc1/mp4a/.mp3 tags,
    # come out of the demuxer unchanged.
    for name in ("h264_aac", "mp3"):
        frames = demux(read_tags(flv_files[name])[0])
        muxer = Muxer(enhanced=True)
        demuxer = Demuxer()
        again = []
        for frame in frames:
            for timestamp, tag in muxer.mux(frame):
                assert tag.tag_type == 18 or type(tag) in (ExVideoTag, ExAudioTag)
                again += demuxer.tag(tag.tag_type, timestamp, tag.to_bytes())
        assert again == frames
