"""The register of initiatives (sổ sáng kiến): each initiative a unit's initiative council recognised, entered once
so that a proposal relying on it can be checked (``engine.services.initiative_uses``) and one initiative supports
one award across rounds and years (Decree 98/2023 Art. 4, carried on by Decree 152/2025).

An initiative is named by its recognition decision's number (``reference``), unique once case and whitespace are
folded (``reference_key``). Every registration and edit is an audit event in the initiative's own stream
(``initiative:<id>``), as the uses recorded against it are. Who may enter or read is the caller's check
(``api.initiative_access``); the services take a Session and a Clock and never commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.errors import ConflictError, NotFoundError, ValidationError
from engine.persistence.models import Attachment, AuditEvent, Initiative, InitiativeUse, OrgUnit
from engine.services.audit import append_event

REACHES = ("unit", "province", "national")  # in rising order: a higher reach satisfies a lower claim
LOCAL_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
LIMITS = {"reference": 200, "title": 500, "authors": 2000, "recognised_by": 300, "certificate_ref": 1000}
EDITABLE = ("reference", "title", "authors", "unit_id", "reach", "recognised_on", "recognised_by", "certificate")


def stream_of(initiative_id: int) -> str:
    return f"initiative:{initiative_id}"


def normalise(reference: object) -> str:
    """The register's key for a decision number: whitespace collapsed, case folded (" 12/qđ-hđsk" = "12/QĐ-HĐSK")."""
    return " ".join(str(reference or "").split()).casefold()


def local_today(clock: Clock) -> date:
    return clock.now().astimezone(LOCAL_ZONE).date()


def _text(values: Mapping[str, Any], name: str, fields: dict[str, str], *, required: bool = True) -> str | None:
    raw = values.get(name)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            fields[name] = "required"
        return None
    if not isinstance(raw, str):
        fields[name] = "must be text"
        return None
    text = " ".join(raw.split()) if name != "authors" else raw.strip()
    if len(text) > LIMITS[name]:
        fields[name] = f"longer than {LIMITS[name]} characters"
    if "\x00" in text:
        fields[name] = "NUL character"
    return text


def _day(raw: object, fields: dict[str, str], today: date) -> date | None:
    if isinstance(raw, date):
        day = raw
    else:
        try:
            day = date.fromisoformat(str(raw or "").strip())
        except ValueError:
            fields["recognised_on"] = "a date, YYYY-MM-DD"
            return None
    if day > today:
        fields["recognised_on"] = f"in the future ({day.isoformat()}); an initiative is entered once recognised"
        return None
    return day


def _certificate(session: Session, raw: object, fields: dict[str, str]) -> tuple[int | None, str | None]:
    """An attachment's reference (``{"attachment_id": N, ...}`` or N) or a document reference (text), or none."""
    if raw is None or raw == "" or raw == {}:
        return None, None
    found = raw.get("attachment_id") if isinstance(raw, dict) else raw
    if isinstance(found, int) and not isinstance(found, bool):
        if not 1 <= found < 2**63 or session.get(Attachment, found) is None:
            fields["certificate"] = f"attachment {found} does not exist"
        return found, None
    if isinstance(found, str) and found.strip():
        text = found.strip()
        if len(text) > LIMITS["certificate_ref"]:
            fields["certificate"] = f"longer than {LIMITS['certificate_ref']} characters"
        return None, text
    fields["certificate"] = "an attachment's id or a document reference"
    return None, None


