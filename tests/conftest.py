"""Fixtures shared by the suite.

Every test that takes ``app`` (or anything built on it) runs twice: on a fresh
SQLite file and on PostgreSQL (``TEST_DATABASE_URL``, default the local server).
With ``CI=true`` an unreachable PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import os
import re
import shutil
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Self

import psycopg
import pyotp
import pytest
from flask import has_app_context
from flask.testing import FlaskClient
from jinja2.bccache import Bucket, BytecodeCache
from sqlalchemy import exc as sa_exc
from sqlalchemy import make_url, select, text, update
from werkzeug.routing import Rule
from werkzeug.serving import WSGIRequestHandler, make_server

from accounts import two_factor
from accounts.models import Company, OperatorOrg, Role, User
from accounts.services import create_api_token, hash_password
from app import create_app
from billing import ledger
from billing.models import EntryKind, Plan, Subscription
from core.config import load_config, normalise_database_url
from core.extensions import db as _db
from facilities.models import Facility, Unit
from lodging.rates import seed_rules

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
FAST_HASH = "pbkdf2:sha256:1000"
PASSWORD = "correct horse battery"
# The authenticator key of users made with ``make_user(..., totp=True)``.
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # noqa: S105
# Where a sign-in asks for the authenticator's code.
TWO_FACTOR_STEP = "/login/two-factor"
# A fixed instant: 2026-12-01 12:00 in Tokyo. Tests never depend on today's date.
NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
TODAY = date(2026, 12, 1)
# The shipped defaults, from the one place that sets them (no environment read).
DEFAULTS = load_config({"SECRET_KEY": "defaults-" + "x" * 32})


LOOPBACK = "127.0.0.1"
SQLITE_FILE = "engawa-test.db"
_APP_ITER = "engawa.tests.app_iter"


def _share_url_builders() -> None:
    """Let the suite's apps share werkzeug's compiled URL builders.

    Each ``create_app`` compiles a Python function per route (about 350 of them, ``ast``
    then ``compile``): two thirds of building an app, and the suite builds one per test.
    The function depends only on the rule's parts, defaults and converters, so one
    compiled per distinct rule serves every app; each rule still binds its own.
    """
    compile_builder = Rule._compile_builder
    compiled: dict[tuple, Callable] = {}

    def shared(self: Rule, append_unknown: bool = True) -> Callable:
        key = (
            self.rule,
            tuple(self._trace),
            tuple((k, repr(v)) for k, v in sorted((self.defaults or {}).items())),
            tuple((k, type(c), c.regex) for k, c in sorted(self._converters.items())),
            append_unknown,
        )
        if key not in compiled:
            compiled[key] = compile_builder(self, append_unknown)
        return compiled[key]

    Rule._compile_builder = shared


_share_url_builders()


class _CompiledTemplates(BytecodeCache):
    """Jinja's compiled templates, kept in memory for every app of the process: without
    it each test's new app compiles every template it renders again. Jinja checks each
    entry against the template's source."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        if (code := self._code.get(bucket.key)) is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_TEMPLATES_COMPILED = _CompiledTemplates()


class _ClosingHandler(WSGIRequestHandler):
    """Werkzeug's handler, closing the response when the browser hangs up mid-way.

    When a client drops the connection while a file is being sent (Chromium does
    this with a favicon or a map tile it no longer needs), werkzeug leaves the
    response iterable unclosed and its open file is only found by the garbage
    collector, as a ResourceWarning in whichever test runs next.
    """

    def connection_dropped(self, error, environ=None) -> None:
        app_iter = (environ or {}).pop(_APP_ITER, None)
        if hasattr(app_iter, "close"):
            app_iter.close()


def _remember_iterable(app: Callable) -> Callable:
    def wrapped(environ, start_response):
        app_iter = app(environ, start_response)
        environ[_APP_ITER] = app_iter
        return app_iter

    return wrapped


