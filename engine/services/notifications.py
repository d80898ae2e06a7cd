"""Notifications: one row per user and message, shown in the web inbox and e-mailed afterwards.

``notify`` only writes rows, inside the caller's transaction; a row whose user has an e-mail address starts
with ``email_status = "pending"``. E-mail is sent later, after that transaction commits, by
``engine.services.mailer.send_pending_emails``: rolled-back work sends nothing, and a failed send loses nothing
(the row stays and is retried).

User-facing texts live in ``TEXTS`` (Vietnamese by default; add a language by adding a key).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from engine.core.business_calendar import LOCAL_TZ
from engine.persistence.models import Notification, User
from engine.services.context import EngineContext

DEFAULT_LANGUAGE = "vi"

# kind -> (title, body) templates; fields: task, process, due, instance, unit, days, assignee
TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    "vi": {
        "reminder": (
            "Nhắc việc: {task} đến hạn ngày {due}",
            'Công việc "{task}" (hồ sơ #{instance}, quy trình {process}) đến hạn vào {due}.\n'
            "Đề nghị hoàn thành đúng hạn.",
        ),
        "overdue": (
            "Quá hạn: {task} (hạn {due})",
            'Công việc "{task}" (hồ sơ #{instance}, quy trình {process}) của đơn vị {unit} đã quá hạn '
            "từ {due}.\nNgười đang xử lý: {assignee}.",
        ),
        "escalation": (
            "Chuyển cấp theo dõi: {task} quá hạn {days} ngày làm việc",
            'Công việc "{task}" (hồ sơ #{instance}, quy trình {process}) của đơn vị {unit} đã quá hạn {days} '
            "ngày làm việc (hạn {due}).\nNgười đang xử lý: {assignee}. Đề nghị Sở Nội vụ theo dõi, đôn đốc.",
        ),
        "reassigned": (
            "Được giao: {task} (quá hạn)",
            'Công việc "{task}" (hồ sơ #{instance}, quy trình {process}) đã quá hạn từ {due} và được chuyển '
            "cho bạn xử lý.",
        ),
    },
    "en": {
        "reminder": ("Reminder: {task} is due on {due}", 'Task "{task}" (case #{instance}, {process}) is due {due}.'),
        "overdue": (
            "Overdue: {task} (due {due})",
            'Task "{task}" (case #{instance}, {process}) of {unit} is overdue since {due}.\nAssigned to: {assignee}.',
        ),
        "escalation": (
            "Escalated: {task} overdue by {days} working days",
            'Task "{task}" (case #{instance}, '
            "{process}) of {unit} is {days} working days overdue (due {due}).\nAssigned to: {assignee}.",
        ),
        "reassigned": (
            "Assigned to you: {task} (overdue)",
            'Task "{task}" (case #{instance}, {process}) is overdue since {due} and was handed to you.',
        ),
    },
}
NOBODY = {"vi": "chưa có người nhận", "en": "nobody"}


def local_text(when: datetime | None) -> str:
    """dd/mm/yyyy HH:MM in Asia/Ho_Chi_Minh, as users read dates."""
    return when.astimezone(LOCAL_TZ).strftime("%d/%m/%Y %H:%M") if when else ""


def render(kind: str, language: str = DEFAULT_LANGUAGE, **fields: Any) -> tuple[str, str]:
    """(title, body) of a message kind in a language (falls back to Vietnamese)."""
    texts = TEXTS.get(language, TEXTS[DEFAULT_LANGUAGE])
    title, body = texts.get(kind) or TEXTS[DEFAULT_LANGUAGE][kind]
    if not fields.get("assignee"):
        fields["assignee"] = NOBODY.get(language, NOBODY[DEFAULT_LANGUAGE])
    return title.format(**fields)[:255], body.format(**fields)


def notify(
    session: Session,
    ctx: EngineContext,
    user_ids: Iterable[str],
    kind: str,
    title: str,
    body: str,
    instance_id: int | None = None,
    task_id: int | None = None,
) -> list[Notification]:
    """One notification per distinct active user (unknown or inactive ids are skipped); queued for e-mail when
    the user has an address."""
    wanted = sorted(set(user_ids))
    if not wanted:
        return []
    users = session.execute(select(User.id, User.email).where(User.id.in_(wanted), User.active.is_(True))).all()
    now = ctx.now()
    rows = [
        Notification(
            user_id=user.id,
            kind=kind,
            title=title[:255],
            body=body,
            instance_id=instance_id,
            task_id=task_id,
            created_at=now,
            email_status="pending" if user.email else "none",
            email_attempts=0,
        )
        for user in sorted(users, key=lambda u: u.id)
    ]
    session.add_all(rows)
    session.flush()
    return rows


def list_for_user(
    session: Session, user_id: str, *, unread_only: bool = False, limit: int = 50, before_id: int | None = None
) -> list[Notification]:
    """The user's notifications, newest first; page with ``before_id`` (the last id of the previous page)."""
    query = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    if before_id is not None:
        query = query.where(Notification.id < before_id)
    return list(session.scalars(query.order_by(Notification.id.desc()).limit(max(1, min(limit, 500)))))


def unread_count(session: Session, user_id: str) -> int:
    query = select(func.count()).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    return int(session.scalar(query) or 0)


def mark_read(session: Session, ctx: EngineContext, user_id: str, ids: Iterable[int] | None = None) -> int:
    """Mark the user's notifications ``ids`` (all unread ones when None) read; returns how many changed.

    Only the user's own rows change, so a user cannot mark someone else's notifications.
    """
    statement = update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    if ids is not None:
        statement = statement.where(Notification.id.in_(list(ids)))
    result = session.execute(statement.values(read_at=ctx.now()).execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)
