"""The Council's secret ballot: cast (in person or in writing), seal, tally, and let an auditor verify the count.

Design — what a ballot says is stored apart from who cast it, and nothing links the two:

- Casting, in the member's transaction: a ``ballot_participation`` row says *who* voted (and whether in
  writing); the choices are split into one slip per candidate (``[candidate_id, choice]``, no voter, no ballot
  id, no time) and added to the meeting's single ``ballot_box`` row, whose whole list is reshuffled with the
  system's CSPRNG and rewritten. The Spiff task is completed with ``{}``: the choices never enter task data,
  instance data, the saved state, audit events or logs. The audit trail records participation only.
- Tallying, in one transaction: the box's slips are shuffled again, written as ``ballot_slip`` rows in that
  random order (ids and, on PostgreSQL, ``xmin`` are the same for every order of casting), the box row is
  deleted, and only counts go to the meeting row, the process (``council_results``) and the minutes.
- Slips, not whole ballots: a ballot that lacks one candidate (a member does not vote on themself) would
  otherwise single out its voter, and a whole ballot's pattern can identify a voter; per-candidate slips cannot
  be regrouped. A written vote's slips are not marked written (a lone written vote would be identifiable):
  only its participation row is.
- ``verify_tally``: ballots == participants, every candidate has one slip per entitled participant, and the
  stored counts follow from the stored slips.

Threat model. Protected against: an administrator or auditor reading task data, instance data, the
serialized state, audit events, logs or API answers; a database reader who, after the tally, joins
``ballot_participation`` with ``ballot_slip`` by id, order, time or writing transaction (``xmin``); such a
reader after the tally learns only the counts. Not protected against (outside what the application can do):
someone who reads the box between two casts (a live observer of the database, or a restore of a backup taken
mid-vote) and diffs its contents — the box is plain JSON, so with only one cast between two reads the new
slips belong to that caster; PostgreSQL keeps the box's earlier versions as dead tuples until VACUUM (readable
with superuser tools such as pageinspect), SQLite keeps old pages in its WAL until a checkpoint — an operator
should VACUUM ``ballot_box`` after a tally; SQL statement logging with parameters (SQLAlchemy ``echo``, or the
server's ``log_statement = 'all'``) would print each box rewrite next to its participation insert — keep it
off in production (or create the engine with ``hide_parameters=True``); the secretary necessarily reads the
written votes they enter; a server compromised while voting is open. Encrypting the box with a key held
outside the database would close the database-side gaps and is the next hardening step.
"""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from engine.core.tally import CHOICES, ballot_lines, is_self, tally
from engine.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from engine.persistence.models import BallotBox, BallotParticipation, BallotSlip, CouncilMeeting
from engine.services.context import EngineContext
from engine.services.council_meeting import meeting_of, meeting_rules, task_and_data
from engine.services.tasks import complete_reserved

_random = secrets.SystemRandom()


def _agenda_candidates(meeting: CouncilMeeting) -> list[dict[str, Any]]:
    out = set(meeting.withdrawn or [])
    return [c for c in meeting.candidates if c["candidate_id"] not in out]


def _checked_choices(meeting: CouncilMeeting, voter: str, choices: Any) -> list[list[str]]:
    """One ``[candidate_id, choice]`` slip per line of the voter's ballot; anything else is refused."""
    if not isinstance(choices, dict):
        raise ValidationError(
            "choices must map candidate ids to agree or disagree", {"fields": {"choices": "not a mapping"}}
        )
    lines = ballot_lines(_agenda_candidates(meeting), voter)
    problems: dict[str, str] = {}
    for cid in lines:
        if cid not in choices:
            problems[f"choices.{cid}"] = "missing: choose agree or disagree"
        elif choices[cid] not in CHOICES:
            problems[f"choices.{cid}"] = "must be agree or disagree"
    for cid in choices:
        if cid not in lines:
            problems[f"choices.{cid}"] = "not on this ballot (unknown, withdrawn, or the voter themself)"
    if problems:
        # Names the offending lines only, never the valid choices: error texts end up in logs.
        raise ValidationError(f"ballot refused: {len(problems)} line(s) invalid", {"fields": problems})
    return [[cid, str(choices[cid])] for cid in lines]


def _seal(session: Session, meeting: CouncilMeeting, voter: str, written: bool, slips: list[list[str]]) -> None:
    already = select(BallotParticipation.id).where(
        BallotParticipation.meeting_id == meeting.id, BallotParticipation.user_id == voter
    )
    if session.scalar(already) is not None:  # the unique constraint backs this up under concurrency
        raise ConflictError(f"member {voter} has already voted in council meeting {meeting.id}")
    session.execute(insert(BallotParticipation).values(meeting_id=meeting.id, user_id=voter, written=written))
    box = session.scalars(
        select(BallotBox).where(BallotBox.meeting_id == meeting.id).with_for_update()  # one cast at a time
    ).first()
    if box is None:
        raise ConflictError(f"council meeting {meeting.id} has no open ballot box")
    contents = [list(s) for s in box.slips] + slips
    _random.shuffle(contents)
    box.slips = contents
    box.ballots = box.ballots + 1
    session.flush()


