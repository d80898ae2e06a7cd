"""Nominations: unit council, dossiers per candidate (Art. 84), appraisal (eligible / supplement / rejected),
public disclosure with its comment period, the Council vote (stand-in), the Chairman's decision; and the short
path for a sudden achievement."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from engine.core.runtime import find_task
from engine.persistence.models import HumanTask
from engine.services import initiatives, instances
from engine.services.definitions import deploy
from engine.services.instance_store import load_instance
from engine.services.org import load_org_file
from engine.services.timers import fire_due_timers
from engine.simulation import council
from engine.simulation.council import COUNCIL_FORMS
from engine.simulation.officers import Behaviour
from tests.conftest import BPMN_DIR, ROOT
from tests.test_lifecycle_helpers import (
    audit_trail,
    base_data,
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

DOCS = {"to_trinh": "files/tt.pdf", "bao_cao_thanh_tich": "files/bc.pdf", "bien_ban_binh_xet": "files/bb.pdf"}
ELIGIBLE = {  # Bằng khen (Law Art. 74): an outstanding achievement is one of its ways in
    "name": "Vũ Thị Nga",
    "kind": "individual",
    "award": "bang_khen_chu_tich",
    "disciplined": False,
    "outstanding_achievement": True,
}
INELIGIBLE = {  # Chiến sĩ thi đua cấp tỉnh needs three consecutive years of CSTĐ cơ sở: this one has two
    "name": "Hoàng Minh Đức",
    "kind": "individual",
    "award": "chien_si_thi_dua_tinh",
    "has_initiative": True,
    "initiative_provincial": True,
    "titles": [{"year": 2024, "title": "chien_si_thi_dua_co_so"}, {"year": 2023, "title": "chien_si_thi_dua_co_so"}],
}
COLLECTIVE = {  # Tập thể lao động xuất sắc (Law Art. 27): every member completes, 70% LĐTT, one CSTĐ cơ sở
    "name": "Khoa Nội",
    "kind": "collective",
    "award": "tap_the_lao_dong_xuat_sac",
    "excellent_completion": True,
    "members_completed_share": 1.0,
    "lao_dong_tien_tien_share": 0.8,
    "chien_si_thi_dua_co_so_count": 2,
}


def task_data(sessions, ctx, task) -> dict[str, Any]:
    with sessions() as s:
        loaded = load_instance(s, ctx, task.instance_id)
        return dict(find_task(loaded.workflow, task.task_guid).data)


def by_candidate(sessions, ctx, iid: int, element_id: str) -> dict[str, Any]:
    found = {}
    for task in open_tasks(sessions, iid):
        if task.element_id == element_id:
            found[task_data(sessions, ctx, task)["candidate"]["name"]] = task
    return found


def test_dossiers_appraised_disclosed_voted_and_decided(sessions, ctx, clock, lifecycle):
    iid = start(sessions, ctx, "nomination", nomination_units=["SYT"], sudden=False)
    council = one_task(sessions, iid, "nom_unit_council")
    assert who(council) == ("nom_unit_council", "unit_council", "SYT")
    complete(
        sessions,
        ctx,
        council,
        "nga.vt",
        {"meeting_date": "2024-03-19", "unit_candidates": [ELIGIBLE, INELIGIBLE, COLLECTIVE]},
    )

    prepare = by_candidate(sessions, ctx, iid, "dossier_prepare")
    assert sorted(prepare) == ["Hoàng Minh Đức", "Khoa Nội", "Vũ Thị Nga"]
    assert {who(t) for t in prepare.values()} == {("dossier_prepare", "unit_officer", "SYT")}
    complete(sessions, ctx, prepare["Vũ Thị Nga"], "linh.tm", {"documents": DOCS, "achievement_summary": "Xuất sắc"})
    complete(sessions, ctx, prepare["Hoàng Minh Đức"], "linh.tm", {"documents": DOCS, "achievement_summary": "Tốt"})
    incomplete = {k: v for k, v in DOCS.items() if k != "bien_ban_binh_xet"}
    complete(sessions, ctx, prepare["Khoa Nội"], "linh.tm", {"documents": incomplete, "achievement_summary": "Tốt"})
    for task in by_candidate(sessions, ctx, iid, "dossier_sign").values():
        assert who(task) == ("dossier_sign", "unit_head", "SYT")
        complete(sessions, ctx, task, "duc.hm", {"head_decision": "sign"})

    appraise = by_candidate(sessions, ctx, iid, "dossier_appraise")
    assert {who(t) for t in appraise.values()} == {("dossier_appraise", "home_affairs", "SNV")}
    offered = {name: task_data(sessions, ctx, t)["dossier_recommend_result"] for name, t in appraise.items()}
    assert offered == {
        "Vũ Thị Nga": {"recommendation": "eligible", "suggested_reason": None},
        "Hoàng Minh Đức": {"recommendation": "reject", "suggested_reason": "standard_not_met"},
        "Khoa Nội": {"recommendation": "supplement", "suggested_reason": "incomplete"},
    }
    findings = task_data(sessions, ctx, appraise["Hoàng Minh Đức"])["findings"]
    assert findings == ["missing:xac_nhan_sang_kien", "prerequisite:chien_si_thi_dua_co_so"]
    complete(sessions, ctx, appraise["Vũ Thị Nga"], "an.tdkt", {"appraisal": "eligible"})
    reject = {"appraisal": "reject", "reject_reason": "standard_not_met"}
    complete(sessions, ctx, appraise["Hoàng Minh Đức"], "an.tdkt", reject)
    supplement = {"appraisal": "supplement", "supplement_request": "Bổ sung biên bản bình xét"}
    complete(sessions, ctx, appraise["Khoa Nội"], "an.tdkt", supplement)

    told = one_task(sessions, iid, "dossier_rejection_notice")  # the unit is told why
    assert who(told) == ("dossier_rejection_notice", "unit_officer", "SYT")
    assert task_data(sessions, ctx, told)["reject_reason"] == "standard_not_met"
    complete(sessions, ctx, told, "linh.tm", {"acknowledged": True})
    more = one_task(sessions, iid, "dossier_supplement")
    assert who(more) == ("dossier_supplement", "unit_officer", "SYT")
    complete(sessions, ctx, more, "linh.tm", {"documents": DOCS})
    again = one_task(sessions, iid, "dossier_appraise")
    assert task_data(sessions, ctx, again)["dossier_recommend_result"]["recommendation"] == "eligible"
    complete(sessions, ctx, again, "binh.tdkt", {"appraisal": "eligible"})

    publish = one_task(sessions, iid, "nom_disclosure_publish")
    assert who(publish) == ("nom_disclosure_publish", "home_affairs", "SNV")
    candidates = task_data(sessions, ctx, publish)["candidates"]
    assert [(c["name"], c["award"], c["unit_id"]) for c in candidates] == [
        ("Vũ Thị Nga", "bang_khen_chu_tich", "SYT"),
        ("Khoa Nội", "tap_the_lao_dong_xuat_sac", "SYT"),
    ]
    complete(sessions, ctx, publish, "an.tdkt", {"published_at": "2024-03-19", "published_where": "Cổng TTĐT"})
    assert open_tasks(sessions, iid) == []  # the comment period runs: 5 working days (rules 2024.1)
    clock.advance(timedelta(days=3))
    assert fire_due_timers(sessions, ctx, owner="test") == 0
    clock.advance(timedelta(days=5))
    assert fire_due_timers(sessions, ctx, owner="test") >= 1
    comments = one_task(sessions, iid, "nom_disclosure_comments")
    complete(sessions, ctx, comments, "an.tdkt", {"comments": [], "withdrawn": []})

    vote = one_task(sessions, iid, "council_stub_results")
    assert who(vote) == ("council_stub_results", "council_secretary", "HDTDKT")
    ids = {c["name"]: c["candidate_id"] for c in candidates}
    results = [
        {"candidate_id": ids["Vũ Thị Nga"], "award": "bang_khen_chu_tich", "passed": True, "agree": 10, "disagree": 1,
         "members": 11},
        {"candidate_id": ids["Khoa Nội"], "award": "tap_the_lao_dong_xuat_sac", "passed": False, "agree": 4,
         "disagree": 7, "members": 11},
    ]  # fmt: skip
    complete(sessions, ctx, vote, "thu.ky", {"council_results": results})
    decision = one_task(sessions, iid, "nom_decision")
    assert who(decision) == ("nom_decision", "chairman", "TINH")
    complete(sessions, ctx, decision, "chu.tich", {"decision_number": "1234/QĐ-UBND", "signed_date": "2024-04-01"})
    complete(sessions, ctx, one_task(sessions, iid, "nom_certificates"), "an.tdkt", {"certificates_issued": 1,
                                                                                      "notified": True})  # fmt: skip

    assert status_of(sessions, iid) == "completed"
    assert data_of(sessions, ctx, iid)["nomination_result"] == {
        "awarded": [ids["Vũ Thị Nga"]],
        "not_passed": [ids["Khoa Nội"]],
        "rejected": ["SYT-2024-2"],
        "decision_number": "1234/QĐ-UBND",
    }
    trail = audit_trail(sessions, iid)
    assert ("timer.fired", "nom_disclosure_wait", "scheduler") in trail
    assert completions(sessions, iid)[-3:] == [
        ("council_stub_results", "thu.ky"),
        ("nom_decision", "chu.tich"),
        ("nom_certificates", "an.tdkt"),
    ]


def test_sudden_achievement_skips_disclosure_and_council(sessions, ctx, lifecycle):
    """Đột xuất (Law Art. 84(2), 85): the officer proposes without the unit council's review; the dossier is the
    short one (tờ trình, a summary report, the certification of the achievement) and no merit condition applies."""
    iid = start(sessions, ctx, "nomination", unit="HPT", nomination_units=["HPT"], sudden=True)
    hero = {"name": "Cao Văn Tâm", "kind": "individual", "award": "bang_khen_chu_tich"}
    propose = one_task(sessions, iid, "nom_sudden_propose")
    assert who(propose) == ("nom_sudden_propose", "unit_officer", "HPT")
    proposal = {"achievement_date": "2024-03-18", "achievement": "Cứu người trong lũ", "unit_candidates": [hero]}
    complete(sessions, ctx, propose, "tam.cv", proposal)
    prepare = one_task(sessions, iid, "dossier_prepare")
    short = ["to_trinh", "bao_cao_tom_tat", "xac_nhan_thanh_tich"]
    assert task_data(sessions, ctx, prepare)["required_documents"] == short
    documents = {d: f"files/{d}.pdf" for d in short}
    complete(sessions, ctx, prepare, "tam.cv", {"documents": documents, "achievement_summary": "Cứu người trong lũ"})
    complete(sessions, ctx, one_task(sessions, iid, "dossier_sign"), "hanh.mt", {"head_decision": "sign"})
    appraise = one_task(sessions, iid, "dossier_appraise")
    assert task_data(sessions, ctx, appraise)["findings"] == []
    assert task_data(sessions, ctx, appraise)["dossier_recommend_result"]["recommendation"] == "eligible"
    complete(sessions, ctx, appraise, "an.tdkt", {"appraisal": "eligible"})
    decision = one_task(sessions, iid, "nom_decision")
    assert who(decision) == ("nom_decision", "chairman", "TINH")
    complete(sessions, ctx, decision, "chu.tich", {"decision_number": "88/QĐ-UBND", "signed_date": "2024-03-20"})
    complete(sessions, ctx, one_task(sessions, iid, "nom_certificates"), "an.tdkt",
             {"certificates_issued": 1, "notified": True})  # fmt: skip
    assert status_of(sessions, iid) == "completed"
    assert data_of(sessions, ctx, iid)["nomination_result"]["awarded"] == ["HPT-2024-1"]
    elements = {e for e, _ in completions(sessions, iid)}
    assert "nom_disclosure_publish" not in elements and "council_stub_results" not in elements
    assert "nom_unit_council" not in elements  # no unit-council minutes


def test_dossier_still_incomplete_after_two_supplements_is_recommended_for_rejection(sessions, ctx, lifecycle):
    iid = start(sessions, ctx, "nomination_dossier", unit="STC", unit_id="STC",
                candidate={"candidate_id": "STC-2024-1", "name": "Bùi Thị Phương", "kind": "individual",
                           "award": "bang_khen_chu_tich", "outstanding_achievement": True})  # fmt: skip
    missing = {"to_trinh": "files/tt.pdf"}
    complete(sessions, ctx, one_task(sessions, iid, "dossier_prepare"), "khanh.dq",
             {"documents": missing, "achievement_summary": "Tốt"})  # fmt: skip
    complete(sessions, ctx, one_task(sessions, iid, "dossier_sign"), "phuong.bt", {"head_decision": "sign"})
    for _ in range(2):
        appraise = one_task(sessions, iid, "dossier_appraise")
        assert task_data(sessions, ctx, appraise)["dossier_recommend_result"]["recommendation"] == "supplement"
        complete(sessions, ctx, appraise, "an.tdkt", {"appraisal": "supplement", "supplement_request": "Thiếu"})
        complete(sessions, ctx, one_task(sessions, iid, "dossier_supplement"), "khanh.dq", {"documents": missing})
    appraise = one_task(sessions, iid, "dossier_appraise")
    assert task_data(sessions, ctx, appraise)["dossier_recommend_result"] == {
        "recommendation": "reject",
        "suggested_reason": "incomplete",
    }
    complete(sessions, ctx, appraise, "an.tdkt", {"appraisal": "reject", "reject_reason": "incomplete"})
    complete(sessions, ctx, one_task(sessions, iid, "dossier_rejection_notice"), "khanh.dq", {"acknowledged": True})
    assert data_of(sessions, ctx, iid)["dossier_result"]["status"] == "rejected"
    assert data_of(sessions, ctx, iid)["dossier_result"]["reason"] == "incomplete"


def test_with_the_real_council_meeting(sessions, ctx, clock):
    """bpmn/council_meeting.bpmn (issue 6) called through the agreed interface, its tasks done through its
    ballot services: every member agrees, so the candidate passes and reaches the Chairman's decision."""
    files = [(p.name, p.read_bytes()) for p in sorted(BPMN_DIR.iterdir()) if p.suffix in (".bpmn", ".dmn")]
    files += [(p.name, p.read_bytes()) for p in sorted((ROOT / "forms").glob("*.json"))]
    with sessions() as s, s.begin():
        load_org_file(s, ROOT / "demo" / "org.yaml", clock)
        deploy(s, files, clock, actor="designer")
    iid = start(sessions, ctx, "nomination", nomination_units=["TXTM"], sudden=False)
    hero = {"name": "Hồ Tường Vy", "kind": "individual", "award": "bang_khen_chu_tich", "outstanding_achievement": True}
    complete(sessions, ctx, one_task(sessions, iid, "nom_unit_council"), "kim.lt",
             {"meeting_date": "2024-03-19", "unit_candidates": [hero]})  # fmt: skip
    complete(sessions, ctx, one_task(sessions, iid, "dossier_prepare"), "vy.ht",
             {"documents": DOCS, "achievement_summary": "Xuất sắc"})  # fmt: skip
    complete(sessions, ctx, one_task(sessions, iid, "dossier_sign"), "thang.dv", {"head_decision": "sign"})
    complete(sessions, ctx, one_task(sessions, iid, "dossier_appraise"), "an.tdkt", {"appraisal": "eligible"})
    complete(sessions, ctx, one_task(sessions, iid, "nom_disclosure_publish"), "an.tdkt",
             {"published_at": "2024-03-19", "published_where": "Cổng TTĐT"})  # fmt: skip
    clock.advance(timedelta(days=8))
    fire_due_timers(sessions, ctx, owner="test")
    complete(sessions, ctx, one_task(sessions, iid, "nom_disclosure_comments"), "an.tdkt",
             {"comments": [], "withdrawn": []})  # fmt: skip

    rng, everyone_agrees = random.Random(1), Behaviour(council_agree=1.0)
    for _ in range(20):  # convene, attendance, (written votes), 9-11 ballots, tally
        waiting = [t for t in open_tasks(sessions, iid) if t.form_key in COUNCIL_FORMS]
        if not waiting:
            break
        for task in waiting:
            assert task.unit_id == "HDTDKT" or task.assignee
            user, data = task.assignee or "thu.ky", task_data(sessions, ctx, task)
            with sessions() as s, s.begin():
                council.act(s, ctx, s.get(HumanTask, task.id), user, data, rng, everyone_agrees)
    results = data_of(sessions, ctx, iid)["council_results"]
    assert [(r["candidate_id"], r["passed"]) for r in results] == [("TXTM-2024-1", True)]
    decision = one_task(sessions, iid, "nom_decision")
    assert who(decision) == ("nom_decision", "chairman", "TINH")


