"""SCIM 2.0 provisioning: a company's directory keeps its people in Engawa.

A company has at most one live SCIM token (``ScimToken``: only its SHA-256 is kept;
rotating revokes the old one). The token reaches that company's people only, its
employees and company admins: anyone else's id is not found. A person the directory
creates is an employee inside the paid seats (checked under the company's billing
lock, as ``identity.members.accept`` does), with no usable password: they sign in
through the company's single sign-on or choose a password by "forgot password".
A userName (on create, PUT and PATCH) must be an address at one of the company's own
domains: its join domain once Engawa has approved it, or a subdomain of it, or one of
its single sign-on domains. Anything else is refused (400 ``invalidValue``), before
any lookup, so a token cannot ask whether an address elsewhere has an account, nor
move a person (a company admin included) to an address outside the company, where a
"forgot password" mail would then go. A company with no approved join domain and no
SSO domain therefore cannot provision anyone: its admin sets the join domain on the
company console's Employees page and Engawa approves it. Where another company holds
a more specific domain (its approved join domain or SSO domain is a subdomain of this
company's), the most specific holder owns the addresses there.
Deactivation is the company console's own (``members.deactivate``: sessions and
tokens end, stays not yet begun are cancelled and refunded); DELETE deactivates too,
so nothing is lost. Every change is one audit entry (actor ``scim``).
The HR facts a request names (``userType`` and the enterprise extension) are set by
``hr.people.set_hr_facts`` in the same transaction, with its checks: a manager is an
active person of the same company given by their id (any other id is refused alike, so
a token cannot ask whether an id exists elsewhere), never the person or anyone below
them; an employee number taken in the company is a 409 ``uniqueness``. Recorded as
``hr.facts`` (actor ``scim``).

Services flush; the caller commits. Lock order as in ``identity.members``: the
company row, then the person's row, then the company's billing account.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from accounts import audit
from accounts.membership import MemberError, domain_of
from accounts.models import COMPANY_ROLES, Company, Role, SsoDomain, User
from accounts.recovery import unusable_password
from accounts.services import token_digest, user_by_email
from billing.services import BillingError, check_seat_free
from core.db import in_id_range
from core.extensions import db
from hr.people import HrError, HrNotFound, set_hr_facts
from identity import members
from identity.models import ScimToken
from identity.scim_input import MAX_NAME, UNSET, UserChanges
from identity.scim_schema import ScimError

log = logging.getLogger(__name__)

TOKEN_PREFIX = "scim_"  # noqa: S105 (a label, not a secret)
SHOWN_PREFIX = len(TOKEN_PREFIX) + 6  # what the console shows of a token
MAX_TOKEN_LENGTH = 100  # "scim_" + token_urlsafe(32) is 48 characters
PROVISIONED_BY = "scim"
# Record a token's use at most this often, so reads do not write every time.
LAST_USED_EVERY = timedelta(minutes=1)

SEATS_FULL = (
    "Every paid seat of the company is in use: its admin adds seats on the billing page"
    " before more people can be provisioned."
)

MANAGER_UNKNOWN = (
    "The manager must be the id of an active person of the same company (an employee or"
    " a company admin): provision the manager first."
)
# What an HR refusal says to the directory, by ``HrError.code``.
HR_REFUSALS = {
    "manager_unknown": MANAGER_UNKNOWN,
    "manager_self": "A person cannot be their own manager.",
    "manager_cycle": (
        "This manager reports to this person already (directly or through others):"
        " managers cannot form a loop."
    ),
    "manager_chain": "This manager's chain of managers is too long.",
}
# The SCIM attribute of each HR fact (``HrError.field``).
SCIM_NAMES = {
    "employee_number": "employeeNumber",
    "department": "department",
    "employee_group": "userType",
    "manager_id": "manager",
}

NOT_OWN_DOMAIN = (
    "The userName must be an address at the company's own domain: its join domain"
    " approved by Engawa (or a subdomain of it) or one of its single sign-on domains."
    " A company admin sets the join domain on the Employees page of the company console;"
    " Engawa approves it."
)


# --- Tokens ---------------------------------------------------------------------------


def live_token(company_id: int) -> ScimToken | None:
    return db.session.scalar(
        select(ScimToken)
        .where(ScimToken.company_id == company_id, ScimToken.revoked_at.is_(None))
        .order_by(ScimToken.id.desc())
        .limit(1)
    )


def _lock_company(company_id: int) -> None:
    db.session.execute(select(Company.id).where(Company.id == company_id).with_for_update())


def rotate_token(
    company_id: int,
    now: datetime,
    *,
    actor: User | None,
    actor_kind: str | None = None,
    made_for: User | None = None,
) -> tuple[ScimToken, str]:
    """A new token for the company, revoking the live one; the secret is returned once.

    ``made_for``: the admin a command made it for (``created_by``), when no person acted.
    The company row is locked, so two rotations at once leave one live token."""
    _lock_company(company_id)
    revoked = db.session.execute(
        update(ScimToken)
        .where(ScimToken.company_id == company_id, ScimToken.revoked_at.is_(None))
        .values(revoked_at=now)
    ).rowcount
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    creator = actor or made_for
    token = ScimToken(
        company_id=company_id,
        token_hash=token_digest(secret),
        prefix=secret[:SHOWN_PREFIX],
        created_at=now,
        created_by_id=creator.id if creator is not None else None,
    )
    db.session.add(token)
    db.session.flush()
    audit.record(
        "scim.token.rotate" if revoked else "scim.token.create",
        now,
        actor=actor,
        actor_kind=actor_kind,
        object_type="scim_token",
        object_id=token.id,
        company_id=company_id,
        after={"prefix": token.prefix},
    )
    return token, secret


def revoke_token(
    company_id: int, now: datetime, *, actor: User | None, actor_kind: str | None = None
) -> ScimToken | None:
    """Revoke the company's live token (provisioning stops); None when there is none."""
    _lock_company(company_id)
    token = live_token(company_id)
    if token is None:
        return None
    token.revoked_at = now
    db.session.flush()
    audit.record(
        "scim.token.revoke",
        now,
        actor=actor,
        actor_kind=actor_kind,
        object_type="scim_token",
        object_id=token.id,
        company_id=company_id,
        before={"prefix": token.prefix},
    )
    return token


