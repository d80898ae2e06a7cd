"""Core statements compiled once per dialect and run straight on the DBAPI cursor of the caller's connection.

The completion path runs about ten small statements per step. Through ``Connection.execute`` each costs ~50 µs
of SQLAlchemy's per-call work (execution context, cache key, result set-up) around ~10 µs in SQLite itself —
more than the rest of the step. A ``Prepared`` statement is compiled by SQLAlchemy once per dialect (same SQL,
same bind/result type processing as the ORM would apply), then each call only applies the type processors and
hands the parameters to the driver, inside the session's own transaction.

Only for fixed statements without expanding ``IN`` lists; everything else goes through SQLAlchemy as usual.

``batched(conn)``: on PostgreSQL (psycopg) the prepared statements run inside it are sent in pipeline mode, so
that a stretch of them costs one round trip to the server instead of one each; a row count a caller must check
(``run(..., expect=1, error=...)``) is checked when the stretch ends, and reading rows (``all``) or a row count
(``run`` without ``expect``) waits for everything sent before. Only prepared statements may run inside: a
statement through SQLAlchemy would look at its result before it came. Elsewhere (SQLite) it changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.orm.instrumentation import manager_of_class
from sqlalchemy.sql.expression import ClauseElement

Processor = Callable[[Any], Any] | None
T = TypeVar("T")
_BATCH = "tdkt_batch"


@dataclass
class _Batch:
    """The statements of one ``batched`` stretch: psycopg's pipeline, the open cursors, the checks to make."""

    pipeline: Any
    cursors: list[Any] = field(default_factory=list)
    checks: list[tuple[Any, int, Exception]] = field(default_factory=list)


@contextmanager
def batched(conn: Connection) -> Iterator[None]:
    """Send the prepared statements run inside together (PostgreSQL with psycopg; see the module)."""
    if conn.dialect.driver != "psycopg" or conn.info.get(_BATCH) is not None:  # not psycopg, or nested
        yield
        return
    dbapi_conn: Any = conn.connection.dbapi_connection
    batch = None
    try:
        with dbapi_conn.pipeline() as pipeline:
            batch = conn.info[_BATCH] = _Batch(pipeline)
            yield
        failed = next((error for cursor, expect, error in batch.checks if cursor.rowcount != expect), None)
    except conn.dialect.loaded_dbapi.Error as err:
        raise _wrapped(conn, "(a batch of prepared statements)", err) from err
    finally:
        conn.info.pop(_BATCH, None)
        for cursor in batch.cursors if batch is not None else ():
            cursor.close()
    if failed is not None:
        raise failed


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positional: tuple[str, ...] | None  # bind names in order, for qmark/format drivers; None for named styles
    defaults: dict[str, Any]  # values fixed in the statement (literals compiled as binds)
    binds: dict[str, Processor]
    ordered: tuple[tuple[str, Processor], ...]  # (name, processor) per placeholder, positional styles only
    results: tuple[tuple[int, Callable[[Any], Any]], ...]  # (column index, processor) where there is one


