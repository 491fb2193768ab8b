"""JSON written in C (orjson) where much of it is written at once: the JSON
columns (the outbox's envelopes: an import's event carries thousands of
rows) and the data of the outbox's messages. What is written is what the
json module writes, compact and not ASCII-escaped; orjson writes only what
it writes alike, and json keeps the rest:
- orjson writes NaN and infinities as null: json's NaN and Infinity are kept;
- orjson refuses integers beyond 64 bits, dict keys that are not strings and
  lone surrogates, and is told to refuse subclasses, dates and dataclasses:
  json writes those, or refuses them, as it always did;
- a float is the same number, though it may be spelled otherwise (0.00001
  where json writes 1e-05: each the shortest form that reads back exactly).
Values json cannot write at all but orjson can (a UUID, an Enum member) are
written by orjson: such a value was an error before, and none is stored.
Reading stays with json: orjson would read an integer beyond 64 bits as a
float, and reading a line at a time it was no faster (bench/RESULTS.md).
Property tests (libs/common/tests/test_fastjson.py) hold it to json."""

from __future__ import annotations

import json
import math
from itertools import chain
from typing import Any

import orjson

#: Subclasses, dates and dataclasses go to json (orjson would write them).
_JSON_TYPES_ONLY = (
    orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


def dumps_data(value: Any) -> bytes:
    """`json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()`
    for a value of JSON's own types (dict with string keys, list, str, int,
    float, bool, None), as the outbox's message data is; floats may be
    spelled otherwise (the module's docstring)."""
    out = _orjson_alike(value)
    if out is None:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    return out


def dumps_text(value: Any) -> str:
    """The engine's serializer for JSON columns: `dumps_data` as text, and
    where orjson would write otherwise, what the engine wrote before
    (`json.dumps(value)`, surrogates escaped)."""
    out = _orjson_alike(value)
    return json.dumps(value) if out is None else out.decode()


def _orjson_alike(value: Any) -> bytes | None:
    """orjson's JSON of `value`, or None where json would write otherwise."""
    try:
        out = orjson.dumps(value, option=_JSON_TYPES_ONLY)
    except TypeError:  # a key, an integer, a surrogate or a type orjson refuses
        return None
    # orjson writes a NaN or an infinity as null; json writes NaN, Infinity.
    if b"null" in out and _has_non_finite(value):
        return None
    return out


#: Leaf types that hold no float: a level of only these ends the walk.
_NO_FLOATS = frozenset({str, int, bool, type(None)})
#: A level of lists only (an import's rows): flattened in C.
_LISTS = {list}


def _has_non_finite(value: Any) -> bool:
    """Whether a float that is NaN or infinite lies anywhere in `value`
    (through dicts' values, lists and tuples; exactly those types, as
    orjson was told). Walked a level at a time with the types of a whole
    level taken in C: an envelope holding an import's 2,000 rows (any
    `null` in it brings the walk) took 2.7 ms walked value by value, a
    Python call each. Held to that walk by test_fastjson."""
    level: list[Any] = [value]
    while level:
        kinds = set(map(type, level))
        if kinds <= _NO_FLOATS:
            return False
        if float in kinds and any(type(v) is float and not math.isfinite(v) for v in level):
            return True
        if kinds == _LISTS:  # rows of values: the next level in C
            level = list(chain.from_iterable(level))
            continue
        below: list[Any] = []
        for v in level:
            if type(v) is dict:
                below.extend(v.values())
            elif type(v) is list or type(v) is tuple:
                below.extend(v)
        level = below
    return False
