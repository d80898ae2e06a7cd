"""Checking the data submitted for a task: its form's fields only, within size limits, valid against its schema.

What a person submits is the only data their completion writes into the instance, and gateways, lanes, units and
deadlines read that same data. So a person's submission may carry only the keys the task's form declares:

- the declared fields are the top-level ``properties`` of the form's JSON Schema (also those inside top-level
  ``allOf``/``anyOf``/``oneOf``/``if``/``then``/``else``/``dependentSchemas``, which describe the same object),
  keys matching a top-level ``patternProperties`` pattern, and a Camunda ``camunda:formData`` model's
  ``camunda:formField`` ids;
- only top-level keys are checked this way (they are what expressions route on); inside a nested object the schema
  decides as JSON Schema does, so ``"additionalProperties": false`` there refuses unknown keys and leaving it out
  allows them (they are still size-capped);
- a task with no form takes no data (an empty submission), unless the model marks it free;
- a task is *free* (any top-level key accepted) when its user task carries the extension property
  ``freeData = true``, or when its form's schema sets ``additionalProperties`` at its top level explicitly to
  something other than ``false`` (``true``, or a schema the extra values must match).

Size limits hold for every submission, free or not (``SubmissionLimits``; ``TDKT_MAX_SUBMISSION_BYTES`` and
``TDKT_MAX_FIELD_CHARS``). No message repeats a submitted value that is long.

Data a service computes for a task it owns (the Council's reserved tasks) is checked against the schema only:
``validate_submission``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError
from jsonschema.exceptions import ValidationError as SchemaViolation

from engine.errors import DefinitionError, PayloadTooLargeError, Problem, ValidationError

_FORMAT_CHECKER = FormatChecker()

DEFAULT_MAX_SUBMISSION_BYTES = 1_048_576  # 1 MiB of compact JSON, UTF-8
DEFAULT_MAX_FIELD_CHARS = 100_000
MAX_SUBMISSION_BYTES_ENV = "TDKT_MAX_SUBMISSION_BYTES"
MAX_FIELD_CHARS_ENV = "TDKT_MAX_FIELD_CHARS"
_SHOWN_NAME = 100  # a key longer than this is shortened in messages
_SHOWN_VALUE = 80  # a value whose repr is longer than this is described, not repeated, in messages


@dataclass(frozen=True)
class SubmissionLimits:
    """How much one person's submission may hold: the whole of it as compact JSON (UTF-8 bytes), and each string in
    it (characters; a smaller ``maxLength`` in the form's schema wins for that field)."""

    max_bytes: int = DEFAULT_MAX_SUBMISSION_BYTES
    max_field_chars: int = DEFAULT_MAX_FIELD_CHARS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SubmissionLimits:
        """The limits from ``TDKT_MAX_SUBMISSION_BYTES`` and ``TDKT_MAX_FIELD_CHARS``, else the defaults."""
        env = os.environ if environ is None else environ
        return cls(
            max_bytes=_positive(env, MAX_SUBMISSION_BYTES_ENV, DEFAULT_MAX_SUBMISSION_BYTES),
            max_field_chars=_positive(env, MAX_FIELD_CHARS_ENV, DEFAULT_MAX_FIELD_CHARS),
        )


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    raw = (env.get(name) or "").strip().replace("_", "")
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ValueError(f"{name} must be a positive whole number, not {env.get(name)!r}")
    return value


@dataclass(frozen=True)
class FormFields:
    """The top-level keys a person's submission to one task may carry."""

    form: str | None  # the form's name for messages; None when the task has no form
    names: frozenset[str] = frozenset()
    patterns: tuple[str, ...] = ()
    free: bool = False  # any key is accepted

    def declares(self, key: str) -> bool:
        if self.free or key in self.names:
            return True
        return any(_search(pattern, key) for pattern in self.patterns)


def _search(pattern: str, key: str) -> bool:
    try:
        return re.search(pattern, key) is not None
    except re.error:
        return False


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


_SAME_OBJECT_LISTS = ("allOf", "anyOf", "oneOf")
_SAME_OBJECT_ONES = ("if", "then", "else")


@lru_cache(maxsize=512)
def _declared(schema_json: str) -> tuple[frozenset[str], tuple[str, ...], bool]:
    """(property names, property name patterns, whether the schema itself opts in to free keys)."""
    schema = json.loads(schema_json)
    names: set[str] = set()
    patterns: list[str] = []

    def visit(node: Any, depth: int) -> None:
        if not isinstance(node, dict) or depth > 8:
            return
        if isinstance(node.get("properties"), dict):
            names.update(str(k) for k in node["properties"])
        if isinstance(node.get("patternProperties"), dict):
            patterns.extend(str(k) for k in node["patternProperties"])
        for key in _SAME_OBJECT_LISTS:
            subs = node.get(key)
            for sub in subs if isinstance(subs, list) else ():
                visit(sub, depth + 1)
        for key in _SAME_OBJECT_ONES:
            visit(node.get(key), depth + 1)
        if isinstance(node.get("dependentSchemas"), dict):
            for sub in node["dependentSchemas"].values():
                visit(sub, depth + 1)

    visit(schema, 0)
    free = isinstance(schema, dict) and "additionalProperties" in schema and schema["additionalProperties"] is not False
    return frozenset(names), tuple(patterns), free


# The JSON text of the schemas seen, by object: a deployed definition's forms are built once and never change, so
# a completion does not serialise its form again to find its cached validator. Holding the schema keeps its id
# from being reused by another object.
_TEXT_BY_SCHEMA: dict[int, tuple[dict[str, Any], str]] = {}


def _schema_json(schema: dict[str, Any]) -> str:
    seen = _TEXT_BY_SCHEMA.get(id(schema))
    if seen is not None and seen[0] is schema:
        return seen[1]
    text = json.dumps(schema, sort_keys=True)
    if len(_TEXT_BY_SCHEMA) >= 1024:
        _TEXT_BY_SCHEMA.clear()
    _TEXT_BY_SCHEMA[id(schema)] = (schema, text)
    return text


def form_fields(
    schema: dict[str, Any] | None, meta: Mapping[str, Any] | None, form_key: str | None = None
) -> FormFields:
    """What a person may submit to a task with this form schema and this task metadata (``engine.core.task_meta``):
    its declared fields, or anything when the model or the schema marks it free."""
    meta = meta or {}
    extra = frozenset(str(f) for f in meta.get("form_fields") or ())
    free = meta.get("free_data") is True
    if not schema:  # Camunda's generated forms (camunda:formData) declare their fields in the model
        return FormFields((form_key or "camunda:formData") if extra else None, extra, (), free)
    names, patterns, schema_free = _declared(_schema_json(schema))
    return FormFields(form_key or "(unnamed)", names | extra, patterns, free or schema_free)


def submission_size(data: Any) -> int:
    """The size of ``data`` as compact JSON in UTF-8 bytes, as the limits count it."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    return len(text.encode("utf-8"))


def check_size(data: Any, limits: SubmissionLimits) -> None:
    """Raise PayloadTooLargeError when the whole submission is over the limit."""
    if not data:
        return
    size = submission_size(data)
    if size > limits.max_bytes:
        raise PayloadTooLargeError(
            f"the submitted data is {size} bytes as JSON; at most {limits.max_bytes} are accepted",
            {"size_bytes": size, "limit_bytes": limits.max_bytes},
        )


def shown_name(key: Any) -> str:
    """A key as messages show it: itself, or its start when it is very long."""
    text = str(key)
    return text if len(text) <= _SHOWN_NAME else f"{text[:60]}… ({len(text)} characters)"


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return f"a text of {len(value)} characters"
    if isinstance(value, dict):
        return f"an object of {len(value)} keys"
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    return f"a {type(value).__name__} value"


def _long_strings(value: Any, schema: Any, path: tuple[str, ...], limit: int, found: dict[str, str]) -> None:
    """Every string in ``value`` longer than ``limit`` or than its schema's smaller ``maxLength``, by path."""
    schema = schema if isinstance(schema, dict) else {}
    if isinstance(value, str):
        cap = limit
        own = schema.get("maxLength")
        if isinstance(own, int) and not isinstance(own, bool) and 0 <= own < cap:
            cap = own
        if len(value) > cap:
            found.setdefault("/".join(path) or "(root)", f"longer than {cap} characters")
            _PROBLEMS.get({}).setdefault("/".join(path) or "(root)", {"rule": "maxLength", "limit": cap})
    elif isinstance(value, dict):
        props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        for key, item in value.items():
            _long_strings(item, props.get(key), (*path, shown_name(key)), limit, found)
    elif isinstance(value, list):
        items = schema.get("items")
        for n, item in enumerate(value):
            _long_strings(item, items, (*path, str(n)), limit, found)


def _message(error: SchemaViolation) -> str:
    """jsonschema's message, with a long offending value described instead of repeated."""
    if error.validator == "maxLength":
        return f"longer than {error.validator_value} characters"
    text = error.message
    shown = repr(error.instance)
    if len(shown) > _SHOWN_VALUE:
        text = text.replace(shown, _describe(error.instance))
        if len(text) > 4 * _SHOWN_VALUE:
            text = f"{_describe(error.instance)} does not satisfy {error.validator}"
    return text


# --- what is wrong, for people: each field's problem as a rule and its limit, worded by the UI (api/i18n.py) ----
#
# ``details["problems"]`` of a refusal: ``{path: {"rule": ..., "limit"?: ..., "format"?: ...}}`` beside the
# English ``details["fields"]``. Rules: required, maxLength, minLength, maximum, minimum, exclusiveMaximum,
# exclusiveMinimum, maxItems, minItems, format, type, choice (enum/const/oneOf/anyOf), pattern, unknown (not a field
# of the form), invalid (anything else). Never the submitted value.
_LIMIT_RULES = frozenset(
    ("maxLength", "minLength", "maximum", "minimum", "exclusiveMaximum", "exclusiveMinimum", "maxItems", "minItems")
)
_CHOICE_RULES = frozenset(("enum", "const", "oneOf", "anyOf"))
_PROBLEMS: ContextVar[dict[str, dict[str, Any]]] = ContextVar("form_problems")


def _problem(error: SchemaViolation) -> dict[str, Any]:
    rule = str(error.validator)
    if rule in _LIMIT_RULES and isinstance(error.validator_value, int | float):
        return {"rule": rule, "limit": error.validator_value}
    if rule == "format":
        return {"rule": "format", "format": str(error.validator_value)}
    if rule == "type":
        wanted = error.validator_value
        return {"rule": "type", "type": str(wanted[0] if isinstance(wanted, list) and wanted else wanted)}
    if rule in _CHOICE_RULES:
        return {"rule": "choice"}
    if rule in ("required", "pattern"):
        return {"rule": rule}
    return {"rule": "invalid"}


def field_title(schema: dict[str, Any] | None, path: str) -> str:
    """The title a person reads for the field at ``path`` ("unit_candidates/0/name" → "Danh sách đề nghị › #1 ›
    Họ tên"): each level's ``title`` (or its key), a list's row by its number."""
    node: Any = schema or {}
    names: list[str] = []
    for part in [p for p in path.split("/") if p and p != "(root)"]:
        props = node.get("properties") if isinstance(node, dict) else None
        items = node.get("items") if isinstance(node, dict) else None
        if isinstance(props, dict) and part in props:
            node = props[part]
            names.append(str(node.get("title") or part) if isinstance(node, dict) else part)
        elif isinstance(items, dict) and part.isdigit():
            node = items
            names.append(f"#{int(part) + 1}")
        else:
            node = {}
            names.append(shown_name(part))
    return " › ".join(names)


def _schema_problems(
    schema: dict[str, Any] | None, data: dict[str, Any], form_key: str | None, fields: dict[str, str]
) -> None:
    if not schema:
        return
    try:
        validator = _validator(_schema_json(schema))
    except SchemaError as err:  # pragma: no cover - schemas are checked at deploy
        raise DefinitionError([Problem(form_key or "form", None, None, err.message)])
    problems = _PROBLEMS.get({})
    for error in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.path]):
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else "(root)"
            name = "/".join([*map(str, error.path), missing])
            fields.setdefault(name, "required")
            problems.setdefault(name, {"rule": "required"})
        else:
            name = "/".join(str(p) for p in error.path) or "(root)"
            fields.setdefault(name, _message(error))
            problems.setdefault(name, _problem(error))


