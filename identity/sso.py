"""Single sign-on per company: its settings, and who a verified identity signs in as.

A company admin points Engawa at the company's OpenID Connect provider (issuer URL,
client id and secret) and names the e-mail domains it covers: each is the company's
approved join domain or a subdomain of it, never a free-mail domain, and belongs to
one company only. The client secret is write-only: stored encrypted (Fernet, a key
derived from ``SECRET_KEY``), never shown back, never written to the audit log; a
form left empty keeps it.

The round trip with the provider is ``identity.sso_oidc``. Once it has verified an ID
token, ``sign_in_user`` decides who that is: an active, unlocked person of that same
company signs in; anyone else is refused; an address nobody has yet becomes an
employee of the company inside its paid seats (the first sign-in), under the
company's billing lock, so two first sign-ins cannot both take the last seat. The
provider's word is the first factor only for a company admin: ``identity.sso_views``
then asks for Engawa's own second factor, as after a password.

An account is bound to the provider's subject (the ID token's ``sub``, the provider's
stable id of the person, stored as ``User.sso_subject``) at its first single sign-on:
the employee that sign-in creates gets it at once, an existing account gets it then
(audited ``sso.user.bind``). From then on the e-mail address only finds the account;
the subject decides: a token with that account's address but another subject is
refused, so whoever can change the e-mail attribute of their own account at the
provider cannot sign in as someone else of the company ("nOAuth"). A subject already
bound to another account of the company (the person's address changed at the
provider) is refused too, with a message to ask the company admin: nothing is moved
or merged. The unique constraint on (company, subject) settles two sign-ins at once.
Refusals change nothing and log their kind only, never an address or a subject.

Services flush; the caller commits.
"""

from __future__ import annotations

import base64
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from accounts import audit
from accounts.membership import (
    domain_of,
    is_free_mail_domain,
    require_admin_of,
    valid_domain,
    valid_email,
)
from accounts.models import COMPANY_ROLES, Company, CompanySso, Role, SsoDomain, User
from accounts.recovery import unusable_password
from accounts.services import normalise_email, user_by_email
from billing.services import BillingError, check_seat_free
from core.db import get_by_id
from core.errors import RuleError
from core.extensions import db
from core.keys import derive_key
from identity.sso_http import allowed_url

log = logging.getLogger(__name__)

ENCRYPTED_PREFIX = "fernet1:"
MAX_DOMAINS = 20
MAX_SECRET_LENGTH = 1000
MAX_CLIENT_ID_LENGTH = 255
MAX_ISSUER_LENGTH = 500
PROVISIONED_BY = "sso"
_CLIENT_ID = re.compile(r"[\x21-\x7e]+")
_DOMAIN_SPLIT = re.compile(r"[\s,;]+")


class SsoError(RuleError):
    """Single sign-on refused; the message says why, for the person it refused."""


# --- the client secret, encrypted at rest -------------------------------------------


def _cipher() -> Fernet:
    key = derive_key(current_app.config["SECRET_KEY"], "sso client secret v1")
    return Fernet(base64.urlsafe_b64encode(key))


def seal_secret(secret: str) -> str:
    return ENCRYPTED_PREFIX + _cipher().encrypt(secret.encode()).decode("ascii")


def client_secret_of(sso: CompanySso) -> str:
    """The clear client secret, for the token request only. A secret that no longer
    decrypts (``SECRET_KEY`` changed) is an error the admin fixes by entering it again."""
    try:
        return _cipher().decrypt(sso.client_secret.removeprefix(ENCRYPTED_PREFIX)).decode()
    except (InvalidToken, ValueError):
        raise SsoError(
            _l(
                "Single sign-on is not set up correctly. Please ask your company admin"
                " to enter the client secret again."
            ),
            "secret_unreadable",
        ) from None


# --- settings ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SsoSettings:
    """What the admin entered. ``client_secret`` empty: keep the stored one.
    ``domains``: the addresses' domains, separated by spaces, commas or new lines."""

    issuer: str
    client_id: str
    client_secret: str
    domains: str
    enabled: bool
    mandatory: bool


def settings_of(company_id: int) -> CompanySso | None:
    """The company's SSO settings; None for none, or an id that cannot exist."""
    return get_by_id(CompanySso, company_id)


def _snapshot(sso: CompanySso | None) -> dict:
    if sso is None:
        return {}
    return {
        "issuer": sso.issuer,
        "client_id": sso.client_id,
        "domains": ", ".join(d.domain for d in sso.domains),
        "enabled": sso.enabled,
        "mandatory": sso.mandatory,
    }


def _check_issuer(issuer: str, allow_http: bool) -> str:
    issuer = issuer.strip()
    parts = urlsplit(issuer)
    if (
        not issuer
        or len(issuer) > MAX_ISSUER_LENGTH
        or not allowed_url(issuer, allow_http)
        or parts.query
    ):
        raise SsoError(
            _l(
                "Enter the issuer URL of your identity provider, starting with https://"
                " (for example https://login.example.com/tenant)."
            ),
            "issuer",
        )
    return issuer


