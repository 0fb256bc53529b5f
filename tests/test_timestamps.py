"""Timestamps past the 32-bit wrap: TimestampUnwrapper, and the demuxer that uses it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from trio_rtmp.core import TimestampUnwrapper
from trio_rtmp.media import AudioSample, CodecConfig, Demuxer, FlvWriter, Muxer, read_flv

WRAP = 1 << 32
HALF = 1 << 31

# A true timeline: a start anywhere in 32 bits, then steps of less than 2**31 ms either
# way (a stream goes back a little: audio behind video, B-frames), staying >= 0.
steps = st.lists(st.integers(-HALF + 1, HALF - 1) | st.integers(-100, 100), max_size=60)


def timeline(start: int, moves: list[int]) -> list[int]:
    times = [start]
    for move in moves:
        times.append(max(0, times[-1] + move))
    return times


@given(st.integers(0, WRAP - 1), steps)
def test_the_true_timeline_comes_back_from_32_bit_timestamps(start: int, moves: list[int]) -> None:
    times = timeline(start, moves)
    unwrap = TimestampUnwrapper()
    assert [unwrap(t % WRAP) for t in times] == times
    # Extended timestamps going in come out as they are.
    again = TimestampUnwrapper()
    assert [again(t) for t in times] == times


def test_unwrapper_cases() -> None:
    unwrap = TimestampUnwrapper()
    assert [unwrap(t) for t in (WRAP - 100, WRAP - 10, 5, WRAP - 20, 40)] == [
        WRAP - 100,
        WRAP - 10,
        WRAP + 5,
        WRAP - 20,  # from before the wrap, arriving late
        WRAP + 40,
    ]
    # update=False reads against the last one without moving it.
    assert unwrap(WRAP - 1, update=False) == WRAP - 1
    assert unwrap(41) == WRAP + 41
    # A step forward of more than 2**31 at the start is a step forward (never negative).
    unwrap.reset()
    assert [unwrap(t) for t in (100, WRAP - 100, 200)] == [100, WRAP - 100, WRAP + 200]


@given(st.integers(0, WRAP - 1), steps)
def test_demuxer_sample_times_follow_the_true_timeline(start: int, moves: list[int]) -> None:
    # AAC (the fast path) and MP3 (the general path) on the same clock.
    times = timeline(start, moves)
    demuxer = Demuxer()
    demuxer.audio(0, b"\xaf\x00\x12\x10")
    out = []
    for index, true_time in enumerate(times):
        if index % 3 == 2:
            frames = demuxer.audio(true_time % WRAP, b"\x2f\xff\xfb\x94\xc4" + bytes(100))
            demuxer.audio(0, b"\xaf\x00\x12\x10")  # back to AAC: a new config, no sample
        else:
            frames = demuxer.audio(true_time % WRAP, b"\xaf\x01a")
        out += [frame.timestamp for frame in frames if type(frame) is AudioSample]
    assert out == times


def test_frames_past_the_wrap_survive_mux_flv_and_demux() -> None:
    """Times past 2**32 go out modulo 2**32 (what RTMP and FLV carry) and come back
    extended: muxer -> FLV file -> demuxer gives the same frames."""
    frames = [
        CodecConfig("audio", "aac", b"\x12\x10"),
        *(AudioSample(bytes([index]), WRAP - 69 + 23 * index) for index in range(8)),
    ]
    muxer = Muxer()
    writer = FlvWriter(has_video=False)
    data = b"".join(writer.write(t, tag) for frame in frames for t, tag in muxer.mux(frame))
    tags = read_flv(data + writer.finish()[0]).tags
    assert [tag.timestamp for tag in tags] == [0, *(f.timestamp % WRAP for f in frames[1:])]
    demuxer = Demuxer()
    again = [frame for tag in tags for frame in demuxer.tag(tag.tag_type, tag.timestamp, tag.data)]
    assert again == frames
