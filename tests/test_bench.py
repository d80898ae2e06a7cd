"""The bench machinery runs end to end on a tiny size and writes every headline key (nothing here is timed)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from api import create_app
from cli import main
from engine.bench.database import bench_database
from engine.bench.http import _alive, exactly_once, password_hash, quotas, run_http
from engine.bench.nomination import nomination_workload, run_nomination_engine, run_nomination_floor
from engine.bench.suite import Options
from engine.bench.workloads import camunda_workloads, with_lane
from engine.core.definitions import parse_files
from engine.persistence.db import make_session_factory
from engine.persistence.models import User
from tests.conftest import IS_POSTGRES

HEADLINE = (
    "completion_vs_floor_ratio",
    "completion_vs_floor_ratio_sequence_5",
    "pg_vs_sqlite_completion_ratio",
    "http_vs_service_ratio",
    "pg_scaleout_2_workers_ratio",
    "pg_timer_lateness_p99_s",
    "task_completions_per_s",
    "completion_p99_ms",
    "http_completions_per_s",
    "inbox_p99_ms",
    "overdue_query_ms",
    "timer_lateness_p99_s",
    "bytes_per_finished_instance",
    "province_p50_ratio_150_vs_7",
    "province_max_state_bytes",
    "province_year_s",
)


def test_camunda_models_get_a_lane_and_user_tasks() -> None:
    for workload in camunda_workloads():
        bundle = parse_files(workload.files).bundles[0]
        assert bundle.spec.name == workload.name
        for meta in bundle.task_meta.values():
            assert meta["role"] == "bench_officer"
    sequence = camunda_workloads({"sequence_5"})[0]
    assert len(parse_files(sequence.files).bundles[0].task_meta) == 5


def test_with_lane_keeps_a_model_without_human_tasks_laneless() -> None:
    xml = '<b:definitions xmlns:b="x"><b:process id="p" isExecutable="true"><b:startEvent id="s"/></b:process>'
    out = with_lane(xml, "renamed")
    assert '<b:process id="renamed" isExecutable="true">' in out
    assert "laneSet" not in out


def test_bench_runs_tiny_and_writes_the_headline_keys(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    args = ["bench", "--quick", "--instances", "2", "--scale", "50,100", "--timers", "0", "--soak-minutes", "0"]
    args += ["--workload", "sequence_5", "--workload", "gateway_1", "--json", str(out)]
    args += ["--markdown", str(tmp_path / "bench.md")]
    args += ["--http-workers", "2", "--http-clients", "2", "--http-completions", "10"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    for key in HEADLINE:
        assert key in data
        assert data[key] is None or isinstance(data[key], int | float), key
    assert data["http_completions_per_s"] > 0
    assert (data["http"]["completions"], data["http"]["backend"], data["http"]["errors"]) == (10, "sqlite", {})
    assert data["http"]["exactly_once"]["ok"], data["http"]["exactly_once"]
    assert data["http_vs_service_ratio"] > 0
    assert data["http_vs_service_ratio"] == data["http_vs_service_by_backend"]["sqlite"]
    assert data["completion_vs_floor_ratio"] > 0
    assert data["completion_vs_floor_ratio_sequence_5"] == data["workloads"][0]["engine"]["sqlite"]["ratio"]
    assert data["task_completions_per_s"] > 0
    assert data["bytes_per_finished_instance"] > 0
    assert [p["finished_instances"] for p in data["scale"]["sqlite"]] == [50, 100]
    assert data["scale"]["sqlite"][-1]["open_tasks"] == 10
    assert data["scale"]["sqlite"][-1]["overdue"]["rows"] >= 0
    names = [w["name"] for w in data["workloads"]]
    assert names == ["sequence_5", "gateway_1"]
    assert not [n for n in data["notes"] if "instances ended" in n]
    assert data["machine"]["cores"] >= 1
    assert "completion_vs_floor_ratio" in result.output
    assert "| sequence_5 | sqlite |" in (tmp_path / "bench.md").read_text(encoding="utf-8")
    assert "http sqlite      gunicorn -w 2, 2 clients: 10 completions" in result.output


def test_bench_refuses_a_non_postgresql_url() -> None:
    result = CliRunner().invoke(main, ["bench", "--url", "sqlite:///x.db"])
    assert result.exit_code != 0
    assert "--url" in result.output


def test_nomination_runs_to_the_end_in_the_engine_and_in_the_floor() -> None:
    workload = nomination_workload()
    floor = run_nomination_floor(workload, 1)
    bare = run_nomination_floor(workload, 1, with_spec=False)
    with bench_database(None, "nomination") as engine:
        ran = run_nomination_engine(make_session_factory(engine), workload, 1)
    for side in (floor, bare, ran):
        assert (side["completed"], side["instances"]) == (1, 1)
        assert side["human_steps"] == 32  # 17 forms, convene, attendance, 11 ballots, tally, the decision
        assert (len(side["form"]), len(side["council"]), len(side["tally"]), len(side["decision"])) == (17, 13, 1, 1)
        assert side["timers_fired"] == 1  # the comment period
        assert len(side["step"]) == side["human_steps"]


def test_only_scale_on_postgresql_needs_a_url(monkeypatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    result = CliRunner().invoke(main, ["bench", "--only", "scale", "--pg-only"])
    assert result.exit_code != 0
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert errors == ["Error: --pg-only needs a PostgreSQL URL (--url or DATABASE_URL)"]


def test_only_scale_skips_the_service_part(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    args = ["bench", "--only", "scale", "--scale", "50", "--workload", "sequence_5", "--json", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["workloads"] == []
    assert data["completion_vs_floor_ratio"] is None
    assert [p["finished_instances"] for p in data["scale"]["sqlite"]] == [50]
    assert data["inbox_p99_ms"] is not None
    assert data["soak"] is None and "timers" not in data
    assert data["http"] is None and data["http_completions_per_s"] is None


def test_a_bench_password_hash_logs_in_through_the_api(db_engine, sessions) -> None:
    with sessions() as s, s.begin():
        s.add(User(id="bench_login", full_name="Người đo", password_hash=password_hash("s3cret", n=2**10)))
    app = create_app({"ENGINE": db_engine, "DATABASE_URL": "given", "SECRET_KEY": "test", "TESTING": True})
    client = app.test_client()
    assert client.post("/api/v1/session", json={"user": "bench_login", "password": "wrong"}).status_code == 401
    answer = client.post("/api/v1/session", json={"user": "bench_login", "password": "s3cret"})
    assert answer.status_code == 200, answer.get_json()
    assert client.get("/api/v1/me").get_json()["user"] == "bench_login"
    assert password_hash("x").startswith("scrypt:32768:8:1$")  # werkzeug's default parameters


def test_quotas_share_the_completions_out() -> None:
    assert quotas(20, 3) == [7, 7, 6]
    assert sum(quotas(1_500, 4)) == 1_500


def test_http_run_completes_every_task_it_claims_and_stops_gunicorn() -> None:
    seen: list[str] = []
    run = run_http(None, workers=2, clients=2, completions=20, log=seen.append)
    assert run["errors"] == {}, run["first_errors"]
    assert (run["completions"], run["per_client"], run["backend"]) == (20, [10, 10], "sqlite")
    assert run["completed_in_database"] == 20
    assert run["completions_per_s"] > 0 and run["p50_ms"] > 0 and run["p99_ms"] >= run["p50_ms"]
    assert run["seeded_instances"] == 4  # two users x two five-step instances
    assert not run["deadline_hit"]
    assert not _alive(run["server_pid"])
    assert seen == ["http on sqlite: gunicorn -w 2, 2 clients, 20 completions"]


def test_the_exactly_once_check_sees_a_doubled_and_a_forked_step() -> None:
    run = run_http(None, workers=1, clients=1, completions=3)
    assert run["exactly_once"] == {
        "completed_tasks": 3,
        "completion_events": 3,
        "doubled_steps": 0,
        "instances_with_two_open_tasks": 0,
        "instances_rows_and_events_disagree": 0,
        "ok": True,
    }
    with bench_database(None, "exactly_once") as engine:
        from engine.bench.service import bench_context, prepare, run_engine
        from engine.persistence.models import AuditEvent, HumanTask

        workload = camunda_workloads({"sequence_5"})[0]
        ctx = bench_context()
        sessions = prepare(engine, ctx, [workload])
        run_engine(sessions, ctx, workload, 2)
        assert exactly_once(engine)["ok"]
        with sessions() as s, s.begin():
            event = s.scalars(select(AuditEvent).where(AuditEvent.action == "task.completed").limit(1)).one()
            s.add(
                AuditEvent(
                    **{c: getattr(event, c) for c in ("stream", "at", "action", "instance_id", "task_guid")},
                    seq=1000,
                    prev_hash="x",
                    hash="y",
                    data={},
                )
            )
        doubled = exactly_once(engine)
        assert (doubled["doubled_steps"], doubled["instances_rows_and_events_disagree"], doubled["ok"]) == (1, 1, False)
        with sessions() as s, s.begin():
            done = s.scalars(select(HumanTask).where(HumanTask.status == "completed").limit(2)).all()
            for row in done:
                row.instance_id = done[0].instance_id
                row.status = "open"
        assert exactly_once(engine)["instances_with_two_open_tasks"] == 1


@pytest.mark.skipif(not IS_POSTGRES, reason="PostgreSQL only (DATABASE_URL)")
def test_postgresql_scale_out_and_two_schedulers_write_their_keys(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    args = ["bench", "--only", "http", "--only", "timers", "--pg-only", "--url", os.environ["DATABASE_URL"]]
    args += ["--timers", "40", "--timer-spread", "2", "--workload", "sequence_5", "--json", str(out)]
    args += ["--http-clients", "2", "--http-completions", "20"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["pg_scaleout_2_workers_ratio"] > 0, data["notes"]
    runs = data["pg_scaleout"]["runs"]
    assert [r["workers"] for r in runs] == [1, 2]
    for run in runs:
        assert run["backend"] == "postgresql" and run["completions"] == 20 and run["exactly_once"]["ok"]
        assert run["cpu_share_of_cores"]["database_server"] > 0
    timers = data["timers_postgresql"]
    assert (timers["fired"], timers["fired_events"], timers["exactly_once"], timers["schedulers"]) == (40, 40, True, 2)
    assert timers["scheduler_exit_codes"] == [0, 0]
    assert data["pg_timer_lateness_p99_s"] == round(timers["lateness_p99_s"], 3)
    assert "timer_lateness_p99_s" not in data or data["timer_lateness_p99_s"] is None  # no SQLite run with --pg-only
    assert "exactly once: yes" in result.output


def test_province_part_runs_tiny_and_writes_its_keys(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    args = ["bench", "--only", "province", "--province-units", "3,5", "--province-until", "2024-04-01"]
    result = CliRunner().invoke(main, [*args, "--json", str(out), "--markdown", str(tmp_path / "bench.md")])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["province_p50_ratio_150_vs_7"] > 0
    assert data["province_max_state_bytes"] > 0
    assert data["province_year_s"] > 0
    province = data["province"]
    assert (province["from"], province["until"], province["sizes"]) == ("2024-03-19", "2024-04-01", [3, 5])
    for run in province["runs"]:
        assert run["completions"] > 0 and run["errors"] == 0, run
        assert run["p99_ms"] >= run["p50_ms"] > 0
        assert run["year_s"] > 0 and run["max_state_bytes"] > 0 and run["max_state_key"]
    assert province["max_state_bytes"] == province["runs"][-1]["max_state_bytes"]
    assert data["workloads"] == [] and data["scale"] == {}
    assert "province    5 units, 2024-03-19 .. 2024-04-01:" in result.output
    assert "| 5 | " in (tmp_path / "bench.md").read_text(encoding="utf-8")


def test_quick_leaves_the_province_out_unless_named() -> None:
    assert "province" not in Options(quick=True).resolved().parts
    assert Options(quick=True, parts={"province"}).resolved().parts == {"province"}
    assert "province" in Options().resolved().parts
    assert Options().resolved().province_units == [7, 50, 150]


def test_province_sizes_are_checked() -> None:
    for sizes in ("7,x", "50,7", "1,5", "7,151"):
        result = CliRunner().invoke(main, ["bench", "--only", "province", "--province-units", sizes])
        assert result.exit_code == 2, result.output
        assert "--province-units" in result.output
