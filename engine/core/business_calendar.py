"""Vietnamese working days: weekends, public holidays (lunar Tết, Giỗ Tổ...), the state's yearly swaps, overrides.

Public holidays and the worked Saturdays of the yearly swaps come from the ``holidays`` package (``VN``, names
in Vietnamese). An admin's overrides (date -> working or not) win over everything.

Arithmetic, as the law counts it ("trong thời hạn N ngày làm việc"):

- ``add_working_days(start, n)`` is the n-th working day strictly *after* ``start``'s date, whatever ``start``
  is (a Friday, a holiday...). ``n == 0`` returns ``start`` unchanged. So ``2024-02-07 + 5`` is
  ``2024-02-21`` (Tết 2024 is 08–14/02) and ``2024-05-03 + 1`` is ``2024-05-04``, a worked Saturday.
- ``subtract_working_days(start, n)`` is the n-th working day strictly *before* it (reminders "one working day
  before the due date").
- ``working_days_between(a, b)`` counts the working days ``d`` with ``a < d <= b`` (negative when ``b < a``), so
  ``working_days_between(d, add_working_days(d, n)) == n``.
- A ``datetime`` keeps its time of day *in Asia/Ho_Chi_Minh*: the local date moves, the local clock time stays,
  and the result comes back in the input's time zone (naive datetimes are taken as local time and stay naive).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import TypeVar, overload
from zoneinfo import ZoneInfo

import holidays

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
WORKED_WEEKEND_NAME = "Ngày làm việc bù"  # holidays names the day off, not the worked Saturday
MAX_DAYS = 100_000  # any n beyond this is an input mistake, not a deadline

_D = TypeVar("_D", date, datetime)


@lru_cache(maxsize=64)
def _year(year: int) -> tuple[dict[date, str], frozenset[date]]:
    """(public holidays with Vietnamese names, worked weekend days) of one year, computed once."""
    found = holidays.country_holidays("VN", years=year, language="vi")
    days = {d: name for d, name in found.items() if d.year == year}
    worked = frozenset(d for d in found.weekend_workdays if d.year == year)
    return days, worked


def holiday_name(day: date) -> str | None:
    """The public holiday's name (Vietnamese) on ``day``, without overrides."""
    return _year(day.year)[0].get(day)