class LoopbackServer:
    """One server of the test suite, on a free port of 127.0.0.1, served on a daemon thread.

    ``make(address)`` builds and binds any ``socketserver`` server (HTTP, WSGI, SMTP…)
    on the address it is given; a server bound anywhere but an IPv4 loopback port is
    closed and refused, so no test ever listens beyond this machine. Bound on
    construction (``port``/``url`` are known at once), served from ``start()`` or
    ``with``, and ``stop()`` shuts down, closes (joining handler threads where the
    server blocks on close) and joins the serving thread. ``stop()`` is idempotent.
    """

    def __init__(
        self,
        make: Callable[[tuple[str, int]], socketserver.BaseServer],
        *,
        name: str = "loopback-server",
        poll_interval: float = 0.05,  # how long shutdown() may wait for the loop to notice
        join_timeout: float = 10,
    ) -> None:
        self.server = make((LOOPBACK, 0))
        bound = self.server.server_address
        family = getattr(self.server, "address_family", None)
        if family != socket.AF_INET or bound[0] != LOOPBACK or not bound[1]:
            self.server.server_close()
            raise ValueError(f"a test server must listen on {LOOPBACK} only, not {bound!r}")
        self.port: int = bound[1]
        self.url = f"http://{LOOPBACK}:{self.port}"  # meaningful for HTTP servers only
        self._thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": poll_interval},
            name=name,
            daemon=True,
        )
        self._join_timeout = join_timeout
        self._stopped = False

    @classmethod
    def wsgi(cls, app: Callable, **kw) -> Self:
        """A real threaded WSGI server (werkzeug's) for ``app``."""
        return cls(
            lambda address: make_server(
                *address,
                _remember_iterable(app),
                threaded=True,
                request_handler=_ClosingHandler,
            ),
            **kw,
        )

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._thread.is_alive():
            self.server.shutdown()  # returns once serve_forever has left its loop
        self.server.server_close()
        if self._thread.ident is not None:
            self._thread.join(self._join_timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def pg_url() -> str:
    return normalise_database_url(os.environ.get("TEST_DATABASE_URL") or PG_DEFAULT)


def _pg_reachable(url: str) -> str | None:
    try:
        with psycopg.connect(_plain(url), connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip()


_pg_run_url: str | None = None


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture(scope="session")
def _pg_database() -> Iterator[str]:
    """This process's own PostgreSQL database, made on first use and dropped at the end
    of the session, so parallel runs (and pytest-xdist's workers) on one server never
    touch each other's rows. It outlives the ``backend`` parameter's switches: under
    xdist a worker goes from SQLite to PostgreSQL and back once per test file."""
    server = pg_url()
    problem = _pg_reachable(server)
    if problem:
        message = f"PostgreSQL at {server} is not reachable: {problem}"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI requires it)")
        pytest.skip(message)
    name = f"engawa_test_{os.getpid()}"
    with psycopg.connect(_plain(server), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield make_url(server).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(_plain(server), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request):
    """The engine under test; PostgreSQL is this process's database (``_pg_database``)."""
    global _pg_run_url
    if request.param == "sqlite":
        yield "sqlite"
        return
    _pg_run_url = request.getfixturevalue("_pg_database")
    yield "postgresql"
    _pg_run_url = None


def app_config(url: str, **extra) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": url,
        "WTF_CSRF_ENABLED": False,
        "PASSWORD_HASH_METHOD": FAST_HASH,
        "FIXED_NOW": NOW,
        **extra,
    }


def reset_postgres(app) -> None:
    """Drop and recreate the schema from the models."""
    with app.app_context():
        with _db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        _db.create_all()
        _db.engine.dispose()


_pg_schema_ready = False


class RequestIsolatedClient(FlaskClient):
    """Each request runs in its own app context, as in production: fresh ``g``, fresh session.

    Without this, requests would share the test's app context, and with it Flask-Login's
    cached user and the test's database session, hiding bugs. The test's own session
    ends its transaction before each request, so it never holds SQLite's write lock
    while the app works, and reads fresh data afterwards.
    """

    def open(self, *args, **kwargs):
        if has_app_context():
            _db.session.commit()
        return contextvars.Context().run(super().open, *args, **kwargs)


def database_url(backend: str, tmp_path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / SQLITE_FILE}"
    assert _pg_run_url, "the backend fixture sets up the run's PostgreSQL database"
    return _pg_run_url


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory) -> Path:
    """An empty SQLite database with the schema, made once per process and copied for
    each test: copying a file is ten times quicker than creating 78 tables."""
    path = tmp_path_factory.mktemp("sqlite-template") / "engawa-template.db"
    template = create_app(app_config(f"sqlite:///{path}"))
    with template.app_context():
        _db.create_all()
        _db.engine.dispose()  # checkpoints the write-ahead log into the file
    return path


