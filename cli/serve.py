"""``tdkt serve``: the web UI, the API and (unless told otherwise) the scheduler, in one process."""

from __future__ import annotations

import click


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-scheduler", is_flag=True, help="Don't fire timers here (a separate `tdkt scheduler` runs).")
def command(host: str, port: int, no_scheduler: bool) -> None:
    """Serve the web UI and API, with the scheduler running in-process."""
    from api import create_app
    from cli._context import open_database, system_clock
    from engine.scheduler import TimerScheduler
    from engine.services.context import EngineContext

    engine, sessions = open_database()
    app = create_app({"ENGINE": engine, "DATABASE_URL": engine.url.render_as_string(hide_password=True)})
    scheduler = None
    if not no_scheduler:
        scheduler = TimerScheduler(sessions, EngineContext(clock=system_clock()))
        scheduler.tick()  # what fell due while nothing ran fires now, once
        scheduler.start()
    click.echo(f"TĐKT Flow on http://{host}:{port}/ (database: {app.config['DATABASE_URL']})")
    try:
        app.run(host=host, port=port, use_reloader=False)
    finally:
        if scheduler is not None:
            scheduler.shutdown()
