"""``tdkt demo``: the demo organisation, the models and the city's 2026 campaign, opened once however often it runs."""

from __future__ import annotations

from datetime import UTC, datetime

from click.testing import CliRunner
from sqlalchemy import func, select

from cli import main
from engine.persistence.models import Definition, HumanTask, Instance, Membership, User


def test_demo_opens_the_campaign_once(db_engine, sessions):
    url = db_engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    first = runner.invoke(main, ["demo", "--url", url])
    assert first.exit_code == 0, first.output
    assert "campaign_launch v1 created" in first.output
    assert first.output.strip().endswith("opened")

    second = runner.invoke(main, ["demo", "--url", url])
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
