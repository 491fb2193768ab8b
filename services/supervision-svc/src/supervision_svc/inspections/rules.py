"""Pure rules of inspections: who is drawn how often, the reproducible
weighted draw, the size of a draw.

The draw is weighted sampling without replacement by Efraimidis and
Spirakis' keys: each candidate, in USCC order, takes u from a Mersenne
Twister seeded with the plan's recorded seed, and the k largest
log(u) / weight win. The same seed and candidates give the same plan on any
machine (Python's `random` is specified to reproduce its sequence for a seed).
A plan records what the draw read (`DrawInputs`) and, per tier, how many
were eligible and drawn with a digest of who (`tier_counts`), so an auditor
redraws it (`redraw`) and checks the candidates against the digests.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import math
import random
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Literal

from svc_common.calendar import CHINA_STANDARD_TIME
from svc_common.districts import district_named
from svc_common.errors import Conflict, FieldError
from svc_common.guard import name_key
from svc_common.i18n import msg

Tier = Literal["low", "normal", "high"]
#: The tiers, heaviest first: the order a plan lists them in.
TIERS: tuple[Tier, ...] = ("high", "normal", "low")
#: The name of this module's draw (`draw` and `assign_inspectors`), recorded
#: with each plan: a later change of the method gets a new name, so a plan
#: always says which method redraws it.
DRAW_METHOD = "efraimidis-spirakis/mt19937/v1"
ITEMS = (
    "performance_grade",  # 环境绩效
    "ledger",  # 环保台账
    "treatment_facilities",  # 治污设备运行情况
    "online_monitoring",  # 在线监测数据
    "permit_compliance",  # 按证排污
)
GOOD_GRADES = frozenset({"A", "leading"})
BENCHMARKS = frozenset({"national", "tianjin"})


@dataclass(frozen=True)
class DrawFacts:
    """What the draw weight of one enterprise depends on."""

    uscc: str
    lawful: bool  # a valid permit or registration (合法手续)
    findings_12m: int
    open_findings: int
    substantiated_complaints_12m: int
    grade: str | None
    benchmark: str | None


def tier(f: DrawFacts) -> tuple[Tier, str]:
    """Higher for open findings or substantiated complaints; lower (减少检查频次)
    for lawful, clean-record enterprises of grade A, leading or a benchmark."""
    if f.open_findings or f.substantiated_complaints_12m:
        return "high", "open findings or substantiated complaints"
    good = f.grade in GOOD_GRADES or f.benchmark in BENCHMARKS
    if f.lawful and not f.findings_12m and good:
        return "low", "lawful, no findings in 12 months, grade A/leading or benchmark"
    return "normal", "neither"


def sample_size(population: int, count: int | None, share_percent: Decimal | None) -> int:
    """How many to draw: `count`, or `share_percent` of the population rounded
    up; never more than there are."""
    if count is not None:
        return min(count, population)
    assert share_percent is not None
    k = (Decimal(population) * share_percent / 100).to_integral_value(rounding=ROUND_CEILING)
    return min(int(k), population)


def draw(weights: dict[str, int], k: int, seed: int) -> list[str]:
    """`k` USCCs drawn without replacement with probability proportional to
    weight, reproducibly from `seed`; in the order drawn (largest key first)."""
    rng = random.Random(seed)
    keys = []
    for uscc in sorted(weights):
        u = rng.random()
        key = -math.inf if u == 0.0 else math.log(u) / weights[uscc]
        keys.append((key, uscc))
    keys.sort(key=lambda x: (-x[0], x[1]))
    return [uscc for _, uscc in keys[:k]]


def person_name(name: str) -> str:
    """An inspector's name in the one form: NFKC (full-width letters and
    digits as ASCII ones), spaces around it stripped."""
    return unicodedata.normalize("NFKC", name).strip()


def person_key(name: str) -> str:
    """What makes two names the same person's (双人执法 needs two people):
    the shared `guard.name_key` (case, width, hidden characters and runs of
    spaces aside)."""
    return name_key(name)


def assign_inspectors(pool: list[str], drawn: list[str], seed: int) -> dict[str, list[str]]:
    """The second random (双随机): two inspectors from the pool for each drawn
    enterprise, from the same recorded seed."""
    if len(pool) < 2:
        return {}
    rng = random.Random(f"inspectors:{seed}")
    ordered = sorted(set(pool))
    return {uscc: sorted(rng.sample(ordered, 2)) for uscc in drawn}


@dataclass(frozen=True)
class DrawInputs:
    """All a plan's draw read: with them `redraw` gives its selection and
    inspectors again, on any machine."""

    seed: int
    sample_size: int
    weights: dict[str, int]  # by USCC, every candidate
    inspector_pool: tuple[str, ...] = ()


def redraw(inputs: DrawInputs) -> tuple[list[str], dict[str, list[str]]]:
    """The enterprises drawn, in the order drawn, and each one's two
    inspectors (none without a pool): what the plan recorded."""
    drawn = draw(inputs.weights, inputs.sample_size, inputs.seed)
    return drawn, assign_inspectors(list(inputs.inspector_pool), drawn, inputs.seed)


def candidates_digest(usccs: Iterable[str]) -> str:
    """SHA-256 (hex) of the USCCs in ascending order, each followed by a line
    feed: what `sort | sha256sum` gives of a file of them, one a line, so a
    list of candidates is checked against a plan without a program."""
    return hashlib.sha256("".join(f"{u}\n" for u in sorted(usccs)).encode()).hexdigest()


@dataclass(frozen=True)
class TierCount:
    """One tier of a plan: its weight, how many were eligible and drawn, and
    the digest of the eligible USCCs (`candidates_digest`)."""

    tier: Tier
    weight: int
    eligible: int
    drawn: int
    candidates_sha256: str


def tier_counts(
    tiers: dict[str, Tier], weights: dict[str, int], drawn: Iterable[str]
) -> list[TierCount]:
    """Every tier, heaviest first (one with no candidate too: 0 eligible says
    so), from each candidate's tier, the tiers' weights and the drawn."""
    chosen = set(drawn)
    out = []
    for t in TIERS:
        members = [u for u, x in tiers.items() if x == t]
        out.append(
            TierCount(
                tier=t,
                weight=weights[t],
                eligible=len(members),
                drawn=sum(u in chosen for u in members),
                candidates_sha256=candidates_digest(members),
            )
        )
    return out


def period_days(period: str) -> tuple[dt.date, dt.date] | None:
    """The first and last day of a plan's period (schemas.PERIOD): a year
    (`2026`), a month (`2026-06`), a quarter (`2026-Q3`) or a half
    (`2026-H2`). None for a period no calendar holds (year 0000: a plan
    drawn before periods were checked)."""
    year, _, part = period.partition("-")
    y = int(year)
    if not dt.MINYEAR <= y <= dt.MAXYEAR:
        return None
    if not part:
        first_month, months = 1, 12
    elif part[0] == "Q":
        first_month, months = 3 * int(part[1]) - 2, 3
    elif part[0] == "H":
        first_month, months = 6 * int(part[1]) - 5, 6
    else:
        first_month, months = int(part), 1
    last_month = first_month + months - 1
    return (
        dt.date(y, first_month, 1),
        dt.date(y, last_month, calendar.monthrange(y, last_month)[1]),
    )


def outside_period_problem(day: dt.date, period: str) -> str | None:
    """Why an inspection on `day` (Beijing) cannot be recorded under a plan
    of `period`, or None: the plan drew whom to inspect in its period; an
    inspection on another day is not one of that draw."""
    days = period_days(period)
    if days is None or days[0] <= day <= days[1]:
        return None
    first, last = days
    return msg(
        f"is {day} (Beijing time), outside the plan's period {period} ({first} to {last}): "
        "record it under a plan of its period, or without plan_id",
        f"为 {day}（北京时间），不在抽查计划的期间 {period}（{first} 至 {last}）内："
        "请在该期间的抽查计划下记录，或不带 plan_id 记录",
    )


def period_year(period: str) -> str:
    """The year every day of a period (schemas.PERIOD) lies in, as written:
    a month, a quarter and a half are each of one year, so two periods of
    different years never overlap (the draw's lock is per district and
    year)."""
    return period.partition("-")[0]


def periods_overlap(a: str, b: str) -> bool:
    """Whether two plans' periods share a day: `2026` overlaps `2026-Q3`
    and `2026-08`, `2026-Q3` overlaps `2026-H2` and `2026-08`, `2026-Q3`
    and `2026-Q4` do not. A period no calendar holds (year 0000, a plan
    drawn before periods were checked) overlaps only itself."""
    if a == b:
        return True
    days_a, days_b = period_days(a), period_days(b)
    if days_a is None or days_b is None:
        return False
    return days_a[0] <= days_b[1] and days_b[0] <= days_a[1]


@dataclass(frozen=True)
class DrawnPlan:
    """A plan already drawn for a district: what a refused second draw of
    its period, or of one overlapping it, names."""

    id: str
    period: str
    created_by: str
    created_at: dt.datetime


def refuse_second_draw(district: str, period: str, drawn: Sequence[DrawnPlan]) -> None:
    """One double-random draw for a district's day: the officers inspect
    the enterprises it drew, and a second draw of a period overlapping it
    (`2026-Q3` after `2026`, `2026-08` after `2026-Q3`) would give a second
    list to choose from (a draw repeated until it suits). A draw whose
    period overlaps that of a plan of `drawn` (the district's, the earliest
    first) is refused with 409 naming the earliest such plan, its id and
    period; there is no redraw: the plan's seed redraws the same selection
    (`redraw`)."""
    first = next((p for p in drawn if periods_overlap(p.period, period)), None)
    if first is None:
        return
    at = first.created_at.astimezone(CHINA_STANDARD_TIME).strftime("%Y-%m-%d %H:%M")
    # By the name people use (滨海新区), its code beside, as a 403 names it.
    place_en, place_zh = district_named(district)
    if first.period == period:
        detail = msg(
            f"district {place_en} already has inspection plan {first.id} for {period}, "
            f"drawn by {first.created_by} at {at} (Beijing time): a period is drawn once; "
            "inspect the enterprises that plan drew",
            f"{place_zh}已有 {period} 的抽查计划 {first.id}（{first.created_by} 于北京时间 "
            f"{at} 抽取）：每个期间只抽取一次，请按该计划抽中的企业检查",
        )
        field = msg(
            f"already drawn for district {place_en}: plan {first.id}",
            f"{place_zh}该期间已抽取：抽查计划 {first.id}",
        )
    else:
        detail = msg(
            f"district {place_en} already has inspection plan {first.id} for {first.period}, "
            f"which overlaps {period}, drawn by {first.created_by} at {at} (Beijing time): "
            "a day of a district is drawn once; inspect the enterprises that plan drew, "
            "or draw a period it does not cover",
            f"{place_zh}已有 {first.period} 的抽查计划 {first.id}（{first.created_by} "
            f"于北京时间 {at} 抽取），与 {period} 重叠：同一区的同一时段只抽取一次，"
            "请按该计划抽中的企业检查，或抽取该计划未覆盖的期间",
        )
        field = msg(
            f"overlaps {first.period}, already drawn for district {place_en}: plan {first.id}",
            f"与{place_zh}已抽取的 {first.period} 重叠：抽查计划 {first.id}",
        )
    raise Conflict(
        detail,
        errors=[FieldError(field="period", message=field)],
        reason="plan_exists",
        existing_plan={
            "id": first.id,
            "district": district,
            "period": first.period,
            "created_by": first.created_by,
            "created_at": first.created_at.isoformat(),
        },
    )
