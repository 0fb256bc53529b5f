"""AMF3 encoder and decoder (Adobe's AMF 3 specification, January 2013 revision).

AMF3 appears in RTMP message types 15, 16 and 17 (after a leading format byte, as AMF0
values that switch to AMF3 with the AVM+ marker) and after every AVM+ marker in AMF0.
See :mod:`trio_rtmp.core.amf` for the Python mapping and for the scope of the string,
object and trait reference tables: :func:`decode` and :func:`encode` use one set of
tables for the whole call, :func:`decode_value` and :func:`encode_value` a fresh set
per call, and :class:`AMF3Decoder`/:class:`AMF3Encoder` keep theirs across calls.

Both directions are iterative (an explicit stack, no Python recursion), so nesting is
bounded by ``Limits.max_amf_depth`` alone and can never raise ``RecursionError``.
Externalizable objects are refused: their body format is private to their class.
"""

from __future__ import annotations

import logging
import math
import struct
from datetime import UTC, datetime, timedelta
from typing import Any

from .amf import (
    MOVIECLIP,
    RECORDSET,
    UNDEFINED,
    UNSUPPORTED,
    XML,
    AVMPlus,
    Dictionary,
    ECMAArray,
    MixedArray,
    MovieClip,
    RecordSet,
    TypedObject,
    Undefined,
    Unsupported,
    Vector,
    VectorKind,
    XMLDocument,
)
from .config import DEFAULT_LIMITS, Limits
from .errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "MOVIECLIP",
    "RECORDSET",
    "UNDEFINED",
    "UNSUPPORTED",
    "XML",
    "AMF3Decoder",
    "AMF3Encoder",
    "AVMPlus",
    "Dictionary",
    "ECMAArray",
    "MixedArray",
    "MovieClip",
    "RecordSet",
    "TypedObject",
    "Undefined",
    "Unsupported",
    "Vector",
    "VectorKind",
    "XMLDocument",
    "decode",
    "decode_value",
    "encode",
    "encode_value",
]

logger = logging.getLogger(__name__)

# Type markers (AMF3 specification 3.1).
UNDEFINED_MARKER = 0x00
NULL_MARKER = 0x01
FALSE_MARKER = 0x02
TRUE_MARKER = 0x03
INTEGER_MARKER = 0x04
DOUBLE_MARKER = 0x05
STRING_MARKER = 0x06
XML_DOC_MARKER = 0x07
DATE_MARKER = 0x08
ARRAY_MARKER = 0x09
OBJECT_MARKER = 0x0A
XML_MARKER = 0x0B
BYTE_ARRAY_MARKER = 0x0C
VECTOR_INT_MARKER = 0x0D
VECTOR_UINT_MARKER = 0x0E
VECTOR_DOUBLE_MARKER = 0x0F
VECTOR_OBJECT_MARKER = 0x10
DICTIONARY_MARKER = 0x11

#: Integers in this range are written as AMF3 integers; others as doubles.
INTEGER_MIN = -(2**28)
INTEGER_MAX = 2**28 - 1
_U29_LIMIT = 2**29
# The largest length or index a U29 with a one-bit flag (or two) can carry.
_U29_VALUE_MAX = 2**28 - 1

_DOUBLE = struct.Struct(">d")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

_VECTOR_FORMATS: dict[int, tuple[VectorKind, str, int]] = {
    VECTOR_INT_MARKER: ("int", "i", 4),
    VECTOR_UINT_MARKER: ("uint", "I", 4),
    VECTOR_DOUBLE_MARKER: ("double", "d", 8),
}
_VECTOR_MARKERS: dict[str, tuple[int, str]] = {
    "int": (VECTOR_INT_MARKER, "i"),
    "uint": (VECTOR_UINT_MARKER, "I"),
    "double": (VECTOR_DOUBLE_MARKER, "d"),
    "object": (VECTOR_OBJECT_MARKER, ""),
}

# Decoder frame kinds: what the open container on top of the stack reads next.
_SEALED = 0  # values of sealed members, in trait order
_DYNAMIC = 1  # name/value pairs up to the empty name (objects)
_ASSOC = 2  # name/value pairs up to the empty name, then the dense part (arrays)
_LIST = 3  # a counted run of values (dense array part, object vector)
_DICT = 4  # a counted run of key/value pairs (dictionary)


