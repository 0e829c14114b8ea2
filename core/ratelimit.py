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

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import request
from sqlalchemy import String, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.exceptions import TooManyRequests

from core.db import UTCDateTime
from core.extensions import db

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


def hit(limit: Limit, subject: str, now: datetime) -> int:
    """Count one hit of ``subject`` under ``limit``; flushes.

    Returns 0 while the hit is within the limit, else the seconds until the
    window ends (for ``Retry-After``). The increment is one atomic upsert, so
    racing workers never lose a count.
    """
    key = f"{limit.scope}:{subject}"[:MAX_KEY_LENGTH]
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
    """The client's address as the configured proxies report it."""
    return request.remote_addr or "unknown"


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


def prune(now: datetime) -> str:
    """Forget windows that have ended (a job: commits)."""
    result = db.session.execute(delete(RateLimitWindow).where(RateLimitWindow.window_end <= now))
    db.session.commit()
    return f"{result.rowcount} ended rate-limit windows removed"


__all__ = ["Limit", "RateLimitWindow", "client_ip", "enforce", "hit", "prune"]
