"""The models the bench runs: Camunda's engine performance models and our own nomination pipeline.

Camunda's models have no lanes; our engine gives a human task to a role through its lane, so each model gets
one lane (role ``bench_officer``) holding its human tasks. Their manual tasks become user tasks: the engine
gives manual tasks no lane metadata (no role), so nobody but an administrator could complete them. Each model's
process id is renamed to the workload's name, so all of them can be deployed side by side.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "camunda-perf"
BPMN_DIR = Path(__file__).resolve().parents[2] / "bpmn"
ROLE = "bench_officer"

# What moves an instance forward: a person completing a task, or nothing (it runs straight through).
HUMAN, NONE = "human", "none"


@dataclass(frozen=True)
class Workload:
    name: str
    key: str  # the process id to start
    files: list[tuple[str, bytes]]
    step: str  # HUMAN | NONE
    data: dict[str, Any] = field(default_factory=dict)  # start data its conditions need
    submit: dict[str, Any] = field(default_factory=dict)  # what each completion submits
    note: str | None = None
    roles: tuple[str, ...] = (ROLE,)
    driver: str = "generic"  # "generic": one task at a time with ``submit``; "nomination": engine.bench.nomination
    in_headline: bool = True  # counted in the completion headline (only comparable human-step workloads)


_CAMUNDA = [
    # (workload name, file, step kind)
    ("sequence_1", "SequencePerformanceTest.syncSequence1Step.bpmn", HUMAN),
    ("sequence_5", "SequencePerformanceTest.syncSequence5Steps.bpmn", HUMAN),
    ("sequence_15", "SequencePerformanceTest.syncSequence15Steps.bpmn", HUMAN),
    ("user_task", "UserTaskPerformanceTest.singleTask.bpmn", HUMAN),
    ("gateway_1", "ExclusiveGatewayPerformanceTest.sync1gateway.bpmn", NONE),
    ("gateway_2", "ExclusiveGatewayPerformanceTest.sync2gateways.bpmn", NONE),
    ("gateway_5", "ExclusiveGatewayPerformanceTest.sync5gateways.bpmn", NONE),
    ("boundary_interrupting", "BoundaryEventPerformanceTest.interruptingOnTask.bpmn", NONE),
    ("boundary_non_interrupting", "BoundaryEventPerformanceTest.nonInterruptingOnTask.bpmn", NONE),
]
# Camunda's receive tasks there carry no message: Camunda parks them (async), SpiffWorkflow runs them straight
# through, so each start arms the message boundary event and disarms it when the task ends.
_BOUNDARY_NOTE = "receive task without a message runs straight through: the start arms and disarms the boundary"

_HUMAN_TAG = re.compile(r"<(?P<p>\w+:)?userTask\b[^>]*?\sid=\"(?P<id>[^\"]+)\"")
_PROCESS_TAG = re.compile(r"<(?P<p>\w+:)?process\b(?P<attrs>[^>]*)>")


def with_lane(xml: str, process_id: str, role: str = ROLE) -> str:
    """Rename the (single) process to ``process_id`` and put its human tasks in one lane named ``role``."""
    xml = re.sub(r"(</?(?:\w+:)?)manualTask\b", r"\1userTask", xml)
    match = _PROCESS_TAG.search(xml)
    if match is None:
        raise ValueError("no <process> element")
    prefix = match.group("p") or ""
    attrs = re.sub(r'\sid="[^"]*"', f' id="{process_id}"', match.group("attrs"), count=1)
    ids = [m.group("id") for m in _HUMAN_TAG.finditer(xml)]
    lane = ""
    if ids:
        refs = "".join(f"<{prefix}flowNodeRef>{i}</{prefix}flowNodeRef>" for i in ids)
        lane = f'<{prefix}lane id="{role}" name="{role}">{refs}</{prefix}lane>'
        lane = f'<{prefix}laneSet id="bench_lanes">{lane}</{prefix}laneSet>'
    return xml[: match.start()] + f"<{prefix}process{attrs}>" + lane + xml[match.end() :]


def camunda_workloads(names: set[str] | None = None) -> list[Workload]:
    found = []
    for name, file, step in _CAMUNDA:
        if names is not None and name not in names:
            continue
        xml = with_lane((CORPUS / file).read_text(encoding="utf-8"), name)
        found.append(
            Workload(
                name=name,
                key=name,
                files=[(file, xml.encode())],
                step=step,
                submit={},  # the models' tasks have no form: a person's completion may write nothing
                note=_BOUNDARY_NOTE if name.startswith("boundary") else None,
            )
        )
    return found


def nomination_workloads() -> tuple[list[Workload], str | None]:
    """Our nomination pipeline from ``bpmn/``, driven by ``engine.bench.nomination``; an empty list and why if the
    models are not there."""
    if not (BPMN_DIR / "nomination.bpmn").is_file():
        return [], f"no {BPMN_DIR.name}/nomination.bpmn: nomination pipeline skipped"
    from engine.bench.nomination import NOTE, nomination_workload

    return [nomination_workload()], NOTE


def all_workloads(names: set[str] | None = None) -> tuple[list[Workload], list[str]]:
    workloads = camunda_workloads(names)
    notes = []
    if names is None or "nomination" in names:
        extra, note = nomination_workloads()
        workloads += extra
        if note:
            notes.append(note)
    return workloads, notes


def known_names() -> set[str]:
    return {name for name, _, _ in _CAMUNDA} | {"nomination"}
