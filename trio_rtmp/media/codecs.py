"""Codec configuration records, parsed far enough to say what a stream is.

A sequence header (Enhanced RTMP SequenceStart, legacy AVC/AAC sequence header)
carries the codec's decoder configuration record.  The demuxer hands that record on
untouched as :attr:`CodecConfig.init_data`; this module reads it:

=====================================  ==========================================
record                                 parser
=====================================  ==========================================
AVCDecoderConfigurationRecord (avcC)   :func:`parse_avc_decoder_configuration_record`
HEVCDecoderConfigurationRecord (hvcC)  :func:`parse_hevc_decoder_configuration_record`
AV1CodecConfigurationRecord (av1C)     :func:`parse_av1_codec_configuration_record`
VPCodecConfigurationRecord (vpcC)      :func:`parse_vp_codec_configuration_record`
AudioSpecificConfig (AAC)              :func:`parse_audio_specific_config`
OpusHead (RFC 7845 ID header)          :func:`parse_opus_head`
FLAC ``fLaC`` + STREAMINFO             :func:`parse_flac_stream_info`
=====================================  ==========================================

plus the H.264 and H.265 sequence parameter sets (:func:`parse_avc_sps`,
:func:`parse_hevc_sps`) and the AV1 sequence header OBU, from which the picture size
comes.  Every record class has an ``info`` property giving a
:class:`~trio_rtmp.media.frames.VideoInfo` or :class:`~trio_rtmp.media.frames.AudioInfo`,
and :func:`parse_codec_config` picks the parser by codec name.

Bad records raise :class:`~trio_rtmp.core.errors.RemoteProtocolError`, never anything
else.  The AVC, HEVC, AV1 and VP records and the AudioSpecificConfig can also be
written (``to_bytes()``), which the muxer and publishers use.
"""

from __future__ import annotations

import struct

import attrs

from ..core.errors import RemoteProtocolError
from ._bits import BitReader, unescape_rbsp
from .frames import AudioInfo, VideoInfo

__all__ = [
    "MAX_RECORD_NAL_UNITS",
    "AACAudioSpecificConfig",
    "AV1CodecConfigurationRecord",
    "AV1SequenceHeader",
    "AVCDecoderConfigurationRecord",
    "AVCSequenceParameterSet",
    "FlacStreamInfo",
    "HEVCDecoderConfigurationRecord",
    "HEVCNALUnitArray",
    "HEVCSequenceParameterSet",
    "VVCDecoderConfigurationRecord",
    "VVCNALUnitArray",
    "OpusHead",
    "VPCodecConfigurationRecord",
    "build_audio_specific_config",
    "build_avc_decoder_configuration_record",
    "mp3_frame_info",
    "parse_audio_specific_config",
    "parse_av1_codec_configuration_record",
    "parse_av1_sequence_header",
    "parse_avc_decoder_configuration_record",
    "parse_avc_sps",
    "parse_codec_config",
    "parse_flac_stream_info",
    "parse_hevc_decoder_configuration_record",
    "parse_hevc_sps",
    "parse_vvc_decoder_configuration_record",
    "parse_opus_head",
    "parse_vp_codec_configuration_record",
    "vp8_frame_size",
    "vp9_frame_size",
]

_CHROMA_FORMATS = {0: "4:0:0", 1: "4:2:0", 2: "4:2:2", 3: "4:4:4"}
# (SubWidthC, SubHeightC) by chroma_format_idc (H.264 table 6-1, H.265 table 6-1).
_CHROMA_SUBSAMPLING = {1: (2, 2), 2: (2, 1), 3: (1, 1)}


#: The most NAL units an HEVC or VVC configuration record may hold in all (and OBUs
#: an AV1 one).  Encoders
#: write 3 to 10 (parameter sets, SEI); the counts in the record allow 16 million
#: 2-byte entries, each an object and a turn of the parser's loop.
MAX_RECORD_NAL_UNITS = 1024


def _bad(what: str, why: str) -> RemoteProtocolError:
    return RemoteProtocolError(f"malformed {what}: {why}")


def _level_text(major: int, minor: int) -> str:
    return str(major) if minor == 0 else f"{major}.{minor}"


# --------------------------------------------------------------------------- H.264


_AVC_PROFILES = {
    44: "CAVLC 4:4:4 Intra",
    66: "Baseline",
    77: "Main",
    83: "Scalable Baseline",
    86: "Scalable High",
    88: "Extended",
    100: "High",
    110: "High 10",
    118: "Multiview High",
    122: "High 4:2:2",
    128: "Stereo High",
    144: "High 4:4:4",
    244: "High 4:4:4 Predictive",
}
# Profiles whose SPS carries chroma_format_idc and bit depths (H.264 7.3.2.1.1).
_AVC_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})


def _avc_profile_name(profile_idc: int, constraint_flags: int) -> str:
    if profile_idc == 66 and constraint_flags & 0x40:
        return "Constrained Baseline"
    return _AVC_PROFILES.get(profile_idc, str(profile_idc))


