"""Sở Nội vụ opens any unit's task read-only (never to claim or complete it), urges it once per working day (a
notification and an audit event), and reassigns it within its unit once it was escalated to them."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from engine.persistence.models import AuditEvent, HumanTask, Membership, Notification
from engine.services.timers import fire_due_timers
from tests.api_support import PLAN, World, open_task
from tests.api_support import world as world  # noqa: F401 - fixture
from tests.test_web import text, token


def _notifications(sessions, user: str, kind: str) -> list[Notification]:
    with sessions() as s:
        query = select(Notification).where(Notification.user_id == user, Notification.kind == kind)
        return list(s.scalars(query.order_by(Notification.id)))


def _events(sessions, instance_id: int, action: str) -> list[AuditEvent]:
    with sessions() as s:
        query = select(AuditEvent).where(AuditEvent.instance_id == instance_id, AuditEvent.action == action)
        return list(s.scalars(query.order_by(AuditEvent.id)))


def test_sở_nội_vụ_reads_another_units_task_but_cannot_claim_or_complete_it(world: World):
    staff = world.client("an.tdkt")
    page = staff.get(f"/tasks/{world.syt_task}")
    body = text(page)
    assert page.status_code == 200 and 'id="read-only"' in body and "Đôn đốc" in body
    assert f'action="/tasks/{world.syt_task}"' not in body  # no completion form
    assert 'id="comments"' in body
    answer = staff.get(f"/api/v1/tasks/{world.syt_task}").get_json()
    assert answer["read_only"] is True and answer["element_id"] == "plan_draft"
    csrf = token(staff.get(f"/tasks/{world.syt_task}").data)
    assert staff.post(f"/tasks/{world.syt_task}", data={"csrf_token": csrf, **PLAN}).status_code == 403
    assert staff.post(f"/tasks/{world.syt_task}/claim", data={"csrf_token": csrf}).status_code == 403
    assert staff.post(f"/api/v1/tasks/{world.syt_task}/complete", json={"data": PLAN}).status_code == 403
    assert staff.post(f"/api/v1/tasks/{world.syt_task}/claim", json={}).status_code == 403
    # the officer of another unit still gets nothing, and the task's own officer the normal page
    assert world.client("hoa.nt").get(f"/tasks/{world.syt_task}").status_code == 403
    assert world.client("hoa.nt").get(f"/api/v1/tasks/{world.syt_task}").status_code == 403
    mine = world.client("linh.tm").get(f"/api/v1/tasks/{world.syt_task}").get_json()
    assert mine["read_only"] is False


def test_an_urge_notifies_the_candidates_is_audited_and_waits_a_working_day(world: World, sessions, clock):
    staff = world.client("an.tdkt")
    answer = staff.post(f"/api/v1/tasks/{world.syt_task}/urge", json={"note": "Hạn nộp sắp hết"})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["notified"] == ["linh.tm"]
    (sent,) = _notifications(sessions, "linh.tm", "urged")
    assert sent.task_id == world.syt_task and "Đôn đốc" in sent.title and "Hạn nộp sắp hết" in sent.body
    assert sent.email_status in ("pending", "none")
    (event,) = _events(sessions, world.syt_instance, "task.urged")
    assert event.actor == "an.tdkt" and event.data["notified"] == ["linh.tm"]

    again = staff.post(f"/api/v1/tasks/{world.syt_task}/urge", json={})
    assert again.status_code == 409
    assert again.get_json()["error"]["details"]["next_urge_on"] == "2024-03-20"
    clock.advance(timedelta(days=1))  # Wednesday 20/3/2024: the next working day
    assert staff.post(f"/api/v1/tasks/{world.syt_task}/urge", json={}).status_code == 200
    assert len(_notifications(sessions, "linh.tm", "urged")) == 2
    clock.advance(timedelta(days=3))  # Saturday 23/3: counts for Monday 25/3
    assert staff.post(f"/api/v1/tasks/{world.syt_task}/urge", json={}).status_code == 200
    clock.advance(timedelta(days=2))  # Monday 25/3: the same working day as Saturday's urge
    assert staff.post(f"/api/v1/tasks/{world.syt_task}/urge", json={}).status_code == 409

    # who may urge: Sở Nội vụ and administrators; the officer and the head may not
    assert world.client("linh.tm").post(f"/api/v1/tasks/{world.syt_task}/urge", json={}).status_code == 403
    assert world.client("duc.hm").post(f"/api/v1/tasks/{world.syt_task}/urge", json={}).status_code == 403
    long_note = {"note": "x" * 501}
    assert staff.post(f"/api/v1/tasks/{world.sgd_task}/urge", json=long_note).status_code == 422


def test_the_urge_button_on_the_read_only_page(world: World, sessions):
    staff = world.client("an.tdkt")
    page = staff.get(f"/tasks/{world.sgd_task}")
    answer = staff.post(
        f"/tasks/{world.sgd_task}/urge", data={"csrf_token": token(page.data), "note": ""}, follow_redirects=True
    )
    body = text(answer)
    assert "Đã đôn đốc: 1 người" in body and 'id="urge-wait"' in body and 'id="urge-button"' not in body
    assert "Lê Hoài An đã đôn đốc" in body  # the urges so far, on the page
    assert [n.task_id for n in _notifications(sessions, "hoa.nt", "urged")] == [world.sgd_task]
    officer = world.client("hoa.nt")
    assert world.client("hoa.nt").post(f"/tasks/{world.sgd_task}/urge", data={}).status_code in (400, 403)
    assert "Đôn đốc" in text(officer.get("/notifications"))


def test_completed_work_is_not_urged(world: World):
    officer = world.client("linh.tm")
    assert officer.post(f"/api/v1/tasks/{world.syt_task}/complete", json={"data": PLAN}).status_code == 200
    answer = world.client("an.tdkt").post(f"/api/v1/tasks/{world.syt_task}/urge", json={})
    assert answer.status_code == 409


def _second_officer(sessions) -> None:
    with sessions() as s, s.begin():
        s.add(Membership(user_id="khanh.dq", role_id="unit_officer", unit_id="SYT"))


def test_sở_nội_vụ_reassigns_an_escalated_task_within_its_unit(world: World, sessions, clock):
    _second_officer(sessions)
    staff = world.client("an.tdkt")
    early = staff.post(f"/api/v1/tasks/{world.syt_task}/reassign", json={"user": "khanh.dq"})
    assert early.status_code == 403 and "escalation level 0" in early.get_json()["error"]["message"]
    clock.advance(timedelta(days=30))
    fire_due_timers(sessions, world.ctx, owner="test")
    with sessions() as s:
        assert s.get(HumanTask, world.syt_task).escalation_level == 2
    outside = staff.post(f"/api/v1/tasks/{world.syt_task}/reassign", json={"user": "hoa.nt"})
    assert outside.status_code == 422 and "user" in outside.get_json()["error"]["details"]["fields"]
    answer = staff.post(f"/api/v1/tasks/{world.syt_task}/reassign", json={"user": "khanh.dq"})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["assignee"] == "khanh.dq" and answer.get_json()["status"] == "claimed"
    (event,) = _events(sessions, world.syt_instance, "task.reassigned")
    assert (event.actor, event.data) == ("an.tdkt", {"from": None, "to": "khanh.dq", "reason": "monitor"})
    (told,) = _notifications(sessions, "khanh.dq", "assigned")
    assert told.task_id == world.syt_task
    # the read-only page offers the others holding the role; the officer of another unit still cannot reassign
    page = text(staff.get(f"/tasks/{world.syt_task}"))
    assert 'id="reassign-user"' in page and 'value="linh.tm"' in page
    refused = world.client("hoa.nt").post(f"/api/v1/tasks/{world.syt_task}/reassign", json={"user": "hoa.nt"})
    assert refused.status_code == 403
    assert open_task(sessions, world.syt_instance).assignee == "khanh.dq"


def test_the_head_reassigns_as_before_and_the_new_holder_is_told(world: World, sessions):
    _second_officer(sessions)
    answer = world.client("duc.hm").post(f"/api/v1/tasks/{world.syt_task}/reassign", json={"user": "khanh.dq"})
    assert answer.status_code == 200 and answer.get_json()["assignee"] == "khanh.dq"
    (told,) = _notifications(sessions, "khanh.dq", "assigned")
    assert told.task_id == world.syt_task and told.title.startswith("Việc mới")
    assert _notifications(sessions, "duc.hm", "assigned") == []


def test_the_auditor_reads_but_does_not_urge_and_the_routes_are_documented(world: World):
    auditor = world.client("kiem.tra")
    body = text(auditor.get(f"/tasks/{world.syt_task}"))
    assert 'id="read-only"' in body and 'id="urge-button"' not in body and 'id="reassign-user"' not in body
    assert auditor.post(f"/api/v1/tasks/{world.syt_task}/urge", json={}).status_code == 403
    paths = world.client().get("/api/v1/openapi.json").get_json()["paths"]
    assert "post" in paths["/api/v1/tasks/{task_id}/urge"] and "post" in paths["/api/v1/tasks/{task_id}/reassign"]
    assert set(paths["/api/v1/instances/{instance_id}/comments"]) == {"get", "post"}
