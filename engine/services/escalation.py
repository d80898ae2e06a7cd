"""Reminders, the overdue flag and escalation of human tasks with a due date, as Timer rows the scheduler fires.

``plan_timers`` (called when a task with ``due_at`` is created) returns up to three Timer rows, resolved from the
policy in force (``escalation_policy``) and the business calendar, and carrying the resolved step in their
payload, so a policy change applies to tasks created after it:

- ``reminder`` at ``reminder_before`` working days before ``due_at`` (same local time of day); left out when that
  moment has already passed at creation (a task due tomorrow morning gets no reminder tonight);
- ``overdue`` at ``due_at``: escalation_level 1, ``task.overdue`` audited, the unit head told;
- ``escalation`` ``escalate_after`` working days after ``due_at``: escalation_level 2, ``task.escalated``
  audited, Sở Nội vụ's monitor told, and the task handed to the unit head when the policy says so.

``handle_timer`` performs one step in the caller's (the scheduler's) transaction. It does nothing when the task
is no longer open, or when the step was already done (its level reached or its audit event present), so running
it twice is harmless. Notifications are rows; e-mail goes out after the commit (``mailer.send_pending_emails``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from engine.persistence.models import AuditEvent, Definition, HumanTask, Instance, OrgUnit, Timer
from engine.services.audit import append_events
from engine.services.context import EngineContext
from engine.services.directory import users_with_role
from engine.services.escalation_policy import EscalationPolicy, current_policy
from engine.services.notifications import local_text, notify, render

ACTIONS = {"reminder": "task.reminded", "overdue": "task.overdue", "escalation": "task.escalated"}
LEVELS = {"reminder": 0, "overdue": 1, "escalation": 2}
OPEN = ("open", "claimed")
ACTOR = "system"
DEFAULT_MONITOR_UNIT = "SNV"
MONITOR_UNIT_KIND = "home_affairs"


def plan_timers(
    session: Session,
    ctx: EngineContext,
    task_row: HumanTask,
    definition_key: str,
    *,
    policy: EscalationPolicy | None = None,
) -> list[dict[str, Any]]:
    """Timer rows (dicts for a bulk insert) for a task that has a ``due_at``; [] when it has none.

    Sends no SQL: everything it needs is on the row, the policy and the calendar.
    """
    due = task_row.due_at
    if due is None:
        return []
    steps = (policy or current_policy()).resolve(definition_key, task_row.role_id)
    calendar = ctx.calendar
    base = {"definition_key": definition_key, "task_id": task_row.id, "due_at": due.isoformat(), **steps.as_payload()}
    planned: list[tuple[str, Any, dict[str, Any]]] = []
    if steps.reminder_before:
        at = calendar.subtract_working_days(due, steps.reminder_before)
        if at > ctx.now():
            planned.append(("reminder", at, {"before": steps.reminder_before}))
    planned.append(("overdue", due, {}))
    if steps.escalate_after:
        planned.append(
            ("escalation", calendar.add_working_days(due, steps.escalate_after), {"after": steps.escalate_after})
        )
    return [
        {
            "instance_id": task_row.instance_id,
            "kind": kind,
            "task_guid": task_row.task_guid,
            "element_id": task_row.element_id,
            "due_at": at,
            "status": "pending",
            "lease_owner": None,
            "lease_until": None,
            "fired_at": None,
            "payload": {"step": kind, **base, **extra},
        }
        for kind, at, extra in planned
    ]


def handle_timer(session: Session, ctx: EngineContext, timer: Timer) -> None:
    """Perform one reminder/overdue/escalation step (see the module docstring); idempotent."""
    kind = timer.kind
    if kind not in ACTIONS or not timer.task_guid:
        return
    task = session.scalars(select(HumanTask).where(HumanTask.task_guid == timer.task_guid)).one_or_none()
    if task is None or task.status not in OPEN:
        return
    level = LEVELS[kind]
    if level and task.escalation_level >= level:
        return
    done = exists().where(
        AuditEvent.instance_id == task.instance_id,
        AuditEvent.task_guid == task.task_guid,
        AuditEvent.action == ACTIONS[kind],
    )
    if session.scalar(select(done)):
        return
    payload = dict(timer.payload or {})
    recipients = _recipients(session, ctx, task, payload.get(f"notify_{kind}") or [], payload)
    texts = _texts(session, ctx, task, payload)
    title, body = render(kind, **texts)
    notify(session, ctx, recipients, kind, title, body, instance_id=task.instance_id, task_id=task.id)
    data: dict[str, Any] = {"due_at": task.due_at.isoformat() if task.due_at else None, "notified": recipients}
    if level:
        data["escalation_level"] = level
        session.execute(
            update(HumanTask)
            .where(HumanTask.id == task.id, HumanTask.escalation_level < level)
            .values(escalation_level=level)
            .execution_options(synchronize_session=False)
        )
    if kind == "escalation":
        data["working_days_late"] = payload.get("after")
    events = [_event(task, ACTIONS[kind], data)]
    if kind == "escalation" and payload.get("reassign_to") == "unit_head":
        events += _reassign_to_head(session, ctx, task, payload, texts)
    append_events(session, ctx.clock, f"instance:{task.instance_id}", events)
    session.refresh(task)


def _event(task: HumanTask, action: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "action": action,
        "actor": ACTOR,
        "instance_id": task.instance_id,
        "task_guid": task.task_guid,
        "element_id": task.element_id,
        "data": data,
    }


def _may_claim(session: Session, ctx: EngineContext, task: HumanTask) -> list[str]:
    """Everyone who could take the unclaimed task: its role and candidate groups in its unit, candidate users."""
    found = set(task.candidate_users or [])
    for role in {task.role_id, *(task.candidate_groups or [])} - {None}:
        found.update(users_with_role(session, str(role), task.unit_id, ctx.now()))
    return sorted(found)


def monitor_unit(session: Session, configured: str | None) -> str | None:
    """The unit whose monitor is told: the policy's, else the unit of kind home_affairs, else SNV if it exists."""
    if configured:
        return configured
    by_kind = select(OrgUnit.id).where(OrgUnit.kind == MONITOR_UNIT_KIND).order_by(OrgUnit.id).limit(1)
    return session.scalar(by_kind) or session.scalar(select(OrgUnit.id).where(OrgUnit.id == DEFAULT_MONITOR_UNIT))


