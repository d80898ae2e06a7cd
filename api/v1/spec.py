"""The API's OpenAPI 3.1 document and its validation, both from the same pydantic models, by spectree.

Why spectree: it decorates the plain Flask views and blueprints the app already has (flask-openapi3 replaces
Flask's ``Blueprint``/``Flask`` classes, which the web UI and the error handler would have to follow), it
validates the request (query, JSON body) *and* the response against the models it writes into the document
(flask-smorest and APIFlask, on marshmallow, document responses but do not check them), it emits OpenAPI 3.1
from pydantic 2's JSON Schema, and it lets us keep our own error shape: a request that does not match its
model reaches ``api.errors`` as an ``engine.errors.ValidationError`` naming each field (422), a body that is
not JSON at all as a 400.

Responses are validated in every environment, tests and production alike: a response that does not match its
model is a bug, and it is answered like any other bug (500 ``internal_error``, the log keeps which field was
wrong), so no client ever gets a body the document does not describe. (The check is pydantic-core over a
few kB per answer.) Error answers are raised as exceptions and leave through the one error handler, so their
shape is described once (``ErrorBody``) and listed on every operation.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from flask import current_app
from pydantic import BaseModel, ConfigDict
from spectree import Response, SpecTree
from werkzeug.exceptions import BadRequest

from engine.errors import ValidationError

ID = "int(max=9223372036854775807)"  # ids are 64-bit: a larger one is no route (404), never an overflow


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: dict[str, Any]


class ErrorBody(BaseModel):
    """Every error: ``{"error": {"code", "message", "details"}}``; a validation error's details name the fields
    (``{"fields": {"limit": "..."}}``)."""

    error: ErrorDetail


class ResponseSchemaError(RuntimeError):
    """A view answered something its documented model does not allow."""


# pydantic's error types in the API's words (anything else keeps pydantic's message)
MESSAGES = {
    "missing": "required",
    "string_type": "must be a string",
    "dict_type": "must be an object",
    "list_type": "must be a list",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "extra_forbidden": "unknown field",
}


def _field_name(location: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in location) or "(body)"


def _message(problem: dict[str, Any]) -> str:
    return MESSAGES.get(str(problem.get("type")), str(problem.get("msg", "invalid")))


NUL = "must not contain NUL characters"


def _nul_fields(req: Any) -> dict[str, str]:
    """Query parameters and body strings holding U+0000, which no text column takes (PostgreSQL refuses it)."""
    fields = {name: NUL for name, value in req.args.items(multi=True) if "\x00" in name or "\x00" in value}
    stack: list[tuple[str, Any]] = [("", req.get_json(silent=True) if req.method in ("POST", "PUT", "PATCH") else None)]
    while stack and len(fields) < 20:
        where, value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                fields[where or "(body)"] = NUL
        elif isinstance(value, dict):
            for key, item in value.items():
                name = f"{where}.{key}" if where else str(key)
                if "\x00" in str(key):
                    fields[name] = NUL
                stack.append((name, item))
        elif isinstance(value, list):
            stack.extend((f"{where}.{i}" if where else str(i), item) for i, item in enumerate(value))
    return fields


def _before(req: Any, resp: Any, error: Exception | None, instance: Any, adapter: Any) -> None:
    if req.method in ("POST", "PUT", "PATCH") and req.get_data(cache=True) and req.get_json(silent=True) is None:
        raise BadRequest("the request body is not valid JSON")
    fields: dict[str, str] = _nul_fields(req)
    if error is None:
        if fields:
            raise ValidationError("the request does not match the API's schema", {"fields": fields})
        return
    for problem in getattr(error, "errors", lambda: [])():
        fields.setdefault(_field_name(tuple(problem.get("loc", ()))), _message(problem))
    raise ValidationError("the request does not match the API's schema", {"fields": fields or {"(request)": "invalid"}})


check_request = _before  # for routes that take another body besides JSON (api.v1.definitions: multipart)


def _after(req: Any, resp: Any, error: Exception | None, instance: Any, adapter: Any) -> None:
    if error is not None:
        raise ResponseSchemaError(f"{req.method} {req.path}: the answer does not match its schema: {error}")


api = SpecTree(
    "flask",
    mode="strict",
    title="TĐKT Flow API",
    version="1",
    description=(
        "The JSON API of TĐKT Flow. Log in with `POST /api/v1/session` (a cookie session); bodies that change "
        'something are `application/json`. Every error answers `{"error": {"code", "message", "details"}}`.'
    ),
    path="api/v1/apidoc",  # spectree's own pages are not registered (they load assets from a CDN)
    before=_before,
    after=_after,
    validation_error_status=422,
    validation_error_model=ErrorBody,
    annotations=False,
    naming_strategy=lambda model: model.__name__,  # clean component names (each model's name is unique here)
    nested_naming_strategy=lambda parent, child: child,
)

ERROR_CODES = ("HTTP_400", "HTTP_401", "HTTP_403", "HTTP_404", "HTTP_409", "HTTP_413", "HTTP_415", "HTTP_422")


def responses(**models: Any) -> Response:
    """The documented answers of an operation: its own, plus the error body for every error status."""
    for code in ERROR_CODES:
        models.setdefault(code, ErrorBody)
    return Response(**models)


_document: dict[str, Any] | None = None


def _path_parameters(spec: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [
        parameter
        for operations in spec.get("paths", {}).values()
        for operation in operations.values()
        for parameter in operation.get("parameters", [])
        if parameter.get("in") == "path" and parameter.get("name") == name
    ]


def document() -> dict[str, Any]:
    """The generated OpenAPI document (built once, in an app context, from the app's routes), with what
    spectree cannot say by itself: the session cookie, and the audit export's two media types."""
    global _document
    if _document is None:
        spec = copy.deepcopy(api.spec)
        components = spec.setdefault("components", {})
        components.setdefault("securitySchemes", {})["session"] = {
            "type": "apiKey",
            "in": "cookie",
            "name": "tdkt_session",
            "description": "the cookie `POST /api/v1/session` sets",
        }
        from api.v1.schemas import ExportOut

        schemas = components.setdefault("schemas", {})
        export = ExportOut.model_json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
        schemas.update(export.pop("$defs", {}))
        schemas["ExportOut"] = export
        from api.authz import route_rule

        rules = {
            (re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", r.rule), m.lower()): r.rule
            for r in current_app.url_map.iter_rules()
            for m in r.methods or ()
        }
        for path, operations in spec.get("paths", {}).items():
            for method, operation in operations.items():
                rule = route_rule(method.upper(), rules.get((path, method), ""))
                if rule is not None:  # who may call it, from the one authorization table (api.authz.ROUTES)
                    operation["x-authorization"] = rule.describe
                    operation["description"] = (
                        f"{operation.get('description') or ''}\n\nWho may call it: {rule.describe}."
                    )
                if rule is not None and rule.allows is not None:
                    operation["security"] = [{"session": []}]
        for name in ("instance_id", "task_id"):
            for parameter in _path_parameters(spec, name):
                parameter["schema"]["minimum"] = 1
                parameter["schema"]["format"] = "int64"
                parameter["example"] = 1
        for parameter in _path_parameters(spec, "day"):
            parameter["schema"] = {"type": "string", "format": "date"}
            parameter["description"] = "a date, YYYY-MM-DD"
        events = spec["paths"]["/api/v1/audit/events"]["get"]["responses"]["200"]
        events["description"] = "the events: JSON, or CSV (one row per event) with `format=csv`"
        events["content"] = {
            "application/json": {"schema": {"$ref": "#/components/schemas/ExportOut"}},
            "text/csv": {"schema": {"type": "string"}},
        }
        # the auditor's exports: JSON rows, or the same rows as CSV with format=csv
        from api.v1.schemas import AuditSearchOut, InstanceAuditOut

        for model in (InstanceAuditOut, AuditSearchOut):
            found = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
            schemas.update(found.pop("$defs", {}))
            schemas[model.__name__] = found
        for path, model in (
            ("/api/v1/instances/{instance_id}/audit", InstanceAuditOut),
            ("/api/v1/audit/export", AuditSearchOut),
        ):
            answer = spec["paths"][path]["get"]["responses"]["200"]
            answer["description"] = "one row per event: JSON, or CSV (UTF-8 with a BOM) with `format=csv`"
            answer["content"] = {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}},
                "text/csv": {"schema": {"type": "string"}},
            }
        from api.v1.definitions import describe_document as describe_definitions

        describe_definitions(spec)  # a deployed file answers its own media type
        from api.v1.attachments import describe_document as describe_attachments

        describe_attachments(spec)  # a download answers the file's own media type
        from api.v1.national_dossier import describe_document as describe_national_dossier

        describe_national_dossier(spec)  # the national dossier answers a ZIP
        _document = spec
    return _document


class Strict(BaseModel):
    """A request body: unknown fields are refused (so a typo is named, not ignored)."""

    model_config = ConfigDict(extra="forbid")
