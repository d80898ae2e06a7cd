"""``tdkt bench``: the cost of one task completion through the engine against plain SpiffWorkflow.

The floor is SpiffWorkflow alone on the same model in memory, serializing its JSON and restoring it once per
human step. The engine's path is the full service: load, check, complete, run to the next wait state, and save
state, task rows and audit events in one transaction on a real database. Both run in the same process, in the
same run, so the ratio holds on a noisy machine.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import click

STEPS = 10


def sequence_model(steps: int) -> bytes:
    """A process of ``steps`` user tasks in a row, all in one lane (a role)."""
    nodes = "".join(f'<bpmn:userTask id="t{i}" name="Step {i}" />' for i in range(steps))
    refs = "".join(f"<bpmn:flowNodeRef>t{i}</bpmn:flowNodeRef>" for i in range(steps))
    chain = ["start", *[f"t{i}" for i in range(steps)], "end"]
    flows = "".join(
        f'<bpmn:sequenceFlow id="f{i}" sourceRef="{a}" targetRef="{b}" />'
        for i, (a, b) in enumerate(zip(chain, chain[1:], strict=False))
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="bench" '
        'targetNamespace="http://tdkt.example/bench">'
        '<bpmn:process id="bench_sequence" isExecutable="true">'
        f'<bpmn:laneSet id="ls"><bpmn:lane id="unit_officer" name="Officer">{refs}</bpmn:lane></bpmn:laneSet>'
        f'<bpmn:startEvent id="start" />{nodes}<bpmn:endEvent id="end" />{flows}'
        "</bpmn:process></bpmn:definitions>"
    ).encode()


def _floor(model: bytes, instances: int) -> list[float]:
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from SpiffWorkflow.util.task import TaskState

    from engine.core.definitions import parse_files
    from engine.core.expressions import SafeScriptEngine
    from engine.core.serialization import make_serializer

    bundle = parse_files([("bench.bpmn", model)]).bundles[0]
    serializer = make_serializer()
    engine = SafeScriptEngine()
    timings = []
    for _ in range(instances):
        wf = BpmnWorkflow(bundle.spec, bundle.subprocess_specs, script_engine=engine)
        wf.do_engine_steps()
        state = serializer.serialize_json(wf)
        while True:
            t0 = time.perf_counter()
            wf = serializer.deserialize_json(state)
            wf.script_engine = engine
            ready = wf.get_tasks(state=TaskState.READY, manual=True)
            if not ready:
                break
            ready[0].data.update({"ok": True})
            ready[0].run()
            wf.do_engine_steps()
            state = serializer.serialize_json(wf)
            timings.append(time.perf_counter() - t0)
    return timings


def _engine(model: bytes, instances: int, url: str) -> list[float]:
    from datetime import UTC, datetime

    from sqlalchemy import select

    from engine.clock import ManualClock
    from engine.persistence.db import make_engine, make_session_factory
    from engine.persistence.models import Base, HumanTask, Membership, OrgUnit, Role, User
    from engine.services import instances as instance_service
    from engine.services import tasks as task_service
    from engine.services.context import EngineContext
    from engine.services.definitions import deploy

    engine = make_engine(url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    sessions = make_session_factory(engine)
    clock = ManualClock(datetime(2024, 3, 19, 2, 0, tzinfo=UTC))
    ctx = EngineContext(clock=clock)
    with sessions() as s, s.begin():
        s.add_all(
            [OrgUnit(id="U1", name="Unit 1"), Role(id="unit_officer", name="Officer"), User(id="u1", full_name="U")]
        )
        s.flush()
        s.add(Membership(user_id="u1", role_id="unit_officer", unit_id="U1"))
        deploy(s, [("bench.bpmn", model)], clock)
    timings = []
    for _ in range(instances):
        with sessions() as s, s.begin():
            iid = instance_service.start_instance(s, ctx, key="bench_sequence", unit_id="U1").id
        while True:
            t0 = time.perf_counter()
            with sessions() as s, s.begin():
                task_id = s.scalar(select(HumanTask.id).where(HumanTask.instance_id == iid, HumanTask.status == "open"))
                if task_id is None:
                    break
                task_service.complete(s, ctx, task_id, "u1", {"ok": True})
            timings.append(time.perf_counter() - t0)
    engine.dispose()
    return timings


def _summary(timings: list[float]) -> dict[str, float]:
    ordered = sorted(timings)
    return {
        "n": len(ordered),
        "median_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        "per_s": len(ordered) / sum(ordered),
    }


@click.command("bench")
@click.option("--quick", is_flag=True, help="A short run (about a minute at most).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write results here.")
@click.option("--url", help="Database URL for the engine run (default: a temporary SQLite file).")
def command(quick: bool, json_path: Path | None, url: str | None) -> None:
    """Measure task completion through the engine against plain SpiffWorkflow."""
    instances = 20 if quick else 200
    model = sequence_model(STEPS)
    with tempfile.TemporaryDirectory() as tmp:
        url = url or f"sqlite:///{tmp}/bench.sqlite3"
        _floor(model, 3)  # warm up imports and caches
        floor = _summary(_floor(model, instances))
        eng = _summary(_engine(model, instances, url))
    ratio = eng["median_ms"] / floor["median_ms"]
    results: dict[str, Any] = {
        "workload": f"sequence of {STEPS} user tasks",
        "floor": floor,
        "engine": eng,
        "completion_vs_floor_ratio": round(ratio, 2),
        "task_completions_per_s": round(eng["per_s"], 1),
        "completion_p99_ms": round(eng["p99_ms"], 3),
        "http_completions_per_s": None,
        "inbox_p99_ms": None,
        "overdue_query_ms": None,
        "timer_lateness_p99_s": None,
        "bytes_per_finished_instance": None,
    }
    click.echo(f"{'':24}{'median ms':>12}{'p99 ms':>10}{'per s':>10}")
    for name, row in (("floor (SpiffWorkflow)", floor), ("engine (service, DB)", eng)):
        click.echo(f"{name:24}{row['median_ms']:12.3f}{row['p99_ms']:10.3f}{row['per_s']:10.1f}")
    click.echo(f"completion / floor: {ratio:.2f}x")
    if json_path:
        json_path.write_text(json.dumps(results, indent=2))
