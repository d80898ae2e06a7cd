"""A real browser (Debian's Chromium, headless): a Council member opens their secret ballot from the inbox, chooses
agree / disagree per candidate and casts it; the page then says only that the ballot was cast."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from api import create_app
from api.passwords import Scrypt, hash_password
from engine.clock import ManualClock
from engine.persistence.db import make_engine, make_session_factory
from engine.persistence.models import BallotParticipation, Base, User
from engine.services.context import EngineContext
from tests.browser.test_inbox_browser import CHROMIUM, _browser_or_skip
from tests.fixtures.council import scenario as sc

# Screenshots go to a temporary folder; TDKT_SCREENSHOTS=docs/screenshots refreshes the README's pictures.
SCREENSHOTS_ENV = "TDKT_SCREENSHOTS"
KDF = Scrypt(log2_n=4, r=1, p=1)


@pytest.fixture
def council_server(tmp_path: Path) -> Iterator[tuple[str, Any, EngineContext, int]]:
    """The Council fixture convened with 10 of 11 present and m11's written vote in, served on a free port."""
    engine = make_engine(f"sqlite:///{tmp_path / 'council.sqlite3'}")
    Base.metadata.create_all(engine)
    sessions = make_session_factory(engine)
    ctx = EngineContext(clock=ManualClock(datetime(2024, 3, 19, 2, 0, tzinfo=UTC)))
    sc.setup(sessions, ctx)
    with sessions() as s, s.begin():
        for user in s.scalars(select(User)):
            user.password_hash = hash_password("demo", kdf=KDF)
    iid = sc.start(sessions, ctx)
    sc.convene(sessions, ctx, iid)
    sc.attend(sessions, ctx, iid, sc.MEMBERS[:10])
    sc.vote_in_writing(sessions, ctx, iid, "m11", sc.PLAN["m11"])  # the ballots open once written votes are in
    app = create_app(
        {"ENGINE": engine, "DATABASE_URL": "given", "SECRET_KEY": "browser", "ENGINE_CONTEXT": ctx, "PASSWORD_KDF": KDF}
    )
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{http.server_port}", sessions, ctx, iid
    finally:
        http.shutdown()
        thread.join(timeout=10)
        http.server_close()
        engine.dispose()


def test_a_member_casts_their_secret_ballot_in_the_browser(council_server, tmp_path: Path):
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    server, sessions, _, iid = council_server
    task = sc.ballot_task(sessions, iid, "m01")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 800})
            page.goto(server + "/")
            page.fill("#user", "m01")
            page.fill("#password", "demo")
            page.get_by_role("button", name="Đăng nhập").click()
            page.get_by_role("link", name="Bỏ phiếu kín").click()
            expect(page).to_have_url(f"{server}/council/tasks/{task}")
            expect(page.locator("table.ballot tbody tr")).to_have_count(3)
            page.get_by_role("radio", name="Đồng ý Nguyễn Thị An", exact=True).check()
            page.get_by_role("radio", name="Không đồng ý Trần Văn Bình", exact=True).check()
            page.get_by_role("radio", name="Đồng ý Khoa Nội, Bệnh viện tỉnh", exact=True).check()
            shots = Path(os.environ.get(SCREENSHOTS_ENV) or tmp_path)
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots / "council-ballot.png"), full_page=True)
            page.get_by_role("button", name="Bỏ phiếu").click()
            expect(page.locator(".flash.success").first).to_contain_text("Đã bỏ phiếu.")
            expect(page.locator("#ballot-cast")).to_contain_text("Lựa chọn không được hiển thị")
            expect(page.locator("input[type=radio]")).to_have_count(0)
            page.screenshot(path=str(shots / "council-ballot-cast.png"), full_page=True)
            page.reload()
            expect(page.locator("#ballot-cast")).to_be_visible()
            assert "agree" not in page.content()
        finally:
            browser.close()
    with sessions() as s:
        voted = sorted(s.scalars(select(BallotParticipation.user_id)))
    assert voted == ["m01", "m11"]
