"""An enterprise's quota and history from its records (pure functions)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from svc_common.i18n import msg

from console.pages.workbench.queues import status_label
from console.web import dec, parse_time

#: The lists the enterprise page reads, as people name them.
SOURCES = {
    "permits": ("discharge permits", "排污许可证"),
    "registrations": ("discharge registrations", "排污登记"),
    "audits": ("permit audits", "许可质量审核"),
    "filings": ("EIA filings", "环评文件"),
    "forms": ("EIA registration forms", "环评登记表备案"),
    "reservations": ("quota reservations", "总量指标预留"),
}


def unseen_said(source: str, status: int) -> str:
    """Why a list is not on the page: the role may not read it (403), or it
    could not be read now (any other failure; the page's note says why).
    Never "none": the user would read it as the enterprise having none."""
    en, zh = SOURCES[source]
    if status == 403:
        return msg(f"Your role cannot see {en}.", f"您的角色无权查看{zh}。")
    return msg(
        f"The {en} could not be read just now (see the note above).",
        f"{zh}暂时无法读取（原因见页首）。",
    )


def left_out(sources: Sequence[str]) -> str:
    """What the history leaves out (lists the page could not read)."""
    names = [SOURCES[s] for s in SOURCES if s in sources and s != "reservations"]
    return msg(
        "The history leaves out: " + ", ".join(en for en, _ in names) + ".",
        "历史记录未包括：" + "、".join(zh for _, zh in names) + "。",
    )


@dataclass
class QuotaHeld:
    """VOCs quota tied to the enterprise: held for filings under review,
    allocated to approved ones, and what its permits draw. A figure is None
    when a list it is drawn from could not be read (not available, never
    0)."""

    reserved_t: Decimal | None
    allocated_t: Decimal | None
    permitted_t: Decimal | None
    drawn_t: Decimal | None


def under_review_with_quota(filings: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Filings whose quota is held in the ledger while they are decided."""
    return [
        f
        for f in filings
        if f.get("quota_status") == "secured"
        and f.get("status") != "approved"
        and f.get("reservation_id")
    ]


def quota_held(
    filings: Sequence[Mapping[str, Any]] | None,
    permits: Sequence[Mapping[str, Any]] | None,
    reservations: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    reservations_read: bool = True,
) -> QuotaHeld:
    """The ledger's amounts: a held reservation holds the increment times the
    offset ratio (`required_t`; nothing of it allocated or released yet).
    `filings` or `permits` None (not read: the role may not, or the service
    failed), or the reservations not read, leave the figures drawn from them
    None."""
    reserved: Decimal | None = None
    allocated: Decimal | None = None
    if filings is not None:
        allocated = sum((dec(f.get("quota_allocated_t") or 0) for f in filings), Decimal(0))
        if reservations_read:
            held = reservations or {}
            reserved = Decimal(0)
            for f in under_review_with_quota(filings):
                r = held.get(str(f["reservation_id"]))
                if r is not None and r.get("status") == "held":
                    reserved += dec(r.get("required_t"))
    permitted: Decimal | None = None
    drawn: Decimal | None = None
    if permits is not None:
        live = [p for p in permits if p.get("status") in ("issued", "changed", "renewed")]
        permitted = sum((dec(p.get("vocs_t")) for p in live), Decimal(0))
        drawn = sum((dec(p.get("quota_drawn_t")) for p in live), Decimal(0))
    return QuotaHeld(
        reserved_t=reserved, allocated_t=allocated, permitted_t=permitted, drawn_t=drawn
    )


def not_numbered() -> str:
    """A permit applied for has no number until it is issued."""
    return msg("(not numbered yet)", "（尚未编号）")


def timeline(
    permits: Sequence[Mapping[str, Any]],
    registrations: Sequence[Mapping[str, Any]],
    audits: Sequence[Mapping[str, Any]],
    filings: Sequence[Mapping[str, Any]],
    forms: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """Every dated step of every record, newest first; each named as people
    know it (a permit's number, a project's name), never by a record id."""
    events: list[dict[str, Any]] = []

    def add(when: Any, what: str, ref: str, *, name: bool = False) -> None:
        t = parse_time(when)
        if t is not None:
            events.append({"at": t, "what": what, "ref": ref, "name": name})

    permit_nos = {p.get("id"): p.get("permit_no") or "" for p in permits}
    for p in permits:
        ref = p.get("permit_no") or not_numbered()
        add(p.get("created_at"), msg("permit applied for", "申请排污许可证"), ref)
        if p.get("status") != "applied":
            add(p.get("updated_at"), msg("permit ", "许可证：") + status_label(p["status"]), ref)
    for r in registrations:
        ref = r.get("registration_no") or r.get("id", "")
        add(
            r.get("created_at") or r.get("filed_at"),
            msg("discharge registration filed", "排污登记"),
            ref,
        )
    for a in audits:
        add(
            a.get("audited_at"),
            msg("permit audit: ", "许可质量审核：")
            + (msg("passed", "通过") if a.get("result") == "pass" else msg("findings", "发现问题")),
            permit_nos.get(a.get("permit_id"), ""),
        )
        for f in a.get("findings", []):
            if f.get("rectified_at"):
                add(
                    f["rectified_at"],
                    msg("finding rectified", "问题整改完成"),
                    permit_nos.get(a.get("permit_id"), ""),
                )
    for f in filings:
        ref = f.get("project_name") or f.get("project_ref") or f["id"]
        add(f.get("created_at"), msg("EIA filing submitted", "提交环评文件"), ref, name=True)
        add(f.get("accepted_at"), msg("EIA filing accepted", "环评受理"), ref, name=True)
        add(
            f.get("decided_at"),
            msg("EIA decision: ", "环评决定：") + status_label(str(f.get("status"))),
            ref,
            name=True,
        )
    for r in forms:
        add(r.get("filed_at"), msg("EIA registration form filed", "环评登记表备案"), r["filing_no"])
        add(r.get("revoked_at"), msg("registration form revoked", "登记表备案撤销"), r["filing_no"])
    events.sort(key=lambda e: e["at"], reverse=True)
    return events
