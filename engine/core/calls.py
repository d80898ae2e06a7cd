"""Call activities that run the called process as an instance of its own, as Camunda runs them.

SpiffWorkflow runs a call activity inside the caller's own task tree, so the caller's saved state holds every
called process's state: a campaign of 150 units saves all 150 plans on every step. Here a call activity (and a
multi-instance one: one child per item) only *waits*: the engine starts one instance per child, and when the last
child ends it hands the mapped outputs back and the task completes. The caller's state keeps a small bookmark in
the task's internal data (``call``), never a child's state.

The task's life: READY (prescript ran) -> run -> STARTED with ``call.status == "pending"`` -> the engine starts the
children (``waiting``) -> the last child ends -> ``apply_outputs`` (``done``, READY) -> run -> COMPLETED (postscript).

Data mapping, in this order:
- Camunda 7 ``camunda:in`` / ``camunda:out`` (``source``/``target``, ``sourceExpression``, ``variables="all"``,
  ``businessKey`` on ``camunda:in``);
- Camunda 8 ``zeebe:ioMapping`` inputs / outputs with ``zeebe:calledElement``'s propagate flags (Zeebe's rules:
  everything in and out unless told otherwise; outputs given, only those come back);
- otherwise the called process's ``ioSpecification`` data inputs / outputs (SpiffWorkflow's rule);
- otherwise SpiffArena's default: every variable in, every variable out.
A multi-instance call gives each child the item as its ``inputDataItem`` and collects each child's
``outputDataItem`` into ``loopDataOutputRef``, in item order; without an output collection nothing comes back.

Extension properties on the call activity (``camunda:properties`` or ``spiffworkflow:properties``):
``unit`` is an expression for the org unit the child concerns (default: the child's ``unit_id`` variable when it
names one, else the caller's unit); ``businessKey`` an expression for the child's business key (default: the
caller's key, the element id and, for a multi-instance child, its item or index).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn.parser.task_parsers import SubprocessParser
from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.bpmn.specs.data_spec import BpmnDataSpecification
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import (
    ErrorEventDefinition,
    EscalationEventDefinition,
)
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.task_spec import CallActivityParser
from SpiffWorkflow.spiff.specs.defaults import CallActivity
from SpiffWorkflow.spiff.specs.spiff_task import SpiffBpmnTask
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from engine.core.camunda_compat import TranslationError, is_juel, translate_feel, translate_juel
from engine.core.task_meta import BPMN_NS, CAMUNDA_NAMESPACES, ZEEBE_NS, camunda, properties
from engine.errors import ExpressionError

__all__ = [
    "CallMapping",
    "ChildStart",
    "ExternalCall",
    "ExternalCallParser",
    "apply_outputs",
    "child_output",
    "child_starts",
    "pending_calls",
    "thrown_events",
]

_PARENT_KEY = "execution.processBusinessKey"


@dataclass(frozen=True)
class ChildStart:
    """One child instance to start: its position among the call's children, data, business key and unit."""

    index: int
    data: dict[str, Any]
    business_key: str | None
    unit_id: str | None


def _expression(text: str | None) -> str | None:
    """A Camunda ``${...}`` / ``#{...}`` expression in our language; plain text is an expression already."""
    if text is None:
        return None
    text = text.strip()
    if is_juel(text):
        inner = text[2:-1].strip()
        if inner == _PARENT_KEY:
            return _PARENT_KEY
        return translate_juel(text)
    return text


