"""Simulated officers: what each person types into a form, and how long they take, driven by a seeded Random.

Most people decide in favour and on time; a share return plans and reports, appraisers follow the eligibility
check's recommendation (so incomplete dossiers go back for supplement and ineligible candidates are rejected),
and a share of tasks are finished after their due date so reminders and escalations happen. Forms this module
does not know are filled from their JSON Schema with the first valid value of each required field.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Unit-level titles (decided in the unit, Decree 152/2025 Art. 6) and provincial awards (the Council's), by subject
AWARDS_INDIVIDUAL = ["lao_dong_tien_tien", "chien_si_thi_dua_co_so", "giay_khen", "chien_si_thi_dua_tinh",
                     "bang_khen_chu_tich"]  # fmt: skip
AWARDS_COLLECTIVE = ["tap_the_lao_dong_tien_tien", "giay_khen", "tap_the_lao_dong_xuat_sac", "co_thi_dua_tinh",
                     "bang_khen_chu_tich"]  # fmt: skip
# National awards the province proposes (Decree 152/2025 Art. 33, 34, 44): a unit council puts one forward now and then
NATIONAL_INDIVIDUAL = "chien_si_thi_dua_toan_quoc"
NATIONAL_COLLECTIVE = "co_thi_dua_chinh_phu"
DOCS = ["to_trinh", "bao_cao_thanh_tich", "bien_ban_binh_xet", "xac_nhan_sang_kien", "bien_ban_cham_diem_khoi"]
GIVEN = ["An", "Bình", "Chi", "Dũng", "Giang", "Hải", "Khoa", "Lan", "Minh", "Ngọc", "Phúc", "Quyên", "Sơn", "Tú"]
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Võ", "Đặng", "Bùi"]


@dataclass(frozen=True)
class Behaviour:
    """Shares of simulated outcomes (each a probability in [0, 1])."""

    late: float = 0.12  # a task is finished after its due date
    head_returns: float = 0.15  # a head returns a plan/report/dossier to the officer
    review_returns: float = 0.12  # Sở Nội vụ asks for changes to a plan/report
    missing_document: float = 0.25  # an officer leaves an Art. 84 document out of a dossier
    ineligible: float = 0.15  # a unit council proposes someone who does not meet the standard
    council_agree: float = 0.93  # each Council member's chance of agreeing
    national: float = 0.04  # a unit council proposes a national award (CSTĐ toàn quốc, Cờ thi đua của Chính phủ)
    agency_objects: float = 0.1  # an agency consulted on an enterprise (hiệp y) reports a violation


def _file(rng: random.Random, name: str) -> str:
    return f"files/{name}-{rng.randrange(10_000, 99_999)}.pdf"


def _candidate(
    rng: random.Random, year: int, b: Behaviour, enterprise: bool = False, leads_block: bool = False
) -> dict[str, Any]:
    individual = rng.random() < 0.7
    award = rng.choice(AWARDS_INDIVIDUAL if individual else AWARDS_COLLECTIVE)
    if award == "co_thi_dua_tinh" and not leads_block:
        award = "tap_the_lao_dong_xuat_sac"  # the Cờ thi đua goes only to the unit its block's scoring put first
    if rng.random() < b.national:
        award = NATIONAL_INDIVIDUAL if individual else NATIONAL_COLLECTIVE
    name = f"{rng.choice(FAMILY)} {rng.choice(GIVEN)}" if individual else f"Phòng {rng.choice(GIVEN)}"
    titles = [{"year": year - i, "title": "chien_si_thi_dua_co_so", "kind": "cong_trang"} for i in range(3)]
    titles += [{"year": year - i, "title": "lao_dong_tien_tien", "kind": "cong_trang"} for i in range(3)]
    titles += [{"year": year - i, "title": "hoan_thanh_xuat_sac", "kind": "cong_trang"} for i in range(2)]
    candidate: dict[str, Any] = {  # meets the conditions of rules/lifecycle.yaml for each award it may get
        "name": name,
        "kind": "individual" if individual else "collective",
        "award": award,
        "titles": titles,
        "good_completion": True,
        "excellent_completion": True,
        "has_initiative": True,
        "initiative_provincial": individual,
        "disciplined": False,
        "female": rng.random() < 0.5,
    }
    if award in (NATIONAL_INDIVIDUAL, NATIONAL_COLLECTIVE):
        candidate.update(chien_si_thi_dua_tinh_consecutive=2, initiative_national=True,
                         leads_province_movement=True, new_model=True)  # fmt: skip
    if enterprise and not individual:
        candidate["enterprise"] = True  # the enterprise itself (hiệp y before a national award)
    if not individual:
        candidate.update(
            members_completed_share=1.0,
            lao_dong_tien_tien_share=round(rng.uniform(0.7, 1.0), 2),
            chien_si_thi_dua_co_so_count=rng.randint(1, 5),
        )
    if rng.random() < b.ineligible:  # a standard not met: discipline, or one year short of the prerequisite
        if individual and rng.random() < 0.5:
            candidate["titles"] = titles[1:]  # CSTĐ cơ sở two years of three
        else:
            candidate["disciplined"] = True
    return candidate


def _leads_block(data: dict[str, Any]) -> bool:
    """Whether the unit came first in its block's year-end scoring (the nomination's ``block_results``)."""
    return any(r.get("leading_unit") == data.get("unit_id") for r in data.get("block_results") or [])


def _block_scores(rng: random.Random, data: dict[str, Any]) -> dict[str, Any]:
    """The block leader's officer scores every member against the pledge (out of 100)."""
    members = (data.get("block") or {}).get("members") or []
    return {
        "scores": [{"unit_id": m, "score": rng.randint(80, 99)} for m in members],
        "minutes_file": _file(rng, "bien-ban-cham-diem-khoi"),
    }


