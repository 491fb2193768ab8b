"""An export edited before its import is refused (409, naming the table,
the row as the file numbers it and the column, in zh-CN and English) and
nothing is written — on SQLite and PostgreSQL. Before, each file below
imported: a pending reclaim raised to 99,999.999 t (or moved to another
district's officer) credited quota no permit backed; an advance lot
without its debt kept the advance as quota for good; an offset ratio of
1000.00 made every later read of the district a 422; a holding named a
trade or reservation the file lacked (404), a settled trade came back
proposed (to be approved and moved a second time); and a duplicate key or
a second live hold of a project was refused naming the table alone."""

from __future__ import annotations

import csv
import datetime as dt
import io
import pathlib
import uuid
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from quota_svc.exports.rules import from_text, ledger_problem
from quota_svc.exports.service import SHEETS
from quota_svc.swaps.models import Swap
from quota_svc.swaps.service import lock_swap, settle
from svc_common import i18n, testing
from svc_common.types import utcnow

from .conftest import ADMIN, ADMIN2, AUDITOR, BAODI, INVESTMENT, JIZHOU, OFFICER, OFFICER2, Quota
from .test_events import changed
from .test_export_backing import export, fresh
from .test_export_live_ledger import live_ledger
from .test_ledger_beyond import post, uscc
from .test_reclaim_backing import cancelled, issued

BAODI_OFFICER = testing.auth("officer", [BAODI], sub="officer.baodi.wu")

Rows = list[dict[str, str]]

SELLER, BUYER = uscc("IMPSEL1"), uscc("IMPBUY1")


async def tampered_ledger(q: Quota) -> None:
    """The live ledger of test_export_live_ledger (an advance, settings, a
    held reservation), a closed plant's pending reclaim of 1 t of VOCs in
    蓟州区, and in 宝坻区 a holding allocated to a seller, 0.5 t of it sold."""
    await live_ledger(q)
    for e in (issued("PM-IMP", VOCs="1"), cancelled("PM-IMP", VOCs="1")):
        await testing.deliver(q.app, e)
    body = {"district": BAODI, "increment_t": "0.5", "project_ref": "BD-2", "uscc": SELLER}
    held = await post(q, "/quota/reservations", body, ADMIN, 201)
    await post(q, f"/quota/reservations/{held['id']}/allocate", {}, ADMIN)
    sale = {
        "seller": SELLER,
        "buyer": BUYER,
        "district": BAODI,
        "amount_t": "0.5",
        "price_cny_per_t": "1.00",
        "contract_ref": "C-imp",
    }
    t = await post(q, "/quota/trades", sale, ADMIN, 201)
    assert (await post(q, f"/quota/trades/{t['id']}/approve", None, ADMIN2))["status"] == "settled"


async def proposed_without_pools(q: Quota) -> None:
    """A proposed swap between two districts that have no pools, as a ledger
    kept before a proposal was checked against its source pool may hold
    (the API now refuses it: test_swap_overdraft)."""
    async with q.app.state.runtime.db.transaction() as s:
        s.add(
            Swap(
                id=str(uuid.uuid4()),
                from_district="120101",
                to_district="120103",
                pollutant="VOCs",
                amount_kg=1000,
                reason="调剂",
                status="proposed",
                proposed_by="admin.zhang",
                proposed_at=utcnow(),
            )
        )


