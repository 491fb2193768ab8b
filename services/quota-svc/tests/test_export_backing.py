"""The ledger export carries each permit's reclaimable ceiling (可收回上限,
`permit_backing`), on SQLite and PostgreSQL, in CSV and XLSX. Before, a
restore (`POST /quota/import` into an empty ledger) lost the ceilings, so a
plant closed after the restore freed all its permit announced: COD raised
from 1 t to 100 t with no quota behind it came back as 100 t to reclaim.
An export made before the table was in it still imports, with the table
empty, as it did."""

from __future__ import annotations

import io
import pathlib
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from openpyxl import load_workbook
from quota_svc.app import create
from quota_svc.exports.rules import ledger_problem
from quota_svc.reclaims.models import PermitBacking
from quota_svc.settings import Settings
from sqlalchemy import select
from svc_common import testing

from .conftest import ADMIN, AUDITOR, JIZHOU, Quota
from .test_reclaim_backing import cancelled, changed, deliver_all, issued, pending


async def backing_rows(q: Quota) -> list[tuple[Any, ...]]:
    async with q.app.state.runtime.db.session() as s:
        rows = await s.scalars(
            select(PermitBacking).order_by(PermitBacking.permit_id, PermitBacking.pollutant)
        )
        return [
            (
                r.permit_id,
                r.pollutant,
                r.district,
                r.amount_kg,
                r.backed_kg,
                r.last_event_id,
                r.updated_at,
            )
            for r in rows
        ]


@asynccontextmanager
async def fresh(db_url: str, tmp_path: pathlib.Path) -> AsyncIterator[Quota]:
    """A second, empty quota-svc of the same kind of database."""
    kind = "sqlite" if db_url.startswith("sqlite") else "pg"
    async with testing.database_url(kind, tmp_path, prefix="imp") as url:
        app = create(Settings(database_url=url, log_json=False, hold_sweep_seconds=3600))
        async with testing.running(app) as client:
            yield Quota(app, client)


async def export(q: Quota, fmt: str) -> bytes:
    r = await q.client.get(f"/quota/export?format={fmt}", headers=AUDITOR)
    assert r.status_code == 200, r.text
    return r.content


def without_backing(content: bytes, fmt: str) -> bytes:
    """The export as one made before it carried the ceilings."""
    out = io.BytesIO()
    if fmt == "csv":
        with zipfile.ZipFile(io.BytesIO(content)) as zin, zipfile.ZipFile(out, "w") as zout:
            assert "permit_backing.csv" in zin.namelist()
            for item in zin.infolist():
                if item.filename != "permit_backing.csv":
                    zout.writestr(item.filename, zin.read(item.filename))
    else:
        book = load_workbook(io.BytesIO(content))
        assert "permit_backing" in book.sheetnames
        del book["permit_backing"]
        book.save(out)
    return out.getvalue()


async def ceilings_built(q: Quota) -> list[tuple[Any, ...]]:
    """A ledger with quota and permits whose ceilings events have moved:
    COD raised without quota (backed 1 t of 100 t), NOx as issued."""
    await q.baseline(JIZHOU, "10")
    await deliver_all(
        q,
        [
            issued("PM-RST", VOCs="0.1", COD="1", NOx="2"),
            changed("PM-RST", "COD", "1", "100"),
            issued("PM-OTH", VOCs="0.5"),
        ],
    )
    rows = await backing_rows(q)
    assert [(r[0], r[1], r[3], r[4]) for r in rows] == [
        ("PM-OTH", "VOCs", 500, 500),
        ("PM-RST", "COD", 100_000, 1_000),
        ("PM-RST", "NOx", 2_000, 2_000),
        ("PM-RST", "VOCs", 100, 100),
    ]
    return rows


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_a_restore_keeps_each_permits_reclaimable_ceiling(
    quota: Quota, db_url: str, tmp_path: pathlib.Path, fmt: str
) -> None:
    before = await ceilings_built(quota)
    content = await export(quota, fmt)
    async with fresh(db_url, tmp_path) as copy:
        r = await copy.client.post(f"/quota/import?format={fmt}", content=content, headers=ADMIN)
        assert r.status_code == 200, r.text
        assert r.json()["permit_backing"] == 4
        assert await backing_rows(copy) == before
        # The closed plant frees what it held or quota backed, not the 100 t
        # of COD its permit announced.
        await deliver_all(copy, [cancelled("PM-RST", VOCs="0.1", COD="100", NOx="2")])
        assert await pending(copy) == [
            ("permit_cancelled", "COD", "1.000"),
            ("permit_cancelled", "NOx", "2.000"),
            ("permit_cancelled", "VOCs", "0.100"),
        ]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_an_export_made_before_the_ceilings_still_imports(
    quota: Quota, db_url: str, tmp_path: pathlib.Path, fmt: str
) -> None:
    await ceilings_built(quota)
    old = without_backing(await export(quota, fmt), fmt)
    async with fresh(db_url, tmp_path) as copy:
        r = await copy.client.post(f"/quota/import?format={fmt}", content=old, headers=ADMIN)
        assert r.status_code == 200, r.text
        assert r.json()["permit_backing"] == 0
        assert r.json()["pools"] == 1
        assert await backing_rows(copy) == []


async def test_a_ledger_holding_ceilings_is_not_empty(
    quota: Quota, db_url: str, tmp_path: pathlib.Path
) -> None:
    """Permit events applied before the restore: the file's ceilings would
    clash with them (or sit beside them), so the import is refused whole."""
    await ceilings_built(quota)
    content = await export(quota, "csv")
    async with fresh(db_url, tmp_path) as copy:
        await deliver_all(copy, [issued("PM-NEW", COD="1")])
        r = await copy.client.post("/quota/import?format=csv", content=content, headers=ADMIN)
        assert r.status_code == 409, r.text
        assert "not empty" in r.json()["detail"]
        assert [row[0] for row in await backing_rows(copy)] == ["PM-NEW"]


def test_a_ceiling_outside_the_ledgers_domain_is_named() -> None:
    row = {
        "permit_id": "PM-1",
        "pollutant": "VOCs",
        "district": JIZHOU,
        "amount_kg": 1000,
        "backed_kg": 1000,
    }
    assert ledger_problem({"permit_backing": [(2, row)]}) is None
    for column, value, why in (
        ("district", "999999", "999999"),
        ("pollutant", "SO2", "SO2"),
        ("backed_kg", 1001, "amount_kg"),
        ("backed_kg", -1, "0"),
    ):
        problem = ledger_problem({"permit_backing": [(3, {**row, column: value})]})
        assert problem is not None and problem.startswith(
            f"permit_backing: row 3, column {column}: "
        ), problem
        assert why in problem
