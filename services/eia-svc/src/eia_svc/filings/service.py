"""Orchestration of filings: creation with screening, review actions, and the
events each step owes the quota saga. Every write is one transaction with its
audit entry and its outbox rows."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Literal, cast, overload

from sqlalchemy import Table, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.audit import audit_row, record_audit
from svc_common.auth import Principal
from svc_common.db import Database, DriverStatement, by_attribute
from svc_common.errors import NotFound, field_error
from svc_common.events.registry import EventPayload
from svc_common.events.schemas.eia import (
    FilingAccepted,
    FilingApproved,
    FilingQuotaRetry,
    FilingRejected,
    FilingWithdrawn,
)
from svc_common.i18n import msg
from svc_common.types import kg_to_tonnes, tonnes_to_kg
from svc_common.writes import Writes, transient

from eia_svc.filings import rules
from eia_svc.filings.models import FilingRow
from eia_svc.filings.schemas import (
    DECISIONS,
    ActionIn,
    FilingAcceptIn,
    FilingIn,
    FilingQuotaRetryIn,
)
from eia_svc.parks.models import ParkRow
from eia_svc.parks.rules import is_covered, park_problem
from eia_svc.parks.service import find_park
from eia_svc.quota_saga import rules as quota
from eia_svc.screening.rules import Issue, ProjectFacts, industry_of, screen_filing
from eia_svc.screening.service import lookups, raise_if_any
from eia_svc.settings import Settings


def limits_of(settings: Settings) -> rules.ClockLimits:
    return rules.ClockLimits(
        report=settings.report_decision_days,
        report_form=settings.report_form_decision_days,
        green_report=settings.green_report_decision_days,
        green_report_form=settings.green_report_form_decision_days,
        bundled=settings.bundled_decision_days,
    )


FILINGS = cast(Table, FilingRow.__table__)

_FILING = select(FILINGS).where(FILINGS.c.id == bindparam("fid"))
_BY_ID = DriverStatement(_FILING)
_LOCK_BY_ID = DriverStatement(_FILING.with_for_update())


async def find_filing(db: Database, filing_id: str) -> FilingRow | None:
    """A filing by id, for reading: one statement (on PostgreSQL one
    autocommit round trip on the driver) and its columns read by attribute,
    no entity loaded (`by_attribute`)."""
    found = await db.fetch_alone(_BY_ID, {"fid": filing_id})
    return cast(FilingRow, by_attribute(found[0])) if found else None


def review_state(f: FilingRow) -> rules.ReviewState:
    return rules.ReviewState(f.channel, f.status, f.evaluation_done, f.review_done)


def allowed_actions(f: FilingRow) -> list[str]:
    """The filing's actions, by the rules `act` applies: its review's steps,
    approve only when its quota is approvable, quota-retry when allowed."""
    q = quota_state(f)
    return rules.allowed_actions(review_state(f), quota.approvable(q), quota.may_retry(q, f.status))


def quota_state(f: FilingRow) -> quota.QuotaState:
    return quota.QuotaState(
        f.quota_status,
        f.quota_attempt,
        f.reservation_id,
        f.quota_shortfall_kg,
        f.quota_allocated_kg,
    )


def set_quota(f: FilingRow, st: quota.QuotaState) -> None:
    f.quota_status, f.quota_attempt, f.reservation_id = st.status, st.attempt, st.reservation_id
    f.quota_shortfall_kg, f.quota_allocated_kg = st.shortfall_kg, st.allocated_kg


def _project(f: FilingRow) -> dict[str, Any]:
    """What the saga's requests and the approval say of the filing's project."""
    return {
        "filing_id": f.id,
        "project_ref": quota.project_ref(f.id),
        "project_name": f.project_name,
        "uscc": f.uscc,
        "enterprise_name": f.enterprise_name,
        "district": f.district,
        "industry_code": f.industry_code,
        "category": f.category,
        "vocs_increment_t": kg_to_tonnes(f.vocs_increment_kg),
        # A bundled filing names its park: quota-svc draws on its sub-pool.
        "park_id": f.park_id if f.channel == "bundled" else None,
    }


def quota_request(
    f: FilingRow, cls: type[FilingAccepted] | type[FilingQuotaRetry]
) -> FilingAccepted | FilingQuotaRetry:
    """The reservation request; a bundled filing names its park, so quota-svc
    reserves from the park's sub-pool. An approved filing's retry (its quota
    lapsed short) asks quota-svc to allocate what it holds at once."""
    req = cls(
        **_project(f),
        project_type=f.project_type,
        channel=f.channel,
        attempt=f.quota_attempt,
    )
    if isinstance(req, FilingQuotaRetry) and quota.allocates_on_hold(f.status):
        return req.model_copy(update={"allocate_on_hold": True})
    return req


def _accept(f: FilingRow, now: dt.datetime, limits: rules.ClockLimits) -> list[EventPayload]:
    """Acceptance (受理) by an officer, in the channel it decided: starts the
    statutory clock and asks for quota (the request to quota-svc, if the
    project needs quota). Nothing else starts the quota saga."""
    f.accepted_at = now
    f.due_at = rules.decision_due(now, f.channel, f.category, limits)
    set_quota(f, quota.on_request(f.vocs_increment_kg))
    if f.quota_status != "pending":
        return []
    f.quota_asked_at = f.quota_first_asked_at = now
    return [quota_request(f, FilingAccepted)]


async def create_filing(
    s: AsyncSession, p: Principal, body: FilingIn, now: dt.datetime, settings: Settings
) -> FilingRow:
    facts = ProjectFacts(
        body.uscc,
        body.district,
        body.project_type,
        body.industry_code,
        body.control_unit,
        tonnes_to_kg(body.vocs_increment_t),
    )
    types, units = await lookups(s, facts)
    limit = settings.registration_form_vocs_limit_kg
    issues = screen_filing(facts, body.category, types, units, limit)
    if problem := rules.major_kind_problem(body.major_project, body.major_kind):
        issues.append(Issue("major_kind", problem))
    park = await find_park(s, body.park_id) if body.park_id else None
    if body.park_id and (problem := park_problem(park, body.park_id, body.district)):
        issues.append(Issue("park_id", problem))
    raise_if_any(issues)
    # Every role files only in its token's districts (admins and filers too).
    p.require_district(body.district)
    # A major-project claim or a park is the applicant's: the filing waits
    # for an officer's acceptance (受理), which alone asks for quota.
    channel = rules.channel_for(is_covered(park, body.project_type))
    st = rules.initial_state(channel)
    f = FilingRow(
        id=str(uuid.uuid4()),
        project_name=body.project_name,
        uscc=body.uscc,
        enterprise_name=body.enterprise_name,
        district=body.district,
        project_type=body.project_type,
        industry_code=industry_of(facts, types.get(body.project_type)) or "",
        category=body.category,
        channel=channel,
        major_project=body.major_project,
        major_kind=body.major_kind,
        park_id=body.park_id,
        control_unit=body.control_unit,
        vocs_increment_kg=tonnes_to_kg(body.vocs_increment_t),
        status=st.status,
        evaluation_done=False,
        review_done=False,
        submitted_by=p.sub,
        submitted_role=p.role,
        created_at=now,
        updated_at=now,
        quota_status="not_requested",
        quota_attempt=0,
    )
    s.add(f)
    record_audit(
        s, p, "filing.create", "filing", f.id, {"channel": channel, "category": f.category}
    )
    return f


@overload
async def lock_filing(s: AsyncSession, filing_id: str) -> tuple[FilingRow, dict[str, Any]]: ...
@overload
async def lock_filing(
    s: AsyncSession, filing_id: str, *, missing_ok: Literal[True]
) -> tuple[FilingRow, dict[str, Any]] | None: ...
async def lock_filing(
    s: AsyncSession, filing_id: str, *, missing_ok: bool = False
) -> tuple[FilingRow, dict[str, Any]] | None:
    """The filing locked in the session's transaction (FOR UPDATE), as a
    transient row (`svc_common.writes.transient`), and its columns as read
    (for `Writes.save`): one statement on the driver, no entity loaded into
    the session. Not found: 404, or None with `missing_ok`."""
    found = await _LOCK_BY_ID.fetch_in(await s.connection(), {"fid": filing_id})
    if found:
        return transient(FilingRow, found[0])
    if missing_ok:
        return None
    raise NotFound(msg(f"filing {filing_id} not found", f"未找到环评文件 {filing_id}"))


async def save_action(
    s: AsyncSession,
    p: Principal,
    f: FilingRow,
    loaded: dict[str, Any],
    body: ActionIn,
    events: list[EventPayload],
) -> None:
    """Write what an action (named by its body's class) changed, its events
    and its audit entry: on PostgreSQL one statement (`Writes`)."""
    writes = Writes()
    writes.save(FILINGS, "id", f, loaded)
    writes.events(s, events)
    reason = body.reason if isinstance(body, DECISIONS) else None
    detail: dict[str, Any] = {"status": f.status, "reason": reason}
    if isinstance(body, FilingAcceptIn):  # the channel the officer accepted it in
        detail["channel"] = f.channel
    writes.audit([audit_row(p, f"filing.{body.action}", "filing", f.id, detail)])
    await writes.execute(await s.connection())


def act(
    f: FilingRow,
    body: ActionIn,
    now: dt.datetime,
    settings: Settings,
    park: str | None = None,
    actor: Principal | None = None,
) -> list[EventPayload]:
    """Apply a review action to `f`, the action named by its body's class
    (whose model has required what the step needs: a rejection its reason,
    行政许可法 §38); the events it owes the quota saga. Illegal → 409 naming
    the allowed: those `actor` may take (an officer is not offered a
    withdrawal it would be refused, 403). `park`: the name of the park whose
    sub-pool a bundled filing draws on, for a refusal to name the pool that
    is short."""
    events: list[EventPayload] = []
    action = body.action
    allowed = allowed_actions(f)
    offered = (
        allowed
        if actor is None
        else rules.actions_for(allowed, actor.role, actor.sub, f.submitted_by, f.submitted_role)
    )
    if isinstance(body, FilingQuotaRetryIn):
        st = quota.retry(quota_state(f), f.status, allowed)
        set_quota(f, st)
        # A new request: its wait starts now (re-asks keep it).
        f.quota_asked_at = f.quota_first_asked_at = now
        events.append(quota_request(f, FilingQuotaRetry))
    else:
        green = isinstance(body, FilingAcceptIn) and body.green_channel is True
        new = rules.apply(review_state(f), action, offered, green)
        if isinstance(body, FilingAcceptIn) and (
            problem := rules.green_channel_problem(f.major_project, f.channel, body.green_channel)
        ):
            raise field_error("green_channel", problem)
        if action == "approve":
            quota.check_approvable(quota_state(f), park)
        f.channel, f.status, f.evaluation_done, f.review_done = (
            new.channel,
            new.status,
            new.evaluation_done,
            new.review_done,
        )
        if action == "accept":
            events += _accept(f, now, limits_of(settings))
        elif action == "evaluation-done":
            f.evaluation_done_at = now
        elif action == "review-done":
            f.review_done_at = now
        elif isinstance(body, DECISIONS):
            f.decided_at, f.decision_note = now, body.reason
            events.append(_decision(f, action))
    f.updated_at = now
    return events


async def park_names(s: AsyncSession, filings: Iterable[FilingRow]) -> dict[str, str]:
    """The names of the parks whose sub-pools the bundled ones of `filings`
    draw on (a shortfall is the park's), by id; no query when none is."""
    ids = sorted({f.park_id for f in filings if f.channel == "bundled" and f.park_id})
    if not ids:
        return {}
    found = await s.execute(select(ParkRow.id, ParkRow.name).where(ParkRow.id.in_(ids)))
    return {str(i): str(n) for i, n in found}


def pool_park(f: FilingRow, names: Mapping[str, str]) -> str | None:
    """The park whose sub-pool `f` draws on, by name (its id if unknown);
    None when it draws on its district's pool."""
    if f.channel != "bundled" or not f.park_id:
        return None
    return names.get(f.park_id, f.park_id)


def release_request(f: FilingRow) -> FilingRejected | FilingWithdrawn:
    """The event asking quota-svc to release a decided filing's hold (sent
    again when a hold arrives after the decision)."""
    ref = quota.project_ref(f.id)
    if f.status == "rejected":
        return FilingRejected(
            filing_id=f.id,
            project_ref=ref,
            district=f.district,
            reason=f.decision_note or "rejected",
        )
    return FilingWithdrawn(
        filing_id=f.id, project_ref=ref, district=f.district, reason=f.decision_note
    )


def _decision(f: FilingRow, action: str) -> EventPayload:
    """The event announcing a decision: an approval, or the request to
    release the hold of a rejected or withdrawn filing."""
    if action != "approve":
        return release_request(f)
    return FilingApproved(**_project(f))
