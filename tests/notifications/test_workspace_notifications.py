"""Workspace news (issue 19) as people and systems receive it: the employee's mail and
notice when a desk is booked, changed, cancelled or released, the operators' notice of a
change or a cancellation, their webhooks, and today's workspace in the operators' 07:00
summary.

Mails are read off a real SMTP server (tests.smtp). The clock is tests.conftest.NOW,
Tuesday 1 December 2026, 12:00 in Tokyo; the desks are booked for the next week's
weekdays. Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import re
from datetime import time, timedelta
from types import SimpleNamespace

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from accounts import events as ev
from accounts.events import Event
from accounts.models import Role, User
from booking import cancellation
from booking.services import StayRequest
from booking.workspace import WorkspaceRequest, book_workspace, cancel_workspace
from booking.workspace_change import change_workspace
from booking.workspace_checkin import release_no_shows
from booking.workspace_models import WorkspaceBooking
from booking.workspace_package import book_package, desk_requests
from core.extensions import db as _db
from notifications import notices, stay_jobs
from notifications.catalog import BY_NAME, OPERATOR_WEBHOOK_TYPES, kinds_for_role
from notifications.mail_context import load_facts
from notifications.mail_render import _text_env
from notifications.models import MailOptOut, Notice, WebhookDelivery, WebhookEndpoint
from notifications.webhook_endpoints import (
    Owner,
    WebhookError,
    create_endpoint,
    open_body,
    seal_secret,
)
from tests.booking.workspace_helpers import (
    THURSDAY,
    TUESDAY,
    WEDNESDAY,
    at,
    make_space,
)
from tests.conftest import NOW, signed_in
from tests.notifications.mailing import (
    assert_well_formed,
    html_of,
    paths,
    run_outbox,
    text_of,
    yen_amounts,
)
from tests.smtp import MailCatcher

MONDAY = TUESDAY - timedelta(days=1)


@pytest.fixture
def inbox(app):
    """A real SMTP server the outbox delivers to."""
    with MailCatcher() as catcher:
        app.config.update(SMTP_HOST=catcher.host, SMTP_PORT=catcher.port)
        yield catcher


@pytest.fixture
def world(db, make_company, make_operator, make_facility, make_user):
    """An office with a desk (1,000 yen an hour, released 30 minutes after its start
    when nobody checked in) run by an organisation with two operators; a company with an
    admin and two employees; and strangers: another organisation with an office of its
    own, another company's admin and employee."""
    operator = make_operator(name="湘南ワーク")
    office = make_facility(operator=operator, kind="office", name_en="Shonan Office")
    company = make_company(name="株式会社テスト")
    other_operator = make_operator()
    other_company = make_company()
    return SimpleNamespace(
        operator=operator,
        office=office,
        desk=make_space(db, office, name="Desk A"),
        booth=make_space(db, office, name="Booth 1", kind="phone_booth"),
        company=company,
        op_en=make_user(Role.OPERATOR, operator=operator, locale="en"),
        op_ja=make_user(Role.OPERATOR, operator=operator),
        op_other=make_user(Role.OPERATOR, operator=other_operator, locale="en"),
        other_desk=make_space(
            db, make_facility(operator=other_operator, kind="office"), name="Desk Z"
        ),
        admin=make_user(Role.COMPANY_ADMIN, company=company, locale="en"),
        employee=make_user(Role.EMPLOYEE, company=company, locale="en"),
        employee_ja=make_user(Role.EMPLOYEE, company=company),
        stranger=make_user(Role.EMPLOYEE, company=other_company, locale="en"),
        admin_other=make_user(Role.COMPANY_ADMIN, company=other_company, locale="en"),
    )


def everyone(world) -> list[User]:
    return [value for value in vars(world).values() if isinstance(value, User)]


def delivered(inbox, world, now=NOW) -> dict[str, list]:
    run_outbox(now)
    return {user.email: inbox.to(user.email) for user in everyone(world)}


def only_to(received, *users: User) -> None:
    """Exactly one mail to each of ``users``; nothing to anybody else."""
    got = {email for email, mails in received.items() if mails}
    assert got == {user.email for user in users}
    for user in users:
        assert len(received[user.email]) == 1, [subject_of(m) for m in received[user.email]]


def the_mail(received, user: User):
    (mail,) = received[user.email]
    assert_well_formed(mail)
    return mail


def subject_of(mail) -> str:
    """The subject as the reader sees it (a long one is folded on the wire)."""
    return " ".join(str(mail["Subject"]).split())


