"""Typed SQLAlchemy 2 models: organisation, definitions, instances, human tasks, timers, audit events.

The Spiff task tree is the source of truth for an instance; ``HumanTask`` rows are its index for the inbox.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes stored as UTC on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        from datetime import UTC

        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        from datetime import UTC

        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: UTCDateTime}


# --- organisation -----------------------------------------------------------------------------------


class OrgUnit(Base):
    __tablename__ = "org_unit"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # a stable code, e.g. "SNV"
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32), default="unit")  # province, department, district, ...
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("org_unit.id"), index=True)


class User(Base):
    __tablename__ = "app_user"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the login name
    full_name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    # Global capabilities that no unit scopes: "admin", "designer", "auditor".
    capabilities: Mapped[list[Any]] = mapped_column(default=list)
    # A salted hash (werkzeug format, made by the web layer or the CLI); a user without one cannot log in.
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)


class Role(Base):
    __tablename__ = "role"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # e.g. "unit_officer"
    name: Mapped[str] = mapped_column(String(255))


class Membership(Base):
    """A user holds a role in a unit."""

    __tablename__ = "membership"
    __table_args__ = (
        UniqueConstraint("user_id", "role_id", "unit_id"),
        Index("ix_membership_role_unit", "role_id", "unit_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("app_user.id"), index=True)
    role_id: Mapped[str] = mapped_column(ForeignKey("role.id"))
    unit_id: Mapped[str] = mapped_column(ForeignKey("org_unit.id"))


class Delegation(Base):
    """``to_user`` acts for ``from_user`` between two times (someone on leave)."""

    __tablename__ = "delegation"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    from_user_id: Mapped[str] = mapped_column(ForeignKey("app_user.id"), index=True)
    to_user_id: Mapped[str] = mapped_column(ForeignKey("app_user.id"), index=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]


class AuthSession(Base):
    """A logged-in browser or API client: the cookie carries a random token, this row only its SHA-256.

    Valid while not revoked, before ``expires_at`` (the absolute limit) and within the idle limit of
    ``last_seen_at`` (which requests move forward at most once a minute).
    """

    __tablename__ = "auth_session"
    __table_args__ = (
        Index("ix_auth_session_user", "user_id", "revoked_at"),
        Index("ix_auth_session_expiry", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # hex SHA-256 of the cookie's token
    user_id: Mapped[str] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    user_agent: Mapped[str | None] = mapped_column(String(255))
    address: Mapped[str | None] = mapped_column(String(64))


class ApiToken(Base):
    """A bearer token a system uses to call the API as a user: only its SHA-256 is kept, with its scopes."""

    __tablename__ = "api_token"
    __table_args__ = (Index("ix_api_token_user", "user_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # hex SHA-256 of the whole token
    prefix: Mapped[str] = mapped_column(String(16))  # its first characters, to recognise it in a list
    user_id: Mapped[str] = mapped_column(ForeignKey("app_user.id"))
    name: Mapped[str] = mapped_column(String(255))
    scopes: Mapped[list[Any]] = mapped_column(default=list)  # "read" (GET only) and/or "write"
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(64))


class LoginAttempt(Base):
    """One login attempt (failed or not), counted per user name and per client address for rate limiting."""

    __tablename__ = "login_attempt"
    __table_args__ = (
        Index("ix_login_attempt_user", "user_name", "at"),
        Index("ix_login_attempt_address", "address", "at"),
        Index("ix_login_attempt_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    user_name: Mapped[str] = mapped_column(String(64))  # as typed (cut to 64 characters), known or not
    address: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool] = mapped_column(default=False)


# --- definitions --------------------------------------------------------------------------------------


MAX_VERSION = 2**31 - 1  # definition.version is an INTEGER column: a larger number names no version


class Definition(Base):
    """One deployed version of one process: its parsed spec stored once, shared by all its instances."""

    __tablename__ = "definition"
    __table_args__ = (
        UniqueConstraint("key", "version"),
        UniqueConstraint("key", "content_hash"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(255))  # the BPMN process id
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(255))
    content_hash: Mapped[str] = mapped_column(String(64))
    deployed_at: Mapped[datetime]
    deployed_by: Mapped[str | None] = mapped_column(String(64))
    # Serialized specs (SpiffWorkflow spec JSON): {"spec": ..., "subprocess_specs": {...}}
    spec_json: Mapped[str] = mapped_column(Text)
    # Per user task: role, form key, due date, candidate groups... ({element_id: {...}})
    task_meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The source files ({file name: XML or JSON text}) so a designer can reopen exactly what ran.
    sources: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # JSON Schemas of the forms its user tasks reference ({form key: schema}).
    forms: Mapped[dict[str, Any]] = mapped_column(default=dict)
    warnings: Mapped[list[Any]] = mapped_column(default=list)


class DefinitionDraft(Base):
    """A designer's work on one definition before it is deployed: the files as saved, linting or not."""

    __tablename__ = "definition_draft"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)  # the process (or decision) key it is a draft of
    files: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {file name: text}
    updated_at: Mapped[datetime]
    updated_by: Mapped[str | None] = mapped_column(String(64))
    based_on_version: Mapped[int | None] = mapped_column(Integer)  # the deployed version it started from


