"""The register of initiatives (sổ sáng kiến) and the check that one initiative supports one award across rounds
and years (Decree 98/2023 Art. 4, DOMAIN.md): the register's API and pages, and the completion check the forms
drive (``x-tdkt-initiative`` on ``initiative_ref``), through the real nomination processes."""

from __future__ import annotations

import json
import random

import pytest
from sqlalchemy import select

from engine.persistence.models import AuditEvent, HumanTask, InitiativeUse
from engine.services import initiatives, tasks
from engine.services.audit import verify
from engine.services.definitions import deploy
from engine.services.initiative_uses import outcome_of
from engine.simulation import initiatives as simulated
from engine.simulation.campaign import CampaignConfig
from engine.simulation.officers import Behaviour, fill_form
from tests.api_support import World
from tests.api_support import world as world  # noqa: F401 - fixture
from tests.test_lifecycle_helpers import complete, model_files, one_task, start, status_of
from tests.test_web import text, token

SK = {
    "reference": "15/QĐ-HĐSK",
    "title": "Phần mềm nhắc lịch tiêm chủng",
    "authors": "Trần Mỹ Linh, Vũ Thị Nga",
    "unit_id": "SYT",
    "reach": "province",
    "recognised_on": "2024-02-01",
    "recognised_by": "Hội đồng sáng kiến Sở Y tế (QĐ 15/QĐ-HĐSK)",
}
CSTD = {  # Chiến sĩ thi đua cơ sở (Law Art. 23) on a recognised initiative: decided by the unit's head
    "name": "Phan Quốc Bảo",
    "kind": "individual",
    "award": "chien_si_thi_dua_co_so",
    "titles": [{"year": 2024, "title": "lao_dong_tien_tien"}],
    "has_initiative": True,
    "initiative_ref": "15/QĐ-HĐSK",
}


def _register(sessions, clock, **values) -> int:
    with sessions() as s, s.begin():
        return initiatives.register(s, clock, "an.tdkt", {**SK, **values}).id


def _uses(sessions) -> list[InitiativeUse]:
    with sessions() as s:
        found = list(s.scalars(select(InitiativeUse).order_by(InitiativeUse.id)))
        for use in found:
            s.expunge(use)
        return found


@pytest.fixture
def rounds(world: World, sessions, clock) -> World:
    """The API world with every lifecycle process deployed, so nomination rounds can run."""
    with sessions() as s, s.begin():
        deploy(s, model_files(), clock, actor="designer")
    return world


def _council(sessions, ctx, candidates, *, year: int = 2024, key: str = "nomination"):
    iid = start(sessions, ctx, key, nomination_units=["SYT"], sudden=False, campaign_year=year)
    return iid, one_task(sessions, iid, "nom_unit_council")


def _submit(world: World, task_id: int, candidates):
    council = world.client("nga.vt")
    return council.post(
        f"/api/v1/tasks/{task_id}/complete",
        json={"data": {"meeting_date": "2024-03-19", "unit_candidates": candidates}},
    )


# --- the register ---------------------------------------------------------------------------------------------


