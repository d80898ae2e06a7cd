"""``tdkt deploy FILE...``: deploy processes (a new version only when their content changed)."""

from __future__ import annotations

import sys

import click
from sqlalchemy import Engine

from cli._context import open_database, system_clock
from cli.lint import beside_forms, print_problems, read_files
from engine.errors import DefinitionError


def _ensure_schema(engine: Engine) -> None:
    from sqlalchemy import inspect

    if inspect(engine).has_table("definition"):
        return
    try:
        from engine.persistence.schema import upgrade
    except ImportError:
        from engine.persistence.models import Base

        Base.metadata.create_all(engine)
        return
    upgrade(engine)


@click.command("deploy")
@click.argument("paths", nargs=-1, required=True)
@click.option("--url", default=None, help="Database URL (default: DATABASE_URL or the local SQLite file).")
@click.option("--actor", default=None, help="Who deploys (recorded in the audit log).")
def command(paths: tuple[str, ...], url: str | None, actor: str | None) -> None:
    """Deploy BPMN/DMN/form files; prints `KEY vN created|unchanged` per process."""
    files, problems = read_files(list(paths) + beside_forms(paths), short_names=True)
    if any(p.severity == "error" for p in problems):
        print_problems(problems)
        sys.exit(1)
    from engine.services.definitions import deploy

    engine, sessions = open_database(url)
    try:
        _ensure_schema(engine)
        connectors = _registered_connectors()
        with sessions() as session, session.begin():
            result = deploy(session, files, system_clock(), actor=actor, connectors=connectors)
    except DefinitionError as err:
        print_problems(problems + err.problems)
        sys.exit(1)
    finally:
        engine.dispose()
    print_problems(problems + result.warnings)
    for item in result.definitions:
        click.echo(f"{item.key} v{item.version} {item.status}")


def _registered_connectors() -> set[str] | None:
    try:
        from engine.core.connectors import default_registry
    except ImportError:
        return None
    names = getattr(default_registry, "names", None)
    if callable(names):
        return set(names())
    return None
