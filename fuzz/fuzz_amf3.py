"""Fuzz the AMF3 decoder with arbitrary bytes.

Invariant: ``amf3.decode`` returns values or raises ``RemoteProtocolError``, nothing
else; whatever decodes re-encodes (under the same default limits), and the re-encoded
bytes decode to an equal value.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from amf_equal import same_value

from trio_rtmp.core import amf3
from trio_rtmp.core.amf import (
    UNDEFINED,
    XML,
    Dictionary,
    MixedArray,
    TypedObject,
    Vector,
    XMLDocument,
)
from trio_rtmp.core.errors import RemoteProtocolError


def seeds() -> list[bytes]:
    """Valid AMF3 (and a few nearly valid variants) built with our encoder."""
    shared: dict[str, Any] = {"shared": 1}
    cyclic: list[Any] = ["loop"]
    cyclic.append(cyclic)
    point = TypedObject(class_name="flash.geom.Point", fields={"x": 1.5, "y": -2})
    values = [
        amf3.encode("connect", 1, {"app": "live", "objectEncoding": 3, "fpad": False}),
        amf3.encode(0, 0x7F, 0x80, 0x3FFF, 0x4000, 0x1FFFFF, 0x200000, 2**28 - 1, -1, -(2**28)),
        amf3.encode(2**28, 1.5, float("nan"), True, False, None, UNDEFINED),
        amf3.encode("abc", "abc", {"abc": "abc"}, ["", "abc"]),
        amf3.encode(
            [shared, shared, cyclic],
            point,
            TypedObject(class_name="flash.geom.Point", fields={"x": 0.0, "y": 3}),
        ),
        amf3.encode({"": "sealed empty name", "dyn": 1}),
        amf3.encode(MixedArray(dense=[1, 2], assoc={"k": "v", "n": None})),
        amf3.encode(
            Vector(kind="int", items=[1, -1], fixed=True),
            Vector(kind="uint", items=[0, 2**32 - 1]),
            Vector(kind="double", items=[0.5, -0.0]),
            Vector(kind="object", items=[point, "x"], type_name="flash.geom.Point"),
        ),
        amf3.encode(Dictionary(items=[(1, "one"), (shared, [2]), ("k", shared)], weak_keys=True)),
        amf3.encode(
            b"\x00\x01\x02", XML("<x/>"), XMLDocument("<d/>"), datetime(2020, 1, 1, tzinfo=UTC)
        ),
    ]
    # Nearly valid: an externalizable object, a dangling reference, a truncated value.
    values.append(b"\x0a\x07\x07Ext\x01\x02")
    values.append(b"\x09\x05\x01\x06\x00\x0a\x04")
    values.append(amf3.encode({"key": [1, 2, 3]})[:-3])
    return values


def test_one_input(data: bytes) -> None:
    """Decode; what decodes must re-encode and decode back to an equal value."""
    try:
        values = amf3.decode(data)
    except RemoteProtocolError:
        return
    again = amf3.decode(amf3.encode(*values))
    if not same_value(values, again):
        raise AssertionError(f"re-encoding changed the values: {values!r} -> {again!r}")


if __name__ == "__main__":
    from atheris_main import fuzz

    fuzz(test_one_input)
