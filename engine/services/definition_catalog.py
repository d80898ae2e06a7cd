"""What is deployed, for the designers: every process with its versions, the DMN decisions deployed with them,
the files of one version exactly as deployed, and how many instances still run on each version.

Decisions are not deployed on their own: a DMN file travels with the process whose business rule tasks call it
(``engine.core.definitions.parse_files`` puts it in the version's ``sources``). A decision's versions are therefore
the distinct texts of the DMN file that defines it across deployed process versions, numbered in the order they were
first deployed; a version's ``id`` is the definition that first carried it. DMN files deployed alone become new
versions of the processes that carry their decisions (``with_new_decisions``).

Definitions never change once written, so what the list needs from a version's sources (file names, its DMN
files' decisions) is read once per definition and content hash and kept in memory; a list then reads only the
small columns, the new definitions' sources, and one ``GROUP BY`` of the instances that have not ended.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.core.definitions import BPMN_SUFFIXES, DMN_SUFFIXES, FORM_SUFFIXES
from engine.core.dmn import is_dmn
from engine.core.xml_safety import parse_xml
from engine.errors import DefinitionError, NotFoundError
from engine.persistence.models import MAX_VERSION, Definition, Instance

ENDED = ("completed", "cancelled")
MEDIA_TYPES = {"bpmn": "application/xml", "dmn": "application/xml", "form": "application/json"}


def file_kind(name: str) -> str:
    """``bpmn``, ``dmn``, ``form`` (a JSON form or ui-schema) or ``other``."""
    lower = name.lower()
    if lower.endswith(BPMN_SUFFIXES):
        return "bpmn"
    if lower.endswith(DMN_SUFFIXES):
        return "dmn"
    if lower.endswith(FORM_SUFFIXES):
        return "form"
    return "other"


def media_type(name: str) -> str:
    return MEDIA_TYPES.get(file_kind(name), "text/plain")


@dataclass(frozen=True)
class DecisionFile:
    file: str
    text_hash: str
    decisions: tuple[tuple[str, str | None], ...]  # (decision id, name)


@dataclass(frozen=True)
class VersionFiles:
    names: tuple[str, ...]
    dmn: tuple[DecisionFile, ...]


@dataclass
class VersionEntry:
    id: int
    version: int
    deployed_at: datetime
    deployed_by: str | None
    running_instances: int
    files: list[str]
    used_by: list[tuple[str, int]] = field(default_factory=list)  # decisions: the process versions carrying it


@dataclass
class CatalogEntry:
    key: str
    name: str | None
    kind: str  # "process" or "decision"
    versions: list[VersionEntry] = field(default_factory=list)

    @property
    def latest_version(self) -> int | None:
        return max((v.version for v in self.versions), default=None)


_files_cache: dict[tuple[int, str], VersionFiles] = {}
_lock = threading.Lock()


def form_files(sources: dict[str, Any], forms: dict[str, Any]) -> dict[str, str]:
    """Forms kept only in ``Definition.forms`` (no file of theirs in the sources): ``{file name: form key}``."""
    stems = {os.path.splitext(os.path.basename(n))[0] for n in sources if file_kind(n) == "form"}
    return {f"{key}.json": key for key in forms if key not in stems and f"{key}.json" not in sources}


def file_names(row: Definition) -> list[str]:
    """A version's files: its sources and the forms not among them, sorted."""
    return _names(dict(row.sources or {}), dict(row.forms or {}))


def _names(sources: dict[str, Any], forms: dict[str, Any]) -> list[str]:
    return sorted([*sources, *form_files(sources, forms)])


def _decisions_of(name: str, text: str) -> DecisionFile | None:
    try:
        root = parse_xml(text.encode("utf-8"), name).getroot()
    except DefinitionError:
        return None
    if not is_dmn(root):
        return None
    found = tuple(
        (str(node.get("id")), node.get("name"))
        for node in root
        if isinstance(node.tag, str) and etree.QName(node).localname == "decision" and node.get("id")
    )
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return DecisionFile(name, digest, found)


def _version_files(sources: dict[str, Any], forms: dict[str, Any]) -> VersionFiles:
    dmn = [_decisions_of(n, str(t)) for n, t in sorted(sources.items()) if file_kind(n) == "dmn"]
    return VersionFiles(tuple(_names(sources, forms)), tuple(d for d in dmn if d is not None))


def _files_by_id(session: Session, heads: list[Any]) -> dict[int, VersionFiles]:
    """Each definition's VersionFiles, reading the sources only of those not seen before."""
    found: dict[int, VersionFiles] = {}
    missing = []
    for head in heads:
        cached = _files_cache.get((head.id, head.content_hash))
        if cached is None:
            missing.append(head.id)
        else:
            found[head.id] = cached
    columns = (Definition.id, Definition.content_hash, Definition.sources, Definition.forms)  # not the spec JSON
    for start in range(0, len(missing), 200):
        for row in session.execute(select(*columns).where(Definition.id.in_(missing[start : start + 200]))):
            files = _version_files(dict(row.sources or {}), dict(row.forms or {}))
            with _lock:
                _files_cache[(row.id, row.content_hash)] = files
            found[row.id] = files
    return found


def running_counts(session: Session) -> dict[int, int]:
    """Instances that have not ended, per definition id (one query)."""
    query = (
        select(Instance.definition_id, func.count())
        .where(Instance.status.not_in(ENDED))
        .group_by(Instance.definition_id)
    )
    return {int(definition_id): int(count) for definition_id, count in session.execute(query)}


