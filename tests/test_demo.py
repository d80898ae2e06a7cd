"""``tdkt demo``: the demo organisation, the models and the city's 2026 campaign, opened once however often it runs."""

from __future__ import annotations

from datetime import UTC, date, datetime

from click.testing import CliRunner
from sqlalchemy import func, select

from cli import main
from engine.persistence.models import (
    BallotSlip,
    CouncilMeeting,
    Definition,
    HumanTask,
    Instance,
    Membership,
    Timer,
    User,
)


def test_demo_opens_the_campaign_once(db_engine, sessions):
    url = db_engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    first = runner.invoke(main, ["demo", "--url", url, "--no-history"])
    assert first.exit_code == 0, first.output
    assert "campaign_launch v1 created" in first.output
    assert first.output.strip().endswith("opened")

    second = runner.invoke(main, ["demo", "--url", url])  # history asked for, but the campaign is already open
    assert second.exit_code == 0, second.output
    assert "campaign_launch v1 unchanged" in second.output
    assert second.output.strip().endswith("already open")

    with sessions() as s:
        launches = list(s.scalars(select(Instance).where(Instance.definition_key == "campaign_launch")))
        assert [(i.business_key, i.unit_id, i.status) for i in launches] == [("CT03-2026", "TINH", "running")]
        assert launches[0].started_at.replace(tzinfo=UTC) == datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
        plans = s.scalars(
            select(HumanTask.unit_id).where(HumanTask.element_id == "plan_draft").order_by(HumanTask.unit_id)
        )
        assert sorted(plans) == sorted(
            ["SGDDT", "SYT", "STC", "SCT", "MTTQ", "LDLD", "HLHPN", "TDTN", "TPAB", "TXTM", "PHB", "HPT", "XTL", "XDH"]
            + ["CTNAB", "CTMT"]
        )
        assert s.scalar(select(func.max(Definition.version))) == 1
        council = s.scalar(select(func.count()).where(Membership.role_id == "council_member"))
        assert council == 11
        assert s.get(User, "kiem.tra").capabilities == ["auditor"]


def test_demo_lives_the_campaign_up_to_a_day_then_hands_over(db_engine, sessions):
    """The history: plans done (some late and escalated), reports and reviews under way, nothing left due before
    the last simulated morning (the real clock fires no backlog at start), and the thematic round's Council
    convened for a working week later with everything from attendance on left to people."""
    url = db_engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(main, ["demo", "--url", url, "--until", "2026-12-01"])
    assert result.exit_code == 0, result.output
    assert "lived 2026-03-10 .. 2026-12-01 on a manual clock (seed 1)" in result.output
    assert "the Council sits on 2026-12-08 for CD-2026-01 (convened; attendance next)" in result.output
    assert result.output.strip().endswith("opened")
    last_morning = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    with sessions() as s:
        plans = list(s.scalars(select(HumanTask).where(HumanTask.element_id == "plan_draft")))
        assert len(plans) >= 16
        assert all(p.status == "completed" for p in plans)
        assert s.scalar(select(func.count()).where(HumanTask.escalation_level > 0)) > 0
        open_tasks = list(s.scalars(select(HumanTask).where(HumanTask.status.in_(["open", "claimed"]))))
        assert {t.due_at.year for t in open_tasks if t.due_at is not None} <= {2026}
        assert "council_attendance" in {t.form_key for t in open_tasks}
        meeting = s.scalars(select(CouncilMeeting)).one()
        assert meeting.meeting_date == date(2026, 12, 8)
        assert s.scalar(select(func.count()).select_from(BallotSlip)) == 0  # nobody has voted for anyone
        pending = s.scalar(select(func.min(Timer.due_at)).where(Timer.status == "pending"))
        assert pending is not None and pending.replace(tzinfo=UTC) >= last_morning


def test_demo_history_cannot_reach_into_the_future(db_engine):
    url = db_engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(main, ["demo", "--url", url, "--until", "2999-01-01"])
    assert result.exit_code == 2
    assert "--until" in result.output and "after today" in result.output
