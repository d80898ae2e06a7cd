"""Validating the data a person submits against the JSON Schema of the task's form."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError

from engine.errors import DefinitionError, Problem, ValidationError

_FORMAT_CHECKER = FormatChecker()


def check_schema(schema: dict[str, Any], file: str) -> list[Problem]:
    """Problems with a form schema itself, found at deploy time."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as err:
        path = "/".join(str(p) for p in err.path) or "(root)"
        return [Problem(file, None, path, f"invalid JSON Schema: {err.message}")]
    return []


@lru_cache(maxsize=512)
def _validator(schema_json: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads(schema_json), format_checker=_FORMAT_CHECKER)


def validate_submission(schema: dict[str, Any] | None, data: dict[str, Any], form_key: str | None = None) -> None:
    """Raise ValidationError naming every bad field; no schema means anything goes."""
    if not isinstance(data, dict):
        raise ValidationError("task data must be a JSON object", {"fields": {"(root)": "must be an object"}})
    if not schema:
        return
    try:
        validator = _validator(json.dumps(schema, sort_keys=True))
    except SchemaError as err:  # pragma: no cover - schemas are checked at deploy
        raise DefinitionError([Problem(form_key or "form", None, None, err.message)])
    fields: dict[str, str] = {}
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.path)):
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else "(root)"
            name = "/".join([*map(str, error.path), missing])
            fields.setdefault(name, "required")
        else:
            name = "/".join(str(p) for p in error.path) or "(root)"
            fields.setdefault(name, error.message)
    if fields:
        listed = ", ".join(f"{k}: {v}" for k, v in fields.items())
        raise ValidationError(
            f"form {form_key or ''} has invalid fields: {listed}".replace("  ", " "), {"fields": fields}
        )
