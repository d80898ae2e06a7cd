"""``tdkt demo``: load the demo organisation, deploy bpmn/ and forms/, and open the city's 2026 campaign (once).

The campaign is opened on its directive's date and then lived day by day on a manual clock up to yesterday, the
simulated officers of ``tdkt simulate`` doing the work (plans drafted and approved, some late and escalated, review
rounds closed, dossiers sent on): the product then runs on the real clock from a year that has already happened,
so nothing falls due en masse at start and every date on screen belongs to the campaign's year. ``--no-history``
only opens the campaign; ``--until`` stops the history earlier.

Every demo user without a password gets the password "demo" (the demo only: ``tdkt user set-password`` is how
real users get one).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click
import yaml
from sqlalchemy.orm import Session, sessionmaker

from api.passwords import hash_password
from cli._context import open_database
from cli.lint import print_problems, read_files
from engine.clock import Clock, ManualClock
from engine.errors import DefinitionError
from engine.persistence.models import HumanTask
from engine.services.accounts import set_missing_password_hashes
from engine.services.context import EngineContext
from engine.services.definitions import deploy
from engine.services.instance_store import OPEN
from engine.services.org import load_org_file
from engine.services.rules import RuleSet, load_rule_sets
from engine.simulation.campaign import CampaignConfig, find_campaign, load_campaign, open_campaign
from engine.simulation.run import Simulation
from engine.simulation.story import DemoStory

ROOT = Path(__file__).resolve().parents[1]
ORG_FILE = ROOT / "demo" / "org.yaml"
CAMPAIGN_FILE = ROOT / "demo" / "campaign.yaml"  # the 2024 campaign (rules 2024.1), which the tests open
CAMPAIGN_2026 = ROOT / "demo" / "campaign_2026.yaml"  # the demo city's 2026 year (rules 2026.1): `tdkt demo`
RULES_FILE = ROOT / "rules" / "lifecycle.yaml"
MODEL_DIRS = (ROOT / "bpmn", ROOT / "forms")
DEMO_PASSWORD = "demo"  # noqa: S105 - the demo's published password, written in the README's tour


def install(
    sessions: sessionmaker[Session],
    clock: Clock,
    *,
    actor: str = "demo",
    org_file: Path = ORG_FILE,
    campaign_file: Path = CAMPAIGN_FILE,
) -> tuple[CampaignConfig, list[RuleSet], list[str]]:
    """Load the organisation and deploy the models (both idempotent); returns the campaign, rules and deploy lines.

    demo/org.yaml and the 2024 campaign by default (the tests' fixture); ``tdkt demo`` and ``tdkt simulate`` pass the
    2026 campaign, ``--org/--campaign`` others (demo/province/ for one).
    """
    campaign = load_campaign(campaign_file)
    rule_sets = load_rule_sets(RULES_FILE)
    files, problems = read_files([str(d) for d in MODEL_DIRS], short_names=True)
    if any(p.severity == "error" for p in problems):
        raise DefinitionError(problems)
    with sessions() as session, session.begin():
        load_org_file(session, org_file, clock, actor=actor)
        result = deploy(session, files, clock, actor=actor)
    print_problems(result.warnings)
    return campaign, rule_sets, [f"{d.key} v{d.version} {d.status}" for d in result.definitions]


def give_demo_passwords(sessions: sessionmaker[Session], clock: Clock, *, actor: str = "demo") -> list[str]:
    """The password "demo" for every user of demo/org.yaml that has none yet; returns who got it."""
    users = [u["id"] for u in yaml.safe_load(ORG_FILE.read_text(encoding="utf-8")).get("users") or []]
    # One hash for all: the password is published anyway, and hashing is slow on purpose.
    shared = hash_password(DEMO_PASSWORD)
    with sessions() as session, session.begin():
        return set_missing_password_hashes(session, clock, users, lambda: shared, actor=actor)


LOCAL_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")


def history_end(campaign: CampaignConfig, until: date | None, today: date) -> date | None:
    """The last day the demo's history lives: ``until`` or yesterday, at most the campaign year's 31/12; None when
    that is before the campaign's date (nothing to live through)."""
    last = min(until or today - timedelta(days=1), date(campaign.campaign_year, 12, 31))
    return last if last >= campaign.date else None


@click.command("demo")
@click.option("--url", default=None, help="Database URL (default: DATABASE_URL or the local SQLite file).")
@click.option("--quiet", is_flag=True, help="Print only the campaign line.")
@click.option(
    "--campaign",
    "campaign_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=CAMPAIGN_2026,
    help="Campaign file (default: demo/campaign_2026.yaml; demo/campaign.yaml is the 2024 campaign).",
)
@click.option(
    "--history/--no-history",
    default=True,
    show_default=True,
    help="Live the campaign from its date up to yesterday on a manual clock, simulated officers doing the work.",
)
@click.option(
    "--until",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Last day of the history (default: yesterday; never after today).",
)
@click.option("--seed", type=int, default=1, show_default=True, help="The history's seed (same seed, same year).")
def command(
    url: str | None, quiet: bool, campaign_file: Path, history: bool, until: datetime | None, seed: int
) -> None:
    """Load demo/org.yaml, deploy bpmn/ + forms/, and open the campaign of demo/campaign_2026.yaml (idempotent)."""
    today = datetime.now(LOCAL_ZONE).date()
    if until is not None and until.date() > today:
        raise click.BadParameter(
            f"{until.date().isoformat()} is after today ({today.isoformat()})", param_hint="--until"
        )
    engine, sessions = open_database(url)
    lived: tuple[date, date] | None = None
    meeting: date | None = None
    try:
        campaign = load_campaign(campaign_file)
        # The campaign is opened on the directive's date, 09:00 in Việt Nam: its deadlines count from that day.
        clock = ManualClock(datetime.combine(campaign.date, time(2, 0), tzinfo=UTC))
        campaign, rule_sets, deployed = install(sessions, clock, campaign_file=campaign_file)
        passwords = give_demo_passwords(sessions, clock)
        ctx = EngineContext(clock=clock)
        with sessions() as session, session.begin():
            ctx.reload_calendar(session)
            already = find_campaign(session, campaign.business_key)
        last = history_end(campaign, until.date() if until else None, today) if history else None
        if already is None and last is not None:
            simulation = Simulation(sessions, ctx, clock, campaign, rule_sets, seed)
            story = DemoStory(sessions, ctx, campaign, rule_sets, last)
            simulation.day_started, simulation.left_to_people = story.day_started, story.left_to_people
            simulation.simulate(campaign.date, last)
            meeting = story.finish(clock)
            lived = (campaign.date, last)
        with sessions() as session, session.begin():
            row, created = open_campaign(session, ctx, campaign, rule_sets)
            created = created or lived is not None
            open_tasks = session.query(HumanTask).filter(HumanTask.status.in_(OPEN)).count()
    finally:
        engine.dispose()
    if not quiet:
        for line in deployed:
            click.echo(line)
        if passwords:
            click.echo(f"{len(passwords)} demo users can now log in with the password '{DEMO_PASSWORD}'")
        if lived is not None:
            click.echo(
                f"lived {lived[0].isoformat()} .. {lived[1].isoformat()} on a manual clock (seed {seed}): "
                f"{open_tasks} tasks open now"
            )
            if meeting is not None:
                click.echo(
                    f"the Council sits on {meeting.isoformat()} for {story.business_key()} (convened; attendance next)"
                )
    state = "opened" if created else "already open"
    click.echo(f"campaign {campaign.business_key} ({campaign.campaign_year}): instance {row.id} {state}")
