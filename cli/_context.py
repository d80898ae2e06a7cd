"""What every command needs: the database (brought to the newest schema on first use) and the clock."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from engine.clock import SystemClock
from engine.persistence.db import make_engine, make_session_factory
from engine.persistence.schema import ensure_schema


def open_database(url: str | None = None) -> tuple[Engine, sessionmaker[Session]]:
    engine = make_engine(url)
    ensure_schema(engine)
    return engine, make_session_factory(engine)


def system_clock() -> SystemClock:
    return SystemClock()
