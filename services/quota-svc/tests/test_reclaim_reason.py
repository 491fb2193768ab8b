"""A reclaim candidate keeps why it is one as a code (`reason`), on SQLite
and PostgreSQL. Before, only the free-text note said it (`…许可证注销：
企业关停；…`), and the console read the reason back from those words.
Migration 0010 fills the code of the candidates from before it from their
notes; the ledger's export carries it, and an older export's import fills
it as the migration does."""

from __future__ import annotations

import asyncio
import datetime as dt
import pathlib
from collections.abc import Awaitable, Callable
from typing import Any, cast

import pytest
import sqlalchemy as sa
from quota_svc import events
from quota_svc.app import create
from quota_svc.exports.rules import ledger_problem
from quota_svc.reclaims.models import PermitBacking, Reclaim
from quota_svc.settings import Settings
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from svc_common import testing
from svc_common.migrate import upgrade

from .conftest import ADMIN, JIZHOU, OFFICER, Quota
from .test_cancelled_ceilings_migration import candidate
from .test_export_backing import export, fresh
from .test_export_live_ledger import without_new_sheets
from .test_reclaim_backing import cancelled, changed, deliver_all, issued
from .test_zero_park_pools_migration import MIGRATIONS, _downgrade

RECLAIMS = cast(sa.Table, Reclaim.__table__)
T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)


async def reasons(q: Quota) -> dict[tuple[str, str, str | None], str | None]:
    """(source, pollutant, permit) → reason, as the API answers them."""
    r = await q.client.get("/quota/reclaims", params={"district": JIZHOU}, headers=OFFICER)
    assert r.status_code == 200, r.text
    return {(c["source"], c["pollutant"], c["permit_id"]): c["reason"] for c in r.json()["items"]}


async def candidates_of_every_source(q: Quota) -> None:
    await q.baseline(JIZHOU, "10")
    await deliver_all(
        q,
        [
            issued("PM-CLO", VOCs="0.5"),
            issued("PM-OTH", VOCs="0.4", COD="1"),
            issued("PM-CUT", VOCs="0.3"),
            cancelled("PM-CLO", "closure", VOCs="0.5"),
            cancelled("PM-OTH", "other", VOCs="0.4", COD="1"),
            changed("PM-CUT", "VOCs", "0.3", "0.1"),
        ],
    )
    r = await q.client.post(
        "/quota/reclaims",
        json={"district": JIZHOU, "amount_t": "0.2", "note": "现场检查发现企业关停"},
        headers=OFFICER,
    )
    assert r.status_code == 201, r.text


EVERY_SOURCE = {
    ("permit_cancelled", "VOCs", "PM-CLO"): "closure",
    ("permit_cancelled", "VOCs", "PM-OTH"): "other",
    ("permit_cancelled", "COD", "PM-OTH"): "other",
    # Not a cancellation: the source is the reason, and the note is not read
    # (this one's words say 企业关停).
    ("permit_changed", "VOCs", "PM-CUT"): None,
    ("manual", "VOCs", None): None,
}


async def test_a_cancelled_permits_candidate_says_its_reason_as_a_code(quota: Quota) -> None:
    await candidates_of_every_source(quota)
    assert await reasons(quota) == EVERY_SOURCE
    # Its note still says it in words, for the officer.
    r = await quota.client.get("/quota/reclaims", params={"district": JIZHOU}, headers=OFFICER)
    (other,) = [
        c for c in r.json()["items"] if c["permit_id"] == "PM-OTH" and c["pollutant"] == "VOCs"
    ]
    assert "许可证注销：其他原因" in other["note"]


async def freed_kg(q: Quota) -> dict[tuple[str, str], int]:
    async with q.app.state.runtime.db.session() as s:
        rows = await s.scalars(select(PermitBacking))
        return {(r.permit_id, r.pollutant): r.freed_kg for r in rows}


