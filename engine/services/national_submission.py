"""Sending the electronic dossier for national awards to the Ministry of Home Affairs' system (an outbox).

There is no public interface of the Ministry's system to build against, so the product sends what it would send
to any such endpoint, configured by the operator:

- ``TDKT_NATIONAL_SUBMISSION_URL``: where to POST (``https://``; plain ``http://`` only to a loopback address);
- ``TDKT_NATIONAL_SUBMISSION_TOKEN``: the secret the endpoint gave the province, sent as ``Authorization: Bearer``
  and used to sign the body (``X-TDKT-Signature: sha256=<HMAC-SHA256 of the body>``);
- ``TDKT_NATIONAL_SUBMISSION_TIMEOUT``: seconds per attempt (default 30).

``queue`` (the officer's "Gửi hồ sơ điện tử", in the caller's transaction) builds the package and stores its
bytes and sha256 in a ``national_submission`` row, ``queued``. ``send_queued`` (the scheduler's job) claims due
rows with a lease — ``queued`` -> ``sending`` under a guarded update, so two scheduler processes never send the
same row — POSTs each outside any transaction (``application/zip``, the package's and the manifest's sha256 in
headers, a timeout, no redirect followed), then records the attempt: a 2xx answer with JSON ``{"receipt": ...}``
makes it ``sent`` with the receipt; anything else is retried with a doubling delay, ``failed`` after
``MAX_ATTEMPTS``. Every queueing and attempt is an audit event of the instance.

When a package was sent, the ``nprop_submit`` form's ``electronic_reference`` must be its receipt
(``check_receipt``): the form still completes the task.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.errors import ConflictError, ValidationError
from engine.persistence.models import HumanTask, NationalSubmission
from engine.services.audit import append_event, instance_stream
from engine.services.context import EngineContext
from engine.services.instance_store import OPEN
from engine.services.national_dossier import SUBMIT_TASK, build_package, national_instance, submit_task

URL_ENV = "TDKT_NATIONAL_SUBMISSION_URL"
TOKEN_ENV = "TDKT_NATIONAL_SUBMISSION_TOKEN"  # noqa: S105 - the setting's name, not a secret
TIMEOUT_ENV = "TDKT_NATIONAL_SUBMISSION_TIMEOUT"
MAX_ATTEMPTS = 6
FIRST_DELAY = timedelta(minutes=1)
MAX_DELAY = timedelta(hours=1)
LEASE = timedelta(minutes=5)
ACTOR = "scheduler"
_ACTIVE = ("queued", "sending")


class NotConfigured(ConflictError):
    """No endpoint is configured: the package is uploaded to the Ministry's system by hand."""


@dataclass(frozen=True)
class SubmissionSettings:
    url: str
    token: str | None = None
    timeout: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SubmissionSettings | None:
        """None when no URL is set (sending is then done by hand); ValidationError naming a bad setting."""
        env = os.environ if env is None else env
        url = (env.get(URL_ENV) or "").strip()
        if not url:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValidationError(f"{URL_ENV}: {url!r} is not an http(s) URL", {"fields": {URL_ENV: "not a URL"}})
        if parts.scheme == "http" and not _loopback(parts.hostname):
            raise ValidationError(
                f"{URL_ENV}: {url!r} must use https (plain http only to this machine)", {"fields": {URL_ENV: "https"}}
            )
        raw = (env.get(TIMEOUT_ENV) or "").strip() or "30"
        try:
            timeout = float(raw)
        except ValueError:
            timeout = 0.0
        if not 0 < timeout <= 600:
            raise ValidationError(f"{TIMEOUT_ENV}: {raw!r} is not a number of seconds", {"fields": {TIMEOUT_ENV: raw}})
        return cls(url=url, token=(env.get(TOKEN_ENV) or "").strip() or None, timeout=timeout)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def submissions_of(session: Session, instance_id: int) -> list[NationalSubmission]:
    query = select(NationalSubmission).where(NationalSubmission.instance_id == instance_id)
    return list(session.scalars(query.order_by(NationalSubmission.id)))


def sent_submission(session: Session, instance_id: int) -> NationalSubmission | None:
    return next((s for s in reversed(submissions_of(session, instance_id)) if s.status == "sent"), None)


