"""Which scheduler process leads: a lease row in the database.

Any number of ``flask --app wsgi scheduler run`` processes may run, on any hosts. The
one holding the lease named "scheduler" runs the jobs; it renews the lease every
``SCHEDULER_RENEW_SECONDS`` for ``SCHEDULER_LEASE_SECONDS``. The others stand by and
ask for it as often; they get it once it has expired (its holder died or stalled) or
was released (its holder stopped cleanly). Taking and renewing are single conditional
statements, so two processes never both hold it: the database serialises them.

The database's clock decides on PostgreSQL (the hosts' clocks differ); SQLite is one
file on one host, so Python's clock serves there. Each call is a short transaction of
its own on the engine, never the request session. The functions take ``now`` so tests
can pass explicit times, and ``timeout``: on PostgreSQL the transaction's statements are
cut off after that many seconds (a stuck lock or server must not hold a leader past
its lease; ``core.scheduler.Leadership`` also bounds the wait for the whole call).
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from core.db import utcnow
from core.models import SchedulerLease

LEASE = "scheduler"


def this_process() -> str:
    """How job runs name the process that ran them ("host:pid")."""
    return f"{socket.gethostname()}:{os.getpid()}"[:80]


@dataclass(frozen=True)
class Candidate:
    """One process that may lead: a random id of its own, and where it runs."""

    holder: str = field(default_factory=lambda: secrets.token_hex(16))
    host: str = field(default_factory=lambda: socket.gethostname()[:255])
    pid: int = field(default_factory=os.getpid)

    @property
    def runner(self) -> str:
        """How this process's job runs name it ("host:pid")."""
        return f"{self.host}:{self.pid}"[:80]


@dataclass(frozen=True)
class LeaseStatus:
    """The lease as it stands: who holds it, since when, and whether it ran out."""

    holder: str
    host: str
    pid: int
    since: datetime
    renewed_at: datetime
    expires_at: datetime
    expired: bool


@contextmanager
def _begin(engine: Engine, timeout: float | None) -> Iterator[Connection]:
    """A short transaction; on PostgreSQL its statements end after ``timeout`` seconds."""
    with engine.begin() as conn:
        if timeout and conn.dialect.name == "postgresql":
            conn.execute(
                text("SELECT set_config('statement_timeout', :ms, true)"),  # SET LOCAL
                {"ms": str(max(1, round(timeout * 1000)))},
            )
        yield conn


def clock(conn: Connection) -> datetime:
    """Now, by the database's clock on PostgreSQL and by Python's on SQLite."""
    if conn.dialect.name == "postgresql":
        return conn.execute(text("SELECT clock_timestamp()")).scalar_one()
    return utcnow()


def _insert(conn: Connection):
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(SchedulerLease)


def acquire(
    engine: Engine,
    me: Candidate,
    lease_seconds: int,
    now: datetime | None = None,
    *,
    timeout: float | None = None,
) -> bool:
    """Take the lease when nobody holds it, it has expired, or it is already ours.

    True when ``me`` holds it afterwards, for ``lease_seconds`` from now. A new term
    begins (``since`` is now).
    """
    with _begin(engine, timeout) as conn:
        now = now or clock(conn)
        values = {
            "holder": me.holder,
            "host": me.host,
            "pid": me.pid,
            "since": now,
            "renewed_at": now,
            "expires_at": now + timedelta(seconds=lease_seconds),
        }
        inserted = conn.execute(
            _insert(conn)
            .values(name=LEASE, **values)
            .on_conflict_do_nothing(index_elements=["name"])
        ).rowcount
        if inserted == 1:
            return True
        taken = conn.execute(
            update(SchedulerLease)
            .where(
                SchedulerLease.name == LEASE,
                or_(SchedulerLease.expires_at <= now, SchedulerLease.holder == me.holder),
            )
            .values(**values)
        ).rowcount
        return taken == 1


def renew(
    engine: Engine,
    me: Candidate,
    lease_seconds: int,
    now: datetime | None = None,
    *,
    timeout: float | None = None,
) -> bool:
    """Extend our lease by ``lease_seconds`` from now; False when it is no longer ours."""
    with _begin(engine, timeout) as conn:
        now = now or clock(conn)
        renewed = conn.execute(
            update(SchedulerLease)
            .where(SchedulerLease.name == LEASE, SchedulerLease.holder == me.holder)
            .values(renewed_at=now, expires_at=now + timedelta(seconds=lease_seconds))
        ).rowcount
        return renewed == 1


def release(
    engine: Engine, me: Candidate, now: datetime | None = None, *, timeout: float | None = None
) -> bool:
    """Let the lease run out now, if it is ours, so a standby takes over at once."""
    with _begin(engine, timeout) as conn:
        now = now or clock(conn)
        released = conn.execute(
            update(SchedulerLease)
            .where(SchedulerLease.name == LEASE, SchedulerLease.holder == me.holder)
            .values(expires_at=now)
        ).rowcount
        return released == 1


def status(bind: Engine | Connection, now: datetime | None = None) -> LeaseStatus | None:
    """The lease as it stands (None: no scheduler ever led on this database).

    ``bind``: the engine (a short read of its own), or a connection already in use, such
    as a request session's (on SQLite a second connection would wait for its lock).
    """
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            found = status(conn, now)
            conn.rollback()
        return found
    now = now or clock(bind)
    row = bind.execute(select(SchedulerLease).where(SchedulerLease.name == LEASE)).first()
    if row is None:
        return None
    return LeaseStatus(
        holder=row.holder,
        host=row.host,
        pid=row.pid,
        since=row.since,
        renewed_at=row.renewed_at,
        expires_at=row.expires_at,
        expired=row.expires_at <= now,
    )
