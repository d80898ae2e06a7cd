"""E-mail for notifications, sent through an SMTP server after the work that made them has committed.

The model (outbox): ``notify`` stores rows with ``email_status = "pending"`` inside the caller's transaction.
``send_pending_emails(session_factory, clock, settings)`` runs *after* that commit (the scheduler calls it
after each batch; anything may call it):

1. a short transaction claims a batch (``pending`` -> ``sending``, ``email_claimed_at = now``), so two senders
   never take the same row; claims older than ``CLAIM_TIMEOUT`` (a sender that died) are taken again;
2. the messages go out over one SMTP connection, outside any transaction (no database lock is held while the
   mail server answers);
3. a second short transaction records each result: ``sent`` + ``emailed_at``, or back to ``pending`` with
   ``email_error`` (``failed`` after ``MAX_ATTEMPTS``).

So work that rolls back sends nothing, and a crash between 2 and 3 can at worst send a message twice, never lose
it (at-least-once). Settings come from the environment (``MailSettings.from_env``); no host means e-mail is off
and rows stay pending.
"""

from __future__ import annotations

import os
import smtplib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.errors import ValidationError
from engine.persistence.models import Notification, User

MAX_ATTEMPTS = 3
CLAIM_TIMEOUT = timedelta(minutes=10)


@dataclass(frozen=True)
class MailSettings:
    """Where and how to send."""

    host: str
    port: int = 25
    user: str | None = None
    password: str | None = None
    starttls: bool = False  # upgrade the connection with STARTTLS before logging in
    sender: str = "tdkt-flow@localhost"  # the From address
    sender_name: str = "TĐKT Flow"
    timeout: float = 30.0  # seconds per SMTP operation

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MailSettings | None:
        """TDKT_SMTP_HOST, _PORT, _USER, _PASSWORD, _STARTTLS (1/true/yes), _FROM; None when no host is set."""
        env = os.environ if env is None else env
        host = env.get("TDKT_SMTP_HOST", "").strip()
        if not host:
            return None
        port_text = env.get("TDKT_SMTP_PORT", "").strip() or "25"
        try:
            port = int(port_text)
        except ValueError:
            raise ValidationError(
                f"TDKT_SMTP_PORT: '{port_text}' is not a port number",
                details={"fields": {"TDKT_SMTP_PORT": "not a port number"}},
            )
        return cls(
            host=host,
            port=port,
            user=env.get("TDKT_SMTP_USER") or None,
            password=env.get("TDKT_SMTP_PASSWORD") or None,
            starttls=env.get("TDKT_SMTP_STARTTLS", "").strip().lower() in ("1", "true", "yes", "on"),
            sender=env.get("TDKT_SMTP_FROM") or cls.sender,
        )


def build_message(settings: MailSettings, to: str, subject: str, body: str) -> EmailMessage:
    """A UTF-8 plain-text message (Vietnamese subjects are RFC 2047 encoded by the email package)."""
    message = EmailMessage()
    message["From"] = formataddr((settings.sender_name, settings.sender))
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2] or None)
    message.set_content(body, charset="utf-8")
    return message


def _send_all(settings: MailSettings, messages: list[tuple[int, EmailMessage]]) -> dict[int, str | None]:
    """Send over one connection; {id: None when sent, else the error}. A connection failure fails them all."""
    results: dict[int, str | None] = {}
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.user:
                smtp.login(settings.user, settings.password or "")
            for key, message in messages:
                try:
                    smtp.send_message(message)
                    results[key] = None
                except smtplib.SMTPException as err:  # this recipient refused; the others may still go
                    results[key] = f"{type(err).__name__}: {err}"[:1000]
    except (OSError, smtplib.SMTPException) as err:
        error = f"{type(err).__name__}: {err}"[:1000]
        for key, _ in messages:
            results.setdefault(key, error)
    return results


@dataclass
class SendResult:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def send_pending_emails(
    session_factory: Callable[[], Session], clock: Clock, settings: MailSettings | None, *, limit: int = 100
) -> SendResult:
    """Send up to ``limit`` pending notification e-mails (see the module docstring). Commits its own work."""
    result = SendResult()
    if settings is None:
        return result
    now = clock.now()
    with session_factory() as session, session.begin():
        claimable = or_(
            Notification.email_status == "pending",
            and_(Notification.email_status == "sending", Notification.email_claimed_at < now - CLAIM_TIMEOUT),
        )
        query = select(Notification.id).where(claimable).order_by(Notification.id).limit(limit)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        ids = list(session.scalars(query))
        if not ids:
            return result
        session.execute(
            update(Notification)
            .where(Notification.id.in_(ids), claimable)
            .values(email_status="sending", email_claimed_at=now)
            .execution_options(synchronize_session=False)
        )
        rows = session.execute(
            select(Notification.id, Notification.title, Notification.body, User.email)
            .join(User, User.id == Notification.user_id)
            .where(Notification.id.in_(ids), Notification.email_claimed_at == now)
        ).all()
    messages = [(r.id, build_message(settings, r.email, r.title, r.body)) for r in rows if r.email]
    outcome = _send_all(settings, messages)
    no_address = [r.id for r in rows if not r.email]  # the address was removed since the notification was made
    with session_factory() as session, session.begin():
        done = clock.now()
        sent = [key for key, error in outcome.items() if error is None]
        if sent:
            session.execute(
                update(Notification)
                .where(Notification.id.in_(sent))
                .values(email_status="sent", emailed_at=done, email_error=None)
                .execution_options(synchronize_session=False)
            )
        if no_address:
            session.execute(
                update(Notification)
                .where(Notification.id.in_(no_address))
                .values(email_status="none")
                .execution_options(synchronize_session=False)
            )
        for key, error in outcome.items():
            if error is None:
                continue
            row = session.get(Notification, key)
            if row is None:
                continue
            row.email_attempts += 1
            row.email_error = error
            row.email_status = "failed" if row.email_attempts >= MAX_ATTEMPTS else "pending"
            if row.email_status == "failed":
                result.failed += 1
            else:
                result.retrying += 1
    result.sent = len(sent)
    return result
