"""Fuzz the ChunkReader with arbitrary byte streams.

Input layout: byte 0 selects how the rest is fed (0: all at once, else in pieces of
that many bytes); the rest is the chunk stream.

Invariant: messages or a ``ProtocolError``, nothing else.  Fed in pieces, the reader
gives the same messages as fed whole, and fails where it fails whole.  Whatever parses
re-encodes: the messages written by a ChunkWriter (with the chunk sizes the stream
announced) read back identical, so reader and writer agree on everything the reader
accepts.
"""

from __future__ import annotations

import struct

from trio_rtmp.core.chunks import ChunkReader, ChunkWriter, Message
from trio_rtmp.core.config import Limits
from trio_rtmp.core.errors import ProtocolError

LIMITS = Limits(max_message_size=1 << 16, max_buffered_bytes=1 << 20)


def _stream(messages: list[Message], chunk_size: int = 128) -> bytes:
    writer = ChunkWriter()
    writer.write(2, 1, 0, 0, struct.pack(">I", chunk_size))
    for m in messages:
        writer.write(*m)
    return writer.data_to_send()


def seeds() -> list[bytes]:
    """Streams written by our own ChunkWriter, fed whole and in pieces."""
    media = [
        Message(3, 20, 0, 0, b"\x02\x00\x07connect\x00\x3f\xf0" + bytes(6) + b"\x05"),
        Message(4, 8, 0, 1, b"\xaf\x00\x12\x10"),
        Message(6, 9, 0, 1, b"\x17\x00\x00\x00\x00" + bytes(300)),
        Message(4, 8, 23, 1, b"\xaf\x01" + bytes(200)),
        Message(6, 9, 33, 1, b"\x27\x01\x00\x00\x00" + bytes(1000)),
        Message(4, 8, 46, 1, b"\xaf\x01" + bytes(201)),
        Message(70, 9, 0x01000000, 1, bytes(500)),  # 2-byte basic header, extended time
        Message(400, 18, 0xFFFFFFF0, 1, b"\x02\x00\x0aonMetaData"),  # 3-byte basic header
        Message(2, 2, 0, 0, struct.pack(">I", 6)),  # Abort
        Message(2, 4, 0, 0, b"\x00\x06\x00\x00\x00\x01"),
    ]
    out = []
    for chunk_size in (1, 50, 128, 4096):
        stream = _stream(media, chunk_size)
        out += [b"\x00" + stream, b"\x07" + stream, b"\x80" + stream]
    return out


def test_one_input(data: bytes) -> None:
    if not data:
        return
    piece = data[0]
    stream = data[1:]
    reader = ChunkReader(limits=LIMITS)
    got: list[Message] = []
    sizes: list[int] = []
    try:
        whole = ChunkReader(limits=LIMITS).receive_data(stream)
    except ProtocolError:
        whole = None
    try:
        if piece == 0:
            got = reader.receive_data(stream)
        else:
            for i in range(0, len(stream), piece):
                got += reader.receive_data(stream[i : i + piece])
    except ProtocolError:
        # (A whole read that fails returns nothing, so only the failure compares.)
        assert whole is None
    else:
        assert got == whole
    # Each step of work reads a chunk header: a peer gets no more steps than bytes.
    assert reader.chunk_steps + len(got) <= len(stream)
    # Re-encode what parsed, with the chunk sizes it announced, and read it again.
    writer = ChunkWriter()
    for m in got:
        if m.type_id == 1 and len(m.payload) >= 4:
            sizes.append(struct.unpack_from(">I", m.payload)[0])
        writer.write(*m)
    again = ChunkReader(limits=Limits(max_message_size=1 << 16, max_chunk_size=0x7FFFFFFF))
    assert again.receive_data(writer.data_to_send()) == got


if __name__ == "__main__":
    from atheris_main import fuzz

    fuzz(test_one_input)
