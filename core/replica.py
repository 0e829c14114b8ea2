"""Read replicas: read-only pages read from a PostgreSQL streaming replica while it keeps up.

With ``DATABASE_READ_URL`` set, the views a package registers with ``read_only(app,
*endpoints)`` (search, a facility's month calendar, the API's search and availability)
run their plain SELECTs on the replica. Everything else reads the primary:

- any other endpoint, and everything before or after the view itself (signing the
  person in, rate limits, error pages), so a session or token made a moment ago on
  the primary always opens;
- a SELECT that locks (``FOR UPDATE`` / ``FOR SHARE``), any other statement, and the
  rest of the request after the session wrote anything (a page sees its own writes);
- jobs, commands and services called outside a request;
- every read while the replica is unreachable or lags more than
  ``READ_MAX_LAG_SECONDS`` behind the primary (checked at most once a second per
  process; each change is logged once, at WARNING).

A booking is always decided on the primary: its POST is not a read-only endpoint, and
the booking service locks the rows it checks. A replica a few seconds behind can show
a room as free that then answers "just taken", never a double booking.

The lag counts as 0 only while the replica streams from the primary and has replayed
all it received; disconnected, the lag is the age of its last replayed transaction
(unknown, and bypassed, when none was replayed since it started). The role of
``DATABASE_READ_URL`` must be a superuser or have ``pg_read_all_stats``
(``GRANT pg_read_all_stats TO ...`` on the primary): without it ``pg_stat_wal_receiver``
hides the receiver's status, and an idle primary makes the replica look behind.

A request makes its choice once, at its first read: all its replica reads come from
one server, and a replica that falls behind mid-page is left at the next request.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from flask import Flask, current_app, has_request_context
from flask_sqlalchemy.session import Session
from sqlalchemy import Engine, Select, create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from core.config_values import ConfigError
from core.ops_config import engine_options

log = logging.getLogger(__name__)

EXTENSION = "engawa.replica"
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# How long a reading of the replica's state serves before the next check, and how long
# an unreachable replica is left alone (a connection attempt may take DB_CONNECT_TIMEOUT).
CHECK_EVERY = 1.0
RETRY_UNREACHABLE = 5.0

# Set while a read-only endpoint's view runs (``replica_reads``).
_reading = ContextVar("engawa_replica_reads", default=False)
# Keys of ``Session.info`` (one session per app context, that is per request).
_WROTE = "engawa.replica.wrote"
_CHOICE = "engawa.replica.choice"

# Lag 0 while a WAL receiver is streaming and everything received is replayed: an idle
# primary is not "behind". Without a streaming receiver (primary stopped or gone, network
# split noticed, failover), the last received WAL is replayed and then nothing more
# arrives: the lag is the age of the last replayed transaction (NULL, none replayed since
# the replica started: unknown, bypassed), so the replica is left once that passes
# READ_MAX_LAG_SECONDS. ``last_msg_receipt_time`` is not used: a healthy idle link is
# silent for up to wal_receiver_timeout / 2 (the receiver then pings), 30 s by default,
# so a threshold of READ_MAX_LAG_SECONDS would bypass healthy replicas. A split that
# sends no TCP reset keeps the status 'streaming' until the receiver gives up after
# wal_receiver_timeout (on the replica; 60 s by default), which bounds that window.
# Reading ``status`` needs pg_read_all_stats (see the module docstring).
LAG_SQL = text(
    "SELECT pg_is_in_recovery(),"
    " CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()"
    " AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming') THEN 0"
    " ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END"
)


@dataclass(frozen=True)
class Reading:
    """The replica's state at one check. ``state`` names it for the log."""

    state: str  # in_use | unreachable | lagging | lag_unknown | not_standby
    reachable: bool
    lag_seconds: float | None

    @property
    def in_use(self) -> bool:
        return self.state == "in_use"


class Replica:
    """One process's view of the replica: its engine and its last checked state."""

    def __init__(self, engine: Engine, max_lag_seconds: float) -> None:
        self.engine = engine
        self.max_lag_seconds = max_lag_seconds
        self._lock = threading.Lock()
        self._reading: Reading | None = None
        self._next_check = 0.0

    def reading(self) -> Reading:
        """The last state, checked again once it is older than ``CHECK_EVERY``.

        One thread checks at a time; the others go on with the last state meanwhile
        (only the very first check is waited for).
        """
        last = self._reading
        if last is not None and time.monotonic() < self._next_check:
            return last
        if not self._lock.acquire(blocking=last is None):
            return last
        try:
            if self._reading is not None and time.monotonic() < self._next_check:
                return self._reading  # checked while this thread waited
            new = self._measure()
            retry = CHECK_EVERY if new.reachable else RETRY_UNREACHABLE
            self._next_check = time.monotonic() + retry
            self._announce(self._reading, new)
            self._reading = new
            return new
        finally:
            self._lock.release()

    def _measure(self) -> Reading:
        try:
            with self.engine.connect() as conn:
                in_recovery, lag = conn.execute(LAG_SQL).one()
        except SQLAlchemyError as exc:
            log.debug("Read replica check failed: %s", type(exc).__name__)
            return Reading("unreachable", False, None)
        if not in_recovery:
            # A promoted or wrongly named server: its data may not be the primary's.
            return Reading("not_standby", True, None)
        if lag is None:
            return Reading("lag_unknown", True, None)  # no transaction replayed since it started
        lag = round(max(0.0, float(lag)), 3)
        return Reading("lagging" if lag > self.max_lag_seconds else "in_use", True, lag)

    def _announce(self, old: Reading | None, new: Reading) -> None:
        if (old.state if old else "in_use") == new.state:
            return
        if new.in_use:
            log.warning("Read replica in use again (lag %.1f s)", new.lag_seconds or 0.0)
        elif new.state == "lagging":
            log.warning(
                "Read replica bypassed: %.1f s behind (READ_MAX_LAG_SECONDS=%s);"
                " read-only pages read the primary",
                new.lag_seconds,
                self.max_lag_seconds,
            )
        else:
            reasons = {
                "unreachable": "unreachable",
                "lag_unknown": "its lag is unknown (no transaction replayed since it started)",
                "not_standby": "DATABASE_READ_URL is not a standby (pg_is_in_recovery() false)",
            }
            log.warning(
                "Read replica bypassed: %s; read-only pages read the primary", reasons[new.state]
            )


