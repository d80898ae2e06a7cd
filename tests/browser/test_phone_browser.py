"""A real browser (Debian's Chromium, headless) at a phone's width (390 × 844) against the real app serving the demo:
no page scrolls sideways, the header keeps to two lines, tables become labelled cards or scroll in their own box;
a field in error is marked for screen readers and points at its message; an officer completes the plan with the
keyboard alone, and reaches the language switch and the logout the same way."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from werkzeug.serving import make_server

from api import create_app
from cli import main
from engine.clock import ManualClock
from engine.persistence.db import make_engine, make_session_factory
from engine.persistence.models import CouncilMeeting
from engine.services import notifications
from engine.services.context import EngineContext
from tests.browser.test_council_browser import council_server  # noqa: F401 - the Council's pages, served
from tests.browser.test_inbox_browser import CHROMIUM, _browser_or_skip
from tests.fixtures.council import scenario as sc

# Screenshots go to a temporary folder; TDKT_SCREENSHOTS=docs/screenshots refreshes the README's pictures.
SCREENSHOTS_ENV = "TDKT_SCREENSHOTS"
PHONE = {"width": 390, "height": 844}
# The header in two lines: 15 px × 1.45 a line, the padding, the gap between the lines and the menu's own padding
# come to about 70 px; three lines would be over 90.
HEADER_MAX_PX = 80
PLAN = "Xây dựng kế hoạch thực hiện"

# What a page looks like to the test: how wide the document is, how tall the header, how wide the menu's content is
# against its box, and which tables are shown as cards (each cell's label drawn before it) or scroll in their box.
MEASURE = """() => {
  const header = document.querySelector("header.top");
  const nav = header.querySelector("nav");
  const tables = [...document.querySelectorAll("main table")].map((table) => {
    const cell = table.querySelector("td[data-label]");
    const style = getComputedStyle(table);
    return {
      cards: cell !== null && getComputedStyle(cell, "::before").content === JSON.stringify(cell.dataset.label),
      scrolls: style.display === "block" && ["auto", "scroll"].includes(style.overflowX),
      inScrollBox: table.closest(".table-scroll") !== null,
      right: (table.closest(".table-scroll") || table).getBoundingClientRect().right,  // the box it scrolls in
    };
  });
  return {
    scrollWidth: document.documentElement.scrollWidth,
    header: header.getBoundingClientRect().height,
    navScroll: nav ? nav.scrollWidth : 0,
    navBox: nav ? nav.clientWidth : 0,
    navOverflow: nav ? getComputedStyle(nav).overflowX : "",
    tables,
  };
}"""


@pytest.fixture
def demo_url(tmp_path: Path) -> str:
    """The demo (organisation, models, the 2026 campaign as opened, without its lived history) in a temporary
    SQLite file."""
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    loaded = CliRunner().invoke(main, ["demo", "--url", url, "--quiet", "--no-history"])
    assert loaded.exit_code == 0, loaded.output
    return url


@pytest.fixture
def server(demo_url: str) -> Iterator[str]:
    """The app on the demo, on a free port."""
    url = demo_url
    engine = make_engine(url)
    ctx = EngineContext(clock=ManualClock(datetime(2026, 3, 16, 2, 0, tzinfo=UTC)))
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


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get(SCREENSHOTS_ENV) or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _log_in(page: Any, server: str, user: str) -> None:
    page.goto(server + "/login")
    page.fill("#user", user)
    page.fill("#password", "demo")
    page.press("#password", "Enter")
    page.wait_for_url(server + "/")


def _fits(page: Any, server: str, path: str, *, cards: bool = False) -> dict[str, Any]:
    """Open ``path`` and check it at the phone's width; returns what was measured."""
    page.goto(server + path)
    page.wait_for_load_state("networkidle")  # the diagrams and the forms are drawn by scripts
    m = page.evaluate(MEASURE)
    where = f"{path} (now {page.url[len(server) :]})"
    assert m["scrollWidth"] <= PHONE["width"], f"{where} scrolls sideways: {m['scrollWidth']} px wide"
    assert m["header"] <= HEADER_MAX_PX, f"{where}: the header is {m['header']} px tall (more than two lines)"
    if m["navScroll"] > m["navBox"]:  # a long menu scrolls inside itself, never the page
        assert m["navOverflow"] in ("auto", "scroll"), where
    for table in m["tables"]:
        assert table["cards"] or table["scrolls"] or table["inScrollBox"], f"{where}: a table neither cards nor scrolls"
        assert table["right"] <= PHONE["width"] + 0.5, f"{where}: a table sticks out ({table['right']} px)"
    if cards:
        assert any(t["cards"] for t in m["tables"]), f"{where}: no table shown as labelled cards"
    return m


