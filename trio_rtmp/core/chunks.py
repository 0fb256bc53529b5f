"""The RTMP chunk stream: splitting messages into chunks and reassembling them.

RTMP multiplexes *messages* (a type, a timestamp, a message stream id and a payload)
over *chunk streams*.  Every chunk starts with a basic header (the header form ``fmt``
0..3 and the chunk stream id, in 1, 2 or 3 bytes), then a message header whose size
depends on ``fmt`` (11, 7, 3 or 0 bytes), then an optional extended timestamp, then up
to ``chunk_size`` bytes of payload.  Headers are compressed against the previous
header of the same chunk stream.

:class:`ChunkReader` turns bytes into :class:`Message` values, :class:`ChunkWriter`
turns messages into bytes.  Both are sans-IO.  Set Chunk Size and Abort act on the chunk
layer itself, so each side applies them as the message passes: the reader applies a
received Set Chunk Size to what it reads next (never to what we write), the writer
applies a written one to what it writes next.

Speed matters here (every byte of every stream passes through), so the reader reads a
whole run of continuation chunks of one message at once: it checks the run's headers
with strided slice operations and joins the payload slices in one go, instead of
walking chunk by chunk in Python.  Interleaved or unusual streams take the general
chunk-at-a-time path, which handles everything.
"""

from __future__ import annotations

import functools
import operator
import struct
from collections.abc import Callable
from typing import NamedTuple

from .config import DEFAULT_LIMITS, Limits
from .errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "MAX_CHUNK_SIZE",
    "MAX_CHUNK_STREAM_ID",
    "MIN_CHUNK_STREAM_ID",
    "ChunkReader",
    "ChunkWriter",
    "Message",
    "encode_message",
]

#: The chunk size both directions start with.
DEFAULT_CHUNK_SIZE = 128
#: The largest chunk size the protocol can express (31 bits).
MAX_CHUNK_SIZE = 0x7FFFFFFF
#: Chunk stream ids 0 and 1 select the longer basic headers; 2 is protocol control.
MIN_CHUNK_STREAM_ID = 2
MAX_CHUNK_STREAM_ID = 65599
#: Largest payload a message header can declare (24 bits).
MAX_MESSAGE_LENGTH = 0xFFFFFF

_EXTENDED = 0xFFFFFF
_TYPE_SET_CHUNK_SIZE = 1
_TYPE_ABORT = 2

_U32 = struct.Struct(">I")
_TWO_U32 = struct.Struct(">II")
_U32_LE = struct.Struct("<I")
# Timestamp (24 bits) and the top byte of the length in one big-endian word, then the
# rest of the length and the type; fmt 0 adds the little-endian message stream id.
_FMT1 = struct.Struct(">IHB")
_unpack_u32 = _U32.unpack_from
_unpack_two = _TWO_U32.unpack_from
_unpack_u32_le = _U32_LE.unpack_from


class Message(NamedTuple):
    """One RTMP message as the chunk stream carries it, before interpretation.

    A plain tuple on purpose: the chunk reader makes one per message on the hot path.
    ``timestamp`` is the absolute 32-bit timestamp in milliseconds (it wraps).
    """

    #: The chunk stream it travelled on (2..65599).
    chunk_stream_id: int
    #: Message type id (1 Set Chunk Size ... 8 audio, 9 video, 20 command ...).
    type_id: int
    #: Absolute timestamp, 32-bit milliseconds.
    timestamp: int
    #: The message stream (0 is the control stream / NetConnection).
    message_stream_id: int
    #: The message body.
    payload: bytes


class _ReadStream:
    """What the reader remembers about one chunk stream."""

    __slots__ = (
        "delta",
        "ext_bytes",
        "extended",
        "header",
        "length",
        "message_stream_id",
        "pieces",
        "remaining",
        "settled",
        "timestamp",
        "type_id",
    )

    def __init__(self, header: bytes) -> None:
        self.timestamp = 0
        self.delta = 0
        self.length = 0
        self.type_id = 0
        self.message_stream_id = 0
        # Whether the latest header used the extended timestamp field, and the four
        # bytes it held (continuation chunks may repeat them).
        self.extended = False
        self.ext_bytes = b""
        # The basic header of a fmt 3 chunk on this chunk stream.
        self.header = header
        # The message being reassembled: its pieces (views into the current input
        # while a receive_data call runs, bytes between calls) and what is missing.
        self.pieces: list[bytes | bytearray | memoryview] = []
        # How many leading pieces are bytes from earlier receive_data calls.
        self.settled = 0
        self.remaining = 0


def _basic_header(fmt: int, chunk_stream_id: int) -> bytes:
    if chunk_stream_id < 64:
        return bytes(((fmt << 6) | chunk_stream_id,))
    if chunk_stream_id < 320:
        return bytes((fmt << 6, chunk_stream_id - 64))
    rest = chunk_stream_id - 64
    return bytes(((fmt << 6) | 1, rest & 0xFF, rest >> 8))


# The longest chunk header: 3-byte basic header, 11-byte fmt 0 header, 4-byte
# extended timestamp.
_MAX_HEADER = 18

