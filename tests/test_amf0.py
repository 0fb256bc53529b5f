"""AMF0 codec: fixed vectors from the specification, FFmpeg's connect, properties, limits."""

from __future__ import annotations

import math
import struct
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from amf_support import (
    amf0_leaves,
    amf0_values,
    amf0_values_with_avmplus,
    amf3_leaves,
    nested_lists,
    object_graphs,
    same_graph,
    same_value,
)
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from trio_rtmp.core import amf0
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


def utf8(text: str) -> bytes:
    """A UTF-8 string with its U16 length, as object keys and AMF0 strings carry it."""
    raw = text.encode()
    return struct.pack(">H", len(raw)) + raw


# -- fixed vectors, computed by hand from the AMF0 specification ------------------------

VECTORS: list[tuple[Any, bytes]] = [
    (1.0, h("00 3F F0 00 00 00 00 00 00")),
    (-2.5, h("00 C0 04 00 00 00 00 00 00")),
    (0.0, h("00 00 00 00 00 00 00 00 00")),
    (-0.0, h("00 80 00 00 00 00 00 00 00")),
    (math.inf, h("00 7F F0 00 00 00 00 00 00")),
    (True, h("01 01")),
    (False, h("01 00")),
    ("", h("02 00 00")),
    ("live", h("02 00 04 6C 69 76 65")),
    ("é€", h("02 00 05 C3 A9 E2 82 AC")),
    ({}, h("03 00 00 09")),
    ({"a": 1.0}, h("03 00 01 61 00 3F F0 00 00 00 00 00 00 00 00 09")),
    ({"": "x"}, h("03 00 00 02 00 01 78 00 00 09")),
    (MOVIECLIP, h("04")),
    (None, h("05")),
    (UNDEFINED, h("06")),
    (ECMAArray(), h("08 00 00 00 00 00 00 09")),
    (ECMAArray(k=True), h("08 00 00 00 01 00 01 6B 01 01 00 00 09")),
    ([], h("0A 00 00 00 00")),
    (["a", 2.0], h("0A 00 00 00 02 02 00 01 61 00 40 00 00 00 00 00 00 00")),
    # 2009-02-13T23:31:30Z is 1234567890000 ms = 0x4271F71FB0450000 as a double.
    (datetime(2009, 2, 13, 23, 31, 30, tzinfo=UTC), h("0B 42 71 F7 1F B0 45 00 00 00 00")),
    (datetime(1970, 1, 1, tzinfo=UTC), h("0B 00 00 00 00 00 00 00 00 00 00")),
    (UNSUPPORTED, h("0D")),
    (RECORDSET, h("0E")),
    (XMLDocument("<a/>"), h("0F 00 00 00 04 3C 61 2F 3E")),
    (
        TypedObject(class_name="Foo", fields={"x": None}),
        h("10 00 03 46 6F 6F 00 01 78 05 00 00 09"),
    ),
    # AVM+: the next value is AMF3 (integer 5, AMF3 string "ab", AMF3 true).
    (AVMPlus(5), h("11 04 05")),
    (AVMPlus("ab"), h("11 06 05 61 62")),
    (AVMPlus(True), h("11 03")),
]


@pytest.mark.parametrize(("value", "data"), VECTORS)
def test_fixed_vectors_encode(value: Any, data: bytes) -> None:
    assert amf0.encode_value(value) == data
    assert amf0.encode(value) == data


@pytest.mark.parametrize(("value", "data"), VECTORS)
def test_fixed_vectors_decode(value: Any, data: bytes) -> None:
    decoded, end = amf0.decode_value(data)
    assert end == len(data)
    assert same_value(value, decoded)
    assert same_value([value], amf0.decode(data))


def test_nan_round_trips() -> None:
    data = amf0.encode_value(math.nan)
    assert data[0] == 0 and len(data) == 9
    assert math.isnan(amf0.decode(data)[0])


