"""Value types shared by the AMF0 and AMF3 codecs, and the Python mapping of AMF.

Both :mod:`trio_rtmp.core.amf0` and :mod:`trio_rtmp.core.amf3` decode to, and encode
from, plain Python values plus the few types defined here (both modules re-export them).

========================  =====================================  ===========================
Python value              AMF0 (encode / decode)                 AMF3 (encode / decode)
========================  =====================================  ===========================
``float``                 number 0x00 (decodes to ``float``)     double 0x05
``int``                   number 0x00 (decodes to ``float``)     integer 0x04 if it fits in
                                                                 29 bits signed, else double
                                                                 (decodes to ``float``)
``bool``                  boolean 0x01                           false 0x02 / true 0x03
``str``                   string 0x02, or long string 0x0C when  string 0x06 (by reference
                          its UTF-8 form is over 65535 bytes     after its first use)
``None``                  null 0x05                              null 0x01
``UNDEFINED``             undefined 0x06                         undefined 0x00
``UNSUPPORTED``           unsupported 0x0D (no body)             not encodable
``MOVIECLIP``             movieclip 0x04 (no body)               not encodable
``RECORDSET``             recordset 0x0E (no body)               not encodable
``dict`` (``str`` keys)   anonymous object 0x03                  anonymous dynamic object
                                                                 0x0A (decodes to ``dict``)
``ECMAArray``             ECMA array 0x08 (the count is          array 0x09 with only an
                          written; on decode it is ignored)      associative part (decodes to
                                                                 ``MixedArray``, or ``list``
                                                                 when empty)
``list`` / ``tuple``      strict array 0x0A (decodes to list)    array 0x09, dense only
                                                                 (decodes to ``list``)
``MixedArray``            AVM+ switch, then AMF3                 array 0x09 with associative
                                                                 and dense parts
``TypedObject``           typed object 0x10                      object 0x0A with sealed
                                                                 traits named ``class_name``
``datetime``              date 0x0B: float ms since the epoch    date 0x08 (ms since epoch);
                          and a time zone (written 0, ignored    decodes to an aware UTC
                          on decode); decodes to an aware UTC    ``datetime``
                          ``datetime``; naive means UTC
``XMLDocument``           XML document 0x0F (text, never         XMLDocument 0x07
                          parsed)
``XML``                   AVM+ switch, then AMF3                 XML (E4X) 0x0B
``bytes``/``bytearray``   AVM+ switch, then AMF3                 ByteArray 0x0C (decodes to
                                                                 ``bytes``)
``Vector``                AVM+ switch, then AMF3                 vector 0x0D/0x0E/0x0F/0x10
``Dictionary``            AVM+ switch, then AMF3                 dictionary 0x11
``AVMPlus(value)``        avmplus 0x11, then ``value`` in AMF3;  ``value`` itself (already
                          decodes to the plain value             AMF3)
(an object met again)     reference 0x07 to the first one        object reference
========================  =====================================  ===========================

Notes on the mapping
    ``bool`` is tested before ``int``: ``True`` is a boolean, never the number 1.
    Integers beyond 2**53 lose precision as doubles; beyond the double range they
    are a LocalProtocolError.  Member names must be ``str``; a member named ``""`` is
    written as an empty property name in AMF0 and as a sealed member in AMF3 (where
    an empty dynamic name would end the object).  An AMF0 typed object with an empty
    class name decodes to a plain ``dict``.  Dates are milliseconds in a double: a
    datetime's sub-millisecond part survives only as far as the double's precision
    allows; a NaN, infinite or out-of-range (outside years 1..9999) date is a
    RemoteProtocolError.

References and identity
    A complex value (object, ECMA array, strict array, typed object; in AMF3 also
    arrays, dates, byte arrays, XML, vectors and dictionaries) that an encoder meets a
    second time *by identity* is written as a reference, so shared and cyclic
    structures encode in finite space.  A decoder turns a reference into the very same
    Python object it decoded before, so cycles survive a round trip (compare such
    values with care: ``==`` on a cyclic structure recurses without end).

Reference table scope
    One call of ``decode()``/``encode()`` (one RTMP message body) is one serialization
    context.  The AMF0 reference table, and the AMF3 string, object and trait tables
    used after AVM+ markers, live for the whole call: they are *not* reset at each
    AVM+ marker.  Neither specification says so in as many words: AMF0 (3.1) only says
    that the object after the marker is AMF3, and AMF3 defines its tables for the
    object graph being serialized, which for a NetConnection is a whole header or
    message body, not one value.  Data written by Flash Player refers back across AVM+
    markers (Ruffle's rust-flash-lso reader was fixed for exactly that), and PyAMF
    keeps one AMF3 context per AMF0 context.  ``decode_value()``/``encode_value()``
    start a fresh context each call; the ``AMF0Decoder``/``AMF3Decoder`` (and encoder)
    classes keep theirs across calls.

Safety
    Class names are data: a typed object becomes :class:`TypedObject`, never an
    instance of a Python class.  XML is text and is never parsed.
"""

