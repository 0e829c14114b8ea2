"""Keys derived from SECRET_KEY, one per purpose, so no feature holds the key itself
and a key for one purpose tells nothing about another's."""

from __future__ import annotations

import hashlib
import hmac


def derive_key(secret_key: str | bytes, purpose: str) -> bytes:
    """32 bytes for ``purpose`` (e.g. ``"outbox body v1"``): HMAC-SHA256 of the label
    under SECRET_KEY. A new SECRET_KEY gives every purpose a new key."""
    secret = secret_key.encode() if isinstance(secret_key, str) else bytes(secret_key)
    return hmac.new(secret, b"engawa key: " + purpose.encode(), hashlib.sha256).digest()
