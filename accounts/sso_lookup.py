"""Which company's identity provider an e-mail address signs in through, if any.

The sign-in page asks this before any password is checked: an address at a domain a
company has put under single sign-on, with no password typed, is sent to that
company's provider; when the company made SSO mandatory, a right password is refused
for that company's own people only. Knowing a domain's SSO tells
nothing about whether an address has an account.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from accounts.membership import domain_of
from accounts.models import Company, CompanySso, SsoDomain
from core.extensions import db


@dataclass(frozen=True)
class SsoRoute:
    company_id: int
    mandatory: bool


def sso_for_email(email: str) -> SsoRoute | None:
    """The SSO of the company covering ``email``'s domain, when it is on and the company
    is active; else None (password sign-in as usual)."""
    email = email.strip().casefold()
    domain = domain_of(email)
    if "@" not in email or not domain:
        return None
    row = db.session.execute(
        select(CompanySso.company_id, CompanySso.mandatory)
        .join(SsoDomain, SsoDomain.company_id == CompanySso.company_id)
        .join(Company, Company.id == CompanySso.company_id)
        .where(SsoDomain.domain == domain, CompanySso.enabled.is_(True), Company.active.is_(True))
    ).first()
    return SsoRoute(row.company_id, row.mandatory) if row else None
