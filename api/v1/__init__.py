"""The JSON API under /api/v1: one parent blueprint (JSON-only bodies) with a child per resource."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Flask

from api.v1 import instances, openapi, reports, session, tasks


def register(app: Flask, require_json: Callable[[], None]) -> None:
    parent = Blueprint("api_v1", __name__, url_prefix="/api/v1")
    parent.before_request(require_json)
    for module in (session, tasks, instances, reports, openapi):
        parent.register_blueprint(module.bp)
    app.register_blueprint(parent)