def _sudden(rng: random.Random) -> dict[str, Any]:
    """Someone proposed for an outstanding, sudden achievement (đột xuất): no merit conditions apply."""
    individual = rng.random() < 0.8
    name = f"{rng.choice(FAMILY)} {rng.choice(GIVEN)}" if individual else f"Tổ {rng.choice(GIVEN)}"
    return {
        "name": name,
        "kind": "individual" if individual else "collective",
        "award": "bang_khen_chu_tich",
        "outstanding_achievement": True,
        "disciplined": False,
    }


def _documents(rng: random.Random, b: Behaviour, complete: bool, data: dict[str, Any]) -> dict[str, str]:
    """The documents the rules ask of this dossier (``required_documents``, else every usual one), one sometimes
    left out of a first submission."""
    wanted = list(data.get("required_documents") or DOCS)
    docs = {d: _file(rng, d) for d in wanted}
    if "bien_ban_cham_diem_khoi" in docs and data.get("block_minutes_file"):
        docs["bien_ban_cham_diem_khoi"] = str(data["block_minutes_file"])  # the block's own scoring minutes
    if not complete and rng.random() < b.missing_document:
        docs.pop(rng.choice(wanted[:3]))
    return docs


def _head(rng: random.Random, b: Behaviour, ok: str = "approve") -> dict[str, Any]:
    if rng.random() < b.head_returns:
        return {"head_decision": "return", "head_comments": "Đề nghị bổ sung số liệu, chỉnh sửa nội dung."}
    return {"head_decision": ok}


def _review(rng: random.Random, b: Behaviour) -> dict[str, Any]:
    if rng.random() < b.review_returns:
        return {"review_decision": "request_changes", "review_comments": "Đề nghị cụ thể hóa chỉ tiêu, tiến độ."}
    return {"review_decision": "accept"}


def _appraise(rng: random.Random, data: dict[str, Any]) -> dict[str, Any]:
    recommended = (data.get("dossier_recommend_result") or {}).get("recommendation") or data.get("recommendation")
    if recommended == "reject":
        reason = (data.get("dossier_recommend_result") or {}).get("suggested_reason") or "standard_not_met"
        return {"appraisal": "reject", "reject_reason": reason, "appraisal_note": ", ".join(data.get("findings", []))}
    if recommended == "supplement":
        missing = ", ".join(data.get("incomplete", [])) or "tài liệu"
        return {"appraisal": "supplement", "supplement_request": f"Bổ sung: {missing}"}
    return {"appraisal": "eligible"}


