"""Databases the bench runs on: a SQLite file in a temporary folder, or a PostgreSQL database it creates.

With PostgreSQL the bench never touches the database named in the URL: it creates ``tdkt_bench_<suffix>`` next
to it and drops it afterwards, so a shared server's data stays as it was.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, make_url, text

from engine.persistence.db import make_engine
from engine.persistence.models import Base


@contextmanager
def bench_database(url: str | None, suffix: str) -> Iterator[Engine]:
    """A fresh, empty database with every table; removed afterwards."""
    if url is None or url.startswith("sqlite"):
        with tempfile.TemporaryDirectory(prefix="tdkt-bench-") as tmp:
            engine = make_engine(f"sqlite:///{Path(tmp) / f'{suffix}.sqlite3'}")
            try:
                Base.metadata.create_all(engine)
                yield engine
            finally:
                engine.dispose()
        return
    name = f"tdkt_bench_{suffix}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine = make_engine(make_url(url).set(database=name).render_as_string(hide_password=False))
        try:
            Base.metadata.create_all(engine)
            yield engine
        finally:
            engine.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def database_bytes(engine: Engine) -> int:
    """Bytes the database takes on disk (SQLite: after a WAL checkpoint)."""
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()  # outside SQLAlchemy's transaction: a checkpoint cannot run inside one
        try:
            cur = raw.cursor()
            cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            values = [cur.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "page_size", "freelist_count")]
            cur.close()
        finally:
            raw.close()
        return int((values[0] - values[2]) * values[1])
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


def server_version(engine: Engine) -> str:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return "SQLite " + str(conn.exec_driver_sql("SELECT sqlite_version()").scalar_one())
        return str(conn.execute(text("SHOW server_version")).scalar_one()).join(("PostgreSQL ", ""))
