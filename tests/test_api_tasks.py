"""The inbox and task actions over the API: who sees what, 401/403/404, validation, conflicts, the next step."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.api_support import MISSING, PLAN, World, instance_version, open_task
from tests.api_support import world as world  # noqa: F401 - fixture

# (method, URL with {task}, JSON body)
TASK_URLS = [
    ("GET", "/api/v1/tasks/{task}", None),
    ("POST", "/api/v1/tasks/{task}/claim", {}),
    ("POST", "/api/v1/tasks/{task}/complete", {"data": PLAN}),
    ("POST", "/api/v1/tasks/{task}/reassign", {"user": "hoa.nt"}),
]


def call(client, method, url, body):
    return client.open(url, method=method, json=body) if body is not None else client.open(url, method=method)


@pytest.mark.parametrize(("method", "url", "body"), [("GET", "/api/v1/tasks", None), *TASK_URLS])
def test_task_urls_need_a_login(world: World, method, url, body):
    answer = call(world.client(), method, url.format(task=world.syt_task), body)
    assert answer.status_code == 401
    assert answer.get_json()["error"]["code"] == "login_required"


@pytest.mark.parametrize(("method", "url", "body"), TASK_URLS)
def test_an_officer_of_another_unit_is_refused(world: World, method, url, body):
    answer = call(world.client("hoa.nt"), method, url.format(task=world.syt_task), body)
    assert answer.status_code == 403
    assert answer.get_json()["error"]["code"] == "permission_denied"


@pytest.mark.parametrize(("method", "url", "body"), [*TASK_URLS, ("POST", "/api/v1/tasks/{task}/unclaim", {})])
def test_missing_tasks_answer_404(world: World, method, url, body):
    answer = call(world.client("linh.tm"), method, url.format(task=MISSING), body)
    assert answer.status_code == 404
    assert answer.get_json()["error"]["code"] == "not_found"


def test_the_inbox_lists_the_units_tasks_with_what_the_ui_shows(world: World):
    answer = world.client("linh.tm").get("/api/v1/tasks")
    assert answer.status_code == 200
    (task,) = answer.get_json()["tasks"]
    assert task["id"] == world.syt_task
    assert task["unit"] == {"id": "SYT", "name": "Sở Y tế"}
    assert task["role"] == "unit_officer"
    assert task["process"]["key"] == "unit_plan"
    assert task["instance"] == {"id": world.syt_instance, "business_key": "KH-SYT", "unit": "SYT"}
    assert task["form_key"] == "plan_draft"
    assert task["due_at"] == "2024-04-02T02:00:00+00:00"
    assert task["overdue"] is False and task["escalation_level"] == 0
    assert [t["id"] for t in world.client("hoa.nt").get("/api/v1/tasks").get_json()["tasks"]] == [world.sgd_task]
    assert world.client("an.tdkt").get("/api/v1/tasks").get_json()["tasks"] == []


def test_the_inbox_flags_overdue_tasks_and_pages(world: World):
    world.ctx.clock.advance(timedelta(days=30))
    client = world.client("linh.tm")
    assert client.get("/api/v1/tasks").get_json()["tasks"][0]["overdue"] is True
    assert client.get("/api/v1/tasks?limit=1&offset=1").get_json()["tasks"] == []
    bad = client.get("/api/v1/tasks?limit=zero")
    assert bad.status_code == 422
    assert bad.get_json()["error"]["details"]["fields"] == {"limit": "must be an integer"}


def test_a_task_comes_with_its_form_schema(world: World):
    task = world.client("linh.tm").get(f"/api/v1/tasks/{world.syt_task}").get_json()
    assert task["form"]["required"] == ["plan_title", "targets", "activities"]
    assert task["data"] == {}
    assert task["form_reserved"] is False


def test_bad_data_is_refused_naming_the_fields_and_nothing_is_saved(world: World, sessions):
    before = instance_version(sessions, world.syt_instance)
    answer = world.client("linh.tm").post(
        f"/api/v1/tasks/{world.syt_task}/complete", json={"data": {"plan_title": "KH"}}
    )
    assert answer.status_code == 422
    assert answer.get_json()["error"]["details"]["fields"] == {"targets": "required", "activities": "required"}
    assert open_task(sessions, world.syt_instance).id == world.syt_task
    assert instance_version(sessions, world.syt_instance) == before
    not_an_object = world.client("linh.tm").post(f"/api/v1/tasks/{world.syt_task}/complete", json={"data": [1]})
    assert not_an_object.status_code == 422
    assert not_an_object.get_json()["error"]["details"]["fields"] == {"data": "must be an object"}


def test_complete_moves_on_to_the_head_and_a_second_complete_conflicts(world: World, sessions):
    client = world.client("linh.tm")
    done = client.post(f"/api/v1/tasks/{world.syt_task}/complete", json={"data": PLAN})
    assert done.status_code == 200
    assert done.get_json()["status"] == "completed" and done.get_json()["completed_by"] == "linh.tm"
    again = client.post(f"/api/v1/tasks/{world.syt_task}/complete", json={"data": PLAN})
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "conflict"
    head = world.client("duc.hm").get("/api/v1/tasks").get_json()["tasks"]
    assert [t["element_id"] for t in head] == ["plan_head_review"]
    review = world.client("duc.hm").get(f"/api/v1/tasks/{head[0]['id']}").get_json()
    assert review["form"]["properties"]["head_decision"]["enum"] == ["approve", "return"]


def test_claim_unclaim_and_reassign(world: World):
    officer, other, head = world.client("linh.tm"), world.client("hoa.nt"), world.client("duc.hm")
    url = f"/api/v1/tasks/{world.syt_task}"
    claimed = officer.post(f"{url}/claim", json={})
    assert claimed.status_code == 200
    assert (claimed.get_json()["status"], claimed.get_json()["assignee"]) == ("claimed", "linh.tm")
    assert other.post(f"{url}/unclaim", json={}).status_code == 403
    assert officer.post(f"{url}/unclaim", json={}).get_json()["status"] == "open"
    assert officer.post(f"{url}/unclaim", json={}).status_code == 409
    # The head of the unit hands it out; only to someone entitled to it.
    assert head.post(f"{url}/reassign", json={"user": "hoa.nt"}).status_code == 403
    given = head.post(f"{url}/reassign", json={"user": "linh.tm"})
    assert given.status_code == 200 and given.get_json()["assignee"] == "linh.tm"
    assert head.get(url).status_code == 200  # the head sees the unit's tasks
    missing_user = head.post(f"{url}/reassign", json={})
    assert missing_user.status_code == 422
    assert missing_user.get_json()["error"]["details"]["fields"] == {"user": "required"}


def test_state_changes_must_be_json(world: World):
    answer = world.client("linh.tm").post(f"/api/v1/tasks/{world.syt_task}/claim", data={"x": "1"})
    assert answer.status_code == 415