def company_for_token(secret: str, now: datetime) -> int | None:
    """The id of the active company whose live token this is, else None."""
    if not isinstance(secret, str) or not secret or len(secret) > MAX_TOKEN_LENGTH:
        return None
    token = db.session.scalar(
        select(ScimToken)
        .join(Company, Company.id == ScimToken.company_id)
        .where(
            ScimToken.token_hash == token_digest(secret),
            ScimToken.revoked_at.is_(None),
            Company.active,
        )
    )
    if token is None:
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY:
        token.last_used_at = now
    return token.company_id


# --- Users ----------------------------------------------------------------------------


def _snapshot(user: User) -> dict[str, Any]:
    return {"userName": user.email, "name": user.name, "externalId": user.external_id}


def _record(action: str, user: User, now: datetime, before=None, after=None) -> None:
    audit.record(
        action,
        now,
        actor_kind=audit.ACTOR_SCIM,
        object_type="user",
        object_id=user.id,
        company_id=user.company_id,
        before=before,
        after=after,
    )


def _taken(what: str) -> ScimError:
    return ScimError(409, f"{what} is already in use.", "uniqueness")


def _seats_full() -> ScimError:
    return ScimError(409, SEATS_FULL)


def _name(name: str | None) -> str | None:
    if name is not None and len(name) > MAX_NAME:
        raise ScimError(400, f"The name is at most {MAX_NAME} characters.", "invalidValue")
    return name