_tuple_new = tuple.__new__

# Messages of fewer continuation chunks than this, or in chunks of at least
# _JOIN_CHUNK_SIZE (up to _CUT_LIMIT of them), are joined from slices of the input (a
# slice costs about as much as copying 600 bytes); others are copied once and have
# their headers cut out by a strided delete, which costs two more copies but no Python
# work per chunk.
_JOIN_LIMIT = 8
# Most continuation chunks one bulk step reads (and checks) at once.
_RUN_WINDOW = 256
_JOIN_CHUNK_SIZE = 512
# The most continuation chunks a message may have to be joined from slices (bounds the
# payload cutters a reader keeps: a peer choosing message sizes cannot grow them).
_CUT_LIMIT = 64
# A message up to this size that has only partly arrived is left unread until all of
# it is there, then read by the fast path.  Bigger ones are reassembled as they come,
# so that their bytes are not copied again on every call.
_DEFER_LIMIT = 256 * 1024


@functools.lru_cache(maxsize=256)
def _payload_cutter(chunk_size: int, count: int) -> Callable[[memoryview], tuple[memoryview]]:
    """Cut a message in ``count`` continuation chunks into its payload pieces.

    The callable takes a view from the first payload byte to the message end and
    returns the payload slices between the one-byte continuation headers (the last
    slice may reach past the end, which the view cuts off).  One C call per message.
    """
    stride = chunk_size + 1
    return operator.itemgetter(
        *(slice(i * stride, i * stride + chunk_size) for i in range(count + 1))
    )


def _fast_message(
    st: _ReadStream, b0: int, length: int, type_id: int, delta: int, payload: bytes
) -> Message:
    """Commit a fast-path header (first byte ``b0``) to its chunk stream: the message."""
    if b0 < 0x80:
        st.length = length
        st.type_id = type_id
        st.delta = delta
    elif b0 < 0xC0:
        st.delta = delta
    st.timestamp = timestamp = (st.timestamp + delta) & 0xFFFFFFFF
    return _tuple_new(Message, (b0 & 0x3F, type_id, timestamp, st.message_stream_id, payload))


def _cut_max(chunk_size: int) -> int:
    """The most continuation chunks a message is joined from slices with."""
    return _CUT_LIMIT if chunk_size >= _JOIN_CHUNK_SIZE else _JOIN_LIMIT - 1


class _Cutters(dict[int, Callable[[memoryview], tuple[memoryview]]]):
    """The payload cutters for one chunk size, by count of continuation chunks."""

    def __init__(self, chunk_size: int) -> None:
        super().__init__()
        self.chunk_size = chunk_size

    def __missing__(self, count: int) -> Callable[[memoryview], tuple[memoryview]]:
        cut = self[count] = _payload_cutter(self.chunk_size, count)
        return cut