def test_unit_level_titles_are_decided_in_the_unit_and_never_reach_the_council(sessions, ctx, clock, lifecycle):
    """Decree 152/2025 Art. 6(2)(c): Lao động tiên tiến, Chiến sĩ thi đua cơ sở, Tập thể lao động tiên tiến and
    Giấy khen are decided by the unit's head on its council's advice (rules: level unit); only the Bằng khen
    goes on to a dossier for the province."""
    iid = start(sessions, ctx, "nomination", nomination_units=["SYT"], sudden=False)
    ldtt = {"name": "Lê Thu Hà", "kind": "individual", "award": "lao_dong_tien_tien", "good_completion": True}
    cstd = {
        "name": "Phan Quốc Bảo",
        "kind": "individual",
        "award": "chien_si_thi_dua_co_so",
        "titles": [{"year": 2024, "title": "lao_dong_tien_tien"}],
        "excellent_completion": True,
    }
    team = {
        "name": "Khoa Nhi",
        "kind": "collective",
        "award": "tap_the_lao_dong_tien_tien",
        "good_completion": True,
        "lao_dong_tien_tien_share": 0.6,
    }
    late = {"name": "Đỗ Văn Khải", "kind": "individual", "award": "giay_khen", "disciplined": True}
    complete(sessions, ctx, one_task(sessions, iid, "nom_unit_council"), "nga.vt",
             {"meeting_date": "2024-11-25", "unit_candidates": [ldtt, cstd, team, late, ELIGIBLE]})  # fmt: skip
    head = one_task(sessions, iid, "unom_head_decision")
    assert who(head) == ("unom_head_decision", "unit_head", "SYT")
    nominees = task_data(sessions, ctx, head)["unit_nominees"]
    assert [(n["name"], n["level"]) for n in nominees] == [
        ("Lê Thu Hà", "unit"), ("Phan Quốc Bảo", "unit"), ("Khoa Nhi", "unit"), ("Đỗ Văn Khải", "unit")]  # fmt: skip
    assert [t.element_id for t in open_tasks(sessions, iid)] == ["unom_head_decision"]  # the unit decides first
    refused = [{"candidate_id": nominees[3]["candidate_id"], "reason": "Đang bị xem xét kỷ luật"}]
    complete(sessions, ctx, head, "duc.hm",
             {"decision_number": "15/QĐ-SYT", "signed_date": "2024-12-02", "not_approved": refused})  # fmt: skip
    certificates = one_task(sessions, iid, "unom_unit_certificates")
    assert who(certificates) == ("unom_unit_certificates", "unit_officer", "SYT")
    assert [a["name"] for a in task_data(sessions, ctx, certificates)["unit_awards"]] == [
        "Lê Thu Hà", "Phan Quốc Bảo", "Khoa Nhi"]  # fmt: skip
    complete(sessions, ctx, certificates, "linh.tm", {"certificates_issued": 3, "notified": True})

    prepare = by_candidate(sessions, ctx, iid, "dossier_prepare")
    assert sorted(prepare) == ["Vũ Thị Nga"]  # the only provincial award
    complete(sessions, ctx, prepare["Vũ Thị Nga"], "linh.tm", {"documents": DOCS, "achievement_summary": "Xuất sắc"})
    complete(sessions, ctx, one_task(sessions, iid, "dossier_sign"), "duc.hm", {"head_decision": "sign"})
    complete(sessions, ctx, one_task(sessions, iid, "dossier_appraise"), "an.tdkt", {"appraisal": "eligible"})
    publish = one_task(sessions, iid, "nom_disclosure_publish")
    data = task_data(sessions, ctx, publish)
    assert [c["name"] for c in data["candidates"]] == ["Vũ Thị Nga"]  # the Council sees provincial awards only
    assert [(a["name"], a["award"], a["decision_number"]) for a in data["unit_awards"]] == [
        ("Lê Thu Hà", "lao_dong_tien_tien", "15/QĐ-SYT"),
        ("Phan Quốc Bảo", "chien_si_thi_dua_co_so", "15/QĐ-SYT"),
        ("Khoa Nhi", "tap_the_lao_dong_tien_tien", "15/QĐ-SYT"),
    ]


