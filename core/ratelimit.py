"""Counting requests per key in fixed windows, in the database every worker shares.

Anonymous forms (sign-in, joining by company domain, …) are limited per client
IP address and per target (an e-mail domain, an address), so a flood from one
client is answered 429 while everybody else carries on. The counters live in
the database because web workers are stateless and several run at once; rows
of ended windows are pruned by a job.

The client's address is ``request.remote_addr`` as the proxy settings make it
(``core.config``: ``PROXY_FIX_*``): forwarded headers are trusted only as far as
configured, so a client cannot pick its own address.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import request
from sqlalchemy import String, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.exceptions import TooManyRequests

from core.db import UTCDateTime
from core.extensions import db
from core.job_summary import N_, JobSummary, summary

MAX_KEY_LENGTH = 200


class RateLimitWindow(db.Model):
    """How many times ``key`` was counted in the window starting at ``window_start``."""

    __tablename__ = "rate_limit_window"

    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    count: Mapped[int] = mapped_column(default=0)


@dataclass(frozen=True)
class Limit:
    """At most ``count`` hits per ``seconds`` for one key of ``scope``."""

    scope: str
    count: int
    seconds: int


def _window_start(now: datetime, seconds: int) -> datetime:
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)


def _key(limit: Limit, subject: str) -> str:
    return f"{limit.scope}:{subject}"[:MAX_KEY_LENGTH]


def peek(limit: Limit, subject: str, now: datetime) -> int:
    """Seconds until ``subject`` is within ``limit`` again, 0 when it is now; counts nothing.

    For limits that count only failures (sign-in): checked before the work, counted
    with ``hit`` after a failure. Racing requests may each pass the check; each
    failure is still counted.
    """
    window = db.session.execute(
        select(RateLimitWindow.count, RateLimitWindow.window_end).where(
            RateLimitWindow.key == _key(limit, subject),
            RateLimitWindow.window_start <= now,
            RateLimitWindow.window_end > now,
        )
    ).first()
    if window is None or window.count < limit.count:
        return 0
    return max(1, int((window.window_end - now).total_seconds()) + 1)


def hit(limit: Limit, subject: str, now: datetime) -> int:
    """Count one hit of ``subject`` under ``limit``; flushes.

    Returns 0 while the hit is within the limit, else the seconds until the
    window ends (for ``Retry-After``). The increment is one atomic upsert, so
    racing workers never lose a count.
    """
    key = _key(limit, subject)
    start = _window_start(now, limit.seconds)
    end = start + timedelta(seconds=limit.seconds)
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(RateLimitWindow)
        .values(key=key, window_start=start, window_end=end, count=1)
        .on_conflict_do_update(
            index_elements=["key", "window_start"],
            set_={"count": RateLimitWindow.__table__.c.count + 1},
        )
        .returning(RateLimitWindow.count)
    )
    count = db.session.execute(statement).scalar_one()
    if count <= limit.count:
        return 0
    return max(1, int((end - now).total_seconds()) + 1)


def client_ip() -> str:
    """The client's network as the configured proxies report it: its IPv4 address, or
    the /64 of an IPv6 address (one subscriber holds a whole /64, so counting single
    IPv6 addresses would give a client 2^64 separate allowances)."""
    raw = request.remote_addr or ""
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def enforce(checks: list[tuple[Limit, str]], now: datetime) -> None:
    """Count each ``(limit, subject)`` and answer 429 if any is over its limit.

    For views (the edge): the counts are committed at once, so they hold
    whatever the request does next, and a refused request changes nothing else.
    Every check is counted, even after one is over: a flood keeps its windows full.
    """
    retry_after = 0
    for limit, subject in checks:
        retry_after = max(retry_after, hit(limit, subject, now))
    db.session.commit()
    if retry_after:
        raise TooManyRequests(retry_after=retry_after)


def prune(now: datetime) -> JobSummary:
    """Forget windows that have ended (a job: commits)."""
    result = db.session.execute(delete(RateLimitWindow).where(RateLimitWindow.window_end <= now))
    db.session.commit()
    return summary(N_("%(n)d ended rate-limit windows removed"), n=result.rowcount)


__all__ = ["Limit", "RateLimitWindow", "client_ip", "enforce", "hit", "peek", "prune"]
