"""FLV files: the incremental reader and the writer."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from media_helpers import split_points

from trio_rtmp.core import amf0
from trio_rtmp.core.config import Limits
from trio_rtmp.core.errors import LocalProtocolError, RemoteProtocolError
from trio_rtmp.media.flv import AudioTag, SoundFormat
from trio_rtmp.media.flvfile import FlvEnd, FlvHeader, FlvReader, FlvTag, FlvWriter, read_flv

tag_lists = st.lists(
    st.tuples(
        st.sampled_from([8, 9, 18, 8, 9]),
        st.integers(0, 0xFFFFFFFF),
        st.binary(max_size=60),
    ),
    max_size=8,
)


def _write(tags: list[tuple[int, int, bytes]], **options: Any) -> bytes:
    writer = FlvWriter(**options)
    data = b"".join(writer.write_tag(*tag) for tag in tags)
    tail, patches = writer.finish()
    out = bytearray(data + tail)
    for offset, patch in patches:
        out[offset : offset + len(patch)] = patch
    return bytes(out)


def _read(pieces: list[bytes], **options: Any) -> list[Any]:
    reader = FlvReader(**options)
    events = []
    for piece in pieces:
        if piece:  # b"" would mean the end
            events += reader.receive_data(piece)
    return events + reader.receive_data(b"")


@settings(max_examples=200)
@given(tag_lists, st.data())
def test_write_then_read_in_any_pieces(tags: list[tuple[int, int, bytes]], data: Any) -> None:
    file = _write(tags, has_audio=False)
    expected = [FlvHeader(has_audio=False), *(FlvTag(*tag) for tag in tags)]
    expected.append(FlvEnd(truncated=False))
    assert _read([file]) == expected
    assert _read([file[i : i + 1] for i in range(len(file))]) == expected
    assert _read(split_points(data.draw, file)) == expected


@settings(max_examples=60)
@given(tag_lists.filter(bool))
def test_truncated_files_end_with_what_was_complete(tags: list[tuple[int, int, bytes]]) -> None:
    file = _write(tags)
    complete_ends = {13}  # header and PreviousTagSize0, or a tag and its back pointer
    body_ends = []  # where each tag's body ends (its back pointer may be missing)
    position = 13
    for _, _, body in tags:
        position += 11 + len(body)
        body_ends.append(position)
        position += 4
        complete_ends.add(position)
    full = [FlvTag(*tag) for tag in tags]
    for cut in range(len(file)):
        events = _read([file[:cut]])
        end = events[-1]
        assert type(end) is FlvEnd
        got = [event for event in events if type(event) is FlvTag]
        assert got == full[: sum(1 for body_end in body_ends if body_end <= cut)]
        assert (type(events[0]) is FlvHeader) == (cut >= 9)
        assert end.truncated == (cut not in complete_ends)


def test_truncation_details() -> None:
    file = _write([(9, 0, b"abc"), (8, 5, b"de")])
    assert _read([file])[-1] == FlvEnd(truncated=False)
    # The last back pointer missing: the tag is complete, the file is truncated.
    events = _read([file[:-4]])
    assert events[-2] == FlvTag(8, 5, b"de") and events[-1] == FlvEnd(truncated=True)
    events = _read([file[:-6]])
    assert events[-2] == FlvTag(9, 0, b"abc")
    assert events[-1] == FlvEnd(truncated=True, unparsed=11)
    assert _read([b""]) == [FlvEnd(truncated=True)]
    assert _read([file[:5]]) == [FlvEnd(truncated=True, unparsed=5)]


def test_reader_errors_and_limits() -> None:
    with pytest.raises(RemoteProtocolError):
        FlvReader().receive_data(b"FLX")
    with pytest.raises(RemoteProtocolError):
        FlvReader().receive_data(b"F\x00")
    with pytest.raises(RemoteProtocolError):
        FlvReader().receive_data(b"FLV\x01\x05\x00\x00\x00\x08")
    big = FlvHeader().to_bytes() + bytes(4) + b"\x09\x00\x10\x00" + bytes(7)
    with pytest.raises(RemoteProtocolError):
        FlvReader(limits=Limits(max_message_size=4095)).receive_data(big)
    reader = FlvReader()
    reader.receive_data(b"")
    with pytest.raises(LocalProtocolError):
        reader.receive_data(b"FLV")


def test_reader_details() -> None:
    # A longer header, a filtered tag, an extended timestamp, a wrong back pointer.
    header = FlvHeader(has_audio=True, has_video=False, data_offset=12).to_bytes()
    assert len(header) == 12
    tag = struct.pack(">BHBHBBHB", 0x29, 0, 2, 0x3456, 0x78, 0x12, 0, 0) + b"xy"
    file = header + bytes(4) + tag + struct.pack(">I", 99)
    reader = FlvReader()
    events = reader.receive_data(file) + reader.receive_data(b"")
    assert events == [
        FlvHeader(has_audio=True, has_video=False, data_offset=12),
        FlvTag(9, 0x12345678, b"xy", True),
        FlvEnd(truncated=False),
    ]
    assert reader.previous_tag_size_mismatches == 1 and reader.tags_read == 1
    # The writer sets the Filter bit on request.
    writer = FlvWriter()
    data = writer.write_tag(8, 7, b"enc", filtered=True) + writer.finish()[0]
    assert read_flv(data).tags == [FlvTag(8, 7, b"enc", True)]


def test_writer_seekable_patches_and_metadata() -> None:
    writer = FlvWriter(seekable=True)
    assert writer.write_metadata({"width": 320.0, "duration": "bogus"}) == b""
    out = bytearray()
    out += writer.write_tag(9, 1000, b"v0")
    out += writer.write(1023, AudioTag(sound_format=SoundFormat.MP3, data=b"a"))
    out += writer.write_tag(9, 3500, b"v1")
    tail, patches = writer.finish()
    out += tail
    assert len(out) == writer.position
    for offset, patch in patches:
        assert out[offset : offset + 8] == struct.pack(">d", 0.0)
        out[offset : offset + 8] = patch
    flv = read_flv(bytes(out))
    assert flv.metadata == {"width": 320.0, "duration": 2.5, "filesize": float(len(out))}
    assert [tag.timestamp for tag in flv.tags[1:]] == [1000, 1023, 3500]
    assert not flv.truncated
    with pytest.raises(LocalProtocolError):
        writer.write_tag(9, 0, b"")


def test_writer_streaming_and_late_metadata() -> None:
    writer = FlvWriter(has_audio=False)
    first = writer.write_tag(9, 2000, b"v")
    assert first.startswith(b"FLV\x01\x01\x00\x00\x00\x09\x00\x00\x00\x00\x09")
    late = writer.write_metadata({"width": 1.0})
    tail, patches = writer.finish()
    assert tail == b"" and patches == []
    flv = read_flv(first + late)
    assert flv.tags[1].tag_type == 18
    assert flv.tags[1].script_values() == ["onMetaData", {"width": 1.0}]
    # At 0, not at the media's time: FFmpeg would read it as a subtitle stream.
    assert flv.tags[1].timestamp == 0
    # Metadata before any tag joins the first script tag; no media at all still
    # makes a valid file.
    writer = FlvWriter()
    writer.write_metadata({"a": 1.0})
    tail, _ = writer.finish()
    assert read_flv(tail).metadata == {"a": 1.0}
    assert read_flv(FlvWriter().finish()[0]).tags == []


def test_writer_past_the_32_bit_wrap() -> None:
    """Timestamps are written modulo 2**32, as RTMP carries them, and the duration
    counts across the wrap, from the first frame (not from sequence headers at 0)."""
    writer = FlvWriter(has_audio=False, seekable=True)
    top = (1 << 32) - 1000
    parts = [
        writer.write_tag(9, 0, b"\x17\x00\x00\x00\x00avcC"),  # sequence header
        writer.write_tag(9, top, b"\x17\x01\x00\x00\x00k"),
        writer.write_tag(9, top + 960, b"\x27\x01\x00\x00\x00p"),
        writer.write_tag(9, 40, b"\x27\x01\x00\x00\x00p"),  # as RTMP carries it
        writer.write_tag(9, (1 << 32) + 1000, b"\x27\x01\x00\x00\x00p"),  # extended
    ]
    tail, patches = writer.finish()
    out = bytearray(b"".join(parts) + tail)
    for offset, patch in patches:
        out[offset : offset + 8] = patch
    flv = read_flv(bytes(out))
    assert [tag.timestamp for tag in flv.tags[1:]] == [0, top, top + 960, 40, 1000]
    assert flv.metadata is not None and flv.metadata["duration"] == 2.0


def test_writer_errors() -> None:
    writer = FlvWriter()
    with pytest.raises(LocalProtocolError):
        writer.write_tag(9, -1, b"")
    with pytest.raises(LocalProtocolError):
        writer.write_tag(32, 0, b"")
    with pytest.raises(LocalProtocolError):
        writer.write_tag(9, 0, bytes(1 << 24))
    with pytest.raises(LocalProtocolError):
        FlvTag(9, 0, b"").script_values()


def test_read_flv_metadata_errors() -> None:
    writer = FlvWriter()
    data = writer.write_tag(18, 0, b"\x02\x00")  # truncated AMF
    with pytest.raises(RemoteProtocolError):
        read_flv(data)
    data = FlvWriter().write_tag(18, 0, amf0.encode("onTextData", {"text": "x"}))
    assert read_flv(data).metadata is None
