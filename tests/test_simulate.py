"""``tdkt simulate``: a simulated stretch of the campaign; same seed, same table; the broadest end-to-end test."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cli import main
from cli.demo import install
from engine.clock import ManualClock
from engine.errors import ValidationError
from engine.services.context import EngineContext
from engine.simulation.campaign import first_units, load_campaign
from engine.simulation.report import COLUMNS
from engine.simulation.run import Simulation

ROOT = Path(__file__).resolve().parents[1]

PROCESSES = [
    "block_pledge",
    "block_scoring",
    "campaign_launch",
    "council_meeting",
    "national_proposal",
    "nomination",
    "nomination_dossier",
    "periodic_report",
    "registration",
    "review_round",
    "unit_nomination",
    "unit_plan",
    "unit_review_report",
]


def test_same_seed_same_table():
    """The default campaign is the demo city's 2026 year (demo/campaign_2026.yaml, from 10/3/2026)."""
    args = ["simulate", "--until", "2026-05-08", "--seed", "7"]
    first = CliRunner().invoke(main, args)
    second = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert first.output == second.output
    lines = first.output.splitlines()
    assert lines[0] == "simulated 2026-03-10 .. 2026-05-08, seed 7"
    assert lines[1].split() == ["process", *COLUMNS]
    rows = {line.split()[0]: [int(n) for n in line.split()[1:]] for line in lines[2:] if line}
    assert sorted(rows) == PROCESSES
    assert rows["campaign_launch"][:2] == [1, 0]
    assert rows["unit_plan"][0] == 16  # one plan per participating unit: sở, đoàn thể, wards, communes, firms
    assert rows["periodic_report"][0] == 16


def test_simulation_on_the_test_database(sessions):
    clock = ManualClock(datetime(2024, 3, 19, 2, 0, tzinfo=UTC))
    campaign, rule_sets, _ = install(sessions, clock, actor="simulation")
    ctx = EngineContext(clock=clock)
    simulation = Simulation(sessions, ctx, clock, campaign, rule_sets, seed=2)
    table = simulation.run(date(2024, 3, 19), date(2024, 4, 30))
    assert simulation.errors == []
    plans = table.rows["unit_plan"]
    assert plans["started"] == 7
    assert plans["completed"] + plans["returned"] >= 1
    assert all(set(row) == set(COLUMNS) for row in table.rows.values())


PROVINCE = ROOT / "demo" / "province"
PROVINCE_ARGS = ["--org", str(PROVINCE / "org.yaml"), "--campaign", str(PROVINCE / "campaign.yaml")]


def test_the_province_files_hold_together():
    org = yaml.safe_load((PROVINCE / "org.yaml").read_text(encoding="utf-8"))
    campaign = load_campaign(PROVINCE / "campaign.yaml")
    kinds = {u["id"]: u.get("kind") for u in org["units"]}
    assert "district" not in kinds.values()  # two tiers since 1/7/2025: province and xã/phường/đặc khu
    assert len(campaign.units) == len(set(campaign.units)) == 150
    roles: dict[str, set[str]] = {}
    for m in org["memberships"]:
        roles.setdefault(m["unit"], set()).add(m["role"])
    for unit in campaign.units:
        assert {"unit_officer", "unit_head", "unit_council"} <= roles.get(unit, set()), unit
    members = [m for block in campaign.blocks for m in block["members"]]
    assert sorted(members) == sorted(campaign.units)  # every participating unit in exactly one block or cluster
    for block in campaign.blocks:
        assert 5 <= len(block["members"]) <= 11 and block["leader_unit"] in block["members"], block["block_id"]
    council = [m for m in org["memberships"] if m["role"] == "council_member" and m["unit"] == campaign.council_unit]
    assert len(council) == 11
    assert {"home_affairs", "unit_head"} <= roles[campaign.home_affairs_unit]
    assert campaign.business_key != load_campaign(ROOT / "demo" / "campaign.yaml").business_key


def test_first_units_cuts_the_blocks_to_the_units_kept():
    campaign = load_campaign(ROOT / "demo" / "campaign.yaml")  # SGDDT, SYT, STC | TPAB, HPT, TXTM | CTNAB
    assert first_units(campaign, 7) == campaign
    four = first_units(campaign, 4)
    assert four.units == ["SGDDT", "SYT", "STC", "TPAB"]
    assert [b["block_id"] for b in four.blocks] == ["khoi_so_nganh"]  # the other keeps one member: dropped
    led = replace(campaign, blocks=[{**campaign.blocks[0], "leader_unit": "STC"}])
    assert first_units(led, 2).blocks == []  # its leader was cut
    for count in (0, 8):
        with pytest.raises(ValidationError, match="7 participating units"):
            first_units(campaign, count)


