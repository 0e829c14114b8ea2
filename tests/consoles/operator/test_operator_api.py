"""The operator JSON API v1 at work: the tenant wall on every endpoint, moves that lose
to a taken night or a closed room and change nothing, the front desk, the figures of a
house counted by hand, and closing then reopening nights. SQLite and PostgreSQL (the
``app`` fixture). NOW is 2026-12-01 12:00 in Tokyo; ``days(n)`` is n days after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy import func, select

from accounts.models import Company, Role, User
from availability.models import Block, Occupancy
from billing import ledger
from booking import cancellation, services
from booking.models import Booking, BookingStatus
from facilities.models import Facility, Unit
from tests.conftest import NOW, bearer, days
from tests.register_helpers import fill_register

API = "/api/v1/operator"
PRICE = 10_000  # the room's nightly price (no demand pricing configured: the base price)
OTHER_PRICE = 8_000
CREDIT = 1_000_000


# --- a house, shared with test_operator_api_contract.py ----------------------------------


@dataclass
class House:
    """One operator organisation's facility with two rooms, a company's employee, and
    the operator's token."""

    operator: User
    headers: dict[str, str]
    facility: Facility
    room: Unit
    other_room: Unit
    company: Company
    employee: User


def build_house(db, make_user, make_company, make_facility, make_unit, **names) -> House:
    company = make_company(name=names.get("company", "株式会社さとやま"), credit=CREDIT)
    employee = make_user(Role.EMPLOYEE, company=company, name=names.get("guest", "山田 花子"))
    facility = make_facility(name_ja=names.get("facility", "里山の宿"))
    room = make_unit(facility=facility, name="101 和室", capacity=2, base_price=PRICE)
    other = make_unit(facility=facility, name="102 洋室", capacity=3, base_price=OTHER_PRICE)
    operator = make_user(Role.OPERATOR, operator=facility.operator)
    return House(operator, bearer(db, operator), facility, room, other, company, employee)


def book(db, guest: User, unit: Unit, check_in: int, check_out: int, guests: int = 1) -> Booking:
    booking = services.book_stay(
        guest, services.StayRequest(unit.id, days(check_in), days(check_out), guests), NOW
    )
    db.session.commit()
    fill_register(booking)  # check-in waits for a complete guest register
    return booking


def iso(day: date) -> str:
    return day.isoformat()


def period(start: int, end: int) -> dict[str, str]:
    return {"from": iso(days(start)), "to": iso(days(end))}


def error_code(response) -> str:
    body = response.get_json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]["code"]


def booking_state(db, booking_id: int) -> tuple:
    """What a request may touch of a stay, to prove a refused one touched nothing."""
    db.session.rollback()
    db.session.expire_all()
    b = db.session.get(Booking, booking_id)
    return (
        (b.status, b.unit_id, b.check_in, b.check_out, b.total_price, b.released_on),
        [(n.night, n.price) for n in b.nights],
        sorted(
            tuple(row)
            for row in db.session.execute(
                select(Occupancy.unit_id, Occupancy.night).where(Occupancy.booking_id == b.id)
            )
        ),
        ledger.account_of(b.company_id).credit_balance,
        db.session.scalar(select(func.count()).select_from(Occupancy)),
        db.session.scalar(select(func.count()).select_from(Block)),
    )


@pytest.fixture
def house(db, make_user, make_company, make_facility, make_unit) -> House:
    return build_house(db, make_user, make_company, make_facility, make_unit)


# --- the tenant wall -------------------------------------------------------------------


@pytest.fixture
def neighbour(db, make_user, make_company, make_facility, make_unit) -> House:
    """Another operator organisation, with a house and a stay of its own."""
    return build_house(
        db,
        make_user,
        make_company,
        make_facility,
        make_unit,
        company="隣の会社",
        guest="隣 太郎",
        facility="隣の宿",
    )


