"""The user's notifications in the app: the list (newest first), unread marked, and mark as read."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from api.authz import require_user
from api.context import engine_context, read_sessions, sessions
from api.i18n import t
from engine.services import notifications

bp = Blueprint("notifications", __name__)
PAGE = 50


@bp.get("/notifications")
def index() -> Any:
    p = require_user()
    before = request.args.get("before", type=int)
    with read_sessions()() as db:
        rows = notifications.list_for_user(db, p.user_id, limit=PAGE + 1, before_id=before)
        for row in rows:
            db.expunge(row)
    shown = rows[:PAGE]
    more = shown[-1].id if len(rows) > PAGE and shown else None
    return render_template("notifications.html", user=p, notifications=shown, more=more)


@bp.post("/notifications/read")
def read() -> Any:
    p = require_user()
    ids = [int(v) for v in request.form.getlist("id") if v.isdigit()]
    with sessions()() as db, db.begin():
        changed = notifications.mark_read(db, engine_context(), p.user_id, ids or None)
    flash(t("notifications_marked", count=changed), "success")
    return redirect(url_for("web.notifications.index"))
