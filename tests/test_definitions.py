"""Parsing file sets into bundles: metadata, dialects, lint messages, JUEL/FEEL translation, DMN, round trips."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import CORPUS, FIXTURES
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.core.calls import child_starts, pending_calls
from engine.core.camunda_compat import (
    TranslationError,
    translate_feel,
    translate_juel,
    translate_timer,
    translate_unary_tests,
)
from engine.core.connectors import ConnectorRegistry
from engine.core.definitions import ProcessBundle, parse_files, required_connectors
from engine.core.dmn import DecisionError, evaluate_decision, map_result, parse_dmn
from engine.core.expressions import SafeScriptEngine, evaluate_plain
from engine.core.serialization import make_serializer, specs_from_json, specs_to_json
from engine.core.task_meta import role_code
from engine.core.xml_safety import parse_xml

DEFS = FIXTURES / "definitions"
INVOICE = CORPUS / "camunda-invoice"


def read(*paths: Any) -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in paths]


def bpmn(body: str, extra_ns: str = "") -> bytes:
    return (
        '<?xml version="1.0"?>\n<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        f'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" {extra_ns} id="d" targetNamespace="t">\n'
        f'<process id="p" isExecutable="true">\n{body}\n</process>\n</definitions>\n'
    ).encode()


def errors_of(files: list[tuple[str, bytes]]) -> list[str]:
    return [str(p) for p in parse_files(files).problems if p.severity == "error"]


def run(bundle: ProcessBundle, data: dict[str, Any], engine: SafeScriptEngine) -> BpmnWorkflow:
    """Start the bundle's process with ``data``, run it to its first wait state, through a save/restore."""
    spec, subprocess_specs = specs_from_json(specs_to_json(bundle.spec, bundle.subprocess_specs))
    workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=engine)
    workflow.get_tasks(state=TaskState.READY)[0].data.update(data)
    workflow.do_engine_steps()
    serializer = make_serializer()
    restored = serializer.from_dict(serializer.to_dict(workflow))
    restored.script_engine = engine
    return restored


# --- JUEL and FEEL -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("juel", "python"),
    [
        ("${approved}", "approved"),
        ("${!clarified}", "not clarified"),
        ("${amount > 1000}", "amount > 1000"),
        ("#{amount ge 1000 && category eq 'Misc'}", "(amount >= 1000) and (category == 'Misc')"),
        ("${a || !b}", "a or (not b)"),
        ("${x ne null and y lt 2.5}", "(x != None) and (y < 2.5)"),
        ("${empty list}", "not list"),
        ("${invoice.amount le 10}", "invoice['amount'] <= 10"),
        ("${true}", "True"),
        ('${"a" == name}', "'a' == name"),
        ("${n mod 2 == 0}", "(n % 2) == 0"),
    ],
)
def test_juel_translation(juel: str, python: str) -> None:
    assert translate_juel(juel) == python


@pytest.mark.parametrize(
    "juel",
    [
        "${dateTime().plusWeeks(1).toDate()}",
        "${genderBean.getGenderString(gender)}",
        "Hello ${name}",
        "${a +}",
        "${class}",
    ],
)
def test_juel_outside_the_subset_is_refused(juel: str) -> None:
    with pytest.raises(TranslationError):
        translate_juel(juel)


@pytest.mark.parametrize(
    ("test", "value", "expected"),
    [
        ("< 250", 100, True),
        ("< 250", 250, False),
        ("<= limit", 10, True),
        ("> 1000", 1001, True),
        ("[250..1000]", 250, True),
        ("[250..1000]", 1000, True),
        ("[250..1000]", 1001, False),
        ("(1..5]", 1, False),
        ("(1..5]", 5, True),
        ("]1..5[", 5, False),
        ('"Misc"', "Misc", True),
        ('"Misc","Travel Expenses"', "Travel Expenses", True),
        ('"Misc","Travel Expenses"', "Other", False),
        ('not("a")', "b", True),
        ('not("a")', "a", False),
        ("42", 42, True),
        ("true", True, True),
        ("-", "anything", True),
        ("", None, True),
    ],
)
def test_feel_unary_tests(test: str, value: Any, expected: bool) -> None:
    python = translate_unary_tests(test)
    if python is None:
        assert expected
        return
    assert bool(evaluate_plain(python, {"dmn_input": value, "limit": 10})) is expected


