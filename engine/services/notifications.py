"""Notifications: one row per user and message, shown in the web inbox and e-mailed afterwards.

``notify`` only writes rows, inside the caller's transaction; a row whose user has an e-mail address starts
with ``email_status = "pending"``. E-mail is sent later, after that transaction commits, by
``engine.services.mailer.send_pending_emails``: rolled-back work sends nothing, and a failed send loses nothing
(the row stays and is retried).

User-facing texts live in ``TEXTS`` (Vietnamese by default; add a language by adding a key).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from engine.core.business_calendar import LOCAL_TZ
from engine.persistence.models import Definition, HumanTask, Instance, Notification, OrgUnit, User
from engine.services.context import EngineContext
from engine.services.directory import users_with_role

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

# --- assignments, returns, urges and comments (engine/services/urge.py, comments.py; notify_next_steps below) ---
# fields besides the ones above (empty when not given): actor (who did it), reason, note, comment
EXTRA_FIELDS = ("actor", "reason", "note", "comment")
TEXTS["vi"].update(
    {
        "assigned": (
            "Việc mới: {task}",
            'Bạn có công việc mới "{task}" (hồ sơ #{instance}, quy trình {process}) của đơn vị {unit}, hạn {due}.',
        ),
        "returned": (
            "Bị trả lại: {task}",
            'Công việc "{task}" (hồ sơ #{instance}, quy trình {process}) được {actor} trả lại để bổ sung, sửa đổi.'
            "\nLý do: {reason}",
        ),
        "urged": (
            "Đôn đốc: {task} (hạn {due})",
            'Sở Nội vụ ({actor}) đôn đốc công việc "{task}" (hồ sơ #{instance}, quy trình {process}) của đơn vị '
            "{unit}, hạn {due}. Đề nghị hoàn thành ngay.{note}",
        ),
        "comment": ("Ý kiến mới về hồ sơ #{instance}: {task}", "{actor} viết ({process}):\n{comment}"),
    }
)
TEXTS["en"].update(
    {
        "assigned": (
            "New task: {task}",
            'You have a new task "{task}" (case #{instance}, {process}) of {unit}, due {due}.',
        ),
        "returned": (
            "Returned: {task}",
            'Task "{task}" (case #{instance}, {process}) was sent back by {actor} for changes.\nReason: {reason}',
        ),
        "urged": (
            "Urged: {task} (due {due})",
            'Sở Nội vụ ({actor}) urges task "{task}" (case #{instance}, {process}) of {unit}, due {due}.{note}',
        ),
        "comment": ("New comment on case #{instance}: {task}", "{actor} wrote ({process}):\n{comment}"),
    }
)


def local_text(when: datetime | None) -> str:
    """dd/mm/yyyy HH:MM in Asia/Ho_Chi_Minh, as users read dates."""
    return when.astimezone(LOCAL_TZ).strftime("%d/%m/%Y %H:%M") if when else ""


def render(kind: str, language: str = DEFAULT_LANGUAGE, **fields: Any) -> tuple[str, str]:
    """(title, body) of a message kind in a language (falls back to Vietnamese)."""
    texts = TEXTS.get(language, TEXTS[DEFAULT_LANGUAGE])
    title, body = texts.get(kind) or TEXTS[DEFAULT_LANGUAGE][kind]
    if not fields.get("assignee"):
        fields["assignee"] = NOBODY.get(language, NOBODY[DEFAULT_LANGUAGE])
    fields = {**dict.fromkeys(EXTRA_FIELDS, ""), **fields}
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


# --- who is told about a task, and the steps a person's completion opened (assignments and returns) ----------


def task_recipients(session: Session, ctx: EngineContext, task: HumanTask) -> list[str]:
    """Who a message about an open task goes to: its assignee, else everyone who may claim it (its role and
    candidate groups in its unit, its candidate users)."""
    return _recipients(
        session, ctx, task.assignee, task.role_id, task.unit_id, task.candidate_groups, task.candidate_users
    )


def _recipients(
    session: Session,
    ctx: EngineContext,
    assignee: str | None,
    role_id: str | None,
    unit_id: str | None,
    groups: Iterable[str] | None,
    users: Iterable[str] | None,
) -> list[str]:
    if assignee:
        return [assignee]
    found = set(users or [])
    for role in {role_id, *(groups or [])} - {None}:
        found.update(users_with_role(session, str(role), unit_id, ctx.now()))
    return sorted(found)


def task_texts(session: Session, task: HumanTask, **extra: Any) -> dict[str, Any]:
    """The fields the message templates use for ``task``, plus ``extra``."""
    unit_name = select(OrgUnit.name).where(OrgUnit.id == task.unit_id).scalar_subquery()
    process = session.execute(
        select(Definition.name, Definition.key, unit_name)
        .join(Instance, Instance.definition_id == Definition.id)
        .where(Instance.id == task.instance_id)
    ).first()
    unit = process[2] if process else None
    return {
        "task": task.name or task.element_id,
        "process": (process.name or process.key) if process else (task.definition_key or ""),
        "instance": task.instance_id,
        "due": local_text(task.due_at) or "—",
        "unit": unit or task.unit_id or "",
        "days": "",
        "assignee": task.assignee,
        **extra,
    }


def notify_assigned(session: Session, ctx: EngineContext, task: HumanTask, by_user: str | None = None) -> None:
    """Tell the task's new holder it is theirs (a reassignment; the holder is not told of their own act)."""
    if task.assignee and task.assignee != by_user:
        title, body = render("assigned", **task_texts(session, task))
        notify(session, ctx, [task.assignee], "assigned", title, body, instance_id=task.instance_id, task_id=task.id)


