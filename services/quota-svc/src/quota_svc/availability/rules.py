"""Pure availability figures: what a pool can still give, and a what-if check."""

from __future__ import annotations

from dataclasses import dataclass

from quota_svc.ledger.rules import Balance, max_increment_kg, need_kg


@dataclass(frozen=True)
class ListedPool:
    """Which pool a row of availability is about (a district's or a park's)."""

    id: str
    district: str
    pollutant: str
    kind: str
    park_id: str | None


@dataclass(frozen=True)
class Availability:
    """A pool's figures for investment staff (招商): what is left and the largest
    project increment that still fits at the ratio in force."""

    balance: Balance
    offset_ratio_hundredths: int
    reclaimed_kg: int
    #: 先用后补: advances not yet repaid, and the part of them past due.
    debt_kg: int = 0
    overdue_debt_kg: int = 0

    @property
    def max_project_increment_kg(self) -> int:
        return max_increment_kg(self.balance.available, self.offset_ratio_hundredths)


@dataclass(frozen=True)
class Check:
    """A what-if (试算) for one project: does its need fit, and by how much not."""

    required_kg: int
    available_kg: int

    @property
    def fits(self) -> bool:
        return self.required_kg <= self.available_kg

    @property
    def shortfall_kg(self) -> int:
        return max(0, self.required_kg - self.available_kg)


def check(increment_kg: int, ratio_hundredths: int, available_kg: int) -> Check:
    return Check(need_kg(increment_kg, ratio_hundredths), max(0, available_kg))
