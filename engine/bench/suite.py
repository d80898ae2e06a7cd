"""The whole bench in one run, so ratios hold on a noisy machine: floor, engine per backend, scale, timers, soak.

The headline figures (the JSON's top-level keys) come from SQLite, the backend the budgets are written for:
the completion ratio is the geometric mean of the per-workload median ratios over the workloads with human
steps; completions/s and p99 pool every completion of those workloads.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.bench import report
from engine.bench.database import bench_database, server_version
from engine.bench.floor import run_floor
from engine.bench.scale import run_scale
from engine.bench.service import bench_context, prepare, run_engine
from engine.bench.workloads import HUMAN, all_workloads

HTTP_NOTE = "http_completions_per_s is null: the REST API has no task-completion endpoint yet"
WARM_UP = 3


@dataclass
class Options:
    quick: bool = False
    pg_url: str | None = None
    instances: int | None = None
    scale_points: list[int] = field(default_factory=list)
    pg_scale_points: list[int] = field(default_factory=list)
    timers: int | None = None
    timer_spread_s: float | None = None
    soak_minutes: float | None = None
    workloads: set[str] | None = None

    def resolved(self) -> Options:
        q = self.quick
        return Options(
            quick=q,
            pg_url=self.pg_url,
            instances=self.instances or (20 if q else 200),
            scale_points=self.scale_points or ([10_000] if q else [10_000, 100_000, 1_000_000]),
            pg_scale_points=self.pg_scale_points
            or self.scale_points
            or ([10_000] if q else [10_000, 100_000, 1_000_000]),
            timers=self.timers if self.timers is not None else (1_000 if q else 10_000),
            timer_spread_s=self.timer_spread_s or (10.0 if q else 60.0),
            soak_minutes=self.soak_minutes if self.soak_minutes is not None else (0.0 if q else 10.0),
            workloads=self.workloads,
        )


def run_suite(options: Options, log: Callable[[str], None]) -> dict[str, Any]:
    opts = options.resolved()
    assert opts.instances is not None and opts.timers is not None and opts.soak_minutes is not None
    logging.getLogger("apscheduler").setLevel(logging.ERROR)  # "skipped: maximum instances" while a tick runs
    workloads, notes = all_workloads(opts.workloads)
    backends: list[tuple[str, str | None]] = [("sqlite", None)]
    if opts.pg_url:
        backends.append(("postgresql", opts.pg_url))
    results: dict[str, Any] = {"machine": report.machine(), "options": _describe(opts), "notes": [*notes, HTTP_NOTE]}

    log(f"floor: {len(workloads)} workloads x {opts.instances} instances")
    rows: list[dict[str, Any]] = []
    for w in workloads:
        run_floor(w, WARM_UP)
        with_spec = run_floor(w, opts.instances)
        without = run_floor(w, opts.instances, with_spec=False)
        rows.append(
            {
                "name": w.name,
                "step": w.step,
                "note": w.note,
                "floor": {k: report.summary(v) for k, v in with_spec.items()},
                "floor_without_spec": {k: report.summary(v) for k, v in without.items()},
                "engine": {},
            }
        )
    versions = {}
    pooled: dict[str, list[float]] = {}
    for db, url in backends:
        log(f"engine on {db}")
        with bench_database(url, "service") as engine:
            versions[db] = server_version(engine)
            ctx = bench_context()
            sessions = prepare(engine, ctx, workloads)
            for w, row in zip(workloads, rows, strict=True):
                run_engine(sessions, ctx, w, WARM_UP)
                raw = run_engine(sessions, ctx, w, opts.instances)
                if raw["completed"] != raw["instances"]:
                    notes.append(f"{w.name} on {db}: only {raw['completed']} of {raw['instances']} instances ended")
                eng: dict[str, Any] = {k: report.summary(raw[k]) for k in ("start", "step")}
                measure = "step" if w.step == HUMAN else "start"
                eng["ratio"] = report.ratio(eng[measure], row["floor"][measure])
                eng["ratio_without_spec"] = report.ratio(eng[measure], row["floor_without_spec"][measure])
                row["engine"][db] = eng
                if w.step == HUMAN:
                    pooled.setdefault(db, []).extend(raw["step"])
    results["machine"]["databases"] = versions
    results["workloads"] = rows
    human = [r for r in rows if r["step"] == HUMAN]
    sqlite_all = report.summary(pooled.get("sqlite", []))
    results["completion_vs_floor_ratio"] = report.geometric_mean([r["engine"]["sqlite"]["ratio"] for r in human])
    results["completion_vs_floor_without_spec_ratio"] = report.geometric_mean(
        [r["engine"]["sqlite"]["ratio_without_spec"] for r in human]
    )
    results["task_completions_per_s"] = sqlite_all["per_s"]
    results["completion_p99_ms"] = sqlite_all["p99_ms"]
    results["completion_p50_ms"] = sqlite_all["median_ms"]
    results["http_completions_per_s"] = None
    if opts.pg_url:
        results["postgresql"] = {"completions": report.summary(pooled.get("postgresql", []))}

    results["scale"] = {}
    for db, url in backends:
        points = opts.pg_scale_points if db == "postgresql" else opts.scale_points
        log(f"scale on {db}: {', '.join(f'{p:,}' for p in points)} finished instances")
        with bench_database(url, "scale") as engine:
            results["scale"][db] = run_scale(engine, points, log=log)
    top = results["scale"]["sqlite"][-1]
    results["scale_headline_point"] = {"finished_instances": top["finished_instances"], "open_tasks": top["open_tasks"]}
    results["inbox_p99_ms"] = round(top["inbox"]["p99_ms"], 2)
    results["overdue_query_ms"] = round(top["overdue"]["median_ms"], 2)
    results["bytes_per_finished_instance"] = top["bytes_per_finished_instance"]

    results["timer_lateness_p99_s"] = None
    load = next((w for w in workloads if w.name == "sequence_5"), None) or next(w for w in workloads if w.step == HUMAN)
    from engine.bench.timers import run_timers, scheduler_available

    if not scheduler_available():
        notes.append("timer_lateness_p99_s is null: engine.scheduler / engine.services.timers not present")
    elif opts.timers:
        log(f"timers: {opts.timers:,} falling due over {opts.timer_spread_s:.0f} s while {load.name} runs")
        with bench_database(None, "timers") as engine:
            timers = run_timers(engine, load, opts.timers, opts.timer_spread_s or 10.0)
        results["timers"] = timers
        results["timer_lateness_p99_s"] = round(timers["lateness_p99_s"], 3)
        results["timer_lateness_p50_s"] = round(timers["lateness_p50_s"], 3)

    if opts.soak_minutes and scheduler_available():
        from engine.bench.soak import run_soak

        log(f"soak: {opts.soak_minutes:g} minutes of mixed work, worker and scheduler RSS")
        with bench_database(None, "soak") as engine:
            results["soak"] = run_soak(engine, load, opts.soak_minutes)
    else:
        results["soak"] = None
    results["notes"] = notes + [HTTP_NOTE] if HTTP_NOTE not in notes else notes
    return results


def _describe(opts: Options) -> dict[str, Any]:
    return {
        "quick": opts.quick,
        "postgresql": bool(opts.pg_url),
        "instances_per_workload": opts.instances,
        "scale_points": opts.scale_points,
        "pg_scale_points": opts.pg_scale_points if opts.pg_url else None,
        "timers": opts.timers,
        "timer_spread_s": opts.timer_spread_s,
        "soak_minutes": opts.soak_minutes,
    }


def default_pg_url(url: str | None) -> str | None:
    """An explicit ``--url``, else ``DATABASE_URL``; only PostgreSQL URLs (SQLite always runs, in a temp folder)."""
    chosen = url or os.environ.get("DATABASE_URL")
    return chosen if chosen and chosen.startswith("postgresql") else None