def _empty_postgres(conn) -> None:
    """Empty the tables a test wrote to and restart the id sequences it moved.

    A TRUNCATE of every table costs 150 ms, as much as many tests themselves; deleting
    from the few tables holding rows, children first, takes a few milliseconds."""
    tables = _db.metadata.sorted_tables
    holding = set(
        conn.scalars(
            text(
                " UNION ALL ".join(
                    f"SELECT '{t.name}' WHERE EXISTS (SELECT 1 FROM {t.name})"  # noqa: S608 (our table names)
                    for t in tables
                )
            )
        )
    )
    for table in reversed(tables):
        if table.name in holding:
            conn.execute(table.delete())
    conn.execute(
        text(
            "SELECT setval(format('%I', sequencename)::regclass, start_value, false)"
            " FROM pg_sequences WHERE schemaname = 'public' AND last_value IS NOT NULL"
        )
    )


@pytest.fixture
def app(backend, tmp_path, request):
    global _pg_schema_ready
    if backend == "sqlite":
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), tmp_path / SQLITE_FILE)
    app = create_app(app_config(database_url(backend, tmp_path)))
    app.test_client_class = RequestIsolatedClient
    app.jinja_env.bytecode_cache = _TEMPLATES_COMPILED
    if backend == "postgresql" and not _pg_schema_ready:
        reset_postgres(app)
        _pg_schema_ready = True
    with app.app_context():
        yield app
        _db.session.remove()
        if backend == "postgresql":
            try:
                with _db.engine.begin() as conn:
                    _empty_postgres(conn)
            except sa_exc.DBAPIError:  # rows the deletes cannot order: empty everything
                tables = ", ".join(t.name for t in _db.metadata.sorted_tables)
                with _db.engine.begin() as conn:
                    conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        _db.engine.dispose()


def mark_schema_dirty() -> None:
    """For tests that rebuild the PostgreSQL schema themselves (migrations)."""
    global _pg_schema_ready
    _pg_schema_ready = False


@pytest.fixture
def db(app):
    return _db


@pytest.fixture
def client(app):
    return app.test_client()


_seq = itertools.count(1)


def plan_named(code: str = "standard") -> Plan:
    plan = _db.session.scalar(select(Plan).where(Plan.code == code))
    if plan is None:
        fee, credit = {"lite": (3000, 5000), "standard": (8000, 15000)}.get(code, (8000, 15000))
        plan = Plan(code=code, name=code.title(), fee_per_seat=fee, credit_per_seat=credit)
        _db.session.add(plan)
        _db.session.flush()
    return plan


