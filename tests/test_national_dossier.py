"""The electronic dossier for national awards: the package built from a national proposal's records (manifest
validated against its schema, deterministic bytes), its downloads and their audit, who may have it, and sending it
through the scheduler's job to a stand-in for the Ministry of Home Affairs' system (a real HTTP server on this
machine), with retries, the receipt, and the completion that must carry it."""

from __future__ import annotations

import hashlib
import io
import json
import re
import threading
import zipfile
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jsonschema
import pytest
from sqlalchemy import select

from api.passwords import hash_password
from engine.persistence.models import AuditEvent, User
from engine.scheduler import TimerScheduler
from engine.services import attachments
from engine.services.national_dossier import build_package, manifest_schema
from engine.services.national_submission import TOKEN_ENV, URL_ENV, submissions_of
from engine.services.rules import start_data
from engine.services.timers import fire_due_timers
from tests.api_support import PASSWORD, TEST_KDF, make_test_app
from tests.test_lifecycle_helpers import (
    RULES,
    complete,
    ctx_fixture,  # noqa: F401 - fixture
    lifecycle_fixture,  # noqa: F401 - fixture
    one_task,
    open_tasks,
    start,
    tree,
)
from tests.test_lifecycle_national import CO_CHINH_PHU, CSTD_TOAN_QUOC
from tests.test_lifecycle_nomination import by_candidate, task_data

PDF = b"%PDF-1.4\n% a test document\n"


def _pdf(label: str) -> bytes:
    return PDF + label.encode() + b"\n%%EOF\n"


def _attach(sessions, ctx, task, user: str, name: str, field: str) -> dict[str, Any]:
    with sessions() as s, s.begin():
        row = attachments.store(s, ctx, task, user, name, _pdf(f"{task.instance_id}/{field}"), field=field)
        return attachments.reference(row)


def _to_submission(sessions, ctx, clock) -> tuple[int, int]:
    """A national round driven to nprop_submit, its dossiers' documents uploaded: (national instance, task id)."""
    # the rules of 2026 (Decree 152/2025 and the province's instrument): 90% / 80% of the Council for these awards
    rules = start_data(RULES, date(2026, 1, 5))
    iid = start(sessions, ctx, "nomination", nomination_units=["SYT", "CTNAB"], sudden=False, **rules)
    syt_council = one_task(sessions, iid, "nom_unit_council", "SYT")
    complete(sessions, ctx, syt_council, "nga.vt", {"meeting_date": "2024-03-19", "unit_candidates": [CSTD_TOAN_QUOC]})
    complete(
        sessions,
        ctx,
        one_task(sessions, iid, "nom_unit_council", "CTNAB"),
        "loc.vp",
        {"meeting_date": "2024-03-19", "unit_candidates": [CO_CHINH_PHU]},
    )
    people = {"SYT": ("linh.tm", "duc.hm"), "CTNAB": ("nam.tk", "huong.gt")}
    for task in by_candidate(sessions, ctx, iid, "dossier_prepare").values():
        officer = people[task.unit_id][0]
        docs = {
            key: _attach(sessions, ctx, task, officer, f"{key}.pdf", f"documents/{key}")
            for key in ("to_trinh", "bao_cao_thanh_tich", "bien_ban_binh_xet", "xac_nhan_sang_kien")
        }
        complete(sessions, ctx, task, officer, {"documents": docs, "achievement_summary": "Xuất sắc"})
    for task in by_candidate(sessions, ctx, iid, "dossier_sign").values():
        complete(sessions, ctx, task, people[task.unit_id][1], {"head_decision": "sign"})
    for task in by_candidate(sessions, ctx, iid, "dossier_appraise").values():
        complete(sessions, ctx, task, "an.tdkt", {"appraisal": "eligible"})
    publish = one_task(sessions, iid, "nom_disclosure_publish")
    ids = {c["name"]: c["candidate_id"] for c in task_data(sessions, ctx, publish)["candidates"]}
    complete(sessions, ctx, publish, "an.tdkt", {"published_at": "2024-03-19", "published_where": "Cổng TTĐT"})
    clock.set(ctx.calendar.add_working_days(clock.now(), 10) + timedelta(minutes=1))
    fire_due_timers(sessions, ctx, owner="test")
    comments = one_task(sessions, iid, "nom_disclosure_comments")
    complete(sessions, ctx, comments, "an.tdkt", {"comments": [], "withdrawn": []})
    report = one_task(sessions, iid, "nom_comments_report")
    complete(
        sessions,
        ctx,
        report,
        "an.tdkt",
        {
            "comments_report_number": "15/BC-SNV",
            "comments_report_file": _attach(
                sessions, ctx, report, "an.tdkt", "bao-cao-y-kien.pdf", "comments_report_file"
            ),
            "comments_report_summary": "Không có ý kiến",
        },
    )
    results = [
        {"candidate_id": ids[CSTD_TOAN_QUOC["name"]], "award": "chien_si_thi_dua_toan_quoc", "passed": True,
         "agree": 10, "disagree": 1, "members": 11},
        {"candidate_id": ids[CO_CHINH_PHU["name"]], "award": "co_thi_dua_chinh_phu", "passed": True,
         "agree": 9, "disagree": 2, "members": 11},
    ]  # fmt: skip
    complete(sessions, ctx, one_task(sessions, iid, "council_stub_results"), "thu.ky", {"council_results": results})
    party = one_task(sessions, iid, "nprop_party_opinion")
    complete(
        sessions,
        ctx,
        party,
        "an.tdkt",
        {"party_document_number": "120-CV/TU", "party_decision": "agree", "party_not_agreed": []},
    )
    for n, task in enumerate(t for t in open_tasks(sessions, iid) if t.element_id == "nprop_consultation"):
        complete(
            sessions, ctx, task, "binh.tdkt", {"consultation_answer": "agree", "consultation_document": f"{100 + n}/CV"}
        )
    submit = one_task(sessions, iid, "nprop_submit")
    return submit.instance_id, submit.id


