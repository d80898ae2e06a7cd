"""The API's OpenAPI 3.1 document, written by hand in api/openapi.json (a test keeps it in step with the routes)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from flask import Blueprint, jsonify

bp = Blueprint("openapi", __name__)
DOCUMENT = Path(__file__).resolve().parent.parent / "openapi.json"


@cache
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    return loaded


@bp.get("/openapi.json")
def openapi() -> Any:
    return jsonify(document())
