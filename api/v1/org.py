"""The organisation: units and roles for every user; users, memberships and delegations for administrators,
auditors and Sở Nội vụ; creating or changing any of them for administrators (the shape of ``demo/org.yaml``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from api.authz import require_user
from api.context import engine_context, read_sessions, sessions
from api.v1.schemas import Delegations, Memberships, OrgIn, OrgLoadOut, Roles, Units, UserFilter, Users
from api.v1.serialize import iso
from api.v1.spec import api, responses
from engine.services import api_reads
from engine.services.org import load_org

bp = Blueprint("org", __name__)
TAGS = ("organisation",)


@bp.get("/org/units")
@api.validate(resp=responses(HTTP_200=Units), tags=TAGS)
def units() -> Any:
    """Every org unit with its kind and parent."""
    with read_sessions()() as db:
        rows = api_reads.units(db)
        found = [{"id": u.id, "name": u.name, "kind": u.kind, "parent": u.parent_id} for u in rows]
    return jsonify(units=found)


@bp.get("/org/roles")
@api.validate(resp=responses(HTTP_200=Roles), tags=TAGS)
def roles() -> Any:
    """Every role."""
    with read_sessions()() as db:
        found = [{"id": r.id, "name": r.name} for r in api_reads.roles(db)]
    return jsonify(roles=found)


@bp.get("/org/users")
@api.validate(query=UserFilter, resp=responses(HTTP_200=Users), tags=TAGS)
def users() -> Any:
    """Users (never their password hashes)."""
    q: UserFilter = request.context.query  # type: ignore[attr-defined]
    with read_sessions()() as db:
        found = [
            {
                "id": u.id,
                "full_name": u.full_name,
                "email": u.email,
                "active": u.active,
                "capabilities": sorted(str(c) for c in u.capabilities or []),
            }
            for u in api_reads.users(db, q.user)
        ]
    return jsonify(users=found)


@bp.get("/org/memberships")
@api.validate(query=UserFilter, resp=responses(HTTP_200=Memberships), tags=TAGS)
def memberships() -> Any:
    """Who holds which role in which unit."""
    q: UserFilter = request.context.query  # type: ignore[attr-defined]
    with read_sessions()() as db:
        found = [
            {"id": m.id, "user": m.user_id, "role": m.role_id, "unit": m.unit_id}
            for m in api_reads.memberships(db, q.user)
        ]
    return jsonify(memberships=found)


@bp.get("/org/delegations")
@api.validate(query=UserFilter, resp=responses(HTTP_200=Delegations), tags=TAGS)
def delegations() -> Any:
    """Who acts for whom, and when."""
    q: UserFilter = request.context.query  # type: ignore[attr-defined]
    with read_sessions()() as db:
        found = [
            {
                "id": d.id,
                "from_user": d.from_user_id,
                "to_user": d.to_user_id,
                "starts_at": iso(d.starts_at),
                "ends_at": iso(d.ends_at),
            }
            for d in api_reads.delegations(db, q.user)
        ]
    return jsonify(delegations=found)


@bp.post("/org")
@api.validate(json=OrgIn, resp=responses(HTTP_200=OrgLoadOut), tags=TAGS)
def change() -> Any:
    """Create or change units, roles, users, memberships and delegations (administrators): the rows are checked
    together (every problem is named) and written in one transaction, audited as ``org.loaded``."""
    p = require_user()
    data: OrgIn = request.context.json  # type: ignore[attr-defined]
    given = {k: v for k, v in data.model_dump().items() if v is not None}
    with sessions()() as db, db.begin():
        result = load_org(db, given, engine_context().clock, actor=p.user_id, source="api")
    return jsonify(created=result.created, updated=result.updated)
