"""Execution reports (排污许可证执行报告) in words: a report's period
(permit-svc's code, `2025`, `2025-Q3`, `2025-07`) as people say it, and
the missed-report list's rows (pure functions)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from svc_common.i18n import msg

#: How many missed periods a page of the list shows.
MISSED_SHOWN = 50

_PERIOD = re.compile(r"([0-9]{4})(?:-Q([1-4])|-([0-9]{2}))?")


def period_words(code: str) -> str:
    """A period as people say it: 2025年度, 2025年第3季度, 2025年7月; a
    code that is none of these is shown as it is."""
    m = _PERIOD.fullmatch(code)
    if m is None:
        return code
    year, quarter, month = m.groups()
    if quarter:
        return msg(f"Q{quarter} {year}", f"{year}年第{quarter}季度")
    if month:
        return msg(f"{year}-{month}", f"{year}年{int(month)}月")
    return msg(f"year {year}", f"{year}年度")


def overdue_words(days: Any) -> str:
    """逾期 N 天, from permit-svc's `days_overdue`."""
    if not isinstance(days, int) or isinstance(days, bool):
        return ""
    return msg(f"{days} days overdue", f"逾期 {days} 天")


def missed_rows(items: Sequence[Any]) -> list[dict[str, Any]]:
    """The missed periods as permit-svc lists them (its order: by permit,
    then period), each with its period and lateness in words."""
    return [
        {
            **x,
            "period_said": period_words(str(x.get("period") or "")),
            "overdue_said": overdue_words(x.get("days_overdue")),
        }
        for x in items
        if isinstance(x, Mapping)
    ]


def report_rows(reports: Sequence[Any]) -> list[dict[str, Any]]:
    """A permit's execution reports as permit-svc lists them (by period),
    each with its period in words and its findings' words (permit-svc's
    `message`, in the caller's language)."""
    rows = []
    for r in reports:
        if not isinstance(r, Mapping):
            continue
        found = r.get("findings")
        rows.append(
            {
                **r,
                "period_said": period_words(str(r.get("period") or "")),
                "findings_said": [
                    str(f.get("message") or f.get("code") or "")
                    for f in (found if isinstance(found, list) else [])
                    if isinstance(f, Mapping)
                ],
            }
        )
    return rows
