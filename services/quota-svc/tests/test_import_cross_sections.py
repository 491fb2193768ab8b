"""What one section of an export says of another's rows agrees, or the
import refuses the file (409, naming the table, the row as the file
numbers it and the column, zh-CN first) and writes nothing — on SQLite and
PostgreSQL. Before, each edited file below imported: a holding, a swap or
a reservation whose `lots` came to more or less than its kilograms (or
named another lot of its pool than the one its tonnes are in), an
adjustment claiming another district's pool or an amount its journal
entry never posted, a pool last posted to in 2099. Every file the ledger
exports — holdings sold and retired in part, allocations with a
remainder, swaps in every state, adjustments up, down and rejected —
still imports."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
from collections.abc import Callable
from typing import Any

import pytest
from quota_svc.exports.rules import future_problem, holds_problem, ledger_problem
from svc_common import i18n, testing
from svc_common.types import utcnow

from .conftest import ADMIN, ADMIN2, AUDITOR, BAODI, INVESTMENT, JIZHOU, OFFICER, OFFICER2, Quota
from .test_events import changed
from .test_export_backing import export, fresh
from .test_import_tampered import BAODI_OFFICER, Rows, edited, where
from .test_ledger_beyond import post, uscc

SELLER, BUYER, FAR = uscc("XSSEL1"), uscc("XSBUY1"), uscc("XSFAR1")
ADJUST = f"/quota/pools/{JIZHOU}/VOCs/adjustments"


async def sold_and_retired_in_part(q: Quota) -> None:
    """In 蓟州区: 1 t moved to the priority reserve and 0.5 t of it
    allocated there; a seller allocated 3 t (of 8 t held: 5 t back as the
    remainder) over two lots, 1 t of it sold within the district and 0.5 t
    to 宝坻区, then cut by a permit change (retired in part); a hold
    released, one still held; adjustments approved up and down, one
    rejected, one proposed; a swap to 宝坻区 approved (held), one proposed."""
    await q.baseline(JIZHOU, "3")
    await q.baseline(BAODI, "5")
    up = await post(q, ADJUST, {"amount_t": "6", "note": "补录"}, ADMIN, 201)
    await post(q, f"{ADJUST}/{up['id']}/approve", None, ADMIN2)
    # 1 t moved to the priority reserve (its lot a child of the baseline's),
    # part of it allocated there.
    reserve = {"source": "district", "target": "reserve", "amount_t": "1", "note": "储备"}
    await post(q, f"/quota/pools/{JIZHOU}/VOCs/transfers", reserve, ADMIN, 201)
    school = {"district": JIZHOU, "increment_t": "0.25", "project_ref": "XS-0"}
    school |= {"priority_reserve": True}
    school_id = (await post(q, "/quota/reservations", school, ADMIN, 201))["id"]
    await post(q, f"/quota/reservations/{school_id}/allocate", {}, ADMIN)
    body = {"district": JIZHOU, "increment_t": "4", "project_ref": "XS-1", "uscc": SELLER}
    held = await post(q, "/quota/reservations", body, ADMIN, 201)
    await post(q, f"/quota/reservations/{held['id']}/allocate", {"amount_t": "3"}, ADMIN)
    for buyer, district, amount in ((BUYER, JIZHOU, "1"), (FAR, BAODI, "0.5")):
        sale = {
            "seller": SELLER,
            "buyer": buyer,
            "district": JIZHOU,
            "buyer_district": district,
            "amount_t": amount,
            "price_cny_per_t": "1.00",
            "contract_ref": f"C-{buyer}",
        }
        t = await post(q, "/quota/trades", sale, ADMIN, 201)
        settled = await post(q, f"/quota/trades/{t['id']}/approve", None, ADMIN2)
        assert settled["status"] == "settled"
    await testing.deliver(q.app, changed("PM-XS", "-0.2", uscc=SELLER))
    [pending] = (
        await q.client.get(f"/quota/reclaims?district={JIZHOU}&status=pending", headers=OFFICER)
    ).json()["items"]
    await post(q, f"/quota/reclaims/{pending['id']}/confirm", None, OFFICER2)
    gone = {"district": JIZHOU, "increment_t": "0.3", "project_ref": "XS-2"}
    gone_id = (await post(q, "/quota/reservations", gone, ADMIN, 201))["id"]
    await post(q, f"/quota/reservations/{gone_id}/release", {"reason": "撤回"}, ADMIN)
    kept = {"district": JIZHOU, "increment_t": "0.4", "project_ref": "XS-3"}
    await post(q, "/quota/reservations", kept, ADMIN, 201)
    down = await post(q, ADJUST, {"amount_t": "-0.25", "note": "更正"}, ADMIN, 201)
    await post(q, f"{ADJUST}/{down['id']}/approve", None, ADMIN2)
    no = await post(q, ADJUST, {"amount_t": "9", "note": "重复"}, ADMIN, 201)
    await post(q, f"{ADJUST}/{no['id']}/reject", None, ADMIN2)
    await post(q, ADJUST, {"amount_t": "0.1", "note": "待批"}, ADMIN, 201)
    swap = {"from": JIZHOU, "to": BAODI, "amount_t": "0.6", "reason": "调剂"}
    sid = (await post(q, "/quota/swaps", swap, ADMIN, 201))["id"]
    await post(q, f"/quota/swaps/{sid}/approve", None, OFFICER)
    await post(q, f"/quota/swaps/{sid}/approve", None, BAODI_OFFICER)
    await post(q, "/quota/swaps", {**swap, "amount_t": "0.1"}, ADMIN, 201)


async def test_a_ledger_sold_and_retired_in_part_restores(
    quota: Quota, db_url: str, tmp_path: pathlib.Path
) -> None:
    """Holdings whose lots were partly sold and retired, a reservation
    allocated in part: the lots each keeps are its kilograms, and its
    export imports in CSV and XLSX, the restore reconciling."""
    await sold_and_retired_in_part(quota)
    r = await quota.client.get(f"/quota/holdings?uscc={SELLER}", headers=AUDITOR)
    mine = r.json()["items"]
    assert any(h["retired_at"] for h in mine) and any(not h["retired_at"] for h in mine), r.text
    for fmt in ("csv", "xlsx"):
        content = await export(quota, fmt)
        async with fresh(db_url, tmp_path) as copy:
            r = await copy.client.post(
                f"/quota/import?format={fmt}", content=content, headers=ADMIN
            )
            assert r.status_code == 200, r.text
            assert r.json()["adjustments"] == 4 and r.json()["swaps"] == 2, r.text
            rec = await copy.client.get("/quota/reconciliation", headers=AUDITOR)
            assert rec.json()["ok"], rec.text


def _lots_of(row: dict[str, str]) -> list[list[int]]:
    return list(json.loads(row["lots"]))


def _first_with_lots(test: Callable[[dict[str, str]], bool], edit: Callable[..., Any]) -> Any:
    """Rows with the first whose `lots` are not empty and that passes `test`
    edited by `edit(row, lots)` (the cells it returns)."""

    def apply(rows: Rows) -> Rows:
        for i, row in enumerate(rows):
            if row["lots"] not in ("", "[]") and test(row):
                return [*rows[:i], {**row, **edit(row, _lots_of(row))}, *rows[i + 1 :]]
        raise AssertionError("no such row")

    return apply


def _one_more_kg(row: dict[str, str], lots: list[list[int]]) -> dict[str, str]:
    lots[0][1] += 1
    return {"lots": json.dumps(lots)}


def _other_lot(lot_ids: Callable[[], list[int]]) -> Callable[..., dict[str, str]]:
    """The row's first lot's kilograms moved to another lot of its pool."""

    def edit(row: dict[str, str], lots: list[list[int]]) -> dict[str, str]:
        lots[0][0] = next(i for i in lot_ids() if i not in {lot for lot, _ in lots})
        return {"lots": json.dumps(lots)}

    return edit


def _in_2099(rows: Rows) -> Rows:
    return [{**rows[0], "last_effective_at": "2099-01-01T00:00:00+00:00"}, *rows[1:]]


async def test_an_export_whose_sections_disagree_is_refused(
    quota: Quota, db_url: str, tmp_path: pathlib.Path
) -> None:
    await sold_and_retired_in_part(quota)
    content = await export(quota, "csv")
    r = await quota.client.get(f"/quota/lots?district={JIZHOU}&pollutant=VOCs", headers=AUDITOR)
    assert r.status_code == 200, r.text
    jizhou_lots = [lot["id"] for lot in r.json()["items"] if lot["pool_id"] == f"{JIZHOU}:VOCs"]
    assert len(jizhou_lots) >= 2, r.text
    partly = "partly sold and retired"
    cases: list[tuple[str, str, Callable[[Rows], Rows], str, str, str]] = [
        # (what, sheet edited, edit, sheet named, column named, why in Chinese)
        (
            f"a holding {partly}: one kg more in its lots",
            "holdings",
            _first_with_lots(lambda r: r["uscc"] == SELLER, _one_more_kg),
            "holdings",
            "lots",
            "所列批次合计",
        ),
        (
            "a holding's tonnes moved to another lot of its pool",
            "holdings",
            _first_with_lots(lambda r: r["uscc"] == SELLER, _other_lot(lambda: jizhou_lots)),
            "lots",
            "allocated_kg",
            "文件中的持有量所列批次",
        ),
        (
            "an approved swap holding one kg more",
            "swaps",
            _first_with_lots(lambda r: r["status"] == "approved", _one_more_kg),
            "swaps",
            "lots",
            "而 amount_kg 为 600 千克",
        ),
        (
            "a proposed swap holding lots",
            "swaps",
            where("status", "proposed", lots=f"[[{jizhou_lots[0]},100]]"),
            "swaps",
            "lots",
            "未经双方批准的调剂不占用批次",
        ),
        (
            "an approved swap's hold moved to another lot",
            "swaps",
            _first_with_lots(lambda r: r["status"] == "approved", _other_lot(lambda: jizhou_lots)),
            # Its hold movements name the lot it held (before this was
            # checked, the lot's held_kg named it).
            "swaps",
            "lots",
            "但其占用流水",
        ),
        (
            "a held reservation's lots one kg more",
            "reservations",
            _first_with_lots(lambda r: r["status"] == "held", _one_more_kg),
            "reservations",
            "lots",
            "而 held_kg 为",
        ),
        (
            "an allocated reservation with no lots",
            "reservations",
            where("status", "allocated", lots=""),
            "reservations",
            "lots",
            "所列批次合计 0 千克",
        ),
        (
            "an adjustment of 蓟州区 claiming 宝坻区's pool",
            "adjustments",
            where("note", "补录", pool_id=f"{BAODI}:VOCs"),
            "adjustments",
            "pool_id",
            f"应为 '{JIZHOU}:VOCs'",
        ),
        (
            "an approved adjustment's amount raised",
            "adjustments",
            where("note", "补录", amount_kg="60000"),
            "adjustments",
            "amount_kg",
            "应为 6000",
        ),
        (
            "a rejected adjustment marked approved",
            "adjustments",
            where("note", "重复", status="approved"),
            "adjustments",
            "status",
            "为已批准，但文件的台账分录中没有其分录",
        ),
        (
            "an approved adjustment dropped",
            "adjustments",
            lambda rows: [r for r in rows if r["note"] != "更正"],
            "journal",
            "idempotency_id",
            "文件中没有人工调整",
        ),
        ("a pool last posted to in 2099", "pools", _in_2099, "pools", "last_effective_at", "晚于"),
    ]
    async with fresh(db_url, tmp_path) as copy:
        r = await copy.client.post("/quota/import?format=csv", content=content, headers=ADMIN)
        assert r.status_code == 200, r.text  # the file as exported imports
    for what, sheet, edit, named, column, why in cases:
        upload = edited(content, sheet, edit)
        async with fresh(db_url, tmp_path) as copy:
            for language, prefix in (("zh-CN", f"{named}：第 "), ("en", f"{named}: row ")):
                r = await copy.client.post(
                    "/quota/import?format=csv",
                    content=upload,
                    headers={**ADMIN, "accept-language": language},
                )
                assert r.status_code == 409, (what, r.text)
                assert r.headers["content-type"].startswith("application/problem+json")
                detail = r.json()["detail"]
                assert detail.startswith(prefix), (what, detail)
                assert f" {column} 列：" in detail or f", column {column}: " in detail, (
                    what,
                    detail,
                )
                if language == "zh-CN":
                    assert why in detail, (what, detail)
            # All or nothing: the refused file left the ledger empty.
            r = await copy.client.get("/quota/availability", headers=INVESTMENT)
            assert r.status_code == 200, r.text
            assert {p["credited_t"] for p in r.json()} <= {"0.000"}, (what, r.text)
            for path in ("/quota/holdings?include_empty=true", "/quota/swaps"):
                r = await copy.client.get(path, headers=AUDITOR)
                assert r.status_code == 200 and r.json()["items"] == [], (what, r.text)


# --- the rules, without a database ---------------------------------------------

POOL = {"id": f"{JIZHOU}:VOCs", "district": JIZHOU, "pollutant": "VOCs", "kind": "district"}
LOT = {"id": 1, "pool_id": POOL["id"], "district": JIZHOU, "pollutant": "VOCs"}
OF_POOL = {"pool_id": POOL["id"], "district": JIZHOU, "pollutant": "VOCs"}


def _sheets(**sheets: list[dict[str, Any]]) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    return {name: list(enumerate(rows, start=2)) for name, rows in sheets.items()}


@pytest.mark.parametrize(
    ("lots", "amount", "found"),
    [
        ([[1, 300], [2, 200]], 500, None),
        # Sold out: no lots left, nothing held.
        ([], 0, None),
        (None, 0, None),
        ([[1, 300], [2, 201]], 500, "its lots come to 501 kg, but amount_kg is 500 kg"),
        ([[1, 600], [2, -100]], 500, "lot 2: -100 kg is below 0"),
        (None, 500, "its lots come to 0 kg, but amount_kg is 500 kg"),
    ],
)
def test_a_holdings_lots_are_its_kilograms(
    lots: list[list[int]] | None, amount: int, found: str | None
) -> None:
    holding = {"id": "h", "amount_kg": amount, "lots": lots, **OF_POOL}
    problem = ledger_problem(
        _sheets(pools=[POOL], lots=[LOT, {**LOT, "id": 2}], holdings=[holding])
    )
    if found is None:
        assert problem is None, problem
    else:
        assert problem == f"holdings: row 2, column lots: {found}", problem


@pytest.mark.parametrize(
    ("status", "approvals", "lots", "found"),
    [
        ("proposed", {}, None, None),
        ("cancelled", {"from_approved_by": "b"}, None, None),
        ("proposed", {}, [[1, 10]], "a swap not approved by both districts holds no lots"),
        ("approved", {"from_approved_by": "b", "to_approved_by": "c"}, [[1, 10]], None),
        ("settled", {"from_approved_by": "b", "to_approved_by": "c"}, [[1, 10]], None),
        ("approved", {"from_approved_by": "b", "to_approved_by": "c"}, [[1, 9]], "come to 9 kg"),
        ("cancelled", {"from_approved_by": "b", "to_approved_by": "c"}, None, "come to 0 kg"),
    ],
)
def test_a_swaps_lots_are_its_amount_once_held(
    status: str, approvals: dict[str, str], lots: list[list[int]] | None, found: str | None
) -> None:
    swap = {"id": "s", "from_district": JIZHOU, "to_district": BAODI, "pollutant": "VOCs"}
    swap |= {"status": status, "amount_kg": 10, "lots": lots, **approvals}
    if status in ("approved", "settled"):  # the times its path wrote (rules._swap_times)
        at = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
        swap |= dict.fromkeys(("from_approved_at", "to_approved_at", "effective_at"), at)
        swap |= {"settled_at": at} if status == "settled" else {}
    other = {**POOL, "id": f"{BAODI}:VOCs", "district": BAODI}
    problem = ledger_problem(_sheets(pools=[POOL, other], lots=[LOT], swaps=[swap]))
    if found is None:
        assert problem is None, problem
    else:
        assert problem is not None and problem.startswith("swaps: row 2, column lots: "), problem
        assert found in problem, problem


def test_a_reservation_resolved_before_lots_has_none() -> None:
    """One released before the ledger kept lots (migration 0003) has none;
    a live one always has its lots."""
    row = {"id": "r", "held_kg": 10, "lots": None, **OF_POOL}
    for status, refused in (("released", False), ("expired", False), ("held", True)):
        problem = ledger_problem(
            _sheets(pools=[POOL], lots=[LOT], reservations=[{**row, "status": status}])
        )
        assert (problem is not None) == refused, (status, problem)
    problem = ledger_problem(
        _sheets(pools=[POOL], lots=[LOT], reservations=[{**row, "status": "allocated"}])
    )
    assert problem == (
        "reservations: row 2, column lots: its lots come to 0 kg, but held_kg is 10 kg"
    )


def test_each_lots_allocated_and_held_kilograms_are_what_the_rows_name() -> None:
    lots = [{**LOT, "allocated_kg": 300, "held_kg": 0}, {**LOT, "id": 2, "allocated_kg": 0}]
    holding = {"id": "h", "amount_kg": 300, "lots": [[1, 300]], **OF_POOL}
    assert ledger_problem(_sheets(pools=[POOL], lots=lots, holdings=[holding])) is None
    moved = {**holding, "lots": [[2, 300]]}
    with i18n.use("zh"):
        problem = ledger_problem(_sheets(pools=[POOL], lots=lots, holdings=[moved]))
    assert problem == (
        "lots：第 2 行 allocated_kg 列：为 300 千克，但文件中的持有量所列批次 1 合计 0 千克"
    )
    held = {"id": "r", "status": "held", "held_kg": 50, "lots": [[2, 50]], **OF_POOL}
    pool = {**POOL, "reserved_kg": 50}
    sheets = _sheets(pools=[pool], lots=[{**lots[0], "held_kg": 50}, lots[1]], reservations=[held])
    sheets |= _sheets(swaps=[])
    assert holds_problem(sheets) == (
        "lots: row 2, column held_kg: 50 kg, but the file's held reservations and approved "
        "swaps name 0 kg of lot 1"
    )


def test_an_adjustment_is_of_its_districts_pool_and_its_journal_entry() -> None:
    adjustment = {"id": "a", "district": JIZHOU, "pollutant": "VOCs", "pool_id": POOL["id"]}
    adjustment |= {"amount_kg": 1000, "status": "approved"}
    entry = {"id": 1, "code": "adjustment", "idempotency_id": "adjustment:a", "amount_kg": 1000}
    entry |= OF_POOL
    assert ledger_problem(_sheets(pools=[POOL], journal=[entry], adjustments=[adjustment])) is None
    # An older export without the sheet: not checked.
    assert ledger_problem(_sheets(pools=[POOL], journal=[entry])) is None
    for edit, found in (
        ({"pool_id": f"{BAODI}:VOCs"}, "column pool_id: should be '120119:VOCs'"),
        ({"amount_kg": 2000}, "column amount_kg: should be 1000, that of the entry"),
        ({"status": "rejected"}, "column status: 'rejected', but journal row 2 posted it"),
        ({"amount_kg": 0, "status": "proposed", "id": "b"}, "column amount_kg: must not be 0"),
    ):
        problem = ledger_problem(
            _sheets(pools=[POOL], journal=[entry], adjustments=[{**adjustment, **edit}])
        )
        assert problem is not None and problem.startswith("adjustments: row 2, "), problem
        assert found in problem, problem
    # Approved, its pool missing from the file.
    problem = ledger_problem(_sheets(pools=[], journal=[], adjustments=[adjustment]))
    assert problem == "adjustments: row 2, column pool_id: the file holds no pool '120119:VOCs'"
    problem = ledger_problem(_sheets(pools=[POOL], journal=[], adjustments=[adjustment]))
    assert problem is not None and problem.startswith("adjustments: row 2, column status: ")


def test_times_of_what_was_done_are_not_later_than_now() -> None:
    now = utcnow()
    soon, later = now + dt.timedelta(minutes=5), now + dt.timedelta(days=2)
    assert future_problem(_sheets(pools=[{**POOL, "last_effective_at": soon}]), now) is None
    problem = future_problem(_sheets(pools=[{**POOL, "last_effective_at": later}]), now)
    assert problem is not None
    assert problem.startswith("pools: row 2, column last_effective_at: "), problem
    # A hold's expiry, a holding's validity, a scheduled setting: later by nature.
    for sheet, column in (
        ("reservations", "expires_at"),
        ("holdings", "valid_until"),
        ("district_settings", "effective_from"),
        ("swaps", "effective_at"),
        ("debts", "due_at"),
    ):
        assert future_problem(_sheets(**{sheet: [{column: later}]}), now) is None
    problem = future_problem(_sheets(holdings=[{"acquired_at": later}]), now)
    assert problem is not None and problem.startswith("holdings: row 2, column acquired_at: ")
