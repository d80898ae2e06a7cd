"""Attachments: files uploaded on a task (a dossier's documents, signed plans and reports), never in the workflow
state.

- **Upload** (``store``): the type is detected from the content (magic bytes), never taken from the name or the
  browser: PDF, PNG, JPEG, and the zip containers DOCX, XLSX and ODT recognised by their inner marker
  (``word/document.xml``, ``xl/workbook.xml``, the ODF ``mimetype`` entry). Anything else is refused, and so is a
  file whose content does not match its extension (an ``.exe`` named ``.pdf``). At most
  ``TDKT_MAX_ATTACHMENT_BYTES`` (default 20 MB). The sha256 is recorded; the audit trail gets an
  ``attachment.uploaded`` event with it. The bytes go into the row, or into ``TDKT_ATTACHMENT_DIR`` named by their
  sha256 (the same file stored once).
- **The form's data** keeps only the reference ``{"attachment_id", "name", "sha256", "size", "media_type"}``.
  Completing a task (``check_references``) requires each reference to name an attachment of the same instance,
  uploaded by the same person or for the same unit, with the same name, hash, size and type.
- **Later tasks** list the documents their instance's completed steps referred to (``documents_of``).

Who may upload or download is the caller's check (the API: who may complete the task; who may see the instance).
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import NotFoundError, ValidationError
from engine.persistence.models import Attachment, AuditEvent, HumanTask, User
from engine.services.audit import append_event, instance_stream
from engine.services.context import EngineContext

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
MAX_BYTES_ENV = "TDKT_MAX_ATTACHMENT_BYTES"
DIR_ENV = "TDKT_ATTACHMENT_DIR"
REF_KEYS = ("attachment_id", "name", "sha256", "size", "media_type")

PDF, PNG, JPEG = "application/pdf", "image/png", "image/jpeg"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ODT = "application/vnd.oasis.opendocument.text"
# Each accepted type and the extensions its files may carry.
EXTENSIONS: dict[str, tuple[str, ...]] = {
    PDF: (".pdf",),
    PNG: (".png",),
    JPEG: (".jpg", ".jpeg"),
    DOCX: (".docx",),
    XLSX: (".xlsx",),
    ODT: (".odt",),
}
_MAX_ZIP_ENTRIES = 10_000


class AttachmentRefused(Exception):
    """An upload refused: ``reason`` is ``too_large`` (413), ``type`` (415) or ``empty`` (422)."""

    def __init__(self, reason: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.details = details


def max_bytes(environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    raw = (env.get(MAX_BYTES_ENV) or "").strip().replace("_", "")
    if not raw:
        return DEFAULT_MAX_BYTES
    if not raw.isdigit() or int(raw) <= 0:
        raise ValueError(f"{MAX_BYTES_ENV} must be a positive whole number of bytes, not {env.get(MAX_BYTES_ENV)!r}")
    return int(raw)


def _zip_type(content: bytes) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            infos = archive.infolist()
            if len(infos) > _MAX_ZIP_ENTRIES:
                return None
            names = {i.filename for i in infos}
            if "[Content_Types].xml" in names and "word/document.xml" in names:
                return DOCX
            if "[Content_Types].xml" in names and "xl/workbook.xml" in names:
                return XLSX
            first = infos[0] if infos else None
            if first is not None and first.filename == "mimetype" and first.file_size <= 100:
                if archive.read(first).strip() == ODT.encode():
                    return ODT
    except (zipfile.BadZipFile, KeyError, ValueError, NotImplementedError, RuntimeError, OSError):
        return None
    return None


def detect_type(content: bytes) -> str | None:
    """The media type the content itself shows, among the accepted ones; None for anything else."""
    if content.startswith(b"%PDF-"):
        return PDF
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if content.startswith(b"\xff\xd8\xff"):
        return JPEG
    if content.startswith(b"PK\x03\x04"):
        return _zip_type(content)
    return None


def _clean_name(filename: str) -> str:
    name = os.path.basename((filename or "").replace("\\", "/")).strip()
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '"<>|:*?')
    if len(name) > 200:
        stem, ext = os.path.splitext(name)
        name = stem[: 200 - len(ext)] + ext
    return name or "tep"


def check_content(filename: str, content: bytes, limit: int) -> tuple[str, str]:
    """(clean file name, detected media type), or AttachmentRefused naming what is wrong."""
    name = _clean_name(filename)
    if len(content) > limit:
        raise AttachmentRefused(
            "too_large",
            f"{name} is {len(content)} bytes; at most {limit} are accepted",
            name=name,
            size=len(content),
            limit=limit,
        )
    if not content:
        raise AttachmentRefused("empty", f"{name} is empty", name=name)
    media_type = detect_type(content)
    ext = os.path.splitext(name)[1].lower()
    if media_type is None or ext not in EXTENSIONS[media_type]:
        shown = media_type or "not one of PDF, PNG, JPEG, DOCX, XLSX, ODT"
        raise AttachmentRefused(
            "type",
            f"{name}: the content is {shown}, which does not match the extension {ext or '(none)'}",
            name=name,
            detected=media_type,
            extension=ext,
        )
    return name, media_type


def _folder(environ: Mapping[str, str] | None = None) -> Path | None:
    env = os.environ if environ is None else environ
    raw = (env.get(DIR_ENV) or "").strip()
    return Path(raw) if raw else None


def _write_file(folder: Path, sha256: str, content: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / sha256
    if target.exists() and target.stat().st_size == len(content):
        return  # the same bytes, stored once
    partial = folder / f".{sha256}.{os.getpid()}.part"
    partial.write_bytes(content)
    os.replace(partial, target)


def reference(row: Attachment) -> dict[str, Any]:
    """What a form's data holds for an attachment."""
    return {
        "attachment_id": row.id,
        "name": row.filename,
        "sha256": row.sha256,
        "size": row.size,
        "media_type": row.media_type,
    }