def test_the_register_api_enters_reads_edits_and_refuses(world: World, sessions):
    officer = world.client("linh.tm")  # Sở Y tế's TĐKT officer
    snv = world.client("an.tdkt")
    # a unit enters what its own initiative council recognised (unit reach), never a higher reach
    higher = officer.post("/api/v1/initiatives", json=SK)
    assert higher.status_code == 403 and "province reach" in higher.get_json()["error"]["message"]
    own = officer.post(
        "/api/v1/initiatives", json={**SK, "reference": "7/QĐ-HĐSKCS", "reach": "unit", "title": "Sổ theo dõi"}
    )
    assert own.status_code == 201, own.get_json()
    raised = officer.patch(f"/api/v1/initiatives/{own.get_json()['id']}", json={"reach": "province"})
    assert raised.status_code == 403
    made = snv.post("/api/v1/initiatives", json=SK)  # the provincial council's recognition: Sở Nội vụ enters it
    assert made.status_code == 201, made.get_json()
    assert officer.patch(f"/api/v1/initiatives/{made.get_json()['id']}", json={"title": "x"}).status_code == 403
    body = made.get_json()
    assert (body["reference"], body["unit_name"], body["reach"]) == ("15/QĐ-HĐSK", "Sở Y tế", "province")
    assert [e["action"] for e in body["trail"]] == ["initiative.registered"]
    again = snv.post("/api/v1/initiatives", json={**SK, "reference": "  15/qđ-hđsk ", "title": "Khác"})
    assert again.status_code == 409 and "reference" in again.get_json()["error"]["details"]["fields"]
    missing = snv.post("/api/v1/initiatives", json={k: v for k, v in SK.items() if k != "title"})
    assert missing.status_code == 422 and "title" in missing.get_json()["error"]["details"]["fields"]
    future = snv.post("/api/v1/initiatives", json={**SK, "reference": "99/QĐ", "recognised_on": "2030-01-01"})
    assert future.status_code == 422 and "recognised_on" in future.get_json()["error"]["details"]["fields"]

    edited = snv.patch(f"/api/v1/initiatives/{body['id']}", json={"reach": "national"})
    assert edited.status_code == 200 and edited.get_json()["reach"] == "national"
    trail = edited.get_json()["trail"]
    assert trail[-1]["action"] == "initiative.edited" and trail[-1]["data"]["changed"] == {
        "reach": ["province", "national"]
    }

    # another unit's officer may neither enter for Sở Y tế, nor read or edit its initiatives
    other = world.client("hoa.nt")  # Sở GD&ĐT's officer
    assert other.post("/api/v1/initiatives", json={**SK, "reference": "1/QĐ"}).status_code == 403
    assert other.get(f"/api/v1/initiatives/{body['id']}").status_code == 403
    assert other.patch(f"/api/v1/initiatives/{body['id']}", json={"title": "x"}).status_code == 403
    assert other.get("/api/v1/initiatives").get_json()["total"] == 0
    mine = {**SK, "reference": "2/QĐ", "unit_id": "SGDDT", "reach": "unit"}
    assert other.post("/api/v1/initiatives", json=mine).status_code == 201
    # an auditor reads everything and writes nothing; Sở Nội vụ enters for any unit
    auditor = world.client("kiem.tra")
    assert auditor.get(f"/api/v1/initiatives/{body['id']}").status_code == 200
    assert auditor.get("/api/v1/initiatives").get_json()["total"] == 3
    assert auditor.post("/api/v1/initiatives", json={**SK, "reference": "3/QĐ"}).status_code == 403
    assert auditor.patch(f"/api/v1/initiatives/{body['id']}", json={"title": "x"}).status_code == 403
    assert snv.post("/api/v1/initiatives", json={**SK, "reference": "4/QĐ", "unit_id": "STC"}).status_code == 201
    # the unit's other people read their own unit's register; searching by text, unit, year and reach
    head = world.client("duc.hm")
    found = head.get("/api/v1/initiatives?q=tiêm chủng").get_json()
    assert [i["reference"] for i in found["initiatives"]] == ["15/QĐ-HĐSK"]
    assert snv.get("/api/v1/initiatives?unit=STC").get_json()["total"] == 1
    assert snv.get("/api/v1/initiatives?year=2023").get_json()["total"] == 0
    assert snv.get("/api/v1/initiatives?reach=national").get_json()["total"] == 1
    assert snv.get("/api/v1/initiatives?reach=unit").get_json()["total"] == 2
    assert snv.get("/api/v1/initiatives?reach=galactic").status_code == 422
    assert world.client().get("/api/v1/initiatives").status_code == 401
    with sessions() as s:
        assert verify(s).ok


# --- the check, where the work happens ------------------------------------------------------------------------


def test_an_unknown_reference_is_refused_naming_the_field_and_nothing_is_saved(rounds: World, sessions, clock):
    _register(sessions, clock)
    _, task = _council(sessions, rounds.ctx, [])
    unknown = {**CSTD, "name": "Lê Thu Hà", "initiative_ref": "77/QĐ-KHÔNG-CÓ"}
    answer = _submit(rounds, task.id, [CSTD, unknown])
    assert answer.status_code == 422
    error = answer.get_json()["error"]
    assert list(error["details"]["fields"]) == ["unit_candidates/1/initiative_ref"]
    assert "unit_candidates[1].initiative_ref" in error["message"] and "not in the register" in error["message"]
    assert _uses(sessions) == []  # the known one in the same list is not recorded either
    with sessions() as s:
        assert s.get(HumanTask, task.id).status == "open"
        assert not s.scalars(select(AuditEvent).where(AuditEvent.action == "initiative.used")).all()


