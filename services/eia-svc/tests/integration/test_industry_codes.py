"""Industry codes in one form (GB/T 4754 with its section letter): given with
or without the letter, stored and answered with it; rows written before are
migrated."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import pathlib

import httpx
import sqlalchemy as sa
from eia_svc.app import create
from eia_svc.settings import Settings
from sqlalchemy.ext.asyncio import create_async_engine
from svc_common import testing
from svc_common.migrate import upgrade
from svc_common.types import JSONType, UTCDateTime

from ..conftest import JIZHOU, admin, events_of, filer, filing, registration

MIGRATIONS = pathlib.Path(__file__).parents[2] / "src/eia_svc/migrations"


async def test_either_form_in_the_lettered_form_out(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/eia/registrations", json=registration(industry_code="8412"), headers=filer()
    )
    assert r.status_code == 201, r.text
    got = await client.get(f"/eia/registrations/{r.json()['filing_id']}", headers=filer())
    assert got.json()["industry_code"] == "Q8412"
    r = await client.post(
        "/eia/registrations",
        json=registration(industry_code="D8412", row_key="wrong-letter"),
        headers=filer(),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "industry_code"
    r = await client.post("/eia/filings", json=filing(industry_code="3670"), headers=filer())
    assert r.status_code == 201 and r.json()["industry_code"] == "C3670"
    # A negative list written either way bans the same industries.
    unit = {
        "name": "蓟州区重点管控单元",
        "district": JIZHOU,
        "kind": "key_control",
        "banned_industries": ["26", "c3670"],
        "rule": "禁止新建化工、涂装项目",
    }
    r = await client.put("/eia/control-units/JZ-ZD-01", json=unit, headers=admin())
    assert r.status_code == 200 and r.json()["banned_industries"] == ["C26", "C3670"]
    r = await client.put(
        "/eia/control-units/JZ-ZD-02",
        json={**unit, "banned_industries": ["D26"]},
        headers=admin(),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "banned_industries.0"
    r = await client.post(
        "/eia/filings",
        json=filing(project_type="C2641", industry_code="2641", control_unit="JZ-ZD-01"),
        headers=filer(),
    )
    assert r.status_code == 422 and r.json()["entry"] == "C26"
    # The table itself takes either form and keeps one.
    table = "code,name,industry_code,category,rule\n"
    table += "Q8412,社区卫生服务中心,8412,registration_form,r\n"
    r = await client.post(
        "/eia/project-types:import",
        content=table,
        headers={**admin(), "content-type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    types = (await client.get("/eia/project-types", headers=filer())).json()
    assert [t["industry_code"] for t in types] == ["Q8412"]
    bad = table.replace(",8412,", ",9912,")
    r = await client.post(
        "/eia/project-types:import", content=bad, headers={**admin(), "content-type": "text/csv"}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "line 2.industry_code"
    filed = await events_of(client.app, "eia.registration.filed.v1")  # type: ignore[attr-defined]
    assert filed


async def test_rows_written_before_are_migrated(db_url: str) -> None:
    await asyncio.to_thread(upgrade, MIGRATIONS, db_url, "0003")
    engine = create_async_engine(db_url)
    units = sa.table(
        "control_units",
        *(sa.column(c, sa.String) for c in ("code", "name", "district", "kind", "rule")),
        sa.column("banned_industries", JSONType),
        sa.column("updated_at", UTCDateTime),
    )
    async with engine.begin() as c:
        await c.execute(
            sa.text(
                "INSERT INTO project_types (code, name, industry_code, category, rule) "
                "VALUES ('C2011', '锯材加工', '2011', 'registration_form', 'r')"
            )
        )
        await c.execute(
            units.insert().values(
                code="U1",
                name="u",
                district=JIZHOU,
                kind="key_control",
                rule="r",
                banned_industries=["26", "C3670"],
                updated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            )
        )
    await engine.dispose()
    app = create(Settings(database_url=db_url, log_json=False, log_level="WARNING"))
    async with testing.running(app) as http:
        types = (await http.get("/eia/project-types", headers=filer())).json()
        assert [t["industry_code"] for t in types] == ["C2011"]
        listed = (await http.get("/eia/control-units", headers=filer())).json()
        assert listed[0]["banned_industries"] == ["C26", "C3670"]


async def test_a_stated_industry_cannot_slip_past_a_negative_list(
    client: httpx.AsyncClient,
) -> None:
    """A spray-painting project (C3360) in a unit banning C33 stated the
    industry O8111 (or Q8412) and was filed; a C3311 registration stating
    F5261 likewise. The stated code must be the type's, on every path."""
    unit = {
        "name": "蓟州区重点管控单元",
        "district": JIZHOU,
        "kind": "key_control",
        "banned_industries": ["C33", "C26"],
        "rule": "禁止新建涂装、化工项目",
    }
    assert (
        await client.put("/eia/control-units/JZ-KC-01", json=unit, headers=admin())
    ).status_code == 200
    for stated in (None, "O8111", "Q8412"):
        body = filing(project_type="C3360", control_unit="JZ-KC-01")
        if stated:
            body["industry_code"] = stated
        r = await client.post("/eia/filings", json=body, headers=filer())
        assert r.status_code == 422 and r.json()["reason"] == "banned", r.text
        fields = [e["field"] for e in r.json()["errors"]]
        assert fields == (["industry_code", "control_unit"] if stated else ["control_unit"])
    # Without a unit the mismatch alone is refused, naming the field.
    r = await client.post(
        "/eia/filings", json=filing(project_type="C3360", industry_code="O8111"), headers=filer()
    )
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["industry_code"]
    assert "C3360" in r.json()["errors"][0]["message"]
    reg = registration(project_type="C3311", industry_code="F5261", control_unit="JZ-KC-01")
    r = await client.post("/eia/registrations", json=reg, headers=filer())
    assert r.status_code == 422 and r.json()["reason"] == "banned"
    assert [e["field"] for e in r.json()["errors"]] == ["industry_code", "control_unit"]
    r = await client.post(
        "/eia/registrations",
        json=registration(project_type="C3311", industry_code="F5261"),
        headers=filer(),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "industry_code"
    # Bulk, as CSV (plain rows) and as JSON lines: the row's errors alike.
    header = "project_name,uscc,enterprise_name,district,project_type,industry_code,control_unit\n"
    row = f"钢结构,{reg['uscc']},某钢构,{JIZHOU},C3311,F5261,JZ-KC-01\n"
    csv_r = await client.post(
        "/eia/registrations:bulk",
        content=header + row + row.replace(",JZ-KC-01", ","),
        headers={**filer(), "content-type": "text/csv"},
    )
    lines = json.dumps(reg) + "\n" + json.dumps({**reg, "control_unit": None}) + "\n"
    nd_r = await client.post(
        "/eia/registrations:bulk",
        content=lines,
        headers={**filer(), "content-type": "application/x-ndjson"},
    )
    for r in (csv_r, nd_r):
        results = r.json()["results"]
        assert [x["result"] for x in results] == ["error", "error"], r.text
        assert [e["field"] for e in results[0]["errors"]] == ["industry_code", "control_unit"]
        assert [e["field"] for e in results[1]["errors"]] == ["industry_code"]
    # The type's own code, with or without its letter, is still filed.
    r = await client.post(
        "/eia/registrations",
        json=registration(project_type="C3311", industry_code="3311", row_key="own"),
        headers=filer(),
    )
    assert r.status_code == 201, r.text