def test_long_string_is_chosen_by_utf8_length() -> None:
    # 65535 bytes of UTF-8 still fit the U16 length; one more needs the long string.
    short, long = "x" * 65535, "x" * 65536
    assert amf0.encode_value(short)[:3] == h("02 FF FF")
    assert amf0.encode_value(long)[:5] == h("0C 00 01 00 00")
    # 21846 three-byte characters are 65538 bytes: long, though only 21846 characters.
    wide = "€" * 21846
    assert amf0.encode_value(wide)[:5] == h("0C 00 01 00 02")
    for text in (short, long, wide):
        assert amf0.decode(amf0.encode_value(text)) == [text]
    assert amf0.decode(h("0C 00 00 00 02 68 69")) == ["hi"]


def test_boolean_nonzero_is_true() -> None:
    assert amf0.decode(h("01 02 01 FF 01 00")) == [True, True, False]


def test_int_encodes_as_number_and_decodes_as_float() -> None:
    assert amf0.encode_value(1) == amf0.encode_value(1.0)
    [value] = amf0.decode(amf0.encode_value(3))
    assert type(value) is float and value == 3.0
    assert amf0.encode_value(True) == h("01 01")  # bool is not a number
    with pytest.raises(LocalProtocolError):
        amf0.encode_value(10**400)


def test_ecma_array_count_is_only_a_hint() -> None:
    # FFmpeg and others write counts that do not match: read to the object end.
    body = utf8("a") + h("00 3F F0 00 00 00 00 00 00") + utf8("b") + h("05") + h("00 00 09")
    for count in (0, 1, 2, 7, 0xFFFFFFFF):
        [value] = amf0.decode(h("08") + struct.pack(">I", count) + body)
        assert type(value) is ECMAArray
        assert value == {"a": 1.0, "b": None}
    # The encoder writes the real count.
    assert amf0.encode_value(ECMAArray(a=1.0, b=None))[1:5] == h("00 00 00 02")


def test_date_time_zone_is_ignored_and_written_zero() -> None:
    value = datetime(2009, 2, 13, 23, 31, 30, tzinfo=UTC)
    for zone in ("00 00", "FF C4", "01 E0"):
        assert amf0.decode(h("0B 42 71 F7 1F B0 45 00 00") + h(zone)) == [value]
    assert amf0.encode_value(value)[-2:] == h("00 00")


def test_dates_naive_means_utc_and_other_zones_convert() -> None:
    naive = datetime(2009, 2, 13, 23, 31, 30)
    aware = datetime(2009, 2, 13, 23, 31, 30, tzinfo=UTC)
    paris = datetime(2009, 2, 14, 0, 31, 30, tzinfo=timezone(timedelta(hours=1)))
    assert amf0.encode_value(naive) == amf0.encode_value(aware) == amf0.encode_value(paris)
    [decoded] = amf0.decode(amf0.encode_value(paris))
    assert decoded == aware and decoded.tzinfo is UTC


@pytest.mark.parametrize(
    "ms",
    [math.nan, math.inf, -math.inf, 1e300, -1e300, 253402300800000.0, -62135596800001.0],
)
def test_invalid_dates_are_remote_errors(ms: float) -> None:
    with pytest.raises(RemoteProtocolError):
        amf0.decode(h("0B") + struct.pack(">d", ms) + h("00 00"))


def test_date_extremes_decode() -> None:
    first = datetime(1, 1, 1, tzinfo=UTC)
    last = datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
    assert amf0.decode(amf0.encode(first, last)) == [first, last]


def test_typed_object_with_empty_class_name_is_anonymous() -> None:
    [value] = amf0.decode(h("10 00 00") + utf8("a") + h("05 00 00 09"))
    assert type(value) is dict and value == {"a": None}


def test_typed_object_needs_a_class_name() -> None:
    with pytest.raises(ValueError):
        TypedObject(class_name="", fields={})


def test_object_member_named_empty_string() -> None:
    value = {"": 1.0, "b": ""}
    assert amf0.decode(amf0.encode_value(value)) == [value]


# -- FFmpeg's connect commands ----------------------------------------------------------

