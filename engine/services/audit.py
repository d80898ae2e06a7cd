"""The append-only, hash-chained audit trail: appending events, verifying the chain, reading an instance's events.

Events live in streams ("instance:42" for everything about one instance, "system" for the rest). Appending costs
three statements however many events: read the stream's head, move the head under a ``WHERE seq = :old`` guard
(a concurrent writer makes it match nothing: ConflictError), bulk-insert the events. The head is moved before
the events go in so that on PostgreSQL a second writer waits on the head row and then fails the guard cleanly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, exists, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core.audit_chain import GENESIS_HASH, event_hash, json_safe, utc
from engine.errors import ConflictError, ValidationError
from engine.persistence.models import AuditEvent, AuditHead
from engine.persistence.prepared import Prepared

SYSTEM_STREAM = "system"
EVENT_KEYS = frozenset({"action", "actor", "instance_id", "task_guid", "element_id", "data"})

# The Core tables (typed as Table): bulk statements skip the ORM's unit of work on the hot path.
_events = AuditEvent.metadata.tables["audit_event"]
_heads = AuditHead.metadata.tables["audit_head"]
_EVENT_COLUMNS = (
    "stream",
    "seq",
    "at",
    "actor",
    "action",
    "instance_id",
    "task_guid",
    "element_id",
    "data",
    "prev_hash",
    "hash",
)


def instance_stream(instance_id: int) -> str:
    return f"instance:{instance_id}"


def _chain(
    stream: str, start_seq: int, prev_hash: str, at: datetime, events: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The rows to insert: each event numbered, normalised to what the database gives back, and hashed."""
    rows = []
    for offset, event in enumerate(events):
        unknown = set(event) - EVENT_KEYS
        if unknown or not event.get("action"):
            problem = f"unknown keys {sorted(unknown)}" if unknown else "action is required"
            raise ValidationError(f"audit event {offset}: {problem}", {"fields": {f"events[{offset}]": problem}})
        try:
            data = json_safe(event.get("data") or {})
        except TypeError as err:
            raise ValidationError(f"audit event {event['action']}: {err}", {"fields": {"data": str(err)}})
        row = {
            "stream": stream,
            "seq": start_seq + offset,
            "at": at,
            "actor": event.get("actor"),
            "action": event["action"],
            "instance_id": event.get("instance_id"),
            "task_guid": event.get("task_guid"),
            "element_id": event.get("element_id"),
            "data": data,
            "prev_hash": prev_hash,
        }
        prev_hash = row["hash"] = event_hash(prev_hash, row)
        rows.append(row)
    return rows


# Compiled once and run on the driver's cursor: they run on every step of every instance.
_READ_HEAD = Prepared(select(_heads.c.seq, _heads.c.hash).where(_heads.c.stream == bindparam("stream")))
_NEW_HEAD = Prepared(insert(_heads).values(stream=bindparam("stream"), seq=bindparam("seq"), hash=bindparam("hash")))
_MOVE_HEAD = Prepared(
    update(_heads)
    .where(_heads.c.stream == bindparam("b_stream"), _heads.c.seq == bindparam("b_old_seq"))
    .values(seq=bindparam("b_seq"), hash=bindparam("b_hash"))
)
_INSERT_EVENTS = Prepared(insert(_events).values({name: bindparam(name) for name in _EVENT_COLUMNS}))


def append_events(
    session: Session,
    clock: Clock,
    stream: str,
    events: list[dict[str, Any]],
    *,
    head: tuple[int, str] | None = None,
) -> list[dict[str, Any]]:
    """Append ``events`` (dicts with action, actor, instance_id, task_guid, element_id, data) to one stream.

    All get the same time (the clock's now, in UTC, microseconds). Returns the rows written (with seq and hash).
    ``head`` is the stream's (seq, hash) when the caller read it in the same transaction ((0, "") for a stream
    with no events yet); it saves reading it again, and the guarded move still catches a concurrent writer.
    """
    if not events:
        return []
    # Truncated to what both backends keep (microseconds) and in UTC, so the value read back hashes the same.
    at = utc(clock.now())
    # Prepared statements on the session's connection: same transaction, none of the per-call work.
    conn = session.connection()
    if head is None:
        found = _READ_HEAD.all(conn, {"stream": stream})
        head = (found[0][0], found[0][1]) if found else (0, "")
    old_seq = head[0]
    rows = _chain(stream, old_seq + 1, head[1] if old_seq else GENESIS_HASH, at, events)
    new_seq, new_hash = rows[-1]["seq"], rows[-1]["hash"]
    try:
        if not old_seq:
            _NEW_HEAD.run(conn, {"stream": stream, "seq": new_seq, "hash": new_hash})
        else:  # in a batch (prepared.batched) its row count is checked when the batch ends: no wait for it here
            moved = {"b_stream": stream, "b_old_seq": old_seq, "b_seq": new_seq, "b_hash": new_hash}
            concurrent = ConflictError(f"audit stream {stream} was appended to concurrently; retry")
            _MOVE_HEAD.run(conn, moved, expect=1, error=concurrent)
        _INSERT_EVENTS.many(conn, rows)
    except IntegrityError:
        # the stream's first events, or events at the same seq, written by someone else
        raise ConflictError(f"audit stream {stream} was appended to concurrently; retry")
    return rows


