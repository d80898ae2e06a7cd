"""Logging in and out of the web UI."""

from __future__ import annotations

import unicodedata
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import Blueprint, redirect, render_template, request, url_for

from api.authz import current_user
from api.i18n import t
from api.security import log_in, log_out, set_session_cookie

bp = Blueprint("auth", __name__)


def is_local_path(target: str) -> bool:
    """A path on this site: one leading "/" with no "/" or "\\" right after it, no backslash, no control character
    or white space, no scheme or host (browsers drop tabs and newlines and read "\\" as "/": "/%09/evil.example"
    would go to //evil.example). Checked again once more percent-decoded, in case something decodes it twice."""
    if any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in target):
        return False
    for text in (target, unquote(target)):
        if not text.startswith("/") or text[1:2] in ("/", "\\") or "\\" in text:
            return False
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
            return False
        parts = urlsplit(text)
        if parts.scheme or parts.netloc:
            return False
    return True


def _safe_next(target: str | None) -> str:
    """Where to go after logging in: ``next`` when it is a path on this site, else the inbox."""
    if target and is_local_path(target):
        return target
    return url_for("web.tasks.inbox")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    next_url = request.values.get("next")
    if request.method == "GET":
        if current_user() is not None:
            return redirect(_safe_next(next_url))
        return render_template("login.html", next=next_url or "", user="", error="")
    user_id = request.form.get("user", "").strip()
    outcome = log_in(user_id, request.form.get("password", ""))
    if outcome.retry_after is not None:
        error = t("login_throttled", minutes=-(-outcome.retry_after // 60))
        page = render_template("login.html", next=next_url or "", user=user_id, error=error)
        return page, 429, {"Retry-After": str(outcome.retry_after)}
    if outcome.token is None:
        return render_template("login.html", next=next_url or "", user=user_id, error=t("login_failed")), 401
    answer = redirect(_safe_next(next_url))
    set_session_cookie(answer, outcome.token)
    return answer


@bp.post("/logout")
def logout() -> Any:
    answer = redirect(url_for("web.auth.login"))
    log_out(answer)
    return answer
