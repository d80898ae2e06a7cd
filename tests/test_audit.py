"""The hash-chained audit trail: appending, verifying, and catching every kind of tampering done with SQL."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import IS_POSTGRES
from engine_helpers import driver_statements
from sqlalchemy import bindparam, select, text

from engine.core.audit_chain import GENESIS_HASH, canonical_json, event_hash, format_time, json_safe
from engine.errors import ConflictError, ValidationError
from engine.persistence.db import make_engine, make_session_factory
from engine.persistence.models import AuditEvent, AuditHead
from engine.persistence.schema import upgrade
from engine.services.audit import append_event, append_events, events_for_instance, instance_stream, verify

TDKT = str(Path(sys.executable).parent / "tdkt")

# --- the pure chain ----------------------------------------------------------------------------------------


def test_canonical_json_sorts_keys_and_keeps_vietnamese_text():
    assert canonical_json({"b": 1, "a": ["Sở Nội vụ", None]}) == '{"a":["Sở Nội vụ",null],"b":1}'


def test_times_have_one_spelling_per_instant():
    hanoi = timezone(timedelta(hours=7))
    assert format_time(datetime(2024, 3, 19, 9, 0, tzinfo=hanoi)) == "2024-03-19T02:00:00.000000Z"
    assert format_time(datetime(2024, 3, 19, 2, 0, 0, 5, tzinfo=UTC)) == "2024-03-19T02:00:00.000005Z"


def test_json_safe_converts_plain_values_and_refuses_the_rest():
    when = datetime(2024, 3, 19, 2, tzinfo=UTC)
    assert json_safe({1: (when, date(2024, 1, 2)), "d": Decimal("2"), "s": {3}}) == {
        "1": ["2024-03-19T02:00:00.000000Z", "2024-01-02"],
        "d": 2,
        "s": [3],
    }
    with pytest.raises(TypeError, match=r"data\.x: a object"):
        json_safe({"x": object()})
    with pytest.raises(TypeError, match="naive datetime"):
        json_safe({"x": datetime(2024, 3, 19)})
    with pytest.raises(TypeError, match="not valid JSON"):
        json_safe({"x": float("nan")})


def test_event_hash_covers_every_field_and_the_previous_hash():
    fields = {"stream": "system", "seq": 1, "at": datetime(2024, 3, 19, tzinfo=UTC), "action": "x", "data": {}}
    base = event_hash(GENESIS_HASH, fields)
    assert len(base) == 64 and base == event_hash(GENESIS_HASH, dict(fields, at="2024-03-19T00:00:00.000000Z"))
    assert event_hash("1" * 64, fields) != base
    for name, value in [("seq", 2), ("actor", "u"), ("instance_id", 1), ("task_guid", "g"), ("data", {"a": 1})]:
        assert event_hash(GENESIS_HASH, dict(fields, **{name: value})) != base, name


# --- appending and verifying -------------------------------------------------------------------------------

ODD_DATA = {
    "ngày": datetime(2024, 3, 19, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=7))),
    "điểm": 9.5,
    "big": 10**18,
    "pair": (1, 2),
    "nested": {"z": None, "a": True, "m": [{"y": 1, "x": "Bình Dương"}]},
}


def seed(sessions, clock) -> dict[tuple[str, int], int]:
    """Two streams: system (3 events) and instance:1 (4 events). Returns {(stream, seq): id}."""
    with sessions() as s, s.begin():
        append_event(s, clock, stream="system", action="org.loaded", actor="admin", data={"units": 6})
    clock.advance(timedelta(seconds=1))
    with sessions() as s, s.begin():
        append_events(
            s,
            clock,
            instance_stream(1),
            [
                {"action": "instance.started", "actor": "an", "instance_id": 1, "data": ODD_DATA},
                {"action": "task.created", "actor": None, "instance_id": 1, "task_guid": "t1", "element_id": "Lap"},
            ],
        )
    clock.advance(timedelta(microseconds=7))
    with sessions() as s, s.begin():
        append_event(s, clock, stream="system", action="definition.deployed", actor="designer")
        append_event(s, clock, stream=instance_stream(1), action="task.claimed", actor="an", instance_id=1)
        append_event(s, clock, stream=instance_stream(1), action="task.completed", actor="an", instance_id=1)
        append_event(s, clock, stream="system", action="user.changed", actor="admin", data={"user": "an"})
    with sessions() as s:
        return {(e.stream, e.seq): e.id for e in s.scalars(select(AuditEvent))}


def test_appended_events_verify_and_read_back_as_hashed(sessions, clock):
    ids = seed(sessions, clock)
    assert len(ids) == 7
    with sessions() as s, s.begin():
        result = verify(s)
        assert result.ok and (result.events, result.streams) == (7, 2)
        assert str(result) == "audit log intact: 7 events in 2 streams"
        events = events_for_instance(s, 1)
        assert [e.action for e in events] == ["instance.started", "task.created", "task.claimed", "task.completed"]
        first = events[0]
        assert first.at == datetime(2024, 3, 19, 2, 0, 1, tzinfo=UTC)
        assert first.data["ngày"] == "2024-03-19T02:30:15.123456Z" and first.data["pair"] == [1, 2]
        assert events[2].at == datetime(2024, 3, 19, 2, 0, 1, 7, tzinfo=UTC)
        assert events[1].prev_hash == first.hash and first.prev_hash == GENESIS_HASH
        head = s.get(AuditHead, "instance:1")
        assert head is not None and (head.seq, head.hash) == (4, events[-1].hash)


def test_bad_events_are_refused_before_anything_is_written(sessions, clock):
    with sessions() as s, s.begin():
        with pytest.raises(ValidationError, match=r"data\.when: naive datetime"):
            append_event(s, clock, stream="system", action="x", actor=None, data={"when": datetime(2024, 1, 1)})
        with pytest.raises(ValidationError, match="unknown keys"):
            append_events(s, clock, "system", [{"action": "x", "colour": "red"}])
        assert append_events(s, clock, "system", []) == []
        assert s.scalars(select(AuditEvent)).first() is None


def test_append_events_costs_three_statements_however_many_events(sessions, clock, db_engine):
    with sessions() as s, s.begin():
        s.execute(select(1))  # the transaction has begun; count only what append_events sends
        with driver_statements(s) as statements:
            append_events(s, clock, "system", [{"action": "a", "actor": "u"}])  # new stream: head inserted
            first = list(statements)
            statements.clear()
            append_events(s, clock, "system", [{"action": f"e{i}", "actor": "u", "data": {"i": i}} for i in range(50)])
            second = list(statements)
    assert first == ["SELECT", "INSERT", "INSERT"]
    # executemany: the driver runs the INSERT once per row, as one prepared statement
    assert second[:2] == ["SELECT", "UPDATE"] and second[2:] == ["INSERT"] * 50
    with sessions() as s:
        assert verify(s).events == 51


# --- tampering, done directly in the database --------------------------------------------------------------


def rehash_sql(sessions, event_id: int, data: dict) -> None:
    """What a careful forger does: change the data and give the event a correct hash for it."""
    with sessions() as s, s.begin():
        row = s.get(AuditEvent, event_id)
        assert row is not None
        fields = {c: getattr(row, c) for c in ("stream", "seq", "at", "actor", "action", "instance_id")}
        fields.update(task_guid=row.task_guid, element_id=row.element_id, data=data)
        new_hash = event_hash(row.prev_hash, fields)
        s.execute(
            text("UPDATE audit_event SET data = :d, hash = :h WHERE id = :id"),
            {"d": canonical_json(data), "h": new_hash, "id": event_id},
        )


I1 = "instance:1"
BAD_HASH = "a" * 64
# case: (SQL statements given the ids as n[(stream, seq)], the (stream, seq) verify must name, its reason)
TAMPERING = {
    "data altered": (
        lambda n: [f"UPDATE audit_event SET data = '{{\"units\": 7}}' WHERE id = {n[I1, 2]}"],
        (I1, 2),
        "altered",
    ),
    "actor altered": (
        lambda n: [f"UPDATE audit_event SET actor = 'mallory' WHERE id = {n[I1, 3]}"],
        (I1, 3),
        "altered",
    ),
    "middle removed": (lambda n: [f"DELETE FROM audit_event WHERE id = {n[I1, 2]}"], (I1, 3), "seq 3 where 2 was"),
    "newest removed": (lambda n: [f"DELETE FROM audit_event WHERE id = {n[I1, 4]}"], (I1, 3), "head records seq 4"),
    "seqs swapped": (
        lambda n: [
            f"UPDATE audit_event SET seq = -1 WHERE id = {n[I1, 2]}",
            f"UPDATE audit_event SET seq = 2 WHERE id = {n[I1, 3]}",
            f"UPDATE audit_event SET seq = 3 WHERE id = {n[I1, 2]}",
        ],
        (I1, 3),  # the event that was seq 3 is the first out of place (now at seq 2)
        "prev_hash does not match",
    ),
    "hash replaced": (
        lambda n: [f"UPDATE audit_event SET hash = '{BAD_HASH}' WHERE id = {n[I1, 3]}"],
        (I1, 3),
        "altered",
    ),
    "head removed": (lambda n: ["DELETE FROM audit_head WHERE stream = 'instance:1'"], (I1, 4), "no head"),
    "head moved back": (
        lambda n: ["UPDATE audit_head SET seq = 3 WHERE stream = 'instance:1'"],
        (I1, 4),
        "head records seq 3",
    ),
    "system altered": (
        lambda n: [f"UPDATE audit_event SET action = 'x' WHERE id = {n['system', 1]}"],
        ("system", 1),
        "altered",
    ),
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_tampering_with_sql_is_caught_at_the_first_bad_event(case, sessions, clock, db_engine):
    ids = seed(sessions, clock)
    statements, (stream, seq), reason = TAMPERING[case]
    with db_engine.begin() as conn:
        for sql in statements(ids):
            conn.execute(text(sql))
    with sessions() as s:
        result = verify(s)
    assert not result.ok
    assert (result.bad_event_id, result.bad_stream) == (ids[(stream, seq)], stream), result
    assert reason in (result.reason or ""), result


def test_a_recomputed_hash_breaks_the_link_to_the_next_event(sessions, clock):
    ids = seed(sessions, clock)
    rehash_sql(sessions, ids[(I1, 2)], {"forged": True})
    with sessions() as s:
        result = verify(s)
    assert not result.ok and result.bad_event_id == ids[(I1, 3)]
    assert "prev_hash does not match" in (result.reason or "")


def test_a_stream_whose_events_were_all_removed_is_caught(sessions, clock, db_engine):
    seed(sessions, clock)
    with db_engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE stream = 'system'"))
    with sessions() as s:
        result = verify(s)
    assert not result.ok and result.bad_stream == "system" and result.bad_event_id is None
    assert (
        str(result)
        == "audit log broken at stream (stream system, seq 3): the stream's head exists but all its events are gone"
    )


# --- concurrency ---------------------------------------------------------------------------------------------


def test_concurrent_appenders_never_fork_a_stream(sessions, clock):
    """Two writers, each in its own transaction: every append either lands in order or is refused, never forks."""
    per_writer, conflicts, errors = 25, [], []
    barrier = threading.Barrier(2)

    def writer(name: str) -> None:
        try:
            barrier.wait(timeout=10)
            done = 0
            while done < per_writer:
                try:
                    with sessions() as s, s.begin():
                        append_events(s, clock, "instance:9", [{"action": f"{name}.{done}", "actor": name}] * 2)
                    done += 1
                except ConflictError:
                    conflicts.append(name)  # the other writer won this round; retry like a caller would
        except Exception as err:  # surfaced below: a thread's exception would otherwise vanish
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    with sessions() as s:
        result = verify(s)
        seqs = list(s.scalars(select(AuditEvent.seq).where(AuditEvent.stream == "instance:9").order_by(AuditEvent.seq)))
    assert result.ok, result
    assert seqs == list(range(1, 2 * 2 * per_writer + 1))


@pytest.mark.skipif(not IS_POSTGRES, reason="SQLite serialises writers at BEGIN IMMEDIATE; no interleaving to test")
@pytest.mark.parametrize("existing_stream", [True, False])
def test_a_writer_that_read_a_stale_head_gets_a_conflict(sessions, clock, db_engine, existing_stream):
    if existing_stream:
        with sessions() as s, s.begin():
            append_event(s, clock, stream="instance:5", action="first", actor="a")
    first = sessions()
    first.begin()
    append_events(first, clock, "instance:5", [{"action": "from-first", "actor": "a"}])  # head locked, not committed
    outcome: list[object] = []
    backend: list[int] = []
    started = threading.Event()

    def second() -> None:
        with sessions() as s:
            try:
                with s.begin():
                    backend.append(s.execute(text("SELECT pg_backend_pid()")).scalar_one())
                    started.set()
                    append_events(s, clock, "instance:5", [{"action": "from-second", "actor": "b"}])
                outcome.append("committed")
            except Exception as err:
                outcome.append(err)
            finally:
                started.set()

    thread = threading.Thread(target=second)
    thread.start()
    assert started.wait(timeout=30)
    # Wait (without sleeping) until the second writer is blocked on the first one's lock, then commit the first.
    with db_engine.connect() as watcher:
        query = text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid")
        for _ in range(100_000):
            if watcher.execute(query, {"pid": backend[0]}).scalar() == "Lock" or not thread.is_alive():
                break
            watcher.rollback()
    first.commit()
    first.close()
    thread.join(timeout=30)
    assert len(outcome) == 1 and isinstance(outcome[0], ConflictError), outcome
    with sessions() as s:
        assert verify(s).ok
        assert [e.action for e in s.scalars(select(AuditEvent).order_by(AuditEvent.seq))][-1] == "from-first"


# --- the command line ----------------------------------------------------------------------------------------


def test_tdkt_audit_verify_exit_codes(tmp_path, clock):
    url = f"sqlite:///{tmp_path / 'audit.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        ids = seed(make_session_factory(engine), clock)
        ok = subprocess.run([TDKT, "audit", "verify", "--url", url], capture_output=True, text=True, check=False)
        assert (ok.returncode, ok.stdout.strip()) == (0, "audit log intact: 7 events in 2 streams"), ok.stderr
        with engine.begin() as conn:
            conn.execute(text("UPDATE audit_event SET actor = 'mallory' WHERE id = :id"), {"id": ids[(I1, 2)]})
        bad = subprocess.run([TDKT, "audit", "verify", "--url", url], capture_output=True, text=True, check=False)
        assert bad.returncode == 1
        assert bad.stdout.strip() == (
            f"audit log broken at event {ids[(I1, 2)]} (stream instance:1, seq 2): "
            "its content does not match its hash (the event was altered)"
        )
        shown = subprocess.run([TDKT, "audit", "show", "1", "--url", url], capture_output=True, text=True, check=False)
        assert shown.returncode == 0 and len(shown.stdout.splitlines()) == 4 and "Bình Dương" in shown.stdout
    finally:
        engine.dispose()


def test_an_event_added_behind_the_heads_back_is_caught(sessions, clock, db_engine):
    ids = seed(sessions, clock)
    with sessions() as s:
        last = s.get(AuditEvent, ids[(I1, 4)])
        assert last is not None
        forged = {"stream": I1, "seq": 5, "at": last.at, "actor": "mallory", "action": "task.completed"}
        forged.update(instance_id=1, task_guid=None, element_id=None, data={})
        forged_hash = event_hash(last.hash, forged)
    with db_engine.begin() as conn:  # a correctly chained event, but written with SQL, so the head still says 4
        conn.execute(
            text(
                "INSERT INTO audit_event (stream, seq, at, actor, action, instance_id, data, prev_hash, hash)"
                " VALUES (:stream, :seq, :at, :actor, :action, :instance_id, '{}', :prev, :hash)"
            ),
            {**forged, "at": last.at.replace(tzinfo=None), "prev": last.hash, "hash": forged_hash},
        )
    with sessions() as s:
        result = verify(s)
    assert not result.ok and (result.bad_stream, result.bad_seq) == (I1, 5)
    assert "head records seq 4" in (result.reason or "")


def test_prepared_statements_raise_sqlalchemy_errors(sessions):
    """A driver error on the prepared path arrives as SQLAlchemy's class for it, as on Connection.execute."""
    from sqlalchemy.exc import IntegrityError

    from engine.persistence.prepared import Prepared

    insert_head = Prepared(
        AuditHead.__table__.insert().values(stream=bindparam("stream"), seq=bindparam("seq"), hash=bindparam("hash"))
    )
    with sessions() as s, s.begin():
        insert_head.run(s.connection(), {"stream": "dup", "seq": 1, "hash": "0" * 64})
        with pytest.raises(IntegrityError):
            insert_head.run(s.connection(), {"stream": "dup", "seq": 2, "hash": "0" * 64})
        s.rollback()
