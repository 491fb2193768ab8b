"""The ledger export restores a live ledger, on SQLite and PostgreSQL, in
CSV and XLSX. Before, reservations, swaps, trades and the district policy
were left out: a restored pool kept its reserved tonnes with no reservation
to allocate, release or expire them, an advance's debt pointed at a missing
reservation and could never be withdrawn, and a district's offset ratio of
1.50 came back as the default 2.00, changing every availability answer."""

from __future__ import annotations

import datetime as dt
import io
import pathlib
import zipfile
from typing import Any

import pytest
from openpyxl import load_workbook
from svc_common.types import utcnow

from .conftest import ADMIN, AUDITOR, BAODI, INVESTMENT, JIZHOU, OFFICER, Quota
from .test_export_backing import export, fresh

#: The sheets an export made before this change lacked.
NEW_SHEETS = (
    "district_settings",
    "air_quality",
    "air_quality_ratios",
    "advance_limits",
    "reservations",
    "swaps",
    "trades",
    "reclaims",
    "adjustments",
)


async def call(q: Quota, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    r = await q.client.request(method, path, json=body, headers=headers)
    assert r.status_code in (200, 201), r.text
    return r.json()


async def live_ledger(q: Quota) -> dict[str, str]:
    """蓟州区 at a ratio of 1.50 (1.20 scheduled), an advance limit, a held
    reservation that advanced 3.375 t; 宝坻区 following its air quality
    (exceeded: 2.50, the ratio table changed) with a plain hold."""
    later = (utcnow() + dt.timedelta(days=30)).isoformat()
    await call(
        q, "PUT", f"/quota/settings/{JIZHOU}/VOCs", {"offset_ratio": "1.50", "hold_days": 90}, ADMIN
    )
    await call(
        q,
        "PUT",
        f"/quota/settings/{JIZHOU}/VOCs",
        {"offset_ratio": "1.20", "hold_days": 90, "effective_from": later},
        ADMIN,
    )
    await call(q, "PUT", "/quota/air-quality-ratios/exceeded", {"offset_ratio": "2.5"}, ADMIN)
    await call(q, "PUT", f"/quota/air-quality/{BAODI}", {"status": "exceeded"}, ADMIN)
    await call(
        q, "PUT", f"/quota/advance-limits/{JIZHOU}/VOCs", {"limit_t": "10", "term_days": 30}, ADMIN
    )
    await q.baseline(JIZHOU, "10.5")
    await q.baseline(BAODI, "5")
    advanced = await call(
        q,
        "POST",
        "/quota/reservations",
        {"district": JIZHOU, "increment_t": "9.250", "project_ref": "ADV-1", "advance": True},
        ADMIN,
    )
    assert (advanced["status"], advanced["required_t"]) == ("held", "13.875")
    plain = await call(
        q,
        "POST",
        "/quota/reservations",
        {"district": BAODI, "increment_t": "1", "project_ref": "BD-1"},
        ADMIN,
    )
    assert (plain["offset_ratio"], plain["required_t"]) == ("2.50", "2.500")
    return {"advanced": advanced["id"], "plain": plain["id"]}


async def answers(q: Quota) -> dict[str, Any]:
    """What a restore must answer alike: availability (with the largest
    project that fits), settings, debts, reservations, reconciliation."""
    out: dict[str, Any] = {}
    r = await q.client.get("/quota/availability", headers=INVESTMENT)
    assert r.status_code == 200, r.text
    out["availability"] = r.json()
    for district in (JIZHOU, BAODI):
        r = await q.client.get(f"/quota/settings/{district}/VOCs", headers=INVESTMENT)
        assert r.status_code == 200, r.text
        out[f"settings {district}"] = r.json()
    r = await q.client.get(f"/quota/debts?district={JIZHOU}", headers=AUDITOR)
    out["debts"] = r.json()["items"]
    r = await q.client.get("/quota/air-quality-ratios", headers=INVESTMENT)
    out["ratios"] = r.json()
    r = await q.client.get("/quota/reconciliation", headers=AUDITOR)
    assert r.status_code == 200 and r.json()["ok"], r.text
    return out


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_a_restored_ledger_is_live(
    quota: Quota, db_url: str, tmp_path: pathlib.Path, fmt: str
) -> None:
    held = await live_ledger(quota)
    before = await answers(quota)
    assert {p["pool_id"]: p["offset_ratio"] for p in before["availability"]}[
        f"{JIZHOU}:VOCs"
    ] == "1.50"
    content = await export(quota, fmt)
    async with fresh(db_url, tmp_path) as copy:
        r = await copy.client.post(f"/quota/import?format={fmt}", content=content, headers=ADMIN)
        assert r.status_code == 200, r.text
        counts = r.json()
        assert (counts["reservations"], counts["debts"], counts["district_settings"]) == (2, 1, 2)
        assert await answers(copy) == before
        # Every hold still resolves: the advance's release withdraws its
        # debt, the plain hold is allocated, in the copy as in the source.
        for q in (quota, copy):
            await call(
                q,
                "POST",
                f"/quota/reservations/{held['advanced']}/release",
                {"reason": "撤回"},
                ADMIN,
            )
            await call(q, "POST", f"/quota/reservations/{held['plain']}/allocate", {}, ADMIN)
        after = await answers(copy)
        assert after == await answers(quota)
        (debt,) = after["debts"]
        assert (debt["status"], debt["withdrawn_t"]) == ("withdrawn", "3.375")
        # A new reservation in the copy gets a key of its own.
        again = await call(
            copy,
            "POST",
            "/quota/reservations",
            {"district": JIZHOU, "increment_t": "1", "project_ref": "NEW-1"},
            OFFICER,
        )
        assert again["offset_ratio"] == "1.50"


def without_new_sheets(content: bytes, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "csv":
        with zipfile.ZipFile(io.BytesIO(content)) as zin, zipfile.ZipFile(out, "w") as zout:
            for item in zin.infolist():
                if item.filename.removesuffix(".csv") not in NEW_SHEETS:
                    zout.writestr(item.filename, zin.read(item.filename))
    else:
        book = load_workbook(io.BytesIO(content))
        for name in NEW_SHEETS:
            del book[name]
        book.save(out)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_an_older_export_still_imports_with_those_tables_empty(
    quota: Quota, db_url: str, tmp_path: pathlib.Path, fmt: str
) -> None:
    await live_ledger(quota)
    old = without_new_sheets(await export(quota, fmt), fmt)
    async with fresh(db_url, tmp_path) as copy:
        r = await copy.client.post(f"/quota/import?format={fmt}", content=old, headers=ADMIN)
        assert r.status_code == 200, r.text
        assert all(r.json()[name] == 0 for name in NEW_SHEETS)
        # The ratio table every installation starts with is kept.
        ratios = await copy.client.get("/quota/air-quality-ratios", headers=INVESTMENT)
        assert ratios.status_code == 200 and ratios.json(), ratios.text


async def test_reserved_tonnes_nothing_holds_are_refused(
    quota: Quota, db_url: str, tmp_path: pathlib.Path
) -> None:
    """A file whose reservations sheet no longer holds a held row (marked
    released: dropped, its hold's lot movements name it first) would
    restore a frozen pool: refused, nothing written. Its lots' movements
    say it was never released, and are checked first: the refusal names
    the reservation's row (before, the pool's reserved_kg)."""
    await live_ledger(quota)
    content = await export(quota, "csv")
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "reservations.csv":
                lines = data.decode().splitlines(keepends=True)
                edited = [
                    line.replace(",held,", ",released,") if ",BD-1," in line else line
                    for line in lines
                ]
                assert edited != lines
                data = "".join(edited).encode()
            zout.writestr(item.filename, data)
    async with fresh(db_url, tmp_path) as copy:
        r = await copy.client.post(
            "/quota/import?format=csv",
            content=out.getvalue(),
            headers={**ADMIN, "accept-language": "zh-CN"},
        )
        assert r.status_code == 409, r.text
        detail = r.json()["detail"]
        assert detail.startswith("reservations：第 ") and " lots 列：" in detail, detail
        assert "但其分配和释放流水交回该批次 0 千克" in detail, detail
        r = await copy.client.get("/quota/availability", headers=INVESTMENT)
        assert r.status_code == 200, r.text
        assert {p["credited_t"] for p in r.json()} == {"0.000"}


async def test_a_ledger_holding_settings_is_not_empty(
    quota: Quota, db_url: str, tmp_path: pathlib.Path
) -> None:
    await live_ledger(quota)
    content = await export(quota, "csv")
    async with fresh(db_url, tmp_path) as copy:
        await call(
            copy,
            "PUT",
            f"/quota/settings/{JIZHOU}/VOCs",
            {"offset_ratio": "3.00", "hold_days": 90},
            ADMIN,
        )
        r = await copy.client.post("/quota/import?format=csv", content=content, headers=ADMIN)
        assert r.status_code == 409 and "not empty" in r.json()["detail"], r.text
