"""The compatibility table (docs/COMPATIBILITY.md): what the engine does with constructs of other tools' models.

Generated, never edited by hand: ``tests/test_compatibility.py`` fails when the committed file differs from what
this module renders. Regenerate with ``.venv/bin/python -m engine.core.compatibility > docs/COMPATIBILITY.md``.

Three parts: one small model per construct (supported, supported with a warning, or refused, with the message),
the outside corpus in ``../shared/corpus/`` file by file, and the BPMN element kinds the corpus uses with how often
they draw an error or a warning.
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict
from pathlib import Path

from lxml import etree

from engine.core.definitions import ParseResult, parse_files
from engine.errors import Problem

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus"
FIXTURES = ROOT / "tests" / "fixtures" / "broken"

_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" '
    'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d" targetNamespace="urn:probe">'
    '<bpmn:process id="p" isExecutable="true"><bpmn:startEvent id="start" />'
    '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="x" />{body}'
    '<bpmn:sequenceFlow id="f2" sourceRef="x" targetRef="end" /><bpmn:endEvent id="end" /></bpmn:process>'
    "</bpmn:definitions>"
)


def _timer(tag: str, text: str) -> str:
    return (
        '<bpmn:intermediateCatchEvent id="x"><bpmn:timerEventDefinition id="t">'
        f"<bpmn:{tag}>{text}</bpmn:{tag}></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
    )


def _io(kind: str, mapping: str, extra: str = "") -> str:
    return (
        f'<bpmn:{kind} id="x"{extra}><bpmn:extensionElements><camunda:inputOutput>{mapping}</camunda:inputOutput>'
        f"</bpmn:extensionElements></bpmn:{kind}>"
    )


_IN = '<camunda:inputParameter name="a">${amount * 2}</camunda:inputParameter>'
_OUT = '<camunda:outputParameter name="b">${a}</camunda:outputParameter>'
_LIST = (
    '<camunda:inputParameter name="a"><camunda:list><camunda:value>1</camunda:value></camunda:list>'
    "</camunda:inputParameter>"
)
_MAP = (
    '<camunda:inputParameter name="a"><camunda:map><camunda:entry key="k">${v}</camunda:entry></camunda:map>'
    "</camunda:inputParameter>"
)
_SCRIPT = (
    '<camunda:inputParameter name="a"><camunda:script scriptFormat="groovy">1</camunda:script></camunda:inputParameter>'
)


def _condition(text: str) -> str:
    """An exclusive gateway whose one conditional flow carries ``text`` (XML-escaped), the other the default."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;")
    return (
        '<bpmn:exclusiveGateway id="x" default="f2" /><bpmn:sequenceFlow id="f3" sourceRef="x" targetRef="end">'
        f"<bpmn:conditionExpression>{escaped}</bpmn:conditionExpression></bpmn:sequenceFlow>"
    )


def _script(text: str) -> str:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;")
    return f'<bpmn:scriptTask id="x" scriptFormat="python"><bpmn:script>{escaped}</bpmn:script></bpmn:scriptTask>'


_SHADOW = '<camunda:inputParameter name="status">${"review"}</camunda:inputParameter>'

