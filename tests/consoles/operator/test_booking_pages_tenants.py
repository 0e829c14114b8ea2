"""Tenant walls of the operator's stay pages: another organisation's stays, facilities,
rooms and direct stays answer 404 on every route (GET and POST) exactly like ids that do
not exist, and nothing of theirs changes."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import func, select

from accounts.models import Role
from availability import direct
from availability.models import Block, DirectStay, Occupancy
from billing import ledger
from booking import services
from booking.models import Booking
from tests.conftest import NOW, days
from tests.register_helpers import fill_register


def book(db, user, unit, check_in: int, check_out: int) -> Booking:
    booking = services.book_stay(
        user, services.StayRequest(unit.id, days(check_in), days(check_out), 1), NOW
    )
    db.session.commit()
    fill_register(booking)  # check-in waits for a complete guest register
    return booking


def world_state(db) -> tuple:
    """Every stay, night, direct stay and credit balance: what a refused request leaves."""
    db.session.rollback()
    db.session.expire_all()
    bookings = db.session.execute(
        select(
            Booking.id,
            Booking.status,
            Booking.unit_id,
            Booking.check_in,
            Booking.check_out,
            Booking.total_price,
            Booking.operator_note,
            Booking.cancel_reason,
        ).order_by(Booking.id)
    ).all()
    nights = db.session.execute(
        select(
            Occupancy.unit_id, Occupancy.night, Occupancy.booking_id, Occupancy.block_id
        ).order_by(Occupancy.unit_id, Occupancy.night)
    ).all()
    directs = db.session.execute(select(DirectStay.id, DirectStay.guest_name)).all()
    blocks = db.session.scalar(select(func.count()).select_from(Block))
    balances = [ledger.ledger_sum(b.company_id) for b in db.session.scalars(select(Booking))]
    return [tuple(r) for r in bookings], [tuple(r) for r in nights], directs, blocks, balances


@pytest.fixture
def walls(db, client, login, make_user, make_company, make_facility, make_unit):
    """Two organisations, each with a facility, a room, a stay and a direct stay; signed
    in as an operator of the first."""
    company = make_company(credit=1_000_000)
    employee = make_user(Role.EMPLOYEE, company=company)
    ours, theirs = {}, {}
    for side in (ours, theirs):
        operator = make_user(Role.OPERATOR, locale="en")
        facility = make_facility(operator=operator.operator)
        unit = make_unit(facility=facility, base_price=10_000)
        side.update(operator=operator, facility=facility, unit=unit)
        side["booking"] = book(db, employee, unit, 0, 3)
        side["ahead"] = book(db, employee, unit, 5, 7)
        side["direct"] = direct.record_direct_stay(
            operator,
            unit,
            days(10),
            days(12),
            guest_name="Walk-in",
            guests=1,
            nightly_price=0,
            note="",
            now=NOW,
        )
        db.session.commit()
    login(ours["operator"])
    return ours, theirs


FOREIGN_GETS = [
    "/operator/facilities/{facility}/bookings",
    "/operator/bookings/{booking}",
    "/operator/bookings/{ahead}/move",
    "/operator/bookings/{ahead}/move?unit_id={unit}&check_in={d5}&check_out={d8}",
    "/operator/bookings/{ahead}/move?unit_id={our_unit}&check_in={d5}&check_out={d8}",
    "/operator/bookings/{ahead}/cancel",
    "/operator/facilities/{facility}/direct-stays/new",
    "/operator/facilities/{facility}/direct-stays/new?unit_id={unit}&start={d5}&end={d8}",
    "/operator/direct-stays/{direct}",
]
FOREIGN_POSTS = [
    ("/operator/bookings/{booking}/check-in", {}),
    ("/operator/bookings/{booking}/check-out", {}),
    ("/operator/bookings/{booking}/no-show", {}),
    ("/operator/bookings/{booking}/note", {"note": "mine now"}),
    (
        "/operator/bookings/{ahead}/move",
        {"unit_id": "{unit}", "check_in": "{d5}", "check_out": "{d8}", "expected_net": "0"},
    ),
    (
        "/operator/bookings/{ahead}/move",
        {"unit_id": "{our_unit}", "check_in": "{d5}", "check_out": "{d8}"},
    ),
    ("/operator/bookings/{ahead}/cancel", {"reason": "because"}),
    (
        "/operator/facilities/{facility}/direct-stays/new",
        {
            "unit": "{unit}",
            "check_in": "{d20}",
            "check_out": "{d21}",
            "guest_name": "x",
            "guests": "1",
        },
    ),
    (
        "/operator/facilities/{facility}/direct-stays/new",
        {
            "unit": "{our_unit}",
            "check_in": "{d20}",
            "check_out": "{d21}",
            "guest_name": "x",
            "guests": "1",
        },
    ),
    ("/operator/direct-stays/{direct}/cancel", {}),
]


def ids_of(side: dict, ours: dict) -> dict:
    return {
        "facility": side["facility"].id,
        "booking": side["booking"].id,
        "ahead": side["ahead"].id,
        "unit": side["unit"].id,
        "our_unit": ours["unit"].id,
        "direct": side["direct"].id,
        "d5": days(5).isoformat(),
        "d8": days(8).isoformat(),
        "d20": days(20).isoformat(),
        "d21": days(21).isoformat(),
    }


def fill(template: str, ids: dict) -> str:
    return template.format(**ids)


MISSING = {"booking": 999_999, "ahead": 999_999, "facility": 999_999, "direct": 999_999}
HUGE = {"booking": 2**40, "ahead": 2**40, "facility": 2**40, "direct": 2**40}


@pytest.mark.parametrize("which", ["foreign", "missing", "huge"])
def test_another_organisations_ids_answer_404_everywhere_and_change_nothing(
    db, client, walls, which
):
    ours, theirs = walls
    ids = ids_of(theirs, ours)
    ids.update({"foreign": {}, "missing": MISSING, "huge": HUGE}[which])
    before = world_state(db)

    gets = {url: client.get(fill(url, ids)).status_code for url in FOREIGN_GETS}
    posts = {
        f"POST {url} {sorted(data)}": client.post(
            fill(url, ids), data={k: fill(v, ids) for k, v in data.items()}
        ).status_code
        for url, data in FOREIGN_POSTS
    }

    assert gets == dict.fromkeys(gets, 404)
    assert posts == dict.fromkeys(posts, 404)
    assert world_state(db) == before


def test_the_same_routes_work_for_the_operators_own_ids(db, client, walls):
    ours, _theirs = walls
    ids = ids_of(ours, ours)

    gets = {url: client.get(fill(url, ids)).status_code for url in FOREIGN_GETS}

    assert gets == dict.fromkeys(gets, 200)


def test_a_stay_cannot_be_moved_into_another_organisations_room(db, client, walls):
    ours, theirs = walls
    before = world_state(db)
    values = {
        "unit_id": theirs["unit"].id,
        "check_in": days(5).isoformat(),
        "check_out": days(7).isoformat(),
    }

    shown = client.get(f"/operator/bookings/{ours['ahead'].id}/move", query_string=values)
    posted = client.post(f"/operator/bookings/{ours['ahead'].id}/move", data=values)

    assert shown.status_code == posted.status_code == 422
    for response in (shown, posted):
        assert "Choose a room of this facility that is on sale." in response.get_data(as_text=True)
    assert world_state(db) == before


def test_a_direct_stay_cannot_be_recorded_in_another_organisations_room(db, client, walls):
    ours, theirs = walls
    before = world_state(db)

    response = client.post(
        f"/operator/facilities/{ours['facility'].id}/direct-stays/new",
        data={
            "unit": theirs["unit"].id,
            "check_in": days(20).isoformat(),
            "check_out": days(21).isoformat(),
            "guest_name": "x",
            "guests": "1",
        },
    )

    assert response.status_code == 400
    assert "Choose one of this facility's rooms." in html.unescape(response.get_data(as_text=True))
    assert world_state(db) == before


def test_the_list_shows_only_the_operators_own_stays(db, client, walls):
    ours, theirs = walls

    page = client.get(f"/operator/facilities/{ours['facility'].id}/bookings").get_data(as_text=True)

    assert f'data-booking-id="{ours["booking"].id}"' in page
    assert f'data-booking-id="{theirs["booking"].id}"' not in page
    assert f'data-direct-id="{theirs["direct"].id}"' not in page
