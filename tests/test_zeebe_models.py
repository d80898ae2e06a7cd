"""A Camunda 8 (Zeebe) model: job types name connectors, FEEL conditions, assignment and schedule extensions."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from engine.core.definitions import parse_files
from engine.persistence.models import HumanTask, Instance, Role
from engine.services import instances
from engine.services.context import EngineContext
from tests.engine_helpers import deploy_files, make_org

MODEL = Path(__file__).resolve().parent / "fixtures" / "zeebe" / "payment.bpmn"


def test_a_zeebe_model_deploys_and_runs(sessions, clock):
    ctx = EngineContext(clock=clock)
    paid = []
    ctx.connectors.register("payment", lambda data, params: paid.append(data["amount"]) or {"paid": True})
    with sessions() as s, s.begin():
        make_org(s)
        s.add(Role(id="finance", name="Tài chính"))
        result = deploy_files(s, clock, MODEL, connectors={"payment"})
        assert [w.message for w in result.warnings] == []
        big = instances.start_instance(s, ctx, key="zeebe_proc", unit_id="SYT", data={"amount": 500}).id
        small = instances.start_instance(s, ctx, key="zeebe_proc", unit_id="SYT", data={"amount": 50}).id
    with sessions() as s:
        assert s.get(Instance, big).status == "completed"  # =amount > 100 took the conditional flow
        task = s.scalar(select(HumanTask).where(HumanTask.instance_id == small))
        assert task is not None and task.candidate_groups == ["finance"] and task.due_at is not None
    assert paid == [500, 50]


FEEL = Path(__file__).resolve().parent / "fixtures" / "zeebe"


@pytest.mark.parametrize(
    ("data", "route"),
    [
        ({"amount": 5000, "approved": True, "status": "ok", "retries": 0}, "big"),
        ({"amount": 5000, "approved": False, "status": "ok", "retries": 2}, "ok"),
        ({"amount": 5000, "approved": False, "status": "ok", "retries": 3, "note": None}, "no_note"),
        ({"amount": 5000, "approved": False, "status": "ok", "retries": 3}, "no_note"),  # note missing: null
        ({"amount": 5000, "approved": False, "status": "bad", "retries": 0, "note": "x", "label": "khẩn"}, "labelled"),
        ({"amount": 9.5, "approved": False, "status": "bad", "retries": 0, "note": "x", "label": "thường"}, "labelled"),
        ({"amount": 50, "approved": False, "status": "bad", "retries": 0, "note": "x", "label": "thường"}, "other"),
        ({"amount": 50, "approved": False, "status": "bad", "retries": 0, "note": "x", "label": None}, "other"),
    ],
)
def test_zeebe_feel_conditions_route_as_in_zeebe(sessions, clock, data, route):
    """``=amount > 1000 and approved = true``, ``=status = "ok" and retries < 3``, ``=not(approved) and note =
    null`` (a missing variable is null, as in FEEL), ``= label != null and (amount <= 10.5 or label = "khẩn")``."""
    ctx = EngineContext(clock=clock)
    with sessions() as s, s.begin():
        make_org(s)
        s.add(Role(id="finance", name="Tài chính"))
        result = deploy_files(s, clock, FEEL / "feel_conditions.bpmn")
        assert [w.message for w in result.warnings] == []
        iid = instances.start_instance(s, ctx, key="feel_routing", unit_id="SYT", data=data).id
    with sessions() as s:
        assert s.scalars(select(HumanTask.element_id).where(HumanTask.instance_id == iid)).all() == [route]


def test_feel_outside_the_subset_is_refused_at_lint_naming_the_flow_and_the_construct():
    path = FEEL / "feel_refused.bpmn"
    result = parse_files([(path.name, path.read_bytes())])
    assert result.bundles == []
    found = {(p.element_id, p.line): p.message for p in result.problems if p.severity == "error"}
    assert found == {
        ("f_count", 6): "condition: cannot translate FEEL expression '=count(items) > 0': FEEL function count() is "
        "not supported here; compute the value in a script task first (in Python: len(items))",
        ("f_in_list", 7): "condition: cannot translate FEEL expression '=status in [\"ok\", \"done\"]': FEEL 'in' "
        "tests are not supported here; write x = a or x = b (or x >= a and x <= b for a range)",
        ("f_some", 8): "condition: cannot translate FEEL expression '=some x in items satisfies x > 3': FEEL "
        "quantified expressions (some ... satisfies) are not supported here; compute the answer in a script task "
        "first and test that variable",
        (
            "f_quote",
            9,
        ): "condition: cannot translate FEEL expression \"=status = 'ok'\": FEEL strings use double quotes",
        # the author's text, not the '= 1' left after we cut the leading '='
        ("f_python", 10): "condition: cannot translate FEEL expression '== 1': unexpected '=': FEEL compares with a "
        "single '=' (=status = \"ok\"); a Zeebe expression starts with one '='",
    }


@pytest.mark.parametrize(
    ("condition", "named"),
    [
        ("={a: 1}.a = 1", "FEEL contexts ({key: value}) are not supported here"),
        ('=due < @"2024-01-01"', 'FEEL temporal literals (@"2024-01-31") are not supported here'),
        ("=x = `my var`", "FEEL names in backticks are not supported here"),
        ("=x in [1..5]", "FEEL 'in' tests are not supported here"),
        ("=[1..5] = r", "FEEL ranges ([a..b]) are not supported here; write x >= a and x <= b"),
        ("=x between 1 and 5", "FEEL 'between' is not supported here; write x >= a and x <= b"),
        ("=x instance of number", "FEEL 'instance of' is not supported here"),
        ("=for i in xs return i", "FEEL for loops (for ... in ... return) are not supported here"),
        ("=string length(name) > 3", "FEEL function string length() is not supported here"),
        ("=is defined(note)", "FEEL function is defined() is not supported here; write x != null"),
        ("=x == 1", "unexpected '==': FEEL compares with a single '='"),
    ],
)
def test_each_feel_construct_outside_the_subset_is_named(condition, named):
    body = (
        '<bpmn:startEvent id="s" /><bpmn:exclusiveGateway id="gw" default="f_else" />'
        '<bpmn:sequenceFlow id="f_in" sourceRef="s" targetRef="gw" />'
        '<bpmn:sequenceFlow id="f_if" sourceRef="gw" targetRef="e"><bpmn:conditionExpression>'
        f"{condition.replace('&', '&amp;').replace('<', '&lt;')}</bpmn:conditionExpression></bpmn:sequenceFlow>"
        '<bpmn:sequenceFlow id="f_else" sourceRef="gw" targetRef="e" /><bpmn:endEvent id="e" />'
    )
    xml = (
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="urn:t">'
        f'<bpmn:process id="p" isExecutable="true">{body}</bpmn:process></bpmn:definitions>'
    )
    result = parse_files([("c.bpmn", xml.encode())])
    [problem] = [p for p in result.problems if p.severity == "error"]
    assert problem.element_id == "f_if"
    assert problem.message.startswith(f"condition: cannot translate FEEL expression {condition!r}: "), problem
    assert named in problem.message, problem.message


def test_a_zeebe_assignment_outside_the_subset_is_named_as_the_author_wrote_it():
    """The message quotes ``=...`` as written in zeebe:assignmentDefinition, not a rewritten ``${...}``."""
    text = MODEL.read_text(encoding="utf-8")
    bad = text.replace('candidateGroups="finance"', 'candidateGroups="=for x in groups return x"')
    assert bad != text
    problems = [str(p) for p in parse_files([("payment.bpmn", bad.encode())]).problems]
    named = [p for p in problems if "candidateGroups" in p]
    assert named and "'=for x in groups return x'" in named[0], problems
    assert not any("${" in p for p in named)
