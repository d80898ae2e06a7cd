"""The bulk ``INSERT ... SELECT`` statements that copy a seeding template over a number series, per dialect."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text

from engine.bench.seed import NOW, OPEN_BASE, ROLES, UNITS, Template

_TEMPLATE_TABLES = (
    "CREATE TABLE bench_tpl_task (kind VARCHAR(16), step INTEGER, element_id VARCHAR(255), name VARCHAR(255),"
    " role_id VARCHAR(64))",
    "CREATE TABLE bench_tpl_event (kind VARCHAR(16), seq INTEGER, action VARCHAR(64), element_id VARCHAR(255),"
    " step INTEGER, data TEXT)",
)


class Sql:
    """The few expressions SQLite and PostgreSQL spell differently."""

    def __init__(self, dialect: str) -> None:
        self.pg = dialect == "postgresql"

    def series(self) -> str:
        if self.pg:
            return "WITH s(i) AS (SELECT generate_series(CAST(:lo AS BIGINT), CAST(:hi AS BIGINT)))"
        return "WITH RECURSIVE s(i) AS (SELECT :lo UNION ALL SELECT i + 1 FROM s WHERE i < :hi)"

    def at(self, minutes: str) -> str:
        """The clock's now plus ``minutes`` (an integer expression), as the column type stores it."""
        if self.pg:
            return f"(CAST(:base AS TIMESTAMPTZ) + ({minutes}) * INTERVAL '1 minute')"
        return f"(datetime(:base, ({minutes}) || ' minutes') || '.000000')"

    def guid(self, i: str, step: str) -> str:
        if self.pg:
            return f"(lpad(to_hex({i}), 8, '0') || '-0000-4000-8000-' || lpad(to_hex({step}), 12, '0'))"
        return f"printf('%08x-0000-4000-8000-%012x', {i}, {step})"

    def json(self, expr: str) -> str:
        return f"CAST({expr} AS JSON)" if self.pg else expr

    def hash(self) -> str:
        return "(md5(random()::text) || md5(random()::text))" if self.pg else "lower(hex(randomblob(32)))"

    def unit(self, n: str) -> str:
        return f"('U' || lpad(CAST({n} AS TEXT), 3, '0'))" if self.pg else f"printf('U%03d', {n})"

    def role(self, n: str) -> str:
        whens = " ".join(f"WHEN {k} THEN '{r}'" for k, r in enumerate(ROLES))
        return f"(CASE {n} {whens} END)"


def load_template(engine: Engine, template: Template) -> None:
    with engine.begin() as conn:
        for ddl in _TEMPLATE_TABLES:
            conn.execute(text(ddl))
        conn.execute(
            text("INSERT INTO bench_tpl_task VALUES (:kind, :step, :element_id, :name, :role_id)"), template.tasks
        )
        conn.execute(
            text("INSERT INTO bench_tpl_event VALUES (:kind, :seq, :action, :element_id, :step, :data)"),
            template.events,
        )


