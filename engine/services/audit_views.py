"""Read models for auditors: the instance search, an instance's timeline in words, the path its diagram shows,
one stream's chain check, and the rows of an audit export (JSON and CSV carry the same rows).

Reads only. Every function batches its lookups (one query per kind of thing: users, units, tasks, definitions),
never one per event or per instance, and the search is bounded (a page of ``limit`` rows, ``limit`` capped).
"""

from __future__ import annotations

import json
import threading
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from lxml import etree
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from engine.core.business_calendar import LOCAL_TZ
from engine.core.xml_safety import parse_xml
from engine.errors import DefinitionError, ValidationError
from engine.persistence.models import AuditEvent, AuditHead, Definition, HumanTask, Instance, OrgUnit, Role, User
from engine.services.audit import _walk, instance_stream
from engine.services.context import EngineContext
from engine.services.definitions import load_definition
from engine.services.task_context import readable
from engine.services.views import in_units_condition

MAX_PAGE = 500
STATUSES = ("running", "suspended", "incident", "completed", "cancelled")
# The columns of an export row, in order (CSV header); the JSON rows have these keys and also id and task_guid.
EXPORT_COLUMNS = (
    "instance_id",
    "seq",
    "at",
    "at_local",
    "actor",
    "actor_name",
    "action",
    "label",
    "element_id",
    "task_name",
    "unit",
    "unit_name",
    "data",
    "hash",
    "prev_hash",
)


# --- search ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchFilters:
    """What the auditor searches by. Dates are local (Asia/Ho_Chi_Minh) calendar days, both ends included."""

    process: str | None = None
    unit: str | None = None
    business_key: str | None = None  # the key itself or its beginning
    status: str | None = None
    started_from: date | None = None
    started_to: date | None = None
    ended_from: date | None = None
    ended_to: date | None = None
    actor: str | None = None  # a user id, or part of a full name, that acted in the instance's audit events

    def is_empty(self) -> bool:
        return all(getattr(self, name) in (None, "") for name in self.__dataclass_fields__)


_TEXT_FILTERS = ("process", "unit", "business_key", "status", "actor")
_DATE_FILTERS = ("started_from", "started_to", "ended_from", "ended_to")


def filters_from(args: Mapping[str, str]) -> SearchFilters:
    """The search filters from a query string (web form or API); a bad value raises ValidationError naming it."""
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name in _TEXT_FILTERS:
        raw = (args.get(name) or "").strip()
        if len(raw) > 255:
            problems[name] = "at most 255 characters"
        elif raw:
            values[name] = raw
    if values.get("status") and values["status"] not in STATUSES:
        problems["status"] = f"one of {', '.join(STATUSES)}"
    for name in _DATE_FILTERS:
        raw = (args.get(name) or "").strip()
        if not raw:
            continue
        try:
            values[name] = date.fromisoformat(raw)
        except ValueError:
            problems[name] = "a date as YYYY-MM-DD"
    if problems:
        first = next(iter(problems))
        raise ValidationError(f"{first} must be {problems[first]}", {"fields": problems})
    return SearchFilters(**values)


def _day_start(day: date) -> datetime:
    """Midnight of a local calendar day, as an aware datetime (compared with UTC columns)."""
    return datetime.combine(day, time.min, tzinfo=LOCAL_TZ)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def folded(text: str) -> str:
    """Text for matching names as people type them: no case, no tone marks or accents, đ as d, spaces collapsed."""
    plain = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return " ".join(plain.casefold().split())


def actor_ids(session: Session, actor: str) -> list[str]:
    """The user ids ``actor`` names: an exact id, or users whose full name contains it, matched without case or
    tone marks ("hoang minh duc" finds Hoàng Minh Đức). The names are matched here rather than in SQL, where
    lower() knows only ASCII on SQLite: one read of (id, full name), small beside the instances it narrows."""
    actor = actor.strip()
    wanted = folded(actor)
    found = [
        user_id
        for user_id, name in session.execute(select(User.id, User.full_name))
        if user_id == actor or (wanted and wanted in folded(name or ""))
    ]
    return found or [actor]  # a name no user has (e.g. "scheduler") still matches events it wrote


