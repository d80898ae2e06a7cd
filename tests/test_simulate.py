"""``tdkt simulate``: a simulated stretch of the campaign; same seed, same table; the broadest end-to-end test."""

from __future__ import annotations

from datetime import UTC, date, datetime

from click.testing import CliRunner

from cli import main
from cli.demo import install
from engine.clock import ManualClock
from engine.services.context import EngineContext
from engine.simulation.report import COLUMNS
from engine.simulation.run import Simulation

PROCESSES = [
    "block_pledge",
    "campaign_launch",
    "council_meeting",
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
    args = ["simulate", "--from", "2024-03-19", "--until", "2024-05-10", "--seed", "7"]
    first = CliRunner().invoke(main, args)
    second = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert first.output == second.output
    lines = first.output.splitlines()
    assert lines[0] == "simulated 2024-03-19 .. 2024-05-10, seed 7"
    assert lines[1].split() == ["process", *COLUMNS]
    rows = {line.split()[0]: [int(n) for n in line.split()[1:]] for line in lines[2:]}
    assert sorted(rows) == PROCESSES
    assert rows["campaign_launch"][:2] == [1, 0]
    assert rows["unit_plan"][0] == 7  # one plan per participating unit
    assert rows["periodic_report"][0] == 7


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
