"""``tdkt calendar``: working-day arithmetic, the year's days off and worked weekend days, admin overrides."""

from __future__ import annotations

from datetime import date

import click

from cli._context import open_database, system_clock
from engine.core.business_calendar import BusinessCalendar
from engine.services.calendar import load_calendar, set_day


def _date(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise click.UsageError(f"{name}: '{text}' is not a date (expected YYYY-MM-DD)")


def _calendar(url: str | None) -> BusinessCalendar:
    engine, sessions = open_database(url)
    try:
        with sessions() as session, session.begin():
            return load_calendar(session)
    finally:
        engine.dispose()


_URL = click.option("--url", default=None, help="Database URL (default: DATABASE_URL or the local SQLite file).")


@click.group("calendar")
def command() -> None:
    """Vietnamese working days (public holidays, yearly swaps, admin overrides)."""


@command.command("add")
@click.argument("start", metavar="DATE")
@click.argument("n", metavar="N")
@_URL
def add_command(start: str, n: str, url: str | None) -> None:
    """Print the date N working days after DATE (YYYY-MM-DD)."""
    day = _date(start, "DATE")
    try:
        count = int(n)
    except ValueError:
        raise click.UsageError(f"N: '{n}' is not a whole number")
    if count < 0 or count > 10_000:
        raise click.UsageError(f"N: must be between 0 and 10000, not {count}")
    click.echo(_calendar(url).add_working_days(day, count).isoformat())


@command.command("list")
@click.argument("year", metavar="YEAR")
@_URL
def list_command(year: str, url: str | None) -> None:
    """List YEAR's non-working weekdays and worked weekend days (dd/mm/yyyy and why)."""
    try:
        number = int(year)
    except ValueError:
        raise click.UsageError(f"YEAR: '{year}' is not a year")
    if not 1995 <= number <= 2100:
        raise click.UsageError(f"YEAR: must be between 1995 and 2100, not {number}")
    cal = _calendar(url)
    click.echo(f"Ngày nghỉ trong tuần (non-working weekdays) {number}:")
    for day in cal.non_working_weekdays(number):
        click.echo(f"  {day:%d/%m/%Y}  {cal.name_of(day) or ''}".rstrip())
    click.echo(f"Ngày làm việc cuối tuần (worked weekend days) {number}:")
    for day in cal.worked_weekend_days(number):
        click.echo(f"  {day:%d/%m/%Y}  {cal.name_of(day) or ''}".rstrip())


@command.command("set")
@click.argument("day", metavar="DATE")
@click.argument("kind", metavar="working|holiday")
@click.option("--note", default=None, help="Why (shown by `calendar list`), e.g. the decision's number.")
@click.option("--actor", default=None, help="Who is changing it (recorded in the audit log).")
@_URL
def set_command(day: str, kind: str, note: str | None, actor: str | None, url: str | None) -> None:
    """Make DATE a working day or a holiday, whatever the public calendar says."""
    when = _date(day, "DATE")
    if kind not in ("working", "holiday"):
        raise click.UsageError(f"working|holiday: expected 'working' or 'holiday', not '{kind}'")
    engine, sessions = open_database(url)
    try:
        with sessions() as session, session.begin():
            set_day(session, system_clock(), when, kind == "working", actor, note)
    finally:
        engine.dispose()
    click.echo(f"{when:%d/%m/%Y}: {'ngày làm việc' if kind == 'working' else 'ngày nghỉ'}")
