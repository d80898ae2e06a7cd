"""Creating and upgrading the database schema with Alembic, configured from code (no alembic.ini needed).

``upgrade`` runs ``alembic upgrade head`` on an engine or URL; ``ensure_schema`` does it only when the database
is behind, so every CLI command and ``make run`` can call it cheaply at start-up.
"""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

from engine.persistence.db import make_engine
from engine.persistence.models import Base

# Resolved from this file so it works from a source tree and from an installed package alike.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any constant: PostgreSQL advisory lock key that makes several workers starting at once migrate one by one.
_MIGRATION_LOCK = 0x7D6B7466


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic Config pointing at our migrations; ``connection`` (if given) is the one migrations run on."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        # ConfigParser interpolation would eat a '%' in a password.
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["connection"] = connection
    return cfg


@functools.cache  # the migration scripts do not change while the process runs
def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine_or_url: Engine | str, revision: str = "head") -> None:
    """Run the migrations up to ``revision`` (head by default) in one transaction."""
    engine = make_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    try:
        with engine.begin() as conn:
            _lock(conn)
            command.upgrade(alembic_config(conn), revision)
    finally:
        if isinstance(engine_or_url, str):
            engine.dispose()


def _stamp_head(engine: Engine) -> None:
    with engine.begin() as conn:
        _lock(conn)
        if MigrationContext.configure(conn).get_current_revision() is None:  # not stamped by a racing process
            command.stamp(alembic_config(conn), "head")


def _lock(conn: Connection) -> None:
    # SQLite already serialises writers (BEGIN IMMEDIATE); PostgreSQL needs a lock, held to commit, so that a
    # second process reads the version table only after the first has finished.
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})


def ensure_schema(engine: Engine) -> bool:
    """Bring the database to the newest schema if it is behind. Returns True when something was done.

    A database made by ``Base.metadata.create_all`` (tests, early development) has every table but no
    ``alembic_version``; it is stamped as current rather than migrated again, which would fail on existing tables.
    """
    current = current_revision(engine)
    if current == head_revision():
        return False
    if current is None:
        existing = set(inspect(engine).get_table_names())
        if existing and set(Base.metadata.tables) <= existing:
            _stamp_head(engine)
            return True
    upgrade(engine)
    return True
