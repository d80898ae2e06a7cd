"""Instance use cases: start, cancel, suspend, resume, retry an incident, correlate messages and signals."""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core.spiff_clock import using_clock
from engine.errors import ConflictError, NotFoundError, ValidationError
from engine.persistence.models import MAX_VERSION, Definition, EventSubscription, Instance, OrgUnit
from engine.services.context import EngineContext
from engine.services.definitions import latest_definition, load_definition
from engine.services.instance_store import json_safe, load_instance, new_instance, save_step


def start_instance(
    session: Session,
    ctx: EngineContext,
    *,
    key: str,
    business_key: str | None = None,
    unit_id: str | None = None,
    data: dict[str, Any] | None = None,
    actor: str | None = None,
    version: int | None = None,
) -> Instance:
    """Start the latest (or the given) version of definition ``key`` and run it to its first wait states."""
    if data is not None and not isinstance(data, dict):
        raise ValidationError("initial data must be a JSON object", {"fields": {"data": "must be an object"}})
    if version is None:
        row = latest_definition(session, key)
    else:
        too_big = not 1 <= version <= MAX_VERSION
        query = select(Definition).where(Definition.key == key, Definition.version == version)
        found = None if too_big else session.scalar(query)
        if found is None:
            raise NotFoundError(f"no deployed process with key '{key}' version {version}")
        row = found
    if unit_id is not None and session.get(OrgUnit, unit_id) is None:
        raise NotFoundError(f"org unit '{unit_id}' not found", {"fields": {"unit_id": "unknown unit"}})
    definition = load_definition(session, row.id)
    initial = dict(data or {})
    workflow = ctx.runner.create(definition.spec, definition.subprocess_specs, initial)
    loaded = new_instance(session, ctx, definition, workflow, business_key=business_key, unit_id=unit_id, actor=actor)
    failure = ctx.runner.advance(workflow)
    events = [
        {
            "action": "instance.started",
            "data": {
                "definition": key,
                "version": definition.version,
                "business_key": business_key,
                "unit": unit_id,
                "data": json_safe(initial),
            },
        }
    ]
    save_step(session, ctx, loaded, actor=actor, events=events, failure=failure, status="running")
    return loaded.row


def get_instance(session: Session, instance_id: int) -> Instance:
    row = session.get(Instance, instance_id)
    if row is None:
        raise NotFoundError(f"instance {instance_id} not found")
    return row


def list_instances(
    session: Session,
    *,
    status: str | None = None,
    key: str | None = None,
    unit_id: str | None = None,
    business_key: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Instance]:
    query = select(Instance).order_by(Instance.id.desc()).limit(min(limit, 500)).offset(offset)
    if status:
        query = query.where(Instance.status == status)
    if key:
        query = query.where(Instance.definition_key == key)
    if unit_id:
        query = query.where(Instance.unit_id == unit_id)
    if business_key:
        query = query.where(Instance.business_key == business_key)
    return list(session.scalars(query))


def instance_data(session: Session, ctx: EngineContext, instance_id: int) -> dict[str, Any]:
    """The instance's current data (the last completed task's data for a finished one)."""
    loaded = load_instance(session, ctx, instance_id)
    workflow = loaded.workflow
    if workflow.is_completed():
        return json_safe(workflow.data) | json_safe(workflow.last_task.data if workflow.last_task else {})
    tasks = workflow.get_tasks(state=TaskState.ANY_MASK)
    latest = max(tasks, key=lambda t: t.last_state_change) if tasks else None
    return json_safe(latest.data if latest else {})


def _change_status(
    session: Session,
    ctx: EngineContext,
    instance_id: int,
    *,
    allowed: tuple[str, ...],
    to: str,
    action: str,
    actor: str | None,
    reason: str | None,
) -> Instance:
    loaded = load_instance(session, ctx, instance_id)
    if loaded.row.status not in allowed:
        raise ConflictError(f"instance {instance_id} is {loaded.row.status}; cannot {action.split('.')[-1]} it")
    if to == "cancelled":
        with using_clock(ctx.clock):
            loaded.workflow.cancel()
    events = [{"action": action, "data": {"reason": reason} if reason else {}}]
    save_step(session, ctx, loaded, actor=actor, events=events, status=to)
    _down_the_tree(session, ctx, instance_id, allowed, to, action, actor, reason)
    return loaded.row


def _down_the_tree(
    session: Session,
    ctx: EngineContext,
    instance_id: int,
    allowed: tuple[str, ...],
    to: str,
    action: str,
    actor: str | None,
    reason: str | None,
) -> None:
    """The same change for the instances this one's call activities started (and theirs, recursively)."""
    query = select(Instance.id).where(Instance.parent_id == instance_id, Instance.status.in_(allowed))
    for child_id in list(session.scalars(query.order_by(Instance.id))):
        if to == "running":
            resume_instance(session, ctx, child_id, actor=actor)
        else:
            why = reason or f"instance {instance_id} was {to}"
            _change_status(session, ctx, child_id, allowed=allowed, to=to, action=action, actor=actor, reason=why)