def search_conditions(session: Session, f: SearchFilters, scope: set[str] | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if f.process:
        conditions.append(Instance.definition_key == f.process)
    if f.unit:
        conditions.append(Instance.unit_id == f.unit)
    if f.status:
        conditions.append(Instance.status == f.status)
    if f.business_key:
        key = f.business_key.strip()
        conditions.append(
            or_(Instance.business_key == key, Instance.business_key.like(f"{_escape_like(key)}%", escape="\\"))
        )
    if f.started_from:
        conditions.append(Instance.started_at >= _day_start(f.started_from))
    if f.started_to:
        conditions.append(Instance.started_at < _day_start(f.started_to + timedelta(days=1)))
    if f.ended_from:
        conditions.append(Instance.ended_at >= _day_start(f.ended_from))
    if f.ended_to:
        conditions.append(Instance.ended_at < _day_start(f.ended_to + timedelta(days=1)))
    if f.actor:
        ids = actor_ids(session, f.actor)
        # ix_audit_instance (instance_id, id) serves the semi-join from each candidate instance
        acted = select(AuditEvent.id).where(AuditEvent.instance_id == Instance.id, AuditEvent.actor.in_(ids))
        conditions.append(acted.exists())
    if scope is not None:
        conditions.append(in_units_condition(scope))
    return conditions


@dataclass(frozen=True)
class InstanceRow:
    instance: Instance
    process_name: str
    version: int
    unit_name: str


@dataclass
class SearchPage:
    rows: list[InstanceRow]
    offset: int
    limit: int
    more: bool


def search_instances(
    session: Session, f: SearchFilters, scope: set[str] | None, *, limit: int = 50, offset: int = 0
) -> SearchPage:
    """One page of the instances matching ``f`` that the caller may see (``scope``: their units, None for all),
    newest first, with their process and unit names (three queries whatever the page's size)."""
    limit = max(1, min(limit, MAX_PAGE))
    offset = max(0, offset)
    query = select(Instance).where(*search_conditions(session, f, scope)).order_by(Instance.id.desc())
    found = list(session.scalars(query.limit(limit + 1).offset(offset)))
    return SearchPage(instance_rows(session, found[:limit]), offset, limit, len(found) > limit)


def instance_rows(session: Session, instances: list[Instance]) -> list[InstanceRow]:
    definitions: dict[int, tuple[str | None, int]] = {}
    ids = {i.definition_id for i in instances}
    if ids:
        query = select(Definition.id, Definition.name, Definition.version).where(Definition.id.in_(ids))
        definitions = {d: (name, version) for d, name, version in session.execute(query)}
    units = unit_names(session, {i.unit_id for i in instances if i.unit_id})
    return [
        InstanceRow(
            i,
            definitions.get(i.definition_id, (None, 0))[0] or i.definition_key,
            definitions.get(i.definition_id, (None, 0))[1],
            units.get(i.unit_id or "", i.unit_id or ""),
        )
        for i in instances
    ]


def unit_names(session: Session, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    return dict(session.execute(select(OrgUnit.id, OrgUnit.name).where(OrgUnit.id.in_(ids))).all())


def user_names(session: Session, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.full_name).where(User.id.in_(ids))).all())


