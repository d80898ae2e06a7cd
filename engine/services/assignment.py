"""Who gets a new human task, and when it is due, from the model's metadata and the instance's data.

Order of precedence: a Camunda ``assignee`` (literal or expression) claims the task for that person; the lane's
role in the instance's unit, Camunda ``candidateGroups`` (roles) and ``candidateUsers``, and SpiffArena-style
``lane_owners`` data (``{lane: [user ids]}``) all add candidates who may claim it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from SpiffWorkflow.task import Task

from engine.core.expressions import evaluate_plain
from engine.errors import EngineError
from engine.services.context import EngineContext


@dataclass
class Assignment:
    role_id: str | None = None
    unit_id: str | None = None
    candidate_groups: list[str] = field(default_factory=list)
    candidate_users: list[str] = field(default_factory=list)
    assignee: str | None = None
    due_at: datetime | None = None
    problems: list[str] = field(default_factory=list)

    def candidates(self) -> list[dict[str, Any]]:
        """Rows for ``task_candidate``: extra groups and named users. The lane's role needs none: the task row
        itself holds it (role_id, unit_id) and the inbox finds it through ``ix_human_task_inbox``."""
        rows: list[dict[str, Any]] = []
        for group in self.candidate_groups:
            if group != self.role_id:
                rows.append({"role_id": group, "unit_id": self.unit_id, "user_id": None})
        for user in self.candidate_users:
            rows.append({"role_id": None, "unit_id": None, "user_id": user})
        return rows

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "role": self.role_id,
            "unit": self.unit_id,
            "candidate_groups": self.candidate_groups,
            "candidate_users": self.candidate_users,
            "assignee": self.assignee,
            "due_at": self.due_at.isoformat() if self.due_at else None,
        }
        if self.problems:
            out["problems"] = self.problems
        return out


def _as_names(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list | tuple | set):
        return [str(v) for v in value if v not in (None, "")]
    return [str(value)]


def _due(value: Any, now: datetime) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, timedelta):
        return now + value
    if isinstance(value, int | float):
        return now + timedelta(days=value)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError(f"a due date must be a date, a datetime or a duration, not {type(value).__name__}")


def resolve_assignment(ctx: EngineContext, task: Task, meta: dict[str, Any], unit_id: str | None) -> Assignment:
    data = task.data
    unit = data.get("assigned_unit") or unit_id
    result = Assignment(role_id=meta.get("role"), unit_id=unit)
    names = {**ctx.script_engine_functions(), **data}

    def evaluate(key: str) -> Any:
        try:
            return evaluate_plain(meta[key], names)
        except (EngineError, Exception) as err:  # an expression that fails leaves the task unassigned, visibly
            result.problems.append(f"{key} {meta[key]!r}: {err}")
            return None

    result.candidate_groups = _as_names(meta.get("candidate_groups"))
    if meta.get("candidate_groups_expr"):
        result.candidate_groups += _as_names(evaluate("candidate_groups_expr"))
    result.candidate_users = _as_names(meta.get("candidate_users"))
    if meta.get("candidate_users_expr"):
        result.candidate_users += _as_names(evaluate("candidate_users_expr"))
    lane_owners = data.get("lane_owners")
    lane = meta.get("lane")
    if isinstance(lane_owners, dict) and lane and lane in lane_owners:
        result.candidate_users += _as_names(lane_owners[lane])
    assignee = meta.get("assignee") or (evaluate("assignee_expr") if meta.get("assignee_expr") else None)
    result.assignee = str(assignee) if assignee else None
    if meta.get("due_date"):
        try:
            result.due_at = _due(evaluate("due_date"), ctx.now())
        except ValueError as err:
            result.problems.append(f"due_date {meta['due_date']!r}: {err}")
    return result
