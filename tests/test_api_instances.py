"""Instances over the API: scoped lists and details, the audit trail's readers, starting a process."""

from __future__ import annotations

import pytest

from tests.api_support import MISSING, PLAN, World
from tests.api_support import world as world  # noqa: F401 - fixture

URLS = ["/api/v1/instances/{instance}", "/api/v1/instances/{instance}/audit"]
START = {"process": "unit_plan", "business_key": "KH-STC", "unit": "STC", "data": {"unit_id": "STC"}}


@pytest.mark.parametrize("url", ["/api/v1/instances", *URLS])
def test_instance_urls_need_a_login(world: World, url):
    assert world.client().get(url.format(instance=world.syt_instance)).status_code == 401


def test_starting_needs_a_login(world: World):
    assert world.client().post("/api/v1/instances", json=START).status_code == 401


@pytest.mark.parametrize("url", URLS)
def test_another_units_officer_is_refused(world: World, url):
    answer = world.client("hoa.nt").get(url.format(instance=world.syt_instance))
    assert answer.status_code == 403
    assert answer.get_json()["error"]["code"] == "permission_denied"


@pytest.mark.parametrize("url", URLS)
def test_missing_instances_answer_404(world: World, url):
    assert world.client("kiem.tra").get(url.format(instance=MISSING)).status_code == 404


@pytest.mark.parametrize(
    ("user", "expected"),
    [("linh.tm", ["KH-SYT"]), ("quang.lv", ["KH-SGDDT"]), ("an.tdkt", ["KH-SGDDT", "KH-SYT"]), ("kiem.tra", None)],
)
def test_lists_are_scoped_by_unit(world: World, user, expected):
    found = world.client(user).get("/api/v1/instances").get_json()["instances"]
    assert [i["business_key"] for i in found] == (expected or ["KH-SGDDT", "KH-SYT"])


def test_an_instance_with_its_definition_and_open_tasks(world: World):
    answer = world.client("linh.tm").get(f"/api/v1/instances/{world.syt_instance}").get_json()
    assert answer["status"] == "running"
    assert answer["definition"]["key"] == "unit_plan" and answer["definition"]["version"] == 1
    assert (answer["business_key"], answer["unit"]) == ("KH-SYT", "SYT")
    assert [t["id"] for t in answer["open_tasks"]] == [world.syt_task]


@pytest.mark.parametrize(("user", "status"), [("duc.hm", 200), ("kiem.tra", 200), ("admin", 200), ("linh.tm", 403)])
def test_the_audit_trail_is_for_auditors_admins_and_the_units_head(world: World, user, status):
    world.client("linh.tm").post(f"/api/v1/tasks/{world.syt_task}/complete", json={"data": PLAN})
    answer = world.client(user).get(f"/api/v1/instances/{world.syt_instance}/audit")
    assert answer.status_code == status
    if status == 200:
        events = answer.get_json()["events"]
        assert events[0]["action"] == "instance.started"
        completed = next(e for e in events if e["action"] == "task.completed")
        assert completed["actor"] == "linh.tm" and completed["element_id"] == "plan_draft"
        assert completed["data"]["submitted"] == PLAN
        assert completed["at"].startswith("2024-03-19T02:00:00")


def test_sở_nội_vụ_starts_a_process(world: World):
    answer = world.client("an.tdkt").post("/api/v1/instances", json=START)
    assert answer.status_code == 201
    started = answer.get_json()
    assert (started["business_key"], started["unit"], started["status"]) == ("KH-STC", "STC", "running")
    assert [t["element_id"] for t in started["open_tasks"]] == ["plan_draft"]
    assert [t["unit"]["id"] for t in world.client("khanh.dq").get("/api/v1/tasks").get_json()["tasks"]] == ["STC"]


@pytest.mark.parametrize("user", ["linh.tm", "duc.hm", "kiem.tra"])
def test_others_may_not_start_processes(world: World, user):
    assert world.client(user).post("/api/v1/instances", json=START).status_code == 403


def test_starting_names_bad_fields_and_unknown_processes(world: World):
    client = world.client("an.tdkt")
    bad = client.post("/api/v1/instances", json={"unit": 3, "data": []})
    assert bad.status_code == 422
    assert bad.get_json()["error"]["details"]["fields"] == {
        "process": "required",
        "unit": "must be a string",
        "data": "must be an object",
    }
    unknown = client.post("/api/v1/instances", json={"process": "no_such_process"})
    assert unknown.status_code == 404
