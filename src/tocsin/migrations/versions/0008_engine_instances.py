"""engine_instances: each running engine's own record (alive, passes, paused)

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "engine_instances",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_pass_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("passes", sa.Integer(), nullable=False),
        sa.Column("paused", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engine_instances")),
    )


def downgrade() -> None:
    op.drop_table("engine_instances")
