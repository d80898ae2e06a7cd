"""Sở Nội vụ's pages: the campaign dashboard, every unit's task read-only with "Đôn đốc" (urge) and reassign,
comments on an item, and starting a campaign or a sudden nomination from a form.

Who sees what: the dashboard follows the overdue report (``report_scope``: Sở Nội vụ and administrators every
unit, a head their own); the read-only task page those who see every unit (``may_oversee``); urging and
reassigning Sở Nội vụ and administrators (``may_urge``); the start forms who may start processes; a comment
whoever sees the task's page.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from api.authz import (
    check_start,
    may_oversee,
    may_see_reports,
    may_urge,
    readable_task,
    report_scope,
    require_user,
)
from api.context import engine_context, read_sessions, sessions
from api.i18n import t
from engine.errors import ConflictError, PermissionDeniedError, ValidationError
from engine.persistence.models import OrgUnit, User
from engine.services import comments, start_forms, urge
from engine.services.dashboard import PIPELINE, campaign_dashboard, campaigns
from engine.services.task_context import task_context
from engine.services.tasks import get_task
from engine.services.views import TaskView

bp = Blueprint("dashboard", __name__)


def _reports_user() -> Any:
    p = require_user()
    if not may_see_reports(p):
        raise PermissionDeniedError("the dashboard is for Sở Nội vụ and heads of unit")
    return p


@bp.get("/dashboard")
def index() -> Any:
    p = _reports_user()
    with read_sessions()() as db:
        roots = campaigns(db)
        for row in roots:
            db.expunge(row)
    if len(roots) == 1:
        return redirect(url_for("web.dashboard.show", root_id=roots[0].id))
    return render_template("dashboard_index.html", user=p, roots=roots, may_start=_may_start(p))


@bp.get("/dashboard/<int:root_id>")
def show(root_id: int) -> Any:
    p = _reports_user()
    scope = report_scope(p)
    kind = request.args.get("kind") or None
    block = request.args.get("block") or None
    status = request.args.get("status") or None
    if status is not None and status not in PIPELINE:
        status = None
    ctx = engine_context()
    with read_sessions()() as db:
        board = campaign_dashboard(db, ctx, root_id, unit_ids=scope, kind=kind, block=block)
        db.expunge(board.root)
    items = [i for i in board.items if status is None or i.status == status]
    return render_template(
        "dashboard.html",
        user=p,
        board=board,
        pipeline=PIPELINE,
        items=items,
        status=status,
        kind=kind,
        block=block,
        now=ctx.now(),
        may_start=_may_start(p),
        may_urge=may_urge(p),
        overdue=sum(r.overdue for r in board.rows),
        openable=None if may_oversee(p) else p.units("unit_head"),  # a head opens their own units' tasks only
    )


@bp.post("/dashboard/<int:root_id>/urge-overdue")
def urge_overdue(root_id: int) -> Any:
    """Urge every overdue task of the campaign shown (of the rows the filters keep), each once per working day."""
    p = require_user()
    if not may_urge(p):
        raise PermissionDeniedError("only Sở Nội vụ and administrators urge the units' work")
    kind = request.form.get("kind") or None
    block = request.form.get("block") or None
    ctx = engine_context()
    with sessions()() as db, db.begin():
        board = campaign_dashboard(db, ctx, root_id, kind=kind, block=block)
        units = {r.unit_id for r in board.rows}
        urged, skipped = urge.urge_overdue(db, ctx, root_id, p.user_id, units)
    flash(t("urged_overdue", count=urged, skipped=skipped), "success")
    return redirect(url_for("web.dashboard.show", root_id=root_id, kind=kind, block=block))


# --- a task read-only, urge and reassign --------------------------------------------------------------------


def render_read_only(view: TaskView, data: dict[str, Any], schema: dict[str, Any] | None) -> Any:
    """The task page for someone who oversees it but may not work on it: context, comments, urge, reassign."""
    p = require_user()
    row = view.task
    ctx = engine_context()
    with read_sessions()() as db:
        context = task_context(db, ctx, row)
        again = urge.may_urge_again(db, ctx, row) if row.status in urge.OPEN else None
        urges = urge.urges_of(db, row)
        candidates = urge.reassign_candidates(db, ctx, row) if urge.may_reassign_escalated(row) else []
        names = dict(db.execute(_names_query(candidates)).all()) if candidates else {}
    props = (schema or {}).get("properties") or {}
    current = [(str((props.get(k) or {}).get("title") or k), v) for k, v in data.items() if v not in (None, "", [], {})]
    return render_template(
        "dashboard_task.html",
        user=p,
        view=view,
        task=row,
        context=context,
        current=current,
        may_urge=may_urge(p) and row.status in urge.OPEN,
        urge_again=again,
        urges=urges,
        candidates=[(c, names.get(c, c)) for c in candidates] if may_urge(p) else [],
    )


def _names_query(ids: list[str]) -> Any:
    return select(User.id, User.full_name).where(User.id.in_(ids))


@bp.post("/tasks/<int:task_id>/urge")
def urge_task(task_id: int) -> Any:
    p = require_user()
    if not may_urge(p):
        raise PermissionDeniedError("only Sở Nội vụ and administrators urge a unit's work")
    try:
        with sessions()() as db, db.begin():
            told = urge.urge_task(db, engine_context(), task_id, p.user_id, request.form.get("note"))
        flash(t("urge_sent", count=len(told)), "success")
    except ConflictError as err:
        again = err.details.get("next_urge_on")
        flash(t("urge_once_a_day", day=_dmy(again)) if again else err.message, "error")
    except ValidationError:
        flash(t("urge_note_too_long", limit=urge.MAX_NOTE), "error")
    return redirect(url_for("web.tasks.show", task_id=task_id))


@bp.post("/tasks/<int:task_id>/reassign-escalated")
def reassign(task_id: int) -> Any:
    p = require_user()
    if not may_urge(p):
        raise PermissionDeniedError("only Sở Nội vụ and administrators reassign a unit's escalated work")
    try:
        with sessions()() as db, db.begin():
            row = urge.reassign_escalated(db, engine_context(), task_id, request.form.get("user", ""), p.user_id)
            assignee = row.assignee
        flash(t("reassigned_to", user=assignee), "success")
    except (ConflictError, ValidationError, PermissionDeniedError) as err:
        flash(t("reassign_refused", reason=err.message), "error")
    return redirect(url_for("web.tasks.show", task_id=task_id))


@bp.post("/tasks/<int:task_id>/comments")
def comment(task_id: int) -> Any:
    p = require_user()
    readable_task(p, task_id, with_data=False)  # whoever sees the task's page (or oversees it) comments on its item
    try:
        with sessions()() as db, db.begin():
            row = get_task(db, task_id)
            comments.add_comment(db, engine_context(), row.instance_id, p.user_id, request.form.get("body"), task=row)
        flash(t("comment_added"), "success")
    except ValidationError as err:
        field = (err.details.get("fields") or {}).get("body", "")
        flash(t("comment_too_long", limit=comments.MAX_CHARS) if "at most" in field else t("comment_empty"), "error")
    return redirect(url_for("web.tasks.show", task_id=task_id) + "#comments")


def _dmy(iso: str | None) -> str:
    return date.fromisoformat(iso).strftime("%d/%m/%Y") if iso else ""


# --- starting a campaign or a sudden nomination -------------------------------------------------------------


def _may_start(p: Any) -> bool:
    try:
        check_start(p)
    except PermissionDeniedError:
        return False
    return True


def _errors(err: ValidationError) -> dict[str, str]:
    return {k: t("start_err_" + str(v)) for k, v in (err.details.get("fields") or {}).items()}


@bp.route("/start/campaign", methods=["GET", "POST"])
def start_campaign() -> Any:
    p = require_user()
    check_start(p)
    ctx = engine_context()
    sets = start_forms.rule_sets()
    today = ctx.now().date()
    values = {
        "campaign_year": str(today.year),
        "directive_date": today.isoformat(),
        "business_key": "",
        "directive": "",
    }
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {k: request.form.get(k, "") for k in start_forms.CAMPAIGN_FIELDS}
        try:
            with sessions()() as db, db.begin():
                row = start_forms.start_campaign(db, ctx, values, p.user_id, sets)
                root_id = row.id
            flash(t("campaign_started", code=values["business_key"]), "success")
            return redirect(url_for("web.dashboard.show", root_id=root_id))
        except ValidationError as err:
            errors = _errors(err)
            flash(t("form_has_errors"), "error")
    with read_sessions()() as db:
        found = start_forms.setting(db, engine_context())
        names = dict(db.execute(_unit_names(found.units)).all())
        steps = start_forms.step_names(db)
    try:
        on = date.fromisoformat(values.get("directive_date") or "")
    except ValueError:
        on = today
    preview = start_forms.deadlines_preview(sets, on)
    return (
        render_template(
            "start_campaign.html",
            user=p,
            values=values,
            errors=errors,
            setting=found,
            unit_names=names,
            step_names=steps,
            preview=preview,
        ),
        422 if errors else 200,
    )


@bp.route("/start/sudden", methods=["GET", "POST"])
def start_sudden() -> Any:
    p = require_user()
    check_start(p)
    ctx = engine_context()
    values = {"campaign_year": str(ctx.now().year), "unit_id": ""}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {k: request.form.get(k, "") for k in start_forms.SUDDEN_FIELDS}
        try:
            with sessions()() as db, db.begin():
                row = start_forms.start_sudden(db, ctx, values, p.user_id)
                root_id, key = row.id, row.business_key
            flash(t("sudden_started", code=key), "success")
            return redirect(url_for("web.dashboard.show", root_id=root_id))
        except ValidationError as err:
            errors = _errors(err)
            flash(t("form_has_errors"), "error")
    with read_sessions()() as db:
        found = start_forms.setting(db)
        names = dict(db.execute(_unit_names(found.units)).all())
    units = [(u, names.get(u, u)) for u in found.units]
    return (
        render_template("start_sudden.html", user=p, values=values, errors=errors, units=units),
        422 if errors else 200,
    )


def _unit_names(ids: list[str]) -> Any:
    return select(OrgUnit.id, OrgUnit.name).where(OrgUnit.id.in_(ids))
