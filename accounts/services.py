"""Sign-in, passwords, throttling and API tokens. Services flush; the caller commits."""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from accounts.models import ApiToken, LoginThrottle, User
from core.db import in_id_range
from core.extensions import db

MIN_PASSWORD_LENGTH = 10
TOKEN_PREFIX = "eng_"  # noqa: S105 (a label, not a secret)


@functools.cache
def _dummy_hash(method: str) -> str:
    """Checked when the e-mail is unknown, with the real method, so timing reveals nothing."""
    return generate_password_hash("engawa-no-such-user", method=method)


class AccountError(Exception):
    """A rule about accounts was broken; ``code`` says which."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


class LoginThrottled(AccountError):
    def __init__(self, retry_after: int):
        super().__init__("throttled")
        self.retry_after = retry_after


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures: int
    lockout_seconds: int


def normalise_email(email: str) -> str:
    return email.strip().lower()


def user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def hash_password(password: str, method: str = "scrypt") -> str:
    return generate_password_hash(password, method=method)


def authenticate(
    email: str, password: str, now: datetime, policy: ThrottlePolicy, hash_method: str = "scrypt"
) -> User | None:
    """Return the user for a correct e-mail and password, else None.

    After ``policy.max_failures`` failures within the lockout window the address is
    locked for ``policy.lockout_seconds``; while locked even a correct password is
    refused (``LoginThrottled``), so guessing gains nothing.
    """
    email = normalise_email(email)
    throttle = db.session.get(LoginThrottle, email, with_for_update=True)
    if throttle and throttle.locked_until and throttle.locked_until > now:
        raise LoginThrottled(int((throttle.locked_until - now).total_seconds()) + 1)

    user = user_by_email(email)
    ok = check_password_hash(user.password_hash if user else _dummy_hash(hash_method), password)
    if ok and user and user.active:
        if throttle:
            db.session.delete(throttle)
        db.session.flush()
        return user

    window = timedelta(seconds=policy.lockout_seconds)
    if throttle is None:
        throttle = LoginThrottle(email=email, failures=0, window_started_at=now)
        db.session.add(throttle)
    elif now - throttle.window_started_at > window:
        throttle.failures, throttle.window_started_at, throttle.locked_until = 0, now, None
    throttle.failures += 1
    if throttle.failures >= policy.max_failures:
        throttle.locked_until = now + window
    db.session.flush()
    return None


def change_password(user: User, current: str, new: str, method: str = "scrypt") -> None:
    """Replace the password after checking the current one; other sessions sign out."""
    if not check_password_hash(user.password_hash, current):
        raise AccountError("wrong_password")
    if len(new) < MIN_PASSWORD_LENGTH:
        raise AccountError("too_short")
    if new == current:
        raise AccountError("unchanged")
    user.password_hash = hash_password(new, method)
    user.session_version += 1
    db.session.flush()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(user: User, name: str, now: datetime) -> tuple[ApiToken, str]:
    """Create a token; the secret is returned once and only its hash is kept."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name.strip()[:100] or "API",
        token_hash=_digest(secret),
        prefix=secret[: len(TOKEN_PREFIX) + 6],
        created_at=now,
    )
    db.session.add(token)
    db.session.flush()
    return token, secret


def user_for_token(secret: str, now: datetime) -> User | None:
    token = db.session.scalar(
        select(ApiToken)
        .options(joinedload(ApiToken.user))
        .where(ApiToken.token_hash == _digest(secret), ApiToken.revoked_at.is_(None))
    )
    if token is None or not token.user.active:
        return None
    # Record use at most once a minute, so the API does not write on every read.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        token.last_used_at = now
    return token.user


def revoke_api_token(user: User, token_id: int, now: datetime) -> bool:
    if not in_id_range(token_id):
        return False
    token = db.session.scalar(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id)
    )
    if token is None or token.revoked_at is not None:
        return False
    token.revoked_at = now
    db.session.flush()
    return True


def tokens_of(user: User) -> list[ApiToken]:
    return list(
        db.session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            .order_by(ApiToken.created_at.desc())
        )
    )
