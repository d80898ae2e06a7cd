"""Flask app factory: the JSON API under /api/v1 and the web UI.

``create_app()`` with no arguments reads ``DATABASE_URL`` and brings the schema up to date, so gunicorn can serve
``api:create_app()``. Tests and ``tdkt serve`` pass their own engine (``ENGINE``) and may pass an
``EngineContext`` (``ENGINE_CONTEXT``, e.g. with a manual clock).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify

from api.errors import register_error_handlers
from api.hardening import harden, max_request_bytes
from api.i18n import format_date, format_datetime, remember_language, t, template_globals
from api.security import configure_cookies, csrf_token, require_json, secret_key
from engine.clock import SystemClock
from engine.persistence.db import database_url, make_engine, make_session_factory
from engine.persistence.schema import ensure_schema
from engine.services.context import EngineContext


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    harden(app)
    app.config.from_mapping(DATABASE_URL=None, JSON_AS_ASCII=False)
    configure_cookies(app)
    if test_config:
        app.config.update(test_config)
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = database_url()
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = secret_key(app.instance_path)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    # Tests pass their own engine ("ENGINE") so the app shares their database and its lifetime.
    engine = app.config.get("ENGINE")
    if engine is None:
        engine = make_engine(app.config["DATABASE_URL"])
        ensure_schema(engine)
    sessions = make_session_factory(engine)
    ctx = app.config.get("ENGINE_CONTEXT") or EngineContext(clock=SystemClock())
    if not app.config.get("ENGINE_CONTEXT"):
        with sessions() as session, session.begin():
            ctx.reload_calendar(session)  # the admins' working-day overrides
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        # A request body may be a few times the largest submission (JSON escapes, indentation), no more: werkzeug
        # answers 413 before reading it. The services measure the submission itself (ctx.limits).
        app.config["MAX_CONTENT_LENGTH"] = max_request_bytes(4 * ctx.limits.max_bytes + 65_536)
    app.extensions["tdkt.engine"] = engine
    app.extensions["tdkt.sessions"] = sessions
    app.extensions["tdkt.read_sessions"] = make_session_factory(engine, read_only=True)
    app.extensions["tdkt.ctx"] = ctx

    register_error_handlers(app)
    app.before_request(remember_language)
    app.jinja_env.globals.update(csrf_token=csrf_token, t=t)
    app.jinja_env.filters.update(date=format_date, datetime=format_datetime)
    app.context_processor(template_globals)

    from api import v1, web

    v1.register(app, require_json)
    web.register(app)

    @app.get("/healthz")
    def healthz() -> Any:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return jsonify(status="ok")

    return app
