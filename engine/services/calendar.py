"""The business calendar: the state's notices shipped in rules/calendar.yaml, under the admin's overrides from the
database (which win), and changing an override (audited)."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core.business_calendar import BusinessCalendar
from engine.errors import ValidationError
from engine.persistence.models import CalendarOverride
from engine.services.audit import append_event
from engine.services.data_files import read_yaml

# The state's notices the holidays package lags behind on (rules/calendar.yaml): shipped data, read, never stored.
NOTICES_FILE = Path(__file__).resolve().parents[2] / "rules" / "calendar.yaml"


def parse_notices(raw: Any, source: str = "calendar") -> tuple[dict[date, bool], dict[date, str]]:
    """(day -> working, day -> note) from the parsed notices file; entries marked ``confirmed: false`` only note."""
    if not isinstance(raw, dict) or not isinstance(raw.get("notices"), list):
        raise ValidationError(f"{source}: expected a mapping with a 'notices' list")
    days: dict[date, bool] = {}
    notes: dict[date, str] = {}
    for index, entry in enumerate(raw["notices"]):
        where = f"{source}: notices[{index}]"
        day = entry.get("day") if isinstance(entry, dict) else None
        if isinstance(day, datetime) or not isinstance(day, date) or not isinstance(entry.get("working"), bool):
            raise ValidationError(f"{where}: each notice needs 'day' (YYYY-MM-DD) and 'working' (true/false)")
        if day in days or day in notes:
            raise ValidationError(f"{where}: {day.isoformat()} is listed twice")
        if entry.get("confirmed", True) is not False:
            days[day] = entry["working"]
        if entry.get("note"):
            notes[day] = str(entry["note"])
    return days, notes


@lru_cache(maxsize=4)
def state_notices(path: Path = NOTICES_FILE) -> tuple[dict[date, bool], dict[date, str]]:
    """The shipped notices (read once per process); no file, no notices."""
    if not path.exists():
        return {}, {}
    return parse_notices(read_yaml(path, "calendar"), str(path))


def shipped_calendar() -> BusinessCalendar:
    """The public calendar with the state's shipped notices, before any admin override."""
    days, notes = state_notices()
    return BusinessCalendar(days, notes)


def load_calendar(session: Session) -> BusinessCalendar:
    """The shipped notices under every override stored (a few rows a year, so all of them): an override wins."""
    days, notes = state_notices()
    rows = session.execute(select(CalendarOverride.day, CalendarOverride.working, CalendarOverride.note)).all()
    stored = {r.day: r.working for r in rows}
    # A day the admin set shows the admin's note (or none), not the notice's.
    shown = {d: n for d, n in notes.items() if d not in stored}
    return BusinessCalendar({**days, **stored}, {**shown, **{r.day: r.note for r in rows if r.note}})


def list_overrides(session: Session, year: int | None = None) -> list[CalendarOverride]:
    query = select(CalendarOverride).order_by(CalendarOverride.day)
    if year is not None:
        query = query.where(CalendarOverride.day >= date(year, 1, 1), CalendarOverride.day < date(year + 1, 1, 1))
    return list(session.scalars(query))


def set_day(
    session: Session, clock: Clock, day: date, working: bool, actor: str | None, note: str | None = None
) -> CalendarOverride:
    """Make ``day`` a working day or a day off, whatever the public calendar says; audited as calendar.changed."""
    if not isinstance(day, date):
        raise ValidationError("day must be a date", details={"fields": {"day": "must be a date"}})
    if note is not None and len(note) > 255:
        raise ValidationError("note is too long", details={"fields": {"note": "at most 255 characters"}})
    row = session.get(CalendarOverride, day)
    before = None if row is None else {"working": row.working, "note": row.note}
    if row is None:
        row = CalendarOverride(day=day, working=working, note=note, changed_by=actor, changed_at=clock.now())
        session.add(row)
    else:
        row.working, row.note, row.changed_by, row.changed_at = working, note, actor, clock.now()
    session.flush()
    append_event(
        session,
        clock,
        stream="system",
        action="calendar.changed",
        actor=actor,
        data={"day": day.isoformat(), "working": working, "note": note, "before": before},
    )
    return row


def remove_day(session: Session, clock: Clock, day: date, actor: str | None) -> bool:
    """Drop the override of ``day`` (back to the public calendar); False when there was none."""
    row = session.get(CalendarOverride, day)
    if row is None:
        return False
    before = {"working": row.working, "note": row.note}
    session.delete(row)
    session.flush()
    append_event(
        session,
        clock,
        stream="system",
        action="calendar.changed",
        actor=actor,
        data={"day": day.isoformat(), "working": None, "note": None, "before": before},
    )
    return True


def calendar_stamp(session: Session) -> tuple[int, datetime | None]:
    """(override count, last change): cheap to poll, so a long-running process reloads its calendar only when an
    administrator changed something (``if stamp != last: ctx.reload_calendar(session)``)."""
    row = session.execute(select(func.count(), func.max(CalendarOverride.changed_at))).one()
    return int(row[0]), row[1]
