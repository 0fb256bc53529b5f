"""Value comparison for the AMF fuzz harnesses: survives cycles, treats NaN as equal.

Not a harness itself (its name does not start with ``fuzz_``).
"""

from __future__ import annotations

import math
from typing import Any

from trio_rtmp.core.amf import Dictionary, MixedArray, TypedObject, Vector

_CONTAINERS = (dict, list, tuple, TypedObject, MixedArray, Vector, Dictionary)


def _same_leaf(x: Any, y: Any) -> bool:
    # An AMF3 integer re-encoded in AMF0 comes back as a float: compare numbers by value.
    if type(x) in (int, float) and type(y) in (int, float):
        x, y = float(x), float(y)
        if math.isnan(x) or math.isnan(y):
            return math.isnan(x) and math.isnan(y)
        return x == y and math.copysign(1.0, x) == math.copysign(1.0, y)
    return type(x) is type(y) and bool(x == y)


def _same_type(x: Any, y: Any) -> bool:
    # A function, so that type checkers do not narrow ``y`` to the type of ``x``.
    return type(x) is type(y)


def same_value(expected: Any, actual: Any) -> bool:
    """Whether two decoded AMF values are equal (a bisimulation, so cycles are fine)."""
    assumed: set[tuple[int, int]] = set()
    pending: list[tuple[Any, Any]] = [(expected, actual)]
    while pending:
        x: Any
        y: Any
        x, y = pending.pop()
        if x is y:
            continue
        if not isinstance(x, _CONTAINERS):
            if not _same_leaf(x, y):
                return False
            continue
        if not _same_type(x, y):
            return False
        if (id(x), id(y)) in assumed:
            continue
        assumed.add((id(x), id(y)))
        if isinstance(x, dict):
            if x.keys() != y.keys():
                return False
            pending.extend((x[k], y[k]) for k in x)
        elif isinstance(x, (list, tuple)):
            if len(x) != len(y):
                return False
            pending.extend(zip(x, y, strict=True))
        elif isinstance(x, TypedObject):
            if x.class_name != y.class_name:
                return False
            pending.append((x.fields, y.fields))
        elif isinstance(x, MixedArray):
            pending.extend([(x.dense, y.dense), (x.assoc, y.assoc)])
        elif isinstance(x, Vector):
            if (x.kind, x.fixed, x.type_name) != (y.kind, y.fixed, y.type_name):
                return False
            pending.append((x.items, y.items))
        else:
            if x.weak_keys != y.weak_keys:
                return False
            pending.append((x.items, y.items))
    return True
