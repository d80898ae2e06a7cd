"""Sở Nội vụ's campaign dashboard: per participating unit, where its work stands in each stage of the year, what
is overdue or escalated, and the nomination pipeline by status.

A campaign is a ``campaign_launch`` instance and everything its calls started (each unit's plan, registration,
reports, review reports, nominations and dossiers: instances of their own whose ``root_id`` is the campaign; see
bpmn/README.md). A sudden nomination started on its own (``nomination`` with ``sudden``) is a root too.

The stage of an instance is the call activity of the root that (directly or through its own calls) started it:
``STAGE_OF_CALL`` is the one mapping from the BPMN element ids to the stages, and ``DOSSIER_STATUS`` /
``ROUND_PHASE`` map the nomination processes' user tasks to the pipeline's statuses. A unit's stage is derived
from its instances' open and completed tasks: open work (with its due date and escalation level), waiting (the
instance runs, nothing is the unit's to do: a timer, another unit's step), done, or not started.

``campaign_dashboard`` reads everything with a fixed number of queries, whatever the number of units: the root,
its start data, the tree's instances, the units' names, the last urge of each task, the open tasks and the
completed-task counts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.errors import NotFoundError
from engine.persistence.models import AuditEvent, HumanTask, Instance, OrgUnit
from engine.services.context import EngineContext

ROOT_KEYS = ("campaign_launch", "nomination")
STAGES = ("plan", "registration", "periodic", "so_ket", "tong_ket", "nomination")
# campaign_launch.bpmn's (and nomination.bpmn's) call activities -> the stage of everything they start
STAGE_OF_CALL = {
    "launch_plans": "plan",
    "launch_registrations": "registration",
    "launch_pledges": "registration",
    "launch_periodic": "periodic",
    "launch_so_ket": "so_ket",
    "launch_tong_ket": "tong_ket",
    "launch_block_scoring": "tong_ket",
    "launch_nomination": "nomination",
    "nom_units": "nomination",
    "nom_council": "nomination",
    "nom_national": "nomination",
}
# nomination_dossier.bpmn's and unit_nomination.bpmn's user tasks -> the pipeline's status of the item
DOSSIER_STATUS = {
    "nom_unit_council": "unit_review",
    "nom_sudden_propose": "unit_review",
    "unom_head_decision": "unit_review",
    "unom_unit_certificates": "unit_review",
    "dossier_prepare": "preparing",
    "dossier_sign": "signing",
    "dossier_appraise": "appraisal",
    "dossier_supplement": "supplement",
    "dossier_rejection_notice": "rejected",
}
# nomination.bpmn's user tasks -> where the round's eligible dossiers are
ROUND_PHASE = {
    "nom_disclosure_publish": "disclosure",
    "nom_disclosure_comments": "disclosure",
    "nom_comments_report": "disclosure",
    "nom_decision": "decision",
    "nom_certificates": "decision",
}
PIPELINE = (
    "unit_review",
    "preparing",
    "signing",
    "appraisal",
    "supplement",
    "eligible",
    "disclosure",
    "council",
    "decision",
    "closed",
    "rejected",
)
RUNNING = ("running", "suspended", "incident")
OPEN = ("open", "claimed")
ESCALATED_LEVEL = 2  # the escalation step that reaches Sở Nội vụ (engine/services/escalation.py LEVELS)


@dataclass(frozen=True)
class OpenTask:
    id: int
    instance_id: int
    element_id: str
    name: str
    unit_id: str | None
    assignee: str | None
    due_at: datetime | None
    escalation_level: int
    overdue: bool
    unit_name: str = ""
    urged_at: datetime | None = None  # the last "Đôn đốc" (engine/services/urge.py)

    @property
    def escalated(self) -> bool:
        return self.escalation_level >= ESCALATED_LEVEL


@dataclass
class StageCell:
    state: str = "none"  # none | open | waiting | done | cancelled | incident
    tasks: list[OpenTask] = field(default_factory=list)
    completed_steps: int = 0
    instance_ids: list[int] = field(default_factory=list)

    @property
    def overdue(self) -> bool:
        return any(t.overdue for t in self.tasks)

    @property
    def escalated(self) -> bool:
        return any(t.escalated for t in self.tasks)


@dataclass
class UnitRow:
    unit_id: str
    unit_name: str
    kind: str
    blocks: list[str]
    cells: dict[str, StageCell]

    @property
    def overdue(self) -> int:
        return sum(1 for c in self.cells.values() for t in c.tasks if t.overdue)

    @property
    def escalated(self) -> int:
        return sum(1 for c in self.cells.values() for t in c.tasks if t.escalated)


@dataclass(frozen=True)
class PipelineItem:
    instance_id: int
    business_key: str | None
    unit_id: str | None
    unit_name: str
    status: str
    candidate: str | None
    task: OpenTask | None


@dataclass
class Dashboard:
    root: Instance
    year: int | None
    title: str | None
    sudden: bool
    rows: list[UnitRow]
    blocks: list[dict[str, Any]]
    kinds: list[str]
    pipeline: Counter[str]
    items: list[PipelineItem]
    done_per_stage: dict[str, int]
    stages: tuple[str, ...] = STAGES


def campaigns(session: Session, limit: int = 50) -> list[Instance]:
    """The campaigns and stand-alone nomination rounds, newest first."""
    query = select(Instance).where(Instance.parent_id.is_(None), Instance.definition_key.in_(ROOT_KEYS))
    return list(session.scalars(query.order_by(Instance.id.desc()).limit(limit)))


def start_data(session: Session, instance_id: int) -> dict[str, Any]:
    """What the root was started with (its ``instance.started`` event): units, blocks, year, directive..."""
    query = select(AuditEvent.data).where(
        AuditEvent.instance_id == instance_id, AuditEvent.action == "instance.started"
    )
    event = session.scalars(query.order_by(AuditEvent.id).limit(1)).first() or {}
    data = event.get("data") if isinstance(event, dict) else None
    return data if isinstance(data, dict) else {}


def _stage_of(rows: dict[int, Any], root_id: int, instance_id: int) -> str | None:
    """The stage of an instance: the call element of its ancestor that the root called directly."""
    current = rows.get(instance_id)
    for _ in range(64):
        if current is None:
            return None
        if current.parent_id == root_id:
            return STAGE_OF_CALL.get(current.call_element or "")
        current = rows.get(current.parent_id)
    return None


def campaign_dashboard(
    session: Session,
    ctx: EngineContext,
    root_id: int,
    *,
    unit_ids: set[str] | None = None,
    kind: str | None = None,
    block: str | None = None,
) -> Dashboard:
    """The dashboard of one campaign (see the module docstring); only ``unit_ids`` unless None."""
    root = session.get(Instance, root_id)
    if root is None or root.parent_id is not None or root.definition_key not in ROOT_KEYS:
        raise NotFoundError(f"campaign {root_id} not found (a campaign_launch or nomination instance with no parent)")
    started = start_data(session, root_id)
    tree = {
        r.id: r
        for r in session.execute(
            select(
                Instance.id,
                Instance.parent_id,
                Instance.call_element,
                Instance.unit_id,
                Instance.definition_key,
                Instance.status,
                Instance.business_key,
                Instance.output,
            ).where((Instance.root_id == root_id) | (Instance.id == root_id))
        )
    }
    now = ctx.now()
    units = {u.id: u for u in session.execute(select(OrgUnit.id, OrgUnit.name, OrgUnit.kind))}
    in_tree = (Instance.root_id == root_id) | (Instance.id == root_id)
    task_query = (
        select(HumanTask)
        .join(Instance, Instance.id == HumanTask.instance_id)
        .where(HumanTask.status.in_(OPEN), in_tree)
        .order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.id)
    )
    urge_query = (
        select(AuditEvent.task_guid, func.max(AuditEvent.at))
        .join(Instance, Instance.id == AuditEvent.instance_id)
        .where(in_tree, AuditEvent.action == "task.urged")
        .group_by(AuditEvent.task_guid)
    )
    urged = dict(session.execute(urge_query).all())
    open_tasks = [
        OpenTask(
            t.id,
            t.instance_id,
            t.element_id,
            t.name or t.element_id,
            t.unit_id,
            t.assignee,
            t.due_at,
            t.escalation_level,
            t.due_at is not None and t.due_at < now,
            units[t.unit_id].name if t.unit_id in units else (t.unit_id or ""),
            urged.get(t.task_guid),
        )
        for t in session.scalars(task_query)
    ]
    done_query = (
        select(HumanTask.instance_id, func.count())
        .join(Instance, Instance.id == HumanTask.instance_id)
        .where(HumanTask.status == "completed", Instance.root_id == root_id)
        .group_by(HumanTask.instance_id)
    )
    completed = dict(session.execute(done_query).all())

    sudden = root.definition_key == "nomination" and bool(started.get("sudden"))
    listed = started.get("nomination_units") if root.definition_key == "nomination" else None
    participants = [str(u) for u in listed or started.get("units") or []]
    if not participants:
        participants = sorted({str(r.unit_id) for r in tree.values() if r.unit_id})
    blocks = [b for b in started.get("blocks") or [] if isinstance(b, dict)]
    blocks_of: dict[str, list[str]] = {}
    for b in blocks:
        for member in b.get("members") or []:
            blocks_of.setdefault(str(member), []).append(str(b.get("name") or b.get("block_id")))
    wanted = [
        u
        for u in participants
        if (unit_ids is None or u in unit_ids)
        and (kind is None or (units[u].kind if u in units else None) == kind)
        and (block is None or any(b.get("block_id") == block and u in (b.get("members") or []) for b in blocks))
    ]
    chosen = set(wanted)
    rows = {
        u: UnitRow(
            u,
            units[u].name if u in units else u,
            units[u].kind if u in units else "",
            blocks_of.get(u, []),
            {s: StageCell() for s in STAGES},
        )
        for u in wanted
    }
    member_set = set(participants)
    stage_of = {i: _stage_of(tree, root_id, i) for i in tree}
    for instance in tree.values():
        stage = stage_of[instance.id]
        if stage is None or instance.unit_id not in chosen:
            continue
        cell = rows[instance.unit_id].cells[stage]
        cell.instance_ids.append(instance.id)
        cell.completed_steps += int(completed.get(instance.id, 0))
    for task in open_tasks:
        holder = tree.get(task.instance_id)
        stage = stage_of.get(task.instance_id)
        if holder is None or stage is None:
            continue
        owner = task.unit_id if task.unit_id in member_set else holder.unit_id
        if owner in chosen:
            rows[owner].cells[stage].tasks.append(task)
    for row in rows.values():
        for cell in row.cells.values():
            statuses = {tree[i].status for i in cell.instance_ids}
            if cell.tasks:
                cell.state = "open"
            elif "incident" in statuses:
                cell.state = "incident"
            elif statuses & set(RUNNING):
                cell.state = "waiting"
            elif statuses == {"cancelled"}:
                cell.state = "cancelled"
            elif statuses:
                cell.state = "done"
    items = _pipeline(tree, open_tasks, root, units, chosen)
    return Dashboard(
        root=root,
        year=started.get("campaign_year"),
        title=started.get("directive"),
        sudden=sudden,
        rows=list(rows.values()),
        blocks=blocks,
        kinds=sorted({units[u].kind for u in participants if u in units}),
        pipeline=Counter(i.status for i in items),
        items=items,
        done_per_stage={s: sum(1 for r in rows.values() if r.cells[s].state == "done") for s in STAGES},
    )


def _round_phase(tree: dict[int, Any], tasks_by_instance: dict[int, list[OpenTask]], round_id: int | None) -> str:
    """Where a nomination round's eligible dossiers are: disclosure, council, decision, closed (or just eligible)."""
    if round_id is None:
        return "eligible"
    for task in tasks_by_instance.get(round_id, []):
        if task.element_id in ROUND_PHASE:
            return ROUND_PHASE[task.element_id]
    council = (r for r in tree.values() if r.parent_id == round_id and r.definition_key == "council_meeting")
    if any(r.status in RUNNING for r in council):
        return "council"
    round_row = tree.get(round_id)
    if round_row is not None and round_row.status == "completed":
        return "closed"
    return "eligible"


