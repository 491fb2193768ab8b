"""Pure lot rules: drawing oldest first (or from a named lot), what each
movement does to a lot's columns, and splitting a draw."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum

from svc_common.districts import other_district_problem
from svc_common.i18n import msg

from quota_svc.pollutants.rules import POLLUTANTS

#: [(lot_id, kg), ...] in the order drawn (oldest lot first).
Draws = list[tuple[int, int]]


class Move(StrEnum):
    """A lot movement's code (批次流水)."""

    CREDIT = "credit"  # the lot is made
    HOLD = "hold"  # available → held (a reservation or a swap)
    ALLOCATE = "allocate"  # held → allocated
    RELEASE = "release"  # held → available (release, expiry, remainder, cancelled swap)
    OUT = "out"  # available → out: moved to another pool's lot (transfer, repayment)
    HELD_OUT = "held_out"  # held → out: a settled swap's tonnes leave
    SOLD_OUT = "sold_out"  # allocated → out: sold to another district
    TRADE = "trade"  # allocated tonnes change holder within the district (no column changes)
    REPAY = "repay"  # available → out: this credit repaid an advance lot (counter lot)
    WITHDRAW = "withdraw"  # available → out: an advance lot gives back what its hold released


#: Move → change of (available, held, allocated, out) per kilogram moved.
EFFECT: dict[Move, tuple[int, int, int, int]] = {
    Move.CREDIT: (0, 0, 0, 0),
    Move.HOLD: (-1, 1, 0, 0),
    Move.ALLOCATE: (0, -1, 1, 0),
    Move.RELEASE: (1, -1, 0, 0),
    Move.OUT: (-1, 0, 0, 1),
    Move.HELD_OUT: (0, -1, 0, 1),
    Move.SOLD_OUT: (0, 0, -1, 1),
    Move.TRADE: (0, 0, 0, 0),
    Move.REPAY: (-1, 0, 0, 1),
    Move.WITHDRAW: (-1, 0, 0, 1),
}

COLUMNS = ("available_kg", "held_kg", "allocated_kg", "out_kg")


class LotShort(Exception):
    """The lots cannot give what is asked (a named lot lacks it, or the
    pool's lots disagree with its balance)."""

    def __init__(self, lot_id: int | None, wanted_kg: int, available_kg: int) -> None:
        what_en = f"lot {lot_id}" if lot_id is not None else "the pool's lots"
        what_zh = f"批次 {lot_id} " if lot_id is not None else "该总量池的批次"
        super().__init__(
            msg(
                f"{what_en} can give {available_kg} kg, not {wanted_kg} kg",
                f"{what_zh}只能提供 {available_kg} 千克，不足 {wanted_kg} 千克",
            )
        )
        self.lot_id = lot_id
        self.wanted_kg = wanted_kg
        self.available_kg = available_kg


def named_lot_problem(
    lot_id: int,
    lot: tuple[str, str, str] | None,
    pool: tuple[str, str, str],
    *,
    name_theirs: bool,
) -> str | None:
    """Why a hold on `pool` (its id, district, pollutant) may not draw on the
    named lot `lot_id` (`lot`: its pool id, district and pollutant, None
    when there is no such lot), or None when the lot is the pool's. A lot
    gives tonnes only to holds on its own pool: one of another district,
    pollutant or pool is not short of them, it is not this hold's to draw
    on. `name_theirs` False: the lot's district is not named (a caller who
    may not act there)."""
    if lot is None:
        return msg(f"there is no lot {lot_id}", f"批次 {lot_id} 不存在")
    lot_pool, lot_district, lot_pollutant = lot
    pool_id, district, pollutant = pool
    if lot_pool == pool_id:
        return None
    if problem := other_district_problem(
        ("lot", "批次"), str(lot_id), lot_district, district, name_theirs=name_theirs
    ):
        return problem
    if lot_pollutant != pollutant:
        theirs, ours = _pollutant_named(lot_pollutant), _pollutant_named(pollutant)
        return msg(
            f"lot {lot_id} is of a pool of {theirs[0]}, not of {ours[0]}, this"
            " reservation's pollutant: a hold draws only on lots of its own pool",
            f"批次 {lot_id} 属于{theirs[1]}的总量池，而非本预留的{ours[1]}：只能动用本总量池的批次",
        )
    # The district's pool, a park's sub-pool (园区子池) or the priority reserve.
    return msg(
        f"lot {lot_id} is of pool {lot_pool}, not of {pool_id}, the pool this reservation"
        " draws on: a hold draws only on lots of its own pool",
        f"批次 {lot_id} 属于总量池 {lot_pool}，而非本预留动用的总量池 {pool_id}："
        "只能动用本总量池的批次",
    )


def _pollutant_named(code: str) -> tuple[str, str]:
    """A pollutant as people call it, its code beside (English, Chinese)."""
    p = POLLUTANTS.get(code)
    return (f"{p.name_en} ({code})", f"{p.name_zh}（{code}）") if p else (code, code)


def draw_oldest_first(open_lots: Iterable[tuple[int, int]], amount_kg: int) -> Draws:
    """Take `amount_kg` from lots given as (id, available) oldest first."""
    draws: Draws = []
    left = amount_kg
    total = 0
    for lot_id, available in open_lots:
        total += available
        if left <= 0:
            break
        take = min(available, left)
        if take > 0:
            draws.append((lot_id, take))
            left -= take
    if left > 0:
        raise LotShort(None, amount_kg, amount_kg - left)
    return draws


def split(draws: Sequence[Sequence[int]], first_kg: int) -> tuple[Draws, Draws]:
    """(the first `first_kg` of the draws, the rest): an allocation takes the
    oldest part of a hold, its remainder returns the newest."""
    head: Draws = []
    tail: Draws = []
    left = first_kg
    for lot_id, kg in draws:
        take = min(kg, max(left, 0))
        if take:
            head.append((lot_id, take))
        if kg - take:
            tail.append((lot_id, kg - take))
        left -= take
    if left > 0:
        raise ValueError(f"the draws hold {first_kg - left} kg, not {first_kg} kg")
    return head, tail


def total(draws: Iterable[Sequence[int]]) -> int:
    return sum(kg for _, kg in draws)


def column_deltas(move: Move, kg: int) -> dict[str, int]:
    """The signed changes of a lot's columns when `kg` move by `move`."""
    return {c: f * kg for c, f in zip(COLUMNS, EFFECT[move], strict=True) if f}


def replay(movements: Iterable[tuple[str, int]], original_kg: int) -> dict[str, int]:
    """A lot's columns from its movements alone (reconciliation)."""
    cols = {"available_kg": original_kg, "held_kg": 0, "allocated_kg": 0, "out_kg": 0}
    for code, kg in movements:
        for c, d in column_deltas(Move(code), kg).items():
            cols[c] += d
    return cols
