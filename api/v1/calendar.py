"""The business calendar: a year's non-working weekdays, worked weekend days and admin overrides (every user);
setting or removing an override (administrators)."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, jsonify, request

from api.authz import require_user
from api.context import engine_context, read_sessions, sessions
from api.v1.schemas import CalendarOut, OverrideIn, OverrideOut, YearQuery
from api.v1.serialize import iso
from api.v1.spec import api, responses
from engine.errors import NotFoundError, ValidationError
from engine.persistence.models import CalendarOverride
from engine.services.calendar import list_overrides, remove_day, set_day

bp = Blueprint("calendar", __name__)
TAGS = ("calendar",)
DAY = "string"  # documented as a date (api.v1.spec.document), checked by _day


def _override(row: CalendarOverride) -> dict[str, Any]:
    return {
        "day": row.day.isoformat(),
        "working": row.working,
        "note": row.note,
        "changed_by": row.changed_by,
        "changed_at": iso(row.changed_at),
    }


def _day(raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationError("day must be a date (YYYY-MM-DD)", {"fields": {"day": "a date, YYYY-MM-DD"}})


@bp.get("/calendar")
@api.validate(query=YearQuery, resp=responses(HTTP_200=CalendarOut), tags=TAGS)
def year() -> Any:
    """The year's non-working weekdays (holidays, swaps), worked weekend days, and the overrides behind them."""
    q: YearQuery = request.context.query  # type: ignore[attr-defined]
    cal = engine_context().calendar
    with read_sessions()() as db:
        overrides = [_override(r) for r in list_overrides(db, q.year)]

    def days(found: list[date], working: bool) -> list[dict[str, Any]]:
        return [{"day": d.isoformat(), "working": working, "note": cal.name_of(d)} for d in found]

    return jsonify(
        year=q.year,
        non_working_weekdays=days(cal.non_working_weekdays(q.year), False),
        working_weekend_days=days(cal.worked_weekend_days(q.year), True),
        overrides=overrides,
    )


@bp.put(f"/calendar/overrides/<{DAY}:day>")
@api.validate(json=OverrideIn, resp=responses(HTTP_200=OverrideOut), tags=TAGS)
def put_override(day: str) -> Any:
    """Make the day (YYYY-MM-DD) a working day or a day off, whatever the public calendar says."""
    p = require_user()
    when = _day(day)
    data: OverrideIn = request.context.json  # type: ignore[attr-defined]
    ctx = engine_context()
    with sessions()() as db, db.begin():
        answer = _override(set_day(db, ctx.clock, when, data.working, p.user_id, data.note))
        ctx.reload_calendar(db)
    return jsonify(answer)


@bp.delete(f"/calendar/overrides/<{DAY}:day>")
@api.validate(resp=responses(HTTP_204=None), tags=TAGS)
def delete_override(day: str) -> Any:
    """Drop the day's override (back to the public calendar)."""
    p = require_user()
    when = _day(day)
    ctx = engine_context()
    with sessions()() as db, db.begin():
        if not remove_day(db, ctx.clock, when, p.user_id):
            raise NotFoundError(f"{when.isoformat()} has no override")
        ctx.reload_calendar(db)
    return "", 204
