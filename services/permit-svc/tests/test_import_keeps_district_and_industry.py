"""An enterprise's district and industry are not changed in place, by PATCH
or by the bulk import: the industry decides whether it holds a permit or a
registration, and its permit or registration is its district's. An import
row for an existing enterprise that would change either is an `error` row
naming the field (as PATCH says), the enterprise is left as it was, and the
other rows land, whether the row took the fast path or the model's."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from permit_svc.calendar import local_today
from permit_svc.enterprises import importing
from sqlalchemy import text
from svc_common import testing
from svc_common.types import utcnow
from svc_common.uscc import make_uscc

from .conftest import BAODI, JIZHOU, Service

OFFICER = testing.auth("officer", [BAODI])
ADMIN = testing.auth("admin")
NDJSON = "application/x-ndjson"


@pytest.fixture(params=["fast", "slow"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The fast path as it is, or every row sent through the model."""
    if request.param == "slow":
        monkeypatch.setattr(importing, "_fast_rows", lambda datas, memo: [None] * len(datas))
    return str(request.param)


async def _holder(svc: Service, serial: int, district: str = BAODI) -> tuple[str, dict[str, Any]]:
    """An enterprise of 涂料制造 (C2641, key management) with a permit in force."""
    uscc = await svc.enterprise(serial, industry="2641", district=district)
    today = local_today(utcnow())
    row = {
        "uscc": uscc,
        "pollutants": [{"pollutant": "NOx", "amount_t": "2"}],
        "valid_from": (today - dt.timedelta(days=100)).isoformat(),
        "valid_to": (today + dt.timedelta(days=1000)).isoformat(),
    }
    r = await svc.http.post(
        "/permit/permits:import",
        content=json.dumps(row).encode(),
        headers={**testing.auth("officer", [district]), "content-type": NDJSON},
    )
    (result,) = r.json()["results"]
    assert result["result"] == "created", result
    permit = await svc.http.get(f"/permit/permits/{result['id']}", headers=ADMIN)
    assert permit.json()["status"] == "issued"
    return uscc, permit.json()


async def _upload(
    svc: Service, body: str | list[dict[str, Any]], headers: dict[str, str]
) -> dict[str, Any]:
    if isinstance(body, str):
        content, media = body.encode(), "text/csv; charset=utf-8"
    else:
        content, media = "\n".join(json.dumps(x) for x in body).encode(), NDJSON
    r = await svc.http.post(
        "/permit/enterprises:import", content=content, headers={**headers, "content-type": media}
    )
    assert r.status_code == 200, r.text
    report: dict[str, Any] = r.json()
    return report


async def _get(svc: Service, uscc: str) -> dict[str, Any]:
    found: dict[str, Any] = (
        await svc.http.get(f"/permit/enterprises/{uscc}", headers=ADMIN)
    ).json()
    return found


async def test_an_import_row_does_not_move_a_permit_holder_to_registration(
    svc: Service, path: str
) -> None:
    """An officer's row giving a holder of a permit in force a
    registration-managed industry (C2921) is refused: the enterprise stays
    under key management, so it still cannot file a registration as well."""
    holder, _ = await _holder(svc, 61)
    other = await svc.enterprise(62, industry="2641", address="旧址")
    new = make_uscc(BAODI, 63)
    upload = (
        "uscc,name,district,industry_code,address,operating_status\n"
        f"{holder},改名涂料厂,{BAODI},C2921,新址,operating\n"
        # The same industry written without its letter is no change.
        f"{other},新名称,{BAODI},2641,新址,suspended\n"
        f"{new},新企业,{BAODI},2921,,operating\n"
    )
    report = await _upload(svc, upload, OFFICER)
    results = report["results"]
    assert [x["result"] for x in results] == ["error", "updated", "created"], results
    (err,) = results[0]["errors"]
    assert err["field"] == "industry_code"
    assert "not changed in place" in err["message"] and "C2641" in err["message"]
    assert results[0]["row_key"] == holder

    e = await _get(svc, holder)
    assert (e["industry_code"], e["category"], e["name"], e["address"]) == (
        "C2641",
        "key",
        "企业61",
        "",
    )
    changed = await _get(svc, other)
    assert (changed["name"], changed["address"], changed["operating_status"]) == (
        "新名称",
        "新址",
        "suspended",
    )
    assert (await _get(svc, new))["category"] == "registration"
    # Still under key management: no registration beside its permit.
    r = await svc.http.post("/permit/registrations", json={"uscc": holder}, headers=OFFICER)
    assert r.status_code == 422, r.text
    # Only the rows written are announced.
    (event,) = await svc.events("enterprise.imported.v1")
    assert sorted(row[0] for row in event["data"]["rows"]) == sorted([other, new])


