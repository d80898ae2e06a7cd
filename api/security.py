"""Who is logged in (server-side sessions, API bearer tokens), logging in with rate limits, the signed cookie's key,
CSRF tokens for the web forms, and JSON-only state changes on the API.

- Logging in makes an ``auth_session`` row; the ``tdkt_session`` cookie (HttpOnly, SameSite=Lax, Secure with
  ``TDKT_SECURE_COOKIES``) carries only its random token, and the row keeps only that token's SHA-256. A new token
  at every login (the one sent before is revoked: no fixation); logging out revokes it, so a copied cookie stops
  working. A session ends after ``TDKT_SESSION_IDLE_MINUTES`` (30) without a request and
  ``TDKT_SESSION_MAX_HOURS`` (12) after logging in, whatever happens. ``last_seen_at`` is written at most once a
  minute, so the idle limit holds to within a minute.
- Flask's signed cookie (``tdkt_ui``) keeps only the web forms' CSRF token and the language; who is logged in
  never comes from it.
- ``Authorization: Bearer tdkt_...`` authenticates an API request (never a web page) as the token's user; a
  token with the ``read`` scope only may send GET requests (403 otherwise); an unknown, expired or revoked token
  is a 401 that says which.
- Failed logins are counted in the database (so across every worker), per user name as typed and per client
  address: after ``TDKT_LOGIN_MAX_FAILURES_PER_USER`` (5) or ``TDKT_LOGIN_MAX_FAILURES_PER_ADDRESS`` (20) in
  ``TDKT_LOGIN_WINDOW_MINUTES`` (15), logins are refused with 429 and Retry-After, the right password too, until
  the window has moved on. Refused attempts are not counted (the lock never outlasts the window). Behind
  reverse proxies, ``TDKT_TRUSTED_PROXIES`` (their number) makes the address the one in ``X-Forwarded-For``.
- The key comes from ``TDKT_SECRET_KEY``, else from ``secret_key`` in the instance folder, made once at random
  (so restarts and several workers keep the same sessions). Never a key written in the code.
- Web forms carry a token kept in the session; a POST without the right one is refused (400).
- API requests that change something must be ``application/json``, which a cross-site HTML form cannot send
  (415 otherwise); with the SameSite=Lax cookie that keeps other sites from acting in a user's name.
"""

from __future__ import annotations

import hmac
import os
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from flask import Flask, abort, current_app, g, request, session
from sqlalchemy.orm import Session
from werkzeug.exceptions import UnsupportedMediaType
from werkzeug.wrappers import Response

from api.context import engine_context, read_sessions, sessions
from api.errors import LoginRequired
from api.passwords import STRONG, Scrypt, authenticate, hash_password, needs_rehash
from engine.errors import ConflictError, PermissionDeniedError
from engine.services.accounts import (
    SCOPES,
    LoginLimits,
    TokenRefused,
    end_session,
    login_blocked,
    record_login_attempt,
    rehash_password,
    session_holder,
    start_session,
    token_owner,
    touch_session,
)
from engine.services.directory import roles_of

_TOKEN = "csrf_token"  # noqa: S105 - the name of a form field and session key, not a secret
BODY_METHODS = ("POST", "PUT", "PATCH")


def secret_key(instance_path: str) -> str:
    from_env = os.environ.get("TDKT_SECRET_KEY")
    if from_env:
        return from_env
    path = Path(instance_path) / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # O_EXCL: of several workers starting at once, one writes the key and the others read it
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):
            key = path.read_text(encoding="ascii").strip()
            if key:
                return key
            time.sleep(0.01)  # the writer is between open and write
        raise RuntimeError(f"{path} is empty; remove it to make a new key") from None
    key = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(key)
    return key


def csrf_token() -> str:
    token = session.get(_TOKEN)
    if not isinstance(token, str):
        token = session[_TOKEN] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """Before each web request: a state-changing form must carry the session's token."""
    if request.method not in BODY_METHODS:
        return
    sent = request.form.get(_TOKEN, "")
    expected = session.get(_TOKEN)
    if not isinstance(expected, str) or not hmac.compare_digest(sent, expected):
        abort(400, description="csrf_failed")


def require_json() -> None:
    """Before each API request: a body that changes something must be JSON."""
    if request.method in BODY_METHODS and request.mimetype != "application/json":
        raise UnsupportedMediaType("send the request body as application/json")


