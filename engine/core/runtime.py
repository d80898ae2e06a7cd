"""Running one instance: create, restore from saved state with a cached spec, advance, find human tasks.

The saved state is SpiffWorkflow's own JSON *without* the spec: the spec is parsed once per deployed version
and cached, so restoring an instance never rebuilds it.
"""

from __future__ import annotations

import json
import threading
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.helpers.encoder import create_encoder
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SERIALIZER_VERSION
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from engine.clock import Clock
from engine.core.spiff_clock import using_clock
from engine.errors import ConflictError, ExpressionError, IncidentError

__all__ = ["SERIALIZER_VERSION", "StateCodec", "StepFailure", "WorkflowRunner", "state_json"]

# A state larger than this is stored zlib-compressed (level 1: ~8x smaller at ~3 ms per MB). Small states, the
# common case, stay plain JSON and cost nothing extra; large ones (a province's nomination round with every
# candidate) write and read several times fewer database pages. A zlib stream starts with 0x78, JSON with "{".
COMPRESS_ABOVE = 8192


def state_json(raw: bytes) -> bytes:
    """The JSON text of a saved state, whether it was stored compressed or not."""
    return zlib.decompress(raw) if raw[:1] == b"\x78" else raw


@dataclass
class StepFailure:
    """A task that raised while the engine ran it: the instance stops there as an incident."""

    task_guid: str
    element_id: str
    message: str
    expression: str | None = None


class _WorkflowParts(BpmnWorkflowConverter):  # type: ignore[misc]
    """SpiffWorkflow's own workflow converter, used for its parts (subprocesses, default attributes) and
    deliberately not registered, so the registry's full converter (spec included) stays as it is."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry
        self.target_class = BpmnWorkflow
        self.typename = "BpmnWorkflow"


class StateCodec:
    """Instance state <-> bytes, leaving the spec out (it lives with the definition)."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry
        self._encoder = create_encoder(registry, None)
        self._workflow_converter = _WorkflowParts(registry)

    def dump(self, workflow: BpmnWorkflow) -> bytes:
        reg = self.registry
        reg._encoder_mode = True  # convert lazily inside json.dumps, as SpiffWorkflow's own fast path does
        try:
            dct = {
                "serializer_version": SERIALIZER_VERSION,
                "data": reg.convert(reg.clean(workflow.data)),
                "correlations": workflow.correlations,
                "last_task": str(workflow.last_task.id) if workflow.last_task is not None else None,
                "success": workflow.success,
                "completed": workflow.completed,
                "tasks": {str(k): reg.convert(v) for k, v in workflow.tasks.items()},
                "root": str(workflow.task_tree.id),
                "subprocesses": {str(k): reg.convert(v) for k, v in workflow.subprocesses.items()},
                "bpmn_events": reg.convert(workflow.bpmn_events),
            }
            raw = json.dumps(dct, cls=self._encoder, separators=(",", ":")).encode()
        finally:
            reg._encoder_mode = False
        return zlib.compress(raw, 1) if len(raw) > COMPRESS_ABOVE else raw

    def load(
        self,
        raw: bytes,
        spec: BpmnProcessSpec,
        subprocess_specs: dict[str, BpmnProcessSpec],
        script_engine: Any,
    ) -> BpmnWorkflow:
        dct = json.loads(state_json(raw))
        version = dct.pop("serializer_version", None)
        if version != SERIALIZER_VERSION:
            raise ConflictError(
                f"instance state was saved by serializer {version}; this engine reads {SERIALIZER_VERSION}"
            )
        reg = self.registry
        workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=script_engine, deserializing=True)
        workflow.tasks = {UUID(k): reg.restore(v, workflow=workflow) for k, v in dct["tasks"].items()}
        workflow.task_tree = workflow.tasks[UUID(dct["root"])]
        self._workflow_converter.set_default_attributes(workflow, dct)
        self._workflow_converter.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = reg.restore(dct.get("bpmn_events", []))
        return workflow


