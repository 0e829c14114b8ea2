"""Server-side sign-in sessions: a record per signed-in browser, so signing out ends it.

The browser's (signed) Flask session carries a random secret; the database keeps
only its SHA-256 in a ``UserSession`` row. A request is signed in only while that
row is live: not ended (sign-out, password change, the person ending it from the
account page, deactivation), not past its absolute lifetime, and seen within the
idle timeout. A cookie copied before sign-out therefore opens nothing afterwards.

Services flush; the caller commits. ``prune`` is a job and commits its own work.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import joinedload

from accounts.models import User, UserSession
from accounts.services import prune_login_throttles, token_digest
from core.db import in_id_range
from core.extensions import db
from core.job_summary import N_, JobSummary, summary

# The key in the Flask session cookie that holds the session's secret.
SESSION_KEY = "_sid"
# last_seen_at is written at most this often: no write on every request.
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta
    lifetime: timedelta

    @classmethod
    def from_config(cls, config) -> SessionPolicy:
        """``SESSION_IDLE_MINUTES`` (default 120) and ``SESSION_MAX_HOURS`` (default 12)."""
        return cls(
            idle=timedelta(minutes=config["SESSION_IDLE_MINUTES"]),
            lifetime=timedelta(hours=config["SESSION_MAX_HOURS"]),
        )


def _live(now: datetime, policy: SessionPolicy):
    """The SQL condition for a live session at ``now``."""
    return (
        UserSession.ended_at.is_(None),
        UserSession.expires_at > now,
        UserSession.last_seen_at > now - policy.idle,
    )


def start(user: User, now: datetime, device: str, policy: SessionPolicy) -> tuple[UserSession, str]:
    """Open a session for ``user``; the secret is returned once (for the cookie)."""
    secret = secrets.token_urlsafe(32)
    record = UserSession(
        user_id=user.id,
        token_hash=token_digest(secret),
        device=device[:60],
        created_at=now,
        last_seen_at=now,
        expires_at=now + policy.lifetime,
    )
    db.session.add(record)
    db.session.flush()
    return record, secret


def resume(secret: str, user_id: int, now: datetime, policy: SessionPolicy) -> UserSession | None:
    """The live session of ``user_id`` that ``secret`` opens, or None.

    The person must still be active. ``last_seen_at`` moves on at most once per
    ``TOUCH_EVERY``; the change is left for the caller to commit (``db.session.dirty``).
    """
    record = db.session.scalar(
        select(UserSession)
        .options(joinedload(UserSession.user))
        .where(UserSession.token_hash == token_digest(secret), *_live(now, policy))
    )
    if record is None or record.user_id != user_id or not record.user.active:
        return None
    if now - record.last_seen_at >= TOUCH_EVERY:
        record.last_seen_at = now
    return record


def end(record: UserSession, now: datetime) -> None:
    """Sign-out: the record ends, so the cookie opens nothing any more."""
    if record.ended_at is None:
        record.ended_at = now
    db.session.flush()


def end_sessions(user_id: int, now: datetime, except_id: int | None = None) -> int:
    """End every session of ``user_id`` (but ``except_id``); returns how many ended.

    For a password change (keeping the current session) and for deactivation.
    """
    statement = update(UserSession).where(
        UserSession.user_id == user_id, UserSession.ended_at.is_(None)
    )
    if except_id is not None:
        statement = statement.where(UserSession.id != except_id)
    result = db.session.execute(
        statement.values(ended_at=now).execution_options(synchronize_session=False)
    )
    db.session.flush()
    return result.rowcount


def end_other(user: User, session_id: int, current_id: int, now: datetime) -> bool:
    """End one of the person's other live sessions; False for a foreign, unknown,
    already ended or the current session (the view answers 404)."""
    if not in_id_range(session_id) or session_id == current_id:
        return False
    result = db.session.execute(
        update(UserSession)
        .where(
            UserSession.id == session_id,
            UserSession.user_id == user.id,
            UserSession.ended_at.is_(None),
            UserSession.expires_at > now,
        )
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.flush()
    return result.rowcount == 1


def live_sessions_of(user: User, now: datetime, policy: SessionPolicy) -> list[UserSession]:
    """The person's live sessions, the most recently active first."""
    return list(
        db.session.scalars(
            select(UserSession)
            .where(UserSession.user_id == user.id, *_live(now, policy))
            .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
        )
    )


_BROWSERS = (
    ("Edge", re.compile(r"Edg(e|A|iOS)?/")),
    ("Opera", re.compile(r"OPR/|Opera")),
    ("Samsung Internet", re.compile(r"SamsungBrowser/")),
    ("Firefox", re.compile(r"Firefox/|FxiOS/")),
    ("Chrome", re.compile(r"Chrome/|CriOS/|Chromium/")),
    ("Safari", re.compile(r"Safari/")),
)
_SYSTEMS = (
    ("iPhone", re.compile(r"iPhone")),
    ("iPad", re.compile(r"iPad")),
    ("Android", re.compile(r"Android")),
    ("Windows", re.compile(r"Windows")),
    ("macOS", re.compile(r"Macintosh|Mac OS X")),
    ("ChromeOS", re.compile(r"CrOS")),
    ("Linux", re.compile(r"Linux")),
)


def device_summary(user_agent: str) -> str:
    """ "Firefox · Windows" from a User-Agent header: enough to recognise a device,
    nothing more is kept. Empty when neither part is known."""
    user_agent = user_agent[:512]
    browser = next((name for name, pattern in _BROWSERS if pattern.search(user_agent)), "")
    system = next((name for name, pattern in _SYSTEMS if pattern.search(user_agent)), "")
    return " · ".join(part for part in (browser, system) if part)


def prune(now: datetime) -> JobSummary:
    """Forget ended and expired sessions and old failed-sign-in counts (a job: commits)."""
    policy = SessionPolicy.from_config(current_app.config)
    sessions = db.session.execute(
        delete(UserSession).where(
            or_(
                UserSession.ended_at.is_not(None),
                UserSession.expires_at <= now,
                UserSession.last_seen_at <= now - policy.idle,
            )
        )
    )
    throttles = prune_login_throttles(now)
    db.session.commit()
    return summary(
        N_(
            "%(sessions)d ended or expired sessions and %(throttles)d old sign-in throttles removed"
        ),
        sessions=sessions.rowcount,
        throttles=throttles,
    )
