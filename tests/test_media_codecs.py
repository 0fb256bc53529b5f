"""Codec configuration records, parameter sets and NAL unit framing.

The SPS/VPS/PPS and av1C vectors below were produced by x264, x265 and libaom (through
FFmpeg 5.1) and are checked against the sizes FFmpeg encoded; the real-media tests
(test_media_ffmpeg.py, test_media_enhanced_streams.py) check the same parsers against
ffprobe on freshly generated streams.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_rtmp.core.errors import RemoteProtocolError
from trio_rtmp.media import codecs
from trio_rtmp.media._bits import BitReader, unescape_rbsp
from trio_rtmp.media.codecs import (
    MAX_RECORD_NAL_UNITS,
    AV1CodecConfigurationRecord,
    AVCDecoderConfigurationRecord,
    HEVCDecoderConfigurationRecord,
    HEVCNALUnitArray,
    VPCodecConfigurationRecord,
    build_audio_specific_config,
    build_avc_decoder_configuration_record,
    mp3_frame_info,
    parse_audio_specific_config,
    parse_av1_codec_configuration_record,
    parse_avc_decoder_configuration_record,
    parse_avc_sps,
    parse_codec_config,
    parse_flac_stream_info,
    parse_hevc_decoder_configuration_record,
    parse_hevc_sps,
    parse_opus_head,
    parse_vp_codec_configuration_record,
    parse_vvc_decoder_configuration_record,
    vp8_frame_size,
    vp9_frame_size,
)
from trio_rtmp.media.frames import AudioInfo, VideoInfo
from trio_rtmp.media.nal import (
    annexb_to_length_prefixed,
    join_annexb,
    join_length_prefixed,
    length_prefixed_to_annexb,
    split_annexb,
    split_length_prefixed,
)

X264_HIGH_720P_SPS = bytes.fromhex("6764001facd9405005bb0110000003001000000303c0f1831960")
X264_HIGH_PPS = bytes.fromhex("68ebe3cb22c0")
X264_BASELINE_322X242_SPS = bytes.fromhex("6742c00dd90150878888c044000003000400000300c83c50a920")
X264_HIGH422_10BIT_642X362_SPS = bytes.fromhex(
    "677a001eb6cd940a42fe227c0440000003004000000c83c58b6580"
)
X265_VPS = bytes.fromhex("40010c01ffff016000000300900000030000030078959809")
X265_1080P_SPS = bytes.fromhex(
    "420101016000000300900000030000030078a003c08010e596566924caf0168080000003008000000c84"
)
X265_MAIN10_650X370_SPS = bytes.fromhex(
    "42010102200000030090000003000003005aa005220179c92365959a4932bc05a02000000300200000030321"
)
X265_PPS = bytes.fromhex("4401c172b46240")
LIBAOM_AV1C_352X288 = bytes.fromhex("81000c000a0b00000004457e3e6d7c8020")


def _avcc(sps: bytes, pps: bytes, length_size: int = 4) -> bytes:
    return (
        bytes((1, sps[1], sps[2], sps[3], 0xFC | (length_size - 1), 0xE1))
        + struct.pack(">H", len(sps))
        + sps
        + b"\x01"
        + struct.pack(">H", len(pps))
        + pps
    )


# ----------------------------------------------------------------- bit reader


def test_bit_reader_exp_golomb() -> None:
    # 1 | 010 | 011 | 00100 | 00101 -> ue 0, 1, 2, 3, 4
    bits = BitReader(bytes([0b10100110, 0b01000010, 0b10000000]))
    assert [bits.ue() for _ in range(5)] == [0, 1, 2, 3, 4]
    bits = BitReader(bytes([0b01001100, 0b10000000]))
    assert [bits.se(), bits.se(), bits.se()] == [1, -1, 2]
    with pytest.raises(RemoteProtocolError):
        BitReader(b"\x00\x00\x00\x00\x00\x01").ue()  # 47 leading zeros
    with pytest.raises(RemoteProtocolError):
        BitReader(b"\x00").ue()
    with pytest.raises(RemoteProtocolError):
        BitReader(b"\xff").u(9)
    assert BitReader(b"\x00\x00\x00\x00\x01").uvlc() == (1 << 32) - 1


def test_unescape_rbsp() -> None:
    assert unescape_rbsp(b"\x00\x00\x03\x01") == b"\x00\x00\x01"
    assert unescape_rbsp(b"\x00\x00\x03\x00\x00\x03\x02") == b"\x00\x00\x00\x00\x02"
    assert unescape_rbsp(b"\x00\x03\x00\x00\x03") == b"\x00\x03\x00\x00"
    assert unescape_rbsp(b"abc") == b"abc"


# ----------------------------------------------------------------- H.264


def test_avc_sps_vectors() -> None:
    sps = parse_avc_sps(X264_HIGH_720P_SPS)
    assert (sps.width, sps.height, sps.profile_idc, sps.level_idc) == (1280, 720, 100, 31)
    assert sps.frame_rate == 30.0
    assert sps.info == VideoInfo(
        width=1280,
        height=720,
        profile="High",
        level="3.1",
        bit_depth=8,
        chroma_format="4:2:0",
        frame_rate=30.0,
    )
    sps = parse_avc_sps(X264_BASELINE_322X242_SPS)
    assert (sps.width, sps.height) == (322, 242)
    assert sps.info.profile == "Constrained Baseline"
    sps = parse_avc_sps(X264_HIGH422_10BIT_642X362_SPS)
    assert (sps.width, sps.height, sps.bit_depth_luma) == (642, 362, 10)
    assert sps.info.chroma_format == "4:2:2"
    assert sps.info.profile == "High 4:2:2"


def test_avc_record_round_trip_and_build() -> None:
    data = _avcc(X264_HIGH_720P_SPS, X264_HIGH_PPS)
    record = parse_avc_decoder_configuration_record(data)
    assert record.sps == (X264_HIGH_720P_SPS,) and record.pps == (X264_HIGH_PPS,)
    assert record.nal_length_size == 4 and (record.width, record.height) == (1280, 720)
    assert record.to_bytes() == data
    built = build_avc_decoder_configuration_record([X264_HIGH_720P_SPS], [X264_HIGH_PPS])
    # High profile: the chroma format and bit depth extension is written.
    assert built.to_bytes() == data + b"\xfd\xf8\xf8\x00"
    assert parse_avc_decoder_configuration_record(built.to_bytes()) == built
    assert parse_codec_config("h264", data) == record
    two = _avcc(X264_BASELINE_322X242_SPS, b"\x68\xcb\x83\xcb\x20", length_size=2)
    assert parse_avc_decoder_configuration_record(two).nal_length_size == 2


def test_avc_record_errors() -> None:
    good = _avcc(X264_HIGH_720P_SPS, X264_HIGH_PPS)
    for bad in (
        b"",
        b"\x01\x64\x00",
        b"\x02" + good[1:],  # version 2
        good[:-3],  # PPS truncated
        good[:8],  # SPS truncated
        good[:5] + b"\xe1\x00\x00" + good[8:],  # zero-length SPS
        good[:6] + b"\x00\x04\x68\x01\x02\x03\x00",  # an SPS entry that is a PPS
    ):
        with pytest.raises(RemoteProtocolError):
            parse_avc_decoder_configuration_record(bad)
    # A damaged SPS inside an otherwise good record.
    with pytest.raises(RemoteProtocolError):
        parse_avc_decoder_configuration_record(_avcc(X264_HIGH_720P_SPS[:6], X264_HIGH_PPS))


# ----------------------------------------------------------------- H.265


def _hvcc() -> HEVCDecoderConfigurationRecord:
    return HEVCDecoderConfigurationRecord(
        general_profile_space=0,
        general_tier_flag=0,
        general_profile_idc=1,
        general_profile_compatibility_flags=0x60000000,
        general_constraint_indicator_flags=0x900000000000,
        general_level_idc=120,
        chroma_format_idc=1,
        avg_frame_rate=25 * 256,
        num_temporal_layers=1,
        temporal_id_nested=True,
        nal_length_size=4,
        arrays=(
            HEVCNALUnitArray(complete=True, nal_unit_type=32, nal_units=(X265_VPS,)),
            HEVCNALUnitArray(complete=True, nal_unit_type=33, nal_units=(X265_1080P_SPS,)),
            HEVCNALUnitArray(complete=True, nal_unit_type=34, nal_units=(X265_PPS,)),
        ),
    )


def test_hevc_sps_vectors() -> None:
    sps = parse_hevc_sps(X265_1080P_SPS)
    assert (sps.width, sps.height, sps.profile_idc, sps.level_idc) == (1920, 1080, 1, 120)
    assert sps.info.level == "4" and sps.info.profile == "Main"
    sps = parse_hevc_sps(X265_MAIN10_650X370_SPS)
    assert (sps.width, sps.height, sps.bit_depth_luma) == (650, 370, 10)
    assert sps.info.profile == "Main 10" and sps.info.level == "3"


def test_hevc_record_round_trip() -> None:
    record = _hvcc()
    data = record.to_bytes()
    parsed = parse_hevc_decoder_configuration_record(data)
    assert parsed.width == 1920 and parsed.height == 1080
    assert parsed.nal_units(33) == [X265_1080P_SPS]
    assert parsed.info.frame_rate == 25.0
    assert attrs_equal_except(parsed, record, "sps_info")
    assert parsed.to_bytes() == data
    for cut in (0, 5, 22, 25, len(data) - 1):
        with pytest.raises(RemoteProtocolError):
            parse_hevc_decoder_configuration_record(data[:cut])


def attrs_equal_except(left: Any, right: Any, *names: str) -> bool:
    return attrs.evolve(left, **dict.fromkeys(names)) == attrs.evolve(right, **dict.fromkeys(names))


# ----------------------------------------------------------------- AV1, VP8/9


def test_av1_record() -> None:
    record = parse_av1_codec_configuration_record(LIBAOM_AV1C_352X288)
    assert (record.width, record.height) == (352, 288)
    assert record.info == VideoInfo(
        width=352, height=288, profile="Main", level="2.0", bit_depth=8, chroma_format="4:2:0"
    )
    assert record.to_bytes() == LIBAOM_AV1C_352X288
    bare = AV1CodecConfigurationRecord(
        seq_profile=1, seq_level_idx_0=8, initial_presentation_delay=3
    )
    assert parse_av1_codec_configuration_record(bare.to_bytes()) == bare
    assert bare.info.width is None
    for bad in (
        b"\x81\x00",
        b"\x01\x00\x0c\x00",
        LIBAOM_AV1C_352X288[:-2],
        b"\x81\x00\x0c\x00\x8a",
    ):
        with pytest.raises(RemoteProtocolError):
            parse_av1_codec_configuration_record(bad)


def test_vp_record_both_forms() -> None:
    record = VPCodecConfigurationRecord(profile=0, level=31, bit_depth=8, chroma_subsampling=1)
    data = record.to_bytes()
    assert data[:4] == b"\x01\x00\x00\x00" and len(data) == 12
    assert parse_vp_codec_configuration_record(data) == record
    bare = VPCodecConfigurationRecord(profile=1, level=40, bit_depth=10, full_box_header=False)
    assert parse_vp_codec_configuration_record(bare.to_bytes()) == bare
    assert bare.info.level == "4" and record.info.level == "3.1"
    for bad in (b"", b"\x00" * 7, data + b"x", data[:-1]):
        with pytest.raises(RemoteProtocolError):
            parse_vp_codec_configuration_record(bad)


def test_vp_frame_sizes() -> None:
    # VP8 keyframe: frame tag (key), start code, 176x144.
    vp8 = b"\x50\x42\x00\x9d\x01\x2a\xb0\x00\x90\x00"
    assert vp8_frame_size(vp8) == (176, 144)
    assert vp8_frame_size(b"\x51" + vp8[1:]) is None
    # VP9 profile 0 keyframe, 8-bit BT.601, 352x288: frame marker, profile bits,
    # show_existing_frame, frame_type (key), show_frame, error_resilient_mode, sync
    # code, color space and range, then the size minus one.
    bits = "10" + "0" + "0" + "0" + "0" + "1" + "0" + format(0x498342, "024b") + "001" + "0"
    bits += format(351, "016b") + format(287, "016b")
    bits += "0" * (-len(bits) % 8)
    frame = int(bits, 2).to_bytes(len(bits) // 8, "big")
    assert vp9_frame_size(frame) == (352, 288)
    assert vp9_frame_size(b"\x86") is None  # inter frame
    assert vp9_frame_size(b"") is None


# ----------------------------------------------------------------- audio


def _vvcc() -> bytes:
    """A vvcC with every optional part: PTL, two constraint bytes, two sublayer levels,
    a sub-profile, an SPS array and a DCI array (which has no NAL unit count)."""
    return b"".join(
        [
            b"\xff",  # reserved 11111, LengthSizeMinusOne 3, ptl_present_flag
            struct.pack(">H", (0 << 7) | (3 << 4) | (1 << 2) | 3),  # ols, sublayers 3, 4:4:4
            b"\x5f",  # bit_depth_minus8 2, reserved 11111
            b"\x02",  # num_bytes_constraint_info
            bytes([(33 << 1) | 1, 83]),  # Main 10 4:4:4, high tier; level 5.1
            b"\x80\x00",  # frame-only constraint, no others
            b"\xc0",  # sublayer levels present for sublayers 1 and 0
            b"\x50\x40",  # their levels
            b"\x01\x00\x00\x00\x01",  # one sub-profile
            struct.pack(">HHH", 1920, 1080, 25 * 256),
            b"\x02",  # two arrays
            b"\x8f\x00\x01\x00\x03\x00\x79\x01",  # complete SPS array, one NAL unit
            b"\x0d\x00\x02\x00\x69",  # DCI: a NAL unit, no count
        ]
    )


def test_vvc_record() -> None:
    record = parse_vvc_decoder_configuration_record(_vvcc())
    assert (record.nal_length_size, record.num_sublayers, record.general_tier_flag) == (4, 3, 1)
    assert [(a.complete, a.nal_unit_type, a.nal_units) for a in record.arrays] == [
        (True, 15, (b"\x00\x79\x01",)),
        (False, 13, (b"\x00\x69",)),
    ]
    assert record.info == VideoInfo(
        width=1920,
        height=1080,
        profile="Main 10 4:4:4",
        level="5.1",
        bit_depth=10,
        chroma_format="4:4:4",
        frame_rate=25.0,
    )
    assert parse_codec_config("h266", _vvcc()) == record
    # Without the profile, tier and level part: only the arrays.
    bare = parse_vvc_decoder_configuration_record(b"\xf8\x00")
    assert (bare.nal_length_size, bare.ptl_present, bare.arrays) == (1, False, ())
    assert bare.info == VideoInfo()
    for bad in (b"", b"\x07\x00", b"\xfd\x00", b"\xfe", b"\xfe\x01\x0f"):
        with pytest.raises(RemoteProtocolError):
            parse_vvc_decoder_configuration_record(bad)
    # Every cut short of the whole record is an error, never a wrong value.
    for cut in range(len(_vvcc())):
        with pytest.raises(RemoteProtocolError):
            parse_vvc_decoder_configuration_record(_vvcc()[:cut])


def test_hevc_and_vvc_records_hold_a_bounded_number_of_nal_units() -> None:
    # The counts in the record allow 16 million 2-byte entries: each an object and a
    # turn of the loop.  More than MAX_RECORD_NAL_UNITS in all is a malformed record.
    def hevc(count: int) -> bytes:
        arrays = tuple(
            HEVCNALUnitArray(complete=True, nal_unit_type=39, nal_units=(b"\x4e",) * half)
            for half in (1, count - 1)
        )
        return attrs.evolve(_hvcc(), arrays=arrays).to_bytes()

    def vvc(count: int) -> bytes:
        arrays = b"".join(b"\x8f" + n.to_bytes(2, "big") + b"\x00\x01x" * n for n in (1, count - 1))
        return b"\xf8\x02" + arrays

    assert MAX_RECORD_NAL_UNITS == 1024
    record = parse_hevc_decoder_configuration_record(hevc(1024))
    assert sum(len(a.nal_units) for a in record.arrays) == 1024
    assert (
        sum(len(a.nal_units) for a in parse_vvc_decoder_configuration_record(vvc(1024)).arrays)
        == 1024
    )
    for parse, make in (
        (parse_hevc_decoder_configuration_record, hevc),
        (parse_vvc_decoder_configuration_record, vvc),
    ):
        with pytest.raises(RemoteProtocolError, match="more than 1024 NAL units"):
            parse(make(1025))
        # Refused from the counts, before any of the entries is read.
        with pytest.raises(RemoteProtocolError, match="more than 1024 NAL units"):
            parse(make(1025)[:40])
    # An av1C's OBUs likewise: here padding OBUs (type 15, size 0) before the
    # sequence header.
    head, sequence_header = LIBAOM_AV1C_352X288[:4], LIBAOM_AV1C_352X288[4:]
    padded = head + b"\x7a\x00" * 1023 + sequence_header
    assert parse_av1_codec_configuration_record(padded).sequence_header is not None
    with pytest.raises(RemoteProtocolError, match="more than 1024 OBUs"):
        parse_av1_codec_configuration_record(head + b"\x7a\x00" * 1024 + sequence_header)


def test_audio_specific_config() -> None:
    lc = parse_audio_specific_config(b"\x12\x10")  # AAC LC, 44.1 kHz, stereo
    assert (lc.object_type, lc.sample_rate, lc.channels) == (2, 44100, 2)
    assert lc.info == AudioInfo(sample_rate=44100, channels=2, profile="LC")
    assert lc.to_bytes() == b"\x12\x10"
    # HE-AAC with explicit SBR: object type 5, 24 kHz core, 48 kHz output.
    he = parse_audio_specific_config(bytes.fromhex("2b098800"))
    assert he.object_type == 5 and he.info.sample_rate == 48000 and he.info.profile == "HE-AAC"
    assert build_audio_specific_config(2, 44100, 2) == b"\x12\x10"
    assert build_audio_specific_config(2, 48000, 1) == b"\x11\x88"
    explicit = build_audio_specific_config(2, 12345, 6)
    assert parse_audio_specific_config(explicit).sample_rate == 12345
    high = build_audio_specific_config(42, 16000, 1)
    assert parse_audio_specific_config(high).object_type == 42
    for bad in (b"", b"\x12", b"\x07\x10", b"\x16\x80", b"\x17\x80\x00\x00\x00"):
        with pytest.raises(RemoteProtocolError):
            parse_audio_specific_config(bad)
    with pytest.raises(ValueError):
        build_audio_specific_config(0, 44100, 2)


def test_opus_head() -> None:
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 2, 312, 48000, 0, 0)
    parsed = parse_opus_head(head)
    assert (parsed.channel_count, parsed.pre_skip, parsed.input_sample_rate) == (2, 312, 48000)
    assert parsed.info == AudioInfo(sample_rate=48000, channels=2)
    surround = b"OpusHead" + struct.pack("<BBHIhB", 1, 6, 312, 48000, 0, 1) + b"\x04\x02"
    parsed = parse_opus_head(surround + bytes([0, 4, 1, 2, 3, 5]))
    assert (parsed.stream_count, parsed.coupled_count, parsed.channel_mapping) == (
        4,
        2,
        bytes([0, 4, 1, 2, 3, 5]),
    )
    for bad in (
        head[:18],
        b"OpusTags" + head[8:],
        head[:8] + b"\x10" + head[9:],
        head[:9] + b"\x00" + head[10:],
        b"OpusHead" + struct.pack("<BBHIhB", 1, 3, 0, 48000, 0, 0),
        surround,
    ):
        with pytest.raises(RemoteProtocolError):
            parse_opus_head(bad)


def _streaminfo(
    rate: int = 44100, channels: int = 2, bits: int = 16, samples: int = 88200
) -> bytes:
    packed = (rate << 44) | ((channels - 1) << 41) | ((bits - 1) << 36) | samples
    return (
        struct.pack(">HH", 4096, 4096)
        + b"\x00\x00\x0e\x00\x31\x00"
        + packed.to_bytes(8, "big")
        + bytes(16)
    )


def test_flac_stream_info() -> None:
    body = _streaminfo()
    info = parse_flac_stream_info(b"fLaC\x80\x00\x00\x22" + body)
    assert (info.sample_rate, info.channels, info.bits_per_sample, info.total_samples) == (
        44100,
        2,
        16,
        88200,
    )
    assert info.info == AudioInfo(sample_rate=44100, channels=2, sample_size=16)
    assert parse_flac_stream_info(body) == info
    # More metadata blocks may follow STREAMINFO.
    assert parse_flac_stream_info(b"fLaC\x00\x00\x00\x22" + body + b"\x84\x00\x00\x00") == info
    for bad in (
        b"fLaC",
        b"fLaC\x81\x00\x00\x22" + body,
        b"fLaC\x80\x00\x00\x21" + body[:-1],
        b"fLaC\x80\x00\x00\x22" + body[:-1],
        body[:-1],
        _streaminfo(rate=0),
    ):
        with pytest.raises(RemoteProtocolError):
            parse_flac_stream_info(bad)


def test_mp3_frame_info() -> None:
    assert mp3_frame_info(b"\xff\xfb\x90\x64") == AudioInfo(sample_rate=44100, channels=2)
    assert mp3_frame_info(b"\xff\xfb\x94\xc4") == AudioInfo(sample_rate=48000, channels=1)
    assert mp3_frame_info(b"\xff\xf3\x98\xc4") == AudioInfo(sample_rate=16000, channels=1)
    assert mp3_frame_info(b"\xff\xe3\x98\xc4") == AudioInfo(sample_rate=8000, channels=1)
    for bad in (b"", b"\xff\xfb", b"\x00\x00\x00\x00", b"\xff\xeb\x90\x64", b"\xff\xfb\x9c\x64"):
        assert mp3_frame_info(bad) is None


# ----------------------------------------------------------------- robustness

PARSERS: list[Callable[[bytes], Any]] = [
    parse_avc_decoder_configuration_record,
    parse_hevc_decoder_configuration_record,
    parse_av1_codec_configuration_record,
    parse_vp_codec_configuration_record,
    parse_audio_specific_config,
    parse_opus_head,
    parse_flac_stream_info,
    parse_avc_sps,
    parse_hevc_sps,
    codecs.parse_av1_sequence_header,
    codecs.parse_vvc_decoder_configuration_record,
]
SEEDS = [
    _avcc(X264_HIGH_720P_SPS, X264_HIGH_PPS),
    _hvcc().to_bytes(),
    LIBAOM_AV1C_352X288,
    b"\x01\x00\x00\x00\x00\x1f\x81\x02\x02\x02\x00\x00",
    b"\x12\x10",
    b"OpusHead" + struct.pack("<BBHIhB", 1, 2, 312, 48000, 0, 0),
    b"fLaC\x80\x00\x00\x22" + _streaminfo(),
    X264_HIGH422_10BIT_642X362_SPS,
    X265_1080P_SPS,
    LIBAOM_AV1C_352X288[6:],
    _vvcc(),
]


@settings(max_examples=400)
@given(st.binary(max_size=80))
def test_record_parsers_only_raise_protocol_errors(data: bytes) -> None:
    for parser in PARSERS:
        with contextlib.suppress(RemoteProtocolError):
            parser(data)
    vp8_frame_size(data)
    vp9_frame_size(data)
    mp3_frame_info(data)


@settings(max_examples=300)
@given(st.data())
def test_record_parsers_on_mutated_records(data: Any) -> None:
    index = data.draw(st.integers(0, len(PARSERS) - 1))
    seed = bytearray(SEEDS[index])
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(seed) - 1))
        seed[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(seed)))
    for candidate in (bytes(seed), bytes(seed[:cut])):
        with contextlib.suppress(RemoteProtocolError):
            PARSERS[index](candidate)


@settings(max_examples=200)
@given(
    st.integers(0, 255),
    st.integers(0, 255),
    st.integers(0, 255),
    st.sampled_from([1, 2, 4]),
    st.lists(st.binary(min_size=1, max_size=20), max_size=3),
    st.lists(st.binary(min_size=1, max_size=20), max_size=3),
    st.binary(max_size=6),
)
def test_avc_record_hypothesis_round_trip(
    profile: int,
    compatibility: int,
    level: int,
    length_size: int,
    sps: list[bytes],
    pps: list[bytes],
    extension: bytes,
) -> None:
    sps = [b"\x67" + nal for nal in sps]
    record = AVCDecoderConfigurationRecord(
        profile_indication=profile,
        profile_compatibility=compatibility,
        level_indication=level,
        nal_length_size=length_size,
        sps=(),
        pps=tuple(pps),
        extension=extension,
    )
    assert parse_avc_decoder_configuration_record(record.to_bytes()) == record
    with_sps = AVCDecoderConfigurationRecord(
        profile_indication=profile,
        profile_compatibility=compatibility,
        level_indication=level,
        nal_length_size=length_size,
        sps=tuple(sps),
        pps=tuple(pps),
        extension=extension,
    )
    try:
        parsed = parse_avc_decoder_configuration_record(with_sps.to_bytes())
    except RemoteProtocolError:
        return  # random SPS bytes rarely form an SPS
    assert parsed.sps == with_sps.sps and parsed.pps == with_sps.pps


# ----------------------------------------------------------------- NAL framing


@settings(max_examples=300)
@given(st.lists(st.binary(min_size=1, max_size=300), max_size=6), st.sampled_from([1, 2, 3, 4]))
def test_length_prefixed_round_trip(nals: list[bytes], length_size: int) -> None:
    nals = [nal[: (1 << (8 * length_size)) - 1] for nal in nals]
    data = join_length_prefixed(nals, length_size)
    assert split_length_prefixed(data, length_size) == nals
    assert split_length_prefixed(b"xyz" + data, length_size, 3) == nals
    assert split_length_prefixed(data, length_size, max_units=max(len(nals), 1)) == nals
    if data:
        with pytest.raises(RemoteProtocolError):
            split_length_prefixed(data[:-1], length_size)
        with pytest.raises(RemoteProtocolError, match=f"more than {len(nals) - 1} NAL units"):
            split_length_prefixed(data, length_size, max_units=len(nals) - 1)


@settings(max_examples=300)
@given(
    st.lists(
        st.binary(min_size=1, max_size=40).filter(
            lambda nal: b"\x00\x00" not in nal and not nal.endswith(b"\x00")
        ),
        max_size=6,
    )
)
def test_annexb_round_trip(nals: list[bytes]) -> None:
    data = join_annexb(nals)
    if nals:
        assert split_annexb(data) == nals
        assert split_annexb(data, max_units=len(nals)) == nals
        with pytest.raises(RemoteProtocolError, match=f"more than {len(nals) - 1} NAL units"):
            split_annexb(data, max_units=len(nals) - 1)
        assert split_annexb(b"\x00\x00\x01" + b"\x00\x00\x01".join(nals)) == nals
        converted = annexb_to_length_prefixed(data)
        assert split_length_prefixed(converted) == nals
        assert length_prefixed_to_annexb(converted) == data


def test_empty_entries_count_toward_max_units() -> None:
    # Empty entries give no NAL unit but cost a turn each: they count.
    data = bytes(4 * 10) + b"\x00\x00\x00\x01x"
    assert split_length_prefixed(data, max_units=11) == [b"x"]
    with pytest.raises(RemoteProtocolError, match="more than 10 NAL units"):
        split_length_prefixed(data, max_units=10)
    with pytest.raises(RemoteProtocolError, match="more than 10 NAL units"):
        split_annexb(b"\x00\x00\x01" * 11 + b"x", max_units=10)


def test_nal_framing_errors() -> None:
    with pytest.raises(ValueError):
        split_annexb(b"\x67\x64")
    with pytest.raises(ValueError):
        join_length_prefixed([bytes(256)], 1)
    with pytest.raises(RemoteProtocolError):
        split_length_prefixed(b"\x00\x00\x00\x05abc")
    with pytest.raises(RemoteProtocolError):
        split_length_prefixed(b"\x00\x00", 4)
    with pytest.raises(RemoteProtocolError):
        split_length_prefixed(b"\x05ab", 1)
    # Zero-length entries are skipped.
    assert split_length_prefixed(b"\x00\x00\x00\x00\x00\x00\x00\x01x") == [b"x"]
    # Annex B with 4-byte start codes and trailing zeros.
    assert split_annexb(b"\x00\x00\x00\x01\x67\x01\x00\x00\x00\x00\x01\x68\x02\x00") == [
        b"\x67\x01",
        b"\x68\x02",
    ]
