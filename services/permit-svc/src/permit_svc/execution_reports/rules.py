"""Pure rules of permit execution reports (排污许可证执行报告).

A permit owes a report for each period of the frequencies its management
category owes (年度执行报告, 季度执行报告, 月度执行报告): key management
(重点管理) annual and quarterly, simplified management (简化管理) annual only;
a registration (排污登记) owes none. Each is due on the 15th of the month
after its period: an annual report by 15 January of the next year. Days
are Beijing days (svc_common.calendar, read from the one clock)."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from svc_common.i18n import msg
from svc_common.types import kg_to_tonnes

from permit_svc.calendar import add_years
from permit_svc.enterprises.rules import CATEGORY_ZH

Frequency = Literal["annual", "quarterly", "monthly"]
FindingCode = Literal["over_permitted", "quarters_over_permitted", "months_over_permitted"]

#: The frequencies each management category owes. Monthly reports (月度执行报告)
#: are a frequency of the rules that no category owes by default.
FREQUENCIES: dict[str, tuple[Frequency, ...]] = {
    "key": ("annual", "quarterly"),
    "simplified": ("annual",),
    "registration": (),
}
#: A report is due by this day of the month after its period.
DUE_DAY = 15
#: Permit statuses that owe reports and appear on the missed-report list.
OWING = ("issued", "suspended")
#: Permit statuses that may file: every permit that was ever issued (a
#: report of a period it was in force is still owed after it ended).
MAY_FILE = ("issued", "suspended", "revoked", "cancelled", "expired")

#: `2025` (annual), `2025-Q3` (quarterly), `2025-07` (monthly).
PERIOD_PATTERN = r"^[1-9][0-9]{3}(-Q[1-4]|-(0[1-9]|1[0-2]))?$"
_PERIOD = re.compile(PERIOD_PATTERN)
#: The words of each frequency and finding (English, Chinese).
FREQUENCY_WORDS: dict[str, tuple[str, str]] = {
    "annual": ("annual", "年度"),
    "quarterly": ("quarterly", "季度"),
    "monthly": ("monthly", "月度"),
}


@dataclass(frozen=True)
class Period:
    """One reporting period: a year, a quarter (1–4) or a month (1–12)."""

    frequency: Frequency
    year: int
    number: int = 0

    @property
    def code(self) -> str:
        if self.frequency == "annual":
            return f"{self.year:04d}"
        if self.frequency == "quarterly":
            return f"{self.year:04d}-Q{self.number}"
        return f"{self.year:04d}-{self.number:02d}"

    @property
    def first_day(self) -> dt.date:
        if self.frequency == "annual":
            return dt.date(self.year, 1, 1)
        if self.frequency == "quarterly":
            return dt.date(self.year, 3 * self.number - 2, 1)
        return dt.date(self.year, self.number, 1)

    @property
    def last_day(self) -> dt.date:
        # Within its month, never from the day after it: the last period of
        # the calendar (9999-12-31) has no day after it.
        month = self._last_month
        return month.replace(day=calendar.monthrange(month.year, month.month)[1])

    @property
    def due_date(self) -> dt.date:
        """The 15th of the month after the period (annual: 15 January next year)."""
        return _first_of_next_month(self._last_month).replace(day=DUE_DAY)

    @property
    def _last_month(self) -> dt.date:
        if self.frequency == "annual":
            return dt.date(self.year, 12, 1)
        if self.frequency == "quarterly":
            return dt.date(self.year, 3 * self.number, 1)
        return dt.date(self.year, self.number, 1)


def _first_of_next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def parse_period(text: str) -> Period | None:
    """The period a code names, or None when it names none."""
    if not _PERIOD.fullmatch(text):
        return None
    year = int(text[:4])
    if len(text) == 4:
        return Period("annual", year)
    if text[5] == "Q":
        return Period("quarterly", year, int(text[6]))
    return Period("monthly", year, int(text[5:]))


def periods_of(frequency: Frequency, year: int) -> list[Period]:
    if frequency == "annual":
        return [Period("annual", year)]
    if frequency == "quarterly":
        return [Period("quarterly", year, q) for q in range(1, 5)]
    return [Period("monthly", year, m) for m in range(1, 13)]


def owed_periods(
    category: str, validity_start: dt.date, validity_end: dt.date | None, today: dt.date
) -> list[Period]:
    """The periods a permit owes reports for that have ended by `today`:
    those of its category's frequencies holding a day of its validity (from
    `validity_start`, the first day of its unbroken validity, to
    `validity_end`), ordered by code. The years walked stop at the
    validity's end: no period after it is owed, whatever day is asked."""
    owed: list[Period] = []
    last_year = today.year if validity_end is None else min(today.year, validity_end.year)
    for frequency in FREQUENCIES.get(category, ()):
        for year in range(validity_start.year, last_year + 1):
            for p in periods_of(frequency, year):
                if p.last_day < validity_start or p.last_day >= today:
                    continue
                if validity_end is not None and p.first_day > validity_end:
                    continue
                owed.append(p)
    return sorted(owed, key=lambda p: p.code)