def test_every_page_fits_a_phone(server: str, tmp_path: Path):
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    shots = _shots(tmp_path)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            # The officer: the inbox as cards, the task page, the instance search and one instance with its diagram.
            page = browser.new_page(viewport=PHONE)
            _log_in(page, server, "linh.tm")
            _fits(page, server, "/", cards=True)
            row = page.locator("tr", has_text=PLAN)
            expect(row.locator('td[data-label="Hạn xử lý"]')).to_contain_text("24/03/2026")
            page.screenshot(path=str(shots / "phone-inbox.png"))
            task_id = row.get_attribute("data-task-id")
            _fits(page, server, f"/tasks/{task_id}", cards=True)  # its history as cards
            expect(page.locator("#rjsf-form input#f-plan_title")).to_be_visible()
            instance = page.locator("dl.facts a[href^='/instances/']").get_attribute("href")
            _fits(page, server, "/instances", cards=True)
            _fits(page, server, instance)
            box = page.locator("#diagram").bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
            expect(page.locator("#diagram svg").first).to_be_visible()
            _fits(page, server, "/notifications")
            page.close()

            # Sở Nội vụ: the overview (a summary that scrolls in its box, tasks as cards) and the campaign dashboard.
            page = browser.new_page(viewport=PHONE)
            _log_in(page, server, "an.tdkt")
            _fits(page, server, "/overview", cards=True)
            m = _fits(page, server, "/dashboard")
            assert any(t["inScrollBox"] for t in m["tables"]), "the dashboard's grid scrolls inside its box"
            _fits(page, server, f"/tasks/{task_id}", cards=True)  # a unit's task, read-only, with the urge form
            expect(page.locator("section.oversight")).to_be_visible()
            page.close()

            # The administrator has the longest menu: it scrolls inside itself; the designer does not break the page.
            page = browser.new_page(viewport=PHONE)
            _log_in(page, server, "admin")
            m = _fits(page, server, "/designer")
            assert m["navScroll"] > m["navBox"], "six menu entries are wider than the phone: the menu scrolls"
            expect(page.locator("#designer-list table").first).to_be_visible()
            _fits(page, server, "/designer/unit_plan/1")
            expect(page.locator(".designer-canvas svg").first).to_be_visible()
        finally:
            browser.close()


def test_the_council_pages_fit_a_phone(council_server):  # noqa: F811 - the fixture imported above
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    server, sessions, _, iid = council_server
    task = sc.ballot_task(sessions, iid, "m01")
    with sessions() as s:
        meeting = s.scalars(select(CouncilMeeting).where(CouncilMeeting.instance_id == iid)).one().id
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport=PHONE)
            _log_in(page, server, "m01")
            _fits(page, server, f"/council/tasks/{task}", cards=True)
            agree = page.get_by_role("radio", name="Đồng ý Nguyễn Thị An", exact=True)
            expect(agree).to_be_visible()
            box = agree.bounding_box()
            assert box is not None and box["x"] + box["width"] <= PHONE["width"]
            page.close()
            page = browser.new_page(viewport=PHONE)
            _log_in(page, server, sc.SECRETARY)
            _fits(page, server, f"/council/meetings/{meeting}")
            expect(page.locator("h1")).to_be_visible()
        finally:
            browser.close()


def _described_by(page: Any, selector: str) -> list[str]:
    """The texts of the elements the control's aria-describedby names (those present)."""
    return page.evaluate(
        """(selector) => {
          const control = document.querySelector(selector);
          return (control.getAttribute("aria-describedby") || "").split(/\\s+/)
            .map((id) => document.getElementById(id)).filter(Boolean).map((node) => node.textContent.trim());
        }""",
        selector,
    )


def test_a_field_in_error_is_marked_for_screen_readers(server: str, tmp_path: Path):
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    shots = _shots(tmp_path)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            # The form drawn in the browser: its own validation marks the two missing fields, and unmarks the one
            # filled in afterwards.
            page = browser.new_page(viewport=PHONE)
            _log_in(page, server, "hoa.nt")
            page.locator("tr", has_text=PLAN).get_by_role("button", name="Nhận việc").click()
            expect(page.locator(".flash.success")).to_contain_text("Bạn đã nhận công việc")  # on the task's page
            form = page.locator("#rjsf-form")
            form.locator("#f-plan_title").fill("Kế hoạch thi đua 2026 của Sở Giáo dục và Đào tạo")
            form.get_by_role("button", name="Hoàn thành").click()
            targets, activities = form.locator("#f-targets"), form.locator("#f-activities")
            expect(targets).to_have_attribute("aria-invalid", "true")
            expect(activities).to_have_attribute("aria-invalid", "true")
            expect(form.locator("#f-plan_title")).not_to_have_attribute("aria-invalid", "true")
            assert "Trường này bắt buộc." in _described_by(page, "#rjsf-form #f-targets")
            m = page.evaluate(MEASURE)  # the page with its messages still fits
            assert m["scrollWidth"] <= PHONE["width"] and m["header"] <= HEADER_MAX_PX, m
            targets.fill("100% cán bộ đăng ký thi đua")
            form.get_by_role("button", name="Hoàn thành").click()
            expect(targets).not_to_have_attribute("aria-invalid", "true")
            expect(activities).to_have_attribute("aria-invalid", "true")
            assert "Trường này bắt buộc." in _described_by(page, "#rjsf-form #f-activities")
            page.screenshot(path=str(shots / "phone-task.png"), full_page=True)
            task_url = page.url
            page.close()

            # The plain form (no scripts): the server's answer marks the field and links its message.
            plain = browser.new_context(viewport=PHONE, java_script_enabled=False)
            page = plain.new_page()
            _log_in(page, server, "hoa.nt")
            page.goto(task_url)
            page.fill("#f-plan_title", "Kế hoạch thi đua 2026")
            page.fill("#f-targets", "100% cán bộ đăng ký thi đua")
            page.get_by_role("button", name="Hoàn thành").click()
            activities = page.locator("#f-activities")
            expect(activities).to_have_attribute("aria-invalid", "true")
            expect(activities).to_have_attribute("aria-describedby", "f-activities__error")
            message = "«Nội dung, hoạt động và tiến độ»: Trường này bắt buộc."  # the server names the field
            expect(page.locator("#f-activities__error")).to_have_text(message)
            expect(page.locator("#f-targets")).not_to_have_attribute("aria-invalid", "true")
            assert page.locator("[aria-invalid]").count() == 1
            plain.close()
        finally:
            browser.close()


