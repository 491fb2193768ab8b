"""Pure rules of a filing's quota state.

quota_status: not_requested (not accepted yet) | not_required (no VOCs
increment) | pending (asked, no answer yet) | secured (held, 已落实) |
blocked (shortfall) | lapsed (hold expired) | allocated (approved, posted) |
released (rejected or withdrawn)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from svc_common.errors import Conflict, IllegalTransition, named_zh
from svc_common.events.schemas.eia import FILING_REF_PREFIX
from svc_common.i18n import msg

from eia_svc.filings.rules import LABELS_ZH as FILING_LABELS_ZH

#: Quota states an officer may ask again from: refused, expired, or no
#: answer yet (a request that seems lost).
RETRYABLE = ("blocked", "lapsed", "pending")
#: Quota states in Chinese, for a refused retry's message (the console's words).
LABELS_ZH = {
    "not_requested": "尚未申请",
    "not_required": "无需总量",
    "pending": "总量确认中",
    "secured": "总量已落实",
    "blocked": "总量不足",
    "lapsed": "预留已过期",
    "allocated": "已分配",
    "released": "已释放",
}


def project_ref(filing_id: str) -> str:
    """How quota-svc knows a filing: the one place this correlation is defined."""
    return f"{FILING_REF_PREFIX}{filing_id}"


def filing_id_of(ref: str) -> str | None:
    """The filing id in a project ref, or None when the ref is not an EIA filing's."""
    return ref[len(FILING_REF_PREFIX) :] if ref.startswith(FILING_REF_PREFIX) else None


@dataclass(frozen=True)
class QuotaState:
    status: str
    attempt: int = 0
    reservation_id: str | None = None
    shortfall_kg: int | None = None
    allocated_kg: int | None = None


def on_request(increment_kg: int) -> QuotaState:
    """At acceptance: quota is asked for (attempt 1) unless there is no increment."""
    return QuotaState("pending", 1) if increment_kg > 0 else QuotaState("not_required")


def is_stale(st: QuotaState, attempt: int) -> bool:
    """A reply to an older attempt than the filing's current one is ignored."""
    return attempt < st.attempt


def on_reserved(st: QuotaState, attempt: int, reservation_id: str, undecided: bool) -> QuotaState:
    if is_stale(st, attempt) or not undecided or st.status not in ("pending", "blocked", "lapsed"):
        return st
    return replace(st, status="secured", reservation_id=reservation_id, shortfall_kg=None)


def on_rejected(st: QuotaState, attempt: int, shortfall_kg: int, undecided: bool) -> QuotaState:
    """A refusal blocks an undecided filing. A filing withdrawn or rejected
    while its request was pending is settled by it too: nothing is held, so
    its quota is released (final) — it must not wait for a reply forever."""
    if is_stale(st, attempt) or st.status != "pending":
        return st
    if not undecided:
        return replace(st, status="released", shortfall_kg=shortfall_kg)
    return replace(st, status="blocked", shortfall_kg=shortfall_kg)


def needs_release(st: QuotaState, undecided: bool) -> bool:
    """A hold that arrives after the filing was withdrawn or rejected: the
    filing asks quota-svc again to release it (released at once)."""
    return not undecided and st.status in ("pending", "released", "blocked")


def reask_due(
    st: QuotaState,
    undecided: bool,
    asked_at: dt.datetime | None,
    now: dt.datetime,
    after: dt.timedelta,
) -> bool:
    """An undecided filing whose quota request has had no answer for `after`
    is asked again (same attempt: quota-svc answers with the state it has)."""
    return undecided and st.status == "pending" and (asked_at is None or now - asked_at >= after)


def on_released(st: QuotaState, reservation_id: str, reason: str) -> QuotaState:
    """A hold that expires lapses the filing's quota; other releases follow a
    decision this service already recorded."""
    if st.reservation_id not in (None, reservation_id):
        return st  # a release of an older hold
    if reason == "expired" and st.status == "secured":
        return replace(st, status="lapsed")
    if reason in ("rejected", "withdrawn") and st.status in ("secured", "pending", "blocked"):
        return replace(st, status="released")
    return st


def on_allocated(st: QuotaState, amount_kg: int, reservation_id: str | None = None) -> QuotaState:
    """The approved filing's quota is posted. The allocated reservation may
    be a new one (quota-svc held the need again when the hold had lapsed
    before the approval reached it): the filing then names that one."""
    if st.status == "allocated":
        return st
    return replace(
        st,
        status="allocated",
        allocated_kg=amount_kg,
        reservation_id=reservation_id or st.reservation_id,
    )


def retry(st: QuotaState, filing_status: str, filing_actions: list[str]) -> QuotaState:
    """An officer asks again once quota may have been reclaimed: attempt + 1.
    Refused (409 naming the filing's allowed actions) unless blocked, lapsed
    or pending (RETRYABLE)."""
    if filing_status in ("approved", "rejected", "withdrawn") or st.status not in RETRYABLE:
        state = msg(
            f"{filing_status} with quota {st.status}",
            f"{named_zh(filing_status, FILING_LABELS_ZH)}，"
            f"总量状态 {named_zh(st.status, LABELS_ZH)}",
        )
        raise IllegalTransition(
            msg("filing", "环评文件"), state, "quota-retry", filing_actions, FILING_LABELS_ZH
        )
    return replace(
        st, status="pending", attempt=st.attempt + 1, reservation_id=None, shortfall_kg=None
    )


def check_approvable(st: QuotaState) -> None:
    """A filing with an increment cannot be approved until its quota is secured."""
    if st.status in ("secured", "not_required"):
        return
    hint = {
        "blocked": msg(
            "the district lacks quota; retry (quota-retry) once quota is reclaimed",
            "该区总量指标不足；收回指标入库后请重新申请（quota-retry）",
        ),
        "lapsed": msg(
            "the quota hold expired; retry (quota-retry) to secure it again",
            "总量预留已过期；请重新申请（quota-retry）",
        ),
        "pending": msg(
            "quota-svc has not answered the reservation yet; it is asked again "
            "automatically, or retry (quota-retry)",
            "总量服务尚未答复预留申请；系统会自动再次询问，也可重新申请（quota-retry）",
        ),
    }.get(st.status, "")
    raise Conflict(
        msg(
            f"the filing's VOCs quota is {st.status}, not secured: it cannot be approved",
            f"该项目 VOCs 总量指标状态为 {named_zh(st.status, LABELS_ZH)}，尚未落实，不能批准",
        )
        + (f" ({hint})" if hint else ""),
        quota_status=st.status,
        allowed=["quota-retry"] if st.status in RETRYABLE else [],
    )