def store(
    session: Session,
    ctx: EngineContext,
    task: HumanTask,
    user_id: str,
    filename: str,
    content: bytes,
    *,
    field: str | None = None,
    limit: int | None = None,
) -> Attachment:
    """Check and keep an uploaded file for ``task``'s instance, with an ``attachment.uploaded`` audit event."""
    name, media_type = check_content(filename, content, max_bytes() if limit is None else limit)
    sha256 = hashlib.sha256(content).hexdigest()
    folder = _folder()
    if folder is not None:
        _write_file(folder, sha256, content)
    row = Attachment(
        instance_id=task.instance_id,
        task_guid=task.task_guid,
        field=(field or "")[:255] or None,
        filename=name,
        media_type=media_type,
        size=len(content),
        sha256=sha256,
        content=None if folder is not None else content,
        uploaded_by=user_id,
        unit_id=task.unit_id,
        uploaded_at=ctx.now(),
    )
    session.add(row)
    session.flush()
    append_event(
        session,
        ctx.clock,
        stream=instance_stream(task.instance_id),
        action="attachment.uploaded",
        actor=user_id,
        instance_id=task.instance_id,
        task_guid=task.task_guid,
        element_id=task.element_id,
        data={**reference(row), "field": row.field},
    )
    return row


def get(session: Session, attachment_id: int) -> Attachment:
    row = session.get(Attachment, attachment_id)
    if row is None:
        raise NotFoundError(f"attachment {attachment_id} not found")
    return row


def content_of(row: Attachment) -> bytes:
    """The attachment's bytes, from the row or the folder (checked against the recorded sha256)."""
    if row.content is not None:
        return row.content
    folder = _folder()
    path = folder / row.sha256 if folder is not None else None
    if path is None or not path.is_file():
        raise NotFoundError(f"the content of attachment {row.id} is not in {DIR_ENV} ({folder})")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != row.sha256:
        raise NotFoundError(f"the stored content of attachment {row.id} no longer matches its sha256")
    return data