def subscribe(
    company: Company,
    *,
    seats: int = 1000,
    credit: int = 10_000_000,
    status: str = "active",
    plan: str = "standard",
    now: datetime = NOW,
) -> Subscription:
    """Give a company a subscription in ``status`` and ``credit`` yen granted on the ledger."""
    account = ledger.account_of(company.id, lock=True)
    sub = Subscription(
        company_id=company.id,
        plan_id=plan_named(plan).id,
        stripe_subscription_id=f"sub_test_{company.id}_{next(_seq)}",
        status=status,
        seats=seats,
        current_period_start=now - timedelta(days=10),
        current_period_end=now + timedelta(days=20),
        past_due_since=now if status == "past_due" else None,
        created_at=now,
    )
    _db.session.add(sub)
    _db.session.flush()
    account.subscription_id = sub.id
    if credit:
        ledger.append(account, EntryKind.GRANT, credit, now, note="test grant")
    _db.session.commit()
    return sub


@pytest.fixture
def make_company(db):
    def make(**kw) -> Company:
        """A company with an active subscription and ample credit, unless told otherwise
        (``subscribed=False``; ``seats``, ``credit``, ``status`` for the subscription)."""
        subscribed = kw.pop("subscribed", True)
        billing = {k: kw.pop(k) for k in ("seats", "credit", "status", "plan") if k in kw}
        company = Company(
            name=kw.pop("name", f"Company {next(_seq)}"),
            max_nights_per_stay=kw.pop("max_nights_per_stay", 14),
            max_nights_per_month=kw.pop("max_nights_per_month", 20),
            **kw,
        )
        db.session.add(company)
        db.session.commit()
        if subscribed:
            subscribe(company, **billing)
        return company

    return make


@pytest.fixture
def make_operator(db):
    def make(**kw) -> OperatorOrg:
        org = OperatorOrg(name=kw.pop("name", f"Operator {next(_seq)}"), **kw)
        db.session.add(org)
        db.session.commit()
        return org

    return make


@pytest.fixture
def make_user(db, make_company, make_operator):
    def make(role: str = Role.EMPLOYEE, **kw) -> User:
        """``totp=True``: enrolled in two-factor sign-in with ``TOTP_SECRET``."""
        n = next(_seq)
        totp = kw.pop("totp", False)
        if role in (Role.EMPLOYEE, Role.COMPANY_ADMIN) and "company" not in kw:
            kw["company"] = make_company()
        if role == Role.OPERATOR and "operator" not in kw:
            kw["operator"] = make_operator()
        user = User(
            email=kw.pop("email", f"user{n}@example.com"),
            name=kw.pop("name", f"社員 {n}"),
            password_hash=hash_password(kw.pop("password", PASSWORD), FAST_HASH),
            role=role,
            **kw,
        )
        if totp:
            two_factor.enrol_with_secret(user, TOTP_SECRET, NOW)
        db.session.add(user)
        db.session.commit()
        return user

    return make


@pytest.fixture
def make_employee(make_user):
    def make(**kw) -> User:
        return make_user(Role.EMPLOYEE, **kw)

    return make


@pytest.fixture
def make_facility(db, make_operator):
    def make(**kw) -> Facility:
        n = next(_seq)
        kind = kw.pop("kind", "stay")
        licensed = kind == "office"
        facility = Facility(
            operator=kw.pop("operator", None) or make_operator(),
            name_ja=kw.pop("name_ja", f"テスト保養所{n}"),
            name_en=kw.pop("name_en", f"Test Retreat {n}"),
            kind=kind,
            # Listed facilities carry a licence (facilities.licences).
            licence_type=kw.pop("licence_type", "none" if licensed else "hotel"),
            licence_number=kw.pop("licence_number", "" if licensed else f"長野県指令第{n}号"),
            prefecture=kw.pop("prefecture", 20),
            municipality=kw.pop("municipality", "北佐久郡軽井沢町"),
            address=kw.pop("address", "軽井沢1-2-3"),
            latitude=kw.pop("latitude", 36.34),
            longitude=kw.pop("longitude", 138.63),
            check_in_time=time(15),
            check_out_time=time(10),
            min_nights=kw.pop("min_nights", 1),
            max_nights=kw.pop("max_nights", 30),
            reviewed_at=kw.pop("reviewed_at", NOW),
            **kw,
        )
        db.session.add(facility)
        db.session.commit()
        return facility

    return make


