"""The pollutants the ledger keeps, with their units and rounding. Amounts are
whole kilograms per year inside the ledger (0.001 t), for each of them; a
need is rounded up to the kilogram and the largest project that fits rounded
down (see ledger.rules)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from svc_common.i18n import msg

Medium = Literal["air", "water"]


@dataclass(frozen=True)
class Pollutant:
    code: str
    name_zh: str
    name_en: str
    medium: Medium
    #: Unit of every amount in the API: tonnes per year.
    unit: str = "t/a"
    #: Decimal places of an amount: 3 (one kilogram).
    decimals: int = 3
    #: How a project's need (increment × ratio) is rounded to the kilogram.
    need_rounding: str = "up"
    #: How the largest project increment that fits is rounded.
    max_increment_rounding: str = "down"

    @property
    def follows_air_quality(self) -> bool:
        """The air-quality offset ratio applies to air pollutants only."""
        return self.medium == "air"


POLLUTANTS: dict[str, Pollutant] = {
    p.code: p
    for p in (
        Pollutant("VOCs", "挥发性有机物", "volatile organic compounds", "air"),
        Pollutant("NOx", "氮氧化物", "nitrogen oxides", "air"),
        Pollutant("COD", "化学需氧量", "chemical oxygen demand", "water"),
        Pollutant("NH3-N", "氨氮", "ammonia nitrogen", "water"),
    )
}


def pollutant_problem(code: str) -> str | None:
    if code in POLLUTANTS:
        return None
    shown = code[:30]
    listed = ", ".join(POLLUTANTS)
    return msg(
        f"{shown!r} is not a pollutant under total-quantity control (one of {listed})",
        f"{shown!r} 不是总量控制污染物（应为 {listed} 之一）",
    )


def follows_air_quality(code: str) -> bool:
    p = POLLUTANTS.get(code)
    return p is not None and p.follows_air_quality
