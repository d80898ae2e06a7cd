"""``tdkt audit``: check that nothing in the audit log was altered, list an instance's events, export them."""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from cli._context import open_database, system_clock
from engine.core.audit_chain import canonical_json, format_time
from engine.persistence.models import AuditEvent
from engine.persistence.schema import ensure_schema
from engine.services.audit import events_for_instance, verify
from engine.services.audit_anchor import (
    KEY_ENV,
    Anchor,
    AnchorError,
    AnchorKey,
    AnchorKeyError,
    anchor_files,
    file_digest,
    load_keys,
    read_anchor,
    render_anchor,
    take_anchor,
    verify_anchors,
    write_anchor,
)
from engine.services.audit_views import spreadsheet_safe
from engine.services.calls import descendants


@click.group("audit")
def command() -> None:
    """Audit trail: verify its hash chain, anchor its heads outside the database, show and export events."""


@command.command("verify")
@click.option("--url", default=None, help="Database URL (default: DATABASE_URL or the local SQLite file).")
@click.option(
    "--anchors",
    "use_anchors",
    is_flag=True,
    help="Also check that the database extends the signed anchors FILE... (files, or folders of them).",
)
@click.option(
    "--key-file",
    "key_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"With --anchors: the anchor key (hex, mode 600); again for older keys. Default: ${KEY_ENV}.",
)
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
def verify_command(url: str | None, use_anchors: bool, key_files: tuple[Path, ...], files: tuple[Path, ...]) -> None:
    """Recompute every event's hash; exit 1 naming the first altered, removed or inserted event.

    With --anchors FILE...: first each anchor's signature, then that every anchored stream still holds the
    anchored hash at the anchored seq and a valid chain from there to its head (exit 1 naming each stream)."""
    if files and not use_anchors:
        raise click.UsageError(f"got {files[0]}: anchor files need --anchors")
    if key_files and not use_anchors:
        raise click.UsageError("--key-file goes with --anchors")
    if use_anchors and not files:
        raise click.UsageError("--anchors needs at least one anchor FILE (or a folder of them)")
    anchors = _read_anchors(files, _keys(key_files)) if use_anchors else []
    engine, sessions = open_database(url)
    try:
        ensure_schema(engine)
        with sessions() as session, session.begin():
            result = verify(session)
            check = verify_anchors(session, anchors) if use_anchors else None
    finally:
        engine.dispose()
    click.echo(str(result))
    if check is not None:
        for problem in check.problems[:ANCHOR_PROBLEMS_SHOWN]:
            click.echo(str(problem))
        if len(check.problems) > ANCHOR_PROBLEMS_SHOWN:
            click.echo(f"... and {len(check.problems) - ANCHOR_PROBLEMS_SHOWN} more streams")
        click.echo(str(check))
    if not result.ok or (check is not None and not check.ok):
        sys.exit(1)


# --- audit anchors (engine/services/audit_anchor.py) -------------------------------------------------------

ANCHOR_PROBLEMS_SHOWN = 50


def _keys(key_files: Sequence[Path]) -> list[AnchorKey]:
    """The anchor keys, or exit 2 with what is missing or wrong (a configuration error, like a bad option)."""
    try:
        return load_keys(key_files, os.environ)
    except AnchorKeyError as err:
        click.echo(f"error: {err.message}", err=True)
        sys.exit(2)


def _read_anchors(paths: Sequence[Path], keys: Sequence[AnchorKey]) -> list[Anchor]:
    """Every anchor with a good signature, or exit 1 naming each file that has none."""
    files = anchor_files(paths)
    if not files:
        raise click.UsageError(f"no anchor files in {', '.join(map(str, paths))}")
    anchors, failed = [], False
    for path in files:
        try:
            anchors.append(read_anchor(path, keys))
        except AnchorError as err:
            click.echo(f"error: anchor {err.message}", err=True)
            failed = True
    if failed:
        sys.exit(1)
    return anchors


@command.command("anchor")
@click.option(
    "--out",
    required=True,
    help="A file (replaced only if it is an anchor), a folder ending in / (a new anchor-<UTC time>.json in it) "
    "or - (stdout).",
)
@click.option("--url", default=None, help="Database URL (default: DATABASE_URL or the local SQLite file).")
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"The anchor key: hex, at least 32 bytes, in a file of mode 600. Default: ${KEY_ENV}.",
)
def anchor_command(out: str, url: str | None, key_file: Path | None) -> None:
    """Write every stream's head (seq, hash, event time), signed with HMAC-SHA256 by a key kept outside the
    database, so that `tdkt audit verify --anchors` catches even a log rewritten with recomputed hashes."""
    (key,) = _keys([key_file] if key_file is not None else [])
    engine, sessions = open_database(url)
    try:
        ensure_schema(engine)
        with sessions() as session, session.begin():
            document = take_anchor(session, system_clock(), key)
    finally:
        engine.dispose()
    text = render_anchor(document)
    if out == "-":
        click.echo(text, nl=False)
        return
    path = write_anchor(text, out, document["taken_at"])
    click.echo(f"{path}\t{document['streams']} streams\tsha256 {file_digest(text)}")


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
                    cells = {k: spreadsheet_safe(v) if isinstance(v, str) else v for k, v in fields.items()}
                    writer.writerow({**cells, "data": canonical_json(fields["data"])})
                else:
                    output.write(canonical_json(fields) + "\n")
    finally:
        engine.dispose()