from __future__ import annotations

import enum
from typing import Any, Literal

import attrs

__all__ = [
    "MOVIECLIP",
    "RECORDSET",
    "UNDEFINED",
    "UNSUPPORTED",
    "XML",
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
]


class Undefined(enum.Enum):
    """The type of :data:`UNDEFINED`, ActionScript's ``undefined`` (distinct from ``None``)."""

    UNDEFINED = "undefined"

    def __repr__(self) -> str:
        return "UNDEFINED"


class Unsupported(enum.Enum):
    """The type of :data:`UNSUPPORTED`, the AMF0 ``unsupported`` marker (0x0D)."""

    UNSUPPORTED = "unsupported"

    def __repr__(self) -> str:
        return "UNSUPPORTED"


class MovieClip(enum.Enum):
    """The type of :data:`MOVIECLIP`, the reserved AMF0 ``movieclip`` marker (0x04)."""

    MOVIECLIP = "movieclip"

    def __repr__(self) -> str:
        return "MOVIECLIP"


class RecordSet(enum.Enum):
    """The type of :data:`RECORDSET`, the reserved AMF0 ``recordset`` marker (0x0E)."""

    RECORDSET = "recordset"

    def __repr__(self) -> str:
        return "RECORDSET"


#: ActionScript ``undefined``: AMF0 0x06, AMF3 0x00.
UNDEFINED = Undefined.UNDEFINED
#: The AMF0 ``unsupported`` marker (0x0D); it has no body.
UNSUPPORTED = Unsupported.UNSUPPORTED
#: The AMF0 ``movieclip`` marker (0x04, reserved); it has no body.
MOVIECLIP = MovieClip.MOVIECLIP
#: The AMF0 ``recordset`` marker (0x0E, reserved); it has no body.
RECORDSET = RecordSet.RECORDSET


class ECMAArray(dict[str, Any]):
    """An AMF0 ECMA array (0x08): an associative array, as a ``dict`` with ``str`` keys.

    The encoder writes the number of entries as the associative count.  The decoder
    ignores that count, which encoders in the wild (FFmpeg among them) get wrong, and
    reads entries up to the object-end marker.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"ECMAArray({dict.__repr__(self)})"


class XMLDocument(str):
    """An XML document (AMF0 0x0F, AMF3 0x07), kept as text and never parsed."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"XMLDocument({str.__repr__(self)})"


