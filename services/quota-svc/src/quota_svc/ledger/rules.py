"""Pure ledger rules: district codes, pool ids, balance arithmetic and the
offset-ratio maths. No database, no I/O: unit-testable on their own.
District codes are checked by svc_common.districts (re-exported here)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from svc_common.districts import DISTRICTS as DISTRICTS
from svc_common.districts import district_problem as district_problem
from svc_common.i18n import msg, said_as
from svc_common.types import scaled_text

from quota_svc.pollutants.rules import pollutant_problem as pollutant_problem

VOCS = "VOCs"
#: A park's id (园区编号) in a request: 1–64 letters, digits and _ . -
#: (refused in words, not as the pattern).
PARK_ID_PATTERN = said_as(
    r"^[A-Za-z0-9_.\-]{1,64}$",
    "is not a park id (1-64 letters, digits, '_', '.' or '-')",
    "不是园区编号（1-64 个字母、数字、_、. 或 -）",
)
_PARK = re.compile(PARK_ID_PATTERN)
#: A pool of a district named in a request: the district pool, the
#: priority reserve or a park's sub-pool.
POOL_PATTERN = said_as(
    r"^(district|reserve|park:[A-Za-z0-9_.\-]{1,64})$",
    "must be district, reserve or park:<park id> (a park id of 1-64 letters, digits, "
    "'_', '.' or '-')",
    "必须是 district、reserve 或 park:园区编号（园区编号为 1-64 个字母、数字、_、. 或 -）",
)
#: A pool whose history is read for every district: no park's.
DISTRICT_OR_RESERVE_PATTERN = said_as(
    r"^(district|reserve)$", "must be district or reserve", "必须是 district 或 reserve"
)


def check_pollutant(name: str) -> str:
    """`name` if it is a pollutant name, else ValueError saying why."""
    if problem := pollutant_problem(name):
        raise ValueError(problem)
    return name


class PoolKind(StrEnum):
    """district: the district pool; park: a bundled-EIA park's sub-pool (园区子池);
    reserve: the priority reserve (政府储备)."""

    DISTRICT = "district"
    PARK = "park"
    RESERVE = "reserve"


def district_pool_id(district: str, pollutant: str) -> str:
    return f"{district}:{pollutant}"


def park_pool_id(district: str, pollutant: str, park_id: str) -> str:
    if not _PARK.fullmatch(park_id):  # `$` alone lets a final line break through
        raise ValueError(msg(f"{park_id!r} is not a park id", f"{park_id!r} 不是园区编号"))
    return f"{district}:{pollutant}:park:{park_id}"


def park_problem(park_id: str, district: str, registered_in: str | None) -> str | None:
    """Why `park_id` cannot have a sub-pool (园区子池) in `district`, or None.

    `registered_in` is the district the park was registered in (eia-svc's
    park register, 园区登记, as the ledger learnt it from
    `eia.park.registered`), None if it never was. A park's sub-pool is only
    ever one of a registered park in its own district: anything else would
    be a pool no bundled EIA stands behind."""
    if registered_in is None:
        return msg(f"{park_id} is not a registered park", f"{park_id} 不是已登记的园区")
    if registered_in != district:
        return msg(
            f"park {park_id} lies in district {registered_in}, not {district}",
            f"园区 {park_id} 位于区 {registered_in}，而非 {district}",
        )
    return None


def reserve_pool_id(district: str, pollutant: str) -> str:
    return f"{district}:{pollutant}:reserve"


class EntryCode(StrEnum):
    """Journal entry codes: what a posting did to a pool."""

    BASELINE = "baseline"  # 存量基数
    RECLAIM_CREDIT = "reclaim_credit"  # 收回
    REDUCTION_CREDIT = "reduction_credit"  # 深度治理减排
    RESERVE = "reserve"  # hold: a pending transfer
    ALLOCATE = "allocate"  # post of a pending transfer
    RELEASE = "release"  # void of a pending transfer
    EXPIRE = "expire"  # timeout of a pending transfer
    TRANSFER = "transfer"  # credited quota moved between pools
    ADJUSTMENT = "adjustment"  # 人工调整, four eyes
    ADVANCE = "advance"  # 先用后补: credited ahead of its offset, a debt
    REPAY = "repay"  # a later credit repays a debt: credited back down
    #: 先用后补 undone: the hold an advance was for released it unused, credited back down
    ADVANCE_WITHDRAWN = "advance_withdrawn"
    SWAP_OUT = "swap_out"  # 跨区调剂: held tonnes leave for another district
    SWAP_IN = "swap_in"  # 跨区调剂: tonnes arrive from another district
    TRADE_OUT = "trade_out"  # 排污权交易: allocated tonnes sold out of the district
    TRADE_IN = "trade_in"  # 排污权交易: bought tonnes arrive, allocated to the buyer


@dataclass(frozen=True)
class Balance:
    """A pool's balance in kilograms per year. available = credited − reserved − allocated."""

    credited: int = 0
    reserved: int = 0
    allocated: int = 0

    @property
    def available(self) -> int:
        return self.credited - self.reserved - self.allocated

    def apply(self, delta: Delta) -> Balance:
        return Balance(
            self.credited + delta.credited,
            self.reserved + delta.reserved,
            self.allocated + delta.allocated,
        )

    def is_valid(self) -> bool:
        return min(self.credited, self.reserved, self.allocated, self.available) >= 0