async def swaps_and_trades(q: Quota) -> None:
    """Swaps in every state (one proposed between districts without pools,
    one approved, one cancelled after both approvals, one settled), a
    trade settled across districts, and the buyer's plant closed, its
    reclaim confirmed: the buyer's holding retired in part (split)."""
    await q.baseline(BAODI, "20")
    await q.baseline(JIZHOU, "5")
    swap = {"from": BAODI, "to": JIZHOU, "amount_t": "1", "reason": "调剂"}
    await proposed_without_pools(q)
    ids = [(await post(q, "/quota/swaps", swap, ADMIN, 201))["id"] for _ in range(3)]
    for sid in ids:
        await post(q, f"/quota/swaps/{sid}/approve", None, BAODI_OFFICER)
        await post(q, f"/quota/swaps/{sid}/approve", None, OFFICER)
    await post(q, f"/quota/swaps/{ids[1]}/cancel", {"reason": "撤回"}, OFFICER)
    async with q.app.state.runtime.db.transaction() as s:
        sw = await lock_swap(s, ids[2])
        assert sw is not None
        await settle(s, sw)
    body = {"district": BAODI, "increment_t": "1", "project_ref": "BD-X", "uscc": SELLER}
    held = await post(q, "/quota/reservations", body, ADMIN, 201)
    await post(q, f"/quota/reservations/{held['id']}/allocate", {}, ADMIN)
    sale = {
        "seller": SELLER,
        "buyer": BUYER,
        "district": BAODI,
        "buyer_district": JIZHOU,
        "amount_t": "1",
        "price_cny_per_t": "1.00",
        "contract_ref": "C-x",
    }
    t = await post(q, "/quota/trades", sale, ADMIN, 201)
    assert (await post(q, f"/quota/trades/{t['id']}/approve", None, ADMIN2))["status"] == "settled"
    # A permit the ledger had no record of, cut by its VOCs delta alone:
    # its candidate has no ceiling row, as the live path makes it.
    cut = changed("PM-BUY", "-0.2", uscc=BUYER)
    await testing.deliver(q.app, cut)
    [pending] = (
        await q.client.get(f"/quota/reclaims?district={JIZHOU}&status=pending", headers=OFFICER)
    ).json()["items"]
    await post(q, f"/quota/reclaims/{pending['id']}/confirm", None, OFFICER2)


async def test_a_ledger_of_swaps_and_trades_in_every_state_restores(
    quota: Quota, db_url: str, tmp_path: pathlib.Path
) -> None:
    """The references the import checks are those a live ledger holds: its
    export imports, and the restore reconciles."""
    await swaps_and_trades(quota)
    r = await quota.client.get("/quota/swaps", headers=AUDITOR)
    assert sorted(s["status"] for s in r.json()["items"]) == [
        "approved",
        "cancelled",
        "proposed",
        "settled",
    ], r.text
    r = await quota.client.get(f"/quota/holdings?uscc={BUYER}", headers=AUDITOR)
    assert any(h["retired_at"] for h in r.json()["items"]), r.text
    for fmt in ("csv", "xlsx"):
        content = await export(quota, fmt)
        async with fresh(db_url, tmp_path) as copy:
            r = await copy.client.post(
                f"/quota/import?format={fmt}", content=content, headers=ADMIN
            )
            assert r.status_code == 200, r.text
            assert (r.json()["swaps"], r.json()["trades"], r.json()["reclaims"]) == (4, 1, 1)
            rec = await copy.client.get("/quota/reconciliation", headers=AUDITOR)
            assert rec.json()["ok"], rec.text


