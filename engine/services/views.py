"""Read models for the web UI and the JSON API: tasks with their instance and names, scoped instance lists, the
per-unit overview, a user's memberships and a task's current form data.

Reads only: nothing here writes, so callers may use read-only sessions. Each function batches its lookups (one
query per kind of thing, never one per row).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, or_, select
from sqlalchemy.orm import Session

from engine.core.runtime import find_task
from engine.persistence.models import Definition, HumanTask, Instance, Membership, OrgUnit, Role
from engine.persistence.prepared import Prepared
from engine.services.context import EngineContext
from engine.services.instance_store import OPEN, json_safe, load_instance
from engine.services.overdue import overdue_report


@dataclass(frozen=True)
class TaskView:
    task: HumanTask
    business_key: str | None
    instance_unit_id: str | None
    process_name: str
    unit_name: str
    overdue: bool


def _unit_names(session: Session, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    return dict(session.execute(select(OrgUnit.id, OrgUnit.name).where(OrgUnit.id.in_(ids))).all())


def process_names(session: Session, keys: set[str]) -> dict[str, str]:
    """Each process key's name as its newest deployed version gives it (the key when it has none)."""
    names: dict[str, str] = {}
    if keys:
        query = select(Definition.key, Definition.name).where(Definition.key.in_(keys)).order_by(Definition.version)
        for key, name in session.execute(query):
            names[key] = name or key
    return names


# One task's names in one prepared statement (every step's answer): its instance's business key and unit, its
# unit's name, its process's name as the newest version gives it.
_ONE_TASK_NAMES = Prepared(
    select(
        Instance.business_key,
        Instance.unit_id,
        select(OrgUnit.name).where(OrgUnit.id == bindparam("unit_id")).scalar_subquery(),
        select(Definition.name)
        .where(Definition.key == bindparam("key"))
        .order_by(Definition.version.desc())
        .limit(1)
        .scalar_subquery(),
    ).where(Instance.id == bindparam("instance_id"))
)


def _one_task_view(session: Session, ctx: EngineContext, r: HumanTask) -> TaskView:
    params = {"instance_id": r.instance_id, "unit_id": r.unit_id, "key": r.definition_key}
    found = _ONE_TASK_NAMES.all(session.connection(), params)
    business_key, instance_unit, unit_name, process_name = found[0] if found else (None, None, None, None)
    return TaskView(
        task=r,
        business_key=business_key,
        instance_unit_id=instance_unit,
        process_name=process_name or r.definition_key or "",
        unit_name=unit_name or r.unit_id or "",
        overdue=r.status in OPEN and r.due_at is not None and r.due_at < ctx.now(),
    )


def task_views(session: Session, ctx: EngineContext, rows: list[HumanTask]) -> list[TaskView]:
    """The rows with their instance's business key and unit, the process and unit names, and an overdue flag."""
    if len(rows) == 1:
        return [_one_task_view(session, ctx, rows[0])]
    instance_ids = {r.instance_id for r in rows}
    instances: dict[int, tuple[str | None, str | None]] = {}
    if instance_ids:
        query = select(Instance.id, Instance.business_key, Instance.unit_id).where(Instance.id.in_(instance_ids))
        instances = {i: (bk, unit) for i, bk, unit in session.execute(query)}
    units = _unit_names(session, {r.unit_id for r in rows if r.unit_id})
    names = process_names(session, {r.definition_key for r in rows if r.definition_key})
    now = ctx.now()
    return [
        TaskView(
            task=r,
            business_key=instances.get(r.instance_id, (None, None))[0],
            instance_unit_id=instances.get(r.instance_id, (None, None))[1],
            process_name=names.get(r.definition_key or "", r.definition_key or ""),
            unit_name=units.get(r.unit_id or "", r.unit_id or ""),
            overdue=r.status in OPEN and r.due_at is not None and r.due_at < now,
        )
        for r in rows
    ]


def open_tasks_of(session: Session, instance_id: int) -> list[HumanTask]:
    query = select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.status.in_(OPEN))
    return list(session.scalars(query.order_by(HumanTask.id)))


def instances_page(
    session: Session,
    *,
    unit_ids: set[str] | None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Instance]:
    """Instances, newest first; only those of ``unit_ids`` (see ``in_units``) unless it is None (everything)."""
    query = select(Instance).order_by(Instance.id.desc()).limit(max(1, min(limit, 500))).offset(max(0, offset))
    if unit_ids is not None:
        query = query.where(_in_units(unit_ids))
    if status:
        query = query.where(Instance.status == status)
    return list(session.scalars(query))


def _in_units(unit_ids: set[str]) -> ColumnElement[bool]:
    has_work_there = select(HumanTask.id).where(HumanTask.instance_id == Instance.id, HumanTask.unit_id.in_(unit_ids))
    return or_(Instance.unit_id.in_(unit_ids), has_work_there.exists())


