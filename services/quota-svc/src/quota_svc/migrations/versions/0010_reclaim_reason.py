"""A reclaim candidate keeps why it is one as a code (`reason`), so no one
reads it back from the words of its note.

A cancelled permit's candidate gets the permit's cancellation reason
(`closure`, `process_closed`, `merged`, `other`); the candidates of other
sources have none (null: their `source` says why). Backfilled from the note
where it is one this service wrote — `天津…（…001P）许可证注销：企业关停；…`,
or before that `天津… (…001P) cancelled: closure; …` — else `unknown`.
Running it again changes nothing: only rows without a reason are filled.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

import logging
import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

_RECLAIMS = sa.table(
    "reclaims",
    sa.column("id", sa.String),
    sa.column("source", sa.String),
    sa.column("note", sa.Text),
    sa.column("reason", sa.String),
)
#: The cancellation reasons and their words as the notes were written
#: (kept here: a migration does not change with the code after it).
_WORDS = {
    "企业关停": "closure",
    "生产工序关停": "process_closed",
    "企业合并": "merged",
    "其他原因": "other",
}
_NOTES = (
    re.compile(r"（[^（）]*）许可证注销：(" + "|".join(_WORDS) + r")(?:；|$)"),
    re.compile(r" \([^()]*\) cancelled: (" + "|".join(_WORDS.values()) + r")(?:; |$)"),
)
_UNKNOWN = "unknown"


def reason_of(note: str | None) -> str:
    for pattern in _NOTES:
        if m := pattern.search(note or ""):
            return _WORDS.get(m.group(1), m.group(1))
    return _UNKNOWN


def upgrade() -> None:
    with op.batch_alter_table("reclaims") as batch:
        batch.add_column(sa.Column("reason", sa.String(20), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(_RECLAIMS.c.id, _RECLAIMS.c.note).where(
            _RECLAIMS.c.source == "permit_cancelled", _RECLAIMS.c.reason.is_(None)
        )
    ).all()
    by_reason: dict[str, list[str]] = {}
    for r in rows:
        by_reason.setdefault(reason_of(r.note), []).append(r.id)
    for reason, ids in sorted(by_reason.items()):
        for start in range(0, len(ids), 500):
            bind.execute(
                sa.update(_RECLAIMS)
                .where(_RECLAIMS.c.id.in_(ids[start : start + 500]))
                .values(reason=reason)
            )
    if rows:
        log.info(
            "reasons of %d cancelled permits' candidates: %s",
            len(rows),
            {k: len(v) for k, v in sorted(by_reason.items())},
        )


def downgrade() -> None:
    with op.batch_alter_table("reclaims") as batch:
        batch.drop_column("reason")