def _pipeline(
    tree: dict[int, Any], open_tasks: list[OpenTask], root: Instance, units: dict[str, Any], chosen: set[str]
) -> list[PipelineItem]:
    tasks_by_instance: dict[int, list[OpenTask]] = {}
    for task in open_tasks:
        tasks_by_instance.setdefault(task.instance_id, []).append(task)
    rounds = {r.id for r in tree.values() if r.definition_key == "nomination"}
    if root.definition_key == "nomination":
        rounds.add(root.id)
    items: list[PipelineItem] = []
    for row in sorted(tree.values(), key=lambda r: r.id):
        if row.unit_id not in chosen or row.definition_key not in ("nomination_dossier", "unit_nomination"):
            continue
        here = tasks_by_instance.get(row.id, [])
        current = next((t for t in here if t.element_id in DOSSIER_STATUS), None)
        output = row.output if isinstance(row.output, dict) else {}
        if current is not None:
            status = DOSSIER_STATUS[current.element_id]
        elif row.definition_key == "unit_nomination":
            continue  # its dossiers are counted themselves
        elif output.get("status") == "rejected":
            status = "rejected"
        elif output.get("status") == "eligible":
            round_id = _round_of(tree, row.id, rounds)
            status = _round_phase(tree, tasks_by_instance, round_id)
        else:
            continue
        unit = units.get(row.unit_id or "")
        items.append(
            PipelineItem(
                row.id,
                row.business_key,
                row.unit_id,
                unit.name if unit else (row.unit_id or ""),
                status,
                str(output["name"]) if output.get("name") else None,
                current,
            )
        )
    return items


def _round_of(tree: dict[int, Any], instance_id: int, rounds: set[int]) -> int | None:
    current = tree.get(instance_id)
    for _ in range(64):
        if current is None:
            return None
        if current.parent_id in rounds:
            return int(current.parent_id)
        current = tree.get(current.parent_id)
    return None
