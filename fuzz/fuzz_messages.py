"""Fuzz the typed message decoder with arbitrary message bodies.

Input layout: byte 0 is the message type id, the rest the body.

Invariant: a typed message or a ``ProtocolError``, nothing else; whatever parses
re-encodes, and the re-encoded body decodes to an equal value.
"""

from __future__ import annotations

import math
from typing import Any

from trio_rtmp.core import amf0
from trio_rtmp.core.chunks import Message
from trio_rtmp.core.errors import ProtocolError
from trio_rtmp.core.messages import decode_message, encode_message


def _has_nan(value: Any, seen: set[int] | None = None) -> bool:
    # NaN never equals itself; such values are compared after re-encoding instead.
    if isinstance(value, float):
        return math.isnan(value)
    seen = seen if seen is not None else set()
    if id(value) in seen:
        return True  # cyclic: compare bytes, not values
    seen.add(id(value))
    if isinstance(value, dict):
        return any(_has_nan(v, seen) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_nan(v, seen) for v in value)
    fields = getattr(value, "__attrs_attrs__", None)
    if fields is not None:
        return any(_has_nan(getattr(value, f.name), seen) for f in fields)
    return False


def seeds() -> list[bytes]:
    """Bodies of every message type, built with our encoders."""
    return [
        b"\x01\x00\x00\x10\x00",
        b"\x02\x00\x00\x00\x06",
        b"\x03\x00\x01\x00\x00",
        b"\x04\x00\x00\x00\x00\x00\x01",
        b"\x04\x00\x03\x00\x00\x00\x01\x00\x00\x0b\xb8",
        b"\x04\x00\x06\x00\x00\x01\x02",
        b"\x04\x00\x1f\x00\x00\x00\x01",
        b"\x05\x00\x26\x25\xa0",
        b"\x06\x00\x26\x25\xa0\x02",
        b"\x08\xaf\x01abc",
        b"\x09\x17\x01\x00\x00\x00abc",
        b"\x14" + amf0.encode("connect", 1.0, {"app": "live", "tcUrl": "rtmp://h/live"}),
        b"\x11\x00" + amf0.encode("play", 4.0, None, "key", -2000.0),
        b"\x12" + amf0.encode("@setDataFrame", "onMetaData", {"width": 640.0}),
        b"\x0f\x00" + amf0.encode("onMetaData", {"duration": 0.0}),
        b"\x13so",
        b"\x16"
        + b"\x09\x00\x00\x03\x00\x00\x10\x00\x00\x00\x00\x17\x01\x00\x00\x00\x00\x0e"
        + b"\x08\x00\x00\x02\x00\x00\x20\x00\x00\x00\x00\xaf\x01\x00\x00\x00\x0d",
        b"\x07edge",
    ]


def test_one_input(data: bytes) -> None:
    if not data:
        return
    try:
        value = decode_message(Message(3, data[0], 0, 1, data[1:]))
    except ProtocolError:
        return
    raw = encode_message(value)
    again = decode_message(raw)
    if _has_nan(value):
        assert encode_message(again).payload == raw.payload
    else:
        assert again == value


if __name__ == "__main__":
    from atheris_main import fuzz

    fuzz(test_one_input)
