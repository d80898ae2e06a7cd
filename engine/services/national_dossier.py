"""The electronic dossier of a national-award proposal (Decree 152/2025 Art. 33, 34): the package the province
sends to the Ministry of Home Affairs' system, built from the instance's own records.

A ``national_proposal`` instance (``bpmn/national_proposal.bpmn``) and its relatives hold everything the package
says: the candidates still proposed and the screen's withheld ones (its task data), the Council's counts (the
calling ``nomination`` instance's ``council_results``) and the threshold that applied (the result's own share, or
``rules/council.yaml`` on the round's ``rules_date``), the Party standing committee's opinion and each hiệp y
answer (the national instance's completions), and the documents: the attachments the candidates' dossiers
(``nomination_dossier`` instances), their units' council reviews (``unit_nomination``), the round and the
national steps referred to, the tờ trình uploaded on the open ``nprop_submit`` task, and the Council's minutes
(``instance_document``).

The package is a ZIP: ``manifest.json`` (validated against ``schemas/national_dossier_manifest.schema.json``)
and the documents under ``documents/``. It is deterministic — entries sorted, fixed timestamps and permissions,
the manifest's keys sorted, no build time — so the same records give the same bytes and its sha256 names it.

Who may build or download it is the caller's check; ``record_download`` writes the audit event.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core.runtime import find_task
from engine.core.tally import rules_in_force
from engine.errors import ConflictError, EngineError, NotFoundError, ValidationError
from engine.persistence.models import Attachment, HumanTask, Instance, InstanceDocument, OrgUnit
from engine.services import attachments
from engine.services.audit import append_event, events_for_instance, instance_stream
from engine.services.calls import descendants
from engine.services.context import EngineContext
from engine.services.council_meeting import council_rules
from engine.services.council_pages import award_names
from engine.services.instance_store import OPEN, json_safe, load_instance
from engine.services.instances import get_instance, instance_data

PROCESS = "national_proposal"
SUBMIT_TASK = "nprop_submit"
SCHEMA_VERSION = 1
SCHEMA_FILE = Path(__file__).resolve().parent / "schemas" / "national_dossier_manifest.schema.json"
MEDIA_TYPE = "application/zip"
# 1980-01-01, the earliest time a ZIP entry can carry: a constant, so the bytes never depend on when they were made.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_MINUTES_KINDS = ("council_minutes",)


@dataclass(frozen=True)
class Package:
    instance_id: int
    filename: str
    content: bytes
    sha256: str
    manifest: dict[str, Any]
    manifest_sha256: str


@dataclass
class _Doc:
    path: str
    name: str
    media_type: str
    content: bytes
    source: str  # attachment | instance_document
    ref: int
    step: str
    candidate_id: str | None = None
    unit_id: str | None = None


@lru_cache(maxsize=1)
def manifest_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return schema


def validate_manifest(manifest: dict[str, Any]) -> None:
    """ValidationError naming every place where ``manifest`` breaks the shipped schema."""
    validator = jsonschema.Draft202012Validator(manifest_schema())
    problems = {
        "/".join(str(p) for p in err.absolute_path) or "(manifest)": err.message
        for err in sorted(validator.iter_errors(manifest), key=lambda e: list(map(str, e.absolute_path)))
    }
    if problems:
        listed = "; ".join(f"{k}: {v}" for k, v in problems.items())
        raise ValidationError(f"the dossier's manifest does not match its schema: {listed}", {"fields": problems})


def national_instance(session: Session, instance_id: int) -> Instance:
    """The instance, which must be a national proposal (NotFoundError otherwise: it has no such dossier)."""
    row = get_instance(session, instance_id)
    if row.definition_key != PROCESS:
        raise NotFoundError(
            f"instance {instance_id} is a {row.definition_key}, not a {PROCESS}: it has no national dossier"
        )
    return row


def submit_task(session: Session, instance_id: int) -> HumanTask | None:
    """The instance's ``nprop_submit`` task (the open one, else the latest)."""
    query = (
        select(HumanTask)
        .where(HumanTask.instance_id == instance_id, HumanTask.element_id == SUBMIT_TASK)
        .order_by(HumanTask.id.desc())
    )
    rows = list(session.scalars(query))
    return next((r for r in rows if r.status in OPEN), rows[0] if rows else None)


def _safe(name: str) -> str:
    cleaned = re.sub(r"[^0-9A-Za-z._-]+", "_", name).strip("._")
    return cleaned[:120] or "tep"


def _attachment_docs(session: Session, instance_id: int, folder: str, **owner: Any) -> list[_Doc]:
    """The attachments an instance's completed steps referred to (engine.services.attachments.documents_of)."""
    found = attachments.documents_of(session, instance_id, events_for_instance(session, instance_id))
    docs = []
    for d in found:
        row = attachments.get(session, d.id)
        docs.append(
            _Doc(
                f"documents/{folder}/a{d.id}-{_safe(d.name)}",
                d.name,
                d.media_type,
                attachments.content_of(row),
                "attachment",
                d.id,
                d.field,
                **owner,
            )
        )
    return docs


