"""Throughput of the chunk stream reader and writer, and of AMF0 connect commands.

    python bench/core.py [--seconds S] [--megabytes M] [--read-size BYTES]

The stream is what a live encoder sends: interleaved audio messages of 200-400 bytes
and video messages of 2-40 KB (about 4 audio messages for every 3 video messages), fed
to the reader in 64 KiB reads (``--read-size`` changes that), at chunk sizes 128, 4096
and 65536.

The reference is a plain memory copy of the same bytes, measured in the same run on the
same reads: each read is appended to a buffer and the buffer is copied out as
``bytes`` (the two copies any reader makes: buffering input, handing out payloads).
Reported ratios are reader (or writer) throughput divided by that copy's throughput.

A second reference, the *floor*, bounds what any pure-Python reader can do here: a loop
that does only the work every reader must do per message (unpack the header, cut the
payload out between the continuation headers, make the ``Message``), with the same
techniques as ``ChunkReader`` and nothing else: no validation, no limits, no Abort or
Set Chunk Size, no interleaving, no extended timestamps.  It reads this stream and
nothing more, and is checked to return exactly what ``ChunkReader`` returns.
"""

from __future__ import annotations

import argparse
import functools
import operator
import random
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trio_rtmp.core import amf0
from trio_rtmp.core.chunks import ChunkReader, ChunkWriter, Message

READ_SIZE = 64 * 1024
CHUNK_SIZES = (128, 4096, 65536)
ROUNDS = 4


def make_messages(total_bytes: int, seed: int = 1) -> list[Message]:
    rng = random.Random(seed)
    messages = []
    size = 0
    audio_ts = video_ts = 0
    while size < total_bytes:
        if rng.random() < 4 / 7:
            audio_ts += 23
            payload = rng.randbytes(rng.randint(200, 400))
            messages.append(Message(4, 8, audio_ts, 1, payload))
        else:
            video_ts += 33
            payload = rng.randbytes(rng.randint(2000, 40000))
            messages.append(Message(6, 9, video_ts, 1, payload))
        size += len(payload)
    return messages


def write_stream(messages: list[Message], chunk_size: int) -> bytes:
    """The chunked stream, starting with the Set Chunk Size that announces the size."""
    writer = ChunkWriter()
    writer.write(2, 1, 0, 0, chunk_size.to_bytes(4, "big"))
    for m in messages:
        writer.write(m.chunk_stream_id, m.type_id, m.timestamp, m.message_stream_id, m.payload)
    return writer.data_to_send()


_TWO_U32 = struct.Struct(">II")
_U32 = struct.Struct(">I")


class _FloorStream:
    __slots__ = ("delta", "length", "message_stream_id", "timestamp", "type_id")

    def __init__(self) -> None:
        self.timestamp = self.delta = self.length = self.type_id = self.message_stream_id = 0