# (construct, model body: the element with id "x" between the start and end events)
PROBES: list[tuple[str, str]] = [
    ("timeDuration ISO 8601 (PT10M)", _timer("timeDuration", "PT10M")),
    ("timeDuration JUEL expression (${wait})", _timer("timeDuration", "${wait}")),
    ("timeDuration FEEL expression (=wait, Camunda 8)", _timer("timeDuration", "=wait")),
    ("timeDate ISO 8601 date-time", _timer("timeDate", "2026-01-05T08:30:00Z")),
    ("timeDate JUEL expression (${due})", _timer("timeDate", "${due}")),
    ("timeCycle ISO 8601 repeating (R3/PT10M)", _timer("timeCycle", "R3/PT10M")),
    ("timeCycle cron, fixed period (0 0/5 * * * ?)", _timer("timeCycle", "0 0/5 * * * ?")),
    ("timeCycle cron, weekdays (0 0 9 ? * MON-FRI)", _timer("timeCycle", "0 0 9 ? * MON-FRI")),
    ("timeCycle cron, a step that does not divide the hour (0 0/7 * * * ?)", _timer("timeCycle", "0 0/7 * * * ?")),
    ("timeCycle cron, daily at a clock time (0 30 8 * * ?)", _timer("timeCycle", "0 30 8 * * ?")),
    ("camunda:inputOutput on a user task", _io("userTask", _IN + _OUT)),
    (
        "camunda:inputOutput on a script task",
        _io("scriptTask", _IN + _OUT, ' scriptFormat="python"').replace(
            "</bpmn:scriptTask>", "<bpmn:script>c = a + 1</bpmn:script></bpmn:scriptTask>"
        ),
    ),
    ("camunda:inputOutput on a manual task", _io("manualTask", _IN + _OUT)),
    ("camunda:inputOutput on a service task", _io("serviceTask", _IN + _OUT, ' camunda:expression="${a}"')),
    (
        "camunda:inputOutput on a subprocess",
        _io("subProcess", _IN + _OUT).replace(
            "</bpmn:subProcess>",
            '<bpmn:startEvent id="s2" /><bpmn:endEvent id="e2" />'
            '<bpmn:sequenceFlow id="f3" sourceRef="s2" targetRef="e2" /></bpmn:subProcess>',
        ),
    ),
    ("camunda:inputOutput on an intermediate event", _io("intermediateThrowEvent", _IN)),
    ("camunda:inputOutput camunda:list value", _io("userTask", _LIST)),
    ("camunda:inputOutput camunda:map value", _io("userTask", _MAP)),
    ("camunda:inputOutput camunda:script value", _io("userTask", _SCRIPT)),
    ("camunda:inputOutput input named like a process variable", _io("userTask", _SHADOW)),
    (
        "camunda:taskListener",
        '<bpmn:userTask id="x"><bpmn:extensionElements><camunda:taskListener event="create" class="a.B" />'
        "</bpmn:extensionElements></bpmn:userTask>",
    ),
    (
        "camunda:executionListener",
        '<bpmn:task id="x"><bpmn:extensionElements><camunda:executionListener event="start" class="a.B" />'
        "</bpmn:extensionElements></bpmn:task>",
    ),
    ("camunda:formKey naming no deployed form", '<bpmn:userTask id="x" camunda:formKey="missing" />'),
    ("camunda:formRef naming no deployed form", '<bpmn:userTask id="x" camunda:formRef="missing" />'),
    ("camunda:candidateGroups / assignee", '<bpmn:userTask id="x" camunda:candidateGroups="a" camunda:assignee="b" />'),
    (
        "camunda:expression service task",
        '<bpmn:serviceTask id="x" camunda:expression="${a + 1}" camunda:resultVariable="r" />',
    ),
    ("camunda:class service task (a connector)", '<bpmn:serviceTask id="x" camunda:class="org.acme.Mail" />'),
    ("camunda:type=external (a connector)", '<bpmn:serviceTask id="x" camunda:type="external" camunda:topic="mail" />'),
    (
        "zeebe:taskDefinition (a connector)",
        '<bpmn:serviceTask id="x"><bpmn:extensionElements><zeebe:taskDefinition type="mail" />'
        "</bpmn:extensionElements></bpmn:serviceTask>",
    ),
    (
        "script task, Python",
        '<bpmn:scriptTask id="x" scriptFormat="python"><bpmn:script>a = 1</bpmn:script></bpmn:scriptTask>',
    ),
    (
        "script task, groovy",
        '<bpmn:scriptTask id="x" scriptFormat="groovy"><bpmn:script>a = 1</bpmn:script></bpmn:scriptTask>',
    ),
    ("call activity to a process not deployed", '<bpmn:callActivity id="x" calledElement="elsewhere" />'),
    ("business rule task to a decision not deployed", '<bpmn:businessRuleTask id="x" camunda:decisionRef="nowhere" />'),
    ("business rule task, decisionRef an expression", '<bpmn:businessRuleTask id="x" camunda:decisionRef="${key}" />'),
    (
        "Zeebe FEEL condition, comparison and boolean (=amount > 1000 and approved = true)",
        _condition("=amount > 1000 and approved = true"),
    ),
    ('Zeebe FEEL condition, string literal (=status = "ok" and x < 3)', _condition('=status = "ok" and x < 3')),
    ("Zeebe FEEL condition, not(...) (=not(approved))", _condition("=not(approved)")),
    ("Zeebe FEEL condition, null check (=note = null, also true when note is missing)", _condition("=note = null")),
    ("Zeebe FEEL condition, function call (=count(items) > 0)", _condition("=count(items) > 0")),
    ('Zeebe FEEL condition, in a list (=status in ["a", "b"])', _condition('=status in ["a", "b"]')),
    ("Zeebe FEEL condition, some ... satisfies", _condition("=some i in items satisfies i > 3")),
    ("Zeebe FEEL condition, Python's == (== 1)", _condition("== 1")),
    ("SpiffArena script: del", _script("a = 1\ndel a")),
    ("SpiffArena script: list and dict comprehensions", _script("a = [i for i in range(3)]\nb = {i: i for i in a}")),
    (
        "SpiffArena script: datetime.now(), date.today(), strftime",
        _script("a = datetime.now().strftime('%d/%m/%Y')\nb = date.today().isoformat()"),
    ),
    ("SpiffArena script: len() and f-strings", _script("a = [1, 2]\nb = f'{len(a)} items'")),
    ("SpiffArena script: get_current_user()", _script("a = get_current_user()")),
    ("SpiffArena script: get_process_initiator_user()", _script("a = get_process_initiator_user()")),
    ("SpiffArena script: import", _script("from datetime import datetime")),
    ("SpiffArena script: json.dumps", _script("a = json.dumps({})")),
    ("SpiffArena script: try/except", _script("try:\n    a = 1\nexcept Exception:\n    a = 2")),
    ("script reading a frame attribute (g.gi_frame)", _script("a = g.gi_frame")),
    ("data store reference", '<bpmn:task id="x" /><bpmn:dataStoreReference id="ds" />'),
    ("element unknown to BPMN (schema)", '<bpmn:task id="x"><bpmn:frobnicate /></bpmn:task>'),
    ("flow to a missing element", '<bpmn:task id="x" /><bpmn:sequenceFlow id="f9" sourceRef="x" targetRef="ghost" />'),
    ("two elements with one id", '<bpmn:task id="x" /><bpmn:task id="x" />'),
]


