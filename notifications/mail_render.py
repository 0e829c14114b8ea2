"""The words of each notification mail, in its recipient's language.

A kind's mail is ``templates/mail/<kind>.txt`` (the plain-text part) and
``templates/mail/<kind>.html`` (the HTML part, inline styles only), each extending its
layout (``_layout.txt``, ``_layout.html``: the product's name, the heading, and the
footer saying why the person receives it and whether they can switch it off). The
subject is made here (``SUBJECTS``) and shown as the heading of both parts.

Rendering needs an app context but no request (the dispatcher runs in a job): the
templates are read from the app's Jinja environment, whose ``_``/``ngettext`` and
filters (``yen``, ``day``, ``datetime_local``) follow the locale forced here. Links are
absolute, built from ``BASE_URL`` (``core.urls.public_url``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import force_locale, gettext
from jinja2 import Environment

from accounts import events as ev
from accounts.models import User
from booking.ics import stay_calendar, stay_description
from core.i18n import format_day, format_yen
from core.job_summary import N_
from core.urls import public_url
from facilities.models import Facility
from notifications.catalog import (
    APPROVERS,
    COMPANY_ADMINS,
    EMPLOYEE,
    OPERATORS,
    PLATFORM_ADMINS,
    Kind,
)
from notifications.facts import REGION_SUBJECTS
from notifications.mail_context import Facts

DEFAULT_LOCALE = "ja"
WORKSPACE_TYPES = (
    ev.WORKSPACE_BOOKED,
    ev.WORKSPACE_CANCELLED,
    ev.WORKSPACE_CHANGED,
    ev.WORKSPACE_NO_SHOW,
)
TEXT_ENV = "notifications.mail_text_env"
TEXT_CACHE_SIZE = 100


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str
    # (file name, MIME type, text): the stay's .ics on its confirmation.
    attachment: tuple[str, str, str] | None = None


def mail_locale(user: User) -> str:
    """The recipient's language: their own choice, else Japanese."""
    return user.locale if user.locale in current_app.config["LANGUAGES"] else DEFAULT_LOCALE


def page_path(facts: Facts, kind: Kind) -> str:
    """The page a notice of ``kind`` opens, as a path inside Engawa."""
    endpoint, values = facts.page(kind.audience)
    parts = urlsplit(public_url(endpoint, **values))
    return parts.path + (f"?{parts.query}" if parts.query else "")


def render_mail(kind: Kind, facts: Facts, recipient: User, now: datetime) -> RenderedMail:
    """Subject, text and HTML of ``kind``'s mail for ``recipient``, in their language
    (the same for everyone of the audience reading that language)."""
    locale = mail_locale(recipient)
    with force_locale(locale):
        context = _context(kind, facts, locale)
        subject = SUBJECTS[kind.name](context)
        context["subject"] = subject
        text = _tidy(_text_env().get_template(f"mail/{kind.name}.txt").render(context))
        html = current_app.jinja_env.get_template(f"mail/{kind.name}.html").render(context)
        attachment = _stay_file(facts, locale, now) if kind.name == "booking_confirmed" else None
    return RenderedMail(subject, text, html, attachment)


def _context(kind: Kind, facts: Facts, locale: str) -> dict[str, Any]:
    """What the templates read. Nothing of the recipient but their language: one
    rendering serves everyone of the audience who reads that language."""
    endpoint, values = facts.page(kind.audience)
    context = {
        **facts.values,
        "kind": kind,
        "locale": locale,
        "link": public_url(endpoint, **values),
        "url": public_url,
        "reason": _reason(kind, facts),
        "preferences_url": public_url("notifications.preferences") if kind.optional else None,
    }
    facility = facts.values.get("facility")
    if facility is not None:
        context["facility_name"] = facility.name_for(locale)
        context["arrival_notes"] = arrival_notes(facility, locale)
    return context


def arrival_notes(facility: Facility, locale: str) -> str:
    """The facility's arrival notes in ``locale``, else in the other language; "" when
    it has none. The confirmation and the change tell them too: a stay booked or moved
    to 3 days or less before check-in gets no reminder."""
    own, other = (
        (facility.arrival_notes_en, facility.arrival_notes_ja)
        if locale == "en"
        else (facility.arrival_notes_ja, facility.arrival_notes_en)
    )
    return (own or "").strip() or (other or "").strip()


