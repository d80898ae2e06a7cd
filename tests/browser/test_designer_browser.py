"""A real browser (Debian's Chromium, headless) against the real app and the real definitions API: a designer opens
the deployed unit plan in the BPMN modeler, moves a step, changes a due date in the "TĐKT" properties group, breaks
a condition and sees the lint marker on that flow, fixes it, deploys version 2; a new instance starts on v2 while
the running one stays on v1; the diff page shows what changed; an officer gets the 403 page."""

from __future__ import annotations

import html
import json
import os
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import select
from werkzeug.serving import make_server

from api import create_app
from api.passwords import Scrypt, hash_password
from engine.clock import ManualClock
from engine.persistence.db import make_engine, make_session_factory
from engine.persistence.models import Base, Definition, HumanTask, Instance, User
from engine.services import instances, tasks
from engine.services.context import EngineContext
from engine.services.definitions import deploy
from engine.services.org import load_org_file
from tests.api_support import World
from tests.api_support import world as world  # noqa: F401 - fixture
from tests.browser.test_inbox_browser import CHROMIUM, _browser_or_skip
from tests.conftest import BPMN_DIR, ROOT
from tests.test_lifecycle_helpers import base_data
from tests.test_web import text, web_login

SCREENSHOTS_ENV = "TDKT_SCREENSHOTS"  # TDKT_SCREENSHOTS=docs/screenshots refreshes the README's picture
KDF = Scrypt(log2_n=4, r=1, p=1)
DECISION_FIXTURES = ROOT / "tests" / "fixtures" / "definitions"  # the nomination process and its award_level DMN
PLAN_FILES = ["unit_plan.bpmn", "plan_draft.json", "plan_head_review.json", "plan_home_affairs_review.json"]
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
DI = "{http://www.omg.org/spec/BPMN/20100524/DI}"
DC = "{http://www.omg.org/spec/DD/20100524/DC}"


def _plan_files() -> list[tuple[str, bytes]]:
    return [(n, ((BPMN_DIR if n.endswith(".bpmn") else ROOT / "forms") / n).read_bytes()) for n in PLAN_FILES]


def _start(sessions: Any, ctx: EngineContext, business_key: str) -> int:
    with sessions() as s, s.begin():
        row = instances.start_instance(
            s, ctx, key="unit_plan", business_key=business_key, unit_id="SYT", data=base_data(unit_id="SYT")
        )
        return row.id


@pytest.fixture
def designer_server(tmp_path: Path) -> Iterator[tuple[str, Any, EngineContext, int]]:
    """The demo organisation, a designer (capability only), unit_plan v1 deployed with one instance running on it."""
    engine = make_engine(f"sqlite:///{tmp_path / 'designer.sqlite3'}")
    Base.metadata.create_all(engine)
    sessions = make_session_factory(engine)
    clock = ManualClock(datetime(2024, 3, 19, 2, 0, tzinfo=UTC))
    ctx = EngineContext(clock=clock)
    with sessions() as s, s.begin():
        load_org_file(s, ROOT / "demo" / "org.yaml", clock)
        s.add(User(id="thiet.ke", full_name="Vũ Thiết Kế", capabilities=["designer"]))
        s.flush()
        for user in s.scalars(select(User)):
            user.password_hash = hash_password("demo", kdf=KDF)
        deploy(s, _plan_files(), clock, actor="admin")
        deploy(s, [(p.name, p.read_bytes()) for p in sorted(DECISION_FIXTURES.iterdir())], clock, actor="admin")
    running = _start(sessions, ctx, "KH-2024-SYT-1")
    app = create_app(
        {"ENGINE": engine, "DATABASE_URL": "given", "SECRET_KEY": "browser", "ENGINE_CONTEXT": ctx, "PASSWORD_KDF": KDF}
    )
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{http.server_port}", sessions, ctx, running
    finally:
        http.shutdown()
        thread.join(timeout=10)
        http.server_close()
        engine.dispose()


