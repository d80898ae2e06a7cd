"""Sở Nội vụ's campaign dashboard: each unit's stage from its instances' tasks, overdue and escalated work, the
nomination pipeline, the same number of statements at 7 units as at 150, and who may open it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from engine.clock import ManualClock
from engine.persistence.db import make_engine, make_session_factory
from engine.persistence.models import Base, HumanTask, Instance, User
from engine.services import tasks
from engine.services.context import EngineContext
from engine.services.dashboard import STAGE_OF_CALL, STAGES, campaign_dashboard
from engine.services.definitions import deploy
from engine.services.directory import users_with_role
from engine.services.org import load_org_file
from engine.services.rules import load_rule_sets
from engine.services.timers import fire_due_timers
from engine.simulation.campaign import first_units, load_campaign, open_campaign
from tests.api_support import TEST_KDF, login
from tests.conftest import BPMN_DIR, ROOT
from tests.test_lifecycle_helpers import (
    complete,
    ctx_fixture,  # noqa: F401 - fixture
    lifecycle_fixture,  # noqa: F401 - fixture
    model_files,
    one_task,
    start,
)
from tests.test_lifecycle_nomination import COLLECTIVE, DOCS, ELIGIBLE, INELIGIBLE, by_candidate

PROVINCE = ROOT / "demo" / "province"
RULES = load_rule_sets(ROOT / "rules" / "lifecycle.yaml")
PLAN = {"plan_title": "Kế hoạch thi đua", "targets": "100% đăng ký", "activities": "Quý II - IV"}


def worker(session: Session, ctx: EngineContext, row: HumanTask) -> str:
    """Someone who may take the task (the first holder of its role in its unit)."""
    found = users_with_role(session, str(row.role_id), row.unit_id, ctx.now())
    assert found, (row.element_id, row.role_id, row.unit_id)
    return found[0]


def open_task(sessions: sessionmaker[Session], unit: str, element: str) -> HumanTask:
    with sessions() as s:
        query = select(HumanTask).where(HumanTask.status.in_(("open", "claimed")), HumanTask.element_id == element)
        rows = [r for r in s.scalars(query) if r.unit_id == unit or s.get(Instance, r.instance_id).unit_id == unit]
        assert len(rows) == 1, (unit, element, rows)
        return rows[0]


def step(sessions: sessionmaker[Session], ctx: EngineContext, unit: str, element: str, data: dict) -> None:
    row = open_task(sessions, unit, element)
    with sessions() as s, s.begin():
        tasks.complete(s, ctx, row.id, worker(s, ctx, row), data)


def province_campaign(sessions: sessionmaker[Session], ctx: EngineContext, units: int) -> int:
    """The province (demo/province/) with its campaign's first ``units`` units opened, and three units moved on:
    the first's plan at its head, the second's plan returned to its officer, the third's plan accepted."""
    with sessions() as s, s.begin():
        load_org_file(s, PROVINCE / "org.yaml", ctx.clock)
        deploy(s, model_files(), ctx.clock, actor="designer")
        campaign = first_units(load_campaign(PROVINCE / "campaign.yaml"), units)
        root, _ = open_campaign(s, ctx, campaign, RULES)
        root_id, first, second, third = root.id, *campaign.units[:3]
    step(sessions, ctx, first, "plan_draft", PLAN)
    step(sessions, ctx, second, "plan_draft", PLAN)
    step(sessions, ctx, second, "plan_head_review", {"head_decision": "return", "head_comments": "Bổ sung chỉ tiêu"})
    step(sessions, ctx, third, "plan_draft", PLAN)
    step(sessions, ctx, third, "plan_head_review", {"head_decision": "approve"})
    step(sessions, ctx, third, "plan_home_affairs_review", {"review_decision": "accept"})
    return root_id


@pytest.fixture
def campaign(sessions, clock):
    made = EngineContext(clock=clock)
    return made, province_campaign(sessions, made, 7)


def test_each_unit_has_its_stage_from_its_instances_tasks(sessions, campaign):
    ctx, root_id = campaign
    with sessions() as s:
        board = campaign_dashboard(s, ctx, root_id)
        units = load_campaign(PROVINCE / "campaign.yaml").units[:7]
    assert [r.unit_id for r in board.rows] == units
    first, second, third = (next(r for r in board.rows if r.unit_id == u) for u in units[:3])
    assert [t.element_id for t in first.cells["plan"].tasks] == ["plan_head_review"]
    assert first.cells["plan"].state == "open" and first.cells["plan"].completed_steps == 1
    assert [t.element_id for t in second.cells["plan"].tasks] == ["plan_draft"]  # returned
    assert second.cells["plan"].completed_steps == 2
    assert third.cells["plan"].state == "done" and third.cells["plan"].tasks == []
    assert board.done_per_stage["plan"] == 1
    # the periodic report waits for its first date; sơ kết, tổng kết and nominations have not started
    assert {r.cells["periodic"].state for r in board.rows} == {"waiting"}
    assert {r.cells[s].state for r in board.rows for s in ("so_ket", "tong_ket", "nomination")} == {"none"}
    # registrations open once every unit's plan is done
    assert {r.cells["registration"].state for r in board.rows} == {"none"}
    assert not any(r.overdue or r.escalated for r in board.rows)