def test_chien_si_thi_dua_co_so_beyond_the_quota_is_refused_naming_the_rule(sessions, ctx, clock, lifecycle):
    """rules.quotas (configurable per province, DOMAIN.md): CSTĐ cơ sở for at most 15% of the individuals
    recognised Lao động tiên tiến in the same decision, at least one; in the unit council's order."""
    iid = start(sessions, ctx, "nomination", nomination_units=["SYT"], sudden=False)
    ldtt = [
        {"name": f"Người {i}", "kind": "individual", "award": "lao_dong_tien_tien", "good_completion": True}
        for i in range(6)
    ]
    cstd = [
        {
            "name": name,
            "kind": "individual",
            "award": "chien_si_thi_dua_co_so",
            "titles": [{"year": 2024, "title": "lao_dong_tien_tien"}],
            "excellent_completion": True,
        }
        for name in ("Phan Quốc Bảo", "Trần Thị Mai")
    ]
    complete(sessions, ctx, one_task(sessions, iid, "nom_unit_council"), "nga.vt",
             {"meeting_date": "2024-11-25", "unit_candidates": [*cstd, *ldtt]})  # fmt: skip
    head = one_task(sessions, iid, "unom_head_decision")
    complete(
        sessions, ctx, head, "duc.hm", {"decision_number": "16/QĐ-SYT", "signed_date": "2024-12-02", "not_approved": []}
    )
    data = task_data(sessions, ctx, one_task(sessions, iid, "unom_unit_certificates"))
    awarded = [a["name"] for a in data["unit_awards"] if a["award"] == "chien_si_thi_dua_co_so"]
    assert awarded == ["Phan Quốc Bảo"]  # 8 individuals x 15% = 1.2: one, the first the council listed
    [over] = data["unit_refused"]
    assert over["name"] == "Trần Thị Mai"
    assert over["reason"].startswith("over_quota: ") and "15%" in over["reason"] and "(1 của 8)" in over["reason"]
    assert len([a for a in data["unit_awards"] if a["award"] == "lao_dong_tien_tien"]) == 6


