"""What the demands list's pages show of supervision-svc's answers (pure
functions): the items of the list of the public's demands (群众诉求清单),
where each stands, and the actions on an open one (进展, 办结), each posted
as a case's action is."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from svc_common.i18n import msg

from console.actions import Act
from console.web import days_until, worded

#: Where an item stands (supervision-svc's `DEMAND_LABELS_ZH`).
DEMAND_STATES = {"open": ("in progress", "办理中"), "done": ("done", "已办结")}
#: Where an item comes from (supervision-svc's `Source`).
SOURCES = {
    "complaint": ("complaint", "投诉"),
    "inspection": ("inspection", "执法检查"),
    "visit": ("visit", "走访"),
    "other": ("other", "其他"),
}
#: The progress a form offers (a select: supervision-svc takes 0 to 100).
PERCENTS = tuple(range(0, 101, 10))
#: Each action on an open item, posted to `ENDPOINTS[op]` with only the
#: fields it takes: 办结 (`POST …/{id}/done`, its `DoneIn`), and progress
#: (`PATCH …/{id}`, its `ProgressIn`: the percent chosen, a note if any).
DEMAND_ACTS = {
    "progress": Act(
        ("Record progress", "更新进展"),
        lambda text, choice: {"progress_percent": int(choice), "progress_note": text or None},
        (("progress note", "进展说明"), ("", "")),
        2000,
        optional=True,
        long=True,
    ),
    "done": Act(
        ("Mark done", "办结"),
        lambda text, _: {"note": text or None},
        (("note", "说明"), ("", "")),
        2000,
        optional=True,
    ),
}
DEMAND_DONE = DEMAND_ACTS["done"]
#: Where each action is sent: its method and the path after the item's.
ENDPOINTS = {"progress": ("PATCH", ""), "done": ("POST", "/done")}


def demand_state_label(status: str) -> str:
    return worded(DEMAND_STATES, status)


def source_label(source: str) -> str:
    return worded(SOURCES, source)


def percent_choices(current: Any) -> list[tuple[str, str]]:
    """The progress form's choices, the item's progress now first (so the
    form shows it), then every tenth."""
    now = current if isinstance(current, int) and 0 <= current <= 100 else 0
    rest = [p for p in PERCENTS if p != now]
    return [(str(p), f"{p}%") for p in (now, *rest)]


def percent_problem(choice: str) -> str | None:
    """Why a progress chosen is not one supervision-svc takes (0 to 100, a
    whole number); a percent typed full-width (a Chinese IME) is read."""
    typed = unicodedata.normalize("NFKC", choice).strip().rstrip("%")
    if typed.isascii() and typed.isdigit() and 0 <= int(typed) <= 100:
        return None
    return msg("choose the progress, 0 to 100 %", "请选择办理进展（0–100%）")


def demand_rows(demands: Iterable[Any]) -> list[dict[str, Any]]:
    """The items, the open first by their deadline (a Beijing date, the
    soonest first), then those done, each with the days left (negative:
    past) for an open one."""
    rows = []
    for d in demands:
        if not isinstance(d, Mapping):
            continue
        day = str(d.get("deadline") or "")
        open_ = d.get("status") == "open"
        rows.append({**d, "days_left": days_until(day) if open_ and day else None})
    return sorted(
        rows,
        key=lambda r: (
            r.get("status") != "open",
            str(r.get("deadline") or "9999-12-31"),
            str(r.get("title") or ""),
        ),
    )


def inspection_demands(demands: Iterable[Any], inspection_no: str) -> list[Mapping[str, Any]]:
    """The items of the demands list that name the inspection as their
    source (source `inspection`, `source_ref` its number), the open first."""
    found = [
        d
        for d in demands
        if isinstance(d, Mapping)
        and d.get("source") == "inspection"
        and inspection_no
        and d.get("source_ref") == inspection_no
    ]
    return sorted(found, key=lambda d: (d.get("status") != "open", str(d.get("deadline") or "")))
