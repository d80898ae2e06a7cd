"""Make SpiffWorkflow's timer events read our clock instead of the wall clock.

SpiffWorkflow's timer event definitions call ``datetime.now(timezone.utc)`` directly. We swap the ``datetime``
name in that one module for a subclass whose ``now()`` answers from the clock bound to the current context
(``using_clock``), so a manual clock drives BPMN timers in tests and in simulations. Outside ``using_clock``
it is the wall clock, exactly as before. Timer expressions may also evaluate to a datetime (e.g. from
``working_days(n)``), not only to ISO 8601 text.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, tzinfo
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions import timer as _spiff_timer

from engine.clock import Clock

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


@contextmanager
def using_clock(clock: Clock) -> Iterator[None]:
    token = _current.set(clock)
    try:
        yield
    finally:
        _current.reset(token)
