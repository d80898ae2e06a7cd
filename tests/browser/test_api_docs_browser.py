"""The API's docs page in a real browser: Swagger UI renders the generated document from this server's own
files, and the page asks nothing of any other host."""

from __future__ import annotations

from urllib.parse import urlparse

from tests.browser.test_inbox_browser import CHROMIUM, _browser_or_skip
from tests.browser.test_inbox_browser import server as server  # noqa: F401 - fixture


def test_the_docs_page_renders_the_document_from_local_files(server: str):  # noqa: F811
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    own = urlparse(server).netloc
    elsewhere: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("request", lambda r: None if urlparse(r.url).netloc in (own, "") else elsewhere.append(r.url))
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server + "/api/v1/docs")
            expect(page.locator(".swagger-ui .info .title")).to_contain_text("TĐKT Flow API")
            expect(page.locator(".opblock-summary-path", has_text="/api/v1/instances").first).to_be_visible()
            expect(page.locator(".opblock-tag", has_text="tasks")).to_be_visible()
            assert errors == []
        finally:
            browser.close()
    assert elsewhere == []