@pytest.fixture
def round_(sessions, ctx, clock, lifecycle):
    return _to_submission(sessions, ctx, clock)


@pytest.fixture
def app(db_engine, sessions, ctx, round_):
    cheap = hash_password(PASSWORD, kdf=TEST_KDF)
    with sessions() as s, s.begin():
        for user in s.scalars(select(User)):
            user.password_hash = cheap
    return make_test_app(db_engine, ctx)


def _client(app, user: str):
    client = app.test_client()
    answer = client.post("/api/v1/session", json={"user": user, "password": PASSWORD})
    assert answer.status_code == 200, answer.get_json()
    return client


def _csrf(client, path: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True))
    assert found, path
    return found.group(1)


def _events(sessions, instance_id: int, prefix: str = "national_dossier.") -> list[AuditEvent]:
    with sessions() as s:
        query = select(AuditEvent).where(AuditEvent.instance_id == instance_id, AuditEvent.action.startswith(prefix))
        return list(s.scalars(query.order_by(AuditEvent.id)))


def test_the_manifest_lists_candidates_results_opinions_and_documents(sessions, ctx, round_):
    national, _ = round_
    with sessions() as s:
        package = build_package(s, ctx, national)
    archive = zipfile.ZipFile(io.BytesIO(package.content))
    manifest = json.loads(archive.read("manifest.json"))
    jsonschema.validate(manifest, manifest_schema())
    assert manifest == package.manifest
    by_name = {c["name"]: c for c in manifest["candidates"]}
    assert set(by_name) == {CSTD_TOAN_QUOC["name"], CO_CHINH_PHU["name"]}
    person, company = by_name[CSTD_TOAN_QUOC["name"]], by_name[CO_CHINH_PHU["name"]]
    assert person["council"] == {
        "passed": True,
        "agree": 10,
        "disagree": 1,
        "members": 11,
        "threshold": {"share": "9/10", "counted_on": "membership"},  # Decree 152 Art. 33(5), on the whole Council
    }
    assert company["council"]["threshold"] == {"share": "4/5", "counted_on": "membership"}
    assert (person["unit"]["id"], person["award"]["code"], person["kind"]) == (
        "SYT",
        "chien_si_thi_dua_toan_quoc",
        "individual",
    )
    assert manifest["party_opinion"] == {"document_number": "120-CV/TU", "decision": "agree"}
    assert person["party_opinion"]["agreed"] and person["consultations"] == []
    assert sorted((k["agency"], k["answer"]) for k in company["consultations"]) == [
        ("bhxh", "agree"), ("cong_an", "agree"), ("moi_truong", "agree"), ("thue", "agree"),
    ]  # fmt: skip
    assert all(re.fullmatch(r"10[0-3]/CV", k["document"]) for k in company["consultations"])
    # each candidate's four Art. 84 documents, the comments report, each with its bytes in the ZIP
    for candidate in (person, company):
        named = {d["name"] for d in manifest["documents"] if d["path"] in candidate["documents"]}
        assert named == {"to_trinh.pdf", "bao_cao_thanh_tich.pdf", "bien_ban_binh_xet.pdf", "xac_nhan_sang_kien.pdf"}
    assert "bao-cao-y-kien.pdf" in {d["name"] for d in manifest["documents"]}
    assert sorted(archive.namelist()) == sorted(["manifest.json", *(d["path"] for d in manifest["documents"])])
    for doc in manifest["documents"]:
        body = archive.read(doc["path"])
        assert (hashlib.sha256(body).hexdigest(), len(body), doc["media_type"]) == (
            doc["sha256"],
            doc["size"],
            "application/pdf",
        )
    assert manifest["submission"] == {"number": None, "date": None}


