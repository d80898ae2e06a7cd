"""Reports: open, due soon, overdue and escalated tasks per unit and process (Sở Nội vụ: all; a head: theirs)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from api.authz import report_scope, require_user
from api.context import engine_context, read_sessions
from engine.errors import ValidationError
from engine.services.overdue import overdue_report

bp = Blueprint("reports", __name__)


@bp.get("/reports/overdue")
def overdue() -> Any:
    p = require_user()
    scope = report_scope(p, request.args.get("unit") or None)
    raw = request.args.get("soon", "2")
    if not raw.isdigit() or int(raw) > 365:
        raise ValidationError("soon must be a number of working days (0-365)", {"fields": {"soon": "0..365"}})
    with read_sessions()() as db:
        ctx = engine_context()
        one_unit = next(iter(scope)) if scope is not None and len(scope) == 1 else None
        rows = overdue_report(
            db, ctx, unit_id=one_unit, definition_key=request.args.get("process") or None, soon_days=int(raw)
        )
    found = [r.as_dict() for r in rows if scope is None or r.unit_id in scope]
    return jsonify(rows=found, at=ctx.now().isoformat())
