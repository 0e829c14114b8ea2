"""In-app notices: the bell of operators, company admins and the Engawa team.

The dispatcher (``notifications.dispatch``) writes one ``Notice`` per person for each
kind with ``notice=True`` in ``notifications.catalog`` (``add_notice``). A notice keeps
no text: ``notice_text`` makes it at display time, in the reader's language, from its
kind and its ``params`` (a JSON object). A param that is missing makes the text fall
back to the kind's label, so an old or odd row never breaks the bell.

The params each notice kind reads (ISO dates "2025-04-01", instants
"2025-04-01T03:00:00+00:00", yen as int; never a person's name or address):

- ``operator_booking_created``, ``operator_booking_cancelled``,
  ``operator_booking_changed``, ``company_booking_no_show``: {"booking": the
  booking's id (its booking number), "facility": the facility's name (Japanese),
  "facility_en": its English name (may be "" — then the Japanese one is shown),
  "check_in": ISO date, "check_out": ISO date}
- ``calendar_conflict``: {"unit": the room's name, "facility", "facility_en",
  "first_night": ISO date, "nights": n, and "direct_stay": true when the event is over
  a direct stay rather than a booking}
- ``feed_failing``: {"feed": the feed's label, "unit", "facility", "facility_en",
  "since": ISO instant of the last success or of the feed's creation}
- ``invoice_issued``: {"number": the invoice number, "total": yen}
- ``payment_failed``: {"grace_until": ISO instant}
- ``seats_full``: {}
- ``credit_low``: {"balance": yen, "grant": yen}
- ``refusals_many``: {"count": n}
- ``application_submitted``: {"name": the organisation's name, "kind": "company" |
  "operator"}
- ``workspace_booked``, ``workspace_cancelled``, ``workspace_no_show``,
  ``workspace_operator_cancelled``: {"booking": the (first) workspace booking's id,
  "count": how many bookings the notice tells of (a series, a stay's desks), "unit":
  the workspace unit's name, "facility", "facility_en", "starts_at" and "ends_at": ISO
  instants of the (first) booking, "refund": yen returned in all; "with_stay": true
  when cancelled with its stay; "released_from": ISO instant (a no-show)}
- ``workspace_changed``, ``workspace_operator_changed``: the same of the booking as it is
  now, and "old_unit": the unit's name before, "old_starts_at", "old_ends_at": ISO
  instants before; the employee's alone (``Facts.private``) also "price": the new
  price, "charged", "refunded", "kept": yen of the change

``link`` is a path inside Engawa (the booking's, the calendars' page, the invoice's,
the application's); the notices list links each notice there after marking it read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import gettext, ngettext
from sqlalchemy import func, select, update

from accounts.events import Event
from calendars import feeds
from calendars.models import CalendarConflict
from core.extensions import db
from core.i18n import (
    current_locale,
    format_datetime_local,
    format_day,
    format_yen,
    format_yen_plain,
)
from core.paging import Page
from notifications.catalog import BY_NAME
from notifications.facts import REGION_NOTICE_TEXTS
from notifications.models import Notice
from notifications.workspace_context import clock

PER_PAGE = 20
# A feed not synced for this long shows on the operator's dashboard: the same silence
# that makes the feed watch tell them (``stay_jobs.FEED_SILENT_FOR``).
FEED_FAILING_AFTER = timedelta(hours=6)
# The dashboard lists this many conflicts and feeds; the calendars page has them all.
DASHBOARD_ROWS = 3


def add_notice(
    user_id: int, kind: str, event: Event, params: dict[str, Any], link: str | None, now: datetime
) -> Notice | None:
    """One notice of ``event`` for one person (flushes); None if they have it already."""
    if db.session.scalar(
        select(Notice.id).where(Notice.user_id == user_id, Notice.event_id == event.id)
    ):
        return None
    notice = Notice(
        user_id=user_id,
        event_id=event.id,
        kind=kind,
        created_at=now,
        params=json.dumps(params, sort_keys=True, default=str),
        link=link,
    )
    db.session.add(notice)
    db.session.flush()
    return notice


# --- Reading -----------------------------------------------------------------------------


def unread_count(user_id: int) -> int:
    """The bell's number: one count on the (user_id, read_at, created_at) index."""
    return db.session.scalar(
        select(func.count())
        .select_from(Notice)
        .where(Notice.user_id == user_id, Notice.read_at.is_(None))
    )


