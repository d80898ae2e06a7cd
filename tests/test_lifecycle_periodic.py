"""Periodic reports on the rules' cycle (a late report, a sample inspection), sơ kết/tổng kết, and the launch."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from engine.persistence.models import HumanTask, Notification
from engine.services.timers import fire_due_timers
from engine.simulation.campaign import load_campaign, open_campaign
from tests.conftest import ROOT
from tests.test_lifecycle_helpers import (
    RULES,
    UNITS,
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

REPORT = {"progress": "Đúng tiến độ", "completion_pct": 60}
DATES = ["2024-03-20T01:00:00+00:00", "2024-06-20T01:00:00+00:00"]


def at(clock, sessions, ctx, when: datetime) -> int:
    clock.set(when)
    return fire_due_timers(sessions, ctx, owner="test")


def test_late_report_is_flagged_returned_and_the_sample_unit_inspected(sessions, ctx, clock, lifecycle):
    iid = start(sessions, ctx, "periodic_report", unit="STC", unit_id="STC", report_dates=DATES)
    assert open_tasks(sessions, iid) == []  # waiting for the first report date
    assert at(clock, sessions, ctx, datetime(2024, 3, 20, 2, 0, tzinfo=UTC)) >= 1
    draft = one_task(sessions, iid, "periodic_draft")
    assert who(draft) == ("periodic_draft", "unit_officer", "STC")
    assert draft.due_at.replace(tzinfo=UTC) == datetime(2024, 3, 27, 2, 0, tzinfo=UTC)  # 5 working days

    at(clock, sessions, ctx, datetime(2024, 4, 1, 2, 0, tzinfo=UTC))  # the officer is late
    complete(sessions, ctx, draft, "khanh.dq", REPORT)
    review = one_task(sessions, iid, "periodic_review")
    assert who(review) == ("periodic_review", "home_affairs", "SNV")
    complete(sessions, ctx, review, "an.tdkt", {"review_decision": "request_changes", "review_comments": "Số liệu?"})
    complete(sessions, ctx, one_task(sessions, iid, "periodic_draft"), "khanh.dq", REPORT | {"completion_pct": 65})
    complete(sessions, ctx, one_task(sessions, iid, "periodic_review"), "an.tdkt", {"review_decision": "accept"})
    assert open_tasks(sessions, iid) == []  # STC (index 2) is not in the first quarter's sample

    at(clock, sessions, ctx, datetime(2024, 6, 20, 2, 0, tzinfo=UTC))
    complete(sessions, ctx, one_task(sessions, iid, "periodic_draft"), "khanh.dq", REPORT | {"completion_pct": 90})
    complete(sessions, ctx, one_task(sessions, iid, "periodic_review"), "an.tdkt", {"review_decision": "accept"})
    inspection = one_task(sessions, iid, "periodic_inspection")
    assert who(inspection) == ("periodic_inspection", "home_affairs", "SNV")
    complete(
        sessions, ctx, inspection, "binh.tdkt", {"inspection_date": "2024-06-25", "findings": "Tốt", "rating": "tot"}
    )
    assert status_of(sessions, iid) == "completed"
    assert data_of(sessions, ctx, iid)["periodic_results"] == [
        {"period": "2024-03-20", "late": True, "inspected": False},
        {"period": "2024-06-20", "late": False, "inspected": True},
    ]
    with sessions() as s:
        first = s.get(HumanTask, draft.id)
        assert first.completed_at.replace(tzinfo=UTC) > first.due_at.replace(tzinfo=UTC)
    assert [e for e, _ in completions(sessions, iid)].count("periodic_draft") == 3


def test_review_round_consolidates_every_units_report(sessions, ctx, lifecycle):
    iid = start(sessions, ctx, "review_round", units=["SYT", "STC"], review_kind="so_ket")
    drafts = {t.unit_id: t for t in open_tasks(sessions, iid)}
    assert sorted(who(t) for t in drafts.values()) == [("review_draft", "unit_officer", u) for u in ("STC", "SYT")]
    report = {"results": "Đạt", "lessons": "Sát cơ sở", "self_score": 90, "model_examples": ["Trần Mỹ Linh"]}
    complete(sessions, ctx, drafts["SYT"], "linh.tm", report)
    complete(sessions, ctx, drafts["STC"], "khanh.dq", report | {"self_score": 80, "model_examples": []})
    complete(
        sessions, ctx, one_task(sessions, iid, "review_head_approve", "SYT"), "duc.hm", {"head_decision": "approve"}
    )
    head = one_task(sessions, iid, "review_head_approve", "STC")
    complete(sessions, ctx, head, "phuong.bt", {"head_decision": "return", "head_comments": "Thiếu gương điển hình"})
    complete(sessions, ctx, one_task(sessions, iid, "review_draft", "STC"), "khanh.dq", report | {"self_score": 85})
    complete(sessions, ctx, one_task(sessions, iid, "review_head_approve"), "phuong.bt", {"head_decision": "approve"})
    consolidate = one_task(sessions, iid, "review_consolidate")
    assert who(consolidate) == ("review_consolidate", "home_affairs", "SNV")
    complete(sessions, ctx, consolidate, "an.tdkt", {"summary": "2 đơn vị", "report_number": "120/BC-SNV"})
    assert status_of(sessions, iid) == "completed"
    reports = data_of(sessions, ctx, iid)["review_reports"]
    assert sorted((r["unit_id"], r["kind"], r["score"], r["models"]) for r in reports) == [
        ("STC", "so_ket", 85, 1),
        ("SYT", "so_ket", 90, 1),
    ]


def test_launch_opens_every_units_plan_once_with_the_rules_in_force(sessions, ctx, lifecycle):
    campaign = load_campaign(ROOT / "demo" / "campaign.yaml")
    with sessions() as s, s.begin():
        row, created = open_campaign(s, ctx, campaign, RULES)
        iid = row.id
    assert created
    with sessions() as s, s.begin():
        again, created = open_campaign(s, ctx, campaign, RULES)
    assert (again.id, created) == (iid, False)
    plans = open_tasks(sessions, iid)
    assert sorted(who(t) for t in plans) == sorted(("plan_draft", "unit_officer", u) for u in UNITS)
    data = data_of(sessions, ctx, iid)
    assert (data["rules_version"], data["rules_date"]) == ("2024.1", "2024-03-19")
    assert [d[:10] for d in data["report_dates"]] == ["2024-03-20", "2024-06-20", "2024-09-20", "2024-12-20"]


def test_a_task_a_timer_opens_is_announced_to_whoever_may_take_it(sessions, ctx, clock, lifecycle):
    """The report falls due on its date (a timer): the unit's officer finds it among their notifications, as
    when a person's step opens the next one."""
    iid = start(sessions, ctx, "periodic_report", unit="STC", unit_id="STC", report_dates=DATES)
    assert at(clock, sessions, ctx, datetime(2024, 3, 20, 2, 0, tzinfo=UTC)) >= 1
    draft = one_task(sessions, iid, "periodic_draft")
    with sessions() as s:
        told = list(s.scalars(select(Notification).where(Notification.task_id == draft.id)))
    assert {(n.user_id, n.kind) for n in told} == {("khanh.dq", "assigned")}
