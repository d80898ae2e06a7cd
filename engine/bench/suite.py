"""The whole bench in one run, so ratios hold on a noisy machine: floor, engine per backend, HTTP, scale, timers,
soak, the province simulation.

The headline figures (the JSON's top-level keys) come from SQLite, the backend the budgets are written for:
the completion ratio is the geometric mean of the per-workload median ratios over the workloads with human
steps; completions/s and p99 pool every completion of those workloads.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from engine.bench import report
from engine.bench.database import bench_database, server_version
from engine.bench.floor import run_floor
from engine.bench.province import SIZES
from engine.bench.scale import run_scale
from engine.bench.service import bench_context, prepare, run_engine
from engine.bench.workloads import HUMAN, Workload, all_workloads
from engine.services.context import EngineContext

HEADLINE = (
    "completion_vs_floor_ratio",
    "completion_vs_floor_ratio_sequence_5",
    "pg_vs_sqlite_completion_ratio",
    "http_vs_service_ratio",
    "pg_scaleout_2_workers_ratio",
    "pg_timer_lateness_p99_s",
    "task_completions_per_s",
    "completion_p99_ms",
    "http_completions_per_s",
    "inbox_p99_ms",
    "overdue_query_ms",
    "timer_lateness_p99_s",
    "bytes_per_finished_instance",
    "province_p50_ratio_150_vs_7",
    "province_max_state_bytes",
    "province_year_s",
)
WARM_UP = 3
# Rounds of floor and engine measurements, interleaved (see _service).
ROUNDS = 5
PARTS = ("service", "http", "scale", "timers", "soak", "province")  # service = floor + engine per workload
# --quick leaves the province simulation out: even with called processes as instances of their own, 19/3 to 30/6
# at 7, 50 and 150 units takes about a minute, as long as the rest of the quick run. --quick --only province runs
# it on that shorter range.
QUICK_PARTS = ("service", "http", "scale", "timers", "soak")
SQLITE_ONLY_PARTS = {"soak", "province"}  # timers run on PostgreSQL too (two scheduler processes)
PG_SCHEDULERS = 2  # scheduler processes sharing the timers on PostgreSQL
SCALEOUT_WORKERS = (1, 2)  # gunicorn workers of the PostgreSQL scale-out runs


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
    parts: set[str] | None = None  # None: every part
    sqlite: bool = True  # False: service, HTTP, scale and timers on PostgreSQL only (soak and province skipped)
    http_workers: int | None = None
    http_clients: int | None = None
    http_completions: int | None = None
    http_seconds: float | None = None  # the clients stop here if the completions are not done yet
    province_units: list[int] = field(default_factory=list)  # sizes of the province simulation (7, 50, 150)
    province_until: date | None = None  # its last simulated day (31/12; quick 30/6)

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
            parts=set(self.parts or (QUICK_PARTS if q else PARTS)) - (set() if self.sqlite else SQLITE_ONLY_PARTS),
            sqlite=self.sqlite,
            http_workers=self.http_workers or 4,
            http_clients=self.http_clients or 4,
            http_completions=self.http_completions or (1_500 if q else 20_000),
            http_seconds=self.http_seconds or (10.0 if q else 60.0),
            province_units=self.province_units or list(SIZES),
            province_until=self.province_until,
        )


def run_suite(options: Options, log: Callable[[str], None]) -> dict[str, Any]:
    opts = options.resolved()
    assert opts.instances is not None and opts.timers is not None and opts.soak_minutes is not None
    parts = opts.parts or set(PARTS)
    logging.getLogger("apscheduler").setLevel(logging.ERROR)  # "skipped: maximum instances" while a tick runs
    workloads, notes = all_workloads(opts.workloads)
    backends: list[tuple[str, str | None]] = [("sqlite", None)] if opts.sqlite else []
    if opts.pg_url:
        backends.append(("postgresql", opts.pg_url))
    results: dict[str, Any] = {"machine": report.machine(), "options": _describe(opts), "notes": notes}
    for key in HEADLINE:
        results[key] = None
    results["workloads"] = []
    results["scale"] = {}
    results["soak"] = None
    results["http"] = None
    results["province"] = None
    versions: dict[str, str] = {}
    if "service" in parts:
        _service(results, opts, workloads, backends, versions, notes, log)
    if "http" in parts:
        _http(results, opts, backends, notes, log)
    if "scale" in parts:
        for db, url in backends:
            points = opts.pg_scale_points if db == "postgresql" else opts.scale_points
            log(f"scale on {db}: {', '.join(f'{p:,}' for p in points)} finished instances")
            with bench_database(url, "scale") as engine:
                versions.setdefault(db, server_version(engine))
                results["scale"][db] = run_scale(engine, points, log=log)
        top = results["scale"].get("sqlite", [None])[-1]
        if top is not None:
            results["scale_headline_point"] = {
                "finished_instances": top["finished_instances"],
                "open_tasks": top["open_tasks"],
            }
            results["inbox_p99_ms"] = round(top["inbox"]["p99_ms"], 2)
            results["overdue_query_ms"] = round(top["overdue"]["median_ms"], 2)
            results["bytes_per_finished_instance"] = top["bytes_per_finished_instance"]
    results["machine"]["databases"] = versions

    human = [w for w in workloads if w.step == HUMAN and w.driver == "generic"]
    load = next((w for w in workloads if w.name == "sequence_5"), None) or (human[0] if human else None)
    if "timers" in parts or "soak" in parts:
        from engine.bench.timers import scheduler_available

        if load is None:
            notes.append("timers and soak skipped: no workload with human steps selected")
            parts = parts - {"timers", "soak"}
        elif not scheduler_available():
            notes.append("timer_lateness_p99_s is null: engine.scheduler / engine.services.timers not present")
            parts = parts - {"timers", "soak"}
    if "timers" in parts and opts.timers and load is not None:
        from engine.bench.timers import run_timers

        spread = opts.timer_spread_s or 10.0
        if opts.sqlite:
            log(f"timers: {opts.timers:,} falling due over {spread:.0f} s while {load.name} runs")
            with bench_database(None, "timers") as engine:
                timers = run_timers(engine, load, opts.timers, spread)
            results["timers"] = timers
            results["timer_lateness_p99_s"] = round(timers["lateness_p99_s"], 3)
            results["timer_lateness_p50_s"] = round(timers["lateness_p50_s"], 3)
        if opts.pg_url:
            log(f"timers on postgresql: {opts.timers:,} over {spread:.0f} s, {PG_SCHEDULERS} scheduler processes")
            with bench_database(opts.pg_url, "timers") as engine:
                timers = run_timers(engine, load, opts.timers, spread, schedulers=PG_SCHEDULERS)
            results["timers_postgresql"] = timers
            if timers["exactly_once"] and timers["fired"] == opts.timers:
                results["pg_timer_lateness_p99_s"] = round(timers["lateness_p99_s"], 3)
            else:
                notes.append(
                    f"timers on postgresql: {timers['fired']:,} of {opts.timers:,} fired, {timers['fired_events']:,}"
                    f" timer.fired events for {timers['instances_fired']:,} instances: pg_timer_lateness_p99_s is null"
                )

    if "soak" in parts and opts.soak_minutes and load is not None:
        from engine.bench.soak import run_soak

        log(f"soak: {opts.soak_minutes:g} minutes of mixed work, worker and scheduler RSS")
        with bench_database(None, "soak") as engine:
            results["soak"] = run_soak(engine, load, opts.soak_minutes)
    if "province" in parts:
        _province(results, opts, notes, log)
    _http_vs_service(results)
    results["notes"] = notes
    return results


def _http_vs_service(results: dict[str, Any]) -> None:
    """HTTP completions/s over the service level's ``sequence_5`` completions/s (one after another in one process),
    on the backend of the headline HTTP run; the other backend's under ``http_vs_service_by_backend``."""
    seq5 = next((r for r in results["workloads"] if r["name"] == "sequence_5"), None)
    if seq5 is None:
        return
    by_backend = {}
    for run in results.get("http_runs") or ([results["http"]] if results.get("http") else []):
        service = seq5["engine"].get(run["backend"], {}).get("step", {}).get("per_s")
        if service and run["completions_per_s"]:
            by_backend[run["backend"]] = round(run["completions_per_s"] / service, 2)
    results["http_vs_service_by_backend"] = by_backend
    if results.get("http"):
        results["http_vs_service_ratio"] = by_backend.get(results["http"]["backend"])


