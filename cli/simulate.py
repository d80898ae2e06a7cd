"""``tdkt simulate --from D --until D --seed N``: run a campaign year on a simulated clock and print what happened.

The demo's organisation and its 2026 campaign by default (demo/campaign_2026.yaml, 10/3–31/12/2026); ``--org``
and ``--campaign`` name others (demo/province/ has a province of 150 participating units), and ``--units N`` keeps
the campaign's first N participating units.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from datetime import UTC, date, datetime, time
from pathlib import Path

import click
from sqlalchemy.orm import Session, sessionmaker

from cli._context import open_database
from cli.demo import CAMPAIGN_2026, ORG_FILE, install
from engine.clock import ManualClock
from engine.errors import EngineError, ValidationError
from engine.services.context import EngineContext
from engine.services.rules import RuleSet
from engine.simulation.campaign import CampaignConfig, first_units, load_campaign, unknown_units
from engine.simulation.run import Simulation

FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command("simulate")
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), default="2026-03-10", show_default=True)
@click.option(
    "--until",
    "until",
    type=click.DateTime(["%Y-%m-%d"]),
    default="2027-03-31",
    show_default=True,
    help="Last day simulated. The year's awards are decided after it ends: the year-end review in December, the "
    "Council and the Chairman's decision in the first quarter of the next year, so the default runs that far.",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same year.")
@click.option("--url", default=None, help="Database URL (default: a fresh temporary SQLite file).")
@click.option("--org", "org_file", type=FILE, default=ORG_FILE, help="Organisation file (default: demo/org.yaml).")
@click.option(
    "--campaign",
    "campaign_file",
    type=FILE,
    default=CAMPAIGN_2026,
    help="Campaign file (default: demo/campaign_2026.yaml; demo/campaign.yaml is the 2024 one).",
)
@click.option(
    "--units",
    type=click.IntRange(min=1),
    default=None,
    help="Only the campaign's first N participating units (blocks keep the members left; a block that loses its "
    "leader or keeps fewer than two members is dropped).",
)
def command(
    start: datetime,
    until: datetime,
    seed: int,
    url: str | None,
    org_file: Path,
    campaign_file: Path,
    units: int | None,
) -> None:
    """Simulated officers work through a campaign day by day (the demo's by default); prints a table per process."""
    first, last = start.date(), until.date()
    if last < first:
        raise click.BadParameter("--until is before --from", param_hint="--until")
    campaign = _campaign(campaign_file, units)
    with tempfile.TemporaryDirectory(prefix="tdkt-simulate-") as folder:
        database = url or f"sqlite:///{Path(folder) / 'simulation.sqlite3'}"
        engine, sessions = open_database(database)
        try:
            clock = ManualClock(datetime.combine(first, time(2, 0), tzinfo=UTC))
            rule_sets = _install(sessions, clock, org_file, campaign_file, campaign)
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


def _one_line(err: EngineError) -> str:
    """The error's message, with its first field problem when it has any, on one line."""
    fields = err.details.get("fields") or {}
    text = err.message
    if fields:
        where, message = next(iter(fields.items()))
        more = f" (and {len(fields) - 1} more)" if len(fields) > 1 else ""
        if where == "(file)":
            text += f": {message}"
        elif where not in text:  # an organisation file's problems are in its fields, a campaign's in the message
            text += f": {where}: {message}{more}"
    return " ".join(text.split())


def _campaign(path: Path, units: int | None) -> CampaignConfig:
    try:
        campaign = load_campaign(path)
    except EngineError as err:
        raise click.BadParameter(_one_line(err), param_hint="--campaign") from None
    if units is None:
        return campaign
    try:
        return first_units(campaign, units)
    except ValidationError as err:
        raise click.BadParameter(_one_line(err), param_hint="--units") from None


def _install(
    sessions: sessionmaker[Session], clock: ManualClock, org_file: Path, campaign_file: Path, campaign: CampaignConfig
) -> list[RuleSet]:
    """The organisation and the models; the campaign's units checked against the organisation loaded."""
    try:
        _, rule_sets, _ = install(sessions, clock, actor="simulation", org_file=org_file, campaign_file=campaign_file)
    except ValidationError as err:  # the models and rules are the project's own: what can be wrong is the org file
        raise click.BadParameter(_one_line(err), param_hint="--org") from None
    with sessions() as session:
        unknown = unknown_units(session, campaign)
    if unknown:
        names = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise click.BadParameter(f"{campaign_file} names units that {org_file} lacks: {names}", param_hint="--campaign")
    return rule_sets


def _dated(campaign: CampaignConfig, first: date) -> CampaignConfig:
    """The campaign, opened on the simulation's first day."""
    return replace(campaign, date=first)
