"""Instances and human tasks through the services, on a real database."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from engine.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from engine.persistence.models import AuditEvent, HumanTask, Instance
from engine.services import instances, tasks
from engine.services.audit import verify
from engine.services.context import EngineContext
from engine.services.definitions import deploy
from tests.engine_helpers import RUNTIME, deploy_files, make_org


@pytest.fixture
def ctx(clock):
    return EngineContext(clock=clock)


@pytest.fixture
def plan(sessions, clock):
    with sessions() as s, s.begin():
        make_org(s)
        deploy_files(
            s, clock, RUNTIME / "plan_approval.bpmn", RUNTIME / "plan_draft.json", RUNTIME / "plan_review.json"
        )


def start_plan(sessions, ctx, unit="SYT"):
    with sessions() as s, s.begin():
        return instances.start_instance(
            s, ctx, key="plan_approval", business_key="KH-2024", unit_id=unit, data={"year": 2024}, actor="an.officer"
        ).id


def only_open_task(sessions, instance_id):
    with sessions() as s:
        rows = list(
            s.scalars(
                select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.status.in_(("open", "claimed")))
            )
        )
    assert len(rows) == 1, rows
    return rows[0]


def test_plan_is_drafted_by_the_units_officer_and_approved_by_its_head(sessions, ctx, plan):
    iid = start_plan(sessions, ctx)
    draft = only_open_task(sessions, iid)
    assert (draft.element_id, draft.role_id, draft.unit_id, draft.form_key) == (
        "draft_plan",
        "unit_officer",
        "SYT",
        "plan_draft",
    )

    with sessions() as s:
        assert [t.id for t in tasks.inbox(s, ctx, "an.officer")] == [draft.id]
        assert [t.id for t in tasks.inbox(s, ctx, "binh.officer")] == [draft.id]
        assert tasks.inbox(s, ctx, "cuong.head") == []
        assert tasks.inbox(s, ctx, "dung.officer") == []  # same role, other unit

    with sessions() as s, s.begin(), pytest.raises(PermissionDeniedError):
        tasks.complete(s, ctx, draft.id, "dung.officer", {"title": "Kế hoạch", "targets": 3})

    with sessions() as s, s.begin(), pytest.raises(ValidationError) as bad:
        tasks.complete(s, ctx, draft.id, "an.officer", {"title": "KH", "targets": "many"})
    assert set(bad.value.details["fields"]) == {"title", "targets"}

    with sessions() as s, s.begin():
        tasks.complete(s, ctx, draft.id, "an.officer", {"title": "Kế hoạch thi đua 2024", "targets": 5})
    review = only_open_task(sessions, iid)
    assert (review.element_id, review.role_id) == ("review_plan", "unit_head")
    with sessions() as s:
        assert [t.id for t in tasks.inbox(s, ctx, "cuong.head")] == [review.id]
        assert tasks.inbox(s, ctx, "em.head") == []

    with sessions() as s, s.begin():
        tasks.complete(s, ctx, review.id, "cuong.head", {"decision": "approve"})
    with sessions() as s:
        inst = s.get(Instance, iid)
        assert inst.status == "completed" and inst.ended_at is not None
        data = instances.instance_data(s, ctx, iid)
        assert data["title"] == "Kế hoạch thi đua 2024" and data["decision"] == "approve" and data["year"] == 2024
        actions = list(
            s.scalars(select(AuditEvent.action).where(AuditEvent.instance_id == iid).order_by(AuditEvent.seq))
        )
        assert actions == [
            "instance.started",
            "task.created",
            "task.completed",
            "task.created",
            "task.completed",
            "instance.completed",
        ]
        actors = list(s.scalars(select(AuditEvent.actor).where(AuditEvent.action == "task.completed")))
        assert actors == ["an.officer", "cuong.head"]
        assert verify(s).ok


def test_a_returned_plan_goes_back_to_the_officer(sessions, ctx, plan):
    iid = start_plan(sessions, ctx)
    with sessions() as s, s.begin():
        tasks.complete(s, ctx, only_open_task(sessions, iid).id, "an.officer", {"title": "Bản đầu", "targets": 1})
    with sessions() as s, s.begin():
        tasks.complete(
            s,
            ctx,
            only_open_task(sessions, iid).id,
            "cuong.head",
            {"decision": "return", "comments": "Bổ sung chỉ tiêu"},
        )
    again = only_open_task(sessions, iid)
    assert again.element_id == "draft_plan"
    with sessions() as s, s.begin():
        tasks.complete(s, ctx, again.id, "binh.officer", {"title": "Bản hai", "targets": 4})
    with sessions() as s, s.begin():
        tasks.complete(s, ctx, only_open_task(sessions, iid).id, "cuong.head", {"decision": "approve"})
    with sessions() as s:
        assert s.get(Instance, iid).status == "completed"
        assert s.scalar(select(func.count()).select_from(HumanTask).where(HumanTask.instance_id == iid)) == 4


def test_claim_unclaim_reassign(sessions, ctx, plan):
    iid = start_plan(sessions, ctx)
    draft = only_open_task(sessions, iid)
    with sessions() as s, s.begin():
        tasks.claim(s, ctx, draft.id, "an.officer")
    with sessions() as s, s.begin(), pytest.raises(ConflictError):
        tasks.claim(s, ctx, draft.id, "binh.officer")
    with sessions() as s:
        assert tasks.inbox(s, ctx, "binh.officer") == []
    with sessions() as s, s.begin(), pytest.raises(PermissionDeniedError):
        tasks.complete(s, ctx, draft.id, "binh.officer", {"title": "Kế hoạch", "targets": 2})
    with sessions() as s, s.begin(), pytest.raises(PermissionDeniedError):
        tasks.unclaim(s, ctx, draft.id, "binh.officer")
    with sessions() as s, s.begin():
        tasks.unclaim(s, ctx, draft.id, "an.officer")
    with sessions() as s, s.begin(), pytest.raises(PermissionDeniedError):
        tasks.reassign(s, ctx, draft.id, "dung.officer", "cuong.head")  # not entitled: other unit
    with sessions() as s, s.begin(), pytest.raises(PermissionDeniedError):
        tasks.reassign(s, ctx, draft.id, "binh.officer", "em.head")  # head of another unit
    with sessions() as s, s.begin():
        row = tasks.reassign(s, ctx, draft.id, "binh.officer", "cuong.head")
        assert (row.assignee, row.status) == ("binh.officer", "claimed")
    with sessions() as s, s.begin():
        tasks.complete(s, ctx, draft.id, "binh.officer", {"title": "Kế hoạch", "targets": 2})
    with sessions() as s:
        actions = list(
            s.scalars(select(AuditEvent.action).where(AuditEvent.instance_id == iid).order_by(AuditEvent.seq))
        )
    assert actions[:6] == [
        "instance.started",
        "task.created",
        "task.claimed",
        "task.unclaimed",
        "task.reassigned",
        "task.completed",
    ]


def test_completing_twice_conflicts_and_unknown_things_are_not_found(sessions, ctx, plan):
    iid = start_plan(sessions, ctx)
    draft = only_open_task(sessions, iid)
    with sessions() as s, s.begin():
        tasks.complete(s, ctx, draft.id, "an.officer", {"title": "Kế hoạch", "targets": 2})
    with sessions() as s, s.begin(), pytest.raises(ConflictError):
        tasks.complete(s, ctx, draft.id, "an.officer", {"title": "Kế hoạch", "targets": 2})
    with sessions() as s, s.begin():
        with pytest.raises(NotFoundError):
            tasks.complete(s, ctx, 999_999, "an.officer", {})
        with pytest.raises(NotFoundError):
            instances.start_instance(s, ctx, key="no_such_process")
        with pytest.raises(NotFoundError):
            instances.start_instance(s, ctx, key="plan_approval", unit_id="NOWHERE")


def test_cancel_suspend_resume(sessions, ctx, plan):
    iid = start_plan(sessions, ctx)
    draft = only_open_task(sessions, iid)
    with sessions() as s, s.begin():
        instances.suspend_instance(s, ctx, iid, actor="admin", reason="chờ hướng dẫn")
    with sessions() as s, s.begin(), pytest.raises(ConflictError):
        tasks.complete(s, ctx, draft.id, "an.officer", {"title": "Kế hoạch", "targets": 2})
    with sessions() as s, s.begin():
        instances.resume_instance(s, ctx, iid, actor="admin")
    with sessions() as s, s.begin():
        instances.cancel_instance(s, ctx, iid, actor="admin", reason="hủy")
    with sessions() as s:
        assert s.get(Instance, iid).status == "cancelled"
        assert s.get(HumanTask, draft.id).status == "cancelled"
        assert tasks.inbox(s, ctx, "an.officer") == []
    with sessions() as s, s.begin(), pytest.raises(ConflictError):
        instances.resume_instance(s, ctx, iid, actor="admin")


def test_message_signal_and_an_incident_that_an_operator_retries(sessions, ctx, clock):
    with sessions() as s, s.begin():
        make_org(s)
        deploy_files(s, clock, RUNTIME / "waits.bpmn")
    with sessions() as s, s.begin():
        iid = instances.start_instance(s, ctx, key="waits", business_key="HS-1", actor="admin").id
    with sessions() as s, s.begin():
        instances.start_instance(s, ctx, key="waits", business_key="HS-2", actor="admin")
    with sessions() as s, s.begin(), pytest.raises(ConflictError):
        instances.correlate_message(s, ctx, "documents_received", {"pages": 3})  # two instances wait
    with sessions() as s, s.begin(), pytest.raises(NotFoundError):
        instances.correlate_message(s, ctx, "nobody_waits_for_this", {})
    with sessions() as s, s.begin():
        assert instances.correlate_message(s, ctx, "documents_received", {"pages": 3}, business_key="HS-1") == iid
    with sessions() as s, s.begin():
        assert instances.broadcast_signal(s, ctx, "campaign_closed", actor="admin") == [iid]
    with sessions() as s:
        inst = s.get(Instance, iid)
        assert inst.status == "incident"
        assert inst.incident["element_id"] == "archive"
        assert "org.example.Archive" in inst.incident["message"]

    archived = []
    ctx.connectors.register("org.example.Archive", lambda data, params: archived.append(data) or {"archived": True})
    with sessions() as s, s.begin():
        instances.retry_instance(s, ctx, iid, actor="admin")
    with sessions() as s:
        assert s.get(Instance, iid).status == "completed"
        data = instances.instance_data(s, ctx, iid)
        assert data["counter"] == 1 and data["archived"] is True
        assert len(archived) == 1
        assert verify(s).ok


def test_lane_owners_data_names_who_may_take_a_lane(sessions, ctx, plan):
    with sessions() as s, s.begin():
        iid = instances.start_instance(
            s,
            ctx,
            key="plan_approval",
            unit_id="SGD",
            actor="admin",
            data={"lane_owners": {"Unit officer": ["an.officer"]}},
        ).id
    draft = only_open_task(sessions, iid)
    with sessions() as s:
        assert [t.id for t in tasks.inbox(s, ctx, "an.officer")] == [draft.id]  # named, though of another unit
        assert [t.id for t in tasks.inbox(s, ctx, "dung.officer")] == [draft.id]  # the lane's role in SGD
    with sessions() as s, s.begin():
        tasks.complete(s, ctx, draft.id, "an.officer", {"title": "Kế hoạch", "targets": 1})


def test_a_delegate_works_for_the_head_on_leave(sessions, ctx, plan, clock):
    from datetime import timedelta

    from engine.persistence.models import Delegation

    iid = start_plan(sessions, ctx)
    with sessions() as s, s.begin():
        tasks.complete(s, ctx, only_open_task(sessions, iid).id, "an.officer", {"title": "Kế hoạch", "targets": 1})
        s.add(
            Delegation(
                from_user_id="cuong.head",
                to_user_id="binh.officer",
                starts_at=clock.now(),
                ends_at=clock.now() + timedelta(days=3),
            )
        )
    review = only_open_task(sessions, iid)
    with sessions() as s:
        assert [t.id for t in tasks.inbox(s, ctx, "binh.officer")] == [review.id]
    clock.advance(timedelta(days=4))  # the leave is over
    with sessions() as s:
        assert tasks.inbox(s, ctx, "binh.officer") == []
    with sessions() as s, s.begin(), pytest.raises(PermissionDeniedError):
        tasks.complete(s, ctx, review.id, "binh.officer", {"decision": "approve"})


def test_a_refused_completion_saves_nothing(sessions, ctx, plan):
    iid = start_plan(sessions, ctx)
    with sessions() as s, s.begin():
        tasks.complete(s, ctx, only_open_task(sessions, iid).id, "an.officer", {"title": "Kế hoạch", "targets": 1})
    review = only_open_task(sessions, iid)
    with sessions() as s, s.begin(), pytest.raises(ValidationError):
        tasks.complete(s, ctx, review.id, "cuong.head", {"decision": "maybe"})
    with sessions() as s:
        assert s.get(Instance, iid).version == 2
        assert s.get(HumanTask, review.id).status == "open"


def test_a_gateway_no_condition_matches_is_an_incident_naming_it(sessions, ctx, clock):
    with sessions() as s, s.begin():
        make_org(s)
        # Forms that declare the fields but leave their values open: nothing stops decision "maybe".
        loose = {
            "plan_draft.json": {"type": "object", "properties": {"title": {"type": "string"}}},
            "plan_review.json": {"type": "object", "properties": {"decision": {"type": "string"}}},
        }
        files = [(n, json.dumps(f).encode()) for n, f in loose.items()]
        deploy(s, [("plan_approval.bpmn", (RUNTIME / "plan_approval.bpmn").read_bytes()), *files], clock)
    iid = start_plan(sessions, ctx)
    with sessions() as s, s.begin():
        tasks.complete(s, ctx, only_open_task(sessions, iid).id, "an.officer", {"title": "Kế hoạch"})
    with sessions() as s, s.begin():
        tasks.complete(s, ctx, only_open_task(sessions, iid).id, "cuong.head", {"decision": "maybe"})
    with sessions() as s:
        inst = s.get(Instance, iid)
        assert inst.status == "incident"
        assert inst.incident["element_id"] == "approved_gw"
        assert verify(s).ok


def test_an_inbox_read_does_not_hold_back_a_completion(sessions, db_engine, ctx, plan):
    from engine.persistence.db import make_session_factory

    iid = start_plan(sessions, ctx)
    draft = only_open_task(sessions, iid)
    readers = make_session_factory(db_engine, read_only=True)
    with readers() as r:
        assert [t.id for t in tasks.inbox(r, ctx, "an.officer")] == [draft.id]  # a read transaction stays open
        with sessions() as s, s.begin():  # ...while a step commits
            tasks.complete(s, ctx, draft.id, "an.officer", {"title": "Kế hoạch", "targets": 1})
    with readers() as r:
        assert tasks.inbox(r, ctx, "an.officer") == []
        assert [t.element_id for t in tasks.inbox(r, ctx, "cuong.head")] == ["review_plan"]