def _recipients(
    session: Session, ctx: EngineContext, task: HumanTask, wanted: list[str], payload: dict[str, Any]
) -> list[str]:
    found: set[str] = set()
    now = ctx.now()
    if "assignee" in wanted:
        found.update([task.assignee] if task.assignee else _may_claim(session, ctx, task))
    if "unit_head" in wanted and task.unit_id:
        found.update(users_with_role(session, payload.get("unit_head_role") or "unit_head", task.unit_id, now))
    if "monitor" in wanted:
        unit = monitor_unit(session, payload.get("monitor_unit"))
        if unit:
            found.update(users_with_role(session, payload.get("monitor_role") or "home_affairs", unit, now))
    return sorted(found)


def _texts(session: Session, ctx: EngineContext, task: HumanTask, payload: dict[str, Any]) -> dict[str, Any]:
    process = session.execute(
        select(Definition.name, Definition.key)
        .join(Instance, Instance.definition_id == Definition.id)
        .where(Instance.id == task.instance_id)
    ).first()
    unit = session.get(OrgUnit, task.unit_id) if task.unit_id else None
    return {
        "task": task.name or task.element_id,
        "process": (process.name or process.key) if process else payload.get("definition_key", ""),
        "instance": task.instance_id,
        "due": local_text(task.due_at),
        "unit": unit.name if unit else (task.unit_id or ""),
        "days": payload.get("after") or "",
        "assignee": task.assignee,
    }


def _reassign_to_head(
    session: Session, ctx: EngineContext, task: HumanTask, payload: dict[str, Any], texts: dict[str, Any]
) -> list[dict[str, Any]]:
    """Hand the task to the unit's head (the first by id) unless a head already has it."""
    heads = users_with_role(session, payload.get("unit_head_role") or "unit_head", task.unit_id, ctx.now())
    if not heads or task.assignee in heads:
        return []
    head = heads[0]
    session.execute(
        update(HumanTask)
        .where(HumanTask.id == task.id, HumanTask.status.in_(OPEN))
        .values(assignee=head, status="claimed")
        .execution_options(synchronize_session=False)
    )
    title, body = render("reassigned", **texts)
    notify(session, ctx, [head], "reassigned", title, body, instance_id=task.instance_id, task_id=task.id)
    return [_event(task, "task.reassigned", {"from": task.assignee, "to": head, "reason": "escalation"})]
