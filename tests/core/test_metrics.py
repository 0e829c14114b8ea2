"""/metrics: what Prometheus reads, who may read it, and the Grafana dashboard on it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from accounts.mail import queue_mail
from app import create_app
from booking import services
from calendars import export as calendar_export
from calendars.models import CalendarFeed
from core import metrics
from core.config import PROJECT_ROOT
from core.db import utcnow
from core.models import SchedulerLease
from tests.conftest import NOW, app_config, bearer, days

DASHBOARD = PROJECT_ROOT / "docs" / "grafana-dashboard.json"
TOKEN = "metrics-token-0123456789abcdef"


def scrape(client, **kw) -> dict[tuple[str, frozenset], float]:
    """The samples of /metrics: (name, labels) → value."""
    response = client.get("/metrics", **kw)
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "text/plain"
    return samples(response.get_data(as_text=True))


def samples(exposition: str) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def value(scraped, name: str, **labels) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


def requests_of(scraped, endpoint: str, method: str = "GET", status: int = 200) -> float:
    return value(
        scraped, "engawa_http_requests_total", endpoint=endpoint, method=method, status=str(status)
    )


def post_booking(client, headers, unit_id: int, check_in: int, check_out: int):
    body = {
        "unit_id": unit_id,
        "check_in": days(check_in).isoformat(),
        "check_out": days(check_out).isoformat(),
        "guests": 1,
    }
    return client.post("/api/v1/bookings", json=body, headers=headers)


# --- Content --------------------------------------------------------------------------


def test_requests_bookings_cancellations_and_conflicts_are_counted(
    db, client, make_employee, make_unit
):
    unit = make_unit()
    auth, other = bearer(db, make_employee()), bearer(db, make_employee())
    before = scrape(client)
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    booked = post_booking(client, auth, unit.id, 10, 13)
    assert booked.status_code == 201
    assert post_booking(client, other, unit.id, 11, 12).status_code == 409
    assert client.delete(f"/api/v1/bookings/{booked.get_json()['id']}", headers=auth).status_code
    after = scrape(client)

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert requests_of(after, "health.healthz") - requests_of(before, "health.healthz") == 3
    assert (
        requests_of(after, "api.create_booking", "POST", 201)
        - requests_of(before, "api.create_booking", "POST", 201)
        == 1
    )
    assert (
        requests_of(after, "api.create_booking", "POST", 409)
        - requests_of(before, "api.create_booking", "POST", 409)
        == 1
    )
    assert grew("engawa_bookings_created_total") == 1
    assert grew("engawa_bookings_cancelled_total") == 1
    assert grew("engawa_booking_conflicts_total") == 1
    # The latency histogram, by the same labels.
    healthz = {"endpoint": "health.healthz", "method": "GET", "status": "200"}
    assert grew("engawa_http_request_duration_seconds_count", **healthz) == 3
    assert grew("engawa_http_request_duration_seconds_bucket", le="+Inf", **healthz) == 3


def test_the_endpoint_label_is_the_route_name_never_the_path(db, client, make_unit):
    unit = make_unit()
    path = calendar_export.export_for_unit(unit, NOW).path  # /calendars/<token>.ics
    db.session.commit()
    token = path.removeprefix("/calendars/").removesuffix(".ics")
    assert client.get(path).status_code == 200
    assert client.get("/no-such-page/" + token).status_code == 404
    response = client.get("/metrics")
    exposition = response.get_data(as_text=True)
    assert token not in exposition and "no-such-page" not in exposition
    scraped = samples(exposition)
    endpoints = {
        dict(labels)["endpoint"] for name, labels in scraped if name == "engawa_http_requests_total"
    }
    assert metrics.UNMATCHED in endpoints
    assert all(re.fullmatch(r"[a-z_]+(\.[a-z_]+)*", e) for e in endpoints), endpoints


def test_a_booking_rolled_back_is_not_counted(db, make_employee, make_unit):
    unit, employee = make_unit(), make_employee()
    created = metrics.BOOKINGS_CREATED._value.get()

    services.book_stay(employee, services.StayRequest(unit.id, days(10), days(12), 1), NOW)
    db.session.rollback()
    assert metrics.BOOKINGS_CREATED._value.get() == created

    # In a savepoint rolled back, inside a transaction that commits another booking.
    with pytest.raises(RuntimeError), db.session.begin_nested():
        services.book_stay(employee, services.StayRequest(unit.id, days(20), days(22), 1), NOW)
        raise RuntimeError("the caller changed its mind")
    services.book_stay(employee, services.StayRequest(unit.id, days(30), days(32), 1), NOW)
    assert metrics.BOOKINGS_CREATED._value.get() == created  # not before the commit
    db.session.commit()
    assert metrics.BOOKINGS_CREATED._value.get() == created + 1


def test_database_gauges_read_the_outbox_events_feeds_and_the_lease(
    db, client, make_employee, make_unit
):
    unit = make_unit()
    for n in range(3):
        queue_mail(f"guest{n}@example.com", "Hello", "Body", NOW)
    failed = queue_mail("gone@example.com", "Hello", "Body", NOW)
    failed.failed_at = NOW
    failed.sent_at = None
    db.session.add(CalendarFeed(unit_id=unit.id, label="Airbnb", url="https://a.test/x.ics"))
    db.session.add(
        CalendarFeed(unit_id=unit.id, label="Booking", url="https://b.test/y.ics", failures=2)
    )
    services.book_stay(make_employee(), services.StayRequest(unit.id, days(5), days(6), 1), NOW)
    now = utcnow()
    db.session.add(
        SchedulerLease(
            name="scheduler",
            holder="abc",
            host="sched-2",
            pid=4242,
            since=now - timedelta(minutes=10),
            renewed_at=now - timedelta(seconds=3),
            expires_at=now + timedelta(seconds=12),
        )
    )
    db.session.commit()
    undispatched = db.session.scalar(
        text("SELECT count(*) FROM domain_event WHERE dispatched_at IS NULL")
    )

    scraped = scrape(client)

    assert value(scraped, "engawa_mail_outbox_backlog") == 3
    assert value(scraped, "engawa_mail_failed") == 1
    assert value(scraped, "engawa_calendar_feeds_failing") == 1
    assert value(scraped, "engawa_events_undispatched") == undispatched >= 1
    assert value(scraped, "engawa_webhook_deliveries_pending") == 0
    assert ("engawa_webhook_deliveries_failed", frozenset()) in scraped
    holder = {"lease": "scheduler", "host": "sched-2", "pid": "4242"}
    assert value(scraped, "engawa_scheduler_lease_holder", **holder) == 1
    assert 3 <= value(scraped, "engawa_scheduler_lease_age_seconds", lease="scheduler") < 60
    assert 600 <= value(scraped, "engawa_scheduler_lease_held_seconds", lease="scheduler") < 700
    assert value(scraped, "engawa_metrics_database_ok") == 1
    # No address leaves through a label or a help text.
    assert "example.com" not in client.get("/metrics").get_data(as_text=True)


def test_an_expired_lease_shows_no_live_holder(db, client):
    now = utcnow()
    db.session.add(
        SchedulerLease(
            name="scheduler",
            holder="abc",
            host="sched-1",
            pid=7,
            since=now - timedelta(hours=1),
            renewed_at=now - timedelta(minutes=5),
            expires_at=now - timedelta(minutes=4),
        )
    )
    db.session.commit()
    scraped = scrape(client)
    holder = {"lease": "scheduler", "host": "sched-1", "pid": "7"}
    assert value(scraped, "engawa_scheduler_lease_holder", **holder) == 0
    assert value(scraped, "engawa_scheduler_lease_age_seconds", lease="scheduler") >= 300


def test_the_pool_gauges_follow_the_primary_pool(app, db, client):
    scraped = scrape(client)
    pool = db.engine.pool
    assert value(scraped, "engawa_db_pool_size") == pool.size()
    assert ("engawa_db_pool_checked_out", frozenset()) in scraped
    assert ("engawa_db_pool_overflow", frozenset()) in scraped
    with db.engine.connect():
        assert metrics.DB_POOL_CHECKED_OUT._value.get() == pool.checkedout() >= 1
    assert metrics.DB_POOL_CHECKED_OUT._value.get() == pool.checkedout()


def test_a_database_down_still_serves_the_process_metrics(tmp_path):
    app = create_app(app_config(f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}"))
    client = app.test_client()
    client.get("/healthz")
    scraped = scrape(client)
    assert value(scraped, "engawa_metrics_database_ok") == 0
    assert requests_of(scraped, "health.healthz") >= 1


def test_a_gauge_name_is_checked(app):
    with pytest.raises(ValueError, match="engawa_"):
        metrics.register_database_gauge(app, "outbox", "no prefix", lambda: 0)
    with pytest.raises(ValueError, match="unique"):
        metrics.register_database_gauge(app, "engawa_mail_failed", "again", lambda: 0)


# --- Who may read it ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "headers", "status"),
    [
        ("127.0.0.1", {}, 200),
        ("::1", {}, 200),
        ("127.0.0.2", {}, 200),
        ("203.0.113.9", {}, 404),
        ("10.0.0.5", {}, 404),
        ("203.0.113.9", {"Authorization": f"Bearer {TOKEN}"}, 200),
        ("203.0.113.9", {"Authorization": f"bearer {TOKEN}"}, 200),
        ("203.0.113.9", {"Authorization": f"Bearer {TOKEN}x"}, 404),
        ("203.0.113.9", {"Authorization": f"Bearer {TOKEN[:-1]}"}, 404),
        ("203.0.113.9", {"Authorization": f"Basic {TOKEN}"}, 404),
        ("203.0.113.9", {"Authorization": "Bearer "}, 404),
        # Through a proxy on the same host: loopback address, but forwarded.
        ("127.0.0.1", {"X-Forwarded-For": "203.0.113.9"}, 404),
        ("127.0.0.1", {"X-Forwarded-For": "127.0.0.1"}, 404),
        ("127.0.0.1", {"X-Real-IP": "203.0.113.9"}, 404),
        ("127.0.0.1", {"Forwarded": "for=203.0.113.9"}, 404),
    ],
)
def test_metrics_are_for_loopback_or_the_token(tmp_path, address, headers, status):
    # Who may read does not depend on the engine: one SQLite app, no schema needed.
    app = create_app(app_config(f"sqlite:///{tmp_path / 'x.db'}", METRICS_TOKEN=TOKEN))
    response = app.test_client().get(
        "/metrics", headers=headers, environ_base={"REMOTE_ADDR": address}
    )
    assert response.status_code == status
    if status == 404:
        assert b"engawa_" not in response.data  # the ordinary 404 page


def test_without_a_token_configured_no_bearer_opens_it(tmp_path):
    app = create_app(app_config(f"sqlite:///{tmp_path / 'x.db'}", METRICS_TOKEN=""))
    for given in ("", " ", "None"):
        response = app.test_client().get(
            "/metrics",
            headers={"Authorization": f"Bearer {given}"},
            environ_base={"REMOTE_ADDR": "203.0.113.9"},
        )
        assert response.status_code == 404


def test_behind_proxy_fix_only_a_direct_loopback_connection_is_local(tmp_path):
    app = create_app(
        app_config(f"sqlite:///{tmp_path / 'x.db'}", PROXY_FIX_X_FOR=1, METRICS_TOKEN=TOKEN)
    )
    # PROXY_FIX_* is read when the factory runs: build the app with it in the config.
    client = app.test_client()
    local = {"REMOTE_ADDR": "127.0.0.1"}
    assert client.get("/metrics", environ_base=local).status_code == 200
    spoofed = {"X-Forwarded-For": "127.0.0.1"}
    assert client.get("/metrics", headers=spoofed, environ_base=local).status_code == 404
    forwarded = {"X-Forwarded-For": "203.0.113.9"}
    assert client.get("/metrics", headers=forwarded, environ_base=local).status_code == 404
    token = {**forwarded, "Authorization": f"Bearer {TOKEN}"}
    assert client.get("/metrics", headers=token, environ_base=local).status_code == 200


# --- gunicorn: several workers, one exposition -----------------------------------------

MULTIPROCESS_SCRIPT = """
import os, sys
from app import create_app
from core.extensions import db
from prometheus_client import multiprocess
from tests.conftest import app_config

