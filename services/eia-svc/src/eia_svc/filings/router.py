"""/eia/filings: submission, review actions, reads and the overdue list."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import select
from svc_common.answers import answer
from svc_common.auth import Principal, require
from svc_common.clock import DURATION_PATTERN, parse_duration
from svc_common.db import Database
from svc_common.districts import DistrictCode
from svc_common.errors import Forbidden, NotFound, field_error
from svc_common.i18n import msg
from svc_common.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Cursor,
    Page,
    decode_cursor,
    keyset_after,
    keyset_page,
)
from svc_common.service import get_db, get_runtime
from svc_common.types import ResourceId, kg_to_tonnes, utcnow
from svc_common.uscc import USCC

from eia_svc.filings import rules, service
from eia_svc.filings.models import FilingRow
from eia_svc.filings.schemas import (
    ActionIn,
    FilingAcceptIn,
    FilingApproveIn,
    FilingEvaluationDoneIn,
    FilingIn,
    FilingOut,
    FilingQuotaRetryIn,
    FilingRejectIn,
    FilingReviewDoneIn,
    FilingWithdrawIn,
    QuotaStatus,
)
from eia_svc.quota_saga.rules import project_ref, quota_note
from eia_svc.settings import Settings

router = APIRouter(prefix="/eia", tags=["filings"])
READ_ROLES = ("filer", "officer", "admin", "auditor")
#: Who acts on a filing: officers in their own districts, admins; only
#: whoever submitted it withdraws it (a filer may do nothing else).
OFFICERS = ("officer", "admin")


def _settings(request: Request) -> Settings:
    s = get_runtime(request).settings
    assert isinstance(s, Settings)
    return s


FilingStatus = Literal[
    "submitted", "accepted", "evaluated", "reviewed", "approved", "rejected", "withdrawn"
]


def _position(cursor: str) -> tuple[dt.datetime, str]:
    """The (created_at, id) a cursor carries; anything else is the caller's error."""
    position, last_id = decode_cursor(cursor, "time", "str") or (None, None)
    assert position is not None and last_id is not None
    return position, last_id


def _iso(t: dt.datetime | None) -> str | None:
    return t.isoformat() if t else None


def to_out(
    f: FilingRow, now: dt.datetime, p: Principal, parks: Mapping[str, str] | None = None
) -> FilingOut:
    """The filing's answer to `p`, whose actions it lists (`allowed_actions`:
    what this caller may do now); `parks` names the parks bundled filings
    draw on (`service.park_names`), for a quota note to name the pool that
    is short."""
    return FilingOut(
        id=f.id,
        project_ref=project_ref(f.id),
        project_name=f.project_name,
        uscc=f.uscc,
        enterprise_name=f.enterprise_name,
        district=f.district,
        project_type=f.project_type,
        industry_code=f.industry_code,
        category=f.category,
        channel=f.channel,
        major_project=f.major_project,
        major_kind=f.major_kind,
        green_channel=rules.green_channel_status(
            f.major_project, f.channel, f.accepted_at is not None
        ),
        park_id=f.park_id,
        control_unit=f.control_unit,
        vocs_increment_t=kg_to_tonnes(f.vocs_increment_kg),
        status=f.status,
        evaluation_done=f.evaluation_done,
        review_done=f.review_done,
        allowed_actions=rules.actions_for(
            service.allowed_actions(f), p.role, p.sub, f.submitted_by, f.submitted_role
        ),
        submitted_by=f.submitted_by,
        created_at=f.created_at.isoformat(),
        accepted_at=_iso(f.accepted_at),
        due_at=_iso(f.due_at),
        due_on=rules.last_day(f.due_at).isoformat() if f.due_at else None,
        overdue=rules.is_overdue(f.status, f.due_at, now),
        decided_at=_iso(f.decided_at),
        decision_note=f.decision_note,
        quota_status=f.quota_status,
        quota_attempt=f.quota_attempt,
        reservation_id=f.reservation_id,
        quota_shortfall_t=None
        if f.quota_shortfall_kg is None
        else kg_to_tonnes(f.quota_shortfall_kg),
        quota_allocated_t=None
        if f.quota_allocated_kg is None
        else kg_to_tonnes(f.quota_allocated_kg),
        quota_asked_at=_iso(f.quota_asked_at),
        quota_first_asked_at=_iso(f.quota_first_asked_at),
        quota_asks=f.quota_asks or 0,
        quota_note=quota_note(service.quota_state(f), f.status, service.pool_park(f, parks or {})),
    )


def may_see(p: Principal, f: FilingRow) -> bool:
    if p.role == "filer":
        return f.submitted_by == p.sub and p.may_act_in(f.district)
    return p.role in ("officer", "admin", "auditor") and p.may_act_in(f.district)