def _submission_file(session: Session, task: HumanTask | None) -> list[_Doc]:
    """The tờ trình uploaded on the open submission task (its form's ``submission_file``), the latest one."""
    if task is None or task.status not in OPEN:
        return []
    row = session.scalars(
        select(Attachment)
        .where(
            Attachment.instance_id == task.instance_id,
            Attachment.task_guid == task.task_guid,
            Attachment.field == "submission_file",
        )
        .order_by(Attachment.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return []
    path = f"documents/submission/a{row.id}-{_safe(row.filename)}"
    return [
        _Doc(path, row.filename, row.media_type, attachments.content_of(row), "attachment", row.id, "submission_file")
    ]


def _minutes(session: Session, instance_ids: list[int]) -> list[_Doc]:
    rows = session.scalars(
        select(InstanceDocument)
        .where(InstanceDocument.instance_id.in_(instance_ids), InstanceDocument.kind.in_(_MINUTES_KINDS))
        .order_by(InstanceDocument.id)
    )
    return [
        _Doc(
            f"documents/council/d{r.id}-{_safe(r.filename)}",
            r.filename,
            r.media_type,
            r.content,
            "instance_document",
            r.id,
            r.kind,
        )
        for r in rows
    ]


def _threshold(result: dict[str, Any], award: str, rules_date: Any) -> dict[str, Any] | None:
    """The share of votes the award needed and what it was counted on: the tally's own, else the rules in force."""
    if result.get("share") is not None:
        return {"share": str(result["share"]), "counted_on": str(result.get("counted_on") or "membership")}
    try:
        day = date.fromisoformat(str(rules_date)[:10])
        threshold = rules_in_force(council_rules(), day).threshold(award)
    except (ValueError, EngineError):
        return None
    return {"share": str(threshold.share), "counted_on": threshold.counted_on}


def _consultation_documents(session: Session, ctx: EngineContext, instance_id: int) -> dict[tuple[str, str], str]:
    """(candidate, agency) -> the agency's written answer's number, from the completed hiệp y tasks' data."""
    rows = list(
        session.scalars(
            select(HumanTask).where(
                HumanTask.instance_id == instance_id,
                HumanTask.element_id == "nprop_consultation",
                HumanTask.status == "completed",
            )
        )
    )
    if not rows:
        return {}
    workflow = load_instance(session, ctx, instance_id).workflow
    found: dict[tuple[str, str], str] = {}
    for row in rows:
        task = find_task(workflow, row.task_guid)
        item = task.data.get("consultation") if task is not None else None
        if isinstance(item, dict) and task is not None:
            document = task.data.get("consultation_document")
            found[(str(item.get("candidate_id")), str(item.get("agency")))] = str(document) if document else ""
    return found


def _unit_names(session: Session, ids: set[str]) -> dict[str, str]:
    return {u: n for u, n in session.execute(select(OrgUnit.id, OrgUnit.name).where(OrgUnit.id.in_(ids)))}


def build_package(
    session: Session, ctx: EngineContext, instance_id: int, *, submission: dict[str, Any] | None = None
) -> Package:
    """The dossier of a national proposal as a deterministic ZIP. ``submission``: the tờ trình's ``number`` and
    ``date`` when the officer gives them before the form is completed (else the completed form's, else none)."""
    row = national_instance(session, instance_id)
    data = instance_data(session, ctx, row.id)
    if "proposed" not in data:
        raise ConflictError(
            f"instance {row.id} has not reached the submission yet (the Party committee's opinion and the hiệp y "
            "come first): there is no dossier to build"
        )
    parent = instance_data(session, ctx, row.parent_id) if row.parent_id is not None else {}
    task = submit_task(session, row.id)
    number = (submission or {}).get("number") or data.get("submission_number")
    day = (submission or {}).get("date") or data.get("submitted_date")

    proposed = [c for c in data.get("proposed") or [] if isinstance(c, dict)]
    ids = {str(c.get("candidate_id")) for c in proposed}
    units = {str(c.get("unit_id") or "") for c in proposed}
    docs: list[_Doc] = []
    docs += _attachment_docs(session, row.id, "national")
    docs += _submission_file(session, task)
    if row.parent_id is not None:
        docs += _attachment_docs(session, row.parent_id, "round")
        family = descendants(session, row.parent_id)
        docs += _minutes(session, [row.parent_id, *(r.id for r in family)])
        for child in family:
            if child.definition_key == "nomination_dossier":
                candidate = instance_data(session, ctx, child.id).get("candidate") or {}
                cid = str(candidate.get("candidate_id") or "")
                if cid in ids:
                    docs += _attachment_docs(session, child.id, f"candidates/{_safe(cid)}", candidate_id=cid)
            elif child.definition_key == "unit_nomination" and child.unit_id in units:
                docs += _attachment_docs(
                    session, child.id, f"units/{_safe(child.unit_id or '')}", unit_id=child.unit_id
                )
    docs = sorted({d.path: d for d in docs}.values(), key=lambda d: d.path)

    results = {
        (r.get("candidate_id"), r.get("award")): r for r in parent.get("council_results") or [] if isinstance(r, dict)
    }
    refused = {
        str(r.get("candidate_id")): str(r.get("reason") or "")
        for r in data.get("party_not_agreed") or []
        if isinstance(r, dict)
    }
    answers = _consultation_documents(session, ctx, row.id)
    consulted = [c for c in data.get("consulted") or [] if isinstance(c, dict)]
    agency_names = {
        str(c.get("agency")): str(c.get("agency_name") or "")
        for c in data.get("consultations") or []
        if isinstance(c, dict)
    }
    awards = award_names()
    names = _unit_names(session, units | {row.unit_id or ""})
    candidates = []
    for c in sorted(proposed, key=lambda c: str(c.get("candidate_id"))):
        cid, award, unit = str(c.get("candidate_id")), str(c.get("award") or ""), str(c.get("unit_id") or "")
        result = results.get((c.get("candidate_id"), award)) or {}
        council = None
        if result:
            council = {
                "passed": bool(result.get("passed")),
                "agree": int(result.get("agree") or 0),
                "disagree": int(result.get("disagree") or 0),
                "members": int(result.get("members") or 0),
                "threshold": _threshold(result, award, data.get("rules_date")),
            }
        candidates.append(
            {
                "candidate_id": cid,
                "name": str(c.get("name") or ""),
                "kind": str(c.get("kind") or ""),
                "unit": {"id": unit, "name": names.get(unit, unit)},
                "award": {"code": award, "name": awards.get(award, award)},
                "enterprise": bool(c.get("enterprise")),
                "council": council,
                "party_opinion": {"agreed": cid not in refused, "reason": refused.get(cid) or None},
                "consultations": [
                    {
                        "agency": str(k.get("agency")),
                        "agency_name": agency_names.get(str(k.get("agency")), ""),
                        "answer": str(k.get("answer")),
                        "document": answers.get((cid, str(k.get("agency")))) or None,
                    }
                    for k in sorted(consulted, key=lambda k: str(k.get("agency")))
                    if str(k.get("candidate_id")) == cid
                ],
                "documents": [d.path for d in docs if d.candidate_id == cid or (d.unit_id and d.unit_id == unit)],
            }
        )
    manifest: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "kind": "tdkt.national_award_dossier",
        "province": {"id": row.unit_id or "", "name": names.get(row.unit_id or "", row.unit_id or "")},
        "instance": {"id": row.id, "business_key": row.business_key, "campaign_year": data.get("campaign_year")},
        "rules": {
            "version": data.get("rules_version"),
            "date": str(data["rules_date"]) if data.get("rules_date") else None,
        },
        "submission": {"number": str(number) if number else None, "date": str(day) if day else None},
        "party_opinion": {
            "document_number": data.get("party_document_number"),
            "decision": data.get("party_decision"),
        },
        "candidates": candidates,
        "withheld": [
            {"candidate_id": str(w.get("candidate_id")), "reason": str(w.get("reason"))}
            for w in data.get("withheld") or []
            if isinstance(w, dict)
        ],
        "documents": [
            {
                "path": d.path,
                "name": d.name,
                "media_type": d.media_type,
                "size": len(d.content),
                "sha256": hashlib.sha256(d.content).hexdigest(),
                "source": d.source,
                "source_id": d.ref,
                "field": d.step,
                "candidate_id": d.candidate_id,
                "unit_id": d.unit_id,
            }
            for d in docs
        ],
    }
    manifest = json_safe(manifest)
    validate_manifest(manifest)
    manifest_bytes = json.dumps(manifest, ensure_ascii=False, sort_keys=True, indent=2).encode("utf-8") + b"\n"
    content = _zip([("manifest.json", manifest_bytes), *((d.path, d.content) for d in docs)])
    digest = hashlib.sha256(content).hexdigest()
    return Package(
        row.id,
        f"ho-so-dien-tu-{row.id}-{digest[:12]}.zip",
        content,
        digest,
        manifest,
        hashlib.sha256(manifest_bytes).hexdigest(),
    )


def _zip(entries: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in sorted(entries, key=lambda e: e[0]):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so the permissions below mean the same everywhere
            info.external_attr = 0o644 << 16
            archive.writestr(info, content, compresslevel=9)
    return buffer.getvalue()


def record_download(session: Session, ctx: EngineContext, package: Package, actor: str, *, via: str) -> None:
    """The audit event of a package built and handed to someone (``via``: web or api)."""
    append_event(
        session,
        ctx.clock,
        stream=instance_stream(package.instance_id),
        action="national_dossier.downloaded",
        actor=actor,
        instance_id=package.instance_id,
        data={
            "sha256": package.sha256,
            "manifest_sha256": package.manifest_sha256,
            "size": len(package.content),
            "documents": len(package.manifest["documents"]),
            "via": via,
        },
    )
