"""The Engawa team decides a sign-up application: approve (the organisation and its first
admin exist) or reject with a reason.

Both lock the application's row and check again that it is still pending, so two
platform admins deciding at once end in one decision: the second gets
``AlreadyDecided`` and nothing is written. Approval refuses, changing nothing, when
the corporate number or the contact's address now belongs to a company or an
account. Each decision is one audit entry. Services flush; the caller commits.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from accounts import audit
from accounts.mail import queue_mail
from accounts.models import Company, User
from accounts.services import user_by_email
from billing.models import BillingAccount
from core.extensions import db
from facilities import services as facilities
from facilities.geo import PREFECTURE_CENTRES
from identity import application_mail as mails
from identity import orgs
from identity.applications import (
    MAX_REASON,
    AlreadyDecided,
    ApplicationError,
    application_for_review,
)
from identity.models import Application, ApplicationKind, ApplicationStatus


def _require_platform_admin(actor: User) -> None:
    if not actor.is_platform_admin or not actor.active:
        raise ApplicationError(_l("Only the Engawa team decides applications."), "forbidden")


def _pending(application_id: int, actor: User, now: datetime) -> Application:
    """The application, row-locked, if it still waits for a decision."""
    _require_platform_admin(actor)
    application = application_for_review(application_id, lock=True)
    if application.status != ApplicationStatus.PENDING or application.expires_at <= now:
        raise AlreadyDecided()
    return application


def _address_taken() -> ApplicationError:
    return ApplicationError(
        _l(
            "The contact's e-mail address now belongs to an Engawa account, so nothing was"
            " created. Reject the application and ask them to apply with another address."
        ),
        "email_taken",
    )


def _number_taken() -> ApplicationError:
    return ApplicationError(
        _l(
            "A company with this corporate number already uses Engawa, so nothing was"
            " created. Reject the application, or contact that company."
        ),
        "corporate_number_taken",
    )


def conflicts(application: Application) -> list[str]:
    """What would stop approval now (for the review page): "email_taken",
    "corporate_number_taken"."""
    found = []
    if user_by_email(application.contact_email) is not None:
        found.append("email_taken")
    if application.corporate_number and _company_with(application.corporate_number) is not None:
        found.append("corporate_number_taken")
    return found


def _company_with(corporate_number: str) -> int | None:
    return db.session.scalar(select(Company.id).where(Company.corporate_number == corporate_number))


def approve(application_id: int, actor: User, now: datetime) -> Application:
    """Create what the application asks for, once (through ``identity.orgs``, as the
    console and the scripts do).

    A company: the company (with its corporate number), its billing account (the
    company's name, the billing address, the contact's address) and the contact as its
    company admin. An operator: the organisation (its kind), the contact as its first
    operator, and the first facility, unlisted until the Engawa team reviews it (placed
    at its prefecture's centre until the operator moves the pin; no rooms yet). The
    new admin has no password: they are mailed a link to choose one, and land in their
    console once they have (a company admin on the subscription page, to choose a plan).
    """
    application = _pending(application_id, actor, now)
    if user_by_email(application.contact_email) is not None:
        raise _address_taken()
    if application.corporate_number and _company_with(application.corporate_number):
        raise _number_taken()
    values = application.detail_values
    try:
        with db.session.begin_nested():
            if application.kind == ApplicationKind.COMPANY:
                admin = _create_company(application, values, actor, now)
            else:
                admin = _create_operator(application, values, actor, now)
    except orgs.OrgError as exc:
        raise _address_taken() if exc.code == "taken" else ApplicationError(exc.message) from None
    except IntegrityError:
        # The address or the number was taken a moment ago (a console, a script).
        if application.corporate_number and _company_with(application.corporate_number):
            raise _number_taken() from None
        raise _address_taken() from None
    application.status = ApplicationStatus.APPROVED
    application.decided_at = now
    application.decided_by_id = actor.id
    application.company_id = admin.company_id
    application.operator_id = admin.operator_id
    audit.record(
        "application.approve",
        now,
        actor=actor,
        object_type="application",
        object_id=application.id,
        company_id=admin.company_id,
        operator_id=admin.operator_id,
        after={
            "kind": application.kind,
            "org_name": application.org_name,
            "admin_id": admin.id,
        },
    )
    db.session.flush()
    return application


def _admin(created: orgs.Created, application: Application) -> User:
    admin = db.session.get(User, created.admin_id)
    admin.locale = application.locale  # their mails and pages in the language they applied in
    return admin


def _create_company(
    application: Application, values: dict[str, Any], actor: User, now: datetime
) -> User:
    created = orgs.create_company(
        application.org_name,
        application.contact_email,
        now,
        actor=actor,
        admin_name=application.contact_name,
    )
    company = db.session.get(Company, created.org_id)
    company.corporate_number = application.corporate_number
    account = db.session.get(BillingAccount, created.org_id)
    account.billing_address = values.get("billing_address", "")
    db.session.flush()
    return _admin(created, application)


def _create_operator(
    application: Application, values: dict[str, Any], actor: User, now: datetime
) -> User:
    created = orgs.create_operator(
        application.org_name,
        application.contact_email,
        now,
        kind=values["operator_kind"],
        actor=actor,
        admin_name=application.contact_name,
    )
    admin = _admin(created, application)
    centre = PREFECTURE_CENTRES[values["prefecture"]]
    facility = facilities.create_facility(
        admin,
        {
            "name_ja": values["facility_name"],
            "name_en": values["facility_name"],  # the operator adds the English name later
            "kind": values["facility_kind"],
            "prefecture": values["prefecture"],
            "municipality": values["municipality"],
            "address": values["address"],
            "postal_code": values["postal_code"],
            "latitude": centre.lat,
            "longitude": centre.lng,
            "wifi_mbps": 0,
            "work_desks": 0,
            "meeting_room": False,
            "parking": False,
            "kitchen": False,
            "onsen": False,
            "family_friendly": False,
            "check_in_time": time(15, 0),
            "check_out_time": time(10, 0),
            "min_nights": 1,
            "max_nights": 30,
            "description_ja": "",
            "description_en": "",
        },
        now,
    )
    facility.reviewed_at = None  # unlisted until the Engawa team reviews it
    db.session.flush()
    return admin


def reject(application_id: int, actor: User, reason: str, now: datetime) -> Application:
    """Refuse the application with a reason (required), which is mailed to the contact."""
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON:
        raise ApplicationError(
            _l("Give the reason for the applicant (up to 2,000 characters)."), "reason"
        )
    application = _pending(application_id, actor, now)
    application.status = ApplicationStatus.REJECTED
    application.decided_at = now
    application.decided_by_id = actor.id
    application.reason = reason
    db.session.flush()
    subject, body = mails.rejected(application.org_name, reason)
    queue_mail(application.contact_email, subject, body, now)
    audit.record(
        "application.reject",
        now,
        actor=actor,
        object_type="application",
        object_id=application.id,
        after={"kind": application.kind, "org_name": application.org_name, "reason": reason},
    )
    return application
