"""The demuxer's semantics, the muxer, and the frames -> tags -> frames round trip."""

from __future__ import annotations

import contextlib
import logging
import struct
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_media_codecs import (
    LIBAOM_AV1C_352X288,
    X264_HIGH_720P_SPS,
    X264_HIGH_PPS,
    X265_1080P_SPS,
    X265_PPS,
    X265_VPS,
    _avcc,
)

from trio_rtmp.core import amf0
from trio_rtmp.core.amf import UNDEFINED, ECMAArray
from trio_rtmp.core.config import Limits
from trio_rtmp.core.errors import LocalProtocolError, RemoteProtocolError
from trio_rtmp.media import (
    AudioInfo,
    AudioSample,
    CodecConfig,
    Demuxer,
    Metadata,
    Muxer,
    VideoInfo,
    VideoSample,
)
from trio_rtmp.media.codecs import (
    HEVCDecoderConfigurationRecord,
    HEVCNALUnitArray,
    VPCodecConfigurationRecord,
)
from trio_rtmp.media.flv import (
    AudioFourCC,
    AudioPacketType,
    AudioTrack,
    AvMultitrackType,
    ExAudioTag,
    ExVideoTag,
    MultitrackAudioTag,
    MultitrackVideoTag,
    ScriptTag,
    VideoFourCC,
    VideoFrameType,
    VideoPacketType,
    VideoTag,
    VideoTrack,
    parse_tag,
    parse_video_tag,
)
from trio_rtmp.media.nal import join_annexb, join_length_prefixed

AVCC = _avcc(X264_HIGH_720P_SPS, X264_HIGH_PPS)
HVCC = HEVCDecoderConfigurationRecord(
    general_profile_space=0,
    general_tier_flag=0,
    general_profile_idc=1,
    general_profile_compatibility_flags=0x60000000,
    general_constraint_indicator_flags=0x900000000000,
    general_level_idc=120,
    arrays=(
        HEVCNALUnitArray(complete=True, nal_unit_type=32, nal_units=(X265_VPS,)),
        HEVCNALUnitArray(complete=True, nal_unit_type=33, nal_units=(X265_1080P_SPS,)),
        HEVCNALUnitArray(complete=True, nal_unit_type=34, nal_units=(X265_PPS,)),
    ),
).to_bytes()
ASC = b"\x12\x10"
OPUS_HEAD = b"OpusHead" + struct.pack("<BBHIhB", 1, 2, 312, 48000, 0, 0)
VPCC = VPCodecConfigurationRecord(profile=0, level=31, bit_depth=8).to_bytes()
MP3_FRAME = b"\xff\xfb\x94\xc4" + bytes(100)


def avc(frame: int, packet: int, cts: int, data: bytes) -> bytes:
    return bytes((frame << 4 | 7, packet)) + (cts & 0xFFFFFF).to_bytes(3, "big") + data


# ----------------------------------------------------------------- legacy video


def test_legacy_avc_stream() -> None:
    demuxer = Demuxer()
    (config,) = demuxer.video(0, avc(1, 0, 0, AVCC))
    assert config == CodecConfig("video", "h264", AVCC)
    assert config.info == VideoInfo(
        width=1280,
        height=720,
        profile="High",
        level="3.1",
        bit_depth=8,
        chroma_format="4:2:0",
        frame_rate=30.0,
    )
    # The same header again: nothing new.
    assert demuxer.video(0, avc(1, 0, 0, AVCC)) == []
    nals = [b"\x06sei", b"\x65idr-slice"]
    assert demuxer.video(40, avc(1, 1, 80, join_length_prefixed(nals))) == [
        VideoSample(nals, 40, 120, True)
    ]
    assert demuxer.video(80, avc(2, 1, -40, join_length_prefixed([b"\x41p"]))) == [
        VideoSample([b"\x41p"], 80, 40, False)
    ]
    # End of sequence, command frames, empty bodies: nothing.
    assert demuxer.video(90, avc(1, 2, 0, b"")) == []
    assert demuxer.video(90, b"\x57\x01") == []
    assert demuxer.video(90, b"") == []
    assert demuxer.configs == [config]


def test_samples_before_the_sequence_header_are_dropped(caplog: Any) -> None:
    demuxer = Demuxer()
    with caplog.at_level(logging.DEBUG, logger="trio_rtmp.media.demux"):
        assert demuxer.video(0, avc(1, 1, 0, join_length_prefixed([b"\x65x"]))) == []
        assert demuxer.video(40, avc(2, 1, 0, join_length_prefixed([b"\x41x"]))) == []
        assert demuxer.audio(0, b"\xaf\x01\x21") == []
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 2  # once per (media, track)
    assert "h264" in warnings[0].getMessage() and "aac" in warnings[1].getMessage()
    assert demuxer.dropped == 3


