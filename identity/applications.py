"""Sign-up applications: a company applies, an operator registers, the Engawa team decides.

An application starts ``unconfirmed`` and its contact is mailed a confirmation link
(only its SHA-256 is stored). Opening the link makes it ``pending`` for the platform
admin; an unconfirmed application lapses after ``CONFIRM_HOURS``, an undecided one
``DECIDE_DAYS`` after it was confirmed (the ``expire_applications`` job). Approving
one creates the organisation and its first admin, who is mailed a link to choose a
password (``accounts.recovery``); rejecting one mails the contact the reason.

The public pages never tell whether an e-mail address is known (see ``_start``).
Services flush; the caller commits. What each kind asks for beyond the columns is
the JSON object ``Application.details``; creating the organisation is in
``identity.application_review``.
"""

from __future__ import annotations

import json
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from stdnum.exceptions import ValidationError as NumberInvalid
from stdnum.jp import cn as corporate_numbers

from accounts.events import APPLICATION_SUBMITTED, emit
from accounts.mail import queue_mail
from accounts.membership import valid_email
from accounts.models import OperatorKind
from accounts.services import normalise_email, token_digest, user_by_email
from core.db import in_id_range
from core.errors import RuleError
from core.extensions import db
from core.job_summary import N_, NOTHING, JobSummary, summary
from core.paging import Page
from facilities import postal
from facilities.models import FacilityKind
from identity import application_mail as mails
from identity.models import Application, ApplicationKind, ApplicationStatus

CONFIRM_HOURS = 48  # an unconfirmed application's link works this long
DECIDE_DAYS = 30  # a confirmed application waits this long for a decision
MAX_SEATS = 100_000
MAX_TOKEN_LENGTH = 100  # token_urlsafe(32) is 43 characters
MAX_NAME = 200
MAX_ADDRESS = 500
MAX_LICENCE = 100
MAX_NOTE = 1000
MAX_REASON = 2000
# What an application lapses into, by where it stood.
OPEN_STATUSES = (ApplicationStatus.UNCONFIRMED, ApplicationStatus.PENDING)


class ApplicationError(RuleError):
    """An application refused by a rule. ``code`` names the field at fault where there
    is one (``org_name``, ``corporate_number``, …), else the rule."""


class ApplicationNotFound(ApplicationError):
    code = "not_found"

    def __init__(self):
        super().__init__(_l("No such application."))


class AlreadyDecided(ApplicationError):
    code = "decided"

    def __init__(self):
        super().__init__(
            _l("This application has already been decided (or has expired); nothing was changed.")
        )


class LinkExpired(ApplicationError):
    code = "expired"

    def __init__(self):
        super().__init__(
            _l(
                "This confirmation link no longer works: an application must be confirmed"
                " within %(hours)d hours, and only the latest application of an address"
                " can be confirmed. Please apply again.",
                hours=CONFIRM_HOURS,
            )
        )


class LinkUnknown(ApplicationError):
    code = "unknown"

    def __init__(self):
        super().__init__(
            _l("This confirmation link is not valid. Please check that you copied all of it.")
        )


# --- Values -------------------------------------------------------------------------------


def normalise_corporate_number(raw: str) -> str:
    """A 法人番号 as 13 digits: full-width digits, hyphens and spaces are accepted
    ("5-8356-7825-6246", "５８３５６７８２５６２４６"). Raises ``ApplicationError`` when it is
    not 13 digits or its check digit (the first digit) does not match."""
    text = unicodedata.normalize("NFKC", raw or "").strip()
    try:
        return corporate_numbers.validate(text)
    except NumberInvalid:
        raise ApplicationError(
            _l("Enter the 13-digit corporate number (法人番号); this one is not valid."),
            "corporate_number",
        ) from None


def _text(value: str | None, limit: int, field: str, message, *, required: bool = True) -> str:
    """One line of text with its spaces tidied; refused when empty (if required) or too long."""
    text = " ".join((value or "").split())
    if (required and not text) or len(text) > limit:
        raise ApplicationError(message, field)
    return text


def _contact(name: str, email: str) -> tuple[str, str]:
    name = _text(
        name,
        MAX_NAME,
        "contact_name",
        _l("Enter the contact person's name (up to 200 characters)."),
    )
    email = normalise_email(email or "")
    if not valid_email(email):
        raise ApplicationError(_l("Please enter a valid e-mail address."), "contact_email")
    return name, email


def _org_name(name: str) -> str:
    return _text(
        name, MAX_NAME, "org_name", _l("Enter the organisation's name (up to 200 characters).")
    )


@dataclass(frozen=True)
class FirstFacility:
    """The operator's first facility as the registration form gives it."""

    name: str
    kind: str  # facilities.models.FacilityKind
    postal_code: str
    prefecture: int
    municipality: str
    address: str
    licence_number: str = ""  # 旅館業の許可番号 (stay or both)
    office_note: str = ""  # what a satellite office (kind office) offers instead


