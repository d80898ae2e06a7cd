"""Notifications in the app: the header's unread count, the list, mark one or all as read (one's own only)."""

from __future__ import annotations

from engine.services import notifications
from tests.api_support import World
from tests.api_support import world as world  # noqa: F401 - fixture
from tests.test_web import text, token, web_login


def test_the_header_counts_unread_notifications_and_the_list_marks_them_read(world: World, sessions):
    with sessions() as s, s.begin():
        first, second = (
            notifications.notify(
                s, world.ctx, ["linh.tm"], "reminder", title, "Hạn nộp kế hoạch", task_id=world.syt_task
            )[0].id
            for title in ("Nhắc việc: kế hoạch", "Quá hạn: kế hoạch")
        )
        notifications.notify(s, world.ctx, ["hoa.nt"], "reminder", "Việc của người khác", "không hiển thị")
    client = world.client()
    page = text(web_login(client, "linh.tm"))
    assert 'id="unread-count"' in page and ">2</span>" in page
    listing = text(client.get("/notifications"))
    assert "Nhắc việc: kế hoạch" in listing and "Quá hạn: kế hoạch" in listing
    assert "Việc của người khác" not in listing and f"/tasks/{world.syt_task}" in listing
    answer = client.post(
        "/notifications/read",
        data={"id": str(first), "csrf_token": token(client.get("/notifications").data)},
        follow_redirects=True,
    )
    body = text(answer)
    assert "Đã đánh dấu 1 thông báo" in body and ">1</span>" in body
    assert f'<li class="read" data-notification-id="{first}">' in body
    assert f'<li class="unread" data-notification-id="{second}">' in body
    answer = client.post(
        "/notifications/read", data={"csrf_token": token(client.get("/notifications").data)}, follow_redirects=True
    )
    assert 'id="unread-count"' not in text(answer)
    with sessions() as s:
        assert notifications.unread_count(s, "hoa.nt") == 1  # someone else's stay unread
