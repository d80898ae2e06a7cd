"""An index on who acted (audit_event.actor, instance_id): the auditor's search by actor reads it instead of every
instance's trail.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_audit_actor", "audit_event", ["actor", "instance_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_actor", table_name="audit_event")
