"""Database engine and session factory: SQLite (WAL) by default, PostgreSQL through ``DATABASE_URL``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_INSTANCE_DIR = Path("instance")
READ_ONLY = "tdkt_read_only"


def database_url(instance_dir: Path | None = None) -> str:
    """``DATABASE_URL`` if set, else a SQLite file under the instance folder."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    folder = instance_dir or DEFAULT_INSTANCE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(folder / 'tdkt.sqlite3').resolve()}"


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    url = url or database_url()
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy own transactions (pysqlite's implicit BEGIN is deferred and too late).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # IMMEDIATE takes the write lock at BEGIN, so two writers queue instead of deadlocking; sessions made
            # for reading only (inbox pages, reports) begin deferred and never wait behind writers.
            read_only = conn.get_execution_options().get(READ_ONLY, False)
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def make_session_factory(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    """Sessions for steps (the default) or, with ``read_only``, for queries that write nothing."""
    bind = engine.execution_options(**{READ_ONLY: True}) if read_only else engine
    return sessionmaker(bind, expire_on_commit=False)
