"""The whole nomination journey in a real browser (Debian's Chromium, headless), each step done by the person whose
step it is, in a browser context of their own: the unit council lists its candidates, the head decides the unit's
own titles, the officer prepares two dossiers with uploaded PDFs, the head signs them, Sở Nội vụ appraises and
returns one for supplement, the officer reads the reason on top, uploads the missing PDF and resubmits, Sở Nội vụ
finds it among the dossier's documents and finds it eligible; the list is disclosed and its comment period runs
out on the clock (the scheduler's own code path fires the timer); the Council's secretary convenes and records
attendance, 10 of the 11 members vote on their secret ballot pages (the absent one sends no written vote), the
tally and the minutes; the Chairman signs the decision on its page and the certificate exists.

The round is started through ``engine.services.instances.start_instance`` with the routing Sở Nội vụ's start form
uses (``start_forms.setting``, the rules in force): the start form offers only a sudden nomination, and a sudden
one skips the unit council, the disclosure and the Council (Law Art. 85).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from api import create_app
from cli import main
from engine.clock import ManualClock
from engine.core.runtime import find_task
from engine.persistence.db import make_engine, make_session_factory
from engine.persistence.models import BallotParticipation, HumanTask, InstanceDocument
from engine.services import certificates, start_forms
from engine.services.calls import descendants
from engine.services.context import EngineContext
from engine.services.instance_store import load_instance
from engine.services.instances import start_instance
from engine.services.rules import start_data
from engine.services.timers import fire_due_timers
from tests.browser.test_inbox_browser import CHROMIUM, _browser_or_skip

SCREENSHOTS_ENV = "TDKT_SCREENSHOTS"  # TDKT_SCREENSHOTS=docs/screenshots refreshes the README's pictures
START = datetime(2026, 3, 16, 2, 0, tzinfo=UTC)  # a Monday of the demo's 2026 campaign


def pdf(title: str) -> bytes:
    """A small, well-formed PDF (one empty page) whose content names it."""
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Title ({title}) >>",
    ]
    body, offsets = b"%PDF-1.4\n", []
    for number, text in enumerate(objects, start=1):
        offsets.append(len(body))
        body += f"{number} 0 obj {text} endobj\n".encode()
    xref = len(body)
    body += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    body += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    body += f"trailer << /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return body


@dataclass
class Served:
    url: str
    sessions: sessionmaker[Session]
    ctx: EngineContext
    clock: ManualClock
    root_id: int


@pytest.fixture
def journey(tmp_path: Path) -> Iterator[Served]:
    """The demo (no history) in a temporary SQLite file on a free port, and a nomination round opened for Sở Y tế."""
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    loaded = CliRunner().invoke(main, ["demo", "--url", url, "--quiet", "--no-history"])
    assert loaded.exit_code == 0, loaded.output
    engine = make_engine(url)
    clock = ManualClock(START)
    ctx = EngineContext(clock=clock)
    sessions = make_session_factory(engine)
    with sessions() as s, s.begin():
        found = start_forms.setting(s)
        data = {
            "campaign_year": 2026,
            "province_unit": found.province_unit,
            "home_affairs_unit": found.home_affairs_unit,
            "council_unit": found.council_unit,
            "units": list(found.units),
            "blocks": [],
            "block_results": [],
            "nomination_units": ["SYT"],
            "sudden": False,
            **start_data(start_forms.rule_sets(), START.date()),
        }
        row = start_instance(
            s, ctx, key="nomination", business_key="DN-2026-SYT", unit_id=found.province_unit, data=data,
            actor="an.tdkt",
        )  # fmt: skip
        root_id = row.id
    app = create_app({"ENGINE": engine, "DATABASE_URL": url, "SECRET_KEY": "journey", "ENGINE_CONTEXT": ctx})
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{http.server_port}", sessions, ctx, clock, root_id)
    finally:
        http.shutdown()
        thread.join(timeout=10)
        http.server_close()
        engine.dispose()


def open_tasks(served: Served, element_id: str) -> list[HumanTask]:
    """The open tasks of ``element_id`` anywhere under the round (its units' work, dossiers, the Council)."""
    with served.sessions() as s:
        ids = [served.root_id, *(r.id for r in descendants(s, served.root_id))]
        query = (
            select(HumanTask)
            .where(HumanTask.instance_id.in_(ids), HumanTask.element_id == element_id)
            .where(HumanTask.status.in_(("open", "claimed")))
            .order_by(HumanTask.id)
        )
        rows = list(s.scalars(query))
        s.expunge_all()
    return rows


def one_task(served: Served, element_id: str) -> HumanTask:
    rows = open_tasks(served, element_id)
    if len(rows) != 1:
        pytest.fail(f"expected one open {element_id!r} task in the round, found {len(rows)}")
    return rows[0]


def task_data(served: Served, row: HumanTask) -> dict[str, Any]:
    with served.sessions() as s:
        loaded = load_instance(s, served.ctx, row.instance_id)
        return dict(find_task(loaded.workflow, row.task_guid).data)


def by_candidate(served: Served, element_id: str) -> dict[str, HumanTask]:
    return {task_data(served, t)["candidate"]["name"]: t for t in open_tasks(served, element_id)}


UNIT_TITLE = "Lê Thu Hà"  # Lao động tiên tiến: decided by the unit's head
PERSON = "Nguyễn Thị Lan"  # Bằng khen của Chủ tịch UBND tỉnh: dossier, appraisal, Council, decision
TEAM = "Khoa Nội"  # Tập thể lao động xuất sắc: its dossier comes back for supplement; the Council refuses it
MEMBERS = ["chu.tich", "pho.ct", "giam.doc.snv", "thu.ky", "mttq", "ldld", "quang.lv", "duc.hm", "phuong.bt", "long.pv"]
ABSENT = "hanh.mt"  # the eleventh member: absent, no written vote
NEXT = "Trang sau"
AWARDS = {PERSON: "Bằng khen của Chủ tịch UBND tỉnh", TEAM: "Tập thể lao động xuất sắc"}
RETURN_REASON = "Bổ sung biên bản bình xét của Hội đồng TĐKT cơ sở (có chữ ký)"


def test_a_nomination_from_the_unit_council_to_the_chairmans_decision(journey: Served, tmp_path: Path):
    _browser_or_skip()
    from playwright.sync_api import Page, expect, sync_playwright

    served, server = journey, journey.url
    shots = Path(os.environ.get(SCREENSHOTS_ENV) or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    files = {}
    for name in ("to-trinh-lan", "bao-cao-lan", "bien-ban-lan", "to-trinh-khoa-noi", "bao-cao-khoa-noi"):
        files[name] = tmp_path / f"{name}.pdf"
        files[name].write_bytes(pdf(name))
    supplement = tmp_path / "bien-ban-binh-xet-khoa-noi.pdf"
    supplement.write_bytes(pdf("bien-ban-binh-xet-khoa-noi"))
    failures: list[str] = []  # errors in a page's script, HTTP errors
    gaps: list[str] = []  # what a person should see and does not: the journey goes on, the test fails at its end

    def seen(check: Any, missing: str) -> None:
        try:
            check()
        except AssertionError as err:
            gaps.append(f"{missing}: {str(err).splitlines()[0]}")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])

        def as_user(user: str) -> Page:
            """A fresh browser context (no cookie of the one before), logged in as ``user``."""
            context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
            page = context.new_page()
            page.on("pageerror", lambda err: failures.append(f"{user}: {err}"))
            page.on(
                "response",
                lambda r: (
                    failures.append(f"{user}: {r.status} {r.url}")
                    if r.status >= 400 and not r.url.endswith("/favicon.ico")
                    else None
                ),
            )
            page.goto(server + "/")
            page.fill("#user", user)
            page.fill("#password", "demo")
            page.get_by_role("button", name="Đăng nhập").click()
            expect(page.locator("header .user")).to_have_attribute("title", user)
            return page

        def done(page: Page) -> None:
            page.context.close()

        def open_from_inbox(page: Page, row: HumanTask) -> None:
            """The task is in the person's inbox and opens from there."""
            page.goto(server + "/")
            link = page.locator(f"a[href='/tasks/{row.id}']")
            for _ in range(20):  # soonest due first, 50 a page: Sở Nội vụ's inbox holds the whole campaign's work
                if link.count() or not page.locator("a[href^='?page=']").filter(has_text=NEXT).count():
                    break
                page.locator("a[href^='?page=']").filter(has_text=NEXT).click()
            if not link.count():
                pytest.fail(f"task {row.id} ({row.element_id}) is not in the inbox of the user who should do it")
            link.first.click()
            expect(page.locator("h1")).to_have_text(row.name or row.element_id)
            if page.locator("#task-form-data").count():  # typing waits for the browser form to replace the plain one
                expect(page.locator("#rjsf-form form.rjsf")).to_be_visible()

        def submit(page: Page) -> None:
            page.get_by_role("button", name="Hoàn thành").click()
            expect(page.locator(".flash.success").first).to_contain_text("Đã hoàn thành công việc")

        try:
            # 1. The unit council (Sở Y tế) lists its candidates: rows, choices by their Vietnamese titles.
            council_list = one_task(served, "nom_unit_council")
            page = as_user("nga.vt")
            open_from_inbox(page, council_list)
            expect(page.locator("#rjsf-form form.rjsf")).to_be_visible()
            page.fill("#f-meeting_date", "16/03/2026")
            rows = [
                (UNIT_TITLE, "Cá nhân", "Lao động tiên tiến", ["good_completion"]),
                (PERSON, "Cá nhân", "Bằng khen của Chủ tịch UBND tỉnh", ["outstanding_achievement"]),
                (TEAM, "Tập thể", "Tập thể lao động xuất sắc", ["excellent_completion"]),
            ]
            for i, (name, kind, award, checks) in enumerate(rows):
                page.locator("#f-unit_candidates__add").click()
                page.fill(f"#f-unit_candidates-{i}-name", name)
                page.select_option(f"#f-unit_candidates-{i}-kind", label=kind)
                page.select_option(f"#f-unit_candidates-{i}-award", label=award)
                for field in checks:
                    page.check(f"#f-unit_candidates-{i}-{field}")
            page.fill("#f-unit_candidates-2-members_completed_share", "1")
            page.fill("#f-unit_candidates-2-lao_dong_tien_tien_share", "0.8")
            page.fill("#f-unit_candidates-2-chien_si_thi_dua_co_so_count", "2")
            page.set_viewport_size({"width": 1280, "height": 1600})
            page.locator("#f-unit_candidates-1-name").scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "journey-unit-council.png"))
            submit(page)
            done(page)

            # 2. The head decides the unit-level titles, reading the council's list on the page.
            head = one_task(served, "unom_head_decision")
            page = as_user("duc.hm")
            open_from_inbox(page, head)
            submitted = page.locator("section.submission")
            expect(submitted).to_contain_text(UNIT_TITLE)
            expect(submitted).to_contain_text("Lao động tiên tiến")
            expect(submitted).to_contain_text(PERSON)
            page.fill("#f-decision_number", "15/QĐ-SYT")
            page.fill("#f-signed_date", "16/03/2026")
            page.screenshot(path=str(shots / "journey-head-decision.png"), full_page=True)
            submit(page)
            done(page)

            # 3. The officer issues the unit's certificates and prepares both dossiers with uploaded PDFs.
            page = as_user("linh.tm")
            issued = one_task(served, "unom_unit_certificates")
            open_from_inbox(page, issued)
            page.fill("#f-certificates_issued", "1")
            page.check("#f-notified")
            submit(page)
            prepare = by_candidate(served, "dossier_prepare")
            assert sorted(prepare) == sorted([PERSON, TEAM])  # the unit's own title never becomes a dossier
            documents = {
                PERSON: {
                    "to_trinh": "to-trinh-lan",
                    "bao_cao_thanh_tich": "bao-cao-lan",
                    "bien_ban_binh_xet": "bien-ban-lan",
                },
                TEAM: {"to_trinh": "to-trinh-khoa-noi", "bao_cao_thanh_tich": "bao-cao-khoa-noi"},  # no minutes
            }
            for name, docs in documents.items():
                open_from_inbox(page, prepare[name])
                expect(page.locator("#rjsf-form form.rjsf")).to_be_visible()
                for field, file in docs.items():
                    page.set_input_files(f"#f-documents-{field}", str(files[file]))
                    expect(page.locator(f"#f-documents-{field}__current")).to_contain_text(f"{file}.pdf")
                page.fill("#f-achievement_summary", f"Thành tích năm 2026 của {name}")
                submit(page)
            done(page)

            # 4. The head signs both, the candidate's data on the page.
            sign = by_candidate(served, "dossier_sign")
            page = as_user("duc.hm")
            for name in (PERSON, TEAM):
                open_from_inbox(page, sign[name])
                expect(page.locator("#candidate")).to_have_text(name)
                expect(page.locator("#candidate-award")).to_have_text(AWARDS[name])
                for file in documents[name].values():  # the dossier the head signs, its PDFs downloadable
                    expect(page.locator("table.documents").get_by_role("link", name=f"{file}.pdf")).to_be_visible()
                choice = page.locator("#f-head_decision")
                seen(
                    lambda: expect(choice).to_have_value("", timeout=1000),
                    f"the head's choice on {name}'s dossier starts already chosen",
                )
                page.select_option("#f-head_decision", label="Ký tờ trình")
                submit(page)
            done(page)

            # 5. Sở Nội vụ appraises: the person eligible, the team's dossier returned for supplement.
            appraise = by_candidate(served, "dossier_appraise")
            page = as_user("an.tdkt")
            open_from_inbox(page, appraise[PERSON])
            expect(page.locator("#candidate")).to_have_text(PERSON)
            expect(page.locator("#candidate-award")).to_have_text(AWARDS[PERSON])
            expect(page.locator("table.documents")).to_contain_text("to-trinh-lan.pdf")
            page.select_option("#f-appraisal", label="Đủ điều kiện")
            submit(page)
            open_from_inbox(page, appraise[TEAM])
            reason = page.locator("#f-reject_reason")
            seen(
                lambda: expect(reason).to_have_value("", timeout=1000),
                "the appraisal's optional reject reason starts already chosen",
            )
            expect(page.locator("table.documents")).to_contain_text("to-trinh-khoa-noi.pdf")
            expect(page.locator("table.documents")).not_to_contain_text("bien-ban")
            page.select_option("#f-appraisal", label="Yêu cầu bổ sung hồ sơ")
            page.fill("#f-supplement_request", RETURN_REASON)
            submit(page)
            done(page)

            # 6. The officer finds the reason on top, uploads the minutes and resubmits.
            more = one_task(served, "dossier_supplement")
            page = as_user("linh.tm")
            open_from_inbox(page, more)
            returned = page.locator("#returned")

            def reason_on_top() -> None:
                expect(returned).to_contain_text(RETURN_REASON, timeout=2000)
                top = returned.evaluate("e => e.getBoundingClientRect().top")
                assert top < page.locator("#rjsf-form").evaluate("e => e.getBoundingClientRect().top")

            seen(reason_on_top, "the supplement step does not show Sở Nội vụ's return reason on top (#returned)")
            told = page.locator("section.submission").filter(has_text="Yêu cầu bổ sung hồ sơ")
            expect(told).to_contain_text(RETURN_REASON)
            seen(
                lambda: expect(told).not_to_contain_text("Lý do không đủ điều kiện", timeout=1000),
                "the officer reads a reject reason the appraiser never chose",
            )
            page.set_input_files("#f-documents-bien_ban_binh_xet", str(supplement))
            expect(page.locator("#f-documents-bien_ban_binh_xet__current")).to_contain_text(supplement.name)
            page.screenshot(path=str(shots / "journey-returned.png"), full_page=True)
            submit(page)
            done(page)

            # 7. Sở Nội vụ sees the uploaded PDF among the dossier's documents, downloads it, finds it eligible.
            again = one_task(served, "dossier_appraise")
            page = as_user("binh.tdkt")
            open_from_inbox(page, again)
            expect(page.locator("#candidate")).to_have_text(TEAM)
            table = page.locator("table.documents")
            for name in ("to-trinh-khoa-noi.pdf", "bao-cao-khoa-noi.pdf", supplement.name):
                expect(table).to_contain_text(name)
            link = table.get_by_role("link", name=supplement.name)
            with page.expect_download() as fetched:
                link.click()
            got = fetched.value
            assert got.suggested_filename == supplement.name
            assert Path(got.path()).read_bytes() == supplement.read_bytes()
            page.screenshot(path=str(shots / "journey-appraisal.png"), full_page=True)
            page.select_option("#f-appraisal", label="Đủ điều kiện")
            submit(page)

            # 8. The list is disclosed; the comment period runs out on the clock.
            publish = one_task(served, "nom_disclosure_publish")
            open_from_inbox(page, publish)
            listed = page.locator("table.listed tbody tr")  # the list being published, above the form
            expect(listed).to_have_count(2)
            expect(listed.filter(has_text=PERSON)).to_contain_text("Sở Y tế")
            expect(listed.filter(has_text=PERSON)).to_contain_text("Bằng khen của Chủ tịch UBND tỉnh")
            expect(listed.filter(has_text=TEAM)).to_contain_text("Tập thể lao động xuất sắc")
            expect(page.locator("table.listed")).not_to_contain_text(UNIT_TITLE)  # decided in the unit
            page.screenshot(path=str(shots / "journey-disclosure.png"), full_page=True)
            page.fill("#f-published_at", "16/03/2026")
            page.fill("#f-published_where", "Cổng thông tin điện tử thành phố")
            submit(page)
            done(page)
            assert open_tasks(served, "nom_disclosure_comments") == []
            served.clock.advance(timedelta(days=8))  # 5 working days and a weekend; the sessions of before expire
            assert fire_due_timers(served.sessions, served.ctx, owner="journey") >= 1
            comments = one_task(served, "nom_disclosure_comments")
            page = as_user("binh.tdkt")
            open_from_inbox(page, comments)
            expect(page.locator("table.listed tbody tr")).to_have_count(2)
            submit(page)
            done(page)

            # 9. The Council's secretary convenes the meeting and records attendance; the absent member sends no vote.
            page = as_user("thu.ky")
            convene = one_task(served, "convene")
            open_from_inbox(page, convene)
            expect(page).to_have_url(f"{server}/council/tasks/{convene.id}")
            agenda = page.locator("table.tasks")
            expect(agenda).to_contain_text(PERSON)
            expect(agenda).to_contain_text(TEAM)
            page.fill("#f-meeting_date", "2026-03-26")
            page.fill("#f-place", "Phòng họp số 1, UBND thành phố")
            page.get_by_role("button", name="Triệu tập").click()
            expect(page.locator(".flash.success").first).to_be_visible()
            done(page)
            served.clock.advance(timedelta(days=2))  # the meeting's day: Thursday 26/03/2026
            fire_due_timers(served.sessions, served.ctx, owner="journey")
            page = as_user("thu.ky")
            attendance = one_task(served, "attendance")
            open_from_inbox(page, attendance)
            expect(page).to_have_url(f"{server}/council/tasks/{attendance.id}")
            for member in MEMBERS:
                page.check(f"input[name=present][value='{member}']")
            page.get_by_role("button", name="Ghi nhận điểm danh").click()
            expect(page.locator(".flash.success").first).to_be_visible()
            written = one_task(served, "written_votes")
            page.goto(f"{server}/council/tasks/{written.id}")
            expect(page.locator("main h2").first).to_contain_text("Mai Thị Hạnh")  # the absent member, by name
            page.get_by_role("button", name="Không có phiếu bằng văn bản").click()
            expect(page.locator(".flash.success").first).to_be_visible()
            done(page)

            # 10. Ten members vote on their ballot pages; after casting, the page shows only that it was cast.
            ballots = {t.assignee: t for t in open_tasks(served, "ballot")}
            assert sorted(ballots) == sorted(MEMBERS)
            for index, member in enumerate(MEMBERS):
                page = as_user(member)
                page.get_by_role("link", name="Bỏ phiếu kín").first.click()
                expect(page).to_have_url(f"{server}/council/tasks/{ballots[member].id}")
                person_choice = "Không đồng ý" if index == 0 else "Đồng ý"  # 9 agree, 1 disagrees
                team_choice = "Đồng ý" if index < 4 else "Không đồng ý"  # 4 agree, 6 disagree
                page.get_by_role("radio", name=f"{person_choice} {PERSON}", exact=True).check()
                page.get_by_role("radio", name=f"{team_choice} {TEAM}", exact=True).check()
                if index == 1:
                    page.screenshot(path=str(shots / "journey-ballot.png"), full_page=True)
                page.get_by_role("button", name="Bỏ phiếu").click()
                expect(page.locator(".flash.success").first).to_contain_text("Đã bỏ phiếu.")
                expect(page.locator("#ballot-cast")).to_be_visible()
                expect(page.locator("input[type=radio]")).to_have_count(0)
                page.reload()
                html = page.content()
                assert "agree" not in html and "Không đồng ý" not in html, member  # nothing of the choice
                done(page)
            with served.sessions() as s:
                voted = sorted(s.scalars(select(BallotParticipation.user_id)))
            assert voted == sorted(MEMBERS) and ABSENT not in voted

            # 11. The secretary tallies; the meeting's page has the numbers and the minutes.
            page = as_user("thu.ky")
            tally = one_task(served, "tally")
            page.goto(f"{server}/council/tasks/{tally.id}")
            page.get_by_role("button", name="Kiểm phiếu và lập biên bản").click()
            expect(page.locator(".flash.success").first).to_be_visible()
            page.get_by_role("link", name="Xem phiên họp").click()
            results = page.locator("table.results tbody tr")
            expect(results).to_have_count(2)
            person_row = results.filter(has_text=PERSON)
            expect(person_row.locator("td.num")).to_have_text(["9", "1"])
            team_row = results.filter(has_text=TEAM)
            expect(team_row.locator("td.num")).to_have_text(["4", "6"])
            expect(page.locator("main")).to_contain_text("11")  # members
            minutes = page.get_by_role("link", name=re.compile(r"^bien-ban-hoi-dong-2026-.*\.pdf$"))
            with page.expect_download() as fetched:
                minutes.click()
            assert Path(fetched.value.path()).read_bytes().startswith(b"%PDF")
            page.screenshot(path=str(shots / "journey-tally.png"), full_page=True)
            done(page)

            # 12. The Chairman reads the passing candidate on the decision page and signs; the certificate exists.
            decision = one_task(served, "nom_decision")
            page = as_user("chu.tich")
            page.goto(f"{server}/tasks/{decision.id}")
            expect(page).to_have_url(f"{server}/council/decisions/{decision.id}")
            awarded = page.locator("#awarded")
            expect(awarded).to_contain_text(PERSON)
            expect(awarded).not_to_contain_text(TEAM)
            expect(page.locator("#refused")).to_contain_text(TEAM)
            page.fill("#f-decision_number", "321/QĐ-UBND")
            page.fill("#f-signed_date", "2026-03-26")
            page.screenshot(path=str(shots / "journey-decision.png"), full_page=True)
            page.get_by_role("button", name="Ký quyết định").click()
            expect(page.locator(".flash.success").first).to_be_visible()
            expect(page.locator("#decision-number")).to_contain_text("321/QĐ-UBND — 26/03/2026")
            certificate = awarded.get_by_role("link")
            with page.expect_download() as fetched:
                certificate.click()
            assert Path(fetched.value.path()).read_bytes().startswith(b"%PDF")
            page.screenshot(path=str(shots / "journey-decision-signed.png"), full_page=True)
            done(page)

            # 13. Sở Nội vụ prints the certificates and tells the units: the round is over.
            page = as_user("an.tdkt")
            open_from_inbox(page, one_task(served, "nom_certificates"))
            page.fill("#f-certificates_issued", "1")
            page.check("#f-notified")
            submit(page)
            done(page)

            # 14. The auditor opens the finished round: the path on the diagram, the timeline, the trail as CSV.
            page = as_user("kiem.tra")
            page.goto(f"{server}/instances/{served.root_id}")
            expect(page.locator("#diagram")).to_have_attribute("data-state", "ready")
            for element in ("nom_units", "nom_council", "nom_decision", "nom_certificates", "nom_end"):
                marked = page.locator(f'#diagram .djs-element.tdkt-done[data-element-id="{element}"]')
                expect(marked).to_have_count(1)
            expect(page.locator("#diagram .tdkt-waiting")).to_have_count(0)
            expect(page.locator("#chain-status")).to_have_attribute("data-ok", "true")
            timeline = page.locator("ol.timeline")
            for name in ("Lê Hoài An", "Nguyễn Văn Thành"):  # Sở Nội vụ's officer, the Chairman
                expect(timeline).to_contain_text(name)
            with page.expect_download() as fetched:
                page.locator("#export-csv").click()
            trail = Path(fetched.value.path()).read_bytes().decode("utf-8-sig")
            assert "nom_decision" in trail and "Nguyễn Văn Thành" in trail
            page.screenshot(path=str(shots / "journey-audit.png"), full_page=True)
            done(page)
            assert failures == [], failures
            if gaps:
                pytest.fail("the journey went through, but people miss what they decide on:\n" + "\n".join(gaps))
        finally:
            browser.close()

    with served.sessions() as s:
        ids = [served.root_id, *(r.id for r in descendants(s, served.root_id))]
        kinds = list(s.scalars(select(InstanceDocument.kind).where(InstanceDocument.instance_id.in_(ids))))
    assert kinds.count(certificates.KIND) == 2  # the round's copy and the unit's, on its own nomination
