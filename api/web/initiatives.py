"""The register of initiatives in the browser (Sổ sáng kiến): the list with its search, the form to enter or correct
one, and a page per initiative with every use of it by a proposal and its trail. Who may read or enter is
``api.initiative_access`` (the same as the API)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from api.authz import Principal, require_user
from api.context import engine_context, read_sessions, sessions
from api.i18n import t
from api.initiative_access import (
    check_enter,
    check_read,
    enters_every_unit,
    entry_units,
    may_enter,
    may_enter_any,
    read_scope,
)
from engine.errors import ConflictError, PermissionDeniedError, ValidationError
from engine.persistence.models import OrgUnit
from engine.services import initiatives
from engine.services.council_pages import award_names
from engine.services.initiative_uses import outcome_of

bp = Blueprint("initiatives", __name__)
PAGE = 50
# Unit-level titles (decided in the unit, never before the Council) beside the Council's awards (award_names)
UNIT_AWARDS = {
    "lao_dong_tien_tien": "Lao động tiên tiến",
    "chien_si_thi_dua_co_so": "Chiến sĩ thi đua cơ sở",
    "tap_the_lao_dong_tien_tien": "Tập thể lao động tiên tiến",
    "giay_khen": "Giấy khen",
}
FIELDS = ("reference", "title", "authors", "unit_id", "reach", "recognised_on", "recognised_by", "certificate")


def awards() -> dict[str, str]:
    return {**UNIT_AWARDS, **award_names()}


def _readers_only(p: Principal) -> None:
    if read_scope(p) is not None and not read_scope(p):
        raise PermissionDeniedError(f"user {p.user_id} holds no role in a unit: the register is not theirs to read")


def _units(db: Any, only: set[str] | frozenset[str] | None) -> list[tuple[str, str]]:
    query = select(OrgUnit.id, OrgUnit.name).order_by(OrgUnit.name)
    if only is not None:
        query = query.where(OrgUnit.id.in_(sorted(only)))
    return [(str(i), str(n)) for i, n in db.execute(query)]


@bp.get("/initiatives")
def index() -> Any:
    p = require_user()
    _readers_only(p)
    args = {k: (request.args.get(k) or "").strip() for k in ("unit", "year", "reach", "q")}
    year = int(args["year"]) if args["year"].isdigit() and 1900 <= int(args["year"]) <= 2200 else None
    offset = min(max(0, request.args.get("offset", 0, type=int) or 0), 10**9)
    reach = args["reach"] if args["reach"] in initiatives.REACHES else None
    search = initiatives.Search(read_scope(p), args["unit"] or None, year, reach, args["q"][:200] or None, PAGE, offset)
    with read_sessions()() as db:
        rows, total = initiatives.search(db, search)
        units = _units(db, read_scope(p))
        names = dict(units)
        for row in rows:
            db.expunge(row)
    return render_template(
        "initiatives.html", rows=rows, total=total, args=args, units=units, unit_names=names,
        reaches=initiatives.REACHES, may_enter=may_enter_any(p), offset=offset, page=PAGE,
    )  # fmt: skip


def _form(p: Principal, values: dict[str, Any], errors: dict[str, str], status: int, initiative_id: int | None) -> Any:
    with read_sessions()() as db:
        units = _units(db, entry_units(p))
    return (
        render_template(
            "initiative_form.html",
            values=values,
            errors=errors,
            units=units,
            reaches=initiatives.REACHES if enters_every_unit(p) else ("unit",),  # higher reach: Sở Nội vụ's
            initiative_id=initiative_id,
        ),  # fmt: skip
        status,
    )


def _posted() -> dict[str, Any]:
    values: dict[str, Any] = {k: (request.form.get(k) or "").strip() for k in FIELDS}
    values["authors"] = (request.form.get("authors") or "").strip()
    return values


def _messages(err: ValidationError | ConflictError) -> dict[str, str]:
    fields = err.details.get("fields") or {}
    out = {}
    for name, message in fields.items():
        if name == "reference" and isinstance(err, ConflictError):
            out[name] = t("initiative_reference_taken")
        elif message == "required":
            out[name] = t("field_required")
        else:
            out[name] = str(message)
    return out or {"(form)": err.message}


@bp.get("/initiatives/new")
def new() -> Any:
    p = require_user()
    if not may_enter_any(p):
        raise PermissionDeniedError(f"user {p.user_id} may not enter initiatives")
    units = entry_units(p)
    first = sorted(units)[0] if units else ""
    return _form(p, {"unit_id": first, "reach": "unit"}, {}, 200, None)


@bp.post("/initiatives")
def create() -> Any:
    p = require_user()
    values = _posted()
    if not may_enter_any(p):
        raise PermissionDeniedError(f"user {p.user_id} may not enter initiatives")
    if values["unit_id"]:
        check_enter(p, values["unit_id"], values.get("reach") or "unit")
    try:
        with sessions()() as db, db.begin():
            row = initiatives.register(db, engine_context().clock, p.user_id, _given(values))
            created = row.id
    except (ValidationError, ConflictError) as err:
        flash(t("form_has_errors"), "error")
        return _form(p, values, _messages(err), 409 if isinstance(err, ConflictError) else 422, None)
    flash(t("initiative_saved"), "success")
    return redirect(url_for("web.initiatives.show", initiative_id=created))


def _given(values: dict[str, Any]) -> dict[str, Any]:
    """What the form sent, as the service takes it: an empty certificate is none, a number an attachment's id."""
    out = {k: v for k, v in values.items() if k != "certificate"}
    cert = values.get("certificate") or ""
    out["certificate"] = int(cert) if cert.isdigit() else (cert or None)
    return out


