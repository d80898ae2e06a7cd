"""The floor: plain SpiffWorkflow running a workload in memory, saving and restoring its JSON once per step.

This is the least any persistent engine on this library can do: SpiffWorkflow's own ``BpmnWorkflowSerializer``
with the spec included (its default, what a plain application stores), or without the spec (``with_spec=False``,
the state codec our engine stores, the spec living with the definition). The same parsed specs and the same
script engine as the engine's, so expressions cost the same on both sides.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.bench.workloads import HUMAN, Workload
from engine.core.definitions import parse_files
from engine.core.expressions import SafeScriptEngine
from engine.core.runtime import StateCodec
from engine.core.serialization import make_serializer


def state_io(
    bundle: Any, engine: Any, *, with_spec: bool
) -> tuple[Callable[[BpmnWorkflow], Any], Callable[[Any], BpmnWorkflow]]:
    """How the floor saves and restores a workflow: SpiffWorkflow's own serializer with the spec (``with_spec``,
    what a plain application stores) or our codec without it (what the engine stores)."""
    serializer = make_serializer()
    codec = StateCodec(serializer.registry)

    def dump(wf: BpmnWorkflow) -> Any:
        return serializer.serialize_json(wf) if with_spec else codec.dump(wf)

    def load(state: Any) -> BpmnWorkflow:
        if with_spec:
            wf = serializer.deserialize_json(state)
            wf.script_engine = engine
            return wf
        return codec.load(state, bundle.spec, bundle.subprocess_specs, engine)

    return dump, load


def run_floor(workload: Workload, instances: int, *, with_spec: bool = True) -> dict[str, list[float]]:
    """Seconds per instance start (create, run to the first wait, save) and per human step (load, complete the
    task, run to the next wait, save)."""
    bundle = parse_files(workload.files).bundles[0]
    engine = SafeScriptEngine()
    dump, load = state_io(bundle, engine, with_spec=with_spec)

    starts: list[float] = []
    steps: list[float] = []
    for _ in range(instances):
        t0 = time.perf_counter()
        wf = BpmnWorkflow(bundle.spec, bundle.subprocess_specs, script_engine=engine)
        wf.data.update(workload.data)
        wf.do_engine_steps()
        state = dump(wf)
        starts.append(time.perf_counter() - t0)
        while True:
            t0 = time.perf_counter()
            wf = load(state)
            if workload.step == HUMAN:
                ready = wf.get_tasks(state=TaskState.READY, manual=True)
                if not ready:
                    break
                ready[0].data.update(workload.submit)
                ready[0].run()
            else:
                break
            wf.do_engine_steps()
            state = dump(wf)
            steps.append(time.perf_counter() - t0)
    return {"start": starts, "step": steps}