def test_changed_sequence_header_is_a_new_config() -> None:
    demuxer = Demuxer()
    demuxer.video(0, avc(1, 0, 0, AVCC))
    other = _avcc(X264_HIGH_720P_SPS, X264_HIGH_PPS, length_size=2)
    (config,) = demuxer.video(1000, avc(1, 0, 0, other))
    assert config.init_data == other
    # The new NAL length size applies from now on.
    assert demuxer.video(1040, avc(1, 1, 0, b"\x00\x02\x65x")) == [
        VideoSample([b"\x65x"], 1040, 1040, True)
    ]


def test_malformed_bodies_raise_and_leave_state_alone() -> None:
    demuxer = Demuxer()
    demuxer.video(0, avc(1, 0, 0, AVCC))
    with pytest.raises(RemoteProtocolError):
        demuxer.video(40, avc(1, 1, 0, b"\x00\x00\x00\x09short"))
    with pytest.raises(RemoteProtocolError):
        demuxer.video(40, b"\x17\x01")
    with pytest.raises(RemoteProtocolError):
        demuxer.video(40, avc(1, 0, 0, b"\x02bad record"))
    with pytest.raises(RemoteProtocolError):
        demuxer.audio(40, b"\xd0")
    assert demuxer.video(80, avc(1, 1, 0, b"\x00\x00\x00\x01\x65")) == [
        VideoSample([b"\x65"], 80, 80, True)
    ]


def test_annexb_instead_of_lengths_is_tolerated() -> None:
    # Some cameras send start codes where the NAL unit lengths belong.
    demuxer = Demuxer()
    demuxer.video(0, avc(1, 0, 0, AVCC))
    body = b"\x00\x00\x00\x01\x09\xf0\x00\x00\x00\x01\x65\x88\x84\x00\x00\x01\x65\x01"
    assert demuxer.video(0, avc(1, 1, 0, body)) == [
        VideoSample([b"\x09\xf0", b"\x65\x88\x84", b"\x65\x01"], 0, 0, True)
    ]
    with pytest.raises(RemoteProtocolError):
        demuxer.video(0, avc(1, 1, 0, b"\x00\x00\x02\x01\x09"))


@pytest.mark.parametrize("framing", ["legacy avc", "annex b", "enhanced hevc"])
@pytest.mark.parametrize("limits", [Limits(), Limits(max_nal_units=3)], ids=["default", "3"])
def test_the_nal_units_of_a_frame_are_bounded(framing: str, limits: Limits) -> None:
    # Each NAL unit is an object: a frame of a million 1-byte units would cost twenty
    # times its size and a long stall.  More than Limits.max_nal_units (empty length
    # entries included) is a malformed frame; the default leaves room for any
    # encoder's slices.
    count = limits.max_nal_units
    demuxer = Demuxer(limits=limits)
    body: Callable[[bytes], bytes]
    if framing == "enhanced hevc":
        start = ExVideoTag(
            frame_type=1,
            packet_type=VideoPacketType.SEQUENCE_START,
            fourcc=VideoFourCC.HEVC,
            data=HVCC,
        )
        demuxer.video(0, start.to_bytes())

        def body(data: bytes) -> bytes:
            return ExVideoTag(
                frame_type=2,
                packet_type=VideoPacketType.CODED_FRAMES_X,
                fourcc=VideoFourCC.HEVC,
                data=data,
            ).to_bytes()
    else:
        demuxer.video(0, avc(1, 0, 0, AVCC))

        def body(data: bytes) -> bytes:
            return avc(2, 1, 0, data)

    join = join_annexb if framing == "annex b" else join_length_prefixed
    nals = [b"\x41" + bytes([n % 255 + 1]) for n in range(count + 1)]
    assert demuxer.video(40, body(join(nals[:count]))) == [VideoSample(nals[:count], 40, 40, False)]
    with pytest.raises(RemoteProtocolError, match=f"more than {count} NAL units"):
        demuxer.video(80, body(join(nals)))
    if framing != "annex b":
        with pytest.raises(RemoteProtocolError, match=f"more than {count} NAL units"):
            demuxer.video(80, body(bytes(4 * count) + join([b"\x41"])))
    # Skipped; the stream goes on.
    assert demuxer.video(120, body(join(nals[:1]))) == [VideoSample(nals[:1], 120, 120, False)]


