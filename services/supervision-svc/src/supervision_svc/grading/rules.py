"""Pure rules of heavy-pollution weather measures (重污染天气应急减排):
the tier an enterprise falls in, the measure it is required to take and why,
and the reduction that measure is expected to bring.

The reasons (`why`) are in the caller's language (svc_common.i18n): the
Chinese names the bureau uses, or the English as the API always wrote it.

Resolution order: the policy table's measure for the alert level and the
enterprise's tier (a benchmark outranks its grade: 达到国家标杆 … 不停产、
不限产; 达到天津市标杆 … 少减产、少限产); a per-plant plan (一厂一策) for
that level replaces it; the guarantee list (保障性清单) then caps it at its
allowed measure (不限产或少限产), never making it stricter. "Milder" and
"stricter" are judged by what the plant must cut (`Measure.severity`: the
share of emissions first, the kind of measure only at the same share).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

from svc_common.i18n import msg

Level = Literal["yellow", "orange", "red"]
LEVELS: tuple[str, ...] = ("yellow", "orange", "red")
TIERS: tuple[str, ...] = (
    "benchmark_national",
    "benchmark_tianjin",
    "leading",
    "A",
    "B",
    "C",
    "D",
    "ungraded",
)
KINDS: tuple[str, ...] = ("none", "reduce", "stop_processes", "stop")
SECONDS_PER_YEAR = 365 * 86400

#: Chinese names of the codes the reasons mention (an unknown code is shown as it is).
LEVEL_ZH = {"yellow": "黄色预警", "orange": "橙色预警", "red": "红色预警"}
GRADE_ZH = {"A": "A级", "B": "B级", "C": "C级", "D": "D级", "leading": "引领性"}
TIER_ZH = {
    "benchmark_national": "国家标杆",
    "benchmark_tianjin": "天津市标杆",
    "ungraded": "未评级",
    **GRADE_ZH,
}
#: A graded enterprise that is no benchmark is "none": in Chinese 非标杆, never
#: the code (the measures CSV shows it to district teams).
BENCHMARK_ZH = {"national": "国家标杆", "tianjin": "天津市标杆", "none": "非标杆"}
GUARANTEE_ZH = {
    "livelihood": "民生保障",
    "national_strategy": "国家战略",
    "international_competition": "国际竞争",
    "major_project": "重大工程",
}


@dataclass(frozen=True)
class Measure:
    """none | reduce by `percent` | stop the listed processes (cutting
    `percent` of emissions if known) | stop."""

    kind: str
    percent: int | None = None
    processes: tuple[str, ...] = ()

    @classmethod
    def of(cls, data: dict[str, Any]) -> Measure:
        return cls(data["kind"], data.get("percent"), tuple(data.get("processes") or ()))

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.percent is not None:
            out["percent"] = self.percent
        if self.processes:
            out["processes"] = list(self.processes)
        return out

    def share_percent(self, stop_processes_default: int) -> int:
        """The share of emissions the measure cuts."""
        if self.kind == "none":
            return 0
        if self.kind == "stop":
            return 100
        if self.kind == "reduce":
            return self.percent or 0
        return self.percent or stop_processes_default

    def severity(self, stop_processes_default: int) -> tuple[int, int]:
        """How hard the measure is on the plant, for "milder" and "stricter":
        first the share of emissions it must cut (`share_percent`: stopping
        listed processes cuts the share stated, else the default), then, at
        the same share, the kind (none < reduce < stop listed processes <
        stop: reducing by 50 % is milder than stopping the processes that
        make 50 %). So stopping 喷涂 at 30 % is milder than reducing by 60 %,
        although stopping processes is the harder kind of measure."""
        return (self.share_percent(stop_processes_default), KINDS.index(self.kind))

    def describe(self) -> str:
        """In English."""
        if self.kind == "reduce":
            return f"reduce {self.percent}%"
        if self.kind == "stop_processes":
            listed = ", ".join(self.processes) or "listed processes"
            return f"stop {listed}"
        return self.kind

    def describe_zh(self) -> str:
        if self.kind == "reduce":
            return f"减排 {self.percent}%"
        if self.kind == "stop_processes":
            return "停止" + ("、".join(self.processes) or "所列工序")
        return {"none": "无减排要求", "stop": "停产"}.get(self.kind, self.kind)

    def said(self) -> str:
        """In the caller's language."""
        return msg(self.describe(), self.describe_zh())


