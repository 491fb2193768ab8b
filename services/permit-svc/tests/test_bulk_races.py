"""A bulk upload racing single writes of the same keys, on real PostgreSQL:
the interleaving is forced by writing the single request's row between the
upload's check and its insert. The upload still succeeds, the raced row
reported as what it would have met a moment later, never a 409 for all; or,
where the upload locks the rows it checks, the single write waits for it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from permit_svc.app import create
from permit_svc.registrations import importing
from permit_svc.settings import Settings
from sqlalchemy import func, select
from svc_common import testing

from .conftest import BAODI, Service

pytestmark = pytest.mark.pg

OFFICER = testing.auth("officer", [BAODI])


@pytest.fixture
async def pg_svc(pg_url: str) -> AsyncIterator[Service]:
    app = create(Settings(database_url=pg_url, log_json=False, log_level="WARNING"))
    async with testing.running(app) as http:
        yield Service(app, http)


def _ndjson(rows: list[dict[str, Any]]) -> bytes:
    return "\n".join(json.dumps(r) for r in rows).encode()


async def _finished_within(task: asyncio.Task[Any], seconds: float) -> bool:
    done, _ = await asyncio.wait({task}, timeout=seconds)
    return task in done


async def test_a_registration_filed_while_an_upload_checks_waits_for_it(
    pg_svc: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A single filing for an enterprise of an upload, sent once the upload
    has checked: the upload holds its enterprises' rows, so the filing waits
    for it instead of slipping in between its check and its insert, and then
    meets the upload's registration (409, naming it)."""
    svc = pg_svc
    usccs = [await svc.enterprise(3100 + k, industry="2921") for k in range(3)]
    raced = usccs[1]
    real_load = importing.Filing.load
    single: dict[str, Any] = {}

    async def load_then_race(self: importing.Filing, s: Any, keys: list[str]) -> None:
        await real_load(self, s, keys)
        if not single:  # the upload has checked: a single filing comes in now
            single["task"] = asyncio.create_task(
                svc.http.post("/permit/registrations", json={"uscc": raced}, headers=OFFICER)
            )
            single["waited"] = not await _finished_within(single["task"], 1.0)

    monkeypatch.setattr(importing.Filing, "load", load_then_race)
    r = await svc.http.post(
        "/permit/registrations:import",
        content=_ndjson([{"uscc": u} for u in usccs]),
        headers={**OFFICER, "content-type": "application/x-ndjson"},
    )
    answer = await single["task"]
    assert single["waited"], answer.text
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["totals"]["created"] == 3 and report["totals"]["error"] == 0, report
    number = report["results"][1]["number"]
    assert answer.status_code == 409, answer.text
    assert answer.json()["registration_no"] == number
    # One registration in force each; one event per registration made.
    from permit_svc.registrations.models import Registration

    async with svc.db.session() as s:
        counts = dict(
            (
                await s.execute(
                    select(Registration.uscc, func.count())
                    .where(Registration.status == "active")
                    .group_by(Registration.uscc)
                )
            ).all()
        )
    assert counts == dict.fromkeys(usccs, 1)
    assert len(await svc.events("registration.filed.v1")) == 3


