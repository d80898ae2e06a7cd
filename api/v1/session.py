"""Logging in and out (a server-side session: api/security.py), who is logged in (/api/v1/session, /api/v1/me),
and API tokens for systems (/api/v1/tokens).

Tokens are managed from a logged-in session only (not with a token: a leaked token cannot mint or keep alive
others): a user creates, lists and revokes their own; an administrator anyone's.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, make_response, request

from api.authz import Principal, may_see_reports, may_start_instances, require_user
from api.context import engine_context, read_sessions, sessions
from api.errors import LoginRequired
from api.security import log_in, log_out, request_credential, set_session_cookie
from api.v1.serialize import body, iso
from engine.errors import NotFoundError, PermissionDeniedError, ValidationError
from engine.persistence.models import ApiToken
from engine.services.accounts import DEFAULT_TOKEN_DAYS, create_token, get_token, list_tokens, revoke_token
from engine.services.views import memberships_of

bp = Blueprint("session", __name__)


def too_many_attempts(retry_after: int) -> Any:
    minutes = -(-retry_after // 60)
    message = f"too many failed logins for this user or address; try again in {minutes} minute(s)"
    answer = jsonify(error={"code": "too_many_requests", "message": message, "details": {"retry_after": retry_after}})
    return answer, 429, {"Retry-After": str(retry_after)}


@bp.post("/session")
def create() -> Any:
    data = body()
    fields = {k: "required" for k in ("user", "password") if not isinstance(data.get(k), str) or not data.get(k)}
    if fields:
        raise ValidationError("user and password are required", {"fields": fields})
    outcome = log_in(data["user"], data["password"])
    if outcome.retry_after is not None:
        return too_many_attempts(outcome.retry_after)
    if outcome.token is None:
        raise LoginRequired(description="wrong user name or password")
    answer = jsonify(user=outcome.user_id, full_name=outcome.full_name)
    set_session_cookie(answer, outcome.token)
    return answer


@bp.delete("/session")
def delete() -> Any:
    answer = make_response("", 204)
    log_out(answer)
    return answer


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


def token_json(row: ApiToken) -> dict[str, Any]:
    return {
        "id": row.id,
        "prefix": row.prefix,
        "user": row.user_id,
        "name": row.name,
        "scopes": row.scopes,
        "created_at": iso(row.created_at),
        "created_by": row.created_by,
        "expires_at": iso(row.expires_at),
        "revoked_at": iso(row.revoked_at),
        "revoked_by": row.revoked_by,
    }


def _token_manager() -> Principal:
    p = require_user()
    credential = request_credential()
    if credential is not None and credential.token_id is not None:
        raise PermissionDeniedError("API tokens are managed from a logged-in session, not with an API token")
    return p


@bp.post("/tokens")
def create_api_token() -> Any:
    p = _token_manager()
    data = body()
    user_id = p.user_id if data.get("user") is None else data["user"]
    if user_id != p.user_id and not p.is_admin:
        raise PermissionDeniedError("only administrators create tokens for other users")
    if not isinstance(user_id, str):
        raise ValidationError("user must be a login name", {"fields": {"user": "must be a string"}})
    ctx = engine_context()
    with sessions()() as db, db.begin():
        row, secret = create_token(
            db,
            ctx.clock,
            user_id=user_id,
            name=data.get("name"),
            scopes=["read"] if data.get("scopes") is None else data["scopes"],
            days=DEFAULT_TOKEN_DAYS if data.get("days") is None else data["days"],
            actor=p.user_id,
        )
        answer = token_json(row) | {"token": secret}
    return jsonify(answer), 201


@bp.get("/tokens")
def list_api_tokens() -> Any:
    p = _token_manager()
    wanted = request.args.get("user")
    if not p.is_admin:
        if wanted not in (None, p.user_id):
            raise PermissionDeniedError("only administrators list other users' tokens")
        wanted = p.user_id
    with read_sessions()() as db:
        rows = list_tokens(db, wanted)
        return jsonify(tokens=[token_json(r) for r in rows])


@bp.delete("/tokens/<int:token_id>")
def revoke_api_token(token_id: int) -> Any:
    p = _token_manager()
    with sessions()() as db, db.begin():
        row = get_token(db, token_id)
        if row.user_id != p.user_id and not p.is_admin:
            raise NotFoundError(f"token {token_id} not found")  # others' tokens are not even shown to exist
        revoke_token(db, engine_context().clock, token_id, actor=p.user_id)
    return "", 204
