"""An enterprise's quota and history from its records (pure functions)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from svc_common.i18n import msg

from console.pages.workbench.queues import PERMITS_IN_FORCE, cancel_reason_label, status_label
from console.web import dec, parse_time

#: The lists the enterprise page reads, as people name them.
SOURCES = {
    "permits": ("discharge permits", "排污许可证"),
    "registrations": ("discharge registrations", "排污登记"),
    "audits": ("permit audits", "许可质量审核"),
    "filings": ("EIA filings", "环评文件"),
    "forms": ("EIA registration forms", "环评登记表备案"),
    "reservations": ("quota reservations", "总量指标预留"),
    "holdings": ("emission rights held", "持有的排污权"),
    "permit_steps": ("the permits' steps (audit trail)", "许可证办理记录（审计日志）"),
    "execution_reports": ("the permits' execution reports", "排污许可证执行报告"),
}

#: The lists whose absence the quota figures or their own section say,
#: not the history.
NOT_IN_HISTORY = {"reservations", "holdings", "execution_reports"}


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
    names = [SOURCES[s] for s in SOURCES if s in sources and s not in NOT_IN_HISTORY]
    return msg(
        "The history leaves out: " + ", ".join(en for en, _ in names) + ".",
        "历史记录未包括：" + "、".join(zh for _, zh in names) + "。",
    )


@dataclass
class Position:
    """What an enterprise's holdings (排污权, `GET /quota/holdings`) of VOCs
    quota say now: held and tradable, held but past its five years, retired
    by a confirmed reclaim (收回注销), and sold in settled trades; the rights
    (emission backed on the permit) of what it still holds."""

    held_t: Decimal
    held_rights_t: Decimal
    expired_t: Decimal
    retired_t: Decimal
    sold_t: Decimal


#: What a holding keeps from its allocation or purchase when a reclaim
#: splits a part off it: the same for a holding and its split-off parts.
LINEAGE = (
    "district",
    "pool_id",
    "source",
    "reservation_id",
    "trade_id",
    "acquired_at",
    "valid_until",
)


def position(holdings: Sequence[Mapping[str, Any]], pollutant: str = "VOCs") -> Position:
    """The holdings (with the emptied ones, `include_empty`) as a position.
    quota-svc lowers a holding's `amount_t` only when it sells from it or
    splits off a part a reclaim retires, the split keeping the holding's
    allocation or trade and term: so each such lineage acquired its largest
    `original_t`, and what the lineage no longer holds (retired or not) was
    sold. No trade list per enterprise is needed."""
    held = rights = expired = retired = Decimal(0)
    lineage: dict[tuple[Any, ...], tuple[Decimal, Decimal]] = {}
    for h in holdings:
        if h.get("pollutant", pollutant) != pollutant:
            continue
        amount = dec(h.get("amount_t"))
        if h.get("retired_at"):
            retired += amount
        elif h.get("valid", True):
            held += amount
            rights += dec(h.get("rights_t"))
        else:
            expired += amount
        key = tuple(h.get(k) for k in LINEAGE)
        acquired, left = lineage.get(key, (Decimal(0), Decimal(0)))
        lineage[key] = (max(acquired, dec(h.get("original_t"))), left + amount)
    sold = sum((max(Decimal(0), a - left) for a, left in lineage.values()), Decimal(0))
    return Position(
        held_t=held, held_rights_t=rights, expired_t=expired, retired_t=retired, sold_t=sold
    )


def backing_rights(holdings: Sequence[Mapping[str, Any]], pollutant: str = "VOCs") -> Decimal:
    """The emission the enterprise's holdings back on its permit now: the
    rights of what it holds and was not retired (an expired holding still
    backs the permit until a reclaim retires it; it only cannot be sold)."""
    return sum(
        (
            dec(h.get("rights_t"))
            for h in holdings
            if h.get("pollutant", pollutant) == pollutant and not h.get("retired_at")
        ),
        Decimal(0),
    )


@dataclass
class QuotaHeld:
    """VOCs quota tied to the enterprise: held for filings under review,
    allocated to approved ones (in all, since the first: sales and
    retirements are in `position`), what it holds now, and what its permits
    in force permit and of that what allocated quota backs. A figure is None
    when a list it is drawn from could not be read (not available, never
    0)."""

    reserved_t: Decimal | None
    allocated_t: Decimal | None
    permitted_t: Decimal | None
    #: The part of `permitted_t` backed by quota: never more than it.
    drawn_t: Decimal | None
    position: Position | None = None


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
    holdings: Sequence[Mapping[str, Any]] | None = None,
) -> QuotaHeld:
    """The ledger's amounts: a held reservation holds the increment times the
    offset ratio (`required_t`; nothing of it allocated or released yet).
    `filings` or `permits` None (not read: the role may not, or the service
    failed), or the reservations not read, leave the figures drawn from them
    None. The backed part of the permits is what they drew on allocated
    quota, but never more than the rights the enterprise still holds when
    the holdings were read (a permit's `quota_drawn_t` only ever grows: a
    sale or a reclaim does not lower it), nor than the permits permit."""
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
        live = [p for p in permits if p.get("status") in PERMITS_IN_FORCE]
        permitted = sum((dec(p.get("vocs_t")) for p in live), Decimal(0))
        # Each is a bound of what backs the permits now: what they drew
        # (a permit imported with no draw is backed by none of it), what
        # the enterprise still holds, and what they permit.
        drawn = min(sum((dec(p.get("quota_drawn_t")) for p in live), Decimal(0)), permitted)
        if holdings is not None:
            drawn = min(drawn, backing_rights(holdings))
    return QuotaHeld(
        reserved_t=reserved,
        allocated_t=allocated,
        permitted_t=permitted,
        drawn_t=drawn,
        position=position(holdings) if holdings is not None else None,
    )


def not_numbered() -> str:
    """A permit applied for has no number until it is issued."""
    return msg("(not numbered yet)", "（尚未编号）")


def application_ref(p: Mapping[str, Any]) -> str:
    """How an application with no number of its own is named: a change
    application (变更申请) by the permit it changes, any other as not
    numbered yet."""
    changes = p.get("changes_permit_no")
    if p.get("kind") == "change" and changes:
        return msg(f"change application of permit {changes}", f"许可证 {changes} 的变更申请")
    return not_numbered()


def _signed_tonnes(kg: Any) -> str:
    try:
        t = Decimal(int(kg)) / 1000
    except (TypeError, ValueError):
        return ""
    return f"{t:+,.3f}"


def permit_step(action: str, detail: Mapping[str, Any] | None = None) -> str | None:
    """A step of a permit (its audit entry's `action`, `permit.` left off,
    and `detail`) as people say it; None for entries that are no step of
    the permit itself (a trade that found no permit elsewhere, say)."""
    d = detail or {}
    reason = str(d.get("reason") or "")
    said = msg(": ", "：") + reason if reason else ""
    vocs = msg("VOCs {} t/a", "VOCs {} 吨/年")
    if action == "apply":
        return msg("permit applied for", "申请排污许可证")
    if action == "import":
        return msg("permit recorded (issued before this register)", "录入存量许可证")
    if action == "issue":
        return msg("permit issued", "核发许可证")
    if action == "reject":
        return msg("permit refused", "不予许可") + said
    if action == "merge":
        # A change application (变更申请) issued: merged into the permit it changed.
        no = str(d.get("permit_no") or "")
        return msg("change approved", "核准变更") + (
            msg(f": merged into permit {no}", f"：并入许可证 {no}") if no else ""
        )
    if action == "change":
        if d.get("trade_id"):
            delta = _signed_tonnes(d.get("delta_kg"))
            return msg("permit changed for a rights trade", "因排污权交易变更许可证") + (
                msg(" (", "（") + vocs.format(delta) + msg(")", "）") if delta else ""
            )
        delta = _signed_tonnes(d.get("vocs_delta_kg"))
        return msg("permit changed", "变更许可证") + (
            msg(" (", "（") + vocs.format(delta) + msg(")", "）")
            if delta and delta != "+0.000"
            else ""
        )
    if action == "renew":
        until = str(d.get("valid_to") or "")
        return msg("permit renewed", "延续许可证") + (
            msg(f" (valid to {until})", f"（有效期至 {until}）") if until else ""
        )
    if action == "suspend":
        if d.get("case_no"):
            case = str(d["case_no"])
            return msg(
                f"permit suspended by an enforcement case (立案查处, case {case})",
                f"因立案查处暂停许可证（案件编号 {case}）",
            )
        return msg("permit suspended", "暂停许可证") + said
    if action == "suspend_not_applied":
        case = str(d.get("case_no") or "")
        return msg(
            f"enforcement case {case} decided a suspension; the permit was not in force",
            f"立案查处（案件编号 {case}）决定暂停，许可证不在有效状态，未暂停",
        )
    if action == "reinstate":
        return msg("permit reinstated", "恢复许可证") + said
    if action == "revoke":
        return msg("permit revoked", "撤销许可证") + said
    if action == "cancel":
        why = cancel_reason_label(d.get("reason")) if d.get("reason") else ""
        return msg("permit cancelled", "注销许可证") + (
            msg(" (", "（") + why + msg(")", "）") if why else ""
        )
    if action == "expire":
        return msg("permit expired", "许可证有效期届满")
    return None


def timeline(
    permits: Sequence[Mapping[str, Any]],
    registrations: Sequence[Mapping[str, Any]],
    audits: Sequence[Mapping[str, Any]],
    filings: Sequence[Mapping[str, Any]],
    forms: Sequence[Mapping[str, Any]],
    steps: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> list[dict[str, Any]]:
    """Every dated step of every record, newest first; each named as people
    know it (a permit's number, a project's name), never by a record id.
    A permit's steps are its audit trail (`steps`, by permit id: each issue,
    change, suspension, reinstatement, trade); a permit whose trail was not
    read shows its application and its last step only (`last_action` at
    `updated_at`: its status alone misnamed a change as 已核发)."""
    events: list[dict[str, Any]] = []

    def add(when: Any, what: str, ref: str, *, name: bool = False) -> None:
        t = parse_time(when)
        if t is not None:
            events.append({"at": t, "what": what, "ref": ref, "name": name})

    permit_nos = {p.get("id"): p.get("permit_no") or "" for p in permits}
    for p in permits:
        ref = p.get("permit_no") or application_ref(p)
        trail = (steps or {}).get(str(p.get("id")))
        if trail is not None:
            actions = [str(e.get("action", "")).removeprefix("permit.") for e in trail]
            if not {"apply", "import"} & set(actions):
                # A certificate imported in bulk has no step of its own (the
                # import is audited once per upload): numbered and never
                # issued here, it was recorded, not applied for.
                imported = bool(p.get("permit_no")) and "issue" not in actions
                first = permit_step("import") if imported else permit_step("apply")
                add(p.get("created_at"), first or "", ref)
            for e, action in zip(trail, actions, strict=True):
                what = permit_step(action, e.get("detail"))
                if what is not None:
                    add(e.get("at"), what, ref)
            continue
        add(p.get("created_at"), msg("permit applied for", "申请排污许可证"), ref)
        if p.get("status") != "applied":
            last = permit_step(str(p.get("last_action") or ""))
            what = last or msg("permit ", "许可证：") + status_label(p["status"])
            add(p.get("updated_at"), what, ref)
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
