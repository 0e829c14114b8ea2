"""Locale choice and the formats Japanese users expect: ¥11,000（税込）, 2026年12月5日(土)."""

from __future__ import annotations

from datetime import date, datetime

from babel.dates import format_date as babel_format_date
from flask import current_app, has_request_context, request, session
from flask_babel import get_locale, gettext
from flask_login import current_user

from core.db import TOKYO

DATE_PATTERNS = {
    "ja": {"long": "y年M月d日(E)", "short": "M/d(E)", "month": "y年M月"},
    "en": {"long": "EEE d MMM y", "short": "EEE d MMM", "month": "MMMM y"},
}


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


def format_day(value: date, style: str = "long") -> str:
    locale = current_locale()
    pattern = DATE_PATTERNS.get(locale, DATE_PATTERNS["ja"])[style]
    return babel_format_date(value, pattern, locale=locale)


def format_datetime_local(value: datetime) -> str:
    """An instant as Tokyo wall-clock time, e.g. 2026/12/01 12:05."""
    local = value.astimezone(TOKYO)
    return local.strftime("%Y/%m/%d %H:%M")


def init_app(app) -> None:
    app.jinja_env.filters["datetime_local"] = format_datetime_local
    app.jinja_env.filters["yen"] = format_yen
    app.jinja_env.filters["yen_plain"] = format_yen_plain
    app.jinja_env.filters["day"] = format_day
    app.jinja_env.globals["current_locale"] = current_locale
