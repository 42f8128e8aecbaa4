"""drills held (one per drill incident, with its outcome and lessons) and runbook reviews

Revision ID: 0028
Revises: 0027
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "drills",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("severity", sa.String(length=40), nullable=False),
        sa.Column("audience", sa.String(length=80), nullable=True),
        sa.Column("incident_id", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_by", sa.String(length=200), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.String(length=200), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("lessons", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_drills_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drills")),
        sa.UniqueConstraint("incident_id", name=op.f("uq_drills_incident_id")),
    )
    op.create_index(op.f("ix_drills_programme_id"), "drills", ["programme_id"], unique=False)
    op.create_table(
        "runbook_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("policy_name", sa.String(length=200), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewed_by", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runbook_reviews")),
    )
    op.create_index(
        op.f("ix_runbook_reviews_policy_name"), "runbook_reviews", ["policy_name"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_runbook_reviews_policy_name"), table_name="runbook_reviews")
    op.drop_table("runbook_reviews")
    op.drop_index(op.f("ix_drills_programme_id"), table_name="drills")
    op.drop_table("drills")
