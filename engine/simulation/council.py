"""Simulated Council members: the Council meeting's tasks go through its own services, never ``tasks.complete``.

The secretary convenes on the day, records who attends (one or two members away some days), enters or skips the
absent members' written votes, and tallies; each present member casts their own secret ballot.
"""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy.orm import Session

from engine.core.tally import ballot_lines
from engine.persistence.models import HumanTask
from engine.services import ballots, council_meeting
from engine.services.context import EngineContext
from engine.services.council_meeting import meeting_of
from engine.simulation.officers import Behaviour

COUNCIL_FORMS = {"council_convene", "council_attendance", "council_written_ballot", "council_ballot", "council_tally"}


def _choices(session: Session, data: dict[str, Any], voter: str, rng: random.Random, b: Behaviour) -> dict[str, str]:
    meeting = meeting_of(session, data)
    withdrawn = set(meeting.withdrawn or [])
    agenda = [c for c in meeting.candidates if c["candidate_id"] not in withdrawn]
    return {cid: "agree" if rng.random() < b.council_agree else "disagree" for cid in ballot_lines(agenda, voter)}


def act(
    session: Session,
    ctx: EngineContext,
    row: HumanTask,
    user: str,
    data: dict[str, Any],
    rng: random.Random,
    b: Behaviour,
) -> None:
    """Do what the person on ``row`` does at a Council meeting."""
    if row.form_key == "council_convene":
        council_meeting.convene(session, ctx, row.id, user, meeting_date=ctx.now().date(), place="Hội trường UBND tỉnh")
    elif row.form_key == "council_attendance":
        members = council_meeting.council_members(session, row.unit_id)
        away = set(rng.sample(members, rng.randint(0, min(2, len(members)))))
        council_meeting.record_attendance(session, ctx, row.id, user, [m for m in members if m not in away])
    elif row.form_key == "council_written_ballot":
        voter = str(data.get("absent_member") or "")
        if rng.random() < 0.5:
            ballots.cast_ballot(session, ctx, row.id, user, _choices(session, data, voter, rng, b), written=True)
        else:
            ballots.record_no_written_vote(session, ctx, row.id, user)
    elif row.form_key == "council_ballot":
        voter = row.assignee or user
        ballots.cast_ballot(session, ctx, row.id, voter, _choices(session, data, voter, rng, b))
    elif row.form_key == "council_tally":
        ballots.tally_meeting(session, ctx, row.id, user)