class FloorReader:
    """The least a pure-Python chunk reader does per message (see the module doc)."""

    def __init__(self, chunk_size: int) -> None:
        self.chunk_size = chunk_size
        # The bench's chunk streams all have one-byte basic headers (ids below 64).
        self.streams = [_FloorStream() for _ in range(64)]
        self.cutters: dict[int, Callable[[memoryview], tuple[memoryview, ...]]] = {}
        self.leftover = memoryview(b"")
        # The message the end of the previous read cut off: its first byte, header
        # size and chunk stream, and the bytes still missing.
        self.pending: tuple[int, int, _FloorStream, int] | None = None

    def cut(self, view: memoryview, length: int) -> bytes:
        """The payload of a message of ``length`` bytes in the chunks of ``view``.

        As ChunkReader does it: joined from slices between the continuation headers
        when there are few of them, else copied once and the headers deleted in C.
        """
        size = self.chunk_size
        count = (length - 1) // size
        cutter = self.cutters.get(count)
        if cutter is None:
            if count < 8 or (size >= 512 and count <= 64):
                stride = size + 1
                pieces = [slice(i * stride, i * stride + size) for i in range(count + 1)]
                cutter = self.cutters[count] = operator.itemgetter(*pieces)
            else:
                cutter = self.cutters[count] = self.delete_headers
        return b"".join(cutter(view))

    def delete_headers(self, view: memoryview) -> tuple[bytes]:
        run = bytearray(view)
        del run[self.chunk_size :: self.chunk_size + 1]
        return (bytes(run),)

    def receive_data(self, buf: bytes) -> list[Message]:
        out: list[Message] = []
        append = out.append
        new = tuple.__new__
        size = self.chunk_size
        streams = self.streams
        end = len(buf)
        view = memoryview(buf)
        pos = 0
        if self.pending is not None:
            b0, header_size, st, pos = self.pending
            self.pending = None
            if pos > end:
                # Reads shorter than a message would make it read headers out of
                # payload bytes (and cut "messages" of any length): refuse them.
                raise ValueError("the floor reads only messages that end in the next read")
            payload = b"".join((self.leftover[header_size:], view[:pos]))
            if st.length > size:
                payload = self.cut(memoryview(payload), st.length)
            st.timestamp = (st.timestamp + st.delta) & 0xFFFFFFFF
            append(
                new(Message, (b0 & 0x3F, st.type_id, st.timestamp, st.message_stream_id, payload))
            )
        elif self.leftover:
            # A header cut in two (rare): read on over the joined bytes.
            buf = b"".join((self.leftover, buf))
            end = len(buf)
            view = memoryview(buf)
        while pos < end:
            b0 = buf[pos]
            st = streams[b0 & 0x3F]
            if b0 < 0x80:
                if pos + (12 if b0 < 0x40 else 8) > end:
                    break
                first, second = _TWO_U32.unpack_from(buf, pos)
                st.delta = first & 0xFFFFFF
                st.length = length = second >> 8
                st.type_id = second & 0xFF
                if b0 < 0x40:
                    st.timestamp = 0
                    st.message_stream_id = int.from_bytes(buf[pos + 8 : pos + 12], "little")
                    p = pos + 12
                else:
                    p = pos + 8
            elif b0 < 0xC0:
                if pos + 4 > end:
                    break
                st.delta = _U32.unpack_from(buf, pos)[0] & 0xFFFFFF
                length = st.length
                p = pos + 4
            else:
                length = st.length
                p = pos + 1
            stop = p + length + (length - 1) // size
            if stop > end:
                self.pending = (b0, p - pos, st, stop - end)
                break
            st.timestamp = timestamp = (st.timestamp + st.delta) & 0xFFFFFFFF
            payload = buf[p:stop] if length <= size else self.cut(view[p:stop], length)
            append(new(Message, (b0 & 0x3F, st.type_id, timestamp, st.message_stream_id, payload)))
            pos = stop
        self.leftover = view[pos:]
        return out


def reading(
    new_reader: Callable[[], ChunkReader | FloorReader], reads: list[bytes], expected: int
) -> Callable[[], None]:
    """A run of a new reader over ``reads``, checked to give ``expected`` messages."""

    def read() -> None:
        reader = new_reader()
        count = 0
        for data in reads:
            count += len(reader.receive_data(data))
        assert count == expected

    return read


def check_floor(reads: list[bytes], chunk_size: int) -> None:
    """The floor returns exactly what ChunkReader returns, however the reads fall."""
    reader, floor = ChunkReader(), FloorReader(chunk_size)
    for data in reads:
        assert floor.receive_data(data) == reader.receive_data(data)


def best_of(seconds: float, run: Callable[[], object]) -> float:
    """Smallest time of one call of ``run`` over about ``seconds`` of repetitions."""
    best = float("inf")
    deadline = time.perf_counter() + seconds
    while True:
        start = time.perf_counter()
        run()
        elapsed = time.perf_counter() - start
        best = min(best, elapsed)
        if time.perf_counter() > deadline:
            return best