def called_instances(session: Session, instance_id: int, unit_ids: set[str] | None) -> list[Instance]:
    """The instances this one's call activities started (one per unit's plan, dossier, meeting...), by call and
    position; only those of ``unit_ids`` (as ``instances_page``) unless it is None."""
    query = (
        select(Instance)
        .where(Instance.parent_id == instance_id)
        .order_by(Instance.call_element, Instance.call_index, Instance.id)
    )
    if unit_ids is not None:
        query = query.where(_in_units(unit_ids))
    return list(session.scalars(query))


def incidents_below(session: Session, instance_id: int) -> list[Instance]:
    """Called instances (at any depth) stopped on an incident: they hold their caller's call activity up."""
    from engine.services.calls import descendants

    return descendants(session, instance_id, ("incident",))


def in_units(session: Session, instance_id: int, unit_ids: set[str]) -> bool:
    """Is the instance one of these units': started for one of them, or giving (or having given) one of them work?
    (A province-wide campaign is the province's, and also each unit's that it asks for a plan.)"""
    found = session.scalar(select(Instance.id).where(Instance.id == instance_id, _in_units(unit_ids)))
    return found is not None


def definition_of(session: Session, instance: Instance) -> tuple[str, int, str | None]:
    """(key, version, name) of the definition the instance runs."""
    row = session.get(Definition, instance.definition_id)
    return (instance.definition_key, row.version, row.name) if row is not None else (instance.definition_key, 0, None)


@dataclass(frozen=True)
class MembershipView:
    role_id: str
    role_name: str
    unit_id: str
    unit_name: str


def memberships_of(session: Session, user_id: str) -> list[MembershipView]:
    """The user's own memberships (role × unit) with names, ordered by unit then role."""
    query = (
        select(Membership.role_id, Role.name, Membership.unit_id, OrgUnit.name)
        .join(Role, Role.id == Membership.role_id)
        .join(OrgUnit, OrgUnit.id == Membership.unit_id)
        .where(Membership.user_id == user_id)
        .order_by(Membership.unit_id, Membership.role_id)
    )
    return [MembershipView(*row) for row in session.execute(query)]


def task_form_data(
    session: Session, ctx: EngineContext, row: HumanTask, schema: dict[str, Any] | None
) -> dict[str, Any]:
    """What the form's fields hold now in the task's data (e.g. a returned plan's earlier text); {} when closed."""
    if row.status not in OPEN or not schema:
        return {}
    instance = session.get(Instance, row.instance_id)
    if instance is None:
        return {}
    loaded = load_instance(session, ctx, row.instance_id, row=instance, open_tasks=[])
    task = find_task(loaded.workflow, row.task_guid)
    if task is None:
        return {}
    fields = set((schema.get("properties") or {}).keys())
    return {k: json_safe(v) for k, v in task.data.items() if k in fields}


@dataclass
class UnitOverview:
    unit_id: str | None
    unit_name: str
    open: int = 0
    due_soon: int = 0
    overdue: int = 0
    escalated: int = 0
    max_escalation: int = 0
    tasks: list[TaskView] = field(default_factory=list)


def unit_overview(
    session: Session, ctx: EngineContext, *, unit_ids: set[str] | None, task_limit: int = 200
) -> list[UnitOverview]:
    """Per unit with open work (only ``unit_ids`` unless None): counts from the overdue report and its open tasks,
    the most overdue first. Units are ordered by overdue count, then name."""
    units: dict[str | None, UnitOverview] = {}
    for r in overdue_report(session, ctx):
        if unit_ids is not None and r.unit_id not in unit_ids:
            continue
        entry = units.setdefault(r.unit_id, UnitOverview(r.unit_id, r.unit_name))
        entry.open += r.open
        entry.due_soon += r.due_soon
        entry.overdue += r.overdue
        entry.escalated += r.escalated
    if not units:
        return []
    query = select(HumanTask).where(HumanTask.status.in_(OPEN))
    if unit_ids is not None:
        query = query.where(HumanTask.unit_id.in_(unit_ids))
    rows = list(session.scalars(query.order_by(HumanTask.due_at.is_(None), HumanTask.due_at).limit(task_limit)))
    for view in task_views(session, ctx, rows):
        if view.task.unit_id in units:
            units[view.task.unit_id].tasks.append(view)
    levels = select(HumanTask.unit_id, func.max(HumanTask.escalation_level)).where(HumanTask.status.in_(OPEN))
    for unit_id, level in session.execute(levels.group_by(HumanTask.unit_id)):
        if unit_id in units:
            units[unit_id].max_escalation = int(level or 0)
    return sorted(units.values(), key=lambda u: (-u.overdue, u.unit_name))


def in_units_condition(unit_ids: set[str]) -> ColumnElement[bool]:
    """The condition ``instances_page`` narrows by: an instance of these units, or with a task for one of them."""
    return _in_units(unit_ids)
