"""Blocks rotate their leadership: next year's campaign reads the leaders last year's scoring handed on."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from cli.demo import CAMPAIGN_2026, install
from engine.clock import ManualClock
from engine.errors import NotFoundError, ValidationError
from engine.persistence.models import Instance
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
