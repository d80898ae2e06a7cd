"""Migration 0005: the session, token and login-attempt tables appear on an 0004 database and go again."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from engine.persistence.db import make_engine
from engine.persistence.schema import alembic_config, current_revision, head_revision, upgrade

TABLES = {"auth_session", "api_token", "login_attempt"}


def test_0005_adds_the_auth_tables_to_an_0004_database_and_removes_them(tmp_path):
    url = f"sqlite:///{tmp_path / 'auth.sqlite3'}"
    upgrade(url, "0004")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO app_user (id, full_name, active, capabilities) VALUES ('hoa.nt', 'Hoa', 1, '[]')")
            )
        assert not TABLES & set(inspect(engine).get_table_names())
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        inspector = inspect(engine)
        assert set(inspector.get_table_names()) >= TABLES
        assert {i["name"] for i in inspector.get_indexes("login_attempt")} == {
            "ix_login_attempt_user",
            "ix_login_attempt_address",
            "ix_login_attempt_at",
        }
        assert [fk["referred_table"] for fk in inspector.get_foreign_keys("auth_session")] == ["app_user"]
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO auth_session (id, user_id, created_at, last_seen_at, expires_at)"
                    " VALUES ('h', 'hoa.nt', '2024-03-19', '2024-03-19', '2024-03-20')"
                )
            )
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0004")
        assert not TABLES & set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            assert conn.execute(text("SELECT id FROM app_user")).scalars().all() == ["hoa.nt"]
    finally:
        engine.dispose()
