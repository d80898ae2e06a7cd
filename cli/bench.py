"""``tdkt bench``: the engine against plain SpiffWorkflow on the same models, at scale, with DESIGN.md's budgets.

Everything runs in temporary databases: a SQLite file in a temporary folder, and, when a PostgreSQL URL is
given (``--url`` or ``DATABASE_URL``), a database the bench creates beside the named one and drops afterwards.
The machinery lives in ``engine.bench`` and is imported only when the command runs.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click


def _points(value: str | None) -> list[int]:
    if not value:
        return []
    try:
        points = [int(v.replace("_", "")) for v in value.split(",") if v.strip()]
    except ValueError as err:
        raise click.BadParameter("give comma-separated whole numbers, e.g. 10000,100000", param_hint="--scale") from err
    if any(p < 10 for p in points) or points != sorted(set(points)):
        raise click.BadParameter("sizes must be increasing and at least 10", param_hint="--scale")
    return points


def _sizes(value: str | None) -> list[int]:
    """Province sizes: increasing unit counts, each at least 2 and at most the campaign's participating units."""
    if not value:
        return []
    try:
        sizes = [int(v) for v in value.split(",") if v.strip()]
    except ValueError as err:
        hint = "--province-units"
        raise click.BadParameter("give comma-separated whole numbers, e.g. 7,50,150", param_hint=hint) from err
    from engine.bench.province import province_campaign

    most = len(province_campaign().units)
    if not sizes or sizes != sorted(set(sizes)) or sizes[0] < 2 or sizes[-1] > most:
        raise click.BadParameter(f"sizes must be increasing, from 2 to {most}", param_hint="--province-units")
    return sizes


@click.command("bench")
@click.option(
    "--quick", is_flag=True, help="A short run (about a minute): 10k at scale, 1,000 timers, no soak, seconds of HTTP."
)
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write results here.")
@click.option("--markdown", "md_path", type=click.Path(dir_okay=False, path_type=Path), help="Tables as markdown.")
@click.option("--url", help="PostgreSQL URL: also run there, in a database the bench creates and drops.")
@click.option("--instances", type=click.IntRange(min=1), help="Instances per workload (default 200; quick 20).")
@click.option("--scale", "scale", help="Finished-instance counts, e.g. 10000,100000,1000000 (the default).")
@click.option("--pg-scale", "pg_scale", help="Finished-instance counts on PostgreSQL (default: as --scale).")
@click.option("--timers", type=click.IntRange(min=0), help="Timers falling due (default 10,000; quick 1,000).")
@click.option("--timer-spread", type=click.FloatRange(min=1), help="Seconds they fall due over (default 60).")
@click.option("--soak-minutes", type=click.FloatRange(min=0), help="Memory soak length (default 10; quick 0).")
@click.option("--workload", "workloads", multiple=True, help="Only these workloads (repeatable).")
@click.option(
    "--only",
    "parts",
    multiple=True,
    type=click.Choice(["service", "http", "scale", "timers", "soak", "province"]),
    help="Only these parts (repeatable; service = floor and engine per workload; http = gunicorn and a load "
    "generator; province = the province campaign simulated at several sizes, not in --quick unless named).",
)
@click.option(
    "--pg-only",
    is_flag=True,
    help="Service, HTTP, scale and timers on PostgreSQL only (needs --url; no soak, province).",
)
@click.option("--http-workers", type=click.IntRange(min=1), help="gunicorn workers for the HTTP part (default 4).")
@click.option("--http-clients", type=click.IntRange(min=1), help="Concurrent HTTP clients (default 4).")
@click.option(
    "--http-completions", type=click.IntRange(min=1), help="Task completions over HTTP (default 20,000; quick 1,500)."
)
@click.option(
    "--http-seconds", type=click.FloatRange(min=1), help="The HTTP clients stop after this long (default 60; quick 10)."
)
@click.option(
    "--province-units", "province_units", help="Sizes of the province simulation in units (default 7,50,150)."
)
@click.option(
    "--province-until",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Last simulated day of the province campaign (default 2024-12-31; quick 2024-06-30).",
)
def command(
    quick: bool,
    json_path: Path | None,
    md_path: Path | None,
    url: str | None,
    instances: int | None,
    scale: str | None,
    pg_scale: str | None,
    timers: int | None,
    timer_spread: float | None,
    soak_minutes: float | None,
    workloads: tuple[str, ...],
    parts: tuple[str, ...],
    pg_only: bool,
    http_workers: int | None,
    http_clients: int | None,
    http_completions: int | None,
    http_seconds: float | None,
    province_units: str | None,
    province_until: datetime | None,
) -> None:
    """Measure the engine against plain SpiffWorkflow, over HTTP, at scale, with timers and a memory soak."""
    from engine.bench.report import markdown, table
    from engine.bench.suite import Options, default_pg_url, run_suite
    from engine.bench.workloads import known_names

    if url and not url.startswith("postgresql"):
        raise click.BadParameter("only a PostgreSQL URL (SQLite always runs in a temporary folder)", param_hint="--url")
    unknown = set(workloads) - known_names()
    if unknown:
        raise click.BadParameter(f"unknown workload(s): {', '.join(sorted(unknown))}", param_hint="--workload")
    pg_url = default_pg_url(url)
    if pg_only and not pg_url:
        raise click.UsageError("--pg-only needs a PostgreSQL URL (--url or DATABASE_URL)")
    options = Options(
        quick=quick,
        pg_url=pg_url,
        instances=instances,
        scale_points=_points(scale),
        pg_scale_points=_points(pg_scale),
        timers=timers,
        timer_spread_s=timer_spread,
        soak_minutes=soak_minutes,
        workloads=set(workloads) or None,
        parts=set(parts) or None,
        sqlite=not pg_only,
        http_workers=http_workers,
        http_clients=http_clients,
        http_completions=http_completions,
        http_seconds=http_seconds,
        province_units=_sizes(province_units),
        province_until=province_until.date() if province_until else None,
    )
    results = run_suite(options, lambda line: click.echo(line, err=True))
    for line in table(results):
        click.echo(line)
    if json_path:
        json_path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if md_path:
        md_path.write_text("\n".join(markdown(results)) + "\n", encoding="utf-8")