def book(actor, unit, start, end, now=NOW) -> WorkspaceBooking:
    (booking,) = book_workspace(actor, [WorkspaceRequest(unit.id, start, end)], now)
    _db.session.commit()
    return booking


def notices_of(user: User) -> list[Notice]:
    _db.session.rollback()
    return list(
        _db.session.scalars(select(Notice).where(Notice.user_id == user.id).order_by(Notice.id))
    )


def open_links(app, user: User, mail) -> None:
    browser = signed_in(app, user)
    for link in paths(mail):
        assert browser.get(link).status_code == 200, link


# -- booked ----------------------------------------------------------------------------------


def test_a_booked_desk_is_mailed_to_its_employee_alone_with_yen_tokyo_times_and_terms(
    app, db, inbox, world
):
    booking = book(world.employee, world.desk, at(TUESDAY, 10), at(TUESDAY, 11, 30))

    received = delivered(inbox, world)

    only_to(received, world.employee)
    mail = the_mail(received, world.employee)
    subject, text, html = subject_of(mail), text_of(mail), html_of(mail)
    assert subject == "Workspace booked: Desk A at Shonan Office, Tue 8 Dec 2026 10:00–11:30"
    for part in (text, html):
        assert "10:00–11:30" in part  # Tokyo wall-clock, not 01:00 UTC
        assert "Japan time" in part
        assert "¥1,500 (tax incl.)" in part
        # Free until 24 hours before, then half, nothing once begun.
        assert "free cancellation until Mon 7 Dec 2026 10:00" in part
        assert "¥750 (tax incl.) back until 10:00" in part
        assert "nothing once it has begun" in part
        assert "30 minutes after the start" in part
    assert f"Booking number: {booking.id}" in text
    assert "You receive this because you booked a workspace on Engawa." in text
    assert "cannot be switched off" in text
    assert yen_amounts(text) == [1500, 750]
    # A notice under the employee's bell too, linking to the booking's page.
    (notice,) = notices_of(world.employee)
    assert notice.kind == "workspace_booked"
    assert notice.link == f"/workspace/bookings/{booking.id}"
    with force_locale("en"):
        assert notices.notice_text(notice.kind, notice) == (
            "Workspace booked: Desk A at Shonan Office, Tue 8 Dec 10:00–11:30"
        )
    assert not any(notices_of(user) for user in everyone(world) if user is not world.employee)
    open_links(app, world.employee, mail)


def test_a_japanese_reader_s_mail_has_the_same_yen_and_times(app, db, inbox, world):
    book(world.employee_ja, world.desk, at(TUESDAY, 14), at(TUESDAY, 15))

    received = delivered(inbox, world)

    only_to(received, world.employee_ja)
    mail = the_mail(received, world.employee_ja)
    assert re.search("14:00[–〜]15:00", subject_of(mail))  # 〜: Japanese for a range
    assert "2026年12月8日" in text_of(mail)
    assert yen_amounts(text_of(mail)) == [1000, 500]


def test_a_series_is_one_mail_and_one_notice_listing_every_time(app, db, inbox, world):
    times = [(TUESDAY, 9), (WEDNESDAY, 9), (THURSDAY, 13)]
    booked = book_workspace(
        world.employee,
        [WorkspaceRequest(world.desk.id, at(day, h), at(day, h + 2)) for day, h in times],
        NOW,
    )
    db.session.commit()

    received = delivered(inbox, world)

    only_to(received, world.employee)
    mail = the_mail(received, world.employee)
    text = text_of(mail)
    assert subject_of(mail) == (
        "3 workspace bookings at Shonan Office, the first on Tue 8 Dec 2026 09:00–11:00"
    )
    assert "Your workspace is booked: 3 times." in text
    for booking in booked:
        assert f"booking number {booking.id}" in text
    assert "Thu 10 Dec 2026 13:00–15:00" in text
    assert "Total: ¥6,000 (tax incl.)" in text
    assert "/workspace/bookings\n" in text  # the list, not one booking's page
    assert [n.kind for n in notices_of(world.employee)] == ["workspace_booked"]
    # Every event was handled (the later ones quietly).
    db.session.rollback()
    events = db.session.scalars(select(Event).where(Event.type == ev.WORKSPACE_BOOKED)).all()
    assert len(events) == 3 and all(e.dispatched_at is not None for e in events)


# -- cancelled -------------------------------------------------------------------------------


