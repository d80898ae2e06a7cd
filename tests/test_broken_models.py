"""Deliberately broken models (tests/fixtures/broken/, one defect each and one with several): every defect is
named with its line and element, all of a file's problems come out in one pass, and none lints clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CORPUS
from lxml import etree

from engine.core.definitions import parse_files
from engine.core.structure import schema_for, structure_problems
from engine.core.xml_safety import parse_xml

BROKEN = Path(__file__).parent / "fixtures" / "broken"

# file -> (severity, line, element id or None, text the message contains), every problem the file must give
EXPECTED: dict[str, list[tuple[str, int, str | None, str]]] = {
    "duplicate_flow_id.bpmn": [
        ("error", 8, "flow", "duplicate id 'flow': this sequenceFlow (line 8) and the sequenceFlow on line 7"),
    ],
    "dangling_flow_target.bpmn": [
        ("error", 8, "flow_2", "sequence flow 'flow_2' names target 'finish', which is not an element of the file"),
    ],
    "dangling_lane_message_error.bpmn": [
        ("warning", 7, "clerk", "lane 'clerk' names flow node 'nobody'"),
        ("error", 12, "wait", "intermediateCatchEvent 'wait' names message 'Message_missing'"),
        ("error", 15, "end", "endEvent 'end' names error 'Error_missing'"),
    ],
    "dangling_shape.bpmn": [
        ("warning", 10, "ghost_di", "diagram BPMNShape 'ghost_di' draws bpmnElement 'ghost'"),
    ],
    "unknown_child_element.bpmn": [
        ("error", 6, "work", "element 'frobnicate': This element is not expected"),
    ],
    "misnamed_element.bpmn": [
        ("error", 5, "review", "element 'userTaks': This element is not expected"),
    ],
    "foreign_child_namespace.bpmn": [
        ("warning", 6, "work", "element '{urn:acme}retry': This element is not expected"),
    ],
    "undeclared_prefix.bpmn": [
        ("error", 7, None, "undeclared namespace: prefix 'camunda' of element 'formData' is not declared"),
    ],
    "missing_extension_definition.bpmn": [
        ("error", 3, None, "extension names definition 'retryPolicy', which is not defined in the file"),
    ],
    "wrong_encoding.bpmn": [
        ("error", 3, None, "encoding error: the file is not valid UTF-8 text"),
    ],
    "mislabelled_encoding.bpmn": [
        ("warning", 1, None, "encoding error: the file declares encoding 'ISO-8859-1' but its bytes are UTF-8"),
    ],
    "several_defects.bpmn": [
        ("error", 5, "compute", "script refused: syntax error"),
        ("error", 9, "work", "element 'frobnicate': This element is not expected"),
        ("error", 18, "flow_3", "duplicate id 'flow_3'"),
        ("error", 19, "flow_4", "sequence flow 'flow_4' names target 'nowhere'"),
    ],
}


def test_every_broken_fixture_has_expectations() -> None:
    assert sorted(p.name for p in BROKEN.glob("*.bpmn")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_defect_is_named_with_line_and_element(name: str) -> None:
    result = parse_files([(name, (BROKEN / name).read_bytes())])
    found = [(p.severity, p.line, p.element_id, p.message) for p in result.problems]
    for severity, line, element, text in EXPECTED[name]:
        assert any((s, ln, e) == (severity, line, element) and text in m for s, ln, e, m in found), (
            f"{name}: expected {severity} at {line} {element}: {text!r}; got {found}"
        )
    assert result.problems, f"{name} lints clean"
    # SpiffWorkflow's misleading words for a dangling reference never reach the user
    assert not any("perhaps a form has the same ID" in m or "unexpected keyword" in m for *_, m in found)


def test_a_file_with_several_defects_reports_them_all_in_one_pass() -> None:
    result = parse_files([("several_defects.bpmn", (BROKEN / "several_defects.bpmn").read_bytes())])
    assert len(result.errors) >= 4 and result.bundles == []


def test_lint_prints_every_problem_and_exits_1() -> None:
    tdkt = Path(sys.executable).parent / "tdkt"
    run = subprocess.run([str(tdkt), "lint", str(BROKEN)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    output = run.stdout + run.stderr
    assert "Traceback" not in output
    for name, expected in EXPECTED.items():
        for _, line, element, text in expected:
            assert f"{name}:{line} {element or '-'}: " in output and text in output, (name, line, text)


def test_the_schemas_load_locally() -> None:
    assert schema_for("http://www.omg.org/spec/BPMN/20100524/MODEL") is not None
    assert schema_for("https://www.omg.org/spec/DMN/20191111/MODEL/") is not None
    assert schema_for("http://www.omg.org/spec/DMN/20151101/dmn.xsd") is not None
    assert schema_for("urn:unknown") is None


def test_the_schemas_are_our_own_files_with_their_provenance() -> None:
    import SpiffWorkflow

    from engine.core.structure import SCHEMA_DIR, SCHEMAS

    spiff = Path(SpiffWorkflow.__file__).parent
    for path in SCHEMAS.values():
        assert path.is_relative_to(SCHEMA_DIR) and not path.is_relative_to(spiff), path
    readme = (SCHEMA_DIR / "README.md").read_text(encoding="utf-8")
    for xsd in sorted(SCHEMA_DIR.rglob("*.xsd")):
        assert f"`{xsd.name}`" in readme, xsd.name
        root = etree.parse(str(xsd), etree.XMLParser(no_network=True, load_dtd=False)).getroot()
        assert root.get("targetNamespace", "").startswith(("http://www.omg.org/spec/", "https://www.omg.org/spec/"))
    # DMN 1.1 is the OMG file byte for byte (with its byte order mark and CRLF line ends)
    dmn11 = (SCHEMA_DIR / "dmn11" / "dmn.xsd").read_bytes()
    assert dmn11.startswith(b"\xef\xbb\xbf<?xml") and b"\r\n" in dmn11 and b"DMNDI" not in dmn11


def test_a_dmn_11_file_is_schema_checked() -> None:
    corpus = CORPUS / "camunda-perf"
    clean = (corpus / "DmnEnginePerformanceTest.oneRule.dmn").read_bytes()
    assert b"20151101/dmn.xsd" in clean
    assert structure_problems(parse_xml(clean, "one.dmn"), "one.dmn") == []
    broken = clean.replace(b"</decisionTable>", b"<bogus /></decisionTable>", 1)
    assert broken != clean
    problems = structure_problems(parse_xml(broken, "one.dmn"), "one.dmn")
    assert len(problems) == 1 and problems[0].severity == "warning", problems
    assert "not valid DMN 1.1 XML (OMG schema)" in problems[0].message and "bogus" in problems[0].message


def test_schema_order_violations_are_warnings() -> None:
    data = b"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="urn:t">
  <process id="p" isExecutable="true">
    <startEvent id="s"><outgoing>f</outgoing><documentation>late</documentation></startEvent>
    <endEvent id="e" />
    <sequenceFlow id="f" sourceRef="s" targetRef="e" />
  </process>
</definitions>"""
    problems = structure_problems(parse_xml(data, "order.bpmn"), "order.bpmn")
    assert [(p.severity, p.line, p.element_id) for p in problems] == [("warning", 4, "s")]
    result = parse_files([("order.bpmn", data)])
    assert [b.key for b in result.bundles] == ["p"]


