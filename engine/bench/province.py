"""The province workload: the campaign of ``demo/province/`` simulated at several sizes, as ``tdkt simulate`` does.

Per size (the campaign's first N participating units, ``engine.simulation.campaign.first_units``; 7, 50 and 150
by default) a fresh SQLite database in a temporary folder gets the province organisation, every model of
``bpmn/`` and ``forms/``, and the rules of ``rules/lifecycle.yaml``; then ``engine.simulation.run.Simulation``
(same seed at every size) lives the campaign from its date (19/3) to 31/12, or 30/6 in a quick run. Measured:

- each ``tasks.complete`` call the simulated officers make (the call inside the simulation's transaction; the
  commit and the Council's own services are not in it): p50 and p99 per size, and the p50 at the largest size
  against the smallest (``province_p50_ratio_150_vs_7``): a completion should not cost more because the campaign
  has more units;
- the biggest saved state of any instance (``max(length(state))`` of the instance table at the end of every
  simulated day): its bytes, its process and the day; and the biggest JSON behind the twenty biggest stored states
  (a state over 8 kB is stored zlib-compressed), ``max_state_json_bytes``;
- the wall time of the simulated days (what the daily state sampling took is left out).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from engine.bench import report
from engine.bench.database import bench_database
from engine.bench.nomination import model_files
from engine.clock import ManualClock
from engine.core.runtime import state_json
from engine.persistence.db import make_session_factory
from engine.persistence.models import Instance
from engine.services.context import EngineContext
from engine.services.definitions import deploy
from engine.services.org import load_org_file
from engine.services.rules import RuleSet, load_rule_sets
from engine.simulation.campaign import CampaignConfig, first_units, load_campaign
from engine.simulation.run import MORNING, Simulation

ROOT = Path(__file__).resolve().parents[2]
ORG_FILE = ROOT / "demo" / "province" / "org.yaml"
CAMPAIGN_FILE = ROOT / "demo" / "province" / "campaign.yaml"
RULES_FILE = ROOT / "rules" / "lifecycle.yaml"
SIZES = (7, 50, 150)
SEED = 1
# The budgets the table prints: a completion at the largest size against the smallest, the biggest instance
# state, the simulated year at the largest size.
P50_RATIO_BUDGET = 1.25
MAX_STATE_BUDGET = 100_000
YEAR_S_BUDGET = 300.0


def province_campaign() -> CampaignConfig:
    return load_campaign(CAMPAIGN_FILE)


def default_until(campaign: CampaignConfig, quick: bool) -> date:
    """31/12 of the campaign year; 30/6 (plans, registrations, pledges, two report rounds, sơ kết) when quick."""
    return date(campaign.campaign_year, 6, 30) if quick else date(campaign.campaign_year, 12, 31)


def run_province(
    sizes: list[int] | tuple[int, ...] = SIZES,
    *,
    until: date | None = None,
    quick: bool = False,
    seed: int = SEED,
    log: Callable[[str], None] = lambda _line: None,
) -> dict[str, Any]:
    """Every size in turn; the per-size figures and the headline figures (largest size, largest against smallest)."""
    campaign = province_campaign()
    rule_sets = load_rule_sets(RULES_FILE)
    start, end = campaign.date, until or default_until(campaign, quick)
    runs = []
    for units in sizes:
        log(f"province: {units} units, {start.isoformat()} .. {end.isoformat()}, seed {seed}")
        run = run_size(first_units(campaign, units), rule_sets, start, end, seed)
        log(
            f"province: {units} units: {run['completions']:,} completions, p50 {run['p50_ms']} ms,"
            f" year {run['year_s']:.1f} s, biggest state {run['max_state_bytes']:,} B ({run['max_state_key']})"
        )
        runs.append(run)
    small, large = runs[0], runs[-1]
    return {
        "from": start.isoformat(),
        "until": end.isoformat(),
        "days": (end - start).days + 1,
        "seed": seed,
        "sizes": [r["units"] for r in runs],
        "runs": runs,
        "p50_ratio": report.ratio({"median_ms": large["p50_ms"]}, {"median_ms": small["p50_ms"]}),
        "max_state_bytes": large["max_state_bytes"],
        "max_state_json_bytes": large["max_state_json_bytes"],
        "year_s": large["year_s"],
    }


def run_size(campaign: CampaignConfig, rule_sets: list[RuleSet], start: date, until: date, seed: int) -> dict[str, Any]:
    """One simulated stretch of ``campaign`` on a fresh database: completion times, biggest state, wall time."""
    with bench_database(None, f"province_{len(campaign.units)}") as engine:
        sessions = make_session_factory(engine)
        clock = ManualClock(datetime.combine(start, MORNING, tzinfo=UTC))
        ctx = EngineContext(clock=clock)
        with sessions() as s, s.begin():
            load_org_file(s, ORG_FILE, clock, actor="bench")
            deploy(s, model_files(), clock, actor="bench")
            ctx.reload_calendar(s)
        biggest: dict[str, Any] = {"bytes": 0, "key": None, "day": None, "raw": 0, "raw_key": None}
        sampling = [0.0]

        def sample(today: date) -> None:
            # Stored bytes (a state over 8 kB is stored compressed, engine/core/runtime.py) and, for the biggest
            # stored ones, their JSON before compression.
            t0 = time.perf_counter()
            size = func.length(Instance.state)
            with sessions() as s:
                rows = s.execute(select(Instance.definition_key, size, Instance.state).order_by(size.desc()).limit(20))
                for n, (key, stored, state) in enumerate(rows):
                    if n == 0 and stored > biggest["bytes"]:
                        biggest.update(bytes=int(stored), key=key, day=today.isoformat())
                    raw = len(state_json(state))
                    if raw > biggest["raw"]:
                        biggest.update(raw=raw, raw_key=key)
            sampling[0] += time.perf_counter() - t0

        times: list[float] = []
        dated = replace(campaign, date=start)
        simulation = Simulation(sessions, ctx, clock, dated, rule_sets, seed, completion_times=times, day_ended=sample)
        t0 = time.perf_counter()
        simulation.simulate(start, until)
        wall = time.perf_counter() - t0
        with sessions() as s:
            instances = s.scalar(select(func.count()).select_from(Instance))
    stats = report.summary(times)
    return {
        "units": len(campaign.units),
        "blocks": len(campaign.blocks),
        "completions": len(times),
        "p50_ms": stats["median_ms"],
        "p99_ms": stats["p99_ms"],
        "mean_ms": round(sum(times) / len(times) * 1000, 3) if times else None,
        "year_s": round(wall - sampling[0], 2),
        "sampling_s": round(sampling[0], 2),
        "max_state_bytes": biggest["bytes"],
        "max_state_key": biggest["key"],
        "max_state_day": biggest["day"],
        "max_state_json_bytes": biggest["raw"],
        "max_state_json_key": biggest["raw_key"],
        "instances": instances,
        "errors": len(simulation.errors),
        "first_errors": simulation.errors[:3],
    }
