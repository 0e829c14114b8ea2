"""The platform admin's help for one person anywhere in the network: lock and unlock
an account, send a password reset, and reset two-factor sign-in after a lost
authenticator. Each records one audit entry, filed under the person's organisation
so its admins read it too. Services flush; the caller commits.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select

from accounts import audit
from accounts.models import RecoveryCode, User
from accounts.recovery import send_reset_link_to
from core.db import in_id_range
from core.extensions import db
from identity.orgs import OrgError, OrgNotFound, end_access


def _person(user_id: int) -> User:
    """The person, row-locked and read as of the lock."""
    user = (
        db.session.scalar(
            select(User)
            .where(User.id == user_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if in_id_range(user_id)
        else None
    )
    if user is None:
        raise OrgNotFound(_l("No such person."))
    return user


def _record(action: str, user: User, now: datetime, actor: User | None, **values) -> None:
    audit.record(
        action,
        now,
        actor=actor,
        object_type="user",
        object_id=user.id,
        company_id=user.company_id,
        operator_id=user.operator_id,
        **values,
    )


def lock(user_id: int, now: datetime, *, actor: User | None = None) -> User:
    """The person cannot sign in, in any way, until unlocked; their sessions and API
    tokens end at once. Nobody locks themself out."""
    user = _person(user_id)
    if actor is not None and user.id == actor.id:
        raise OrgError(_l("You cannot lock your own account."), "self")
    if user.locked_at is not None:
        return user
    user.locked_at = now
    end_access([user.id], now)
    _record("user.lock", user, now, actor, before={"locked": False}, after={"locked": True})
    db.session.flush()
    return user


def unlock(user_id: int, now: datetime, *, actor: User | None = None) -> User:
    """The person may sign in again (with the password they had)."""
    user = _person(user_id)
    if user.locked_at is None:
        return user
    user.locked_at = None
    _record("user.unlock", user, now, actor, before={"locked": True}, after={"locked": False})
    db.session.flush()
    return user


def send_password_reset(user_id: int, now: datetime, *, actor: User | None = None) -> User:
    """Mail the person a one-hour reset link. Refused for a locked or deactivated
    account: its link would not open."""
    user = _person(user_id)
    if user.locked_at is not None:
        raise OrgError(_l("This account is locked: unlock it first."), "locked")
    if not user.active:
        raise OrgError(_l("This account is deactivated by its company."), "inactive")
    send_reset_link_to(user, now)
    _record("user.password_reset", user, now, actor)
    db.session.flush()
    return user


def reset_two_factor(user_id: int, now: datetime, *, actor: User | None = None) -> User:
    """Forget the person's authenticator and recovery codes after they lost them: they
    sign in with their password and must enrol again at once. Their sessions end."""
    user = _person(user_id)
    enrolled = user.totp_enabled_at is not None
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    user.two_factor_prompted_at = now
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    end_access([user.id], now)
    _record(
        "user.two_factor_reset",
        user,
        now,
        actor,
        before={"two_factor": enrolled},
        after={"two_factor": False},
    )
    db.session.flush()
    return user


def unbind_single_sign_on(user_id: int, now: datetime, *, actor: User | None = None) -> User:
    """Forget which identity-provider account this person signs in with (their provider
    account was re-created, or bound by mistake): their next single sign-on binds again."""
    user = _person(user_id)
    bound = user.sso_subject is not None
    user.sso_subject = None
    _record(
        "user.sso_unbind", user, now, actor, before={"sso_bound": bound}, after={"sso_bound": False}
    )
    db.session.flush()
    return user