def _checked(session: Session, clock: Clock, values: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    """The values to store, or ValidationError naming each wrong field (``partial``: only those given)."""
    unknown = sorted(set(values) - set(EDITABLE))
    fields: dict[str, str] = {k: "not a field of an initiative" for k in unknown}
    out: dict[str, Any] = {}
    for name in ("reference", "title", "authors", "recognised_by"):
        if not partial or name in values:
            out[name] = _text(values, name, fields)
    if not partial or "unit_id" in values:
        unit = values.get("unit_id")
        if not isinstance(unit, str) or not unit.strip():
            fields["unit_id"] = "required"
        elif session.get(OrgUnit, unit.strip()) is None:
            fields["unit_id"] = f"no unit {unit.strip()!r}"
        else:
            out["unit_id"] = unit.strip()
    if not partial or "reach" in values:
        if values.get("reach") not in REACHES:
            fields["reach"] = f"one of {', '.join(REACHES)}"
        else:
            out["reach"] = values["reach"]
    if not partial or "recognised_on" in values:
        out["recognised_on"] = _day(values.get("recognised_on"), fields, local_today(clock))
    if "certificate" in values:
        out["certificate_attachment_id"], out["certificate_ref"] = _certificate(session, values["certificate"], fields)
    if fields:
        listed = ", ".join(f"{k}: {v}" for k, v in fields.items())
        raise ValidationError(f"the initiative is not valid: {listed}", {"fields": fields})
    if out.get("reference") is not None:
        out["reference_key"] = normalise(out["reference"])
    return out


def _taken(session: Session, key: str, but: int | None = None) -> Initiative | None:
    query = select(Initiative).where(Initiative.reference_key == key)
    if but is not None:
        query = query.where(Initiative.id != but)
    return session.scalars(query).first()


def _refuse_duplicate(found: Initiative) -> ConflictError:
    return ConflictError(
        f"reference {found.reference!r} is already in the register (initiative {found.id})",
        {"fields": {"reference": f"already registered as initiative {found.id}"}, "initiative_id": found.id},
    )


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


def register(session: Session, clock: Clock, actor: str, values: Mapping[str, Any]) -> Initiative:
    """Enter a recognised initiative; audited (``initiative.registered`` with what was entered)."""
    checked = _checked(session, clock, values, partial=False)
    found = _taken(session, checked["reference_key"])
    if found is not None:
        raise _refuse_duplicate(found)
    row = Initiative(**checked, entered_by=actor, entered_at=clock.now())
    session.add(row)
    session.flush()
    recorded = {k: _json(v) for k, v in checked.items() if k != "reference_key"}
    append_event(
        session, clock, stream=stream_of(row.id), action="initiative.registered", actor=actor,
        data={"initiative_id": row.id, **recorded},
    )  # fmt: skip
    return row


def get(session: Session, initiative_id: int) -> Initiative:
    row = session.get(Initiative, initiative_id)
    if row is None:
        raise NotFoundError(f"initiative {initiative_id} not found")
    return row


def edit(session: Session, clock: Clock, actor: str, initiative_id: int, changes: Mapping[str, Any]) -> Initiative:
    """Change what was entered; audited (``initiative.edited`` with each changed field's old and new value). The
    reference stays unique; an initiative a proposal relies on keeps its uses."""
    row = get(session, initiative_id)
    checked = _checked(session, clock, changes, partial=True)
    if "reference_key" in checked:
        found = _taken(session, checked["reference_key"], but=row.id)
        if found is not None:
            raise _refuse_duplicate(found)
    changed = {
        k: [_json(getattr(row, k)), _json(v)]
        for k, v in checked.items()
        if k != "reference_key" and getattr(row, k) != v
    }
    if not changed:
        return row
    for key, value in checked.items():
        setattr(row, key, value)
    row.updated_by, row.updated_at = actor, clock.now()
    session.flush()
    append_event(
        session, clock, stream=stream_of(row.id), action="initiative.edited", actor=actor,
        data={"initiative_id": row.id, "changed": changed},
    )  # fmt: skip
    return row


@dataclass(frozen=True)
class Search:
    """What the register is searched by; ``units``: the units the reader may see (None: all)."""

    units: frozenset[str] | None = None
    unit: str | None = None
    year: int | None = None  # the year it was recognised
    reach: str | None = None
    text: str | None = None  # in the reference, title or authors
    limit: int = 50
    offset: int = 0


def _conditions(q: Search) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if q.units is not None:
        found.append(Initiative.unit_id.in_(sorted(q.units)))
    if q.unit:
        found.append(Initiative.unit_id == q.unit)
    if q.year:
        found.append(Initiative.recognised_on.between(date(q.year, 1, 1), date(q.year, 12, 31)))
    if q.reach:
        found.append(Initiative.reach == q.reach)
    if q.text and q.text.strip():
        like = f"%{q.text.strip().casefold()}%"
        found.append(
            or_(
                Initiative.reference_key.like(like),
                func.lower(Initiative.title).like(like),
                func.lower(Initiative.authors).like(like),
            )
        )
    return found


def search(session: Session, q: Search) -> tuple[list[Initiative], int]:
    """A page of the register (newest recognition first) and how many match in all."""
    conditions = _conditions(q)
    query = select(Initiative).where(*conditions)
    total = session.scalar(select(func.count()).select_from(Initiative).where(*conditions)) or 0
    rows = session.scalars(
        query.order_by(Initiative.recognised_on.desc(), Initiative.id.desc()).limit(q.limit).offset(q.offset)
    ).all()
    return list(rows), total


@dataclass
class InitiativeRecord:
    """One initiative as its page shows it: the row, its uses (oldest first) and its trail."""

    initiative: Initiative
    unit_name: str
    uses: list[InitiativeUse]
    trail: list[AuditEvent]


def open_initiative(session: Session, initiative_id: int) -> InitiativeRecord:
    row = get(session, initiative_id)
    uses = session.scalars(
        select(InitiativeUse).where(InitiativeUse.initiative_id == row.id).order_by(InitiativeUse.id)
    ).all()
    trail = session.scalars(
        select(AuditEvent).where(AuditEvent.stream == stream_of(row.id)).order_by(AuditEvent.seq)
    ).all()
    unit_name = session.scalar(select(OrgUnit.name).where(OrgUnit.id == row.unit_id)) or row.unit_id
    return InitiativeRecord(row, unit_name, list(uses), list(trail))
