"""FLV tag bodies: legacy audio/video, Enhanced RTMP v2 audio/video, and script data.

An RTMP audio message (type 8) or video message (type 9) carries exactly one FLV tag
*body*; so does an FLV file tag.  This module parses such bodies into tag objects and
serializes tag objects back, exactly: ``parse_video_tag(tag.to_bytes()) == tag``.

Video (``parse_video_tag``)
    * :class:`VideoTag`: legacy header (frame type, codec id), plus the AVC packet type
      and SI24 composition time for AVC (codec id 7) and HEVC-as-legacy (codec id 12,
      the widespread non-standard extension);
    * :class:`VideoCommandTag`: the legacy video info/command frame (frame type 5);
    * :class:`ExVideoTag`: Enhanced RTMP (IsExHeader) with one FourCC (avc1, hvc1,
      av01, vp09, vp08, vvc1) and a :class:`VideoPacketType`;
    * :class:`MultitrackVideoTag`: Enhanced RTMP Multitrack, in all three modes;
    * :class:`ExVideoCommandTag`: an enhanced command frame.

Audio (``parse_audio_tag``)
    * :class:`AudioTag`: legacy header (SoundFormat, rate, size, type) plus the AAC
      packet type for AAC;
    * :class:`ExAudioTag`: Enhanced RTMP (SoundFormat 9) with a FourCC (mp4a, .mp3,
      Opus, fLaC, ac-3, ec-3) and an :class:`AudioPacketType`;
    * :class:`MultitrackAudioTag`: Enhanced RTMP Multitrack audio.

Enhanced tags carry their ModEx entries (:class:`ModEx`, e.g. TimestampOffsetNano) in
``mod_ex``.  :class:`ScriptTag` is a data message / script tag (AMF0 values).

These tag objects are what ``client.send_tag(timestamp, tag)`` takes.  For a relay's
hot path, :func:`video_info` and :func:`is_audio_sequence_header` classify a raw body
without building any object.

A ModEx size may be written in a longer form than needed; such a body parses, and
serializes back in the shortest form (the only way in which a parse/serialize round
trip is not byte-exact).
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar

import attrs

from ..core import amf0
from ..core.config import DEFAULT_LIMITS, Limits
from ..core.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "AACPacketType",
    "AVCPacketType",
    "AnyAudioTag",
    "AnyTag",
    "AnyVideoTag",
    "AudioChannelOrder",
    "AudioFourCC",
    "AudioMultichannelConfig",
    "AudioPacketType",
    "AudioTag",
    "AudioTrack",
    "AvMultitrackType",
    "ExAudioTag",
    "ExVideoCommandTag",
    "ExVideoTag",
    "GopTrack",
    "MAX_MOD_EX",
    "MAX_TRACKS",
    "ModEx",
    "ModExType",
    "MultitrackAudioTag",
    "MultitrackVideoTag",
    "ScriptTag",
    "SoundFormat",
    "SoundRate",
    "SoundSize",
    "SoundType",
    "TagType",
    "VideoCodecId",
    "VideoCommand",
    "VideoCommandTag",
    "VideoFourCC",
    "VideoFrameType",
    "VideoPacketType",
    "VideoTag",
    "VideoTrack",
    "is_audio_multichannel_config",
    "is_audio_sequence_header",
    "is_video_metadata",
    "parse_audio_tag",
    "parse_multichannel_config",
    "parse_script_tag",
    "parse_tag",
    "parse_video_tag",
    "track_ids",
    "video_info",
]

# --------------------------------------------------------------------------- enums


class TagType(enum.IntEnum):
    """FLV tag type, equal to the RTMP message type id."""

    AUDIO = 8
    VIDEO = 9
    SCRIPT = 18


class VideoFrameType(enum.IntEnum):
    """Video frame type (the high bits of the first video byte)."""

    KEY = 1
    INTER = 2
    DISPOSABLE_INTER = 3
    GENERATED_KEY = 4
    COMMAND = 5


class VideoCodecId(enum.IntEnum):
    """Legacy video codec id; 12 (HEVC) is the common non-standard extension."""

    SORENSON_H263 = 2
    SCREEN_VIDEO = 3
    VP6 = 4
    VP6_ALPHA = 5
    SCREEN_VIDEO_2 = 6
    AVC = 7
    HEVC = 12


class AVCPacketType(enum.IntEnum):
    """Legacy AVC/HEVC packet type."""

    SEQUENCE_HEADER = 0
    NALU = 1
    END_OF_SEQUENCE = 2


class VideoCommand(enum.IntEnum):
    """The command of a video info/command frame (other values are reserved)."""

    START_SEEK = 0
    END_SEEK = 1


class VideoPacketType(enum.IntEnum):
    """Enhanced RTMP video packet type."""

    SEQUENCE_START = 0
    CODED_FRAMES = 1
    SEQUENCE_END = 2
    CODED_FRAMES_X = 3
    METADATA = 4
    MPEG2TS_SEQUENCE_START = 5
    MULTITRACK = 6
    MOD_EX = 7


class VideoFourCC(enum.StrEnum):
    """Enhanced RTMP video FourCC."""

    AVC = "avc1"
    HEVC = "hvc1"
    AV1 = "av01"
    VP9 = "vp09"
    VP8 = "vp08"
    VVC = "vvc1"


class SoundFormat(enum.IntEnum):
    """Legacy SoundFormat (the high nibble of the first audio byte); 9 is ExHeader."""

    PCM_PLATFORM_ENDIAN = 0
    ADPCM = 1
    MP3 = 2
    PCM_LITTLE_ENDIAN = 3
    NELLYMOSER_16KHZ_MONO = 4
    NELLYMOSER_8KHZ_MONO = 5
    NELLYMOSER = 6
    G711_ALAW = 7
    G711_MULAW = 8
    EX_HEADER = 9
    AAC = 10
    SPEEX = 11
    MP3_8KHZ = 14
    DEVICE_SPECIFIC = 15


class SoundRate(enum.IntEnum):
    """Legacy SoundRate flag."""

    KHZ_5_5 = 0
    KHZ_11 = 1
    KHZ_22 = 2
    KHZ_44 = 3


class SoundSize(enum.IntEnum):
    """Legacy SoundSize flag (meaningful for uncompressed formats)."""

    BITS_8 = 0
    BITS_16 = 1


class SoundType(enum.IntEnum):
    """Legacy SoundType flag."""

    MONO = 0
    STEREO = 1


class AACPacketType(enum.IntEnum):
    """Legacy AAC packet type."""

    SEQUENCE_HEADER = 0
    RAW = 1


class AudioPacketType(enum.IntEnum):
    """Enhanced RTMP audio packet type."""

    SEQUENCE_START = 0
    CODED_FRAMES = 1
    SEQUENCE_END = 2
    MULTICHANNEL_CONFIG = 4
    MULTITRACK = 5
    MOD_EX = 7


class AudioFourCC(enum.StrEnum):
    """Enhanced RTMP audio FourCC."""

    AAC = "mp4a"
    MP3 = ".mp3"
    OPUS = "Opus"
    FLAC = "fLaC"
    AC3 = "ac-3"
    EAC3 = "ec-3"


class AvMultitrackType(enum.IntEnum):
    """Enhanced RTMP multitrack mode."""

    ONE_TRACK = 0
    MANY_TRACKS = 1
    MANY_TRACKS_MANY_CODECS = 2


class ModExType(enum.IntEnum):
    """Known ModEx types (the same numbering for audio and video)."""

    TIMESTAMP_OFFSET_NANO = 0


class AudioChannelOrder(enum.IntEnum):
    """Enhanced RTMP audio channel order of a MultichannelConfig."""

    UNSPECIFIED = 0
    NATIVE = 1
    CUSTOM = 2


_VIDEO_FOURCCS = {fourcc.value.encode("ascii"): fourcc for fourcc in VideoFourCC}
_AUDIO_FOURCCS = {fourcc.value.encode("ascii"): fourcc for fourcc in AudioFourCC}
# FourCCs whose CodedFrames carry an SI24 composition time offset.
_CTS_FOURCCS = frozenset({VideoFourCC.AVC, VideoFourCC.HEVC, VideoFourCC.VVC})
_EX_VIDEO_PACKET_TYPES = frozenset(
    {
        VideoPacketType.SEQUENCE_START,
        VideoPacketType.CODED_FRAMES,
        VideoPacketType.SEQUENCE_END,
        VideoPacketType.CODED_FRAMES_X,
        VideoPacketType.METADATA,
        VideoPacketType.MPEG2TS_SEQUENCE_START,
    }
)
_EX_AUDIO_PACKET_TYPES = frozenset(
    {
        AudioPacketType.SEQUENCE_START,
        AudioPacketType.CODED_FRAMES,
        AudioPacketType.SEQUENCE_END,
        AudioPacketType.MULTICHANNEL_CONFIG,
    }
)
_SI24_MIN = -(1 << 23)
_SI24_MAX = (1 << 23) - 1
_LEGACY_NAL_CODECS = frozenset({VideoCodecId.AVC, VideoCodecId.HEVC})

# --------------------------------------------------------------------------- validators


def _byte(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int and not isinstance(value, int):
        raise TypeError(f"{attribute.name} must be an int")
    if not 0 <= value <= 255:
        raise ValueError(f"{attribute.name} must be 0..255, not {value}")


def _bytes(instance: object, attribute: attrs.Attribute[bytes], value: bytes) -> None:
    if type(value) is not bytes:
        raise TypeError(f"{attribute.name} must be bytes, not {type(value).__name__}")


def _si24(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or not _SI24_MIN <= value <= _SI24_MAX:
        raise ValueError(f"{attribute.name} must be a signed 24-bit int, not {value!r}")


def _mod_ex_tuple(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if type(value) is not tuple or not all(type(item) is ModEx for item in value):
        raise TypeError("mod_ex must be a tuple of ModEx")
    if len(value) > MAX_MOD_EX:
        raise ValueError(f"more than {MAX_MOD_EX} ModEx entries (the parser refuses them)")


def _convert(kind: type[Any], value: Any) -> Any:
    """A member of the enum ``kind``, or its value (``1``, ``"hvc1"``), to the member."""
    if isinstance(value, kind):
        return value
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"expected a {kind.__name__}, not {value!r}")
    return kind(value)  # ValueError for a value that is not a member


# Named converters, one per enum (the attrs mypy plugin wants named functions).
def _to_video_frame_type(value: Any) -> VideoFrameType:
    return _convert(VideoFrameType, value)  # type: ignore[no-any-return]


def _to_video_codec_id(value: Any) -> VideoCodecId:
    return _convert(VideoCodecId, value)  # type: ignore[no-any-return]


def _to_avc_packet_type(value: Any) -> AVCPacketType:
    return _convert(AVCPacketType, value)  # type: ignore[no-any-return]


def _to_video_packet_type(value: Any) -> VideoPacketType:
    return _convert(VideoPacketType, value)  # type: ignore[no-any-return]


def _to_video_fourcc(value: Any) -> VideoFourCC:
    return _convert(VideoFourCC, value)  # type: ignore[no-any-return]


def _to_av_multitrack_type(value: Any) -> AvMultitrackType:
    return _convert(AvMultitrackType, value)  # type: ignore[no-any-return]


def _to_sound_format(value: Any) -> SoundFormat:
    return _convert(SoundFormat, value)  # type: ignore[no-any-return]


def _to_sound_rate(value: Any) -> SoundRate:
    return _convert(SoundRate, value)  # type: ignore[no-any-return]


def _to_sound_size(value: Any) -> SoundSize:
    return _convert(SoundSize, value)  # type: ignore[no-any-return]


def _to_sound_type(value: Any) -> SoundType:
    return _convert(SoundType, value)  # type: ignore[no-any-return]


def _to_aac_packet_type(value: Any) -> AACPacketType:
    return _convert(AACPacketType, value)  # type: ignore[no-any-return]


def _to_audio_packet_type(value: Any) -> AudioPacketType:
    return _convert(AudioPacketType, value)  # type: ignore[no-any-return]


def _to_audio_fourcc(value: Any) -> AudioFourCC:
    return _convert(AudioFourCC, value)  # type: ignore[no-any-return]


def _to_audio_channel_order(value: Any) -> AudioChannelOrder:
    return _convert(AudioChannelOrder, value)  # type: ignore[no-any-return]


def _to_optional_avcpacket_type(value: Any) -> AVCPacketType | None:
    return None if value is None else _to_avc_packet_type(value)


def _to_optional_aacpacket_type(value: Any) -> AACPacketType | None:
    return None if value is None else _to_aac_packet_type(value)


# --------------------------------------------------------------------------- ModEx


@attrs.frozen(kw_only=True)
class ModEx:
    """One Enhanced RTMP ModEx entry: a modifier type (0..15) and its data (1..65536 bytes).

    ``ModEx.timestamp_offset_nano(250_000)`` builds the TimestampOffsetNano modifier.
    Unknown modifier types are kept as they are, since ModEx is designed to be skipped
    by whoever does not understand it.
    """

    #: The ModEx type (0 = TimestampOffsetNano).
    mod_ex_type: int = attrs.field(validator=_byte)
    #: The modifier's data.
    data: bytes = attrs.field(validator=_bytes)

    def __attrs_post_init__(self) -> None:
        if self.mod_ex_type > 15:
            raise ValueError("mod_ex_type is 4 bits (0..15)")
        if not 1 <= len(self.data) <= 65536:
            raise ValueError("ModEx data must be 1..65536 bytes")
        if self.mod_ex_type == ModExType.TIMESTAMP_OFFSET_NANO and len(self.data) < 3:
            raise ValueError("TimestampOffsetNano data must be at least 3 bytes")

    @classmethod
    def timestamp_offset_nano(cls, nanoseconds: int) -> ModEx:
        """The TimestampOffsetNano modifier (0..999,999 ns added to the ms timestamp)."""
        if not 0 <= nanoseconds <= 999_999:
            raise ValueError("the nanosecond offset must be 0..999999")
        return cls(mod_ex_type=ModExType.TIMESTAMP_OFFSET_NANO, data=nanoseconds.to_bytes(3, "big"))

    @property
    def nanoseconds(self) -> int | None:
        """The offset of a TimestampOffsetNano entry, else ``None``."""
        if self.mod_ex_type != ModExType.TIMESTAMP_OFFSET_NANO:
            return None
        return int.from_bytes(self.data[:3], "big")


def _timestamp_offset_nano(mod_ex: tuple[ModEx, ...]) -> int | None:
    offset = None
    for entry in mod_ex:
        nanoseconds = entry.nanoseconds
        if nanoseconds is not None:
            offset = nanoseconds
    return offset


def _write_mod_ex(first_byte_high: int, mod_ex: tuple[ModEx, ...], packet_type: int) -> bytes:
    """The first byte, the ModEx chain and the byte that ends with ``packet_type``."""
    if not mod_ex:
        return bytes((first_byte_high | packet_type,))
    parts = [bytes((first_byte_high | 7,))]
    for index, entry in enumerate(mod_ex):
        size = len(entry.data)
        if size < 256:
            parts.append(bytes((size - 1,)))
        else:
            parts.append(b"\xff" + (size - 1).to_bytes(2, "big"))
        parts.append(entry.data)
        following = packet_type if index == len(mod_ex) - 1 else 7
        parts.append(bytes(((entry.mod_ex_type << 4) | following,)))
    return b"".join(parts)


def _read_mod_ex(data: bytes, position: int, packet_type: int) -> tuple[list[ModEx], int, int]:
    """Read the ModEx chain; returns the entries, the final packet type and the position."""
    entries: list[ModEx] = []
    end = len(data)
    while packet_type == 7:
        if position >= end:
            raise RemoteProtocolError("ModEx size is missing")
        size = data[position] + 1
        position += 1
        if size == 256:
            if position + 2 > end:
                raise RemoteProtocolError("ModEx 16-bit size is truncated")
            size = int.from_bytes(data[position : position + 2], "big") + 1
            position += 2
        if position + size + 1 > end:
            raise RemoteProtocolError("ModEx data is truncated")
        payload = data[position : position + size]
        position += size
        following = data[position]
        position += 1
        mod_ex_type = following >> 4
        if mod_ex_type == ModExType.TIMESTAMP_OFFSET_NANO and size < 3:
            raise RemoteProtocolError("TimestampOffsetNano data is shorter than 3 bytes")
        if len(entries) == MAX_MOD_EX:
            raise RemoteProtocolError(f"more than {MAX_MOD_EX} ModEx entries in one tag")
        entries.append(ModEx(mod_ex_type=mod_ex_type, data=payload))
        packet_type = following & 0xF
    return entries, packet_type, position


def _u24(data: bytes, position: int) -> int:
    return (data[position] << 16) | (data[position + 1] << 8) | data[position + 2]


def _si24_at(data: bytes, position: int) -> int:
    return (_u24(data, position) ^ 0x800000) - 0x800000


def _si24_bytes(value: int) -> bytes:
    return (value & 0xFFFFFF).to_bytes(3, "big")


# --------------------------------------------------------------------------- video tags


@attrs.frozen(kw_only=True)
class VideoTag:
    """A legacy video tag body.

    For AVC (codec id 7) and HEVC-as-legacy (12), ``avc_packet_type`` is required and
    ``composition_time`` is the SI24 offset (ms, pts - dts); ``data`` is then the
    AVCDecoderConfigurationRecord (sequence header) or the length-prefixed NAL units.
    For the other codecs ``avc_packet_type`` is ``None`` and ``data`` the frame.
    """

    tag_type: ClassVar[TagType] = TagType.VIDEO

    #: KEY, INTER, DISPOSABLE_INTER or GENERATED_KEY (COMMAND is :class:`VideoCommandTag`).
    frame_type: VideoFrameType = attrs.field(converter=_to_video_frame_type)
    #: The legacy codec id.
    codec_id: VideoCodecId = attrs.field(converter=_to_video_codec_id)
    #: The AVC packet type (AVC and HEVC only).
    avc_packet_type: AVCPacketType | None = attrs.field(
        default=None, converter=_to_optional_avcpacket_type
    )
    #: Composition time offset in ms (AVC and HEVC only).
    composition_time: int = attrs.field(default=0, validator=_si24)
    #: The rest of the body.
    data: bytes = attrs.field(default=b"", validator=_bytes)

    def __attrs_post_init__(self) -> None:
        if self.frame_type == VideoFrameType.COMMAND:
            raise ValueError("a command frame is a VideoCommandTag")
        if (self.codec_id in _LEGACY_NAL_CODECS) != (self.avc_packet_type is not None):
            raise ValueError("avc_packet_type is required for AVC/HEVC and only for them")
        if self.avc_packet_type is None and self.composition_time:
            raise ValueError("only AVC/HEVC tags carry a composition time")

    @property
    def keyframe(self) -> bool:
        """True for a key (or generated key) frame."""
        return self.frame_type in (VideoFrameType.KEY, VideoFrameType.GENERATED_KEY)

    @property
    def is_sequence_header(self) -> bool:
        """True for an AVC/HEVC sequence header."""
        return self.avc_packet_type == AVCPacketType.SEQUENCE_HEADER

    def to_bytes(self) -> bytes:
        """Serialize the tag body."""
        first = bytes(((self.frame_type << 4) | self.codec_id,))
        if self.avc_packet_type is None:
            return first + self.data
        return b"".join(
            (
                first,
                bytes((self.avc_packet_type,)),
                _si24_bytes(self.composition_time),
                self.data,
            )
        )


@attrs.frozen(kw_only=True)
class VideoCommandTag:
    """A legacy video info/command frame (frame type 5): a command byte, no video."""

    tag_type: ClassVar[TagType] = TagType.VIDEO

    #: The command (0 start of client-side seeking, 1 end; others reserved).
    command: int = attrs.field(validator=_byte)
    #: The codec id nibble that came with it.
    codec_id: VideoCodecId = attrs.field(default=VideoCodecId.AVC, converter=_to_video_codec_id)
    #: Anything after the command byte, as carried.
    data: bytes = attrs.field(default=b"", validator=_bytes)

    def to_bytes(self) -> bytes:
        """Serialize the tag body."""
        return bytes(((VideoFrameType.COMMAND << 4) | self.codec_id, self.command)) + self.data


@attrs.frozen(kw_only=True)
class ExVideoTag:
    """An Enhanced RTMP video tag body for one track.

    ``data`` is what follows the FourCC (and the composition time): the decoder
    configuration record (SEQUENCE_START), the coded frame (CODED_FRAMES,
    CODED_FRAMES_X; length-prefixed NAL units for avc1/hvc1/vvc1), AMF-encoded
    ``colorInfo`` (METADATA), an AV1 video descriptor (MPEG2TS_SEQUENCE_START) or
    nothing (SEQUENCE_END).  ``composition_time`` is only carried by CODED_FRAMES for
    avc1, hvc1 and vvc1.  ``frame_type`` is ignored by receivers for METADATA (FFmpeg
    writes 5 there), so any 0..7 is kept for that packet type.
    """

    tag_type: ClassVar[TagType] = TagType.VIDEO

    #: Frame type (1..4; any 0..7 with METADATA).
    frame_type: int
    #: The packet type (not MULTITRACK or MOD_EX, which this class expresses itself).
    packet_type: VideoPacketType = attrs.field(converter=_to_video_packet_type)
    #: The codec.
    fourcc: VideoFourCC = attrs.field(converter=_to_video_fourcc)
    #: Composition time offset in ms.
    composition_time: int = attrs.field(default=0, validator=_si24)
    #: The body after the header.
    data: bytes = attrs.field(default=b"", validator=_bytes)
    #: ModEx entries, in order.
    mod_ex: tuple[ModEx, ...] = attrs.field(default=(), validator=_mod_ex_tuple)

    def __attrs_post_init__(self) -> None:
        _check_ex_video(self.frame_type, self.packet_type, False)
        if self.composition_time and not (
            self.packet_type == VideoPacketType.CODED_FRAMES and self.fourcc in _CTS_FOURCCS
        ):
            raise ValueError("only CODED_FRAMES of avc1/hvc1/vvc1 carry a composition time")

    @property
    def keyframe(self) -> bool:
        """True for a key (or generated key) frame."""
        return self.frame_type in (VideoFrameType.KEY, VideoFrameType.GENERATED_KEY)

    @property
    def timestamp_offset_nano(self) -> int | None:
        """The TimestampOffsetNano ModEx value, if any."""
        return _timestamp_offset_nano(self.mod_ex)

    def to_bytes(self) -> bytes:
        """Serialize the tag body."""
        parts = [
            _write_mod_ex(0x80 | (self.frame_type << 4), self.mod_ex, self.packet_type),
            self.fourcc.encode("ascii"),
        ]
        if self.packet_type == VideoPacketType.CODED_FRAMES and self.fourcc in _CTS_FOURCCS:
            parts.append(_si24_bytes(self.composition_time))
        parts.append(self.data)
        return b"".join(parts)


def _check_ex_video(frame_type: int, packet_type: VideoPacketType, multitrack: bool) -> None:
    if packet_type not in _EX_VIDEO_PACKET_TYPES:
        raise ValueError(f"packet_type {packet_type!r} is not a track packet type")
    if type(frame_type) is not int and not isinstance(frame_type, int):
        raise TypeError("frame_type must be an int")
    if packet_type == VideoPacketType.METADATA:
        if not 0 <= frame_type <= 7:
            raise ValueError("frame_type is 3 bits")
        if multitrack and frame_type == VideoFrameType.COMMAND:
            # The command check comes before the multitrack header is read.
            raise ValueError("multitrack metadata cannot use frame type 5 (a command frame)")
    elif not 1 <= frame_type <= 4:
        raise ValueError("frame_type must be KEY, INTER, DISPOSABLE_INTER or GENERATED_KEY")


@attrs.frozen(kw_only=True)
class ExVideoCommandTag:
    """An Enhanced RTMP video command frame (frame type 5, packet type not METADATA).

    The Enhanced RTMP specification reads the command byte right after the packet type
    (and any ModEx), with no FourCC; the packet type nibble is kept as carried.
    """

    tag_type: ClassVar[TagType] = TagType.VIDEO

    #: The command (0 start of client-side seeking, 1 end; others reserved).
    command: int = attrs.field(validator=_byte)
    #: The packet type nibble that came with it.
    packet_type: VideoPacketType = attrs.field(
        default=VideoPacketType.CODED_FRAMES, converter=_to_video_packet_type
    )
    #: Anything after the command byte, as carried.
    data: bytes = attrs.field(default=b"", validator=_bytes)
    #: ModEx entries, in order.
    mod_ex: tuple[ModEx, ...] = attrs.field(default=(), validator=_mod_ex_tuple)

    def __attrs_post_init__(self) -> None:
        if self.packet_type in (VideoPacketType.METADATA, VideoPacketType.MOD_EX):
            raise ValueError("a command frame's packet type cannot be METADATA or MOD_EX")

    def to_bytes(self) -> bytes:
        """Serialize the tag body."""
        head = _write_mod_ex(0x80 | (VideoFrameType.COMMAND << 4), self.mod_ex, self.packet_type)
        return head + bytes((self.command,)) + self.data


@attrs.frozen(kw_only=True)
class VideoTrack:
    """One track of a :class:`MultitrackVideoTag`."""

    #: The track id (0 is the default/highest-priority track).
    track_id: int = attrs.field(validator=_byte)
    #: The track's codec.
    fourcc: VideoFourCC = attrs.field(converter=_to_video_fourcc)
    #: Composition time offset (CODED_FRAMES of avc1/hvc1/vvc1 only).
    composition_time: int = attrs.field(default=0, validator=_si24)
    #: The track's body (as :attr:`ExVideoTag.data`).
    data: bytes = attrs.field(default=b"", validator=_bytes)


def _check_tracks(
    multitrack_type: AvMultitrackType, tracks: tuple[Any, ...], track_class: type
) -> None:
    if type(tracks) is not tuple or not all(type(track) is track_class for track in tracks):
        raise TypeError(f"tracks must be a tuple of {track_class.__name__}")
    if not tracks:
        raise ValueError("a multitrack tag has at least one track")
    if len(tracks) > MAX_TRACKS:
        raise ValueError(f"more than {MAX_TRACKS} tracks (the parser refuses them)")
    if multitrack_type == AvMultitrackType.ONE_TRACK and len(tracks) != 1:
        raise ValueError("ONE_TRACK carries exactly one track")
    if multitrack_type != AvMultitrackType.MANY_TRACKS_MANY_CODECS and any(
        track.fourcc != tracks[0].fourcc for track in tracks
    ):
        raise ValueError("all tracks share one codec unless MANY_TRACKS_MANY_CODECS")


@attrs.frozen(kw_only=True)
class MultitrackVideoTag:
    """An Enhanced RTMP multitrack video tag body.

    ONE_TRACK carries one track, with its id; MANY_TRACKS several tracks of one codec;
    MANY_TRACKS_MANY_CODECS several tracks each with its own FourCC.  The frame type and
    packet type apply to every track of the message.  Multitrack METADATA cannot use
    frame type 5: receivers check for a command frame before they read the multitrack
    header.
    """

    tag_type: ClassVar[TagType] = TagType.VIDEO

    #: Frame type (1..4; any 0..7 with METADATA).
    frame_type: int
    #: The packet type of every track.
    packet_type: VideoPacketType = attrs.field(converter=_to_video_packet_type)
    #: The multitrack mode.
    multitrack_type: AvMultitrackType = attrs.field(converter=_to_av_multitrack_type)
    #: The tracks, in order.
    tracks: tuple[VideoTrack, ...]
    #: ModEx entries, in order.
    mod_ex: tuple[ModEx, ...] = attrs.field(default=(), validator=_mod_ex_tuple)

    def __attrs_post_init__(self) -> None:
        _check_ex_video(self.frame_type, self.packet_type, True)
        _check_tracks(self.multitrack_type, self.tracks, VideoTrack)
        for track in self.tracks:
            if track.composition_time and not (
                self.packet_type == VideoPacketType.CODED_FRAMES and track.fourcc in _CTS_FOURCCS
            ):
                raise ValueError("only CODED_FRAMES of avc1/hvc1/vvc1 carry a composition time")
            if self.multitrack_type != AvMultitrackType.ONE_TRACK and (
                len(track.data) + 3 > 0xFFFFFF
            ):
                raise ValueError("a track of a many-track message is at most 16 MiB")

    @property
    def keyframe(self) -> bool:
        """True for a key (or generated key) frame."""
        return self.frame_type in (VideoFrameType.KEY, VideoFrameType.GENERATED_KEY)

    @property
    def timestamp_offset_nano(self) -> int | None:
        """The TimestampOffsetNano ModEx value, if any."""
        return _timestamp_offset_nano(self.mod_ex)

    def to_bytes(self) -> bytes:
        """Serialize the tag body."""
        parts = [
            _write_mod_ex(0x80 | (self.frame_type << 4), self.mod_ex, VideoPacketType.MULTITRACK),
            bytes(((self.multitrack_type << 4) | self.packet_type,)),
        ]
        many_codecs = self.multitrack_type == AvMultitrackType.MANY_TRACKS_MANY_CODECS
        if not many_codecs:
            parts.append(self.tracks[0].fourcc.encode("ascii"))
        for track in self.tracks:
            if many_codecs:
                parts.append(track.fourcc.encode("ascii"))
            parts.append(bytes((track.track_id,)))
            body = track.data
            if self.packet_type == VideoPacketType.CODED_FRAMES and track.fourcc in _CTS_FOURCCS:
                body = _si24_bytes(track.composition_time) + body
            if self.multitrack_type != AvMultitrackType.ONE_TRACK:
                parts.append(len(body).to_bytes(3, "big"))
            parts.append(body)
        return b"".join(parts)


# --------------------------------------------------------------------------- audio tags


@attrs.frozen(kw_only=True)
class AudioTag:
    """A legacy audio tag body.

    For AAC, ``aac_packet_type`` is required and ``data`` is the AudioSpecificConfig
    (sequence header) or one raw AAC frame; the FLV specification asks for the rate,
    size and type flags 44 kHz, 16 bit, stereo with AAC whatever the real stream is.
    """

    tag_type: ClassVar[TagType] = TagType.AUDIO

    #: The codec (not EX_HEADER, which is :class:`ExAudioTag`).
    sound_format: SoundFormat = attrs.field(converter=_to_sound_format)
    #: Sampling rate flag.
    sound_rate: SoundRate = attrs.field(default=SoundRate.KHZ_44, converter=_to_sound_rate)
    #: Sample size flag.
    sound_size: SoundSize = attrs.field(default=SoundSize.BITS_16, converter=_to_sound_size)
    #: Mono/stereo flag.
    sound_type: SoundType = attrs.field(default=SoundType.STEREO, converter=_to_sound_type)
    #: The AAC packet type (AAC only).
    aac_packet_type: AACPacketType | None = attrs.field(
        default=None, converter=_to_optional_aacpacket_type
    )
    #: The rest of the body.
    data: bytes = attrs.field(default=b"", validator=_bytes)

    def __attrs_post_init__(self) -> None:
        if self.sound_format == SoundFormat.EX_HEADER:
            raise ValueError("SoundFormat 9 is an ExAudioTag")
        if (self.sound_format == SoundFormat.AAC) != (self.aac_packet_type is not None):
            raise ValueError("aac_packet_type is required for AAC and only for AAC")

    @property
    def is_sequence_header(self) -> bool:
        """True for an AAC sequence header."""
        return self.aac_packet_type == AACPacketType.SEQUENCE_HEADER

    def to_bytes(self) -> bytes:
        """Serialize the tag body."""
        first = (
            (self.sound_format << 4)
            | (self.sound_rate << 2)
            | (self.sound_size << 1)
            | self.sound_type
        )
        if self.aac_packet_type is None:
            return bytes((first,)) + self.data
        return bytes((first, self.aac_packet_type)) + self.data


def _check_ex_audio(packet_type: AudioPacketType) -> None:
    if packet_type not in _EX_AUDIO_PACKET_TYPES:
        raise ValueError(f"packet_type {packet_type!r} is not a track packet type")


@attrs.frozen(kw_only=True)
class ExAudioTag:
    """An Enhanced RTMP audio tag body for one track.

    ``data`` is the sequence header (SEQUENCE_START: AudioSpecificConfig for mp4a,
    OpusHead for Opus, ``fLaC`` + STREAMINFO for fLaC), coded frames (CODED_FRAMES),
    a multichannel configuration (MULTICHANNEL_CONFIG, see
    :func:`parse_multichannel_config`) or nothing (SEQUENCE_END).
    """

    tag_type: ClassVar[TagType] = TagType.AUDIO

    #: The packet type (not MULTITRACK or MOD_EX).
    packet_type: AudioPacketType = attrs.field(converter=_to_audio_packet_type)
    #: The codec.
    fourcc: AudioFourCC = attrs.field(converter=_to_audio_fourcc)
    #: The body after the FourCC.
    data: bytes = attrs.field(default=b"", validator=_bytes)
    #: ModEx entries, in order.
    mod_ex: tuple[ModEx, ...] = attrs.field(default=(), validator=_mod_ex_tuple)

    def __attrs_post_init__(self) -> None:
        _check_ex_audio(self.packet_type)

    @property
    def timestamp_offset_nano(self) -> int | None:
        """The TimestampOffsetNano ModEx value, if any."""
        return _timestamp_offset_nano(self.mod_ex)

    def to_bytes(self) -> bytes:
        """Serialize the tag body."""
        head = _write_mod_ex(SoundFormat.EX_HEADER << 4, self.mod_ex, self.packet_type)
        return head + self.fourcc.encode("ascii") + self.data


@attrs.frozen(kw_only=True)
class AudioTrack:
    """One track of a :class:`MultitrackAudioTag`."""

    #: The track id (0 is the default/highest-priority track).
    track_id: int = attrs.field(validator=_byte)
    #: The track's codec.
    fourcc: AudioFourCC = attrs.field(converter=_to_audio_fourcc)
    #: The track's body (as :attr:`ExAudioTag.data`).
    data: bytes = attrs.field(default=b"", validator=_bytes)


@attrs.frozen(kw_only=True)
class MultitrackAudioTag:
    """An Enhanced RTMP multitrack audio tag body (see :class:`MultitrackVideoTag`)."""

    tag_type: ClassVar[TagType] = TagType.AUDIO

    #: The packet type of every track.
    packet_type: AudioPacketType = attrs.field(converter=_to_audio_packet_type)
    #: The multitrack mode.
    multitrack_type: AvMultitrackType = attrs.field(converter=_to_av_multitrack_type)
    #: The tracks, in order.
    tracks: tuple[AudioTrack, ...]
    #: ModEx entries, in order.
    mod_ex: tuple[ModEx, ...] = attrs.field(default=(), validator=_mod_ex_tuple)

    def __attrs_post_init__(self) -> None:
        _check_ex_audio(self.packet_type)
        _check_tracks(self.multitrack_type, self.tracks, AudioTrack)
        if self.multitrack_type != AvMultitrackType.ONE_TRACK and any(
            len(track.data) > 0xFFFFFF for track in self.tracks
        ):
            raise ValueError("a track of a many-track message is at most 16 MiB")

    @property
    def timestamp_offset_nano(self) -> int | None:
        """The TimestampOffsetNano ModEx value, if any."""
        return _timestamp_offset_nano(self.mod_ex)

    def to_bytes(self) -> bytes:
        """Serialize the tag body."""
        parts = [
            _write_mod_ex(SoundFormat.EX_HEADER << 4, self.mod_ex, AudioPacketType.MULTITRACK),
            bytes(((self.multitrack_type << 4) | self.packet_type,)),
        ]
        many_codecs = self.multitrack_type == AvMultitrackType.MANY_TRACKS_MANY_CODECS
        if not many_codecs:
            parts.append(self.tracks[0].fourcc.encode("ascii"))
        for track in self.tracks:
            if many_codecs:
                parts.append(track.fourcc.encode("ascii"))
            parts.append(bytes((track.track_id,)))
            if self.multitrack_type != AvMultitrackType.ONE_TRACK:
                parts.append(len(track.data).to_bytes(3, "big"))
            parts.append(track.data)
        return b"".join(parts)


@attrs.frozen(kw_only=True)
class AudioMultichannelConfig:
    """The body of an Enhanced RTMP MultichannelConfig packet.

    ``channel_mapping`` (one AudioChannel byte per channel) is present with CUSTOM
    order, ``channel_flags`` (an AudioChannelMask) with NATIVE order.
    """

    #: How the channels are ordered.
    channel_order: AudioChannelOrder = attrs.field(converter=_to_audio_channel_order)
    #: Number of channels.
    channel_count: int = attrs.field(validator=_byte)
    #: Speaker of each channel (CUSTOM order).
    channel_mapping: bytes = attrs.field(default=b"", validator=_bytes)
    #: Present speakers as a bit mask (NATIVE order).
    channel_flags: int = 0

    def __attrs_post_init__(self) -> None:
        custom = self.channel_order == AudioChannelOrder.CUSTOM
        if custom and len(self.channel_mapping) != self.channel_count:
            raise ValueError("CUSTOM order needs one mapping byte per channel")
        if not custom and self.channel_mapping:
            raise ValueError("only CUSTOM order has a channel mapping")
        if self.channel_order != AudioChannelOrder.NATIVE and self.channel_flags:
            raise ValueError("only NATIVE order has channel flags")
        if not 0 <= self.channel_flags <= 0xFFFFFFFF:
            raise ValueError("channel_flags is 32 bits")

    def to_bytes(self) -> bytes:
        """Serialize the packet body."""
        head = bytes((self.channel_order, self.channel_count))
        if self.channel_order == AudioChannelOrder.CUSTOM:
            return head + self.channel_mapping
        if self.channel_order == AudioChannelOrder.NATIVE:
            return head + self.channel_flags.to_bytes(4, "big")
        return head

    def to_dict(self) -> dict[str, Any]:
        """As the ``value`` of a ``multichannelConfig`` :class:`Metadata` frame."""
        result: dict[str, Any] = {
            "channelOrder": int(self.channel_order),
            "channelCount": self.channel_count,
        }
        if self.channel_order == AudioChannelOrder.CUSTOM:
            result["channelMapping"] = list(self.channel_mapping)
        elif self.channel_order == AudioChannelOrder.NATIVE:
            result["channelFlags"] = self.channel_flags
        return result


def parse_multichannel_config(data: bytes) -> AudioMultichannelConfig:
    """Parse a MultichannelConfig body; trailing bytes are an error."""
    if len(data) < 2:
        raise RemoteProtocolError("MultichannelConfig is shorter than 2 bytes")
    order, count = data[0], data[1]
    if order > 2:
        raise RemoteProtocolError(f"unknown audio channel order {order}")
    if order == AudioChannelOrder.CUSTOM:
        if len(data) != 2 + count:
            raise RemoteProtocolError("MultichannelConfig channel mapping has the wrong length")
        return AudioMultichannelConfig(
            channel_order=AudioChannelOrder.CUSTOM, channel_count=count, channel_mapping=data[2:]
        )
    if order == AudioChannelOrder.NATIVE:
        if len(data) != 6:
            raise RemoteProtocolError("MultichannelConfig channel flags have the wrong length")
        return AudioMultichannelConfig(
            channel_order=AudioChannelOrder.NATIVE,
            channel_count=count,
            channel_flags=int.from_bytes(data[2:6], "big"),
        )
    if len(data) != 2:
        raise RemoteProtocolError("MultichannelConfig has trailing bytes")
    return AudioMultichannelConfig(channel_order=AudioChannelOrder.UNSPECIFIED, channel_count=count)


# --------------------------------------------------------------------------- script


@attrs.frozen(kw_only=True)
class ScriptTag:
    """A script data tag / data message: AMF0 values, e.g. ``("onMetaData", {...})``."""

    tag_type: ClassVar[TagType] = TagType.SCRIPT

    #: The decoded values.
    values: tuple[Any, ...]

    def to_bytes(self) -> bytes:
        """Serialize with AMF0."""
        return amf0.encode(*self.values)


def parse_script_tag(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> ScriptTag:
    """Decode a script data body (AMF0) into a :class:`ScriptTag`."""
    return ScriptTag(values=tuple(amf0.decode(data, limits=limits)))


# --------------------------------------------------------------------------- parsing

#: Any video tag object.
AnyVideoTag = VideoTag | VideoCommandTag | ExVideoTag | ExVideoCommandTag | MultitrackVideoTag
#: Any audio tag object.
AnyAudioTag = AudioTag | ExAudioTag | MultitrackAudioTag
#: Any tag object.
AnyTag = AnyVideoTag | AnyAudioTag | ScriptTag


def _fourcc(data: bytes, position: int, table: dict[bytes, Any], what: str) -> Any:
    if position + 4 > len(data):
        raise RemoteProtocolError(f"{what} FourCC is truncated")
    code = bytes(data[position : position + 4])
    fourcc = table.get(code)
    if fourcc is None:
        raise RemoteProtocolError(f"unknown {what} FourCC {code!r}")
    return fourcc


def _video_packet_type(value: int) -> VideoPacketType:
    if value > 7:
        raise RemoteProtocolError(f"reserved video packet type {value}")
    return VideoPacketType(value)


def parse_video_tag(data: bytes) -> AnyVideoTag:
    """Parse a video tag body (an RTMP video message payload).

    Raises :class:`~trio_rtmp.core.errors.RemoteProtocolError` for anything malformed,
    reserved or unknown (an unknown FourCC, packet type or codec id).
    """
    data = bytes(data)
    if not data:
        raise RemoteProtocolError("empty video message")
    first = data[0]
    if first & 0x80:
        return _parse_ex_video(data)
    frame_type = first >> 4
    codec = first & 0xF
    if codec not in VideoCodecId._value2member_map_:
        raise RemoteProtocolError(f"unknown video codec id {codec}")
    codec_id = VideoCodecId(codec)
    if frame_type == VideoFrameType.COMMAND:
        if len(data) < 2:
            raise RemoteProtocolError("video command frame without its command byte")
        return VideoCommandTag(command=data[1], codec_id=codec_id, data=data[2:])
    if not 1 <= frame_type <= 4:
        raise RemoteProtocolError(f"reserved video frame type {frame_type}")
    if codec_id in _LEGACY_NAL_CODECS:
        if len(data) < 5:
            raise RemoteProtocolError("AVC video tag shorter than 5 bytes")
        if data[1] > 2:
            raise RemoteProtocolError(f"unknown AVC packet type {data[1]}")
        return VideoTag(
            frame_type=VideoFrameType(frame_type),
            codec_id=codec_id,
            avc_packet_type=AVCPacketType(data[1]),
            composition_time=_si24_at(data, 2),
            data=data[5:],
        )
    return VideoTag(frame_type=VideoFrameType(frame_type), codec_id=codec_id, data=data[1:])


def _frame_type_value(frame_type: int) -> int:
    if frame_type in VideoFrameType._value2member_map_:
        return VideoFrameType(frame_type)
    return frame_type


def _parse_ex_video(data: bytes) -> AnyVideoTag:
    first = data[0]
    frame_type = (first >> 4) & 7
    mod_ex, packet_type, position = _read_mod_ex(data, 1, first & 0xF)
    mod_ex_tuple = tuple(mod_ex)
    kind = _video_packet_type(packet_type)
    if frame_type == VideoFrameType.COMMAND and kind != VideoPacketType.METADATA:
        if position >= len(data):
            raise RemoteProtocolError("video command frame without its command byte")
        return ExVideoCommandTag(
            command=data[position],
            packet_type=kind,
            data=data[position + 1 :],
            mod_ex=mod_ex_tuple,
        )
    if kind == VideoPacketType.MULTITRACK:
        return _parse_multitrack_video(data, position, _frame_type_value(frame_type), mod_ex_tuple)
    if kind != VideoPacketType.METADATA and not 1 <= frame_type <= 4:
        raise RemoteProtocolError(f"reserved video frame type {frame_type}")
    fourcc = _fourcc(data, position, _VIDEO_FOURCCS, "video")
    position += 4
    composition_time = 0
    if kind == VideoPacketType.CODED_FRAMES and fourcc in _CTS_FOURCCS:
        if position + 3 > len(data):
            raise RemoteProtocolError("composition time is truncated")
        composition_time = _si24_at(data, position)
        position += 3
    return ExVideoTag(
        frame_type=_frame_type_value(frame_type),
        packet_type=kind,
        fourcc=fourcc,
        composition_time=composition_time,
        data=data[position:],
        mod_ex=mod_ex_tuple,
    )


def _multitrack_header(data: bytes, position: int, what: str) -> tuple[AvMultitrackType, int, int]:
    if position >= len(data):
        raise RemoteProtocolError(f"{what} multitrack header is missing")
    mode = data[position] >> 4
    if mode > 2:
        raise RemoteProtocolError(f"reserved {what} multitrack type {mode}")
    return AvMultitrackType(mode), data[position] & 0xF, position + 1


def _track_body(
    data: bytes, position: int, mode: AvMultitrackType, what: str
) -> tuple[int, bytes, int]:
    """Read a track id (and size); returns the id, the track body and the next position."""
    end = len(data)
    if position >= end:
        raise RemoteProtocolError(f"{what} track id is missing")
    track_id = data[position]
    position += 1
    if mode == AvMultitrackType.ONE_TRACK:
        return track_id, data[position:], end
    if position + 3 > end:
        raise RemoteProtocolError(f"{what} track size is truncated")
    size = _u24(data, position)
    position += 3
    if position + size > end:
        raise RemoteProtocolError(f"{what} track runs past the end of the message")
    return track_id, data[position : position + size], position + size


def _parse_multitrack_video(
    data: bytes, position: int, frame_type: int, mod_ex: tuple[ModEx, ...]
) -> MultitrackVideoTag:
    mode, inner, position = _multitrack_header(data, position, "video")
    kind = _video_packet_type(inner)
    if kind in (VideoPacketType.MULTITRACK, VideoPacketType.MOD_EX):
        raise RemoteProtocolError("a multitrack video packet type cannot be Multitrack or ModEx")
    if kind != VideoPacketType.METADATA and not 1 <= frame_type <= 4:
        raise RemoteProtocolError(f"reserved video frame type {frame_type}")
    many_codecs = mode == AvMultitrackType.MANY_TRACKS_MANY_CODECS
    shared = None
    if not many_codecs:
        shared = _fourcc(data, position, _VIDEO_FOURCCS, "video")
        position += 4
    tracks: list[VideoTrack] = []
    while True:
        if many_codecs:
            fourcc = _fourcc(data, position, _VIDEO_FOURCCS, "video")
            position += 4
        else:
            fourcc = shared
        if len(tracks) == MAX_TRACKS:
            raise RemoteProtocolError(f"more than {MAX_TRACKS} tracks in one video message")
        track_id, body, position = _track_body(data, position, mode, "video")
        composition_time = 0
        if kind == VideoPacketType.CODED_FRAMES and fourcc in _CTS_FOURCCS:
            if len(body) < 3:
                raise RemoteProtocolError("composition time is truncated")
            composition_time = _si24_at(body, 0)
            body = body[3:]
        tracks.append(
            VideoTrack(
                track_id=track_id, fourcc=fourcc, composition_time=composition_time, data=body
            )
        )
        if position >= len(data):
            break
    return MultitrackVideoTag(
        frame_type=frame_type,
        packet_type=kind,
        multitrack_type=mode,
        tracks=tuple(tracks),
        mod_ex=mod_ex,
    )


def parse_audio_tag(data: bytes) -> AnyAudioTag:
    """Parse an audio tag body (an RTMP audio message payload).

    An empty audio message is the "silence" message; it has no tag object and raises
    :class:`~trio_rtmp.core.errors.RemoteProtocolError` here (the demuxer skips it).
    """
    data = bytes(data)
    if not data:
        raise RemoteProtocolError("empty audio message (silence) has no tag")
    first = data[0]
    sound_format = first >> 4
    if sound_format == SoundFormat.EX_HEADER:
        return _parse_ex_audio(data)
    if sound_format not in SoundFormat._value2member_map_:
        raise RemoteProtocolError(f"reserved sound format {sound_format}")
    rate = SoundRate((first >> 2) & 3)
    size = SoundSize((first >> 1) & 1)
    channels = SoundType(first & 1)
    if sound_format == SoundFormat.AAC:
        if len(data) < 2:
            raise RemoteProtocolError("AAC audio tag without its packet type")
        if data[1] > 1:
            raise RemoteProtocolError(f"unknown AAC packet type {data[1]}")
        return AudioTag(
            sound_format=SoundFormat.AAC,
            sound_rate=rate,
            sound_size=size,
            sound_type=channels,
            aac_packet_type=AACPacketType(data[1]),
            data=data[2:],
        )
    return AudioTag(
        sound_format=SoundFormat(sound_format),
        sound_rate=rate,
        sound_size=size,
        sound_type=channels,
        data=data[1:],
    )


def _audio_packet_type(value: int) -> AudioPacketType:
    if value not in AudioPacketType._value2member_map_:
        raise RemoteProtocolError(f"reserved audio packet type {value}")
    return AudioPacketType(value)


def _parse_ex_audio(data: bytes) -> AnyAudioTag:
    mod_ex, packet_type, position = _read_mod_ex(data, 1, data[0] & 0xF)
    kind = _audio_packet_type(packet_type)
    if kind == AudioPacketType.MULTITRACK:
        mode, inner, position = _multitrack_header(data, position, "audio")
        kind = _audio_packet_type(inner)
        if kind in (AudioPacketType.MULTITRACK, AudioPacketType.MOD_EX):
            raise RemoteProtocolError(
                "a multitrack audio packet type cannot be Multitrack or ModEx"
            )
        many_codecs = mode == AvMultitrackType.MANY_TRACKS_MANY_CODECS
        shared = None
        if not many_codecs:
            shared = _fourcc(data, position, _AUDIO_FOURCCS, "audio")
            position += 4
        tracks: list[AudioTrack] = []
        while True:
            if many_codecs:
                fourcc = _fourcc(data, position, _AUDIO_FOURCCS, "audio")
                position += 4
            else:
                fourcc = shared
            if len(tracks) == MAX_TRACKS:
                raise RemoteProtocolError(f"more than {MAX_TRACKS} tracks in one audio message")
            track_id, body, position = _track_body(data, position, mode, "audio")
            tracks.append(AudioTrack(track_id=track_id, fourcc=fourcc, data=body))
            if position >= len(data):
                break
        return MultitrackAudioTag(
            packet_type=kind, multitrack_type=mode, tracks=tuple(tracks), mod_ex=tuple(mod_ex)
        )
    fourcc = _fourcc(data, position, _AUDIO_FOURCCS, "audio")
    return ExAudioTag(
        packet_type=kind, fourcc=fourcc, data=data[position + 4 :], mod_ex=tuple(mod_ex)
    )


def parse_tag(tag_type: int, data: bytes) -> AnyTag:
    """Parse a tag body of the given FLV tag type / RTMP message type (8, 9 or 18)."""
    if tag_type == TagType.VIDEO:
        return parse_video_tag(data)
    if tag_type == TagType.AUDIO:
        return parse_audio_tag(data)
    if tag_type == TagType.SCRIPT:
        return parse_script_tag(data)
    raise LocalProtocolError(f"tag type {tag_type} is not audio (8), video (9) or script (18)")


# --------------------------------------------------------------------------- fast paths


def _skip_mod_ex(body: bytes, position: int, packet_type: int) -> tuple[int, int]:
    """Skip a ModEx chain without building anything; returns (packet type, position)."""
    end = len(body)
    while packet_type == 7:
        if position >= end:
            return -1, position
        size = body[position] + 1
        position += 1
        if size == 256:
            if position + 2 > end:
                return -1, position
            size = ((body[position] << 8) | body[position + 1]) + 1
            position += 2
        position += size
        if position >= end:
            return -1, position
        packet_type = body[position] & 0xF
        position += 1
    return packet_type, position


def video_info(body: bytes) -> tuple[bool, bool]:
    """Classify a raw video body cheaply: ``(is_keyframe, is_sequence_header)``.

    For a relay's hot path: no objects, no validation, never raises.

    * ``is_keyframe`` is true for a *coded* key frame (frame type KEY or GENERATED_KEY;
      legacy AVC/HEVC NALU packets, other legacy codecs, enhanced CodedFrames and
      CodedFramesX), the point where a player can start decoding;
    * ``is_sequence_header`` is true for a decoder configuration (legacy AVC/HEVC
      sequence header; enhanced SequenceStart or MPEG2TSSequenceStart), which a relay
      keeps to send to players that join later.

    Multitrack messages are classified by their shared packet and frame type.
    Command frames, metadata, sequence ends and malformed bodies give
    ``(False, False)``; see :func:`is_video_metadata` for Enhanced RTMP metadata.
    """
    if not body:
        return False, False
    first = body[0]
    frame_type = (first >> 4) & 7
    if not first & 0x80:
        if frame_type == 5:
            return False, False
        codec = first & 0xF
        if codec == 7 or codec == 12:
            if len(body) < 2:
                return False, False
            packet_type = body[1]
            if packet_type == 0:
                return False, True
            return packet_type == 1 and (frame_type == 1 or frame_type == 4), False
        return frame_type == 1 or frame_type == 4, False
    packet_type, position = _skip_mod_ex(body, 1, first & 0xF)
    if frame_type == 5 and packet_type != 4:
        return False, False
    if packet_type == 6:
        if position >= len(body):
            return False, False
        packet_type = body[position] & 0xF
    if packet_type == 0 or packet_type == 5:
        return False, True
    if packet_type == 1 or packet_type == 3:
        return frame_type == 1 or frame_type == 4, False
    return False, False


def is_video_metadata(body: bytes) -> bool:
    """True if a raw video body is an Enhanced RTMP Metadata packet (e.g. colorInfo).

    A relay keeps the latest one next to the sequence header.  Never raises.
    """
    if len(body) < 2 or not body[0] & 0x80:
        return False
    packet_type, position = _skip_mod_ex(body, 1, body[0] & 0xF)
    if (body[0] >> 4) & 7 == 5 and packet_type != 4:
        return False  # a command frame, whatever follows
    if packet_type == 6:
        if position >= len(body):
            return False
        packet_type = body[position] & 0xF
    return packet_type == 4


def is_audio_multichannel_config(body: bytes) -> bool:
    """True if a raw audio body is an Enhanced RTMP MultichannelConfig packet.

    A relay keeps the latest one of each track next to the sequence header.  Never
    raises.
    """
    return len(body) >= 2 and body[0] >> 4 == 9 and _ex_audio_packet_type(body) == 4


def _ex_audio_packet_type(body: bytes) -> int:
    """An Enhanced RTMP audio body's packet type, past ModEx and a multitrack header
    (-1 if the body ends first)."""
    packet_type, position = _skip_mod_ex(body, 1, body[0] & 0xF)
    if packet_type == 5:
        if position >= len(body):
            return -1
        packet_type = body[position] & 0xF
    return packet_type


#: The most tracks one multitrack body may list (track ids are one byte): more is a
#: malformed body for the parser, and ``()`` from :func:`track_ids`.
MAX_TRACKS = 256
#: The most ModEx entries one Enhanced RTMP tag may carry (each is an object: a body
#: of thousands would cost far more than its size).
MAX_MOD_EX = 64


def track_ids(tag_type: int, body: bytes) -> tuple[int, ...]:
    """The tracks a raw audio (8) or video (9) body is for, without parsing it.

    ``(0,)`` for a legacy or single-track Enhanced RTMP body; the track ids in their
    order for a multitrack one (FFmpeg 8 and later send each track but the first as a
    OneTrack multitrack message).  ``()`` for a body that is empty, malformed, or
    lists more than :data:`MAX_TRACKS` tracks.  No copies; never raises.
    """
    if not body:
        return ()
    first = body[0]
    if tag_type == TagType.VIDEO:
        if not first & 0x80:
            return (0,)
        multitrack = 6
    elif first >> 4 == 9:
        multitrack = 5
    else:
        return (0,)
    packet_type, position = _skip_mod_ex(body, 1, first & 0xF)
    if packet_type < 0:
        return ()
    if packet_type != multitrack or (multitrack == 6 and (first >> 4) & 7 == 5):
        return (0,)  # a single track, or a video command frame (which has no tracks)
    end = len(body)
    if position >= end:
        return ()
    mode = body[position] >> 4
    position += 1
    if mode == 0:
        # OneTrack: FourCC, track id, the track's body.
        return (body[position + 4],) if position + 4 < end else ()
    if mode > 2:
        return ()
    tracks: list[int] = []
    if mode == 1:
        position += 4  # the FourCC all tracks share
    while position < end and len(tracks) < MAX_TRACKS:
        if mode == 2:
            position += 4  # this track's FourCC
        if position + 4 > end:
            return ()
        tracks.append(body[position])
        position += 4 + int.from_bytes(body[position + 1 : position + 4], "big")
    if position != end:
        return ()
    return tuple(tracks)


class GopTrack:
    """Which video keyframes start a GOP, in a stream that may have several tracks.

    Those of the track the stream's first keyframe was of (track 0 in FFmpeg's
    multitrack streams): a player, a file or a server that starts at a keyframe of
    another track could not decode the first track until its next keyframe.  For a
    relay, a recorder or a publisher that moves to another server.
    """

    __slots__ = ("track",)

    def __init__(self) -> None:
        #: The track whose keyframes start a GOP; ``None`` until the first keyframe.
        self.track: int | None = None

    def starts_gop(self, body: bytes) -> bool:
        """Whether a video keyframe's body (see :func:`video_info`) starts a GOP."""
        if not body:
            return False
        tracks = (0,) if body[0] < 0x80 else track_ids(TagType.VIDEO, body)
        if self.track is None:
            if not tracks:
                return False
            self.track = tracks[0]
        return self.track in tracks


def is_audio_sequence_header(body: bytes) -> bool:
    """True if a raw audio body is a sequence header (AAC legacy, enhanced SequenceStart).

    For a relay's hot path: no objects, never raises; malformed bodies give ``False``.
    Enhanced MultichannelConfig packets are not sequence headers.
    """
    if len(body) < 2:
        return False
    first = body[0]
    sound_format = first >> 4
    if sound_format == 10:
        return body[1] == 0
    return sound_format == 9 and _ex_audio_packet_type(body) == 0
