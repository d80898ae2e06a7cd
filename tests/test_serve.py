"""``tdkt serve`` as an operator starts it: gunicorn workers answering with the security headers and no banner, a
half-open connection cut off at the timeout, and the scheduler in a process of its own that stops with it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

TDKT = str(Path(sys.executable).parent / "tdkt")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split()[2] == "Z")


@pytest.fixture(name="served")
def served_fixture(tmp_path):
    port = _free_port()
    url = f"sqlite:///{tmp_path / 'serve.sqlite3'}"
    log = (tmp_path / "serve.log").open("w+")
    args = [TDKT, "serve", "--url", url, "--port", str(port), "--workers", "2", "--timeout", "2"]
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # noqa: S603
    base = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1) as answer:  # noqa: S310 - loopback
                if answer.status == 200:
                    break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        log.seek(0)
        pytest.fail("tdkt serve did not answer: " + log.read()[-2000:])
    yield base, port, process, log
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # as an operator stops it: the scheduler goes with it
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    log.close()


def test_it_serves_through_gunicorn_with_the_headers_and_no_banner(served):
    base, _, _, log = served
    with urllib.request.urlopen(base + "/login", timeout=5) as answer:  # noqa: S310 - loopback
        assert answer.status == 200
        assert "Server" not in answer.headers
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
    log.seek(0)
    text = log.read()
    assert "Booting worker" in text  # gunicorn's workers, not werkzeug's development server
    assert "scheduler running (process" in text


def test_a_half_open_connection_is_closed_at_the_timeout(served):
    _, port, _, _ = served
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
        s.settimeout(15)
        started = time.monotonic()
        s.recv(100)  # the server gives up (and closes) rather than wait for ever
        assert time.monotonic() - started < 10
        s.settimeout(5)
        while s.recv(4096):
            pass  # drained: closed by the server


def test_stopping_it_stops_its_scheduler(served):
    _, _, process, log = served
    log.seek(0)
    line = next(x for x in log.read().splitlines() if x.startswith("scheduler running (process"))
    scheduler = int(line.split("process ")[1].rstrip(")"))
    assert _alive(scheduler)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    for _ in range(100):
        if not _alive(scheduler):
            break
        time.sleep(0.1)
    assert not _alive(scheduler)