def test_another_organisations_ids_answer_404_everywhere_and_change_nothing(
    client, db, house, neighbour
):
    stay = book(db, house.employee, house.room, 0, 3)
    theirs = book(db, neighbour.employee, neighbour.room, 5, 7)
    before = booking_state(db, stay.id)
    as_b = neighbour.headers
    facility, room, other = house.facility.id, house.room.id, house.other_room.id
    move_body = {"unit_id": house.other_room.id, "check_in": iso(days(0)), "check_out": "x"}
    valid_move = {**move_body, "check_out": iso(days(3))}
    probes = [
        ("GET", "/bookings", {"query_string": {"facility_id": facility, **period(0, 30)}}),
        ("GET", f"/facilities/{facility}/kpis", {"query_string": period(0, 30)}),
        ("POST", f"/bookings/{stay.id}/move", {"json": valid_move}),
        ("POST", f"/bookings/{stay.id}/move", {"json": move_body}),  # 404 before a bad body
        ("POST", f"/bookings/{stay.id}/cancel", {"json": {"reason": "満室"}}),
        ("POST", f"/bookings/{stay.id}/check-in", {}),
        ("POST", f"/bookings/{stay.id}/check-out", {}),
        ("POST", f"/bookings/{stay.id}/no-show", {}),
        ("PUT", f"/units/{other}/closures", {"json": {**period(10, 12), "reason": "other"}}),
        ("PUT", f"/units/{other}/closures", {"json": {"from": "garbage"}}),
        ("DELETE", f"/units/{room}/closures", {"json": period(0, 3)}),
        ("DELETE", f"/units/{room}/closures", {"query_string": period(0, 3)}),
        # Their own stay into this organisation's room: the room is not theirs.
        (
            "POST",
            f"/bookings/{theirs.id}/move",
            {"json": {"unit_id": room, "check_in": iso(days(5)), "check_out": iso(days(7))}},
        ),
    ]
    for method, path, kwargs in probes:
        response = client.open(API + path, method=method, headers=as_b, **kwargs)
        assert response.status_code == 404, (method, path, response.get_json())
        assert error_code(response) == "not_found"
    assert booking_state(db, stay.id) == before

    # Lists show only their own.
    listed = client.get(f"{API}/facilities", headers=as_b).get_json()["facilities"]
    assert [f["id"] for f in listed] == [neighbour.facility.id]
    stays = client.get(f"{API}/bookings", query_string=period(0, 30), headers=as_b).get_json()
    assert [b["id"] for b in stays["bookings"]] == [theirs.id]


def test_ids_that_match_nothing_answer_404(client, house):
    for method, path in [
        ("GET", "/facilities/999999/kpis?from=2026-12-01&to=2026-12-02"),
        ("POST", "/bookings/999999/check-in"),
        ("POST", "/bookings/2147483648/check-in"),  # beyond the id column: not found either
        ("PUT", "/units/99999999999/closures"),
        ("DELETE", "/units/999999/closures?from=2026-12-01&to=2026-12-02"),
    ]:
        response = client.open(API + path, method=method, headers=house.headers)
        assert response.status_code == 404, (method, path)
        assert error_code(response) == "not_found"


# --- moves -----------------------------------------------------------------------------


def move(client, house: House, booking_id: int, unit: Unit, check_in: int, check_out: int):
    body = {"unit_id": unit.id, "check_in": iso(days(check_in)), "check_out": iso(days(check_out))}
    return client.post(f"{API}/bookings/{booking_id}/move", json=body, headers=house.headers)