def _refs(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every attachment reference in a form's data, with its field path ("documents/to_trinh")."""
    if isinstance(value, dict):
        if "attachment_id" in value:
            yield "/".join(path) or "(root)", value
            return
        for key, item in value.items():
            yield from _refs(item, (*path, str(key)))
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from _refs(item, (*path, str(n)))


def has_references(data: Any) -> bool:
    """Whether a form's data refers to any attachment (so a completion without files costs no query)."""
    return next(_refs(data), None) is not None


def check_references(session: Session, task: HumanTask, user_id: str, data: Any) -> None:
    """Before ``task`` is completed with ``data``: each attachment it refers to exists, belongs to the task's
    instance, was uploaded by ``user_id`` or for the task's unit, and is described as stored. ValidationError (422)
    naming each field otherwise (``details.fields``; ``details.problems`` for the web's words)."""
    found = list(_refs(data))
    if not found:
        return
    ids = {ref.get("attachment_id") for _, ref in found}
    valid_ids = {i for i in ids if isinstance(i, int) and not isinstance(i, bool)}
    rows = {r.id: r for r in session.scalars(select(Attachment).where(Attachment.id.in_(valid_ids)))}
    fields: dict[str, str] = {}
    problems: dict[str, dict[str, Any]] = {}
    for path, ref in found:
        row = rows.get(ref.get("attachment_id"))  # type: ignore[arg-type]
        usable = (
            row is not None
            and row.instance_id == task.instance_id
            and (row.uploaded_by == user_id or (row.unit_id is not None and row.unit_id == task.unit_id))
            and all(ref.get(k) == v for k, v in reference(row).items() if k in ref)
            and set(ref) <= set(REF_KEYS)
        )
        if not usable:
            problems[path] = {"rule": "attachment", "attachment_id": str(ref.get("attachment_id"))[:20]}
            fields[path] = (
                f"attachment {str(ref.get('attachment_id'))[:20]} is not of this instance, "
                "or was not uploaded by you or for your unit, or does not match its stored description"
            )
    if fields:
        listed = ", ".join(f"{k}: {v}" for k, v in fields.items())
        raise ValidationError(
            f"task {task.id} refers to attachments it may not use: {listed}",
            {"fields": fields, "problems": problems},
        )


@dataclass
class Document:
    """An attachment a completed step of the item referred to, for later tasks' pages."""

    id: int
    name: str
    media_type: str
    size: int
    sha256: str
    field: str  # the field's path in that step's form
    step: str
    uploaded_by: str
    uploaded_at: datetime


def documents_of(
    session: Session, instance_id: int, events: list[AuditEvent], steps: Mapping[str, str] | None = None
) -> list[Document]:
    """The attachments the instance's completed tasks referred to (latest reference per field first seen), from
    their ``task.completed`` audit events; ``steps`` names each task guid's step."""
    wanted: dict[int, tuple[str, str]] = {}
    for event in events:
        if event.action != "task.completed":
            continue
        submitted = (event.data or {}).get("submitted") or {}
        for path, ref in _refs(submitted):
            attachment_id = ref.get("attachment_id")
            if isinstance(attachment_id, int) and not isinstance(attachment_id, bool):
                step = (steps or {}).get(event.task_guid or "", event.element_id or "")
                wanted[attachment_id] = (path, step)
    if not wanted:
        return []
    rows = session.scalars(
        select(Attachment).where(Attachment.id.in_(set(wanted)), Attachment.instance_id == instance_id)
    ).all()
    names = dict(
        session.execute(select(User.id, User.full_name).where(User.id.in_({r.uploaded_by for r in rows}))).all()
    )
    return [
        Document(
            r.id,
            r.filename,
            r.media_type,
            r.size,
            r.sha256,
            wanted[r.id][0],
            wanted[r.id][1],
            names.get(r.uploaded_by, r.uploaded_by),
            r.uploaded_at,
        )
        for r in sorted(rows, key=lambda r: r.id)
    ]
