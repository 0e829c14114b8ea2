"""Organisations made and managed by the platform admin or a script: companies and
operator organisations with their first admin, deactivating a company, suspending an
operator, and reviewing a facility before it is listed.

A new organisation's first admin has no password yet: they choose one through a
one-time set-password link (``accounts.recovery``), mailed to them and returned once
for the console or the script to show. Every action records one audit entry in the
same transaction as the change. Services flush; the caller commits, except that
starting a subscription goes through ``billing.flows``, which commits by design.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from accounts import audit
from accounts.membership import valid_email
from accounts.models import ApiToken, Company, OperatorKind, OperatorOrg, Role, User, UserSession
from accounts.recovery import send_set_password_link, unusable_password
from accounts.services import normalise_email, user_by_email
from billing import flows
from billing.models import BillingAccount, Plan
from billing.services import BillingError, price_id_of
from billing.settings import BillingSettings
from core.db import in_id_range
from core.errors import RuleError
from core.extensions import db
from facilities.models import Facility

MAX_NAME = 200
MAX_SEATS = 100_000


class OrgError(RuleError):
    """The platform admin's or the script's request was refused; the message says why."""


class OrgNotFound(OrgError):
    """No such company, operator organisation or facility (the view answers 404)."""

    code = "not_found"


@dataclass(frozen=True)
class Created:
    """A new organisation and its first admin. ``link_path`` (``/password/set/…``) is
    the admin's one-time link, shown once; ``billing_error`` says why the subscription
    asked for could not be started (the organisation exists all the same)."""

    org_id: int
    org_name: str
    admin_id: int
    admin_email: str
    link_path: str
    subscribed: bool = False
    billing_error: str | None = None


def _actor_kind(actor: User | None, actor_kind: str | None) -> str | None:
    return actor_kind or ("user" if actor is not None else None)


def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name or len(name) > MAX_NAME:
        raise OrgError(
            _l("Please enter the organisation's name (up to %(n)d characters).", n=MAX_NAME),
            "name",
        )
    return name


def _free_email(email: str) -> str:
    email = normalise_email(email or "")
    if not valid_email(email):
        raise OrgError(_l("Please enter a valid e-mail address for the admin."), "invalid_email")
    if user_by_email(email) is not None:
        raise _taken()
    return email


def _taken() -> OrgError:
    return OrgError(
        _l("This e-mail address already has an Engawa account: choose another admin address."),
        "taken",
    )


def _admin_name(admin_name: str, email: str) -> str:
    name = " ".join((admin_name or "").split())
    if len(name) > MAX_NAME:
        raise OrgError(_l("The admin's name is too long."), "admin_name")
    return name or email.partition("@")[0]


def _add_admin(user: User) -> User:
    """Insert the admin; an address taken a moment ago by someone else is refused."""
    try:
        with db.session.begin_nested():
            db.session.add(user)
            db.session.flush()
    except IntegrityError:
        raise _taken() from None
    return user


def _plan_for(plan_code: str | None, seats: int | None, settings: BillingSettings | None) -> Plan:
    """The plan a new company subscribes to, checked before anything is made."""
    if not plan_code:
        raise OrgError(_l("Please choose a plan for the seats."), "plan")
    plan = db.session.scalar(select(Plan).where(Plan.code == plan_code, Plan.active))
    if plan is None:
        raise OrgError(_l("There is no plan %(code)s on offer.", code=plan_code), "plan")
    if seats is None or seats < 1 or seats > MAX_SEATS:
        raise OrgError(_l("Seats must be a number from 1 to %(n)d.", n=MAX_SEATS), "seats")
    if settings is None:
        raise ValueError("a subscription needs the billing settings")
    try:
        price_id_of(plan, settings.backend, settings.price_ids)
    except BillingError as exc:
        raise OrgError(exc.message, "plan_price") from None
    return plan


def create_company(
    name: str,
    admin_email: str,
    now: datetime,
    *,
    actor: User | None = None,
    actor_kind: str | None = None,
    admin_name: str = "",
    plan_code: str | None = None,
    seats: int | None = None,
    settings: BillingSettings | None = None,
) -> Created:
    """A company, its billing account and its first admin, who is sent a set-password
    link; with ``plan_code`` and ``seats``, its subscription started, paid by invoice.

    Refused (nothing made) for an empty or too long name, an invalid admin address,
    an address that already has an account, an unknown plan or fewer than one seat.
    Without a plan this only flushes. With one, the company is committed before the
    payment provider is asked (``billing.flows.subscribe``); should the provider
    refuse, the company and its admin stay and ``billing_error`` says why, so the
    admin can subscribe from the company console."""
    name = _clean_name(name)
    email = _free_email(admin_email)
    person = _admin_name(admin_name, email)
    plan = _plan_for(plan_code, seats, settings) if (plan_code or seats is not None) else None
    company = Company(name=name, created_at=now)
    db.session.add(company)
    db.session.flush()
    # The admin's address receives the invoices until they change it.
    db.session.add(BillingAccount(company_id=company.id, billing_name=name, billing_email=email))
    admin = _add_admin(
        User(
            email=email,
            name=person,
            password_hash=unusable_password(),
            role=Role.COMPANY_ADMIN,
            company_id=company.id,
            created_at=now,
        )
    )
    link = send_set_password_link(admin, name, now)
    audit.record(
        "company.create",
        now,
        actor=actor,
        actor_kind=_actor_kind(actor, actor_kind),
        object_type="company",
        object_id=company.id,
        company_id=company.id,
        after={"name": name, "admin_id": admin.id},
    )
    db.session.flush()
    created = Created(company.id, name, admin.id, email, link)
    if plan is None:
        return created
    return _subscribe(
        created, plan, seats, now, actor=actor, actor_kind=actor_kind, settings=settings
    )


def _subscribe(
    created: Created,
    plan: Plan,
    seats: int,
    now: datetime,
    *,
    actor: User | None,
    actor_kind: str | None,
    settings: BillingSettings,
) -> Created:
    plan_id, plan_code = plan.id, plan.code
    try:
        flows.subscribe(
            created.org_id,
            created.admin_id,
            plan_id,
            seats,
            "invoice",
            now,
            success_url="/company/billing",
            cancel_url="/company/billing",
            settings=settings,
        )
    except BillingError as exc:
        db.session.rollback()
        return replace(created, billing_error=str(exc.message))
    audit.record(
        "company.subscribe",
        now,
        actor=actor,
        actor_kind=_actor_kind(actor, actor_kind),
        object_type="company",
        object_id=created.org_id,
        company_id=created.org_id,
        after={"plan": plan_code, "seats": seats, "method": "invoice"},
    )
    db.session.flush()
    return replace(created, subscribed=True)


def create_operator(
    name: str,
    admin_email: str,
    now: datetime,
    *,
    kind: str = OperatorKind.COMPANY,
    actor: User | None = None,
    actor_kind: str | None = None,
    admin_name: str = "",
) -> Created:
    """An operator organisation and its first operator, who is sent a set-password link.
    Its facilities stay unlisted until the platform admin reviews each one."""
    name = _clean_name(name)
    if kind not in set(OperatorKind):
        raise OrgError(_l("Please choose what kind of organisation it is."), "kind")
    email = _free_email(admin_email)
    person = _admin_name(admin_name, email)
    org = OperatorOrg(name=name, kind=str(kind), created_at=now)
    db.session.add(org)
    db.session.flush()
    admin = _add_admin(
        User(
            email=email,
            name=person,
            password_hash=unusable_password(),
            role=Role.OPERATOR,
            operator_id=org.id,
            created_at=now,
        )
    )
    link = send_set_password_link(admin, name, now)
    audit.record(
        "operator.create",
        now,
        actor=actor,
        actor_kind=_actor_kind(actor, actor_kind),
        object_type="operator",
        object_id=org.id,
        operator_id=org.id,
        after={"name": name, "kind": str(kind), "admin_id": admin.id},
    )
    db.session.flush()
    return Created(org.id, name, admin.id, email, link)


# --- Companies ------------------------------------------------------------------------


def _locked(model, ident: int, missing):
    row = (
        db.session.scalar(
            select(model)
            .where(model.id == ident)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if in_id_range(ident)
        else None
    )
    if row is None:
        raise OrgNotFound(missing)
    return row


def end_access(user_ids, now: datetime) -> None:
    """End every session and API token of these people (a list of ids, or a select of
    them); they sign in again, if they may."""
    db.session.execute(
        update(User)
        .where(User.id.in_(user_ids))
        .values(session_version=User.session_version + 1)
        .execution_options(synchronize_session="fetch")
    )
    db.session.execute(
        update(UserSession)
        .where(UserSession.user_id.in_(user_ids), UserSession.ended_at.is_(None))
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(ApiToken)
        .where(ApiToken.user_id.in_(user_ids), ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


def _switched(
    action: str,
    setting: str,
    value: bool,
    now: datetime,
    actor: User | None,
    actor_kind: str | None,
    **target,
) -> None:
    """Audit one yes/no setting of an organisation or facility turned to ``value``
    (``target``: object_type, object_id and the organisation's id), then flush."""
    audit.record(
        action,
        now,
        actor=actor,
        actor_kind=_actor_kind(actor, actor_kind),
        before={setting: not value},
        after={setting: value},
        **target,
    )
    db.session.flush()


def set_company_active(
    company_id: int,
    active: bool,
    now: datetime,
    *,
    actor: User | None = None,
    actor_kind: str | None = None,
) -> Company:
    """Deactivating: nobody of the company signs in any more, every session and API
    token of its people ends at once; its bookings, people and subscription are kept.
    Reactivating: its people may sign in again (each signs in afresh). Asking for the
    state the company is in changes nothing."""
    company = _locked(Company, company_id, _l("No such company."))
    if company.active == active:
        return company
    company.active = active
    company.deactivated_at = None if active else now
    if not active:
        end_access(select(User.id).where(User.company_id == company.id), now)
    _switched(
        "company.reactivate" if active else "company.deactivate",
        "active",
        active,
        now,
        actor,
        actor_kind,
        object_type="company",
        object_id=company.id,
        company_id=company.id,
    )
    return company


# --- Operator organisations -------------------------------------------------------------


def set_operator_suspended(
    operator_id: int,
    suspended: bool,
    now: datetime,
    *,
    actor: User | None = None,
    actor_kind: str | None = None,
) -> OperatorOrg:
    """Suspended: its facilities leave search and cannot be booked
    (``Facility.listed``); stays already booked are kept, and its operators still sign
    in to run them. Unsuspended: its reviewed, open facilities are listed again."""
    org = _locked(OperatorOrg, operator_id, _l("No such operator organisation."))
    if (org.suspended_at is not None) == suspended:
        return org
    org.suspended_at = now if suspended else None
    _switched(
        "operator.suspend" if suspended else "operator.unsuspend",
        "suspended",
        suspended,
        now,
        actor,
        actor_kind,
        object_type="operator",
        object_id=org.id,
        operator_id=org.id,
    )
    return org


# --- Facilities -------------------------------------------------------------------------


def set_facility_reviewed(
    facility_id: int,
    reviewed: bool,
    now: datetime,
    *,
    actor: User | None = None,
    actor_kind: str | None = None,
) -> Facility:
    """Mark a facility reviewed (listed from now on, if open and its operator is not
    suspended), or take the review back (it leaves search; bookings are kept)."""
    facility = _locked(Facility, facility_id, _l("No such facility."))
    if (facility.reviewed_at is not None) == reviewed:
        return facility
    facility.reviewed_at = now if reviewed else None
    _switched(
        "facility.review" if reviewed else "facility.unreview",
        "reviewed",
        reviewed,
        now,
        actor,
        actor_kind,
        object_type="facility",
        object_id=facility.id,
        operator_id=facility.operator_id,
    )
    return facility
