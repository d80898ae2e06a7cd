"""The Council's vote rules and counting, pure: the rule set in force, the quorum, who votes on whom, the result.

Rules are data (``rules/council.yaml``), a list of effective-dated rule sets; the set in force on the meeting
date applies and is stored with the meeting. Each set has ``effective_from``, ``quorum`` (the share of members
who must attend: ``"2/3"``, ``0.75`` or ``"75%"``), ``voting_window_working_days``, ``thresholds`` per award code
``{share, counted_on, name}`` and an optional ``default_threshold`` for awards not listed.

Decisions (each tested in tests/test_council_tally.py):

- Quorum counts members present at the meeting; an absent member's written vote counts as a vote, not as
  presence. Needed: ``ceil(quorum × members)`` (2/3 of 11 → 8).
- A candidate passes when ``agree / basis >= share``, in exact fractions: reaching the share is enough
  (10/11 = 90.9 % passes a 90 % rule, 9/11 = 81.8 % fails; 9/10 passes it exactly). A basis of 0 passes nobody.
- ``counted_on``: ``membership`` (the default, as the law counts) — every member entitled to vote on that
  candidate, voting or not; ``present`` — entitled members present at the meeting; ``votes_cast`` — the slips
  cast on that candidate (written votes included).
- A member who is the candidate (an individual whose ``user_id``, or else ``candidate_id``, is the member's user
  id) does not vote on themself: their ballot has no line for that candidate and they leave that candidate's
  basis (10 entitled of 11, so 9 agree reach 90 %).
- A withdrawn candidate (taken off the agenda when the meeting is convened) is on no ballot and is reported
  with ``withdrawn: true``, ``passed: false`` and zero counts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from typing import Any

from engine.errors import ValidationError

CHOICES = ("agree", "disagree")
COUNT_BASES = ("membership", "present", "votes_cast")
DEFAULT_QUORUM = Fraction(2, 3)


def _invalid(where: str, message: str) -> ValidationError:
    return ValidationError(f"{where}: {message}", {"fields": {where: message}})


def fraction(value: Any, where: str) -> Fraction:
    """A share in (0, 1] from 0.9, "0.9", "90%" or "2/3" (floats are read as their decimal text: 0.9 is 9/10)."""
    if isinstance(value, bool) or value is None:
        raise _invalid(where, 'must be a fraction such as 0.9, "90%" or "2/3"')
    try:
        if isinstance(value, str) and value.strip().endswith("%"):
            result = Fraction(value.strip()[:-1]) / 100
        else:
            result = Fraction(str(value).strip())
    except (ValueError, ZeroDivisionError):
        raise _invalid(where, f'{value!r} is not a fraction such as 0.9, "90%" or "2/3"')
    if not 0 < result <= 1:
        raise _invalid(where, f"{value!r} must be more than 0 and at most 1")
    return result


@dataclass(frozen=True)
class Threshold:
    share: Fraction
    counted_on: str = "membership"
    name: str | None = None  # the award's Vietnamese name, for the agenda and the minutes

    def as_dict(self) -> dict[str, Any]:
        return {"share": str(self.share), "counted_on": self.counted_on, "name": self.name}


@dataclass(frozen=True)
class RuleSet:
    effective_from: date
    quorum: Fraction = DEFAULT_QUORUM
    voting_window_working_days: int = 1
    thresholds: Mapping[str, Threshold] = field(default_factory=dict)
    default_threshold: Threshold | None = None
    basis: str | None = None  # the instrument the set follows (informative, kept with the meeting)

    def threshold(self, award: str) -> Threshold:
        found = self.thresholds.get(award) or self.default_threshold
        if found is None:
            raise _invalid(
                f"candidates.award {award!r}",
                f"no council threshold for this award in the rules in force from {self.effective_from}",
            )
        return found

    def quorum_needed(self, members: int) -> int:
        return math.ceil(self.quorum * members)

    def as_dict(self) -> dict[str, Any]:
        """JSON for the meeting row (exact fractions as text), read back by ``rule_set_from_dict``."""
        found: dict[str, Any] = {
            "effective_from": self.effective_from.isoformat(),
            "quorum": str(self.quorum),
            "voting_window_working_days": self.voting_window_working_days,
            "thresholds": {k: v.as_dict() for k, v in self.thresholds.items()},
            "default_threshold": self.default_threshold.as_dict() if self.default_threshold else None,
        }
        if self.basis:
            found["basis"] = self.basis
        return found


def _threshold(raw: Any, where: str) -> Threshold:
    if not isinstance(raw, Mapping):
        raise _invalid(where, "must be a mapping with share and counted_on")
    unknown = set(raw) - {"share", "counted_on", "name"}
    if unknown:
        raise _invalid(where, f"unknown keys {sorted(unknown)}")
    counted_on = raw.get("counted_on", "membership")
    if counted_on not in COUNT_BASES:
        raise _invalid(f"{where}.counted_on", f"{counted_on!r} is not one of {', '.join(COUNT_BASES)}")
    name = raw.get("name")
    return Threshold(fraction(raw.get("share"), f"{where}.share"), counted_on, str(name) if name else None)


def rule_set_from_dict(raw: Any, where: str = "rule set") -> RuleSet:
    if not isinstance(raw, Mapping):
        raise _invalid(where, "must be a mapping")
    known = {"effective_from", "quorum", "voting_window_working_days", "thresholds", "default_threshold", "basis"}
    unknown = set(raw) - known
    if unknown:
        raise _invalid(where, f"unknown keys {sorted(unknown)}")
    start = raw.get("effective_from")
    try:
        start = start if isinstance(start, date) else date.fromisoformat(str(start))
    except ValueError:
        raise _invalid(f"{where}.effective_from", f"{start!r} is not a date (YYYY-MM-DD)")
    window = raw.get("voting_window_working_days", 1)
    if isinstance(window, bool) or not isinstance(window, int) or window < 0:
        raise _invalid(f"{where}.voting_window_working_days", "must be a whole number of working days, 0 or more")
    thresholds = raw.get("thresholds") or {}
    if not isinstance(thresholds, Mapping):
        raise _invalid(f"{where}.thresholds", "must map award codes to {share, counted_on}")
    default = raw.get("default_threshold")
    quorum = raw.get("quorum")
    return RuleSet(
        effective_from=start,
        quorum=DEFAULT_QUORUM if quorum is None else fraction(quorum, f"{where}.quorum"),
        voting_window_working_days=window,
        thresholds={str(k): _threshold(v, f"{where}.thresholds.{k}") for k, v in thresholds.items()},
        default_threshold=_threshold(default, f"{where}.default_threshold") if default is not None else None,
        basis=str(raw["basis"]) if raw.get("basis") else None,
    )


def parse_rules(raw: Any, source: str = "council rules") -> list[RuleSet]:
    """``{"rule_sets": [...]}`` (or the bare list) -> rule sets sorted by ``effective_from``."""
    sets = raw.get("rule_sets") if isinstance(raw, Mapping) else raw
    if not isinstance(sets, list) or not sets:
        raise _invalid(source, "must hold a non-empty list rule_sets")
    parsed = [rule_set_from_dict(s, f"{source} rule_sets[{i}]") for i, s in enumerate(sets)]
    starts = [r.effective_from for r in parsed]
    if len(set(starts)) != len(starts):
        raise _invalid(source, "two rule sets take effect on the same day")
    return sorted(parsed, key=lambda r: r.effective_from)


def rules_in_force(rule_sets: list[RuleSet], day: date) -> RuleSet:
    current = [r for r in rule_sets if r.effective_from <= day]
    if not current:
        raise _invalid("meeting_date", f"no council rules are in force on {day.isoformat()}")
    return current[-1]


# --- who votes on whom, and the count -----------------------------------------------------------------------


def is_self(candidate: Mapping[str, Any], member: str) -> bool:
    """Whether ``member`` is this candidate (an individual) and so does not vote on them."""
    if candidate.get("kind", "individual") != "individual":
        return False
    return str(candidate.get("user_id") or candidate.get("candidate_id")) == member


def ballot_lines(agenda: Iterable[Mapping[str, Any]], member: str) -> list[str]:
    """The candidate ids on ``member``'s ballot: every candidate on the agenda except themself."""
    return [str(c["candidate_id"]) for c in agenda if not is_self(c, member)]


