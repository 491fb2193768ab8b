"""permit-svc's own Prometheus figures: approved filings parked (no permit
application drafted yet). Refreshed off the request path by svc_common's
metrics refresher (ServiceSpec.gauges); see docs/operations.md."""

from __future__ import annotations

from sqlalchemy import func, select
from svc_common.districts import DISTRICTS
from svc_common.metrics import Family
from svc_common.service import Runtime
from svc_common.types import utcnow

from permit_svc.parked.models import ParkedFiling
from permit_svc.parked.rules import INDUSTRY_UNCLASSIFIED, WAITING

PARKED = Family(
    "permit_filings_parked",
    "Approved EIA filings waiting for their permit application to be drafted, "
    "by district and reason (industry_unclassified: code not in the classification table)",
    ["district", "reason"],
)
PARKED_OLDEST_AGE = Family(
    "permit_filings_parked_oldest_age_seconds",
    "How long the longest-waiting parked filing has waited (0 when none waits)",
)
FAMILIES = [PARKED, PARKED_OLDEST_AGE]


async def parked_figures(rt: Runtime) -> None:
    waiting = ParkedFiling.state == WAITING
    async with rt.db.session() as s:
        counts: dict[tuple[str, ...], float] = {
            (district, reason): n
            for district, reason, n in await s.execute(
                select(ParkedFiling.district, ParkedFiling.reason, func.count())
                .where(waiting)
                .group_by(ParkedFiling.district, ParkedFiling.reason)
            )
        }
        oldest = await s.scalar(select(func.min(ParkedFiling.received_at)).where(waiting))
    # Every district is reported, 0 included, so an alert sees 0 become 1
    # rather than a series appear.
    for d in DISTRICTS:
        counts.setdefault((d, INDUSTRY_UNCLASSIFIED), 0)
    name = rt.service
    PARKED.publish(name, counts)
    age = max(0.0, (utcnow() - oldest).total_seconds()) if oldest is not None else 0.0
    PARKED_OLDEST_AGE.set(name, age)
