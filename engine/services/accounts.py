"""Login records: who may log in, password hashes, login sessions, login attempts and API tokens.

The engine stores and hands back password hashes only; it never sees a password (hashing belongs to the web layer
and CLI). Setting one ends the user's sessions and writes a ``user.password_set`` event in the system stream
(which users, never the hash); logging in and out (``auth.login``, ``auth.logout``) and creating and revoking
tokens (``token.created``, ``token.revoked``) write events there too.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.errors import NotFoundError, ValidationError
from engine.persistence.models import ApiToken, AuthSession, LoginAttempt, User
from engine.persistence.prepared import Prepared
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
    live = select(AuthSession).where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
    ended = 0
    for row in session.scalars(live):  # a new password logs the user out everywhere
        row.revoked_at = clock.now()
        ended += 1
    session.flush()
    append_event(
        session,
        clock,
        stream=SYSTEM_STREAM,
        action="user.password_set",
        actor=actor,
        data={"users": [user_id], "sessions_ended": ended},
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


# --- login sessions -----------------------------------------------------------------------------------------
# The client holds a random token; the database keeps its SHA-256 only, so reading the table gives no one a
# working cookie. Tokens have 256 bits of entropy: a fast hash is enough (no guessing to slow down).

SESSION_TOUCH_INTERVAL = timedelta(minutes=1)  # last_seen_at moves at most this often (one write a minute)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def start_session(
    session: Session,
    clock: Clock,
    user_id: str,
    *,
    max_age: timedelta,
    user_agent: str | None = None,
    address: str | None = None,
    replaces: str | None = None,
) -> str:
    """A new session for ``user_id`` (a ``auth.login`` event); returns the token for the cookie.

    ``replaces`` is the token the client held before (revoked: a fresh id at every login, no fixation).
    Sessions that ended more than a day ago are removed on the way.
    """
    now = clock.now()
    if replaces:
        _revoke(session, token_digest(replaces), now)
    session.execute(delete(AuthSession).where(AuthSession.expires_at < now - timedelta(days=1)))
    token = new_secret()
    session.add(
        AuthSession(
            id=token_digest(token),
            user_id=user_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + max_age,
            revoked_at=None,
            user_agent=(user_agent or "")[:255] or None,
            address=(address or "")[:64] or None,
        )
    )
    session.flush()
    append_event(session, clock, stream=SYSTEM_STREAM, action="auth.login", actor=user_id, data={"address": address})
    return token


@dataclass(frozen=True)
class SessionHolder:
    """The user of a live session as one request needs them: who, whether the session is due a touch, whether
    they are still active, their name and global capabilities."""

    user_id: str
    touch_due: bool
    active: bool
    full_name: str
    capabilities: tuple[str, ...]


# Every request with a session cookie reads this: one prepared statement for the session and its user.
_SESSION_HOLDER = Prepared(
    select(
        AuthSession.user_id,
        AuthSession.revoked_at,
        AuthSession.expires_at,
        AuthSession.last_seen_at,
        User.full_name,
        User.active,
        User.capabilities,
    )
    .join(User, User.id == AuthSession.user_id)
    .where(AuthSession.id == bindparam("digest"))
)


def session_holder(session: Session, token: str, now: datetime, *, idle: timedelta) -> SessionHolder | None:
    """The user of a live session, whether its ``last_seen_at`` is due a move (``touch_session``), and the user's
    row, in one statement; None when the session is unknown, revoked, past its absolute limit, or idle too long."""
    rows = _SESSION_HOLDER.all(session.connection(), {"digest": token_digest(token)})
    if not rows:
        return None
    user_id, revoked_at, expires_at, last_seen_at, full_name, active, capabilities = rows[0]
    if revoked_at is not None or now >= expires_at or now >= last_seen_at + idle:
        return None
    touch_due = now - last_seen_at >= SESSION_TOUCH_INTERVAL
    return SessionHolder(user_id, touch_due, bool(active), full_name, tuple(str(c) for c in capabilities or ()))


def touch_session(session: Session, token: str, now: datetime) -> None:
    session.execute(update(AuthSession).where(AuthSession.id == token_digest(token)).values(last_seen_at=now))


def _revoke(session: Session, digest: str, now: datetime) -> str | None:
    row = session.get(AuthSession, digest)
    if row is None or row.revoked_at is not None:
        return None
    row.revoked_at = now
    return row.user_id


def end_session(session: Session, clock: Clock, token: str) -> bool:
    """Revoke the session (a copied cookie stops working); an ``auth.logout`` event. False if none was live."""
    user_id = _revoke(session, token_digest(token), clock.now())
    if user_id is None:
        return False
    session.flush()
    append_event(session, clock, stream=SYSTEM_STREAM, action="auth.logout", actor=user_id, data={})
    return True


# --- login attempts -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginLimits:
    per_user: int = 5
    per_address: int = 20
    window: timedelta = timedelta(minutes=15)


def _retry_after(times: list[datetime], limit: int, window: timedelta, now: datetime) -> int | None:
    """Seconds until fewer than ``limit`` of ``times`` (oldest first, inside the window) remain, or None."""
    if len(times) < limit:
        return None
    frees_at = times[len(times) - limit] + window
    return max(1, math.ceil((frees_at - now).total_seconds()))


def login_blocked(session: Session, now: datetime, user_name: str, address: str, limits: LoginLimits) -> int | None:
    """Seconds to wait when the user name or the address had too many failures in the window, else None.

    Per user name, the failures since its last successful login count (only someone who knows the password can
    clear them); per address, every failure counts, successes or not (so an attacker's own good logins between
    guesses at other accounts never help).
    """
    since = now - limits.window
    name = user_name[:64]
    last_ok = session.scalar(
        select(func.max(LoginAttempt.at)).where(
            LoginAttempt.user_name == name, LoginAttempt.succeeded.is_(True), LoginAttempt.at > since
        )
    )
    user_since = max(since, last_ok) if last_ok is not None else since
    failed = LoginAttempt.succeeded.is_(False)
    by_user = session.scalars(
        select(LoginAttempt.at)
        .where(LoginAttempt.user_name == name, failed, LoginAttempt.at > user_since)
        .order_by(LoginAttempt.at)
    ).all()
    by_address = session.scalars(
        select(LoginAttempt.at)
        .where(LoginAttempt.address == address[:64], failed, LoginAttempt.at > since)
        .order_by(LoginAttempt.at)
    ).all()
    waits = [
        w
        for w in (
            _retry_after(list(by_user), limits.per_user, limits.window, now),
            _retry_after(list(by_address), limits.per_address, limits.window, now),
        )
        if w is not None
    ]
    return max(waits) if waits else None


def record_login_attempt(
    session: Session, now: datetime, user_name: str, address: str, *, succeeded: bool, keep: timedelta
) -> None:
    """Count one attempt; attempts older than ``keep`` are removed on the way."""
    session.execute(delete(LoginAttempt).where(LoginAttempt.at < now - keep))
    session.add(LoginAttempt(at=now, user_name=user_name[:64], address=address[:64], succeeded=succeeded))
    session.flush()


def rehash_password(session: Session, user_id: str, old_hash: str, new_hash: str) -> None:
    """Store the same password under a stronger hash (after a login), unless it was changed meanwhile."""
    session.execute(
        update(User).where(User.id == user_id, User.password_hash == old_hash).values(password_hash=new_hash)
    )


# --- API tokens -----------------------------------------------------------------------------------------------

TOKEN_PREFIX = "tdkt_"  # noqa: S105 - the visible start of every token, not a secret
SCOPES = ("read", "write")
DEFAULT_TOKEN_DAYS = 90
MAX_TOKEN_DAYS = 365


def _token_problems(name: object, scopes: object, days: object) -> dict[str, str]:
    problems = {}
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        problems["name"] = "required, at most 255 characters"
    if not isinstance(scopes, list) or not scopes or any(s not in SCOPES for s in scopes):
        problems["scopes"] = f"a non-empty list of {', '.join(SCOPES)}"
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_TOKEN_DAYS:
        problems["days"] = f"a whole number of days from 1 to {MAX_TOKEN_DAYS}"
    return problems


def create_token(
    session: Session,
    clock: Clock,
    *,
    user_id: str,
    name: object,
    scopes: object,
    days: object = DEFAULT_TOKEN_DAYS,
    actor: str | None,
) -> tuple[ApiToken, str]:
    """A new bearer token for ``user_id`` and its secret (shown once: only its SHA-256 is stored)."""
    problems = _token_problems(name, scopes, days)
    if problems:
        raise ValidationError("bad token: " + "; ".join(f"{k}: {v}" for k, v in problems.items()), {"fields": problems})
    assert isinstance(name, str) and isinstance(scopes, list) and isinstance(days, int)
    if login_record(session, user_id) is None:
        raise NotFoundError(f"user '{user_id}' not found", {"fields": {"user": "unknown or inactive user"}})
    secret = TOKEN_PREFIX + new_secret()
    now = clock.now()
    row = ApiToken(
        token_hash=token_digest(secret),
        prefix=secret[:12],
        user_id=user_id,
        name=name.strip(),
        scopes=sorted(set(scopes)),
        created_at=now,
        created_by=actor,
        expires_at=now + timedelta(days=days),
        revoked_at=None,
        revoked_by=None,
    )
    session.add(row)
    session.flush()
    append_event(
        session,
        clock,
        stream=SYSTEM_STREAM,
        action="token.created",
        actor=actor,
        data={"token": row.id, "user": user_id, "name": row.name, "scopes": row.scopes, "expires_at": row.expires_at},
    )
    return row, secret


class TokenRefused(Exception):
    """A bearer token that does not authenticate: unknown, expired or revoked (the message says which)."""


def token_owner(session: Session, secret: str, now: datetime) -> ApiToken:
    """The live token with this secret, or TokenRefused."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(secret)))
    if row is None:
        raise TokenRefused("unknown API token")
    if row.revoked_at is not None:
        raise TokenRefused(f"API token {row.id} was revoked")
    if now >= row.expires_at:
        raise TokenRefused(f"API token {row.id} expired at {row.expires_at.isoformat()}")
    return row


def list_tokens(session: Session, user_id: str | None = None) -> list[ApiToken]:
    """Tokens (of one user, or everyone's), newest first. Never the secret: it is not stored."""
    query = select(ApiToken).order_by(ApiToken.id.desc())
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    return list(session.scalars(query))


def get_token(session: Session, token_id: int) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFoundError(f"token {token_id} not found")
    return row


def revoke_token(session: Session, clock: Clock, token_id: int, *, actor: str | None) -> ApiToken:
    """Revoke a token (a ``token.revoked`` event); revoking it again changes nothing."""
    row = get_token(session, token_id)
    if row.revoked_at is None:
        row.revoked_at = clock.now()
        row.revoked_by = actor
        session.flush()
        append_event(
            session,
            clock,
            stream=SYSTEM_STREAM,
            action="token.revoked",
            actor=actor,
            data={"token": row.id, "user": row.user_id, "name": row.name},
        )
    return row