@dataclass(frozen=True)
class Delta:
    """What one journal entry changes, per column, signed (kg)."""

    credited: int = 0
    reserved: int = 0
    allocated: int = 0


class Overdraft(Exception):
    """A posting would take a pool below zero available."""

    def __init__(self, pool_id: str, needed_kg: int, available_kg: int) -> None:
        super().__init__(f"pool {pool_id} lacks {needed_kg - available_kg} kg")
        self.pool_id = pool_id
        self.needed_kg = needed_kg
        self.available_kg = available_kg

    @property
    def shortfall_kg(self) -> int:
        return self.needed_kg - self.available_kg


#: What "reclaimed" counts in availability: credits from closed plants (收回)
#: and from deep abatement (深度治理减排).
RECLAIM_CODES = (EntryCode.RECLAIM_CREDIT.value, EntryCode.REDUCTION_CREDIT.value)


def delta_for(code: EntryCode, amount_kg: int) -> Delta:
    """The effect of an entry of `code` moving `amount_kg` (signed for transfer
    and adjustment legs, positive otherwise)."""
    if code in (
        EntryCode.BASELINE,
        EntryCode.RECLAIM_CREDIT,
        EntryCode.REDUCTION_CREDIT,
        EntryCode.ADVANCE,
        EntryCode.SWAP_IN,
    ):
        return Delta(credited=amount_kg)
    if code in (EntryCode.REPAY, EntryCode.ADVANCE_WITHDRAWN):
        return Delta(credited=-amount_kg)
    if code is EntryCode.SWAP_OUT:
        return Delta(credited=-amount_kg, reserved=-amount_kg)
    if code is EntryCode.TRADE_OUT:
        return Delta(credited=-amount_kg, allocated=-amount_kg)
    if code is EntryCode.TRADE_IN:
        return Delta(credited=amount_kg, allocated=amount_kg)
    if code in (EntryCode.TRANSFER, EntryCode.ADJUSTMENT):
        return Delta(credited=amount_kg)
    if code is EntryCode.RESERVE:
        return Delta(reserved=amount_kg)
    if code is EntryCode.ALLOCATE:
        return Delta(reserved=-amount_kg, allocated=amount_kg)
    if code in (EntryCode.RELEASE, EntryCode.EXPIRE):
        return Delta(reserved=-amount_kg)
    raise ValueError(f"unknown entry code {code}")


def post(pool_id: str, before: Balance, code: EntryCode, amount_kg: int) -> Balance:
    """The balance after posting; raises Overdraft rather than go below zero."""
    after = before.apply(delta_for(code, amount_kg))
    if not after.is_valid():
        if after.available < 0:
            raise Overdraft(pool_id, before.available - after.available, before.available)
        raise ValueError(
            msg(
                f"{code} of {amount_kg} kg would make pool {pool_id} negative",
                f"{code} {amount_kg} 千克会使总量池 {pool_id} 为负",
            )
        )
    return after


def replay(entries: Iterable[tuple[EntryCode, int]]) -> Balance:
    """A pool's balance from its journal alone (reconciliation)."""
    bal = Balance()
    for code, amount in entries:
        bal = bal.apply(delta_for(code, amount))
    return bal


# --- offset ratio (倍量削减替代) -------------------------------------------------


def ratio_to_hundredths(ratio: Decimal) -> int:
    h = ratio * 100
    if h != h.to_integral_value() or h <= 0:
        raise ValueError(
            msg(
                f"ratio {ratio} must be positive with at most 2 decimals",
                f"倍量 {ratio} 必须为正数，最多两位小数",
            )
        )
    return int(h)


def hundredths_to_ratio(h: int) -> Decimal:
    return (Decimal(h) / 100).quantize(Decimal("0.01"))


def hundredths_text(h: int) -> str:
    """A ratio as every answer writes it (200 → "2.00"), straight from its
    hundredths: what `hundredths_to_ratio` then the Ratio type's serializer write."""
    return scaled_text(h, 2) if type(h) is int else f"{hundredths_to_ratio(h):.2f}"


def need_kg(increment_kg: int, ratio_hundredths: int) -> int:
    """A project's quota need: increment × ratio, rounded UP to the kilogram so
    a need is never under-counted."""
    return -((-increment_kg * ratio_hundredths) // 100)


def max_increment_kg(available_kg: int, ratio_hundredths: int) -> int:
    """The largest project increment whose need fits `available_kg`
    (available / ratio, rounded DOWN to the kilogram)."""
    if available_kg <= 0:
        return 0
    return (available_kg * 100) // ratio_hundredths
