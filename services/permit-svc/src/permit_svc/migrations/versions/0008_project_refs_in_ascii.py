"""A project ref is kept with its full-width ASCII forms as ASCII, as
quota-svc and the permit API now take one ("Ｐ-9" is "P-9",
svc_common.guard.fold_width): an allocation learnt, or a permit applied
for, under "Ｐ-9" is the project "P-9", and a permit citing it in either
form is backed by its allocation. Case is kept. No ref here is unique, so
every one is folded; running it again changes nothing.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

#: The tables keeping a project ref, by their key.
_TABLES = (
    sa.table("quota_allocations", sa.column("reservation_id"), sa.column("project_ref")),
    sa.table("permits", sa.column("id"), sa.column("project_ref")),
)
#: The full-width ASCII forms and the ideographic space as NFKC has them
#: (kept here: a migration does not change with the code after it).
_FULL_WIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
#: Refs holding one of them: a character class of both dialects.
_WIDE = "[\uff01-\uff5e\u3000]"


def upgrade() -> None:
    bind = op.get_bind()
    for t in _TABLES:
        key, ref = t.c[0], t.c.project_ref
        wide = (
            ref.regexp_match(_WIDE)
            if bind.dialect.name == "postgresql"
            else ref.op("GLOB")(f"*{_WIDE}*")
        )
        rows = bind.execute(sa.select(key, ref).where(wide)).all()
        for k, r in rows:
            bind.execute(sa.update(t).where(key == k).values(project_ref=r.translate(_FULL_WIDTH)))
        if rows:
            log.info("project refs of %d rows of %s written in ASCII", len(rows), t.name)


def downgrade() -> None:
    """Nothing to undo: an ASCII ref was what the full-width one meant."""
