"""The inbox and a task's page: claim, release, fill the form and complete."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.authz import readable_task, require_user, visible_task
from api.context import engine_context, read_sessions, sessions
from api.i18n import t
from api.web.dashboard import render_read_only
from api.web.forms import (
    attach_errors,
    build_fields,
    parse_fields,
    payload_json,
    posted_json,
    problem_messages,
    rjsf_payload,
)
from engine.core.runtime import find_task
from engine.errors import ConflictError, PayloadTooLargeError, ValidationError
from engine.persistence.models import HumanTask, Instance, OrgUnit
from engine.services import attachments, national_submission, tasks
from engine.services.council_pages import award_names
from engine.services.definitions import load_definition
from engine.services.instance_store import load_instance
from engine.services.notifications import complete_and_notify
from engine.services.task_context import task_context
from engine.services.tasks import RESERVED_FORM_KEYS
from engine.services.views import TaskView, task_views

bp = Blueprint("tasks", __name__)
PAGE = 50
# Steps that act on a round's whole list of candidates (publish it, answer the comments on it): the page shows it.
LIST_STEPS = frozenset({"nom_disclosure_publish", "nom_disclosure_comments"})
# Steps on one candidate's dossier: the page names the candidate and the award.
DOSSIER_STEPS = frozenset(
    {"dossier_prepare", "dossier_sign", "dossier_appraise", "dossier_supplement", "dossier_rejection_notice"}
)


@bp.get("/")
def inbox() -> Any:
    p = require_user()
    page = max(1, request.args.get("page", 1, type=int) or 1)
    ctx = engine_context()
    with read_sessions()() as db:
        rows = tasks.inbox(db, ctx, p.user_id, limit=PAGE + 1, offset=(page - 1) * PAGE)
        views = task_views(db, ctx, rows[:PAGE])
    return render_template("inbox.html", user=p, tasks=views, page=page, more=len(rows) > PAGE)


def _render(
    view: TaskView,
    schema: dict[str, Any] | None,
    fields: list[Any],
    general: list[str],
    status: int,
    *,
    data: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
) -> Any:
    """The task page; ``data`` and ``errors`` (by field path) are for the browser form (api/web/forms.py)."""
    p = require_user()
    row: HumanTask = view.task
    with read_sessions()() as db:
        context = task_context(db, engine_context(), row)
        instance = db.get(Instance, row.instance_id)
        meta = load_definition(db, instance.definition_id).task_meta.get(row.element_id) if instance else None
        listed, candidate = _subject(db, row)
    form_payload = rjsf_payload(
        schema,
        (meta or {}).get("ui_schema"),
        data,
        errors,
        upload_url=_url_or_none("api_v1_attachments.upload", task_id=row.id),
        download_url=_url_or_none("api_v1_attachments.download", attachment_id=0),
    )
    return (
        render_template(
            "task.html",
            user=p,
            view=view,
            task=row,
            schema=schema,
            fields=fields,
            general_errors=general,
            reserved=row.form_key in RESERVED_FORM_KEYS,
            mine=row.assignee == p.user_id,
            context=context,
            listed=listed,
            candidate=candidate,
            form_payload=payload_json(form_payload),
        ),
        status,
    )


def _subject(db: Session, row: HumanTask) -> tuple[list[dict[str, str]], dict[str, str] | None]:
    """What an open step acts on, from its data, as people read it: the round's candidates (name, unit, award) for
    a list step, the candidate (name, award) for a dossier step."""
    if row.form_key not in LIST_STEPS | DOSSIER_STEPS or row.status not in ("open", "claimed"):
        return [], None
    spiff = find_task(load_instance(db, engine_context(), row.instance_id).workflow, row.task_guid)
    data = spiff.data if spiff is not None else {}
    awards = award_names()
    if row.form_key in DOSSIER_STEPS:
        one = data.get("candidate")
        if not isinstance(one, dict):
            return [], None
        award = str(one.get("award") or "")
        return [], {"name": str(one.get("name") or ""), "award": awards.get(award, award)}
    raw = data.get("candidates")
    people = [c for c in raw if isinstance(c, dict)] if isinstance(raw, list) else []
    ids = {str(c.get("unit_id") or "") for c in people}
    units: dict[str, str] = {
        uid: name for uid, name in db.execute(select(OrgUnit.id, OrgUnit.name).where(OrgUnit.id.in_(ids)))
    }
    listed = [
        {
            "name": str(c.get("name") or ""),
            "unit": units.get(str(c.get("unit_id") or ""), str(c.get("unit_id") or "")),
            "award": awards.get(str(c.get("award") or ""), str(c.get("award") or "")),
        }
        for c in people
    ]
    return listed, None


def _url_or_none(endpoint: str, **values: Any) -> str | None:
    return url_for(endpoint, **values) if endpoint in current_app.view_functions else None


@bp.get("/tasks/<int:task_id>")
def show(task_id: int) -> Any:
    view, schema, data, read_only = readable_task(require_user(), task_id)
    if read_only:  # Sở Nội vụ, auditors, administrators: another unit's task, to read and chase (web/dashboard.py)
        return render_read_only(view, data, schema)
    if view.task.form_key in RESERVED_FORM_KEYS:  # the Council's steps have their own pages
        return redirect(url_for("web.council.show", task_id=task_id))
    if view.task.element_id == "nprop_submit":  # the receipt of a dossier sent, its number and date filled in
        with read_sessions()() as db:
            data = national_submission.prefill(db, view.task, data)
    return _render(view, schema, build_fields(schema, data), [], 200, data=data)


@bp.post("/tasks/<int:task_id>")
def submit(task_id: int) -> Any:
    p = require_user()
    view, schema, _ = visible_task(p, task_id, with_data=False)
    from_browser, problems = posted_json(request.form)  # the browser form posts its data as JSON
    if from_browser is not None:
        data = from_browser
        fields = build_fields(schema, data)
    else:
        fields = build_fields(schema, posted=request.form)
        data, problems = parse_fields(fields, request.form)
    if not problems:
        try:
            with sessions()() as db, db.begin():
                if attachments.has_references(data):
                    attachments.check_references(db, tasks.get_task(db, task_id), p.user_id, data)
                complete_and_notify(db, engine_context(), task_id, p.user_id, data)
        except ValidationError as err:
            problems = problem_messages(schema, err.details) or {"(form)": err.message}
        except PayloadTooLargeError as err:  # the form is shown again as typed, with the limit above it
            flash(t("form_too_large", limit=err.details.get("limit_bytes", "?")), "error")
            return _render(view, schema, fields, [], 413, data=data)
        except ConflictError as err:
            flash(err.message, "error")
            return redirect(url_for("web.tasks.inbox"))
    if problems:
        flash(t("form_has_errors"), "error")
        return _render(view, schema, fields, attach_errors(fields, problems), 422, data=data, errors=problems)
    flash(t("completed", name=view.task.name or view.task.element_id), "success")
    return redirect(url_for("web.tasks.inbox"))


@bp.post("/tasks/<int:task_id>/claim")
def claim(task_id: int) -> Any:
    p = require_user()
    try:
        with sessions()() as db, db.begin():
            tasks.claim(db, engine_context(), task_id, p.user_id)
        flash(t("claimed"), "success")
    except ConflictError as err:
        flash(err.message, "error")
    return redirect(url_for("web.tasks.show", task_id=task_id))


@bp.post("/tasks/<int:task_id>/unclaim")
def unclaim(task_id: int) -> Any:
    p = require_user()
    try:
        with sessions()() as db, db.begin():
            tasks.unclaim(db, engine_context(), task_id, p.user_id)
        flash(t("unclaimed"), "success")
    except ConflictError as err:
        flash(err.message, "error")
    return redirect(url_for("web.tasks.inbox"))
