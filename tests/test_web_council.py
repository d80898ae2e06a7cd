"""The Council meeting in the browser (Flask's test client): the secretary convenes and records attendance (10 of
11), ten members cast their secret ballots on their ballot pages, the secretary enters the absent member's written
vote and tallies; the meeting's page and the minutes show the counts, and no page or API answer shows anyone's
choice after voting."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from api import create_app
from api.passwords import Scrypt, hash_password
from engine.persistence.models import CouncilMeeting, User
from engine.services.context import EngineContext
from tests.fixtures.council import scenario as sc

# As tests/api_support.py (not imported: this test needs only the Council's own fixture).
PASSWORD = "demo"  # noqa: S105 - test data
TEST_KDF = Scrypt(log2_n=4, r=1, p=1)
TEN_YEARS_IN_HOURS = 10 * 366 * 24


def token(page: bytes) -> str:
    found = re.search(rb'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF token on the page"
    return found.group(1).decode()


def text(answer: Any) -> str:
    return str(answer.get_data(as_text=True))


def web_login(client: FlaskClient, user: str) -> Any:
    page = client.get("/login").data
    form = {"user": user, "password": PASSWORD, "csrf_token": token(page)}
    return client.post("/login", data=form, follow_redirects=True)


@pytest.fixture
def council_app(db_engine, sessions, clock) -> Any:
    ctx = EngineContext(clock=clock)
    sc.setup(sessions, ctx)
    cheap = hash_password(PASSWORD, kdf=TEST_KDF)
    with sessions() as s, s.begin():
        for user in s.scalars(select(User)):
            user.password_hash = cheap
    iid = sc.start(sessions, ctx)
    app = create_app(
        {
            "ENGINE": db_engine,
            "DATABASE_URL": "given",
            "SECRET_KEY": "test",
            "ENGINE_CONTEXT": ctx,
            "TESTING": True,
            "PASSWORD_KDF": TEST_KDF,
            "TDKT_SESSION_IDLE_MINUTES": TEN_YEARS_IN_HOURS * 60,
            "TDKT_SESSION_MAX_HOURS": TEN_YEARS_IN_HOURS,
        }
    )
    return app, ctx, iid


def logged_in(app: Any, user: str) -> FlaskClient:
    client = app.test_client()
    assert web_login(client, user).status_code == 200
    return client


def post(client: FlaskClient, url: str, page_url: str, form: dict[str, Any]) -> Any:
    form = dict(form, csrf_token=token(client.get(page_url).data))
    return client.post(url, data=form, follow_redirects=True)


def choices_of(plan: dict[str, str]) -> dict[str, str]:
    return {f"choice-{cid}": choice for cid, choice in plan.items()}


# What a rendered choice would look like next to a candidate: a checked radio, or a value in a hidden field.
CHOICE_MARKS = re.compile(r'value="(agree|disagree)"[^>]*checked|checked[^>]*value="(agree|disagree)"')


def choice_values(value: Any) -> list[str]:
    """Every "agree" / "disagree" value in a JSON answer: none after voting (the tally's counts are numbers)."""
    if isinstance(value, dict):
        return [c for v in value.values() for c in choice_values(v)]  # keys "agree" are counts
    if isinstance(value, list):
        return [c for v in value for c in choice_values(v)]
    return [value] if value in ("agree", "disagree") else []


def test_a_meeting_runs_in_the_browser_and_nobody_sees_a_choice(council_app, sessions):
    app, ctx, iid = council_app
    secretary = logged_in(app, sc.SECRETARY)

    convene_task = sc.one_task(sessions, iid, "convene")
    redirected = secretary.get(f"/tasks/{convene_task}")
    assert redirected.status_code == 302 and f"/council/tasks/{convene_task}" in redirected.headers["Location"]
    page = text(secretary.get(f"/council/tasks/{convene_task}"))
    assert "Nguyễn Thị An" in page and "Khoa Nội, Bệnh viện tỉnh" in page and 'name="meeting_date"' in page
    assert "Chiến sĩ thi đua cấp tỉnh" in page and "chien_si_thi_dua_tinh" not in page  # awards by their names
    answer = post(
        secretary,
        f"/council/tasks/{convene_task}/convene",
        f"/council/tasks/{convene_task}",
        {"meeting_date": sc.MEETING_DAY.isoformat(), "place": "Phòng họp số 1"},
    )
    assert answer.status_code == 200 and "Đã triệu tập phiên họp." in text(answer)

    attendance = sc.one_task(sessions, iid, "attendance")
    page = text(secretary.get(f"/council/tasks/{attendance}"))
    assert page.count('name="present"') == 11 and "Dương Văn Tài" in page
    answer = post(
        secretary,
        f"/council/tasks/{attendance}/attendance",
        f"/council/tasks/{attendance}",
        {"present": sc.MEMBERS[:10]},
    )
    assert "Đã ghi nhận điểm danh." in text(answer)

    written = sc.written_task(sessions, ctx, iid, "m11")
    page = text(secretary.get(f"/council/tasks/{written}"))
    assert "Dương Văn Tài" in page and 'name="choice-cstd-an"' in page
    answer = post(
        secretary, f"/council/tasks/{written}/written", f"/council/tasks/{written}", choices_of(sc.PLAN["m11"])
    )
    assert "Đã nhập phiếu bằng văn bản." in text(answer)

    ballot_pages = {}
    for member in sc.MEMBERS[:10]:
        client = logged_in(app, member)
        task = sc.ballot_task(sessions, iid, member)
        assert f"/tasks/{task}" in text(client.get("/"))  # the ballot is in the member's inbox
        page = text(client.get(f"/council/tasks/{task}"))
        assert 'name="choice-cstd-an"' in page and "Phiếu kín" in page
        answer = post(client, f"/council/tasks/{task}/ballot", f"/council/tasks/{task}", choices_of(sc.PLAN[member]))
        body = text(answer)
        assert "Đã bỏ phiếu." in body and 'id="ballot-cast"' in body and not CHOICE_MARKS.search(body)
        ballot_pages[member] = (client, task)

    # A second ballot by the same member is refused; a stranger cannot cast another's ballot.
    client, task = ballot_pages["m01"]
    again = client.post(
        f"/council/tasks/{task}/ballot", data=choices_of(sc.PLAN["m01"]) | {"csrf_token": token(client.get("/").data)}
    )
    assert again.status_code in (403, 409)

    tally = sc.one_task(sessions, iid, "tally")
    answer = post(secretary, f"/council/tasks/{tally}/tally", f"/council/tasks/{tally}", {})
    assert "Đã kiểm phiếu và lập biên bản." in text(answer)

    with sessions() as s:
        meeting = s.scalars(select(CouncilMeeting).where(CouncilMeeting.instance_id == iid)).one()
        results = {r["candidate_id"]: r for r in meeting.results}
    assert (results["cstd-an"]["agree"], results["cstd-an"]["passed"]) == (10, True)
    assert (results["cstd-binh"]["agree"], results["cstd-binh"]["passed"]) == (9, False)
    assert results["tt-syt-khoa-noi"]["agree"] == 6

    page = text(secretary.get(f"/council/meetings/{meeting.id}"))
    assert "Đạt" in page and "Không đạt" in page and '<td class="num" data-label="Đồng ý">10</td>' in page
    links = re.findall(rf'href="(/council/meetings/{meeting.id}/documents/\d+)"', page)
    assert len(links) == 2
    bodies = [secretary.get(link) for link in links]
    html = next(b for b in bodies if b.mimetype == "text/html").get_data(as_text=True)
    pdf = next(b for b in bodies if b.mimetype == "application/pdf")
    assert "Nguyễn Thị An" in html and pdf.data.startswith(b"%PDF")

    # After voting: every member's ballot page, the admin's and auditor's views of pages and the API.
    for member, (client, task) in ballot_pages.items():
        body = text(client.get(f"/council/tasks/{task}"))
        assert "Lựa chọn không được hiển thị" in body and not CHOICE_MARKS.search(body)
        api = client.get(f"/api/v1/tasks/{task}").get_json()
        assert api["data"] == {} or not choice_values(api["data"])
    for user in ("admin", "auditor", sc.SECRETARY):
        client = logged_in(app, user)
        urls = [f"/council/tasks/{task}" for _, task in ballot_pages.values()]
        urls += [f"/council/meetings/{meeting.id}", f"/instances/{iid}", f"/api/v1/instances/{iid}"]
        urls += [f"/api/v1/instances/{iid}/audit", f"/api/v1/instances/{iid}/history", "/api/v1/audit/events"]
        for url in urls:
            answer = client.get(url)
            assert answer.status_code in (200, 403), url
            if answer.is_json:
                body = answer.get_json()
                if isinstance(body, dict):
                    body.pop("form", None)  # the ballot's JSON Schema names the two choices, nothing more
                assert not choice_values(body), url
            else:
                assert not CHOICE_MARKS.search(answer.get_data(as_text=True)), url


def api_client(app: Any, user: str) -> FlaskClient:
    client = app.test_client()
    assert client.post("/api/v1/session", json={"user": user, "password": PASSWORD}).status_code == 200
    return client


def test_the_api_runs_a_meeting_and_only_the_member_casts_their_ballot(council_app, sessions):
    app, ctx, iid = council_app
    secretary = api_client(app, sc.SECRETARY)
    convene = sc.one_task(sessions, iid, "convene")
    refused = secretary.post(f"/api/v1/tasks/{convene}/complete", json={"data": {}})
    assert refused.status_code == 409  # reserved: the generic completion stays closed
    answer = secretary.post(
        f"/api/v1/tasks/{convene}/convene", json={"meeting_date": sc.MEETING_DAY.isoformat(), "place": "Phòng 1"}
    )
    assert answer.status_code == 200 and answer.get_json()["status"] == "completed"
    attendance = sc.one_task(sessions, iid, "attendance")
    stranger = secretary.post(f"/api/v1/tasks/{attendance}/attendance", json={"present": ["nobody"]})
    assert stranger.status_code == 422
    answer = secretary.post(f"/api/v1/tasks/{attendance}/attendance", json={"present": sc.MEMBERS[:10]})
    assert answer.status_code == 200

    written = sc.written_task(sessions, ctx, iid, "m11")
    both = secretary.post(f"/api/v1/tasks/{written}/written-ballot", json={"choices": {}, "no_vote": True})
    assert both.status_code == 422
    assert secretary.post(f"/api/v1/tasks/{written}/written-ballot", json={"no_vote": True}).status_code == 200

    admin = api_client(app, "admin")
    first = sc.ballot_task(sessions, iid, "m01")
    assert admin.post(f"/api/v1/tasks/{first}/ballot", json={"choices": sc.PLAN["m01"]}).status_code == 403
    bad = api_client(app, "m01").post(f"/api/v1/tasks/{first}/ballot", json={"choices": {"cstd-an": "maybe"}})
    assert bad.status_code == 422 and "maybe" not in bad.get_data(as_text=True)
    for member in sc.MEMBERS[:10]:
        client = api_client(app, member)
        task = sc.ballot_task(sessions, iid, member)
        answer = client.post(f"/api/v1/tasks/{task}/ballot", json={"choices": sc.PLAN[member]})
        assert answer.status_code == 200, answer.get_json()
        assert not choice_values(answer.get_json())
    tally = sc.one_task(sessions, iid, "tally")
    assert secretary.post(f"/api/v1/tasks/{tally}/tally", json={}).status_code == 200
    with sessions() as s:
        meeting = s.scalars(select(CouncilMeeting).where(CouncilMeeting.instance_id == iid)).one()
        results = {r["candidate_id"]: r["agree"] for r in meeting.results}
    # m11 sent no written vote: m10 and m11 count against an (9 of 11 agree, below 90 %)
    assert results == {"cstd-an": 9, "cstd-binh": 8, "tt-syt-khoa-noi": 6}