class ChunkReader:
    """Reassembles RTMP messages from the bytes of a chunk stream.

    Feed it bytes with :meth:`receive_data`, in any split; it returns every message
    those bytes completed, in order.  It applies a received Set Chunk Size to the chunks
    that follow it and discards a partial message when an Abort names its chunk
    stream; both messages are still returned so the layer above sees them.

    Every violation, and every limit exceeded, raises
    :class:`~trio_rtmp.core.errors.RemoteProtocolError`; after that the reader refuses
    further input.

    Each payload byte is copied once, from the input into the message's ``bytes``
    (twice if the message straddles two calls).  Passing ``bytes`` avoids one more copy.
    """

    def __init__(self, *, limits: Limits = DEFAULT_LIMITS) -> None:
        self._limits = limits
        # An incomplete chunk left over from the previous call (always starts at a
        # chunk boundary).
        self._leftover = memoryview(b"")
        # Bytes still missing from the chunk or whole message (see ``_DEFER_LIMIT``)
        # left in ``_leftover``, and the input collected for it since.
        self._missing = 0
        # The fast path's message that ``_leftover`` starts with, when it deferred one
        # (see ``_stitch``): its stream, first byte, header size, length, type, delta.
        self._deferred: tuple[_ReadStream, int, int, int, int, int] | None = None
        self._extra: list[bytes] = []
        self._extra_size = 0
        self._streams: dict[int, _ReadStream] = {}
        # The chunk streams with a one-byte basic header, indexed by that byte, for
        # the fast path: a stream is there (under fmt 1, 2 and 3) only while it is
        # idle, with no message in progress and no extended timestamp, so the fast
        # path needs no checks of its own.  The general path keeps this up to date;
        # fmt 0 entries stay None (fmt 0 always takes the general path).
        self._fast: list[_ReadStream | None] = [None] * 256
        self._use_chunk_size(DEFAULT_CHUNK_SIZE)
        # Chunk streams with a message in progress, and the bytes those hold.
        self._in_progress: set[_ReadStream] = set()
        self._partial_bytes = 0
        self._chunk_steps = 0
        self._failed: RemoteProtocolError | None = None

    @property
    def chunk_size(self) -> int:
        """The peer's current chunk size (what we read with)."""
        return self._chunk_size

    @property
    def chunk_steps(self) -> int:
        """Chunks read so far that did not complete a message, as steps of work.

        Each such chunk read on its own counts one, and so does each run of a
        message's continuation chunks read at once.  With the messages read, this is
        what reading a peer's input costs in Python work: a peer interleaving tiny
        chunks of big messages makes many steps and few messages.
        """
        return self._chunk_steps

    @property
    def buffered_bytes(self) -> int:
        """Bytes held: unparsed input plus partly reassembled messages."""
        return len(self._leftover) + self._extra_size + self._partial_bytes

    def set_chunk_size(self, chunk_size: int) -> None:
        """Read with ``chunk_size`` from now on.

        Normally not needed: a Set Chunk Size message passing through the reader is
        applied automatically.
        """
        self._use_chunk_size(self._check_chunk_size(chunk_size))
        self._deferred = None

    def _use_chunk_size(self, chunk_size: int) -> None:
        self._chunk_size = chunk_size
        # Payload cutters by count of continuation chunks, for this chunk size.
        self._cutters = _Cutters(chunk_size)
        # What the parser reads with, in one tuple: the chunk size, the largest
        # message in one chunk, the distance between continuation headers, the
        # most continuation chunks cut out as slices, and the cutters.
        self._geometry = (
            chunk_size,
            min(chunk_size, self._limits.max_message_size),
            chunk_size + 1,
            _cut_max(chunk_size),
            self._cutters,
        )

    def _check_chunk_size(self, chunk_size: int) -> int:
        if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
            raise RemoteProtocolError(f"illegal chunk size {chunk_size:#x}")
        if chunk_size > self._limits.max_chunk_size:
            raise RemoteProtocolError(
                f"chunk size {chunk_size} exceeds the limit of {self._limits.max_chunk_size}"
            )
        return chunk_size

    def _fail(self, message: str) -> RemoteProtocolError:
        self._failed = RemoteProtocolError(message)
        return self._failed

    def receive_data(self, data: bytes | bytearray | memoryview) -> list[Message]:
        """Add ``data`` and return the messages it completed (possibly none)."""
        if self._failed is not None:
            raise RemoteProtocolError(f"the chunk stream already failed: {self._failed}")
        if type(data) is not bytes:
            data = bytes(data)
        messages: list[Message] = []
        try:
            leftover = self._leftover
            start = 0
            if leftover:
                missing = self._missing
                if missing and len(data) < missing:
                    # Still not enough for the pending chunk or deferred message:
                    # collect, without copying the leftover again (a peer trickling
                    # bytes must not make this quadratic).
                    self._extra.append(data)
                    self._extra_size += len(data)
                    self._missing = missing - len(data)
                    self._check_buffered(len(leftover) + self._extra_size)
                    return messages
                if missing and self._stitch(leftover, data, missing, messages):
                    start = missing
                else:
                    start = self._join_leftover(leftover, data, missing, messages)
                    if start < 0:
                        return messages
            self._missing = 0
            self._parse(data, start, messages)
        except RemoteProtocolError as exc:
            self._failed = exc
            raise
        finally:
            # Partial messages may hold views of this call's input: make the pieces of
            # this call one bytes object (earlier calls' pieces are bytes already, and
            # are not copied again).
            for st in self._in_progress:
                pieces = st.pieces
                settled = st.settled
                if len(pieces) > settled + 1 or type(pieces[-1]) is not bytes:
                    pieces[settled:] = [b"".join(pieces[settled:])]
                st.settled = len(pieces)
        return messages

    def _stitch(self, leftover: memoryview, data: bytes, missing: int, out: list[Message]) -> bool:
        """Complete the message the fast path deferred, from the leftover and ``data``.

        The message is in one piece once the two are joined, so this cuts it out
        directly rather than parsing the joined bytes again (a message straddling two
        reads is common: about one in every read of a live stream).  Returns whether
        it did; if not (no such message, input collected in between, or a
        continuation header that is not the message's), the general way takes over.
        """
        deferred = self._deferred
        if deferred is None or self._extra:
            return False
        st, b0, header_size, length, type_id, delta = deferred
        payload = b"".join((leftover[header_size:], memoryview(data)[:missing]))
        chunk_size, _, stride, cut_max, cutters = self._geometry
        if length > chunk_size:
            # Cut the continuation headers out, as the fast path does.
            count = (length - 1) // chunk_size
            if payload[chunk_size::stride] != st.header * count:
                return False
            if count <= cut_max:
                payload = b"".join(cutters[count](memoryview(payload)))
            else:
                run = bytearray(payload)
                del run[chunk_size::stride]
                payload = bytes(run)
        out.append(_fast_message(st, b0, length, type_id, delta, payload))
        self._deferred = None
        return True

    def _join_leftover(
        self, leftover: memoryview, data: bytes, missing: int, out: list[Message]
    ) -> int:
        """Read on over the end of the leftover into ``data`` by joining the two.

        Returns where in ``data`` reading goes on, or -1 if it is all read (what is
        left is kept).
        """
        # Finish the pending chunk (or deferred message) from a head of ``data``
        # instead of copying all of ``data`` behind the leftover.  The head is enough
        # for what was missing plus one more full chunk.
        if missing:
            head = missing
            self._missing = 0
        else:
            head = max(_MAX_HEADER + self._chunk_size - len(leftover), 64)
        extra = self._extra
        joined = b"".join((leftover, *extra, memoryview(data)[:head]))
        if extra:
            leftover = memoryview(joined)[: len(leftover) + self._extra_size]
            extra.clear()
            self._extra_size = 0
        consumed = self._parse(joined, 0, out)
        if consumed < len(leftover):
            # Stopped inside the leftover: ``data`` was shorter than the head, or the
            # head was too short (a chunk of another chunk stream came in the middle
            # of a deferred message).  Go on over all of it: complete chunks must not
            # wait for more input.
            if len(data) > head:
                joined += data[head:]
                self._missing = 0
                self._parse(joined, consumed, out)
            return -1
        return consumed - len(leftover)

    def _check_buffered(self, unparsed: int) -> None:
        if unparsed + self._partial_bytes > self._limits.max_buffered_bytes:
            raise self._fail(
                f"more than {self._limits.max_buffered_bytes} bytes buffered by the chunk reader"
            )

    # The parser is one long function on purpose: attribute lookups and calls per
    # chunk are what make a Python chunk reader slow.
    def _parse(self, buf: bytes, pos: int, out: list[Message]) -> int:
        """Read every complete chunk of ``buf`` from ``pos``; returns where it stopped.

        What it leaves unread becomes the leftover: a view, not a copy (it keeps
        ``buf`` alive until the next call).
        """
        self._deferred = None
        streams = self._streams
        fast = self._fast
        limits = self._limits
        max_size = limits.max_message_size
        in_progress = self._in_progress
        chunk_size, small, stride, cut_max, cutters = self._geometry
        end = len(buf)
        view = memoryview(buf)
        append = out.append
        new = _tuple_new
        message_type = Message
        while pos < end:
            b0 = buf[pos]
            # ---- the fast path: a new message with a fmt 1, 2 or 3 header on an idle
            # chunk stream with a one-byte basic header and no extended timestamp (the
            # only ones in ``fast``), not a Set Chunk Size or Abort, all of it in the
            # buffer: what a live stream is made of.  Anything else falls through to
            # the general path below, which starts over at ``pos``.
            st = fast[b0]
            if st is not None:
                if b0 < 0x80:
                    # fmt 1, the commonest header (media sizes vary), and a message in
                    # one chunk: the shortest way through.
                    try:
                        delta, length = _unpack_two(buf, pos)
                    except struct.error:
                        break
                    type_id = length & 0xFF
                    length >>= 8
                    delta &= 0xFFFFFF
                    p = pos + 8
                    stop = p + length
                    if length <= small and type_id > 2 and delta != _EXTENDED and stop <= end:
                        st.length = length
                        st.type_id = type_id
                        st.delta = delta
                        st.timestamp = timestamp = (st.timestamp + delta) & 0xFFFFFFFF
                        append(
                            new(
                                message_type,
                                (b0 & 0x3F, type_id, timestamp, st.message_stream_id, buf[p:stop]),
                            )
                        )
                        pos = stop
                        continue
                elif b0 < 0xC0:
                    p = pos + 4
                    if p > end:
                        break
                    delta = _unpack_u32(buf, pos)[0] & 0xFFFFFF
                    length = st.length
                    type_id = st.type_id
                else:
                    p = pos + 1
                    delta = st.delta
                    length = st.length
                    type_id = st.type_id
                if type_id > 2 and delta != _EXTENDED and length <= max_size:
                    # Beyond one chunk, the message comes in fmt 3 continuation chunks.
                    count = (length - 1) // chunk_size if length > chunk_size else 0
                    stop = p + length + count
                    payload: bytes | None
                    if stop > end:
                        if count and length > _DEFER_LIMIT:
                            payload = None
                        else:
                            # Not all here yet: wait for the rest and take it whole
                            # then (see ``_stitch``), rather than piece by piece now.
                            self._missing = stop - end
                            self._deferred = (st, b0, p - pos, length, type_id, delta)
                            break
                    elif not count:
                        payload = buf[p:stop]
                    elif buf[p + chunk_size : stop : stride] != st.header * count:
                        # Check every continuation header at once with one strided
                        # slice; anything else is for the general path.
                        payload = None
                    elif count <= cut_max:
                        payload = b"".join(cutters[count](view[p:stop]))
                    else:
                        run = bytearray(view[p:stop])
                        del run[chunk_size::stride]
                        payload = bytes(run)
                    if payload is not None:
                        append(_fast_message(st, b0, length, type_id, delta, payload))
                        pos = stop
                        continue

            # ---- the general path: basic header
            fmt = b0 >> 6
            csid = b0 & 0x3F
            p = pos + 1
            if csid < 2:
                if csid == 0:
                    if p >= end:
                        break
                    csid = buf[p] + 64
                    p += 1
                else:
                    if p + 1 >= end:
                        break
                    csid = buf[p] + (buf[p + 1] << 8) + 64
                    p += 2
            st = streams.get(csid)

            # ---- message header, into locals: nothing is committed until the whole
            # chunk is in the buffer.
            if fmt == 0:
                if p + 11 > end:
                    break
                first, second = _unpack_two(buf, p - 1)
                ts_field = first & 0xFFFFFF
                length = second >> 8
                type_id = second & 0xFF
                msid = _unpack_u32_le(buf, p + 7)[0]
                p += 11
            elif fmt == 1:
                if p + 7 > end:
                    break
                first, second = _unpack_two(buf, p - 1)
                ts_field = first & 0xFFFFFF
                length = second >> 8
                type_id = second & 0xFF
                if st is None:
                    # librtmp sends protocol control messages on a fresh chunk
                    # stream with fmt 1; the missing stream id is 0 for those anyway.
                    if type_id > 6:
                        raise self._fail(
                            f"chunk stream {csid} starts with a fmt 1 header "
                            f"(message type {type_id})"
                        )
                    msid = 0
                else:
                    msid = st.message_stream_id
                p += 7
            elif st is None:
                raise self._fail(f"chunk stream {csid} starts with a fmt {fmt} header")
            elif fmt == 2:
                if p + 3 > end:
                    break
                ts_field = _unpack_u32(buf, p - 1)[0] & 0xFFFFFF
                length = st.length
                type_id = st.type_id
                msid = st.message_stream_id
                p += 3
            else:
                ts_field = -1
                length = st.length
                type_id = st.type_id
                msid = st.message_stream_id

            # ---- extended timestamp
            extended = False
            if ts_field == _EXTENDED:
                if p + 4 > end:
                    break
                ts_value = _unpack_u32(buf, p)[0]
                extended = True
                p += 4
            elif ts_field < 0:
                ts_value = 0
                # fmt 3 repeats the field only if the header it continues had one, and
                # old librtmp (and others) leave it out: peek and compare.
                if st is not None and st.extended:
                    if p + 4 > end:
                        # Too few bytes to compare: wait, unless what is there
                        # already differs from the field (a short last chunk).
                        if st.ext_bytes.startswith(buf[p:end]):
                            break
                    elif buf[p : p + 4] == st.ext_bytes:
                        p += 4
            else:
                ts_value = ts_field

            # ---- payload of this chunk
            if st is not None and st.remaining:
                # A continuation of the message in progress.
                if fmt < 2 and length != st.length:
                    raise self._fail(
                        f"message length changed from {st.length} to {length} in the "
                        f"middle of a message on chunk stream {csid}"
                    )
                remaining = st.remaining
                n = remaining if remaining < chunk_size else chunk_size
                if p + n > end:
                    self._missing = p + n - end
                    break
                pos = p + n
                st.pieces.append(view[p:pos])
                st.remaining = remaining = remaining - n
                self._partial_bytes += n
                if remaining:
                    pos = self._run(st, buf, view, pos, end, chunk_size)
                    if st.remaining:
                        self._chunk_steps += 1
                        continue
                # The message is what its first chunk said; a header of another form
                # in the middle of it must agree on the length, and is otherwise
                # ignored (its type too: Set Chunk Size and Abort are applied by the
                # type the message has).
                type_id = st.type_id
                message = new(
                    message_type,
                    (csid, type_id, st.timestamp, st.message_stream_id, b"".join(st.pieces)),
                )
                st.pieces = []
                st.settled = 0
                self._partial_bytes -= st.length
                in_progress.discard(st)
            else:
                # The first chunk of a new message.
                if fmt < 2 and length > limits.max_message_size:
                    raise self._fail(
                        f"message of {length} bytes exceeds the limit of {limits.max_message_size}"
                    )
                n = length if length < chunk_size else chunk_size
                if p + n > end:
                    self._missing = p + n - end
                    break
                # Commit the header.
                if st is None:
                    if len(streams) >= limits.max_chunk_stream_ids:
                        raise self._fail(
                            f"more than {limits.max_chunk_stream_ids} chunk stream ids used"
                        )
                    st = streams[csid] = _ReadStream(_basic_header(3, csid))
                if fmt == 0:
                    st.timestamp = ts_value
                    # A fmt 3 header that starts a new message after this one adds
                    # this value again, as FFmpeg reads it.
                    st.delta = ts_value
                elif fmt < 3:
                    st.delta = ts_value
                    st.timestamp = (st.timestamp + ts_value) & 0xFFFFFFFF
                else:
                    st.timestamp = (st.timestamp + st.delta) & 0xFFFFFFFF
                if fmt < 3:
                    st.extended = extended
                    if extended:
                        st.ext_bytes = buf[p - 4 : p]
                    st.length = length
                    st.type_id = type_id
                    st.message_stream_id = msid
                pos = p + n
                if n == length:
                    message = new(message_type, (csid, type_id, st.timestamp, msid, buf[p:pos]))
                else:
                    if len(in_progress) >= limits.max_chunk_streams:
                        raise self._fail(
                            f"more than {limits.max_chunk_streams} chunk streams with a "
                            "message in progress"
                        )
                    in_progress.add(st)
                    if csid < 64:
                        fast[0x40 | csid] = fast[0x80 | csid] = fast[0xC0 | csid] = None
                    st.pieces = [view[p:pos]]
                    st.settled = 0
                    st.remaining = length - n
                    self._partial_bytes += n
                    pos = self._run(st, buf, view, pos, end, chunk_size)
                    if st.remaining:
                        self._chunk_steps += 1
                        continue
                    message = new(
                        message_type, (csid, type_id, st.timestamp, msid, b"".join(st.pieces))
                    )
                    st.pieces = []
                    st.settled = 0
                    self._partial_bytes -= length
                    in_progress.discard(st)

            # ---- a complete message: the chunk stream is idle again, and may take
            # the fast path unless it uses extended timestamps.
            if csid < 64:
                fast[0x40 | csid] = fast[0x80 | csid] = fast[0xC0 | csid] = (
                    None if st.extended else st
                )
            # Set Chunk Size and Abort belong on message stream 0; applying them
            # wherever they come keeps the stream in sync with a sloppy peer.
            if type_id < 3:
                self._control(message)
                chunk_size, small, stride, cut_max, cutters = self._geometry
            append(message)
        self._leftover = view[pos:]
        if end - pos + self._partial_bytes > limits.max_buffered_bytes:
            self._check_buffered(end - pos)
        return pos

    def _run(
        self,
        st: _ReadStream,
        buf: bytes,
        view: memoryview,
        pos: int,
        end: int,
        chunk_size: int,
    ) -> int:
        """Take a run of fmt 3 continuation chunks of ``st`` starting at ``pos`` at once.

        Returns the position after the run (``pos`` itself if there is none).  The
        chunk-at-a-time path in :meth:`_parse` handles whatever this leaves.
        """
        header = st.header
        hlen = len(header)
        if pos + hlen + 4 > end or buf[pos] != header[0]:
            return pos
        if st.extended:
            if buf[pos + hlen : pos + hlen + 4] != st.ext_bytes:
                # The peer leaves the repeated extended timestamp out, here at least:
                # each chunk's next four bytes are compared with it on their own (a run
                # of chunks without it may be followed by one with it).
                return pos
            header += st.ext_bytes
            hlen += 4
        if hlen > 1 and buf[pos : pos + hlen] != header:
            return pos
        remaining = st.remaining
        stride = chunk_size + hlen
        # Chunks still to come for this message; the last may be short.
        count = (remaining + chunk_size - 1) // chunk_size
        total = remaining + count * hlen
        if count > _RUN_WINDOW:
            # Look at a bounded window at a time: an interleaving peer must not make
            # every call scan the rest of the buffer (quadratic time).
            count = _RUN_WINDOW
            total = count * stride
        if pos + total <= end:
            stop = pos + total
        else:
            count = (end - pos) // stride
            if not count:
                return pos
            stop = pos + count * stride
        if count > 1:
            # How many leading chunks really are our continuation chunks: every
            # header byte must match at every stride.
            for offset in range(hlen):
                column = buf[pos + offset : stop : stride]
                good = len(column) - len(column.lstrip(header[offset : offset + 1]))
                if good < count:
                    count = good
                    stop = pos + count * stride
        if count > 4:
            # Many chunks: copy the run once and cut the headers out in C, a
            # strided delete per header byte, instead of one Python slice per chunk.
            run = bytearray(view[pos + hlen : stop])
            for offset in range(hlen):
                del run[chunk_size :: stride - offset]
            st.pieces.append(run)
        else:
            window = view[:stop]
            st.pieces += [window[i : i + chunk_size] for i in range(pos + hlen, stop, stride)]
        taken = stop - pos - count * hlen
        st.remaining = remaining - taken
        self._partial_bytes += taken
        return stop

    def _control(self, message: Message) -> None:
        """Apply Set Chunk Size and Abort, which act on the chunk layer itself."""
        payload = message.payload
        if message.type_id == 0:
            return
        if len(payload) < 4:
            raise self._fail(f"message type {message.type_id} with a {len(payload)}-byte body")
        value = _unpack_u32(payload)[0]
        if message.type_id == _TYPE_SET_CHUNK_SIZE:
            if value & 0x80000000:
                raise self._fail(f"Set Chunk Size with the top bit set ({value:#x})")
            self.set_chunk_size(value)
        else:
            st = self._streams.get(value)
            if st is not None and st.remaining:
                self._partial_bytes -= st.length - st.remaining
                self._in_progress.discard(st)
                st.pieces = []
                st.settled = 0
                st.remaining = 0
                if value < 64 and not st.extended:
                    self._fast[0x40 | value] = self._fast[0x80 | value] = st
                    self._fast[0xC0 | value] = st


