"""The task form in a real browser (Debian's Chromium, headless), drawn by React JSON Schema Form: the unit
council adds two nominees as rows, picks choices by their Vietnamese titles, types the meeting date dd/mm/yyyy,
uploads the minutes as a PDF, meets a Vietnamese validation message, submits; the stored data has the ISO date,
the rows and the attachment's reference (never its bytes)."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from werkzeug.serving import make_server

from api import create_app
from cli import main
from engine.clock import ManualClock
from engine.persistence.db import make_engine, make_session_factory
from engine.persistence.models import Attachment, AuditEvent, HumanTask
from engine.services.context import EngineContext
from engine.services.instances import start_instance
from tests.browser.test_inbox_browser import CHROMIUM, _browser_or_skip
from tests.test_lifecycle_helpers import base_data

# Screenshots go to a temporary folder; TDKT_SCREENSHOTS=docs/screenshots refreshes the README's picture.
SCREENSHOTS_ENV = "TDKT_SCREENSHOTS"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture
def nomination(tmp_path: Path) -> Iterator[tuple[str, object, int]]:
    """The demo (no history) with a nomination round opened for Sở Y tế: its unit council's list is waiting."""
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    loaded = CliRunner().invoke(main, ["demo", "--url", url, "--quiet", "--no-history"])
    assert loaded.exit_code == 0, loaded.output
    engine = make_engine(url)
    ctx = EngineContext(clock=ManualClock(datetime(2026, 3, 16, 2, 0, tzinfo=UTC)))
    sessions = make_session_factory(engine)
    with sessions() as s, s.begin():
        row = start_instance(
            s,
            ctx,
            key="nomination",
            business_key="DN-SYT-2026",
            unit_id="TINH",
            data=base_data(nomination_units=["SYT"], sudden=False),
            actor="an.tdkt",
        )
        instance_id = row.id
    with sessions() as s:
        query = select(HumanTask.id).where(HumanTask.element_id == "nom_unit_council", HumanTask.status == "open")
        task_id = s.scalars(query).one()
    app = create_app({"ENGINE": engine, "DATABASE_URL": url, "SECRET_KEY": "browser-test", "ENGINE_CONTEXT": ctx})
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{http.server_port}", sessions, task_id
    finally:
        http.shutdown()
        thread.join(timeout=10)
        http.server_close()
        engine.dispose()
        del instance_id


