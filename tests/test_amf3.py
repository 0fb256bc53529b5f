"""AMF3 codec: fixed vectors from the specification, reference tables, properties, limits."""

from __future__ import annotations

import math
import struct
from datetime import UTC, datetime
from typing import Any

import pytest
from amf_support import (
    amf3_leaves,
    amf3_values,
    nested_lists,
    object_graphs,
    same_graph,
    same_value,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trio_rtmp.core import amf3
from trio_rtmp.core.amf import (
    MOVIECLIP,
    RECORDSET,
    UNDEFINED,
    UNSUPPORTED,
    XML,
    AVMPlus,
    Dictionary,
    ECMAArray,
    MixedArray,
    TypedObject,
    Vector,
    XMLDocument,
)
from trio_rtmp.core.config import DEFAULT_LIMITS, Limits
from trio_rtmp.core.errors import LocalProtocolError, RemoteProtocolError

MAX_DEPTH = DEFAULT_LIMITS.max_amf_depth


def h(text: str) -> bytes:
    """Bytes from spaced hex, so vectors can be laid out field by field."""
    return bytes.fromhex(text)


# -- U29 integers (AMF3 specification 1.3.1), by hand ------------------------------------
#
#   0x00000000 - 0x0000007F : 0xxxxxxx
#   0x00000080 - 0x00003FFF : 1xxxxxxx 0xxxxxxx
#   0x00004000 - 0x001FFFFF : 1xxxxxxx 1xxxxxxx 0xxxxxxx
#   0x00200000 - 0x3FFFFFFF : 1xxxxxxx 1xxxxxxx 1xxxxxxx xxxxxxxx
# and an integer is 29-bit two's complement.

INTEGERS: list[tuple[int, str]] = [
    (0, "00"),
    (1, "01"),
    (0x7F, "7F"),
    (0x80, "81 00"),
    (0xFF, "81 7F"),
    (0x3FFF, "FF 7F"),
    (0x4000, "81 80 00"),
    (0x1FFFFF, "FF FF 7F"),
    (0x200000, "80 C0 80 00"),
    (0x3FFFFF, "80 FF FF FF"),
    (0xFFFFFFF, "BF FF FF FF"),  # the largest integer, 2**28 - 1
    (-1, "FF FF FF FF"),
    (-2, "FF FF FF FE"),
    (-0x80, "FF FF FF 80"),
    (-(2**28), "C0 80 80 00"),  # the smallest integer
]


@pytest.mark.parametrize(("value", "u29"), INTEGERS)
def test_integer_vectors(value: int, u29: str) -> None:
    data = h("04") + h(u29)
    assert amf3.encode_value(value) == data
    assert amf3.decode(data) == [value]
    assert type(amf3.decode(data)[0]) is int


@pytest.mark.parametrize("value", [2**28, -(2**28) - 1, 2**31, -(2**40), 2**53])
def test_integers_outside_29_bits_encode_as_double(value: int) -> None:
    data = amf3.encode_value(value)
    assert data == h("05") + struct.pack(">d", value)
    [decoded] = amf3.decode(data)
    assert type(decoded) is float and decoded == value


def test_u29_lengths_use_the_same_encoding() -> None:
    # A string of 0x40 bytes has the header (0x40 << 1) | 1 = 0x81: two bytes, 81 01.
    text = "x" * 0x40
    assert amf3.encode_value(text) == h("06 81 01") + text.encode()
    assert amf3.decode(h("06 81 01") + text.encode()) == [text]
    # 0x2000 bytes: header 0x4001 needs three bytes, 81 80 01.
    big = b"\x01" * 0x2000
    assert amf3.encode_value(big) == h("0C 81 80 01") + big


# -- fixed vectors ----------------------------------------------------------------------

VECTORS: list[tuple[Any, str]] = [
    (UNDEFINED, "00"),
    (None, "01"),
    (False, "02"),
    (True, "03"),
    (1.5, "05 3F F8 00 00 00 00 00 00"),
    (1.0, "05 3F F0 00 00 00 00 00 00"),  # a float stays a double
    ("", "06 01"),
    ("abc", "06 07 61 62 63"),
    (XMLDocument("<a/>"), "07 09 3C 61 2F 3E"),
    (datetime(2009, 2, 13, 23, 31, 30, tzinfo=UTC), "08 01 42 71 F7 1F B0 45 00 00"),
    ([], "09 01 01"),
    ([1, "a"], "09 05 01 04 01 06 03 61"),
    (MixedArray(dense=[1], assoc={"k": "v"}), "09 03 03 6B 06 03 76 01 04 01"),
    (MixedArray(dense=[], assoc={"k": None}), "09 01 03 6B 01 01"),
    ({}, "0A 0B 01 01"),  # traits: 0 sealed, dynamic, inline; class name ""
    ({"a": 1}, "0A 0B 01 03 61 04 01 01"),
    # Sealed traits (0x13: one member, not dynamic), class "Foo", member "x".
    (TypedObject(class_name="Foo", fields={"x": 1}), "0A 13 07 46 6F 6F 03 78 04 01"),
    (TypedObject(class_name="Foo", fields={}), "0A 03 07 46 6F 6F"),
    (XML("<x/>"), "0B 09 3C 78 2F 3E"),
    (b"\x01\x02\x03", "0C 07 01 02 03"),
    (b"", "0C 01"),
    (Vector(kind="int", items=[1, -1]), "0D 05 00 00 00 00 01 FF FF FF FF"),
    (Vector(kind="uint", items=[2**32 - 1], fixed=True), "0E 03 01 FF FF FF FF"),
    (Vector(kind="double", items=[0.5]), "0F 03 00 3F E0 00 00 00 00 00 00"),
    (Vector(kind="object", items=["a"], type_name="*"), "10 03 00 03 2A 06 03 61"),
    (Vector(kind="object", items=[], type_name=""), "10 01 00 01"),
    (Dictionary(items=[("k", 1)]), "11 03 00 06 03 6B 04 01"),
    (Dictionary(items=[], weak_keys=True), "11 01 01"),
]


@pytest.mark.parametrize(("value", "data"), VECTORS)
def test_fixed_vectors(value: Any, data: str) -> None:
    raw = h(data)
    assert amf3.encode_value(value) == raw
    decoded, end = amf3.decode_value(raw)
    assert end == len(raw)
    assert same_value(value, decoded)


def test_string_reference_table() -> None:
    # "abc" is string 0; the second use is a reference, U29S-ref 0 << 1 = 00.
    data = h("09 05 01 06 07 61 62 63 06 00")
    assert amf3.encode_value(["abc", "abc"]) == data
    assert amf3.decode(data) == [["abc", "abc"]]
    # The empty string is never in the table: "" then "x": "x" is string 0.
    assert amf3.encode_value(["", "x", "x"]) == h("09 07 01 06 01 06 03 78 06 00")
    # Member names share the table with values: "a" is written once.
    assert amf3.encode_value({"a": "a"}) == h("0A 0B 01 03 61 06 00 01")


def test_object_reference_table() -> None:
    shared: dict[str, Any] = {}
    # The array is object 0, the dict object 1: the second use is U29O-ref 1 << 1 = 02.
    data = h("09 05 01 0A 0B 01 01 0A 02")
    assert amf3.encode_value([shared, shared]) == data
    [decoded] = amf3.decode(data)
    assert decoded[0] is decoded[1]
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    assert amf3.encode_value(cyclic) == h("09 03 01 09 00")
    [decoded] = amf3.decode(h("09 03 01 09 00"))
    assert decoded[0] is decoded


def test_trait_reference_table() -> None:
    # The second anonymous object reuses trait 0: U29O-traits-ref (0 << 2) | 1 = 01.
    data = h("09 05 01 0A 0B 01 03 61 04 01 01 0A 01 00 04 02 01")
    assert amf3.encode_value([{"a": 1}, {"a": 2}]) == data
    assert amf3.decode(data) == [[{"a": 1}, {"a": 2}]]
    first = TypedObject(class_name="P", fields={"x": 1})
    second = TypedObject(class_name="P", fields={"x": 2})
    data = amf3.encode_value([first, second])
    assert data == h("09 05 01 0A 13 03 50 03 78 04 01 0A 01 04 02")
    assert amf3.decode(data) == [[first, second]]


def test_dates_xml_and_byte_arrays_are_objects_for_references() -> None:
    when = datetime(2020, 1, 1, tzinfo=UTC)
    blob = b"xy"
    doc = XMLDocument("<d/>")
    value = [when, blob, doc, when, blob, doc]
    data = amf3.encode_value(value)
    assert data.endswith(h("08 02 0C 04 07 06"))  # references 1, 2, 3
    [decoded] = amf3.decode(data)
    assert decoded[0] is decoded[3] and decoded[1] is decoded[4] and decoded[2] is decoded[5]


def test_sealed_and_dynamic_members_merge() -> None:
    # Class "C", one sealed member "s", dynamic (0x1B), then dynamic member "d".
    data = h("0A 1B 03 43 03 73 04 01 03 64 04 02 01")
    [value] = amf3.decode(data)
    assert value == TypedObject(class_name="C", fields={"s": 1, "d": 2})
    # Anonymous traits with sealed members decode to a dict.
    [value] = amf3.decode(h("0A 1B 01 03 73 04 01 03 64 04 02 01"))
    assert value == {"s": 1, "d": 2}


def test_empty_member_name_in_a_dict() -> None:
    # "" cannot be a dynamic member (it ends them): the encoder makes it sealed.
    data = amf3.encode_value({"": 1, "a": 2})
    assert data == h("0A 1B 01 01 04 01 03 61 04 02 01")
    assert amf3.decode(data) == [{"": 1, "a": 2}]
    with pytest.raises(LocalProtocolError):
        amf3.encode_value(MixedArray(dense=[], assoc={"": 1}))


def test_ecma_array_encodes_as_associative_array() -> None:
    data = amf3.encode_value(ECMAArray(k=1))
    assert data == h("09 01 03 6B 04 01 01")
    assert amf3.decode(data) == [MixedArray(dense=[], assoc={"k": 1})]


def test_avmplus_is_transparent_in_amf3() -> None:
    assert amf3.encode_value(AVMPlus([1])) == amf3.encode_value([1])


def test_externalizable_objects_are_refused() -> None:
    # Traits 0x07: inline, externalizable, class "Ext", then an opaque body.
    with pytest.raises(RemoteProtocolError, match="externalizable"):
        amf3.decode(h("0A 07 07 45 78 74 01 02 03"))


def test_tables_shared_within_one_call_fresh_between_calls() -> None:
    data = amf3.encode("abc", "abc")
    assert data == h("06 07 61 62 63 06 00")
    assert amf3.decode(data) == ["abc", "abc"]
    with pytest.raises(RemoteProtocolError, match="string reference"):
        amf3.decode_value(data, 5)
    decoder = amf3.AMF3Decoder()
    assert decoder.decode_value(data) == ("abc", 5)
    assert decoder.decode_value(data, 5) == ("abc", 7)
    decoder.reset()
    with pytest.raises(RemoteProtocolError):
        decoder.decode_value(data, 5)
    encoder = amf3.AMF3Encoder()
    assert encoder.encode_value("abc") + encoder.encode_value("abc") == data
    encoder.reset()
    assert encoder.encode_value("abc") == h("06 07 61 62 63")


@pytest.mark.parametrize(
    "data",
    [
        "06 02",  # string reference 1
        "06 00",  # string reference 0, empty table
        "0A 02",  # object reference 1
        "09 00",  # object reference 0
        "08 00",  # date as an object reference
        "0C 02",  # byte array reference
        "0A 05",  # trait reference 1
        "0A 01",  # trait reference 0, empty table
        "0D 02",  # vector reference
        "11 00",  # dictionary reference
    ],
)
def test_references_out_of_range(data: str) -> None:
    with pytest.raises(RemoteProtocolError, match="reference"):
        amf3.decode(h(data))


# -- round trips ------------------------------------------------------------------------


@settings(max_examples=250)
@given(amf3_values)
def test_round_trip(value: Any) -> None:
    data = amf3.encode_value(value)
    decoded, end = amf3.decode_value(data)
    assert end == len(data)
    assert same_value(value, decoded)
    assert amf3.encode_value(decoded) == data


@settings(max_examples=100)
@given(st.lists(amf3_values, max_size=4))
def test_round_trip_sequences(values: list[Any]) -> None:
    assert same_value(values, amf3.decode(amf3.encode(*values)))


@settings(max_examples=200)
@given(object_graphs(("dict", "list", "typed", "mixed", "vector", "dictionary"), amf3_leaves))
def test_shared_objects_and_cycles(root: Any) -> None:
    [decoded] = amf3.decode(amf3.encode_value(root))
    assert same_graph(root, decoded)


@settings(max_examples=200)
@given(st.integers(-(2**28), 2**28 - 1))
def test_every_29_bit_integer(value: int) -> None:
    data = amf3.encode_value(value)
    assert data[0] == 0x04 and len(data) <= 5
    assert amf3.decode(data) == [value]


def test_dates() -> None:
    for when in (datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC)):
        assert amf3.decode(amf3.encode_value(when)) == [when]
    naive = datetime(2001, 2, 3, 4, 5, 6)
    assert amf3.decode(amf3.encode_value(naive)) == [naive.replace(tzinfo=UTC)]
    for ms in (math.nan, math.inf, -math.inf, 1e18):
        with pytest.raises(RemoteProtocolError, match="date"):
            amf3.decode(h("08 01") + struct.pack(">d", ms))


