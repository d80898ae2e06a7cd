"""``tdkt serve``: the web UI, the API and the in-process scheduler."""

from __future__ import annotations

import click


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def command(host: str, port: int) -> None:
    """Serve the web UI and API."""
    from api import create_app
    from cli._context import open_database

    engine, _ = open_database()
    app = create_app({"ENGINE": engine, "DATABASE_URL": engine.url.render_as_string(hide_password=True)})
    click.echo(f"TĐKT Flow on http://{host}:{port}/ (database: {app.config['DATABASE_URL']})")
    app.run(host=host, port=port, use_reloader=False)
