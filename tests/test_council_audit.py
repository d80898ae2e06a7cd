"""The auditor's side of the Council vote: verify_tally catches a tampered count, concurrent casts all land in
the box, and the minutes render safely (escaped HTML; a PDF even without a Unicode font)."""

from __future__ import annotations

import io
import threading
from datetime import timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import delete, insert, select, update

from engine.errors import ConflictError
from engine.persistence.models import BallotParticipation, BallotSlip, CouncilMeeting
from engine.services import ballots, minutes, tasks
from engine.services.context import EngineContext
from engine.services.timers import fire_due_timers
from tests.fixtures.council import scenario as sc


@pytest.fixture
def ctx(clock):
    return EngineContext(clock)


def meeting_id(sessions, iid):
    with sessions() as s:
        return s.scalars(select(CouncilMeeting.id).where(CouncilMeeting.instance_id == iid)).one()


def test_verify_tally_catches_slips_added_removed_or_results_edited(sessions, ctx):
    sc.setup(sessions, ctx)
    iid, _ = sc.run_full_meeting(sessions, ctx)
    mid = meeting_id(sessions, iid)
    with sessions() as s:
        assert ballots.verify_tally(s, mid).ok
    with sessions() as s, s.begin():  # a stuffed slip
        s.execute(insert(BallotSlip).values(meeting_id=mid, candidate_id="cstd-binh", choice="agree"))
    with sessions() as s:
        problems = ballots.verify_tally(s, mid).problems
    assert any("cstd-binh: 12 slips for 11" in p for p in problems)
    assert any("do not follow" in p for p in problems)
    with sessions() as s, s.begin():  # the stuffed slip and one real one removed: counts still disagree
        first = s.scalars(select(BallotSlip.id).where(BallotSlip.candidate_id == "cstd-binh")).first()
        s.execute(delete(BallotSlip).where(BallotSlip.id == first))
    with sessions() as s, s.begin():
        s.execute(delete(BallotParticipation).where(BallotParticipation.user_id == "m03"))
    with sessions() as s:
        check = ballots.verify_tally(s, mid)
    assert "11 ballots but 10 participants" in check.problems
    with sessions() as s, s.begin():
        s.execute(update(CouncilMeeting).where(CouncilMeeting.id == mid).values(results=[]))
    with sessions() as s:
        assert "the stored results do not follow from the stored slips" in ballots.verify_tally(s, mid).problems


def test_members_casting_at_the_same_time_all_land_in_the_box(sessions, ctx):
    sc.setup(sessions, ctx)
    iid = sc.start(sessions, ctx)
    mid = sc.convene(sessions, ctx, iid)
    sc.attend(sessions, ctx, iid, sc.MEMBERS)
    voters = sc.MEMBERS[:4]
    task_ids = {m: sc.ballot_task(sessions, iid, m) for m in voters}
    start = threading.Barrier(len(voters))
    outcome: dict[str, str] = {}

    def cast(member: str) -> None:
        start.wait()
        for _ in range(10):  # a conflict on the instance's version is retried, as the web layer will
            try:
                with sessions() as s, s.begin():
                    ballots.cast_ballot(s, ctx, task_ids[member], member, sc.PLAN[member])
                outcome[member] = "cast"
                return
            except ConflictError:
                continue
        outcome[member] = "gave up"

    threads = [threading.Thread(target=cast, args=(m,)) for m in voters]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert outcome == {m: "cast" for m in voters}
    with sessions() as s:
        from engine.persistence.models import BallotBox

        box = s.get(BallotBox, mid)
        assert (box.ballots, len(box.slips)) == (4, 12)
        assert sorted(s.scalars(select(BallotParticipation.user_id))) == voters


def test_minutes_escape_names_and_fall_back_to_plain_letters_without_a_font(sessions, ctx, monkeypatch):
    sc.setup(sessions, ctx)
    people = sc.candidates()
    people[0]["name"] = "<script>alert(1)</script> Nguyễn Thị An"
    iid = sc.start(sessions, ctx, people)
    sc.convene(sessions, ctx, iid)
    sc.attend(sessions, ctx, iid, sc.MEMBERS)
    for member in sc.MEMBERS:
        sc.vote(sessions, ctx, iid, member, sc.PLAN[member])
    monkeypatch.setattr(minutes, "FONT_PATHS", ())
    sc.tally(sessions, ctx, iid)
    with sessions() as s:
        docs = {d.media_type.split(";")[0]: d.content for d in minutes.documents_of(s, iid)}
    html = docs["text/html"].decode()
    assert "<script>" not in html and "&lt;script&gt;" in html
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(docs["application/pdf"])).pages)
    words = " ".join(text.split())  # table cells wrap
    assert "BIEN BAN HOP HOI DONG THI DUA - KHEN THUONG" in words and "Tran Van Binh" in words


def test_no_ballot_after_the_window_and_no_forged_tally(sessions, ctx, clock):
    sc.setup(sessions, ctx)
    iid = sc.start(sessions, ctx)
    sc.convene(sessions, ctx, iid)
    sc.attend(sessions, ctx, iid, sc.MEMBERS)
    sc.vote(sessions, ctx, iid, "m01", sc.PLAN["m01"])
    clock.advance(timedelta(days=1, seconds=1))  # the window closed; the scheduler has not run yet
    with pytest.raises(ConflictError, match="closed"), sessions() as s, s.begin():
        ballots.cast_ballot(s, ctx, sc.ballot_task(sessions, iid, "m02"), "m02", sc.PLAN["m02"])
    fire_due_timers(sessions, ctx, owner="test")
    forged = [{"candidate_id": "cstd-binh", "award": "chien_si_thi_dua_tinh", "passed": True}]
    with pytest.raises(ConflictError, match="tally_meeting"), sessions() as s, s.begin():
        tasks.complete(s, ctx, sc.one_task(sessions, iid, "tally"), sc.SECRETARY, {"council_results": forged})
    results = {r["candidate_id"]: r for r in sc.tally(sessions, ctx, iid)}
    assert results["cstd-an"]["agree"] == 1 and not results["cstd-binh"]["passed"]
