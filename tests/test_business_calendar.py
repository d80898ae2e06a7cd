"""Business calendar: the issue's examples, the yearly swaps of 2024–2026, datetimes, and property tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.clock import ManualClock
from engine.core.business_calendar import LOCAL_TZ, BusinessCalendar, expression_functions

CAL = BusinessCalendar()


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (date(2024, 2, 7), 5, date(2024, 2, 21)),  # Tết 08–14/02/2024
        (date(2024, 4, 26), 1, date(2024, 5, 2)),  # 29/04 swapped, 30/04, 01/05
        (date(2024, 5, 3), 1, date(2024, 5, 4)),  # a worked Saturday
        (date(2024, 5, 4), 0, date(2024, 5, 4)),
        (date(2024, 2, 10), 1, date(2024, 2, 15)),  # from inside Tết
        (date(2024, 12, 31), 1, date(2025, 1, 2)),  # 01/01 across the year end
    ],
)
def test_issue_examples(start: date, n: int, expected: date) -> None:
    assert CAL.add_working_days(start, n) == expected


def test_2024_days_off_and_worked_days() -> None:
    off = CAL.non_working_weekdays(2024)
    for day in (date(2024, 1, 1), date(2024, 2, 8), date(2024, 2, 14), date(2024, 4, 18), date(2024, 4, 29)):
        assert day in off
    assert date(2024, 9, 2) in off and date(2024, 9, 3) in off
    assert date(2024, 2, 15) not in off
    assert CAL.worked_weekend_days(2024) == [date(2024, 5, 4)]
    assert CAL.is_working_day(date(2024, 5, 4)) and not CAL.is_working_day(date(2024, 5, 5))


def test_2025_and_2026_swaps() -> None:
    assert CAL.worked_weekend_days(2025) == [date(2025, 4, 26)]
    assert not CAL.is_working_day(date(2025, 5, 2)) and not CAL.is_working_day(date(2025, 1, 29))
    assert CAL.worked_weekend_days(2026) == [date(2026, 8, 22)]
    assert not CAL.is_working_day(date(2026, 2, 17)) and not CAL.is_working_day(date(2026, 4, 27))
    assert CAL.name_of(date(2026, 2, 17)) and CAL.name_of(date(2026, 8, 22)) == "Ngày làm việc bù"


def test_names_are_vietnamese() -> None:
    assert CAL.name_of(date(2024, 4, 30)) == "Ngày Chiến thắng"
    assert CAL.name_of(date(2024, 4, 18)) == "Ngày Giỗ Tổ Hùng Vương"
    assert CAL.name_of(date(2024, 3, 19)) is None


def test_overrides_win() -> None:
    cal = BusinessCalendar({date(2024, 2, 15): False, date(2024, 2, 10): True}, {date(2024, 2, 15): "Bão"})
    assert not cal.is_working_day(date(2024, 2, 15)) and cal.is_working_day(date(2024, 2, 10))
    assert cal.add_working_days(date(2024, 2, 7), 1) == date(2024, 2, 10)
    assert cal.add_working_days(date(2024, 2, 7), 2) == date(2024, 2, 16)
    assert date(2024, 2, 15) in cal.non_working_weekdays(2024)
    assert date(2024, 2, 10) in cal.worked_weekend_days(2024)
    assert cal.name_of(date(2024, 2, 15)) == "Bão"


def test_datetime_keeps_local_time_of_day() -> None:
    start = datetime(2024, 2, 7, 3, 0, tzinfo=UTC)  # 10:00 in Hà Nội
    due = CAL.add_working_days(start, 5)
    assert due == datetime(2024, 2, 21, 3, 0, tzinfo=UTC) and due.tzinfo == UTC
    # 23:30 UTC on 06/02 is already 06:30 on 07/02 locally: the local date counts.
    late = CAL.add_working_days(datetime(2024, 2, 6, 23, 30, tzinfo=UTC), 5)
    assert late.astimezone(LOCAL_TZ) == datetime(2024, 2, 21, 6, 30, tzinfo=LOCAL_TZ)
    assert CAL.subtract_working_days(due, 1) == datetime(2024, 2, 20, 3, 0, tzinfo=UTC)
    assert CAL.subtract_working_days(date(2024, 2, 15), 1) == date(2024, 2, 7)
    assert CAL.add_working_days(datetime(2024, 5, 3, 9, 0), 1) == datetime(2024, 5, 4, 9, 0)  # naive stays naive


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="0 or more"):
        CAL.add_working_days(date(2024, 1, 1), -1)
    with pytest.raises(TypeError, match="integer"):
        CAL.add_working_days(date(2024, 1, 1), 1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="date"):
        CAL.add_working_days("2024-01-01", 1)  # type: ignore[type-var]


def test_expression_functions_read_the_clock_and_the_current_calendar() -> None:
    clock = ManualClock(datetime(2024, 2, 7, 3, 0, tzinfo=UTC))
    holder = {"cal": CAL}
    fns = expression_functions(lambda: holder["cal"], clock.now)
    assert fns["working_days"](5) == datetime(2024, 2, 21, 3, 0, tzinfo=UTC)
    assert fns["add_working_days"]("2024-04-26T10:00", 1) == datetime(2024, 5, 2, 3, 0, tzinfo=UTC)
    assert fns["add_working_days"](date(2024, 5, 3), 1) == date(2024, 5, 4)
    assert fns["is_working_day"]("2024-05-04")
    holder["cal"] = BusinessCalendar({date(2024, 2, 15): False})
    assert fns["working_days"](1) == datetime(2024, 2, 16, 3, 0, tzinfo=UTC)


# --- properties ---------------------------------------------------------------------------------------

days = st.dates(min_value=date(2023, 1, 1), max_value=date(2027, 6, 30))
counts = st.integers(min_value=0, max_value=60)


@settings(max_examples=200, deadline=None)
@given(days, counts)
def test_add_lands_on_a_working_day_after_start(start: date, n: int) -> None:
    end = CAL.add_working_days(start, n)
    if n == 0:
        assert end == start
    else:
        assert end > start and CAL.is_working_day(end)
        assert CAL.working_days_between(start, end) == n
        assert CAL.working_days_between(end, start) == -n
        assert CAL.subtract_working_days(end, n) <= start  # start may itself be a day off


@settings(max_examples=200, deadline=None)
@given(days, counts, counts)
def test_add_composes(start: date, a: int, b: int) -> None:
    assert CAL.add_working_days(start, a + b) == CAL.add_working_days(CAL.add_working_days(start, a), b)


@settings(max_examples=200, deadline=None)
@given(days, days, counts)
def test_add_is_monotonic(a: date, b: date, n: int) -> None:
    first, second = sorted((a, b))
    assert CAL.add_working_days(first, n) <= CAL.add_working_days(second, n)
    assert CAL.add_working_days(first, n) <= CAL.add_working_days(first, n + 1)


@settings(max_examples=200, deadline=None)
@given(days, counts)
def test_subtract_inverts_add_on_working_days(start: date, n: int) -> None:
    if CAL.is_working_day(start):
        assert CAL.subtract_working_days(CAL.add_working_days(start, n), n) == start


@settings(max_examples=100, deadline=None)
@given(days, st.integers(min_value=0, max_value=400))
def test_between_counts_working_days(start: date, span: int) -> None:
    end = start + timedelta(days=span)
    expected = sum(CAL.is_working_day(start + timedelta(days=i)) for i in range(1, span + 1))
    assert CAL.working_days_between(start, end) == expected


@settings(max_examples=100, deadline=None)
@given(st.datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)), counts)
def test_datetime_add_agrees_with_local_dates(start: datetime, n: int) -> None:
    end = CAL.add_working_days(start, n)
    local_start, local_end = start.astimezone(LOCAL_TZ), end.astimezone(LOCAL_TZ)
    assert local_end.time() == local_start.time()
    assert local_end.date() == CAL.add_working_days(local_start.date(), n)