def _facility_details(facility: FirstFacility) -> dict[str, Any]:
    if facility.kind not in set(FacilityKind):
        raise ApplicationError(_l("Choose what kind of facility it is."), "facility_kind")
    try:
        postal_code = postal.normalise(facility.postal_code)
    except postal.PostalCodeError as exc:
        raise ApplicationError(exc.message, "postal_code") from None
    if not isinstance(facility.prefecture, int) or not 1 <= facility.prefecture <= 47:
        raise ApplicationError(_l("Choose the prefecture."), "prefecture")
    details = {
        "facility_name": _text(
            facility.name, MAX_NAME, "facility_name", _l("Enter the facility's name.")
        ),
        "facility_kind": facility.kind,
        "postal_code": postal_code,
        "prefecture": facility.prefecture,
        "municipality": _text(
            facility.municipality, 100, "municipality", _l("Enter the municipality.")
        ),
        "address": _text(facility.address, 300, "address", _l("Enter the address.")),
        "licence_number": "",
        "office_note": "",
    }
    if facility.kind == FacilityKind.OFFICE:
        details["office_note"] = _text(
            facility.office_note,
            MAX_NOTE,
            "office_note",
            _l("Describe the satellite office (up to 1,000 characters)."),
        )
    else:
        details["licence_number"] = _text(
            facility.licence_number,
            MAX_LICENCE,
            "licence_number",
            _l("Enter the licence number under the Inns and Hotels Act (旅館業法)."),
        )
    return details


# --- Applying -----------------------------------------------------------------------------


def apply_company(
    org_name: str,
    corporate_number: str,
    billing_address: str,
    contact_name: str,
    contact_email: str,
    expected_seats: int,
    now: datetime,
    locale: str = "ja",
) -> tuple[Application | None, str | None]:
    """A company's application; see ``_start`` for what is returned and mailed.

    The corporate number must pass its check digit; expected seats are 1 … 100,000.
    A corporate number that an Engawa company already has is accepted here (the
    number is public, so the answer would tell who uses Engawa) and stops approval.
    """
    name = _org_name(org_name)
    number = normalise_corporate_number(corporate_number)
    address = _text(
        billing_address,
        MAX_ADDRESS,
        "billing_address",
        _l("Enter the billing address (up to 500 characters)."),
    )
    if not isinstance(expected_seats, int) or not 1 <= expected_seats <= MAX_SEATS:
        raise ApplicationError(
            _l("Expected seats: a whole number from 1 to 100,000."), "expected_seats"
        )
    contact = _contact(contact_name, contact_email)
    details = {"billing_address": address, "expected_seats": expected_seats}
    return _start(ApplicationKind.COMPANY, name, number, contact, details, now, locale)


def apply_operator(
    org_name: str,
    kind: str,
    contact_name: str,
    contact_email: str,
    facility: FirstFacility,
    now: datetime,
    locale: str = "ja",
) -> tuple[Application | None, str | None]:
    """An operator's registration with its first facility; see ``_start``.

    A facility that lodges guests (stay, both) needs its 旅館業 licence number; a
    satellite office (office) a note on what it offers instead.
    """
    name = _org_name(org_name)
    if kind not in set(OperatorKind):
        raise ApplicationError(_l("Choose what kind of organisation it is."), "operator_kind")
    contact = _contact(contact_name, contact_email)
    details = {"operator_kind": kind, **_facility_details(facility)}
    return _start(ApplicationKind.OPERATOR, name, None, contact, details, now, locale)


def _start(
    kind: str,
    org_name: str,
    corporate_number: str | None,
    contact: tuple[str, str],
    details: dict[str, Any],
    now: datetime,
    locale: str,
) -> tuple[Application | None, str | None]:
    """Record the application and queue its confirmation mail; returns it and the link's
    secret (once).

    The page answers "check your mail" whatever happens here, so it never tells whether
    an address is known. When the address already has an account, or an application
    waiting for the Engawa team, no application is made: (None, None) is returned and
    the mailbox gets a short notice saying why instead of a link. Only the mailbox's
    owner reads it, so nothing leaks to whoever filled in the form, and the real
    owner learns that somebody used their address. The page's per-address limit keeps
    the notices from flooding anyone. An earlier unconfirmed application of the same
    address is superseded (expired) by the new one: its owner may have lost the mail.
    """
    contact_name, email = contact
    if user_by_email(email) is not None:
        subject, body = mails.address_has_account(org_name)
        queue_mail(email, subject, body, now)
        return None, None
    waiting = db.session.scalar(
        select(Application.id).where(
            Application.contact_email == email,
            Application.status == ApplicationStatus.PENDING,
        )
    )
    if waiting is not None:
        subject, body = mails.application_waiting(org_name)
        queue_mail(email, subject, body, now)
        return None, None
    db.session.execute(
        update(Application)
        .where(
            Application.contact_email == email,
            Application.status == ApplicationStatus.UNCONFIRMED,
        )
        .values(status=ApplicationStatus.EXPIRED)
    )
    secret = secrets.token_urlsafe(32)
    application = Application(
        kind=kind,
        status=ApplicationStatus.UNCONFIRMED,
        org_name=org_name,
        corporate_number=corporate_number,
        contact_name=contact_name,
        contact_email=email,
        details=json.dumps(details, ensure_ascii=False, sort_keys=True),
        locale=locale if locale in ("ja", "en") else "ja",
        confirm_token_hash=token_digest(secret),
        created_at=now,
        expires_at=now + timedelta(hours=CONFIRM_HOURS),
    )
    db.session.add(application)
    db.session.flush()
    subject, body = mails.confirm(application, secret)
    queue_mail(email, subject, body, now, expires_at=application.expires_at)
    return application, secret