class WorkflowCache:
    """Workflows this process saved, by instance, to skip SpiffWorkflow's restore on the instance's next step.

    An entry is used only when the instance's row holds, byte for byte, the state the workflow was saved as and
    the same definition: then restoring it would rebuild this very workflow. Whatever happened in between — the
    step rolled back, another process moved the instance on, the instance was migrated — shows in the row, and
    the entry is not used. ``take`` removes the entry (the caller owns the object from then on, may change it and
    may fail); only a save (``keep``, right after the state was dumped) puts it back. Bounded in entries and in
    the size of the states it keeps; ``size=0`` keeps nothing.
    """

    def __init__(self, size: int = 128, max_state_bytes: int = 64 * 1024) -> None:
        self.size = size
        self.max_state_bytes = max_state_bytes
        self._entries: OrderedDict[int, tuple[int, bytes, BpmnWorkflow]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def take(self, instance_id: int, definition_id: int, state: bytes) -> BpmnWorkflow | None:
        with self._lock:
            entry = self._entries.pop(instance_id, None)
        if entry is not None and entry[0] == definition_id and entry[1] == state:
            self.hits += 1
            return entry[2]
        self.misses += 1
        return None

    def keep(self, instance_id: int, definition_id: int, state: bytes, workflow: BpmnWorkflow) -> None:
        if self.size <= 0 or len(state) > self.max_state_bytes:
            return
        with self._lock:
            self._entries[instance_id] = (definition_id, state, workflow)
            self._entries.move_to_end(instance_id)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def _failure_from(task: Task | None, exc: BaseException) -> StepFailure:
    expression = None
    message = str(exc)
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ExpressionError):
            expression = cause.expression
            message = cause.message
            break
        if isinstance(cause, IncidentError):
            message = cause.message
            break
        cause = cause.__cause__ or getattr(cause, "error", None) or getattr(cause, "exception", None)
        if cause is exc:
            break
    element_id = task.task_spec.bpmn_id if task is not None else "?"
    guid = str(task.id) if task is not None else ""
    return StepFailure(guid, element_id or task.task_spec.name if task else "?", message, expression)


class WorkflowRunner:
    """Advances workflows on an injected clock and reports a failing step instead of raising it."""

    def __init__(self, script_engine: Any, clock: Clock) -> None:
        self.script_engine = script_engine
        self.clock = clock

    def create(
        self, spec: BpmnProcessSpec, subprocess_specs: dict[str, BpmnProcessSpec], data: dict[str, Any]
    ) -> BpmnWorkflow:
        workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=self.script_engine)
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(data)
        return workflow

    def advance(self, workflow: BpmnWorkflow) -> StepFailure | None:
        """Run engine steps (gateways, scripts, services, due timers) until only waits remain."""
        running: list[Task | None] = [None]

        def will_run(task: Task) -> None:
            running[0] = task

        with using_clock(self.clock):
            try:
                workflow.refresh_timers()
                workflow.do_engine_steps(will_complete_task=will_run)
            except (SpiffWorkflowException, ExpressionError, IncidentError) as exc:
                task = running[0] or getattr(exc, "task", None)
                return _failure_from(task, exc)
        return None

    def complete(self, workflow: BpmnWorkflow, task: Task, data: dict[str, Any]) -> StepFailure | None:
        if task.state != TaskState.READY:
            raise ConflictError(f"task {task.task_spec.bpmn_id} is {TaskState.get_name(task.state)}, not READY")
        task.data.update(data)
        with using_clock(self.clock):
            try:
                task.run()
            except (SpiffWorkflowException, ExpressionError, IncidentError) as exc:
                return _failure_from(task, exc)
        return self.advance(workflow)

    def retry(self, workflow: BpmnWorkflow) -> StepFailure | None:
        """Run again the tasks that failed (after an operator fixed the cause, e.g. registered a connector)."""
        for task in workflow.get_tasks(state=TaskState.ERROR):
            task._set_state(TaskState.READY)
        return self.advance(workflow)

    def send_event(self, workflow: BpmnWorkflow, event_definition: Any, payload: Any) -> StepFailure | None:
        with using_clock(self.clock):
            workflow.catch(BpmnEvent(event_definition, payload))
        return self.advance(workflow)


def human_tasks(workflow: BpmnWorkflow) -> list[Task]:
    """READY tasks that wait for a person (user and manual tasks), in the main process and subprocesses."""
    return list(workflow.get_tasks(state=TaskState.READY, manual=True))


def find_task(workflow: BpmnWorkflow, guid: str) -> Task | None:
    try:
        return workflow.get_task_from_id(UUID(guid))
    except (ValueError, KeyError, SpiffWorkflowException):
        return None


def waiting_events(workflow: BpmnWorkflow) -> set[tuple[str, str]]:
    """(kind, name) of the messages and signals the instance waits for."""
    found: set[tuple[str, str]] = set()
    for pending in workflow.waiting_events():
        kind = pending.event_type.replace("EventDefinition", "").lower()
        if kind in ("message", "signal") and pending.name:
            found.add((kind, pending.name))
    return found


_TIMER_EVENT_TYPES = {"TimeDateEventDefinition", "DurationTimerEventDefinition", "CycleTimerEventDefinition"}


def timer_due_dates(workflow: BpmnWorkflow) -> list[tuple[Task, datetime]]:
    """WAITING timer tasks with the time they fall due (as SpiffWorkflow computed it), in UTC."""
    result = []
    for pending_task in list(workflow.event_manager.tasks.values()):
        details = pending_task.task_spec.event_definition.details(pending_task)
        # TimeDateEventDefinition, DurationTimerEventDefinition, CycleTimerEventDefinition
        if details.event_type not in _TIMER_EVENT_TYPES or details.value is None:
            continue
        due = details.value
        if isinstance(due, str):
            try:
                due = datetime.fromisoformat(due)
            except ValueError:
                continue
        if isinstance(due, datetime):
            result.append((pending_task, (due if due.tzinfo else due.replace(tzinfo=UTC)).astimezone(UTC)))
    return result