@dataclass
class CandidateResult:
    candidate_id: str
    award: str
    agree: int
    disagree: int
    members: int  # the whole membership of the Council
    basis: int  # what the share is counted on, for this candidate
    counted_on: str
    share: Fraction
    passed: bool
    withdrawn: bool = False

    def as_output(self) -> dict[str, Any]:
        """One entry of ``council_results`` (the interface with the nomination process, plus a few keys)."""
        return {
            "candidate_id": self.candidate_id,
            "award": self.award,
            "passed": self.passed,
            "agree": self.agree,
            "disagree": self.disagree,
            "members": self.members,
            "basis": self.basis,
            "counted_on": self.counted_on,
            "share": str(self.share),
            "withdrawn": self.withdrawn,
        }


def tally(
    candidates: Iterable[Mapping[str, Any]],
    withdrawn: Iterable[str],
    members: list[str],
    present: list[str],
    slips: Iterable[tuple[str, str]],
    rule_set: RuleSet,
) -> list[CandidateResult]:
    """Count the slips (``(candidate_id, choice)``, no voter) into one result per candidate, in agenda order."""
    out = set(withdrawn)
    counts: dict[str, dict[str, int]] = {}
    for candidate_id, choice in slips:
        if choice not in CHOICES:
            raise _invalid("ballot", f"a slip holds {choice!r}, not agree or disagree")
        counts.setdefault(candidate_id, {"agree": 0, "disagree": 0})[choice] += 1
    results = []
    for candidate in candidates:
        cid, award = str(candidate["candidate_id"]), str(candidate["award"])
        rule = rule_set.threshold(award)
        if cid in out:
            results.append(CandidateResult(cid, award, 0, 0, len(members), 0, rule.counted_on, rule.share, False, True))
            continue
        agree = counts.get(cid, {}).get("agree", 0)
        disagree = counts.get(cid, {}).get("disagree", 0)
        if rule.counted_on == "membership":
            basis = sum(1 for m in members if not is_self(candidate, m))
        elif rule.counted_on == "present":
            basis = sum(1 for m in present if not is_self(candidate, m))
        else:
            basis = agree + disagree
        passed = basis > 0 and Fraction(agree, basis) >= rule.share
        results.append(
            CandidateResult(cid, award, agree, disagree, len(members), basis, rule.counted_on, rule.share, passed)
        )
    return results


