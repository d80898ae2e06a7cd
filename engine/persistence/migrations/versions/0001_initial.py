"""Initial schema: organisation, definitions, instances, human tasks, timers and the audit trail.

Matches ``engine.persistence.models`` as of this revision. Written out in full (not imported from the models)
so later model changes never rewrite history; ``tests/test_migrations.py`` checks that it still matches.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Same types as the models: SQLite only auto-increments INTEGER PRIMARY KEY; UTC datetimes with a zone.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_DATETIME = sa.DateTime(timezone=True)

TABLES = [  # children first, for downgrade
    "event_subscription",
    "task_candidate",
    "timer",
    "human_task",
    "membership",
    "instance",
    "delegation",
    "role",
    "org_unit",
    "definition",
    "audit_head",
    "audit_event",
    "app_user",
]


def upgrade() -> None:
    op.create_table(
        "app_user",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("full_name", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("capabilities", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "audit_event",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("stream", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("instance_id", BIG_ID, nullable=True),
        sa.Column("task_guid", sa.String(length=36), nullable=True),
        sa.Column("element_id", sa.String(length=255), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("stream", "seq"),
    )
    op.create_index("ix_audit_instance", "audit_event", ["instance_id", "id"], unique=False)
    op.create_table(
        "audit_head",
        sa.Column("stream", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("stream"),
    )
    op.create_table(
        "definition",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("deployed_at", UTC_DATETIME, nullable=False),
        sa.Column("deployed_by", sa.String(length=64), nullable=True),
        sa.Column("spec_json", sa.Text(), nullable=False),
        sa.Column("task_meta", sa.JSON(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("forms", sa.JSON(), nullable=False),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", "content_hash"),
        sa.UniqueConstraint("key", "version"),
    )
    op.create_table(
        "org_unit",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("parent_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["org_unit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_org_unit_parent_id"), "org_unit", ["parent_id"], unique=False)
    op.create_table(
        "role",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "delegation",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("from_user_id", sa.String(length=64), nullable=False),
        sa.Column("to_user_id", sa.String(length=64), nullable=False),
        sa.Column("starts_at", UTC_DATETIME, nullable=False),
        sa.Column("ends_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["from_user_id"],
            ["app_user.id"],
        ),
        sa.ForeignKeyConstraint(
            ["to_user_id"],
            ["app_user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_delegation_from_user_id"), "delegation", ["from_user_id"], unique=False)
    op.create_index(op.f("ix_delegation_to_user_id"), "delegation", ["to_user_id"], unique=False)
    op.create_table(
        "instance",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("definition_id", BIG_ID, nullable=False),
        sa.Column("definition_key", sa.String(length=255), nullable=False),
        sa.Column("business_key", sa.String(length=255), nullable=True),
        sa.Column("unit_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("started_at", UTC_DATETIME, nullable=False),
        sa.Column("started_by", sa.String(length=64), nullable=True),
        sa.Column("ended_at", UTC_DATETIME, nullable=True),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.Column("serializer_version", sa.String(length=16), nullable=False),
        sa.Column("incident", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["definition_id"],
            ["definition.id"],
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["org_unit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_instance_business_key", "instance", ["business_key"], unique=False)
    op.create_index(op.f("ix_instance_definition_id"), "instance", ["definition_id"], unique=False)
    op.create_index("ix_instance_status_unit", "instance", ["status", "unit_id"], unique=False)
    op.create_table(
        "membership",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("role_id", sa.String(length=64), nullable=False),
        sa.Column("unit_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["role_id"],
            ["role.id"],
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["org_unit.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "role_id", "unit_id"),
    )
    op.create_index("ix_membership_role_unit", "membership", ["role_id", "unit_id"], unique=False)
    op.create_index(op.f("ix_membership_user_id"), "membership", ["user_id"], unique=False)
    op.create_table(
        "human_task",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("instance_id", BIG_ID, nullable=False),
        sa.Column("definition_key", sa.String(length=255), nullable=True),
        sa.Column("task_guid", sa.String(length=36), nullable=False),
        sa.Column("element_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("role_id", sa.String(length=64), nullable=True),
        sa.Column("unit_id", sa.String(length=64), nullable=True),
        sa.Column("candidate_groups", sa.JSON(), nullable=False),
        sa.Column("candidate_users", sa.JSON(), nullable=False),
        sa.Column("assignee", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("form_key", sa.String(length=255), nullable=True),
        sa.Column("due_at", UTC_DATETIME, nullable=True),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("completed_at", UTC_DATETIME, nullable=True),
        sa.Column("completed_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instance.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("task_guid"),
    )
    op.create_index("ix_human_task_assignee", "human_task", ["assignee", "status"], unique=False)
    op.create_index("ix_human_task_due", "human_task", ["status", "due_at"], unique=False)
    op.create_index("ix_human_task_inbox", "human_task", ["status", "unit_id", "role_id", "due_at"], unique=False)
    op.create_index("ix_human_task_instance", "human_task", ["instance_id", "status"], unique=False)
    op.create_index(
        "ix_human_task_report",
        "human_task",
        ["status", "unit_id", "definition_key", "due_at", "escalation_level"],
        unique=False,
    )
    op.create_table(
        "timer",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("instance_id", BIG_ID, nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("task_guid", sa.String(length=36), nullable=True),
        sa.Column("element_id", sa.String(length=255), nullable=True),
        sa.Column("due_at", UTC_DATETIME, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", UTC_DATETIME, nullable=True),
        sa.Column("fired_at", UTC_DATETIME, nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instance.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_timer_due", "timer", ["status", "due_at"], unique=False)
    op.create_index(op.f("ix_timer_instance_id"), "timer", ["instance_id"], unique=False)

    op.create_table(
        "task_candidate",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("task_id", BIG_ID, nullable=False),
        sa.Column("role_id", sa.String(length=64), nullable=True),
        sa.Column("unit_id", sa.String(length=64), nullable=True),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["task_id"], ["human_task.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_task_candidate_role_unit", "task_candidate", ["role_id", "unit_id"], unique=False)
    op.create_index(op.f("ix_task_candidate_task_id"), "task_candidate", ["task_id"], unique=False)
    op.create_index("ix_task_candidate_user", "task_candidate", ["user_id"], unique=False)
    op.create_table(
        "event_subscription",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("instance_id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["instance.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_event_subscription_kind_name", "event_subscription", ["kind", "name"], unique=False)
    op.create_index(op.f("ix_event_subscription_instance_id"), "event_subscription", ["instance_id"], unique=False)
    op.create_table(
        "calendar_override",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("working", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(length=255), nullable=True),
        sa.Column("changed_by", sa.String(length=64), nullable=True),
        sa.Column("changed_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("day"),
    )
    op.create_table(
        "notification",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("instance_id", BIG_ID, nullable=True),
        sa.Column("task_id", BIG_ID, nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("read_at", UTC_DATETIME, nullable=True),
        sa.Column("email_status", sa.String(length=16), nullable=False),
        sa.Column("email_attempts", sa.Integer(), nullable=False),
        sa.Column("email_claimed_at", UTC_DATETIME, nullable=True),
        sa.Column("emailed_at", UTC_DATETIME, nullable=True),
        sa.Column("email_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notification_user", "notification", ["user_id", "read_at", "id"], unique=False)
    op.create_index("ix_notification_email", "notification", ["email_status", "id"], unique=False)
    op.create_table(
        "council_meeting",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("instance_id", BIG_ID, nullable=False),
        sa.Column("sitting", sa.Integer(), nullable=False),
        sa.Column("campaign_year", sa.Integer(), nullable=True),
        sa.Column("meeting_date", sa.Date(), nullable=False),
        sa.Column("place", sa.String(length=255), nullable=True),
        sa.Column("candidates", sa.JSON(), nullable=False),
        sa.Column("withdrawn", sa.JSON(), nullable=False),
        sa.Column("rule_set", sa.JSON(), nullable=False),
        sa.Column("members", sa.JSON(), nullable=False),
        sa.Column("present", sa.JSON(), nullable=False),
        sa.Column("quorum_needed", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("ballots_cast", sa.Integer(), nullable=True),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("convened_by", sa.String(length=64), nullable=True),
        sa.Column("tallied_by", sa.String(length=64), nullable=True),
        sa.Column("tallied_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(["instance_id"], ["instance.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("instance_id", "sitting"),
    )
    op.create_index(op.f("ix_council_meeting_instance_id"), "council_meeting", ["instance_id"], unique=False)
    op.create_table(
        "ballot_participation",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("meeting_id", BIG_ID, nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("written", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["meeting_id"], ["council_meeting.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("meeting_id", "user_id"),
    )
    op.create_table(
        "ballot_box",
        sa.Column("meeting_id", BIG_ID, nullable=False),
        sa.Column("slips", sa.JSON(), nullable=False),
        sa.Column("ballots", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["meeting_id"], ["council_meeting.id"]),
        sa.PrimaryKeyConstraint("meeting_id"),
    )
    op.create_table(
        "ballot_slip",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("meeting_id", BIG_ID, nullable=False),
        sa.Column("candidate_id", sa.String(length=64), nullable=False),
        sa.Column("choice", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["meeting_id"], ["council_meeting.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_ballot_slip_meeting_id"), "ballot_slip", ["meeting_id"], unique=False)
    op.create_table(
        "instance_document",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("instance_id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("media_type", sa.String(length=128), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["instance.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_instance_document_instance", "instance_document", ["instance_id", "kind"], unique=False)


def downgrade() -> None:
    for council_table in ("instance_document", "ballot_slip", "ballot_box", "ballot_participation", "council_meeting"):
        op.drop_table(council_table)
    op.drop_table("notification")
    op.drop_table("calendar_override")
    for name in TABLES:
        op.drop_table(name)
