"""Deploying: versions by content hash, nothing saved on errors, the spec cache, connector warnings, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CORPUS, FIXTURES
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from engine.clock import ManualClock
from engine.core.serialization import specs_to_json
from engine.errors import DefinitionError, NotFoundError
from engine.persistence.models import AuditEvent, Definition
from engine.services.definitions import deploy, latest_definition, load_definition

DEFS = FIXTURES / "definitions"
TDKT = Path(sys.executable).parent / "tdkt"
NOMINATION = ["spiff_nomination.bpmn", "award_level.dmn", "nomination-form.json"]


def files(*names: str, base: Path = DEFS) -> list[tuple[str, bytes]]:
    return [(name, (base / name).read_bytes()) for name in names]


def test_deploy_twice_is_unchanged_and_new_content_is_a_new_version(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    with sessions() as s, s.begin():
        first = deploy(s, files(*NOMINATION), clock, actor="designer")
    (item,) = first.definitions
    assert (item.key, item.version, item.status) == ("nomination", 1, "created")
    with sessions() as s, s.begin():
        again = deploy(s, files(*NOMINATION), clock)
    assert [(d.version, d.status, d.definition_id) for d in again.definitions] == [(1, "unchanged", item.definition_id)]

    changed = [(n, d.replace(b"* 10", b"* 20")) for n, d in files(*NOMINATION)]
    with sessions() as s, s.begin():
        second = deploy(s, changed, clock)
    (item2,) = second.definitions
    assert (item2.version, item2.status) == (2, "created")
    assert item2.definition_id != item.definition_id

    with sessions() as s:
        rows = s.scalars(select(Definition).order_by(Definition.version)).all()
        assert [(r.key, r.version) for r in rows] == [("nomination", 1), ("nomination", 2)]
        assert rows[0].deployed_by == "designer"
        assert rows[0].task_meta["prepare"]["form_key"] == "nomination-form"
        assert rows[0].forms["nomination-form"]["title"] == "Nomination"
        assert set(rows[0].sources) == set(NOMINATION)
        assert latest_definition(s, "nomination").version == 2
        # An instance started on v1 keeps pointing at the v1 row: its spec is still there, unchanged.
        v1 = load_definition(s, rows[0].id)
        assert v1.version == 1 and "* 10" in v1.spec.task_specs["score"].script
        assert "* 20" in load_definition(s, rows[1].id).spec.task_specs["score"].script
        with pytest.raises(NotFoundError):
            latest_definition(s, "nope")
        with pytest.raises(NotFoundError):
            load_definition(s, 999_999)
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "definition.deployed")).all()
        assert [e.data["version"] for e in events] == [1, 2]


def test_load_definition_is_cached(sessions: sessionmaker[Session], clock: ManualClock) -> None:
    with sessions() as s, s.begin():
        (item,) = deploy(s, files(*NOMINATION), clock).definitions
    with sessions() as s:
        first = load_definition(s, item.definition_id)
    with sessions() as s:
        assert load_definition(s, item.definition_id) is first
    assert first.key == "nomination" and first.task_meta["prepare"]["role"] == "unit_officer"
    with sessions() as s:
        row = s.get(Definition, item.definition_id)
        assert row is not None and row.spec_json == specs_to_json(first.spec, first.subprocess_specs)


def test_errors_save_nothing(sessions: sessionmaker[Session], clock: ManualClock) -> None:
    bad = [("x.bpmn", (DEFS / "camunda_services.bpmn").read_bytes().replace(b"${amount * 2}", b"${a.b()}"))]
    hostile = bad + [
        (
            "y.bpmn",
            b'<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"><process id="q">'
            b'<startEvent id="s"/><scriptTask id="evil"><script>__import__("os")</script></scriptTask>'
            b'<sequenceFlow id="f" sourceRef="s" targetRef="evil"/></process></definitions>',
        )
    ]
    with pytest.raises(DefinitionError) as caught:
        with sessions() as s, s.begin():
            deploy(s, files(*NOMINATION) + hostile, clock)
    assert any(p.element_id == "evil" and "script refused" in p.message for p in caught.value.problems)
    with pytest.raises(DefinitionError, match="nothing to deploy"):
        with sessions() as s, s.begin():
            deploy(s, files("award_level.dmn"), clock)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Definition)) == 0


def test_unregistered_connectors_are_warnings(sessions: sessionmaker[Session], clock: ManualClock) -> None:
    with sessions() as s, s.begin():
        result = deploy(s, files("camunda_services.bpmn", "approval.json"), clock, connectors={"email"})
    missing = sorted(w.element_id or "" for w in result.warnings if "is not registered" in w.message)
    assert missing == ["by_class", "by_delegate"]
    (item,) = result.definitions
    assert any("vn.tdkt.Archive" in w.message for w in item.warnings)


def test_invoice_set_deploys(sessions: sessionmaker[Session], clock: ManualClock) -> None:
    invoice = files(
        "invoice.v2.bpmn", "reviewInvoice.bpmn", "invoiceBusinessDecisions.dmn", base=CORPUS / "camunda-invoice"
    )
    with sessions() as s, s.begin():
        result = deploy(s, invoice, clock)
    assert sorted((d.key, d.version, d.status) for d in result.definitions) == [
        ("ReviewInvoice", 1, "created"),
        ("invoice", 1, "created"),
    ]


def tdkt(*args: str, database: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}"}
    return subprocess.run([str(TDKT), *args], capture_output=True, text=True, env=env, timeout=120)


def test_cli_deploy_and_lint(tmp_path: Path) -> None:
    db = tmp_path / "cli.sqlite3"
    project = tmp_path / "project"
    (project / "bpmn").mkdir(parents=True)
    (project / "forms").mkdir()
    for name in ("spiff_nomination.bpmn", "award_level.dmn"):
        (project / "bpmn" / name).write_bytes((DEFS / name).read_bytes())
    (project / "forms" / "nomination-form.json").write_bytes((DEFS / "nomination-form.json").read_bytes())

    first = tdkt("deploy", str(project / "bpmn"), database=db)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().splitlines()[-1] == "nomination v1 created"
    again = tdkt("deploy", str(project / "bpmn"), database=db)
    assert again.stdout.strip().splitlines()[-1] == "nomination v1 unchanged"

    (tmp_path / "xxe.bpmn").write_bytes(
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>'
    )
    (tmp_path / "notes.bpmn").write_text("just some text")
    for args in (["/no/such/file.bpmn"], [str(tmp_path / "xxe.bpmn")], [str(tmp_path / "notes.bpmn")]):
        for command in ("deploy", "lint"):
            result = tdkt(command, *args, database=db)
            assert result.returncode == 1, (command, args, result.stdout, result.stderr)
            assert "Traceback" not in result.stdout + result.stderr
            assert Path(args[0]).name in result.stderr
    lint = tdkt("lint", str(project), database=db)
    assert lint.returncode == 0, lint.stderr
    assert "0 error(s)" in lint.stderr