def test_ids_inside_another_tools_extension_are_not_duplicates() -> None:
    data = b"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:acme="urn:acme" id="d" targetNamespace="urn:t">
  <process id="p" isExecutable="true">
    <extensionElements><acme:link id="p" /></extensionElements>
    <startEvent id="s" /><endEvent id="e" /><sequenceFlow id="f" sourceRef="s" targetRef="e" />
  </process>
</definitions>"""
    assert parse_files([("ext.bpmn", data)]).problems == []


def test_a_dmn_13_schema_violation_is_a_warning_with_its_line() -> None:
    data = b"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" name="D" namespace="urn:t">
  <decision id="level" name="Level">
    <decisionTable id="table">
      <input id="in1"><inputExpression id="ie1" typeRef="number"><text>score</text></inputExpression></input>
      <output id="out1" name="level" typeRef="string" />
      <rule id="r1">
        <inputEntry id="e1"><text>&gt;= 90</text></inputEntry>
        <outputEntry id="o1"><text>"A"</text></outputEntry>
        <bogus />
      </rule>
    </decisionTable>
  </decision>
</definitions>"""
    problems = parse_files([("levels.dmn", data)]).problems
    assert [(p.severity, p.line, p.element_id) for p in problems] == [("warning", 10, "r1")], problems
    assert "not valid DMN 1.3 XML (OMG schema)" in problems[0].message
