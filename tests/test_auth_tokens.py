"""API tokens: made by a user for themselves or by an admin for anyone, shown once and stored as a hash, read and write
scopes, expiry and revocation, never valid on web pages, the audit of each, and ``tdkt token``."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from api.security import AUTH_COOKIE
from cli import main
from engine.persistence.models import ApiToken, AuditEvent
from tests.api_support import PLAN, World
from tests.api_support import world as world  # noqa: F401 - fixture


def make_token(world: World, user: str = "linh.tm", **fields) -> dict:
    answer = world.client(user).post("/api/v1/tokens", json={"name": "nightly export", **fields})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def bearer(world: World, secret: str):
    client = world.app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    return client, headers


def test_a_token_is_shown_once_and_only_its_hash_is_kept(world: World, sessions):
    made = make_token(world)
    secret = made["token"]
    assert secret.startswith("tdkt_") and len(secret) > 40
    assert made["scopes"] == ["read"] and made["user"] == "linh.tm" and made["prefix"] == secret[:12]
    assert made["expires_at"].startswith("2024-06-17")  # 90 days after 19/3/2024
    with sessions() as s:
        row = s.scalars(select(ApiToken)).one()
        assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
        stored = [str(getattr(row, c.key)) for c in ApiToken.__table__.columns]
        assert not any(secret in value for value in stored)
    listed = world.client("linh.tm").get("/api/v1/tokens").get_json()["tokens"]
    assert [t["id"] for t in listed] == [made["id"]] and "token" not in listed[0]


def test_a_read_token_reads_the_api_without_cookies_and_may_not_write(world: World):
    client, headers = bearer(world, make_token(world)["token"])
    me = client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200 and me.get_json()["user"] == "linh.tm"
    assert client.get_cookie(AUTH_COOKIE) is None
    assert client.get("/api/v1/tasks", headers=headers).status_code == 200
    claim = client.post(f"/api/v1/tasks/{world.syt_task}/claim", headers=headers, json={})
    assert claim.status_code == 403
    assert "may only read" in claim.get_json()["error"]["message"]
    assert client.delete("/api/v1/session", headers=headers).status_code == 403
    assert client.post("/api/v1/session", headers=headers, json={"user": "a", "password": "b"}).status_code == 403


def test_a_write_token_completes_a_task_without_csrf_or_cookies(world: World):
    client, headers = bearer(world, make_token(world, scopes=["read", "write"])["token"])
    done = client.post(f"/api/v1/tasks/{world.syt_task}/complete", headers=headers, json={"data": PLAN})
    assert done.status_code == 200, done.get_json()


def test_tokens_never_open_web_pages(world: World):
    client, headers = bearer(world, make_token(world)["token"])
    assert client.get("/", headers=headers).status_code == 302  # to the login page


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Bearer tdkt_not-a-token", "unknown API token"),
        ("Basic bGluaDpkZW1v", "Authorization: Bearer"),
        ("Bearer ", "Authorization: Bearer"),
    ],
)
def test_bad_tokens_answer_401_saying_why(world: World, header, message):
    answer = world.app.test_client().get("/api/v1/me", headers={"Authorization": header})
    assert answer.status_code == 401
    assert message in answer.get_json()["error"]["message"]


def test_an_expired_token_answers_401(world: World):
    made = make_token(world, days=1)
    client, headers = bearer(world, made["token"])
    world.ctx.clock.advance(timedelta(hours=23))
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    world.ctx.clock.advance(timedelta(hours=1))
    answer = client.get("/api/v1/me", headers=headers)
    assert answer.status_code == 401
    assert f"API token {made['id']} expired" in answer.get_json()["error"]["message"]


def test_a_revoked_token_answers_401_and_revocation_is_audited(world: World, sessions):
    made = make_token(world)
    client, headers = bearer(world, made["token"])
    owner = world.client("linh.tm")
    assert owner.delete(f"/api/v1/tokens/{made['id']}").status_code == 204
    answer = client.get("/api/v1/me", headers=headers)
    assert answer.status_code == 401 and "was revoked" in answer.get_json()["error"]["message"]
    assert owner.get("/api/v1/tokens").get_json()["tokens"][0]["revoked_by"] == "linh.tm"
    with sessions() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action.like("token.%")).order_by(AuditEvent.id))
        assert [(e.action, e.actor, e.data["token"]) for e in events] == [
            ("token.created", "linh.tm", made["id"]),
            ("token.revoked", "linh.tm", made["id"]),
        ]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"name": ""}, "name"),
        ({"scopes": ["admin"]}, "scopes"),
        ({"scopes": []}, "scopes"),
        ({"days": 366}, "days"),
        ({"days": 0}, "days"),
    ],
)
def test_token_fields_are_checked(world: World, fields, problem):
    answer = world.client("linh.tm").post("/api/v1/tokens", json={"name": "x", **fields})
    assert answer.status_code == 422
    assert problem in answer.get_json()["error"]["details"]["fields"]


def test_users_manage_their_own_tokens_and_admins_anyones(world: World):
    mine = make_token(world, "hoa.nt")
    other = world.client("linh.tm")
    assert other.post("/api/v1/tokens", json={"name": "x", "user": "hoa.nt"}).status_code == 403
    assert other.get("/api/v1/tokens?user=hoa.nt").status_code == 403
    assert other.get("/api/v1/tokens").get_json()["tokens"] == []
    assert other.delete(f"/api/v1/tokens/{mine['id']}").status_code == 404
    admin = world.client("admin")
    made = admin.post("/api/v1/tokens", json={"name": "sync", "user": "linh.tm", "days": 365})
    assert made.status_code == 201 and made.get_json()["created_by"] == "admin"
    assert {t["user"] for t in admin.get("/api/v1/tokens").get_json()["tokens"]} == {"hoa.nt", "linh.tm"}
    assert admin.delete(f"/api/v1/tokens/{mine['id']}").status_code == 204


def test_a_token_cannot_manage_tokens(world: World):
    client, headers = bearer(world, make_token(world, scopes=["read", "write"])["token"])
    assert client.get("/api/v1/tokens", headers=headers).status_code == 403
    assert client.post("/api/v1/tokens", headers=headers, json={"name": "more"}).status_code == 403


def test_tdkt_token_create_list_revoke(world: World, db_engine):
    url = db_engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    made = runner.invoke(main, ["token", "create", "linh.tm", "--name", "export", "--days", "30", "--url", url])
    assert made.exit_code == 0, made.output
    secret = next(word for word in made.output.split() if word.startswith("tdkt_"))
    client, headers = bearer(world, secret)
    assert client.get("/api/v1/me", headers=headers).get_json()["user"] == "linh.tm"
    listed = runner.invoke(main, ["token", "list", "linh.tm", "--url", url])
    assert listed.exit_code == 0 and "export" in listed.output and "read" in listed.output
    assert secret not in listed.output
    token_id = listed.output.splitlines()[1].split()[0]
    revoked = runner.invoke(main, ["token", "revoke", token_id, "--url", url])
    assert revoked.exit_code == 0, revoked.output
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    for args, message in (
        (["token", "create", "nobody", "--name", "x"], "user 'nobody' not found"),
        (["token", "create", "linh.tm", "--name", "x", "--days", "400"], "days"),
        (["token", "revoke", "999"], "token 999 not found"),
    ):
        failed = runner.invoke(main, [*args, "--url", url])
        assert failed.exit_code != 0
        assert message in failed.output and len(failed.output.strip().splitlines()) == 1


def test_null_fields_take_their_defaults(world: World):
    made = world.client("linh.tm").post(
        "/api/v1/tokens", json={"name": "n", "user": None, "scopes": None, "days": None}
    )
    assert made.status_code == 201, made.get_json()
    assert (made.get_json()["user"], made.get_json()["scopes"]) == ("linh.tm", ["read"])