def test_a_cancellation_mails_the_refund_and_tells_the_operators(app, db, inbox, world):
    booking = book(world.employee, world.desk, at(TUESDAY, 10), at(TUESDAY, 11, 30))
    run_outbox()
    inbox.clear()

    cancel_workspace(booking, NOW + timedelta(hours=1), world.employee)
    db.session.commit()
    received = delivered(inbox, world, NOW + timedelta(hours=1))

    only_to(received, world.employee, world.op_en, world.op_ja)
    text = text_of(the_mail(received, world.employee))
    assert "This workspace booking was cancelled. Its time is free again." in text
    assert "¥1,500 (tax incl.) returns to your company's stay credit." in text
    assert "No cancellation fee was charged." in text
    assert "10:00–11:30" in text
    operator_mail = the_mail(received, world.op_en)
    operator_text = text_of(operator_mail)
    assert subject_of(operator_mail).startswith("Workspace booking cancelled: Desk A")
    assert "Tue 8 Dec 2026 10:00–11:30 (Japan time): Desk A" in operator_text
    assert "¥" not in operator_text  # the company's money is not the operator's
    assert "operator of 湘南ワーク" in operator_text
    open_links(app, world.op_en, operator_mail)
    for operator in (world.op_en, world.op_ja):
        assert [n.kind for n in notices_of(operator)] == ["workspace_operator_cancelled"]
    assert not notices_of(world.op_other)
    assert not notices_of(world.admin_other)


def test_a_late_cancellation_says_what_was_kept(app, db, inbox, world):
    booking = book(world.employee, world.desk, at(TUESDAY, 10), at(TUESDAY, 11, 30))
    run_outbox()
    inbox.clear()
    late = at(MONDAY, 11)  # less than 24 hours before the start

    cancel_workspace(booking, late, world.employee)
    db.session.commit()
    received = delivered(inbox, world, late)

    text = text_of(the_mail(received, world.employee))
    assert "¥750 (tax incl.) returns to your company's stay credit." in text
    assert "Kept under the cancellation terms: ¥750 (tax incl.)" in text
    (notice,) = [n for n in notices_of(world.employee) if n.kind == "workspace_cancelled"]
    with force_locale("en"):
        assert notices.notice_text(notice.kind, notice).endswith(
            "was cancelled, ¥750 (tax incl.) back"
        )


def test_an_operator_may_switch_the_cancellation_mail_off_and_keeps_the_notice(
    app, db, inbox, world
):
    assert BY_NAME["workspace_operator_cancelled"] in kinds_for_role(Role.OPERATOR)
    page = signed_in(app, world.op_en).get("/account/notifications").get_data(as_text=True)
    assert 'value="workspace_operator_cancelled"' in page
    db.session.add(MailOptOut(user_id=world.op_en.id, kind="workspace_operator_cancelled",
                              created_at=NOW))  # fmt: skip
    db.session.commit()
    booking = book(world.employee, world.desk, at(TUESDAY, 10), at(TUESDAY, 11))
    cancel_workspace(booking, NOW, world.employee)
    db.session.commit()

    received = delivered(inbox, world)

    assert not received[world.op_en.email]
    assert [n.kind for n in notices_of(world.op_en)] == ["workspace_operator_cancelled"]
    assert len(received[world.op_ja.email]) == 1


def test_the_employee_s_workspace_mails_cannot_be_switched_off(app, db, world):
    page = signed_in(app, world.employee).get("/account/notifications").get_data(as_text=True)
    always = page[page.index('data-testid="always-sent"') :]
    for kind in (
        "workspace_booked",
        "workspace_changed",
        "workspace_cancelled",
        "workspace_no_show",
    ):
        assert f'data-kind="{kind}"' in always
        assert f'value="{kind}"' not in page


# -- changed ---------------------------------------------------------------------------------


def change(actor, booking, unit, start, end, now=NOW) -> None:
    change_workspace(actor, booking.id, unit.id, start, end, now)
    _db.session.commit()


