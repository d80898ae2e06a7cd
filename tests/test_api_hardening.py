"""Whatever the route: bodies over the cap are refused unread, ids past what a column holds are 404, JSON too deep
or holding a lone surrogate is a 400, and every answer carries the security headers and no server banner."""

from __future__ import annotations

import pytest

from api.hardening import CSP, MAX_ID
from tests.api_support import World
from tests.api_support import world as world  # noqa: F401 - fixture

HUGE = MAX_ID + 1


@pytest.mark.parametrize(
    "url",
    [
        f"/api/v1/tasks/{HUGE}",
        f"/api/v1/instances/{HUGE}",
        f"/api/v1/instances/{HUGE}/audit",
        f"/api/v1/tasks/{10**40}",
    ],
)
def test_ids_a_column_cannot_hold_are_not_found(world: World, url):
    answer = world.client("admin").get(url)
    assert answer.status_code == 404
    assert answer.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("url", [f"/api/v1/instances/{HUGE}/comments", f"/api/v1/instances/{10**40}/comments"])
def test_a_huge_id_on_a_path_with_a_rule_per_method_is_not_found_either(world: World, url):
    """GET and POST of one path are two rules: the router must not answer 405 for the id it refused."""
    answer = world.client("admin").post(url, json={"body": "x"})
    assert answer.status_code == 404
    assert answer.get_json()["error"]["code"] == "not_found"
    assert world.client("admin").delete("/api/v1/instances/1/comments").status_code == 405  # a real 405 stays


def test_the_largest_id_a_column_holds_is_just_missing(world: World):
    answer = world.client("admin").get(f"/api/v1/tasks/{MAX_ID}")
    assert answer.status_code == 404


def test_a_huge_id_on_a_web_page_is_a_not_found_page(world: World):
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    answer = world.client("admin").get(f"/tasks/{HUGE}", headers=browser)
    assert answer.status_code == 404
    assert "text/html" in answer.content_type
    assert world.client("admin").get("/no/such/page", headers=browser).content_type.startswith("text/html")


def test_a_body_over_the_cap_is_refused_before_it_is_read(world: World):
    cap = world.app.config["MAX_CONTENT_LENGTH"]
    body = b'{"user": "linh.tm", "password": "' + b"x" * cap + b'"}'
    answer = world.client().post("/api/v1/session", data=body, content_type="application/json")
    assert answer.status_code == 413
    assert answer.get_json()["error"]["code"] == "request_entity_too_large"


def test_json_nested_too_deep_is_a_bad_request(world: World):
    deep = "[" * 5000 + "]" * 5000
    answer = world.client().post("/api/v1/session", data=deep, content_type="application/json")
    assert answer.status_code == 400
    assert "nests deeper" in answer.get_json()["error"]["message"]
    moderate = '{"user": ' + "[" * 100 + "]" * 100 + ', "password": "x"}'
    assert world.client().post("/api/v1/session", data=moderate, content_type="application/json").status_code == 400


def test_a_lone_surrogate_is_a_bad_request(world: World):
    body = '{"user": "linh.tm\\ud800", "password": "x"}'
    answer = world.client().post("/api/v1/session", data=body, content_type="application/json")
    assert answer.status_code == 400
    assert "surrogate" in answer.get_json()["error"]["message"]


@pytest.mark.parametrize("url", ["/login", "/api/v1/openapi.json", "/healthz", "/api/v1/me", "/static/style.css"])
def test_every_answer_carries_the_security_headers_and_no_banner(world: World, url):
    answer = world.client().get(url)
    assert answer.headers["Content-Security-Policy"] == CSP
    assert "'unsafe-inline'" not in CSP and "frame-ancestors 'none'" in CSP
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "Server" not in answer.headers
    answer.close()  # a static file's answer holds the file open until then