# -- streaming-style checks -------------------------------------------------------------


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(amf3_values)
def test_every_truncation_is_a_remote_error(value: Any) -> None:
    data = amf3.encode_value(value)
    for cut in range(len(data)):
        with pytest.raises(RemoteProtocolError):
            amf3.decode_value(data[:cut])
        if cut:
            with pytest.raises(RemoteProtocolError):
                amf3.decode(data[:cut])


@settings(max_examples=50)
@given(amf3_values, st.binary(min_size=1, max_size=8))
def test_trailing_bytes_are_left_alone(value: Any, trailing: bytes) -> None:
    data = amf3.encode_value(value)
    decoded, end = amf3.decode_value(data + trailing)
    assert end == len(data) and same_value(value, decoded)


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_bytes_like_inputs(kind: Any) -> None:
    data = amf3.encode_value({"key": ["v", 1, 2.5, b"raw", XML("<x/>")]})
    assert amf3.decode(kind(data)) == amf3.decode(data)
    assert amf3.decode_value(kind(b"\x01" + data), 1) == (amf3.decode(data)[0], len(data) + 1)


# -- hostile input ----------------------------------------------------------------------


@settings(max_examples=1000)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_protocol_errors(data: bytes) -> None:
    try:
        values = amf3.decode(data)
    except RemoteProtocolError:
        return
    assert same_value(values, amf3.decode(amf3.encode(*values)), lenient_numbers=True)


