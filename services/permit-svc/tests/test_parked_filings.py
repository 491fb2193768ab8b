"""An approved EIA filing of a new enterprise whose industry code is not in
the classification table is parked (was: a warning in the log, nothing
drafted, nothing anyone could see or re-drive): listed with its reason,
drafted when an administrator's table gains the code, or re-driven."""

from __future__ import annotations

import asyncio
import pathlib
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from alembic import command
from permit_svc.enterprises.service import SHIPPED_TABLE
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine
from svc_common import testing
from svc_common.events.schemas.eia import FilingApproved
from svc_common.migrate import alembic_config
from svc_common.tables import AuditEntry
from svc_common.uscc import make_uscc

from .conftest import BAODI, JIZHOU, Service

OFFICER = testing.auth("officer", [BAODI])
ADMIN = testing.auth("admin")
MIGRATIONS = pathlib.Path(__file__).parents[1] / "src/permit_svc/migrations"
#: Codes of eia-svc's project types that the shipped table lacks.
PESTICIDES, HOSPITAL = "C2631", "Q8411"


def approved(serial: int, code: str = PESTICIDES, district: str = BAODI) -> FilingApproved:
    return FilingApproved(
        filing_id=f"EIA-2026-{serial:04d}",
        project_ref=f"P-{serial}",
        project_name="新建项目",
        uscc=make_uscc(district, serial),
        enterprise_name=f"企业{serial}",
        district=district,
        industry_code=code,
        category="report",
        vocs_increment_t=Decimal("2.5"),
    )


async def parked(svc: Service, query: str = "", headers: dict[str, str] = OFFICER) -> Any:
    r = await svc.http.get(f"/permit/parked-filings{query}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def audit_actions(svc: Service, target_id: str) -> list[str]:
    async with svc.db.session() as s:
        rows = await s.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.target_id == target_id)
            .order_by(AuditEntry.id)
        )
        return list(rows.all())


async def upload_table(svc: Service, *extra_rows: str) -> Any:
    text = SHIPPED_TABLE.read_text("utf-8").rstrip("\n") + "\n" + "".join(extra_rows)
    r = await svc.http.post(
        "/permit/industries:import",
        content=text.encode(),
        headers=testing.auth("admin", **{"content-type": "text/csv"}),
    )
    assert r.status_code == 200, r.text
    return r.json()


async def test_an_unclassified_filing_is_parked_once(svc: Service) -> None:
    event = approved(1)
    env = await testing.deliver(svc.app, event)
    await testing.redeliver(svc.app, env, "eia.events")
    await testing.deliver(svc.app, event)  # re-published with a new id
    (item,) = (await parked(svc))["items"]
    assert item["filing_id"] == "EIA-2026-0001"
    assert (item["state"], item["reason"]) == ("waiting", "industry_unclassified")
    assert (item["uscc"], item["district"], item["industry_code"]) == (
        event.uscc,
        BAODI,
        PESTICIDES,
    )
    assert (item["project_ref"], item["vocs_increment_t"]) == ("P-1", "2.500")
    assert item["enterprise_name"] == "企业1" and item["received_at"]
    assert item["permit_id"] is None and item["drafted_at"] is None
    assert "C2631 is not in the classification table" in item["reason_text"]
    zh = await parked(svc, headers={**OFFICER, "Accept-Language": "zh-CN"})
    assert "C2631 不在分类管理名录中" in zh["items"][0]["reason_text"]
    assert await audit_actions(svc, "EIA-2026-0001") == ["parked_filing.park"]
    # Nothing was drafted, nor the enterprise made up.
    r = await svc.http.get("/permit/permits?status=applied", headers=OFFICER)
    assert r.json()["items"] == []
    r = await svc.http.get(f"/permit/enterprises/{event.uscc}", headers=OFFICER)
    assert r.status_code == 404
    samples = await testing.figures(svc.app, svc.http)
    labels = {"district": BAODI, "reason": "industry_unclassified"}
    assert testing.figure(samples, "permit_filings_parked", **labels) == 1
    assert testing.figure(samples, "permit_filings_parked", **{**labels, "district": JIZHOU}) == 0


