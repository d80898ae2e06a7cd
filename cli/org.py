"""``tdkt org load FILE``: load units, roles, users, memberships and delegations from YAML or JSON."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cli._context import open_database, system_clock
from engine.errors import ValidationError
from engine.persistence.schema import ensure_schema
from engine.services.org import KINDS, load_org_file


@click.group("org")
def command() -> None:
    """The organisation: units, roles, users, memberships, delegations."""


@command.command("load")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--url", default=None, help="Database URL (default: DATABASE_URL or the local SQLite file).")
@click.option("--actor", default=None, help="Who is loading it (recorded in the audit log).")
def load_command(file: Path, url: str | None, actor: str | None) -> None:
    """Create or update the organisation from FILE; a bad file saves nothing and lists every problem."""
    engine, sessions = open_database(url)
    try:
        ensure_schema(engine)
        with sessions() as session, session.begin():
            result = load_org_file(session, file, system_clock(), actor=actor)
    except ValidationError as err:
        for field, message in err.details.get("fields", {}).items():
            click.echo(f"{file}: {message}" if field == "(file)" else f"{file}: {field}: {message}", err=True)
        sys.exit(1)
    finally:
        engine.dispose()
    for kind in KINDS:
        total = result.created[kind] + result.updated[kind] + result.unchanged[kind]
        click.echo(f"{kind}: {total} ({result.created[kind]} new, {result.updated[kind]} changed)")
    if not result.changed:
        click.echo("nothing changed")