# What a construct does when the process runs, beyond lint: (construct, behaviour, the test that shows it).
RUNTIME: list[tuple[str, str, str]] = [
    (
        "timeCycle cron with a fixed period (Camunda 7 Quartz form)",
        "first fires at the next time the cron names on the clock, in Asia/Ho_Chi_Minh (0 0/5 * * * ? at the next "
        "multiple of five minutes), then every period; forever, as Quartz",
        "tests/test_timers.py::test_a_camunda_cron_cycle_is_due_on_the_clock_in_the_scheduler",
    ),
    (
        "camunda:inputOutput input named like a process variable",
        "the input shadows the variable during the activity; afterwards the variable has its value from before "
        "(kept across a save and restore of the instance), unless an output parameter maps it",
        "tests/test_camunda_constructs.py::test_an_input_named_like_a_process_variable_shadows_it_only_during_the"
        "_activity",
    ),
    (
        "Zeebe FEEL condition with a null check (=note = null)",
        "true when the variable is null or missing, as FEEL reads a missing variable as null",
        "tests/test_zeebe_models.py::test_zeebe_feel_conditions_route_as_in_zeebe",
    ),
    (
        "SpiffArena script datetime.now() / date.today()",
        "the engine's clock (a test's manual clock too), in Asia/Ho_Chi_Minh, timezone-aware",
        "tests/test_spiffarena_scripts.py::test_the_common_constructs_run_in_the_engine",
    ),
    (
        "DMN 1.1 file (namespace http://www.omg.org/spec/DMN/20151101/dmn.xsd)",
        "checked against the OMG DMN 1.1 schema shipped in engine/core/schemas/dmn11/",
        "tests/test_broken_models.py::test_a_dmn_11_file_is_schema_checked",
    ),
]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _status(result: ParseResult) -> tuple[str, list[Problem]]:
    errors = [p for p in result.problems if p.severity == "error"]
    if errors:
        return "refused", errors
    warnings = [p for p in result.problems if p.severity == "warning"]
    return ("supported, with a warning" if warnings else "supported"), warnings


def _message(problems: list[Problem]) -> str:
    return "; ".join(dict.fromkeys(f"{p.element_id or '-'}: {p.message}" for p in problems))