@pytest.mark.parametrize("test", ['date("2024-01-01")', "some x in y satisfies x", "'single'", "[1..", "count(x)"])
def test_feel_outside_the_subset_is_refused(test: str) -> None:
    with pytest.raises(TranslationError):
        translate_unary_tests(test)


def test_feel_expressions_and_timers() -> None:
    assert translate_feel('"day-to-day expense"') == "'day-to-day expense'"
    assert translate_feel("amount * 2") == "amount * 2"
    assert translate_feel("if x > 1 then 1 else 2") == "1 if (x > 1) else 2"
    assert translate_timer("P7D") == "'P7D'"
    assert translate_timer("R6/P1D") == "'R6/P1D'"
    assert translate_timer("${delay}") == "delay"
    assert translate_timer("timedelta(days=1)") is None  # already ours


def test_role_rule() -> None:
    assert role_code("unit_officer", "Cán bộ đơn vị") == "unit_officer"
    assert role_code("Lane_1", "Trưởng phòng Đánh giá") == "truong_phong_danh_gia"
    assert role_code("teamAssistant", "Team Assistant") == "team_assistant"
    assert role_code(None, None) is None


# --- DMN -----------------------------------------------------------------------------------------------


def invoice_decisions() -> dict[str, Any]:
    path = INVOICE / "invoiceBusinessDecisions.dmn"
    decisions, problems = parse_dmn(parse_xml(path.read_bytes(), path.name), path.name)
    assert problems == []
    return decisions


def evaluate(decisions: dict[str, Any], decision_id: str, data: dict[str, Any]) -> list[dict[str, Any]]:
    return evaluate_decision(decisions, decision_id, data, lambda text, names: evaluate_plain(text, {**data, **names}))


@pytest.mark.parametrize(
    ("amount", "category", "classification", "groups"),
    [
        (30, "Misc", "day-to-day expense", ["accounting", "sales"]),
        (249.99, "Misc", "day-to-day expense", ["accounting", "sales"]),
        (250, "Misc", "budget", ["management"]),
        (900, "Misc", "budget", ["management"]),
        (1000, "Misc", "budget", ["management"]),
        (5000, "Misc", "exceptional", ["management"]),
        (7000, "Travel Expenses", "day-to-day expense", ["accounting", "sales"]),
        (10, "Software License Costs", "budget", ["management"]),
    ],
)
def test_invoice_decisions(amount: float, category: str, classification: str, groups: list[str]) -> None:
    decisions = invoice_decisions()
    data = {"amount": amount, "invoiceCategory": category}
    assert evaluate(decisions, "invoiceClassification", data) == [{"invoiceClassification": classification}]
    rows = evaluate(decisions, "invoice-assign-approver", data)  # requires invoiceClassification first
    assert map_result(rows, "collectEntries", "invoice-assign-approver") == groups


def test_unknown_category_gives_no_approver() -> None:
    rows = evaluate(invoice_decisions(), "invoice-assign-approver", {"amount": 5, "invoiceCategory": "Food"})
    assert rows == []


def dmn_table(policy: str, rules: str, aggregation: str = "") -> dict[str, Any]:
    agg = f' aggregation="{aggregation}"' if aggregation else ""
    text = f"""<definitions xmlns="http://www.omg.org/spec/DMN/20180521/MODEL/" id="x" name="x" namespace="t">
      <decision id="d"><decisionTable id="t" hitPolicy="{policy}"{agg}>
        <input id="i"><inputExpression id="ie"><text>score</text></inputExpression></input>
        <output id="o" name="out"><outputValues id="ov"><text>"high","mid","low"</text></outputValues></output>
        {rules}
      </decisionTable></decision></definitions>"""
    decisions, problems = parse_dmn(parse_xml(text.encode(), "t.dmn"), "t.dmn")
    assert problems == []
    return decisions


