"""Human task use cases: the inbox, claim, unclaim, reassign, complete.

SpiffWorkflow's ``Task.run()`` checks nothing, so these do: only open tasks, only READY Spiff tasks, only by
someone entitled, data valid against the form, and one winner when two people complete the same task at once.

What a person submits (``complete``) may hold only the fields the task's form declares, within the size limits
(``engine.core.forms``): everything else in the instance's data — lane owners, units, rules, deadlines — comes from
the model, the process start and the services, never from a submission. ``complete_reserved`` is the other door:
the service that owns a reserved task completes it with data it computed itself.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import String, bindparam, cast, literal, select, update
from sqlalchemy.orm import Session

from engine.core.forms import check_person_submission, check_size, form_fields, validate_submission
from engine.core.runtime import find_task
from engine.errors import ConflictError, NotFoundError, PermissionDeniedError
from engine.persistence.models import AuditHead, HumanTask, Instance, Membership, TaskCandidate, User
from engine.persistence.prepared import Prepared, batched, flush_pending
from engine.services import attachments, initiative_uses
from engine.services.audit import append_events
from engine.services.context import EngineContext
from engine.services.definitions import load_definition
from engine.services.directory import acting_for, may_work_on_task, roles_of, user_capabilities
from engine.services.inbox import inbox as inbox  # re-exported: callers use tasks.inbox(...)
from engine.services.instance_store import OPEN, LoadedInstance, as_loaded, json_safe, load_instance, save_step

T = TypeVar("T")


def get_task(session: Session, task_id: int) -> HumanTask:
    row = session.get(HumanTask, task_id)
    if row is None:
        raise NotFoundError(f"task {task_id} not found")
    return row


# A task's lane, read without loading its row (which would send a completion down its slower path, see
# ``_task_with_instance``): what a caller's quick "holds the lane role" check needs.
_TASK_LANE = Prepared(select(HumanTask.role_id, HumanTask.unit_id).where(HumanTask.id == bindparam("task_id")))


def task_lane(session: Session, task_id: int) -> tuple[str | None, str | None] | None:
    """(role, unit) of the task's lane, or None when there is no such task."""
    rows = _TASK_LANE.all(session.connection(), {"task_id": task_id})
    return (rows[0][0], rows[0][1]) if rows else None


def _entitled(session: Session, ctx: EngineContext, user_id: str, row: HumanTask, *, ignore_assignee: bool) -> bool:
    return may_work_on_task(
        session, user_id, row, ctx.now(), ignore_assignee=ignore_assignee
    ) or "admin" in user_capabilities(session, user_id)


def _audit(session: Session, ctx: EngineContext, row: HumanTask, action: str, actor: str, data: dict[str, Any]) -> None:
    append_events(
        session,
        ctx.clock,
        f"instance:{row.instance_id}",
        [
            {
                "action": action,
                "actor": actor,
                "instance_id": row.instance_id,
                "task_guid": row.task_guid,
                "element_id": row.element_id,
                "data": data,
            }
        ],
    )


