"""Process instances: the list the user may see, and one instance with its open tasks and audit trail."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request

from api.authz import check_instance, instance_scope, may_read_audit, require_user, visible_tasks
from api.context import engine_context, read_sessions
from engine.services.audit import events_for_instance
from engine.services.instances import get_instance
from engine.services.views import (
    called_instances,
    definition_of,
    in_units,
    incidents_below,
    instances_page,
    open_tasks_of,
    task_views,
)

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
        scope = instance_scope(p)
        children = [(c, definition_of(db, c)) for c in called_instances(db, row.id, scope)]
        stuck = [c for c in incidents_below(db, row.id) if scope is None or c.unit_id in scope]
        parent = get_instance(db, row.parent_id) if row.parent_id is not None else None
        if parent is not None and scope is not None and not in_units(db, parent.id, scope):
            parent = None  # shown only to those who may open it
    return render_template(
        "instance.html",
        user=p,
        instance=row,
        definition=definition,
        open_tasks=open_tasks,
        audit=audit,
        children=children,
        stuck=stuck,
        parent=parent,
    )
