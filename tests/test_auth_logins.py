"""Logging in: rate limits per user name and per address (429 with Retry-After, on the API and the web form), the
password KDF and the re-hashing of old hashes, equal work for unknown users, and the web login's ``next``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from api import passwords
from api.passwords import STRONG, Scrypt, check_password, hash_password, needs_rehash
from api.web.auth import is_local_path
from engine.persistence.models import LoginAttempt, User
from tests.api_support import PASSWORD, TEST_KDF, World
from tests.api_support import world as world  # noqa: F401 - fixture
from tests.test_web import token as csrf_of


def api_login(world: World, user: str, password: str, address: str = "10.0.0.1"):
    client = world.app.test_client()
    return client.post(
        "/api/v1/session", json={"user": user, "password": password}, environ_base={"REMOTE_ADDR": address}
    )


def fail(world: World, times: int, user: str = "linh.tm", address: str = "10.0.0.1") -> None:
    for _ in range(times):
        assert api_login(world, user, "wrong", address).status_code == 401


def test_five_failures_lock_the_user_name_even_for_the_right_password(world: World):
    fail(world, 5)
    locked = api_login(world, "linh.tm", PASSWORD, "10.9.9.9")  # another address: the name is locked
    assert locked.status_code == 429
    assert locked.headers["Retry-After"] == "900"
    error = locked.get_json()["error"]
    assert error["code"] == "too_many_requests" and "try again in 15 minute(s)" in error["message"]
    world.ctx.clock.advance(timedelta(minutes=14, seconds=59))
    assert api_login(world, "linh.tm", PASSWORD).status_code == 429
    world.ctx.clock.advance(timedelta(seconds=1))
    assert api_login(world, "linh.tm", PASSWORD).status_code == 200
    assert api_login(world, "hoa.nt", PASSWORD).status_code == 200  # other users were never locked


def test_the_lock_ends_with_the_window_and_refused_attempts_do_not_extend_it(world: World):
    clock = world.ctx.clock
    fail(world, 1)
    clock.advance(timedelta(minutes=10))
    fail(world, 4)
    for _ in range(10):
        assert api_login(world, "linh.tm", "wrong").status_code == 429
    answer = api_login(world, "linh.tm", PASSWORD)
    assert answer.headers["Retry-After"] == "300"  # when the first of the five leaves the window
    clock.advance(timedelta(minutes=5))
    assert api_login(world, "linh.tm", "wrong").status_code == 401  # one more guess, then locked again
    assert api_login(world, "linh.tm", PASSWORD).status_code == 429


def test_unknown_user_names_are_locked_the_same_way(world: World):
    fail(world, 5, user="no.such.user")
    assert api_login(world, "no.such.user", "wrong").status_code == 429


def test_twenty_failures_from_one_address_lock_it_for_every_user(world: World):
    for i in range(20):
        assert api_login(world, f"guess{i % 10}", "wrong", "10.6.6.6").status_code == 401
    assert api_login(world, "linh.tm", PASSWORD, "10.6.6.6").status_code == 429
    assert api_login(world, "linh.tm", PASSWORD, "10.1.1.1").status_code == 200


def test_good_logins_never_wipe_an_addresses_failures(world: World):
    # an attacker with an account of their own logs in between guesses at others: the address still locks
    for i in range(20):
        if i % 4 == 0:
            assert api_login(world, "hoa.nt", PASSWORD, "10.6.6.6").status_code == 200
        assert api_login(world, f"victim{i}", "wrong", "10.6.6.6").status_code == 401
    assert api_login(world, "hoa.nt", PASSWORD, "10.6.6.6").status_code == 429


def test_a_good_login_clears_only_that_users_own_count(world: World):
    fail(world, 4)
    assert api_login(world, "linh.tm", PASSWORD).status_code == 200
    fail(world, 4)  # would be the 8th failure: the count restarted at the good login
    assert api_login(world, "linh.tm", PASSWORD).status_code == 200


def test_limits_come_from_the_configuration(world: World):
    world.app.config.update(TDKT_LOGIN_MAX_FAILURES_PER_USER=2, TDKT_LOGIN_WINDOW_MINUTES=1)
    fail(world, 2)
    assert api_login(world, "linh.tm", PASSWORD).status_code == 429
    world.ctx.clock.advance(timedelta(minutes=1))
    assert api_login(world, "linh.tm", PASSWORD).status_code == 200


def test_old_attempts_are_removed(world: World, sessions):
    fail(world, 3)
    world.ctx.clock.advance(timedelta(days=1, minutes=1))
    fail(world, 1)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(LoginAttempt)) == 1


def test_the_web_form_says_so_in_vietnamese_and_english(world: World):
    client = world.app.test_client()
    for attempt in range(6):
        page = client.get("/login").data
        answer = client.post("/login", data={"user": "linh.tm", "password": "wrong", "csrf_token": csrf_of(page)})
        assert answer.status_code == (401 if attempt < 5 else 429)
    assert answer.headers["Retry-After"] == "900"
    assert "Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau 15 phút." in answer.get_data(as_text=True)
    page = client.get("/login?lang=en").data
    right = client.post("/login", data={"user": "linh.tm", "password": PASSWORD, "csrf_token": csrf_of(page)})
    assert right.status_code == 429
    assert "Too many failed logins. Please try again in 15 minute(s)." in right.get_data(as_text=True)


# --- the password KDF -------------------------------------------------------------------------------------------


def test_new_hashes_are_salted_scrypt_at_the_strong_setting_by_default():
    assert STRONG == Scrypt(17, 8, 1)
    cheap = Scrypt(4, 1, 1)
    first, second = hash_password("secret!", kdf=cheap), hash_password("secret!", kdf=cheap)
    assert first.startswith("$scrypt$ln=4,r=1,p=1$") and first != second
    assert check_password(first, "secret!") and not check_password(first, "secret?")
    assert needs_rehash(first) and not needs_rehash(first, cheap)
    assert not check_password("$scrypt$ln=99,r=8,p=1$AAAA$AAAA", "x")  # refused, never a 2**99 allocation
    assert not check_password("$other$format", "x")


def test_the_default_hash_is_the_strong_one():
    stored = hash_password("a long secret")
    assert stored.startswith("$scrypt$ln=17,r=8,p=1$") and check_password(stored, "a long secret")


def test_an_old_werkzeug_hash_still_logs_in_and_is_rehashed(world: World, sessions):
    with sessions() as s, s.begin():
        s.get(User, "linh.tm").password_hash = hash_password(PASSWORD, method="pbkdf2:sha256:1000")
    assert api_login(world, "linh.tm", "wrong").status_code == 401
    with sessions() as s:
        assert s.get(User, "linh.tm").password_hash.startswith("pbkdf2:")  # not on a failure
    assert api_login(world, "linh.tm", PASSWORD).status_code == 200
    with sessions() as s:
        stored = s.get(User, "linh.tm").password_hash
    assert stored.startswith(TEST_KDF.label) and check_password(stored, PASSWORD)
    assert api_login(world, "linh.tm", PASSWORD).status_code == 200


def test_unknown_users_cost_a_hash_check_like_known_ones(world: World, monkeypatch):
    checked: list[str] = []
    real = passwords.check_password
    monkeypatch.setattr(passwords, "check_password", lambda stored, pw: checked.append(stored) or real(stored, pw))
    api_login(world, "linh.tm", "wrong")
    api_login(world, "nobody", "wrong")
    api_login(world, "mttq", "wrong")  # a user without a password
    assert len(checked) == 3
    assert all(stored.startswith(TEST_KDF.label) for stored in checked)


# --- where the web login goes next --------------------------------------------------------------------------------

EVIL = [
    "/\t/evil.example",
    "//evil.example",
    "//evil.example/",
    "/\\evil.example",
    "\\\\evil.example",
    "https://evil.example",
    "javascript:alert(1)",
    "/ok\nSet-Cookie: x=1",
    "/ok\r\nLocation: //evil.example",
    "/%09/evil.example",
    "/%2F/evil.example",
    "/%5Cevil.example",
    " /overview",
    "/over view",
    "evil.example",
    "",
]


@pytest.mark.parametrize("target", EVIL)
def test_next_off_site_or_odd_goes_home(world: World, target):
    assert not is_local_path(target) or target == ""
    client = world.app.test_client()
    page = client.get("/login").data
    form = {"user": "an.tdkt", "password": PASSWORD, "csrf_token": csrf_of(page), "next": target}
    answer = client.post("/login", data=form)
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/"


@pytest.mark.parametrize("query", ["/%09/evil.example", "//evil.example", "/%5Cevil.example", "/ok%0Aevil", "%0D%0A"])
def test_next_in_the_query_of_a_logged_in_user_goes_home_never_a_500(world: World, query):
    client = world.client("an.tdkt")
    answer = client.get(f"/login?next={query}")
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/"


@pytest.mark.parametrize("target", ["/overview", "/tasks/12?tab=form", "/instances?unit=SYT&page=2", "/"])
def test_next_on_this_site_is_followed(world: World, target):
    assert is_local_path(target)
    client = world.client("an.tdkt")
    assert client.get("/login", query_string={"next": target}).headers["Location"] == target


def test_behind_a_trusted_proxy_the_forwarded_address_is_counted(world: World):
    world.app.config["TDKT_TRUSTED_PROXIES"] = 1
    for i in range(20):
        headers = {"X-Forwarded-For": f"1.2.3.{i}, 10.6.6.6"}  # the client's own claim, then what the proxy saw
        answer = world.app.test_client().post(
            "/api/v1/session", json={"user": f"u{i}", "password": "x"}, headers=headers
        )
        assert answer.status_code == 401
    blocked = world.app.test_client().post(
        "/api/v1/session", json={"user": "linh.tm", "password": PASSWORD}, headers={"X-Forwarded-For": "10.6.6.6"}
    )
    assert blocked.status_code == 429
    other = world.app.test_client().post(
        "/api/v1/session", json={"user": "linh.tm", "password": PASSWORD}, headers={"X-Forwarded-For": "10.1.1.1"}
    )
    assert other.status_code == 200  # another client behind the same proxy
