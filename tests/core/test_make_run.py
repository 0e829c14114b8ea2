"""`make run`: the web server and the scheduler start together, and Ctrl-C stops both."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest

PROJECT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _processes_of(session_id: int) -> list[str]:
    out = subprocess.run(
        ["ps", "-ww", "-eo", "sid=,args="],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [
        line.split(None, 1)[1]
        for line in out.splitlines()
        if line.split(None, 1)[0] == str(session_id) and "flask" in line
    ]


def _as_from_a_terminal() -> None:
    # A session of its own (so the test can "press Ctrl-C" on the whole group),
    # and SIGINT not ignored, as it is for a command typed in a terminal.
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.skipif(not Path("/usr/bin/make").exists(), reason="needs make")
def test_make_run_serves_and_schedules_and_ctrl_c_stops_both(tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}",
        "PORT": str(port),
        # Given, so the test leaves the project's instance/secret_key alone (without it
        # every process reads that one file: tests/core/test_config.py).
        "SECRET_KEY": "make-run-test-" + "k" * 32,
    }
    env.pop("BASE_URL", None)
    log = open(tmp_path / "run.log", "w+")
    proc = subprocess.Popen(  # noqa: S603
        ["make", "--no-print-directory", "run"],  # noqa: S607
        cwd=PROJECT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_as_from_a_terminal,
    )
    try:
        status = None
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and status is None:
            time.sleep(1)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as r:  # noqa: S310
                    status = r.status
            except OSError:
                assert proc.poll() is None, (tmp_path / "run.log").read_text()
        assert status == 200, (tmp_path / "run.log").read_text()
        # make run serves BASE_URL=http://127.0.0.1:PORT, and no other host.
        assert f"Engawa on http://127.0.0.1:{port} " in (tmp_path / "run.log").read_text()
        forged = urllib.request.Request(  # noqa: S310
            f"http://127.0.0.1:{port}/login", headers={"Host": "evil.example"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(forged, timeout=5)  # noqa: S310
        assert refused.value.code == 400
        refused.value.close()
        while "job calendar_sync: ok" not in (tmp_path / "run.log").read_text():
            assert time.monotonic() < deadline, (tmp_path / "run.log").read_text()
            time.sleep(0.5)
        running = _processes_of(proc.pid)
        assert any("scheduler run" in p for p in running), running
        assert any(" run --host" in p for p in running), running

        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
        proc.wait(30)
        time.sleep(0.5)
        assert _processes_of(proc.pid) == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


# --- make prod: the Procfile's processes on PostgreSQL -------------------------------

PROD_SERVER = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


def _descendants(pid: int) -> dict[int, str]:
    """Every process below ``pid`` (honcho starts each of its own in a new session)."""
    out = subprocess.run(
        ["ps", "-ww", "-eo", "pid=,ppid=,args="],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    children: dict[int, list[tuple[int, str]]] = {}
    for line in out.splitlines():
        child, parent, args = line.split(None, 2)
        children.setdefault(int(parent), []).append((int(child), args))
    found, todo = {}, [pid]
    while todo:
        for child, args in children.get(todo.pop(), []):
            found[child] = args
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.skipif(not Path("/usr/bin/make").exists(), reason="needs make")
def test_make_prod_runs_gunicorn_and_two_schedulers_on_postgresql_and_ctrl_c_stops_all(
    tmp_path,
):
    """The database is made when missing and migrated; one scheduler leads (its lease in
    the database), the other stands by; logs are JSON lines; Ctrl-C stops every process."""
    try:
        psycopg.connect(PROD_SERVER, connect_timeout=3).close()
    except psycopg.Error as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL on 127.0.0.1:5432 is required with CI=true: {exc}")
        pytest.skip(f"PostgreSQL on 127.0.0.1:5432 is not reachable: {exc}")
    port, database = _free_port(), f"engawa_make_prod_{os.getpid()}"
    # Production's settings: the demo network is left out (`make run`'s test seeds it), so
    # this test waits for the migrations and the processes only.
    env = {
        **os.environ,
        "ENGAWA_ENV": "production",
        "SECRET_KEY": "make-prod-test-" + "k" * 32,
        "BASE_URL": "https://engawa.test",
        "TRUSTED_HOSTS": "127.0.0.1",
        "PROXY_FIX_X_FOR": "0",
        "BILLING_BACKEND": "local",
        "WEB_CONCURRENCY": "1",  # one app import fewer to wait for (make prod's default: 2)
    }
    for name in ("DATABASE_URL", "GUNICORN_BIND", "FLASK_DEBUG"):
        env.pop(name, None)
    log_path = tmp_path / "prod.log"
    log = open(log_path, "w+")
    proc = subprocess.Popen(  # noqa: S603
        ["make", "--no-print-directory", "prod", f"PROD_PORT={port}", f"PROD_DB={database}"],  # noqa: S607
        cwd=PROJECT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_as_from_a_terminal,
    )
    running: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 180
        status = None
        while status is None:
            assert time.monotonic() < deadline and proc.poll() is None, log_path.read_text()
            time.sleep(1)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as r:  # noqa: S310
                    status = r.status
            except OSError:
                pass
        assert status == 200
        text = log_path.read_text()
        assert f"Engawa on http://127.0.0.1:{port}: gunicorn with WEB_CONCURRENCY=1" in text
        assert "Demo network" not in text  # flask seed-demo is never run in production

        # One scheduler holds the lease in the database (the database made by make prod).
        leader = None
        while leader is None:
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.5)
            with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={database}") as c:
                row = c.execute(
                    "SELECT pid FROM scheduler_lease WHERE name = 'scheduler'"
                ).fetchone()
            leader = row[0] if row else None
        running = _descendants(proc.pid)
        python = {pid: args for pid, args in running.items() if not args.startswith("/bin/sh")}
        schedulers = {pid for pid, args in python.items() if "wsgi scheduler run" in args}
        web = {pid for pid, args in python.items() if "gunicorn -c gunicorn.conf.py" in args}
        assert len(schedulers) == 2 and leader in schedulers, (leader, running)
        assert len(web) == 2, running  # the master and its WEB_CONCURRENCY=1 worker
        # Production's log format: one JSON object per line.
        request_lines = [
            line.split("| ", 1)[1]
            for line in log_path.read_text().splitlines()
            if "web.1" in line and "| {" in line
        ]
        assert request_lines and all(json.loads(line) for line in request_lines)

        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
        proc.wait(60)
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in running):
            assert time.monotonic() < deadline, [running[p] for p in running if _alive(p)]
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for pid in running:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        log.close()
        with psycopg.connect(PROD_SERVER, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
