"""Process instances: the list (filtered, paged, scoped by unit), one instance, its history (audit trail),
starting one, cancel / suspend / resume / retry, and delivering messages and signals."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, jsonify, request

from api.authz import check_audit, check_instance, check_start, instance_scope, require_user, visible_tasks
from api.context import engine_context, read_sessions, sessions
from api.v1.audit import answer_format, csv_answer, rows_of
from api.v1.schemas import (
    AuditFormatQuery,
    History,
    InstanceAuditOut,
    InstanceDetail,
    InstancePage,
    InstanceQuery,
    MessageIn,
    MessageOut,
    ReasonIn,
    SignalIn,
    SignalOut,
    StartIn,
)
from api.v1.serialize import event_json, instance_json, task_json
from api.v1.spec import ID, api, responses
from engine.services import instances as service
from engine.services.api_reads import count_instances, instance_filters, page_instances
from engine.services.audit import events_for_instance
from engine.services.audit_views import instance_chain, timeline
from engine.services.instances import get_instance, start_instance
from engine.services.views import (
    called_instances,
    definition_of,
    in_units_condition,
    incidents_below,
    open_tasks_of,
    task_views,
)

bp = Blueprint("instances", __name__)
TAGS = ("instances",)


@bp.get("/instances")
@api.validate(query=InstanceQuery, resp=responses(HTTP_200=InstancePage), tags=TAGS)
def index() -> Any:
    """Instances, newest first: filtered by status, process, unit, business key or parent; only those of the
    caller's units unless they see every unit."""
    p = require_user()
    q: InstanceQuery = request.context.query  # type: ignore[attr-defined]
    conditions = instance_filters(
        status=q.status, process=q.process, unit=q.unit, business_key=q.business_key, parent=q.parent
    )
    scope = instance_scope(p)
    if scope is not None:
        conditions.append(in_units_condition(scope))
    with read_sessions()() as db:
        total = count_instances(db, conditions)
        rows = page_instances(db, conditions, q.limit, q.offset)
        found = [instance_json(r, *definition_of(db, r)[1:]) for r in rows]
    following = None
    if q.offset + len(rows) < total:
        args = {k: v for k, v in request.args.items() if k != "offset"}
        following = f"{request.path}?{urlencode({**args, 'offset': q.offset + q.limit})}"
    return jsonify(instances=found, total=total, limit=q.limit, offset=q.offset, next=following)


def _detail(instance_id: int) -> dict[str, Any]:
    p = require_user()
    ctx = engine_context()
    with read_sessions()() as db:
        row = get_instance(db, instance_id)
        check_instance(db, p, row)
        answer = instance_json(row, *definition_of(db, row)[1:])
        answer["open_tasks"] = [task_json(v) for v in task_views(db, ctx, visible_tasks(p, open_tasks_of(db, row.id)))]
        scope = instance_scope(p)
        answer["children"] = [instance_json(c) for c in called_instances(db, row.id, scope)]
        answer["incidents_below"] = [
            {"id": c.id, "definition": c.definition_key, "unit": c.unit_id, "incident": c.incident}
            for c in incidents_below(db, row.id)
            if scope is None or c.unit_id in scope
        ]
    return answer


@bp.get(f"/instances/<{ID}:instance_id>")
@api.validate(resp=responses(HTTP_200=InstanceDetail), tags=TAGS)
def show(instance_id: int) -> Any:
    """One instance with its definition, the open tasks the caller sees, its children and incidents below."""
    return jsonify(_detail(instance_id))


def _history(instance_id: int) -> Any:
    p = require_user()
    with read_sessions()() as db:
        row = get_instance(db, instance_id)
        check_audit(p, row)
        events = [event_json(e) for e in events_for_instance(db, row.id)]
    return jsonify(instance=instance_id, events=events)


@bp.get(f"/instances/<{ID}:instance_id>/history")
@api.validate(resp=responses(HTTP_200=History), tags=TAGS)
def history(instance_id: int) -> Any:
    """The instance's audit events, oldest first (auditors, administrators, the head of its unit)."""
    return _history(instance_id)


