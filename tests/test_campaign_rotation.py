"""Blocks rotate their leadership: next year's campaign reads the leaders last year's scoring handed on."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from cli.demo import CAMPAIGN_2026, install
from engine.clock import ManualClock
from engine.errors import NotFoundError, ValidationError
from engine.persistence.models import Instance
from engine.services import start_forms
from engine.services.context import EngineContext
from engine.services.instance_store import load_instance
from engine.simulation.campaign import find_campaign, open_campaign, parse_campaign
from engine.simulation.run import Simulation


def next_year(blocks: list[dict], **extra) -> dict:
    return {
        "campaign_year": 2027,
        "business_key": "CT01-2027",
        "directive": "Chỉ thị năm 2027 (minh họa)",
        "date": "2027-01-15",
        "started_by": "chu.tich",
        "province_unit": "TINH",
        "home_affairs_unit": "SNV",
        "council_unit": "HDTDKT",
        "units": ["SGDDT", "SYT", "STC", "SCT", "TPAB", "TXTM", "PHB"],
        "blocks": blocks,
        **extra,
    }


def launch_blocks(sessions, ctx, business_key: str) -> dict[str, str]:
    with sessions() as s:
        row = find_campaign(s, business_key)
        assert isinstance(row, Instance)
        workflow = load_instance(s, ctx, row.id, row=row, open_tasks=[]).workflow
        start = next(t for t in workflow.get_tasks() if t.task_spec.name == "launch_start")
        return {b["block_id"]: b["leader_unit"] for b in start.data["blocks"]}


def test_next_years_campaign_takes_the_leaders_handed_on(sessions):
    clock = ManualClock(datetime(2026, 3, 10, 2, 0, tzinfo=UTC))
    campaign, rule_sets, _ = install(sessions, clock, actor="simulation", campaign_file=CAMPAIGN_2026)
    ctx = EngineContext(clock=clock)
    with sessions() as s:
        ctx.reload_calendar(s)
    Simulation(sessions, ctx, clock, campaign, rule_sets, seed=1).simulate(date(2026, 3, 10), date(2026, 12, 4))
    before = {b["block_id"]: b["leader_unit"] for b in campaign.blocks}

    # Sở Nội vụ's start form takes the leaders the newest campaign's scoring handed on
    clock.set(datetime(2027, 1, 12, 2, 0, tzinfo=UTC))
    form = {
        "campaign_year": 2027,
        "business_key": "CT02-2027",
        "directive": "Chỉ thị 02",
        "directive_date": "2027-01-12",
    }
    with sessions() as s, s.begin():
        start_forms.start_campaign(s, ctx, form, "an.tdkt", sets=rule_sets)
    from_form = launch_blocks(sessions, ctx, "CT02-2027")
    assert set(from_form) == set(before)
    assert all(from_form[b] != before[b] for b in before), (from_form, before)

    members = {b["block_id"]: b["members"] for b in campaign.blocks}
    config = parse_campaign(
        next_year(
            [
                {"block_id": "khoi_so_nganh", "name": "Khối các sở", "members": members["khoi_so_nganh"]},
                {"block_id": "cum_phuong", "name": "Cụm phường", "members": members["cum_phuong"]},
            ],
            blocks_from="CT03-2026",
        )
    )
    clock.set(datetime(2027, 1, 15, 2, 0, tzinfo=UTC))
    with sessions() as s, s.begin():
        _, created = open_campaign(s, ctx, config, rule_sets)
    assert created
    after = launch_blocks(sessions, ctx, "CT01-2027")
    assert set(after) == {"khoi_so_nganh", "cum_phuong"}
    for block_id, leader in after.items():
        assert leader in members[block_id]
        assert leader != before[block_id], f"{block_id}: the lead passes on to the next member"


def test_blocks_from_names_what_is_missing(sessions):
    clock = ManualClock(datetime(2026, 3, 10, 2, 0, tzinfo=UTC))
    campaign, rule_sets, _ = install(sessions, clock, actor="simulation", campaign_file=CAMPAIGN_2026)
    ctx = EngineContext(clock=clock)
    blocks = [{"block_id": "khoi_so_nganh", "members": ["SGDDT", "SYT", "STC", "SCT"]}]
    with pytest.raises(ValidationError, match=r"blocks\[0\] needs leader_unit"):
        parse_campaign(next_year(blocks))  # no leader and nothing to take it from
    with sessions() as s, s.begin():
        with pytest.raises(NotFoundError, match="no campaign CT03-2026"):
            open_campaign(s, ctx, parse_campaign(next_year(blocks, blocks_from="CT03-2026")), rule_sets)
    with sessions() as s, s.begin():
        open_campaign(s, ctx, replace(campaign), rule_sets)  # opened today: nothing scored yet
    with sessions() as s, s.begin():
        with pytest.raises(ValidationError, match="CT03-2026 has not scored its blocks yet"):
            open_campaign(s, ctx, parse_campaign(next_year(blocks, blocks_from="CT03-2026")), rule_sets)


def report_dates_by_unit(sessions, ctx) -> dict[str, list[str]]:
    with sessions() as s:
        rows = s.scalars(select(Instance).where(Instance.definition_key == "periodic_report"))
        found = {}
        for row in rows:
            workflow = load_instance(s, ctx, row.id, row=row, open_tasks=[]).workflow
            found[row.unit_id] = [d[:10] for d in workflow.get_tasks()[0].data["report_dates"]]
        return found


def test_a_unit_on_the_school_year_reports_on_its_own_dates(sessions):
    """Sở GD&ĐT works by school year (demo/campaign_2026.yaml unit_cycles; rules periodic.cycles.school_year):
    the school year's review at the end of May and the first semester's in January of the next year."""
    clock = ManualClock(datetime(2026, 3, 10, 2, 0, tzinfo=UTC))
    campaign, rule_sets, _ = install(sessions, clock, actor="simulation", campaign_file=CAMPAIGN_2026)
    assert campaign.unit_cycles == {"SGDDT": "school_year"}
    ctx = EngineContext(clock=clock)
    with sessions() as s, s.begin():
        ctx.reload_calendar(s)
        open_campaign(s, ctx, campaign, rule_sets)
    dates = report_dates_by_unit(sessions, ctx)
    assert dates["SGDDT"] == ["2026-05-25", "2027-01-20"]
    assert dates["SYT"] == ["2026-06-20", "2026-12-20"]  # the calendar halves of rules 2026.1
    assert len(dates) == len(campaign.units)


def test_an_unknown_cycle_or_unit_is_named(sessions):
    clock = ManualClock(datetime(2026, 3, 10, 2, 0, tzinfo=UTC))
    campaign, rule_sets, _ = install(sessions, clock, actor="simulation", campaign_file=CAMPAIGN_2026)
    ctx = EngineContext(clock=clock)
    with sessions() as s, s.begin():
        with pytest.raises(ValidationError, match=r"unit SGDDT's cycle 'semester' is not in the rules \(school_year\)"):
            open_campaign(s, ctx, replace(campaign, unit_cycles={"SGDDT": "semester"}), rule_sets)
        with pytest.raises(ValidationError, match="unit_cycles names XYZ, not a participating unit"):
            open_campaign(s, ctx, replace(campaign, unit_cycles={"XYZ": "school_year"}), rule_sets)