def rule(rule_id: str, test: str, output: str) -> str:
    return (
        f'<rule id="{rule_id}"><inputEntry id="{rule_id}_in"><text>{test}</text></inputEntry>'
        f'<outputEntry id="{rule_id}_out"><text>{output}</text></outputEntry></rule>'
    )


RULES = rule("r1", "&gt; 5", '"low"') + rule("r2", "&gt; 8", '"high"') + rule("r3", "-", '"mid"')
NUMBERS = rule("r1", "&gt; 5", "10") + rule("r2", "&gt; 8", "3")


@pytest.mark.parametrize(
    ("policy", "aggregation", "rules", "expected"),
    [
        ("FIRST", "", RULES, [{"out": "low"}]),
        ("RULE ORDER", "", RULES, [{"out": "low"}, {"out": "high"}, {"out": "mid"}]),
        ("COLLECT", "", RULES, [{"out": "low"}, {"out": "high"}, {"out": "mid"}]),
        ("PRIORITY", "", RULES, [{"out": "high"}]),
        ("OUTPUT ORDER", "", RULES, [{"out": "high"}, {"out": "mid"}, {"out": "low"}]),
        ("COLLECT", "SUM", NUMBERS, [{"out": 13}]),
        ("COLLECT", "MIN", NUMBERS, [{"out": 3}]),
        ("COLLECT", "MAX", NUMBERS, [{"out": 10}]),
        ("COLLECT", "COUNT", NUMBERS, [{"out": 2}]),
    ],
)
def test_hit_policies(policy: str, aggregation: str, rules: str, expected: list[dict[str, Any]]) -> None:
    assert evaluate(dmn_table(policy, rules, aggregation), "d", {"score": 9}) == expected


def test_unique_and_any_refuse_conflicting_matches() -> None:
    with pytest.raises(DecisionError, match="UNIQUE"):
        evaluate(dmn_table("UNIQUE", RULES), "d", {"score": 9})
    with pytest.raises(DecisionError, match="ANY"):
        evaluate(dmn_table("ANY", RULES), "d", {"score": 9})
    assert evaluate(dmn_table("UNIQUE", RULES), "d", {"score": 1}) == [{"out": "mid"}]


def test_map_decision_result_modes() -> None:
    rows = [{"out": "a"}]
    assert map_result(rows, "singleEntry", "d") == "a"
    assert map_result(rows, "singleResult", "d") == {"out": "a"}
    assert map_result(rows, None, "d") == rows
    assert map_result([], "singleEntry", "d") is None
    with pytest.raises(DecisionError):
        map_result([{"out": "a"}, {"out": "b"}], "singleEntry", "d")


def test_untranslatable_dmn_cell_names_the_entry() -> None:
    text = RULES.replace("&gt; 5", 'date("2024-01-01")')
    doc = f"""<definitions xmlns="http://www.omg.org/spec/DMN/20180521/MODEL/" id="x" name="x" namespace="t">
      <decision id="d"><decisionTable id="t"><input id="i"><inputExpression id="ie"><text>score</text>
      </inputExpression></input><output id="o" name="out"/>{text}</decisionTable></decision></definitions>"""
    _, problems = parse_dmn(parse_xml(doc.encode(), "t.dmn"), "t.dmn")
    assert [p.element_id for p in problems] == ["r1_in"]
    assert "date(" in problems[0].message


# --- bundles ---------------------------------------------------------------------------------------------


