"""A permit keeps the first day of its unbroken validity (`in_force_from`):
a renewal (延续) moves `valid_from` to the new term's start, which may be
months ahead, while the permit stays in force through the old term. The
reports judge a permit valid on a day from this day to `valid_to`.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from svc_common.calendar import local_date
from svc_common.types import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The statutory term (排污许可证有效期为五年) that a renewed term followed on from.
_TERM_YEARS = 5

_permits = sa.table(
    "permits",
    sa.column("id", sa.String()),
    sa.column("valid_from", sa.Date()),
    sa.column("in_force_from", sa.Date()),
)
_audit = sa.table(
    "audit_log",
    sa.column("at", UTCDateTime()),
    sa.column("action", sa.String()),
    sa.column("target_type", sa.String()),
    sa.column("target_id", sa.String()),
)


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def upgrade() -> None:
    with op.batch_alter_table("permits") as batch:
        batch.add_column(sa.Column("in_force_from", sa.Date(), nullable=True))
    op.execute("UPDATE permits SET in_force_from = valid_from")
    bind = op.get_bind()

    def first_step(action: str) -> dict[str, dt.datetime]:
        """Each permit's first audit entry of `action`: permit id → when."""
        q = (
            sa.select(_audit.c.target_id, sa.func.min(_audit.c.at))
            .where(_audit.c.target_type == "permit", _audit.c.action == action)
            .group_by(_audit.c.target_id)
        )
        return {str(row[0]): row[1] for row in bind.execute(q)}

    renewed = first_step("permit.renew")
    if not renewed:
        return
    issued_on = {pid: local_date(at) for pid, at in first_step("permit.issue").items()}
    rows = bind.execute(
        sa.select(_permits.c.id, _permits.c.valid_from).where(_permits.c.valid_from.is_not(None))
    ).all()
    for pid, valid_from in rows:
        if pid not in renewed:
            continue
        # Issued here: the day it was issued. Imported, then renewed: the
        # certificate's earlier term, five years before the renewed one.
        first = issued_on.get(pid) or _years_before(valid_from, _TERM_YEARS)
        bind.execute(sa.update(_permits).where(_permits.c.id == pid).values(in_force_from=first))


def downgrade() -> None:
    with op.batch_alter_table("permits") as batch:
        batch.drop_column("in_force_from")
