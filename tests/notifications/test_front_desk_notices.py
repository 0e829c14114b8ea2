"""What the front desk's actions tell people: a no-show (the guest and their company's
admins: nothing is refunded), a stay cancelled or moved by the facility (the guest, with
the reason and the money), and check-in or check-out (nobody).

The events are emitted here as the front desk emits them (``booking.front_desk``,
``booking.operator_moves``), with the stay's row set as the action leaves it; the
``mail_outbox`` job dispatches them and a real SMTP server receives the mail.
"""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from accounts import events as ev
from accounts.events import Event
from accounts.models import Role, User
from availability import direct
from booking.announce import booking_parties
from booking.models import Booking, BookingStatus
from notifications import dispatch
from notifications.models import MailOptOut, Notice, WebhookDelivery, WebhookEndpoint
from notifications.webhook_endpoints import open_body, seal_secret
from tests.conftest import NOW, days, signed_in
from tests.notifications.mailing import (
    assert_well_formed,
    book,
    html_of,
    paths,
    run_outbox,
    text_of,
    undispatched,
)
from tests.smtp import MailCatcher

# Every event type of a stay and its facility (the column holds 500 characters, more
# than any endpoint may choose but not every type there is).
STAY_TYPES = " ".join(
    t for t in ev.EVENT_TYPES if t.split(".")[0] in {"booking", "calendar", "feed", "workspace"}
)

REASON = "A water pipe burst in the room <sorry>"


@pytest.fixture
def inbox(app):
    with MailCatcher() as catcher:
        app.config.update(SMTP_HOST=catcher.host, SMTP_PORT=catcher.port)
        yield catcher


@pytest.fixture
def world(make_company, make_operator, make_facility, make_unit, make_user):
    """A facility's organisation with an operator, a company with two admins (English,
    Japanese) and two employees (English, Japanese), and another company's admin."""
    operator = make_operator(name="軽井沢ステイ")
    facility = make_facility(
        operator=operator, name_ja="森の家", name_en="Forest House", postal_code="3890102"
    )
    company = make_company(name="株式会社テスト")
    return SimpleNamespace(
        operator=operator,
        facility=facility,
        unit=make_unit(facility=facility, name="101 和室", base_price=11000, capacity=2),
        other_unit=make_unit(facility=facility, name="102 洋室", base_price=11000, capacity=2),
        company=company,
        op_en=make_user(Role.OPERATOR, operator=operator, locale="en"),
        admin_en=make_user(Role.COMPANY_ADMIN, company=company, locale="en"),
        admin_ja=make_user(Role.COMPANY_ADMIN, company=company, locale="ja"),
        admin_other=make_user(Role.COMPANY_ADMIN, company=make_company()),
        employee_en=make_user(Role.EMPLOYEE, company=company, locale="en", name="Hanako Yamada"),
        employee_ja=make_user(Role.EMPLOYEE, company=company, name="山田 花子"),
    )


def everyone(world) -> list[User]:
    return [value for value in vars(world).values() if isinstance(value, User)]


def delivered(inbox, world, now=NOW) -> dict[str, list]:
    run_outbox(now)
    return {user.email: inbox.to(user.email) for user in everyone(world)}


def only_to(received, *users: User) -> None:
    got = {email for email, mails in received.items() if mails}
    assert got == {user.email for user in users}
    for user in users:
        assert len(received[user.email]) == 1


def the_mail(received, user: User):
    (mail,) = received[user.email]
    assert_well_formed(mail)
    return mail


def fresh(inbox, db, world, employee, first: int, last: int) -> Booking:
    """A booked stay, its confirmation already sent and cleared."""
    booking = book(employee, world.unit, first, last)
    run_outbox()
    inbox.clear()
    return booking


def mark_no_show(db, booking: Booking, on_day: int) -> Event:
    """As ``front_desk.mark_no_show`` leaves it on day ``on_day`` (nights from then on
    given back, none when the stay has ended)."""
    released = max(days(on_day), booking.check_in)
    booking.status = BookingStatus.NO_SHOW
    booking.no_show_at = NOW + timedelta(days=on_day)
    booking.released_on = released if released < booking.check_out else None
    event = ev.emit(
        ev.BOOKING_NO_SHOW,
        NOW + timedelta(days=on_day),
        **booking_parties(booking, None),
        subject=("booking", booking.id),
        data={"released_from": booking.released_on.isoformat() if booking.released_on else None},
    )
    db.session.commit()
    return event


def open_links(app, user: User, mail, must_include: str) -> None:
    links = paths(mail)
    assert any(link.startswith(must_include) for link in links), links
    browser = signed_in(app, user)
    for link in links:
        assert browser.get(link).status_code == 200, link