def test_spiff_fixture_bundle_metadata_forms_and_connectors() -> None:
    result = parse_files(read(DEFS / "spiff_nomination.bpmn", DEFS / "award_level.dmn", DEFS / "nomination-form.json"))
    assert [p for p in result.problems if p.severity == "error"] == []
    (bundle,) = result.bundles
    assert bundle.key == "nomination"
    assert bundle.name == "Đề nghị khen thưởng"
    prepare = bundle.task_meta["prepare"]
    assert prepare["role"] == "unit_officer"
    assert prepare["lane"] == "Cán bộ đơn vị"
    assert prepare["form_key"] == "nomination-form"
    assert prepare["due_date"] == "working_days(5)"
    assert prepare["documentation"] == "Fill in the nomination."
    assert prepare["instructions"] == "Attach the minutes."
    assert bundle.task_meta["review"]["role"] == "truong_phong_danh_gia"
    assert set(bundle.forms) == {"nomination-form"}
    assert bundle.forms["nomination-form"]["title"] == "Nomination"
    assert required_connectors(bundle) == {"notify_unit"}
    assert set(bundle.sources) == {"spiff_nomination.bpmn", "award_level.dmn", "nomination-form.json"}
    assert len(bundle.content_hash) == 64


def test_spiff_fixture_runs_decision_script_and_connector() -> None:
    result = parse_files(read(DEFS / "spiff_nomination.bpmn", DEFS / "award_level.dmn", DEFS / "nomination-form.json"))
    calls: list[dict[str, Any]] = []

    def notify(data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        calls.append(params)
        return {"sent": True}

    engine = SafeScriptEngine(connectors=ConnectorRegistry({"notify_unit": notify}))
    workflow = run(result.bundles[0], {}, engine)
    (task,) = workflow.get_tasks(state=TaskState.READY)
    assert task.task_spec.bpmn_id == "prepare"
    task.data["achievements"] = ["a", "b", "c"]
    task.run()
    workflow.do_engine_steps()
    (task,) = workflow.get_tasks(state=TaskState.READY)
    assert task.task_spec.bpmn_id == "review"
    assert task.data["prepared"] is True
    assert task.data["points"] == 30
    assert task.data["level"] == "bang_khen"
    assert task.data["notified"] == {"sent": True}
    assert calls == [{"level": "bang_khen"}]


def test_camunda_fixture_service_tasks_and_assignment() -> None:
    result = parse_files(read(DEFS / "camunda_services.bpmn", DEFS / "approval.json"))
    assert [p for p in result.problems if p.severity == "error"] == []
    (bundle,) = result.bundles
    assert required_connectors(bundle) == {"vn.tdkt.Archive", "archiveService", "email"}
    approve, check = bundle.task_meta["approve"], bundle.task_meta["check"]
    assert approve["candidate_groups_expr"] == "approverGroups"
    assert approve["assignee_expr"] == "reviewer"
    assert approve["due_date"] is None  # dropped, with a warning
    assert approve["form_key"] == "approval"
    assert check["candidate_groups"] == ["accounting", "sales"]
    assert check["candidate_users"] == ["an", "binh"]
    assert check["assignee"] == "demo"
    assert check["form_key"] is None
    warnings = [str(p) for p in result.problems if p.severity == "warning"]
    assert any("approve: warning: due date dropped" in w for w in warnings)
    assert any("check: warning: form key 'embedded:app:forms/check.html'" in w for w in warnings)
    seen: list[str] = []
    registry = ConnectorRegistry({n: (lambda d, p, n=n: seen.append(n)) for n in required_connectors(bundle)})
    sent: list[dict[str, Any]] = []
    registry.register("email", lambda data, params: sent.append(params) or seen.append("email"))
    data = {"amount": 21, "applicant": {"email": "an@example.vn"}}
    workflow = run(bundle, data, SafeScriptEngine(connectors=registry))
    assert sent == [{"to": "an@example.vn", "subject": "Hồ sơ đã nhận"}]
    (task,) = workflow.get_tasks(state=TaskState.READY)
    assert task.task_spec.bpmn_id == "approve"
    assert task.data["doubled"] == 42
    assert seen == ["vn.tdkt.Archive", "archiveService", "email"]


def test_invoice_set_runs_to_the_approver() -> None:
    result = parse_files(
        read(INVOICE / "invoice.v2.bpmn", INVOICE / "reviewInvoice.bpmn", INVOICE / "invoiceBusinessDecisions.dmn")
    )
    assert [p for p in result.problems if p.severity == "error"] == []
    bundles = {b.key: b for b in result.bundles}
    assert set(bundles) == {"invoice", "ReviewInvoice"}
    assert set(bundles["invoice"].subprocess_specs) == {"ReviewInvoice"}
    meta = bundles["invoice"].task_meta["approveInvoice"]
    assert (meta["role"], meta["candidate_groups_expr"]) == ("approver", "approverGroups")
    assert bundles["invoice"].task_meta["prepareBankTransfer"]["candidate_groups"] == ["accounting"]
    assert bundles["ReviewInvoice"].task_meta["reviewInvoice"]["assignee_expr"] == "reviewer"
    assert bundles["invoice"].task_meta["prepareBankTransfer"]["role"] == "accountant"
    workflow = run(bundles["invoice"], {"amount": 30, "invoiceCategory": "Misc"}, SafeScriptEngine())
    (task,) = workflow.get_tasks(state=TaskState.READY)
    assert task.task_spec.bpmn_id == "approveInvoice"
    assert task.data["approverGroups"] == ["accounting", "sales"]
    # A stale classification in the data does not shadow the one the required decision computes.
    stale = run(
        bundles["invoice"],
        {"amount": 30, "invoiceCategory": "Misc", "invoiceClassification": "budget"},
        SafeScriptEngine(),
    )
    assert stale.get_tasks(state=TaskState.READY)[0].data["approverGroups"] == ["accounting", "sales"]
    task.data["approved"] = False  # -> ${!approved} -> the review call activity
    task.run()
    workflow.do_engine_steps()
    # The call waits for the engine to start ReviewInvoice as an instance of its own, with the camunda:in variables.
    (call,) = pending_calls(workflow)
    assert (call.task_spec.bpmn_id, call.task_spec.spec) == ("reviewInvoice", "ReviewInvoice")
    (child,) = child_starts(call, [], "INV-1", None)
    assert (
        set(child.data)
        == {"invoiceDocument", "creditor", "amount", "invoiceCategory", "invoiceNumber"} & set(call.data)
        and child.data["amount"] == 30
    )
    assert child.business_key == "INV-1/reviewInvoice"


# --- lint ------------------------------------------------------------------------------------------------

FLOW = '<startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="{t}"/>{body}<endEvent id="e"/>'


def one_task(body: str, target: str = "t") -> bytes:
    return bpmn(FLOW.format(t=target, body=body) + f'<sequenceFlow id="f2" sourceRef="{target}" targetRef="e"/>')


@pytest.mark.parametrize(
    ("script", "needle"),
    [
        ("__import__('os').system('id')", "script refused"),
        ("open('/etc/passwd').read()", "script refused"),
        ("().__class__.__base__.__subclasses__()", "script refused"),
        ("import os", "script refused"),
    ],
)
def test_hostile_script_is_refused_naming_the_element(script: str, needle: str) -> None:
    errors = errors_of(
        [("x.bpmn", one_task(f'<scriptTask id="t" scriptFormat="python"><script>{script}</script></scriptTask>'))]
    )
    assert errors and all(e.startswith("x.bpmn:") for e in errors)
    assert any(" t: " in e and needle in e for e in errors), errors


def test_hostile_condition_and_timer_are_refused() -> None:
    body = """<startEvent id="s"/><exclusiveGateway id="g" default="ok"/><endEvent id="e"/><endEvent id="e2"/>
      <sequenceFlow id="f1" sourceRef="s" targetRef="g"/><sequenceFlow id="ok" sourceRef="g" targetRef="e"/>
      <sequenceFlow id="evil" sourceRef="g" targetRef="e2"><conditionExpression>x.__class__</conditionExpression>
      </sequenceFlow>"""
    errors = errors_of([("c.bpmn", bpmn(body))])
    assert any(" evil: condition refused" in e for e in errors), errors
    timer = """<intermediateCatchEvent id="t"><timerEventDefinition id="td">
      <timeDuration>__import__('os')</timeDuration></timerEventDefinition></intermediateCatchEvent>"""
    errors = errors_of([("t.bpmn", one_task(timer))])
    assert any(" t: timer timeDuration refused" in e for e in errors), errors


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ('<businessRuleTask id="t"/>', "t: business rule task has no decisionRef: set camunda:decisionRef"),
        ('<businessRuleTask id="t" camunda:decisionRef="nowhere"/>', "t: business rule task calls decision 'nowhere'"),
        ('<callActivity id="t" calledElement="elsewhere"/>', "t: call activity calls process 'elsewhere'"),
        ('<scriptTask id="t" scriptFormat="javascript"><script>x = 1</script></scriptTask>', "script format"),
        ('<task id="t"><multiInstanceLoopCharacteristics/></task>', "t: multi-instance task has no loopCardinality"),
        ('<subProcess id="t"><task id="inner"/></subProcess>', "t: subprocess has no start event"),
        ('<complexGateway id="t"/>', "t: bpmn:complexGateway is not supported by this engine"),
        (
            '<userTask id="t"><extensionElements><camunda:properties><camunda:property name="dueDate" '
            "value=\"__import__('os')\"/></camunda:properties></extensionElements></userTask>",
            "t: due date refused",
        ),
    ],
)
def test_things_the_engine_cannot_run_are_errors(body: str, needle: str) -> None:
    errors = errors_of([("x.bpmn", one_task(body))])
    assert any(needle in e for e in errors), errors


