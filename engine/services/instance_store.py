"""Loading an instance and saving one step of it: state, task rows, subscriptions, timers and audit events,
all in the caller's transaction, guarded by the instance's version number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import Task
from sqlalchemy import String, bindparam, cast, delete, insert, literal, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from engine.core.calls import thrown_events
from engine.core.runtime import SERIALIZER_VERSION, StepFailure, human_tasks, timer_due_dates, waiting_events
from engine.errors import ConflictError, NotFoundError
from engine.persistence.models import AuditHead, EventSubscription, HumanTask, Instance, TaskCandidate, Timer
from engine.persistence.prepared import Prepared, batched, detached, flush_pending
from engine.services.assignment import Assignment, resolve_assignment
from engine.services.audit import append_events
from engine.services.context import EngineContext
from engine.services.definitions import LoadedDefinition, load_definition

T = TypeVar("T")
OPEN = ("open", "claimed")
# ``session.info[OPENED_TASKS]``: lists that want the rows of the tasks steps open in this session (the values
# inserted, with ``id`` when it was read back), e.g. to tell their people (``notifications.telling_next_steps``).
OPENED_TASKS = "tdkt_opened_tasks"

# Statements on every step: compiled once per dialect and run on the driver's cursor (see prepared.py).
_instances = Instance.metadata.tables["instance"]
_human_tasks = HumanTask.metadata.tables["human_task"]
_timers = Timer.metadata.tables["timer"]
_candidates = TaskCandidate.metadata.tables["task_candidate"]
_IS_OPEN = (_human_tasks.c.status == "open") | (_human_tasks.c.status == "claimed")
# SQLite rewrites an index whenever its column is SET, even to the same value: a step that leaves the status as
# it was (most do) sets only the state and version, which no index covers.
_UPDATE_STATE = Prepared(
    update(_instances)
    .where(_instances.c.id == bindparam("b_id"), _instances.c.version == bindparam("b_version"))
    .values(state=bindparam("state"), version=bindparam("version"))
)
_UPDATE_INSTANCE = Prepared(
    update(_instances)
    .where(_instances.c.id == bindparam("b_id"), _instances.c.version == bindparam("b_version"))
    .values(
        state=bindparam("state"),
        version=bindparam("version"),
        status=bindparam("status"),
        ended_at=bindparam("ended_at"),
        incident=bindparam("incident"),
    )
)
# A step that changed the instance's BPMN timers (one fired, a new wait began) replaces its pending ones.
_CANCEL_BPMN_TIMERS = Prepared(
    update(_timers)
    .where(
        _timers.c.instance_id == bindparam("b_instance_id"),
        _timers.c.kind == "bpmn_timer",
        _timers.c.status == "pending",
    )
    .values(status="cancelled")
)
_INSERT_BPMN_TIMER = Prepared(
    insert(_timers).values(
        {
            name: bindparam(name)
            for name in ("instance_id", "kind", "task_guid", "element_id", "due_at", "status", "payload")
        }
    )
)
_CLOSE_TASK = Prepared(
    update(_human_tasks)
    .where(_human_tasks.c.id == bindparam("b_id"), _IS_OPEN)
    .values(status=bindparam("status"), completed_at=bindparam("completed_at"), completed_by=bindparam("completed_by"))
)
_TASK_COLUMNS = (
    "instance_id", "definition_key", "task_guid", "element_id", "name", "role_id", "unit_id", "candidate_groups",
    "candidate_users", "assignee", "status", "form_key", "due_at", "escalation_level", "created_at",
)  # fmt: skip
_INSERT_TASK = Prepared(
    insert(_human_tasks).values({c: bindparam(c) for c in _TASK_COLUMNS}).returning(_human_tasks.c.id)
)
_INSERT_TIMERS = insert(_timers)
_CANCEL_TASK_TIMERS = Prepared(
    update(_timers)
    .where(
        _timers.c.task_guid == bindparam("b_guid"),
        _timers.c.status == "pending",
        _timers.c.kind != "bpmn_timer",
    )
    .values(status="cancelled")
)
_DELETE_CANDIDATES = Prepared(delete(_candidates).where(_candidates.c.task_id == bindparam("b_id")))
_INSERT_CANDIDATE = Prepared(
    insert(_candidates).values({c: bindparam(c) for c in ("task_id", "role_id", "unit_id", "user_id")})
)


def json_safe(value: Any) -> Any:
    """Task data as plain JSON (dates as ISO text), for audit events and API answers."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [json_safe(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


