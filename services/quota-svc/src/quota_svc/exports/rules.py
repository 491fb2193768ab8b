"""How rows are written to and read back from an export (pure): every value
as text, so CSV and XLSX carry the same thing and nothing is lost (whole
kilograms, ISO 8601 UTC times, JSON for lists); and which rows read back
are ones a ledger of this system could hold (`ledger_problem`)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Integer, Table
from svc_common.guard import lone_surrogate_at, surrogate_problem
from svc_common.i18n import msg
from svc_common.types import MAX_RATIO, MAX_TONNES, UTCDateTime, tonnes_to_kg

from quota_svc.adjustments.rules import AdjustmentStatus
from quota_svc.airquality.rules import AirQuality
from quota_svc.debts.rules import MAX_TERM_DAYS, DebtStatus, outstanding
from quota_svc.ledger.rules import (
    EntryCode,
    PoolKind,
    district_pool_id,
    district_problem,
    park_pool_id,
    pollutant_problem,
    ratio_to_hundredths,
    reserve_pool_id,
)
from quota_svc.lots.rules import Move
from quota_svc.policy.rules import MAX_HOLD_DAYS, start_problem
from quota_svc.reclaims.rules import ReclaimReason, ReclaimSource, ReclaimStatus, reason_of_note
from quota_svc.reservations.rules import LIVE as _LIVE
from quota_svc.reservations.rules import ReservationStatus
from quota_svc.swaps.rules import SwapStatus
from quota_svc.trading.rules import TradeStatus


def to_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


#: What a BIGINT column holds (PostgreSQL's and SQLite's 64-bit integers).
_INT_RANGE = range(-(2**63), 2**63)
#: A whole number as `to_text` writes one.
_WHOLE = re.compile(r"-?[0-9]+")
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


class CellRefused(ValueError):
    """A cell no row of its column could hold, and why (with what it holds);
    the import names the table, the row and the column (`at_row`)."""


def _unreadable(text: str, en: str, zh: str) -> CellRefused:
    return CellRefused(msg(f"{en}: {text!r}", f"{zh}：{text!r}"))


def from_text(table: Table, column: str, text: str | None) -> Any:
    col = table.c[column]
    t = col.type
    if text is None or text == "":
        if col.nullable:
            return None
        if isinstance(t, UTCDateTime):
            raise _unreadable("", "a time is required", "缺少时间")
        # The export writes every number and yes/no it holds: an empty cell
        # was one cleared (read as 0 kg, or a yes/no no table could take).
        if isinstance(t, (BigInteger, Integer)) or _is_int(t):
            raise _unreadable("", "a whole number is required", "缺少整数")
        if isinstance(t, Boolean):
            raise _unreadable("", "true or false is required", "缺少 true 或 false")
        return _empty(t)
    if isinstance(t, UTCDateTime):
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            raise _unreadable(text, "not an ISO 8601 time", "不是 ISO 8601 时间") from None
        if parsed.tzinfo is None:
            raise _unreadable(text, "time without a UTC offset", "时间缺少时区偏移")
        return parsed
    if isinstance(t, Boolean):
        # As the export writes it (a spreadsheet may capitalise it); any
        # other text read as false turned a setting off.
        if (flag := _BOOLEANS.get(text.lower())) is None:
            raise _unreadable(text, "not true or false", "不是 true 或 false")
        return flag
    if isinstance(t, (BigInteger, Integer)) or _is_int(t):
        # ASCII digits only: int() also reads "１２", "١٢", "+12", " 12"
        # and "1_2", none of which an export writes (and refuses 4,300 digits
        # with an error of its own).
        number = int(text) if len(text) <= 20 and _WHOLE.fullmatch(text) else None
        if number is None or number not in _INT_RANGE:
            raise _unreadable(text, "not a whole number", "不是整数")
        return number
    if isinstance(t, JSON) or _is_json(t):
        try:
            value = json.loads(text)
        except ValueError:
            raise _unreadable(text, "not JSON", "不是 JSON") from None
        if lone_surrogate_at(value) is not None:  # `"\ud800"`: no answer could hold it
            raise CellRefused(surrogate_problem())
        return value
    return text


def _empty(t: Any) -> Any:
    return ""


def _is_int(t: Any) -> bool:
    impl = getattr(t, "impl", None)
    variants = getattr(t, "_variant_mapping", {})
    return (
        isinstance(impl, (BigInteger, Integer))
        or any(isinstance(v, (BigInteger, Integer)) for v in variants.values())
        or type(t).__name__ in ("BigInteger", "Integer")
    )


def _is_json(t: Any) -> bool:
    variants = getattr(t, "_variant_mapping", {})
    return isinstance(t, JSON) or any(isinstance(v, JSON) for v in variants.values())


#: A table's rows as read: (row number in the file, column → value).
Rows = Sequence[tuple[int, Mapping[str, Any]]]
#: What a row breaks: (column, why).
Problems = Iterator[tuple[str, str]]


def ledger_problem(
    sheets: Mapping[str, Rows], keys: Mapping[str, Sequence[tuple[str, ...]]] | None = None
) -> str | None:
    """Why the rows of an export (sheet name → rows) are none a ledger of
    this system could hold — the first row, in file order, with a value
    outside the ledger's domain (a district, pollutant, pool kind, entry or
    movement code it does not know, a pool id it would not build, a
    permit's ceiling above its amount or below 0) or naming
    a pool or lot the file does not hold — or None. Balances are left to the
    reconciliation checks."""
    pools = {
        row.get("id"): (row.get("district"), row.get("pollutant"))
        for _, row in sheets.get("pools", ())
    }
    lots = {row.get("id"): row.get("pool_id") for _, row in sheets.get("lots", ())}
    # A file without the sheet (an older export) names reservations it
    # does not carry: those links are not checked.
    reservations = (
        {row.get("id") for _, row in sheets["reservations"]} if "reservations" in sheets else None
    )
    trades = {row.get("id") for _, row in sheets["trades"]} if "trades" in sheets else None
    reclaims = {row.get("id") for _, row in sheets["reclaims"]} if "reclaims" in sheets else None
    backing = (
        {(row.get("permit_id"), row.get("pollutant")): row for _, row in sheets["permit_backing"]}
        if "permit_backing" in sheets
        else None
    )
    checks: dict[str, Callable[[Mapping[str, Any]], Problems]] = {
        "pools": lambda row: _pool(row),
        "district_settings": lambda row: _setting(row),
        "air_quality": lambda row: _air_quality(row),
        "air_quality_ratios": lambda row: _aq_ratio(row),
        "advance_limits": lambda row: _advance_limit(row),
        "lots": lambda row: _lot(row, pools, lots, reclaims),
        "lot_movements": lambda row: _movement(row, pools, lots, reservations),
        "journal": lambda row: _entry(row, pools, reclaims),
        "reservations": lambda row: _reservation(row, pools, lots),
        "swaps": lambda row: _swap(row, pools, lots),
        "trades": lambda row: _trade(row, pools),
        "holdings": lambda row: _holding(row, pools, lots, trades, reservations, reclaims),
        "debts": lambda row: _debt(row, pools, lots, reservations),
        "reclaims": lambda row: _reclaim(row, pools, backing),
        "adjustments": lambda row: _adjustment(row, pools),
        "permit_backing": lambda row: _backing(row),
    }
    for name, rows in sheets.items():
        if found := _first_repeat(name, rows, (keys or {}).get(name, ())):
            return found
        for number, row in rows:
            for column, why in checks[name](row):
                return at_row(name, number, column, why)
    for check in (
        _freed_problem,
        _advance_problem,
        _trade_effect_problem,
        _bought_problem,
        _allocated_lots_problem,
        _reclaimed_lot_problem,
        _adjusted_problem,
    ):
        if found := check(sheets):
            return found
    return None


#: The times a ledger may hold after now: a hold's expiry, a holding's
#: validity, a swap's settlement, a debt's due date, a scheduled setting.
#: Every other time is of something done (made, recorded, decided, posted).
MAY_BE_LATER: Mapping[str, frozenset[str]] = {
    "district_settings": frozenset({"effective_from"}),
    "air_quality": frozenset({"effective_from"}),
    "reservations": frozenset({"expires_at"}),
    "swaps": frozenset({"effective_at"}),
    "holdings": frozenset({"valid_until"}),
    "debts": frozenset({"due_at"}),
}
#: How far ahead of the importing server's clock a file's times may be: the
#: exporting server's clock may have run a little ahead of it.
CLOCK_SLACK = dt.timedelta(hours=1)


def future_problem(sheets: Mapping[str, Rows], now: dt.datetime) -> str | None:
    """The first time of something done that is later than `now` (and
    `CLOCK_SLACK`), or None. The live path takes no such time (a baseline
    effective later than now is refused); a pool whose last entry was
    effective in, say, 2099 would date every later entry 2099, and its
    balance at any earlier moment would leave them out."""
    for name, rows in sheets.items():
        later = MAY_BE_LATER.get(name, frozenset())
        for number, row in rows:
            for column, value in row.items():
                if column in later or not isinstance(value, dt.datetime):
                    continue
                if value > now + CLOCK_SLACK:
                    shown, at = value.isoformat(), now.isoformat(timespec="seconds")
                    return at_row(
                        name,
                        number,
                        column,
                        msg(
                            f"{shown} is later than now ({at}): a ledger records what was done",
                            f"{shown} 晚于当前时间（{at}）：台账只记录已发生的事",
                        ),
                    )
    return None


def at_row(name: str, number: int, column: str, why: str) -> str:
    """A refusal naming the table, the row (as the file numbers it) and the column."""
    return msg(
        f"{name}: row {number}, column {column}: {why}",
        f"{name}：第 {number} 行 {column} 列：{why}",
    )


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _place(row: Mapping[str, Any]) -> Problems:
    """A row's district and pollutant: ones the ledger knows."""
    if problem := district_problem(_text(row.get("district"))):
        yield "district", problem
    if problem := pollutant_problem(_text(row.get("pollutant"))):
        yield "pollutant", problem