@settings(max_examples=300)
@given(amf3_values, st.data())
def test_mutated_encodings_raise_only_protocol_errors(value: Any, data: st.DataObject) -> None:
    blob = bytearray(amf3.encode_value(value))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(blob) - 1))
        blob[position] = data.draw(st.integers(0, 255))
    try:
        values = amf3.decode(bytes(blob))
    except RemoteProtocolError:
        return
    assert same_value(values, amf3.decode(amf3.encode(*values)), lenient_numbers=True)


@pytest.mark.parametrize(
    "unit",
    [
        h("09 03 01"),  # dense array of one
        h("09 01 03 61"),  # associative array, member "a" holding the next unit
        h("0A 0B 01 03 61"),  # anonymous object, member "a"
        h("10 03 00 01"),  # object vector of one
        h("11 03 00"),  # dictionary of one pair: the key nests
    ],
)
def test_deep_nesting_is_a_remote_error_not_recursion(unit: bytes) -> None:
    with pytest.raises(RemoteProtocolError, match="nesting"):
        amf3.decode(unit * 100_000)


@pytest.mark.parametrize("marker", [b"\x09", b"\x0a", b"\x10", b"\x11"])
def test_runs_of_container_markers(marker: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        amf3.decode(marker * 100_000)


def test_depth_limit_is_exact() -> None:
    deepest = nested_lists(MAX_DEPTH)
    data = amf3.encode_value(deepest)
    assert data == h("09 03 01") * (MAX_DEPTH - 1) + h("09 01 01")
    assert amf3.decode(data) == [deepest]
    with pytest.raises(RemoteProtocolError, match="nesting"):
        amf3.decode(h("09 03 01") * MAX_DEPTH + h("09 01 01"))
    with pytest.raises(LocalProtocolError, match="nesting"):
        amf3.encode_value([deepest])


def test_encoder_deep_nesting_is_a_local_error_not_recursion() -> None:
    for wrap in (
        lambda inner: [inner],
        lambda inner: {"d": inner},
        lambda inner: TypedObject(class_name="T", fields={"d": inner}),
        lambda inner: MixedArray(dense=[], assoc={"d": inner}),
        lambda inner: Vector(kind="object", items=[inner]),
        lambda inner: Dictionary(items=[(inner, 1)]),
    ):
        deep: Any = None
        for _ in range(100_000):
            deep = wrap(deep)
        with pytest.raises(LocalProtocolError, match="nesting"):
            amf3.encode_value(deep)


def test_counts_checked_before_allocating() -> None:
    # A dense array announcing 2**28 - 1 items: over the limit.
    with pytest.raises(RemoteProtocolError, match="limit"):
        amf3.decode(h("09 FF FF FF FF 01"))
    limits = Limits(max_amf_collection_size=2**29)
    for data in (
        "09 FF FF FF FF 01 01",  # dense array: more items than bytes
        "0D 83 FF FF FF 00",  # int vector
        "0F 81 01 00",  # double vector of 64: header (64 << 1) | 1 is U29 81 01
        "10 81 01 00 01",  # object vector of 64
        "11 81 01 00",  # dictionary of 64 pairs
        "0A 83 FF FF F3 01",  # inline traits (low bits 0011) with many sealed members
        "06 81 01 61",  # string of 64 bytes
        "0C 81 01",  # byte array of 64 bytes
        "07 81 01",  # XML document of 64 bytes
    ):
        with pytest.raises(RemoteProtocolError, match="truncated"):
            amf3.decode(h(data), limits=limits)
    small = Limits(max_amf_collection_size=2)
    assert amf3.decode(h("09 05 01 01 01"), limits=small) == [[None, None]]
    for data in (
        "09 07 01 01 01 01",
        "0D 07 00" + " 00" * 12,
        "10 07 00 01 01 01 01",
        "11 07 00" + " 01" * 6,
        "0A 3B 01 03 61 03 62 03 63 01 01 01",  # three sealed members
    ):
        with pytest.raises(RemoteProtocolError, match="exceeds the limit"):
            amf3.decode(h(data), limits=small)
    # Three distinct dynamic or associative names: the string table (same limit) is
    # full before the member count is.
    for data in (
        "0A 0B 01 03 61 01 03 62 01 03 63 01 01",
        "09 01 03 61 01 03 62 01 03 63 01 01",
    ):
        with pytest.raises(RemoteProtocolError, match="string reference table"):
            amf3.decode(h(data), limits=small)


def test_reference_tables_limited() -> None:
    # decode() shares the tables between top-level values, so they grow past any one
    # collection: three entries are allowed, the fourth is refused.
    limits = Limits(max_amf_collection_size=3)
    assert amf3.decode(h("06 03 61 06 03 62 06 03 63"), limits=limits) == ["a", "b", "c"]
    with pytest.raises(RemoteProtocolError, match="string reference table"):
        amf3.decode(h("06 03 61 06 03 62 06 03 63 06 03 64"), limits=limits)
    assert amf3.decode(h("09 01 01") * 3, limits=limits) == [[], [], []]
    with pytest.raises(RemoteProtocolError, match="object reference table"):
        amf3.decode(h("09 01 01") * 4, limits=limits)
    # Four inline traits, all of class "a" (a string reference after the first).
    with pytest.raises(RemoteProtocolError, match="trait reference table"):
        amf3.decode(h("0A 03 03 61") + h("0A 03 00") * 3, limits=limits)


@pytest.mark.parametrize(
    "data",
    [
        "06 05 C3 28",  # string
        "07 03 FF",  # XML document
        "0B 03 FF",  # XML
        "0A 0B 01 03 FF 01 01",  # member name
        "0A 03 03 FF",  # class name
    ],
)
def test_invalid_utf8_is_a_remote_error(data: str) -> None:
    with pytest.raises(RemoteProtocolError, match="UTF-8"):
        amf3.decode(h(data))


@pytest.mark.parametrize("marker", [0x12, 0x13, 0x80, 0xFF])
def test_unknown_markers(marker: int) -> None:
    with pytest.raises(RemoteProtocolError, match="marker"):
        amf3.decode(bytes([marker]))


# -- the encoder refuses what AMF3 cannot say -------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        object(),
        {1: 2},
        UNSUPPORTED,
        MOVIECLIP,
        RECORDSET,
        "\udc80",
        {"k": {3.5}},
        TypedObject(class_name="T", fields={1: 2}),  # type: ignore[dict-item]
        Dictionary(items=[(1, 2, 3)]),  # type: ignore[list-item]
        10**400,
    ],
)
def test_unencodable_values_are_local_errors(value: Any) -> None:
    with pytest.raises(LocalProtocolError):
        amf3.encode_value(value)


