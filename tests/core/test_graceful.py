"""A web node stops gracefully and the app outlives its database.

gunicorn (gunicorn.conf.py) on SIGTERM refuses new connections at once and finishes the
request in flight; a database that cannot be reached answers 503 with Retry-After (JSON
under /api/, the error page elsewhere), leaves no half-written booking, and the app
serves again once the database is back, without a restart. The restart uses a
throwaway server from tests/pgcluster.py: skipped without the PostgreSQL binaries,
failing with CI=true.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import runpy
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import psycopg
import pytest
from gunicorn.config import Config
from honcho.environ import parse_procfile
from sqlalchemy import event, func, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

import core.db
from accounts import services as account_services
from accounts import sessions
from app import create_app
from availability.models import Occupancy
from billing.models import CreditEntry, EntryKind
from booking.models import Booking, BookingNight, BookingStatus
from core.errors import database_unavailable
from core.extensions import db as _db
from tests import pgcluster
from tests.conftest import (
    PASSWORD,
    LoopbackServer,
    RequestIsolatedClient,
    app_config,
    bearer,
    days,
)

PROJECT = Path(__file__).resolve().parents[2]
# A message a driver might carry: it must never reach the log.
DSN = "postgresql://engawa:hunter2@db.internal:5432/engawa"
ENGLISH_GET = "Engawa is briefly unavailable. Please try again in a few seconds."
ENGLISH_POST = "Engawa is briefly unavailable, and what you sent may not have been saved."


def _outage(orig: Exception | None = None) -> sa_exc.OperationalError:
    """What SQLAlchemy raises when PostgreSQL ends a connection for a shutdown."""
    orig = orig or psycopg.errors.AdminShutdown(f"terminating connection ({DSN})")
    return sa_exc.OperationalError("SELECT user_session.id FROM user_session", {}, orig)


def _fail_with(exc: Exception):
    def fail(*_args, **_kwargs):
        raise exc

    return fail


# --- which failures are an outage -----------------------------------------------------


def _sqlite_error(name: str) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError(name)
    error.sqlite_errorname = name
    return error


@pytest.mark.parametrize(
    ("exc", "outage"),
    [
        (_outage(), True),
        (_outage(psycopg.OperationalError("connection failed: Connection refused")), True),
        (_outage(psycopg.errors.ConnectionFailure("connection failure")), True),
        (_outage(psycopg.errors.TooManyConnections("too many clients")), True),
        (_outage(psycopg.errors.CannotConnectNow("the database system is starting up")), True),
        (sa_exc.InterfaceError("SELECT 1", {}, psycopg.InterfaceError("closed")), True),
        (sa_exc.TimeoutError("QueuePool limit of size 5 overflow 5 reached"), True),
        (sa_exc.DisconnectionError("connection failed its pre-ping"), True),
        (_outage(_sqlite_error("SQLITE_BUSY")), True),
        (_outage(_sqlite_error("SQLITE_IOERR_SHORT_READ")), True),
        # Refusals and bugs stay what they were: a race lost, a timeout, a missing table.
        (_outage(psycopg.errors.DeadlockDetected("deadlock detected")), False),
        (_outage(psycopg.errors.SerializationFailure("could not serialize")), False),
        (_outage(psycopg.errors.QueryCanceled("canceling statement due to timeout")), False),
        (_outage(_sqlite_error("SQLITE_ERROR")), False),
        (sa_exc.IntegrityError("INSERT", {}, psycopg.errors.UniqueViolation("dup")), False),
        (sa_exc.ProgrammingError("SELECT", {}, psycopg.errors.UndefinedTable("no table")), False),
        (_outage(Exception("server closed the connection")), False),
        (RuntimeError("not the database"), False),
    ],
    ids=lambda value: (
        value if isinstance(value, bool) else type(getattr(value, "orig", value)).__name__
    ),
)
def test_only_a_database_that_cannot_serve_now_is_an_outage(exc, outage):
    assert database_unavailable(exc) is outage


# --- the answers, in process (SQLite and PostgreSQL) ----------------------------------


def test_a_page_while_the_database_is_down_is_a_503_page_and_the_sign_in_survives(
    app, client, make_employee, login, monkeypatch, caplog
):
    login(make_employee())
    with client.session_transaction() as browser:
        browser["lang"] = "en"
    monkeypatch.setattr(sessions, "resume", _fail_with(_outage()))

    with caplog.at_level(logging.ERROR, logger="core.errors"):
        page = client.get("/")
        sent = client.post("/logout")

    assert page.status_code == 503
    assert page.headers["Retry-After"] == "5"
    assert page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert ENGLISH_GET in text
    assert "Sign out" not in text  # drawn for a signed-out visitor: no query for who it is
    assert sent.status_code == 503
    assert ENGLISH_POST in sent.get_data(as_text=True)
    messages = [r.getMessage() for r in caplog.records if r.name == "core.errors"]
    assert messages == [
        "database unavailable on GET /: OperationalError (AdminShutdown, 57P01)",
        "database unavailable on POST /logout: OperationalError (AdminShutdown, 57P01)",
    ]
    assert "hunter2" not in caplog.text and "db.internal" not in caplog.text

    monkeypatch.undo()  # the database is back: the same browser is still signed in
    again = client.get("/")
    assert again.status_code == 200
    assert "Sign out" in again.get_data(as_text=True)


def test_the_page_is_japanese_first(app, client, make_employee, login, monkeypatch):
    login(make_employee())
    monkeypatch.setattr(sessions, "resume", _fail_with(_outage()))

    page = client.get("/")

    assert page.status_code == 503
    assert '<html lang="ja">' in page.get_data(as_text=True)


def test_the_api_while_the_database_is_down_is_a_503_in_its_json_shape(
    app, db, client, make_employee, monkeypatch
):
    headers = bearer(db, make_employee())
    monkeypatch.setattr(account_services, "user_for_token", _fail_with(_outage()))

    response = client.get("/api/v1/bookings", headers=headers)

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    body = response.get_json()
    assert set(body) == {"error"} and body["error"]["code"] == "unavailable"
    assert body["error"]["message"]


def test_a_failure_that_is_not_an_outage_is_still_a_500(
    app, db, client, make_employee, monkeypatch
):
    headers = bearer(db, make_employee())
    deadlock = _outage(psycopg.errors.DeadlockDetected("deadlock detected"))
    monkeypatch.setattr(account_services, "user_for_token", _fail_with(deadlock))

    response = client.get("/api/v1/bookings", headers=headers)

    assert response.status_code == 500
    assert "Retry-After" not in response.headers
    assert response.get_json()["error"]["code"] == "internal_error"


def test_a_locked_sqlite_file_is_a_503_until_the_lock_is_let_go(
    backend, app, db, client, make_employee, monkeypatch, tmp_path
):
    """A real "database is locked": another process holds SQLite's write lock longer
    than the busy timeout (shortened here from its 5 s)."""
    if backend != "sqlite":
        pytest.skip("SQLite's own lock")
    headers = bearer(db, make_employee())
    db.session.commit()
    monkeypatch.setattr(core.db, "SQLITE_BUSY_TIMEOUT_MS", 50)
    db.engine.dispose()  # new connections take the shorter timeout
    other = sqlite3.connect(tmp_path / "engawa-test.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        locked = client.get("/api/v1/bookings", headers=headers)
        other.execute("ROLLBACK")
        free = client.get("/api/v1/bookings", headers=headers)
    finally:
        other.close()

    assert locked.status_code == 503
    assert locked.get_json()["error"]["code"] == "unavailable"
    assert free.status_code == 200


# --- Procfile and gunicorn.conf.py ----------------------------------------------------


def test_the_procfile_runs_gunicorn_with_its_config_and_the_scheduler():
    processes = parse_procfile((PROJECT / "Procfile").read_text()).processes
    assert processes == {
        "web": "gunicorn -c gunicorn.conf.py wsgi:app",
        "scheduler": "flask --app wsgi scheduler run",
    }


def _gunicorn_settings(monkeypatch, **env) -> Config:
    """gunicorn.conf.py read as gunicorn reads it, under ``env``."""
    for name in ("GUNICORN_BIND", "PORT", "WEB_CONCURRENCY", "GUNICORN_THREADS", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = Config()
    for name, value in runpy.run_path(str(PROJECT / "gunicorn.conf.py")).items():
        if name in config.settings:
            config.set(name, value)
    return config


def test_gunicorn_settings_come_from_the_environment(monkeypatch):
    config = _gunicorn_settings(monkeypatch, WEB_CONCURRENCY="3", PORT="9001")

    assert config.bind == ["127.0.0.1:9001"]  # loopback unless told otherwise
    assert config.workers == 3
    assert config.worker_class_str == "sync" and config.threads == 1
    assert (config.timeout, config.graceful_timeout, config.keepalive) == (30, 30, 5)
    assert config.max_requests == 2000 and config.max_requests_jitter == 200
    assert config.preload_app is False
    assert config.accesslog is None and config.errorlog == "-"
    assert config.forwarded_allow_ips == []  # X-Forwarded-* are ProxyFix's alone
    assert config.control_socket_disable is True

    config = _gunicorn_settings(
        monkeypatch, GUNICORN_BIND="10.0.0.5:8000", PORT="9001", GUNICORN_THREADS="4"
    )
    assert config.bind == ["10.0.0.5:8000"]
    assert config.threads == 4
    assert config.worker_class.__name__ == "ThreadWorker"  # threads > 1: gthread


@pytest.mark.parametrize(("cores", "workers"), [(1, 3), (2, 5), (4, 9), (64, 12)])
def test_gunicorn_workers_default_to_twice_the_cores_plus_one_within_a_cap(
    monkeypatch, cores, workers
):
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert _gunicorn_settings(monkeypatch).workers == workers


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WEB_CONCURRENCY", "0"),
        ("WEB_CONCURRENCY", "two"),
        ("PORT", "-1"),
        ("GUNICORN_THREADS", "1.5"),
    ],
)
def test_gunicorn_refuses_a_setting_that_is_not_a_count(monkeypatch, name, value):
    with pytest.raises(ValueError, match=name):
        _gunicorn_settings(monkeypatch, **{name: value})


# --- SIGTERM drains a real gunicorn -----------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def _wait(what: str, done, proc: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert proc.poll() is None, f"gunicorn exited while waiting for {what}:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{log.read_text()}"
        time.sleep(0.05)


def _status(port: int, path: str) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:  # noqa: S310
            return answer.status
    except OSError:
        return None


def test_sigterm_refuses_new_connections_and_finishes_the_request_in_flight(tmp_path):
    port = _free_port()
    started, release, log = tmp_path / "started", tmp_path / "release", tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        "SLOW_WSGI_DATABASE_URL": f"sqlite:///{tmp_path / 'slow.db'}",
        "SLOW_WSGI_STARTED": str(started),
        "SLOW_WSGI_RELEASE": str(release),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    env.pop("GUNICORN_CMD_ARGS", None)
    with open(log, "w") as out:
        master = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "gunicorn.conf.py",
                "tests.core.slow_wsgi:app",
            ],
            cwd=PROJECT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait("the worker", lambda: _status(port, "/ready") == 200, master, log)
        answer: dict = {}

        def slow_request():
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("GET", "/slow")
            response = connection.getresponse()
            answer.update(status=response.status, body=response.read().decode())
            connection.close()

        in_flight = threading.Thread(target=slow_request)
        in_flight.start()
        _wait("the slow request to begin", started.exists, master, log)

        master.send_signal(signal.SIGTERM)
        _wait("the port to refuse connections", lambda: _refused(port), master, log, 10)
        assert in_flight.is_alive() and not answer  # still being served

        release.touch()
        in_flight.join(30)
        assert answer == {"status": 200, "body": "slow request finished"}
        assert master.wait(40) == 0, log.read_text()
        assert _refused(port)
        assert "Traceback" not in log.read_text()
    finally:
        if master.poll() is None:
            master.kill()
            master.wait()


# --- a PostgreSQL restart mid-traffic -------------------------------------------------


@pytest.fixture
def cluster():
    problem = pgcluster.available()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"throwaway PostgreSQL clusters are required with CI=true: {problem}")
        pytest.skip(problem)
    with pgcluster.PgCluster.primary() as primary:
        yield primary


class _Http:
    """A client of the served app: JSON calls with a token, and a browser's cookies."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def call(self, method: str, path: str, *, body=None, headers=None, form=None):
        data, send = None, dict(headers or {})
        if body is not None:
            data, send["Content-Type"] = json.dumps(body).encode(), "application/json"
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
        request = urllib.request.Request(self.base + path, data, send, method=method)  # noqa: S310
        try:
            with self.browser.open(request, timeout=30) as answer:
                return answer.status, answer.headers, answer.read().decode()
        except urllib.error.HTTPError as refused:
            with refused:
                return refused.code, refused.headers, refused.read().decode()

    def book(self, headers, unit_id: int, check_in: int, check_out: int):
        stay = {"unit_id": unit_id, "check_in": days(check_in).isoformat()}
        stay |= {"check_out": days(check_out).isoformat(), "guests": 1}
        return self.call("POST", "/api/v1/bookings", body=stay, headers=headers)


