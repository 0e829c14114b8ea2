"""The operators' 07:00 summary tells the day as it is: a guest who checked out early
left on the day they left, not on the date booked; a no-show neither arrives nor
leaves."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from accounts import events as ev
from accounts.events import Event
from accounts.models import Role
from booking import front_desk
from core.db import TOKYO
from core.extensions import db as _db
from notifications import stay_jobs
from notifications.mail_context import day_at_facilities
from tests.conftest import days
from tests.facilities.test_services import stay
from tests.notifications.mailing import queued, queued_text, run_outbox
from tests.register_helpers import fill_register


def tokyo(day: int, hour: int, minute: int = 0) -> datetime:
    """An instant of December 2026 in Japan time."""
    return datetime(2026, 12, day, hour, minute, tzinfo=TOKYO).astimezone(UTC)


def digests() -> list[Event]:
    _db.session.rollback()  # what the job committed
    return list(_db.session.scalars(select(Event).where(Event.type == ev.OPERATOR_DIGEST)))


@pytest.fixture
def desk(db, make_user, make_unit, unit):
    operator = make_user(Role.OPERATOR, operator=unit.facility.operator, locale="en")
    other = make_unit(facility=unit.facility, name="102 洋室")
    return operator, unit, other


def stay_left_early(db, operator, unit, employee, left_at: datetime):
    """Booked Dec 1 – Dec 5, checked in on Dec 1, checked out at ``left_at``."""
    booking = stay(db, employee, unit, days(0), days(4))
    fill_register(booking)
    front_desk.check_in(operator, booking.id, tokyo(1, 16))
    front_desk.check_out(operator, booking.id, left_at)
    db.session.commit()
    return booking


def test_an_early_leaver_is_not_a_departure_on_the_date_booked(app, db, desk, make_employee):
    operator, unit, _other = desk
    stay_left_early(db, operator, unit, make_employee(), tokyo(2, 9))  # booked to leave Dec 5

    assert "0 daily summaries" in stay_jobs.operator_digest(tokyo(5, 7))
    assert day_at_facilities(unit.facility.operator_id, days(4)) == []
    assert digests() == []


def test_an_early_leaver_is_a_departure_on_the_day_they_left(app, db, desk, make_employee):
    operator, unit, other = desk
    leaver = stay_left_early(db, operator, other, make_employee(), tokyo(3, 6, 30))
    absent = stay(db, make_employee(), unit, days(2), days(4))  # due Dec 3, never came
    front_desk.mark_no_show(operator, absent.id, tokyo(3, 6, 45))
    db.session.commit()

    assert "1 daily summaries" in stay_jobs.operator_digest(tokyo(3, 7))

    [day] = day_at_facilities(unit.facility.operator_id, days(2))
    assert ([b.id for b in day.arrivals], [b.id for b in day.departures]) == ([], [leaver.id])
    assert day.rooms_to_clean == ["102 洋室"]
    run_outbox(tokyo(3, 7, 1))
    [mail] = queued("operator_digest")
    body = queued_text(mail)
    assert f"#{leaver.id}" in body and f"#{absent.id}" not in body
    assert "102 洋室" in body
    assert day_at_facilities(unit.facility.operator_id, days(4)) == []  # not again on Dec 5
