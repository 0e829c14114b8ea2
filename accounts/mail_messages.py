"""The words of the mails that go before Engawa knows the reader's language (an
invitation, a join link, a sign-up or password link): Japanese first, then English,
through gettext in each. Mails to a person with an account are the notifications'
templates (``templates/mail/``)."""

from __future__ import annotations

from datetime import datetime

from flask_babel import force_locale, gettext

from core.i18n import format_datetime_local


def in_both_languages(render) -> tuple[str, str]:
    """(subject, body) with Japanese first, then English, through gettext in each."""
    with force_locale("ja"):
        subject_ja, body_ja = render()
    with force_locale("en"):
        subject_en, body_en = render()
    subject = subject_ja if subject_ja == subject_en else f"{subject_ja} / {subject_en}"
    if body_ja == body_en:  # not translated yet: once is enough
        return subject, body_en
    return subject, f"{body_ja}\n\n----------------------------------------\n\n{body_en}"


def invitation_mail(
    company_name: str, link: str, expires_at: datetime, kind: str
) -> tuple[str, str]:
    """Subject and body of an invitation (``kind`` "invite") or a domain join link."""

    def render() -> tuple[str, str]:
        values = {"company": company_name, "until": format_datetime_local(expires_at)}
        if kind == "domain":
            subject = gettext("Join %(company)s on Engawa", **values)
            intro = gettext(
                "Someone asked to join %(company)s on Engawa with this e-mail address."
                " If it was you, open this link to set your name and password:",
                **values,
            )
            ignore = gettext("If it was not you, ignore this e-mail; nothing happens.")
        else:
            subject = gettext("Invitation to %(company)s on Engawa", **values)
            intro = gettext(
                "%(company)s invites you to Engawa, the booking system for the company's"
                " workation stays. Open this link to set your name and password:",
                **values,
            )
            ignore = gettext("If you did not expect this invitation, ignore this e-mail.")
        until = gettext("The link works once, until %(until)s (Japan time).", **values)
        return subject, f"{intro}\n\n{link}\n\n{until}\n{ignore}\n"

    return in_both_languages(render)


def account_exists_mail(company_name: str) -> tuple[str, str]:
    """Subject and body telling the owner of an existing account that a company tried to
    invite their address (the admin who invited is told nothing different)."""

    def render() -> tuple[str, str]:
        values = {"company": company_name}
        subject = gettext("Invitation to %(company)s on Engawa", **values)
        body = gettext(
            "%(company)s tried to invite this e-mail address to Engawa, but it already"
            " has an Engawa account, so no new account can be made with it. You can sign"
            " in with your account as before. If you should move to %(company)s, ask"
            " their company admin to invite another address of yours.",
            **values,
        )
        ignore = gettext("If you did not expect this invitation, ignore this e-mail.")
        return subject, f"{body}\n\n{ignore}\n"

    return in_both_languages(render)
