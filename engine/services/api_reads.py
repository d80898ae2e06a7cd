"""Small use cases the JSON API needs beyond the core services: returning a task with a reason, filtered
instance pages with their total, the audit log's export pages, and the organisation's rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.errors import ConflictError
from engine.persistence.models import AuditEvent, Delegation, HumanTask, Instance, Membership, OrgUnit, Role, User
from engine.services import tasks
from engine.services.audit import append_event, instance_stream
from engine.services.context import EngineContext


def return_task(session: Session, ctx: EngineContext, task_id: int, user_id: str, reason: str) -> HumanTask:
    """Give a claimed task back to its candidates with a reason (``task.returned`` in the instance's audit trail).

    This is the engine's generic "return": the work goes back to the pool, nothing in the process moves. Sending a
    dossier back to an earlier step is the model's business, through the task's form (e.g. ``head_decision``
    ``return`` with a comment), completed like any other task."""
    row = tasks.get_task(session, task_id)
    if row.status != "claimed":
        raise ConflictError(f"task {task_id} is {row.status}; only a claimed task can be returned")
    previous = row.assignee
    tasks.unclaim(session, ctx, task_id, user_id)
    append_event(
        session,
        ctx.clock,
        stream=instance_stream(row.instance_id),
        action="task.returned",
        actor=user_id,
        instance_id=row.instance_id,
        task_guid=row.task_guid,
        element_id=row.element_id,
        data={"reason": reason, "previous_assignee": previous},
    )
    session.refresh(row)
    return row


def instance_filters(
    *,
    status: str | None = None,
    process: str | None = None,
    unit: str | None = None,
    business_key: str | None = None,
    parent: int | None = None,
) -> list[Any]:
    found: list[Any] = []
    for column, value in (
        (Instance.status, status),
        (Instance.definition_key, process),
        (Instance.unit_id, unit),
        (Instance.business_key, business_key),
        (Instance.parent_id, parent),
    ):
        if value is not None:
            found.append(column == value)
    return found


def count_instances(session: Session, conditions: list[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(Instance).where(*conditions)) or 0)


def page_instances(session: Session, conditions: list[Any], limit: int, offset: int) -> list[Instance]:
    query = select(Instance).where(*conditions).order_by(Instance.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(query))


def audit_page(
    session: Session,
    *,
    instance_id: int | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_id: int = 0,
    limit: int = 1000,
) -> list[AuditEvent]:
    """Audit events in id order (the order they were written), filtered, one page after ``after_id``."""
    query = select(AuditEvent).where(AuditEvent.id > after_id)
    if instance_id is not None:
        query = query.where(AuditEvent.instance_id == instance_id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if until is not None:
        query = query.where(AuditEvent.at < until)
    return list(session.scalars(query.order_by(AuditEvent.id).limit(limit)))


def units(session: Session) -> list[OrgUnit]:
    return list(session.scalars(select(OrgUnit).order_by(OrgUnit.id)))


def roles(session: Session) -> list[Role]:
    return list(session.scalars(select(Role).order_by(Role.id)))


def users(session: Session, user_id: str | None = None) -> list[User]:
    query = select(User).order_by(User.id)
    if user_id is not None:
        query = query.where(User.id == user_id)
    return list(session.scalars(query))


def memberships(session: Session, user_id: str | None = None) -> list[Membership]:
    query = select(Membership).order_by(Membership.id)
    if user_id is not None:
        query = query.where(Membership.user_id == user_id)
    return list(session.scalars(query))


def delegations(session: Session, user_id: str | None = None) -> list[Delegation]:
    query = select(Delegation).order_by(Delegation.id)
    if user_id is not None:
        query = query.where((Delegation.from_user_id == user_id) | (Delegation.to_user_id == user_id))
    return list(session.scalars(query))
