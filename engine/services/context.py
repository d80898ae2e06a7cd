"""What every runtime service needs besides a Session: the clock, the connectors, the script engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from engine.clock import Clock
from engine.core.connectors import ConnectorRegistry
from engine.core.expressions import DEFAULT_FUNCTIONS, SafeScriptEngine
from engine.core.runtime import StateCodec, WorkflowRunner
from engine.core.serialization import make_serializer


@dataclass
class EngineContext:
    """Built once per process (or per test) and shared by every request; holds no per-request state."""

    clock: Clock
    connectors: ConnectorRegistry = field(default_factory=ConnectorRegistry)
    # Extra functions for expressions, on top of the default set and the clock-bound ones.
    functions: dict[str, Any] = field(default_factory=dict)

    def now(self) -> datetime:
        return self.clock.now()

    def script_engine_functions(self) -> dict[str, Any]:
        """The functions expressions may call: the default set, the clock-bound ones and the extras."""
        return {**DEFAULT_FUNCTIONS, "now": self.clock.now, **self.functions}

    @cached_property
    def script_engine(self) -> SafeScriptEngine:
        functions = {"now": self.clock.now, **self.functions}
        return SafeScriptEngine(functions=functions, connectors=self.connectors)

    @cached_property
    def runner(self) -> WorkflowRunner:
        return WorkflowRunner(self.script_engine, self.clock)

    @cached_property
    def codec(self) -> StateCodec:
        return StateCodec(make_serializer().registry)