def test_a_change_mails_the_employee_both_times_the_new_price_and_the_yen_charged(
    app, db, inbox, world
):
    booking = book(world.employee, world.desk, at(TUESDAY, 10), at(TUESDAY, 11))
    run_outbox()
    inbox.clear()

    change(world.employee, booking, world.booth, at(WEDNESDAY, 14), at(WEDNESDAY, 16))
    received = delivered(inbox, world)

    # The employee and the facility's operators; not the company's admin, nor strangers.
    only_to(received, world.employee, world.op_en, world.op_ja)
    mail = the_mail(received, world.employee)
    subject, text, html = subject_of(mail), text_of(mail), html_of(mail)
    assert subject == (
        "Workspace booking changed: now Booth 1 at Shonan Office, Wed 9 Dec 2026 14:00–16:00"
    )
    assert "Before: Tue 8 Dec 2026 10:00–11:00 (Japan time), Desk A" in text
    assert "Now: Wed 9 Dec 2026 14:00–16:00 (Japan time), Booth 1" in text
    assert f"Booking number: {booking.id}" in text  # the same booking, moved
    for part in (text, html):
        assert "Tue 8 Dec 2026 10:00–11:00 (Japan time), Desk A" in part
        assert "Wed 9 Dec 2026 14:00–16:00 (Japan time), Booth 1" in part
        assert "¥2,000 (tax incl.)" in part  # the new price
        assert "¥1,000 (tax incl.) more was paid from your company's stay credit." in part
        # The terms of the new time: free until 24 hours before it, then half.
        assert "free cancellation until Tue 8 Dec 2026 14:00" in part
        assert "¥1,000 (tax incl.) back until 14:00" in part
    assert yen_amounts(text) == [2000, 1000, 1000]
    assert "You receive this because you booked a workspace on Engawa." in text
    assert "cannot be switched off" in text
    assert [n.kind for n in notices_of(world.employee)] == ["workspace_booked", "workspace_changed"]
    notice = notices_of(world.employee)[-1]
    assert notice.link == f"/workspace/bookings/{booking.id}"
    with force_locale("en"):
        assert notices.notice_text(notice.kind, notice) == (
            f"Workspace booking {booking.id} changed: Desk A, Tue 8 Dec 10:00–11:00 → Booth 1"
            " at Shonan Office, Wed 9 Dec 14:00–16:00, now ¥2,000 (tax incl.),"
            " ¥1,000 (tax incl.) more charged"
        )
    open_links(app, world.employee, mail)
    assert not any(
        notices_of(user)
        for user in (world.admin, world.employee_ja, world.op_other, world.stranger)
    )


def test_the_operators_are_told_which_time_moved_where_without_the_company_s_money(
    app, db, inbox, world
):
    booking = book(world.employee, world.desk, at(TUESDAY, 10), at(TUESDAY, 11))
    run_outbox()
    inbox.clear()

    change(world.employee, booking, world.booth, at(WEDNESDAY, 14), at(WEDNESDAY, 16))
    received = delivered(inbox, world)

    mail = the_mail(received, world.op_en)
    text, html = text_of(mail), html_of(mail)
    assert subject_of(mail) == (
        f"Workspace booking {booking.id} changed: now Booth 1 at Shonan Office,"
        " Wed 9 Dec 2026 14:00–16:00"
    )
    assert "Before: Tue 8 Dec 2026 10:00–11:00 (Japan time), Desk A" in text
    assert "Now: Wed 9 Dec 2026 14:00–16:00 (Japan time), Booth 1" in text
    assert f"Guest name: {world.employee.name}" in text
    assert "Company: 株式会社テスト" in text
    assert "operator of 湘南ワーク" in text
    for part in (subject_of(mail), text, html):
        assert "¥" not in part  # the company's money is not the operator's
    open_links(app, world.op_en, mail)
    assert "2026年12月9日" in text_of(the_mail(received, world.op_ja))
    for operator in (world.op_en, world.op_ja):
        (notice,) = notices_of(operator)
        assert notice.kind == "workspace_operator_changed"
        stored = json.loads(notice.params)
        assert not {"price", "charged", "refunded", "kept", "refund"} & set(stored)
    with force_locale("en"):
        assert notices.notice_text(notice.kind, notice) == (
            f"Workspace booking {booking.id} at Shonan Office moved: Desk A, Tue 8 Dec"
            " 10:00–11:00 → Booth 1, Wed 9 Dec 14:00–16:00"
        )
    assert not notices_of(world.op_other)


def test_a_cheaper_time_mails_the_yen_returned_in_the_reader_s_language(app, db, inbox, world):
    booking = book(world.employee_ja, world.desk, at(TUESDAY, 10), at(TUESDAY, 12))
    run_outbox()
    inbox.clear()

    change(world.employee_ja, booking, world.desk, at(TUESDAY, 10), at(TUESDAY, 11))
    received = delivered(inbox, world)

    mail = the_mail(received, world.employee_ja)
    text = text_of(mail)
    assert "10:00–12:00" in text and "10:00–11:00" in text
    assert "2026年12月8日" in text
    # The new price, the yen returned to the company, the late refund of the new time.
    assert yen_amounts(text) == [1000, 1000, 500]
    assert not received[world.employee.email]
    notice = notices_of(world.employee_ja)[-1]
    assert notice.kind == "workspace_changed"
    with force_locale("en"):
        assert notices.notice_text(notice.kind, notice).endswith(
            "now ¥1,000 (tax incl.), ¥1,000 (tax incl.) back"
        )