# --- a no-show -------------------------------------------------------------------------------


def test_a_no_show_tells_the_guest_and_the_companys_admins_nothing_was_refunded(
    app, db, world, inbox
):
    booking = fresh(inbox, db, world, world.employee_en, 0, 3)
    mark_no_show(db, booking, 1)
    received = delivered(inbox, world, NOW + timedelta(days=1))
    # Not the operators (they marked it) nor another company's admins.
    only_to(received, world.employee_en, world.admin_en, world.admin_ja)

    mail = the_mail(received, world.employee_en)
    subject, text, html = str(mail["Subject"]), text_of(mail), html_of(mail)
    assert "no-show" in subject and f"booking number {booking.id}" in subject
    for words in (
        "The facility marked this stay as a no-show: you did not check in.",
        "Nights given back to the facility",
        "- Wed 2 Dec 2026",
        "- Thu 3 Dec 2026",
        "Nothing was refunded: the stay's price, ¥33,000 (tax incl.), stays paid from"
        " your company's stay credit",
        f"Booking number: {booking.id}",
        "cannot be switched off",  # a money fact
    ):
        assert words in text, words
    assert "- Tue 1 Dec 2026" not in text  # the first night was held, not given back
    assert "¥33,000" in html and "Wed 2 Dec 2026" in html
    open_links(app, world.employee_en, mail, f"/stays/{booking.id}")

    admin = the_mail(received, world.admin_en)
    text = text_of(admin)
    assert "Hanako Yamada did not check in, and the facility marked the stay as a no-show." in text
    assert "Nothing was refunded: the stay's price, ¥33,000 (tax incl.)" in text
    assert "mail preferences" in text  # optional for the admins
    open_links(app, world.admin_en, admin, "/company/usage")
    # The admins' bell has it too; the guest's has no bell.
    db.session.rollback()
    noticed = db.session.scalars(
        select(Notice.user_id).where(Notice.kind == "company_booking_no_show")
    ).all()
    assert sorted(noticed) == [world.admin_en.id, world.admin_ja.id]
    assert not db.session.scalar(select(Notice.id).where(Notice.kind == "booking_no_show"))


def test_the_japanese_no_show_mail_is_japanese(app, db, world, inbox):
    booking = fresh(inbox, db, world, world.employee_ja, 0, 3)
    mark_no_show(db, booking, 1)
    received = delivered(inbox, world, NOW + timedelta(days=1))
    text = text_of(the_mail(received, world.employee_ja))
    for words in (f"予約番号: {booking.id}", "森の家", "2026年12月2日", "¥33,000（税込）"):
        assert words in text, words
    for english in ("Booking number", "Forest House", "no-show", "refunded", "given back"):
        assert english not in text, english
    assert "ノーショー" in text and "返金" in text
    admin_text = text_of(the_mail(received, world.admin_ja))
    assert "山田 花子" in admin_text and "ノーショー" in admin_text
    assert "no-show" not in admin_text


def test_a_no_show_after_the_stay_gave_nothing_back(app, db, world, inbox):
    booking = fresh(inbox, db, world, world.employee_en, 0, 2)
    mark_no_show(db, booking, 3)
    received = delivered(inbox, world, NOW + timedelta(days=3))
    text = text_of(the_mail(received, world.employee_en))
    assert "No nights were left to give back to the facility." in text
    assert "Nights given back" not in text
    assert "¥22,000 (tax incl.)" in text


def test_an_admin_may_switch_the_no_show_mail_off_the_guest_may_not(app, db, world, inbox):
    booking = fresh(inbox, db, world, world.employee_en, 0, 3)
    for user, kind in (
        (world.admin_ja, "company_booking_no_show"),
        (world.employee_en, "booking_no_show"),
    ):
        db.session.add(MailOptOut(user_id=user.id, kind=kind, created_at=NOW))
    db.session.commit()
    mark_no_show(db, booking, 1)
    received = delivered(inbox, world, NOW + timedelta(days=1))
    only_to(received, world.employee_en, world.admin_en)
    db.session.rollback()
    assert db.session.scalar(select(Notice.id).where(Notice.user_id == world.admin_ja.id))


def test_a_no_show_event_of_a_stay_that_is_not_one_sends_nothing(app, db, world, inbox):
    booking = fresh(inbox, db, world, world.employee_en, 0, 3)
    ev.emit(
        ev.BOOKING_NO_SHOW,
        NOW,
        **booking_parties(booking, None),
        subject=("booking", booking.id),
        data={"released_from": days(1).isoformat()},
    )
    db.session.commit()
    received = delivered(inbox, world)
    only_to(received)
    assert undispatched() == []


