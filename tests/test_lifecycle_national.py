"""The national-award path (Decree 152/2025 Art. 33, 34, 44): at least 10 working days of public disclosure before
the Council, the comments reported to it in writing, the Council's thresholds of 90% (Chiến sĩ thi đua toàn quốc)
and 80% (Cờ thi đua của Chính phủ) of the membership, the provincial Party standing committee's opinion, hiệp y
with tax, social insurance, environment and police for an enterprise, then the submission to the central level."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction

import pytest
import yaml

from engine.core.tally import parse_rules, tally
from engine.core.tally import rules_in_force as council_rules_in_force
from engine.services.timers import fire_due_timers
from tests.conftest import ROOT
from tests.test_lifecycle_helpers import (
    complete,
    completions,
    ctx_fixture,  # noqa: F401 - fixture
    data_of,
    lifecycle_fixture,  # noqa: F401 - fixture
    one_task,
    open_tasks,
    start,
    status_of,
    who,
)
from tests.test_lifecycle_nomination import DOCS, by_candidate, task_data

# A national candidate of a sở (an individual, not an enterprise: no hiệp y), as the provincial round hands it on.
SYT_NATIONAL = {
    "candidate_id": "SYT-2024-1",
    "name": "Trịnh Văn Khôi",
    "kind": "individual",
    "award": "chien_si_thi_dua_toan_quoc",
    "unit_id": "SYT",
    "level": "national",
    "enterprise": False,
}
CSTD_TOAN_QUOC = {  # Law 2022 Art. 21: twice Chiến sĩ thi đua cấp tỉnh in a row, an initiative of national reach
    "name": "Trịnh Văn Khôi",
    "kind": "individual",
    "award": "chien_si_thi_dua_toan_quoc",
    "chien_si_thi_dua_tinh_consecutive": 2,
    "initiative_national": True,
}
CO_CHINH_PHU = {  # Law 2022 Art. 25: excellent completion, leads the province's movement, a new model
    "name": "Công ty TNHH MTV Cấp thoát nước An Bình",
    "kind": "collective",
    "award": "co_thi_dua_chinh_phu",
    "excellent_completion": True,
    "leads_province_movement": True,
    "new_model": True,
    "enterprise": True,
}
PROVINCIAL = {
    "name": "Vũ Thị Nga",
    "kind": "individual",
    "award": "bang_khen_chu_tich",
    "outstanding_achievement": True,
}


def _dossiers_through(sessions, ctx, iid: int, people: dict[str, str]) -> None:
    """Prepare, sign and find eligible every dossier of the round (people: unit -> (officer, head))."""
    for task in by_candidate(sessions, ctx, iid, "dossier_prepare").values():
        docs = dict(DOCS, xac_nhan_sang_kien="files/sk.pdf")
        complete(sessions, ctx, task, people[task.unit_id][0], {"documents": docs, "achievement_summary": "Xuất sắc"})
    for task in by_candidate(sessions, ctx, iid, "dossier_sign").values():
        complete(sessions, ctx, task, people[task.unit_id][1], {"head_decision": "sign"})
    for task in by_candidate(sessions, ctx, iid, "dossier_appraise").values():
        assert task_data(sessions, ctx, task)["findings"] == []
        complete(sessions, ctx, task, "an.tdkt", {"appraisal": "eligible"})


def test_a_national_round_discloses_ten_working_days_reports_consults_and_submits(sessions, ctx, clock, lifecycle):
    iid = start(sessions, ctx, "nomination", nomination_units=["SYT", "CTNAB"], sudden=False)
    complete(
        sessions,
        ctx,
        one_task(sessions, iid, "nom_unit_council", "SYT"),
        "nga.vt",
        {"meeting_date": "2024-03-19", "unit_candidates": [CSTD_TOAN_QUOC, PROVINCIAL]},
    )
    complete(
        sessions,
        ctx,
        one_task(sessions, iid, "nom_unit_council", "CTNAB"),
        "loc.vp",
        {"meeting_date": "2024-03-19", "unit_candidates": [CO_CHINH_PHU]},
    )
    _dossiers_through(sessions, ctx, iid, {"SYT": ("linh.tm", "duc.hm"), "CTNAB": ("nam.tk", "huong.gt")})

    publish = one_task(sessions, iid, "nom_disclosure_publish")
    data = task_data(sessions, ctx, publish)
    assert data["disclosure_days"] == 10  # rules["disclosure"]["national_days"]: a national candidate is listed
    assert [(c["award"], c["level"], c["enterprise"]) for c in data["candidates"]] == [
        ("chien_si_thi_dua_toan_quoc", "national", False),
        ("bang_khen_chu_tich", "province", False),
        ("co_thi_dua_chinh_phu", "national", True),
    ]
    complete(sessions, ctx, publish, "an.tdkt", {"published_at": "2024-03-19", "published_where": "Cổng TTĐT"})
    ten, nine = ctx.calendar.add_working_days(clock.now(), 10), ctx.calendar.add_working_days(clock.now(), 9)
    clock.set(nine + timedelta(minutes=1))
    assert fire_due_timers(sessions, ctx, owner="test") == 0  # nine working days: the period still runs
    assert open_tasks(sessions, iid) == []
    clock.set(ten + timedelta(minutes=1))
    assert fire_due_timers(sessions, ctx, owner="test") >= 1
    complete(
        sessions,
        ctx,
        one_task(sessions, iid, "nom_disclosure_comments"),
        "an.tdkt",
        {"comments": [{"content": "Đề nghị làm rõ sáng kiến", "answer": "Đã có xác nhận"}], "withdrawn": []},
    )

    report = one_task(sessions, iid, "nom_comments_report")  # in writing, before the Council (Art. 44(2))
    assert who(report) == ("nom_comments_report", "home_affairs", "SNV")
    assert [t.element_id for t in open_tasks(sessions, iid)] == ["nom_comments_report"]
    complete(
        sessions,
        ctx,
        report,
        "an.tdkt",
        {
            "comments_report_number": "15/BC-SNV",
            "comments_report_file": "files/bc-y-kien.pdf",
            "comments_report_summary": "Một ý kiến, đã trả lời",
        },
    )

    vote = one_task(sessions, iid, "council_stub_results")
    before_council = task_data(sessions, ctx, vote)  # the report reaches the Council meeting in writing
    assert (before_council["comments_report_number"], before_council["comments_report_summary"]) == (
        "15/BC-SNV",
        "Một ý kiến, đã trả lời",
    )
    ids = {c["name"]: c["candidate_id"] for c in data["candidates"]}
    results = [
        {
            "candidate_id": ids[CSTD_TOAN_QUOC["name"]],
            "award": "chien_si_thi_dua_toan_quoc",
            "passed": True,
            "agree": 10,
            "disagree": 1,
            "members": 11,
        },
        {
            "candidate_id": ids[PROVINCIAL["name"]],
            "award": "bang_khen_chu_tich",
            "passed": True,
            "agree": 9,
            "disagree": 2,
            "members": 11,
        },
        {
            "candidate_id": ids[CO_CHINH_PHU["name"]],
            "award": "co_thi_dua_chinh_phu",
            "passed": True,
            "agree": 9,
            "disagree": 2,
            "members": 11,
        },
    ]
    complete(sessions, ctx, vote, "thu.ky", {"council_results": results})

    party = one_task(sessions, iid, "nprop_party_opinion")
    assert who(party) == ("nprop_party_opinion", "home_affairs", "SNV")
    assert [t.element_id for t in open_tasks(sessions, iid)] == ["nprop_party_opinion"]  # the Chairman waits
    assert [c["name"] for c in task_data(sessions, ctx, party)["national_candidates"]] == [
        CSTD_TOAN_QUOC["name"],
        CO_CHINH_PHU["name"],
    ]
    complete(
        sessions,
        ctx,
        party,
        "an.tdkt",
        {"party_document_number": "120-CV/TU", "party_decision": "agree", "party_not_agreed": []},
    )

    hiep_y = [t for t in open_tasks(sessions, iid) if t.element_id == "nprop_consultation"]
    asked = sorted(task_data(sessions, ctx, t)["consultation"]["agency"] for t in hiep_y)
    assert asked == ["bhxh", "cong_an", "moi_truong", "thue"]  # four agencies, for the enterprise only
    assert {task_data(sessions, ctx, t)["consultation"]["candidate_id"] for t in hiep_y} == {ids[CO_CHINH_PHU["name"]]}
    assert {who(t) for t in hiep_y} == {("nprop_consultation", "home_affairs", "SNV")}
    for n, task in enumerate(hiep_y):
        complete(
            sessions, ctx, task, "binh.tdkt", {"consultation_answer": "agree", "consultation_document": f"{100 + n}/CV"}
        )

    submit = one_task(sessions, iid, "nprop_submit")
    assert who(submit) == ("nprop_submit", "chairman", "TINH")
    complete(
        sessions,
        ctx,
        submit,
        "chu.tich",
        {"submission_number": "45/TTr-UBND", "submitted_date": "2024-04-15", "electronic_reference": "BNV-2024-000123"},
    )
    decision = one_task(sessions, iid, "nom_decision")
    complete(sessions, ctx, decision, "chu.tich", {"decision_number": "1300/QĐ-UBND", "signed_date": "2024-04-16"})
    complete(
        sessions,
        ctx,
        one_task(sessions, iid, "nom_certificates"),
        "an.tdkt",
        {"certificates_issued": 1, "notified": True},
    )
    assert status_of(sessions, iid) == "completed"
    result = data_of(sessions, ctx, iid)["nomination_result"]
    assert result["awarded"] == [ids[PROVINCIAL["name"]]]  # the Chairman decides the provincial award only
    national = result["national"]
    assert national["proposed"] == [ids[CSTD_TOAN_QUOC["name"]], ids[CO_CHINH_PHU["name"]]]
    assert (national["electronic_reference"], national["party_document_number"]) == ("BNV-2024-000123", "120-CV/TU")
    assert national["withheld"] == []
    order = [e for e, _ in completions(sessions, iid)]
    assert (
        order.index("nom_comments_report")
        < order.index("council_stub_results")
        < order.index("nprop_party_opinion")
        < order.index("nprop_consultation")
        < order.index("nprop_submit")
    )


def test_an_objecting_agency_or_the_party_committee_withholds_a_candidate(sessions, ctx, clock, lifecycle):
    """One agency's objection (the police report a violation) withholds the enterprise; an individual of a sở is
    never consulted; the Party committee's refusal withholds the other: nothing is submitted."""
    iid = start(
        sessions,
        ctx,
        "national_proposal",
        national_candidates=[
            SYT_NATIONAL,
            {
                "candidate_id": "CTNAB-2024-1",
                "name": "Công ty Cấp thoát nước",
                "kind": "collective",
                "award": "co_thi_dua_chinh_phu",
                "unit_id": "CTNAB",
                "level": "national",
                "enterprise": True,
            },
        ],
    )
    complete(
        sessions,
        ctx,
        one_task(sessions, iid, "nprop_party_opinion"),
        "an.tdkt",
        {
            "party_document_number": "121-CV/TU",
            "party_decision": "agree_in_part",
            "party_not_agreed": [{"candidate_id": "SYT-2024-1", "reason": "Chưa đủ tiêu biểu"}],
        },
    )
    hiep_y = open_tasks(sessions, iid)
    assert len(hiep_y) == 4
    for task in hiep_y:
        agency = task_data(sessions, ctx, task)["consultation"]["agency"]
        answer = "objection" if agency == "cong_an" else "agree"
        complete(sessions, ctx, task, "binh.tdkt", {"consultation_answer": answer, "consultation_document": "1/CV"})
    assert status_of(sessions, iid) == "completed"  # nobody left to submit: no submission task
    result = data_of(sessions, ctx, iid)["national_result"]
    assert result["proposed"] == [] and result["electronic_reference"] is None
    assert result["withheld"] == [
        {"candidate_id": "SYT-2024-1", "reason": "party_opinion"},
        {"candidate_id": "CTNAB-2024-1", "reason": "consultation"},
    ]
    assert {c["agency"]: c["answer"] for c in result["consultations"]}["cong_an"] == "objection"