def drop_template(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE bench_tpl_task"))
        conn.execute(text("DROP TABLE bench_tpl_event"))


def _statements(q: Sql, kind: str) -> list[str]:
    """Inserts for instances ``s.i`` of ``kind``: ``finished`` ids are i, ``running`` ids are OPEN_BASE + i."""
    finished = kind == "finished"
    iid = "s.i" if finished else f"({OPEN_BASE} + s.i)"
    unit = q.unit(f"(s.i % {UNITS})")
    # Finished: started up to a year ago. Running: started up to 30 days ago, due -5..+95 days from now.
    started = q.at("-(s.i % 525600) - 600") if finished else q.at("-(s.i % 43200)")
    ended = q.at("-(s.i % 525600)") if finished else "NULL"
    state = ":finished_state" if finished else ":running_state"
    status = "'completed'" if finished else "'running'"
    task_role = "t.role_id" if finished else q.role(f"((s.i / {UNITS}) % {len(ROLES)})")
    claimed = "0" if finished else "(s.i % 10 = 0)"
    task_status = "'completed'" if finished else f"(CASE WHEN {claimed} THEN 'claimed' ELSE 'open' END)"
    assignee = "NULL" if finished else f"(CASE WHEN {claimed} THEN {task_role} || '_' || substr({unit}, 2) END)"
    due = "NULL" if finished else q.at("((s.i * 7919) % 100 - 5) * 1440 + (s.i % 1440)")
    completed_at = q.at("-(s.i % 525600) - 100 + t.step * 20") if finished else "NULL"
    completed_by = f"t.role_id || '_' || substr({unit}, 2)" if finished else "NULL"
    tid = f"({iid} * 16 + t.step)"
    step_guid = q.guid(iid, "t.step")
    empty = q.json("'[]'")
    statements = [
        f"{q.series()} INSERT INTO instance (id, definition_id, definition_key, business_key, unit_id, status,"
        " version, started_at, started_by, ended_at, state, serializer_version, incident)"
        f" SELECT {iid}, :definition_id, :key, 'HS-' || CAST({iid} AS TEXT), {unit}, {status}, 6, {started},"
        f" NULL, {ended}, {state}, :serializer_version, NULL FROM s",
        f"{q.series()} INSERT INTO human_task (id, instance_id, definition_key, task_guid, element_id, name, role_id,"
        " unit_id, candidate_groups, candidate_users, assignee, status, form_key, due_at, escalation_level, created_at,"
        " completed_at, completed_by)"
        f" SELECT {tid}, {iid}, :key, {step_guid}, t.element_id, t.name, {task_role}, {unit}, {empty},"
        f" {empty}, {assignee}, {task_status}, NULL, {due}, 0, {started}, {completed_at}, {completed_by}"
        f" FROM s CROSS JOIN bench_tpl_task t WHERE t.kind = '{kind}'",
        # No candidate rows: the tasks' lane role is on the task row itself (the engine writes candidate rows only
        # for extra groups and named users, and deletes them when the task closes).
        f"{q.series()} INSERT INTO audit_event (stream, seq, at, actor, action, instance_id, task_guid, element_id,"
        " data, prev_hash, hash)"
        f" SELECT 'instance:' || CAST({iid} AS TEXT), e.seq, {started}, NULL, e.action, {iid},"
        f" CASE WHEN e.step IS NULL THEN NULL ELSE {q.guid(iid, 'e.step')} END, e.element_id, {q.json('e.data')},"
        f" {q.hash()}, {q.hash()} FROM s CROSS JOIN bench_tpl_event e WHERE e.kind = '{kind}'",
        f"{q.series()} INSERT INTO audit_head (stream, seq, hash)"
        f" SELECT 'instance:' || CAST({iid} AS TEXT), :last_seq_{kind}, {q.hash()} FROM s",
    ]
    return [sql for sql in statements if sql]


def seed_range(engine: Engine, template: Template, kind: str, lo: int, hi: int, chunk: int = 50_000) -> None:
    """Insert instances ``lo..hi`` (inclusive) of ``kind`` ("finished" or "running"), ``chunk`` per transaction."""
    q = Sql(engine.dialect.name)
    statements = [text(sql) for sql in _statements(q, kind)]
    params: dict[str, Any] = {
        "base": NOW.strftime("%Y-%m-%d %H:%M:%S") + ("+00:00" if q.pg else ""),
        "definition_id": template.definition_id,
        "key": "scale_pipeline",
        "finished_state": template.finished_state,
        "running_state": template.running_state,
        "serializer_version": template.serializer_version,
        f"last_seq_{kind}": max(e["seq"] for e in template.events if e["kind"] == kind),
    }
    start = lo
    while start <= hi:
        end = min(hi, start + chunk - 1)
        with engine.begin() as conn:
            if not q.pg:
                conn.exec_driver_sql("PRAGMA cache_size=-512000")  # 512 MB while seeding, per connection
            for statement in statements:
                used = {k: v for k, v in params.items() if f":{k}" in str(statement)}
                conn.execute(statement, {"lo": start, "hi": end, **used})
        start = end + 1