def _avc_level_text(level_idc: int, profile_idc: int, constraint_flags: int) -> str:
    if level_idc == 9 or (level_idc == 11 and constraint_flags & 0x10 and profile_idc in (66, 77)):
        return "1b"
    return _level_text(level_idc // 10, level_idc % 10)


@attrs.frozen(kw_only=True)
class AVCSequenceParameterSet:
    """The parts of an H.264 sequence parameter set that describe the picture."""

    #: profile_idc (66 Baseline, 77 Main, 100 High, ...).
    profile_idc: int
    #: The constraint_set0..5 flags byte.
    constraint_flags: int
    #: level_idc (31 = level 3.1).
    level_idc: int
    #: 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4.
    chroma_format_idc: int
    #: Bits per luma sample.
    bit_depth_luma: int
    #: Bits per chroma sample.
    bit_depth_chroma: int
    #: Picture width after cropping.
    width: int
    #: Picture height after cropping.
    height: int
    #: Frames per second from the VUI timing information, when present.
    frame_rate: float | None = None

    @property
    def info(self) -> VideoInfo:
        """The SPS as a :class:`VideoInfo`."""
        return VideoInfo(
            width=self.width,
            height=self.height,
            profile=_avc_profile_name(self.profile_idc, self.constraint_flags),
            level=_avc_level_text(self.level_idc, self.profile_idc, self.constraint_flags),
            bit_depth=self.bit_depth_luma,
            chroma_format=_CHROMA_FORMATS.get(self.chroma_format_idc),
            frame_rate=self.frame_rate,
        )


def _skip_scaling_list(bits: BitReader, size: int) -> None:
    last = 8
    following = 8
    for _ in range(size):
        if following:
            delta = bits.se()
            if not -128 <= delta <= 127:
                raise _bad("SPS", "scaling list delta out of range")
            following = (last + delta + 256) % 256
        last = following or last


def parse_avc_sps(nal: bytes) -> AVCSequenceParameterSet:
    """Parse an H.264 SPS NAL unit (with its one-byte NAL header) far enough for the size.

    Raises :class:`RemoteProtocolError` when the NAL is not a well-formed SPS.
    """
    if len(nal) < 4 or nal[0] & 0x1F != 7:
        raise _bad("SPS", "not an H.264 sequence parameter set NAL unit")
    bits = BitReader(unescape_rbsp(nal[1:]), "SPS")
    profile_idc = bits.u(8)
    constraint_flags = bits.u(8)
    level_idc = bits.u(8)
    if bits.ue() > 31:
        raise _bad("SPS", "seq_parameter_set_id out of range")
    chroma_format_idc = 1
    separate_colour_planes = False
    bit_depth_luma = bit_depth_chroma = 8
    if profile_idc in _AVC_HIGH_PROFILES:
        chroma_format_idc = bits.ue()
        if chroma_format_idc > 3:
            raise _bad("SPS", "chroma_format_idc out of range")
        if chroma_format_idc == 3:
            separate_colour_planes = bits.flag()
        bit_depth_luma = bits.ue() + 8
        bit_depth_chroma = bits.ue() + 8
        if bit_depth_luma > 14 or bit_depth_chroma > 14:
            raise _bad("SPS", "bit depth out of range")
        bits.skip(1)  # qpprime_y_zero_transform_bypass_flag
        if bits.flag():  # seq_scaling_matrix_present_flag
            for index in range(8 if chroma_format_idc != 3 else 12):
                if bits.flag():
                    _skip_scaling_list(bits, 16 if index < 6 else 64)
    if bits.ue() > 12:  # log2_max_frame_num_minus4
        raise _bad("SPS", "log2_max_frame_num out of range")
    pic_order_cnt_type = bits.ue()
    if pic_order_cnt_type == 0:
        if bits.ue() > 12:
            raise _bad("SPS", "log2_max_pic_order_cnt_lsb out of range")
    elif pic_order_cnt_type == 1:
        bits.skip(1)
        bits.se()
        bits.se()
        cycle = bits.ue()
        if cycle > 255:
            raise _bad("SPS", "num_ref_frames_in_pic_order_cnt_cycle out of range")
        for _ in range(cycle):
            bits.se()
    elif pic_order_cnt_type != 2:
        raise _bad("SPS", "pic_order_cnt_type out of range")
    bits.ue()  # max_num_ref_frames
    bits.skip(1)  # gaps_in_frame_num_value_allowed_flag
    width_in_mbs = bits.ue() + 1
    height_in_map_units = bits.ue() + 1
    frame_mbs_only = bits.flag()
    if not frame_mbs_only:
        bits.skip(1)  # mb_adaptive_frame_field_flag
    bits.skip(1)  # direct_8x8_inference_flag
    crop_left = crop_right = crop_top = crop_bottom = 0
    if bits.flag():  # frame_cropping_flag
        crop_left, crop_right, crop_top, crop_bottom = bits.ue(), bits.ue(), bits.ue(), bits.ue()
    chroma_array_type = 0 if separate_colour_planes else chroma_format_idc
    if chroma_array_type == 0:
        crop_unit_x, crop_unit_y = 1, 2 - frame_mbs_only
    else:
        sub_width, sub_height = _CHROMA_SUBSAMPLING[chroma_array_type]
        crop_unit_x, crop_unit_y = sub_width, sub_height * (2 - frame_mbs_only)
    width = width_in_mbs * 16 - (crop_left + crop_right) * crop_unit_x
    height = (2 - frame_mbs_only) * height_in_map_units * 16 - (
        crop_top + crop_bottom
    ) * crop_unit_y
    if not (0 < width <= 65536 and 0 < height <= 65536):
        raise _bad("SPS", f"picture size {width}x{height} out of range")
    frame_rate = None
    if bits.flag():  # vui_parameters_present_flag
        try:
            frame_rate = _avc_vui_frame_rate(bits)
        except RemoteProtocolError:
            # The VUI only adds the frame rate; a damaged VUI does not spoil the size.
            frame_rate = None
    return AVCSequenceParameterSet(
        profile_idc=profile_idc,
        constraint_flags=constraint_flags,
        level_idc=level_idc,
        chroma_format_idc=chroma_format_idc,
        bit_depth_luma=bit_depth_luma,
        bit_depth_chroma=bit_depth_chroma,
        width=width,
        height=height,
        frame_rate=frame_rate,
    )


def _avc_vui_frame_rate(bits: BitReader) -> float | None:
    if bits.flag() and bits.u(8) == 255:  # aspect_ratio_info_present_flag, Extended_SAR
        bits.skip(32)
    if bits.flag():  # overscan_info_present_flag
        bits.skip(1)
    if bits.flag():  # video_signal_type_present_flag
        bits.skip(4)
        if bits.flag():  # colour_description_present_flag
            bits.skip(24)
    if bits.flag():  # chroma_loc_info_present_flag
        bits.ue()
        bits.ue()
    if bits.flag():  # timing_info_present_flag
        num_units_in_tick = bits.u(32)
        time_scale = bits.u(32)
        if num_units_in_tick and time_scale:
            return time_scale / (2 * num_units_in_tick)
    return None


@attrs.frozen(kw_only=True)
class AVCDecoderConfigurationRecord:
    """An H.264 AVCDecoderConfigurationRecord (ISO/IEC 14496-15, 5.3.3.1).

    ``width``/``height``/``sps_info`` come from the first SPS (``None`` without one).
    ``extension`` holds the bytes after the PPS list (the High-profile chroma and bit
    depth fields and SPS extensions) as carried.
    """

    #: AVCProfileIndication.
    profile_indication: int
    #: profile_compatibility.
    profile_compatibility: int
    #: AVCLevelIndication.
    level_indication: int
    #: Size of the NAL unit length prefix in samples (1, 2 or 4).
    nal_length_size: int
    #: Sequence parameter set NAL units.
    sps: tuple[bytes, ...]
    #: Picture parameter set NAL units.
    pps: tuple[bytes, ...]
    #: Bytes after the PPS list, as carried.
    extension: bytes = b""
    #: The first SPS, parsed.
    sps_info: AVCSequenceParameterSet | None = None

    def __attrs_post_init__(self) -> None:
        for name in ("profile_indication", "profile_compatibility", "level_indication"):
            if not 0 <= getattr(self, name) <= 255:
                raise ValueError(f"{name} must fit in a byte")
        if self.nal_length_size not in (1, 2, 3, 4):
            raise ValueError("nal_length_size must be 1, 2, 3 or 4")
        if len(self.sps) > 31 or len(self.pps) > 255:
            raise ValueError("too many parameter sets")
        for nal in (*self.sps, *self.pps):
            if not 0 < len(nal) <= 0xFFFF:
                raise ValueError("parameter set NAL units must be 1..65535 bytes")

    @property
    def width(self) -> int | None:
        """Picture width from the first SPS."""
        return self.sps_info.width if self.sps_info else None

    @property
    def height(self) -> int | None:
        """Picture height from the first SPS."""
        return self.sps_info.height if self.sps_info else None

    @property
    def info(self) -> VideoInfo:
        """The record as a :class:`VideoInfo`."""
        if self.sps_info is not None:
            return self.sps_info.info
        return VideoInfo(
            profile=_avc_profile_name(self.profile_indication, self.profile_compatibility),
            level=_avc_level_text(
                self.level_indication, self.profile_indication, self.profile_compatibility
            ),
        )

    def to_bytes(self) -> bytes:
        """Serialize (reserved bits set to 1, as the standard asks)."""
        parts = [
            bytes(
                (
                    1,
                    self.profile_indication,
                    self.profile_compatibility,
                    self.level_indication,
                    0xFC | (self.nal_length_size - 1),
                    0xE0 | len(self.sps),
                )
            )
        ]
        parts.extend(len(nal).to_bytes(2, "big") + nal for nal in self.sps)
        parts.append(bytes((len(self.pps),)))
        parts.extend(len(nal).to_bytes(2, "big") + nal for nal in self.pps)
        parts.append(self.extension)
        return b"".join(parts)


def _read_nal_list(
    data: bytes, offset: int, count: int, what: str
) -> tuple[tuple[bytes, ...], int]:
    nals = []
    for _ in range(count):
        if offset + 2 > len(data):
            raise _bad(what, "parameter set list is truncated")
        size = int.from_bytes(data[offset : offset + 2], "big")
        offset += 2
        if size == 0 or offset + size > len(data):
            raise _bad(what, "parameter set length is zero or runs past the end")
        nals.append(bytes(data[offset : offset + size]))
        offset += size
    return tuple(nals), offset


def parse_avc_decoder_configuration_record(data: bytes) -> AVCDecoderConfigurationRecord:
    """Parse an AVCDecoderConfigurationRecord, including its first SPS."""
    what = "AVCDecoderConfigurationRecord"
    data = bytes(data)
    if len(data) < 7:
        raise _bad(what, "shorter than 7 bytes")
    if data[0] != 1:
        raise _bad(what, f"configurationVersion {data[0]} is not 1")
    nal_length_size = (data[4] & 3) + 1
    sps, offset = _read_nal_list(data, 6, data[5] & 0x1F, what)
    if offset >= len(data):
        raise _bad(what, "numOfPictureParameterSets is missing")
    pps, offset = _read_nal_list(data, offset + 1, data[offset], what)
    for nal in sps:
        if nal[0] & 0x1F != 7:
            raise _bad(what, "an SPS entry is not an SPS NAL unit")
    return AVCDecoderConfigurationRecord(
        profile_indication=data[1],
        profile_compatibility=data[2],
        level_indication=data[3],
        nal_length_size=nal_length_size,
        sps=sps,
        pps=pps,
        extension=data[offset:],
        sps_info=parse_avc_sps(sps[0]) if sps else None,
    )


def build_avc_decoder_configuration_record(
    sps: list[bytes], pps: list[bytes], *, nal_length_size: int = 4
) -> AVCDecoderConfigurationRecord:
    """Build the avcC for an H.264 stream from its SPS and PPS NAL units.

    This is what a publisher needs when its encoder (a camera, an Annex B file, PyAV
    without extradata) gives parameter sets in-band: split the stream with
    :func:`~trio_rtmp.media.nal.split_annexb`, pick NAL types 7 and 8, and build the
    record for the sequence header.  High profiles get the chroma format and bit depth
    extension fields.  Raises :class:`RemoteProtocolError` for a malformed SPS.
    """
    if not sps:
        raise _bad("AVCDecoderConfigurationRecord", "at least one SPS is needed")
    info = parse_avc_sps(sps[0])
    extension = b""
    if info.profile_idc in (100, 110, 122, 144):
        extension = bytes(
            (
                0xFC | info.chroma_format_idc,
                0xF8 | (info.bit_depth_luma - 8),
                0xF8 | (info.bit_depth_chroma - 8),
                0,
            )
        )
    return AVCDecoderConfigurationRecord(
        profile_indication=info.profile_idc,
        profile_compatibility=info.constraint_flags,
        level_indication=info.level_idc,
        nal_length_size=nal_length_size,
        sps=tuple(sps),
        pps=tuple(pps),
        extension=extension,
        sps_info=info,
    )


# --------------------------------------------------------------------------- H.265

_HEVC_PROFILES = {
    1: "Main",
    2: "Main 10",
    3: "Main Still Picture",
    4: "Rext",
    5: "High Throughput",
    9: "Screen Content",
}


def _hevc_level_text(level_idc: int) -> str:
    return _level_text(level_idc // 30, (level_idc % 30) // 3)


@attrs.frozen(kw_only=True)
class HEVCSequenceParameterSet:
    """The parts of an H.265 sequence parameter set that describe the picture."""

    #: general_profile_idc (1 Main, 2 Main 10, ...).
    profile_idc: int
    #: general_tier_flag (0 Main tier, 1 High tier).
    tier_flag: int
    #: general_level_idc (30 x level: 93 = level 3.1).
    level_idc: int
    #: 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4.
    chroma_format_idc: int
    #: Bits per luma sample.
    bit_depth_luma: int
    #: Bits per chroma sample.
    bit_depth_chroma: int
    #: Picture width after the conformance window.
    width: int
    #: Picture height after the conformance window.
    height: int

    @property
    def info(self) -> VideoInfo:
        """The SPS as a :class:`VideoInfo`."""
        return VideoInfo(
            width=self.width,
            height=self.height,
            profile=_HEVC_PROFILES.get(self.profile_idc, str(self.profile_idc)),
            level=_hevc_level_text(self.level_idc),
            bit_depth=self.bit_depth_luma,
            chroma_format=_CHROMA_FORMATS.get(self.chroma_format_idc),
        )


def parse_hevc_sps(nal: bytes) -> HEVCSequenceParameterSet:
    """Parse an H.265 SPS NAL unit (with its two-byte NAL header) far enough for the size."""
    if len(nal) < 3 or (nal[0] >> 1) & 0x3F != 33:
        raise _bad("SPS", "not an H.265 sequence parameter set NAL unit")
    bits = BitReader(unescape_rbsp(nal[2:]), "SPS")
    bits.skip(4)  # sps_video_parameter_set_id
    max_sub_layers_minus1 = bits.u(3)
    if max_sub_layers_minus1 > 6:
        raise _bad("SPS", "sps_max_sub_layers_minus1 out of range")
    bits.skip(1)  # sps_temporal_id_nesting_flag
    # profile_tier_level(1, sps_max_sub_layers_minus1)
    bits.skip(2)  # general_profile_space
    tier_flag = bits.u(1)
    profile_idc = bits.u(5)
    bits.skip(32 + 48)  # compatibility flags, constraint flags
    level_idc = bits.u(8)
    present = [(bits.flag(), bits.flag()) for _ in range(max_sub_layers_minus1)]
    if max_sub_layers_minus1:
        bits.skip(2 * (8 - max_sub_layers_minus1))
    for profile_present, level_present in present:
        bits.skip((88 if profile_present else 0) + (8 if level_present else 0))
    if bits.ue() > 15:
        raise _bad("SPS", "sps_seq_parameter_set_id out of range")
    chroma_format_idc = bits.ue()
    if chroma_format_idc > 3:
        raise _bad("SPS", "chroma_format_idc out of range")
    separate_colour_planes = chroma_format_idc == 3 and bits.flag()
    width = bits.ue()
    height = bits.ue()
    if bits.flag():  # conformance_window_flag
        left, right, top, bottom = bits.ue(), bits.ue(), bits.ue(), bits.ue()
        chroma_array_type = 0 if separate_colour_planes else chroma_format_idc
        sub_width, sub_height = _CHROMA_SUBSAMPLING.get(chroma_array_type, (1, 1))
        width -= sub_width * (left + right)
        height -= sub_height * (top + bottom)
    bit_depth_luma = bits.ue() + 8
    bit_depth_chroma = bits.ue() + 8
    if bit_depth_luma > 16 or bit_depth_chroma > 16:
        raise _bad("SPS", "bit depth out of range")
    if not (0 < width <= 65536 and 0 < height <= 65536):
        raise _bad("SPS", f"picture size {width}x{height} out of range")
    return HEVCSequenceParameterSet(
        profile_idc=profile_idc,
        tier_flag=tier_flag,
        level_idc=level_idc,
        chroma_format_idc=chroma_format_idc,
        bit_depth_luma=bit_depth_luma,
        bit_depth_chroma=bit_depth_chroma,
        width=width,
        height=height,
    )


@attrs.frozen(kw_only=True)
class HEVCNALUnitArray:
    """One array of an hvcC: NAL units of one type (VPS 32, SPS 33, PPS 34, SEI 39...)."""

    #: array_completeness.
    complete: bool
    #: NAL_unit_type (6 bits).
    nal_unit_type: int
    #: The NAL units, with their two-byte NAL headers.
    nal_units: tuple[bytes, ...]

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.nal_unit_type <= 63:
            raise ValueError("nal_unit_type must be 0..63")
        if len(self.nal_units) > 0xFFFF:
            raise ValueError("too many NAL units")
        for nal in self.nal_units:
            if len(nal) > 0xFFFF:
                raise ValueError("NAL units in an hvcC are at most 65535 bytes")


@attrs.frozen(kw_only=True)
class HEVCDecoderConfigurationRecord:
    """An H.265 HEVCDecoderConfigurationRecord (ISO/IEC 14496-15, 8.3.2.1).

    ``sps_info`` (and ``width``/``height``) come from the first SPS in the arrays.
    """

    #: general_profile_space (2 bits).
    general_profile_space: int
    #: general_tier_flag.
    general_tier_flag: int
    #: general_profile_idc (5 bits).
    general_profile_idc: int
    #: general_profile_compatibility_flags (32 bits).
    general_profile_compatibility_flags: int
    #: general_constraint_indicator_flags (48 bits).
    general_constraint_indicator_flags: int
    #: general_level_idc.
    general_level_idc: int
    #: min_spatial_segmentation_idc (12 bits).
    min_spatial_segmentation_idc: int = 0
    #: parallelismType (2 bits).
    parallelism_type: int = 0
    #: chroma_format_idc (2 bits).
    chroma_format_idc: int = 1
    #: bitDepthLumaMinus8 + 8.
    bit_depth_luma: int = 8
    #: bitDepthChromaMinus8 + 8.
    bit_depth_chroma: int = 8
    #: avgFrameRate in frames per 256 seconds (0 = unspecified).
    avg_frame_rate: int = 0
    #: constantFrameRate (2 bits).
    constant_frame_rate: int = 0
    #: numTemporalLayers (3 bits).
    num_temporal_layers: int = 0
    #: temporalIdNested.
    temporal_id_nested: bool = False
    #: Size of the NAL unit length prefix in samples (1, 2 or 4).
    nal_length_size: int = 4
    #: The parameter set arrays.
    arrays: tuple[HEVCNALUnitArray, ...] = ()
    #: The first SPS, parsed.
    sps_info: HEVCSequenceParameterSet | None = None

    def __attrs_post_init__(self) -> None:
        limits = {
            "general_profile_space": 3,
            "general_tier_flag": 1,
            "general_profile_idc": 31,
            "general_profile_compatibility_flags": 0xFFFFFFFF,
            "general_constraint_indicator_flags": (1 << 48) - 1,
            "general_level_idc": 255,
            "min_spatial_segmentation_idc": 0xFFF,
            "parallelism_type": 3,
            "chroma_format_idc": 3,
            "avg_frame_rate": 0xFFFF,
            "constant_frame_rate": 3,
            "num_temporal_layers": 7,
        }
        for name, top in limits.items():
            if not 0 <= getattr(self, name) <= top:
                raise ValueError(f"{name} out of range")
        if not 8 <= self.bit_depth_luma <= 15 or not 8 <= self.bit_depth_chroma <= 15:
            raise ValueError("bit depths must be 8..15")
        if self.nal_length_size not in (1, 2, 3, 4):
            raise ValueError("nal_length_size must be 1, 2, 3 or 4")
        if len(self.arrays) > 255:
            raise ValueError("at most 255 arrays")

    def nal_units(self, nal_unit_type: int) -> list[bytes]:
        """Every NAL unit of one type (32 VPS, 33 SPS, 34 PPS) in the arrays."""
        return [
            nal
            for array in self.arrays
            if array.nal_unit_type == nal_unit_type
            for nal in array.nal_units
        ]

    @property
    def width(self) -> int | None:
        """Picture width from the first SPS."""
        return self.sps_info.width if self.sps_info else None

    @property
    def height(self) -> int | None:
        """Picture height from the first SPS."""
        return self.sps_info.height if self.sps_info else None

    @property
    def info(self) -> VideoInfo:
        """The record as a :class:`VideoInfo`."""
        frame_rate = self.avg_frame_rate / 256 if self.avg_frame_rate else None
        if self.sps_info is not None:
            return attrs.evolve(self.sps_info.info, frame_rate=frame_rate)
        return VideoInfo(
            profile=_HEVC_PROFILES.get(self.general_profile_idc, str(self.general_profile_idc)),
            level=_hevc_level_text(self.general_level_idc),
            bit_depth=self.bit_depth_luma,
            chroma_format=_CHROMA_FORMATS.get(self.chroma_format_idc),
            frame_rate=frame_rate,
        )

    def to_bytes(self) -> bytes:
        """Serialize (reserved bits set to 1, as the standard asks)."""
        head = struct.pack(
            ">BBI6sBHBBBBHBB",
            1,
            (self.general_profile_space << 6)
            | (self.general_tier_flag << 5)
            | self.general_profile_idc,
            self.general_profile_compatibility_flags,
            self.general_constraint_indicator_flags.to_bytes(6, "big"),
            self.general_level_idc,
            0xF000 | self.min_spatial_segmentation_idc,
            0xFC | self.parallelism_type,
            0xFC | self.chroma_format_idc,
            0xF8 | (self.bit_depth_luma - 8),
            0xF8 | (self.bit_depth_chroma - 8),
            self.avg_frame_rate,
            (self.constant_frame_rate << 6)
            | (self.num_temporal_layers << 3)
            | (int(self.temporal_id_nested) << 2)
            | (self.nal_length_size - 1),
            len(self.arrays),
        )
        parts = [head]
        for array in self.arrays:
            parts.append(
                struct.pack(
                    ">BH",
                    (int(array.complete) << 7) | array.nal_unit_type,
                    len(array.nal_units),
                )
            )
            parts.extend(len(nal).to_bytes(2, "big") + nal for nal in array.nal_units)
        return b"".join(parts)


def parse_hevc_decoder_configuration_record(data: bytes) -> HEVCDecoderConfigurationRecord:
    """Parse an HEVCDecoderConfigurationRecord, including its first SPS."""
    what = "HEVCDecoderConfigurationRecord"
    data = bytes(data)
    if len(data) < 23:
        raise _bad(what, "shorter than 23 bytes")
    if data[0] != 1:
        raise _bad(what, f"configurationVersion {data[0]} is not 1")
    arrays = []
    offset = 23
    total = 0
    for _ in range(data[22]):
        if offset + 3 > len(data):
            raise _bad(what, "NAL unit array header is truncated")
        kind = data[offset]
        count = int.from_bytes(data[offset + 1 : offset + 3], "big")
        total += count
        if total > MAX_RECORD_NAL_UNITS:
            raise _bad(what, f"more than {MAX_RECORD_NAL_UNITS} NAL units")
        nals = []
        offset += 3
        for _ in range(count):
            if offset + 2 > len(data):
                raise _bad(what, "NAL unit length is truncated")
            size = int.from_bytes(data[offset : offset + 2], "big")
            offset += 2
            if offset + size > len(data):
                raise _bad(what, "NAL unit runs past the end")
            nals.append(data[offset : offset + size])
            offset += size
        arrays.append(
            HEVCNALUnitArray(
                complete=bool(kind & 0x80), nal_unit_type=kind & 0x3F, nal_units=tuple(nals)
            )
        )
    sps = [nal for array in arrays if array.nal_unit_type == 33 for nal in array.nal_units]
    return HEVCDecoderConfigurationRecord(
        general_profile_space=data[1] >> 6,
        general_tier_flag=(data[1] >> 5) & 1,
        general_profile_idc=data[1] & 0x1F,
        general_profile_compatibility_flags=int.from_bytes(data[2:6], "big"),
        general_constraint_indicator_flags=int.from_bytes(data[6:12], "big"),
        general_level_idc=data[12],
        min_spatial_segmentation_idc=int.from_bytes(data[13:15], "big") & 0xFFF,
        parallelism_type=data[15] & 3,
        chroma_format_idc=data[16] & 3,
        bit_depth_luma=(data[17] & 7) + 8,
        bit_depth_chroma=(data[18] & 7) + 8,
        avg_frame_rate=int.from_bytes(data[19:21], "big"),
        constant_frame_rate=data[21] >> 6,
        num_temporal_layers=(data[21] >> 3) & 7,
        temporal_id_nested=bool(data[21] & 4),
        nal_length_size=(data[21] & 3) + 1,
        arrays=tuple(arrays),
        sps_info=parse_hevc_sps(sps[0]) if sps else None,
    )


# --------------------------------------------------------------------------- H.266

# general_profile_idc (H.266 Annex A).
_VVC_PROFILES = {
    1: "Main 10",
    17: "Multilayer Main 10",
    33: "Main 10 4:4:4",
    49: "Multilayer Main 10 4:4:4",
    65: "Main 10 Still Picture",
    97: "Main 10 4:4:4 Still Picture",
}
# The NAL unit types whose array in a vvcC holds exactly one NAL unit, with no count.
_VVC_SINGLE_NAL_TYPES = frozenset({12, 13})  # OPI, DCI


def _vvc_level_text(level_idc: int) -> str:
    # general_level_idc is 16 times the major level number plus 3 times the minor.
    return _level_text(level_idc // 16, (level_idc % 16) // 3)


@attrs.frozen(kw_only=True)
class VVCNALUnitArray:
    """One array of a vvcC: NAL units of one type (VPS 14, SPS 15, PPS 16, SEI 23...)."""

    #: array_completeness.
    complete: bool
    #: NAL_unit_type (5 bits).
    nal_unit_type: int
    #: The NAL units, with their two-byte NAL headers.
    nal_units: tuple[bytes, ...]


@attrs.frozen(kw_only=True)
class VVCDecoderConfigurationRecord:
    """An H.266 VvcDecoderConfigurationRecord (ISO/IEC 14496-15, 11.2), as read.

    The picture size, profile, level, chroma format and bit depth are in the record's
    profile-tier-level part, which encoders include (``ptl_present``); without it they
    are ``None``.
    """

    #: Size of the NAL unit length prefix in samples (1, 2 or 4).
    nal_length_size: int
    #: ptl_present_flag: whether the fields below, to ``avg_frame_rate``, are there.
    ptl_present: bool
    #: ols_idx (9 bits).
    ols_idx: int = 0
    #: num_sublayers (3 bits).
    num_sublayers: int = 0
    #: constant_frame_rate (2 bits).
    constant_frame_rate: int = 0
    #: chroma_format_idc (2 bits).
    chroma_format_idc: int | None = None
    #: bit_depth_minus8 + 8.
    bit_depth: int | None = None
    #: general_profile_idc (7 bits).
    general_profile_idc: int | None = None
    #: general_tier_flag.
    general_tier_flag: int | None = None
    #: general_level_idc.
    general_level_idc: int | None = None
    #: max_picture_width, in luma samples.
    max_picture_width: int | None = None
    #: max_picture_height, in luma samples.
    max_picture_height: int | None = None
    #: avg_frame_rate in frames per 256 seconds (0 = unspecified).
    avg_frame_rate: int = 0
    #: The parameter set arrays.
    arrays: tuple[VVCNALUnitArray, ...] = ()

    @property
    def info(self) -> VideoInfo:
        """The record as a :class:`VideoInfo`."""
        profile = self.general_profile_idc
        level = self.general_level_idc
        return VideoInfo(
            width=self.max_picture_width or None,
            height=self.max_picture_height or None,
            profile=None if profile is None else _VVC_PROFILES.get(profile, str(profile)),
            level=None if level is None else _vvc_level_text(level),
            bit_depth=self.bit_depth,
            chroma_format=None
            if self.chroma_format_idc is None
            else _CHROMA_FORMATS[self.chroma_format_idc],
            frame_rate=self.avg_frame_rate / 256 if self.avg_frame_rate else None,
        )


def parse_vvc_decoder_configuration_record(data: bytes) -> VVCDecoderConfigurationRecord:
    """Parse a VvcDecoderConfigurationRecord (what Enhanced RTMP's ``vvc1`` carries)."""
    what = "VvcDecoderConfigurationRecord"
    data = bytes(data)
    end = len(data)

    def need(offset: int, size: int, part: str) -> None:
        if offset + size > end:
            raise _bad(what, f"{part} is truncated")

    need(0, 1, "the first byte")
    if data[0] >> 3 != 0x1F:
        raise _bad(what, f"reserved bits of the first byte are not all 1 ({data[0]:#x})")
    nal_length_size = ((data[0] >> 1) & 3) + 1
    if nal_length_size == 3:
        raise _bad(what, "LengthSizeMinusOne is 2")
    fields: dict[str, int] = {}
    offset = 1
    if data[0] & 1:
        need(offset, 6, "the profile, tier and level")
        head = int.from_bytes(data[offset : offset + 2], "big")
        fields.update(
            ols_idx=head >> 7,
            num_sublayers=(head >> 4) & 7,
            constant_frame_rate=(head >> 2) & 3,
            chroma_format_idc=head & 3,
            bit_depth=(data[offset + 2] >> 5) + 8,
        )
        constraint_bytes = data[offset + 3] & 0x3F
        fields.update(
            general_profile_idc=data[offset + 4] >> 1,
            general_tier_flag=data[offset + 4] & 1,
            general_level_idc=data[offset + 5],
        )
        if not constraint_bytes:
            raise _bad(what, "num_bytes_constraint_info is 0")
        offset += 6 + constraint_bytes
        if fields["num_sublayers"] > 1:
            # One byte of ptl_sublayer_level_present_flag bits (and zero padding), then
            # a level byte for each flag that is set.
            need(offset, 1, "the sublayer flags")
            offset += 1 + bin(data[offset]).count("1")
        need(offset, 1, "num_sub_profiles")
        offset += 1 + 4 * data[offset]
        need(offset, 6, "the picture size and frame rate")
        fields.update(
            max_picture_width=int.from_bytes(data[offset : offset + 2], "big"),
            max_picture_height=int.from_bytes(data[offset + 2 : offset + 4], "big"),
            avg_frame_rate=int.from_bytes(data[offset + 4 : offset + 6], "big"),
        )
        offset += 6
    need(offset, 1, "num_of_arrays")
    arrays = []
    count = data[offset]
    offset += 1
    total = 0
    for _ in range(count):
        need(offset, 1, "a NAL unit array header")
        kind = data[offset]
        offset += 1
        nal_type = kind & 0x1F
        if nal_type in _VVC_SINGLE_NAL_TYPES:
            nal_count = 1
        else:
            need(offset, 2, "a NAL unit count")
            nal_count = int.from_bytes(data[offset : offset + 2], "big")
            offset += 2
        total += nal_count
        if total > MAX_RECORD_NAL_UNITS:
            raise _bad(what, f"more than {MAX_RECORD_NAL_UNITS} NAL units")
        nals = []
        for _ in range(nal_count):
            need(offset, 2, "a NAL unit length")
            size = int.from_bytes(data[offset : offset + 2], "big")
            need(offset + 2, size, "a NAL unit")
            nals.append(data[offset + 2 : offset + 2 + size])
            offset += 2 + size
        arrays.append(
            VVCNALUnitArray(
                complete=bool(kind & 0x80), nal_unit_type=nal_type, nal_units=tuple(nals)
            )
        )
    return VVCDecoderConfigurationRecord(
        nal_length_size=nal_length_size,
        ptl_present=bool(data[0] & 1),
        arrays=tuple(arrays),
        **fields,
    )


# --------------------------------------------------------------------------- AV1

_AV1_PROFILES = {0: "Main", 1: "High", 2: "Professional"}


def _av1_level_text(seq_level_idx: int) -> str:
    if seq_level_idx == 31:
        return "max"
    return f"{2 + (seq_level_idx >> 2)}.{seq_level_idx & 3}"


@attrs.frozen(kw_only=True)
class AV1SequenceHeader:
    """The parts of an AV1 sequence header OBU that describe the picture."""

    #: seq_profile (0 Main, 1 High, 2 Professional).
    seq_profile: int
    #: seq_level_idx of operating point 0.
    seq_level_idx: int
    #: max_frame_width_minus_1 + 1.
    max_frame_width: int
    #: max_frame_height_minus_1 + 1.
    max_frame_height: int
    #: Frames per second when the timing info has an equal picture interval.
    frame_rate: float | None = None


def parse_av1_sequence_header(payload: bytes) -> AV1SequenceHeader:
    """Parse the payload of an AV1 OBU_SEQUENCE_HEADER (AV1 spec 5.5) up to the size."""
    bits = BitReader(payload, "AV1 sequence header")
    seq_profile = bits.u(3)
    bits.skip(1)  # still_picture
    reduced_still_picture_header = bits.flag()
    frame_rate = None
    if reduced_still_picture_header:
        seq_level_idx = bits.u(5)
    else:
        decoder_model_info_present = False
        buffer_delay_length = 0
        if bits.flag():  # timing_info_present_flag
            num_units_in_display_tick = bits.u(32)
            time_scale = bits.u(32)
            if bits.flag():  # equal_picture_interval
                ticks = bits.uvlc() + 1
                if num_units_in_display_tick and time_scale:
                    frame_rate = time_scale / (num_units_in_display_tick * ticks)
            decoder_model_info_present = bits.flag()
            if decoder_model_info_present:
                buffer_delay_length = bits.u(5) + 1
                bits.skip(32 + 5 + 5)
        initial_display_delay_present = bits.flag()
        operating_points = bits.u(5) + 1
        seq_level_idx = 0
        for index in range(operating_points):
            bits.skip(12)  # operating_point_idc
            level = bits.u(5)
            if index == 0:
                seq_level_idx = level
            if level > 7:
                bits.skip(1)  # seq_tier
            if decoder_model_info_present and bits.flag():
                bits.skip(2 * buffer_delay_length + 1)
            if initial_display_delay_present and bits.flag():
                bits.skip(4)
    width_bits = bits.u(4) + 1
    height_bits = bits.u(4) + 1
    max_frame_width = bits.u(width_bits) + 1
    max_frame_height = bits.u(height_bits) + 1
    return AV1SequenceHeader(
        seq_profile=seq_profile,
        seq_level_idx=seq_level_idx,
        max_frame_width=max_frame_width,
        max_frame_height=max_frame_height,
        frame_rate=frame_rate,
    )


def _read_leb128(data: bytes, offset: int, what: str) -> tuple[int, int]:
    value = 0
    for index in range(8):
        if offset >= len(data):
            raise _bad(what, "leb128 value is truncated")
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            return value, offset
    raise _bad(what, "leb128 value is longer than 8 bytes")


def _find_av1_sequence_header(obus: bytes, what: str) -> bytes | None:
    offset = 0
    # (Bounded like the NAL units of HEVC and VVC records: 2-byte OBUs would make a
    # turn of the loop per two bytes of the record.)
    for _ in range(MAX_RECORD_NAL_UNITS):
        if offset >= len(obus):
            return None
        header = obus[offset]
        if header & 0x80:
            raise _bad(what, "OBU forbidden bit is set")
        obu_type = (header >> 3) & 0xF
        offset += 2 if header & 0x04 else 1
        if header & 0x02:
            size, offset = _read_leb128(obus, offset, what)
        else:
            size = len(obus) - offset
        if offset + size > len(obus):
            raise _bad(what, "OBU runs past the end")
        if obu_type == 1:
            return obus[offset : offset + size]
        offset += size
    if offset < len(obus):
        raise _bad(what, f"more than {MAX_RECORD_NAL_UNITS} OBUs")
    return None


@attrs.frozen(kw_only=True)
class AV1CodecConfigurationRecord:
    """An AV1CodecConfigurationRecord (av1C, AV1-ISOBMFF 2.3).

    ``sequence_header`` is parsed from ``config_obus`` when they hold one.
    """

    #: seq_profile (3 bits).
    seq_profile: int
    #: seq_level_idx_0 (5 bits).
    seq_level_idx_0: int
    #: seq_tier_0.
    seq_tier_0: int = 0
    #: high_bitdepth.
    high_bitdepth: bool = False
    #: twelve_bit.
    twelve_bit: bool = False
    #: monochrome.
    monochrome: bool = False
    #: chroma_subsampling_x.
    chroma_subsampling_x: int = 1
    #: chroma_subsampling_y.
    chroma_subsampling_y: int = 1
    #: chroma_sample_position (2 bits).
    chroma_sample_position: int = 0
    #: initial_presentation_delay_minus_one + 1, or ``None`` when absent.
    initial_presentation_delay: int | None = None
    #: The configOBUs (usually the sequence header OBU), as carried.
    config_obus: bytes = b""
    #: The sequence header from ``config_obus``, parsed.
    sequence_header: AV1SequenceHeader | None = None

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.seq_profile <= 7 or not 0 <= self.seq_level_idx_0 <= 31:
            raise ValueError("seq_profile or seq_level_idx_0 out of range")
        if self.seq_tier_0 not in (0, 1) or not 0 <= self.chroma_sample_position <= 3:
            raise ValueError("seq_tier_0 or chroma_sample_position out of range")
        if self.chroma_subsampling_x not in (0, 1) or self.chroma_subsampling_y not in (0, 1):
            raise ValueError("chroma subsampling flags are 0 or 1")
        if self.initial_presentation_delay is not None and not (
            1 <= self.initial_presentation_delay <= 16
        ):
            raise ValueError("initial_presentation_delay must be 1..16")

    @property
    def width(self) -> int | None:
        """max_frame_width from the sequence header."""
        return self.sequence_header.max_frame_width if self.sequence_header else None

    @property
    def height(self) -> int | None:
        """max_frame_height from the sequence header."""
        return self.sequence_header.max_frame_height if self.sequence_header else None

    @property
    def info(self) -> VideoInfo:
        """The record as a :class:`VideoInfo`."""
        bit_depth = 12 if self.twelve_bit else 10 if self.high_bitdepth else 8
        if self.monochrome:
            chroma = "4:0:0"
        elif self.chroma_subsampling_x and self.chroma_subsampling_y:
            chroma = "4:2:0"
        elif self.chroma_subsampling_x:
            chroma = "4:2:2"
        else:
            chroma = "4:4:4"
        return VideoInfo(
            width=self.width,
            height=self.height,
            profile=_AV1_PROFILES.get(self.seq_profile, str(self.seq_profile)),
            level=_av1_level_text(self.seq_level_idx_0),
            bit_depth=bit_depth,
            chroma_format=chroma,
            frame_rate=self.sequence_header.frame_rate if self.sequence_header else None,
        )

    def to_bytes(self) -> bytes:
        """Serialize."""
        delay = self.initial_presentation_delay
        return (
            bytes(
                (
                    0x81,
                    (self.seq_profile << 5) | self.seq_level_idx_0,
                    (self.seq_tier_0 << 7)
                    | (int(self.high_bitdepth) << 6)
                    | (int(self.twelve_bit) << 5)
                    | (int(self.monochrome) << 4)
                    | (self.chroma_subsampling_x << 3)
                    | (self.chroma_subsampling_y << 2)
                    | self.chroma_sample_position,
                    0 if delay is None else 0x10 | (delay - 1),
                )
            )
            + self.config_obus
        )


def parse_av1_codec_configuration_record(data: bytes) -> AV1CodecConfigurationRecord:
    """Parse an av1C record and the sequence header OBU among its configOBUs."""
    what = "AV1CodecConfigurationRecord"
    data = bytes(data)
    if len(data) < 4:
        raise _bad(what, "shorter than 4 bytes")
    if data[0] != 0x81:
        raise _bad(what, "marker/version byte is not 0x81")
    obus = data[4:]
    payload = _find_av1_sequence_header(obus, what)
    return AV1CodecConfigurationRecord(
        seq_profile=data[1] >> 5,
        seq_level_idx_0=data[1] & 0x1F,
        seq_tier_0=data[2] >> 7,
        high_bitdepth=bool(data[2] & 0x40),
        twelve_bit=bool(data[2] & 0x20),
        monochrome=bool(data[2] & 0x10),
        chroma_subsampling_x=(data[2] >> 3) & 1,
        chroma_subsampling_y=(data[2] >> 2) & 1,
        chroma_sample_position=data[2] & 3,
        initial_presentation_delay=(data[3] & 0xF) + 1 if data[3] & 0x10 else None,
        config_obus=obus,
        sequence_header=parse_av1_sequence_header(payload) if payload is not None else None,
    )


# --------------------------------------------------------------------------- VP8/VP9


@attrs.frozen(kw_only=True)
class VPCodecConfigurationRecord:
    """A VPCodecConfigurationRecord (vpcC, "VP Codec ISO Media File Format Binding").

    In ISOBMFF the record sits in a FullBox after a version byte and 24 flag bits;
    FFmpeg carries those four bytes in Enhanced RTMP too, others may not.  Both forms
    parse; ``full_box_header`` says which one it was, and ``to_bytes`` writes it back
    the same way.  The picture size is not part of the record: see
    :func:`vp9_frame_size`/:func:`vp8_frame_size` for a keyframe.
    """

    #: profile (0..3).
    profile: int
    #: level (10 x level: 31 = level 3.1).
    level: int
    #: bitDepth (8, 10, 12).
    bit_depth: int
    #: chromaSubsampling (0 4:2:0 vertical, 1 4:2:0 colocated, 2 4:2:2, 3 4:4:4).
    chroma_subsampling: int = 1
    #: videoFullRangeFlag.
    video_full_range: bool = False
    #: colourPrimaries (ISO/IEC 23091-4).
    colour_primaries: int = 2
    #: transferCharacteristics.
    transfer_characteristics: int = 2
    #: matrixCoefficients.
    matrix_coefficients: int = 2
    #: codecInitializationData (empty for VP8 and VP9).
    codec_initialization_data: bytes = b""
    #: Whether the FullBox version/flags bytes were present (version 1).
    full_box_header: bool = True

    def __attrs_post_init__(self) -> None:
        for name in ("profile", "level", "colour_primaries", "transfer_characteristics"):
            if not 0 <= getattr(self, name) <= 255:
                raise ValueError(f"{name} must fit in a byte")
        if not 0 <= self.matrix_coefficients <= 255:
            raise ValueError("matrix_coefficients must fit in a byte")
        if not 0 <= self.bit_depth <= 15 or not 0 <= self.chroma_subsampling <= 7:
            raise ValueError("bit_depth or chroma_subsampling out of range")
        if len(self.codec_initialization_data) > 0xFFFF:
            raise ValueError("codec_initialization_data is at most 65535 bytes")

    @property
    def info(self) -> VideoInfo:
        """The record as a :class:`VideoInfo`."""
        chroma = {0: "4:2:0", 1: "4:2:0", 2: "4:2:2", 3: "4:4:4"}.get(self.chroma_subsampling)
        return VideoInfo(
            profile=str(self.profile),
            level=_level_text(self.level // 10, self.level % 10),
            bit_depth=self.bit_depth,
            chroma_format=chroma,
        )

    def to_bytes(self) -> bytes:
        """Serialize."""
        body = struct.pack(
            ">BBBBBBH",
            self.profile,
            self.level,
            (self.bit_depth << 4) | (self.chroma_subsampling << 1) | int(self.video_full_range),
            self.colour_primaries,
            self.transfer_characteristics,
            self.matrix_coefficients,
            len(self.codec_initialization_data),
        )
        prefix = b"\x01\x00\x00\x00" if self.full_box_header else b""
        return prefix + body + self.codec_initialization_data


def parse_vp_codec_configuration_record(data: bytes) -> VPCodecConfigurationRecord:
    """Parse a vpcC record, with or without the FullBox version and flags."""
    what = "VPCodecConfigurationRecord"
    data = bytes(data)

    def fits(offset: int) -> bool:
        if len(data) < offset + 8:
            return False
        size = int.from_bytes(data[offset + 6 : offset + 8], "big")
        return len(data) == offset + 8 + size

    if len(data) >= 12 and data[0] == 1 and data[1:4] == b"\x00\x00\x00" and fits(4):
        offset, full_box = 4, True
    elif fits(0):
        offset, full_box = 0, False
    else:
        raise _bad(what, "length does not match codecInitializationDataSize")
    profile, level, packed, primaries, transfer, matrix, size = struct.unpack_from(
        ">BBBBBBH", data, offset
    )
    return VPCodecConfigurationRecord(
        profile=profile,
        level=level,
        bit_depth=packed >> 4,
        chroma_subsampling=(packed >> 1) & 7,
        video_full_range=bool(packed & 1),
        colour_primaries=primaries,
        transfer_characteristics=transfer,
        matrix_coefficients=matrix,
        codec_initialization_data=data[offset + 8 : offset + 8 + size],
        full_box_header=full_box,
    )


def vp8_frame_size(frame: bytes) -> tuple[int, int] | None:
    """Width and height from a VP8 keyframe (RFC 6386 9.1), ``None`` for other frames."""
    if len(frame) < 10 or frame[0] & 1 or frame[3:6] != b"\x9d\x01\x2a":
        return None
    width = int.from_bytes(frame[6:8], "little") & 0x3FFF
    height = int.from_bytes(frame[8:10], "little") & 0x3FFF
    return (width, height) if width and height else None


def vp9_frame_size(frame: bytes) -> tuple[int, int] | None:
    """Width and height from a VP9 keyframe's uncompressed header, ``None`` otherwise."""
    try:
        bits = BitReader(frame[:64], "VP9 frame header")
        if bits.u(2) != 2:  # frame_marker
            return None
        profile = bits.u(1) | (bits.u(1) << 1)
        if profile == 3:
            bits.skip(1)
        if bits.flag() or bits.flag():  # show_existing_frame, frame_type (1 = non-key)
            return None
        bits.skip(2)  # show_frame, error_resilient_mode
        if bits.u(24) != 0x498342:
            return None
        if profile >= 2:
            bits.skip(1)  # ten_or_twelve_bit
        color_space = bits.u(3)
        if color_space != 7:
            bits.skip(1)  # color_range
            if profile in (1, 3):
                bits.skip(3)
        elif profile in (1, 3):
            bits.skip(1)
        return bits.u(16) + 1, bits.u(16) + 1
    except RemoteProtocolError:
        return None


# --------------------------------------------------------------------------- AAC

_AAC_SAMPLE_RATES = (
    96000,
    88200,
    64000,
    48000,
    44100,
    32000,
    24000,
    22050,
    16000,
    12000,
    11025,
    8000,
    7350,
)
_AAC_CHANNELS = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 8, 11: 7, 12: 8, 13: 24, 14: 8}
_AAC_PROFILES = {
    1: "Main",
    2: "LC",
    3: "SSR",
    4: "LTP",
    5: "HE-AAC",
    23: "LD",
    29: "HE-AACv2",
    39: "ELD",
}


@attrs.frozen(kw_only=True)
class AACAudioSpecificConfig:
    """An MPEG-4 AudioSpecificConfig (ISO/IEC 14496-3, 1.6.2.1), its leading fields.

    For explicitly signalled SBR/PS (object type 5 or 29), ``extension_sample_rate``
    is the output rate and ``object_type`` the signalled (5 or 29) type.
    """

    #: audioObjectType (2 = AAC LC, 5 = SBR, 29 = PS ...).
    object_type: int
    #: Core sampling frequency in Hz.
    sample_rate: int
    #: channelConfiguration (0 = defined in a program config element).
    channel_configuration: int
    #: SBR output sampling frequency, when signalled.
    extension_sample_rate: int | None = None
    #: The whole record as carried (the fields above are only its start).
    raw: bytes = b""

    @property
    def channels(self) -> int | None:
        """Number of channels, ``None`` when a program config element defines them."""
        return _AAC_CHANNELS.get(self.channel_configuration)

    @property
    def info(self) -> AudioInfo:
        """The record as an :class:`AudioInfo`."""
        return AudioInfo(
            sample_rate=self.extension_sample_rate or self.sample_rate,
            channels=self.channels,
            profile=_AAC_PROFILES.get(self.object_type, str(self.object_type)),
        )

    def to_bytes(self) -> bytes:
        """The record as carried, or a minimal one built from the fields."""
        if self.raw:
            return self.raw
        return build_audio_specific_config(
            self.object_type, self.sample_rate, self.channel_configuration
        )


def build_audio_specific_config(object_type: int, sample_rate: int, channels: int) -> bytes:
    """A minimal AudioSpecificConfig (e.g. ``build_audio_specific_config(2, 44100, 2)``).

    ``channels`` is the channelConfiguration (1..7; 7 means 7.1).  Rates outside the
    standard table are written explicitly.  Raises ``ValueError`` on bad arguments.
    """
    if not 1 <= object_type <= 95 or not 0 <= channels <= 15 or not 0 < sample_rate < 1 << 24:
        raise ValueError("object type, sample rate or channel configuration out of range")
    value = 0
    length = 0

    def put(field: int, size: int) -> None:
        nonlocal value, length
        value = (value << size) | field
        length += size

    if object_type >= 31:
        put(31, 5)
        put(object_type - 32, 6)
    else:
        put(object_type, 5)
    if sample_rate in _AAC_SAMPLE_RATES:
        put(_AAC_SAMPLE_RATES.index(sample_rate), 4)
    else:
        put(15, 4)
        put(sample_rate, 24)
    put(channels, 4)
    put(0, 3)  # GASpecificConfig: frameLengthFlag, dependsOnCoreCoder, extensionFlag
    padding = -length % 8
    return (value << padding).to_bytes((length + padding) // 8, "big")


def _aac_object_type(bits: BitReader) -> int:
    object_type = bits.u(5)
    return 32 + bits.u(6) if object_type == 31 else object_type


def _aac_sample_rate(bits: BitReader) -> int:
    index = bits.u(4)
    if index == 15:
        rate = bits.u(24)
        if rate == 0:
            raise _bad("AudioSpecificConfig", "explicit sampling frequency is zero")
        return rate
    if index >= len(_AAC_SAMPLE_RATES):
        raise _bad("AudioSpecificConfig", f"reserved samplingFrequencyIndex {index}")
    return _AAC_SAMPLE_RATES[index]


def parse_audio_specific_config(data: bytes) -> AACAudioSpecificConfig:
    """Parse the leading fields of an AAC AudioSpecificConfig."""
    data = bytes(data)
    if len(data) < 2:
        raise _bad("AudioSpecificConfig", "shorter than 2 bytes")
    bits = BitReader(data, "AudioSpecificConfig")
    object_type = _aac_object_type(bits)
    if object_type == 0:
        raise _bad("AudioSpecificConfig", "audioObjectType 0 is not a codec")
    sample_rate = _aac_sample_rate(bits)
    channel_configuration = bits.u(4)
    extension_rate = None
    if object_type in (5, 29):
        extension_rate = _aac_sample_rate(bits)
        _aac_object_type(bits)
    return AACAudioSpecificConfig(
        object_type=object_type,
        sample_rate=sample_rate,
        channel_configuration=channel_configuration,
        extension_sample_rate=extension_rate,
        raw=data,
    )


# --------------------------------------------------------------------------- MP3

_MP3_RATES = (44100, 48000, 32000)


def mp3_frame_info(frame: bytes) -> AudioInfo | None:
    """Sample rate and channels from an MPEG audio frame header, ``None`` if there is none.

    Legacy FLV rate flags cannot say 48 kHz or 32 kHz, so the frame header is the
    truth for MP3.
    """
    if len(frame) < 4:
        return None
    header = int.from_bytes(frame[:4], "big")
    version = (header >> 19) & 3
    rate_index = (header >> 10) & 3
    if header >> 21 != 0x7FF or version == 1 or (header >> 17) & 3 == 0 or rate_index == 3:
        return None
    rate = _MP3_RATES[rate_index] >> {3: 0, 2: 1, 0: 2}[version]
    return AudioInfo(sample_rate=rate, channels=1 if (header >> 6) & 3 == 3 else 2)


# --------------------------------------------------------------------------- Opus


@attrs.frozen(kw_only=True)
class OpusHead:
    """The Opus identification header (RFC 7845, 5.1)."""

    #: version (the high nibble must be 0).
    version: int
    #: Output channel count.
    channel_count: int
    #: Samples (at 48 kHz) to discard from the decoder output at the start.
    pre_skip: int
    #: Sample rate of the original input (informational; Opus decodes at 48 kHz).
    input_sample_rate: int
    #: Output gain in Q7.8 dB.
    output_gain: int
    #: Channel mapping family (0 mono/stereo, 1 Vorbis order, 255 undefined).
    channel_mapping_family: int
    #: Stream count (family != 0).
    stream_count: int = 1
    #: Coupled stream count (family != 0).
    coupled_count: int = 0
    #: The channel mapping table (family != 0).
    channel_mapping: bytes = b""

    @property
    def info(self) -> AudioInfo:
        """The header as an :class:`AudioInfo` (Opus always decodes at 48 kHz)."""
        return AudioInfo(sample_rate=48000, channels=self.channel_count)


def parse_opus_head(data: bytes) -> OpusHead:
    """Parse an OpusHead identification header."""
    what = "OpusHead"
    data = bytes(data)
    if len(data) < 19 or data[:8] != b"OpusHead":
        raise _bad(what, "missing the OpusHead magic or shorter than 19 bytes")
    version, channels, pre_skip, rate, gain, family = struct.unpack_from("<BBHIhB", data, 8)
    if version >> 4:
        raise _bad(what, f"unsupported version {version}")
    if channels == 0:
        raise _bad(what, "channel count is zero")
    streams, coupled, mapping = 1, 0, b""
    if family:
        if len(data) < 21 + channels:
            raise _bad(what, "channel mapping table is truncated")
        streams, coupled = data[19], data[20]
        mapping = data[21 : 21 + channels]
        if streams == 0 or coupled > streams:
            raise _bad(what, "inconsistent stream counts")
    elif channels > 2:
        raise _bad(what, "mapping family 0 allows at most 2 channels")
    return OpusHead(
        version=version,
        channel_count=channels,
        pre_skip=pre_skip,
        input_sample_rate=rate,
        output_gain=gain,
        channel_mapping_family=family,
        stream_count=streams,
        coupled_count=coupled,
        channel_mapping=mapping,
    )


# --------------------------------------------------------------------------- FLAC


@attrs.frozen(kw_only=True)
class FlacStreamInfo:
    """A FLAC STREAMINFO metadata block (RFC 9639, 8.2)."""

    #: Minimum block size in samples.
    min_block_size: int
    #: Maximum block size in samples.
    max_block_size: int
    #: Minimum frame size in bytes (0 = unknown).
    min_frame_size: int
    #: Maximum frame size in bytes (0 = unknown).
    max_frame_size: int
    #: Sample rate in Hz.
    sample_rate: int
    #: Number of channels (1..8).
    channels: int
    #: Bits per sample (4..32).
    bits_per_sample: int
    #: Total samples per channel (0 = unknown).
    total_samples: int
    #: MD5 of the unencoded audio.
    md5: bytes

    @property
    def info(self) -> AudioInfo:
        """The block as an :class:`AudioInfo`."""
        return AudioInfo(
            sample_rate=self.sample_rate,
            channels=self.channels,
            sample_size=self.bits_per_sample,
        )


def parse_flac_stream_info(data: bytes) -> FlacStreamInfo:
    """Parse a FLAC sequence header: ``fLaC``, then the STREAMINFO metadata block.

    A bare 34-byte STREAMINFO body (what FFmpeg keeps as extradata) is accepted too.
    """
    what = "FLAC STREAMINFO"
    data = bytes(data)
    if data[:4] == b"fLaC":
        if len(data) < 8:
            raise _bad(what, "metadata block header is missing")
        if data[4] & 0x7F != 0:
            raise _bad(what, "the first metadata block is not STREAMINFO")
        if int.from_bytes(data[5:8], "big") != 34 or len(data) < 42:
            raise _bad(what, "STREAMINFO must be 34 bytes")
        body = data[8:42]
    elif len(data) == 34:
        body = data
    else:
        raise _bad(what, "neither fLaC + STREAMINFO nor a bare STREAMINFO")
    min_block, max_block = struct.unpack_from(">HH", body)
    packed = int.from_bytes(body[10:18], "big")
    sample_rate = packed >> 44
    if sample_rate == 0:
        raise _bad(what, "sample rate is zero")
    return FlacStreamInfo(
        min_block_size=min_block,
        max_block_size=max_block,
        min_frame_size=int.from_bytes(body[4:7], "big"),
        max_frame_size=int.from_bytes(body[7:10], "big"),
        sample_rate=sample_rate,
        channels=((packed >> 41) & 7) + 1,
        bits_per_sample=((packed >> 36) & 0x1F) + 1,
        total_samples=packed & ((1 << 36) - 1),
        md5=body[18:34],
    )


# --------------------------------------------------------------------------- dispatch

#: Any parsed record.
CodecRecord = (
    AVCDecoderConfigurationRecord
    | HEVCDecoderConfigurationRecord
    | VVCDecoderConfigurationRecord
    | AV1CodecConfigurationRecord
    | VPCodecConfigurationRecord
    | AACAudioSpecificConfig
    | OpusHead
    | FlacStreamInfo
)

_PARSERS = {
    "h264": parse_avc_decoder_configuration_record,
    "h265": parse_hevc_decoder_configuration_record,
    "h266": parse_vvc_decoder_configuration_record,
    "av1": parse_av1_codec_configuration_record,
    "vp9": parse_vp_codec_configuration_record,
    "vp8": parse_vp_codec_configuration_record,
    "aac": parse_audio_specific_config,
    "opus": parse_opus_head,
    "flac": parse_flac_stream_info,
}


def parse_codec_config(codec: str, init_data: bytes) -> CodecRecord | None:
    """Parse ``init_data`` with the record parser for ``codec``.

    Returns ``None`` for codecs that have no configuration record trio-rtmp reads
    (ac3, mp3, the legacy codecs...).  Raises :class:`RemoteProtocolError` for a
    malformed record.
    """
    parser = _PARSERS.get(codec)
    if parser is None:
        return None
    result: CodecRecord = parser(init_data)  # type: ignore[assignment]
    return result