def test_a_move_answers_the_moved_booking(client, db, house):
    stay = book(db, house.employee, house.room, 2, 5)

    response = move(client, house, stay.id, house.other_room, 3, 6)

    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {
        "id": stay.id,
        "unit_id": house.other_room.id,
        "check_in": iso(days(3)),
        "check_out": iso(days(6)),
        "guests": 1,
        "status": "confirmed",
        "guest_name": "山田 花子",
        "company": "株式会社さとやま",
        # Moved by the operator: the company never pays more (the cheaper room's prices).
        "total_price": 3 * OTHER_PRICE,
        "purpose": "leisure",
    }
    nights = db.session.scalars(
        select(Occupancy.night)
        .where(Occupancy.booking_id == stay.id, Occupancy.unit_id == house.other_room.id)
        .order_by(Occupancy.night)
    ).all()
    assert nights == [days(3), days(4), days(5)]


def test_a_move_onto_a_taken_night_is_409_and_changes_nothing(client, db, house, make_user):
    stay = book(db, house.employee, house.room, 2, 5)
    somebody = make_user(Role.EMPLOYEE, company=house.company)
    book(db, somebody, house.other_room, 4, 5)
    before = booking_state(db, stay.id)

    response = move(client, house, stay.id, house.other_room, 2, 5)

    assert response.status_code == 409
    assert error_code(response) == "taken"
    assert booking_state(db, stay.id) == before


def test_a_move_into_a_closed_room_is_422_and_changes_nothing(client, db, house):
    stay = book(db, house.employee, house.room, 2, 5)
    closed = client.put(
        f"{API}/units/{house.other_room.id}/closures",
        json={**period(3, 4), "reason": "maintenance"},
        headers=house.headers,
    )
    assert closed.status_code == 200, closed.get_json()
    before = booking_state(db, stay.id)

    response = move(client, house, stay.id, house.other_room, 2, 5)

    assert response.status_code == 422
    assert error_code(response) == "closed"
    assert booking_state(db, stay.id) == before


def test_moves_the_rules_refuse_answer_422_with_the_rules_code(
    client, db, house, make_unit, make_facility
):
    stay = book(db, house.employee, house.room, 2, 5, guests=2)
    # Another facility of the same organisation: its own, but a stay stays in its house.
    elsewhere = make_unit(facility=make_facility(operator=house.facility.operator))
    single = make_unit(facility=house.facility, name="103 個室", capacity=1, base_price=PRICE)
    before = booking_state(db, stay.id)

    for unit, start, end, code in [
        (house.room, 2, 5, "unchanged"),
        (single, 2, 5, "capacity"),  # two guests
        (elsewhere, 2, 5, "unit_unavailable"),
        (house.room, -3, 0, "dates_past"),
    ]:
        response = move(client, house, stay.id, unit, start, end)
        assert (response.status_code, error_code(response)) == (422, code), code
    assert booking_state(db, stay.id) == before

    client.post(f"{API}/bookings/{stay.id}/cancel", json={"reason": "r"}, headers=house.headers)
    response = move(client, house, stay.id, house.other_room, 2, 5)
    assert (response.status_code, error_code(response)) == (422, "not_movable")


# --- the front desk ----------------------------------------------------------------------


def desk(client, house: House, booking_id: int, action: str, **kwargs):
    return client.post(f"{API}/bookings/{booking_id}/{action}", headers=house.headers, **kwargs)


def test_check_in_then_out_and_a_no_show_answer_the_new_status(client, db, house, make_user):
    arriving = book(db, house.employee, house.room, 0, 2)
    absent = book(db, make_user(Role.EMPLOYEE, company=house.company), house.other_room, 0, 2)

    checked_in = desk(client, house, arriving.id, "check-in")
    again = desk(client, house, arriving.id, "check-in")  # a retry: the stay as it is
    checked_out = desk(client, house, arriving.id, "check-out")
    no_show = desk(client, house, absent.id, "no-show")

    assert (checked_in.status_code, checked_in.get_json()["status"]) == (200, "checked_in")
    assert (again.status_code, again.get_json()["status"]) == (200, "checked_in")
    assert (checked_out.status_code, checked_out.get_json()["status"]) == (200, "checked_out")
    assert (no_show.status_code, no_show.get_json()["status"]) == (200, "no_show")
    db.session.rollback()
    assert db.session.get(Booking, arriving.id).status == BookingStatus.CHECKED_OUT
    assert db.session.get(Booking, absent.id).status == BookingStatus.NO_SHOW


