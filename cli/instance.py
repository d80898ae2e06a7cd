"""``tdkt instance``: start, list, show, cancel, suspend, resume and retry process instances from the shell.

What an operator does to an instance through the API, on the database directly: the same services, one
transaction per command, the operator named as the actor in the audit trail (``--actor``, default the login name
of the shell user as ``cli:NAME``). Errors are one line and a non-zero exit.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Any

import click

from cli._context import open_database, system_clock
from engine.services import instances
from engine.services.calls import descendants
from engine.services.context import EngineContext

URL = click.option("--url", default=None, help="Database URL (default: DATABASE_URL or the local SQLite file).")
ACTOR = click.option("--actor", default=None, help="Who the audit trail names (default: cli:<your login name>).")


def _actor(actor: str | None) -> str:
    if actor:
        return actor
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def json_object(text: str | None, what: str) -> dict[str, Any]:
    """``text`` as a JSON object, or ``@FILE`` for one read from a file; a usage error naming ``what``."""
    if text is None:
        return {}
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as err:
            raise click.BadParameter(f"cannot read {text[1:]}: {err.strerror}", param_hint=what) from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise click.BadParameter(f"not JSON: {err.msg} at character {err.pos}", param_hint=what) from None
    if not isinstance(value, dict):
        raise click.BadParameter("must be a JSON object", param_hint=what)
    return value


def _line(row: Any) -> str:
    parent = f" parent {row.parent_id}" if row.parent_id else ""
    return (
        f"{row.id}\t{row.definition_key}\t{row.status}\t{row.unit_id or '-'}\t{row.business_key or '-'}"
        f"\t{row.started_at:%Y-%m-%d %H:%M}{parent}"
    )


@click.group("instance")
def command() -> None:
    """Process instances: start, list, show, cancel, suspend, resume, retry."""


@command.command("start")
@click.argument("process")
@click.option("--business-key", default=None, help="The instance's business key (e.g. a dossier number).")
@click.option("--unit", default=None, help="The org unit it concerns (its id, e.g. SYT).")
@click.option("--data", default=None, help='Start data as a JSON object, or @FILE (e.g. \'{"unit_id": "SYT"}\').')
@click.option("--version", type=click.IntRange(1), default=None, help="A deployed version (default: the latest).")
@ACTOR
@URL
def start_command(
    process: str,
    business_key: str | None,
    unit: str | None,
    data: str | None,
    version: int | None,
    actor: str | None,
    url: str | None,
) -> None:
    """Start PROCESS (its key) and run it to its first wait states; prints the new instance."""
    initial = json_object(data, "--data")
    engine, sessions = open_database(url)
    try:
        ctx = EngineContext(clock=system_clock())
        with sessions() as session, session.begin():
            ctx.reload_calendar(session)
            row = instances.start_instance(
                session,
                ctx,
                key=process,
                business_key=business_key,
                unit_id=unit,
                data=initial,
                actor=_actor(actor),
                version=version,
            )
            click.echo(_line(row))
    finally:
        engine.dispose()


@command.command("list")
@click.option("--status", type=click.Choice(["running", "suspended", "completed", "cancelled", "incident"]))
@click.option("--process", "key", default=None, help="Only this process (its key).")
@click.option("--unit", default=None, help="Only this unit.")
@click.option("--business-key", default=None)
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0, show_default=True)
@URL
def list_command(
    status: str | None,
    key: str | None,
    unit: str | None,
    business_key: str | None,
    limit: int,
    offset: int,
    url: str | None,
) -> None:
    """Instances, newest first: id, process, status, unit, business key, started (and parent)."""
    engine, sessions = open_database(url)
    try:
        with sessions() as session:
            rows = instances.list_instances(
                session, status=status, key=key, unit_id=unit, business_key=business_key, limit=limit, offset=offset
            )
            for row in rows:
                click.echo(_line(row))
    finally:
        engine.dispose()


@command.command("show")
@click.argument("instance_id", type=click.IntRange(1, 2**63 - 1))
@URL
def show_command(instance_id: int, url: str | None) -> None:
    """One instance as JSON: its row, its current data, and the instances it called."""
    engine, sessions = open_database(url)
    try:
        ctx = EngineContext(clock=system_clock())
        with sessions() as session:
            row = instances.get_instance(session, instance_id)
            shown = {
                "id": row.id,
                "process": row.definition_key,
                "status": row.status,
                "business_key": row.business_key,
                "unit": row.unit_id,
                "started_at": row.started_at.isoformat(),
                "ended_at": row.ended_at.isoformat() if row.ended_at else None,
                "incident": row.incident,
                "parent": row.parent_id,
                "root": row.root_id,
                "data": instances.instance_data(session, ctx, instance_id),
                "children": [
                    {"id": c.id, "process": c.definition_key, "status": c.status, "unit": c.unit_id}
                    for c in descendants(session, instance_id)
                    if c.parent_id == instance_id
                ],
            }
            click.echo(json.dumps(shown, ensure_ascii=False, indent=2, default=str))
    finally:
        engine.dispose()


def _change(action: str, instance_id: int, actor: str | None, reason: str | None, url: str | None) -> None:
    engine, sessions = open_database(url)
    try:
        ctx = EngineContext(clock=system_clock())
        with sessions() as session, session.begin():
            ctx.reload_calendar(session)
            who = _actor(actor)
            if action == "cancel":
                row = instances.cancel_instance(session, ctx, instance_id, actor=who, reason=reason)
            elif action == "suspend":
                row = instances.suspend_instance(session, ctx, instance_id, actor=who, reason=reason)
            elif action == "resume":
                row = instances.resume_instance(session, ctx, instance_id, actor=who)
            else:
                row = instances.retry_instance(session, ctx, instance_id, actor=who)
            click.echo(_line(row))
    finally:
        engine.dispose()


INSTANCE_ID = click.argument("instance_id", type=click.IntRange(1, 2**63 - 1))
REASON = click.option("--reason", default=None, help="Why (kept in the audit trail).")


@command.command("cancel")
@INSTANCE_ID
@REASON
@ACTOR
@URL
def cancel_command(instance_id: int, reason: str | None, actor: str | None, url: str | None) -> None:
    """Cancel an instance and the instances it called."""
    _change("cancel", instance_id, actor, reason, url)


@command.command("suspend")
@INSTANCE_ID
@REASON
@ACTOR
@URL
def suspend_command(instance_id: int, reason: str | None, actor: str | None, url: str | None) -> None:
    """Suspend an instance and the instances it called (their timers wait)."""
    _change("suspend", instance_id, actor, reason, url)


@command.command("resume")
@INSTANCE_ID
@ACTOR
@URL
def resume_command(instance_id: int, actor: str | None, url: str | None) -> None:
    """Resume a suspended instance and the instances it called."""
    _change("resume", instance_id, actor, None, url)


@command.command("retry")
@INSTANCE_ID
@ACTOR
@URL
def retry_command(instance_id: int, actor: str | None, url: str | None) -> None:
    """Run an incident's failed step again (or the incidents of the instances it called)."""
    _change("retry", instance_id, actor, None, url)
