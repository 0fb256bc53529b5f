"""The sans-IO media layer: FLV tag bodies, FLV files, and the frame demuxer/muxer.

* :mod:`trio_rtmp.media.frames`: :class:`CodecConfig`, :class:`VideoSample`,
  :class:`AudioSample`, :class:`Metadata` (what the demuxer produces);
* :mod:`trio_rtmp.media.flv`: tag bodies, legacy and Enhanced RTMP v2 (what
  ``client.send_tag`` takes), and the relay's fast classifiers;
* :mod:`trio_rtmp.media.flvfile`: :class:`FlvReader`, :class:`FlvWriter`;
* :mod:`trio_rtmp.media.demux` / :mod:`trio_rtmp.media.mux`: :class:`Demuxer`,
  :class:`Muxer`;
* :mod:`trio_rtmp.media.codecs`: decoder configuration records;
* :mod:`trio_rtmp.media.nal`: NAL unit framing (length-prefixed, Annex B).

Like the protocol core, nothing here performs I/O, reads a clock or imports an event
loop.
"""

from __future__ import annotations

from .codecs import (
    AACAudioSpecificConfig,
    AV1CodecConfigurationRecord,
    AVCDecoderConfigurationRecord,
    FlacStreamInfo,
    HEVCDecoderConfigurationRecord,
    OpusHead,
    VPCodecConfigurationRecord,
    VVCDecoderConfigurationRecord,
    build_audio_specific_config,
    build_avc_decoder_configuration_record,
    parse_codec_config,
)
from .demux import Demuxer
from .flv import (
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
    GopTrack,
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
    parse_tag,
    parse_video_tag,
    track_ids,
    video_info,
)
from .flvfile import FlvEnd, FlvHeader, FlvReader, FlvTag, FlvWriter, read_flv
from .frames import AudioInfo, AudioSample, CodecConfig, Frame, Metadata, VideoInfo, VideoSample
from .mux import Muxer
from .nal import join_annexb, join_length_prefixed, split_annexb, split_length_prefixed

__all__ = [
    "AACAudioSpecificConfig",
    "AACPacketType",
    "AV1CodecConfigurationRecord",
    "AVCDecoderConfigurationRecord",
    "AVCPacketType",
    "AudioFourCC",
    "AudioInfo",
    "AudioPacketType",
    "AudioSample",
    "AudioTag",
    "AudioTrack",
    "AvMultitrackType",
    "CodecConfig",
    "Demuxer",
    "ExAudioTag",
    "ExVideoCommandTag",
    "ExVideoTag",
    "GopTrack",
    "FlacStreamInfo",
    "FlvEnd",
    "FlvHeader",
    "FlvReader",
    "FlvTag",
    "FlvWriter",
    "Frame",
    "HEVCDecoderConfigurationRecord",
    "Metadata",
    "ModEx",
    "MultitrackAudioTag",
    "MultitrackVideoTag",
    "Muxer",
    "OpusHead",
    "ScriptTag",
    "SoundFormat",
    "SoundRate",
    "SoundSize",
    "SoundType",
    "TagType",
    "VPCodecConfigurationRecord",
    "VVCDecoderConfigurationRecord",
    "VideoCodecId",
    "VideoCommandTag",
    "VideoFourCC",
    "VideoFrameType",
    "VideoInfo",
    "VideoPacketType",
    "VideoSample",
    "VideoTag",
    "VideoTrack",
    "build_audio_specific_config",
    "build_avc_decoder_configuration_record",
    "is_audio_multichannel_config",
    "is_audio_sequence_header",
    "is_video_metadata",
    "join_annexb",
    "join_length_prefixed",
    "parse_audio_tag",
    "parse_codec_config",
    "parse_tag",
    "parse_video_tag",
    "read_flv",
    "split_annexb",
    "split_length_prefixed",
    "track_ids",
    "video_info",
]