async def test_a_table_gaining_the_code_drafts_its_waiting_filings(svc: Service) -> None:
    await testing.deliver(svc.app, approved(2))
    await testing.deliver(svc.app, approved(3, HOSPITAL))
    report = await upload_table(svc, f"{PESTICIDES},化学农药制造,key\n")
    assert report["results"][-1]["row_key"] == PESTICIDES
    (draft,) = (await svc.http.get("/permit/permits?status=applied", headers=OFFICER)).json()[
        "items"
    ]
    assert draft["source_filing_id"] == "EIA-2026-0002"
    assert draft["pollutants"] == [{"pollutant": "VOCs", "amount_t": "2.500"}]
    assert (draft["category"], draft["enterprise_name"]) == ("key", "企业2")
    # The hospital's code is still missing: it waits.
    (left,) = (await parked(svc))["items"]
    assert left["filing_id"] == "EIA-2026-0003"
    (done,) = (await parked(svc, "?state=drafted"))["items"]
    assert (done["filing_id"], done["permit_id"]) == ("EIA-2026-0002", draft["id"])
    assert done["drafted_at"] is not None
    assert await audit_actions(svc, "EIA-2026-0002") == [
        "parked_filing.park",
        "parked_filing.draft",
    ]
    samples = await testing.figures(svc.app, svc.http)
    assert (
        testing.figure(
            samples, "permit_filings_parked", district=BAODI, reason="industry_unclassified"
        )
        == 1
    )
    # A code under registration management: the enterprise is made, no permit.
    await upload_table(
        svc, f"{PESTICIDES},化学农药制造,key\n", f"{HOSPITAL},综合医院,registration\n"
    )
    assert (await parked(svc))["items"] == []
    drafted = {i["filing_id"]: i for i in (await parked(svc, "?state=drafted"))["items"]}
    assert drafted["EIA-2026-0003"]["permit_id"] is None
    e = await svc.http.get(f"/permit/enterprises/{make_uscc(BAODI, 3)}", headers=OFFICER)
    assert e.json()["category"] == "registration"


async def test_the_list_is_the_caller_s_districts(svc: Service) -> None:
    for serial, district in ((4, BAODI), (5, JIZHOU), (6, BAODI)):
        await testing.deliver(svc.app, approved(serial, district=district))
    ids = [i["filing_id"] for i in (await parked(svc))["items"]]
    assert ids == ["EIA-2026-0004", "EIA-2026-0006"]
    assert len((await parked(svc, headers=ADMIN))["items"]) == 3
    # One page at a time, the longest waiting first.
    first = await parked(svc, "?limit=1")
    assert [i["filing_id"] for i in first["items"]] == ["EIA-2026-0004"]
    second = await parked(svc, f"?limit=1&cursor={first['next_cursor']}")
    assert [i["filing_id"] for i in second["items"]] == ["EIA-2026-0006"]
    assert second["next_cursor"] is None
    assert len((await parked(svc, f"?industry_code=2631&district={BAODI}"))["items"]) == 2
    r = await svc.http.get(f"/permit/parked-filings?district={JIZHOU}", headers=OFFICER)
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    # An auditor reads the queue (the workbench admits auditors); investment
    # staff do not: it is the bureau's own work.
    r = await svc.http.get("/permit/parked-filings", headers=testing.auth("auditor"))
    assert r.status_code == 200 and len(r.json()["items"]) == 3, r.text  # citywide
    r = await svc.http.get("/permit/parked-filings", headers=testing.auth("investment"))
    assert r.status_code == 403
    r = await svc.http.get("/permit/parked-filings?state=lost", headers=OFFICER)
    assert r.status_code == 422
    r = await svc.http.get("/permit/parked-filings?cursor=nonsense", headers=OFFICER)
    assert r.status_code == 400 or r.status_code == 422


