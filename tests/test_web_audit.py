"""The auditor's views through Flask's test client on the real database: the instance search and its filters
(bounded: the same number of queries whatever the page holds), the instance page's diagram data, timeline and
chain status, the CSV and JSON exports (the same rows, field by field), and who may see what."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest
from sqlalchemy import event, select, update

from engine.persistence.models import AuditEvent, AuditHead, HumanTask, Instance
from engine.services import tasks
from engine.services.audit_views import EXPORT_COLUMNS, diagram, timeline
from engine.services.context import EngineContext
from engine.services.definitions import deploy
from engine.services.instances import start_instance
from tests.api_support import PLAN, World
from tests.api_support import world as world  # noqa: F401 - fixture
from tests.engine_helpers import RUNTIME, make_org
from tests.test_api_called_instances import campaign_fixture as campaign_fixture  # noqa: F401 - fixture
from tests.test_lifecycle_helpers import base_data
from tests.test_runtime_services import only_open_task, start_plan
from tests.test_web import text, web_login


def _step(sessions: Any, ctx: Any, instance_id: int, user: str, data: dict[str, Any]) -> None:
    with sessions() as s, s.begin():
        query = select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.status.in_(("open", "claimed")))
        (row,) = s.scalars(query)
        tasks.complete(s, ctx, row.id, user, data)


@pytest.fixture
def finished(world: World, sessions) -> World:
    """Sở Y tế's plan run to its end: drafted, returned by the head, redrafted, approved, accepted."""
    iid = world.syt_instance
    _step(sessions, world.ctx, iid, "linh.tm", PLAN)
    _step(sessions, world.ctx, iid, "duc.hm", {"head_decision": "return", "head_comments": "Thiếu chỉ tiêu cụ thể"})
    _step(sessions, world.ctx, iid, "linh.tm", PLAN | {"targets": "100% đăng ký; 5 sáng kiến"})
    _step(sessions, world.ctx, iid, "duc.hm", {"head_decision": "approve"})
    _step(sessions, world.ctx, iid, "an.tdkt", {"review_decision": "accept"})
    return world