def test_the_same_records_give_the_same_bytes(sessions, ctx, clock, round_):
    national, task_id = round_
    with sessions() as s:
        first = build_package(s, ctx, national)
    clock.advance(timedelta(days=3))
    with sessions() as s:
        again = build_package(s, ctx, national)
        numbered = build_package(s, ctx, national, submission={"number": "45/TTr-UBND", "date": "2024-04-15"})
    assert (again.content, again.sha256) == (first.content, first.sha256)
    assert hashlib.sha256(first.content).hexdigest() == first.sha256
    assert numbered.sha256 != first.sha256 and numbered.manifest["submission"]["number"] == "45/TTr-UBND"
    assert {i.date_time for i in zipfile.ZipFile(io.BytesIO(first.content)).infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_who_may_download_it_and_each_download_is_audited(app, sessions, round_):
    national, task_id = round_
    url = f"/api/v1/instances/{national}/national-dossier"
    assert _client(app, "linh.tm").get(url).status_code == 403  # a unit's officer
    assert _client(app, "duc.hm").get(url).status_code == 403  # a unit's head
    auditor = _client(app, "kiem.tra")
    answer = auditor.get(url)
    assert answer.status_code == 200 and answer.mimetype == "application/zip"
    sha = answer.headers["X-Dossier-SHA256"]
    assert hashlib.sha256(answer.data).hexdigest() == sha
    assert auditor.post(url + "/submissions", json={}).status_code == 403  # auditors read, never send
    assert auditor.get(url + "/submissions").get_json() == {"submissions": [], "configured": False}
    web = _client(app, "an.tdkt").get(f"/instances/{national}/national-dossier")  # Sở Nội vụ, from the web page
    assert web.status_code == 200 and hashlib.sha256(web.data).hexdigest() == sha
    chairman = _client(app, "chu.tich")
    assert chairman.get(url).status_code == 200
    page = chairman.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert f"/instances/{national}/national-dossier" in page and "national-dossier-manual" in page
    assert f"/instances/{national}/national-dossier" in chairman.get(f"/instances/{national}").get_data(as_text=True)
    events = _events(sessions, national)
    assert [(e.action, e.actor, e.data["sha256"]) for e in events] == [
        ("national_dossier.downloaded", "kiem.tra", sha),
        ("national_dossier.downloaded", "an.tdkt", sha),
        ("national_dossier.downloaded", "chu.tich", sha),
    ]
    nomination = tree_root(sessions, national)
    assert _client(app, "kiem.tra").get(f"/api/v1/instances/{nomination}/national-dossier").status_code == 404


def tree_root(sessions, national: int) -> int:
    from engine.persistence.models import Instance

    with sessions() as s:
        row = s.get(Instance, national)
        assert row is not None and row.parent_id is not None
        return row.parent_id


def test_without_configuration_sending_is_refused_and_the_page_says_by_hand(app, round_, monkeypatch):
    monkeypatch.delenv(URL_ENV, raising=False)
    national, task_id = round_
    answer = _client(app, "an.tdkt").post(
        f"/api/v1/instances/{national}/national-dossier/submissions",
        json={"submission_number": "45/TTr-UBND", "submitted_date": "2024-04-15"},
    )
    assert answer.status_code == 409
    assert URL_ENV in answer.get_json()["error"]["message"]


class _Ministry(BaseHTTPRequestHandler):
    """A stand-in for the Ministry's system: answers each POST with the next scripted status."""

    script: list[int] = []
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append({"headers": self.headers, "body": body})
        status = self.script.pop(0) if self.script else 200
        answer = json.dumps({"receipt": f"BNV-2024-{len(self.received):06d}"} if status == 200 else {"error": "x"})
        self.send_response(status)
        if status in (302, 307):  # elsewhere: the dossier and its token must not follow
            self.send_header("Location", "http://elsewhere.example/steal")
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(answer.encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def ministry(monkeypatch):
    _Ministry.script, _Ministry.received = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ministry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(URL_ENV, f"http://127.0.0.1:{server.server_address[1]}/ho-so")
    monkeypatch.setenv(TOKEN_ENV, "s3cret")
    yield _Ministry
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _queue(app, national: int, task_id: int, user: str = "chu.tich") -> Any:
    client = _client(app, user)
    token = _csrf(client, f"/tasks/{task_id}")
    return client, client.post(
        f"/instances/{national}/national-dossier/send",
        data={"csrf_token": token, "submission_number": "45/TTr-UBND", "submitted_date": "2024-04-15"},
    )


def test_sending_stores_the_receipt_and_the_completion_must_carry_it(app, sessions, ctx, round_, ministry):
    national, task_id = round_
    client, answer = _queue(app, national, task_id)
    assert answer.status_code == 302
    scheduler = TimerScheduler(sessions, ctx, owner="test-scheduler")
    assert scheduler.send_national_submissions() == 1
    second, again = _queue(app, national, task_id)  # never twice: said in the page's language, with the receipt
    page = second.get(again.headers["Location"]).get_data(as_text=True)
    assert "đã được gửi (mã tiếp nhận BNV-2024-000001)" in page
    (got,) = ministry.received
    with sessions() as s:
        (row,) = submissions_of(s, national)
        assert (row.status, row.attempts, row.receipt) == ("sent", 1, "BNV-2024-000001")
        assert got["body"] == row.package and hashlib.sha256(got["body"]).hexdigest() == row.package_sha256
    assert got["headers"]["Content-Type"] == "application/zip"
    assert got["headers"]["X-Dossier-SHA256"] == row.package_sha256
    assert got["headers"]["X-Manifest-SHA256"] == row.manifest_sha256
    assert got["headers"]["Authorization"] == "Bearer s3cret"
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(got["body"])).read("manifest.json"))
    assert manifest["submission"] == {"number": "45/TTr-UBND", "date": "2024-04-15"}
    assert [(e.action, e.actor) for e in _events(sessions, national)] == [
        ("national_dossier.queued", "chu.tich"),
        ("national_dossier.sent", "scheduler"),
    ]
    assert _events(sessions, national)[-1].data["receipt"] == "BNV-2024-000001"
    assert scheduler.send_national_submissions() == 0  # sent once, never again

    page = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "BNV-2024-000001" in page and 'value="BNV-2024-000001"' in page  # shown, and the form is pre-filled
    token = _csrf(client, f"/tasks/{task_id}")
    form = {"csrf_token": token, "submission_number": "45/TTr-UBND", "submitted_date": "2024-04-15"}
    refused = client.post(f"/tasks/{task_id}", data={**form, "electronic_reference": "BNV-TYPED-BY-HAND"})
    assert refused.status_code == 422
    assert "BNV-2024-000001" in refused.get_data(as_text=True)
    api_refused = client.post(
        f"/api/v1/tasks/{task_id}/complete",
        json={
            "data": {"submission_number": "45/TTr-UBND", "submitted_date": "2024-04-15", "electronic_reference": "X-1"}
        },
        headers={"X-CSRF-Token": token},
    )
    assert api_refused.status_code == 422
    assert "electronic_reference" in api_refused.get_json()["error"]["details"]["fields"]
    done = client.post(f"/tasks/{task_id}", data={**form, "electronic_reference": "BNV-2024-000001"})
    assert done.status_code == 302
    with sessions() as s:
        from engine.services.instances import instance_data

        result = instance_data(s, ctx, national)["national_result"]
    assert result["electronic_reference"] == "BNV-2024-000001"