# --- runtime ------------------------------------------------------------------------------------------


class Instance(Base):
    __tablename__ = "instance"
    __table_args__ = (
        Index("ix_instance_status_unit", "status", "unit_id"),
        Index("ix_instance_business_key", "business_key"),
        Index("ix_instance_parent", "parent_id", "parent_task_guid", "status"),
        Index("ix_instance_root", "root_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("definition.id"), index=True)
    definition_key: Mapped[str] = mapped_column(String(255))
    business_key: Mapped[str | None] = mapped_column(String(255))
    unit_id: Mapped[str | None] = mapped_column(ForeignKey("org_unit.id"))
    # running | suspended | completed | cancelled | incident
    status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, default=1)  # optimistic lock
    started_at: Mapped[datetime]
    started_by: Mapped[str | None] = mapped_column(String(64))
    ended_at: Mapped[datetime | None]
    # SpiffWorkflow JSON without the spec (the spec lives in Definition.spec_json).
    state: Mapped[bytes] = mapped_column(LargeBinary)
    serializer_version: Mapped[str] = mapped_column(String(16))
    incident: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # A called instance (engine/core/calls.py): the instance whose call activity started it, the top of its tree,
    # that call activity's task, its place among the call's children, and what it handed back when it ended.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("instance.id", name="fk_instance_parent"), default=None)
    root_id: Mapped[int | None] = mapped_column(BigId, default=None)
    parent_task_guid: Mapped[str | None] = mapped_column(String(36), default=None)
    call_element: Mapped[str | None] = mapped_column(String(255), default=None)
    call_index: Mapped[int | None] = mapped_column(Integer, default=None)
    output: Mapped[Any] = mapped_column(JSON, nullable=True, default=None)


class HumanTask(Base):
    """A READY user task as the inbox sees it. Closed rows stay as history (status completed/cancelled)."""

    __tablename__ = "human_task"
    __table_args__ = (
        # Unit and role first: the inbox looks up each (unit, role) the user holds, then open tasks by due date.
        Index("ix_human_task_inbox", "unit_id", "role_id", "status", "due_at"),
        Index("ix_human_task_assignee", "assignee", "status"),
        Index("ix_human_task_due", "status", "due_at"),
        Index("ix_human_task_instance", "instance_id", "status"),
        Index("ix_human_task_report", "status", "unit_id", "definition_key", "due_at", "escalation_level"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id"))
    # Copied from the instance so the per-process reports read this table alone.
    definition_key: Mapped[str | None] = mapped_column(String(255))
    task_guid: Mapped[str] = mapped_column(String(36), unique=True)  # the Spiff task id
    element_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    role_id: Mapped[str | None] = mapped_column(String(64))
    unit_id: Mapped[str | None] = mapped_column(String(64))
    candidate_groups: Mapped[list[Any]] = mapped_column(default=list)
    candidate_users: Mapped[list[Any]] = mapped_column(default=list)
    assignee: Mapped[str | None] = mapped_column(String(64))
    # open | claimed | completed | cancelled
    status: Mapped[str] = mapped_column(String(16))
    form_key: Mapped[str | None] = mapped_column(String(255))
    due_at: Mapped[datetime | None]
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    completed_by: Mapped[str | None] = mapped_column(String(64))


class TaskCandidate(Base):
    """Who may claim an open task: a role in a unit (lane role or candidate group), or a named user."""

    __tablename__ = "task_candidate"
    __table_args__ = (
        Index("ix_task_candidate_role_unit", "role_id", "unit_id"),
        Index("ix_task_candidate_user", "user_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("human_task.id", ondelete="CASCADE"), index=True)
    role_id: Mapped[str | None] = mapped_column(String(64))
    unit_id: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[str | None] = mapped_column(String(64))


class EventSubscription(Base):
    """An instance waiting for a message or signal, so correlation finds it without loading every instance."""

    __tablename__ = "event_subscription"
    __table_args__ = (Index("ix_event_subscription_kind_name", "kind", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # message | signal
    name: Mapped[str] = mapped_column(String(255))


class Timer(Base):
    """Something due at a time: a BPMN timer event, a deadline, a reminder, an escalation step."""

    __tablename__ = "timer"
    __table_args__ = (Index("ix_timer_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("instance.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # bpmn_timer | reminder | overdue | escalation
    task_guid: Mapped[str | None] = mapped_column(String(36))
    element_id: Mapped[str | None] = mapped_column(String(255))
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | fired | cancelled
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    fired_at: Mapped[datetime | None]
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)


# --- audit --------------------------------------------------------------------------------------------


class AuditEvent(Base):
    """Append-only. Each event's hash covers its content and the previous hash of its stream."""

    __tablename__ = "audit_event"
    __table_args__ = (
        UniqueConstraint("stream", "seq"),
        Index("ix_audit_instance", "instance_id", "id"),
        Index("ix_audit_actor", "actor", "instance_id"),  # the auditor's search by who acted
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    stream: Mapped[str] = mapped_column(String(64))  # "instance:42" or "system"
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]
    actor: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    instance_id: Mapped[int | None] = mapped_column(BigId)
    task_guid: Mapped[str | None] = mapped_column(String(36))
    element_id: Mapped[str | None] = mapped_column(String(255))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The last seq and hash of each stream, so removing the newest events is caught too."""

    __tablename__ = "audit_head"

    stream: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


# --- calendar and notifications -----------------------------------------------------------------------


class CalendarOverride(Base):
    """An admin's correction of the business calendar: this day is a working day, or not."""

    __tablename__ = "calendar_override"

    day: Mapped[date] = mapped_column(primary_key=True)
    working: Mapped[bool]
    note: Mapped[str | None] = mapped_column(String(255))
    changed_by: Mapped[str | None] = mapped_column(String(64))
    changed_at: Mapped[datetime]


class Notification(Base):
    """One message to one user for the web inbox; e-mailed later when ``email_status`` is pending."""

    __tablename__ = "notification"
    __table_args__ = (
        Index("ix_notification_user", "user_id", "read_at", "id"),
        Index("ix_notification_email", "email_status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("app_user.id"))
    kind: Mapped[str] = mapped_column(String(32))  # reminder | overdue | escalation | ...
    title: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    instance_id: Mapped[int | None] = mapped_column(BigId)
    task_id: Mapped[int | None] = mapped_column(BigId)
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]
    # none (no address) | pending | sending | sent | failed (gave up after retries)
    email_status: Mapped[str] = mapped_column(String(16), default="none")
    email_attempts: Mapped[int] = mapped_column(Integer, default=0)
    email_claimed_at: Mapped[datetime | None]  # a sender took it (status "sending"); stale claims are retaken
    emailed_at: Mapped[datetime | None]
    email_error: Mapped[str | None] = mapped_column(Text)


# --- council meetings and secret ballots ----------------------------------------------------------------
# Who voted (BallotParticipation) and what was voted (BallotBox, then BallotSlip) share no column but the meeting:
# see engine/services/ballots.py for the threat model.


class CouncilMeeting(Base):
    """One sitting of the Council: agenda, attendance, the rule set applied, and the counts (never who voted what)."""

    __tablename__ = "council_meeting"
    __table_args__ = (UniqueConstraint("instance_id", "sitting"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id"), index=True)
    sitting: Mapped[int] = mapped_column(Integer)  # 1, then 2... after an adjournment in the same instance
    campaign_year: Mapped[int | None] = mapped_column(Integer)
    meeting_date: Mapped[date]
    place: Mapped[str | None] = mapped_column(String(255))
    candidates: Mapped[list[Any]] = mapped_column(default=list)  # as the nomination process sent them
    withdrawn: Mapped[list[Any]] = mapped_column(default=list)  # candidate ids taken off the agenda
    rule_set: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the rules in force on the meeting date
    members: Mapped[list[Any]] = mapped_column(default=list)
    present: Mapped[list[Any]] = mapped_column(default=list)
    quorum_needed: Mapped[int | None] = mapped_column(Integer)
    # convened | adjourned | voting | tallied
    status: Mapped[str] = mapped_column(String(16))
    ballots_cast: Mapped[int | None] = mapped_column(Integer)
    results: Mapped[list[Any]] = mapped_column(default=list)
    convened_by: Mapped[str | None] = mapped_column(String(64))
    tallied_by: Mapped[str | None] = mapped_column(String(64))
    tallied_at: Mapped[datetime | None]


class BallotParticipation(Base):
    """That a member voted (in person or in writing). Deliberately no time and no link to any ballot."""

    __tablename__ = "ballot_participation"
    __table_args__ = (UniqueConstraint("meeting_id", "user_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("council_meeting.id"))
    user_id: Mapped[str] = mapped_column(String(64))
    written: Mapped[bool] = mapped_column(default=False)


class BallotBox(Base):
    """The sealed box of a meeting while voting is open: every slip cast so far, reshuffled at each cast."""

    __tablename__ = "ballot_box"

    meeting_id: Mapped[int] = mapped_column(ForeignKey("council_meeting.id"), primary_key=True)
    slips: Mapped[list[Any]] = mapped_column(default=list)  # [[candidate_id, "agree"|"disagree"], ...] shuffled
    ballots: Mapped[int] = mapped_column(Integer, default=0)


class BallotSlip(Base):
    """One vote on one candidate, written at the tally in random order; no voter, no time, no ballot grouping."""

    __tablename__ = "ballot_slip"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("council_meeting.id"), index=True)
    candidate_id: Mapped[str] = mapped_column(String(64))
    choice: Mapped[str] = mapped_column(String(16))  # agree | disagree


class InstanceDocument(Base):
    """A document attached to an instance (e.g. the Council's minutes as HTML and PDF)."""

    __tablename__ = "instance_document"
    __table_args__ = (Index("ix_instance_document_instance", "instance_id", "kind"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id"))
    kind: Mapped[str] = mapped_column(String(64))  # e.g. council_minutes
    filename: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(128))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


# --- comments on items (engine/services/comments.py) ------------------------------------------------------


class ItemComment(Base):
    """A comment someone who can see an item (an instance) left on it, from one of its tasks' pages."""

    __tablename__ = "item_comment"
    __table_args__ = (Index("ix_item_comment_instance", "instance_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id"))
    task_id: Mapped[int | None] = mapped_column(BigId)  # the task whose page it was written on, if any
    author: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


# --- attachments: files a form refers to (engine/services/attachments.py) ------------------------------------


class Attachment(Base):
    """A file uploaded for one instance's task (e.g. a dossier's documents). Never in the workflow state: the form's
    data keeps only its reference (id, name, sha256, size, media type). The bytes are in ``content``, or in the
    folder ``TDKT_ATTACHMENT_DIR`` under their sha256 (``content`` is then empty)."""

    __tablename__ = "attachment"
    __table_args__ = (Index("ix_attachment_instance", "instance_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id"))
    task_guid: Mapped[str | None] = mapped_column(String(64))  # the task it was uploaded on
    field: Mapped[str | None] = mapped_column(String(255))  # the form field it was chosen for ("documents/to_trinh")
    filename: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(128))  # detected from the content, never from the name
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    uploaded_by: Mapped[str] = mapped_column(ForeignKey("app_user.id"))
    unit_id: Mapped[str | None] = mapped_column(String(64))  # the task's unit when it was uploaded
    uploaded_at: Mapped[datetime]


# --- electronic dossiers for national awards (engine/services/national_submission.py) ---------------------------


class NationalSubmission(Base):
    """One sending of a national_proposal instance's electronic dossier to the Ministry of Home Affairs' system
    (an outbox row): the exact package bytes, its sha256, and what each attempt gave. ``queued`` waits for the
    scheduler (from ``next_attempt_at``), ``sending`` is leased to one scheduler process until ``lease_until``,
    ``sent`` holds the Ministry's receipt, ``failed`` gave up after the last attempt."""

    __tablename__ = "national_submission"
    __table_args__ = (
        Index("ix_national_submission_instance", "instance_id", "id"),
        Index("ix_national_submission_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id"))
    package_sha256: Mapped[str] = mapped_column(String(64))
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    package: Mapped[bytes] = mapped_column(LargeBinary)
    submission_number: Mapped[str | None] = mapped_column(String(100))
    submitted_date: Mapped[str | None] = mapped_column(String(10))  # ISO date, as the form holds it
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued | sending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    receipt: Mapped[str | None] = mapped_column(String(100))
    queued_by: Mapped[str] = mapped_column(String(64))
    queued_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


# --- the register of initiatives (engine/services/initiatives.py, initiative_uses.py) -------------------------


class Initiative(Base):
    """A recognised initiative (sáng kiến) of a unit, as its recognition decision states it. ``reference`` is the
    decision's number as entered; ``reference_key`` the same folded (case, whitespace), unique."""

    __tablename__ = "initiative"
    __table_args__ = (
        UniqueConstraint("reference_key", name="uq_initiative_reference"),
        Index("ix_initiative_unit", "unit_id", "recognised_on"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    reference: Mapped[str] = mapped_column(String(200))
    reference_key: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(500))
    authors: Mapped[str] = mapped_column(Text)  # names as written, free text
    unit_id: Mapped[str] = mapped_column(ForeignKey("org_unit.id"))
    reach: Mapped[str] = mapped_column(String(16))  # unit | province | national
    recognised_on: Mapped[date]
    recognised_by: Mapped[str] = mapped_column(String(300))  # the initiative council and its decision
    certificate_attachment_id: Mapped[int | None] = mapped_column(ForeignKey("attachment.id"), default=None)
    certificate_ref: Mapped[str | None] = mapped_column(String(1000), default=None)  # a document stored elsewhere
    entered_by: Mapped[str] = mapped_column(String(64))
    entered_at: Mapped[datetime]
    updated_by: Mapped[str | None] = mapped_column(String(64), default=None)
    updated_at: Mapped[datetime | None] = mapped_column(default=None)


class InitiativeUse(Base):
    """An initiative relied on by one entry of a proposal. A ``pending`` or ``granted`` use holds the initiative
    (one initiative supports one award); a ``released`` one (the candidate was not awarded) frees it. At most one
    holding use per initiative: a partial unique index, so two rounds completing at once cannot both take it.
    ``outcome`` is written when a check finds the rounds have decided; ``initiative_uses.outcome_of`` reads it now."""

    __tablename__ = "initiative_use"
    __table_args__ = (
        Index("ix_initiative_use_initiative", "initiative_id", "id"),
        Index("ix_initiative_use_instance", "instance_id"),
        Index(
            "uq_initiative_use_holding",
            "initiative_id",
            unique=True,
            sqlite_where=text("outcome != 'released'"),
            postgresql_where=text("outcome != 'released'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiative.id"))
    candidate_id: Mapped[str | None] = mapped_column(String(64))  # as the process numbers its entries
    candidate_name: Mapped[str] = mapped_column(String(300))
    award: Mapped[str] = mapped_column(String(64))
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id"))  # the proposal's instance
    round_id: Mapped[int] = mapped_column(BigId)  # the round: the top of the instance's tree
    task_id: Mapped[int] = mapped_column(BigId)  # the step that relied on it
    field: Mapped[str] = mapped_column(String(255))  # the form field's path ("unit_candidates/2/initiative_ref")
    year: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))  # pending | granted | released
    used_at: Mapped[datetime]
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
