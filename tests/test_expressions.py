"""The restricted expression/script engine: values, scripts, refusals (static and at run time), limits, BPMN runs."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest
from conftest import FIXTURES
from simpleeval import InvalidExpression
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.parser import BpmnParser
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.parser import SpiffBpmnParser
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from engine.core.expression_functions import DEFAULT_FUNCTIONS
from engine.core.expression_interpreter import Interpreter
from engine.core.expressions import SafeScriptEngine, check_expression, evaluate_plain, expression_error_from
from engine.errors import ExpressionError

EXPRESSIONS = FIXTURES / "expressions"


def _workflow(name: str, engine: SafeScriptEngine, **data: object) -> BpmnWorkflow:
    parser = BpmnParser()
    parser.add_bpmn_file(str(EXPRESSIONS / f"{name}.bpmn"))
    process_id = {"approval": "expr_approval", "hostile": "expr_hostile"}[name]
    workflow = BpmnWorkflow(parser.get_spec(process_id), script_engine=engine)
    _task(workflow, "start").data.update(data)
    return workflow


def _task(workflow: BpmnWorkflow, bpmn_id: str) -> Task:
    return next(t for t in workflow.get_tasks() if t.task_spec.bpmn_id == bpmn_id)


@pytest.fixture
def engine() -> SafeScriptEngine:
    return SafeScriptEngine()


@pytest.fixture
def task(engine: SafeScriptEngine) -> Task:
    """A real SpiffWorkflow task (the approval model's start event) to evaluate against."""
    return _task(_workflow("approval", engine), "start")


# -- valid expressions and scripts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("amount > 1000 and approved", True),
        ("amount * 2 + 1", 3001),
        ("2 ** 10", 1024),
        ("'ok' if approved else 'no'", "ok"),
        ("len(votes)", 3),
        ("sum(votes) / len(votes)", 2.0),
        ("max(votes) - min(votes)", 2),
        ("sorted(votes, reverse=True)[0]", 3),
        ("[v * 2 for v in votes if v > 1]", [4, 6]),
        ("{k: v for k, v in unit.items()}", {"code": "SNV", "name": "Sở Nội vụ"}),
        ("unit.get('code').lower()", "snv"),
        ("unit['name'].upper().startswith('SỞ')", True),
        ("'a,b'.split(',')", ["a", "b"]),
        ("', '.join(['x', 'y'])", "x, y"),
        ("'b' in ['a', 'b'] and 3 not in votes", False),
        ("any(v > 2 for v in votes) and all(v > 0 for v in votes)", True),
        ("list(range(3))", [0, 1, 2]),
        ("list(zip([1, 2], ['a', 'b']))", [(1, "a"), (2, "b")]),
        ("list(enumerate(['a']))", [(0, "a")]),
        ("f'{unit[\"code\"]}-{amount:>6}'", "SNV-  1500"),
        ("f'{amount:,.2f}'", "1,500.00"),
        ("'%s=%d' % ('n', 3)", "n=3"),
        ("date(2024, 3, 19) + timedelta(days=3)", dt.date(2024, 3, 22)),
        ("due.year * 100 + due.month", 202403),
        ("(date(2024, 3, 29) - due).days", 10),
        ("round(2.675, 1) == 2.7 or True", True),
        ("int('12') + float('0.5')", 12.5),
        ("None is None", True),
        ("votes[-1]", 3),
        ("votes[0:2]", [1, 2]),
        ("set([1, 1, 2]) | {3}", {1, 2, 3}),
        ("  amount  \n", 1500),  # surrounding whitespace from XML
    ],
)
def test_expressions_evaluate(engine: SafeScriptEngine, task: Task, text: str, expected: object) -> None:
    task.data.update(
        amount=1500, approved=True, votes=[1, 2, 3], unit={"code": "SNV", "name": "Sở Nội vụ"}, due=dt.date(2024, 3, 19)
    )
    assert check_expression(text) == []
    assert engine.evaluate(task, text) == expected


def test_evaluate_plain_and_external_context(engine: SafeScriptEngine, task: Task) -> None:
    assert evaluate_plain("groups[unit]", {"groups": {"snv": "tdkt_reviewer"}, "unit": "snv"}) == "tdkt_reviewer"
    assert evaluate_plain("now() > x", {"x": 1}, functions={"now": lambda: 2}) is True
    task.data["x"] = 1
    # task data wins over the external context, as in SpiffWorkflow's environment
    assert engine.evaluate(task, "x + y", external_context={"x": 100, "y": 10}) == 11


