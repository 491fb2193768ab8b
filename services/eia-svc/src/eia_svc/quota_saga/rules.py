"""Pure rules of a filing's quota state.

quota_status: not_requested (not accepted yet) | not_required (no VOCs
increment) | pending (asked, no answer yet) | secured (held, 已落实) |
blocked (shortfall) | lapsed (hold expired) | allocated (approved, posted) |
released (rejected or withdrawn) | lapsed_short (approved, but its hold
expired before the allocation and the district could not hold the need
again: nothing allocated, the shortfall recorded; an officer re-drives it
with quota-retry once quota is reclaimed).

An approved filing is `pending` only while such a re-drive waits for
quota-svc's answer: quota-svc then holds and allocates in one step."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from svc_common.errors import Conflict, IllegalTransition, named_zh
from svc_common.events.schemas.eia import FILING_REF_PREFIX
from svc_common.i18n import msg
from svc_common.types import kg_to_tonnes

from eia_svc.filings.rules import LABELS_ZH as FILING_LABELS_ZH

#: Quota states an officer may ask again from: refused, expired, or no
#: answer yet (a request that seems lost).
RETRYABLE = ("blocked", "lapsed", "pending")
#: Quota states of an *approved* filing an officer may re-drive: lapsed
#: short, or a re-drive still unanswered. Any other approved state is
#: refused (its quota is allocated, or its approval is on its way).
RETRYABLE_APPROVED = ("lapsed_short", "pending")
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
    "lapsed_short": "批准后预留过期且总量不足",
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


def on_rejected(
    st: QuotaState, attempt: int, shortfall_kg: int, undecided: bool, approved: bool = False
) -> QuotaState:
    """A refusal blocks an undecided filing. A filing withdrawn or rejected
    while its request was pending is settled by it too: nothing is held, so
    its quota is released (final) — it must not wait for a reply forever.
    An approved filing is refused when its hold lapsed before the approval
    reached the ledger, or when its re-drive still finds the district short:
    it is lapsed short, with the shortfall (nothing allocated)."""
    if is_stale(st, attempt):
        return st
    if approved:
        if st.status in ("secured", "lapsed", "pending", "lapsed_short"):
            return replace(st, status="lapsed_short", shortfall_kg=shortfall_kg)
        return st
    if st.status != "pending":
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
    approved: bool = False,
) -> bool:
    """An undecided filing whose quota request has had no answer for `after`
    is asked again (same attempt: quota-svc answers with the state it has);
    so is an approved filing's re-drive (it is pending only then)."""
    return (
        (undecided or approved)
        and st.status == "pending"
        and (asked_at is None or now - asked_at >= after)
    )


def allocates_on_hold(filing_status: str) -> bool:
    """Whether a quota request asks quota-svc to allocate what it holds at
    once: the re-drive of an approved filing (its approval was spent)."""
    return filing_status == "approved"


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


def may_retry(st: QuotaState, filing_status: str) -> bool:
    """Undecided and blocked, lapsed or pending (RETRYABLE); or approved and
    lapsed short, or its re-drive unanswered (RETRYABLE_APPROVED)."""
    if filing_status == "approved":
        return st.status in RETRYABLE_APPROVED
    return filing_status not in ("rejected", "withdrawn") and st.status in RETRYABLE


def retry(st: QuotaState, filing_status: str, filing_actions: list[str]) -> QuotaState:
    """An officer asks again once quota may have been reclaimed: attempt + 1.
    Refused (409 naming the filing's allowed actions) unless `may_retry`.
    For an approved filing the request asks quota-svc to hold and allocate
    in one step (allocates_on_hold); it waits, pending, for that answer."""
    if not may_retry(st, filing_status):
        said = msg(
            f"{filing_status} with quota {st.status}",
            f"{named_zh(filing_status, FILING_LABELS_ZH)}，"
            f"总量状态 {named_zh(st.status, LABELS_ZH)}",
        )
        refused = IllegalTransition(
            msg("filing", "环评文件"), said, "quota-retry", filing_actions, FILING_LABELS_ZH
        )
        # The detail says both states in words; `state` is a code, as in
        # every other 409 (a client compares it), the quota's beside it.
        refused.extra.update(state=filing_status, quota_status=st.status)
        raise refused
    return replace(
        st, status="pending", attempt=st.attempt + 1, reservation_id=None, shortfall_kg=None
    )