def cancel_instance(
    session: Session, ctx: EngineContext, instance_id: int, *, actor: str | None, reason: str | None = None
) -> Instance:
    return _change_status(
        session,
        ctx,
        instance_id,
        allowed=("running", "suspended", "incident"),
        to="cancelled",
        action="instance.cancelled",
        actor=actor,
        reason=reason,
    )


def suspend_instance(
    session: Session, ctx: EngineContext, instance_id: int, *, actor: str | None, reason: str | None = None
) -> Instance:
    return _change_status(
        session,
        ctx,
        instance_id,
        allowed=("running", "incident"),
        to="suspended",
        action="instance.suspended",
        actor=actor,
        reason=reason,
    )


def resume_instance(session: Session, ctx: EngineContext, instance_id: int, *, actor: str | None) -> Instance:
    loaded = load_instance(session, ctx, instance_id)
    if loaded.row.status != "suspended":
        raise ConflictError(f"instance {instance_id} is {loaded.row.status}, not suspended")
    # Children first: a child that ended while everything was suspended is then seen by the parent's step.
    _down_the_tree(session, ctx, instance_id, ("suspended",), "running", "instance.resumed", actor, None)
    failure = ctx.runner.advance(loaded.workflow)  # timers that fell due while suspended fire now
    save_step(
        session, ctx, loaded, actor=actor, events=[{"action": "instance.resumed"}], failure=failure, status="running"
    )
    return loaded.row


def retry_instance(session: Session, ctx: EngineContext, instance_id: int, *, actor: str | None) -> Instance:
    """Run the failed step again, e.g. after the missing connector was registered. An instance whose called
    instances stopped on incidents retries those (its own call activities wait on them)."""
    loaded = load_instance(session, ctx, instance_id)
    if loaded.row.status != "incident":
        from engine.services.calls import descendants

        failed = descendants(session, instance_id, ("incident",))
        if not failed:
            raise ConflictError(f"instance {instance_id} has no incident to retry (it is {loaded.row.status})")
        for child in failed:
            retry_instance(session, ctx, child.id, actor=actor)
        return loaded.row
    failure = ctx.runner.retry(loaded.workflow)
    save_step(
        session, ctx, loaded, actor=actor, events=[{"action": "instance.retried"}], failure=failure, status="running"
    )
    return loaded.row


def _subscribed(session: Session, kind: str, name: str, business_key: str | None, instance_id: int | None) -> list[int]:
    query = (
        select(EventSubscription.instance_id)
        .join(Instance, Instance.id == EventSubscription.instance_id)
        .where(EventSubscription.kind == kind, EventSubscription.name == name, Instance.status == "running")
        .order_by(EventSubscription.instance_id)
    )
    if business_key is not None:
        query = query.where(Instance.business_key == business_key)
    if instance_id is not None:
        query = query.where(Instance.id == instance_id)
    return list(dict.fromkeys(session.scalars(query)))


def _deliver(
    session: Session,
    ctx: EngineContext,
    instance_id: int,
    kind: str,
    name: str,
    payload: dict[str, Any],
    actor: str | None,
) -> None:
    loaded = load_instance(session, ctx, instance_id)
    workflow = loaded.workflow
    delivered = False
    with using_clock(ctx.clock):
        for task in list(workflow.event_manager.tasks.values()):
            definition = task.task_spec.event_definition
            if getattr(definition, "name", None) != name:
                continue
            if kind == "message" and isinstance(definition, MessageEventDefinition):
                body: Any = payload
                if hasattr(definition, "result_var"):  # Camunda flavour keeps payload and target apart
                    body = {"payload": payload, "result_var": definition.result_var}
                workflow.catch(BpmnEvent(definition, body))
                delivered = True
                break
            if kind == "signal":
                workflow.catch(BpmnEvent(definition, payload))
                delivered = True
                break
    if not delivered:
        raise ConflictError(f"instance {instance_id} is not waiting for {kind} '{name}'")
    failure = ctx.runner.advance(workflow)
    events = [{"action": f"{kind}.received", "data": {"name": name, "payload": json_safe(payload)}}]
    save_step(session, ctx, loaded, actor=actor, events=events, failure=failure)


def correlate_message(
    session: Session,
    ctx: EngineContext,
    name: str,
    payload: dict[str, Any] | None = None,
    *,
    business_key: str | None = None,
    instance_id: int | None = None,
    actor: str | None = None,
) -> int:
    """Deliver a message to the one running instance waiting for it; returns that instance's id."""
    targets = _subscribed(session, "message", name, business_key, instance_id)
    if not targets:
        raise NotFoundError(f"no running instance waits for message '{name}'")
    if len(targets) > 1:
        raise ConflictError(
            f"{len(targets)} instances wait for message '{name}'; give a business key or an instance id",
            {"instances": targets},
        )
    _deliver(session, ctx, targets[0], "message", name, payload or {}, actor)
    return targets[0]


def broadcast_signal(
    session: Session,
    ctx: EngineContext,
    name: str,
    payload: dict[str, Any] | None = None,
    *,
    actor: str | None = None,
) -> list[int]:
    """Deliver a signal to every running instance waiting for it."""
    targets = _subscribed(session, "signal", name, None, None)
    for target in targets:
        _deliver(session, ctx, target, "signal", name, payload or {}, actor)
    return targets
