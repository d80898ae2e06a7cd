"""What is due and overdue, per unit and process: the numbers Sở Nội vụ follows (web UI and ``tdkt report``).

Counts over open and claimed tasks (``HumanTask.status`` open|claimed), at ``ctx.now()``:

- ``open``: all of them;
- ``due_soon``: not yet due, and due before ``soon_days`` working days from now;
- ``overdue``: past their ``due_at`` (escalated ones included);
- ``escalated``: escalation_level 2 or more (Sở Nội vụ told).

One aggregate query over human_task alone (the process key is copied onto each task; ``ix_human_task_report``
covers it), one for unit names, one for process names.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from engine.persistence.models import Definition, HumanTask, OrgUnit
from engine.services.context import EngineContext

OPEN = ("open", "claimed")


@dataclass(frozen=True)
class OverdueRow:
    unit_id: str | None
    unit_name: str
    definition_key: str
    process_name: str
    open: int
    due_soon: int
    overdue: int
    escalated: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def overdue_report(
    session: Session,
    ctx: EngineContext,
    *,
    unit_id: str | None = None,
    definition_key: str | None = None,
    soon_days: int = 2,
) -> list[OverdueRow]:
    """One row per (unit, process) with open tasks, ordered by overdue count (highest first), unit, process."""
    now = ctx.now()
    soon = ctx.calendar.add_working_days(now, max(0, soon_days))
    counts = (
        select(
            HumanTask.unit_id,
            HumanTask.definition_key,
            func.count().label("open"),
            func.sum(case((HumanTask.due_at >= now, case((HumanTask.due_at < soon, 1), else_=0)), else_=0)).label(
                "due_soon"
            ),
            func.sum(case((HumanTask.due_at < now, 1), else_=0)).label("overdue"),
            func.sum(case((HumanTask.escalation_level >= 2, 1), else_=0)).label("escalated"),
        )
        .where(HumanTask.status.in_(OPEN))
        .group_by(HumanTask.unit_id, HumanTask.definition_key)
    )
    if unit_id is not None:
        counts = counts.where(HumanTask.unit_id == unit_id)
    if definition_key is not None:
        counts = counts.where(HumanTask.definition_key == definition_key)
    rows = session.execute(counts).all()
    units = {r.unit_id for r in rows if r.unit_id}
    keys = {r.definition_key for r in rows}
    unit_names = (
        dict(session.execute(select(OrgUnit.id, OrgUnit.name).where(OrgUnit.id.in_(units))).all()) if units else {}
    )
    process_names: dict[str, str] = {}
    if keys:
        named = select(Definition.key, Definition.name).where(Definition.key.in_(keys)).order_by(Definition.version)
        for key, name in session.execute(named):
            process_names[key] = name or key  # the newest version's name wins
    report = [
        OverdueRow(
            unit_id=r.unit_id,
            unit_name=unit_names.get(r.unit_id, r.unit_id or "") if r.unit_id else "",
            definition_key=r.definition_key,
            process_name=process_names.get(r.definition_key, r.definition_key),
            open=int(r.open),
            due_soon=int(r.due_soon or 0),
            overdue=int(r.overdue or 0),
            escalated=int(r.escalated or 0),
        )
        for r in rows
    ]
    report.sort(key=lambda r: (-r.overdue, r.unit_name, r.definition_key))
    return report


def overdue_tasks(
    session: Session, ctx: EngineContext, *, unit_id: str | None = None, limit: int = 100
) -> list[HumanTask]:
    """Open tasks past their due date, the longest overdue first.

    One query per open status, each an ordered range read of ``ix_human_task_due`` (status, due_at) that stops at
    ``limit``; ``status IN (...)`` would make PostgreSQL sort every overdue task first.
    """
    limit = max(1, min(limit, 1000))
    found: list[HumanTask] = []
    for status in OPEN:
        query = (
            select(HumanTask)
            .where(HumanTask.status == status, HumanTask.due_at < ctx.now())
            .order_by(HumanTask.due_at, HumanTask.id)
            .limit(limit)
        )
        if unit_id is not None:
            query = query.where(HumanTask.unit_id == unit_id)
        found += session.scalars(query)
    found.sort(key=lambda t: (t.due_at, t.id))
    return found[:limit]