def test_unreadable_records_are_logged_once_per_track(caplog: pytest.LogCaptureFixture) -> None:
    # A record the demuxer cannot read still configures the track (info None); a
    # stream that sends nothing but such records must not flood the log.
    caplog.set_level(logging.DEBUG, logger="trio_rtmp.media.demux")
    demuxer = Demuxer()
    for n in range(3):
        record = b"\x01\x64\x00\x1f\xff\xe1\x00\x09" + bytes([n])  # SPS cut short
        [config] = demuxer.video(0, avc(1, 0, 0, record))
        assert (config.codec, config.init_data, config.info) == ("h264", record, None)
    demuxer.reset()
    demuxer.video(0, avc(1, 0, 0, b"\x01\x64\x00\x1f\xff\xe1\x00\x09"))
    levels = [r.levelno for r in caplog.records if "could not read the h264" in r.getMessage()]
    assert levels == [logging.WARNING, logging.DEBUG, logging.DEBUG, logging.WARNING]


def test_legacy_video_codecs_are_announced_without_init_data() -> None:
    demuxer = Demuxer()
    frames = demuxer.video(0, b"\x12h263 frame")
    assert frames == [
        CodecConfig("video", "sorenson_h263", None),
        VideoSample(b"h263 frame", 0, 0, True),
    ]
    assert demuxer.video(33, b"\x22next") == [VideoSample(b"next", 33, 33, False)]
    # A codec switch announces the new codec.
    assert demuxer.video(66, b"\x14vp6") == [
        CodecConfig("video", "vp6", None),
        VideoSample(b"vp6", 66, 66, True),
    ]


def test_unreadable_record_still_configures_the_nal_length() -> None:
    # A record with a valid header but an SPS that does not parse: info is None, the
    # stream still demuxes with the record's NAL length size.
    record = bytes((1, 0x64, 0, 0x1F, 0xFD, 0xE1, 0, 2, 0x67, 0xFF, 1, 0, 1, 0x68))
    demuxer = Demuxer()
    (config,) = demuxer.video(0, avc(1, 0, 0, record))
    assert config.info is None and config.init_data == record
    assert demuxer.video(0, avc(1, 1, 0, b"\x00\x01\x65")) == [VideoSample([b"\x65"], 0, 0, True)]


# ----------------------------------------------------------------- enhanced video


def test_enhanced_video_codecs() -> None:
    demuxer = Demuxer()
    start = ExVideoTag(
        frame_type=1, packet_type=VideoPacketType.SEQUENCE_START, fourcc=VideoFourCC.HEVC, data=HVCC
    )
    (config,) = demuxer.video(0, start.to_bytes())
    assert config == CodecConfig("video", "h265", HVCC)
    assert (config.info.width, config.info.height) == (1920, 1080)  # type: ignore[union-attr]
    coded = ExVideoTag(
        frame_type=1,
        packet_type=VideoPacketType.CODED_FRAMES,
        fourcc=VideoFourCC.HEVC,
        composition_time=33,
        data=join_length_prefixed([b"\x26\x01idr"]),
    )
    assert demuxer.video(0, coded.to_bytes()) == [VideoSample([b"\x26\x01idr"], 0, 33, True)]
    # av01 replaces h265 on track 0; its payload stays bytes.
    av1 = ExVideoTag(
        frame_type=1,
        packet_type=VideoPacketType.SEQUENCE_START,
        fourcc=VideoFourCC.AV1,
        data=LIBAOM_AV1C_352X288,
    )
    (config,) = demuxer.video(100, av1.to_bytes())
    assert config.codec == "av1" and config.info.width == 352  # type: ignore[union-attr]
    frame = ExVideoTag(
        frame_type=2, packet_type=VideoPacketType.CODED_FRAMES_X, fourcc=VideoFourCC.AV1, data=b"o"
    )
    assert demuxer.video(133, frame.to_bytes()) == [VideoSample(b"o", 133, 133, False)]
    # Coded frames of a codec that is not the configured one are dropped.
    vp9 = ExVideoTag(
        frame_type=1, packet_type=VideoPacketType.CODED_FRAMES, fourcc=VideoFourCC.VP9, data=b"v"
    )
    assert demuxer.video(166, vp9.to_bytes()) == []
    # MPEG-2 TS sequence start, sequence end.
    ts_start = ExVideoTag(
        frame_type=1,
        packet_type=VideoPacketType.MPEG2TS_SEQUENCE_START,
        fourcc=VideoFourCC.AV1,
        data=b"\x80descriptor",
    )
    (config,) = demuxer.video(200, ts_start.to_bytes())
    assert config == CodecConfig("video", "av1", b"\x80descriptor") and config.info is None
    end = ExVideoTag(frame_type=1, packet_type=VideoPacketType.SEQUENCE_END, fourcc=VideoFourCC.AV1)
    assert demuxer.video(300, end.to_bytes()) == []


