"""The register of initiatives (sổ sáng kiến) and each use of one by a proposal, so that one initiative supports
one award across rounds and years.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_DATETIME = sa.DateTime(timezone=True)
HOLDING = sa.text("outcome != 'released'")


def upgrade() -> None:
    op.create_table(
        "initiative",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("reference_key", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("authors", sa.Text(), nullable=False),
        sa.Column("unit_id", sa.String(length=64), nullable=False),
        sa.Column("reach", sa.String(length=16), nullable=False),
        sa.Column("recognised_on", sa.Date(), nullable=False),
        sa.Column("recognised_by", sa.String(length=300), nullable=False),
        sa.Column("certificate_attachment_id", BIG_ID, nullable=True),
        sa.Column("certificate_ref", sa.String(length=1000), nullable=True),
        sa.Column("entered_by", sa.String(length=64), nullable=False),
        sa.Column("entered_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.Column("updated_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(["unit_id"], ["org_unit.id"]),
        sa.ForeignKeyConstraint(["certificate_attachment_id"], ["attachment.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reference_key", name="uq_initiative_reference"),
    )
    op.create_index("ix_initiative_unit", "initiative", ["unit_id", "recognised_on"], unique=False)
    op.create_table(
        "initiative_use",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("initiative_id", BIG_ID, nullable=False),
        sa.Column("candidate_id", sa.String(length=64), nullable=True),
        sa.Column("candidate_name", sa.String(length=300), nullable=False),
        sa.Column("award", sa.String(length=64), nullable=False),
        sa.Column("instance_id", BIG_ID, nullable=False),
        sa.Column("round_id", BIG_ID, nullable=False),
        sa.Column("task_id", BIG_ID, nullable=False),
        sa.Column("field", sa.String(length=255), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("used_at", UTC_DATETIME, nullable=False),
        sa.Column("decided_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(["initiative_id"], ["initiative.id"]),
        sa.ForeignKeyConstraint(["instance_id"], ["instance.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_initiative_use_initiative", "initiative_use", ["initiative_id", "id"], unique=False)
    op.create_index("ix_initiative_use_instance", "initiative_use", ["instance_id"], unique=False)
    op.create_index(
        "uq_initiative_use_holding",
        "initiative_use",
        ["initiative_id"],
        unique=True,
        sqlite_where=HOLDING,
        postgresql_where=HOLDING,
    )


def downgrade() -> None:
    op.drop_index("uq_initiative_use_holding", table_name="initiative_use")
    op.drop_index("ix_initiative_use_instance", table_name="initiative_use")
    op.drop_index("ix_initiative_use_initiative", table_name="initiative_use")
    op.drop_table("initiative_use")
    op.drop_index("ix_initiative_unit", table_name="initiative")
    op.drop_table("initiative")