def test_simulate_runs_the_province_at_a_few_units():
    args = ["simulate", *PROVINCE_ARGS, "--units", "7", "--from", "2024-03-19", "--until", "2024-04-09"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "simulated 2024-03-19 .. 2024-04-09, seed 1"
    rows = {line.split()[0]: [int(n) for n in line.split()[1:]] for line in lines[2:] if line}
    assert sorted(rows) == PROCESSES
    assert rows["campaign_launch"][0] == 1
    assert rows["unit_plan"][0] == 7


@pytest.mark.parametrize(
    ("args", "option", "says"),
    [
        (["--org", "missing.yaml"], "'--org'", "does not exist"),
        (["--campaign", "missing.yaml"], "'--campaign'", "does not exist"),
        (["--org", "{bad}"], "--org", "organisation data has 1 problem; nothing was saved: units[0].name: required"),
        (["--campaign", "{bad}"], "--campaign", "missing business_key"),
        (["--campaign", str(PROVINCE / "campaign.yaml")], "--campaign", "names units that"),
        (["--units", "17"], "--units", "the campaign has 16 participating units; 17 asked for"),
    ],
)
def test_simulate_refuses_a_bad_file_in_one_line(tmp_path, args, option, says):
    bad = tmp_path / "bad.yaml"
    bad.write_text("units: [{id: X}]\n" if "--org" in args else "campaign_year: 2024\n", encoding="utf-8")
    args = [str(bad) if a == "{bad}" else a for a in args]
    result = CliRunner().invoke(main, ["simulate", "--until", "2026-03-11", *args])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and option in errors[0] and says in errors[0], result.output
    assert "Traceback" not in result.output


def test_unit_level_titles_stay_in_the_units(sessions):
    """A simulated year into the next (the Council meets after the year-end round): titles of level ``unit``
    (rules/lifecycle.yaml, Decree 152/2025 Art. 6) are decided in the units and never reach the Council; only
    provincial and national awards go before it."""
    clock = ManualClock(datetime(2024, 3, 19, 2, 0, tzinfo=UTC))
    campaign, rule_sets, _ = install(sessions, clock, actor="simulation")
    ctx = EngineContext(clock=clock)
    simulation = Simulation(sessions, ctx, clock, campaign, rule_sets, seed=1)
    table = simulation.run(date(2024, 3, 19), date(2025, 4, 30))
    assert simulation.errors == []
    levels = {award: rule["level"] for award, rule in rule_sets[0].data["eligibility"].items()}
    assert table.rows["council_meeting"]["started"] >= 1, table.as_text()
    in_units = {a for a, row in table.awards.items() if row["in_units"]}
    to_council = {a for a, row in table.awards.items() if row["to_council"]}
    assert in_units and to_council
    assert {levels[a] for a in in_units} == {"unit"}
    assert "province" in {levels[a] for a in to_council} <= {"province", "national"}
    assert "\naward " in "\n" + table.as_text()


def test_the_2026_campaign_is_two_tier_under_the_citys_rules():
    org = yaml.safe_load((ROOT / "demo" / "org.yaml").read_text(encoding="utf-8"))
    kinds = {u["id"]: u["kind"] for u in org["units"]}
    assert "district" not in kinds.values()
    campaign = load_campaign(ROOT / "demo" / "campaign_2026.yaml")
    assert campaign.campaign_year == 2026
    assert {kinds[u] for u in campaign.units} == {"department", "mass_organisation", "ward", "commune", "enterprise"}
    assert 6 <= sum(kinds[u] in ("ward", "commune") for u in campaign.units) <= 10
    assert sum(kinds[u] == "enterprise" for u in campaign.units) == 2
    members = [m for b in campaign.blocks for m in b["members"]]
    assert sorted(members) == sorted(campaign.units)  # every unit in exactly one block or cluster
    from engine.services.rules import load_rule_sets, rules_in_force

    rules = rules_in_force(load_rule_sets(ROOT / "rules" / "lifecycle.yaml"), campaign.date)
    assert rules.version == "2026.1"
    assert all(
        date(2026, m, rules.data["periodic"]["report_day"]) > campaign.date for m in rules.data["periodic"]["months"]
    )
    for review in rules.data["reviews"].values():
        assert date.fromisoformat(f"2026-{review}") > campaign.date
