"""Definitions for the designers: what is deployed (processes and their DMN decisions, with versions and running
instances), a version's files exactly as deployed, drafts, and linting and deploying a set of files.

Reading is for designers, administrators and auditors; drafts, lint and deploy for designers and administrators
(``api.authz.ROUTES``). Lint and deploy take the files as ``multipart/form-data`` (parts named ``files``, as a
browser's ``FormData`` sends them) or as JSON ``{"files": {name: text}}``, and run the very checks of ``tdkt lint``
(``engine.core.definitions.parse_files``); a deployment with any error answers 422 naming every problem.

This blueprint sits beside the ``api_v1`` parent rather than under it, because the parent refuses every body that
is not JSON: it runs the same before-request checks itself (``_body_type``, then ``authorize_route``), and lets
``multipart/form-data`` through to lint and deploy only. A cross-site form can send multipart, so such a request
must come from this site (its ``Origin`` / ``Sec-Fetch-Site``), besides the SameSite session cookie a cross-site
request does not carry.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, jsonify, request
from sqlalchemy.orm import Session
from werkzeug.exceptions import Forbidden

from api.authz import authorize_route, require_user
from api.context import engine_context, read_sessions, sessions
from api.security import require_json
from api.v1.schemas import (
    DefinitionList,
    DefinitionProblems,
    DefinitionVersionDetail,
    DeployOut,
    DraftIn,
    DraftOut,
    FilesForm,
    FilesIn,
    LintOut,
)
from api.v1.serialize import iso
from api.v1.spec import api, responses
from api.v1.spec import check_request as _check_json_request
from engine.core.definitions import parse_files
from engine.errors import DefinitionError, Problem, ValidationError
from engine.persistence.models import DefinitionDraft
from engine.services.definition_catalog import (
    catalog,
    decision_ids,
    deployed_version,
    file_kind,
    file_text,
    media_type,
    with_new_decisions,
)
from engine.services.definitions import DeployResult
from engine.services.definitions import deploy as deploy_files
from engine.services.drafts import delete_draft, drafts_by_key, get_draft, name_problem, save_draft

# The name starts with "api_v1": api.security treats the blueprint as the API (bearer tokens and their scopes).
bp = Blueprint("api_v1_definitions", __name__, url_prefix="/api/v1")
TAGS = ("definitions",)
MAX_FILES = 100
MULTIPART = "multipart/form-data"
VERSION = "/definitions/<key>/versions/<int:version>"
FILE_ROUTE = VERSION + "/files/<path:name>"


def _problem(p: Problem) -> dict[str, Any]:
    return {
        "file": p.file,
        "line": p.line,
        "element_id": p.element_id,
        "severity": "warning" if p.severity == "warning" else "error",
        "message": p.message,
    }


def _draft_ref(row: DefinitionDraft | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"updated_at": iso(row.updated_at), "updated_by": row.updated_by, "based_on_version": row.based_on_version}


def _draft_kind(row: DefinitionDraft) -> str:
    names = [file_kind(n) for n in row.files or {}]
    return "decision" if "dmn" in names and "bpmn" not in names else "process"


@bp.get("/definitions")
@api.validate(resp=responses(HTTP_200=DefinitionList), tags=TAGS)
def index() -> Any:
    """Every deployed process and decision with its versions (newest first), the instances still running on each
    version, and the draft if there is one; drafts never deployed are listed too (no versions)."""
    with read_sessions()() as db:
        entries = catalog(db)
        drafts = drafts_by_key(db)
        items = [
            {
                "key": e.key,
                "name": e.name,
                "kind": e.kind,
                "latest_version": e.latest_version,
                "versions": [
                    {
                        "id": v.id,
                        "version": v.version,
                        "deployed_at": iso(v.deployed_at),
                        "deployed_by": v.deployed_by,
                        "running_instances": v.running_instances,
                        "files": v.files,
                        "used_by": [{"key": k, "version": n} for k, n in v.used_by],
                    }
                    for v in e.versions
                ],
                "draft": _draft_ref(drafts.get(e.key)),
            }
            for e in entries
        ]
        listed = {e.key for e in entries}
        items += [
            {
                "key": d.key,
                "name": None,
                "kind": _draft_kind(d),
                "latest_version": None,
                "versions": [],
                "draft": _draft_ref(d),
            }
            for key, d in sorted(drafts.items())
            if key not in listed
        ]
    return jsonify(items=items)


@bp.get(VERSION)
@api.validate(resp=responses(HTTP_200=DefinitionVersionDetail), tags=TAGS)
def version(key: str, version: int) -> Any:
    """One deployed version: its files (with their kinds and media types) and the warnings it was deployed with."""
    with read_sessions()() as db:
        found = deployed_version(db, key, version)
        row = found.definition
        return jsonify(
            key=found.key,
            version=found.version,
            id=row.id,
            name=found.name,
            kind=found.kind,
            deployed_at=iso(row.deployed_at),
            deployed_by=row.deployed_by,
            content_hash=row.content_hash,
            running_instances=found.running_instances,
            files=[{"name": n, "kind": file_kind(n), "media_type": media_type(n)} for n in found.files],
            warnings=[str(w) for w in row.warnings or []] if found.kind == "process" else [],
        )


@bp.get(FILE_ROUTE)
@api.validate(resp=responses(HTTP_200=None), tags=TAGS)  # the file's own media type: see describe_document
def file(key: str, version: int, name: str) -> Any:
    """A file of a deployed version, byte for byte as deployed: ``application/xml`` for BPMN and DMN,
    ``application/json`` for forms."""
    with read_sessions()() as db:
        text = file_text(deployed_version(db, key, version), name)
    return Response(text, mimetype=media_type(name))


# --- drafts ---------------------------------------------------------------------------------------------------


def _draft(row: DefinitionDraft) -> dict[str, Any]:
    return {
        "key": row.key,
        "files": dict(row.files or {}),
        "updated_at": iso(row.updated_at),
        "updated_by": row.updated_by,
        "based_on_version": row.based_on_version,
    }


@bp.get("/definitions/<key>/draft")
@api.validate(resp=responses(HTTP_200=DraftOut), tags=TAGS)
def show_draft(key: str) -> Any:
    """The draft of ``key``: its files as last saved (404 if there is none)."""
    with read_sessions()() as db:
        return jsonify(_draft(get_draft(db, key)))


@bp.put("/definitions/<key>/draft")
@api.validate(json=DraftIn, resp=responses(HTTP_200=DraftOut), tags=TAGS)
def put_draft(key: str) -> Any:
    """Save the draft of ``key`` exactly as given (it need not lint): plain ``*.bpmn``, ``*.dmn`` and ``*.json``
    file names, at most 50 files and 2 MiB in all."""
    p = require_user()
    data: DraftIn = request.context.json  # type: ignore[attr-defined]
    ctx = engine_context()
    with sessions()() as db, db.begin():
        row = save_draft(db, ctx.clock, key, data.files, actor=p.user_id, based_on_version=data.based_on_version)
        answer = _draft(row)
    return jsonify(answer)


@bp.delete("/definitions/<key>/draft")
@api.validate(resp=responses(HTTP_204=None), tags=TAGS)
def remove_draft(key: str) -> Any:
    """Throw the draft of ``key`` away (404 if there is none)."""
    p = require_user()
    with sessions()() as db, db.begin():
        get_draft(db, key)
        delete_draft(db, key, engine_context().clock, actor=p.user_id)
    return "", 204


# --- lint and deploy -------------------------------------------------------------------------------------------


def _check_body(req: Any, resp: Any, error: Exception | None, instance: Any, adapter: Any) -> None:
    """spectree's request check: multipart bodies are not JSON, so the JSON check applies to JSON bodies only."""
    if req.mimetype == MULTIPART:
        if error is not None:
            raise ValidationError(
                "the request does not match the API's schema",
                {"fields": {"files": "one or more file parts named 'files'"}},
            )
        return
    _check_json_request(req, resp, error, instance, adapter)


