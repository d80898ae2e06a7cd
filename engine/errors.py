"""The engine's one exception root and its typed subclasses.

The API maps each class to one HTTP status in one place; the engine itself never knows HTTP codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class EngineError(Exception):
    """Root of every error the engine raises on purpose."""

    code = "engine_error"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def __str__(self) -> str:
        return self.message


class NotFoundError(EngineError):
    code = "not_found"


class ConflictError(EngineError):
    """Someone else changed the same thing first (optimistic version check), or the state forbids it."""

    code = "conflict"


class PermissionDeniedError(EngineError):
    code = "permission_denied"


class ValidationError(EngineError):
    """Input data is wrong. ``details["fields"]`` maps each bad field to its message."""

    code = "validation_error"


class PayloadTooLargeError(EngineError):
    """Submitted data is larger than the engine accepts at all (``details``: ``size_bytes``, ``limit_bytes``)."""

    code = "payload_too_large"


class ExpressionError(EngineError):
    """An expression or script was refused or failed; names the element and the expression."""

    code = "expression_error"

    def __init__(self, message: str, element_id: str | None = None, expression: str | None = None) -> None:
        super().__init__(message, {"element_id": element_id, "expression": expression})
        self.element_id = element_id
        self.expression = expression


@dataclass(frozen=True)
class Problem:
    """One lint finding: ``FILE:LINE ELEMENT_ID: message``."""

    file: str
    line: int | None
    element_id: str | None
    message: str
    severity: str = "error"  # "error" stops a deployment, "warning" does not

    def __str__(self) -> str:
        where = f"{self.file}:{self.line or 0}"
        element = self.element_id or "-"
        prefix = "" if self.severity == "error" else "warning: "
        return f"{where} {element}: {prefix}{self.message}"


@dataclass
class DefinitionError(EngineError):
    """A definition cannot be deployed. Carries every problem found, not just the first."""

    problems: list[Problem] = field(default_factory=list)
    code = "definition_error"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        text = "; ".join(str(p) for p in problems if p.severity == "error") or "invalid definition"
        super().__init__(text, {"problems": [str(p) for p in problems]})


class IncidentError(EngineError):
    """An instance reached a step it cannot perform (an unregistered connector, a failing script)."""

    code = "incident"