def _member(kind: type[StrEnum], value: Any, en: str, zh: str) -> str | None:
    if value in {m.value for m in kind}:
        return None
    shown = _text(value)[:30]
    listed = ", ".join(m.value for m in kind)
    return msg(
        f"{shown!r} is not {en} (one of {listed})", f"{shown!r} 不是{zh}（应为 {listed} 之一）"
    )


def _pool(row: Mapping[str, Any]) -> Problems:
    yield from _place(row)
    kind, park_id = row.get("kind"), row.get("park_id")
    if problem := _member(PoolKind, kind, "a pool kind", "总量池类型"):
        yield "kind", problem
        return
    district, pollutant = _text(row.get("district")), _text(row.get("pollutant"))
    if kind == PoolKind.PARK:
        if not park_id:
            yield "park_id", msg("a park pool needs a park id", "园区子池须有园区编号")
            return
        try:
            want = park_pool_id(district, pollutant, _text(park_id))
        except ValueError as exc:
            yield "park_id", str(exc)
            return
    elif park_id:
        yield "park_id", msg("only a park pool has a park id", "只有园区子池有园区编号")
        return
    elif kind == PoolKind.RESERVE:
        want = reserve_pool_id(district, pollutant)
    else:
        want = district_pool_id(district, pollutant)
    if row.get("id") != want:
        yield (
            "id",
            msg(
                f"should be {want!r} (the pool's district, pollutant and kind)",
                f"应为 {want!r}（由总量池的区、污染物和类型而来）",
            ),
        )


#: The file's pools: id → (district, pollutant).
Pools = Mapping[Any, tuple[Any, Any]]
#: The file's lots: id → the pool it is of.
Lots = Mapping[Any, Any]


def _pool_ref(
    row: Mapping[str, Any], pools: Pools, column: str = "pool_id", pool_id: Any = None
) -> Problems:
    """The pool `column` names (or, for a row naming its pools by district,
    `pool_id`, the one built from `column`): one the file holds."""
    if pool_id is None:
        pool_id = row.get(column)
    if pool_id not in pools:
        yield column, msg(f"the file holds no pool {pool_id!r}", f"文件中没有总量池 {pool_id!r}")


def _district_pool_ref(row: Mapping[str, Any], pools: Pools, column: str) -> Problems:
    """The district pool of the row's `column` district and its pollutant
    (one a known district and pollutant build; others are named as such)."""
    district, pollutant = _text(row.get(column)), _text(row.get("pollutant"))
    if district_problem(district) is None and pollutant_problem(pollutant) is None:
        yield from _pool_ref(row, pools, column, district_pool_id(district, pollutant))


def _in_pool(row: Mapping[str, Any], pools: Pools) -> Problems:
    """A row of a pool (a lot, an entry, a holding, a debt): in the file's
    pool, with the pool's own district and pollutant (the ledger writes them
    from the pool; a row elsewhere would be counted in one district's
    figures and balance another's)."""
    yield from _pool_ref(row, pools)
    yield from _place(row)
    pool_id = row.get("pool_id")
    if pool_id not in pools:
        return
    for column, want in zip(("district", "pollutant"), pools[pool_id], strict=True):
        if row.get(column) != want:
            yield (
                column,
                msg(
                    f"is not its pool's: {pool_id!r} is of {want!r}",
                    f"与所属总量池不符：{pool_id!r} 属于 {want!r}",
                ),
            )


def _lot_ref(row: Mapping[str, Any], column: str, lots: Lots, *, optional: bool) -> Problems:
    lot_id = row.get(column)
    if (lot_id is None and optional) or lot_id in lots:
        return
    yield column, _no_lot(lot_id)