def edited(content: bytes, name: str, edit: Callable[[Rows], Rows]) -> bytes:
    """The CSV export with `name`.csv's rows (column → cell) edited."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == f"{name}.csv":
                reader = csv.DictReader(io.StringIO(data.decode()))
                header = list(reader.fieldnames or ())
                rows = edit(list(reader))
                text = io.StringIO()
                w = csv.DictWriter(text, header, lineterminator="\r\n")
                w.writeheader()
                w.writerows(rows)
                data = text.getvalue().encode()
            zout.writestr(item.filename, data)
    return out.getvalue()


def where(column: str, value: str, **cells: str) -> Callable[[Rows], Rows]:
    """Rows whose `column` is `value` get `cells`."""
    return lambda rows: [{**r, **cells} if r[column] == value else r for r in rows]


def first(**cells: str) -> Callable[[Rows], Rows]:
    return lambda rows: [{**rows[0], **cells}, *rows[1:]]


def dropping(test: Callable[[dict[str, str]], bool]) -> Callable[[Rows], Rows]:
    def edit(rows: Rows) -> Rows:
        kept = [r for r in rows if not test(r)]
        assert len(kept) < len(rows)
        return kept

    return edit


def twice(index: int = 0) -> Callable[[Rows], Rows]:
    return lambda rows: [*rows, rows[index]]


def second_live_hold(rows: Rows) -> Rows:
    (held,) = [r for r in rows if r["status"] == "held" and r["project_ref"] == "BD-1"]
    return [*rows, {**held, "id": "r-twin", "idempotency_id": "twin"}]


CASES: list[tuple[str, Callable[[Rows], Rows], str, str]] = [
    # 1. reclaims
    (
        "reclaims",
        where("source", "permit_cancelled", amount_kg="99999999"),
        "amount_kg",
        "许可证 'PM-IMP' 的事件共释放 VOCs 1000 千克",
    ),
    ("reclaims", where("source", "permit_cancelled", district="120101"), "pool_id", "应为"),
    ("reclaims", where("source", "permit_cancelled", amount_kg="0"), "amount_kg", "必须大于 0"),
    ("permit_backing", first(freed_kg="2000"), "freed_kg", "释放 2000 千克"),
    # 2. debts
    ("debts", dropping(lambda r: r["status"] == "open"), "id", "先用后补批次"),
    ("debts", first(amount_kg="1"), "amount_kg", "应为 3375"),
    ("debts", first(status="repaid"), "status", "尚欠 3375 千克"),
    # 3. settings
    ("district_settings", first(offset_ratio_hundredths="100000"), "offset_ratio_hundredths", ""),
    ("district_settings", first(offset_ratio_hundredths="0"), "offset_ratio_hundredths", ""),
    ("district_settings", first(hold_days="-5"), "hold_days", "-5 超出接口允许的范围（1 至 3650）"),
    ("district_settings", first(effective_from="2000-01-01T00:00:00+00:00"), "effective_from", ""),
    ("advance_limits", first(limit_kg="-1"), "limit_kg", "-1 超出"),
    ("advance_limits", first(term_days="0"), "term_days", "0 超出"),
    ("air_quality_ratios", first(offset_ratio_hundredths="-1"), "offset_ratio_hundredths", ""),
    # 4. references and effects
    ("trades", dropping(lambda r: True), "trade_id", "文件中没有交易"),
    ("reservations", dropping(lambda r: r["project_ref"] == "BD-2"), "reservation_id", ""),
    ("trades", first(status="proposed"), "decided_by", "待审核的交易不应有审核记录"),
    ("trades", first(status="proposed", decided_by="", decided_at=""), "status", "应为已交割"),
    # 6. what a row names in another sheet: pools, lots, reservations, reclaims
    ("swaps", lambda rows: [*rows, SWAP], "from_district", "文件中没有总量池 '120101:VOCs'"),
    (
        "trades",
        first(buyer_district="120101"),
        "buyer_district",
        "文件中没有总量池 '120101:VOCs'",
    ),
    (
        "reclaims",
        where(
            "source",
            "permit_cancelled",
            district="120101",
            pool_id="120101:VOCs",
            status="confirmed",
        ),
        "pool_id",
        "文件中没有总量池 '120101:VOCs'",
    ),
    ("reclaims", where("source", "permit_cancelled", status="confirmed"), "status", "入账的批次"),
    ("lots", first(reclaim_id="rc-gone"), "reclaim_id", "文件中没有收回候选 'rc-gone'"),
    ("journal", first(reclaim_id="rc-gone"), "reclaim_id", "文件中没有收回候选 'rc-gone'"),
    # 7. a settled trade's buyer holds what it bought
    ("holdings", dropping(lambda r: r["trade_id"] != ""), "status", "买方将一无所有"),
    ("holdings", where("source", "trade", uscc=SELLER), "uscc", f"应为 '{BUYER}'"),
    ("holdings", where("source", "trade", original_kg="1"), "amount_kg", "合计 1 千克"),
    # 8. a closed plant's candidate has its permit's ceiling
    ("permit_backing", dropping(lambda r: True), "permit_id", "可收回上限（permit_backing）"),
    # 5. keys
    ("holdings", twice(), "id", "与第 2 行的键"),
    ("debts", twice(), "id", "与第 2 行的键"),
    ("reservations", second_live_hold, "project_ref", "项目 'BD-1' 的第二笔生效预占"),
]

#: A swap approved in both districts, from one whose pool the file lacks.
SWAP = {
    "id": "sw-forged",
    "from_district": "120101",
    "to_district": JIZHOU,
    "pollutant": "VOCs",
    "amount_kg": "1000",
    "reason": "调剂",
    "status": "approved",
    "proposed_by": "officer.a",
    "proposed_at": "2026-01-01T00:00:00+00:00",
    "from_approved_by": "officer.b",
    "from_approved_at": "2026-01-02T00:00:00+00:00",
    "to_approved_by": "officer.c",
    "to_approved_at": "2026-01-02T00:00:00+00:00",
    "effective_at": "2026-01-09T00:00:00+00:00",
}

#: The table whose row a case's refusal names, where not the table edited.
#: (A reservation dropped is named first by the lot movements of its hold,
#: a sheet read before the holdings.)
NAMED = {
    0: "reclaims",
    4: "lots",
    14: "holdings",
    15: "lot_movements",
    24: "trades",
    26: "trades",
    27: "reclaims",
}


@pytest.mark.parametrize(
    ("case", "name", "edit", "column", "why"),
    [(i, *c) for i, c in enumerate(CASES)],
    ids=[f"{i}-{c[0]}-{c[2]}" for i, c in enumerate(CASES)],
)
async def test_a_tampered_export_is_refused_naming_row_and_column(
    quota: Quota,
    db_url: str,
    tmp_path: pathlib.Path,
    case: int,
    name: str,
    edit: Callable[[Rows], Rows],
    column: str,
    why: str,
) -> None:
    await tampered_ledger(quota)
    content = await export(quota, "csv")
    async with fresh(db_url, tmp_path) as copy:
        r = await copy.client.post("/quota/import?format=csv", content=content, headers=ADMIN)
        assert r.status_code == 200, r.text  # the file as exported imports
    upload = edited(content, name, edit)
    async with fresh(db_url, tmp_path) as copy:
        table = NAMED.get(case, name)
        for language, prefix in (("zh-CN", f"{table}：第 "), ("en", f"{table}: row ")):
            r = await copy.client.post(
                "/quota/import?format=csv",
                content=upload,
                headers={**ADMIN, "accept-language": language},
            )
            assert r.status_code == 409, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            detail = r.json()["detail"]
            assert detail.startswith(prefix), detail
            assert f" {column} 列：" in detail or f", column {column}: " in detail, detail
            if language == "zh-CN":
                assert why in detail, detail
        r = await copy.client.get("/quota/availability", headers=INVESTMENT)
        assert r.status_code == 200, r.text
        assert {p["credited_t"] for p in r.json()} <= {"0.000"}, r.text


def test_the_rules_need_no_database() -> None:
    """The checks are plain functions of the rows read."""
    pool = {"id": f"{JIZHOU}:VOCs", "district": JIZHOU, "pollutant": "VOCs", "kind": "district"}
    lot = {"id": 1, "pool_id": pool["id"], "district": JIZHOU, "pollutant": "VOCs"}
    advance: dict[str, Any] = {**lot, "source": "advance", "original_kg": 500, "repaid_kg": 0}
    problem = ledger_problem({"pools": [(2, pool)], "lots": [(2, advance)], "debts": []})
    assert problem is not None and problem.startswith("lots: row 2, column id: advance lot 1")
    setting = {"district": JIZHOU, "pollutant": "VOCs", "offset_ratio_hundredths": 100000}
    problem = ledger_problem({"district_settings": [(2, {**setting, "hold_days": 90})]})
    assert problem is not None
    assert problem.startswith("district_settings: row 2, column offset_ratio_hundredths: 100000")


@pytest.mark.parametrize(
    "text", ["１２", "١٢", "+12", " 12", "12 ", "1_2", "12.0", "1e3", "9" * 5000, "9" * 19]
)
def test_a_whole_number_reads_only_as_the_export_writes_it(text: str) -> None:
    """int() read full-width and Arabic-Indic digits, a sign, spaces and
    underscores: an edited cell "１２" or "1_000" imported as 12 or 1000 kg."""
    lots = SHEETS["lots"]
    with pytest.raises(ValueError, match=r"^not a whole number: "):
        from_text(lots, "original_kg", text)
    assert from_text(lots, "original_kg", "12") == 12
    assert from_text(lots, "original_kg", "-12") == -12


@pytest.mark.parametrize(
    ("sheet", "column", "why"),
    [
        ("lots", "original_kg", "a whole number is required"),
        ("pools", "credited_kg", "a whole number is required"),
        ("district_settings", "follows_air_quality", "true or false is required"),
    ],
)
def test_an_empty_number_or_yes_no_cell_is_refused(sheet: str, column: str, why: str) -> None:
    """A cleared cell of a column that holds no empty value read as 0 kg
    (a pool's credited tonnes, a lot's), or as a text no yes/no column takes."""
    with pytest.raises(ValueError, match=f"^{why}: ''$"):
        from_text(SHEETS[sheet], column, "")


@pytest.mark.parametrize("text", ["yes", "ture", "True ", "2", "on"])
def test_a_boolean_reads_only_as_true_or_false(text: str) -> None:
    """Any text but true or 1 read as false: an edited "yes" (or a typo)
    turned a district's ratio following its air quality off."""
    settings = SHEETS["district_settings"]
    with pytest.raises(ValueError, match=r"^not true or false: "):
        from_text(settings, "follows_air_quality", text)
    assert from_text(settings, "follows_air_quality", "true") is True
    assert from_text(settings, "follows_air_quality", "false") is False


