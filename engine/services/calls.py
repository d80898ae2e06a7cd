"""Called instances: starting a call activity's children, handing their outputs back, and the tree's life.

The pure half is ``engine/core/calls.py``. Here, in the caller's transaction:
- ``settle_calls`` runs inside every step of an instance whose definition has call activities: it starts the
  children of the calls the step reached, cancels the children of calls that were interrupted, and completes the
  calls whose children have all ended (then runs the instance on, which may reach further calls);
- ``child_ended`` runs when a called instance ends (or throws an error or escalation): it records its output
  and, if it was the last running child of its call, steps the parent.

Exactly once, whatever the timing: a child counts its running siblings only after locking its parent's row
(``FOR UPDATE`` on PostgreSQL; SQLite serialises writers), and its own status is already written by then, so of
two children ending at once the second to take the lock sees the first one ended and steps the parent; the
first sees the second still running and leaves it. Stepping the parent again is harmless: a call that is no
longer waiting is left alone.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from engine.core.calls import (
    ExternalCall,
    abandoned_calls,
    apply_outputs,
    child_output,
    child_starts,
    pending_calls,
    waiting_calls,
)
from engine.core.runtime import StepFailure, find_task
from engine.core.spiff_clock import using_clock
from engine.errors import EngineError, NotFoundError
from engine.persistence.models import Definition, Instance, OrgUnit
from engine.services.context import EngineContext
from engine.services.definitions import LoadedDefinition, latest_definition, load_definition
from engine.services.instance_store import LoadedInstance, json_safe, load_instance, new_instance, save_step

RUNNING = ("running", "suspended", "incident")
_STEPPING = "tdkt_stepping_instances"  # session.info key: instances whose step is under way in this transaction


def _stepping(session: Session) -> set[int]:
    found: set[int] = session.info.setdefault(_STEPPING, set())
    return found


def settle_calls(
    session: Session, ctx: EngineContext, loaded: LoadedInstance, actor: str | None, events: list[dict[str, Any]]
) -> StepFailure | None:
    """Start, cancel and complete what the instance's call activities need, until nothing more moves."""
    stepping = _stepping(session)
    stepping.add(loaded.row.id)
    try:
        for _ in range(1000):  # each round completes or starts something; a model cannot loop here for ever
            moved = False
            for task in abandoned_calls(loaded.workflow):
                _abandon(session, ctx, loaded, task, actor, events)
            for task in pending_calls(loaded.workflow):
                failure = _start_children(session, ctx, loaded, task, actor, events)
                if failure is not None:
                    return failure
                moved = True
            for task in waiting_calls(loaded.workflow):
                moved = _settle(session, ctx, loaded, task, actor, events) or moved
            if not moved:
                return None
            failure = ctx.runner.advance(loaded.workflow)
            if failure is not None:
                return failure
        return None
    finally:
        stepping.discard(loaded.row.id)


def _called_definition(session: Session, loaded: LoadedInstance, spec: ExternalCall) -> Definition:
    binding = (spec.binding or "latest").lower()
    if binding == "version" and spec.called_version:
        try:
            wanted = int(spec.called_version)
        except ValueError:
            raise NotFoundError(f"calledElementVersion {spec.called_version!r} is not a number")
        row = session.scalar(select(Definition).where(Definition.key == spec.spec, Definition.version == wanted))
        if row is None:
            raise NotFoundError(f"called process {spec.spec!r} version {wanted} is not deployed")
        return row
    if binding == "deployment":  # the version that was current when the caller's own version was deployed
        parent = session.get(Definition, loaded.definition.id)
        query = select(Definition).where(Definition.key == spec.spec)
        if parent is not None:
            query = query.where(Definition.deployed_at <= parent.deployed_at)
        row = session.scalars(query.order_by(Definition.version.desc())).first()
        if row is not None:
            return row
    try:
        return latest_definition(session, spec.spec)
    except NotFoundError:
        raise NotFoundError(f"called process {spec.spec!r} is not deployed; deploy it, then retry this instance")


def _failure(task: Task, message: str, expression: str | None = None) -> StepFailure:
    task._set_state(TaskState.ERROR)
    return StepFailure(str(task.id), task.task_spec.bpmn_id, message, expression)


