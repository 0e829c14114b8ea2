"""The signed token in a local coupon's QR code (地域クーポン).

A token names one coupon and binds it to its guest, its area and its dates:
``<coupon id>.<nonce>.<user id>.<municipality code>.<valid from YYYYMMDD>.<days to
valid until>.<signature>``, signed by itsdangerous with HMAC-SHA256 under a key derived
from ``SECRET_KEY`` for this purpose alone (``core.keys.derive_key``). About 90
characters: the shop's redeem address stays a small QR code (version 8) that a phone
camera reads off another phone's screen.

The signature proves Engawa made the token; it does not make the coupon spendable. The
coupon's row is the truth (open, not yet redeemed, within its dates): a token whose
facts differ from its row is refused as a bad token, and a redeemed coupon's token is
refused as used (``regions.coupon_redeem.redeem``).

The coupon's *short code* (the first ``SHORT_CODE_LENGTH`` characters of its nonce,
base32: A–Z and 2–7) is what a shop types when the camera will not read the code.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import date, timedelta

from flask import current_app
from itsdangerous import BadSignature, Signer

from core.keys import derive_key

PURPOSE = "local coupon token v1"
SALT = "engawa.coupon"
NONCE_BYTES = 10  # 80 random bits → 16 base32 characters
SHORT_CODE_LENGTH = 8
MAX_TOKEN_LENGTH = 200  # far beyond a real token: anything longer is not read at all
_PAYLOAD = re.compile(
    r"(?P<coupon>[1-9][0-9]{0,9})\.(?P<nonce>[A-Z2-7]{16})\.(?P<user>[1-9][0-9]{0,9})"
    r"\.(?P<area>[0-9]{6})\.(?P<start>[0-9]{8})\.(?P<days>[0-9]{1,3})",
    re.ASCII,
)
# What people type for a base32 character they misread: 0/O, 1/I/L, 8/B.
_MISREAD = str.maketrans({"0": "O", "1": "I", "8": "B"})


class BadCouponToken(ValueError):
    """Not a token Engawa signed, or not one of the shape it signs."""


@dataclass(frozen=True)
class CouponClaim:
    """What a token says about its coupon (checked against the row before any use)."""

    coupon_id: int
    nonce: str
    user_id: int
    municipality_code: str
    valid_from: date
    valid_until: date

    @property
    def short_code(self) -> str:
        return short_code_of(self.nonce)


def new_nonce() -> str:
    """A coupon's random part: 16 characters of base32 (A–Z, 2–7)."""
    return base64.b32encode(secrets.token_bytes(NONCE_BYTES)).decode("ascii")


def short_code_of(nonce: str) -> str:
    return nonce[:SHORT_CODE_LENGTH]


def grouped(code: str) -> str:
    """A short code as people read it aloud: ``ABCD-EFGH``."""
    return f"{code[:4]}-{code[4:]}" if len(code) > 4 else code


def normalise_short_code(raw: str) -> str | None:
    """A typed short code (any case, spaces and hyphens, 0/1/8 for O/I/B) as stored, or
    None when it cannot be one."""
    cleaned = "".join((raw or "")[:40].split()).replace("-", "").upper().translate(_MISREAD)
    if len(cleaned) != SHORT_CODE_LENGTH or not re.fullmatch(r"[A-Z2-7]+", cleaned):
        return None
    return cleaned


def _signer(secret_key: str | bytes | None) -> Signer:
    secret = secret_key if secret_key is not None else current_app.config["SECRET_KEY"]
    return Signer(
        derive_key(secret, PURPOSE),
        salt=SALT,
        sep=".",
        key_derivation="hmac",
        digest_method=hashlib.sha256,
    )


def sign(
    *,
    coupon_id: int,
    nonce: str,
    user_id: int,
    municipality_code: str,
    valid_from: date,
    valid_until: date,
    secret_key: str | bytes | None = None,
) -> str:
    """The token of a coupon (URL-safe: digits, capitals, ``.``, ``-``, ``_``)."""
    days = (valid_until - valid_from).days
    if days < 0:
        raise ValueError("valid_until before valid_from")
    payload = f"{coupon_id}.{nonce}.{user_id}.{municipality_code}.{valid_from:%Y%m%d}.{days}"
    if not _PAYLOAD.fullmatch(payload):
        raise ValueError("not a coupon's facts")
    return _signer(secret_key).sign(payload).decode("ascii")


def token_of(coupon, secret_key: str | bytes | None = None) -> str:
    """The token of a ``regions.models.Coupon``."""
    return sign(
        coupon_id=coupon.id,
        nonce=coupon.nonce,
        user_id=coupon.user_id,
        municipality_code=coupon.municipality_code,
        valid_from=coupon.valid_from,
        valid_until=coupon.valid_until,
        secret_key=secret_key,
    )


def verify(token: str, secret_key: str | bytes | None = None) -> CouponClaim:
    """The claim of a token Engawa signed; ``BadCouponToken`` for anything else (a
    changed character, another key's signature, a token of another shape)."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise BadCouponToken("no token")
    try:
        payload = _signer(secret_key).unsign(token.encode("ascii", "replace")).decode("ascii")
    except (BadSignature, UnicodeDecodeError):
        raise BadCouponToken("bad signature") from None
    found = _PAYLOAD.fullmatch(payload)
    if found is None:
        raise BadCouponToken("bad payload")
    try:
        start = date(int(found["start"][:4]), int(found["start"][4:6]), int(found["start"][6:]))
    except ValueError:
        raise BadCouponToken("bad date") from None
    return CouponClaim(
        coupon_id=int(found["coupon"]),
        nonce=found["nonce"],
        user_id=int(found["user"]),
        municipality_code=found["area"],
        valid_from=start,
        valid_until=start + timedelta(days=int(found["days"])),
    )