def append_event(
    session: Session,
    clock: Clock,
    *,
    stream: str,
    action: str,
    actor: str | None,
    instance_id: int | None = None,
    task_guid: str | None = None,
    element_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event and return it as a persistent ``AuditEvent`` (one more statement than the bulk path)."""
    event = {
        "action": action,
        "actor": actor,
        "instance_id": instance_id,
        "task_guid": task_guid,
        "element_id": element_id,
        "data": data,
    }
    (row,) = append_events(session, clock, stream, [event])
    found = session.scalars(select(AuditEvent).where(AuditEvent.stream == stream, AuditEvent.seq == row["seq"]))
    return found.one()


def events_for_instance(session: Session, instance_id: int) -> list[AuditEvent]:
    """Every event about one instance, oldest first (its own stream plus any system event naming it)."""
    query = select(AuditEvent).where(AuditEvent.instance_id == instance_id).order_by(AuditEvent.id)
    return list(session.scalars(query))


# --- verification ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    events: int  # events checked
    streams: int
    bad_event_id: int | None = None
    bad_stream: str | None = None
    bad_seq: int | None = None
    reason: str | None = None

    def __str__(self) -> str:
        if self.ok:
            return f"audit log intact: {self.events} events in {self.streams} streams"
        where = f"event {self.bad_event_id}" if self.bad_event_id is not None else "stream"
        return f"audit log broken at {where} (stream {self.bad_stream}, seq {self.bad_seq}): {self.reason}"


# Each event comes with its stream's head (outer join: a stream may have lost its head). Streamed in batches
# (a server-side cursor on PostgreSQL) so a million events never sit in memory at once.
_CHAIN_ORDER = (
    select(_events, _heads.c.seq.label("head_seq"), _heads.c.hash.label("head_hash"))
    .outerjoin(_heads, _heads.c.stream == _events.c.stream)
    .order_by(_events.c.stream, _events.c.seq)
    .execution_options(yield_per=2000)
)


def _check_end(last: Any, count: int, streams: int) -> VerifyResult | None:
    if last.head_seq is None:
        reason = "the stream has no head record (head removed)"
    elif last.head_seq != last.seq:
        reason = f"the stream ends at seq {last.seq} but its head records seq {last.head_seq} (events removed or added)"
    elif last.head_hash != last.hash:
        reason = "the stream's last hash differs from the one its head records"
    else:
        return None
    return VerifyResult(False, count, streams, last.id, last.stream, last.seq, reason)


def verify(session: Session) -> VerifyResult:
    """Recompute every hash and check links, seq contiguity from 1 and each stream's head.

    On PostgreSQL a session not yet in a transaction (a request's read session runs in autocommit) reads in one
    REPEATABLE READ transaction: the server-side cursor needs one, and the whole chain is read as of one moment."""
    if session.get_bind().dialect.name == "postgresql" and not session.in_transaction():
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    rows = session.execute(_CHAIN_ORDER)
    try:
        bad = _walk(rows)
    finally:
        rows.close()  # stopping early must not leave the server-side cursor open
    if not isinstance(bad, tuple):
        return bad
    count, streams = bad
    orphan = session.execute(
        select(_heads.c.stream, _heads.c.seq).where(~exists().where(_events.c.stream == _heads.c.stream)).limit(1)
    ).first()
    if orphan is not None:
        reason = "the stream's head exists but all its events are gone"
        return VerifyResult(False, count, streams, None, orphan.stream, orphan.seq, reason)
    return VerifyResult(True, count, streams)


def _walk(rows: Iterable[Any]) -> VerifyResult | tuple[int, int]:
    """The first bad event in chain order, or (events, streams) when every stream checks out."""
    count = streams = 0
    last: Any = None
    prev_hash = GENESIS_HASH
    for row in rows:
        if last is None or row.stream != last.stream:
            if last is not None and (bad := _check_end(last, count, streams)):
                return bad
            streams += 1
            expected_seq, prev_hash = 1, GENESIS_HASH
        else:
            expected_seq = last.seq + 1
        count += 1
        reason = None
        if row.seq != expected_seq:
            reason = f"seq {row.seq} where {expected_seq} was expected (an event was removed, added or moved)"
        elif row.prev_hash != prev_hash:
            reason = "its prev_hash does not match the previous event's hash"
        elif event_hash(row.prev_hash, row._asdict()) != row.hash:
            reason = "its content does not match its hash (the event was altered)"
        if reason:
            return VerifyResult(False, count, streams, row.id, row.stream, row.seq, reason)
        prev_hash, last = row.hash, row
    if last is not None and (bad := _check_end(last, count, streams)):
        return bad
    return count, streams