class _WriteStream:
    """What the writer remembers about one chunk stream (for header compression)."""

    __slots__ = (
        "basic",
        "continuation",
        "delta",
        "length",
        "message_stream_id",
        "timestamp",
        "type_id",
    )

    def __init__(self, chunk_stream_id: int) -> None:
        # The basic headers of this chunk stream for fmt 0..3, and the header of a
        # continuation chunk (fmt 3, plus the extended timestamp when there is one).
        self.basic = tuple(_basic_header(fmt, chunk_stream_id) for fmt in range(4))
        self.continuation = self.basic[3]
        self.timestamp = 0
        # None until a fmt 1/2 header has established a delta that fmt 3 may repeat.
        self.delta: int | None = None
        self.length = -1
        self.type_id = -1
        # -1: nothing written yet, so the first message gets fmt 0.
        self.message_stream_id = -1


def _check_message(
    chunk_stream_id: int, type_id: int, timestamp: int, message_stream_id: int, length: int
) -> None:
    if not MIN_CHUNK_STREAM_ID <= chunk_stream_id <= MAX_CHUNK_STREAM_ID:
        raise LocalProtocolError(f"chunk stream id {chunk_stream_id} is outside 2..65599")
    if not 0 <= type_id <= 0xFF:
        raise LocalProtocolError(f"message type {type_id} does not fit a byte")
    if not 0 <= message_stream_id <= 0xFFFFFFFF:
        raise LocalProtocolError(f"message stream id {message_stream_id} is not 32-bit")
    if length > MAX_MESSAGE_LENGTH:
        raise LocalProtocolError(f"a message of {length} bytes exceeds RTMP's 16 MiB limit")
    if timestamp < 0:
        raise LocalProtocolError(f"negative timestamp {timestamp}")


