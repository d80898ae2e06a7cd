"""A real browser (Debian's Chromium, headless) on the demo: Sở Y tế's TĐKT officer opens the register of
initiatives from the menu, enters what the unit's own initiative council recognised (a higher reach is not
offered), finds it by its words, and opens it with its trail; Sở Nội vụ enters one of provincial reach."""

from __future__ import annotations

from tests.browser.test_inbox_browser import CHROMIUM, _browser_or_skip, server  # noqa: F401 - the fixture


def _login(page, base: str, user: str) -> None:
    page.context.clear_cookies()
    page.goto(base + "/")
    page.fill("#user", user)
    page.fill("#password", "demo")
    page.get_by_role("button", name="Đăng nhập").click()


def test_a_unit_officer_enters_an_initiative_and_sees_its_trail(server: str):  # noqa: F811
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            _login(page, server, "linh.tm")
            page.get_by_role("link", name="Sổ sáng kiến").first.click()
            expect(page.get_by_role("heading", name="Sổ sáng kiến")).to_be_visible()
            page.locator("#initiative-new").click()
            expect(page.locator("#initiative-form")).to_be_visible()
            expect(page.locator("#f-reach option")).to_have_count(1)  # a unit enters unit reach only

            page.fill("#f-reference", "21/QĐ-HĐSKCS")
            page.fill("#f-title", "Sổ tay điện tử theo dõi tiêm chủng")
            page.fill("#f-authors", "Trần Thị Linh")
            page.fill("#f-recognised_on", "2026-02-20")
            page.fill("#f-recognised_by", "Hội đồng sáng kiến Sở Y tế")
            page.locator("#initiative-form button[type=submit]").click()
            expect(page.get_by_text("Đã lưu sáng kiến vào Sổ sáng kiến.")).to_be_visible()
            expect(page.locator("main")).to_contain_text("21/QĐ-HĐSKCS")
            expect(page.locator("main")).to_contain_text("Sổ tay điện tử theo dõi tiêm chủng")

            page.get_by_role("link", name="Sổ sáng kiến").first.click()
            page.fill("#s-q", "tiêm chủng")
            page.keyboard.press("Enter")
            row = page.locator("tr", has_text="21/QĐ-HĐSKCS")
            expect(row).to_have_count(1)

            # the same reference again is refused, naming the field, and what was typed stays
            page.locator("#initiative-new").click()
            page.fill("#f-reference", "21/qđ-hđskcs")
            page.fill("#f-title", "Khác")
            page.fill("#f-authors", "Ai đó")
            page.fill("#f-recognised_on", "2026-02-21")
            page.fill("#f-recognised_by", "Hội đồng sáng kiến Sở Y tế")
            page.locator("#initiative-form button[type=submit]").click()
            expect(page.locator("#error-reference")).to_be_visible()
            expect(page.locator("#f-title")).to_have_value("Khác")

            _login(page, server, "an.tdkt")  # Sở Nội vụ: every reach
            page.goto(server + "/initiatives/new")
            expect(page.locator("#f-reach option")).to_have_count(3)
        finally:
            browser.close()
