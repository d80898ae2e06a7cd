"""Electronic dossiers for national awards: the outbox of packages sent to the Ministry of Home Affairs' system.

Each row keeps the exact package bytes and their sha256, the status (queued / sending / sent / failed), the
attempts, the last error, when to try again, the lease of the scheduler sending it, and the receipt returned.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "national_submission",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("instance_id", BIG_ID, nullable=False),
        sa.Column("package_sha256", sa.String(length=64), nullable=False),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=False),
        sa.Column("package", sa.LargeBinary(), nullable=False),
        sa.Column("submission_number", sa.String(length=100), nullable=True),
        sa.Column("submitted_date", sa.String(length=10), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", UTC_DATETIME, nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", UTC_DATETIME, nullable=True),
        sa.Column("receipt", sa.String(length=100), nullable=True),
        sa.Column("queued_by", sa.String(length=64), nullable=False),
        sa.Column("queued_at", UTC_DATETIME, nullable=False),
        sa.Column("sent_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(["instance_id"], ["instance.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_national_submission_instance", "national_submission", ["instance_id", "id"], unique=False)
    op.create_index("ix_national_submission_due", "national_submission", ["status", "next_attempt_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_national_submission_due", table_name="national_submission")
    op.drop_index("ix_national_submission_instance", table_name="national_submission")
    op.drop_table("national_submission")
