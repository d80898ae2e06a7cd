"""The simulation's table: per process, how many ran, finished, were sent back, ran late and were escalated.

- started / completed: process instances, top-level and called (each call activity child counts), read from the
  saved instance states;
- returned: completions that sent work back (a head's ``return``, Sở Nội vụ's ``request_changes``, an appraiser's
  ``supplement`` or ``reject``), read from the audit trail;
- overdue: human tasks finished after their due date, or still open past it at the end;
- escalated: human tasks whose escalation level rose above 0.

Below it, per award: how many were decided in the units (the head's decision on the unit council's advice,
``unit_nomination``) and how many went before the provincial Council (``council_meeting``'s candidates), so a
year shows unit-level titles staying in the units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.persistence.models import AuditEvent, HumanTask, Instance
from engine.services.context import EngineContext
from engine.services.definitions import load_definition
from engine.services.instance_store import load_instance
from engine.services.instances import instance_data

COLUMNS = ("started", "completed", "returned", "overdue", "escalated")
AWARD_COLUMNS = ("in_units", "to_council")
RETURNS = {
    "head_decision": {"return"},
    "review_decision": {"request_changes"},
    "appraisal": {"supplement", "reject"},
}


@dataclass
class SimulationTable:
    rows: dict[str, dict[str, int]] = field(default_factory=dict)
    awards: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, process: str, column: str, n: int = 1) -> None:
        self.rows.setdefault(process, dict.fromkeys(COLUMNS, 0))[column] += n

    def add_award(self, award: str, column: str) -> None:
        self.awards.setdefault(award, dict.fromkeys(AWARD_COLUMNS, 0))[column] += 1

    def as_text(self) -> str:
        width = max([len("process"), *(len(p) for p in self.rows)])
        lines = [f"{'process':<{width}}  " + "  ".join(f"{c:>9}" for c in COLUMNS)]
        for process in sorted(self.rows):
            row = self.rows[process]
            lines.append(f"{process:<{width}}  " + "  ".join(f"{row[c]:>9}" for c in COLUMNS))
        if self.awards:
            width = max([len("award"), *(len(a) for a in self.awards)])
            lines += ["", f"{'award':<{width}}  " + "  ".join(f"{c:>10}" for c in AWARD_COLUMNS)]
            for award in sorted(self.awards):
                row = self.awards[award]
                lines.append(f"{award:<{width}}  " + "  ".join(f"{row[c]:>10}" for c in AWARD_COLUMNS))
        return "\n".join(lines)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _process_of_elements(session: Session, definition_ids: set[int]) -> dict[str, str]:
    """Element id -> the id of the process it belongs to, over every deployed definition used."""
    owners: dict[str, str] = {}
    for definition_id in sorted(definition_ids):
        loaded = load_definition(session, definition_id)
        for spec in [loaded.spec, *loaded.subprocess_specs.values()]:
            for task_spec in spec.task_specs.values():
                bpmn_id = getattr(task_spec, "bpmn_id", None)
                if bpmn_id:
                    owners.setdefault(bpmn_id, spec.name)
    return owners


def _returned(data: dict[str, Any]) -> bool:
    submitted = data.get("submitted") or {}
    return any(submitted.get(name) in values for name, values in RETURNS.items())


def build_table(session: Session, ctx: EngineContext, end: datetime) -> SimulationTable:
    table = SimulationTable()
    rows = list(session.scalars(select(Instance).order_by(Instance.id)))
    for row in rows:
        workflow = load_instance(session, ctx, row.id).workflow
        table.add(row.definition_key, "started")
        if workflow.is_completed():
            table.add(row.definition_key, "completed")
        for guid in sorted(workflow.subprocesses, key=str):
            sub = workflow.subprocesses[guid]
            table.add(sub.spec.name, "started")
            if sub.is_completed():
                table.add(sub.spec.name, "completed")
        if row.definition_key == "unit_nomination":
            for award in instance_data(session, ctx, row.id).get("unit_awards") or []:
                table.add_award(str(award.get("award")), "in_units")
        elif row.definition_key == "council_meeting":
            for candidate in instance_data(session, ctx, row.id).get("candidates") or []:
                table.add_award(str(candidate.get("award")), "to_council")
    owners = _process_of_elements(session, {r.definition_id for r in rows})
    for process in sorted(set(owners.values())):
        table.add(process, "started", 0)  # every process gets a row, even one that never ran
    for element_id, data in session.execute(
        select(AuditEvent.element_id, AuditEvent.data)
        .where(AuditEvent.action == "task.completed")
        .order_by(AuditEvent.id)
    ):
        if element_id and _returned(data or {}):
            table.add(owners.get(element_id, "?"), "returned")
    for task in session.scalars(select(HumanTask).order_by(HumanTask.id)):
        process = owners.get(task.element_id, "?")
        if task.due_at is not None:
            finished = _aware(task.completed_at) if task.completed_at else None
            due = _aware(task.due_at)
            if (finished is not None and finished > due) or (
                finished is None and task.status != "cancelled" and end > due
            ):
                table.add(process, "overdue")
        if task.escalation_level > 0:
            table.add(process, "escalated")
    return table