POOL = {"id": f"{JIZHOU}:VOCs", "district": JIZHOU, "pollutant": "VOCs", "kind": "district"}


def _sheets(**sheets: list[dict[str, Any]]) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    """Sheets of rows numbered as a file would (the header is row 1)."""
    return {name: list(enumerate(rows, start=2)) for name, rows in sheets.items()}


@pytest.mark.parametrize(
    ("swap", "column"),
    [
        ({"status": "proposed"}, None),
        ({"status": "cancelled", "from_approved_by": "b"}, None),
        ({"status": "approved", "from_approved_by": "b", "to_approved_by": "c"}, "from_district"),
        ({"status": "cancelled", "from_approved_by": "b", "to_approved_by": "c"}, "from_district"),
        ({"status": "settled", "from_district": JIZHOU}, "to_district"),
    ],
    ids=["proposed", "cancelled-unheld", "approved", "cancelled-held", "settled"],
)
def test_a_swap_names_the_pools_it_wrote_to(swap: dict[str, Any], column: str | None) -> None:
    """A swap that held (the second approval) names its source district's
    pool, a settled one its target's too; a proposal writes no pool, so a
    live ledger may hold one of districts without any."""
    row = {"id": "s", "from_district": BAODI, "to_district": "120101", "pollutant": "VOCs"}
    problem = ledger_problem(_sheets(pools=[POOL], swaps=[{**row, **swap}]))
    if column is None:
        assert problem is None
        return
    assert problem is not None and problem.startswith(f"swaps: row 2, column {column}: ")
    assert "the file holds no pool" in problem


