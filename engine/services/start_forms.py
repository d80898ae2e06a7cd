"""Starting a campaign or a sudden (đột xuất) nomination from Sở Nội vụ's form.

What a person types is only what the start form declares (``CAMPAIGN_FIELDS``, ``SUDDEN_FIELDS``), checked here;
everything that routes work — the province, Sở Nội vụ and Council units, the participating units and blocks,
the rules in force — comes from the organisation, the previous campaign and ``rules/lifecycle.yaml``, never from
the form. The sudden form's one routing choice, the unit, must be one of the participating units.

A ValidationError's ``details["fields"]`` maps each bad field to a code (``required``, ``not_integer``,
``out_of_range``, ``not_date``, ``too_long``, ``bad_format``, ``unknown_unit``, ``taken``, ``not_in_year``,
``no_rules``, ``unknown_field``) that the page words in the reader's language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.errors import NotFoundError, ValidationError
from engine.persistence.models import Definition, Instance, OrgUnit
from engine.services import instances
from engine.services.context import EngineContext
from engine.services.dashboard import start_data
from engine.services.escalation import monitor_unit
from engine.services.instance_store import load_instance
from engine.services.rules import RuleSet, load_rule_sets, rules_in_force
from engine.services.rules import start_data as rules_start_data

RULES_FILE = Path(__file__).resolve().parents[2] / "rules" / "lifecycle.yaml"
CAMPAIGN_KEY = "campaign_launch"
SUDDEN_KEY = "nomination"
CAMPAIGN_FIELDS = ("campaign_year", "business_key", "directive", "directive_date")
SUDDEN_FIELDS = ("campaign_year", "unit_id")
NOT_PARTICIPANTS = frozenset({"province", "council", "home_affairs"})
BUSINESS_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{1,63}$")
MAX_DIRECTIVE = 500


@dataclass(frozen=True)
class Setting:
    """What the organisation and the previous campaign give a new start."""

    province_unit: str
    home_affairs_unit: str
    council_unit: str
    units: list[str]
    blocks: list[dict[str, Any]]
    unit_cycles: dict[str, str]  # units on a report cycle of their own (rules' periodic.cycles)
    based_on: str | None  # the business key of the campaign the units and blocks come from


def rule_sets(path: Path = RULES_FILE) -> list[RuleSet]:
    return load_rule_sets(path)


def _problem(fields: dict[str, str]) -> ValidationError:
    named = ", ".join(f"{k}: {v}" for k, v in fields.items())
    return ValidationError(f"the start form has errors ({named})", {"fields": fields})


def _unit_of_kind(session: Session, kind: str) -> str | None:
    return session.scalar(select(OrgUnit.id).where(OrgUnit.kind == kind).order_by(OrgUnit.id).limit(1))


def handed_on_blocks(session: Session, ctx: EngineContext, business_key: str) -> list[dict[str, Any]]:
    """The blocks as campaign ``business_key``'s year-end scoring handed them on (its ``next_year_blocks``: each
    block's next leader, set once every block has scored). NotFoundError when there is no such campaign,
    ValidationError when it has not scored yet."""
    query = select(Instance).where(Instance.definition_key == CAMPAIGN_KEY, Instance.business_key == business_key)
    previous = session.scalars(query.order_by(Instance.id).limit(1)).first()
    if previous is None:
        raise NotFoundError(f"blocks_from: no campaign {business_key}")
    workflow = load_instance(session, ctx, previous.id, row=previous, open_tasks=[]).workflow
    for task in workflow.get_tasks():
        if task.task_spec.name == "launch_nomination_setup" and "next_year_blocks" in task.data:
            return [dict(b) for b in task.data["next_year_blocks"]]
    raise ValidationError(f"blocks_from: campaign {business_key} has not scored its blocks yet (block_scoring)")


def setting(session: Session, ctx: EngineContext | None = None) -> Setting:
    """The routing a start gets from the organisation and the newest campaign (NotFoundError when it lacks one)."""
    province = _unit_of_kind(session, "province")
    council = _unit_of_kind(session, "council")
    home_affairs = monitor_unit(session, None)
    missing = [n for n, v in (("province", province), ("council", council), ("home_affairs", home_affairs)) if not v]
    if missing or province is None or council is None or home_affairs is None:
        raise NotFoundError(f"the organisation has no unit of kind {', '.join(missing)}")
    newest = session.scalars(
        select(Instance)
        .where(Instance.definition_key == CAMPAIGN_KEY, Instance.parent_id.is_(None))
        .order_by(Instance.id.desc())
        .limit(1)
    ).first()
    previous = start_data(session, newest.id) if newest is not None else {}
    known = {u.id: u.kind for u in session.execute(select(OrgUnit.id, OrgUnit.kind))}
    units = [str(u) for u in previous.get("units") or [] if u in known]
    blocks = [dict(b) for b in previous.get("blocks") or [] if isinstance(b, dict)]
    if ctx is not None and newest is not None and newest.business_key:
        try:  # the leaders the last campaign's year-end scoring handed on, once it has scored
            blocks = [dict(b) for b in handed_on_blocks(session, ctx, newest.business_key) if isinstance(b, dict)]
        except (NotFoundError, ValidationError):
            pass
    raw_cycles = previous.get("unit_cycles")
    cycles = {str(u): str(c) for u, c in (raw_cycles.items() if isinstance(raw_cycles, dict) else []) if u in units}
    if not units:  # no campaign yet: every unit of the organisation that is not the province's own bodies
        units = sorted(u for u, k in known.items() if k not in NOT_PARTICIPANTS and u not in {home_affairs})
        blocks, cycles = [], {}
    based_on = newest.business_key if newest else None
    return Setting(province, home_affairs, council, units, blocks, cycles, based_on)


def _year(value: Any, problems: dict[str, str]) -> int | None:
    text = str(value or "").strip()
    if not text:
        problems["campaign_year"] = "required"
        return None
    if not text.isdigit():
        problems["campaign_year"] = "not_integer"
        return None
    year = int(text)
    if not 2000 <= year <= 2100:
        problems["campaign_year"] = "out_of_range"
        return None
    return year


def _unknown(data: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, str]:
    return {k: "unknown_field" for k in data if k not in allowed}


def start_campaign(
    session: Session, ctx: EngineContext, data: dict[str, Any], actor: str, sets: list[RuleSet] | None = None
) -> Instance:
    """Start ``campaign_launch`` from the campaign form's fields (``CAMPAIGN_FIELDS``) and the system's setting."""
    problems = _unknown(data, CAMPAIGN_FIELDS)
    year = _year(data.get("campaign_year"), problems)
    key = str(data.get("business_key") or "").strip()
    if not key:
        problems["business_key"] = "required"
    elif not BUSINESS_KEY.match(key):
        problems["business_key"] = "bad_format"
    directive = str(data.get("directive") or "").strip()
    if not directive:
        problems["directive"] = "required"
    elif len(directive) > MAX_DIRECTIVE:
        problems["directive"] = "too_long"
    day: date | None = None
    try:
        day = date.fromisoformat(str(data.get("directive_date") or "").strip())
    except ValueError:
        problems["directive_date"] = "required" if not data.get("directive_date") else "not_date"
    if day is not None and year is not None and day.year != year:
        problems["directive_date"] = "not_in_year"
    sets = sets if sets is not None else rule_sets()
    if day is not None and "directive_date" not in problems:
        try:
            rules_in_force(sets, day)
        except NotFoundError:
            problems["directive_date"] = "no_rules"
    if key and "business_key" not in problems:
        taken = select(Instance.id).where(Instance.definition_key == CAMPAIGN_KEY, Instance.business_key == key)
        if session.scalar(taken.limit(1)) is not None:
            problems["business_key"] = "taken"
    if problems or year is None or day is None:
        raise _problem(problems)
    found = setting(session, ctx)
    launch = {
        "campaign_year": year,
        "directive": directive,
        "directive_date": day.isoformat(),
        "province_unit": found.province_unit,
        "home_affairs_unit": found.home_affairs_unit,
        "council_unit": found.council_unit,
        "units": list(found.units),
        "blocks": [dict(b) for b in found.blocks],
        **rules_start_data(sets, day),
    }
    known_cycles = ((launch["rules"].get("periodic") or {}).get("cycles")) or {}
    launch["unit_cycles"] = {u: c for u, c in found.unit_cycles.items() if c in known_cycles}
    return instances.start_instance(
        session, ctx, key=CAMPAIGN_KEY, business_key=key, unit_id=found.province_unit, data=launch, actor=actor
    )


def start_sudden(
    session: Session, ctx: EngineContext, data: dict[str, Any], actor: str, sets: list[RuleSet] | None = None
) -> Instance:
    """Start a sudden ``nomination`` for one participating unit (``SUDDEN_FIELDS``); its officer then proposes."""
    problems = _unknown(data, SUDDEN_FIELDS)
    year = _year(data.get("campaign_year"), problems)
    found = setting(session)
    unit = str(data.get("unit_id") or "").strip()
    if not unit:
        problems["unit_id"] = "required"
    elif unit not in found.units:
        problems["unit_id"] = "unknown_unit"
    sets = sets if sets is not None else rule_sets()
    today = ctx.now().date()
    try:
        rules_in_force(sets, today)
    except NotFoundError:
        problems["campaign_year"] = "no_rules"
    if problems or year is None:
        raise _problem(problems)
    count = session.scalar(
        select(func.count()).where(Instance.definition_key == SUDDEN_KEY, Instance.parent_id.is_(None))
    )
    key = f"DX-{year}-{unit}-{(count or 0) + 1}"
    start = {
        "campaign_year": year,
        "province_unit": found.province_unit,
        "home_affairs_unit": found.home_affairs_unit,
        "council_unit": found.council_unit,
        "units": list(found.units),
        "blocks": [],
        "block_results": [],
        "nomination_units": [unit],
        "sudden": True,
        **rules_start_data(sets, today),
    }
    return instances.start_instance(
        session, ctx, key=SUDDEN_KEY, business_key=key, unit_id=found.province_unit, data=start, actor=actor
    )


def deadlines_preview(sets: list[RuleSet], on: date) -> tuple[str, dict[str, Any]] | None:
    """The rule set in force on ``on`` and the dates and deadlines it gives a campaign (the form shows them)."""
    try:
        chosen = rules_in_force(sets, on)
    except NotFoundError:
        return None
    return chosen.version, chosen.data


def step_names(session: Session) -> dict[str, str]:
    """The user tasks' names by element id, from the deployed models (the newest version last wins), so the form
    lists the rules' deadlines by the steps' names."""
    names: dict[str, str] = {}
    for meta in session.scalars(select(Definition.task_meta).order_by(Definition.key, Definition.version)):
        for element, info in (meta or {}).items():
            if isinstance(info, dict) and info.get("name"):
                names[str(element)] = str(info["name"])
    return names
