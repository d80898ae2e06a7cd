"""The HTTP load generator: ``python -m engine.bench.http_load`` reads its plan as JSON on stdin, writes the
result as JSON on stdout.

A process of its own, so its threads compete with the server's workers for the CPU but not for the bench
process's interpreter. Standard library only (it starts in a few milliseconds). Each client is a thread with
its own ``http.client`` connection (kept alive when the server allows it, reopened when it closes it) and its
own session cookie: it logs in, then until its quota is done or the deadline passes it reads its inbox page
(not timed) and completes each task on it, timing ``POST /api/v1/tasks/<id>/complete`` from sending the
request to reading the whole answer. The plan gives each client a user of its own whose tasks nobody else may
take, so a 409 (someone else completed it first) is a bench bug, counted like any other non-2xx answer.

Plan: ``{"port", "users": [...], "password", "quota": [per client], "seconds", "page"}``.
Result: ``{"latencies_s": [[per client]], "ends_s": [[per client]], "wall_s", "cpu_s", "errors": {"STATUS METHOD
PATH": count}, "first_errors", "deadline_hit"}`` (``ends_s``: when each answer came, seconds since the clients began).
"""

from __future__ import annotations

import http.client
import json
import resource
import sys
import threading
import time
from typing import Any

_JSON = {"Content-Type": "application/json", "Accept": "application/json"}


class Client:
    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookie: str | None = None

    def call(self, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
        headers = dict(_JSON)
        if self.cookie:
            headers["Cookie"] = self.cookie
        body = None if payload is None else json.dumps(payload).encode()
        try:
            self.conn.request(method, path, body=body, headers=headers)
            answer = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The server closed a kept-alive connection between two requests: once more on a fresh one.
            self.conn.close()
            self.conn.request(method, path, body=body, headers=headers)
            answer = self.conn.getresponse()
        raw = answer.read()
        cookie = answer.getheader("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        if answer.getheader("Connection", "").lower() == "close":
            self.conn.close()
        try:
            return answer.status, json.loads(raw) if raw else None
        except ValueError:
            return answer.status, raw[:200].decode(errors="replace")


def run(plan: dict[str, Any]) -> dict[str, Any]:
    users: list[str] = plan["users"]
    quota: list[int] = plan["quota"]
    page = int(plan.get("page", 500))
    seconds = float(plan.get("seconds") or 0)
    latencies: list[list[float]] = [[] for _ in users]
    ends: list[list[float]] = [[] for _ in users]  # when each completion's answer came, since the start
    errors: dict[str, int] = {}
    first_errors: list[str] = []
    lock = threading.Lock()
    deadline = [float("inf")]
    began = [0.0]

    def go() -> None:  # run once when every client has logged in and holds its first inbox page
        began[0] = time.perf_counter()
        if seconds:
            deadline[0] = began[0] + seconds

    ready = threading.Barrier(len(users) + 1, action=go)
    hit = [False]

    def error(status: int, what: str, answer: Any) -> None:
        with lock:
            key = f"{status} {what}"
            errors[key] = errors.get(key, 0) + 1
            if len(first_errors) < 5:
                first_errors.append(f"{key}: {answer}")

    def client(n: int) -> None:
        try:
            work(n)
        except Exception as err:  # noqa: BLE001 - counted and reported, like an error answer
            error(0, "exception", repr(err))

    def work(n: int) -> None:
        c = Client(plan["port"])
        status, answer = 0, None
        try:
            status, answer = c.call("POST", "/api/v1/session", {"user": users[n], "password": plan["password"]})
            if status != 200:
                error(status, "POST /api/v1/session", answer)
            status, answer = c.call("GET", f"/api/v1/tasks?limit={page}")
        finally:
            ready.wait()
        mine = latencies[n]
        while len(mine) < quota[n]:
            if status != 200:
                error(status, "GET /api/v1/tasks", answer)
                return
            ids = [t["id"] for t in answer["tasks"]]
            if not ids:
                return
            for task_id in ids[: quota[n] - len(mine)]:
                if time.perf_counter() > deadline[0]:
                    hit[0] = True
                    return
                t0 = time.perf_counter()
                status, answer = c.call("POST", f"/api/v1/tasks/{task_id}/complete", {"data": {}})
                elapsed = time.perf_counter() - t0
                if 200 <= status < 300 and answer.get("status") == "completed":
                    mine.append(elapsed)
                    ends[n].append(t0 + elapsed - began[0])
                elif 200 <= status < 300:
                    error(status, "POST /api/v1/tasks/ID/complete left the task " + str(answer.get("status")), answer)
                else:
                    error(status, "POST /api/v1/tasks/ID/complete", answer)
            status, answer = c.call("GET", f"/api/v1/tasks?limit={page}")  # outside the timed part

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(len(users))]
    for t in threads:
        t.start()
    ready.wait()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began[0]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "cpu_s": usage.ru_utime + usage.ru_stime,  # the load generator's own CPU, logging in included
        "latencies_s": latencies,
        "ends_s": ends,
        "wall_s": wall,
        "errors": errors,
        "first_errors": first_errors,
        "deadline_hit": hit[0],
    }


def main() -> None:
    json.dump(run(json.load(sys.stdin)), sys.stdout)


if __name__ == "__main__":
    main()