def test_a_sudden_national_award_goes_on_to_the_central_level(sessions, ctx, lifecycle):
    """A sudden achievement that merits Bằng khen của Thủ tướng: the short procedure in the province (no unit
    council, no disclosure, no Council vote: Law Art. 85), then the national path (the Party committee's opinion,
    the submission with its electronic reference); the provincial award beside it goes straight to the Chairman."""
    iid = start(sessions, ctx, "nomination", unit="HPT", nomination_units=["HPT"], sudden=True)
    hero = {"name": "Cao Văn Tâm", "kind": "individual", "award": "bang_khen_thu_tuong"}
    helper = {"name": "Lò Văn Sáng", "kind": "individual", "award": "bang_khen_chu_tich"}
    proposal = {
        "achievement_date": "2024-03-18",
        "achievement": "Cứu người trong lũ",
        "unit_candidates": [hero, helper],
    }
    complete(sessions, ctx, one_task(sessions, iid, "nom_sudden_propose"), "tam.cv", proposal)
    short = ["to_trinh", "bao_cao_tom_tat", "xac_nhan_thanh_tich"]
    for task in by_candidate(sessions, ctx, iid, "dossier_prepare").values():
        documents = {d: f"files/{d}.pdf" for d in short}
        complete(sessions, ctx, task, "tam.cv", {"documents": documents, "achievement_summary": "Cứu người"})
    for task in by_candidate(sessions, ctx, iid, "dossier_sign").values():
        complete(sessions, ctx, task, "hanh.mt", {"head_decision": "sign"})
    for task in by_candidate(sessions, ctx, iid, "dossier_appraise").values():
        complete(sessions, ctx, task, "an.tdkt", {"appraisal": "eligible"})
    party = one_task(sessions, iid, "nprop_party_opinion")
    assert [c["name"] for c in task_data(sessions, ctx, party)["national_candidates"]] == ["Cao Văn Tâm"]
    assert [t.element_id for t in open_tasks(sessions, iid)] == ["nprop_party_opinion"]  # the Chairman waits
    complete(sessions, ctx, party, "an.tdkt",
             {"party_document_number": "121-CV/TU", "party_decision": "agree", "party_not_agreed": []})  # fmt: skip
    complete(sessions, ctx, one_task(sessions, iid, "nprop_submit"), "chu.tich",
             {"submission_number": "46/TTr-UBND", "submitted_date": "2024-03-25",
              "electronic_reference": "BNV-2024-000200"})  # fmt: skip
    complete(sessions, ctx, one_task(sessions, iid, "nom_decision"), "chu.tich",
             {"decision_number": "89/QĐ-UBND", "signed_date": "2024-03-26"})  # fmt: skip
    complete(sessions, ctx, one_task(sessions, iid, "nom_certificates"), "an.tdkt",
             {"certificates_issued": 1, "notified": True})  # fmt: skip
    result = data_of(sessions, ctx, iid)["nomination_result"]
    assert result["awarded"] == ["HPT-2024-2"]  # the Chairman's own award
    assert result["national"]["proposed"] == ["HPT-2024-1"]
    assert result["national"]["electronic_reference"] == "BNV-2024-000200"
    elements = {e for e, _ in completions(sessions, iid)}
    assert not elements & {"nom_disclosure_publish", "council_stub_results", "nom_unit_council"}


