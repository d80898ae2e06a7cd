"""Process instances: the search (filters, paged, scoped to what the user may see), one instance with its
diagram, open tasks, children and — for those who may read it — the audit timeline in words and the chain's
status, and a printable timeline."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, render_template, request
from sqlalchemy import select

from api.authz import (
    Principal,
    check_audit,
    check_instance,
    instance_scope,
    may_read_audit,
    require_user,
    visible_tasks,
)
from api.context import engine_context, read_sessions
from engine.errors import ValidationError
from engine.persistence.models import InstanceDocument
from engine.services.audit_views import (
    STATUSES,
    SearchFilters,
    diagram,
    filters_from,
    instance_chain,
    instance_rows,
    role_names,
    search_choices,
    search_instances,
    timeline,
    unit_names,
    user_names,
)
from engine.services.instances import get_instance
from engine.services.views import (
    called_instances,
    definition_of,
    in_units,
    incidents_below,
    open_tasks_of,
    task_views,
)

bp = Blueprint("instances", __name__)
PAGE = 50


def _searches_actors(p: Principal) -> bool:
    """Who acted where is the audit trail's business: the actor filter is for administrators and auditors."""
    return p.is_admin or p.is_auditor


@bp.get("/instances")
def index() -> Any:
    p = require_user()
    page = max(1, min(request.args.get("page", 1, type=int) or 1, 100_000))
    args = {k: v.strip() for k, v in request.args.items() if k not in ("page", "lang") and v.strip()}
    if not _searches_actors(p):
        args.pop("actor", None)
    error, status = None, 200
    try:
        filters = filters_from(args)
    except ValidationError as err:
        error, status, filters = err, 400, SearchFilters()
    with read_sessions()() as db:
        found = search_instances(db, filters, instance_scope(p), limit=PAGE, offset=(page - 1) * PAGE)
        processes, units = search_choices(db)
    return render_template(
        "instances.html",
        user=p,
        rows=found.rows,
        page=page,
        more=found.more,
        args=args,
        error=error,
        processes=processes,
        units=units,
        statuses=STATUSES,
        searches_actors=_searches_actors(p),
        exports=p.is_admin or p.is_auditor,
    ), status


@bp.get("/instances/<int:instance_id>")
def show(instance_id: int) -> Any:
    p = require_user()
    ctx = engine_context()
    with read_sessions()() as db:
        row = get_instance(db, instance_id)
        check_instance(db, p, row)
        definition = definition_of(db, row)
        open_tasks = task_views(db, ctx, visible_tasks(p, open_tasks_of(db, row.id)))
        readable = may_read_audit(p, row)
        entries = timeline(db, row) if readable else None
        chain = instance_chain(db, row.id) if readable else None
        picture = diagram(db, ctx, row)
        scope = instance_scope(p)
        children = instance_rows(db, called_instances(db, row.id, scope))  # names read once for all of them
        stuck = [c for c in incidents_below(db, row.id) if scope is None or c.unit_id in scope]
        parent = get_instance(db, row.parent_id) if row.parent_id is not None else None
        if parent is not None and scope is not None and not in_units(db, parent.id, scope):
            parent = None  # shown only to those who may open it
        root = None
        if row.root_id is not None and row.root_id not in (row.id, row.parent_id):
            root = get_instance(db, row.root_id)
            if scope is not None and not in_units(db, root.id, scope):
                root = None
        unit_name = _unit_name(db, row.unit_id)
        people = user_names(db, {row.started_by or ""} | {v.task.assignee for v in open_tasks if v.task.assignee})
        roles = role_names(db, {v.task.role_id for v in open_tasks if v.task.role_id})
        documents = db.execute(
            select(InstanceDocument.id, InstanceDocument.kind, InstanceDocument.filename, InstanceDocument.created_at)
            .where(InstanceDocument.instance_id == row.id)
            .order_by(InstanceDocument.id)
        ).all()
    return render_template(
        "instance.html",
        documents=documents,
        people=people,
        roles=roles,
        user=p,
        instance=row,
        definition=definition,
        unit_name=unit_name,
        open_tasks=open_tasks,
        audit=entries,
        chain=chain,
        diagram=picture,
        children=children,
        stuck=stuck,
        parent=parent,
        root=root,
    )


@bp.get("/instances/<int:instance_id>/print")
def printable(instance_id: int) -> Any:
    """The timeline on its own page, laid out for paper (the print stylesheet hides the navigation)."""
    p = require_user()
    with read_sessions()() as db:
        row = get_instance(db, instance_id)
        check_instance(db, p, row)
        check_audit(p, row)
        definition = definition_of(db, row)
        entries = timeline(db, row)
        chain = instance_chain(db, row.id)
        unit_name = _unit_name(db, row.unit_id)
    return render_template(
        "audit_print.html",
        user=p,
        instance=row,
        definition=definition,
        unit_name=unit_name,
        audit=entries,
        chain=chain,
        printed_by=p.full_name,
        now=engine_context().now(),
    )


def _unit_name(db: Any, unit_id: str | None) -> str:
    return unit_names(db, {unit_id}).get(unit_id, unit_id) if unit_id else ""


@bp.get("/instances/<int:instance_id>/documents/<int:document_id>")
def document(instance_id: int, document_id: int) -> Any:
    """A document the engine made for an instance (the Council's minutes, a certificate), for whoever may open it."""
    p = require_user()
    with read_sessions()() as db:
        check_instance(db, p, get_instance(db, instance_id))
        doc = db.get(InstanceDocument, document_id)
        if doc is None or doc.instance_id != instance_id:
            abort(404)
        body, name, media_type = doc.content, doc.filename, doc.media_type
    answer = Response(body, mimetype=media_type)
    answer.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return answer
