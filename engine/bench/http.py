"""The engine over HTTP: gunicorn serving ``api:create_app()``, a load generator on loopback completing tasks.

What runs, in order:

1. A fresh bench database (a SQLite file in a temporary folder, or a PostgreSQL database the bench creates) is
   seeded through the services in this process, not timed: ``clients`` units, one bench user per unit holding
   the workload's role there (so nobody else may take that user's tasks: no 409s by construction), a password
   hash in the format the API checks, ``sequence_5`` deployed and enough instances started in each unit that its
   user has ``completions / clients`` tasks to complete (five per instance, one open at a time).
2. gunicorn starts as a subprocess (``python -m gunicorn -w WORKERS``, its default sync workers, the way the
   README serves the app) with ``DATABASE_URL`` on that database and a ``TDKT_SECRET_KEY`` every worker shares;
   the bench waits for ``/healthz``.
3. ``engine.bench.http_load`` runs as a subprocess: one thread per client, each logged in as its own user,
   reading its inbox outside the timed part and timing each ``POST /api/v1/tasks/<id>/complete``.
4. gunicorn is stopped (SIGTERM, then SIGKILL for anything left, workers included) whatever happened.

This module imports neither Flask nor the API: the app runs in gunicorn's processes, not here.
On SQLite every worker's write transaction takes the one database write lock, so the writers serialise on it
whatever the number of workers; more workers help only with the parts that run outside it.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, text

from engine.bench import report
from engine.bench.database import bench_database
from engine.bench.workloads import ROLE, Workload, camunda_workloads
from engine.clock import SystemClock
from engine.persistence.db import make_session_factory
from engine.persistence.models import HumanTask, Membership, OrgUnit, Role, User
from engine.persistence.schema import ensure_schema
from engine.services import instances as instance_service
from engine.services.context import EngineContext
from engine.services.definitions import deploy

ROOT = Path(__file__).resolve().parents[2]
WORKLOAD = "sequence_5"
STEPS = 5  # human steps per sequence_5 instance
START_TIMEOUT_S = 60.0
_SALT_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


class HttpBenchError(RuntimeError):
    """The HTTP measurement could not run (gunicorn did not start, the load generator failed)."""


def password_hash(password: str, *, n: int = 2**15, r: int = 8, p: int = 1) -> str:
    """A salted scrypt hash in werkzeug's ``scrypt:N:R:P$salt$hex`` format, the one the API's login checks.

    Made with hashlib here because the engine does not import werkzeug; the parameters are werkzeug's defaults.
    """
    salt = "".join(secrets.choice(_SALT_CHARS) for _ in range(16))
    digest = hashlib.scrypt(password.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=132 * n * r * p)
    return f"scrypt:{n}:{r}:{p}${salt}${digest.hex()}"


def user_name(n: int) -> str:
    return f"bench_http_{n:02d}"


def unit_name(n: int) -> str:
    return f"BENCH_HTTP_{n:02d}"


def quotas(completions: int, clients: int) -> list[int]:
    """Completions per client, as even as they come."""
    return [completions // clients + (1 if n < completions % clients else 0) for n in range(clients)]


def seed(engine: Engine, workload: Workload, quota: list[int], password: str) -> int:
    """Units, users, the workload and its instances (see the module); returns how many instances were started."""
    sessions = make_session_factory(engine)
    ctx = EngineContext(clock=SystemClock())  # the server's clock: due dates and audit times line up
    hashed = password_hash(password)  # one hash for every bench user: hashing is slow on purpose
    started = 0
    with sessions() as s, s.begin():
        s.add_all([Role(id=r, name=r) for r in workload.roles])
        for n in range(len(quota)):
            s.add_all([OrgUnit(id=unit_name(n), name=f"Đơn vị đo {n}")])
            s.add(User(id=user_name(n), full_name=f"Người đo {n}", password_hash=hashed))
        s.flush()
        s.add_all([Membership(user_id=user_name(n), role_id=ROLE, unit_id=unit_name(n)) for n in range(len(quota))])
        deploy(s, workload.files, ctx.clock)
    for n, tasks in enumerate(quota):
        wanted = math.ceil(tasks / STEPS)
        for chunk in range(0, wanted, 200):
            with sessions() as s, s.begin():
                for _ in range(min(200, wanted - chunk)):
                    instance_service.start_instance(
                        s, ctx, key=workload.key, unit_id=unit_name(n), data=dict(workload.data)
                    )
                    started += 1
    ensure_schema(engine)  # stamped here, so the workers starting at once find nothing to migrate
    return started


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    """The pids of ``pid``'s children (Linux ``/proc``; empty elsewhere)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(c) for c in task.read_text().split()]
        except OSError:
            pass
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (Linux ``/proc``; 0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float | None:
    """CPU used so far by every PostgreSQL server process on this machine (the bench's server is local), or None
    when none is visible."""
    total, seen = 0.0, False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if stat[stat.index("(") + 1 : stat.rindex(")")].startswith(("postgres", "postmaster")):
            seen = True
            total += cpu_seconds(int(entry.name))
    return total if seen else None


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@contextmanager
def gunicorn(url: str, workers: int, log_path: Path) -> Iterator[dict[str, Any]]:
    """gunicorn serving the app on a free loopback port; yields ``{"port", "pid", "startup_s"}``.

    Stopped on the way out whatever happened: SIGTERM to the master (it stops its workers), SIGKILL after a few
    seconds to the master and to any worker still there; the yielded dict then holds ``"left_running"``.
    """
    port = free_port()
    env = dict(os.environ, DATABASE_URL=url, TDKT_SECRET_KEY=secrets.token_urlsafe(32))
    env.pop("TDKT_SECURE_COOKIES", None)  # plain HTTP on loopback: a Secure cookie would never come back
    command = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}"]
    command += ["--graceful-timeout", "5", "--log-level", "warning", "api:create_app()"]
    t0 = time.perf_counter()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    info: dict[str, Any] = {"port": port, "pid": proc.pid}
    workers_seen: set[int] = set()
    try:
        _wait_healthy(proc, port, log_path)
        info["startup_s"] = round(time.perf_counter() - t0, 2)
        workers_seen.update(_children(proc.pid))
        yield info
    finally:
        workers_seen.update(_children(proc.pid))
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        deadline = time.monotonic() + 5
        while any(_alive(w) for w in workers_seen) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = [w for w in workers_seen if _alive(w)]
        for w in left:
            try:
                os.kill(w, signal.SIGKILL)
            except ProcessLookupError:
                pass
        info["left_running"] = len(left)


