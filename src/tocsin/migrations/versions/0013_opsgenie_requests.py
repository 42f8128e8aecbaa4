"""opsgenie_requests: what each Opsgenie Alert API request did, for any instance to report

Until now the request statuses sat in one process's memory, so a poll that reached another
instance behind a load balancer (or came after a restart) was answered 404.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "opsgenie_requests",
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=200), nullable=False),
        sa.Column("alert_id", sa.String(length=20), nullable=False),
        sa.Column("alias", sa.String(length=512), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name=op.f("fk_opsgenie_requests_integration_id_integrations"),
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_opsgenie_requests")),
    )
    with op.batch_alter_table("opsgenie_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_opsgenie_requests_processed_at"), ["processed_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("opsgenie_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_opsgenie_requests_processed_at"))
    op.drop_table("opsgenie_requests")
