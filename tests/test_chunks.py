"""The chunk stream: ChunkReader and ChunkWriter, against each other and against a
deliberately simple reference encoder written here from the specification."""

from __future__ import annotations

import contextlib
import signal
import struct
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from trio_rtmp.core.chunks import (
    ChunkReader,
    ChunkWriter,
    Message,
    encode_message,
)
from trio_rtmp.core.config import Limits
from trio_rtmp.core.errors import LocalProtocolError, ProtocolError, RemoteProtocolError

# ---------------------------------------------------------------------------
# A reference encoder: one chunk at a time, every header form chosen explicitly.


def basic_header(fmt: int, csid: int) -> bytes:
    if csid < 64:
        return bytes([(fmt << 6) | csid])
    if csid < 320:
        return bytes([fmt << 6, csid - 64])
    return bytes([(fmt << 6) | 1, (csid - 64) & 0xFF, (csid - 64) >> 8])


def chunk_header(
    fmt: int,
    csid: int,
    field: int,
    length: int = 0,
    type_id: int = 0,
    msid: int = 0,
    *,
    extended_repeat: bool = True,
) -> bytes:
    """Header of a chunk; ``field`` is the timestamp (fmt 0) or delta (fmt 1/2)."""
    out = basic_header(fmt, csid)
    short = min(field, 0xFFFFFF)
    if fmt == 0:
        out += short.to_bytes(3, "big") + length.to_bytes(3, "big") + bytes([type_id])
        out += msid.to_bytes(4, "little")
    elif fmt == 1:
        out += short.to_bytes(3, "big") + length.to_bytes(3, "big") + bytes([type_id])
    elif fmt == 2:
        out += short.to_bytes(3, "big")
    if field >= 0xFFFFFF and (fmt < 3 or extended_repeat):
        out += field.to_bytes(4, "big")
    return out


def reference_chunks(
    message: Message, chunk_size: int, *, extended_repeat: bool = True
) -> list[bytes]:
    """The chunks of one message with a fmt 0 header, as separate byte strings."""
    ts = message.timestamp
    payload = message.payload
    pieces = [payload[i : i + chunk_size] for i in range(0, len(payload), chunk_size)] or [b""]
    first = chunk_header(
        0, message.chunk_stream_id, ts, len(payload), message.type_id, message.message_stream_id
    )
    out = [first + pieces[0]]
    for piece in pieces[1:]:
        out.append(
            chunk_header(3, message.chunk_stream_id, ts, extended_repeat=extended_repeat) + piece
        )
    return out


def read_all(data: bytes, cuts: list[int] | None = None, **kwargs: object) -> list[Message]:
    reader = ChunkReader(**kwargs)  # type: ignore[arg-type]
    out: list[Message] = []
    if cuts is None:
        return reader.receive_data(data)
    start = 0
    for cut in [*sorted(cuts), len(data)]:
        out += reader.receive_data(data[start:cut])
        start = cut
    return out


def one_byte_at_a_time(data: bytes) -> list[Message]:
    reader = ChunkReader()
    out: list[Message] = []
    for i in range(len(data)):
        out += reader.receive_data(data[i : i + 1])
    return out


def set_chunk_size(size: int) -> Message:
    return Message(2, 1, 0, 0, struct.pack(">I", size))


# ---------------------------------------------------------------------------
# Strategies

chunk_stream_ids = st.one_of(st.integers(2, 63), st.integers(64, 319), st.integers(320, 65599))
timestamps = st.one_of(
    st.integers(0, 1000),
    st.integers(0xFFFFF0, 0x1000010),  # around the extended timestamp threshold
    st.integers(0, 0xFFFFFFFF),
)


@st.composite
def message_lists(draw: st.DrawFn, max_size: int = 30) -> list[Message]:
    """Messages on a few chunk streams with non-decreasing (wrapping) timestamps."""
    csids = draw(st.lists(chunk_stream_ids, min_size=1, max_size=4, unique=True))
    start = draw(timestamps)
    count = draw(st.integers(0, max_size))
    messages = []
    clock = dict.fromkeys(csids, start)
    msid = {csid: draw(st.sampled_from([0, 1, 7, 0xFFFFFFFF])) for csid in csids}
    for _ in range(count):
        csid = draw(st.sampled_from(csids))
        step = draw(st.one_of(st.just(0), st.integers(0, 100), st.integers(0, 0x2000000)))
        clock[csid] = (clock[csid] + step) & 0xFFFFFFFF
        type_id = draw(st.sampled_from([3, 4, 5, 6, 8, 9, 15, 18, 20, 22, 0, 255]))
        size = draw(st.one_of(st.integers(0, 300), st.integers(0, 3000)))
        payload = draw(st.binary(min_size=size, max_size=size))
        if draw(st.booleans()):
            msid[csid] = draw(st.sampled_from([0, 1, 7]))
        messages.append(Message(csid, type_id, clock[csid], msid[csid], payload))
    return messages