@contextmanager
def telling_next_steps(
    session: Session, ctx: EngineContext, actor: str, submitted: dict[str, Any] | None
) -> Iterator[None]:
    """Around a step (a person's completion, a timer, a decision): once it has run, tell whoever may take each
    task it opened — in the instance, in the instances it called, in a parent it let move on (the rows
    ``instance_store`` inserted, ``OPENED_TASKS``). Nothing is told when the step fails.

    When the submission sent the item back (a decision field saying return / supplement, as the task pages read
    it), the message is a ``returned`` one with the reason; otherwise an ``assigned`` one. The actor is never told
    of their own step."""
    from engine.services.instance_store import OPENED_TASKS  # the instance store reaches this module

    opened: list[dict[str, Any]] = []
    watchers: list[list[dict[str, Any]]] = session.info.setdefault(OPENED_TASKS, [])
    watchers.append(opened)
    try:
        yield
    finally:
        watchers.remove(opened)
    _tell_opened(session, ctx, opened, actor, submitted)


def _tell_opened(
    session: Session, ctx: EngineContext, opened: list[dict[str, Any]], actor: str, submitted: dict[str, Any] | None
) -> list[Notification]:
    from engine.services.task_context import return_reason  # task_context reads tasks, which reach this module

    sent: list[Notification] = []
    reason: str | None = None
    actor_name: str | None = None
    for values in opened:
        recipients = _recipients(
            session,
            ctx,
            values.get("assignee"),
            values.get("role_id"),
            values.get("unit_id"),
            values.get("candidate_groups"),
            values.get("candidate_users"),
        )
        recipients = [u for u in recipients if u != actor]
        if not recipients:
            continue
        task = _opened_row(session, values)
        if task is None or task.status not in ("open", "claimed"):  # closed again within the same step
            continue
        if actor_name is None:  # read once, and only when someone is told
            actor_name = session.scalar(select(User.full_name).where(User.id == actor)) or actor
            reason = return_reason(submitted or {})
        kind = "returned" if reason is not None else "assigned"
        title, body = render(kind, **task_texts(session, task, actor=actor_name, reason=reason or ""))
        sent += notify(session, ctx, recipients, kind, title, body, instance_id=task.instance_id, task_id=task.id)
    return sent


def _opened_row(session: Session, values: dict[str, Any]) -> HumanTask | None:
    """The row of a task a step opened (inserted without the ORM): by id when it was read back, else by its guid."""
    if values.get("id") is not None:
        return session.get(HumanTask, values["id"])
    return session.scalars(
        select(HumanTask).where(
            HumanTask.instance_id == values["instance_id"], HumanTask.task_guid == values["task_guid"]
        )
    ).first()


def complete_and_notify(
    session: Session, ctx: EngineContext, task_id: int, user_id: str, data: dict[str, Any] | None
) -> HumanTask:
    """A person completes a task (``tasks.complete``) and whoever gets the steps it opened is told (above)."""
    from engine.services import tasks  # tasks reaches this module through the instance store

    with telling_next_steps(session, ctx, user_id, data):
        return tasks.complete(session, ctx, task_id, user_id, data)
