"""The classification table and control units through the API."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from svc_common import testing

from ..conftest import JIZHOU, admin, filer, officer, registration

ZH = {"Accept-Language": "zh-CN"}


async def test_project_types_and_classify(client: httpx.AsyncClient) -> None:
    types = (await client.get("/eia/project-types", headers=filer())).json()
    assert len(types) >= 30
    assert {t["category"] for t in types} == {
        "report",
        "report_form",
        "registration_form",
        "exempt",
    }
    r = await client.post("/eia/classify", json={"project_type": "P8331"}, headers=filer())
    assert r.json()["category"] == "exempt" and r.json()["needs_filing"] is False
    assert "化学实验室" in r.json()["rule"]
    r = await client.post("/eia/classify", json={"project_type": "C2511"}, headers=filer())
    assert r.json()["category"] == "report" and r.json()["needs_filing"] is True
    r = await client.post("/eia/classify", json={"project_type": "ZZ"}, headers=filer())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "project_type"


async def test_import_replaces_the_table_all_or_nothing(client: httpx.AsyncClient) -> None:
    csv_headers = {**admin(), "content-type": "text/csv"}
    bad = "code,name,industry_code,category,rule\nX1,甲,C1391,report,r\nX2,乙,2011,maybe,r\n"
    r = await client.post("/eia/project-types:import", content=bad, headers=csv_headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "line 3.category"
    assert len((await client.get("/eia/project-types", headers=admin())).json()) >= 30
    forbidden = {**filer(), "content-type": "text/csv"}
    assert (
        await client.post("/eia/project-types:import", content=bad, headers=forbidden)
    ).status_code == 403

    good = (
        "code,name,industry_code,category,rule\n"
        "Q8412,社区卫生服务中心,Q8412,exempt,新规\n"
        "C2011,锯材加工,C2011,registration_form,年产5万立方米以下(登记表)\n"
        "X9999,新类别,C3311,report,全部(报告书)\n"
    )
    r = await client.post("/eia/project-types:import", content=good, headers=csv_headers)
    assert r.status_code == 200, r.text
    assert r.json()["rows"] == 3
    assert [(x["row_key"], x["result"]) for x in r.json()["results"]] == [
        ("Q8412", "updated"),
        ("C2011", "replayed"),
        ("X9999", "created"),
    ]
    # The new table decides at once: this type is now exempt.
    r = await client.post("/eia/registrations", json=registration(), headers=filer())
    assert r.status_code == 422 and r.json()["needs_filing"] is False and "新规" in r.json()["rule"]


async def test_the_table_is_taken_only_as_csv_and_within_its_size(
    client: httpx.AsyncClient,
) -> None:
    """A spreadsheet or JSON lines were read as if they were CSV (a 422 about
    the header, or a table replaced from a body sent as another type); a
    table over the size limit was a 422, not the 413 of any other limit."""
    good = "code,name,industry_code,category,rule\nX9999,新类别,C3311,report,全部(报告书)\n"
    for media in (
        "application/x-ndjson",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "text/plain",
    ):
        r = await client.post(
            "/eia/project-types:import", content=good, headers={**admin(), "content-type": media}
        )
        assert r.status_code == 415, (media, r.text)
        assert r.json()["accepted"] == ["text/csv", "application/csv"]
    codes = {t["code"] for t in (await client.get("/eia/project-types", headers=admin())).json()}
    assert "X9999" not in codes
    huge = good + "#" * 2_000_000
    r = await client.post(
        "/eia/project-types:import", content=huge, headers={**admin(), "content-type": "text/csv"}
    )
    assert r.status_code == 413 and r.json()["max_bytes"] == 2_000_000, r.text


async def test_control_units(client: httpx.AsyncClient) -> None:
    unit = {
        "name": "宝坻区重点管控单元",
        "district": "120115",
        "kind": "key_control",
        "banned_industries": ["c2511", "C26"],
        "rule": "禁止新建石化、化工项目",
    }
    r = await client.put("/eia/control-units/BD-ZD-03", json=unit, headers=admin())
    assert r.status_code == 200 and r.json()["banned_industries"] == ["C2511", "C26"]
    unit["kind"] = "general_control"
    await client.put("/eia/control-units/BD-ZD-03", json=unit, headers=admin())
    units = (await client.get("/eia/control-units", headers=officer())).json()
    assert [(u["code"], u["kind"]) for u in units] == [("BD-ZD-03", "general_control")]
    bad = {**unit, "kind": "other", "district": "999999", "banned_industries": ["26"]}
    r = await client.put("/eia/control-units/BD-ZD-04", json=bad, headers=admin())
    # Every problem of the request is named at once ("26" is the prefix C26).
    fields = {e["field"] for e in r.json()["errors"]}
    assert r.status_code == 422 and fields == {"kind", "district"}
    r = await client.put(
        "/eia/control-units/BD-ZD-04", json={**unit, "district": "999999"}, headers=admin()
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "district"
    r = await client.put(
        "/eia/control-units/BD-ZD-04", json={**unit, "banned_industries": ["D26"]}, headers=admin()
    )
    assert r.json()["errors"][0]["field"] == "banned_industries.0"
    assert (
        await client.put(
            "/eia/control-units/X", json=unit, headers=testing.auth("officer", [JIZHOU])
        )
    ).status_code == 403


async def test_two_replicas_starting_together_load_the_table_once(pg_url: str) -> None:
    import asyncio
    import contextlib

    from eia_svc.app import create, spec
    from eia_svc.settings import Settings
    from svc_common.migrate import upgrade_async

    # Migrated first: Alembic cannot run twice at once in one process (replicas
    # are separate processes); what races here is the start-up table load.
    await upgrade_async(spec().migrations_dir, pg_url)
    apps = [
        create(Settings(database_url=pg_url, log_json=False, run_migrations=False))
        for _ in range(2)
    ]
    async with contextlib.AsyncExitStack() as stack:
        clients = await asyncio.gather(
            *(stack.enter_async_context(testing.running(app)) for app in apps)
        )
        types = (await clients[1].get("/eia/project-types", headers=admin())).json()
    assert len(types) == 37


async def test_tables_written_at_once_are_replaced_in_turn_not_refused(
    client: httpx.AsyncClient,
) -> None:
    """Sent at the same moment, each write of a control unit or of the
    project-type table is applied, one after the other: none is refused."""
    import asyncio

    unit = {
        "name": "并发管控单元",
        "district": "120115",
        "kind": "key_control",
        "banned_industries": ["C26"],
        "rule": "禁止新建化工项目",
    }
    answers = await asyncio.gather(
        *(
            client.put(
                "/eia/control-units/RACE-01", json={**unit, "rule": f"第{k}版"}, headers=admin()
            )
            for k in range(5)
        )
    )
    assert [r.status_code for r in answers] == [200] * 5, [r.text for r in answers]
    table = "code,name,industry_code,category,rule\nC2011,锯材加工,C2011,registration_form,r{k}\n"
    csv_headers = {**admin(), "content-type": "text/csv"}
    answers = await asyncio.gather(
        *(
            client.post("/eia/project-types:import", content=table.format(k=k), headers=csv_headers)
            for k in range(4)
        )
    )
    assert [r.status_code for r in answers] == [200] * 4, [r.text for r in answers]


async def test_an_unquoted_comma_refuses_the_import_and_start_up_leaves_the_table(
    client: httpx.AsyncClient, make_app: Any, db_url: str
) -> None:
    """`POST /eia/project-types:import` refuses a row of more cells than the
    header (a comma in a cell not quoted), naming the line; an unknown code
    is said to be missing from the loaded table. Start-up leaves a loaded
    table as it is: the E4819 row an earlier shipped table loaded without
    its condition was repaired on every start, it is repaired once by
    migration 0007 (test_e4819_migration.py)."""
    table = (
        "code,name,industry_code,category,rule\n"
        "E4819,市政道路维修改造,E4819,exempt,原有道路维修、改造,不新增占地(免于环评管理)\n"
    )
    r = await client.post(
        "/eia/project-types:import",
        content=table,
        headers={**admin(), "content-type": "text/csv", **ZH},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "line 2.rule", r.text
    assert "引号" in r.json()["errors"][0]["message"]
    r = await client.post("/eia/classify", json={"project_type": "ZZ9"}, headers={**filer(), **ZH})
    said = r.json()["errors"][0]["message"]
    assert r.status_code == 422 and "不在本系统已载入的分类管理名录中" in said, said

    engine = create_async_engine(db_url)
    async with engine.begin() as conn:
        await conn.execute(
            sa.text("UPDATE project_types SET rule = '原有道路维修、改造' WHERE code = 'E4819'")
        )
    await engine.dispose()
    async with testing.running(make_app()) as again:
        r = await again.post("/eia/classify", json={"project_type": "E4819"}, headers=filer())
    assert r.json()["rule"] == "原有道路维修、改造"
