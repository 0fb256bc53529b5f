"""The demuxer: RTMP audio, video and data messages -> frames.

:class:`Demuxer` is sans-IO and knows nothing of chunks or connections: give it each
message body with its timestamp and it returns the frames in it.

.. code-block:: python

    demuxer = Demuxer()
    for message in messages:
        if message.type_id == 9:
            frames = demuxer.video(message.timestamp, message.payload)
        elif message.type_id == 8:
            frames = demuxer.audio(message.timestamp, message.payload)
        elif message.type_id == 18:
            frames = demuxer.script(amf0.decode(message.payload))

Semantics (those of ExRTMP, see ``MISSION.md``):

* a sequence header gives :class:`CodecConfig` with the decoder configuration record
  as ``init_data``; a *changed* sequence header mid-stream gives a new
  :class:`CodecConfig`, an identical repeat gives nothing;
* codecs without a configuration record (mp3, speex, nellymoser, G.711, PCM, ADPCM,
  ac3, eac3 and the legacy video codecs) are announced with ``init_data=None`` right
  before their first sample, and again when they change (for legacy audio: when the
  SoundFormat/rate/size/type byte changes);
* samples of codecs that need a configuration (h264, h265, h266, av1, vp8, vp9, aac,
  opus, flac) that arrive before it are dropped, with a warning logged (once per track;
  later drops are logged at debug level and counted in :attr:`Demuxer.dropped`);
* h264/h265 samples are lists of NAL units, split with the NAL length size of the
  configuration record (Annex B start codes in place of the lengths, which some
  cameras send, are accepted too); every other payload is the frame as carried;
* Enhanced RTMP multitrack messages give one frame per track, with ``track`` set;
* ``onMetaData`` (also wrapped in ``@setDataFrame``), Enhanced RTMP ``colorInfo``
  metadata packets and MultichannelConfig packets give :class:`Metadata`;
* sequence ends, command frames, empty (silence) audio messages, coded-frame
  packets with no frame in them (for h264/h265: no NAL unit that is not empty) and
  other data messages give nothing (as FFmpeg
  reads them: an empty packet would flush a decoder);
* samples' times (``dts``, ``pts``, ``timestamp``) rise past the 32-bit wrap of
  message timestamps (after 49.7 days, or sooner for an encoder that starts high):
  4294967290 then 6 is 4294967302 (:class:`~trio_rtmp.core.TimestampUnwrapper`;
  :meth:`Demuxer.reset` starts it over).

A malformed body raises :class:`~trio_rtmp.core.errors.RemoteProtocolError`; the
demuxer's state is unchanged by a body that fails, so the caller may log and go on.
The Enhanced RTMP TimestampOffsetNano is parsed by the tag layer but not carried into
the frames, whose times are integer milliseconds.
"""

from __future__ import annotations

import contextlib
import logging
import struct
from collections.abc import Iterator
from typing import Any

from ..core import amf0
from ..core.amf import UNDEFINED
from ..core.config import DEFAULT_LIMITS, Limits
from ..core.errors import RemoteProtocolError
from ..core.timestamps import HALF, TimestampUnwrapper
from .codecs import mp3_frame_info, parse_codec_config
from .flv import (
    AACPacketType,
    AudioFourCC,
    AudioPacketType,
    AudioTag,
    AVCPacketType,
    ExAudioTag,
    ExVideoTag,
    MultitrackAudioTag,
    MultitrackVideoTag,
    SoundFormat,
    TagType,
    VideoFourCC,
    VideoFrameType,
    VideoPacketType,
    VideoTag,
    parse_audio_tag,
    parse_multichannel_config,
    parse_video_tag,
)
from .frames import (
    NAL_CODECS,
    AudioInfo,
    AudioSample,
    CodecConfig,
    Frame,
    Metadata,
    VideoSample,
    _audio_sample,
    _video_sample,
)
from .nal import split_annexb, split_length_prefixed

