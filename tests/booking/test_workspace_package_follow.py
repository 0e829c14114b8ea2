"""The desks booked with a stay follow it, and the money they return is never a surprise
(issue 19): the employee's cancel page and change preview, the operator's cancel and move
pages list the desks the action cancels with the yen each returns, before the confirm
button, from the same rule the action applies; the outcome says it again; a refund that
moved since the page was shown is not settled unseen; an early check-out cancels the
desks of the days after by the workspace policy; changing companions keeps the desk."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from accounts.models import Role
from billing.models import CreditEntry, EntryKind
from booking import cancellation, front_desk
from booking.models import Booking, BookingStatus
from booking.workspace_follow import (
    desks_dropped_by_change,
    desks_refund_if_departed,
    desks_refund_if_ended,
    total_refund,
)
from booking.workspace_models import WorkspaceBooking, WorkspaceStatus
from booking.workspace_package import book_package
from core.db import TOKYO
from tests.booking import test_workspace_package as package
from tests.booking.test_workspace_package import (
    HOURLY,
    _desks,
    _quote_args,
    _stay,
    _workspace_entries,
)
from tests.conftest import NOW, days, signed_in
from tests.register_helpers import fill_register

# The fixtures of the package's own tests: a company's employee, another, a room, a desk.
make_desk, world = package.make_desk, package.world

DAY = 9 * HOURLY  # one desk, 09:00–18:00: 3,600 yen
# 12-07 12:00 in Tokyo: the 12-08 desk is 21 hours away (half back), the others whole.
LATE = NOW + timedelta(days=6)
LATE_REFUND = DAY // 2 + 2 * DAY  # 9,000 yen


def _book(db, employee, room, desk, check_in=None, check_out=None):
    check_in, check_out = check_in or days(7), check_out or days(9)
    booking, desks = book_package(
        employee, _stay(room, check_in, check_out), _desks(desk, check_in, check_out), NOW
    )
    db.session.commit()
    return booking, desks


def _at(app, moment):
    app.config["FIXED_NOW"] = moment


def _refunds(db, desks) -> int:
    return _workspace_entries(db, desks, EntryKind.REFUND)


def _text(response) -> str:
    return response.get_data(as_text=True)


# --- the rule, previewed and applied ------------------------------------------------------


def test_the_preview_is_what_cancelling_does_and_changes_nothing(db, world):
    employee, _other, room, desk = world
    booking, desks = _book(db, employee, room, desk)
    shown = desks_refund_if_ended(booking, LATE)
    assert [e.refund for e in shown] == [DAY // 2, DAY, DAY]
    assert total_refund(shown) == LATE_REFUND
    # In full (the operator or the company ended it): everything, whatever the time.
    assert total_refund(desks_refund_if_ended(booking, LATE, full=True)) == 3 * DAY
    db.session.commit()
    assert {d.status for d in desks} == {WorkspaceStatus.CONFIRMED}  # nothing changed
    assert _refunds(db, desks) == 0
    cancellation.cancel_booking(employee, booking.id, LATE)
    db.session.commit()
    assert _refunds(db, desks) == LATE_REFUND
    assert [d.refunded for d in desks] == [e.refund for e in shown]


def test_a_change_preview_lists_only_the_dropped_days(db, world):
    employee, _other, room, desk = world
    booking, _desks_booked = _book(db, employee, room, desk, days(7), days(10))
    dropped = desks_dropped_by_change(booking, days(8), days(10), LATE)
    assert [e.desk.starts_at.astimezone(TOKYO).date() for e in dropped] == [days(7)]
    assert total_refund(dropped) == DAY // 2
    assert desks_dropped_by_change(booking, days(7), days(10), LATE) == []


# --- the employee's cancel page ----------------------------------------------------------


def test_the_cancel_page_shows_the_desks_refund_and_the_outcome_says_it(app, db, world):
    employee, _other, room, desk = world
    booking, desks = _book(db, employee, room, desk)
    _at(app, LATE)
    browser = signed_in(app, employee)
    page = _text(browser.get(f"/stays/{booking.id}/cancel"))
    section = page[page.index('data-testid="desks-ending"') :]
    before_button = page.index('data-testid="desks-ending"') < page.index(
        "Cancel this stay</button>"
    )
    assert before_button
    assert f'data-desks-refund="{LATE_REFUND}"' in page
    assert section.count("data-desk-id=") == 3
    assert f"¥{DAY // 2:,}" in section and f"¥{LATE_REFUND:,}" in section
    assert f'name="expected_desks_refund" value="{LATE_REFUND}"' in page
    done = browser.post(f"/stays/{booking.id}/cancel", data={"expected_desks_refund": LATE_REFUND})
    assert done.status_code == 303
    stays = _text(browser.get("/stays"))
    assert f"3 desks booked with the stay were cancelled; ¥{LATE_REFUND:,}" in stays
    assert _refunds(db, desks) == LATE_REFUND


def test_a_desks_refund_that_moved_since_the_page_is_not_settled(app, db, world):
    employee, _other, room, desk = world
    booking, desks = _book(db, employee, room, desk)
    browser = signed_in(app, employee)
    page = _text(browser.get(f"/stays/{booking.id}/cancel"))  # 7 days ahead: all back
    assert f'name="expected_desks_refund" value="{3 * DAY}"' in page
    _at(app, LATE)  # the first desk's free cancellation has passed meanwhile
    browser = signed_in(app, employee)  # (a session of six days ago has ended)
    refused = browser.post(f"/stays/{booking.id}/cancel", data={"expected_desks_refund": 3 * DAY})
    assert refused.status_code == 303
    assert refused.headers["Location"].endswith(f"/stays/{booking.id}/cancel")
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).status == BookingStatus.CONFIRMED
    assert {d.status for d in db.session.scalars(select(WorkspaceBooking))} == {"confirmed"}
    assert _refunds(db, desks) == 0
    again = _text(browser.get(f"/stays/{booking.id}/cancel"))
    assert "has changed since you looked" in again
    assert f'name="expected_desks_refund" value="{LATE_REFUND}"' in again


@pytest.mark.parametrize("value", ["abc", "-5", "99999999999999"])
def test_a_bad_expected_desks_refund_is_refused(app, db, world, value):
    employee, _other, room, desk = world
    booking, _booked = _book(db, employee, room, desk)
    browser = signed_in(app, employee)
    response = browser.post(f"/stays/{booking.id}/cancel", data={"expected_desks_refund": value})
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).status == BookingStatus.CONFIRMED


def test_another_employees_stay_shows_no_desks(app, db, world):
    employee, other, room, desk = world
    booking, _booked = _book(db, employee, room, desk)
    browser = signed_in(app, other)
    assert browser.get(f"/stays/{booking.id}/cancel").status_code == 404
    assert browser.get(f"/stays/{booking.id}/change/preview").status_code == 404


# --- the employee's change preview --------------------------------------------------------


def test_the_change_preview_shows_the_dropped_desks_and_the_outcome_says_it(app, db, world):
    employee, _other, room, desk = world
    booking, desks = _book(db, employee, room, desk, days(7), days(10))
    browser = signed_in(app, employee)
    args = {
        "unit_id": room.id,
        "check_in": days(7).isoformat(),
        "check_out": days(9).isoformat(),
        "guests": 1,
    }
    page = _text(browser.get(f"/stays/{booking.id}/change/preview", query_string=args))
    section = page[page.index('data-testid="desks-ending"') :]
    assert page.index('data-testid="desks-ending"') < page.index("Confirm the change</button>")
    assert section.count("data-desk-id=") == 1 and f"¥{DAY:,}" in section
    assert f'name="expected_desks_refund" value="{DAY}"' in page
    form = {
        **args,
        "expected_net": int(re.search(r'name="expected_net" value="(-?\d+)"', page)[1]),
        "expected_tax": int(re.search(r'name="expected_tax" value="(-?\d+)"', page)[1]),
    }
    stale = browser.post(f"/stays/{booking.id}/change", data={**form, "expected_desks_refund": 0})
    assert stale.status_code == 409  # shown nothing back: not settled unseen
    assert "has changed since you looked" in _text(stale)
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).check_out == days(10)
    done = browser.post(f"/stays/{booking.id}/change", data={**form, "expected_desks_refund": DAY})
    assert done.status_code == 303
    stay_page = _text(browser.get(f"/stays/{booking.id}"))
    assert f"1 desk booked with the stay was cancelled; ¥{DAY:,}" in stay_page
    assert _refunds(db, desks) == DAY


# --- the operator's cancel and move pages -------------------------------------------------


@pytest.fixture
def operator(db, world, make_user):
    _employee, _other, room, _desk = world
    return make_user(Role.OPERATOR, operator=room.facility.operator, locale="en")


def test_the_operator_cancel_page_shows_the_desks_back_in_full(app, db, world, operator):
    employee, _other, room, desk = world
    booking, desks = _book(db, employee, room, desk)
    _at(app, LATE)  # the employee would have half of the first back; the operator gives all
    browser = signed_in(app, operator)
    page = _text(browser.get(f"/operator/bookings/{booking.id}/cancel"))
    assert f'data-desks-refund="{3 * DAY}"' in page
    assert page.index('data-testid="desks-ending"') < page.index('data-testid="confirm-cancel"')
    assert f"the whole ¥{3 * DAY:,}" in page
    done = browser.post(f"/operator/bookings/{booking.id}/cancel", data={"reason": "Water leak"})
    assert done.status_code == 303
    stay_page = _text(browser.get(f"/operator/bookings/{booking.id}"))
    assert f"3 desks booked with the stay were cancelled; ¥{3 * DAY:,}" in stay_page
    assert _refunds(db, desks) == 3 * DAY


def test_the_operator_move_page_shows_the_dropped_desks_in_full(app, db, world, operator):
    employee, _other, room, desk = world
    booking, desks = _book(db, employee, room, desk, days(7), days(10))
    _at(app, LATE)
    browser = signed_in(app, operator)
    args = {"unit_id": room.id, "check_in": days(8).isoformat(), "check_out": days(10).isoformat()}
    page = _text(browser.get(f"/operator/bookings/{booking.id}/move", query_string=args))
    section = page[page.index('data-testid="desks-ending"') :]
    assert page.index('data-testid="desks-ending"') < page.index('data-testid="confirm-move"')
    assert section.count("data-desk-id=") == 1 and f"the whole ¥{DAY:,}" in section
    form = {
        **args,
        "expected_net": int(re.search(r'name="expected_net" value="(-?\d+)"', page)[1]),
        "expected_tax": int(re.search(r'name="expected_tax" value="(-?\d+)"', page)[1]),
    }
    assert browser.post(f"/operator/bookings/{booking.id}/move", data=form).status_code == 303
    stay_page = _text(browser.get(f"/operator/bookings/{booking.id}"))
    assert f"1 desk booked with the stay was cancelled; ¥{DAY:,}" in stay_page
    assert _refunds(db, desks) == DAY


def test_another_operator_sees_no_stay(app, db, world, make_user):
    employee, _other, room, desk = world
    booking, _booked = _book(db, employee, room, desk)
    stranger = make_user(Role.OPERATOR, locale="en")
    browser = signed_in(app, stranger)
    assert browser.get(f"/operator/bookings/{booking.id}/cancel").status_code == 404
    assert browser.get(f"/operator/bookings/{booking.id}/move").status_code == 404


# --- an early check-out ---------------------------------------------------------------------


def test_an_early_check_out_cancels_the_later_desks_by_the_workspace_policy(
    app, db, world, operator
):
    employee, _other, room, desk = world
    booking, desks = _book(db, employee, room, desk)  # desks on 12-08, 12-09, 12-10
    fill_register(booking)
    front_desk.check_in(operator, booking.id, NOW + timedelta(days=7))  # 12-08 12:00
    db.session.commit()
    leaving = NOW + timedelta(days=8)  # 12-09 12:00: the 12-10 desk is 21 hours away
    shown = desks_refund_if_departed(booking, days(8), leaving)
    assert [(e.desk.id, e.refund) for e in shown] == [(desks[2].id, DAY // 2)]
    db.session.commit()
    _at(app, leaving)
    browser = signed_in(app, operator)
    done = browser.post(f"/operator/bookings/{booking.id}/check-out", data={})
    assert done.status_code == 303
    db.session.expire_all()
    by_day = {
        d.starts_at.astimezone(TOKYO).date(): (d.status, d.refunded)
        for d in db.session.scalars(select(WorkspaceBooking))
    }
    assert by_day == {
        days(7): ("confirmed", 0),  # begun before the departure: its own rules
        days(8): ("confirmed", 0),  # the departure day stays a working day
        days(9): ("cancelled", DAY // 2),  # tomorrow, within 24 hours: half back
    }
    assert _refunds(db, desks) == DAY // 2
    stay_page = _text(browser.get(f"/operator/bookings/{booking.id}"))
    assert f"1 desk booked with the stay was cancelled; ¥{DAY // 2:,}" in stay_page
    assert (
        db.session.scalar(
            select(func.count()).where(
                CreditEntry.kind == EntryKind.REFUND, CreditEntry.booking_id == booking.id
            )
        )
        == 0
    )  # the stay's own nights: nothing back, as before


# --- the quote's companions form ---------------------------------------------------------------


def test_changing_companions_keeps_the_chosen_desk(app, db, world):
    employee, _other, room, desk = world
    browser = signed_in(app, employee)
    args = _quote_args(room, desk, desk_from="10:00", desk_to="17:00")
    page = _text(browser.get("/book", query_string=args))
    start = page.index('data-testid="companions-form"')
    companions = page[start : page.index("</form>", start)]
    assert f'name="desk_unit" value="{desk.id}"' in companions
    assert 'name="desk_from" value="10:00"' in companions
    assert 'name="desk_to" value="17:00"' in companions
    # The form sent back (one companion more) quotes the same desk again.
    sent = dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', companions))
    sent |= {"adults": 1, "children": 0, "infants": 0, "guests": 2}
    again = _text(browser.get("/book", query_string=sent))
    assert f'data-testid="desk-total">¥{3 * 7 * HOURLY:,}' in again
    assert 'name="desk_to" value="17:00"' in again


def test_without_a_desk_the_companions_form_carries_none(app, db, world):
    employee, _other, room, _desk = world
    browser = signed_in(app, employee)
    page = _text(browser.get("/book", query_string=_quote_args(room)))
    start = page.index('data-testid="companions-form"')
    assert "desk_unit" not in page[start : page.index("</form>", start)]
