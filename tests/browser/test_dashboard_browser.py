"""A real browser (Debian's Chromium, headless) on the demo's 2026 campaign two weeks after its start: some units'
plans are done or on their way, the others overdue and escalated. Sở Nội vụ opens the campaign dashboard, opens
a late unit's task read-only and urges it; the unit's officer then finds the urge among their notifications."""

from __future__ import annotations

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
from engine.persistence.models import HumanTask, Instance
from engine.services import tasks
from engine.services.context import EngineContext
from engine.services.directory import users_with_role
from engine.services.timers import fire_due_timers
from tests.browser.test_inbox_browser import CHROMIUM, _browser_or_skip

SCREENSHOTS_ENV = "TDKT_SCREENSHOTS"  # TDKT_SCREENSHOTS=docs/screenshots refreshes the README's pictures
PLAN = {"plan_title": "Kế hoạch thi đua 2026", "targets": "100% đăng ký thi đua", "activities": "Quý II - IV"}
DRAFTED = ["SGDDT", "STC", "SCT", "MTTQ", "LDLD", "HLHPN", "TPAB", "HPT"]  # their officers drafted the plan
APPROVED = DRAFTED[:5]  # and the head approved it
ACCEPTED = DRAFTED[:3]  # and Sở Nội vụ accepted it
STEPS = (
    ("plan_draft", DRAFTED, PLAN),
    ("plan_head_review", APPROVED, {"head_decision": "approve"}),
    ("plan_home_affairs_review", ACCEPTED, {"review_decision": "accept"}),
)


def _advance_plans(sessions, ctx: EngineContext) -> None:
    for element, units, data in STEPS:
        for unit in units:
            with sessions() as s, s.begin():
                rows = s.scalars(select(HumanTask).where(HumanTask.element_id == element, HumanTask.status == "open"))
                row = next(r for r in rows if r.instance_id and _unit_of(s, r) == unit)
                user = users_with_role(s, str(row.role_id), row.unit_id, ctx.now())[0]
                tasks.complete(s, ctx, row.id, user, data)


def _unit_of(session, row: HumanTask) -> str | None:
    instance = session.get(Instance, row.instance_id)
    return instance.unit_id if instance else None


@pytest.fixture
def late_campaign(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    loaded = CliRunner().invoke(main, ["demo", "--url", url, "--quiet", "--no-history"])
    assert loaded.exit_code == 0, loaded.output
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    clock = ManualClock(datetime(2026, 3, 16, 2, 0, tzinfo=UTC))
    ctx = EngineContext(clock=clock)
    _advance_plans(sessions, ctx)
    clock.set(datetime(2026, 3, 27, 2, 0, tzinfo=UTC))  # due 24/3; escalated two working days later
    fire_due_timers(sessions, ctx, owner="browser-test")
    app = create_app({"ENGINE": engine, "DATABASE_URL": url, "SECRET_KEY": "browser-test", "ENGINE_CONTEXT": ctx})
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{http.server_port}"
    finally:
        http.shutdown()
        thread.join(timeout=10)
        http.server_close()
        engine.dispose()


def _log_in(page, user: str) -> None:
    page.fill("#user", user)
    page.fill("#password", "demo")
    page.get_by_role("button", name="Đăng nhập").click()


def test_sở_nội_vụ_urges_a_late_unit_and_its_officer_is_told(late_campaign: str, tmp_path: Path):
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(late_campaign + "/")
            _log_in(page, "an.tdkt")
            page.get_by_role("link", name="Theo dõi phong trào").click()
            expect(page.get_by_role("heading", name="Theo dõi phong trào CT03-2026")).to_be_visible()
            rows = page.locator("#dashboard-table tbody tr")
            expect(rows).to_have_count(16)
            expect(page.locator('tr[data-unit="SGDDT"] td[data-stage="plan"]')).to_have_attribute("data-state", "done")
            late = page.locator('tr[data-unit="SYT"] td[data-stage="plan"]')
            expect(late).to_have_class("stage stage-open stage-overdue stage-escalated")
            for unit in ("SYT", "TDTN", "TXTM", "PHB", "XTL", "XDH", "CTNAB", "CTMT"):  # nothing drafted there
                expect(page.locator(f'tr[data-unit="{unit}"] td[data-stage="plan"].stage-escalated')).to_have_count(1)
            for unit in ACCEPTED:
                expect(page.locator(f'tr[data-unit="{unit}"] td.stage-escalated')).to_have_count(0)
            shots = Path(os.environ.get(SCREENSHOTS_ENV) or tmp_path)
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots / "dashboard.png"), full_page=True)
            page.set_viewport_size({"width": 390, "height": 844})  # a phone: the table scrolls inside its box
            box = page.locator(".table-scroll").first
            assert box.evaluate("e => e.scrollWidth > e.clientWidth && e.clientWidth <= 390")
            assert page.evaluate("() => document.querySelector('main').scrollWidth <= window.innerWidth")
            page.screenshot(path=str(tmp_path / "dashboard-phone.png"))
            page.set_viewport_size({"width": 1280, "height": 900})

            late.get_by_role("link", name="Xây dựng kế hoạch thực hiện").click()
            expect(page.locator("#read-only")).to_be_visible()
            expect(page.get_by_role("button", name="Hoàn thành")).to_have_count(0)
            expect(page.get_by_role("button", name="Nhận việc")).to_have_count(0)
            page.fill("#urge-note", "Đề nghị nộp kế hoạch trong tuần này")
            page.get_by_role("button", name="Đôn đốc").click()
            expect(page.locator(".flash.success")).to_contain_text("Đã đôn đốc")
            expect(page.locator("#urge-wait")).to_be_visible()  # once per working day
            page.screenshot(path=str(tmp_path / "task-read-only.png"), full_page=True)

            page.get_by_role("button", name="Đăng xuất").click()
            _log_in(page, "linh.tm")
            expect(page.locator("#unread-count")).to_be_visible()
            page.locator(".notifications-link").click()
            urged = page.locator("ul.notifications li.unread", has_text="Đôn đốc: Xây dựng kế hoạch thực hiện")
            expect(urged).to_have_count(1)
            expect(urged).to_contain_text("Đề nghị nộp kế hoạch trong tuần này")
            urged.get_by_role("link").first.click()
            expect(page.get_by_role("heading", name="Xây dựng kế hoạch thực hiện")).to_be_visible()
            expect(page.locator("#read-only")).to_have_count(0)  # the officer's own task: the normal page
        finally:
            browser.close()
