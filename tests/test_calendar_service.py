"""Calendar overrides in the database (audited), the context's reloaded calendar, and `tdkt calendar`."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.errors import ValidationError
from engine.persistence.models import AuditEvent
from engine.services.audit import verify
from engine.services.calendar import (
    calendar_stamp,
    list_overrides,
    load_calendar,
    parse_notices,
    remove_day,
    set_day,
)
from engine.services.context import EngineContext

TDKT = str(Path(sys.executable).parent / "tdkt")


def test_set_day_overrides_and_audits(sessions, clock) -> None:
    with sessions() as s:
        assert calendar_stamp(s) == (0, None)
    with sessions() as s, s.begin():
        set_day(s, clock, date(2024, 2, 15), False, "admin", "Nghỉ bù do bão")
        set_day(s, clock, date(2024, 2, 17), True, "admin")
    with sessions() as s, s.begin():
        cal = load_calendar(s)
        assert not cal.is_working_day(date(2024, 2, 15)) and cal.is_working_day(date(2024, 2, 17))
        assert cal.add_working_days(date(2024, 2, 7), 1) == date(2024, 2, 16)
        assert cal.name_of(date(2024, 2, 15)) == "Nghỉ bù do bão"
        before = calendar_stamp(s)
        assert before == (2, clock.now())
        clock.advance(timedelta(minutes=1))
        set_day(s, clock, date(2024, 2, 15), True, "admin2")
        assert calendar_stamp(s) != before
    with sessions() as s, s.begin():
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "calendar.changed")))
        assert [e.stream for e in events] == ["system"] * 3
        assert events[2].actor == "admin2" and events[2].data["before"] == {"working": False, "note": "Nghỉ bù do bão"}
        assert [o.day for o in list_overrides(s, 2024)] == [date(2024, 2, 15), date(2024, 2, 17)]
        assert list_overrides(s, 2025) == []
        assert remove_day(s, clock, date(2024, 2, 17), "admin") and not remove_day(s, clock, date(2024, 2, 18), "a")
        assert verify(s).ok


def test_bad_note_saves_nothing(sessions, clock) -> None:
    with pytest.raises(ValidationError, match="note"), sessions() as s, s.begin():
        set_day(s, clock, date(2024, 2, 15), False, "admin", "x" * 300)
    with sessions() as s:
        assert list_overrides(s) == []


def test_context_reloads_its_calendar(sessions, clock) -> None:
    clock.set(datetime(2024, 2, 7, 3, 0, tzinfo=UTC))
    ctx = EngineContext(clock=clock)
    engine = ctx.script_engine  # built before the reload: still sees the new calendar
    with sessions() as s, s.begin():
        set_day(s, clock, date(2024, 2, 15), False, "admin")
        ctx.reload_calendar(s)
    assert ctx.script_engine_functions()["working_days"](1) == datetime(2024, 2, 16, 3, 0, tzinfo=UTC)
    assert engine.functions["working_days"](1) == datetime(2024, 2, 16, 3, 0, tzinfo=UTC)


def _tdkt(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}"}
    return subprocess.run([TDKT, "calendar", *args], capture_output=True, text=True, env=env, timeout=120)


def test_cli_examples_from_the_issue(tmp_path: Path) -> None:
    db = tmp_path / "cli.sqlite3"
    for start, n, expected in (
        ("2024-02-07", "5", "2024-02-21"),
        ("2024-04-26", "1", "2024-05-02"),
        ("2024-05-03", "1", "2024-05-04"),
    ):
        result = _tdkt("add", start, n, db=db)
        assert result.returncode == 0, result.stderr
        assert result.stdout == expected + "\n"
    listed = _tdkt("list", "2024", db=db)
    assert listed.returncode == 0
    assert "10/02/2024" not in listed.stdout  # a Saturday inside Tết is not a weekday off
    for line in (
        "08/02/2024  29 Tết",
        "29/04/2024  Ngày nghỉ",
        "02/09/2024  Quốc khánh",
        "04/05/2024  Ngày làm việc bù",
    ):
        assert line in listed.stdout
    changed = _tdkt("set", "2024-02-15", "holiday", "--note", "Bão", db=db)
    assert changed.returncode == 0, changed.stderr
    assert _tdkt("add", "2024-02-07", "5", db=db).stdout == "2024-02-22\n"
    assert "15/02/2024  Bão" in _tdkt("list", "2024", db=db).stdout


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("add", "2024-13-01", "1"), "DATE"),
        (("add", "2024-01-01", "x"), "N"),
        (("add", "--", "2024-01-01", "-3"), "N"),
        (("list", "twenty"), "YEAR"),
        (("set", "2024-02-30", "holiday"), "DATE"),
        (("set", "2024-02-15", "maybe"), "working|holiday"),
    ],
)
def test_cli_bad_arguments(tmp_path: Path, args: tuple[str, ...], named: str) -> None:
    result = _tdkt(*args, db=tmp_path / "bad.sqlite3")
    assert result.returncode == 2
    assert f"Error: {named}:" in result.stderr and "Traceback" not in result.stderr


def test_the_2026_new_year_swap_ships_with_the_code(sessions, clock) -> None:
    """Notice 12729/VPCP-KGVX: Friday 2/1/2026 off, Saturday 10/1/2026 worked (rules/calendar.yaml)."""
    with sessions() as s:
        cal = load_calendar(s)  # an empty database: the shipped notices alone
    assert not cal.is_working_day(date(2026, 1, 2)) and cal.is_working_day(date(2026, 1, 10))
    assert cal.add_working_days(date(2025, 12, 31), 2) == date(2026, 1, 6)
    assert "12729/VPCP-KGVX" in (cal.name_of(date(2026, 1, 2)) or "")
    assert EngineContext(clock=clock).calendar.add_working_days(date(2025, 12, 31), 2) == date(2026, 1, 6)
    # Vietnam Culture Day: the package's answer (a day off) stands, documented as unconfirmed
    assert not cal.is_working_day(date(2026, 11, 24)) and date(2026, 11, 24) not in cal.overrides
    with sessions() as s, s.begin():
        set_day(s, clock, date(2026, 1, 2), True, "admin")  # an admin override still wins
        cal = load_calendar(s)
    assert cal.is_working_day(date(2026, 1, 2)) and cal.name_of(date(2026, 1, 2)) == "Ngày làm việc (điều chỉnh)"


def test_the_notices_file_is_checked() -> None:
    assert parse_notices({"notices": []}) == ({}, {})
    for bad in ({}, {"notices": [{"day": "2026-01-02"}]}, {"notices": [{"day": date(2026, 1, 2)}]}):
        with pytest.raises(ValidationError, match="notice"):
            parse_notices(bad)
    twice = {"notices": [{"day": date(2026, 1, 2), "working": False}] * 2}
    with pytest.raises(ValidationError, match="twice"):
        parse_notices(twice)


def test_cli_counts_the_2026_swap(tmp_path: Path) -> None:
    result = _tdkt("add", "2025-12-31", "2", db=tmp_path / "swap.sqlite3")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "2026-01-06\n"