def _message_header(
    fmt: int,
    chunk_stream_id: int,
    timestamp_field: int,
    length: int,
    type_id: int,
    message_stream_id: int,
) -> bytes:
    """The basic header and the message header of form ``fmt`` (no extended time)."""
    basic = _basic_header(fmt, chunk_stream_id)
    if fmt == 0:
        return (
            basic
            + _FMT1.pack((timestamp_field << 8) | (length >> 16), length & 0xFFFF, type_id)
            + _U32_LE.pack(message_stream_id)
        )
    if fmt == 1:
        return basic + _FMT1.pack((timestamp_field << 8) | (length >> 16), length & 0xFFFF, type_id)
    if fmt == 2:
        return basic + _U32.pack(timestamp_field)[1:]
    return basic


@functools.lru_cache(maxsize=64)
def _piece_struct(chunk_size: int) -> struct.Struct:
    return struct.Struct(f"{chunk_size}s")


_first = operator.itemgetter(0)


def _split(payload: bytes, chunk_size: int) -> list[bytes] | list[memoryview]:
    """``payload`` cut into chunk-size pieces (the last one shorter)."""
    length = len(payload)
    if chunk_size >= _JOIN_CHUNK_SIZE:
        view = memoryview(payload)
        return [view[i : i + chunk_size] for i in range(0, length, chunk_size)]
    # Small chunks: cut them in C (struct's iterator), not one Python slice each.
    whole = length - length % chunk_size
    pieces = list(map(_first, _piece_struct(chunk_size).iter_unpack(memoryview(payload)[:whole])))
    if whole < length:
        pieces.append(payload[whole:])
    return pieces