def test_one_initiative_supports_one_award(sessions, ctx, clock, lifecycle):
    """Decree 98/2023 Art. 4 (DOMAIN.md): the second entry relying on the same recognised initiative does not get
    it counted again, so a Bằng khen resting on it fails the appraisal's check there; the first keeps it."""
    with sessions() as s, s.begin():  # the initiative is in the register (engine/services/initiatives.py)
        initiatives.register(s, clock, "an.tdkt", {
            "reference": "12/QĐ-HĐSK", "title": "Số hóa hồ sơ bệnh án", "authors": "Phan Quốc Bảo",
            "unit_id": "SYT", "reach": "province", "recognised_on": "2024-01-15",
            "recognised_by": "Hội đồng sáng kiến Sở Y tế"})  # fmt: skip
    iid = start(sessions, ctx, "nomination", nomination_units=["SYT"], sudden=False)

    def bang_khen(name: str, ref: str) -> dict:
        return {
            "name": name,
            "kind": "individual",
            "award": "bang_khen_chu_tich",
            "titles": [{"year": 2024, "title": "hoan_thanh_xuat_sac"}, {"year": 2023, "title": "hoan_thanh_xuat_sac"}],
            "has_initiative": True,
            "initiative_ref": ref,
        }

    candidates = [bang_khen("Phan Quốc Bảo", "12/QĐ-HĐSK"), bang_khen("Trần Thị Mai", " 12/qđ-hđsk")]
    complete(sessions, ctx, one_task(sessions, iid, "nom_unit_council"), "nga.vt",
             {"meeting_date": "2024-11-25", "unit_candidates": candidates})  # fmt: skip
    for task in by_candidate(sessions, ctx, iid, "dossier_prepare").values():
        complete(sessions, ctx, task, "linh.tm", {"documents": DOCS, "achievement_summary": "Sáng kiến"})
    for task in by_candidate(sessions, ctx, iid, "dossier_sign").values():
        complete(sessions, ctx, task, "duc.hm", {"head_decision": "sign"})
    appraise = by_candidate(sessions, ctx, iid, "dossier_appraise")
    first = task_data(sessions, ctx, appraise["Phan Quốc Bảo"])
    second = task_data(sessions, ctx, appraise["Trần Thị Mai"])
    assert first["findings"] == [] and "initiative_reused_from" not in first["candidate"]
    assert second["findings"] == ["no_outstanding_or_two_excellent_years"]
    assert second["candidate"]["initiative_reused_from"] == first["candidate"]["candidate_id"]


def test_a_round_started_on_its_own_needs_no_block_results(sessions, ctx, lifecycle):
    """A regular round opened outside the campaign's year end (a thematic round, say) has no block scoring:
    nobody leads a block and the Cờ thi đua check says so, instead of the round stopping on a missing name."""
    with sessions() as s, s.begin():
        data = {k: v for k, v in base_data(nomination_units=["SYT"], sudden=False).items() if k != "block_results"}
        iid = instances.start_instance(s, ctx, key="nomination", business_key="CD-T", unit_id="TINH", data=data).id
    flag = {"name": "Sở Y tế", "kind": "collective", "award": "co_thi_dua_tinh", "excellent_completion": True}
    complete(sessions, ctx, one_task(sessions, iid, "nom_unit_council"), "nga.vt",
             {"meeting_date": "2024-11-25", "unit_candidates": [flag]})  # fmt: skip
    prepare = one_task(sessions, iid, "dossier_prepare")
    assert task_data(sessions, ctx, prepare)["candidate"]["leads_block"] is False