@bp.get(f"/instances/<{ID}:instance_id>/audit")
@api.validate(
    query=AuditFormatQuery,
    resp=responses(HTTP_200=None),  # two media types: described by api.v1.spec.document(), checked here
    tags=TAGS,
)
def audit(instance_id: int) -> Any:
    """The instance's audit trail, one row per event in words (the event type's label, the actor's and unit's
    names, the task's name from the BPMN) with its hashes, and whether the instance's chain verifies (auditors,
    administrators, the head of its unit). ``format=csv`` answers the same rows as ``text/csv``."""
    p = require_user()
    q: AuditFormatQuery = request.context.query  # type: ignore[attr-defined]
    fmt = answer_format(q.format)
    with read_sessions()() as db:
        row = get_instance(db, instance_id)
        check_audit(p, row)
        rows = rows_of(timeline(db, row))
        chain = instance_chain(db, row.id)
    if fmt == "csv":
        return csv_answer(rows, f"audit-instance-{instance_id}.csv")
    answer = {
        "instance": instance_id,
        "events": rows,
        "chain": {
            "ok": chain.ok,
            "events": chain.events,
            "head_seq": chain.head_seq,
            "head_hash": chain.head_hash,
            "bad_seq": chain.bad_seq,
            "reason": chain.reason,
        },
    }
    InstanceAuditOut.model_validate(answer)  # the JSON branch is checked here (spectree cannot check a CSV answer)
    return jsonify(answer)


@bp.post("/instances")
@api.validate(json=StartIn, resp=responses(HTTP_201=InstanceDetail), tags=TAGS)
def start() -> Any:
    """Start a process (administrators and Sở Nội vụ)."""
    p = require_user()
    check_start(p)
    data: StartIn = request.context.json  # type: ignore[attr-defined]
    with sessions()() as db, db.begin():
        row = start_instance(
            db,
            engine_context(),
            key=data.process,
            business_key=data.business_key,
            unit_id=data.unit,
            data=data.data or {},
            actor=p.user_id,
        )
        instance_id = row.id
    return jsonify(_detail(instance_id)), 201


def _change(instance_id: int, change: Any, *, with_reason: bool) -> Any:
    p = require_user()
    ctx = engine_context()
    reason = request.context.json.reason if with_reason else None  # type: ignore[attr-defined]
    with sessions()() as db, db.begin():
        get_instance(db, instance_id)
        if with_reason:
            change(db, ctx, instance_id, actor=p.user_id, reason=reason)
        else:
            change(db, ctx, instance_id, actor=p.user_id)
    return jsonify(_detail(instance_id))


@bp.post(f"/instances/<{ID}:instance_id>/cancel")
@api.validate(json=ReasonIn, resp=responses(HTTP_200=InstanceDetail), tags=TAGS)
def cancel(instance_id: int) -> Any:
    """Cancel the instance and the instances its calls started (a reason is kept in the audit trail)."""
    return _change(instance_id, service.cancel_instance, with_reason=True)


@bp.post(f"/instances/<{ID}:instance_id>/suspend")
@api.validate(json=ReasonIn, resp=responses(HTTP_200=InstanceDetail), tags=TAGS)
def suspend(instance_id: int) -> Any:
    """Suspend the instance and its children: no task completes, no timer fires until it is resumed."""
    return _change(instance_id, service.suspend_instance, with_reason=True)


@bp.post(f"/instances/<{ID}:instance_id>/resume")
@api.validate(json=ReasonIn, resp=responses(HTTP_200=InstanceDetail), tags=TAGS)
def resume(instance_id: int) -> Any:
    """Resume a suspended instance (timers that fell due meanwhile fire now)."""
    return _change(instance_id, service.resume_instance, with_reason=False)


@bp.post(f"/instances/<{ID}:instance_id>/retry")
@api.validate(json=ReasonIn, resp=responses(HTTP_200=InstanceDetail), tags=TAGS)
def retry(instance_id: int) -> Any:
    """Run the failed step of an instance in incident again (or of the instances below it)."""
    return _change(instance_id, service.retry_instance, with_reason=False)


@bp.post("/messages")
@api.validate(json=MessageIn, resp=responses(HTTP_200=MessageOut), tags=TAGS)
def message() -> Any:
    """Deliver a message to the one running instance waiting for it, found by business key or instance id."""
    p = require_user()
    data: MessageIn = request.context.json  # type: ignore[attr-defined]
    with sessions()() as db, db.begin():
        target = service.correlate_message(
            db,
            engine_context(),
            data.name,
            data.payload,
            business_key=data.business_key,
            instance_id=data.instance,
            actor=p.user_id,
        )
    return jsonify(instance=target)


@bp.post("/signals")
@api.validate(json=SignalIn, resp=responses(HTTP_200=SignalOut), tags=TAGS)
def signal() -> Any:
    """Broadcast a signal to every running instance waiting for it."""
    p = require_user()
    data: SignalIn = request.context.json  # type: ignore[attr-defined]
    with sessions()() as db, db.begin():
        targets = service.broadcast_signal(db, engine_context(), data.name, data.payload, actor=p.user_id)
    return jsonify(instances=targets)
