"""Industry codes in the one form (GB/T 4754 with its section letter, C2641):
the register's enterprises learned from events that carried the digits alone
are rewritten.

Revision ID: 0003
Revises: common_v2
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from svc_common.industries import canonical_or_none

revision: str = "0003"
down_revision: str | None = "common_v2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """One UPDATE per distinct code; a value that is no code stays as it is."""
    bind = op.get_bind()
    codes = bind.execute(sa.text("SELECT DISTINCT industry_code FROM enterprises")).scalars()
    for old in codes.all():
        new = canonical_or_none(old)
        if new and new != old:
            bind.execute(
                sa.text("UPDATE enterprises SET industry_code = :new WHERE industry_code = :old"),
                {"new": new, "old": old},
            )


def downgrade() -> None:
    # A read model: the codes come back in whichever form the next events carry.
    pass