# --- Confirming ---------------------------------------------------------------------------


def confirm(secret: str, now: datetime) -> Application:
    """Confirm the contact's address: an unconfirmed application becomes pending and
    waits ``DECIDE_DAYS`` for the Engawa team, who hear of it then (an
    ``application.submitted`` event; not on the form's post, whose address may be
    anybody's). A second click answers the application as it stands. Raises
    ``LinkUnknown``, or ``LinkExpired`` for an application that was not confirmed in time."""
    if not isinstance(secret, str) or not secret or len(secret) > MAX_TOKEN_LENGTH:
        raise LinkUnknown()
    application = db.session.scalar(
        select(Application)
        .where(Application.confirm_token_hash == token_digest(secret))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if application is None:
        raise LinkUnknown()
    lapsed = application.status == ApplicationStatus.UNCONFIRMED and application.expires_at <= now
    if lapsed or (
        application.status == ApplicationStatus.EXPIRED and application.confirmed_at is None
    ):
        raise LinkExpired()  # the job marks it expired; nothing to write here
    if application.status == ApplicationStatus.UNCONFIRMED:
        application.status = ApplicationStatus.PENDING
        application.confirmed_at = now
        application.expires_at = now + timedelta(days=DECIDE_DAYS)
        db.session.flush()
        emit(
            APPLICATION_SUBMITTED,
            now,
            subject=("application", application.id),
            data={"kind": str(application.kind)},
        )
    return application


# --- Reading ------------------------------------------------------------------------------


def application_for_review(application_id: int, *, lock: bool = False) -> Application:
    """The application (for the platform admin); ``lock`` takes its row and reads it as of
    the lock. Raises ``ApplicationNotFound``."""
    if not isinstance(application_id, int) or not in_id_range(application_id):
        raise ApplicationNotFound()
    query = select(Application).where(Application.id == application_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    application = db.session.scalar(query)
    if application is None:
        raise ApplicationNotFound()
    return application


def applications_page(kind: str, status: str, page: int, per_page: int = 50) -> Page:
    """Applications of ``kind`` and ``status`` ("" for any), oldest waiting first when
    pending (the order they are worked through), else newest first."""
    where = []
    if kind:
        where.append(Application.kind == kind)
    if status:
        where.append(Application.status == status)
    total = db.session.scalar(select(func.count()).select_from(Application).where(*where))
    page = Page.number(page, total, per_page)
    if status == ApplicationStatus.PENDING:
        order = (Application.confirmed_at, Application.id)
    else:
        order = (Application.created_at.desc(), Application.id.desc())
    items = db.session.scalars(
        select(Application)
        .where(*where)
        .order_by(*order)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return Page(list(items), total, page, per_page)


# --- Expiry -------------------------------------------------------------------------------


def expire_due(now: datetime) -> tuple[int, int]:
    """Lapse what is due; flushes. Returns (unconfirmed, undecided) counts. The contact of
    an undecided application is told it lapsed (their address was confirmed)."""
    unconfirmed = db.session.execute(
        update(Application)
        .where(
            Application.status == ApplicationStatus.UNCONFIRMED,
            Application.expires_at <= now,
        )
        .values(status=ApplicationStatus.EXPIRED)
    ).rowcount
    undecided = list(
        db.session.scalars(
            select(Application)
            .where(
                Application.status == ApplicationStatus.PENDING,
                Application.expires_at <= now,
            )
            .with_for_update()
        )
    )
    for application in undecided:
        application.status = ApplicationStatus.EXPIRED
        subject, body = mails.lapsed(application.org_name)
        queue_mail(application.contact_email, subject, body, now)
    db.session.flush()
    return unconfirmed, len(undecided)


def expire_applications(now: datetime) -> JobSummary:
    """The job: applications left unconfirmed or undecided too long lapse. Commits."""
    unconfirmed, undecided = expire_due(now)
    db.session.commit()
    if not unconfirmed and not undecided:
        return NOTHING
    return summary(
        N_("%(unconfirmed)d unconfirmed and %(undecided)d undecided applications expired"),
        unconfirmed=unconfirmed,
        undecided=undecided,
    )
