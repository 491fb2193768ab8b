"""A restore (`POST /quota/import`) racing other writes on PostgreSQL ends as
it would one after the other: of imports sent at once one loads the file
and the others are told the ledger is not empty; a write under way when
the import began either comes first (the import is refused: not empty) or
waits for it. Before, the loser was told its file held rows the ledger's
rules refuse, as if the backup were broken."""

from __future__ import annotations

import asyncio
import pathlib
from collections import Counter

import asyncpg
import pytest
from quota_svc.ledger.models import JournalEntry, Pool
from sqlalchemy import func, select
from svc_common.tables import AuditEntry

from .conftest import ADMIN, JIZHOU, OFFICER, Quota
from .test_export_backing import ceilings_built, export, fresh

pytestmark = pytest.mark.pg

NOT_EMPTY = "the ledger is not empty: import only into a new one"


async def _backup(quota: Quota) -> bytes:
    await ceilings_built(quota)
    r = await quota.client.post(
        "/quota/reservations",
        json={"district": JIZHOU, "increment_t": "1", "project_ref": "P-1"},
        headers=OFFICER,
    )
    assert r.status_code == 201, r.text
    return await export(quota, "csv")


async def test_imports_sent_at_once_load_the_file_once(pg_url: str, tmp_path: pathlib.Path) -> None:
    async with fresh(pg_url, tmp_path / "a") as quota:
        content = await _backup(quota)
    async with fresh(pg_url, tmp_path / "b") as copy:
        answers = await asyncio.gather(
            *(
                copy.client.post(
                    "/quota/import?format=csv",
                    content=content,
                    headers={**ADMIN, "Accept-Language": "en", "Idempotency-Key": f"restore-{i}"},
                )
                for i in range(4)
            )
        )
        assert Counter(r.status_code for r in answers) == {200: 1, 409: 3}, [
            r.text for r in answers
        ]
        for r in answers:
            if r.status_code == 409:
                assert r.json()["detail"] == NOT_EMPTY, r.text
        rec = (await copy.client.get("/quota/reconciliation", headers=ADMIN)).json()
        assert rec["ok"], rec
        async with copy.app.state.runtime.db.session() as s:
            imports = await s.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "quota.import")
            )
        assert imports == 1


async def test_a_write_under_way_when_the_import_began_comes_first(
    pg_url: str, tmp_path: pathlib.Path
) -> None:
    """A pool created by a transaction not yet committed when the import
    looked at the ledger (a baseline, a permit's event): the import waits
    for it and is refused as into a ledger that is not empty."""
    async with fresh(pg_url, tmp_path / "a") as quota:
        content = await _backup(quota)
    async with fresh(pg_url, tmp_path / "b") as copy:
        db_url = str(copy.app.state.runtime.db.url)
        other = await asyncpg.connect(db_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            writing = other.transaction()
            await writing.start()
            await other.execute(
                "INSERT INTO pools (id, district, pollutant, kind, credited_kg, reserved_kg,"
                " allocated_kg, created_at) VALUES ($1, $2, 'VOCs', 'district', 0, 0, 0, now())",
                f"{JIZHOU}:VOCs",
                JIZHOU,
            )
            restore = asyncio.create_task(
                copy.client.post(
                    "/quota/import?format=csv",
                    content=content,
                    headers={**ADMIN, "Accept-Language": "en"},
                )
            )
            waiting: list[int] = []

            async def look() -> None:
                # pg_locks, not pg_stat_activity: the latter is a snapshot
                # taken once per transaction, and `other` is in one.
                waiting[:] = [
                    row[0]
                    for row in await other.fetch("SELECT pid FROM pg_locks WHERE NOT granted")
                ]

            for _ in range(750):  # the import waits on the write under way
                await look()
                if waiting or restore.done():
                    break
                await asyncio.sleep(0.02)
            assert waiting, "the import never waited for the write under way"
            await writing.commit()
            r = await restore
        finally:
            await other.close()
        assert r.status_code == 409, r.text
        assert r.json()["detail"] == NOT_EMPTY, r.text
        # Nothing of the file was written: the ledger is the other write's.
        async with copy.app.state.runtime.db.session() as s:
            pools = (await s.execute(select(Pool.id, Pool.credited_kg))).all()
            entries = await s.scalar(select(func.count()).select_from(JournalEntry))
        assert [tuple(p) for p in pools] == [(f"{JIZHOU}:VOCs", 0)]
        assert entries == 0
