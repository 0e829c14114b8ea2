"""Prometheus metrics of every Engawa process (``prometheus_client``).

The metric objects live here so any layer can count (``metrics.BOOKINGS_CREATED.inc()``).
Under gunicorn, ``PROMETHEUS_MULTIPROC_DIR`` makes the workers' values add up in /metrics
(each worker writes its own file there; ``exposition`` reads them all).

What only the database knows (the mail outbox's backlog, the scheduler's lease, …) is
read when /metrics is scraped, by one process, from the primary: a package registers
a function with ``register_database_gauge`` in its ``init_app`` (core imports no package
above it). Keep each to one cheap query: a scrape runs them all.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from flask import Flask, current_app
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import Engine, event, func, select, text

from core.db import utcnow
from core.extensions import db
from core.models import SchedulerLease
from core.replica import replica_status

log = logging.getLogger(__name__)

# No "_created" series beside every counter and histogram: twice the series, little use.
disable_created_metrics()

REQUESTS = Counter(
    "engawa_http_requests", "HTTP requests answered", ["endpoint", "method", "status"]
)
REQUEST_SECONDS = Histogram(
    "engawa_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["endpoint", "method", "status"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10),
)
BOOKINGS_CREATED = Counter("engawa_bookings_created", "Stays booked")
BOOKINGS_CANCELLED = Counter("engawa_bookings_cancelled", "Stays cancelled")
BOOKING_CONFLICTS = Counter(
    "engawa_booking_conflicts", "Bookings refused because a night was just taken (409)"
)
JOB_RUNS = Counter("engawa_job_runs", "Scheduled job runs", ["job", "outcome"])
JOB_SECONDS = Histogram(
    "engawa_job_duration_seconds",
    "Time a scheduled job run took",
    ["job"],
    buckets=(0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
SCHEDULER_LEADER = Gauge(
    "engawa_scheduler_leader",
    "1 while this scheduler process leads, 0 while it stands by",
    multiprocess_mode="livemax",
)
FEED_SYNCS = Counter("engawa_feed_syncs", "Calendar feed syncs", ["outcome"])
# The primary database's connection pool, summed over the live processes.
DB_POOL_CHECKED_OUT = Gauge(
    "engawa_db_pool_checked_out",
    "Connections of the primary's pool in use",
    multiprocess_mode="livesum",
)
DB_POOL_SIZE = Gauge(
    "engawa_db_pool_size", "Connections the primary's pool keeps", multiprocess_mode="livesum"
)
DB_POOL_OVERFLOW = Gauge(
    "engawa_db_pool_overflow",
    "Connections opened beyond the pool's size (negative: not all of the size opened yet)",
    multiprocess_mode="livesum",
)

# Endpoint label of a request no route matched (404, 405): never the path itself.
UNMATCHED = "unmatched"
_GAUGES_KEY = "engawa.database_gauges"
# The engine whose pool the pool gauges follow (the app created last in this process).
_watched: Engine | None = None


def observe_request(endpoint: str | None, method: str, status: int, seconds: float) -> None:
    """Count one answered request (``core.logs`` calls this at the end of each)."""
    labels = {"endpoint": endpoint or UNMATCHED, "method": method, "status": str(status)}
    REQUESTS.labels(**labels).inc()
    REQUEST_SECONDS.labels(**labels).observe(seconds)


# --- The connection pool -------------------------------------------------------------


def watch_pool(engine: Engine) -> None:
    """Keep the pool gauges current as connections are taken and given back.

    Connections in use are counted up and down by the events themselves (a pool counts
    a connection given back only after its ``checkin`` event); the size and overflow
    are read from the pool at each event. The gauges are the process's, so only the
    engine watched last writes them: an earlier app's engine in the same process (tests
    build many) giving back its connections must not move the primary's figures.
    """
    global _watched
    _watched = engine
    in_use = 0
    lock = threading.Lock()

    def publish(step: int) -> None:
        nonlocal in_use
        with lock:
            in_use += step
            if _watched is not engine:
                return
            DB_POOL_CHECKED_OUT.set(in_use)
            pool = engine.pool
            for gauge, reading in ((DB_POOL_SIZE, "size"), (DB_POOL_OVERFLOW, "overflow")):
                read = getattr(pool, reading, None)  # a QueuePool has both; other pools neither
                if read is not None:
                    gauge.set(read())

    event.listen(engine, "checkout", lambda *_args: publish(1))
    event.listen(engine, "checkin", lambda *_args: publish(-1))


# --- Read from the database at scrape time -------------------------------------------


@dataclass(frozen=True)
class DatabaseGauge:
    name: str
    help: str
    read: Callable[[], float | int]


def register_database_gauge(
    app: Flask, name: str, help: str, read: Callable[[], float | int]
) -> None:
    """Export ``read()`` as the gauge ``name`` at every scrape (called in the app context,
    on ``db.session``). ``name`` must be unique and start with ``engawa_``."""
    gauges = app.extensions.setdefault(_GAUGES_KEY, {})
    if not name.startswith("engawa_") or name in gauges:
        raise ValueError(f"database gauge {name!r}: needs the engawa_ prefix and a unique name")
    gauges[name] = DatabaseGauge(name, help, read)


def row_count(entity, *where) -> Callable[[], int]:
    """A gauge reader: how many rows of ``entity`` match ``where`` (one COUNT; keep it
    on an index)."""
    return lambda: db.session.scalar(select(func.count()).select_from(entity).where(*where))


def _database_clock() -> datetime:
    """Now by the database's clock on PostgreSQL (the lease is written by it), else ours."""
    if db.session.get_bind().dialect.name == "postgresql":
        return db.session.scalar(text("SELECT clock_timestamp()"))
    return utcnow()