def _found(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-instance-id="(\d+)"', page)]


def _auditor(world: World):
    client = world.client()
    web_login(client, "kiem.tra")
    return client


def test_the_search_filters_by_process_unit_key_status_dates_and_actor(finished: World):
    auditor = _auditor(finished)
    syt, sgd = finished.syt_instance, finished.sgd_instance
    assert _found(text(auditor.get("/instances"))) == [sgd, syt]
    cases = {
        "process=unit_plan": [sgd, syt],
        "process=no_such_process": [],
        "unit=SYT": [syt],
        "business_key=KH-S": [sgd, syt],  # the beginning of a key
        "business_key=KH-SGDDT": [sgd],
        "status=completed": [syt],
        "status=running&unit=SGDDT": [sgd],
        "started_from=2024-03-19&started_to=2024-03-19": [sgd, syt],  # local days, both ends included
        "started_to=2024-03-18": [],
        "ended_from=2024-03-19": [syt],
        "actor=duc.hm": [syt],
        "actor=Hoàng Minh": [syt],  # part of the head's full name, Vietnamese marks and all
        "actor=hoàng minh đức": [syt],
        "actor=Lê Hoài An&unit=SGDDT": [],
        "actor=nobody.here": [],
    }
    for query, expected in cases.items():
        assert _found(text(auditor.get(f"/instances?{query}"))) == expected, query


def test_a_bad_filter_is_named_and_an_officer_searches_only_their_units(finished: World):
    auditor = _auditor(finished)
    answer = auditor.get("/instances?started_from=19/03/2024")
    assert answer.status_code == 400
    assert "started_from must be a date as YYYY-MM-DD" in text(answer)
    assert auditor.get("/instances?status=lost").status_code == 400
    officer = finished.client()
    web_login(officer, "hoa.nt")  # Sở GD&ĐT
    page = text(officer.get("/instances?process=unit_plan"))
    assert _found(page) == [finished.sgd_instance]
    assert 'name="actor"' not in page and "search-export-csv" not in page
    # the actor filter is the audit trail's business: an officer's is ignored, not applied
    assert _found(text(officer.get("/instances?actor=nobody.here"))) == [finished.sgd_instance]
    assert 'name="actor"' in text(auditor.get("/instances"))


def test_the_search_page_costs_the_same_queries_for_two_or_fifty_instances(world: World, sessions, db_engine):
    auditor = _auditor(world)
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    def queries(url: str) -> int:
        statements.clear()
        event.listen(db_engine, "before_cursor_execute", count)
        try:
            assert auditor.get(url).status_code == 200
        finally:
            event.remove(db_engine, "before_cursor_execute", count)
        return len(statements)

    _step(sessions, world.ctx, world.syt_instance, "linh.tm", PLAN)
    two = queries("/instances?process=unit_plan")
    by_actor = queries("/instances?process=unit_plan&actor=Trần Mỹ Linh")
    with sessions() as s, s.begin():
        for n in range(49):
            unit = ("SYT", "SGDDT", "STC")[n % 3]
            data = base_data(unit_id=unit)
            start_instance(s, world.ctx, key="unit_plan", business_key=f"KH-{n}", unit_id=unit, data=data)
    page = text(auditor.get("/instances?process=unit_plan"))
    assert len(_found(page)) == 50 and "Trang sau" in page  # a page of 50, and a next one
    assert _found(text(auditor.get("/instances?process=unit_plan&page=2"))) == [world.syt_instance]
    assert queries("/instances?process=unit_plan") == two
    assert queries("/instances?process=unit_plan&actor=Trần Mỹ Linh") == by_actor
    assert _found(text(auditor.get("/instances?actor=Trần Mỹ Linh"))) == [world.syt_instance]


def _rows(answer) -> list[dict[str, str]]:
    body = answer.get_data()
    assert body.startswith(b"\xef\xbb\xbf"), "the CSV starts with a UTF-8 byte order mark"
    reader = csv.DictReader(io.StringIO(body.decode("utf-8-sig")))
    assert tuple(reader.fieldnames or ()) == EXPORT_COLUMNS
    return list(reader)


def _same_rows(csv_rows: list[dict[str, str]], json_rows: list[dict[str, Any]]) -> None:
    assert len(csv_rows) == len(json_rows) > 0
    for got, row in zip(csv_rows, json_rows, strict=True):
        for column in EXPORT_COLUMNS:
            value = row[column]
            if column == "data":
                assert json.loads(got[column]) == value, (row["seq"], column)
            else:
                assert got[column] == ("" if value is None else str(value)), (row["seq"], column)


def test_an_instances_trail_as_csv_and_json_holds_the_same_rows(finished: World):
    auditor = finished.client("kiem.tra")
    url = f"/api/v1/instances/{finished.syt_instance}/audit"
    as_json = auditor.get(url).get_json()
    assert auditor.get(url + "?format=json").get_json() == as_json
    rows = as_json["events"]
    exported = auditor.get(url + "?format=csv")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    name = f"audit-instance-{finished.syt_instance}.csv"
    assert exported.headers["Content-Disposition"] == f'attachment; filename="{name}"'
    _same_rows(_rows(exported), rows)
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    drafted = next(r for r in rows if r["action"] == "task.completed")
    assert (drafted["label"], drafted["actor_name"], drafted["unit_name"]) == ("Hoàn thành", "Trần Mỹ Linh", "Sở Y tế")
    assert drafted["task_name"] == "Xây dựng kế hoạch thực hiện" and drafted["element_id"] == "plan_draft"
    assert drafted["at"] == "2024-03-19T02:00:00+00:00" and drafted["at_local"] == "2024-03-19T09:00:00+07:00"
    assert drafted["data"]["submitted"] == PLAN
    assert rows[-1]["action"] == "instance.completed" and rows[-1]["label"] == "Kết thúc hồ sơ"
    assert all(r["prev_hash"] == p["hash"] for p, r in zip(rows, rows[1:], strict=False))
    assert as_json["chain"]["ok"] is True and as_json["chain"]["head_hash"] == rows[-1]["hash"]


def test_the_trails_of_a_search_as_csv_and_json(finished: World):
    auditor = finished.client("kiem.tra")
    url = "/api/v1/audit/export?process=unit_plan&actor=Hoàng Minh Đức"
    as_json = auditor.get(url).get_json()
    assert as_json["instances"] == [finished.syt_instance] and as_json["next"] is None
    _same_rows(_rows(auditor.get(url + "&format=csv")), as_json["events"])
    both = auditor.get("/api/v1/audit/export?business_key=KH-&limit=1").get_json()
    assert both["instances"] == [finished.sgd_instance] and both["next"].endswith("offset=1")
    rest = auditor.get(both["next"]).get_json()
    assert rest["instances"] == [finished.syt_instance] and rest["next"] is None
    assert {r["instance_id"] for r in rest["events"]} == {finished.syt_instance}
    assert auditor.get("/api/v1/audit/export?ended_to=yesterday").status_code == 422
    assert finished.client("duc.hm").get("/api/v1/audit/export").status_code == 403


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/instances/{iid}/audit?format=xlsx",
        "/api/v1/audit/export?format=pdf",
        "/api/v1/audit/events?format=xml",
    ],
)
def test_an_unknown_format_is_a_400_naming_the_parameter(finished: World, url):
    answer = finished.client("kiem.tra").get(url.format(iid=finished.syt_instance))
    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert error["details"]["fields"] == {"format": "json or csv"} and "format" in error["message"]