async def test_redrive_drafts_once_the_cause_is_fixed(svc: Service) -> None:
    event = approved(7)
    await testing.deliver(svc.app, event)
    path = "/permit/parked-filings/EIA-2026-0007/redrive"
    r = await svc.http.post(path, headers=OFFICER)
    assert r.status_code == 403
    missing = await svc.http.post("/permit/parked-filings/EIA-2026-9999/redrive", headers=ADMIN)
    other = await svc.http.post(path, headers=testing.auth("admin", [JIZHOU]))
    assert testing.as_not_found(other, ("EIA-2026-0007", "X")) == testing.as_not_found(
        missing, ("EIA-2026-9999", "X")
    )
    # It takes no body.
    r = await svc.http.post(path, json={"force": True}, headers=ADMIN)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    # The code is still unclassified: refused, with the reason.
    r = await svc.http.post(path, headers=ADMIN)
    assert r.status_code == 409, r.text
    assert r.json()["reason"] == "industry_unclassified"
    assert r.json()["industry_code"] == PESTICIDES
    assert "classification table" in r.json()["detail"]
    # An officer registers the enterprise under the class it belongs to.
    await svc.enterprise(7, industry="C2641")
    r = await svc.http.post(path, headers=testing.auth("admin", [BAODI]))
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "drafted" and r.json()["permit_id"]
    p = await svc.http.get(f"/permit/permits/{r.json()['permit_id']}", headers=OFFICER)
    assert p.json()["source_filing_id"] == "EIA-2026-0007"
    assert await audit_actions(svc, "EIA-2026-0007") == [
        "parked_filing.park",
        "parked_filing.draft",
    ]
    again = await svc.http.post(path, headers=ADMIN)
    assert again.status_code == 409 and again.json()["state"] == "drafted"
    # The event sent again drafts nothing more.
    await testing.deliver(svc.app, event)
    r = await svc.http.get("/permit/permits?status=applied", headers=OFFICER)
    assert len(r.json()["items"]) == 1


async def test_the_table_comes_and_goes_with_its_migration(db_url: str) -> None:
    cfg = alembic_config(MIGRATIONS, db_url)
    await asyncio.to_thread(command.upgrade, cfg, "head")
    await asyncio.to_thread(command.downgrade, cfg, "0006")

    async def tables() -> set[str]:
        engine = create_async_engine(db_url)
        async with engine.connect() as c:
            names = await c.run_sync(lambda sync: set(sa.inspect(sync).get_table_names()))
        await engine.dispose()
        return names

    assert "parked_filings" not in await tables()
    await asyncio.to_thread(command.upgrade, cfg, "head")
    assert "parked_filings" in await tables()


async def test_the_approval_sent_again_after_the_enterprise_is_registered_settles_it(
    svc: Service,
) -> None:
    """Drafted by the event's handler (its enterprise known now), a parked
    filing is no longer listed as waiting."""
    event = approved(8)
    await testing.deliver(svc.app, event)
    await svc.enterprise(8, industry="C2641")
    await testing.deliver(svc.app, event)  # re-published with a new id
    assert (await parked(svc))["items"] == []
    (done,) = (await parked(svc, "?state=drafted"))["items"]
    (draft,) = (await svc.http.get("/permit/permits?status=applied", headers=OFFICER)).json()[
        "items"
    ]
    assert done["permit_id"] == draft["id"]


def test_the_park_rules() -> None:
    from permit_svc.parked import rules

    # A known enterprise has its category; a new one needs the table's.
    assert rules.park_reason(True, None) is None
    assert rules.park_reason(False, "key") is None
    assert rules.park_reason(False, None) == "industry_unclassified"
    assert rules.redrive_refusal("waiting", None, PESTICIDES) is None
    assert "already drafted" in (rules.redrive_refusal("drafted", None, PESTICIDES) or "")
    refusal = rules.redrive_refusal("waiting", "industry_unclassified", PESTICIDES) or ""
    assert PESTICIDES in refusal and "classification table" in refusal
