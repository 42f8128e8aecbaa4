"""metrics: indexes for the clocks met per kind of a period's incidents, and breached by kind

Revision ID: 0029
Revises: 0028
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # GET /api/v1/metrics joins a period's incidents to their clocks: index-only on this.
    op.create_index("ix_clocks_incident_kind_state", "clocks", ["incident_id", "kind", "state"])
    # GET /metrics counts breached clocks by kind.
    op.create_index("ix_clocks_state_kind", "clocks", ["state", "kind"])


def downgrade() -> None:
    op.drop_index("ix_clocks_state_kind", table_name="clocks")
    op.drop_index("ix_clocks_incident_kind_state", table_name="clocks")
