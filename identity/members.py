"""A company's people: invitations, joining by verified domain, deactivation.

Setting the join domain and the platform admin's review of it are in
``accounts.join_domains``.
Services flush; the caller commits. Lock order, everywhere here and in booking:
an invitation row, then a user row, then the company's billing account, so two
requests never wait on each other in opposite orders.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from accounts.events import SEATS_FULL, emit
from accounts.membership import (
    InvitationInvalid,
    MemberError,
    MemberNotFound,
    domain_of,
    is_free_mail_domain,
    require_admin_of,
    valid_email,
)
from accounts.models import ApiToken, Company, Invitation, Role, User
from accounts.passwords import weak_password_reason
from accounts.services import hash_password, normalise_email, token_digest, user_by_email
from accounts.sessions import end_sessions
from billing.services import check_seat_free
from booking.cancellation import cancel_future_stays
from core.db import in_id_range, tokyo_today
from core.extensions import db

# A domain join link is not sent again to the same address within this time, so the
# public form cannot be used to flood somebody's mailbox.
DOMAIN_JOIN_RESEND_MINUTES = 5
# A join link asked for on the public form is for the person asking, who opens it at
# once: it lasts a day (an admin's invitation lasts INVITATION_DAYS).
DOMAIN_JOIN_LINK_DAYS = 1
# Beyond this many unused domain join links, a company gets no more until some are used
# or expire: the public form cannot grow the table without bound (the form's answer
# stays the same, so the cap reveals nothing). Above what the per-domain rate limit
# lets through in a link's lifetime (30 an hour × 24 h), so a flood within the limits
# never fills it and shuts the company's joining.
MAX_PENDING_DOMAIN_INVITATIONS = 1000
MAX_TOKEN_LENGTH = 100  # token_urlsafe(32) is 43 characters; anything far longer is junk


def _new_invitation(
    company_id: int, email: str, kind: str, now: datetime, days: int, invited_by: User | None
) -> tuple[Invitation, str]:
    secret = secrets.token_urlsafe(32)
    invitation = Invitation(
        company_id=company_id,
        email=email,
        token_hash=token_digest(secret),
        kind=kind,
        invited_by_id=invited_by.id if invited_by else None,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    db.session.add(invitation)
    db.session.flush()
    return invitation, secret


def _pending(now: datetime):
    return (
        Invitation.used_at.is_(None),
        Invitation.revoked_at.is_(None),
        Invitation.expires_at > now,
    )


# --- Invitations ---------------------------------------------------------------------


def invite(
    company_id: int, email: str, invited_by: User, now: datetime, days: int
) -> tuple[Invitation, str | None]:
    """Invite ``email`` to join the company as an employee.

    Returns the invitation and its link's secret, once; the secret is None when the
    address already has an account in another company: the invitation is recorded all
    the same (it can never be accepted) and the caller sends that address a notice
    instead of a link, so the admin sees the same outcome either way and cannot tell
    which addresses have accounts elsewhere. Refused for a malformed address, a person
    already in this company (the admin sees them on the page anyway), and when every
    paid seat is taken by an active person (seats are checked again on acceptance).
    Inviting the same address again revokes the earlier pending invitation.
    """
    require_admin_of(invited_by, company_id)
    email = normalise_email(email)
    if not valid_email(email):
        raise MemberError(_l("Please enter a valid e-mail address."), "invalid_email")
    existing = user_by_email(email)
    if existing is not None and existing.company_id == company_id:
        raise MemberError(
            _l("This person is already one of your company's people."), "already_member"
        )
    db.session.execute(
        update(Invitation)
        .where(Invitation.company_id == company_id, Invitation.email == email, *_pending(now))
        .values(revoked_at=now)
    )
    check_seat_free(company_id)
    invitation, secret = _new_invitation(company_id, email, "invite", now, days, invited_by)
    return invitation, (secret if existing is None else None)


def invitation_for(token: str, now: datetime, *, lock: bool = False) -> Invitation | None:
    """The invitation behind a link, if it can still be used (unused, unrevoked, unexpired,
    its company active); else None."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    query = select(Invitation).where(Invitation.token_hash == token_digest(token))
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    invitation = db.session.scalar(query)
    if (
        invitation is None
        or invitation.used_at is not None
        or invitation.revoked_at is not None
        or invitation.expires_at <= now
        or not invitation.company.active
    ):
        return None
    return invitation


