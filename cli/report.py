"""``tdkt report overdue``: open, due soon, overdue and escalated tasks per unit and process."""

from __future__ import annotations

import json

import click

from cli._context import open_database, system_clock
from engine.services.context import EngineContext
from engine.services.overdue import overdue_report

HEADERS = ("Đơn vị", "Quy trình", "Đang mở", "Sắp đến hạn", "Quá hạn", "Đã chuyển cấp")


@click.group("report")
def command() -> None:
    """Reports for Sở Nội vụ."""


@command.command("overdue")
@click.option("--unit", "unit_id", default=None, help="Only this unit (its id, e.g. SYT).")
@click.option("--process", "definition_key", default=None, help="Only this process (its key).")
@click.option(
    "--soon",
    "soon_days",
    default=2,
    show_default=True,
    type=click.IntRange(0, 365),
    help="'Due soon' means due within this many working days.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--url", default=None, help="Database URL (default: DATABASE_URL or the local SQLite file).")
def overdue_command(
    unit_id: str | None, definition_key: str | None, soon_days: int, as_json: bool, url: str | None
) -> None:
    """Per unit and process: open, due soon, overdue and escalated tasks, now."""
    engine, sessions = open_database(url)
    try:
        ctx = EngineContext(clock=system_clock())
        with sessions() as session, session.begin():
            ctx.reload_calendar(session)
            rows = overdue_report(session, ctx, unit_id=unit_id, definition_key=definition_key, soon_days=soon_days)
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in rows], ensure_ascii=False, indent=2))
        return
    table: list[tuple[str, ...]] = [HEADERS]
    for r in rows:
        table.append(
            (r.unit_name or "-", r.process_name, str(r.open), str(r.due_soon), str(r.overdue), str(r.escalated))
        )
    if len(table) > 1:
        total = [sum(int(row[i]) for row in table[1:]) for i in range(2, 6)]
        table.append(("Tổng cộng", "", *(str(n) for n in total)))
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADERS))]
    for row in table:
        cells = [row[i].ljust(widths[i]) if i < 2 else row[i].rjust(widths[i]) for i in range(len(HEADERS))]
        click.echo("  ".join(cells).rstrip())
    if len(table) == 1:
        click.echo("(không có công việc nào đang mở)")