def _province(results: dict[str, Any], opts: Options, notes: list[str], log: Callable[[str], None]) -> None:
    """The province campaign simulated at each size on SQLite; the headline from the largest and smallest."""
    from engine.bench.province import run_province

    province = run_province(opts.province_units, until=opts.province_until, quick=opts.quick, log=log)
    results["province"] = province
    results["province_p50_ratio_150_vs_7"] = province["p50_ratio"]
    results["province_max_state_bytes"] = province["max_state_bytes"]
    results["province_year_s"] = province["year_s"]
    sizes = province["sizes"]
    if (sizes[0], sizes[-1]) != (7, 150):
        notes.append(f"province: sizes {sizes}; the province_* figures are {sizes[-1]} units (against {sizes[0]})")
    for run in province["runs"]:
        if run["errors"]:
            notes.append(f"province at {run['units']} units: {run['errors']} problems; first: {run['first_errors'][0]}")


def _http(
    results: dict[str, Any],
    opts: Options,
    backends: list[tuple[str, str | None]],
    notes: list[str],
    log: Callable[[str], None],
) -> None:
    """gunicorn and a loopback load generator per backend; the headline from the first (SQLite unless --pg-only)."""
    from engine.bench.http import HttpBenchError, run_http

    assert opts.http_workers and opts.http_clients and opts.http_completions and opts.http_seconds
    runs = []
    for db, url in backends:
        try:
            run = run_http(
                url,
                workers=opts.http_workers,
                clients=opts.http_clients,
                completions=opts.http_completions,
                seconds=opts.http_seconds,
                log=log,
            )
        except (HttpBenchError, OSError) as err:
            notes.append(f"http on {db} not measured: {err}")
            continue
        if run["errors"]:
            notes.append(f"http on {db} failed: non-2xx answers {run['errors']}; first: {run['first_errors'][:2]}")
            run["completions_per_s"] = None
        elif run["deadline_hit"]:
            notes.append(
                f"http on {db}: stopped after {opts.http_seconds:g} s with {run['completions']:,} of "
                f"{run['planned_completions']:,} completions"
            )
        elif run["completions"] != run["planned_completions"]:
            notes.append(f"http on {db}: {run['completions']:,} of {run['planned_completions']:,} completions")
        if run["completed_in_database"] != run["completions"]:
            notes.append(
                f"http on {db}: the database holds {run['completed_in_database']:,} completed tasks,"
                f" the clients counted {run['completions']:,}"
            )
        if db == "sqlite" and run["workers"] > 1:
            notes.append("http on sqlite: the workers' write transactions serialise on the one database write lock")
        runs.append(run)
    if not runs:
        if not backends:
            notes.append("http_completions_per_s is null: no backend to run on")
        return
    results["http"] = runs[0]
    if len(runs) > 1:
        results["http_runs"] = runs
    results["http_completions_per_s"] = runs[0]["completions_per_s"]
    pg_url = next((url for db, url in backends if db == "postgresql"), None)
    if pg_url is not None:
        _scaleout(results, opts, pg_url, notes, log)


