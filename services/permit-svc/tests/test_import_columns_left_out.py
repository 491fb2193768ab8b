"""The bulk import replaces by USCC, but only the columns a row gives: a
file with only the columns its sender means to change leaves an existing
enterprise's others as stored (a new enterprise gets the defaults), on the
fast path and the model's, on both databases, and the event announces
the enterprise as stored. A column given with an empty cell is a value:
an empty address is "" (an empty status is no status: as if left out)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from permit_svc.enterprises import importing
from svc_common import testing
from svc_common.events.schemas.permit import EnterprisesImported
from svc_common.uscc import make_uscc

from .conftest import BAODI, Service

OFFICER = testing.auth("officer", [BAODI])
NDJSON = "application/x-ndjson"
ADDRESS = "宝坻区某路1号"


@pytest.fixture(params=["fast", "slow"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The fast path as it is, or every row sent through the model."""
    if request.param == "slow":
        monkeypatch.setattr(importing, "_fast_rows", lambda datas, memo: [None] * len(datas))
    return str(request.param)


async def _upload(svc: Service, body: str | list[dict[str, Any]]) -> dict[str, Any]:
    if isinstance(body, str):
        content, media = body.encode(), "text/csv; charset=utf-8"
    else:
        content, media = "\n".join(json.dumps(x) for x in body).encode(), NDJSON
    r = await svc.http.post(
        "/permit/enterprises:import", content=content, headers={**OFFICER, "content-type": media}
    )
    assert r.status_code == 200, r.text
    assert r.json()["totals"]["error"] == 0, r.text
    report: dict[str, Any] = r.json()
    return report


async def _stored(svc: Service, uscc: str) -> tuple[str, str, str]:
    e = (await svc.http.get(f"/permit/enterprises/{uscc}", headers=OFFICER)).json()
    return e["name"], e["address"], e["operating_status"]


async def _announced(svc: Service) -> dict[str, tuple[str, str, str]]:
    """The last import's event, by USCC: name, address, status."""
    *_, batch = await svc.events("enterprise.imported.v1")
    return {
        e.uscc: (e.name, e.address, e.operating_status)
        for e in EnterprisesImported.model_validate(batch["data"]).snapshots()
    }


async def test_a_file_without_the_optional_columns_keeps_them(svc: Service, path: str) -> None:
    kept = await svc.enterprise(1, address=ADDRESS, operating_status="suspended")
    closed = await svc.enterprise(2, address=ADDRESS, operating_status="closed")
    new = make_uscc(BAODI, 3)
    report = await _upload(
        svc,
        "uscc,name,district,industry_code\n"
        f"{kept},新名称一,{BAODI},C2641\n"
        f"{closed},新名称二,{BAODI},2641\n"
        f"{new},新企业,{BAODI},C2641\n",
    )
    assert [r["result"] for r in report["results"]] == ["updated", "updated", "created"]
    assert await _stored(svc, kept) == ("新名称一", ADDRESS, "suspended")
    assert await _stored(svc, closed) == ("新名称二", ADDRESS, "closed")  # not reopened
    assert await _stored(svc, new) == ("新企业", "", "operating")
    assert await _announced(svc) == {
        kept: ("新名称一", ADDRESS, "suspended"),
        closed: ("新名称二", ADDRESS, "closed"),
        new: ("新企业", "", "operating"),
    }


async def test_an_empty_cell_of_a_column_given_is_a_value(svc: Service, path: str) -> None:
    """An empty address cell empties the address; an empty status cell
    keeps the status (there is no empty status: not a reopening)."""
    a = await svc.enterprise(11, address=ADDRESS, operating_status="closed")
    b = await svc.enterprise(12, address=ADDRESS, operating_status="suspended")
    await _upload(
        svc,
        "uscc,name,district,industry_code,address,operating_status\n"
        f"{a},企业11,{BAODI},C2641,,\n"
        f"{b},企业12,{BAODI},C2641,新地址,operating\n",
    )
    assert await _stored(svc, a) == ("企业11", "", "closed")
    assert await _stored(svc, b) == ("企业12", "新地址", "operating")
    assert (await _announced(svc))[a] == ("企业11", "", "closed")


async def test_json_lines_of_different_columns_in_one_upload(svc: Service, path: str) -> None:
    """Each line keeps what it leaves out, whatever the lines around it give."""
    usccs = [
        await svc.enterprise(20 + i, address=ADDRESS, operating_status="suspended")
        for i in range(4)
    ]
    base = [
        {"uscc": u, "name": f"新{i}", "district": BAODI, "industry_code": "C2641"}
        for i, u in enumerate(usccs)
    ]
    await _upload(
        svc,
        [
            base[0],
            {**base[1], "address": "新地址"},
            {**base[2], "operating_status": "operating"},
            {**base[3], "address": "", "operating_status": "closed"},
        ],
    )
    want = [
        ("新0", ADDRESS, "suspended"),
        ("新1", "新地址", "suspended"),
        ("新2", ADDRESS, "operating"),
        ("新3", "", "closed"),
    ]
    assert [await _stored(svc, u) for u in usccs] == want
    announced = await _announced(svc)
    assert [announced[u] for u in usccs] == want