async def test_a_permit_issued_while_a_registration_upload_checks(
    pg_svc: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An enterprise with a permit application whose industry has since been
    put under registration management: an issue of that application and a
    registrations:import row for the enterprise, at once (the issue sent once
    the upload has read the permits in force). The upload holds the
    enterprise's row, so the issue waits, then meets the registration and is
    refused: the enterprise ends with a registration, not both."""
    from .test_permit_or_registration import _reclassify

    svc = pg_svc
    uscc = await svc.enterprise(3150, industry="2641")
    r = await svc.http.post(
        "/permit/permits",
        json={"uscc": uscc, "pollutants": [{"pollutant": "NOx", "amount_t": "1"}]},
        headers=OFFICER,
    )
    assert r.status_code == 201, r.text
    permit_id = r.json()["id"]
    await _reclassify(svc, "C2641", "registration")
    real_in_force = importing.permits_in_force
    issue: dict[str, Any] = {"sent": asyncio.Event()}

    async def in_force_then_issue(s: Any, keys: list[str]) -> dict[str, str]:
        held = await real_in_force(s, keys)
        if "task" not in issue:  # the upload has checked: the issue comes in now
            issue["task"] = asyncio.create_task(
                svc.http.post(f"/permit/permits/{permit_id}/issue", headers=OFFICER)
            )
            issue["sent"].set()
            await _finished_within(issue["task"], 1.0)
        return held

    monkeypatch.setattr(importing, "permits_in_force", in_force_then_issue)
    upload, issued = await asyncio.gather(
        svc.http.post(
            "/permit/registrations:import",
            content=_ndjson([{"uscc": uscc}]),
            headers={**OFFICER, "content-type": "application/x-ndjson"},
        ),
        _issue_answer(issue),
    )
    assert upload.status_code == 200, upload.text
    (row,) = upload.json()["results"]
    outcomes = sorted([row["result"], "issued" if issued.status_code == 200 else "refused"])
    assert outcomes == ["created", "refused"], (row, issued.text)
    assert issued.status_code == 409, issued.text
    assert issued.json()["registration_no"] == row["number"]
    permit = (await svc.http.get(f"/permit/permits/{permit_id}", headers=OFFICER)).json()
    assert permit["status"] == "applied"
    assert await svc.events("permit.issued.v1") == []


async def _issue_answer(issue: dict[str, Any]) -> Any:
    """The issue's answer, once the upload has sent it."""
    await issue["sent"].wait()
    return await issue["task"]


async def test_an_enterprise_registered_elsewhere_between_the_imports_check_and_upsert(
    pg_svc: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A district officer's import upserts by USCC, so a row whose USCC
    another request registers meanwhile is applied, not a 409; but it must
    not take over an enterprise registered in another district (which
    `_keep_own` refuses when it is there before): that row is refused, as it
    would have been a moment later, and the rest land."""
    from permit_svc.enterprises import importing as enterprise_import
    from svc_common.uscc import make_uscc

    from .conftest import JIZHOU

    svc = pg_svc
    mine, theirs, same = make_uscc(BAODI, 3201), make_uscc(BAODI, 3202), make_uscc(BAODI, 3203)
    real_keep_own = enterprise_import._keep_own
    raced: dict[str, Any] = {}

    async def keep_own_then_race(*args: Any) -> Any:
        kept = await real_keep_own(*args)
        if not raced:  # checked: two single registrations come in now
            raced["theirs"] = await svc.http.post(
                "/permit/enterprises",
                json={
                    "uscc": theirs,
                    "name": "他区企业",
                    "district": JIZHOU,
                    "industry_code": "2641",
                },
                headers=testing.auth("officer", [JIZHOU]),
            )
            raced["same"] = await svc.http.post(
                "/permit/enterprises",
                json={"uscc": same, "name": "先登记", "district": BAODI, "industry_code": "2641"},
                headers=OFFICER,
            )
        return kept

    monkeypatch.setattr(enterprise_import, "_keep_own", keep_own_then_race)
    rows = [
        {"uscc": u, "name": f"导入企业{k}", "district": BAODI, "industry_code": "2641"}
        for k, u in enumerate((mine, theirs, same))
    ]
    r = await svc.http.post(
        "/permit/enterprises:import",
        content=_ndjson(rows),
        headers={**OFFICER, "content-type": "application/x-ndjson"},
    )
    assert raced["theirs"].status_code == raced["same"].status_code == 201
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["result"] for x in results] == ["created", "error", "updated"], results
    # Refused as another district's, without naming which.
    said = results[1]["errors"][0]["message"]
    assert "not one of yours" in said and "120119" not in said
    other = await svc.http.get(f"/permit/enterprises/{theirs}", headers=testing.auth("admin"))
    assert other.json()["district"] == JIZHOU and other.json()["name"] == "他区企业"
    own = (await svc.http.get(f"/permit/enterprises/{same}", headers=OFFICER)).json()
    assert own["name"] == "导入企业2"
    (event,) = await svc.events("enterprise.imported.v1")
    assert sorted(row[0] for row in event["data"]["rows"]) == sorted([mine, same])


@pytest.mark.parametrize("who", ["admin", "officer"])
async def test_an_enterprise_registered_meanwhile_in_another_district_or_industry(
    pg_svc: Service, monkeypatch: pytest.MonkeyPatch, who: str
) -> None:
    """A row whose enterprise another request registers, between the
    import's check and its upsert, in another district or industry than
    the row gives is not written (the district and industry are not
    changed in place): it is refused, naming what it would change, as a
    moment later; the other rows land. An officer is told, as before, that
    an enterprise of another district is not theirs."""
    from permit_svc.enterprises import importing as enterprise_import
    from svc_common.uscc import make_uscc

    from .conftest import JIZHOU

    svc = pg_svc
    principal = testing.auth("admin") if who == "admin" else OFFICER
    mine, moved, other_trade = (make_uscc(BAODI, 3301 + k) for k in range(3))
    real_upsert = enterprise_import._upsert_pg
    raced: dict[str, Any] = {}

    async def race_then_upsert(*args: Any) -> Any:
        if not raced:  # the rows are checked: two single registrations come in now
            for uscc, district, industry in ((moved, JIZHOU, "2641"), (other_trade, BAODI, "2921")):
                raced[uscc] = await svc.http.post(
                    "/permit/enterprises",
                    json={
                        "uscc": uscc,
                        "name": "先登记",
                        "district": district,
                        "industry_code": industry,
                    },
                    headers=testing.auth("officer", [district]),
                )
        return await real_upsert(*args)

    monkeypatch.setattr(enterprise_import, "_upsert_pg", race_then_upsert)
    rows = [
        {"uscc": u, "name": f"导入企业{k}", "district": BAODI, "industry_code": "2641"}
        for k, u in enumerate((mine, moved, other_trade))
    ]
    r = await svc.http.post(
        "/permit/enterprises:import",
        content=_ndjson(rows),
        headers={**principal, "content-type": "application/x-ndjson"},
    )
    assert [x.status_code for x in raced.values()] == [201, 201]
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["result"] for x in results] == ["created", "error", "error"], results
    (district_err,) = results[1]["errors"]
    if who == "admin":
        assert district_err["field"] == "district"
        assert "not changed in place" in district_err["message"]
        assert JIZHOU in district_err["message"]
    else:
        assert district_err["field"] == "uscc"
        # Another district's code: not which district holds it.
        assert "not one of yours" in district_err["message"]
        assert JIZHOU not in district_err["message"]
    (industry_err,) = results[2]["errors"]
    assert industry_err["field"] == "industry_code" and "C2921" in industry_err["message"]
    # Each as the single registration left it.
    for uscc, district, industry in ((moved, JIZHOU, "C2641"), (other_trade, BAODI, "C2921")):
        e = (
            await svc.http.get(f"/permit/enterprises/{uscc}", headers=testing.auth("admin"))
        ).json()
        assert (e["name"], e["district"], e["industry_code"]) == ("先登记", district, industry)
    (event,) = await svc.events("enterprise.imported.v1")
    assert [row[0] for row in event["data"]["rows"]] == [mine]
