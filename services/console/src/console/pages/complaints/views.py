"""What the complaints page shows of supervision-svc's answers (pure
functions): the open complaints, the one due soonest first, each with the
clock it runs on; the duplicate clusters as readers see them."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from svc_common.i18n import msg

from console.actions import Act
from console.web import days_until, deadline_day, parse_time

#: A complaint's states as supervision-svc names them (its `LABELS_ZH` in
#: complaints/rules.py, which the console's tests hold this to: the console
#: reads the services through their APIs, not their code), in English too.
STATES = {
    "received": ("received", "已接收"),
    "accepted": ("accepted", "已受理"),
    "assigned": ("assigned", "已交办"),
    "replied": ("replied", "已答复"),
    "closed": ("closed", "已办结"),
    "rejected": ("rejected", "不予受理"),
}
#: The open states, in the order of the lifecycle: the page reads each
#: (`GET /supervision/complaints?status=`); closed and rejected ones are done.
OPEN = ("received", "accepted", "assigned", "replied")
#: The categories supervision-svc files a complaint under (its `Category`).
CATEGORIES = {
    "air": ("air", "大气"),
    "odor": ("odour", "异味"),
    "noise": ("noise", "噪声"),
    "water": ("water", "水"),
    "waste": ("solid waste", "固体废物"),
    "soil": ("soil", "土壤"),
    "radiation": ("radiation", "辐射"),
    "other": ("other", "其他"),
}
#: The most characters of a complaint's text a row shows.
SUMMARY_CHARS = 60
_ZWJ = "\u200d"


def state_label(status: str) -> str:
    """A state by its name (the code itself if supervision-svc adds one the
    console does not know, rather than a state it is not)."""
    words = STATES.get(status)
    return msg(*words) if words else status


def category_label(category: str) -> str:
    words = CATEGORIES.get(category)
    return msg(*words) if words else category


def _joins(ch: str) -> bool:
    """Whether `ch` belongs to the character before it (a combining mark, a
    joiner, a variation selector, a skin tone, an emoji tag): a cut before
    it would leave half a character."""
    o = ord(ch)
    return (
        unicodedata.category(ch) in ("Mn", "Mc", "Me")
        or ch == _ZWJ
        or 0xFE00 <= o <= 0xFE0F
        or 0xE0100 <= o <= 0xE01EF
        or 0x1F3FB <= o <= 0x1F3FF
        or 0xE0020 <= o <= 0xE007F
    )


def summary(text: Any, most: int = SUMMARY_CHARS) -> str:
    """A complaint's text on one line (its line breaks and runs of spaces
    one space), at most `most` characters and "…" when cut, never cut
    inside a character that takes more than one code point (an accent, an
    emoji sequence). The template escapes it."""
    flat = " ".join(str(text or "").split())
    if len(flat) <= most:
        return flat
    cut = most
    while cut > 0 and (_joins(flat[cut]) or flat[cut - 1] == _ZWJ):
        cut -= 1
    return flat[:cut].rstrip() + "…"


def clock(complaint: Mapping[str, Any]) -> tuple[str, Any]:
    """The statutory clock a complaint runs on now: accepting it (受理) until
    it is accepted, then closing it (办结) — supervision-svc's `is_overdue`."""
    if complaint.get("status") == "received":
        return "accept", complaint.get("accept_due")
    return "close", complaint.get("close_due")


def clock_label(kind: str) -> str:
    return msg("accept by", "受理期限") if kind == "accept" else msg("close by", "办结期限")


def open_rows(complaints: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The open complaints, the one due soonest first (then the earliest
    received), each with its clock: `due_on`, the Beijing date it must be
    done on, and `days_left` in Beijing calendar days (negative: overdue)."""
    rows = []
    for c in complaints:
        if c.get("status") not in OPEN:
            continue
        kind, due = clock(c)
        day = deadline_day(due)
        rows.append(
            {
                **c,
                "clock": kind,
                "due_on": day,
                "days_left": days_until(day) if day else None,
                "summary": summary(c.get("description")),
            }
        )

    def key(r: Mapping[str, Any]) -> tuple[int, float, float, str]:
        due, received = parse_time(r.get(f"{r['clock']}_due")), parse_time(r.get("received_at"))
        return (
            0 if due else 1,
            due.timestamp() if due else 0.0,
            received.timestamp() if received else 0.0,
            str(r.get("case_no") or ""),
        )

    return sorted(rows, key=key)


#: The most clusters the page lists.
CLUSTERS_SHOWN = 20


def cluster_rows(clusters: Iterable[Any]) -> list[dict[str, Any]]:
    """The duplicate clusters (重复反映: two reports or more; supervision-svc
    also ranks a complaint alone as a cluster of one) in supervision-svc's
    order, by attention, at most `CLUSTERS_SHOWN`, their summaries on one
    line and cut as a complaint's."""
    rows = [
        {**c, "summary": summary(c.get("summary"))}
        for c in clusters
        if isinstance(c, Mapping) and _count(c.get("reports")) >= 2
    ]
    return rows[:CLUSTERS_SHOWN]


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


#: How a closed complaint turned out (supervision-svc's `Outcome`).
OUTCOMES = {
    "substantiated": ("substantiated", "属实"),
    "not_substantiated": ("not substantiated", "不属实"),
    "referred": ("referred elsewhere", "已转办"),
}


def outcome_label(outcome: str) -> str:
    words = OUTCOMES.get(outcome)
    return msg(*words) if words else outcome


#: The actions, in the lifecycle's order: a closed complaint (reached by
#: its address; it leaves the page's list) is reopened (重新办理) with the
#: reason, and goes back to its officer.
ACTS = {
    "accept": Act(("Accept", "受理"), lambda _, __: None),
    "reject": Act(
        ("Reject", "不予受理"),
        lambda text, _: {"reason": text},
        (("reason", "原因"), ("give a reason", "请填写原因")),
        500,
        danger=True,
    ),
    "assign": Act(
        ("Assign", "交办"),
        lambda text, _: {"officer": text},
        (("officer", "承办人"), ("name the officer", "请填写承办人")),
        100,
    ),
    "reply": Act(
        ("Reply", "答复"),
        lambda text, _: {"reply": text},
        (("reply", "答复内容"), ("write the reply", "请填写答复内容")),
        2000,
        long=True,
    ),
    "close": Act(
        ("Close", "办结"),
        lambda text, choice: {"outcome": choice, "note": text or None},
        (("note", "说明"), ("", "")),
        2000,
        optional=True,
    ),
    "reopen": Act(
        ("Reopen", "重新办理"),
        lambda text, _: {"reason": text},
        (("reason", "原因"), ("give a reason", "请填写原因")),
        500,
    ),
}


def act_label(action: str) -> str:
    act = ACTS.get(action)
    return msg(*act.label) if act else action


def offered(complaint: Mapping[str, Any]) -> list[str]:
    """The actions the page offers for a complaint: those supervision-svc
    allows in its state now (its `allowed_actions`) that the console has a
    form for, in the lifecycle's order."""
    allowed = complaint.get("allowed_actions")
    allowed = allowed if isinstance(allowed, list) else []
    return [a for a in ACTS if a in allowed]
