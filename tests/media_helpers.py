"""Hypothesis strategies and small builders shared by the tests/test_media_*.py files."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from trio_rtmp.media.flv import (
    AACPacketType,
    AudioFourCC,
    AudioPacketType,
    AudioTag,
    AudioTrack,
    AVCPacketType,
    AvMultitrackType,
    ExAudioTag,
    ExVideoCommandTag,
    ExVideoTag,
    ModEx,
    MultitrackAudioTag,
    MultitrackVideoTag,
    SoundFormat,
    SoundRate,
    SoundSize,
    SoundType,
    VideoCodecId,
    VideoCommandTag,
    VideoFourCC,
    VideoFrameType,
    VideoPacketType,
    VideoTag,
    VideoTrack,
)

SI24 = st.integers(-(1 << 23), (1 << 23) - 1)
CTS_FOURCCS = {VideoFourCC.AVC, VideoFourCC.HEVC, VideoFourCC.VVC}
TRACK_VIDEO_PACKET_TYPES = [
    VideoPacketType.SEQUENCE_START,
    VideoPacketType.CODED_FRAMES,
    VideoPacketType.SEQUENCE_END,
    VideoPacketType.CODED_FRAMES_X,
    VideoPacketType.METADATA,
    VideoPacketType.MPEG2TS_SEQUENCE_START,
]
TRACK_AUDIO_PACKET_TYPES = [
    AudioPacketType.SEQUENCE_START,
    AudioPacketType.CODED_FRAMES,
    AudioPacketType.SEQUENCE_END,
    AudioPacketType.MULTICHANNEL_CONFIG,
]
payloads = st.binary(max_size=64)


@st.composite
def mod_ex_entry(draw: Any) -> ModEx:
    kind = draw(st.integers(0, 15))
    # Sizes around 256 exercise both size encodings.
    size = draw(st.one_of(st.integers(3 if kind == 0 else 1, 8), st.integers(250, 300)))
    return ModEx(mod_ex_type=kind, data=draw(st.binary(min_size=size, max_size=size)))


mod_ex_tuples = st.lists(mod_ex_entry(), max_size=3).map(tuple)


@st.composite
def legacy_video_tags(draw: Any) -> VideoTag:
    codec = draw(st.sampled_from(list(VideoCodecId)))
    frame_type = draw(st.sampled_from([1, 2, 3, 4]))
    if codec in (VideoCodecId.AVC, VideoCodecId.HEVC):
        return VideoTag(
            frame_type=VideoFrameType(frame_type),
            codec_id=codec,
            avc_packet_type=draw(st.sampled_from(list(AVCPacketType))),
            composition_time=draw(SI24),
            data=draw(payloads),
        )
    return VideoTag(frame_type=VideoFrameType(frame_type), codec_id=codec, data=draw(payloads))


video_command_tags = st.builds(
    VideoCommandTag,
    command=st.integers(0, 255),
    codec_id=st.sampled_from(list(VideoCodecId)),
    data=payloads,
)


def _frame_type_for(draw: Any, kind: VideoPacketType, multitrack: bool = False) -> int:
    if kind == VideoPacketType.METADATA:
        value: int = draw(st.sampled_from([0, 1, 2, 3, 4, 6, 7] if multitrack else range(8)))
    else:
        value = draw(st.integers(1, 4))
    return VideoFrameType(value) if 1 <= value <= 5 else value


@st.composite
def ex_video_tags(draw: Any) -> ExVideoTag:
    kind = draw(st.sampled_from(TRACK_VIDEO_PACKET_TYPES))
    fourcc = draw(st.sampled_from(list(VideoFourCC)))
    cts = draw(SI24) if kind == VideoPacketType.CODED_FRAMES and fourcc in CTS_FOURCCS else 0
    return ExVideoTag(
        frame_type=_frame_type_for(draw, kind),
        packet_type=kind,
        fourcc=fourcc,
        composition_time=cts,
        data=draw(payloads),
        mod_ex=draw(mod_ex_tuples),
    )


ex_video_command_tags = st.builds(
    ExVideoCommandTag,
    command=st.integers(0, 255),
    packet_type=st.sampled_from(
        [
            kind
            for kind in VideoPacketType
            if kind not in (VideoPacketType.METADATA, VideoPacketType.MOD_EX)
        ]
    ),
    data=payloads,
    mod_ex=mod_ex_tuples,
)


@st.composite
def multitrack_video_tags(draw: Any) -> MultitrackVideoTag:
    kind = draw(st.sampled_from(TRACK_VIDEO_PACKET_TYPES))
    mode = draw(st.sampled_from(list(AvMultitrackType)))
    count = 1 if mode == AvMultitrackType.ONE_TRACK else draw(st.integers(1, 4))
    shared = draw(st.sampled_from(list(VideoFourCC)))
    tracks = []
    for _ in range(count):
        fourcc = (
            draw(st.sampled_from(list(VideoFourCC)))
            if mode == AvMultitrackType.MANY_TRACKS_MANY_CODECS
            else shared
        )
        cts = draw(SI24) if kind == VideoPacketType.CODED_FRAMES and fourcc in CTS_FOURCCS else 0
        tracks.append(
            VideoTrack(
                track_id=draw(st.integers(0, 255)),
                fourcc=fourcc,
                composition_time=cts,
                data=draw(payloads),
            )
        )
    return MultitrackVideoTag(
        frame_type=_frame_type_for(draw, kind, multitrack=True),
        packet_type=kind,
        multitrack_type=mode,
        tracks=tuple(tracks),
        mod_ex=draw(mod_ex_tuples),
    )


@st.composite
def legacy_audio_tags(draw: Any) -> AudioTag:
    sound_format = draw(st.sampled_from([f for f in SoundFormat if f != SoundFormat.EX_HEADER]))
    return AudioTag(
        sound_format=sound_format,
        sound_rate=draw(st.sampled_from(list(SoundRate))),
        sound_size=draw(st.sampled_from(list(SoundSize))),
        sound_type=draw(st.sampled_from(list(SoundType))),
        aac_packet_type=(
            draw(st.sampled_from(list(AACPacketType))) if sound_format == SoundFormat.AAC else None
        ),
        data=draw(payloads),
    )


ex_audio_tags = st.builds(
    ExAudioTag,
    packet_type=st.sampled_from(TRACK_AUDIO_PACKET_TYPES),
    fourcc=st.sampled_from(list(AudioFourCC)),
    data=payloads,
    mod_ex=mod_ex_tuples,
)


@st.composite
def multitrack_audio_tags(draw: Any) -> MultitrackAudioTag:
    mode = draw(st.sampled_from(list(AvMultitrackType)))
    count = 1 if mode == AvMultitrackType.ONE_TRACK else draw(st.integers(1, 4))
    shared = draw(st.sampled_from(list(AudioFourCC)))
    tracks = tuple(
        AudioTrack(
            track_id=draw(st.integers(0, 255)),
            fourcc=(
                draw(st.sampled_from(list(AudioFourCC)))
                if mode == AvMultitrackType.MANY_TRACKS_MANY_CODECS
                else shared
            ),
            data=draw(payloads),
        )
        for _ in range(count)
    )
    return MultitrackAudioTag(
        packet_type=draw(st.sampled_from(TRACK_AUDIO_PACKET_TYPES)),
        multitrack_type=mode,
        tracks=tracks,
        mod_ex=draw(mod_ex_tuples),
    )


video_tags = st.one_of(
    legacy_video_tags(),
    video_command_tags,
    ex_video_tags(),
    ex_video_command_tags,
    multitrack_video_tags(),
)
audio_tags = st.one_of(legacy_audio_tags(), ex_audio_tags, multitrack_audio_tags())


def split_points(draw: Any, data: bytes) -> list[bytes]:
    """Cut ``data`` into pieces at Hypothesis-chosen points."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    pieces = []
    start = 0
    for cut in [*cuts, len(data)]:
        pieces.append(data[start:cut])
        start = cut
    return pieces