@dataclass
class LoadedInstance:
    row: Instance
    definition: LoadedDefinition
    workflow: BpmnWorkflow
    open_tasks: list[HumanTask]
    waits_before: set[tuple[str, str]] = field(default_factory=set)
    timers_before: dict[str, datetime] = field(default_factory=dict)
    audit_head: tuple[int, str] | None = None  # (seq, hash) of its audit stream, when read with the row


def new_instance(
    session: Session,
    ctx: EngineContext,
    definition: LoadedDefinition,
    workflow: BpmnWorkflow,
    *,
    business_key: str | None,
    unit_id: str | None,
    actor: str | None,
    link: dict[str, Any] | None = None,
) -> LoadedInstance:
    """Insert the instance row first (its id names the audit stream), to be filled by ``save_step``. ``link``: a
    called instance's parent, root and call (see engine/services/calls.py)."""
    row = Instance(
        **(link or {}),
        definition_id=definition.id,
        definition_key=definition.key,
        business_key=business_key,
        unit_id=unit_id,
        status="running",
        version=0,
        started_at=ctx.now(),
        started_by=actor,
        state=b"{}",
        serializer_version=SERIALIZER_VERSION,
    )
    session.add(row)
    session.flush()
    return LoadedInstance(row, definition, workflow, [])


def load_instance(
    session: Session,
    ctx: EngineContext,
    instance_id: int,
    *,
    row: Instance | None = None,
    open_tasks: list[HumanTask] | None = None,
) -> LoadedInstance:
    """Restore an instance. Callers that already hold its row and open task rows pass them (one query less)."""
    if row is None:
        # Locked on PostgreSQL (SQLite's BEGIN IMMEDIATE already serialises writers): concurrent steps on one
        # instance queue up rather than fail the version check.
        row = session.get(Instance, instance_id, with_for_update=session.get_bind().dialect.name == "postgresql")
    if row is None:
        raise NotFoundError(f"instance {instance_id} not found")
    definition = load_definition(session, row.definition_id)
    workflow = ctx.workflows.take(row.id, row.definition_id, row.state)
    if workflow is None:
        workflow = ctx.codec.load(row.state, definition.spec, definition.subprocess_specs, ctx.script_engine)
    if open_tasks is None:
        open_tasks = list(
            session.scalars(select(HumanTask).where(HumanTask.instance_id == row.id, HumanTask.status.in_(OPEN)))
        )
    loaded = LoadedInstance(row, definition, workflow, open_tasks)
    loaded.waits_before = waiting_events(workflow)
    loaded.timers_before = {str(t.id): due for t, due in timer_due_dates(workflow)}
    return loaded


_INSTANCE_NAMES = tuple(c.key for c in _instances.columns)
_TASK_NAMES = tuple(c.key for c in _human_tasks.columns)
_heads = AuditHead.metadata.tables["audit_head"]
# On PostgreSQL the row is locked first, as a person's step does (tasks._LOCK_INSTANCE_OF_TASK): a second step on
# the same instance waits, then reads the new state.
_LOCK_INSTANCE = Prepared(select(_instances.c.id).where(_instances.c.id == bindparam("b_id")).with_for_update())
_INSTANCE_WITH_HEAD = Prepared(
    select(*_instances.columns, _heads.c.seq, _heads.c.hash)
    .outerjoin(_heads, _heads.c.stream == literal("instance:") + cast(_instances.c.id, String))
    .where(_instances.c.id == bindparam("b_id"))
)
_OPEN_TASKS_OF = Prepared(
    select(*_human_tasks.columns).where(_human_tasks.c.instance_id == bindparam("b_id"), _IS_OPEN)
)