def tier_of(grade: str | None, benchmark: str | None) -> str:
    if benchmark == "national":
        return "benchmark_national"
    if benchmark == "tianjin":
        return "benchmark_tianjin"
    return grade if grade in TIERS else "ungraded"


@dataclass(frozen=True)
class Required:
    measure: Measure
    tier: str
    why: list[str]


def required_measure(
    level: str,
    grade: str | None,
    benchmark: str | None,
    policy: dict[tuple[str, str], Measure],
    plan: Measure | None = None,
    guarantee: tuple[str, Measure] | None = None,
    stop_processes_default: int = 50,
) -> Required:
    """The measure an enterprise must take at alert `level`, and why.

    The guarantee list caps the measure (保障类清单：不限产或少限产): its allowed
    measure replaces the one required only when it is milder by `Measure.severity`,
    that is when it cuts a smaller share of emissions (or the same share by
    a milder kind of measure). It never makes a measure stricter: an allowed
    "reduce 60 %" leaves a plan's "stop 喷涂 (30 %)" as it is."""
    tier = tier_of(grade, benchmark)
    measure = policy[(level, tier)]
    level_zh = LEVEL_ZH.get(level, level)
    graded = f"grade {grade}" if grade else "no grade"
    graded_zh = f"绩效分级 {GRADE_ZH.get(grade, grade)}" if grade else "未评级"
    if benchmark and benchmark != "none":
        graded += f", {benchmark} benchmark"
        graded_zh += f"，{BENCHMARK_ZH.get(benchmark, benchmark)}"
    why = [
        msg(
            f"{graded} → tier {tier}: policy at {level} requires {measure.describe()}",
            f"{graded_zh} → 适用{TIER_ZH.get(tier, tier)}档，"
            f"{level_zh}时按政策表：{measure.describe_zh()}",
        )
    ]
    if plan is not None:
        measure = plan
        why.append(
            msg(
                f"per-plant plan (一厂一策) at {level}: {plan.describe()}",
                f"一厂一策（{level_zh}）：{plan.describe_zh()}",
            )
        )
    if guarantee is not None:
        reason, allowed = guarantee
        listed = f"guarantee list ({reason})"
        listed_zh = f"保障类清单（{GUARANTEE_ZH.get(reason, reason)}）"
        if allowed.severity(stop_processes_default) < measure.severity(stop_processes_default):
            measure = allowed
            why.append(
                msg(
                    f"{listed}: at most {allowed.describe()}",
                    f"{listed_zh}：至多{allowed.describe_zh()}",
                )
            )
        else:
            why.append(
                msg(
                    f"{listed}: allows {allowed.describe()}, no easing needed",
                    f"{listed_zh}：允许{allowed.describe_zh()}，无需放宽",
                )
            )
    return Required(measure, tier, why)


def no_permit() -> str:
    """The reason added for an enterprise with no permit in force."""
    return msg(
        "no permit in force: no permitted amounts to reduce",
        "无有效排污许可证：没有可削减的许可排放量",
    )


def expected_reduction_kg(
    permitted_kg_per_year: int, share_percent: int, starts: dt.datetime, ends: dt.datetime
) -> int:
    """Permitted annual amount × the share cut × the alert's share of a year,
    in whole kilograms (rounded half up), computed exactly."""
    seconds = max(0, int((ends - starts).total_seconds()))
    exact = Fraction(permitted_kg_per_year * share_percent * seconds, 100 * SECONDS_PER_YEAR)
    return int(exact + Fraction(1, 2)) if exact else 0


