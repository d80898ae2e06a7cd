"""The audit log for auditors and administrators: export (JSON pages or CSV) and verification of the chain."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, jsonify, request

from api.authz import instance_scope, require_user
from api.context import read_sessions
from api.i18n import event_label
from api.v1.schemas import AuditSearchOut, AuditSearchQuery, ExportOut, ExportQuery, VerifyOut
from api.v1.serialize import iso
from api.v1.spec import api, responses
from engine.errors import EngineError, ValidationError
from engine.persistence.models import AuditEvent
from engine.services.api_reads import audit_page
from engine.services.audit import verify
from engine.services.audit_views import (
    EXPORT_COLUMNS,
    TimelineEntry,
    csv_cells,
    export_row,
    filters_from,
    spreadsheet_safe,
    timelines,
)
from engine.services.audit_views import search_instances as search

bp = Blueprint("audit", __name__)
TAGS = ("audit",)
CSV_COLUMNS = ("id", "stream", "seq", "at", "actor", "action", "instance_id", "element_id", "task_guid", "data")
CSV_COLUMNS_END = ("prev_hash", "hash")


def _when(name: str, raw: str | None) -> datetime | None:
    """An ISO date (midnight UTC) or time (UTC when it names no offset)."""
    if raw is None:
        return None
    try:
        if "T" in raw:
            value = datetime.fromisoformat(raw)
        else:
            value = datetime.combine(date.fromisoformat(raw), datetime.min.time())
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValidationError(f"{name} must be an ISO date or time", {"fields": {name: "an ISO date or time"}})


def _event(e: AuditEvent) -> dict[str, Any]:
    return {
        "id": e.id,
        "stream": e.stream,
        "seq": e.seq,
        "at": iso(e.at),
        "actor": e.actor,
        "action": e.action,
        "instance_id": e.instance_id,
        "element_id": e.element_id,
        "task_guid": e.task_guid,
        "data": e.data or {},
        "prev_hash": e.prev_hash,
        "hash": e.hash,
    }


@bp.get("/audit/events")
@api.validate(
    query=ExportQuery,
    resp=responses(HTTP_200=None),  # two media types: described by api.v1.spec.document(), checked here
    tags=TAGS,
)
def export() -> Any:
    """Audit events in the order they were written, filtered by instance, action and time; page with
    ``after_id`` (JSON: ``next_after_id``). ``format=csv`` answers ``text/csv`` with the same columns."""
    q: ExportQuery = request.context.query  # type: ignore[attr-defined]
    answer_format(q.format)
    since, until = _when("since", q.since), _when("until", q.until)
    with read_sessions()() as db:
        rows = [
            _event(e)
            for e in audit_page(
                db,
                instance_id=q.instance,
                action=q.action,
                since=since,
                until=until,
                after_id=q.after_id,
                limit=q.limit,
            )
        ]
    following = rows[-1]["id"] if len(rows) == q.limit else None
    if q.format == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow((*CSV_COLUMNS, *CSV_COLUMNS_END))
        for row in rows:
            cells = [row[c] for c in CSV_COLUMNS]
            cells[-1] = json.dumps(row["data"], ensure_ascii=False, sort_keys=True)
            writer.writerow(
                [spreadsheet_safe("" if c is None else str(c)) for c in cells] + [row["prev_hash"], row["hash"]]
            )
        return Response(
            out.getvalue(),
            mimetype="text/csv",
            headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
        )
    answer = {"events": rows, "next_after_id": following}
    ExportOut.model_validate(answer)  # the JSON branch is checked here (spectree cannot check a CSV answer)
    return jsonify(answer)


@bp.get("/audit/verify")
@api.validate(resp=responses(HTTP_200=VerifyOut), tags=TAGS)
def check() -> Any:
    """Recompute the hash chain: ``ok`` is true when no event was altered, removed or added."""
    with read_sessions()() as db:
        result = verify(db)
    return jsonify(
        ok=result.ok,
        events=result.events,
        streams=result.streams,
        bad_event_id=result.bad_event_id,
        bad_stream=result.bad_stream,
        bad_seq=result.bad_seq,
        reason=result.reason,
        message=str(result),
    )


# --- the auditor's exports: rows in words, the same in JSON and CSV ------------------------------------------


class BadParameter(EngineError):
    """A query parameter with a value the route does not know (400, naming the parameter)."""

    code = "bad_parameter"


def answer_format(value: str | None) -> str:
    """``json`` or ``csv``; anything else is refused naming the ``format`` parameter."""
    fmt = (value or "json").lower()
    if fmt not in ("json", "csv"):
        raise BadParameter(
            f"format must be json or csv, not {value!r}", {"fields": {"format": "json or csv"}, "parameter": "format"}
        )
    return fmt


def rows_of(entries: list[TimelineEntry]) -> list[dict[str, Any]]:
    return [export_row(e, event_label(e.event.action)) for e in entries]


def csv_answer(rows: list[dict[str, Any]], filename: str) -> Response:
    """The rows as CSV: UTF-8 with a byte order mark (so spreadsheet programs read Vietnamese right)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        writer.writerow(csv_cells(row))
    return Response(
        "\ufeff" + out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.get("/audit/export")
@api.validate(
    query=AuditSearchQuery,
    resp=responses(HTTP_200=None),  # two media types: described by api.v1.spec.document(), checked here
    tags=TAGS,
)
def export_search() -> Any:
    """The audit trails of the instances an instance search finds (the web page's filters: process, unit,
    business key, status, start and end dates, who acted), a page of ``limit`` instances at a time, one row per
    event; ``format=csv`` answers the same rows as ``text/csv``."""
    p = require_user()
    q: AuditSearchQuery = request.context.query  # type: ignore[attr-defined]
    fmt = answer_format(q.format)
    filters = filters_from({k: v for k, v in request.args.items() if k not in ("format", "limit", "offset")})
    with read_sessions()() as db:
        page = search(db, filters, instance_scope(p), limit=q.limit, offset=q.offset)
        instances = [r.instance for r in page.rows]
        trails = timelines(db, instances)
        rows = [row for i in instances for row in rows_of(trails[i.id])]
    if fmt == "csv":
        return csv_answer(rows, "audit-search.csv")
    following = None
    if page.more:
        args = {k: v for k, v in request.args.items() if k != "offset"}
        following = f"{request.path}?{urlencode({**args, 'offset': q.offset + q.limit})}"
    answer = {"instances": [i.id for i in instances], "events": rows, "next": following}
    AuditSearchOut.model_validate(answer)
    return jsonify(answer)
