"""Password links: "forgot password" resets and the first password of a new account.

A link carries a random secret; only its SHA-256 is stored (``PasswordToken``). A
reset link works once, for an hour; a set link (an account the platform admin, a
script or an approved application made) works once, for a week. Choosing the
password through either ends every session and API token of the person and every
other link they were sent. Asking for a reset never tells whether the address has
an account: the same answer, and a mail only when there is one. Services flush; the
caller commits.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext
from sqlalchemy import select, update

from accounts.mail import queue_mail
from accounts.mail_messages import in_both_languages
from accounts.models import ApiToken, PasswordToken, User
from accounts.passwords import weak_password_reason
from accounts.services import (
    WeakPassword,
    hash_password,
    may_sign_in,
    token_digest,
    user_by_email,
)
from accounts.sessions import end_sessions
from core.extensions import db
from core.i18n import format_datetime_local

RESET = "reset"
SET = "set"
LIFETIME = {RESET: timedelta(hours=1), SET: timedelta(days=7)}
# The paths the links open (accounts' recovery pages serve them).
PATHS = {RESET: "/password/reset/", SET: "/password/set/"}
MAX_TOKEN_LENGTH = 100  # token_urlsafe(32) is 43 characters


def link_path(purpose: str, secret: str) -> str:
    return PATHS[purpose] + secret


def public_link(purpose: str, secret: str) -> str:
    """The absolute link at ``BASE_URL`` (mail is read away from this request)."""
    return current_app.config["BASE_URL"].rstrip("/") + link_path(purpose, secret)


def issue(user: User, purpose: str, now: datetime) -> tuple[PasswordToken, str]:
    """A new link for ``user``; the secret is returned once, its hash is kept."""
    secret = secrets.token_urlsafe(32)
    token = PasswordToken(
        user_id=user.id,
        purpose=purpose,
        token_hash=token_digest(secret),
        created_at=now,
        expires_at=now + LIFETIME[purpose],
    )
    db.session.add(token)
    db.session.flush()
    return token, secret


def token_for(secret: str, purpose: str, now: datetime, *, lock: bool = False):
    """The unused, unexpired link of ``purpose`` whose secret this is, for a person who
    may still sign in; else None."""
    if not isinstance(secret, str) or not secret or len(secret) > MAX_TOKEN_LENGTH:
        return None
    query = select(PasswordToken).where(
        PasswordToken.token_hash == token_digest(secret),
        PasswordToken.purpose == purpose,
        PasswordToken.used_at.is_(None),
        PasswordToken.expires_at > now,
    )
    if lock:
        query = query.with_for_update()
    token = db.session.scalar(query)
    if token is None or not may_sign_in(token.user):
        return None
    return token


class LinkInvalid(Exception):
    """The link is unknown, used, expired, or its account may not sign in."""


def choose_password(secret: str, purpose: str, password: str, now: datetime, method: str) -> User:
    """Set the password through a link, once. Raises ``LinkInvalid`` or ``WeakPassword``.

    The link row is locked and checked again, so two submits cannot both use it. Every
    session and API token of the person ends, and so does every other link of theirs."""
    token = token_for(secret, purpose, now, lock=True)
    if token is None:
        raise LinkInvalid()
    user = token.user
    reason = weak_password_reason(password, user.email)
    if reason is not None:
        raise WeakPassword(reason)
    user.password_hash = hash_password(password, method)
    user.session_version += 1
    token.used_at = now
    db.session.execute(
        update(PasswordToken)
        .where(PasswordToken.user_id == user.id, PasswordToken.used_at.is_(None))
        .values(used_at=now)
    )
    db.session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    end_sessions(user.id, now)
    db.session.flush()
    return user


def send_reset_link(email: str, now: datetime) -> None:
    """Queue a reset mail when ``email`` belongs to a person who may sign in; otherwise
    do nothing. The caller answers the same either way."""
    user = user_by_email(email)
    if user is None or not may_sign_in(user):
        return
    send_reset_link_to(user, now)


def send_reset_link_to(user: User, now: datetime) -> None:
    """Queue a reset mail to ``user`` (also what the platform admin's "send a password
    reset" does)."""
    token, secret = issue(user, RESET, now)
    subject, body = reset_mail(public_link(RESET, secret), token.expires_at)
    queue_mail(user.email, subject, body, now, expires_at=token.expires_at)


def reset_mail(link: str, expires_at: datetime) -> tuple[str, str]:
    def render() -> tuple[str, str]:
        values = {"until": format_datetime_local(expires_at)}
        subject = gettext("Reset your Engawa password")
        intro = gettext(
            "Someone asked to reset the password of the Engawa account with this e-mail"
            " address. If it was you, open this link to choose a new password:"
        )
        until = gettext("The link works once, until %(until)s (Japan time).", **values)
        ignore = gettext("If it was not you, ignore this e-mail: your password stays as it is.")
        return subject, f"{intro}\n\n{link}\n\n{until}\n{ignore}\n"

    return in_both_languages(render)


def set_password_mail(org_name: str, link: str, expires_at: datetime) -> tuple[str, str]:
    """The mail to the first admin of an organisation that has just joined."""

    def render() -> tuple[str, str]:
        values = {"org": org_name, "until": format_datetime_local(expires_at)}
        subject = gettext("Your Engawa account for %(org)s", **values)
        intro = gettext(
            "An Engawa account has been made for you as the administrator of %(org)s."
            " Open this link to choose your password:",
            **values,
        )
        until = gettext("The link works once, until %(until)s (Japan time).", **values)
        return subject, f"{intro}\n\n{link}\n\n{until}\n"

    return in_both_languages(render)


def send_set_password_link(user: User, org_name: str, now: datetime) -> str:
    """Issue a set link for a new account, queue its mail, and return the link's path
    (``/password/set/…``) for a script or a console to show once."""
    token, secret = issue(user, SET, now)
    subject, body = set_password_mail(org_name, public_link(SET, secret), token.expires_at)
    queue_mail(user.email, subject, body, now, expires_at=token.expires_at)
    return link_path(SET, secret)


def unusable_password() -> str:
    """A stored hash no password matches (an account that has not chosen one yet, or
    that signs in through its company's identity provider only)."""
    return "!" + secrets.token_hex(16)
