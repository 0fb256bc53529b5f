"""The media examples of the README, run as they are written.

Each string below is a code block of the README's media section, verbatim.  They run
here (in a temporary directory), and once the section is in README.md, every block
must appear there unchanged, so the documentation cannot drift from the code.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
#: The heading of the media section (its examples are checked once it is there).
HEADING = "## Media: frames, tags and FLV files"

EXAMPLES = {
    "frames": """\
from trio_rtmp import AudioSample, CodecConfig, Metadata, VideoSample

config = CodecConfig("audio", "aac", b"\\x12\\x10")  # AAC LC, 44.1 kHz, stereo
sample = AudioSample(b"\\x21\\x10\\x04", 23)         # payload, timestamp (ms)
frame = VideoSample([b"\\x65\\x88\\x84"], 40, 120, True)  # NAL units, dts, pts, keyframe
assert frame.pts - frame.dts == 80                  # the composition time offset
assert VideoSample(b"\\x12\\x00\\x0a", 0, 0, True, track=1).track == 1  # e.g. AV1, track 1
assert Metadata("onMetaData", {"width": 1280.0}).value["width"] == 1280.0
""",
    "demux": """\
from trio_rtmp.media import Demuxer, Muxer, CodecConfig, VideoSample, AudioSample
from trio_rtmp.media.codecs import build_avc_decoder_configuration_record

# An H.264 SPS and PPS (1280x720, High profile), as a camera or encoder gives them.
sps = bytes.fromhex("6764001facd9405005bb0110000003001000000303c0f1831960")
pps = bytes.fromhex("68ebe3cb22c0")
avcc = build_avc_decoder_configuration_record([sps], [pps]).to_bytes()

# Frames -> tags (what a publisher sends) ...
muxer = Muxer()
tags = []
for frame in [
    CodecConfig("video", "h264", avcc),
    CodecConfig("audio", "aac", b"\\x12\\x10"),
    VideoSample([b"\\x06sei", b"\\x65idr"], 0, 80, True),
    AudioSample(b"\\x21\\x10\\x04", 0),
    VideoSample([b"\\x41p"], 40, 40, False),
]:
    tags += muxer.mux(frame)

# ... and tags -> frames (what a player receives).
demuxer = Demuxer()
frames = []
for timestamp, tag in tags:
    if tag.tag_type == 9:
        frames += demuxer.video(timestamp, tag.to_bytes())
    else:
        frames += demuxer.audio(timestamp, tag.to_bytes())

video_config, audio_config, key, audio, inter = frames
assert video_config.codec == "h264" and video_config.init_data == avcc
assert (video_config.info.width, video_config.info.height) == (1280, 720)
assert audio_config.info.sample_rate == 44100 and audio_config.info.channels == 2
assert key == VideoSample([b"\\x06sei", b"\\x65idr"], 0, 80, True)
assert audio == AudioSample(b"\\x21\\x10\\x04", 0)
assert inter.keyframe is False
""",
    "tags": """\
from trio_rtmp.media.flv import (
    AudioTag, ExVideoTag, ModEx, MultitrackVideoTag, VideoTrack, AvMultitrackType,
    SoundFormat, AACPacketType, VideoFourCC, VideoFrameType, VideoPacketType,
    parse_audio_tag, parse_video_tag, video_info, is_audio_sequence_header,
    track_ids, GopTrack,
)

# A legacy AAC sequence header: 0xAF 0x00 + AudioSpecificConfig.
aac = AudioTag(
    sound_format=SoundFormat.AAC,
    aac_packet_type=AACPacketType.SEQUENCE_HEADER,
    data=b"\\x12\\x10",
)
assert aac.to_bytes() == b"\\xaf\\x00\\x12\\x10"
assert is_audio_sequence_header(aac.to_bytes())

# An Enhanced RTMP HEVC key frame with a composition time and a nanosecond offset.
hevc = ExVideoTag(
    frame_type=VideoFrameType.KEY,
    packet_type=VideoPacketType.CODED_FRAMES,
    fourcc=VideoFourCC.HEVC,
    composition_time=40,
    data=b"\\x00\\x00\\x00\\x02\\x26\\x01",
    mod_ex=(ModEx.timestamp_offset_nano(500_000),),
)
body = hevc.to_bytes()
assert parse_video_tag(body) == hevc            # exact round trip
assert parse_video_tag(body).timestamp_offset_nano == 500_000
assert video_info(body) == (True, False)        # (is_keyframe, is_sequence_header)

