"""Comments on an item (an instance): anyone who can see it writes one from a task's page; the item's other
participants are told, and the audit trail keeps what was written.

Who may comment is the caller's check (the web page and the API check that the person sees the item, as they
do for reading it). Participants are the people who worked on or chased the item's tasks (``PARTICIPATING`` in
its audit trail), the holders of its open tasks and those who commented before — never the author.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import NotFoundError, ValidationError
from engine.persistence.models import AuditEvent, HumanTask, Instance, ItemComment, User
from engine.services.audit import append_event, instance_stream
from engine.services.context import EngineContext
from engine.services.notifications import notify, render, task_texts

MAX_CHARS = 4000


@dataclass(frozen=True)
class CommentView:
    id: int
    author: str
    author_name: str
    body: str
    at: datetime
    task_id: int | None


def _checked_body(body: object) -> str:
    text = body.strip() if isinstance(body, str) else ""
    if not text:
        raise ValidationError("a comment needs some text", {"fields": {"body": "required"}})
    if len(text) > MAX_CHARS:
        raise ValidationError(
            f"a comment holds at most {MAX_CHARS} characters ({len(text)} sent)",
            {"fields": {"body": f"at most {MAX_CHARS} characters"}},
        )
    if "\x00" in text:
        raise ValidationError("a comment must not contain NUL characters", {"fields": {"body": "NUL character"}})
    return text


# What makes someone a participant: working on the item's tasks, chasing them, commenting. Starting the item is
# not (a campaign's start by the Chairman would otherwise tell them of every comment on every unit's plan).
PARTICIPATING = (
    "task.claimed",
    "task.completed",
    "task.returned",
    "task.reassigned",
    "task.urged",
    "item.commented",
)


def participants(session: Session, instance_id: int) -> set[str]:
    """Everyone who took part in the item: who worked on or chased its tasks, its open tasks' holders, its
    commenters."""
    actors = select(AuditEvent.actor).where(
        AuditEvent.instance_id == instance_id, AuditEvent.actor.is_not(None), AuditEvent.action.in_(PARTICIPATING)
    )
    holders = select(HumanTask.assignee).where(
        HumanTask.instance_id == instance_id, HumanTask.assignee.is_not(None), HumanTask.status.in_(("open", "claimed"))
    )
    writers = select(ItemComment.author).where(ItemComment.instance_id == instance_id)
    found = {str(u) for u in session.scalars(actors.union(holders, writers)) if u}
    if not found:
        return set()
    known = set(session.scalars(select(User.id).where(User.id.in_(sorted(found)), User.active.is_(True))))
    return known


def add_comment(
    session: Session,
    ctx: EngineContext,
    instance_id: int,
    author: str,
    body: object,
    *,
    task: HumanTask | None = None,
) -> ItemComment:
    """Store the comment, audit it (``item.commented`` with its text) and tell the other participants."""
    text = _checked_body(body)
    if session.get(Instance, instance_id) is None:
        raise NotFoundError(f"instance {instance_id} not found")
    told = sorted(participants(session, instance_id) - {author})
    row = ItemComment(
        instance_id=instance_id, task_id=task.id if task else None, author=author, body=text, created_at=ctx.now()
    )
    session.add(row)
    session.flush()
    append_event(
        session,
        ctx.clock,
        stream=instance_stream(instance_id),
        action="item.commented",
        actor=author,
        instance_id=instance_id,
        task_guid=task.task_guid if task else None,
        element_id=task.element_id if task else None,
        data={"comment_id": row.id, "body": text, "notified": told},
    )
    if told:
        name = session.scalar(select(User.full_name).where(User.id == author)) or author
        if task is not None:
            fields = task_texts(session, task, actor=name, comment=text)
        else:
            fields = {"task": "", "process": "", "instance": instance_id, "actor": name, "comment": text}
        title, message = render("comment", **fields)
        notify(
            session, ctx, told, "comment", title, message, instance_id=instance_id, task_id=task.id if task else None
        )
    return row


def comments_of(session: Session, instance_id: int) -> list[CommentView]:
    """The item's comments, oldest first, with their authors' names."""
    query = (
        select(ItemComment, User.full_name)
        .outerjoin(User, User.id == ItemComment.author)
        .where(ItemComment.instance_id == instance_id)
        .order_by(ItemComment.id)
    )
    return [
        CommentView(c.id, c.author, name or c.author, c.body, c.created_at, c.task_id)
        for c, name in session.execute(query)
    ]
