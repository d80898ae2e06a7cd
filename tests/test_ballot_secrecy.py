"""Every route by which someone could link a Council member to what they voted, tried after a real meeting.

The meeting: 11 members, 10 present, one written vote, three candidates (tests/fixtures/council/scenario.py).
Participation (who voted) is public; the routes below must give nothing that ties a voter to a choice.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import inspect, select, text

from engine.core.runtime import state_json
from engine.persistence.models import (
    AuditEvent,
    BallotBox,
    BallotParticipation,
    BallotSlip,
    CouncilMeeting,
    HumanTask,
    Instance,
    InstanceDocument,
)
from engine.services import instances
from engine.services.context import EngineContext
from tests.conftest import IS_POSTGRES
from tests.fixtures.council import scenario as sc

CHOICE_WORDS = {"agree", "disagree"}


@pytest.fixture
def ctx(clock):
    return EngineContext(clock)


def strings_in(value: Any) -> set[str]:
    """Every string value (not key) anywhere in a JSON-like structure."""
    if isinstance(value, dict):
        return set().union(*(strings_in(v) for v in value.values())) if value else set()
    if isinstance(value, list | tuple):
        return set().union(*(strings_in(v) for v in value)) if value else set()
    return {value} if isinstance(value, str) else set()


@pytest.fixture
def voted(sessions, ctx, caplog):
    caplog.set_level(logging.DEBUG, logger="engine")
    caplog.set_level(logging.DEBUG, logger="SpiffWorkflow")
    sc.setup(sessions, ctx)
    iid, results = sc.run_full_meeting(sessions, ctx)
    return iid


def test_no_choice_in_task_data_instance_data_or_saved_state(sessions, ctx, voted):
    with sessions() as s:
        loaded = instances.load_instance(s, ctx, voted)
        for task in loaded.workflow.get_tasks():
            assert not strings_in(task.data) & CHOICE_WORDS, task.task_spec.bpmn_id
            assert "choices" not in task.data
        assert not strings_in(instances.instance_data(s, ctx, voted)) & CHOICE_WORDS
        state = s.get(Instance, voted).state
        assert not strings_in(json.loads(state_json(state))) & CHOICE_WORDS
        # "agree" appears in the state only as a key of council_results' counts, never as a value.
        assert b'"agree"' not in state.replace(b'"agree":', b"")


def test_no_choice_in_any_audit_event_and_participation_is_recorded(sessions, voted):
    with sessions() as s:
        events = s.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        for event in events:
            assert not strings_in(event.data) & CHOICE_WORDS, event.action
        voters = Counter(e.data["member"] for e in events if e.action == "council.voted")
        assert voters == Counter(sc.MEMBERS)
        written = [e.data["member"] for e in events if e.action == "council.voted" and e.data["written"]]
        assert written == ["m11"]


def test_no_choice_in_task_rows(sessions, voted):
    with sessions() as s:
        for row in s.scalars(select(HumanTask)):
            values = {c.key: getattr(row, c.key) for c in inspect(HumanTask).column_attrs}
            assert not strings_in(values) & CHOICE_WORDS


def test_the_tables_keep_who_and_what_apart(sessions, voted):
    slip_columns = {c.name for c in BallotSlip.__table__.columns}
    assert slip_columns == {"id", "meeting_id", "candidate_id", "choice"}  # no voter, no time, no ballot grouping
    participation_columns = {c.name for c in BallotParticipation.__table__.columns}
    assert participation_columns == {"id", "meeting_id", "user_id", "written"}  # no choice, no time
    assert {c.name for c in BallotBox.__table__.columns} == {"meeting_id", "slips", "ballots"}
    with sessions() as s:
        assert s.scalars(select(BallotBox)).all() == []  # the box is emptied at the tally
        participants = s.scalars(select(BallotParticipation.user_id).order_by(BallotParticipation.id)).all()
        assert participants == ["m11", *sc.MEMBERS[:10]]  # who voted, in casting order: public
        slips = s.execute(select(BallotSlip.candidate_id, BallotSlip.choice).order_by(BallotSlip.id)).all()
    # Slips in casting order would be each voter's lines one after another; the stored order is a fresh shuffle.
    cast_order = [(cid, sc.PLAN[m][cid]) for m in participants for cid in sc.PLAN[m]]
    assert sorted(map(tuple, slips)) == sorted(cast_order)
    assert [tuple(x) for x in slips] != cast_order  # ~1e-13 chance of a shuffle landing on it
    # Grouping consecutive slips into ballots does not give back the voters' ballots either.
    ballots_by_position = [tuple(slips[i : i + 3]) for i in range(0, len(slips), 3)]
    voter_ballots = [tuple((cid, sc.PLAN[m][cid]) for cid in sc.PLAN[m]) for m in participants]
    assert ballots_by_position != voter_ballots


def test_the_box_during_voting_holds_no_voter_and_is_reshuffled(sessions, ctx):
    sc.setup(sessions, ctx)
    iid = sc.start(sessions, ctx)
    meeting_id = sc.convene(sessions, ctx, iid)
    sc.attend(sessions, ctx, iid, sc.MEMBERS)
    for member in sc.MEMBERS[:6]:
        sc.vote(sessions, ctx, iid, member, sc.PLAN[member])
    with sessions() as s:
        box = s.get(BallotBox, meeting_id)
        raw = json.dumps(box.slips)
        assert box.ballots == 6 and len(box.slips) == 18
        assert all(len(slip) == 2 for slip in box.slips)  # [candidate, choice]: nothing else
        assert not any(m in raw for m in sc.MEMBERS)
        meeting = s.get(CouncilMeeting, meeting_id)
        assert meeting.results == [] and meeting.ballots_cast is None


@pytest.mark.skipif(not IS_POSTGRES, reason="xmin is PostgreSQL's")
def test_postgres_xmin_does_not_link_a_slip_to_a_participation(sessions, voted):
    with sessions() as s:
        slip_tx = set(s.scalars(text("SELECT xmin::text FROM ballot_slip")))
        participation_tx = set(s.scalars(text("SELECT xmin::text FROM ballot_participation")))
    assert len(slip_tx) == 1  # every slip written by the tally's one transaction
    assert len(participation_tx) == 11  # each member's own transaction
    assert not slip_tx & participation_tx


def test_the_minutes_hold_counts_not_votes(sessions, voted):
    with sessions() as s:
        html = next(
            d.content.decode() for d in s.scalars(select(InstanceDocument)) if d.media_type.startswith("text/html")
        )
    assert "agree" not in html and "disagree" not in html
    for name in ("Nguyễn Văn Minh", "Ngô Thị Thu"):  # members appear once, in the attendance line
        assert html.count(name) == 1


def test_nothing_is_logged_that_names_a_choice(voted, caplog):
    for record in caplog.records:
        message = record.getMessage()
        assert "agree" not in message and "choices" not in message, message


def test_the_meeting_view_for_the_api_shows_participation_and_counts_only(sessions, voted):
    from engine.services.council_meeting import meeting_view

    with sessions() as s:
        meeting_id = s.scalars(select(CouncilMeeting.id)).one()
        view = meeting_view(s, meeting_id)
    assert not strings_in(view) & CHOICE_WORDS
    assert [p["user_id"] for p in view["participants"]] == sorted(sc.MEMBERS)  # sorted, not in casting order
    assert view["ballots_cast"] == 11 and "slips" not in json.dumps(view)
