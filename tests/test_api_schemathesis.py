"""schemathesis against the served OpenAPI document: every operation, with generated valid and invalid input,
as an administrator (the login operation anonymously too), on the test database (SQLite, or PostgreSQL with
DATABASE_URL). No answer may be a server error, and every answer must be one the document describes (status,
media type, body schema).

Bounded and reproducible: a fixed number of examples per operation and mode, derandomized (the same inputs on
every run), no example database, no deadline. About 30-60 s in all.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api_support import World, login
from tests.api_support import world as world  # noqa: F401 - fixture

EXAMPLES = {GenerationMode.POSITIVE: 20, GenerationMode.NEGATIVE: 10}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Logging out would end the administrator's session for the operations after it; it runs anonymously.
ANONYMOUS = {("POST", "/api/v1/session"), ("DELETE", "/api/v1/session")}


def _cookie(world: World, user: str) -> dict[str, str]:
    client = world.app.test_client()
    login(client, user)
    cookie = client.get_cookie("tdkt_session")
    assert cookie is not None
    return {"tdkt_session": cookie.value}


def _run(operation: Any, mode: GenerationMode, cookies: dict[str, str] | None) -> None:
    @given(data=st.data())
    @settings(
        max_examples=EXAMPLES[mode],
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the first failing input is reported as is
    )
    def check(data: st.DataObject) -> None:
        case = data.draw(operation.as_strategy(generation_mode=mode))
        case.call_and_validate(cookies=cookies, checks=CHECKS)

    check()


@pytest.mark.timeout(300)
def test_every_operation_answers_as_documented(world: World):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", world.app)
    admin = _cookie(world, "admin")
    operations = [result.ok() for result in schema.get_all_operations()]
    # the login operations last: failed logins may slow further logins down (429)
    operations.sort(key=lambda op: (op.method.upper(), op.path) in ANONYMOUS)
    assert len(operations) > 30
    failures = []
    for operation in operations:
        key = (operation.method.upper(), operation.path)
        cookie_sets: list[dict[str, str] | None] = [None] if key in ANONYMOUS else [admin, None]
        for cookies in cookie_sets:
            for mode in EXAMPLES:
                try:
                    _run(operation, mode, cookies)
                except Unsatisfiable:  # no input to make invalid (an operation without parameters or body)
                    assert mode is GenerationMode.NEGATIVE, key
                except Exception as failure:  # every operation runs; the failures are reported together
                    who = "admin" if cookies else "anonymous"
                    failures.append(f"{key[0]} {key[1]} ({who}, {mode.value}):\n{failure}")
    assert not failures, "\n\n".join(failures)