def test_a_reference_of_another_unit_or_recognised_later_is_refused(rounds: World, sessions, clock):
    _register(sessions, clock, unit_id="SGDDT")
    _, task = _council(sessions, rounds.ctx, [])
    answer = _submit(rounds, task.id, [CSTD])
    assert answer.status_code == 422
    assert (
        "belongs to unit SGDDT" in answer.get_json()["error"]["details"]["fields"]["unit_candidates/0/initiative_ref"]
    )
    with sessions() as s, s.begin():  # put it in Sở Y tế's name, recognised only next week
        row = initiatives.get(s, 1)
        row.unit_id, row.recognised_on = "SYT", clock.now().date().replace(day=28)
    later = _submit(rounds, task.id, [CSTD])
    assert later.status_code == 422 and "recognised only on" in later.get_json()["error"]["message"]
    assert _uses(sessions) == []


def test_a_reach_lower_than_claimed_is_refused(rounds: World, sessions, clock):
    _register(sessions, clock, reach="unit")
    _, task = _council(sessions, rounds.ctx, [])
    claims = {**CSTD, "award": "chien_si_thi_dua_tinh", "initiative_provincial": True}
    answer = _submit(rounds, task.id, [claims])
    assert answer.status_code == 422
    message = answer.get_json()["error"]["details"]["fields"]["unit_candidates/0/initiative_ref"]
    assert "has unit reach, the entry claims province" in message
    national = {**claims, "initiative_national": True}
    with sessions() as s, s.begin():
        initiatives.edit(s, clock, "an.tdkt", 1, {"reach": "province"})
    answer = _submit(rounds, task.id, [national])
    assert answer.status_code == 422 and "claims national" in answer.get_json()["error"]["message"]
    assert _submit(rounds, task.id, [claims]).status_code == 200  # province reach for a province claim


def test_the_success_path_records_a_pending_use_in_the_steps_own_transaction(rounds: World, sessions, clock):
    _register(sessions, clock)
    iid, task = _council(sessions, rounds.ctx, [])
    again = {**CSTD, "name": "Trần Thị Mai", "initiative_ref": " 15/qđ-hđsk"}  # the same one again, in the list
    with pytest.raises(RuntimeError):  # the step and the use are written, then the caller's transaction fails
        with sessions() as s, s.begin():
            tasks.complete(s, rounds.ctx, task.id, "nga.vt", {"meeting_date": "2024-03-19",
                                                               "unit_candidates": [CSTD, again]})  # fmt: skip
            assert len(s.scalars(select(InitiativeUse)).all()) == 1
            raise RuntimeError("the transaction fails after the step")
    assert _uses(sessions) == []
    assert _submit(rounds, task.id, [CSTD, again]).status_code == 200
    (use,) = _uses(sessions)  # one use: the list's own check does not count the second entry again
    assert (use.candidate_id, use.candidate_name, use.award) == (
        "SYT-2024-1",
        "Phan Quốc Bảo",
        "chien_si_thi_dua_co_so",
    )
    assert (use.outcome, use.year, use.round_id, use.field) == (
        "pending",
        2024,
        iid,
        "unit_candidates/0/initiative_ref",
    )
    with sessions() as s:
        (event,) = s.scalars(select(AuditEvent).where(AuditEvent.stream == initiatives.stream_of(use.initiative_id),
                                                      AuditEvent.action == "initiative.used"))  # fmt: skip
        assert event.actor == "nga.vt" and event.data["candidate"] == "Phan Quốc Bảo"
    assert one_task(sessions, iid, "unom_head_decision").unit_id == "SYT"  # the step went on


def _decide(sessions, ctx, iid: int, refuse: bool) -> None:
    """The unit head decides the unit-level title (refusing it or not), the unit certifies: the unit's part ends."""
    head = one_task(sessions, iid, "unom_head_decision")
    refused = [{"candidate_id": "SYT-2024-1", "reason": "Chưa đạt"}] if refuse else []
    complete(sessions, ctx, head, "duc.hm", {"decision_number": "15/QĐ-SYT", "signed_date": "2024-12-02",
                                             "not_approved": refused})  # fmt: skip
    certificates = one_task(sessions, iid, "unom_unit_certificates")
    complete(sessions, ctx, certificates, "linh.tm", {"certificates_issued": 0 if refuse else 1, "notified": True})


