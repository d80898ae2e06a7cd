"""The simulated units' initiative councils: the register of initiatives holds what the simulated candidates rely on.

Before the rounds (``seed_register``, when the campaign opens) each participating unit has a few initiatives its
council recognised early in the year, of each reach. When a simulated council or officer lists a candidate relying
on an initiative (``has_initiative``) the entry names a free one of the unit with the reach it claims
(``fill_references``): one not held by another proposal (engine/services/initiative_uses.py), or, when the unit has
none left, one its initiative council has just recognised. So the simulated year passes the register's check;
a refusal only happens where a test asks for one. Nothing here draws from the simulation's Random: the same seed
gives the same year.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.persistence.models import HumanTask, Initiative, OrgUnit
from engine.services import initiatives
from engine.services.context import EngineContext
from engine.services.initiative_uses import CLAIMS, held_by, marked_paths, normalise
from engine.simulation.campaign import CampaignConfig

SEEDED_REACHES = ("national", "province", "province", "unit")  # what each unit's council recognised early on
ACTOR = "simulation"
TITLES = ("Cải tiến quy trình tiếp nhận hồ sơ", "Số hóa sổ theo dõi", "Mô hình một cửa liên thông",
          "Ứng dụng nhắc việc theo hạn", "Chuẩn hóa biểu mẫu báo cáo")  # fmt: skip


def _values(session: Session, unit: str, reach: str, number: int, year: int, day: date) -> dict[str, Any]:
    name = session.scalar(select(OrgUnit.name).where(OrgUnit.id == unit)) or unit
    return {
        "reference": f"{number:02d}/QĐ-HĐSK.{unit}.{year}",
        "title": f"{TITLES[number % len(TITLES)]} ({name})",
        "authors": "Tổ sáng kiến của đơn vị",
        "unit_id": unit,
        "reach": reach,
        "recognised_on": day,
        "recognised_by": f"Hội đồng sáng kiến của {name}, Quyết định {number:02d}/QĐ-HĐSK",
    }


def _next_number(session: Session, unit: str, year: int) -> int:
    like = f"%/qđ-hđsk.{unit.casefold()}.{year}"
    count = session.scalar(select(func.count()).select_from(Initiative).where(Initiative.reference_key.like(like)))
    return int(count or 0) + 1


def seed_register(session: Session, clock: Clock, campaign: CampaignConfig) -> int:
    """Each participating unit's early initiatives (recognised on 15/1 of the year, or the campaign's day)."""
    year = campaign.campaign_year
    day = min(date(year, 1, 15), campaign.date)
    made = 0
    for unit in campaign.units:
        if _next_number(session, unit, year) > 1:  # seeded already (a second run on the same database)
            continue
        for n, reach in enumerate(SEEDED_REACHES, start=1):
            initiatives.register(session, clock, ACTOR, _values(session, unit, reach, n, year, day))
            made += 1
    return made


def _free(session: Session, ctx: EngineContext, row: HumanTask, unit: str, needed: str, taken: set[str]) -> Initiative:
    """A free initiative of the unit with at least ``needed`` reach (the lowest such first), else a new one."""
    reaches = initiatives.REACHES[initiatives.REACHES.index(needed) :]
    found = session.scalars(
        select(Initiative).where(Initiative.unit_id == unit, Initiative.reach.in_(reaches)).order_by(Initiative.id)
    ).all()
    today = initiatives.local_today(ctx.clock)
    for initiative in sorted(found, key=lambda i: (initiatives.REACHES.index(i.reach), i.id)):
        if initiative.reference_key in taken or initiative.recognised_on > today:
            continue
        if held_by(session, ctx, initiative, row.instance_id, ACTOR) is None:
            return initiative
    year = today.year
    return initiatives.register(
        session, ctx.clock, ACTOR, _values(session, unit, needed, _next_number(session, unit, year), year, today)
    )


def fill_references(
    session: Session, ctx: EngineContext, row: HumanTask, schema: dict[str, Any] | None, submission: dict[str, Any]
) -> None:
    """Name a free registered initiative in each entry of ``submission`` that relies on one and names none."""
    unit = row.unit_id
    if unit is None:
        return
    taken: set[str] = set()
    for path in marked_paths(schema):
        if len(path) != 3 or path[1] != "*":  # the lists of entries the forms use: LIST[*].FIELD
            continue
        for entry in submission.get(path[0]) or []:
            if not isinstance(entry, dict) or not entry.get("has_initiative") or entry.get(path[2]):
                continue
            needed = next((reach for flag, reach in CLAIMS if entry.get(flag) is True), "unit")
            initiative = _free(session, ctx, row, unit, needed, taken)
            taken.add(normalise(initiative.reference))
            entry[path[2]] = initiative.reference
