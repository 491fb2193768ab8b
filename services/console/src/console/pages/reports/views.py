"""What the supervision reports page (监管统计) shows of supervision-svc's
reports (pure functions): the period asked for, each report's figures in
words, and each as a spreadsheet."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from svc_common.guard import typed_code
from svc_common.i18n import msg

from console.filters import repeated_filters
from console.pages.complaints.views import category_label
from console.sheets import Sheet
from console.web import district_name


@dataclass(frozen=True)
class Report:
    """One of supervision-svc's reports: where it is read, what it is
    called, and its figures in its order, each by its field and words."""

    path: str
    title: tuple[str, str]
    figures: tuple[tuple[str, tuple[str, str]], ...]
    #: Whether it is of a period (`from`, `to`); the demands list's is of
    #: the list as it stands now.
    period: bool = True


#: The reports in the page's order (supervision-svc's `ComplaintReport`,
#: `EnforcementReport`, `DemandReport`), each at `/console/reports/<name>.xlsx`.
REPORTS = {
    "complaints": Report(
        "/supervision/reports/complaints",
        ("12369 complaints", "12369 环保投诉"),
        (
            ("received", ("received", "收到投诉")),
            ("rejected", ("not accepted", "不予受理")),
            ("accepted", ("accepted", "有效投诉受理")),
            ("closed", ("closed", "办结")),
            ("closure_rate_percent", ("closure rate (%)", "办结率（%）")),
            ("overdue", ("overdue", "超期")),
            ("repeated", ("reported more than once", "重复反映")),
        ),
    ),
    "enforcement": Report(
        "/supervision/reports/enforcement",
        ("Inspections and enforcement", "执法检查与立案查处"),
        (
            ("inspections", ("inspections", "检查次数")),
            ("enterprises_inspected", ("enterprises inspected", "检查企业")),
            ("problems_found", ("problems found", "发现问题")),
            ("cases_filed", ("cases filed", "立案查处")),
            ("cases_decided", ("cases decided", "已决定")),
            ("cases_closed", ("cases closed", "已结案")),
        ),
    ),
    "demands": Report(
        "/supervision/reports/demands",
        ("The public's demands list", "群众诉求清单"),
        (
            ("total", ("items", "汇集")),
            ("done", ("done", "已完成")),
            ("in_progress", ("in progress", "稳步推进中")),
            ("overdue", ("overdue", "已超期")),
        ),
        period=False,
    ),
}
#: The complaints report's figures by category, as its table's columns.
CATEGORY_FIGURES = (
    ("received", ("received", "收到")),
    ("accepted", ("accepted", "受理")),
    ("closed", ("closed", "办结")),
    ("repeated", ("reported more than once", "重复反映")),
)


def default_period(today: dt.date) -> tuple[dt.date, dt.date]:
    """This month (Beijing dates): its first day to today."""
    return today.replace(day=1), today


def _day(typed: str) -> dt.date | None:
    text = unicodedata.normalize("NFKC", typed).strip()
    try:
        return dt.date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None


def period_of(
    start: str, end: str, today: dt.date
) -> tuple[tuple[dt.date, dt.date] | None, dict[str, str]]:
    """The period the form asks for (this month when it asks none), or why
    each field is refused (nothing is asked of supervision-svc then): a
    date is YYYY-MM-DD (digits typed full-width are read); `from` not after
    `to`. A period supervision-svc refuses (longer than ten years) is its
    refusal, said beside the form."""
    first, last = default_period(today)
    problems: dict[str, str] = {}
    said = msg("write a date as YYYY-MM-DD", "日期格式应为 YYYY-MM-DD")
    a = _day(start) if start.strip() else first
    b = _day(end) if end.strip() else last
    if a is None:
        problems["from"] = said
    if b is None:
        problems["to"] = said
    if a is not None and b is not None and a > b:
        problems["from"] = msg(
            "the first day must not be after the last", "起始日期不得晚于截止日期"
        )
    if problems or a is None or b is None:
        return None, problems
    return (a, b), {}


def district_of(given: Sequence[str], visible: Sequence[str]) -> tuple[str, dict[str, str]]:
    """The district the form asks the reports of ("" for all the user's),
    or why it is refused (nothing is asked of supervision-svc then): one
    of `visible`, the districts the user may see (typed full-width or with
    spaces around it, read as its code); one the address gives twice picks
    none (`repeated_filters`)."""
    problems = repeated_filters({"district": given})
    if problems:
        return "", problems
    code = typed_code(given[0]) if given else ""
    if code and code not in visible:
        return "", {"district": msg("choose one of your districts", "请选择您可查看的区")}
    return code, {}


def figures(name: str, report: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """A report's figures in its order, each by its words; a rate the
    service has none for (nothing accepted) is "—"."""
    rows = []
    for key, words in REPORTS[name].figures:
        value = report.get(key)
        rows.append((msg(*words), "—" if value is None else value))
    return rows


def by_category(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The complaints report's figures by category, each named in words."""
    found = report.get("by_category")
    return [
        {**c, "label": category_label(str(c.get("category") or ""))}
        for c in (found if isinstance(found, list) else [])
        if isinstance(c, Mapping)
    ]


def scope_said(report: Mapping[str, Any], districts: Sequence[str]) -> str:
    """Whose figures they are: the district the report is of, else the
    user's districts, else the whole city."""
    if report.get("district"):
        return district_name(str(report["district"]))
    if districts:
        return msg(", ", "、").join(district_name(d) for d in districts)
    return msg("the whole city", "全市")


def sheet(
    name: str, report: Mapping[str, Any], period: tuple[dt.date, dt.date], scope: str
) -> list[Sheet]:
    """A report as the sheets of its spreadsheet: its figures (what and of
    whom above them), and for the complaints report its categories'."""
    r = REPORTS[name]
    when = (
        msg(f"Period: {period[0]} to {period[1]}", f"统计期间：{period[0]} 至 {period[1]}")
        if r.period
        else msg("As it stands now", "截至当前")
    )
    above = [msg(*r.title), msg(f"Of: {scope}", f"范围：{scope}"), when]
    head = [msg("Figure", "指标"), msg("Value", "数值")]
    rows = [[label, _number(v)] for label, v in figures(name, report)]
    out = [Sheet(msg(*r.title), head, rows, above=above)]
    if name == "complaints":
        cats = by_category(report)
        out.append(
            Sheet(
                msg("By category", "按类别"),
                [msg("Category", "类别"), *(msg(*w) for _, w in CATEGORY_FIGURES)],
                [[c["label"], *(_number(c.get(k)) for k, _ in CATEGORY_FIGURES)] for c in cats],
                above=above,
            )
        )
    return out


def _number(v: Any) -> Any:
    """A figure as a spreadsheet number: a count as it is, a rate (the API's
    decimal text, "97.3") as an exact Decimal."""
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int):
        return v
    try:
        d = Decimal(str(v))
    except ArithmeticError:
        return v
    return d if d.is_finite() else v
