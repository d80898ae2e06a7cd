"""``tdkt audit``: check that nothing in the audit log was altered, list an instance's events, export them."""

from __future__ import annotations

import csv
import sys
from typing import Any

import click
from sqlalchemy import select

from cli._context import open_database
from engine.core.audit_chain import canonical_json, format_time
from engine.persistence.models import AuditEvent
from engine.persistence.schema import ensure_schema
from engine.services.audit import events_for_instance, verify
from engine.services.calls import descendants


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
                click.echo(canonical_json(_fields(event)))
    finally:
        engine.dispose()


COLUMNS = ("id", "stream", "seq", "at", "actor", "action", "instance_id", "task_guid", "element_id", "data", "hash")


def _fields(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "stream": event.stream,
        "seq": event.seq,
        "at": format_time(event.at),
        "actor": event.actor,
        "action": event.action,
        "instance_id": event.instance_id,
        "task_guid": event.task_guid,
        "element_id": event.element_id,
        "data": event.data,
        "hash": event.hash,
    }


@command.command("export")
@click.option("--instance", "instance_id", type=click.IntRange(1, 2**63 - 1), default=None, help="Only this instance.")
@click.option("--tree", is_flag=True, help="With --instance: also the instances it called, at any depth.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option(
    "--output", type=click.File("w", encoding="utf-8", lazy=True), default="-", help="File (default: stdout)."
)
@click.option("--url", default=None, help="Database URL (default: DATABASE_URL or the local SQLite file).")
def export_command(instance_id: int | None, tree: bool, fmt: str, output: Any, url: str | None) -> None:
    """Every event (or one instance's, or its tree's) in stream order, with each event's hash: JSON lines (the
    form `tdkt audit verify` hashes) or CSV (data as JSON text)."""
    if tree and instance_id is None:
        raise click.BadParameter("--tree needs --instance", param_hint="--tree")
    engine, sessions = open_database(url)
    try:
        ensure_schema(engine)
        with sessions() as session:
            query = select(AuditEvent).order_by(AuditEvent.stream, AuditEvent.seq)
            if instance_id is not None:
                ids = [instance_id, *(r.id for r in descendants(session, instance_id))] if tree else [instance_id]
                query = query.where(AuditEvent.instance_id.in_(ids))
            writer = csv.DictWriter(output, fieldnames=COLUMNS) if fmt == "csv" else None
            if writer is not None:
                writer.writeheader()
            for event in session.scalars(query.execution_options(yield_per=1000)):
                fields = _fields(event)
                if writer is not None:
                    writer.writerow({**fields, "data": canonical_json(fields["data"])})
                else:
                    output.write(canonical_json(fields) + "\n")
    finally:
        engine.dispose()
