"""The resources other systems integrate through: instance lists, operations, messages and signals; task return
and the order of checks; the organisation; the calendar; notifications; the audit export; the generated
document, its docs page, and validation of requests and responses."""

from __future__ import annotations

import csv
import io
import re

from sqlalchemy import select

from engine.persistence.models import Notification
from tests.api_support import PLAN, World
from tests.api_support import world as world  # noqa: F401 - fixture


def test_instances_are_filtered_and_paged_with_a_total(world: World):
    client = world.client("an.tdkt")
    page = client.get("/api/v1/instances?limit=1").get_json()
    assert (page["total"], page["limit"], page["offset"], len(page["instances"])) == (2, 1, 0, 1)
    assert page["next"] == "/api/v1/instances?limit=1&offset=1"
    last = client.get(page["next"]).get_json()
    assert last["next"] is None and last["instances"][0]["business_key"] == "KH-SYT"  # newest first
    assert [i["business_key"] for i in client.get("/api/v1/instances?unit=SYT").get_json()["instances"]] == ["KH-SYT"]
    assert client.get("/api/v1/instances?business_key=KH-SGDDT").get_json()["total"] == 1
    assert client.get("/api/v1/instances?process=unit_plan&status=running").get_json()["total"] == 2
    assert client.get("/api/v1/instances?status=completed").get_json()["total"] == 0
    assert client.get(f"/api/v1/instances?parent={world.syt_instance}").get_json()["total"] == 0
    # an officer's total counts only what they may see
    assert world.client("linh.tm").get("/api/v1/instances").get_json()["total"] == 1


def test_bad_query_parameters_are_named(world: World):
    answer = world.client("an.tdkt").get("/api/v1/instances?limit=abc&status=nope")
    assert answer.status_code == 422
    assert set(answer.get_json()["error"]["details"]["fields"]) == {"limit", "status"}
    assert world.client("an.tdkt").get("/api/v1/reports/overdue?soon=²").status_code == 422


def test_malformed_json_is_a_400_and_unknown_fields_are_named(world: World):
    client = world.client("an.tdkt")
    bad = client.post("/api/v1/instances", data="{not json", content_type="application/json")
    assert bad.status_code == 400
    assert bad.get_json()["error"]["code"] == "bad_request"
    extra = client.post("/api/v1/instances", json={"process": "unit_plan", "colour": "red"})
    assert extra.status_code == 422
    assert extra.get_json()["error"]["details"]["fields"] == {"colour": "unknown field"}


def test_suspend_resume_and_cancel_with_a_reason(world: World):
    client = world.client("an.tdkt")
    url = f"/api/v1/instances/{world.syt_instance}"
    assert world.client("linh.tm").post(f"{url}/suspend", json={}).status_code == 403
    assert client.post(f"{url}/suspend", json={"reason": "kiểm tra"}).get_json()["status"] == "suspended"
    assert client.post(f"{url}/suspend", json={}).status_code == 409
    assert client.post(f"{url}/resume", json={}).get_json()["status"] == "running"
    assert client.post(f"{url}/retry", json={}).status_code == 409  # no incident
    assert client.post(f"{url}/cancel", json={"reason": "trùng"}).get_json()["status"] == "cancelled"
    events = world.client("kiem.tra").get(f"{url}/history").get_json()["events"]
    actions = [e["action"] for e in events if e["action"].startswith("instance.")]
    assert actions == ["instance.started", "instance.suspended", "instance.resumed", "instance.cancelled"]
    cancelled = next(e for e in events if e["action"] == "instance.cancelled")
    assert cancelled["data"] == {"reason": "trùng"} and cancelled["actor"] == "an.tdkt"


def test_messages_and_signals_nobody_waits_for(world: World):
    client = world.client("an.tdkt")
    answer = client.post("/api/v1/messages", json={"name": "nothing", "business_key": "KH-SYT"})
    assert answer.status_code == 404
    assert client.post("/api/v1/signals", json={"name": "nothing"}).get_json() == {"instances": []}
    assert world.client("linh.tm").post("/api/v1/signals", json={"name": "nothing"}).status_code == 403