def test_an_operator_may_switch_the_change_mail_off_and_keeps_the_notice(app, db, inbox, world):
    assert BY_NAME["workspace_operator_changed"] in kinds_for_role(Role.OPERATOR)
    assert BY_NAME["workspace_changed"] not in kinds_for_role(Role.OPERATOR)
    page = signed_in(app, world.op_en).get("/account/notifications").get_data(as_text=True)
    assert 'value="workspace_operator_changed"' in page
    db.session.add(MailOptOut(user_id=world.op_en.id, kind="workspace_operator_changed",
                              created_at=NOW))  # fmt: skip
    db.session.commit()
    booking = book(world.employee, world.desk, at(TUESDAY, 10), at(TUESDAY, 11))
    change(world.employee, booking, world.desk, at(WEDNESDAY, 10), at(WEDNESDAY, 11))

    received = delivered(inbox, world)

    assert not received[world.op_en.email]
    assert [n.kind for n in notices_of(world.op_en)] == ["workspace_operator_changed"]
    assert len(received[world.op_ja.email]) == 1
    # The same price: nothing charged or returned, and the employee is told so.
    subjects = [subject_of(m) for m in received[world.employee.email]]
    assert len(subjects) == 2 and subjects[1].startswith("Workspace booking changed")
    text = text_of(received[world.employee.email][1])
    assert "Nothing more was charged and nothing was refunded." in text


def test_a_change_cancelled_before_it_was_told_still_says_the_yen_but_no_terms(
    app, db, inbox, world
):
    booking = book(world.employee, world.desk, at(TUESDAY, 10), at(TUESDAY, 11))
    change(world.employee, booking, world.desk, at(TUESDAY, 10), at(TUESDAY, 12))
    cancel_workspace(booking, NOW, world.employee)
    db.session.commit()

    received = delivered(inbox, world)

    (mail,) = [m for m in received[world.employee.email] if "changed" in subject_of(m)]
    text = text_of(mail)
    assert "¥1,000 (tax incl.) more was paid from your company's stay credit." in text
    assert "Cancellation terms" not in text  # the cancellation's mail tells what came back


def test_a_change_event_about_another_company_s_booking_tells_nobody(app, db, inbox, world):
    """A forged or stale event (its booking is not the event's company's): no mail, no
    notice, no webhook body."""
    ours = _endpoint(db, "workspace.changed", operator_id=world.operator.id)
    booking = book(world.stranger, world.desk, at(TUESDAY, 10), at(TUESDAY, 11))
    run_outbox()
    inbox.clear()
    ev.emit(
        ev.WORKSPACE_CHANGED,
        NOW,
        company_id=world.company.id,
        operator_id=world.operator.id,
        user_id=world.employee.id,
        subject=("workspace_booking", booking.id),
        data={"old_unit_id": world.desk.id, "old_start": at(TUESDAY, 9).isoformat(),
              "old_end": at(TUESDAY, 10).isoformat(), "charged": 0, "refunded": 0, "kept": 0},
    )  # fmt: skip
    db.session.commit()

    received = delivered(inbox, world)

    assert not any(received.values())
    assert not notices_of(world.employee) and not notices_of(world.op_en)
    assert not _bodies(ours)


# -- with a stay -----------------------------------------------------------------------------


@pytest.fixture
def package(db, world, make_unit):
    """A stay Tue 8 to Thu 10 Dec at a house of the same organisation, with the desk
    09:00–18:00 on each of its three days (400 yen an hour: 3,600 yen a day)."""
    room = make_unit(base_price=10_000)
    room.facility.operator_id = world.operator.id
    desk = make_space(db, world.office, name="Desk S", hourly_price=400)
    stay, desks = book_package(
        world.employee,
        StayRequest(room.id, TUESDAY, THURSDAY, 1),
        desk_requests(desk.id, [TUESDAY, WEDNESDAY, THURSDAY], *_nine_to_six()),
        NOW,
    )
    db.session.commit()
    return stay, desks


def _nine_to_six():
    return time(9), time(18)