def catalog(session: Session) -> list[CatalogEntry]:
    """Every deployed process (versions newest first) and every decision deployed with one, by key."""
    heads = session.execute(
        select(
            Definition.id,
            Definition.key,
            Definition.version,
            Definition.name,
            Definition.content_hash,
            Definition.deployed_at,
            Definition.deployed_by,
        ).order_by(Definition.deployed_at, Definition.id)
    ).all()
    files = _files_by_id(session, list(heads))
    running = running_counts(session)
    processes: dict[str, CatalogEntry] = {}
    decisions: dict[str, CatalogEntry] = {}
    decision_versions: dict[tuple[str, str], VersionEntry] = {}
    for head in heads:
        entry = processes.setdefault(head.key, CatalogEntry(head.key, head.name, "process"))
        entry.name = head.name or entry.name
        count = running.get(head.id, 0)
        entry.versions.append(
            VersionEntry(head.id, head.version, head.deployed_at, head.deployed_by, count, list(files[head.id].names))
        )
        for dmn in files[head.id].dmn:
            for decision_id, name in dmn.decisions:
                decision = decisions.setdefault(decision_id, CatalogEntry(decision_id, name, "decision"))
                decision.name = name or decision.name
                version = decision_versions.get((decision_id, dmn.text_hash))
                if version is None:
                    number = len(decision.versions) + 1
                    version = VersionEntry(head.id, number, head.deployed_at, head.deployed_by, 0, [dmn.file])
                    decision_versions[(decision_id, dmn.text_hash)] = version
                    decision.versions.append(version)
                version.running_instances += count
                version.used_by.append((head.key, head.version))
    for entry in (*processes.values(), *decisions.values()):
        entry.versions.sort(key=lambda v: v.version, reverse=True)
    return sorted(processes.values(), key=lambda e: e.key) + sorted(
        (d for k, d in decisions.items() if k not in processes), key=lambda e: e.key
    )


@dataclass(frozen=True)
class DeployedVersion:
    """One version of a process, or of a decision (then ``definition`` is the process version that first carried
    it and ``files`` only its DMN file)."""

    key: str
    version: int
    kind: str
    name: str | None
    definition: Definition
    files: list[str]
    running_instances: int


def _process_version(session: Session, key: str, version: int) -> Definition | None:
    if not 1 <= version <= MAX_VERSION:
        return None
    return session.scalar(select(Definition).where(Definition.key == key, Definition.version == version))


def deployed_version(session: Session, key: str, version: int) -> DeployedVersion:
    """Version ``version`` of process or decision ``key`` (a process key is looked up first)."""
    row = _process_version(session, key, version)
    if row is not None:
        running = session.scalar(
            select(func.count()).where(Instance.definition_id == row.id, Instance.status.not_in(ENDED))
        )
        return DeployedVersion(key, version, "process", row.name, row, file_names(row), int(running or 0))
    for entry in catalog(session):
        if entry.key != key:
            continue
        for found in entry.versions:
            if found.version == version:
                carrier = session.get(Definition, found.id)
                assert carrier is not None  # listed a moment ago in the same transaction
                return DeployedVersion(
                    key, version, entry.kind, entry.name, carrier, list(found.files), found.running_instances
                )
        raise NotFoundError(f"{key!r} has no version {version} (the latest is {entry.latest_version})")
    raise NotFoundError(f"nothing named {key!r} is deployed")


def file_text(found: DeployedVersion, name: str) -> str:
    """A file of a deployed version, as deployed: its source text, or a form kept only as its schema."""
    row = found.definition
    sources = dict(row.sources or {})
    if name in found.files and name in sources:
        return str(sources[name])
    extra = form_files(sources, dict(row.forms or {}))
    if name in found.files and name in extra:
        return json.dumps((row.forms or {})[extra[name]], ensure_ascii=False, indent=2) + "\n"
    listed = ", ".join(found.files) or "none"
    raise NotFoundError(
        f"{found.key} v{found.version} has no file {name!r} (its files: {listed})", {"fields": {"name": name}}
    )


def decision_ids(name: str, data: bytes) -> set[str]:
    """The decisions a DMN file defines (none when it does not parse: the deploy then names its problems)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return set()
    found = _decisions_of(name, text)
    return {d for d, _ in found.decisions} if found is not None else set()


def with_new_decisions(session: Session, dmn_files: list[tuple[str, bytes]]) -> list[list[tuple[str, bytes]]]:
    """For DMN files deployed without their process: the file set of every process whose latest version carries
    one of their decisions, with that version's DMN file replaced by the new one (each set to deploy on its own).
    An empty list when no deployed process uses them."""
    wanted = {name: decision_ids(name, data) for name, data in dmn_files}
    newest = select(Definition.key, func.max(Definition.version).label("version")).group_by(Definition.key).subquery()
    latest = session.scalars(
        select(Definition)
        .join(newest, (Definition.key == newest.c.key) & (Definition.version == newest.c.version))
        .order_by(Definition.key)
    )
    sets = []
    for row in latest:
        sources = dict(row.sources or {})
        carried = {dmn.file: {d for d, _ in dmn.decisions} for dmn in _version_files(sources, {}).dmn}
        used = set().union(*carried.values()) if carried else set()
        new = {name for name, ids in wanted.items() if ids & used}
        if not new:
            continue
        replaced = {old for old, ids in carried.items() if any(ids & wanted[name] for name in new)}
        files = {name: str(text).encode("utf-8") for name, text in sources.items() if name not in replaced}
        for name, key in form_files(sources, dict(row.forms or {})).items():
            files[name] = json.dumps((row.forms or {})[key], ensure_ascii=False, indent=2).encode("utf-8")
        files.update((name, data) for name, data in dmn_files if name in new)
        sets.append(sorted(files.items()))
    return sets
