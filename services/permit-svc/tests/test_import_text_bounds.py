"""The bulk import's fast path takes a name and an address by the model's
rules (EnterpriseIn's VisibleText: the longest each may be, that a reader
can see it), read from the model, not numbers of its own: at each bound
the fast path and the model agree, through the import route too."""

from __future__ import annotations

import json
from typing import Annotated, Any

import pytest
from permit_svc.enterprises import importing
from permit_svc.enterprises.schemas import EnterpriseIn
from pydantic import ValidationError
from svc_common import testing
from svc_common.auth import Principal
from svc_common.types import VisibleText
from svc_common.uscc import make_uscc

from .conftest import BAODI, Service

OFFICER = testing.auth("officer", [BAODI])
ADMIN = Principal("admin", "admin")
CATEGORIES = {"C2641": "key"}


def _row(serial: int, **change: Any) -> dict[str, Any]:
    return {
        "uscc": make_uscc(BAODI, serial),
        "name": f"企业{serial}",
        "district": BAODI,
        "industry_code": "2641",
        "address": "宝坻区某路1号",
        **change,
    }


#: Each bound of the model's name and address: at it, past it, nothing a
#: reader can see; whether the model takes the row.
BOUNDS = [
    ({"name": "企" * 200}, True),
    ({"name": "企" * 201}, False),
    ({"name": "\u200b"}, False),
    ({"name": " \u200b\u2060 "}, False),
    ({"name": ""}, False),
    ({"address": "地" * 500}, True),
    ({"address": "地" * 501}, False),
    ({"address": "\u200b"}, False),
    ({"address": ""}, True),
]


def _model_takes(data: dict[str, Any]) -> bool:
    try:
        EnterpriseIn.model_validate(data)
    except ValidationError:
        return False
    return True


def test_the_fast_path_and_the_model_agree_at_each_bound() -> None:
    rows = [_row(i, **change) for i, (change, _) in enumerate(BOUNDS, start=1)]
    fast = importing._fast_rows(rows, importing._Memo(CATEGORIES, ADMIN))
    for (change, takes), data, got in zip(BOUNDS, rows, fast, strict=True):
        assert _model_takes(data) is takes, change
        assert (got is not None) is takes, change


def test_the_fast_path_reads_its_bounds_from_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model whose name takes at most 10 characters: the fast path, given
    its rules, leaves an 11-character name to the model (it had 200 and
    500 written into it, apart from the model's)."""

    from svc_common.bulk import TextRules

    class Narrow(EnterpriseIn):
        name: Annotated[str, VisibleText(10)]

    monkeypatch.setattr(importing, "_TEXT", TextRules(Narrow))
    fast = importing._fast_rows(
        [_row(1, name="企" * 10), _row(2, name="企" * 11)], importing._Memo(CATEGORIES, ADMIN)
    )
    assert fast[0] is not None and fast[1] is None


async def test_the_import_route_takes_and_refuses_at_each_bound(svc: Service) -> None:
    rows = [_row(i, **change) for i, (change, _) in enumerate(BOUNDS, start=1)]
    r = await svc.http.post(
        "/permit/enterprises:import",
        content="\n".join(json.dumps(row, ensure_ascii=False) for row in rows).encode(),
        headers={**OFFICER, "content-type": "application/x-ndjson"},
    )
    assert r.status_code == 200, r.text
    results = {row["row"]: row for row in r.json()["results"]}
    for i, (change, takes) in enumerate(BOUNDS, start=1):
        if takes:
            assert results[i]["result"] == "created", (change, results[i])
        else:
            [field] = set(change)
            assert results[i]["result"] == "error", (change, results[i])
            assert [e["field"] for e in results[i]["errors"]] == [field], results[i]
