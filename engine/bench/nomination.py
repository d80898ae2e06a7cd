"""The nomination pipeline of ``bpmn/`` driven end to end, through the engine's services and in the floor.

What one instance is: ``nomination`` (regular round, not sudden) started for two units of the demo organisation
(``demo/org.yaml``, the models of ``bpmn/`` and ``forms/`` deployed as ``tdkt demo`` deploys them, the rules of
``rules/lifecycle.yaml`` in force on the start date). Each unit's council proposes two candidates (an individual
for Chiến sĩ thi đua cấp tỉnh with three years of the prerequisite title, a collective for Tập thể lao động xuất
sắc); every dossier is complete, signed and appraised eligible; the list is published, the comment period (a
``timeDate`` timer, five working days) runs out, comments are recorded; the Council of 11 convenes, everyone
attends and votes in favour, the secretary tallies; the Chairman decides and certificates are issued.

Human steps per instance: 2 unit councils + 4 × 3 dossier steps + publish + comments + decision + certificates
(18 form steps), convene + attendance + 11 ballots (13 council steps) and the tally: 32; plus one timer.
Every submission follows from the task's data alone (``engine.simulation.officers`` fills the forms, with a
behaviour that never returns, delays or rejects), so both sides submit the same data whatever order they
complete parallel tasks in.

The engine: ``instances.start_instance``; ``tasks.complete`` for the form steps; ``council_meeting.convene``,
``council_meeting.record_attendance`` and ``ballots.cast_ballot`` for the council steps; ``ballots.tally_meeting``
for the tally; when nothing is open, the manual clock is moved ten days and ``timers.fire_due_timers`` runs, as
the simulation does. Each of those is timed in its own transaction, commit included; who acts and what they
submit is worked out before, outside the timed part (their inbox and form would have shown it).

The floor: plain SpiffWorkflow with the same parsed specs and the same script engine (its working-day
functions on a manual clock of its own), serializing and restoring its JSON once per step; each human task is
completed with the data the engine hands SpiffWorkflow for it: the form submission; for the council steps what
the services complete their tasks with (the agenda, attendance, ``{}`` for a ballot, the counted results);
timers fire by moving the clock (``using_clock``) and ``refresh_timers`` + ``do_engine_steps``. What has no
counterpart in the floor: the ballot box (participation row, sealed slips), the minutes (HTML and PDF) rendered
at the tally, form validation against the JSON Schemas, due dates and candidate rows of the opened tasks, audit.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine.bench.floor import state_io
from engine.bench.workloads import HUMAN, Workload
from engine.clock import ManualClock
from engine.core.bpmn_parser import InProcessCallsParser
from engine.core.definitions import ProcessBundle, parse_files
from engine.core.runtime import find_task
from engine.core.spiff_clock import using_clock
from engine.core.tally import RuleSet, agenda_of, ballot_lines, check_candidates, rules_in_force, tally
from engine.persistence.models import Definition, HumanTask, Instance
from engine.services import ballots, certificates, council_meeting
from engine.services import instances as instance_service
from engine.services import tasks as task_service
from engine.services.context import EngineContext
from engine.services.data_files import read_yaml
from engine.services.definitions import deploy
from engine.services.directory import users_with_role
from engine.services.instance_store import OPEN, load_instance
from engine.services.org import load_org_file
from engine.services.rules import load_rule_sets, start_data
from engine.services.timers import fire_due_timers
from engine.simulation.campaign import CampaignConfig, load_campaign
from engine.simulation.officers import DOCS, Behaviour, fill_form

ROOT = Path(__file__).resolve().parents[2]
ORG_FILE = ROOT / "demo" / "org.yaml"
CAMPAIGN_FILE = ROOT / "demo" / "campaign.yaml"
RULES_FILE = ROOT / "rules" / "lifecycle.yaml"
KEY = "nomination"
UNITS = ("SYT", "TXTM")
BEGIN = datetime(2024, 11, 25, 2, 0, tzinfo=UTC)  # a Monday, 09:00 in Việt Nam; every instance starts then
TIMER_STEP = timedelta(days=10)  # past the five working days of the comment period
PLACE = "Hội trường UBND tỉnh"
SHARE = 10  # the workload runs one instance per ten of --instances (each has 32 human steps), at least one
STEADY = Behaviour(late=0, head_returns=0, review_returns=0, missing_document=0, ineligible=0, council_agree=1)
KINDS = ("form", "council", "tally", "decision", "timer")
COUNCIL_STEPS = {"council_convene", "council_attendance", "council_ballot", "council_written_ballot"}

NOTE = (
    "nomination: bpmn/nomination.bpmn end to end (2 units x 2 candidates, council of 11, one disclosure timer); "
    "32 human steps per instance (17 forms via tasks.complete, 13 council steps, 1 tally, the Chairman's decision "
    "via certificates.sign_decision) and 1 timer; ratio over all human steps; the floor completes the same tasks "
    "with the data the engine gives SpiffWorkflow, but has no ballot box, minutes or certificates (PDF) or form "
    "validation: not in the headline ratio"
)


def instances_for(requested: int) -> int:
    return max(1, requested // SHARE)


def model_files() -> list[tuple[str, bytes]]:
    """What ``tdkt demo`` deploys: every model of ``bpmn/`` and every form of ``forms/``."""
    paths = sorted(p for p in (ROOT / "bpmn").iterdir() if p.suffix in (".bpmn", ".dmn"))
    paths += sorted((ROOT / "forms").glob("*.json"))
    return [(p.name, p.read_bytes()) for p in paths]


def nomination_workload() -> Workload:
    return Workload(
        name="nomination", key=KEY, files=model_files(), step=HUMAN, note=NOTE, driver="nomination", in_headline=False
    )


@cache
def _campaign() -> tuple[CampaignConfig, tuple[Any, ...]]:
    return load_campaign(CAMPAIGN_FILE), tuple(load_rule_sets(RULES_FILE))


def start_payload() -> dict[str, Any]:
    campaign, rule_sets = _campaign()
    return {
        "campaign_year": campaign.campaign_year,
        "province_unit": campaign.province_unit,
        "home_affairs_unit": campaign.home_affairs_unit,
        "council_unit": campaign.council_unit,
        "units": list(campaign.units),
        "nomination_units": list(UNITS),
        "sudden": False,
        "block_results": [],  # no block scored this round: no unit leads a block
        **start_data(list(rule_sets), BEGIN.date()),
    }


def unit_candidates(unit: str, year: int) -> list[dict[str, Any]]:
    prerequisites = ("chien_si_thi_dua_co_so", "lao_dong_tien_tien")
    titles = [{"year": year - i, "title": t} for t in prerequisites for i in range(3)]
    return [
        {
            "name": f"Cán bộ {unit}",
            "kind": "individual",
            "award": "chien_si_thi_dua_tinh",
            "titles": titles,
            "has_initiative": True,
            "initiative_provincial": True,
            "disciplined": False,
            "female": True,
        },
        {
            "name": f"Phòng Tổng hợp {unit}",
            "kind": "collective",
            "award": "tap_the_lao_dong_xuat_sac",
            "titles": [],
            "has_initiative": True,
            "excellent_completion": True,
            "members_completed_share": 1.0,
            "lao_dong_tien_tien_share": 0.8,
            "chien_si_thi_dua_co_so_count": 1,
            "disciplined": False,
            "female": False,
        },
    ]


def submission(form_key: str | None, data: dict[str, Any]) -> dict[str, Any]:
    """What a form step submits, from the task's data only."""
    if form_key == "nom_unit_council":
        year = int(data["campaign_year"])
        return {
            "meeting_date": f"{year}-11-25",
            "minutes_file": f"files/bien-ban-{data['unit_id']}.pdf",
            "unit_candidates": unit_candidates(str(data["unit_id"]), year),
        }
    if form_key == "dossier_prepare":
        return {
            "documents": {d: f"files/{d}.pdf" for d in DOCS},
            "achievement_summary": "Hoàn thành xuất sắc nhiệm vụ, có sáng kiến được công nhận",
        }
    return fill_form(form_key, None, data, random.Random(0), STEADY)


