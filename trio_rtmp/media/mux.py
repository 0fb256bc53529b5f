"""The muxer: frames -> tag objects, the demuxer in reverse.

For publishing frames that come from somewhere else (PyAV, a camera, a file, another
stream's demuxer): give :class:`Muxer` a :class:`CodecConfig` per track, then samples,
and it returns ``(timestamp, tag)`` pairs ready for ``client.send_tag(timestamp, tag)``
or :meth:`FlvWriter.write <trio_rtmp.media.flvfile.FlvWriter.write>`.

.. code-block:: python

    muxer = Muxer()
    for timestamp, tag in muxer.mux(CodecConfig("video", "h264", avcc)):
        await client.send_tag(timestamp, tag)
    for timestamp, tag in muxer.mux(VideoSample([idr_nal], 0, 0, True)):
        await client.send_tag(timestamp, tag)

Tag forms chosen, for the widest compatibility:

* h264 and aac on track 0 go out as legacy tags (codec id 7, SoundFormat 10), mp3
  and the other legacy audio codecs as legacy audio tags, the legacy video codecs as
  legacy video tags;
* h265, av1, vp9, vp8, h266, opus, flac, ac3 and eac3 go out as Enhanced RTMP tags,
  and so does everything when ``Muxer(enhanced=True)`` or on a track other than 0
  (as Multitrack OneTrack tags);
* a coded frame with composition time 0 uses CodedFramesX;
* ``Metadata("onMetaData", ...)`` becomes a :class:`ScriptTag` at timestamp 0 (a
  publishing client sends it as ``@setDataFrame``), ``Metadata("colorInfo", ...)`` a
  video Metadata packet, ``Metadata("multichannelConfig", ...)`` an audio
  MultichannelConfig packet.

For h264/h265 a :class:`VideoSample` payload is a list of NAL units (they are
length-prefixed with the record's NAL length size); a ``bytes`` payload is taken as
already length-prefixed.  Use :mod:`trio_rtmp.media.nal` to convert Annex B.
Asking for something RTMP cannot carry raises
:class:`~trio_rtmp.core.errors.LocalProtocolError`.
"""

from __future__ import annotations

from typing import Any

from ..core import amf0
from ..core.amf import UNDEFINED
from ..core.errors import LocalProtocolError
from .flv import (
    AACPacketType,
    AnyTag,
    AudioChannelOrder,
    AudioFourCC,
    AudioMultichannelConfig,
    AudioPacketType,
    AudioTag,
    AudioTrack,
    AVCPacketType,
    AvMultitrackType,
    ExAudioTag,
    ExVideoTag,
    MultitrackAudioTag,
    MultitrackVideoTag,
    ScriptTag,
    SoundFormat,
    SoundRate,
    SoundSize,
    SoundType,
    VideoCodecId,
    VideoFourCC,
    VideoFrameType,
    VideoPacketType,
    VideoTag,
    VideoTrack,
)
from .frames import AudioInfo, AudioSample, CodecConfig, Frame, Metadata, VideoSample
from .nal import join_length_prefixed

__all__ = ["Muxer"]

_VIDEO_FOURCCS = {
    "h264": VideoFourCC.AVC,
    "h265": VideoFourCC.HEVC,
    "av1": VideoFourCC.AV1,
    "vp9": VideoFourCC.VP9,
    "vp8": VideoFourCC.VP8,
    "h266": VideoFourCC.VVC,
}
_LEGACY_VIDEO_IDS = {
    "sorenson_h263": VideoCodecId.SORENSON_H263,
    "screen_video": VideoCodecId.SCREEN_VIDEO,
    "vp6": VideoCodecId.VP6,
    "vp6_alpha": VideoCodecId.VP6_ALPHA,
    "screen_video_2": VideoCodecId.SCREEN_VIDEO_2,
}
_AUDIO_FOURCCS = {
    "aac": AudioFourCC.AAC,
    "mp3": AudioFourCC.MP3,
    "opus": AudioFourCC.OPUS,
    "flac": AudioFourCC.FLAC,
    "ac3": AudioFourCC.AC3,
    "eac3": AudioFourCC.EAC3,
}
_ENHANCED_ONLY = frozenset({"h265", "av1", "vp9", "vp8", "h266", "opus", "flac", "ac3", "eac3"})
_CTS_CODECS = frozenset({"h264", "h265", "h266"})
_RATE_FLAGS = {
    5512: SoundRate.KHZ_5_5,
    11025: SoundRate.KHZ_11,
    22050: SoundRate.KHZ_22,
    44100: SoundRate.KHZ_44,
}
_NELLYMOSER_FORMATS = {
    8000: SoundFormat.NELLYMOSER_8KHZ_MONO,
    16000: SoundFormat.NELLYMOSER_16KHZ_MONO,
}
_SI24_MIN, _SI24_MAX = -(1 << 23), (1 << 23) - 1