def test_claiming_another_units_claimed_task_is_refused_without_naming_the_holder(world: World):
    url = f"/api/v1/tasks/{world.syt_task}"
    assert world.client("linh.tm").post(f"{url}/claim", json={}).status_code == 200
    for path, body in (("claim", {}), ("unclaim", {}), ("reassign", {"user": "hoa.nt"}), ("return", {"reason": "x"})):
        answer = world.client("hoa.nt").post(f"{url}/{path}", json=body)
        assert answer.status_code == 403, path
        assert "linh.tm" not in answer.get_data(as_text=True), path


def test_returning_a_task_with_a_reason(world: World):
    officer = world.client("linh.tm")
    url = f"/api/v1/tasks/{world.syt_task}"
    assert officer.post(f"{url}/return", json={"reason": "thiếu hồ sơ"}).status_code == 409  # not claimed
    assert officer.post(f"{url}/return", json={}).status_code == 422
    officer.post(f"{url}/claim", json={})
    returned = officer.post(f"{url}/return", json={"reason": "thiếu hồ sơ"})
    assert returned.status_code == 200
    assert (returned.get_json()["status"], returned.get_json()["assignee"]) == ("open", None)
    events = world.client("duc.hm").get(f"/api/v1/instances/{world.syt_instance}/history").get_json()["events"]
    event = next(e for e in events if e["action"] == "task.returned")
    assert event["data"] == {"reason": "thiếu hồ sơ", "previous_assignee": "linh.tm"}
    assert event["actor"] == "linh.tm" and event["element_id"] == "plan_draft"


def test_the_organisation_is_read_by_those_entitled_and_changed_by_admins(world: World):
    officer = world.client("linh.tm")
    assert any(u["id"] == "SYT" for u in officer.get("/api/v1/org/units").get_json()["units"])
    assert any(r["id"] == "unit_head" for r in officer.get("/api/v1/org/roles").get_json()["roles"])
    assert officer.get("/api/v1/org/users").status_code == 403
    auditor = world.client("kiem.tra")
    users = auditor.get("/api/v1/org/users?user=linh.tm").get_json()["users"]
    assert [u["id"] for u in users] == ["linh.tm"] and "password_hash" not in users[0]
    held = auditor.get("/api/v1/org/memberships?user=duc.hm").get_json()["memberships"]
    assert {(m["role"], m["unit"]) for m in held} >= {("unit_head", "SYT")}
    assert "delegations" in auditor.get("/api/v1/org/delegations").get_json()
    change = {"units": [{"id": "SKHCN", "name": "Sở Khoa học và Công nghệ", "parent": "TINH"}]}
    assert world.client("an.tdkt").post("/api/v1/org", json=change).status_code == 403
    answer = world.client("admin").post("/api/v1/org", json=change)
    assert answer.status_code == 200 and answer.get_json()["created"]["units"] == 1
    bad = world.client("admin").post("/api/v1/org", json={"memberships": [{"user": "nobody"}]})
    assert bad.status_code == 422


def test_the_calendar_and_its_overrides(world: World):
    officer = world.client("linh.tm")
    year = officer.get("/api/v1/calendar?year=2024").get_json()
    assert "2024-04-18" in [d["day"] for d in year["non_working_weekdays"]]  # Giỗ Tổ Hùng Vương
    assert officer.put("/api/v1/calendar/overrides/2024-05-04", json={"working": True}).status_code == 403
    admin = world.client("admin")
    answer = admin.put("/api/v1/calendar/overrides/2024-05-04", json={"working": True, "note": "QĐ 12"})
    assert answer.status_code == 200 and answer.get_json()["changed_by"] == "admin"
    year = officer.get("/api/v1/calendar?year=2024").get_json()
    assert [o["day"] for o in year["overrides"]] == ["2024-05-04"]
    assert "2024-05-04" in [d["day"] for d in year["working_weekend_days"]]
    assert admin.put("/api/v1/calendar/overrides/2024-13-01", json={"working": True}).status_code == 422
    assert admin.delete("/api/v1/calendar/overrides/2024-05-04").status_code == 204
    assert admin.delete("/api/v1/calendar/overrides/2024-05-04").status_code == 404
    assert officer.get("/api/v1/calendar").status_code == 422  # the year is required