def test_desks_booked_with_a_stay_send_no_mail_of_their_own(app, db, inbox, world, package):
    stay, desks = package

    received = delivered(inbox, world)

    kinds = [subject_of(m) for m in received[world.employee.email]]
    assert len(kinds) == 1 and kinds[0].startswith("Booking confirmed")
    assert not [n for n in notices_of(world.employee) if n.kind.startswith("workspace_")]
    # The stay's confirmation has its desks, to list (templates/mail/workspace_stay_desks).
    db.session.rollback()
    created = db.session.scalar(
        select(Event).where(Event.type == ev.BOOKING_CREATED, Event.subject_id == stay.id)
    )
    facts = load_facts(created)
    assert [line.booking.id for line in facts.values["desks"]] == [d.id for d in desks]
    with app.test_request_context(), force_locale("en"):
        text = (
            _text_env()
            .get_template("mail/workspace_stay_desks.txt")
            .render(**facts.values, locale="en")
        )
        html = app.jinja_env.get_template("mail/workspace_stay_desks.html").render(
            **facts.values, locale="en"
        )
    assert "Desks booked with this stay" in text and "Desks booked with this stay" in html
    assert "Wed 9 Dec 2026 09:00–18:00" in html and "¥10,800 (tax incl.)" in html
    assert "{{" not in text + html and "None" not in text + html
    assert "Wed 9 Dec 2026 09:00–18:00: Desk S" in text
    assert "Workspace total: ¥10,800 (tax incl.)" in text
    assert "free cancellation until Tue 8 Dec 2026 09:00" in text


def test_desks_ended_with_their_stay_are_one_mail_that_says_so(app, db, inbox, world, package):
    stay, desks = package
    run_outbox()
    inbox.clear()

    cancellation.cancel_booking(world.employee, stay.id, NOW + timedelta(hours=1))
    db.session.commit()
    received = delivered(inbox, world, NOW + timedelta(hours=1))

    subjects = sorted(subject_of(m) for m in received[world.employee.email])
    assert len(subjects) == 2, subjects  # the stay's cancellation and one for its desks
    (mail,) = [m for m in received[world.employee.email] if "workspace" in subject_of(m)]
    assert_well_formed(mail)
    text = text_of(mail)
    assert "cancelled because the stay they were booked with ended" in text
    assert f"The stay: booking number {stay.id}" in text
    assert "¥10,800 (tax incl.) returns to your company's stay credit." in text
    for desk in desks:
        assert f"booking number {desk.id}" in text
    assert "¥3,600 (tax incl.) back" in text
    # The operators: one notice of the three desks (and their stay's own).
    kinds = [n.kind for n in notices_of(world.op_en)]
    assert kinds.count("workspace_operator_cancelled") == 1
    (notice,) = [n for n in notices_of(world.op_en) if n.kind == "workspace_operator_cancelled"]
    with force_locale("en"):
        assert notices.notice_text(notice.kind, notice).startswith(
            "3 workspace bookings at Shonan Office were cancelled"
        )


# -- no-show ---------------------------------------------------------------------------------


def test_a_released_desk_mails_what_was_released_and_what_came_back(app, db, inbox, world):
    book(world.employee, world.desk, at(TUESDAY, 10), at(TUESDAY, 11, 30))
    run_outbox()
    inbox.clear()
    late = at(TUESDAY, 10, 31)

    release_no_shows(late)
    received = delivered(inbox, world, late)

    only_to(received, world.employee)
    mail = the_mail(received, world.employee)
    text = text_of(mail)
    assert "Workspace released, nobody checked in: Desk A" in subject_of(mail)
    assert "the rest of its time, from 11:00, was released" in text
    # Released at 10:31, from the next slot: the 30 minutes from 11:00 came back.
    assert "¥500 (tax incl.), the price of the time released, returns" in text
    assert "Kept for the time before it was released: ¥1,000 (tax incl.)" in text
    (notice,) = [n for n in notices_of(world.employee) if n.kind == "workspace_no_show"]
    with force_locale("en"):
        said = notices.notice_text(notice.kind, notice)
    assert said == (
        "Nobody checked in at Desk A, Shonan Office, Tue 8 Dec 10:00: the rest of the time"
        " was released, ¥500 (tax incl.) back"
    )


# -- webhooks --------------------------------------------------------------------------------


def _endpoint(db, types: str, **owner) -> WebhookEndpoint:
    endpoint = WebhookEndpoint(
        url="https://hooks.example.com/x",
        event_types=types,
        secret=seal_secret("whsec_test"),
        created_at=NOW,
        **owner,
    )
    db.session.add(endpoint)
    db.session.commit()
    return endpoint


def _bodies(endpoint) -> list[dict]:
    _db.session.rollback()
    rows = _db.session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id)
        .order_by(WebhookDelivery.id)
    )
    return [json.loads(open_body(row.body)) for row in rows]