async def test_an_admins_import_row_does_not_move_an_enterprise_to_another_district(
    svc: Service, path: str
) -> None:
    """An admin acts in every district, yet a row moving an enterprise is
    refused: its permit stays its district's."""
    holder, permit = await _holder(svc, 71)
    both = await svc.enterprise(72, industry="2641")
    other = await svc.enterprise(73, industry="2921")
    new = make_uscc(JIZHOU, 74)
    rows = [
        {"uscc": holder, "name": "迁址企业", "district": JIZHOU, "industry_code": "C2641"},
        {"uscc": both, "name": "企业72", "district": JIZHOU, "industry_code": "C2921"},
        {
            "uscc": other,
            "name": "企业73",
            "district": BAODI,
            "industry_code": "C2921",
            "address": "宝坻区新路2号",
        },
        {"uscc": new, "name": "蓟州新企业", "district": JIZHOU, "industry_code": "2641"},
    ]
    report = await _upload(svc, rows, ADMIN)
    results = report["results"]
    assert [x["result"] for x in results] == ["error", "error", "updated", "created"], results
    (err,) = results[0]["errors"]
    assert err["field"] == "district" and BAODI in err["message"]
    assert "not changed in place" in err["message"]
    assert [e["field"] for e in results[1]["errors"]] == ["district", "industry_code"]
    assert report["totals"]["error"] == 2 and report["totals"]["updated"] == 1

    e = await _get(svc, holder)
    assert e["district"] == permit["district"] == BAODI and e["name"] == "企业71"
    assert (await _get(svc, both))["district"] == BAODI
    assert (await _get(svc, other))["address"] == "宝坻区新路2号"
    assert (await _get(svc, new))["district"] == JIZHOU


async def test_an_officer_of_two_districts_moves_no_enterprise_between_them(
    svc: Service, path: str
) -> None:
    uscc = await svc.enterprise(81, industry="2641")
    both = testing.auth("officer", [BAODI, JIZHOU])
    report = await _upload(
        svc, f"uscc,name,district,industry_code\n{uscc},企业81,{JIZHOU},2641\n", both
    )
    ((err,),) = [x["errors"] for x in report["results"]]
    assert err["field"] == "district" and "not changed in place" in err["message"]
    assert (await _get(svc, uscc))["district"] == BAODI


async def test_refused_rows_among_many_statements_leave_the_others_told_apart(
    svc: Service,
) -> None:
    """1,200 rows, the first 600 existing, two of them changing industry:
    the rows refused are told from those written, and created from updated,
    across the statements of a chunk (500 rows each on SQLite)."""

    def rows(n: int, name: str, moved: frozenset[int] = frozenset()) -> list[dict[str, Any]]:
        return [
            {
                "uscc": make_uscc(BAODI, 1000 + i),
                "name": f"{name}{i}",
                "district": BAODI,
                "industry_code": "2921" if i in moved else "2641",
            }
            for i in range(n)
        ]

    assert (await _upload(svc, rows(600, "甲"), OFFICER))["totals"]["created"] == 600
    report = await _upload(svc, rows(1200, "乙", frozenset({99, 550})), OFFICER)
    results = {x["row"]: x for x in report["results"]}
    want = {
        i + 1: "error" if i in (99, 550) else "updated" if i < 600 else "created"
        for i in range(1200)
    }
    assert {row: x["result"] for row, x in results.items()} == want
    assert results[100]["errors"][0]["field"] == "industry_code"
    assert (await _get(svc, make_uscc(BAODI, 1099)))["name"] == "甲99"
    assert (await _get(svc, make_uscc(BAODI, 1098)))["name"] == "乙98"


async def test_refused_row_near_sqlites_largest_rowid(svc: Service) -> None:
    """Where SQLite numbers new rows at random, a refused row is still told
    from the rows created and updated."""
    if svc.db.is_postgres:
        return
    rows = [
        {"uscc": make_uscc(BAODI, i), "name": f"甲{i}", "district": BAODI, "industry_code": "2641"}
        for i in range(8)
    ]
    assert (await _upload(svc, rows[:3], OFFICER))["totals"]["created"] == 3
    async with svc.db.transaction() as s:
        await s.execute(
            text("UPDATE enterprises SET rowid = :top WHERE uscc = :uscc"),
            {"top": 2**63 - 1, "uscc": make_uscc(BAODI, 1)},
        )
    rows[0] = {**rows[0], "industry_code": "2921"}
    report = await _upload(svc, rows, OFFICER)
    results = {x["row"]: x["result"] for x in report["results"]}
    assert results == {1: "error", 2: "updated", 3: "updated"} | {i: "created" for i in range(4, 9)}


async def test_patch_refuses_district_and_industry_saying_why(svc: Service) -> None:
    """The refusal the import's rows repeat, in Chinese by default."""
    uscc = await svc.enterprise(91, industry="2641")
    for field, value in (("district", JIZHOU), ("industry_code", "C2921")):
        r = await svc.http.patch(
            f"/permit/enterprises/{uscc}", json={"name": "新名", field: value}, headers=OFFICER
        )
        assert r.status_code == 422, r.text
        (err,) = r.json()["errors"]
        assert err["field"] == field and err["message"].startswith("is not changed in place")
        r = await svc.http.patch(
            f"/permit/enterprises/{uscc}",
            json={field: value},
            headers={**OFFICER, "accept-language": "zh-CN"},
        )
        (err,) = r.json()["errors"]
        assert err["field"] == field and err["message"].startswith("不能直接修改")
    e = await _get(svc, uscc)
    assert (e["name"], e["district"], e["industry_code"]) == ("企业91", BAODI, "C2641")
