"""Industry codes in the one form (GB/T 4754 with its section letter, C2641):
the classification table, filings, registrations and control units' negative
lists written before without the letter are rewritten.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op
from svc_common.industries import canonical_or_none, normalise_industry_code
from svc_common.types import JSONType

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Tables with a class code column.
TABLES = ("project_types", "registrations", "filings")


def _rewrite(table: str, convert: Callable[[str], str | None]) -> None:
    """One UPDATE per distinct code; a value that is no code stays as it is."""
    bind = op.get_bind()
    codes = bind.execute(sa.text(f"SELECT DISTINCT industry_code FROM {table}")).scalars().all()
    for old in codes:
        new = convert(old) if old else None
        if new and new != old:
            bind.execute(
                sa.text(f"UPDATE {table} SET industry_code = :new WHERE industry_code = :old"),
                {"new": new, "old": old},
            )


def _prefix(entry: str) -> str | None:
    try:
        return normalise_industry_code(entry, prefix=True)
    except ValueError:
        return None


def _rewrite_units(convert: Callable[[str], str | None]) -> None:
    units = sa.table(
        "control_units", sa.column("code", sa.String), sa.column("banned_industries", JSONType)
    )
    bind = op.get_bind()
    for code, banned in bind.execute(sa.select(units.c.code, units.c.banned_industries)):
        entries = list(banned or [])
        new = [convert(e) or e for e in entries]
        if new != entries:
            bind.execute(units.update().where(units.c.code == code).values(banned_industries=new))


def upgrade() -> None:
    for table in TABLES:
        _rewrite(table, canonical_or_none)
    _rewrite_units(_prefix)


def downgrade() -> None:
    # The service before this revision wrote codes with the letter already
    # (its API required it); the rows this one rewrote cannot be told apart.
    pass
