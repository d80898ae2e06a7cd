"""Password hashing and checking a login against the stored hash.

New hashes use scrypt from the standard library (``hashlib.scrypt``) at OWASP's current recommendation, N=2**17,
r=8, p=1 (128 MiB and about 0.4 s per hash on a 2-core server), with a random 16-byte salt and a 32-byte key,
stored as ``$scrypt$ln=17,r=8,p=1$<salt>$<key>`` (base64 without padding). Older hashes in werkzeug's format
(``pbkdf2:sha256:...``, ``scrypt:32768:8:1$...``) are still checked, and replaced by a new one at the next
successful login (``needs_rehash``).

Tests pass a cheap ``Scrypt`` (``PASSWORD_KDF`` in the app's config); the default is always the strong one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from functools import cache

from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from engine.persistence.models import User
from engine.services.accounts import login_record


@dataclass(frozen=True)
class Scrypt:
    log2_n: int = 17
    r: int = 8
    p: int = 1

    @property
    def label(self) -> str:
        return f"$scrypt$ln={self.log2_n},r={self.r},p={self.p}$"

    def derive(self, password: str, salt: bytes) -> bytes:
        n = 2**self.log2_n
        maxmem = 2 * 128 * n * self.r * self.p  # twice what it needs: hashlib's default (32 MiB) is too small
        return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=self.r, p=self.p, maxmem=maxmem, dklen=32)


STRONG = Scrypt()
_PARAMS = re.compile(r"\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)\Z")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, method: str | None = None, *, kdf: Scrypt = STRONG) -> str:
    """A new hash (scrypt at ``kdf``); ``method`` makes a werkzeug hash instead (tests make old-style ones)."""
    if method is not None:
        return generate_password_hash(password, method=method)
    salt = secrets.token_bytes(16)
    return kdf.label + _b64(salt) + "$" + _b64(kdf.derive(password, salt))


def check_password(stored: str, password: str) -> bool:
    found = _PARAMS.match(stored)
    if found is None:
        if stored.startswith("$"):
            return False  # malformed: never handed to werkzeug
        return check_password_hash(stored, password)
    log2_n, r, p = (int(found.group(i)) for i in (1, 2, 3))
    if not (1 <= log2_n <= 20 and 1 <= r <= 32 and 1 <= p <= 16):
        return False
    key = Scrypt(log2_n, r, p).derive(password, _unb64(found.group(4)))
    return hmac.compare_digest(key, _unb64(found.group(5)))


def needs_rehash(stored: str, kdf: Scrypt = STRONG) -> bool:
    """Whether a stored hash is of an older kind or weaker parameters than ``kdf``."""
    return not stored.startswith(kdf.label)


@cache
def _dummy_hash(kdf: Scrypt) -> str:
    return hash_password("not a password", kdf=kdf)


def authenticate(session: Session, user_id: str, password: str, kdf: Scrypt = STRONG) -> User | None:
    """The active user whose password this is, or None (unknown user, no password set, wrong password).

    An unknown user, or one without a password, is checked against a dummy hash of the same strength, so a wrong
    name costs as long as a wrong password.
    """
    user = login_record(session, user_id)
    stored = user.password_hash if user is not None else None
    matches = check_password(stored or _dummy_hash(kdf), password)
    return user if user is not None and stored and matches else None