async def test_a_candidate_made_is_counted_in_what_its_permit_freed_after_a_flush(
    quota: Quota, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a permit's events freed counts each candidate they made once.
    Before, the handler told a new candidate by the session's `new`, which
    a flush empties: any query's autoflush between making the candidate and
    counting it left the freed kilograms uncounted (and the export of that
    ledger no longer imported: its candidates came to more than was freed)."""
    made = events.add_candidate

    async def flushing(s: AsyncSession, *args: Any) -> Any:
        out = await made(s, *args)
        await s.flush()  # as a query's autoflush would
        return out

    monkeypatch.setattr(events, "add_candidate", cast(Callable[..., Awaitable[Any]], flushing))
    await deliver_all(
        quota,
        [
            issued("PM-F", VOCs="0.5", COD="2"),
            changed("PM-F", "COD", "2", "1.5"),
            cancelled("PM-F", "closure", VOCs="0.5", COD="1.5"),
        ],
    )
    assert await freed_kg(quota) == {("PM-F", "VOCs"): 500, ("PM-F", "COD"): 2000}
    # A redelivered cancellation finds its candidates: counted once.
    e = cancelled("PM-F", "closure", VOCs="0.5", COD="1.5")
    await testing.deliver(quota.app, e)
    await testing.deliver(quota.app, e)
    assert await freed_kg(quota) == {("PM-F", "VOCs"): 500, ("PM-F", "COD"): 2000}


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_a_restore_keeps_each_candidates_reason(
    quota: Quota, db_url: str, tmp_path: pathlib.Path, fmt: str
) -> None:
    await candidates_of_every_source(quota)
    content = await export(quota, fmt)
    async with fresh(db_url, tmp_path) as copy:
        r = await copy.client.post(f"/quota/import?format={fmt}", content=content, headers=ADMIN)
        assert r.status_code == 200, r.text
        assert await reasons(copy) == EVERY_SOURCE


def without_reason_column(content: bytes) -> bytes:
    """A CSV export as one made before candidates kept a reason."""
    import csv
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "reclaims.csv":
                rows = list(csv.reader(io.StringIO(data.decode())))
                at = rows[0].index("reason")
                buf = io.StringIO()
                csv.writer(buf).writerows([row[:at] + row[at + 1 :] for row in rows])
                data = buf.getvalue().encode()
            zout.writestr(item.filename, data)
    return out.getvalue()


async def test_an_export_from_before_the_reason_imports_with_it_read_from_the_notes(
    quota: Quota, db_url: str, tmp_path: pathlib.Path
) -> None:
    await candidates_of_every_source(quota)
    old = without_reason_column(await export(quota, "csv"))
    async with fresh(db_url, tmp_path) as copy:
        r = await copy.client.post("/quota/import?format=csv", content=old, headers=ADMIN)
        assert r.status_code == 200, r.text
        assert await reasons(copy) == EVERY_SOURCE
    # An export without the reclaims at all still imports, as it did.
    older = without_new_sheets(await export(quota, "csv"), "csv")
    async with fresh(db_url, tmp_path) as copy:
        r = await copy.client.post("/quota/import?format=csv", content=older, headers=ADMIN)
        assert r.status_code == 200, r.text


def test_a_reason_the_ledger_would_not_hold_is_named() -> None:
    row = {
        "id": "r1",
        "district": JIZHOU,
        "pollutant": "VOCs",
        "pool_id": f"{JIZHOU}:VOCs",
        "amount_kg": 100,
        "status": "pending",
        "source": "permit_cancelled",
        "permit_id": "PM-1",
        "reason": "closure",
    }
    assert ledger_problem({"reclaims": [(2, row)]}) is None
    for bad in ({"reason": "bankrupt"}, {"reason": None}):
        problem = ledger_problem({"reclaims": [(2, {**row, **bad})]})
        assert problem is not None and "reason" in problem and "row 2" in problem
    manual = {**row, "source": "manual", "permit_id": None}
    assert ledger_problem({"reclaims": [(2, {**manual, "reason": None})]}) is None
    problem = ledger_problem({"reclaims": [(2, {**manual, "reason": "closure"})]})
    assert problem is not None and "reason" in problem


NOTES = {
    "r-zh": (
        "permit_cancelled",
        "天津某厂（91120225X-PM-1）许可证注销：生产工序关停；另见函",
        "process_closed",
    ),
    "r-zh-end": ("permit_cancelled", "天津某厂（91120225X-PM-2）许可证注销：企业关停", "closure"),
    "r-en": (
        "permit_cancelled",
        "天津某厂 (91120225X-PM-3) cancelled: other; revoked first",
        "other",
    ),
    # Its own note names a reason after the one written: the first counts.
    "r-both": (
        "permit_cancelled",
        "天津某厂（91120225X-PM-4）许可证注销：其他原因；企业关停（另案）许可证注销：企业关停",
        "other",
    ),
    # Not a note this service wrote: unknown, not a guess.
    "r-typed": ("permit_cancelled", "企业已关停", "unknown"),
    "r-none": ("permit_cancelled", None, "unknown"),
    "r-manual": ("manual", "天津某厂（X）许可证注销：企业关停", None),
    "r-cut": ("permit_changed", "天津某厂（91120225X-PM-5）许可证变更：核减", None),
}


async def stored_reasons(db_url: str) -> dict[str, str | None]:
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as c:
            rows = await c.execute(sa.select(RECLAIMS.c.id, RECLAIMS.c.reason))
            return {r.id: r.reason for r in rows}
    finally:
        await engine.dispose()


async def test_migration_0010_reads_the_reason_of_older_candidates_from_their_notes(
    db_url: str, tmp_path: pathlib.Path
) -> None:
    await asyncio.to_thread(upgrade, MIGRATIONS, db_url, "0009")
    engine = create_async_engine(db_url)
    async with engine.begin() as c:
        rows = []
        for n, (rid, (source, note, _)) in enumerate(NOTES.items()):
            permit = f"PM-{n}" if source != "manual" else None
            rows.append({**candidate(rid, permit, source, 100 + n, T0), "note": note})
        await c.execute(sa.insert(RECLAIMS), rows)
    await engine.dispose()

    await asyncio.to_thread(upgrade, MIGRATIONS, db_url, "head")
    want = {rid: reason for rid, (_, _, reason) in NOTES.items()}
    assert await stored_reasons(db_url) == want
    # Down (the column goes) and up again: the same.
    await asyncio.to_thread(_downgrade, db_url, "0009")
    await asyncio.to_thread(upgrade, MIGRATIONS, db_url, "head")
    assert await stored_reasons(db_url) == want

    app = create(Settings(database_url=db_url, log_json=False, hold_sweep_seconds=3600))
    async with testing.running(app) as client:
        r = await client.get("/quota/reclaims", params={"district": JIZHOU}, headers=OFFICER)
        assert r.status_code == 200, r.text
        assert {c["id"]: c["reason"] for c in r.json()["items"]} == want
