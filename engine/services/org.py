"""Loading the organisation (units, roles, users, memberships, delegations) from a dict, a YAML or a JSON file.

The whole input is checked first (JSON Schema, then references, duplicates, the unit tree and delegation
windows) and every problem is reported by its path ("users[3].id: required") in one ValidationError, so a bad
file saves nothing. Loading is an upsert: units, roles and users are created or updated by id; memberships and
delegations are added when missing and never removed (revoking is an explicit act, not a side effect of a file
that happens to omit a line). Loading the same data twice changes nothing and writes no audit event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.errors import NotFoundError, ValidationError
from engine.persistence.models import Delegation, Membership, OrgUnit, Role, User
from engine.services.audit import SYSTEM_STREAM, append_event
from engine.services.org_validation import Known, parse_time, plain_times, reference_problems, schema_problems

KINDS = ("units", "roles", "users", "memberships", "delegations")


@dataclass
class OrgLoadResult:
    created: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    updated: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    unchanged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))

    @property
    def changed(self) -> bool:
        return any(self.created.values()) or any(self.updated.values())

    def summary(self) -> str:
        parts = [f"{k}: {self.created[k]} new, {self.updated[k]} changed, {self.unchanged[k]} unchanged" for k in KINDS]
        return "; ".join(parts)


def _invalid(problems: dict[str, str], source: str | None) -> ValidationError:
    where = f"{source}: " if source else ""
    count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
    return ValidationError(f"{where}organisation data has {count}; nothing was saved", {"fields": problems})


def _known(session: Session, data: dict[str, Any]) -> Known:
    # Organisations are small (hundreds of units, thousands of users): reading every id is cheap and lets
    # references and the unit tree be checked against the merged result.
    parents: dict[str, str | None] = {
        uid: parent for uid, parent in session.execute(select(OrgUnit.id, OrgUnit.parent_id))
    }
    parents.update({u["id"]: u.get("parent") for u in data.get("units") or []})
    roles = set(session.scalars(select(Role.id))) | {r["id"] for r in data.get("roles") or []}
    users = set(session.scalars(select(User.id))) | {u["id"] for u in data.get("users") or []}
    return Known(parents, roles, users)


def _depth(unit_id: str, parents: dict[str, str | None]) -> int:
    depth, current = 0, parents.get(unit_id)
    while current is not None:
        depth, current = depth + 1, parents.get(current)
    return depth


def _upsert(session: Session, model: type[Any], kind: str, rows: list[dict[str, Any]], result: OrgLoadResult) -> None:
    existing = {o.id: o for o in session.scalars(select(model).where(model.id.in_([r["id"] for r in rows])))}
    new = [model(**row) for row in rows if row["id"] not in existing]
    session.add_all(new)
    # New rows first (in the given order, parents before children), then updates: an existing unit may move
    # under a unit this same load creates.
    session.flush()
    result.created[kind] += len(new)
    for row in rows:
        obj = existing.get(row["id"])
        if obj is None:
            continue
        changes = {k: v for k, v in row.items() if getattr(obj, k) != v}
        for key, value in changes.items():
            setattr(obj, key, value)
        if changes:
            result.updated[kind] += 1
        else:
            result.unchanged[kind] += 1
    session.flush()


def _add_memberships(session: Session, members: list[dict[str, Any]], result: OrgLoadResult) -> None:
    users = {m["user"] for m in members}
    query = select(Membership.user_id, Membership.role_id, Membership.unit_id).where(Membership.user_id.in_(users))
    existing = {(u, r, n) for u, r, n in session.execute(query)}
    for m in members:
        if (m["user"], m["role"], m["unit"]) in existing:
            result.unchanged["memberships"] += 1
        else:
            session.add(Membership(user_id=m["user"], role_id=m["role"], unit_id=m["unit"]))
            result.created["memberships"] += 1


def _add_delegations(session: Session, delegations: list[dict[str, Any]], result: OrgLoadResult) -> None:
    froms = {d["from"] for d in delegations}
    query = select(Delegation).where(Delegation.from_user_id.in_(froms))
    existing = {(d.from_user_id, d.to_user_id, d.starts_at, d.ends_at) for d in session.scalars(query)}
    for d in delegations:
        key = (d["from"], d["to"], parse_time(d["starts"], end=False), parse_time(d["ends"], end=True))
        if key in existing:
            result.unchanged["delegations"] += 1
        else:
            session.add(Delegation(from_user_id=key[0], to_user_id=key[1], starts_at=key[2], ends_at=key[3]))
            existing.add(key)
            result.created["delegations"] += 1


def load_org(
    session: Session, data: Any, clock: Clock, *, actor: str | None = None, source: str | None = None
) -> OrgLoadResult:
    """Check all of ``data``, then create or update what differs. Raises ValidationError listing every problem."""
    if not isinstance(data, dict):
        raise _invalid({"(top level)": "must be a mapping with units, roles, users, memberships, delegations"}, source)
    data = plain_times(_copy(data))
    problems = schema_problems(data)
    if problems:
        raise _invalid(problems, source)
    known = _known(session, data)
    problems = reference_problems(data, known)
    if problems:
        raise _invalid(problems, source)
    result = OrgLoadResult()
    _upsert(session, Role, "roles", [{"id": r["id"], "name": r["name"]} for r in data.get("roles") or []], result)
    units = sorted(data.get("units") or [], key=lambda u: _depth(u["id"], known.parents))
    unit_rows = [
        {"id": u["id"], "name": u["name"], "kind": u.get("kind", "unit"), "parent_id": u.get("parent")} for u in units
    ]
    _upsert(session, OrgUnit, "units", unit_rows, result)
    user_rows = [
        {
            "id": u["id"],
            "full_name": u["full_name"],
            "email": u.get("email"),
            "active": u.get("active", True),
            "capabilities": sorted(u.get("capabilities") or []),
        }
        for u in data.get("users") or []
    ]
    _upsert(session, User, "users", user_rows, result)
    _add_memberships(session, data.get("memberships") or [], result)
    _add_delegations(session, data.get("delegations") or [], result)
    session.flush()
    if result.changed:
        summary = {"created": result.created, "updated": result.updated, "source": source}
        append_event(session, clock, stream=SYSTEM_STREAM, action="org.loaded", actor=actor, data=summary)
    return result


def _copy(data: dict[str, Any]) -> dict[str, Any]:
    """A copy deep enough that normalising times never changes the caller's dict."""
    return {
        k: [dict(e) if isinstance(e, dict) else e for e in v] if isinstance(v, list) else v for k, v in data.items()
    }


def load_org_file(session: Session, path: str | Path, clock: Clock, *, actor: str | None = None) -> OrgLoadResult:
    """``load_org`` from a ``.yaml``/``.yml`` or ``.json`` file; syntax errors are reported with line and column."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"{path}: no such file", {"fields": {"file": "not found"}})
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise _invalid({"(file)": f"not UTF-8 text (byte {err.start})"}, path.name)
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise _invalid({"(file)": f"not valid YAML{where}: {getattr(err, 'problem', None) or err}"}, path.name)
    elif suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise _invalid({"(file)": f"not valid JSON at line {err.lineno}, column {err.colno}: {err.msg}"}, path.name)
    else:
        raise _invalid({"(file)": f"unsupported file type '{suffix}' (use .yaml, .yml or .json)"}, path.name)
    return load_org(session, data, clock, actor=actor, source=path.name)
