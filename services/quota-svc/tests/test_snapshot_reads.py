"""The reconciliation and the ledger export read one snapshot of the ledger
(一致快照): a reservation and an allocation committed between two of their
statements — as under load, where writers never stop — change neither. On
PostgreSQL each statement of a plain read session saw its own snapshot, so
the checks compared a pool read before the write with lots, journal or
holdings read after it and failed (the QuotaReconciliationFailed alert with
nothing wrong), and an export taken so could not be imported again."""

from __future__ import annotations

import contextlib
import io
import pathlib
import zipfile
from collections.abc import Iterator
from typing import Any

from quota_svc.app import create
from quota_svc.settings import Settings
from sqlalchemy import event
from sqlalchemy.util import await_only
from svc_common import testing

from .conftest import ADMIN, AUDITOR, JIZHOU, OFFICER, Quota


class _Writer:
    """A project's reservation and its allocation, each committed, made
    through the API whenever a statement the test names is about to run."""

    def __init__(self, quota: Quota) -> None:
        self.quota = quota
        self.made = 0

    async def write(self) -> None:
        self.made += 1
        client = self.quota.client
        r = await client.post(
            "/quota/reservations",
            json={"district": JIZHOU, "increment_t": "0.5", "project_ref": f"LOAD-{self.made}"},
            headers=OFFICER,
        )
        assert r.status_code == 201, r.text
        done = await client.post(f"/quota/reservations/{r.json()['id']}/allocate", headers=OFFICER)
        assert done.status_code == 200, done.text

    @contextlib.contextmanager
    def before(self, sql: str) -> Iterator[None]:
        """While in the block, each statement of the service's engine whose
        SQL contains `sql` first waits for a write to commit."""
        engine = self.quota.app.state.runtime.db.engine.sync_engine
        busy = False

        def _hook(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
            nonlocal busy
            if busy or sql not in statement:
                return
            busy = True  # the write's own statements pass
            try:
                await_only(self.write())
            finally:
                busy = False

        event.listen(engine, "before_cursor_execute", _hook)
        try:
            yield
        finally:
            event.remove(engine, "before_cursor_execute", _hook)


async def _ledger_with_holds(quota: Quota) -> None:
    await quota.baseline(JIZHOU, "40")
    for i in range(3):
        r = await quota.client.post(
            "/quota/reservations",
            json={"district": JIZHOU, "increment_t": "1", "project_ref": f"P-{i}"},
            headers=OFFICER,
        )
        assert r.status_code == 201, r.text


#: The statement that reads the pools' journals (ledger.service._journals),
#: run after the pools were read, and before the lots, movements, holdings.
JOURNALS = "ORDER BY journal_entries.pool_id, journal_entries.id"


async def test_reconciliation_is_not_failed_by_writes_committed_while_it_reads(
    quota: Quota,
) -> None:
    await _ledger_with_holds(quota)
    writer = _Writer(quota)
    with writer.before(JOURNALS):
        r = await quota.client.get("/quota/reconciliation", headers=AUDITOR)
    assert r.status_code == 200, r.text
    # The numbered checks and the report's replay of each pool each read it.
    assert writer.made == 2
    report = r.json()
    failures = [c["failures"] for c in report["checks"] if not c["ok"]]
    assert report["ok"], (failures, [p for p in report["pools"] if not p["ok"]])
    # The baseline and three holds; the report's replay began after the
    # first write (its reservation and allocation) and before the second.
    assert report["pools"][0]["entries"] == 4 + 2
    # The writes were kept, and the next run sees them, reconciled.
    after = (await quota.client.get("/quota/reconciliation", headers=AUDITOR)).json()
    assert after["ok"], after
    assert after["pools"][0]["entries"] == 4 + 2 * 2


async def test_the_periodic_reconciliation_reads_one_snapshot(quota: Quota) -> None:
    from quota_svc.reconciliation.service import run_checks

    await _ledger_with_holds(quota)
    writer = _Writer(quota)
    with writer.before(JOURNALS):
        results = await run_checks(quota.app.state.runtime.db)
    assert writer.made == 1
    assert [r.failures for r in results if not r.ok] == []


async def test_an_export_taken_while_writes_commit_imports_into_an_empty_ledger(
    quota: Quota, db_url: str, tmp_path: pathlib.Path
) -> None:
    await _ledger_with_holds(quota)
    writer = _Writer(quota)
    # The lots are read after the pools: a write between the two.
    with writer.before("FROM lots ORDER BY lots.id"):
        r = await quota.client.get("/quota/export?format=csv", headers=AUDITOR)
    assert r.status_code == 200, r.text
    assert writer.made == 1
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        holdings = z.read("holdings.csv").decode().splitlines()
    assert len(holdings) == 1  # the header: the allocation came after the snapshot
    kind = "sqlite" if db_url.startswith("sqlite") else "pg"
    async with testing.database_url(kind, tmp_path, prefix="imp") as url:
        app = create(Settings(database_url=url, log_json=False, hold_sweep_seconds=3600))
        async with testing.running(app) as client:
            imp = await client.post("/quota/import?format=csv", content=r.content, headers=ADMIN)
            assert imp.status_code == 200, imp.text
            assert imp.json()["holdings"] == 0
            rec = (await client.get("/quota/reconciliation", headers=AUDITOR)).json()
            assert rec["ok"], rec
