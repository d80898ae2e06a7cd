"""The generated OpenAPI 3.1 document (``api.v1.spec``) at /api/v1/openapi.json, and a browsable page at
/api/v1/docs: Swagger UI from the ``swagger-ui-py`` package's files, served by this app (never a CDN)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import swagger_ui
from flask import Blueprint, Response, jsonify, url_for
from werkzeug.exceptions import NotFound

from api.v1.spec import document

bp = Blueprint("openapi", __name__)
ASSETS = Path(swagger_ui.__file__).resolve().parent / "static"
SERVED = frozenset({"swagger-ui.css", "index.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"})

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>TĐKT Flow API</title>
<link rel="stylesheet" href="{css}">
<link rel="stylesheet" href="{index_css}">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{bundle}"></script>
<script src="{preset}"></script>
<script src="{init}"></script>
</body>
</html>
"""

INIT = """window.onload = function () {{
  window.ui = SwaggerUIBundle({{
    url: {spec},
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    withCredentials: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout"
  }});
}};
"""


@bp.get("/openapi.json")
def openapi() -> Any:
    return jsonify(document())


@bp.get("/docs")
def docs() -> Any:
    def asset(name: str) -> str:
        return url_for("api_v1.openapi.docs_asset", filename=name)

    page = PAGE.format(
        css=asset("swagger-ui.css"),
        index_css=asset("index.css"),
        bundle=asset("swagger-ui-bundle.js"),
        preset=asset("swagger-ui-standalone-preset.js"),
        init=asset("init.js"),
    )
    return Response(page, mimetype="text/html")


@bp.get("/docs/<path:filename>")
def docs_asset(filename: str) -> Any:
    if filename == "init.js":
        script = INIT.format(spec=json.dumps(url_for("api_v1.openapi.openapi")))
        return Response(script, mimetype="text/javascript")
    if filename not in SERVED:
        raise NotFound()
    answer = Response(_asset(filename), mimetype="text/css" if filename.endswith(".css") else "text/javascript")
    answer.cache_control.max_age = 86_400
    return answer


@cache
def _asset(filename: str) -> bytes:
    return (ASSETS / filename).read_bytes()
