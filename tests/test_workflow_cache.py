"""The workflow cache (``EngineContext.workflows``): a step reuses the workflow its process saved only while the
instance's row still holds the very state it was saved as — never after a rolled-back step, another process's
step, or anything else that changed the row. Each context stands for one process."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.core.runtime import WorkflowCache
from engine.errors import ConflictError
from engine.persistence.models import HumanTask, Instance
from engine.services import instances, tasks
from engine.services.context import EngineContext
from tests.engine_helpers import RUNTIME, deploy_files, make_org

DRAFT = {"title": "Kế hoạch", "targets": 2}


def _open_task(sessions, iid: int) -> tuple[int, str]:
    with sessions() as s:
        row = s.execute(
            select(HumanTask.id, HumanTask.element_id).where(
                HumanTask.instance_id == iid, HumanTask.status.in_(("open", "claimed"))
            )
        ).one()
        return row[0], row[1]


def _start(sessions, clock, ctx: EngineContext) -> int:
    with sessions() as s, s.begin():
        make_org(s)
        deploy_files(
            s, clock, RUNTIME / "plan_approval.bpmn", RUNTIME / "plan_draft.json", RUNTIME / "plan_review.json"
        )
        return instances.start_instance(s, ctx, key="plan_approval", unit_id="SYT", actor="an.officer").id


def _complete(sessions, ctx: EngineContext, task_id: int, user: str, data: dict) -> None:
    with sessions() as s, s.begin():
        tasks.complete(s, ctx, task_id, user, data)


def test_the_next_step_reuses_the_saved_workflow(sessions, clock) -> None:
    ctx = EngineContext(clock=clock)
    iid = _start(sessions, clock, ctx)
    task_id, element = _open_task(sessions, iid)
    assert element == "draft_plan" and len(ctx.workflows) == 1
    _complete(sessions, ctx, task_id, "an.officer", DRAFT)
    assert (ctx.workflows.hits, ctx.workflows.misses) == (1, 0)
    task_id, element = _open_task(sessions, iid)
    assert element == "review_plan"
    _complete(sessions, ctx, task_id, "cuong.head", {"decision": "approve"})
    assert ctx.workflows.hits == 2
    assert len(ctx.workflows) == 0  # a finished instance has no next step: nothing kept
    with sessions() as s:
        assert s.get(Instance, iid).status == "completed"


def test_a_rolled_back_step_leaves_nothing_behind(sessions, clock) -> None:
    ctx = EngineContext(clock=clock)
    iid = _start(sessions, clock, ctx)
    draft, _ = _open_task(sessions, iid)
    _complete(sessions, ctx, draft, "an.officer", DRAFT)
    review, _ = _open_task(sessions, iid)
    with pytest.raises(RuntimeError, match="after the step"), sessions() as s, s.begin():
        tasks.complete(s, ctx, review, "cuong.head", {"decision": "return"})
        raise RuntimeError("something failed after the step")  # the step's writes roll back
    # the workflow the rolled-back step saved is not the row's: the next step restores the row
    misses = ctx.workflows.misses
    _complete(sessions, ctx, review, "cuong.head", {"decision": "approve"})
    assert ctx.workflows.misses == misses + 1
    with sessions() as s:
        assert s.get(Instance, iid).status == "completed"  # approved, not the rolled-back return


def test_another_process_s_step_is_seen(sessions, clock) -> None:
    one, other = EngineContext(clock=clock), EngineContext(clock=clock)
    iid = _start(sessions, clock, one)
    draft, _ = _open_task(sessions, iid)
    _complete(sessions, one, draft, "an.officer", DRAFT)  # ``one`` keeps the workflow waiting for the review
    review, _ = _open_task(sessions, iid)
    _complete(sessions, other, review, "cuong.head", {"decision": "return"})  # back to the officer, elsewhere
    redraft, element = _open_task(sessions, iid)
    assert element == "draft_plan"
    hits = one.workflows.hits
    _complete(sessions, one, redraft, "an.officer", {"title": "Kế hoạch sửa", "targets": 3})
    assert one.workflows.hits == hits  # its copy was older than the row: restored from the row instead
    review2, element = _open_task(sessions, iid)
    assert element == "review_plan"
    with sessions() as s:
        assert s.get(Instance, iid).version == 4


def test_a_refused_completion_does_not_break_the_next(sessions, clock) -> None:
    ctx = EngineContext(clock=clock)
    iid = _start(sessions, clock, ctx)
    draft, _ = _open_task(sessions, iid)
    _complete(sessions, ctx, draft, "an.officer", DRAFT)
    with pytest.raises(ConflictError), sessions() as s, s.begin():
        tasks.complete(s, ctx, draft, "an.officer", DRAFT)  # already completed
    review, _ = _open_task(sessions, iid)
    _complete(sessions, ctx, review, "cuong.head", {"decision": "approve"})
    with sessions() as s:
        assert s.get(Instance, iid).status == "completed"


def test_the_cache_is_bounded() -> None:
    cache = WorkflowCache(size=2, max_state_bytes=10)
    marker = object()
    cache.keep(1, 7, b"a", marker)  # type: ignore[arg-type]
    cache.keep(2, 7, b"b", marker)  # type: ignore[arg-type]
    cache.keep(3, 7, b"c", marker)  # type: ignore[arg-type]
    cache.keep(4, 7, b"x" * 11, marker)  # type: ignore[arg-type]  # too big to keep
    assert len(cache) == 2
    assert cache.take(1, 7, b"a") is None  # the oldest went
    assert cache.take(2, 8, b"b") is None  # another definition (a migrated instance)
    assert cache.take(3, 7, b"c") is marker
    assert cache.take(3, 7, b"c") is None  # taken: gone until saved again
    off = WorkflowCache(size=0)
    off.keep(1, 7, b"a", marker)  # type: ignore[arg-type]
    assert len(off) == 0