# ---------------------------------------------------------------------------
# Writer -> reader round trips


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(messages=message_lists(), chunk_size=st.integers(1, 65536), data=st.data())
def test_writer_reader_round_trip_any_split(
    messages: list[Message], chunk_size: int, data: st.DataObject
) -> None:
    writer = ChunkWriter()
    stream = [set_chunk_size(chunk_size), *messages]
    for m in stream:
        writer.write(*m)
    raw = writer.data_to_send()
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=20))
    assert read_all(raw, cuts) == stream
    assert read_all(raw) == stream


@settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow])
@given(messages=message_lists(max_size=8), chunk_size=st.sampled_from([1, 7, 128, 4096]))
def test_one_byte_at_a_time(messages: list[Message], chunk_size: int) -> None:
    writer = ChunkWriter()
    stream = [set_chunk_size(chunk_size), *messages]
    for m in stream:
        writer.write(*m)
    raw = writer.data_to_send()
    assert one_byte_at_a_time(raw) == stream


@settings(max_examples=80, suppress_health_check=[HealthCheck.too_slow])
@given(
    messages=message_lists(max_size=20),
    sizes=st.lists(st.integers(1, 70000), min_size=1, max_size=5),
    data=st.data(),
)
def test_chunk_size_changes_mid_stream(
    messages: list[Message], sizes: list[int], data: st.DataObject
) -> None:
    stream: list[Message] = []
    for m in messages:
        if sizes and data.draw(st.booleans()):
            stream.append(set_chunk_size(sizes.pop()))
        stream.append(m)
    writer = ChunkWriter()
    for m in stream:
        writer.write(*m)
    raw = writer.data_to_send()
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=10))
    assert read_all(raw, cuts) == stream


def test_writer_compresses_headers() -> None:
    writer = ChunkWriter()
    writer.write(4, 8, 1000, 1, b"a" * 10)  # fmt 0: 12-byte header
    writer.write(4, 8, 1020, 1, b"b" * 11)  # fmt 1: length changed
    writer.write(4, 8, 1040, 1, b"c" * 11)  # fmt 3: repeats the delta fmt 1 set
    writer.write(4, 8, 1060, 1, b"d" * 11)  # fmt 3: same delta
    writer.write(4, 8, 1070, 1, b"e" * 11)  # fmt 2: delta changed
    writer.write(4, 8, 1000, 1, b"f" * 11)  # fmt 0: time went backwards
    writer.write(4, 8, 1000, 2, b"g" * 11)  # fmt 0: other message stream
    raw = writer.data_to_send()
    expected = (
        chunk_header(0, 4, 1000, 10, 8, 1)
        + b"a" * 10
        + chunk_header(1, 4, 20, 11, 8)
        + b"b" * 11
        + chunk_header(3, 4, 0)
        + b"c" * 11
        + chunk_header(3, 4, 0)
        + b"d" * 11
        + chunk_header(2, 4, 10)
        + b"e" * 11
        + chunk_header(0, 4, 1000, 11, 8, 1)
        + b"f" * 11
        + chunk_header(0, 4, 1000, 11, 8, 2)
        + b"g" * 11
    )
    assert raw == expected
    assert [m.timestamp for m in read_all(raw)] == [1000, 1020, 1040, 1060, 1070, 1000, 1000]


def test_writer_never_uses_fmt3_for_a_new_message_right_after_fmt0() -> None:
    # Readers disagree on the delta a fmt 3 header repeats after fmt 0.
    writer = ChunkWriter()
    writer.write(5, 9, 100, 1, b"x")
    writer.write(5, 9, 100, 1, b"y")
    raw = writer.data_to_send()
    assert raw[12 + 1] >> 6 == 2


def test_writer_continuation_repeats_extended_timestamp() -> None:
    writer = ChunkWriter()
    ts = 0x12345678
    writer.write(6, 9, ts, 1, bytes(300))  # chunk size 128: 3 chunks
    raw = writer.data_to_send()
    ext = ts.to_bytes(4, "big")
    assert raw == (
        chunk_header(0, 6, ts, 300, 9, 1)
        + bytes(128)
        + b"\xc6"
        + ext
        + bytes(128)
        + b"\xc6"
        + ext
        + bytes(44)
    )
    assert raw[1:4] == b"\xff\xff\xff"
    assert read_all(raw) == [Message(6, 9, ts, 1, bytes(300))]