def _suffixes(domain: str) -> list[str]:
    """``a.b.example``, ``b.example``, ``example``: the domain and every domain above it."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


def _owner_of_domain(domain: str) -> set[int]:
    """The companies holding the most specific claim on ``domain``: an approved join
    domain equal to it or above it, or an SSO domain equal to it. Usually one or none."""
    suffixes = _suffixes(domain.lower())
    join_domains = db.session.execute(
        select(func.lower(Company.email_domain), Company.id).where(
            func.lower(Company.email_domain).in_(suffixes),
            Company.email_domain_approved_at.is_not(None),
        )
    ).all()
    sso_domains = db.session.execute(
        select(SsoDomain.domain, SsoDomain.company_id).where(
            SsoDomain.domain == suffixes[0]  # stored in lower case
        )
    ).all()
    claims = [*join_domains, *sso_domains]
    if not claims:
        return set()
    longest = max(len(claimed) for claimed, _company in claims)
    return {company for claimed, company in claims if len(claimed) == longest}


def _require_own_domain(company_id: int, email: str) -> None:
    """Refuse (400) an address outside the company's own domains, before anything is
    looked up about it."""
    if _owner_of_domain(domain_of(email)) != {company_id}:
        raise ScimError(400, NOT_OWN_DOMAIN, "invalidValue")


def _external_id_holder(company_id: int, external_id: str) -> int | None:
    return db.session.scalar(
        select(User.id).where(User.company_id == company_id, User.external_id == external_id)
    )


def create_user(company_id: int, changes: UserChanges, now: datetime) -> User:
    """A new employee of the company, inside the paid seats (unless created inactive).

    Raises ``ScimError``: 400 for an address outside the company's domains or a wrong
    HR fact; 409 when the address, externalId or employee number is taken or every
    seat is used."""
    email = changes.user_name
    _require_own_domain(company_id, email)
    _lock_company(company_id)  # first, as ``update_user`` and ``hr.people`` lock it
    # The address is at the company's own, verified domain, so saying it is taken (by
    # anyone, another company's person included) tells the company nothing beyond its
    # own domain's addresses; an address elsewhere never gets this far.
    if user_by_email(email) is not None:
        raise _taken("userName")
    external_id = None if changes.external_id is UNSET else changes.external_id
    if external_id is not None and _external_id_holder(company_id, external_id) is not None:
        raise _taken("externalId")
    active = True if changes.active is None else changes.active
    if active:
        try:
            check_seat_free(company_id)  # locks the billing account, then counts
        except BillingError:
            raise _seats_full() from None
    user = User(
        email=email,
        name=_name(changes.new_name(None)) or email[:MAX_NAME],
        password_hash=unusable_password(),
        role=Role.EMPLOYEE,
        company_id=company_id,
        active=active,
        external_id=external_id,
        provisioned_by=PROVISIONED_BY,
        created_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(user)
            db.session.flush()
    except IntegrityError:
        raise _taken("userName or externalId") from None  # created a moment ago
    _record("scim.user.create", user, now, after={**_snapshot(user), "active": user.active})
    _set_hr_facts(company_id, user, changes, now)
    return user


def _manager_id(raw: str | None) -> int | None:
    """The manager's id as a number, None for none; an id that cannot be one of the
    company's people is refused as any other id of no active person there is."""
    if raw is None:
        return None
    ident = _parse_id(raw)
    if ident is None:
        raise ScimError(400, MANAGER_UNKNOWN, "invalidValue")
    return ident


def _set_hr_facts(company_id: int, user: User, changes: UserChanges, now: datetime) -> None:
    """The HR facts ``changes`` names, the others kept, through ``hr.people``'s checks.
    ``user`` is flushed (``set_hr_facts`` reloads it from the database)."""
    if not changes.hr_given():
        return

    def fact(name: str, current):
        value = getattr(changes, name)
        return current if value is UNSET else value

    manager_id = user.manager_id if changes.manager is UNSET else _manager_id(changes.manager)
    try:
        set_hr_facts(
            company_id,
            user.id,
            employee_number=fact("employee_number", user.employee_number),
            department=fact("department", user.department),
            employee_group=fact("employee_group", user.employee_group),
            manager_id=manager_id,
            actor_id=None,
            now=now,
            actor_kind=audit.ACTOR_SCIM,
        )
    except HrNotFound:
        raise _not_found() from None
    except HrError as exc:
        raise _hr_refused(exc) from None


def _hr_refused(exc: HrError) -> ScimError:
    if exc.code == "employee_number_taken":
        return _taken("employeeNumber")
    attribute = SCIM_NAMES.get(exc.field or "", "an HR attribute")
    detail = HR_REFUSALS.get(exc.code or "", f"The value of {attribute} is refused.")
    return ScimError(400, detail, "invalidValue")


def _parse_id(user_id: str) -> int | None:
    if not (isinstance(user_id, str) and user_id.isascii() and user_id.isdigit()):
        return None
    if len(user_id) > 10 or not in_id_range(int(user_id)):
        return None
    return int(user_id)


