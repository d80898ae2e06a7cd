"""Read-only context of a task's page: what earlier steps of the same item submitted, its history, and — when
the step was sent back — who returned it, when and why. Built from the instance's audit trail.

Council ballots complete with no data (their choices never reach the trail), so nothing here can show one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.persistence.models import AuditEvent, HumanTask, Instance, OrgUnit, User
from engine.services.attachments import Document, documents_of
from engine.services.audit import events_for_instance
from engine.services.comments import CommentView, comments_of
from engine.services.context import EngineContext
from engine.services.tasks import RESERVED_FORM_KEYS, task_form

HISTORY_ACTIONS = (
    "instance.started",
    "task.claimed",
    "task.unclaimed",
    "task.completed",
    "task.returned",
    "task.reassigned",
    "council.voted",
    "council.tallied",
)
RETURN_VALUES = {"return", "returned", "supplement", "reject", "rejected", "revise"}


@dataclass
class Entry:
    """One field of an earlier submission: its title, and the value as a person reads it."""

    title: str
    value: str


@dataclass
class Submission:
    element_id: str
    name: str
    actor: str
    at: datetime
    entries: list[Entry]


@dataclass
class HistoryItem:
    at: datetime
    actor: str
    action: str
    step: str
    note: str = ""


@dataclass
class ReturnNote:
    by: str
    at: datetime
    step: str
    reason: str


@dataclass
class TaskContext:
    submissions: list[Submission] = field(default_factory=list)
    history: list[HistoryItem] = field(default_factory=list)
    returned: ReturnNote | None = None
    instance_unit_name: str | None = None
    documents: list[Document] = field(default_factory=list)  # the item's attachments (engine/services/attachments)
    comments: list[CommentView] = field(default_factory=list)  # the item's comments (engine/services/comments.py)


def _choice_title(prop: dict[str, Any], value: Any) -> str | None:
    for option in prop.get("oneOf") or prop.get("anyOf") or []:
        if isinstance(option, dict) and "const" in option and option["const"] == value:
            return str(option.get("title", value))
    titles = prop.get("x-tdkt-enum-titles") or {}
    if isinstance(value, str) and value in titles:
        return str(titles[value])
    names = prop.get("enumNames")
    if isinstance(names, list) and value in (prop.get("enum") or []):
        index = list(prop["enum"]).index(value)
        return str(names[index]) if index < len(names) else None
    return None


def readable(prop: dict[str, Any], value: Any) -> str:
    """A submitted value as a person reads it: a choice's title, yes/no, a list's items, nested fields."""
    title = _choice_title(prop, value)
    if title is not None:
        return title
    if isinstance(value, bool):
        return "Có" if value else "Không"
    if isinstance(value, list):
        items = prop.get("items") or {}
        return "; ".join(readable(items, v) if not isinstance(v, dict) else _inline(items, v) for v in value)
    if isinstance(value, dict) and "attachment_id" in value:  # an uploaded file: its name (listed in documents)
        return str(value.get("name") or value["attachment_id"])
    if isinstance(value, dict):
        return _inline(prop, value)
    if isinstance(value, str) and prop.get("format") == "date" and len(value) == 10:
        return f"{value[8:10]}/{value[5:7]}/{value[0:4]}"
    return "" if value is None else str(value)


def _inline(prop: dict[str, Any], value: dict[str, Any]) -> str:
    props = prop.get("properties") or {}
    return ", ".join(
        f"{(props.get(k) or {}).get('title', k)}: {readable(props.get(k) or {}, v)}" for k, v in value.items()
    )


def entries_of(schema: dict[str, Any] | None, data: dict[str, Any]) -> list[Entry]:
    props = (schema or {}).get("properties") or {}
    out = []
    for key, value in data.items():
        prop = props.get(key) or {}
        if value in (None, "", [], {}):
            continue
        out.append(Entry(str(prop.get("title") or key), readable(prop, value)))
    return out


def _names(session: Session, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.full_name).where(User.id.in_(ids))).all())


def _is_return(data: dict[str, Any]) -> str | None:
    """The comment of a submission that sent the item back (a ``*decision*`` field with a return value)."""
    for key, value in data.items():
        if ("decision" in key or key == "appraisal") and isinstance(value, str) and value in RETURN_VALUES:
            words = ("comment", "reason", "request")
            comments = [str(v) for k, v in data.items() if any(w in k for w in words) and v]
            return "; ".join(comments) or value
    return None


def task_context(session: Session, ctx: EngineContext, row: HumanTask) -> TaskContext:
    """The context of ``row``'s page (no permission check: the caller has checked the task)."""
    events: list[AuditEvent] = [e for e in events_for_instance(session, row.instance_id) if e.action in HISTORY_ACTIONS]
    names = _names(session, {e.actor for e in events if e.actor})
    tasks_by_guid = {
        t.task_guid: t for t in session.scalars(select(HumanTask).where(HumanTask.instance_id == row.instance_id))
    }
    result = TaskContext()
    instance = session.get(Instance, row.instance_id)
    if instance is not None and instance.unit_id:
        result.instance_unit_name = session.scalar(select(OrgUnit.name).where(OrgUnit.id == instance.unit_id))
    forms: dict[str, dict[str, Any] | None] = {}
    completed_elements: set[str] = set()
    last_return: ReturnNote | None = None
    returned_last = False  # the latest completion sent the item back: the step it opened answers it
    for event in events:
        who = names.get(event.actor or "", event.actor or "")
        other = tasks_by_guid.get(event.task_guid or "")
        step = (other.name if other is not None else None) or event.element_id or ""
        note = ""
        if event.action == "task.completed" and other is not None and event.task_guid != row.task_guid:
            submitted = (event.data or {}).get("submitted") or {}
            if isinstance(submitted, dict) and submitted and other.form_key not in RESERVED_FORM_KEYS:
                if other.task_guid not in forms:
                    forms[other.task_guid] = task_form(session, ctx, other)
                entries = entries_of(forms[other.task_guid], submitted)
                result.submissions.append(Submission(other.element_id, step, who, event.at, entries))
                reason = _is_return(submitted)
                if reason is not None:
                    last_return = ReturnNote(who, event.at, step, reason)
                    note = reason
                returned_last = reason is not None
            completed_elements.add(event.element_id or "")
        elif event.action == "task.returned":
            note = str((event.data or {}).get("reason") or "")
            if event.task_guid == row.task_guid:
                last_return = ReturnNote(who, event.at, step, note)
        result.history.append(HistoryItem(event.at, who, event.action, step, note))
    # Documents: the attachments earlier steps of this item referred to, with their download links on the page.
    steps = {guid: (t.name or t.element_id) for guid, t in tasks_by_guid.items()}
    result.documents = documents_of(session, row.instance_id, events, steps)
    # A step done before and open again was sent back: the latest return explains why.
    again = row.element_id in completed_elements or last_return is not None and last_return.step == (row.name or "")
    if last_return is not None and (again or returned_last and row.status in ("open", "claimed")):
        result.returned = last_return
    result.comments = comments_of(session, row.instance_id)
    return result


def return_reason(data: dict[str, Any]) -> str | None:
    """The reason of a submission that sent its item back (as the page reads it), or None (notifications)."""
    return _is_return(data)
