"""Reports: open, due soon, overdue and escalated tasks per unit and process (Sở Nội vụ: all; a head: theirs)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from api.authz import report_scope, require_user
from api.context import engine_context, read_sessions
from api.v1.schemas import OverdueOut, OverdueQuery
from api.v1.spec import api, responses
from engine.services.overdue import overdue_report

bp = Blueprint("reports", __name__)


@bp.get("/reports/overdue")
@api.validate(query=OverdueQuery, resp=responses(HTTP_200=OverdueOut), tags=("reports",))
def overdue() -> Any:
    """Open, due soon (within ``soon`` working days), overdue and escalated tasks per unit and process."""
    p = require_user()
    q: OverdueQuery = request.context.query  # type: ignore[attr-defined]
    scope = report_scope(p, q.unit or None)
    with read_sessions()() as db:
        ctx = engine_context()
        one_unit = next(iter(scope)) if scope is not None and len(scope) == 1 else None
        rows = overdue_report(db, ctx, unit_id=one_unit, definition_key=q.process or None, soon_days=q.soon)
    found = [r.as_dict() for r in rows if scope is None or r.unit_id in scope]
    return jsonify(rows=found, at=ctx.now().isoformat())