def _c14n(node: Any) -> str:
    """Exclusive C14N without comments: only the namespaces the element uses (the modeler declares them all on the
    root, a file may declare unused ones), and no comments (bpmn-moddle drops XML comments)."""
    return etree.tostring(node, method="c14n", exclusive=True, with_comments=False).decode()


def _extensions(xml: str | bytes) -> dict[str, list[str]]:
    """Every element's extension elements, canonicalised (``_c14n``, whitespace between tags dropped)."""
    text = xml.encode() if isinstance(xml, str) else xml
    root = etree.fromstring(text, etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True))
    found = {}
    for ext in root.iter(f"{BPMN}extensionElements"):
        children = [c for c in ext if isinstance(c.tag, str)]
        found[ext.getparent().get("id")] = [_c14n(c) for c in children]
    return found


def _bounds(xml: str, element_id: str) -> tuple[float, float]:
    root = etree.fromstring(xml.encode(), etree.XMLParser(resolve_entities=False, no_network=True))
    shape = root.find(f".//{{http://www.omg.org/spec/BPMN/20100524/DI}}BPMNShape[@bpmnElement='{element_id}']")
    assert shape is not None
    box = shape.find(f"{DC}Bounds")
    return float(box.get("x")), float(box.get("y"))


# Where on the screen the middle of a connection's first segment is (a connection's box is mostly empty).
MIDDLE_OF_FIRST_LEG = """id => {
  const modeler = window.tdktDesigner.bpmnModeler;
  const [a, b] = modeler.get("elementRegistry").get(id).waypoints;
  const canvas = modeler.get("canvas");
  const box = canvas.viewbox();
  const rect = canvas.getContainer().getBoundingClientRect();
  return {x: rect.left + ((a.x + b.x) / 2 - box.x) * box.scale, y: rect.top + ((a.y + b.y) / 2 - box.y) * box.scale};
}"""


def _due_date(xml: str, element_id: str) -> str | None:
    root = etree.fromstring(xml.encode(), etree.XMLParser(resolve_entities=False, no_network=True))
    camunda = "{http://camunda.org/schema/1.0/bpmn}"
    for prop in root.iterfind(f".//{BPMN}userTask[@id='{element_id}']//{camunda}property[@name='dueDate']"):
        return prop.get("value")
    return None


def _login(page: Any, server: str, user: str) -> None:
    page.goto(server + "/login")
    page.fill("#user", user)
    page.fill("#password", "demo")
    page.get_by_role("button", name="Đăng nhập").click()


def _lint_settled(page: Any) -> None:
    page.wait_for_function(
        "() => { const s = document.getElementById('designer-lint-state'); return s && s.dataset.busy === 'false'; }"
    )


def _select(page: Any, click: Any, label: str) -> None:
    """Click an element until the properties panel shows it (a click right after a drag may be swallowed)."""
    from playwright.sync_api import expect

    for _ in range(4):
        click()
        try:
            expect(page.locator(".bio-properties-panel-header-label")).to_have_text(label, timeout=1500)
            return
        except AssertionError:
            continue
    expect(page.locator(".bio-properties-panel-header-label")).to_have_text(label)


def _open_tdkt_group(page: Any) -> None:
    """Open the TĐKT group of the properties panel."""
    header = page.locator('[data-group-id="group-tdkt"] .bio-properties-panel-group-header')
    header.wait_for()
    if "open" not in (header.get_attribute("class") or ""):
        header.click()


