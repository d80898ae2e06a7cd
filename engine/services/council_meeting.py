"""The Council meeting's secretary steps: convene (date, place, agenda) and record attendance (members, quorum).

The process ``bpmn/council_meeting.bpmn`` reserves its tasks (``tasks.RESERVED_FORM_KEYS``): the member list
comes from the directory (active holders of ``council_member`` in the unit of the secretary's task), the quorum
and thresholds from ``rules/council.yaml``, never from what a form says. Ballots: ``engine/services/ballots.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.core.runtime import find_task
from engine.core.tally import RuleSet, agenda_of, check_candidates, parse_rules, rule_set_from_dict, rules_in_force
from engine.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from engine.persistence.models import BallotBox, BallotParticipation, CouncilMeeting, HumanTask, Membership, User
from engine.services.context import EngineContext
from engine.services.directory import may_work_on_task
from engine.services.instance_store import OPEN, LoadedInstance, load_instance
from engine.services.tasks import complete_reserved

RULES_FILE = Path(__file__).resolve().parents[2] / "rules" / "council.yaml"
MEMBER_ROLE = "council_member"


@lru_cache(maxsize=8)
def _rules_from(path: str, mtime: float) -> tuple[RuleSet, ...]:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ValidationError(f"{path}: cannot read the council rules: {err}", {"fields": {path: str(err)}})
    return tuple(parse_rules(raw, path))


def council_rules(path: Path | None = None) -> list[RuleSet]:
    """The rule sets of ``rules/council.yaml`` (or ``path``), re-read when the file changes."""
    target = path or RULES_FILE
    try:
        mtime = target.stat().st_mtime
    except OSError:
        raise NotFoundError(f"council rules file {target} not found")
    return list(_rules_from(str(target), mtime))


def task_and_data(
    session: Session, ctx: EngineContext, task_id: int, form_keys: tuple[str, ...], user_id: str
) -> tuple[HumanTask, dict[str, Any], LoadedInstance]:
    """An open council task of one of ``form_keys`` that ``user_id`` may work on, a copy of its Spiff data, and
    the restored instance (for ``complete_reserved(..., loaded=...)``, so the step restores it once).

    Checked before anything is written. A ballot belongs to its assignee alone; the secretary's tasks to whoever
    holds the lane's role in the task's unit (or is named on it). No administrator override: these are the
    Council's own acts.
    """
    row = session.get(HumanTask, task_id)
    if row is None:
        raise NotFoundError(f"task {task_id} not found")
    if row.form_key not in form_keys:
        raise ValidationError(
            f"task {task_id} ({row.element_id}) is not a {' or '.join(form_keys)} task",
            {"fields": {"task_id": f"form key is {row.form_key!r}"}},
        )
    if row.status not in OPEN:
        raise ConflictError(f"task {task_id} is already {row.status}")
    allowed = row.assignee == user_id
    if row.form_key != "council_ballot" and not allowed:
        allowed = may_work_on_task(session, user_id, row, ctx.now())
    if not allowed:
        raise PermissionDeniedError(f"user {user_id} may not work on task {task_id} ({row.element_id})")
    loaded = load_instance(session, ctx, row.instance_id)
    task = find_task(loaded.workflow, row.task_guid)
    if task is None:
        raise ConflictError(f"task {task_id} no longer exists in instance {row.instance_id}")
    return row, dict(task.data), loaded


def meeting_of(session: Session, data: dict[str, Any], *, status: tuple[str, ...] | None = None) -> CouncilMeeting:
    meeting = session.get(CouncilMeeting, data.get("meeting_id") or 0)
    if meeting is None:
        raise ConflictError("the task's data names no council meeting (meeting_id); convene first")
    if status and meeting.status not in status:
        raise ConflictError(f"council meeting {meeting.id} is {meeting.status}, not {' or '.join(status)}")
    return meeting


def meeting_rules(meeting: CouncilMeeting) -> RuleSet:
    return rule_set_from_dict(meeting.rule_set, f"council meeting {meeting.id} rule_set")


def _date(value: date | str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValidationError(
            f"meeting_date {value!r} is not a date (YYYY-MM-DD)", {"fields": {"meeting_date": "not a date"}}
        )


def convene(
    session: Session,
    ctx: EngineContext,
    task_id: int,
    user_id: str,
    *,
    meeting_date: date | str,
    place: str | None = None,
    withdrawn: Iterable[str] = (),
    rules: list[RuleSet] | None = None,
) -> CouncilMeeting:
    """The secretary convenes a sitting: date, place, the agenda (candidates by award), withdrawals."""
    row, data, loaded = task_and_data(session, ctx, task_id, ("council_convene",), user_id)
    day = _date(meeting_date)
    candidates = check_candidates(data.get("candidates"))
    # The instance keeps the rules in force when it started (``rules_date``, set by the lifecycle processes);
    # a meeting started on its own takes those in force on the meeting date.
    rule_day = _date(data["rules_date"]) if data.get("rules_date") else day
    rule_set = rules_in_force(rules if rules is not None else council_rules(), rule_day)
    ids = {c["candidate_id"] for c in candidates}
    out = [str(w) for w in withdrawn]
    unknown = sorted(set(out) - ids)
    if unknown:
        raise ValidationError(
            f"withdrawn: unknown candidates {unknown}", {"fields": {"withdrawn": "unknown candidate"}}
        )
    agenda = agenda_of(candidates, out, rule_set)  # also refuses an award without a threshold
    for c in candidates:
        rule_set.threshold(c["award"])
    sitting = 1 + (
        session.scalar(
            select(func.count()).select_from(CouncilMeeting).where(CouncilMeeting.instance_id == row.instance_id)
        )
        or 0
    )
    meeting = CouncilMeeting(
        instance_id=row.instance_id,
        sitting=sitting,
        campaign_year=data.get("campaign_year"),
        meeting_date=day,
        place=place,
        candidates=candidates,
        withdrawn=out,
        rule_set=rule_set.as_dict(),
        status="convened",
        convened_by=user_id,
    )
    session.add(meeting)
    session.flush()
    result = {
        "meeting_id": meeting.id,
        "sitting": sitting,
        "meeting_date": day.isoformat(),
        "meeting_place": place,
        "council_agenda": agenda,
        "council_withdrawn": out,
    }
    complete_reserved(session, ctx, task_id, user_id, result, loaded=loaded)
    return meeting


def council_members(session: Session, unit_id: str | None) -> list[str]:
    """Active holders of ``council_member`` in the unit (any unit when None); delegates do not sit on the Council."""
    query = (
        select(Membership.user_id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.role_id == MEMBER_ROLE, User.active.is_(True))
        .distinct()
    )
    if unit_id is not None:
        query = query.where(Membership.unit_id == unit_id)
    return sorted(session.scalars(query))


def record_attendance(
    session: Session, ctx: EngineContext, task_id: int, user_id: str, present: Iterable[str]
) -> CouncilMeeting:
    """Who attends; the quorum check follows in the model (``len(present_members) >= quorum_needed``).

    With quorum the sealed ballot box is set up and the voting window starts; without it the sitting is
    adjourned and the process goes back to convening.
    """
    row, data, loaded = task_and_data(session, ctx, task_id, ("council_attendance",), user_id)
    meeting = meeting_of(session, data, status=("convened",))
    members = council_members(session, str(data.get("council_unit") or row.unit_id or "") or None)
    if not members:
        raise ValidationError(
            f"no active {MEMBER_ROLE} in unit {row.unit_id}", {"fields": {"present": "the Council has no members"}}
        )
    attending = sorted(set(str(p) for p in present))
    strangers = sorted(set(attending) - set(members))
    if strangers:
        raise ValidationError(f"present: not Council members: {strangers}", {"fields": {"present": "not a member"}})
    rule_set = meeting_rules(meeting)
    needed = rule_set.quorum_needed(len(members))
    meeting.members, meeting.present, meeting.quorum_needed = members, attending, needed
    closes = ctx.calendar.add_working_days(ctx.now(), rule_set.voting_window_working_days)
    if len(attending) >= needed:
        meeting.status = "voting"
        session.add(BallotBox(meeting_id=meeting.id, slips=[], ballots=0))
    else:
        meeting.status = "adjourned"
    session.flush()
    result = {
        "council_members": members,
        "present_members": attending,
        "absent_members": [m for m in members if m not in attending],
        "quorum_needed": needed,
        "voting_closes_at": closes.isoformat(),
    }
    complete_reserved(session, ctx, task_id, user_id, result, loaded=loaded)
    return meeting


def meeting_view(session: Session, meeting_id: int) -> dict[str, Any]:
    """What an API may show of a meeting: agenda, attendance, who took part, counts — never the box or the slips."""
    meeting = session.get(CouncilMeeting, meeting_id)
    if meeting is None:
        raise NotFoundError(f"council meeting {meeting_id} not found")
    voted = session.execute(
        select(BallotParticipation.user_id, BallotParticipation.written)
        .where(BallotParticipation.meeting_id == meeting_id)
        .order_by(BallotParticipation.user_id)  # not casting order
    ).all()
    return {
        "id": meeting.id,
        "instance_id": meeting.instance_id,
        "sitting": meeting.sitting,
        "campaign_year": meeting.campaign_year,
        "meeting_date": meeting.meeting_date.isoformat(),
        "place": meeting.place,
        "status": meeting.status,
        "candidates": meeting.candidates,
        "withdrawn": meeting.withdrawn,
        "members": meeting.members,
        "present": meeting.present,
        "quorum_needed": meeting.quorum_needed,
        "rule_set": meeting.rule_set,
        "participants": [{"user_id": u, "written": w} for u, w in voted],
        "ballots_cast": meeting.ballots_cast,
        "results": meeting.results,
    }
