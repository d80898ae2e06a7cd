"""One initiative supports one award, across rounds and years: the check a completion goes through, and the uses
it records in the register (``engine.services.initiatives``).

**Driven by the form.** A form marks a field as an initiative's reference with ``"x-tdkt-initiative": true`` (the
unit council's list, the sudden proposal). When a person completes a task with such a form
(``tasks._complete``, every path: API, web, CLI, the simulation), each non-empty reference in the submission must:
be in the register; belong to the task's unit (or the entry's ``unit_id``); be recognised on or before the day of
the submission; have at least the reach the entry claims (``initiative_provincial`` → province,
``initiative_national`` → national); and not be held by a use of another proposal. Otherwise the completion is
refused (ValidationError, 422) naming the field's path and, for a held one, the earlier use; nothing is saved.
On success the uses are recorded ``pending`` in the step's own transaction (a reference repeated within one list
is recorded once: the process's own in-list check, ``unom_number``, does not count it again).

**Which uses hold.** ``pending`` (the round is deciding) and ``granted`` hold the initiative; ``released`` (the
candidate was not awarded, or the proposal was cancelled) frees it. The outcome is *derived when checking*
(``settle``), from what the rounds themselves recorded, never guessed early: the proposal's own result once it
ended (``unit_result``: the head's unit-level awards and refusals, dossiers rejected at appraisal), and the
Chairman's signed decision on the round (``award.decision_signed``: certificates and refusals, the Council's
included). A national candidate the province proposed stays ``pending`` (the central level decides). A
partial unique index keeps at most one holding use per initiative, so two rounds completing at once cannot both
take it (the second gets a conflict).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.errors import ConflictError, ValidationError
from engine.persistence.models import AuditEvent, HumanTask, Initiative, InitiativeUse, Instance
from engine.services.audit import append_event, instance_stream
from engine.services.context import EngineContext
from engine.services.initiatives import REACHES, local_today, normalise, stream_of

MARK = "x-tdkt-initiative"
HOLDING = ("pending", "granted")
CLAIMS = (("initiative_national", "national"), ("initiative_provincial", "province"))
_paths_cache: dict[int, tuple[Any, list[tuple[str, ...]]]] = {}


def marked_paths(schema: dict[str, Any] | None) -> list[tuple[str, ...]]:
    """The fields a form marks as initiative references, as paths ("*" for a list's items), cached per schema."""
    if not schema:
        return []
    cached = _paths_cache.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    found: list[tuple[str, ...]] = []

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if not isinstance(node, dict):
            return
        if node.get(MARK) is True:
            found.append(path)
            return
        for key, prop in (node.get("properties") or {}).items():
            walk(prop, (*path, str(key)))
        if isinstance(node.get("items"), dict):
            walk(node["items"], (*path, "*"))

    walk(schema, ())
    _paths_cache[id(schema)] = (schema, found)
    return found


@dataclass(frozen=True)
class Reference:
    """A reference in a submission: its field's path, the entry (object) holding it, its entry number."""

    path: str
    entry: dict[str, Any]
    index: int | None
    value: str


def references(schema: dict[str, Any] | None, data: Any) -> list[Reference]:
    """Every non-empty initiative reference in ``data`` at a field ``schema`` marks."""
    found: list[Reference] = []

    def walk(value: Any, rest: tuple[str, ...], done: tuple[str, ...], holder: Any, index: int | None) -> None:
        if not rest:
            if isinstance(value, str) and value.strip() and isinstance(holder, dict):
                found.append(Reference("/".join(done), holder, index, value))
            return
        head, tail = rest[0], rest[1:]
        if head == "*":
            if isinstance(value, list):
                for n, item in enumerate(value):
                    walk(item, tail, (*done, str(n)), item, n)
        elif isinstance(value, dict) and head in value:
            walk(value[head], tail, (*done, head), value, index)

    for path in marked_paths(schema):
        walk(data, path, (), data, None)
    return found


def shown_path(path: str) -> str:
    """``unit_candidates/2/initiative_ref`` as people read a path: ``unit_candidates[2].initiative_ref``."""
    out = ""
    for part in path.split("/"):
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


# --- the outcome of a use, from what the rounds recorded -------------------------------------------------------


def _matches(item: Any, use: InitiativeUse) -> bool:
    return isinstance(item, dict) and item.get("candidate_id") == use.candidate_id and item.get("award") == use.award


def _decided(session: Session, use: InitiativeUse) -> str | None:
    """granted / released when the rounds have said so, else None (still pending)."""
    proposal = session.get(Instance, use.instance_id)
    if proposal is None or proposal.status == "cancelled":
        return "released"
    result = proposal.output if isinstance(proposal.output, dict) else None
    if result is not None:
        if any(_matches(a, use) for a in result.get("unit_awards") or []):
            return "granted"
        if any(_matches(a, use) for a in result.get("unit_refused") or []):
            return "released"
        if any(_matches(d, use) and d.get("status") == "rejected" for d in result.get("dossiers") or []):
            return "released"
    if proposal.parent_id is None:
        return None
    round_row = session.get(Instance, proposal.parent_id)
    if round_row is not None and round_row.status == "cancelled":
        return "released"
    signed = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.stream == instance_stream(proposal.parent_id), AuditEvent.action == "award.decision_signed")
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).first()
    data = (signed.data or {}) if signed is not None else {}
    if use.candidate_id in (data.get("certificates") or {}):
        return "granted"
    if use.candidate_id in (data.get("refused") or {}):
        return "released"
    return None


