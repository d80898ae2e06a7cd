"""Logging in and out (the Flask session cookie), and who is logged in: /api/v1/session, /api/v1/me."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, session

from api.authz import may_see_reports, may_start_instances, require_user
from api.context import read_sessions
from api.errors import LoginRequired
from api.passwords import authenticate
from api.v1.serialize import body
from engine.errors import ValidationError
from engine.services.views import memberships_of

bp = Blueprint("session", __name__)


def log_in(user_id: str) -> None:
    """A fresh session for the user (never the one from before logging in)."""
    lang = session.get("lang")
    session.clear()
    session["user_id"] = user_id
    if lang:
        session["lang"] = lang


@bp.post("/session")
def create() -> Any:
    data = body()
    fields = {k: "required" for k in ("user", "password") if not isinstance(data.get(k), str) or not data.get(k)}
    if fields:
        raise ValidationError("user and password are required", {"fields": fields})
    with read_sessions()() as db:
        user = authenticate(db, data["user"], data["password"])
    if user is None:
        raise LoginRequired(description="wrong user name or password")
    log_in(user.id)
    return jsonify(user=user.id, full_name=user.full_name)


@bp.delete("/session")
def delete() -> Any:
    session.clear()
    return "", 204


@bp.get("/me")
def me() -> Any:
    p = require_user()
    with read_sessions()() as db:
        memberships = memberships_of(db, p.user_id)
    return jsonify(
        user=p.user_id,
        full_name=p.full_name,
        capabilities=sorted(p.capabilities),
        memberships=[
            {"role": m.role_id, "role_name": m.role_name, "unit": m.unit_id, "unit_name": m.unit_name}
            for m in memberships
        ],
        acting_roles=[{"role": r, "unit": u} for r, u in sorted(p.roles)],
        can={
            "start_instances": may_start_instances(p),
            "see_reports": may_see_reports(p),
            "see_all_instances": p.sees_every_unit,
            "read_all_audit": p.is_admin or p.is_auditor,
        },
    )
