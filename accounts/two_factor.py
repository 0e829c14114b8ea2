"""Two-factor sign-in: time-based one-time codes (TOTP, RFC 6238) and recovery codes.

After the password, a person who has enrolled an authenticator app gives its current
six-digit code, or one of ten one-time recovery codes. Optional for employees,
required for operators, company admins and platform admins: the first sign-in after
this rule met them completes and asks them to enrol (``two_factor_prompted_at``); from
the next one on, they enrol before the sign-in completes.

The secret is stored encrypted (Fernet, with a key derived from ``SECRET_KEY``), so a
copy of the database alone yields no codes. Recovery codes are stored as keyed hashes.
A code is checked against the real clock (one 30-second step either side for clock
drift), and a time step once accepted is never accepted again (``totp_last_step``),
so an overheard code cannot be replayed. Services flush; the caller commits.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime
from enum import StrEnum

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken
from flask import current_app
from markupsafe import Markup
from sqlalchemy import delete, func, select
from werkzeug.security import check_password_hash

from accounts.models import RecoveryCode, Role, User
from core.extensions import db
from core.keys import derive_key

ISSUER = "Engawa"
STEP_SECONDS = 30
DIGITS = 6
# Codes of one step before and after the current one are accepted (clock drift).
VALID_WINDOW = 1
RECOVERY_CODE_COUNT = 10
# Recovery codes: 12 characters of an alphabet without look-alikes, shown as xxxx-xxxx-xxxx.
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_CODE_LENGTH = 12
MAX_CODE_INPUT = 40
ENCRYPTED_PREFIX = "fernet1:"
# Roles that must sign in with a second factor.
REQUIRED_ROLES = frozenset({Role.OPERATOR, Role.COMPANY_ADMIN, Role.PLATFORM_ADMIN})


class Step(StrEnum):
    """What follows a correct password."""

    NONE = "none"  # signed in
    PROMPTED = "prompted"  # signed in, and asked to enrol before the next sign-in
    CODE = "code"  # a code from the authenticator (or a recovery code) first
    ENROL = "enrol"  # enrol an authenticator first (a required role, asked before)


class TwoFactorError(Exception):
    def __init__(self, code: str):
        super().__init__(code)
        self.code = code  # wrong_code, wrong_password, required, not_enrolled


def required_for(user: User) -> bool:
    return user.role in REQUIRED_ROLES


def enabled(user: User) -> bool:
    return user.totp_enabled_at is not None and user.totp_secret is not None


def step_after_password(user: User, now: datetime) -> Step:
    """What the person must do after a correct password; records the enrolment prompt
    (flushes) the first time a required role signs in without a second factor."""
    if enabled(user):
        return Step.CODE
    if not required_for(user):
        return Step.NONE
    if user.two_factor_prompted_at is None:
        user.two_factor_prompted_at = now
        db.session.flush()
        return Step.PROMPTED
    return Step.ENROL


def must_enrol_soon(user: User) -> bool:
    """A required role without a second factor (their pages ask them to enrol)."""
    return required_for(user) and not enabled(user)


# --- The secret ----------------------------------------------------------------------------


def _cipher() -> Fernet:
    key = derive_key(current_app.config["SECRET_KEY"], "totp secret v1")
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret: str) -> str:
    return ENCRYPTED_PREFIX + _cipher().encrypt(secret.encode()).decode("ascii")


def open_secret(stored: str | None) -> str | None:
    """The base32 secret in clear, or None (none stored, or SECRET_KEY changed)."""
    if not stored or not stored.startswith(ENCRYPTED_PREFIX):
        return None
    try:
        return _cipher().decrypt(stored.removeprefix(ENCRYPTED_PREFIX).encode()).decode()
    except InvalidToken:
        return None


def pending_secret(user: User) -> str:
    """The secret being enrolled: the one already offered (a reload shows the same QR
    code), else a new one, stored encrypted; flushes. Only before enrolment."""
    if enabled(user):
        raise TwoFactorError("enrolled")
    secret = open_secret(user.totp_secret)
    if secret is None:
        secret = pyotp.random_base32()  # 32 characters: 160 bits
        user.totp_secret = seal(secret)
        user.totp_last_step = None
        db.session.flush()
    return secret


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=user.email, issuer_name=ISSUER
    )


def qr_svg(uri: str, title: str) -> Markup:
    """The ``otpauth:`` URI as an inline SVG QR code: a path with presentation
    attributes only (no script, no style attribute: the content policy allows none)."""
    code = segno.make(uri, error="m")
    # A white quiet zone behind black modules: scannable whatever the page's colours.
    look = {"scale": 5, "border": 4, "dark": "#000", "light": "#fff", "lineclass": None}
    svg = code.svg_inline(title=title, svgclass="qr-code", **look)
    return Markup(svg.replace("<svg ", '<svg role="img" ', 1))  # noqa: S704 (segno's own markup)


def grouped(secret: str) -> str:
    """The secret in groups of four, easier to type into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


# --- Checking codes ----------------------------------------------------------------------


def _digits(code: str) -> str | None:
    if not isinstance(code, str) or len(code) > MAX_CODE_INPUT:
        return None
    cleaned = "".join(code.split()).replace("-", "")
    return cleaned if len(cleaned) == DIGITS and cleaned.isascii() and cleaned.isdigit() else None