def _reason(kind: Kind, facts: Facts) -> str:
    """Why the person receives this mail, for the footer."""
    if kind.audience == EMPLOYEE and kind.event_type in WORKSPACE_TYPES:
        return gettext("You receive this because you booked a workspace on Engawa.")
    if kind.audience == EMPLOYEE:
        return gettext("You receive this because you booked a stay on Engawa.")
    if kind.audience == OPERATORS:
        return gettext(
            "You receive this because you are an operator of %(org)s on Engawa.",
            org=facts.values.get("operator_name", ""),
        )
    if kind.audience == COMPANY_ADMINS:
        return gettext(
            "You receive this because you are a company admin of %(company)s on Engawa.",
            company=facts.values.get("company_name", ""),
        )
    if kind.audience == PLATFORM_ADMINS:
        return gettext("You receive this because you are a member of the Engawa team.")
    if kind.audience == APPROVERS:
        return gettext(
            "You receive this because you approve stays of employees of %(company)s on Engawa.",
            company=facts.values.get("company_name", ""),
        )
    raise ValueError(f"unknown audience {kind.audience!r}")


def _text_env() -> Environment:
    """The app's Jinja environment (its loader, filters and gettext) for the plain-text
    parts: a block tag takes its own line with it, so the templates read as the mail
    does. Its own template cache: the same file must not be compiled both ways."""
    env = current_app.extensions.get(TEXT_ENV)
    if env is None:
        env = current_app.jinja_env.overlay(
            trim_blocks=True, lstrip_blocks=True, cache_size=TEXT_CACHE_SIZE
        )
        current_app.extensions[TEXT_ENV] = env
    return env


def _tidy(text: str) -> str:
    """The text part without the templates' stray spaces and runs of blank lines."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"


def _stay_file(facts: Facts, locale: str, now: datetime) -> tuple[str, str, str]:
    """The stay as an .ics file, the same event (UID) as the stay page's download."""
    booking = facts.values["booking"]
    description = stay_description(booking)
    body = stay_calendar(
        booking,
        current_app.config["CALENDAR_UID_DOMAIN"],
        now,
        locale,
        description,
        method="PUBLISH",
    )
    return (f"engawa-stay-{booking.id}.ics", "text/calendar", body.decode("utf-8"))


# --- subjects -----------------------------------------------------------------------------


def _stay(c: dict[str, Any]) -> dict[str, Any]:
    booking = c["booking"]
    return {
        "facility": c["facility_name"],
        "unit": booking.unit.name,
        "check_in": format_day(booking.check_in),
        "number": booking.id,
    }


def _desk(c: dict[str, Any]) -> dict[str, Any]:
    """The first (or only) workspace booking of the message, and how many it tells of."""
    desk = c["desk"]
    return {
        "unit": desk.unit.name,
        "facility": c["facility_name"],
        "day": format_day(desk.day),
        "start": desk.starts,
        "end": desk.ends,
        "count": len(c["desks"]),
    }


def _workspace_subject(one: str, many: str) -> Callable[[dict[str, Any]], str]:
    """A subject naming the booking, or the first of several booked or ended together."""

    def subject(c: dict[str, Any]) -> str:
        return gettext(one if len(c["desks"]) == 1 else many, **_desk(c))

    return subject


def _application_subject(c: dict[str, Any]) -> str:
    application = c["application"]
    if application.kind == "operator":
        return gettext("New operator application: %(name)s", name=application.org_name)
    return gettext("New company application: %(name)s", name=application.org_name)


