"""One way of writing an industry code (GB/T 4754 with its section letter,
"C2641"): accepted with or without the letter, stored, answered and
announced with it; rows written before are migrated."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import pathlib

import sqlalchemy as sa
from permit_svc.app import create
from permit_svc.settings import Settings
from sqlalchemy.ext.asyncio import create_async_engine
from svc_common import testing
from svc_common.events.schemas.eia import FilingApproved
from svc_common.migrate import upgrade
from svc_common.types import UTCDateTime
from svc_common.uscc import make_uscc

from .conftest import BAODI, Service

OFFICER = testing.auth("officer", [BAODI])
MIGRATIONS = pathlib.Path(__file__).parents[1] / "src/permit_svc/migrations"


async def test_either_form_in_the_lettered_form_out(svc: Service) -> None:
    table = (await svc.http.get("/permit/industries", headers=OFFICER)).json()
    assert {"industry_code": "C2641", "name": "涂料制造", "category": "key"} in table
    assert all(t["industry_code"][0].isalpha() for t in table)
    plain = await svc.enterprise(1, industry="2641")
    lettered = await svc.enterprise(2, industry="C2921")
    for uscc, code in ((plain, "C2641"), (lettered, "C2921")):
        e = (await svc.http.get(f"/permit/enterprises/{uscc}", headers=OFFICER)).json()
        assert e["industry_code"] == code
    r = await svc.http.post(
        "/permit/enterprises",
        json={
            "uscc": make_uscc(BAODI, 3),
            "name": "x",
            "district": BAODI,
            "industry_code": "D2641",
        },
        headers=OFFICER,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "industry_code"
    assert "section C" in r.json()["errors"][0]["message"]
    # Bulk: both forms, one stored form, announced with the letter.
    rows = [
        {"uscc": make_uscc(BAODI, 10), "name": "a", "district": BAODI, "industry_code": "3311"},
        {"uscc": make_uscc(BAODI, 11), "name": "b", "district": BAODI, "industry_code": "c3311"},
        {"uscc": make_uscc(BAODI, 12), "name": "c", "district": BAODI, "industry_code": "9999"},
    ]
    r = await svc.http.post(
        "/permit/enterprises:import",
        content="\n".join(json.dumps(x) for x in rows).encode(),
        headers={**OFFICER, "content-type": "application/x-ndjson"},
    )
    results = r.json()["results"]
    assert [x["result"] for x in results] == ["created", "created", "error"]
    assert results[2]["errors"][0]["field"] == "industry_code"
    (imported,) = await svc.events("enterprise.imported.v1")
    assert {row[3] for row in imported["data"]["rows"]} == {"C3311"}
    registered = await svc.events("enterprise.registered.v1")
    assert [e["data"]["industry_code"] for e in registered] == ["C2641", "C2921"]
    # Registrations and permits carry the enterprise's code.
    r = await svc.http.post("/permit/registrations", json={"uscc": lettered}, headers=OFFICER)
    assert r.json()["industry_code"] == "C2921"
    (filed,) = await svc.events("registration.filed.v1")
    assert filed["data"]["industry_code"] == "C2921"
    # A classification table in either form replaces the table in one form.
    new_table = "industry_code,name,category\n2641,涂料制造,key\nC2921,塑料薄膜制造,registration\n"
    new_table += "C3311,金属结构制造,registration\n"
    r = await svc.http.post(
        "/permit/industries:import",
        content=new_table.encode(),
        headers=testing.auth("admin", **{"content-type": "text/csv"}),
    )
    assert r.status_code == 200, r.text
    assert [x["row_key"] for x in r.json()["results"]] == ["C2641", "C2921", "C3311"]


async def test_an_approved_filing_in_either_form_drafts_one_application(svc: Service) -> None:
    for i, code in enumerate(("C2641", "2641")):
        await testing.deliver(
            svc.app,
            FilingApproved(
                filing_id=f"f-{i}",
                project_ref=f"eia:f-{i}",
                project_name="涂装线",
                uscc=make_uscc(BAODI, 40 + i),
                enterprise_name="某涂料厂",
                district=BAODI,
                industry_code=code,
                category="report_form",
                vocs_increment_t="1.5",  # type: ignore[arg-type]
            ),
        )
        e = (
            await svc.http.get(f"/permit/enterprises/{make_uscc(BAODI, 40 + i)}", headers=OFFICER)
        ).json()
        assert (e["industry_code"], e["category"]) == ("C2641", "key")


async def test_rows_written_before_are_migrated(db_url: str) -> None:
    """A database at the revision before the change, holding codes without
    the letter, reads back with it after the upgrade."""
    await asyncio.to_thread(upgrade, MIGRATIONS, db_url, "common_v2")
    engine = create_async_engine(db_url)
    uscc = make_uscc(BAODI, 1)
    enterprises = sa.table(
        "enterprises",
        *(
            sa.column(c, sa.String)
            for c in ("uscc", "name", "district", "industry_code", "category", "address")
        ),
        sa.column("operating_status", sa.String),
        sa.column("created_at", UTCDateTime),
        sa.column("updated_at", UTCDateTime),
    )
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    async with engine.begin() as c:
        await c.execute(
            sa.text("INSERT INTO industries (code, name, category) VALUES ('2641', '涂料', 'key')")
        )
        await c.execute(
            enterprises.insert().values(
                uscc=uscc,
                name="x",
                district=BAODI,
                industry_code="2641",
                category="key",
                address="",
                operating_status="operating",
                created_at=now,
                updated_at=now,
            )
        )
    await engine.dispose()
    app = create(Settings(database_url=db_url, log_json=False, log_level="WARNING"))
    async with testing.running(app) as http:
        e = (await http.get(f"/permit/enterprises/{uscc}", headers=OFFICER)).json()
        assert e["industry_code"] == "C2641"
        table = (await http.get("/permit/industries", headers=OFFICER)).json()
        assert [t["industry_code"] for t in table] == ["C2641"]