def test_vectors_are_validated() -> None:
    with pytest.raises(ValueError):
        Vector(kind="int", items=[2**31])
    with pytest.raises(ValueError):
        Vector(kind="uint", items=[-1])
    with pytest.raises(ValueError):
        Vector(kind="int", items=[True])
    with pytest.raises(TypeError):
        Vector(kind="double", items=["x"])
    with pytest.raises(ValueError):
        Vector(kind="int", type_name="x")
    with pytest.raises(ValueError):
        Vector(kind="bytes")  # type: ignore[arg-type]
    # Items changed after construction are checked when encoding.
    vector = Vector(kind="int", items=[1])
    vector.items.append(2**40)
    with pytest.raises(LocalProtocolError):
        amf3.encode_value(vector)
    vector.items[-1] = 1.5
    with pytest.raises(LocalProtocolError):
        amf3.encode_value(vector)


def test_failed_encode_leaves_the_context_unchanged() -> None:
    encoder = amf3.AMF3Encoder()
    first = encoder.encode_value(["kept", {"k": 1}])
    out: list[bytes] = [b"before"]
    with pytest.raises(LocalProtocolError):
        encoder.encode_into(["new string", {"k": 2}, object()], out, 0)
    assert out == [b"before"]
    # "new string" and the second object were rolled back: it is written in full again,
    # and the next new object gets the index after the earlier ones.
    again = encoder.encode_value(["new string", "kept"])
    assert again == h("09 05 01 06 15") + b"new string" + h("06 00")
    decoder = amf3.AMF3Decoder()
    assert decoder.decode_value(first)[0] == ["kept", {"k": 1}]
    assert decoder.decode_value(again)[0] == ["new string", "kept"]


@pytest.mark.parametrize("raw", [h("06 05 C3 28"), h("07 03 FF"), h("09 05 01 04"), h("01")])
def test_caller_buffer_stays_resizable(raw: bytes) -> None:
    buffer = bytearray(raw)
    for call in (amf3.decode, amf3.decode_value, amf3.AMF3Decoder().decode_value):
        error = None
        try:
            call(buffer)
        except RemoteProtocolError as exc:
            error = exc
        buffer.append(0)  # raises BufferError while an export is alive
        del buffer[-1]
        assert (error is None) == (raw == h("01"))