def configure_cookies(app: Flask) -> None:
    """HttpOnly, SameSite=Lax; Secure too when ``TDKT_SECURE_COOKIES`` is set (behind HTTPS).

    These settings are Flask's signed cookie's (CSRF token and language only) and the session cookie's."""
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="tdkt_ui",
        SESSION_COOKIE_SECURE=bool(os.environ.get("TDKT_SECURE_COOKIES")),
    )
    configure_sessions(app)


# --- server-side sessions and bearer tokens ----------------------------------------------------------------

AUTH_COOKIE = "tdkt_session"
READ_METHODS = ("GET", "HEAD", "OPTIONS")
_SETTINGS = {  # app config key (and environment variable): default
    "TDKT_SESSION_IDLE_MINUTES": 30,
    "TDKT_SESSION_MAX_HOURS": 12,
    "TDKT_LOGIN_MAX_FAILURES_PER_USER": 5,
    "TDKT_LOGIN_MAX_FAILURES_PER_ADDRESS": 20,
    "TDKT_LOGIN_WINDOW_MINUTES": 15,
}


def configure_sessions(app: Flask) -> None:
    """Session and login limits from the environment (a test's config may override them); bearer scope checks."""
    for key, default in _SETTINGS.items():
        raw = os.environ.get(key)
        try:
            value = int(raw) if raw else default
        except ValueError:
            raise RuntimeError(f"{key} must be a whole number, not {raw!r}") from None
        if value < 1:
            raise RuntimeError(f"{key} must be at least 1, not {value}")
        app.config.setdefault(key, value)
    proxies = os.environ.get("TDKT_TRUSTED_PROXIES", "0")
    if not proxies.isdigit():
        raise RuntimeError(f"TDKT_TRUSTED_PROXIES must be the number of reverse proxies in front, not {proxies!r}")
    app.config.setdefault("TDKT_TRUSTED_PROXIES", int(proxies))
    app.before_request(check_token_scope)


def _minutes(key: str) -> timedelta:
    return timedelta(minutes=int(current_app.config[key]))


def _max_age() -> timedelta:
    return timedelta(hours=int(current_app.config["TDKT_SESSION_MAX_HOURS"]))


@dataclass(frozen=True)
class Credential:
    """Who a request comes from: a session cookie's user (``token_id`` None) or an API token's."""

    user_id: str
    token_id: int | None
    scopes: frozenset[str]


def _is_api() -> bool:
    return (request.blueprint or "").startswith("api_v1")


def _from_bearer(header: str) -> Credential:
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise LoginRequired(description="send an API token as 'Authorization: Bearer tdkt_...'")
    try:
        with read_sessions()() as db:
            row = token_owner(db, secret.strip(), engine_context().now())
            if "tdkt_principal" not in g:
                _principal_with(db, row.user_id)
            return Credential(row.user_id, row.id, frozenset(row.scopes or ()))
    except TokenRefused as err:
        raise LoginRequired(description=f"{err}; create a new one: POST /api/v1/tokens") from None


def _from_cookie() -> Credential | None:
    token = request.cookies.get(AUTH_COOKIE)
    if not token:
        return None
    now = engine_context().now()
    with read_sessions()() as db:
        found = session_holder(db, token, now, idle=_minutes("TDKT_SESSION_IDLE_MINUTES"))
        if found is not None and found.active and "tdkt_principal" not in g:
            from api.authz import Principal  # authz reads the credential through this module

            roles = frozenset(roles_of(db, found.user_id, now))
            g.tdkt_principal = Principal(found.user_id, found.full_name, frozenset(found.capabilities), roles)
    if found is None:
        return None
    if found.touch_due:  # at most one write a minute per session
        with sessions()() as db, db.begin():
            touch_session(db, token, now)
    return Credential(found.user_id, None, frozenset(SCOPES))


def _principal_with(db: Session, user_id: str) -> None:
    """The request's principal (``api.authz.current_user``) read in the session that found its credential: one
    read session per request for both. Left for ``current_user`` to settle when the user is no longer active."""
    from api.authz import load_principal  # authz reads the credential through this module

    principal = load_principal(db, user_id)
    if principal is not None:
        g.tdkt_principal = principal


def request_credential() -> Credential | None:
    """The credential of this request (worked out once): an API request with an ``Authorization`` header is
    judged by it alone (401 when it is bad); anything else by the session cookie."""
    if "tdkt_credential" not in g:
        header = request.headers.get("Authorization")
        g.tdkt_credential = _from_bearer(header) if header is not None and _is_api() else _from_cookie()
    credential: Credential | None = g.tdkt_credential
    return credential


