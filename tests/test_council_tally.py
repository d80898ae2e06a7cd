"""The Council's tally rules, pure: fractions, the rule set in force, quorum, shares, count bases, edge cases."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pytest
import yaml

from engine.core.tally import (
    RuleSet,
    Threshold,
    agenda_of,
    ballot_lines,
    check_candidates,
    fraction,
    parse_rules,
    rule_set_from_dict,
    rules_in_force,
    tally,
)
from engine.errors import ValidationError
from tests.conftest import ROOT

MEMBERS = [f"m{i:02d}" for i in range(1, 12)]
RULES = RuleSet(
    date(2024, 1, 1),
    thresholds={
        "cstd": Threshold(Fraction(9, 10)),
        "present": Threshold(Fraction(1, 2), "present"),
        "cast": Threshold(Fraction(2, 3), "votes_cast"),
    },
)


def slips(candidate: str, agree: int, disagree: int) -> list[tuple[str, str]]:
    return [(candidate, "agree")] * agree + [(candidate, "disagree")] * disagree


def one(candidate: dict, cast: list[tuple[str, str]], present: list[str] | None = None):
    return tally([candidate], [], MEMBERS, MEMBERS if present is None else present, cast, RULES)[0]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(0.9, Fraction(9, 10)), ("0.9", Fraction(9, 10)), ("90%", Fraction(9, 10)), ("2/3", Fraction(2, 3)), (1, 1)],
)
def test_fractions_read_exactly(raw, expected):
    assert fraction(raw, "x") == expected


@pytest.mark.parametrize("raw", [0, 1.5, "-1/2", "abc", None, True, "1/0"])
def test_bad_fractions_name_the_field(raw):
    with pytest.raises(ValidationError) as err:
        fraction(raw, "rule_sets[0].quorum")
    assert "rule_sets[0].quorum" in err.value.details["fields"]


def test_quorum_of_two_thirds_of_11_is_8():
    assert RULES.quorum_needed(11) == 8
    assert RULES.quorum_needed(9) == 6
    assert RuleSet(date(2024, 1, 1), quorum=Fraction(1, 2)).quorum_needed(10) == 5


def test_ten_of_eleven_pass_and_nine_of_eleven_fail_a_90_percent_rule():
    c = {"candidate_id": "a", "award": "cstd"}
    assert one(c, slips("a", 10, 1)).passed
    assert not one(c, slips("a", 9, 2)).passed
    # On the membership basis abstaining or absent members count against: 10 agree of 10 ballots is still 10/11.
    assert one(c, slips("a", 10, 0)).basis == 11


def test_reaching_the_share_exactly_passes():
    members = MEMBERS[:10]
    result = tally([{"candidate_id": "a", "award": "cstd"}], [], members, members, slips("a", 9, 1), RULES)[0]
    assert (result.basis, result.passed) == (10, True)


def test_count_bases_present_and_votes_cast():
    c = {"candidate_id": "p", "award": "present"}
    assert one(c, slips("p", 4, 0), present=MEMBERS[:8]).passed  # 4 of 8 present
    assert not one(c, slips("p", 3, 0), present=MEMBERS[:8]).passed
    c = {"candidate_id": "c", "award": "cast"}
    result = one(c, slips("c", 2, 1))
    assert (result.basis, result.passed) == (3, True)
    assert not one(c, []).passed  # no slips: a basis of 0 passes nobody


def test_a_member_candidate_leaves_their_own_ballot_and_basis():
    me = {"candidate_id": "cstd-m05", "user_id": "m05", "kind": "individual", "award": "cstd"}
    other = {"candidate_id": "b", "kind": "individual", "award": "cstd"}
    assert ballot_lines([me, other], "m05") == ["b"]
    assert ballot_lines([me, other], "m01") == ["cstd-m05", "b"]
    result = one(me, slips("cstd-m05", 9, 1))
    assert (result.basis, result.passed) == (10, True)
    collective = {"candidate_id": "m05", "kind": "collective", "award": "cstd"}  # a collective is never a member
    assert ballot_lines([collective], "m05") == ["m05"]


def test_a_withdrawn_candidate_is_reported_with_no_votes():
    people = [{"candidate_id": "a", "award": "cstd"}, {"candidate_id": "w", "award": "cstd"}]
    results = tally(people, ["w"], MEMBERS, MEMBERS, slips("a", 11, 0), RULES)
    assert (results[1].withdrawn, results[1].passed, results[1].agree) == (True, False, 0)
    agenda = agenda_of(people, ["w"], RULES)
    assert [c["candidate_id"] for g in agenda for c in g["candidates"]] == ["a"]


def test_unknown_award_and_unknown_choice_are_refused():
    with pytest.raises(ValidationError, match="no_such"):
        tally([{"candidate_id": "a", "award": "no_such"}], [], MEMBERS, MEMBERS, [], RULES)
    with pytest.raises(ValidationError):
        tally([{"candidate_id": "a", "award": "cstd"}], [], MEMBERS, MEMBERS, [("a", "maybe")], RULES)


def test_the_rule_set_in_force_on_the_meeting_date_applies():
    sets = parse_rules(
        {
            "rule_sets": [
                {"effective_from": "2025-07-01", "thresholds": {"cstd": {"share": "80%"}}},
                {"effective_from": "2024-01-01", "quorum": 0.75, "thresholds": {"cstd": {"share": 0.9}}},
            ]
        }
    )
    assert rules_in_force(sets, date(2025, 6, 30)).quorum == Fraction(3, 4)
    assert rules_in_force(sets, date(2025, 7, 1)).threshold("cstd").share == Fraction(4, 5)
    assert rules_in_force(sets, date(2025, 7, 1)).quorum == Fraction(2, 3)  # the default
    with pytest.raises(ValidationError, match="no council rules"):
        rules_in_force(sets, date(2023, 12, 31))


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"rule_sets": []}, "council rules"),
        ({"rule_sets": [{"effective_from": "soon"}]}, "effective_from"),
        (
            {
                "rule_sets": [
                    {"effective_from": "2024-01-01", "thresholds": {"x": {"share": 0.9, "counted_on": "moon"}}}
                ]
            },
            "counted_on",
        ),
        ({"rule_sets": [{"effective_from": "2024-01-01", "colour": "red"}]}, "unknown keys"),
        ({"rule_sets": [{"effective_from": "2024-01-01"}, {"effective_from": "2024-01-01"}]}, "same day"),
    ],
)
def test_bad_rules_are_refused_with_the_field_named(raw, field):
    with pytest.raises(ValidationError, match=field):
        parse_rules(raw)


def test_the_shipped_rules_file_parses_and_round_trips():
    sets = parse_rules(yaml.safe_load((ROOT / "rules" / "council.yaml").read_text(encoding="utf-8")))
    current = rules_in_force(sets, date(2024, 3, 25))
    assert current.threshold("chien_si_thi_dua_tinh") == Threshold(
        Fraction(9, 10), "membership", "Chiến sĩ thi đua cấp tỉnh"
    )
    assert rule_set_from_dict(current.as_dict()) == current


def test_candidates_are_checked():
    with pytest.raises(ValidationError, match="listed twice"):
        check_candidates([{"candidate_id": "a", "award": "x"}, {"candidate_id": "a", "award": "x"}])
    with pytest.raises(ValidationError, match="kind"):
        check_candidates([{"candidate_id": "a", "award": "x", "kind": "team"}])
    with pytest.raises(ValidationError, match="candidates"):
        check_candidates("a, b")