def test_the_front_desk_refuses_the_wrong_day_or_state_with_422(client, db, house):
    later = book(db, house.employee, house.room, 3, 5)
    before = booking_state(db, later.id)

    for action, code in [
        ("check-in", "not_arrival_day"),
        ("no-show", "not_arrival_day"),
        ("check-out", "not_checked_in"),
    ]:
        response = desk(client, house, later.id, action)
        assert (response.status_code, error_code(response)) == (422, code), action
    assert booking_state(db, later.id) == before


def test_cancel_on_the_guests_behalf_refunds_everything_and_is_idempotent(client, db, house):
    stay = book(db, house.employee, house.room, 1, 3)  # inside the 3-day fee window
    before = ledger.account_of(house.company.id).credit_balance

    response = desk(client, house, stay.id, "cancel", json={"reason": "  設備の故障  "})
    again = desk(client, house, stay.id, "cancel", json={"reason": "設備の故障"})

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "cancelled"
    assert (again.status_code, again.get_json()) == (200, response.get_json())
    db.session.rollback()
    assert ledger.account_of(house.company.id).credit_balance == before + 2 * PRICE
    booking = db.session.get(Booking, stay.id)
    assert booking.cancel_reason == "設備の故障"
    assert not db.session.scalars(select(Occupancy).where(Occupancy.booking_id == stay.id)).all()


def test_bookings_lists_overlapping_stays_by_check_in_with_cancelled_ones(
    client, db, house, make_user
):
    before = book(db, house.employee, house.room, 0, 2)  # ends as the period begins
    overlapping = book(db, house.employee, house.room, 2, 5)
    other = make_user(Role.EMPLOYEE, company=house.company, name="佐藤 一郎")
    inside = book(db, other, house.other_room, 4, 6)
    cancelled = book(db, other, house.other_room, 8, 9)
    cancellation.cancel_booking(other, cancelled.id, NOW)
    db.session.commit()
    book(db, other, house.other_room, 9, 10)  # begins as the period ends

    response = client.get(
        f"{API}/bookings",
        query_string={"facility_id": str(house.facility.id), **period(2, 9)},
        headers=house.headers,
    )

    assert response.status_code == 200
    rows = response.get_json()["bookings"]
    assert [(b["id"], b["status"]) for b in rows] == [
        (overlapping.id, "confirmed"),
        (inside.id, "confirmed"),
        (cancelled.id, "cancelled"),
    ]
    assert rows[1]["guest_name"] == "佐藤 一郎" and rows[1]["company"] == "株式会社さとやま"
    assert before.id not in {b["id"] for b in rows}


# --- figures -----------------------------------------------------------------------------


