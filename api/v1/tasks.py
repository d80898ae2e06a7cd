"""Tasks: the inbox, one task with its form, and claim / unclaim / complete / reassign.

Each change is one transaction owned by the request; the services check entitlement again inside it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from api.authz import require_user, visible_task
from api.context import engine_context, read_sessions, sessions
from api.v1.serialize import body, page_args, task_json
from engine.errors import ValidationError
from engine.services import tasks
from engine.services.tasks import RESERVED_FORM_KEYS
from engine.services.views import task_views

bp = Blueprint("tasks", __name__)


@bp.get("/tasks")
def inbox() -> Any:
    p = require_user()
    limit, offset = page_args()
    ctx = engine_context()
    with read_sessions()() as db:
        rows = tasks.inbox(db, ctx, p.user_id, limit=limit, offset=offset)
        views = task_views(db, ctx, rows)
    return jsonify(tasks=[task_json(v) for v in views], limit=limit, offset=offset)


@bp.get("/tasks/<int:task_id>")
def show(task_id: int) -> Any:
    view, schema, data = visible_task(require_user(), task_id)
    answer = task_json(view)
    answer["form"] = schema
    answer["data"] = data
    answer["form_reserved"] = view.task.form_key in RESERVED_FORM_KEYS
    return jsonify(answer)


def _answer(task_id: int) -> Any:
    ctx = engine_context()
    with read_sessions()() as db:
        return jsonify(task_json(task_views(db, ctx, [tasks.get_task(db, task_id)])[0]))


@bp.post("/tasks/<int:task_id>/claim")
def claim(task_id: int) -> Any:
    p = require_user()
    with sessions()() as db, db.begin():
        tasks.claim(db, engine_context(), task_id, p.user_id)
    return _answer(task_id)


@bp.post("/tasks/<int:task_id>/unclaim")
def unclaim(task_id: int) -> Any:
    p = require_user()
    with sessions()() as db, db.begin():
        tasks.unclaim(db, engine_context(), task_id, p.user_id)
    return _answer(task_id)


@bp.post("/tasks/<int:task_id>/complete")
def complete(task_id: int) -> Any:
    p = require_user()
    data = body().get("data", {})
    if not isinstance(data, dict):
        raise ValidationError("data must be a JSON object", {"fields": {"data": "must be an object"}})
    with sessions()() as db, db.begin():
        tasks.complete(db, engine_context(), task_id, p.user_id, data)
    return _answer(task_id)


@bp.post("/tasks/<int:task_id>/reassign")
def reassign(task_id: int) -> Any:
    p = require_user()
    to_user = body().get("user")
    if not isinstance(to_user, str) or not to_user:
        raise ValidationError("give the user to hand the task to", {"fields": {"user": "required"}})
    with sessions()() as db, db.begin():
        tasks.reassign(db, engine_context(), task_id, to_user, p.user_id)
    return _answer(task_id)