def missed_periods(
    category: str,
    validity_start: dt.date,
    validity_end: dt.date | None,
    today: dt.date,
    filed: set[str],
    owed_from: dt.date | None = None,
) -> list[Period]:
    """Periods owed whose due date has passed by `today` (the due day itself
    is in time) with no report filed (逾期未报), ordered by code; none that
    ended before `owed_from`, the day the register began to follow them."""
    return [
        p
        for p in owed_periods(category, validity_start, validity_end, today)
        if p.due_date < today
        and p.code not in filed
        and (owed_from is None or p.last_day >= owed_from)
    ]


#: How far ahead of today the missed-report list may be judged (`as_of`):
#: a day further is a typing error, and one such as 9999-12-30 made the list
#: walk every period of every permit up to it.
AS_OF_YEARS_AHEAD = 1


def as_of_refusal(as_of: dt.date, today: dt.date) -> str | None:
    """Why the missed-report list cannot be judged on `as_of`, or None: more
    than AS_OF_YEARS_AHEAD years after `today`."""
    latest = add_years(today, AS_OF_YEARS_AHEAD)
    if as_of <= latest:
        return None
    return msg(
        f"must be at most {AS_OF_YEARS_AHEAD} year after today ({latest.isoformat()} at the "
        f"latest; it is {as_of.isoformat()})",
        f"不得晚于今天起 {AS_OF_YEARS_AHEAD} 年（最晚 {latest.isoformat()}；"
        f"给出的是 {as_of.isoformat()}）",
    )


def is_late(period: Period, filed_on: dt.date) -> bool:
    """Filed after its due date (the due day itself is in time)."""
    return filed_on > period.due_date


def period_refusal(
    period: Period,
    category: str,
    validity_start: dt.date,
    validity_end: dt.date | None,
    today: dt.date,
) -> str | None:
    """Why a report cannot be filed for `period`, or None."""
    owed = FREQUENCIES.get(category, ())
    if period.frequency not in owed:
        en_owed = ", ".join(owed) or "none"
        zh_owed = "、".join(FREQUENCY_WORDS[f][1] for f in owed) or "无"
        return msg(
            f"a permit under {category} management owes no {period.frequency} reports "
            f"(it owes: {en_owed})",
            f"{CATEGORY_ZH.get(category, category)}的许可证无需提交"
            f"{FREQUENCY_WORDS[period.frequency][1]}执行报告"
            f"（应提交：{zh_owed}）",
        )
    if period.last_day >= today:
        return msg(
            f"period {period.code} has not ended yet: it ends on {period.last_day.isoformat()}",
            f"报告期 {period.code} 尚未结束：结束于 {period.last_day.isoformat()}",
        )
    if period.last_day < validity_start:
        return msg(
            f"period {period.code} ended before the permit's validity began "
            f"({validity_start.isoformat()})",
            f"报告期 {period.code} 早于许可证有效期（自 {validity_start.isoformat()} 起）",
        )
    if validity_end is not None and period.first_day > validity_end:
        return msg(
            f"period {period.code} began after the permit's validity ended "
            f"({validity_end.isoformat()})",
            f"报告期 {period.code} 晚于许可证有效期（至 {validity_end.isoformat()} 止）",
        )
    return None


def unlimited_pollutants(reported: list[str], permitted: dict[str, int]) -> list[int]:
    """Positions of the reported pollutants the permit sets no amount for."""
    return [i for i, p in enumerate(reported) if p not in permitted]


@dataclass(frozen=True)
class Finding:
    """A plausibility finding on a filed report: it is accepted, and flagged."""

    code: FindingCode
    pollutant: str
    reported_kg: int
    permitted_kg: int

    def message(self) -> str:
        reported, permitted = kg_to_tonnes(self.reported_kg), kg_to_tonnes(self.permitted_kg)
        if self.code == "over_permitted":
            return msg(
                f"{self.pollutant}: {reported} t reported is above the permitted {permitted} t/a",
                f"{self.pollutant}：实际排放量 {reported} 吨超过许可排放量 {permitted} 吨/年"
                "（超许可排放量）",
            )
        quarters = self.code == "quarters_over_permitted"
        part_en, part_zh = ("quarters", "季度") if quarters else ("months", "月度")
        return msg(
            f"{self.pollutant}: the year's {part_en} reported sum to {reported} t, above the "
            f"permitted {permitted} t/a",
            f"{self.pollutant}：本年度各{part_zh}报告合计 {reported} 吨，超过许可排放量 "
            f"{permitted} 吨/年（超许可排放量）",
        )


def findings(
    period: Period,
    emissions: dict[str, int],
    permitted: dict[str, int],
    rest_of_year: dict[str, int],
) -> list[Finding]:
    """Plausibility findings of a report of `period` (kg): an annual amount
    above the permitted amount; for a quarter (a month), the year's reports
    of that frequency (`rest_of_year`: the others' current amounts, summed)
    together above it. Pollutants the permit does not limit are refused
    before (`unlimited_pollutants`)."""
    out: list[Finding] = []
    for pollutant, kg in emissions.items():
        limit = permitted.get(pollutant)
        if limit is None:
            continue
        if period.frequency == "annual":
            if kg > limit:
                out.append(Finding("over_permitted", pollutant, kg, limit))
            continue
        total = kg + rest_of_year.get(pollutant, 0)
        if total > limit:
            code: FindingCode = (
                "quarters_over_permitted"
                if period.frequency == "quarterly"
                else "months_over_permitted"
            )
            out.append(Finding(code, pollutant, total, limit))
    return out