def test_encode_message_is_stateless_fmt0() -> None:
    raw = encode_message(70, 9, 5, 1, b"z" * 300, 128)
    assert raw == b"".join(reference_chunks(Message(70, 9, 5, 1, b"z" * 300), 128))
    # Sharable bytes follow anything a compressing writer wrote on another csid.
    writer = ChunkWriter()
    writer.write(4, 8, 1, 1, b"a")
    data = writer.data_to_send() + raw + raw
    assert read_all(data) == [
        Message(4, 8, 1, 1, b"a"),
        Message(70, 9, 5, 1, b"z" * 300),
        Message(70, 9, 5, 1, b"z" * 300),
    ]


@pytest.mark.parametrize(
    "args",
    [
        (1, 8, 0, 1, b""),
        (65600, 8, 0, 1, b""),
        (3, 256, 0, 1, b""),
        (3, 8, -1, 1, b""),
        (3, 8, 0, 1 << 32, b""),
        (3, 8, 0, 1, bytes(1 << 24)),
        (2, 1, 0, 0, b"\x00\x00\x00\x00"),  # Set Chunk Size 0
        (2, 1, 0, 0, b"\x80\x00\x00\x01"),  # top bit set
    ],
)
def test_writer_rejects_illegal_messages(args: tuple[int, int, int, int, bytes]) -> None:
    writer = ChunkWriter()
    writer.write(3, 8, 0, 1, b"before")
    queued = writer.buffered
    with pytest.raises(LocalProtocolError):
        writer.write(*args)
    # A refused message leaves no trace: nothing queued, no header state, same size.
    assert writer.buffered == queued
    assert writer.chunk_size == 128
    writer.write(3, 8, 0, 1, b"after")
    assert read_all(writer.data_to_send()) == [
        Message(3, 8, 0, 1, b"before"),
        Message(3, 8, 0, 1, b"after"),
    ]


# ---------------------------------------------------------------------------
# Reader against the reference encoder: interleaving, Abort, extended timestamps


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    messages=message_lists(max_size=12),
    chunk_size=st.integers(1, 300),
    extended_repeat=st.booleans(),
    data=st.data(),
)
def test_interleaved_chunk_streams(
    messages: list[Message], chunk_size: int, extended_repeat: bool, data: st.DataObject
) -> None:
    """Chunks of messages on different chunk streams interleave arbitrarily."""
    # Per chunk stream the chunks stay in order; across streams any interleaving.
    queues: dict[int, list[list[bytes]]] = {}
    for m in messages:
        chunks = reference_chunks(m, chunk_size, extended_repeat=extended_repeat)
        queues.setdefault(m.chunk_stream_id, []).append(chunks)
    order = []
    pending = {csid: [c for msg in q for c in msg] for csid, q in queues.items()}
    while pending:
        csid = data.draw(st.sampled_from(sorted(pending)))
        order.append(pending[csid].pop(0))
        if not pending[csid]:
            del pending[csid]
    raw = set_chunk_size_bytes(chunk_size) + b"".join(order)
    if not extended_repeat:
        # Bytes whose fmt 3 chunks leave out the extended timestamp are ambiguous when
        # the bytes after such a header happen to be the timestamp's four bytes.
        ext = {m.chunk_stream_id: m.timestamp for m in messages if m.timestamp >= 0xFFFFFF}
        position = len(raw) - sum(len(c) for c in order)
        for chunk in order:
            csid = _basic_csid(chunk)
            if chunk[0] >> 6 == 3 and csid in ext:
                start = position + (1 if csid < 64 else 2 if csid < 320 else 3)
                assume(raw[start : start + 4] != ext[csid].to_bytes(4, "big"))
            position += len(chunk)
    got = read_all(raw, data.draw(st.lists(st.integers(0, len(raw)), max_size=10)))[1:]
    # Completion order may differ from writing order across streams, never within one.
    for csid in queues:
        assert [m for m in got if m.chunk_stream_id == csid] == [
            m for m in messages if m.chunk_stream_id == csid
        ]
    assert len(got) == len(messages)


def _basic_csid(chunk: bytes) -> int:
    low = chunk[0] & 0x3F
    if low == 0:
        return chunk[1] + 64
    if low == 1:
        return chunk[1] + (chunk[2] << 8) + 64
    return low


