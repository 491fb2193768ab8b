"""Allocations naming no enterprise, drawn on before an allocation backed
one enterprise only: each is given to the enterprise that drew on it, so
that no other enterprise's permit citing the same project claims it first
and leaves the one that used it drawn beyond what it has.

An allocation of a project cited by the permits of exactly one enterprise
of its district that drew quota (`quota_drawn_kg` > 0) is that
enterprise's. One cited by several such enterprises is left unnamed: which
drew on it cannot be told from the rows, and the first of them to draw
again claims it (permit-svc's rule, docs/permit-svc.md).

Revision ID: 0004
Revises: common_v7
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "common_v7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The enterprises of an allocation's district whose permits cite its
#: project and drew quota.
_DREW = (
    "FROM permits AS p WHERE p.project_ref = quota_allocations.project_ref"
    " AND p.district = quota_allocations.district AND p.quota_drawn_kg > 0"
)


def upgrade() -> None:
    op.execute(
        sa.text(
            f"UPDATE quota_allocations SET uscc = (SELECT MIN(p.uscc) {_DREW})"
            " WHERE uscc IS NULL AND pollutant = 'VOCs'"
            f" AND (SELECT COUNT(DISTINCT p.uscc) {_DREW}) = 1"
        )
    )


def downgrade() -> None:
    # Which allocations this gave away cannot be told from those that named
    # their enterprise or were claimed since: they keep their enterprise.
    pass
