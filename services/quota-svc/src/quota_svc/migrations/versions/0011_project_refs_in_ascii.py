"""A reservation's project ref is kept with its full-width ASCII forms as
ASCII, as the API now takes one ("Ｐ-9" is "P-9", svc_common.guard.fold_width):
a ref held in full-width before would otherwise be found by no request
for the project, and the project could be held a second time.

A live (held or allocated) reservation whose ref would become that of
another live one is left as it was and named in the log: the project is
held twice, and an officer resolves one of them by its id (the live-project
index allows one). A resolved reservation is folded whatever else exists.
Case is kept. Running it again changes nothing.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

_RESERVATIONS = sa.table(
    "reservations",
    sa.column("id", sa.String),
    sa.column("project_ref", sa.String),
    sa.column("status", sa.String),
    sa.column("created_at", sa.String),
)
_LIVE = ("held", "allocated")
#: The full-width ASCII forms and the ideographic space as NFKC has them
#: (kept here: a migration does not change with the code after it).
_FULL_WIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
#: Refs holding one of them: a character class of both dialects.
_WIDE = "[\uff01-\uff5e\u3000]"


def _has_wide(column: sa.ColumnElement[str], dialect: str) -> sa.ColumnElement[bool]:
    if dialect == "postgresql":
        return column.regexp_match(_WIDE)
    return column.op("GLOB")(f"*{_WIDE}*")


def upgrade() -> None:
    bind = op.get_bind()
    t = _RESERVATIONS
    wide = bind.execute(
        sa.select(t.c.id, t.c.project_ref, t.c.status)
        .where(_has_wide(t.c.project_ref, bind.dialect.name))
        .order_by(t.c.created_at, t.c.id)
    ).all()
    if not wide:
        return
    folded = {r.id: r.project_ref.translate(_FULL_WIDTH) for r in wide}
    live_refs = set(
        bind.execute(
            sa.select(t.c.project_ref).where(
                t.c.status.in_(_LIVE), t.c.project_ref.in_(sorted(set(folded.values())))
            )
        ).scalars()
    )
    kept: list[tuple[str, str]] = []
    for r in wide:
        ref = folded[r.id]
        if r.status in _LIVE:
            if ref in live_refs:
                kept.append((r.id, r.project_ref))
                continue
            live_refs.add(ref)  # the oldest live one takes the ref
        bind.execute(sa.update(t).where(t.c.id == r.id).values(project_ref=ref))
    log.info("project refs of %d reservations written in ASCII", len(wide) - len(kept))
    for rid, ref in kept:
        log.warning(
            "reservation %s of project %r kept as it is: the project %r has another live "
            "reservation; release one of them",
            rid,
            ref,
            ref.translate(_FULL_WIDTH),
        )


def downgrade() -> None:
    """Nothing to undo: an ASCII ref was what the full-width one meant."""