def _no_lot(lot_id: Any) -> str:
    return msg(f"the file holds no lot {lot_id}", f"文件中没有批次 {lot_id}")


#: Whose pool a row's lots must be of, as a refusal names it (English, Chinese).
_ROW_POOL = ("this row's pool", "本行的总量池")
_SWAP_POOL = ("the pool of the swap's source district (from_district)", "本调剂调出区的总量池")


def _lot_of_pool(
    lot_id: Any, pool_id: Any, lots: Lots, whose: tuple[str, str] = _ROW_POOL
) -> str | None:
    """Why a row of pool `pool_id` may not name the file's lot `lot_id`, or
    None: the ledger moves, holds, allocates and lends a lot's tonnes only
    on its own pool's rows (a lot of another pool would be counted in one
    pool's lots and balance another's)."""
    theirs = lots.get(lot_id)
    if lot_id not in lots or theirs == pool_id:
        return None  # one the file lacks is named as such
    return msg(
        f"lot {lot_id} is of pool {theirs!r}, not of {whose[0]} {pool_id!r}",
        f"批次 {lot_id} 属于总量池 {theirs!r}，而非{whose[1]} {pool_id!r}",
    )


def _lot(row: Mapping[str, Any], pools: Pools, lots: Lots, reclaims: set[Any] | None) -> Problems:
    yield from _in_pool(row, pools)
    yield from _lot_ref(row, "parent_lot_id", lots, optional=True)
    # A reclaim's lot (its credit, or moved on from it) names the candidate
    # confirmed: without it the lot's provenance answers 404.
    yield from _named(row, "reclaim_id", reclaims, "reclaim", "收回候选")


def _movement(
    row: Mapping[str, Any], pools: Pools, lots: Lots, reservations: set[Any] | None
) -> Problems:
    yield from _lot_ref(row, "lot_id", lots, optional=False)
    yield from _pool_ref(row, pools)
    if problem := _lot_of_pool(row.get("lot_id"), row.get("pool_id"), lots):
        yield "lot_id", problem
    if problem := _member(Move, row.get("code"), "a lot movement code", "批次流水代码"):
        yield "code", problem
    yield from _lot_ref(row, "counter_lot_id", lots, optional=True)
    # A hold, allocation or release of a reservation: a lot's lineage that
    # names one the file lacks can no longer say whose tonnes they were.
    yield from _named(row, "reservation_id", reservations, "reservation", "预占")


def _entry(row: Mapping[str, Any], pools: Pools, reclaims: set[Any] | None) -> Problems:
    yield from _in_pool(row, pools)
    if problem := _member(EntryCode, row.get("code"), "a journal entry code", "台账分录代码"):
        yield "code", problem
    yield from _named(row, "reclaim_id", reclaims, "reclaim", "收回候选")


def _holding(
    row: Mapping[str, Any],
    pools: Pools,
    lots: Lots,
    trades: set[Any] | None,
    reservations: set[Any] | None,
    reclaims: set[Any] | None,
) -> Problems:
    yield from _in_pool(row, pools)
    # An allocation's holding keeps the lots its reservation drew, a trade's
    # the seller's (or, across districts, the buyer pool's new lots), a
    # split its share: all of its own pool. A lot of another pool would
    # leave the holding's tonnes allocated in one pool's lots and another's
    # balance, and a sale would move them out of the wrong pool. Its lots
    # are its kilograms (a holding sold or retired in part keeps the lots of
    # what is left, `lots.rules.split`; one sold out keeps none).
    yield from _drawn(row, lots, pool_id=row.get("pool_id"), total="amount_kg", required=True)
    # What made it: a trade (its buyer's holding) or a reservation's
    # allocation. A file without the row answers 404 for it, and a trade
    # the file lost could be proposed again.
    yield from _named(row, "trade_id", trades, "trade", "交易")
    yield from _named(row, "reservation_id", reservations, "reservation", "预占")
    # What retired it (收回注销).
    yield from _named(row, "reclaim_id", reclaims, "reclaim", "收回候选")


def _named(
    row: Mapping[str, Any], column: str, known: set[Any] | None, en: str, zh: str
) -> Problems:
    """`column` names a row of a sheet the file holds (None: the file lacks
    the sheet, an older export, not checked)."""
    ref = row.get(column)
    if known is not None and ref is not None and ref not in known:
        yield column, msg(f"the file holds no {en} {ref!r}", f"文件中没有{zh} {ref!r}")


def _drawn(
    row: Mapping[str, Any],
    lots: Lots,
    *,
    pool_id: Any,
    whose: tuple[str, str] = _ROW_POOL,
    total: str | None = None,
    required: bool = False,
) -> Problems:
    """A row's `lots`: none (unless `required`: as none named), or `[[lot
    id, kg], …]` of the file's lots, each of pool `pool_id` (None: a pool
    the row's other columns could not name, refused by them; its lots are
    only checked to be the file's), none of them below 0 kg, and (`total`)
    adding up to that column's kilograms."""
    drawn = row.get("lots")
    if drawn is None:
        if required and total and (problem := drawn_total_problem([], row.get(total), total)):
            yield "lots", problem
        return
    pairs = isinstance(drawn, list) and all(
        isinstance(pair, list)
        and len(pair) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) for n in pair)
        for pair in drawn
    )
    if not pairs:
        yield (
            "lots",
            msg(
                "not a list of lots ([[lot id, kilograms], ...])",
                "不是批次清单（[[批次编号, 千克], ...]）",
            ),
        )
        return
    for lot_id, kg in drawn:
        if lot_id not in lots:
            yield "lots", _no_lot(lot_id)
            return
        if pool_id is not None and (problem := _lot_of_pool(lot_id, pool_id, lots, whose)):
            yield "lots", problem
            return
        if kg < 0:
            yield (
                "lots",
                msg(f"lot {lot_id}: {kg} kg is below 0", f"批次 {lot_id}：{kg} 千克小于 0"),
            )
            return
    if total is not None and (problem := drawn_total_problem(drawn, row.get(total), total)):
        yield "lots", problem


def drawn_total_problem(drawn: Sequence[Sequence[int]], want: Any, column: str) -> str | None:
    """Why the kilograms of a row's lots are not its `column`'s (`want`), or
    None: every split the ledger makes (an allocation taking the oldest part
    of its hold, a sale or a retirement taking a holding's oldest part)
    leaves each part with the lots of exactly its kilograms. Lots adding up
    to more or less would sell, retire, release or move tonnes the row does
    not have, out of lots that never gave them. Not checked without a whole
    number to check against (a column the file lacks)."""
    if not isinstance(want, int) or isinstance(want, bool):
        return None
    got = sum(kg for _, kg in drawn)
    if got == want:
        return None
    return msg(
        f"its lots come to {got} kg, but {column} is {want} kg",
        f"所列批次合计 {got} 千克，而 {column} 为 {want} 千克",
    )