def _scaleout(
    results: dict[str, Any], opts: Options, pg_url: str, notes: list[str], log: Callable[[str], None]
) -> None:
    """The same HTTP load on PostgreSQL with 1 and then 2 gunicorn workers; the ratio of completions/s, when both
    runs lost and doubled no step (``exactly_once``) and got no error answer."""
    from engine.bench.http import HttpBenchError, run_http

    assert opts.http_clients and opts.http_completions and opts.http_seconds
    runs = []
    for workers in SCALEOUT_WORKERS:
        try:
            run = run_http(
                pg_url,
                workers=workers,
                clients=opts.http_clients,
                completions=opts.http_completions,
                seconds=opts.http_seconds,
                log=log,
            )
        except (HttpBenchError, OSError) as err:
            notes.append(f"http scale-out on postgresql with {workers} worker(s) not measured: {err}")
            return
        runs.append(run)
    results["pg_scaleout"] = {
        "runs": runs,
        "database_server_share_of_cores": [r["cpu_share_of_cores"]["database_server"] for r in runs],
    }
    bad = [r for r in runs if r["errors"] or not r["exactly_once"]["ok"] or not r["completions_per_s"]]
    if bad:
        notes.append(
            "pg_scaleout_2_workers_ratio is null: "
            + "; ".join(f"-w {r['workers']}: errors {r['errors']}, checks {r['exactly_once']}" for r in bad)
        )
        return
    results["pg_scaleout_2_workers_ratio"] = round(runs[-1]["completions_per_s"] / runs[0]["completions_per_s"], 2)


