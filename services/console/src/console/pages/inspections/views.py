"""What the inspections page shows of supervision-svc's answers (pure
functions): the on-site inspections (执法检查) with what they found, and the
enforcement cases (立案查处) opened on the findings, each in words."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from svc_common.i18n import msg

from console.actions import Act, Outcome, refused
from console.pages.complaints.views import summary
from console.web import days_until, district_name, is_uuid, parse_time, worded

#: An inspection's items as supervision-svc names them (its `Item`).
ITEMS = {
    "performance_grade": ("performance grade", "环境绩效"),
    "ledger": ("environmental ledger", "环保台账"),
    "treatment_facilities": ("treatment facilities", "治污设施运行"),
    "online_monitoring": ("online monitoring", "在线监测"),
    "permit_compliance": ("discharge as permitted", "按证排污"),
}
#: An item's result.
RESULTS = {
    "compliant": ("compliant", "合规"),
    "problem": ("problem found", "发现问题"),
    "not_checked": ("not checked", "未检查"),
}
SEVERITIES = {"minor": ("minor", "一般"), "serious": ("serious", "严重")}
#: Where a finding stands (supervision-svc's findings' `status`).
FINDING_STATES = {
    "open": ("no case yet", "未立案"),
    "case_opened": ("case opened", "已立案"),
    "rectified": ("rectified", "已整改"),
}
#: A case's states as supervision-svc names them (its `LABELS_ZH` in
#: cases/rules.py, which the console's tests hold this to), in English too.
CASE_STATES = {
    "proposed": ("awaiting decision", "待决定"),
    "decided": ("decided", "已决定"),
    "rejected": ("rejected", "已驳回"),
    "closed": ("closed", "已结案"),
}
#: The cases still under way: the page lists them (rejected and closed ones
#: are done, shown with their inspection).
OPEN_CASES = ("proposed", "decided")
#: A case's measure (supervision-svc's `Measure`).
MEASURES = {
    "warning": ("warning", "警告"),
    "fine": ("fine", "罚款"),
    "rectification": ("rectification order", "责令整改"),
    "permit_suspension": ("permit suspension", "暂扣许可证"),
}
#: The most inspections a page lists (one page of supervision-svc's list).
INSPECTIONS_SHOWN = 50


def item_label(item: str) -> str:
    return worded(ITEMS, item)


def result_label(result: str) -> str:
    return worded(RESULTS, result)


def severity_label(severity: str) -> str:
    return worded(SEVERITIES, severity)


def finding_label(status: str) -> str:
    return worded(FINDING_STATES, status)


def case_state_label(status: str) -> str:
    return worded(CASE_STATES, status)


def measure_label(case: Mapping[str, Any]) -> str:
    """A case's measure in words, a fine with its amount in yuan."""
    said = worded(MEASURES, case.get("measure"))
    fine = case.get("fine_cny")
    if case.get("measure") == "fine" and isinstance(fine, int):
        return said + msg(f" of ¥{fine:,}", f" {fine:,} 元")
    return said