def test_a_designer_edits_lints_deploys_and_compares_the_unit_plan(designer_server, tmp_path: Path):
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    server, sessions, ctx, running = designer_server
    original = (BPMN_DIR / "unit_plan.bpmn").read_bytes()
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))

            _login(page, server, "thiet.ke")
            page.get_by_role("link", name="Thiết kế quy trình").click()
            expect(page).to_have_url(server + "/designer")
            row = page.locator('section[data-key="unit_plan"] tr[data-version="1"]')
            expect(row.locator("td.running")).to_have_text("1")
            row.get_by_role("link", name="Mở").click()
            expect(page).to_have_url(server + "/designer/unit_plan/1")
            page.locator('g.djs-element[data-element-id="plan_draft"]').wait_for()
            _lint_settled(page)
            expect(page.locator("#designer-lint-state")).to_have_attribute("data-errors", "0")

            # Camunda's and SpiffWorkflow's extension elements come back unchanged from the modeler.
            saved = page.evaluate("window.tdktDesigner.currentXml()")
            assert _extensions(saved) == _extensions(original)

            # Move the filing step down within its lane.
            before = _bounds(saved, "plan_filed")
            box = page.locator('g.djs-element[data-element-id="plan_filed"]').bounding_box()
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2 + 15, steps=5)
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2 + 25, steps=5)
            page.mouse.up()
            moved = _bounds(page.evaluate("window.tdktDesigner.currentXml()"), "plan_filed")
            assert moved[1] > before[1] and moved[0] == before[0], (before, moved)

            # The drafting step's due date: 10 working days -> 12, in the TĐKT group.
            drafting = page.locator('g.djs-element[data-element-id="plan_draft"]')
            _select(page, drafting.click, "Xây dựng kế hoạch thực hiện")
            _open_tdkt_group(page)
            expect(page.locator("#bio-properties-panel-tdkt-role")).to_have_value("unit_officer")
            days = page.locator("#bio-properties-panel-tdkt-due-days")
            expect(days).to_have_value("10")
            days.fill("12")
            expect(page.locator("#bio-properties-panel-tdkt-due-expression")).to_have_value(
                'working_days(rules["deadlines"].get("plan_draft", 12))'
            )

            # The step's form: its JSON Schema as text beside a live preview; the edit goes out with the deployment.
            expect(page.locator("#designer-form-name")).to_have_text("plan_draft.json")
            preview = page.locator("#designer-form-preview")
            expect(preview.get_by_label("Tên kế hoạch", exact=False).first).to_be_visible()
            schema = page.locator("#designer-form-text")
            schema.fill(schema.input_value().replace('"Tên kế hoạch"', '"Tên kế hoạch năm"'))
            expect(preview.locator("label", has_text="Tên kế hoạch năm")).to_have_count(1)
            schema.fill(schema.input_value().replace('"type": "object"', '"type": "object",,'))
            expect(page.locator("#designer-form-error")).to_contain_text("JSON không hợp lệ")
            schema.fill(schema.input_value().replace('"type": "object",,', '"type": "object"'))
            expect(page.locator("#designer-form-error")).to_be_hidden()

            # Break the head's approval condition: the flow gets a red marker and a line in the list.
            flow = page.locator('g.djs-element[data-element-id="plan_f_head_approve"]')
            page.evaluate("window.scrollTo(0, 0)")  # the form's editor below scrolled the diagram away
            point = page.evaluate(MIDDLE_OF_FIRST_LEG, "plan_f_head_approve")
            _select(page, lambda: page.mouse.click(point["x"], point["y"]), "Đồng ý")
            _open_tdkt_group(page)
            condition = page.locator("#bio-properties-panel-tdkt-condition")
            expect(condition).to_have_value('head_decision == "approve"')
            condition.fill("head_decision ==")
            expect(flow).to_have_class(lambda_contains("tdkt-lint-error"), timeout=10_000)
            listed = page.locator('#designer-problem-list tr.problem.error[data-element-id="plan_f_head_approve"]')
            expect(listed).to_have_count(1)
            expect(page.locator('.tdkt-lint-badge.error[data-element-id="plan_f_head_approve"]')).to_be_visible()
            shots = Path(os.environ.get(SCREENSHOTS_ENV) or tmp_path)
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots / "designer.png"), full_page=True)

            # Clicking the problem selects its element.
            drafting.click()
            listed.click()
            expect(flow).to_have_class(lambda_contains("selected"))

            condition.fill('head_decision == "approve"')
            expect(listed).to_have_count(0, timeout=10_000)
            expect(flow).not_to_have_class(lambda_contains("tdkt-lint-error"))
            _lint_settled(page)
            expect(page.locator("#designer-lint-state")).to_have_attribute("data-errors", "0")

            page.get_by_role("button", name="Lưu nháp").click()
            expect(page.locator("#designer-message")).to_contain_text("Đã lưu bản nháp.")
            page.get_by_role("button", name="Triển khai").click()
            expect(page.locator("#designer-message")).to_contain_text("Đã triển khai unit_plan phiên bản 2.")
            expect(page.locator("#designer-message")).to_have_attribute("data-version", "2")

            # The diff of v1 and v2 names the moved step and the changed due date.
            page.goto(server + "/designer/unit_plan/diff?from=1&to=2")
            expect(page.locator('#designer-diff-list tr[data-element-id="plan_filed"]')).to_have_attribute(
                "data-change", "layout"
            )
            expect(page.locator('#designer-diff-list tr[data-element-id="plan_draft"]')).to_contain_text(
                'camunda:property dueDate: "working_days(rules[\\"deadlines\\"].get(\\"plan_draft\\", 10))" → '
            )
            expect(page.locator('#designer-diff-new g.djs-element[data-element-id="plan_filed"]')).to_have_class(
                lambda_contains("diff-layout")
            )
            page.screenshot(path=str(shots / "designer-diff.png"), full_page=True)

            # A new draft from v2, from the list: the draft opens with v2's files.
            page.goto(server + "/designer")
            v2_row = page.locator('section[data-key="unit_plan"] tr[data-version="2"]')
            expect(v2_row.locator("td.running")).to_have_text("0")
            expect(page.locator('section[data-key="unit_plan"] tr[data-version="1"] td.running')).to_have_text("1")
            v2_row.get_by_role("button", name="Tạo bản nháp từ phiên bản này").click()
            expect(page).to_have_url(server + "/designer/unit_plan/draft")
            page.locator('g.djs-element[data-element-id="plan_draft"]').wait_for()
            _lint_settled(page)
            expect(page.locator("#designer-lint-state")).to_have_attribute("data-errors", "0")
            draft_xml = page.evaluate("window.tdktDesigner.files['unit_plan.bpmn']")
            assert _due_date(draft_xml, "plan_draft") == 'working_days(rules["deadlines"].get("plan_draft", 12))'

            # An officer has no menu entry and gets the 403 page; nobody logged in goes to the login page.
            page.get_by_role("button", name="Đăng xuất").click()
            _login(page, server, "linh.tm")
            expect(page.get_by_role("link", name="Thiết kế quy trình")).to_have_count(0)
            answer = page.goto(server + "/designer")
            assert answer is not None and answer.status == 403
            assert answer.headers["content-type"].startswith("text/html")
            expect(page.get_by_role("heading", name="Lỗi 403")).to_be_visible()
            anonymous = browser.new_page()
            anonymous.goto(server + "/designer/unit_plan/1")
            expect(anonymous).to_have_url(lambda_contains("/login"))
        finally:
            browser.close()
    # Nothing the page needs is refused by the CSP (scripts, fonts, API calls); the only inline styles, refused
    # and not needed, are those of the bpmn.io logo's markup.
    assert not [p for p in problems if "Refused to" in p], problems

    # Version 2 holds the edits; a new instance starts on it while the running one stays on v1.
    with sessions() as s:
        v1, v2 = s.scalars(select(Definition).where(Definition.key == "unit_plan").order_by(Definition.version))
        assert (v1.version, v2.version, v2.deployed_by) == (1, 2, "thiet.ke")
        assert v2.task_meta["plan_draft"]["due_date"] == 'working_days(rules["deadlines"].get("plan_draft", 12))'
        assert 'head_decision == "approve"' in v2.sources["unit_plan.bpmn"]
        assert v2.forms["plan_draft"]["properties"]["plan_title"]["title"] == "Tên kế hoạch năm"
        assert v1.forms["plan_draft"]["properties"]["plan_title"]["title"] == "Tên kế hoạch"
    fresh = _start(sessions, ctx, "KH-2024-SYT-2")
    with sessions() as s:
        assert s.get(Instance, fresh).definition_id == v2.id
        assert s.get(Instance, running).definition_id == v1.id
        draft = s.scalars(
            select(HumanTask).where(HumanTask.instance_id == running, HumanTask.element_id == "plan_draft")
        ).one()
    with sessions() as s, s.begin():
        tasks.complete(s, ctx, draft.id, "linh.tm", {"plan_title": "KH", "targets": "100%", "activities": "Quý II"})
    with sessions() as s:
        assert s.get(Instance, running).definition_id == v1.id
        heads = s.scalars(select(HumanTask.element_id).where(HumanTask.instance_id == running)).all()
        assert "plan_head_review" in heads