# What FFmpeg 5.1 (libavformat 59.27.100) sends, written field by field from the
# specification; checked against bytes captured from ffmpeg on loopback (the port in
# tcUrl changed to 1935).
FFMPEG_PUBLISH_CONNECT = b"".join(
    [
        h("02") + utf8("connect"),
        h("00 3F F0 00 00 00 00 00 00"),  # transaction id 1.0
        h("03"),
        utf8("app") + h("02") + utf8("live"),
        utf8("type") + h("02") + utf8("nonprivate"),
        utf8("flashVer") + h("02") + utf8("FMLE/3.0 (compatible; Lavf59.27.100)"),
        utf8("tcUrl") + h("02") + utf8("rtmp://127.0.0.1:1935/live"),
        h("00 00 09"),
    ]
)
FFMPEG_PLAY_CONNECT = b"".join(
    [
        h("02") + utf8("connect"),
        h("00 3F F0 00 00 00 00 00 00"),
        h("03"),
        utf8("app") + h("02") + utf8("live"),
        utf8("flashVer") + h("02") + utf8("LNX 9,0,124,2"),
        utf8("tcUrl") + h("02") + utf8("rtmp://127.0.0.1:1935/live"),
        utf8("fpad") + h("01 00"),
        utf8("capabilities") + h("00 40 2E 00 00 00 00 00 00"),  # 15.0
        utf8("audioCodecs") + h("00 40 AF CE 00 00 00 00 00"),  # 4071.0
        utf8("videoCodecs") + h("00 40 6F 80 00 00 00 00 00"),  # 252.0
        utf8("videoFunction") + h("00 3F F0 00 00 00 00 00 00"),  # 1.0
        h("00 00 09"),
    ]
)


def test_ffmpeg_publish_connect() -> None:
    command: list[Any] = [
        "connect",
        1.0,
        {
            "app": "live",
            "type": "nonprivate",
            "flashVer": "FMLE/3.0 (compatible; Lavf59.27.100)",
            "tcUrl": "rtmp://127.0.0.1:1935/live",
        },
    ]
    assert len(FFMPEG_PUBLISH_CONNECT) == 139  # 140 on the wire with a 5-digit port
    assert amf0.decode(FFMPEG_PUBLISH_CONNECT) == command
    assert list(amf0.decode(FFMPEG_PUBLISH_CONNECT)[2]) == list(command[2])  # key order
    assert amf0.encode(*command) == FFMPEG_PUBLISH_CONNECT


def test_ffmpeg_play_connect() -> None:
    command: list[Any] = [
        "connect",
        1.0,
        {
            "app": "live",
            "flashVer": "LNX 9,0,124,2",
            "tcUrl": "rtmp://127.0.0.1:1935/live",
            "fpad": False,
            "capabilities": 15.0,
            "audioCodecs": 4071.0,
            "videoCodecs": 252.0,
            "videoFunction": 1.0,
        },
    ]
    assert amf0.decode(FFMPEG_PLAY_CONNECT) == command
    assert amf0.encode(*command) == FFMPEG_PLAY_CONNECT


def test_captured_ffmpeg_bytes() -> None:
    # Verbatim from ffmpeg 5.1 publishing to 127.0.0.1:33665 (see the vectors above).
    captured = bytes.fromhex(
        "020007636f6e6e656374003ff00000000000000300036170700200046c69766500047479706502000a"
        "6e6f6e707269766174650008666c617368566572020024464d4c452f332e302028636f6d70617469626c"
        "653b204c61766635392e32372e313030290005746355726c02001b72746d703a2f2f3132372e302e302e"
        "313a33333636352f6c697665000009"
    )
    assert captured == FFMPEG_PUBLISH_CONNECT.replace(
        utf8("rtmp://127.0.0.1:1935/live"), utf8("rtmp://127.0.0.1:33665/live")
    )


# -- round trips ------------------------------------------------------------------------


@settings(max_examples=300)
@given(amf0_values)
def test_round_trip(value: Any) -> None:
    data = amf0.encode_value(value)
    decoded, end = amf0.decode_value(data)
    assert end == len(data)
    assert same_value(value, decoded)
    # Re-encoding what was decoded gives the same bytes.
    assert amf0.encode_value(decoded) == data


@settings(max_examples=200)
@given(amf0_values_with_avmplus)
def test_round_trip_with_avmplus(value: Any) -> None:
    data = amf0.encode_value(value)
    [decoded] = amf0.decode(data)
    assert same_value(value, decoded)


