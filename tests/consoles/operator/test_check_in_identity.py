"""Check-in on the operator's stay page waits for the guest register: an incomplete one
shows what is missing and a link to fill it in instead of the button; a complete one
asks the front desk to tick that it checked each guest's identity against it (without
the tick nothing happens); after check-in the page says who checked and when. The stay
page shows the register's state. SQLite and PostgreSQL (the ``app`` fixture).

The operator reads English. NOW is 2026-12-01 12:00 in Tokyo.
"""

from __future__ import annotations

import re

import pytest

from booking.models import Booking, BookingStatus
from tests.consoles.operator.register_world import (
    BOOKER,
    COMPANION,
    book,
    build_world,
    fill,
    png,
    reads,
    text,
)

CHECKBOX = "identity_checked"


@pytest.fixture
def world(db, client, login, make_user, make_company, make_facility, make_unit):
    w = build_world(db, make_user, make_company, make_facility, make_unit)
    login(w.operator)
    return w


def stay_of(db, booking_id: int) -> Booking:
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(Booking, booking_id)


def check_in(client, booking_id: int, **data):
    return client.post(f"/operator/bookings/{booking_id}/check-in", data=data)


def test_a_complete_register_asks_for_the_identity_check_before_check_in(db, client, world):
    page = text(client.get(f"/operator/bookings/{world.full.id}"))

    desk = page.split('data-testid="check-in-desk"')[1].split('/no-show"')[0]
    assert re.search(rf'<input[^>]*name="{CHECKBOX}"[^>]*required', desk)
    assert "I checked each guest's identity against the guest register" in desk
    assert re.search(r'<label class="check"><input[^>]*id="identity_checked"', desk)
    assert ">Check in</button>" in desk
    register = page.split('data-testid="stay-register"')[1].split("</section>")[0]
    assert "Complete" in register and "Every guest of this stay is in the register." in register
    assert f'href="/operator/bookings/{world.full.id}/guests"' in register
    assert "Identity checked" not in page.split('data-testid="stay-facts"')[1].split("</dl>")[0]


def test_without_the_tick_nothing_happens(db, client, world):
    before = reads(db)

    response = check_in(client, world.full.id)

    page = text(response)
    assert response.status_code == 400
    assert "Check each guest's identity against the register, then tick this." in page
    assert 'aria-invalid="true"' in page and 'aria-describedby="identity-checked-error"' in page
    stay = stay_of(db, world.full.id)
    assert stay.status == BookingStatus.CONFIRMED and stay.identity_checked_by_id is None
    assert reads(db) == before


def test_with_the_tick_the_guest_is_checked_in_and_the_page_says_who_checked(db, client, world):
    response = check_in(client, world.full.id, **{CHECKBOX: "y"})

    assert response.status_code == 303
    stay = stay_of(db, world.full.id)
    assert stay.status == BookingStatus.CHECKED_IN
    assert stay.identity_checked_by_id == world.operator.id
    assert stay.identity_checked_at is not None
    assert reads(db)[-1] == (world.full.id, "check", world.operator.id)
    page = text(client.get(response.headers["Location"]))
    assert "has checked in" in page
    facts = page.split('data-testid="identity-checked"')[1].split("</dd>")[0]
    assert "By Kenji Front on 2026/12/01 12:00" in facts
    assert 'data-testid="check-in-desk"' not in page  # done: the check-out button instead


def test_an_incomplete_register_shows_what_is_missing_instead_of_the_button(db, client, world):
    partial = client.get(f"/operator/bookings/{world.partial.id}")  # 1 of 2 guests
    blank = client.get(f"/operator/bookings/{world.blank.id}")  # not yet arrived

    page = text(partial)
    assert partial.status_code == 200
    assert 'data-testid="check-in-desk"' not in page  # the stay begins on the 4th
    register = page.split('data-testid="stay-register"')[1].split("</section>")[0]
    assert "Incomplete" in register and "1 of 2 guests registered" in register
    assert "Fill in the guest register" in register
    assert "Incomplete" in text(blank)


def test_on_arrival_day_an_incomplete_register_blocks_check_in(db, client, world, make_unit):
    room = make_unit(facility=world.facility, name="103 Annex", capacity=2)
    today = book(db, world.employee, room, 0, 2, guests=2)
    fill(db, today, [BOOKER, COMPANION], by=world.employee)  # the passport image is missing

    page = text(client.get(f"/operator/bookings/{today.id}"))
    desk = page.split('data-testid="check-in-desk"')[1].split('/no-show"')[0]

    assert "Check-in waits for the guest register." in desk
    assert "passport image of guest 2" in desk
    assert f'href="/operator/bookings/{today.id}/guests"' in desk
    assert "<button" not in desk and CHECKBOX not in desk
    # Posted anyway (an old page): the service refuses, nothing changes.
    response = check_in(client, today.id, **{CHECKBOX: "y"})
    assert response.status_code == 303
    assert "The guest register of this stay is not complete" in text(
        client.get(response.headers["Location"])
    )
    assert stay_of(db, today.id).status == BookingStatus.CONFIRMED
    # Once the image is there, the button is.
    fill(db, today, [BOOKER, COMPANION], by=world.employee, images={2: png()})
    assert CHECKBOX in text(client.get(f"/operator/bookings/{today.id}"))


def test_a_satellite_office_stay_checks_in_without_a_register(db, client, world):
    page = text(client.get(f"/operator/bookings/{world.desk.id}"))

    assert 'data-testid="stay-register"' not in page
    assert CHECKBOX not in page
    response = check_in(client, world.desk.id)

    assert response.status_code == 303
    assert stay_of(db, world.desk.id).status == BookingStatus.CHECKED_IN


def test_another_organisations_stay_answers_404(db, client, world):
    for url in (f"/operator/bookings/{world.theirs.id}",):
        assert client.get(url).status_code == 404
    response = check_in(client, world.theirs.id, **{CHECKBOX: "y"})
    assert response.status_code == 404
    assert stay_of(db, world.theirs.id).status == BookingStatus.CONFIRMED


def test_a_cancelled_stay_shows_no_register(client, world):
    page = text(client.get(f"/operator/bookings/{world.gone.id}"))
    assert 'data-testid="stay-register"' not in page