def _debt(
    row: Mapping[str, Any], pools: Pools, lots: Lots, reservations: set[Any] | None
) -> Problems:
    yield from _in_pool(row, pools)
    yield from _lot_ref(row, "lot_id", lots, optional=False)
    if problem := _lot_of_pool(row.get("lot_id"), row.get("pool_id"), lots):
        yield "lot_id", problem
    if problem := _member(DebtStatus, row.get("status"), "a debt status", "欠账状态"):
        yield "status", problem
    # Its credit is withdrawn with that reservation's release: without
    # the reservation the debt could never be.
    yield from _named(row, "reservation_id", reservations, "reservation", "预占")


def _status(row: Mapping[str, Any], kind: type[StrEnum], en: str, zh: str) -> Problems:
    if problem := _member(kind, row.get("status"), en, zh):
        yield "status", problem


def _with_status(row: Mapping[str, Any], kind: type[StrEnum], en: str, zh: str) -> Problems:
    yield from _place(row)
    yield from _status(row, kind, en, zh)


def _own_district_pool(
    row: Mapping[str, Any], pools: Pools, *, posted: bool, whose: tuple[str, str]
) -> Problems:
    """A row that posts to its district's own pool of its pollutant (an
    adjustment, a reclaim candidate): its `pool_id` is that pool's, and the
    file holds that pool once the row has posted (`posted`). `whose` names
    the row in the refusal (English, Chinese)."""
    district, pollutant = _text(row.get("district")), _text(row.get("pollutant"))
    if district_problem(district) is not None or pollutant_problem(pollutant) is not None:
        return  # refused by those columns' own checks
    want = district_pool_id(district, pollutant)
    if row.get("pool_id") != want:
        yield (
            "pool_id",
            msg(
                f"should be {want!r} (the pool of {whose[0]} district and pollutant)",
                f"应为 {want!r}（{whose[1]}区和污染物的总量池）",
            ),
        )
    elif posted:
        yield from _pool_ref(row, pools)


def _adjustment(row: Mapping[str, Any], pools: Pools) -> Problems:
    """A correction: of its district's own pool of its pollutant (the one
    `adjustments.service.propose` names and its approval posts to: another
    pool would say one district's quota was corrected while another's
    balance moved), by a signed amount other than 0 (the API takes no 0);
    once approved, of a pool the file holds."""
    yield from _with_status(row, AdjustmentStatus, "an adjustment status", "调整状态")
    yield from _own_district_pool(
        row,
        pools,
        posted=row.get("status") == AdjustmentStatus.APPROVED,
        whose=("the adjustment's", "人工调整所属"),
    )
    if row.get("amount_kg") == 0:
        yield "amount_kg", msg("must not be 0", "不得为 0")


def _air_quality(row: Mapping[str, Any]) -> Problems:
    if problem := district_problem(_text(row.get("district"))):
        yield "district", problem
    yield from _status(row, AirQuality, "an air-quality status", "空气质量状况")
    yield from _start(row)


# --- settings: the bounds the API takes them within (one definition each) ----

#: An offset ratio in hundredths: above 0, at most MAX_RATIO (the Ratio type).
RATIO_HUNDREDTHS = range(1, ratio_to_hundredths(MAX_RATIO) + 1)
#: A hold's days (PUT /quota/settings).
HOLD_DAYS = range(1, MAX_HOLD_DAYS + 1)
#: An advance's term (PUT /quota/advance-limits).
TERM_DAYS = range(1, MAX_TERM_DAYS + 1)
#: An advance limit: the Tonnes type's 0 to MAX_TONNES, in kg.
LIMIT_KG = range(0, tonnes_to_kg(MAX_TONNES) + 1)


def _within(row: Mapping[str, Any], column: str, bounds: range) -> Problems:
    value = row.get(column)
    if not isinstance(value, int) or value not in bounds:
        lo, hi = bounds.start, bounds.stop - 1
        yield (
            column,
            msg(
                f"{_text(value)} is outside what the API takes ({lo} to {hi})",
                f"{_text(value)} 超出接口允许的范围（{lo} 至 {hi}）",
            ),
        )


def _start(row: Mapping[str, Any]) -> Problems:
    """A setting starts when it was recorded or later (`start_problem`: a
    version starting before it was recorded rewrites what was in force)."""
    start, recorded = row.get("effective_from"), row.get("recorded_at")
    if not isinstance(start, dt.datetime) or not isinstance(recorded, dt.datetime):
        return
    if problem := start_problem(start, recorded):
        yield "effective_from", problem


def _setting(row: Mapping[str, Any]) -> Problems:
    yield from _place(row)
    yield from _within(row, "offset_ratio_hundredths", RATIO_HUNDREDTHS)
    yield from _within(row, "hold_days", HOLD_DAYS)
    yield from _start(row)


def _aq_ratio(row: Mapping[str, Any]) -> Problems:
    yield from _status(row, AirQuality, "an air-quality status", "空气质量状况")
    yield from _within(row, "offset_ratio_hundredths", RATIO_HUNDREDTHS)


def _advance_limit(row: Mapping[str, Any]) -> Problems:
    yield from _place(row)
    yield from _within(row, "limit_kg", LIMIT_KG)
    yield from _within(row, "term_days", TERM_DAYS)


# --- reclaims -----------------------------------------------------------------

#: Candidates a permit's event made: their amount is what its ceiling freed.
EVENT_SOURCES = frozenset({ReclaimSource.PERMIT_CANCELLED, ReclaimSource.PERMIT_CHANGED})
#: Candidates whose permit always has a ceiling row: a cancellation keeps
#: one (0 after it) for every pollutant it frees, in the transaction that
#: makes the candidate (`events.reclaim_on_cancel`). A change may have none:
#: a permit the ledger had no record of, changed by its VOCs delta alone
#: (`reclaim_rules.reclaim_from_change`) — the file cannot tell it from a
#: candidate made before the ledger kept ceilings (migration 0006), so a
#: change's candidate without one is taken as such.
NEEDS_CEILING = frozenset({ReclaimSource.PERMIT_CANCELLED})


def with_reclaim_reasons(rows: Rows) -> list[tuple[int, dict[str, Any]]]:
    """The candidates of an export made before they kept a reason (the
    sheet has no `reason` column), each with the one migration 0010 gives
    such a row: read from its note where this service wrote it, else
    `unknown`; none for a candidate not of a cancelled permit."""
    out = []
    for number, row in rows:
        reason = reason_of_note(row.get("source"), row.get("note"))
        out.append((number, {**row, "reason": reason.value if reason is not None else None}))
    return out