@settings(max_examples=100)
@given(st.lists(amf0_values_with_avmplus, max_size=5))
def test_round_trip_sequences(values: list[Any]) -> None:
    data = amf0.encode(*values)
    assert same_value(values, amf0.decode(data))


@settings(max_examples=200)
@given(st.lists(amf0_values, max_size=5), st.integers(0, 4))
def test_leading_strings_are_the_leading_short_string_values(values: list[Any], count: int) -> None:
    data = amf0.encode(*values)
    expected: list[str] = []
    for value, marker in zip(values, _markers(data), strict=True):
        if len(expected) == count or marker != 0x02:
            break
        expected.append(value)
    assert amf0.leading_strings(data, count) == tuple(expected)


def _markers(data: bytes) -> list[int]:
    """The type marker of each top-level value of ``data``."""
    decoder = amf0.AMF0Decoder(DEFAULT_LIMITS)
    markers = []
    pos = 0
    while pos < len(data):
        markers.append(data[pos])
        _, pos = decoder.decode_at(memoryview(data), pos, len(data))
    return markers


@given(st.binary(max_size=64), st.integers(0, 3))
def test_leading_strings_never_raise(data: bytes, count: int) -> None:
    names = amf0.leading_strings(data, count)
    assert len(names) <= count
    assert all(type(name) is str for name in names)


@given(object_graphs(("dict", "list", "ecma", "typed"), amf0_leaves))
def test_shared_objects_and_cycles(root: Any) -> None:
    data = amf0.encode_value(root)
    [decoded] = amf0.decode(data)
    assert same_graph(root, decoded)


def test_references_by_hand() -> None:
    shared = {"a": 1.0}
    value = [shared, shared]
    # The strict array is reference 0, the object reference 1.
    data = h("0A 00 00 00 02") + h("03") + utf8("a") + h("00 3F F0 00 00 00 00 00 00 00 00 09")
    data += h("07 00 01")
    assert amf0.encode_value(value) == data
    [decoded] = amf0.decode(data)
    assert decoded[0] is decoded[1]
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    data = h("03") + utf8("self") + h("07 00 00") + h("00 00 09")
    assert amf0.encode_value(cyclic) == data
    [decoded] = amf0.decode(data)
    assert decoded["self"] is decoded


def test_reference_to_typed_object_and_ecma_array() -> None:
    typed = TypedObject(class_name="T", fields={})
    typed.fields["me"] = typed
    ecma = ECMAArray()
    ecma["t"] = typed
    ecma["e"] = ecma
    [decoded] = amf0.decode(amf0.encode_value([ecma, typed]))
    assert decoded[0]["e"] is decoded[0]
    assert decoded[1] is decoded[0]["t"] and decoded[1].fields["me"] is decoded[1]


@pytest.mark.parametrize("index", ["00 00", "00 05", "FF FF"])
def test_reference_out_of_range(index: str) -> None:
    with pytest.raises(RemoteProtocolError, match="reference"):
        amf0.decode(h("07") + h(index))
    # Inside an array the array itself is entry 0, so only index 0 resolves.
    if index == "00 00":
        [value] = amf0.decode(h("0A 00 00 00 01 07") + h(index))
        assert value[0] is value
    else:
        with pytest.raises(RemoteProtocolError, match="reference"):
            amf0.decode(h("0A 00 00 00 01 07") + h(index))


def test_references_span_one_decode_call_only() -> None:
    data = amf0.encode({"a": 1.0}) + h("07 00 00")
    first, second = amf0.decode(data)
    assert first is second
    # decode_value starts fresh: the reference alone is out of range.
    with pytest.raises(RemoteProtocolError):
        amf0.decode_value(data, len(amf0.encode({"a": 1.0})))
    # An AMF0Decoder keeps its table across calls.
    decoder = amf0.AMF0Decoder()
    value, end = decoder.decode_value(data)
    assert decoder.decode_value(data, end) == (value, len(data))


# -- AVM+ -------------------------------------------------------------------------------


