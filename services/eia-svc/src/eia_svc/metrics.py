"""eia-svc's own Prometheus figures: the quota saga of its filings and the
statutory clock (限时办结). Refreshed off the request path by svc_common's
metrics refresher (ServiceSpec.gauges); see docs/operations.md."""

from __future__ import annotations

from sqlalchemy import func, select
from svc_common.districts import DISTRICTS
from svc_common.metrics import Family
from svc_common.service import Runtime
from svc_common.types import utcnow

from eia_svc.filings.models import FilingRow
from eia_svc.filings.rules import DECIDED

#: Every quota_status of a filing (see eia_svc.quota_saga.rules).
QUOTA_STATUSES = (
    "not_requested",
    "not_required",
    "pending",
    "secured",
    "blocked",
    "lapsed",
    "allocated",
    "released",
    "lapsed_short",
)

FILINGS_BY_QUOTA_STATUS = Family(
    "eia_filings_by_quota_status",
    "Filings by the state of their quota saga (pending: asked, no answer yet)",
    ["quota_status"],
)
PENDING_OLDEST_AGE = Family(
    "eia_quota_pending_oldest_age_seconds",
    "How long the longest-waiting filing has waited for quota-svc's answer since it "
    "was last asked (0 when none waits; it is asked again after QUOTA_REASK_AFTER_SECONDS)",
)
PENDING_REASKED = Family(
    "eia_quota_pending_reasked",
    "Filings still waiting for quota-svc's answer after being asked again for want of one",
)
BLOCKED = Family(
    "eia_filings_blocked",
    "Undecided filings blocked by a quota shortfall, by district",
    ["district"],
)
OVERDUE = Family(
    "eia_filings_overdue",
    "Undecided filings past their statutory deadline (限时办结), by district",
    ["district"],
)
FAMILIES = [FILINGS_BY_QUOTA_STATUS, PENDING_OLDEST_AGE, PENDING_REASKED, BLOCKED, OVERDUE]


async def filing_figures(rt: Runtime) -> None:
    now = utcnow()
    undecided = FilingRow.status.not_in(sorted(DECIDED))
    async with rt.db.session() as s:
        by_status = dict(
            (
                await s.execute(
                    select(FilingRow.quota_status, func.count()).group_by(FilingRow.quota_status)
                )
            ).all()
        )
        pending = FilingRow.quota_status == "pending"
        # When quota-svc was last asked (accept, retry or re-ask); rows from
        # before that was recorded fall back to their last change.
        oldest = await s.scalar(
            select(func.min(func.coalesce(FilingRow.quota_asked_at, FilingRow.updated_at))).where(
                pending
            )
        )
        reasked = await s.scalar(
            select(func.count()).where(pending, undecided, FilingRow.quota_asks > 0)
        )
        blocked = dict(
            (
                await s.execute(
                    select(FilingRow.district, func.count())
                    .where(FilingRow.quota_status == "blocked", undecided)
                    .group_by(FilingRow.district)
                )
            ).all()
        )
        overdue = dict(
            (
                await s.execute(
                    select(FilingRow.district, func.count())
                    .where(undecided, FilingRow.due_at <= now)
                    .group_by(FilingRow.district)
                )
            ).all()
        )
    name = rt.service
    statuses = set(QUOTA_STATUSES) | set(by_status)
    FILINGS_BY_QUOTA_STATUS.publish(name, {(st,): by_status.get(st, 0) for st in statuses})
    PENDING_OLDEST_AGE.set(
        name, max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    )
    # Every district is reported, 0 included, so a panel or an alert sees a
    # district go from 0 to 1 rather than a series appear.
    districts = set(DISTRICTS) | set(blocked) | set(overdue)
    PENDING_REASKED.set(name, reasked or 0)
    BLOCKED.publish(name, {(d,): blocked.get(d, 0) for d in districts})
    OVERDUE.publish(name, {(d,): overdue.get(d, 0) for d in districts})