def _findings(inspection: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = inspection.get("findings")
    return [f for f in found if isinstance(f, Mapping)] if isinstance(found, list) else []


def findings_said(inspection: Mapping[str, Any]) -> str:
    """An inspection's result in a few words: the items checked and the
    problems found (the serious ones among them), or none found."""
    items = inspection.get("items")
    checked = sum(
        1
        for i in (items if isinstance(items, list) else [])
        if isinstance(i, Mapping) and i.get("result") != "not_checked"
    )
    found = _findings(inspection)
    serious = sum(1 for f in found if f.get("severity") == "serious")
    head = msg(f"{checked} item(s) checked: ", f"检查 {checked} 项，")
    if not found:
        return head + msg("no problem found", "未发现问题")
    tail = msg(f" ({serious} serious)", f"（严重 {serious} 个）") if serious else ""
    return head + msg(f"{len(found)} problem(s) found", f"发现问题 {len(found)} 个") + tail


def cases_opened(inspection: Mapping[str, Any]) -> int:
    """How many of an inspection's findings a case was opened on (立案: one
    under way, or closed once rectified)."""
    return sum(1 for f in _findings(inspection) if f.get("status") in ("case_opened", "rectified"))


def inspection_rows(inspections: Iterable[Any]) -> list[dict[str, Any]]:
    """The inspections in supervision-svc's order (latest first), each with
    its result in words, its first finding on one line, and its cases."""
    rows = []
    for i in inspections:
        if not isinstance(i, Mapping):
            continue
        found = _findings(i)
        rows.append(
            {
                **i,
                "result": findings_said(i),
                "first_finding": summary(found[0].get("description")) if found else "",
                "cases": cases_opened(i),
                "problems": len(found),
            }
        )
    return rows


def case_rows(cases: Iterable[Any]) -> list[dict[str, Any]]:
    """The cases under way, those awaiting a decision first (the oldest
    proposed first), then the decided ones by their rectification deadline
    (a Beijing date; the soonest first, those with none last), each with the
    days left (negative: past)."""
    rows = []
    for c in cases:
        if not isinstance(c, Mapping) or c.get("status") not in OPEN_CASES:
            continue
        day = str(c.get("rectify_by") or "")
        rows.append({**c, "due_on": day, "days_left": days_until(day) if day else None})

    def key(r: Mapping[str, Any]) -> tuple[int, str, float, str]:
        proposed = parse_time(r.get("proposed_at"))
        return (
            OPEN_CASES.index(str(r["status"])),
            r["due_on"] or "9999-12-31",
            proposed.timestamp() if proposed else 0.0,
            str(r.get("case_no") or ""),
        )

    return sorted(rows, key=key)


#: A case's actions the console offers, in the lifecycle's order: each is
#: one of supervision-svc's `allowed_actions`, posted to `ENDPOINTS[op]`
#: with only the fields it takes (its `DecisionIn`, `CloseIn`).
CASE_ACTS = {
    "approve": Act(
        ("Approve", "批准"),
        lambda text, _: {"approve": True, "note": text or None},
        (("note", "说明"), ("", "")),
        2000,
        optional=True,
    ),
    "reject": Act(
        ("Reject", "驳回"),
        lambda text, _: {"approve": False, "note": text or None},
        (("note", "说明"), ("", "")),
        2000,
        optional=True,
        danger=True,
    ),
    "close": Act(
        ("Close the case", "结案"),
        lambda text, _: {"note": text},
        (("how it was rectified", "整改情况"), ("say how it was rectified", "请填写整改情况")),
        2000,
        long=True,
    ),
}
#: Where each action is posted (`POST /supervision/cases/{id}/<endpoint>`):
#: approving and rejecting are the one decision.
ENDPOINTS = {"approve": "decide", "reject": "decide", "close": "close"}
#: The actions that decide a case: never by the officer who proposed it
#: (supervision-svc's four eyes).
DECISIONS = ("approve", "reject")


def case_act_label(action: str) -> str:
    act = CASE_ACTS.get(action)
    return msg(*act.label) if act else action


def case_offered(case: Mapping[str, Any], *, proposer: bool) -> list[str]:
    """The actions the page offers for a case: those supervision-svc allows
    in its state now that the console has a form for, in the lifecycle's
    order; no decision for the officer who proposed it (`proposer`), whom
    supervision-svc refuses one."""
    allowed = case.get("allowed_actions")
    allowed = allowed if isinstance(allowed, list) else []
    return [a for a in CASE_ACTS if a in allowed and not (proposer and a in DECISIONS)]


#: The most plans a page lists (one page of supervision-svc's list).
PLANS_SHOWN = 50
#: A draw's tiers (supervision-svc's `rules.tier`): more checks for open
#: findings or substantiated complaints, fewer for lawful A-grade or
#: benchmark enterprises with a clean record (减少检查频次).
TIERS = {
    "high": ("more checks", "重点检查"),
    "normal": ("normal", "一般"),
    "low": ("fewer checks", "减少频次"),
}
#: What a draw asks that people type, as supervision-svc's `PlanIn` names it.
DRAW_FIELDS = ("district", "period", "count", "share_percent", "inspector_pool")
#: How an inspector pool may be typed: a name a line, or names separated by
#: commas, 、 or semicolons (a list pasted from a document).
_POOL_SEPARATORS = re.compile(r"[\n\r,，、;；]+")


def tier_label(tier: str) -> str:
    return worded(TIERS, tier)


def plan_size(plan: Mapping[str, Any]) -> str:
    """What a draw asked for: a number of enterprises, or a share of them."""
    share = plan.get("share_percent")
    if share not in (None, ""):
        return msg(f"{share} % of them", f"按比例 {share}%")
    count = plan.get("requested_count")
    return msg(f"{count} enterprise(s)", f"{count} 家") if count is not None else ""


def plan_rows(plans: Iterable[Any]) -> list[dict[str, Any]]:
    """The plans in supervision-svc's order (the latest drawn first), each
    with what it asked for in words."""
    return [{**p, "size": plan_size(p)} for p in plans if isinstance(p, Mapping)]


def drawn_rows(
    plan: Mapping[str, Any], inspections: Iterable[Any], names: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The enterprises a plan drew, in its order, each with its name (the
    register's now, else the plan's at the draw), its inspectors and the
    inspections recorded under the plan (the earliest first)."""
    under: dict[str, list[Mapping[str, Any]]] = {}
    for i in inspections:
        if isinstance(i, Mapping) and i.get("uscc"):
            under.setdefault(str(i["uscc"]), []).append(i)
    rows = []
    selection = plan.get("selection")
    for x in selection if isinstance(selection, list) else []:
        if not isinstance(x, Mapping):
            continue
        uscc = str(x.get("uscc") or "")
        done = sorted(under.get(uscc, []), key=lambda i: str(i.get("inspected_at") or ""))
        inspectors = x.get("inspectors")
        rows.append(
            {
                "uscc": uscc,
                "enterprise_name": names.get(uscc) or str(x.get("name") or ""),
                "tier": str(x.get("tier") or ""),
                "inspectors": [str(n) for n in inspectors] if isinstance(inspectors, list) else [],
                "inspections": done,
            }
        )
    return rows


def existing_plan_link(problem: Mapping[str, Any]) -> dict[str, str] | None:
    """The page of the plan a refused draw names (supervision-svc's 409
    `existing_plan`: its period, or one overlapping it, already drawn),
    linked beside the refusal; None for any other refusal, or a plan whose
    id is no UUID (no page of the console's)."""
    plan = problem.get("existing_plan")
    if not isinstance(plan, Mapping) or not is_uuid(str(plan.get("id") or "")):
        return None
    district = district_name(str(plan.get("district") or ""))
    period = str(plan.get("period") or "")
    named = " ".join(x for x in (district, period) if x)
    return {
        "href": f"/console/inspections/plans/{plan['id']}",
        "text": msg(f"see the plan drawn: {named}", f"查看已抽取的抽查计划：{named}"),
    }


def draw_body(
    typed: Mapping[str, str], may_act_in: Callable[[str], bool]
) -> tuple[dict[str, Any] | None, Outcome | None]:
    """The body of `POST /supervision/inspection-plans` from the draw form,
    or its refusal naming the field it concerns (nothing is sent then): a
    district the user acts in; a period; a number of enterprises or a share
    of them, not both (supervision-svc's one-of); the inspectors, a name a
    line. Letters and digits typed full-width (a Chinese IME) are read as
    ASCII ones; the values' own rules (a period's form, a share's range,
    two people in a pool) are supervision-svc's, said by its refusal."""
    district = typed.get("district", "").strip()
    if not district or not may_act_in(district):
        return None, refused(msg("choose one of your districts", "请选择您所辖的区"), "district")
    period = unicodedata.normalize("NFKC", typed.get("period", "")).strip().upper()
    if not period:
        return None, refused(
            msg("enter the period (2026, 2026-06, 2026-Q3 …)", "请填写抽查期间"), "period"
        )
    count = unicodedata.normalize("NFKC", typed.get("count", "")).strip()
    share = unicodedata.normalize("NFKC", typed.get("share_percent", "")).strip().rstrip("%")
    if bool(count) == bool(share):
        return None, refused(
            msg(
                "give the number of enterprises to draw or their share, one of the two",
                "请填写抽取家数或抽取比例（二选一）",
            ),
            "count",
        )
    body: dict[str, Any] = {"district": district, "period": period}
    if count:
        if not count.isascii() or not count.isdigit() or int(count) < 1:
            return None, refused(
                msg("the number to draw is a whole number of 1 or more", "抽取家数应为正整数"),
                "count",
            )
        body["count"] = int(count)
    else:
        body["share_percent"] = share.strip()
    pool = [n.strip() for n in _POOL_SEPARATORS.split(typed.get("inspector_pool", ""))]
    body["inspector_pool"] = [n for n in pool if n]
    return body, None
