"""The dispatcher: each event becomes its notices, mail and webhook deliveries once, for
the right people only; preferences, the refusals count, a gone subject, a failing
event, and two dispatchers at once on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from accounts import events as ev
from accounts.events import Event
from accounts.mail import OutgoingMail
from accounts.models import Role
from booking.models import Booking
from core.db import TOKYO
from core.extensions import db as _db
from notifications import dispatch, mail_render
from notifications.models import MailOptOut, Notice
from tests.conftest import NOW
from tests.notifications.mailing import book, queued, queued_text, undispatched

BARRIER_TIMEOUT = 20
JOIN_TIMEOUT = 120


@pytest.fixture
def people(make_user, make_company, unit):
    """The operators of ``unit``'s organisation, a company's admins and employee, and
    people who must hear nothing of them."""
    company = make_company(name="株式会社テスト")
    operator = unit.facility.operator
    return {
        "operator": make_user(Role.OPERATOR, operator=operator, locale="en"),
        "locked_operator": make_user(Role.OPERATOR, operator=operator, locked_at=NOW),
        "inactive_operator": make_user(Role.OPERATOR, operator=operator, active=False),
        "stranger_operator": make_user(Role.OPERATOR),
        "admin": make_user(Role.COMPANY_ADMIN, company=company),
        "inactive_admin": make_user(Role.COMPANY_ADMIN, company=company, active=False),
        "stranger_admin": make_user(Role.COMPANY_ADMIN),
        "employee": make_user(Role.EMPLOYEE, company=company, locale="en"),
        "colleague": make_user(Role.EMPLOYEE, company=company),
        "root": make_user(Role.PLATFORM_ADMIN),
    }


def mails_by_kind() -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for mail in queued():
        out.setdefault(mail.kind, []).append(mail.user_id)
    return out


def refused(user, at: datetime = NOW) -> None:
    ev.emit(
        ev.BOOKING_REFUSED,
        at,
        company_id=user.company_id,
        user_id=user.id,
        actor_id=user.id,
        data={"reason": "monthly_cap"},
    )
    _db.session.commit()


# --- who hears of what --------------------------------------------------------------------


def test_a_booking_goes_to_its_guest_and_the_reachable_operators_only(app, db, people, unit):
    booking = book(people["employee"], unit)
    summary = dispatch.dispatch_events(NOW)
    assert summary.startswith("1 events dispatched: 2 mails, 1 notices")
    assert mails_by_kind() == {
        "booking_confirmed": [people["employee"].id],
        "operator_booking_created": [people["operator"].id],
    }
    (mail,) = queued("booking_confirmed")
    assert mail.to_address == people["employee"].email
    assert mail.html_body and mail.attachment_name == f"engawa-stay-{booking.id}.ics"
    # The operator's notice under the bell: its params and the facility page.
    (notice,) = db.session.scalars(select(Notice)).all()
    assert notice.user_id == people["operator"].id and notice.kind == "operator_booking_created"
    assert json.loads(notice.params) == {
        "booking": booking.id,
        "facility": unit.facility.name_ja,
        "facility_en": unit.facility.name_en,
        "check_in": booking.check_in.isoformat(),
        "check_out": booking.check_out.isoformat(),
    }
    assert notice.link == f"/operator/facilities/{unit.facility_id}"
    assert not undispatched()


def test_company_news_goes_to_its_active_admins_only(app, db, people):
    ev.emit(ev.SEATS_FULL, NOW, company_id=people["admin"].company_id)
    db.session.commit()
    dispatch.dispatch_events(NOW)
    assert mails_by_kind() == {"seats_full": [people["admin"].id]}
    notice = db.session.scalar(select(Notice))
    assert (notice.user_id, notice.link, json.loads(notice.params)) == (
        people["admin"].id,
        "/company/billing",
        {},
    )


def test_an_application_no_longer_there_is_dispatched_with_nothing_sent(app, db, people):
    ev.emit(ev.APPLICATION_SUBMITTED, NOW, subject=("application", 12345))
    db.session.commit()
    dispatch.dispatch_events(NOW)  # no such application: marked dispatched, nothing sent
    assert queued() == [] and not undispatched()


def test_dispatching_again_sends_nothing_more(app, db, people, unit):
    book(people["employee"], unit)
    dispatch.dispatch_events(NOW)
    assert dispatch.events_pending() is False
    assert str(dispatch.dispatch_events(NOW)) == ""
    assert len(queued()) == 2


def test_events_pending_says_whether_the_job_has_work(app, db, people):
    assert dispatch.events_pending() is False
    ev.emit(ev.SEATS_FULL, NOW, company_id=people["admin"].company_id)
    db.session.commit()
    assert dispatch.events_pending() is True


def test_every_event_is_handed_to_the_webhooks_once(app, db, people, unit, monkeypatch):
    handed: list[tuple[str, int]] = []

    def queue_deliveries(event, now):
        handed.append((event.type, event.id))
        return 1

    monkeypatch.setattr(dispatch.webhooks, "queue_deliveries", queue_deliveries)
    book(people["employee"], unit)
    refused(people["employee"])
    summary = dispatch.dispatch_events(NOW)
    dispatch.dispatch_events(NOW)
    assert [kind for kind, _ in handed] == [ev.BOOKING_CREATED, ev.BOOKING_REFUSED]
    assert "2 webhook deliveries queued" in summary


# --- preferences --------------------------------------------------------------------------


def test_an_optional_kind_switched_off_is_not_mailed_but_its_notice_remains(app, db, people, unit):
    db.session.add(MailOptOut(user_id=people["operator"].id, kind="operator_booking_created"))
    db.session.commit()
    book(people["employee"], unit)
    dispatch.dispatch_events(NOW)
    assert mails_by_kind() == {"booking_confirmed": [people["employee"].id]}
    notice = db.session.scalar(select(Notice).where(Notice.user_id == people["operator"].id))
    assert notice is not None and notice.kind == "operator_booking_created"


def test_a_required_kind_is_mailed_even_with_an_opt_out_row(app, db, people, unit):
    db.session.add(MailOptOut(user_id=people["employee"].id, kind="booking_confirmed"))
    db.session.add(MailOptOut(user_id=people["admin"].id, kind="invoice_issued"))
    db.session.commit()
    book(people["employee"], unit)
    dispatch.dispatch_events(NOW)
    assert mails_by_kind()["booking_confirmed"] == [people["employee"].id]


# --- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(("refusals", "mails"), [(3, 0), (4, 1), (8, 1)])
def test_more_than_three_refusals_in_a_day_tell_the_admins_once(app, db, people, refusals, mails):
    for n in range(refusals):
        refused(people["employee"], NOW + timedelta(minutes=n))
    refused(people["colleague"])  # another employee's one refusal counts apart
    dispatch.dispatch_events(NOW + timedelta(hours=1))
    dispatch.dispatch_events(NOW + timedelta(hours=2))
    sent = queued("refusals_many")
    assert [mail.user_id for mail in sent] == [people["admin"].id] * mails
    if mails:
        assert people["employee"].name in queued_text(sent[0])
        many = db.session.scalar(select(Event).where(Event.type == ev.REFUSALS_MANY))
        assert many.user_id == people["employee"].id
        assert many.facts == {"count": 4, "day": "2026-12-01"}
    assert not undispatched()


def test_refusals_are_counted_per_japan_day(app, db, people):
    late = datetime(2026, 12, 1, 23, 50, tzinfo=TOKYO).astimezone(UTC)
    for n in range(3):
        refused(people["employee"], late + timedelta(minutes=n))
    refused(people["employee"], late + timedelta(minutes=15))  # 00:05 on Dec 2 in Tokyo
    dispatch.dispatch_events(late + timedelta(hours=1))
    assert queued("refusals_many") == []
    for n in range(3):
        refused(people["employee"], late + timedelta(minutes=20 + n))  # Dec 2: 4 in all
    dispatch.dispatch_events(late + timedelta(hours=2))
    (sent,) = queued("refusals_many")
    assert "2 Dec 2026" in queued_text(sent) or "2026年12月2日" in queued_text(sent)


# --- what cannot be told ------------------------------------------------------------------


def test_an_event_whose_booking_is_gone_is_dispatched_with_nothing_sent(app, db, people, unit):
    ev.emit(
        ev.BOOKING_CANCELLED,
        NOW,
        company_id=people["employee"].company_id,
        operator_id=unit.facility.operator_id,
        user_id=people["employee"].id,
        subject=("booking", 999_999),
        data={"refund": 0, "fee": 0, "by": "employee"},
    )
    db.session.commit()
    dispatch.dispatch_events(NOW)
    assert queued() == [] and db.session.scalar(select(func.count(Notice.id))) == 0
    assert not undispatched()


def test_a_reminder_of_a_stay_cancelled_since_is_not_sent(app, db, people, unit):
    booking = book(people["employee"], unit)
    dispatch.dispatch_events(NOW)
    booking = db.session.get(Booking, booking.id)
    booking.status = "cancelled"
    ev.emit(
        ev.STAY_REMINDER,
        NOW,
        company_id=booking.company_id,
        operator_id=unit.facility.operator_id,
        user_id=booking.user_id,
        subject=("booking", booking.id),
    )
    db.session.commit()
    dispatch.dispatch_events(NOW)
    assert queued("stay_reminder") == [] and not undispatched()


def test_a_failing_event_is_left_for_later_and_does_not_hold_up_the_rest(
    app, db, people, unit, monkeypatch, caplog
):
    real = mail_render.render_mail

    def render(kind, facts, recipient, now):
        if kind.name == "seats_full":
            raise KeyError(recipient.email)  # an error whose text holds personal data
        return real(kind, facts, recipient, now)

    monkeypatch.setattr(dispatch, "render_mail", render)
    ev.emit(ev.SEATS_FULL, NOW, company_id=people["admin"].company_id)
    db.session.commit()
    book(people["employee"], unit)
    with caplog.at_level(logging.WARNING, logger="notifications.dispatch"):
        summary = dispatch.dispatch_events(NOW)
    assert "1 failed (tried again next run)" in summary
    assert set(mails_by_kind()) == {"booking_confirmed", "operator_booking_created"}
    # Nothing of the failed event is kept (its notice was rolled back with it).
    assert db.session.scalar(select(Notice).where(Notice.kind == "seats_full")) is None
    (left,) = undispatched()
    assert left.type == ev.SEATS_FULL
    assert "KeyError" in caplog.text and people["admin"].email not in caplog.text
    # Tried again on every run: once fixed, it is sent.
    monkeypatch.setattr(dispatch, "render_mail", real)
    dispatch.dispatch_events(NOW + timedelta(minutes=1))
    assert mails_by_kind()["seats_full"] == [people["admin"].id]
    assert not undispatched()


def test_an_event_failing_for_a_day_is_given_up(app, db, people, monkeypatch, caplog):
    def render(kind, facts, recipient, now):
        raise ValueError("broken template")

    monkeypatch.setattr(dispatch, "render_mail", render)
    ev.emit(ev.SEATS_FULL, NOW, company_id=people["admin"].company_id)
    db.session.commit()
    assert "1 failed" in dispatch.dispatch_events(NOW + timedelta(hours=23))
    with caplog.at_level(logging.ERROR, logger="notifications.dispatch"):
        summary = dispatch.dispatch_events(NOW + timedelta(days=1))
    assert "1 given up after failing for a day" in summary
    assert not undispatched() and queued() == []
    assert "ValueError" in caplog.text and "broken template" not in caplog.text


# --- two dispatchers at once --------------------------------------------------------------


def test_two_dispatchers_at_once_make_each_message_once(app, db, people, unit, monkeypatch):
    monkeypatch.setattr(dispatch, "BATCH_SIZE", 3)  # many small batches, interleaved
    stays = [book(people["employee"], unit, 10 + 2 * n, 11 + 2 * n).id for n in range(8)]
    for n in range(5):
        refused(people["colleague"], NOW + timedelta(minutes=n))
    ids = {name: user.id for name, user in people.items()}
    db.session.commit()
    db.session.remove()  # nothing held while the racers run (SQLite's write lock)

    barrier = threading.Barrier(2, timeout=BARRIER_TIMEOUT)
    outcomes: list = [None, None]

    def racer(i: int) -> None:
        with app.app_context():
            try:
                barrier.wait()
                outcomes[i] = str(dispatch.dispatch_events(NOW))
            except Exception as exc:  # recorded for the main thread to assert on
                barrier.abort()
                outcomes[i] = ("error", repr(exc))
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads)
    assert all(isinstance(outcome, str) for outcome in outcomes), outcomes

    sent = mails_by_kind()
    assert sent["booking_confirmed"] == [ids["employee"]] * len(stays)
    assert sent["operator_booking_created"] == [ids["operator"]] * len(stays)
    assert sent["refusals_many"] == [ids["admin"]]
    assert set(sent) == {"booking_confirmed", "operator_booking_created", "refusals_many"}
    notices = db.session.scalar(select(func.count(Notice.id)))
    assert notices == len(stays) + 1  # the operator's, and the admin's refusals notice
    assert db.session.scalar(select(func.count(OutgoingMail.id))) == 2 * len(stays) + 1
    assert not undispatched()
