"""Timer lateness: many timers fall due while people complete tasks; a real scheduler thread on the system clock
fires them. Lateness is ``fired_at - due_at`` of each timer row (the scheduler stamps ``fired_at``).
"""

from __future__ import annotations

import importlib
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, text

from engine.bench.workloads import HUMAN, Workload
from engine.clock import SystemClock
from engine.persistence.models import HumanTask, Instance, Timer
from engine.services import instances as instance_service
from engine.services import tasks as task_service
from engine.services.context import EngineContext
from engine.services.definitions import deploy

KEY = "bench_timer"
TIMER_MODEL = (
    '<?xml version="1.0" encoding="UTF-8"?><bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"'
    ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="bt" targetNamespace="http://tdkt.example/bench">'
    f'<bpmn:process id="{KEY}" isExecutable="true"><bpmn:startEvent id="s" />'
    '<bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition id="wait_def">'
    # A duration, not a timeDate: timer_due_dates() skips TimeDateEventDefinition (its type name does not end
    # with "TimerEventDefinition"), so a timeDate timer gets no timer row and never fires (reported).
    '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">wait_for</bpmn:timeDuration></bpmn:timerEventDefinition>'
    '</bpmn:intermediateCatchEvent><bpmn:endEvent id="e" />'
    '<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="wait" />'
    '<bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="e" />'
    "</bpmn:process></bpmn:definitions>"
).encode()


def scheduler_available() -> bool:
    try:
        importlib.import_module("engine.scheduler")
        importlib.import_module("engine.services.timers")
    except ImportError:
        return False
    return True


def run_timers(
    engine: Engine, load: Workload, timers: int, spread_s: float, *, lead_s: float = 5.0, schedulers: int = 0
) -> dict[str, Any]:
    """Start ``timers`` instances whose timer falls due over ``spread_s`` seconds, then run the scheduler while
    ``load`` instances are started and completed in this thread until every timer fired (or a deadline passed).

    ``schedulers``: 0 runs one ``TimerScheduler`` thread in this process; N > 0 runs N ``tdkt scheduler``
    processes on the same database instead (PostgreSQL: they share the due timers through leases)."""
    from engine.bench.service import UNIT, USER, prepare
    from engine.scheduler import TimerScheduler

    ctx = EngineContext(clock=SystemClock())
    sessions = prepare(engine, ctx, [load])
    with sessions() as s, s.begin():
        deploy(s, [("timer.bpmn", TIMER_MODEL)], ctx.clock)
    # Scheduler processes start first (a process takes seconds to import and connect; that is not lateness).
    procs = _start_schedulers(engine, schedulers) if schedulers else []
    scheduler: TimerScheduler | None = None
    try:
        t0 = time.perf_counter()
        first_due = datetime.now(UTC) + timedelta(seconds=lead_s + timers * 0.006)  # ~6 ms per start below
        step = spread_s / timers
        for k in range(timers):
            wait = (first_due + timedelta(seconds=k * step) - datetime.now(UTC)).total_seconds()
            with sessions() as s, s.begin():
                data = {"wait_for": f"PT{max(wait, 0.0):.3f}S"}
                instance_service.start_instance(s, ctx, key=KEY, unit_id=UNIT, data=data)
        create_s = time.perf_counter() - t0
        if not procs:
            scheduler = TimerScheduler(sessions, ctx, owner="bench")
            scheduler.start()
        completions = 0
        deadline = time.monotonic() + max(0.0, (first_due - datetime.now(UTC)).total_seconds()) + spread_s + 30
        while time.monotonic() < deadline:
            with sessions() as s:
                pending = s.scalar(select(Timer.id).where(Timer.status == "pending").limit(1))
            if pending is None:
                break
            with sessions() as s, s.begin():
                iid = instance_service.start_instance(s, ctx, key=load.key, unit_id=UNIT, data=dict(load.data)).id
            while load.step == HUMAN:
                with sessions() as s:
                    task_id = s.scalar(
                        select(HumanTask.id).where(HumanTask.instance_id == iid, HumanTask.status == "open")
                    )
                if task_id is None:
                    break
                with sessions() as s, s.begin():
                    task_service.complete(s, ctx, task_id, USER, dict(load.submit))
                completions += 1
    finally:
        if scheduler is not None:
            scheduler.shutdown()
        exit_codes = _stop(procs)
    with sessions() as s:
        rows = s.execute(select(Timer.due_at, Timer.fired_at).where(Timer.kind == "bpmn_timer")).all()
        owners = dict(
            s.execute(
                select(Timer.lease_owner, func.count())
                .where(Timer.kind == "bpmn_timer", Timer.status == "fired")
                .group_by(Timer.lease_owner)
            ).all()
        )
        fired_events = s.execute(
            text(
                "SELECT count(*), count(DISTINCT instance_id) FROM audit_event"
                " WHERE action = 'timer.fired' AND instance_id IN (SELECT id FROM instance WHERE definition_key = :k)"
            ),
            {"k": KEY},
        ).one()
        ended = s.scalar(select(func.count()).where(Instance.definition_key == KEY, Instance.status == "completed"))
    late = sorted((f - d).total_seconds() for d, f in rows if f is not None)
    ordered = late or [float("nan")]
    return {
        "timers": timers,
        "fired": len(late),
        "spread_s": spread_s,
        "create_s": round(create_s, 1),
        "completions_meanwhile": completions,
        "lateness_p50_s": statistics.median(ordered),
        "lateness_p99_s": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "lateness_max_s": ordered[-1],
        "schedulers": schedulers or "thread",
        "fired_by_owner": {str(k): v for k, v in owners.items()},
        "scheduler_exit_codes": exit_codes,
        # exactly once: one timer.fired event per timer instance, every one of them ended
        "fired_events": int(fired_events[0]),
        "instances_fired": int(fired_events[1]),
        "instances_completed": int(ended or 0),
        "exactly_once": int(fired_events[0]) == int(fired_events[1]) == int(ended or 0) == timers,
    }


def _start_schedulers(engine: Engine, count: int) -> list[subprocess.Popen[bytes]]:
    """``count`` ``tdkt scheduler`` processes on the bench database, each returned once it says it is running."""
    url = engine.url.render_as_string(hide_password=False)
    tdkt = Path(sys.executable).with_name("tdkt")
    env = dict(os.environ, PYTHONUNBUFFERED="1")  # its "running" line reaches us at once
    procs = []
    for n in range(count):
        command = [str(tdkt), "scheduler", "--url", url, "--owner", f"bench-{n}"]
        procs.append(
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)  # noqa: S603
        )
    for proc in procs:
        assert proc.stdout is not None
        proc.stdout.readline()  # "scheduler ... running" once it has drained what was due and started
    return procs


def _stop(procs: list[subprocess.Popen[bytes]]) -> list[int | None]:
    for proc in procs:
        proc.terminate()
    codes: list[int | None] = []
    for proc in procs:
        try:
            codes.append(proc.wait(timeout=30))
        except subprocess.TimeoutExpired:
            proc.kill()
            codes.append(proc.wait())
        if proc.stdout is not None:
            proc.stdout.close()
    return codes