def _legacy_audio_header(codec: str, info: AudioInfo | None) -> tuple[int, int, int, int]:
    """(SoundFormat, rate, size, type) as FFmpeg's FLV muxer writes them."""
    rate = info.sample_rate if info else None
    channels = info.channels if info else None
    stereo = SoundType.STEREO if (channels or 2) > 1 else SoundType.MONO
    size = SoundSize.BITS_16
    if codec == "speex":
        return SoundFormat.SPEEX, SoundRate.KHZ_11, SoundSize.BITS_16, SoundType.MONO
    if codec in ("pcma", "pcmu"):
        kind = SoundFormat.G711_ALAW if codec == "pcma" else SoundFormat.G711_MULAW
        return kind, SoundRate.KHZ_5_5, SoundSize.BITS_16, SoundType.MONO
    if codec == "mp3" and rate in (48000, 32000, None):
        flag = SoundRate.KHZ_44
    else:
        flag = _RATE_FLAGS.get(rate or 44100, SoundRate.KHZ_5_5)
    if codec == "mp3":
        kind = SoundFormat.MP3_8KHZ if rate == 8000 else SoundFormat.MP3
    elif codec == "nellymoser":
        kind = _NELLYMOSER_FORMATS.get(rate or 0, SoundFormat.NELLYMOSER)
    elif codec == "pcm":
        kind = SoundFormat.PCM_LITTLE_ENDIAN
        if info is not None and info.sample_size == 8:
            size = SoundSize.BITS_8
    elif codec == "adpcm":
        kind = SoundFormat.ADPCM
    else:
        raise LocalProtocolError(f"{codec} has no legacy FLV audio form")
    return kind, flag, size, stereo


class _Track:
    __slots__ = ("codec", "enhanced", "legacy_header", "nal_length_size")

    def __init__(self, codec: str, enhanced: bool) -> None:
        self.codec = codec
        self.enhanced = enhanced
        self.nal_length_size = 4
        self.legacy_header: tuple[int, int, int, int] | None = None


