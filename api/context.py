"""What a request needs from the app: the session factories and the engine context, built once per app."""

from __future__ import annotations

from flask import current_app
from sqlalchemy.orm import Session, sessionmaker

from engine.services.context import EngineContext


def sessions() -> sessionmaker[Session]:
    """Sessions for requests that change something: ``with sessions() as s, s.begin():``."""
    factory: sessionmaker[Session] = current_app.extensions["tdkt.sessions"]
    return factory


def read_sessions() -> sessionmaker[Session]:
    """Sessions for requests that only read (on SQLite they never wait behind a writer)."""
    factory: sessionmaker[Session] = current_app.extensions["tdkt.read_sessions"]
    return factory


def engine_context() -> EngineContext:
    ctx: EngineContext = current_app.extensions["tdkt.ctx"]
    return ctx