def _head_decision(rng: random.Random, data: dict[str, Any]) -> dict[str, Any]:
    """The unit head decides the unit-level titles on the unit council's advice; a disciplined person is refused."""
    refused = [
        {"candidate_id": n["candidate_id"], "reason": "Đang bị xem xét kỷ luật"}
        for n in data.get("unit_nominees", [])
        if n.get("disciplined")
    ]
    year = data.get("campaign_year", 2024)
    return {
        "decision_number": f"{rng.randint(10, 999)}/QĐ-{data.get('unit_id', 'DV')}",
        "signed_date": f"{year}-12-05",
        "decision_file": _file(rng, "quyet-dinh-don-vi"),
        "not_approved": refused,
    }


def _council(rng: random.Random, data: dict[str, Any], b: Behaviour) -> dict[str, Any]:
    results = []
    for c in data.get("candidates", []):
        agree = sum(1 for _ in range(11) if rng.random() < b.council_agree)
        results.append(
            {
                "candidate_id": c["candidate_id"],
                "award": c["award"],
                "passed": agree >= (10 if c["award"] == "chien_si_thi_dua_tinh" else 8),
                "agree": agree,
                "disagree": 11 - agree,
                "members": 11,
            }
        )
    return {"council_results": results}


Filler = Callable[[random.Random, dict[str, Any], Behaviour], dict[str, Any]]

