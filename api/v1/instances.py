"""Process instances: the list and one instance (scoped by unit), its audit trail, and starting one."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from api.authz import check_audit, check_instance, check_start, instance_scope, require_user, visible_tasks
from api.context import engine_context, read_sessions, sessions
from api.v1.serialize import body, event_json, instance_json, page_args, task_json
from engine.errors import ValidationError
from engine.services.audit import events_for_instance
from engine.services.instances import get_instance, start_instance
from engine.services.views import (
    called_instances,
    definition_of,
    incidents_below,
    instances_page,
    open_tasks_of,
    task_views,
)

bp = Blueprint("instances", __name__)


@bp.get("/instances")
def index() -> Any:
    p = require_user()
    limit, offset = page_args()
    with read_sessions()() as db:
        rows = instances_page(
            db, unit_ids=instance_scope(p), status=request.args.get("status"), limit=limit, offset=offset
        )
        found = [instance_json(r, *definition_of(db, r)[1:]) for r in rows]
    return jsonify(instances=found, limit=limit, offset=offset)


def _detail(instance_id: int) -> dict[str, Any]:
    p = require_user()
    ctx = engine_context()
    with read_sessions()() as db:
        row = get_instance(db, instance_id)
        check_instance(db, p, row)
        answer = instance_json(row, *definition_of(db, row)[1:])
        answer["open_tasks"] = [task_json(v) for v in task_views(db, ctx, visible_tasks(p, open_tasks_of(db, row.id)))]
        scope = instance_scope(p)
        answer["children"] = [instance_json(c) for c in called_instances(db, row.id, scope)]
        answer["incidents_below"] = [
            {"id": c.id, "definition": c.definition_key, "unit": c.unit_id, "incident": c.incident}
            for c in incidents_below(db, row.id)
            if scope is None or c.unit_id in scope
        ]
    return answer


@bp.get("/instances/<int:instance_id>")
def show(instance_id: int) -> Any:
    return jsonify(_detail(instance_id))


@bp.get("/instances/<int:instance_id>/audit")
def audit(instance_id: int) -> Any:
    p = require_user()
    with read_sessions()() as db:
        row = get_instance(db, instance_id)
        check_audit(p, row)
        events = [event_json(e) for e in events_for_instance(db, row.id)]
    return jsonify(instance=instance_id, events=events)


@bp.post("/instances")
def start() -> Any:
    p = require_user()
    check_start(p)
    data = body()
    fields: dict[str, str] = {}
    if not isinstance(data.get("process"), str) or not data["process"]:
        fields["process"] = "required"
    for name in ("business_key", "unit"):
        if data.get(name) is not None and not isinstance(data[name], str):
            fields[name] = "must be a string"
    if data.get("data") is not None and not isinstance(data["data"], dict):
        fields["data"] = "must be an object"
    if fields:
        raise ValidationError("cannot start the process", {"fields": fields})
    with sessions()() as db, db.begin():
        row = start_instance(
            db,
            engine_context(),
            key=data["process"],
            business_key=data.get("business_key"),
            unit_id=data.get("unit"),
            data=data.get("data") or {},
            actor=p.user_id,
        )
        instance_id = row.id
    return jsonify(_detail(instance_id)), 201
