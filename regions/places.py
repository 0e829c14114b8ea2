"""Joining a region's programme and giving a place up: the employee's writing side
(issue 20), every change under the session's row lock. A place here is a sign-up's seats
in a session; what is on offer and a person's places are read in ``regions.programmes``.

Joining (``join``) takes the session's row lock and checks everything again under it:
the programme published, the session scheduled and not begun, the participants within
1–20 and the session's capacity, a stay when the programme requires one (the booking
layer decides ``has_stay``: this package knows stays by id only), not joined already.
Seats are counted in ``ProgrammeSession.seats_taken``, changed only under that lock,
so a session never takes more participants than it has seats however many join at
once. A full session refuses (``SessionFull``) or, when asked, puts the sign-up on its
waitlist. A fee paid from the company's credit is charged in the same savepoint as the
seats, so a refused charge leaves nothing behind (``regions.programme_money``).

Leaving (``leave``) frees the seats and gives a credit-paid fee back until the refund
deadline, then ``promote_waitlist`` gives freed places to the waitlist in order. A stay
cancelled or not turned up for (``release_for_stay``) takes the places that needed it
with it, their fees back in full.

Services flush only; the caller commits (or rolls back on a ``RuleError``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from accounts import events
from accounts.models import Company, User
from billing import ledger
from core.db import in_id_range
from core.extensions import db
from regions import programme_money
from regions.models import (
    PriceKind,
    Programme,
    ProgrammeSession,
    ProgrammeSignup,
    SessionStatus,
    SignupStatus,
)
from regions.programmes import (
    CURRENT,
    MAX_PARTICIPANTS,
    MIN_PARTICIPANTS,
    ProgrammeError,
    ProgrammeForbidden,
    ProgrammeNotFound,
    SessionFull,
    fee_for,
    signup_of_user,
)

DEFAULT_GRACE_DAYS = 7  # core.config's BILLING_GRACE_DAYS default, outside a request


# -- joining -------------------------------------------------------------------------------


def _locked_session(session_id: int) -> ProgrammeSession:
    """The session's row, locked and read as of the lock."""
    session = (
        db.session.scalar(
            select(ProgrammeSession)
            .where(ProgrammeSession.id == session_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if in_id_range(session_id)
        else None
    )
    if session is None:
        raise ProgrammeNotFound(_l("No such programme session."))
    return session


def check_participants(participants: int, capacity: int | None = None) -> None:
    if not MIN_PARTICIPANTS <= participants <= MAX_PARTICIPANTS:
        raise ProgrammeError(
            _l(
                "Sign up %(low)d to %(high)d participants: yourself and your companions.",
                low=MIN_PARTICIPANTS,
                high=MAX_PARTICIPANTS,
            ),
            "participants",
        )
    if capacity is not None and participants > capacity:
        raise ProgrammeError(
            _l("This session takes at most %(n)d participants.", n=capacity), "capacity"
        )


def _check_joinable(session: ProgrammeSession, now: datetime) -> Programme:
    programme = session.programme
    if not programme.published or programme.operator.suspended_at is not None:
        raise ProgrammeNotFound(_l("No such programme session."))
    if session.status != SessionStatus.SCHEDULED:
        raise ProgrammeError(_l("The organiser has cancelled this session."), "cancelled")
    if session.starts_at <= now:
        raise ProgrammeError(_l("This session has already begun."), "started")
    return programme


def _check_person(user: User) -> None:
    if not user.books_stays:
        raise ProgrammeForbidden(_l("Only employees of a subscribing company can join programmes."))
    active = db.session.scalar(select(User.active).where(User.id == user.id))
    company_active = db.session.scalar(select(Company.active).where(Company.id == user.company_id))
    if not active or not company_active:
        raise ProgrammeForbidden(
            _l("Your account or your company's subscription is not active."), "inactive"
        )


def event_data(session: ProgrammeSession, signup: ProgrammeSignup, **more) -> dict:
    """What a programme event of ``signup`` carries (``accounts.events``); the organiser's
    events (``regions.organise_sessions``) carry the same."""
    programme = session.programme
    return {
        "programme_id": programme.id,
        "session_id": session.id,
        "title_ja": programme.title_ja,
        "title_en": programme.title_en,
        "starts_at": session.starts_at.isoformat(),
        "ends_at": session.ends_at.isoformat(),
        "participants": signup.participants,
        "fee": signup.fee,
        **more,
    }


def _emit(type_: str, signup: ProgrammeSignup, session: ProgrammeSession, now, **more) -> None:
    events.emit(
        type_,
        now,
        user_id=signup.user_id,
        company_id=signup.company_id,
        operator_id=session.programme.operator_id,
        subject=("programme_signup", signup.id),
        data=event_data(session, signup, **more),
    )


def join(
    session_id: int,
    user: User,
    participants: int,
    now: datetime,
    *,
    booking_id: int | None,
    has_stay: bool,
    waitlist: bool,
    grace_days: int,
) -> ProgrammeSignup:
    """Sign ``user`` and companions (``participants`` in all) up for a session.

    Under the session's lock: a place when enough seats are left (a credit-paid fee
    charged with it, or nothing at all when the charge is refused), else the waitlist
    when ``waitlist``, else ``SessionFull``. ``has_stay``: the person has a live stay in
    the network over the session's day (the booking layer's finding); ``booking_id`` the
    stay this place goes with. A sign-up that was left is joined again in its own row.
    """
    _check_person(user)
    check_participants(participants)
    session = _locked_session(session_id)
    programme = _check_joinable(session, now)
    check_participants(participants, session.capacity)
    if programme.stay_required and not has_stay:
        raise ProgrammeError(
            _l(
                "This programme is for guests of the network: book a stay that covers"
                " the session's day first."
            ),
            "stay_required",
        )
    signup = db.session.scalar(
        select(ProgrammeSignup)
        .where(ProgrammeSignup.session_id == session.id, ProgrammeSignup.user_id == user.id)
        .execution_options(populate_existing=True)
    )
    if signup is not None and signup.status in CURRENT:
        raise ProgrammeError(_l("You have already signed up for this session."), "already_joined")
    fee = fee_for(programme, participants)
    if session.seats_left < participants:
        if not waitlist:
            raise SessionFull(
                _l(
                    "This session is full: %(left)d of %(capacity)d seats are left.",
                    left=session.seats_left,
                    capacity=session.capacity,
                )
            )
        signup = _place(signup, session, user, participants, fee, booking_id)
        signup.status = SignupStatus.WAITLISTED
        signup.waitlisted_at = now
        signup.joined_at = None
        db.session.flush()
        _emit(events.PROGRAMME_WAITLISTED, signup, session, now)
        return signup
    with db.session.begin_nested():  # a refused charge undoes the seats and the row
        signup = _place(signup, session, user, participants, fee, booking_id)
        _take_seats(signup, session, now)
        if programme.price_kind == PriceKind.CREDIT:
            programme_money.charge(signup, user, now, grace_days=grace_days)
    _emit(events.PROGRAMME_JOINED, signup, session, now)
    return signup


def _place(
    signup: ProgrammeSignup | None,
    session: ProgrammeSession,
    user: User,
    participants: int,
    fee: int,
    booking_id: int | None,
) -> ProgrammeSignup:
    """The person's row for the session: new, or the one they left, set afresh."""
    if signup is None:
        signup = ProgrammeSignup(session_id=session.id, user_id=user.id)
        db.session.add(signup)
    elif signup.fee != fee and programme_money.paid(signup.id) > 0:
        # Left after the refund deadline: the fee paid then stays paid for that place.
        raise ProgrammeError(
            _l(
                "You paid for %(n)d participants when you first joined; join again with as many.",
                n=signup.participants,
            ),
            "rejoin_participants",
        )
    signup.company_id = user.company_id
    signup.booking_id = booking_id
    signup.participants = participants
    signup.fee = fee
    signup.left_at = None
    signup.attended = None
    signup.attendance_marked_at = None
    return signup


def _take_seats(signup: ProgrammeSignup, session: ProgrammeSession, now: datetime) -> None:
    signup.status = SignupStatus.JOINED
    signup.joined_at = now
    session.seats_taken += signup.participants
    db.session.flush()


# -- leaving and the waitlist --------------------------------------------------------------


def leave_preview(signup: ProgrammeSignup, now: datetime) -> int:
    """What leaving now gives back to the company's credit (yen): a credit-paid fee in
    full until the refund deadline (``programme_money.refund_deadline``), after it
    nothing; a waitlisted or unpaid sign-up has nothing to give back."""
    if signup.status != SignupStatus.JOINED:
        return 0
    if now > programme_money.refund_deadline(signup.session.starts_at):
        return 0
    return programme_money.paid(signup.id)


def may_leave(signup: ProgrammeSignup, now: datetime) -> bool:
    """A place or a wait that can still be given up: before the session begins."""
    return (
        signup.status in CURRENT
        and signup.session.status == SessionStatus.SCHEDULED
        and now < signup.session.starts_at
    )


def leave(signup_id: int, user_id: int, now: datetime) -> int:
    """Give up a place (or a place in line): the seats go to the waitlist in order, and a
    credit-paid fee comes back until the refund deadline. Returns the yen given back."""
    found = signup_of_user(signup_id, user_id)
    session = _locked_session(found.session_id)
    signup = db.session.scalar(
        select(ProgrammeSignup)
        .where(ProgrammeSignup.id == found.id)
        .execution_options(populate_existing=True)
    )
    if not may_leave(signup, now):
        if signup.status not in CURRENT:
            raise ProgrammeError(_l("You are not signed up for this session."), "not_joined")
        if session.status != SessionStatus.SCHEDULED:
            raise ProgrammeError(_l("The organiser has cancelled this session."), "cancelled")
        raise ProgrammeError(_l("This session has already begun."), "started")
    return _give_up(signup, session, now)


def _give_up(
    signup: ProgrammeSignup,
    session: ProgrammeSession,
    now: datetime,
    *,
    full_refund: bool = False,
    **more,
) -> int:
    """The sign-up leaves its session, whose row lock the caller holds: its seats freed,
    a credit-paid fee given back until the refund deadline (whenever, ``full_refund``),
    ``programme.left`` told (``more`` added to its data), the waitlist promoted."""
    was_joined = signup.status == SignupStatus.JOINED
    refund = 0
    if was_joined:  # the refund, then the waitlist's charges: accounts in id order
        lock_paying_accounts(session, [signup.company_id])
        session.seats_taken -= signup.participants
        if full_refund or now <= programme_money.refund_deadline(session.starts_at):
            refund = programme_money.refund(signup, now)
    signup.status = SignupStatus.LEFT
    signup.left_at = now
    db.session.flush()
    _emit(events.PROGRAMME_LEFT, signup, session, now, refund=refund, **more)
    if was_joined:
        promote_waitlist(session, now)
    return refund


def lock_sessions_for_stays(booking_ids: Iterable[int]) -> None:
    """Take the row locks of the sessions holding a current sign-up of these stays, in
    id order: a caller that will move money (the company's billing account lock) takes
    these first, in the order ``join`` takes them (session, then account)."""
    ids = list(booking_ids)
    if not ids:
        return
    db.session.execute(
        select(ProgrammeSession.id)
        .where(
            ProgrammeSession.id.in_(
                select(ProgrammeSignup.session_id).where(
                    ProgrammeSignup.booking_id.in_(ids), ProgrammeSignup.status.in_(CURRENT)
                )
            )
        )
        .order_by(ProgrammeSession.id)
        .with_for_update()
    ).all()


def release_for_stay(booking_id: int, now: datetime) -> int:
    """The stay (``booking.id``) was cancelled or its guest never came: each of its
    current sign-ups to a programme that requires a stay leaves its session (see
    ``leave``), a credit-paid fee coming back in full whatever the deadline (the event
    says ``stay_ended``); one to a programme open to anyone is kept, no longer linked to
    the stay. A session begun or cancelled by its organiser is left as it is. Takes the
    sessions' locks first (``lock_sessions_for_stays``); returns the yen given back."""
    lock_sessions_for_stays([booking_id])
    signups = db.session.scalars(
        select(ProgrammeSignup)
        .where(ProgrammeSignup.booking_id == booking_id, ProgrammeSignup.status.in_(CURRENT))
        .order_by(ProgrammeSignup.session_id, ProgrammeSignup.id)
        .execution_options(populate_existing=True)
    ).all()
    refunded = 0
    for signup in signups:
        # Locked above unless joined since (then locked now): re-read under the lock.
        session = _locked_session(signup.session_id)
        if not session.programme.stay_required:
            signup.booking_id = None
        elif may_leave(signup, now):
            refunded += _give_up(signup, session, now, full_refund=True, stay_ended=True)
    db.session.flush()
    return refunded


def lock_paying_accounts(session: ProgrammeSession, company_ids: Iterable[int] = ()) -> None:
    """Before moving a credit-paid session's money: lock the billing accounts of these
    companies and of everyone on its waitlist, in id order (the caller holds the
    session's lock). Every path then takes session, then accounts by id, as
    ``organise_sessions.cancel_session`` does, so two of them never wait for each other
    crosswise."""
    if session.programme.price_kind != PriceKind.CREDIT:
        return
    waiting = db.session.scalars(
        select(ProgrammeSignup.company_id).where(
            ProgrammeSignup.session_id == session.id,
            ProgrammeSignup.status == SignupStatus.WAITLISTED,
        )
    ).all()
    for company_id in sorted({*company_ids, *waiting}):
        ledger.account_of(company_id, lock=True)


def promote_waitlist(
    session: ProgrammeSession, now: datetime, *, grace_days: int | None = None
) -> list[ProgrammeSignup]:
    """Give the session's free seats to its waitlist in order (``waitlisted_at``, then
    id). The caller holds the session's row lock (``with_for_update``).

    A sign-up whose participants do not fit waits on and the next is tried; one whose
    credit-paid fee the company refuses now also waits on (nothing charged). Each one
    promoted is told (``programme.promoted``). ``grace_days``: the billing grace
    (``BILLING_GRACE_DAYS``; read from the app's configuration when left out).
    """
    if session.status != SessionStatus.SCHEDULED or session.starts_at <= now:
        return []
    if grace_days is None:
        grace_days = current_app.config.get("BILLING_GRACE_DAYS", DEFAULT_GRACE_DAYS)
    lock_paying_accounts(session)
    waiting = db.session.scalars(
        select(ProgrammeSignup)
        .where(
            ProgrammeSignup.session_id == session.id,
            ProgrammeSignup.status == SignupStatus.WAITLISTED,
        )
        .options(joinedload(ProgrammeSignup.user))
        .order_by(ProgrammeSignup.waitlisted_at, ProgrammeSignup.id)
        .execution_options(populate_existing=True)
    ).all()
    promoted = []
    for signup in waiting:
        if session.seats_left <= 0:
            break
        if signup.participants > session.seats_left:
            continue
        try:
            with db.session.begin_nested():
                _take_seats(signup, session, now)
                if session.programme.price_kind == PriceKind.CREDIT:
                    programme_money.charge(signup, signup.user, now, grace_days=grace_days)
        except programme_money.ProgrammeCreditRefused:
            # The savepoint undid the seats: read the row and the session as they are.
            db.session.refresh(session)
            db.session.refresh(signup)
            continue
        _emit(events.PROGRAMME_PROMOTED, signup, session, now)
        promoted.append(signup)
    return promoted
