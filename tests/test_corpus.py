"""The external corpus: every file parses into bundles or lint problems, never an exception, and bundles round-trip."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CORPUS
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow

from engine.core.definitions import ProcessBundle, parse_files
from engine.core.expressions import SafeScriptEngine
from engine.core.serialization import make_serializer, specs_from_json, specs_to_json

CORPUS_FILES = sorted(p for p in CORPUS.rglob("*") if p.suffix in (".bpmn", ".dmn"))

# What each file gives on its own: the process keys it deploys, or None when it has errors (see messages below).
EXPECTED_ALONE: dict[str, list[str] | None] = {
    "camunda-invoice/invoice.v1.bpmn": None,  # needs reviewInvoice.bpmn and the DMN
    "camunda-invoice/invoice.v2.bpmn": None,
    "camunda-invoice/reviewInvoice.bpmn": ["ReviewInvoice"],
    "camunda-perf/DmnBusinessRuleTaskTest.businessRuleTask.bpmn": None,  # decisionRef="${decisionKey}"
    "camunda-perf/DmnBusinessRuleTaskTest.noop.bpmn": ["Process"],
    "camunda-perf/MultiInstancePerformanceTest.oneAsyncServiceTask.bpmn": ["calledProcess"],
    "camunda-perf/MultiInstancePerformanceTest.subProcessWithAsyncCallActivity.bpmn": None,  # calls calledProcess
    "miwg-reference/A.1.0.bpmn": ["WFP-6-"],
    "miwg-reference/A.2.0.bpmn": None,
    "miwg-reference/A.2.1.bpmn": None,
    "miwg-reference/A.3.0.bpmn": None,
    "miwg-reference/A.4.0.bpmn": ["WFP-6-1", "WFP-6-2"],
    "miwg-reference/A.4.1.bpmn": [
        "sid-34746A54-1D7D-46CA-B219-0C4CEAE51170",
        "sid-54D696FD-DEDC-45F3-99DB-1404DA433FC4",
    ],
    "miwg-reference/B.1.0.bpmn": None,
    "miwg-reference/B.2.0.bpmn": None,
    "miwg-reference/C.1.0.bpmn": ["bpmn-miwg-test-case-c.1.0"],
    "miwg-reference/C.1.1.bpmn": None,
    "miwg-reference/C.2.0.bpmn": None,
    "miwg-reference/C.3.0.bpmn": None,
    "miwg-reference/C.4.0.bpmn": None,
    "miwg-reference/C.5.0.bpmn": None,
    "miwg-reference/C.6.0.bpmn": None,
    "miwg-reference/C.7.0.bpmn": None,
    "miwg-reference/C.8.0.bpmn": None,
    "miwg-reference/C.8.1.bpmn": None,
    "miwg-reference/C.9.0.bpmn": None,
    "miwg-reference/C.9.1.bpmn": ["requestDocument_en"],
    "miwg-reference/C.9.2.bpmn": None,
}

# One message each erroring file must give (file-relative text), so lint output stays useful.
EXPECTED_MESSAGES = {
    "invoice.v2.bpmn": "reviewInvoice: call activity calls process 'ReviewInvoice', which is not in the deployed files",
    "DmnBusinessRuleTaskTest.businessRuleTask.bpmn": "decisionRef '${decisionKey}' is an expression",
    "A.2.0.bpmn": "sequence flow leaves a gateway without a condition and is not its default flow",
    "A.2.1.bpmn": "condition language 'http://www.w3.org/1999/XPath' is not supported",
    "A.3.0.bpmn": "subprocess has no start event",
    "B.1.0.bpmn": "call activity calls process 'global-task'",
    "B.2.0.bpmn": "multi-instance task has no loopCardinality and no collection",
    "C.6.0.bpmn": "timer has an empty timeDate",
    "C.7.0.bpmn": "business rule task has no decisionRef: set camunda:decisionRef",
    "C.8.0.bpmn": "condition refused: syntax error",
}


def rel(path: Path) -> str:
    return path.relative_to(CORPUS).as_posix()


def roundtrip(bundle: ProcessBundle) -> None:
    spec, subprocess_specs = specs_from_json(specs_to_json(bundle.spec, bundle.subprocess_specs))
    assert specs_to_json(spec, subprocess_specs) == specs_to_json(bundle.spec, bundle.subprocess_specs)
    workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=SafeScriptEngine())
    serializer = make_serializer()
    first = json.loads(serializer.serialize_json(workflow))
    second_text = serializer.serialize_json(serializer.deserialize_json(json.dumps(first)))
    second = json.loads(second_text)
    assert second["tasks"] == first["tasks"]
    # SpiffWorkflow normalises a few spec defaults (extensions None -> {}) on the first restore; then it is stable.
    assert json.loads(serializer.serialize_json(serializer.deserialize_json(second_text))) == second


@pytest.mark.parametrize("path", CORPUS_FILES, ids=rel)
def test_each_corpus_file_alone(path: Path) -> None:
    result = parse_files([(path.name, path.read_bytes())])
    errors = [p for p in result.problems if p.severity == "error"]
    for problem in result.problems:
        assert problem.file == path.name and problem.message
    if path.suffix == ".dmn":
        assert errors == [] and result.bundles == []
        return
    expected = EXPECTED_ALONE.get(rel(path), ["process"])
    if expected is None:
        assert errors, f"{rel(path)} was expected to have errors"
    else:
        assert errors == [] and sorted(b.key for b in result.bundles) == sorted(expected)
    if path.name in EXPECTED_MESSAGES:
        assert any(EXPECTED_MESSAGES[path.name] in str(p) for p in errors), [str(p) for p in errors]
    for bundle in result.bundles:
        roundtrip(bundle)


def test_all_corpus_files_together_never_raise() -> None:
    result = parse_files([(rel(p), p.read_bytes()) for p in CORPUS_FILES])
    assert any("Duplicate process ID" in str(p) for p in result.problems)  # invoice.v1 and v2 share the id


def test_the_invoice_set_deploys_together() -> None:
    names = ["invoice.v2.bpmn", "reviewInvoice.bpmn", "invoiceBusinessDecisions.dmn"]
    result = parse_files([(n, (CORPUS / "camunda-invoice" / n).read_bytes()) for n in names])
    assert [str(p) for p in result.problems if p.severity == "error"] == []
    assert sorted(b.key for b in result.bundles) == ["ReviewInvoice", "invoice"]
    for bundle in result.bundles:
        roundtrip(bundle)


def test_lint_cli_over_the_corpus_prints_no_traceback() -> None:
    tdkt = Path(sys.executable).parent / "tdkt"
    result = subprocess.run([str(tdkt), "lint", str(CORPUS)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1  # the corpus has errors
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "internal error" not in output
    lines = [line for line in output.splitlines() if line.strip()]
    problem = re.compile(r"^\S.*:\d+ \S+: .+")
    assert all(problem.match(line) for line in lines[:-1]), [line for line in lines if not problem.match(line)][:5]
    assert re.match(r"^\d+ file\(s\): \d+ error\(s\), \d+ warning\(s\)$", lines[-1])
