"""Connector registry and service tasks run through SafeScriptEngine.call_service in a real SpiffWorkflow run."""

from __future__ import annotations

import pytest
from conftest import FIXTURES
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.spiff.parser import SpiffBpmnParser

from engine.core.connectors import ConnectorRegistry, default_registry
from engine.core.expressions import SafeScriptEngine
from engine.errors import IncidentError

SERVICE_BPMN = FIXTURES / "expressions" / "service.bpmn"


def _workflow(engine: SafeScriptEngine, **data: object) -> BpmnWorkflow:
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(SERVICE_BPMN))
    workflow = BpmnWorkflow(parser.get_spec("expr_service"), script_engine=engine)
    start = next(t for t in workflow.get_tasks() if t.task_spec.bpmn_id == "start")
    start.data.update(data)
    return workflow


def test_registry_basics() -> None:
    registry = ConnectorRegistry()
    assert "x" not in registry and registry.get("x") is None and registry.names() == set()
    registry.register("x", lambda data, params: None)
    assert "x" in registry and registry.names() == {"x"} and registry.get("x") is not None
    with pytest.raises(TypeError):
        registry.register("y", "not callable")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        registry.register("", lambda data, params: None)


def test_default_registry_is_tiny_and_copy_is_independent() -> None:
    assert default_registry.names() == {"noop", "echo"}
    extended = default_registry.copy()
    extended.register("extra", lambda data, params: None)
    assert "extra" in extended and "extra" not in default_registry


def test_registered_connector_runs_with_data_copy_and_evaluated_params() -> None:
    seen: dict[str, object] = {}

    def unit_lookup(data: dict, params: dict) -> dict:
        seen.update(data=data, params=params)
        data["unit_code"] = "tampered"  # a copy: must not reach the task data
        return {"unit_name": f"Unit {params['code']}", "next_year": params["year"]}

    registry = ConnectorRegistry({"unit_lookup": unit_lookup})
    workflow = _workflow(SafeScriptEngine(connectors=registry), unit_code="snv", year=2024)
    workflow.do_engine_steps()

    assert workflow.is_completed()
    assert seen["params"] == {"code": "SNV", "year": 2025}
    assert workflow.data["unit_code"] == "snv"
    # merged into the data, and stored under the result variable by SpiffWorkflow
    assert workflow.data["unit_name"] == "Unit SNV"
    assert workflow.data["lookup_result"] == {"unit_name": "Unit SNV", "next_year": 2025}


def test_unregistered_connector_raises_incident_naming_it() -> None:
    workflow = _workflow(SafeScriptEngine(connectors=ConnectorRegistry()), unit_code="snv", year=2024)
    with pytest.raises(IncidentError) as caught:
        workflow.do_engine_steps()
    assert str(caught.value) == "no connector registered for 'unit_lookup'"
    assert caught.value.details == {"connector": "unit_lookup", "element_id": "lookup"}
    assert not workflow.is_completed()


def test_failing_connector_raises_incident_with_its_message() -> None:
    def unit_lookup(data: dict, params: dict) -> dict:
        raise RuntimeError("directory service unavailable")

    workflow = _workflow(
        SafeScriptEngine(connectors=ConnectorRegistry({"unit_lookup": unit_lookup})), unit_code="a", year=1
    )
    with pytest.raises(IncidentError) as caught:
        workflow.do_engine_steps()
    assert "directory service unavailable" in str(caught.value)
    assert caught.value.details["element_id"] == "lookup"
    assert "unit_name" not in workflow.data


def test_connector_returning_a_non_dict_is_an_incident() -> None:
    registry = ConnectorRegistry({"unit_lookup": lambda data, params: [1, 2]})  # type: ignore[arg-type,return-value]
    workflow = _workflow(SafeScriptEngine(connectors=registry), unit_code="a", year=1)
    with pytest.raises(IncidentError, match="expected a dict"):
        workflow.do_engine_steps()


def test_plain_params_pass_unchanged_and_only_spiff_pairs_are_flattened() -> None:
    seen: dict[str, object] = {}
    registry = ConnectorRegistry({"c": lambda data, params: seen.update(params)})  # type: ignore[func-returns-value]
    engine = SafeScriptEngine(connectors=registry)
    workflow = _workflow(engine, unit_code="a", year=1)
    task = next(t for t in workflow.get_tasks() if t.task_spec.bpmn_id == "lookup")
    result = engine.call_service(
        task, operation_name="c", operation_params={"a": {"value": 1, "type": "int"}, "b": {"value": 2, "unit": "x"}}
    )
    assert result == "{}"
    assert seen == {"a": 1, "b": {"value": 2, "unit": "x"}}
