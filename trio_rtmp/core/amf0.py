"""AMF0 encoder and decoder (Adobe's AMF 0 specification), with the AVM+ switch to AMF3.

AMF0 carries RTMP commands (type 20), data messages (type 18, e.g. ``onMetaData``) and
shared objects (type 19).  See :mod:`trio_rtmp.core.amf` for the Python mapping and
for the reference table scope: :func:`decode` and :func:`encode` treat their whole
input as one serialization context (one AMF0 reference table and one set of AMF3 tables
shared by every AVM+ marker), :func:`decode_value`/:func:`encode_value` start a fresh
context per call, and :class:`AMF0Decoder`/:class:`AMF0Encoder` keep one across calls.

Both directions are iterative (an explicit stack, no Python recursion), so nesting is
bounded by ``Limits.max_amf_depth`` alone and can never raise ``RecursionError``.
The ECMA array count is read and ignored (encoders in the wild write wrong counts):
entries are read up to the object-end marker, and their number is bounded by
``Limits.max_amf_collection_size`` as they are read.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from datetime import datetime
from typing import Any

from . import amf3
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
from .amf3 import (
    as_byte_view,
    check_offset,
    date_from_milliseconds,
    milliseconds_from_date,
    release,
    view_text,
)
from .config import DEFAULT_LIMITS, Limits
from .errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "MOVIECLIP",
    "RECORDSET",
    "UNDEFINED",
    "UNSUPPORTED",
    "XML",
    "AMF0Decoder",
    "AMF0Encoder",
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
    "leading_strings",
]

logger = logging.getLogger(__name__)

# Type markers (AMF0 specification 2.1 and 3.1).
NUMBER_MARKER = 0x00
BOOLEAN_MARKER = 0x01
STRING_MARKER = 0x02
OBJECT_MARKER = 0x03
MOVIECLIP_MARKER = 0x04
NULL_MARKER = 0x05
UNDEFINED_MARKER = 0x06
REFERENCE_MARKER = 0x07
ECMA_ARRAY_MARKER = 0x08
OBJECT_END_MARKER = 0x09
STRICT_ARRAY_MARKER = 0x0A
DATE_MARKER = 0x0B
LONG_STRING_MARKER = 0x0C
UNSUPPORTED_MARKER = 0x0D
RECORDSET_MARKER = 0x0E
XML_DOCUMENT_MARKER = 0x0F
TYPED_OBJECT_MARKER = 0x10
AVMPLUS_MARKER = 0x11

_DOUBLE = struct.Struct(">d")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_NUMBER_VALUE = struct.Struct(">Bd")
_SHORT_HEAD = struct.Struct(">BH")
_LONG_HEAD = struct.Struct(">BI")
_DATE_VALUE = struct.Struct(">Bdh")
_OBJECT_END = b"\x00\x00\x09"

_SCALAR_MARKERS: dict[int, Any] = {
    NULL_MARKER: None,
    UNDEFINED_MARKER: UNDEFINED,
    UNSUPPORTED_MARKER: UNSUPPORTED,
    MOVIECLIP_MARKER: MOVIECLIP,
    RECORDSET_MARKER: RECORDSET,
}


def _truncated() -> RemoteProtocolError:
    return RemoteProtocolError("truncated AMF0 data")


class AMF0Decoder:
    """Decodes AMF0 values, keeping the reference tables across calls.

    One decoder is one serialization context (one RTMP message body): the AMF0
    reference table, and the AMF3 tables of the values behind AVM+ markers, carry over
    from one ``decode_value`` call to the next.  Everything is checked against ``limits``.
    """

    __slots__ = ("_amf3", "_limits", "_references")

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._references: list[Any] = []
        self._amf3: amf3.AMF3Decoder | None = None

    def reset(self) -> None:
        """Forget every reference table (start a new serialization context)."""
        self._references.clear()
        self._amf3 = None

    def decode_value(
        self, data: bytes | bytearray | memoryview, offset: int = 0
    ) -> tuple[Any, int]:
        """Decode one value at ``offset``; returns it and the offset just after it."""
        view = as_byte_view(data)
        try:
            check_offset(view, offset)
            return self.decode_at(view, offset, len(view))
        finally:
            release(view)

    def decode_at(self, data: bytes | memoryview, pos: int, end: int) -> tuple[Any, int]:
        """Decode one value from ``data[pos:end]`` (``data`` as from ``as_byte_view``)."""
        try:
            return self._decode(data, pos, end)
        except UnicodeDecodeError as exc:
            reason = exc.reason
        # Raised outside the handler so that the UnicodeDecodeError (whose traceback
        # holds slices of the caller's buffer) is not kept as the __context__.
        raise RemoteProtocolError(f"invalid UTF-8 in an AMF0 string: {reason}")

    def _add_reference(self, value: Any) -> None:
        references = self._references
        if len(references) >= self._limits.max_amf_collection_size:
            raise RemoteProtocolError("too many AMF0 objects for the reference table")
        references.append(value)

    def _decode(self, data: bytes | memoryview, pos: int, end: int) -> tuple[Any, int]:
        limits = self._limits
        max_depth = limits.max_amf_depth
        max_items = limits.max_amf_collection_size
        # Open containers: [members dict or list, the finished value, items left or -1
        # for a keyed container, the member name being decoded].
        stack: list[list[Any]] = []
        value: Any = None
        # bytes.decode is about twice as fast as str(view, "utf-8").
        text: Callable[[Any], str] = bytes.decode if type(data) is bytes else view_text
        while True:
            closed = False
            if stack:
                frame = stack[-1]
                if frame[2] < 0:
                    # A property name (UTF-8, U16 length), or the end of the object.
                    if pos + 2 > end:
                        raise _truncated()
                    length = (data[pos] << 8) | data[pos + 1]
                    pos += 2
                    if length:
                        stop = pos + length
                        if stop > end:
                            raise _truncated()
                        frame[3] = text(data[pos:stop])
                        pos = stop
                    elif pos < end and data[pos] == OBJECT_END_MARKER:
                        pos += 1
                        stack.pop()
                        value = frame[1]
                        closed = True
                    else:
                        # An empty name with a value after it: a member named "".
                        frame[3] = ""
            if not closed:
                if pos >= end:
                    raise _truncated()
                marker = data[pos]
                pos += 1
                if marker == STRING_MARKER:
                    if pos + 2 > end:
                        raise _truncated()
                    stop = pos + 2 + ((data[pos] << 8) | data[pos + 1])
                    if stop > end:
                        raise _truncated()
                    value = text(data[pos + 2 : stop])
                    pos = stop
                elif marker == NUMBER_MARKER:
                    if pos + 8 > end:
                        raise _truncated()
                    value = _DOUBLE.unpack_from(data, pos)[0]
                    pos += 8
                elif marker == BOOLEAN_MARKER:
                    if pos >= end:
                        raise _truncated()
                    value = data[pos] != 0
                    pos += 1
                elif marker in (OBJECT_MARKER, ECMA_ARRAY_MARKER):
                    if marker == ECMA_ARRAY_MARKER:
                        # The associative count is only a hint: skip it.
                        if pos + 4 > end:
                            raise _truncated()
                        pos += 4
                        value = ECMAArray()
                    else:
                        value = {}
                    if len(stack) >= max_depth:
                        raise RemoteProtocolError(f"AMF nesting deeper than {max_depth}")
                    self._add_reference(value)
                    stack.append([value, value, -1, None])
                    continue
                elif marker in _SCALAR_MARKERS:
                    value = _SCALAR_MARKERS[marker]
                elif marker == STRICT_ARRAY_MARKER:
                    if pos + 4 > end:
                        raise _truncated()
                    count = _U32.unpack_from(data, pos)[0]
                    pos += 4
                    if count > max_items:
                        raise RemoteProtocolError(
                            f"AMF0 strict array of {count} items exceeds the limit ({max_items})"
                        )
                    if count > end - pos:
                        raise _truncated()
                    if len(stack) >= max_depth:
                        raise RemoteProtocolError(f"AMF nesting deeper than {max_depth}")
                    value = []
                    self._add_reference(value)
                    if count:
                        stack.append([value, value, count, None])
                        continue
                elif marker == REFERENCE_MARKER:
                    if pos + 2 > end:
                        raise _truncated()
                    index = (data[pos] << 8) | data[pos + 1]
                    pos += 2
                    if index >= len(self._references):
                        raise RemoteProtocolError(f"AMF0 reference {index} out of range")
                    value = self._references[index]
                elif marker == DATE_MARKER:
                    if pos + 10 > end:
                        raise _truncated()
                    # The time zone (S16) after the milliseconds is reserved: ignored.
                    value = date_from_milliseconds(_DOUBLE.unpack_from(data, pos)[0])
                    pos += 10
                elif marker in (LONG_STRING_MARKER, XML_DOCUMENT_MARKER):
                    if pos + 4 > end:
                        raise _truncated()
                    stop = pos + 4 + _U32.unpack_from(data, pos)[0]
                    if stop > end:
                        raise _truncated()
                    value = text(data[pos + 4 : stop])
                    if marker == XML_DOCUMENT_MARKER:
                        value = XMLDocument(value)
                    pos = stop
                elif marker == TYPED_OBJECT_MARKER:
                    if pos + 2 > end:
                        raise _truncated()
                    stop = pos + 2 + ((data[pos] << 8) | data[pos + 1])
                    if stop > end:
                        raise _truncated()
                    class_name = text(data[pos + 2 : stop])
                    pos = stop
                    if len(stack) >= max_depth:
                        raise RemoteProtocolError(f"AMF nesting deeper than {max_depth}")
                    fields: dict[str, Any] = {}
                    # An empty class name is no class at all: an anonymous object.
                    value = (
                        TypedObject(class_name=class_name, fields=fields) if class_name else fields
                    )
                    self._add_reference(value)
                    stack.append([fields, value, -1, None])
                    continue
                elif marker == AVMPLUS_MARKER:
                    decoder = self._amf3
                    if decoder is None:
                        decoder = self._amf3 = amf3.AMF3Decoder(limits)
                    # The switch counts as one level of nesting.
                    value, pos = decoder.decode_at(data, pos, end, len(stack) + 1)
                elif marker == OBJECT_END_MARKER:
                    raise RemoteProtocolError("AMF0 object-end marker outside an object")
                else:
                    raise RemoteProtocolError(f"unknown AMF0 type marker 0x{marker:02x}")
            # Store the value in the open container; close every container it completes.
            while stack:
                frame = stack[-1]
                members = frame[0]
                if frame[2] < 0:
                    members[frame[3]] = value
                    if len(members) > max_items:
                        raise RemoteProtocolError(f"AMF0 object with over {max_items} members")
                    break
                members.append(value)
                frame[2] -= 1
                if frame[2]:
                    break
                stack.pop()
                value = members
            else:
                return value, pos


def _key(name: Any) -> bytes:
    if not isinstance(name, str):
        raise LocalProtocolError(f"AMF0 member names must be str, not {type(name).__name__}")
    raw = name.encode("utf-8")
    if len(raw) > 0xFFFF:
        raise LocalProtocolError("AMF0 member names are at most 65535 bytes of UTF-8")
    return _U16.pack(len(raw)) + raw


# Types only AMF3 can represent: the AMF0 encoder writes them behind an AVM+ marker.
_AMF3_ONLY = (XML, bytes, bytearray, MixedArray, Vector, Dictionary)


class AMF0Encoder:
    """Encodes AMF0 values, keeping the reference tables across calls.

    An object met again by identity (also in a later call on the same encoder) is
    written as a reference; the encoder holds a reference to each object it wrote so
    that identities stay valid.  ``limits.max_amf_depth`` bounds nesting: deeper input
    raises LocalProtocolError.
    """

    __slots__ = ("_amf3", "_limits", "_references")

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._references: dict[int, tuple[int, Any]] = {}
        self._amf3: amf3.AMF3Encoder | None = None

    def reset(self) -> None:
        """Forget every reference table (start a new serialization context)."""
        self._references.clear()
        self._amf3 = None

    def encode_value(self, value: Any) -> bytes:
        """The AMF0 encoding of ``value``."""
        out: list[bytes] = []
        self.encode_into(value, out)
        return b"".join(out)

    def encode_into(self, value: Any, out: list[bytes]) -> None:
        """Append the AMF0 encoding of ``value`` to ``out``.

        On an error nothing is appended and the reference tables are as before, so the
        encoder can go on (its tables never name an object whose bytes were not sent).
        """
        references = self._references
        size = len(references)
        amf3_encoder = self._amf3
        amf3_mark = amf3_encoder.mark() if amf3_encoder is not None else None
        written = len(out)
        try:
            self._encode(value, out)
        except BaseException:
            while len(references) > size:
                references.popitem()
            if amf3_encoder is None or amf3_mark is None:
                self._amf3 = None
            else:
                amf3_encoder.rollback(amf3_mark)
            del out[written:]
            raise

    def _encode(self, value: Any, out: list[bytes]) -> None:
        # Each frame: an iterator over the members still to write, whether it yields
        # (name, value) pairs, the bytes closing the container, and its depth.
        stack: list[tuple[Any, bool, bytes, int]] = []
        try:
            self._start(value, out, stack, 0)
            while stack:
                members, named, closing, level = stack[-1]
                for member in members:
                    if named:
                        name, member = member
                        out.append(_key(name))
                    kind = type(member)
                    # The common scalars inline; everything else through _start.
                    if kind is str:
                        raw = member.encode("utf-8")
                        if len(raw) <= 0xFFFF:
                            out.append(_SHORT_HEAD.pack(STRING_MARKER, len(raw)) + raw)
                            continue
                    elif kind is float:
                        out.append(_NUMBER_VALUE.pack(NUMBER_MARKER, member))
                        continue
                    if self._start(member, out, stack, level):
                        break
                else:
                    out.append(closing)
                    stack.pop()
        except UnicodeEncodeError as exc:
            raise LocalProtocolError(f"string is not encodable as UTF-8: {exc.reason}") from None

    def _reference(self, value: Any, out: list[bytes]) -> bool:
        """Write a reference if ``value`` was written before; else remember it."""
        references = self._references
        entry = references.get(id(value))
        if entry is not None:
            index = entry[0]
            if index > 0xFFFF:
                raise LocalProtocolError("AMF0 references reach only 65536 objects")
            out.append(_SHORT_HEAD.pack(REFERENCE_MARKER, index))
            return True
        references[id(value)] = (len(references), value)
        return False

    def _check_depth(self, level: int) -> None:
        if level > self._limits.max_amf_depth:
            raise LocalProtocolError(f"AMF nesting deeper than {self._limits.max_amf_depth}")

    def _start(
        self, value: Any, out: list[bytes], stack: list[tuple[Any, bool, bytes, int]], depth: int
    ) -> bool:
        """Write ``value``, or the head of a container and push a frame (returns True)."""
        kind = type(value)
        if kind is str:
            raw = value.encode("utf-8")
            if len(raw) <= 0xFFFF:
                out.append(_SHORT_HEAD.pack(STRING_MARKER, len(raw)) + raw)
            else:
                out.append(_LONG_HEAD.pack(LONG_STRING_MARKER, len(raw)))
                out.append(raw)
            return False
        if kind is float:
            out.append(_NUMBER_VALUE.pack(NUMBER_MARKER, value))
            return False
        if kind is bool:
            out.append(b"\x01\x01" if value else b"\x01\x00")
            return False
        if value is None:
            out.append(b"\x05")
            return False
        level = depth + 1
        if isinstance(value, dict):
            if self._reference(value, out):
                return False
            self._check_depth(level)
            if isinstance(value, ECMAArray):
                if len(value) > 0xFFFFFFFF:
                    raise LocalProtocolError("ECMA array too large for AMF0")
                out.append(_LONG_HEAD.pack(ECMA_ARRAY_MARKER, len(value)))
            else:
                out.append(b"\x03")
            stack.append((iter(value.items()), True, _OBJECT_END, level))
            return True
        if isinstance(value, (list, tuple)):
            return self._strict_array(value, out, stack, level)
        if isinstance(value, int):
            try:
                out.append(_NUMBER_VALUE.pack(NUMBER_MARKER, float(value)))
            except OverflowError:
                raise LocalProtocolError(f"{value} is too large for an AMF number") from None
            return False
        if isinstance(value, float):
            out.append(_NUMBER_VALUE.pack(NUMBER_MARKER, value))
            return False
        if value is UNDEFINED:
            out.append(b"\x06")
            return False
        if value is UNSUPPORTED:
            out.append(b"\x0d")
            return False
        if value is MOVIECLIP:
            out.append(b"\x04")
            return False
        if value is RECORDSET:
            out.append(b"\x0e")
            return False
        if isinstance(value, TypedObject):
            if self._reference(value, out):
                return False
            self._check_depth(level)
            raw = value.class_name.encode("utf-8")
            if len(raw) > 0xFFFF:
                raise LocalProtocolError("AMF0 class names are at most 65535 bytes of UTF-8")
            out.append(_SHORT_HEAD.pack(TYPED_OBJECT_MARKER, len(raw)) + raw)
            stack.append((iter(value.fields.items()), True, _OBJECT_END, level))
            return True
        if isinstance(value, datetime):
            out.append(_DATE_VALUE.pack(DATE_MARKER, milliseconds_from_date(value), 0))
            return False
        if isinstance(value, XMLDocument):
            raw = value.encode("utf-8")
            if len(raw) > 0xFFFFFFFF:
                raise LocalProtocolError("XML document too large for AMF0")
            out.append(_LONG_HEAD.pack(XML_DOCUMENT_MARKER, len(raw)))
            out.append(raw)
            return False
        if isinstance(value, (AVMPlus, _AMF3_ONLY)):
            if isinstance(value, AVMPlus):
                value = value.value
            # The switch counts as one level of nesting, as when decoding.
            self._check_depth(level)
            encoder = self._amf3
            if encoder is None:
                encoder = self._amf3 = amf3.AMF3Encoder(self._limits)
            out.append(b"\x11")
            encoder.encode_into(value, out, level)
            return False
        if isinstance(value, str):
            return self._start(str(value), out, stack, depth)
        raise LocalProtocolError(f"cannot encode a {type(value).__name__} in AMF0")

    def _strict_array(
        self,
        value: list[Any] | tuple[Any, ...],
        out: list[bytes],
        stack: list[tuple[Any, bool, bytes, int]],
        level: int,
    ) -> bool:
        if self._reference(value, out):
            return False
        self._check_depth(level)
        if len(value) > 0xFFFFFFFF:
            raise LocalProtocolError("strict array too large for AMF0")
        out.append(_LONG_HEAD.pack(STRICT_ARRAY_MARKER, len(value)))
        if value:
            stack.append((iter(value), False, b"", level))
            return True
        return False


def decode(data: bytes | bytearray | memoryview, *, limits: Limits = DEFAULT_LIMITS) -> list[Any]:
    """Decode every AMF0 value in ``data`` (one serialization context for all of them).

    Raises RemoteProtocolError for truncated or illegal input, or input over ``limits``.
    """
    view = as_byte_view(data)
    decoder = AMF0Decoder(limits)
    values = []
    pos, end = 0, len(view)
    try:
        while pos < end:
            value, pos = decoder.decode_at(view, pos, end)
            values.append(value)
    finally:
        release(view)
    return values


def decode_value(
    data: bytes | bytearray | memoryview, offset: int = 0, *, limits: Limits = DEFAULT_LIMITS
) -> tuple[Any, int]:
    """Decode the AMF0 value at ``offset`` (fresh reference tables); returns (value, end)."""
    return AMF0Decoder(limits).decode_value(data, offset)


def leading_strings(data: bytes | bytearray | memoryview, count: int = 2) -> tuple[str, ...]:
    """The first ``count`` values of ``data`` while they are (short) strings.

    Decodes nothing else, so it costs the same whatever the size of ``data``: a way to
    see what a data message is (``("@setDataFrame", "onMetaData")``, ``("onCuePoint",)``)
    without decoding it.  Stops early at a value that is not a string and at anything
    malformed; never raises.
    """
    names: list[str] = []
    pos = 0
    while len(names) < count:
        try:
            marker, size = _SHORT_HEAD.unpack_from(data, pos)
            if marker != STRING_MARKER or pos + 3 + size > len(data):
                break
            names.append(bytes(data[pos + 3 : pos + 3 + size]).decode("utf-8"))
        except (struct.error, UnicodeDecodeError):
            break
        pos += 3 + size
    return tuple(names)


def encode(*values: Any) -> bytes:
    """The AMF0 encoding of ``values``, one after another, in one serialization context.

    Raises LocalProtocolError for values AMF0 (with the AVM+ switch) cannot represent.
    """
    encoder = AMF0Encoder()
    out: list[bytes] = []
    for value in values:
        encoder.encode_into(value, out)
    return b"".join(out)


def encode_value(value: Any) -> bytes:
    """The AMF0 encoding of one value (fresh reference tables)."""
    return AMF0Encoder().encode_value(value)