# --- check-in and check-out ------------------------------------------------------------------


def test_check_in_and_check_out_tell_nobody_and_are_dispatched(app, db, world, inbox):
    booking = fresh(inbox, db, world, world.employee_en, 0, 2)
    notices_before = db.session.scalar(select(func.count()).select_from(Notice))
    # Even endpoints that (somehow) list every type of a stay get nothing of these.
    endpoints(db, world, STAY_TYPES)
    booking.status = BookingStatus.CHECKED_IN
    booking.checked_in_at = NOW
    parties = booking_parties(booking, world.op_en.id)
    ev.emit(ev.BOOKING_CHECKED_IN, NOW, **parties, subject=("booking", booking.id))
    booking.status = BookingStatus.CHECKED_OUT
    booking.checked_out_at = NOW + timedelta(days=1)
    booking.released_on = days(1)
    later = NOW + timedelta(days=1)
    ev.emit(ev.BOOKING_CHECKED_OUT, later, **parties, subject=("booking", booking.id))
    db.session.commit()

    summary = dispatch.dispatch_events(NOW + timedelta(days=1))
    assert "2 events dispatched: 0 mails, 0 notices, 0 webhook deliveries" in str(summary)
    assert "failed" not in str(summary)
    assert undispatched() == []
    assert db.session.scalar(select(func.count()).select_from(Notice)) == notices_before
    assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0
    received = delivered(inbox, world, NOW + timedelta(days=1))
    only_to(received)


# --- the facility cancels or moves a stay ------------------------------------------------------


def cancel_by_operator(db, world, booking: Booking, reason: str) -> Event:
    """As ``front_desk.cancel_for_guest`` leaves it: everything refunded, no fee."""
    booking.status = BookingStatus.CANCELLED
    booking.cancelled_at = NOW
    booking.cancel_reason = reason
    event = ev.emit(
        ev.BOOKING_CANCELLED,
        NOW,
        **booking_parties(booking, world.op_en.id),
        subject=("booking", booking.id),
        data={"refund": booking.total_price, "fee": 0, "by": "operator"},
    )
    db.session.commit()
    return event


def test_a_cancellation_by_the_facility_states_its_reason_and_the_full_refund(
    app, db, world, inbox
):
    booking = fresh(inbox, db, world, world.employee_en, 2, 4)  # inside the fee period
    cancel_by_operator(db, world, booking, REASON)
    received = delivered(inbox, world)
    only_to(received, world.employee_en, world.op_en)

    mail = the_mail(received, world.employee_en)
    text, html = text_of(mail), html_of(mail)
    for words in (
        "The facility cancelled this stay.",
        f"The facility's reason: {REASON}",
        "As the facility cancelled, everything was refunded: ¥22,000 (tax incl.) returns to"
        " your company's stay credit.",
        "No cancellation fee was charged.",
    ):
        assert words in text, words
    assert "A water pipe burst in the room &lt;sorry&gt;" in html and "<sorry>" not in html
    assert "everything was refunded" in html

    operator_text = text_of(the_mail(received, world.op_en))
    assert "Your organisation cancelled this stay." in operator_text
    assert f"The reason told to the guest: {REASON}" in operator_text


def test_a_cancellation_by_the_guest_says_nothing_of_a_reason(app, db, world, inbox):
    booking = fresh(inbox, db, world, world.employee_en, 10, 12)
    booking.status = BookingStatus.CANCELLED
    ev.emit(
        ev.BOOKING_CANCELLED,
        NOW,
        **booking_parties(booking, world.employee_en.id),
        subject=("booking", booking.id),
        data={"refund": 22000, "fee": 0, "by": "employee"},
    )
    db.session.commit()
    text = text_of(the_mail(delivered(inbox, world), world.employee_en))
    assert "You cancelled this stay." in text
    assert "reason" not in text and "everything was refunded" not in text
    assert "¥22,000 (tax incl.) returns to your company's stay credit." in text


def test_the_japanese_cancellation_by_the_facility_is_japanese(app, db, world, inbox):
    booking = fresh(inbox, db, world, world.employee_ja, 10, 12)
    cancel_by_operator(db, world, booking, "設備点検のため")
    text = text_of(the_mail(delivered(inbox, world), world.employee_ja))
    assert "設備点検のため" in text and "¥22,000（税込）" in text
    for english in ("reason", "refunded", "facility"):
        assert english not in text, english


