"""Sở Nội vụ chases another unit's work: "Đôn đốc" (urge) an open task, and reassign an escalated one.

- ``urge_task``: a notification to the task's assignee (or, while nobody has claimed it, everyone who may) and a
  ``task.urged`` audit event. At most one urge per task per working day (the day in Asia/Ho_Chi_Minh; an urge
  on a weekend or holiday counts for the next working day): a second one is a ConflictError naming when the
  next is possible.
- ``urge_overdue``: the same for every overdue task of a campaign at once (those urged today are skipped).
- ``reassign_escalated``: the escalation policy (``engine/escalation_defaults.yaml``) hands an overdue task to
  Sở Nội vụ's monitor at its second level; from then on the monitor may hand it to another person holding the
  task's role in the task's unit (never to someone outside it), audited as ``task.reassigned`` with
  ``reason: "monitor"``, and the new holder told. The assignee, the unit's head and administrators reassign
  through ``engine.services.tasks.reassign`` as before.

Who may call these is the caller's check (``api.authz.may_urge``); the services check the task's state.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.core.business_calendar import LOCAL_TZ
from engine.errors import ConflictError, PermissionDeniedError, ValidationError
from engine.persistence.models import AuditEvent, HumanTask, Instance, User
from engine.services.audit import append_event, instance_stream
from engine.services.context import EngineContext
from engine.services.directory import users_with_role
from engine.services.notifications import notify, notify_assigned, render, task_recipients, task_texts
from engine.services.tasks import get_task

OPEN = ("open", "claimed")
URGED = "task.urged"
MAX_NOTE = 500
# The escalation level from which Sở Nội vụ's monitor may reassign: the policy's "escalation" step (level 2) is
# the one that notifies the monitor (escalation.LEVELS).
REASSIGN_FROM_LEVEL = 2


def working_day_of(ctx: EngineContext, moment: datetime) -> date:
    """The working day a moment counts for: its local date, or the next working day after a day off."""
    day = moment.astimezone(LOCAL_TZ).date()
    for _ in range(60):
        if ctx.calendar.is_working_day(day):
            return day
        day += timedelta(days=1)
    return day


def last_urge(session: Session, task: HumanTask) -> AuditEvent | None:
    query = (
        select(AuditEvent)
        .where(
            AuditEvent.instance_id == task.instance_id,
            AuditEvent.task_guid == task.task_guid,
            AuditEvent.action == URGED,
        )
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def urges_of(session: Session, task: HumanTask) -> list[tuple[datetime, str, str | None]]:
    """The task's urges, oldest first: (when, who by name, the note)."""
    query = (
        select(AuditEvent.at, User.full_name, AuditEvent.actor, AuditEvent.data)
        .outerjoin(User, User.id == AuditEvent.actor)
        .where(
            AuditEvent.instance_id == task.instance_id,
            AuditEvent.task_guid == task.task_guid,
            AuditEvent.action == URGED,
        )
        .order_by(AuditEvent.id)
    )
    return [(at, name or actor or "", (data or {}).get("note")) for at, name, actor, data in session.execute(query)]


def may_urge_again(session: Session, ctx: EngineContext, task: HumanTask) -> date | None:
    """None when the task may be urged now; else the working day from which it may be urged again."""
    previous = last_urge(session, task)
    if previous is None:
        return None
    today = working_day_of(ctx, ctx.now())
    if working_day_of(ctx, previous.at) < today:
        return None
    return ctx.calendar.add_working_days(today, 1)


def _name(session: Session, user_id: str) -> str:
    return session.scalar(select(User.full_name).where(User.id == user_id)) or user_id