def init_app(app: Flask) -> None:
    """Make the replica's engine (no connection yet) when ``DATABASE_READ_URL`` is set.

    Idempotent: ``read_only`` calls it too, whichever runs first.
    """
    if EXTENSION in app.extensions:
        return
    url = app.config.get("DATABASE_READ_URL") or ""
    if not url:
        app.extensions[EXTENSION] = None
        return
    primary = app.config["SQLALCHEMY_DATABASE_URI"]
    if not (url.startswith("postgresql") and primary.startswith("postgresql")):
        raise ConfigError(
            "DATABASE_READ_URL must be a postgresql:// URL, and DATABASE_URL PostgreSQL too"
        )
    options = engine_options({**app.config, "SQLALCHEMY_DATABASE_URI": url})
    engine = create_engine(url, **options)
    app.extensions[EXTENSION] = Replica(engine, app.config.get("READ_MAX_LAG_SECONDS", 5))


def replica_of(app: Flask) -> Replica | None:
    """The app's replica, or None when none is configured."""
    return app.extensions.get(EXTENSION)


def read_only(app: Flask, *endpoints: str) -> None:
    """Let these endpoints' views read from the replica.

    Each must answer GET (and HEAD) only: a view that may write is not read-only.
    """
    init_app(app)
    for endpoint in endpoints:
        rules = list(app.url_map.iter_rules(endpoint)) if endpoint in app.view_functions else []
        if not rules:
            raise ValueError(f"read_only: no endpoint {endpoint!r} is registered")
        writing = set().union(*(rule.methods or () for rule in rules)) - READ_ONLY_METHODS
        if writing:
            raise ValueError(
                f"read_only: {endpoint!r} also answers {', '.join(sorted(writing))}:"
                " only GET endpoints may read from the replica"
            )
        view = app.view_functions[endpoint]
        if not getattr(view, "_engawa_read_only", False):
            app.view_functions[endpoint] = _reading_replica(view)


def _reading_replica(view: Callable) -> Callable:
    @functools.wraps(view)
    def read_only_view(*args, **kwargs):
        with replica_reads():
            return view(*args, **kwargs)

    read_only_view._engawa_read_only = True  # type: ignore[attr-defined]
    return read_only_view


@contextlib.contextmanager
def replica_reads() -> Iterator[None]:
    """Plain SELECTs of the current request's session may go to the replica in here
    (never outside a request: jobs and commands read the primary)."""
    token = _reading.set(True)
    try:
        yield
    finally:
        _reading.reset(token)


def replica_status(app: Flask | None = None) -> dict:
    """For /readyz and the metrics: whether a replica is configured, reachable, how far
    behind it is (seconds) and whether read-only pages read from it now."""
    replica = replica_of(app or current_app)
    if replica is None:
        return {"configured": False, "reachable": None, "lag_seconds": None, "in_use": False}
    reading = replica.reading()
    return {
        "configured": True,
        "reachable": reading.reachable,
        "lag_seconds": reading.lag_seconds,
        "in_use": reading.in_use,
    }


def _plain_select(clause) -> bool:
    return isinstance(clause, Select) and clause._for_update_arg is None


class RoutingSession(Session):
    """Flask-SQLAlchemy's session (binds by model), sending a read-only view's plain
    SELECTs to the replica until the session writes."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        primary = super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)
        if bind is not None:
            return primary
        if self._flushing or not _plain_select(clause):
            if self._flushing or clause is not None:
                # A flush (marked as it starts: a refused INSERT's re-read must see the
                # row that refused it), a write, a lock or SQL text: the primary from now on.
                self.info[_WROTE] = True
            return primary
        if not (_reading.get() and has_request_context()) or self.info.get(_WROTE):
            return primary
        choice = self.info.get(_CHOICE)
        if choice is None:
            replica = replica_of(current_app)
            use = replica is not None and primary is self._db.engine and replica.reading().in_use
            choice = self.info[_CHOICE] = replica.engine if use else primary
        return choice
