"""Engine rows as the API's JSON, and reading a request's JSON body."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import request

from engine.errors import ValidationError
from engine.persistence.models import AuditEvent, HumanTask, Instance
from engine.services.views import TaskView


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def body() -> dict[str, Any]:
    """The request's JSON object (a ValidationError naming the problem when it is not one)."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValidationError("the request body must be a JSON object", {"fields": {"(body)": "must be an object"}})
    return data


def page_args(default: int = 50) -> tuple[int, int]:
    """``limit`` (1..500) and ``offset`` (0..) from the query string."""
    fields: dict[str, str] = {}
    values = []
    for name, fallback, low, high in (("limit", default, 1, 500), ("offset", 0, 0, 10**9)):
        raw = request.args.get(name)
        try:
            value = fallback if raw is None else int(raw)
        except ValueError:
            fields[name] = "must be an integer"
            value = fallback
        if not low <= value <= high:
            fields[name] = f"must be between {low} and {high}"
        values.append(value)
    if fields:
        raise ValidationError("bad paging parameters", {"fields": fields})
    return values[0], values[1]


def task_json(view: TaskView) -> dict[str, Any]:
    row: HumanTask = view.task
    return {
        "id": row.id,
        "name": row.name or row.element_id,
        "element_id": row.element_id,
        "form_key": row.form_key,
        "status": row.status,
        "assignee": row.assignee,
        "role": row.role_id,
        "unit": {"id": row.unit_id, "name": view.unit_name},
        "process": {"key": row.definition_key, "name": view.process_name},
        "instance": {"id": row.instance_id, "business_key": view.business_key, "unit": view.instance_unit_id},
        "due_at": iso(row.due_at),
        "overdue": view.overdue,
        "escalation_level": row.escalation_level,
        "created_at": iso(row.created_at),
        "completed_at": iso(row.completed_at),
        "completed_by": row.completed_by,
    }


def instance_json(row: Instance, version: int | None = None, name: str | None = None) -> dict[str, Any]:
    return {
        "id": row.id,
        "status": row.status,
        "definition": {"key": row.definition_key, "version": version, "name": name},
        "business_key": row.business_key,
        "unit": row.unit_id,
        "started_at": iso(row.started_at),
        "started_by": row.started_by,
        "ended_at": iso(row.ended_at),
        "incident": row.incident,
        "parent": row.parent_id,
        "root": row.root_id,
        "call": {"element": row.call_element, "index": row.call_index} if row.parent_id is not None else None,
    }


def event_json(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "seq": event.seq,
        "at": iso(event.at),
        "actor": event.actor,
        "action": event.action,
        "element_id": event.element_id,
        "task_guid": event.task_guid,
        "data": event.data,
    }
