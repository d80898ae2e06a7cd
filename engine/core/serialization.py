"""The one serializer configuration for every spec class our parser produces, and spec <-> JSON.

We parse every dialect (plain BPMN, Camunda, SpiffArena) into SpiffWorkflow's *spiff* spec classes plus our own
(`DecisionTask`, `ConnectorServiceTask`). SpiffWorkflow's serializer identifies classes by bare class name, so the
camunda spec set (whose ``UserTask``/``BusinessRuleTask`` names clash with spiff's) is deliberately not registered:
nothing we parse produces it. The registry is built once per process.
"""

from __future__ import annotations

import json
from copy import deepcopy
from datetime import date, time
from functools import lru_cache
from typing import Any

from SpiffWorkflow.bpmn.serializer.helpers.spec import TaskSpecConverter
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.spiff.serializer.task_spec import SubWorkflowTaskConverter

from engine.core.calls import ExternalCall
from engine.core.specs import ConnectorServiceTask, DecisionTask


class _SpiffTaskConverter(TaskSpecConverter):  # type: ignore[misc]
    fields: tuple[str, ...] = ()

    def to_dict(self, spec: Any) -> dict[str, Any]:
        dct = self.get_default_attributes(spec)
        dct["prescript"] = spec.prescript
        dct["postscript"] = spec.postscript
        for name in self.fields:
            dct[name] = deepcopy(getattr(spec, name))
        return dct

    def from_dict(self, dct: dict[str, Any]) -> Any:
        return self.task_spec_from_dict(dct)


class DecisionTaskConverter(_SpiffTaskConverter):
    fields = ("decision_ref", "decisions", "result_variable", "map_decision_result")


class ConnectorServiceTaskConverter(_SpiffTaskConverter):
    fields = ("connector", "operation_params", "result_variable", "expression")


class ExternalCallConverter(SubWorkflowTaskConverter):  # type: ignore[misc]
    fields = ("ins", "outs", "business_key", "unit", "binding", "called_version", "loop")

    def to_dict(self, spec: Any) -> dict[str, Any]:
        dct: dict[str, Any] = super().to_dict(spec)
        for name in self.fields:
            dct[name] = deepcopy(getattr(spec, name))
        return dct


def spec_config() -> dict[Any, Any]:
    config = dict(SPIFF_CONFIG)
    config[DecisionTask] = DecisionTaskConverter
    config[ConnectorServiceTask] = ConnectorServiceTaskConverter
    config[ExternalCall] = ExternalCallConverter
    return config


@lru_cache(maxsize=1)
def make_registry() -> Any:
    """The converter registry for every spec class we use (built once).

    Beside SpiffWorkflow's own (datetime, timedelta, UUID), the values a model's script may keep in task data
    and JSON has no type for: ``date`` (``date.today()``, ``d.date()``), ``time`` and ``set``; each is restored as
    the type it was, so a later script sees what the earlier one stored."""
    registry = BpmnWorkflowSerializer.configure(spec_config())
    registry.register(date, lambda v: {"value": v.isoformat()}, lambda v: date.fromisoformat(v["value"]))
    registry.register(time, lambda v: {"value": v.isoformat()}, lambda v: time.fromisoformat(v["value"]))
    registry.register(set, lambda v: {"value": list(v)}, lambda v: set(registry.restore(v["value"])))
    return registry


@lru_cache(maxsize=1)
def make_serializer() -> BpmnWorkflowSerializer:
    """The workflow serializer (built once); instance state uses it without the spec."""
    return BpmnWorkflowSerializer(make_registry())


def specs_to_json(spec: BpmnProcessSpec, subprocess_specs: dict[str, BpmnProcessSpec]) -> str:
    """Deterministic JSON of a process spec and the specs it calls (sorted keys)."""
    registry = make_registry()
    dct = {
        "spec": registry.convert(spec),
        "subprocess_specs": {name: registry.convert(sub) for name, sub in sorted(subprocess_specs.items())},
    }
    return json.dumps(dct, sort_keys=True, separators=(",", ":"), default=str)


def specs_from_json(text: str) -> tuple[BpmnProcessSpec, dict[str, BpmnProcessSpec]]:
    registry = make_registry()
    dct = json.loads(text)
    spec = registry.restore(dct["spec"])
    subprocess_specs = {name: registry.restore(sub) for name, sub in dct["subprocess_specs"].items()}
    return spec, subprocess_specs
