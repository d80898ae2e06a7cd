"""The rule sets of rules/lifecycle.yaml by date, and what the dossier's eligibility check decides under each.

The check is the script of ``dossier_check`` in bpmn/nomination_dossier.bpmn (with the ``dossier_prepare``
pre-script that lists the documents required), run here as the engine runs it, on the rule set in force on each
boundary date: 30/6/2025 (Decree 98/2023), 1/7/2025 and 31/12/2025 (Decree 152/2025 with Decree 98's dossiers
carried over), 1/1/2026 (the province's own instrument).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date
from fractions import Fraction
from typing import Any

import pytest

from engine.core.expression_functions import DEFAULT_FUNCTIONS
from engine.core.expressions import SafeEnvironment, _Evaluator
from engine.services.rules import load_rule_sets, rules_in_force, start_data
from tests.conftest import BPMN_DIR, ROOT

RULES = load_rule_sets(ROOT / "rules" / "lifecycle.yaml")
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL", "spiff": "http://spiffworkflow.org/bpmn/schema/1.0/core"}
BOUNDARIES = {
    date(2025, 6, 30): "2024.1",
    date(2025, 7, 1): "2025.2",
    date(2025, 12, 31): "2025.2",
    date(2026, 1, 1): "2026.1",
}
BASE_DOCS = ["to_trinh", "bao_cao_thanh_tich", "bien_ban_binh_xet"]


def _scripts() -> tuple[str, str]:
    tree = ET.parse(BPMN_DIR / "nomination_dossier.bpmn")
    pre = tree.find(".//bpmn:userTask[@id='dossier_prepare']//spiff:preScript", NS)
    check = tree.find(".//bpmn:scriptTask[@id='dossier_check']/bpmn:script", NS)
    assert pre is not None and check is not None and pre.text and check.text
    return pre.text, check.text


PRE, CHECK = _scripts()
ENV = SafeEnvironment(_Evaluator(DEFAULT_FUNCTIONS))


def decide(on: date, candidate: dict[str, Any], documents: list[str]) -> dict[str, Any]:
    data: dict[str, Any] = {**start_data(RULES, on), "campaign_year": on.year, "unit_id": "SYT"}
    data["candidate"] = {"candidate_id": "SYT-1", "name": "Nguyễn Văn Thử", **candidate}
    ENV.execute(PRE, data)
    data["documents"] = {d: f"files/{d}.pdf" for d in documents}
    ENV.execute(CHECK, data)
    return data


def titles(title: str, year: int, n: int, kind: str = "cong_trang") -> list[dict[str, Any]]:
    return [{"year": year - i, "title": title, "kind": kind} for i in range(n)]


# (award, kind, candidate facts built from the campaign year, documents, expected findings)
Y = "year"
CASES: list[tuple[str, str, str, Any, list[str], list[str]]] = [
    # Chiến sĩ thi đua cấp tỉnh (Law Art. 22): three years CSTĐ cơ sở + an initiative of provincial reach
    ("cstd_tinh_pass", "chien_si_thi_dua_tinh", "individual",
     lambda y: {"titles": titles("chien_si_thi_dua_co_so", y, 3), "initiative_provincial": True},
     [*BASE_DOCS, "xac_nhan_sang_kien"], []),
    ("cstd_tinh_no_provincial_initiative", "chien_si_thi_dua_tinh", "individual",
     lambda y: {"titles": titles("chien_si_thi_dua_co_so", y, 3), "has_initiative": True},
     [*BASE_DOCS, "xac_nhan_sang_kien"], ["no_provincial_initiative"]),
    ("cstd_tinh_two_years", "chien_si_thi_dua_tinh", "individual",
     lambda y: {"titles": titles("chien_si_thi_dua_co_so", y, 2), "initiative_provincial": True},
     [*BASE_DOCS, "xac_nhan_sang_kien"], ["prerequisite:chien_si_thi_dua_co_so"]),
    # Chiến sĩ thi đua cơ sở (Art. 23): LĐTT and (excellent completion or an initiative; its certificate, Art. 84)
    ("cstd_cs_by_excellence", "chien_si_thi_dua_co_so", "individual",
     lambda y: {"titles": titles("lao_dong_tien_tien", y, 1), "excellent_completion": True}, BASE_DOCS, []),
    ("cstd_cs_by_initiative", "chien_si_thi_dua_co_so", "individual",
     lambda y: {"titles": titles("lao_dong_tien_tien", y, 1), "has_initiative": True},
     [*BASE_DOCS, "xac_nhan_sang_kien"], []),
    ("cstd_cs_initiative_without_certificate", "chien_si_thi_dua_co_so", "individual",
     lambda y: {"titles": titles("lao_dong_tien_tien", y, 1), "has_initiative": True},
     BASE_DOCS, ["missing:xac_nhan_sang_kien"]),
    ("cstd_cs_neither", "chien_si_thi_dua_co_so", "individual",
     lambda y: {"titles": titles("lao_dong_tien_tien", y, 1), "good_completion": True},
     BASE_DOCS, ["no_excellent_completion_or_initiative"]),
    ("cstd_cs_thematic_title_does_not_count", "chien_si_thi_dua_co_so", "individual",
     lambda y: {"titles": titles("lao_dong_tien_tien", y, 1, kind="chuyen_de"), "excellent_completion": True},
     BASE_DOCS, ["prerequisite:lao_dong_tien_tien"]),
    # Lao động tiên tiến (Art. 24)
    ("ldtt_pass", "lao_dong_tien_tien", "individual", lambda y: {"good_completion": True}, BASE_DOCS, []),
    ("ldtt_fail", "lao_dong_tien_tien", "individual", lambda y: {}, BASE_DOCS, ["no_good_completion"]),
    ("ldtt_disciplined", "lao_dong_tien_tien", "individual",
     lambda y: {"good_completion": True, "disciplined": True}, BASE_DOCS, ["disciplined"]),
    # Cờ thi đua của UBND tỉnh (Art. 26): leads its block, the block's scoring minutes in the dossier
    ("co_pass", "co_thi_dua_tinh", "collective", lambda y: {"leads_block": True, "excellent_completion": True},
     [*BASE_DOCS, "bien_ban_cham_diem_khoi"], []),
    ("co_not_leader", "co_thi_dua_tinh", "collective", lambda y: {"excellent_completion": True},
     [*BASE_DOCS, "bien_ban_cham_diem_khoi"], ["not_block_leader"]),
    ("co_no_block_minutes", "co_thi_dua_tinh", "collective",
     lambda y: {"leads_block": True, "excellent_completion": True}, BASE_DOCS, ["missing:bien_ban_cham_diem_khoi"]),
    # Tập thể lao động xuất sắc (Art. 27)
    ("ttldxs_pass", "tap_the_lao_dong_xuat_sac", "collective",
     lambda y: {"excellent_completion": True, "members_completed_share": 1.0, "lao_dong_tien_tien_share": 0.7,
                "chien_si_thi_dua_co_so_count": 1}, BASE_DOCS, []),
    ("ttldxs_share_short", "tap_the_lao_dong_xuat_sac", "collective",
     lambda y: {"excellent_completion": True, "members_completed_share": 1.0, "lao_dong_tien_tien_share": 0.69,
                "chien_si_thi_dua_co_so_count": 1}, BASE_DOCS, ["no:lao_dong_tien_tien_share"]),
    ("ttldxs_for_an_individual", "tap_the_lao_dong_xuat_sac", "individual",
     lambda y: {"excellent_completion": True, "members_completed_share": 1.0, "lao_dong_tien_tien_share": 0.9,
                "chien_si_thi_dua_co_so_count": 1}, BASE_DOCS, ["wrong_subject"]),
    # Tập thể lao động tiên tiến (Art. 28)
    ("ttldtt_pass", "tap_the_lao_dong_tien_tien", "collective",
     lambda y: {"good_completion": True, "lao_dong_tien_tien_share": 0.5}, BASE_DOCS, []),
    ("ttldtt_fail", "tap_the_lao_dong_tien_tien", "collective",
     lambda y: {"good_completion": True, "lao_dong_tien_tien_share": 0.4}, BASE_DOCS, ["no:lao_dong_tien_tien_share"]),
    # Bằng khen của Chủ tịch UBND tỉnh (Art. 74): outstanding, or two years excellent with an initiative
    ("bk_outstanding", "bang_khen_chu_tich", "individual", lambda y: {"outstanding_achievement": True}, BASE_DOCS, []),
    ("bk_two_excellent_years", "bang_khen_chu_tich", "collective",
     lambda y: {"titles": titles("hoan_thanh_xuat_sac", y, 2), "has_initiative": True}, BASE_DOCS, []),
    ("bk_one_excellent_year", "bang_khen_chu_tich", "individual",
     lambda y: {"titles": titles("hoan_thanh_xuat_sac", y, 1), "has_initiative": True},
     BASE_DOCS, ["no_outstanding_or_two_excellent_years"]),
    ("bk_sudden_result_does_not_count", "bang_khen_chu_tich", "individual",
     lambda y: {"titles": titles("hoan_thanh_xuat_sac", y, 2, kind="dot_xuat"), "has_initiative": True},
     BASE_DOCS, ["no_outstanding_or_two_excellent_years"]),
    # Giấy khen (Art. 75)
    ("gk_pass", "giay_khen", "both_ok", lambda y: {"good_completion": True}, BASE_DOCS, []),
    ("gk_fail", "giay_khen", "collective", lambda y: {}, BASE_DOCS, ["no_achievement"]),
    # Chiến sĩ thi đua toàn quốc (Art. 21): twice CSTĐ cấp tỉnh in a row, an initiative of national reach
    ("cstd_tq_pass", "chien_si_thi_dua_toan_quoc", "individual",
     lambda y: {"chien_si_thi_dua_tinh_consecutive": 2, "initiative_national": True},
     [*BASE_DOCS, "xac_nhan_sang_kien"], []),
    ("cstd_tq_once", "chien_si_thi_dua_toan_quoc", "individual",
     lambda y: {"chien_si_thi_dua_tinh_consecutive": 1, "initiative_national": True},
     [*BASE_DOCS, "xac_nhan_sang_kien"], ["not_twice_provincial"]),
    ("cstd_tq_provincial_initiative", "chien_si_thi_dua_toan_quoc", "individual",
     lambda y: {"chien_si_thi_dua_tinh_consecutive": 2, "initiative_provincial": True},
     [*BASE_DOCS, "xac_nhan_sang_kien"], ["no_national_initiative"]),
    # Cờ thi đua của Chính phủ (Art. 25): excellent, leads the province's movement, a new model
    ("co_cp_pass", "co_thi_dua_chinh_phu", "collective",
     lambda y: {"excellent_completion": True, "leads_province_movement": True, "new_model": True}, BASE_DOCS, []),
    ("co_cp_not_leading", "co_thi_dua_chinh_phu", "collective",
     lambda y: {"excellent_completion": True, "new_model": True}, BASE_DOCS, ["not_province_leader"]),
    # Bằng khen của Thủ tướng (Art. 71): outstanding, or a provincial Bằng khen then five excellent years, 5 initiatives
    ("bk_ttg_five_years", "bang_khen_thu_tuong", "individual",
     lambda y: {"bang_khen_tinh_received": True, "titles": titles("hoan_thanh_xuat_sac", y, 5), "initiative_count": 5},
     BASE_DOCS, []),
    ("bk_ttg_four_years", "bang_khen_thu_tuong", "collective",
     lambda y: {"bang_khen_tinh_received": True, "titles": titles("hoan_thanh_xuat_sac", y, 4), "initiative_count": 5},
     BASE_DOCS, ["no_outstanding_or_five_excellent_years"]),
    # Đột xuất (Art. 84(2), 85): the short dossier, no council minutes, no merit conditions
    ("sudden_short_dossier", "bang_khen_chu_tich", "individual", lambda y: {"sudden": True},
     ["to_trinh", "bao_cao_tom_tat", "xac_nhan_thanh_tich"], []),
    ("sudden_without_certification", "bang_khen_chu_tich", "individual", lambda y: {"sudden": True},
     ["to_trinh", "bao_cao_tom_tat"], ["missing:xac_nhan_thanh_tich"]),
]  # fmt: skip


@pytest.mark.parametrize("on", sorted(BOUNDARIES), ids=lambda d: d.isoformat())
def test_the_rule_set_in_force_on_each_boundary(on: date) -> None:
    chosen = rules_in_force(RULES, on)
    assert chosen.version == BOUNDARIES[on]
    assert chosen.data["basis"]
    basis = " ".join(chosen.data["documents_basis"].values())
    if on >= date(2025, 7, 1):  # the forms cite the set's basis, never Decree 98's templates after 1/7/2025
        assert "Phụ lục I Nghị định 98/2023" not in basis and "152/2025" in chosen.data["basis"]
    else:
        assert "Phụ lục I Nghị định 98/2023" in basis and "98/2023" in chosen.data["basis"]
    if chosen.version == "2026.1":
        assert "giả định" in chosen.data["basis"]  # the province's instrument is fictional, and says so
    assert {k: v["level"] for k, v in chosen.data["eligibility"].items()} == {
        "chien_si_thi_dua_tinh": "province",
        "chien_si_thi_dua_co_so": "unit",
        "lao_dong_tien_tien": "unit",
        "co_thi_dua_tinh": "province",
        "tap_the_lao_dong_xuat_sac": "province",
        "tap_the_lao_dong_tien_tien": "unit",
        "bang_khen_chu_tich": "province",
        "giay_khen": "unit",
        "chien_si_thi_dua_toan_quoc": "national",
        "co_thi_dua_chinh_phu": "national",
        "bang_khen_thu_tuong": "national",
    }
    agencies = [a["code"] for a in chosen.data["national"]["consultation_agencies"]]
    assert agencies == ["thue", "bhxh", "moi_truong", "cong_an"]  # hiệp y for enterprises
    assert chosen.data["disclosure"]["national_days"] >= 10
    assert chosen.data["deadlines"]["dossier_appraise"] == (25 if on < date(2025, 7, 1) else 20)


@pytest.mark.parametrize("on", sorted(BOUNDARIES), ids=lambda d: d.isoformat())
@pytest.mark.parametrize(("case", "award", "kind", "facts", "documents", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_rule_passes_and_fails_on_each_boundary(on, case, award, kind, facts, documents, expected) -> None:
    candidate = {"award": award, "kind": "individual" if kind == "both_ok" else kind, **facts(on.year)}
    data = decide(on, candidate, documents)
    assert data["rules_version"] == BOUNDARIES[on]
    assert data["findings"] == expected, case
    assert data["award_basis"] == rules_in_force(RULES, on).data["eligibility"][award]["basis"]


def test_required_documents_follow_the_rules() -> None:
    on = date(2026, 1, 1)
    plain = decide(on, {"award": "chien_si_thi_dua_co_so", "kind": "individual", "excellent_completion": True}, [])
    assert plain["required_documents"] == BASE_DOCS
    relied = decide(on, {"award": "chien_si_thi_dua_co_so", "kind": "individual", "has_initiative": True}, [])
    assert relied["required_documents"] == [*BASE_DOCS, "xac_nhan_sang_kien"]
    sudden = decide(on, {"award": "bang_khen_chu_tich", "kind": "individual", "sudden": True}, [])
    assert sudden["required_documents"] == ["to_trinh", "bao_cao_tom_tat", "xac_nhan_thanh_tich"]
    assert "bien_ban_binh_xet" not in sudden["required_documents"]  # no unit-council minutes (Art. 84(2))
    assert "Quyết định 01/2026/QĐ-UBND" in plain["documents_basis"]["to_trinh"]


def test_the_forms_cite_no_decree_of_their_own() -> None:
    for name in ("dossier_prepare", "dossier_supplement"):
        text = (ROOT / "forms" / f"{name}.json").read_text(encoding="utf-8")
        assert "98/2023" not in text and "Phụ lục I" not in text, name


def test_the_council_rule_set_by_date() -> None:
    import yaml

    from engine.core.tally import parse_rules
    from engine.core.tally import rules_in_force as council_rules_in_force

    sets = parse_rules(yaml.safe_load((ROOT / "rules" / "council.yaml").read_text(encoding="utf-8")))
    expected = {date(2025, 6, 30): "98/2023", date(2025, 7, 1): "152/2025", date(2025, 12, 31): "152/2025",
                date(2026, 1, 1): "01/2026/QĐ-UBND"}  # fmt: skip
    for on, cited in expected.items():
        chosen = council_rules_in_force(sets, on)
        assert cited in (chosen.basis or ""), on
        assert chosen.threshold("chien_si_thi_dua_tinh").share == Fraction(9, 10)
        assert chosen.as_dict()["basis"] == chosen.basis


def test_national_award_thresholds_from_decree_152() -> None:
    import yaml

    from engine.core.tally import parse_rules
    from engine.core.tally import rules_in_force as council_rules_in_force

    sets = parse_rules(yaml.safe_load((ROOT / "rules" / "council.yaml").read_text(encoding="utf-8")))
    for on in (date(2025, 7, 1), date(2026, 1, 1)):
        chosen = council_rules_in_force(sets, on)
        national = chosen.threshold("chien_si_thi_dua_toan_quoc"), chosen.threshold("co_thi_dua_chinh_phu")
        assert [(t.share, t.counted_on) for t in national] == [
            (Fraction(9, 10), "membership"),
            (Fraction(4, 5), "membership"),
        ]
    before = council_rules_in_force(sets, date(2025, 6, 30))
    assert "chien_si_thi_dua_toan_quoc" not in before.thresholds
