"""An inspection plan keeps all its draw read: the inspector pool the second
random drew from, and the name of the draw's method. Plans drawn before are
given the method they were drawn by (the only one there was) and no pool:
it was not kept, so their inspectors cannot be redrawn.

Revision ID: 0004
Revises: common_v7
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from svc_common.types import JSONType

revision: str = "0004"
down_revision: str | None = "common_v7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: rules.DRAW_METHOD when this migration was written: what every plan before
#: it was drawn by.
FIRST_METHOD = "efraimidis-spirakis/mt19937/v1"


def upgrade() -> None:
    # The default serves the rows there; a new plan names its method itself.
    with op.batch_alter_table("inspection_plans") as t:
        t.add_column(sa.Column("inspector_pool", JSONType, nullable=True))
        t.add_column(
            sa.Column(
                "draw_method", sa.String(length=40), nullable=False, server_default=FIRST_METHOD
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("inspection_plans") as t:
        t.drop_column("draw_method")
        t.drop_column("inspector_pool")