def test_notifications_are_the_users_own(world: World, sessions):
    with sessions() as s, s.begin():
        for user in ("linh.tm", "hoa.nt"):
            s.add(Notification(user_id=user, kind="reminder", title="t", body="b", created_at=world.ctx.now()))
    officer = world.client("linh.tm")
    page = officer.get("/api/v1/notifications").get_json()
    assert page["unread"] == 1 and len(page["notifications"]) == 1
    with sessions() as s:
        others = list(s.scalars(select(Notification.id).where(Notification.user_id == "hoa.nt")))
    assert officer.post("/api/v1/notifications/read", json={"ids": others}).get_json() == {"marked": 0}
    assert officer.post("/api/v1/notifications/read", json={}).get_json() == {"marked": 1}
    assert officer.get("/api/v1/notifications?unread=true").get_json() == {"notifications": [], "unread": 0}


def test_the_audit_export_and_verification(world: World):
    world.client("linh.tm").post(f"/api/v1/tasks/{world.syt_task}/complete", json={"data": PLAN})
    auditor = world.client("kiem.tra")
    page = auditor.get(f"/api/v1/audit/events?instance={world.syt_instance}&limit=2").get_json()
    assert len(page["events"]) == 2 and page["next_after_id"] == page["events"][-1]["id"]
    rest = auditor.get(f"/api/v1/audit/events?instance={world.syt_instance}&after_id={page['next_after_id']}")
    assert "task.completed" in [e["action"] for e in rest.get_json()["events"]]
    exported = auditor.get("/api/v1/audit/events?format=csv&action=task.completed")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert [r["actor"] for r in rows] == ["linh.tm"] and '"plan_title"' in rows[0]["data"]
    assert auditor.get("/api/v1/audit/events?since=yesterday").status_code == 422
    assert auditor.get("/api/v1/audit/events?since=2024-03-19&until=2024-03-20").get_json()["events"]
    verified = auditor.get("/api/v1/audit/verify").get_json()
    assert verified["ok"] is True and verified["events"] > 0
    assert world.client("duc.hm").get("/api/v1/audit/verify").status_code == 403


def test_the_docs_page_loads_nothing_from_elsewhere(world: World):
    page = world.client().get("/api/v1/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert not re.search(r"(?:https?:)?//", html)
    for asset in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert asset.startswith("/api/v1/docs/"), asset
        answer = world.client().get(asset)
        assert answer.status_code == 200, asset
    init = world.client().get("/api/v1/docs/init.js").get_data(as_text=True)
    assert '"/api/v1/openapi.json"' in init and "validatorUrl: null" in init
    assert world.client().get("/api/v1/docs/../openapi.py").status_code == 404


def test_every_operation_documents_the_error_body(world: World):
    """401, 403 and 422 answer the error body everywhere; a 422 may say more beside it (a refused deployment
    lists every problem of its files) but always carries the same ``error``."""
    doc = world.client().get("/api/v1/openapi.json").get_json()
    schemas = doc["components"]["schemas"]
    assert schemas["ErrorBody"]["required"] == ["error"]
    error_ref = schemas["ErrorBody"]["properties"]["error"]
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            for status in ("401", "403", "422"):
                schema = operation["responses"][status]["content"]["application/json"]["schema"]
                if status == "422" and schema != {"$ref": "#/components/schemas/ErrorBody"}:
                    extended = schemas[schema["$ref"].rsplit("/", 1)[1]]
                    assert "error" in extended["required"] and extended["properties"]["error"] == error_ref, path
                    continue
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)


def test_a_response_that_does_not_match_its_schema_fails(world: World, monkeypatch):
    monkeypatch.setattr("api.v1.instances.instance_json", lambda row, *rest: {"id": "not a number"})
    answer = world.client("an.tdkt").get(f"/api/v1/instances/{world.syt_instance}")
    assert answer.status_code == 500
    assert answer.get_json()["error"]["code"] == "internal_error"


def test_nul_characters_are_refused_before_any_database_sees_them(world: World):
    client = world.client("an.tdkt")
    answer = client.get("/api/v1/instances?business_key=KH%00")
    assert answer.status_code == 422
    assert answer.get_json()["error"]["details"]["fields"] == {"business_key": "must not contain NUL characters"}
    started = client.post("/api/v1/instances", json={"process": "unit_plan", "data": {"notes": ["a\x00"]}})
    assert started.status_code == 422
    assert started.get_json()["error"]["details"]["fields"] == {"data.notes.0": "must not contain NUL characters"}