def agenda(data: dict[str, Any]) -> list[dict[str, Any]]:
    out = set(data.get("council_withdrawn") or [])
    return [c for c in data.get("candidates") or [] if c["candidate_id"] not in out]


def kind_of(form_key: str | None) -> str:
    if form_key == "council_tally":
        return "tally"
    if form_key == certificates.FORM_KEY:  # signed on the decision page: the certificates' PDFs are made there
        return "decision"
    return "council" if form_key in COUNCIL_STEPS else "form"


def _empty() -> dict[str, Any]:
    return {"start": [], "step": [], **{k: [] for k in KINDS}, "human_steps": 0, "timers_fired": 0}


# --- the floor ------------------------------------------------------------------------------------------------


def council_members() -> list[str]:
    """The active ``council_member`` holders of the Council's unit in ``demo/org.yaml`` (what the directory says)."""
    campaign, _ = _campaign()
    org = read_yaml(ORG_FILE, "organisation")
    inactive = {u["id"] for u in org.get("users", []) if u.get("active") is False}
    return sorted(
        {
            m["user"]
            for m in org.get("memberships", [])
            if m.get("role") == council_meeting.MEMBER_ROLE and m.get("unit") == campaign.council_unit
        }
        - inactive
    )


@dataclass
class _FloorCouncil:
    """What the floor keeps of a meeting between its steps (the engine keeps it in its council tables)."""

    members: list[str]
    clock: ManualClock
    ctx: EngineContext
    meetings: int = 0
    candidates: list[dict[str, Any]] = field(default_factory=list)
    rule_set: RuleSet | None = None
    slips: list[tuple[str, str]] = field(default_factory=list)

    def act(self, form_key: str | None, data: dict[str, Any]) -> dict[str, Any]:
        if form_key == "council_convene":
            self.candidates = check_candidates(data.get("candidates"))
            self.rule_set = rules_in_force(council_meeting.council_rules(), date.fromisoformat(data["rules_date"]))
            self.meetings += 1
            self.slips = []
            return {
                "meeting_id": self.meetings,
                "sitting": 1,
                "meeting_date": self.clock.now().date().isoformat(),
                "meeting_place": PLACE,
                "council_agenda": agenda_of(self.candidates, [], self.rule_set),
                "council_withdrawn": [],
            }
        assert self.rule_set is not None
        if form_key == "council_attendance":
            closes = self.ctx.calendar.add_working_days(self.clock.now(), self.rule_set.voting_window_working_days)
            return {
                "council_members": self.members,
                "present_members": self.members,
                "absent_members": [],
                "quorum_needed": self.rule_set.quorum_needed(len(self.members)),
                "voting_closes_at": closes.isoformat(),
            }
        if form_key == "council_ballot":
            self.slips += [(cid, "agree") for cid in ballot_lines(agenda(data), str(data["member"]))]
            return {}
        if form_key == "council_tally":
            slips = list(self.slips)
            random.shuffle(slips)
            counted = tally(self.candidates, [], self.members, self.members, slips, self.rule_set)
            return {"council_results": [r.as_output() for r in counted], "minutes_documents": [1, 2]}
        raise ValueError(f"the floor has no council step {form_key}")