#: The table shipped as the first version (effective 2020-01-01), so measures
#: can be computed before an administrator sets the bureau's own: benchmarks
#: and leading enterprises keep producing; Tianjin benchmarks cut less;
#: lower grades cut more; D stops.
DEFAULT_POLICY: dict[str, dict[str, dict[str, Any]]] = {
    "benchmark_national": {lv: {"kind": "none"} for lv in LEVELS},
    "leading": {lv: {"kind": "none"} for lv in LEVELS},
    "benchmark_tianjin": {
        "yellow": {"kind": "none"},
        "orange": {"kind": "reduce", "percent": 10},
        "red": {"kind": "reduce", "percent": 20},
    },
    "A": {
        "yellow": {"kind": "none"},
        "orange": {"kind": "reduce", "percent": 10},
        "red": {"kind": "reduce", "percent": 20},
    },
    "B": {
        "yellow": {"kind": "reduce", "percent": 10},
        "orange": {"kind": "reduce", "percent": 20},
        "red": {"kind": "reduce", "percent": 30},
    },
    "C": {
        "yellow": {"kind": "reduce", "percent": 20},
        "orange": {"kind": "reduce", "percent": 30},
        "red": {"kind": "reduce", "percent": 50},
    },
    "D": {
        "yellow": {"kind": "stop_processes", "processes": ["涉VOCs排放工序"], "percent": 50},
        "orange": {"kind": "stop"},
        "red": {"kind": "stop"},
    },
    "ungraded": {
        "yellow": {"kind": "reduce", "percent": 20},
        "orange": {"kind": "reduce", "percent": 30},
        "red": {"kind": "stop_processes", "processes": ["涉VOCs排放工序"], "percent": 50},
    },
}
DEFAULT_POLICY_FROM = dt.date(2020, 1, 1)
#: The shipped table's note (English, Chinese). The English is what the
#: table's row holds (as it always has); an answer gives it in the caller's
#: language (`service.policy_note`).
DEFAULT_POLICY_NOTE = (
    "shipped default; an administrator sets the bureau's own",
    "系统预置的默认应急减排措施表；本局的措施表由管理员设置",
)


def default_rules() -> list[dict[str, Any]]:
    return [
        {"level": lv, "tier": tier, "measure": DEFAULT_POLICY[tier][lv]}
        for tier in TIERS
        for lv in LEVELS
    ]


def policy_table(rules: list[dict[str, Any]]) -> dict[tuple[str, str], Measure]:
    return {(r["level"], r["tier"]): Measure.of(r["measure"]) for r in rules}


def missing_rules(rules: list[dict[str, Any]]) -> list[str]:
    have = {(r["level"], r["tier"]) for r in rules}
    return [f"{lv}/{t}" for t in TIERS for lv in LEVELS if (lv, t) not in have]


def policy_start_problem(effective_from: dt.date, today: dt.date) -> str | None:
    """Why a policy table cannot take effect from `effective_from`, or None.
    A table takes effect today (Beijing) or later: one dated before today
    would change the measures of alerts already issued (an alert's measures
    are the table in force on its first day, `policy_effective_from`), so
    the history would no longer say what was required then."""
    if effective_from < today:
        return msg(
            f"must not be before today ({today}, Beijing time): a table takes effect "
            "today or later, so alerts already issued keep the measures of the table "
            "in force then",
            f"不得早于今天（北京时间 {today}）：措施表自今天或以后生效，"
            "已发布预警的减排措施仍按当时有效的措施表",
        )
    return None


def says_the_same(recorded: Mapping[str, Any], given: Mapping[str, Any]) -> bool:
    """Whether what a PUT gives says exactly what the record in force says:
    a grading (grade, benchmark, industry, validity, basis), a guarantee
    list entry (保障性清单: reason, validity, the measure allowed, note).
    Then it changes nothing, whoever sends it again (a retry, or the same
    PUT twice at once): no second record, event or audit entry. One that
    differs in anything is a new record, even one going back to an earlier
    grade."""
    return all(recorded.get(k) == v for k, v in given.items())
