"""Comments on an item from its task page: whoever sees the item writes one; it is stored, audited, shown on every
task page of the item and notifies the item's other participants. Plus the notifications the steps make: the
next step's people are told, a return says why."""

from __future__ import annotations

from sqlalchemy import select

from engine.persistence.models import AuditEvent, ItemComment, Notification
from engine.services.audit import verify
from tests.api_support import PLAN, World, open_task
from tests.api_support import world as world  # noqa: F401 - fixture
from tests.test_web import text, token


def _kinds(sessions, user: str) -> list[tuple[str, str]]:
    with sessions() as s:
        query = select(Notification.kind, Notification.title).where(Notification.user_id == user)
        return [tuple(r) for r in s.execute(query.order_by(Notification.id))]


def _comment(client, task_id: int, body: str):
    page = client.get(f"/tasks/{task_id}")
    return client.post(
        f"/tasks/{task_id}/comments", data={"csrf_token": token(page.data), "body": body}, follow_redirects=True
    )


def test_a_comment_is_stored_audited_shown_and_told_to_the_others(world: World, sessions):
    officer, head = world.client("linh.tm"), world.client("duc.hm")
    assert officer.post(f"/api/v1/tasks/{world.syt_task}/complete", json={"data": PLAN}).status_code == 200
    review = open_task(sessions, world.syt_instance)
    answer = _comment(head, review.id, "Đề nghị bổ sung chỉ tiêu quý IV")
    assert answer.status_code == 200 and "Đã gửi ý kiến" in text(answer)
    assert "Đề nghị bổ sung chỉ tiêu quý IV" in text(answer)
    with sessions() as s:
        (row,) = s.scalars(select(ItemComment))
        assert (row.instance_id, row.task_id, row.author) == (world.syt_instance, review.id, "duc.hm")
        (event,) = s.scalars(select(AuditEvent).where(AuditEvent.action == "item.commented"))
        assert event.data["body"] == "Đề nghị bổ sung chỉ tiêu quý IV" and event.data["notified"] == ["linh.tm"]
        assert verify(s).ok
    assert ("comment", f"Ý kiến mới về hồ sơ #{world.syt_instance}: Thủ trưởng duyệt kế hoạch") in _kinds(
        sessions, "linh.tm"
    )
    assert not [k for k, _ in _kinds(sessions, "duc.hm") if k == "comment"]  # the author is not told
    # the same item's comments on the API, for whoever sees it, and nobody else
    listed = officer.get(f"/api/v1/instances/{world.syt_instance}/comments").get_json()
    assert [c["body"] for c in listed["comments"]] == ["Đề nghị bổ sung chỉ tiêu quý IV"]
    assert world.client("hoa.nt").get(f"/api/v1/instances/{world.syt_instance}/comments").status_code == 403
    made = officer.post(f"/api/v1/instances/{world.syt_instance}/comments", json={"body": "Đã rõ", "task": review.id})
    assert made.status_code == 201 and made.get_json()["author_name"] == "Trần Mỹ Linh"
    assert "comment" in [k for k, _ in _kinds(sessions, "duc.hm")]
    stranger = world.client("hoa.nt").post(f"/api/v1/instances/{world.syt_instance}/comments", json={"body": "x"})
    assert stranger.status_code == 403
    wrong = officer.post(f"/api/v1/instances/{world.syt_instance}/comments", json={"body": "x", "task": world.sgd_task})
    assert wrong.status_code == 422


def test_empty_or_long_comments_are_refused_with_a_message(world: World, sessions):
    officer = world.client("linh.tm")
    assert "Vui lòng nhập nội dung ý kiến" in text(_comment(officer, world.syt_task, "   "))
    assert "Ý kiến dài quá 4000 ký tự" in text(_comment(officer, world.syt_task, "x" * 4001))
    assert officer.post(f"/api/v1/instances/{world.syt_instance}/comments", json={"body": ""}).status_code == 422
    with sessions() as s:
        assert s.scalars(select(ItemComment)).all() == []


def test_sở_nội_vụ_comments_on_a_task_it_only_reads(world: World, sessions):
    staff = world.client("an.tdkt")
    answer = _comment(staff, world.syt_task, "Đề nghị hoàn thành trước 25/3")
    assert answer.status_code == 200 and "Đề nghị hoàn thành trước 25/3" in text(answer)
    assert [k for k, _ in _kinds(sessions, "hoa.nt")] == []
    assert world.client("hoa.nt").post(f"/tasks/{world.syt_task}/comments", data={}).status_code in (400, 403)


def test_the_next_steps_people_are_told_and_a_return_says_why(world: World, sessions):
    officer, head = world.client("linh.tm"), world.client("duc.hm")
    assert officer.post(f"/api/v1/tasks/{world.syt_task}/complete", json={"data": PLAN}).status_code == 200
    assert [k for k, _ in _kinds(sessions, "duc.hm")] == ["assigned"]
    review = open_task(sessions, world.syt_instance)
    sent_back = {"head_decision": "return", "head_comments": "Thiếu chỉ tiêu quý IV"}
    assert head.post(f"/api/v1/tasks/{review.id}/complete", json={"data": sent_back}).status_code == 200
    with sessions() as s:
        query = select(Notification).where(Notification.user_id == "linh.tm", Notification.kind == "returned")
        (returned,) = s.scalars(query)
    assert returned.title.startswith("Bị trả lại") and "Thiếu chỉ tiêu quý IV" in returned.body
    assert returned.task_id == open_task(sessions, world.syt_instance).id
    page = text(officer.get("/notifications"))
    assert "Bị trả lại" in page and f"/tasks/{returned.task_id}" in page
    # mark one read, then all
    csrf = token(officer.get("/notifications").data)
    officer.post("/notifications/read", data={"csrf_token": csrf, "id": str(returned.id)})
    with sessions() as s:
        assert s.get(Notification, returned.id).read_at is not None
    officer.post("/notifications/read", data={"csrf_token": token(officer.get("/notifications").data)})
    with sessions() as s:
        unread = select(Notification).where(Notification.user_id == "linh.tm", Notification.read_at.is_(None))
        assert s.scalars(unread).all() == []


def test_whoever_only_started_the_item_is_not_a_participant(world: World, sessions):
    from engine.services.instances import start_instance
    from tests.test_lifecycle_helpers import base_data

    with sessions() as s, s.begin():
        row = start_instance(
            s,
            world.ctx,
            key="unit_plan",
            business_key="KH-SYT-2",
            unit_id="SYT",
            data=base_data(unit_id="SYT"),
            actor="chu.tich",
        )
        iid = row.id
    made = world.client("linh.tm").post(f"/api/v1/instances/{iid}/comments", json={"body": "Bản nháp đầu"})
    assert made.status_code == 201
    with sessions() as s:
        (event,) = s.scalars(
            select(AuditEvent).where(AuditEvent.instance_id == iid, AuditEvent.action == "item.commented")
        )
    assert event.data["notified"] == []
    assert _kinds(sessions, "chu.tich") == []