def test_the_unit_council_fills_its_list_in_the_browser_form(nomination, tmp_path: Path):
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    server, sessions, task_id = nomination
    minutes = tmp_path / "bien-ban-hop.pdf"
    minutes.write_bytes(PDF)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            failures: list[str] = []
            page.on("pageerror", lambda err: failures.append(str(err)))  # an uncaught error in the bundle
            page.on(
                "response",
                lambda r: (
                    failures.append(f"{r.status} {r.url}")
                    if r.status >= 400 and not r.url.endswith("/favicon.ico")
                    else None
                ),
            )
            page.goto(server + "/")
            page.fill("#user", "nga.vt")
            page.fill("#password", "demo")
            page.get_by_role("button", name="Đăng nhập").click()
            page.goto(f"{server}/tasks/{task_id}")
            expect(page.locator("#rjsf-form form.rjsf")).to_be_visible()
            expect(page.locator("form.task-form[hidden]")).to_have_count(1)  # the plain form stays, hidden

            # two rows of nominees, choices picked by their Vietnamese titles
            page.locator("#f-unit_candidates__add").click()
            page.locator("#f-unit_candidates__add").click()
            page.fill("#f-unit_candidates-0-name", "Vũ Thị Nga")
            page.select_option("#f-unit_candidates-0-kind", label="Cá nhân")
            page.select_option("#f-unit_candidates-0-award", label="Bằng khen của Chủ tịch UBND tỉnh")
            page.check("#f-unit_candidates-0-outstanding_achievement")
            page.select_option("#f-unit_candidates-1-kind", label="Tập thể")
            page.select_option("#f-unit_candidates-1-award", label="Tập thể lao động xuất sắc")
            # the minutes uploaded as a real file
            page.set_input_files("#f-minutes_file", str(minutes))
            expect(page.locator("#f-minutes_file__current")).to_contain_text("bien-ban-hop.pdf")

            # a date that does not exist and a nominee without a name: messages in Vietnamese, naming the field
            page.fill("#f-meeting_date", "31/02/2026")
            page.get_by_role("button", name="Hoàn thành").click()
            errors = page.locator(".rjsf-errors")
            expect(errors).to_contain_text("«Ngày họp»: ngày không hợp lệ, nhập theo dạng dd/mm/yyyy")
            expect(errors).to_contain_text("Họ tên cá nhân / tên tập thể»: Trường này bắt buộc.")
            expect(page.locator("#f-meeting_date")).to_have_attribute("aria-invalid", "true")
            expect(page.locator("#f-unit_candidates-1__title")).to_have_text("Danh sách đề nghị #2 *")
            shots = Path(os.environ.get(SCREENSHOTS_ENV) or tmp_path)
            shots.mkdir(parents=True, exist_ok=True)
            page.set_viewport_size({"width": 1280, "height": 1500})
            page.locator("h1").scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "form_rjsf.png"), full_page=False)

            page.fill("#f-meeting_date", "19/03/2026")
            page.fill("#f-unit_candidates-1-name", "Khoa Nội")
            expect(page.locator("#f-meeting_date")).to_have_value("19/03/2026")
            page.get_by_role("button", name="Hoàn thành").click()
            expect(page.locator(".flash.success")).to_contain_text("Đã hoàn thành công việc")
            assert failures == [], failures
        finally:
            browser.close()

    with sessions() as s:
        row = s.get(HumanTask, task_id)
        assert row is not None and row.status == "completed" and row.completed_by == "nga.vt"
        query = select(AuditEvent).where(AuditEvent.action == "task.completed", AuditEvent.task_guid == row.task_guid)
        submitted = s.scalars(query).one().data["submitted"]
        (attachment,) = s.scalars(select(Attachment))
    assert submitted["meeting_date"] == "2026-03-19"
    assert [(c["name"], c["kind"], c["award"]) for c in submitted["unit_candidates"]] == [
        ("Vũ Thị Nga", "individual", "bang_khen_chu_tich"),
        ("Khoa Nội", "collective", "tap_the_lao_dong_xuat_sac"),
    ]
    assert submitted["unit_candidates"][0]["outstanding_achievement"] is True
    assert submitted["minutes_file"] == {
        "attachment_id": attachment.id,
        "name": "bien-ban-hop.pdf",
        "sha256": hashlib.sha256(PDF).hexdigest(),
        "size": len(PDF),
        "media_type": "application/pdf",
    }
    assert attachment.content == PDF and attachment.uploaded_by == "nga.vt"


def test_without_the_bundle_the_plain_form_still_completes_the_task(nomination):
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    server, sessions, task_id = nomination
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.route("**/static/dist/forms.js", lambda route: route.abort())  # the bundle missing or blocked
            page.goto(server + "/")
            page.fill("#user", "nga.vt")
            page.fill("#password", "demo")
            page.get_by_role("button", name="Đăng nhập").click()
            page.goto(f"{server}/tasks/{task_id}")
            expect(page.locator("#rjsf-form")).to_have_count(0)
            expect(page.locator("form.task-form")).to_be_visible()
            page.fill("#f-meeting_date", "2026-03-19")  # the browser's own date input
            rows = '[{"name": "Vũ Thị Nga", "kind": "individual", "award": "bang_khen_chu_tich"}]'
            page.fill("#f-unit_candidates", rows)
            page.get_by_role("button", name="Hoàn thành").click()
            expect(page.locator(".flash.success")).to_contain_text("Đã hoàn thành công việc")
        finally:
            browser.close()
    with sessions() as s:
        row = s.get(HumanTask, task_id)
        assert row is not None and row.status == "completed"