class Muxer:
    """Turns frames into ``(timestamp, tag)`` pairs (see the module documentation).

    ``enhanced=True`` sends h264, aac and mp3 as Enhanced RTMP (FourCC) tags too.
    """

    def __init__(self, *, enhanced: bool = False) -> None:
        self._enhanced = enhanced
        self._video: dict[int, _Track] = {}
        self._audio: dict[int, _Track] = {}
        self._timestamp = 0

    def mux(self, frame: Frame, timestamp: int | None = None) -> list[tuple[int, AnyTag]]:
        """The tags for one frame.

        Samples carry their own time; configs and metadata go out at ``timestamp``, by
        default the time of the last sample muxed (0 at first), except ``onMetaData``:
        by default at 0, as FFmpeg and nginx-rtmp send it (FFmpeg reads an
        ``onMetaData`` stamped later than 0 as a subtitle stream).
        """
        if type(frame) is VideoSample:
            self._timestamp = frame.dts
            return [(frame.dts, self._video_sample(frame))]
        if type(frame) is AudioSample:
            self._timestamp = frame.timestamp
            return [(frame.timestamp, self._audio_sample(frame))]
        at = self._timestamp if timestamp is None else timestamp
        if type(frame) is CodecConfig:
            tag = self._config(frame)
            return [] if tag is None else [(at, tag)]
        if type(frame) is Metadata:
            if frame.name == "onMetaData" and timestamp is None:
                at = 0
            return [(at, self._metadata(frame))]
        raise LocalProtocolError(f"cannot mux {frame!r}")

    # ----------------------------------------------------------------- configs

    def _config(self, config: CodecConfig) -> AnyTag | None:
        codec, track, init = config.codec, config.track, config.init_data
        enhanced = self._enhanced or track != 0 or codec in _ENHANCED_ONLY
        if config.media == "video":
            state = _Track(codec, enhanced)
            if codec in ("h264", "h265"):
                if init is None:
                    raise LocalProtocolError(f"{codec} needs its decoder configuration record")
                offset = 4 if codec == "h264" else 21
                if len(init) <= offset:
                    raise LocalProtocolError(f"{codec} configuration record is too short")
                state.nal_length_size = (init[offset] & 3) + 1
            self._video[track] = state
            if codec in _LEGACY_VIDEO_IDS:
                if track != 0:
                    raise LocalProtocolError(f"{codec} cannot be carried on track {track}")
                return None
            # Every other video codec gets a SequenceStart, empty without a record:
            # receivers (our demuxer included) wait for it before the first frame.
            if not enhanced:
                return VideoTag(
                    frame_type=VideoFrameType.KEY,
                    codec_id=VideoCodecId.AVC,
                    avc_packet_type=AVCPacketType.SEQUENCE_HEADER,
                    data=init or b"",
                )
            return self._ex_video(
                track, VideoFrameType.KEY, VideoPacketType.SEQUENCE_START, codec, init or b""
            )
        state = _Track(codec, enhanced and codec in _AUDIO_FOURCCS)
        self._audio[track] = state
        if codec not in _AUDIO_FOURCCS:
            if track != 0:
                raise LocalProtocolError(f"{codec} cannot be carried on track {track}")
            info = config.info if isinstance(config.info, AudioInfo) else None
            state.legacy_header = _legacy_audio_header(codec, info)
            return None
        if codec == "aac" and not state.enhanced:
            return AudioTag(
                sound_format=SoundFormat.AAC,
                aac_packet_type=AACPacketType.SEQUENCE_HEADER,
                data=init or b"",
            )
        if codec == "mp3" and not state.enhanced:
            info = config.info if isinstance(config.info, AudioInfo) else None
            state.legacy_header = _legacy_audio_header(codec, info)
            return None
        if init is None and codec not in ("aac", "opus", "flac"):
            return None
        return self._ex_audio(track, AudioPacketType.SEQUENCE_START, codec, init or b"")

    # ----------------------------------------------------------------- samples

    def _video_sample(self, sample: VideoSample) -> AnyTag:
        state = self._video.get(sample.track)
        if state is None:
            raise LocalProtocolError(f"no CodecConfig for video track {sample.track} yet")
        codec = state.codec
        payload = sample.payload
        if type(payload) is list:
            if codec not in ("h264", "h265"):
                raise LocalProtocolError(f"{codec} samples are bytes, not NAL unit lists")
            try:
                data = join_length_prefixed(payload, state.nal_length_size)
            except ValueError as exc:
                raise LocalProtocolError(str(exc)) from None
        else:
            assert type(payload) is bytes
            data = payload
        cts = sample.pts - sample.dts
        if not _SI24_MIN <= cts <= _SI24_MAX:
            raise LocalProtocolError(f"composition time {cts} ms does not fit 24 bits")
        if cts and codec not in _CTS_CODECS:
            raise LocalProtocolError(f"{codec} samples cannot carry pts != dts")
        frame_type = VideoFrameType.KEY if sample.keyframe else VideoFrameType.INTER
        if codec in _LEGACY_VIDEO_IDS:
            return VideoTag(frame_type=frame_type, codec_id=_LEGACY_VIDEO_IDS[codec], data=data)
        if not state.enhanced:
            return VideoTag(
                frame_type=frame_type,
                codec_id=VideoCodecId.AVC,
                avc_packet_type=AVCPacketType.NALU,
                composition_time=cts,
                data=data,
            )
        kind = VideoPacketType.CODED_FRAMES_X if cts == 0 else VideoPacketType.CODED_FRAMES
        return self._ex_video(sample.track, frame_type, kind, codec, data, cts)

    def _audio_sample(self, sample: AudioSample) -> AnyTag:
        state = self._audio.get(sample.track)
        if state is None:
            raise LocalProtocolError(f"no CodecConfig for audio track {sample.track} yet")
        if state.legacy_header is not None:
            kind, rate, size, channels = state.legacy_header
            return AudioTag(
                sound_format=SoundFormat(kind),
                sound_rate=SoundRate(rate),
                sound_size=SoundSize(size),
                sound_type=SoundType(channels),
                data=sample.payload,
            )
        if state.codec == "aac" and not state.enhanced:
            return AudioTag(
                sound_format=SoundFormat.AAC, aac_packet_type=AACPacketType.RAW, data=sample.payload
            )
        return self._ex_audio(
            sample.track, AudioPacketType.CODED_FRAMES, state.codec, sample.payload
        )

    # ----------------------------------------------------------------- metadata

    def _metadata(self, metadata: Metadata) -> AnyTag:
        if metadata.name == "colorInfo":
            state = self._video.get(metadata.track)
            if state is None or state.codec not in _VIDEO_FOURCCS:
                raise LocalProtocolError("colorInfo needs an Enhanced RTMP video codec first")
            value = UNDEFINED if metadata.value is None else metadata.value
            data = amf0.encode("colorInfo", value)
            return self._ex_video(
                metadata.track, VideoFrameType.COMMAND, VideoPacketType.METADATA, state.codec, data
            )
        if metadata.name == "multichannelConfig":
            state = self._audio.get(metadata.track)
            if state is None or state.codec not in _AUDIO_FOURCCS:
                raise LocalProtocolError("multichannelConfig needs an Enhanced RTMP audio codec")
            return self._ex_audio(
                metadata.track,
                AudioPacketType.MULTICHANNEL_CONFIG,
                state.codec,
                _multichannel_config(metadata.value).to_bytes(),
            )
        return ScriptTag(values=(metadata.name, metadata.value))

    # ----------------------------------------------------------------- tag builders

    def _ex_video(
        self,
        track: int,
        frame_type: int,
        kind: VideoPacketType,
        codec: str,
        data: bytes,
        cts: int = 0,
    ) -> AnyTag:
        fourcc = _VIDEO_FOURCCS[codec]
        if track == 0:
            return ExVideoTag(
                frame_type=frame_type,
                packet_type=kind,
                fourcc=fourcc,
                composition_time=cts,
                data=data,
            )
        return MultitrackVideoTag(
            frame_type=frame_type,
            packet_type=kind,
            multitrack_type=AvMultitrackType.ONE_TRACK,
            tracks=(VideoTrack(track_id=track, fourcc=fourcc, composition_time=cts, data=data),),
        )

    def _ex_audio(self, track: int, kind: AudioPacketType, codec: str, data: bytes) -> AnyTag:
        fourcc = _AUDIO_FOURCCS[codec]
        if track == 0:
            return ExAudioTag(packet_type=kind, fourcc=fourcc, data=data)
        return MultitrackAudioTag(
            packet_type=kind,
            multitrack_type=AvMultitrackType.ONE_TRACK,
            tracks=(AudioTrack(track_id=track, fourcc=fourcc, data=data),),
        )


def _multichannel_config(value: Any) -> AudioMultichannelConfig:
    try:
        order = AudioChannelOrder(int(value["channelOrder"]))
        return AudioMultichannelConfig(
            channel_order=order,
            channel_count=int(value["channelCount"]),
            channel_mapping=bytes(value.get("channelMapping", b"")),
            channel_flags=int(value.get("channelFlags", 0)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise LocalProtocolError(f"bad multichannelConfig value {value!r}: {exc}") from None