def _reclaim_reason(row: Mapping[str, Any]) -> Problems:
    """A cancelled permit's candidate has a reason the API knows; one of
    another source has none (the live path gives it none). A row without
    the column is not checked: the import fills it (`with_reclaim_reasons`)."""
    if "reason" not in row:
        return
    reason = row.get("reason")
    if row.get("source") == ReclaimSource.PERMIT_CANCELLED:
        if problem := _member(ReclaimReason, reason, "a reclaim reason", "收回原因"):
            yield "reason", problem
    elif reason is not None:
        yield (
            "reason",
            msg(
                "only a cancelled permit's candidate has a reason (leave it empty)",
                "只有许可证注销产生的收回候选有原因代码（应为空）",
            ),
        )


def _reclaim(
    row: Mapping[str, Any], pools: Pools, backing: Mapping[Any, Mapping[str, Any]] | None
) -> Problems:
    """A candidate: of a district and pollutant the ledger keeps, in that
    district's own pool (a confirmation credits `pool_id`: another
    district's pool would move quota between districts), one the file
    holds once it is confirmed (the credit made it), for more than 0
    kg (the live path makes none of 0: PositiveTonnes by hand, a permit's
    event only when it frees something); one a permit's event made names
    its permit, whose ceiling in the file is of the same district. A
    cancellation's candidate has that ceiling (`NEEDS_CEILING`)."""
    yield from _place(row)
    yield from _status(row, ReclaimStatus, "a reclaim status", "收回状态")
    if problem := _member(ReclaimSource, row.get("source"), "a reclaim source", "收回来源"):
        yield "source", problem
        return
    yield from _reclaim_reason(row)
    yield from _own_district_pool(
        row,
        pools,
        posted=row.get("status") == ReclaimStatus.CONFIRMED,
        whose=("the candidate's", "收回候选所属"),
    )
    amount = row.get("amount_kg")
    if not isinstance(amount, int) or amount <= 0:
        yield "amount_kg", msg("must be greater than 0", "必须大于 0")
    if row.get("source") not in EVENT_SOURCES:
        return
    permit = row.get("permit_id")
    if not permit:
        yield (
            "permit_id",
            msg(
                "a candidate a permit's event made names its permit",
                "许可证事件产生的收回候选须有许可证编号",
            ),
        )
        return
    pollutant = _text(row.get("pollutant"))
    ceiling = None if backing is None else backing.get((permit, row.get("pollutant")))
    if ceiling is None and backing is not None and row.get("source") in NEEDS_CEILING:
        yield (
            "permit_id",
            msg(
                f"the file holds no ceiling of {pollutant} for permit {permit!r} "
                "(permit_backing): the cancellation that made the candidate keeps one",
                f"文件中没有许可证 {permit!r} 的 {pollutant} 可收回上限（permit_backing）："
                "产生该收回候选的注销事件会记下它",
            ),
        )
    if ceiling is not None and ceiling.get("district") != row.get("district"):
        yield (
            "district",
            msg(
                f"is not its permit's: {permit!r} is of {ceiling.get('district')!r}",
                f"与其许可证不符：{permit!r} 属于 {ceiling.get('district')!r}",
            ),
        )


def _reservation(row: Mapping[str, Any], pools: Pools, lots: Lots) -> Problems:
    yield from _in_pool(row, pools)
    yield from _status(row, ReservationStatus, "a reservation status", "预占状态")
    # Its lots are what it held (kept as they were once allocated, released
    # or expired). One resolved before the ledger kept lots (migration
    # 0003) has none; a live one always has.
    live = row.get("status") in _LIVE
    yield from _drawn(row, lots, pool_id=row.get("pool_id"), total="held_kg", required=live)


def _swap_pools(row: Mapping[str, Any]) -> tuple[str, ...]:
    """The districts (columns) whose pool a swap has written to: the
    source's once it held the tonnes (the second approval: approved, or
    cancelled after both approvals, which released them), both once settled.
    A proposal writes none (its pools may not exist yet)."""
    status = row.get("status")
    if status == SwapStatus.SETTLED:
        return ("from_district", "to_district")
    held = row.get("from_approved_by") is not None and row.get("to_approved_by") is not None
    if status == SwapStatus.APPROVED or (status == SwapStatus.CANCELLED and held):
        return ("from_district",)
    return ()


def _swap_source_pool(row: Mapping[str, Any]) -> str | None:
    """The pool a swap holds and moves out of: its source district's (None
    for a district or pollutant the ledger does not know, refused as such)."""
    district, pollutant = _text(row.get("from_district")), _text(row.get("pollutant"))
    if district_problem(district) is not None or pollutant_problem(pollutant) is not None:
        return None
    return district_pool_id(district, pollutant)


#: The times a swap's path wrote by each status: both approvals (the
#: second sets when it takes effect), then its settlement. A settled swap
#: with an approval's time erased restored as one settled that district never
#: approved, and passed the check that it settled after its approvals
#: (`lineage.TIME_ORDER` compares only times given); an approved one without
#: `effective_at` would never settle.
_APPROVED_TIMES = ("from_approved_at", "to_approved_at", "effective_at")
_SWAP_TIMES: Mapping[str, tuple[str, ...]] = {
    SwapStatus.APPROVED: _APPROVED_TIMES,
    SwapStatus.SETTLED: (*_APPROVED_TIMES, "settled_at"),
}


def _swap_times(row: Mapping[str, Any]) -> Problems:
    status = str(row.get("status"))
    for column in _SWAP_TIMES.get(status, ()):
        if row.get(column) is None:
            yield (
                column,
                msg(
                    f"empty, but the swap is {status}: it was written when the swap got there",
                    f"为空，但该调剂状态为 {status!r}：调剂到此状态时已记录该时间",
                ),
            )
            return


def _swap(row: Mapping[str, Any], pools: Pools, lots: Lots) -> Problems:
    for column in ("from_district", "to_district"):
        if problem := district_problem(_text(row.get(column))):
            yield column, problem
    if problem := pollutant_problem(_text(row.get("pollutant"))):
        yield "pollutant", problem
    yield from _status(row, SwapStatus, "a swap status", "调剂状态")
    # Its lots are those its second approval held in the source district's
    # pool (kept as they were once settled: the target's lots are new ones
    # naming them as parent), its whole amount. A lot of another pool would
    # be released or moved out of a pool that never held it. A swap not yet
    # held (a proposal, or one cancelled before both approvals) has none.
    held = bool(_swap_pools(row))
    if not held and row.get("lots") is not None:
        yield (
            "lots",
            msg(
                "a swap not approved by both districts holds no lots (leave it empty)",
                "未经双方批准的调剂不占用批次（应为空）",
            ),
        )
    yield from _drawn(
        row, lots, pool_id=_swap_source_pool(row), whose=_SWAP_POOL, total="amount_kg"
    )
    # An approved swap without its source pool would settle or be released
    # against a pool made empty on the spot (a 500, or tonnes held nowhere).
    for column in _swap_pools(row):
        yield from _district_pool_ref(row, pools, column)
    missing = held and row.get("lots") is None
    if missing and (problem := drawn_total_problem([], row.get("amount_kg"), "amount_kg")):
        yield "lots", problem
    yield from _swap_times(row)