def test_officers_keep_to_their_units_and_the_trail_to_those_who_may_read_it(finished: World):
    other = finished.client()
    web_login(other, "hoa.nt")  # an officer of Sở GD&ĐT
    syt = finished.syt_instance
    for url in (f"/instances/{syt}", f"/instances/{syt}/print"):
        assert other.get(url).status_code == 403, url
    assert finished.client("hoa.nt").get(f"/api/v1/instances/{syt}/audit?format=csv").status_code == 403
    own = finished.client()
    web_login(own, "linh.tm")  # the officer of Sở Y tế: the instance and its diagram, not its trail
    page = text(own.get(f"/instances/{syt}"))
    assert 'id="diagram-data"' in page and 'id="chain-status"' not in page and "Nhật ký chỉ dành cho" in page
    assert own.get(f"/instances/{syt}/print").status_code == 403
    head = finished.client()
    web_login(head, "duc.hm")  # the head of Sở Y tế reads their unit's trail
    assert "Trần Mỹ Linh" in text(head.get(f"/instances/{syt}/print"))


def _diagram(page: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="diagram-data">(.*?)</script>', page, re.S)
    assert found, "no diagram data on the page"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def test_the_instance_page_shows_the_path_the_timeline_and_the_chain(finished: World, sessions):
    auditor = _auditor(finished)
    page = text(auditor.get(f"/instances/{finished.syt_instance}"))
    picture = _diagram(page)
    assert picture["xml"].lstrip().startswith("<?xml") and 'id="plan_draft"' in picture["xml"]
    assert set(picture["completed"]) >= {"plan_start", "plan_draft", "plan_head_review", "plan_filed", "plan_end"}
    # the flows taken, the head's return among them; the changes asked by Sở Nội vụ never happened
    assert {"plan_f1", "plan_f_head_return", "plan_f_head_approve", "plan_f_ha_accept", "plan_f5"} <= set(
        picture["flows"]
    )
    assert "plan_f_ha_changes" not in picture["flows"]
    assert picture["waiting"] == [] and picture["failed"] == []
    assert picture["repeated"] == {"plan_draft": 2, "plan_head_gw": 2, "plan_head_review": 2}  # sent back once
    running = _diagram(text(auditor.get(f"/instances/{finished.sgd_instance}")))
    assert running["waiting"] == ["plan_draft"] and running["completed"] == ["plan_start"]
    assert running["flows"] == ["plan_f1"]
    # the timeline in words: event labels, task names from the BPMN, full names, units, before and after
    for words in ("Khởi tạo hồ sơ", "Giao việc", "Hoàn thành", "Kết thúc hồ sơ", "Thủ trưởng duyệt kế hoạch"):
        assert words in page, words
    assert "Trần Mỹ Linh" in page and "Hoàng Minh Đức" in page and "Lê Hoài An" in page and "Sở Nội vụ" in page
    decision = re.findall(r'<tr data-field="head_decision">(.*?)</tr>', page, re.S)
    assert len(decision) == 2
    assert "Trả lại để sửa" in decision[0] and "—" in decision[0]
    assert re.search(r'class="before">Trả lại để sửa</td><td class="after">Đồng ý</td>', decision[1])
    assert "100% đăng ký; 5 sáng kiến" in page and "Thiếu chỉ tiêu cụ thể" in page
    # the chain: verified, with its head hash
    with sessions() as s:
        head = s.scalar(select(AuditHead.hash).where(AuditHead.stream == f"instance:{finished.syt_instance}"))
    assert 'data-ok="true"' in page and head in page
    assert f'href="/api/v1/instances/{finished.syt_instance}/audit?format=csv"' in page


def test_an_altered_event_shows_as_a_broken_chain(finished: World, sessions):
    iid = finished.syt_instance
    with sessions() as s, s.begin():
        s.execute(
            update(AuditEvent).where(AuditEvent.instance_id == iid, AuditEvent.seq == 3).values(actor="someone.else")
        )
    auditor = _auditor(finished)
    page = text(auditor.get(f"/instances/{iid}"))
    assert 'data-ok="false"' in page and "Tại sự kiện số 3" in page and "the event was altered" in page
    chain = finished.client("kiem.tra").get(f"/api/v1/instances/{iid}/audit").get_json()["chain"]
    assert (chain["ok"], chain["bad_seq"]) == (False, 3)
    assert 'data-ok="true"' in text(auditor.get(f"/instances/{finished.sgd_instance}"))  # another stream is fine


def test_the_printable_page_lists_every_step_open(finished: World):
    auditor = _auditor(finished)
    page = text(auditor.get(f"/instances/{finished.syt_instance}/print"))
    assert "Nhật ký hồ sơ" in page and "Huỳnh Văn Kiên" in page and 'data-ok="true"' in page
    assert page.count('class="tl-entry') == len(
        finished.client("kiem.tra").get(f"/api/v1/instances/{finished.syt_instance}/audit").get_json()["events"]
    )
    assert "<details" not in page  # nothing folded away on paper; the very long (the rule set) cut short
    assert "cắt bớt; đủ" in page and "ký tự trong bản CSV" in page
    english = text(auditor.get(f"/instances/{finished.syt_instance}/print?lang=en"))
    assert "Audit trail" in english and "Task assigned" in english


def test_an_incident_is_marked_where_it_stopped(sessions, clock):
    """A gateway no condition matches stops the instance: the diagram marks it failed, not waiting, and the
    timeline names the incident with its message."""
    ctx = EngineContext(clock=clock)
    with sessions() as s, s.begin():
        make_org(s)
        loose = {
            "plan_draft.json": {"type": "object", "properties": {"title": {"type": "string"}}},
            "plan_review.json": {"type": "object", "properties": {"decision": {"type": "string"}}},
        }
        files = [(n, json.dumps(f).encode()) for n, f in loose.items()]
        deploy(s, [("plan_approval.bpmn", (RUNTIME / "plan_approval.bpmn").read_bytes()), *files], clock)
    iid = start_plan(sessions, ctx)
    with sessions() as s, s.begin():
        tasks.complete(s, ctx, only_open_task(sessions, iid).id, "an.officer", {"title": "Kế hoạch"})
    with sessions() as s, s.begin():
        tasks.complete(s, ctx, only_open_task(sessions, iid).id, "cuong.head", {"decision": "maybe"})
    with sessions() as s:
        row = s.get(Instance, iid)
        assert row is not None and row.status == "incident"
        picture = diagram(s, ctx, row)
        assert picture.failed == ["approved_gw"] and "approved_gw" not in picture.waiting
        assert "approved_gw" not in picture.completed and len(picture.completed) >= 2
        incident = next(e for e in timeline(s, row) if e.event.action == "instance.incident")
        assert incident.task_name and dict(incident.details)["message"] == row.incident["message"]


def test_the_campaigns_timeline_links_the_instances_its_calls_started(campaign):
    page = campaign.client("kiem.tra").get(f"/instances/{campaign.root}").get_data(as_text=True)
    calls = re.findall(r'<li class="tl-entry[^"]*" data-action="call.started".*?</li>', page, re.S)
    assert calls, "the campaign's timeline names the calls that started the units' instances"
    linked = {int(i) for call in calls for i in re.findall(r'class="child-link" href="/instances/(\d+)"', call)}
    assert set(campaign.plans.values()) <= linked
    assert "Khởi tạo hồ sơ con" in page


def test_no_csv_cell_opens_as_a_spreadsheet_formula():
    """A name typed into the directory as a formula stays text in every CSV export (the usual apostrophe)."""
    from engine.services.audit_views import spreadsheet_safe

    for cell in ('=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "\tx"):
        assert spreadsheet_safe(cell) == "'" + cell
    for cell in ("Hoàng Minh Đức", "2026-12-01T02:00:00+00:00", '{"a": 1}', ""):
        assert spreadsheet_safe(cell) == cell
