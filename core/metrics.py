"""Prometheus metrics of every Engawa process (``prometheus_client``).

The metric objects live here so any layer can count (``metrics.BOOKINGS_CREATED.inc()``).
Under gunicorn, ``PROMETHEUS_MULTIPROC_DIR`` makes the workers' values add up in /metrics.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter(
    "engawa_http_requests", "HTTP requests answered", ["endpoint", "method", "status"]
)
REQUEST_SECONDS = Histogram(
    "engawa_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["endpoint", "method"],
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
