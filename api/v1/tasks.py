"""Tasks: the inbox, one task with its form, and claim / unclaim / complete / return / reassign.

Each change is one transaction owned by the request. Whether the caller may see the task is checked first,
inside that transaction and before the service looks at the task's state, so someone outside the task's unit
gets 403 whatever the task's state or holder (never "claimed by X"); the services then check entitlement to
the change itself.

"Return" here is the engine's generic one: the assignee (or an administrator) gives a claimed task back to its
candidates with a reason, recorded as ``task.returned``; sending a dossier back to an earlier step is decided in
the task's form (e.g. ``head_decision: return`` with a comment) and completed like any other task.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy.orm import Session

from api.authz import (
    Principal,
    check_instance,
    check_task,
    may_urge,
    may_work_on,
    readable_task,
    require_user,
    sees_task,
)
from api.context import engine_context, read_sessions, sessions
from api.v1.schemas import (
    AttendanceIn,
    BallotIn,
    CommentIn,
    CommentOut,
    Comments,
    CompleteIn,
    ConveneIn,
    Empty,
    Paging,
    ReassignIn,
    ReturnIn,
    TaskDetail,
    TaskOut,
    TaskPage,
    UrgeIn,
    UrgeOut,
    WrittenBallotIn,
)
from api.v1.serialize import task_json
from api.v1.spec import ID, api, responses
from engine.errors import PermissionDeniedError, ValidationError
from engine.persistence.models import HumanTask
from engine.services import ballots, comments, council_meeting, tasks, urge
from engine.services.api_reads import return_task
from engine.services.context import EngineContext
from engine.services.instances import get_instance
from engine.services.notifications import complete_and_notify, notify_assigned
from engine.services.tasks import RESERVED_FORM_KEYS
from engine.services.views import task_views

bp = Blueprint("tasks", __name__)
TAGS = ("tasks",)


@bp.get("/tasks")
@api.validate(query=Paging, resp=responses(HTTP_200=TaskPage), tags=TAGS)
def inbox() -> Any:
    """The caller's inbox: the open tasks they may work on, most urgent first."""
    p = require_user()
    q: Paging = request.context.query  # type: ignore[attr-defined]
    ctx = engine_context()
    with read_sessions()() as db:
        rows = tasks.inbox(db, ctx, p.user_id, limit=q.limit, offset=q.offset)
        views = task_views(db, ctx, rows)
    return jsonify(tasks=[task_json(v) for v in views], limit=q.limit, offset=q.offset)


@bp.get(f"/tasks/<{ID}:task_id>")
@api.validate(resp=responses(HTTP_200=TaskDetail), tags=TAGS)
def show(task_id: int) -> Any:
    """One task with its form's JSON Schema and what the form's fields hold now; ``read_only`` for Sở Nội vụ,
    auditors and administrators looking at a task they may not work on."""
    view, schema, data, read_only = readable_task(require_user(), task_id)
    answer = task_json(view)
    answer["form"] = schema
    answer["data"] = data
    answer["form_reserved"] = view.task.form_key in RESERVED_FORM_KEYS
    answer["read_only"] = read_only
    return jsonify(answer)


def _answer(task_id: int) -> Any:
    ctx = engine_context()
    with read_sessions()() as db:
        return jsonify(task_json(task_views(db, ctx, [tasks.get_task(db, task_id)])[0]))


def _visible(db: Session, p: Principal, task_id: int, *, to_work_on: bool = False) -> HumanTask:
    """The task, once ``p`` may see it (and, ``to_work_on``, is among those who may work on it)."""
    row = tasks.get_task(db, task_id)
    check_task(db, p, row)
    if to_work_on and not may_work_on(db, p, row):
        raise PermissionDeniedError(f"user {p.user_id} may not work on task {task_id}")
    return row


def _holds_lane(p: Principal, lane: tuple[str | None, str | None] | None) -> bool:
    """Whether ``p`` holds the task's lane role (``tasks.task_lane``) in its unit (in any unit when it has none):
    then ``check_task`` and ``may_work_on`` both pass, as the principal's roles already say, without asking the
    database again."""
    if lane is None or lane[0] is None:
        return False
    role, unit = lane
    return any(r == role and (unit is None or u == unit) for r, u in p.roles)


