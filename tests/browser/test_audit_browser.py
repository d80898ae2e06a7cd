"""A real browser (Debian's Chromium, headless) against the app serving the demo: Sở Y tế's plan is run to its end
through the services, then the auditor searches for it, opens it, sees the diagram (bpmn-js) with the path taken
marked on the SVG and the timeline with people's names, and downloads the trail as CSV."""

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
from engine.persistence.models import HumanTask, Instance
from engine.services import tasks
from engine.services.context import EngineContext
from tests.browser.test_council_browser import SCREENSHOTS_ENV
from tests.browser.test_inbox_browser import CHROMIUM, _browser_or_skip

ROOT = Path(__file__).resolve().parents[2]
VIEWER = ROOT / "api" / "static" / "dist" / "viewer.js"
PLAN_KEY = "CT03-2026/launch_plans/SYT"
STEPS = [
    ("linh.tm", {"plan_title": "Kế hoạch thi đua 2026 của Sở Y tế", "targets": "100% đăng ký", "activities": "Quý II"}),
    ("duc.hm", {"head_decision": "return", "head_comments": "Bổ sung chỉ tiêu về sáng kiến, cải tiến kỹ thuật"}),
    ("linh.tm", {"targets": "100% cán bộ đăng ký thi đua; ít nhất 5 sáng kiến được công nhận"}),
    ("duc.hm", {"head_decision": "approve", "head_comments": "Đồng ý trình Sở Nội vụ"}),
    ("an.tdkt", {"review_decision": "accept"}),
]