def _check_client_id(client_id: str) -> str:
    client_id = client_id.strip()
    if len(client_id) > MAX_CLIENT_ID_LENGTH or not _CLIENT_ID.fullmatch(client_id):
        raise SsoError(
            _l("Enter the client ID your identity provider gave Engawa (no spaces)."),
            "client_id",
        )
    return client_id


def _check_domains(raw: str, company: Company) -> list[str]:
    domains = list(
        dict.fromkeys(d.lower().removesuffix(".") for d in _DOMAIN_SPLIT.split(raw) if d)
    )
    if not domains:
        raise SsoError(_l("Enter at least one e-mail domain."), "domains")
    if len(domains) > MAX_DOMAINS:
        raise SsoError(_l("Enter at most %(n)d domains.", n=MAX_DOMAINS), "domains")
    if company.email_domain_state != "approved":
        raise SsoError(
            _l(
                "Your company's e-mail domain must be approved before single sign-on"
                " can cover it. Set it on the Employees page."
            ),
            "domain_not_approved",
        )
    base = company.email_domain.lower()
    for domain in domains:
        if not valid_domain(domain):
            raise SsoError(
                _l("%(domain)s is not a valid e-mail domain.", domain=domain[:60]), "domains"
            )
        if is_free_mail_domain(domain):
            raise SsoError(
                _l("%(domain)s is a free e-mail service's domain.", domain=domain), "domains"
            )
        if domain != base and not domain.endswith("." + base):
            raise SsoError(
                _l(
                    "%(domain)s is not your company's approved domain %(base)s"
                    " or a subdomain of it.",
                    domain=domain,
                    base=base,
                ),
                "domains",
            )
    return domains


def _taken_elsewhere(domains: list[str], company_id: int) -> str | None:
    return db.session.scalar(
        select(SsoDomain.domain)
        .where(SsoDomain.domain.in_(domains), SsoDomain.company_id != company_id)
        .limit(1)
    )


def _domain_taken(domain: str) -> SsoError:
    return SsoError(
        _l("%(domain)s is already covered by another company's single sign-on.", domain=domain),
        "domain_taken",
    )


def save_settings(
    admin: User, company_id: int, values: SsoSettings, now: datetime, *, allow_http: bool
) -> CompanySso:
    """Save the company's SSO settings (creating them the first time) and audit the change.

    ``allow_http``: an http issuer is accepted (tests and local development only).
    Raises ``SsoError`` (or ``MemberError`` for anyone but this company's admin) and
    changes nothing then.
    """
    require_admin_of(admin, company_id)
    company = db.session.get(Company, company_id, with_for_update=True)
    issuer = _check_issuer(values.issuer, allow_http)
    client_id = _check_client_id(values.client_id)
    domains = _check_domains(values.domains, company)
    secret = values.client_secret.strip()
    if len(secret) > MAX_SECRET_LENGTH or (secret and not secret.isprintable()):
        raise SsoError(_l("The client secret is too long or has invalid characters."), "secret")
    if values.mandatory and not values.enabled:
        raise SsoError(
            _l("Turn single sign-on on to make it the only way to sign in."), "mandatory"
        )
    taken = _taken_elsewhere(domains, company_id)
    if taken:
        raise _domain_taken(taken)

    sso = settings_of(company_id)
    before = _snapshot(sso)
    if sso is None:
        if not secret:
            raise SsoError(_l("Enter the client secret."), "secret")
        sso = CompanySso(company_id=company_id)
        db.session.add(sso)
    sso.issuer, sso.client_id = issuer, client_id
    sso.enabled, sso.mandatory = values.enabled, values.mandatory
    sso.updated_at = now
    if secret:
        sso.client_secret = seal_secret(secret)
    keep = {d.domain: d for d in sso.domains if d.domain in domains}
    sso.domains = [keep.get(d) or SsoDomain(domain=d) for d in domains]
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise _domain_taken(domains[0]) from None  # another company took one a moment ago
    old, new = audit.diff(before, _snapshot(sso))
    if secret:
        new["client_secret_replaced"] = True  # that it changed, never what it is
    if old or new:
        audit.record(
            "sso.update",
            now,
            actor=admin,
            object_type="company_sso",
            object_id=company_id,
            company_id=company_id,
            before=old,
            after=new,
        )
    db.session.flush()
    return sso


# --- who a verified identity is ---------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """What the provider vouched for in a valid ID token. ``subject``: its ``sub``, the
    provider's stable id of the person (non-empty, at most 255 characters)."""

    email: str
    name: str
    subject: str