def _refuse(
    fields: dict[str, str], form_key: str | None, no_form_of: str | None = None, schema: dict[str, Any] | None = None
) -> None:
    if not fields:
        return
    listed = ", ".join(f"{k}: {v}" for k, v in fields.items())
    if no_form_of is not None:
        text = f"task {no_form_of} has no form and takes no data; refused: {listed}"
    else:
        text = f"form {form_key or ''} has invalid fields: {listed}".replace("  ", " ")
    found = _PROBLEMS.get({})
    problems = {path: {**found.get(path, {"rule": "invalid"}), "title": field_title(schema, path)} for path in fields}
    raise ValidationError(text, {"fields": fields, "problems": problems})


def _must_be_object(data: Any) -> None:
    if not isinstance(data, dict):
        raise ValidationError("task data must be a JSON object", {"fields": {"(root)": "must be an object"}})


def validate_submission(schema: dict[str, Any] | None, data: dict[str, Any], form_key: str | None = None) -> None:
    """Raise ValidationError naming every field that breaks the schema; no schema means no schema check.

    Only the schema: for data a service computed. What a person submits goes through ``check_person_submission``.
    """
    _must_be_object(data)
    fields: dict[str, str] = {}
    token = _PROBLEMS.set({})
    try:
        _schema_problems(schema, data, form_key, fields)
        _refuse(fields, form_key, schema=schema)
    finally:
        _PROBLEMS.reset(token)


