"""The process designer in the browser, for designers and administrators: the list of processes and decisions with
their versions, a version (or the draft) open in the BPMN / DMN modeler with live lint markers, and the diff of two
versions.

These pages only serve the shell and the words; the page's script (``frontend/src/entries/designer.js``) reads and
writes everything through the definitions API (``/api/v1/definitions``) with the session cookie, so the API's
authorization and checks are the only ones that count. The pages check the designer capability too, so anyone
else gets the 403 page instead of an editor that cannot load.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, render_template, request

from api.authz import Principal, require_user
from api.i18n import MESSAGES, current_language
from engine.errors import NotFoundError, PermissionDeniedError, ValidationError

bp = Blueprint("designer", __name__)

# A definition key as the BPMN process id / DMN definitions id allows it (an NCName, our keys are snake case).
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,254}$")
_PREFIX = "designer_js_"  # the words the page's script shows, handed to it in one JSON block


def may_design(p: Principal) -> bool:
    return p.is_admin or "designer" in p.capabilities


def _designer() -> Principal:
    p = require_user()
    if not may_design(p):
        raise PermissionDeniedError(f"user {p.user_id} may not design processes: only designers and administrators")
    return p


def _key(key: str) -> str:
    if not _KEY.match(key):
        raise NotFoundError(f"no process or decision {key!r}: a key is a BPMN/DMN id such as unit_plan")
    return key


def _words() -> dict[str, str]:
    """The script's words in the page's language (keys without their prefix)."""
    lang = MESSAGES[current_language()]
    return {k[len(_PREFIX) :]: lang.get(k) or v for k, v in MESSAGES["vi"].items() if k.startswith(_PREFIX)}


def _page(template: str, **values: Any) -> Any:
    p = _designer()
    return render_template(template, user=p, words=_words(), **values)


@bp.get("/designer")
def index() -> Any:
    return _page("designer_index.html")


@bp.get("/designer/<key>/<int:version>")
def version(key: str, version: int) -> Any:
    return _page("designer_edit.html", key=_key(key), version=version, draft=False)


@bp.get("/designer/<key>/draft")
def draft(key: str) -> Any:
    return _page("designer_edit.html", key=_key(key), version=None, draft=True)


def _version_arg(name: str) -> int:
    raw = request.args.get(name, "")
    if not raw.isdigit() or not 0 < int(raw) < 2**31:
        raise ValidationError(f"query argument {name!r} must be a version number (1, 2, ...), not {raw!r}")
    return int(raw)


@bp.get("/designer/<key>/diff")
def diff(key: str) -> Any:
    _designer()
    old, new = _version_arg("from"), _version_arg("to")
    return _page("designer_diff.html", key=_key(key), old=old, new=new)
