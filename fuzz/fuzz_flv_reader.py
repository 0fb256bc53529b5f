"""Fuzz the incremental FLV file reader.

The first input byte chooses how the rest is cut into pieces (the reader must give the
same events whatever the cuts); the rest is the file.

Invariant: input -> events or ``RemoteProtocolError``, nothing else; the same events
whole and in pieces; the tags read, written again with ``FlvWriter``, read back equal.
"""

from __future__ import annotations

from typing import Any

from trio_rtmp.core import amf0
from trio_rtmp.core.amf import ECMAArray
from trio_rtmp.core.config import Limits
from trio_rtmp.core.errors import RemoteProtocolError
from trio_rtmp.media.flv import AudioTag, SoundFormat
from trio_rtmp.media.flvfile import FlvEnd, FlvHeader, FlvReader, FlvTag, FlvWriter

# Small enough that the size check is reached by fuzzed tag headers.
LIMITS = Limits(max_message_size=1 << 16)


def seeds() -> list[bytes]:
    """FLV files written with our writer (and a cut one)."""
    out = []
    writer = FlvWriter(seekable=True)
    data = writer.write_metadata(ECMAArray({"width": 320.0, "height": 240.0}))
    data += writer.write_tag(9, 0, b"\x17\x00\x00\x00\x00\x01\x64\x00\x1f")
    data += writer.write(0, AudioTag(sound_format=SoundFormat.MP3, data=b"\xff\xfb"))
    data += writer.write_tag(9, 0x01234567, b"\x27\x01\x00\x00\x28\x00\x00\x00\x01\x41")
    data += writer.write_tag(18, 5, amf0.encode("onTextData", {"text": "hi"}))
    data += writer.finish()[0]
    out.append(b"\x00" + data)
    out.append(b"\x03" + data[:-7])
    streaming = FlvWriter(has_audio=False)
    plain = streaming.write_tag(9, 1, b"\x12h263") + streaming.finish()[0]
    out.append(b"\x01" + plain)
    out.append(b"\x07" + FlvHeader(data_offset=15).to_bytes() + bytes(4) + plain[13:])
    return out


def _read(pieces: list[bytes]) -> list[Any]:
    reader = FlvReader(limits=LIMITS)
    events: list[Any] = []
    for piece in pieces:
        if piece:
            events += reader.receive_data(piece)
    return events + reader.receive_data(b"")


def test_one_input(data: bytes) -> None:
    """Read whole and in pieces; rewrite what was read."""
    if not data:
        return
    step, body = data[0] % 16 + 1, data[1:]
    try:
        events = _read([body])
    except RemoteProtocolError:
        return
    pieces = [body[i : i + step] for i in range(0, len(body), step)]
    if _read(pieces) != events:
        raise AssertionError("events depend on how the input was cut")
    header = next((event for event in events if type(event) is FlvHeader), None)
    end = events[-1]
    if type(end) is not FlvEnd:
        raise AssertionError(f"the last event is {end!r}, not FlvEnd")
    tags = [event for event in events if type(event) is FlvTag]
    if not tags or header is None:
        return
    writer = FlvWriter(has_audio=header.has_audio, has_video=header.has_video)
    copy = b"".join(
        writer.write_tag(tag.tag_type, tag.timestamp, tag.data, filtered=tag.filtered)
        for tag in tags
    )
    copy += writer.finish()[0]
    again = [event for event in _read([copy]) if type(event) is FlvTag]
    if again != tags:
        raise AssertionError("tags changed when written and read again")


if __name__ == "__main__":
    from atheris_main import fuzz

    fuzz(test_one_input)
