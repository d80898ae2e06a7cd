"""Logging in and out of the web UI."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, session, url_for

from api.authz import current_user
from api.context import read_sessions
from api.i18n import t
from api.passwords import authenticate
from api.v1.session import log_in

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    """Only a path on this site (never "//elsewhere" or "http://...")."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
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
    with read_sessions()() as db:
        user = authenticate(db, user_id, request.form.get("password", ""))
    if user is None:
        return render_template("login.html", next=next_url or "", user=user_id, error=t("login_failed")), 401
    log_in(user.id)
    return redirect(_safe_next(next_url))


@bp.post("/logout")
def logout() -> Any:
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    return redirect(url_for("web.auth.login"))
