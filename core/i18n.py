"""Locale choice and the formats Japanese users expect: ¥11,000（税込）, 2026年12月5日(土),
2026年9月; and the words a status code is shown with (``status_label``).

The Japanese wording follows docs/GLOSSARY.md (one term per concept).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from babel.dates import format_date as babel_format_date
from flask import current_app, has_app_context, has_request_context, request, session
from flask_babel import get_locale, gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from core.db import TOKYO, edge_now, tokyo_today
from core.job_summary import render_summary

# long: a stay's dates; short: in lists and calendars, with the year added when it could
# be mistaken (see format_day); date: documents (invoices), always with the year and no
# weekday; month: a calendar month, 2026年9月 / September 2026.
DATE_PATTERNS = {
    "ja": {
        "long": "y年M月d日(E)",
        "short": "M/d(E)",
        "short_year": "y/M/d(E)",
        "date": "y年M月d日",
        "month": "y年M月",
    },
    "en": {
        "long": "EEE d MMM y",
        "short": "EEE d MMM",
        "short_year": "EEE d MMM y",
        "date": "d MMM y",
        "month": "MMMM y",
    },
}
# A short date (no year) further than this from today, or in another year, gets its year.
SHORT_DATE_REACH = timedelta(days=150)


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():  # CLI, jobs, services under test
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if request.path.startswith("/api/"):
        return "en"  # one language for machine clients, whatever the cookie says
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def current_locale() -> str:
    return str(get_locale() or "ja")


def format_yen(amount: int) -> str:
    """Integer yen, tax included (総額表示)."""
    return gettext("%(amount)s (tax incl.)", amount=format_yen_plain(amount))


def format_yen_plain(amount: int) -> str:
    return f"¥{amount:,}"


def _today() -> date:
    return tokyo_today(edge_now()) if has_app_context() else datetime.now(TOKYO).date()


def format_day(value: date | datetime, style: str = "long") -> str:
    """A date in the reader's language. ``short`` leaves the year out only where no one
    can mistake it: in this year and within about five months of today."""
    if isinstance(value, datetime):
        value = value.astimezone(TOKYO).date() if value.tzinfo else value.date()
    locale = current_locale()
    patterns = DATE_PATTERNS.get(locale, DATE_PATTERNS["ja"])
    if style == "short":
        today = _today()
        if value.year != today.year or abs(value - today) > SHORT_DATE_REACH:
            return babel_format_date(value, patterns["short_year"], locale=locale)
    return babel_format_date(value, patterns[style], locale=locale)


def format_month(value: date | str) -> str:
    """A calendar month: 2026年9月 / September 2026, from a date or a ``YYYY-MM`` key."""
    if isinstance(value, str):
        try:
            year, month = (int(part) for part in value.split("-", 1))
            value = date(year, month, 1)
        except ValueError:
            return value  # not a month key: shown as it is
    return format_day(value, "month")


# What each code stored by the application reads as, per kind of thing. A template
# shows a status through ``status_label(kind, code)`` (or ``code | status_label(kind)``),
# never the code itself. Wording: docs/GLOSSARY.md.
STATUS_LABELS: dict[str, dict[str, object]] = {
    "booking": {
        "pending_approval": _l("Waiting for approval"),
        "awaiting_payment": _l("Waiting for your payment"),
        "confirmed": _l("Confirmed"),
        "checked_in": _l("Checked in"),
        "checked_out": _l("Checked out"),
        "no_show": _l("No-show"),
        "cancelled": _l("Cancelled"),
        "rejected": _l("Not approved"),
        "expired": _l("Expired"),
    },
    # The same stays as the facility's operator reads them: the payment a stay waits
    # for is the guest's (the employee's part), not the reader's.
    "operator_booking": {
        "pending_approval": _l("Waiting for approval"),
        "awaiting_payment": _l("Waiting for the guest's payment"),
        "confirmed": _l("Confirmed"),
        "checked_in": _l("Checked in"),
        "checked_out": _l("Checked out"),
        "no_show": _l("No-show"),
        "cancelled": _l("Cancelled"),
        "rejected": _l("Not approved"),
        "expired": _l("Expired"),
    },
    "approval": {
        "pending": _l("Waiting for approval"),
        "approved": _l("Approved"),
        "rejected": _l("Not approved"),
        "expired": _l("Expired"),
        "withdrawn": _l("Withdrawn"),
    },
    "stay_payment": {
        "open": _l("Waiting for your payment"),
        "paid": _l("Paid"),
        "expired": _l("Expired"),
    },
    "subscription": {
        "active": _l("Active"),
        "trialing": _l("Free trial"),
        "past_due": _l("Payment overdue"),
        "unpaid": _l("Unpaid"),
        "canceled": _l("Ended"),
        "incomplete": _l("Waiting for the first payment"),
        "incomplete_expired": _l("First payment not made"),
        "paused": _l("Paused"),
    },
    "invoice": {
        "draft": _l("Draft"),
        "open": _l("Awaiting payment"),
        "paid": _l("Paid"),
        "void": _l("Void"),
        "uncollectible": _l("Uncollectible"),
        "overdue": _l("Overdue"),
    },
    "housekeeping": {"clean": _l("Clean"), "dirty": _l("Dirty"), "inspected": _l("Inspected")},
    "job": {
        "running": _l("Running"),
        "ok": _l("Succeeded"),
        "failed": _l("Failed"),
        "skipped": _l("Skipped"),
    },
    "feed": {
        "ok": _l("OK"),
        "stale": _l("Stale"),
        "failing": _l("Failing"),
        "paused": _l("Paused (room not on sale)"),
        "never": _l("Not synced yet"),
    },
    "domain": {
        "pending": _l("Waiting for approval"),
        "approved": _l("Approved"),
        "rejected": _l("Not approved"),
    },
}


def status_label(kind: str, code: str | None) -> str:
    """The reader's words for a stored code; an unknown code reads "Unknown" rather than
    leaking the code into the page."""
    if code is None:
        return "—"
    label = STATUS_LABELS.get(kind, {}).get(str(code))
    return str(label) if label is not None else gettext("Unknown (%(code)s)", code=code)


def status_label_filter(code: str | None, kind: str) -> str:
    return status_label(kind, code)


def schedule_label(trigger: str, args: dict) -> str:
    """A job's schedule in words: 毎日 5:10, 15分ごと."""
    if trigger == "cron" and "hour" in args:
        hour, minute = int(args["hour"]), int(args.get("minute", 0))
        clock = f"{hour}:{minute:02d}"
        return gettext("Daily at %(time)s", time=clock)
    if trigger == "interval":
        if "hours" in args:
            return gettext("Every %(n)d hours", n=int(args["hours"]))
        if "minutes" in args:
            return gettext("Every %(n)d minutes", n=int(args["minutes"]))
        if "seconds" in args:
            return gettext("Every %(n)d seconds", n=int(args["seconds"]))
    return gettext("Scheduled (%(trigger)s)", trigger=trigger)


def format_datetime_local(value: datetime) -> str:
    """An instant as Tokyo wall-clock time, e.g. 2026/12/01 12:05."""
    local = value.astimezone(TOKYO)
    return local.strftime("%Y/%m/%d %H:%M")


def init_app(app) -> None:
    app.jinja_env.filters["datetime_local"] = format_datetime_local
    app.jinja_env.filters["yen"] = format_yen
    app.jinja_env.filters["yen_plain"] = format_yen_plain
    app.jinja_env.filters["day"] = format_day
    app.jinja_env.filters["month"] = format_month
    app.jinja_env.filters["status_label"] = status_label_filter
    app.jinja_env.filters["job_summary"] = render_summary  # a JobRun's, in the reader's words
    app.jinja_env.globals["status_label"] = status_label
    app.jinja_env.globals["schedule_label"] = schedule_label
    app.jinja_env.globals["current_locale"] = current_locale
