"""The Council meeting process end to end on a real database: quorum, written vote, 10/11 passes and 9/11 fails
under a 90 % rule, an adjourned sitting that is reconvened, the voting window closing, refusals, the minutes."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from engine.errors import ConflictError, PermissionDeniedError, ValidationError
from engine.persistence.models import BallotParticipation, CouncilMeeting, HumanTask, Timer
from engine.services import ballots, instances, tasks
from engine.services.audit import verify
from engine.services.calls import descendants
from engine.services.context import EngineContext
from engine.services.minutes import documents_of
from engine.services.timers import fire_due_timers
from tests.fixtures.council import scenario as sc


@pytest.fixture
def ctx(clock):
    return EngineContext(clock)


@pytest.fixture
def council(sessions, ctx):
    sc.setup(sessions, ctx)
    return sessions


def by_id(results):
    return {r["candidate_id"]: r for r in results}


def test_a_council_of_11_with_a_written_vote_passes_10_of_11_and_fails_9_of_11(council, ctx):
    iid, results = sc.run_full_meeting(council, ctx)
    got = by_id(results)
    assert (got["cstd-an"]["agree"], got["cstd-an"]["disagree"], got["cstd-an"]["passed"]) == (10, 1, True)
    assert (got["cstd-binh"]["agree"], got["cstd-binh"]["disagree"], got["cstd-binh"]["passed"]) == (9, 2, False)
    assert got["cstd-an"]["members"] == 11 and got["cstd-an"]["basis"] == 11
    # The collective's rule counts on those present: 6 of 10 reach 50 %.
    assert (got["tt-syt-khoa-noi"]["agree"], got["tt-syt-khoa-noi"]["basis"], got["tt-syt-khoa-noi"]["passed"]) == (
        6,
        10,
        True,
    )
    assert sc.instance_row(council, iid).status == "completed"
    with council() as s:
        data = instances.instance_data(s, ctx, iid)
        assert data["council_results"] == results
        meeting = s.scalars(select(CouncilMeeting).where(CouncilMeeting.instance_id == iid)).one()
        check = ballots.verify_tally(s, meeting.id)
        assert check.ok, check.problems
        assert (check.ballots, check.participants) == (11, 11)
        written = s.scalars(select(BallotParticipation.user_id).where(BallotParticipation.written.is_(True))).all()
        assert written == ["m11"]
        assert verify(s).ok


def test_the_minutes_are_a_real_pdf_and_html_showing_the_counts(council, ctx):
    iid, _ = sc.run_full_meeting(council, ctx)
    with council() as s:
        docs = {d.media_type.split(";")[0]: d for d in documents_of(s, iid, "council_minutes")}
        pdf, html = docs["application/pdf"].content, docs["text/html"].content.decode("utf-8")
        assert docs["application/pdf"].filename.endswith(".pdf")
    assert pdf.startswith(b"%PDF")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    for needle in ("BIÊN BẢN", "Nguyễn Thị An", "Trần Văn Bình", "Không đạt", "Đạt", "Số phiếu thu về: 11"):
        assert needle in text, needle
    assert '<td class="n">10</td>' in html and '<td class="n">9</td>' in html
    assert "Dương Văn Tài (có phiếu bằng văn bản)" in html


def test_a_missed_quorum_adjourns_and_the_secretary_reconvenes(council, ctx):
    iid = sc.start(council, ctx)
    first = sc.convene(council, ctx, iid)
    sc.attend(council, ctx, iid, sc.MEMBERS[:7])  # 7 of 11: 2/3 needs 8
    assert sc.open_tasks(council, iid, "ballot") == []
    assert sc.one_task(council, iid, "convene")  # back to convening
    with council() as s:
        assert s.get(CouncilMeeting, first).status == "adjourned"
        assert instances.instance_data(s, ctx, iid)["adjourned_meeting_id"] == first
    second = sc.convene(council, ctx, iid, meeting_date="2024-03-28")
    sc.attend(council, ctx, iid, sc.MEMBERS[:8])  # exactly the quorum
    assert len(sc.open_tasks(council, iid, "written_votes")) == 3  # the secretary enters written votes first
    for member in sc.MEMBERS[8:]:
        sc.vote_in_writing(council, ctx, iid, member, None)  # none came
    assert len(sc.open_tasks(council, iid, "ballot")) == 8
    with council() as s:
        meeting = s.get(CouncilMeeting, second)
        assert (meeting.sitting, meeting.status, meeting.quorum_needed) == (2, "voting", 8)


def test_the_voting_window_closes_and_missing_ballots_count_against(council, ctx, clock):
    iid = sc.start(council, ctx)
    meeting_id = sc.convene(council, ctx, iid)
    sc.attend(council, ctx, iid, sc.MEMBERS)
    for member in sc.MEMBERS[:9]:  # m10 and m11 never vote
        sc.vote(council, ctx, iid, member, sc.PLAN[member])
    with council() as s:  # the voting window is a scheduler timer: 1 working day, Tue 19/3 -> Wed 20/3 09:00
        due = s.scalars(
            select(Timer.due_at).where(Timer.instance_id == iid, Timer.kind == "bpmn_timer", Timer.status == "pending")
        ).one()
        assert due == clock.now() + timedelta(days=1)
    assert fire_due_timers(council, ctx, owner="test") == 0
    clock.advance(timedelta(days=1, seconds=1))
    assert fire_due_timers(council, ctx, owner="test") >= 1  # the window, and the tasks' own reminders
    assert sc.open_tasks(council, iid, "ballot") == []
    results = by_id(sc.tally(council, ctx, iid))
    assert (results["cstd-an"]["agree"], results["cstd-an"]["basis"], results["cstd-an"]["passed"]) == (9, 11, False)
    with council() as s:
        check = ballots.verify_tally(s, meeting_id)
        assert check.ok and (check.ballots, check.participants) == (9, 9)
        cancelled = s.scalars(
            select(HumanTask.status).where(HumanTask.instance_id == iid, HumanTask.element_id == "ballot")
        ).all()
        assert sorted(cancelled).count("cancelled") == 2


def test_ballot_tasks_refuse_the_ordinary_completion_and_other_voters(council, ctx):
    iid = sc.start(council, ctx)
    with pytest.raises(ConflictError, match="council_meeting.convene"), council() as s, s.begin():
        tasks.complete(s, ctx, sc.one_task(council, iid, "convene"), sc.SECRETARY, {"meeting_date": "2024-03-25"})
    sc.convene(council, ctx, iid)
    sc.attend(council, ctx, iid, sc.MEMBERS[:10])
    written = sc.written_task(council, ctx, iid, "m11")
    with pytest.raises(ConflictError, match="cast_ballot"), council() as s, s.begin():
        tasks.complete(s, ctx, written, sc.SECRETARY, {})
    with pytest.raises(PermissionDeniedError), council() as s, s.begin():  # a member cannot enter written votes
        ballots.cast_ballot(s, ctx, written, "m05", sc.PLAN["m11"], written=True)
    sc.vote_in_writing(council, ctx, iid, "m11", sc.PLAN["m11"])
    task = sc.ballot_task(council, iid, "m01")
    with pytest.raises(ConflictError, match="cast_ballot"), council() as s, s.begin():
        tasks.complete(s, ctx, task, "m01", {"choices": sc.PLAN["m01"]})
    for intruder in ("m02", "admin", sc.SECRETARY):
        with pytest.raises(PermissionDeniedError), council() as s, s.begin():
            ballots.cast_ballot(s, ctx, task, intruder, sc.PLAN["m01"])
    bad = [
        {"cstd-an": "agree"},  # a line missing
        {**sc.PLAN["m01"], "someone-else": "agree"},  # not on the agenda
        {**sc.PLAN["m01"], "cstd-an": "abstain"},
    ]
    for choices in bad:
        with council() as s, s.begin(), pytest.raises(ValidationError) as err:
            ballots.cast_ballot(s, ctx, task, "m01", choices)
        assert "agree" not in err.value.message
    with pytest.raises(ValidationError), council() as s, s.begin():  # a ballot task is not a written one
        ballots.cast_ballot(s, ctx, task, sc.SECRETARY, sc.PLAN["m01"], written=True)
    with council() as s:  # nothing of the refused attempts was saved
        assert s.scalars(select(BallotParticipation.user_id)).all() == ["m11"]
    sc.vote(council, ctx, iid, "m01", sc.PLAN["m01"])
    with pytest.raises(ConflictError), council() as s, s.begin():
        ballots.cast_ballot(s, ctx, task, "m01", sc.PLAN["m01"])


def test_a_member_who_is_a_candidate_does_not_vote_on_themself(council, ctx):
    people = sc.candidates()[:1] + [
        {
            "candidate_id": "cstd-m05",
            "user_id": "m05",
            "name": "Hoàng Văn Nam",
            "kind": "individual",
            "award": "chien_si_thi_dua_tinh",
            "unit_id": "SGD",
        }
    ]
    iid = sc.start(council, ctx, people)
    meeting_id = sc.convene(council, ctx, iid)
    sc.attend(council, ctx, iid, sc.MEMBERS)
    with pytest.raises(ValidationError, match="invalid"), council() as s, s.begin():
        ballots.cast_ballot(
            s, ctx, sc.ballot_task(council, iid, "m05"), "m05", {"cstd-an": "agree", "cstd-m05": "agree"}
        )
    sc.vote(council, ctx, iid, "m05", {"cstd-an": "agree"})
    for member in sc.MEMBERS:
        if member != "m05":
            sc.vote(
                council, ctx, iid, member, {"cstd-an": "agree", "cstd-m05": "disagree" if member == "m01" else "agree"}
            )
    results = by_id(sc.tally(council, ctx, iid))
    # 9 of the 10 members entitled to vote on m05 agree: exactly 90 %, which reaches the share.
    assert (results["cstd-m05"]["agree"], results["cstd-m05"]["basis"], results["cstd-m05"]["passed"]) == (9, 10, True)
    assert results["cstd-an"]["agree"] == 11
    with council() as s:
        assert ballots.verify_tally(s, meeting_id).ok


def test_a_withdrawn_candidate_is_on_no_ballot_and_reported_withdrawn(council, ctx):
    iid = sc.start(council, ctx)
    sc.convene(council, ctx, iid, withdrawn=["cstd-binh"])
    sc.attend(council, ctx, iid, sc.MEMBERS)
    with pytest.raises(ValidationError), council() as s, s.begin():
        ballots.cast_ballot(s, ctx, sc.ballot_task(council, iid, "m01"), "m01", sc.PLAN["m01"])
    for member in sc.MEMBERS:
        sc.vote(council, ctx, iid, member, {k: v for k, v in sc.PLAN[member].items() if k != "cstd-binh"})
    results = by_id(sc.tally(council, ctx, iid))
    assert results["cstd-binh"] == results["cstd-binh"] | {"withdrawn": True, "passed": False, "agree": 0}
    with council() as s:
        agenda = instances.instance_data(s, ctx, iid)["council_agenda"]
        assert [c["candidate_id"] for g in agenda for c in g["candidates"]] == ["cstd-an", "tt-syt-khoa-noi"]


def test_convening_and_attendance_refuse_bad_input(council, ctx):
    iid = sc.start(council, ctx, [{"candidate_id": "x", "name": "X", "kind": "individual", "award": "no_such_award"}])
    with pytest.raises(ValidationError, match="no_such_award"), council() as s, s.begin():
        from engine.services.council_meeting import convene

        convene(s, ctx, sc.one_task(council, iid, "convene"), sc.SECRETARY, meeting_date="2023-06-01")
    iid = sc.start(council, ctx)
    with pytest.raises(ValidationError, match="withdrawn"), council() as s, s.begin():
        from engine.services.council_meeting import convene

        convene(
            s, ctx, sc.one_task(council, iid, "convene"), sc.SECRETARY, meeting_date="2024-03-25", withdrawn=["ghost"]
        )
    sc.convene(council, ctx, iid)
    with pytest.raises(ValidationError, match="not Council members"), council() as s, s.begin():
        from engine.services.council_meeting import record_attendance

        record_attendance(s, ctx, sc.one_task(council, iid, "attendance"), sc.SECRETARY, ["m01", "thuky", "admin"])
    with pytest.raises(PermissionDeniedError), council() as s, s.begin():
        from engine.services.council_meeting import record_attendance

        record_attendance(s, ctx, sc.one_task(council, iid, "attendance"), "m01", sc.MEMBERS)


def test_called_from_another_process_the_results_flow_back(sessions, ctx):
    sc.setup(sessions, ctx, sc.HERE / "nomination_stub.bpmn")
    with sessions() as s, s.begin():
        data = {"campaign_year": 2024, "candidates": sc.candidates(), "withdrawn": ["someone-earlier"]}
        iid = instances.start_instance(s, ctx, key="council_caller", unit_id=sc.COUNCIL, data=data).id
    sc.convene(sessions, ctx, iid)
    sc.attend(sessions, ctx, iid, sc.MEMBERS[:10])
    sc.vote_in_writing(sessions, ctx, iid, "m11", sc.PLAN["m11"])
    for member in sc.MEMBERS[:10]:
        sc.vote(sessions, ctx, iid, member, sc.PLAN[member])
    results = sc.tally(sessions, ctx, iid)
    assert sc.instance_row(sessions, iid).status == "completed"
    with sessions() as s:
        data = instances.instance_data(s, ctx, iid)
        # The meeting is a record of its own: the called council_meeting instance, a child of the caller.
        [called] = descendants(s, iid)
        assert (called.definition_key, called.status, called.unit_id) == ("council_meeting", "completed", sc.COUNCIL)
        meeting = s.scalars(select(CouncilMeeting).where(CouncilMeeting.instance_id == called.id)).one()
        assert ballots.verify_tally(s, meeting.id).ok
    assert data["council_results"] == results
    assert [set(r) >= {"candidate_id", "award", "passed", "agree", "disagree", "members"} for r in results] == [
        True
    ] * 3
    assert data["to_decision"] == ["cstd-an", "tt-syt-khoa-noi"] and data["told_result"] == ["cstd-binh"]
    assert data["withdrawn"] == ["someone-earlier"]  # the caller's own variables are left alone


def test_the_rules_in_force_when_the_instance_started_apply(council, ctx):
    with council() as s, s.begin():  # as nomination calls it: rules_date, council_unit, assigned_unit
        data = {
            "campaign_year": 2023,
            "candidates": sc.candidates(),
            "rules_date": "2023-06-01",
            "council_unit": sc.COUNCIL,
            "assigned_unit": sc.COUNCIL,
        }
        iid = instances.start_instance(s, ctx, key="council_meeting", unit_id="TINH", data=data).id
    meeting_id = sc.convene(council, ctx, iid)
    sc.attend(council, ctx, iid, sc.MEMBERS)
    for member in sc.MEMBERS:
        sc.vote(council, ctx, iid, member, sc.PLAN[member])
    results = by_id(sc.tally(council, ctx, iid))
    with council() as s:
        assert s.get(CouncilMeeting, meeting_id).rule_set["effective_from"] == "2018-01-01"
    # Under the 2018 set the collective counts on the whole membership: 6 of 11 still reach 50 %.
    assert (results["tt-syt-khoa-noi"]["basis"], results["tt-syt-khoa-noi"]["counted_on"]) == (11, "membership")