def _step(task_id: int, act: Callable[[Session, EngineContext, str], object], *, to_work_on: bool = False) -> Any:
    """One change to a task in one transaction: may the caller see it (or work on it), then the service's step;
    answers the task as it is afterwards — the row the service hands back, with its names read in the same
    transaction (else read again after it)."""
    p = require_user()
    ctx = engine_context()
    with sessions()() as db, db.begin():
        if not _holds_lane(p, tasks.task_lane(db, task_id)):
            _visible(db, p, task_id, to_work_on=to_work_on)
        done = act(db, ctx, p.user_id)
        view = task_views(db, ctx, [done])[0] if isinstance(done, HumanTask) and done.id == task_id else None
    return jsonify(task_json(view)) if view is not None else _answer(task_id)


@bp.post(f"/tasks/<{ID}:task_id>/claim")
@api.validate(json=Empty, resp=responses(HTTP_200=TaskOut), tags=TAGS)
def claim(task_id: int) -> Any:
    """Take the task (its candidates: by role in its unit, group or name, and their delegates)."""
    return _step(task_id, lambda db, ctx, user: tasks.claim(db, ctx, task_id, user), to_work_on=True)


@bp.post(f"/tasks/<{ID}:task_id>/unclaim")
@api.validate(json=Empty, resp=responses(HTTP_200=TaskOut), tags=TAGS)
def unclaim(task_id: int) -> Any:
    """Give the task back to its candidates (its assignee, or an administrator)."""
    return _step(task_id, lambda db, ctx, user: tasks.unclaim(db, ctx, task_id, user))


@bp.post(f"/tasks/<{ID}:task_id>/complete")
@api.validate(json=CompleteIn, resp=responses(HTTP_200=TaskOut), tags=TAGS)
def complete(task_id: int) -> Any:
    """Complete the task with its form's data (only the form's fields, checked against its JSON Schema)."""
    data: CompleteIn = request.context.json  # type: ignore[attr-defined]
    return _step(task_id, lambda db, ctx, user: complete_and_notify(db, ctx, task_id, user, data.data), to_work_on=True)


@bp.post(f"/tasks/<{ID}:task_id>/return")
@api.validate(json=ReturnIn, resp=responses(HTTP_200=TaskOut), tags=TAGS)
def give_back(task_id: int) -> Any:
    """Return a claimed task to its candidates with a reason (kept in the audit trail as ``task.returned``)."""
    data: ReturnIn = request.context.json  # type: ignore[attr-defined]
    return _step(task_id, lambda db, ctx, user: return_task(db, ctx, task_id, user, data.reason))


@bp.post(f"/tasks/<{ID}:task_id>/reassign")
@api.validate(json=ReassignIn, resp=responses(HTTP_200=TaskOut), tags=TAGS)
def reassign(task_id: int) -> Any:
    """Hand the task to someone entitled to it (its assignee, the head of its unit, or an administrator); Sở Nội
    vụ hands a task escalated to it to another holder of the task's role in the task's unit."""
    data: ReassignIn = request.context.json  # type: ignore[attr-defined]
    p = require_user()
    ctx = engine_context()
    with sessions()() as db, db.begin():
        row = tasks.get_task(db, task_id)
        if not sees_task(db, p, row) and may_urge(p):
            urge.reassign_escalated(db, ctx, task_id, data.user, p.user_id)
        else:
            check_task(db, p, row)
            notify_assigned(db, ctx, tasks.reassign(db, ctx, task_id, data.user, p.user_id), p.user_id)
    return _answer(task_id)


@bp.post(f"/tasks/<{ID}:task_id>/urge")
@api.validate(json=UrgeIn, resp=responses(HTTP_200=UrgeOut), tags=TAGS)
def urge_task(task_id: int) -> Any:
    """Sở Nội vụ urges an open task of any unit ("Đôn đốc"): its assignee, or everyone who may claim it, is
    notified and the urge audited; once per task per working day (409 on a second)."""
    data: UrgeIn = request.context.json  # type: ignore[attr-defined]
    p = require_user()
    with sessions()() as db, db.begin():
        told = urge.urge_task(db, engine_context(), task_id, p.user_id, data.note)
    answer = _answer(task_id).get_json()
    return jsonify(task=answer, notified=told)


# --- comments on an item (an instance), from any of its tasks' pages ----------------------------------------


def _comment_json(c: comments.CommentView) -> dict[str, Any]:
    return {
        "id": c.id,
        "author": c.author,
        "author_name": c.author_name,
        "body": c.body,
        "at": c.at.isoformat(),
        "task": c.task_id,
    }