def test_avmplus_decodes_to_the_plain_value() -> None:
    value = {"list": [1, 2.5, "x"], "bytes": b"\x00\x01"}
    data = amf0.encode_value(AVMPlus(value))
    assert data[0] == 0x11
    [decoded] = amf0.decode(data)
    assert decoded == value and type(decoded["list"][0]) is int


def test_amf3_tables_are_shared_across_avmplus_markers_of_one_message() -> None:
    # The second AMF3 string is a reference (06 00) to the first one, "abc".
    data = h("11 06 07 61 62 63 11 06 00")
    assert amf0.decode(data) == ["abc", "abc"]
    assert amf0.encode(AVMPlus("abc"), AVMPlus("abc")) == data
    # Objects too: the second AVM+ value refers to the first object (0A 00).
    shared = {"k": 1}
    data = amf0.encode(AVMPlus(shared), "between", AVMPlus(shared))
    assert data.endswith(h("11 0A 00"))
    first, middle, second = amf0.decode(data)
    assert first is second and middle == "between"
    # A fresh context (decode_value) cannot resolve the reference.
    with pytest.raises(RemoteProtocolError):
        amf0.decode_value(h("11 06 00"))


@pytest.mark.parametrize(
    "value",
    [
        XML("<x/>"),
        b"bytes",
        bytearray(b"ba"),
        MixedArray(dense=[1], assoc={"k": 2}),
        Vector(kind="int", items=[1, -1]),
        Dictionary(items=[(1, 2)]),
    ],
)
def test_amf3_only_types_go_behind_an_avmplus_marker(value: Any) -> None:
    data = amf0.encode_value(value)
    assert data[0] == 0x11
    assert same_value(
        value if not isinstance(value, bytearray) else bytes(value), amf0.decode(data)[0]
    )


@settings(max_examples=100)
@given(amf3_leaves)
def test_amf3_leaves_behind_avmplus(value: Any) -> None:
    assert same_value(value, amf0.decode(amf0.encode_value(AVMPlus(value)))[0])


# -- streaming-style checks: whole, byte by byte, trailing bytes, splits ------------------


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(amf0_values_with_avmplus)
def test_every_truncation_is_a_remote_error(value: Any) -> None:
    data = amf0.encode_value(value)
    for cut in range(len(data)):
        with pytest.raises(RemoteProtocolError):
            amf0.decode_value(data[:cut])
        if cut:
            with pytest.raises(RemoteProtocolError):
                amf0.decode(data[:cut])


def test_connect_byte_by_byte_and_with_trailing_bytes() -> None:
    data = FFMPEG_PLAY_CONNECT
    decoder_calls = 0
    offset = 0
    values = []
    # Feed growing prefixes: each value appears exactly when its last byte arrives.
    for size in range(len(data) + 1):
        try:
            value, end = amf0.decode_value(data[:size], offset)
        except RemoteProtocolError:
            continue
        decoder_calls += 1
        values.append(value)
        offset = end
    assert offset == len(data) and decoder_calls == 3
    assert values == amf0.decode(data)
    # Trailing bytes after a value are left alone by decode_value...
    value, end = amf0.decode_value(data + b"\xff\xff", 0)
    assert (value, end) == ("connect", 10)
    # ...but decode() reads everything and refuses garbage.
    with pytest.raises(RemoteProtocolError):
        amf0.decode(data + b"\xff")


@settings(max_examples=100)
@given(st.lists(amf0_values, min_size=1, max_size=4), st.data())
def test_values_split_anywhere(values: list[Any], data: st.DataObject) -> None:
    encoded = [amf0.encode_value(value) for value in values]
    blob = b"".join(encoded)
    offset = 0
    for value in values:
        decoded, offset = amf0.decode_value(blob, offset)
        assert same_value(value, decoded)
    assert offset == len(blob)
    # Any split point: the prefix decodes to a prefix of the values or raises.
    cut = data.draw(st.integers(0, len(blob)))
    boundaries = {sum(len(p) for p in encoded[:i]) for i in range(len(encoded) + 1)}
    if cut in boundaries:
        count = sorted(boundaries).index(cut)
        assert same_value(values[:count], amf0.decode(blob[:cut]))
    else:
        with pytest.raises(RemoteProtocolError):
            amf0.decode(blob[:cut])


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_bytes_like_inputs(kind: Any) -> None:
    data = kind(b"\x00\x00" + FFMPEG_PLAY_CONNECT)
    assert amf0.decode_value(data, 2) == ("connect", 12)
    assert amf0.decode_value(data, 12) == (1.0, 21)
    assert amf0.decode(kind(FFMPEG_PLAY_CONNECT)) == amf0.decode(FFMPEG_PLAY_CONNECT)
    assert amf0.decode(memoryview(FFMPEG_PLAY_CONNECT)[:]) == amf0.decode(FFMPEG_PLAY_CONNECT)