def test_runtime_functions_are_callable_and_names_resolve(task: Task) -> None:
    engine = SafeScriptEngine(functions={"working_days": lambda n: n * 7 // 5})
    task.data["n"] = 10
    assert engine.evaluate(task, "working_days(n)") == 14
    assert sorted(engine.functions) == sorted({*DEFAULT_FUNCTIONS, "working_days"})


def test_forbidden_function_cannot_be_registered() -> None:
    with pytest.raises(Exception, match="bad idea|forbidden"):
        SafeScriptEngine(functions={"getattr": getattr})
    with pytest.raises(ValueError):
        SafeScriptEngine(functions={"__secret": len})


def test_script_updates_task_data_without_leaking_functions(task: Task) -> None:
    engine = SafeScriptEngine(functions={"double": lambda x: x * 2})
    task.data.update(items=[3, 1, 2], counts={"a": 1})
    script = """
total = 0
for i, item in enumerate(sorted(items)):
    if item == 2:
        continue
    total += double(item)
else:
    finished = True
counts["b"] = len(items)
counts["a"] += 10
first, second = items[0], items[1]
del items
names = [n.upper() for n in counts.keys()]
"""
    assert check_expression(script, "exec") == []
    assert engine.execute(task, script) is True
    assert task.data == {
        "counts": {"a": 11, "b": 3},
        "total": 8,
        "finished": True,
        "first": 3,
        "second": 1,
        "i": 2,
        "item": 3,
        "names": ["A", "B"],
    }
    assert not any(callable(v) for v in task.data.values())


def test_external_context_is_visible_to_scripts_but_not_saved(engine: SafeScriptEngine, task: Task) -> None:
    engine.execute(task, "y = lookup['k'] * 2", external_context={"lookup": {"k": 21}})
    assert task.data["y"] == 42 and "lookup" not in task.data


def test_failed_script_leaves_data_untouched(engine: SafeScriptEngine, task: Task) -> None:
    task.data.update(a=1, nested={"x": 1})
    with pytest.raises(ExpressionError) as caught:
        engine.execute(task, "a = 2\nnested['x'] = 99\nb = missing + 1")
    assert task.data == {"a": 1, "nested": {"x": 1}}
    assert caught.value.element_id == "start"
    assert "missing" in caught.value.message


def test_functions_cannot_be_stored_in_data(engine: SafeScriptEngine, task: Task) -> None:
    with pytest.raises(ExpressionError, match="functions cannot be stored"):
        engine.execute(task, "f = len")
    assert "f" not in task.data


# -- hostile input: refused by the check and at run time --------------------------------------------------------

HOSTILE_EXPRESSIONS = [
    "__import__('os')",
    "open('/etc/passwd')",
    "().__class__.__base__.__subclasses__()",
    "[].__class__",
    "getattr(x, '__class__')",
    "eval('1')",
    "exec('x=1')",
    "compile('1', 'f', 'eval')",
    "globals()",
    "locals()",
    "vars()",
    "type(x)",
    "setattr(x, 'a', 1)",
    "(lambda: 1).__globals__",
    "(lambda: 1)()",
    "x.__dict__",
    "x._private",
    '"{0.__class__}".format(1)',
    '"{x.__class__}".format_map({"x": 1})',
    "f'{x.__class__}'",
    "f'{x!r:{y}}'",
    "10**10**10",
    "'a'*10**10",
    "[0] * 10**9",
    "x.mro()",
    "(y := 1)",
    "[*x]",
]

HOSTILE_SCRIPTS = [
    "import os",
    "from os import system",
    "import os as o\no.system('true')",
    "exec('x=1')",
    "def f():\n    return 1",
    "class A:\n    pass",
    "while True:\n    pass",
    "with x as y:\n    pass",
    "try:\n    x = 1\nexcept Exception:\n    pass",
    "raise ValueError('x')",
    "global x",
    "x.attribute = 1",
    "__builtins__ = {}",
    "_hidden = 1",
    "break",
]


@pytest.mark.parametrize("text", HOSTILE_EXPRESSIONS)
def test_hostile_expression_refused_by_check_and_at_run_time(engine: SafeScriptEngine, task: Task, text: str) -> None:
    task.data.update(x=1, y=">5")
    assert check_expression(text), text
    with pytest.raises(ExpressionError) as caught:
        engine.evaluate(task, text)
    assert caught.value.element_id == "start"
    assert caught.value.expression == text
    assert caught.value.message.startswith("refused")
    with pytest.raises(ExpressionError):
        evaluate_plain(text, {"x": 1, "y": ">5"})


@pytest.mark.parametrize("text", HOSTILE_SCRIPTS + HOSTILE_EXPRESSIONS)
def test_hostile_script_refused_by_check_and_at_run_time(engine: SafeScriptEngine, task: Task, text: str) -> None:
    task.data.update(x=1, y=">5")
    assert check_expression(text, "exec"), text
    with pytest.raises(ExpressionError) as caught:
        engine.execute(task, text)
    assert (caught.value.element_id, caught.value.expression) == ("start", text)
    assert task.data == {"x": 1, "y": ">5"}


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("().__class__", {}),
        ("x.__class__", {"x": 1}),
        ("'{0.__class__}'.format(1)", {}),
        ("'{0[a]}'.format_map({})", {}),
        ("getattr(x, 'real')", {"x": 1}),
        ("open('/etc/passwd')", {}),
        ("__import__('os')", {}),
        ("x ** y", {"x": 10, "y": 10**10}),
        ("s * n", {"s": "a", "n": 10**10}),
        ("big * big", {"big": 2**99_000}),
        ("list(range(n))", {"n": 10**7}),
        ("s.replace('a', s)", {"s": "a" * 50_000}),
        ("s.join([s, s, s])", {"s": "a" * 50_000}),
        ("sum([s, s], [])", {"s": [0] * 50_000}),
        ("f'{x:>1000000000}'", {"x": 1}),
        ("'%*d' % (n, 1)", {"n": 10**9}),
        ("'%1000000000d' % 1", {}),
        ("[list(range(100000)) for i in range(100)]", {}),
        ("x.bit_length.__self__", {"x": 1}),
        ("d.fromkeys", {"d": {}}),
        ("dt.now", {"dt": dt.datetime(2024, 1, 1)}),
        ("datetime.now()", {}),
    ],
)
def test_interpreter_refuses_even_without_the_check(text: str, names: dict) -> None:
    """Defence in depth: the interpreter alone (bypassing the static check) still refuses."""
    tree = ast.parse(text, mode="eval").body
    with pytest.raises(InvalidExpression):  # simpleeval's refusals and our limits, never a plain Python error
        Interpreter(DEFAULT_FUNCTIONS).evaluate(tree, names, text)


