"""The frames the demuxer hands out and the muxer takes in.

These are the seed's ``{:codec, codec, init}`` and ``{:sample, ...}`` tuples as Python
values (see ``MISSION.md``):

* :class:`CodecConfig` announces a track's codec and its initialisation data (the
  decoder configuration record) before the first sample of that codec;
* :class:`VideoSample` is one coded video frame with its decode and presentation time;
* :class:`AudioSample` is one coded audio frame;
* :class:`Metadata` carries ``onMetaData``, an Enhanced RTMP ``colorInfo`` and other
  stream-level information.

All four are frozen, slotted attrs classes, positionally constructible
(``VideoSample([sps, pps, idr], 0, 40, True)``), validated on construction.  Times
are integer milliseconds on the RTMP clock: 32-bit timestamps as they came off the
wire, and ``pts = dts + composition time`` (so ``pts`` may leave the 32-bit range).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import attrs

__all__ = [
    "AUDIO_CODECS",
    "VIDEO_CODECS",
    "AudioInfo",
    "AudioSample",
    "CodecConfig",
    "Frame",
    "Metadata",
    "VideoInfo",
    "VideoSample",
]

#: Video codec names, as in ``MISSION.md``.
VIDEO_CODECS = frozenset(
    {
        "h264",
        "h265",
        "av1",
        "vp9",
        "vp8",
        "h266",
        "sorenson_h263",
        "screen_video",
        "vp6",
        "vp6_alpha",
        "screen_video_2",
    }
)
#: Audio codec names, as in ``MISSION.md``.
AUDIO_CODECS = frozenset(
    {
        "aac",
        "mp3",
        "opus",
        "flac",
        "ac3",
        "eac3",
        "pcma",
        "pcmu",
        "speex",
        "nellymoser",
        "pcm",
        "adpcm",
    }
)
#: Codecs whose video samples are lists of NAL units rather than one bytes object.
NAL_CODECS = frozenset({"h264", "h265"})


def _check_track(track: object) -> None:
    if type(track) is not int or not 0 <= track <= 255:
        raise TypeError(f"track must be an int in 0..255, not {track!r}")


@attrs.frozen(kw_only=True)
class VideoInfo:
    """What a video codec configuration says about the stream (for people and probes).

    Every field is ``None`` when the configuration does not tell.
    """

    #: Picture width in pixels, after cropping.
    width: int | None = None
    #: Picture height in pixels, after cropping.
    height: int | None = None
    #: Codec profile, by name where one is known ("High", "Main 10", "0" for AV1 Main).
    profile: str | None = None
    #: Codec level ("3.1", "4", "5.1", ...).
    level: str | None = None
    #: Bits per luma sample.
    bit_depth: int | None = None
    #: Chroma format: "4:0:0", "4:2:0", "4:2:2" or "4:4:4".
    chroma_format: str | None = None
    #: Frames per second, when the bitstream declares it.
    frame_rate: float | None = None


@attrs.frozen(kw_only=True)
class AudioInfo:
    """What an audio codec configuration says about the stream.

    Every field is ``None`` when the configuration does not tell.
    """

    #: Output sample rate in Hz.
    sample_rate: int | None = None
    #: Number of channels.
    channels: int | None = None
    #: Bits per sample for PCM-like codecs (8 or 16), else ``None``.
    sample_size: int | None = None
    #: Codec profile ("LC", "HE-AAC", "HE-AACv2", ...).
    profile: str | None = None


@attrs.frozen
class CodecConfig:
    """A track's codec and initialisation data: the seed's ``{:codec, codec, init}``.

    ``init_data`` is the decoder configuration record exactly as the stream carried it
    (AVCDecoderConfigurationRecord for h264, HEVCDecoderConfigurationRecord for h265,
    AV1CodecConfigurationRecord for av1, VPCodecConfigurationRecord for vp8/vp9,
    AudioSpecificConfig for aac, OpusHead for opus, ``fLaC`` + STREAMINFO for flac), or
    ``None`` for codecs that have none (mp3, speex, the legacy video codecs, ...): those
    are announced with ``None`` before their first sample.

    ``info`` is what trio-rtmp could read from the configuration (resolution, sample
    rate, ...), or ``None``.  It is derived data and takes no part in equality.
    """

    #: "video" or "audio".
    media: str
    #: Lowercase codec name ("h264", "aac", ...; see ``VIDEO_CODECS``/``AUDIO_CODECS``).
    codec: str
    #: The configuration record bytes, or ``None``.
    init_data: bytes | None
    #: Enhanced RTMP track id (0 for ordinary single-track streams).
    track: int = 0
    #: Parsed facts about the stream, when available.
    info: VideoInfo | AudioInfo | None = attrs.field(default=None, eq=False)

    def __attrs_post_init__(self) -> None:
        if self.media == "video":
            if self.codec not in VIDEO_CODECS:
                raise ValueError(f"unknown video codec {self.codec!r}")
        elif self.media == "audio":
            if self.codec not in AUDIO_CODECS:
                raise ValueError(f"unknown audio codec {self.codec!r}")
        else:
            raise ValueError(f"media must be 'video' or 'audio', not {self.media!r}")
        if self.init_data is not None and type(self.init_data) is not bytes:
            raise TypeError("init_data must be bytes or None")
        _check_track(self.track)
        if self.info is not None and not isinstance(self.info, VideoInfo | AudioInfo):
            raise TypeError("info must be a VideoInfo, an AudioInfo or None")


class _VideoSampleFields(NamedTuple):
    payload: list[bytes] | bytes
    dts: int
    pts: int
    keyframe: bool
    track: int = 0


class VideoSample(_VideoSampleFields):
    """One coded video frame: the seed's ``{:sample, payload, dts, pts, keyframe?}``.

    For h264 and h265 ``payload`` is the list of NAL units (bytes, without length
    prefix or start code); for every other codec it is the frame's bytes as carried.
    ``dts`` is the RTMP timestamp; ``pts = dts + composition time offset``.

    An immutable value with named fields (``payload``, ``dts``, ``pts``, ``keyframe``,
    ``track``), equal only to a ``VideoSample`` with the same fields.  It is a tuple
    underneath because one is made per frame: a tuple costs a third of an attrs
    instance, which is most of what the demuxer spends per frame.
    """

    __slots__ = ()

    def __new__(
        cls,
        payload: list[bytes] | bytes,
        dts: int,
        pts: int,
        keyframe: bool,
        track: int = 0,
    ) -> VideoSample:
        if type(payload) is not bytes and type(payload) is not list:
            raise TypeError("payload must be bytes or a list of bytes")
        if type(dts) is not int or type(pts) is not int:
            raise TypeError("dts and pts must be ints (milliseconds)")
        if type(keyframe) is not bool:
            raise TypeError("keyframe must be a bool")
        if type(track) is not int or not 0 <= track <= 255:
            raise TypeError(f"track must be an int in 0..255, not {track!r}")
        return tuple.__new__(cls, (payload, dts, pts, keyframe, track))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = tuple.__hash__


class _AudioSampleFields(NamedTuple):
    payload: bytes
    timestamp: int
    track: int = 0


class AudioSample(_AudioSampleFields):
    """One coded audio frame: the seed's ``{:sample, payload, timestamp}``.

    An immutable value with named fields (``payload``, ``timestamp``, ``track``),
    equal only to an ``AudioSample`` with the same fields; a tuple underneath for the
    same reason as :class:`VideoSample`.
    """

    __slots__ = ()

    def __new__(cls, payload: bytes, timestamp: int, track: int = 0) -> AudioSample:
        if type(payload) is not bytes:
            raise TypeError("payload must be bytes")
        if type(timestamp) is not int:
            raise TypeError("timestamp must be an int (milliseconds)")
        if type(track) is not int or not 0 <= track <= 255:
            raise TypeError(f"track must be an int in 0..255, not {track!r}")
        return tuple.__new__(cls, (payload, timestamp, track))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = tuple.__hash__


@attrs.frozen
class Metadata:
    """Stream information that is not a sample.

    ``name`` says what it is:

    * ``"onMetaData"``: the stream's metadata (``value`` a dict: width, height,
      framerate, videocodecid, audiosamplerate, ...), from a data message or an FLV
      script tag (``@setDataFrame`` is unwrapped);
    * ``"colorInfo"``: an Enhanced RTMP video Metadata packet (``value`` the colorInfo
      object as a dict, or ``None`` when the stream resets it), for ``track``;
    * ``"multichannelConfig"``: an Enhanced RTMP audio MultichannelConfig packet
      (``value`` a dict with ``channelOrder``, ``channelCount`` and ``channelMapping``
      or ``channelFlags``), for ``track``.
    """

    #: What kind of metadata this is (see above).
    name: str
    #: The decoded value.
    value: Any
    #: Enhanced RTMP track id, for per-track metadata.
    track: int = 0

    def __attrs_post_init__(self) -> None:
        if type(self.name) is not str:
            raise TypeError("name must be a str")
        _check_track(self.track)


#: Anything the demuxer produces.
Frame = CodecConfig | VideoSample | AudioSample | Metadata


# The demuxer builds one sample per frame from values it has already checked; these
# skip the validation.
_new_tuple = tuple.__new__


def _video_sample(
    payload: list[bytes] | bytes, dts: int, pts: int, keyframe: bool, track: int
) -> VideoSample:
    return _new_tuple(VideoSample, (payload, dts, pts, keyframe, track))


def _audio_sample(payload: bytes, timestamp: int, track: int) -> AudioSample:
    return _new_tuple(AudioSample, (payload, timestamp, track))