# Two tracks, two codecs, one message.
multitrack = MultitrackVideoTag(
    frame_type=VideoFrameType.INTER,
    packet_type=VideoPacketType.CODED_FRAMES,
    multitrack_type=AvMultitrackType.MANY_TRACKS_MANY_CODECS,
    tracks=(
        VideoTrack(track_id=0, fourcc=VideoFourCC.AVC, composition_time=0, data=b"..."),
        VideoTrack(track_id=1, fourcc=VideoFourCC.AV1, data=b"..."),
    ),
)
assert parse_video_tag(multitrack.to_bytes()) == multitrack
assert track_ids(9, multitrack.to_bytes()) == (0, 1)
assert track_ids(9, body) == (0,)                # not multitrack: track 0

# FFmpeg sends a second track's keyframe as a message of its own: not a start.
gop = GopTrack()
assert gop.starts_gop(body)                      # the first keyframe: its track is 0
second = MultitrackVideoTag(
    frame_type=VideoFrameType.KEY,
    packet_type=VideoPacketType.CODED_FRAMES,
    multitrack_type=AvMultitrackType.ONE_TRACK,
    tracks=(VideoTrack(track_id=1, fourcc=VideoFourCC.AVC, data=b"..."),),
)
assert video_info(second.to_bytes()) == (True, False) and not gop.starts_gop(second.to_bytes())
""",
    "flv": """\
from trio_rtmp.media import Demuxer, FlvReader, FlvTag, FlvWriter, Muxer
from trio_rtmp.media import CodecConfig, AudioSample

# Write a (tiny, audio-only) FLV file; seekable, so duration and size get patched in.
writer = FlvWriter(has_video=False, seekable=True)
muxer = Muxer()
with open("out.flv", "wb") as file:
    file.write(writer.write_metadata({"audiosamplerate": 44100.0}))
    for frame in [CodecConfig("audio", "aac", b"\\x12\\x10")] + [
        AudioSample(b"\\x21\\x10\\x04", 23 * n) for n in range(100)
    ]:
        for timestamp, tag in muxer.mux(frame):
            file.write(writer.write(timestamp, tag))
    tail, patches = writer.finish()
    file.write(tail)
    for offset, data in patches:
        file.seek(offset)
        file.write(data)

# Read it back incrementally (any piece size), straight into frames.
reader = FlvReader()
demuxer = Demuxer()
frames = []
with open("out.flv", "rb") as file:
    while True:
        chunk = file.read(4096)
        for event in reader.receive_data(chunk):  # b"" at the end: FlvEnd
            if isinstance(event, FlvTag):
                frames += demuxer.tag(event.tag_type, event.timestamp, event.data)
        if not chunk:
            break

metadata, config, *samples = frames
assert metadata.name == "onMetaData" and metadata.value["duration"] == 2.277
assert config.codec == "aac" and len(samples) == 100
""",
    "annexb": """\
from trio_rtmp.media import Muxer, CodecConfig, VideoSample
from trio_rtmp.media.codecs import build_avc_decoder_configuration_record
from trio_rtmp.media.nal import split_annexb

# One access unit from an encoder in Annex B form (start codes), with SPS and PPS.
access_unit = (
    b"\\x00\\x00\\x00\\x01" + bytes.fromhex("6764001facd9405005bb0110000003001000000303c0f1831960")
    + b"\\x00\\x00\\x00\\x01" + bytes.fromhex("68ebe3cb22c0")
    + b"\\x00\\x00\\x01\\x65\\x88\\x84\\x00"
)
nals = split_annexb(access_unit)
sps = [nal for nal in nals if nal[0] & 0x1F == 7]
pps = [nal for nal in nals if nal[0] & 0x1F == 8]
record = build_avc_decoder_configuration_record(sps, pps)

muxer = Muxer()
tags = muxer.mux(CodecConfig("video", "h264", record.to_bytes()))
tags += muxer.mux(VideoSample([nal for nal in nals if nal[0] & 0x1F == 5], 0, 0, True))
(_, header), (_, frame) = tags
assert frame.to_bytes() == b"\\x17\\x01\\x00\\x00\\x00" + b"\\x00\\x00\\x00\\x03\\x65\\x88\\x84"
# await client.send_tag(timestamp, tag) for each (timestamp, tag) in tags
""",
}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_runs(name: str, tmp_path: Path) -> None:
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(EXAMPLES[name], f"<README example {name}>", "exec"), {})
    finally:
        os.chdir(cwd)


def test_readme_holds_the_examples_verbatim() -> None:
    text = README.read_text() if README.exists() else ""
    if HEADING not in text:
        pytest.skip("the media section is not in README.md yet")
    for name, code in EXAMPLES.items():
        assert code in text, f"README.md's {name!r} example differs from the tested one"
