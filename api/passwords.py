"""Password hashing (werkzeug's salted scrypt) and checking a login against the stored hash."""

from __future__ import annotations

from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from engine.persistence.models import User
from engine.services.accounts import login_record

# Checked when the user is unknown or has no password, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not a password")


def hash_password(password: str, method: str = "scrypt") -> str:
    return generate_password_hash(password, method=method)


def authenticate(session: Session, user_id: str, password: str) -> User | None:
    """The active user whose password this is, or None (unknown user, no password set, wrong password)."""
    user = login_record(session, user_id)
    stored = user.password_hash if user is not None else None
    matches = check_password_hash(stored or _DUMMY_HASH, password)
    return user if user is not None and stored and matches else None