def _audit(session: Session, ctx: EngineContext, row: NationalSubmission, action: str, actor: str, **data: Any) -> None:
    append_event(
        session,
        ctx.clock,
        stream=instance_stream(row.instance_id),
        action=action,
        actor=actor,
        instance_id=row.instance_id,
        element_id=SUBMIT_TASK,
        data={"submission_id": row.id, "sha256": row.package_sha256, "manifest_sha256": row.manifest_sha256, **data},
    )


def queue(
    session: Session,
    ctx: EngineContext,
    instance_id: int,
    actor: str,
    *,
    submission_number: str,
    submitted_date: str,
    settings: SubmissionSettings | None,
) -> NationalSubmission:
    """Queue the instance's package for sending (its ``nprop_submit`` task open, none sent or on its way)."""
    if settings is None:
        raise NotConfigured(
            f"sending is not configured ({URL_ENV} is not set): download the package, upload it to the Ministry of "
            "Home Affairs' system by hand and type the receipt into the form"
        )
    national_instance(session, instance_id)
    fields: dict[str, str] = {}
    number = (submission_number or "").strip()
    if not number or len(number) > 100:
        fields["submission_number"] = "required, at most 100 characters"
    try:
        day = date.fromisoformat((submitted_date or "").strip()).isoformat()
    except ValueError:
        fields["submitted_date"] = "a date (YYYY-MM-DD)"
    if fields:
        raise ValidationError(f"the submission needs {', '.join(fields)}", {"fields": fields})
    task = submit_task(session, instance_id)
    if task is None or task.status not in OPEN:
        raise ConflictError(
            f"instance {instance_id} has no open {SUBMIT_TASK} task: nothing to send now", {"reason": "no_task"}
        )
    for earlier in submissions_of(session, instance_id):
        if earlier.status in _ACTIVE:
            raise ConflictError(
                f"the dossier of instance {instance_id} is already queued (submission {earlier.id})",
                {"reason": "queued"},
            )
        if earlier.status == "sent":
            raise ConflictError(
                f"the dossier of instance {instance_id} was sent already (receipt {earlier.receipt}): never twice",
                {"reason": "sent", "receipt": earlier.receipt},
            )
    package = build_package(session, ctx, instance_id, submission={"number": number, "date": day})
    row = NationalSubmission(
        instance_id=instance_id,
        package_sha256=package.sha256,
        manifest_sha256=package.manifest_sha256,
        package=package.content,
        submission_number=number,
        submitted_date=day,
        status="queued",
        attempts=0,
        next_attempt_at=ctx.now(),
        queued_by=actor,
        queued_at=ctx.now(),
    )
    session.add(row)
    session.flush()
    _audit(session, ctx, row, "national_dossier.queued", actor, size=len(package.content), url=settings.url)
    return row


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is never followed (it could lead the dossier and the token to another host): it fails the attempt."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        raise urllib.error.HTTPError(newurl, code, f"redirect to {newurl} refused", headers, fp)


def _post(settings: SubmissionSettings, row: NationalSubmission) -> tuple[str | None, str | None]:
    """(receipt, None) on success, else (None, the error)."""
    headers = {
        "Content-Type": "application/zip",
        "X-Dossier-SHA256": row.package_sha256,
        "X-Manifest-SHA256": row.manifest_sha256,
        "User-Agent": "TDKT-Flow",
    }
    if settings.token:
        headers["Authorization"] = f"Bearer {settings.token}"
        signature = hmac.new(settings.token.encode(), row.package, hashlib.sha256).hexdigest()
        headers["X-TDKT-Signature"] = f"sha256={signature}"
    # the URL's scheme is https (or http to this machine), checked by SubmissionSettings.from_env
    request = urllib.request.Request(settings.url, data=row.package, headers=headers, method="POST")  # noqa: S310
    opener = urllib.request.build_opener(_NoRedirect())
    try:
        with opener.open(request, timeout=settings.timeout) as answer:
            body = answer.read(64 * 1024)
    except urllib.error.HTTPError as err:
        return None, f"HTTP {err.code}: {str(err.reason)[:300]}"
    except (urllib.error.URLError, OSError, ValueError) as err:
        return None, f"{type(err).__name__}: {str(err)[:300]}"
    try:
        receipt = json.loads(body.decode("utf-8")).get("receipt")
    except (ValueError, AttributeError):
        return None, "the answer is not JSON with a receipt"
    if not isinstance(receipt, str) or not receipt.strip() or len(receipt) > 100 or not receipt.isprintable():
        return None, "the answer carries no usable receipt (a string of at most 100 characters)"
    return receipt.strip(), None


