"""The overdue report: counts per unit and process, filters, and `tdkt report overdue`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.clock import ManualClock
from engine.persistence.db import make_engine, make_session_factory
from engine.persistence.schema import ensure_schema
from engine.services import instances
from engine.services.context import EngineContext
from engine.services.overdue import overdue_report, overdue_tasks
from engine.services.timers import fire_due_timers
from tests.engine_helpers import RUNTIME, deploy_files, make_org

DEADLINES = Path(__file__).resolve().parent / "fixtures" / "deadlines"
TDKT = str(Path(sys.executable).parent / "tdkt")


def _populate(sessions, ctx: EngineContext, clock: ManualClock) -> None:
    clock.set(datetime(2024, 2, 7, 3, 0, tzinfo=UTC))
    with sessions() as s, s.begin():
        make_org(s)
        deploy_files(s, clock, DEADLINES / "dossier_deadline.bpmn")
        deploy_files(
            s, clock, RUNTIME / "plan_approval.bpmn", RUNTIME / "plan_draft.json", RUNTIME / "plan_review.json"
        )

    def start(key: str, unit: str) -> None:
        with sessions() as s, s.begin():
            instances.start_instance(s, ctx, key=key, business_key=None, unit_id=unit, data={}, actor="admin")

    start("dossier_deadline", "SYT")  # due 21/02 10:00 local
    clock.set(datetime(2024, 2, 15, 3, 0, tzinfo=UTC))
    start("dossier_deadline", "SYT")  # due 22/02 10:00 local
    start("dossier_deadline", "SGD")  # due 22/02 10:00 local
    start("plan_approval", "SYT")  # no due date


def _counts(rows) -> dict[tuple[str | None, str], tuple[int, int, int, int]]:
    return {(r.unit_id, r.definition_key): (r.open, r.due_soon, r.overdue, r.escalated) for r in rows}


def test_counts_per_unit_and_process(sessions, clock) -> None:
    ctx = EngineContext(clock=clock)
    _populate(sessions, ctx, clock)
    clock.set(datetime(2024, 2, 20, 4, 0, tzinfo=UTC))
    with sessions() as s:
        assert _counts(overdue_report(s, ctx)) == {
            ("SYT", "dossier_deadline"): (2, 2, 0, 0),
            ("SGD", "dossier_deadline"): (1, 1, 0, 0),
            ("SYT", "plan_approval"): (1, 0, 0, 0),
        }
        assert _counts(overdue_report(s, ctx, soon_days=1))[("SYT", "dossier_deadline")] == (2, 1, 0, 0)
        assert overdue_tasks(s, ctx) == []
    clock.set(datetime(2024, 2, 23, 4, 0, tzinfo=UTC))
    fire_due_timers(sessions, ctx, owner="test")
    with sessions() as s:
        rows = overdue_report(s, ctx)
        assert _counts(rows) == {
            ("SYT", "dossier_deadline"): (2, 0, 2, 1),
            ("SGD", "dossier_deadline"): (1, 0, 1, 0),
            ("SYT", "plan_approval"): (1, 0, 0, 0),
        }
        assert (rows[0].unit_name, rows[0].process_name) == ("Sở Y tế", "Thẩm định hồ sơ khen thưởng")
        assert _counts(overdue_report(s, ctx, unit_id="SGD")) == {("SGD", "dossier_deadline"): (1, 0, 1, 0)}
        assert list(_counts(overdue_report(s, ctx, definition_key="plan_approval"))) == [("SYT", "plan_approval")]
        assert overdue_report(s, ctx, unit_id="NONE") == []
        late = overdue_tasks(s, ctx)
        assert [t.unit_id for t in late] == ["SYT", "SYT", "SGD"] and late[0].escalation_level == 2
        assert [t.unit_id for t in overdue_tasks(s, ctx, unit_id="SGD")] == ["SGD"]


@pytest.fixture
def cli_db(tmp_path: Path):
    path = tmp_path / "report.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    ensure_schema(engine)
    clock = ManualClock()
    _populate(make_session_factory(engine), EngineContext(clock=clock), clock)
    engine.dispose()
    return path


def _report(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}"}
    return subprocess.run([TDKT, "report", "overdue", *args], capture_output=True, text=True, env=env, timeout=120)


def test_cli_report(cli_db: Path) -> None:
    table = _report(cli_db)  # now (the real clock) is long after 2024: every dossier is overdue
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:2] == ["Đơn", "vị"] and "Quá hạn" in lines[0]
    assert lines[1].split() == ["Sở", "Y", "tế", "Thẩm", "định", "hồ", "sơ", "khen", "thưởng", "2", "0", "2", "0"]
    assert lines[-1].split() == ["Tổng", "cộng", "4", "0", "3", "0"]
    data = json.loads(_report(cli_db, "--json", "--unit", "SGD").stdout)
    assert data == [
        {
            "unit_id": "SGD",
            "unit_name": "Sở Giáo dục và Đào tạo",
            "definition_key": "dossier_deadline",
            "process_name": "Thẩm định hồ sơ khen thưởng",
            "open": 1,
            "due_soon": 0,
            "overdue": 1,
            "escalated": 0,
        }
    ]
    assert "không có công việc" in _report(cli_db, "--process", "nope").stdout
    bad = _report(cli_db, "--soon", "-1")
    assert bad.returncode == 2 and "--soon" in bad.stderr and "Traceback" not in bad.stderr
