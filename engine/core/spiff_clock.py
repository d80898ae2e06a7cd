"""Make SpiffWorkflow's timer events read our clock instead of the wall clock.

SpiffWorkflow's timer event definitions call ``datetime.now(timezone.utc)`` directly. We swap the ``datetime``
name in that one module for a subclass whose ``now()`` answers from the clock bound to the current context
(``using_clock``), so a manual clock drives BPMN timers in tests and in simulations. Outside ``using_clock``
it is the wall clock, exactly as before. Timer expressions may also evaluate to a datetime (e.g. from
``working_days(n)``), not only to ISO 8601 text, and a timeCycle may be a fixed-period cron (Camunda 7's Quartz
form, ``0 0/5 * * * ?``): it first fires at the next time the cron names in the engine's time zone
(Asia/Ho_Chi_Minh), as Quartz does, then every period.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions import timer as _spiff_timer

from engine.clock import Clock
from engine.core.business_calendar import LOCAL_TZ
from engine.core.camunda_compat import TranslationError, cron_schedule, is_cron, next_cron_fire
from engine.errors import ExpressionError

_current: contextvars.ContextVar[Clock | None] = contextvars.ContextVar("tdkt_clock", default=None)


class _ClockedDatetime(datetime):
    @classmethod
    def now(cls, tz: tzinfo | None = None) -> Any:
        clock = _current.get()
        if clock is None:
            return datetime.now(tz)
        current = clock.now()
        return current.astimezone(tz) if tz is not None else current.astimezone(UTC).replace(tzinfo=None)


_spiff_timer.datetime = _ClockedDatetime  # type: ignore[misc]

_parse_time_or_duration = _spiff_timer.TimerEventDefinition.parse_time_or_duration


def _parse_time_or_duration_or_datetime(expression: Any) -> Any:
    """Also accept a datetime, so a timeDate timer can say ``working_days(5)`` instead of an ISO string."""
    if isinstance(expression, datetime):
        aware = expression if expression.tzinfo else expression.replace(tzinfo=UTC)
        return aware.astimezone(UTC)
    return _parse_time_or_duration(expression)


_spiff_timer.TimerEventDefinition.parse_time_or_duration = staticmethod(_parse_time_or_duration_or_datetime)

_parse_iso_recurring_interval = _spiff_timer.TimerEventDefinition.parse_iso_recurring_interval


def _parse_cycle(expression: Any) -> Any:
    """``(cycles, first fire, period)`` of a timeCycle: a fixed-period cron fires aligned to the clock, forever."""
    if isinstance(expression, str) and is_cron(expression):
        try:
            period = cron_schedule(expression)[0]
        except TranslationError as err:
            raise ExpressionError(str(err), expression=expression) from err
        first = next_cron_fire(expression, _ClockedDatetime.now(UTC), LOCAL_TZ)
        return -1, first, timedelta(seconds=period)
    return _parse_iso_recurring_interval(expression)


_spiff_timer.TimerEventDefinition.parse_iso_recurring_interval = staticmethod(_parse_cycle)


@contextmanager
def using_clock(clock: Clock) -> Iterator[None]:
    token = _current.set(clock)
    try:
        yield
    finally:
        _current.reset(token)
