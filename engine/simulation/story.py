"""The demo's story: the year lived by simulated officers up to yesterday, leaving today's work to real people.

Beside the campaign itself (``Simulation``), a thematic award round (khen thưởng chuyên đề) is opened three months
before the last day lived, for a few units: the officers carry it through the unit councils, dossiers, appraisal
and public disclosure; the Council meeting and the Chairman's decision are left to people. On the last day lived
the Council's secretary convenes the sitting for a working week later (``finish``), so when the product hands over
to the real clock a Council meeting is convened for next week: its attendance, the members' secret ballots, the
tally and the Chairman's decision are done in the browser.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine.clock import ManualClock
from engine.persistence.models import HumanTask, Instance
from engine.services import council_meeting, instances
from engine.services.context import EngineContext
from engine.services.directory import users_with_role
from engine.services.instance_store import OPEN
from engine.services.rules import RuleSet, start_data
from engine.simulation.campaign import CampaignConfig
from engine.simulation.council import COUNCIL_FORMS

THEMATIC_LEAD_DAYS = 90  # calendar days before the last day lived: more than the round takes to reach the Council
MEETING_AFTER_WORKING_DAYS = 5  # the sitting the secretary convenes on the last day lived: a working week later
THEMATIC_UNITS = 4  # the campaign's first units nominate in it
LEFT_TO_PEOPLE = frozenset(COUNCIL_FORMS | {"nom_decision"})


@dataclass
class DemoStory:
    sessions: sessionmaker[Session]
    ctx: EngineContext
    campaign: CampaignConfig
    rule_sets: list[RuleSet]
    last_day: date
    thematic_id: int | None = None
    _roots: dict[int, int | None] = field(default_factory=dict)

    @property
    def thematic_day(self) -> date:
        return max(self.campaign.date + timedelta(days=14), self.last_day - timedelta(days=THEMATIC_LEAD_DAYS))

    def business_key(self) -> str:
        return f"CD-{self.campaign.campaign_year}-01"

    def thematic_data(self, today: date) -> dict[str, Any]:
        c = self.campaign
        return {
            "campaign_year": c.campaign_year,
            "province_unit": c.province_unit,
            "home_affairs_unit": c.home_affairs_unit,
            "council_unit": c.council_unit,
            "units": list(c.units),
            "nomination_units": list(c.units[:THEMATIC_UNITS]),
            "sudden": False,
            "award_kind": "chuyen_de",
            "round_title": f"Khen thưởng chuyên đề năm {c.campaign_year} (minh họa)",
            "block_results": [],  # a round of its own: no block scoring feeds it
            **start_data(self.rule_sets, today),
        }

    def day_started(self, today: date) -> None:
        """Each morning of the history: open the thematic round on its day."""
        if self.thematic_id is not None or today != self.thematic_day:
            return
        with self.sessions() as session, session.begin():
            row = instances.start_instance(
                session,
                self.ctx,
                key="nomination",
                business_key=self.business_key(),
                unit_id=self.campaign.home_affairs_unit,
                data=self.thematic_data(today),
                actor=self.campaign.started_by,
            )
            self.thematic_id = row.id

    def left_to_people(self, session: Session, row: HumanTask) -> bool:
        """The thematic round's Council meeting and its decision wait for real people."""
        if self.thematic_id is None or row.form_key not in LEFT_TO_PEOPLE:
            return False
        if row.instance_id not in self._roots:
            found = session.execute(select(Instance.id, Instance.root_id).where(Instance.id == row.instance_id))
            ident, root = found.one()
            self._roots[row.instance_id] = root or ident
        return self._roots[row.instance_id] == self.thematic_id

    def finish(self, clock: ManualClock) -> date | None:
        """On the last day lived: the secretary convenes the thematic round's sitting for a working week later, if
        the round has reached its Council (returns the meeting's date, else None)."""
        if self.thematic_id is None:
            return None
        with self.sessions() as session, session.begin():
            convene = session.scalars(
                select(HumanTask)
                .join(Instance, Instance.id == HumanTask.instance_id)
                .where(
                    Instance.root_id == self.thematic_id,
                    HumanTask.form_key == "council_convene",
                    HumanTask.status.in_(OPEN),
                )
            ).first()
            if convene is None:
                return None
            secretaries = users_with_role(session, "council_secretary", convene.unit_id, clock.now())
            if not secretaries:
                return None
            day = self.ctx.calendar.add_working_days(self.last_day, MEETING_AFTER_WORKING_DAYS)
            council_meeting.convene(
                session, self.ctx, convene.id, secretaries[0], meeting_date=day, place="Hội trường UBND tỉnh"
            )
            return day
