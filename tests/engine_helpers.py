"""Helpers for engine tests: a small organisation written straight into the database, and deploy-from-files."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from engine.persistence.models import Membership, OrgUnit, Role, User
from engine.services.definitions import deploy

RUNTIME = Path(__file__).resolve().parent / "fixtures" / "runtime"

# (user, full name, [(role, unit)], capabilities)
PEOPLE = [
    ("an.officer", "Nguyễn Văn An", [("unit_officer", "SYT")], []),
    ("binh.officer", "Trần Thị Bình", [("unit_officer", "SYT")], []),
    ("cuong.head", "Lê Văn Cường", [("unit_head", "SYT")], []),
    ("dung.officer", "Phạm Thị Dung", [("unit_officer", "SGD")], []),
    ("em.head", "Hoàng Văn Em", [("unit_head", "SGD")], []),
    ("admin", "Quản trị", [], ["admin"]),
]


def make_org(session: Session) -> None:
    session.add_all(
        [
            OrgUnit(id="TINH", name="UBND tỉnh", kind="province"),
            OrgUnit(id="SYT", name="Sở Y tế", kind="department", parent_id="TINH"),
            OrgUnit(id="SGD", name="Sở Giáo dục và Đào tạo", kind="department", parent_id="TINH"),
        ]
    )
    session.add_all([Role(id=r, name=r) for r in ("unit_officer", "unit_head", "accounting", "management", "sales")])
    session.flush()
    for user_id, name, memberships, caps in PEOPLE:
        session.add(User(id=user_id, full_name=name, capabilities=caps))
        session.flush()
        for role, unit in memberships:
            session.add(Membership(user_id=user_id, role_id=role, unit_id=unit))
    session.flush()


def deploy_files(session: Session, clock, *paths: Path, connectors: set[str] | None = None):
    files = [(p.name, p.read_bytes()) for p in paths]
    return deploy(session, files, clock, actor="designer", connectors=connectors)


@contextmanager
def driver_statements(session: Session) -> Iterator[list[str]]:
    """The statements the driver runs on the session's connection (SQLite's trace callback sees them all,
    including those sent straight to the cursor); first word of each, upper-cased. SQLite only."""
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        pytest.skip("statements are counted with SQLite's trace callback")
    dbapi = conn.connection.dbapi_connection
    sent: list[str] = []
    dbapi.set_trace_callback(lambda sql: sent.append(sql.split()[0].upper()))
    try:
        yield sent
    finally:
        dbapi.set_trace_callback(None)
