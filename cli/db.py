"""``tdkt db``: the database schema (``tdkt db upgrade`` runs the Alembic migrations up to the newest)."""

from __future__ import annotations

import click

from engine.persistence.db import database_url, make_engine
from engine.persistence.schema import current_revision, head_revision, upgrade


@click.group("db")
def command() -> None:
    """Manage the database schema."""


@command.command("upgrade")
@click.option("--url", default=None, help="Database URL (default: DATABASE_URL or the local SQLite file).")
def upgrade_command(url: str | None) -> None:
    """Migrate the database to the newest schema."""
    engine = make_engine(url or database_url())
    try:
        before = current_revision(engine)
        upgrade(engine)
        after = current_revision(engine)
    finally:
        engine.dispose()
    if before == after:
        click.echo(f"database already at revision {after}")
    else:
        click.echo(f"database upgraded from {before or 'empty'} to {after}")


@command.command("current")
@click.option("--url", default=None, help="Database URL (default: DATABASE_URL or the local SQLite file).")
def current_command(url: str | None) -> None:
    """Show the database's schema revision and the newest one."""
    engine = make_engine(url or database_url())
    try:
        click.echo(f"database: {current_revision(engine) or 'empty'}; newest: {head_revision()}")
    finally:
        engine.dispose()
