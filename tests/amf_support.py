"""Helpers for the AMF tests: value comparison that survives cycles and NaN, and strategies."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

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

# Containers whose identity the codecs preserve (references); leaves compare by value.
_CONTAINERS = (dict, list, tuple, TypedObject, MixedArray, Vector, Dictionary)


def _children(x: Any, y: Any) -> list[tuple[Any, Any]] | None:
    """Pairs of children to compare next, or None when x and y differ at this level."""
    if isinstance(x, dict):
        if x.keys() != y.keys():
            return None
        return [(x[k], y[k]) for k in x]
    if isinstance(x, (list, tuple)):
        if len(x) != len(y):
            return None
        return list(zip(x, y, strict=True))
    if isinstance(x, TypedObject):
        if x.class_name != y.class_name:
            return None
        return [(x.fields, y.fields)]
    if isinstance(x, MixedArray):
        return [(x.dense, y.dense), (x.assoc, y.assoc)]
    if isinstance(x, Vector):
        if (x.kind, x.fixed, x.type_name) != (y.kind, y.fixed, y.type_name):
            return None
        return [(x.items, y.items)]
    if isinstance(x, Dictionary):
        if x.weak_keys != y.weak_keys:
            return None
        return [(x.items, y.items)]
    raise AssertionError(f"not a container: {x!r}")


def _same_leaf(x: Any, y: Any, lenient_numbers: bool) -> bool:
    numbers = (int, float)
    if lenient_numbers and type(x) in numbers and type(y) in numbers:
        x, y = float(x), float(y)
    if type(x) is not type(y):
        return False
    if type(x) is float:
        if math.isnan(x) or math.isnan(y):
            return math.isnan(x) and math.isnan(y)
        return x == y and math.copysign(1.0, x) == math.copysign(1.0, y)
    return bool(x == y)


def same_value(expected: Any, actual: Any, *, lenient_numbers: bool = False) -> bool:
    """Whether two AMF values are equal, as a bisimulation (cycles are fine), NaN == NaN.

    Types must match exactly (``lenient_numbers`` lets int and float compare by value).
    ``AVMPlus(v)`` on the expected side stands for ``v``.
    """
    assumed: set[tuple[int, int]] = set()
    pending = [(expected, actual)]
    while pending:
        x, y = pending.pop()
        while type(x) is AVMPlus:
            x = x.value
        if x is y:
            continue
        if isinstance(x, _CONTAINERS):
            if type(x) is not type(y):
                return False
            key = (id(x), id(y))
            if key in assumed:
                continue
            assumed.add(key)
            children = _children(x, y)
            if children is None:
                return False
            pending.extend(children)
        elif not _same_leaf(x, y, lenient_numbers):
            return False
    return True


def same_graph(expected: Any, actual: Any) -> bool:
    """``same_value`` and, in addition, the same sharing: one decoded container per original.

    Every container of ``expected`` must map to exactly one container of ``actual``
    and back, so shared objects stay shared and cycles stay cycles.
    """
    forward: dict[int, Any] = {}
    backward: dict[int, Any] = {}
    pending = [(expected, actual)]
    while pending:
        x, y = pending.pop()
        while type(x) is AVMPlus:
            x = x.value
        if isinstance(x, _CONTAINERS) and not isinstance(x, tuple):
            if type(x) is not type(y):
                return False
            if id(x) in forward or id(y) in backward:
                if forward.get(id(x)) is not y or backward.get(id(y)) is not x:
                    return False
                continue
            forward[id(x)] = y
            backward[id(y)] = x
            children = _children(x, y)
            if children is None:
                return False
            pending.extend(children)
        elif isinstance(x, tuple):
            children = _children(x, y) if type(y) is tuple else None
            if children is None:
                return False
            pending.extend(children)
        elif not _same_leaf(x, y, False):
            return False
    return True


def nested_lists(depth: int) -> list[Any]:
    """A list nested ``depth`` levels deep (built without recursion)."""
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


# -- strategies -------------------------------------------------------------------------

#: Aware UTC datetimes at millisecond precision (what AMF dates carry exactly).
utc_dates = st.datetimes(
    min_value=datetime(1, 1, 1),
    max_value=datetime(9999, 12, 31, 23, 59, 59, 999000),
    timezones=st.just(UTC),
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))

names = st.text(max_size=12)
# Member names for AMF3 dynamic members and associative parts, where "" ends the list.
nonempty_names = st.text(min_size=1, max_size=12)
class_names = st.text(min_size=1, max_size=12)

int29 = st.integers(min_value=-(2**28), max_value=2**28 - 1)

amf3_leaves = st.one_of(
    st.none(),
    st.booleans(),
    int29,
    st.floats(),
    st.text(max_size=20),
    st.just(UNDEFINED),
    utc_dates,
    st.text(max_size=20).map(XMLDocument),
    st.text(max_size=20).map(XML),
    st.binary(max_size=20),
    st.builds(
        lambda items, fixed: Vector(kind="int", items=items, fixed=fixed),
        st.lists(st.integers(-(2**31), 2**31 - 1), max_size=5),
        st.booleans(),
    ),
    st.builds(
        lambda items, fixed: Vector(kind="uint", items=items, fixed=fixed),
        st.lists(st.integers(0, 2**32 - 1), max_size=5),
        st.booleans(),
    ),
    st.builds(
        lambda items, fixed: Vector(kind="double", items=items, fixed=fixed),
        st.lists(st.floats(), max_size=5),
        st.booleans(),
    ),
)


def _amf3_containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(names, children, max_size=5),
        st.builds(
            lambda name, fields: TypedObject(class_name=name, fields=fields),
            class_names,
            st.dictionaries(names, children, max_size=5),
        ),
        st.builds(
            lambda dense, assoc: MixedArray(dense=dense, assoc=assoc),
            st.lists(children, max_size=4),
            st.dictionaries(nonempty_names, children, min_size=1, max_size=4),
        ),
        st.builds(
            lambda items, fixed, type_name: Vector(
                kind="object", items=items, fixed=fixed, type_name=type_name
            ),
            st.lists(children, max_size=4),
            st.booleans(),
            st.sampled_from(["", "*", "Object", "com.example.Thing"]),
        ),
        st.builds(
            lambda items, weak: Dictionary(items=items, weak_keys=weak),
            st.lists(st.tuples(children, children), max_size=4),
            st.booleans(),
        ),
    )


#: AMF3 values in canonical form: each decodes back to an equal value of the same type.
amf3_values = st.recursive(amf3_leaves, _amf3_containers, max_leaves=25)

amf0_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from([UNDEFINED, UNSUPPORTED, MOVIECLIP, RECORDSET]),
    utc_dates,
    st.text(max_size=20).map(XMLDocument),
)


def _amf0_containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(names, children, max_size=5),
        st.dictionaries(names, children, max_size=5).map(ECMAArray),
        st.builds(
            lambda name, fields: TypedObject(class_name=name, fields=fields),
            class_names,
            st.dictionaries(names, children, max_size=5),
        ),
    )


#: AMF0 values in canonical form (no AVM+ parts).
amf0_values = st.recursive(amf0_leaves, _amf0_containers, max_leaves=25)

#: AMF0 values with AMF3 parts behind AVM+ markers (``AVMPlus`` wrappers).
amf0_values_with_avmplus = st.recursive(
    st.one_of(amf0_leaves, amf3_values.map(AVMPlus)), _amf0_containers, max_leaves=25
)


@st.composite
def object_graphs(draw: st.DrawFn, kinds: tuple[str, ...], leaves: st.SearchStrategy[Any]) -> Any:
    """A root container of a graph of containers with shared members and cycles."""
    containers: list[Any] = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(kinds))
        if kind == "dict":
            containers.append({})
        elif kind == "ecma":
            containers.append(ECMAArray())
        elif kind == "typed":
            containers.append(TypedObject(class_name=draw(class_names), fields={}))
        elif kind == "list":
            containers.append([])
        elif kind == "mixed":
            containers.append(MixedArray(dense=[], assoc={}))
        elif kind == "vector":
            containers.append(Vector(kind="object", type_name="*"))
        else:
            containers.append(Dictionary())
    member = st.one_of(leaves, st.sampled_from(containers))
    for value in containers:
        for index in range(draw(st.integers(0, 4))):
            child = draw(member)
            name = f"m{index}"
            if isinstance(value, dict):
                value[name] = child
            elif isinstance(value, TypedObject):
                value.fields[name] = child
            elif isinstance(value, list):
                value.append(child)
            elif isinstance(value, MixedArray):
                if draw(st.booleans()):
                    value.assoc[name] = child
                else:
                    value.dense.append(child)
            elif isinstance(value, Vector):
                value.items.append(child)
            else:
                value.items.append((draw(member), child))
        if isinstance(value, MixedArray) and not value.assoc:
            # Without an associative part it is a plain (dense) array: a list.
            value.assoc["assoc"] = None
    return containers[0]