# ----------------------------------------------------------------- real media (FFmpeg)


def require_tools(*names: str) -> None:
    """Skip the test unless the programs exist (fail when TRIO_RTMP_REQUIRE_PEERS=1)."""
    import os
    import shutil

    import pytest

    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        reason = f"{', '.join(missing)} not installed"
        if os.environ.get("TRIO_RTMP_REQUIRE_PEERS") == "1":
            pytest.fail(f"{reason} (TRIO_RTMP_REQUIRE_PEERS=1)")
        pytest.skip(reason)


def run_ffmpeg(*args: str) -> None:
    """Run ffmpeg quietly (bounded in time); raise with its stderr if it fails."""
    import subprocess

    result = subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode:
        raise RuntimeError(f"ffmpeg {' '.join(args)} failed:\n{result.stderr}")


def ffprobe(path: Any, *args: str) -> Any:
    """ffprobe's JSON output for ``path``."""
    import json
    import subprocess

    result = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", *args, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout)


def hexdump_bytes(text: str) -> bytes:
    """The bytes of an ffprobe ``-show_data`` hex dump."""
    parts = []
    for line in text.splitlines():
        if line.strip():
            parts.append(bytes.fromhex(line[10:51].replace(" ", "")))
    return b"".join(parts)


def md5(data: bytes) -> str:
    """A hash in ffprobe's ``-show_data_hash MD5`` form."""
    import hashlib

    return "MD5:" + hashlib.md5(data).hexdigest()