def urge_task(session: Session, ctx: EngineContext, task_id: int, by_user: str, note: str | None = None) -> list[str]:
    """Urge an open task (see the module docstring); returns who was told."""
    row = get_task(session, task_id)
    if row.status not in OPEN:
        raise ConflictError(f"task {task_id} is {row.status}; only open work is urged")
    text = (note or "").strip()
    if len(text) > MAX_NOTE:
        raise ValidationError(
            f"the urge's note holds at most {MAX_NOTE} characters", {"fields": {"note": f"at most {MAX_NOTE}"}}
        )
    again = may_urge_again(session, ctx, row)
    if again is not None:
        raise ConflictError(
            f"task {task_id} was already urged on this working day; it may be urged again from "
            f"{again.strftime('%d/%m/%Y')}",
            {"next_urge_on": again.isoformat()},
        )
    recipients = [u for u in task_recipients(session, ctx, row) if u != by_user]
    fields = task_texts(session, row, actor=_name(session, by_user), note=f"\n{text}" if text else "")
    title, body = render("urged", **fields)
    notify(session, ctx, recipients, "urged", title, body, instance_id=row.instance_id, task_id=row.id)
    append_event(
        session,
        ctx.clock,
        stream=instance_stream(row.instance_id),
        action=URGED,
        actor=by_user,
        instance_id=row.instance_id,
        task_guid=row.task_guid,
        element_id=row.element_id,
        data={"notified": recipients, "note": text or None, "due_at": row.due_at.isoformat() if row.due_at else None},
    )
    return recipients


def reassign_candidates(session: Session, ctx: EngineContext, task: HumanTask) -> list[str]:
    """Who the monitor may hand the task to: holders of its role in its unit, but not its current assignee."""
    if task.role_id is None:
        return []
    return [u for u in users_with_role(session, task.role_id, task.unit_id, ctx.now()) if u != task.assignee]


def may_reassign_escalated(task: HumanTask) -> bool:
    return task.status in OPEN and task.escalation_level >= REASSIGN_FROM_LEVEL


def reassign_escalated(session: Session, ctx: EngineContext, task_id: int, to_user: str, by_user: str) -> HumanTask:
    """Sở Nội vụ's monitor hands an escalated task to another holder of its role in its unit (module docstring)."""
    row = get_task(session, task_id)
    if row.status not in OPEN:
        raise ConflictError(f"task {task_id} is {row.status}")
    if not may_reassign_escalated(row):
        raise PermissionDeniedError(
            f"task {task_id} is at escalation level {row.escalation_level}; Sở Nội vụ reassigns from level "
            f"{REASSIGN_FROM_LEVEL} (escalated to the monitor)"
        )
    if to_user not in reassign_candidates(session, ctx, row):
        raise ValidationError(
            f"user {to_user} does not hold role {row.role_id} in unit {row.unit_id} (or already has task {task_id})",
            {"fields": {"user": f"must hold {row.role_id} in {row.unit_id}"}},
        )
    previous = row.assignee
    result = session.connection().execute(
        update(HumanTask)
        .where(HumanTask.id == task_id, HumanTask.status.in_(OPEN), HumanTask.assignee.is_not_distinct_from(previous))
        .values(assignee=to_user, status="claimed")
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise ConflictError(f"task {task_id} changed meanwhile")
    data: dict[str, Any] = {"from": previous, "to": to_user, "reason": "monitor"}
    append_event(
        session,
        ctx.clock,
        stream=instance_stream(row.instance_id),
        action="task.reassigned",
        actor=by_user,
        instance_id=row.instance_id,
        task_guid=row.task_guid,
        element_id=row.element_id,
        data=data,
    )
    session.refresh(row)
    notify_assigned(session, ctx, row, by_user)
    return row


def urge_overdue(
    session: Session, ctx: EngineContext, root_id: int, by_user: str, unit_ids: set[str] | None = None
) -> tuple[int, int]:
    """Urge every overdue open task of a campaign (the root and everything it called), of ``unit_ids`` unless None:
    (urged, skipped because already urged on this working day)."""
    query = (
        select(HumanTask.id, HumanTask.unit_id, Instance.unit_id)
        .join(Instance, Instance.id == HumanTask.instance_id)
        .where(
            (Instance.root_id == root_id) | (Instance.id == root_id),
            HumanTask.status.in_(OPEN),
            HumanTask.due_at < ctx.now(),
        )
        .order_by(HumanTask.due_at, HumanTask.id)
    )
    urged = skipped = 0
    for task_id, task_unit, instance_unit in session.execute(query).all():
        if unit_ids is not None and task_unit not in unit_ids and instance_unit not in unit_ids:
            continue
        if may_urge_again(session, ctx, get_task(session, task_id)) is not None:
            skipped += 1
            continue
        urge_task(session, ctx, task_id, by_user)
        urged += 1
    return urged, skipped