def test_overdue_and_escalated_work_is_flagged(sessions, campaign, clock):
    ctx, root_id = campaign
    clock.advance(timedelta(days=30))
    fire_due_timers(sessions, ctx, owner="test")
    with sessions() as s:
        board = campaign_dashboard(s, ctx, root_id)
    late = [r for r in board.rows if r.cells["plan"].tasks]
    assert late and all(r.cells["plan"].overdue and r.cells["plan"].escalated for r in late)
    assert all(r.overdue >= 1 and r.escalated >= 1 for r in late)
    done = next(r for r in board.rows if r.cells["plan"].state == "done")
    assert not done.cells["plan"].overdue


def test_filters_by_kind_and_block(sessions, campaign):
    ctx, root_id = campaign
    with sessions() as s:
        every = campaign_dashboard(s, ctx, root_id)
        block = every.blocks[0]
        in_block = campaign_dashboard(s, ctx, root_id, block=block["block_id"])
        kind = every.rows[0].kind
        of_kind = campaign_dashboard(s, ctx, root_id, kind=kind)
        scoped = campaign_dashboard(s, ctx, root_id, unit_ids={every.rows[1].unit_id})
    assert [r.unit_id for r in in_block.rows] == [u for u in block["members"] if u in {r.unit_id for r in every.rows}]
    assert of_kind.rows and {r.kind for r in of_kind.rows} == {kind}
    assert len(of_kind.rows) < len(every.rows) or {r.kind for r in every.rows} == {kind}
    assert [r.unit_id for r in scoped.rows] == [every.rows[1].unit_id]


def test_the_stage_mapping_names_only_call_activities_of_the_models():
    texts = {p.name: p.read_text(encoding="utf-8") for p in BPMN_DIR.glob("*.bpmn")}
    for element in STAGE_OF_CALL:
        assert any(f'<bpmn:callActivity id="{element}"' in t for t in texts.values()), element
    assert set(STAGE_OF_CALL.values()) <= set(STAGES)


def _count_statements(engine: Engine, sessions: sessionmaker[Session], ctx: EngineContext, root_id: int) -> int:
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001 - SQLAlchemy's hook
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        with sessions() as s:
            board = campaign_dashboard(s, ctx, root_id)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert board.rows
    return len(seen)


def test_the_dashboard_reads_with_the_same_statements_at_7_and_at_150_units(tmp_path: Path, clock):
    counts = {}
    for units in (7, 150):
        engine = make_engine(f"sqlite:///{tmp_path / f'province_{units}.sqlite3'}")
        try:
            Base.metadata.create_all(engine)
            sessions = make_session_factory(engine)
            ctx = EngineContext(clock=ManualClock(clock.now()))
            root_id = province_campaign(sessions, ctx, units)
            ctx.clock.advance(timedelta(days=30))
            with sessions() as s:
                rows = campaign_dashboard(s, ctx, root_id).rows
            assert len(rows) == units and sum(1 for r in rows if r.cells["plan"].overdue) == units - 1
            counts[units] = _count_statements(engine, sessions, ctx, root_id)
        finally:
            engine.dispose()
    assert counts[7] == counts[150], counts
    assert counts[7] <= 8


# --- the web page and who may open it --------------------------------------------------------------------


@pytest.fixture
def web(db_engine, sessions, clock, campaign):
    from api import create_app
    from api.passwords import hash_password

    ctx, root_id = campaign
    with sessions() as s, s.begin():
        cheap = hash_password("demo", kdf=TEST_KDF)
        for user in s.scalars(select(User)):
            user.password_hash = cheap
    app = create_app(
        {
            "ENGINE": db_engine,
            "DATABASE_URL": "given",
            "SECRET_KEY": "test",
            "ENGINE_CONTEXT": ctx,
            "TESTING": True,
            "PASSWORD_KDF": TEST_KDF,
        }
    )
    return app, root_id


def _officer_and_head(sessions, clock) -> tuple[str, str]:
    with sessions() as s:
        unit = load_campaign(PROVINCE / "campaign.yaml").units[0]
        officer = users_with_role(s, "unit_officer", unit, clock.now())[0]
        return officer, users_with_role(s, "unit_head", unit, clock.now())[0]


