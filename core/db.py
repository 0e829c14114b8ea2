"""Database helpers: SQLite connection settings, aware timestamps."""

import sqlite3
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import DateTime, event
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeDecorator

from core.extensions import db

TOKYO = ZoneInfo("Asia/Tokyo")
SQLITE_BUSY_TIMEOUT_MS = 30_000
MAX_ID = 2**31 - 1  # ids are 32-bit integer columns


def in_id_range(value: int) -> bool:
    """Whether an id from the outside world could exist at all (else: simply not found)."""
    return 0 < value <= MAX_ID


def get_by_id(model, ident: int, **options):
    """``session.get`` for ids from URLs and forms; an impossible id is just absent."""
    return db.session.get(model, ident, **options) if in_id_range(ident) else None


def utcnow() -> datetime:
    return datetime.now(UTC)


def tokyo_today(now: datetime) -> date:
    """The calendar date in Japan at the instant ``now`` (facility nights are Tokyo dates)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(TOKYO).date()


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC timestamp on every engine.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so the value is
    stored as UTC and given its zone back when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


@event.listens_for(Engine, "connect")
def _sqlite_on_connect(dbapi_connection, connection_record):
    """WAL, a busy timeout and foreign keys; transactions are begun by us (see below)."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    # Let SQLAlchemy's "begin" event emit BEGIN itself, so it can be IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin_immediate(conn):
    """Take SQLite's write lock when the transaction starts.

    A deferred transaction that reads and then writes fails at once with
    SQLITE_BUSY when another writer committed in between (the busy timeout does
    not cover lock upgrades). Beginning IMMEDIATE makes transactions queue on
    the busy timeout instead, so a booking race ends in one booking and clear
    "just taken" answers, never in "database is locked". It serialises
    transactions on the embedded default; PostgreSQL is the engine for
    concurrent production load.
    """
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def edge_now() -> datetime:
    """The current instant for a request or command.

    Services take ``now`` as an argument; the edge (views, CLI) asks here. Tests
    pin the clock with ``FIXED_NOW`` in the config so no test depends on today.
    """

    return current_app.config.get("FIXED_NOW") or utcnow()
