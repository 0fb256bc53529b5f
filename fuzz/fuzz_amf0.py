"""Fuzz the AMF0 decoder (AVM+ switches to AMF3 included) with arbitrary bytes.

Invariant: ``amf0.decode`` returns values or raises ``RemoteProtocolError``, nothing
else; whatever decodes re-encodes, and the re-encoded bytes decode to an equal value.

The re-encoding is checked under relaxed limits: AMF3 parts that the input shared
between AVM+ values can be written out twice when re-encoded (once as AMF0, once in
AMF3, because the two reference tables are separate), which may nest deeper or add
table entries.  The original input is always decoded under the default limits.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from amf_equal import same_value

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
from trio_rtmp.core.errors import RemoteProtocolError

RELAXED = Limits(
    max_amf_depth=4 * DEFAULT_LIMITS.max_amf_depth,
    max_amf_collection_size=4 * DEFAULT_LIMITS.max_amf_collection_size,
)


def _connect() -> list[Any]:
    return [
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
    ]


def seeds() -> list[bytes]:
    """Valid AMF0 (and a few nearly valid variants) built with our encoder."""
    shared = {"shared": 1.0}
    cyclic: dict[str, Any] = {"name": "loop"}
    cyclic["self"] = cyclic
    typed = TypedObject(class_name="flex.Thing", fields={"id": 7.0, "tags": ["a", "b"]})
    amf3_part = {
        "int": 5,
        "list": [1, 2.5, "x", None, True, UNDEFINED],
        "mixed": MixedArray(dense=[1], assoc={"k": "v"}),
        "vector": Vector(kind="int", items=[1, -1]),
        "doubles": Vector(kind="double", items=[0.5]),
        "objects": Vector(kind="object", items=[{"a": 1}], type_name="*"),
        "dict": Dictionary(items=[(1, "one"), ({"key": 1}, [2])], weak_keys=True),
        "bytes": b"\x00\x01\x02",
        "xml": XML("<x/>"),
        "doc": XMLDocument("<d/>"),
        "date": datetime(2020, 1, 1, tzinfo=UTC),
        "typed": TypedObject(class_name="T", fields={"x": 1}),
    }
    values = [
        amf0.encode(*_connect()),
        amf0.encode(
            "onMetaData",
            ECMAArray(duration=0.0, width=1280.0, height=720.0, videocodecid=7.0, encoder="Lavf"),
        ),
        amf0.encode("_result", 1.0, None, {"level": "status", "code": "NetStream.Publish.Start"}),
        amf0.encode([shared, shared, cyclic], typed),
        amf0.encode(UNDEFINED, UNSUPPORTED, MOVIECLIP, RECORDSET, XMLDocument("<a>b</a>")),
        amf0.encode(datetime(2009, 2, 13, 23, 31, 30, tzinfo=UTC), "x" * 300),
        amf0.encode(AVMPlus(amf3_part), "between", AVMPlus(amf3_part)),
        amf0.encode(AVMPlus("abc"), AVMPlus("abc"), [AVMPlus([1, 2])]),
        amf0.encode({"": 1.0, "nested": {"deeper": [{"deepest": True}]}}),
    ]
    # Nearly valid: a wrong ECMA count, a truncated command, a typed object with no name.
    values.append(b"\x08\x00\x00\x00\x09" + amf0.encode({"a": 1.0})[1:])
    values.append(amf0.encode(*_connect())[:-5])
    values.append(b"\x10\x00\x00\x00\x01a\x05\x00\x00\x09")
    return values


def test_one_input(data: bytes) -> None:
    """Decode; what decodes must re-encode and decode back to an equal value."""
    try:
        values = amf0.decode(data)
    except RemoteProtocolError:
        return
    encoder = amf0.AMF0Encoder(RELAXED)
    out: list[bytes] = []
    for value in values:
        encoder.encode_into(value, out)
    again = amf0.decode(b"".join(out), limits=RELAXED)
    if not same_value(values, again):
        raise AssertionError(f"re-encoding changed the values: {values!r} -> {again!r}")


if __name__ == "__main__":
    from atheris_main import fuzz

    fuzz(test_one_input)