def claim(session: Session, ctx: EngineContext, task_id: int, user_id: str) -> HumanTask:
    row = get_task(session, task_id)
    # Entitlement first: someone who may not work on the task learns nothing of its state or holder.
    if row.assignee != user_id and not _entitled(session, ctx, user_id, row, ignore_assignee=True):
        raise PermissionDeniedError(f"user {user_id} may not work on task {task_id}")
    if row.status not in OPEN:
        raise ConflictError(f"task {task_id} is {row.status}")
    if row.assignee == user_id:
        return row
    if row.assignee is not None:
        raise ConflictError(f"task {task_id} is already claimed by {row.assignee}")
    result = session.connection().execute(
        update(HumanTask)
        .where(HumanTask.id == task_id, HumanTask.status == "open", HumanTask.assignee.is_(None))
        .values(assignee=user_id, status="claimed")
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise ConflictError(f"task {task_id} was claimed by someone else first")
    _audit(session, ctx, row, "task.claimed", user_id, {"assignee": user_id})
    session.refresh(row)
    return row


def unclaim(session: Session, ctx: EngineContext, task_id: int, user_id: str) -> HumanTask:
    row = get_task(session, task_id)
    admin = "admin" in user_capabilities(session, user_id)
    if row.status != "claimed":  # nobody's to release: say so only to those who may work on it
        if not admin and not _entitled(session, ctx, user_id, row, ignore_assignee=True):
            raise PermissionDeniedError(f"user {user_id} may not work on task {task_id}")
        raise ConflictError(f"task {task_id} is {row.status}, not claimed")
    if row.assignee != user_id and not admin:
        raise PermissionDeniedError(f"only the assignee (or an administrator) can release task {task_id}")
    result = session.connection().execute(
        update(HumanTask)
        .where(HumanTask.id == task_id, HumanTask.status == "claimed", HumanTask.assignee == row.assignee)
        .values(assignee=None, status="open")
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise ConflictError(f"task {task_id} changed meanwhile")
    _audit(session, ctx, row, "task.unclaimed", user_id, {"previous_assignee": row.assignee})
    session.refresh(row)
    return row


def reassign(session: Session, ctx: EngineContext, task_id: int, to_user: str, by_user: str) -> HumanTask:
    """The assignee, the head of the task's unit, or an administrator hands the task to someone entitled."""
    row = get_task(session, task_id)
    allowed = row.assignee == by_user or "admin" in user_capabilities(session, by_user)
    if not allowed and row.unit_id is not None:
        allowed = ("unit_head", row.unit_id) in roles_of(session, by_user, ctx.now())
    if not allowed:
        raise PermissionDeniedError(f"user {by_user} may not reassign task {task_id}")
    if row.status not in OPEN:
        raise ConflictError(f"task {task_id} is {row.status}")
    if not _entitled(session, ctx, to_user, row, ignore_assignee=True):
        raise PermissionDeniedError(f"user {to_user} is not entitled to task {task_id} (role or unit)")
    result = session.connection().execute(
        update(HumanTask)
        .where(HumanTask.id == task_id, HumanTask.status.in_(OPEN))
        .values(assignee=to_user, status="claimed")
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise ConflictError(f"task {task_id} changed meanwhile")
    _audit(session, ctx, row, "task.reassigned", by_user, {"from": row.assignee, "to": to_user})
    session.refresh(row)
    return row


def task_form(session: Session, ctx: EngineContext, row: HumanTask) -> dict[str, Any] | None:
    instance = session.get(Instance, row.instance_id)
    if instance is None:
        raise NotFoundError(f"instance {row.instance_id} not found")
    definition = load_definition(session, instance.definition_id)
    return definition.forms.get(row.form_key) if row.form_key else None


# The same as columns, prepared: the ORM's loading costs more than the rest of the read.
_tasks_t, _instances_t = HumanTask.__table__, Instance.__table__
_TASK_NAMES = tuple(c.key for c in _tasks_t.columns)
_INSTANCE_NAMES = tuple(c.key for c in _instances_t.columns)
_heads_t = AuditHead.__table__
_cand, _member, _user = TaskCandidate.__table__, Membership.__table__, User.__table__
_tasks_lane = _tasks_t.alias("lane_task")


def _held_by_user(rows: Any, match: Any) -> Any:
    """Ids of ``rows`` (task rows or candidate rows: role_id, unit_id) whose role the user holds in their unit
    (any unit when the row has none), the row picked by ``match``."""
    return (
        select(rows.c.id)
        .join(_member, _member.c.role_id == rows.c.role_id)
        .join(_user, _user.c.id == _member.c.user_id)
        .where(
            match,
            _member.c.user_id == bindparam("user_id"),
            _user.c.active.is_(True),
            rows.c.unit_id.is_(None) | (rows.c.unit_id == _member.c.unit_id),
        )
    )


# Whether the user is a candidate in their own right (by name, or by a role they hold in the task's unit): the
# inbox's rule, read with the task. Delegations and administrators are checked only when this says no.
_OWN_CANDIDATE = (
    select(_cand.c.id)
    .where(_cand.c.task_id == bindparam("task_id"), _cand.c.user_id == bindparam("user_id"))
    .union_all(
        _held_by_user(_tasks_lane, _tasks_lane.c.id == bindparam("task_id")),
        _held_by_user(_cand, _cand.c.task_id == bindparam("task_id")),
    )
    .exists()
)
_TASK_WITH_INSTANCE_ROWS = Prepared(
    select(*_tasks_t.columns, *_instances_t.columns, _heads_t.c.seq, _heads_t.c.hash, _OWN_CANDIDATE)
    .join(_instances_t, _instances_t.c.id == _tasks_t.c.instance_id)
    .outerjoin(_heads_t, _heads_t.c.stream == literal("instance:") + cast(_instances_t.c.id, String))
    .where(
        _tasks_t.c.instance_id
        == select(_tasks_t.c.instance_id).where(_tasks_t.c.id == bindparam("task_id")).scalar_subquery(),
        (_tasks_t.c.status == "open") | (_tasks_t.c.status == "claimed"),
    )
)


# On PostgreSQL the instance row is locked first, for the step: a second step on the same instance (another unit's
# officer in a shared campaign, a timer) waits, then reads the new state (a new statement, a new snapshot) instead
# of failing the version check. SQLite's BEGIN IMMEDIATE already serialises writers.
_LOCK_INSTANCE_OF_TASK = Prepared(
    select(_instances_t.c.id)
    .where(
        _instances_t.c.id
        == select(_tasks_t.c.instance_id).where(_tasks_t.c.id == bindparam("task_id")).scalar_subquery()
    )
    .with_for_update()
)


def _task_with_instance(
    session: Session, task_id: int, user_id: str
) -> tuple[HumanTask, Instance, list[HumanTask], tuple[int, str] | None, bool]:
    """The task, its instance, the instance's open tasks, its audit stream's head and whether ``user_id`` is a
    candidate in their own right, in one query when the task is open."""
    flush_pending(session)
    conn = session.connection()
    with batched(conn):  # PostgreSQL: the lock, then the read once it is held, in one round trip
        if conn.dialect.name == "postgresql":
            _LOCK_INSTANCE_OF_TASK.run(conn, {"task_id": task_id}, count=False)
        found = _TASK_WITH_INSTANCE_ROWS.all(conn, {"task_id": task_id, "user_id": user_id})
    cut, end = len(_TASK_NAMES), len(_TASK_NAMES) + len(_INSTANCE_NAMES)
    if not found:
        raise ConflictError(f"task {task_id} is already {get_task(session, task_id).status}")
    instance = as_loaded(session, Instance, dict(zip(_INSTANCE_NAMES, found[0][cut:end], strict=True)))
    head = (found[0][end], found[0][end + 1]) if found[0][end] is not None else (0, "")
    own = bool(found[0][end + 2])
    open_rows = [as_loaded(session, HumanTask, dict(zip(_TASK_NAMES, r[:cut], strict=True))) for r in found]
    row = next((r for r in open_rows if r.id == task_id), None)
    if row is None:
        raise ConflictError(f"task {task_id} is already {get_task(session, task_id).status}")
    return row, instance, open_rows, head, own


# Tasks whose data must not come from a form submission: a council ballot's choices must never enter task data,
# and the council's attendance and counts must come from the directory and the sealed ballot box.
RESERVED_FORM_KEYS: dict[str, str] = {
    "council_convene": "council_meeting.convene",
    "council_attendance": "council_meeting.record_attendance",
    "council_ballot": "ballots.cast_ballot",
    "council_written_ballot": "ballots.cast_ballot (written=True) or ballots.record_no_written_vote",
    "council_tally": "ballots.tally_meeting",
    # the Chairman's decision makes the certificates and tells refused candidates' units why: one path for it
    "nom_decision": "certificates.sign_decision (the decision page, /council/decisions/ID)",
}


def complete(
    session: Session, ctx: EngineContext, task_id: int, user_id: str, data: dict[str, Any] | None = None
) -> HumanTask:
    """Complete a task with what a person submitted and run the instance to its next wait states, in one
    transaction. The submission may hold only the form's declared fields (unless the task is free), within
    ``ctx.limits``; anything else is refused (ValidationError, PayloadTooLargeError) with nothing changed."""
    return _complete(session, ctx, task_id, user_id, data, by_person=True)


def complete_reserved(
    session: Session,
    ctx: EngineContext,
    task_id: int,
    user_id: str,
    data: dict[str, Any] | None = None,
    *,
    events: list[dict[str, Any]] | None = None,
    loaded: LoadedInstance | None = None,
) -> HumanTask:
    """For the service that owns a reserved task (``RESERVED_FORM_KEYS``): complete it with data the service
    computed (checked against the form's schema, not against what a person may submit), with extra events.
    ``loaded``: the instance as the caller restored it in this transaction (used when it is still current)."""
    return _complete(session, ctx, task_id, user_id, data, by_person=False, events=events, loaded=loaded)


def _complete(
    session: Session,
    ctx: EngineContext,
    task_id: int,
    user_id: str,
    data: dict[str, Any] | None,
    *,
    by_person: bool,
    events: list[dict[str, Any]] | None = None,
    loaded: LoadedInstance | None = None,
) -> HumanTask:
    """``by_person``: ``data`` is a person's submission (form fields only, size limits, no reserved task);
    otherwise it is a service's own data for a task it owns."""
    data = data or {}
    if by_person and isinstance(data, dict):
        check_size(data, ctx.limits)  # before anything is read: a huge submission costs no more than this
    row, instance, open_rows, head, own = _task_with_instance(session, task_id, user_id)
    if by_person and row.form_key in RESERVED_FORM_KEYS:
        raise ConflictError(
            f"task {task_id} ({row.element_id}) cannot be completed with a form; use {RESERVED_FORM_KEYS[row.form_key]}"
        )
    if by_person:  # every path (API, web, CLI, a service): attachments referred to must be this instance's own
        attachments.check_references(session, row, user_id, data)
        if row.element_id == "nprop_submit":  # a sent dossier's receipt must be the form's (every path)
            from engine.services.national_submission import check_receipt  # it reaches this module

            check_receipt(session, row, data)
    if row.assignee is not None:
        if row.assignee != user_id and (
            row.assignee not in acting_for(session, user_id, ctx.now())
            and "admin" not in user_capabilities(session, user_id)
        ):
            raise PermissionDeniedError(f"task {task_id} is claimed by {row.assignee}")
    elif not own and not _entitled(session, ctx, user_id, row, ignore_assignee=True):
        raise PermissionDeniedError(f"user {user_id} may not work on task {task_id}")
    if instance.status != "running":
        raise ConflictError(f"instance {row.instance_id} is {instance.status}; its tasks cannot be completed")
    if loaded is None or loaded.row is not instance:  # a caller's copy counts only if it is this very row
        loaded = load_instance(session, ctx, row.instance_id, row=instance, open_tasks=open_rows)
        loaded.audit_head = head
    schema = loaded.definition.forms.get(row.form_key) if row.form_key else None
    if by_person:
        allowed = form_fields(schema, loaded.definition.task_meta.get(row.element_id), row.form_key)
        check_person_submission(schema, data, allowed, ctx.limits, task=row.element_id)
    else:
        validate_submission(schema, data, row.form_key)
    task = find_task(loaded.workflow, row.task_guid)
    if task is None:
        raise ConflictError(f"task {task_id} no longer exists in instance {row.instance_id}")
    if by_person:  # one initiative supports one award: the references a form marks, checked and their uses recorded
        initiative_uses.check_completion(session, ctx, row, user_id, schema, data, task.data)
    before = dict(task.data)
    failure = ctx.runner.complete(loaded.workflow, task, data)
    changed = {k: v for k, v in task.data.items() if k not in before or before[k] != v}
    events = [
        *(events or []),
        {
            "action": "task.completed",
            "task_guid": row.task_guid,
            "element_id": row.element_id,
            "data": {"submitted": json_safe(data), "changed": json_safe(changed)},
        },
    ]
    save_step(session, ctx, loaded, actor=user_id, events=events, failure=failure, closed={row.id: "completed"})
    return row
