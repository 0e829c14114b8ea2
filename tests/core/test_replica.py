"""Read replicas (core.replica) against a real streaming replica of a throwaway primary.

Search and availability read the replica; anything that books, locks or wrote reads
the primary; a lagging or stopped replica is bypassed; a stale replica can show a
room free that then answers "just taken", never a double booking. The cluster comes
from tests/pgcluster.py: skipped without the PostgreSQL binaries, failing with CI=true.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, event, func, select, text, update

from accounts.models import User
from app import create_app
from availability.models import Occupancy
from billing import ledger
from booking import services
from booking.models import Booking
from core.config import ConfigError
from core.extensions import db as _db
from core.replica import read_only, replica_of, replica_reads, replica_status
from facilities.models import Facility, Unit
from tests import pgcluster
from tests.conftest import NOW, RequestIsolatedClient, app_config, bearer, days, signed_in

OLD_NAME = "Sakura-Old-Name"
NEW_NAME = "Sakura-New-Name"
# High enough that a paused replay is never bypassed for lag unless a test says so.
PATIENT = 3600


@dataclass(frozen=True)
class Cluster:
    primary: pgcluster.PgCluster
    replica: pgcluster.PgCluster
    primary_url: str
    replica_url: str

    def caught_up(self) -> None:
        self.replica.wait_caught_up(self.primary)

    def pause_replay(self) -> None:
        """The replica stops applying what it receives (it stays connected, and reachable)."""
        self.replica.execute("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        self.replica.execute("SELECT pg_wal_replay_resume()")
        self.caught_up()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A primary and its streaming replica, with the app's schema on the primary."""
    problem = pgcluster.available()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"a PostgreSQL cluster cannot be made here: {problem} (CI requires it)")
        pytest.skip(f"a PostgreSQL cluster cannot be made here: {problem}")
    with contextlib.ExitStack() as stack:
        primary = stack.enter_context(pgcluster.PgCluster.primary())
        replica = stack.enter_context(primary.replica())
        url = primary.create_database("engawa")
        schema_app = create_app(app_config(url))
        with schema_app.app_context():
            _db.create_all()
            _db.engine.dispose()
        built = Cluster(primary, replica, url, replica.url("engawa"))
        built.caught_up()
        yield built


@pytest.fixture
def app(request, tmp_path):
    """This module's app: the primary with its replica (READ_MAX_LAG_SECONDS patient unless
    told). ``indirect`` params: ``{"READ_MAX_LAG_SECONDS": n}``, ``{"replica": False}``
    (PostgreSQL without a replica) or ``{"backend": "sqlite"}``."""
    options = dict(getattr(request, "param", {}))
    if options.pop("backend", None) == "sqlite":
        yield from _sqlite_app(tmp_path)
        return
    cluster = request.getfixturevalue("cluster")
    extra = {"READ_MAX_LAG_SECONDS": PATIENT, **options}
    if extra.pop("replica", True):
        extra["DATABASE_READ_URL"] = cluster.replica_url
    app = create_app(app_config(cluster.primary_url, **extra))
    app.test_client_class = RequestIsolatedClient
    with app.app_context():
        yield app
        _db.session.remove()
        if replica_of(app) is not None:
            replica_of(app).engine.dispose()
        cluster.resume_replay()
        tables = ", ".join(t.name for t in _db.metadata.sorted_tables)
        with _db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        _db.engine.dispose()


def _sqlite_app(tmp_path):
    app = create_app(app_config(f"sqlite:///{tmp_path / 'replica.db'}"))
    app.test_client_class = RequestIsolatedClient
    with app.app_context():
        _db.create_all()
        yield app
        _db.session.remove()
        _db.engine.dispose()


