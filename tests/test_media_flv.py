"""FLV tag bodies: exact round trips, known vectors, malformed input, fast classifiers."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from media_helpers import audio_tags, video_tags

from trio_rtmp.core.errors import LocalProtocolError, RemoteProtocolError
from trio_rtmp.media.flv import (
    MAX_MOD_EX,
    MAX_TRACKS,
    AACPacketType,
    AudioChannelOrder,
    AudioFourCC,
    AudioMultichannelConfig,
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
    ScriptTag,
    SoundFormat,
    SoundRate,
    SoundSize,
    SoundType,
    TagType,
    VideoCodecId,
    VideoCommandTag,
    VideoFourCC,
    VideoFrameType,
    VideoPacketType,
    VideoTag,
    VideoTrack,
    is_audio_multichannel_config,
    is_audio_sequence_header,
    is_video_metadata,
    parse_audio_tag,
    parse_multichannel_config,
    parse_script_tag,
    parse_tag,
    parse_video_tag,
    track_ids,
    video_info,
)

SETTINGS = settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])


# ----------------------------------------------------------------- round trips


@SETTINGS
@given(video_tags)
def test_video_tag_round_trip(tag: Any) -> None:
    data = tag.to_bytes()
    parsed = parse_video_tag(data)
    assert parsed == tag
    assert parsed.to_bytes() == data
    assert parse_tag(TagType.VIDEO, data) == tag
    assert type(tag).tag_type == TagType.VIDEO


@SETTINGS
@given(audio_tags)
def test_audio_tag_round_trip(tag: Any) -> None:
    data = tag.to_bytes()
    parsed = parse_audio_tag(data)
    assert parsed == tag
    assert parsed.to_bytes() == data
    assert parse_tag(TagType.AUDIO, data) == tag


@SETTINGS
@given(video_tags, st.binary(min_size=1, max_size=8))
def test_video_tag_truncation_and_trailing_bytes(tag: Any, extra: bytes) -> None:
    data = tag.to_bytes()
    # Every strict prefix either fails cleanly or is a different valid tag.
    for cut in range(len(data)):
        with contextlib.suppress(RemoteProtocolError):
            parse_video_tag(data[:cut])
    try:
        parsed = parse_video_tag(data + extra)
    except RemoteProtocolError:
        return
    assert parse_video_tag(parsed.to_bytes()) == parsed


@SETTINGS
@given(audio_tags, st.binary(min_size=1, max_size=8))
def test_audio_tag_truncation_and_trailing_bytes(tag: Any, extra: bytes) -> None:
    data = tag.to_bytes()
    for cut in range(len(data)):
        with contextlib.suppress(RemoteProtocolError):
            parse_audio_tag(data[:cut])
    try:
        parsed = parse_audio_tag(data + extra)
    except RemoteProtocolError:
        return
    assert parse_audio_tag(parsed.to_bytes()) == parsed


@settings(max_examples=1500)
@given(st.binary(max_size=48))
def test_arbitrary_bytes_only_raise_protocol_errors(data: bytes) -> None:
    for parse in (parse_video_tag, parse_audio_tag):
        try:
            tag = parse(data)
        except RemoteProtocolError:
            continue
        assert parse(tag.to_bytes()) == tag


@settings(max_examples=600)
@given(
    st.sampled_from([0x80, 0x90, 0xA0, 0x97, 0x96, 0x9F, 0x50, 0x17, 0x27]), st.binary(max_size=40)
)
def test_arbitrary_enhanced_bodies(first: int, rest: bytes) -> None:
    data = bytes((first,)) + rest
    for parse in (parse_video_tag, parse_audio_tag):
        try:
            tag = parse(data)
        except RemoteProtocolError:
            continue
        assert parse(tag.to_bytes()) == tag


# ----------------------------------------------------------------- vectors


def test_legacy_avc_vectors() -> None:
    header = bytes.fromhex("1700000000") + b"\x01\x64\x00\x1f"
    tag = parse_video_tag(header)
    assert tag == VideoTag(
        frame_type=VideoFrameType.KEY,
        codec_id=VideoCodecId.AVC,
        avc_packet_type=AVCPacketType.SEQUENCE_HEADER,
        data=b"\x01\x64\x00\x1f",
    )
    assert tag.is_sequence_header and tag.keyframe
    # An inter frame with composition time -1 (0xFFFFFF) and +0x7FFFFF.
    assert parse_video_tag(bytes.fromhex("2701ffffff") + b"x").composition_time == -1
    assert parse_video_tag(bytes.fromhex("27017fffff")).composition_time == (1 << 23) - 1
    assert parse_video_tag(bytes.fromhex("2701800000")).composition_time == -(1 << 23)
    # HEVC under the non-standard legacy codec id 12.
    hevc = parse_video_tag(bytes.fromhex("1c01000021abcd"))
    assert hevc.codec_id == VideoCodecId.HEVC and hevc.composition_time == 0x21
    # Sorenson H.263 has no packet type.
    assert parse_video_tag(b"\x22abc") == VideoTag(
        frame_type=VideoFrameType.INTER, codec_id=VideoCodecId.SORENSON_H263, data=b"abc"
    )


def test_video_command_frames() -> None:
    assert parse_video_tag(b"\x57\x01") == VideoCommandTag(command=1, codec_id=VideoCodecId.AVC)
    # Enhanced: command byte right after the packet type, no FourCC.
    tag = parse_video_tag(b"\xd1\x00")
    assert tag == ExVideoCommandTag(command=0, packet_type=VideoPacketType.CODED_FRAMES)
    assert video_info(b"\xd1\x00") == (False, False)
    # Frame type 5 with packet type Multitrack is a command frame too (the command check
    # comes first), so the byte after it is a command, not a multitrack header.
    tag = parse_video_tag(b"\xd6\xd4")
    assert tag == ExVideoCommandTag(command=0xD4, packet_type=VideoPacketType.MULTITRACK)
    assert not is_video_metadata(b"\xd6\xd4") and video_info(b"\xd6\xd4") == (False, False)
    # Frame type 5 with packet type Metadata is metadata, not a command.
    metadata = parse_video_tag(b"\xd4hvc1\x02\x00\x09colorInfo\x06")
    assert type(metadata) is ExVideoTag
    assert metadata.packet_type == VideoPacketType.METADATA
    assert metadata.frame_type == 5
    assert is_video_metadata(metadata.to_bytes())


def test_enhanced_video_vectors() -> None:
    # Key frame, CodedFrames, hvc1, composition time 0x000102, payload.
    data = b"\x91hvc1\x00\x01\x02NAL"
    tag = parse_video_tag(data)
    assert tag == ExVideoTag(
        frame_type=VideoFrameType.KEY,
        packet_type=VideoPacketType.CODED_FRAMES,
        fourcc=VideoFourCC.HEVC,
        composition_time=0x102,
        data=b"NAL",
    )
    # av01 CodedFrames carry no composition time.
    assert parse_video_tag(b"\x91av01OBU").data == b"OBU"
    # CodedFramesX of avc1 carries none either.
    assert parse_video_tag(b"\xa3avc1NAL").data == b"NAL"
    # vvc1 is treated like avc1/hvc1.
    assert parse_video_tag(b"\x91vvc1\xff\xff\xfeN").composition_time == -2


def test_mod_ex_vectors() -> None:
    # ModEx of 3 bytes (size - 1 = 2), TimestampOffsetNano 0x0186A0 (100000 ns), then
    # the next packet type CodedFramesX.
    data = b"\x97\x02\x01\x86\xa0\x03av01X"
    tag = parse_video_tag(data)
    assert tag.timestamp_offset_nano == 100_000
    assert tag.packet_type == VideoPacketType.CODED_FRAMES_X
    assert tag.to_bytes() == data
    # The 16-bit size form: 0xFF then UI16 + 1.
    long = ModEx(mod_ex_type=3, data=bytes(300))
    tag = ExAudioTag(
        packet_type=AudioPacketType.CODED_FRAMES, fourcc=AudioFourCC.OPUS, mod_ex=(long,)
    )
    encoded = tag.to_bytes()
    assert encoded[:4] == b"\x97\xff\x01\x2b"
    assert parse_audio_tag(encoded) == tag
    # Exactly 256 bytes needs the long form too.
    tag = ExAudioTag(
        packet_type=AudioPacketType.CODED_FRAMES,
        fourcc=AudioFourCC.OPUS,
        mod_ex=(ModEx(mod_ex_type=1, data=bytes(256)),),
    )
    assert tag.to_bytes()[1:4] == b"\xff\x00\xff"
    assert parse_audio_tag(tag.to_bytes()) == tag
    # A needlessly long size form parses, and serializes in the short form.
    redundant = b"\x97\xff\x00\x02\x00\x00\x07\x01vp09F"
    parsed = parse_video_tag(redundant)
    assert parsed.timestamp_offset_nano == 7
    assert parsed.to_bytes() == b"\x97\x02\x00\x00\x07\x01vp09F"
    # TimestampOffsetNano shorter than 3 bytes is malformed.
    with pytest.raises(RemoteProtocolError):
        parse_video_tag(b"\x97\x01\x00\x00\x01av01")
    with pytest.raises(ValueError):
        ModEx.timestamp_offset_nano(1_000_000)


def test_multitrack_vectors() -> None:
    # ManyTracks of av01, CodedFrames: track 0 (2 bytes), track 1 (1 byte).
    data = b"\x96\x11av01\x00\x00\x00\x02ab\x01\x00\x00\x01c"
    tag = parse_video_tag(data)
    assert tag == MultitrackVideoTag(
        frame_type=VideoFrameType.KEY,
        packet_type=VideoPacketType.CODED_FRAMES,
        multitrack_type=AvMultitrackType.MANY_TRACKS,
        tracks=(
            VideoTrack(track_id=0, fourcc=VideoFourCC.AV1, data=b"ab"),
            VideoTrack(track_id=1, fourcc=VideoFourCC.AV1, data=b"c"),
        ),
    )
    assert video_info(data) == (True, False)
    # ManyTracksManyCodecs: each track has a FourCC; avc1 keeps its composition time
    # inside the track's size.
    data = b"\x96\x21avc1\x05\x00\x00\x04\x00\x00\x01Nvp09\x06\x00\x00\x01V"
    tag = parse_video_tag(data)
    assert [track.fourcc for track in tag.tracks] == [VideoFourCC.AVC, VideoFourCC.VP9]
    assert tag.tracks[0].composition_time == 1 and tag.tracks[0].data == b"N"
    assert tag.tracks[1].track_id == 6 and tag.to_bytes() == data
    # OneTrack: no size, the track runs to the end.
    data = b"\x96\x00hvc1\x03config"
    tag = parse_video_tag(data)
    assert tag.tracks == (VideoTrack(track_id=3, fourcc=VideoFourCC.HEVC, data=b"config"),)
    assert video_info(data) == (False, True)
    # Audio multitrack, ManyTracks of Opus.
    data = b"\x95\x11Opus\x00\x00\x00\x01a\x02\x00\x00\x00"
    tag = parse_audio_tag(data)
    assert tag == MultitrackAudioTag(
        packet_type=AudioPacketType.CODED_FRAMES,
        multitrack_type=AvMultitrackType.MANY_TRACKS,
        tracks=(
            AudioTrack(track_id=0, fourcc=AudioFourCC.OPUS, data=b"a"),
            AudioTrack(track_id=2, fourcc=AudioFourCC.OPUS, data=b""),
        ),
    )
    assert is_audio_sequence_header(b"\x95\x00mp4a\x01\x12\x10")
    # Malformed: a track size past the end, Multitrack inside Multitrack, no tracks.
    for bad in (
        b"\x96\x11av01\x00\x00\x00\x09ab",
        b"\x96\x06av01\x00",
        b"\x96\x11av01",
        b"\x96\x31av01\x00",
        b"\x95\x07Opus\x00",
    ):
        with pytest.raises(RemoteProtocolError):
            parse_video_tag(bad) if bad[0] == 0x96 else parse_audio_tag(bad)


def test_tracks_and_mod_ex_entries_per_tag_are_bounded() -> None:
    # Each track and ModEx entry is an object: a body of millions of 4-byte empty
    # tracks (or 3-byte ModEx entries) would cost far more than its size.
    def many_tracks(head: bytes, count: int) -> bytes:
        return head + b"".join(bytes([n % 256]) + b"\x00\x00\x00" for n in range(count))

    for head, parse in ((b"\x96\x11av01", parse_video_tag), (b"\x95\x11Opus", parse_audio_tag)):
        tag = parse(many_tracks(head, MAX_TRACKS))
        assert isinstance(tag, MultitrackVideoTag | MultitrackAudioTag)
        assert len(tag.tracks) == MAX_TRACKS == 256
        with pytest.raises(RemoteProtocolError, match="more than 256 tracks"):
            parse(many_tracks(head, MAX_TRACKS + 1))
    entry = b"\x00\x00\x17"  # one byte of ModEx data, type 1, next packet type ModEx
    last = b"\x00\x00\x13"  # ... next packet type CodedFramesX
    body = b"\x97" + entry * (MAX_MOD_EX - 1) + last + b"av01X"
    assert len(parse_video_tag(body).mod_ex) == MAX_MOD_EX == 64
    with pytest.raises(RemoteProtocolError, match="more than 64 ModEx entries"):
        parse_video_tag(b"\x97" + entry * MAX_MOD_EX + last + b"av01X")
    # Nor can such tags be made: what is written must parse.
    with pytest.raises(ValueError, match="more than 64 ModEx entries"):
        ExVideoTag(
            frame_type=1,
            packet_type=VideoPacketType.CODED_FRAMES_X,
            fourcc=VideoFourCC.AV1,
            mod_ex=(ModEx(mod_ex_type=1, data=b"\x00"),) * (MAX_MOD_EX + 1),
        )
    track = AudioTrack(track_id=0, fourcc=AudioFourCC.OPUS, data=b"")
    with pytest.raises(ValueError, match="more than 256 tracks"):
        MultitrackAudioTag(
            packet_type=AudioPacketType.CODED_FRAMES,
            multitrack_type=AvMultitrackType.MANY_TRACKS,
            tracks=(track,) * (MAX_TRACKS + 1),
        )


def test_legacy_audio_vectors() -> None:
    assert parse_audio_tag(b"\xaf\x00\x12\x10") == AudioTag(
        sound_format=SoundFormat.AAC,
        aac_packet_type=AACPacketType.SEQUENCE_HEADER,
        data=b"\x12\x10",
    )
    assert is_audio_sequence_header(b"\xaf\x00\x12\x10")
    assert not is_audio_sequence_header(b"\xaf\x01\x21")
    mp3 = parse_audio_tag(b"\x2e\xff\xfb")
    assert mp3 == AudioTag(
        sound_format=SoundFormat.MP3,
        sound_rate=SoundRate.KHZ_44,
        sound_size=SoundSize.BITS_16,
        sound_type=SoundType.MONO,
        data=b"\xff\xfb",
    )
    speex = parse_audio_tag(b"\xb6x")
    assert (speex.sound_format, speex.sound_rate, speex.sound_type) == (
        SoundFormat.SPEEX,
        SoundRate.KHZ_11,
        SoundType.MONO,
    )
    for bad in (b"", b"\xc0", b"\xd0", b"\xaf", b"\xaf\x02"):
        with pytest.raises(RemoteProtocolError):
            parse_audio_tag(bad)


def test_enhanced_audio_vectors() -> None:
    tag = parse_audio_tag(b"\x90fLaC" + b"fLaC\x80\x00\x00\x22")
    assert tag == ExAudioTag(
        packet_type=AudioPacketType.SEQUENCE_START,
        fourcc=AudioFourCC.FLAC,
        data=b"fLaC\x80\x00\x00\x22",
    )
    assert is_audio_sequence_header(tag.to_bytes())
    assert parse_audio_tag(b"\x92ac-3").packet_type == AudioPacketType.SEQUENCE_END
    for bad in (b"\x93Opus", b"\x90xxxx", b"\x91Opu", b"\x97\x02\x00\x00"):
        with pytest.raises(RemoteProtocolError):
            parse_audio_tag(bad)


def test_multichannel_config() -> None:
    custom = AudioMultichannelConfig(
        channel_order=AudioChannelOrder.CUSTOM, channel_count=3, channel_mapping=b"\x00\x01\x03"
    )
    native = AudioMultichannelConfig(
        channel_order=AudioChannelOrder.NATIVE, channel_count=6, channel_flags=0x3F
    )
    plain = AudioMultichannelConfig(channel_order=AudioChannelOrder.UNSPECIFIED, channel_count=2)
    for config in (custom, native, plain):
        assert parse_multichannel_config(config.to_bytes()) == config
    assert native.to_dict() == {"channelOrder": 1, "channelCount": 6, "channelFlags": 0x3F}
    for bad in (b"\x02", b"\x03\x02", b"\x02\x02\x00", b"\x01\x02\x00", b"\x00\x02\x00"):
        with pytest.raises(RemoteProtocolError):
            parse_multichannel_config(bad)


def test_script_tag() -> None:
    tag = ScriptTag(values=("onMetaData", {"width": 640.0, "duration": 2.5}))
    assert parse_script_tag(tag.to_bytes()) == tag
    assert parse_tag(18, tag.to_bytes()) == tag
    with pytest.raises(RemoteProtocolError):
        parse_script_tag(b"\x02\x00\x05abc")
    with pytest.raises(LocalProtocolError):
        parse_tag(7, b"")


def test_validation_on_construction() -> None:
    with pytest.raises(ValueError):
        VideoTag(frame_type=VideoFrameType.KEY, codec_id=VideoCodecId.AVC)  # no packet type
    with pytest.raises(ValueError):
        VideoTag(frame_type=VideoFrameType.KEY, codec_id=VideoCodecId.VP6, composition_time=1)
    with pytest.raises(ValueError):
        VideoTag(
            frame_type=VideoFrameType.KEY,
            codec_id=VideoCodecId.AVC,
            avc_packet_type=AVCPacketType.NALU,
            composition_time=1 << 23,
        )
    with pytest.raises(ValueError):
        ExVideoTag(
            frame_type=1,
            packet_type=VideoPacketType.CODED_FRAMES,
            fourcc=VideoFourCC.AV1,
            composition_time=3,
        )
    with pytest.raises(ValueError):
        ExVideoTag(frame_type=1, packet_type=VideoPacketType.MULTITRACK, fourcc=VideoFourCC.AV1)
    with pytest.raises(ValueError):
        ExVideoTag(frame_type=5, packet_type=VideoPacketType.CODED_FRAMES, fourcc=VideoFourCC.AV1)
    # Enum fields take members or their values, and nothing else.
    assert ExVideoTag(frame_type=1, packet_type=1, fourcc="av01") == ExVideoTag(
        frame_type=VideoFrameType.KEY,
        packet_type=VideoPacketType.CODED_FRAMES,
        fourcc=VideoFourCC.AV1,
    )
    with pytest.raises(ValueError):
        ExVideoTag(frame_type=1, packet_type=1, fourcc="xxxx")
    with pytest.raises(TypeError):
        ExVideoTag(frame_type=1, packet_type=1.0, fourcc="av01")
    with pytest.raises(TypeError):
        VideoTag(frame_type=True, codec_id=VideoCodecId.SORENSON_H263)
    with pytest.raises(ValueError):
        MultitrackVideoTag(
            frame_type=1,
            packet_type=VideoPacketType.CODED_FRAMES,
            multitrack_type=AvMultitrackType.MANY_TRACKS,
            tracks=(
                VideoTrack(track_id=0, fourcc=VideoFourCC.AV1),
                VideoTrack(track_id=1, fourcc=VideoFourCC.VP9),
            ),
        )
    with pytest.raises(ValueError):
        MultitrackAudioTag(
            packet_type=AudioPacketType.CODED_FRAMES,
            multitrack_type=AvMultitrackType.ONE_TRACK,
            tracks=(),
        )
    with pytest.raises(ValueError):
        AudioTag(sound_format=SoundFormat.MP3, aac_packet_type=AACPacketType.RAW)
    with pytest.raises(ValueError):
        AudioTag(sound_format=SoundFormat.EX_HEADER)
    with pytest.raises(TypeError):
        AudioTag(sound_format=SoundFormat.MP3, data="text")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ModEx(mod_ex_type=0, data=b"\x00")
    with pytest.raises(ValueError):
        ModEx(mod_ex_type=16, data=b"\x00")


# ----------------------------------------------------------------- fast classifiers


def _expected_video_info(tag: Any) -> tuple[bool, bool]:
    if type(tag) in (VideoCommandTag, ExVideoCommandTag):
        return False, False
    keyframe = tag.frame_type in (1, 4)
    if type(tag) is VideoTag:
        if tag.avc_packet_type is None:
            return keyframe, False
        if tag.avc_packet_type == AVCPacketType.SEQUENCE_HEADER:
            return False, True
        return keyframe and tag.avc_packet_type == AVCPacketType.NALU, False
    kind = tag.packet_type
    if kind in (VideoPacketType.SEQUENCE_START, VideoPacketType.MPEG2TS_SEQUENCE_START):
        return False, True
    if kind in (VideoPacketType.CODED_FRAMES, VideoPacketType.CODED_FRAMES_X):
        return keyframe, False
    return False, False


@SETTINGS
@given(video_tags)
def test_video_info_agrees_with_the_parser(tag: Any) -> None:
    data = tag.to_bytes()
    assert video_info(data) == _expected_video_info(tag)
    expected_metadata = (
        type(tag) in (ExVideoTag, MultitrackVideoTag)
        and tag.packet_type == VideoPacketType.METADATA
    )
    assert is_video_metadata(data) == expected_metadata


@SETTINGS
@given(audio_tags)
def test_is_audio_sequence_header_agrees_with_the_parser(tag: Any) -> None:
    if type(tag) is AudioTag:
        expected = tag.aac_packet_type == AACPacketType.SEQUENCE_HEADER
    else:
        expected = tag.packet_type == AudioPacketType.SEQUENCE_START
    assert is_audio_sequence_header(tag.to_bytes()) == expected
    expected = type(tag) is not AudioTag and tag.packet_type == AudioPacketType.MULTICHANNEL_CONFIG
    assert is_audio_multichannel_config(tag.to_bytes()) == expected


def _tracks(tag: Any) -> tuple[int, ...]:
    if type(tag) in (MultitrackVideoTag, MultitrackAudioTag):
        return tuple(track.track_id for track in tag.tracks)
    return (0,)


@SETTINGS
@given(st.one_of(video_tags.map(lambda t: (9, t)), audio_tags.map(lambda t: (8, t))))
def test_track_ids_agree_with_the_parser(typed_tag: tuple[int, Any]) -> None:
    tag_type, tag = typed_tag
    assert track_ids(tag_type, tag.to_bytes()) == _tracks(tag)


def test_track_ids_of_broken_and_long_bodies() -> None:
    # ManyTracks of Opus, 300 empty tracks (more than a tag may have).
    one = b"\x95\x11Opus" + b"".join(bytes([i % 256]) + bytes(3) for i in range(300))
    assert track_ids(8, one) == ()  # more than MAX_TRACKS: not read to the end
    assert len(track_ids(8, one[: 6 + 4 * 256])) == 256
    assert track_ids(8, one[:-1]) == ()  # a track's size beyond the body
    assert track_ids(8, b"") == track_ids(9, b"") == ()
    assert track_ids(9, b"\x96") == ()  # multitrack, nothing after
    assert track_ids(9, b"\x96\x31hvc1") == ()  # reserved multitrack type 3
    assert track_ids(9, b"\x96\x01hvc1") == ()  # OneTrack without its track id
    assert track_ids(9, b"\x96\x01hvc1\x07") == (7,)
    assert track_ids(8, b"\xaf\x01") == track_ids(9, b"\x17\x01") == (0,)


@settings(max_examples=1000)
@given(st.binary(max_size=24))
def test_fast_classifiers_never_raise(data: bytes) -> None:
    video_info(data)
    is_video_metadata(data)
    is_audio_sequence_header(data)
    is_audio_multichannel_config(data)
    track_ids(8, data)
    track_ids(9, data)
