"""alerts: index (status, id) for listing, instead of (status, last_seen_at)

Nothing queries alerts by last_seen_at, yet every repeat of an open alert moved its entry in
that index. Listing filters by status and pages by id, which (status, id) serves; a repeat
leaves it untouched and a new alert appends to it.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_status_last_seen")
        batch_op.create_index("ix_alerts_status_id", ["status", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_status_id")
        batch_op.create_index(
            "ix_alerts_status_last_seen", ["status", "last_seen_at"], unique=False
        )