def test_color_info_metadata() -> None:
    demuxer = Demuxer()
    color = {"colorConfig": {"bitDepth": 10.0, "colorPrimaries": 9.0}}
    tag = ExVideoTag(
        frame_type=5,
        packet_type=VideoPacketType.METADATA,
        fourcc=VideoFourCC.HEVC,
        data=amf0.encode("colorInfo", color),
    )
    assert demuxer.video(0, tag.to_bytes()) == [Metadata("colorInfo", color)]
    reset = ExVideoTag(
        frame_type=5,
        packet_type=VideoPacketType.METADATA,
        fourcc=VideoFourCC.HEVC,
        data=amf0.encode("colorInfo", UNDEFINED),
    )
    assert demuxer.video(0, reset.to_bytes()) == [Metadata("colorInfo", None)]
    # Its AMF is bounded as commands and data are (Limits.max_amf_message_size).
    small = Demuxer(limits=Limits(max_amf_message_size=len(tag.data)))
    assert small.video(0, tag.to_bytes()) == [Metadata("colorInfo", color)]
    big = ExVideoTag(
        frame_type=5,
        packet_type=VideoPacketType.METADATA,
        fourcc=VideoFourCC.HEVC,
        data=amf0.encode("colorInfo", {**color, "x": 1.0}),
    )
    with pytest.raises(RemoteProtocolError, match="video metadata of .* over the limit"):
        small.video(0, big.to_bytes())


def test_a_multitrack_message_with_a_bad_track_changes_nothing() -> None:
    # Found by fuzz_demux: track 0's configuration was kept although the message failed.
    demuxer = Demuxer()
    start = MultitrackVideoTag(
        frame_type=1,
        packet_type=VideoPacketType.SEQUENCE_START,
        multitrack_type=AvMultitrackType.MANY_TRACKS,
        tracks=(
            VideoTrack(track_id=0, fourcc=VideoFourCC.AVC, data=AVCC),
            VideoTrack(track_id=1, fourcc=VideoFourCC.AVC, data=b"\x02\x64\x00\x1f\xff"),
        ),
    )
    with pytest.raises(RemoteProtocolError):
        demuxer.video(0, start.to_bytes())
    assert demuxer.configs == []


def test_multitrack_video_gives_per_track_frames() -> None:
    demuxer = Demuxer()
    start = MultitrackVideoTag(
        frame_type=1,
        packet_type=VideoPacketType.SEQUENCE_START,
        multitrack_type=AvMultitrackType.MANY_TRACKS_MANY_CODECS,
        tracks=(
            VideoTrack(track_id=0, fourcc=VideoFourCC.AVC, data=AVCC),
            VideoTrack(track_id=1, fourcc=VideoFourCC.AV1, data=LIBAOM_AV1C_352X288),
        ),
    )
    frames = demuxer.video(0, start.to_bytes())
    assert frames == [
        CodecConfig("video", "h264", AVCC, 0),
        CodecConfig("video", "av1", LIBAOM_AV1C_352X288, 1),
    ]
    coded = MultitrackVideoTag(
        frame_type=2,
        packet_type=VideoPacketType.CODED_FRAMES,
        multitrack_type=AvMultitrackType.MANY_TRACKS_MANY_CODECS,
        tracks=(
            VideoTrack(
                track_id=0,
                fourcc=VideoFourCC.AVC,
                composition_time=40,
                data=join_length_prefixed([b"\x41a", b"\x41b"]),
            ),
            VideoTrack(track_id=1, fourcc=VideoFourCC.AV1, data=b"obu"),
        ),
    )
    assert demuxer.video(10, coded.to_bytes()) == [
        VideoSample([b"\x41a", b"\x41b"], 10, 50, False, 0),
        VideoSample(b"obu", 10, 10, False, 1),
    ]


# ----------------------------------------------------------------- audio


def test_aac_stream() -> None:
    demuxer = Demuxer()
    (config,) = demuxer.audio(0, b"\xaf\x00" + ASC)
    assert config == CodecConfig("audio", "aac", ASC)
    assert config.info == AudioInfo(sample_rate=44100, channels=2, profile="LC")
    assert demuxer.audio(23, b"\xaf\x01frame") == [AudioSample(b"frame", 23)]
    assert demuxer.audio(23, b"") == []  # the silence message
    assert demuxer.audio(0, b"\xaf\x00" + ASC) == []