def _wait_healthy(proc: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise HttpBenchError(f"gunicorn exited with code {proc.returncode}: {_tail(log_path)}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.1)
    raise HttpBenchError(f"gunicorn did not answer /healthz within {START_TIMEOUT_S:.0f} s: {_tail(log_path)}")


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"


def load(port: int, users: list[str], password: str, quota: list[int], seconds: float) -> dict[str, Any]:
    """Run ``engine.bench.http_load`` in its own process against the server; its result."""
    plan = {"port": port, "users": users, "password": password, "quota": quota, "seconds": seconds, "page": 500}
    proc = subprocess.run(  # noqa: S603 - our own module, with this interpreter
        [sys.executable, "-m", "engine.bench.http_load"],
        input=json.dumps(plan).encode(),
        capture_output=True,
        cwd=ROOT,
        timeout=seconds + 120 if seconds else None,
        check=False,
    )
    if proc.returncode != 0:
        raise HttpBenchError(f"load generator failed: {proc.stderr.decode(errors='replace').strip()[-300:]}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def exactly_once(engine: Engine) -> dict[str, Any]:
    """What the database holds after the load: completed task rows, ``task.completed`` audit events, tasks
    completed more than once (a doubled step), instances with more than one open task (a lost or forked step:
    ``sequence_5`` has one at a time) and instances whose completed tasks and events disagree. ``ok`` when the
    last three are 0 and events match rows."""
    with engine.connect() as conn:
        completed = int(conn.execute(select(func.count()).where(HumanTask.status == "completed")).scalar_one())
        events = conn.execute(
            text("SELECT task_guid, count(*) FROM audit_event WHERE action = 'task.completed' GROUP BY task_guid")
        ).all()
        forked = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT instance_id FROM human_task WHERE status IN ('open', 'claimed')"
                " GROUP BY instance_id HAVING count(*) > 1) AS f"
            )
        ).scalar_one()
        disagree = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT t.instance_id, count(*) AS n FROM human_task t"
                " WHERE t.status = 'completed' GROUP BY t.instance_id) AS c"
                " WHERE c.n != (SELECT count(*) FROM audit_event e"
                " WHERE e.instance_id = c.instance_id AND e.action = 'task.completed')"
            )
        ).scalar_one()
    doubled = sum(1 for _guid, n in events if n > 1)
    result = {
        "completed_tasks": completed,
        "completion_events": sum(n for _guid, n in events),
        "doubled_steps": doubled,
        "instances_with_two_open_tasks": int(forked),
        "instances_rows_and_events_disagree": int(disagree),
    }
    result["ok"] = (
        doubled == 0 and not forked and not disagree and result["completion_events"] == result["completed_tasks"]
    )
    return result


