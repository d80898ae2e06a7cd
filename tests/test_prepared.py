"""Prepared statements (engine/persistence/prepared.py) against the real database: the values that come back
are those the ORM reads, and statements they cannot run are refused when first used."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, insert, select

from engine.persistence.models import AuditEvent
from engine.persistence.prepared import Prepared, detached

_events = AuditEvent.__table__
_COLUMNS = ("stream", "seq", "at", "actor", "action", "instance_id", "task_guid", "element_id", "data", "prev_hash",
            "hash")  # fmt: skip


def test_values_round_trip_as_the_orm_reads_them(sessions):
    at = datetime(2024, 4, 2, 9, 30, 15, 123456, tzinfo=UTC)
    add = Prepared(insert(_events).values({c: bindparam(c) for c in _COLUMNS}).returning(_events.c.id, _events.c.at))
    read = Prepared(select(*_events.columns).where(_events.c.id == bindparam("b_id")))
    row = dict.fromkeys(_COLUMNS) | {
        "stream": "test:prepared",
        "seq": 1,
        "at": at,
        "action": "tested",
        "data": {"vi": "Sở Y tế", "n": [1, 2.5, None], "ok": True},
        "prev_hash": "0" * 64,
        "hash": "1" * 64,
    }
    with sessions() as s, s.begin():
        ((event_id, returned_at),) = add.all(s.connection(), row)
        assert returned_at == at  # RETURNING columns go through their types too
        (found,) = read.all(s.connection(), {"b_id": event_id})
        got = detached(AuditEvent, dict(zip([c.key for c in _events.columns], found, strict=True)))
        orm = s.get(AuditEvent, event_id)
        assert orm is not None
        for column in _events.columns:
            assert getattr(got, column.key) == getattr(orm, column.key), column.key
        assert got.at == at and got.at.tzinfo is not None
        assert got.data == {"vi": "Sở Y tế", "n": [1, 2.5, None], "ok": True}
        s.rollback()


def test_an_expanding_in_list_is_refused_when_first_used(sessions):
    statement = Prepared(select(_events.c.id).where(_events.c.action.in_(("a", "b"))))
    with sessions() as s, pytest.raises(ValueError, match="expanding IN"):
        statement.all(s.connection(), {})
