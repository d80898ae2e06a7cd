"""The web UI through Flask's test client: login, inbox, CSRF, the task form with its errors, languages, pages."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.api_support import MISSING, PASSWORD, PLAN, World, instance_version, open_task
from tests.api_support import world as world  # noqa: F401 - fixture


def token(page: bytes) -> str:
    found = re.search(rb'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF token on the page"
    return found.group(1).decode()


def web_login(client, user: str, password: str = PASSWORD, follow: bool = True):
    page = client.get("/login").data
    return client.post(
        "/login", data={"user": user, "password": password, "csrf_token": token(page)}, follow_redirects=follow
    )


def text(answer) -> str:
    return answer.get_data(as_text=True)


def test_the_home_page_sends_strangers_to_a_vietnamese_login_page(world: World):
    client = world.client()
    home = client.get("/")
    assert home.status_code == 302 and home.headers["Location"].startswith("/login")
    page = text(client.get("/login"))
    assert "Đăng nhập" in page and 'lang="vi"' in page


def test_login_shows_the_inbox_with_the_units_task(world: World):
    world.ctx.clock.advance(timedelta(days=20))
    page = text(web_login(world.client(), "linh.tm"))
    assert "Việc cần làm" in page and "Trần Mỹ Linh" in page
    assert "Xây dựng kế hoạch thực hiện" in page and "KH-SYT" in page and "Sở Y tế" in page
    assert "02/04/2024 09:00" in page  # due date in Việt Nam time, dd/mm/yyyy
    assert 'class="row-overdue"' in page and "Quá hạn" in page


def test_a_wrong_password_shows_the_form_again(world: World):
    answer = web_login(world.client(), "linh.tm", "wrong")
    assert answer.status_code == 401
    assert "Sai tên đăng nhập hoặc mật khẩu." in text(answer)
    assert 'value="linh.tm"' in text(answer)


def test_login_returns_to_the_page_asked_for_and_never_off_site(world: World):
    client = world.client()
    page = client.get("/login?next=/overview").data
    form = {"user": "an.tdkt", "password": PASSWORD, "csrf_token": token(page)}
    assert client.post("/login", data=form | {"next": "/overview"}).headers["Location"] == "/overview"
    client = world.client()
    page = client.get("/login").data
    form["csrf_token"] = token(page)
    assert client.post("/login", data=form | {"next": "//evil.example/"}).headers["Location"] == "/"


@pytest.mark.parametrize("url", ["/login", "/logout", "/tasks/1", "/tasks/1/claim"])
def test_posts_without_the_csrf_token_are_refused(world: World, url):
    client = world.client("linh.tm")
    answer = client.post(url, data={"user": "linh.tm", "password": PASSWORD})
    assert answer.status_code == 400
    assert "Phiên làm việc đã hết hạn" in text(answer)


def test_form_errors_are_shown_by_each_field_and_keep_what_was_typed(world: World, sessions):
    client = world.client()
    web_login(client, "linh.tm")
    page = client.get(f"/tasks/{world.syt_task}")
    assert page.status_code == 200
    body = text(page)
    assert 'name="plan_title"' in body and "<textarea" in body  # long text fields are textareas
    assert "biểu mẫu web chưa hỗ trợ tải tệp" in body  # the plan file: a document reference for now
    before = instance_version(sessions, world.syt_instance)
    answer = client.post(
        f"/tasks/{world.syt_task}",
        data={"csrf_token": token(page.data), "plan_title": "Kế hoạch của tôi", "targets": "Chỉ tiêu đã gõ"},
    )
    assert answer.status_code == 422
    body = text(answer)
    assert 'value="Kế hoạch của tôi"' in body and "Chỉ tiêu đã gõ</textarea>" in body
    assert body.count('class="field-error"') == 1 and "Trường này bắt buộc." in body
    assert re.search(r'name="activities"[^<]*</textarea>\s*(<small[^<]*</small>\s*)?<p class="field-error"', body)
    assert instance_version(sessions, world.syt_instance) == before


def test_completing_returns_to_the_inbox_with_a_message_and_the_head_gets_the_next_step(world: World, sessions):
    client = world.client()
    web_login(client, "linh.tm")
    page = client.get(f"/tasks/{world.syt_task}")
    done = client.post(f"/tasks/{world.syt_task}", data={"csrf_token": token(page.data), **PLAN}, follow_redirects=True)
    assert done.status_code == 200
    assert "Đã hoàn thành công việc" in text(done) and "Không có công việc nào." in text(done)
    head = world.client()
    body = text(web_login(head, "duc.hm"))
    assert "Thủ trưởng duyệt kế hoạch" in body
    review = open_task(sessions, world.syt_instance)
    form = text(head.get(f"/tasks/{review.id}"))
    assert "<select" in form and "Đồng ý" in form and "Trả lại để sửa" in form


def test_claim_from_the_inbox(world: World, sessions):
    client = world.client()
    inbox = web_login(client, "linh.tm")
    answer = client.post(f"/tasks/{world.syt_task}/claim", data={"csrf_token": token(inbox.data)})
    assert answer.status_code == 302
    assert open_task(sessions, world.syt_instance).assignee == "linh.tm"
    assert "Bạn đã nhận công việc." in text(client.get(answer.headers["Location"]))


def test_english_with_lang_en_is_remembered(world: World):
    client = world.client()
    assert "Log in" in text(client.get("/login?lang=en"))
    page = web_login(client, "linh.tm")
    assert "Inbox" in text(page) and 'lang="en"' in text(page)
    assert "Inbox" in text(client.get("/?lang=en")) and "Việc cần làm" in text(client.get("/?lang=vi"))


def test_pages_check_permissions_like_the_api(world: World):
    officer = world.client()
    web_login(officer, "hoa.nt")
    assert officer.get(f"/tasks/{world.syt_task}").status_code == 403
    assert officer.get(f"/tasks/{MISSING}").status_code == 404
    assert officer.get(f"/instances/{world.syt_instance}").status_code == 403
    assert officer.get("/overview").status_code == 403
    assert "Tổng quan" not in text(officer.get("/"))
    assert world.client().get(f"/instances/{world.syt_instance}").status_code == 302


def test_the_overview_per_unit_for_sở_nội_vụ_and_a_head(world: World):
    world.ctx.clock.advance(timedelta(days=20))
    reviewer = world.client()
    web_login(reviewer, "an.tdkt")
    page = text(reviewer.get("/overview"))
    assert "Sở Y tế" in page and "Sở Giáo dục và Đào tạo" in page and "KH-SYT" in page
    head = world.client()
    web_login(head, "duc.hm")
    page = text(head.get("/overview"))
    assert "Sở Y tế" in page and "Sở Giáo dục và Đào tạo" not in page


def test_instance_page_shows_the_audit_trail_to_those_allowed(world: World):
    world.client("linh.tm").post(f"/api/v1/tasks/{world.syt_task}/complete", json={"data": PLAN})
    auditor = world.client()
    web_login(auditor, "kiem.tra")
    page = text(auditor.get(f"/instances/{world.syt_instance}"))
    assert "task.completed" in page and "linh.tm" in page and "19/03/2024 09:00" in page
    officer = world.client()
    web_login(officer, "linh.tm")
    page = text(officer.get(f"/instances/{world.syt_instance}"))
    assert "task.completed" not in page and "Nhật ký chỉ dành cho" in page
    assert "KH-SYT" in text(officer.get("/instances"))
