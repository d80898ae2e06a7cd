"""Human task use cases: the inbox, claim, unclaim, reassign, complete.

SpiffWorkflow's ``Task.run()`` checks nothing, so these do: only open tasks, only READY Spiff tasks, only by
someone entitled, data valid against the form, and one winner when two people complete the same task at once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, bindparam, cast, func, literal, select, union, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from engine.core.forms import validate_submission
from engine.core.runtime import find_task
from engine.errors import ConflictError, NotFoundError, PermissionDeniedError
from engine.persistence.models import AuditHead, Delegation, HumanTask, Instance, Membership, TaskCandidate, User
from engine.persistence.prepared import Prepared, detached
from engine.services.audit import append_events
from engine.services.context import EngineContext
from engine.services.definitions import load_definition
from engine.services.directory import acting_for, can_work_on, roles_of, user_capabilities
from engine.services.instance_store import OPEN, json_safe, load_instance, save_step


def get_task(session: Session, task_id: int) -> HumanTask:
    row = session.get(HumanTask, task_id)
    if row is None:
        raise NotFoundError(f"task {task_id} not found")
    return row


def _inbox_statement(include_claimable: bool, pair_count: int = 0, role_count: int = 0) -> Any:
    """One statement for a page of the inbox: who the user acts for, the roles they hold in which units, the
    candidate rows those match (only open tasks have any), and the tasks held by them, soonest due first."""
    uid: Any = bindparam("user_id")
    now: Any = bindparam("now")
    acting = (
        select(Delegation.from_user_id.label("user_id"))
        .join(User, User.id == Delegation.to_user_id)
        .where(Delegation.to_user_id == uid, Delegation.starts_at <= now, Delegation.ends_at > now, User.active)
    )
    people = union(select(uid.label("user_id")), acting).cte("people")
    own = (
        select(Membership.role_id, Membership.unit_id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.user_id == uid, User.active)
    )
    delegated = select(Membership.role_id, Membership.unit_id).where(Membership.user_id.in_(acting))
    held = union(own, delegated).cte("held")
    # Rank (id, due date) pairs first, from indexes alone where the work is (ix_human_task_inbox holds status,
    # unit, role, due date and the id), then read the 50 rows of the page: reading every candidate row before
    # sorting cost ~170 random row reads per page at 1M finished instances.
    branches: list[Any] = [
        select(HumanTask.id, HumanTask.due_at).where(
            HumanTask.assignee.in_(select(people.c.user_id)), HumanTask.status.in_(OPEN)
        )
    ]
    if include_claimable:
        # An open task has no assignee (claiming makes it "claimed").
        named = union(
            # extra candidate groups and named candidates: their rows exist only while the task is open
            select(TaskCandidate.task_id).where(TaskCandidate.user_id.in_(select(people.c.user_id))),
            select(TaskCandidate.task_id).join(
                held, (held.c.role_id == TaskCandidate.role_id) & (held.c.unit_id == TaskCandidate.unit_id)
            ),
            select(TaskCandidate.task_id)
            .join(held, held.c.role_id == TaskCandidate.role_id)
            .where(TaskCandidate.unit_id.is_(None)),
        )
        # The lane's role in the task's unit (or, for a task without a unit, anywhere): the task rows themselves,
        # one index range per (unit, role) the user holds, bound as parameters (unit_N, role_N, any_role_N):
        # joined to the roles in SQL, the planners walked every open task instead, for want of knowing how few
        # roles a person holds.
        branches += [
            select(HumanTask.id, HumanTask.due_at).where(
                HumanTask.unit_id == bindparam(f"unit_{i}"),
                HumanTask.role_id == bindparam(f"role_{i}"),
                HumanTask.status == "open",
            )
            for i in range(pair_count)
        ]
        branches += [
            select(HumanTask.id, HumanTask.due_at).where(
                HumanTask.unit_id.is_(None), HumanTask.role_id == bindparam(f"any_role_{i}"), HumanTask.status == "open"
            )
            for i in range(role_count)
        ]
        branches += [
            # ``id IN (...)`` read by id: not a join (with ANALYZE statistics SQLite misjudged its size and built a
            # Bloom filter over every task row), and the status test kept off the indexes (coalesce), or SQLite
            # walks every open task's index entry to test it against the few names instead.
            select(HumanTask.id, HumanTask.due_at).where(
                HumanTask.id.in_(named), func.coalesce(HumanTask.status, "") == "open"
            ),
        ]
    ranked = union(*branches).subquery()  # a task found twice (by lane and by name) counts once
    page = (
        select(ranked.c.id)
        .order_by(ranked.c.due_at.is_(None), ranked.c.due_at, ranked.c.id)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
        .subquery()
    )
    return (
        select(HumanTask)
        .where(HumanTask.id.in_(select(page.c.id)))
        .order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.id)
    )


# Built once per shape: per number of (role, unit) pairs and of distinct roles a user holds.
_INBOX_FOR: dict[tuple[bool, int, int], Any] = {}


def _inbox_for(include_claimable: bool, pair_count: int, role_count: int) -> Any:
    key = (include_claimable, pair_count, role_count) if include_claimable else (False, 0, 0)
    found = _INBOX_FOR.get(key)
    if found is None:
        found = _INBOX_FOR[key] = _inbox_statement(*key)
    return found


def inbox(
    session: Session,
    ctx: EngineContext,
    user_id: str,
    *,
    include_claimable: bool = True,
    limit: int = 50,
    offset: int = 0,
) -> list[HumanTask]:
    """Open tasks the user holds, or may claim through a role in a unit or by name, soonest due first.

    Two statements: the (role, unit) pairs the user holds (own and delegated), then the page, which ranks task
    ids by due date from index entries alone (the lane role's index ranges, candidate rows for extra groups
    and names, which exist only while a task is open) and reads the page's rows only: a user whose units own a
    small share of the work reads only that share.
    """
    now = ctx.now()
    params: dict[str, Any] = {
        "user_id": user_id,
        "now": now,
        "limit": max(1, min(limit, 500)),
        "offset": max(0, offset),
    }
    pairs = sorted(roles_of(session, user_id, now)) if include_claimable else []
    roles = sorted({role for role, _ in pairs})
    for i, (role, unit) in enumerate(pairs):
        params[f"role_{i}"], params[f"unit_{i}"] = role, unit
    for i, role in enumerate(roles):
        params[f"any_role_{i}"] = role
    return list(session.scalars(_inbox_for(include_claimable, len(pairs), len(roles)), params))


def _entitled(session: Session, ctx: EngineContext, user_id: str, row: HumanTask, *, ignore_assignee: bool) -> bool:
    return can_work_on(
        session,
        user_id,
        role_id=row.role_id,
        unit_id=row.unit_id,
        candidate_groups=list(row.candidate_groups or []),
        candidate_users=list(row.candidate_users or []),
        assignee=None if ignore_assignee else row.assignee,
        at=ctx.now(),
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
    if row.status not in OPEN:
        raise ConflictError(f"task {task_id} is {row.status}")
    if row.assignee == user_id:
        return row
    if row.assignee is not None:
        raise ConflictError(f"task {task_id} is already claimed by {row.assignee}")
    if not _entitled(session, ctx, user_id, row, ignore_assignee=True):
        raise PermissionDeniedError(f"user {user_id} may not work on task {task_id}")
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
    if row.status != "claimed":
        raise ConflictError(f"task {task_id} is {row.status}, not claimed")
    if row.assignee != user_id and "admin" not in user_capabilities(session, user_id):
        raise PermissionDeniedError(f"only {row.assignee} (or an administrator) can release task {task_id}")
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
    if row.status not in OPEN:
        raise ConflictError(f"task {task_id} is {row.status}")
    allowed = row.assignee == by_user or "admin" in user_capabilities(session, by_user)
    if not allowed and row.unit_id is not None:
        allowed = ("unit_head", row.unit_id) in roles_of(session, by_user, ctx.now())
    if not allowed:
        raise PermissionDeniedError(f"user {by_user} may not reassign task {task_id}")
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


_TASK_WITH_INSTANCE = (
    select(HumanTask, Instance)
    .join(Instance, Instance.id == HumanTask.instance_id)
    .where(
        HumanTask.instance_id
        == select(HumanTask.instance_id).where(HumanTask.id == bindparam("task_id")).scalar_subquery(),
        HumanTask.status.in_(OPEN),
    )
)
# The same as columns, prepared: the ORM's loading costs more than the rest of the read.
_tasks_t, _instances_t = HumanTask.__table__, Instance.__table__
_TASK_NAMES = tuple(c.key for c in _tasks_t.columns)
_INSTANCE_NAMES = tuple(c.key for c in _instances_t.columns)
_heads_t = AuditHead.__table__
_cand, _member, _user = TaskCandidate.__table__, Membership.__table__, User.__table__
_tasks_lane = _tasks_t.alias("lane_task")
# Whether the user is a candidate in their own right (by name, or by a role they hold in the task's unit): the
# inbox's rule, read with the task. Delegations and administrators are checked only when this says no.
_OWN_CANDIDATE = (
    select(_cand.c.id)
    .where(_cand.c.task_id == bindparam("task_id"), _cand.c.user_id == bindparam("user_id"))
    .union_all(
        select(_tasks_lane.c.id)
        .join(_member, _member.c.role_id == _tasks_lane.c.role_id)
        .join(_user, _user.c.id == _member.c.user_id)
        .where(
            _tasks_lane.c.id == bindparam("task_id"),
            _member.c.user_id == bindparam("user_id"),
            _user.c.active.is_(True),
            _tasks_lane.c.unit_id.is_(None) | (_tasks_lane.c.unit_id == _member.c.unit_id),
        ),
        select(_cand.c.id)
        .join(_member, _member.c.role_id == _cand.c.role_id)
        .join(_user, _user.c.id == _member.c.user_id)
        .where(
            _cand.c.task_id == bindparam("task_id"),
            _member.c.user_id == bindparam("user_id"),
            _user.c.active.is_(True),
            _cand.c.unit_id.is_(None) | (_cand.c.unit_id == _member.c.unit_id),
        ),
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
_LOCK_INSTANCE_OF_TASK = (
    select(Instance.id)
    .where(Instance.id == select(HumanTask.instance_id).where(HumanTask.id == bindparam("task_id")).scalar_subquery())
    .with_for_update()
)


def _task_with_instance(
    session: Session, task_id: int, user_id: str
) -> tuple[HumanTask, Instance, list[HumanTask], tuple[int, str] | None, bool]:
    """The task, its instance, the instance's open tasks, its audit stream's head and whether ``user_id`` is a
    candidate in their own right, in one query when the task is open."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_LOCK_INSTANCE_OF_TASK, {"task_id": task_id})
    found = _TASK_WITH_INSTANCE_ROWS.all(session.connection(), {"task_id": task_id, "user_id": user_id})
    cut, end = len(_TASK_NAMES), len(_TASK_NAMES) + len(_INSTANCE_NAMES)
    instance: Instance | None
    head, own = None, False
    if found and not _in_session(session, found[0][cut], [r[0] for r in found]):
        instance = detached(Instance, dict(zip(_INSTANCE_NAMES, found[0][cut:end], strict=True)))
        head = (found[0][end], found[0][end + 1]) if found[0][end] is not None else (0, "")
        own = bool(found[0][end + 2])
        open_rows = [detached(HumanTask, dict(zip(_TASK_NAMES, r[:cut], strict=True))) for r in found]
    else:  # the caller holds some of these rows already: keep working on those very objects
        pairs = session.execute(_TASK_WITH_INSTANCE, {"task_id": task_id}).all()
        open_rows = [p[0] for p in pairs]
        instance = pairs[0][1] if pairs else None
    row = next((r for r in open_rows if r.id == task_id), None)
    if row is None or instance is None:
        row = get_task(session, task_id)
        raise ConflictError(f"task {task_id} is already {row.status}")
    return row, instance, open_rows, head, own