def test_hostile_spiff_pre_script_is_refused() -> None:
    body = (
        '<userTask id="t"><extensionElements><spiffworkflow:preScript>__import__("os")</spiffworkflow:preScript>'
        "</extensionElements></userTask>"
    )
    data = one_task(body).replace(
        b"<definitions ", b'<definitions xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" '
    )
    errors = errors_of([("pre.bpmn", data)])
    assert any(" t: preScript refused" in e for e in errors), errors


def test_untranslatable_condition_is_an_error() -> None:
    body = """<startEvent id="s"/><exclusiveGateway id="g" default="ok"/><endEvent id="e"/><endEvent id="e2"/>
      <sequenceFlow id="f1" sourceRef="s" targetRef="g"/><sequenceFlow id="ok" sourceRef="g" targetRef="e"/>
      <sequenceFlow id="late" sourceRef="g" targetRef="e2">
      <conditionExpression>${dateTime().isAfter(due)}</conditionExpression></sequenceFlow>"""
    errors = errors_of([("c.bpmn", bpmn(body))])
    assert any(" late: condition: cannot translate '${dateTime().isAfter(due)}'" in e for e in errors), errors


def test_feel_conditions_are_translated() -> None:
    body = """<startEvent id="s"/><exclusiveGateway id="g" default="no"/><endEvent id="e"/><endEvent id="e2"/>
      <sequenceFlow id="f1" sourceRef="s" targetRef="g"/><sequenceFlow id="no" sourceRef="g" targetRef="e"/>
      <sequenceFlow id="yes" sourceRef="g" targetRef="e2"><conditionExpression>= not(fraud)</conditionExpression>
      </sequenceFlow>"""
    (bundle,) = parse_files([("feel.bpmn", bpmn(body))]).bundles
    workflow = run(bundle, {"fraud": False}, SafeScriptEngine())
    assert workflow.is_completed()
    ends = [
        t.task_spec.bpmn_id
        for t in workflow.get_tasks()
        if t.task_spec.bpmn_id in ("e", "e2") and t.has_state(TaskState.COMPLETED)
    ]
    assert ends == ["e2"]