def agenda_of(
    candidates: Iterable[Mapping[str, Any]], withdrawn: Iterable[str], rule_set: RuleSet
) -> list[dict[str, Any]]:
    """The candidates still standing, grouped by award (in the order awards first appear)."""
    out = set(withdrawn)
    groups: dict[str, dict[str, Any]] = {}
    for c in candidates:
        if str(c["candidate_id"]) in out:
            continue
        award = str(c["award"])
        group = groups.setdefault(
            award, {"award": award, "name": rule_set.threshold(award).name or award, "candidates": []}
        )
        group["candidates"].append(dict(c))
    return list(groups.values())


def check_candidates(raw: Any) -> list[dict[str, Any]]:
    """The ``candidates`` input of the meeting, checked: ids unique, each with an award and a kind."""
    if not isinstance(raw, list):
        raise _invalid("candidates", "must be a list of {candidate_id, name, kind, award, unit_id}")
    seen: set[str] = set()
    checked = []
    for i, c in enumerate(raw):
        where = f"candidates[{i}]"
        if not isinstance(c, Mapping) or not c.get("candidate_id") or not c.get("award"):
            raise _invalid(where, "needs candidate_id and award")
        cid = str(c["candidate_id"])
        if cid in seen:
            raise _invalid(f"{where}.candidate_id", f"{cid!r} is listed twice")
        if c.get("kind", "individual") not in ("individual", "collective"):
            raise _invalid(f"{where}.kind", "must be individual or collective")
        seen.add(cid)
        checked.append({**c, "candidate_id": cid, "award": str(c["award"])})
    return checked
