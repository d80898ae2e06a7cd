"""Logging in and out over the API, who is logged in, the session cookie and the secret key."""

from __future__ import annotations

import subprocess
import sys

import pytest

from api import create_app
from api.security import secret_key
from engine.persistence.models import User
from tests.api_support import NO_PASSWORD, PASSWORD, World, login
from tests.api_support import world as world  # noqa: F401 - fixture


def test_login_sets_an_httponly_lax_cookie_and_me_names_the_memberships(world: World):
    client = world.client()
    answer = client.post("/api/v1/session", json={"user": "linh.tm", "password": PASSWORD})
    assert answer.status_code == 200
    assert answer.get_json() == {"user": "linh.tm", "full_name": "Trần Mỹ Linh"}
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    me = client.get("/api/v1/me").get_json()
    assert me["user"] == "linh.tm"
    assert me["memberships"] == [
        {"role": "unit_officer", "role_name": "Cán bộ phụ trách TĐKT của đơn vị", "unit": "SYT", "unit_name": "Sở Y tế"}
    ]
    assert me["can"] == {
        "start_instances": False,
        "see_reports": False,
        "see_all_instances": False,
        "read_all_audit": False,
    }


def test_capabilities_of_an_auditor_and_sở_nội_vụ(world: World):
    auditor = world.client("kiem.tra").get("/api/v1/me").get_json()
    assert auditor["capabilities"] == ["auditor"]
    assert auditor["can"]["read_all_audit"] and auditor["can"]["see_all_instances"]
    reviewer = world.client("an.tdkt").get("/api/v1/me").get_json()
    assert reviewer["can"]["start_instances"] and reviewer["can"]["see_reports"]


@pytest.mark.parametrize(
    ("user", "password"),
    [("linh.tm", "wrong"), ("nobody", PASSWORD), (NO_PASSWORD, ""), (NO_PASSWORD, PASSWORD)],
    ids=["wrong-password", "unknown-user", "no-password-empty", "no-password-set"],
)
def test_bad_logins_answer_401_and_set_no_user(world: World, user, password):
    client = world.client()
    answer = client.post("/api/v1/session", json={"user": user, "password": password or "x"})
    assert answer.status_code == 401
    assert answer.get_json()["error"]["code"] == "login_required"
    assert client.get("/api/v1/me").status_code == 401


def test_login_needs_both_fields_and_a_json_body(world: World):
    client = world.client()
    missing = client.post("/api/v1/session", json={"user": "linh.tm"})
    assert missing.status_code == 422
    assert missing.get_json()["error"]["details"]["fields"] == {"password": "required"}
    form = client.post("/api/v1/session", data={"user": "linh.tm", "password": PASSWORD})
    assert form.status_code == 415
    assert form.get_json()["error"]["code"] == "unsupported_media_type"


def test_logout_ends_the_session(world: World):
    client = world.client("linh.tm")
    assert client.delete("/api/v1/session").status_code == 204
    answer = client.get("/api/v1/me")
    assert answer.status_code == 401
    assert set(answer.get_json()["error"]) == {"code", "message", "details"}


def test_a_user_deactivated_after_logging_in_is_logged_out(world: World, sessions):
    client = world.client("linh.tm")
    with sessions() as s, s.begin():
        s.get(User, "linh.tm").active = False
    assert client.get("/api/v1/me").status_code == 401
    login_again = client.post("/api/v1/session", json={"user": "linh.tm", "password": PASSWORD})
    assert login_again.status_code == 401


def test_the_secret_key_comes_from_the_environment_or_a_file_made_once(tmp_path, monkeypatch):
    monkeypatch.delenv("TDKT_SECRET_KEY", raising=False)
    first = secret_key(str(tmp_path))
    assert len(first) > 40
    assert secret_key(str(tmp_path)) == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    monkeypatch.setenv("TDKT_SECRET_KEY", "from-env")
    assert secret_key(str(tmp_path)) == "from-env"


def test_sessions_survive_a_new_app_on_the_same_key(world: World, db_engine):
    client = world.client("linh.tm")
    config = {"ENGINE": db_engine, "DATABASE_URL": "given", "SECRET_KEY": "test", "ENGINE_CONTEXT": world.ctx}
    again = create_app(config)
    cookie = client.get_cookie("tdkt_session")
    assert cookie is not None
    other = again.test_client()
    other.set_cookie("tdkt_session", cookie.value)
    assert other.get("/api/v1/me").get_json()["user"] == "linh.tm"


def test_gunicorn_can_build_the_app_from_database_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'g.sqlite3'}"
    code = "import api; app = api.create_app(); print(sorted(app.extensions))"
    env = {"DATABASE_URL": url, "TDKT_SECRET_KEY": "k", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert "tdkt.ctx" in done.stdout


def test_tdkt_user_set_password_then_login(world: World, db_engine, tmp_path):
    from click.testing import CliRunner

    from cli import main

    url = db_engine.url.render_as_string(hide_password=False)
    short = CliRunner().invoke(main, ["user", "set-password", NO_PASSWORD, "--password-stdin", "--url", url], "abc\n")
    assert short.exit_code == 1
    done = CliRunner().invoke(
        main, ["user", "set-password", NO_PASSWORD, "--password-stdin", "--url", url], "a-long-secret\n"
    )
    assert done.exit_code == 0, done.output
    client = world.client()
    login(client, NO_PASSWORD, "a-long-secret")
    assert client.get("/api/v1/me").get_json()["user"] == NO_PASSWORD
