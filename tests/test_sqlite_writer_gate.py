"""SQLite writers take turns through a gate: a thread lock in the process, then a file lock beside the database
shared by every process on the file (gunicorn's workers, the scheduler), so a waiting writer wakes when the
turn is free instead of sleeping in SQLite's busy handler."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.persistence.db import _writer_gate, make_engine, make_session_factory
from engine.persistence.models import OrgUnit
from engine.persistence.schema import ensure_schema
from tests.conftest import IS_POSTGRES

pytestmark = pytest.mark.skipif(IS_POSTGRES, reason="SQLite's writer gate")

_WRITER = """
import sys
from engine.persistence.db import make_engine, make_session_factory
from engine.persistence.models import OrgUnit
engine = make_engine(sys.argv[1])
sessions = make_session_factory(engine)
for n in range(int(sys.argv[3])):
    with sessions() as s, s.begin():
        s.add(OrgUnit(id=f"{sys.argv[2]}-{n}", name="x", kind="department"))
"""


def test_processes_writing_one_file_all_get_their_turn(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gate.sqlite3'}"
    ensure_schema(make_engine(url))
    root = Path(__file__).resolve().parent.parent
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, url, f"p{n}", "60"], cwd=root, stderr=subprocess.PIPE)
        for n in range(3)
    ]
    errors = [w.communicate(timeout=120)[1].decode() for w in writers]
    assert [w.returncode for w in writers] == [0, 0, 0], errors
    with make_session_factory(make_engine(url))() as s:
        assert s.scalar(select(func.count()).select_from(OrgUnit)) == 180
    assert (tmp_path / "gate.sqlite3-writer.lock").exists()


def _hold(url: str, held: multiprocessing.synchronize.Event, done: multiprocessing.synchronize.Event) -> None:
    gate = _writer_gate(url)
    assert gate.acquire(timeout=5)
    held.set()
    done.wait(10)
    gate.release()


def test_another_process_holding_the_turn_makes_a_writer_wait(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'held.sqlite3'}"
    context = multiprocessing.get_context("spawn")  # a process of its own, as a gunicorn worker is
    held, done = context.Event(), context.Event()
    holder = context.Process(target=_hold, args=(url, held, done))
    holder.start()
    try:
        assert held.wait(30)
        gate = _writer_gate(url)
        assert not gate.acquire(timeout=0.2)  # the other process has the turn
        done.set()
        assert gate.acquire(timeout=10)  # and once it is done, this one gets it
        gate.release()
    finally:
        done.set()
        holder.join(10)
    assert holder.exitcode == 0