class Prepared:
    """A statement to run many times: ``rows = P.all(conn, params)``, ``P.run(conn, params)``, ``P.many(...)``."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._by_dialect: dict[str, _Compiled] = {}

    def _compiled(self, dialect: Dialect) -> _Compiled:
        key = f"{dialect.name}+{dialect.driver}"  # same backend, other driver: maybe another parameter style
        found = self._by_dialect.get(key)
        if found is None:
            found = self._by_dialect[key] = self._compile(dialect)
        return found

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled: Any = self.statement.compile(dialect=dialect)
        if "POSTCOMPILE" in compiled.string:
            raise ValueError(f"a prepared statement cannot hold an expanding IN list: {compiled.string}")
        binds = {name: bind.type.dialect_impl(dialect).bind_processor(dialect) for name, bind in compiled.binds.items()}
        defaults = {
            name: bind.value
            for name, bind in compiled.binds.items()
            if not bind.required and bind.value is not None and not callable(bind.value)
        }
        # a SELECT's columns, or the RETURNING columns of an INSERT/UPDATE/DELETE (none without RETURNING)
        columns: Any = getattr(self.statement, "selected_columns", None)
        if columns is None:
            columns = getattr(self.statement, "exported_columns", None) or ()
        processors = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns]
        results = tuple((i, p) for i, p in enumerate(processors) if p is not None)
        positional = tuple(compiled.positiontup) if compiled.positional else None
        ordered = tuple((n, binds[n]) for n in positional) if positional is not None else ()
        return _Compiled(compiled.string, positional, defaults, binds, ordered, results)

    def _args(self, c: _Compiled, params: dict[str, Any]) -> Any:
        values = {**c.defaults, **params} if c.defaults else params
        if c.positional is not None:
            return [values[n] if p is None else p(values[n]) for n, p in c.ordered]
        return {n: values[n] if p is None else p(values[n]) for n, p in c.binds.items()}

    def _cursor(self, conn: Connection) -> tuple[Any, _Compiled]:
        return conn.connection.dbapi_connection.cursor(), self._compiled(conn.dialect)  # type: ignore[union-attr]

    def run(
        self,
        conn: Connection,
        params: dict[str, Any],
        *,
        expect: int | None = None,
        error: Exception | None = None,
        count: bool = True,
    ) -> int:
        """Execute once; the number of rows it changed. ``expect``: the count it must have, else ``error`` is
        raised (inside ``batched``: when the batch ends). ``count=False``: the caller ignores the count (inside
        ``batched`` nothing waits for it; -1 is returned)."""
        cursor, c = self._cursor(conn)
        batch: _Batch | None = conn.info.get(_BATCH)
        if batch is not None:
            batch.cursors.append(cursor)
            try:
                cursor.execute(c.sql, self._args(c, params))
                if expect is not None:
                    batch.checks.append((cursor, expect, error or RuntimeError(f"{expect} row(s) expected: {c.sql}")))
                    return expect
                if not count:
                    return -1
                batch.pipeline.sync()
                return int(cursor.rowcount)
            except conn.dialect.loaded_dbapi.Error as err:
                raise _wrapped(conn, c.sql, err) from err
        try:
            cursor.execute(c.sql, self._args(c, params))
            changed = int(cursor.rowcount)
        except conn.dialect.loaded_dbapi.Error as err:
            raise _wrapped(conn, c.sql, err) from err
        finally:
            cursor.close()
        if expect is not None and changed != expect:
            raise error or RuntimeError(f"{expect} row(s) expected, {changed} changed: {c.sql}")
        return changed

    def many(self, conn: Connection, params: Sequence[dict[str, Any]]) -> None:
        """Execute once per parameter set (an INSERT of many rows)."""
        if not params:
            return
        cursor, c = self._cursor(conn)
        batch: _Batch | None = conn.info.get(_BATCH)
        if batch is not None:
            batch.cursors.append(cursor)
        try:
            cursor.executemany(c.sql, [self._args(c, p) for p in params])
        except conn.dialect.loaded_dbapi.Error as err:
            raise _wrapped(conn, c.sql, err) from err
        finally:
            if batch is None:
                cursor.close()

    def all(self, conn: Connection, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Execute once and return every row, each value through its column type (a SELECT or a RETURNING)."""
        cursor, c = self._cursor(conn)
        batch: _Batch | None = conn.info.get(_BATCH)
        if batch is not None:
            batch.cursors.append(cursor)
        try:
            cursor.execute(c.sql, self._args(c, params))
            rows = cursor.fetchall()  # in a batch: waits for everything sent before, this included
        except conn.dialect.loaded_dbapi.Error as err:
            raise _wrapped(conn, c.sql, err) from err
        finally:
            if batch is None:
                cursor.close()
        if not c.results:
            return [tuple(r) for r in rows]
        out = []
        for r in rows:
            values = list(r)
            for i, p in c.results:
                values[i] = p(values[i])
            out.append(tuple(values))
        return out


def _wrapped(conn: Connection, sql: str, err: Exception) -> Exception:
    """The driver's error as SQLAlchemy's own class for it (IntegrityError, OperationalError...), as
    ``Connection.execute`` would raise it, so callers catch one family of errors whichever path ran."""
    return DBAPIError.instance(sql, None, err, conn.dialect.loaded_dbapi.Error)


def flush_pending(session: Session) -> None:
    """What the ORM's autoflush would do before a query: prepared statements read the connection directly, so
    objects the session holds but has not written yet (a membership just added) are flushed first."""
    if session.new or session.dirty or session.deleted:
        session.flush()


def detached(cls: type[T], values: dict[str, Any]) -> T:
    """An instance of mapped class ``cls`` holding ``values`` as if loaded, outside any session (~1 µs, where
    the constructor's instrumented attribute sets cost ~16 µs). Reading works; the session never writes it."""
    obj = manager_of_class(cls).new_instance()
    obj.__dict__.update(values)
    return cast(T, obj)
