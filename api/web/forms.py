"""A task form's JSON Schema as HTML form fields, and the posted fields back as typed data.

Strings become text inputs (textareas when long), enums selects (labels from ``x-tdkt-enum-titles``), booleans
checkboxes, integers and numbers number inputs, ``format: date`` date inputs. File fields (``x-tdkt-file``) hold
a document reference typed by hand (or an uploaded attachment's reference, as JSON). Nested objects are flattened
into their fields ("documents.to_trinh"); lists of strings are one item a line; other lists are edited as JSON.

Whatever the person typed is shown again after an error, so nothing is lost.

This plain form is what the page serves; in the browser, React JSON Schema Form draws the same schema over it
(``frontend/src/entries/forms.jsx``: array rows, choices by title, dd/mm/yyyy dates, uploads) from the page's JSON
data block (``rjsf_payload``) and posts its data as JSON through the same form (``posted_json``). Either way the
server judges, and its refusals are worded here (``problem_messages``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup
from werkzeug.datastructures import MultiDict

from api.i18n import t
from engine.core.forms import field_title

LONG_TEXT = 1000  # a string allowed to be longer than this gets a textarea


@dataclass
class FormField:
    name: str  # the input's name: the JSON path joined with "."
    path: str  # the same path as ValidationError names it: joined with "/"
    title: str
    kind: str  # text | textarea | select | checkbox | integer | number | date | file | list | json
    required: bool = False
    description: str = ""
    options: list[tuple[str, str]] = field(default_factory=list)
    value: str = ""
    checked: bool = False
    error: str = ""
    max_length: int | None = None


def _const_options(prop: dict[str, Any]) -> list[tuple[str, str]]:
    """``oneOf`` / ``anyOf`` of ``const`` + ``title``: the choices with their titles (empty if not that shape)."""
    options = prop.get("oneOf") or prop.get("anyOf") or []
    if not options or not all(isinstance(o, dict) and "const" in o for o in options):
        return []
    return [(str(o["const"]), str(o.get("title") or o["const"])) for o in options]


def _kind(prop: dict[str, Any]) -> str:
    kind = prop.get("type")
    if prop.get("x-tdkt-file"):  # an uploaded attachment's reference, or a document reference typed by hand
        return "file"
    if "enum" in prop or _const_options(prop):
        return "select"
    if kind == "string":
        if prop.get("x-tdkt-file"):
            return "file"
        if prop.get("format") == "date":
            return "date"
        return "textarea" if (prop.get("maxLength") or 0) > LONG_TEXT else "text"
    if kind in ("boolean", "integer", "number"):
        return str(kind)
    if kind == "array" and (prop.get("items") or {}).get("type") == "string":
        return "list"
    return "json"


def _display(kind: str, value: Any) -> str:
    if value is None:
        return ""
    if kind == "list" and isinstance(value, list):
        return "\n".join(str(v) for v in value)
    if kind == "json" or (kind == "file" and isinstance(value, dict)):
        return json.dumps(value, ensure_ascii=False, indent=2 if kind == "json" else None)
    return str(value)


def build_fields(
    schema: dict[str, Any] | None,
    data: dict[str, Any] | None = None,
    posted: MultiDict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    _prefix: tuple[str, ...] = (),
    _title: str = "",
) -> list[FormField]:
    """The fields of ``schema``, filled from ``posted`` (after an error) or else ``data``; errors by field path."""
    found: list[FormField] = []
    required = set((schema or {}).get("required") or [])
    for key, prop in ((schema or {}).get("properties") or {}).items():
        path = (*_prefix, key)
        title = prop.get("title") or key
        value = (data or {}).get(key)
        if prop.get("type") == "object" and prop.get("properties"):
            nested = value if isinstance(value, dict) else {}
            found += build_fields(prop, nested, posted, errors, path, f"{_title}{title} › ")
            continue
        kind = _kind(prop)
        item = FormField(
            name=".".join(path),
            path="/".join(path),
            title=_title + title,
            kind=kind,
            required=key in required,
            description=prop.get("description") or "",
            max_length=prop.get("maxLength"),
        )
        if kind == "select" and "enum" in prop:
            labels = prop.get("x-tdkt-enum-titles") or {}
            names = prop.get("enumNames") if isinstance(prop.get("enumNames"), list) else []
            item.options = [
                (str(v), str(labels.get(v) or (names[i] if i < len(names) else v))) for i, v in enumerate(prop["enum"])
            ]
        elif kind == "select":
            item.options = _const_options(prop)
        if posted is not None:
            item.value = posted.get(item.name, "")
            item.checked = posted.get(item.name) == "on"
        else:
            item.value = _display(kind, value)
            item.checked = value is True
        found.append(item)
    if errors and not _prefix:
        attach_errors(found, errors)
    return found


_TOO_LONG = re.compile(r"^longer than (\d+) characters$")


def _translated(message: str) -> str:
    """The engine's field messages the UI words itself; any other message as the engine gave it."""
    if message == "required":
        return t("field_required")
    if message.startswith("not a field"):
        return t("field_not_in_form")
    too_long = _TOO_LONG.match(message)
    return t("field_too_long", limit=too_long.group(1)) if too_long else message