FILLERS: dict[str, Filler] = {
    "plan_draft": lambda r, d, b: {
        "plan_title": f"Kế hoạch thực hiện phong trào thi đua năm {d.get('campaign_year')}",
        "targets": "100% cán bộ đăng ký thi đua; 3 sáng kiến cấp cơ sở",
        "activities": "Phát động quý II, sơ kết tháng 6, tổng kết tháng 11",
        "plan_file": _file(r, "ke-hoach"),
    },
    "plan_head_review": lambda r, d, b: _head(r, b),
    "plan_home_affairs_review": lambda r, d, b: _review(r, b),
    "registration_draft": lambda r, d, b: {
        "collective_titles": [{"name": "Phòng Tổng hợp", "title": "tap_the_lao_dong_xuat_sac"}],
        "individual_titles": [
            {"name": f"{r.choice(FAMILY)} {r.choice(GIVEN)}", "title": "chien_si_thi_dua_co_so"}
            for _ in range(r.randint(1, 3))
        ],
    },
    "registration_head_approve": lambda r, d, b: _head(r, b),
    "registration_record": lambda r, d, b: _review(r, b),
    "pledge_draft": lambda r, d, b: {
        "pledge_title": f"Giao ước thi đua {d.get('block', {}).get('name', '')}",
        "pledge_content": "Các đơn vị cam kết hoàn thành chỉ tiêu, hỗ trợ nhau",
    },
    "pledge_sign": lambda r, d, b: {"signed": True},
    "pledge_record": lambda r, d, b: {"recorded": True},
    "bscore_score": lambda r, d, b: _block_scores(r, d),
    "bscore_vote": lambda r, d, b: {"vote": "agree" if r.random() < 0.9 else "disagree"},
    "bscore_confirm": lambda r, d, b: {"confirmed": True},
    "periodic_draft": lambda r, d, b: {
        "progress": "Các chỉ tiêu triển khai đúng tiến độ",
        "completion_pct": r.randint(40, 100),
        "difficulties": "",
    },
    "periodic_review": lambda r, d, b: _review(r, b),
    "periodic_inspection": lambda r, d, b: {
        "inspection_date": str(d.get("period_label") or "2024-01-01"),
        "findings": "Đơn vị tổ chức phong trào nghiêm túc",
        "rating": r.choice(["tot", "kha"]),
    },
    "review_draft": lambda r, d, b: {
        "results": "Hoàn thành các chỉ tiêu đề ra",
        "lessons": "Phát huy vai trò người đứng đầu",
        "self_score": r.randint(70, 100),
        "model_examples": [f"{r.choice(FAMILY)} {r.choice(GIVEN)}" for _ in range(r.randint(1, 3))],
    },
    "review_head_approve": lambda r, d, b: _head(r, b),
    "review_consolidate": lambda r, d, b: {
        "summary": f"Tổng hợp {len(d.get('review_reports', []))} báo cáo",
        "report_number": f"{r.randint(100, 999)}/BC-SNV",
    },
    "nom_unit_council": lambda r, d, b: {
        "meeting_date": f"{d.get('campaign_year')}-11-25",
        "minutes_file": _file(r, "bien-ban"),
        "unit_candidates": [
            _candidate(
                r,
                int(d.get("campaign_year", 2024)),
                b,
                enterprise=d.get("unit_kind") == "enterprise",
                leads_block=_leads_block(d),
            )
            for _ in range(r.randint(2, 4))
        ],
    },
    "nom_sudden_propose": lambda r, d, b: {
        "achievement_date": f"{d.get('campaign_year')}-{r.randint(3, 11):02d}-{r.randint(1, 28):02d}",
        "achievement": "Dũng cảm cứu người, tài sản trong mưa lũ",
        "unit_candidates": [_sudden(r)],
    },
    "unom_head_decision": lambda r, d, b: _head_decision(r, d),
    "unom_unit_certificates": lambda r, d, b: {
        "certificates_issued": len(d.get("unit_awards", [])),
        "notified": True,
    },
    "dossier_prepare": lambda r, d, b: {
        "documents": _documents(r, b, complete=False, data=d),
        "achievement_summary": "Hoàn thành xuất sắc nhiệm vụ, có sáng kiến được công nhận",
    },
    "dossier_sign": lambda r, d, b: _head(r, b, ok="sign"),
    "dossier_appraise": lambda r, d, b: _appraise(r, d),
    "dossier_supplement": lambda r, d, b: {"documents": _documents(r, b, complete=True, data=d)},
    "dossier_rejection_notice": lambda r, d, b: {"acknowledged": True},
    "nom_disclosure_publish": lambda r, d, b: {
        "published_at": "2024-12-02",
        "published_where": "Cổng thông tin điện tử tỉnh",
    },
    "nom_disclosure_comments": lambda r, d, b: {"comments": [], "withdrawn": []},
    "nom_comments_report": lambda r, d, b: {
        "comments_report_number": f"{r.randint(100, 999)}/BC-SNV",
        "comments_report_file": _file(r, "bao-cao-y-kien"),
        "comments_report_summary": "Không có ý kiến phản ánh đối với các trường hợp đề nghị khen thưởng cấp Nhà nước",
    },
    "nprop_party_opinion": lambda r, d, b: {
        "party_document_number": f"{r.randint(100, 999)}-CV/TU",
        "party_decision": "agree",
        "party_not_agreed": [],
    },
    "nprop_consultation": lambda r, d, b: (
        {
            "consultation_answer": "objection",
            "consultation_document": f"{r.randint(10, 999)}/CV",
            "consultation_note": "Còn nợ đọng nghĩa vụ theo văn bản trả lời",
        }  # fmt: skip
        if r.random() < b.agency_objects
        else {"consultation_answer": "agree", "consultation_document": f"{r.randint(10, 999)}/CV"}
    ),
    "nprop_submit": lambda r, d, b: {
        "submission_number": f"{r.randint(10, 300)}/TTr-UBND",
        "submitted_date": f"{d.get('campaign_year', 2024)}-12-28",
        "electronic_reference": f"BNV-{d.get('campaign_year', 2024)}-{r.randint(1, 999_999):06d}",
    },
    "nom_decision": lambda r, d, b: {
        "decision_number": f"{r.randint(1000, 3999)}/QĐ-UBND",
        "signed_date": f"{d.get('campaign_year', 2024)}-12-20",
    },
    "nom_certificates": lambda r, d, b: {"certificates_issued": len(d.get("awarded", [])), "notified": True},
    "council_stub_results": lambda r, d, b: _council(r, d, b),
}


def _first_valid(schema: dict[str, Any]) -> Any:
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "boolean":
        return True
    if kind == "integer" or kind == "number":
        return schema.get("minimum", 0)
    if kind == "array":
        return [_first_valid(schema.get("items", {})) for _ in range(schema.get("minItems", 0))]
    if kind == "object":
        props = schema.get("properties", {})
        return {k: _first_valid(props.get(k, {})) for k in schema.get("required", [])}
    if schema.get("format") == "date":
        return "2024-01-01"
    return "x" * max(1, int(schema.get("minLength", 1)))


def fill_form(
    form_key: str | None, schema: dict[str, Any] | None, data: dict[str, Any], rng: random.Random, b: Behaviour
) -> dict[str, Any]:
    """What a simulated person submits for ``form_key``, given the task's data."""
    filler = FILLERS.get(form_key or "")
    if filler is not None:
        return filler(rng, data, b)
    return _first_valid(schema or {}) if schema else {}
