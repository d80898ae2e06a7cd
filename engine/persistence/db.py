"""Database engine and session factory: SQLite (WAL) by default, PostgreSQL through ``DATABASE_URL``."""

from __future__ import annotations

import fcntl
import os
import select
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_INSTANCE_DIR = Path("instance")
READ_ONLY = "tdkt_read_only"
WRITER_WAIT_SECONDS = 30
_GATE = "tdkt_writer_gate"
# PostgreSQL's synchronous_commit for the engine's connections (see _postgres_engine): the server's own setting
# (on, unless its administrator chose otherwise) unless TDKT_PG_SYNCHRONOUS_COMMIT names one (on, remote_apply,
# remote_write, local, off).
PG_SYNCHRONOUS_COMMIT: str | None = None
_gates: dict[str, _WriterGate] = {}
_gates_lock = threading.Lock()


class _WriterGate:
    """Whose turn it is to write a SQLite file: first among this process's threads (a lock), then among the
    processes on the file (``flock`` on ``<file>-writer.lock`` beside it; gunicorn's workers and the scheduler).

    SQLite's own busy handler sleeps 1, 2, 5 … 100 ms between retries, so under a few concurrent writers a step
    that holds the write lock for 2 ms kept others asleep for tens of ms (the HTTP bench's p99 was 0.86 s with 4
    workers). The file lock is polled every 0.2-1 ms instead; whoever holds it then takes SQLite's write lock at
    once. Writers that do not use it (another tool on the same file) still meet SQLite's own lock."""

    def __init__(self, path: Path | None) -> None:
        self.thread_lock = threading.Lock()
        self._path = path
        self._fd: int | None = None
        self._pid = os.getpid()

    def _file(self) -> int | None:
        if self._path is None:
            return None
        if self._fd is not None and self._pid != os.getpid():  # forked: a lock on the parent's open file would be
            self._fd = None  # shared with it (flock belongs to the open file), so this process opens its own
        if self._fd is None:
            self._pid = os.getpid()
            try:
                self._fd = os.open(f"{self._path}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
            except OSError:  # a read-only folder: SQLite's own lock alone
                self._path = None
                return None
        return self._fd

    def acquire(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        if not self.thread_lock.acquire(timeout=timeout):
            return False
        fd = self._file()
        if fd is None:
            return True
        pause = 0.0002
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self.thread_lock.release()
                    return False
                time.sleep(pause)
                pause = min(pause * 2, 0.001)
            except OSError:  # flock not supported on this file system: SQLite's own lock alone
                self._path, self._fd = None, None
                os.close(fd)
                return True

    def release(self) -> None:
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            except OSError:
                pass
        self.thread_lock.release()


def _writer_gate(url: str) -> _WriterGate:
    """One gate per SQLite file per process, shared by every engine on that file."""
    with _gates_lock:
        gate = _gates.get(url)
        if gate is None:
            database = make_url(url).database
            path = (
                Path(database).resolve() if database and database != ":memory:" and "mode=memory" not in url else None
            )
            gate = _gates[url] = _WriterGate(path)
        return gate


def database_url(instance_dir: Path | None = None) -> str:
    """``DATABASE_URL`` if set, else a SQLite file under the instance folder."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    folder = instance_dir or DEFAULT_INSTANCE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(folder / 'tdkt.sqlite3').resolve()}"


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    url = url or database_url()
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy own transactions (pysqlite's implicit BEGIN is deferred and too late).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            # Checkpoint the WAL every ~40 MB instead of every ~4 MB: a step dirties ~20 pages, so the default
            # copied the WAL back every ~50 completions and put a 5-7 ms stall in every fiftieth (bench p99).
            cur.execute("PRAGMA wal_autocheckpoint=10000")
            # A page cache of up to 64 MiB (the default is 2 MiB): a province's database outgrows the default within
            # weeks, and every step then re-reads index pages of the task, timer and audit tables from the OS.
            cur.execute("PRAGMA cache_size=-65536")
            cur.close()

        gate = _writer_gate(url)

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # IMMEDIATE takes the write lock at BEGIN, so two writers queue instead of deadlocking; sessions made
            # for reading only (inbox pages, reports) begin deferred and never wait behind writers.
            if conn.get_execution_options().get(READ_ONLY, False):
                conn.exec_driver_sql("BEGIN")
                return
            # Writers of this process queue on a lock first: SQLite's busy handler sleeps up to 100 ms between
            # retries, so a thread waiting on it (the scheduler beside busy web threads) could starve.
            if not gate.acquire(timeout=WRITER_WAIT_SECONDS):
                raise OperationalError("BEGIN IMMEDIATE", None, Exception("database is busy: no writer turn"))
            conn.info[_GATE] = gate
            try:
                # Straight to the driver: SQLAlchemy's statement machinery would cost 4x the BEGIN itself.
                conn.connection.dbapi_connection.execute("BEGIN IMMEDIATE")
            except BaseException:
                conn.info.pop(_GATE).release()
                raise

        def _release(conn: Any) -> None:
            held = conn.info.pop(_GATE, None)
            if held is not None:
                held.release()

        event.listen(engine, "commit", _release)
        event.listen(engine, "rollback", _release)

        @event.listens_for(engine, "checkin")
        def _release_on_checkin(_dbapi_conn: Any, record: Any) -> None:  # a transaction left without an end
            held = record.info.pop(_GATE, None)
            if held is not None:
                held.release()

        return engine
    if url.startswith("postgresql"):
        return _postgres_engine(url, **kwargs)
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _postgres_engine(url: str, **kwargs: Any) -> Engine:
    """PostgreSQL with what a step costs in mind (each round trip to the server is a context switch on its cores):

    - ``synchronous_commit``: the server's own (``on`` by default: every acknowledged step survives a power cut)
      unless ``TDKT_PG_SYNCHRONOUS_COMMIT`` names one. ``off`` makes a commit return once its WAL is written, not
      flushed, as SQLite's WAL with ``synchronous=NORMAL`` does: the database stays consistent, but a server or
      machine crash can lose the last fraction of a second of acknowledged steps (never half of one). On this
      machine a flushed commit took 2.4 ms, more than the rest of a step; the test suite runs with ``off``.
    - no ``pool_pre_ping`` round trip at each checkout: a pooled connection whose socket is readable while idle
      has been closed or told to close by the server (a restart, an idle timeout), so it is replaced; a
      connection that dies otherwise fails its statement once and SQLAlchemy invalidates the pool.
    """
    setting = (os.environ.get("TDKT_PG_SYNCHRONOUS_COMMIT") or PG_SYNCHRONOUS_COMMIT or "").strip()
    if setting and setting not in ("on", "off", "local", "remote_write", "remote_apply"):
        raise ValueError(f"TDKT_PG_SYNCHRONOUS_COMMIT={setting!r}: use on, off, local, remote_write or remote_apply")
    connect_args = dict(kwargs.pop("connect_args", {}))
    if setting:
        connect_args["options"] = f"{connect_args.get('options', '')} -c synchronous_commit={setting}".strip()
    engine = create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "checkout")
    def _still_open(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        try:
            readable, _, _ = select.select([dbapi_conn.fileno()], [], [], 0)
        except (OSError, ValueError) as err:  # closed already
            raise DisconnectionError(str(err)) from err
        if readable:  # an idle connection has nothing to read unless the server closed it or is about to
            raise DisconnectionError("the server closed this pooled connection")

    return engine


def make_session_factory(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    """Sessions for steps (the default) or, with ``read_only``, for queries that write nothing.

    On PostgreSQL a read-only session runs in autocommit: under READ COMMITTED every statement takes its own
    snapshot anyway, so nothing changes for the reader, and it saves the ``BEGIN`` and ``ROLLBACK`` round trips
    (a ``ROLLBACK`` also makes psycopg forget the statements it had prepared on that connection).
    """
    if not read_only:
        return sessionmaker(engine, expire_on_commit=False)
    options: dict[str, Any] = {READ_ONLY: True}
    if engine.dialect.name == "postgresql":
        options["isolation_level"] = "AUTOCOMMIT"
    return sessionmaker(engine.execution_options(**options), expire_on_commit=False)
