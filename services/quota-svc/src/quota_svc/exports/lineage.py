"""What an export's rows say of the tonnes' lineage agrees (pure): each
reservation, swap, trade and reclaim against the lot movements, lots and
journal entries the live path wrote with it, each lot's parent against the
movement that made it, what the holdings of one allocation or trade back on
permits, and the order of the times within a row. `lineage_problem` gives
the first disagreement, naming table, row and column, or None. Each rule is
one the ledger keeps on every path that writes (its function says which);
rows named in sheets the file lacks (an older export) are not checked."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from svc_common.i18n import msg

from quota_svc.exports.rules import CLOCK_SLACK, Rows, at_row
from quota_svc.ledger.rules import district_pool_id
from quota_svc.lots.rules import Move
from quota_svc.reclaims.rules import ReclaimStatus
from quota_svc.reservations.rules import ReservationStatus
from quota_svc.swaps.rules import SwapStatus
from quota_svc.trading.rules import TradeStatus, rights_kg

Row = Mapping[str, Any]
#: Kilograms per lot id.
PerLot = dict[Any, int]


def lineage_problem(sheets: Mapping[str, Rows]) -> str | None:
    for check in (
        _reservation_problem,
        _swap_problem,
        _trade_problem,
        _reclaim_problem,
        _parent_problem,
        _rights_problem,
        _time_order_problem,
    ):
        if found := check(sheets):
            return found
    return None


def _kg(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _per_lot(pairs: Iterable[tuple[Any, Any]]) -> PerLot:
    """Kilograms per lot (lots of 0 kg left out: the ledger writes no movement of 0)."""
    out: PerLot = {}
    for lot, kg in pairs:
        out[lot] = out.get(lot, 0) + _kg(kg)
    return {lot: kg for lot, kg in out.items() if kg}


def _drawn(row: Row) -> PerLot | None:
    """A row's `lots` per lot; None when it has none or they are no list of
    pairs (refused by the row's own check)."""
    drawn = row.get("lots")
    if not isinstance(drawn, list) or not all(isinstance(p, list) and len(p) == 2 for p in drawn):
        return None
    return _per_lot((lot, kg) for lot, kg in drawn)


def _moved(moves: Iterable[Row], *codes: Move) -> PerLot:
    wanted = {c.value for c in codes}
    return _per_lot((m.get("lot_id"), m.get("amount_kg")) for m in moves if m.get("code") in wanted)


def _first_difference(want: PerLot, got: PerLot) -> tuple[Any, int, int] | None:
    """(lot, kg wanted, kg found) of the first lot (by id) on which they differ."""
    for lot in sorted(want.keys() | got.keys(), key=str):
        if want.get(lot, 0) != got.get(lot, 0):
            return lot, want.get(lot, 0), got.get(lot, 0)
    return None


def _lot_differs(name: str, number: int, want: PerLot, got: PerLot, en: str, zh: str) -> str | None:
    """A row's lots (`want`) against what movements (`en`, `zh`) did with them."""
    if (found := _first_difference(want, got)) is None:
        return None
    lot, kg, moved = found
    return at_row(
        name,
        number,
        "lots",
        msg(
            f"lot {lot}: {kg} kg, but {en} {moved} kg of it",
            f"批次 {lot}：{kg} 千克，但{zh} {moved} 千克",
        ),
    )


def _by(rows: Rows, key: Callable[[Row], Any]) -> dict[Any, list[Row]]:
    out: dict[Any, list[Row]] = {}
    for _, row in rows:
        if (k := key(row)) is not None:
            out.setdefault(k, []).append(row)
    return out


def _ref_of(prefix: str) -> Callable[[Row], Any]:
    def key(row: Row) -> Any:
        ref = row.get("ref")
        return ref.removeprefix(prefix) if isinstance(ref, str) and ref.startswith(prefix) else None

    return key


def _entries(sheets: Mapping[str, Rows], prefix: str) -> dict[Any, list[Row]]:
    """Journal entries whose idempotency id is `prefix<id>:…`, by that id
    (the ids every entry of a swap, trade or reclaim is posted under)."""
    out: dict[Any, list[Row]] = {}
    for _, entry in sheets.get("journal", ()):
        key = entry.get("idempotency_id")
        if isinstance(key, str) and key.startswith(prefix):
            owner = key.removeprefix(prefix).split(":", 1)[0]
            out.setdefault(owner, []).append(entry)
    return out


def _entry_total(entries: Iterable[Row], *suffixes: str) -> int:
    return sum(
        _kg(e.get("amount_kg"))
        for e in entries
        if any(_text_suffix(e.get("idempotency_id"), s) for s in suffixes)
    )


def _text_suffix(key: Any, suffix: str) -> bool:
    """An idempotency id `kind:<id>:<suffix>` or `…:<suffix>:<more>`."""
    parts = str(key).split(":")
    return len(parts) >= 3 and parts[2] == suffix


def _disagrees(name: str, number: int, column: str, en: str, zh: str) -> str:
    return at_row(name, number, column, msg(en, zh))


# --- reservations ---------------------------------------------------------------


def _reservation_problem(sheets: Mapping[str, Rows]) -> str | None:
    """A reservation's lots are, lot by lot, what its hold movements
    (`reservation_id`, code hold) took: the hold writes one per lot drawn,
    in the same step (`reservations.service.reserve`; migration 0003 one
    for each live hold on the opening lot). Once resolved its allocate and
    release movements give back, lot by lot, the same lots (an allocation
    the oldest part, its remainder the rest; a release or expiry all),
    their totals its `allocated_kg` and `released_kg`; a held one has none.
    One resolved before migration 0003 has no lots and no movements. A
    hold moved to another lot in the file would release tonnes into a lot
    that never held them."""
    if "reservations" not in sheets:
        return None
    moves = _by(sheets.get("lot_movements", ()), lambda m: m.get("reservation_id"))
    name = "reservations"
    for number, r in sheets[name]:
        mine = moves.get(r.get("id"), [])
        held = _moved(mine, Move.HOLD)
        back = _moved(mine, Move.ALLOCATE, Move.RELEASE)
        drawn = _drawn(r)
        if drawn is None:
            if r.get("lots") is None and (held or back):
                lot = next(iter(held or back))
                return _disagrees(
                    name,
                    number,
                    "lots",
                    f"none, but its lot movements (lot_movements.reservation_id) moved "
                    f"{(held or back)[lot]} kg of lot {lot}",
                    f"为空，但其批次流水（lot_movements.reservation_id）动用了批次 {lot} "
                    f"{(held or back)[lot]} 千克",
                )
            continue
        if found := _lot_differs(
            name,
            number,
            drawn,
            held,
            "its hold movements (lot_movements.reservation_id, code hold) held",
            "其预占流水（lot_movements.reservation_id，代码 hold）占用该批次",
        ):
            return found
        if r.get("status") == ReservationStatus.HELD:
            if back:
                return _disagrees(
                    name,
                    number,
                    "status",
                    "held, but its lot movements allocated or released it",
                    "为预占中，但其批次流水已将其分配或释放",
                )
            continue
        if found := _lot_differs(
            name,
            number,
            drawn,
            back,
            "its allocate and release movements gave back",
            "其分配和释放流水交回该批次",
        ):
            return found
        for column, move in (("allocated_kg", Move.ALLOCATE), ("released_kg", Move.RELEASE)):
            got = sum(_moved(mine, move).values())
            if _kg(r.get(column)) != got:
                return _disagrees(
                    name,
                    number,
                    column,
                    f"{_kg(r.get(column))} kg, but its {move.value} movements moved {got} kg",
                    f"为 {_kg(r.get(column))} 千克，但其 {move.value} 流水合计 {got} 千克",
                )
    return None


# --- swaps ------------------------------------------------------------------------


def _swap_held(row: Row) -> bool:
    status = row.get("status")
    both = row.get("from_approved_by") is not None and row.get("to_approved_by") is not None
    return status in (SwapStatus.APPROVED, SwapStatus.SETTLED) or (
        status == SwapStatus.CANCELLED and both
    )


_SWAP_AFTER: Mapping[str, Move] = {
    SwapStatus.CANCELLED.value: Move.RELEASE,
    SwapStatus.SETTLED.value: Move.HELD_OUT,
}


def _swap_problem(sheets: Mapping[str, Rows]) -> str | None:
    """A swap's lots are what its second approval held (movements `swap:<id>`,
    code hold, one per lot, `swaps.service.approve`); a cancellation gives
    the same lots back (release), a settlement moves them out (held_out)
    into new lots of the target district's pool (source `swap`, ref
    `swap:<id>`), their `original_kg` its amount. Its journal entries
    (`swap:<id>:hold`, `:release`, `:out`, `:in`) are of its amount. A swap
    not yet held moved nothing."""
    if "swaps" not in sheets:
        return None
    moves = _by(sheets.get("lot_movements", ()), _ref_of("swap:"))
    made = _by(sheets.get("lots", ()), _ref_of("swap:"))
    entries = _entries(sheets, "swap:")
    name = "swaps"
    for number, sw in sheets[name]:
        sid = sw.get("id")
        mine = [m for m in moves.get(sid, []) if m.get("code") != Move.CREDIT]
        children = [lot for lot in made.get(sid, []) if lot.get("source") == "swap"]
        status, amount = sw.get("status"), _kg(sw.get("amount_kg"))
        if not _swap_held(sw):
            if mine or children or entries.get(sid):
                return _disagrees(
                    name,
                    number,
                    "status",
                    f"{status!r} and not held, but the file's lot movements, lots or journal "
                    f"name it (swap:{sid})",
                    f"为 {status!r} 且未占用，但文件中的批次流水、批次或台账分录"
                    f"记有该调剂（swap:{sid}）",
                )
            continue
        drawn = _drawn(sw) or {}
        if found := _lot_differs(
            name,
            number,
            drawn,
            _moved(mine, Move.HOLD),
            f"its hold movements (lot_movements.ref swap:{sid}) held",
            f"其占用流水（lot_movements.ref swap:{sid}）占用该批次",
        ):
            return found
        # What its held tonnes did next: nothing yet, back to their lots, or out.
        after: Move | None = _SWAP_AFTER.get(str(status))
        for move in (Move.RELEASE, Move.HELD_OUT):
            got = _moved(mine, move)
            if move == after:
                found = _lot_differs(
                    name,
                    number,
                    drawn,
                    got,
                    f"its {move.value} movements moved",
                    f"其 {move.value} 流水动用该批次",
                )
                if found:
                    return found
            elif got:
                return _disagrees(
                    name,
                    number,
                    "status",
                    f"{status!r}, but lot movements {move.value} it (lot {next(iter(got))})",
                    f"为 {status!r}，但有其 {move.value} 批次流水（批次 {next(iter(got))}）",
                )
        created = sum(_kg(lot.get("original_kg")) for lot in children)
        if created != (amount if status == SwapStatus.SETTLED else 0):
            return _disagrees(
                name,
                number,
                "amount_kg",
                f"{amount} kg, but the lots its settlement made (lots.ref swap:{sid}) "
                f"come to {created} kg",
                f"为 {amount} 千克，但其交割所建批次（lots.ref swap:{sid}）合计 {created} 千克",
            )
        target = district_pool_id(str(sw.get("to_district")), str(sw.get("pollutant")))
        for lot in children:
            if lot.get("pool_id") != target:
                return _disagrees(
                    name,
                    number,
                    "to_district",
                    f"its settlement's lot {lot.get('id')} is of pool {lot.get('pool_id')!r}, "
                    f"not of {target!r}",
                    f"其交割所建批次 {lot.get('id')} 属于总量池 {lot.get('pool_id')!r}，"
                    f"而非 {target!r}",
                )
        for suffix in ("hold", "release", "out", "in"):
            posted = [
                e for e in entries.get(sid, []) if _text_suffix(e.get("idempotency_id"), suffix)
            ]
            for e in posted:
                if _kg(e.get("amount_kg")) != amount:
                    return _disagrees(
                        name,
                        number,
                        "amount_kg",
                        f"{amount} kg, but its journal entry {e.get('idempotency_id')!r} "
                        f"posted {_kg(e.get('amount_kg'))} kg",
                        f"为 {amount} 千克，但其台账分录 {e.get('idempotency_id')!r} "
                        f"过账 {_kg(e.get('amount_kg'))} 千克",
                    )
    return None


# --- trades -----------------------------------------------------------------------


def _trade_problem(sheets: Mapping[str, Rows]) -> str | None:
    """What a settled trade moved is its amount (`trading.service.settle`):
    within a district, trade movements (ref `trade:<id>`) of the seller's
    lots; across districts, sold_out movements into new lots of the buyer's
    pool (source `trade`, ref `trade:<id>`) and journal entries out of the
    seller's pools (`trade:<id>:out…`) and into the buyer's (`…:in`), each
    side its amount. A trade not settled moved and posted nothing."""
    if "trades" not in sheets:
        return None
    moves = _by(sheets.get("lot_movements", ()), _ref_of("trade:"))
    made = _by(sheets.get("lots", ()), _ref_of("trade:"))
    entries = _entries(sheets, "trade:")
    name = "trades"
    for number, t in sheets[name]:
        tid, amount = t.get("id"), _kg(t.get("amount_kg"))
        mine = [m for m in moves.get(tid, []) if m.get("code") not in (Move.CREDIT, Move.HOLD)]
        mine = [m for m in mine if not (m.get("code") == Move.ALLOCATE and _is_child(m, made, tid))]
        posted = entries.get(tid, [])
        children = made.get(tid, [])
        if t.get("status") != TradeStatus.SETTLED:
            if mine or posted or children:
                return _disagrees(
                    name,
                    number,
                    "status",
                    f"{t.get('status')!r}, but the file's lot movements, lots or journal name "
                    f"it (trade:{tid})",
                    f"为 {t.get('status')!r}，但文件中的批次流水、批次或台账分录记有该交易"
                    f"（trade:{tid}）",
                )
            continue
        cross = t.get("district") != t.get("buyer_district")
        sides: list[tuple[str, str, int]] = [
            ("trade movements", "交易（trade）流水", sum(_moved(mine, Move.TRADE).values())),
            (
                "sold_out movements",
                "调出（sold_out）流水",
                sum(_moved(mine, Move.SOLD_OUT).values()),
            ),
            (
                f"lots bought (lots.ref trade:{tid})",
                f"买入批次（lots.ref trade:{tid}）",
                sum(_kg(lot.get("original_kg")) for lot in children),
            ),
            ("journal entries out", "调出台账分录", _entry_total(posted, "out")),
            ("journal entries in", "调入台账分录", _entry_total(posted, "in")),
        ]
        for i, (en, zh, got) in enumerate(sides):
            want = (0 if i == 0 else amount) if cross else (amount if i == 0 else 0)
            if got != want:
                return _disagrees(
                    name,
                    number,
                    "amount_kg",
                    f"{amount} kg settled {'across' if cross else 'within'} districts, but its "
                    f"{en} come to {got} kg",
                    f"{'跨区' if cross else '区内'}交割 {amount} 千克，但其{zh}合计 {got} 千克",
                )
    return None


def _is_child(move: Row, made: Mapping[Any, list[Row]], tid: Any) -> bool:
    """A movement of a lot the trade made (a bought lot arrives allocated)."""
    return any(lot.get("id") == move.get("lot_id") for lot in made.get(tid, []))


# --- reclaims ---------------------------------------------------------------------


def _reclaim_problem(sheets: Mapping[str, Rows]) -> str | None:
    """A confirmed candidate's credit made one lot naming it with no parent
    (`reclaims.service.confirm` → `credits.credit`; lots moved on from it
    name it too, with their parent) and one journal entry `reclaim:<id>`,
    both of its amount; a candidate not confirmed credited nothing. (One
    credited before lots has no lot: `rules._reclaimed_lot_problem`.)"""
    if "reclaims" not in sheets:
        return None
    roots = _by(
        sheets.get("lots", ()),
        lambda lot: lot.get("reclaim_id") if lot.get("parent_lot_id") is None else None,
    )
    entries = _entries(sheets, "reclaim:")
    name = "reclaims"
    for number, r in sheets[name]:
        rid, amount = r.get("id"), _kg(r.get("amount_kg"))
        lots, posted = roots.get(rid, []), entries.get(rid, [])
        if r.get("status") != ReclaimStatus.CONFIRMED:
            if lots or posted:
                return _disagrees(
                    name,
                    number,
                    "status",
                    f"{r.get('status')!r}, but the file credits it (a lot or journal entry "
                    f"naming reclaim {rid!r}): confirmed",
                    f"为 {r.get('status')!r}，但文件已将其入账（批次或台账分录记有收回候选 "
                    f"{rid!r}）：应为已确认",
                )
            continue
        credited = [("lots", _kg(lot.get("original_kg"))) for lot in lots]
        credited += [("journal", _kg(e.get("amount_kg"))) for e in posted]
        for sheet, kg in credited:
            if kg != amount:
                return _disagrees(
                    name,
                    number,
                    "amount_kg",
                    f"{amount} kg, but its credit in {sheet} is of {kg} kg",
                    f"为 {amount} 千克，但其在 {sheet} 中的入账为 {kg} 千克",
                )
        if len(lots) > 1:
            return _disagrees(
                name,
                number,
                "id",
                f"credited once, but {len(lots)} lots without a parent name it",
                f"只入账一次，但有 {len(lots)} 个无上级批次的批次记有它",
            )
    return None


# --- lots' parents ----------------------------------------------------------------

#: Movements that move a lot's tonnes into a new lot (`lots.service.move_to_pool`).
_INTO_CHILD = frozenset({Move.OUT, Move.HELD_OUT, Move.SOLD_OUT})


def _parent_problem(sheets: Mapping[str, Rows]) -> str | None:
    """A lot with a parent was made by moving that many kilograms out of it
    (`lots.service.move_to_pool`: the parent's out, held_out or sold_out
    movement names the child as its counter lot; the child's own credit,
    hold and allocate name the parent). A repayment names the advance lot
    it repaid; no other movement names a counter lot. A lot whose parent
    was edited would say its tonnes came from a lot that never gave them."""
    lots = {lot.get("id"): (number, lot) for number, lot in sheets.get("lots", ())}
    gave: dict[Any, int] = {}
    for number, m in sheets.get("lot_movements", ()):
        counter, code, lot_id = m.get("counter_lot_id"), m.get("code"), m.get("lot_id")
        if counter is None or counter not in lots or lot_id not in lots:
            continue  # none, or one the file lacks (named as such)
        child = lots[counter][1]
        if code in _INTO_CHILD:
            ok = child.get("parent_lot_id") == lot_id
            gave[counter] = gave.get(counter, 0) + _kg(m.get("amount_kg"))
            why = (
                f"lot {counter} is no child of lot {lot_id} (its parent_lot_id is "
                f"{child.get('parent_lot_id')})",
                f"批次 {counter} 不是批次 {lot_id} 的下级批次（其 parent_lot_id 为 "
                f"{child.get('parent_lot_id')}）",
            )
        elif code == Move.REPAY:
            ok = child.get("source") == "advance"
            why = (f"lot {counter} is no advance lot", f"批次 {counter} 不是先用后补批次")
        else:
            ok = lots[lot_id][1].get("parent_lot_id") == counter
            why = (
                f"a {code} movement names only its own lot's parent as its counter lot",
                f"{code} 流水的对方批次只能是本批次的上级批次",
            )
        if not ok:
            return _disagrees("lot_movements", number, "counter_lot_id", *why)
    for lot_id, (number, lot) in lots.items():
        if lot.get("parent_lot_id") is None:
            continue
        if (got := gave.get(lot_id, 0)) != _kg(lot.get("original_kg")):
            return _disagrees(
                "lots",
                number,
                "parent_lot_id",
                f"lot {lot.get('parent_lot_id')} gave this lot {got} kg (lot_movements naming it "
                f"as counter_lot_id), its original_kg is {_kg(lot.get('original_kg'))} kg",
                f"批次 {lot.get('parent_lot_id')} 移入本批次 {got} 千克（以其为 counter_lot_id "
                f"的批次流水），而 original_kg 为 {_kg(lot.get('original_kg'))} 千克",
            )
    return None


# --- rights -----------------------------------------------------------------------


def _rights_problem(sheets: Mapping[str, Rows]) -> str | None:
    """The rights (`rights_kg`) the holdings of one allocation, or bought in
    one trade, back: an allocation's holding backs its quota ÷ the ratio,
    at most the project's increment (`reservations.service.holding_row`);
    a trade's holdings share the buyer's rights (`trades.buyer_rights_kg`,
    `trading.rules.rights_shares`). A retirement in part splits a holding's
    quota and rights, which keeps their totals; only a sale lowers them,
    and by a rounded share: so the rights are checked while the holdings
    still hold all the quota (their `amount_kg` adding up to what was
    allocated or bought). A raised `rights_kg` would back more emission on
    a permit than the quota was allocated for."""
    holdings = sheets.get("holdings", ())
    #: (what gave them, its holdings, its row, the quota it gave, the rights it gave)
    groups: list[tuple[str, Sequence[tuple[int, Row]], Row, int, int]] = []
    if "reservations" in sheets:
        by_res = _numbered_by(holdings, "reservation_id")
        for _, r in sheets["reservations"]:
            ratio = _kg(r.get("offset_ratio_hundredths"))
            if r.get("status") != ReservationStatus.ALLOCATED or ratio <= 0:
                continue
            allocated = _kg(r.get("allocated_kg"))
            want = rights_kg(allocated, ratio, _kg(r.get("increment_kg")))
            groups.append(("reservation", by_res.get(r.get("id"), []), r, allocated, want))
    if "trades" in sheets:
        by_trade = _numbered_by(holdings, "trade_id")
        for _, t in sheets["trades"]:
            if t.get("status") != TradeStatus.SETTLED or t.get("buyer_rights_kg") is None:
                continue
            bought = by_trade.get(t.get("id"), [])
            groups.append(
                ("trade", bought, t, _kg(t.get("amount_kg")), _kg(t.get("buyer_rights_kg")))
            )
    for kind, held, owner, quota, gave in groups:
        if not held or sum(_kg(h.get("amount_kg")) for _, h in held) != quota:
            continue  # sold from since (or missing: named by other checks)
        got = sum(_kg(h.get("rights_kg")) for _, h in held)
        if got != gave:
            number = held[-1][0]
            return _disagrees(
                "holdings",
                number,
                "rights_kg",
                f"the holdings of {kind} {owner.get('id')!r}, none sold from, back {got} kg "
                f"of rights, but it gave {gave} kg",
                f"{'预占' if kind == 'reservation' else '交易'} {owner.get('id')!r} 的持有量"
                f"（均未转让）合计排污权 {got} 千克，但其给出 {gave} 千克",
            )
    return None


def _numbered_by(rows: Rows, column: str) -> dict[Any, list[tuple[int, Row]]]:
    out: dict[Any, list[tuple[int, Row]]] = {}
    for number, row in rows:
        if (key := row.get(column)) is not None:
            out.setdefault(key, []).append((number, row))
    return out


# --- time order within a row ----------------------------------------------------

#: (table, earlier column, later column): what a row's own path writes in
#: that order (the later in the same step from the same clock, or a later
#: step that requires the earlier: a hold is resolved after it was made, a
#: swap approved after it was proposed, settled after both approvals: only
#: an approved swap settles; cancelled after each approval it has: a
#: cancelled swap is approved no more, so an approval after its
#: cancellation never happened). Not its `effective_at` before its
#: `settled_at`: a settlement run for a later moment (`swaps.service.
#: settle_due(now=…)`) settles it before then by the clock. A setting's
#: start is checked by `rules.start_problem`.
TIME_ORDER: tuple[tuple[str, str, str], ...] = (
    ("reservations", "created_at", "expires_at"),
    ("reservations", "created_at", "resolved_at"),
    ("swaps", "proposed_at", "from_approved_at"),
    ("swaps", "proposed_at", "to_approved_at"),
    ("swaps", "proposed_at", "cancelled_at"),
    ("swaps", "from_approved_at", "cancelled_at"),
    ("swaps", "to_approved_at", "cancelled_at"),
    ("swaps", "proposed_at", "settled_at"),
    ("swaps", "from_approved_at", "settled_at"),
    ("swaps", "to_approved_at", "settled_at"),
    ("trades", "proposed_at", "decided_at"),
    ("reclaims", "created_at", "decided_at"),
    ("adjustments", "proposed_at", "decided_at"),
    ("debts", "created_at", "repaid_at"),
    ("debts", "created_at", "due_at"),
    ("holdings", "acquired_at", "retired_at"),
)


def _time_order_problem(sheets: Mapping[str, Rows]) -> str | None:
    """A row whose later time is earlier than its earlier one by more than
    `CLOCK_SLACK` (the clocks of two replicas may differ a little): a hold
    released before it was made, a trade decided before it was proposed."""
    for name, before, after in TIME_ORDER:
        for number, row in sheets.get(name, ()):
            first, then = row.get(before), row.get(after)
            if not isinstance(first, dt.datetime) or not isinstance(then, dt.datetime):
                continue
            if then < first - CLOCK_SLACK:
                return _disagrees(
                    name,
                    number,
                    after,
                    f"{then.isoformat()} is earlier than {before} ({first.isoformat()})",
                    f"{then.isoformat()} 早于 {before}（{first.isoformat()}）",
                )
    return None