def test_computed_format_spec_cannot_reach_attributes_even_without_the_check() -> None:
    """simpleeval builds "{:" + spec + "}" and calls str.format; ours passes the spec to format(), which never
    resolves fields, so a spec smuggling in {0.__class__} is just an invalid spec."""
    text = "f'{x:{spec}}'"
    tree = ast.parse(text, mode="eval").body
    with pytest.raises(ValueError, match="Invalid format specifier"):
        Interpreter(DEFAULT_FUNCTIONS).evaluate(tree, {"x": 1, "spec": "}{0.__class__.__mro__}{:"}, text)


def test_interpreter_budget_stops_long_scripts_without_the_check() -> None:
    module = ast.parse("n = 0\nfor i in range(100000):\n    for j in range(100000):\n        n += 1")
    with pytest.raises(InvalidExpression, match="too much work"):
        Interpreter(DEFAULT_FUNCTIONS).run(module, {}, "loop")


@pytest.mark.parametrize(
    "text",
    ["x ** y", "s * n", "list(range(n))", "f'{x:>1000000000}'", "'%*d' % (n, 1)", "s.replace('a', s * 2)"],
)
def test_resource_limits_at_run_time_raise_expression_error(engine: SafeScriptEngine, task: Task, text: str) -> None:
    task.data.update(x=10, y=10**10, s="a" * 50_000, n=10**9)
    assert check_expression(text) == []  # nothing constant to refuse statically
    with pytest.raises(ExpressionError) as caught:
        engine.evaluate(task, text)
    assert caught.value.element_id == "start" and caught.value.expression == text


def test_script_that_tries_to_create_a_file_does_not(engine: SafeScriptEngine, task: Task, tmp_path: Path) -> None:
    target = tmp_path / "pwned.txt"
    task.data["target"] = str(target)
    for script in (
        f"open('{target}', 'w').write('x')",
        f"__import__('pathlib').Path('{target}').touch()",
        "import os\nos.system('touch ' + target)",
        "marker = 1\nf = open(target, 'w')",
    ):
        with pytest.raises(ExpressionError):
            engine.execute(task, script)
    assert not target.exists()
    assert "marker" not in task.data and "f" not in task.data