def test_an_individual_of_a_department_is_not_consulted(sessions, ctx, lifecycle):
    iid = start(
        sessions,
        ctx,
        "national_proposal",
        national_candidates=[SYT_NATIONAL],
    )
    complete(
        sessions,
        ctx,
        one_task(sessions, iid, "nprop_party_opinion"),
        "an.tdkt",
        {"party_document_number": "122-CV/TU", "party_decision": "agree", "party_not_agreed": []},
    )
    submit = one_task(sessions, iid, "nprop_submit")  # straight to the submission: no hiệp y
    assert [t.element_id for t in open_tasks(sessions, iid)] == ["nprop_submit"]
    complete(
        sessions,
        ctx,
        submit,
        "chu.tich",
        {"submission_number": "46/TTr-UBND", "submitted_date": "2024-04-15", "electronic_reference": "BNV-2024-000124"},
    )
    result = data_of(sessions, ctx, iid)["national_result"]
    assert (result["proposed"], result["consultations"]) == (["SYT-2024-1"], [])


def test_a_provincial_round_keeps_five_days_and_no_written_report(sessions, ctx, clock, lifecycle):
    iid = start(sessions, ctx, "nomination", nomination_units=["SYT"], sudden=False)
    complete(
        sessions,
        ctx,
        one_task(sessions, iid, "nom_unit_council"),
        "nga.vt",
        {"meeting_date": "2024-03-19", "unit_candidates": [PROVINCIAL]},
    )
    _dossiers_through(sessions, ctx, iid, {"SYT": ("linh.tm", "duc.hm")})
    publish = one_task(sessions, iid, "nom_disclosure_publish")
    assert task_data(sessions, ctx, publish)["disclosure_days"] == 5
    complete(sessions, ctx, publish, "an.tdkt", {"published_at": "2024-03-19", "published_where": "Cổng TTĐT"})
    clock.advance(timedelta(days=8))
    fire_due_timers(sessions, ctx, owner="test")
    complete(
        sessions, ctx, one_task(sessions, iid, "nom_disclosure_comments"), "an.tdkt", {"comments": [], "withdrawn": []}
    )
    vote = one_task(sessions, iid, "council_stub_results")  # no written report, no national path
    cid = task_data(sessions, ctx, vote)["candidates"][0]["candidate_id"]
    complete(
        sessions,
        ctx,
        vote,
        "thu.ky",
        {
            "council_results": [
                {
                    "candidate_id": cid,
                    "award": "bang_khen_chu_tich",
                    "passed": True,
                    "agree": 9,
                    "disagree": 2,
                    "members": 11,
                }
            ]
        },
    )
    complete(
        sessions,
        ctx,
        one_task(sessions, iid, "nom_decision"),
        "chu.tich",
        {"decision_number": "1301/QĐ-UBND", "signed_date": "2024-04-01"},
    )
    complete(
        sessions,
        ctx,
        one_task(sessions, iid, "nom_certificates"),
        "an.tdkt",
        {"certificates_issued": 1, "notified": True},
    )
    result = data_of(sessions, ctx, iid)["nomination_result"]
    assert result["awarded"] == [cid] and "national" not in result
    elements = {e for e, _ in completions(sessions, iid)}
    assert not elements & {"nom_comments_report", "nprop_party_opinion", "nprop_consultation", "nprop_submit"}


