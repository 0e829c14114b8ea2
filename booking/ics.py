"""An .ics file of one stay, for the employee's own calendar."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from flask_babel import gettext
from icalendar import Calendar, Event

from booking.models import Booking
from regions.models import ProgrammeSignup


def stay_description(booking: Booking) -> str:
    """The stay's event text in the current language: the facility's check-in and
    check-out times and the booking number (the stay page's file and the mails' alike)."""
    facility = booking.unit.facility
    return gettext(
        "Check-in from %(check_in)s, check-out by %(check_out)s. Booking number %(number)d.",
        check_in=f"{facility.check_in_time:%H:%M}",
        check_out=f"{facility.check_out_time:%H:%M}",
        number=booking.id,
    )


def stay_calendar(
    booking: Booking,
    domain: str,
    now: datetime,
    locale: str,
    description: str,
    method: str = "PUBLISH",
    programmes: Sequence[ProgrammeSignup] = (),
) -> bytes:
    """All-day event over [check_in, check_out): DTEND is exclusive, so it ends on check-out day.

    The UID is the stay's own (``booking-<id>@<domain>``), whether the file is downloaded
    from the stay's page or attached to its confirmation mail, so a calendar that reads
    both keeps one event. ``method``: the iTIP method (PUBLISH: a copy to keep, no reply
    asked for). ``programmes``: the places joined for the stay, each a timed event of
    its own (``programme-signup-<id>@<domain>``).
    """
    facility = booking.unit.facility
    cal = Calendar()
    cal.add("prodid", "-//Engawa//Stays//JA")
    cal.add("version", "2.0")
    cal.add("method", method)
    event = Event()
    event.add("uid", f"booking-{booking.id}@{domain}")
    event.add("dtstamp", now)
    event.add("dtstart", booking.check_in)
    event.add("dtend", booking.check_out)
    event.add("summary", f"{facility.name_for(locale)} ({booking.unit.name})")
    event.add(
        "location", f"{facility.prefecture_name(locale)} {facility.municipality} {facility.address}"
    )
    event.add("description", description)
    event.add("status", "CONFIRMED" if booking.is_live else "CANCELLED")
    cal.add_component(event)
    for signup in programmes:
        cal.add_component(_programme_event(signup, domain, now, locale))
    return cal.to_ical()


def _programme_event(signup: ProgrammeSignup, domain: str, now: datetime, locale: str) -> Event:
    """A programme session joined for the stay, from its start to its end (UTC)."""
    session = signup.session
    programme = session.programme
    event = Event()
    event.add("uid", f"programme-signup-{signup.id}@{domain}")
    event.add("dtstamp", now)
    event.add("dtstart", session.starts_at)
    event.add("dtend", session.ends_at)
    event.add("summary", programme.title(locale))
    if programme.meeting_point:
        event.add("location", programme.meeting_point)
    event.add("status", "CONFIRMED")
    return event
