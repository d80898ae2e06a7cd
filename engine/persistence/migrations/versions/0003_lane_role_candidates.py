"""A task's lane role is found through the task row itself: drop the candidate rows that only repeated it.

Open tasks used to get one ``task_candidate`` row for their lane's role in their unit as well as rows for extra
candidate groups and named users. The inbox now matches the lane role on ``human_task`` (``ix_human_task_inbox``)
and only the extra rows are written, so the repeated ones go. The inbox index leads with unit and role (it is
looked up per (unit, role) the user holds). Downgrade writes the rows back for open tasks and restores the index.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_human_task_inbox", table_name="human_task")
    op.create_index("ix_human_task_inbox", "human_task", ["unit_id", "role_id", "status", "due_at"])
    op.execute(
        "DELETE FROM task_candidate WHERE user_id IS NULL AND EXISTS ("
        " SELECT 1 FROM human_task h WHERE h.id = task_candidate.task_id AND h.role_id = task_candidate.role_id"
        " AND (h.unit_id = task_candidate.unit_id OR (h.unit_id IS NULL AND task_candidate.unit_id IS NULL)))"
    )


def downgrade() -> None:
    op.drop_index("ix_human_task_inbox", table_name="human_task")
    op.create_index("ix_human_task_inbox", "human_task", ["status", "unit_id", "role_id", "due_at"])
    op.execute(
        "INSERT INTO task_candidate (task_id, role_id, unit_id, user_id)"
        " SELECT id, role_id, unit_id, NULL FROM human_task"
        " WHERE status IN ('open', 'claimed') AND role_id IS NOT NULL"
    )