COUNCIL = parse_rules(yaml.safe_load((ROOT / "rules" / "council.yaml").read_text(encoding="utf-8")))


@pytest.mark.parametrize(
    ("award", "agree", "passed"),
    [
        ("chien_si_thi_dua_toan_quoc", 90, True),
        ("chien_si_thi_dua_toan_quoc", 89, False),
        ("co_thi_dua_chinh_phu", 80, True),
        ("co_thi_dua_chinh_phu", 79, False),
    ],
)
@pytest.mark.parametrize("on", [date(2025, 7, 1), date(2026, 1, 1)])
def test_the_council_counts_national_awards_on_the_whole_membership(award, agree, passed, on):
    """Decree 152/2025 Art. 33(5): 90% (CSTĐ toàn quốc) / 80% (Cờ thi đua của Chính phủ) of the whole membership,
    absent members counted: 100 members, 95 present."""
    members = [f"m{i}" for i in range(100)]
    present = members[:95]
    slips = [(award, "agree")] * agree + [(award, "disagree")] * (95 - agree)
    candidate = {"candidate_id": award, "award": award, "kind": "individual", "unit_id": "SYT"}
    (result,) = tally([candidate], [], members, present, slips, council_rules_in_force(COUNCIL, on))
    assert (result.passed, result.counted_on, result.basis) == (passed, "membership", 100)
    assert result.share == (Fraction(9, 10) if award == "chien_si_thi_dua_toan_quoc" else Fraction(4, 5))


@pytest.mark.parametrize(("on", "share"), [(date(2025, 7, 1), Fraction(1, 2)), (date(2026, 1, 1), Fraction(4, 5))])
def test_bang_khen_thu_tuong_takes_the_provinces_own_threshold(on, share):
    """Decree 152 names no share for Bằng khen của Thủ tướng: under the national default the default threshold
    applies (half of the membership); the province's 2026 instrument sets 80%, above its own Bằng khen's 70%."""
    members = [f"m{i}" for i in range(100)]
    candidate = {"candidate_id": "bk", "award": "bang_khen_thu_tuong", "kind": "individual", "unit_id": "SYT"}
    slips = [("bk", "agree")] * 79 + [("bk", "disagree")] * 21
    (result,) = tally([candidate], [], members, members, slips, council_rules_in_force(COUNCIL, on))
    assert (result.share, result.counted_on) == (share, "membership")
    assert result.passed is (share == Fraction(1, 2))  # 79 of 100: enough for half, not for 80%
