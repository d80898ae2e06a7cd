"""``tdkt scheduler``: fire timers, reminders and escalations, alone (for production) or once (``--drain``)."""

from __future__ import annotations

import signal
import threading

import click

from cli._context import open_database, system_clock
from engine.scheduler import TimerScheduler
from engine.services.context import EngineContext


@click.command("scheduler")
@click.option("--url", default=None, help="Database URL (default: DATABASE_URL or the local SQLite file).")
@click.option("--owner", default=None, help="Lease owner name (default: host:pid:random).")
@click.option("--drain", is_flag=True, help="Fire everything due now, then exit.")
def command(url: str | None, owner: str | None, drain: bool) -> None:
    """Run the scheduler that fires BPMN timers and deadline steps."""
    engine, sessions = open_database(url)
    scheduler = TimerScheduler(sessions, EngineContext(clock=system_clock()), owner=owner)
    try:
        if drain:
            click.echo(f"fired {scheduler.tick()} timer(s)")
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        scheduler.tick()  # what fell due while no scheduler ran fires now, once
        scheduler.start()
        click.echo(f"scheduler {scheduler.owner} running; Ctrl+C stops it")
        stop.wait()
    finally:
        scheduler.shutdown()
        engine.dispose()
