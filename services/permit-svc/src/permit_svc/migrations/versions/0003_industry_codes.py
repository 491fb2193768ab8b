"""Industry codes in the one form (GB/T 4754 with its section letter, C2641):
the classification table, enterprises, permits and registrations written
before with the digits alone are rewritten.

Revision ID: 0003
Revises: common_v2
Create Date: 2026-12-01
"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op
from svc_common.industries import canonical_or_none

revision: str = "0003"
down_revision: str | None = "common_v2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, column) holding a class code.
COLUMNS = (
    ("industries", "code"),
    ("enterprises", "industry_code"),
    ("permits", "industry_code"),
    ("registrations", "industry_code"),
)


def _rewrite(table: str, column: str, convert: Callable[[str], str | None]) -> None:
    """One UPDATE per distinct code: a register names a few hundred codes
    however many rows it holds. A code that is no code is left as it is."""
    bind = op.get_bind()
    codes = bind.execute(sa.text(f"SELECT DISTINCT {column} FROM {table}")).scalars().all()
    for old in codes:
        new = convert(old) if old is not None else None
        if new and new != old:
            bind.execute(
                sa.text(f"UPDATE {table} SET {column} = :new WHERE {column} = :old"),
                {"new": new, "old": old},
            )


def _digits_alone(code: str) -> str | None:
    return code[1:] if code[:1].isalpha() and code[1:].isdigit() else None


def upgrade() -> None:
    for table, column in COLUMNS:
        _rewrite(table, column, canonical_or_none)


def downgrade() -> None:
    # Back to the digits alone, as the service before this revision wrote them.
    for table, column in COLUMNS:
        _rewrite(table, column, _digits_alone)
