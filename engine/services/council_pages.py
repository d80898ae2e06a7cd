"""Read-only views of the Council meeting's reserved tasks for the web pages and the API.

What a page may show: the agenda, the directory's members with their names, who has taken part, counts after the
tally and the minutes' documents — never a ballot's choices (they are not stored beside anyone; see ballots.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core.runtime import find_task
from engine.core.tally import ballot_lines
from engine.errors import EngineError
from engine.persistence.models import BallotParticipation, CouncilMeeting, HumanTask, InstanceDocument, User
from engine.services.context import EngineContext
from engine.services.council_meeting import council_members, council_rules
from engine.services.instance_store import OPEN, load_instance
from engine.services.minutes import KIND, documents_of


@dataclass
class CouncilTask:
    """What the page of one reserved council task needs."""

    form_key: str
    open: bool
    meeting: CouncilMeeting | None = None
    candidates: list[dict[str, Any]] = field(default_factory=list)  # the agenda (withdrawn left out once convened)
    members: list[tuple[str, str]] = field(default_factory=list)  # (user id, full name)
    voter: str | None = None  # the member of a ballot, the absent member of a written vote
    voter_name: str | None = None
    lines: list[dict[str, Any]] = field(default_factory=list)  # the candidates on the voter's ballot
    has_voted: bool = False
    participants: int = 0
    award_names: dict[str, str] = field(default_factory=dict)


def award_names() -> dict[str, str]:
    """Award codes to their Vietnamese names, from the council rules (the latest set naming each award)."""
    names: dict[str, str] = {}
    try:
        sets = council_rules()
    except EngineError:
        return names
    for rule_set in sorted(sets, key=lambda r: r.effective_from):
        for code, threshold in rule_set.thresholds.items():
            if threshold.name:
                names[code] = threshold.name
    return names


def _names(session: Session, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    return {uid: name for uid, name in session.execute(select(User.id, User.full_name).where(User.id.in_(ids)))}


def _task_data(session: Session, ctx: EngineContext, row: HumanTask) -> dict[str, Any]:
    """The Spiff task's data (a closed task's too, while its instance keeps it: the meeting it belonged to)."""
    try:
        loaded = load_instance(session, ctx, row.instance_id)
    except EngineError:
        return {}
    task = find_task(loaded.workflow, row.task_guid)
    return dict(task.data) if task is not None else {}


def participated(session: Session, meeting_id: int, user_id: str) -> bool:
    query = select(BallotParticipation.id).where(
        BallotParticipation.meeting_id == meeting_id, BallotParticipation.user_id == user_id
    )
    return session.scalar(query) is not None


def council_task(session: Session, ctx: EngineContext, row: HumanTask) -> CouncilTask:
    """The read-only context of a reserved council task (no permission check: the caller has done it)."""
    data = _task_data(session, ctx, row)
    view = CouncilTask(form_key=row.form_key or "", open=row.status in OPEN, award_names=award_names())
    meeting = session.get(CouncilMeeting, data["meeting_id"]) if data.get("meeting_id") else None
    view.meeting = meeting
    if meeting is not None:
        out = set(meeting.withdrawn or [])
        view.candidates = [c for c in meeting.candidates if c["candidate_id"] not in out]
        view.participants = len(
            list(session.scalars(select(BallotParticipation.id).where(BallotParticipation.meeting_id == meeting.id)))
        )
    elif isinstance(data.get("candidates"), list):
        view.candidates = [c for c in data["candidates"] if isinstance(c, dict)]
    if row.form_key == "council_attendance":
        ids = council_members(session, str(data.get("council_unit") or row.unit_id or "") or None)
        names = _names(session, ids)
        view.members = [(i, names.get(i, i)) for i in ids]
    voter = None
    if row.form_key == "council_ballot":
        voter = str(data.get("member") or row.assignee or "")
    elif row.form_key == "council_written_ballot":
        voter = str(data.get("absent_member") or "")
    if voter:
        view.voter = voter
        view.voter_name = _names(session, [voter]).get(voter, voter)
        if meeting is not None:
            on_ballot = set(ballot_lines(view.candidates, voter))
            view.lines = [c for c in view.candidates if c["candidate_id"] in on_ballot]
            view.has_voted = participated(session, meeting.id, voter)
    return view


def meeting_documents(session: Session, meeting: CouncilMeeting) -> list[InstanceDocument]:
    """The minutes of this sitting (HTML and PDF), newest sitting's documents of the instance."""
    return documents_of(session, meeting.instance_id, KIND)