def _trade(row: Mapping[str, Any], pools: Pools) -> Problems:
    for column in ("district", "buyer_district"):
        if problem := district_problem(_text(row.get(column))):
            yield column, problem
    if problem := pollutant_problem(_text(row.get("pollutant"))):
        yield "pollutant", problem
    yield from _status(row, TradeStatus, "a trade status", "交易状态")
    # Settled across districts, it credited the buyer district's pool
    # (trade_in); within one, the buyer holds in the seller's pools, which
    # its holdings name (`_bought_problem`).
    if row.get("status") == TradeStatus.SETTLED and row.get("district") != row.get(
        "buyer_district"
    ):
        yield from _district_pool_ref(row, pools, "buyer_district")


def holds_problem(sheets: Mapping[str, Rows]) -> str | None:
    """Why the file's pools hold tonnes nothing in it holds, or None: a
    pool's `reserved_kg` is its held reservations' `held_kg` and its
    approved swaps' `amount_kg` (a swap holds in its source district's
    pool), and a restore that kept more held would keep it for good. Not
    checked for a file without both sheets (an older export)."""
    if "reservations" not in sheets or "swaps" not in sheets:
        return None
    held: dict[Any, int] = {}
    for _, row in sheets["reservations"]:
        if row.get("status") == ReservationStatus.HELD:
            pool_id = row.get("pool_id")
            held[pool_id] = held.get(pool_id, 0) + int(row.get("held_kg") or 0)
    for _, row in sheets["swaps"]:
        if row.get("status") == SwapStatus.APPROVED:
            pool_id = district_pool_id(_text(row.get("from_district")), _text(row.get("pollutant")))
            held[pool_id] = held.get(pool_id, 0) + int(row.get("amount_kg") or 0)
    for number, row in sheets.get("pools", ()):
        pool_id, reserved = row.get("id"), int(row.get("reserved_kg") or 0)
        if reserved != held.get(pool_id, 0):
            return msg(
                f"pools: row {number}, column reserved_kg: {reserved} kg reserved, but the "
                f"file's held reservations and approved swaps hold {held.get(pool_id, 0)} kg",
                f"pools：第 {number} 行 reserved_kg 列：预占 {reserved} 千克，"
                f"但文件中预占中的项目和已批准的调剂共占 {held.get(pool_id, 0)} 千克",
            )
    # Lot by lot too: a pool's holds moved from one of its lots to another
    # would release tonnes into a lot that never held them (and leave the
    # other's held for good).
    holders = [row for _, row in sheets["reservations"] if row.get("status") == "held"]
    holders += [row for _, row in sheets["swaps"] if row.get("status") == SwapStatus.APPROVED]
    return _lot_use_problem(
        sheets,
        "held_kg",
        holders,
        ("the file's held reservations and approved swaps", "文件中预占中的项目和已批准的调剂"),
    )


def _allocated_lots_problem(sheets: Mapping[str, Rows]) -> str | None:
    """Each lot's allocated kilograms are those the file's holdings name:
    an allocation gives its holding the lots it allocated, a sale within a
    district moves them to the buyer's holding, one across districts moves
    them out into the buyer's new lots, which its holdings name; a
    retirement keeps them. A holding naming another of its pool's lots
    would sell or retire tonnes out of a lot that never allocated them."""
    return _lot_use_problem(
        sheets,
        "allocated_kg",
        [row for _, row in sheets.get("holdings", ())],
        ("the file's holdings", "文件中的持有量"),
    )


def _lot_use_problem(
    sheets: Mapping[str, Rows],
    column: str,
    users: Sequence[Mapping[str, Any]],
    who: tuple[str, str],
) -> str | None:
    """The first lot whose `column` is not what `users`' lots name of it."""
    named: dict[Any, int] = {}
    for row in users:
        drawn = row.get("lots")
        if not isinstance(drawn, list):
            continue  # none, or refused by the row's own check
        for lot_id, kg in drawn:
            named[lot_id] = named.get(lot_id, 0) + kg
    for number, lot in sheets.get("lots", ()):
        have = lot.get(column)
        if not isinstance(have, int) or have == (got := named.get(lot.get("id"), 0)):
            continue
        return at_row(
            "lots",
            number,
            column,
            msg(
                f"{have} kg, but {who[0]} name {got} kg of lot {lot.get('id')}",
                f"为 {have} 千克，但{who[1]}所列批次 {lot.get('id')} 合计 {got} 千克",
            ),
        )
    return None


def _backing(row: Mapping[str, Any]) -> Problems:
    """A permit's reclaimable ceiling: of a district and pollutant the
    ledger keeps, never above the permit's amount nor below 0 (the table's
    CHECK, named here by column rather than refused as a whole sheet)."""
    yield from _place(row)
    amount, backed = row.get("amount_kg"), row.get("backed_kg")
    if not isinstance(amount, int) or not isinstance(backed, int):
        return
    if amount < 0:
        yield "amount_kg", msg("is below 0", "小于 0")
    elif not 0 <= backed <= amount:
        yield (
            "backed_kg",
            msg(
                f"should be from 0 to amount_kg ({amount})",
                f"应在 0 到 amount_kg（{amount}）之间",
            ),
        )


# --- keys ---------------------------------------------------------------------


def unique_keys(table: Table) -> list[tuple[str, ...]]:
    """A table's keys: its primary key, unique columns and constraints."""
    found = [tuple(c.name for c in table.primary_key.columns)]
    found += [(c.name,) for c in table.columns if c.unique]
    for constraint in table.constraints:
        columns = tuple(c.name for c in getattr(constraint, "columns", ()))
        if getattr(constraint, "_type_bound", False) or not columns:
            continue
        if type(constraint).__name__ == "UniqueConstraint":
            found.append(columns)
    for index in table.indexes:
        if index.unique and index.dialect_options["postgresql"].get("where") is None:
            found.append(tuple(c.name for c in index.columns))
    return list(dict.fromkeys(found))


def _first_repeat(name: str, rows: Rows, keys: Sequence[tuple[str, ...]]) -> str | None:
    """The first row repeating an earlier row's key (the table would refuse
    it as a whole), named with the row it repeats."""
    seen: dict[tuple[str, ...], dict[tuple[Any, ...], int]] = {k: {} for k in keys}
    live: dict[Any, int] = {}
    for number, row in rows:
        for key in keys:
            value = tuple(row.get(c) for c in key)
            if any(v is None for v in value):
                continue  # NULLs repeat freely under a unique key
            if (first := seen[key].get(value)) is not None:
                shown = _text(value[0] if len(value) == 1 else value)
                return at_row(
                    name,
                    number,
                    ", ".join(key),
                    msg(
                        f"repeats row {first}'s key {shown!r}",
                        f"与第 {first} 行的键 {shown!r} 重复",
                    ),
                )
            seen[key][value] = number
        if name == "reservations" and row.get("status") in _LIVE:
            ref = row.get("project_ref")
            if (first := live.get(ref)) is not None:
                return at_row(
                    name,
                    number,
                    "project_ref",
                    msg(
                        f"a second live reservation of project {ref!r} (row {first} is one)",
                        f"项目 {ref!r} 的第二笔生效预占（第 {first} 行已有一笔）",
                    ),
                )
            live[ref] = number
    return None