def check_token_scope() -> None:
    """Before each request: an API token without the ``write`` scope may only read. Every API request's credential
    is worked out here, so that its principal is read in the same session (``_principal_with``)."""
    if not _is_api():
        return
    credential = request_credential()
    if "Authorization" not in request.headers:
        return
    if credential is not None and "write" not in credential.scopes and request.method not in READ_METHODS:
        raise PermissionDeniedError(f"API token {credential.token_id} may only read (scope 'read'): GET requests only")


def _keep_only_language() -> None:
    """A fresh signed cookie (new CSRF token) keeping the language choice."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


@dataclass(frozen=True)
class LoginOutcome:
    user_id: str | None = None
    full_name: str | None = None
    token: str | None = None  # the new session's, for the cookie
    retry_after: int | None = None  # seconds, when refused for too many failures


def _client_address() -> str:
    """The client's address; behind ``TDKT_TRUSTED_PROXIES`` reverse proxies, the one the nearest proxy saw (the
    ``X-Forwarded-For`` entries before it are the client's word, not to be trusted)."""
    hops = int(current_app.config.get("TDKT_TRUSTED_PROXIES") or 0)
    if hops:
        forwarded = [a.strip() for a in request.headers.get("X-Forwarded-For", "").split(",") if a.strip()]
        if len(forwarded) >= hops:
            return forwarded[-hops][:64]
    return (request.remote_addr or "unknown")[:64]


def log_in(user_name: str, password: str) -> LoginOutcome:
    """Check a login under the rate limits and, when right, start a session (``set_session_cookie`` next).

    The password is checked (and an old hash made again with the current KDF) outside any transaction; then one
    transaction counts the attempt and, on success, stores the new hash and the session with its audit event.
    """
    config = current_app.config
    ctx = engine_context()
    now = ctx.now()
    address = _client_address()
    window = _minutes("TDKT_LOGIN_WINDOW_MINUTES")
    limits = LoginLimits(
        int(config["TDKT_LOGIN_MAX_FAILURES_PER_USER"]), int(config["TDKT_LOGIN_MAX_FAILURES_PER_ADDRESS"]), window
    )
    with read_sessions()() as db:
        wait = login_blocked(db, now, user_name, address, limits)
    if wait is not None:
        return LoginOutcome(retry_after=wait)
    kdf: Scrypt = config.get("PASSWORD_KDF") or STRONG
    with read_sessions()() as db:
        user = authenticate(db, user_name, password, kdf)
        found = (user.id, user.full_name, user.password_hash or "") if user is not None else None
    new_hash = hash_password(password, kdf=kdf) if found is not None and needs_rehash(found[2], kdf) else None
    for attempt in range(3):  # the audit stream's head moves under concurrent logins: retry
        try:
            with sessions()() as db, db.begin():
                record_login_attempt(
                    db, now, user_name, address, succeeded=found is not None, keep=max(window, timedelta(days=1))
                )
                if found is None:
                    return LoginOutcome()
                if new_hash is not None:
                    rehash_password(db, found[0], found[2], new_hash)
                token = start_session(
                    db,
                    ctx.clock,
                    found[0],
                    max_age=_max_age(),
                    user_agent=request.user_agent.string,
                    address=address,
                    replaces=request.cookies.get(AUTH_COOKIE),
                )
            return LoginOutcome(found[0], found[1], token)
        except ConflictError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def set_session_cookie(response: Response, token: str) -> None:
    _keep_only_language()
    response.set_cookie(
        AUTH_COOKIE,
        token,
        max_age=int(_max_age().total_seconds()),
        httponly=True,
        samesite="Lax",
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
    )


def log_out(response: Response) -> None:
    """Revoke this request's session (an ``auth.logout`` event) and clear its cookie; the language stays."""
    token = request.cookies.get(AUTH_COOKIE)
    if token:
        for attempt in range(3):
            try:
                with sessions()() as db, db.begin():
                    end_session(db, engine_context().clock, token)
                break
            except ConflictError:
                if attempt == 2:
                    raise
    _keep_only_language()
    response.delete_cookie(
        AUTH_COOKIE, httponly=True, samesite="Lax", secure=bool(current_app.config.get("SESSION_COOKIE_SECURE"))
    )