def as_loaded(session: Session, cls: type[T], values: dict[str, Any]) -> T:
    """The row as a detached object or, when the caller's session holds it already, that very object with the
    values just read (so the caller sees what the step writes on it)."""
    held = session.identity_map.get(identity_key(cls, values["id"])) if len(session.identity_map) else None
    if held is None:
        return detached(cls, values)
    for key, value in values.items():
        set_committed_value(held, key, value)
    found: T = held
    return found


def load_instance_for_step(session: Session, ctx: EngineContext, instance_id: int) -> LoadedInstance:
    """``load_instance`` for a step the engine takes by itself (a timer): the row, its audit head and its open
    tasks in prepared statements (one round trip on PostgreSQL, the lock first) instead of the ORM's reads."""
    flush_pending(session)
    conn = session.connection()
    with batched(conn):
        if conn.dialect.name == "postgresql":
            _LOCK_INSTANCE.run(conn, {"b_id": instance_id}, count=False)
        found = _INSTANCE_WITH_HEAD.all(conn, {"b_id": instance_id})
        tasks = _OPEN_TASKS_OF.all(conn, {"b_id": instance_id})
    if not found:
        raise NotFoundError(f"instance {instance_id} not found")
    cut = len(_INSTANCE_NAMES)
    row = as_loaded(session, Instance, dict(zip(_INSTANCE_NAMES, found[0][:cut], strict=True)))
    open_tasks = [as_loaded(session, HumanTask, dict(zip(_TASK_NAMES, t, strict=True))) for t in tasks]
    loaded = load_instance(session, ctx, instance_id, row=row, open_tasks=open_tasks)
    loaded.audit_head = (found[0][cut], found[0][cut + 1]) if found[0][cut] is not None else (0, "")
    return loaded


