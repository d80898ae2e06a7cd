"""The unit's implementation plan and the registration/pledge processes, through the services on a real database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.errors import PermissionDeniedError, ValidationError
from engine.services import tasks
from tests.test_lifecycle_helpers import (
    complete,
    completions,
    ctx_fixture,  # noqa: F401 - fixture
    data_of,
    lifecycle_fixture,  # noqa: F401 - fixture
    one_task,
    open_tasks,
    start,
    status_of,
    who,
)

PLAN = {"plan_title": "Kế hoạch thi đua 2024 của Sở Y tế", "targets": "100% đăng ký", "activities": "Quý II - IV"}


def test_plan_drafted_approved_and_accepted(sessions, ctx, lifecycle):
    iid = start(sessions, ctx, "unit_plan", unit="SYT", unit_id="SYT")
    draft = one_task(sessions, iid, "plan_draft")
    assert who(draft) == ("plan_draft", "unit_officer", "SYT")
    assert draft.form_key == "plan_draft"
    # 10 working days from Tuesday 19/3/2024, 09:00 in Việt Nam.
    assert draft.due_at.replace(tzinfo=UTC) == datetime(2024, 4, 2, 2, 0, tzinfo=UTC)

    with sessions() as s, s.begin(), pytest.raises(PermissionDeniedError):
        tasks.complete(s, ctx, draft.id, "hoa.nt", PLAN)  # an officer of another unit
    with sessions() as s, s.begin(), pytest.raises(ValidationError) as bad:
        tasks.complete(s, ctx, draft.id, "linh.tm", {"plan_title": "KH"})
    assert set(bad.value.details["fields"]) == {"targets", "activities"}

    complete(sessions, ctx, draft, "linh.tm", PLAN)
    head = one_task(sessions, iid, "plan_head_review")
    assert who(head) == ("plan_head_review", "unit_head", "SYT")
    complete(sessions, ctx, head, "duc.hm", {"head_decision": "approve"})
    review = one_task(sessions, iid, "plan_home_affairs_review")
    assert who(review) == ("plan_home_affairs_review", "home_affairs", "SNV")
    complete(sessions, ctx, review, "an.tdkt", {"review_decision": "accept"})

    assert status_of(sessions, iid) == "completed"
    assert data_of(sessions, ctx, iid)["plan_result"] == {
        "unit_id": "SYT",
        "status": "accepted",
        "title": PLAN["plan_title"],
    }
    assert completions(sessions, iid) == [
        ("plan_draft", "linh.tm"),
        ("plan_head_review", "duc.hm"),
        ("plan_home_affairs_review", "an.tdkt"),
    ]


def test_plan_returned_by_the_head_then_changes_asked_by_home_affairs(sessions, ctx, lifecycle):
    iid = start(sessions, ctx, "unit_plan", unit="TPAB", unit_id="TPAB")
    complete(sessions, ctx, one_task(sessions, iid, "plan_draft"), "trang.lt", PLAN)
    head = one_task(sessions, iid, "plan_head_review")
    with sessions() as s, s.begin(), pytest.raises(ValidationError):  # returning needs a comment
        tasks.complete(s, ctx, head.id, "long.pv", {"head_decision": "return"})
    complete(sessions, ctx, head, "long.pv", {"head_decision": "return", "head_comments": "Thiếu chỉ tiêu"})

    redo = one_task(sessions, iid, "plan_draft")
    assert who(redo) == ("plan_draft", "unit_officer", "TPAB")
    complete(sessions, ctx, redo, "trang.lt", PLAN | {"targets": "100% đăng ký; 5 sáng kiến"})
    complete(sessions, ctx, one_task(sessions, iid, "plan_head_review"), "long.pv", {"head_decision": "approve"})
    review = one_task(sessions, iid, "plan_home_affairs_review")
    complete(sessions, ctx, review, "binh.tdkt", {"review_decision": "request_changes", "review_comments": "Tiến độ?"})

    again = one_task(sessions, iid, "plan_draft")
    assert who(again) == ("plan_draft", "unit_officer", "TPAB")  # back to the unit, not to Sở Nội vụ
    complete(sessions, ctx, again, "trang.lt", PLAN)
    complete(sessions, ctx, one_task(sessions, iid, "plan_head_review"), "long.pv", {"head_decision": "approve"})
    complete(
        sessions, ctx, one_task(sessions, iid, "plan_home_affairs_review"), "an.tdkt", {"review_decision": "accept"}
    )
    assert status_of(sessions, iid) == "completed"
    assert [e for e, _ in completions(sessions, iid)] == [
        "plan_draft",
        "plan_head_review",
        "plan_draft",
        "plan_head_review",
        "plan_home_affairs_review",
        "plan_draft",
        "plan_head_review",
        "plan_home_affairs_review",
    ]
    assert data_of(sessions, ctx, iid)["targets"] == PLAN["targets"]


def test_registration_then_block_pledge_signed_by_every_member(sessions, ctx, lifecycle):
    iid = start(sessions, ctx, "registration", unit="SGDDT", unit_id="SGDDT")
    reg = {
        "collective_titles": [{"name": "Phòng Giáo dục", "title": "tap_the_lao_dong_xuat_sac"}],
        "individual_titles": [{"name": "Nguyễn Thị Hoa", "title": "chien_si_thi_dua_co_so"}],
    }
    complete(sessions, ctx, one_task(sessions, iid, "registration_draft"), "hoa.nt", reg)
    complete(
        sessions, ctx, one_task(sessions, iid, "registration_head_approve"), "quang.lv", {"head_decision": "approve"}
    )
    record = one_task(sessions, iid, "registration_record")
    assert who(record) == ("registration_record", "home_affairs", "SNV")
    complete(sessions, ctx, record, "an.tdkt", {"review_decision": "accept"})
    assert data_of(sessions, ctx, iid)["registration_result"] == {
        "unit_id": "SGDDT",
        "collectives": 1,
        "individuals": 1,
    }

    block = {"block_id": "khoi", "name": "Khối các sở", "leader_unit": "SGDDT", "members": ["SGDDT", "SYT", "STC"]}
    pid = start(sessions, ctx, "block_pledge", block=block)
    draft = one_task(sessions, pid, "pledge_draft")
    assert who(draft) == ("pledge_draft", "unit_officer", "SGDDT")  # the block's leader drafts
    complete(sessions, ctx, draft, "hoa.nt", {"pledge_title": "Giao ước 2024", "pledge_content": "Cam kết"})
    signing = [who(t) for t in open_tasks(sessions, pid)]
    assert sorted(signing) == [("pledge_sign", "unit_head", u) for u in ("SGDDT", "STC", "SYT")]
    heads = {"SGDDT": "quang.lv", "SYT": "duc.hm", "STC": "phuong.bt"}
    for task in open_tasks(sessions, pid):
        complete(sessions, ctx, task, heads[task.unit_id], {"signed": True})
    complete(sessions, ctx, one_task(sessions, pid, "pledge_record"), "an.tdkt", {"recorded": True})
    assert status_of(sessions, pid) == "completed"
    assert data_of(sessions, ctx, pid)["pledge_signatures"] == [True, True, True]
