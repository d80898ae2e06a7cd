"""The step path's database plumbing: prepared statements in batches (pipeline mode on PostgreSQL), the pooled
connections without a pre-ping, the commit setting, and a completion on rows its caller's session already holds.

Every test runs on the backend the suite runs on (SQLite, or PostgreSQL with DATABASE_URL); a batch must mean
the same on both: the same rows written, the same errors, raised before the transaction can commit.
"""

from __future__ import annotations

import os
import time

import pytest
from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from engine.errors import ConflictError
from engine.persistence.db import make_engine, make_session_factory
from engine.persistence.models import AuditEvent, HumanTask, Instance, OrgUnit
from engine.persistence.prepared import Prepared, batched
from engine.services import instances, tasks
from engine.services.audit import verify
from engine.services.context import EngineContext
from tests.conftest import IS_POSTGRES
from tests.engine_helpers import RUNTIME, deploy_files, make_org

_units = OrgUnit.__table__
_RENAME = Prepared(update(_units).where(_units.c.id == bindparam("b_id")).values(name=bindparam("name")))
_NAME = Prepared(select(_units.c.name).where(_units.c.id == bindparam("b_id")))
_ADD = Prepared(insert(_units).values(id=bindparam("id"), name=bindparam("name"), kind=bindparam("kind")))

postgres_only = pytest.mark.skipif(not IS_POSTGRES, reason="PostgreSQL only (DATABASE_URL)")


def _admin_sql(sql: str) -> object:
    """One statement on a connection of its own (its own engine, disposed after)."""
    admin = make_engine(os.environ["DATABASE_URL"])
    try:
        with admin.connect() as conn:
            value = conn.exec_driver_sql(sql).scalar()
            conn.commit()
            return value
    finally:
        admin.dispose()


def _two_units(sessions) -> None:
    with sessions() as s, s.begin():
        s.add_all([OrgUnit(id="A", name="Đơn vị A"), OrgUnit(id="B", name="Đơn vị B")])


def test_a_batch_writes_every_statement_and_reads_what_it_wrote(db_engine, sessions) -> None:
    _two_units(sessions)
    with db_engine.begin() as conn, batched(conn):
        assert _RENAME.run(conn, {"b_id": "A", "name": "A mới"}, expect=1, error=ConflictError("A")) == 1
        assert _RENAME.run(conn, {"b_id": "B", "name": "B mới"}, count=False) in (1, -1)  # -1: not waited for
        assert _NAME.all(conn, {"b_id": "A"}) == [("A mới",)]  # a read waits for what was sent before it
        assert _RENAME.run(conn, {"b_id": "nobody", "name": "x"}) == 0  # a count asked for is the real one
    with sessions() as s:
        assert dict(s.execute(select(OrgUnit.id, OrgUnit.name)).all()) == {"A": "A mới", "B": "B mới"}


def test_a_row_count_check_fails_the_batch_before_anything_commits(db_engine, sessions) -> None:
    _two_units(sessions)
    with pytest.raises(ConflictError, match="nobody"), db_engine.begin() as conn:
        with batched(conn):
            _RENAME.run(conn, {"b_id": "A", "name": "A mới"}, expect=1, error=ConflictError("A"))
            _RENAME.run(conn, {"b_id": "nobody", "name": "x"}, expect=1, error=ConflictError("nobody changed"))
            _RENAME.run(conn, {"b_id": "B", "name": "B mới"}, expect=1, error=ConflictError("B"))
    with sessions() as s:  # rolled back: the first rename is gone too
        assert dict(s.execute(select(OrgUnit.id, OrgUnit.name)).all()) == {"A": "Đơn vị A", "B": "Đơn vị B"}


def test_a_driver_error_in_a_batch_is_sqlalchemys(db_engine, sessions) -> None:
    _two_units(sessions)
    with pytest.raises(IntegrityError), db_engine.begin() as conn, batched(conn):
        _ADD.run(conn, {"id": "C", "name": "C", "kind": "unit"}, count=False)
        _ADD.run(conn, {"id": "A", "name": "A again", "kind": "unit"}, count=False)  # primary key taken
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(OrgUnit)) == 2