SUBJECTS: dict[str, Callable[[dict[str, Any]], str]] = {
    "booking_confirmed": lambda c: gettext(
        "Booking confirmed: %(facility)s from %(check_in)s (booking number %(number)d)",
        **_stay(c),
    ),
    "booking_cancelled": lambda c: gettext(
        "Stay cancelled: %(facility)s from %(check_in)s (booking number %(number)d)",
        **_stay(c),
    ),
    "booking_changed": lambda c: gettext(
        "Stay changed: %(facility)s, now from %(check_in)s (booking number %(number)d)",
        **_stay(c),
    ),
    "booking_no_show": lambda c: gettext(
        "Stay marked as a no-show: %(facility)s from %(check_in)s (booking number %(number)d)",
        **_stay(c),
    ),
    "company_booking_no_show": lambda c: gettext(
        "An employee's stay was marked as a no-show: %(facility)s from %(check_in)s"
        " (booking number %(number)d)",
        **_stay(c),
    ),
    "stay_reminder": lambda c: gettext(
        "Your stay at %(facility)s begins on %(check_in)s (booking number %(number)d)",
        **_stay(c),
    ),
    "stay_thanks": lambda c: gettext(
        "How was your stay at %(facility)s? (booking number %(number)d)", **_stay(c)
    ),
    "operator_booking_created": lambda c: gettext(
        "New booking %(number)d: %(facility)s, %(unit)s, from %(check_in)s", **_stay(c)
    ),
    "operator_booking_cancelled": lambda c: gettext(
        "Booking %(number)d cancelled: %(facility)s, %(unit)s, from %(check_in)s", **_stay(c)
    ),
    "operator_booking_changed": lambda c: gettext(
        "Booking %(number)d changed: %(facility)s, %(unit)s, now from %(check_in)s",
        **_stay(c),
    ),
    "calendar_conflict": lambda c: (
        gettext(
            "Calendar conflict: %(unit)s at %(facility)s from %(date)s (booking number %(number)d)",
            unit=c["unit"].name,
            facility=c["facility_name"],
            date=format_day(c["conflict"].first_night),
            number=c["booking"].id,
        )
        if c["booking"] is not None
        else gettext(
            "Calendar conflict: %(unit)s at %(facility)s from %(date)s (a direct stay)",
            unit=c["unit"].name,
            facility=c["facility_name"],
            date=format_day(c["conflict"].first_night),
        )
    ),
    "feed_failing": lambda c: gettext(
        "Calendar not syncing: %(feed)s of %(unit)s at %(facility)s",
        feed=c["feed"].label,
        unit=c["unit"].name,
        facility=c["facility_name"],
    ),
    "operator_digest": lambda c: (
        gettext("Arrivals and departures today, %(date)s", date=format_day(c["day"]))
        if c["has_stays"]
        else gettext("Workspace bookings today, %(date)s", date=format_day(c["day"]))
    ),
    "workspace_booked": _workspace_subject(
        N_("Workspace booked: %(unit)s at %(facility)s, %(day)s %(start)s–%(end)s"),
        N_("%(count)d workspace bookings at %(facility)s, the first on %(day)s %(start)s–%(end)s"),
    ),
    "workspace_cancelled": _workspace_subject(
        N_("Workspace booking cancelled: %(unit)s at %(facility)s, %(day)s %(start)s–%(end)s"),
        N_(
            "%(count)d workspace bookings cancelled at %(facility)s, the first on %(day)s"
            " %(start)s–%(end)s"
        ),
    ),
    "workspace_operator_cancelled": _workspace_subject(
        N_("Workspace booking cancelled: %(unit)s at %(facility)s, %(day)s %(start)s–%(end)s"),
        N_(
            "%(count)d workspace bookings cancelled at %(facility)s, the first on %(day)s"
            " %(start)s–%(end)s"
        ),
    ),
    "workspace_changed": lambda c: gettext(
        "Workspace booking changed: now %(unit)s at %(facility)s, %(day)s %(start)s–%(end)s",
        **_desk(c),
    ),
    "workspace_operator_changed": lambda c: gettext(
        "Workspace booking %(number)d changed: now %(unit)s at %(facility)s, %(day)s"
        " %(start)s–%(end)s",
        number=c["desk"].booking.id,
        **_desk(c),
    ),
    "workspace_no_show": lambda c: gettext(
        "Workspace released, nobody checked in: %(unit)s at %(facility)s, %(day)s"
        " %(start)s–%(end)s",
        **_desk(c),
    ),
    "invoice_issued": lambda c: gettext(
        "Invoice %(number)s from Engawa: %(amount)s",
        number=c["invoice"].number or "—",
        amount=format_yen(c["invoice"].total),
    ),
    "payment_failed": lambda c: gettext(
        "Payment failed: please pay by %(date)s", date=format_day(c["grace_until"])
    ),
    "seats_full": lambda c: gettext(
        "Someone could not join %(company)s: all seats are taken", company=c["company_name"]
    ),
    "credit_low": lambda c: gettext(
        "Stay credit running low: %(balance)s left", balance=format_yen(c["balance"])
    ),
    "refusals_many": lambda c: gettext(
        "An employee's bookings were refused %(count)d times on %(date)s",
        count=c["count"],
        date=format_day(c["day"]),
    ),
    "application_submitted": _application_subject,
    "approval_requested": lambda c: gettext(
        "Stay waiting for your approval: %(name)s, %(facility)s from %(check_in)s"
        " (booking number %(number)d)",
        name=c["employee"].name,
        **_stay(c),
    ),
    "approval_pending": lambda c: gettext(
        "Stay waiting for approval: %(facility)s from %(check_in)s (booking number %(number)d)",
        **_stay(c),
    ),
    "booking_approved": lambda c: gettext(
        "Stay approved: %(facility)s from %(check_in)s (booking number %(number)d)",
        **_stay(c),
    ),
    "booking_rejected": lambda c: gettext(
        "Stay not approved: %(facility)s from %(check_in)s (booking number %(number)d)",
        **_stay(c),
    ),
    "booking_expired": lambda c: gettext(
        "Stay expired before it was confirmed: %(facility)s from %(check_in)s"
        " (booking number %(number)d)",
        **_stay(c),
    ),
    **REGION_SUBJECTS,
}
