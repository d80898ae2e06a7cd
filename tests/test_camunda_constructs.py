"""Camunda 7/8 constructs, each with a small model written for it: timer cycles in cron and ISO 8601 repeating
form, timer expressions, ``camunda:inputOutput`` on every kind of activity, listeners, formKey and formRef."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.clock import ManualClock
from engine.core.camunda_compat import TranslationError, cron_to_iso, is_cron, next_cron_fire
from engine.core.definitions import ParseResult, parse_files
from engine.core.expressions import SafeScriptEngine
from engine.core.spiff_clock import using_clock

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" '
    'id="defs" targetNamespace="urn:test">\n'
)


def model(body: str, pid: str = "p") -> bytes:
    return f'{HEAD}<bpmn:process id="{pid}" isExecutable="true">{body}</bpmn:process></bpmn:definitions>'.encode()


def parse(body: str) -> ParseResult:
    return parse_files([("m.bpmn", model(body))])


def errors(result: ParseResult) -> list[str]:
    return [str(p) for p in result.problems if p.severity == "error"]


def warnings(result: ParseResult) -> list[str]:
    return [str(p) for p in result.problems if p.severity == "warning"]


def cycle_model(cycle: str) -> str:
    """A user task with a non-interrupting boundary timer cycle that runs a counting script each time it fires."""
    return f"""
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait" />
    <bpmn:userTask id="wait" />
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="end" />
    <bpmn:endEvent id="end" />
    <bpmn:boundaryEvent id="tick" attachedToRef="wait" cancelActivity="false">
      <bpmn:timerEventDefinition id="tick_def"><bpmn:timeCycle>{cycle}</bpmn:timeCycle></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f3" sourceRef="tick" targetRef="count" />
    <bpmn:scriptTask id="count" scriptFormat="python"><bpmn:script>ticks = ticks + 1</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f4" sourceRef="count" targetRef="tick_end" />
    <bpmn:endEvent id="tick_end" />"""


def run_for(result: ParseResult, minutes: int, data: dict[str, Any] | None = None) -> BpmnWorkflow:
    assert errors(result) == []
    bundle = result.bundles[0]
    clock = ManualClock(datetime(2026, 1, 5, 8, 0, tzinfo=UTC))
    with using_clock(clock):
        workflow = BpmnWorkflow(bundle.spec, bundle.subprocess_specs, script_engine=SafeScriptEngine())
        workflow.data.update(data or {"ticks": 0})
        start = workflow.get_tasks(state=TaskState.READY)[0]
        start.data.update(data or {"ticks": 0})
        workflow.do_engine_steps()
        for _ in range(minutes):
            clock.advance(timedelta(minutes=1, seconds=1))
            workflow.refresh_timers()
            workflow.do_engine_steps()
    return workflow


def ticks_of(workflow: BpmnWorkflow) -> int:
    """How many times the cycle fired: each firing runs the counting script once, in its own branch."""
    counted = [t for t in workflow.get_tasks() if t.task_spec.bpmn_id == "count" and t.state == TaskState.COMPLETED]
    return len(counted)


@pytest.mark.parametrize(
    ("cron", "iso"),
    [
        ("0 0/5 * * * ?", "R/PT5M"),
        ("0 */15 * * * ?", "R/PT15M"),
        ("0/30 * * * * ?", "R/PT30S"),
        ("0 * * * * ?", "R/PT1M"),
        ("0 0 0/2 * * ?", "R/PT2H"),
        ("0 30 * * * ?", "R/PT1H"),
        ("0 0 9 * * ?", "R/P1D"),
        ("0 0 9 ? * * *", "R/P1D"),
    ],
)
def test_fixed_period_crons_become_iso_cycles(cron: str, iso: str) -> None:
    assert is_cron(cron)
    assert cron_to_iso(cron) == iso


@pytest.mark.parametrize(
    "cron", ["0 0 9 ? * MON-FRI", "0 0 9 1 * ?", "0 0 8,12 * * ?", "0 0 9 * 1 ?", "0 0/7 * * * ?", "0 0 0/5 * * ?"]
)
def test_crons_that_are_no_fixed_period_are_refused_with_what_to_write(cron: str) -> None:
    with pytest.raises(TranslationError, match="ISO 8601"):
        cron_to_iso(cron)
    result = parse(cycle_model(cron))
    assert any("tick: timer timeCycle: cron" in e and "R/PT5M" in e for e in errors(result)), errors(result)


def test_iso_durations_and_dates_are_not_crons() -> None:
    assert not is_cron("R3/PT10M") and not is_cron("PT5M") and not is_cron("${cycle}")


def test_a_quartz_cron_cycle_fires_every_five_minutes_without_a_warning() -> None:
    result = parse(cycle_model("0 0/5 * * * ?"))
    assert warnings(result) == [] and errors(result) == []
    workflow = run_for(result, 16)
    assert ticks_of(workflow) == 3


VN = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.mark.parametrize(
    ("cron", "now_local", "first_local"),
    [
        ("0 0/5 * * * ?", "2026-01-05 15:03:20", "2026-01-05 15:05:00"),
        ("0 0/5 * * * ?", "2026-01-05 15:05:00", "2026-01-05 15:10:00"),  # strictly after, as Quartz
        ("0 0/5 * * * ?", "2026-01-05 23:58:00", "2026-01-06 00:00:00"),
        ("0 3/5 * * * ?", "2026-01-05 15:04:00", "2026-01-05 15:08:00"),
        ("0/30 * * * * ?", "2026-01-05 15:03:20", "2026-01-05 15:03:30"),
        ("15 * * * * ?", "2026-01-05 15:03:20", "2026-01-05 15:04:15"),
        ("0 30 * * * ?", "2026-01-05 15:03:20", "2026-01-05 15:30:00"),
        ("0 0 0/2 * * ?", "2026-01-05 15:03:20", "2026-01-05 16:00:00"),
        ("0 0 9 * * ?", "2026-01-05 15:03:20", "2026-01-06 09:00:00"),  # 09:00 in Viet Nam, 02:00 UTC
        ("0 0 9 * * ?", "2026-01-05 08:59:59", "2026-01-05 09:00:00"),
    ],
)
def test_a_cron_first_fires_at_the_next_time_it_names_in_viet_nam(cron: str, now_local: str, first_local: str) -> None:
    now = datetime.fromisoformat(now_local).replace(tzinfo=VN).astimezone(UTC)
    first = next_cron_fire(cron, now, VN)
    assert first.tzinfo == UTC and first.astimezone(VN).replace(tzinfo=None) == datetime.fromisoformat(first_local)


def test_a_cron_cycle_fires_on_the_clock_not_counted_from_the_timer_start() -> None:
    """Started at 08:03:20 UTC, ``0 0/5 * * * ?`` fires at 08:05, 08:10, 08:15 (an R/PT5M cycle counted from the
    start would fire at 08:08:20 and 08:13:20 only); then every five minutes."""
    result = parse(cycle_model("0 0/5 * * * ?"))
    bundle = result.bundles[0]
    clock = ManualClock(datetime(2026, 1, 5, 8, 3, 20, tzinfo=UTC))
    fired: list[datetime] = []
    with using_clock(clock):
        workflow = BpmnWorkflow(bundle.spec, bundle.subprocess_specs, script_engine=SafeScriptEngine())
        workflow.get_tasks(state=TaskState.READY)[0].data.update({"ticks": 0})
        workflow.do_engine_steps()
        for _ in range(13 * 6):  # 13 minutes in 10-second steps
            clock.advance(timedelta(seconds=10))
            before = ticks_of(workflow)
            workflow.refresh_timers()
            workflow.do_engine_steps()
            if ticks_of(workflow) > before:
                fired.append(clock.now())
    assert [f.strftime("%H:%M:%S") for f in fired] == ["08:05:10", "08:10:10", "08:15:10"]


def test_an_iso_repeating_cycle_fires_its_count_and_stops() -> None:
    result = parse(cycle_model("R3/PT10M"))
    assert warnings(result) == [] and errors(result) == []
    assert ticks_of(run_for(result, 60)) == 3


def test_a_juel_cycle_expression_reads_the_process_data() -> None:
    result = parse(cycle_model("${cycle}"))
    assert ticks_of(run_for(result, 25, {"ticks": 0, "cycle": "R2/PT10M"})) == 2


def test_a_zeebe_feel_cycle_expression_reads_the_process_data() -> None:
    result = parse(cycle_model("=cycle"))
    assert ticks_of(run_for(result, 25, {"ticks": 0, "cycle": "R/PT10M"})) == 2


@pytest.mark.parametrize(
    ("tag", "text", "data", "minutes", "fired"),
    [
        ("timeDuration", "${wait}", {"wait": "PT10M"}, 11, True),
        ("timeDuration", "${wait}", {"wait": "PT10M"}, 5, False),
        ("timeDuration", "=wait", {"wait": "PT10M"}, 11, True),
        ("timeDate", "${due}", {"due": "2026-01-05T08:30:00+00:00"}, 31, True),
        ("timeDate", "${due}", {"due": "2026-01-05T08:30:00+00:00"}, 20, False),
    ],
)
def test_timer_date_and_duration_expressions(
    tag: str, text: str, data: dict[str, Any], minutes: int, fired: bool
) -> None:
    body = f"""
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="timer" />
    <bpmn:intermediateCatchEvent id="timer">
      <bpmn:timerEventDefinition id="timer_def"><bpmn:{tag}>{text}</bpmn:{tag}></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="timer" targetRef="end" />
    <bpmn:endEvent id="end" />"""
    workflow = run_for(parse(body), minutes, {"ticks": 0, **data})
    assert workflow.is_completed() is fired


def io(inputs: str = "", outputs: str = "") -> str:
    mapping = f"<camunda:inputOutput>{inputs}{outputs}</camunda:inputOutput>"
    return f"<bpmn:extensionElements>{mapping}</bpmn:extensionElements>"


def run_to_end(result: ParseResult, data: dict[str, Any], answers: dict[str, dict[str, Any]] | None = None) -> Any:
    """Run the model, completing each user task with ``answers[task id]`` (checked against what it saw first)."""
    assert errors(result) == [], errors(result)
    bundle = result.bundles[0]
    workflow = BpmnWorkflow(bundle.spec, bundle.subprocess_specs, script_engine=SafeScriptEngine())
    workflow.get_tasks(state=TaskState.READY)[0].data.update(data)
    seen: dict[str, dict[str, Any]] = {}
    workflow.do_engine_steps()
    while not workflow.is_completed():
        ready = [t for t in workflow.get_tasks(state=TaskState.READY) if t.task_spec.bpmn_id]
        assert ready, "stuck"
        task = ready[0]
        seen[task.task_spec.bpmn_id] = dict(task.data)
        task.data.update((answers or {}).get(task.task_spec.bpmn_id, {}))
        task.run()
        workflow.do_engine_steps()
    end = [t for t in workflow.get_tasks() if t.task_spec.bpmn_id == "end"][0]
    return seen, end.data


def line(*nodes: str) -> str:
    ids = ["start", *nodes, "end"]
    flows = "".join(
        f'<bpmn:sequenceFlow id="f{i}" sourceRef="{a}" targetRef="{b}" />' for i, (a, b) in enumerate(zip(ids, ids[1:]))
    )
    return '<bpmn:startEvent id="start" /><bpmn:endEvent id="end" />' + flows


INPUTS = """
  <camunda:inputParameter name="greeting">xin chào</camunda:inputParameter>
  <camunda:inputParameter name="doubled">${amount * 2}</camunda:inputParameter>
  <camunda:inputParameter name="nothing" />
  <camunda:inputParameter name="reviewers"><camunda:list>
    <camunda:value>an</camunda:value><camunda:value>${boss}</camunda:value>
    <camunda:list><camunda:value>nested</camunda:value></camunda:list>
  </camunda:list></camunda:inputParameter>
  <camunda:inputParameter name="limits"><camunda:map>
    <camunda:entry key="low">100</camunda:entry><camunda:entry key="high">${amount}</camunda:entry>
    <camunda:entry key="more"><camunda:map>
      <camunda:entry key="deep">${boss}</camunda:entry>
    </camunda:map></camunda:entry>
  </camunda:map></camunda:inputParameter>"""


def test_user_task_input_parameters_are_set_before_it_and_local_to_it() -> None:
    outputs = """<camunda:outputParameter name="verdict">${decision}</camunda:outputParameter>
      <camunda:outputParameter name="kept">${doubled + 1}</camunda:outputParameter>"""
    result = parse(f'<bpmn:userTask id="review">{io(INPUTS, outputs)}</bpmn:userTask>' + line("review"))
    assert warnings(result) == []
    seen, final = run_to_end(result, {"amount": 21, "boss": "binh"}, {"review": {"decision": "yes"}})
    assert seen["review"] == {
        "amount": 21,
        "boss": "binh",
        "greeting": "xin chào",
        "doubled": 42,
        "nothing": None,
        "reviewers": ["an", "binh", ["nested"]],
        "limits": {"low": "100", "high": 21, "more": {"deep": "binh"}},
    }
    assert final == {"amount": 21, "boss": "binh", "decision": "yes", "verdict": "yes", "kept": 43}


@pytest.mark.parametrize(
    "activity",
    [
        '<bpmn:scriptTask id="act" scriptFormat="python">{io}<bpmn:script>result = doubled + 1</bpmn:script>'
        "</bpmn:scriptTask>",
        '<bpmn:task id="act">{io}</bpmn:task>',
        '<bpmn:manualTask id="act">{io}</bpmn:manualTask>',
        '<bpmn:serviceTask id="act" camunda:expression="${{doubled + 1}}" camunda:resultVariable="result">{io}'
        "</bpmn:serviceTask>",
        '<bpmn:subProcess id="act">{io}<bpmn:startEvent id="s_in" /><bpmn:scriptTask id="inner" scriptFormat="python">'
        '<bpmn:script>result = doubled + 1</bpmn:script></bpmn:scriptTask><bpmn:endEvent id="e_in" />'
        '<bpmn:sequenceFlow id="i1" sourceRef="s_in" targetRef="inner" />'
        '<bpmn:sequenceFlow id="i2" sourceRef="inner" targetRef="e_in" /></bpmn:subProcess>',
    ],
    ids=["scriptTask", "task", "manualTask", "serviceTask", "subProcess"],
)
def test_input_and_output_parameters_on_other_activities(activity: str) -> None:
    inputs = '<camunda:inputParameter name="doubled">${amount * 2}</camunda:inputParameter>'
    outputs = '<camunda:outputParameter name="answer">${doubled}</camunda:outputParameter>'
    result = parse(activity.format(io=io(inputs, outputs)) + line("act"))
    assert warnings(result) == []
    _, final = run_to_end(result, {"amount": 5})
    assert final["answer"] == 10 and "doubled" not in final


def test_an_output_may_read_what_the_task_produced() -> None:
    body = (
        '<bpmn:scriptTask id="act" scriptFormat="python">'
        + io(
            '<camunda:inputParameter name="base">${amount}</camunda:inputParameter>',
            '<camunda:outputParameter name="total">${result * 10}</camunda:outputParameter>',
        )
        + "<bpmn:script>\n      result = base + 1\n    </bpmn:script></bpmn:scriptTask>"
    )
    _, final = run_to_end(parse(body + line("act")), {"amount": 1})
    assert final["total"] == 20 and "base" not in final


def test_a_script_parameter_is_refused_naming_the_parameter() -> None:
    script = '<camunda:script scriptFormat="groovy">1 + 1</camunda:script>'
    inputs = f'<camunda:inputParameter name="x">{script}</camunda:inputParameter>'
    result = parse(f'<bpmn:userTask id="review">{io(inputs)}</bpmn:userTask>' + line("review"))
    assert any(
        "review: camunda:inputOutput inputParameter 'x' is a groovy script, which is not run here" in e
        for e in errors(result)
    ), errors(result)


def test_an_untranslatable_parameter_is_refused() -> None:
    inputs = '<camunda:inputParameter name="x">${execution.getVariable("a")}</camunda:inputParameter>'
    result = parse(f'<bpmn:userTask id="review">{io(inputs)}</bpmn:userTask>' + line("review"))
    assert any("review: camunda:inputOutput inputParameter 'x'" in e for e in errors(result)), errors(result)


def test_input_output_on_an_event_is_a_warning_naming_what_is_dropped() -> None:
    inputs = '<camunda:inputParameter name="x">1</camunda:inputParameter>'
    result = parse(f'<bpmn:intermediateThrowEvent id="mark">{io(inputs)}</bpmn:intermediateThrowEvent>' + line("mark"))
    assert any(
        "mark: warning: camunda:inputOutput on an intermediateThrowEvent is not applied" in w for w in warnings(result)
    ), warnings(result)
    assert errors(result) == []


@pytest.mark.parametrize("kind", ["taskListener", "executionListener"])
def test_listeners_are_warnings_naming_what_is_dropped(kind: str) -> None:
    listener = (
        f'<bpmn:extensionElements><camunda:{kind} event="create" class="org.acme.Notify" /></bpmn:extensionElements>'
    )
    result = parse(f'<bpmn:userTask id="review">{listener}</bpmn:userTask>' + line("review"))
    expected = (
        f"review: warning: camunda:{kind} (event 'create') is not executed by this engine; "
        "dropped: its class 'org.acme.Notify'"
    )
    assert any(expected in w for w in warnings(result)), warnings(result)
    assert errors(result) == [] and [b.key for b in result.bundles] == ["p"]


FORM = Path(__file__).parent / "fixtures" / "definitions" / "approval.json"


@pytest.mark.parametrize(
    "attributes",
    [
        'camunda:formKey="approval"',
        'camunda:formKey="embedded:deployment:forms/approval.json"',
        'camunda:formKey="camunda-forms:deployment:approval.form"',
        'camunda:formRef="approval" camunda:formRefBinding="deployment"',
    ],
)
def test_form_key_and_form_ref_find_the_deployed_form(attributes: str) -> None:
    body = f'<bpmn:userTask id="review" {attributes} />' + line("review")
    result = parse_files([("m.bpmn", model(body)), ("approval.json", FORM.read_bytes())])
    assert errors(result) == [] and warnings(result) == []
    assert result.bundles[0].task_meta["review"]["form_key"] == "approval"


def test_a_zeebe_form_definition_finds_the_deployed_form() -> None:
    form = '<bpmn:extensionElements><zeebe:formDefinition formId="approval" /></bpmn:extensionElements>'
    body = f'<bpmn:userTask id="review">{form}</bpmn:userTask>' + line("review")
    result = parse_files([("m.bpmn", model(body)), ("approval.json", FORM.read_bytes())])
    assert errors(result) == [] and result.bundles[0].task_meta["review"]["form_key"] == "approval"


def test_a_form_ref_to_no_deployed_form_is_a_warning_naming_it() -> None:
    result = parse('<bpmn:userTask id="review" camunda:formRef="missing" />' + line("review"))
    assert any("review: warning: form key 'missing' names no form file" in w for w in warnings(result))


SHADOWING = """
  <bpmn:startEvent id="start" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review" />
  <bpmn:userTask id="review">
    <bpmn:extensionElements><camunda:inputOutput>
      <camunda:inputParameter name="status">đang xét</camunda:inputParameter>
      <camunda:inputParameter name="limit">${limit * 10}</camunda:inputParameter>
      <camunda:inputParameter name="note">local</camunda:inputParameter>
      <camunda:outputParameter name="limit">${limit + 1}</camunda:outputParameter>
      <camunda:outputParameter name="seen_status">${status}</camunda:outputParameter>
    </camunda:inputOutput></bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="tally" />
  <bpmn:scriptTask id="tally" scriptFormat="python">
    <bpmn:extensionElements><camunda:inputOutput>
      <camunda:inputParameter name="status">${status + '!'}</camunda:inputParameter>
      <camunda:outputParameter name="shout">${status}</camunda:outputParameter>
    </camunda:inputOutput></bpmn:extensionElements>
    <bpmn:script>status = status * 2</bpmn:script>
  </bpmn:scriptTask>
  <bpmn:sequenceFlow id="f3" sourceRef="tally" targetRef="end" />
  <bpmn:endEvent id="end" />"""


def test_an_input_named_like_a_process_variable_shadows_it_only_during_the_activity() -> None:
    """Camunda semantics: the input is a local of the activity; afterwards the outer value is as before, unless an
    output parameter maps it (``limit``); an input that named no variable is gone again (``note``)."""
    from engine.core.serialization import make_serializer

    result = parse(SHADOWING)
    assert errors(result) == [] and warnings(result) == []
    bundle = result.bundles[0]
    workflow = BpmnWorkflow(bundle.spec, bundle.subprocess_specs, script_engine=SafeScriptEngine())
    workflow.get_tasks(state=TaskState.READY)[0].data.update({"status": "nháp", "limit": 3})
    workflow.do_engine_steps()
    # saved and restored in the middle of the activity: the shadowed value survives serialisation
    serializer = make_serializer()
    workflow = serializer.deserialize_json(serializer.serialize_json(workflow))
    workflow.script_engine = SafeScriptEngine()
    review = workflow.get_tasks(state=TaskState.READY)[0]
    assert review.task_spec.bpmn_id == "review"
    assert review.data == {"status": "đang xét", "limit": 30, "note": "local"}
    review.run()
    workflow.do_engine_steps()
    assert workflow.is_completed()
    end = [t for t in workflow.get_tasks() if t.task_spec.bpmn_id == "end"][0]
    assert end.data == {"status": "nháp", "limit": 31, "seen_status": "đang xét", "shout": "nháp!nháp!"}