@router.post("/filings", status_code=201, response_model=FilingOut)
async def submit_filing(
    body: FilingIn,
    request: Request,
    principal: Principal = Depends(require("filer", "officer", "admin")),
    db: Database = Depends(get_db),
) -> FilingOut:
    """Submit a report / report-form filing, to be accepted (受理) by an
    officer: a claimed major project asks for the green channel, which the
    accepting officer confirms or declines; a project covered by its park's
    bundled EIA is filed against it. No quota is asked before acceptance."""
    now = utcnow()
    async with db.transaction() as s:
        f = await service.create_filing(s, principal, body, now, _settings(request))
        parks = await service.park_names(s, [f])
    return to_out(f, now, principal, parks)


# The review: one route per action, each with the body of exactly what the
# action takes (a field it does not take is a 422 naming it, as is a
# required one missing), all through `_act`.


async def _act(
    filing_id: str, body: ActionIn, principal: Principal, db: Database, settings: Settings
) -> Response:
    now = utcnow()
    async with db.transaction() as s:
        f, loaded = await service.lock_filing(s, filing_id)
        _check_may_act(principal, f, body)
        parks = await service.park_names(s, [f])
        events = service.act(f, body, now, settings, service.pool_park(f, parks), actor=principal)
        await service.save_action(s, principal, f, loaded, body, events)
    return answer(FilingOut, to_out(f, now, principal, parks))


def _check_may_act(p: Principal, f: FilingRow, body: ActionIn) -> None:
    # A filing the caller may not see is not found, as a read says: a 403
    # naming its district would tell that it exists. A filer reaches only
    # withdraw (the other routes do not admit it), and only for a filing it
    # submitted; every role acts only in its token's districts.
    if not may_see(p, f):
        raise NotFound(msg(f"filing {f.id} not found", f"未找到环评文件 {f.id}"))
    # Withdrawal is the applicant's: an officer who did not submit it rejects.
    # A filing that cannot be withdrawn now at all is the state's 409 (act).
    acts = service.allowed_actions(f)
    if (
        isinstance(body, FilingWithdrawIn)
        and "withdraw" in acts
        and not rules.may_withdraw(f.submitted_by, p.sub)
    ):
        allowed = rules.actions_for(acts, p.role, p.sub, f.submitted_by, f.submitted_role)
        raise Forbidden(rules.withdraw_refusal(f.id, "reject" in allowed), allowed=allowed)
    # Four eyes: who submitted a filing for its applicant does not decide it.
    rules.check_four_eyes(f.id, body.action, f.submitted_by, f.submitted_role, p.sub)


@router.post("/filings/{filing_id}/accept", response_model=FilingOut)
async def accept_filing(
    filing_id: ResourceId,
    request: Request,
    body: FilingAcceptIn | None = None,
    principal: Principal = Depends(require(*OFFICERS)),
    db: Database = Depends(get_db),
) -> Response:
    """Accept a submitted filing (受理): its statutory clock starts and its
    quota is asked of quota-svc. A filing that claims to be a major project
    takes `{"green_channel": true}` (claim confirmed: green channel) or
    `false` (normal procedure); any other no body, or `{}`."""
    return await _act(filing_id, body or FilingAcceptIn(), principal, db, _settings(request))


@router.post("/filings/{filing_id}/evaluation-done", response_model=FilingOut)
async def complete_filing_evaluation(
    filing_id: ResourceId,
    request: Request,
    body: FilingEvaluationDoneIn | None = None,
    principal: Principal = Depends(require(*OFFICERS)),
    db: Database = Depends(get_db),
) -> Response:
    """Record the technical evaluation done (技术评估完成). No body, or `{}`."""
    given = body or FilingEvaluationDoneIn()
    return await _act(filing_id, given, principal, db, _settings(request))


@router.post("/filings/{filing_id}/review-done", response_model=FilingOut)
async def complete_filing_review(
    filing_id: ResourceId,
    request: Request,
    body: FilingReviewDoneIn | None = None,
    principal: Principal = Depends(require(*OFFICERS)),
    db: Database = Depends(get_db),
) -> Response:
    """Record the review done (审查完成). No body, or `{}`."""
    return await _act(filing_id, body or FilingReviewDoneIn(), principal, db, _settings(request))


@router.post("/filings/{filing_id}/approve", response_model=FilingOut)
async def approve_filing(
    filing_id: ResourceId,
    request: Request,
    body: FilingApproveIn | None = None,
    principal: Principal = Depends(require(*OFFICERS)),
    db: Database = Depends(get_db),
) -> Response:
    """Approve a reviewed filing (批准), with a note if any; its quota must be
    secured or not required."""
    return await _act(filing_id, body or FilingApproveIn(), principal, db, _settings(request))


@router.post("/filings/{filing_id}/reject", response_model=FilingOut)
async def reject_filing(
    filing_id: ResourceId,
    request: Request,
    body: FilingRejectIn,
    principal: Principal = Depends(require(*OFFICERS)),
    db: Database = Depends(get_db),
) -> Response:
    """Reject a reviewed filing (不予批准), with the reason (行政许可法 §38)."""
    return await _act(filing_id, body, principal, db, _settings(request))


