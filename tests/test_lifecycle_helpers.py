"""Shared set-up for the lifecycle tests: the demo organisation, the lifecycle models (with a stand-in Council
meeting until bpmn/council_meeting.bpmn is used), rules in force, and small helpers to drive tasks."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine.persistence.models import AuditEvent, HumanTask
from engine.services import certificates, instances, tasks
from engine.services.calls import descendants
from engine.services.context import EngineContext
from engine.services.definitions import deploy
from engine.services.org import load_org_file
from engine.services.rules import load_rule_sets, start_data
from tests.conftest import BPMN_DIR, FIXTURES, ROOT

LIFECYCLE_FILES = [
    "campaign_launch.bpmn",
    "unit_plan.bpmn",
    "registration.bpmn",
    "block_pledge.bpmn",
    "block_scoring.bpmn",
    "periodic_report.bpmn",
    "review_round.bpmn",
    "unit_review_report.bpmn",
    "nomination.bpmn",
    "unit_nomination.bpmn",
    "nomination_dossier.bpmn",
    "national_proposal.bpmn",
    "appraisal_recommendation.dmn",
]
STUB_DIR = FIXTURES / "lifecycle"
RULES = load_rule_sets(ROOT / "rules" / "lifecycle.yaml")
ORG = {"province_unit": "TINH", "home_affairs_unit": "SNV", "council_unit": "HDTDKT"}
UNITS = ["SGDDT", "SYT", "STC", "TPAB", "HPT", "TXTM", "CTNAB"]


def model_files() -> list[tuple[str, bytes]]:
    paths = [BPMN_DIR / name for name in LIFECYCLE_FILES]
    paths += sorted(p for p in (ROOT / "forms").glob("*.json") if not p.name.startswith("council_"))
    paths += sorted(STUB_DIR.iterdir())
    return [(p.name, p.read_bytes()) for p in paths]


@pytest.fixture(name="ctx")
def ctx_fixture(clock):
    return EngineContext(clock=clock)


@pytest.fixture(name="lifecycle")
def lifecycle_fixture(sessions, clock):
    """The demo organisation and every lifecycle process deployed."""
    with sessions() as s, s.begin():
        load_org_file(s, ROOT / "demo" / "org.yaml", clock)
        result = deploy(s, model_files(), clock, actor="designer")
    return result


def base_data(**extra: Any) -> dict[str, Any]:
    data = {"campaign_year": 2024, **ORG, "units": list(UNITS), "block_results": []}
    return {**data, **start_data(RULES, date(2024, 3, 19)), **extra}


def start(sessions, ctx, key: str, unit: str | None = None, **data: Any) -> int:
    with sessions() as s, s.begin():
        row = instances.start_instance(
            s, ctx, key=key, business_key=f"T-{key}", unit_id=unit or "TINH", data=base_data(**data), actor="test"
        )
        return row.id


def tree(sessions, instance_id: int) -> list[int]:
    """The instance and every instance its call activities started, at any depth."""
    with sessions() as s:
        return [instance_id, *(r.id for r in descendants(s, instance_id))]


def open_tasks(sessions, instance_id: int) -> list[HumanTask]:
    """Open tasks of the instance and of the instances it called."""
    ids = tree(sessions, instance_id)
    with sessions() as s:
        query = select(HumanTask).where(HumanTask.instance_id.in_(ids), HumanTask.status.in_(("open", "claimed")))
        return list(s.scalars(query.order_by(HumanTask.id)))


def one_task(sessions, instance_id: int, element_id: str, unit: str | None = None) -> HumanTask:
    found = [t for t in open_tasks(sessions, instance_id) if t.element_id == element_id and unit in (None, t.unit_id)]
    assert len(found) == 1, [(t.element_id, t.unit_id) for t in open_tasks(sessions, instance_id)]
    return found[0]


def who(task: HumanTask) -> tuple[str, str | None, str | None]:
    return task.element_id, task.role_id, task.unit_id


def complete(sessions, ctx, task: HumanTask, user: str, data: dict[str, Any]) -> None:
    with sessions() as s, s.begin():
        if task.form_key == certificates.FORM_KEY:  # the Chairman's decision has its own service (and page)
            certificates.sign_decision(s, ctx, task.id, user, **data)
        else:
            tasks.complete(s, ctx, task.id, user, data)


def data_of(sessions, ctx, instance_id: int) -> dict[str, Any]:
    with sessions() as s:
        return instances.instance_data(s, ctx, instance_id)


def status_of(sessions, instance_id: int) -> str:
    with sessions() as s:
        return instances.get_instance(s, instance_id).status


def audit_trail(sessions, instance_id: int) -> list[tuple[str, str | None, str | None]]:
    """(action, element, actor) of the audit events of the instance and the instances it called, in order."""
    ids = tree(sessions, instance_id)
    with sessions() as s:
        rows = s.execute(
            select(AuditEvent.action, AuditEvent.element_id, AuditEvent.actor)
            .where(AuditEvent.instance_id.in_(ids))
            .order_by(AuditEvent.id)
        ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def completions(sessions, instance_id: int) -> list[tuple[str | None, str | None]]:
    return [
        (element, actor) for action, element, actor in audit_trail(sessions, instance_id) if action == "task.completed"
    ]


__all__ = ["BPMN_DIR", "Path"]
