"""Loading the organisation, and the directory queries that assign and authorise work (with delegations)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import FIXTURES
from sqlalchemy import event, func, select

from engine.errors import NotFoundError, ValidationError
from engine.persistence.db import make_engine, make_session_factory
from engine.persistence.models import AuditEvent, Delegation, Membership, OrgUnit, Role, User
from engine.persistence.schema import upgrade
from engine.services.audit import verify
from engine.services.directory import acting_for, can_work_on, roles_of, user_capabilities, users_with_role
from engine.services.org import load_org, load_org_file

ORG = FIXTURES / "org"
TDKT = str(Path(sys.executable).parent / "tdkt")
LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
BEFORE_LEAVE = datetime(2024, 3, 19, 23, 59, 59, tzinfo=LOCAL)
LEAVE_STARTS = datetime(2024, 3, 20, 0, 0, tzinfo=LOCAL)
ON_LEAVE = datetime(2024, 3, 21, 10, 0, tzinfo=LOCAL)
LEAVE_ENDS = datetime(2024, 3, 23, 0, 0, tzinfo=LOCAL)  # "ends: 2024-03-22" means the whole of that day


def counts(sessions) -> dict[str, int]:
    with sessions() as s:
        return {
            m.__name__: s.scalar(select(func.count()).select_from(m))
            for m in (OrgUnit, Role, User, Membership, Delegation, AuditEvent)
        }


@pytest.fixture
def org(sessions, clock):
    with sessions() as s, s.begin():
        return load_org_file(s, ORG / "org.yaml", clock, actor="admin")


# --- loading -------------------------------------------------------------------------------------------------


def test_loading_the_fixture_creates_everything_and_audits_it(org, sessions):
    assert org.created == {"units": 6, "roles": 4, "users": 8, "memberships": 7, "delegations": 1}
    assert counts(sessions) == {"OrgUnit": 6, "Role": 4, "User": 8, "Membership": 7, "Delegation": 1, "AuditEvent": 1}
    with sessions() as s:
        snv = s.get(OrgUnit, "SNV")
        assert snv is not None and (snv.name, snv.kind, snv.parent_id) == ("Sở Nội vụ", "department", "BD")
        admin = s.get(User, "admin")
        assert admin is not None and admin.capabilities == ["admin", "designer"] and admin.active
        leave = s.scalars(select(Delegation)).one()
        assert (leave.starts_at, leave.ends_at) == (LEAVE_STARTS.astimezone(UTC), LEAVE_ENDS.astimezone(UTC))
        audit = s.scalars(select(AuditEvent)).one()
        assert (audit.stream, audit.action, audit.actor) == ("system", "org.loaded", "admin")
        assert audit.data["created"]["units"] == 6 and audit.data["source"] == "org.yaml"
        assert verify(s).ok


def test_loading_twice_changes_nothing(org, sessions, clock):
    before = counts(sessions)
    clock.advance(timedelta(hours=1))
    with sessions() as s, s.begin():
        again = load_org_file(s, ORG / "org.yaml", clock)
    assert not again.changed
    assert again.unchanged == {"units": 6, "roles": 4, "users": 8, "memberships": 7, "delegations": 1}
    assert counts(sessions) == before  # not even an audit event


def test_changes_are_applied_and_a_unit_can_move_under_a_new_one(org, sessions, clock):
    data = {
        "units": [
            {"id": "KHOI", "name": "Khối các sở", "kind": "group", "parent": "BD"},
            {"id": "SYT", "name": "Sở Y tế tỉnh Bình Dương", "kind": "department", "parent": "KHOI"},
        ],
        "users": [{"id": "mai.pt", "full_name": "Phạm Thị Mai", "capabilities": ["auditor"]}],
        "memberships": [{"user": "mai.pt", "role": "auditor", "unit": "BD"}],
    }
    with sessions() as s, s.begin():
        result = load_org(s, data, clock)
    assert result.created["units"] == 1 and result.updated == {
        "units": 1,
        "roles": 0,
        "users": 1,
        "memberships": 0,
        "delegations": 0,
    }
    assert result.created["memberships"] == 1
    with sessions() as s:
        syt = s.get(OrgUnit, "SYT")
        assert syt is not None and (syt.parent_id, syt.name) == ("KHOI", "Sở Y tế tỉnh Bình Dương")
        assert user_capabilities(s, "mai.pt") == {"auditor"}
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == 2


def test_json_files_load_too(sessions, clock):
    with sessions() as s, s.begin():
        result = load_org_file(s, ORG / "org.json", clock)
    assert result.created == {"units": 1, "roles": 1, "users": 1, "memberships": 1, "delegations": 0}


BAD_FILES = {
    "bad_unknown_parent.yaml": {
        "units[1].parent": "unknown unit 'HCM'",
        "memberships[0].role": "unknown role 'unit_head'",
        "memberships[1].user": "unknown user 'ghost'",
    },
    "bad_duplicate_id.yaml": {"units[2].id": "duplicate id 'SNV' (also units[1])"},
    "bad_missing_field.yaml": {
        "users[1].full_name": "required",
        "users[2].id": "required",
        "users[2].colour": "unknown field",
        "users[3].capabilities[0]": "'boss' is not one of ['admin', 'designer', 'auditor']",
    },
    "not_yaml.yaml": {"(file)": "not valid YAML at line 3, column 7: expected ',' or '}', but got ':'"},
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_files_name_every_problem_and_save_nothing(name, sessions, clock):
    with sessions() as s, s.begin():
        with pytest.raises(ValidationError) as caught:
            load_org_file(s, ORG / name, clock)
    assert caught.value.details["fields"] == BAD_FILES[name]
    assert name in caught.value.message and "nothing was saved" in caught.value.message
    assert set(counts(sessions).values()) == {0}


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ("not a mapping", {"(top level)": "must be a mapping with units, roles, users, memberships, delegations"}),
        ({"units": {"BD": 1}}, {"units": "{'BD': 1} is not of type 'array'"}),
        ({"teams": []}, {"teams": "unknown field"}),
        (
            {"units": [{"id": "has space", "name": "x"}]},
            {"units[0].id": "'has space' does not match '^[A-Za-z0-9_.@-]+$'"},
        ),
        (
            {"units": [{"id": "A", "name": "a", "parent": "B"}, {"id": "B", "name": "b", "parent": "A"}]},
            {
                "units[0].parent": "unit 'A' would be its own ancestor",
                "units[1].parent": "unit 'B' would be its own ancestor",
            },
        ),
        (
            {
                "users": [{"id": "a", "full_name": "A"}, {"id": "b", "full_name": "B"}],
                "delegations": [
                    {"from": "a", "to": "a", "starts": "2024-03-20", "ends": "2024-03-21"},
                    {"from": "a", "to": "b", "starts": "2024-03-22T08:00", "ends": "2024-03-22T07:00+07:00"},
                    {"from": "a", "to": "c", "starts": "next monday", "ends": "2024-03-21"},
                ],
            },
            {
                "delegations[0].to": "a user cannot act for themself",
                "delegations[1].ends": "must be after starts",
                "delegations[2].to": "unknown user 'c'",
                "delegations[2].starts": "'next monday' is not an ISO date or date-time",
            },
        ),
    ],
)
def test_bad_data_is_reported_by_path(data, fields, sessions, clock):
    with sessions() as s, s.begin():
        with pytest.raises(ValidationError) as caught:
            load_org(s, data, clock)
    assert caught.value.details["fields"] == fields


def test_a_missing_or_unsupported_file_is_named(sessions, clock, tmp_path):
    with sessions() as s, s.begin():
        with pytest.raises(NotFoundError, match="nope.yaml: no such file"):
            load_org_file(s, tmp_path / "nope.yaml", clock)
        (tmp_path / "org.txt").write_text("units: []")
        with pytest.raises(ValidationError, match="org.txt") as caught:
            load_org_file(s, tmp_path / "org.txt", clock)
    assert caught.value.details["fields"] == {"(file)": "unsupported file type '.txt' (use .yaml, .yml or .json)"}


# --- directory -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "unit", "at", "expected"),
    [
        ("unit_head", "SYT", BEFORE_LEAVE, ["hung.tv"]),
        ("unit_head", "SYT", LEAVE_STARTS, ["hung.tv", "lan.nt"]),  # the window includes its start
        ("unit_head", "SYT", ON_LEAVE, ["hung.tv", "lan.nt"]),
        ("unit_head", "SYT", LEAVE_ENDS, ["hung.tv"]),  # and excludes its end
        ("unit_head", "TDM", ON_LEAVE, ["tuan.nq"]),
        ("unit_head", None, ON_LEAVE, ["hung.tv", "lan.nt", "tuan.nq"]),
        ("unit_officer", None, ON_LEAVE, ["binh.lv", "lan.nt"]),  # cuong.vm is inactive
        ("unit_officer", "SGDDT", ON_LEAVE, []),
        ("home_affairs", "SNV", ON_LEAVE, ["mai.pt"]),
        ("council_chair", None, ON_LEAVE, []),
    ],
)
def test_users_with_role(org, sessions, role, unit, at, expected):
    with sessions() as s:
        assert users_with_role(s, role, unit, at) == expected


def test_roles_of_includes_roles_acquired_by_delegation(org, sessions, clock):
    with sessions() as s:
        assert roles_of(s, "lan.nt", clock.now()) == {("unit_officer", "SYT")}
        assert roles_of(s, "lan.nt", ON_LEAVE) == {("unit_officer", "SYT"), ("unit_head", "SYT")}
        assert roles_of(s, "hung.tv", ON_LEAVE) == {("unit_head", "SYT")}  # the person on leave keeps theirs
        assert roles_of(s, "cuong.vm", ON_LEAVE) == set()  # inactive
        assert roles_of(s, "nobody", ON_LEAVE) == set()
        assert acting_for(s, "lan.nt", ON_LEAVE) == {"hung.tv"} and acting_for(s, "lan.nt", LEAVE_ENDS) == set()


def task(**kw):
    base = {"role_id": None, "unit_id": None, "candidate_groups": [], "candidate_users": [], "assignee": None}
    return base | kw


@pytest.mark.parametrize(
    ("user", "assignment", "at", "allowed"),
    [
        ("lan.nt", task(role_id="unit_officer", unit_id="SYT"), BEFORE_LEAVE, True),
        ("binh.lv", task(role_id="unit_officer", unit_id="SYT"), BEFORE_LEAVE, False),  # right role, wrong unit
        ("binh.lv", task(role_id="unit_officer"), BEFORE_LEAVE, True),  # no unit: any unit
        ("lan.nt", task(role_id="unit_head", unit_id="SYT"), BEFORE_LEAVE, False),
        ("lan.nt", task(role_id="unit_head", unit_id="SYT"), ON_LEAVE, True),  # acting head
        ("lan.nt", task(role_id="unit_head", unit_id="SYT"), LEAVE_ENDS, False),
        ("mai.pt", task(role_id="unit_officer", unit_id="SNV", candidate_groups=["home_affairs"]), ON_LEAVE, True),
        ("mai.pt", task(role_id="unit_officer", unit_id="SYT", candidate_groups=["home_affairs"]), ON_LEAVE, False),
        ("mai.pt", task(candidate_groups=["home_affairs"]), ON_LEAVE, True),
        ("thu.dt", task(role_id="unit_officer", unit_id="SYT", candidate_users=["thu.dt"]), ON_LEAVE, True),
        ("lan.nt", task(candidate_users=["hung.tv"]), ON_LEAVE, True),  # acts for a candidate user
        ("lan.nt", task(candidate_users=["hung.tv"]), BEFORE_LEAVE, False),
        ("hung.tv", task(role_id="unit_head", unit_id="SYT", assignee="hung.tv"), ON_LEAVE, True),
        ("lan.nt", task(role_id="unit_head", unit_id="SYT", assignee="hung.tv"), ON_LEAVE, True),  # for the assignee
        ("lan.nt", task(role_id="unit_officer", unit_id="SYT", assignee="hung.tv"), BEFORE_LEAVE, False),
        ("lan.nt", task(role_id="unit_officer", unit_id="SYT", assignee="binh.lv"), ON_LEAVE, False),  # claimed
        ("cuong.vm", task(role_id="unit_officer", unit_id="SGDDT"), ON_LEAVE, False),  # inactive
        ("lan.nt", task(), ON_LEAVE, False),  # nobody named: nobody may
    ],
)
def test_can_work_on(org, sessions, user, assignment, at, allowed):
    with sessions() as s:
        assert can_work_on(s, user, at=at, **assignment) is allowed


def test_user_capabilities(org, sessions):
    with sessions() as s:
        assert user_capabilities(s, "admin") == {"admin", "designer"}
        assert user_capabilities(s, "thu.dt") == {"auditor"}
        assert user_capabilities(s, "lan.nt") == set()
        assert user_capabilities(s, "nobody") == set()


def test_directory_queries_send_at_most_two_statements(org, sessions, db_engine):
    sent: list[str] = []

    def count(*args):
        sent.append(args[2])

    event.listen(db_engine, "before_cursor_execute", count)
    try:
        with sessions() as s:
            calls = {
                "users_with_role": lambda: users_with_role(s, "unit_head", "SYT", ON_LEAVE),
                "roles_of": lambda: roles_of(s, "lan.nt", ON_LEAVE),
                "can_work_on (role)": lambda: can_work_on(s, "lan.nt", at=ON_LEAVE, **task(role_id="x", unit_id="SYT")),
                "can_work_on (worst)": lambda: can_work_on(
                    s, "binh.lv", at=ON_LEAVE, **task(role_id="x", candidate_groups=["y"], candidate_users=["z"])
                ),
                "user_capabilities": lambda: user_capabilities(s, "admin"),
            }
            s.execute(select(1))
            for name, call in calls.items():
                sent.clear()
                call()
                assert len(sent) <= 2, (name, sent)
    finally:
        event.remove(db_engine, "before_cursor_execute", count)


# --- the command line ----------------------------------------------------------------------------------------


def test_tdkt_org_load(tmp_path):
    url = f"sqlite:///{tmp_path / 'org.sqlite3'}"
    upgrade(url)
    first = subprocess.run([TDKT, "org", "load", str(ORG / "org.yaml"), "--url", url], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "units: 6 (6 new, 0 changed)" in first.stdout and "delegations: 1 (1 new, 0 changed)" in first.stdout
    again = subprocess.run([TDKT, "org", "load", str(ORG / "org.yaml"), "--url", url], capture_output=True, text=True)
    assert again.returncode == 0 and "nothing changed" in again.stdout
    bad_file = ORG / "bad_unknown_parent.yaml"
    bad = subprocess.run([TDKT, "org", "load", str(bad_file), "--url", url], capture_output=True, text=True)
    assert bad.returncode == 1
    assert bad.stderr.splitlines() == [  # unit_head is known now: the database holds the fixture's roles
        f"{bad_file}: units[1].parent: unknown unit 'HCM'",
        f"{bad_file}: memberships[1].user: unknown user 'ghost'",
    ]
    missing = subprocess.run([TDKT, "org", "load", "nope.yaml", "--url", url], capture_output=True, text=True)
    assert (missing.returncode, missing.stderr.strip()) == (1, "error: nope.yaml: no such file")
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as s:
            assert s.scalar(select(func.count()).select_from(OrgUnit)) == 6
            assert s.scalar(select(func.count()).select_from(AuditEvent)) == 1
    finally:
        engine.dispose()
