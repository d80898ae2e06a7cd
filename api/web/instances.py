"""Process instances: the list the user may see, and one instance with its open tasks and audit trail."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request

from api.authz import check_instance, instance_scope, may_read_audit, require_user, visible_tasks
from api.context import engine_context, read_sessions
from engine.services.audit import events_for_instance
from engine.services.instances import get_instance
from engine.services.views import definition_of, instances_page, open_tasks_of, task_views

bp = Blueprint("instances", __name__)
PAGE = 50


@bp.get("/instances")
def index() -> Any:
    p = require_user()
    page = max(1, request.args.get("page", 1, type=int) or 1)
    with read_sessions()() as db:
        rows = instances_page(db, unit_ids=instance_scope(p), limit=PAGE + 1, offset=(page - 1) * PAGE)
        found = [(r, definition_of(db, r)) for r in rows[:PAGE]]
    return render_template("instances.html", user=p, instances=found, page=page, more=len(rows) > PAGE)


@bp.get("/instances/<int:instance_id>")
def show(instance_id: int) -> Any:
    p = require_user()
    ctx = engine_context()
    with read_sessions()() as db:
        row = get_instance(db, instance_id)
        check_instance(db, p, row)
        definition = definition_of(db, row)
        open_tasks = task_views(db, ctx, visible_tasks(p, open_tasks_of(db, row.id)))
        audit = events_for_instance(db, row.id) if may_read_audit(p, row) else None
    return render_template(
        "instance.html", user=p, instance=row, definition=definition, open_tasks=open_tasks, audit=audit
    )
