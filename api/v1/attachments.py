"""Attachments: upload a file on a task (``multipart/form-data``, one part named ``file``) and download one.

- Upload: only someone who may complete the task (its assignee, or a candidate while it is unclaimed, their
  delegates, administrators), while it is open. The type is checked by content (``engine.services.attachments``);
  a refusal answers 413 (too large), 415 (not an accepted type, or the content does not match the extension) or
  422 (empty, no file), in the page's language. The answer is the reference the form's data keeps.
- Download: whoever may see the instance (``api.authz.check_instance``), as an attachment (never rendered inline)
  with ``X-Content-Type-Options: nosniff``.

Like ``api.v1.definitions``, this blueprint sits beside the ``api_v1`` parent (which refuses every body that is not
JSON) and runs the same before-request checks itself. A cross-site form can send multipart, so an upload must come
from this site (``Origin`` / ``Sec-Fetch-Site``) and, when it is made with the session cookie, carry the page's
CSRF token in ``X-CSRF-Token``. A bearer token needs neither (no browser sends it by itself).

Completing a task checks the attachments its data refers to (``check_completion`` on the API, the web form's
submit route for the page).
"""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import quote, urlsplit

from flask import Blueprint, Flask, Response, jsonify, request, session
from pydantic import BaseModel, Field
from werkzeug.exceptions import Forbidden, RequestEntityTooLarge

from api.authz import authorize_route, check_instance, check_task, may_work_on, require_user
from api.context import engine_context, read_sessions, sessions
from api.i18n import t
from api.security import require_json
from api.v1.schemas import AttachmentOut
from api.v1.spec import ID, api, responses
from api.v1.spec import check_request as _check_json_request
from engine.errors import ConflictError, PermissionDeniedError
from engine.persistence.models import Instance
from engine.services import attachments, tasks
from engine.services.directory import acting_for

bp = Blueprint("api_v1_attachments", __name__, url_prefix="/api/v1")
TAGS = ("attachments",)
MULTIPART = "multipart/form-data"
_SLACK = 256 * 1024  # the multipart envelope around the file


class UploadForm(BaseModel):
    file: Any = Field(
        description="the file: PDF, PNG, JPEG, DOCX, XLSX or ODT, checked by its content",
        json_schema_extra={"type": "string", "format": "binary"},
    )
    field: str | None = Field(None, max_length=255, description="the form field it is for, e.g. documents/to_trinh")


def _refused(status: int, code: str, message: str, details: dict[str, Any]) -> Any:
    return jsonify({"error": {"code": code, "message": message, "details": details}}), status


def _refusal(err: attachments.AttachmentRefused, content: bytes, limit: int) -> Any:
    """413 too large, 415 not an accepted type (by content and extension), 422 empty; in the page's language."""
    name = err.details.get("name", "")
    if err.reason == "too_large":
        size = len(content) if len(content) <= limit else f"> {limit}"
        message = t("attachment_too_large", name=name, size=size, limit=limit)
        return _refused(413, "payload_too_large", message, err.details)
    if err.reason == "type":
        return _refused(415, "unsupported_media_type", t("attachment_type_refused", name=name), err.details)
    return _refused(422, "validation_error", t("attachment_empty", name=name), err.details)


def _check_body(req: Any, resp: Any, error: Exception | None, instance: Any, adapter: Any) -> None:
    """spectree's request check: the multipart body is checked by the view (which names what is missing)."""
    if req.mimetype == MULTIPART:
        return
    _check_json_request(req, resp, error, instance, adapter)