def test_a_completion_works_on_the_rows_its_callers_session_holds(sessions, clock) -> None:
    ctx = EngineContext(clock=clock)
    with sessions() as s, s.begin():
        make_org(s)
        deploy_files(
            s, clock, RUNTIME / "plan_approval.bpmn", RUNTIME / "plan_draft.json", RUNTIME / "plan_review.json"
        )
        iid = instances.start_instance(s, ctx, key="plan_approval", unit_id="SYT", actor="an.officer").id
    with sessions() as s:
        task_id = s.scalar(select(HumanTask.id).where(HumanTask.instance_id == iid))
    with sessions() as s, s.begin():
        held = tasks.get_task(s, task_id)
        instance = s.get(Instance, iid)
        assert instance is not None and instance.version == 1
        s.execute(text("SELECT 1"))  # the session is in use, the rows loaded through the ORM
        done = tasks.complete(s, ctx, task_id, "an.officer", {"title": "Kế hoạch", "targets": 2})
        assert done is held  # the very object the caller holds, now as the step left it
        assert (held.status, held.completed_by) == ("completed", "an.officer")
        assert instance.version == 2
        assert tasks.get_task(s, task_id).status == "completed"
    with sessions() as s:
        rows = list(s.scalars(select(HumanTask).where(HumanTask.instance_id == iid).order_by(HumanTask.id)))
        assert [(r.element_id, r.status) for r in rows] == [("draft_plan", "completed"), ("review_plan", "open")]
        assert s.scalar(select(func.count()).where(AuditEvent.action == "task.completed")) == 1
        assert verify(s).ok


def test_a_completion_of_a_closed_task_says_so(sessions, clock) -> None:
    ctx = EngineContext(clock=clock)
    with sessions() as s, s.begin():
        make_org(s)
        deploy_files(
            s, clock, RUNTIME / "plan_approval.bpmn", RUNTIME / "plan_draft.json", RUNTIME / "plan_review.json"
        )
        iid = instances.start_instance(s, ctx, key="plan_approval", unit_id="SYT", actor="an.officer").id
    with sessions() as s:
        task_id = s.scalar(select(HumanTask.id).where(HumanTask.instance_id == iid))
    with sessions() as s, s.begin():
        tasks.complete(s, ctx, task_id, "an.officer", {"title": "Kế hoạch", "targets": 2})
    with pytest.raises(ConflictError, match="already completed"), sessions() as s, s.begin():
        tasks.complete(s, ctx, task_id, "an.officer", {"title": "Lần hai", "targets": 3})
    with sessions() as s:
        assert s.get(Instance, iid).version == 2


@postgres_only
def test_a_pooled_connection_the_server_closed_is_replaced() -> None:
    engine = make_engine(os.environ["DATABASE_URL"], pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            first = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        _admin_sql(f"SELECT pg_terminate_backend({int(first)})")
        time.sleep(0.2)  # the server's goodbye reaches the idle pooled connection
        with engine.connect() as conn:  # no pre-ping round trip, yet no error: the closed one was replaced
            second = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        assert second != first
    finally:
        engine.dispose()


@postgres_only
def test_commits_wait_for_the_disk_unless_configured_otherwise(monkeypatch) -> None:
    def setting() -> str:
        engine = make_engine(os.environ["DATABASE_URL"])
        try:
            with engine.connect() as conn:
                return str(conn.exec_driver_sql("SHOW synchronous_commit").scalar_one())
        finally:
            engine.dispose()

    monkeypatch.delenv("TDKT_PG_SYNCHRONOUS_COMMIT", raising=False)
    assert setting() == "on"  # the server's own default: every acknowledged step is on disk
    monkeypatch.setenv("TDKT_PG_SYNCHRONOUS_COMMIT", "off")
    assert setting() == "off"
    monkeypatch.setenv("TDKT_PG_SYNCHRONOUS_COMMIT", "sometimes")
    with pytest.raises(ValueError, match="TDKT_PG_SYNCHRONOUS_COMMIT"):
        setting()


@postgres_only
def test_read_sessions_leave_no_transaction_open(db_engine) -> None:
    readers = make_session_factory(db_engine, read_only=True)
    writers = make_session_factory(db_engine)
    for factory, expected in ((readers, "idle"), (writers, "idle in transaction")):
        with factory() as s:
            pid = s.execute(text("SELECT pg_backend_pid()")).scalar_one()
            state = _admin_sql(f"SELECT state FROM pg_stat_activity WHERE pid = {int(pid)}")
        assert state == expected, factory  # autocommit reads: no BEGIN, no ROLLBACK round trips