app = create_app(app_config(sys.argv[1]))
children = []
for n in (2, 3):  # two "workers", each answering some requests
    pid = os.fork()
    if pid == 0:
        client = app.test_client()
        for _ in range(n):
            client.get("/healthz")
        with app.app_context():
            conn = db.engine.connect()  # held: this worker's pool has one in use
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
print(app.test_client().get("/metrics").get_data(as_text=True))
print("----")
for pid in children:
    multiprocess.mark_process_dead(pid)  # gunicorn's child_exit hook
print(app.test_client().get("/metrics").get_data(as_text=True))
"""


def test_under_gunicorn_the_workers_counts_add_up(tmp_path):
    directory = tmp_path / "prometheus"
    directory.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    result = subprocess.run(  # noqa: S603  (our own interpreter and script)
        [sys.executable, "-c", MULTIPROCESS_SCRIPT, f"sqlite:///{tmp_path / 'x.db'}"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    live, after = (samples(part) for part in result.stdout.split("----\n"))
    assert requests_of(live, "health.healthz") == 5  # 2 + 3, from two processes
    assert value(live, "engawa_db_pool_checked_out") == 2  # one held by each worker
    assert value(after, "engawa_db_pool_checked_out") == 0  # livesum: the dead left
    assert requests_of(after, "health.healthz") == 5  # counters outlive their worker


# --- The Grafana dashboard ------------------------------------------------------------

METRIC_NAME = re.compile(r"\b(engawa_[a-z0-9_]+)")
SUFFIXES = ("_bucket", "_count", "_sum", "_total")


def test_the_dashboard_parses_and_reads_only_metrics_that_exist(db, client, monkeypatch):
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["title"] and dashboard["schemaVersion"] >= 30
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    expressions = [t["expr"] for p in panels for t in p.get("targets", [])]
    assert expressions and all(expr.strip() for expr in expressions)
    referenced = {name for expr in expressions for name in METRIC_NAME.findall(expr)}

    db.session.add(
        SchedulerLease(
            name="scheduler",
            holder="x",
            host="h",
            pid=1,
            since=utcnow(),
            renewed_at=utcnow(),
            expires_at=utcnow() + timedelta(seconds=15),
        )
    )
    db.session.commit()
    replica = {"configured": True, "reachable": True, "lag_seconds": 0.5, "in_use": True}
    monkeypatch.setattr(metrics, "replica_status", lambda: replica)  # its panel too
    exposition = client.get("/metrics").get_data(as_text=True)
    families = {family.name for family in text_string_to_metric_families(exposition)}
    sample_names = {name for name, _labels in samples(exposition)}
    missing = {
        name
        for name in referenced
        if name not in sample_names
        and name not in families
        and not any(name.endswith(s) and name.removesuffix(s) in families for s in SUFFIXES)
    }
    assert not missing, f"the dashboard reads metrics /metrics does not have: {missing}"
    # Every panel the issue asks for is there.
    for metric in (
        "engawa_http_requests_total",
        "engawa_http_request_duration_seconds_bucket",
        "engawa_bookings_created_total",
        "engawa_bookings_cancelled_total",
        "engawa_booking_conflicts_total",
        "engawa_job_runs_total",
        "engawa_job_duration_seconds_bucket",
        "engawa_scheduler_leader",
        "engawa_mail_outbox_backlog",
        "engawa_mail_failed",
        "engawa_feed_syncs_total",
        "engawa_db_pool_checked_out",
        "engawa_replica_lag_seconds",
    ):
        assert metric in referenced, metric


def test_no_label_can_carry_a_person():
    for metric in (metrics.REQUESTS, metrics.REQUEST_SECONDS, metrics.JOB_RUNS, metrics.FEED_SYNCS):
        assert not set(metric._labelnames) & {"email", "name", "user", "path", "url"}


def test_the_replica_is_exported_only_when_configured(app, client, monkeypatch):
    assert ("engawa_replica_in_use", frozenset()) not in scrape(client)
    lagging = {"configured": True, "reachable": True, "lag_seconds": 42.0, "in_use": False}
    monkeypatch.setattr(metrics, "replica_status", lambda: lagging)
    scraped = scrape(client)
    assert value(scraped, "engawa_replica_in_use") == 0
    assert value(scraped, "engawa_replica_lag_seconds") == 42.0
