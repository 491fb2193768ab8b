"""An export whose rows disagree with the lineage the ledger wrote beside
them is refused (409, naming the table, the row as the file numbers it and
the column, zh-CN and English) and writes nothing — on SQLite and
PostgreSQL. Before, each edited file below imported: a resolved
reservation's or a settled swap's lots moved to another lot of the pool
(its movements still name the first), a settled swap whose new lots were
no longer its own, a trade's or a confirmed reclaim's amount changed
alone, a lot's parent changed, a holding backing more rights than its
allocation or trade gave, a trade decided before it was proposed, a
swap settled or cancelled before it was approved, or settled without
its approvals. A
ledger with all of these in it (allocations with a remainder, sales within
and across districts, retirements in part, transfers, swaps in every
state, reclaims confirmed) still imports, in both formats."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
from collections.abc import Callable

import pytest
from quota_svc.exports.lineage import lineage_problem
from svc_common import i18n

from .conftest import ADMIN, AUDITOR, BAODI, INVESTMENT, JIZHOU, Quota
from .test_export_backing import export, fresh
from .test_import_cross_sections import BUYER as XS_BUYER
from .test_import_cross_sections import _sheets, sold_and_retired_in_part
from .test_import_tampered import Rows, edited, swaps_and_trades

Edit = Callable[[Rows], Rows]


async def _lineage_ledger(q: Quota) -> None:
    await sold_and_retired_in_part(q)
    await swaps_and_trades(q)


def _row(
    test: Callable[[dict[str, str]], bool], edit: Callable[[dict[str, str]], dict[str, str]]
) -> Edit:
    """The first row passing `test` with the cells `edit` returns."""

    def apply(rows: Rows) -> Rows:
        for i, row in enumerate(rows):
            if test(row):
                return [*rows[:i], {**row, **edit(row)}, *rows[i + 1 :]]
        raise AssertionError("no such row")

    return apply


def _moved_lot(others: Callable[[], list[int]]) -> Callable[[dict[str, str]], dict[str, str]]:
    """The row's first lot's kilograms moved to another lot of its pool."""

    def edit(row: dict[str, str]) -> dict[str, str]:
        lots = json.loads(row["lots"])
        lots[0][0] = next(i for i in others() if i not in {lot for lot, _ in lots})
        return {"lots": json.dumps(lots)}

    return edit


def _earlier(column: str, days: int) -> Callable[[dict[str, str]], dict[str, str]]:
    def edit(row: dict[str, str]) -> dict[str, str]:
        at = dt.datetime.fromisoformat(row[column]) - dt.timedelta(days=days)
        return {column: at.isoformat()}

    return edit


def _less(column: str, kg: int) -> Callable[[dict[str, str]], dict[str, str]]:
    return lambda row: {column: str(int(row[column]) - kg)}


async def _pool_lots(q: Quota, district: str) -> list[int]:
    r = await q.client.get(f"/quota/lots?district={district}&pollutant=VOCs", headers=AUDITOR)
    assert r.status_code == 200, r.text
    return [lot["id"] for lot in r.json()["items"] if lot["pool_id"] == f"{district}:VOCs"]


async def test_a_ledger_of_every_lineage_restores(
    quota: Quota, db_url: str, tmp_path: pathlib.Path
) -> None:
    await _lineage_ledger(quota)
    for fmt in ("csv", "xlsx"):
        content = await export(quota, fmt)
        async with fresh(db_url, tmp_path) as copy:
            r = await copy.client.post(
                f"/quota/import?format={fmt}", content=content, headers=ADMIN
            )
            assert r.status_code == 200, r.text
            rec = await copy.client.get("/quota/reconciliation", headers=AUDITOR)
            assert rec.json()["ok"], rec.text


async def test_an_export_whose_lineage_disagrees_is_refused(
    quota: Quota, db_url: str, tmp_path: pathlib.Path
) -> None:
    await _lineage_ledger(quota)
    content = await export(quota, "csv")
    jizhou, baodi = await _pool_lots(quota, JIZHOU), await _pool_lots(quota, BAODI)
    assert len(jizhou) >= 2 and len(baodi) >= 2
    cases: list[tuple[str, str, Edit, str, str, str]] = [
        # (what, sheet edited, edit, sheet named, column named, why in Chinese)
        (
            "1. an allocated reservation's lots moved to another lot of its pool",
            "reservations",
            _row(lambda r: r["project_ref"] == "XS-1", _moved_lot(lambda: jizhou)),
            "reservations",
            "lots",
            "但其预占流水（lot_movements.reservation_id，代码 hold）占用该批次",
        ),
        (
            "1. a released reservation's released_kg lowered",
            "reservations",
            _row(lambda r: r["project_ref"] == "XS-2", _less("released_kg", 1)),
            "reservations",
            "released_kg",
            "但其 release 流水合计",
        ),
        (
            "2. a settled swap's lots moved to another lot of its source pool",
            "swaps",
            _row(lambda r: r["status"] == "settled", _moved_lot(lambda: baodi)),
            "swaps",
            "lots",
            "但其占用流水（lot_movements.ref swap:",
        ),
        (
            "2. a settled swap's new lot no longer its own",
            "lots",
            _row(lambda r: r["source"] == "swap", lambda r: {"ref": ""}),
            "swaps",
            "amount_kg",
            "但其交割所建批次",
        ),
        (
            "3. a trade across districts settled for less",
            "trades",
            _row(lambda r: r["district"] != r["buyer_district"], _less("amount_kg", 100)),
            "trades",
            "amount_kg",
            "跨区交割",
        ),
        (
            "3. a trade within a district settled for less",
            "trades",
            _row(lambda r: r["buyer_uscc"] == XS_BUYER, _less("amount_kg", 100)),
            "trades",
            "amount_kg",
            "区内交割",
        ),
        (
            "4. a confirmed reclaim's amount lowered",
            "reclaims",
            _row(lambda r: r["status"] == "confirmed", _less("amount_kg", 1)),
            "reclaims",
            "amount_kg",
            "但其在 lots 中的入账为",
        ),
        (
            "5. a moved lot's parent changed to another lot of the pool",
            "lots",
            _row(
                lambda r: r["source"] == "transfer",
                lambda r: {
                    "parent_lot_id": str(next(i for i in jizhou if str(i) != r["parent_lot_id"]))
                },
            ),
            # The child's own credit movement still names its first parent.
            "lot_movements",
            "counter_lot_id",
            "credit 流水的对方批次只能是本批次的上级批次",
        ),
        (
            "6. an allocation's holding backing one kg more of rights",
            "holdings",
            _row(
                lambda r: (
                    r["source"] == "allocation"
                    and r["amount_kg"] == r["original_kg"]
                    and not r["reclaim_id"]
                ),
                _less("rights_kg", -1),
            ),
            "holdings",
            "rights_kg",
            "均未转让",
        ),
        (
            "6. a trade's holding backing one kg more of rights",
            "holdings",
            _row(lambda r: r["uscc"] == XS_BUYER, _less("rights_kg", -1)),
            "holdings",
            "rights_kg",
            "均未转让",
        ),
        (
            "7. a trade decided two days before it was proposed",
            "trades",
            _row(lambda r: r["status"] == "settled", _earlier("decided_at", 2)),
            "trades",
            "decided_at",
            "早于 proposed_at",
        ),
        (
            "7. a swap settled two days before it was approved (after it was proposed)",
            "swaps",
            _row(
                lambda r: r["status"] == "settled",
                lambda r: {**_earlier("proposed_at", 3)(r), **_earlier("settled_at", 2)(r)},
            ),
            "swaps",
            "settled_at",
            "早于 from_approved_at",
        ),
        (
            "7. a swap cancelled two days before its approvals (after it was proposed)",
            "swaps",
            _row(
                lambda r: r["status"] == "cancelled",
                lambda r: {**_earlier("proposed_at", 3)(r), **_earlier("cancelled_at", 2)(r)},
            ),
            "swaps",
            "cancelled_at",
            "早于 from_approved_at",
        ),
        (
            "7. a settled swap whose approvals were erased (so none is after it)",
            "swaps",
            _row(
                lambda r: r["status"] == "settled",
                lambda r: {"from_approved_at": "", "to_approved_at": ""},
            ),
            "swaps",
            "from_approved_at",
            "为空，但该调剂状态为 'settled'：调剂到此状态时已记录该时间",
        ),
        (
            "7. a settled swap without when it settled",
            "swaps",
            _row(lambda r: r["status"] == "settled", lambda r: {"settled_at": ""}),
            "swaps",
            "settled_at",
            "为空，但该调剂状态为 'settled'：调剂到此状态时已记录该时间",
        ),
        (
            "7. a reservation released a day before it was made",
            "reservations",
            _row(lambda r: r["project_ref"] == "XS-2", _earlier("resolved_at", 1)),
            "reservations",
            "resolved_at",
            "早于 created_at",
        ),
    ]
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


# --- the rules, without a database ---------------------------------------------

_T = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("moves", "found"),
    [
        ([("hold", 1, 300), ("hold", 2, 200), ("allocate", 1, 300), ("release", 2, 200)], None),
        ([("hold", 1, 500), ("allocate", 1, 300), ("release", 1, 200)], "lot 1: 300 kg, but"),
        ([("hold", 1, 300), ("hold", 2, 200), ("allocate", 1, 300)], "gave back 0 kg"),
        (
            [
                ("hold", 1, 300),
                ("hold", 2, 200),
                ("allocate", 1, 200),
                ("release", 1, 100),
                ("release", 2, 200),
            ],
            "column allocated_kg",
        ),
    ],
)
def test_a_reservations_lots_are_its_movements_lot_by_lot(
    moves: list[tuple[str, int, int]], found: str | None
) -> None:
    r = {"id": "r", "status": "allocated", "held_kg": 500, "allocated_kg": 300}
    r |= {"released_kg": 200, "lots": [[1, 300], [2, 200]]}
    rows = [
        {"lot_id": lot, "code": code, "amount_kg": kg, "reservation_id": "r"}
        for code, lot, kg in moves
    ]
    problem = lineage_problem(_sheets(reservations=[r], lot_movements=rows))
    if found is None:
        assert problem is None, problem
    else:
        assert problem is not None and problem.startswith("reservations: row 2, "), problem
        assert found in problem, problem


def test_times_within_a_row_keep_their_order_within_the_clock_slack() -> None:
    trade = {"id": "t", "status": "refused", "proposed_at": _T}
    for later, refused in ((dt.timedelta(0), False), (-dt.timedelta(minutes=30), False)):
        problem = lineage_problem(_sheets(trades=[{**trade, "decided_at": _T + later}]))
        assert (problem is not None) == refused, problem
    with i18n.use("zh"):
        problem = lineage_problem(
            _sheets(trades=[{**trade, "decided_at": _T - dt.timedelta(hours=2)}])
        )
    assert problem == (
        "trades：第 2 行 decided_at 列：2026-02-28T22:00:00+00:00 早于 proposed_at"
        "（2026-03-01T00:00:00+00:00）"
    )


def test_a_swap_settles_after_both_approvals_within_the_clock_slack() -> None:
    """Only an approved swap settles; its effective time may be later (a
    settlement run for a later moment settles it early by the clock)."""
    swap = {
        "id": "s",
        "status": "settled",
        "proposed_at": _T - dt.timedelta(days=3),
        "from_approved_at": _T - dt.timedelta(days=1),
        "to_approved_at": _T,
        "effective_at": _T + dt.timedelta(days=7),
    }
    for settled, refused in (
        (_T, False),
        (_T - dt.timedelta(minutes=30), False),
        (_T - dt.timedelta(hours=2), True),
    ):
        problem = lineage_problem(_sheets(swaps=[{**swap, "settled_at": settled}]))
        assert (problem is not None) == refused, problem
    with i18n.use("zh"):
        problem = lineage_problem(
            _sheets(swaps=[{**swap, "settled_at": _T - dt.timedelta(days=2)}])
        )
    assert problem == (
        "swaps：第 2 行 settled_at 列：2026-02-27T00:00:00+00:00 早于 from_approved_at"
        "（2026-02-28T00:00:00+00:00）"
    )


def test_a_swap_is_cancelled_after_each_approval_it_has_within_the_clock_slack() -> None:
    """A cancelled swap is approved no more: one cancelled before an
    approval it records is refused as one settled before them is; one
    cancelled before any approval (none recorded) is not."""
    swap = {
        "id": "s",
        "status": "cancelled",
        "proposed_at": _T - dt.timedelta(days=3),
        "from_approved_at": _T - dt.timedelta(days=1),
        "to_approved_at": _T,
    }
    for cancelled, refused in (
        (_T, False),
        (_T - dt.timedelta(minutes=30), False),
        (_T - dt.timedelta(hours=2), True),
    ):
        problem = lineage_problem(_sheets(swaps=[{**swap, "cancelled_at": cancelled}]))
        assert (problem is not None) == refused, problem
    one_side = {**swap, "to_approved_at": None, "cancelled_at": _T - dt.timedelta(days=2)}
    with i18n.use("zh"):
        problem = lineage_problem(_sheets(swaps=[one_side]))
    assert problem == (
        "swaps：第 2 行 cancelled_at 列：2026-02-27T00:00:00+00:00 早于 from_approved_at"
        "（2026-02-28T00:00:00+00:00）"
    )
    unapproved = {**one_side, "from_approved_at": None}
    assert lineage_problem(_sheets(swaps=[unapproved])) is None