__all__ = [
    "AUDIO_FOURCC_CODECS",
    "LEGACY_AUDIO_CODECS",
    "LEGACY_VIDEO_CODECS",
    "VIDEO_FOURCC_CODECS",
    "Demuxer",
    "legacy_audio_info",
]

_log = logging.getLogger(__name__)

#: Legacy video codec id -> codec name.
LEGACY_VIDEO_CODECS = {
    2: "sorenson_h263",
    3: "screen_video",
    4: "vp6",
    5: "vp6_alpha",
    6: "screen_video_2",
    7: "h264",
    12: "h265",
}
#: Enhanced RTMP video FourCC -> codec name.
VIDEO_FOURCC_CODECS = {
    VideoFourCC.AVC: "h264",
    VideoFourCC.HEVC: "h265",
    VideoFourCC.AV1: "av1",
    VideoFourCC.VP9: "vp9",
    VideoFourCC.VP8: "vp8",
    VideoFourCC.VVC: "h266",
}
#: Legacy SoundFormat -> codec name (15, device-specific sound, has none).
LEGACY_AUDIO_CODECS = {
    0: "pcm",
    1: "adpcm",
    2: "mp3",
    3: "pcm",
    4: "nellymoser",
    5: "nellymoser",
    6: "nellymoser",
    7: "pcma",
    8: "pcmu",
    10: "aac",
    11: "speex",
    14: "mp3",
}
#: Enhanced RTMP audio FourCC -> codec name.
AUDIO_FOURCC_CODECS = {
    AudioFourCC.AAC: "aac",
    AudioFourCC.MP3: "mp3",
    AudioFourCC.OPUS: "opus",
    AudioFourCC.FLAC: "flac",
    AudioFourCC.AC3: "ac3",
    AudioFourCC.EAC3: "eac3",
}
# Codecs whose samples mean nothing without their configuration record.
_NEEDS_CONFIG = frozenset({"h264", "h265", "h266", "av1", "vp9", "vp8", "aac", "opus", "flac"})
_LEGACY_RATES = (5512, 11025, 22050, 44100)
# SoundFormats whose rate (and channel count) the format itself fixes.
_FIXED_RATES: dict[int, tuple[int, int | None]] = {
    4: (16000, 1),
    5: (8000, 1),
    7: (8000, None),
    8: (8000, None),
    11: (16000, 1),
    14: (8000, None),
}


def legacy_audio_info(first_byte: int, frame: bytes = b"") -> AudioInfo:
    """What a legacy audio header byte (and, for MP3, the first frame) says.

    The FLV rate flags only know 5.5/11/22/44 kHz; the formats that imply a rate
    (Nellymoser 8/16 kHz, Speex, G.711) and MP3's own frame header take precedence.
    """
    sound_format = first_byte >> 4
    if sound_format in (2, 14):
        found = mp3_frame_info(frame)
        if found is not None:
            return found
    rate, channels = _FIXED_RATES.get(sound_format, (None, None))
    return AudioInfo(
        sample_rate=rate or _LEGACY_RATES[(first_byte >> 2) & 3],
        channels=channels or (2 if first_byte & 1 else 1),
        sample_size=(16 if first_byte & 2 else 8) if sound_format in (0, 3) else None,
    )


# The first byte, the AVC packet type with the composition time, the first NAL length.
_unpack_head = struct.Struct(">BII").unpack_from
# Frames are built here from values already checked, without attrs' __init__ (see
# frames._video_sample).
# Samples are built from values already checked, without the validation.
_new_tuple = tuple.__new__


class _Track:
    """What the demuxer remembers about one (media, track)."""

    __slots__ = ("codec", "config", "first_bytes", "key", "nal_length_size")

    def __init__(self, config: CodecConfig, nal_length_size: int = 0, key: int = -1) -> None:
        self.config = config
        self.codec = config.codec
        self.nal_length_size = nal_length_size
        # The legacy audio header byte that produced this config (-1 when not legacy).
        self.key = key
        # First bytes of legacy coded frames that take the fast path -> keyframe flag.
        self.first_bytes: dict[int, bool] = {}
        codec_id = {"h264": 7, "h265": 12}.get(config.codec)
        if codec_id is not None and config.track == 0:
            self.first_bytes = {frame << 4 | codec_id: frame in (1, 4) for frame in (1, 2, 3, 4)}