def attach_errors(fields: list[FormField], errors: dict[str, str]) -> list[str]:
    """Put each error on the field its path names (or a parent of it); returns those no field takes."""
    by_path = {f.path: f for f in fields}
    left = []
    for path, message in errors.items():
        text = _translated(message)
        parts = path.split("/")
        prefixes = ("/".join(parts[:n]) for n in range(len(parts), 0, -1))
        target = next((by_path[p] for p in prefixes if p in by_path), None)
        if target is None:  # a nested object's own error goes on its first field
            target = next((f for f in fields if f.path.startswith(path + "/")), None)
        if target is None:
            left.append(f"{path}: {text}")
        elif not target.error:
            target.error = text
    return left


def parse_fields(fields: list[FormField], posted: MultiDict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The submission as typed JSON data, and the fields that could not even be read (not a number, bad JSON)."""
    data: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for f in fields:
        raw = posted.get(f.name, "")
        value: Any
        if f.kind == "checkbox" or f.kind == "boolean":
            value = raw == "on"
        elif raw.strip() == "":
            continue
        elif f.kind == "integer":
            try:
                value = int(raw.strip())
            except ValueError:
                problems[f.path] = t("not_integer")
                continue
        elif f.kind == "number":
            try:
                value = float(raw.strip().replace(",", "."))
            except ValueError:
                problems[f.path] = t("not_number")
                continue
        elif f.kind == "list":
            value = [line.strip() for line in raw.splitlines() if line.strip()]
        elif f.kind == "json":
            try:
                value = json.loads(raw)
            except ValueError:
                problems[f.path] = t("not_json")
                continue
        elif f.kind == "file" and raw.strip().startswith("{"):  # an attachment's reference, shown as JSON
            try:
                value = json.loads(raw)
            except ValueError:
                problems[f.path] = t("not_json")
                continue
        elif f.kind == "textarea":
            value = raw
        else:
            value = raw.strip()
        target = data
        parts = f.path.split("/")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return data, problems


# --- the same form drawn in the browser by React JSON Schema Form (frontend/src/entries/forms.jsx) -----------------

# The words the browser form uses, from api/i18n.py: its own messages and RJSF's TranslatableString ("rjsf:...").
RJSF_WORDS = (
    "complete",
    "field_required",
    "field_not_in_form",
    "msg_named",
    "field_too_long",
    "msg_min_length",
    "msg_not_empty",
    "msg_maximum",
    "msg_minimum",
    "msg_exclusive_maximum",
    "msg_exclusive_minimum",
    "msg_max_items",
    "msg_min_items",
    "msg_date",
    "msg_format",
    "msg_choice",
    "msg_pattern",
    "msg_file",
    "msg_invalid",
    "msg_type_integer",
    "msg_type_number",
    "msg_type_string",
    "msg_type_boolean",
    "msg_type_array",
    "msg_type_object",
    "date_placeholder",
    "uploading",
    "upload_failed",
    "remove_file",
)
RJSF_STRINGS = {
    "Item": "rjsf_item",
    "No items yet. Use the button below to add some.": "rjsf_empty_array",
    "Yes": "yes",
    "No": "no",
    "Errors": "rjsf_errors",
    "Add": "rjsf_add",
    "Add Item": "rjsf_add_item",
    "Copy": "rjsf_copy",
    "Move down": "rjsf_move_down",
    "Move up": "rjsf_move_up",
    "Remove": "rjsf_remove",
    "clear input": "rjsf_clear",
    "Option %1": "rjsf_option",
}
# The field the browser form posts its data in, as JSON (beside the page's CSRF token).
JSON_FIELD = "__rjsf_json"


def rjsf_payload(
    schema: dict[str, Any] | None,
    ui_schema: dict[str, Any] | None,
    data: dict[str, Any] | None,
    errors: dict[str, str] | None = None,
    *,
    upload_url: str | None = None,
    download_url: str | None = None,
) -> dict[str, Any]:
    """What the page's JSON data block holds for the browser form: the schema and the model's ui-schema as they
    are, the data, the server's errors by field path (in the page's language), the words and the upload URLs."""
    messages = {key: t(key) for key in RJSF_WORDS}
    messages.update({f"rjsf:{english}": t(key) for english, key in RJSF_STRINGS.items()})
    return {
        "schema": schema,
        "ui_schema": ui_schema or {},
        "data": data or {},
        "errors": {path: _translated(message) for path, message in (errors or {}).items()},
        "messages": messages,
        "upload_url": upload_url,
        "download_url": download_url,
    }


def payload_json(payload: dict[str, Any]) -> Markup:
    """The payload as the text of a JSON data block, safe inside <script> (``<``, ``>``, ``&``, ``'`` escaped), its
    keys in the schema's own order: Flask's ``tojson`` sorts them, and the form would list its fields A to Z."""
    return htmlsafe_json_dumps(payload, dumps=json.dumps, ensure_ascii=False)


def posted_json(posted: MultiDict[str, str]) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The browser form's data (None when the plain form was posted), and a problem if it is not a JSON object."""
    raw = posted.get(JSON_FIELD)
    if raw is None:
        return None, {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}, {"(form)": t("not_json")}
    if not isinstance(value, dict):
        return {}, {"(form)": t("not_json")}
    return value, {}


# --- the server's refusals in the page's language: "«Điểm»: tối đa 100", never the submitted value -------------

_RULE_WORDS = {
    "required": "field_required",
    "maxLength": "field_too_long",
    "minLength": "msg_min_length",
    "maximum": "msg_maximum",
    "minimum": "msg_minimum",
    "exclusiveMaximum": "msg_exclusive_maximum",
    "exclusiveMinimum": "msg_exclusive_minimum",
    "maxItems": "msg_max_items",
    "minItems": "msg_min_items",
    "choice": "msg_choice",
    "pattern": "msg_pattern",
    "unknown": "field_not_in_form",
    "attachment": "attachment_not_usable",
    "invalid": "msg_invalid",
}


def _worded(problem: dict[str, Any], english: str) -> str:
    rule = str(problem.get("rule") or "")
    limit = problem.get("limit")
    if rule == "minLength" and limit == 1:
        return t("msg_not_empty")
    if rule == "format":
        return t("msg_date") if problem.get("format") in ("date", "date-time") else t("msg_format")
    if rule == "type":
        return t(f"msg_type_{problem.get('type')}") if problem.get("type") in _TYPES else t("msg_invalid")
    if rule == "attachment":
        return t("attachment_not_usable", id=problem.get("attachment_id", "?"))
    if rule == "initiative":  # the register's check (engine/services/initiative_uses.py)
        from api.web.initiatives import problem_words

        return problem_words(problem)
    if rule in _RULE_WORDS:
        return t(_RULE_WORDS[rule], limit=limit) if limit is not None else t(_RULE_WORDS[rule])
    return _translated(english)


_TYPES = ("integer", "number", "string", "boolean", "array", "object")


def problem_messages(schema: dict[str, Any] | None, details: dict[str, Any]) -> dict[str, str]:
    """A refusal's fields (``details["fields"]``, with ``details["problems"]`` from engine.core.forms or the
    attachments check) as messages in the page's language, each naming its field by its title."""
    fields = details.get("fields") or {}
    problems = details.get("problems") or {}
    out: dict[str, str] = {}
    for path, english in fields.items():
        problem = problems.get(path) or {}
        title = problem.get("title") or field_title(schema, path)
        message = _worded(problem, str(english))
        out[path] = t("msg_named", field=title, message=message) if title else message
    return out
