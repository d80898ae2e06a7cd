"""Shared set-up for the API and web tests: the demo organisation with passwords, the unit plan process started for
two units (Sở Y tế and Sở Giáo dục), the app on the test database with a manual clock, and a login helper."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from api import create_app
from api.passwords import Scrypt, hash_password
from engine.persistence.models import HumanTask, Instance, User
from engine.services.context import EngineContext
from engine.services.definitions import deploy
from engine.services.instances import start_instance
from engine.services.org import load_org_file
from tests.conftest import BPMN_DIR, ROOT
from tests.test_lifecycle_helpers import base_data

PASSWORD = "demo"  # noqa: S105 - test data
NO_PASSWORD = "mttq"  # a demo user left without a password
MISSING = 999_999
# A test-only scrypt setting (microseconds, not the 0.4 s of the default): the apps below re-hash with it too.
TEST_KDF = Scrypt(log2_n=4, r=1, p=1)
TEN_YEARS_IN_HOURS = 10 * 366 * 24
PLAN = {"plan_title": "Kế hoạch thi đua 2024", "targets": "100% đăng ký", "activities": "Quý II - IV"}


@dataclass
class World:
    app: Flask
    ctx: EngineContext
    syt_instance: int
    sgd_instance: int
    syt_task: int  # plan_draft of Sở Y tế (officer linh.tm, head duc.hm)
    sgd_task: int  # plan_draft of Sở GD&ĐT (officer hoa.nt, head quang.lv)

    def client(self, user: str | None = None) -> FlaskClient:
        client = self.app.test_client()
        if user is not None:
            login(client, user)
        return client


def login(client: FlaskClient, user: str, password: str = PASSWORD) -> None:
    answer = client.post("/api/v1/session", json={"user": user, "password": password})
    assert answer.status_code == 200, answer.get_json()


def plan_files() -> list[tuple[str, bytes]]:
    paths = [BPMN_DIR / "unit_plan.bpmn", *sorted((ROOT / "forms").glob("plan_*.json"))]
    return [(p.name, p.read_bytes()) for p in paths]


def open_task(sessions: Any, instance_id: int) -> HumanTask:
    with sessions() as s:
        query = select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.status.in_(("open", "claimed")))
        (row,) = s.scalars(query)
        return row


def instance_version(sessions: Any, instance_id: int) -> int:
    with sessions() as s:
        row = s.get(Instance, instance_id)
        assert row is not None
        return row.version


def make_test_app(db_engine: Any, ctx: EngineContext) -> Any:
    """The app on the test database and context, with the fast password hash and sessions that outlive the
    days a test moves its clock by (the session tests set the real limits again)."""
    return create_app(
        {
            "ENGINE": db_engine,
            "DATABASE_URL": "given",
            "SECRET_KEY": "test",
            "ENGINE_CONTEXT": ctx,
            "TESTING": True,
            "PASSWORD_KDF": TEST_KDF,
            "TDKT_SESSION_IDLE_MINUTES": TEN_YEARS_IN_HOURS * 60,
            "TDKT_SESSION_MAX_HOURS": TEN_YEARS_IN_HOURS,
        }
    )


@pytest.fixture
def world(db_engine, sessions, clock) -> World:
    ctx = EngineContext(clock=clock)
    cheap = hash_password(PASSWORD, kdf=TEST_KDF)  # fast in tests; checked the same way
    with sessions() as s, s.begin():
        load_org_file(s, ROOT / "demo" / "org.yaml", clock)
        for user in s.scalars(select(User).where(User.id != NO_PASSWORD)):
            user.password_hash = cheap
        deploy(s, plan_files(), clock, actor="designer")
        ids = []
        for unit in ("SYT", "SGDDT"):
            row = start_instance(
                s, ctx, key="unit_plan", business_key=f"KH-{unit}", unit_id=unit, data=base_data(unit_id=unit)
            )
            ids.append(row.id)
    return World(
        make_test_app(db_engine, ctx),
        ctx,
        ids[0],
        ids[1],
        open_task(sessions, ids[0]).id,
        open_task(sessions, ids[1]).id,
    )
