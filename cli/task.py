"""``tdkt task``: list open tasks and complete one from the shell, as a named user.

Completing checks what the API checks (the user is entitled to the task, the data fits its form and only its
form's fields), because it calls the same service.
"""

from __future__ import annotations

import json

import click

from cli._context import open_database, system_clock
from cli.instance import json_object
from engine.services import tasks
from engine.services.context import EngineContext

URL = click.option("--url", default=None, help="Database URL (default: DATABASE_URL or the local SQLite file).")


@click.group("task")
def command() -> None:
    """Human tasks: list a user's inbox, complete a task."""


@command.command("list")
@click.option("--user", "user_id", required=True, help="Whose inbox (their login name).")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line instead of columns.")
@URL
def list_command(user_id: str, limit: int, as_json: bool, url: str | None) -> None:
    """The user's open tasks, soonest due first: id, task, unit, role, due, instance."""
    engine, sessions = open_database(url)
    try:
        ctx = EngineContext(clock=system_clock())
        with sessions() as session:
            ctx.reload_calendar(session)
            for row in tasks.inbox(session, ctx, user_id, limit=limit):
                due = row.due_at.isoformat() if row.due_at else None
                if as_json:
                    fields = {
                        "id": row.id,
                        "element_id": row.element_id,
                        "name": row.name,
                        "unit": row.unit_id,
                        "role": row.role_id,
                        "status": row.status,
                        "due_at": due,
                        "instance": row.instance_id,
                        "form": row.form_key,
                    }
                    click.echo(json.dumps(fields, ensure_ascii=False))
                else:
                    click.echo(
                        f"{row.id}\t{row.element_id}\t{row.unit_id or '-'}\t{row.role_id or '-'}\t{due or '-'}"
                        f"\tinstance {row.instance_id}"
                    )
    finally:
        engine.dispose()


@command.command("complete")
@click.argument("task_id", type=click.IntRange(1, 2**63 - 1))
@click.option("--user", "user_id", required=True, help="Who completes it (must be entitled to it).")
@click.option("--data", default=None, help="The form's fields as a JSON object, or @FILE.")
@URL
def complete_command(task_id: int, user_id: str, data: str | None, url: str | None) -> None:
    """Complete TASK_ID as USER with the form's data, and run the instance to its next wait states."""
    submitted = json_object(data, "--data")
    engine, sessions = open_database(url)
    try:
        ctx = EngineContext(clock=system_clock())
        with sessions() as session, session.begin():
            ctx.reload_calendar(session)
            row = tasks.complete(session, ctx, task_id, user_id, submitted)
            click.echo(f"{row.id}\t{row.element_id}\tcompleted by {user_id}\tinstance {row.instance_id}")
    finally:
        engine.dispose()