def run_http(
    url: str | None,
    *,
    workers: int = 4,
    clients: int = 4,
    completions: int = 400,
    seconds: float = 0.0,
    log: Callable[[str], None] = lambda _line: None,
) -> dict[str, Any]:
    """Seed, serve, load, stop (see the module). ``url``: None for SQLite, else a PostgreSQL URL to make the bench
    database beside. ``seconds`` (0: none) stops the clients early. Raises HttpBenchError when it cannot run."""
    workload = camunda_workloads({WORKLOAD})[0]
    quota = quotas(completions, clients)
    password = secrets.token_urlsafe(16)
    with bench_database(url, "http") as engine, tempfile.TemporaryDirectory(prefix="tdkt-bench-http-") as tmp:
        backend = engine.dialect.name
        t0 = time.perf_counter()
        instances = seed(engine, workload, quota, password)
        seed_s = time.perf_counter() - t0
        engine.dispose()  # the workers own the database from here
        db_url = engine.url.render_as_string(hide_password=False)
        log(f"http on {backend}: gunicorn -w {workers}, {clients} clients, {completions:,} completions")
        with gunicorn(db_url, workers, Path(tmp) / "gunicorn.log") as server:
            serving = [server["pid"], *_children(server["pid"])]
            cpu_before = [cpu_seconds(p) for p in serving], postgres_cpu_seconds()
            t_load = time.perf_counter()
            ran = load(server["port"], [user_name(n) for n in range(clients)], password, quota, seconds)
            load_wall = time.perf_counter() - t_load
            cpu_after = [cpu_seconds(p) for p in serving], postgres_cpu_seconds()
        if server.get("left_running"):
            ran["errors"]["gunicorn processes left running (killed)"] = server["left_running"]
        checked = exactly_once(engine)
    cpu = {
        "gunicorn_s": round(sum(cpu_after[0]) - sum(cpu_before[0]), 2),
        "load_generator_s": round(ran.get("cpu_s", 0.0), 2),
        "database_server_s": None
        if backend != "postgresql" or cpu_before[1] is None or cpu_after[1] is None
        else round(cpu_after[1] - cpu_before[1], 2),
    }
    cores = os.cpu_count() or 1
    span = load_wall * cores  # the CPU the machine had while the load generator ran (its logins included)
    shares = {k.removesuffix("_s"): round(v / span, 3) if v is not None and span > 0 else None for k, v in cpu.items()}
    timings = [t for per_client in ran["latencies_s"] for t in per_client]
    latency = report.summary(timings)
    fifth = ran["wall_s"] / 5
    by_fifth = [0] * 5
    for end in (e for per_client in ran["ends_s"] for e in per_client):
        by_fifth[min(4, int(end / fifth))] += 1
    return {
        "backend": backend,
        "server": "gunicorn (sync workers)",
        "workers": workers,
        "clients": clients,
        "workload": WORKLOAD,
        "completions": len(timings),
        "planned_completions": completions,
        "per_client": [len(c) for c in ran["latencies_s"]],
        "wall_s": round(ran["wall_s"], 3),
        "completions_per_s": round(len(timings) / ran["wall_s"], 1) if timings and ran["wall_s"] > 0 else None,
        "p50_ms": latency["median_ms"],
        "p99_ms": latency["p99_ms"],
        "per_s_by_fifth": [round(n / fifth, 1) for n in by_fifth],  # does the rate hold as the database grows?
        "errors": ran["errors"],
        "first_errors": ran["first_errors"],
        "deadline_hit": ran["deadline_hit"],
        "completed_in_database": checked["completed_tasks"],
        "exactly_once": checked,
        "cpu_s": cpu,  # CPU used while the clients ran, by who
        "cpu_share_of_cores": shares,  # the same over wall time x cores (database_server: PostgreSQL's processes)
        "seeded_instances": instances,
        "seed_s": round(seed_s, 2),
        "startup_s": server.get("startup_s"),
        "server_pid": server["pid"],
    }