def _nal_length_size(codec: str, record: bytes) -> int:
    if codec == "h264":
        if len(record) < 5 or record[0] != 1:
            raise RemoteProtocolError(
                "h264 sequence header is not an AVCDecoderConfigurationRecord"
            )
        return (record[4] & 3) + 1
    if len(record) < 23 or record[0] != 1:
        raise RemoteProtocolError("h265 sequence header is not an HEVCDecoderConfigurationRecord")
    return (record[21] & 3) + 1


def _split_nal_units(data: bytes, length_size: int, offset: int, max_units: int) -> list[bytes]:
    """Length-prefixed NAL units; Annex B ones from the encoders that send those instead.

    Some cameras put start codes where the lengths belong.  The lengths are tried
    first (a start code would rarely pass for a whole run of lengths), then Annex B.
    """
    try:
        return split_length_prefixed(data, length_size, offset, max_units=max_units)
    except RemoteProtocolError:
        if data.startswith((b"\x00\x00\x01", b"\x00\x00\x00\x01"), offset):
            return split_annexb(data[offset:], max_units=max_units)
        raise


class Demuxer:
    """Turns RTMP audio/video/data message bodies into frames (see the module docs).

    ``limits`` bounds the AMF decoding of metadata and the NAL units of a frame.
    """

    def __init__(self, *, limits: Limits = DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._video: dict[int, _Track] = {}
        self._audio: dict[int, _Track] = {}
        self._warned: set[tuple[str, int]] = set()
        # Track 0's state when its coded frames can take the fast paths.
        self._fast_video: _Track | None = None
        self._fast_aac = False
        # The samples' times, extended past the 32-bit wrap.  Until a timestamp
        # reaches 2**31 none can have wrapped, and they are taken as they are (one
        # comparison on the fast paths); from then on ``_extend`` sees every one.
        self._ts_plain_below = HALF
        self._unwrap = TimestampUnwrapper()
        #: Samples dropped because their configuration had not arrived.
        self.dropped = 0

    @property
    def configs(self) -> list[CodecConfig]:
        """The current :class:`CodecConfig` of every track seen, video first."""
        return [state.config for state in (*self._video.values(), *self._audio.values())]

    def reset(self) -> None:
        """Forget every track (for example when a new publisher starts)."""
        self._video.clear()
        self._audio.clear()
        self._warned.clear()
        self._ts_plain_below = HALF
        self._unwrap.reset()
        self._refresh()

    def _refresh(self) -> None:
        state = self._video.get(0)
        self._fast_video = state if state is not None and state.first_bytes else None
        audio = self._audio.get(0)
        self._fast_aac = audio is not None and audio.codec == "aac"

    def _extend(self, timestamp: int) -> int:
        """A sample's timestamp on the timeline extended past the 32-bit wrap."""
        # The first here is taken as it is: those before it were below 2**31.
        self._ts_plain_below = -1
        return self._unwrap(timestamp)

    # ----------------------------------------------------------------- entry points

    def video(self, timestamp: int, data: bytes) -> list[Frame]:
        """The frames in one video message body (an FLV video tag body)."""
        if type(data) is not bytes:
            data = bytes(data)
        state = self._fast_video
        if state is not None:
            # Fast path: legacy AVC/HEVC coded frames of a configured track, which is
            # nearly every video message of nearly every stream.  (The general path
            # below gives the same frames; it is only slower.)
            size = len(data)
            if size >= 9:
                first, head, length = _unpack_head(data)
                # The first byte says the codec and frame type: KEY/INTER/DISPOSABLE/
                # GENERATED_KEY of this track's legacy codec id map to the key flag.
                keyframe = state.first_bytes.get(first)
                if keyframe is not None and head >> 24 == 1:
                    if length == size - 9 and length and state.nal_length_size == 4:
                        payload = [data[9:]]  # one NAL unit, the common case
                    else:
                        payload = _split_nal_units(
                            data, state.nal_length_size, 5, self._limits.max_nal_units
                        )
                        if not payload:
                            return []  # no NAL unit in it: no frame
                    if timestamp >= self._ts_plain_below:
                        timestamp = self._extend(timestamp)
                    # The SI24 composition time is the low three bytes of ``head``.
                    pts = timestamp + ((head & 0xFFFFFF) ^ 0x800000) - 0x800000
                    return [_new_tuple(VideoSample, (payload, timestamp, pts, keyframe, 0))]
        if not data:
            return []
        return self._video_tag(timestamp, parse_video_tag(data))

    def audio(self, timestamp: int, data: bytes) -> list[Frame]:
        """The frames in one audio message body (an FLV audio tag body)."""
        if type(data) is not bytes:
            data = bytes(data)
        if not data:
            # The "silence" message: nothing to decode.
            return []
        # Fast path: raw AAC of a configured track.
        if self._fast_aac and data[0] & 0xF0 == 0xA0 and len(data) > 2 and data[1] == 1:
            if timestamp >= self._ts_plain_below:
                timestamp = self._extend(timestamp)
            return [_new_tuple(AudioSample, (data[2:], timestamp, 0))]
        return self._audio_tag(timestamp, data[0], parse_audio_tag(data))

    def script(self, values: list[Any]) -> list[Frame]:
        """The frames in a data message, given its decoded AMF values.

        ``["onMetaData", {...}]`` and ``["@setDataFrame", "onMetaData", {...}]`` give a
        ``Metadata("onMetaData", {...})``; other data messages give nothing.
        """
        if values and values[0] == "@setDataFrame":
            values = values[1:]
        if not values or values[0] != "onMetaData":
            if values:
                _log.debug("ignoring data message %r", values[0])
            return []
        value = values[1] if len(values) > 1 else None
        if value is UNDEFINED:
            value = None
        return [Metadata("onMetaData", value)]

    def tag(self, tag_type: int, timestamp: int, data: bytes) -> list[Frame]:
        """The frames in an FLV tag or RTMP message of type 8, 9 or 18 (others: none)."""
        if tag_type == 9:
            return self.video(timestamp, data)
        if tag_type == 8:
            return self.audio(timestamp, data)
        if tag_type == TagType.SCRIPT:
            return self.script(amf0.decode(data, limits=self._limits))
        return []

    # ----------------------------------------------------------------- video

    def _video_tag(self, timestamp: int, tag: Any) -> list[Frame]:
        if type(tag) is VideoTag:
            codec = LEGACY_VIDEO_CODECS[tag.codec_id]
            if tag.avc_packet_type is None or tag.avc_packet_type == AVCPacketType.NALU:
                return self._video_sample(
                    0, codec, timestamp, tag.composition_time, tag.keyframe, tag.data
                )
            if tag.avc_packet_type == AVCPacketType.SEQUENCE_HEADER:
                return self._video_config(0, codec, tag.data)
            return []
        if type(tag) is ExVideoTag:
            items = [(0, tag.fourcc, tag.composition_time, tag.data)]
        elif type(tag) is MultitrackVideoTag:
            items = [
                (track.track_id, track.fourcc, track.composition_time, track.data)
                for track in tag.tracks
            ]
        else:
            _log.debug("ignoring video command frame %r", tag)
            return []
        keyframe = tag.frame_type in (VideoFrameType.KEY, VideoFrameType.GENERATED_KEY)
        kind = tag.packet_type
        if len(items) > 1:
            # A multitrack message is all or nothing: a bad track must not leave the
            # tracks before it changed.
            with self._all_or_nothing():
                return self._video_items(items, kind, keyframe, timestamp)
        return self._video_items(items, kind, keyframe, timestamp)

    @contextlib.contextmanager
    def _all_or_nothing(self) -> Iterator[None]:
        video, audio = dict(self._video), dict(self._audio)
        try:
            yield
        except RemoteProtocolError:
            # Tracks are replaced, never changed in place: the old mappings restore
            # everything the failed message touched.
            self._video, self._audio = video, audio
            self._refresh()
            raise

    def _video_items(
        self,
        items: list[tuple[int, Any, int, bytes]],
        kind: VideoPacketType,
        keyframe: bool,
        timestamp: int,
    ) -> list[Frame]:
        frames: list[Frame] = []
        for track, fourcc, composition_time, data in items:
            codec = VIDEO_FOURCC_CODECS[fourcc]
            if kind == VideoPacketType.CODED_FRAMES or kind == VideoPacketType.CODED_FRAMES_X:
                frames += self._video_sample(
                    track, codec, timestamp, composition_time, keyframe, data
                )
            elif kind == VideoPacketType.SEQUENCE_START:
                frames += self._video_config(track, codec, data)
            elif kind == VideoPacketType.MPEG2TS_SEQUENCE_START:
                frames += self._video_config(track, codec, data, with_info=False)
            elif kind == VideoPacketType.METADATA:
                frames += self._video_metadata(track, data)
        return frames

    def _video_config(
        self, track: int, codec: str, data: bytes, *, with_info: bool = True
    ) -> list[Frame]:
        nal_length_size = _nal_length_size(codec, data) if codec in NAL_CODECS else 0
        init = data or None
        state = self._video.get(track)
        if state is not None and state.codec == codec and state.config.init_data == init:
            return []
        info = self._record_info("video", track, codec, init) if with_info else None
        config = CodecConfig("video", codec, init, track, info)
        self._video[track] = _Track(config, nal_length_size)
        self._refresh()
        return [config]

    def _video_sample(
        self, track: int, codec: str, timestamp: int, cts: int, keyframe: bool, data: bytes
    ) -> list[Frame]:
        if not data:
            return []  # no frame in it (see _audio_sample)
        state = self._video.get(track)
        frames: list[Frame] = []
        if state is None or state.codec != codec:
            if codec in _NEEDS_CONFIG:
                self._drop("video", track, codec)
                return frames
            config = CodecConfig("video", codec, None, track)
            state = self._video[track] = _Track(config)
            self._refresh()
            frames.append(config)
        payload: list[bytes] | bytes = data
        if state.nal_length_size:
            payload = _split_nal_units(data, state.nal_length_size, 0, self._limits.max_nal_units)
            if not payload:
                return frames  # no NAL unit in it (empty ones are left out): no frame
        if timestamp >= self._ts_plain_below:
            timestamp = self._extend(timestamp)
        frames.append(_video_sample(payload, timestamp, timestamp + cts, keyframe, track))
        return frames

    def _video_metadata(self, track: int, data: bytes) -> list[Frame]:
        # AMF in a video message: bounded like AMF commands and data (decoding costs
        # CPU per value; a colorInfo object is a few hundred bytes).
        if len(data) > self._limits.max_amf_message_size:
            raise RemoteProtocolError(
                f"video metadata of {len(data)} bytes, over the limit of "
                f"{self._limits.max_amf_message_size} bytes of AMF decoded"
            )
        values = amf0.decode(data, limits=self._limits)
        frames: list[Frame] = []
        for index in range(0, len(values), 2):
            name = values[index]
            if type(name) is not str:
                _log.debug("ignoring video metadata entry named %r", name)
                continue
            value = values[index + 1] if index + 1 < len(values) else None
            frames.append(Metadata(name, None if value is UNDEFINED else value, track))
        return frames

    # ----------------------------------------------------------------- audio

    def _audio_tag(self, timestamp: int, first: int, tag: Any) -> list[Frame]:
        if type(tag) is AudioTag:
            if tag.sound_format == SoundFormat.AAC:
                if tag.aac_packet_type == AACPacketType.SEQUENCE_HEADER:
                    return self._audio_config(0, "aac", tag.data)
                return self._audio_sample(0, "aac", timestamp, tag.data)
            codec = LEGACY_AUDIO_CODECS.get(tag.sound_format)
            if codec is None:
                _log.debug("ignoring device-specific audio")
                return []
            return self._audio_sample(0, codec, timestamp, tag.data, first)
        if type(tag) is ExAudioTag:
            items = [(0, tag.fourcc, tag.data)]
        else:
            assert type(tag) is MultitrackAudioTag
            items = [(track.track_id, track.fourcc, track.data) for track in tag.tracks]
        kind = tag.packet_type
        if len(items) > 1:
            with self._all_or_nothing():
                return self._audio_items(items, kind, timestamp)
        return self._audio_items(items, kind, timestamp)

    def _audio_items(
        self, items: list[tuple[int, Any, bytes]], kind: AudioPacketType, timestamp: int
    ) -> list[Frame]:
        frames: list[Frame] = []
        for track, fourcc, data in items:
            codec = AUDIO_FOURCC_CODECS[fourcc]
            if kind == AudioPacketType.CODED_FRAMES:
                frames += self._audio_sample(track, codec, timestamp, data)
            elif kind == AudioPacketType.SEQUENCE_START:
                frames += self._audio_config(track, codec, data)
            elif kind == AudioPacketType.MULTICHANNEL_CONFIG:
                config = parse_multichannel_config(data)
                frames.append(Metadata("multichannelConfig", config.to_dict(), track))
        return frames

    def _audio_config(self, track: int, codec: str, data: bytes) -> list[Frame]:
        init = data or None
        state = self._audio.get(track)
        if state is not None and state.codec == codec and state.config.init_data == init:
            return []
        info = self._record_info("audio", track, codec, init)
        config = CodecConfig("audio", codec, init, track, info)
        self._audio[track] = _Track(config)
        self._refresh()
        return [config]

    def _audio_sample(
        self, track: int, codec: str, timestamp: int, data: bytes, key: int = -1
    ) -> list[Frame]:
        if not data:
            # A coded-frames packet with no frame in it (FFmpeg's FLV muxer ends a
            # FLAC track with one): nothing to decode, and an empty packet would flush
            # a decoder.
            return []
        state = self._audio.get(track)
        frames: list[Frame] = []
        if state is None or state.codec != codec or (key >= 0 and state.key != key):
            if codec in _NEEDS_CONFIG:
                self._drop("audio", track, codec)
                return frames
            info: AudioInfo | None = None
            if key >= 0:
                info = legacy_audio_info(key, data)
            elif codec == "mp3":
                info = mp3_frame_info(data)
            config = CodecConfig("audio", codec, None, track, info)
            self._audio[track] = _Track(config, key=key)
            self._refresh()
            frames.append(config)
        if timestamp >= self._ts_plain_below:
            timestamp = self._extend(timestamp)
        frames.append(_audio_sample(data, timestamp, track))
        return frames

    def _record_info(self, media: str, track: int, codec: str, record: bytes | None) -> Any:
        """What ``record`` says (size, rate...), or ``None``; an unreadable record is
        logged (the first of the track as a warning, the rest at debug level)."""
        if record is None:
            return None
        try:
            parsed = parse_codec_config(codec, record)
        except RemoteProtocolError as exc:
            _log.log(
                logging.WARNING if self._first_warning(f"{media} record", track) else logging.DEBUG,
                "could not read the %s configuration record: %s",
                codec,
                exc,
            )
            return None
        return None if parsed is None else parsed.info

    def _first_warning(self, what: str, track: int) -> bool:
        """Whether this is the first warning about ``what`` on ``track`` (a stream
        that sends nothing but bad data must not flood the log: the rest go to debug)."""
        if (what, track) in self._warned:
            return False
        self._warned.add((what, track))
        return True

    def _drop(self, media: str, track: int, codec: str) -> None:
        self.dropped += 1
        if not self._first_warning(media, track):
            _log.debug(
                "dropped a %s %s sample (track %d) before its sequence header", media, codec, track
            )
            return
        _log.warning(
            "dropping %s %s samples of track %d until their sequence header arrives",
            media,
            codec,
            track,
        )
