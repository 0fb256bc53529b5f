"""Fuzz the demuxer with a stream of audio, video and data messages.

The input is a sequence of messages, each ``[kind][timestamp: 2 bytes][length][body]``
(kind 0/3 video, 1 audio, 2 data; with the top bit of ``kind`` set, the timestamp is
taken 32768 ms before the 32-bit wrap, so that streams cross it).  A message that
fails must leave the demuxer as it was, so the stream goes on after it.

Invariant: every message -> frames or ``RemoteProtocolError``, nothing else, and a
failing message changes no state; the samples that came out, muxed again with
``Muxer`` (configs included) and demuxed by a fresh ``Demuxer``, come out unchanged.
"""

from __future__ import annotations

import struct
from typing import Any

from trio_rtmp.core import amf0
from trio_rtmp.core.amf import ECMAArray
from trio_rtmp.core.errors import LocalProtocolError, RemoteProtocolError
from trio_rtmp.media.demux import Demuxer
from trio_rtmp.media.flv import (
    AudioFourCC,
    AudioPacketType,
    AudioTrack,
    AvMultitrackType,
    ExAudioTag,
    ExVideoTag,
    ModEx,
    MultitrackAudioTag,
    MultitrackVideoTag,
    VideoFourCC,
    VideoPacketType,
    VideoTrack,
)
from trio_rtmp.media.frames import AudioSample, CodecConfig, Metadata, VideoSample
from trio_rtmp.media.mux import Muxer

_AVCC = bytes.fromhex(
    "0164001fffe1001a6764001facd9405005bb0110000003001000000303c0f183196001000668ebe3cb22c0"
)
_AV1C = bytes.fromhex("81000c000a0b00000004457e3e6d7c8020")


def _message(kind: int, timestamp: int, body: bytes) -> bytes:
    return struct.pack(">BHB", kind, timestamp, len(body)) + body


def seeds() -> list[bytes]:
    """Message streams: legacy H.264/AAC/MP3, enhanced multitrack, metadata."""
    legacy_messages = [
        (2, 0, amf0.encode("@setDataFrame", "onMetaData", ECMAArray({"width": 1.0}))),
        (0, 0, b"\x17\x00\x00\x00\x00" + _AVCC),
        (1, 0, b"\xaf\x00\x12\x10"),
        (0, 0, b"\x17\x01\x00\x00\x50\x00\x00\x00\x02\x65\x88\x00\x00\x00\x01\x06"),
        (1, 23, b"\xaf\x01\x21\x00"),
        (0, 40, b"\x27\x01\xff\xff\xd8\x00\x00\x00\x02\x41\x9a"),
        (1, 46, b"\x2f\xff\xfb\x90\x64\x00"),
        (0, 80, b"\x22h263"),
    ]
    legacy = b"".join(_message(*message) for message in legacy_messages)
    # The same, 45 ms before the 32-bit wrap: it crosses it.
    across_wrap = b"".join(
        _message(kind | 0x80, 0x8000 - 45 + timestamp, body)
        for kind, timestamp, body in legacy_messages
    )
    enhanced = b"".join(
        [
            _message(
                0,
                0,
                MultitrackVideoTag(
                    frame_type=1,
                    packet_type=VideoPacketType.SEQUENCE_START,
                    multitrack_type=AvMultitrackType.MANY_TRACKS_MANY_CODECS,
                    tracks=(
                        VideoTrack(track_id=0, fourcc=VideoFourCC.AVC, data=_AVCC[:20]),
                        VideoTrack(track_id=1, fourcc=VideoFourCC.AV1, data=_AV1C),
                    ),
                ).to_bytes(),
            ),
            _message(
                0,
                10,
                ExVideoTag(
                    frame_type=1,
                    packet_type=VideoPacketType.CODED_FRAMES,
                    fourcc=VideoFourCC.AVC,
                    composition_time=20,
                    data=b"\x00\x00\x00\x01\x65",
                    mod_ex=(ModEx.timestamp_offset_nano(5),),
                ).to_bytes(),
            ),
            _message(
                0,
                10,
                MultitrackVideoTag(
                    frame_type=2,
                    packet_type=VideoPacketType.CODED_FRAMES_X,
                    multitrack_type=AvMultitrackType.ONE_TRACK,
                    tracks=(VideoTrack(track_id=1, fourcc=VideoFourCC.AV1, data=b"obu"),),
                ).to_bytes(),
            ),
            _message(
                0,
                12,
                ExVideoTag(
                    frame_type=5,
                    packet_type=VideoPacketType.METADATA,
                    fourcc=VideoFourCC.AV1,
                    data=amf0.encode("colorInfo", {"colorConfig": {"bitDepth": 10.0}}),
                ).to_bytes(),
            ),
            _message(
                1,
                0,
                MultitrackAudioTag(
                    packet_type=AudioPacketType.SEQUENCE_START,
                    multitrack_type=AvMultitrackType.MANY_TRACKS,
                    tracks=(
                        AudioTrack(track_id=0, fourcc=AudioFourCC.OPUS, data=b""),
                        AudioTrack(track_id=3, fourcc=AudioFourCC.OPUS, data=b""),
                    ),
                ).to_bytes(),
            ),
            _message(
                1,
                20,
                ExAudioTag(
                    packet_type=AudioPacketType.CODED_FRAMES, fourcc=AudioFourCC.AC3, data=b"a"
                ).to_bytes(),
            ),
            _message(
                1,
                20,
                ExAudioTag(
                    packet_type=AudioPacketType.MULTICHANNEL_CONFIG,
                    fourcc=AudioFourCC.OPUS,
                    data=b"\x01\x02\x00\x00\x00\x03",
                ).to_bytes(),
            ),
        ]
    )
    return [legacy, enhanced, legacy[:40], enhanced + legacy, across_wrap]