def lambda_contains(text: str) -> Any:
    """A regular expression for Playwright's class/URL matchers: contains ``text``."""
    import re

    return re.compile(re.escape(text))


def test_a_designer_edits_a_decision_table_and_deploys_it(designer_server):
    """The award_level DMN in dmn-js: a cell broken (the lint lists it), fixed, and deployed, which makes a new
    version of the process that uses the decision."""
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    server, sessions, _, _ = designer_server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            _login(page, server, "thiet.ke")
            page.goto(server + "/designer")
            decision = page.locator('section[data-key="award_level"]')
            expect(decision.locator(".kind-decision")).to_have_text("Bảng quyết định")
            decision.locator('tr[data-version="1"]').get_by_role("link", name="Mở").click()
            expect(page).to_have_url(server + "/designer/award_level/1")
            cell = page.locator('td[data-element-id="rule_high_in"]')
            cell.click()
            page.keyboard.press("Control+A")
            page.keyboard.type("80 <= ? < 100")
            listed = page.locator('#designer-problem-list tr.problem.error[data-element-id="rule_high_in"]')
            expect(listed).to_have_count(1, timeout=10_000)
            expect(listed).to_contain_text("award_level.dmn")
            expect(cell).to_have_class(lambda_contains("tdkt-lint-error"))
            cell.click()
            page.keyboard.press("Control+A")
            page.keyboard.type(">= 40")
            expect(listed).to_have_count(0, timeout=10_000)
            _lint_settled(page)
            page.get_by_role("button", name="Triển khai").click()
            expect(page.locator("#designer-message")).to_contain_text("Đã triển khai nomination phiên bản 2.")

            # The decision's two versions side by side, the changed cell named and coloured.
            page.goto(server + "/designer/award_level/diff?from=1&to=2")
            changed = page.locator('#designer-diff-list tr[data-element-id="rule_high_in"]')
            expect(changed).to_have_attribute("data-change", "changed")
            expect(changed).to_contain_text(">= 30 → >= 40")
            expect(page.locator("#designer-diff-list tr")).to_have_count(1)
            expect(page.locator('#designer-diff-new td[data-element-id="rule_high_in"]')).to_have_class(
                lambda_contains("diff-changed")
            )
        finally:
            browser.close()
    with sessions() as s:
        latest = s.scalars(
            select(Definition).where(Definition.key == "nomination").order_by(Definition.version.desc())
        ).first()
        assert latest is not None and latest.version == 2
        assert "&gt;= 40" in latest.sources["award_level.dmn"]