# --- what one table says of another's rows --------------------------------------


def _freed_problem(sheets: Mapping[str, Rows]) -> str | None:
    """The candidates a permit's events made add up to what those events
    freed of its ceiling (`permit_backing.freed_kg`): a candidate raised in
    the file would credit quota no permit backed; one dropped, lose some.
    Not checked for a file without the column (an older export) nor for a
    change's candidate of a permit the file keeps no ceiling of (one the
    ledger first saw by a VOCs delta alone: its ceiling was never kept); a
    cancellation's always has one (`_reclaim`, `NEEDS_CEILING`)."""
    if "permit_backing" not in sheets or "reclaims" not in sheets:
        return None
    freed: dict[tuple[Any, Any], tuple[int, int]] = {
        (row.get("permit_id"), row.get("pollutant")): (number, row["freed_kg"])
        for number, row in sheets["permit_backing"]
        if isinstance(row.get("freed_kg"), int)
    }
    made: dict[tuple[Any, Any], int] = {}
    for number, row in sheets["reclaims"]:
        key = (row.get("permit_id"), row.get("pollutant"))
        if row.get("source") not in EVENT_SOURCES or key not in freed:
            continue
        made[key] = made.get(key, 0) + int(row.get("amount_kg") or 0)
        if made[key] > freed[key][1]:
            return at_row(
                "reclaims",
                number,
                "amount_kg",
                msg(
                    f"permit {key[0]!r}'s events freed {freed[key][1]} kg of {key[1]} in all "
                    f"(permit_backing row {freed[key][0]}); its candidates come to {made[key]} kg",
                    f"许可证 {key[0]!r} 的事件共释放 {key[1]} {freed[key][1]} 千克"
                    f"（permit_backing 第 {freed[key][0]} 行），其收回候选合计 {made[key]} 千克",
                ),
            )
    for key, (number, kg) in freed.items():
        if made.get(key, 0) != kg:
            return at_row(
                "permit_backing",
                number,
                "freed_kg",
                msg(
                    f"{kg} kg freed, but the file's candidates of permit {key[0]!r} "
                    f"come to {made.get(key, 0)} kg",
                    f"释放 {kg} 千克，但文件中许可证 {key[0]!r} 的收回候选"
                    f"合计 {made.get(key, 0)} 千克",
                ),
            )
    return None


def _advance_problem(sheets: Mapping[str, Rows]) -> str | None:
    """An advance (先用后补) is an advance lot and its debt, made together
    (`debts.service.advance`): each advance lot has one debt, each debt an
    advance lot; the debt's amount is the lot's, what it has repaid the
    lot's `repaid_kg`, and it is open exactly while it still owes. A lot
    without its debt would keep the advance as quota for good."""
    lots = {row.get("id"): (number, row) for number, row in sheets.get("lots", ())}
    debts: dict[Any, int] = {}
    for number, debt in sheets.get("debts", ()):
        lot_id = debt.get("lot_id")
        if lot_id not in lots:
            continue  # named by ledger_problem's row check
        if (first := debts.get(lot_id)) is not None:
            return at_row(
                "debts",
                number,
                "lot_id",
                msg(
                    f"lot {lot_id} is already row {first}'s advance",
                    f"批次 {lot_id} 已是第 {first} 行的先用后补批次",
                ),
            )
        debts[lot_id] = number
        lot_number, lot = lots[lot_id]
        if lot.get("source") != "advance":
            return at_row(
                "debts",
                number,
                "lot_id",
                msg(
                    f"lot {lot_id} (lots row {lot_number}) is no advance lot",
                    f"批次 {lot_id}（lots 第 {lot_number} 行）不是先用后补批次",
                ),
            )
        for column, lot_column in (("amount_kg", "original_kg"), ("repaid_kg", "repaid_kg")):
            want = int(lot.get(lot_column) or 0)
            if int(debt.get(column) or 0) != want:
                return at_row(
                    "debts",
                    number,
                    column,
                    msg(
                        f"should be {want}, its advance lot's {lot_column} (lots row {lot_number})",
                        f"应为 {want}，即其先用后补批次的 {lot_column}（lots 第 {lot_number} 行）",
                    ),
                )
        owes = outstanding(
            int(debt.get("amount_kg") or 0),
            int(debt.get("repaid_kg") or 0),
            int(debt.get("withdrawn_kg") or 0),
        )
        if (debt.get("status") == DebtStatus.OPEN) != (owes > 0):
            return at_row(
                "debts",
                number,
                "status",
                msg(
                    f"{debt.get('status')!r} while it still owes {owes} kg",
                    f"尚欠 {owes} 千克，状态却为 {debt.get('status')!r}",
                ),
            )
    for lot_id, (number, lot) in lots.items():
        if lot.get("source") == "advance" and lot_id not in debts:
            return at_row(
                "lots",
                number,
                "id",
                msg(
                    f"advance lot {lot_id} has no debt in the file (debts.lot_id)",
                    f"先用后补批次 {lot_id} 在文件中没有欠账（debts.lot_id）",
                ),
            )
    return None


def _trade_effect_problem(sheets: Mapping[str, Rows]) -> str | None:
    """A trade's status agrees with what it did: one a holding was bought
    in is settled (a proposed one could be approved and move the rights a
    second time); one still proposed was decided by no one."""
    if "trades" not in sheets:
        return None
    trades = {row.get("id"): (number, row) for number, row in sheets["trades"]}
    for number, trade in sheets["trades"]:
        if trade.get("status") == TradeStatus.PROPOSED:
            for column in ("decided_by", "decided_at"):
                if trade.get(column) is not None:
                    return at_row(
                        "trades",
                        number,
                        column,
                        msg("a proposed trade is decided by no one", "待审核的交易不应有审核记录"),
                    )
    for number, holding in sheets.get("holdings", ()):
        if (trade_id := holding.get("trade_id")) not in trades:
            continue
        trade_number, trade = trades[trade_id]
        if trade.get("status") != TradeStatus.SETTLED:
            return at_row(
                "trades",
                trade_number,
                "status",
                msg(
                    f"{trade.get('status')!r}, but holdings row {number} was bought in it: "
                    "it is settled",
                    f"为 {trade.get('status')!r}，但 holdings 第 {number} 行"
                    "由该交易买入：应为已交割",
                ),
            )
    return None


