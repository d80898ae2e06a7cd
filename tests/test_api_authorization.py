"""The API's one authorization table (api.authz.ROUTES): every /api/v1 route has an entry, and every route is
called as every kind of demo user: those the rule allows are not refused (401/403) by it, everyone else is
(401 anonymous, 403 logged in). Scoped routes may still answer 403 for a resource outside the caller's units,
but never with the table's refusal."""

from __future__ import annotations

import re

import pytest

from api import create_app
from api.authz import ROUTES, RULES
from tests.api_support import World
from tests.api_support import world as world  # noqa: F401 - fixture

# The demo organisation's kinds of user, and who each rule lets in (written out here, not derived from RULES).
USERS = ["admin", "kiem.tra", "an.tdkt", "linh.tm", "duc.hm", "pho.ct", "chu.tich"]
LOGGED_IN = set(USERS)
ALLOWED = {
    "anonymous": {None, *LOGGED_IN},
    "user": LOGGED_IN,
    "scoped": LOGGED_IN,
    "admin": {"admin"},
    "auditor": {"admin", "kiem.tra"},
    "operator": {"admin", "an.tdkt"},
    "directory": {"admin", "kiem.tra", "an.tdkt"},
    "audit_reader": {"admin", "kiem.tra", "duc.hm"},
    "reports": {"admin", "an.tdkt", "duc.hm"},
    "designer": {"admin"},  # the demo's one designer is the administrator
    "definition_reader": {"admin", "kiem.tra"},
    "national_dossier": {"admin", "kiem.tra", "an.tdkt", "chu.tich"},  # the Chairman's office, Sở Nội vụ, auditors
    "national_dossier_send": {"admin", "an.tdkt", "chu.tich"},
    # the register of initiatives: whoever holds a role in a unit reads (their unit's); Sở Nội vụ and a unit's
    # TĐKT officer enter
    "initiative_reader": {"admin", "kiem.tra", "an.tdkt", "linh.tm", "duc.hm", "pho.ct", "chu.tich"},
    "initiative_writer": {"admin", "an.tdkt", "linh.tm"},
}
# Of the Sở Y tế resources the calls name, who sees them (so a scoped route must not refuse them at all).
SEES_SYT_TASK = {"admin", "linh.tm", "duc.hm"}
WORKS_ON_SYT_TASK = {"admin", "linh.tm"}  # the head sees (and may reassign) the officer's draft, not work on it
QUERY = {"/api/v1/calendar": "?year=2024"}


def _api_routes() -> list[tuple[str, str]]:
    app = create_app({"DATABASE_URL": "sqlite://", "SECRET_KEY": "test", "TESTING": True})
    found = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            found += [(m, rule.rule) for m in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return sorted(found)


ROUTE_LIST = _api_routes()


def test_every_api_route_has_an_entry():
    assert sorted(set(ROUTE_LIST) - set(ROUTES)) == []
    assert set(ROUTES.values()) <= set(RULES) and set(RULES) == set(ALLOWED)


def _url(world: World, rule: str) -> str:
    values = {
        "instance_id": world.syt_instance,
        "task_id": world.syt_task,
        "day": "2024-05-04",
        "token_id": 1,
        "filename": "swagger-ui.css",
        "key": "unit_plan",
        "version": 1,
        "name": "unit_plan.bpmn",
        "attachment_id": 1,
        "initiative_id": 1,
    }
    url = re.sub(r"<(?:[^:>]+:)?(\w+)>", lambda m: str(values[m.group(1)]), rule)
    return url + QUERY.get(rule, "")


@pytest.mark.parametrize(("method", "rule"), ROUTE_LIST, ids=[f"{m} {r}" for m, r in ROUTE_LIST])
def test_every_role_on_every_route(world: World, method, rule):
    name = ROUTES[(method, rule)]
    url = _url(world, rule)
    for user in [None, *USERS]:
        client = world.client(user)
        answer = client.open(url, method=method, json={} if method in ("POST", "PUT", "PATCH") else None)
        status, who = answer.status_code, user or "anonymous"
        assert status < 500, (who, method, url, answer.get_json())
        if user in ALLOWED[name]:
            assert status != 401, (who, method, url, answer.get_json())
            if status == 403:
                message = answer.get_json()["error"]["message"]
                assert RULES[name].scoped and " is for " not in message, (who, method, url, message)
                entitled = (
                    WORKS_ON_SYT_TASK
                    if rule.endswith(("/claim", "/unclaim", "/complete", "/return"))
                    else SEES_SYT_TASK
                )
                assert not (rule.startswith("/api/v1/tasks/") and user in entitled), (who, method, url, message)
        else:
            assert status == (401 if user is None else 403), (who, method, url, answer.get_json())
