"""Flask app factory: the JSON API under /api/v1 and the web UI."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify

from api.errors import register_error_handlers
from engine.persistence.db import database_url, make_engine, make_session_factory


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(DATABASE_URL=None)
    if test_config:
        app.config.update(test_config)
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = database_url()
    # Tests pass their own engine ("ENGINE") so the app shares their database and its lifetime.
    engine = app.config.get("ENGINE") or make_engine(app.config["DATABASE_URL"])
    app.extensions["tdkt.engine"] = engine
    app.extensions["tdkt.sessions"] = make_session_factory(engine)

    register_error_handlers(app)

    @app.get("/healthz")
    def healthz() -> Any:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return jsonify(status="ok")

    return app
