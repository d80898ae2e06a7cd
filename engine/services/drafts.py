"""Designers' drafts: the files of one definition as last saved from the designer, before they are deployed.

A draft is kept exactly as given, whether it lints or not (that is what drafts are for); only what could harm the
server or the files' later use is refused: names that are not a plain ``*.bpmn``/``*.dmn``/``*.json`` file name,
and drafts over a size cap. One draft per key; saving again replaces it. A successful deploy of the key removes
its draft (``delete_draft``, called by whoever deploys). Saving and throwing away are audited on the system
stream (``definition.draft_saved`` with each file's sha256, ``definition.draft_deleted``).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.errors import ConflictError, NotFoundError, PayloadTooLargeError, ValidationError
from engine.persistence.models import DefinitionDraft
from engine.services.audit import append_event

DRAFT_SUFFIXES = (".bpmn", ".dmn", ".json")
MAX_DRAFT_BYTES = 2 * 1024 * 1024  # all files of a draft together, as UTF-8
MAX_DRAFT_FILES = 50
MAX_NAME_LENGTH = 255
# A process id is an XML NCName; a draft's key is the same (letters, digits, "_", "-", "."; no spaces, no "/").
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_BAD_NAME = re.compile(r"[/\\\x00-\x1f\x7f]")


def check_key(key: str) -> str:
    if len(key) > MAX_NAME_LENGTH or not _KEY.match(key):
        raise ValidationError(
            f"draft key {key!r} is not a process id (a letter or '_' first, then letters, digits, '_', '-', '.')",
            {"fields": {"key": "not a process id"}},
        )
    return key


def name_problem(name: str) -> str | None:
    """Why ``name`` is not a plain definition file name, or None."""
    if not name or len(name) > MAX_NAME_LENGTH:
        return f"a file name must have 1 to {MAX_NAME_LENGTH} characters"
    if _BAD_NAME.search(name):
        return "a file name must not contain path separators or control characters"
    if name in (".", "..") or name.startswith("."):
        return "a file name must not start with '.'"
    if not name.lower().endswith(DRAFT_SUFFIXES):
        return "only .bpmn, .dmn and .json files are accepted"
    return None


def check_files(files: dict[str, Any]) -> dict[str, str]:
    """The draft's files if every name is acceptable and all fit under the cap; else a ValidationError naming
    each bad file (or PayloadTooLargeError)."""
    if not files:
        raise ValidationError("a draft needs at least one file", {"fields": {"files": "must not be empty"}})
    if len(files) > MAX_DRAFT_FILES:
        raise ValidationError(
            f"a draft holds at most {MAX_DRAFT_FILES} files ({len(files)} given)", {"fields": {"files": "too many"}}
        )
    fields = {f"files.{name}": problem for name in files if (problem := name_problem(name)) is not None}
    fields.update({f"files.{name}": "must be a string" for name, text in files.items() if not isinstance(text, str)})
    if fields:
        names = ", ".join(repr(f.removeprefix("files.")) for f in fields)
        raise ValidationError(f"the draft's files {names} are refused", {"fields": fields})
    size = sum(len(text.encode("utf-8")) for text in files.values())
    if size > MAX_DRAFT_BYTES:
        raise PayloadTooLargeError(
            f"the draft's files are {size:,} bytes; a draft holds at most {MAX_DRAFT_BYTES:,}",
            {"size_bytes": size, "limit_bytes": MAX_DRAFT_BYTES},
        )
    return {str(name): str(text) for name, text in files.items()}


def find_draft(session: Session, key: str) -> DefinitionDraft | None:
    return session.scalar(select(DefinitionDraft).where(DefinitionDraft.key == key))


def get_draft(session: Session, key: str) -> DefinitionDraft:
    found = find_draft(session, key)
    if found is None:
        raise NotFoundError(f"there is no draft of {key!r}")
    return found


def drafts_by_key(session: Session) -> dict[str, DefinitionDraft]:
    """Every draft (without needing their files loaded again per key)."""
    return {d.key: d for d in session.scalars(select(DefinitionDraft))}


def save_draft(
    session: Session,
    clock: Clock,
    key: str,
    files: dict[str, Any],
    *,
    actor: str | None,
    based_on_version: int | None,
) -> DefinitionDraft:
    """Create or replace the draft of ``key`` with ``files`` (checked by ``check_files``, not linted)."""
    check_key(key)
    checked = check_files(files)
    if based_on_version is not None and based_on_version < 1:
        raise ValidationError("based_on_version must be 1 or more", {"fields": {"based_on_version": "below 1"}})
    row = find_draft(session, key)
    if row is None:
        row = DefinitionDraft(key=key)
        session.add(row)
    row.files = checked
    row.updated_at = clock.now()
    row.updated_by = actor
    row.based_on_version = based_on_version
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise ConflictError(f"someone else saved a draft of {key!r} at the same time; save again")
    digests = {name: hashlib.sha256(text.encode("utf-8")).hexdigest() for name, text in sorted(checked.items())}
    data = {"key": key, "files": digests, "based_on_version": based_on_version}
    append_event(session, clock, stream="system", action="definition.draft_saved", actor=actor, data=data)
    return row


def delete_draft(session: Session, key: str, clock: Clock, *, actor: str | None, reason: str = "discarded") -> bool:
    """Remove the draft of ``key`` (``reason``: discarded, or deployed); False when there was none."""
    row = find_draft(session, key)
    if row is None:
        return False
    session.delete(row)
    session.flush()
    data = {"key": key, "reason": reason}
    append_event(session, clock, stream="system", action="definition.draft_deleted", actor=actor, data=data)
    return True