@router.post("/filings/{filing_id}/withdraw", response_model=FilingOut)
async def withdraw_filing(
    filing_id: ResourceId,
    request: Request,
    body: FilingWithdrawIn | None = None,
    principal: Principal = Depends(require(*OFFICERS, "filer")),
    db: Database = Depends(get_db),
) -> Response:
    """Withdraw an undecided filing (撤回), with the reason if any: by its
    applicant, whoever submitted it (an officer who did not is refused, 403:
    it rejects, with the reason)."""
    return await _act(filing_id, body or FilingWithdrawIn(), principal, db, _settings(request))


@router.post("/filings/{filing_id}/quota-retry", response_model=FilingOut)
async def retry_filing_quota(
    filing_id: ResourceId,
    request: Request,
    body: FilingQuotaRetryIn | None = None,
    principal: Principal = Depends(require(*OFFICERS)),
    db: Database = Depends(get_db),
) -> Response:
    """Ask quota-svc again (重新申请总量): a blocked, lapsed or long-pending
    quota, or an approved filing's quota lapsed short. No body, or `{}`."""
    return await _act(filing_id, body or FilingQuotaRetryIn(), principal, db, _settings(request))


@router.get("/filings/{filing_id}", response_model=FilingOut)
async def get_filing(
    filing_id: ResourceId,
    principal: Principal = Depends(require(*READ_ROLES)),
    db: Database = Depends(get_db),
) -> Response:
    f = await service.find_filing(db, filing_id)
    if f is None or not may_see(principal, f):
        raise NotFound(msg(f"filing {filing_id} not found", f"未找到环评文件 {filing_id}"))
    parks: dict[str, str] = {}
    if service.pool_park(f, parks):  # a bundled filing: its park's name, for its note
        async with db.session() as s:
            parks = await service.park_names(s, [f])
    return answer(FilingOut, to_out(f, utcnow(), principal, parks))


@router.get("/filings", response_model=Page[FilingOut])
async def list_filings(
    district: DistrictCode | None = None,
    status: FilingStatus | None = None,
    overdue: bool = False,
    uscc: USCC | None = None,
    quota_status: QuotaStatus | None = None,
    older_than: str | None = Query(
        None,
        max_length=40,
        pattern=DURATION_PATTERN,
        description="with quota_status: first asked of quota-svc for its current request "
        "at least this long ago, however often asked again since (ISO 8601 duration, "
        "e.g. PT5M) — the stuck-saga list",
        examples=["PT5M"],
    ),
    cursor: Cursor = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    principal: Principal = Depends(require(*READ_ROLES)),
    db: Database = Depends(get_db),
) -> Page[FilingOut]:
    """Oldest first. overdue=true lists undecided filings past their statutory
    deadline (限时办结) at the time of the request; quota_status=pending with
    older_than=PT5M lists sagas waiting for quota-svc that long;
    quota_status=lapsed_short lists approved filings whose quota lapsed short
    (to re-drive with quota-retry once quota is reclaimed); `uscc` narrows
    to one enterprise."""
    now = utcnow()
    q = select(FilingRow)
    if principal.role == "filer":
        q = q.where(FilingRow.submitted_by == principal.sub)
    if district:
        principal.require_district(district)
    if (scope := principal.district_scope()) is not None:
        q = q.where(FilingRow.district.in_(sorted(scope)))
    if quota_status:
        q = q.where(FilingRow.quota_status == quota_status)
    if older_than is not None:
        try:
            age = parse_duration(older_than)
        except ValueError as exc:
            raise field_error(
                "older_than",
                msg(
                    "must be an ISO 8601 duration such as PT5M",
                    "必须是 ISO 8601 时长，例如 PT5M",
                ),
            ) from exc
        # How long the saga has waited since it asked, not since the
        # sweeper last asked again: every QUOTA_REASK_AFTER_SECONDS (120 s)
        # it moves `quota_asked_at` on, and no filing measured from that
        # was ever five minutes old.
        q = q.where(FilingRow.quota_first_asked_at <= now - age)
    if district:
        q = q.where(FilingRow.district == district)
    if status:
        q = q.where(FilingRow.status == status)
    if uscc:
        q = q.where(FilingRow.uscc == uscc)
    if overdue:
        q = q.where(FilingRow.status.not_in(sorted(rules.DECIDED)), FilingRow.due_at <= now)
    if cursor:
        q = q.where(keyset_after(_position(cursor), FilingRow.created_at, FilingRow.id))
    q = q.order_by(FilingRow.created_at, FilingRow.id).limit(limit + 1)
    async with db.session() as s:
        rows = list((await s.execute(q)).scalars())
        parks = await service.park_names(s, rows)
    return keyset_page(
        rows,
        limit,
        lambda f: [f.created_at.isoformat(), f.id],
        lambda f: to_out(f, now, principal, parks),
    )