def _refused(code: str) -> SsoError:
    messages = {
        "not_covered": _l(
            "Your e-mail address is not one your company signs in with through its"
            " identity provider. Please ask your company admin."
        ),
        "not_this_company": _l(
            "This account cannot sign in through your company's identity provider."
            " Please sign in with your password."
        ),
        "inactive": _l("Your account is deactivated or locked. Please ask your company admin."),
        "company_inactive": _l("Your company's Engawa account is not active."),
        "not_available": _l("Single sign-on is not available for your company."),
        "subject_mismatch": _l(
            "The Engawa account with this e-mail address belongs to another person at"
            " your company's identity provider, so you cannot sign in to it. Please ask"
            " your company admin."
        ),
        "subject_taken": _l(
            "Your identity provider's account already signs in to another Engawa account"
            " of your company (perhaps your e-mail address changed). Please ask your"
            " company admin."
        ),
    }
    if code in ("subject_mismatch", "subject_taken"):
        log.warning("single sign-on refused: %s", code)  # the kind only, never who
    return SsoError(messages[code], code)


def sign_in_user(company_id: int, identity: Identity, now: datetime) -> User:
    """The person ``identity`` signs in as, created as an employee on their first sign-in.

    The account is bound to ``identity.subject`` on its first single sign-on; a bound
    account signs in only with that subject.

    Raises ``SsoError``: the address is not at one of the company's SSO domains, the
    account belongs to another company or role, is deactivated or locked, the company
    is deactivated or its SSO off, every paid seat is taken (a first sign-in), the
    account is bound to another subject (``subject_mismatch``), or the subject is bound
    to another account of the company (``subject_taken``). Nothing is written then.
    """
    sso = settings_of(company_id)
    if sso is None or not sso.enabled:
        raise _refused("not_available")
    if not sso.company.active:
        raise _refused("company_inactive")
    email = normalise_email(identity.email)
    if not valid_email(email) or domain_of(email) not in {d.domain for d in sso.domains}:
        raise _refused("not_covered")
    user = user_by_email(email)
    if user is None:
        if _bound_elsewhere(company_id, identity.subject, None):
            raise _refused("subject_taken")
        user = _first_sign_in(sso.company, email, identity, now)
    if user.company_id != company_id or user.role not in COMPANY_ROLES:
        raise _refused("not_this_company")
    if not user.active or user.locked_at is not None:
        raise _refused("inactive")
    if user.sso_subject is None:
        _bind(user, identity.subject, now)
    if user.sso_subject != identity.subject:
        raise _refused("subject_mismatch")
    return user


def _bound_elsewhere(company_id: int, subject: str, user_id: int | None) -> bool:
    """Whether another account of the company (not ``user_id``) is bound to ``subject``."""
    query = select(User.id).where(User.company_id == company_id, User.sso_subject == subject)
    if user_id is not None:
        query = query.where(User.id != user_id)
    return db.session.scalar(query.limit(1)) is not None


def _bind(user: User, subject: str, now: datetime) -> None:
    """Bind ``user`` (no subject yet) to ``subject``, unless another account of the
    company has it. Only a row still unbound is written, so of two first sign-ins at
    once with different subjects one binds and the other finds the account bound."""
    if _bound_elsewhere(user.company_id, subject, user.id):
        raise _refused("subject_taken")
    try:
        with db.session.begin_nested():
            bound = db.session.execute(
                update(User)
                .where(User.id == user.id, User.sso_subject.is_(None))
                .values(sso_subject=subject)
                .execution_options(synchronize_session=False)
            ).rowcount
    except IntegrityError:
        # Another account of the company was bound to it a moment ago.
        raise _refused("subject_taken") from None
    db.session.refresh(user, ["sso_subject"])
    if not bound:
        return  # bound a moment ago by another sign-in: the caller compares
    audit.record(
        "sso.user.bind",
        now,
        actor=user,
        object_type="user",
        object_id=user.id,
        company_id=user.company_id,
        after={"sso_subject": subject},
    )
    db.session.flush()


def _display_name(identity: Identity, email: str) -> str:
    name = " ".join(identity.name.split())[:200]
    return name or email.partition("@")[0][:200]


def _first_sign_in(company: Company, email: str, identity: Identity, now: datetime) -> User:
    try:
        check_seat_free(company.id)
    except BillingError:
        raise SsoError(
            _l(
                "Your company has no free seat for a new person. Please ask your company"
                " admin to add seats, then sign in again."
            ),
            "seats_full",
        ) from None
    user = User(
        email=email,
        name=_display_name(identity, email),
        password_hash=unusable_password(),
        role=Role.EMPLOYEE,
        company_id=company.id,
        created_at=now,
        provisioned_by=PROVISIONED_BY,
        sso_subject=identity.subject,
    )
    try:
        with db.session.begin_nested():
            db.session.add(user)
            db.session.flush()
    except IntegrityError:
        # The same person's other tab signed in a moment ago: that account it is (the
        # caller still compares its subject). No account with the address: the subject
        # was bound to another account of the company a moment ago.
        existing = user_by_email(email)
        if existing is None:
            raise _refused("subject_taken") from None
        return existing
    audit.record(
        "sso.user.create",
        now,
        actor=user,
        object_type="user",
        object_id=user.id,
        company_id=company.id,
        after={
            "email": email,
            "role": Role.EMPLOYEE.value,
            "provisioned_by": PROVISIONED_BY,
            "sso_subject": identity.subject,
        },
    )
    db.session.flush()
    return user