def settle(session: Session, ctx: EngineContext, use: InitiativeUse, actor: str | None = None) -> str:
    """A pending use's outcome, recorded (and audited) once the rounds have decided it."""
    if use.outcome != "pending":
        return use.outcome
    outcome = _decided(session, use)
    if outcome is None:
        return use.outcome
    use.outcome, use.decided_at = outcome, ctx.now()
    session.flush()
    append_event(
        session, ctx.clock, stream=stream_of(use.initiative_id), action="initiative.use_decided", actor=actor,
        instance_id=use.instance_id, data={"use_id": use.id, "outcome": outcome, "candidate_id": use.candidate_id},
    )  # fmt: skip
    return outcome


def outcome_of(session: Session, use: InitiativeUse) -> str:
    """What a use's outcome is now, for reading (nothing written)."""
    return use.outcome if use.outcome != "pending" else (_decided(session, use) or "pending")


# --- the check a completion goes through ----------------------------------------------------------------------


def _problem(
    fields: dict[str, str], problems: dict[str, dict[str, Any]], ref: Reference, text: str, **why: Any
) -> None:
    fields[ref.path] = f"{shown_path(ref.path)}: {text}"
    problems[ref.path] = {"rule": "initiative", "reference": ref.value.strip()[:200], **why}


def check_completion(
    session: Session, ctx: EngineContext, row: HumanTask, user_id: str, schema: Any, data: Any, task_data: Any
) -> None:
    """Before ``row`` is completed with ``data``: the checks above, then the uses recorded (pending)."""
    found = references(schema, data)
    if not found:
        return
    keys = {normalise(r.value) for r in found}
    register = {
        i.reference_key: i for i in session.scalars(select(Initiative).where(Initiative.reference_key.in_(keys)))
    }
    instance = session.get(Instance, row.instance_id)
    round_id = (instance.root_id or instance.id) if instance is not None else row.instance_id
    context = task_data if isinstance(task_data, dict) else {}
    today = local_today(ctx.clock)
    year = int(context.get("campaign_year") or today.year)
    fields: dict[str, str] = {}
    problems: dict[str, dict[str, Any]] = {}
    taken: dict[str, Reference] = {}
    for ref in found:
        key = normalise(ref.value)
        initiative = register.get(key)
        if initiative is None:
            _problem(
                fields, problems, ref, f"initiative {ref.value.strip()!r} is not in the register", reason="unknown"
            )
            continue
        name = f"initiative {initiative.reference!r}"
        units = {row.unit_id, ref.entry.get("unit_id")} - {None}
        if initiative.unit_id not in units:
            proposing = ", ".join(sorted(str(u) for u in units)) or "this unit"
            text = f"{name} belongs to unit {initiative.unit_id}, not to {proposing}"
            _problem(fields, problems, ref, text, reason="other_unit", unit=initiative.unit_id)
            continue
        if initiative.recognised_on > today:
            day = initiative.recognised_on.isoformat()
            _problem(fields, problems, ref, f"{name} is recognised only on {day}", reason="not_yet", day=day)
            continue
        claimed = next((reach for flag, reach in CLAIMS if ref.entry.get(flag) is True), "unit")
        if REACHES.index(initiative.reach) < REACHES.index(claimed):
            text = f"{name} has {initiative.reach} reach, the entry claims {claimed}"
            _problem(fields, problems, ref, text, reason="reach", reach=initiative.reach, claimed=claimed)
            continue
        holder = held_by(session, ctx, initiative, row.instance_id, user_id)
        if holder is not None:
            text = (
                f"{name} already supports {holder.candidate_name} ({holder.award}, round #{holder.round_id}, "
                f"{holder.year}, {holder.outcome})"
            )
            why = {"candidate": holder.candidate_name, "award": holder.award, "round": holder.round_id}
            _problem(fields, problems, ref, text, reason="held", year=holder.year, **why)
            continue
        taken.setdefault(key, ref)
    if fields:
        listed = "; ".join(fields.values())
        raise ValidationError(f"task {row.id} relies on initiatives it may not use: {listed}",
                              {"fields": fields, "problems": problems})  # fmt: skip
    _record(session, ctx, row, user_id, [(register[k], r) for k, r in taken.items()], round_id, year, context)