def test_a_settled_trade_names_its_pools_and_its_buyers_holdings() -> None:
    trade = {
        "id": "t",
        "seller_uscc": "S",
        "buyer_uscc": "B",
        "district": JIZHOU,
        "buyer_district": BAODI,
        "pollutant": "VOCs",
        "amount_kg": 500,
        "status": "settled",
    }
    problem = ledger_problem(_sheets(pools=[POOL], trades=[trade]))
    assert problem == (
        "trades: row 2, column buyer_district: the file holds no pool '120115:VOCs'"
    ), problem
    # Within one district, the buyer holds in the seller's pools.
    same = {**trade, "buyer_district": JIZHOU}
    problem = ledger_problem(_sheets(pools=[POOL], trades=[same]))
    assert problem is not None and problem.startswith("trades: row 2, column status: settled, but")
    bought = {"id": "h", "uscc": "B", "pool_id": POOL["id"], "district": JIZHOU}
    bought |= {"pollutant": "VOCs", "trade_id": "t", "original_kg": 300}
    split = {**bought, "id": "h2", "original_kg": 200}
    for holdings, found in [
        ([bought, split], None),
        # A reclaim's split adds a row: more than was bought, never less.
        ([bought, split, {**split, "id": "h3"}], None),
        ([bought], "trades: row 2, column amount_kg: 500 kg settled, but "),
        ([bought, {**split, "uscc": "S"}], "holdings: row 3, column uscc: should be 'B'"),
        ([{**bought, "pollutant": "NOx"}, split], "holdings: row 2, column pollutant: "),
    ]:
        problem = ledger_problem(_sheets(pools=[POOL], trades=[same], holdings=holdings))
        assert (problem is None) if found is None else (problem or "").startswith(found), problem
    # Nothing bought in a trade not settled.
    for status in ("proposed", "refused", "cancelled"):
        assert ledger_problem(_sheets(pools=[POOL], trades=[{**same, "status": status}])) is None


