"""Notifications in the database and their e-mails through a real SMTP server on loopback."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.errors import ValidationError
from engine.persistence.models import Notification, User
from engine.services.context import EngineContext
from engine.services.mailer import MAX_ATTEMPTS, MailSettings, send_pending_emails
from engine.services.notifications import list_for_user, mark_read, notify, render, unread_count
from tests.engine_helpers import make_org
from tests.smtp_server import free_port, running_smtp_server


@pytest.fixture
def smtp_server():
    with running_smtp_server() as server:
        yield server


@pytest.fixture
def ctx(clock):
    return EngineContext(clock=clock)


@pytest.fixture
def org(sessions):
    with sessions() as s, s.begin():
        make_org(s)
        s.get(User, "an.officer").email = "an@syt.example.vn"
        s.get(User, "cuong.head").email = "cuong@syt.example.vn"
        s.get(User, "binh.officer").active = False


def test_notify_list_and_mark_read(sessions, ctx, org) -> None:
    title, body = render("reminder", task="Lập kế hoạch", due="21/02/2024 10:00", process="plan", instance=7)
    assert title == "Nhắc việc: Lập kế hoạch đến hạn ngày 21/02/2024 10:00"
    with sessions() as s, s.begin():
        rows = notify(
            s,
            ctx,
            ["an.officer", "dung.officer", "binh.officer", "nobody", "an.officer"],
            "reminder",
            title,
            body,
            instance_id=7,
            task_id=3,
        )
        assert [(r.user_id, r.email_status) for r in rows] == [("an.officer", "pending"), ("dung.officer", "none")]
        notify(s, ctx, ["an.officer"], "overdue", "Quá hạn", "...", instance_id=7)
    with sessions() as s, s.begin():
        mine = list_for_user(s, "an.officer")
        assert [n.kind for n in mine] == ["overdue", "reminder"]
        assert list_for_user(s, "an.officer", before_id=mine[0].id)[0].kind == "reminder"
        assert unread_count(s, "an.officer") == 2
        assert mark_read(s, ctx, "dung.officer", [mine[0].id]) == 0  # not hers
        assert mark_read(s, ctx, "an.officer", [mine[0].id]) == 1
        assert [n.kind for n in list_for_user(s, "an.officer", unread_only=True)] == ["reminder"]
        assert mark_read(s, ctx, "an.officer") == 1 and unread_count(s, "an.officer") == 0


def test_english_texts_exist_for_every_kind() -> None:
    from engine.services.notifications import TEXTS

    assert TEXTS["en"].keys() == TEXTS["vi"].keys()
    fields = dict(task="T", due="d", process="p", instance=1, unit="U", days=2, assignee=None)
    for kind in TEXTS["vi"]:
        assert render(kind, "en", **fields)[0] and render(kind, **fields)[0]


def test_settings_from_env() -> None:
    assert MailSettings.from_env({}) is None
    settings = MailSettings.from_env(
        {
            "TDKT_SMTP_HOST": "mail",
            "TDKT_SMTP_PORT": "587",
            "TDKT_SMTP_STARTTLS": "yes",
            "TDKT_SMTP_FROM": "tdkt@snv.example.vn",
            "TDKT_SMTP_USER": "u",
        }
    )
    assert settings == MailSettings(host="mail", port=587, user="u", starttls=True, sender="tdkt@snv.example.vn")
    with pytest.raises(ValidationError, match="TDKT_SMTP_PORT"):
        MailSettings.from_env({"TDKT_SMTP_HOST": "mail", "TDKT_SMTP_PORT": "smtp"})


def test_pending_emails_go_out_after_commit_in_utf8(sessions, ctx, clock, org, smtp_server) -> None:
    inbox, port = smtp_server
    settings = MailSettings(host="127.0.0.1", port=port, sender="tdkt@snv.example.vn")
    title, body = render(
        "overdue",
        task="Thẩm định hồ sơ",
        due="21/02/2024 10:00",
        process="khen_thuong",
        instance=9,
        unit="Sở Y tế",
        assignee="an.officer",
    )
    with pytest.raises(RuntimeError), sessions() as s, s.begin():  # rolled back: nothing to send, ever
        notify(s, ctx, ["an.officer"], "overdue", title, body)
        raise RuntimeError("the step failed")
    assert send_pending_emails(sessions, clock, settings).sent == 0
    with sessions() as s, s.begin():
        notify(s, ctx, ["an.officer", "cuong.head", "dung.officer"], "overdue", title, body, instance_id=9)
    assert send_pending_emails(sessions, clock, None).sent == 0  # e-mail off: rows wait
    assert inbox.received == []
    result = send_pending_emails(sessions, clock, settings)
    assert (result.sent, result.failed) == (2, 0)
    assert sorted(rcpt[0] for rcpt, _ in inbox.received) == ["an@syt.example.vn", "cuong@syt.example.vn"]
    rcpt, message = inbox.received[0]
    assert message["Subject"] == "Quá hạn: Thẩm định hồ sơ (hạn 21/02/2024 10:00)"
    assert message["To"] == rcpt[0] and "tdkt@snv.example.vn" in message["From"]
    assert message.get_content_charset() == "utf-8"
    assert "đã quá hạn từ 21/02/2024 10:00" in message.get_content() and "Sở Y tế" in message.get_content()
    assert send_pending_emails(sessions, clock, settings).sent == 0  # each one once
    assert len(inbox.received) == 2
    with sessions() as s:
        rows = list(s.scalars(select(Notification).order_by(Notification.user_id)))
        assert [(r.user_id, r.email_status) for r in rows] == [
            ("an.officer", "sent"),
            ("cuong.head", "sent"),
            ("dung.officer", "none"),
        ]
        assert rows[0].emailed_at == clock.now()


def test_refused_recipient_is_retried_then_given_up(sessions, ctx, clock, org, smtp_server) -> None:
    inbox, port = smtp_server
    inbox.refuse.add("cuong@syt.example.vn")
    settings = MailSettings(host="127.0.0.1", port=port)
    with sessions() as s, s.begin():
        notify(s, ctx, ["an.officer", "cuong.head"], "reminder", "Nhắc việc", "Nội dung")
    first = send_pending_emails(sessions, clock, settings)
    assert (first.sent, first.retrying) == (1, 1)
    for _ in range(MAX_ATTEMPTS - 1):
        last = send_pending_emails(sessions, clock, settings)
    assert last.failed == 1
    with sessions() as s:
        row = s.scalars(select(Notification).where(Notification.user_id == "cuong.head")).one()
        assert row.email_status == "failed" and row.email_attempts == MAX_ATTEMPTS and "550" in row.email_error
    assert len(inbox.received) == 1


def test_server_down_keeps_emails_pending(sessions, ctx, clock, org) -> None:
    settings = MailSettings(host="127.0.0.1", port=free_port(), timeout=5)
    with sessions() as s, s.begin():
        notify(s, ctx, ["an.officer"], "reminder", "Nhắc việc", "Nội dung")
    assert send_pending_emails(sessions, clock, settings).retrying == 1
    with sessions() as s:
        row = s.scalars(select(Notification)).one()
        assert row.email_status == "pending" and row.email_error and row.email_attempts == 1


def test_a_dead_senders_claim_is_taken_again(sessions, ctx, clock, org, smtp_server) -> None:
    inbox, port = smtp_server
    with sessions() as s, s.begin():
        (row,) = notify(s, ctx, ["an.officer"], "reminder", "Nhắc việc", "Nội dung")
        row.email_status, row.email_claimed_at = "sending", clock.now()
    settings = MailSettings(host="127.0.0.1", port=port)
    assert send_pending_emails(sessions, clock, settings).sent == 0
    clock.advance(timedelta(minutes=11))
    assert send_pending_emails(sessions, clock, settings).sent == 1