def set_chunk_size_bytes(size: int) -> bytes:
    return chunk_header(0, 2, 0, 4, 1, 0) + struct.pack(">I", size)


def test_fmt3_without_extended_timestamp_is_read() -> None:
    """Old librtmp leaves the extended timestamp out of fmt 3 chunks."""
    ts = 0x01020304
    m = Message(6, 9, ts, 1, bytes(range(256)) * 2)
    for repeat in (True, False):
        raw = b"".join(reference_chunks(m, 128, extended_repeat=repeat))
        assert read_all(raw) == [m]
        assert one_byte_at_a_time(raw) == [m]


def test_extended_timestamp_left_out_of_some_continuation_chunks() -> None:
    """Each fmt 3 chunk's next four bytes are compared with the extended timestamp on
    their own: a chunk that leaves it out followed by one that repeats it reads the
    same however the bytes are cut (a run of continuation chunks read at once used to
    take its first chunk's form for all of them; a fuzz finding)."""
    ts = 0x01000000
    with_time = [True, True, False, True, True, True]
    payload = b"PQ\x41RST"
    chunks = [chunk_header(0, 5, ts, len(payload), 9, 1) + payload[:1]]
    for repeat, byte in zip(with_time[1:], payload[1:], strict=True):
        chunks.append(chunk_header(3, 5, ts, extended_repeat=repeat) + bytes([byte]))
    raw = set_chunk_size_bytes(1) + b"".join(chunks)
    expected = [set_chunk_size(1), Message(5, 9, ts, 1, payload)]
    assert read_all(raw) == expected
    assert one_byte_at_a_time(raw) == expected
    for cut in range(1, len(raw)):
        assert read_all(raw, [cut]) == expected, cut


def test_a_header_in_the_middle_of_a_message_does_not_change_its_type() -> None:
    """A fmt 1 header on a continuation chunk must agree on the length; its type is
    ignored, so Set Chunk Size and Abort act by the type the message began with
    (the type of the interrupting header used to decide; a fuzz finding)."""
    # A Set Chunk Size (to 64) whose second chunk claims to be audio: applied.
    size_first = chunk_header(0, 4, 0, 4, 1, 0) + b"\x00\x00"
    size_rest = chunk_header(1, 4, 0, 4, 8) + b"\x00\x40"
    # Read right only at the new size: 100 bytes in chunks of 64.
    after = Message(4, 8, 0, 0, bytes(100))
    raw = set_chunk_size_bytes(2) + size_first + size_rest
    raw += b"".join(reference_chunks(after, 64))
    expected = [set_chunk_size(2), Message(4, 1, 0, 0, b"\x00\x00\x00\x40"), after]
    # An audio message whose second chunk claims to be an Abort of chunk stream 5:
    # chunk stream 5's message in progress is not discarded.
    media = Message(5, 9, 0, 1, b"abcdef")
    media_chunks = reference_chunks(media, 2)
    audio = chunk_header(0, 6, 0, 4, 8, 1) + b"\x00\x00"
    audio += chunk_header(1, 6, 0, 4, 2) + b"\x00\x05"
    raw2 = set_chunk_size_bytes(2) + media_chunks[0] + audio + b"".join(media_chunks[1:])
    expected2 = [set_chunk_size(2), Message(6, 8, 0, 1, b"\x00\x00\x00\x05"), media]
    for data, want in ((raw, expected), (raw2, expected2)):
        assert read_all(data) == want
        assert one_byte_at_a_time(data) == want
        for cut in range(1, len(data)):
            assert read_all(data, [cut]) == want, cut


def test_fmt3_new_message_adds_previous_delta() -> None:
    raw = (
        chunk_header(0, 4, 1000, 2, 8, 1)
        + b"ab"
        + chunk_header(2, 4, 40)
        + b"cd"
        + chunk_header(3, 4, 0)
        + b"ef"
        + chunk_header(3, 4, 0)
        + b"gh"
    )
    assert [(m.timestamp, m.payload) for m in read_all(raw)] == [
        (1000, b"ab"),
        (1040, b"cd"),
        (1080, b"ef"),
        (1120, b"gh"),
    ]


def test_timestamp_wraps_at_32_bits() -> None:
    raw = (
        chunk_header(0, 4, 0xFFFFFFF0, 1, 8, 1)
        + b"a"
        + chunk_header(2, 4, 0x20)
        + b"b"
        + chunk_header(1, 4, 0xFFFFFF + 5, 1, 8)
        + b"c"
    )
    assert [m.timestamp for m in read_all(raw)] == [0xFFFFFFF0, 0x10, 0x10 + 0xFFFFFF + 5]