def test_sample_times_rise_past_the_32_bit_wrap() -> None:
    """Message timestamps wrap after 2**32 ms (49.7 days, or soon after an encoder that
    starts high); the samples' times go on rising, on the fast paths (AVC, AAC) and the
    general ones (mp3, an enhanced codec) alike, and sequence headers stamped 0 do not
    count as the stream's time."""
    top = (1 << 32) - 40
    demuxer = Demuxer()
    demuxer.video(0, avc(1, 0, 0, AVCC))
    demuxer.audio(0, b"\xaf\x00" + ASC)
    key = join_length_prefixed([b"\x65k"])
    assert demuxer.video(top, avc(1, 1, 80, key)) == [VideoSample([b"\x65k"], top, top + 80, True)]
    assert demuxer.audio(top + 10, b"\xaf\x01a") == [AudioSample(b"a", top + 10)]
    # Past the wrap, and an audio message from just before it arriving late.
    [sample] = demuxer.video(0, avc(2, 1, 40, key))
    assert (sample.dts, sample.pts) == (1 << 32, (1 << 32) + 40)
    assert demuxer.audio(4294967290, b"\xaf\x01a") == [AudioSample(b"a", 4294967290)]
    assert demuxer.audio(33, b"\xaf\x01a") == [AudioSample(b"a", (1 << 32) + 33)]
    # A header stamped 0 again changes nothing.
    demuxer.video(0, avc(1, 0, 0, AVCC))
    assert demuxer.video(80, avc(2, 1, 0, key))[0].dts == (1 << 32) + 80
    # The general paths: mp3 (announced at its first frame) and VP9.
    frames = demuxer.audio(100, b"\x2f" + MP3_FRAME)
    assert frames[-1] == AudioSample(MP3_FRAME, (1 << 32) + 100)
    # reset() (a new publisher) starts over: its first time is taken as it is.
    demuxer.reset()
    start = ExVideoTag(
        frame_type=1, packet_type=VideoPacketType.SEQUENCE_START, fourcc=VideoFourCC.VP9, data=VPCC
    )
    demuxer.video(0, start.to_bytes())
    coded = ExVideoTag(
        frame_type=1, packet_type=VideoPacketType.CODED_FRAMES_X, fourcc=VideoFourCC.VP9, data=b"f"
    )
    assert demuxer.video(top, coded.to_bytes())[0].dts == top
    assert demuxer.video(5, coded.to_bytes())[0].dts == (1 << 32) + 5


def test_legacy_audio_codecs_and_parameter_changes() -> None:
    demuxer = Demuxer()
    frames = demuxer.audio(0, b"\x2f" + MP3_FRAME)
    assert frames == [CodecConfig("audio", "mp3", None), AudioSample(MP3_FRAME, 0)]
    # The MP3 frame header says 48 kHz mono, which the FLV flags cannot.
    assert frames[0].info == AudioInfo(sample_rate=48000, channels=1)  # type: ignore[union-attr]
    assert demuxer.audio(26, b"\x2f" + MP3_FRAME) == [AudioSample(MP3_FRAME, 26)]
    # Other flags: a new announcement.
    (config, _) = demuxer.audio(52, b"\x3e\x01\x02")
    assert config == CodecConfig("audio", "pcm", None)
    assert config.info == AudioInfo(sample_rate=44100, channels=1, sample_size=16)
    (config, _) = demuxer.audio(60, b"\xb2speex")
    assert config.info == AudioInfo(sample_rate=16000, channels=1)
    (config, _) = demuxer.audio(70, b"\x52nelly")
    assert config.codec == "nellymoser" and config.info.sample_rate == 8000  # type: ignore[union-attr]
    (config, _) = demuxer.audio(80, b"\x72alaw")
    assert config.codec == "pcma" and config.info.sample_rate == 8000  # type: ignore[union-attr]
    assert demuxer.audio(90, b"\xf2device") == []


