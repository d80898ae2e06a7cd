"""What every request and answer goes through, whatever the route: size, ids, JSON, headers.

- A request body over ``TDKT_MAX_REQUEST_BYTES`` (default: 4 x the largest submission + 64 KiB) is refused with
  413 before it is read (werkzeug's ``MAX_CONTENT_LENGTH``; set in ``create_app``).
- ``<int:...>`` in a URL takes only ids a database column can hold (below 2**63): a larger one is no route, 404,
  instead of an overflow deep in the driver.
- JSON bodies: nested at most ``MAX_JSON_DEPTH`` deep, no lone surrogate in a string (it cannot be stored as
  UTF-8), else 400 naming the problem; never a RecursionError or UnicodeEncodeError as a 500.
- Every answer: a Content-Security-Policy without inline script, no framing, nosniff, a strict referrer policy,
  and no ``Server`` banner naming the software.
"""

from __future__ import annotations

import json
import os
from typing import Any

from flask import Flask, Response
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter, ValidationError

MAX_ID = 2**63 - 1
MAX_JSON_DEPTH = 64

# No inline script or style anywhere (the templates use /static files only); nothing may frame the pages.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


class DatabaseIdConverter(IntegerConverter):
    """``int`` in URLs, bounded by what a BIGINT column holds."""

    def to_python(self, value: str) -> int:
        number = int(super().to_python(value))
        if number > MAX_ID:
            raise ValidationError()  # no such route: 404
        return number


def _depth_and_text(value: Any) -> None:
    """Raise BadRequest if ``value`` nests deeper than MAX_JSON_DEPTH or holds a string UTF-8 cannot encode."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise BadRequest(f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels")
            children = list(item.items()) if isinstance(item, dict) else [(None, v) for v in item]
            for key, child in children:
                if key is not None:
                    _check_text(key)
                stack.append((child, depth + 1))
        elif isinstance(item, str):
            _check_text(item)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest("the JSON body holds a lone surrogate (\\ud800-\\udfff) in a string") from None


class CheckedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, refusing bodies that would fail later: too deep, or not encodable as UTF-8."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            value = json.loads(s, **kwargs)
        except RecursionError:
            raise BadRequest(f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels") from None
        _depth_and_text(value)
        return value


def max_request_bytes(default: int) -> int:
    raw = os.environ.get("TDKT_MAX_REQUEST_BYTES")
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"TDKT_MAX_REQUEST_BYTES={raw!r} is not a whole number of bytes") from None
    if value < 1024:
        raise ValueError(f"TDKT_MAX_REQUEST_BYTES={raw!r} is below 1024 bytes")
    return value


def _headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.pop("Server", None)
    return response


def harden(app: Flask) -> None:
    """Install the converter, the JSON provider and the answer headers on ``app`` (before routes are added)."""
    app.url_map.converters["int"] = DatabaseIdConverter
    app.json_provider_class = CheckedJSONProvider
    app.json = CheckedJSONProvider(app)
    app.after_request(_headers)