def test_listeners_and_documentation_constructs_are_warnings() -> None:
    body = """<userTask id="t"><extensionElements><camunda:taskListener event="create">
      <camunda:script scriptFormat="groovy">x</camunda:script></camunda:taskListener></extensionElements></userTask>
      <textAnnotation id="note"><text>hi</text></textAnnotation><association id="as" sourceRef="t" targetRef="note"/>
      <dataStoreReference id="dsr" dataStoreRef="ds"/>"""
    data = one_task(body).replace(b"<process", b'<dataStore id="ds" name="Archive"/><process')
    result = parse_files([("w.bpmn", data)])
    assert [p for p in result.problems if p.severity == "error"] == []
    messages = [str(p) for p in result.problems]
    assert any("t: warning: camunda:taskListener (event 'create') is not executed" in m for m in messages)
    assert any("ds: warning: data store 'Archive' has no implementation" in m for m in messages)
    assert [b.key for b in result.bundles] == ["p"]


def test_camunda_multi_instance_collection_runs() -> None:
    body = """<userTask id="t"><multiInstanceLoopCharacteristics camunda:collection="${reviewers}"
      camunda:elementVariable="reviewer"/></userTask>"""
    (bundle,) = parse_files([("mi.bpmn", one_task(body))]).bundles
    workflow = run(bundle, {"reviewers": ["an", "binh"]}, SafeScriptEngine())
    ready = [t for t in workflow.get_tasks(state=TaskState.READY) if t.task_spec.bpmn_id == "t"]
    assert sorted(t.data["reviewer"] for t in ready) == ["an", "binh"]