# The modeler's own moddle (bpmn-moddle with the Camunda descriptor and ours for SpiffWorkflow) reads a file and
# writes it back, as saving from the modeler does (frontend/src/designer/references.js).
ROUND_TRIP = "xml => window.tdktDesigner.roundTrip(xml)"
LOOP_REFS = ("loopDataInputRef", "loopDataOutputRef")


def _loop_refs(xml: str | bytes) -> list[tuple[str | None, str, str]]:
    """(activity id, which, variable) of every multi-instance loop reference: SpiffWorkflow's variable names."""
    text = xml.encode() if isinstance(xml, str) else xml
    root = etree.fromstring(text, etree.XMLParser(resolve_entities=False, no_network=True))
    return sorted(
        (ref.getparent().getparent().get("id"), which, (ref.text or "").strip())
        for which in LOOP_REFS
        for ref in root.iter(f"{BPMN}{which}")
    )


def test_camunda_and_spiffworkflow_extensions_round_trip_through_the_modeler(designer_server):
    """Every model of ours, the SpiffArena-style fixture and Camunda's invoice example, read and written by the
    modeler's moddle: every element's extension elements come back the same (after canonicalisation)."""
    _browser_or_skip()
    from playwright.sync_api import sync_playwright

    server, _, _, _ = designer_server
    corpus = ROOT.parent / "shared" / "corpus" / "camunda-invoice"
    paths = [*sorted(BPMN_DIR.glob("*.bpmn")), DECISION_FIXTURES / "spiff_nomination.bpmn"]
    paths += sorted(corpus.glob("*.bpmn")) if corpus.is_dir() else []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            _login(page, server, "thiet.ke")
            page.goto(server + "/designer/unit_plan/1")
            page.locator('g.djs-element[data-element-id="plan_draft"]').wait_for()
            spiff_elements = loops = 0
            for path in paths:
                original = path.read_bytes()
                result = page.evaluate(ROUND_TRIP, original.decode("utf-8"))
                assert result["warnings"] == [], (path.name, result["warnings"])
                before, after = _extensions(original), _extensions(result["xml"])
                assert after == before, path.name
                assert _loop_refs(result["xml"]) == _loop_refs(original), path.name
                loops += len(_loop_refs(original))
                spiff_elements += sum(c.count("spiffworkflow.org") for found in after.values() for c in found)
        finally:
            browser.close()
    assert spiff_elements >= 30  # the models do carry SpiffWorkflow extensions (preScript, properties, operators...)
    assert loops >= 12  # and multi-instance loops naming their variables


