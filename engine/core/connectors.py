"""Connectors: named Python callables that BPMN service tasks invoke.

A service task names an operation (``operation_name`` in SpiffWorkflow's service task). The script engine looks the
name up in a :class:`ConnectorRegistry` and calls the connector with a copy of the task data and the evaluated
parameters. Registries are explicit objects so that tests and deployments can each have their own; the product's
few built-in connectors live in :data:`default_registry`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Connector = Callable[[dict, dict], dict | None]
"""``(task data copy, params) -> values to merge into the task data`` (or None for nothing)."""


class ConnectorRegistry:
    """A name -> connector map. Registering a name twice replaces the earlier connector (last one wins)."""

    def __init__(self, connectors: dict[str, Connector] | None = None) -> None:
        self._connectors: dict[str, Connector] = {}
        for name, fn in (connectors or {}).items():
            self.register(name, fn)

    def register(self, name: str, fn: Connector) -> None:
        if not name or not isinstance(name, str):
            raise ValueError("a connector needs a non-empty name")
        if not callable(fn):
            raise TypeError(f"connector '{name}' is not callable")
        self._connectors[name] = fn

    def get(self, name: str) -> Connector | None:
        return self._connectors.get(name)

    def names(self) -> set[str]:
        return set(self._connectors)

    def __contains__(self, name: object) -> bool:
        return name in self._connectors

    def copy(self) -> ConnectorRegistry:
        """A new registry with the same connectors, to extend without touching this one."""
        return ConnectorRegistry(dict(self._connectors))


def noop(data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any] | None:
    """Does nothing and changes nothing: a placeholder for a service task whose real connector comes later."""
    return None


def echo(data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any] | None:
    """Returns its parameters, so a model can copy computed values into the task data (and tests can see them)."""
    return dict(params)


default_registry = ConnectorRegistry({"noop": noop, "echo": echo})
"""Process-wide registry of the connectors the product ships. Keep it tiny."""