def held_by(
    session: Session, ctx: EngineContext, initiative: Initiative, instance_id: int, actor: str
) -> InitiativeUse | None:
    """The use of another proposal that holds the initiative (settled first), if any."""
    uses = session.scalars(
        select(InitiativeUse).where(
            InitiativeUse.initiative_id == initiative.id,
            InitiativeUse.outcome.in_(HOLDING),
            InitiativeUse.instance_id != instance_id,
        )
    ).all()
    for use in uses:
        if settle(session, ctx, use, actor) in HOLDING:
            return use
    return None


def _record(
    session: Session,
    ctx: EngineContext,
    row: HumanTask,
    user_id: str,
    found: list[tuple[Initiative, Reference]],
    round_id: int,
    year: int,
    context: dict[str, Any],
) -> None:
    # A step completed again in the same proposal (a loop) replaces what it relied on before.
    session.execute(
        delete(InitiativeUse).where(InitiativeUse.instance_id == row.instance_id, InitiativeUse.outcome == "pending")
    )
    unit = context.get("unit_id") or row.unit_id
    for initiative, ref in found:
        # the process numbers its entries as unom_number does: UNIT-YEAR-N
        candidate_id = ref.entry.get("candidate_id") or (
            f"{unit}-{context.get('campaign_year', year)}-{ref.index + 1}" if ref.index is not None else None
        )
        use = InitiativeUse(
            initiative_id=initiative.id,
            candidate_id=str(candidate_id)[:64] if candidate_id else None,
            candidate_name=str(ref.entry.get("name") or "")[:300],
            award=str(ref.entry.get("award") or "")[:64],
            instance_id=row.instance_id,
            round_id=round_id,
            task_id=row.id,
            field=ref.path,
            year=year,
            outcome="pending",
            used_at=ctx.now(),
        )
        session.add(use)
        try:
            session.flush()
        except IntegrityError:  # another round took it since the check (the partial unique index)
            raise ConflictError(f"initiative {initiative.reference!r} was just taken by another proposal; retry")
        append_event(
            session, ctx.clock, stream=stream_of(initiative.id), action="initiative.used", actor=user_id,
            instance_id=row.instance_id, task_guid=row.task_guid, element_id=row.element_id,
            data={"use_id": use.id, "candidate_id": use.candidate_id, "candidate": use.candidate_name,
                  "award": use.award, "field": ref.path, "round_id": round_id, "year": year},
        )  # fmt: skip