@bp.post(f"/tasks/<{ID}:task_id>/attachments")
@api.validate(
    form=UploadForm,
    resp=responses(HTTP_201=AttachmentOut),
    tags=TAGS,
    before=_check_body,
)
def upload(task_id: int) -> Any:
    """Upload a file on an open task (who may complete it); the answer is the reference its form's data keeps."""
    p = require_user()
    ctx = engine_context()
    part = request.files.get("file")
    if part is None or not part.filename:
        return _refused(422, "validation_error", t("attachment_missing"), {"fields": {"file": "required"}})
    limit = attachments.max_bytes()
    content = part.stream.read(limit + 1)
    field = (request.form.get("field") or "")[:255] or None
    try:
        attachments.check_content(part.filename, content, limit)
    except attachments.AttachmentRefused as err:
        return _refusal(err, content, limit)
    with sessions()() as db, db.begin():
        row = tasks.get_task(db, task_id)
        check_task(db, p, row)
        if row.status not in ("open", "claimed"):
            raise ConflictError(f"task {task_id} is {row.status}; files can be uploaded only on open tasks")
        held_by_other = row.assignee not in (None, p.user_id) and row.assignee not in acting_for(
            db, p.user_id, ctx.now()
        )
        if not may_work_on(db, p, row) or (held_by_other and not p.is_admin):
            raise PermissionDeniedError(f"user {p.user_id} may not complete task {task_id}, so may not upload on it")
        stored = attachments.store(db, ctx, row, p.user_id, part.filename, content, field=field, limit=limit)
        answer = {"attachment": attachments.reference(stored), "field": stored.field, "task_id": task_id}
    return jsonify(answer), 201


@bp.get(f"/attachments/<{ID}:attachment_id>")
@api.validate(resp=responses(HTTP_200=None), tags=TAGS)  # the file's own media type: see describe_document
def download(attachment_id: int) -> Any:
    """Download an attachment (whoever may see its instance), always as a file to save, never shown inline."""
    p = require_user()
    with read_sessions()() as db:
        row = attachments.get(db, attachment_id)
        instance = db.get(Instance, row.instance_id)
        if instance is None:  # pragma: no cover - a foreign key
            raise PermissionDeniedError(f"attachment {attachment_id} has no instance")
        check_instance(db, p, instance)
        content = attachments.content_of(row)
        name, media_type = row.filename, row.media_type
    answer = Response(content, mimetype=media_type)
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    answer.headers["Content-Disposition"] = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
    answer.headers["X-Content-Type-Options"] = "nosniff"
    answer.headers["Cache-Control"] = "private, no-store"
    return answer


def _same_site() -> None:
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        raise Forbidden("an upload must come from this site")
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != request.host:
        raise Forbidden(f"an upload must come from this site, not {origin}")
    if "Authorization" in request.headers:
        return
    sent = request.headers.get("X-CSRF-Token", "")
    expected = session.get("csrf_token")
    if not isinstance(expected, str) or not hmac.compare_digest(sent, expected):
        raise Forbidden("an upload with the session cookie must carry the page's CSRF token (X-CSRF-Token)")


@bp.before_request
def _body_type() -> None:
    if request.endpoint == f"{bp.name}.upload" and request.method == "POST":
        request.max_content_length = attachments.max_bytes() + _SLACK
        if request.mimetype == MULTIPART:
            _same_site()
            return
    require_json()


bp.before_request(authorize_route)


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(err: RequestEntityTooLarge) -> Any:
    limit = attachments.max_bytes()
    return _refused(413, "payload_too_large", t("attachment_request_too_large", limit=limit), {"limit": limit})


def check_completion() -> None:
    """Before ``POST /api/v1/tasks/<id>/complete`` (the ``api_v1`` parent's before-request): the attachments the
    data refers to must be usable by the caller on that task (``attachments.check_references``; 422 otherwise)."""
    if request.endpoint != "api_v1.tasks.complete" or request.method != "POST":
        return
    body = request.get_json(silent=True)
    data = body.get("data") if isinstance(body, dict) else None
    if not data or not attachments.has_references(data):
        return
    p = require_user()
    task_id = (request.view_args or {}).get("task_id")
    with read_sessions()() as db:
        row = tasks.get_task(db, int(task_id or 0))
        attachments.check_references(db, row, p.user_id, data)


def register(app: Flask) -> None:
    app.register_blueprint(bp)


def describe_document(spec: dict[str, Any]) -> None:
    """What spectree cannot say by itself: the download answers the file's own media type."""
    operation = spec.get("paths", {}).get("/api/v1/attachments/{attachment_id}", {}).get("get")
    if operation is None:
        return
    answer = operation["responses"].setdefault("200", {})
    answer["description"] = "the file, as an attachment (Content-Disposition: attachment; nosniff)"
    answer["content"] = {media: {"schema": {"type": "string", "format": "binary"}} for media in attachments.EXTENSIONS}
    for parameter in operation.get("parameters", []):
        if parameter.get("name") == "attachment_id":
            parameter["schema"]["minimum"] = 1
            parameter["schema"]["format"] = "int64"