def _uploaded() -> tuple[list[tuple[str, bytes]], list[Problem]]:
    """The request's files, and a problem for each one whose name is refused (left out of the set)."""
    if request.mimetype == MULTIPART:
        parts = request.files.getlist("files")
        if not parts and request.form.getlist("files"):
            raise ValidationError(
                "send each file as a file part named 'files' (with its file name), not as a text field",
                {"fields": {"files": "must be files"}},
            )
        given = [(part.filename or "", part.read()) for part in parts]
    else:
        body: FilesIn = request.context.json  # type: ignore[attr-defined]
        given = [(name, text.encode("utf-8")) for name, text in body.files.items()]
    if not given:
        raise ValidationError("no files: send one or more files (parts named 'files')", {"fields": {"files": "empty"}})
    if len(given) > MAX_FILES:
        raise ValidationError(f"at most {MAX_FILES} files at once ({len(given)} given)", {"fields": {"files": "many"}})
    files: list[tuple[str, bytes]] = []
    problems: list[Problem] = []
    for name, content in given:
        problem = name_problem(name)
        if problem is None and any(name == seen for seen, _ in files):
            problem = "the same file name is given twice"
        if problem is not None:
            problems.append(Problem(name or "(no file name)", None, None, problem))
        else:
            files.append((name, content))
    return files, problems


def _lint_answer(problems: list[Problem]) -> dict[str, Any]:
    return {"ok": not any(p.severity == "error" for p in problems), "problems": [_problem(p) for p in problems]}