@bp.get(f"/instances/<{ID}:instance_id>/comments")
@api.validate(resp=responses(HTTP_200=Comments), tags=TAGS)
def list_comments(instance_id: int) -> Any:
    """The item's comments, oldest first (whoever sees the instance)."""
    p = require_user()
    with read_sessions()() as db:
        check_instance(db, p, get_instance(db, instance_id))
        found = [_comment_json(c) for c in comments.comments_of(db, instance_id)]
    return jsonify(instance=instance_id, comments=found)


@bp.post(f"/instances/<{ID}:instance_id>/comments")
@api.validate(json=CommentIn, resp=responses(HTTP_201=CommentOut), tags=TAGS)
def add_comment(instance_id: int) -> Any:
    """Comment on the item (whoever sees the instance); audited, and its other participants are notified."""
    data: CommentIn = request.context.json  # type: ignore[attr-defined]
    p = require_user()
    with sessions()() as db, db.begin():
        check_instance(db, p, get_instance(db, instance_id))
        task = None
        if data.task is not None:
            task = tasks.get_task(db, data.task)
            if task.instance_id != instance_id:
                raise ValidationError(
                    f"task {data.task} is not a task of instance {instance_id}", {"fields": {"task": "not this item's"}}
                )
        row = comments.add_comment(db, engine_context(), instance_id, p.user_id, data.body, task=task)
        made = next(c for c in comments.comments_of(db, instance_id) if c.id == row.id)
    return jsonify(_comment_json(made)), 201


# --- the Council meeting's reserved tasks: each calls the service that owns the step ------------------------


@bp.post(f"/tasks/<{ID}:task_id>/convene")
@api.validate(json=ConveneIn, resp=responses(HTTP_200=TaskOut), tags=TAGS)
def convene(task_id: int) -> Any:
    """The secretary convenes the Council: date, place, withdrawn candidates (the agenda comes from the process)."""
    data: ConveneIn = request.context.json  # type: ignore[attr-defined]
    return _step(
        task_id,
        lambda db, ctx, user: council_meeting.convene(
            db, ctx, task_id, user, meeting_date=data.meeting_date, place=data.place, withdrawn=data.withdrawn
        ),
    )


@bp.post(f"/tasks/<{ID}:task_id>/attendance")
@api.validate(json=AttendanceIn, resp=responses(HTTP_200=TaskOut), tags=TAGS)
def attendance(task_id: int) -> Any:
    """The secretary records who attends (members from the directory); with quorum, voting opens."""
    data: AttendanceIn = request.context.json  # type: ignore[attr-defined]
    return _step(task_id, lambda db, ctx, user: council_meeting.record_attendance(db, ctx, task_id, user, data.present))


@bp.post(f"/tasks/<{ID}:task_id>/ballot")
@api.validate(json=BallotIn, resp=responses(HTTP_200=TaskOut), tags=TAGS)
def ballot(task_id: int) -> Any:
    """The member casts their own secret ballot. The answer says the task is completed, never the choices."""
    data: BallotIn = request.context.json  # type: ignore[attr-defined]
    return _step(task_id, lambda db, ctx, user: ballots.cast_ballot(db, ctx, task_id, user, dict(data.choices)))


@bp.post(f"/tasks/<{ID}:task_id>/written-ballot")
@api.validate(json=WrittenBallotIn, resp=responses(HTTP_200=TaskOut), tags=TAGS)
def written_ballot(task_id: int) -> Any:
    """The secretary enters an absent member's written vote, or records that none came (``no_vote``)."""
    data: WrittenBallotIn = request.context.json  # type: ignore[attr-defined]
    if data.no_vote == (data.choices is not None):
        raise ValidationError(
            "send either choices or no_vote: true", {"fields": {"choices": "choices or no_vote, not both"}}
        )

    def act(db: Session, ctx: EngineContext, user: str) -> None:
        if data.no_vote:
            ballots.record_no_written_vote(db, ctx, task_id, user)
        else:
            ballots.cast_ballot(db, ctx, task_id, user, dict(data.choices or {}), written=True)

    return _step(task_id, act)


@bp.post(f"/tasks/<{ID}:task_id>/tally")
@api.validate(json=Empty, resp=responses(HTTP_200=TaskOut), tags=TAGS)
def tally(task_id: int) -> Any:
    """The secretary opens the box and counts; the minutes (HTML and PDF) are attached to the instance."""
    return _step(task_id, lambda db, ctx, user: ballots.tally_meeting(db, ctx, task_id, user))
