"""Scale: seed finished instances and open tasks in steps (10k -> 100k -> 1M) and measure at each point the
inbox page p99, the overdue query and the database bytes per finished instance.

Open tasks are a tenth of the finished instances at every point (100,000 at 1,000,000), over 200 units.
"""

from __future__ import annotations

import importlib
import statistics
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from engine.bench.bulk import drop_template, load_template, seed_range
from engine.bench.database import database_bytes
from engine.bench.seed import NOW, ROLES, UNITS, make_template, setup_org, user_id
from engine.clock import ManualClock
from engine.persistence.db import make_session_factory
from engine.persistence.models import HumanTask
from engine.services import tasks as task_service
from engine.services.context import EngineContext

OPEN = ("open", "claimed")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _overdue_listing(session: Session, ctx: EngineContext) -> int:
    """Every open task past its due date, soonest first: the fallback while no overdue service exists."""
    query = (
        select(HumanTask.id, HumanTask.instance_id, HumanTask.unit_id, HumanTask.role_id, HumanTask.due_at)
        .where(HumanTask.status.in_(OPEN), HumanTask.due_at < ctx.now())
        .order_by(HumanTask.due_at)
    )
    return len(session.execute(query).all())


def analyze(engine: Engine) -> float | None:
    """PostgreSQL: refresh the planner's statistics after a seed, as autovacuum would soon after a table grew
    this much (measured right away, the planner would still see the sizes of the previous point). Seconds taken;
    None on SQLite, whose planner has no statistics unless ANALYZE is run by hand (the engine never does)."""
    if engine.dialect.name != "postgresql":
        return None
    t0 = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - t0


def overdue_functions() -> dict[str, tuple[Callable[[Session, EngineContext], int], str]]:
    """What "finding every overdue task" is measured with: the overdue service's aggregate over every open task
    (the headline) and its first page when ``engine.services.overdue`` exists, and always a plain full listing."""
    found: dict[str, tuple[Callable[[Session, EngineContext], int], str]] = {}
    try:
        module = importlib.import_module("engine.services.overdue")
    except ImportError:
        module = None
    report = getattr(module, "overdue_report", None)
    if callable(report):
        found["report"] = (_adapt(report, lambda rows: sum(r.overdue for r in rows)), "overdue.overdue_report")
    page = getattr(module, "overdue_tasks", None)
    if callable(page):
        found["page"] = (_adapt(page, len), "overdue.overdue_tasks (first page, 100)")
    found["listing"] = (_overdue_listing, "every overdue task, ordered (bench's own query)")
    return found


def _adapt(fn: Callable[..., Any], count: Callable[[Any], int]) -> Callable[[Session, EngineContext], int]:
    def call(session: Session, ctx: EngineContext) -> int:
        return count(fn(session, ctx))

    return call


def measure_inbox(
    sessions: sessionmaker[Session], ctx: EngineContext, calls: int, budget_s: float = 60.0
) -> dict[str, Any]:
    """One page (50) of the inbox for users of many units and all roles; each call is its own transaction.
    Stops early (after at least 20 calls) once ``budget_s`` is spent, so a slow inbox cannot stall the run."""
    timings: list[float] = []
    sizes = []
    began = time.perf_counter()
    for k in range(calls):
        if k >= 20 and time.perf_counter() - began > budget_s:
            break
        uid = user_id(ROLES[k % len(ROLES)], (k * 37) % UNITS)
        t0 = time.perf_counter()
        with sessions() as s, s.begin():
            page = task_service.inbox(s, ctx, uid, limit=50)
        timings.append(time.perf_counter() - t0)
        sizes.append(len(page))
    return {
        "calls": len(timings),
        "p50_ms": statistics.median(timings) * 1000,
        "p99_ms": percentile(timings, 0.99) * 1000,
        "mean_page": statistics.mean(sizes),
    }


def measure_overdue(sessions: sessionmaker[Session], ctx: EngineContext, runs: int = 7) -> dict[str, Any]:
    """Median and max of each overdue query; ``median_ms`` / ``rows`` are the headline one's (the first)."""
    out: dict[str, Any] = {}
    for name, (fn, source) in overdue_functions().items():
        timings, count = [], 0
        for _ in range(runs):
            t0 = time.perf_counter()
            with sessions() as s, s.begin():
                count = fn(s, ctx)
            timings.append(time.perf_counter() - t0)
        row = {"median_ms": statistics.median(timings) * 1000, "max_ms": max(timings) * 1000, "rows": count}
        out[name] = row | {"source": source}
        out.setdefault("median_ms", row["median_ms"])
        out.setdefault("rows", count)
        out.setdefault("source", source)
    return out


def run_scale(
    engine: Engine, points: list[int], *, inbox_calls: int = 300, log: Callable[[str], None] = print
) -> list[dict[str, Any]]:
    """Grow the database through ``points`` (finished instances) and measure at each."""
    sessions = make_session_factory(engine)
    readers = make_session_factory(engine, read_only=True)
    ctx = EngineContext(clock=ManualClock(NOW))
    setup_org(sessions)
    template = make_template(sessions)
    load_template(engine, template)
    curve = []
    done_finished = done_open = 0
    try:
        for point in points:
            open_tasks = point // 10
            before = database_bytes(engine)
            t0 = time.perf_counter()
            seed_range(engine, template, "finished", done_finished + 1, point)
            seed_finished_s = time.perf_counter() - t0
            middle = database_bytes(engine)
            t0 = time.perf_counter()
            seed_range(engine, template, "running", done_open + 1, open_tasks)
            seed_open_s = time.perf_counter() - t0
            after = database_bytes(engine)
            per_finished = (middle - before) / (point - done_finished)
            done_finished, done_open = point, open_tasks
            analyze_s = analyze(engine)
            inbox = measure_inbox(readers, ctx, inbox_calls)
            overdue = measure_overdue(readers, ctx)
            row = {
                "finished_instances": point,
                "open_tasks": open_tasks,
                "seed_finished_s": round(seed_finished_s, 1),
                "seed_open_s": round(seed_open_s, 1),
                "analyze_s": None if analyze_s is None else round(analyze_s, 1),
                "database_bytes": after,
                "bytes_per_finished_instance": round(per_finished),
                "inbox": inbox,
                "overdue": overdue,
            }
            log(
                f"  scale {point:>9,} finished / {open_tasks:>7,} open:"
                f" seeded in {seed_finished_s + seed_open_s:6.1f} s,"
                f" inbox p99 {inbox['p99_ms']:7.2f} ms, overdue {overdue['median_ms']:7.1f} ms"
                f" ({overdue['rows']} rows), {per_finished:,.0f} B/finished instance"
            )
            curve.append(row)
    finally:
        drop_template(engine)
    return curve
