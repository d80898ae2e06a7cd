"""Bench results: per-workload summaries, the headline figures, the machine, and the table printed on stdout."""

from __future__ import annotations

import math
import os
import platform
import sqlite3
import statistics
from pathlib import Path
from typing import Any

import SpiffWorkflow


def summary(timings: list[float]) -> dict[str, Any]:
    """Milliseconds: median, p50, p99; and how many per second one after another."""
    if not timings:
        return {"n": 0, "median_ms": None, "p99_ms": None, "per_s": None}
    ordered = sorted(timings)
    return {
        "n": len(ordered),
        "median_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 3),
        "per_s": round(len(ordered) / sum(ordered), 1),
    }


def ratio(engine: dict[str, Any], floor: dict[str, Any]) -> float | None:
    if not engine.get("median_ms") or not floor.get("median_ms"):
        return None
    return round(engine["median_ms"] / floor["median_ms"], 2)


def geometric_mean(values: list[float]) -> float | None:
    values = [v for v in values if v]
    return round(math.exp(sum(math.log(v) for v in values) / len(values)), 2) if values else None


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    import sqlalchemy

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": ram,
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "spiffworkflow": getattr(SpiffWorkflow, "__version__", None) or _dist_version("SpiffWorkflow"),
        "sqlalchemy": sqlalchemy.__version__,
    }