def check_person_submission(
    schema: dict[str, Any] | None,
    data: dict[str, Any],
    allowed: FormFields,
    limits: SubmissionLimits,
    *,
    task: str = "",
) -> None:
    """What a person submits: within the limits (PayloadTooLargeError for the whole), only the declared fields,
    no string too long, valid against the schema. One ValidationError names every bad field, unknown keys
    included; nothing in it repeats a long value."""
    _must_be_object(data)
    check_size(data, limits)
    token = _PROBLEMS.set({})
    try:
        _check_person_fields(schema, data, allowed, limits, task)
    finally:
        _PROBLEMS.reset(token)


def _check_person_fields(
    schema: dict[str, Any] | None, data: dict[str, Any], allowed: FormFields, limits: SubmissionLimits, task: str
) -> None:
    fields: dict[str, str] = {}
    unknown = [key for key in data if not allowed.declares(str(key))]
    for key in unknown:
        if allowed.form is None:
            fields[shown_name(key)] = f"not a field: task {task} has no form".replace("  ", " ")
        else:
            fields[shown_name(key)] = f"not a field of form {allowed.form}"
        _PROBLEMS.get({})[shown_name(key)] = {"rule": "unknown"}
    _long_strings(data, schema, (), limits.max_field_chars, fields)
    if unknown:  # the schema's own "additionalProperties": false would name the same keys again, less clearly
        schema_fields: dict[str, str] = {}
        _schema_problems(schema, data, allowed.form, schema_fields)
        for name, message in schema_fields.items():
            if not (name == "(root)" and message.startswith("Additional properties are not allowed")):
                fields.setdefault(name, message)
    else:
        _schema_problems(schema, data, allowed.form, fields)
    _refuse(fields, allowed.form, task if allowed.form is None else None, schema)