def _in_session(session: Session, instance_id: int, task_ids: list[int]) -> bool:
    held = session.identity_map
    if not len(held):
        return False
    keys = [identity_key(Instance, instance_id), *(identity_key(HumanTask, i) for i in task_ids)]
    return any(k in held for k in keys)


# Tasks whose data must not come from a form submission: a council ballot's choices must never enter task data,
# and the council's attendance and counts must come from the directory and the sealed ballot box.
RESERVED_FORM_KEYS: dict[str, str] = {
    "council_convene": "council_meeting.convene",
    "council_attendance": "council_meeting.record_attendance",
    "council_ballot": "ballots.cast_ballot",
    "council_written_ballot": "ballots.cast_ballot (written=True) or ballots.record_no_written_vote",
    "council_tally": "ballots.tally_meeting",
}


def complete(
    session: Session, ctx: EngineContext, task_id: int, user_id: str, data: dict[str, Any] | None = None
) -> HumanTask:
    """Complete a task with the form's data and run the instance to its next wait states, in one transaction."""
    return complete_reserved(session, ctx, task_id, user_id, data, reserved=False)


def complete_reserved(
    session: Session,
    ctx: EngineContext,
    task_id: int,
    user_id: str,
    data: dict[str, Any] | None = None,
    *,
    reserved: bool = True,
    events: list[dict[str, Any]] | None = None,
) -> HumanTask:
    """``complete``, also for tasks with a reserved form key (for the service that owns them), with extra events."""
    data = data or {}
    row, instance, open_rows, head, own = _task_with_instance(session, task_id, user_id)
    if not reserved and row.form_key in RESERVED_FORM_KEYS:
        raise ConflictError(
            f"task {task_id} ({row.element_id}) cannot be completed with a form; use {RESERVED_FORM_KEYS[row.form_key]}"
        )
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
    loaded = load_instance(session, ctx, row.instance_id, row=instance, open_tasks=open_rows)
    loaded.audit_head = head
    schema = loaded.definition.forms.get(row.form_key) if row.form_key else None
    validate_submission(schema, data, row.form_key)
    task = find_task(loaded.workflow, row.task_guid)
    if task is None:
        raise ConflictError(f"task {task_id} no longer exists in instance {row.instance_id}")
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
