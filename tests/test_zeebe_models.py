"""A Camunda 8 (Zeebe) model: job types name connectors, FEEL conditions, assignment and schedule extensions."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from engine.persistence.models import HumanTask, Instance, Role
from engine.services import instances
from engine.services.context import EngineContext
from tests.engine_helpers import deploy_files, make_org

MODEL = Path(__file__).resolve().parent / "fixtures" / "zeebe" / "payment.bpmn"


def test_a_zeebe_model_deploys_and_runs(sessions, clock):
    ctx = EngineContext(clock=clock)
    paid = []
    ctx.connectors.register("payment", lambda data, params: paid.append(data["amount"]) or {"paid": True})
    with sessions() as s, s.begin():
        make_org(s)
        s.add(Role(id="finance", name="Tài chính"))
        result = deploy_files(s, clock, MODEL, connectors={"payment"})
        assert [w.message for w in result.warnings] == []
        big = instances.start_instance(s, ctx, key="zeebe_proc", unit_id="SYT", data={"amount": 500}).id
        small = instances.start_instance(s, ctx, key="zeebe_proc", unit_id="SYT", data={"amount": 50}).id
    with sessions() as s:
        assert s.get(Instance, big).status == "completed"  # =amount > 100 took the conditional flow
        task = s.scalar(select(HumanTask).where(HumanTask.instance_id == small))
        assert task is not None and task.candidate_groups == ["finance"] and task.due_at is not None
    assert paid == [500, 50]