def probe_rows() -> list[tuple[str, str, str]]:
    rows = []
    for construct, body in PROBES:
        result = parse_files([("probe.bpmn", _HEAD.format(body=body).encode())])
        status, problems = _status(result)
        rows.append((construct, status, _message(problems)))
    return rows


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix in (".bpmn", ".dmn"))


def _element_kinds(data: bytes) -> dict[str, str]:
    """element id -> its local name (for attributing problems to a construct)."""
    try:
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
    except etree.XMLSyntaxError:
        return {}
    return {n.get("id"): etree.QName(n).localname for n in root.iter() if isinstance(n.tag, str) and n.get("id")}


def render() -> str:
    out = [
        "# Compatibility with models from other tools",
        "",
        "Generated by `tests/test_compatibility.py` from `engine/core/compatibility.py`; do not edit. Regenerate with",
        "`.venv/bin/python -m engine.core.compatibility > docs/COMPATIBILITY.md`.",
        "",
        "Every BPMN file is checked against the OMG BPMN 2.0 XML schema and every DMN 1.1 and 1.3 file against the OMG",
        "DMN schema of its version (the XSDs ship in `engine/core/schemas/`, whose README names where each came from;",
        "published by the Object Management Group, https://www.omg.org/spec/BPMN/2.0/ and https://www.omg.org/spec/DMN/,",
        "under the OMG specification licence; DMN 1.2 files are not schema-checked), then for duplicate ids and",
        "references to missing elements, then by SpiffWorkflow and our own checks, all in one pass.",
        "",
        "## Constructs, one small model each",
        "",
        "| construct | outcome | message |",
        "| --- | --- | --- |",
    ]
    out += [f"| {_cell(c)} | {s} | {_cell(m)} |" for c, s, m in probe_rows()]
    out += ["", "## When the process runs", "", "| construct | behaviour | shown by |", "| --- | --- | --- |"]
    out += [f"| {_cell(c)} | {_cell(b)} | `{t}` |" for c, b, t in RUNTIME]
    for title, folder, base in (
        ("The outside corpus (`../shared/corpus/`), each file alone", CORPUS, CORPUS),
        ("Deliberately broken models (`tests/fixtures/broken/`)", FIXTURES, FIXTURES),
    ):
        files = _files(folder) if folder.is_dir() else []
        out += ["", f"## {title}", ""]
        if not files:
            out.append("(not present)")
            continue
        deployed = clean = 0
        rows = []
        kinds: Counter[str] = Counter()
        flagged: dict[str, Counter[str]] = defaultdict(Counter)
        for path in files:
            data = path.read_bytes()
            result = parse_files([(path.name, data)])
            errors = [p for p in result.problems if p.severity == "error"]
            warnings = [p for p in result.problems if p.severity == "warning"]
            deployed += bool(result.bundles) and not errors
            clean += not result.problems
            outcome = (
                "deploys " + ", ".join(sorted(b.key for b in result.bundles))
                if result.bundles and not errors
                else ("parses (DMN)" if path.suffix == ".dmn" and not errors else "refused")
            )
            first = _message(errors[:1] or warnings[:1])
            rel = path.relative_to(base).as_posix()
            rows.append(f"| {rel} | {outcome} | {len(errors)} | {len(warnings)} | {_cell(first)} |")
            element_kinds = _element_kinds(data)
            for kind in set(element_kinds.values()):
                kinds[kind] += 1
            for problem in result.problems:
                kind = element_kinds.get(problem.element_id or "", "")
                if kind:
                    flagged[kind][problem.severity] += 1
        bpmn_count = sum(1 for p in files if p.suffix == ".bpmn")
        out += [
            f"{len(files)} files ({bpmn_count} BPMN): {deployed} deploy on their own, {clean} lint clean "
            "(no error, no warning).",
            "",
            "| file | outcome | errors | warnings | first message |",
            "| --- | --- | --- | --- | --- |",
            *rows,
        ]
        if folder == CORPUS:
            out += [
                "",
                "### Element kinds in the corpus",
                "",
                "| element | files using it | errors on it | warnings on it |",
                "| --- | --- | --- | --- |",
            ]
            out += [
                f"| {kind} | {kinds[kind]} | {flagged[kind]['error']} | {flagged[kind]['warning']} |"
                for kind in sorted(kinds)
            ]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
