"""``tdkt audit``: check that nothing in the audit log was altered, and list an instance's events."""

from __future__ import annotations

import sys

import click

from cli._context import open_database
from engine.core.audit_chain import canonical_json, format_time
from engine.persistence.schema import ensure_schema
from engine.services.audit import events_for_instance, verify


@click.group("audit")
def command() -> None:
    """Audit trail: verify its hash chain, show events."""


@command.command("verify")
@click.option("--url", default=None, help="Database URL (default: DATABASE_URL or the local SQLite file).")
def verify_command(url: str | None) -> None:
    """Recompute every event's hash; exit 1 naming the first altered, removed or inserted event."""
    engine, sessions = open_database(url)
    try:
        ensure_schema(engine)
        with sessions() as session, session.begin():
            result = verify(session)
    finally:
        engine.dispose()
    click.echo(str(result))
    if not result.ok:
        sys.exit(1)


@command.command("show")
@click.argument("instance_id", type=int)
@click.option("--url", default=None, help="Database URL (default: DATABASE_URL or the local SQLite file).")
def show_command(instance_id: int, url: str | None) -> None:
    """Print an instance's events, oldest first, one JSON object a line."""
    engine, sessions = open_database(url)
    try:
        ensure_schema(engine)
        with sessions() as session, session.begin():
            for event in events_for_instance(session, instance_id):
                fields = {
                    "id": event.id,
                    "stream": event.stream,
                    "seq": event.seq,
                    "at": format_time(event.at),
                    "actor": event.actor,
                    "action": event.action,
                    "task_guid": event.task_guid,
                    "element_id": event.element_id,
                    "data": event.data,
                    "hash": event.hash,
                }
                click.echo(canonical_json(fields))
    finally:
        engine.dispose()
