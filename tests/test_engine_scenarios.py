"""Engine scenarios on real BPMN files with no database, each run straight and through save/restore per step."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core.definitions import parse_files
from engine.core.expressions import SafeScriptEngine
from engine.core.runtime import StateCodec, WorkflowRunner, human_tasks
from engine.core.serialization import make_serializer
from tests.conftest import CORPUS
from tests.engine_helpers import RUNTIME


class Driver:
    """Runs one workflow; with ``round_trip`` it saves and restores the state after every step, as the engine does."""

    def __init__(self, files: list[Path], key: str, clock, round_trip: bool, connectors=None):
        result = parse_files([(p.name, p.read_bytes()) for p in files])
        errors = [p for p in result.problems if p.severity == "error"]
        assert not errors, [str(p) for p in errors]
        self.bundle = next(b for b in result.bundles if b.key == key)
        self.engine = SafeScriptEngine(connectors=connectors)
        self.runner = WorkflowRunner(self.engine, clock)
        self.codec = StateCodec(make_serializer().registry)
        self.round_trip = round_trip
        self.workflow = self.runner.create(self.bundle.spec, self.bundle.subprocess_specs, {})

    def _cycle(self):
        if self.round_trip:
            raw = self.codec.dump(self.workflow)
            self.workflow = self.codec.load(raw, self.bundle.spec, self.bundle.subprocess_specs, self.engine)

    def start(self, data):
        for task in self.workflow.get_tasks():
            task.data.update(data)
        assert self.runner.advance(self.workflow) is None
        self._cycle()

    def ready(self) -> list[str]:
        return sorted(t.task_spec.bpmn_id for t in human_tasks(self.workflow))

    def complete(self, element_id, data):
        task = next(t for t in human_tasks(self.workflow) if t.task_spec.bpmn_id == element_id)
        failure = self.runner.complete(self.workflow, task, data)
        assert failure is None, failure
        self._cycle()

    def data(self):
        return self.workflow.last_task.data if self.workflow.last_task else {}


@pytest.fixture(params=["straight", "save_restore"])
def round_trip(request):
    return request.param == "save_restore"


def test_plan_approval_with_a_return(round_trip, clock):
    d = Driver([RUNTIME / "plan_approval.bpmn"], "plan_approval", clock, round_trip)
    d.start({"year": 2024})
    assert d.ready() == ["draft_plan"]
    d.complete("draft_plan", {"title": "A"})
    assert d.ready() == ["review_plan"]
    d.complete("review_plan", {"decision": "return"})
    assert d.ready() == ["draft_plan"]
    d.complete("draft_plan", {"title": "B"})
    d.complete("review_plan", {"decision": "approve"})
    assert d.workflow.is_completed()
    assert d.data()["title"] == "B" and d.data()["year"] == 2024


@pytest.mark.parametrize("name", ["syncSequence1Step", "syncSequence5Steps", "syncSequence15Steps"])
def test_camunda_sequences_run_to_the_end(round_trip, clock, name):
    d = Driver([CORPUS / "camunda-perf" / f"SequencePerformanceTest.{name}.bpmn"], "process", clock, round_trip)
    d.start({})
    steps = 0
    while d.ready():  # manual tasks wait for a person in SpiffArena's reading of BPMN
        d.complete(d.ready()[0], {"step": steps})
        steps += 1
    assert d.workflow.is_completed()
    assert steps in (0, int(name.removeprefix("syncSequence").removesuffix("Steps").removesuffix("Step")))


def test_camunda_single_user_task(round_trip, clock):
    d = Driver([CORPUS / "camunda-perf" / "UserTaskPerformanceTest.singleTask.bpmn"], "process", clock, round_trip)
    d.start({})
    assert len(d.ready()) == 1
    d.complete(d.ready()[0], {"done": True})
    assert d.workflow.is_completed()