def _bundle(workload: Workload) -> ProcessBundle:
    # The floor: plain SpiffWorkflow, its call activities inside the one workflow (as SpiffWorkflow runs them).
    bundles = parse_files(workload.files, parser_class=InProcessCallsParser).bundles
    return next(b for b in bundles if b.key == workload.key)


def run_nomination_floor(workload: Workload, instances: int, *, with_spec: bool = True) -> dict[str, Any]:
    """Seconds per start, per human step (and per kind) and per timer, in plain SpiffWorkflow."""
    bundle = _bundle(workload)
    clock = ManualClock(BEGIN)
    ctx = EngineContext(clock=clock)
    engine = ctx.script_engine
    dump, load = state_io(bundle, engine, with_spec=with_spec)
    council = _FloorCouncil(council_members(), clock, ctx)
    payload = start_payload()

    out = _empty()
    completed = 0
    for _ in range(instances):
        clock.set(BEGIN)
        with using_clock(clock):
            t0 = time.perf_counter()
            wf = BpmnWorkflow(bundle.spec, bundle.subprocess_specs, script_engine=engine)
            for task in wf.get_tasks(state=TaskState.READY):
                task.data.update(payload)
            wf.refresh_timers()
            wf.do_engine_steps()
            state = dump(wf)
            out["start"].append(time.perf_counter() - t0)
            while True:
                t0 = time.perf_counter()
                wf = load(state)
                ready = wf.get_tasks(state=TaskState.READY, manual=True)
                if not ready:
                    if wf.is_completed():
                        completed += 1
                        break
                    clock.advance(TIMER_STEP)
                    wf.refresh_timers()
                    wf.do_engine_steps()
                    state = dump(wf)
                    out["timer"].append(time.perf_counter() - t0)
                    out["timers_fired"] += 1
                    if out["timers_fired"] > 10 * instances:
                        break  # stuck: reported as not completed
                    continue
                task = ready[0]
                form_key = bundle.task_meta.get(task.task_spec.bpmn_id, {}).get("form_key")
                kind = kind_of(form_key)
                if kind in ("form", "decision"):
                    paused = time.perf_counter()
                    data = submission(form_key, dict(task.data))  # outside the timed part, as in the engine
                    t0 += time.perf_counter() - paused
                else:
                    data = council.act(form_key, task.data)
                task.data.update(data)
                task.run()
                wf.refresh_timers()
                wf.do_engine_steps()
                state = dump(wf)
                elapsed = time.perf_counter() - t0
                out["step"].append(elapsed)
                out[kind].append(elapsed)
                out["human_steps"] += 1
    out["completed"], out["instances"] = completed, instances
    return out


# --- the engine -----------------------------------------------------------------------------------------------