def _bought_problem(sheets: Mapping[str, Rows]) -> str | None:
    """A settled trade's buyer holds what it bought (`trading.service.settle`
    writes, in the settlement, the buyer's holdings naming the trade: of its
    USCC, district and pollutant, their `original_kg` adding up to the
    trade's amount). Later sales lower a holding's amount, never its
    original; a reclaim splitting one adds a row: so the originals come to
    the amount or more, never less. A trade settled with nothing bought
    would have moved the seller's rights to no one."""
    if "trades" not in sheets:
        return None
    bought: dict[Any, list[tuple[int, Mapping[str, Any]]]] = {}
    for number, holding in sheets.get("holdings", ()):
        bought.setdefault(holding.get("trade_id"), []).append((number, holding))
    for number, trade in sheets["trades"]:
        if trade.get("status") != TradeStatus.SETTLED:
            continue
        trade_id = trade.get("id")
        if not (rows := bought.get(trade_id)):
            return at_row(
                "trades",
                number,
                "status",
                msg(
                    f"settled, but the file holds no holding bought in it (holdings.trade_id "
                    f"{trade_id!r}): its buyer would hold nothing",
                    f"为已交割，但文件中没有由该交易买入的持有量（holdings.trade_id "
                    f"{trade_id!r}）：买方将一无所有",
                ),
            )
        for holding_number, holding in rows:
            for column, trade_column in (
                ("uscc", "buyer_uscc"),
                ("district", "buyer_district"),
                ("pollutant", "pollutant"),
            ):
                if holding.get(column) != (want := trade.get(trade_column)):
                    return at_row(
                        "holdings",
                        holding_number,
                        column,
                        msg(
                            f"should be {want!r}, the {trade_column} of trade {trade_id!r} "
                            f"it was bought in (trades row {number})",
                            f"应为 {want!r}，即买入它的交易 {trade_id!r} 的 {trade_column}"
                            f"（trades 第 {number} 行）",
                        ),
                    )
        amount = int(trade.get("amount_kg") or 0)
        if (got := sum(int(h.get("original_kg") or 0) for _, h in rows)) < amount:
            return at_row(
                "trades",
                number,
                "amount_kg",
                msg(
                    f"{amount} kg settled, but the holdings bought in it come to {got} kg",
                    f"交割 {amount} 千克，但由该交易买入的持有量合计 {got} 千克",
                ),
            )
    return None


def _adjusted_problem(sheets: Mapping[str, Rows]) -> str | None:
    """An approved adjustment posted one journal entry (`adjustment:<id>`,
    code adjustment) of its amount to its pool; one proposed or rejected
    posted none, and every adjustment entry is an approved adjustment's.
    An amount or status edited on one side only would show one correction
    and balance another (or approve again what was posted). Not checked for
    a file without the sheet (an older export)."""
    if "adjustments" not in sheets:
        return None
    posted: dict[Any, tuple[int, Mapping[str, Any]]] = {}
    for number, entry in sheets.get("journal", ()):
        key = _text(entry.get("idempotency_id"))
        if entry.get("code") == EntryCode.ADJUSTMENT or key.startswith("adjustment:"):
            posted[key.removeprefix("adjustment:")] = (number, entry)
    for number, row in sheets["adjustments"]:
        found = posted.pop(row.get("id"), None)
        approved = row.get("status") == AdjustmentStatus.APPROVED
        if found is None:
            if approved:
                return at_row(
                    "adjustments",
                    number,
                    "status",
                    msg(
                        f"approved, but the file's journal has no entry of it "
                        f"(idempotency_id 'adjustment:{row.get('id')}')",
                        f"为已批准，但文件的台账分录中没有其分录"
                        f"（idempotency_id 'adjustment:{row.get('id')}'）",
                    ),
                )
            continue
        entry_number, entry = found
        if not approved:
            return at_row(
                "adjustments",
                number,
                "status",
                msg(
                    f"{row.get('status')!r}, but journal row {entry_number} posted it: approved",
                    f"为 {row.get('status')!r}，但 journal 第 {entry_number} 行已过账：应为已批准",
                ),
            )
        for column in ("pool_id", "amount_kg"):
            if row.get(column) != (want := entry.get(column)):
                return at_row(
                    "adjustments",
                    number,
                    column,
                    msg(
                        f"should be {want!r}, that of the entry posting it (journal row "
                        f"{entry_number})",
                        f"应为 {want!r}，即其过账分录的值（journal 第 {entry_number} 行）",
                    ),
                )
    if posted:
        key, (number, _) = next(iter(posted.items()))
        return at_row(
            "journal",
            number,
            "idempotency_id",
            msg(
                f"an adjustment's entry, but the file holds no adjustment {key!r}",
                f"为人工调整的分录，但文件中没有人工调整 {key!r}",
            ),
        )
    return None


def _reclaimed_lot_problem(sheets: Mapping[str, Rows]) -> str | None:
    """A confirmed candidate's credit made a lot naming it (`credits.credit`,
    `lots.reclaim_id`): a file without that lot lost the tonnes' provenance,
    or marks confirmed a candidate never credited (no one could then
    confirm it, nor would the pool have the quota). A ledger older than
    lots (migration 0003) folded each pool's credits into one opening lot
    naming none: its pool's confirmed reclaims with no lot are taken as far
    as that opening lot's tonnes reach."""
    if "reclaims" not in sheets:
        return None
    lots = [row for _, row in sheets.get("lots", ())]
    credited = {row.get("reclaim_id") for row in lots}
    opening: dict[Any, int] = {}
    for row in lots:
        if row.get("source") == "opening":
            pool = row.get("pool_id")
            opening[pool] = opening.get(pool, 0) + int(row.get("original_kg") or 0)
    for number, row in sheets["reclaims"]:
        if row.get("status") != ReclaimStatus.CONFIRMED or row.get("id") in credited:
            continue
        pool = row.get("pool_id")
        if pool in opening and (left := opening[pool] - int(row.get("amount_kg") or 0)) >= 0:
            opening[pool] = left  # in the opening lot, as credited before lots
            continue
        return at_row(
            "reclaims",
            number,
            "status",
            msg(
                f"confirmed, but the file holds no lot it credited (lots.reclaim_id "
                f"{row.get('id')!r})",
                f"为已确认，但文件中没有其入账的批次（lots.reclaim_id {row.get('id')!r}）",
            ),
        )
    return None


def broken_rule(table: Table, error: str) -> str | None:
    """The rule of `table` a database error names (a check's name and what
    it says, `ck_pools_credited (credited_kg >= 0)`; a key's or reference's
    name), or None when it names none of them. SQLite and PostgreSQL both
    put the constraint's name in their message."""
    for constraint in table.constraints:
        name = constraint.name
        if isinstance(name, str) and name and re.search(rf"\b{re.escape(name)}\b", error):
            said = getattr(constraint, "sqltext", None)
            return f"{name} ({said})" if said is not None else name
    return None