def test_bad_offsets_are_local_errors() -> None:
    for offset in (-1, 5, 1.0):
        with pytest.raises(LocalProtocolError):
            amf0.decode_value(b"\x05\x05", offset)  # type: ignore[arg-type]
    with pytest.raises(RemoteProtocolError):
        amf0.decode_value(b"\x05\x05", 2)


# -- hostile input ----------------------------------------------------------------------


@settings(max_examples=1000)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_protocol_errors(data: bytes) -> None:
    try:
        values = amf0.decode(data)
    except RemoteProtocolError:
        return
    # What parses re-encodes and parses back equal.
    again = amf0.decode(amf0.encode(*values))
    assert same_value(values, again, lenient_numbers=True)


@settings(max_examples=300)
@given(amf0_values_with_avmplus, st.data())
def test_mutated_encodings_raise_only_protocol_errors(value: Any, data: st.DataObject) -> None:
    blob = bytearray(amf0.encode_value(value))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(blob) - 1))
        blob[position] = data.draw(st.integers(0, 255))
    try:
        values = amf0.decode(bytes(blob))
    except RemoteProtocolError:
        return
    assert same_value(values, amf0.decode(amf0.encode(*values)), lenient_numbers=True)


@pytest.mark.parametrize(
    "unit",
    [
        h("03 00 01 61"),  # object, member "a" holding the next unit
        h("08 00 00 00 00 00 01 61"),  # ECMA array, member "a"
        h("10 00 01 43 00 01 61"),  # typed object "C", member "a"
        h("0A 00 00 00 01"),  # strict array of one
        h("11 09 03 01"),  # AVM+, then AMF3 dense arrays of one
    ],
)
def test_deep_nesting_is_a_remote_error_not_recursion(unit: bytes) -> None:
    with pytest.raises(RemoteProtocolError, match="nesting"):
        amf0.decode(unit * 100_000)


