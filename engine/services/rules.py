"""Rule sets as data, versioned by effective date: which rules apply to a process started on a given day.

The rules (deadlines in working days, disclosure periods, the report cycle, eligibility per award) live in a YAML
file such as ``rules/lifecycle.yaml`` so a province edits them without code. A process start copies the set in
force on its start date into the instance's data (``start_data``), so an instance keeps its rule version to the
end even after a newer one takes effect. Council thresholds and quorum are in ``rules/council.yaml`` (read by
the Council meeting, ``engine/core/tally.py``); ``rules_date`` tells it which date's rules apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from engine.errors import NotFoundError, ValidationError
from engine.services.data_files import read_yaml

REQUIRED_SECTIONS = ("deadlines", "disclosure", "periodic", "reviews", "eligibility")


@dataclass(frozen=True)
class RuleSet:
    version: str
    effective_from: date
    data: dict[str, Any]  # the sections (deadlines, disclosure, ...), JSON-able


def _as_date(value: Any, where: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValidationError(f"{where}: effective_from {value!r} is not a date (YYYY-MM-DD)") from None


def parse_rule_sets(raw: Any, source: str = "rules") -> list[RuleSet]:
    """Rule sets from parsed YAML/JSON, oldest first; a ValidationError names the bad entry."""
    if not isinstance(raw, dict) or not isinstance(raw.get("versions"), list) or not raw["versions"]:
        raise ValidationError(f"{source}: expected a mapping with a non-empty 'versions' list")
    found: list[RuleSet] = []
    for index, entry in enumerate(raw["versions"]):
        where = f"{source}: versions[{index}]"
        if not isinstance(entry, dict) or not entry.get("version"):
            raise ValidationError(f"{where}: each version needs 'version' and 'effective_from'")
        missing = [s for s in REQUIRED_SECTIONS if not isinstance(entry.get(s), dict)]
        if missing:
            raise ValidationError(f"{where} ({entry['version']}): missing section(s) {', '.join(missing)}")
        sections = {k: v for k, v in entry.items() if k not in ("version", "effective_from")}
        found.append(RuleSet(str(entry["version"]), _as_date(entry.get("effective_from"), where), sections))
    found.sort(key=lambda r: r.effective_from)
    dates = [r.effective_from for r in found]
    if len(set(dates)) != len(dates):
        raise ValidationError(f"{source}: two versions take effect on the same day")
    return found


def load_rule_sets(path: str | Path) -> list[RuleSet]:
    return parse_rule_sets(read_yaml(path, "rules"), str(path))


def rules_in_force(rule_sets: list[RuleSet], on: date) -> RuleSet:
    """The newest rule set whose effective date is on or before ``on``."""
    current = [r for r in rule_sets if r.effective_from <= on]
    if not current:
        first = min(r.effective_from for r in rule_sets)
        raise NotFoundError(f"no rule set is in force on {on.isoformat()} (the first takes effect {first})")
    return max(current, key=lambda r: r.effective_from)


def _json_able(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_able(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_able(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def start_data(rule_sets: list[RuleSet], on: date) -> dict[str, Any]:
    """What a process start puts in the instance's data: ``rules``, ``rules_version`` and ``rules_date``."""
    chosen = rules_in_force(rule_sets, on)
    return {"rules": _json_able(chosen.data), "rules_version": chosen.version, "rules_date": on.isoformat()}
