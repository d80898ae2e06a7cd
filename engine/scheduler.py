"""The scheduler process: APScheduler wakes us often; the database says what is due.

``make run`` runs it inside the web process; ``tdkt scheduler`` runs it alone (several may run at once, on
PostgreSQL: leases and the fired-guard in ``engine.services.timers`` keep each timer to exactly one firing).
Timers due while no scheduler ran fire once when one starts.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.orm import Session, sessionmaker

from engine.services.calendar import calendar_stamp
from engine.services.context import EngineContext
from engine.services.mailer import MailSettings, send_pending_emails
from engine.services.national_submission import SubmissionSettings, send_queued
from engine.services.timers import fire_due_timers

log = logging.getLogger(__name__)

# Half a second between looks keeps every timer under a second late without loading the database.
POLL_SECONDS = 0.5
# How often to look whether an administrator changed the working-day calendar.
CALENDAR_CHECK_SECONDS = 10.0
# How often to look for national-award dossiers queued for the Ministry's system (engine/services/national_submission).
NATIONAL_SUBMISSION_SECONDS = 5.0


def scheduler_owner() -> str:
    """A name unique to this process, recorded as the lease owner of the timers it takes."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class TimerScheduler:
    """Runs ``tick`` every POLL_SECONDS on an APScheduler background thread."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        ctx: EngineContext,
        *,
        owner: str | None = None,
        after_tick: Callable[[], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.ctx = ctx
        self.owner = owner or scheduler_owner()
        self.after_tick = after_tick
        self.mail = MailSettings.from_env()
        self.fired = 0
        self._calendar_stamp: object = None
        self._calendar_checked: float | None = None
        self._lock = threading.Lock()
        self._scheduler = BackgroundScheduler(timezone="UTC")
        self._scheduler.add_job(
            self.tick, "interval", seconds=POLL_SECONDS, max_instances=1, coalesce=True, id="tdkt-timers"
        )
        # Sending dossiers waits on a remote system: a job of its own, so timers never wait behind it. Rows are
        # leased in the database, so several scheduler processes never send the same dossier.
        self.submission = SubmissionSettings.from_env()
        self._scheduler.add_job(
            self.send_national_submissions,
            "interval",
            seconds=NATIONAL_SUBMISSION_SECONDS,
            max_instances=1,
            coalesce=True,
            id="tdkt-national-submissions",
        )

    def tick(self) -> int:
        """Fire everything due now (also callable directly, e.g. to drain at start-up or in a simulation)."""
        with self._lock:
            self._refresh_calendar()
            total = 0
            while True:
                fired = fire_due_timers(self.sessions, self.ctx, owner=self.owner)
                total += fired
                if fired == 0:
                    break
            self.fired += total
        if self.mail is not None:
            try:  # after the timers' transactions committed: rolled-back work never sends mail
                send_pending_emails(self.sessions, self.ctx.clock, self.mail)
            except Exception:  # a mail server being down must not stop the timers
                log.exception("sending e-mails failed")
        if self.after_tick is not None:
            try:
                self.after_tick()
            except Exception:  # a mail server being down must not stop the timers
                log.exception("after-tick hook failed")
        return total

    def send_national_submissions(self) -> int:
        """Send the national-award dossiers due now (nothing when no endpoint is configured)."""
        if self.submission is None:
            return 0
        try:
            return send_queued(self.sessions, self.ctx, self.submission, owner=self.owner)
        except Exception:  # the Ministry's system being down must not stop the scheduler
            log.exception("sending national dossiers failed")
            return 0

    def _refresh_calendar(self) -> None:
        now = time.monotonic()
        if self._calendar_checked is not None and now - self._calendar_checked < CALENDAR_CHECK_SECONDS:
            return
        self._calendar_checked = now
        with self.sessions() as session:
            stamp = calendar_stamp(session)
            if stamp != self._calendar_stamp:
                self.ctx.reload_calendar(session)
                self._calendar_stamp = stamp

    def start(self) -> None:
        self._scheduler.start()
        log.info("scheduler %s started", self.owner)

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)