def user_of(company_id: int, user_id: str, *, lock: bool = False) -> User:
    """One of the company's people by the id in the URL; anyone else is not found (404)."""
    ident = _parse_id(user_id)
    if ident is None:
        raise _not_found()
    query = select(User).where(
        User.id == ident, User.company_id == company_id, User.role.in_(COMPANY_ROLES)
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    user = db.session.scalar(query)
    if user is None:
        raise _not_found()
    return user


def _not_found() -> ScimError:
    return ScimError(404, "No such user.")


def list_users(
    company_id: int, where: tuple[str, str] | None, start_index: int, count: int
) -> tuple[int, list[User]]:
    """(totalResults, the page) of the company's people, oldest first, filtered by
    ``("username" | "externalid", value)``; ``start_index`` is 1-based."""
    query = select(User).where(User.company_id == company_id, User.role.in_(COMPANY_ROLES))
    if where is not None:
        attribute, value = where
        if attribute == "username":  # userName is case-insensitive (caseExact false)
            query = query.where(User.email == value.strip().lower())
        else:
            query = query.where(User.external_id == value)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    page = db.session.scalars(query.order_by(User.id).offset(start_index - 1).limit(count))
    return total, list(page)


def last_modified(users: list[User]) -> dict[int, datetime]:
    """When each person last changed, by the audit log (User keeps no such column)."""
    if not users:
        return {}
    rows = db.session.execute(
        select(audit.AuditEntry.object_id, func.max(audit.AuditEntry.created_at))
        .where(
            audit.AuditEntry.object_type == "user",
            audit.AuditEntry.object_id.in_([u.id for u in users]),
        )
        .group_by(audit.AuditEntry.object_id)
    ).all()
    return {object_id: when for object_id, when in rows}


def update_user(company_id: int, user_id: str, changes: UserChanges, now: datetime) -> User:
    """Apply a PUT or PATCH: what ``changes`` names changes, the rest stays (an HR fact
    a PUT leaves out is kept, RFC 7644 §3.5.1).

    Attributes first, then the HR facts, then ``active``: false deactivates exactly as
    the console does (even when the HR facts are refused), true reactivates if a paid
    seat is free. Raises ``ScimError`` (404, 409, 400)."""
    _lock_company(company_id)
    user = user_of(company_id, user_id, lock=True)
    before = _snapshot(user)
    if changes.user_name is not None and changes.user_name != user.email:
        # Only to the company's own domains (a company admin's address too: a reset
        # link must never be mailed outside the company); then a 409 for a taken
        # address tells nothing beyond the company's own domain, as in create_user.
        _require_own_domain(company_id, changes.user_name)
        if user_by_email(changes.user_name) is not None:
            raise _taken("userName")
        user.email = changes.user_name
    if changes.external_id is not UNSET and changes.external_id != user.external_id:
        holder = changes.external_id and _external_id_holder(company_id, changes.external_id)
        if holder and holder != user.id:
            raise _taken("externalId")
        user.external_id = changes.external_id
    name = _name(changes.new_name(user.name))
    if name:
        user.name = name
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise _taken("userName or externalId") from None
    changed_before, changed_after = audit.diff(before, _snapshot(user))
    if changed_after:
        _record("scim.user.update", user, now, changed_before, changed_after)
    if changes.active is False:
        # A leaver is deactivated whatever their HR facts say: a manager Engawa cannot
        # resolve (not provisioned, another system's id) must not keep them signed in.
        try:
            with db.session.begin_nested():
                _set_hr_facts(company_id, user, changes, now)
        except ScimError as exc:
            log.info("scim: HR facts of a deactivated user not applied (%s)", exc.status)
        deactivate_user(company_id, user, now)
        return user
    _set_hr_facts(company_id, user, changes, now)
    if changes.active is True:
        reactivate_user(company_id, user, now)
    return user


def deactivate_user(company_id: int, user: User, now: datetime) -> None:
    """``members.deactivate``, recorded; the last active admin is refused."""
    if not user.active:
        return
    try:
        cancelled = members.deactivate(company_id, user.id, now)
    except MemberError as exc:
        if exc.code == "last_admin":
            raise ScimError(
                400,
                "This person is the company's last active admin and cannot be deactivated.",
                "mutability",
            ) from None
        raise
    _record(
        "scim.user.deactivate",
        user,
        now,
        before={"active": True},
        after={"active": False, "stays_cancelled": cancelled},
    )


def reactivate_user(company_id: int, user: User, now: datetime) -> None:
    if user.active:
        return
    try:
        members.reactivate(company_id, user.id)
    except BillingError:
        raise _seats_full() from None
    _record("scim.user.reactivate", user, now, before={"active": False}, after={"active": True})


def delete_user(company_id: int, user_id: str, now: datetime) -> User:
    """DELETE deactivates: the person, their bookings and history all stay."""
    _lock_company(company_id)
    user = user_of(company_id, user_id, lock=True)
    deactivate_user(company_id, user, now)
    return user