def test_enhanced_audio() -> None:
    demuxer = Demuxer()
    start = ExAudioTag(
        packet_type=AudioPacketType.SEQUENCE_START, fourcc=AudioFourCC.OPUS, data=OPUS_HEAD
    )
    (config,) = demuxer.audio(0, start.to_bytes())
    assert config == CodecConfig("audio", "opus", OPUS_HEAD)
    assert config.info == AudioInfo(sample_rate=48000, channels=2)
    coded = ExAudioTag(packet_type=AudioPacketType.CODED_FRAMES, fourcc=AudioFourCC.OPUS, data=b"p")
    assert demuxer.audio(20, coded.to_bytes()) == [AudioSample(b"p", 20)]
    multichannel = ExAudioTag(
        packet_type=AudioPacketType.MULTICHANNEL_CONFIG,
        fourcc=AudioFourCC.OPUS,
        data=b"\x01\x02\x00\x00\x00\x03",
    )
    assert demuxer.audio(20, multichannel.to_bytes()) == [
        Metadata("multichannelConfig", {"channelOrder": 1, "channelCount": 2, "channelFlags": 3})
    ]
    # ac-3 has no sequence start: announced with None.
    ac3 = ExAudioTag(packet_type=AudioPacketType.CODED_FRAMES, fourcc=AudioFourCC.AC3, data=b"a")
    assert demuxer.audio(40, ac3.to_bytes()) == [
        CodecConfig("audio", "ac3", None),
        AudioSample(b"a", 40),
    ]
    # An empty Opus sequence start is a configuration without init data.
    empty = ExAudioTag(packet_type=AudioPacketType.SEQUENCE_START, fourcc=AudioFourCC.OPUS)
    assert demuxer.audio(50, empty.to_bytes()) == [CodecConfig("audio", "opus", None)]
    multitrack = MultitrackAudioTag(
        packet_type=AudioPacketType.CODED_FRAMES,
        multitrack_type=AvMultitrackType.MANY_TRACKS,
        tracks=(
            AudioTrack(track_id=0, fourcc=AudioFourCC.OPUS, data=b"0"),
            AudioTrack(track_id=2, fourcc=AudioFourCC.OPUS, data=b"2"),
        ),
    )
    # Track 2 has no configuration yet: dropped; track 0 passes.
    assert demuxer.audio(60, multitrack.to_bytes()) == [AudioSample(b"0", 60, 0)]


def test_a_packet_with_no_frame_gives_nothing() -> None:
    # FFmpeg's FLV muxer (8.0 and later) ends a FLAC track with a coded-frames packet
    # holding nothing; FFmpeg's demuxer skips such packets, and so does ours: an empty
    # packet handed to a decoder would flush it.
    demuxer = Demuxer()
    flac_record = b"fLaC\x80\x00\x00\x22" + bytes(10) + b"\x0a\xc4\x42\xf0" + bytes(20)
    start = ExAudioTag(
        packet_type=AudioPacketType.SEQUENCE_START, fourcc=AudioFourCC.FLAC, data=flac_record
    )
    assert [type(frame) for frame in demuxer.audio(0, start.to_bytes())] == [CodecConfig]
    nothing = ExAudioTag(packet_type=AudioPacketType.CODED_FRAMES, fourcc=AudioFourCC.FLAC)
    assert demuxer.audio(3000, nothing.to_bytes()) == []
    # A codec announced at its first sample is not announced by an empty one.
    ac3 = ExAudioTag(packet_type=AudioPacketType.CODED_FRAMES, fourcc=AudioFourCC.AC3)
    assert demuxer.audio(3000, ac3.to_bytes()) == []
    assert demuxer.audio(0, b"\x2f") == []  # legacy mp3, no frame
    assert [(c.codec, c.init_data) for c in demuxer.configs] == [("flac", flac_record)]
    # Raw AAC with no frame, on the fast path's track.
    demuxer.audio(0, b"\xaf\x00" + ASC)
    assert demuxer.audio(23, b"\xaf\x01") == []
    assert demuxer.audio(46, b"\xaf\x01x") == [AudioSample(b"x", 46)]
    # Video: AVC with no NAL unit (fast path's track and general path), an empty AV1
    # frame, a legacy codec's frame type byte alone.
    demuxer.video(0, avc(1, 0, 0, AVCC))
    assert demuxer.video(40, avc(2, 1, 0, b"")) == []
    assert demuxer.video(40, avc(2, 1, 0, bytes(4))) == []  # one NAL unit, empty
    assert demuxer.video(40, avc(2, 1, 0, bytes(8))) == []  # two
    av1 = ExVideoTag(
        frame_type=VideoFrameType.INTER,
        packet_type=VideoPacketType.CODED_FRAMES,
        fourcc=VideoFourCC.AV1,
    )
    assert demuxer.video(40, av1.to_bytes()) == []
    assert demuxer.video(40, b"\x22") == []
    assert demuxer.dropped == 0
    assert demuxer.video(80, avc(2, 1, 0, b"\x00\x00\x00\x01\x41")) == [
        VideoSample([b"\x41"], 80, 80, False)
    ]


# ----------------------------------------------------------------- script data