@bp.get("/initiatives/<int:initiative_id>")
def show(initiative_id: int) -> Any:
    p = require_user()
    with read_sessions()() as db:
        record = initiatives.open_initiative(db, initiative_id)
        check_read(p, record.initiative)
        outcomes = {u.id: outcome_of(db, u) for u in record.uses}
        for obj in (record.initiative, *record.uses, *record.trail):
            db.expunge(obj)
    return render_template(
        "initiative.html", record=record, outcomes=outcomes, awards=awards(),
        may_edit=may_enter(p, record.initiative.unit_id, record.initiative.reach),
    )  # fmt: skip


@bp.get("/initiatives/<int:initiative_id>/edit")
def edit(initiative_id: int) -> Any:
    p = require_user()
    with read_sessions()() as db:
        row = initiatives.get(db, initiative_id)
        check_read(p, row)
        check_enter(p, row.unit_id, row.reach)
        values = {k: getattr(row, k) for k in FIELDS if k != "certificate"}
        values["recognised_on"] = row.recognised_on.isoformat()
        values["certificate"] = row.certificate_ref or (row.certificate_attachment_id or "")
    return _form(p, values, {}, 200, initiative_id)


@bp.post("/initiatives/<int:initiative_id>/edit")
def update(initiative_id: int) -> Any:
    p = require_user()
    values = _posted()
    try:
        with sessions()() as db, db.begin():
            row = initiatives.get(db, initiative_id)
            check_read(p, row)
            check_enter(p, row.unit_id, row.reach)
            if values["unit_id"] or values.get("reach"):
                check_enter(p, values["unit_id"] or row.unit_id, values.get("reach") or row.reach)
            initiatives.edit(db, engine_context().clock, p.user_id, initiative_id, _given(values))
    except (ValidationError, ConflictError) as err:
        flash(t("form_has_errors"), "error")
        return _form(p, values, _messages(err), 409 if isinstance(err, ConflictError) else 422, initiative_id)
    flash(t("initiative_saved"), "success")
    return redirect(url_for("web.initiatives.show", initiative_id=initiative_id))


def problem_words(problem: dict[str, Any]) -> str:
    """A refused completion's initiative problem (``engine.services.initiative_uses``) in the page's language."""
    reason = str(problem.get("reason") or "unknown")
    values = {
        "reference": problem.get("reference", ""),
        "unit": problem.get("unit", ""),
        "day": problem.get("day", ""),
        "reach": t(f"initiative_reach_{problem.get('reach')}") if problem.get("reach") else "",
        "claimed": t(f"initiative_reach_{problem.get('claimed')}") if problem.get("claimed") else "",
        "candidate": problem.get("candidate", ""),
        "award": awards().get(str(problem.get("award")), problem.get("award", "")),
        "round": problem.get("round", ""),
        "year": problem.get("year", ""),
    }
    key = f"initiative_problem_{reason}"
    wanted = {
        "unknown": ("reference",),
        "other_unit": ("reference", "unit"),
        "not_yet": ("reference", "day"),
        "reach": ("reference", "reach", "claimed"),
        "held": ("reference", "candidate", "award", "round", "year"),
    }.get(reason)
    if wanted is None:
        return t("initiative_problem_unknown", reference=values["reference"])
    return t(key, **{k: values[k] for k in wanted})
