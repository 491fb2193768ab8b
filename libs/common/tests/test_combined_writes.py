"""The combined statement's parameters (svc_common.writes): named once per
shape, each run's values taken by column name, whatever order a row's keys
are in."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from svc_common.writes import _AUDIT, _Combined, _Op

AT = dt.datetime(2026, 12, 5, 6, 0, tzinfo=dt.UTC)


def _audit(actor: str, **extra: Any) -> dict[str, Any]:
    return {
        "at": AT,
        "actor": actor,
        "role": "officer",
        "action": "reserve",
        "target_type": "reservation",
        "target_id": f"r-{actor}",
        "request_id": f"q-{actor}",
        "correlation_id": None,
        "detail": None,
        **extra,
    }


def test_each_value_is_bound_to_its_own_row_and_column() -> None:
    first = _audit("a")
    # The same columns in another order: bound by name, not by position.
    second = dict(reversed(list(_audit("b").items())))
    ops = [_Op(_AUDIT, None, [first, second])]
    params = _Combined(ops).params(ops)
    assert params["w0_0_actor"] == "a" and params["w0_1_actor"] == "b"
    assert params["w0_1_target_id"] == "r-b" and params["w0_0_request_id"] == "q-a"
    assert len(params) == 2 * len(first)


def test_a_second_run_of_the_shape_binds_its_own_values() -> None:
    ops = [_Op(_AUDIT, None, [_audit("a")])]
    combined = _Combined(ops)
    again = [_Op(_AUDIT, None, [_audit("c")])]
    assert combined.params(again)["w0_0_actor"] == "c"


def test_a_row_of_one_column_gives_its_value() -> None:
    # itemgetter gives a lone column's value bare, not in a tuple.
    ops = [_Op(_AUDIT, None, [{"actor": "lone"}])]
    assert _Combined(ops).params(ops) == {"w0_0_actor": "lone"}


def test_a_row_lacking_a_column_of_its_shape_is_refused() -> None:
    ops = [_Op(_AUDIT, None, [_audit("a"), _audit("b")])]
    combined = _Combined(ops)
    short = _audit("c")
    del short["detail"]
    with pytest.raises(KeyError):
        combined.params([_Op(_AUDIT, None, [_audit("a"), short])])