def _lock(user: User) -> User:
    """The person's row, locked, read afresh: two submits of one code cannot both pass."""
    return db.session.scalars(
        select(User)
        .where(User.id == user.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _matching_step(secret: str, code: str, at: datetime, last_step: int | None) -> int | None:
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = int(at.timestamp()) // STEP_SECONDS
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        expected = totp.generate_otp(step)
        if hmac.compare_digest(expected, code) and (last_step is None or step > last_step):
            return step
    return None


def verify_totp(user: User, code: str, at: datetime) -> bool:
    """Whether ``code`` is the authenticator's code at ``at`` (the real clock, one step
    either side) for a time step later than any accepted before; records the step
    (flushes). Works for an enrolled secret and for the one being enrolled."""
    digits = _digits(code)
    if digits is None:
        return False
    user = _lock(user)
    secret = open_secret(user.totp_secret)
    if secret is None:
        return False
    step = _matching_step(secret, digits, at, user.totp_last_step)
    if step is None:
        return False
    user.totp_last_step = step
    db.session.flush()
    return True


def _code_key() -> bytes:
    return derive_key(current_app.config["SECRET_KEY"], "recovery code v1")


def _normalise_recovery(code: str) -> str | None:
    if not isinstance(code, str) or len(code) > MAX_CODE_INPUT:
        return None
    cleaned = "".join(code.split()).replace("-", "").casefold()
    if len(cleaned) != RECOVERY_CODE_LENGTH or any(c not in RECOVERY_ALPHABET for c in cleaned):
        return None
    return cleaned


def _recovery_digest(normalised: str) -> str:
    return hmac.new(_code_key(), normalised.encode(), hashlib.sha256).hexdigest()


def use_recovery_code(user: User, code: str, now: datetime) -> bool:
    """Whether ``code`` is one of the person's unused recovery codes; uses it up (flushes)."""
    normalised = _normalise_recovery(code)
    if normalised is None or not enabled(user):
        return False
    _lock(user)
    row = db.session.scalar(
        select(RecoveryCode).where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _recovery_digest(normalised),
            RecoveryCode.used_at.is_(None),
        )
    )
    if row is None:
        return False
    row.used_at = now
    db.session.flush()
    return True


def verify_sign_in_code(user: User, code: str, at: datetime, now: datetime) -> str | None:
    """The second step of signing in: "totp" or "recovery" for the kind of code that
    passed, None when neither did."""
    if not enabled(user):
        return None
    if _digits(code) is not None:
        return "totp" if verify_totp(user, code, at) else None
    return "recovery" if use_recovery_code(user, code, now) else None


def recovery_codes_left(user: User) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    )


def new_recovery_codes(user: User, now: datetime) -> list[str]:
    """Ten fresh codes (the old ones stop working), returned once in clear; flushes."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
        digest = _recovery_digest(raw)
        db.session.add(RecoveryCode(user_id=user.id, code_hash=digest, created_at=now))
        codes.append(f"{raw[:4]}-{raw[4:8]}-{raw[8:]}")
    db.session.flush()
    return codes


# --- Enrolment and turning off -----------------------------------------------------------


def confirm_enrolment(user: User, code: str, at: datetime, now: datetime) -> list[str]:
    """Turn two-factor sign-in on once a code from the secret being enrolled is right;
    the recovery codes, in clear, once. Raises ``TwoFactorError("wrong_code")``."""
    if enabled(user):
        raise TwoFactorError("enrolled")
    if not verify_totp(user, code, at):
        raise TwoFactorError("wrong_code")
    user.totp_enabled_at = now
    if user.two_factor_prompted_at is None:
        user.two_factor_prompted_at = now
    return new_recovery_codes(user, now)


def regenerate_recovery_codes(user: User, code: str, at: datetime, now: datetime) -> list[str]:
    """New recovery codes for an enrolled person who proves they hold the authenticator."""
    if not enabled(user):
        raise TwoFactorError("not_enrolled")
    if not verify_totp(user, code, at):
        raise TwoFactorError("wrong_code")
    return new_recovery_codes(user, now)


def _clear(user: User) -> None:
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.flush()


def turn_off(user: User, password: str) -> None:
    """An employee turns two-factor sign-in off with their password; the roles that
    require it may not (``TwoFactorError``: required, wrong_password, not_enrolled)."""
    if required_for(user):
        raise TwoFactorError("required")
    if not enabled(user):
        raise TwoFactorError("not_enrolled")
    if not check_password_hash(user.password_hash, password or ""):
        raise TwoFactorError("wrong_password")
    _clear(user)


def reset(user: User) -> None:
    """Forget the person's authenticator and recovery codes (a platform admin's answer to
    a lost phone; the caller records it in the audit log). A required role enrols
    again at their next sign-in."""
    _clear(user)


def enrol_with_secret(user: User, secret: str, now: datetime) -> None:
    """Enrol ``user`` with a known secret at once (the demo accounts, scripts, tests);
    no recovery codes. Does not flush: the user may not have an id yet."""
    user.totp_secret = seal(secret)
    user.totp_enabled_at = now
    user.totp_last_step = None
    user.two_factor_prompted_at = user.two_factor_prompted_at or now