@pytest.mark.parametrize("marker", [b"\x03", b"\x08", b"\x0a", b"\x10", b"\x11"])
def test_runs_of_container_markers(marker: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        amf0.decode(marker * 100_000)


def test_avmplus_nesting_in_amf3() -> None:
    with pytest.raises(RemoteProtocolError, match="nesting"):
        amf0.decode(h("11") + h("09 03 01") * 100_000)
    with pytest.raises(RemoteProtocolError, match="nesting"):
        amf0.decode(h("0A 00 00 00 01") * MAX_DEPTH + h("11 04 01"))


def test_depth_limit_is_exact() -> None:
    deepest = nested_lists(MAX_DEPTH)
    data = amf0.encode_value(deepest)
    assert data == h("0A 00 00 00 01") * (MAX_DEPTH - 1) + h("0A 00 00 00 00")
    assert amf0.decode(data) == [deepest]
    with pytest.raises(RemoteProtocolError, match="nesting"):
        amf0.decode(h("0A 00 00 00 01") * MAX_DEPTH + h("0A 00 00 00 00"))
    with pytest.raises(LocalProtocolError, match="nesting"):
        amf0.encode_value([deepest])
    # The AVM+ switch counts as one level, in both directions.
    limits = Limits(max_amf_depth=3)
    encoder = amf0.AMF0Encoder(limits)
    ok = encoder.encode_value([[AVMPlus(1)]])  # list, list, switch: three levels
    assert ok == h("0A 00 00 00 01 0A 00 00 00 01 11 04 01")
    assert amf0.decode(ok, limits=limits) == [[[1]]]
    ok = encoder.encode_value([AVMPlus([])])  # list, switch, AMF3 array
    assert amf0.decode(ok, limits=limits) == [[[]]]
    with pytest.raises(LocalProtocolError, match="nesting"):
        amf0.AMF0Encoder(limits).encode_value([[AVMPlus([])]])
    with pytest.raises(LocalProtocolError, match="nesting"):
        amf0.AMF0Encoder(limits).encode_value([[[AVMPlus(1)]]])
    with pytest.raises(RemoteProtocolError, match="nesting"):
        amf0.decode(h("0A 00 00 00 01 0A 00 00 00 01 11 09 01 01"), limits=limits)
    with pytest.raises(RemoteProtocolError, match="nesting"):
        amf0.decode(h("0A 00 00 00 01") * 3 + h("11 04 01"), limits=limits)


def test_encoder_deep_nesting_is_a_local_error_not_recursion() -> None:
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(LocalProtocolError, match="nesting"):
        amf0.encode_value(deep)
    deep_dict: Any = {}
    for _ in range(100_000):
        deep_dict = {"d": deep_dict}
    with pytest.raises(LocalProtocolError, match="nesting"):
        amf0.encode(deep_dict)
    with pytest.raises(LocalProtocolError, match="nesting"):
        amf0.encode_value(AVMPlus(deep))


def test_large_depth_limit_still_never_recurses() -> None:
    limits = Limits(max_amf_depth=200_000, max_amf_collection_size=200_000)
    data = h("0A 00 00 00 01") * 100_000 + h("05")
    [value] = amf0.decode(data, limits=limits)
    for _ in range(100_000):
        value = value[0]
    assert value is None
    deep = nested_lists(100_000)
    assert amf0.AMF0Encoder(limits).encode_value(deep) == h("0A 00 00 00 01") * 99_999 + h(
        "0A 00 00 00 00"
    )


def test_strict_array_count_checked_before_allocating() -> None:
    # Over the limit...
    with pytest.raises(RemoteProtocolError, match="limit"):
        amf0.decode(h("0A FF FF FF FF") + h("05") * 10)
    # ...or over the bytes left.
    with pytest.raises(RemoteProtocolError, match="truncated"):
        amf0.decode(h("0A 00 00 10 00") + h("05") * 10)
    limits = Limits(max_amf_collection_size=3)
    assert amf0.decode(h("0A 00 00 00 03") + h("05") * 3, limits=limits) == [[None] * 3]
    with pytest.raises(RemoteProtocolError, match="limit"):
        amf0.decode(h("0A 00 00 00 04") + h("05") * 4, limits=limits)


def test_object_member_count_limited() -> None:
    limits = Limits(max_amf_collection_size=2)
    members = [utf8(name) + h("05") for name in "abc"]
    ok = h("03") + b"".join(members[:2]) + h("00 00 09")
    assert amf0.decode(ok, limits=limits) == [{"a": None, "b": None}]
    for marker in (h("03"), h("08 00 00 00 00"), h("10 00 01 43")):
        with pytest.raises(RemoteProtocolError):
            amf0.decode(marker + b"".join(members) + h("00 00 09"), limits=limits)


def test_reference_table_limited() -> None:
    limits = Limits(max_amf_collection_size=4)
    # An array holding three empty objects: four table entries, fine; five are not.
    assert amf0.decode(h("0A 00 00 00 03") + h("03 00 00 09") * 3, limits=limits)
    with pytest.raises(RemoteProtocolError, match="reference table"):
        amf0.decode(h("0A 00 00 00 04") + h("03 00 00 09") * 4, limits=limits)


@pytest.mark.parametrize(
    "data",
    [
        h("02 00 02 C3 28"),  # string
        h("0C 00 00 00 01 FF"),  # long string
        h("0F 00 00 00 02 ED A0"),  # XML document (a surrogate: invalid UTF-8)
        h("03 00 01 80 05 00 00 09"),  # object key
        h("10 00 01 C0 00 00 09"),  # class name
    ],
)
def test_invalid_utf8_is_a_remote_error(data: bytes) -> None:
    with pytest.raises(RemoteProtocolError, match="UTF-8"):
        amf0.decode(data)


@pytest.mark.parametrize("marker", [0x09, 0x12, 0x20, 0xFF])
def test_illegal_markers(marker: int) -> None:
    with pytest.raises(RemoteProtocolError):
        amf0.decode(bytes([marker]))


def test_object_end_inside_strict_array_is_illegal() -> None:
    with pytest.raises(RemoteProtocolError):
        amf0.decode(h("0A 00 00 00 01 09"))


# -- the encoder refuses what AMF0 cannot say -------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        object(),
        {1, 2},
        1j,
        {1: "int key"},
        {"k": object()},
        [object()],
        "\udc80",  # a lone surrogate has no UTF-8 form
        {"\udc80": 1.0},
        {"k" * 65536: 1.0},
        TypedObject(class_name="C" * 65536, fields={}),
        TypedObject(class_name="C", fields={2: 1.0}),  # type: ignore[dict-item]
    ],
)
def test_unencodable_values_are_local_errors(value: Any) -> None:
    with pytest.raises(LocalProtocolError):
        amf0.encode_value(value)
    with pytest.raises(LocalProtocolError):
        amf0.encode("ok", value)


