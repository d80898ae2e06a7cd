"""The overdue report over the API (Sở Nội vụ: every unit; a head: their unit), and the OpenAPI document."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.api_support import World
from tests.api_support import world as world  # noqa: F401 - fixture


def units_of(answer) -> list[str]:
    return sorted(r["unit_id"] for r in answer.get_json()["rows"])


def test_the_report_needs_a_login(world: World):
    assert world.client().get("/api/v1/reports/overdue").status_code == 401


@pytest.mark.parametrize("user", ["linh.tm", "kiem.tra", "thao.pt"])
def test_officers_and_auditors_are_refused(world: World, user):
    answer = world.client(user).get("/api/v1/reports/overdue")
    assert answer.status_code == 403


def test_sở_nội_vụ_sees_every_unit_and_counts_overdue_work(world: World):
    client = world.client("an.tdkt")
    rows = client.get("/api/v1/reports/overdue").get_json()["rows"]
    assert sorted((r["unit_id"], r["open"], r["overdue"]) for r in rows) == [("SGDDT", 1, 0), ("SYT", 1, 0)]
    world.ctx.clock.advance(timedelta(days=20))
    client = world.client("an.tdkt")  # a new session: the first one has expired by then
    rows = client.get("/api/v1/reports/overdue").get_json()["rows"]
    assert sorted((r["unit_id"], r["overdue"]) for r in rows) == [("SGDDT", 1), ("SYT", 1)]
    assert units_of(client.get("/api/v1/reports/overdue?unit=SYT")) == ["SYT"]
    assert units_of(world.client("admin").get("/api/v1/reports/overdue")) == ["SGDDT", "SYT"]


def test_a_head_sees_their_unit_only(world: World):
    head = world.client("duc.hm")
    assert units_of(head.get("/api/v1/reports/overdue")) == ["SYT"]
    assert units_of(head.get("/api/v1/reports/overdue?unit=SYT")) == ["SYT"]
    assert head.get("/api/v1/reports/overdue?unit=SGDDT").status_code == 403


def test_bad_parameters_are_named(world: World):
    answer = world.client("an.tdkt").get("/api/v1/reports/overdue?soon=-1")
    assert answer.status_code == 422
    assert "soon" in answer.get_json()["error"]["details"]["fields"]


def test_openapi_describes_every_api_route(world: World):
    answer = world.client().get("/api/v1/openapi.json")
    assert answer.status_code == 200
    doc = answer.get_json()
    assert doc["openapi"].startswith("3.1")
    routes = set()
    for rule in world.app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1") and not rule.endpoint.startswith("api_v1.openapi."):  # the doc itself
            path = re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", rule.rule)
            routes |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert routes == documented
    for path, method in routes:
        for name in re.findall(r"{(\w+)}", path):
            assert any(p["name"] == name for p in doc["paths"][path][method].get("parameters", [])), (path, name)
