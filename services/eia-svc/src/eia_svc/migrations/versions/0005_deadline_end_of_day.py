"""Statutory deadlines at the end of their last day in Beijing: a filing's
`due_at` was its acceptance instant plus the limit in days; it is now the
first instant after the limit's last day (Asia/Shanghai), a day off moved
on to the next working day. The last day is the Beijing date of the old
value (acceptance date + the limit), so every stored deadline is rewritten
exactly, whatever the limits were then.

Down, each deadline is written back as the code before reads one: the
instant of acceptance plus whole days, to the same last day (a day off
moved on stays moved on). Not a no-op: the upgrade reads the old form,
and a deadline left in the new form would be moved a day later by the
next upgrade.

Revision ID: 0005
Revises: common_v3
Create Date: 2026-12-03
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from svc_common.calendar import end_of_day, is_working_day, local_date
from svc_common.types import UTCDateTime

revision: str = "0005"
down_revision: str | None = "common_v3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILINGS = sa.table(
    "filings",
    sa.column("id", sa.String),
    sa.column("accepted_at", UTCDateTime),
    sa.column("due_at", UTCDateTime),
)


def _end_of_beijing_day(at: dt.datetime) -> dt.datetime:
    last = local_date(at)
    while not is_working_day(last):
        last += dt.timedelta(days=1)
    return end_of_day(last)


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(FILINGS.c.id, FILINGS.c.due_at).where(FILINGS.c.due_at.is_not(None))
    )
    for filing_id, due_at in rows.all():
        new = _end_of_beijing_day(due_at)
        if new != due_at:
            bind.execute(FILINGS.update().where(FILINGS.c.id == filing_id).values(due_at=new))


def downgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(FILINGS.c.id, FILINGS.c.accepted_at, FILINGS.c.due_at).where(
            FILINGS.c.due_at.is_not(None), FILINGS.c.accepted_at.is_not(None)
        )
    )
    for filing_id, accepted_at, due_at in rows.all():
        # The last day is the Beijing day before the deadline's instant; the
        # old form reaches it from the instant of acceptance in whole days.
        last = local_date(due_at) - dt.timedelta(days=1)
        days = (last - local_date(accepted_at)).days
        old = accepted_at + dt.timedelta(days=days)
        if old != due_at:
            bind.execute(FILINGS.update().where(FILINGS.c.id == filing_id).values(due_at=old))