def test_a_failed_attempt_is_retried_with_backoff_and_counted(app, sessions, ctx, clock, round_, ministry):
    national, task_id = round_
    ministry.script = [500]
    _queue(app, national, task_id, user="an.tdkt")
    scheduler = TimerScheduler(sessions, ctx, owner="test-scheduler")
    assert scheduler.send_national_submissions() == 0
    with sessions() as s:
        (row,) = submissions_of(s, national)
        assert (row.status, row.attempts, row.receipt) == ("queued", 1, None)
        assert "500" in (row.last_error or "") and row.next_attempt_at > clock.now()
    assert scheduler.send_national_submissions() == 0  # not before its next attempt
    assert len(ministry.received) == 1
    clock.advance(timedelta(minutes=2))
    assert scheduler.send_national_submissions() == 1
    with sessions() as s:
        (row,) = submissions_of(s, national)
        assert (row.status, row.attempts, row.receipt, row.last_error) == ("sent", 2, "BNV-2024-000002", None)
    assert ministry.received[0]["body"] == ministry.received[1]["body"]  # the same package both times
    events = _events(sessions, national)
    assert [(e.action, e.data.get("attempt")) for e in events] == [
        ("national_dossier.queued", None),
        ("national_dossier.attempt_failed", 1),
        ("national_dossier.sent", 2),
    ]
    api = _client(app, "kiem.tra").get(f"/api/v1/instances/{national}/national-dossier/submissions").get_json()
    assert api["configured"] is True
    assert [(x["status"], x["attempts"], x["receipt"]) for x in api["submissions"]] == [("sent", 2, "BNV-2024-000002")]


