"""SpiffArena script constructs, with models written for them in SpiffArena's style: what SpiffArena models
commonly use either runs in our sandbox or is refused at lint, naming the construct and what to write instead."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.core.definitions import parse_files
from engine.core.expressions import check_expression, evaluate_plain
from engine.errors import ExpressionError
from engine.persistence.models import Instance
from engine.services import instances
from engine.services.context import EngineContext
from engine.services.instance_store import load_instance
from tests.engine_helpers import deploy_files, make_org

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "spiffarena"


def test_the_common_constructs_run_in_the_engine(sessions, clock):
    """del, list and dict comprehensions, datetime.now() and date.today() (the engine's clock, in Viet Nam),
    strftime, timedelta, len(), sum(), f-strings with a format spec, date.fromisoformat, datetime.strptime,
    and is_defined."""
    clock.set(datetime(2026, 1, 5, 20, 0, tzinfo=UTC))  # 03:00 on 6 January in Viet Nam
    ctx = EngineContext(clock=clock)
    with sessions() as s, s.begin():
        make_org(s)
        result = deploy_files(s, clock, FIXTURES / "expense_report.bpmn")
        assert [w.message for w in result.warnings] == []
        iid = instances.start_instance(s, ctx, key="Process_expense_report", unit_id="SYT", actor="admin").id
    with sessions() as s:
        assert s.get(Instance, iid).status == "completed"
        workflow = load_instance(s, ctx, iid).workflow
    [end] = [t for t in workflow.get_tasks() if t.task_spec.bpmn_id == "EndEvent_1"]
    assert end.data == {
        "paid_lines": [{"item": "Giấy in", "amount": 120000}, {"item": "Mực", "amount": 350000}],
        "amounts": {"Giấy in": 120000, "Mực": 350000},
        "total": 470000,
        "line_count": 2,
        "submitted_on": "06/01/2026",
        "due": "2026-01-13",
        "summary": "2 khoản, tổng 470,000 đồng, nộp ngày 06/01/2026",
        "submitted_iso": "2026-01-06T03:00:00+07:00",
        "days_open": 4,
        "received_at": "09:30",
        "this_year": 2026,
        "same_year": True,
        "note": None,
    }


# (element, line, what the message must say): every SpiffArena-only construct of arena_only.bpmn, one by one
REFUSED = [
    ("Activity_user", "line 1: get_current_user() is a SpiffArena function, not available here; scripts run without"),
    ("Activity_user", "line 2: get_process_initiator_user() is a SpiffArena function, not available here;"),
    ("Activity_user", "ask for them in a form field or route the task by lane (role and unit)"),
    ("Activity_imports", "line 1: import json is not allowed; task data are already JSON values"),
    ("Activity_imports", "line 2: import datetime is not allowed; date, datetime and timedelta need no import"),
    ("Activity_imports", "line 3: json.dumps: the json module is not available here"),
    ("Activity_modules", "line 1: time.time: the time module is not available here; write datetime.now()"),
    ("Activity_modules", "line 2: datetime.datetime is the module's name for it; date, datetime and timedelta need"),
    ("Activity_modules", "line 3: uuid.uuid4: the uuid module is not available here; a script must give the same"),
    ("Activity_python", "line 1: try is not allowed (test first: if x is not None, if 'key' in d, if is_defined("),
    ("Activity_python", "line 5: calling 'print' is not allowed (a script has no output; set a variable instead)"),
]


def test_spiffarena_only_constructs_are_named_at_lint_with_what_to_write():
    path = FIXTURES / "arena_only.bpmn"
    result = parse_files([(path.name, path.read_bytes())])
    assert result.bundles == []
    problems = [(p.element_id, p.message) for p in result.problems if p.severity == "error"]
    assert len(problems) == 10, problems
    for element, text in REFUSED:
        assert any(e == element and text in m for e, m in problems), (element, text, problems)


@pytest.mark.parametrize(
    ("script", "refused"),
    [
        ("x = datetime.utcnow()", "datetime.utcnow() is not available; write datetime.now()"),
        ("x = get_localtime()", "get_localtime() is a SpiffArena function, not available here; write datetime.now()"),
        ("x = get_task_data_value('a', 1)", "write name if is_defined('name') else default"),
        ("import math", "import math is not allowed; use round(), abs(), min(), max(), sum(), ** and //"),
        ("x = random.randint(1, 6)", "random.randint: the random module is not available here"),
    ],
)
def test_more_spiffarena_constructs_are_named(script: str, refused: str) -> None:
    messages = check_expression(script, "exec")
    assert any(refused in m for m in messages), messages


def test_datetime_now_reads_the_engine_clock_in_scripts_and_conditions() -> None:
    now = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
    functions = {"now": lambda: now}
    assert evaluate_plain("datetime.now().hour", {}, functions=functions) == 8
    assert evaluate_plain("date.today() == date(2026, 3, 1)", {}, functions=functions) is True
    with pytest.raises(ExpressionError, match=r"datetime.now\(\) needs the engine's clock"):
        evaluate_plain("datetime.now()", {})
