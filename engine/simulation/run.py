"""The simulated year: a manual clock moved day by day, officers completing their tasks, timers firing.

Each morning (09:00 in Việt Nam) the scheduler's timer pass runs; on working days every open task whose planned
day has come is completed through ``tasks.complete`` by a user entitled to it. A task's planned day is drawn once,
when it is first seen: within its deadline for most, a few working days past it for a share (``Behaviour.late``).
Everything random comes from one ``random.Random(seed)`` consumed in a fixed order (tasks by id), so the same
seed gives the same year.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from time import perf_counter
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine.clock import ManualClock
from engine.core.runtime import find_task
from engine.errors import EngineError
from engine.persistence.models import HumanTask, OrgUnit
from engine.services import certificates, instances, tasks
from engine.services.context import EngineContext
from engine.services.directory import users_with_role
from engine.services.instance_store import OPEN, load_instance
from engine.services.rules import RuleSet, start_data
from engine.services.timers import fire_due_timers
from engine.simulation import council, initiatives
from engine.simulation.campaign import CampaignConfig, open_campaign
from engine.simulation.council import COUNCIL_FORMS
from engine.simulation.officers import Behaviour, fill_form
from engine.simulation.report import SimulationTable, build_table

MORNING = time(2, 0)  # 09:00 Asia/Ho_Chi_Minh


@dataclass
class Simulation:
    sessions: sessionmaker[Session]
    ctx: EngineContext
    clock: ManualClock
    campaign: CampaignConfig
    rule_sets: list[RuleSet]
    seed: int
    behaviour: Behaviour = field(default_factory=Behaviour)
    sudden_nominations: int = 2
    planned: dict[int, date] = field(default_factory=dict)  # task id -> the day its person will finish it
    errors: list[str] = field(default_factory=list)
    snapshot: dict[int, dict[str, Any]] = field(default_factory=dict)  # task id -> its data, read this morning
    # Measuring (the bench's province workload): when a list is given, the seconds of each tasks.complete call
    # are appended to it; ``day_ended`` is called with each simulated day once its work is done.
    completion_times: list[float] | None = None
    day_ended: Callable[[date], None] | None = None
    # The demo's history: ``day_started`` runs each morning after the timers (it may start processes);
    # ``left_to_people`` says which tasks the simulated officers never do (they stay open for real people).
    day_started: Callable[[date], None] | None = None
    left_to_people: Callable[[Session, HumanTask], bool] | None = None

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    # -- one day -----------------------------------------------------------------------------------------------
    def _plan(self, row: HumanTask, today: date) -> date:
        calendar = self.ctx.calendar
        if row.form_key in COUNCIL_FORMS:  # the Council sits and votes on the day (its window is one working day)
            return today
        if row.due_at is None:
            return calendar.add_working_days(today, self.rng.randint(1, 3))
        due = row.due_at.astimezone(UTC).date()
        if self.rng.random() < self.behaviour.late:
            return calendar.add_working_days(due, self.rng.randint(1, 6))
        # People on time mostly finish in the first half of the time they are given.
        slack = max(0, calendar.working_days_between(today, due) - 1) // 2
        return calendar.add_working_days(today, self.rng.randint(0, slack)) if slack else today

    def _worker(self, session: Session, row: HumanTask) -> str | None:
        if row.assignee:
            return row.assignee
        if row.candidate_users:
            return str(sorted(row.candidate_users)[0])
        if row.role_id:
            people = users_with_role(session, row.role_id, row.unit_id, self.ctx.now())
            return self.rng.choice(people) if people else None
        return None

    def _complete(self, row_id: int) -> None:
        with self.sessions() as session, session.begin():
            row = session.get(HumanTask, row_id)
            if row is None or row.status not in OPEN:
                return
            user = self._worker(session, row)
            if user is None:
                self.errors.append(f"{row.element_id} ({row.unit_id}): nobody holds {row.role_id}")
                self.planned[row_id] = date.max
                return
            data = self.snapshot.get(row_id, {})
            if row.form_key in COUNCIL_FORMS:
                council.act(session, self.ctx, row, user, data, self.rng, self.behaviour)
                return
            if row.form_key == "nom_unit_council":  # the unit's council knows what kind of unit it is
                unit = session.get(OrgUnit, row.unit_id) if row.unit_id else None
                data = {**data, "unit_kind": unit.kind if unit is not None else None}
            schema = tasks.task_form(session, self.ctx, row)
            submission = fill_form(row.form_key, schema, data, self.rng, self.behaviour)
            initiatives.fill_references(session, self.ctx, row, schema, submission)  # from the register
            started = perf_counter()
            if row.form_key == certificates.FORM_KEY:  # the Chairman signs on the decision page
                certificates.sign_decision(
                    session,
                    self.ctx,
                    row_id,
                    user,
                    decision_number=submission["decision_number"],
                    signed_date=submission["signed_date"],
                )
            else:
                tasks.complete(session, self.ctx, row_id, user, submission)
            if self.completion_times is not None:
                self.completion_times.append(perf_counter() - started)

    def _task_data(self, session: Session, rows: list[HumanTask]) -> dict[int, dict[str, Any]]:
        """The data of the tasks due today, restoring each instance once (READY tasks' data does not change until
        they run, and tasks created today are first seen tomorrow)."""
        found: dict[int, dict[str, Any]] = {}
        for instance_id in sorted({r.instance_id for r in rows}):
            workflow = load_instance(session, self.ctx, instance_id).workflow
            for row in rows:
                task = find_task(workflow, row.task_guid) if row.instance_id == instance_id else None
                if task is not None:
                    found[row.id] = dict(task.data)
        return found

    def work(self, today: date, passes: int = 6) -> None:
        """Finish what is planned for today; work that opens meanwhile and is planned for today too (a Council
        member's ballot once attendance is taken) is done in a later pass the same day."""
        for _ in range(passes):
            with self.sessions() as session:
                query = select(HumanTask).where(HumanTask.status.in_(OPEN)).order_by(HumanTask.id)
                rows = list(session.scalars(query))
                for row in rows:
                    if row.id not in self.planned:
                        left = self.left_to_people is not None and self.left_to_people(session, row)
                        self.planned[row.id] = date.max if left else self._plan(row, today)
                due_today = [r for r in rows if self.planned[r.id] <= today]
                self.snapshot = self._task_data(session, due_today)
            if not due_today:
                return
            for row_id in [r.id for r in due_today]:
                try:
                    self._complete(row_id)
                except EngineError as err:
                    self.errors.append(f"task {row_id}: {err.message}")
                    self.planned[row_id] = date.max

    def start_sudden(self, today: date) -> None:
        unit = self.rng.choice(self.campaign.units)
        data: dict[str, Any] = {
            "campaign_year": self.campaign.campaign_year,
            "province_unit": self.campaign.province_unit,
            "home_affairs_unit": self.campaign.home_affairs_unit,
            "council_unit": self.campaign.council_unit,
            "units": list(self.campaign.units),
            "nomination_units": [unit],
            "sudden": True,
            **start_data(self.rule_sets, today),
        }
        with self.sessions() as session, session.begin():
            instances.start_instance(
                session,
                self.ctx,
                key="nomination",
                business_key=f"DX-{today.isoformat()}-{unit}",
                unit_id=unit,
                data=data,
                actor=self.campaign.started_by,
            )

    # -- the whole run -----------------------------------------------------------------------------------------
    def run(self, start: date, until: date) -> SimulationTable:
        self.simulate(start, until)
        end = datetime.combine(until, MORNING, tzinfo=UTC)
        with self.sessions() as session:
            return build_table(session, self.ctx, end)

    def simulate(self, start: date, until: date) -> None:
        """Open the campaign and live every day from ``start`` to ``until`` (no table: ``run`` builds it)."""
        self.clock.set(datetime.combine(start, MORNING, tzinfo=UTC))
        with self.sessions() as session, session.begin():
            open_campaign(session, self.ctx, self.campaign, self.rule_sets)
            initiatives.seed_register(session, self.clock, self.campaign)  # what the candidates will rely on
        days = (until - start).days + 1
        sudden_days = sorted(self.rng.sample(range(20, max(21, days - 40)), min(self.sudden_nominations, days // 60)))
        for offset in range(days):
            today = start + timedelta(days=offset)
            self.clock.set(datetime.combine(today, MORNING, tzinfo=UTC))
            fire_due_timers(self.sessions, self.ctx, owner="simulation")
            if self.day_started is not None:
                self.day_started(today)
            if offset in sudden_days:
                self.start_sudden(today)
            if self.ctx.calendar.is_working_day(today):
                self.work(today)
            if self.day_ended is not None:
                self.day_ended(today)