def search_choices(session: Session) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The processes (key, newest name) and units (id, name) a search form offers."""
    processes: dict[str, str] = {}
    for key, name in session.execute(select(Definition.key, Definition.name).order_by(Definition.version)):
        processes[key] = name or key
    units = [(u, n) for u, n in session.execute(select(OrgUnit.id, OrgUnit.name).order_by(OrgUnit.name))]
    return sorted(processes.items(), key=lambda kv: kv[1]), units


# --- the diagram -------------------------------------------------------------------------------------------

_BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


@dataclass(frozen=True)
class ModelFacts:
    """What the deployed XML says that the state does not: the file, element names and sequence flows."""

    filename: str | None
    xml: str | None
    names: dict[str, str]
    flows: dict[tuple[str, str], list[str]]  # (sourceRef, targetRef) -> sequence flow ids


_facts_cache: dict[tuple[int, str], ModelFacts] = {}
_facts_lock = threading.Lock()


def model_facts(definition: Definition) -> ModelFacts:
    """The deployed BPMN file of ``definition`` (the one holding its process) parsed safely, once per version."""
    key = (definition.id, definition.content_hash)
    cached = _facts_cache.get(key)
    if cached is not None:
        return cached
    sources = definition.sources or {}
    chosen: tuple[str, str, Any] | None = None
    for filename in sorted(sources):
        text = sources[filename]
        if not filename.lower().endswith(".bpmn") or not isinstance(text, str):
            continue
        try:
            root = parse_xml(text.encode("utf-8"), filename).getroot()
        except DefinitionError:
            continue
        processes = {p.get("id") for p in root.iter(f"{{{_BPMN_NS}}}process")}
        if chosen is None or definition.key in processes:
            chosen = (filename, text, root)
        if definition.key in processes:
            break
    if chosen is None:
        facts = ModelFacts(None, None, {}, {})
    else:
        filename, text, root = chosen
        names: dict[str, str] = {}
        flows: dict[tuple[str, str], list[str]] = {}
        for element in root.iter(etree.Element):
            element_id, name = element.get("id"), element.get("name")
            if element_id and name and element.tag.startswith(f"{{{_BPMN_NS}}}"):
                names[element_id] = " ".join(name.split())
            if element.tag == f"{{{_BPMN_NS}}}sequenceFlow" and element_id:
                pair = (element.get("sourceRef") or "", element.get("targetRef") or "")
                flows.setdefault(pair, []).append(element_id)
        facts = ModelFacts(filename, text, names, flows)
    with _facts_lock:
        if len(_facts_cache) > 256:
            _facts_cache.clear()
        return _facts_cache.setdefault(key, facts)


@dataclass
class DiagramView:
    xml: str | None
    filename: str | None
    completed: list[str] = field(default_factory=list)  # element ids that ran to completion (at least once)
    flows: list[str] = field(default_factory=list)  # sequence flows taken
    waiting: list[str] = field(default_factory=list)  # where it waits now (ready, waiting, started)
    failed: list[str] = field(default_factory=list)  # the incident's element
    counts: dict[str, int] = field(default_factory=dict)  # how often each element completed

    def as_json(self) -> dict[str, Any]:
        return {
            "xml": self.xml,
            "completed": self.completed,
            "flows": self.flows,
            "waiting": self.waiting,
            "failed": self.failed,
            "repeated": {k: n for k, n in sorted(self.counts.items()) if n > 1},  # elements done more than once
        }


_WAITING = TaskState.READY | TaskState.WAITING | TaskState.STARTED


def _named_parent(task: Any) -> Any:
    parent = task.parent
    while parent is not None and not parent.task_spec.bpmn_id:
        parent = parent.parent
    return parent


def diagram(session: Session, ctx: EngineContext, instance: Instance) -> DiagramView:
    """The instance's own definition version's XML and the path its state records: the elements completed, the
    sequence flows between consecutive completed elements, the elements it waits at, the failed one."""
    row = session.get(Definition, instance.definition_id)
    if row is None:
        return DiagramView(None, None)
    facts = model_facts(row)
    view = DiagramView(facts.xml, facts.filename)
    loaded = load_definition(session, instance.definition_id)
    workflow = ctx.codec.load(instance.state, loaded.spec, loaded.subprocess_specs, ctx.script_engine)
    completed: dict[str, int] = {}
    flows: set[str] = set()
    waiting: set[str] = set()
    failed: set[str] = set()
    for task in workflow.get_tasks():
        bpmn_id = task.task_spec.bpmn_id
        if not bpmn_id:
            continue
        if task.state & (TaskState.COMPLETED | _WAITING | TaskState.ERROR):  # reached: the flow into it was taken
            parent = _named_parent(task)
            if parent is not None and parent.state == TaskState.COMPLETED:
                flows.update(facts.flows.get((parent.task_spec.bpmn_id, bpmn_id), []))
        if task.state == TaskState.COMPLETED:
            completed[bpmn_id] = completed.get(bpmn_id, 0) + 1
        elif task.state & _WAITING and instance.status not in ("completed", "cancelled"):
            waiting.add(bpmn_id)
        elif task.state == TaskState.ERROR:
            failed.add(bpmn_id)
    incident = instance.incident or {}
    if instance.status == "incident" and incident.get("element_id"):
        failed.add(str(incident["element_id"]))
    view.completed = sorted(completed)
    view.counts = completed
    view.flows = sorted(flows)
    view.waiting = sorted(waiting - failed)
    view.failed = sorted(failed)
    return view


# --- the timeline ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One data field a step set: its title (from the forms), the value before and after, as people read them."""

    key: str
    title: str
    before: str
    after: str


@dataclass
class TimelineEntry:
    event: AuditEvent
    actor_name: str | None
    task_name: str | None
    unit_id: str | None
    unit_name: str | None
    changes: list[Change] = field(default_factory=list)
    details: list[tuple[str, str]] = field(default_factory=list)  # (title, value) of what the event records


_NOTE_KEYS = {
    "task.returned": ("reason", "previous_assignee"),
    "instance.incident": ("message", "expression"),
    "instance.cancelled": ("reason",),
    "instance.suspended": ("reason",),
    "task.reassigned": ("from", "to", "reason", "assignee", "previous_assignee"),
}


