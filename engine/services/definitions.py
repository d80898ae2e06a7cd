"""Deploying definitions (versioned by content hash) and the in-memory cache of parsed specs.

Deploying the same content again changes nothing; changed content for a process key becomes version N+1; running
instances keep pointing at the Definition row they started on. The spec is parsed from JSON at most once per
definition id per process and kept (definitions never change once written), so the hot path never rebuilds it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core.calls import ExternalCall
from engine.core.definitions import ProcessBundle, parse_files, required_connectors
from engine.core.serialization import specs_from_json, specs_to_json
from engine.core.specs import ConnectorServiceTask
from engine.errors import ConflictError, DefinitionError, NotFoundError, Problem
from engine.persistence.models import Definition


@dataclass
class DeployedDefinition:
    key: str
    version: int
    definition_id: int
    status: str  # "created" or "unchanged"
    content_hash: str
    warnings: list[Problem] = field(default_factory=list)


@dataclass
class DeployResult:
    definitions: list[DeployedDefinition]
    warnings: list[Problem]  # every warning of the file set, including unregistered connectors


@dataclass(frozen=True)
class LoadedDefinition:
    id: int
    key: str
    version: int
    name: str | None
    content_hash: str
    spec: BpmnProcessSpec
    subprocess_specs: dict[str, BpmnProcessSpec]
    task_meta: dict[str, dict[str, Any]]
    forms: dict[str, dict[str, Any]]
    has_calls: bool = False  # a call activity somewhere: its steps start and settle called instances

    def call_spec(self, element_id: str) -> ExternalCall | None:
        """The call activity ``element_id`` of this definition (in the process or an embedded subprocess)."""
        for spec in (self.spec, *self.subprocess_specs.values()):
            found = spec.task_specs.get(element_id)
            if isinstance(found, ExternalCall):
                return found
        return None

    def data_names(self, kind: str) -> list[str]:
        """The process's declared data inputs or outputs (``kind`` "inputs" / "outputs"), names in order."""
        io = self.spec.io_specification
        if io is None:
            return []
        return [str(v.bpmn_id) for v in (io.data_inputs if kind == "inputs" else io.data_outputs)]


_cache: dict[tuple[str, int], LoadedDefinition] = {}
_cache_lock = threading.Lock()


def _cache_key(session: Session, definition_id: int) -> tuple[str, int]:
    # The database URL keeps two databases used by one process (tests, tools) apart.
    return (str(session.get_bind().engine.url), definition_id)


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _connector_warnings(bundle: ProcessBundle, connectors: set[str]) -> list[Problem]:
    missing = required_connectors(bundle) - connectors
    warnings = []
    file = next(iter(bundle.sources), bundle.key)
    for spec in (bundle.spec, *bundle.subprocess_specs.values()):
        for task_spec in spec.task_specs.values():
            if isinstance(task_spec, ConnectorServiceTask) and task_spec.connector in missing:
                message = (
                    f"connector {task_spec.connector!r} is not registered; this service task will stop with an "
                    "incident until it is"
                )
                where, line = bundle.locations.get(task_spec.bpmn_id, (spec.file or file, None))
                warnings.append(Problem(where, line, task_spec.bpmn_id, message, "warning"))
    return warnings


def _audit(session: Session, clock: Clock, actor: str | None, row: Definition) -> None:
    try:
        from engine.services.audit import append_event
    except ImportError:  # the audit service is optional for deployment
        return
    data = {"key": row.key, "version": row.version, "content_hash": row.content_hash, "definition_id": row.id}
    append_event(session, clock, stream="system", action="definition.deployed", actor=actor, data=data)


def deploy(
    session: Session,
    files: list[tuple[str, bytes]],
    clock: Clock,
    actor: str | None = None,
    connectors: set[str] | None = None,
) -> DeployResult:
    """Deploy every executable process of ``files``. Raises DefinitionError (nothing saved) on any error."""
    result = parse_files(files)
    if result.errors:
        raise DefinitionError(result.problems)
    if not result.bundles:
        names = ", ".join(name for name, _ in files) or "(no files)"
        raise DefinitionError([Problem(names, None, None, "nothing to deploy: no executable BPMN process found")])
    all_warnings = [p for p in result.problems if p.severity == "warning"]
    deployed = []
    for bundle in result.bundles:
        warnings = list(bundle.warnings)
        if connectors is not None:
            extra = _connector_warnings(bundle, connectors)
            warnings += extra
            all_warnings += [w for w in extra if w not in all_warnings]
        existing = session.scalars(
            select(Definition).where(Definition.key == bundle.key, Definition.content_hash == bundle.content_hash)
        ).first()
        if existing is not None:
            deployed.append(
                DeployedDefinition(
                    bundle.key, existing.version, existing.id, "unchanged", bundle.content_hash, warnings
                )
            )
            continue
        latest = session.scalar(select(func.max(Definition.version)).where(Definition.key == bundle.key)) or 0
        row = Definition(
            key=bundle.key,
            version=latest + 1,
            name=bundle.name,
            content_hash=bundle.content_hash,
            deployed_at=clock.now(),
            deployed_by=actor,
            spec_json=specs_to_json(bundle.spec, bundle.subprocess_specs),
            task_meta=bundle.task_meta,
            sources=bundle.sources,
            forms=bundle.forms,
            warnings=[str(w) for w in warnings],
        )
        session.add(row)
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError:
            raise ConflictError(f"{bundle.key} was deployed by someone else at the same time; deploy again")
        with _cache_lock:  # a reused id (a database emptied and refilled) must not serve an old spec
            _cache.pop(_cache_key(session, row.id), None)
        _audit(session, clock, actor, row)
        deployed.append(DeployedDefinition(bundle.key, row.version, row.id, "created", bundle.content_hash, warnings))
    return DeployResult(deployed, all_warnings)


def load_definition(session: Session, definition_id: int) -> LoadedDefinition:
    """The parsed definition, built from its JSON once per id per process."""
    key = _cache_key(session, definition_id)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    row = session.get(Definition, definition_id)
    if row is None:
        raise NotFoundError(f"definition {definition_id} not found")
    spec, subprocess_specs = specs_from_json(row.spec_json)
    loaded = LoadedDefinition(
        id=row.id,
        key=row.key,
        version=row.version,
        name=row.name,
        content_hash=row.content_hash,
        spec=spec,
        subprocess_specs=subprocess_specs,
        task_meta=dict(row.task_meta or {}),
        forms=dict(row.forms or {}),
        has_calls=any(
            isinstance(t, ExternalCall) for s in (spec, *subprocess_specs.values()) for t in s.task_specs.values()
        ),
    )
    with _cache_lock:
        return _cache.setdefault(key, loaded)


def latest_definition(session: Session, key: str) -> Definition:
    """The newest version of process ``key``."""
    row = session.scalars(select(Definition).where(Definition.key == key).order_by(Definition.version.desc())).first()
    if row is None:
        raise NotFoundError(f"no definition deployed for process {key!r}")
    return row
