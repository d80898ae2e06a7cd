"""The engine at service level: each workload started and completed through our services on a real database.

One transaction per start and per completion, as a request handler does. The task id a person completes comes
from outside the timed part (their inbox would have shown it); the timed part is ``tasks.complete`` in its own
transaction, commit included.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from engine.bench.workloads import HUMAN, Workload
from engine.clock import ManualClock
from engine.core.runtime import WorkflowCache
from engine.persistence.db import make_session_factory
from engine.persistence.models import HumanTask, Membership, OrgUnit, Role, User
from engine.services import instances as instance_service
from engine.services import tasks as task_service
from engine.services.context import EngineContext
from engine.services.definitions import deploy

UNIT = "BENCH"
USER = "bench_user"


def bench_context() -> EngineContext:
    """The engine as the bench runs it. The bench completes one instance's steps one after another, so the
    workflow cache (``EngineContext.workflows``) would serve every step but the first, which people working on
    many items do not: it is off, and every step restores its workflow from its row."""
    return EngineContext(clock=ManualClock(datetime(2024, 3, 19, 2, 0, tzinfo=UTC)), workflows=WorkflowCache(size=0))


def prepare(engine: Engine, ctx: EngineContext, workloads: list[Workload]) -> sessionmaker[Session]:
    """One unit, one user holding every role the workloads' lanes name, and every workload deployed."""
    sessions = make_session_factory(engine)
    roles = sorted({r for w in workloads for r in w.roles})
    with sessions() as s, s.begin():
        s.add_all([OrgUnit(id=UNIT, name="Đơn vị đo"), User(id=USER, full_name="Người đo")])
        s.add_all([Role(id=r, name=r) for r in roles])
        s.flush()
        s.add_all([Membership(user_id=USER, role_id=r, unit_id=UNIT) for r in roles])
        for workload in workloads:
            deploy(s, workload.files, ctx.clock)
    return sessions


def run_engine(
    sessions: sessionmaker[Session], ctx: EngineContext, workload: Workload, instances: int
) -> dict[str, Any]:
    """Seconds per start and per completion, and how many instances ended (anything else is a bench bug)."""
    starts: list[float] = []
    steps: list[float] = []
    ids = []
    readers = make_session_factory(sessions.kw["bind"], read_only=True)  # the untimed look-up of the next task
    for _ in range(instances):
        t0 = time.perf_counter()
        with sessions() as s, s.begin():
            iid = instance_service.start_instance(s, ctx, key=workload.key, unit_id=UNIT, data=dict(workload.data)).id
        starts.append(time.perf_counter() - t0)
        ids.append(iid)
        while workload.step == HUMAN:
            with readers() as s:
                task_id = s.scalar(
                    select(HumanTask.id).where(HumanTask.instance_id == iid, HumanTask.status.in_(("open", "claimed")))
                )
            if task_id is None:
                break
            t0 = time.perf_counter()
            with sessions() as s, s.begin():
                task_service.complete(s, ctx, task_id, USER, dict(workload.submit))
            steps.append(time.perf_counter() - t0)
    with sessions() as s:
        from engine.persistence.models import Instance

        statuses = list(s.scalars(select(Instance.status).where(Instance.id.in_(ids))))
    return {"start": starts, "step": steps, "completed": statuses.count("completed"), "instances": len(ids)}
