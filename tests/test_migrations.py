"""The Alembic migrations build exactly the schema of ``engine.persistence.models``, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from conftest import IS_POSTGRES, ROOT
from sqlalchemy import Engine, create_engine, inspect, make_url, text

from engine.persistence.db import make_engine
from engine.persistence.models import Base
from engine.persistence.schema import (
    MIGRATIONS_DIR,
    alembic_config,
    current_revision,
    ensure_schema,
    head_revision,
    upgrade,
)

TDKT = str(Path(sys.executable).parent / "tdkt")


def schema_differences(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False})
        return list(compare_metadata(context, Base.metadata))


def upgrade_at_once(engine: Engine) -> None:
    """Two workers starting together on an empty database: both must succeed, the schema made once."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def start() -> None:
        try:
            barrier.wait(timeout=10)
            ensure_schema(engine)
        except BaseException as err:  # re-raised in the test thread below
            errors.append(err)

    workers = [threading.Thread(target=start) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert errors == []


def test_two_workers_upgrading_an_empty_sqlite_database_at_once(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'race.sqlite3'}")
    try:
        upgrade_at_once(engine)
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_upgrade_of_an_empty_sqlite_database_matches_the_models(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        assert current_revision(engine) == head_revision()
        assert schema_differences(engine) == []
        assert ensure_schema(engine) is False  # already current: nothing to do
    finally:
        engine.dispose()


def test_ensure_schema_upgrades_an_empty_database(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    try:
        assert ensure_schema(engine) is True
        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_ensure_schema_adopts_a_database_made_by_create_all(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'made.sqlite3'}")
    try:
        Base.metadata.create_all(engine)
        assert current_revision(engine) is None
        assert ensure_schema(engine) is True
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_downgrade_to_base_removes_every_table(tmp_path):
    url = f"sqlite:///{tmp_path / 'down.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    finally:
        engine.dispose()


@pytest.mark.skipif(not IS_POSTGRES, reason="needs DATABASE_URL pointing at PostgreSQL")
def test_upgrade_of_an_empty_postgresql_database_matches_the_models():
    base_url = make_url(os.environ["DATABASE_URL"])
    name = f"tdkt_migr_{os.getpid()}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine = make_engine(base_url.set(database=name).render_as_string(hide_password=False))
        try:
            upgrade_at_once(engine)
            assert current_revision(engine) == head_revision()
            assert schema_differences(engine) == []
        finally:
            engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}"'))
    finally:
        admin.dispose()


def test_tdkt_db_upgrade_command(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    first = subprocess.run([TDKT, "db", "upgrade", "--url", url], capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    assert f"upgraded from empty to {head_revision()}" in first.stdout
    again = subprocess.run([TDKT, "db", "upgrade", "--url", url], capture_output=True, text=True, check=False)
    assert again.returncode == 0
    assert "already at revision" in again.stdout


def test_migrations_ship_in_the_package():
    # setuptools only packages folders with an __init__.py; env.py and the revisions must be importable files.
    from setuptools import find_packages

    packages = find_packages(str(ROOT), include=["engine*"])
    assert "engine.persistence.migrations" in packages
    assert "engine.persistence.migrations.versions" in packages
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    assert (MIGRATIONS_DIR / "env.py").is_file()


def test_0002_adds_a_password_hash_to_existing_users_and_removes_it_again(tmp_path):
    url = f"sqlite:///{tmp_path / 'users.sqlite3'}"
    upgrade(url, "0001")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO app_user (id, full_name, active, capabilities) VALUES ('hoa.nt', 'Hoa', 1, '[]')")
            )
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT id, password_hash FROM app_user")).all() == [("hoa.nt", None)]
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0001")
        columns = {c["name"] for c in inspect(engine).get_columns("app_user")}
        assert "password_hash" not in columns
        with engine.connect() as conn:
            assert conn.execute(text("SELECT id FROM app_user")).scalars().all() == ["hoa.nt"]
    finally:
        engine.dispose()


def test_0003_drops_candidate_rows_that_repeat_the_lane_role_and_restores_them(tmp_path):
    import sqlite3

    path = tmp_path / "candidates.sqlite3"
    url = f"sqlite:///{path}"
    upgrade(url, "0002")
    raw = sqlite3.connect(path)  # foreign keys off: task rows without their instance are enough here
    with raw:
        for task_id, status in ((1, "open"), (2, "completed")):
            raw.execute(
                "INSERT INTO human_task (id, instance_id, task_guid, element_id, role_id, unit_id, candidate_groups,"
                " candidate_users, status, escalation_level, created_at)"
                " VALUES (?, 1, ?, 'draft', 'unit_officer', 'SYT', '[\"unit_head\"]', '[\"an\"]', ?, 0, '2024-03-19')",
                (task_id, f"guid-{task_id}", status),
            )
        raw.executemany(
            "INSERT INTO task_candidate (task_id, role_id, unit_id, user_id) VALUES (1, ?, ?, ?)",
            [("unit_officer", "SYT", None), ("unit_head", "SYT", None), (None, None, "an")],
        )
    raw.close()
    query = "SELECT task_id, role_id, unit_id, user_id FROM task_candidate ORDER BY id"
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text(query)).all() == [(1, "unit_head", "SYT", None), (1, None, None, "an")]
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0002")
        with engine.connect() as conn:
            assert (1, "unit_officer", "SYT", None) in conn.execute(text(query)).all()
            assert len(conn.execute(text(query)).all()) == 3  # the completed task gets none back
    finally:
        engine.dispose()


def test_0004_links_called_instances_and_leaves_existing_ones_roots(tmp_path):
    import sqlite3

    path = tmp_path / "calls.sqlite3"
    url = f"sqlite:///{path}"
    upgrade(url, "0003")
    raw = sqlite3.connect(path)  # foreign keys off: an instance row without its definition is enough here
    with raw:
        raw.execute(
            "INSERT INTO instance (id, definition_id, definition_key, status, version, started_at, state,"
            " serializer_version) VALUES (1, 1, 'campaign_launch', 'running', 3, '2024-03-19', x'7b7d', '1.5')"
        )
    raw.close()
    upgrade(url)
    engine = make_engine(url)
    query = "SELECT id, parent_id, root_id, parent_task_guid, call_element, call_index, output FROM instance"
    try:
        with engine.connect() as conn:
            assert conn.execute(text(query)).all() == [(1, None, None, None, None, None, None)]
        indexes = {i["name"] for i in inspect(engine).get_indexes("instance")}
        assert {"ix_instance_parent", "ix_instance_root"} <= indexes
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0003")
        columns = {c["name"] for c in inspect(engine).get_columns("instance")}
        assert not columns & {"root_id", "parent_task_guid", "call_element", "call_index", "output"}
        assert "parent_id" in columns  # SQLite keeps the (unused, nullable) column: see the migration
        with engine.connect() as conn:
            assert conn.execute(text("SELECT id, version FROM instance")).all() == [(1, 3)]
    finally:
        engine.dispose()