@pytest.fixture
def finished_server(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """The demo as opened (no lived history), then Sở Y tế's plan (a child of the 2026 campaign) returned once by
    the head and accepted by Sở Nội vụ, through the services."""
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    loaded = CliRunner().invoke(main, ["demo", "--url", url, "--quiet", "--no-history"])
    assert loaded.exit_code == 0, loaded.output
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    ctx = EngineContext(clock=ManualClock(datetime(2026, 3, 16, 2, 0, tzinfo=UTC)))
    with sessions() as s:
        plan = s.scalars(select(Instance.id).where(Instance.business_key == PLAN_KEY)).one()
    for user, data in STEPS:
        with sessions() as s, s.begin():
            query = select(HumanTask).where(HumanTask.instance_id == plan, HumanTask.status.in_(("open", "claimed")))
            row = s.scalars(query).one()
            tasks.complete(s, ctx, row.id, user, _fill(row.element_id, data))
    with sessions() as s:
        assert s.get(Instance, plan).status == "completed"  # type: ignore[union-attr]
    app = create_app({"ENGINE": engine, "DATABASE_URL": url, "SECRET_KEY": "browser-test", "ENGINE_CONTEXT": ctx})
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{http.server_port}", plan
    finally:
        http.shutdown()
        thread.join(timeout=10)
        http.server_close()
        engine.dispose()


def _fill(element_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """A redraft resubmits the whole form: the earlier draft's fields with the changes."""
    if element_id == "plan_draft":
        return {**STEPS[0][1], **data}
    return data


def test_the_auditor_opens_a_finished_plan_and_downloads_its_trail(finished_server, tmp_path: Path):
    _browser_or_skip()
    if not VIEWER.exists():
        pytest.fail(
            f"{VIEWER} is missing: build the browser bundle first (make frontend, or cd frontend && node build.mjs)"
        )
    from playwright.sync_api import expect, sync_playwright

    server, plan = finished_server
    shots = Path(os.environ.get(SCREENSHOTS_ENV) or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            context = browser.new_context(
                viewport={"width": 1280, "height": 900}, locale="vi-VN", accept_downloads=True
            )
            page = context.new_page()
            problems: list[str] = []
            failed: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
            page.goto(server + "/")
            page.fill("#user", "kiem.tra")
            page.fill("#password", "demo")
            page.get_by_role("button", name="Đăng nhập").click()

            page.get_by_role("link", name="Hồ sơ quy trình").click()
            page.select_option("#s-process", "unit_plan")
            page.fill("#s-actor", "hoang minh duc")  # the head's name typed without tone marks
            page.get_by_role("button", name="Tìm kiếm").click()
            rows = page.locator("#search-results tbody tr")
            expect(rows).to_have_count(1)
            expect(rows.first).to_contain_text("Sở Y tế")
            expect(rows.first).to_contain_text("Đã hoàn thành")
            page.fill("#s-actor", "")
            page.get_by_role("button", name="Tìm kiếm").click()
            expect(rows).to_have_count(16)  # every unit's plan of the campaign
            page.screenshot(path=str(shots / "audit_search.png"), full_page=True)

            page.locator(f'tr[data-instance-id="{plan}"] a').first.click()
            expect(page).to_have_url(f"{server}/instances/{plan}")
            diagram = page.locator("#diagram")
            expect(diagram).to_have_attribute("data-state", "ready")
            assert diagram.get_attribute("data-missing") is None  # every marked id is in the drawing
            done = page.locator("#diagram .djs-element.tdkt-done")
            for element in ("plan_start", "plan_draft", "plan_head_review", "plan_home_affairs_review", "plan_end"):
                expect(page.locator(f'#diagram .djs-element.tdkt-done[data-element-id="{element}"]')).to_have_count(1)
            assert done.count() == 8  # the whole path, gateways and script included
            for flow in ("plan_f1", "plan_f_head_return", "plan_f_head_approve", "plan_f_ha_accept", "plan_f5"):
                expect(page.locator(f'#diagram .djs-element.tdkt-taken[data-element-id="{flow}"]')).to_have_count(1)
            expect(page.locator('#diagram [data-element-id="plan_f_ha_changes"].tdkt-taken')).to_have_count(0)
            expect(page.locator("#diagram .tdkt-waiting")).to_have_count(0)
            # the draft and the head's review were done twice (the head sent the plan back once)
            redone = page.locator('#diagram .djs-overlays[data-container-id="plan_draft"] .tdkt-count')
            expect(redone).to_have_text("×2")
            expect(page.locator("#diagram .tdkt-count")).to_have_count(3)

            expect(page.locator("#chain-status")).to_have_attribute("data-ok", "true")
            timeline = page.locator("ol.timeline")
            for name in ("Trần Mỹ Linh", "Hoàng Minh Đức", "Lê Hoài An"):
                expect(timeline).to_contain_text(name)
            expect(timeline).to_contain_text("Thủ trưởng duyệt kế hoạch")
            expect(timeline).to_contain_text("Bổ sung chỉ tiêu về sáng kiến, cải tiến kỹ thuật")
            expect(page.get_by_role("link", name="Hồ sơ 1", exact=True)).to_be_visible()  # the campaign above it
            page.screenshot(path=str(shots / "audit_instance.png"), full_page=True)

            with page.expect_download() as download_info:
                page.locator("#export-csv").click()
            download = download_info.value
            assert download.suggested_filename == f"audit-instance-{plan}.csv"
            body = Path(download.path()).read_bytes()
            assert body.startswith(b"\xef\xbb\xbf")
            text = body.decode("utf-8-sig")
            assert text.splitlines()[0].startswith("instance_id,seq,at,at_local,actor,actor_name,action,label")
            assert "Trần Mỹ Linh" in text and "Thủ trưởng duyệt kế hoạch" in text and "Kết thúc hồ sơ" in text

            page.get_by_role("link", name="Bản in").click()
            expect(page.locator("#chain-status")).to_have_attribute("data-ok", "true")
            expect(page.locator("ol.timeline li")).to_have_count(len(text.splitlines()) - 1)
            # no CSP refusal, no script error, nothing missing (but the favicon the app does not have)
            assert [u for u in failed if not u.endswith("/favicon.ico")] == []
            assert [p for p in problems if not p.startswith("Failed to load resource")] == []
        finally:
            browser.close()