def test_the_api_queues_a_submission_for_home_affairs_not_for_a_unit(app, sessions, round_, ministry):
    national, _ = round_
    url = f"/api/v1/instances/{national}/national-dossier/submissions"
    body = {"submission_number": "45/TTr-UBND", "submitted_date": "2024-04-15"}
    assert _client(app, "linh.tm").post(url, json=body).status_code == 403
    bad = _client(app, "an.tdkt").post(url, json={"submission_number": "45/TTr-UBND", "submitted_date": "15/4"})
    assert bad.status_code == 422 and "submitted_date" in bad.get_json()["error"]["details"]["fields"]
    answer = _client(app, "an.tdkt").post(url, json=body)
    assert answer.status_code == 201
    assert answer.get_json()["status"] == "queued"
    again = _client(app, "an.tdkt").post(url, json=body)
    assert again.status_code == 409  # one package on its way at a time
    assert len(tree(sessions, national)) == 1


def test_a_redirect_is_never_followed_and_a_leased_row_is_left_to_its_scheduler(
    app, sessions, ctx, clock, round_, ministry
):
    national, task_id = round_
    ministry.script = [307]
    _queue(app, national, task_id)
    first = TimerScheduler(sessions, ctx, owner="scheduler-a")
    assert first.send_national_submissions() == 0
    assert len(ministry.received) == 1  # nothing went to elsewhere.example
    with sessions() as s:
        (row,) = submissions_of(s, national)
        assert (row.status, row.attempts) == ("queued", 1) and "307" in (row.last_error or "")
    # another scheduler holds it (leased, not yet expired): a second one leaves it alone
    clock.advance(timedelta(minutes=2))
    with sessions() as s, s.begin():
        (row,) = submissions_of(s, national)
        row.status, row.lease_owner, row.lease_until = "sending", "scheduler-a", clock.now() + timedelta(minutes=5)
    second = TimerScheduler(sessions, ctx, owner="scheduler-b")
    assert second.send_national_submissions() == 0 and len(ministry.received) == 1
    clock.advance(timedelta(minutes=6))  # scheduler-a died: its lease ran out, the row is taken over once
    assert second.send_national_submissions() == 1
    assert first.send_national_submissions() == 0
    with sessions() as s:
        (row,) = submissions_of(s, national)
        assert (row.status, row.receipt, row.lease_owner) == ("sent", "BNV-2024-000002", None)


def test_the_submission_letter_uploaded_on_the_task_goes_into_the_package(sessions, ctx, round_):
    national, task_id = round_
    from engine.services.tasks import get_task

    with sessions() as s:
        task = get_task(s, task_id)
    ref = _attach(sessions, ctx, task, "chu.tich", "to-trinh-45.pdf", "submission_file")
    with sessions() as s:
        package = build_package(s, ctx, national)
    (doc,) = [d for d in package.manifest["documents"] if d["field"] == "submission_file"]
    assert (doc["name"], doc["sha256"], doc["source_id"]) == ("to-trinh-45.pdf", ref["sha256"], ref["attachment_id"])
    body = zipfile.ZipFile(io.BytesIO(package.content)).read(doc["path"])
    assert hashlib.sha256(body).hexdigest() == ref["sha256"]