def _truncated() -> RemoteProtocolError:
    return RemoteProtocolError("truncated AMF3 data")


def date_from_milliseconds(ms: float) -> datetime:
    """An aware UTC datetime from AMF milliseconds since the epoch (shared with AMF0).

    Raises RemoteProtocolError for NaN, infinities and dates outside years 1..9999.
    """
    if not math.isfinite(ms):
        raise RemoteProtocolError(f"AMF date is not a finite number: {ms!r}")
    try:
        return _EPOCH + timedelta(milliseconds=ms)
    except OverflowError:
        raise RemoteProtocolError(f"AMF date out of range: {ms!r} ms") from None


def milliseconds_from_date(value: datetime) -> float:
    """AMF milliseconds since the epoch for ``value`` (naive means UTC; shared with AMF0)."""
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=UTC)
    return ((value - _EPOCH) // _MICROSECOND) / 1000


def as_byte_view(data: bytes | bytearray | memoryview) -> bytes | memoryview:
    """``data`` in a form indexable by byte, without copying (shared with AMF0)."""
    if type(data) is bytes:
        return data
    try:
        view = memoryview(data)
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B")
    except (TypeError, ValueError) as exc:
        raise LocalProtocolError(f"AMF data must be a bytes-like object: {exc}") from None
    return view


def view_text(view: bytes | memoryview) -> str:
    """UTF-8 text of a slice of a memoryview (raises UnicodeDecodeError; shared with AMF0)."""
    return str(view, "utf-8")


def release(view: bytes | memoryview) -> None:
    """Release a view made by ``as_byte_view`` (shared with AMF0).

    Otherwise an exception's traceback would keep the caller's buffer (a bytearray,
    say) exported, and so impossible to resize, for as long as the exception lives.
    """
    if type(view) is memoryview:
        view.release()


def check_offset(data: bytes | memoryview, offset: int) -> None:
    """Refuse an offset outside ``data`` (a caller's error; shared with AMF0)."""
    if type(offset) is not int or not 0 <= offset <= len(data):
        raise LocalProtocolError(f"offset {offset!r} is outside the data ({len(data)} bytes)")


class _Frame:
    """One open container of the decoder's explicit stack."""

    __slots__ = (
        "container",
        "dynamic",
        "have_key",
        "index",
        "key",
        "kind",
        "names",
        "remaining",
        "result",
    )

    def __init__(self, kind: int, container: Any, result: Any, remaining: int = 0) -> None:
        self.kind = kind
        # Where member values go: a dict, a list, or a Dictionary's list of pairs.
        self.container = container
        # The value the container becomes once closed (the object, array, vector...).
        self.result = result
        self.remaining = remaining
        self.names: tuple[str, ...] = ()
        self.index = 0
        self.dynamic = False
        # The member name (or dictionary key) whose value is being decoded.
        self.key: Any = None
        self.have_key = False


class AMF3Decoder:
    """Decodes AMF3 values, keeping the string, object and trait tables across calls.

    Use one decoder per serialization context (one RTMP message body); the module
    functions do that for you.  Everything decoded is checked against ``limits``.
    """

    __slots__ = ("_limits", "_objects", "_strings", "_traits")

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._strings: list[str] = []
        self._objects: list[Any] = []
        self._traits: list[tuple[str, tuple[str, ...], bool]] = []

    def reset(self) -> None:
        """Forget every reference table (start a new serialization context)."""
        self._strings.clear()
        self._objects.clear()
        self._traits.clear()

    def decode_value(
        self, data: bytes | bytearray | memoryview, offset: int = 0
    ) -> tuple[Any, int]:
        """Decode one value at ``offset``; returns it and the offset just after it."""
        view = as_byte_view(data)
        try:
            check_offset(view, offset)
            return self.decode_at(view, offset, len(view), 0)
        finally:
            release(view)

    def decode_at(
        self, data: bytes | memoryview, pos: int, end: int, depth: int
    ) -> tuple[Any, int]:
        """Decode one value from ``data[pos:end]``, already nested ``depth`` levels deep.

        The AMF0 decoder calls this after an AVM+ marker (which counts as one level).
        """
        try:
            return self._decode(data, pos, end, depth)
        except UnicodeDecodeError as exc:
            reason = exc.reason
        # Raised outside the handler so that the UnicodeDecodeError (whose traceback
        # holds slices of the caller's buffer) is not kept as the __context__.
        raise RemoteProtocolError(f"invalid UTF-8 in an AMF3 string: {reason}")

    # -- primitives ------------------------------------------------------------------

    @staticmethod
    def _u29(data: bytes | memoryview, pos: int, end: int) -> tuple[int, int]:
        if pos >= end:
            raise _truncated()
        b = data[pos]
        if b < 0x80:
            return b, pos + 1
        if pos + 1 >= end:
            raise _truncated()
        n = (b & 0x7F) << 7
        b = data[pos + 1]
        if b < 0x80:
            return n | b, pos + 2
        if pos + 2 >= end:
            raise _truncated()
        n = (n | (b & 0x7F)) << 7
        b = data[pos + 2]
        if b < 0x80:
            return n | b, pos + 3
        if pos + 3 >= end:
            raise _truncated()
        # The fourth byte carries a full 8 bits.
        return ((n | (b & 0x7F)) << 8) | data[pos + 3], pos + 4

    def _string(self, data: bytes | memoryview, pos: int, end: int) -> tuple[str, int]:
        header, pos = self._u29(data, pos, end)
        if not header & 1:
            index = header >> 1
            strings = self._strings
            if index >= len(strings):
                raise RemoteProtocolError(f"AMF3 string reference {index} out of range")
            return strings[index], pos
        length = header >> 1
        if not length:
            return "", pos
        stop = pos + length
        if stop > end:
            raise _truncated()
        # No slice kept in a local: a traceback would keep the caller's buffer exported.
        if type(data) is bytes:
            text = data[pos:stop].decode()
        else:
            text = str(data[pos:stop], "utf-8")
        strings = self._strings
        if len(strings) >= self._limits.max_amf_collection_size:
            raise RemoteProtocolError("too many AMF3 strings for the string reference table")
        strings.append(text)
        return text, stop

    def _add_object(self, value: Any) -> None:
        objects = self._objects
        if len(objects) >= self._limits.max_amf_collection_size:
            raise RemoteProtocolError("too many AMF3 objects for the object reference table")
        objects.append(value)

    def _object_reference(self, header: int) -> Any:
        index = header >> 1
        if index >= len(self._objects):
            raise RemoteProtocolError(f"AMF3 object reference {index} out of range")
        return self._objects[index]

    def _check_count(self, count: int, pos: int, end: int, item_size: int) -> None:
        # Before anything is allocated: against the limit and against the bytes left.
        if count > self._limits.max_amf_collection_size:
            raise RemoteProtocolError(
                f"AMF3 collection of {count} items exceeds the limit "
                f"({self._limits.max_amf_collection_size})"
            )
        if count * item_size > end - pos:
            raise _truncated()

    def _traits_of(
        self, header: int, data: bytes | memoryview, pos: int, end: int
    ) -> tuple[tuple[str, tuple[str, ...], bool], int]:
        if not header & 2:
            index = header >> 2
            if index >= len(self._traits):
                raise RemoteProtocolError(f"AMF3 trait reference {index} out of range")
            return self._traits[index], pos
        if header & 4:
            raise RemoteProtocolError("AMF3 externalizable object: its body format is unknown")
        count = header >> 4
        self._check_count(count, pos, end, 1)
        class_name, pos = self._string(data, pos, end)
        names = []
        for _ in range(count):
            name, pos = self._string(data, pos, end)
            names.append(name)
        traits = (class_name, tuple(names), bool(header & 8))
        if len(self._traits) >= self._limits.max_amf_collection_size:
            raise RemoteProtocolError("too many AMF3 traits for the trait reference table")
        self._traits.append(traits)
        return traits, pos

    # -- the value loop --------------------------------------------------------------

    def _decode(self, data: bytes | memoryview, pos: int, end: int, depth: int) -> tuple[Any, int]:
        limits = self._limits
        max_depth = limits.max_amf_depth
        max_items = limits.max_amf_collection_size
        if depth > max_depth:
            raise RemoteProtocolError(f"AMF nesting deeper than {max_depth}")
        u29 = self._u29
        read_string = self._string
        add_object = self._add_object
        stack: list[_Frame] = []
        frame: _Frame
        value: Any = None
        while True:
            closed = False
            if stack:
                frame = stack[-1]
                kind = frame.kind
                if kind in (_DYNAMIC, _ASSOC):
                    if frame.have_key:
                        frame.have_key = False
                    else:
                        frame.key, pos = read_string(data, pos, end)
                    if not frame.key:
                        if kind == _ASSOC and frame.remaining:
                            # The associative part ended; the dense part follows.
                            frame.kind = _LIST
                            frame.container = frame.result.dense
                            continue
                        stack.pop()
                        value = frame.result
                        closed = True
            if not closed:
                if pos >= end:
                    raise _truncated()
                marker = data[pos]
                pos += 1
                if marker == STRING_MARKER:
                    value, pos = read_string(data, pos, end)
                elif marker == INTEGER_MARKER:
                    value, pos = u29(data, pos, end)
                    if value & 0x10000000:
                        value -= _U29_LIMIT
                elif marker == DOUBLE_MARKER:
                    if pos + 8 > end:
                        raise _truncated()
                    value = _DOUBLE.unpack_from(data, pos)[0]
                    pos += 8
                elif marker == NULL_MARKER:
                    value = None
                elif marker == FALSE_MARKER:
                    value = False
                elif marker == TRUE_MARKER:
                    value = True
                elif marker == UNDEFINED_MARKER:
                    value = UNDEFINED
                elif marker == OBJECT_MARKER:
                    header, pos = u29(data, pos, end)
                    if not header & 1:
                        value = self._object_reference(header)
                    else:
                        (class_name, names, dynamic), pos = self._traits_of(header, data, pos, end)
                        if depth + len(stack) >= max_depth:
                            raise RemoteProtocolError(f"AMF nesting deeper than {max_depth}")
                        fields: dict[str, Any] = {}
                        if class_name:
                            value = TypedObject(class_name=class_name, fields=fields)
                        else:
                            value = fields
                        add_object(value)
                        if names:
                            frame = _Frame(_SEALED, fields, value)
                            frame.names = names
                            frame.dynamic = dynamic
                            stack.append(frame)
                            continue
                        if dynamic:
                            stack.append(_Frame(_DYNAMIC, fields, value))
                            continue
                elif marker == ARRAY_MARKER:
                    header, pos = u29(data, pos, end)
                    if not header & 1:
                        value = self._object_reference(header)
                    else:
                        count = header >> 1
                        # At least the empty name ending the associative part follows.
                        self._check_count(count, pos + 1, end, 1)
                        first_key, pos = read_string(data, pos, end)
                        if depth + len(stack) >= max_depth:
                            raise RemoteProtocolError(f"AMF nesting deeper than {max_depth}")
                        if first_key:
                            mixed = MixedArray(dense=[], assoc={})
                            add_object(mixed)
                            frame = _Frame(_ASSOC, mixed.assoc, mixed, count)
                            frame.key = first_key
                            frame.have_key = True
                            stack.append(frame)
                            continue
                        value = []
                        add_object(value)
                        if count:
                            stack.append(_Frame(_LIST, value, value, count))
                            continue
                elif marker == DATE_MARKER:
                    header, pos = u29(data, pos, end)
                    if not header & 1:
                        value = self._object_reference(header)
                    else:
                        if pos + 8 > end:
                            raise _truncated()
                        value = date_from_milliseconds(_DOUBLE.unpack_from(data, pos)[0])
                        pos += 8
                        add_object(value)
                elif marker in (XML_DOC_MARKER, XML_MARKER):
                    header, pos = u29(data, pos, end)
                    if not header & 1:
                        value = self._object_reference(header)
                    else:
                        stop = pos + (header >> 1)
                        if stop > end:
                            raise _truncated()
                        text = view_text(data[pos:stop])
                        value = XMLDocument(text) if marker == XML_DOC_MARKER else XML(text)
                        pos = stop
                        add_object(value)
                elif marker == BYTE_ARRAY_MARKER:
                    header, pos = u29(data, pos, end)
                    if not header & 1:
                        value = self._object_reference(header)
                    else:
                        stop = pos + (header >> 1)
                        if stop > end:
                            raise _truncated()
                        value = bytes(data[pos:stop])
                        pos = stop
                        add_object(value)
                elif marker in _VECTOR_FORMATS:
                    header, pos = u29(data, pos, end)
                    if not header & 1:
                        value = self._object_reference(header)
                    else:
                        kind_name, code, size = _VECTOR_FORMATS[marker]
                        count = header >> 1
                        self._check_count(count, pos + 1, end, size)
                        fixed = data[pos] != 0
                        pos += 1
                        items = list(struct.unpack_from(f">{count}{code}", data, pos))
                        pos += count * size
                        value = Vector(kind=kind_name, items=items, fixed=fixed)
                        add_object(value)
                elif marker == VECTOR_OBJECT_MARKER:
                    header, pos = u29(data, pos, end)
                    if not header & 1:
                        value = self._object_reference(header)
                    else:
                        count = header >> 1
                        self._check_count(count, pos + 1, end, 1)
                        fixed = data[pos] != 0
                        type_name, pos = read_string(data, pos + 1, end)
                        if depth + len(stack) >= max_depth:
                            raise RemoteProtocolError(f"AMF nesting deeper than {max_depth}")
                        value = Vector(kind="object", fixed=fixed, type_name=type_name)
                        add_object(value)
                        if count:
                            stack.append(_Frame(_LIST, value.items, value, count))
                            continue
                elif marker == DICTIONARY_MARKER:
                    header, pos = u29(data, pos, end)
                    if not header & 1:
                        value = self._object_reference(header)
                    else:
                        count = header >> 1
                        self._check_count(count, pos + 1, end, 2)
                        weak_keys = data[pos] != 0
                        pos += 1
                        if depth + len(stack) >= max_depth:
                            raise RemoteProtocolError(f"AMF nesting deeper than {max_depth}")
                        value = Dictionary(weak_keys=weak_keys)
                        add_object(value)
                        if count:
                            stack.append(_Frame(_DICT, value.items, value, count))
                            continue
                else:
                    raise RemoteProtocolError(f"unknown AMF3 type marker 0x{marker:02x}")
            # Store the value in the open container; close every container it completes.
            while stack:
                frame = stack[-1]
                kind = frame.kind
                if kind == _LIST:
                    frame.container.append(value)
                    frame.remaining -= 1
                    if frame.remaining:
                        break
                elif kind in (_DYNAMIC, _ASSOC):
                    container = frame.container
                    container[frame.key] = value
                    if len(container) > max_items:
                        raise RemoteProtocolError(f"AMF3 object with over {max_items} members")
                    break
                elif kind == _SEALED:
                    frame.container[frame.names[frame.index]] = value
                    frame.index += 1
                    if frame.index < len(frame.names):
                        break
                    if frame.dynamic:
                        frame.kind = _DYNAMIC
                        break
                else:  # _DICT
                    if not frame.have_key:
                        frame.key = value
                        frame.have_key = True
                        break
                    frame.container.append((frame.key, value))
                    frame.have_key = False
                    frame.remaining -= 1
                    if frame.remaining:
                        break
                stack.pop()
                value = frame.result
            else:
                return value, pos


def _u29_bytes(n: int) -> bytes:
    """The variable-length U29 encoding of ``0 <= n < 2**29``."""
    if n < 0x80:
        return _BYTES[n]
    if n < 0x4000:
        return bytes(((n >> 7) | 0x80, n & 0x7F))
    if n < 0x200000:
        return bytes(((n >> 14) | 0x80, ((n >> 7) & 0x7F) | 0x80, n & 0x7F))
    if n < _U29_LIMIT:
        return bytes(
            ((n >> 22) | 0x80, ((n >> 15) & 0x7F) | 0x80, ((n >> 8) & 0x7F) | 0x80, n & 0xFF)
        )
    raise LocalProtocolError(f"{n} does not fit in an AMF3 U29")


_BYTES = [bytes((i,)) for i in range(256)]
_EMPTY_STRING = b"\x01"
_DYNAMIC_ANONYMOUS = ("", (), True)


def _header(n: int) -> bytes:
    # A length or count with the low "value follows" bit set.
    if n > _U29_VALUE_MAX:
        raise LocalProtocolError(f"AMF3 length {n} is too large")
    return _u29_bytes((n << 1) | 1)


class AMF3Encoder:
    """Encodes AMF3 values, keeping the string, object and trait tables across calls.

    Objects met again by identity (also in a later call on the same encoder) are
    written as references; the encoder holds a reference to each object it wrote so
    that identities stay valid.  ``limits.max_amf_depth`` bounds nesting: deeper input
    raises LocalProtocolError.
    """

    __slots__ = ("_max_depth", "_objects", "_strings", "_traits")

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self._max_depth = limits.max_amf_depth
        self._strings: dict[str, int] = {}
        self._objects: dict[int, tuple[int, Any]] = {}
        self._traits: dict[tuple[str, tuple[str, ...], bool], int] = {}

    def reset(self) -> None:
        """Forget every reference table (start a new serialization context)."""
        self._strings.clear()
        self._objects.clear()
        self._traits.clear()

    def encode_value(self, value: Any) -> bytes:
        """The AMF3 encoding of ``value``."""
        out: list[bytes] = []
        self.encode_into(value, out, 0)
        return b"".join(out)

    def encode_into(self, value: Any, out: list[bytes], depth: int) -> None:
        """Append the AMF3 encoding of ``value``, already nested ``depth`` levels deep.

        On an error nothing is appended and the reference tables are as before, so the
        encoder can go on (its tables never name an object whose bytes were not sent).
        """
        mark = self.mark()
        written = len(out)
        try:
            self._encode(value, out, depth)
        except BaseException:
            self.rollback(mark)
            del out[written:]
            raise

    def mark(self) -> tuple[int, int, int]:
        """The sizes of the reference tables, for :meth:`rollback`."""
        return len(self._strings), len(self._objects), len(self._traits)

    def rollback(self, mark: tuple[int, int, int]) -> None:
        """Forget the table entries made since ``mark`` (indices grow with insertion)."""
        tables: tuple[dict[Any, Any], ...] = (self._strings, self._objects, self._traits)
        for table, size in zip(tables, mark, strict=True):
            while len(table) > size:
                table.popitem()

    def _encode(self, value: Any, out: list[bytes], depth: int) -> None:
        if depth > self._max_depth:
            raise LocalProtocolError(f"AMF nesting deeper than {self._max_depth}")
        # Each frame: an iterator over the members still to write, whether it yields
        # (name, value) pairs, the bytes closing the container, and its depth.
        stack: list[tuple[Any, bool, bytes, int]] = []
        try:
            self._start(value, out, stack, depth)
            while stack:
                members, named, closing, level = stack[-1]
                for member in members:
                    if named:
                        name, member = member
                        if type(name) is not str:
                            raise LocalProtocolError(
                                f"AMF3 member names must be str, not {type(name).__name__}"
                            )
                        if not name:
                            raise LocalProtocolError(
                                "an AMF3 associative array cannot hold the empty key"
                            )
                        self._string(name, out)
                    if self._start(member, out, stack, level):
                        break
                else:
                    if closing:
                        out.append(closing)
                    stack.pop()
        except UnicodeEncodeError as exc:
            raise LocalProtocolError(f"string is not encodable as UTF-8: {exc.reason}") from None

    def _string(self, text: str, out: list[bytes]) -> None:
        if not text:
            out.append(_EMPTY_STRING)
            return
        strings = self._strings
        index = strings.get(text)
        if index is not None:
            out.append(_u29_bytes(index << 1))
            return
        raw = text.encode("utf-8")
        out.append(_header(len(raw)))
        out.append(raw)
        if len(strings) <= _U29_VALUE_MAX:
            strings[text] = len(strings)

    def _reference(self, value: Any, marker: bytes, out: list[bytes]) -> bool:
        """Write a reference if ``value`` was written before; else remember it."""
        objects = self._objects
        entry = objects.get(id(value))
        if entry is not None:
            out.append(marker)
            out.append(_u29_bytes(entry[0] << 1))
            return True
        if len(objects) > _U29_VALUE_MAX:
            raise LocalProtocolError("too many AMF3 objects for the object reference table")
        objects[id(value)] = (len(objects), value)
        return False

    def _write_traits(self, traits: tuple[str, tuple[str, ...], bool], out: list[bytes]) -> None:
        index = self._traits.get(traits)
        if index is not None:
            out.append(_u29_bytes((index << 2) | 1))
            return
        class_name, names, dynamic = traits
        if len(names) > 2**25 - 1:
            raise LocalProtocolError("too many sealed members for AMF3 traits")
        out.append(_u29_bytes((len(names) << 4) | (8 if dynamic else 0) | 0b011))
        self._string(class_name, out)
        for name in names:
            self._string(name, out)
        self._traits[traits] = len(self._traits)

    def _start(
        self, value: Any, out: list[bytes], stack: list[tuple[Any, bool, bytes, int]], depth: int
    ) -> bool:
        """Write ``value``, or the head of a container and push a frame (returns True)."""
        kind = type(value)
        if kind is str:
            out.append(b"\x06")
            self._string(value, out)
            return False
        if kind is float:
            out.append(b"\x05" + _DOUBLE.pack(value))
            return False
        if kind is bool:
            out.append(b"\x03" if value else b"\x02")
            return False
        if kind is int or (isinstance(value, int) and kind is not bool):
            if INTEGER_MIN <= value <= INTEGER_MAX:
                out.append(b"\x04" + _u29_bytes(int(value) & 0x1FFFFFFF))
            else:
                try:
                    out.append(b"\x05" + _DOUBLE.pack(float(value)))
                except OverflowError:
                    raise LocalProtocolError(f"{value} is too large for an AMF number") from None
            return False
        if value is None:
            out.append(b"\x01")
            return False
        if value is UNDEFINED:
            out.append(b"\x00")
            return False
        if isinstance(value, float):
            out.append(b"\x05" + _DOUBLE.pack(value))
            return False
        level = depth + 1
        if isinstance(value, dict) and not isinstance(value, ECMAArray):
            if self._reference(value, b"\x0a", out):
                return False
            self._check_depth(level)
            out.append(b"\x0a")
            if "" in value:
                # The empty name would end the dynamic members: write it as sealed.
                self._write_traits(("", ("",), True), out)
                rest = [(name, member) for name, member in value.items() if name != ""]
                stack.append((iter(rest), True, _EMPTY_STRING, level))
                stack.append((iter((value[""],)), False, b"", level))
            else:
                self._write_traits(_DYNAMIC_ANONYMOUS, out)
                stack.append((iter(value.items()), True, _EMPTY_STRING, level))
            return True
        if isinstance(value, (list, tuple)):
            if self._reference(value, b"\x09", out):
                return False
            self._check_depth(level)
            out.append(b"\x09")
            out.append(_header(len(value)))
            out.append(_EMPTY_STRING)
            if value:
                stack.append((iter(value), False, b"", level))
                return True
            return False
        if isinstance(value, TypedObject):
            if self._reference(value, b"\x0a", out):
                return False
            self._check_depth(level)
            fields = value.fields
            for name in fields:
                if type(name) is not str:
                    raise LocalProtocolError(
                        f"AMF3 member names must be str, not {type(name).__name__}"
                    )
            out.append(b"\x0a")
            self._write_traits((value.class_name, tuple(fields), False), out)
            if fields:
                stack.append((iter(fields.values()), False, b"", level))
                return True
            return False
        if isinstance(value, (MixedArray, ECMAArray)):
            if self._reference(value, b"\x09", out):
                return False
            self._check_depth(level)
            if isinstance(value, MixedArray):
                dense, assoc = value.dense, value.assoc
            else:
                dense, assoc = [], value
            out.append(b"\x09")
            out.append(_header(len(dense)))
            if dense:
                stack.append((iter(dense), False, b"", level))
            if assoc:
                stack.append((iter(assoc.items()), True, _EMPTY_STRING, level))
            else:
                out.append(_EMPTY_STRING)
            return bool(dense or assoc)
        if isinstance(value, datetime):
            if self._reference(value, b"\x08", out):
                return False
            out.append(b"\x08\x01" + _DOUBLE.pack(milliseconds_from_date(value)))
            return False
        if isinstance(value, (XMLDocument, XML)):
            marker = b"\x07" if isinstance(value, XMLDocument) else b"\x0b"
            if self._reference(value, marker, out):
                return False
            raw = value.encode("utf-8")
            out.append(marker)
            out.append(_header(len(raw)))
            out.append(raw)
            return False
        if isinstance(value, str):
            out.append(b"\x06")
            self._string(str(value), out)
            return False
        if isinstance(value, (bytes, bytearray)):
            if self._reference(value, b"\x0c", out):
                return False
            out.append(b"\x0c")
            out.append(_header(len(value)))
            out.append(bytes(value))
            return False
        if isinstance(value, Vector):
            return self._vector(value, out, stack, level)
        if isinstance(value, Dictionary):
            if self._reference(value, b"\x11", out):
                return False
            self._check_depth(level)
            items = value.items
            out.append(b"\x11")
            out.append(_header(len(items)))
            out.append(b"\x01" if value.weak_keys else b"\x00")
            if items:
                flat: list[Any] = []
                for pair in items:
                    if not isinstance(pair, tuple) or len(pair) != 2:
                        raise LocalProtocolError("Dictionary items must be (key, value) pairs")
                    flat.extend(pair)
                stack.append((iter(flat), False, b"", level))
                return True
            return False
        if isinstance(value, AVMPlus):
            # Already AMF3: the wrapper is transparent here.
            return self._start(value.value, out, stack, depth)
        if isinstance(value, (Unsupported, MovieClip, RecordSet)):
            raise LocalProtocolError(f"{value!r} exists only in AMF0")
        raise LocalProtocolError(f"cannot encode a {type(value).__name__} in AMF3")

    def _check_depth(self, level: int) -> None:
        if level > self._max_depth:
            raise LocalProtocolError(f"AMF nesting deeper than {self._max_depth}")

    def _vector(
        self,
        value: Vector,
        out: list[bytes],
        stack: list[tuple[Any, bool, bytes, int]],
        level: int,
    ) -> bool:
        kind = value.kind
        marker_code = _VECTOR_MARKERS.get(kind)
        if marker_code is None:
            raise LocalProtocolError(f"unknown Vector kind {kind!r}")
        marker, code = marker_code
        head = _BYTES[marker]
        if self._reference(value, head, out):
            return False
        items = value.items
        out.append(head)
        out.append(_header(len(items)))
        out.append(b"\x01" if value.fixed else b"\x00")
        if code:
            if code != "d":
                for item in items:
                    if type(item) is not int:
                        raise LocalProtocolError(f"{item!r} is not a valid {kind} Vector item")
            try:
                out.append(struct.pack(f">{len(items)}{code}", *items))
            except struct.error as exc:
                raise LocalProtocolError(f"invalid {kind} Vector item: {exc}") from None
            return False
        self._check_depth(level)
        self._string(value.type_name, out)
        if items:
            stack.append((iter(items), False, b"", level))
            return True
        return False


def decode(data: bytes | bytearray | memoryview, *, limits: Limits = DEFAULT_LIMITS) -> list[Any]:
    """Decode every AMF3 value in ``data`` (one set of reference tables for all of them).

    Raises RemoteProtocolError for truncated or illegal input, or input over ``limits``.
    """
    view = as_byte_view(data)
    decoder = AMF3Decoder(limits)
    values = []
    pos, end = 0, len(view)
    try:
        while pos < end:
            value, pos = decoder.decode_at(view, pos, end, 0)
            values.append(value)
    finally:
        release(view)
    return values


def decode_value(
    data: bytes | bytearray | memoryview, offset: int = 0, *, limits: Limits = DEFAULT_LIMITS
) -> tuple[Any, int]:
    """Decode the AMF3 value at ``offset`` (fresh reference tables); returns (value, end)."""
    return AMF3Decoder(limits).decode_value(data, offset)


def encode(*values: Any) -> bytes:
    """The AMF3 encoding of ``values``, one after another, sharing reference tables.

    Raises LocalProtocolError for values AMF3 cannot represent.
    """
    encoder = AMF3Encoder()
    out: list[bytes] = []
    for value in values:
        encoder.encode_into(value, out, 0)
    return b"".join(out)


def encode_value(value: Any) -> bytes:
    """The AMF3 encoding of one value (fresh reference tables)."""
    return AMF3Encoder().encode_value(value)
