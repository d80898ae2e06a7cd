"""Firing what falls due: BPMN timer events and a task's reminder, overdue and escalation steps.

The database is the source of truth. A scheduler claims due rows with a lease (so two schedulers don't both
start on the same row), then fires each in its own transaction whose first statement marks the row fired under a
``status = 'pending' AND lease_owner = :me`` guard: the effect and the mark commit together or not at all, so a
timer fires exactly once even when a lease ran out and another scheduler took the row over.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from engine.core.runtime import timer_due_dates
from engine.errors import ConflictError, EngineError
from engine.persistence.models import Instance, Timer
from engine.persistence.prepared import Prepared, detached
from engine.services.context import EngineContext
from engine.services.instance_store import LoadedInstance, load_instance_for_step, save_step

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=30)
_timers = Timer.metadata.tables["timer"]
_instances = Instance.metadata.tables["instance"]

_TIMER_NAMES = tuple(c.key for c in _timers.columns)
# Marks the timer fired and reads it back in one prepared statement (the row as it is now).
_MARK_FIRED = Prepared(
    update(_timers)
    .where(
        _timers.c.id == bindparam("b_id"),
        _timers.c.status == "pending",
        _timers.c.lease_owner == bindparam("b_owner"),
    )
    .values(status="fired", fired_at=bindparam("fired_at"))
    .returning(*_timers.columns)
)


def _due_ids(now: datetime, limit: int, postgres: bool) -> Any:
    query = (
        select(_timers.c.id)
        .join(_instances, _instances.c.id == _timers.c.instance_id)
        .where(
            _timers.c.status == "pending",
            _timers.c.due_at < now,  # strictly, as SpiffWorkflow compares
            or_(_timers.c.lease_until.is_(None), _timers.c.lease_until < now),
            _instances.c.status == "running",  # a suspended instance's timers wait for its resumption
        )
        .order_by(_timers.c.due_at, _timers.c.id)
        .limit(limit)
    )
    if postgres:
        query = query.with_for_update(of=_timers, skip_locked=True)
    return query


def claim_due_timers(session: Session, ctx: EngineContext, owner: str, limit: int = 500) -> list[int]:
    """Lease up to ``limit`` due timers to ``owner``; returns their ids, soonest first."""
    now = ctx.now()
    postgres = session.get_bind().dialect.name == "postgresql"
    ids = list(session.scalars(_due_ids(now, limit, postgres)))
    if ids:
        session.execute(
            update(Timer)
            .where(Timer.id.in_(ids))
            .values(lease_owner=owner, lease_until=now + LEASE)
            .execution_options(synchronize_session=False)
        )
    return ids


def fire_timer(session: Session, ctx: EngineContext, timer_id: int, owner: str) -> bool:
    """Fire one leased timer in the caller's transaction. False when it was already fired or taken over."""
    marked = _MARK_FIRED.all(session.connection(), {"b_id": timer_id, "b_owner": owner, "fired_at": ctx.now()})
    if not marked:
        return False
    timer = detached(Timer, dict(zip(_TIMER_NAMES, marked[0], strict=True)))  # read only: nothing writes it back
    if timer.kind == "bpmn_timer":
        _fire_bpmn_timer(session, ctx, timer)
    else:
        from engine.services.escalation import handle_timer

        handle_timer(session, ctx, timer)
    return True


def _fire_bpmn_timer(session: Session, ctx: EngineContext, timer: Timer) -> None:
    if timer.instance_id is None:
        return
    from engine.services.notifications import telling_next_steps  # notifications reach tasks

    loaded = load_instance_for_step(session, ctx, timer.instance_id)
    if loaded.row.status != "running":
        return
    # a task the timer opens (a periodic report falling due, the step after a disclosure period) is announced
    # to whoever may take it, as a person's step announces the next one
    with telling_next_steps(session, ctx, "scheduler", None):
        _advance_on_timer(session, ctx, loaded, timer)


def _advance_on_timer(session: Session, ctx: EngineContext, loaded: LoadedInstance, timer: Timer) -> None:
    failure = ctx.runner.advance(loaded.workflow)
    still_waiting = {str(task.id) for task, due in timer_due_dates(loaded.workflow) if due == timer.due_at}
    if failure is None and timer.task_guid in still_waiting:
        # SpiffWorkflow did not consider it due (clock skew between scheduler and row): try again later.
        raise ConflictError(f"timer {timer.id} is not due yet for its instance")
    event = {
        "action": "timer.fired",
        "task_guid": timer.task_guid,
        "element_id": timer.element_id,
        "data": {"due_at": timer.due_at.isoformat(), "fired_at": ctx.now().isoformat()},
    }
    save_step(session, ctx, loaded, actor="scheduler", events=[event], failure=failure)


# Timers fired per transaction: each in its own savepoint, so one that conflicts is retried alone, while the
# BEGIN/COMMIT (and on SQLite the write lock) is paid once per batch.
BATCH = 20


def _release(session: Session, timer_id: int, owner: str) -> None:
    # What the rolled-back savepoint wrote through Core may still sit in loaded objects: forget them.
    session.expire_all()
    session.execute(
        update(Timer)
        .where(Timer.id == timer_id, Timer.status == "pending", Timer.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )


def fire_due_timers(sessions: sessionmaker[Session], ctx: EngineContext, *, owner: str, limit: int = 500) -> int:
    """Claim what is due now and fire it, a batch of timers per transaction; returns how many fired."""
    with sessions() as session, session.begin():
        ids = claim_due_timers(session, ctx, owner, limit)
    fired = 0
    for start in range(0, len(ids), BATCH):
        with sessions() as session, session.begin():
            for timer_id in ids[start : start + BATCH]:
                try:
                    with session.begin_nested():
                        fired += fire_timer(session, ctx, timer_id, owner)
                except ConflictError as err:
                    # The instance moved on meanwhile (someone completed a task), or SpiffWorkflow does not see it
                    # due yet: the timer stays pending and is released at once for the next round.
                    log.info("timer %s deferred: %s", timer_id, err.message)
                    _release(session, timer_id, owner)
                except EngineError as err:
                    log.warning("timer %s failed: %s", timer_id, err.message)
                    _release(session, timer_id, owner)
    return fired