class XML(str):
    """An E4X XML value (AMF3 0x0B), kept as text and never parsed."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"XML({str.__repr__(self)})"


def _instance_of(kind: type | tuple[type, ...]) -> Any:
    def check(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, kind):
            raise TypeError(f"{attribute.name} must be {kind!r}, not {type(value).__name__}")

    return check


def _nonempty_str(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{attribute.name} must be a non-empty str, not {value!r}")


@attrs.frozen(kw_only=True)
class TypedObject:
    """An object of a named ActionScript class (AMF0 0x10; AMF3 object with a class name).

    The class name is only data: trio-rtmp never maps it to a Python class or creates
    anything from it.  ``fields`` holds the members in wire order; the dict may be
    filled after construction (a decoder does so, so members can refer to the object).
    An object with an empty class name is anonymous and maps to a plain ``dict``.
    """

    #: The ActionScript class name (alias), non-empty.
    class_name: str = attrs.field(validator=_nonempty_str)
    #: The members, by name.
    fields: dict[str, Any] = attrs.field(factory=dict, validator=_instance_of(dict))


@attrs.frozen(kw_only=True)
class MixedArray:
    """An AMF3 array with an associative part (string keys) besides its dense part.

    A purely dense AMF3 array decodes to a ``list``; this type appears when the
    associative part is not empty (so one with an empty ``assoc`` comes back as a
    ``list``).  The associative part is written first; its keys cannot be empty.
    """

    #: The dense (ordinal) part, indices 0..n-1.
    dense: list[Any] = attrs.field(factory=list, validator=_instance_of(list))
    #: The associative part, by key.
    assoc: dict[str, Any] = attrs.field(factory=dict, validator=_instance_of(dict))


#: The element kind of a :class:`Vector`.
VectorKind = Literal["int", "uint", "double", "object"]

_INT32_MIN, _INT32_MAX, _UINT32_MAX = -(2**31), 2**31 - 1, 2**32 - 1


def _check_vector_kind(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if value not in ("int", "uint", "double", "object"):
        raise ValueError(f"Vector kind must be int, uint, double or object, not {value!r}")


@attrs.frozen(kw_only=True)
class Vector:
    """An AMF3 vector (Flash Player 10): ``Vector.<int>``, ``<uint>``, ``<Number>`` or objects.

    ``int`` items are ints in -2**31..2**31-1, ``uint`` items ints in 0..2**32-1,
    ``double`` items floats; ``object`` items are any values and ``type_name`` names
    their class (``"*"`` for any; empty for the primitive kinds).
    """

    #: Which vector marker: "int" (0x0D), "uint" (0x0E), "double" (0x0F), "object" (0x10).
    kind: VectorKind = attrs.field(validator=_check_vector_kind)
    #: The items.
    items: list[Any] = attrs.field(factory=list, validator=_instance_of(list))
    #: Whether the vector has a fixed length.
    fixed: bool = attrs.field(default=False, validator=_instance_of(bool))
    #: The class name of the items of an object vector; empty for the primitive kinds.
    type_name: str = attrs.field(default="", validator=_instance_of(str))

    def __attrs_post_init__(self) -> None:
        kind = self.kind
        if kind != "object" and self.type_name:
            raise ValueError(f"a {kind} Vector has no type_name")
        if kind == "int" or kind == "uint":
            low, high = (_INT32_MIN, _INT32_MAX) if kind == "int" else (0, _UINT32_MAX)
            for item in self.items:
                if type(item) is not int or not low <= item <= high:
                    raise ValueError(f"{item!r} is not a valid item of a {kind} Vector")
        elif kind == "double":
            for item in self.items:
                if not isinstance(item, (float, int)) or isinstance(item, bool):
                    raise TypeError(f"{item!r} is not a valid item of a double Vector")


@attrs.frozen(kw_only=True)
class Dictionary:
    """An AMF3 dictionary (0x11): key/value pairs whose keys may be any value.

    The pairs are a list of tuples, not a ``dict``, because keys may be unhashable
    (objects, arrays) or repeated.
    """

    #: The pairs, in wire order.
    items: list[tuple[Any, Any]] = attrs.field(factory=list, validator=_instance_of(list))
    #: Whether the ActionScript dictionary holds its keys weakly.
    weak_keys: bool = attrs.field(default=False, validator=_instance_of(bool))


@attrs.frozen
class AVMPlus:
    """Encode ``value`` in AMF3 inside AMF0: the AVM+ marker (0x11), then the AMF3 value.

    Only an encoder input: decoding an AVM+ marker yields the plain Python value.  In
    AMF3 the wrapper is transparent.  ``AVMPlus(value)`` and ``AVMPlus(value=...)`` both work.
    """

    #: The value to write in AMF3.
    value: Any
