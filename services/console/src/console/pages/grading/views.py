"""What the grading page shows of supervision-svc's answers (pure
functions): enterprises' performance grades for heavy-pollution-weather
measures (绩效分级), the guarantee list (保障类正面清单) and an enterprise's
own measures per alert level (一厂一策), each in words; and the bodies of
the forms that set a grade, put an enterprise on the guarantee list or
record its plant plan."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from svc_common.i18n import msg

from console.actions import Outcome, refused
from console.web import worded

#: A grade as supervision-svc names it (its `Grade`; rules.GRADE_ZH).
GRADES = {
    "A": ("grade A", "A级"),
    "B": ("grade B", "B级"),
    "C": ("grade C", "C级"),
    "D": ("grade D", "D级"),
    "leading": ("leading", "引领性"),
}
#: A benchmark (its `Benchmark`; rules.BENCHMARK_ZH): "none" is said as nothing.
BENCHMARKS = {
    "national": ("national benchmark", "国家标杆"),
    "tianjin": ("Tianjin benchmark", "天津市标杆"),
    "none": ("not a benchmark", "非标杆"),
}
#: Why an enterprise is on the guarantee list (its `GuaranteeReason`;
#: rules.GUARANTEE_ZH).
REASONS = {
    "livelihood": ("people's livelihood", "民生保障"),
    "national_strategy": ("national strategy", "国家战略"),
    "international_competition": ("international competition", "国际竞争"),
    "major_project": ("major project", "重大工程"),
}
#: Alert levels, in their order (rules.LEVELS; LEVEL_ZH).
LEVELS = {
    "yellow": ("yellow alert", "黄色预警"),
    "orange": ("orange alert", "橙色预警"),
    "red": ("red alert", "红色预警"),
}
#: A measure's kinds (its `MeasureSpec.kind`).
KINDS = {
    "none": ("no measure", "不采取措施"),
    "reduce": ("reduce output", "限产"),
    "stop_processes": ("stop processes", "停产部分工序"),
    "stop": ("stop production", "停产"),
}
#: The most grades a page lists (one page of supervision-svc's list).
GRADES_SHOWN = 50
#: What the grade form and the guarantee form ask that people type.
GRADE_FIELDS = ("grade", "benchmark", "industry", "valid_from", "valid_to", "basis")
GUARANTEE_FIELDS = ("reason", "valid_from", "valid_to", "kind", "percent", "processes", "note")
PLAN_FIELDS = ("level", "kind", "percent", "processes", "note")


def grade_label(grade: str) -> str:
    return worded(GRADES, grade)


def benchmark_label(benchmark: str) -> str:
    """A benchmark in words; "" for none (a grade says enough)."""
    return "" if benchmark in ("", "none", None) else worded(BENCHMARKS, benchmark)


def reason_label(reason: str) -> str:
    return worded(REASONS, reason)


def level_label(level: str) -> str:
    return worded(LEVELS, level)


def measure_said(measure: Any) -> str:
    """A measure (supervision-svc's MeasureSpec as JSON) in words: 限产 30%,
    停产部分工序：喷涂、烘干 (约 40%), 停产, 不采取措施."""
    if not isinstance(measure, Mapping):
        return ""
    kind = str(measure.get("kind") or "")
    said = worded(KINDS, kind)
    percent = measure.get("percent")
    processes = measure.get("processes")
    names = [str(p) for p in processes] if isinstance(processes, list) else []
    if kind == "reduce" and percent is not None:
        return f"{said} {percent}%"
    if kind == "stop_processes":
        listed = msg(", ", "、").join(names)
        tail = msg(f" (about {percent}%)", f"（约 {percent}%）") if percent is not None else ""
        return f"{said}{msg(': ', '：')}{listed}{tail}"
    return said


def grade_rows(grades: Iterable[Any]) -> list[dict[str, Any]]:
    """The grades in supervision-svc's order (by USCC), each a mapping."""
    return [dict(g) for g in grades if isinstance(g, Mapping)]


def guarantee_rows(entries: Iterable[Any]) -> list[dict[str, Any]]:
    """The guarantee list in supervision-svc's order, each with what it may
    be asked to do in an alert in words."""
    return [
        {**g, "measure": measure_said(g.get("allowed_measure"))}
        for g in entries
        if isinstance(g, Mapping)
    ]


def plant_plan_rows(plans: Iterable[Any]) -> list[dict[str, Any]]:
    """An enterprise's own measures (一厂一策), by alert level (yellow,
    orange, red), each with its measure in words."""
    order = list(LEVELS)
    rows = [
        {**p, "measure_said": measure_said(p.get("measure"))}
        for p in plans
        if isinstance(p, Mapping)
    ]
    return sorted(rows, key=lambda p: order.index(p["level"]) if p.get("level") in order else 9)


def _typed(value: str) -> str:
    """What was typed, letters and digits typed full-width (a Chinese IME)
    read as ASCII ones."""
    return unicodedata.normalize("NFKC", value).strip()


def _period(typed: Mapping[str, str]) -> tuple[dict[str, str] | None, Outcome | None]:
    """The validity typed (two calendar dates), or its refusal naming the
    date; its rules (not after the end, at most ten years) are
    supervision-svc's."""
    days = {}
    for name, words in (
        ("valid_from", ("valid from", "有效期起")),
        ("valid_to", ("valid to", "有效期止")),
    ):
        value = _typed(typed.get(name, ""))
        try:
            days[name] = dt.date.fromisoformat(value).isoformat()
        except ValueError:
            return None, refused(
                msg(
                    f"enter the {words[0]} date as YYYY-MM-DD",
                    f"请按 YYYY-MM-DD 填写{words[1]}日期",
                ),
                name,
            )
    return days, None


def grade_body(typed: Mapping[str, str]) -> tuple[dict[str, Any] | None, Outcome | None]:
    """The body of `PUT /supervision/grades/{uscc}` from the grade form, or
    its refusal naming the field (nothing is sent then): a grade, a
    benchmark (none by default), the industry, the validity and the basis
    (评级依据)."""
    grade = typed.get("grade", "").strip()
    if grade not in GRADES:
        return None, refused(msg("choose a grade", "请选择绩效等级"), "grade")
    benchmark = typed.get("benchmark", "").strip() or "none"
    if benchmark not in BENCHMARKS:
        return None, refused(msg("choose a benchmark, or none", "请选择标杆类别"), "benchmark")
    industry = typed.get("industry", "").strip()
    if not industry:
        return None, refused(msg("enter the industry", "请填写行业"), "industry")
    days, problem = _period(typed)
    if days is None:
        return None, problem
    basis = typed.get("basis", "").strip()
    if not basis:
        return None, refused(msg("say what the grade is based on", "请填写评级依据"), "basis")
    return {
        "grade": grade,
        "benchmark": benchmark,
        "industry": industry,
        **days,
        "basis": basis,
    }, None


def guarantee_body(typed: Mapping[str, str]) -> tuple[dict[str, Any] | None, Outcome | None]:
    """The body of `PUT /supervision/guarantee-list/{uscc}` from the
    guarantee form, or its refusal naming the field (nothing is sent then): why it
    is listed, the validity, the most it may be asked to do in an alert (a
    reduction by a percentage, stopping named processes — a line or 、 each —
    or none) and a note if any."""
    reason = typed.get("reason", "").strip()
    if reason not in REASONS:
        return None, refused(msg("choose why it is listed", "请选择纳入原因"), "reason")
    days, problem = _period(typed)
    if days is None:
        return None, problem
    measure, problem = _measure(typed, msg("choose the measure allowed", "请选择可采取的措施"))
    if measure is None:
        return None, problem
    note = typed.get("note", "").strip()
    return {"reason": reason, **days, "allowed_measure": measure, "note": note or None}, None


def plant_plan_body(typed: Mapping[str, str]) -> tuple[dict[str, Any] | None, Outcome | None]:
    """The body of `PUT /supervision/plant-plans/{uscc}` from the plant plan
    form (一厂一策), or its refusal naming the field (nothing is sent then): the
    alert level, the enterprise's own measure at it (as the guarantee
    form's: a reduction by a percentage, processes stopped, production
    stopped, or none) and the note supervision-svc requires."""
    level = typed.get("level", "").strip()
    if level not in LEVELS:
        return None, refused(msg("choose the alert level", "请选择预警级别"), "level")
    measure, problem = _measure(typed, msg("choose the measure", "请选择减排措施"))
    if measure is None:
        return None, problem
    note = typed.get("note", "").strip()
    if not note:
        return None, refused(
            msg("say what the plan asks of the enterprise", "请填写措施说明"), "note"
        )
    return {"level": level, "measure": measure, "note": note}, None


def _measure(typed: Mapping[str, str], ask: str) -> tuple[dict[str, Any] | None, Outcome | None]:
    """A measure as supervision-svc takes it (its `MeasureSpec`) from a
    form's kind, percent and processes, or their refusal naming the field
    (`ask` when no kind is chosen)."""
    kind = typed.get("kind", "").strip()
    if kind not in KINDS:
        return None, refused(ask, "kind")
    measure: dict[str, Any] = {"kind": kind}
    percent = _typed(typed.get("percent", "")).rstrip("%").strip()
    if kind in ("reduce", "stop_processes") and percent:
        if not percent.isascii() or not percent.isdigit():
            return None, refused(
                msg("the reduction is a whole percentage", "限产比例应为整数百分比"), "percent"
            )
        measure["percent"] = int(percent)
    elif kind == "reduce":
        return None, refused(msg("enter the reduction (%)", "请填写限产比例"), "percent")
    if kind == "stop_processes":
        raw = typed.get("processes", "").replace("、", "\n").replace("，", "\n").replace(",", "\n")
        measure["processes"] = [p.strip() for p in raw.splitlines() if p.strip()]
        if not measure["processes"]:
            return None, refused(msg("name the processes stopped", "请填写停产工序"), "processes")
    return measure, None
