"""The statutory clock of permits: expiry at the end of the term."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from svc_common import outbox
from svc_common.audit import SYSTEM
from svc_common.db import Database
from svc_common.events.schemas import permit as ev

from permit_svc.calendar import local_today
from permit_svc.permits import rules
from permit_svc.permits.models import Permit
from permit_svc.permits.service import step


async def expire_due(db: Database, now: dt.datetime, batch: int = 500) -> int:
    """Statutory clock: permits in force past their valid-to date expire, each
    with a permit.expired event. Safe on several replicas (SKIP LOCKED)."""
    today = local_today(now)
    total = 0
    while True:
        async with db.transaction() as s:
            due = (
                await s.scalars(
                    select(Permit)
                    .where(Permit.status.in_(rules.IN_FORCE), Permit.valid_to < today)
                    .order_by(Permit.valid_to)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for p in due:
                assert p.permit_no and p.valid_to
                step(s, SYSTEM, p, "expire", rules.next_status(p.status, "expire"), now, {})
                outbox.emit(
                    s,
                    ev.PermitExpired(
                        permit_id=p.id,
                        permit_no=p.permit_no,
                        uscc=p.uscc,
                        district=p.district,
                        expired_on=p.valid_to + dt.timedelta(days=1),
                    ),
                )
        total += len(due)
        if len(due) < batch:
            return total