_PEOPLE = ("assignee", "previous_assignee", "from", "to")


def role_names(session: Session, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    return dict(session.execute(select(Role.id, Role.name).where(Role.id.in_(ids))).all())


def local_time(value: str) -> str:
    """An ISO time as people here read it (dd/mm/yyyy HH:MM, Asia/Ho_Chi_Minh); the text itself if it is none."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        return moment.strftime("%d/%m/%Y %H:%M")
    return moment.astimezone(LOCAL_TZ).strftime("%d/%m/%Y %H:%M")


def _form_props(definition: Definition | None) -> dict[str, dict[str, Any]]:
    """Every field of the definition's forms by key (the first form that names it gives its title)."""
    props: dict[str, dict[str, Any]] = {}
    for schema in ((definition.forms or {}) if definition is not None else {}).values():
        for key, prop in ((schema or {}).get("properties") or {}).items():
            if isinstance(prop, dict):
                props.setdefault(key, prop)
    return props


def _shown(prop: dict[str, Any], value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list) and not prop:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return readable(prop, value)


def timelines(session: Session, instances: list[Instance]) -> dict[int, list[TimelineEntry]]:
    """Each instance's events in the order they were written, in words: the actor's full name, the task's name
    (the task row's, else the BPMN element's name), the unit, and the data each step changed, before and after.

    ``before`` is the value the trail last recorded for the field (the start data, earlier submissions); a
    value a script set without an event shows up in the instance's ``instance.completed`` event."""
    if not instances:
        return {}
    ids = [i.id for i in instances]
    events = list(
        session.scalars(
            select(AuditEvent).where(AuditEvent.instance_id.in_(ids)).order_by(AuditEvent.instance_id, AuditEvent.id)
        )
    )
    task_rows = {t.task_guid: t for t in session.scalars(select(HumanTask).where(HumanTask.instance_id.in_(ids)))}
    definitions = {
        d.id: d
        for d in session.scalars(select(Definition).where(Definition.id.in_({i.definition_id for i in instances})))
    }
    people = {e.actor for e in events if e.actor}
    people |= {str(e.data[k]) for e in events if isinstance(e.data, dict) for k in _PEOPLE if e.data.get(k)}
    names = user_names(session, people)
    role_ids = {str(e.data["role"]) for e in events if isinstance(e.data, dict) and e.data.get("role")}
    roles = role_names(session, role_ids)
    unit_ids = {i.unit_id for i in instances if i.unit_id} | {t.unit_id for t in task_rows.values() if t.unit_id}
    unit_ids |= {str(e.data["unit"]) for e in events if isinstance(e.data, dict) and e.data.get("unit")}
    units = unit_names(session, unit_ids)
    by_id = {i.id: i for i in instances}
    out: dict[int, list[TimelineEntry]] = {i: [] for i in ids}
    known: dict[int, dict[str, Any]] = {i: {} for i in ids}
    for event in events:
        instance = by_id[event.instance_id or 0]
        definition = definitions.get(instance.definition_id)
        facts = model_facts(definition) if definition is not None else ModelFacts(None, None, {}, {})
        props = _form_props(definition)
        task = task_rows.get(event.task_guid or "")
        data = event.data if isinstance(event.data, dict) else {}
        unit = (
            (str(data["unit"]) if event.action == "task.created" and data.get("unit") else None)
            or (task.unit_id if task is not None else None)
            or instance.unit_id
        )
        task_name = (task.name if task is not None else None) or facts.names.get(event.element_id or "")
        if task_name is None and event.element_id:
            task_name = event.element_id
        entry = TimelineEntry(
            event, names.get(event.actor or ""), task_name, unit, units.get(unit or "", unit) if unit else None
        )
        state = known[instance.id]
        changed: dict[str, Any] = {}
        if event.action == "instance.started":
            changed = dict(data.get("data") or {})
        elif event.action == "task.completed":
            changed = dict(data.get("changed") or {})
        elif event.action == "instance.completed":
            final = data.get("data") or {}
            changed = (
                {k: v for k, v in final.items() if k not in state or state[k] != v} if isinstance(final, dict) else {}
            )
        for key in sorted(changed, key=lambda k: (k not in props, k)):
            prop = props.get(key) or {}
            before = state.get(key)
            entry.changes.append(
                Change(key, str(prop.get("title") or key), _shown(prop, before), _shown(prop, changed[key]))
            )
            state[key] = changed[key]
        for key in _NOTE_KEYS.get(event.action, ()):
            if data.get(key) not in (None, ""):
                value = names.get(str(data[key]), str(data[key])) if key in _PEOPLE else _shown({}, data[key])
                entry.details.append((key, value))
        if event.action == "task.created":
            if data.get("role"):
                entry.details.append(("role", roles.get(str(data["role"]), str(data["role"]))))
            if data.get("assignee"):
                entry.details.append(("assignee", names.get(str(data["assignee"]), str(data["assignee"]))))
            if data.get("due_at"):
                entry.details.append(("due_at", local_time(str(data["due_at"]))))
        elif event.action == "call.started":
            entry.details.append(("children", ", ".join(str(c) for c in data.get("children") or [])))
        elif event.action == "call.next" and data.get("child"):
            entry.details.append(("children", str(data["child"])))
        elif event.action == "timer.fired" and data.get("due_at"):
            entry.details.append(("due_at", local_time(str(data["due_at"]))))
        out[instance.id].append(entry)
    return out


def timeline(session: Session, instance: Instance) -> list[TimelineEntry]:
    return timelines(session, [instance])[instance.id]


# --- export rows -------------------------------------------------------------------------------------------


def export_row(entry: TimelineEntry, label: str) -> dict[str, Any]:
    """One export row (JSON). The CSV row is ``csv_cells`` of it: the same values, field by field."""
    e = entry.event
    at = e.at
    return {
        "id": e.id,
        "instance_id": e.instance_id,
        "seq": e.seq,
        "at": at.isoformat(),
        "at_local": at.astimezone(LOCAL_TZ).isoformat(),
        "actor": e.actor,
        "actor_name": entry.actor_name,
        "action": e.action,
        "label": label,
        "element_id": e.element_id,
        "task_guid": e.task_guid,
        "task_name": entry.task_name,
        "unit": entry.unit_id,
        "unit_name": entry.unit_name,
        "data": e.data or {},
        "hash": e.hash,
        "prev_hash": e.prev_hash,
    }


# A cell a spreadsheet program would read as a formula (=, +, -, @, or a tab/CR it strips first).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """``text`` as a CSV cell no spreadsheet runs: one starting like a formula gets a leading apostrophe (the
    usual guard; a person's name such as "=HYPERLINK(...)" typed into the directory stays text)."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_cells(row: dict[str, Any]) -> list[str]:
    """The CSV cells of an export row: ``EXPORT_COLUMNS`` in order, data as JSON, empty for none; every cell
    safe to open in a spreadsheet (``spreadsheet_safe``)."""
    cells = []
    for column in EXPORT_COLUMNS:
        value = row[column]
        if column == "data":
            cells.append(json.dumps(value, ensure_ascii=False, sort_keys=True))
        else:
            cells.append(spreadsheet_safe("" if value is None else str(value)))
    return cells


# --- one stream's chain ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainStatus:
    ok: bool
    stream: str
    events: int
    head_seq: int | None
    head_hash: str | None
    bad_seq: int | None = None
    reason: str | None = None


_events = AuditEvent.metadata.tables["audit_event"]
_heads = AuditHead.metadata.tables["audit_head"]


def verify_stream(session: Session, stream: str) -> ChainStatus:
    """Recompute one stream's chain (uq(stream, seq) serves the read): the same checks as ``audit.verify``."""
    head = session.execute(select(_heads.c.seq, _heads.c.hash).where(_heads.c.stream == stream)).first()
    head_seq, head_hash = (head[0], head[1]) if head is not None else (None, None)
    query = (
        select(_events, _heads.c.seq.label("head_seq"), _heads.c.hash.label("head_hash"))
        .outerjoin(_heads, _heads.c.stream == _events.c.stream)
        .where(_events.c.stream == stream)
        .order_by(_events.c.seq)
    )
    rows = list(session.execute(query))
    if not rows:
        if head is not None:
            return ChainStatus(False, stream, 0, head_seq, head_hash, head_seq, "the stream's events are gone")
        return ChainStatus(True, stream, 0, None, None)
    bad = _walk(rows)
    if not isinstance(bad, tuple):
        return ChainStatus(False, stream, len(rows), head_seq, head_hash, bad.bad_seq, bad.reason)
    return ChainStatus(True, stream, len(rows), head_seq, head_hash)


def instance_chain(session: Session, instance_id: int) -> ChainStatus:
    return verify_stream(session, instance_stream(instance_id))
