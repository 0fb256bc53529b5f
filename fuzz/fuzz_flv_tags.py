"""Fuzz the FLV tag body parsers, the relay's fast classifiers and the codec records.

The first byte picks the target: video tag, audio tag, MultichannelConfig body, or one
of the codec configuration record parsers; the rest is its input.

Invariant: input -> a value or ``RemoteProtocolError``, nothing else; a tag that
parses serializes, and the serialized bytes parse back to an equal tag; the fast
classifiers (``video_info``, ``is_video_metadata``, ``is_audio_sequence_header``,
``is_audio_multichannel_config``, ``track_ids``) never raise and agree with the full
parser on every body it accepts.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from trio_rtmp.core.errors import RemoteProtocolError
from trio_rtmp.media import codecs
from trio_rtmp.media.flv import (
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
    SoundFormat,
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
    parse_video_tag,
    track_ids,
    video_info,
)

_RECORD_PARSERS: list[Callable[[bytes], Any]] = [
    codecs.parse_avc_decoder_configuration_record,
    codecs.parse_hevc_decoder_configuration_record,
    codecs.parse_av1_codec_configuration_record,
    codecs.parse_vp_codec_configuration_record,
    codecs.parse_audio_specific_config,
    codecs.parse_opus_head,
    codecs.parse_flac_stream_info,
    codecs.parse_avc_sps,
    codecs.parse_hevc_sps,
    codecs.parse_av1_sequence_header,
    codecs.parse_vvc_decoder_configuration_record,
]


def _video_tags() -> list[Any]:
    nano = ModEx.timestamp_offset_nano(123_456)
    return [
        VideoTag(
            frame_type=VideoFrameType.KEY,
            codec_id=VideoCodecId.AVC,
            avc_packet_type=AVCPacketType.SEQUENCE_HEADER,
            data=b"\x01\x64\x00\x1f\xff\xe1\x00\x04\x67\x64\x00\x1f\x01\x00\x02\x68\xeb",
        ),
        VideoTag(
            frame_type=VideoFrameType.INTER,
            codec_id=VideoCodecId.AVC,
            avc_packet_type=AVCPacketType.NALU,
            composition_time=-40,
            data=b"\x00\x00\x00\x02\x41\x9a",
        ),
        VideoTag(
            frame_type=VideoFrameType.KEY,
            codec_id=VideoCodecId.HEVC,
            avc_packet_type=AVCPacketType.NALU,
            composition_time=80,
            data=b"\x00\x00\x00\x02\x26\x01",
        ),
        VideoTag(frame_type=VideoFrameType.DISPOSABLE_INTER, codec_id=VideoCodecId.VP6, data=b"v"),
        VideoCommandTag(command=1),
        ExVideoTag(
            frame_type=VideoFrameType.KEY,
            packet_type=VideoPacketType.CODED_FRAMES,
            fourcc=VideoFourCC.HEVC,
            composition_time=33,
            data=b"\x00\x00\x00\x01\x26",
            mod_ex=(nano,),
        ),
        ExVideoTag(
            frame_type=VideoFrameType.KEY,
            packet_type=VideoPacketType.SEQUENCE_START,
            fourcc=VideoFourCC.AV1,
            data=b"\x81\x00\x0c\x00",
        ),
        ExVideoTag(
            frame_type=5,
            packet_type=VideoPacketType.METADATA,
            fourcc=VideoFourCC.VP9,
            data=b"\x02\x00\x09colorInfo\x06",
        ),
        ExVideoTag(
            frame_type=VideoFrameType.INTER,
            packet_type=VideoPacketType.CODED_FRAMES_X,
            fourcc=VideoFourCC.VVC,
            data=b"x",
            mod_ex=(ModEx(mod_ex_type=5, data=bytes(300)), nano),
        ),
        ExVideoCommandTag(command=0, mod_ex=(nano,)),
        MultitrackVideoTag(
            frame_type=VideoFrameType.KEY,
            packet_type=VideoPacketType.CODED_FRAMES,
            multitrack_type=AvMultitrackType.MANY_TRACKS_MANY_CODECS,
            tracks=(
                VideoTrack(track_id=0, fourcc=VideoFourCC.AVC, composition_time=5, data=b"a"),
                VideoTrack(track_id=1, fourcc=VideoFourCC.AV1, data=b"b"),
            ),
        ),
        MultitrackVideoTag(
            frame_type=VideoFrameType.INTER,
            packet_type=VideoPacketType.SEQUENCE_END,
            multitrack_type=AvMultitrackType.ONE_TRACK,
            tracks=(VideoTrack(track_id=7, fourcc=VideoFourCC.VP8),),
        ),
    ]


def _audio_tags() -> list[Any]:
    return [
        AudioTag(
            sound_format=SoundFormat.AAC,
            aac_packet_type=AACPacketType.SEQUENCE_HEADER,
            data=b"\x12\x10",
        ),
        AudioTag(sound_format=SoundFormat.MP3, data=b"\xff\xfb\x90\x64"),
        ExAudioTag(
            packet_type=AudioPacketType.SEQUENCE_START, fourcc=AudioFourCC.OPUS, data=b"OpusHead"
        ),
        ExAudioTag(
            packet_type=AudioPacketType.MULTICHANNEL_CONFIG,
            fourcc=AudioFourCC.FLAC,
            data=b"\x02\x02\x00\x01",
            mod_ex=(ModEx.timestamp_offset_nano(7),),
        ),
        MultitrackAudioTag(
            packet_type=AudioPacketType.CODED_FRAMES,
            multitrack_type=AvMultitrackType.MANY_TRACKS,
            tracks=(
                AudioTrack(track_id=0, fourcc=AudioFourCC.AC3, data=b"x"),
                AudioTrack(track_id=1, fourcc=AudioFourCC.AC3, data=b"yy"),
            ),
        ),
    ]


def seeds() -> list[bytes]:
    """Valid tag bodies, multichannel configs and records, each behind its selector."""
    out = [b"\x00" + tag.to_bytes() for tag in _video_tags()]
    out += [b"\x01" + tag.to_bytes() for tag in _audio_tags()]
    for config in (
        AudioMultichannelConfig(
            channel_order=AudioChannelOrder.NATIVE, channel_count=2, channel_flags=3
        ),
        AudioMultichannelConfig(
            channel_order=AudioChannelOrder.CUSTOM, channel_count=2, channel_mapping=b"\x00\x01"
        ),
    ):
        out.append(b"\x02" + config.to_bytes())
    records = [
        bytes.fromhex(
            "0164001fffe1001a6764001facd9405005bb0110000003001000000303c0f183196001000668ebe3cb22c0"
        ),
        bytes.fromhex("01016000000090000000000078f000fcfdf8f800000f"),
        bytes.fromhex("81000c000a0b00000004457e3e6d7c8020"),
        bytes.fromhex("010000000014820202020000"),
        b"\x12\x10",
        b"OpusHead" + struct.pack("<BBHIhB", 1, 2, 312, 48000, 0, 0),
        b"fLaC\x80\x00\x00\x22" + bytes(10) + b"\x0a\xc4\x42\xf0" + bytes(20),
        bytes.fromhex("6764001facd9405005bb0110000003001000000303c0f1831960"),
        bytes.fromhex(
            "420101016000000300900000030000030078a003c08010e596566924caf0168080000003008000000c84"
        ),
        bytes.fromhex("00000004457e3e6d7c8020"),
        bytes.fromhex("ff00375f0243538000c050400100000001078004381900028f000100030079010d00020069"),
    ]
    for index, record in enumerate(records):
        out.append(bytes((3 + index,)) + record)
    return out


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
    if tag.packet_type in (VideoPacketType.SEQUENCE_START, VideoPacketType.MPEG2TS_SEQUENCE_START):
        return False, True
    if tag.packet_type in (VideoPacketType.CODED_FRAMES, VideoPacketType.CODED_FRAMES_X):
        return keyframe, False
    return False, False


def _expected_tracks(tag: Any) -> tuple[int, ...]:
    if type(tag) in (MultitrackVideoTag, MultitrackAudioTag):
        tracks = tuple(track.track_id for track in tag.tracks)
        return tracks if len(tracks) <= MAX_TRACKS else ()
    return (0,)


def test_one_input(data: bytes) -> None:
    """Parse with the selected parser; check re-encoding and the fast classifiers."""
    if not data:
        return
    selector, body = data[0], data[1:]
    if selector == 0:
        info = video_info(body)
        metadata = is_video_metadata(body)
        tracks = track_ids(9, body)
        try:
            tag = parse_video_tag(body)
        except RemoteProtocolError:
            return
        if parse_video_tag(tag.to_bytes()) != tag:
            raise AssertionError(f"video tag did not survive re-encoding: {tag!r}")
        if info != _expected_video_info(tag):
            raise AssertionError(f"video_info {info} disagrees with {tag!r}")
        expected_metadata = (
            type(tag) in (ExVideoTag, MultitrackVideoTag)
            and tag.packet_type == VideoPacketType.METADATA
        )
        if metadata != expected_metadata:
            raise AssertionError(f"is_video_metadata {metadata} disagrees with {tag!r}")
        if tracks != _expected_tracks(tag):
            raise AssertionError(f"track_ids {tracks} disagrees with {tag!r}")
    elif selector == 1:
        header = is_audio_sequence_header(body)
        channels = is_audio_multichannel_config(body)
        tracks = track_ids(8, body)
        try:
            audio = parse_audio_tag(body)
        except RemoteProtocolError:
            return
        if parse_audio_tag(audio.to_bytes()) != audio:
            raise AssertionError(f"audio tag did not survive re-encoding: {audio!r}")
        if type(audio) is AudioTag:
            expected = audio.aac_packet_type == AACPacketType.SEQUENCE_HEADER
        else:
            expected = audio.packet_type == AudioPacketType.SEQUENCE_START
        if header != expected:
            raise AssertionError(f"is_audio_sequence_header {header} disagrees with {audio!r}")
        expected = type(audio) is not AudioTag and (
            audio.packet_type == AudioPacketType.MULTICHANNEL_CONFIG
        )
        if channels != expected:
            raise AssertionError(f"is_audio_multichannel_config {channels} disagrees: {audio!r}")
        if tracks != _expected_tracks(audio):
            raise AssertionError(f"track_ids {tracks} disagrees with {audio!r}")
    elif selector == 2:
        try:
            config = parse_multichannel_config(body)
        except RemoteProtocolError:
            return
        if parse_multichannel_config(config.to_bytes()) != config:
            raise AssertionError(f"multichannel config did not survive: {config!r}")
    elif 3 <= selector < 3 + len(_RECORD_PARSERS):
        try:
            record = _RECORD_PARSERS[selector - 3](body)
        except RemoteProtocolError:
            return
        _ = getattr(record, "info", None)
        to_bytes = getattr(record, "to_bytes", None)
        # Reserved bits are written canonically; the parsed fields must survive.
        if to_bytes is not None and _RECORD_PARSERS[selector - 3](to_bytes()) != record:
            raise AssertionError(f"record did not survive re-encoding: {record!r}")
    else:
        codecs.vp8_frame_size(body)
        codecs.vp9_frame_size(body)
        codecs.mp3_frame_info(body)


if __name__ == "__main__":
    from atheris_main import fuzz

    fuzz(test_one_input)