def test_abort_discards_partial_message() -> None:
    m = Message(6, 9, 10, 1, bytes(300))
    chunks = reference_chunks(m, 128)
    abort = chunk_header(0, 2, 0, 4, 2, 0) + struct.pack(">I", 6)
    after = Message(6, 9, 20, 1, b"next")
    raw = chunks[0] + abort + b"".join(reference_chunks(after, 128))
    got = read_all(raw)
    assert got == [Message(2, 2, 0, 0, struct.pack(">I", 6)), after]
    reader = ChunkReader()
    reader.receive_data(chunks[0])
    assert reader.buffered_bytes == 128
    reader.receive_data(abort)
    assert reader.buffered_bytes == 0


def test_a_chunk_stream_reads_on_after_an_abort_and_extended_timestamps() -> None:
    # Compressed headers on a chunk stream whose last message was aborted, or used an
    # extended timestamp, must still be read right (the fast path only takes streams
    # that are idle and without an extended timestamp).
    started = reference_chunks(Message(6, 9, 0x1000000, 1, bytes(300)), 128)
    abort = chunk_header(0, 2, 0, 4, 2, 0) + struct.pack(">I", 6)
    raw = (
        started[0]
        + abort
        + chunk_header(1, 6, 5, 3, 9)  # a new message after the aborted one
        + b"abc"
        + chunk_header(2, 6, 7)  # same length and type, new delta
        + b"def"
        + chunk_header(3, 6, 0)  # everything repeated
        + b"ghi"
        + chunk_header(1, 6, 0x1000000, 200, 8)  # an extended delta, two chunks
        + bytes(128)
        + basic_header(3, 6)
        + struct.pack(">I", 0x1000000)
        + bytes(72)
        + chunk_header(1, 6, 10, 2, 8)  # back to a short delta
        + b"jk"
        + chunk_header(3, 6, 0)
        + b"lm"
    )
    base = 0x1000000
    expected = [
        Message(2, 2, 0, 0, struct.pack(">I", 6)),
        Message(6, 9, base + 5, 1, b"abc"),
        Message(6, 9, base + 12, 1, b"def"),
        Message(6, 9, base + 19, 1, b"ghi"),
        Message(6, 8, 2 * base + 19, 1, bytes(200)),
        Message(6, 8, 2 * base + 29, 1, b"jk"),
        Message(6, 8, 2 * base + 39, 1, b"lm"),
    ]
    assert read_all(raw) == expected
    assert one_byte_at_a_time(raw) == expected
    assert read_all(raw, list(range(0, len(raw), 7))) == expected


def test_set_chunk_size_applies_to_the_next_chunk() -> None:
    m = Message(3, 20, 0, 0, bytes(range(200)))
    raw = set_chunk_size_bytes(100) + b"".join(reference_chunks(m, 100))
    assert read_all(raw)[1] == m
    assert one_byte_at_a_time(raw)[1] == m


def test_librtmp_style_fmt1_on_a_fresh_control_chunk_stream() -> None:
    # librtmp sends e.g. SetBufferLength on csid 2 with a fmt 1 header first.
    raw = chunk_header(1, 2, 0, 10, 4) + bytes(10)
    assert read_all(raw) == [Message(2, 4, 0, 0, bytes(10))]


# ---------------------------------------------------------------------------
# Violations and limits


