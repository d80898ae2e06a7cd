"""``tdkt serve``: the web UI and the API through gunicorn, with the scheduler in a process of its own.

gunicorn's sync workers, each with its own database engine (the app is built in each worker, never shared across
a fork), a request timeout that also closes connections a slow or half-open client never finishes, and limits on
the request line and headers. The scheduler runs as ``tdkt scheduler`` beside the workers and stops with them.
In production put a reverse proxy (nginx) in front: it buffers slow clients so that workers never wait for them.
``--dev`` serves with werkzeug's development server in one process instead (debugging only).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

import click


def _no_banner() -> None:
    """gunicorn writes ``Server: gunicorn`` itself, after the app's headers: leave that line out."""
    from gunicorn.http import wsgi

    if getattr(wsgi.Response.default_headers, "tdkt_no_banner", False):
        return
    original = wsgi.Response.default_headers

    def default_headers(self: Any) -> list[str]:
        return [line for line in original(self) if not line.startswith("Server:")]

    default_headers.tdkt_no_banner = True  # type: ignore[attr-defined]
    wsgi.Response.default_headers = default_headers


class _Gunicorn:
    """gunicorn's BaseApplication for our app factory (imported lazily: the CLI starts without it)."""

    @staticmethod
    def run(url: str, options: dict[str, Any]) -> None:
        from gunicorn.app.base import BaseApplication

        class Application(BaseApplication):  # type: ignore[misc]
            def load_config(self) -> None:
                for key, value in options.items():
                    self.cfg.set(key, value)

            def load(self) -> Any:
                from api import create_app

                _no_banner()
                return create_app({"DATABASE_URL": url})

        Application().run()


def _scheduler(url: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "cli", "scheduler", "--url", url]
    return subprocess.Popen(command, env=os.environ.copy())  # noqa: S603 - our own command, no shell


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="gunicorn workers.")
@click.option(
    "--timeout",
    default=30,
    show_default=True,
    type=click.IntRange(1, 3600),
    help="Seconds a worker may spend on one request (a slow or half-open client is cut off then).",
)
@click.option("--url", default=None, help="Database URL (default: DATABASE_URL or the local SQLite file).")
@click.option("--no-scheduler", is_flag=True, help="Don't fire timers here (a separate `tdkt scheduler` runs).")
@click.option("--dev", is_flag=True, help="werkzeug's development server in one process (debugging only).")
def command(host: str, port: int, workers: int, timeout: int, url: str | None, no_scheduler: bool, dev: bool) -> None:
    """Serve the web UI and API (gunicorn) with the scheduler in its own process."""
    from cli._context import open_database

    engine, _ = open_database(url)  # creates or upgrades the schema once, before any worker starts
    database = engine.url.render_as_string(hide_password=False)
    shown = engine.url.render_as_string(hide_password=True)
    engine.dispose()
    scheduler = None if no_scheduler else _scheduler(database)
    if scheduler is not None:
        click.echo(f"scheduler running (process {scheduler.pid})")
    click.echo(f"TĐKT Flow on http://{host}:{port}/ (database: {shown}; {workers} worker(s))")
    try:
        if dev:
            from api import create_app

            create_app({"DATABASE_URL": database}).run(host=host, port=port, use_reloader=False)
        else:
            _Gunicorn.run(
                database,
                {
                    "bind": f"{host}:{port}",
                    "workers": workers,
                    "worker_class": "sync",
                    "timeout": timeout,
                    "graceful_timeout": 10,
                    "keepalive": 2,
                    "limit_request_line": 8190,
                    "limit_request_fields": 100,
                    "limit_request_field_size": 8190,
                    "accesslog": "-",
                    "proc_name": "tdkt",
                },
            )
    finally:
        if scheduler is not None:
            scheduler.send_signal(signal.SIGTERM)
            try:
                scheduler.wait(timeout=10)
            except subprocess.TimeoutExpired:
                scheduler.kill()
