"""Call activities run the called process as an instance of its own, linked to its parent and root; the parent
waits and moves on exactly once, with the mapped outputs, whatever the order and timing of its children."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine.core.runtime import state_json
from engine.errors import ConflictError
from engine.persistence.models import AuditEvent, HumanTask, Instance, OrgUnit
from engine.services import instances, tasks
from engine.services.audit import verify
from engine.services.calls import descendants
from engine.services.context import EngineContext
from engine.services.timers import fire_due_timers
from tests.conftest import FIXTURES
from tests.engine_helpers import deploy_files, make_org

CALLS = FIXTURES / "calls"


@pytest.fixture(name="ctx")
def ctx_fixture(sessions, clock):
    ctx = EngineContext(clock=clock)
    with sessions() as s, s.begin():
        make_org(s)
        deploy_files(s, clock, *sorted(CALLS.glob("*.bpmn")))
    return ctx


def start(sessions, ctx, key: str, **data) -> int:
    with sessions() as s, s.begin():
        return instances.start_instance(s, ctx, key=key, business_key="BK-1", unit_id="TINH", data=data, actor="an").id


def children(sessions, parent_id: int) -> list[Instance]:
    with sessions() as s:
        query = select(Instance).where(Instance.parent_id == parent_id).order_by(Instance.call_index)
        return list(s.scalars(query))


def open_task(sessions, instance_id: int) -> HumanTask:
    with sessions() as s:
        query = select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.status == "open")
        found = list(s.scalars(query))
    assert len(found) == 1, [(t.element_id, t.status) for t in found]
    return found[0]


def complete(sessions, ctx, instance_id: int, user: str) -> None:
    task = open_task(sessions, instance_id)
    with sessions() as s, s.begin():
        tasks.complete(s, ctx, task.id, user, {})


def row(sessions, instance_id: int) -> Instance:
    with sessions() as s:
        found = s.get(Instance, instance_id)
        assert found is not None
        return found


def actions(sessions, instance_id: int) -> list[str]:
    with sessions() as s:
        query = select(AuditEvent.action).where(AuditEvent.instance_id == instance_id).order_by(AuditEvent.id)
        return list(s.scalars(query))


def test_a_call_starts_an_instance_of_its_own_and_the_parent_moves_on_with_the_mapped_output(sessions, ctx):
    parent_id = start(sessions, ctx, "parent_single", target_unit="SYT", year=2024, bulky="x" * 20000)
    [child] = children(sessions, parent_id)
    assert (child.definition_key, child.unit_id, child.business_key) == ("child_work", "SYT", "BK-1")
    assert (child.parent_id, child.root_id, child.call_element, child.status) == (
        parent_id,
        parent_id,
        "call_one",
        "running",
    )
    # The parent's saved state holds a reference to the call, never the child's tasks or data; past 8 kB it is
    # stored compressed (and read back below, when the child's end resumes it).
    stored = row(sessions, parent_id).state
    assert stored[:1] == b"\x78" and len(stored) < 8192 < len(state_json(stored))
    parent_state = json.loads(state_json(stored))
    specs = {t["task_spec"] for t in parent_state["tasks"].values()}
    assert "child_task" not in specs and not parent_state["subprocesses"]
    # camunda:in: only the mapped variables reach the child.
    task = open_task(sessions, child.id)
    assert (task.element_id, task.unit_id) == ("child_task", "SYT")
    with sessions() as s:
        child_data = instances.instance_data(s, ctx, child.id)
    assert child_data == {"unit_id": "SYT", "next_year": 2025}

    complete(sessions, ctx, child.id, "an.officer")

    assert row(sessions, child.id).status == "completed"
    assert open_task(sessions, parent_id).element_id == "after_single"
    with sessions() as s:
        data = instances.instance_data(s, ctx, parent_id)
    assert data["child_result"] == "SYT-done"  # camunda:out
    assert "child_only" not in data and "next_year" not in data
    assert actions(sessions, parent_id).count("call.completed") == 1
    with sessions() as s:
        assert verify(s).ok


def test_a_multi_instance_call_starts_one_instance_per_item_and_collects_outputs_in_item_order(sessions, ctx):
    parent_id = start(sessions, ctx, "parent_multi", units=["SYT", "SGD", "TINH"])
    kids = children(sessions, parent_id)
    assert [(k.call_index, k.unit_id, k.business_key) for k in kids] == [
        (0, "SYT", "BK-1/call_each/SYT"),
        (1, "SGD", "BK-1/call_each/SGD"),
        (2, "TINH", "BK-1/call_each/TINH"),
    ]
    # Each unit's officer sees only their own unit's child (TINH has none: the admin does it).
    complete(sessions, ctx, kids[2].id, "admin")
    complete(sessions, ctx, kids[0].id, "an.officer")
    assert row(sessions, parent_id).status == "running"
    with sessions() as s:
        assert s.scalar(select(func.count()).where(HumanTask.instance_id == parent_id)) == 0  # still waiting
    complete(sessions, ctx, kids[1].id, "dung.officer")

    assert open_task(sessions, parent_id).element_id == "after_multi"
    with sessions() as s:
        data = instances.instance_data(s, ctx, parent_id)
    assert data["results"] == ["SYT-done", "SGD-done", "TINH-done"]
    assert "unit_id" not in data
    assert actions(sessions, parent_id).count("call.completed") == 1


def test_a_sequential_call_starts_the_next_child_only_when_the_previous_one_ended(sessions, ctx):
    parent_id = start(sessions, ctx, "parent_sequential", units=["SYT", "SGD"])
    [first] = children(sessions, parent_id)
    assert first.unit_id == "SYT"
    complete(sessions, ctx, first.id, "an.officer")
    kids = children(sessions, parent_id)
    assert [(k.unit_id, k.status) for k in kids] == [("SYT", "completed"), ("SGD", "running")]
    complete(sessions, ctx, kids[1].id, "dung.officer")
    assert row(sessions, parent_id).status == "completed"
    with sessions() as s:
        assert instances.instance_data(s, ctx, parent_id)["results"] == ["SYT-done", "SGD-done"]


def test_cancel_suspend_and_resume_go_down_the_tree(sessions, ctx):
    parent_id = start(sessions, ctx, "parent_multi", units=["SYT", "SGD"])
    kids = children(sessions, parent_id)
    with sessions() as s, s.begin():
        instances.suspend_instance(s, ctx, parent_id, actor="admin")
    assert [k.status for k in children(sessions, parent_id)] == ["suspended", "suspended"]
    with sessions() as s, s.begin():
        instances.resume_instance(s, ctx, parent_id, actor="admin")
    assert [k.status for k in children(sessions, parent_id)] == ["running", "running"]
    complete(sessions, ctx, kids[0].id, "an.officer")
    with sessions() as s, s.begin():
        instances.cancel_instance(s, ctx, parent_id, actor="admin", reason="campaign withdrawn")
    assert row(sessions, parent_id).status == "cancelled"
    assert [k.status for k in children(sessions, parent_id)] == ["completed", "cancelled"]
    with sessions() as s:
        open_count = s.scalar(
            select(func.count()).where(HumanTask.instance_id == kids[1].id, HumanTask.status.in_(("open", "claimed")))
        )
    assert open_count == 0


def test_an_error_end_event_in_a_child_reaches_the_boundary_event_on_the_call(sessions, ctx):
    parent_id = start(sessions, ctx, "parent_error", units=["SYT", "SGD"])
    kids = children(sessions, parent_id)
    complete(sessions, ctx, kids[1].id, "dung.officer")  # SGD's check ends in the INCOMPLETE error
    assert open_task(sessions, parent_id).element_id == "handle_error"
    # The interrupting boundary event ended the call: the other child is cancelled with it.
    assert [k.status for k in children(sessions, parent_id)] == ["cancelled", "completed"]
    assert "call.abandoned" in actions(sessions, parent_id)


def test_a_childs_unit_comes_from_the_model_and_a_bad_one_is_an_incident_retried_on_the_parent(sessions, ctx):
    parent_id = start(sessions, ctx, "parent_unit", target_unit="SXD")
    parent = row(sessions, parent_id)
    assert parent.status == "incident"
    assert parent.incident["element_id"] == "call_for_unit"
    assert "SXD" in parent.incident["message"]
    assert children(sessions, parent_id) == []
    with sessions() as s, s.begin():
        s.add(OrgUnit(id="SXD", name="Sở Xây dựng", kind="department", parent_id="TINH"))
    with sessions() as s, s.begin():
        instances.retry_instance(s, ctx, parent_id, actor="admin")
    [child] = children(sessions, parent_id)
    assert (child.unit_id, child.business_key) == ("SXD", "PLAN-SXD")
    assert row(sessions, parent_id).status == "running"


def test_a_childs_incident_shows_on_the_tree_and_is_retried_from_the_parent(sessions, ctx):
    parent_id = start(sessions, ctx, "parent_multi", units=["SYT"])
    [child] = children(sessions, parent_id)
    with sessions() as s, s.begin():  # an operator's mistake: the child stopped on an incident
        s.get(Instance, child.id).status = "incident"
    with sessions() as s:
        assert [r.id for r in descendants(s, parent_id, ("incident",))] == [child.id]
    with sessions() as s, s.begin():
        instances.retry_instance(s, ctx, parent_id, actor="admin")
    assert row(sessions, child.id).status == "running"


def test_two_children_ending_at_the_same_moment_resume_the_parent_exactly_once(sessions, ctx):
    parent_id = start(sessions, ctx, "parent_multi", units=["SYT", "SGD"])
    kids = children(sessions, parent_id)
    jobs = [(open_task(sessions, kids[0].id).id, "an.officer"), (open_task(sessions, kids[1].id).id, "dung.officer")]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(task_id: int, user: str) -> None:
        with sessions() as s:
            barrier.wait(timeout=10)
            for _ in range(20):  # SQLite may answer "busy"; a conflict means: try again on fresh state
                try:
                    with s.begin():
                        tasks.complete(s, ctx, task_id, user, {})
                    return
                except ConflictError:
                    continue
                except Exception as err:  # noqa: BLE001 - reported below
                    errors.append(err)
                    return

    threads = [threading.Thread(target=worker, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert [k.status for k in children(sessions, parent_id)] == ["completed", "completed"]
    assert actions(sessions, parent_id).count("call.completed") == 1
    assert open_task(sessions, parent_id).element_id == "after_multi"
    with sessions() as s:
        assert instances.instance_data(s, ctx, parent_id)["results"] == ["SYT-done", "SGD-done"]


def test_an_escalation_from_a_child_reaches_a_non_interrupting_boundary_event_and_the_call_still_completes(
    sessions, ctx
):
    parent_id = start(sessions, ctx, "parent_escalation", unit_id="SYT")
    [child] = children(sessions, parent_id)
    complete(sessions, ctx, child.id, "an.officer")
    with sessions() as s:
        query = select(HumanTask.element_id).where(HumanTask.instance_id == parent_id, HumanTask.status == "open")
        assert sorted(s.scalars(query)) == ["after_late", "notice_late"]
    assert "call.event" in actions(sessions, parent_id)


def test_children_that_end_in_the_step_that_starts_them_hand_their_outputs_back_at_once(sessions, ctx):
    parent_id = start(sessions, ctx, "parent_instant", units=["SYT", "SGD", "TINH"])
    assert [k.status for k in children(sessions, parent_id)] == ["completed"] * 3
    assert open_task(sessions, parent_id).element_id == "after_instant"
    with sessions() as s:
        assert instances.instance_data(s, ctx, parent_id)["scores"] == [30, 30, 40]
    assert actions(sessions, parent_id).count("call.completed") == 1


def test_a_call_over_an_empty_collection_completes_at_once(sessions, ctx):
    parent_id = start(sessions, ctx, "parent_instant", units=[])
    assert children(sessions, parent_id) == []
    assert open_task(sessions, parent_id).element_id == "after_instant"
    with sessions() as s:
        assert instances.instance_data(s, ctx, parent_id)["scores"] == []


def test_a_camunda_8_call_activity_maps_its_data_with_zeebe_io_mappings(sessions, ctx):
    parent_id = start(sessions, ctx, "zeebe_order", amount=60, note="kept by the parent")
    [child] = children(sessions, parent_id)
    assert (child.definition_key, child.unit_id) == ("zeebe_review", "SYT")
    with sessions() as s:
        child_data = instances.instance_data(s, ctx, child.id)
    assert (child_data["total"], child_data["amount"], child_data["note"]) == (120, 60, "kept by the parent")
    complete(sessions, ctx, child.id, "an.officer")
    assert open_task(sessions, parent_id).element_id == "zo_after"
    with sessions() as s:
        data = instances.instance_data(s, ctx, parent_id)
    assert data["review_verdict"] == "ok"  # the zeebe:output
    assert "noise" not in data and "total" not in data  # propagateAllChildVariables="false", outputs given


def test_a_call_inside_an_embedded_subprocess_waits_and_resumes_it(sessions, ctx):
    parent_id = start(sessions, ctx, "parent_nested", unit_id="SYT")
    [child] = children(sessions, parent_id)
    assert child.call_element == "n_call"
    complete(sessions, ctx, child.id, "an.officer")
    assert open_task(sessions, parent_id).element_id == "n_after"


def test_a_timer_that_interrupts_the_subprocess_cancels_the_child_it_was_waiting_for(sessions, ctx, clock):
    parent_id = start(sessions, ctx, "parent_nested", unit_id="SYT")
    [child] = children(sessions, parent_id)
    clock.advance(timedelta(days=11))
    assert fire_due_timers(sessions, ctx, owner="test") == 1
    assert open_task(sessions, parent_id).element_id == "n_too_late"
    assert row(sessions, child.id).status == "cancelled"
    assert "call.abandoned" in actions(sessions, parent_id)