def _service(
    results: dict[str, Any],
    opts: Options,
    workloads: list[Workload],
    backends: list[tuple[str, str | None]],
    versions: dict[str, str],
    notes: list[str],
    log: Callable[[str], None],
) -> None:
    """Floor and engine per workload and backend, and the completion headline (SQLite) from them.

    Measured in rounds (``ROUNDS``): in each, every workload's floor, then its engine on each backend, a share of
    the instances each. On a shared machine the CPU's speed drifts over minutes; measuring the floor of every
    workload first and the engine minutes later put that drift into the ratios (the same code gave 1.9 and 4.0 for
    sequence_5 in two quick runs an hour apart). Interleaved, both sides of a ratio see the same machine."""
    assert opts.instances is not None
    rounds = max(1, min(ROUNDS, opts.instances // 5))
    share = [opts.instances // rounds + (1 if n < opts.instances % rounds else 0) for n in range(rounds)]
    log(f"floor and engine: {len(workloads)} workloads x {opts.instances} instances, in {rounds} rounds")
    floors: list[dict[str, Any]] = [{} for _ in workloads]
    floors0: list[dict[str, Any]] = [{} for _ in workloads]
    runs: dict[str, list[dict[str, Any]]] = {db: [{} for _ in workloads] for db, _ in backends}
    with ExitStack() as stack:
        contexts = {}
        for db, url in backends:
            engine = stack.enter_context(bench_database(url, "service"))
            versions[db] = server_version(engine)
            ctx = bench_context()
            contexts[db] = (prepare(engine, ctx, [w for w in workloads if w.driver == "generic"]), ctx)
        for w in workloads:  # warm up: imports, specs parsed, statements prepared
            floor_run(w, WARM_UP)
            for sessions, ctx in contexts.values():
                engine_run(sessions, ctx, w, WARM_UP)
        for n, count in enumerate(share):
            log(f"round {n + 1} of {rounds}")
            for i, w in enumerate(workloads):
                if w.driver == "nomination" and n > 0:  # whole instances of 32 steps: measured in the first round
                    continue
                whole = count if w.driver != "nomination" else opts.instances
                _merge(floors[i], floor_run(w, whole))
                _merge(floors0[i], floor_run(w, whole, with_spec=False))
                for db, (sessions, ctx) in contexts.items():
                    if w.driver != "nomination":
                        engine_run(sessions, ctx, w, 1)  # the database's side warm again after the others ran
                    _merge(runs[db][i], engine_run(sessions, ctx, w, whole))
    rows: list[dict[str, Any]] = []
    for i, w in enumerate(workloads):
        rows.append(
            {
                "name": w.name,
                "step": w.step,
                "note": w.note,
                "in_headline": w.step == HUMAN and w.in_headline,
                "floor": {k: report.summary(v) for k, v in floors[i].items() if isinstance(v, list)},
                "floor_without_spec": {k: report.summary(v) for k, v in floors0[i].items() if isinstance(v, list)},
                "floor_counts": {k: v for k, v in floors[i].items() if not isinstance(v, list)},
                "engine": {},
                "rounds": rounds,
            }
        )
    pooled: dict[str, list[float]] = {}
    for db, _url in backends:
        for i, (w, row) in enumerate(zip(workloads, rows, strict=True)):
            raw = runs[db][i]
            if raw["completed"] != raw["instances"]:
                notes.append(f"{w.name} on {db}: only {raw['completed']} of {raw['instances']} instances ended")
            eng: dict[str, Any] = {k: report.summary(v) for k, v in raw.items() if isinstance(v, list)}
            eng |= {k: v for k, v in raw.items() if not isinstance(v, list)}
            measure = "step" if w.step == HUMAN else "start"
            eng["ratio"] = report.ratio(eng[measure], row["floor"][measure])
            eng["ratio_without_spec"] = report.ratio(eng[measure], row["floor_without_spec"][measure])
            kinds = [k for k in row["floor"] if k not in ("start", "step") and k in eng]
            if kinds:  # a workload with several kinds of step (nomination: form, council, tally, timer)
                eng["ratio_by_kind"] = {k: report.ratio(eng[k], row["floor"][k]) for k in kinds}
                eng["ratio_by_kind_without_spec"] = {
                    k: report.ratio(eng[k], row["floor_without_spec"][k]) for k in kinds
                }
            steps = row["floor_counts"].get("human_steps")
            if steps is not None and steps != raw.get("human_steps"):
                notes.append(f"{w.name} on {db}: {raw.get('human_steps')} human steps, the floor {steps}")
            row["engine"][db] = eng
            if row["in_headline"]:
                pooled.setdefault(db, []).extend(raw["step"])
    results["workloads"] = rows
    headline = [r for r in rows if r["in_headline"] and "sqlite" in r["engine"]]
    results["headline_workloads"] = [r["name"] for r in headline]
    sqlite_all = report.summary(pooled.get("sqlite", []))
    results["completion_vs_floor_ratio"] = report.geometric_mean([r["engine"]["sqlite"]["ratio"] for r in headline])
    results["completion_vs_floor_without_spec_ratio"] = report.geometric_mean(
        [r["engine"]["sqlite"]["ratio_without_spec"] for r in headline]
    )
    results["task_completions_per_s"] = sqlite_all["per_s"]
    results["completion_p99_ms"] = sqlite_all["p99_ms"]
    results["completion_p50_ms"] = sqlite_all["median_ms"]
    seq5 = next((r for r in headline if r["name"] == "sequence_5"), None)
    results["completion_vs_floor_ratio_sequence_5"] = seq5["engine"]["sqlite"]["ratio"] if seq5 else None
    if opts.pg_url:
        results["postgresql"] = {"completions": report.summary(pooled.get("postgresql", []))}
        both = [r for r in headline if "postgresql" in r["engine"]]
        for r in both:  # PostgreSQL's median completion over SQLite's, same workload, same run
            eng = r["engine"]
            eng["postgresql"]["vs_sqlite"] = report.ratio(eng["postgresql"]["step"], eng["sqlite"]["step"])
        results["pg_vs_sqlite_completion_ratio"] = report.geometric_mean(
            [r["engine"]["postgresql"]["vs_sqlite"] for r in both]
        )


def _merge(into: dict[str, Any], raw: dict[str, Any]) -> None:
    """One round's figures added to the workload's: samples appended, counts summed (on both sides alike)."""
    for key, value in raw.items():
        if isinstance(value, list):
            into.setdefault(key, []).extend(value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            into[key] = into.get(key, 0) + value
        else:
            into[key] = value


def floor_run(workload: Workload, instances: int, *, with_spec: bool = True) -> dict[str, Any]:
    if workload.driver == "nomination":
        from engine.bench.nomination import instances_for, run_nomination_floor

        return run_nomination_floor(workload, instances_for(instances), with_spec=with_spec)
    return dict(run_floor(workload, instances, with_spec=with_spec))


def engine_run(
    sessions: sessionmaker[Session], ctx: EngineContext, workload: Workload, instances: int
) -> dict[str, Any]:
    if workload.driver == "nomination":
        from engine.bench.nomination import instances_for, run_nomination_engine

        return run_nomination_engine(sessions, workload, instances_for(instances))
    return run_engine(sessions, ctx, workload, instances)


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
        "parts": sorted(opts.parts or PARTS),
        "sqlite": opts.sqlite,
        "http_workers": opts.http_workers,
        "http_clients": opts.http_clients,
        "http_completions": opts.http_completions,
        "http_seconds": opts.http_seconds,
        "province_units": opts.province_units if "province" in (opts.parts or PARTS) else None,
        "province_until": opts.province_until.isoformat() if opts.province_until else None,
    }


def default_pg_url(url: str | None) -> str | None:
    """An explicit ``--url``, else ``DATABASE_URL``; only PostgreSQL URLs (SQLite always runs, in a temp folder)."""
    chosen = url or os.environ.get("DATABASE_URL")
    return chosen if chosen and chosen.startswith("postgresql") else None