class CallMapping:
    """Parsing ``camunda:in`` / ``camunda:out`` elements into plain dicts the spec can carry and serialise."""

    @staticmethod
    def parse(node: Any, tag: str) -> tuple[list[dict[str, Any]], str | None]:
        """The mappings of one direction and (for ``in``) the business key expression."""
        found: list[dict[str, Any]] = []
        business_key = None
        for ns in CAMUNDA_NAMESPACES:
            for element in node.findall(f"{{{BPMN_NS}}}extensionElements/{{{ns}}}{tag}"):
                if element.get("businessKey") is not None:
                    business_key = _expression(element.get("businessKey"))
                    continue
                if element.get("variables") == "all":
                    found.append({"all": True})
                    continue
                found.append(
                    {
                        "source": element.get("source"),
                        "expression": _expression(element.get("sourceExpression")),
                        "target": element.get("target") or element.get("source"),
                    }
                )
        return found, business_key

    @staticmethod
    def parse_zeebe(node: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Camunda 8's ``zeebe:ioMapping`` and ``zeebe:calledElement`` flags as the same plain mappings.

        Zeebe passes every variable to the child unless ``propagateAllParentVariables="false"``, and back every
        child variable unless output mappings are given or ``propagateAllChildVariables="false"``. A mapping's
        ``source`` is FEEL after ``=``, else a literal text.
        """
        ext = f"{{{BPMN_NS}}}extensionElements/{{{ZEEBE_NS}}}"
        called = node.find(f"{ext}calledElement")
        flags = called.attrib if called is not None else {}

        def mapped(tag: str) -> list[dict[str, Any]]:
            found = []
            for element in node.findall(f"{ext}ioMapping/{{{ZEEBE_NS}}}{tag}"):
                source = (element.get("source") or "").strip()
                expression = translate_feel(source[1:], original=source) if source.startswith("=") else repr(source)
                found.append({"expression": expression, "target": element.get("target") or ""})
            return found

        ins, outs = mapped("input"), mapped("output")
        if called is None and not ins and not outs:
            return [], []  # not a Camunda 8 call activity
        if flags.get("propagateAllParentVariables", "true") != "false":
            ins = [{"all": True}, *ins]
        if not outs:
            outs = [{"all": True}] if flags.get("propagateAllChildVariables", "true") != "false" else [{"none": True}]
        return ins, outs


def _data_name(ref: Any) -> str | None:
    if ref is None:
        return None
    if isinstance(ref, BpmnDataSpecification):
        return str(ref.bpmn_id)
    return str(ref)


class ExternalCall(CallActivity):  # type: ignore[misc]
    """A call activity whose called process runs as a separate instance; see the module docstring.

    ``loop`` describes a multi-instance call: ``sequential``, ``cardinality`` (an expression) or ``input`` (the
    collection's variable), ``input_item``, ``output`` and ``output_item``.
    """

    def __init__(
        self,
        wf_spec: Any,
        bpmn_id: str,
        subworkflow_spec: str,
        *,
        ins: list[dict[str, Any]] | None = None,
        outs: list[dict[str, Any]] | None = None,
        business_key: str | None = None,
        unit: str | None = None,
        binding: str | None = None,
        called_version: str | None = None,
        loop: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(wf_spec, bpmn_id, subworkflow_spec, **kwargs)
        self.ins = ins or []
        self.outs = outs or []
        self.business_key = business_key
        self.unit = unit
        self.binding = binding
        self.called_version = called_version
        self.loop = loop

    def _update_hook(self, my_task: Task) -> bool:
        return bool(SpiffBpmnTask._update_hook(self, my_task))  # the prescript; then READY, to be run

    def _run_hook(self, my_task: Task) -> bool | None:
        call = my_task.internal_data.get("call")
        if call is not None and call.get("status") == "done":
            return True
        my_task.internal_data["call"] = {"status": "pending"}
        return None  # STARTED: the engine starts the children

    def _on_cancel(self, my_task: Task) -> None:  # no subprocess inside this workflow; the engine cancels children
        return None


class ExternalCallParser(CallActivityParser):  # type: ignore[misc]
    """``callActivity`` -> ExternalCall, its multi-instance characteristics kept on the task itself."""

    def create_task(self) -> ExternalCall:
        extensions = self.parse_extensions()
        called = SubprocessParser.get_call_activity_spec(self)
        ins, business_key = CallMapping.parse(self.node, "in")
        outs, _ = CallMapping.parse(self.node, "out")
        props = properties(self.node)
        try:
            if not ins and not outs:
                ins, outs = CallMapping.parse_zeebe(self.node)
            unit = _expression(props.get("unit"))
            if props.get("businessKey"):
                business_key = _expression(props["businessKey"])
        except TranslationError as err:
            self.raise_validation_exception(f"call activity mapping or property: {err}")
        return ExternalCall(
            self.spec,
            self.bpmn_id,
            called,
            ins=ins,
            outs=outs,
            business_key=business_key,
            unit=unit,
            binding=camunda(self.node, "calledElementBinding"),
            called_version=camunda(self.node, "calledElementVersion"),
            prescript=extensions.get("preScript"),
            postscript=extensions.get("postScript"),
            **self.bpmn_attributes,
        )

    def _add_multiinstance_task(self, loop_characteristics: Any) -> None:
        prefix = "bpmn:multiInstanceLoopCharacteristics"

        def text(path: str) -> str | None:
            found = self.xpath(f"./{prefix}/{path}")
            return (found[0].text or "").strip() or None if found else None

        def item(path: str) -> str | None:
            found = self.xpath(f"./{prefix}/{path}")
            return found[0].get("name") or found[0].get("id") if found else None

        if text("bpmn:completionCondition"):
            self.raise_validation_exception(
                "a completionCondition on a multi-instance call activity is not supported: each child instance "
                "runs to its end; model the early exit inside the called process"
            )
        cardinality, collection = text("bpmn:loopCardinality"), text("bpmn:loopDataInputRef")
        if (cardinality is None) == (collection is None):
            self.raise_validation_exception(
                "a multi-instance call activity needs exactly one of loopCardinality or loopDataInputRef"
            )
        self.task.loop = {
            "sequential": loop_characteristics.get("isSequential") == "true",
            "cardinality": cardinality,
            "input": collection,
            "input_item": item("bpmn:inputDataItem"),
            "output": text("bpmn:loopDataOutputRef"),
            "output_item": item("bpmn:outputDataItem"),
        }

    def _add_loop_task(self, loop_characteristics: Any) -> None:
        self.raise_validation_exception(
            "a standard loop on a call activity is not supported; use a multi-instance call activity or a loop "
            "in the process around it"
        )


CALL_ACTIVITY_TAG = full_tag("callActivity")


# --- at run time ------------------------------------------------------------------------------------------


def pending_calls(workflow: BpmnWorkflow) -> list[Task]:
    """Call tasks that were reached and whose children are not started yet."""
    return [
        t
        for t in workflow.get_tasks(state=TaskState.STARTED)
        if isinstance(t.task_spec, ExternalCall) and (t.internal_data.get("call") or {}).get("status") == "pending"
    ]


def waiting_calls(workflow: BpmnWorkflow) -> list[Task]:
    """Call tasks whose children run."""
    return [
        t
        for t in workflow.get_tasks(state=TaskState.STARTED)
        if isinstance(t.task_spec, ExternalCall) and (t.internal_data.get("call") or {}).get("status") == "waiting"
    ]


def abandoned_calls(workflow: BpmnWorkflow) -> list[Task]:
    """Call tasks cancelled (an interrupting boundary event, a cancelled branch) while their children ran."""
    return [
        t
        for t in workflow.get_tasks(state=TaskState.CANCELLED)
        if isinstance(t.task_spec, ExternalCall) and (t.internal_data.get("call") or {}).get("status") == "waiting"
    ]


class _Element:
    __slots__ = ("bpmn_id",)

    def __init__(self, bpmn_id: str) -> None:
        self.bpmn_id = bpmn_id


class _Names:
    """What the script engine needs of a task: the names an expression sees and the element it belongs to."""

    __slots__ = ("data", "task_spec")

    def __init__(self, element_id: str, data: dict[str, Any]) -> None:
        self.data = data
        self.task_spec = _Element(element_id)


def _evaluate(engine: Any, element_id: str, expression: str, data: dict[str, Any]) -> Any:
    return engine.evaluate(_Names(element_id, data), expression)


def _map(engine: Any, element_id: str, mappings: list[dict[str, Any]], source: dict[str, Any]) -> dict[str, Any]:
    target: dict[str, Any] = {}
    for mapping in mappings:
        if mapping.get("all"):
            target.update(source)
        elif mapping.get("expression"):
            target[mapping["target"]] = _evaluate(engine, element_id, mapping["expression"], source)
        elif mapping.get("source") in source:
            target[mapping["target"]] = source[mapping["source"]]
    return target


def _items(task: Task) -> list[tuple[Any, Any]]:
    loop = task.task_spec.loop
    if loop is None:
        return [(None, None)]
    if loop.get("cardinality"):
        count = _evaluate(task.workflow.script_engine, task.task_spec.bpmn_id, loop["cardinality"], task.data)
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ExpressionError(
                f"loopCardinality gave {count!r}, not a whole number", task.task_spec.bpmn_id, loop["cardinality"]
            )
        return [(i, i) for i in range(count)]
    name = loop["input"]
    if name not in task.data:
        raise ExpressionError(f"the multi-instance collection {name!r} is not in the task data", task.task_spec.bpmn_id)
    collection = task.data[name]
    if isinstance(collection, dict):
        return list(collection.items())
    if isinstance(collection, list | tuple):
        return list(enumerate(collection))
    raise ExpressionError(
        f"the multi-instance collection {name!r} is a {type(collection).__name__}, not a list or a map",
        task.task_spec.bpmn_id,
    )


def _label(key: Any, item: Any) -> str:
    if isinstance(item, str | int) and not isinstance(item, bool):
        return str(item)
    return str(key)


def child_starts(
    task: Task,
    called_inputs: list[str],
    parent_business_key: str | None,
    parent_unit: str | None,
) -> list[ChildStart]:
    """What each child of ``task`` starts with (``called_inputs``: the called process's declared data inputs)."""
    spec: ExternalCall = task.task_spec
    engine, element_id = task.workflow.script_engine, spec.bpmn_id
    loop = spec.loop
    starts = []
    for index, (key, item) in enumerate(_items(task)):
        scope = dict(task.data)
        if loop is not None and loop.get("input_item"):
            scope[loop["input_item"]] = item
        if spec.ins:
            data = _map(engine, element_id, spec.ins, scope)
        elif called_inputs:
            missing = [name for name in called_inputs if name not in scope]
            if missing:
                raise ExpressionError(
                    f"the called process {spec.spec!r} needs data input(s) {', '.join(missing)}", spec.bpmn_id
                )
            data = {name: scope[name] for name in called_inputs}
        else:
            data = scope
        if spec.business_key == _PARENT_KEY:
            business_key = parent_business_key
        elif spec.business_key:
            business_key = str(_evaluate(engine, element_id, spec.business_key, scope))
        else:
            business_key = "/".join(p for p in (parent_business_key, spec.bpmn_id) if p)
            if loop is not None:
                business_key += f"/{_label(key, item)}"
        if spec.unit:
            unit = _evaluate(engine, element_id, spec.unit, scope)
            unit_id = str(unit) if unit is not None else parent_unit
        else:
            candidate = data.get("unit_id")
            unit_id = candidate if isinstance(candidate, str) and candidate else parent_unit
        starts.append(ChildStart(index, data, business_key, unit_id))
    return starts


def child_output(engine: Any, task_spec: ExternalCall, called_outputs: list[str], data: dict[str, Any]) -> Any:
    """What a finished child hands back: the mapped variables, or for a multi-instance call its output item."""
    if task_spec.outs:
        mapped = _map(engine, task_spec.bpmn_id, task_spec.outs, data)
    elif called_outputs:
        mapped = {name: data[name] for name in called_outputs if name in data}
    else:
        mapped = dict(data)
    loop = task_spec.loop
    if loop is None:
        return mapped
    if not loop.get("output"):
        return None
    return mapped.get(loop.get("output_item") or "")


def apply_outputs(task: Task, outputs: list[Any]) -> None:
    """Hand the children's outputs (in child order) to the call task and make it READY to complete."""
    spec: ExternalCall = task.task_spec
    loop = spec.loop
    if loop is None:
        if outputs and isinstance(outputs[0], dict):
            task.data.update(outputs[0])
    elif loop.get("output"):
        task.data[loop["output"]] = list(outputs)
    task.internal_data["call"] = {**task.internal_data.get("call", {}), "status": "done"}
    task._set_state(TaskState.READY)


def thrown_events(workflow: BpmnWorkflow) -> list[Any]:
    """Error and escalation events a (child) workflow threw that nothing inside it caught; removed from it."""
    kept: list[Any] = []
    thrown: list[Any] = []
    for event in workflow.bpmn_events:
        kind = (ErrorEventDefinition, EscalationEventDefinition)
        (thrown if isinstance(event.event_definition, kind) else kept).append(event)
    workflow.bpmn_events = kept
    return thrown