def test_script_data() -> None:
    demuxer = Demuxer()
    metadata = ECMAArray({"width": 640.0, "height": 360.0})
    assert demuxer.script(["onMetaData", metadata]) == [Metadata("onMetaData", metadata)]
    assert demuxer.script(["@setDataFrame", "onMetaData", metadata]) == [
        Metadata("onMetaData", metadata)
    ]
    assert demuxer.script(["onCuePoint", {}]) == []
    assert demuxer.script([]) == []
    assert demuxer.tag(18, 0, amf0.encode("onMetaData", metadata)) == [
        Metadata("onMetaData", metadata)
    ]
    assert demuxer.tag(15, 0, b"whatever") == []
    with pytest.raises(RemoteProtocolError):
        demuxer.tag(18, 0, b"\x02\x00")


# ----------------------------------------------------------------- frames


def test_frame_validation() -> None:
    with pytest.raises(ValueError):
        CodecConfig("video", "mpeg2", None)
    with pytest.raises(ValueError):
        CodecConfig("subtitle", "h264", None)
    with pytest.raises(ValueError):
        CodecConfig("audio", "h264", None)
    with pytest.raises(TypeError):
        CodecConfig("video", "h264", "text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        VideoSample(b"x", 0.5, 0, True)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        VideoSample(b"x", 0, 0, 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        VideoSample("x", 0, 0, True)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        AudioSample(b"x", 0, 256)
    with pytest.raises(TypeError):
        Metadata(1, {})  # type: ignore[arg-type]
    # info takes no part in equality.
    assert CodecConfig("audio", "aac", ASC, 0, AudioInfo(sample_rate=1)) == CodecConfig(
        "audio", "aac", ASC
    )


# ----------------------------------------------------------------- muxer


def test_muxer_tag_forms() -> None:
    muxer = Muxer()
    ((_, header),) = muxer.mux(CodecConfig("video", "h264", AVCC))
    assert type(header) is VideoTag and header.is_sequence_header
    ((timestamp, frame),) = muxer.mux(VideoSample([b"\x65x"], 40, 80, True))
    assert timestamp == 40 and frame.to_bytes() == avc(1, 1, 40, b"\x00\x00\x00\x02\x65x")
    ((_, start),) = muxer.mux(CodecConfig("video", "h265", HVCC, 3))
    assert type(start) is MultitrackVideoTag
    assert start.tracks[0].track_id == 3
    ((_, coded),) = muxer.mux(VideoSample([b"\x26\x01"], 50, 50, False, 3))
    assert coded.packet_type == VideoPacketType.CODED_FRAMES_X  # composition time 0
    ((at, script),) = muxer.mux(Metadata("onMetaData", {"width": 1.0}))
    assert type(script) is ScriptTag and script.values == ("onMetaData", {"width": 1.0})
    # At 0, not at the last sample's time (50): FFmpeg reads an onMetaData stamped
    # later as a subtitle stream.  A time given is kept.
    assert at == 0
    assert muxer.mux(Metadata("onMetaData", {}), 70)[0][0] == 70
    ((at, _),) = muxer.mux(CodecConfig("video", "h264", AVCC))
    assert at == 50
    assert muxer.mux(CodecConfig("audio", "speex", None)) == []
    ((_, speex),) = muxer.mux(AudioSample(b"s", 60))
    assert speex.to_bytes() == b"\xb6s"  # 16 kHz mono Speex, as FFmpeg writes it
    enhanced = Muxer(enhanced=True)
    ((_, tag),) = enhanced.mux(CodecConfig("audio", "aac", ASC))
    assert type(tag) is ExAudioTag and tag.fourcc == AudioFourCC.AAC


def test_muxer_errors() -> None:
    muxer = Muxer()
    with pytest.raises(LocalProtocolError):
        muxer.mux(VideoSample(b"x", 0, 0, True))  # no config yet
    with pytest.raises(LocalProtocolError):
        muxer.mux(CodecConfig("video", "h264", None))
    muxer.mux(CodecConfig("video", "av1", LIBAOM_AV1C_352X288))
    with pytest.raises(LocalProtocolError):
        muxer.mux(VideoSample(b"x", 0, 10, True))  # av1 cannot carry pts != dts
    with pytest.raises(LocalProtocolError):
        muxer.mux(VideoSample([b"x"], 0, 0, True))  # NAL lists are for h264/h265
    muxer.mux(CodecConfig("video", "h264", AVCC))
    with pytest.raises(LocalProtocolError):
        muxer.mux(VideoSample([b"x"], 0, 1 << 23, True))
    with pytest.raises(LocalProtocolError):
        muxer.mux(CodecConfig("audio", "speex", None, 2))
    with pytest.raises(LocalProtocolError):
        muxer.mux(Metadata("multichannelConfig", {"channelOrder": 1}))
    with pytest.raises(LocalProtocolError):
        muxer.mux("not a frame")  # type: ignore[arg-type]


# ----------------------------------------------------------------- round trip


@st.composite
def frame_sequences(draw: Any) -> list[Any]:
    """A stream of frames the demuxer can reproduce exactly from the muxer's tags."""
    frames: list[Any] = []
    video_tracks = draw(st.lists(st.integers(0, 4), max_size=3, unique=True))
    audio_tracks = draw(st.lists(st.integers(0, 4), max_size=3, unique=True))
    codecs: dict[tuple[str, int], str] = {}
    for track in video_tracks:
        codec = draw(st.sampled_from(["h264", "h265", "av1", "vp9"]))
        init = {"h264": AVCC, "h265": HVCC, "av1": LIBAOM_AV1C_352X288, "vp9": VPCC}[codec]
        frames.append(CodecConfig("video", codec, init, track))
        codecs["video", track] = codec
    for track in audio_tracks:
        choices = ["aac", "opus", "flac", "ac3"] + (["mp3", "speex"] if track == 0 else [])
        codec = draw(st.sampled_from(choices))
        init = {"aac": ASC, "opus": OPUS_HEAD}.get(codec)
        if codec == "flac":
            init = b"fLaC\x80\x00\x00\x22" + bytes(10) + b"\x0a\xc4\x42\xf0" + bytes(20)
        frames.append(CodecConfig("audio", codec, init, track))
        codecs["audio", track] = codec
    if draw(st.booleans()):
        frames.append(Metadata("onMetaData", {"duration": 1.5, "encoder": "test"}))
    dts = 0
    if not codecs:
        return frames
    for _ in range(draw(st.integers(0, 12))):
        dts += draw(st.integers(0, 50))
        media, track = draw(st.sampled_from(sorted(codecs)))
        codec = codecs[media, track]
        if media == "audio":
            payload = MP3_FRAME if codec == "mp3" else draw(st.binary(min_size=1, max_size=20))
            frames.append(AudioSample(payload, dts, track))
            continue
        keyframe = draw(st.booleans())
        if codec in ("h264", "h265"):
            nals = draw(st.lists(st.binary(min_size=1, max_size=20), min_size=1, max_size=4))
            pts = dts + draw(st.integers(-100, 500))
            frames.append(VideoSample(nals, dts, pts, keyframe, track))
        else:
            # Not empty: a packet with no frame gives nothing (its own test).
            payload = draw(st.binary(min_size=1, max_size=20))
            frames.append(VideoSample(payload, dts, dts, keyframe, track))
    return frames


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(frame_sequences(), st.booleans())
def test_frames_survive_mux_and_demux(frames: list[Any], enhanced: bool) -> None:
    muxer = Muxer(enhanced=enhanced)
    demuxer = Demuxer()
    out: list[Any] = []
    for frame in frames:
        for timestamp, tag in muxer.mux(frame):
            data = tag.to_bytes()
            assert parse_tag(tag.tag_type, data) == tag
            out += demuxer.tag(tag.tag_type, timestamp, data)
    # Codecs without init data (mp3, speex, ac3) send no sequence header: the demuxer
    # announces them itself, right before their first sample.
    pending = {
        frame.track: frame
        for frame in frames
        if type(frame) is CodecConfig and frame.init_data is None
    }
    expected: list[Any] = []
    for frame in frames:
        if type(frame) is CodecConfig and frame.init_data is None:
            continue
        if type(frame) is AudioSample and frame.track in pending:
            expected.append(pending.pop(frame.track))
        expected.append(frame)
    assert out == expected


@settings(max_examples=300)
@given(st.binary(max_size=40), st.binary(max_size=40))
def test_demuxer_on_arbitrary_bodies(video: bytes, audio: bytes) -> None:
    demuxer = Demuxer()
    demuxer.video(0, avc(1, 0, 0, AVCC))
    demuxer.audio(0, b"\xaf\x00" + ASC)
    for call, data in ((demuxer.video, video), (demuxer.audio, audio)):
        with contextlib.suppress(RemoteProtocolError):
            call(1, data)
    # The fast path and the general path agree.
    if len(video) >= 1:
        body = avc(video[0] >> 4 & 7 or 1, 1, 0, video[1:])
        fast: Any
        try:
            fast = demuxer.video(5, body)
        except RemoteProtocolError as exc:
            fast = type(exc)
        slow: Any
        try:
            slow = demuxer._video_tag(5, parse_video_tag(body))
        except RemoteProtocolError as exc:
            slow = type(exc)
        assert fast == slow