def test_the_webhooks_go_to_the_facility_s_operator_only(app, db, world):
    types = "workspace.booked workspace.cancelled workspace.no_show"
    ours = _endpoint(db, types, operator_id=world.operator.id)
    theirs = _endpoint(db, types, operator_id=world.op_other.operator_id)
    company = _endpoint(db, "booking.created booking.cancelled", company_id=world.company.id)
    series = book_workspace(
        world.employee,
        [
            WorkspaceRequest(world.desk.id, at(TUESDAY, 10), at(TUESDAY, 11)),
            WorkspaceRequest(world.desk.id, at(WEDNESDAY, 10), at(WEDNESDAY, 11)),
        ],
        NOW,
    )
    db.session.commit()
    cancel_workspace(series[1], NOW, world.employee)
    db.session.commit()
    release_no_shows(at(TUESDAY, 10, 30))

    run_outbox(at(TUESDAY, 10, 30))

    bodies = _bodies(ours)
    assert [b["type"] for b in bodies] == [
        "workspace.booked",
        "workspace.booked",  # one per booking, though the employee had one mail
        "workspace.cancelled",
        "workspace.no_show",
    ]
    assert not _bodies(theirs) and not _bodies(company)
    first = bodies[0]["data"]["object"]
    assert first["object"] == "workspace_booking"
    assert first["starts_at"] == "2026-12-08T01:00:00Z"  # 10:00 in Tokyo
    assert first["total_yen"] == 1000 and first["minutes"] == 60
    assert first["guest"] == {"name": world.employee.name}
    assert first["company"] == {"name": "株式会社テスト"}
    assert first["unit"]["name"] == "Desk A" and first["stay_id"] is None
    assert world.employee.email not in json.dumps(bodies, ensure_ascii=False)
    cancelled = bodies[2]["data"]["object"]
    assert (cancelled["status"], cancelled["refund_yen"], cancelled["with_stay"]) == (
        "cancelled",
        1000,
        False,
    )
    no_show = bodies[3]["data"]["object"]
    assert (no_show["status"], no_show["refund_yen"]) == ("no_show", 500)
    assert no_show["released_at"] == "2026-12-08T01:30:00Z"


def test_a_change_s_webhook_goes_to_the_facility_s_operator_with_where_it_was(app, db, world):
    ours = _endpoint(db, "workspace.changed", operator_id=world.operator.id)
    booked_only = _endpoint(db, "workspace.booked", operator_id=world.operator.id)
    theirs = _endpoint(db, "workspace.changed", operator_id=world.op_other.operator_id)
    company = _endpoint(db, "booking.changed", company_id=world.company.id)
    booking = book(world.employee, world.desk, at(TUESDAY, 10), at(TUESDAY, 11))
    change(world.employee, booking, world.booth, at(WEDNESDAY, 14), at(WEDNESDAY, 16))

    run_outbox()

    (body,) = _bodies(ours)
    assert body["type"] == "workspace.changed"
    obj = body["data"]["object"]
    assert (obj["object"], obj["id"], obj["status"]) == (
        "workspace_booking",
        booking.id,
        "confirmed",
    )
    assert obj["unit"]["name"] == "Booth 1"
    assert (obj["starts_at"], obj["ends_at"]) == ("2026-12-09T05:00:00Z", "2026-12-09T07:00:00Z")
    assert obj["total_yen"] == 2000 and obj["minutes"] == 120
    assert obj["previous"] == {
        "unit_id": world.desk.id,
        "starts_at": "2026-12-08T01:00:00Z",  # 10:00 in Tokyo
        "ends_at": "2026-12-08T02:00:00Z",
    }
    assert obj["guest"] == {"name": world.employee.name}
    assert "charged_yen" not in obj and "refunded_yen" not in obj
    assert world.employee.email not in json.dumps(body, ensure_ascii=False)
    assert [b["type"] for b in _bodies(booked_only)] == ["workspace.booked"]
    assert not _bodies(theirs) and not _bodies(company)


def test_only_an_operator_may_choose_the_workspace_webhooks(app, db, world):
    assert {
        ev.WORKSPACE_BOOKED,
        ev.WORKSPACE_CANCELLED,
        ev.WORKSPACE_CHANGED,
        ev.WORKSPACE_NO_SHOW,
    } <= set(OPERATOR_WEBHOOK_TYPES)
    with pytest.raises(WebhookError):
        create_endpoint(
            Owner(company_id=world.company.id),
            world.admin,
            "https://hooks.example.com/x",
            "",
            ["workspace.booked"],
            NOW,
            allow_private=True,
        )
    db.session.rollback()
    with pytest.raises(WebhookError):
        create_endpoint(
            Owner(company_id=world.company.id),
            world.admin,
            "https://hooks.example.com/x",
            "",
            ["workspace.changed"],
            NOW,
            allow_private=True,
        )
    db.session.rollback()
    form = signed_in(app, world.op_en).get("/operator/webhooks/new").get_data(as_text=True)
    assert 'value="workspace.no_show"' in form
    assert 'value="workspace.changed"' in form
    assert "A desk, booth or meeting room booking was changed" in form
    assert "A desk, booth or meeting room was booked" in form


