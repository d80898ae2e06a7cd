"""The operator's command line: start, list, show, cancel, suspend, resume, retry instances; list and complete
tasks; export the audit trail. One-line errors and a non-zero exit on bad input."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from cli import main
from tests.conftest import BPMN_DIR, ROOT

PLAN = '{"plan_title": "Kế hoạch 2024", "targets": "100%", "activities": "Quý II - IV"}'


@pytest.fixture(name="db")
def db_fixture(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    runner = CliRunner()
    assert runner.invoke(main, ["org", "load", str(ROOT / "demo" / "org.yaml"), "--url", url]).exit_code == 0
    files = [str(BPMN_DIR / "unit_plan.bpmn"), *(str(p) for p in sorted((ROOT / "forms").glob("plan_*.json")))]
    deployed = runner.invoke(main, ["deploy", *files, "--url", url])
    assert deployed.exit_code == 0, deployed.output
    return url


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def start_plan(url: str) -> int:
    data = json.dumps({"unit_id": "SYT", "rules": {"deadlines": {}}})
    out = run(
        "instance", "start", "unit_plan", "--unit", "SYT", "--business-key", "KH-SYT", "--data", data, "--url", url
    )
    assert out.exit_code == 0, out.output
    return int(out.output.split("\t")[0])


def test_start_list_show_and_complete_through_the_command_line(db):
    iid = start_plan(db)
    listed = run("instance", "list", "--process", "unit_plan", "--url", db)
    assert listed.output.split("\t")[:5] == [str(iid), "unit_plan", "running", "SYT", "KH-SYT"]
    shown = json.loads(run("instance", "show", str(iid), "--url", db).output)
    assert (shown["status"], shown["unit"], shown["parent"]) == ("running", "SYT", None)
    inbox = run("task", "list", "--user", "linh.tm", "--json", "--url", db)
    (task,) = [json.loads(line) for line in inbox.output.splitlines()]
    assert (task["element_id"], task["unit"], task["instance"]) == ("plan_draft", "SYT", iid)
    done = run("task", "complete", str(task["id"]), "--user", "linh.tm", "--data", PLAN, "--url", db)
    assert done.exit_code == 0, done.output
    assert "completed by linh.tm" in done.output
    head = run("task", "list", "--user", "duc.hm", "--url", db)
    assert "plan_head_review" in head.output


def test_a_completion_is_checked_as_the_api_checks_it(db):
    start_plan(db)
    (task,) = [
        json.loads(x) for x in run("task", "list", "--user", "linh.tm", "--json", "--url", db).output.splitlines()
    ]
    other = run("task", "complete", str(task["id"]), "--user", "hoa.nt", "--data", PLAN, "--url", db)
    assert other.exit_code == 1 and other.output.startswith("error: user hoa.nt may not work on task")
    extra = run("task", "complete", str(task["id"]), "--user", "linh.tm", "--data", '{"lane_owners": {}}', "--url", db)
    assert extra.exit_code == 1 and "lane_owners" in extra.output
    bad = run("task", "complete", str(task["id"]), "--user", "linh.tm", "--data", "{nope", "--url", db)
    assert bad.exit_code == 2 and "--data" in bad.output and "not JSON" in bad.output


def test_suspend_resume_cancel_and_retry(db):
    iid = start_plan(db)
    assert "\tsuspended\t" in run("instance", "suspend", str(iid), "--reason", "kiểm tra", "--url", db).output
    assert "\trunning\t" in run("instance", "resume", str(iid), "--url", db).output
    retry = run("instance", "retry", str(iid), "--url", db)
    assert retry.exit_code == 1 and "has no incident to retry" in retry.output
    cancelled = run("instance", "cancel", str(iid), "--actor", "ops.an", "--url", db)
    assert "\tcancelled\t" in cancelled.output
    again = run("instance", "cancel", str(iid), "--url", db)
    assert again.exit_code == 1 and again.output.startswith("error: instance")
    missing = run("instance", "show", "999999", "--url", db)
    assert missing.exit_code == 1 and missing.output.strip() == "error: instance 999999 not found"


def test_the_audit_export_in_json_lines_and_csv(db, tmp_path):
    iid = start_plan(db)
    run("instance", "cancel", str(iid), "--actor", "ops.an", "--url", db)
    lines = [json.loads(x) for x in run("audit", "export", "--instance", str(iid), "--url", db).output.splitlines()]
    assert [e["action"] for e in lines][0] == "instance.started"
    cancelled = next(e for e in lines if e["action"] == "instance.cancelled")
    assert cancelled["actor"] == "ops.an" and lines[-1]["action"] == "task.cancelled"
    assert all(len(e["hash"]) == 64 for e in lines)
    target = tmp_path / "audit.csv"
    out = run("audit", "export", "--format", "csv", "--output", str(target), "--url", db)
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert {"instance.started", "instance.cancelled", "definition.deployed"} <= {r["action"] for r in rows}
    assert run("audit", "export", "--tree", "--url", db).exit_code == 2
