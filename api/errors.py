"""One place that turns errors into HTTP answers: ``{"error": {"code", "message", "details"}}`` for the API (and
any URL outside the web pages), an HTML page for the web UI (a login redirect when nobody is logged in).

Engine errors map to one status each; a traceback never reaches a user (the log keeps it).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from api.hardening import MAX_ID
from engine.errors import (
    ConflictError,
    DefinitionError,
    EngineError,
    ExpressionError,
    IncidentError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ValidationError,
)

STATUS: list[tuple[type[EngineError], int]] = [
    (NotFoundError, 404),
    (PermissionDeniedError, 403),
    (ConflictError, 409),
    (ValidationError, 422),
    (PayloadTooLargeError, 413),
    (DefinitionError, 422),
    (ExpressionError, 422),
    (IncidentError, 409),
]


class LoginRequired(HTTPException):
    """Nobody is logged in (or the session's user no longer may log in)."""

    code = 401
    description = "log in first: POST /api/v1/session"

    @property
    def name(self) -> str:
        return "Login Required"


def _body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _is_web() -> bool:
    """A web page's error, or one for a browser asking for a URL that is no route (outside /api/)."""
    if (request.blueprint or "").startswith("web"):
        return True
    if request.blueprint is None and not request.path.startswith("/api/"):
        return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"
    return False


def _page(status: int, code: str, message: str) -> Any:
    return render_template("error.html", status=status, code=code, message=message), status


def _names_an_impossible_id(path: str) -> bool:
    """Whether a segment of ``path`` is a whole number above the largest database id (the id converter's 404)."""
    return any(part.isdigit() and int(part) > MAX_ID for part in path.split("/"))


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(EngineError)
    def engine_error(err: EngineError) -> Any:
        status = next((code for cls, code in STATUS if isinstance(err, cls)), 400)
        if _is_web():
            return _page(status, err.code, err.message)
        return jsonify(_body(err.code, err.message, err.details)), status

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> Any:
        if isinstance(err, MethodNotAllowed) and _names_an_impossible_id(request.path):
            # The id converter refused a number no row can have; where one path has a rule per method, the
            # router then blames the method (405) of the rule it matched first: it is a 404 like any other.
            err = NotFound()
        if isinstance(err, LoginRequired) and _is_web():
            return redirect(url_for("web.auth.login", next=request.full_path.rstrip("?")))
        name = (err.name or "error").lower().replace(" ", "_")
        if _is_web():
            return _page(err.code or 500, name, err.description or err.name or "error")
        return jsonify(_body(name, err.description or err.name or "error")), err.code or 500

    @app.errorhandler(Exception)
    def unexpected(err: Exception) -> Any:  # never a traceback to a user; the log keeps it
        app.logger.exception("unhandled error")
        if _is_web():
            return _page(500, "internal_error", "internal error; the server log has the details")
        return jsonify(_body("internal_error", "internal error; the server log has the details")), 500
