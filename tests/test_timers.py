"""BPMN timers through the database and the scheduler's firing path, on a manual clock."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import func, select

from engine.persistence.models import AuditEvent, HumanTask, Instance, Timer
from engine.services import instances, tasks
from engine.services.audit import verify
from engine.services.context import EngineContext
from engine.services.instance_store import load_instance
from engine.services.timers import fire_due_timers
from tests.conftest import IS_POSTGRES
from tests.engine_helpers import deploy_files, make_org

TIMERS = Path(__file__).resolve().parent / "fixtures" / "timers"


@pytest.fixture
def ctx(clock):
    return EngineContext(clock=clock)


@pytest.fixture
def deployed(sessions, clock):
    with sessions() as s, s.begin():
        make_org(s)
        deploy_files(s, clock, TIMERS / "timers.bpmn", TIMERS / "nudged.bpmn")


def start(sessions, ctx, key):
    with sessions() as s, s.begin():
        return instances.start_instance(s, ctx, key=key, unit_id="SYT", actor="admin").id


def open_elements(sessions, iid):
    with sessions() as s:
        return sorted(
            s.scalars(
                select(HumanTask.element_id).where(
                    HumanTask.instance_id == iid, HumanTask.status.in_(("open", "claimed"))
                )
            )
        )


def pending_timers(sessions, iid):
    with sessions() as s:
        return list(s.scalars(select(Timer).where(Timer.instance_id == iid, Timer.status == "pending")))


def test_interrupting_boundary_timer_fires_once_when_due(sessions, ctx, clock, deployed):
    iid = start(sessions, ctx, "timed_review")
    [timer] = pending_timers(sessions, iid)
    assert (timer.kind, timer.element_id, timer.due_at) == (
        "bpmn_timer",
        "review_deadline",
        clock.now() + timedelta(days=2),
    )

    clock.advance(timedelta(days=1))
    assert fire_due_timers(sessions, ctx, owner="s1") == 0
    assert open_elements(sessions, iid) == ["review"]

    clock.advance(timedelta(days=1, seconds=1))
    assert fire_due_timers(sessions, ctx, owner="s1") == 1
    assert fire_due_timers(sessions, ctx, owner="s1") == 0
    assert open_elements(sessions, iid) == ["handle_late"]
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "timer.fired")) == 1
        cancelled = s.scalar(select(HumanTask.status).where(HumanTask.element_id == "review"))
        assert cancelled == "cancelled"
        assert verify(s).ok


def test_completing_in_time_cancels_the_timer(sessions, ctx, clock, deployed):
    iid = start(sessions, ctx, "timed_review")
    with sessions() as s, s.begin():
        task_id = s.scalar(select(HumanTask.id).where(HumanTask.instance_id == iid))
        tasks.complete(s, ctx, task_id, "cuong.head", {})
    assert pending_timers(sessions, iid) == []
    clock.advance(timedelta(days=5))
    assert fire_due_timers(sessions, ctx, owner="s1") == 0
    with sessions() as s:
        assert s.get(Instance, iid).status == "completed"


def test_non_interrupting_nudge_then_an_intermediate_wait(sessions, ctx, clock, deployed):
    iid = start(sessions, ctx, "nudged_report")
    clock.advance(timedelta(days=1, minutes=1))
    assert fire_due_timers(sessions, ctx, owner="s1") == 1
    assert open_elements(sessions, iid) == ["write_report"]  # still there: the timer did not interrupt
    with sessions() as s, s.begin():
        task_id = s.scalar(select(HumanTask.id).where(HumanTask.instance_id == iid, HumanTask.status == "open"))
        tasks.complete(s, ctx, task_id, "an.officer", {})
    [wait] = pending_timers(sessions, iid)
    assert (wait.element_id, wait.due_at) == ("cooling_off", clock.now() + timedelta(days=3))
    assert open_elements(sessions, iid) == []
    clock.advance(timedelta(days=3, seconds=1))
    assert fire_due_timers(sessions, ctx, owner="s1") == 1
    assert open_elements(sessions, iid) == ["publish"]
    with sessions() as s:  # the nudge ran on its own branch, which ended there
        workflow = load_instance(s, ctx, iid).workflow
        [nudge] = [t for t in workflow.get_tasks() if t.task_spec.bpmn_id == "nudge"]
        assert nudge.state == TaskState.COMPLETED and nudge.data["nudges"] == 1


def test_a_suspended_instance_keeps_its_timers_until_resumed(sessions, ctx, clock, deployed):
    iid = start(sessions, ctx, "timed_review")
    with sessions() as s, s.begin():
        instances.suspend_instance(s, ctx, iid, actor="admin")
    clock.advance(timedelta(days=3))
    assert fire_due_timers(sessions, ctx, owner="s1") == 0
    with sessions() as s, s.begin():
        instances.resume_instance(s, ctx, iid, actor="admin")  # the due timer fires on resumption
    assert open_elements(sessions, iid) == ["handle_late"]


def test_two_schedulers_at_once_fire_each_timer_exactly_once(sessions, ctx, clock, deployed):
    ids = [start(sessions, ctx, "timed_review") for _ in range(12)]
    clock.advance(timedelta(days=3))
    barrier = threading.Barrier(2)
    fired: dict[str, int] = {}

    def run(owner):
        barrier.wait(timeout=10)
        total = 0
        while (n := fire_due_timers(sessions, ctx, owner=owner, limit=3)) or total == 0:
            total += n
            if n == 0:
                break
        fired[owner] = total

    threads = [threading.Thread(target=run, args=(o,)) for o in ("s1", "s2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sum(fired.values()) == 12
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "timer.fired")) == 12
        assert verify(s).ok
    for iid in ids:
        assert open_elements(sessions, iid) == ["handle_late"]


@pytest.mark.skipif(not IS_POSTGRES, reason="two scheduler processes need a shared server database")
def test_two_scheduler_processes_on_postgres_fire_each_timer_once(sessions, ctx, clock, deployed):
    # The instances' clock is in 2024, so for the schedulers (on the system clock) every timer is long due.
    ids = [start(sessions, ctx, "timed_review") for _ in range(20)]
    tdkt = str(Path(sys.executable).with_name("tdkt"))
    env = dict(os.environ)
    procs = [
        subprocess.Popen(
            [tdkt, "scheduler", "--drain", "--owner", name],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("proc-a", "proc-b")
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    counts = [int(out.split()[1]) for out, _ in outputs]
    assert sum(counts) == 20, outputs
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "timer.fired")) == 20
        owners = set(s.scalars(select(Timer.lease_owner).where(Timer.status == "fired")))
        assert owners <= {"proc-a", "proc-b"}
    for iid in ids:
        assert open_elements(sessions, iid) == ["handle_late"]


def test_the_apscheduler_driven_scheduler_fires_a_due_timer_by_itself(sessions, ctx, clock, deployed):
    from engine.scheduler import TimerScheduler

    iid = start(sessions, ctx, "timed_review")
    clock.advance(timedelta(days=3))
    done = threading.Event()
    scheduler = TimerScheduler(sessions, ctx, owner="bg", after_tick=lambda: scheduler.fired and done.set())
    scheduler.start()
    try:
        assert done.wait(timeout=20), "the background scheduler did not fire the due timer"
    finally:
        scheduler.shutdown()
    assert scheduler.fired == 1
    assert open_elements(sessions, iid) == ["handle_late"]


def test_a_camunda_cron_cycle_is_due_on_the_clock_in_the_scheduler(sessions, ctx, clock):
    """``0 0/30 * * * ?`` started at 02:07 UTC (09:07 in Viet Nam) is first due at 02:30, then at 03:00, as Quartz
    fires it; not 30 minutes after the start."""
    with sessions() as s, s.begin():
        make_org(s)
        deploy_files(s, clock, TIMERS / "cron_reminder.bpmn")
    clock.advance(timedelta(minutes=7))
    iid = start(sessions, ctx, "cron_reminder")
    [timer] = pending_timers(sessions, iid)
    assert (timer.element_id, timer.due_at) == ("half_hour", datetime(2024, 3, 19, 2, 30, tzinfo=UTC))
    clock.advance(timedelta(minutes=22))
    assert fire_due_timers(sessions, ctx, owner="s1") == 0
    clock.advance(timedelta(minutes=1, seconds=1))
    assert fire_due_timers(sessions, ctx, owner="s1") == 1
    [timer] = pending_timers(sessions, iid)
    assert timer.due_at == datetime(2024, 3, 19, 3, 0, tzinfo=UTC)
    assert open_elements(sessions, iid) == ["check"]
