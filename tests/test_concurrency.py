"""Two people complete the same task at the same moment: one wins, one gets a ConflictError, one step happens."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from engine.errors import ConflictError
from engine.persistence.models import AuditEvent, HumanTask, Instance
from engine.services import instances, tasks
from engine.services.audit import verify
from engine.services.context import EngineContext
from tests.engine_helpers import RUNTIME, deploy_files, make_org


def test_two_threads_complete_the_same_task(sessions, clock):
    ctx = EngineContext(clock=clock)
    with sessions() as s, s.begin():
        make_org(s)
        deploy_files(
            s, clock, RUNTIME / "plan_approval.bpmn", RUNTIME / "plan_draft.json", RUNTIME / "plan_review.json"
        )
        iid = instances.start_instance(s, ctx, key="plan_approval", unit_id="SYT", actor="an.officer").id
    with sessions() as s:
        task_id = s.scalar(select(HumanTask.id).where(HumanTask.instance_id == iid))

    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def worker(user: str) -> None:
        # Each thread has its own session, so its own connection (two connections on PostgreSQL).
        with sessions() as s:
            barrier.wait(timeout=10)
            try:
                with s.begin():
                    tasks.complete(s, ctx, task_id, user, {"title": f"Kế hoạch của {user}", "targets": 2})
                outcomes[user] = "ok"
            except ConflictError as err:
                outcomes[user] = err

    threads = [threading.Thread(target=worker, args=(u,)) for u in ("an.officer", "binh.officer")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert sorted(type(v).__name__ if v != "ok" else "ok" for v in outcomes.values()) == ["ConflictError", "ok"]
    with sessions() as s:
        assert s.get(Instance, iid).version == 2  # started (1), then exactly one step
        rows = list(s.scalars(select(HumanTask).where(HumanTask.instance_id == iid).order_by(HumanTask.id)))
        assert [(r.element_id, r.status) for r in rows] == [("draft_plan", "completed"), ("review_plan", "open")]
        completed = s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "task.completed"))
        assert completed == 1
        assert verify(s).ok


def test_two_people_completing_different_tasks_of_one_instance_both_succeed(sessions, clock):
    ctx = EngineContext(clock=clock)
    with sessions() as s, s.begin():
        make_org(s)
        deploy_files(s, clock, RUNTIME / "parallel_reports.bpmn")
        iid = instances.start_instance(s, ctx, key="parallel_reports", unit_id="SYT", actor="an.officer").id
    with sessions() as s:
        rows = dict(s.execute(select(HumanTask.element_id, HumanTask.id).where(HumanTask.instance_id == iid)).all())
    barrier = threading.Barrier(2)
    errors: list[Exception] = []

    def worker(user: str, task_id: int) -> None:
        with sessions() as s:
            barrier.wait(timeout=10)
            try:
                with s.begin():
                    tasks.complete(s, ctx, task_id, user, {})  # the reports have no form: no data
            except Exception as err:  # any failure, a conflict included, fails the test below
                errors.append(err)

    threads = [
        threading.Thread(target=worker, args=("an.officer", rows["report_a"])),
        threading.Thread(target=worker, args=("binh.officer", rows["report_b"])),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    with sessions() as s:
        inst = s.get(Instance, iid)
        assert (inst.status, inst.version) == ("completed", 3)
        assert verify(s).ok
