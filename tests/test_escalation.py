"""Escalation of a task with a working-day due date, across Tết 2024: reminder, overdue, escalation, e-mails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.errors import ValidationError
from engine.persistence.models import AuditEvent, HumanTask, Membership, Notification, OrgUnit, Role, Timer, User
from engine.services import instances, tasks
from engine.services.audit import verify
from engine.services.context import EngineContext
from engine.services.escalation import handle_timer, monitor_unit, plan_timers
from engine.services.escalation_policy import ENV_VAR, EscalationPolicy, current_policy, default_policy, load_policy
from engine.services.mailer import MailSettings, send_pending_emails
from engine.services.timers import fire_due_timers
from tests.engine_helpers import deploy_files, make_org
from tests.smtp_server import running_smtp_server

DEADLINES = Path(__file__).resolve().parent / "fixtures" / "deadlines"
CREATED = datetime(2024, 2, 7, 3, 0, tzinfo=UTC)  # Wed 07/02/2024 10:00 in Hà Nội, the day before Tết
DUE = datetime(2024, 2, 21, 3, 0, tzinfo=UTC)  # five working days later: 15, 16, 19, 20, 21/02


@pytest.fixture
def smtp_server():
    with running_smtp_server() as server:
        yield server


@pytest.fixture
def ctx(clock):
    clock.set(CREATED)
    return EngineContext(clock=clock)


def _org(s) -> None:
    make_org(s)
    s.add(OrgUnit(id="SNV", name="Sở Nội vụ", kind="home_affairs", parent_id="TINH"))
    s.add(Role(id="home_affairs", name="Theo dõi thi đua"))
    s.add(User(id="snv.monitor", full_name="Vũ Thị Giang", email="giang@snv.example.vn"))
    s.flush()
    s.add(Membership(user_id="snv.monitor", role_id="home_affairs", unit_id="SNV"))
    for user, address in (("an.officer", "an@syt.example.vn"), ("cuong.head", "cuong@syt.example.vn")):
        s.get(User, user).email = address


@pytest.fixture
def dossier(sessions, ctx, clock):
    with sessions() as s, s.begin():
        _org(s)
        deploy_files(s, clock, DEADLINES / "dossier_deadline.bpmn")
    with sessions() as s, s.begin():
        instance = instances.start_instance(
            s, ctx, key="dossier_deadline", business_key="HS-01", unit_id="SYT", data={}, actor="an.officer"
        )
        return instance.id


def _task(sessions, iid) -> HumanTask:
    with sessions() as s:
        return s.scalars(select(HumanTask).where(HumanTask.instance_id == iid)).one()


def _escalation_timers(s, iid) -> list[Timer]:
    query = select(Timer).where(Timer.instance_id == iid, Timer.kind != "bpmn_timer").order_by(Timer.due_at)
    return list(s.scalars(query))


def test_due_date_property_and_boundary_timer_in_working_days(sessions, dossier) -> None:
    task = _task(sessions, dossier)
    assert task.due_at == DUE
    with sessions() as s:
        query = select(Timer).where(Timer.instance_id == dossier, Timer.kind == "bpmn_timer")
        (nudge,) = s.scalars(query).all()
    # timeDate working_days(3): 15, 16, 19/02 at 10:00 local
    assert (nudge.element_id, nudge.due_at) == ("nudge", datetime(2024, 2, 19, 3, 0, tzinfo=UTC))


def test_plan_timers_follow_the_policy(sessions, ctx, dossier) -> None:
    task = _task(sessions, dossier)
    with sessions() as s:
        planned = plan_timers(s, ctx, task, "dossier_deadline")
        stored = _escalation_timers(s, dossier)
    assert [(t["kind"], t["due_at"]) for t in planned] == [
        ("reminder", datetime(2024, 2, 20, 3, 0, tzinfo=UTC)),
        ("overdue", DUE),
        ("escalation", datetime(2024, 2, 23, 3, 0, tzinfo=UTC)),
    ]
    assert [(t.kind, t.due_at, t.payload) for t in stored] == [(t["kind"], t["due_at"], t["payload"]) for t in planned]
    quiet = EscalationPolicy(
        {"processes": {"dossier_deadline": {"reminder_before": None, "escalate_after": 4}}}, partial=True
    )
    custom = plan_timers(None, ctx, task, "dossier_deadline", policy=default_policy().merged_with(quiet))  # type: ignore[arg-type]
    assert [(t["kind"], t["due_at"]) for t in custom] == [
        ("overdue", DUE),
        ("escalation", datetime(2024, 2, 27, 3, 0, tzinfo=UTC)),
    ]
    ctx.clock.set(datetime(2024, 2, 20, 4, 0, tzinfo=UTC))  # created after the reminder's moment: none
    assert [t["kind"] for t in plan_timers(None, ctx, task, "dossier_deadline")] == ["overdue", "escalation"]  # type: ignore[arg-type]
    task.due_at = None
    assert plan_timers(None, ctx, task, "dossier_deadline") == []  # type: ignore[arg-type]


def test_across_tet_each_step_happens_once(sessions, ctx, clock, dossier, smtp_server) -> None:
    inbox, port = smtp_server
    settings = MailSettings(host="127.0.0.1", port=port, sender="tdkt@snv.example.vn")
    steps = []
    # Every hour from 07/02 to 26/02 the scheduler runs, then sends what it queued.
    while clock.now() < datetime(2024, 2, 26, tzinfo=UTC):
        clock.advance(timedelta(hours=1))
        if fire_due_timers(sessions, ctx, owner="test") and send_pending_emails(sessions, clock, settings).sent:
            steps.append(clock.now())
    assert steps[:3] == [
        datetime(2024, 2, 20, 4, 0, tzinfo=UTC),  # the first run after 20/02 10:00 local (reminder)
        datetime(2024, 2, 21, 4, 0, tzinfo=UTC),  # overdue
        datetime(2024, 2, 23, 4, 0, tzinfo=UTC),  # escalated
    ]
    with sessions() as s:
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.instance_id == dossier).order_by(AuditEvent.id)))
        mine = [
            (e.action, e.actor, e.data.get("notified"))
            for e in events
            if e.action.startswith("task.") and e.action != "task.created"
        ]
        assert mine == [
            ("task.reminded", "system", ["an.officer", "binh.officer"]),
            ("task.overdue", "system", ["an.officer", "binh.officer", "cuong.head"]),
            ("task.escalated", "system", ["cuong.head", "snv.monitor"]),
        ]
        assert verify(s).ok
        fired = [(e.element_id, e.at) for e in events if e.action == "timer.fired"]
        assert fired == [("nudge", datetime(2024, 2, 19, 4, 0, tzinfo=UTC))]  # non-interrupting: the task stays
        task = s.scalars(select(HumanTask).where(HumanTask.instance_id == dossier)).one()
        assert task.escalation_level == 2 and task.status == "open"
        kinds = [(n.user_id, n.kind) for n in s.scalars(select(Notification).order_by(Notification.id))]
        assert kinds == [
            ("an.officer", "reminder"),
            ("binh.officer", "reminder"),
            ("an.officer", "overdue"),
            ("binh.officer", "overdue"),
            ("cuong.head", "overdue"),
            ("cuong.head", "escalation"),
            ("snv.monitor", "escalation"),
        ]
        assert all(t.status == "fired" for t in _escalation_timers(s, dossier))
    mails = [(rcpt[0], m["Subject"]) for rcpt, m in inbox.received]
    assert mails == [
        ("an@syt.example.vn", "Nhắc việc: Thẩm định hồ sơ đến hạn ngày 21/02/2024 10:00"),
        ("an@syt.example.vn", "Quá hạn: Thẩm định hồ sơ (hạn 21/02/2024 10:00)"),
        ("cuong@syt.example.vn", "Quá hạn: Thẩm định hồ sơ (hạn 21/02/2024 10:00)"),
        ("cuong@syt.example.vn", "Chuyển cấp theo dõi: Thẩm định hồ sơ quá hạn 2 ngày làm việc"),
        ("giang@snv.example.vn", "Chuyển cấp theo dõi: Thẩm định hồ sơ quá hạn 2 ngày làm việc"),
    ]
    body = inbox.received[-1][1].get_content()
    assert "Sở Y tế" in body and "Sở Nội vụ theo dõi, đôn đốc" in body and "Thẩm định hồ sơ khen thưởng" in body


def test_handle_timer_is_idempotent_and_reassigns_when_told(sessions, ctx, clock, dossier) -> None:
    policy = default_policy().merged_with(
        EscalationPolicy({"roles": {"unit_officer": {"reassign_to": "unit_head"}}}, partial=True)
    )
    task = _task(sessions, dossier)
    with sessions() as s, s.begin():
        planned = plan_timers(s, ctx, task, "dossier_deadline", policy=policy)
        timers = [Timer(**row) for row in planned]
        s.add_all(timers)
    with sessions() as s, s.begin():
        tasks.claim(s, ctx, task.id, "an.officer")
    for timer in timers:
        clock.set(timer.due_at + timedelta(seconds=1))
        for _ in range(2):  # a second call changes nothing
            with sessions() as s, s.begin():
                handle_timer(s, ctx, s.get(Timer, timer.id))
    with sessions() as s:
        task = s.get(HumanTask, task.id)
        assert (task.assignee, task.status, task.escalation_level) == ("cuong.head", "claimed", 2)
        actions = [e.action for e in s.scalars(select(AuditEvent).where(AuditEvent.instance_id == dossier))]
        assert actions.count("task.reminded") == actions.count("task.overdue") == actions.count("task.escalated") == 1
        assert actions[-2:] == ["task.escalated", "task.reassigned"]
        reminded = s.scalars(select(Notification).where(Notification.kind == "reminder")).all()
        assert [n.user_id for n in reminded] == ["an.officer"]  # claimed: only the assignee
        assert [n.user_id for n in s.scalars(select(Notification).where(Notification.kind == "reassigned"))] == [
            "cuong.head"
        ]
    with sessions() as s, s.begin():  # the head can finish it
        tasks.complete(s, ctx, task.id, "cuong.head", {})


def test_closed_task_gets_no_step(sessions, ctx, clock, dossier) -> None:
    task = _task(sessions, dossier)
    with sessions() as s, s.begin():
        tasks.complete(s, ctx, task.id, "an.officer", {})
    with sessions() as s, s.begin():
        timers = _escalation_timers(s, dossier)
        clock.set(datetime(2024, 3, 1, tzinfo=UTC))
        for timer in timers:
            handle_timer(s, ctx, timer)
    with sessions() as s:
        assert s.scalars(select(Notification)).all() == []
        assert "task.overdue" not in [e.action for e in s.scalars(select(AuditEvent))]


def test_monitor_unit_resolution(sessions) -> None:
    with sessions() as s, s.begin():
        make_org(s)
        assert monitor_unit(s, None) is None
        s.add(OrgUnit(id="SNV", name="Sở Nội vụ", kind="department"))
        s.flush()
        assert monitor_unit(s, None) == "SNV"
        s.add(OrgUnit(id="SNV2", name="Sở Nội vụ (mới)", kind="home_affairs"))
        s.flush()
        assert monitor_unit(s, None) == "SNV2" and monitor_unit(s, "TINH") == "TINH"


def test_policy_resolution_order(tmp_path, monkeypatch) -> None:
    override = tmp_path / "policy.yaml"
    override.write_text(
        "defaults: {escalate_after: 3}\n"
        "roles: {unit_head: {reminder_before: 2}}\n"
        "processes:\n  khen_thuong:\n    escalate_after: 1\n    roles: {unit_head: {reassign_to: unit_head}}\n",
        encoding="utf-8",
    )
    policy = load_policy(override)
    assert policy.resolve("other", "unit_officer").escalate_after == 3
    assert policy.resolve("other", "unit_officer").overdue_notify == ("assignee", "unit_head")
    assert policy.resolve("other", "unit_head").reminder_before == 2
    head = policy.resolve("khen_thuong", "unit_head")
    assert (head.escalate_after, head.reminder_before, head.reassign_to) == (1, 2, "unit_head")
    assert policy.resolve("khen_thuong", None).reassign_to is None
    monkeypatch.setenv(ENV_VAR, str(override))
    assert current_policy().resolve(None, None).escalate_after == 3
    monkeypatch.delenv(ENV_VAR)
    assert current_policy().resolve(None, None).escalate_after == 2


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("defaults: {escalate_afer: 3}\n", "defaults.escalate_afer"),
        ("defaults: {escalate_after: 0}\n", "defaults.escalate_after"),
        ("roles: {x: {overdue_notify: [boss]}}\n", "roles.x.overdue_notify"),
        ("processes: {k: {reassign_to: mayor}}\n", "processes.k.reassign_to"),
        ("processes: {k: {roles: [1]}}\n", "processes.k.roles"),
        ("defaults: [\n", "(file)"),
        ("rules: {}\n", "rules"),
    ],
)
def test_bad_policy_file_names_the_key(tmp_path, text: str, named: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValidationError) as err:
        load_policy(path)
    assert named in err.value.details["fields"] and str(path) in err.value.message


def test_policy_file_ships_with_the_package() -> None:
    import tomllib

    root = Path(__file__).resolve().parent.parent
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["*"]
    assert "*.yaml" in patterns and (root / "engine" / "escalation_defaults.yaml").is_file()
