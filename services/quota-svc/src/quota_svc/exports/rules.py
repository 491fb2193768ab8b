"""How rows are written to and read back from an export (pure): every value
as text, so CSV and XLSX carry the same thing and nothing is lost (whole
kilograms, ISO 8601 UTC times, JSON for lists); and which rows read back
are ones a ledger of this system could hold (`ledger_problem`)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Integer, Table
from svc_common.guard import lone_surrogate_at, surrogate_problem
from svc_common.i18n import msg
from svc_common.types import UTCDateTime

from quota_svc.adjustments.rules import AdjustmentStatus
from quota_svc.airquality.rules import AirQuality
from quota_svc.debts.rules import DebtStatus
from quota_svc.ledger.rules import (
    EntryCode,
    PoolKind,
    district_pool_id,
    district_problem,
    park_pool_id,
    pollutant_problem,
    reserve_pool_id,
)
from quota_svc.lots.rules import Move
from quota_svc.reclaims.rules import ReclaimStatus
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


def _unreadable(table: Table, column: str, text: str, en: str, zh: str) -> ValueError:
    return ValueError(
        msg(f"{table.name}.{column}: {en}: {text!r}", f"{table.name}.{column}：{zh}：{text!r}")
    )


def from_text(table: Table, column: str, text: str | None) -> Any:
    col = table.c[column]
    t = col.type
    if text is None or text == "":
        if col.nullable:
            return None
        if isinstance(t, UTCDateTime):
            raise _unreadable(table, column, "", "a time is required", "缺少时间")
        return _empty(t)
    if isinstance(t, UTCDateTime):
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            raise _unreadable(
                table, column, text, "not an ISO 8601 time", "不是 ISO 8601 时间"
            ) from None
        if parsed.tzinfo is None:
            raise ValueError(
                msg(
                    f"{table.name}.{column}: time without a UTC offset: {text!r}",
                    f"{table.name}.{column}：时间缺少时区偏移：{text!r}",
                )
            )
        return parsed
    if isinstance(t, Boolean):
        return text.lower() in ("true", "1")
    if isinstance(t, (BigInteger, Integer)) or _is_int(t):
        try:
            number = int(text)
        except ValueError:
            number = None
        if number is None or number not in _INT_RANGE:
            raise _unreadable(table, column, text, "not a whole number", "不是整数")
        return number
    if isinstance(t, JSON) or _is_json(t):
        try:
            value = json.loads(text)
        except ValueError:
            raise _unreadable(table, column, text, "not JSON", "不是 JSON") from None
        if lone_surrogate_at(value) is not None:  # `"\ud800"`: no answer could hold it
            problem = surrogate_problem()
            raise ValueError(
                msg(f"{table.name}.{column}: {problem}", f"{table.name}.{column}：{problem}")
            )
        return value
    return text


def _empty(t: Any) -> Any:
    return "" if not isinstance(t, (BigInteger, Integer)) else 0


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


def ledger_problem(sheets: Mapping[str, Rows]) -> str | None:
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
    lots = {row.get("id") for _, row in sheets.get("lots", ())}
    # A file without the sheet (an older export) names reservations it
    # does not carry: those links are not checked.
    reservations = (
        {row.get("id") for _, row in sheets["reservations"]} if "reservations" in sheets else None
    )
    checks: dict[str, Callable[[Mapping[str, Any]], Problems]] = {
        "pools": lambda row: _pool(row),
        "district_settings": lambda row: _place(row),
        "air_quality": lambda row: _air_quality(row),
        "air_quality_ratios": lambda row: _status(
            row, AirQuality, "an air-quality status", "空气质量状况"
        ),
        "advance_limits": lambda row: _place(row),
        "lots": lambda row: _lot(row, pools, lots),
        "lot_movements": lambda row: _movement(row, pools, lots),
        "journal": lambda row: _entry(row, pools),
        "reservations": lambda row: _reservation(row, pools, lots),
        "swaps": lambda row: _swap(row, lots),
        "trades": lambda row: _trade(row),
        "holdings": lambda row: _holding(row, pools, lots),
        "debts": lambda row: _debt(row, pools, lots, reservations),
        "reclaims": lambda row: _with_status(row, ReclaimStatus, "a reclaim status", "收回状态"),
        "adjustments": lambda row: _with_status(
            row, AdjustmentStatus, "an adjustment status", "调整状态"
        ),
        "permit_backing": lambda row: _backing(row),
    }
    for name, rows in sheets.items():
        for number, row in rows:
            for column, why in checks[name](row):
                return msg(
                    f"{name}: row {number}, column {column}: {why}",
                    f"{name}：第 {number} 行 {column} 列：{why}",
                )
    return None


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


def _pool_ref(row: Mapping[str, Any], pools: Pools) -> Problems:
    if (pool_id := row.get("pool_id")) not in pools:
        yield "pool_id", msg(f"the file holds no pool {pool_id!r}", f"文件中没有总量池 {pool_id!r}")


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


def _lot_ref(row: Mapping[str, Any], column: str, lots: set[Any], *, optional: bool) -> Problems:
    lot_id = row.get(column)
    if (lot_id is None and optional) or lot_id in lots:
        return
    yield column, _no_lot(lot_id)


def _no_lot(lot_id: Any) -> str:
    return msg(f"the file holds no lot {lot_id}", f"文件中没有批次 {lot_id}")


def _lot(row: Mapping[str, Any], pools: Pools, lots: set[Any]) -> Problems:
    yield from _in_pool(row, pools)
    yield from _lot_ref(row, "parent_lot_id", lots, optional=True)


def _movement(row: Mapping[str, Any], pools: Pools, lots: set[Any]) -> Problems:
    yield from _lot_ref(row, "lot_id", lots, optional=False)
    yield from _pool_ref(row, pools)
    if problem := _member(Move, row.get("code"), "a lot movement code", "批次流水代码"):
        yield "code", problem
    yield from _lot_ref(row, "counter_lot_id", lots, optional=True)


def _entry(row: Mapping[str, Any], pools: Pools) -> Problems:
    yield from _in_pool(row, pools)
    if problem := _member(EntryCode, row.get("code"), "a journal entry code", "台账分录代码"):
        yield "code", problem


def _holding(row: Mapping[str, Any], pools: Pools, lots: set[Any]) -> Problems:
    yield from _in_pool(row, pools)
    yield from _drawn(row, lots)


def _drawn(row: Mapping[str, Any], lots: set[Any]) -> Problems:
    """A row's `lots`: none, or `[[lot id, kg], …]` of the file's lots."""
    drawn = row.get("lots")
    if drawn is None:
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
    for lot_id, _ in drawn:
        if lot_id not in lots:
            yield "lots", _no_lot(lot_id)
            return


def _debt(
    row: Mapping[str, Any], pools: Pools, lots: set[Any], reservations: set[Any] | None
) -> Problems:
    yield from _in_pool(row, pools)
    yield from _lot_ref(row, "lot_id", lots, optional=False)
    if problem := _member(DebtStatus, row.get("status"), "a debt status", "欠账状态"):
        yield "status", problem
    held = row.get("reservation_id")
    if reservations is not None and held is not None and held not in reservations:
        # Its credit is withdrawn with that reservation's release: without
        # the reservation the debt could never be.
        yield (
            "reservation_id",
            msg(f"the file holds no reservation {held!r}", f"文件中没有预占 {held!r}"),
        )


def _status(row: Mapping[str, Any], kind: type[StrEnum], en: str, zh: str) -> Problems:
    if problem := _member(kind, row.get("status"), en, zh):
        yield "status", problem


def _with_status(row: Mapping[str, Any], kind: type[StrEnum], en: str, zh: str) -> Problems:
    yield from _place(row)
    yield from _status(row, kind, en, zh)


def _air_quality(row: Mapping[str, Any]) -> Problems:
    if problem := district_problem(_text(row.get("district"))):
        yield "district", problem
    yield from _status(row, AirQuality, "an air-quality status", "空气质量状况")


def _reservation(row: Mapping[str, Any], pools: Pools, lots: set[Any]) -> Problems:
    yield from _in_pool(row, pools)
    yield from _status(row, ReservationStatus, "a reservation status", "预占状态")
    yield from _drawn(row, lots)


def _swap(row: Mapping[str, Any], lots: set[Any]) -> Problems:
    for column in ("from_district", "to_district"):
        if problem := district_problem(_text(row.get(column))):
            yield column, problem
    if problem := pollutant_problem(_text(row.get("pollutant"))):
        yield "pollutant", problem
    yield from _status(row, SwapStatus, "a swap status", "调剂状态")
    yield from _drawn(row, lots)


def _trade(row: Mapping[str, Any]) -> Problems:
    for column in ("district", "buyer_district"):
        if problem := district_problem(_text(row.get(column))):
            yield column, problem
    if problem := pollutant_problem(_text(row.get("pollutant"))):
        yield "pollutant", problem
    yield from _status(row, TradeStatus, "a trade status", "交易状态")


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
