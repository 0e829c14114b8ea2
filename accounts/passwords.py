"""What makes a password acceptable: long enough, not common, not the address, not one key.

One rule for every place a password is chosen (joining, changing it, resets),
so the answer is the same wherever a person meets it. The common-password list
ships with the project (``accounts/data/common-passwords.txt``).
"""

from __future__ import annotations

import functools
from pathlib import Path

from flask_babel import lazy_gettext as _l

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 200
COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent / "data" / "common-passwords.txt"


@functools.cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("# "))


def weak_password_reason(password: str, email: str = ""):
    """Why ``password`` may not be used (a translated message), or None when it may.

    Refused: shorter than ``MIN_PASSWORD_LENGTH`` or longer than
    ``MAX_PASSWORD_LENGTH``; one of the 10,000 most common passwords (case
    ignored); the person's own e-mail address or its local part; a single
    repeated character.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        return _l("The password must be at least %(n)d characters.", n=MIN_PASSWORD_LENGTH)
    if len(password) > MAX_PASSWORD_LENGTH:
        return _l("The password must be at most %(n)d characters.", n=MAX_PASSWORD_LENGTH)
    folded = password.casefold()
    if len(set(folded)) == 1 or not folded.strip():
        return _l("The password must not be one character repeated.")
    if folded.strip() in common_passwords():
        return _l("This password is one of the most commonly used. Please choose another.")
    email = email.strip().casefold()
    local = email.partition("@")[0]
    if email and (email in folded or (len(local) >= 4 and local in folded)):
        return _l("The password must not contain your e-mail address.")
    return None