def _tab_to(page: Any, selector: str, *, limit: int = 60) -> None:
    """Press Tab until the focused element matches ``selector`` (fails after ``limit`` presses)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return
    focused = page.evaluate("document.activeElement && document.activeElement.outerHTML.slice(0, 120)")
    raise AssertionError(f"{selector} not reached with Tab (focus on {focused})")


def test_an_officer_completes_the_plan_with_the_keyboard_only(server: str, demo_url: str):
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    engine = make_engine(demo_url)
    with make_session_factory(engine)() as s, s.begin():  # two unread notifications: the menu shows a badge
        ctx = EngineContext(clock=ManualClock(datetime(2026, 3, 16, 2, 0, tzinfo=UTC)))
        for title in ("Nhắc việc", "Ý kiến mới"):
            notifications.notify(s, ctx, ["khanh.dq"], "reminder", title, "Kế hoạch thi đua 2026")
    engine.dispose()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport=PHONE)
            page.goto(server + "/login")  # the one address typed; everything after is Tab, Enter and typing
            _tab_to(page, "#user")
            page.keyboard.type("khanh.dq")
            _tab_to(page, "#password")
            page.keyboard.type("demo")
            page.keyboard.press("Enter")
            expect(page.get_by_role("heading", name="Việc cần làm")).to_be_visible()

            # The first Tab shows the skip link; Enter on it puts the focus on the page's content.
            page.keyboard.press("Tab")
            skip = page.locator("a.skip-link")
            expect(skip).to_be_focused()
            expect(skip).to_have_text("Chuyển đến nội dung chính")
            expect(skip).to_be_in_viewport()
            page.keyboard.press("Enter")
            expect(page.locator("main#main")).to_be_focused()
            # The menu's notifications link says how many are unread, in words, to a screen reader too.
            expect(page.locator("#unread-count")).to_have_text("2")
            expect(page.get_by_role("link", name="Thông báo 2 thông báo chưa đọc", exact=True)).to_be_visible()

            row = page.locator("tr", has_text=PLAN)
            task_id = row.get_attribute("data-task-id")
            _tab_to(page, f'tr[data-task-id="{task_id}"] a[href="/tasks/{task_id}"]')
            focus_ring = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
            assert focus_ring == "solid", "the focused link shows a visible outline"
            page.keyboard.press("Enter")
            expect(page).to_have_url(f"{server}/tasks/{task_id}")
            _tab_to(page, "div.actions button[type=submit]")  # "Nhận việc" on the task's page
            expect(page.locator("div.actions button[type=submit]")).to_have_text("Nhận việc")
            page.keyboard.press("Enter")
            expect(page.locator(".flash.success")).to_contain_text("Bạn đã nhận công việc")

            _tab_to(page, "#f-plan_title")
            page.keyboard.type("Kế hoạch thi đua 2026 của Sở Tài chính")
            _tab_to(page, "#f-targets")
            page.keyboard.type("100% cán bộ đăng ký thi đua")
            _tab_to(page, "#f-activities")
            page.keyboard.type("Quý II: phát động; quý IV: sơ kết")
            _tab_to(page, "#rjsf-form button[type=submit]")
            page.keyboard.press("Enter")
            expect(page.locator(".flash.success")).to_contain_text("Đã hoàn thành công việc")
            expect(page.locator(f'tr[data-task-id="{task_id}"]')).to_have_count(0)

            # The language switch and the logout are reached the same way.
            _tab_to(page, "header a.lang")
            page.keyboard.press("Enter")
            expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
            _tab_to(page, "header button[type=submit]")
            page.keyboard.press("Enter")
            expect(page.locator("#user")).to_be_visible()
        finally:
            browser.close()