def _dist_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(results: dict[str, Any]) -> list[str]:
    """The stdout table: one line per workload and backend, then the headline figures against their budgets."""
    lines = [
        f"{'workload':28}{'db':>11}{'floor ms':>10}{'floor0 ms':>10}{'engine ms':>10}{'p99 ms':>9}"
        f"{'ratio':>7}{'ratio0':>7}{'compl/s':>9}{'starts/s':>9}"
    ]
    for row in results["workloads"]:
        for db, eng in row["engine"].items():
            floor, bare = row["floor"]["step"], row["floor_without_spec"]["step"]
            measure = "step" if row["step"] == "human" else "start"
            if measure == "start":
                floor, bare = row["floor"]["start"], row["floor_without_spec"]["start"]
            lines.append(
                f"{row['name'] + ('' if measure == 'step' else ' (start)'):28}{db:>11}"
                f"{_fmt(floor['median_ms'], '.3f'):>10}{_fmt(bare['median_ms'], '.3f'):>10}"
                f"{_fmt(eng[measure]['median_ms'], '.3f'):>10}{_fmt(eng[measure]['p99_ms'], '.2f'):>9}"
                f"{_fmt(eng['ratio'], '.2f'):>7}{_fmt(eng['ratio_without_spec'], '.2f'):>7}"
                f"{_fmt(eng['step']['per_s'], '.0f'):>9}{_fmt(eng['start']['per_s'], '.0f'):>9}"
            )
    for row in results["workloads"]:
        for db, eng in row["engine"].items():
            if eng.get("ratio_by_kind"):
                bare = eng.get("ratio_by_kind_without_spec", {})
                kinds = ", ".join(
                    f"{k} {_fmt(v, '.2f')} ({_fmt(bare.get(k), '.2f')})" for k, v in eng["ratio_by_kind"].items()
                )
                lines.append(f"{row['name']} on {db}, ratio (ratio0) by kind of step: {kinds}")
    lines.append("")
    budgets = [
        ("completion_vs_floor_ratio", "x", "<= 1.5 (geometric mean of the four human-step workloads)"),
        ("completion_vs_floor_ratio_sequence_5", "x", "<= 1.4 (sequence_5)"),
        ("pg_vs_sqlite_completion_ratio", "x", "<= 2 (PostgreSQL over SQLite per completion)"),
        ("http_vs_service_ratio", "x", ">= 0.7 (HTTP completions/s over the service level's, sequence_5)"),
        ("pg_scaleout_2_workers_ratio", "x", ">= 1.6 (2 gunicorn workers over 1, PostgreSQL)"),
        ("pg_timer_lateness_p99_s", "s", "< 0.5 (PostgreSQL, two scheduler processes)"),
        ("task_completions_per_s", "/s", ">= 500"),
        ("completion_p99_ms", "ms", ""),
        ("http_completions_per_s", "/s", "(gunicorn, loopback; no budget)"),
        ("inbox_p99_ms", "ms", "< 10 at 1M/100k"),
        ("overdue_query_ms", "ms", "< 100 at 1M/100k"),
        ("timer_lateness_p99_s", "s", "< 1"),
        ("bytes_per_finished_instance", "B", ""),
        ("province_p50_ratio_150_vs_7", "x", "<= 1.25 (a completion at 150 units against 7)"),
        ("province_max_state_bytes", "B", "<= 100,000 (the biggest instance state, 150 units)"),
        ("province_year_s", "s", "< 300 (the simulated year, 150 units)"),
    ]
    for key, unit, budget in budgets:
        value = results.get(key)
        lines.append(f"{key:32}{_fmt(value, ',.2f'):>14} {unit:3} {budget}")
    for run in results.get("http_runs") or ([results["http"]] if results.get("http") else []):
        lines.append(http_line(run))
    for run in (results.get("pg_scaleout") or {}).get("runs", []):
        share = run["cpu_share_of_cores"]
        lines.append(
            http_line(run) + f"; CPU share of the cores: database server {_fmt(share['database_server'], '.0%')},"
            f" gunicorn {_fmt(share['gunicorn'], '.0%')}, load generator {_fmt(share['load_generator'], '.0%')};"
            f" exactly once: {'yes' if run['exactly_once']['ok'] else 'NO'}"
        )
    timers_pg = results.get("timers_postgresql")
    if timers_pg:
        lines.append(
            f"timers postgresql {timers_pg['fired']:,} of {timers_pg['timers']:,} fired by {timers_pg['schedulers']}"
            f" scheduler processes {timers_pg['fired_by_owner']}: p50 {timers_pg['lateness_p50_s']:.2f} s,"
            f" p99 {timers_pg['lateness_p99_s']:.2f} s, max {timers_pg['lateness_max_s']:.2f} s;"
            f" exactly once: {'yes' if timers_pg['exactly_once'] else 'NO'}"
        )
    province = results.get("province") or {"runs": []}
    for run in province["runs"]:
        lines.append(province_line(run, province))
    for db, curve in results.get("scale", {}).items():
        for p in curve:
            lines.append(
                f"scale {db:10} {p['finished_instances']:>9,} finished / {p['open_tasks']:>7,} open:"
                f" inbox p99 {p['inbox']['p99_ms']:7.2f} ms, overdue {p['overdue']['median_ms']:7.1f} ms,"
                f" {p['bytes_per_finished_instance']:,} B/finished instance"
            )
    for note in results.get("notes", []):
        lines.append(f"note: {note}")
    return lines


def http_line(run: dict[str, Any]) -> str:
    return (
        f"http {run['backend']:11} gunicorn -w {run['workers']}, {run['clients']} clients:"
        f" {run['completions']:,} completions in {run['wall_s']:.1f} s, {_fmt(run['completions_per_s'], ',.0f')} /s,"
        f" p50 {_fmt(run['p50_ms'], '.1f')} ms, p99 {_fmt(run['p99_ms'], '.1f')} ms"
    )


def province_line(run: dict[str, Any], province: dict[str, Any]) -> str:
    return (
        f"province {run['units']:>4} units, {province['from']} .. {province['until']}: {run['completions']:,}"
        f" completions, p50 {_fmt(run['p50_ms'], '.1f')} ms, p99 {_fmt(run['p99_ms'], '.1f')} ms,"
        f" {run['year_s']:.1f} s, biggest state {run['max_state_bytes']:,} B ({run['max_state_key']};"
        f" {run.get('max_state_json_bytes') or 0:,} B of JSON before compression)"
    )


