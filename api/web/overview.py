"""The campaign at a glance: per unit, its open tasks, how many are overdue and how far they were escalated."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from api.authz import report_scope, require_user
from api.context import engine_context, read_sessions
from engine.services.views import unit_overview

bp = Blueprint("overview", __name__)


@bp.get("/overview")
def overview() -> Any:
    p = require_user()
    scope = report_scope(p)
    ctx = engine_context()
    with read_sessions()() as db:
        units = unit_overview(db, ctx, unit_ids=scope)
    return render_template("overview.html", user=p, units=units, now=ctx.now())