def test_subclasses_and_tuples_encode() -> None:
    class Name(str):
        pass

    class Map(dict[str, Any]):
        pass

    assert amf0.decode(amf0.encode(Name("n"), Map(a=1.0), (1.0, "t"))) == [
        "n",
        {"a": 1.0},
        [1.0, "t"],
    ]


def test_sentinels_are_singletons() -> None:
    values = amf0.decode(h("06 0D 04 0E"))
    assert values[0] is UNDEFINED and values[1] is UNSUPPORTED
    assert values[2] is MOVIECLIP and values[3] is RECORDSET
    assert repr(values) == "[UNDEFINED, UNSUPPORTED, MOVIECLIP, RECORDSET]"


def test_module_reexports_shared_types() -> None:
    assert amf0.ECMAArray is ECMAArray and amf0.TypedObject is TypedObject
    assert amf0.UNDEFINED is UNDEFINED and amf0.AVMPlus is AVMPlus


@given(st.floats(), st.text(max_size=30))
def test_top_level_scalars(number: float, text: str) -> None:
    assume(not math.isnan(number))
    assert amf0.decode(amf0.encode(number, text)) == [number, text]


def test_failed_encode_leaves_the_context_unchanged() -> None:
    encoder = amf0.AMF0Encoder()
    shared = {"s": 1.0}
    first = encoder.encode_value(shared)
    out: list[bytes] = []
    with pytest.raises(LocalProtocolError):
        encoder.encode_into([{"new": 1.0}, AVMPlus("amf3 text"), object()], out)
    assert out == []
    # The failed call's array and object are forgotten: the next reference to `shared`
    # is still index 0, the next new object index 1; the AMF3 string table is empty.
    again = encoder.encode_value([shared, AVMPlus("amf3 text")])
    assert again == h("0A 00 00 00 02 07 00 00 11 06 13") + b"amf3 text"
    decoder = amf0.AMF0Decoder()
    original = decoder.decode_value(first)[0]
    assert original == shared
    value = decoder.decode_value(again)[0]
    assert value == [shared, "amf3 text"]
    assert value[0] is original


@pytest.mark.parametrize(
    "raw", [h("02 00 05 61 62"), h("02 00 02 C3 28"), h("11 06 05 C3 28"), h("05")]
)
@pytest.mark.parametrize("through_memoryview", [False, True])
def test_caller_buffer_stays_resizable(raw: bytes, through_memoryview: bool) -> None:
    # A bytearray the decoder saw (directly or through a memoryview) must not stay
    # exported after decode returns or raises, even while the exception is alive.
    buffer = bytearray(raw)
    for call in (amf0.decode, amf0.decode_value, amf0.AMF0Decoder().decode_value):
        view = memoryview(buffer) if through_memoryview else None
        error = None
        try:
            call(buffer if view is None else view)
        except RemoteProtocolError as exc:
            error = exc
        if view is not None:
            view.release()
        buffer.append(0)  # raises BufferError while an export is alive
        del buffer[-1]
        assert (error is None) == (raw == h("05"))