def test_an_event_about_another_company_s_booking_tells_nobody(app, db, inbox, world):
    """A forged or stale event (its booking is not the event's company's) sends nothing:
    no mail, no notice, no webhook body."""
    ours = _endpoint(db, "workspace.booked", operator_id=world.operator.id)
    booking = book(world.stranger, world.desk, at(TUESDAY, 10), at(TUESDAY, 11))
    run_outbox()
    inbox.clear()
    db.session.execute(WebhookDelivery.__table__.delete())
    ev.emit(
        ev.WORKSPACE_BOOKED,
        NOW,
        company_id=world.company.id,
        operator_id=world.operator.id,
        user_id=world.employee.id,
        subject=("workspace_booking", booking.id),
        data={"series": None},
    )
    db.session.commit()

    received = delivered(inbox, world)

    assert not any(received.values())
    assert not notices_of(world.employee)
    assert not _bodies(ours)


# -- the operators' daily summary ------------------------------------------------------------


def test_the_daily_summary_lists_today_s_workspace_per_facility(app, db, inbox, world):
    first = book(world.employee, world.desk, at(TUESDAY, 10), at(TUESDAY, 11, 30))
    book(world.employee_ja, world.booth, at(TUESDAY, 9), at(TUESDAY, 9, 30))
    gone = book(world.employee, world.desk, at(TUESDAY, 14), at(TUESDAY, 15))
    cancel_workspace(gone, NOW, world.employee)
    book(world.employee, world.desk, at(WEDNESDAY, 10), at(WEDNESDAY, 11))  # not today
    book(world.stranger, world.other_desk, at(TUESDAY, 16), at(TUESDAY, 17))
    db.session.commit()
    run_outbox()
    inbox.clear()
    seven = at(TUESDAY, 7)

    stay_jobs.operator_digest(seven)
    received = delivered(inbox, world, seven)

    assert {email for email, mails in received.items() if mails} == {
        world.op_en.email,
        world.op_ja.email,
        world.op_other.email,
    }
    mail = the_mail(received, world.op_en)
    text, html = text_of(mail), html_of(mail)
    assert subject_of(mail) == "Workspace bookings today, Tue 8 Dec 2026"
    assert "Arrivals" not in text  # no stay arrives or leaves: no empty stay section
    assert "Workspace bookings (2, Japan time)" in text
    assert "- 09:00–09:30 Booth 1" in text
    assert f"- 10:00–11:30 Desk A (#{first.id})" in text
    assert "14:00" not in text and "Desk Z" not in text
    assert "10:00–11:30 Desk A" in html
    open_links(app, world.op_en, mail)
    other = text_of(the_mail(received, world.op_other))
    assert "16:00–17:00 Desk Z" in other and "Desk A" not in other


def test_the_summary_adds_workspace_to_arrivals_and_leaves_it_out_when_there_is_none(
    app, db, inbox, world, make_unit
):
    room = make_unit(base_price=10_000)
    room.facility.operator_id = world.operator.id
    db.session.commit()
    stay, _desks = book_package(world.employee, StayRequest(room.id, TUESDAY, THURSDAY, 1), [], NOW)
    db.session.commit()
    run_outbox()
    inbox.clear()

    stay_jobs.operator_digest(at(TUESDAY, 7))
    text = text_of(the_mail(delivered(inbox, world, at(TUESDAY, 7)), world.op_en))
    assert "Arrivals (1)" in text and "Workspace" not in text

    book(world.employee, world.desk, at(WEDNESDAY, 10), at(WEDNESDAY, 11))
    inbox.clear()
    stay_jobs.operator_digest(at(WEDNESDAY, 7))
    received = delivered(inbox, world, at(WEDNESDAY, 7))
    mail = the_mail(received, world.op_en)
    assert subject_of(mail) == "Workspace bookings today, Wed 9 Dec 2026"
    text = text_of(mail)
    assert "10:00–11:00 Desk A" in text and "Arrivals" not in text
    assert stay.check_out == THURSDAY  # it leaves the day after: not in Wednesday's summary
