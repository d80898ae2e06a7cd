"""The register of initiatives (sổ sáng kiến): list and search, enter one, open one with its uses and trail, edit.

Who may do what is ``api.initiative_access``: Sở Nội vụ, administrators and a unit's own TĐKT officer enter;
those, auditors and the unit's people read their unit's.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from flask import Blueprint, jsonify, request
from pydantic import BaseModel, Field

from api.authz import require_user
from api.context import engine_context, read_sessions, sessions
from api.initiative_access import check_enter, check_read, read_scope
from api.v1.schemas import MAX_ID, EventOut, Text
from api.v1.serialize import event_json, iso
from api.v1.spec import ID, Strict, api, responses
from engine.errors import PermissionDeniedError
from engine.persistence.models import Initiative, InitiativeUse
from engine.services import initiatives
from engine.services.initiative_uses import outcome_of

bp = Blueprint("initiatives", __name__)
TAGS = ("initiatives",)
Reach = Literal["unit", "province", "national"]
Certificate = Annotated[int, Field(ge=1, le=MAX_ID)] | Annotated[str, Field(min_length=1, max_length=1000)] | None


class InitiativeIn(Strict):
    reference: str = Field(min_length=1, max_length=200, description="the recognition decision's number")
    title: str = Field(min_length=1, max_length=500)
    authors: str = Field(min_length=1, max_length=2000, description="the authors' names, as written")
    unit_id: str = Field(min_length=1, max_length=64)
    reach: Reach
    recognised_on: date
    recognised_by: str = Field(min_length=1, max_length=300, description="the initiative council and its decision")
    certificate: Certificate = Field(None, description="an attachment's id, or a document reference")


class InitiativePatch(Strict):
    reference: str | None = Field(None, min_length=1, max_length=200)
    title: str | None = Field(None, min_length=1, max_length=500)
    authors: str | None = Field(None, min_length=1, max_length=2000)
    unit_id: str | None = Field(None, min_length=1, max_length=64)
    reach: Reach | None = None
    recognised_on: date | None = None
    recognised_by: str | None = Field(None, min_length=1, max_length=300)
    certificate: Certificate = None


class InitiativeQuery(BaseModel):
    unit: str | None = Field(None, max_length=64)
    year: int | None = Field(None, ge=1900, le=2200, description="recognised in this year")
    reach: Reach | None = None
    q: str | None = Field(None, max_length=200, description="in the reference, title or authors")
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=10**9)


class InitiativeOut(BaseModel):
    id: int
    reference: str
    title: str
    authors: str
    unit_id: str
    reach: str
    recognised_on: str
    recognised_by: str
    certificate_attachment_id: int | None
    certificate_ref: Text
    entered_by: str
    entered_at: Text
    updated_by: Text
    updated_at: Text


class UseOut(BaseModel):
    id: int
    candidate_id: Text
    candidate_name: str
    award: str
    instance_id: int
    round_id: int
    year: int
    field: str
    outcome: str
    used_at: Text
    decided_at: Text


class InitiativeDetail(InitiativeOut):
    unit_name: str
    uses: list[UseOut]
    trail: list[EventOut]


class InitiativePage(BaseModel):
    initiatives: list[InitiativeOut]
    total: int
    limit: int
    offset: int


def initiative_json(row: Initiative) -> dict[str, Any]:
    return {
        "id": row.id,
        "reference": row.reference,
        "title": row.title,
        "authors": row.authors,
        "unit_id": row.unit_id,
        "reach": row.reach,
        "recognised_on": row.recognised_on.isoformat(),
        "recognised_by": row.recognised_by,
        "certificate_attachment_id": row.certificate_attachment_id,
        "certificate_ref": row.certificate_ref,
        "entered_by": row.entered_by,
        "entered_at": iso(row.entered_at),
        "updated_by": row.updated_by,
        "updated_at": iso(row.updated_at),
    }


def use_json(use: InitiativeUse, outcome: str) -> dict[str, Any]:
    return {
        "id": use.id,
        "candidate_id": use.candidate_id,
        "candidate_name": use.candidate_name,
        "award": use.award,
        "instance_id": use.instance_id,
        "round_id": use.round_id,
        "year": use.year,
        "field": use.field,
        "outcome": outcome,
        "used_at": iso(use.used_at),
        "decided_at": iso(use.decided_at),
    }


def detail_json(db: Any, record: initiatives.InitiativeRecord) -> dict[str, Any]:
    return {
        **initiative_json(record.initiative),
        "unit_name": record.unit_name,
        "uses": [use_json(u, outcome_of(db, u)) for u in record.uses],
        "trail": [event_json(e) for e in record.trail],
    }


@bp.get("/initiatives")
@api.validate(query=InitiativeQuery, resp=responses(HTTP_200=InitiativePage), tags=TAGS)
def index() -> Any:
    """The register, newest recognition first: by unit, year recognised, reach and text; only the units the
    caller may read."""
    p = require_user()
    q: InitiativeQuery = request.context.query  # type: ignore[attr-defined]
    search = initiatives.Search(read_scope(p), q.unit, q.year, q.reach, q.q, q.limit, q.offset)
    with read_sessions()() as db:
        rows, total = initiatives.search(db, search)
        found = [initiative_json(r) for r in rows]
    return jsonify(initiatives=found, total=total, limit=q.limit, offset=q.offset)


@bp.post("/initiatives")
@api.validate(json=InitiativeIn, resp=responses(HTTP_201=InitiativeDetail), tags=TAGS)
def create() -> Any:
    """Enter a recognised initiative (409 naming ``reference`` when that decision number is registered)."""
    p = require_user()
    data: InitiativeIn = request.context.json  # type: ignore[attr-defined]
    check_enter(p, data.unit_id, data.reach)
    ctx = engine_context()
    with sessions()() as db, db.begin():
        row = initiatives.register(db, ctx.clock, p.user_id, data.model_dump(exclude_none=True))
        answer = detail_json(db, initiatives.open_initiative(db, row.id))
    return jsonify(answer), 201


@bp.get(f"/initiatives/<{ID}:initiative_id>")
@api.validate(resp=responses(HTTP_200=InitiativeDetail), tags=TAGS)
def show(initiative_id: int) -> Any:
    """One initiative with every use of it by a proposal (its outcome now) and its audit trail."""
    p = require_user()
    with read_sessions()() as db:
        record = initiatives.open_initiative(db, initiative_id)
        check_read(p, record.initiative)
        return jsonify(detail_json(db, record))


@bp.patch(f"/initiatives/<{ID}:initiative_id>")
@api.validate(json=InitiativePatch, resp=responses(HTTP_200=InitiativeDetail), tags=TAGS)
def update(initiative_id: int) -> Any:
    """Correct what was entered (audited with each field's old and new value)."""
    p = require_user()
    data: InitiativePatch = request.context.json  # type: ignore[attr-defined]
    changes = data.model_dump(exclude_unset=True)
    ctx = engine_context()
    with sessions()() as db, db.begin():
        row = initiatives.get(db, initiative_id)
        try:
            check_enter(p, row.unit_id, row.reach)
        except PermissionDeniedError:
            check_read(p, row)  # one who may not even read it learns nothing more (403 either way)
            raise
        if changes.get("unit_id") is not None or changes.get("reach") is not None:
            check_enter(p, changes.get("unit_id") or row.unit_id, changes.get("reach") or row.reach)
        initiatives.edit(db, ctx.clock, p.user_id, initiative_id, changes)
        answer = detail_json(db, initiatives.open_initiative(db, initiative_id))
    return jsonify(answer)