def test_a_use_held_by_an_earlier_round_is_refused_naming_it_and_freed_when_not_awarded(rounds, sessions, clock):
    _register(sessions, clock)
    first, task = _council(sessions, rounds.ctx, [])
    assert _submit(rounds, task.id, [CSTD]).status_code == 200
    # next year's round, while the first is still deciding: refused, naming the earlier use
    second, task2 = _council(sessions, rounds.ctx, [], year=2025)
    answer = _submit(rounds, task2.id, [{**CSTD, "name": "Trần Thị Mai"}])
    assert answer.status_code == 422
    message = answer.get_json()["error"]["details"]["fields"]["unit_candidates/0/initiative_ref"]
    assert "already supports Phan Quốc Bảo (chien_si_thi_dua_co_so" in message and f"round #{first}" in message
    assert "2024" in message
    # the web form says the same in Vietnamese, on the field
    web = rounds.client("nga.vt")
    page = web.get(f"/tasks/{task2.id}")
    data = {"meeting_date": "2024-03-19", "unit_candidates": [{**CSTD, "name": "Trần Thị Mai"}]}
    posted = web.post(f"/tasks/{task2.id}", data={"csrf_token": token(page.data), "__rjsf_json": json.dumps(data)})
    assert posted.status_code == 422
    assert "đã làm căn cứ cho Phan Quốc Bảo (Chiến sĩ thi đua cơ sở" in text(posted)
    # the head does not award the first candidate: the initiative is free again
    _decide(sessions, rounds.ctx, first, refuse=True)
    assert _submit(rounds, task2.id, [{**CSTD, "name": "Trần Thị Mai"}]).status_code == 200
    assert [(u.candidate_name, u.outcome) for u in _uses(sessions)] == [("Phan Quốc Bảo", "released"),
                                                                        ("Trần Thị Mai", "pending")]  # fmt: skip
    assert status_of(sessions, second) == "running"


def test_a_granted_use_stays_held(rounds: World, sessions, clock):
    ref = _register(sessions, clock)
    first, task = _council(sessions, rounds.ctx, [])
    assert _submit(rounds, task.id, [CSTD]).status_code == 200
    _decide(sessions, rounds.ctx, first, refuse=False)
    _, task2 = _council(sessions, rounds.ctx, [], year=2025)
    answer = _submit(rounds, task2.id, [{**CSTD, "name": "Trần Thị Mai"}])
    assert answer.status_code == 422 and "granted" in answer.get_json()["error"]["message"]
    with sessions() as s:  # derived when checking; a refused step writes nothing, so it is derived again on reading
        assert [outcome_of(s, u) for u in s.scalars(select(InitiativeUse))] == ["granted"]
    # the initiative's page shows the use, its outcome and the trail; its register lists it
    officer = rounds.client("linh.tm")
    shown = officer.get(f"/api/v1/initiatives/{ref}").get_json()
    assert [(u["candidate_name"], u["outcome"]) for u in shown["uses"]] == [("Phan Quốc Bảo", "granted")]
    assert [e["action"] for e in shown["trail"]] == ["initiative.registered", "initiative.used"]
    page = officer.get(f"/initiatives/{ref}")
    assert page.status_code == 200
    assert "Phan Quốc Bảo" in text(page) and "Được khen thưởng" in text(page) and "Nhập vào Sổ sáng kiến" in text(page)


# --- the pages ------------------------------------------------------------------------------------------------