def accept(token: str, name: str, password: str, now: datetime, hash_method: str) -> User:
    """Create the employee an invitation (or a domain link) was made for, once.

    The password must pass the common rule (``accounts.passwords``: length, not a
    common password, not the invitee's address, not one repeated character). The
    invitation row is locked and re-checked, then the seat count is checked under
    the company's billing lock: two people accepting for the last seat cannot both get
    it. Raises ``InvitationInvalid``, ``MemberError`` or ``billing.services.BillingError``.
    """
    name = " ".join(name.split())
    if not name or len(name) > 200:
        raise MemberError(_l("Please enter your name (up to 200 characters)."), "name")
    invitation = invitation_for(token, now, lock=True)
    if invitation is None:
        raise InvitationInvalid()
    reason = weak_password_reason(password, invitation.email)
    if reason is not None:
        raise MemberError(reason, "weak_password")
    if user_by_email(invitation.email) is not None:
        raise _already_has_account()
    check_seat_free(invitation.company_id)
    user = User(
        email=invitation.email,
        name=name,
        password_hash=hash_password(password, hash_method),
        role=Role.EMPLOYEE,
        company_id=invitation.company_id,
        created_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(user)
            db.session.flush()
    except IntegrityError:
        raise _already_has_account() from None  # the same address signed up a moment ago
    invitation.used_at = now
    db.session.flush()
    return user


def record_seats_full(company_id: int, now: datetime) -> None:
    """Someone could not join the company: every paid seat is taken (an invitation or
    join link accepted, a first single sign-on, a directory's provisioning).

    The company's admins hear of it once per Japan day however many are turned away
    (a ``seats.full`` event). The refusal rolled its own transaction back, so the edge
    calls this after the rollback and commits it on its own (flushes only).
    """
    emit(
        SEATS_FULL,
        now,
        company_id=company_id,
        dedupe_key=f"seats_full:{company_id}:{tokyo_today(now).isoformat()}",
    )


def _already_has_account() -> MemberError:
    return MemberError(
        _l("This e-mail address already has an Engawa account. Please sign in instead."),
        "taken",
    )


def pending_invitations(company_id: int, now: datetime) -> list[Invitation]:
    return list(
        db.session.scalars(
            select(Invitation)
            .where(Invitation.company_id == company_id, *_pending(now))
            .order_by(Invitation.created_at.desc(), Invitation.id.desc())
        )
    )


def revoke_invitation(company_id: int, invitation_id: int, now: datetime) -> Invitation:
    """Revoke a pending invitation of this company; one already used or revoked stays as it
    is. Another company's invitation is not found."""
    invitation = (
        db.session.scalar(
            select(Invitation)
            .where(Invitation.id == invitation_id, Invitation.company_id == company_id)
            .with_for_update()
        )
        if in_id_range(invitation_id)
        else None
    )
    if invitation is None:
        raise MemberNotFound(_l("No such invitation."))
    if invitation.used_at is None and invitation.revoked_at is None:
        invitation.revoked_at = now
        db.session.flush()
    return invitation


# --- Joining with a company e-mail address ---------------------------------------------


def request_domain_join(email: str, now: datetime, days: int) -> tuple[Invitation, str] | None:
    """A join link for an address at a company's verified, approved domain, else None.

    None also when the address has an account, the company is inactive, its domain
    still waits for the platform admin's approval (or is on the free-mail list), a
    link went to the address minutes ago, or the company already has
    ``MAX_PENDING_DOMAIN_INVITATIONS`` unused join links: the caller answers the same
    in every case, so the form reveals neither companies nor accounts. The company
    row is locked while counting, so racing requests cannot pass the cap together.
    """
    email = normalise_email(email)
    if not valid_email(email) or is_free_mail_domain(domain_of(email)):
        return None
    if user_by_email(email) is not None:
        return None
    company = db.session.scalar(
        select(Company)
        .where(
            func.lower(Company.email_domain) == domain_of(email),
            Company.email_domain_approved_at.is_not(None),
            Company.active,
        )
        .order_by(Company.id)
        .limit(1)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if company is None:
        return None
    pending = db.session.scalar(
        select(func.count())
        .select_from(Invitation)
        .where(Invitation.company_id == company.id, Invitation.kind == "domain", *_pending(now))
    )
    if pending >= MAX_PENDING_DOMAIN_INVITATIONS:
        return None
    recent = db.session.scalar(
        select(Invitation.id).where(
            Invitation.company_id == company.id,
            Invitation.email == email,
            Invitation.kind == "domain",
            Invitation.created_at > now - timedelta(minutes=DOMAIN_JOIN_RESEND_MINUTES),
        )
    )
    if recent is not None:
        return None
    db.session.execute(
        update(Invitation)
        .where(
            Invitation.company_id == company.id,
            Invitation.email == email,
            Invitation.kind == "domain",
            *_pending(now),
        )
        .values(revoked_at=now)
    )
    return _new_invitation(company.id, email, "domain", now, days, None)


# --- Members ----------------------------------------------------------------------------


def members_of(company_id: int) -> list[User]:
    """Everyone of the company, active people first, then by name."""
    return list(
        db.session.scalars(
            select(User)
            .where(User.company_id == company_id)
            .order_by(User.active.desc(), User.name, User.id)
        )
    )


def _member(company_id: int, user_id: int) -> User:
    """A member of this company, row-locked; anyone else is not found."""
    user = (
        db.session.scalar(
            select(User)
            .where(User.id == user_id, User.company_id == company_id)
            .with_for_update()
            # read as of the lock, not as this session last saw the row
            .execution_options(populate_existing=True)
        )
        if in_id_range(user_id)
        else None
    )
    if user is None:
        raise MemberNotFound(_l("No such employee."))
    return user


def deactivate(company_id: int, user_id: int, now: datetime, *, actor_id: int | None = None) -> int:
    """End a member's access at once; returns the number of stays cancelled.

    Their sessions end (``session_version`` moves on and inactive users are not
    loaded), their API tokens are revoked, and their stays that have not begun are
    cancelled with the credit refunded in full to the company. A stay in progress is
    left alone. Nobody deactivates themself, and the company keeps at least one
    active admin. Deactivating an inactive member changes nothing.
    """
    # The company row first: two admins deactivating each other at once take turns,
    # so the second sees the first one's change and the company keeps an admin.
    db.session.execute(select(Company.id).where(Company.id == company_id).with_for_update())
    user = _member(company_id, user_id)
    if actor_id is not None and user.id == actor_id:
        raise MemberError(_l("You cannot deactivate yourself."), "self")
    if not user.active:
        return 0
    if user.role == Role.COMPANY_ADMIN and _other_active_admins(company_id, user.id) == 0:
        raise MemberError(_l("The company needs at least one active admin."), "last_admin")
    user.active = False
    user.session_version += 1
    end_sessions(user.id, now)
    db.session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    cancelled = cancel_future_stays(user, now, actor_id=actor_id)
    db.session.flush()
    return len(cancelled)


def _other_active_admins(company_id: int, user_id: int) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(User)
        .where(
            User.company_id == company_id,
            User.role == Role.COMPANY_ADMIN,
            User.active,
            User.id != user_id,
        )
    )


def reactivate(company_id: int, user_id: int) -> User:
    """Give a deactivated member their access back, if a paid seat is free.

    Their old sessions and tokens stay ended: they sign in again.
    """
    user = _member(company_id, user_id)
    if user.active:
        return user
    check_seat_free(company_id)
    user.active = True
    db.session.flush()
    return user