def save_step(
    session: Session,
    ctx: EngineContext,
    loaded: LoadedInstance,
    *,
    actor: str | None,
    events: list[dict[str, Any]],
    failure: StepFailure | None = None,
    status: str | None = None,
    closed: dict[int, str] | None = None,
) -> None:
    """Write everything one step changed. ``closed`` maps task row ids to their final status."""
    row, workflow, now = loaded.row, loaded.workflow, ctx.now()
    closed = dict(closed or {})
    new_status = status or row.status
    if failure is None and loaded.definition.has_calls and new_status in ("running", "incident"):
        from engine.services.calls import settle_calls  # calls starts instances through this module

        failure = settle_calls(session, ctx, loaded, actor, events)
    thrown = thrown_events(workflow) if row.parent_id is not None else []
    incident = None
    ended_at = row.ended_at
    if failure is not None:
        new_status = "incident"
        incident = {"element_id": failure.element_id, "task_guid": failure.task_guid, "message": failure.message}
        if failure.expression:
            incident["expression"] = failure.expression
        events.append({"action": "instance.incident", "element_id": failure.element_id, "data": incident})
    elif workflow.is_completed() and new_status not in ("cancelled",):
        new_status, ended_at = "completed", now
        events.append({"action": "instance.completed", "data": {"data": json_safe(workflow.data)}})
    elif new_status == "incident":
        new_status = "running"

    state = ctx.codec.dump(workflow)
    values = {
        "state": state,
        "version": row.version + 1,
        "status": new_status,
        "ended_at": ended_at,
        "incident": incident,
    }
    # The step's own statements (instance, task rows, audit) are prepared and sent in one batch (one round trip on
    # PostgreSQL, see prepared.batched); subscriptions, BPMN timers and the new tasks' escalation timers, when
    # they changed, go through SQLAlchemy after it.
    conn = session.connection()
    unchanged = new_status == row.status and ended_at == row.ended_at and incident == row.incident
    update_row = _UPDATE_STATE if unchanged else _UPDATE_INSTANCE
    conflict = ConflictError(f"instance {row.id} was changed by someone else; reload and try again")
    deadlines: list[HumanTask] = []
    with batched(conn):
        update_row.run(conn, {"b_id": row.id, "b_version": row.version, **values}, expect=1, error=conflict)
        _committed(row, values)

        ready = {} if new_status in ("cancelled", "completed") else {str(t.id): t for t in human_tasks(workflow)}
        for task_row in loaded.open_tasks:
            if task_row.id not in closed and task_row.task_guid not in ready:
                closed[task_row.id] = "cancelled"
                events.append(
                    {"action": "task.cancelled", "task_guid": task_row.task_guid, "element_id": task_row.element_id}
                )
        _close_tasks(session, loaded, closed, now, actor)
        known = {t.task_guid for t in loaded.open_tasks}
        created = [t for guid, t in ready.items() if guid not in known]
        if created:
            deadlines = _open_tasks(session, ctx, loaded, created, events)
        stream = f"instance:{row.id}"
        for event in events:
            event.setdefault("actor", actor)
            event.setdefault("instance_id", row.id)
        written = append_events(session, ctx.clock, stream, events, head=loaded.audit_head)
    if written:
        loaded.audit_head = (written[-1]["seq"], written[-1]["hash"])
    if new_status in ("running", "incident"):  # its next step may start from this very workflow
        ctx.workflows.keep(row.id, row.definition_id, state, workflow)
    _sync_waits(session, loaded, new_status)
    _sync_timers(session, loaded, new_status)
    if deadlines:
        _plan_escalations(session, ctx, loaded, deadlines)
    if row.parent_id is not None and (thrown or new_status in ("completed", "cancelled")):
        from engine.services.calls import child_ended

        child_ended(session, ctx, loaded, new_status, thrown, actor)


def _committed(obj: Any, values: dict[str, Any]) -> None:
    """Tell the session what a Core UPDATE already wrote, so it neither reloads nor writes it again."""
    for key, value in values.items():
        set_committed_value(obj, key, value)


def _close_tasks(
    session: Session, loaded: LoadedInstance, closed: dict[int, str], now: datetime, actor: str | None
) -> None:
    rows = {r.id: r for r in loaded.open_tasks}
    conn = session.connection()
    for task_id, status in closed.items():
        values: dict[str, Any] = {
            "status": status,
            "completed_at": now,
            "completed_by": actor if status == "completed" else None,
        }
        already = ConflictError("the task was already completed or cancelled by someone else")
        _CLOSE_TASK.run(conn, {"b_id": task_id, **values}, expect=1, error=already)
        if task_id in rows:
            _committed(rows[task_id], values)
        # Candidate rows matter only while a task is open (keeping them would make every inbox page skip history);
        # a task has some only for extra groups or named users (its lane role is on the task row itself).
        if task_id not in rows or _assignment_of(rows[task_id]).candidates():
            _DELETE_CANDIDATES.run(conn, {"b_id": task_id}, count=False)
        if task_id in rows and rows[task_id].due_at is not None:  # its reminders and escalations are moot now
            _CANCEL_TASK_TIMERS.run(conn, {"b_guid": rows[task_id].task_guid}, count=False)


def _assignment_of(task: HumanTask) -> Assignment:
    """The part of a task row's assignment that decides its candidate rows."""
    return Assignment(
        role_id=task.role_id,
        unit_id=task.unit_id,
        candidate_groups=list(task.candidate_groups or []),
        candidate_users=list(task.candidate_users or []),
    )