@pytest.mark.parametrize(
    ("source", "refused"),
    [("permit_cancelled", True), ("permit_changed", False), ("manual", False)],
)
def test_a_closed_plants_candidate_has_its_permits_ceiling(source: str, refused: bool) -> None:
    """A cancellation keeps the permit's ceiling (0 after it) with its
    candidates; a change of a permit the ledger had no record of (its VOCs
    delta alone) keeps none; a candidate by hand names no permit's."""
    reclaim = {"id": "r", "district": JIZHOU, "pollutant": "VOCs", "pool_id": POOL["id"]}
    reclaim |= {"amount_kg": 1000, "source": source, "status": "pending", "permit_id": "PM-1"}
    problem = ledger_problem(_sheets(pools=[POOL], reclaims=[reclaim], permit_backing=[]))
    if refused:
        assert problem is not None
        assert problem.startswith("reclaims: row 2, column permit_id: the file holds no ceiling")
    else:
        assert problem is None, problem
    # An older export without the sheet: not checked.
    assert ledger_problem(_sheets(pools=[POOL], reclaims=[reclaim])) is None
    ceiling = {"permit_id": "PM-1", "pollutant": "VOCs", "district": JIZHOU, "amount_kg": 0}
    ceiling |= {"backed_kg": 0, "freed_kg": 1000 if source != "manual" else 0}
    sheets = _sheets(pools=[POOL], reclaims=[reclaim], permit_backing=[ceiling])
    assert ledger_problem(sheets) is None


def test_a_confirmed_reclaim_and_the_lots_it_credited_name_each_other() -> None:
    reclaim = {"id": "r", "district": JIZHOU, "pollutant": "VOCs", "pool_id": POOL["id"]}
    reclaim |= {"amount_kg": 1000, "source": "manual", "status": "confirmed"}
    lot = {"id": 1, "pool_id": POOL["id"], "district": JIZHOU, "pollutant": "VOCs"}
    credited = {**lot, "reclaim_id": "r", "source": "reclaim"}
    assert ledger_problem(_sheets(pools=[POOL], lots=[credited], reclaims=[reclaim])) is None
    problem = ledger_problem(_sheets(pools=[POOL], lots=[lot], reclaims=[reclaim]))
    assert problem is not None and problem.startswith("reclaims: row 2, column status: confirmed")
    problem = ledger_problem(_sheets(pools=[], lots=[], reclaims=[reclaim]))
    assert problem == "reclaims: row 2, column pool_id: the file holds no pool '120119:VOCs'"
    # Pending: no pool need exist yet (its confirmation makes it).
    pending = {**reclaim, "status": "pending"}
    assert ledger_problem(_sheets(pools=[], lots=[], reclaims=[pending])) is None
    problem = ledger_problem(_sheets(pools=[POOL], lots=[credited], reclaims=[]))
    assert problem == "lots: row 2, column reclaim_id: the file holds no reclaim 'r'"
    # An older export without the sheet: not checked.
    assert ledger_problem(_sheets(pools=[POOL], lots=[credited])) is None


def test_a_reclaim_confirmed_before_lots_is_in_its_pools_opening_lot() -> None:
    """A ledger older than lots (migration 0003) folded each pool's credits
    into one opening lot that names no reclaim: its own export was refused
    for a confirmed reclaim with no lot. Taken as far as the opening lot's
    tonnes reach; beyond them, or in a pool with no opening lot, refused."""
    reclaim = {"id": "r", "district": JIZHOU, "pollutant": "VOCs", "pool_id": POOL["id"]}
    reclaim |= {"amount_kg": 1000, "source": "manual", "status": "confirmed"}
    opening = {"id": 1, "pool_id": POOL["id"], "district": JIZHOU, "pollutant": "VOCs"}
    opening |= {"source": "opening", "original_kg": 1500}
    assert ledger_problem(_sheets(pools=[POOL], lots=[opening], reclaims=[reclaim])) is None
    second = {**reclaim, "id": "r2"}
    problem = ledger_problem(_sheets(pools=[POOL], lots=[opening], reclaims=[reclaim, second]))
    assert problem is not None and problem.startswith("reclaims: row 3, column status: confirmed")
    baseline = {**opening, "source": "baseline"}
    problem = ledger_problem(_sheets(pools=[POOL], lots=[baseline], reclaims=[reclaim]))
    assert problem is not None and problem.startswith("reclaims: row 2, column status: confirmed")


def test_a_lot_movement_names_a_reservation_of_the_file() -> None:
    lot = {"id": 1, "pool_id": POOL["id"], "district": JIZHOU, "pollutant": "VOCs"}
    move = {"id": 1, "lot_id": 1, "pool_id": POOL["id"], "code": "hold", "reservation_id": "x"}
    problem = ledger_problem(_sheets(pools=[POOL], lots=[lot], lot_movements=[move]))
    assert problem is None  # an older export without reservations: not checked
    sheets = _sheets(pools=[POOL], lots=[lot], lot_movements=[move], reservations=[])
    assert ledger_problem(sheets) == (
        "lot_movements: row 2, column reservation_id: the file holds no reservation 'x'"
    )