def test_implicit_parallel_split_from_a_task() -> None:
    body = """<startEvent id="s"/><task id="a"/><userTask id="b"/><userTask id="c"/><endEvent id="e1"/>
      <endEvent id="e2"/><sequenceFlow id="f1" sourceRef="s" targetRef="a"/>
      <sequenceFlow id="f2" sourceRef="a" targetRef="b"/><sequenceFlow id="f3" sourceRef="a" targetRef="c"/>
      <sequenceFlow id="f4" sourceRef="b" targetRef="e1"/><sequenceFlow id="f5" sourceRef="c" targetRef="e2"/>"""
    (bundle,) = parse_files([("split.bpmn", bpmn(body))]).bundles
    workflow = run(bundle, {}, SafeScriptEngine())
    (task,) = workflow.get_tasks(state=TaskState.READY)  # a plain task waits, like a manual task
    task.run()
    workflow.do_engine_steps()
    assert sorted(t.task_spec.bpmn_id for t in workflow.get_tasks(state=TaskState.READY)) == ["b", "c"]


def test_not_bpmn_and_unknown_files_are_problems() -> None:
    result = parse_files([("a.bpmn", b"<root/>"), ("b.txt", b"hello"), ("c.json", b"{nope"), ("d.dmn", b"<x/>")])
    assert result.bundles == []
    messages = [str(p) for p in result.problems]
    assert any(m.startswith("a.bpmn:1 -: not a BPMN 2.0 file") for m in messages)
    assert any(m.startswith("b.txt:0 -: unsupported file type") for m in messages)
    assert any(m.startswith("c.json:1 -: form is not valid JSON") for m in messages)
    assert any(m.startswith("d.dmn:1 -: not a DMN file") for m in messages)


def test_duplicate_process_ids_are_an_error() -> None:
    errors = errors_of([("a.bpmn", one_task('<task id="t"/>')), ("b.bpmn", one_task('<task id="t"/>'))])
    assert any("Duplicate process ID: p" in e for e in errors)


def test_content_hash_is_stable_and_content_sensitive() -> None:
    files = read(DEFS / "spiff_nomination.bpmn", DEFS / "award_level.dmn", DEFS / "nomination-form.json")
    first = parse_files(files).bundles[0].content_hash
    assert parse_files(list(reversed(files))).bundles[0].content_hash == first
    changed = [(n, d.replace(b"* 10", b"* 20")) for n, d in files]
    assert parse_files(changed).bundles[0].content_hash != first