@pytest.fixture
def tax_rules(db):
    """The accommodation tax rules migration 0010 seeds (tests build the schema from
    the models, so the table starts empty)."""
    rules = seed_rules(NOW)
    db.session.commit()
    return rules


@pytest.fixture
def make_unit(db, make_facility):
    def make(**kw) -> Unit:
        unit = Unit(
            facility=kw.pop("facility", None) or make_facility(),
            name=kw.pop("name", f"{100 + next(_seq)} 和室"),
            capacity=kw.pop("capacity", 2),
            base_price=kw.pop("base_price", 11000),
            **kw,
        )
        db.session.add(unit)
        db.session.commit()
        return unit

    return make


def ready_to_sign_in(email: str) -> None:
    """Let an automated sign-in through the two-factor rules (``accounts.two_factor``):
    forget the last code step accepted, so sign-ins within one 30-second step may use
    the same code; and for a role that requires two-factor sign-in but has not enrolled,
    forget that it was asked to, so its sign-in completes as its first one does.
    (tests/accounts/test_two_factor.py proves the rules themselves.)"""
    email = email.strip().lower()
    _db.session.execute(update(User).where(User.email == email).values(totp_last_step=None))
    _db.session.execute(
        update(User)
        .where(User.email == email, User.totp_enabled_at.is_(None))
        .values(two_factor_prompted_at=None)
    )
    _db.session.commit()


def current_code(email: str) -> str:
    """The authenticator's code now for an enrolled person."""
    user = _db.session.scalar(select(User).where(User.email == email.strip().lower()))
    return pyotp.TOTP(two_factor.open_secret(user.totp_secret)).now()


def post_sign_in(browser: FlaskClient, email: str, password: str = PASSWORD, **kw):
    """POST /login as a browser does, and the code step when the server asks for it;
    the last answer. ``kw``: more for the client (``query_string``, extra ``data``)."""
    with contextlib.ExitStack() as stack:
        if not has_app_context():
            stack.enter_context(browser.application.app_context())
        ready_to_sign_in(email)
        data = {"email": email, "password": password, **kw.pop("data", {})}
        response = browser.post("/login", data=data, **kw)
        if response.status_code == 303 and response.location.startswith(TWO_FACTOR_STEP):
            code = {"code": current_code(email)}
            if "csrf_token" in data:  # a new session began after the password: a new token
                page = browser.get(TWO_FACTOR_STEP).get_data(as_text=True)
                code["csrf_token"] = re.search(r'name="csrf_token" [^>]*value="([^"]+)"', page)[1]
            response = browser.post(TWO_FACTOR_STEP, data=code)
        return response


@pytest.fixture
def login(client):
    def do(user: User, password: str = PASSWORD):
        response = post_sign_in(client, user.email, password)
        assert response.status_code == 302, response.get_data(as_text=True)
        return response

    return do


def signed_in(app, user: User) -> FlaskClient:
    """A browser of its own, signed in as ``user``."""
    browser = app.test_client()
    response = post_sign_in(browser, user.email)
    assert response.status_code == 302, response.get_data(as_text=True)
    return browser


def bearer(db, user: User) -> dict[str, str]:
    """A fresh API token for ``user``, as request headers."""
    _token, secret = create_api_token(user, "t", NOW)
    db.session.commit()
    return {"Authorization": f"Bearer {secret}"}


def days(n: int) -> date:
    """A date ``n`` days after the fixed TODAY."""
    return TODAY + timedelta(days=n)


@pytest.fixture
def unit(make_unit):
    return make_unit()


@pytest.fixture
def operator(make_user, unit):
    """An operator of ``unit``'s organisation."""
    return make_user(Role.OPERATOR, operator=unit.facility.operator)