def install(sessions: sessionmaker[Session], ctx: EngineContext) -> None:
    """The demo organisation and every model, once per database (as ``tdkt demo`` loads them)."""
    with sessions() as s, s.begin():
        if s.scalar(select(Definition.id).where(Definition.key == KEY).limit(1)) is None:
            load_org_file(s, ORG_FILE, ctx.clock, actor="bench")
            deploy(s, model_files(), ctx.clock, actor="bench")
        ctx.reload_calendar(s)


@dataclass(frozen=True)
class _Step:
    task_id: int
    form_key: str | None
    user: str
    data: dict[str, Any]
    members: list[str]


def _next_step(session: Session, ctx: EngineContext, instance_id: int) -> _Step | None:
    """The first open task of the instance or of the instances it called (dossiers, the Council meeting), who
    does it, its data (what their form would show); None when none."""
    tree = select(Instance.id).where((Instance.id == instance_id) | (Instance.root_id == instance_id))
    row = session.scalars(
        select(HumanTask)
        .where(HumanTask.instance_id.in_(tree.scalar_subquery()), HumanTask.status.in_(OPEN))
        .order_by(HumanTask.id)
        .limit(1)
    ).first()
    if row is None:
        return None
    if row.assignee:
        user = row.assignee
    elif row.candidate_users:
        user = str(sorted(row.candidate_users)[0])
    else:
        people = users_with_role(session, row.role_id or "", row.unit_id, ctx.now())
        if not people:
            raise RuntimeError(f"nobody holds {row.role_id} in {row.unit_id} for {row.element_id}")
        user = people[0]
    task = find_task(load_instance(session, ctx, row.instance_id).workflow, row.task_guid)
    data = dict(task.data) if task is not None else {}
    members = council_meeting.council_members(session, row.unit_id) if row.form_key == "council_attendance" else []
    return _Step(row.id, row.form_key, user, data, members)


def _act(session: Session, ctx: EngineContext, step: _Step, payload: dict[str, Any] | None) -> None:
    if step.form_key == "council_convene":
        council_meeting.convene(session, ctx, step.task_id, step.user, meeting_date=ctx.now().date(), place=PLACE)
    elif step.form_key == "council_attendance":
        council_meeting.record_attendance(session, ctx, step.task_id, step.user, step.members)
    elif step.form_key == "council_ballot":
        choices = {cid: "agree" for cid in ballot_lines(agenda(step.data), step.user)}
        ballots.cast_ballot(session, ctx, step.task_id, step.user, choices)
    elif step.form_key == "council_tally":
        ballots.tally_meeting(session, ctx, step.task_id, step.user)
    elif step.form_key == certificates.FORM_KEY and payload is not None:
        certificates.sign_decision(
            session,
            ctx,
            step.task_id,
            step.user,
            decision_number=payload["decision_number"],
            signed_date=payload["signed_date"],
        )
    else:
        task_service.complete(session, ctx, step.task_id, step.user, payload)


def run_nomination_engine(sessions: sessionmaker[Session], workload: Workload, instances: int) -> dict[str, Any]:
    """Seconds per start, per human step (and per kind) and per timer pass, through the engine's services."""
    clock = ManualClock(BEGIN)
    ctx = EngineContext(clock=clock)
    install(sessions, ctx)
    campaign, _ = _campaign()
    payload = start_payload()
    out = _empty()
    ids = []
    for _ in range(instances):
        clock.set(BEGIN)
        t0 = time.perf_counter()
        with sessions() as s, s.begin():
            iid = instance_service.start_instance(
                s, ctx, key=KEY, unit_id=campaign.province_unit, data=dict(payload), actor=campaign.started_by
            ).id
        out["start"].append(time.perf_counter() - t0)
        ids.append(iid)
        passes = 0
        while True:
            with sessions() as s:
                step = _next_step(s, ctx, iid)
                status = s.scalar(select(Instance.status).where(Instance.id == iid)) if step is None else None
            if step is None:
                if status != "running" or passes > 10:
                    break
                clock.advance(TIMER_STEP)
                passes += 1
                t0 = time.perf_counter()
                fired = fire_due_timers(sessions, ctx, owner="bench")
                out["timer"].append(time.perf_counter() - t0)
                out["timers_fired"] += fired
                continue
            kind = kind_of(step.form_key)
            data = submission(step.form_key, step.data) if kind in ("form", "decision") else None
            t0 = time.perf_counter()
            with sessions() as s, s.begin():
                _act(s, ctx, step, data)
            elapsed = time.perf_counter() - t0
            out["step"].append(elapsed)
            out[kind].append(elapsed)
            out["human_steps"] += 1
    with sessions() as s:
        statuses = list(s.scalars(select(Instance.status).where(Instance.id.in_(ids))))
    out["completed"], out["instances"] = statuses.count("completed"), len(ids)
    return out
