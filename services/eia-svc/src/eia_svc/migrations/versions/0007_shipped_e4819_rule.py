"""The shipped classification table's E4819 row gets back the condition an
earlier loader dropped.

That row's rule, `原有道路维修、改造,不新增占地(免于环评管理)`, had its comma
unquoted in an earlier copy of the shipped table, and the loader of the time
kept the cells up to the header's count: the row was stored as
`原有道路维修、改造`, and a road project taking new land was told it needs no
EIA. The table is loaded from the file only into an empty one, so the file's
fix alone did not reach a service that had loaded it; start-up repaired the
row on every start until this migration, which does it once.

Only a row still reading exactly as it was loaded wrong is changed: a table
the bureau imported itself (`POST /eia/project-types:import`) is left alone.
Idempotent; the downgrade leaves the rule as it reads (the wrong one is no
state to go back to).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (code, rule as loaded wrong) → the rule as it reads (kept here: a
#: migration does not change with the code after it).
REPAIRS = {
    ("E4819", "原有道路维修、改造"): "原有道路维修、改造,不新增占地(免于环评管理)",
}

_TYPES = sa.table("project_types", sa.column("code", sa.String), sa.column("rule", sa.String))


def upgrade() -> None:
    for (code, loaded), rule in REPAIRS.items():
        op.execute(
            _TYPES.update().where(_TYPES.c.code == code, _TYPES.c.rule == loaded).values(rule=rule)
        )


def downgrade() -> None:
    pass
