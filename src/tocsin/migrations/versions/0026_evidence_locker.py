"""evidence locker and containment switches: evidence items (content-addressed, with their
hash and retention), legal holds, and the switches incidents hold

Revision ID: 0026
Revises: 0021
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evidence_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("media_type", sa.String(length=200), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("retention_class", sa.String(length=80), nullable=True),
        sa.Column("retain_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("added_by", sa.String(length=200), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_evidence_items_incident_id_incidents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_items")),
    )
    op.create_index(
        op.f("ix_evidence_items_incident_id"), "evidence_items", ["incident_id"], unique=False
    )
    op.create_index(op.f("ix_evidence_items_sha256"), "evidence_items", ["sha256"], unique=False)
    op.create_index(
        "ix_evidence_items_retain_until",
        "evidence_items",
        ["retain_until"],
        unique=False,
        postgresql_where=sa.text("purged_at IS NULL"),
        sqlite_where=sa.text("purged_at IS NULL"),
    )
    op.create_table(
        "legal_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("placed_by", sa.String(length=200), nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_by", sa.String(length=200), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_legal_holds_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_holds")),
    )
    op.create_index(
        "uq_legal_holds_active",
        "legal_holds",
        ["incident_id"],
        unique=True,
        postgresql_where=sa.text("released_at IS NULL"),
        sqlite_where=sa.text("released_at IS NULL"),
    )
    op.create_table(
        "containment_switches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("state", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("changed_by", sa.String(length=200), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("on_since", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_containment_switches_incident_id_incidents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_containment_switches")),
        sa.UniqueConstraint("incident_id", "name", name="uq_containment_switches_incident_name"),
    )
    op.create_index(
        "ix_containment_switches_state", "containment_switches", ["state"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_containment_switches_state", table_name="containment_switches")
    op.drop_table("containment_switches")
    op.drop_index("uq_legal_holds_active", table_name="legal_holds")
    op.drop_table("legal_holds")
    op.drop_index("ix_evidence_items_retain_until", table_name="evidence_items")
    op.drop_index(op.f("ix_evidence_items_sha256"), table_name="evidence_items")
    op.drop_index(op.f("ix_evidence_items_incident_id"), table_name="evidence_items")
    op.drop_table("evidence_items")