def _open_tasks(
    session: Session, ctx: EngineContext, loaded: LoadedInstance, tasks: list[Task], events: list[dict[str, Any]]
) -> list[HumanTask]:
    """Insert the rows of new tasks and their candidates; the rows with a due date (for their escalation timers).
    Their ids are read back only when something needs them (candidates, a due date)."""
    now = ctx.now()
    rows, assignments = [], []
    for task in tasks:
        meta = loaded.definition.task_meta.get(task.task_spec.bpmn_id or task.task_spec.name, {})
        assignment = resolve_assignment(ctx, task, meta, loaded.row.unit_id)
        assignments.append(assignment)
        rows.append(
            {
                "instance_id": loaded.row.id,
                "definition_key": loaded.definition.key,
                "task_guid": str(task.id),
                "element_id": task.task_spec.bpmn_id or task.task_spec.name,
                "name": task.task_spec.bpmn_name or meta.get("name"),
                "role_id": assignment.role_id,
                "unit_id": assignment.unit_id,
                "candidate_groups": assignment.candidate_groups,
                "candidate_users": assignment.candidate_users,
                "assignee": assignment.assignee,
                "status": "claimed" if assignment.assignee else "open",
                "form_key": meta.get("form_key"),
                "due_at": assignment.due_at,
                "escalation_level": 0,
                "created_at": now,
            }
        )
    conn = session.connection()
    deadlines: list[HumanTask] = []
    watchers: list[list[dict[str, Any]]] = session.info.get(OPENED_TASKS) or []
    for row, assignment in zip(rows, assignments, strict=True):
        if not row["due_at"] and not assignment.candidates():
            _INSERT_TASK.run(conn, row, count=False)  # its id is not needed here
            for opened in watchers:
                opened.append(row)
            continue
        task_id = _INSERT_TASK.all(conn, row)[0][0]
        for opened in watchers:
            opened.append({**row, "id": task_id})
        if row["due_at"]:
            deadlines.append(HumanTask(id=task_id, **row))
        _INSERT_CANDIDATE.many(conn, [c | {"task_id": task_id} for c in assignment.candidates()])
    for row, assignment in zip(rows, assignments, strict=True):
        events.append(
            {
                "action": "task.created",
                "task_guid": row["task_guid"],
                "element_id": row["element_id"],
                "data": assignment.describe(),
            }
        )
    return deadlines


def _plan_escalations(session: Session, ctx: EngineContext, loaded: LoadedInstance, rows: list[HumanTask]) -> None:
    """Reminder, overdue and escalation timers for tasks that have a due date (policy in escalation.py)."""
    from engine.services.escalation import plan_timers

    timers = [t for row in rows for t in plan_timers(session, ctx, row, loaded.definition.key)]
    if timers:
        session.connection().execute(_INSERT_TIMERS, timers)


def _sync_waits(session: Session, loaded: LoadedInstance, status: str) -> None:
    waits = set() if status in ("cancelled", "completed") else waiting_events(loaded.workflow)
    if waits == loaded.waits_before:
        return
    iid = loaded.row.id
    session.execute(delete(EventSubscription).where(EventSubscription.instance_id == iid))
    if waits:
        session.execute(
            insert(EventSubscription), [{"instance_id": iid, "kind": k, "name": n} for k, n in sorted(waits)]
        )


def _sync_timers(session: Session, loaded: LoadedInstance, status: str) -> None:
    if status in ("cancelled", "completed"):
        timers: dict[str, datetime] = {}
    else:
        timers = {str(t.id): due for t, due in timer_due_dates(loaded.workflow)}
    if timers == loaded.timers_before:
        return
    iid = loaded.row.id
    conn = session.connection()
    _CANCEL_BPMN_TIMERS.run(conn, {"b_instance_id": iid}, count=False)
    rows = []
    for guid, due in timers.items():
        task = loaded.workflow.get_task_from_id(UUID(guid))
        rows.append(
            {
                "instance_id": iid,
                "kind": "bpmn_timer",
                "task_guid": guid,
                "element_id": task.task_spec.bpmn_id,
                "due_at": due,
                "status": "pending",
                "payload": {},
            }
        )
    _INSERT_BPMN_TIMER.many(conn, rows)
