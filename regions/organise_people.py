"""The people in a programme's sessions, the organiser's side (issue 20):

- attendance, marked only from the session's start on (``mark_attendance``);
- a message to the people who joined (``message_participants``, ``messages_of``);
- who takes part (``participants``): names and contact of the organiser's own sessions
  only, the fewest fields that serve, each reading audited
  (``record_participants_read``).

The caller has found the session with ``regions.organise.own_session``. Services flush;
the caller commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from accounts import audit
from accounts import events as ev
from accounts.models import Company, User
from core.extensions import db
from regions.models import (
    ProgrammeMessage,
    ProgrammeSession,
    ProgrammeSignup,
    SessionStatus,
    SignupStatus,
)
from regions.organise import OPEN_SIGNUPS, SessionRefused
from regions.organise_sessions import emit_signup_event

MAX_MESSAGE = 2000


# --- attendance and messages --------------------------------------------------------------


def joined_signups(session: ProgrammeSession) -> list[ProgrammeSignup]:
    return list(
        db.session.scalars(
            select(ProgrammeSignup)
            .where(
                ProgrammeSignup.session_id == session.id,
                ProgrammeSignup.status == SignupStatus.JOINED,
            )
            .order_by(ProgrammeSignup.joined_at, ProgrammeSignup.id)
        )
    )


def mark_attendance(
    session: ProgrammeSession, marks: Mapping[int, bool | None], now: datetime
) -> int:
    """Who came: True, False, or None (not marked) per joined sign-up of the session,
    only from its start on. Any other sign-up refuses the lot. Returns how many changed."""
    if session.status != SessionStatus.SCHEDULED:
        raise SessionRefused(_l("This session was cancelled."), "cancelled")
    if now < session.starts_at:
        raise SessionRefused(
            _l("Attendance can be marked from the session's start."), "not_started"
        )
    joined = {s.id: s for s in joined_signups(session)}
    strangers = set(marks) - set(joined)
    if strangers:
        raise SessionRefused(_l("Only people who joined this session can be marked."), "unknown")
    changed = 0
    for signup_id, came in marks.items():
        signup = joined[signup_id]
        if signup.attended is came:
            continue
        signup.attended = came
        signup.attendance_marked_at = now if came is not None else None
        changed += 1
    db.session.flush()
    return changed


def message_participants(
    session: ProgrammeSession, body: str, now: datetime, *, sender: User
) -> ProgrammeMessage:
    """Write to everyone who joined the session: one ``ProgrammeMessage`` and one
    ``programme.message`` event per joined sign-up (flushes)."""
    body = (body or "").strip()
    if not body:
        raise SessionRefused(_l("Write the message."), "empty", "body")
    if len(body) > MAX_MESSAGE:
        raise SessionRefused(_l("At most %(num)d characters.", num=MAX_MESSAGE), "long", "body")
    if session.status != SessionStatus.SCHEDULED:
        raise SessionRefused(_l("This session was cancelled."), "cancelled")
    joined = joined_signups(session)
    if not joined:
        raise SessionRefused(_l("Nobody has joined this session yet."), "nobody")
    message = ProgrammeMessage(
        session_id=session.id,
        sender_id=sender.id,
        body=body,
        recipients=len(joined),
        created_at=now,
    )
    db.session.add(message)
    db.session.flush()
    for signup in joined:
        emit_signup_event(ev.PROGRAMME_MESSAGE, session, signup, now, sender, message_id=message.id)
    return message


def messages_of(session: ProgrammeSession) -> list[ProgrammeMessage]:
    return list(
        db.session.scalars(
            select(ProgrammeMessage)
            .where(ProgrammeMessage.session_id == session.id)
            .order_by(ProgrammeMessage.created_at.desc(), ProgrammeMessage.id.desc())
        )
    )


# --- who takes part -----------------------------------------------------------------------


@dataclass(frozen=True)
class Participant:
    """A place in one of the organiser's own sessions: who, from which company, how many
    people, how to reach them; nothing more (their stay is known by id only). Name and
    email are empty once the retention purge has unlinked the person."""

    signup_id: int
    status: str
    name: str
    company_name: str
    email: str
    participants: int
    booking_id: int | None
    attended: bool | None
    since: datetime | None  # joined, or put on the waitlist


def participants(session: ProgrammeSession) -> list[Participant]:
    """The session's joined places, then its waitlist in order. The caller has checked
    that the session is the organisation's own (``own_session``)."""
    rows = db.session.execute(
        select(ProgrammeSignup, User.name, User.email, Company.name)
        .outerjoin(User, User.id == ProgrammeSignup.user_id)  # none once purged
        .join(Company, Company.id == ProgrammeSignup.company_id)
        .where(
            ProgrammeSignup.session_id == session.id,
            ProgrammeSignup.status.in_(OPEN_SIGNUPS),
        )
    ).all()
    found = [
        Participant(
            signup.id,
            signup.status,
            name or "",
            company_name,
            email or "",
            signup.participants,
            signup.booking_id,
            signup.attended,
            signup.joined_at if signup.status == SignupStatus.JOINED else signup.waitlisted_at,
        )
        for signup, name, email, company_name in rows
    ]
    far = datetime.max.replace(tzinfo=UTC)
    found.sort(key=lambda p: (p.status != SignupStatus.JOINED, p.since or far, p.signup_id))
    return found


def record_participants_read(session: ProgrammeSession, now: datetime, *, actor: User) -> None:
    """Every reading of a session's participants is logged (their personal data)."""
    audit.record(
        "programme.participants_read",
        now,
        actor=actor,
        object_type="programme_session",
        object_id=session.id,
        operator_id=session.programme.operator_id,
    )
