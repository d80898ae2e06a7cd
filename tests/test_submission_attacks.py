"""An officer's completion writes only the fields of the task's form: the attacks that once worked, against the
real unit_plan model (bpmn/unit_plan.bpmn, forms/plan_*.json), through the services and through the HTTP API, and
the web form beside them.

Sở Y tế's officer linh.tm drafts the plan; its head duc.hm approves it; Sở Nội vụ (an.tdkt) files it. The plan
of Sở GD&ĐT (officer hoa.nt, head quang.lv) runs beside it.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from engine.core.forms import SubmissionLimits
from engine.errors import EngineError, PermissionDeniedError
from engine.persistence.models import AuditEvent, HumanTask, Instance, TaskCandidate
from engine.services import instances, tasks
from tests.api_support import PLAN, World, open_task
from tests.api_support import world as world  # noqa: F401 - fixture

# What the head's review is due by once the plan is drafted on Tuesday 19/3/2024 09:00 (Việt Nam): 3 working days.
HEAD_DUE = datetime(2024, 3, 22, 2, 0, tzinfo=UTC)
# SpiffArena's lane_owners, keyed by lane name: the officer named owner of the head's and Sở Nội vụ's lanes.
OWN_LANES = {"Thủ trưởng đơn vị": ["linh.tm"], "Sở Nội vụ (Ban Thi đua - Khen thưởng)": ["linh.tm"]}
ATTACKS = {
    "lane_owners": {"lane_owners": OWN_LANES},
    "unit": {"unit_id": "SGDDT", "assigned_unit": "SGDDT"},
    "rules": {"rules": {"deadlines": {"plan_head_review": 250, "plan_home_affairs_review": 250}}},
    "all": {"lane_owners": OWN_LANES, "unit_id": "SGDDT", "assigned_unit": "SGDDT", "rules": {"deadlines": {}}},
}
CHANNELS = ("services", "api")


def snapshot(world: World, sessions: Any, instance_id: int) -> dict[str, Any]:
    """Everything a completion could change: the instance row and state, its task and candidate rows, the audit."""
    with sessions() as s:
        inst = s.get(Instance, instance_id)
        assert inst is not None
        task_rows = s.execute(
            select(HumanTask.id, HumanTask.element_id, HumanTask.status, HumanTask.unit_id, HumanTask.due_at)
            .where(HumanTask.instance_id == instance_id)
            .order_by(HumanTask.id)
        ).all()
        return {
            "version": inst.version,
            "status": inst.status,
            "state": hashlib.sha256(inst.state).hexdigest(),
            "tasks": [tuple(r) for r in task_rows],
            "candidates": s.scalar(select(func.count()).select_from(TaskCandidate)),
            "audit": s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.stream != "system")),
            "data": instances.instance_data(s, world.ctx, instance_id),
        }


def submit(world: World, sessions: Any, channel: str, user: str, task_id: int, data: Any) -> tuple[int, dict[str, Any]]:
    """(HTTP status, error body) of one completion; (200, {}) when it went through."""
    if channel == "api":
        answer = world.client(user).post(f"/api/v1/tasks/{task_id}/complete", json={"data": data})
        body = answer.get_json()
        return answer.status_code, (body.get("error", {}) if answer.status_code != 200 else {})
    from api.errors import STATUS

    try:
        with sessions() as s, s.begin():
            tasks.complete(s, world.ctx, task_id, user, data)
    except EngineError as err:
        status = next(code for cls, code in STATUS if isinstance(err, cls))
        return status, {"code": err.code, "message": err.message, "details": err.details}
    return 200, {}


def head_review(sessions: Any, instance_id: int) -> HumanTask:
    row = open_task(sessions, instance_id)
    assert row.element_id == "plan_head_review"
    return row


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_undeclared_keys_are_refused_naming_each_and_nothing_changes(world: World, sessions, channel, attack):
    before = snapshot(world, sessions, world.syt_instance)
    extra = ATTACKS[attack]
    status, error = submit(world, sessions, channel, "linh.tm", world.syt_task, PLAN | extra)
    assert status == 422
    assert error["code"] == "validation_error"
    assert error["details"]["fields"] == {key: "not a field of form plan_draft" for key in extra}
    for key in extra:
        assert f"{key}: not a field of form plan_draft" in error["message"]
    assert snapshot(world, sessions, world.syt_instance) == before
    assert open_task(sessions, world.syt_instance).id == world.syt_task


@pytest.mark.parametrize("channel", CHANNELS)
def test_after_the_refusals_a_correct_draft_goes_to_its_own_units_head_with_the_models_deadline(
    world: World, sessions, channel
):
    for extra in ATTACKS.values():
        assert submit(world, sessions, channel, "linh.tm", world.syt_task, PLAN | extra)[0] == 422
    assert submit(world, sessions, channel, "linh.tm", world.syt_task, PLAN) == (200, {})
    review = head_review(sessions, world.syt_instance)
    assert (review.role_id, review.unit_id) == ("unit_head", "SYT")
    assert review.due_at.replace(tzinfo=UTC) == HEAD_DUE
    assert review.candidate_users in (None, [])
    with sessions() as s:
        assert list(s.scalars(select(TaskCandidate.user_id).where(TaskCandidate.task_id == review.id))) == []
        data = instances.instance_data(s, world.ctx, world.syt_instance)
    assert "lane_owners" not in data and data["unit_id"] == "SYT"
    assert data["rules"]["deadlines"]["plan_head_review"] == 3
    # The officer cannot approve their own plan; the Sở GD&ĐT head does not see it; its own head does.
    status, error = submit(world, sessions, channel, "linh.tm", review.id, {"head_decision": "approve"})
    assert (status, error["code"]) == (403, "permission_denied")
    assert submit(world, sessions, channel, "quang.lv", review.id, {"head_decision": "approve"})[0] == 403
    assert submit(world, sessions, channel, "duc.hm", review.id, {"head_decision": "approve"}) == (200, {})
    filed = open_task(sessions, world.syt_instance)
    assert (filed.element_id, filed.unit_id) == ("plan_home_affairs_review", "SNV")


def test_an_officer_naming_themselves_lane_owner_would_otherwise_approve_their_own_plan(world: World, sessions):
    """The refused key is exactly what the engine honours: lane_owners written at the start makes linh.tm a
    candidate of the head's review (SpiffArena's convention); a submission cannot write it."""
    with sessions() as s, s.begin():
        task = s.get(HumanTask, world.syt_task)
        assert task is not None
        started = instances.start_instance(
            s,
            world.ctx,
            key="unit_plan",
            business_key="KH-SYT-2",
            unit_id="SYT",
            data=instances.instance_data(s, world.ctx, world.syt_instance) | {"lane_owners": OWN_LANES},
        ).id
    draft = open_task(sessions, started)
    assert submit(world, sessions, "services", "linh.tm", draft.id, PLAN) == (200, {})
    review = head_review(sessions, started)
    with sessions() as s:
        assert "linh.tm" in set(s.scalars(select(TaskCandidate.user_id).where(TaskCandidate.task_id == review.id)))


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_20_mb_field_is_refused_as_too_large_and_nothing_changes(world: World, sessions, channel):
    before = snapshot(world, sessions, world.syt_instance)
    junk = "x" * 20_000_000
    status, error = submit(world, sessions, channel, "linh.tm", world.syt_task, PLAN | {"junk": junk})
    assert status == 413
    # Over HTTP the body is refused before it is read (MAX_CONTENT_LENGTH); the services measure the submission.
    assert error["code"] == ("request_entity_too_large" if channel == "api" else "payload_too_large")
    assert len(error["message"]) < 300 and "xxxxxxxxxx" not in error["message"]
    if channel == "services":
        compact = json.dumps(PLAN | {"junk": junk}, ensure_ascii=False, separators=(",", ":")).encode()
        assert error["details"] == {"size_bytes": len(compact), "limit_bytes": 1_048_576}
    assert snapshot(world, sessions, world.syt_instance) == before
    assert submit(world, sessions, channel, "linh.tm", world.syt_task, PLAN) == (200, {})
    with sessions() as s:
        event = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "task.completed", AuditEvent.task_guid.isnot(None))
        ).one()
    assert len(str(event.data)) < 2_000  # the audit keeps the plan, not megabytes of junk


def test_a_submission_over_the_limit_but_under_the_body_cap_gets_the_engines_413(world: World, sessions):
    before = snapshot(world, sessions, world.syt_instance)
    data = PLAN | {"plan_file": "files/" + "a" * 99_000, "targets": "b" * 3_000}
    data |= {"activities": "c" * 3_000, "junk": ["d" * 90_000] * 12}
    answer = world.client("linh.tm").post(f"/api/v1/tasks/{world.syt_task}/complete", json={"data": data})
    assert answer.status_code == 413
    error = answer.get_json()["error"]
    assert error["code"] == "payload_too_large" and error["details"]["limit_bytes"] == 1_048_576
    assert error["details"]["size_bytes"] > 1_048_576
    assert snapshot(world, sessions, world.syt_instance) == before


@pytest.mark.parametrize("channel", CHANNELS)
def test_an_over_long_field_is_named_and_its_value_never_echoed(world: World, sessions, channel):
    before = snapshot(world, sessions, world.syt_instance)
    long_file = "files/" + "z" * 100_000  # plan_file has no maxLength: TDKT_MAX_FIELD_CHARS (100,000) holds
    long_targets = "y" * 4_001  # targets has maxLength 4,000: the form's limit, smaller, wins
    status, error = submit(
        world, sessions, channel, "linh.tm", world.syt_task, PLAN | {"plan_file": long_file, "targets": long_targets}
    )
    assert status == 422 and error["code"] == "validation_error"
    assert error["details"]["fields"] == {
        "plan_file": "longer than 100000 characters",
        "targets": "longer than 4000 characters",
    }
    assert "zzzzzzzzzz" not in error["message"] and "yyyyyyyyyy" not in error["message"]
    assert len(error["message"]) < 300
    assert snapshot(world, sessions, world.syt_instance) == before


def test_the_field_limit_comes_from_the_context_and_so_from_tdkt_max_field_chars(world: World, sessions, monkeypatch):
    monkeypatch.setenv("TDKT_MAX_FIELD_CHARS", "10")
    monkeypatch.setenv("TDKT_MAX_SUBMISSION_BYTES", "5000")
    world.ctx.limits = SubmissionLimits.from_env()
    assert world.ctx.limits == SubmissionLimits(max_bytes=5000, max_field_chars=10)
    status, error = submit(world, sessions, "api", "linh.tm", world.syt_task, PLAN)
    assert status == 422
    assert error["details"]["fields"] == {
        "plan_title": "longer than 10 characters",
        "targets": "longer than 10 characters",
        "activities": "longer than 10 characters",
    }
    status, error = submit(world, sessions, "api", "linh.tm", world.syt_task, PLAN | {"plan_file": "f" * 5000})
    assert (status, error["code"]) == (413, "payload_too_large")


def test_reserved_and_permission_checks_still_come_first_for_people(world: World, sessions):
    status, error = submit(world, sessions, "api", "hoa.nt", world.syt_task, PLAN | {"unit_id": "SGDDT"})
    assert (status, error["code"]) == (403, "permission_denied")  # another unit's officer learns nothing more
    with pytest.raises(PermissionDeniedError), sessions() as s, s.begin():
        tasks.complete(s, world.ctx, world.sgd_task, "linh.tm", PLAN)


# The web form: it builds the submission from the form's own fields, so extra posted fields never reach the engine.


def token(page: bytes) -> str:
    found = re.search(rb'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found.group(1).decode()


def web_client(world: World, user: str) -> Any:
    client = world.client()
    page = client.get("/login").data
    client.post("/login", data={"user": user, "password": "demo", "csrf_token": token(page)})
    return client


def test_the_web_form_completes_with_its_fields_and_drops_posted_extras(world: World, sessions):
    client = web_client(world, "linh.tm")
    page = client.get(f"/tasks/{world.syt_task}")
    posted = {"csrf_token": token(page.data), **PLAN, "lane_owners": "linh.tm", "unit_id": "SGDDT", "rules": "{}"}
    done = client.post(f"/tasks/{world.syt_task}", data=posted)
    assert done.status_code == 302
    review = head_review(sessions, world.syt_instance)
    assert (review.unit_id, review.due_at.replace(tzinfo=UTC)) == ("SYT", HEAD_DUE)
    with sessions() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "task.completed")).one()
    assert event.data["submitted"] == PLAN


def test_the_web_form_shows_an_over_long_field_by_the_field(world: World, sessions):
    client = web_client(world, "linh.tm")
    page = client.get(f"/tasks/{world.syt_task}")
    posted = {"csrf_token": token(page.data), **PLAN, "plan_file": "files/" + "z" * 100_000}
    answer = client.post(f"/tasks/{world.syt_task}", data=posted)
    assert answer.status_code == 422
    text = answer.get_data(as_text=True)
    assert "Nội dung dài quá 100000 ký tự." in text and "Traceback" not in text
    assert open_task(sessions, world.syt_instance).id == world.syt_task


def test_the_web_form_shows_a_too_large_submission_with_what_was_typed(world: World, sessions):
    world.ctx.limits = SubmissionLimits(max_bytes=200)
    client = web_client(world, "linh.tm")
    page = client.get(f"/tasks/{world.syt_task}")
    answer = client.post(
        f"/tasks/{world.syt_task}", data={"csrf_token": token(page.data), **PLAN, "targets": "t" * 300}
    )
    assert answer.status_code == 413
    text = answer.get_data(as_text=True)
    assert "Dữ liệu gửi lên quá lớn (tối đa 200 byte)" in text and "Traceback" not in text
    assert PLAN["plan_title"] in text  # the form again, as typed
    assert open_task(sessions, world.syt_instance).id == world.syt_task