def notices_page(user_id: int, page: int, per_page: int = PER_PAGE) -> Page:
    """The person's notices, newest first, one page of them."""
    total = db.session.scalar(
        select(func.count()).select_from(Notice).where(Notice.user_id == user_id)
    )
    page = Page.number(page, total, per_page)
    items = db.session.scalars(
        select(Notice)
        .where(Notice.user_id == user_id)
        .order_by(Notice.created_at.desc(), Notice.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return Page(list(items), total, page, per_page)


def own_notice(user_id: int, notice_id: int) -> Notice | None:
    """The notice if it is the person's own; None for anyone else's (a 404)."""
    return db.session.scalar(
        select(Notice).where(Notice.id == notice_id, Notice.user_id == user_id)
    )


def mark_read(notice: Notice, now: datetime) -> None:
    """Read from now on (a notice read before keeps its first time); flushes."""
    if notice.read_at is None:
        notice.read_at = now
        db.session.flush()


def mark_all_read(user_id: int, now: datetime) -> int:
    """Every unread notice of the person read now; how many there were. Flushes."""
    result = db.session.execute(
        update(Notice)
        .where(Notice.user_id == user_id, Notice.read_at.is_(None))
        .values(read_at=now)
    )
    db.session.flush()
    return result.rowcount


def safe_link(link: str | None) -> str | None:
    """The notice's page if it is a path inside Engawa; None for anything else (a link
    elsewhere would make the read button an open redirect)."""
    if not link or not link.startswith("/") or link.startswith("//") or "\\" in link:
        return None
    return link


# --- Text ----------------------------------------------------------------------------------


def _params(notice_or_params: Notice | dict | str) -> dict:
    raw = notice_or_params.params if isinstance(notice_or_params, Notice) else notice_or_params
    if isinstance(raw, dict):
        return raw
    try:
        loaded = json.loads(raw or "{}")
    except (TypeError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _day(value: str) -> str:
    return format_day(date.fromisoformat(str(value)[:10]), "short")


def _instant(value: str) -> str:
    return format_datetime_local(datetime.fromisoformat(str(value)))


def _facility(p: dict) -> str:
    name = p["facility"]
    english = p.get("facility_en")
    return english if current_locale() == "en" and english else name


def _booking(p: dict) -> dict:
    return {
        "number": int(p["booking"]),
        "facility": _facility(p),
        "check_in": _day(p["check_in"]),
        "check_out": _day(p["check_out"]),
    }


def _desk(p: dict) -> dict:
    """The (first) workspace booking of a notice: times on the Tokyo clock."""
    starts = datetime.fromisoformat(str(p["starts_at"]))
    ends = datetime.fromisoformat(str(p["ends_at"]))
    return {
        "number": int(p["booking"]),
        "count": int(p.get("count") or 1),
        "unit": p["unit"],
        "facility": _facility(p),
        "day": format_day(starts, "short"),
        "start": clock(starts),
        "end": clock(ends, end=True),
        "refund": format_yen(int(p.get("refund") or 0)),
    }


def _workspace_booked(p: dict) -> str:
    d = _desk(p)
    if d["count"] > 1:
        return gettext(
            "%(count)d workspace bookings at %(facility)s, the first %(day)s %(start)s–%(end)s",
            **d,
        )
    return gettext("Workspace booked: %(unit)s at %(facility)s, %(day)s %(start)s–%(end)s", **d)


def _workspace_cancelled(p: dict) -> str:
    d = _desk(p)
    if d["count"] > 1:
        return gettext(
            "%(count)d workspace bookings at %(facility)s were cancelled with their stay,"
            " %(refund)s back",
            **d,
        )
    if p.get("with_stay"):
        return gettext(
            "Workspace booking %(number)s, %(unit)s at %(facility)s, %(day)s"
            " %(start)s–%(end)s, was cancelled with its stay, %(refund)s back",
            **d,
        )
    return gettext(
        "Workspace booking %(number)s, %(unit)s at %(facility)s, %(day)s %(start)s–%(end)s,"
        " was cancelled, %(refund)s back",
        **d,
    )


def _workspace_operator_cancelled(p: dict) -> str:
    """For the facility's operators: which time is free again (no money)."""
    d = _desk(p)
    if d["count"] > 1:
        return gettext(
            "%(count)d workspace bookings at %(facility)s were cancelled, the first"
            " %(day)s %(start)s–%(end)s",
            **d,
        )
    return gettext(
        "Workspace booking %(number)s, %(unit)s at %(facility)s, %(day)s %(start)s–%(end)s,"
        " was cancelled",
        **d,
    )


def _moved(p: dict) -> dict:
    """A changed workspace booking: where and when it was, and is now (Tokyo clock)."""
    d = _desk(p)
    starts = datetime.fromisoformat(str(p["old_starts_at"]))
    ends = datetime.fromisoformat(str(p["old_ends_at"]))
    d.update(
        old_unit=p["old_unit"],
        old_day=format_day(starts, "short"),
        old_start=clock(starts),
        old_end=clock(ends, end=True),
    )
    return d


def _workspace_changed(p: dict) -> str:
    """For the employee: the move, the new price and what it did to the company's credit."""
    d = _moved(p)
    d.update(
        price=format_yen(int(p["price"])),
        charged=format_yen(int(p.get("charged") or 0)),
        refunded=format_yen(int(p.get("refunded") or 0)),
        kept=format_yen(int(p.get("kept") or 0)),
    )
    if int(p.get("charged") or 0):
        return gettext(
            "Workspace booking %(number)s changed: %(old_unit)s, %(old_day)s"
            " %(old_start)s–%(old_end)s → %(unit)s at %(facility)s, %(day)s"
            " %(start)s–%(end)s, now %(price)s, %(charged)s more charged",
            **d,
        )
    if int(p.get("kept") or 0):
        return gettext(
            "Workspace booking %(number)s changed: %(old_unit)s, %(old_day)s"
            " %(old_start)s–%(old_end)s → %(unit)s at %(facility)s, %(day)s"
            " %(start)s–%(end)s, now %(price)s, %(refunded)s back, %(kept)s kept",
            **d,
        )
    if int(p.get("refunded") or 0):
        return gettext(
            "Workspace booking %(number)s changed: %(old_unit)s, %(old_day)s"
            " %(old_start)s–%(old_end)s → %(unit)s at %(facility)s, %(day)s"
            " %(start)s–%(end)s, now %(price)s, %(refunded)s back",
            **d,
        )
    return gettext(
        "Workspace booking %(number)s changed: %(old_unit)s, %(old_day)s"
        " %(old_start)s–%(old_end)s → %(unit)s at %(facility)s, %(day)s"
        " %(start)s–%(end)s, now %(price)s",
        **d,
    )


def _workspace_operator_changed(p: dict) -> str:
    """For the facility's operators: which time was given up and which taken (no money)."""
    return gettext(
        "Workspace booking %(number)s at %(facility)s moved: %(old_unit)s, %(old_day)s"
        " %(old_start)s–%(old_end)s → %(unit)s, %(day)s %(start)s–%(end)s",
        **_moved(p),
    )


def _application(p: dict) -> str:
    if p["kind"] == "operator":
        return gettext("New sign-up application from the operator %(name)s", name=p["name"])
    return gettext("New sign-up application from the company %(name)s", name=p["name"])


# Each notice kind's sentence, from its params, in the reader's language.
TEXTS: dict[str, Callable[[dict], str]] = {
    "approval_requested": lambda p: gettext(
        "Stay %(number)s at %(facility)s, %(check_in)s–%(check_out)s, waits for your approval",
        **_booking(p),
    ),
    "operator_booking_created": lambda p: gettext(
        "New booking %(number)s at %(facility)s, %(check_in)s–%(check_out)s", **_booking(p)
    ),
    "operator_booking_cancelled": lambda p: gettext(
        "Booking %(number)s at %(facility)s, %(check_in)s–%(check_out)s, was cancelled",
        **_booking(p),
    ),
    "operator_booking_changed": lambda p: gettext(
        "Booking %(number)s at %(facility)s changed: now %(check_in)s–%(check_out)s",
        **_booking(p),
    ),
    "company_booking_no_show": lambda p: gettext(
        "Booking %(number)s at %(facility)s, %(check_in)s–%(check_out)s, was marked as a no-show",
        **_booking(p),
    ),
    "calendar_conflict": lambda p: (
        ngettext(
            "Calendar conflict at %(facility)s, %(unit)s: an imported event overlaps a direct"
            " stay from %(first_night)s (%(num)d night)",
            "Calendar conflict at %(facility)s, %(unit)s: an imported event overlaps a direct"
            " stay from %(first_night)s (%(num)d nights)",
            int(p["nights"]),
            facility=_facility(p),
            unit=p["unit"],
            first_night=_day(p["first_night"]),
        )
        if p.get("direct_stay")
        else ngettext(
            "Calendar conflict at %(facility)s, %(unit)s: an imported event overlaps a booking"
            " from %(first_night)s (%(num)d night)",
            "Calendar conflict at %(facility)s, %(unit)s: an imported event overlaps a booking"
            " from %(first_night)s (%(num)d nights)",
            int(p["nights"]),
            facility=_facility(p),
            unit=p["unit"],
            first_night=_day(p["first_night"]),
        )
    ),
    "feed_failing": lambda p: gettext(
        "The calendar %(feed)s of %(facility)s, %(unit)s, has not synced since %(since)s",
        feed=p["feed"],
        facility=_facility(p),
        unit=p["unit"],
        since=_instant(p["since"]),
    ),
    "invoice_issued": lambda p: gettext(
        "Invoice %(number)s issued: %(total)s",
        number=p["number"],
        total=format_yen(int(p["total"])),
    ),
    "payment_failed": lambda p: gettext(
        "A payment failed. Update the payment method by %(until)s to keep booking stays.",
        until=_instant(p["grace_until"]),
    ),
    "seats_full": lambda p: gettext(
        "Someone could not join: every seat of the subscription is taken."
    ),
    "credit_low": lambda p: gettext(
        "Stay credit is low: %(balance)s left of %(grant)s this period.",
        balance=format_yen_plain(int(p["balance"])),
        grant=format_yen_plain(int(p["grant"])),
    ),
    "refusals_many": lambda p: ngettext(
        "An employee's bookings were refused %(num)d time today.",
        "An employee's bookings were refused %(num)d times today.",
        int(p["count"]),
    ),
    "application_submitted": _application,
    "workspace_booked": _workspace_booked,
    "workspace_cancelled": _workspace_cancelled,
    "workspace_operator_cancelled": _workspace_operator_cancelled,
    "workspace_changed": _workspace_changed,
    "workspace_operator_changed": _workspace_operator_changed,
    "workspace_no_show": lambda p: gettext(
        "Nobody checked in at %(unit)s, %(facility)s, %(day)s %(start)s: the rest of the"
        " time was released, %(refund)s back",
        **_desk(p),
    ),
    **REGION_NOTICE_TEXTS,
}


def kind_label(kind: str) -> str:
    found = BY_NAME.get(kind)
    return str(found.label) if found else kind


def notice_text(kind: str, params: Notice | dict | str) -> str:
    """What a notice says, in the reader's language. A param missing or malformed (an
    older row, a kind added later) gives the kind's label instead of an error."""
    text = TEXTS.get(kind)
    if text is None:
        return kind_label(kind)
    try:
        return text(_params(params))
    except (KeyError, TypeError, ValueError, AttributeError):
        return kind_label(kind)


# --- The operator's dashboard ------------------------------------------------------------


@dataclass(frozen=True)
class CalendarAlerts:
    """What the top of the operator's dashboard warns of: open conflicts with stays
    (bookings and direct stays) and feeds not syncing, each counted with its first few."""

    conflict_count: int
    conflicts: list[CalendarConflict]
    failing_count: int
    failing: list[feeds.FeedHealth]

    def __bool__(self) -> bool:
        return bool(self.conflict_count or self.failing_count)


def feed_needs_care(row: feeds.FeedHealth, now: datetime) -> bool:
    """Its last fetch failed (``feed_health`` says "failing", or "stale" with an error
    since the last success), or it has not synced for FEED_FAILING_AFTER (never, since
    it was added). A paused feed (room or facility off sale) is not synced on purpose."""
    if row.state == "paused":
        return False
    feed = row.feed
    last = feed.last_success_at
    if row.state == "failing" or (
        feed.last_error_at and (last is None or feed.last_error_at > last)
    ):
        return True
    since = last or feed.created_at
    return since is not None and since < now - FEED_FAILING_AFTER


def calendar_alerts(
    facility_ids: Sequence[int], now: datetime, interval_minutes: int
) -> CalendarAlerts:
    """Open conflicts and feeds needing care among these facilities (the operator's own)."""
    ids = list(facility_ids)
    conflicts = feeds.open_conflicts(ids)
    failing = [r for r in feeds.feed_health(ids, now, interval_minutes) if feed_needs_care(r, now)]
    return CalendarAlerts(
        len(conflicts), conflicts[:DASHBOARD_ROWS], len(failing), failing[:DASHBOARD_ROWS]
    )
