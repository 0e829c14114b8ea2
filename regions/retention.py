"""Programme participants' personal data, purged after the retention period: the daily
``programme_purge`` job.

It keeps to the guest register's rule (``lodging.register.retention_cutoff``, 3 years):
once a session ended more than that long ago (Japan dates), its sign-ups no longer name
the employee nor the stay (``user_id``, ``booking_id`` emptied) and the organiser's
messages to it lose their text. What the figures need stays: the company, how many
people, whether they came, the fee (credit entries name the sign-up). The session
records when (``personal_data_purged_at``), which makes the job idempotent; the job's
summary counts what went, never who.

A run works in batches of ``BATCH`` sessions, each committed, and stops after
``MAX_BATCHES`` (the next day's run goes on).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from sqlalchemy import case, func, or_, select, update

from core.db import TOKYO, tokyo_today
from core.extensions import db
from core.job_summary import N_, NOTHING, JobSummary, summary
from lodging.register import retention_cutoff
from regions.models import ProgrammeMessage, ProgrammeSession, ProgrammeSignup

BATCH = 200  # sessions purged per transaction
MAX_BATCHES = 50  # per run: 10,000 sessions


@dataclass(frozen=True)
class Purged:
    sessions: int = 0
    signups: int = 0
    messages: int = 0


def _due(cutoff: date, limit: int) -> list[int]:
    """Sessions that ended before ``cutoff`` (Japan time) and still hold personal data."""
    before = datetime.combine(cutoff, time(0), TOKYO)
    return list(
        db.session.scalars(
            select(ProgrammeSession.id)
            .where(
                ProgrammeSession.ends_at < before,
                ProgrammeSession.personal_data_purged_at.is_(None),
            )
            .order_by(ProgrammeSession.id)
            .limit(limit)
        )
    )


def _purge(session_ids: list[int], now: datetime) -> tuple[int, int]:
    """Unlink the sessions' sign-ups and empty their messages; (sign-ups, messages) that
    still held something."""
    signups = db.session.execute(
        update(ProgrammeSignup)
        .where(
            ProgrammeSignup.session_id.in_(session_ids),
            or_(ProgrammeSignup.user_id.is_not(None), ProgrammeSignup.booking_id.is_not(None)),
        )
        .values(user_id=None, booking_id=None)
    ).rowcount
    messages = db.session.execute(
        update(ProgrammeMessage)
        .where(ProgrammeMessage.session_id.in_(session_ids), ProgrammeMessage.body != "")
        .values(body="")
    ).rowcount
    db.session.execute(
        update(ProgrammeSession)
        .where(ProgrammeSession.id.in_(session_ids))
        .values(personal_data_purged_at=now)
    )
    return signups, messages


def people_in_signups():
    """How many people a set of sign-ups names, as a column expression: the distinct
    employees, and each sign-up purged after the retention period as one person (it
    names nobody). The region's and the company's reports count alike."""
    purged = case((ProgrammeSignup.user_id.is_(None), 1), else_=0)
    return func.count(func.distinct(ProgrammeSignup.user_id)) + func.coalesce(func.sum(purged), 0)


def purge_participants(
    now: datetime, *, batch: int = BATCH, max_batches: int = MAX_BATCHES
) -> Purged:
    """Purge every session due (see the module's rule). Commits each batch."""
    cutoff = retention_cutoff(tokyo_today(now))
    sessions = signups = messages = 0
    for _round in range(max_batches):
        due = _due(cutoff, batch)
        if due:
            done_signups, done_messages = _purge(due, now)
            sessions += len(due)
            signups += done_signups
            messages += done_messages
        db.session.commit()
        if len(due) < batch:
            break
    return Purged(sessions, signups, messages)


def purge_job(now: datetime) -> JobSummary:
    """The daily ``programme_purge`` job."""
    purged = purge_participants(now)
    if not purged.sessions:
        return NOTHING
    return summary(
        N_("%(sessions)d programme sessions purged: %(signups)d sign-ups, %(messages)d messages"),
        sessions=purged.sessions,
        signups=purged.signups,
        messages=purged.messages,
    )
