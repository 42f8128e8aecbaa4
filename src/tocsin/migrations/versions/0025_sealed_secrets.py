"""sealed secrets: server_secrets.value holds a Fernet token, longer than the plain key it seals

The values themselves are sealed by `tocsin serve` / `tocsin engine` at start, which have the
key; a migration may run where the key is not configured.

Revision ID: 0025
Revises: 0020
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("server_secrets") as batch:
        batch.alter_column(
            "value", existing_type=sa.String(length=200), type_=sa.Text(), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("server_secrets") as batch:
        batch.alter_column(
            "value", existing_type=sa.Text(), type_=sa.String(length=200), existing_nullable=False
        )
