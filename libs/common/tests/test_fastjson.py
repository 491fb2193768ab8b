"""svc_common.fastjson writes what the json module writes (bytes; for floats
the same numbers), or refuses what it refuses; orjson only where they agree."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st
from svc_common import fastjson

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.sampled_from(["\ud800", "\udfff", "中文", "\x00", "\u2028", "\\"])
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=12,
)


def _typed(value: object) -> object:
    """The value with every leaf's type (1 and 1.0 and True differ), NaN comparable."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}, list(value)
    if isinstance(value, list):
        return [_typed(v) for v in value]
    if isinstance(value, float):
        return ("float", repr(value))
    return (type(value).__name__, value)


@settings(max_examples=1500, deadline=None)
@given(_VALUES | st.dictionaries(st.integers() | st.booleans(), _SCALARS, max_size=3))
def test_dumps_data_writes_what_json_writes(value: object) -> None:
    try:
        want: object = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    except (TypeError, ValueError, UnicodeEncodeError) as exc:
        want = ("error", type(exc))
    try:
        got: object = fastjson.dumps_data(value)
    except (TypeError, ValueError, UnicodeEncodeError) as exc:
        got = ("error", type(exc))
    if isinstance(got, bytes) and isinstance(want, bytes) and _has_float(value):
        # The same number, maybe spelled otherwise (0.00001 for 1e-05).
        assert _typed(json.loads(got)) == _typed(json.loads(want))
    else:
        assert got == want


def _has_float(value: object) -> bool:
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    return isinstance(value, float)


def test_dumps_data_writes_nan_as_json_does() -> None:
    # orjson writes null for these: json's NaN and Infinity are kept.
    value = {"a": None, "b": [math.nan, math.inf, -math.inf]}
    assert fastjson.dumps_data(value) == b'{"a":null,"b":[NaN,Infinity,-Infinity]}'


@settings(max_examples=1000, deadline=None)
@given(_VALUES | st.dictionaries(st.integers() | st.booleans(), _SCALARS, max_size=3))
def test_dumps_text_stores_what_json_stored(value: object) -> None:
    # The engine's serializer: the same JSON as json.dumps wrote before (or its error).
    try:
        want: object = ("ok", _typed(json.loads(json.dumps(value))))
    except (TypeError, ValueError) as exc:
        want = ("error", type(exc))
    try:
        got: object = ("ok", _typed(json.loads(fastjson.dumps_text(value))))
    except (TypeError, ValueError) as exc:
        got = ("error", type(exc))
    assert got == want


def test_dumps_text_keeps_a_lone_surrogate_escaped() -> None:
    assert fastjson.dumps_text({"a": "\ud800"}) == '{"a": "\\ud800"}'
    assert fastjson.dumps_text({"a": "中"}) == '{"a":"中"}'


def _non_finite_one_by_one(value: object) -> bool:
    """The walk `_has_non_finite` replaced, value by value, as it was."""
    if type(value) is float:
        return not math.isfinite(value)
    if type(value) is dict:
        return any(_non_finite_one_by_one(v) for v in value.values())
    if type(value) is list or type(value) is tuple:
        return any(_non_finite_one_by_one(v) for v in value)
    return False


_NESTED = st.recursive(
    _SCALARS | st.sampled_from([math.nan, math.inf, -math.inf, 1.5]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(st.lists(inner, max_size=3), max_size=3)  # rows of values
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=20,
)


@settings(max_examples=1500, deadline=None)
@given(_NESTED)
def test_non_finite_found_where_the_value_by_value_walk_finds_it(value: object) -> None:
    assert fastjson._has_non_finite(value) == _non_finite_one_by_one(value)


def test_non_finite_found_at_any_depth_and_in_any_container() -> None:
    rows = [["a", 1, None, True]] * 50
    found = fastjson._has_non_finite
    assert not found({"subject": None, "data": {"rows": rows, "n": 2.5}})
    for bad in (math.nan, math.inf, -math.inf):
        assert found({"subject": None, "data": {"rows": [*rows, ["a", bad]]}})  # in rows
        assert found({"data": {"rows": rows, "x": [{"y": (1, bad)}]}})  # tuple in dict in list
        assert found([rows, [[["deep", [bad]]]]])  # lists of lists, mixed depths
        assert found(bad) and found([bad]) and found({"k": bad})
    # Only exact dicts, lists and tuples are walked (as orjson was told).
    assert not found([_Floats([math.nan])])
    # An envelope's text: nulls in it, and no float to doubt.
    assert fastjson.dumps_text({"subject": None, "data": {"rows": rows}}) == json.dumps(
        {"subject": None, "data": {"rows": rows}}, separators=(",", ":"), ensure_ascii=False
    )
    assert fastjson.dumps_text({"subject": None, "x": [["a", math.nan]]}) == json.dumps(
        {"subject": None, "x": [["a", math.nan]]}
    )


class _Floats(list[float]):
    """A list subclass: orjson is told to pass it to json, not walk into it."""