# --- the pages' answers without a browser (Flask's test client) ----------------------------------------------


def test_designer_pages_are_for_designers_and_administrators(world: World):
    anonymous = world.app.test_client().get("/designer/unit_plan/1")
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/login")

    officer = world.app.test_client()
    web_login(officer, "linh.tm")
    assert "/designer" not in text(officer.get("/"))  # no menu entry
    pages = ("/designer", "/designer/unit_plan/1", "/designer/unit_plan/draft", "/designer/unit_plan/diff?from=1&to=2")
    for url in pages:
        denied = officer.get(url)
        assert denied.status_code == 403 and denied.mimetype == "text/html", url
        assert "may not design processes" in text(denied)

    admin = world.app.test_client()
    web_login(admin, "admin")
    assert 'href="/designer"' in text(admin.get("/"))
    page = admin.get("/designer/unit_plan/1")
    assert page.status_code == 200 and 'data-key="unit_plan"' in text(page) and 'data-version="1"' in text(page)
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "unsafe" not in csp  # the page keeps the app's policy
    words = re.search(r'<script type="application/json" id="designer-words">(.*?)</script>', text(page), re.S)
    assert words and json.loads(words.group(1))["deploy_refused"].startswith("Chưa triển khai được")
    english = admin.get("/designer?lang=en")
    assert "Process design" in text(english)


@pytest.mark.parametrize(
    ("url", "status", "names"),
    [
        ("/designer/unit_plan/diff?from=1", 422, "'to'"),
        ("/designer/unit_plan/diff?from=x&to=2", 422, "'from'"),
        ("/designer/unit_plan/diff?from=0&to=2", 422, "'from'"),
        ("/designer/not%20a%20key/1", 404, "not a key"),
        ("/designer/unit_plan/99999999999999999999", 404, ""),
    ],
)
def test_bad_designer_urls_name_what_is_wrong(world: World, url: str, status: int, names: str):
    admin = world.app.test_client()
    web_login(admin, "admin")
    answer = admin.get(url, headers={"Accept": "text/html,*/*;q=0.8"})  # as a browser asks
    assert answer.status_code == status and answer.mimetype == "text/html"
    assert names in html.unescape(text(answer))
