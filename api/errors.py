"""One place that turns engine errors into HTTP answers: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from engine.errors import (
    ConflictError,
    DefinitionError,
    EngineError,
    ExpressionError,
    IncidentError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)

STATUS: list[tuple[type[EngineError], int]] = [
    (NotFoundError, 404),
    (PermissionDeniedError, 403),
    (ConflictError, 409),
    (ValidationError, 422),
    (DefinitionError, 422),
    (ExpressionError, 422),
    (IncidentError, 409),
]


def _body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(EngineError)
    def engine_error(err: EngineError) -> Any:
        status = next((code for cls, code in STATUS if isinstance(err, cls)), 400)
        return jsonify(_body(err.code, err.message, err.details)), status

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> Any:
        name = (err.name or "error").lower().replace(" ", "_")
        return jsonify(_body(name, err.description or err.name or "error")), err.code or 500

    @app.errorhandler(Exception)
    def unexpected(err: Exception) -> Any:  # never a traceback to a user; the log keeps it
        app.logger.exception("unhandled error")
        return jsonify(_body("internal_error", "internal error; the server log has the details")), 500