def short_pool(park: str | None) -> tuple[str, str]:
    """The pool that lacks quota, in words (English, Chinese): a bundled
    filing draws on its park's sub-pool (多评合一), so it is the park's
    (`park`, its name) that is short, not the district's."""
    if park:
        return f"the sub-pool of park {park}", f"园区“{park}”的总量子池指标不足"
    return "the district", "该区总量指标不足"


def refill(park: str | None) -> tuple[str, str]:
    """What must happen before a retry can find the quota (English,
    Chinese): a district's pool is refilled by reclaims from closed plants;
    a park's sub-pool only by an administrator's transfer into it from its
    district's pool (a reclaim credits the district, never the park)."""
    if park:
        return (
            "Once an administrator transfers quota into the park's sub-pool",
            "待管理员从所在区总量池向园区子池划转指标后，",
        )
    return "Once quota is reclaimed", "收回指标入库后"


def quota_note(st: QuotaState, filing_status: str, park: str | None = None) -> str | None:
    """What is happening to a filing's quota and what to do, where it needs
    someone's attention or patience (None where it does not): in the
    request's language, for the filing's page, the workbench and the
    operators' stuck-saga list. `park`: the name of the park whose
    sub-pool a bundled filing draws on (the pool a shortfall is in)."""
    short = "" if st.shortfall_kg is None else f"{kg_to_tonnes(st.shortfall_kg)}"
    pool, pool_zh = short_pool(park)
    when, when_zh = refill(park)
    if st.status == "lapsed_short":
        return msg(
            f"Approved, but the quota hold expired before it was allocated and {pool} "
            f"lacks {short or 'the'} t to hold it again: nothing is allocated. {when}, "
            "retry (quota-retry): quota-svc holds and allocates it in one step.",
            f"已批准，但总量预留在分配前已过期，{pool_zh}"
            + (f"（缺口 {short} 吨）" if short else "")
            + f"，无法重新预留，尚未分配。{when_zh}请重新申请总量（quota-retry），"
            "总量服务将一次完成预留和分配。",
        )
    if st.status == "pending" and filing_status == "approved":
        return msg(
            f"Approved; quota asked again (attempt {st.attempt}) to be held and allocated "
            "in one step: waiting for quota-svc's answer (asked again automatically).",
            f"已批准；已重新申请总量（第 {st.attempt} 次），由总量服务一次完成预留和分配，"
            "等待答复（未答复时系统会自动再次询问）。",
        )
    if filing_status in ("approved", "rejected", "withdrawn"):
        return None
    if st.status == "blocked":
        return msg(
            f"{pool[0].upper()}{pool[1:]} lacks {short or 'the'} t of quota. {when}, "
            "retry (quota-retry).",
            pool_zh
            + (f"（缺口 {short} 吨）" if short else "")
            + f"。{when_zh}请重新申请总量（quota-retry）。",
        )
    if st.status == "lapsed":
        return msg(
            "The quota hold expired before the decision: retry (quota-retry) to hold it again.",
            "总量预留已在决定前过期：请重新申请总量（quota-retry）。",
        )
    if st.status == "pending":
        return msg(
            f"Waiting for quota-svc's answer (attempt {st.attempt}); asked again "
            "automatically, or retry (quota-retry).",
            f"等待总量服务答复（第 {st.attempt} 次申请）；系统会自动再次询问，"
            "也可重新申请总量（quota-retry）。",
        )
    return None


def approvable(st: QuotaState) -> bool:
    """A filing with an increment cannot be approved until its quota is secured."""
    return st.status in ("secured", "not_required")


def check_approvable(st: QuotaState, park: str | None = None) -> None:
    """Refuse (409) the approval of a filing whose quota is not `approvable`
    (`park`: as `quota_note`'s, the park whose sub-pool is short)."""
    if approvable(st):
        return
    pool, pool_zh = short_pool(park)
    when, when_zh = refill(park)
    hint = {
        "blocked": msg(
            f"{pool} lacks quota; {when[0].lower()}{when[1:]}, retry (quota-retry)",
            f"{pool_zh}；{when_zh}请重新申请（quota-retry）",
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
        + (msg(f" ({hint})", f"（{hint}）") if hint else ""),
        quota_status=st.status,
        allowed=["quota-retry"] if st.status in RETRYABLE else [],
    )
