"""Checking organisation data before anything is saved: JSON Schema, then ids, references, the unit tree and
delegation windows. Every problem is reported by its path in the input ("users[3].id": "required").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from jsonschema import Draft202012Validator

LOCAL_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")  # a time written without a zone is Vietnamese local time
CAPABILITIES = ["admin", "designer", "auditor"]

_ID = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"^[A-Za-z0-9_.@-]+$"}
_NAME = {"type": "string", "minLength": 1, "maxLength": 255}
_TIME = {"type": "string", "minLength": 10}


def _entries(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    item = {"type": "object", "additionalProperties": False, "required": required, "properties": properties}
    return {"type": "array", "items": item}


ORG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "units": _entries(
            ["id", "name"],
            {
                "id": _ID,
                "name": _NAME,
                "kind": {"type": "string", "maxLength": 32},
                "parent": {"type": ["string", "null"]},
            },
        ),
        "roles": _entries(["id", "name"], {"id": _ID, "name": _NAME}),
        "users": _entries(
            ["id", "full_name"],
            {
                "id": _ID,
                "full_name": _NAME,
                "email": {"type": ["string", "null"], "maxLength": 255},
                "active": {"type": "boolean"},
                "capabilities": {"type": "array", "items": {"enum": CAPABILITIES}, "uniqueItems": True},
            },
        ),
        "memberships": _entries(["user", "role", "unit"], {"user": _ID, "role": _ID, "unit": _ID}),
        "delegations": _entries(
            ["from", "to", "starts", "ends"], {"from": _ID, "to": _ID, "starts": _TIME, "ends": _TIME}
        ),
    },
}
_VALIDATOR = Draft202012Validator(ORG_SCHEMA)


def _where(path: Any) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _join(base: str, name: str) -> str:
    return name if base == "(top level)" else f"{base}.{name}"


def schema_problems(data: Any) -> dict[str, str]:
    problems: dict[str, str] = {}
    for err in _VALIDATOR.iter_errors(data):
        where = _where(err.absolute_path)
        if err.validator == "required":
            for name in err.validator_value:
                if isinstance(err.instance, dict) and name not in err.instance:
                    problems.setdefault(_join(where, name), "required")
        elif err.validator == "additionalProperties" and isinstance(err.instance, dict):
            for name in sorted(set(err.instance) - set(err.schema.get("properties", {}))):
                problems.setdefault(_join(where, name), "unknown field")
        else:
            problems.setdefault(where, err.message)
    return problems


def plain_times(data: Any) -> Any:
    """YAML turns unquoted timestamps into datetime/date objects; the schema and parser want ISO strings."""
    for entry in data.get("delegations") or [] if isinstance(data, dict) else []:
        for key in ("starts", "ends"):
            if isinstance(entry, dict) and isinstance(entry.get(key), date):
                entry[key] = entry[key].isoformat()
    return data


def parse_time(text: str, *, end: bool) -> datetime:
    """ISO date or datetime; a bare date starts (or, for ``end``, ends) that local day; no zone means local time."""
    if len(text) == 10:
        day = date.fromisoformat(text) + timedelta(days=1 if end else 0)
        return datetime.combine(day, time(), LOCAL_ZONE).astimezone(UTC)
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=LOCAL_ZONE)).astimezone(UTC)


@dataclass
class Known:
    """What already exists, merged with what the input defines: references may point at either."""

    parents: dict[str, str | None]
    roles: set[str]
    users: set[str]


def reference_problems(data: dict[str, Any], known: Known) -> dict[str, str]:
    problems: dict[str, str] = {}
    for kind in ("units", "roles", "users"):
        seen: dict[str, int] = {}
        for i, entry in enumerate(data.get(kind) or []):
            if entry["id"] in seen:
                problems[f"{kind}[{i}].id"] = f"duplicate id '{entry['id']}' (also {kind}[{seen[entry['id']]}])"
            seen.setdefault(entry["id"], i)
    for i, unit in enumerate(data.get("units") or []):
        parent = unit.get("parent")
        if parent is not None and parent not in known.parents:
            problems[f"units[{i}].parent"] = f"unknown unit '{parent}'"
        elif _in_cycle(unit["id"], known.parents):
            problems[f"units[{i}].parent"] = f"unit '{unit['id']}' would be its own ancestor"
    refs = {"user": ("users", known.users), "role": ("roles", known.roles), "unit": ("units", set(known.parents))}
    seen_members: dict[tuple[str, str, str], int] = {}
    for i, member in enumerate(data.get("memberships") or []):
        for key, (kind, ids) in refs.items():
            if member[key] not in ids:
                problems[f"memberships[{i}].{key}"] = f"unknown {kind[:-1]} '{member[key]}'"
        triple = (member["user"], member["role"], member["unit"])
        if triple in seen_members:
            problems[f"memberships[{i}]"] = f"duplicate of memberships[{seen_members[triple]}]"
        seen_members.setdefault(triple, i)
    for i, deleg in enumerate(data.get("delegations") or []):
        for key in ("from", "to"):
            if deleg[key] not in known.users:
                problems[f"delegations[{i}].{key}"] = f"unknown user '{deleg[key]}'"
        if deleg["from"] == deleg["to"]:
            problems[f"delegations[{i}].to"] = "a user cannot act for themself"
        times = {}
        for key in ("starts", "ends"):
            try:
                times[key] = parse_time(deleg[key], end=key == "ends")
            except ValueError:
                problems[f"delegations[{i}].{key}"] = f"'{deleg[key]}' is not an ISO date or date-time"
        if len(times) == 2 and times["ends"] <= times["starts"]:
            problems[f"delegations[{i}].ends"] = "must be after starts"
    return problems


def _in_cycle(unit_id: str, parents: dict[str, str | None]) -> bool:
    seen, current = {unit_id}, parents.get(unit_id)
    while current is not None:
        if current in seen:
            return True
        seen.add(current)
        current = parents.get(current)
    return False
