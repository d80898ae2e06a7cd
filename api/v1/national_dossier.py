"""The electronic dossier of a national-award proposal (``engine.services.national_dossier``): download the package,
queue it for the Ministry of Home Affairs' system, and read what its sendings gave.

Who: Sở Nội vụ (``home_affairs``), the Chairman's office (``chairman`` in the instance's unit) and administrators
download and send; auditors download and read the sendings. Anyone else gets 403; an instance that is not a
national proposal, 404. Every download is an audit event with the package's sha256.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, Field

from api.authz import Principal, check_instance, require_user
from api.context import engine_context, read_sessions, sessions
from api.v1.serialize import iso
from api.v1.spec import ID, api, responses
from engine.errors import PermissionDeniedError
from engine.persistence.models import Instance, NationalSubmission
from engine.services import national_dossier, national_submission

bp = Blueprint("national_dossier", __name__)
TAGS = ("national dossier",)


def may_send(p: Principal, instance: Instance) -> bool:
    """Sở Nội vụ, the Chairman's office of the instance's unit, administrators."""
    return (
        p.is_admin
        or p.holds("home_affairs")
        or (instance.unit_id is not None and p.holds("chairman", instance.unit_id))
    )


def may_read(p: Principal, instance: Instance) -> bool:
    """Those who send it, and auditors."""
    return may_send(p, instance) or p.is_auditor


def national_for(db: Any, p: Principal, instance_id: int, *, send: bool = False) -> Instance:
    """The national proposal ``p`` may read (or send): 404 for another process, 403 for someone else."""
    row = national_dossier.national_instance(db, instance_id)
    check_instance(db, p, row)
    if not (may_send(p, row) if send else may_read(p, row)):
        what = "send" if send else "download"
        raise PermissionDeniedError(
            f"user {p.user_id} may not {what} the national dossier of instance {instance_id}: it is for Sở Nội vụ, "
            "the Chairman's office and administrators" + ("" if send else ", and auditors")
        )
    return row


def package_answer(p: Principal, instance_id: int, *, via: str) -> Response:
    """Build the package under ``p``'s authorization, audit the download, answer it as a file."""
    ctx = engine_context()
    with sessions()() as db, db.begin():
        national_for(db, p, instance_id)
        package = national_dossier.build_package(db, ctx, instance_id)
        national_dossier.record_download(db, ctx, package, p.user_id, via=via)
    answer = Response(package.content, mimetype=national_dossier.MEDIA_TYPE)
    answer.headers["Content-Disposition"] = f'attachment; filename="{package.filename}"'
    answer.headers["X-Dossier-SHA256"] = package.sha256
    answer.headers["X-Content-Type-Options"] = "nosniff"
    answer.headers["Cache-Control"] = "private, no-store"
    return answer


class SubmissionIn(BaseModel):
    submission_number: str = Field(min_length=1, max_length=100, description="the tờ trình's number")
    submitted_date: str = Field(min_length=1, max_length=10, description="the tờ trình's date, YYYY-MM-DD")


class SubmissionOut(BaseModel):
    id: int
    instance_id: int
    status: str = Field(description="queued | sending | sent | failed")
    attempts: int
    last_error: str | None
    next_attempt_at: str | None
    receipt: str | None = Field(description="the Ministry's receipt once sent")
    package_sha256: str
    manifest_sha256: str
    submission_number: str | None
    submitted_date: str | None
    queued_by: str
    queued_at: str | None
    sent_at: str | None


class SubmissionList(BaseModel):
    submissions: list[SubmissionOut]
    configured: bool = Field(description="whether an endpoint is configured (TDKT_NATIONAL_SUBMISSION_URL)")


def submission_json(row: NationalSubmission) -> dict[str, Any]:
    return {
        "id": row.id,
        "instance_id": row.instance_id,
        "status": row.status,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "next_attempt_at": iso(row.next_attempt_at),
        "receipt": row.receipt,
        "package_sha256": row.package_sha256,
        "manifest_sha256": row.manifest_sha256,
        "submission_number": row.submission_number,
        "submitted_date": row.submitted_date,
        "queued_by": row.queued_by,
        "queued_at": iso(row.queued_at),
        "sent_at": iso(row.sent_at),
    }


def queue_for(p: Principal, instance_id: int, number: str, day: str) -> NationalSubmission:
    ctx = engine_context()
    settings = national_submission.SubmissionSettings.from_env()
    with sessions()() as db, db.begin():
        national_for(db, p, instance_id, send=True)
        row = national_submission.queue(
            db, ctx, instance_id, p.user_id, submission_number=number, submitted_date=day, settings=settings
        )
        db.expunge(row)
    return row


@bp.get(f"/instances/<{ID}:instance_id>/national-dossier")
@api.validate(resp=responses(HTTP_200=None), tags=TAGS)
def download(instance_id: int) -> Any:
    """The dossier as a ZIP (``manifest.json`` and the documents); ``X-Dossier-SHA256`` names it."""
    return package_answer(require_user(), instance_id, via="api")


@bp.post(f"/instances/<{ID}:instance_id>/national-dossier/submissions")
@api.validate(json=SubmissionIn, resp=responses(HTTP_201=SubmissionOut), tags=TAGS)
def create_submission(instance_id: int) -> Any:
    """Queue the dossier for the Ministry's system (409 when sending is not configured, or one is on its way)."""
    body: SubmissionIn = request.context.json  # type: ignore[attr-defined]
    row = queue_for(require_user(), instance_id, body.submission_number, body.submitted_date)
    return jsonify(submission_json(row)), 201


@bp.get(f"/instances/<{ID}:instance_id>/national-dossier/submissions")
@api.validate(resp=responses(HTTP_200=SubmissionList), tags=TAGS)
def list_submissions(instance_id: int) -> Any:
    """Each sending of the dossier: its status, attempts, last error and the receipt."""
    p = require_user()
    with read_sessions()() as db:
        national_for(db, p, instance_id)
        rows = [submission_json(r) for r in national_submission.submissions_of(db, instance_id)]
    return jsonify(submissions=rows, configured=national_submission.SubmissionSettings.from_env() is not None)


def describe_document(spec: dict[str, Any]) -> None:
    """What spectree cannot say by itself: the download answers a ZIP, named by its sha256 in a header."""
    operation = spec.get("paths", {}).get("/api/v1/instances/{instance_id}/national-dossier", {}).get("get")
    if operation is None:
        return
    answer = operation["responses"].setdefault("200", {})
    answer["description"] = "the dossier: manifest.json and the documents (Content-Disposition: attachment)"
    answer["content"] = {national_dossier.MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}
    answer["headers"] = {
        "X-Dossier-SHA256": {"description": "the package's sha256", "schema": {"type": "string"}},
    }
