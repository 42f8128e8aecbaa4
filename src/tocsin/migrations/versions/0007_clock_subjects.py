"""clocks: a subject (what the deadline is about), so clocks outgrow incidents

Every clock was an incident's. Reviews, action items, regulatory notices, drills,
maintenance windows and containment switches have deadlines too, so a clock now names its
subject (`subject_type`, `subject_id`); `incident_id` stays for clocks whose record is an
incident's timeline, and becomes optional. One live clock per key is now per subject.

Added in three steps (nullable, backfilled, then NOT NULL), so an existing database keeps
every clock: each is an incident's.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("state = 'pending'")


def upgrade() -> None:
    with op.batch_alter_table("clocks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject_type", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("subject_id", sa.String(length=64), nullable=True))
    op.execute("UPDATE clocks SET subject_type = 'incident', subject_id = incident_id")
    with op.batch_alter_table("clocks", schema=None) as batch_op:
        batch_op.alter_column("subject_type", existing_type=sa.String(length=40), nullable=False)
        batch_op.alter_column("subject_id", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("incident_id", existing_type=sa.String(length=32), nullable=True)
        batch_op.drop_index("uq_clocks_pending_key", postgresql_where=PENDING, sqlite_where=PENDING)
        batch_op.create_index(
            "uq_clocks_pending_key",
            ["subject_type", "subject_id", "key"],
            unique=True,
            postgresql_where=PENDING,
            sqlite_where=PENDING,
        )


def downgrade() -> None:
    op.execute("DELETE FROM clocks WHERE incident_id IS NULL")
    with op.batch_alter_table("clocks", schema=None) as batch_op:
        batch_op.drop_index("uq_clocks_pending_key", postgresql_where=PENDING, sqlite_where=PENDING)
        batch_op.create_index(
            "uq_clocks_pending_key",
            ["incident_id", "key"],
            unique=True,
            postgresql_where=PENDING,
            sqlite_where=PENDING,
        )
        batch_op.alter_column("incident_id", existing_type=sa.String(length=32), nullable=False)
        batch_op.drop_column("subject_id")
        batch_op.drop_column("subject_type")