def _start_children(
    session: Session,
    ctx: EngineContext,
    loaded: LoadedInstance,
    task: Task,
    actor: str | None,
    events: list[dict[str, Any]],
) -> StepFailure | None:
    spec: ExternalCall = task.task_spec
    try:
        called_row = _called_definition(session, loaded, spec)
        called = load_definition(session, called_row.id)
        with using_clock(ctx.clock):
            starts = child_starts(task, called.data_names("inputs"), loaded.row.business_key, loaded.row.unit_id)
    except EngineError as err:
        return _failure(task, f"call activity {spec.bpmn_id}: {err.message}", getattr(err, "expression", None))
    units = {s.unit_id for s in starts if s.unit_id}
    known = set(session.scalars(select(OrgUnit.id).where(OrgUnit.id.in_(sorted(units))))) if units else set()
    unknown = sorted(units - known)
    if unknown:
        return _failure(task, f"call activity {spec.bpmn_id}: unit(s) {', '.join(unknown)} are not org units")
    sequential = bool(spec.loop and spec.loop.get("sequential"))
    task.internal_data["call"] = {
        "status": "waiting",
        "definition_id": called.id,
        "total": len(starts),
        "started": 1 if sequential and starts else len(starts),
    }
    children = [
        _start_child(session, ctx, loaded, task, called, s, actor).id for s in (starts[:1] if sequential else starts)
    ]
    events.append(
        {
            "action": "call.started",
            "task_guid": str(task.id),
            "element_id": spec.bpmn_id,
            "data": {"called": called.key, "version": called.version, "children": children, "total": len(starts)},
        }
    )
    return None


def _start_child(
    session: Session,
    ctx: EngineContext,
    parent: LoadedInstance,
    task: Task,
    called: LoadedDefinition,
    start: Any,
    actor: str | None,
) -> Instance:
    workflow = ctx.runner.create(called.spec, called.subprocess_specs, start.data)
    link = {
        "parent_id": parent.row.id,
        "root_id": parent.row.root_id or parent.row.id,
        "parent_task_guid": str(task.id),
        "call_element": task.task_spec.bpmn_id,
        "call_index": start.index,
    }
    child = new_instance(
        session, ctx, called, workflow, business_key=start.business_key, unit_id=start.unit_id, actor=actor, link=link
    )
    failure = ctx.runner.advance(workflow)
    event = {
        "action": "instance.started",
        "data": {
            "definition": called.key,
            "version": called.version,
            "business_key": start.business_key,
            "unit": start.unit_id,
            "parent": parent.row.id,
            "root": link["root_id"],
            "call": task.task_spec.bpmn_id,
            "index": start.index,
            "data": json_safe(start.data),
        },
    }
    save_step(session, ctx, child, actor=actor, events=[event], failure=failure, status="running")
    return child.row


def _children(parent_id: int, task_guid: str) -> Any:
    return (
        select(Instance.call_index, Instance.status, Instance.output)
        .where(Instance.parent_id == parent_id, Instance.parent_task_guid == task_guid)
        .order_by(Instance.call_index)
    )


def _running(parent_id: int, task_guid: str) -> Any:
    """Where a call's children still run (not completed nor cancelled)."""
    return (Instance.parent_id == parent_id) & (Instance.parent_task_guid == task_guid) & Instance.status.in_(RUNNING)


def _running_children(session: Session, parent_id: int, task_guid: str) -> int:
    return int(session.scalar(select(func.count()).where(_running(parent_id, task_guid))) or 0)


