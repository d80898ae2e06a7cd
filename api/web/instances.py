"""Process instances: the search (filters, paged, scoped to what the user may see), one instance with its
diagram, open tasks, children and — for those who may read it — the audit timeline in words and the chain's
status, and a printable timeline."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from api.authz import (
    Principal,
    check_audit,
    check_instance,
    current_user,
    instance_scope,
    may_read_audit,
    require_user,
    visible_tasks,
)
from api.context import engine_context, read_sessions
from api.i18n import t
from api.v1 import national_dossier as dossier_api
from engine.errors import ConflictError, ValidationError
from engine.persistence.models import HumanTask, InstanceDocument
from engine.services import national_submission
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
        national = row.definition_key == "national_proposal" and dossier_api.may_read(p, row)
        documents = db.execute(
            select(InstanceDocument.id, InstanceDocument.kind, InstanceDocument.filename, InstanceDocument.created_at)
            .where(InstanceDocument.instance_id == row.id)
            .order_by(InstanceDocument.id)
        ).all()
    return render_template(
        "instance.html",
        documents=documents,
        national_dossier=national,
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


@bp.get("/instances/<int:instance_id>/national-dossier")
def national_dossier(instance_id: int) -> Any:
    """The electronic dossier of a national proposal as a ZIP (Sở Nội vụ, the Chairman's office, administrators,
    auditors), built now from the instance's records; the download is audited with its sha256."""
    return dossier_api.package_answer(require_user(), instance_id, via="web")


@bp.post("/instances/<int:instance_id>/national-dossier/send")
def send_national_dossier(instance_id: int) -> Any:
    """The submission page's "Gửi hồ sơ điện tử": queue the package for the Ministry's system."""
    p = require_user()
    back = request.form.get("task_id", type=int)
    target = url_for("web.tasks.show", task_id=back) if back else url_for("web.instances.show", instance_id=instance_id)
    try:
        row = dossier_api.queue_for(
            p, instance_id, request.form.get("submission_number", ""), request.form.get("submitted_date", "")
        )
    except ValidationError as err:
        fields = ", ".join((err.details or {}).get("fields") or {}) or err.message
        flash(t("national_dossier_invalid", fields=fields), "error")
    except national_submission.NotConfigured:
        flash(t("national_dossier_not_configured"), "error")
    except ConflictError as err:
        reason = (err.details or {}).get("reason")
        words = {"no_task": "national_dossier_no_task", "queued": "national_dossier_already_queued"}
        if reason == "sent":
            flash(t("national_dossier_already_sent", receipt=err.details.get("receipt") or ""), "error")
        else:
            flash(t(words[reason]) if reason in words else err.message, "error")
    else:
        flash(t("national_dossier_queued", sha=row.package_sha256[:12]), "success")
    return redirect(target)


def national_panel(db: Any, p: Principal, task: HumanTask) -> dict[str, Any] | None:
    """What the ``nprop_submit`` page shows of the electronic dossier: the download, the sendings and their
    receipt, and whether it can be sent from here (configured, and ``p`` may) or goes to the Ministry by hand."""
    if task.element_id != "nprop_submit":
        return None
    instance = get_instance(db, task.instance_id)
    if not dossier_api.may_read(p, instance):
        return None
    rows = national_submission.submissions_of(db, instance.id)
    sent = next((r for r in reversed(rows) if r.status == "sent"), None)
    active = next((r for r in rows if r.status in ("queued", "sending")), None)
    return {
        "instance_id": instance.id,
        "configured": national_submission.SubmissionSettings.from_env() is not None,
        "may_send": dossier_api.may_send(p, instance) and task.status in ("open", "claimed"),
        "submissions": rows,
        "sent": sent,
        "active": active,
    }


@bp.app_context_processor
def _national_dossier() -> dict[str, Any]:
    """``national_dossier_panel(task)`` for the submission step's pages (its own and Sở Nội vụ's read-only one)."""

    def panel(task: HumanTask) -> dict[str, Any] | None:
        p = current_user()
        if p is None or task.element_id != "nprop_submit":
            return None
        with read_sessions()() as db:
            return national_panel(db, p, task)

    return {"national_dossier_panel": panel}