def _chunk_body(first_header: bytes, continuation: bytes, payload: bytes, chunk_size: int) -> bytes:
    length = len(payload)
    if length <= chunk_size:
        return first_header + payload
    return first_header + continuation.join(_split(payload, chunk_size))


def encode_message(
    chunk_stream_id: int,
    type_id: int,
    timestamp: int,
    message_stream_id: int,
    payload: bytes,
    chunk_size: int,
) -> bytes:
    """Chunk one message with a full (fmt 0) header, independent of any writer state.

    The same bytes can be sent to many peers that read with ``chunk_size`` (a relay
    serializes a message once and shares it).  The receiving side's header state for
    ``chunk_stream_id`` is set by a fmt 0 header, so these bytes can follow anything.
    """
    _check_message(chunk_stream_id, type_id, timestamp, message_stream_id, len(payload))
    timestamp &= 0xFFFFFFFF
    extended = timestamp >= _EXTENDED
    header = _message_header(
        0,
        chunk_stream_id,
        _EXTENDED if extended else timestamp,
        len(payload),
        type_id,
        message_stream_id,
    )
    continuation = _basic_header(3, chunk_stream_id)
    if extended:
        ext = _U32.pack(timestamp)
        header += ext
        continuation += ext
    return _chunk_body(header, continuation, payload, chunk_size)


