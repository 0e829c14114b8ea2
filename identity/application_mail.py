"""The mails of sign-up applications, each in Japanese and then English.

Each function returns (subject, body); ``identity.applications`` and
``identity.application_review`` queue them. Links are built from ``BASE_URL``.
"""

from __future__ import annotations

from flask_babel import gettext

from accounts.mail_messages import in_both_languages
from core.i18n import format_datetime_local
from core.urls import public_url
from identity.models import Application, ApplicationKind


def confirm(application: Application, secret: str) -> tuple[str, str]:
    """The confirmation link of a new application."""
    link = public_url("signup.confirm", token=secret)

    def render() -> tuple[str, str]:
        values = {
            "org": application.org_name,
            "until": format_datetime_local(application.expires_at),
        }
        subject = gettext("Confirm your application to Engawa")
        if application.kind == ApplicationKind.COMPANY:
            intro = gettext(
                "Thank you for applying to use Engawa for %(org)s. Open this link to confirm"
                " your e-mail address; the Engawa team then reviews the application:",
                **values,
            )
        else:
            intro = gettext(
                "Thank you for registering %(org)s as a facility operator on Engawa. Open this"
                " link to confirm your e-mail address; the Engawa team then reviews the"
                " registration:",
                **values,
            )
        until = gettext(
            "The link works until %(until)s (Japan time); after that the application lapses.",
            **values,
        )
        ignore = gettext("If you did not apply, ignore this e-mail; nothing happens.")
        return subject, f"{intro}\n\n{link}\n\n{until}\n{ignore}\n"

    return in_both_languages(render)


def address_has_account(org_name: str) -> tuple[str, str]:
    """Sent instead of a link when the contact's address already has an account."""

    def render() -> tuple[str, str]:
        subject = gettext("Your application to Engawa")
        body = gettext(
            "Someone applied to Engawa for %(org)s with this e-mail address, but it already"
            " has an Engawa account, so no application was made. Please apply with another"
            " address, or sign in with your account.",
            org=org_name,
        )
        ignore = gettext("If you did not apply, ignore this e-mail; nothing happens.")
        return subject, f"{body}\n\n{ignore}\n"

    return in_both_languages(render)


def application_waiting(org_name: str) -> tuple[str, str]:
    """Sent instead of a link when the address has an application under review."""

    def render() -> tuple[str, str]:
        subject = gettext("Your application to Engawa")
        body = gettext(
            "Someone applied to Engawa for %(org)s with this e-mail address, but an"
            " application with this address is already waiting for the Engawa team's"
            " review, so no new application was made. You will hear from us when it has"
            " been decided.",
            org=org_name,
        )
        ignore = gettext("If you did not apply, ignore this e-mail; nothing happens.")
        return subject, f"{body}\n\n{ignore}\n"

    return in_both_languages(render)


def rejected(org_name: str, reason: str) -> tuple[str, str]:
    """The Engawa team's refusal, with its reason."""

    def render() -> tuple[str, str]:
        subject = gettext("Your application to Engawa")
        body = gettext(
            "Thank you for applying to Engawa for %(org)s. We are sorry: the Engawa team"
            " could not accept the application, for this reason:",
            org=org_name,
        )
        again = gettext("You may apply again once the reason no longer applies.")
        return subject, f"{body}\n\n{reason}\n\n{again}\n"

    return in_both_languages(render)


def lapsed(org_name: str) -> tuple[str, str]:
    """An application that waited too long for a decision."""

    def render() -> tuple[str, str]:
        subject = gettext("Your application to Engawa")
        body = gettext(
            "We are sorry: your application to Engawa for %(org)s was not decided in time"
            " and has lapsed. Please apply again if you still wish to join.",
            org=org_name,
        )
        return subject, f"{body}\n"

    return in_both_languages(render)