def test_expression_error_from_finds_the_error_through_wrapping(engine: SafeScriptEngine, task: Task) -> None:
    try:
        try:
            engine.evaluate(task, "missing > 1")
        except Exception as inner:  # how SpiffWorkflow's DMN engine wraps errors
            raise WorkflowTaskException(str(inner), task=task, exception=inner)
    except WorkflowTaskException as outer:
        found = expression_error_from(outer)
    assert found is not None and found.expression == "missing > 1" and found.element_id == "start"
    assert expression_error_from(ValueError("unrelated")) is None


# -- real BPMN runs ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("approved", "path"), [(True, "big"), (False, "small")])
def test_bpmn_run_with_scripts_gateway_and_multi_instance(approved: bool, path: str) -> None:
    engine = SafeScriptEngine()
    workflow = _workflow(
        "approval",
        engine,
        scores=[5, -1, 7],
        candidates=[{"name": "nam", "votes": 3}, {"name": "lan", "votes": 2}],
        approved=approved,
    )
    workflow.do_engine_steps()
    assert workflow.is_completed()
    data = workflow.data
    assert data["scores"] == [5, 7] and data["total"] == 12 and data["amount"] == 1200
    assert data["labels"] == ["LAN: 2", "NAM: 3"]
    assert data["rounds"] == ["round 0", "round 1", "round 2"]  # loopCardinality len(ranked) + 1
    assert data["path"] == path


def test_bpmn_run_survives_a_save_restore_round_trip() -> None:
    engine = SafeScriptEngine()
    workflow = _workflow("approval", engine, scores=[1], candidates=[], approved=True)
    serializer = BpmnWorkflowSerializer()
    restored = serializer.from_dict(serializer.to_dict(workflow))
    restored.script_engine = engine
    restored.do_engine_steps()
    assert restored.is_completed() and restored.data["path"] == "small" and restored.data["labels"] == []


def test_hostile_script_task_fails_naming_the_element_and_does_not_run(tmp_path: Path) -> None:
    target = tmp_path / "pwned.txt"
    workflow = _workflow("hostile", SafeScriptEngine(), target=str(target))
    with pytest.raises(ExpressionError) as caught:
        workflow.do_engine_steps()
    error = expression_error_from(caught.value)
    assert error is not None and error.element_id == "evil"
    assert error.expression is not None and "open(target" in error.expression
    assert "'open' is not allowed" in error.message
    assert not target.exists()
    evil = _task(workflow, "evil")
    assert evil.state == TaskState.ERROR and "marker" not in evil.data
    assert _task(workflow, "before").data["ran_before"] is True


def test_hostile_gateway_condition_fails_naming_the_element(engine: SafeScriptEngine) -> None:
    workflow = _workflow("approval", engine, scores=[], candidates=[], approved=True)
    gateway = workflow.spec.task_specs["decide"]
    condition = gateway.cond_task_specs[0][0]
    condition.args = ["amount.__class__.__subclasses__()"]  # as if an unchecked model had been loaded
    with pytest.raises(ExpressionError) as caught:
        workflow.do_engine_steps()
    assert caught.value.element_id == "decide"
    assert caught.value.expression == "amount.__class__.__subclasses__()"


def test_expressions_cannot_change_data_but_scripts_can(engine: SafeScriptEngine, task: Task) -> None:
    task.data["items"] = [1]
    assert check_expression("items.append(2) or True") != []
    with pytest.raises(ExpressionError, match="changes data"):
        engine.evaluate(task, "items.append(2) or True")
    assert task.data["items"] == [1]
    engine.execute(task, "items.append(2)")
    assert task.data["items"] == [1, 2]


@pytest.mark.parametrize("text", ["-" * 5000 + "1", "(" * 300 + "1" + ")" * 300, "a\x00", "1 +", ""])
def test_unparseable_text_is_refused_with_a_message(text: str) -> None:
    messages = check_expression(text)
    assert messages and all(isinstance(m, str) for m in messages)
    with pytest.raises(ExpressionError):
        evaluate_plain(text, {})


def _award_workflow(dmn: str, **data: object) -> BpmnWorkflow:
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(EXPRESSIONS / "award.bpmn"))
    parser.add_dmn_file(str(EXPRESSIONS / dmn))
    workflow = BpmnWorkflow(parser.get_spec("expr_award"), script_engine=SafeScriptEngine())
    _task(workflow, "start").data.update(data)
    return workflow