@pytest.mark.parametrize(
    "raw",
    [
        chunk_header(1, 5, 0, 3, 9) + b"abc",  # fresh chunk stream, fmt 1, media type
        chunk_header(2, 5, 0) + b"abc",  # fresh chunk stream, fmt 2
        chunk_header(3, 5, 0) + b"abc",  # fresh chunk stream, fmt 3
        set_chunk_size_bytes(0),
        set_chunk_size_bytes(0x80000000),
        set_chunk_size_bytes(0xFFFFFFFF),
        chunk_header(0, 2, 0, 3, 1, 0) + b"\x00\x00\x01",  # Set Chunk Size too short
        # The declared length changes in the middle of a message (CVE-2016-10191).
        chunk_header(0, 4, 0, 200, 8, 1) + bytes(128) + chunk_header(1, 4, 0, 300, 8) + bytes(128),
        chunk_header(0, 4, 0, 9 * 1024 * 1024, 8, 1),  # over the 8 MiB default limit
    ],
)
def test_violations_are_remote_protocol_errors(raw: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        read_all(raw)
    with pytest.raises(RemoteProtocolError):
        one_byte_at_a_time(raw)


def test_reader_stays_failed() -> None:
    reader = ChunkReader()
    with pytest.raises(RemoteProtocolError):
        reader.receive_data(chunk_header(3, 5, 0))
    with pytest.raises(RemoteProtocolError):
        reader.receive_data(set_chunk_size_bytes(200))


def test_huge_chunk_size_allocates_nothing() -> None:
    # nginx-rtmp #1042: a 0x7FFFFFFF chunk size must not reserve 2 GB.
    reader = ChunkReader(limits=Limits(max_chunk_size=0x7FFFFFFF))
    reader.receive_data(set_chunk_size_bytes(0x7FFFFFFF))
    assert reader.chunk_size == 0x7FFFFFFF
    got = reader.receive_data(chunk_header(0, 4, 0, 5, 8, 1) + b"hello")
    assert got == [Message(4, 8, 0, 1, b"hello")]
    assert reader.buffered_bytes == 0
    with pytest.raises(RemoteProtocolError):
        ChunkReader().receive_data(set_chunk_size_bytes(0x7FFFFFFF))  # over the default limit


def test_limit_on_chunk_streams_in_progress() -> None:
    reader = ChunkReader(limits=Limits(max_chunk_streams=3))
    for csid in (3, 4, 5):
        reader.receive_data(chunk_header(0, csid, 0, 200, 8, 1) + bytes(128))
    with pytest.raises(RemoteProtocolError, match="in progress"):
        reader.receive_data(chunk_header(0, 6, 0, 200, 8, 1) + bytes(128))


def test_limit_on_chunk_stream_ids() -> None:
    reader = ChunkReader(limits=Limits(max_chunk_stream_ids=4))
    for csid in (3, 400, 70, 9):
        reader.receive_data(chunk_header(0, csid, 0, 1, 8, 1) + b"x")
    with pytest.raises(RemoteProtocolError, match="chunk stream ids"):
        reader.receive_data(chunk_header(0, 10, 0, 1, 8, 1) + b"x")


def test_limit_on_buffered_bytes() -> None:
    reader = ChunkReader(limits=Limits(max_buffered_bytes=1000))
    reader.receive_data(set_chunk_size_bytes(4000))
    reader.receive_data(chunk_header(0, 4, 0, 3000, 8, 1) + bytes(900))
    with pytest.raises(RemoteProtocolError, match="buffered"):
        reader.receive_data(bytes(200))


def test_limit_on_message_size_is_checked_before_the_payload_arrives() -> None:
    reader = ChunkReader(limits=Limits(max_message_size=1000))
    with pytest.raises(RemoteProtocolError, match="exceeds"):
        reader.receive_data(chunk_header(0, 4, 0, 1001, 8, 1))


@settings(max_examples=300)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_raise_only_protocol_errors(raw: bytes) -> None:
    for feed in (read_all, one_byte_at_a_time):
        with contextlib.suppress(ProtocolError):
            feed(raw)


@settings(max_examples=200)
@given(messages=message_lists(max_size=6), data=st.data())
def test_corrupted_streams_raise_only_protocol_errors(
    messages: list[Message], data: st.DataObject
) -> None:
    writer = ChunkWriter()
    for m in messages:
        writer.write(*m)
    raw = bytearray(writer.data_to_send())
    assume(raw)
    for _ in range(data.draw(st.integers(1, 5))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    with contextlib.suppress(ProtocolError):
        read_all(bytes(raw), data.draw(st.lists(st.integers(0, len(raw)), max_size=5)))


def test_input_may_be_bytearray_or_memoryview() -> None:
    writer = ChunkWriter()
    writer.write(3, 20, 0, 0, b"x" * 500)
    raw = writer.data_to_send()
    reader = ChunkReader()
    part = bytearray(raw[:100])
    assert reader.receive_data(part) == []
    part += b"more"  # we hold no export of the caller's buffer
    assert reader.receive_data(memoryview(raw)[100:]) == [Message(3, 20, 0, 0, b"x" * 500)]


def test_payloads_are_bytes() -> None:
    writer = ChunkWriter()
    for n in (0, 5, 129, 5000, 40000):
        writer.write(6, 9, n, 1, bytes(n))
    raw = writer.data_to_send()
    for got in (read_all(raw), one_byte_at_a_time(raw), read_all(raw, [50, 3000, 9000])):
        assert [type(m.payload) for m in got] == [bytes] * 5


# ---------------------------------------------------------------------------
# Hostile patterns that made earlier readers quadratic (a CPU denial of service).
# They must finish quickly; the alarm only catches a hang, it measures nothing.


@pytest.fixture
def hang_guard() -> Iterator[None]:
    def expired(signum: int, frame: object) -> None:
        raise AssertionError("the reader took over 60 s: quadratic behaviour")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(60)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_interleaved_one_byte_chunks(hang_guard: None) -> None:
    # Two chunk streams alternate every two 1-byte chunks through two 100 KB messages.
    size = 100_000
    a = reference_chunks(Message(4, 8, 0, 1, bytes(size)), 1)
    b = reference_chunks(Message(6, 9, 0, 1, b"\x01" * size), 1)
    order = []
    for i in range(0, size, 2):
        order += a[i : i + 2] + b[i : i + 2]
    raw = set_chunk_size_bytes(1) + b"".join(order)
    got = read_all(raw, list(range(0, len(raw), 65536)), limits=Limits(max_chunk_size=1 << 20))
    assert [m.payload for m in got[1:]] == [bytes(size), b"\x01" * size]


def test_chunk_steps_count_the_chunks_read_on_their_own() -> None:
    """``chunk_steps``: each chunk read on its own that does not complete a message
    counts, however the bytes are cut; a run of continuation chunks read at once (up
    to 256) counts once."""
    a = reference_chunks(Message(4, 8, 0, 1, bytes(100)), 10)
    b = reference_chunks(Message(5, 8, 0, 1, bytes(100)), 10)
    interleaved = set_chunk_size_bytes(10) + b"".join(x + y for x, y in zip(a, b, strict=True))
    for cuts in (None, list(range(1, len(interleaved)))):
        reader = ChunkReader()
        start = 0
        got = []
        for cut in [*(cuts or []), len(interleaved)]:
            got += reader.receive_data(interleaved[start:cut])
            start = cut
        assert [m.chunk_stream_id for m in got] == [2, 4, 5]
        # 20 chunks, two of which complete a message.
        assert reader.chunk_steps == 18
    whole = b"".join(reference_chunks(Message(4, 9, 0, 1, bytes(100_000)), 128))
    reader = ChunkReader()
    assert len(reader.receive_data(whole)) == 1
    # 782 chunks read in runs of at most 256 (fmt 0 takes the general path).
    assert reader.chunk_steps == 3
    reader = ChunkReader()
    calls = 0
    for i in range(0, len(whole), 4000):
        reader.receive_data(whole[i : i + 4000])
        calls += 1
    # 782 chunks in 26 calls: a step or two a call, not a step a chunk.
    assert 0 < reader.chunk_steps <= 2 * calls


def test_a_large_chunk_trickling_in(hang_guard: None) -> None:
    # An 8 MB message in one 8 MB chunk, arriving 16 bytes at a time: the pending
    # chunk must not be copied again on every call (that was terabytes of copying).
    writer = ChunkWriter()
    writer.write(2, 1, 0, 0, struct.pack(">I", 8 << 20))
    writer.write(6, 9, 0, 1, b"\x04" * (8 << 20))
    raw = writer.data_to_send()
    reader = ChunkReader()
    got: list[Message] = []
    for i in range(0, len(raw), 16):
        got += reader.receive_data(raw[i : i + 16])
    assert [len(m.payload) for m in got] == [4, 8 << 20]


def test_a_large_message_trickling_in(hang_guard: None) -> None:
    # A 200 KB single-chunk message (deferred whole by the fast path) and an 8 MB one
    # in 4096-byte chunks, both arriving a few bytes at a time.
    writer = ChunkWriter()
    writer.write(2, 1, 0, 0, struct.pack(">I", 1 << 20))
    writer.write(6, 9, 0, 1, b"\x02" * 200_000)
    writer.write(2, 1, 0, 0, struct.pack(">I", 4096))
    writer.write(6, 9, 40, 1, b"\x03" * 8_000_000)
    raw = writer.data_to_send()
    reader = ChunkReader()
    got: list[Message] = []
    step = 7
    for i in range(0, 300_000, step):
        got += reader.receive_data(raw[i : min(i + step, 300_000)])
    got += reader.receive_data(raw[300_000:])
    assert [len(m.payload) for m in got if m.type_id == 9] == [200_000, 8_000_000]


def test_interleaved_chunk_inside_a_deferred_message_does_not_stall() -> None:
    # The fast path waits for a message whose bytes are not all there, assuming its
    # continuation chunks follow it directly.  Here another chunk stream's chunk comes
    # between, so that guess is wrong: once the rest arrives, every complete message
    # must come out of that same call (a peer that waits for our answer sends nothing
    # more).
    first = chunk_header(0, 4, 0, 1, 9, 1) + b"\x00"
    c1 = chunk_header(1, 4, 10, 129, 9) + b"\x01" * 128
    other = chunk_header(0, 6, 0, 128, 20, 0) + b"\x02" * 128
    c2 = chunk_header(3, 4, 10) + b"\x03"
    raw = first + c1 + other + c2
    split = len(first + c1) + 1
    reader = ChunkReader()
    got = reader.receive_data(raw[:split])
    assert [m.payload for m in got] == [b"\x00"]
    got = reader.receive_data(raw[split:])
    assert got == [
        Message(6, 20, 0, 0, b"\x02" * 128),
        Message(4, 9, 10, 1, b"\x01" * 128 + b"\x03"),
    ]
    assert reader.buffered_bytes == 0


@pytest.mark.parametrize(
    ("chunk_size", "chunks", "before"), [(128, 10, 4), (600, 3, 1), (600, 70, 30)]
)
@pytest.mark.parametrize("cut", [1, -5])
def test_a_chunk_of_another_stream_inside_a_deferred_message(
    chunk_size: int, chunks: int, before: int, cut: int
) -> None:
    # As above, with the other chunk stream's chunk after ``before`` of the message's
    # ``chunks`` chunks, and the read ending just after that chunk's first byte or
    # just before it: the reader cuts payloads out of few and many, small and big
    # chunks differently, and out of one read or two.
    length = chunk_size * (chunks - 1) + 1
    payload = bytes(i * 7 & 0xFF for i in range(length))
    pieces = [payload[i : i + chunk_size] for i in range(0, length, chunk_size)]
    message = [chunk_header(1, 4, 10, length, 9) + pieces[0]]
    message += [chunk_header(3, 4, 10) + piece for piece in pieces[1:]]
    start = set_chunk_size_bytes(chunk_size) + chunk_header(0, 4, 0, 1, 9, 1) + b"\x00"
    head = start + b"".join(message[:before])
    other = chunk_header(0, 6, 0, 5, 20, 0) + b"\x02" * 5
    raw = head + other + b"".join(message[before:])
    reader = ChunkReader()
    got = reader.receive_data(raw[: len(head) + cut])
    assert [m.payload for m in got] == [struct.pack(">I", chunk_size), b"\x00"]
    got = reader.receive_data(raw[len(head) + cut :])
    assert got == [Message(6, 20, 0, 0, b"\x02" * 5), Message(4, 9, 10, 1, payload)]
    assert reader.buffered_bytes == 0


@pytest.mark.parametrize("chunk_size", [1, 7, 128, 512, 1000])
def test_every_split_point_of_compressed_headers(chunk_size: int) -> None:
    # Messages that the fast path takes (fmt 1, 2 and 3 headers, one and several
    # chunks), cut in two at every byte and in three at every pair of nearby bytes: a
    # message straddling two calls is put together from both, whatever the split.
    # (Small chunks and many of them are cut out differently from big ones.)
    writer = ChunkWriter()
    stream = [set_chunk_size(chunk_size)]
    sizes = [5, 300, 300, 40, 129, 128, 0, 300, 1000]
    if chunk_size >= 128:
        sizes += [5000, 1000, 9000]
    for i, size in enumerate(sizes):
        csid = 4 if i % 3 else 6
        stream.append(Message(csid, 9, 10 * i, 1, bytes((i + j) & 0xFF for j in range(size))))
    stream.append(set_chunk_size(chunk_size + 3))
    stream.append(Message(4, 9, 100, 1, b"\x07" * 700))
    stream.append(Message(4, 9, 110, 1, b"\x08" * 700))
    for m in stream:
        writer.write(*m)
    raw = writer.data_to_send()
    assert read_all(raw) == stream
    for cut in range(len(raw)):
        assert read_all(raw, [cut]) == stream, cut
    for cut in range(0, len(raw), 97):
        for second in range(cut, min(cut + 300, len(raw))):
            assert read_all(raw, [cut, second]) == stream, (cut, second)


def test_message_sizes_do_not_grow_the_reader() -> None:
    # Every message size at chunk size 512 needs its own way of cutting the payload
    # out; a peer that sends all sizes must not make the reader keep one per size.
    writer = ChunkWriter()
    writer.write(2, 1, 0, 0, struct.pack(">I", 512))
    sizes = range(1, 256 * 1024, 509)
    for size in sizes:
        writer.write(6, 9, 0, 1, bytes(size))
    reader = ChunkReader()
    got = reader.receive_data(writer.data_to_send())
    assert [len(m.payload) for m in got[1:]] == list(sizes)
    assert len(reader._cutters) <= 64