def test_kpis_of_a_house_counted_by_hand(client, db, house, make_user):
    """Nights 10–13 (4 nights) of two rooms:

    - 101: a stay 10–13 at ¥10,000 (3 nights);
    - 102: a stay 10–12 at ¥8,000 (2 nights), closed 12–14 (2 nights not available),
      and a stay 13–14 cancelled (nothing sold).

    Available 2 × 4 − 2 = 6; sold 3 + 2 = 5; revenue 30,000 + 16,000 = 46,000;
    occupancy 5/6 = 0.8333; ADR 46,000/5 = 9,200; RevPAR 46,000/6 = 7,666.7 → 7,667.
    """
    book(db, house.employee, house.room, 10, 13)
    other = make_user(Role.EMPLOYEE, company=house.company)
    book(db, other, house.other_room, 10, 12)
    cancelled = book(db, other, house.other_room, 13, 14)
    assert desk(client, house, cancelled.id, "cancel", json={"reason": "r"}).status_code == 200
    closed = client.put(
        f"{API}/units/{house.other_room.id}/closures",
        json={**period(12, 14), "reason": "private_use", "note": "家族の利用"},
        headers=house.headers,
    )
    assert closed.status_code == 200, closed.get_json()

    response = client.get(
        f"{API}/facilities/{house.facility.id}/kpis",
        query_string=period(10, 14),
        headers=house.headers,
    )

    assert response.status_code == 200
    assert response.get_json() == {
        "nights_available": 6,
        "nights_sold": 5,
        "occupancy": 0.8333,
        "room_revenue": 46_000,
        "adr": 9_200,
        "revpar": 7_667,
    }
    # Nothing in the period: zeros, not an error.
    empty = client.get(
        f"{API}/facilities/{house.facility.id}/kpis",
        query_string=period(40, 41),
        headers=house.headers,
    ).get_json()
    assert empty == {
        "nights_available": 2,
        "nights_sold": 0,
        "occupancy": 0,
        "room_revenue": 0,
        "adr": 0,
        "revpar": 0,
    }


# --- closed nights -----------------------------------------------------------------------


def held_by_blocks(db, unit: Unit) -> list[date]:
    db.session.rollback()
    return list(
        db.session.scalars(
            select(Occupancy.night)
            .where(Occupancy.unit_id == unit.id, Occupancy.block_id.is_not(None))
            .order_by(Occupancy.night)
        )
    )


def test_closing_then_reopening_nights_round_trip(client, db, house):
    url = f"{API}/units/{house.room.id}/closures"

    closed = client.put(url, json={**period(5, 8), "reason": "maintenance"}, headers=house.headers)

    assert closed.status_code == 200
    assert closed.get_json() == {
        "unit_id": house.room.id,
        "from": iso(days(5)),
        "to": iso(days(8)),
        "reason": "maintenance",
    }
    assert held_by_blocks(db, house.room) == [days(5), days(6), days(7)]
    assert held_by_blocks(db, house.other_room) == []

    # Reopen the middle night (query string), then the rest (JSON body).
    middle = client.delete(url, query_string=period(6, 7), headers=house.headers)
    assert (middle.status_code, middle.get_json()) == (200, {"reopened_nights": 1})
    assert held_by_blocks(db, house.room) == [days(5), days(7)]
    rest = client.delete(url, json=period(0, 30), headers=house.headers)
    assert (rest.status_code, rest.get_json()) == (200, {"reopened_nights": 2})
    assert held_by_blocks(db, house.room) == []
    nothing = client.delete(url, json=period(0, 30), headers=house.headers)
    assert (nothing.status_code, nothing.get_json()) == (200, {"reopened_nights": 0})


def test_closing_a_booked_night_is_409_and_closes_nothing(client, db, house):
    stay = book(db, house.employee, house.room, 6, 7)
    before = booking_state(db, stay.id)

    response = client.put(
        f"{API}/units/{house.room.id}/closures",
        json={**period(5, 8), "reason": "other"},
        headers=house.headers,
    )

    assert response.status_code == 409
    assert error_code(response) == "booked"
    assert booking_state(db, stay.id) == before
    assert held_by_blocks(db, house.room) == []


def test_closing_rules_answer_422(client, db, house):
    url = f"{API}/units/{house.room.id}/closures"
    past = client.put(url, json={**period(-2, 1), "reason": "other"}, headers=house.headers)
    far = client.put(url, json={**period(1200, 1201), "reason": "other"}, headers=house.headers)
    house.room.active = False  # off sale: the console offers it no more
    db.session.commit()
    off_sale = client.put(url, json={**period(2, 3), "reason": "other"}, headers=house.headers)

    assert [(r.status_code, error_code(r)) for r in (past, far, off_sale)] == [
        (422, "past"),
        (422, "too_far"),
        (422, "unit"),
    ]
    assert held_by_blocks(db, house.room) == []