@pytest.mark.parametrize(
    ("score", "kind", "level"),
    [
        (95, "collective", "co_thi_dua"),
        (95, "individual", "bang_khen"),
        (85, "collective", "bang_khen"),
        (10, "x", "none"),
    ],
)
def test_dmn_cells_evaluate_through_the_safe_engine(score: int, kind: str, level: str) -> None:
    workflow = _award_workflow("award.dmn", score=score, kind=kind)
    workflow.do_engine_steps()
    assert workflow.is_completed() and workflow.data["level"] == level


def test_hostile_dmn_cell_is_refused_and_found_behind_spiff_wrapping() -> None:
    workflow = _award_workflow("award_hostile.dmn", score=95, kind="collective")
    with pytest.raises(WorkflowTaskException) as caught:  # SpiffWorkflow's DMN engine re-wraps every error
        workflow.do_engine_steps()
    error = expression_error_from(caught.value)
    assert error is not None and error.element_id == "decide_award"
    assert error.expression is not None and "__class__" in error.expression


@pytest.mark.parametrize(
    ("text", "names", "message"),
    [
        ("x > 1", {}, "name 'x' is not defined"),
        ("nope(1)", {}, "function 'nope' is not defined"),
        ("d['k']", {"d": {}}, "key 'k' not found"),
        ("1 / n", {"n": 0}, "ZeroDivisionError: division by zero"),
        ("s.foo", {"s": "a"}, "refused: line 1: attribute '.foo' is not allowed"),
        ("d.lower()", {"d": {}}, "attribute '.lower' is not allowed on dict"),
    ],
)
def test_error_messages_are_one_clear_line(text: str, names: dict, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        evaluate_plain(text, names, element_id="gw_1")
    assert caught.value.message == message
    assert caught.value.details == {"element_id": "gw_1", "expression": text}


def test_callables_passed_among_the_names_can_be_called_but_not_dangerous_ones() -> None:
    """The runtime may pass functions in ``names`` (as SpiffWorkflow's own environment allows)."""
    names = {"now": lambda: dt.datetime(2024, 3, 19, 8, 0), "unit": "snv"}
    assert evaluate_plain("now().year + len(unit)", names) == 2027
    text = "ga(unit, 'upper')"
    with pytest.raises(ExpressionError, match="forbidden"):
        evaluate_plain(text, {"ga": getattr, "unit": "snv"})


def test_iterators_cannot_be_stored_in_data(engine: SafeScriptEngine, task: Task) -> None:
    with pytest.raises(ExpressionError, match="a zip cannot be stored in data; use list"):
        engine.execute(task, "pairs = zip([1], [2])")
    engine.execute(task, "pairs = list(zip([1], [2]))\nwhen = date(2024, 3, 19)")
    assert task.data == {"pairs": [(1, 2)], "when": dt.date(2024, 3, 19)}


def test_one_engine_is_safe_to_share_between_threads() -> None:
    import threading

    engine = SafeScriptEngine()
    workflow = _workflow("approval", engine)
    tasks = [_task(workflow, bpmn_id) for bpmn_id in ("start", "prepare", "each", "decide")]
    for number, task in enumerate(tasks):
        task.data["n"] = number
    failures: list[str] = []

    def work(task: Task) -> None:
        for _ in range(2000):
            if engine.evaluate(task, "[n for i in range(3)][0] * 10") != task.data["n"] * 10:
                failures.append(task.task_spec.bpmn_id)

    threads = [threading.Thread(target=work, args=(task,)) for task in tasks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


@pytest.mark.parametrize("attribute", ["gi_frame", "f_globals", "f_locals", "mro"])
def test_a_frame_attribute_is_refused_without_an_f_string_hint(attribute: str) -> None:
    [message] = check_expression(f"items.{attribute}")
    assert f"'.{attribute}' is not allowed" in message and "f-string" not in message, message


def test_str_format_is_refused_with_the_f_string_hint() -> None:
    [message] = check_expression('"{} {}".format(a, b)')
    assert message == "line 1: '.format' is not allowed (use an f-string)"


@pytest.mark.parametrize(
    ("data", "expected"),
    [({}, True), ({"note": None}, True), ({"note": ""}, False), ({"note": "x"}, False)],
)
def test_is_defined_reads_whether_the_data_has_a_variable(data: dict, expected: bool) -> None:
    assert evaluate_plain("not is_defined('note') or note is None", data) is expected


@pytest.mark.parametrize("text", ["is_defined()", "is_defined(1)", "is_defined('a', 'b')"])
def test_is_defined_takes_one_name(text: str) -> None:
    with pytest.raises(ExpressionError, match="is_defined takes"):
        evaluate_plain(text, {"a": 1})
