"""The web UI: server-rendered pages under one parent blueprint (CSRF-checked forms) with a child per area."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, request

from api.authz import current_user, may_see_reports
from api.context import read_sessions
from api.security import check_csrf
from api.web import auth, council, designer, initiatives, instances, notifications, overview, tasks
from engine.services.notifications import unread_count


def register(app: Flask) -> None:
    parent = Blueprint("web", __name__)
    parent.before_request(check_csrf)
    for module in (auth, tasks, overview, instances, council, notifications, designer, initiatives):
        parent.register_blueprint(module.bp)
    from api.web import dashboard  # Sở Nội vụ's dashboard, urge, comments, start forms

    parent.register_blueprint(dashboard.bp)
    app.register_blueprint(parent)
    app.context_processor(_navigation)


def _navigation() -> dict[str, Any]:
    """Who is logged in and which menu entries they get (web pages only: the API never renders)."""
    if not (request.blueprint or "").startswith("web"):
        return {"nav_user": None, "nav_reports": False, "nav_unread": 0}
    user = current_user()
    unread = 0
    if user is not None:
        with read_sessions()() as db:
            unread = unread_count(db, user.user_id)
    return {"nav_user": user, "nav_reports": user is not None and may_see_reports(user), "nav_unread": unread}