class BusinessCalendar:
    """Working-day arithmetic. Immutable once built; cheap to share between threads."""

    def __init__(self, overrides: Mapping[date, bool] | None = None, notes: Mapping[date, str] | None = None) -> None:
        self.overrides: dict[date, bool] = dict(overrides or {})
        self.notes: dict[date, str] = dict(notes or {})

    def is_working_day(self, day: date) -> bool:
        if isinstance(day, datetime):
            day = _local_date(day)
        forced = self.overrides.get(day)
        if forced is not None:
            return forced
        holidays_of_year, worked = _year(day.year)
        if day in holidays_of_year:
            return False
        if day.weekday() >= 5:
            return day in worked
        return True

    def name_of(self, day: date) -> str | None:
        """Why ``day`` is special: the override's note, the holiday's name, or the worked-day label."""
        if day in self.notes and self.notes[day]:
            return self.notes[day]
        if day in self.overrides:
            return "Ngày làm việc (điều chỉnh)" if self.overrides[day] else "Ngày nghỉ (điều chỉnh)"
        name = holiday_name(day)
        if name:
            return name
        if day.weekday() >= 5 and day in _year(day.year)[1]:
            return WORKED_WEEKEND_NAME
        return None

    # --- arithmetic -------------------------------------------------------------------------------

    def _step(self, day: date, n: int, direction: int) -> date:
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"the number of working days must be an integer, not {type(n).__name__}")
        if n < 0:
            raise ValueError(f"the number of working days must be 0 or more, not {n}")
        if n > MAX_DAYS:
            raise ValueError(f"the number of working days must be at most {MAX_DAYS}, not {n}")
        one = timedelta(days=direction)
        while n:
            day += one
            if self.is_working_day(day):
                n -= 1
        return day

    @overload
    def add_working_days(self, start: datetime, n: int) -> datetime: ...
    @overload
    def add_working_days(self, start: date, n: int) -> date: ...
    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day after ``start`` (see the module docstring)."""
        return _shift(start, lambda d: self._step(d, n, +1))

    @overload
    def subtract_working_days(self, start: datetime, n: int) -> datetime: ...
    @overload
    def subtract_working_days(self, start: date, n: int) -> date: ...
    def subtract_working_days(self, start: date, n: int) -> date:
        """The n-th working day before ``start``."""
        return _shift(start, lambda d: self._step(d, n, -1))

    def working_days_between(self, a: date, b: date) -> int:
        """Working days ``d`` with ``a < d <= b`` (by local date); ``-working_days_between(b, a)`` when b < a."""
        first, last = _local_date(a), _local_date(b)
        if last < first:
            return -self.working_days_between(b, a)
        count = 0
        day = first
        while day < last:
            day += timedelta(days=1)
            count += self.is_working_day(day)
        return count

    # --- listing ----------------------------------------------------------------------------------

    def non_working_weekdays(self, year: int) -> list[date]:
        """Monday–Friday dates of ``year`` that are not working days (holidays, swapped days, overrides)."""
        return [d for d in _days_of(year) if d.weekday() < 5 and not self.is_working_day(d)]

    def worked_weekend_days(self, year: int) -> list[date]:
        """Saturdays and Sundays of ``year`` that are working days (yearly swaps, overrides)."""
        return [d for d in _days_of(year) if d.weekday() >= 5 and self.is_working_day(d)]


def _days_of(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days)]


def _local_date(value: date) -> date:
    if isinstance(value, datetime):
        return value.astimezone(LOCAL_TZ).date() if value.tzinfo else value.date()
    return value


def _shift(start: _D, move: Callable[[date], date]) -> _D:
    """Apply ``move`` to the local date of ``start``, keeping the local time of day."""
    if not isinstance(start, datetime):
        if not isinstance(start, date):
            raise TypeError(f"expected a date or a datetime, not {type(start).__name__}")
        return move(start)
    if start.tzinfo is None:
        return datetime.combine(move(start.date()), start.time())
    local = start.astimezone(LOCAL_TZ)
    moved = datetime.combine(move(local.date()), time(local.hour, local.minute, local.second, local.microsecond))
    return moved.replace(tzinfo=LOCAL_TZ).astimezone(start.tzinfo)


def expression_functions(
    calendar: Callable[[], BusinessCalendar], now: Callable[[], datetime]
) -> dict[str, Callable[..., object]]:
    """The working-day functions models call; ``calendar`` is read at each call so a reloaded one takes effect.

    - ``working_days(n)``: the aware UTC datetime n working days after now, at the same local (Asia/Ho_Chi_Minh)
      time of day: a task created at 10:00 with ``working_days(5)`` is due at 10:00 five working days later.
    - ``add_working_days(start, n)``: ``start`` a date, a datetime or an ISO text; a text gives a datetime
      (a naive one is read as local time and returned aware, in UTC).
    - ``is_working_day(day)``.
    """

    def working_days(n: int) -> datetime:
        return calendar().add_working_days(now(), n)

    def add_working_days(start: date | str, n: int) -> date:
        if isinstance(start, str):
            parsed = datetime.fromisoformat(start)
            start = parsed if parsed.tzinfo else parsed.replace(tzinfo=LOCAL_TZ)
            return calendar().add_working_days(start, n).astimezone(ZoneInfo("UTC"))
        return calendar().add_working_days(start, n)

    def is_working_day(day: date | str) -> bool:
        return calendar().is_working_day(date.fromisoformat(day) if isinstance(day, str) else day)

    return {"working_days": working_days, "add_working_days": add_working_days, "is_working_day": is_working_day}
