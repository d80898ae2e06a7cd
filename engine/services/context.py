"""What every runtime service needs besides a Session: the clock, the connectors, the script engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core.business_calendar import BusinessCalendar, expression_functions
from engine.core.connectors import ConnectorRegistry
from engine.core.expressions import DEFAULT_FUNCTIONS, SafeScriptEngine
from engine.core.forms import SubmissionLimits
from engine.core.runtime import StateCodec, WorkflowCache, WorkflowRunner
from engine.core.serialization import make_serializer
from engine.services.calendar import load_calendar, shipped_calendar


@dataclass
class EngineContext:
    """Built once per process (or per test) and shared by every request; holds no per-request state."""

    clock: Clock
    connectors: ConnectorRegistry = field(default_factory=ConnectorRegistry)
    # Extra functions for expressions, on top of the default set and the clock-bound ones.
    functions: dict[str, Any] = field(default_factory=dict)
    # Working days for deadlines; replace it (reload_calendar) after an admin changes an override.
    calendar: BusinessCalendar = field(default_factory=shipped_calendar)
    # How large a person's submission may be (TDKT_MAX_SUBMISSION_BYTES, TDKT_MAX_FIELD_CHARS when it is built).
    limits: SubmissionLimits = field(default_factory=SubmissionLimits.from_env)
    # Workflows saved by this process, reused on the instance's next step when its row is unchanged since.
    workflows: WorkflowCache = field(default_factory=WorkflowCache)

    def now(self) -> datetime:
        return self.clock.now()

    def reload_calendar(self, session: Session) -> BusinessCalendar:
        """Re-read the calendar overrides from the database."""
        self.calendar = load_calendar(session)
        return self.calendar

    @cached_property
    def _calendar_functions(self) -> dict[str, Any]:
        return expression_functions(lambda: self.calendar, self.clock.now)

    def script_engine_functions(self) -> dict[str, Any]:
        """The functions expressions may call: the default set, the clock-bound ones and the extras."""
        return {**DEFAULT_FUNCTIONS, "now": self.clock.now, **self._calendar_functions, **self.functions}

    @cached_property
    def script_engine(self) -> SafeScriptEngine:
        functions = {"now": self.clock.now, **self._calendar_functions, **self.functions}
        return SafeScriptEngine(functions=functions, connectors=self.connectors)

    @cached_property
    def runner(self) -> WorkflowRunner:
        return WorkflowRunner(self.script_engine, self.clock)

    @cached_property
    def codec(self) -> StateCodec:
        return StateCodec(make_serializer().registry)