def _settle(
    session: Session,
    ctx: EngineContext,
    loaded: LoadedInstance,
    task: Task,
    actor: str | None,
    events: list[dict[str, Any]],
) -> bool:
    """Complete the call (or start its next sequential child) once all its started children have ended."""
    guid = str(task.id)
    if _running_children(session, loaded.row.id, guid):
        return False
    call = task.internal_data["call"]
    spec: ExternalCall = task.task_spec
    if call["started"] < call["total"]:  # sequential: the next item's child
        called = load_definition(session, call["definition_id"])
        with using_clock(ctx.clock):
            starts = child_starts(task, called.data_names("inputs"), loaded.row.business_key, loaded.row.unit_id)
        child = _start_child(session, ctx, loaded, task, called, starts[call["started"]], actor)
        task.internal_data["call"] = {**call, "started": call["started"] + 1}
        events.append(
            {"action": "call.next", "task_guid": guid, "element_id": spec.bpmn_id, "data": {"child": child.id}}
        )
        return True
    rows = session.execute(_children(loaded.row.id, guid)).all()
    outputs = [r.output if r.status == "completed" else None for r in rows]
    apply_outputs(task, outputs)
    ended = {
        "completed": sum(r.status == "completed" for r in rows),
        "cancelled": sum(r.status != "completed" for r in rows),
    }
    events.append({"action": "call.completed", "task_guid": guid, "element_id": spec.bpmn_id, "data": ended})
    return True


def _abandon(
    session: Session,
    ctx: EngineContext,
    loaded: LoadedInstance,
    task: Task,
    actor: str | None,
    events: list[dict[str, Any]],
) -> None:
    from engine.services.instances import cancel_instance  # instances starts instances through this module

    guid = str(task.id)
    running = session.scalars(select(Instance.id).where(_running(loaded.row.id, guid)).order_by(Instance.id)).all()
    for child_id in running:
        cancel_instance(session, ctx, child_id, actor=actor, reason=f"call activity {task.task_spec.bpmn_id} ended")
    task.internal_data["call"] = {**task.internal_data["call"], "status": "abandoned"}
    events.append(
        {
            "action": "call.abandoned",
            "task_guid": guid,
            "element_id": task.task_spec.bpmn_id,
            "data": {"cancelled": list(running)},
        }
    )


def child_ended(
    session: Session,
    ctx: EngineContext,
    child: LoadedInstance,
    status: str,
    thrown: list[Any],
    actor: str | None,
) -> None:
    """A called instance ended (``status``) or threw errors/escalations (``thrown``): tell its parent."""
    row = child.row
    parent_id = row.parent_id
    if parent_id is None:
        return
    stepping = parent_id in _stepping(session)  # the parent's step is under way: it settles its calls itself
    parent_row = session.get(
        Instance,
        parent_id,
        with_for_update=not stepping and session.get_bind().dialect.name == "postgresql",
        populate_existing=not stepping,
    )
    if parent_row is None:
        return
    parent_definition = load_definition(session, parent_row.definition_id)
    spec = parent_definition.call_spec(row.call_element or "")
    if status == "completed" and spec is not None:  # the output first: a parent mid-step collects it right after
        workflow = child.workflow
        final = dict(workflow.last_task.data) if workflow.last_task is not None else dict(workflow.data)
        output = json_safe(child_output(ctx.script_engine, spec, child.definition.data_names("outputs"), final))
        session.execute(update(Instance).where(Instance.id == row.id).values(output=output))
    if stepping or parent_row.status != "running":
        return  # a suspended or failed parent settles its calls when it is resumed or retried
    if not thrown and _running_children(session, parent_id, row.parent_task_guid or ""):
        return
    parent = load_instance(session, ctx, parent_id, row=parent_row)
    task = find_task(parent.workflow, row.parent_task_guid or "")
    events: list[dict[str, Any]] = []
    if task is not None and thrown:
        with using_clock(ctx.clock):
            for event in thrown:
                parent.workflow.catch(BpmnEvent(event.event_definition, event.payload, target=task.workflow))
        events.append(
            {
                "action": "call.event",
                "task_guid": str(task.id),
                "element_id": task.task_spec.bpmn_id,
                "data": {"child": row.id, "events": [type(e.event_definition).__name__ for e in thrown]},
            }
        )
    failure = ctx.runner.advance(parent.workflow)
    save_step(session, ctx, parent, actor=actor, events=events, failure=failure)


def descendants(session: Session, instance_id: int, statuses: tuple[str, ...] | None = None) -> list[Instance]:
    """The instance's called instances, their called instances and so on (breadth first)."""
    found: list[Instance] = []
    frontier = [instance_id]
    while frontier:
        query = select(Instance).where(Instance.parent_id.in_(frontier)).order_by(Instance.id)
        level = list(session.scalars(query))
        found.extend(level)
        frontier = [r.id for r in level]
    return [r for r in found if statuses is None or r.status in statuses]
