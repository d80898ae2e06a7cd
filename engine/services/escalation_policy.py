"""The escalation policy as data: what happens before and after a task's due date, per process and role.

Shipped defaults are ``engine/escalation_defaults.yaml`` (read it for the format and the meaning of each key).
An administrator overrides them with a YAML file of the same shape named by the ``TDKT_ESCALATION_POLICY``
environment variable, merged over the defaults key by key. ``current_policy()`` reads both once and again
whenever the override file changes. A bad file is a ValidationError naming the file and the key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from engine.errors import ValidationError

RECIPIENTS = frozenset({"assignee", "unit_head", "monitor"})
STEP_KEYS = {
    "reminder_before": "days",
    "reminder_notify": "recipients",
    "overdue_notify": "recipients",
    "escalate_after": "days",
    "escalate_notify": "recipients",
    "reassign_to": "reassign",
    "unit_head_role": "name",
    "monitor_role": "name",
    "monitor_unit": "optional_name",
}
ENV_VAR = "TDKT_ESCALATION_POLICY"


@dataclass(frozen=True)
class Steps:
    """The resolved policy for one (process, role)."""

    reminder_before: int | None
    reminder_notify: tuple[str, ...]
    overdue_notify: tuple[str, ...]
    escalate_after: int | None
    escalate_notify: tuple[str, ...]
    reassign_to: str | None
    unit_head_role: str
    monitor_role: str
    monitor_unit: str | None

    def as_payload(self) -> dict[str, Any]:
        return {
            "notify_reminder": list(self.reminder_notify),
            "notify_overdue": list(self.overdue_notify),
            "notify_escalation": list(self.escalate_notify),
            "reassign_to": self.reassign_to,
            "unit_head_role": self.unit_head_role,
            "monitor_role": self.monitor_role,
            "monitor_unit": self.monitor_unit,
        }


def _problem(source: str, where: str, message: str) -> ValidationError:
    return ValidationError(f"{source}: {where}: {message}", details={"fields": {where: message}, "file": source})


def _check_level(level: Any, source: str, where: str) -> dict[str, Any]:
    if level is None:
        return {}
    if not isinstance(level, dict):
        raise _problem(source, where, "must be a mapping")
    checked: dict[str, Any] = {}
    for key, value in level.items():
        path = f"{where}.{key}"
        kind = STEP_KEYS.get(key)
        if kind is None:
            raise _problem(source, path, f"unknown key (known: {', '.join(sorted(STEP_KEYS))})")
        if kind == "days" and value is not None and (type(value) is not int or not 1 <= value <= 365):
            raise _problem(source, path, "must be a whole number of working days from 1 to 365, or null")
        if kind == "recipients":
            if not isinstance(value, list) or not all(isinstance(v, str) and v in RECIPIENTS for v in value):
                raise _problem(source, path, f"must be a list of {', '.join(sorted(RECIPIENTS))}")
            value = tuple(value)
        if kind == "reassign" and value not in (None, "unit_head"):
            raise _problem(source, path, "must be null or unit_head")
        if kind == "name" and (not isinstance(value, str) or not value):
            raise _problem(source, path, "must be a role id")
        if kind == "optional_name" and value is not None and (not isinstance(value, str) or not value):
            raise _problem(source, path, "must be a unit id or null")
        checked[key] = value
    return checked


class EscalationPolicy:
    """Defaults, per-role, per-process and per-process-and-role levels; ``resolve`` merges them."""

    def __init__(self, document: dict[str, Any], source: str = "policy", *, partial: bool = False) -> None:
        """``partial``: an override, which may leave keys out (a full policy must set every default)."""
        if not isinstance(document, dict):
            raise _problem(source, "(file)", "must be a mapping with defaults, roles, processes")
        unknown = set(document) - {"defaults", "roles", "processes"}
        if unknown:
            raise _problem(source, sorted(unknown)[0], "unknown key (known: defaults, roles, processes)")
        self.defaults = _check_level(document.get("defaults"), source, "defaults")
        self.roles = {
            str(r): _check_level(v, source, f"roles.{r}") for r, v in _mapping(document, "roles", source).items()
        }
        self.processes: dict[str, tuple[dict[str, Any], dict[str, dict[str, Any]]]] = {}
        for key, level in _mapping(document, "processes", source).items():
            level = dict(level or {})
            roles = level.pop("roles", None) or {}
            if not isinstance(roles, dict):
                raise _problem(source, f"processes.{key}.roles", "must be a mapping")
            self.processes[str(key)] = (
                _check_level(level, source, f"processes.{key}"),
                {str(r): _check_level(v, source, f"processes.{key}.roles.{r}") for r, v in roles.items()},
            )
        missing = set(STEP_KEYS) - set(self.defaults)
        if missing and not partial:
            raise _problem(source, "defaults", f"missing {', '.join(sorted(missing))}")

    def merged_with(self, other: EscalationPolicy) -> EscalationPolicy:
        """This policy with ``other``'s keys laid over it, level by level."""
        merged = EscalationPolicy({}, "merged", partial=True)
        merged.defaults = {**self.defaults, **other.defaults}
        merged.roles = {r: {**self.roles.get(r, {}), **other.roles.get(r, {})} for r in {*self.roles, *other.roles}}
        for key in {*self.processes, *other.processes}:
            mine, theirs = self.processes.get(key, ({}, {})), other.processes.get(key, ({}, {}))
            roles = {r: {**mine[1].get(r, {}), **theirs[1].get(r, {})} for r in {*mine[1], *theirs[1]}}
            merged.processes[key] = ({**mine[0], **theirs[0]}, roles)
        return merged

    def resolve(self, definition_key: str | None, role_id: str | None) -> Steps:
        values = dict(self.defaults)
        if role_id:
            values.update(self.roles.get(role_id, {}))
        process, process_roles = self.processes.get(definition_key or "", ({}, {}))
        values.update(process)
        if role_id:
            values.update(process_roles.get(role_id, {}))
        fields: dict[str, Any] = {key: values.get(key) for key in STEP_KEYS}
        return Steps(**fields)


def _mapping(document: dict[str, Any], key: str, source: str) -> dict[Any, Any]:
    value = document.get(key) or {}
    if not isinstance(value, dict):
        raise _problem(source, key, "must be a mapping")
    return value


def _read_yaml(text: str, source: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise _problem(source, "(file)", f"not valid YAML: {err}".splitlines()[0])


def default_policy() -> EscalationPolicy:
    text = resources.files("engine").joinpath("escalation_defaults.yaml").read_text(encoding="utf-8")
    return EscalationPolicy(_read_yaml(text, "escalation_defaults.yaml"), "escalation_defaults.yaml")


def load_policy(path: str | Path | None = None) -> EscalationPolicy:
    """The shipped defaults, with the YAML file at ``path`` (if any) laid over them."""
    base = default_policy()
    if path is None:
        return base
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as err:
        raise _problem(str(file), "(file)", f"cannot read: {err.strerror or err}")
    document = _read_yaml(text, str(file)) or {}
    return base.merged_with(EscalationPolicy(document, str(file), partial=True))


_cache: dict[tuple[str | None, float | None], EscalationPolicy] = {}


def current_policy() -> EscalationPolicy:
    """The policy in force: defaults plus ``$TDKT_ESCALATION_POLICY``, re-read when that file changes."""
    path = os.environ.get(ENV_VAR) or None
    try:
        stamp = Path(path).stat().st_mtime if path else None
    except OSError:
        stamp = None
    key = (path, stamp)
    found = _cache.get(key)
    if found is None:
        found = load_policy(path)
        _cache.clear()
        _cache[key] = found
    return found