def bench_chunks(
    messages: list[Message], seconds: float, read_size: int = READ_SIZE
) -> dict[int, tuple[float, float]]:
    results = {}
    payload_bytes = sum(len(m.payload) for m in messages)
    for chunk_size in CHUNK_SIZES:
        stream = write_stream(messages, chunk_size)
        reads = [stream[i : i + read_size] for i in range(0, len(stream), read_size)]

        def copy(reads: list[bytes] = reads) -> None:
            buffer = bytearray()
            for read in reads:
                buffer += read
                bytes(buffer)
                buffer.clear()

        read = reading(ChunkReader, reads, len(messages) + 1)
        floor = reading(functools.partial(FloorReader, chunk_size), reads, len(messages) + 1)

        def write(chunk_size: int = chunk_size) -> None:
            writer = ChunkWriter(chunk_size=chunk_size)
            w = writer.write
            for m in messages:
                w(m.chunk_stream_id, m.type_id, m.timestamp, m.message_stream_id, m.payload)
                if writer.buffered >= read_size:
                    writer.data_to_send()
            writer.data_to_send()

        # In alternating rounds, so that the machine's ups and downs over the run
        # (the copy is memory-bound, on caches shared with other tenants) reach the
        # reference and the reader alike; the best time of each counts.
        check_floor(reads, chunk_size)
        t_copy = t_read = t_floor = t_write = float("inf")
        for _ in range(ROUNDS):
            t_copy = min(t_copy, best_of(seconds / ROUNDS, copy))
            t_read = min(t_read, best_of(seconds / ROUNDS, read))
            t_floor = min(t_floor, best_of(seconds / ROUNDS, floor))
            t_write = min(t_write, best_of(seconds / ROUNDS, write))
        mb = len(stream) / 1e6
        print(
            f"chunk size {chunk_size:>5}: copy {mb / t_copy:8.0f} MB/s | "
            f"reader {mb / t_read:7.0f} MB/s = {t_copy / t_read:6.1%} of copy | "
            f"writer {mb / t_write:7.0f} MB/s = {t_copy / t_write:6.1%} of copy"
            f"   ({len(messages)} messages, {payload_bytes / 1e6:.1f} MB payload)"
        )
        print(
            f"{'':>17} floor {mb / t_floor:7.0f} MB/s = {t_copy / t_floor:6.1%} of copy "
            f"(reader at {t_floor / t_read:.0%} of the floor's rate)"
        )
        results[chunk_size] = (t_copy / t_read, t_copy / t_write)
    return results


def bench_amf0(seconds: float) -> None:
    command = (
        "connect",
        1.0,
        {
            "app": "live",
            "flashVer": "FMLE/3.0 (compatible; FMSc/1.0)",
            "swfUrl": "rtmp://127.0.0.1:1935/live",
            "tcUrl": "rtmp://127.0.0.1:1935/live",
            "fpad": False,
            "capabilities": 15.0,
            "audioCodecs": 4071.0,
            "videoCodecs": 252.0,
            "videoFunction": 1.0,
            "objectEncoding": 0.0,
            "fourCcList": ["av01", "vp09", "hvc1"],
        },
    )
    data = amf0.encode(*command)
    n = 2000

    def decode() -> None:
        for _ in range(n):
            amf0.decode(data)

    def encode() -> None:
        for _ in range(n):
            amf0.encode(*command)

    t_dec = best_of(seconds, decode) / n
    t_enc = best_of(seconds, encode) / n
    print(
        f"AMF0 connect command ({len(data)} bytes): decode {1 / t_dec:9.0f}/s "
        f"({len(data) / t_dec / 1e6:5.1f} MB/s), encode {1 / t_enc:9.0f}/s "
        f"({len(data) / t_enc / 1e6:5.1f} MB/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    parser.add_argument("--megabytes", type=float, default=16.0, help="payload per stream")
    parser.add_argument(
        "--read-size",
        type=int,
        default=READ_SIZE,
        help=f"bytes per read fed to the readers (at least {READ_SIZE}, the default)",
    )
    options = parser.parse_args()
    if options.read_size < READ_SIZE:
        parser.error(f"--read-size must be at least {READ_SIZE}: the floor reads whole messages")
    messages = make_messages(int(options.megabytes * 1e6))
    bench_chunks(messages, options.seconds, options.read_size)
    bench_amf0(options.seconds)


if __name__ == "__main__":
    main()