@contextlib.contextmanager
def statements_on(engine: Engine) -> Iterator[list[str]]:
    """The app's statements run on ``engine`` meanwhile (not the replica's lag check)."""
    seen: list[str] = []

    def record(conn, cursor, statement, *args) -> None:
        if "pg_is_in_recovery" not in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def wait_for(condition, timeout: float = 15) -> None:
    """Poll ``condition`` (lag grows with time itself) until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not so after {timeout} s: {replica_status()}")
        time.sleep(0.1)


def rename(facility_id: int, name: str) -> None:
    """On the primary (the test's own session is never replica-eligible)."""
    _db.session.execute(
        update(Facility).where(Facility.id == facility_id).values(name_ja=name, name_en=name)
    )
    _db.session.commit()


def stay_args(unit: Unit, check_in: int = 14, check_out: int = 17) -> dict:
    return {
        "unit_id": unit.id,
        "check_in": days(check_in).isoformat(),
        "check_out": days(check_out).isoformat(),
        "guests": 1,
    }


def stay_args_any() -> dict:
    return {"check_in": days(14).isoformat(), "check_out": days(17).isoformat(), "guests": 1}


def search_page(browser) -> str:
    response = browser.get("/", query_string=stay_args_any())
    assert response.status_code == 200
    return response.get_data(as_text=True)


@pytest.fixture
def listed(make_facility, make_unit) -> Unit:
    return make_unit(facility=make_facility(name_ja=OLD_NAME, name_en=OLD_NAME))


@pytest.fixture
def employee(make_employee):
    return make_employee()


@pytest.fixture
def auth(db, employee, client):
    headers = bearer(db, employee)
    # A token's first use records it (a write): do that now, so later reads are reads.
    assert client.get("/api/v1/bookings", headers=headers).status_code == 200
    return headers


# --- routing --------------------------------------------------------------------------


def test_search_reads_the_replica_and_the_rest_reads_the_primary(
    app, cluster, client, listed, employee, auth
):
    browser = signed_in(app, employee)
    cluster.caught_up()
    cluster.pause_replay()
    rename(listed.facility_id, NEW_NAME)  # only on the primary while replay is paused
    replica = replica_of(app).engine

    with statements_on(replica) as on_replica:
        page = search_page(browser)
    assert OLD_NAME in page and NEW_NAME not in page
    assert any("facility" in s for s in on_replica)

    found = client.get("/api/v1/facilities", query_string=stay_args_any(), headers=auth)
    assert [f["name"] for f in found.get_json()["facilities"]] == [OLD_NAME]

    # The quote page is not registered read-only: it states what is about to be charged.
    with statements_on(replica) as on_replica:
        quote = browser.get("/book", query_string=stay_args(listed))
    assert quote.status_code == 200
    assert NEW_NAME in quote.get_data(as_text=True)
    assert on_replica == []

    with statements_on(replica) as on_replica:
        booked = client.post("/api/v1/bookings", json=stay_args(listed), headers=auth)
        own = client.get("/api/v1/bookings", headers=auth)
    assert booked.status_code == 201, booked.get_json()
    assert [b["id"] for b in own.get_json()["bookings"]] == [booked.get_json()["id"]]
    assert on_replica == []
    status = replica_status()  # behind, but within READ_MAX_LAG_SECONDS
    assert status["configured"] and status["reachable"] and status["in_use"]


def test_locks_writes_and_anything_after_a_write_read_the_primary(app, cluster, listed):
    unit_id = listed.id
    cluster.caught_up()
    replica, primary = replica_of(app).engine, _db.engine
    _db.session.remove()  # a session of its own, as a request has
    with app.test_request_context("/"), replica_reads():
        session = _db.session
        assert session.get_bind(clause=select(Unit)) is replica
        assert session.get_bind(clause=select(Unit).with_for_update()) is primary
        assert session.get_bind(clause=select(Unit)) is primary  # locked: primary from now on
    _db.session.remove()
    with app.test_request_context("/"), replica_reads():
        session = _db.session
        assert session.get_bind(clause=select(Unit).with_for_update(read=True)) is primary
    _db.session.remove()
    with app.test_request_context("/"), replica_reads():
        unit = _db.session.get(Unit, unit_id)  # read on the replica
        unit.name = "202 洋室"
        _db.session.flush()  # written on the primary: the rest of the request reads it
        with statements_on(replica) as on_replica:
            name = _db.session.scalar(select(Unit.name).where(Unit.id == unit_id))
        assert name == "202 洋室" and on_replica == []
        _db.session.rollback()
    _db.session.remove()
    # Outside a read-only view (a job, a command, a service called directly): the primary.
    with app.test_request_context("/"):
        assert _db.session.get_bind(clause=select(Unit)) is primary
    assert _db.session.get_bind(clause=select(Unit)) is primary
    with replica_reads():  # not a request: a job or a command
        assert _db.session.get_bind(clause=select(Unit)) is primary


def test_a_row_made_meanwhile_on_the_primary_is_found_after_the_refused_insert(
    app, cluster, make_company
):
    """The search page's credit notice makes a company's billing account on first use. The
    replica, behind, has none; the insert is refused (the primary has it) and the read
    after it goes to the primary, which has."""
    company_id = make_company(subscribed=False).id
    cluster.caught_up()
    cluster.pause_replay()
    ledger.account_of(company_id)  # made on the primary, not yet on the replica
    _db.session.commit()
    _db.session.remove()
    with statements_on(replica_of(app).engine) as on_replica:
        with app.test_request_context("/"), replica_reads():
            account = ledger.account_of(company_id)
            assert account is not None and account.company_id == company_id
    assert any("billing_account" in s for s in on_replica)  # the first look: the replica


def test_the_booking_service_never_locks_on_the_replica(app, cluster, listed, employee):
    """Even inside a read-only view, the booking's locks and everything after go to the
    primary (a booking's POST is never read-only: see the next test)."""
    unit_id, employee_id = listed.id, employee.id
    cluster.caught_up()
    _db.session.remove()
    with (
        statements_on(replica_of(app).engine) as on_replica,
        statements_on(_db.engine) as on_primary,
        app.test_request_context("/"),
        replica_reads(),
    ):
        actor = _db.session.get(User, employee_id)  # a plain read: the replica
        booking = services.book_stay(
            actor, services.StayRequest(unit_id, days(14), days(17), 1), NOW
        )
        _db.session.commit()
        booking_id = booking.id
    assert any("user_account" in s for s in on_replica)
    assert not [s for s in on_replica if "FOR UPDATE" in s or "FOR SHARE" in s]
    assert any("FOR UPDATE" in s for s in on_primary)
    _db.session.remove()
    nights = _db.session.scalars(select(Occupancy.booking_id).where(Occupancy.unit_id == unit_id))
    assert list(nights) == [booking_id] * 3


def test_only_get_endpoints_may_be_registered_read_only(app):
    with pytest.raises(ValueError, match="POST"):
        read_only(app, "booking.book")
    with pytest.raises(ValueError, match="POST"):
        read_only(app, "booking.stay_register")  # GET and POST: it writes
    with pytest.raises(ValueError, match="no endpoint"):
        read_only(app, "booking.nowhere")
    read_only(app, "booking.home")  # again: harmless


# --- a booking is decided on the primary -----------------------------------------------


def test_a_stale_replica_shows_a_room_free_that_then_answers_just_taken(
    app, cluster, client, listed, auth, make_employee
):
    cluster.caught_up()
    cluster.pause_replay()
    rival = services.book_stay(
        make_employee(), services.StayRequest(listed.id, days(14), days(17), 1), NOW
    )
    _db.session.commit()
    rival_id = rival.id

    shown = client.get(
        f"/api/v1/facilities/{listed.facility_id}/availability",
        query_string={"from": days(14).isoformat(), "to": days(17).isoformat()},
        headers=auth,
    )
    [room] = shown.get_json()["units"]
    assert [n["available"] for n in room["nights"]] == [True, True, True]  # stale, and shown

    taken = client.post("/api/v1/bookings", json=stay_args(listed), headers=auth)
    assert taken.status_code == 409
    assert taken.get_json()["error"]["code"] == "taken"

    _db.session.rollback()
    claims = _db.session.scalars(select(Occupancy.booking_id).where(Occupancy.unit_id == listed.id))
    assert list(claims) == [rival_id] * 3  # one claim per night: the rival's
    assert _db.session.scalar(select(func.count()).select_from(Booking)) == 1

    cluster.resume_replay()
    shown = client.get(
        f"/api/v1/facilities/{listed.facility_id}/availability",
        query_string={"from": days(14).isoformat(), "to": days(17).isoformat()},
        headers=auth,
    )
    [room] = shown.get_json()["units"]
    assert [n["available"] for n in room["nights"]] == [False, False, False]


# --- lag and outages ---------------------------------------------------------------------


@pytest.mark.parametrize("app", [{"READ_MAX_LAG_SECONDS": 1}], indirect=True)
def test_a_lagging_replica_is_bypassed_until_it_catches_up(app, cluster, listed, employee, caplog):
    caplog.set_level(logging.INFO, logger="core.replica")
    browser = signed_in(app, employee)
    cluster.caught_up()
    replica = replica_of(app).engine
    wait_for(lambda: replica_status()["in_use"])
    caplog.clear()

    cluster.pause_replay()
    rename(listed.facility_id, NEW_NAME)
    wait_for(lambda: not replica_status()["in_use"])
    # Checked again (once a second) while it stays behind: the change is logged once.
    wait_for(lambda: (replica_status()["lag_seconds"] or 0) > 2.5)
    status = replica_status()
    assert status["reachable"] is True and status["in_use"] is False
    [bypassed] = warnings_in(caplog)
    assert "bypassed" in bypassed and "READ_MAX_LAG_SECONDS=1" in bypassed

    with statements_on(replica) as on_replica:
        page = search_page(browser)
        search_page(browser)
    assert NEW_NAME in page and on_replica == []

    caplog.clear()
    cluster.resume_replay()
    wait_for(lambda: replica_status()["in_use"])
    with statements_on(replica) as on_replica:
        page = search_page(browser)
    assert NEW_NAME in page and any("facility" in s for s in on_replica)
    assert "in use again" in warnings_in(caplog)[0]


@pytest.mark.parametrize("app", [{"READ_MAX_LAG_SECONDS": 1}], indirect=True)
def test_a_replica_cut_off_from_its_primary_is_bypassed_once_stale(app, cluster, caplog):
    """All it received is replayed, but nothing more arrives: it is not 0 s behind."""
    cluster.caught_up()
    # Idle and streaming, its last transaction older than READ_MAX_LAG_SECONDS: in use.
    wait_for(lambda: cluster.replica.execute(LAST_REPLAY_AGE)[0][0] > 1.5)
    wait_for(lambda: replica_status()["in_use"])
    cluster.primary.stop()
    try:
        wait_for(lambda: not replica_status()["in_use"])
        status = replica_status()
        assert status["reachable"] is True and status["lag_seconds"] > 1
        assert any("behind" in message for message in warnings_in(caplog))
    finally:
        cluster.primary.start()
        wait_for(lambda: cluster.replica.execute(STREAMING)[0][0], timeout=30)
    wait_for(lambda: replica_status()["in_use"])


LAST_REPLAY_AGE = "SELECT extract(epoch FROM now() - pg_last_xact_replay_timestamp())"
STREAMING = "SELECT EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')"


def warnings_in(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_pages_work_from_the_primary_while_the_replica_is_down(
    app, cluster, client, listed, employee, auth, caplog
):
    browser = signed_in(app, employee)
    cluster.replica.stop()
    try:
        assert replica_status() == {
            "configured": True,
            "reachable": False,
            "lag_seconds": None,
            "in_use": False,
        }
        assert OLD_NAME in search_page(browser)
        found = client.get("/api/v1/facilities", query_string=stay_args_any(), headers=auth)
        assert found.status_code == 200
        assert [f["name"] for f in found.get_json()["facilities"]] == [OLD_NAME]
        page = browser.get(f"/facilities/{listed.facility_id}")
        assert page.status_code == 200
    finally:
        cluster.replica.start()
    assert any("unreachable" in r.getMessage() for r in caplog.records)


# --- no replica ------------------------------------------------------------------------


@pytest.mark.parametrize("app", [{"backend": "sqlite"}, {"replica": False}], indirect=True)
def test_without_a_replica_everything_reads_the_primary(app, listed, employee):
    browser = signed_in(app, employee)
    assert replica_status() == {
        "configured": False,
        "reachable": None,
        "lag_seconds": None,
        "in_use": False,
    }
    assert OLD_NAME in search_page(browser)
    _db.session.remove()
    with app.test_request_context("/"), replica_reads():
        assert _db.session.get_bind(clause=select(Unit)) is _db.engine


def test_a_replica_needs_postgresql_on_both_sides(tmp_path):
    sqlite = f"sqlite:///{tmp_path / 'x.db'}"
    replica = "postgresql+psycopg://postgres@127.0.0.1:1/engawa"
    with pytest.raises(ConfigError, match="DATABASE_READ_URL"):
        create_app(app_config(sqlite, DATABASE_READ_URL=replica))