class ChunkWriter:
    """Splits messages into chunks, compressing headers against the previous one.

    :meth:`write` appends a message's chunks to an outbound buffer that
    :meth:`data_to_send` drains.  The header form is the smallest the reader can
    follow: fmt 0 on a new chunk stream, when the message stream changes or when time
    goes backwards; fmt 1 when the length or type changes; fmt 2 when only the time
    delta changes; fmt 3 when the message repeats the previous delta exactly.
    Continuation chunks are fmt 3 and repeat the extended timestamp when there is one,
    as the specification says.

    Writing a Set Chunk Size message (type 1, on message stream 0) switches the writer
    to the new size for everything after it.
    """

    def __init__(self, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
            raise LocalProtocolError(f"illegal chunk size {chunk_size}")
        self._chunk_size = chunk_size
        self._streams: dict[int, _WriteStream] = {}
        # The output, as pieces joined once by data_to_send (no copy per message).
        self._parts: list[bytes] = []
        self._buffered = 0

    @property
    def chunk_size(self) -> int:
        """The chunk size we write with."""
        return self._chunk_size

    def write(
        self,
        chunk_stream_id: int,
        type_id: int,
        timestamp: int,
        message_stream_id: int,
        payload: bytes,
    ) -> None:
        """Queue one message on ``chunk_stream_id``."""
        if type(payload) is not bytes:
            # Queued by reference until data_to_send(): never a buffer that can change.
            payload = bytes(payload)
        length = len(payload)
        if length > MAX_MESSAGE_LENGTH or timestamp < 0 or not 0 <= type_id <= 0xFF:
            _check_message(chunk_stream_id, type_id, timestamp, message_stream_id, length)
        if type_id == _TYPE_SET_CHUNK_SIZE and length >= 4:
            # Checked before anything is queued: a refused message leaves no trace.
            new_chunk_size = _U32.unpack_from(payload)[0]
            if not 1 <= new_chunk_size <= MAX_CHUNK_SIZE:
                raise LocalProtocolError(f"illegal chunk size {new_chunk_size:#x}")
        timestamp &= 0xFFFFFFFF
        st = self._streams.get(chunk_stream_id)
        if st is None:
            _check_message(chunk_stream_id, type_id, timestamp, message_stream_id, length)
            st = self._streams[chunk_stream_id] = _WriteStream(chunk_stream_id)
        if st.message_stream_id != message_stream_id:
            if not 0 <= message_stream_id <= 0xFFFFFFFF:
                _check_message(chunk_stream_id, type_id, timestamp, message_stream_id, length)
            fmt = 0
            field = timestamp
        else:
            field = (timestamp - st.timestamp) & 0xFFFFFFFF
            if field & 0x80000000:
                # Time went backwards (as a serial number): only fmt 0 can say so.
                fmt = 0
                field = timestamp
            elif st.length != length or st.type_id != type_id:
                fmt = 1
            elif st.delta != field:
                fmt = 2
            else:
                fmt = 3
        basic = st.basic
        if field < _EXTENDED:
            if fmt == 3:
                header = basic[3]
            elif fmt == 2:
                header = basic[2] + _U32.pack(field)[1:]
            elif fmt == 1:
                header = basic[1] + _FMT1.pack(
                    (field << 8) | (length >> 16), length & 0xFFFF, type_id
                )
            else:
                header = (
                    basic[0]
                    + _FMT1.pack((field << 8) | (length >> 16), length & 0xFFFF, type_id)
                    + _U32_LE.pack(message_stream_id)
                )
            continuation = basic[3]
        else:
            header = _message_header(
                fmt, chunk_stream_id, _EXTENDED, length, type_id, message_stream_id
            )
            ext = _U32.pack(field)
            header += ext
            continuation = basic[3] + ext
        parts = self._parts
        chunk_size = self._chunk_size
        parts.append(header)
        if length <= chunk_size:
            parts.append(payload)
            self._buffered += len(header) + length
        else:
            body = continuation.join(_split(payload, chunk_size))
            parts.append(body)
            self._buffered += len(header) + len(body)
        st.timestamp = timestamp
        st.length = length
        st.type_id = type_id
        st.message_stream_id = message_stream_id
        # After fmt 0 the readers disagree on what a following fmt 3 means (FFmpeg adds
        # the absolute time again), so only a fmt 1/2 delta may be repeated by fmt 3.
        st.delta = None if fmt == 0 else field
        if type_id == _TYPE_SET_CHUNK_SIZE and length >= 4:
            self._chunk_size = new_chunk_size

    def write_raw(self, data: bytes) -> None:
        """Queue bytes already chunked elsewhere (see :func:`encode_message`).

        The caller promises they start with a fmt 0 header on a chunk stream, were
        chunked with this writer's chunk size, and that the chunk stream is not one
        this writer compresses against; :meth:`forget` can reset one that is.
        """
        self._parts.append(data)
        self._buffered += len(data)

    def forget(self, chunk_stream_id: int) -> None:
        """Drop the header state of a chunk stream: its next message gets fmt 0."""
        self._streams.pop(chunk_stream_id, None)

    def data_to_send(self) -> bytes:
        """Return and clear everything queued so far."""
        parts = self._parts
        if not parts:
            return b""
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        parts.clear()
        self._buffered = 0
        return data

    @property
    def buffered(self) -> int:
        """Bytes queued and not yet taken by :meth:`data_to_send`."""
        return self._buffered
