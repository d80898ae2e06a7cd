"""``tdkt simulate --from D --until D --seed N``: run a campaign year on a simulated clock and print what happened."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from datetime import UTC, date, datetime, time
from pathlib import Path

import click

from cli._context import open_database
from cli.demo import install
from engine.clock import ManualClock
from engine.services.context import EngineContext
from engine.simulation.campaign import CampaignConfig
from engine.simulation.run import Simulation


@click.command("simulate")
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), default="2024-03-19", show_default=True)
@click.option("--until", "until", type=click.DateTime(["%Y-%m-%d"]), default="2024-12-31", show_default=True)
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same year.")
@click.option("--url", default=None, help="Database URL (default: a fresh temporary SQLite file).")
def command(start: datetime, until: datetime, seed: int, url: str | None) -> None:
    """Simulated officers work through the demo campaign day by day; prints a table per process."""
    first, last = start.date(), until.date()
    if last < first:
        raise click.BadParameter("--until is before --from", param_hint="--until")
    with tempfile.TemporaryDirectory(prefix="tdkt-simulate-") as folder:
        database = url or f"sqlite:///{Path(folder) / 'simulation.sqlite3'}"
        engine, sessions = open_database(database)
        try:
            clock = ManualClock(datetime.combine(first, time(2, 0), tzinfo=UTC))
            campaign, rule_sets, _ = install(sessions, clock, actor="simulation")
            ctx = EngineContext(clock=clock)
            with sessions() as session:
                ctx.reload_calendar(session)
            simulation = Simulation(sessions, ctx, clock, _dated(campaign, first), rule_sets, seed)
            table = simulation.run(first, last)
        finally:
            engine.dispose()
    click.echo(f"simulated {first.isoformat()} .. {last.isoformat()}, seed {seed}")
    click.echo(table.as_text())
    for problem in simulation.errors:
        click.echo(f"problem: {problem}", err=True)


def _dated(campaign: CampaignConfig, first: date) -> CampaignConfig:
    """The demo campaign, opened on the simulation's first day."""
    return replace(campaign, date=first)