def markdown(results: dict[str, Any]) -> list[str]:
    """The results as markdown tables (what docs/PERFORMANCE.md shows)."""
    m = results["machine"]
    out = [
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM; {m['os']}; Python {m['python']}, "
        f"SpiffWorkflow {m['spiffworkflow']}, SQLAlchemy {m['sqlalchemy']}; "
        + ", ".join(str(v) for v in m.get("databases", {}).values()),
        "",
        "| workload | db | floor ms | floor0 ms | engine ms | engine p99 ms | ratio | ratio0 | completions/s "
        "| starts/s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["workloads"]:
        measure = "step" if row["step"] == "human" else "start"
        floor, bare = row["floor"][measure], row["floor_without_spec"][measure]
        for db, eng in row["engine"].items():
            name = row["name"] if measure == "step" else f"{row['name']} (per start)"
            out.append(
                f"| {name} | {db} | {_fmt(floor['median_ms'], '.3f')} | {_fmt(bare['median_ms'], '.3f')} "
                f"| {_fmt(eng[measure]['median_ms'], '.3f')} | {_fmt(eng[measure]['p99_ms'], '.2f')} "
                f"| {_fmt(eng['ratio'], '.2f')} | {_fmt(eng['ratio_without_spec'], '.2f')} "
                f"| {_fmt(eng['step']['per_s'], '.0f')} | {_fmt(eng['start']['per_s'], '.0f')} |"
            )
    runs = results.get("http_runs") or ([results["http"]] if results.get("http") else [])
    if runs:
        out += ["", "| HTTP | db | workers | clients | completions | completions/s | p50 ms | p99 ms |"]
        out.append("|---|---|---:|---:|---:|---:|---:|---:|")
        for run in runs:
            out.append(
                f"| {run['workload']} | {run['backend']} | {run['workers']} | {run['clients']} "
                f"| {run['completions']:,} | {_fmt(run['completions_per_s'], ',.0f')} "
                f"| {_fmt(run['p50_ms'], '.1f')} | {_fmt(run['p99_ms'], '.1f')} |"
            )
    out += [
        "",
        "| finished | open | db | seed s | bytes/finished | DB size | inbox p50 ms | inbox p99 ms "
        "| overdue report ms | overdue page ms | overdue listing ms | overdue rows |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for db, curve in results.get("scale", {}).items():
        for p in curve:
            o = p["overdue"]
            out.append(
                f"| {p['finished_instances']:,} | {p['open_tasks']:,} | {db} "
                f"| {p['seed_finished_s'] + p['seed_open_s']:.0f} | {p['bytes_per_finished_instance']:,} "
                f"| {p['database_bytes'] / 2**30:.2f} GB | {p['inbox']['p50_ms']:.2f} | {p['inbox']['p99_ms']:.2f} "
                f"| {_fmt(o.get('report', {}).get('median_ms'), '.1f')} "
                f"| {_fmt(o.get('page', {}).get('median_ms'), '.1f')} "
                f"| {_fmt(o.get('listing', {}).get('median_ms'), '.1f')} | {o['rows']:,} |"
            )
    province = results.get("province")
    if province:
        out += [
            "",
            f"Province simulation, {province['from']} .. {province['until']}, seed {province['seed']}:",
            "",
            "| units | completions | p50 ms | p99 ms | wall s | biggest state B | its process |",
            "|---:|---:|---:|---:|---:|---:|---|",
        ]
        for run in province["runs"]:
            out.append(
                f"| {run['units']} | {run['completions']:,} | {_fmt(run['p50_ms'], '.1f')} "
                f"| {_fmt(run['p99_ms'], '.1f')} | {run['year_s']:.1f} | {run['max_state_bytes']:,} "
                f"| {run['max_state_key']} |"
            )
    return out
