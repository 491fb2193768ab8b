"""Loading an export into an empty ledger: a file whose header names a
column twice, or whose JSON cell holds a lone surrogate escape ("\\ud800"),
is refused with why, and nothing is written."""

from __future__ import annotations

import io
import zipfile

from .conftest import ADMIN, AUDITOR, Quota


def _edited(export: bytes, name: str, edit: str) -> bytes:
    """The CSV export with `name`.csv's text replaced by `edit`."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(export)) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            zout.writestr(item.filename, edit.encode() if item.filename == name else data)
    return out.getvalue()


async def _export_of_an_empty_ledger(quota: Quota) -> tuple[bytes, dict[str, str]]:
    r = await quota.client.get("/quota/export?format=csv", headers=AUDITOR)
    assert r.status_code == 200, r.text
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        headers = {n: z.read(n).decode().splitlines()[0] for n in z.namelist()}
    return r.content, headers


async def test_a_column_named_twice_refuses_the_import(quota: Quota) -> None:
    export, headers = await _export_of_an_empty_ledger(quota)
    header = headers["pools.csv"]
    twice = header.split(",")[1]
    upload = _edited(export, "pools.csv", f"{header},{twice}\n")
    r = await quota.client.post(
        "/quota/import?format=csv", content=upload, headers={**ADMIN, "accept-language": "zh-CN"}
    )
    assert r.status_code == 409, r.text
    assert r.json()["detail"] == f"pools：列 {twice} 在表头中出现了两次"


async def test_a_json_cell_with_a_lone_surrogate_refuses_the_import(quota: Quota) -> None:
    """The cell was stored (escaped) and read back into every answer naming
    the holding, which no answer can then be written with."""
    export, headers = await _export_of_an_empty_ledger(quota)
    header = headers["holdings.csv"].split(",")
    values = {
        "id": "h-1",
        "district": "120119",
        "pollutant": "VOCs",
        "pool_id": "120119:VOCs",
        "source": "baseline",
        "acquired_at": "2026-01-01T00:00:00+00:00",
        "valid_until": "2027-01-01T00:00:00+00:00",
        "lots": '"[[1, ""\\ud800""]]"',
    }
    row = ",".join(values.get(h, "0" if h.endswith(("_kg", "_hundredths")) else "") for h in header)
    upload = _edited(export, "holdings.csv", f"{','.join(header)}\n{row}\n")
    r = await quota.client.post("/quota/import?format=csv", content=upload, headers=ADMIN)
    assert r.status_code == 409, r.text
    assert r.json()["detail"].startswith("holdings: holdings.lots: is not valid Unicode text")
    r = await quota.client.get("/quota/holdings?include_empty=true", headers=AUDITOR)
    assert r.status_code == 200 and r.json() == [], r.text
