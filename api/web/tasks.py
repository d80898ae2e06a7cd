"""The inbox and a task's page: claim, release, fill the form and complete."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from api.authz import require_user, visible_task
from api.context import engine_context, read_sessions, sessions
from api.i18n import t
from api.web.forms import attach_errors, build_fields, parse_fields
from engine.errors import ConflictError, PayloadTooLargeError, ValidationError
from engine.persistence.models import HumanTask
from engine.services import tasks
from engine.services.task_context import task_context
from engine.services.tasks import RESERVED_FORM_KEYS
from engine.services.views import TaskView, task_views

bp = Blueprint("tasks", __name__)
PAGE = 50


@bp.get("/")
def inbox() -> Any:
    p = require_user()
    page = max(1, request.args.get("page", 1, type=int) or 1)
    ctx = engine_context()
    with read_sessions()() as db:
        rows = tasks.inbox(db, ctx, p.user_id, limit=PAGE + 1, offset=(page - 1) * PAGE)
        views = task_views(db, ctx, rows[:PAGE])
    return render_template("inbox.html", user=p, tasks=views, page=page, more=len(rows) > PAGE)


def _render(view: TaskView, schema: dict[str, Any] | None, fields: list[Any], general: list[str], status: int) -> Any:
    p = require_user()
    row: HumanTask = view.task
    with read_sessions()() as db:
        context = task_context(db, engine_context(), row)
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
        ),
        status,
    )


@bp.get("/tasks/<int:task_id>")
def show(task_id: int) -> Any:
    view, schema, data = visible_task(require_user(), task_id)
    if view.task.form_key in RESERVED_FORM_KEYS:  # the Council's steps have their own pages
        return redirect(url_for("web.council.show", task_id=task_id))
    return _render(view, schema, build_fields(schema, data), [], 200)


@bp.post("/tasks/<int:task_id>")
def submit(task_id: int) -> Any:
    p = require_user()
    view, schema, _ = visible_task(p, task_id, with_data=False)
    fields = build_fields(schema, posted=request.form)
    data, problems = parse_fields(fields, request.form)
    if not problems:
        try:
            with sessions()() as db, db.begin():
                tasks.complete(db, engine_context(), task_id, p.user_id, data)
        except ValidationError as err:
            problems = dict(err.details.get("fields") or {"(form)": err.message})
        except PayloadTooLargeError as err:  # the form is shown again as typed, with the limit above it
            flash(t("form_too_large", limit=err.details.get("limit_bytes", "?")), "error")
            return _render(view, schema, fields, [], 413)
        except ConflictError as err:
            flash(err.message, "error")
            return redirect(url_for("web.tasks.inbox"))
    if problems:
        flash(t("form_has_errors"), "error")
        return _render(view, schema, fields, attach_errors(fields, problems), 422)
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