def test_sở_nội_vụ_sees_every_unit_a_head_their_own_an_officer_nothing(web, sessions, clock):
    app, root_id = web
    officer, head = _officer_and_head(sessions, clock)
    staff = app.test_client()
    login(staff, "truong.ban.tdkt")
    page = staff.get(f"/dashboard/{root_id}")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert body.count('<tr data-unit="') == 7 and "Kế hoạch" in body and 'data-state="open"' in body
    assert staff.get("/dashboard").status_code in (200, 302)
    boss = app.test_client()
    login(boss, head)
    mine = boss.get(f"/dashboard/{root_id}").get_data(as_text=True)
    assert mine.count('<tr data-unit="') == 1
    # the head's plan waits at the head's own review: linked; what waits at Sở Nội vụ would not be
    assert '<a class="stage-task"' in mine
    clerk = app.test_client()
    login(clerk, officer)
    assert clerk.get(f"/dashboard/{root_id}").status_code == 403
    assert clerk.get("/dashboard").status_code == 403
    assert staff.get("/dashboard/999999").status_code == 404


# --- the nomination pipeline -----------------------------------------------------------------------------


def test_the_pipeline_counts_each_dossier_by_its_status(sessions, ctx, lifecycle, clock):
    def pipeline() -> dict[str, int]:
        with sessions() as s:
            board = campaign_dashboard(s, ctx, iid)
        assert [r.unit_id for r in board.rows] == ["SYT"]
        return {k: v for k, v in board.pipeline.items() if v}

    iid = start(sessions, ctx, "nomination", nomination_units=["SYT"], sudden=False)
    assert pipeline() == {"unit_review": 1}
    council = one_task(sessions, iid, "nom_unit_council")
    complete(
        sessions,
        ctx,
        council,
        "nga.vt",
        {"meeting_date": "2024-03-19", "unit_candidates": [ELIGIBLE, INELIGIBLE, COLLECTIVE]},
    )
    assert pipeline() == {"preparing": 3}
    prepare = by_candidate(sessions, ctx, iid, "dossier_prepare")
    for name, task in prepare.items():
        complete(sessions, ctx, task, "linh.tm", {"documents": DOCS, "achievement_summary": name})
    signing = list(by_candidate(sessions, ctx, iid, "dossier_sign").values())
    complete(sessions, ctx, signing[0], "duc.hm", {"head_decision": "sign"})
    assert pipeline() == {"signing": 2, "appraisal": 1}
    for task in signing[1:]:
        complete(sessions, ctx, task, "duc.hm", {"head_decision": "sign"})
    appraise = by_candidate(sessions, ctx, iid, "dossier_appraise")
    complete(sessions, ctx, appraise["Vũ Thị Nga"], "an.tdkt", {"appraisal": "eligible"})
    complete(
        sessions,
        ctx,
        appraise["Hoàng Minh Đức"],
        "an.tdkt",
        {"appraisal": "reject", "reject_reason": "standard_not_met"},
    )
    complete(
        sessions, ctx, appraise["Khoa Nội"], "an.tdkt", {"appraisal": "supplement", "supplement_request": "Bổ sung"}
    )
    assert pipeline() == {"eligible": 1, "rejected": 1, "supplement": 1}
    complete(sessions, ctx, one_task(sessions, iid, "dossier_rejection_notice"), "linh.tm", {"acknowledged": True})
    complete(sessions, ctx, one_task(sessions, iid, "dossier_supplement"), "linh.tm", {"documents": DOCS})
    complete(sessions, ctx, one_task(sessions, iid, "dossier_appraise"), "an.tdkt", {"appraisal": "eligible"})
    assert pipeline() == {"disclosure": 2, "rejected": 1}
    with sessions() as s:
        items = campaign_dashboard(s, ctx, iid).items
    assert sorted(i.candidate for i in items if i.status == "disclosure") == ["Khoa Nội", "Vũ Thị Nga"]


def test_sở_nội_vụ_urges_every_overdue_task_at_once(web, sessions, clock):
    from engine.persistence.models import Notification
    from tests.test_web import token

    app, root_id = web
    clock.advance(timedelta(days=30))
    staff = app.test_client()
    login(staff, "truong.ban.tdkt")
    page = staff.get(f"/dashboard/{root_id}").get_data(as_text=True)
    assert 'id="urge-all"' in page and "(6)" in page  # six plans late; the third unit's is done
    csrf = token(page.encode())
    answer = staff.post(f"/dashboard/{root_id}/urge-overdue", data={"csrf_token": csrf}, follow_redirects=True)
    body = answer.get_data(as_text=True)
    assert "Đã đôn đốc 6 việc quá hạn (0 việc" in body and body.count("Đã đôn đốc 0") == 0
    assert body.count('class="muted urged"') == 6
    with sessions() as s:
        told = s.scalars(select(Notification).where(Notification.kind == "urged")).all()
    assert len({n.task_id for n in told}) == 6
    again = staff.post(f"/dashboard/{root_id}/urge-overdue", data={"csrf_token": csrf}, follow_redirects=True)
    assert "Đã đôn đốc 0 việc quá hạn (6 việc" in again.get_data(as_text=True)
    officer, head = _officer_and_head(sessions, clock)
    boss = app.test_client()
    login(boss, head)
    assert 'id="urge-all"' not in boss.get(f"/dashboard/{root_id}").get_data(as_text=True)
    assert boss.post(f"/dashboard/{root_id}/urge-overdue", data={"csrf_token": csrf}).status_code in (400, 403)