def _messages(data: bytes) -> list[tuple[int, int, bytes]]:
    messages = []
    position = 0
    while position + 4 <= len(data):
        kind, timestamp, size = struct.unpack_from(">BHB", data, position)
        position += 4
        if kind & 0x80:
            timestamp = (timestamp - 0x8000) & 0xFFFFFFFF
        messages.append((kind % 4, timestamp, data[position : position + size]))
        position += size
    return messages


def _state(demuxer: Demuxer) -> Any:
    return (
        {
            key: (state.config, state.nal_length_size, state.key)
            for key, state in demuxer._video.items()
        },
        {
            key: (state.config, state.nal_length_size, state.key)
            for key, state in demuxer._audio.items()
        },
    )


def test_one_input(data: bytes) -> None:
    """Demux every message; then mux and demux the result again."""
    demuxer = Demuxer()
    frames: list[Any] = []
    for kind, timestamp, body in _messages(data):
        before = _state(demuxer)
        try:
            if kind == 1:
                frames += demuxer.audio(timestamp, body)
            elif kind == 2:
                frames += demuxer.tag(18, timestamp, body)
            else:
                frames += demuxer.video(timestamp, body)
        except RemoteProtocolError:
            if _state(demuxer) != before:
                raise AssertionError("a failing message changed the demuxer's state") from None
    muxer = Muxer()
    again = Demuxer()
    round_trip: list[Any] = []
    for frame in frames:
        if type(frame) is Metadata:
            continue  # metadata is normalized on the way (see the muxer's docs)
        try:
            tags = muxer.mux(frame)
        except LocalProtocolError as exc:
            raise AssertionError(f"the muxer refused a demuxed frame {frame!r}: {exc}") from None
        for timestamp, tag in tags:
            round_trip += again.tag(tag.tag_type, timestamp, tag.to_bytes())
    samples = [frame for frame in frames if type(frame) in (VideoSample, AudioSample)]
    samples_again = [frame for frame in round_trip if type(frame) in (VideoSample, AudioSample)]
    if samples_again != samples:
        raise AssertionError(f"samples changed through the muxer: {samples} -> {samples_again}")
    # Every sample comes after a CodecConfig for its track.
    configured: set[tuple[str, int]] = set()
    for frame in frames:
        if type(frame) is CodecConfig:
            configured.add((frame.media, frame.track))
        elif type(frame) in (VideoSample, AudioSample):
            media = "video" if type(frame) is VideoSample else "audio"
            if (media, frame.track) not in configured:
                raise AssertionError(f"{frame!r} came before any CodecConfig of its track")


if __name__ == "__main__":
    from atheris_main import fuzz

    fuzz(test_one_input)
