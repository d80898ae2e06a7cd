"""A real browser (Debian's Chromium, headless) against the real app serving the demo: an officer fills the plan
form, meets the missing field, completes it, and the unit's head finds the next step in their inbox."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from api import create_app
from cli import main
from engine.clock import ManualClock
from engine.persistence.db import make_engine
from engine.services.context import EngineContext

CHROMIUM = Path("/usr/bin/chromium")


def _browser_or_skip() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing; .ci/run installs Debian's chromium package before the tests")
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); the browser test needs it")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """The app on the demo (organisation, models, the 2026 campaign as opened, without its lived history) in a
    temporary SQLite file, on a free port."""
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    loaded = CliRunner().invoke(main, ["demo", "--url", url, "--quiet", "--no-history"])
    assert loaded.exit_code == 0, loaded.output
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


def test_an_officer_completes_the_plan_and_the_head_gets_the_review(server: str):
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(server + "/")
            expect(page.get_by_role("heading", name="Đăng nhập")).to_be_visible()

            page.fill("#user", "linh.tm")
            page.fill("#password", "demo")
            page.get_by_role("button", name="Đăng nhập").click()
            expect(page.get_by_role("heading", name="Việc cần làm")).to_be_visible()
            row = page.locator("tr", has_text="Xây dựng kế hoạch thực hiện")
            expect(row).to_contain_text("Sở Y tế")
            task_id = row.get_attribute("data-task-id")
            expect(row).to_contain_text("24/03/2026")  # 10 working days after 10/3/2026
            row.get_by_role("link", name="Xây dựng kế hoạch thực hiện").click()
            expect(page.locator("#rjsf-form form.rjsf")).to_be_visible()  # typing waits for the browser form

            page.fill("#f-plan_title", "Kế hoạch thi đua 2026 của Sở Y tế")
            page.fill("#f-targets", "100% cán bộ đăng ký thi đua")
            page.get_by_role("button", name="Hoàn thành").click()
            expect(page.locator(".field.has-error")).to_have_count(1)
            expect(page.locator(".field.has-error")).to_contain_text("Trường này bắt buộc.")
            expect(page.locator("#f-plan_title")).to_have_value("Kế hoạch thi đua 2026 của Sở Y tế")

            page.fill("#f-activities", "Quý II: phát động; quý IV: sơ kết")
            page.get_by_role("button", name="Hoàn thành").click()
            expect(page.locator(".flash.success")).to_contain_text("Đã hoàn thành công việc")
            expect(page.locator(f'tr[data-task-id="{task_id}"]')).to_have_count(0)

            page.get_by_role("button", name="Đăng xuất").click()
            page.fill("#user", "duc.hm")
            page.fill("#password", "demo")
            page.get_by_role("button", name="Đăng nhập").click()
            expect(page.locator("tr", has_text="Thủ trưởng duyệt kế hoạch")).to_contain_text("Sở Y tế")
        finally:
            browser.close()
