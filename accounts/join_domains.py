"""A company's join domain: the company admin sets it, the platform admin approves or
rejects it (``members.request_domain_join`` sends the join links once it is approved).

Services flush; the caller commits.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from accounts.membership import (
    MemberError,
    MemberNotFound,
    domain_of,
    is_free_mail_domain,
    require_admin_of,
    valid_domain,
)
from accounts.models import Company, Invitation, User
from accounts.services import normalise_email
from core.db import in_id_range, utcnow
from core.extensions import db

# --- Setting the join domain --------------------------------------------------------------


def normalise_domain(domain: str) -> str:
    return domain.strip().lower().removeprefix("@").removesuffix(".")


def _revoke_domain_links(company_id: int, now: datetime) -> None:
    """Join links sent for the old domain stop working when the domain changes."""
    db.session.execute(
        update(Invitation)
        .where(
            Invitation.company_id == company_id,
            Invitation.kind == "domain",
            Invitation.used_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )


def set_email_domain(
    company_id: int, domain: str, admin: User, now: datetime | None = None
) -> Company:
    """Ask for staff with an address at ``domain`` to join the company by themselves.

    The domain counts as verified because the admin setting it has an address there
    (and signed in with it): an admin can only open joining for the domain they are
    at. Free-mail domains and their subdomains are refused (owning an address there
    proves nothing), as is a domain another company uses or waits for. A new domain
    then waits for the platform admin's approval (``review_email_domain``): no join
    link is sent before. Saving the same domain again changes nothing (a rejected one
    stays rejected); an empty value turns domain joining off.
    """
    require_admin_of(admin, company_id)
    company = db.session.get(Company, company_id, with_for_update=True)
    domain = normalise_domain(domain)
    if domain == (company.email_domain or ""):
        return company
    if not domain:
        _revoke_domain_links(company_id, now or utcnow())
        _set_domain(company, None)
        return company
    if not valid_domain(domain):
        raise MemberError(_l("Please enter a domain such as example.co.jp."), "invalid_domain")
    if domain != domain_of(normalise_email(admin.email)):
        raise MemberError(
            _l("You can only enable the domain of your own e-mail address."), "not_your_domain"
        )
    if is_free_mail_domain(domain):
        raise MemberError(
            _l("Anyone can get an address at this domain, so it cannot be used for joining."),
            "free_mail",
        )
    if _domain_used_elsewhere(domain, company_id):
        raise MemberError(_l("Another company already uses this domain."), "domain_taken")
    _revoke_domain_links(company_id, now or utcnow())
    _set_domain(company, domain)
    return company


def _set_domain(company: Company, domain: str | None) -> None:
    company.email_domain = domain
    company.email_domain_approved_at = None
    company.email_domain_rejected_at = None
    db.session.flush()


def _domain_used_elsewhere(domain: str, company_id: int, *, approved_only: bool = False) -> bool:
    """Whether another company has ``domain`` approved or (unless ``approved_only``)
    waiting for approval; a rejected one does not hold the domain."""
    query = select(Company.id).where(
        func.lower(Company.email_domain) == domain,
        Company.id != company_id,
        Company.email_domain_rejected_at.is_(None),
    )
    if approved_only:
        query = query.where(Company.email_domain_approved_at.is_not(None))
    return db.session.scalar(query.limit(1)) is not None


# --- The platform admin's approval of join domains ------------------------------------


class DomainReviewError(MemberError):
    """The domain changed (or was reviewed) since the page was shown, or cannot be approved."""


def domains_for_review() -> tuple[list[Company], list[Company]]:
    """(waiting for approval, approved): companies with a join domain, oldest first."""
    with_domain = select(Company).where(
        Company.email_domain.is_not(None), Company.email_domain_rejected_at.is_(None)
    )
    waiting = db.session.scalars(
        with_domain.where(Company.email_domain_approved_at.is_(None)).order_by(Company.id)
    )
    approved = db.session.scalars(
        with_domain.where(Company.email_domain_approved_at.is_not(None)).order_by(
            Company.email_domain
        )
    )
    return list(waiting), list(approved)


def review_email_domain(
    company_id: int, domain: str, approve: bool, reviewer: User, now: datetime
) -> Company:
    """The platform admin approves a company's join domain, or rejects it.

    ``domain`` is the one the reviewer saw: if the company changed it meanwhile, or it
    was already decided that way, nothing changes (``DomainReviewError``). Approval is
    refused for a free-mail domain and for a domain another company has approved.
    Rejecting (also an approved domain, to withdraw it) ends the join links already
    sent; the company sees the decision and may ask for another domain.
    """
    if not reviewer.is_platform_admin or not reviewer.active:
        raise MemberError(_l("Only the platform admin can do that."), "forbidden")
    company = (
        db.session.get(Company, company_id, with_for_update=True, populate_existing=True)
        if in_id_range(company_id)
        else None
    )
    if company is None:
        raise MemberNotFound(_l("No such company."))
    domain = normalise_domain(domain)
    decided = company.email_domain_approved_at if approve else company.email_domain_rejected_at
    if not domain or company.email_domain != domain or decided is not None:
        raise DomainReviewError(
            _l("The company's domain changed since the page was shown; nothing was changed."),
            "changed",
        )
    if approve:
        if is_free_mail_domain(domain):
            raise DomainReviewError(
                _l("Anyone can get an address at this domain, so it cannot be used for joining."),
                "free_mail",
            )
        if _domain_used_elsewhere(domain, company_id, approved_only=True):
            raise DomainReviewError(_l("Another company already uses this domain."), "domain_taken")
        company.email_domain_approved_at, company.email_domain_rejected_at = now, None
    else:
        _revoke_domain_links(company_id, now)
        company.email_domain_approved_at, company.email_domain_rejected_at = None, now
    db.session.flush()
    return company
