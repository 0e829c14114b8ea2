"""A facility is listed (found, shown and bookable) only once reviewed by the platform
admin, while open, and while its operator is not suspended; booked stays are kept."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from booking import services
from booking.models import Booking
from core.extensions import db as _db
from facilities.models import Facility
from tests.conftest import NOW, days


def _search(client) -> str:
    """The results list of a search (not the employee's next stay above it)."""
    query = {"check_in": days(10).isoformat(), "check_out": days(12).isoformat()}
    page = client.get("/", query_string=query).get_data(as_text=True)
    start = page.find('data-testid="results"')
    return page[start:] if start >= 0 else ""


def _listed_ids() -> set[int]:
    return set(_db.session.scalars(select(Facility.id).where(Facility.listed)))


def test_an_unreviewed_facility_is_neither_found_nor_shown_nor_bookable(
    client, login, make_employee, make_unit, make_facility
):
    employee = make_employee()
    login(employee)
    reviewed = make_unit(facility=make_facility(name_ja="審査済みの宿"))
    waiting = make_unit(facility=make_facility(name_ja="審査待ちの宿", reviewed_at=None))

    page = _search(client)
    assert "審査済みの宿" in page and "審査待ちの宿" not in page
    assert client.get(f"/facilities/{waiting.facility_id}").status_code == 404
    assert client.get(f"/facilities/{reviewed.facility_id}").status_code == 200
    with pytest.raises(services.BookingNotFound):
        services.quote_stay(employee, services.StayRequest(waiting.id, days(10), days(12), 1), NOW)
    assert _listed_ids() == {reviewed.facility_id}


def test_a_suspended_operator_leaves_search_but_its_stays_are_kept(
    client, login, make_employee, make_unit, make_facility, make_operator
):
    employee = make_employee()
    operator = make_operator(name="休止する運営者")
    unit = make_unit(facility=make_facility(operator=operator, name_ja="休止運営者の宿"))
    booking = services.book_stay(
        employee, services.StayRequest(unit.id, days(20), days(22), 1), NOW
    )
    _db.session.commit()
    login(employee)
    assert "休止運営者の宿" in _search(client)

    operator.suspended_at = NOW
    _db.session.commit()
    assert "休止運営者の宿" not in _search(client)
    assert client.get(f"/facilities/{unit.facility_id}").status_code == 404
    assert unit.facility_id not in _listed_ids()
    with pytest.raises(services.BookingNotFound):
        services.book_stay(employee, services.StayRequest(unit.id, days(30), days(31), 1), NOW)
    _db.session.rollback()
    # The stay booked before stays, and its page still opens for the employee.
    assert _db.session.get(Booking, booking.id).status == "confirmed"
    assert client.get(f"/stays/{booking.id}").status_code == 200

    operator.suspended_at = None
    _db.session.commit()
    assert "休止運営者の宿" in _search(client)


def test_a_closed_facility_is_not_listed_even_when_reviewed(make_facility):
    closed = make_facility(active=False)
    open_ = make_facility()
    assert closed.listed is False and open_.listed is True
    assert _listed_ids() == {open_.id}
