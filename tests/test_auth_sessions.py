"""Server-side sessions: a copied cookie dies at logout, idle and absolute expiry on the manual clock, a fresh id at
every login, only the token's hash stored, the signed cookie never naming the user, the audit of logins."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from api import create_app
from api.security import AUTH_COOKIE
from engine.persistence.models import AuditEvent, AuthSession
from tests.api_support import PASSWORD, TEST_KDF, World, login
from tests.api_support import world as world  # noqa: F401 - fixture
from tests.test_web import token as csrf_of
from tests.test_web import web_login


@pytest.fixture(autouse=True)
def real_limits(world: World) -> None:
    """The defaults (api_support's world stretches them for tests that move the clock by days)."""
    world.app.config.update(TDKT_SESSION_IDLE_MINUTES=30, TDKT_SESSION_MAX_HOURS=12)


def test_the_limits_default_to_thirty_minutes_and_twelve_hours(db_engine, monkeypatch):
    for key in ("TDKT_SESSION_IDLE_MINUTES", "TDKT_SESSION_MAX_HOURS"):
        monkeypatch.delenv(key, raising=False)
    app = create_app({"ENGINE": db_engine, "DATABASE_URL": "given", "SECRET_KEY": "t"})
    assert (app.config["TDKT_SESSION_IDLE_MINUTES"], app.config["TDKT_SESSION_MAX_HOURS"]) == (30, 12)


def session_token(client: FlaskClient) -> str:
    cookie = client.get_cookie(AUTH_COOKIE)
    assert cookie is not None
    return cookie.value


def with_cookie(world: World, value: str) -> FlaskClient:
    other = world.app.test_client()
    other.set_cookie(AUTH_COOKIE, value)
    return other


def me(client: FlaskClient) -> int:
    return client.get("/api/v1/me").status_code


def test_the_cookie_holds_a_random_token_and_the_table_only_its_hash(world: World, sessions):
    client = world.client()
    answer = client.post("/api/v1/session", json={"user": "linh.tm", "password": PASSWORD})
    cookies = answer.headers.getlist("Set-Cookie")
    auth = next(c for c in cookies if c.startswith(f"{AUTH_COOKIE}="))
    assert "HttpOnly" in auth and "SameSite=Lax" in auth and "Max-Age=43200" in auth
    token = session_token(client)
    assert len(token) >= 40 and "linh" not in token
    with sessions() as s:
        (row,) = s.scalars(select(AuthSession))
        assert row.id == hashlib.sha256(token.encode()).hexdigest() != token
        assert row.user_id == "linh.tm"
        assert row.expires_at - row.created_at == timedelta(hours=12)
        assert row.address == "127.0.0.1"


def test_secure_cookies_when_asked(world: World, monkeypatch, db_engine):
    monkeypatch.setenv("TDKT_SECURE_COOKIES", "1")
    app = create_app(
        {
            "ENGINE": db_engine,
            "DATABASE_URL": "given",
            "SECRET_KEY": "t",
            "ENGINE_CONTEXT": world.ctx,
            "PASSWORD_KDF": TEST_KDF,
        }
    )
    answer = app.test_client().post("/api/v1/session", json={"user": "linh.tm", "password": PASSWORD})
    auth = next(c for c in answer.headers.getlist("Set-Cookie") if c.startswith(f"{AUTH_COOKIE}="))
    assert "Secure" in auth


def test_a_copied_cookie_stops_working_at_api_logout(world: World):
    client = world.client("linh.tm")
    copy = with_cookie(world, session_token(client))
    assert me(copy) == 200
    assert client.delete("/api/v1/session").status_code == 204
    assert me(client) == 401
    assert me(copy) == 401


def test_a_copied_cookie_stops_working_at_web_logout(world: World):
    client = world.client()
    inbox = web_login(client, "linh.tm")
    copy = with_cookie(world, session_token(client))
    assert copy.get("/").status_code == 200
    out = client.post("/logout", data={"csrf_token": csrf_of(inbox.data)})
    assert out.status_code == 302 and out.headers["Location"] == "/login"
    assert copy.get("/").status_code == 302
    assert me(copy) == 401


def test_idle_timeout_after_thirty_minutes_without_a_request(world: World):
    clock = world.ctx.clock
    client = world.client("linh.tm")
    for _ in range(5):  # requests 29 minutes apart keep it alive, well past 30 minutes in all
        clock.advance(timedelta(minutes=29))
        assert me(client) == 200
    clock.advance(timedelta(minutes=30))
    assert me(client) == 401


def test_last_seen_is_written_at_most_once_a_minute(world: World, sessions):
    clock = world.ctx.clock
    client = world.client("linh.tm")
    start = clock.now()

    def last_seen():
        with sessions() as s:
            return s.scalars(select(AuthSession.last_seen_at)).one()

    clock.advance(timedelta(seconds=30))
    assert me(client) == 200
    assert last_seen() == start  # not yet: no write
    clock.advance(timedelta(seconds=31))
    assert me(client) == 200
    assert last_seen() == clock.now()


def test_absolute_timeout_after_twelve_hours_however_busy(world: World):
    clock = world.ctx.clock
    client = world.client("linh.tm")
    for _ in range(11 * 4 + 3):  # every 15 minutes up to 11h45
        clock.advance(timedelta(minutes=15))
        assert me(client) == 200
    clock.advance(timedelta(minutes=15))
    assert me(client) == 401


def test_timeouts_come_from_the_configuration(world: World, db_engine, monkeypatch):
    monkeypatch.setenv("TDKT_SESSION_IDLE_MINUTES", "5")
    monkeypatch.setenv("TDKT_SESSION_MAX_HOURS", "1")
    app = create_app(
        {
            "ENGINE": db_engine,
            "DATABASE_URL": "given",
            "SECRET_KEY": "t",
            "ENGINE_CONTEXT": world.ctx,
            "PASSWORD_KDF": TEST_KDF,
        }
    )
    client = app.test_client()
    login(client, "linh.tm")
    world.ctx.clock.advance(timedelta(minutes=4))
    assert me(client) == 200
    world.ctx.clock.advance(timedelta(minutes=6))
    assert me(client) == 401


def test_login_gives_a_new_session_and_revokes_the_one_sent(world: World, sessions):
    client = world.client("linh.tm")
    first = session_token(client)
    login(client, "linh.tm")
    second = session_token(client)
    assert second != first
    assert me(with_cookie(world, first)) == 401
    assert me(with_cookie(world, second)) == 200
    # a token planted before login (fixation) is never the one the login hands out
    planted = with_cookie(world, "planted-by-an-attacker")
    login(planted, "linh.tm")
    assert session_token(planted) != "planted-by-an-attacker"


def test_the_signed_cookie_no_longer_says_who_is_logged_in(world: World):
    client = world.client()
    with client.session_transaction() as flask_session:
        flask_session["user_id"] = "admin"  # what the signed cookie alone used to be enough for
    assert me(client) == 401


def test_sessions_survive_a_new_app_on_the_same_database(world: World, db_engine):
    client = world.client("linh.tm")
    again = create_app(
        {"ENGINE": db_engine, "DATABASE_URL": "given", "SECRET_KEY": "other", "ENGINE_CONTEXT": world.ctx}
    )
    other = again.test_client()
    other.set_cookie(AUTH_COOKIE, session_token(client))
    assert other.get("/api/v1/me").get_json()["user"] == "linh.tm"


def test_web_forms_keep_their_csrf_token_and_language_across_login(world: World):
    client = world.client()
    client.get("/login?lang=en")
    inbox = web_login(client, "linh.tm")
    assert 'lang="en"' in inbox.get_data(as_text=True)
    claim = client.post(f"/tasks/{world.syt_task}/claim", data={"csrf_token": csrf_of(inbox.data)})
    assert claim.status_code == 302
    out = client.post("/logout", data={"csrf_token": csrf_of(client.get("/").data)})
    assert out.status_code == 302
    assert 'lang="en"' in client.get("/login").get_data(as_text=True)


def test_logins_and_logouts_are_in_the_system_audit_stream(world: World, sessions):
    client = world.client("linh.tm")
    client.delete("/api/v1/session")
    with sessions() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.stream == "system", AuditEvent.action.like("auth.%")))
        assert [(e.action, e.actor) for e in events] == [("auth.login", "linh.tm"), ("auth.logout", "linh.tm")]


def test_a_new_password_ends_the_users_sessions(world: World, db_engine):
    from click.testing import CliRunner

    from cli import main

    client = world.client("linh.tm")
    other = world.client("hoa.nt")
    url = db_engine.url.render_as_string(hide_password=False)
    done = CliRunner().invoke(
        main, ["user", "set-password", "linh.tm", "--password-stdin", "--url", url], "new-secret\n"
    )
    assert done.exit_code == 0, done.output
    assert me(client) == 401
    assert me(other) == 200