def _lease_families() -> list[Metric]:
    holder = GaugeMetricFamily(
        "engawa_scheduler_lease_holder",
        "The scheduler process holding the lease (1 while the lease is live, 0 once it ran out)",
        labels=["lease", "host", "pid"],
    )
    held = GaugeMetricFamily(
        "engawa_scheduler_lease_held_seconds",
        "How long the current holder has led",
        labels=["lease"],
    )
    age = GaugeMetricFamily(
        "engawa_scheduler_lease_age_seconds",
        "Seconds since the lease was last renewed (above the lease time: no leader)",
        labels=["lease"],
    )
    now = _database_clock()
    for lease in db.session.scalars(select(SchedulerLease)):
        holder.add_metric(
            [lease.name, lease.host, str(lease.pid)], 1 if lease.expires_at > now else 0
        )
        held.add_metric([lease.name], max(0.0, (now - lease.since).total_seconds()))
        age.add_metric([lease.name], max(0.0, (now - lease.renewed_at).total_seconds()))
    return [holder, held, age]


def _replica_families() -> list[Metric]:
    """The read replica as this process last checked it (at most once a second)."""
    state = replica_status()
    if not state["configured"]:
        return []
    lag = state["lag_seconds"]
    return [
        GaugeMetricFamily(
            "engawa_replica_in_use",
            "1 while read-only pages read from the replica, 0 while it is bypassed",
            value=1 if state["in_use"] else 0,
        ),
        GaugeMetricFamily(
            "engawa_replica_lag_seconds",
            "How far the replica is behind the primary (NaN: unknown or unreachable)",
            value=float("nan") if lag is None else lag,
        ),
    ]


class _DatabaseCollector:
    """The gauges read from the database, for one scrape. A query that fails is left
    out (and ``engawa_metrics_database_ok`` says 0): the process's own metrics still go."""

    def __init__(self, gauges: list[DatabaseGauge]):
        self.gauges = gauges

    def collect(self) -> Iterator[Metric]:
        readers: list[Callable[[], list[Metric]]] = [_lease_families, _replica_families]
        readers += [_family_of(gauge) for gauge in self.gauges]
        ok = 1
        for read in readers:
            try:
                families = read()
            except Exception as exc:
                ok = 0
                log.warning("metrics: a database gauge could not be read (%s)", type(exc).__name__)
                families = []
            finally:
                db.session.rollback()  # end the read (and an aborted one); nothing was written
            yield from families
        yield GaugeMetricFamily(
            "engawa_metrics_database_ok",
            "1 when every gauge read from the database at this scrape was read",
            value=ok,
        )


def _family_of(gauge: DatabaseGauge) -> Callable[[], list[Metric]]:
    return lambda: [GaugeMetricFamily(gauge.name, gauge.help, value=gauge.read())]


class _ThisProcess:
    """The metrics of this process's default registry, inside a registry of one scrape."""

    def collect(self) -> Iterator[Metric]:
        return REGISTRY.collect()


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get(
        "prometheus_multiproc_dir", ""
    )


def exposition() -> tuple[bytes, str]:
    """The Prometheus text of /metrics and its content type (in an app context).

    With ``PROMETHEUS_MULTIPROC_DIR`` (gunicorn), every worker's counts from the files
    there; otherwise this process's. Then the gauges read from the database.
    """
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    gauges = list(current_app.extensions.get(_GAUGES_KEY, {}).values())
    registry.register(_DatabaseCollector(gauges))
    return generate_latest(registry), CONTENT_TYPE_LATEST
