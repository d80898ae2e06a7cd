"""The session cookie's key, CSRF tokens for the web forms, and JSON-only state changes on the API.

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
from pathlib import Path

from flask import Flask, abort, request, session
from werkzeug.exceptions import UnsupportedMediaType

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
    """HttpOnly, SameSite=Lax; Secure too when ``TDKT_SECURE_COOKIES`` is set (behind HTTPS)."""
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="tdkt_session",
        SESSION_COOKIE_SECURE=bool(os.environ.get("TDKT_SECURE_COOKIES")),
    )
