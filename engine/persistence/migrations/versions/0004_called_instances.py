"""Call activities run as instances of their own: each instance knows its parent, its root and its call.

``parent_id`` / ``root_id`` link a called instance to the instance whose call activity started it and to the top
of its tree; ``parent_task_guid`` and ``call_element`` name that call activity's task and element in the parent,
``call_index`` the child's place among the call's children (a multi-instance call has one per item) and
``output`` what it hands back when it ends. Existing instances are roots of their own trees (their call
activities ran inside them, as before).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("instance") as batch:
        batch.add_column(sa.Column("parent_id", _ID, nullable=True))
        batch.add_column(sa.Column("root_id", _ID, nullable=True))
        batch.add_column(sa.Column("parent_task_guid", sa.String(36), nullable=True))
        batch.add_column(sa.Column("call_element", sa.String(255), nullable=True))
        batch.add_column(sa.Column("call_index", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("output", sa.JSON(), nullable=True))
        batch.create_foreign_key("fk_instance_parent", "instance", ["parent_id"], ["id"])
        batch.create_index("ix_instance_parent", ["parent_id", "parent_task_guid", "status"])
        batch.create_index("ix_instance_root", ["root_id"])


def downgrade() -> None:
    with op.batch_alter_table("instance") as batch:
        batch.drop_index("ix_instance_root")
        batch.drop_index("ix_instance_parent")
        batch.drop_constraint("fk_instance_parent", type_="foreignkey")
        for column in ("output", "call_index", "call_element", "parent_task_guid", "root_id", "parent_id"):
            batch.drop_column(column)
