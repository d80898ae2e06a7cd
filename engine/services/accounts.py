"""Login records: who may log in, and setting password hashes (hashing itself belongs to the web layer and CLI).

The engine stores and hands back hashes only; it never sees a password. Setting one writes a ``user.password_set``
event in the system stream (which users, never the hash).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.errors import NotFoundError
from engine.persistence.models import User
from engine.services.audit import SYSTEM_STREAM, append_event


def login_record(session: Session, user_id: str) -> User | None:
    """The active user with this login name, or None (unknown and inactive users look the same)."""
    user = session.get(User, user_id)
    return user if user is not None and user.active else None


def set_password_hash(session: Session, clock: Clock, user_id: str, password_hash: str, *, actor: str | None) -> None:
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"user '{user_id}' not found", {"fields": {"user": "unknown user"}})
    user.password_hash = password_hash
    session.flush()
    append_event(
        session, clock, stream=SYSTEM_STREAM, action="user.password_set", actor=actor, data={"users": [user_id]}
    )


def users_without_password(session: Session, user_ids: list[str]) -> list[str]:
    """Those of ``user_ids`` that exist and have no password hash yet, sorted."""
    query = select(User.id).where(User.id.in_(user_ids), User.password_hash.is_(None)).order_by(User.id)
    return list(session.scalars(query))


def set_missing_password_hashes(
    session: Session, clock: Clock, user_ids: list[str], make_hash: Callable[[], str], *, actor: str | None
) -> list[str]:
    """Give each of ``user_ids`` without a password a fresh ``make_hash()``; returns who got one (one event for all).

    Hashing is slow on purpose, so it is done only for the users that need it: running this again is a no-op.
    """
    missing = users_without_password(session, user_ids)
    for user in session.scalars(select(User).where(User.id.in_(missing))):
        user.password_hash = make_hash()
    session.flush()
    if missing:
        append_event(
            session, clock, stream=SYSTEM_STREAM, action="user.password_set", actor=actor, data={"users": missing}
        )
    return missing