def cast_ballot(
    session: Session,
    ctx: EngineContext,
    task_id: int,
    user_id: str,
    choices: dict[str, str],
    written: bool = False,
) -> None:
    """Cast a ballot task (the member themself) or, ``written=True``, enter an absent member's written vote
    (the secretary, on that member's ``written_votes`` task). Completes the task with no data."""
    form_key = "council_written_ballot" if written else "council_ballot"
    row, data, loaded = task_and_data(session, ctx, task_id, (form_key,), user_id)
    meeting = meeting_of(session, data, status=("voting",))
    closes = data.get("voting_closes_at")
    if closes and ctx.now() >= datetime.fromisoformat(str(closes)):  # before the scheduler has fired the timer
        raise ConflictError(f"voting in council meeting {meeting.id} closed at {closes}")
    if written:
        voter = str(data.get("absent_member") or "")
        if not voter or voter in meeting.present:
            raise ConflictError(f"task {task_id} is not an absent member's written vote")
    else:
        voter = str(data.get("member") or "")
        # No delegation and no administrator override: only the member casts their own secret ballot.
        if row.assignee != user_id or voter != user_id:
            raise PermissionDeniedError(f"only the member it belongs to may cast ballot task {task_id}")
    slips = _checked_choices(meeting, voter, choices)
    _seal(session, meeting, voter, written, slips)
    event = {
        "action": "council.voted",
        "task_guid": row.task_guid,
        "element_id": row.element_id,
        "data": {"meeting_id": meeting.id, "member": voter, "written": written},
    }
    complete_reserved(session, ctx, task_id, user_id, {}, events=[event], loaded=loaded)


def record_no_written_vote(session: Session, ctx: EngineContext, task_id: int, user_id: str) -> None:
    """The absent member sent no written vote: their task closes and no ballot is added."""
    row, data, loaded = task_and_data(session, ctx, task_id, ("council_written_ballot",), user_id)
    meeting = meeting_of(session, data, status=("voting",))
    event = {
        "action": "council.no_written_vote",
        "task_guid": row.task_guid,
        "element_id": row.element_id,
        "data": {"meeting_id": meeting.id, "member": data.get("absent_member")},
    }
    complete_reserved(session, ctx, task_id, user_id, {}, events=[event], loaded=loaded)


def tally_meeting(session: Session, ctx: EngineContext, task_id: int, user_id: str) -> list[dict[str, Any]]:
    """Open the box, store its slips in random order, count, write the minutes, and return ``council_results``."""
    from engine.services.minutes import store_minutes  # minutes render from the tally; imported late to stay light

    row, data, loaded = task_and_data(session, ctx, task_id, ("council_tally",), user_id)
    meeting = meeting_of(session, data, status=("voting",))
    box = session.scalars(select(BallotBox).where(BallotBox.meeting_id == meeting.id).with_for_update()).first()
    if box is None:
        raise ConflictError(f"council meeting {meeting.id} has no ballot box")
    slips = [(str(cid), str(choice)) for cid, choice in box.slips]
    _random.shuffle(slips)
    if slips:
        session.execute(
            insert(BallotSlip), [{"meeting_id": meeting.id, "candidate_id": c, "choice": v} for c, v in slips]
        )
    ballots = box.ballots
    session.execute(delete(BallotBox).where(BallotBox.meeting_id == meeting.id))
    session.expunge(box)
    results = tally(
        meeting.candidates, meeting.withdrawn, meeting.members, meeting.present, slips, meeting_rules(meeting)
    )
    output = [r.as_output() for r in results]
    meeting.results, meeting.ballots_cast = output, ballots
    meeting.status, meeting.tallied_by, meeting.tallied_at = "tallied", user_id, ctx.now()
    session.flush()
    documents = store_minutes(session, ctx, meeting)
    event = {
        "action": "council.tallied",
        "task_guid": row.task_guid,
        "element_id": row.element_id,
        "data": {"meeting_id": meeting.id, "ballots": ballots, "results": output, "documents": documents},
    }
    complete_reserved(
        session,
        ctx,
        task_id,
        user_id,
        {"council_results": output, "minutes_documents": documents},
        events=[event],
        loaded=loaded,
    )
    return output


@dataclass
class TallyCheck:
    """What an auditor's check of a meeting's count found; ``ok`` when ``problems`` is empty."""

    meeting_id: int
    participants: int
    ballots: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_tally(session: Session, meeting_id: int) -> TallyCheck:
    """Ballots == participants; one slip per entitled participant per candidate; counts follow from the slips."""
    meeting = session.get(CouncilMeeting, meeting_id)
    if meeting is None:
        raise NotFoundError(f"council meeting {meeting_id} not found")
    voters = list(
        session.scalars(select(BallotParticipation.user_id).where(BallotParticipation.meeting_id == meeting_id))
    )
    check = TallyCheck(meeting_id, len(voters), meeting.ballots_cast or 0)
    if meeting.status != "tallied":
        check.problems.append(f"meeting is {meeting.status}, not tallied")
        return check
    if session.get(BallotBox, meeting_id) is not None:
        check.problems.append("the ballot box was not emptied")
    if check.ballots != check.participants:
        check.problems.append(f"{check.ballots} ballots but {check.participants} participants")
    slips = [
        (c, v)
        for c, v in session.execute(
            select(BallotSlip.candidate_id, BallotSlip.choice).where(BallotSlip.meeting_id == meeting_id)
        )
    ]
    per_candidate = Counter(c for c, _ in slips)
    for candidate in _agenda_candidates(meeting):
        cid = candidate["candidate_id"]
        entitled = sum(1 for v in voters if not is_self(candidate, v))
        if per_candidate.get(cid, 0) != entitled:
            check.problems.append(f"candidate {cid}: {per_candidate.get(cid, 0)} slips for {entitled} entitled voters")
    stray = set(per_candidate) - {c["candidate_id"] for c in _agenda_candidates(meeting)}
    if stray:
        check.problems.append(f"slips for candidates not on the agenda: {sorted(stray)}")
    recount = tally(
        meeting.candidates, meeting.withdrawn, meeting.members, meeting.present, slips, meeting_rules(meeting)
    )
    if [r.as_output() for r in recount] != meeting.results:
        check.problems.append("the stored results do not follow from the stored slips")
    return check
