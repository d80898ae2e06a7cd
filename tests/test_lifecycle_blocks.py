"""Blocks and clusters at year end (Law 2022 Art. 26; Decree 152/2025): the leader's officer scores every member,
every member's head votes on proposing the top-scored one, the leader's head confirms; with more than half agreeing
the top-scored member is the block's proposal for the Cờ thi đua, its scoring minutes the dossier's
``bien_ban_cham_diem_khoi``; the leadership passes to the next member. A unit council may propose
the Cờ thi đua only for a unit that leads its block: the block's result decides ``leads_block``, not the council."""

from __future__ import annotations

from tests.test_lifecycle_helpers import (
    complete,
    ctx_fixture,  # noqa: F401 - fixture
    data_of,
    lifecycle_fixture,  # noqa: F401 - fixture
    one_task,
    start,
    status_of,
    who,
)
from tests.test_lifecycle_nomination import by_candidate, task_data

BLOCK = {
    "block_id": "khoi_so_nganh",
    "name": "Khối các sở, ngành",
    "leader_unit": "SYT",
    "members": ["SGDDT", "SYT", "STC"],
}
SCORES = [{"unit_id": "SGDDT", "score": 88}, {"unit_id": "SYT", "score": 90}, {"unit_id": "STC", "score": 95}]
MINUTES = "files/bien-ban-cham-diem-khoi.pdf"


HEADS = {"SGDDT": "quang.lv", "SYT": "duc.hm", "STC": "phuong.bt"}


def _scored(sessions, ctx, votes: dict[str, str] | None = None) -> dict:
    iid = start(sessions, ctx, "block_scoring", unit="SYT", block=BLOCK)
    score = one_task(sessions, iid, "bscore_score")
    assert who(score) == ("bscore_score", "unit_officer", "SYT")  # the block leader's officer
    complete(sessions, ctx, score, "linh.tm", {"scores": SCORES, "minutes_file": MINUTES})
    votes = votes or {"SGDDT": "agree", "SYT": "agree", "STC": "disagree"}
    for unit in BLOCK["members"]:
        vote = one_task(sessions, iid, "bscore_vote", unit)
        assert who(vote) == ("bscore_vote", "unit_head", unit)  # each member's own head
        assert task_data(sessions, ctx, vote)["top_scored_unit"] == "STC"
        complete(sessions, ctx, vote, HEADS[unit], {"vote": votes[unit]})
    confirm = one_task(sessions, iid, "bscore_confirm")
    assert who(confirm) == ("bscore_confirm", "unit_head", "SYT")  # the block leader's head
    expected = "STC" if list(votes.values()).count("agree") * 2 > len(votes) else None
    assert task_data(sessions, ctx, confirm)["leading_unit"] == expected
    complete(sessions, ctx, confirm, "duc.hm", {"confirmed": True})
    assert status_of(sessions, iid) == "completed"
    return data_of(sessions, ctx, iid)["block_result"]


def test_the_block_scores_its_members_proposes_the_top_one_and_passes_the_lead_on(sessions, ctx, lifecycle):
    result = _scored(sessions, ctx)
    assert result["leading_unit"] == "STC"
    assert (result["leader_unit"], result["next_leader_unit"]) == ("SYT", "STC")  # the next member in the list
    assert result["scores"] == SCORES and result["unscored"] == []
    assert result["minutes_file"] == MINUTES
    assert (result["agree_votes"], result["members_count"]) == (2, 3)


def test_without_more_than_half_of_the_members_the_block_proposes_nobody(sessions, ctx, lifecycle):
    result = _scored(sessions, ctx, {"SGDDT": "agree", "SYT": "disagree", "STC": "disagree"})
    assert (result["top_scored_unit"], result["leading_unit"]) == ("STC", None)
    assert result["next_leader_unit"] == "STC"  # the lead passes on all the same


def _co_thi_dua(name: str, leads_block: bool) -> dict:
    return {
        "name": name,
        "kind": "collective",
        "award": "co_thi_dua_tinh",
        "excellent_completion": True,
        "leads_block": leads_block,
    }


def test_only_the_unit_leading_its_block_passes_the_co_thi_dua_check(sessions, ctx, lifecycle):
    result = _scored(sessions, ctx)
    iid = start(sessions, ctx, "nomination", nomination_units=["STC", "SYT"], sudden=False, block_results=[result])
    complete(
        sessions,
        ctx,
        one_task(sessions, iid, "nom_unit_council", "STC"),
        "son.nh",
        {"meeting_date": "2024-11-25", "unit_candidates": [_co_thi_dua("Sở Tài chính", False)]},
    )
    # the council of SYT says it leads its block: the block's scoring says otherwise
    complete(
        sessions,
        ctx,
        one_task(sessions, iid, "nom_unit_council", "SYT"),
        "nga.vt",
        {"meeting_date": "2024-11-25", "unit_candidates": [_co_thi_dua("Sở Y tế", True)]},
    )
    prepare = by_candidate(sessions, ctx, iid, "dossier_prepare")
    leader = task_data(sessions, ctx, prepare["Sở Tài chính"])
    assert (leader["candidate"]["leads_block"], leader["block_minutes_file"]) == (True, MINUTES)
    assert "bien_ban_cham_diem_khoi" in leader["required_documents"]
    assert task_data(sessions, ctx, prepare["Sở Y tế"])["candidate"]["leads_block"] is False
    people = {"Sở Tài chính": ("khanh.dq", "phuong.bt"), "Sở Y tế": ("linh.tm", "duc.hm")}
    for name, task in prepare.items():
        docs = {d: f"files/{d}.pdf" for d in ("to_trinh", "bao_cao_thanh_tich", "bien_ban_binh_xet")}
        docs["bien_ban_cham_diem_khoi"] = MINUTES
        complete(sessions, ctx, task, people[name][0], {"documents": docs, "achievement_summary": "Dẫn đầu khối"})
    for name, task in by_candidate(sessions, ctx, iid, "dossier_sign").items():
        complete(sessions, ctx, task, people[name][1], {"head_decision": "sign"})
    appraise = by_candidate(sessions, ctx, iid, "dossier_appraise")
    assert task_data(sessions, ctx, appraise["Sở Tài chính"])["findings"] == []
    assert task_data(sessions, ctx, appraise["Sở Y tế"])["findings"] == ["not_block_leader"]
