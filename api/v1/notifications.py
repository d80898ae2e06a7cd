"""The caller's own notifications (reminders, overdue work, escalations), and marking them read."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from api.authz import require_user
from api.context import engine_context, read_sessions, sessions
from api.v1.schemas import MarkReadIn, MarkReadOut, NotificationPage, NotificationQuery
from api.v1.serialize import iso
from api.v1.spec import api, responses
from engine.services.notifications import list_for_user, mark_read, unread_count

bp = Blueprint("notifications", __name__)
TAGS = ("notifications",)


@bp.get("/notifications")
@api.validate(query=NotificationQuery, resp=responses(HTTP_200=NotificationPage), tags=TAGS)
def index() -> Any:
    """The caller's notifications, newest first (page with ``before_id``), and how many are unread."""
    p = require_user()
    q: NotificationQuery = request.context.query  # type: ignore[attr-defined]
    with read_sessions()() as db:
        rows = list_for_user(db, p.user_id, unread_only=q.unread, limit=q.limit, before_id=q.before_id)
        found = [
            {
                "id": n.id,
                "kind": n.kind,
                "title": n.title,
                "body": n.body,
                "instance_id": n.instance_id,
                "task_id": n.task_id,
                "created_at": iso(n.created_at),
                "read_at": iso(n.read_at),
            }
            for n in rows
        ]
        unread = unread_count(db, p.user_id)
    return jsonify(notifications=found, unread=unread)


@bp.post("/notifications/read")
@api.validate(json=MarkReadIn, resp=responses(HTTP_200=MarkReadOut), tags=TAGS)
def read() -> Any:
    """Mark the caller's notifications ``ids`` read (all unread ones when left out); others' are never touched."""
    p = require_user()
    data: MarkReadIn = request.context.json  # type: ignore[attr-defined]
    with sessions()() as db, db.begin():
        marked = mark_read(db, engine_context(), p.user_id, data.ids)
    return jsonify(marked=marked)
