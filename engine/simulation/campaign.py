"""Opening a year's campaign: the launch process started with the directive's settings and the rules in force.

A campaign file (``demo/campaign.yaml``) names the year, the directive, its date, the participating units and the
emulation blocks/clusters. ``open_campaign`` starts ``campaign_launch`` once per business key: running it again
finds the instance already there and starts nothing.

Blocks rotate their leadership each year (block_scoring's ``next_leader_unit``): a campaign file that says
``blocks_from: <last year's business key>`` takes its blocks' leaders from what that campaign's year-end scoring
handed on (``next_year_blocks``), so a leader named in the file is only needed for a block that is new.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import NotFoundError, ValidationError
from engine.persistence.models import Instance, OrgUnit
from engine.services import instances
from engine.services.context import EngineContext
from engine.services.data_files import read_yaml
from engine.services.rules import RuleSet, rules_in_force, start_data
from engine.services.start_forms import handed_on_blocks

LAUNCH_KEY = "campaign_launch"


@dataclass(frozen=True)
class CampaignConfig:
    campaign_year: int
    business_key: str
    directive: str
    date: date
    started_by: str
    province_unit: str
    home_affairs_unit: str
    council_unit: str
    units: list[str]
    blocks: list[dict[str, Any]] = field(default_factory=list)
    blocks_from: str | None = None  # last year's business key: its year-end scoring names this year's leaders
    # unit -> the name of a report cycle of its own (rules.periodic.cycles), e.g. {"SGDDT": "school_year"}
    unit_cycles: dict[str, str] = field(default_factory=dict)


def parse_campaign(raw: Any, source: str = "campaign") -> CampaignConfig:
    if not isinstance(raw, dict):
        raise ValidationError(f"{source}: expected a mapping")
    needed = ["campaign_year", "business_key", "directive", "date", "started_by", "province_unit"]
    needed += ["home_affairs_unit", "council_unit", "units"]
    missing = [k for k in needed if raw.get(k) in (None, "", [])]
    if missing:
        raise ValidationError(f"{source}: missing {', '.join(missing)}", {"fields": {k: "required" for k in missing}})
    try:
        when = raw["date"] if isinstance(raw["date"], date) else date.fromisoformat(str(raw["date"]))
        year = int(raw["campaign_year"])
    except ValueError as err:
        raise ValidationError(f"{source}: date must be YYYY-MM-DD and campaign_year a year ({err})") from None
    if not isinstance(raw["units"], list) or not isinstance(raw.get("blocks") or [], list):
        raise ValidationError(f"{source}: units and blocks must be lists")
    blocks = [dict(b) if isinstance(b, dict) else {} for b in raw.get("blocks") or []]
    blocks_from = str(raw["blocks_from"]) if raw.get("blocks_from") else None
    cycles = raw.get("unit_cycles") or {}
    if not isinstance(cycles, dict) or not all(isinstance(v, str) for v in cycles.values()):
        raise ValidationError(f"{source}: unit_cycles must map a unit to the name of a report cycle")
    for index, block in enumerate(blocks):
        if not isinstance(block.get("members"), list) or not block["members"]:
            raise ValidationError(f"{source}: blocks[{index}] needs a list of members")
        if not block.get("leader_unit") and not (blocks_from and block.get("block_id")):
            raise ValidationError(
                f"{source}: blocks[{index}] needs leader_unit (or a block_id and blocks_from: last year's campaign)"
            )
    return CampaignConfig(
        campaign_year=year,
        business_key=str(raw["business_key"]),
        directive=str(raw["directive"]),
        date=when,
        started_by=str(raw["started_by"]),
        province_unit=str(raw["province_unit"]),
        home_affairs_unit=str(raw["home_affairs_unit"]),
        council_unit=str(raw["council_unit"]),
        units=[str(u) for u in raw["units"]],
        blocks=blocks,
        blocks_from=blocks_from,
        unit_cycles={str(k): v for k, v in cycles.items()},
    )


def load_campaign(path: str | Path) -> CampaignConfig:
    return parse_campaign(read_yaml(path, "campaign"), str(path))


def first_units(config: CampaignConfig, count: int) -> CampaignConfig:
    """The campaign with only its first ``count`` participating units: a smaller run of the same campaign.

    Blocks keep the members that remain; a block whose leader is cut, or with fewer than two members left, is
    dropped (its pledge would have nobody to draft it, or nobody to pledge to).
    """
    if not 1 <= count <= len(config.units):
        raise ValidationError(f"the campaign has {len(config.units)} participating units; {count} asked for")
    kept = config.units[:count]
    blocks = []
    for block in config.blocks:
        members = [m for m in block["members"] if m in kept]
        if block["leader_unit"] in members and len(members) >= 2:
            blocks.append({**block, "members": members})
    return replace(config, units=kept, blocks=blocks)


def unknown_units(session: Session, config: CampaignConfig) -> list[str]:
    """The units the campaign names (its own, every participant, every block's) that the organisation lacks."""
    wanted = {config.province_unit, config.home_affairs_unit, config.council_unit, *config.units}
    for block in config.blocks:
        wanted.update([block["leader_unit"], *block["members"]])
    known = set(session.scalars(select(OrgUnit.id).where(OrgUnit.id.in_(sorted(wanted)))))
    return sorted(wanted - known)


def launch_data(config: CampaignConfig, rule_sets: list[RuleSet]) -> dict[str, Any]:
    """The launch instance's initial data: the directive's settings plus the rule set in force on its date."""
    return {
        "campaign_year": config.campaign_year,
        "directive": config.directive,
        "directive_date": config.date.isoformat(),
        "province_unit": config.province_unit,
        "home_affairs_unit": config.home_affairs_unit,
        "council_unit": config.council_unit,
        "units": list(config.units),
        "blocks": [dict(b) for b in config.blocks],
        "unit_cycles": dict(config.unit_cycles),
        **start_data(rule_sets, config.date),
    }


def find_campaign(session: Session, business_key: str) -> Instance | None:
    query = select(Instance).where(Instance.definition_key == LAUNCH_KEY, Instance.business_key == business_key)
    return session.scalars(query.order_by(Instance.id)).first()


def with_handed_on_leaders(config: CampaignConfig, handed_on: list[dict[str, Any]]) -> CampaignConfig:
    """The campaign's blocks with last year's next leaders (by block_id); all of last year's blocks when the file
    lists none. A leader that no longer belongs to its block's members gives way to the file's own."""
    if not config.blocks:
        return replace(config, blocks=handed_on)
    leaders = {b.get("block_id"): b.get("leader_unit") for b in handed_on}
    blocks = []
    for block in config.blocks:
        leader = leaders.get(block.get("block_id"))
        if leader in block["members"]:
            block = {**block, "leader_unit": leader}
        if not block.get("leader_unit"):
            raise ValidationError(f"blocks_from: block {block.get('block_id')} has no leader handed on nor named")
        blocks.append(block)
    return replace(config, blocks=blocks)


def open_campaign(
    session: Session, ctx: EngineContext, config: CampaignConfig, rule_sets: list[RuleSet]
) -> tuple[Instance, bool]:
    """Start the launch process for ``config`` unless its business key is already open: (instance, created)."""
    existing = find_campaign(session, config.business_key)
    if existing is not None:
        return existing, False
    if config.blocks_from:
        config = with_handed_on_leaders(config, handed_on_blocks(session, ctx, config.blocks_from))
    cycles = rules_in_force(rule_sets, config.date).data["periodic"].get("cycles") or {}
    for unit, cycle in config.unit_cycles.items():
        if unit not in config.units:
            raise ValidationError(f"campaign {config.business_key}: unit_cycles names {unit}, not a participating unit")
        if cycle not in cycles:
            known = ", ".join(sorted(cycles)) or "none"
            raise ValidationError(
                f"campaign {config.business_key}: unit {unit}'s cycle {cycle!r} is not in the rules ({known})"
            )
    unknown = unknown_units(session, config)
    if unknown:
        raise NotFoundError(f"campaign {config.business_key} names unknown org unit(s): {', '.join(unknown)}")
    row = instances.start_instance(
        session,
        ctx,
        key=LAUNCH_KEY,
        business_key=config.business_key,
        unit_id=config.province_unit,
        data=launch_data(config, rule_sets),
        actor=config.started_by,
    )
    return row, True