def test_a_row_names_only_its_own_pools_lot() -> None:
    """A movement, a debt or a hold's draws name a lot of their own pool (the
    ledger writes no other): one of another pool was taken, counted in one
    pool's lots while balancing another's."""
    other = {"id": "120115:VOCs", "district": "120115", "pollutant": "VOCs", "kind": "district"}
    theirs = {"id": 1, "pool_id": other["id"], "district": "120115", "pollutant": "VOCs"}
    theirs |= {"source": "advance", "original_kg": 10, "repaid_kg": 0}
    ours = {**theirs, "pool_id": POOL["id"], "district": JIZHOU}
    of_ours = {"pool_id": POOL["id"], "district": JIZHOU, "pollutant": "VOCs"}
    move = {"id": 1, "lot_id": 1, "code": "credit", "amount_kg": 10, "pool_id": POOL["id"]}
    debt = {"id": "d", "lot_id": 1, "status": "open", "amount_kg": 10, "repaid_kg": 0, **of_ours}
    debt |= {"withdrawn_kg": 0}
    held = {"id": "r", "status": "held", "lots": [[1, 10]], **of_ours}
    holding = {"id": "h", "lots": [[1, 10]], **of_ours}
    said = "批次 1 属于总量池 '120115:VOCs'，而非本行的总量池 '120119:VOCs'"
    for sheet, row, column in (
        ("lot_movements", move, "lot_id"),
        ("reservations", held, "lots"),
        ("holdings", holding, "lots"),
        ("debts", debt, "lot_id"),
    ):
        # The advance lot's debt, after the row (the file's first problem is named).
        sheets = {sheet: [row]} if sheet == "debts" else {sheet: [row], "debts": [debt]}
        assert ledger_problem(_sheets(pools=[POOL, other], lots=[ours], **sheets)) is None
        with i18n.use("zh"):
            problem = ledger_problem(_sheets(pools=[POOL, other], lots=[theirs], **sheets))
        assert problem == f"{sheet}：第 2 行 {column} 列：{said}", problem


@pytest.mark.parametrize("status", ["approved", "cancelled", "settled"])
def test_a_swap_names_only_its_source_pools_lots(status: str) -> None:
    """A swap's lots are those its approval held in the source district's
    pool, kept as they were once it is released or settled (the target's
    lots are new ones): one of the target's, or of another district's or
    pollutant's pool, was imported."""
    other = {"id": "120115:VOCs", "district": "120115", "pollutant": "VOCs", "kind": "district"}
    lot = {"id": 1, "pool_id": POOL["id"], "district": JIZHOU, "pollutant": "VOCs"}
    theirs = {"id": 2, "pool_id": other["id"], "district": "120115", "pollutant": "VOCs"}
    swap = {"id": "s", "from_district": JIZHOU, "to_district": "120115", "pollutant": "VOCs"}
    swap |= {"status": status, "from_approved_by": "b", "to_approved_by": "c", "lots": [[1, 10]]}
    # The times its path wrote (rules._swap_times).
    at = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    swap |= dict.fromkeys(("from_approved_at", "to_approved_at", "effective_at"), at)
    swap |= {"settled_at": at} if status == "settled" else {}
    sheets = {"pools": [POOL, other], "lots": [lot, theirs]}
    assert ledger_problem(_sheets(**sheets, swaps=[swap])) is None
    with i18n.use("zh"):
        problem = ledger_problem(_sheets(**sheets, swaps=[{**swap, "lots": [[1, 5], [2, 5]]}]))
    assert problem == (
        "swaps：第 2 行 lots 列：批次 2 属于总量池 '120115:VOCs'，"
        "而非本调剂调出区的总量池 '120119:VOCs'"
    ), problem
    # Its source district's pool of another pollutant.
    nox = {**swap, "pollutant": "NOx"}
    problem = ledger_problem(_sheets(**sheets, swaps=[nox]))
    assert problem == (
        "swaps: row 2, column lots: lot 1 is of pool '120119:VOCs', not of the pool of the "
        "swap's source district (from_district) '120119:NOx'"
    ), problem