@bp.post("/definitions/lint")
@api.validate(json=FilesIn, form=FilesForm, resp=responses(HTTP_200=LintOut), tags=TAGS, before=_check_body)
def lint() -> Any:
    """Every problem of a set of files, as ``tdkt lint`` finds them (``ok``: no errors); nothing is saved."""
    files, problems = _uploaded()
    if files:
        problems += parse_files(files).problems
    return jsonify(_lint_answer(problems))


@bp.post("/definitions/deploy")
@api.validate(
    json=FilesIn,
    form=FilesForm,
    resp=responses(HTTP_201=DeployOut, HTTP_422=DefinitionProblems),
    tags=TAGS,
    before=_check_body,
)
def deploy() -> Any:
    """Deploy the executable processes of a set of files: a new version only when the content changed
    (``unchanged``: the same content was deployed before); a deployed key's draft is removed. DMN files sent
    without any BPMN file become a new version of every process whose latest version carries their decisions.
    With any error nothing is deployed and the answer is 422 with every problem."""
    p = require_user()
    ctx = engine_context()
    files, refused = _uploaded()
    try:
        if refused:
            raise DefinitionError(refused)
        with sessions()() as db, db.begin():
            if _decisions_only(files):
                results, keys = _deploy_decisions(db, files, p.user_id)
            else:
                results = [deploy_files(db, files, ctx.clock, actor=p.user_id, connectors=ctx.connectors.names())]
                keys = []
            keys += [d.key for r in results for d in r.definitions]
            removed = [
                key
                for key in dict.fromkeys(keys)
                if delete_draft(db, key, ctx.clock, actor=p.user_id, reason="deployed")
            ]
    except DefinitionError as err:
        body = {
            "error": {"code": err.code, "message": err.message, "details": err.details},
            "problems": [_problem(x) for x in err.problems],
        }
        return jsonify(body), 422
    deployed = [
        {"key": d.key, "version": d.version, "id": d.definition_id, "unchanged": d.status == "unchanged"}
        for r in results
        for d in r.definitions
    ]
    warnings = list(dict.fromkeys(w for r in results for w in r.warnings))
    return jsonify(deployed=deployed, problems=[_problem(w) for w in warnings], drafts_deleted=removed), 201


def _decisions_only(files: list[tuple[str, bytes]]) -> bool:
    kinds = {file_kind(name) for name, _ in files}
    return "dmn" in kinds and "bpmn" not in kinds


def _deploy_decisions(db: Session, files: list[tuple[str, bytes]], actor: str) -> tuple[list[DeployResult], list[str]]:
    """DMN files without their process: a new version of every process whose latest version carries one of their
    decisions, with the new DMN in place of the old (``with_new_decisions``). Returns the results and the
    decisions' keys (their drafts go too)."""
    ctx = engine_context()
    dmn = [(name, data) for name, data in files if file_kind(name) == "dmn"]
    problems = parse_files(dmn).problems
    if any(x.severity == "error" for x in problems):
        raise DefinitionError(problems)
    sets = with_new_decisions(db, dmn)
    if not sets:
        names = ", ".join(name for name, _ in dmn)
        message = (
            "nothing to deploy: no deployed process uses the decisions of this DMN file; deploy it together with "
            "the BPMN file whose business rule task calls it"
        )
        raise DefinitionError([Problem(names, None, None, message)])
    results = [deploy_files(db, one, ctx.clock, actor=actor, connectors=ctx.connectors.names()) for one in sets]
    return results, sorted({d for name, data in dmn for d in decision_ids(name, data)})


# --- the request checks this blueprint runs itself (see the module's docstring) --------------------------------


def _same_site() -> None:
    """A multipart body must come from a page of this site (browsers say where a request comes from)."""
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        raise Forbidden("a multipart request must come from this site")
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != request.host:
        raise Forbidden(f"a multipart request must come from this site, not {origin}")


MULTIPART_ENDPOINTS = {f"{bp.name}.lint", f"{bp.name}.deploy"}


@bp.before_request
def _body_type() -> None:
    if request.mimetype == MULTIPART and request.endpoint in MULTIPART_ENDPOINTS:
        _same_site()
        return
    require_json()


bp.before_request(authorize_route)


def register(app: Flask) -> None:
    app.register_blueprint(bp)


def describe_document(spec: dict[str, Any]) -> None:
    """What spectree cannot say by itself: the file download answers the file's own media type."""
    path = "/api/v1" + FILE_ROUTE.replace("<key>", "{key}").replace("<int:version>", "{version}")
    operation = spec.get("paths", {}).get(path.replace("<path:name>", "{name}"), {}).get("get")
    if operation is None:
        return
    answer = operation["responses"].setdefault("200", {})
    answer["description"] = "the file's text as deployed"
    answer["content"] = {
        "application/xml": {"schema": {"type": "string"}},
        "application/json": {"schema": {"type": "string"}},
        "text/plain": {"schema": {"type": "string"}},
    }
