"""Loading an export into an empty ledger: a file whose header names a
column twice, or whose JSON cell holds a lone surrogate escape ("\\ud800"),
is refused with why, and nothing is written."""

from __future__ import annotations

import io
import zipfile

import pytest

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


_T = "2026-01-01T00:00:00+00:00"
_POOL = {
    "id": "120119:VOCs",
    "district": "120119",
    "pollutant": "VOCs",
    "kind": "district",
    "park_id": "",
    "credited_kg": "5000",
    "reserved_kg": "0",
    "allocated_kg": "0",
    "created_at": _T,
    "last_effective_at": _T,
}


@pytest.mark.parametrize(
    ("cells", "detail"),
    [
        ({"created_at": ""}, "pools: pools.created_at：缺少时间：''"),
        ({"last_effective_at": "2026-13-01T00:00:00+00:00"}, "pools.last_effective_at：不是 ISO"),
        ({"credited_kg": "9" * 23}, "pools.credited_kg：不是整数"),
        ({"credited_kg": "1.5"}, "pools.credited_kg：不是整数"),
        ({"credited_kg": "-5", "reserved_kg": "7"}, "pools：有不符合台账规则的行"),
        (None, "pools：第 2 行有 2 个单元格，表头有 10 个"),
    ],
    ids=["empty-time", "bad-time", "huge-kg", "fraction-kg", "negative-balance", "short-row"],
)
async def test_a_pool_row_no_ledger_could_hold_refuses_the_import(
    quota: Quota, cells: dict[str, str] | None, detail: str
) -> None:
    """Before, an empty time, a number beyond 64 bits or a row the table's
    checks refuse was a 500; the parser's English words were the reason."""
    export, headers = await _export_of_an_empty_ledger(quota)
    header = headers["pools.csv"].split(",")
    assert set(header) == set(_POOL)
    row = "120119:VOCs,120119" if cells is None else ",".join({**_POOL, **cells}[h] for h in header)
    upload = _edited(export, "pools.csv", f"{','.join(header)}\n{row}\n")
    r = await quota.client.post(
        "/quota/import?format=csv", content=upload, headers={**ADMIN, "accept-language": "zh-CN"}
    )
    assert r.status_code == 409, r.text
    assert detail in r.json()["detail"]
    again, _ = await _export_of_an_empty_ledger(quota)
    with zipfile.ZipFile(io.BytesIO(again)) as z:
        assert z.read("pools.csv").decode().strip() == headers["pools.csv"]