def test_the_register_pages_list_enter_and_open(world: World, sessions):
    officer = world.client("linh.tm")
    inbox = officer.get("/")
    assert "Sổ sáng kiến" in text(inbox)  # the menu entry
    form = officer.get("/initiatives/new")
    assert form.status_code == 200
    assert 'value="province"' not in form.get_data(as_text=True)  # a unit enters its own council's only
    higher = officer.post("/initiatives", data={**SK, "csrf_token": token(form.data)})
    assert higher.status_code == 403
    posted = {**SK, "reach": "unit", "csrf_token": token(form.data)}
    made = officer.post("/initiatives", data=posted, follow_redirects=True)
    assert made.status_code == 200 and "Đã lưu sáng kiến" in text(made) and "15/QĐ-HĐSK" in text(made)
    twice = officer.post("/initiatives", data={**posted, "reference": "15/qđ-hđsk"})
    assert twice.status_code == 409 and "đã có trong Sổ sáng kiến" in text(twice)
    empty = officer.post("/initiatives", data={**posted, "reference": "5/QĐ", "title": ""})
    assert empty.status_code == 422
    listed = officer.get("/initiatives?q=tiêm")
    assert "Phần mềm nhắc lịch tiêm chủng" in text(listed)
    edit = officer.get("/initiatives/1/edit")
    renamed = {**SK, "reach": "unit", "title": "Nhắc lịch tiêm chủng", "csrf_token": token(edit.data)}
    changed = officer.post("/initiatives/1/edit", data=renamed, follow_redirects=True)
    assert changed.status_code == 200 and "Sửa thông tin" in text(changed)
    auditor = world.client("kiem.tra")
    assert auditor.get("/initiatives/1").status_code == 200
    assert "initiative-new" not in text(auditor.get("/initiatives"))
    assert auditor.get("/initiatives/new").status_code == 403
    assert world.client("hoa.nt").get("/initiatives/1").status_code == 403


def test_the_sudden_proposal_is_checked_too(rounds: World, sessions, clock):
    iid = start(sessions, rounds.ctx, "nomination", unit="SYT", nomination_units=["SYT"], sudden=True)
    propose = one_task(sessions, iid, "nom_sudden_propose")
    hero = {"name": "Cao Văn Tâm", "kind": "individual", "award": "bang_khen_chu_tich", "initiative_ref": "9/QĐ"}
    data = {"achievement_date": "2024-03-18", "achievement": "Cứu người trong lũ", "unit_candidates": [hero]}
    answer = rounds.client("linh.tm").post(f"/api/v1/tasks/{propose.id}/complete", json={"data": data})
    assert answer.status_code == 422
    assert list(answer.get_json()["error"]["details"]["fields"]) == ["unit_candidates/0/initiative_ref"]


def test_simulated_councils_name_free_registered_initiatives(rounds: World, sessions, clock):
    """The simulated officers (engine/simulation) rely on initiatives in the register, a free one each time, so the
    simulated year passes the check; the same entries naming the earlier round's initiatives are refused."""
    campaign = CampaignConfig(
        2024, "CT", "05/CT-UBND", clock.now().date(), "chu.tich", "TINH", "SNV", "HDTDKT", ["SYT"]
    )
    with sessions() as s, s.begin():
        assert simulated.seed_register(s, clock, campaign) == len(simulated.SEEDED_REACHES)
    rng, behaviour, submitted = random.Random(3), Behaviour(ineligible=0.0), []
    for year in (2024, 2025):
        _, task = _council(sessions, rounds.ctx, [], year=year)
        with sessions() as s, s.begin():
            row = s.get(HumanTask, task.id)
            schema = tasks.task_form(s, rounds.ctx, row)
            submission = fill_form(row.form_key, schema, {"campaign_year": year, "unit_id": "SYT"}, rng, behaviour)
            simulated.fill_references(s, rounds.ctx, row, schema, submission)
            tasks.complete(s, rounds.ctx, task.id, "nga.vt", submission)
        submitted.append((task.id, submission))
    first = {c["initiative_ref"] for c in submitted[0][1]["unit_candidates"]}
    second = {c["initiative_ref"] for c in submitted[1][1]["unit_candidates"]}
    assert first and second and not first & second  # each relies on initiatives of its own
    assert {u.outcome for u in _uses(sessions)} == {"pending"} and len(_uses(sessions)) == len(first | second)
    _, task = _council(sessions, rounds.ctx, [], year=2026)
    again = {**submitted[0][1], "meeting_date": "2024-03-19"}
    answer = rounds.client("nga.vt").post(f"/api/v1/tasks/{task.id}/complete", json={"data": again})
    assert answer.status_code == 422 and "already supports" in answer.get_json()["error"]["message"]
