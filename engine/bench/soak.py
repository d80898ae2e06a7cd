"""Soak: the resident memory of a worker doing mixed work, and of a scheduler process beside it, over minutes.

The worker is this process running what a web worker runs (starts, completions, inbox pages, timer starts)
through the services; the scheduler is ``tdkt scheduler`` in its own process on the same database, firing the
timers the worker's instances set. Both are sampled every few seconds; "flat" is judged from the slope of a
least-squares line through the samples after the first minute (warm-up: caches, the spec cache, the allocator).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from engine.bench.scale import percentile
from engine.bench.timers import KEY as TIMER_KEY
from engine.bench.timers import TIMER_MODEL
from engine.bench.workloads import Workload
from engine.clock import SystemClock
from engine.persistence.models import HumanTask
from engine.services import instances as instance_service
from engine.services import tasks as task_service
from engine.services.context import EngineContext
from engine.services.definitions import deploy


def rss_bytes(pid: int | str = "self") -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _slope_mb_per_min(samples: list[tuple[float, int]]) -> float | None:
    if len(samples) < 3:
        return None
    xs = [t / 60 for t, _ in samples]
    ys = [b / 2**20 for _, b in samples]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else None


def _summary(samples: list[tuple[float, int]]) -> dict[str, Any]:
    if not samples:
        return {"start_mb": None, "end_mb": None, "max_mb": None, "slope_mb_per_min": None}
    settled = [s for s in samples if s[0] >= 60] or samples
    slope = _slope_mb_per_min(settled)
    return {
        "start_mb": round(samples[0][1] / 2**20, 1),
        "end_mb": round(samples[-1][1] / 2**20, 1),
        "max_mb": round(max(b for _, b in samples) / 2**20, 1),
        "slope_mb_per_min": None if slope is None else round(slope, 3),
    }


def run_soak(engine: Engine, load: Workload, minutes: float, *, sample_s: float = 5.0) -> dict[str, Any]:
    from engine.bench.service import UNIT, USER, prepare

    ctx = EngineContext(clock=SystemClock())
    sessions = prepare(engine, ctx, [load])
    with sessions() as s, s.begin():
        deploy(s, [("timer.bpmn", TIMER_MODEL)], ctx.clock)
    url = engine.url.render_as_string(hide_password=False)
    tdkt = Path(sys.executable).with_name("tdkt")
    scheduler = subprocess.Popen(  # noqa: S603 - our own command, arguments we built
        [str(tdkt), "scheduler", "--url", url, "--owner", "bench-soak"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker: list[tuple[float, int]] = []
    sched: list[tuple[float, int]] = []
    completions, latencies = 0, []
    began = time.monotonic()
    next_sample = began
    try:
        k = 0
        while time.monotonic() - began < minutes * 60:
            k += 1
            with sessions() as s, s.begin():
                iid = instance_service.start_instance(s, ctx, key=load.key, unit_id=UNIT, data=dict(load.data)).id
                if k % 5 == 0:  # a timer a few seconds out, for the scheduler
                    instance_service.start_instance(s, ctx, key=TIMER_KEY, unit_id=UNIT, data={"wait_for": "PT3S"})
            while True:
                with sessions() as s, s.begin():
                    task_service.inbox(s, ctx, USER, limit=50)
                    task_id = s.scalar(
                        select(HumanTask.id).where(HumanTask.instance_id == iid, HumanTask.status == "open")
                    )
                if task_id is None:
                    break
                t0 = time.perf_counter()
                with sessions() as s, s.begin():
                    task_service.complete(s, ctx, task_id, USER, dict(load.submit))
                latencies.append(time.perf_counter() - t0)
                completions += 1
            now = time.monotonic()
            if now >= next_sample:
                for samples, pid in ((worker, "self"), (sched, scheduler.pid)):
                    rss = rss_bytes(pid)
                    if rss is not None:
                        samples.append((now - began, rss))
                next_sample = now + sample_s
    finally:
        scheduler.terminate()
        try:
            scheduler.wait(timeout=30)
        except subprocess.TimeoutExpired:
            scheduler.kill()
            scheduler.wait()
    return {
        "minutes": minutes,
        "completions": completions,
        "completion_p99_ms": percentile(latencies, 0.99) * 1000 if latencies else None,
        "worker_rss": _summary(worker),
        "scheduler_rss": _summary(sched),
        "scheduler_exit_code": scheduler.returncode,
    }
