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
    # Plain ALTER TABLE ADD COLUMN on both backends (the foreign key inline): rebuilding ``instance`` on SQLite
    # would have to copy every row past the foreign keys that point at it.
    if op.get_bind().dialect.name == "sqlite":  # Alembic writes no REFERENCES in ADD COLUMN; SQLite accepts it
        op.execute(
            "ALTER TABLE instance ADD COLUMN parent_id INTEGER CONSTRAINT fk_instance_parent REFERENCES instance (id)"
        )
    else:
        parent = sa.ForeignKey("instance.id", name="fk_instance_parent")
        op.add_column("instance", sa.Column("parent_id", _ID, parent, nullable=True))
    op.add_column("instance", sa.Column("root_id", _ID, nullable=True))
    op.add_column("instance", sa.Column("parent_task_guid", sa.String(36), nullable=True))
    op.add_column("instance", sa.Column("call_element", sa.String(255), nullable=True))
    op.add_column("instance", sa.Column("call_index", sa.Integer(), nullable=True))
    op.add_column("instance", sa.Column("output", sa.JSON(), nullable=True))
    op.create_index("ix_instance_parent", "instance", ["parent_id", "parent_task_guid", "status"])
    op.create_index("ix_instance_root", "instance", ["root_id"])


def downgrade() -> None:
    op.drop_index("ix_instance_root", table_name="instance")
    op.drop_index("ix_instance_parent", table_name="instance")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("fk_instance_parent", "instance", type_="foreignkey")
    for column in ("output", "call_index", "call_element", "parent_task_guid", "root_id"):
        op.drop_column("instance", column)
    # SQLite drops a column with a foreign key only by rebuilding the table, which its foreign keys (on, and not
    # switchable inside the migration's transaction) refuse: there the unused, nullable parent_id stays.
    if op.get_bind().dialect.name != "sqlite":
        op.drop_column("instance", "parent_id")
