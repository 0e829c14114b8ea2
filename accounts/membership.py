"""Who belongs to a company: the errors of member rules, address and domain checks,
and the company-admin check every member action starts with."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l

from accounts.domains import FREE_MAIL_DOMAINS
from accounts.models import Role, User
from core.errors import RuleError

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
DOMAIN_RE = re.compile(rf"(?:{_LABEL}\.)+[a-z]{{2,63}}", re.ASCII)
LOCAL_PART_RE = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


class MemberError(RuleError):
    """A rule about a company's members refused the request; the message says why."""


class MemberNotFound(MemberError):
    """No such member or invitation in this company (another company's is not found either)."""

    code = "not_found"


class InvitationInvalid(MemberError):
    """The link is unknown, used, revoked or expired."""

    code = "invalid_invitation"

    def __init__(self):
        super().__init__(
            _l(
                "This invitation link is invalid or has expired."
                " Ask your company admin for a new one."
            )
        )


def valid_email(email: str) -> bool:
    """A plain address: ASCII local part, a real-looking domain, at most 254 characters."""
    local, sep, domain = email.rpartition("@")
    return (
        bool(sep)
        and len(email) <= 254
        and len(local) <= 64
        and LOCAL_PART_RE.fullmatch(local) is not None
        and valid_domain(domain)
    )


def valid_domain(domain: str) -> bool:
    return len(domain) <= 253 and DOMAIN_RE.fullmatch(domain) is not None


def domain_of(email: str) -> str:
    return email.rpartition("@")[2]


def is_free_mail_domain(domain: str) -> bool:
    """Whether ``domain`` or a domain above it is on the free-mail list."""
    labels = domain.lower().removesuffix(".").split(".")
    return any(".".join(labels[i:]) in FREE_MAIL_DOMAINS for i in range(len(labels) - 1))


def require_admin_of(user: User, company_id: int) -> None:
    if user.role != Role.COMPANY_ADMIN or user.company_id != company_id or not user.active:
        raise MemberError(_l("Only this company's admins can do that."), "forbidden")
