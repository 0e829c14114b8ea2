"""Sign-in, passwords, throttling and API tokens. Services flush; the caller commits.

Sign-in sessions are in ``accounts.sessions``. Failed sign-ins are also counted per
client IP (``core.ratelimit``, by the view) and checked before any password hash runs.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from accounts.models import ApiToken, LoginThrottle, User

# MIN_PASSWORD_LENGTH: identity.members and member_forms import it from here.
from accounts.passwords import MIN_PASSWORD_LENGTH, weak_password_reason  # noqa: F401
from core.db import in_id_range
from core.extensions import db

TOKEN_PREFIX = "eng_"  # noqa: S105 (a label, not a secret)
# Failed sign-ins for an address are forgotten this long after the last one.
FAILURE_MEMORY = timedelta(hours=24)


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


class WeakPassword(AccountError):
    def __init__(self, reason):
        super().__init__("weak_password")
        self.reason = reason  # translated: shown to the person as it is


@dataclass(frozen=True)
class ThrottlePolicy:
    """Failures for one address before delays begin, the first delay, the longest."""

    max_failures: int
    first_delay_seconds: int
    max_delay_seconds: int

    def delay_after(self, failures: int) -> timedelta | None:
        """The wait after ``failures`` failures in a row: none below ``max_failures``,
        then the first delay, doubled per further failure, capped."""
        if failures < self.max_failures:
            return None
        doublings = min(failures - self.max_failures, 32)
        seconds = min(self.max_delay_seconds, self.first_delay_seconds * 2**doublings)
        return timedelta(seconds=seconds)


def throttle_key(email: str, client: str) -> str:
    """The row of failures for ``email`` tried from ``client`` (a network, see
    ``core.ratelimit.client_ip``): hashed, so its length is fixed whatever the input."""
    return hashlib.sha256(f"{normalise_email(email)}\n{client}".encode()).hexdigest()


def normalise_email(email: str) -> str:
    return email.strip().lower()


def user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def hash_password(password: str, method: str = "scrypt") -> str:
    return generate_password_hash(password, method=method)


def authenticate(
    email: str,
    password: str,
    now: datetime,
    policy: ThrottlePolicy,
    hash_method: str = "scrypt",
    client: str = "",
) -> User | None:
    """Return the user for a correct e-mail and password, else None.

    After ``policy.max_failures`` failures in a row for an address, its next attempt
    must wait (``LoginThrottled``, no hash is computed), a delay that doubles per
    further failure up to ``policy.max_delay_seconds``. An attempt refused for waiting
    is not a failure, so nobody can push the wait beyond the cap, and once it has
    passed the right password works again; a success forgets the failures. Unknown
    addresses are throttled the same way and hashed against a dummy, so neither
    timing nor throttling tells whether an address has an account.

    Failures are counted per address *and* client network (``client``): someone
    guessing from elsewhere slows themself, never the owner signing in from their
    own network. Guessing from many networks is slowed by the per-network limit the
    view applies before this runs.
    """
    email = normalise_email(email)
    key = throttle_key(email, client)
    throttle = db.session.get(LoginThrottle, key, with_for_update=True)
    if throttle and throttle.locked_until and throttle.locked_until > now:
        raise LoginThrottled(int((throttle.locked_until - now).total_seconds()) + 1)

    user = user_by_email(email)
    ok = check_password_hash(user.password_hash if user else _dummy_hash(hash_method), password)
    if ok and user and may_sign_in(user):
        if throttle:
            db.session.delete(throttle)
        db.session.flush()
        return user
    _count_failure(key, now, policy)
    if throttle is not None:
        db.session.expire(throttle)  # changed in the database, not on this object
    return None


def may_sign_in(user: User) -> bool:
    """Active, not locked by a platform admin, and of no deactivated company."""
    return (
        user.active
        and user.locked_at is None
        and (user.company_id is None or user.company is None or user.company.active)
    )


def _count_failure(key: str, now: datetime, policy: ThrottlePolicy) -> None:
    """One more failure for ``key``: an atomic upsert, so racing attempts all count
    (and never collide on the first row); failures older than FAILURE_MEMORY restart.
    A racing failure never shortens a wait another one set."""
    table = LoginThrottle.__table__
    forgotten = table.c.last_failed_at <= now - FAILURE_MEMORY
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    failures = db.session.execute(
        dialect.insert(LoginThrottle)
        .values(key=key, failures=1, last_failed_at=now, locked_until=None)
        .on_conflict_do_update(
            index_elements=["key"],
            set_={
                "failures": case((forgotten, 1), else_=table.c.failures + 1),
                "last_failed_at": now,
            },
        )
        .returning(LoginThrottle.failures)
    ).scalar_one()
    delay = policy.delay_after(failures)
    if delay is None:
        return
    until = now + delay
    db.session.execute(
        update(LoginThrottle)
        .where(
            LoginThrottle.key == key,
            or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until < until),
        )
        .values(locked_until=until)
        .execution_options(synchronize_session=False)
    )


def prune_login_throttles(now: datetime) -> int:
    """Forget addresses whose last failure is older than FAILURE_MEMORY; flushes."""
    result = db.session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.last_failed_at <= now - FAILURE_MEMORY,
            or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until <= now),
        )
    )
    db.session.flush()
    return result.rowcount


def change_password(user: User, current: str, new: str, method: str = "scrypt") -> None:
    """Replace the password after checking the current one.

    The new one must pass the common password rule (``accounts.passwords``). Moves
    ``session_version`` on; the caller ends the other sessions
    (``accounts.sessions.end_sessions``) and re-signs the current one in.
    """
    if not check_password_hash(user.password_hash, current):
        raise AccountError("wrong_password")
    if new == current:
        raise AccountError("unchanged")
    reason = weak_password_reason(new, user.email)
    if reason is not None:
        raise WeakPassword(reason)
    user.password_hash = hash_password(new, method)
    user.session_version += 1
    db.session.flush()


def token_digest(token: str) -> str:
    """What is stored of a secret token (API tokens, invitations, sessions): its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(
    user: User, name: str, now: datetime, valid_days: int | None = None
) -> tuple[ApiToken, str]:
    """Create a token, valid for ``valid_days`` (None: until revoked); the secret is
    returned once and only its hash is kept."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name.strip()[:100] or "API",
        token_hash=token_digest(secret),
        prefix=secret[: len(TOKEN_PREFIX) + 6],
        created_at=now,
        expires_at=now + timedelta(days=valid_days) if valid_days else None,
    )
    db.session.add(token)
    db.session.flush()
    return token, secret


def user_for_token(secret: str, now: datetime) -> User | None:
    """The active user a token that is neither revoked nor expired belongs to, else None."""
    token = db.session.scalar(
        select(ApiToken)
        .options(joinedload(ApiToken.user))
        .where(
            ApiToken.token_hash == token_digest(secret),
            ApiToken.revoked_at.is_(None),
            or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
        )
    )
    if token is None or not may_sign_in(token.user):
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
    """The person's tokens not revoked, expired ones included (the page marks them)."""
    return list(
        db.session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            .order_by(ApiToken.created_at.desc())
        )
    )
