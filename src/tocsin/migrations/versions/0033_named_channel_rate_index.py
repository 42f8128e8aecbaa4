"""a named channel's rate limit: "how many messages did this channel get in the last minute?"

Revision ID: 0033
Revises: 0022
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0033"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHERE = "status = 'sent' AND address LIKE 'channel:%'"


def upgrade() -> None:
    op.create_index(
        "ix_notifications_named_sent",
        "notifications",
        ["address", "sent_at"],
        postgresql_where=text(WHERE),
        sqlite_where=text(WHERE),
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_named_sent", table_name="notifications")
