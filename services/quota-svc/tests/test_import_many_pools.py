"""A ledger export of more pools than one statement takes bind parameters
(PostgreSQL's protocol: 32767) is imported and checked: the checks read the
pools' rows by their ids in chunks (they were one `IN` list each: asyncpg
refused the statement, and the import answered 503 with Retry-After as if
the database were away, for a file no retry could ever load). So do the
reconciliation and the availability that read them afterwards."""

from __future__ import annotations

import io
import zipfile

import pytest

from .conftest import ADMIN, AUDITOR, INVESTMENT, JIZHOU, Quota
from .test_import_refusals import _T, _export_of_an_empty_ledger

#: More pools than PostgreSQL's 32767 bind parameters: park sub-pools at zero.
PARKS = 33_000


def _edited(export: bytes, name: str, edit: str) -> bytes:
    """The CSV export with `name`.csv's text replaced by `edit`, compressed
    (as the export is): the import takes at most 1 MiB."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(export)) as zin,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout,
    ):
        for item in zin.infolist():
            data = edit.encode() if item.filename == name else zin.read(item.filename)
            zout.writestr(item.filename, data)
    return out.getvalue()


@pytest.mark.slow(seconds=24)
async def test_an_export_of_more_pools_than_one_statement_takes(db_url: str, quota: Quota) -> None:
    if not db_url.startswith("postgresql"):
        # SQLite takes up to 250,000 bind parameters as built here: no limit
        # to reach with a file the import's 1 MiB admits.
        pytest.skip("the bind-parameter limit of PostgreSQL's protocol")
    export, headers = await _export_of_an_empty_ledger(quota)
    header = headers["pools.csv"].split(",")
    rows = [
        {
            "id": f"{JIZHOU}:VOCs:park:p{n:05d}",
            "district": JIZHOU,
            "pollutant": "VOCs",
            "kind": "park",
            "park_id": f"p{n:05d}",
            "credited_kg": "0",
            "reserved_kg": "0",
            "allocated_kg": "0",
            "created_at": _T,
            "last_effective_at": "",
        }
        for n in range(PARKS)
    ]
    text = "\n".join([",".join(header), *(",".join(r[h] for h in header) for r in rows)]) + "\n"
    upload = _edited(export, "pools.csv", text)
    r = await quota.client.post("/quota/import?format=csv", content=upload, headers=ADMIN)
    assert r.status_code == 200, r.text
    r = await quota.client.get("/quota/reconciliation", headers=AUDITOR)
    assert r.status_code == 200, r.text
    assert r.json()["ok"], [c for c in r.json()["checks"] if not c["ok"]]
    r = await quota.client.get(
        "/quota/availability", params={"district": JIZHOU}, headers=INVESTMENT
    )
    assert r.status_code == 200, r.text
    again = await quota.client.get("/quota/export?format=csv", headers=AUDITOR)
    with zipfile.ZipFile(io.BytesIO(again.content)) as z:
        assert len(z.read("pools.csv").decode().splitlines()) == PARKS + 1