def _delay(attempts: int) -> timedelta:
    return min(FIRST_DELAY * (2 ** max(attempts - 1, 0)), MAX_DELAY)


def send_queued(
    session_factory: Callable[[], Session],
    ctx: EngineContext,
    settings: SubmissionSettings | None,
    *,
    owner: str,
    limit: int = 10,
) -> int:
    """Send the due queued packages (the scheduler's job); commits its own work. How many were sent."""
    if settings is None:
        return 0
    now = ctx.now()
    with session_factory() as session, session.begin():
        due = ((NationalSubmission.status == "queued") & (NationalSubmission.next_attempt_at <= now)) | (
            (NationalSubmission.status == "sending") & (NationalSubmission.lease_until < now)
        )
        candidates = list(
            session.scalars(select(NationalSubmission.id).where(due).order_by(NationalSubmission.id).limit(limit))
        )
        claimed = []
        for sid in candidates:  # one guarded update per row: whoever moves it first sends it
            moved = session.execute(
                update(NationalSubmission)
                .where(NationalSubmission.id == sid, due)
                .values(status="sending", lease_owner=owner, lease_until=now + LEASE)
                .execution_options(synchronize_session=False)
            )
            if moved.rowcount == 1:  # type: ignore[attr-defined]
                claimed.append(sid)
    sent = 0
    for sid in claimed:
        with session_factory() as session:
            row = session.get(NationalSubmission, sid)
            if row is None:
                continue
            session.expunge(row)
        receipt, error = _post(settings, row)
        with session_factory() as session, session.begin():
            current = session.get(NationalSubmission, sid)
            if current is None or current.status != "sending" or current.lease_owner != owner:
                continue  # the lease ran out and another scheduler took it over
            current.attempts += 1
            current.lease_owner, current.lease_until = None, None
            if receipt is not None:
                current.status, current.receipt, current.sent_at, current.last_error = "sent", receipt, ctx.now(), None
                current.next_attempt_at = None
                sent += 1
            else:
                current.last_error = error
                if current.attempts >= MAX_ATTEMPTS:
                    current.status, current.next_attempt_at = "failed", None
                else:
                    current.status, current.next_attempt_at = "queued", ctx.now() + _delay(current.attempts)
            session.flush()
            _audit(
                session,
                ctx,
                current,
                "national_dossier.sent" if receipt is not None else "national_dossier.attempt_failed",
                ACTOR,
                attempt=current.attempts,
                receipt=receipt,
                error=error,
                status=current.status,
                next_attempt_at=current.next_attempt_at.isoformat() if current.next_attempt_at else None,
            )
    return sent


def check_receipt(session: Session, task: HumanTask, data: Mapping[str, Any]) -> None:
    """Before ``nprop_submit`` is completed with ``data``: once a package was sent, the form must carry its receipt
    (and its tờ trình number); while one is on its way, the task waits for it. ValidationError naming the field."""
    if task.element_id != SUBMIT_TASK:
        return
    rows = submissions_of(session, task.instance_id)
    active = next((r for r in rows if r.status in _ACTIVE), None)
    sent = next((r for r in reversed(rows) if r.status == "sent"), None)
    fields: dict[str, str] = {}
    if sent is not None:
        if data.get("electronic_reference") != sent.receipt:
            fields["electronic_reference"] = (
                f"must be {sent.receipt}, the receipt the Ministry's system gave for the package sent "
                f"(sha256 {sent.package_sha256[:12]}…)"
            )
        if sent.submission_number and data.get("submission_number") != sent.submission_number:
            fields["submission_number"] = f"must be {sent.submission_number}, the number the package was sent with"
    elif active is not None:
        fields["electronic_reference"] = "the package is still being sent: wait for the Ministry's receipt"
    if fields:
        listed = "; ".join(f"{k}: {v}" for k, v in fields.items())
        raise ValidationError(f"task {task.id} ({SUBMIT_TASK}): {listed}", {"fields": fields})


def prefill(session: Session, task: HumanTask, data: dict[str, Any]) -> dict[str, Any]:
    """The submission form's data with the sent package's receipt, number and date filled in."""
    sent = sent_submission(session, task.instance_id) if task.element_id == SUBMIT_TASK else None
    if sent is None:
        return data
    return {
        **data,
        "electronic_reference": sent.receipt,
        "submission_number": data.get("submission_number") or sent.submission_number,
        "submitted_date": data.get("submitted_date") or sent.submitted_date,
    }
