"""Enterprises: registration with USCC checks, bulk import with per-row
results, listing by district and category, and the classification table."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import func, select, text
from svc_common import clock, testing
from svc_common.tables import AuditEntry
from svc_common.uscc import make_uscc

from .conftest import BAODI, JIZHOU, Service

OFFICER = testing.auth("officer", [BAODI])
ADMIN = testing.auth("admin")


async def test_create_get_and_reject_bad_input(svc: Service) -> None:
    uscc = await svc.enterprise(1, industry="2110", address="宝坻区九园工业园")
    r = await svc.http.get(f"/permit/enterprises/{uscc}", headers=OFFICER)
    assert r.status_code == 200
    assert r.json()["category"] == "simplified" and r.json()["operating_status"] == "operating"
    again = await svc.http.post(
        "/permit/enterprises",
        json={"uscc": uscc, "name": "x", "district": BAODI, "industry_code": "2110"},
        headers=OFFICER,
    )
    assert again.status_code == 409
    assert (
        await svc.http.get(f"/permit/enterprises/{make_uscc(BAODI, 2)}", headers=OFFICER)
    ).status_code == 404
    # A wrong check character is a 422 that says so.
    good = make_uscc(BAODI, 7)
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    r = await svc.http.post(
        "/permit/enterprises",
        json={"uscc": bad, "name": "某厂", "district": BAODI, "industry_code": "2641"},
        headers=OFFICER,
    )
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    (err,) = r.json()["errors"]
    assert err["field"] == "uscc"
    assert f"check character is wrong: '{bad[17]}' given, '{good[17]}' expected" in err["message"]
    body = {"uscc": make_uscc(BAODI, 8), "name": "某厂", "district": BAODI, "industry_code": "9999"}
    r = await svc.http.post("/permit/enterprises", json=body, headers=OFFICER)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "industry_code"
    r = await svc.http.post(
        "/permit/enterprises", json={**body, "district": "110101"}, headers=ADMIN
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "district"
    # A misspelt field is refused, not registered as its default (no address).
    body = {**body, "industry_code": "2641", "adress": "宝坻区某路1号"}
    r = await svc.http.post("/permit/enterprises", json=body, headers=OFFICER)
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["adress"]


async def test_bulk_import_reports_each_row_and_keeps_the_valid_ones(svc: Service) -> None:
    good = [make_uscc(BAODI, i) for i in range(3)]
    lines = [
        json.dumps({"uscc": good[0], "name": "甲厂", "district": BAODI, "industry_code": "2641"}),
        json.dumps(
            {"uscc": good[1][:17] + "Z", "name": "乙厂", "district": BAODI, "industry_code": "2641"}
        ),
        "{not json",
        json.dumps({"uscc": good[1], "name": "丙厂", "district": JIZHOU, "industry_code": "2641"}),
        json.dumps({"uscc": good[2], "name": "", "district": BAODI, "industry_code": "0000"}),
        json.dumps(
            {"uscc": good[0], "name": "甲厂again", "district": BAODI, "industry_code": "2641"}
        ),
        json.dumps({"uscc": good[2], "name": "丁厂", "district": BAODI, "industry_code": "3311"}),
    ]
    r = await svc.http.post(
        "/permit/enterprises:import",
        content="\n".join(lines).encode(),
        headers={**OFFICER, "content-type": "application/x-ndjson"},
    )
    assert r.status_code == 200, r.text
    report = r.json()
    totals = report["totals"]
    assert (report["rows"], totals["created"], totals["updated"], totals["error"]) == (7, 2, 0, 5)
    results = {row["row"]: row for row in report["results"]}
    assert results[1]["row_key"] == results[1]["id"] == good[0]
    assert results[1]["result"] == "created"
    assert results[2]["errors"][0]["field"] == "uscc"
    assert "not allowed" in results[2]["errors"][0]["message"]
    assert results[3]["errors"][0]["field"] == "row"
    (err,) = results[4]["errors"]
    assert (err["field"], err["message"]) == ("district", "is not one of your districts")
    assert {e["field"] for e in results[5]["errors"]} == {"name", "industry_code"}
    assert "first in row 1" in results[6]["errors"][0]["message"]
    assert results[7]["result"] == "created"
    # One audit entry for the import, in its transaction.
    async with svc.db.session() as s:
        n = await s.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "enterprise.import")
        )
    assert n == 1


async def test_bulk_import_is_an_upsert_by_uscc_from_csv(svc: Service) -> None:
    csv_text = "uscc,name,district,industry_code,address\n" + "\n".join(
        f"{make_uscc(BAODI, i)},企业{i},{BAODI},2641,地址{i}" for i in range(5)
    )
    headers = {**OFFICER, "content-type": "text/csv; charset=utf-8"}
    first = (
        await svc.http.post(
            "/permit/enterprises:import", content=csv_text.encode(), headers=headers
        )
    ).json()
    assert (first["totals"]["created"], first["totals"]["updated"]) == (5, 0)
    changed = csv_text.replace("企业3,", "企业3(更名),").replace(",2641,地址4", ",3311,地址4")
    second = (
        await svc.http.post("/permit/enterprises:import", content=changed.encode(), headers=headers)
    ).json()
    assert second["totals"] == {
        "created": 0,
        "updated": 4,
        "replayed": 0,
        "error": 1,
        "conflict": 0,
    }
    # The industry is not changed in place (it decides permit or
    # registration): that row is refused, naming it, and the others land.
    (err,) = second["results"][4]["errors"]
    assert err["field"] == "industry_code" and "not changed in place" in err["message"]
    e3 = (await svc.http.get(f"/permit/enterprises/{make_uscc(BAODI, 3)}", headers=OFFICER)).json()
    e4 = (await svc.http.get(f"/permit/enterprises/{make_uscc(BAODI, 4)}", headers=OFFICER)).json()
    assert e3["name"] == "企业3(更名)"
    assert (e4["industry_code"], e4["category"]) == ("C2641", "key")
    # A misspelt column would have updated each enterprise with no address:
    # its rows are refused, naming it, and nothing is written.
    misspelt = csv_text.replace(",address\n", ",adress\n").replace("企业", "新企业")
    third = (
        await svc.http.post(
            "/permit/enterprises:import", content=misspelt.encode(), headers=headers
        )
    ).json()
    assert third["totals"]["error"] == 5
    assert {e["field"] for row in third["results"] for e in row["errors"]} == {"adress"}
    e3 = (await svc.http.get(f"/permit/enterprises/{make_uscc(BAODI, 3)}", headers=OFFICER)).json()
    assert (e3["name"], e3["address"]) == ("企业3(更名)", "地址3")
    # An officer cannot take over an enterprise registered in another district.
    jizhou = make_uscc(JIZHOU, 1)
    r = await svc.http.post(
        "/permit/enterprises",
        json={"uscc": jizhou, "name": "蓟州企业", "district": JIZHOU, "industry_code": "2641"},
        headers=ADMIN,
    )
    assert r.status_code == 201
    moved = f"uscc,name,district,industry_code\n{jizhou},改名,{BAODI},2641\n"
    r = await svc.http.post("/permit/enterprises:import", content=moved.encode(), headers=headers)
    (row,) = r.json()["results"]
    # Refused, without saying which district holds the code.
    said = row["errors"][0]["message"]
    assert row["result"] == "error" and "not one of yours" in said and JIZHOU not in said
    e = (await svc.http.get(f"/permit/enterprises/{jizhou}", headers=ADMIN)).json()
    assert (e["name"], e["district"]) == ("蓟州企业", JIZHOU)


async def test_bulk_import_tells_created_from_updated_across_statements(svc: Service) -> None:
    """1,200 rows, of which the first 600 exist: the upsert writes them in
    several statements, the first of them updates only."""

    def lines(n: int, name: str) -> bytes:
        return "\n".join(
            json.dumps(
                {
                    "uscc": make_uscc(BAODI, i),
                    "name": f"{name}{i}",
                    "district": BAODI,
                    "industry_code": "2641",
                }
            )
            for i in range(n)
        ).encode()

    headers = {**OFFICER, "content-type": "application/x-ndjson"}
    first = await svc.http.post(
        "/permit/enterprises:import", content=lines(600, "甲"), headers=headers
    )
    assert first.json()["totals"]["created"] == 600
    second = (
        await svc.http.post(
            "/permit/enterprises:import", content=lines(1200, "乙"), headers=headers
        )
    ).json()
    assert (second["totals"]["created"], second["totals"]["updated"]) == (600, 600)
    results = {row["row"]: row["result"] for row in second["results"]}
    assert {results[i] for i in range(1, 601)} == {"updated"}
    assert {results[i] for i in range(601, 1201)} == {"created"}
    third = (
        await svc.http.post(
            "/permit/enterprises:import", content=lines(1200, "丙"), headers=headers
        )
    ).json()
    assert (third["totals"]["created"], third["totals"]["updated"]) == (0, 1200)


async def test_bulk_import_rejects_other_media_types(svc: Service) -> None:
    r = await svc.http.post("/permit/enterprises:import", json=[{"uscc": "x"}], headers=OFFICER)
    assert r.status_code == 415 and "text/csv" in r.json()["detail"]
    r = await svc.http.post(
        "/permit/enterprises:import", content=b"", headers={**OFFICER, "content-type": "text/csv"}
    )
    assert r.status_code == 422


async def test_list_by_district_and_category_with_cursor(svc: Service) -> None:
    rows = [
        {
            "uscc": make_uscc(BAODI, i),
            "name": f"企业{i}",
            "district": BAODI,
            "industry_code": "2641" if i % 2 else "3311",
        }
        for i in range(7)
    ] + [
        {
            "uscc": make_uscc(JIZHOU, 1),
            "name": "蓟州企业",
            "district": JIZHOU,
            "industry_code": "2641",
        }
    ]
    r = await svc.http.post(
        "/permit/enterprises:import",
        content="\n".join(json.dumps(x) for x in rows).encode(),
        headers={**ADMIN, "content-type": "application/x-ndjson"},
    )
    assert r.json()["totals"]["created"] == 8
    seen: list[str] = []
    cursor = None
    while True:
        url = f"/permit/enterprises?district={BAODI}&category=key&limit=2"
        page = (
            await svc.http.get(url + (f"&cursor={cursor}" if cursor else ""), headers=OFFICER)
        ).json()
        seen += [e["uscc"] for e in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(make_uscc(BAODI, i) for i in (1, 3, 5))
    # An officer of 宝坻 sees only 宝坻 without asking; 蓟州 is refused.
    mine = (await svc.http.get("/permit/enterprises", headers=OFFICER)).json()
    assert {e["district"] for e in mine["items"]} == {BAODI}
    assert (
        await svc.http.get(f"/permit/enterprises?district={JIZHOU}", headers=OFFICER)
    ).status_code == 403
    r = await svc.http.get("/permit/enterprises?cursor=@@@", headers=OFFICER)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cursor"


async def test_classification_table_shipped_and_replaceable(svc: Service) -> None:
    table = (await svc.http.get("/permit/industries", headers=OFFICER)).json()
    assert len(table) >= 20
    assert {"industry_code": "C2641", "name": "涂料制造", "category": "key"} in table
    assert {t["category"] for t in table} == {"key", "simplified", "registration"}
    uscc = await svc.enterprise(1, industry="3311")
    csv_headers = {**ADMIN, "content-type": "text/csv"}
    new_table = (
        "industry_code,name,category\n"
        "2641,涂料制造,key\n3311,金属结构制造,simplified\n1711,棉纺纱加工,registration\n"
    )
    r = await svc.http.post(
        "/permit/industries:import", content=new_table.encode(), headers=csv_headers
    )
    assert r.status_code == 200, r.text
    assert [(x["row_key"], x["result"]) for x in r.json()["results"]] == [
        ("C2641", "replayed"),
        ("C3311", "updated"),
        ("C1711", "created"),
    ]
    e = (await svc.http.get(f"/permit/enterprises/{uscc}", headers=OFFICER)).json()
    assert e["category"] == "simplified"
    # A table that drops an industry in use, or has a bad line, changes nothing.
    r = await svc.http.post(
        "/permit/industries:import",
        content=b"industry_code,name,category\n2641,x,key\n",
        headers=csv_headers,
    )
    assert r.status_code == 409 and r.json()["industry_codes"] == ["C3311"]
    r = await svc.http.post(
        "/permit/industries:import",
        content=b"industry_code,name,category\n2641,x,major\n",
        headers=csv_headers,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "line 2.category"
    assert len((await svc.http.get("/permit/industries", headers=OFFICER)).json()) == 3
    r = await svc.http.post(
        "/permit/industries:import", content=new_table.encode(), headers=OFFICER
    )
    assert r.status_code == 403
    # Only as CSV: JSON lines or a spreadsheet were read as if they were CSV.
    for media in ("application/x-ndjson", "application/vnd.ms-excel"):
        r = await svc.http.post(
            "/permit/industries:import",
            content=new_table.encode(),
            headers={**ADMIN, "content-type": media},
        )
        assert r.status_code == 415 and r.json()["accepted"] == ["text/csv", "application/csv"]


def _import_lines(serials: list[int], name: str) -> bytes:
    return "\n".join(
        json.dumps(
            {
                "uscc": make_uscc(BAODI, i),
                "name": f"{name}{i}",
                "district": BAODI,
                "industry_code": "2641",
            }
        )
        for i in serials
    ).encode()


async def test_bulk_import_tells_scattered_existing_rows_apart(svc: Service) -> None:
    """Every third row exists already: each row is answered created or
    updated by what it was, not by how many of its chunk were new."""
    headers = {**OFFICER, "content-type": "application/x-ndjson"}
    existing = list(range(0, 90, 3))
    r = await svc.http.post(
        "/permit/enterprises:import", content=_import_lines(existing, "甲"), headers=headers
    )
    assert r.json()["totals"]["created"] == 30
    report = (
        await svc.http.post(
            "/permit/enterprises:import",
            content=_import_lines(list(range(90)), "乙"),
            headers=headers,
        )
    ).json()
    results = {row["row"]: row["result"] for row in report["results"]}
    assert results == {i + 1: "updated" if i % 3 == 0 else "created" for i in range(90)}


async def test_bulk_import_near_sqlites_largest_rowid(svc: Service) -> None:
    """When the table's largest rowid is SQLite's last, new rows get rowids
    at random: created and updated are then told by looking the USCCs up."""
    if svc.db.is_postgres:
        return
    headers = {**OFFICER, "content-type": "application/x-ndjson"}
    r = await svc.http.post(
        "/permit/enterprises:import", content=_import_lines([0, 1, 2], "甲"), headers=headers
    )
    assert r.json()["totals"]["created"] == 3
    async with svc.db.transaction() as s:
        await s.execute(
            text("UPDATE enterprises SET rowid = :top WHERE uscc = :uscc"),
            {"top": 2**63 - 1, "uscc": make_uscc(BAODI, 1)},
        )
    report = (
        await svc.http.post(
            "/permit/enterprises:import",
            content=_import_lines(list(range(8)), "乙"),
            headers=headers,
        )
    ).json()
    results = {row["row"]: row["result"] for row in report["results"]}
    assert results == {i + 1: "updated" if i < 3 else "created" for i in range(8)}


async def test_bulk_import_stores_times_as_a_single_registration_does(svc: Service) -> None:
    """The import sends its rows on the driver with the time made once; the
    text stored must be what SQLAlchemy stores for the same instant (on
    SQLite a whole second keeps its ".000000": sqlite3's own adapter would
    drop it, and text compared in SQL would then differ)."""
    at = dt.datetime(2026, 12, 4, 3, 0, 0, tzinfo=dt.UTC)
    with clock.using(clock.ManualClock(at)):
        await svc.enterprise(1)
        r = await svc.http.post(
            "/permit/enterprises:import",
            content=_import_lines([2], "甲"),
            headers={**OFFICER, "content-type": "application/x-ndjson"},
        )
        assert r.json()["totals"]["created"] == 1
    async with svc.db.session() as s:
        stored = (
            await s.execute(
                text(
                    "SELECT uscc, CAST(created_at AS TEXT), CAST(updated_at AS TEXT) "
                    "FROM enterprises ORDER BY uscc"
                )
            )
        ).all()
    single, imported = (
        next(row[1:] for row in stored if row[0] == make_uscc(BAODI, i)) for i in (1, 2)
    )
    assert imported == single
