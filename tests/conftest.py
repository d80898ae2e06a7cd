"""Shared fixtures: a real database (SQLite file, or PostgreSQL when DATABASE_URL is set) and a manual clock."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from engine.clock import ManualClock
from engine.persistence.db import make_engine, make_session_factory
from engine.persistence.models import Base

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
BPMN_DIR = ROOT / "bpmn"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

IS_POSTGRES = os.environ.get("DATABASE_URL", "").startswith("postgresql")


@pytest.fixture(scope="session")
def _pg_engine() -> Iterator[Engine | None]:
    if not IS_POSTGRES:
        yield None
        return
    engine = make_engine(os.environ["DATABASE_URL"])
    Base.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def db_engine(_pg_engine: Engine | None, tmp_path: Path) -> Iterator[Engine]:
    """A database with the schema in place and no rows; emptied again after the test."""
    if _pg_engine is None:
        engine = make_engine(f"sqlite:///{tmp_path / 'test.sqlite3'}")
        Base.metadata.create_all(engine)
        yield engine
        engine.dispose()
        return
    yield _pg_engine
    names = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with _pg_engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def sessions(db_engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(db_engine)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2024, 3, 19, 2, 0, tzinfo=UTC))