class _PauseBeforeCommit:
    """Holds the one request that is about to commit a booking, until told to go on."""

    def __init__(self) -> None:
        self.armed = False
        self.paused = threading.Event()
        self.go_on = threading.Event()

    def __call__(self, session: Session) -> None:
        holds_booking = any(isinstance(o, Booking) for o in session.identity_map.values())
        if (
            self.armed
            and holds_booking
            and threading.current_thread() is not threading.main_thread()
        ):
            self.armed = False
            self.paused.set()
            self.go_on.wait(30)


def _count(model, *where) -> int:
    _db.session.rollback()
    return _db.session.scalar(select(func.count()).select_from(model).where(*where))


class TestDatabaseRestart:
    @pytest.fixture
    def app(self, cluster):
        """The app on the throwaway server (every fixture built on ``app`` uses it)."""
        app = create_app(app_config(cluster.create_database("engawa")))
        app.test_client_class = RequestIsolatedClient
        with app.app_context():
            _db.create_all()
            yield app
            _db.session.remove()
            _db.engine.dispose()

    def test_a_restart_fails_only_what_is_in_flight_and_the_app_recovers_by_itself(
        self, app, db, cluster, make_employee, make_unit, caplog
    ):
        unit, employee = make_unit(), make_employee()
        token = bearer(db, employee)
        unit_id, email = unit.id, employee.email
        db.session.close()  # this test's own session holds no connection across the restart
        pause = _PauseBeforeCommit()
        event.listen(Session, "before_commit", pause)
        try:
            with LoopbackServer.wsgi(app) as server, caplog.at_level(logging.ERROR):
                http = _Http(server.url)
                signed_in = http.call("POST", "/login", form={"email": email, "password": PASSWORD})
                assert signed_in[0] == 200  # followed to the home page
                booked = http.book(token, unit_id, 10, 13)
                assert booked[0] == 201, booked

                # A booking whose nights are claimed when the database stops under it.
                pause.armed = True
                cut_off: list = []
                in_flight = threading.Thread(
                    target=lambda: cut_off.append(http.book(token, unit_id, 20, 23))
                )
                in_flight.start()
                assert pause.paused.wait(30)
                cluster.stop()  # fast: every connection ended, open transactions rolled back
                pause.go_on.set()
                in_flight.join(30)

                down = {
                    "cut off": cut_off[0],
                    "api": http.call("GET", "/api/v1/bookings", headers=token),
                    "booking": http.book(token, unit_id, 24, 26),
                    "page": http.call("GET", "/"),
                }
                cluster.start()
                up = {
                    "api": http.call("GET", "/api/v1/bookings", headers=token),
                    "page": http.call("GET", "/"),
                    # The nights of the booking cut off are free: nothing of it was kept.
                    "rebooked": http.book(token, unit_id, 20, 23),
                }
        finally:
            event.remove(Session, "before_commit", pause)

        for name, (status, headers, text) in down.items():
            assert status == 503, (name, text)
            assert headers["Retry-After"] == "5", name
            if name == "page":
                assert headers.get_content_type() == "text/html"
            else:
                assert json.loads(text)["error"]["code"] == "unavailable", name
        assert [status for status, _h, _t in up.values()] == [200, 200, 201], up
        assert 'action="/logout"' in up["page"][2]  # the browser is still signed in
        first_id = json.loads(booked[2])["id"]
        second_id = json.loads(up["rebooked"][2])["id"]
        listed = sorted(b["id"] for b in json.loads(up["api"][2])["bookings"])
        assert listed == [first_id]  # read before the rebooking: the one booked before

        # Whole bookings only: each night claimed once, by a booking that holds it, and
        # each booking paid once.
        live = (Booking.status == BookingStatus.CONFIRMED,)
        assert _count(Booking) == _count(Booking, *live) == 2
        assert _count(Occupancy) == _count(BookingNight) == 6
        assert _count(Occupancy, Occupancy.booking_id.in_([first_id, second_id])) == 6
        assert _count(CreditEntry, CreditEntry.kind == EntryKind.SPEND) == 2
        assert "database unavailable on POST /api/v1/bookings" in caplog.text
        assert "postgresql://" not in caplog.text
