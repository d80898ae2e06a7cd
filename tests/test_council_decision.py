"""The Chairman's decision in the browser (Flask's test client, the real nomination and Council processes): the
Chairman sees the tally and who passed, signs; each awarded candidate gets a certificate PDF attached to the
instance, downloadable by whoever may see it; each refused candidate's unit is told why."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import select

from api import create_app
from api.passwords import Scrypt, hash_password
from engine.core.tally import ballot_lines
from engine.errors import ConflictError, ValidationError
from engine.persistence.models import AuditEvent, HumanTask, InstanceDocument, Notification, User
from engine.services import ballots, certificates, council_meeting
from engine.services.context import EngineContext
from engine.services.council_meeting import meeting_of
from engine.services.definitions import deploy
from engine.services.org import load_org_file
from engine.services.timers import fire_due_timers
from tests.conftest import BPMN_DIR, ROOT
from tests.test_lifecycle_helpers import complete, one_task, open_tasks, start
from tests.test_lifecycle_nomination import DOCS, by_candidate, task_data

PASSWORD = "demo"  # noqa: S105 - test data
TEST_KDF = Scrypt(log2_n=4, r=1, p=1)
TEN_YEARS_IN_MINUTES = 10 * 366 * 24 * 60
PASSES, FAILS, INELIGIBLE = "Hồ Tường Vy", "Lê Văn Bình", "Hoàng Minh Đức"


def candidate(name: str, outstanding: bool = True) -> dict[str, Any]:
    return {"name": name, "kind": "individual", "award": "bang_khen_chu_tich", "outstanding_achievement": outstanding}


def to_the_decision(sessions, ctx, clock) -> tuple[int, int]:
    """A round for phường Tân Mỹ: three candidates, one refused at appraisal; the Council (all 11 present) agrees
    on one and not on the other. Returns (instance id, the nom_decision task id)."""
    files = [(p.name, p.read_bytes()) for p in sorted(BPMN_DIR.iterdir()) if p.suffix in (".bpmn", ".dmn")]
    files += [(p.name, p.read_bytes()) for p in sorted((ROOT / "forms").glob("*.json"))]
    with sessions() as s, s.begin():
        load_org_file(s, ROOT / "demo" / "org.yaml", clock)
        deploy(s, files, clock, actor="designer")
    iid = start(sessions, ctx, "nomination", nomination_units=["TXTM"], sudden=False)
    unit_candidates = [candidate(PASSES), candidate(FAILS), candidate(INELIGIBLE, outstanding=False)]
    complete(sessions, ctx, one_task(sessions, iid, "nom_unit_council"), "kim.lt",
             {"meeting_date": "2024-03-19", "unit_candidates": unit_candidates})  # fmt: skip
    for task in by_candidate(sessions, ctx, iid, "dossier_prepare").values():
        complete(sessions, ctx, task, "vy.ht", {"documents": DOCS, "achievement_summary": "Xuất sắc"})
    for task in by_candidate(sessions, ctx, iid, "dossier_sign").values():
        complete(sessions, ctx, task, "thang.dv", {"head_decision": "sign"})
    appraise = by_candidate(sessions, ctx, iid, "dossier_appraise")
    complete(sessions, ctx, appraise[PASSES], "an.tdkt", {"appraisal": "eligible"})
    complete(sessions, ctx, appraise[FAILS], "an.tdkt", {"appraisal": "eligible"})
    complete(
        sessions, ctx, appraise[INELIGIBLE], "an.tdkt", {"appraisal": "reject", "reject_reason": "standard_not_met"}
    )
    complete(sessions, ctx, one_task(sessions, iid, "dossier_rejection_notice"), "vy.ht", {"acknowledged": True})
    complete(sessions, ctx, one_task(sessions, iid, "nom_disclosure_publish"), "an.tdkt",
             {"published_at": "2024-03-19", "published_where": "Cổng TTĐT"})  # fmt: skip
    clock.advance(timedelta(days=8))
    fire_due_timers(sessions, ctx, owner="test")
    complete(sessions, ctx, one_task(sessions, iid, "nom_disclosure_comments"), "an.tdkt",
             {"comments": [], "withdrawn": []})  # fmt: skip
    with sessions() as s, s.begin():
        council_meeting.convene(s, ctx, one_task(sessions, iid, "convene").id, "thu.ky", meeting_date=ctx.now().date())
    with sessions() as s, s.begin():
        attendance = one_task(sessions, iid, "attendance")
        members = council_meeting.council_members(s, attendance.unit_id)
        council_meeting.record_attendance(s, ctx, attendance.id, "thu.ky", members)
    for ballot in [t for t in open_tasks(sessions, iid) if t.form_key == "council_ballot"]:
        data = task_data(sessions, ctx, ballot)
        with sessions() as s, s.begin():
            meeting = meeting_of(s, data)
            names = {c["candidate_id"]: c["name"] for c in meeting.candidates}
            lines = ballot_lines(meeting.candidates, ballot.assignee)
            choices = {cid: "agree" if names[cid] == PASSES else "disagree" for cid in lines}
            ballots.cast_ballot(s, ctx, ballot.id, ballot.assignee, choices)
    with sessions() as s, s.begin():
        ballots.tally_meeting(s, ctx, one_task(sessions, iid, "tally").id, "thu.ky")
    return iid, one_task(sessions, iid, "nom_decision").id


@pytest.fixture(name="round_app")
def round_app_fixture(db_engine, sessions, clock) -> Any:
    ctx = EngineContext(clock=clock)
    iid, task_id = to_the_decision(sessions, ctx, clock)
    cheap = hash_password(PASSWORD, kdf=TEST_KDF)
    with sessions() as s, s.begin():
        for user in s.scalars(select(User)):
            user.password_hash = cheap
    app = create_app(
        {
            "ENGINE": db_engine,
            "DATABASE_URL": "given",
            "SECRET_KEY": "test",
            "ENGINE_CONTEXT": ctx,
            "TESTING": True,
            "PASSWORD_KDF": TEST_KDF,
            "TDKT_SESSION_IDLE_MINUTES": TEN_YEARS_IN_MINUTES,
            "TDKT_SESSION_MAX_HOURS": TEN_YEARS_IN_MINUTES // 60,
        }
    )
    return app, ctx, iid, task_id


def token(page: bytes) -> str:
    found = re.search(rb'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF token on the page"
    return found.group(1).decode()


def logged_in(app: Any, user: str) -> FlaskClient:
    client = app.test_client()
    form = {"user": user, "password": PASSWORD, "csrf_token": token(client.get("/login").data)}
    assert client.post("/login", data=form, follow_redirects=True).status_code == 200
    return client


def sign(client: FlaskClient, task_id: int, number: str, day: str) -> Any:
    form = {"decision_number": number, "signed_date": day, "csrf_token": token(client.get("/").data)}
    return client.post(f"/council/decisions/{task_id}/sign", data=form, follow_redirects=True)


def pdf_text(body: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)


def test_the_chairman_signs_and_certificates_and_refusals_follow(round_app, sessions):
    app, _ctx, iid, task_id = round_app
    chairman = logged_in(app, "chu.tich")
    redirected = chairman.get(f"/council/tasks/{task_id}")
    assert redirected.status_code == 302 and redirected.headers["Location"].endswith(f"/council/decisions/{task_id}")
    page = chairman.get(f"/council/decisions/{task_id}").get_data(as_text=True)
    awarded = page.split('id="awarded"')[1].split("</table>")[0]
    assert PASSES in awarded and "Bằng khen của Chủ tịch UBND tỉnh" in awarded and "70%" in awarded
    refused = page.split('id="refused"')[1].split("</table>")[0]
    assert FAILS in refused and "số phiếu đồng ý không đạt tỷ lệ quy định: 0/11 phiếu đồng ý" in refused
    assert INELIGIBLE in refused and "không đủ điều kiện khi thẩm định hồ sơ: chưa đạt tiêu chuẩn" in refused
    assert "Ký quyết định" in page and 'name="decision_number"' in page
    sitting = re.search(r'href="(/council/meetings/\d+)"', page)
    assert sitting and chairman.get(sitting.group(1)).status_code == 200  # the tally's minutes, one click away

    bad = sign(chairman, task_id, "1234/QD", "2024-04-01")
    assert bad.status_code == 422 and "decision_number" in bad.get_data(as_text=True)
    with sessions() as s:
        assert s.get(HumanTask, task_id).status == "open"
        assert s.scalars(select(InstanceDocument).where(InstanceDocument.kind == certificates.KIND)).all() == []

    done = sign(chairman, task_id, "1234/QĐ-UBND", "2024-04-01")
    assert done.status_code == 200
    after = done.get_data(as_text=True)
    assert "Đã ký quyết định: 1 bằng khen được tạo, 4 thông báo đã gửi." in after  # 2 refused x officer, head
    assert "1234/QĐ-UBND — 01/04/2024" in after and 'name="decision_number"' not in after
    with sessions() as s:
        assert s.get(HumanTask, task_id).status == "completed"
        doc, unit_copy = s.scalars(
            select(InstanceDocument).where(InstanceDocument.kind == certificates.KIND).order_by(InstanceDocument.id)
        )
        assert (doc.instance_id, doc.filename) == (iid, "bang-khen-TXTM-2024-1-bang_khen_chu_tich.pdf")
        # the awarded unit's copy sits on its own nomination, which its people may open, and the unit is told
        assert unit_copy.instance_id != iid and unit_copy.content == doc.content
        granted = s.scalars(select(Notification).where(Notification.kind == "award_granted")).all()
        assert {n.instance_id for n in granted} == {unit_copy.instance_id} and len(granted) >= 1
        signed = s.scalars(select(AuditEvent).where(AuditEvent.action == "award.decision_signed")).one()
        assert signed.actor == "chu.tich" and signed.data["certificates"] == {"TXTM-2024-1": doc.id}
        notices = s.scalars(select(Notification).where(Notification.kind == "award_refused")).all()
    assert one_task(sessions, iid, "nom_certificates").unit_id == "SNV"  # the process went on

    link = f"/council/instances/{iid}/certificates/{doc.id}"
    assert f'href="{link}"' in after
    answer = chairman.get(link)
    assert answer.status_code == 200 and answer.mimetype == "application/pdf"
    assert answer.headers["Content-Disposition"] == f'attachment; filename="{doc.filename}"'
    text = pdf_text(answer.data)
    for words in (PASSES, "BẰNG KHEN", "UBND phường Tân Mỹ", "Quyết định số 1234/QĐ-UBND", "Nguyễn Văn Thành"):
        assert words in text, words
    assert logged_in(app, "an.tdkt").get(link).status_code == 200  # Sở Nội vụ prints them
    assert logged_in(app, "linh.tm").get(link).status_code == 403  # Sở Y tế has nothing to do with this round
    assert chairman.get(f"/council/instances/{iid}/certificates/{doc.id + 999}").status_code == 404

    told = sorted((n.user_id, n.title) for n in notices)
    award = "Bằng khen của Chủ tịch UBND tỉnh"
    assert told == sorted(
        (user, f"Không được khen thưởng: {name} ({award})")
        for user in ("thang.dv", "vy.ht")
        for name in (FAILS, INELIGIBLE)
    )
    bodies = {n.title.split(": ")[1].split(" (")[0]: n.body for n in notices if n.user_id == "vy.ht"}
    assert "Quyết định số 1234/QĐ-UBND ngày 01/04/2024" in bodies[FAILS]
    assert "Lý do: số phiếu đồng ý không đạt tỷ lệ quy định: 0/11" in bodies[FAILS] and "cần đạt 70%" in bodies[FAILS]
    assert "Lý do: không đủ điều kiện khi thẩm định hồ sơ: chưa đạt tiêu chuẩn." in bodies[INELIGIBLE]
    officer = logged_in(app, "vy.ht")
    inbox = officer.get("/notifications").get_data(as_text=True)
    assert f"Không được khen thưởng: {FAILS}" in inbox
    (where,) = {n.instance_id for n in notices}
    assert where != iid and officer.get(f"/instances/{where}").status_code == 200  # the unit's own nomination
    # the awarded unit's officer downloads its certificate from its own nomination's page
    awarded_unit = granted[0].user_id
    page = logged_in(app, awarded_unit).get(f"/instances/{unit_copy.instance_id}").get_data(as_text=True)
    copy_link = f"/instances/{unit_copy.instance_id}/documents/{unit_copy.id}"
    assert copy_link in page and "Bằng chứng nhận khen thưởng" in page
    fetched = logged_in(app, awarded_unit).get(copy_link)
    assert fetched.status_code == 200 and fetched.data.startswith(b"%PDF")
    assert logged_in(app, "linh.tm").get(copy_link).status_code == 403  # another unit's nomination


def test_only_the_chairman_signs(round_app, sessions):
    app, ctx, _iid, task_id = round_app
    reviewer = logged_in(app, "an.tdkt")  # Sở Nội vụ sees every unit's task, read-only
    page = reviewer.get(f"/council/decisions/{task_id}").get_data(as_text=True)
    assert PASSES in page and 'name="decision_number"' not in page and "Chỉ Chủ tịch UBND tỉnh ký" in page
    refused = sign(reviewer, task_id, "1234/QĐ-UBND", "2024-04-01")
    assert refused.status_code == 403 and f"user an.tdkt may not see task {task_id}" in refused.get_data(as_text=True)
    with sessions() as s:
        assert s.get(HumanTask, task_id).status == "open"
        assert s.scalars(select(Notification).where(Notification.kind == "award_refused")).all() == []
    assert logged_in(app, "linh.tm").get(f"/council/decisions/{task_id}").status_code == 403


def test_the_service_refuses_a_wrong_task_a_bad_date_and_a_second_signature(round_app, sessions):
    _app, ctx, iid, task_id = round_app
    with sessions() as s, s.begin(), pytest.raises(ValidationError, match="signed_date '1/4/2024' is not a date"):
        certificates.sign_decision(s, ctx, task_id, "chu.tich", decision_number="7/QĐ-UBND", signed_date="1/4/2024")
    with sessions() as s, s.begin():
        signed = certificates.sign_decision(
            s, ctx, task_id, "chu.tich", decision_number="7/QĐ-UBND", signed_date="2024-04-02"
        )
    assert len(signed.documents) == 1 and signed.notices == 4
    with sessions() as s, s.begin(), pytest.raises(ConflictError, match="already completed"):
        certificates.sign_decision(s, ctx, task_id, "chu.tich", decision_number="8/QĐ-UBND", signed_date="2024-04-02")
    other = one_task(sessions, iid, "nom_certificates").id
    with sessions() as s, s.begin(), pytest.raises(ValidationError, match="is not a nom_decision task"):
        certificates.sign_decision(s, ctx, other, "an.tdkt", decision_number="9/QĐ-UBND", signed_date="2024-04-02")