def test_a_move_by_the_facility_states_old_and_new_room_dates_and_money(app, db, world, inbox):
    booking = fresh(inbox, db, world, world.employee_en, 10, 12)
    booking.unit_id, booking.check_in, booking.check_out = world.other_unit.id, days(11), days(13)
    ev.emit(
        ev.BOOKING_CHANGED,
        NOW,
        **booking_parties(booking, world.op_en.id),
        subject=("booking", booking.id),
        data={
            "old_check_in": days(10).isoformat(),
            "old_check_out": days(12).isoformat(),
            "old_unit_id": world.unit.id,
            "charged": 0,
            "refunded": 0,
            "by": "operator",
        },
    )
    db.session.commit()
    received = delivered(inbox, world)
    only_to(received, world.employee_en, world.op_en)
    mail = the_mail(received, world.employee_en)
    text, html = text_of(mail), html_of(mail)
    for words in (
        "The facility moved your stay. Please check the new room and dates.",
        "Before: Fri 11 Dec 2026 – Sun 13 Dec 2026, 101 和室",
        "Now: Sat 12 Dec 2026 – Mon 14 Dec 2026, 102 洋室",
        "Room: 102 洋室",
        "Total: ¥22,000 (tax incl.)",
        "Nothing more was charged and nothing was refunded.",
    ):
        assert words in text, words
    assert "The facility moved your stay." in html and "102 洋室" in html
    assert "Your organisation changed this stay." in text_of(the_mail(received, world.op_en))


def test_a_move_by_the_facility_that_refunded_says_so(app, db, world, inbox):
    booking = fresh(inbox, db, world, world.employee_en, 10, 13)
    booking.check_out = days(12)
    booking.total_price = 22000
    ev.emit(
        ev.BOOKING_CHANGED,
        NOW,
        **booking_parties(booking, world.op_en.id),
        subject=("booking", booking.id),
        data={
            "old_check_in": days(10).isoformat(),
            "old_check_out": days(13).isoformat(),
            "old_unit_id": world.unit.id,
            "charged": 0,
            "refunded": 11000,
            "by": "operator",
        },
    )
    db.session.commit()
    text = text_of(the_mail(delivered(inbox, world), world.employee_en))
    assert "The facility moved your stay." in text
    assert "¥11,000 (tax incl.) returned to your company's stay credit." in text


# --- webhooks ---------------------------------------------------------------------------------


def endpoints(db, world, types: str) -> list[WebhookEndpoint]:
    made = [
        WebhookEndpoint(
            company_id=world.company.id,
            url="https://hooks.example.com/company",
            event_types=types,
            secret=seal_secret("whsec_test"),
            created_at=NOW,
        ),
        WebhookEndpoint(
            operator_id=world.operator.id,
            url="https://hooks.example.com/operator",
            event_types=types,
            secret=seal_secret("whsec_test"),
            created_at=NOW,
        ),
    ]
    db.session.add_all(made)
    db.session.commit()
    return made


def test_webhooks_carry_no_cancel_reason_and_events_no_names(app, db, world, inbox):
    booking = fresh(inbox, db, world, world.employee_en, 0, 3)
    endpoints(db, world, STAY_TYPES)
    cancel_by_operator(db, world, booking, "Hanako Yamada asked us to")
    other = book(world.employee_ja, world.unit, 10, 12)
    mark_no_show(db, other, 10)
    walk_in = direct.record_direct_stay(
        world.op_en,
        world.other_unit,
        days(1),
        days(3),
        guest_name="Taro Walkin",
        guests=1,
        nightly_price=9000,
        note="",
        now=NOW,
    )
    db.session.commit()
    assert walk_in.id
    run_outbox(NOW + timedelta(days=10))
    db.session.rollback()

    # The events themselves carry ids and facts, never a name or a reason.
    for event in db.session.scalars(select(Event)):
        for secret in ("Hanako", "Yamada", "山田", "Taro", "Walkin", "asked us"):
            assert secret not in (event.data or ""), event.type
    # The direct stay made no event at all; the no-show is no webhook type.
    types = [d.event_type for d in db.session.scalars(select(WebhookDelivery))]
    assert sorted(types) == sorted([ev.BOOKING_CREATED] * 2 + [ev.BOOKING_CANCELLED] * 2)
    for delivery in db.session.scalars(select(WebhookDelivery)):
        body = open_body(delivery.body)
        assert "Taro" not in body and "Walkin" not in body
        assert "asked us" not in body  # the reason is told to the guest, by mail only
        if delivery.event_type == ev.BOOKING_CANCELLED:
            assert json.loads(body)["data"]["object"]["by"] == "operator"
