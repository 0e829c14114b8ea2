"""The organiser's services (``regions.organise``): a programme's facts checked before
anything is saved, sessions one-off or weekly (all or nothing), seats never below those
taken, a cancellation that gives every credit-paid fee back and tells each employee
once, attendance only from the start, messages to everyone who joined, and the
participants of one's own sessions only.

The clock is tests.conftest.NOW (Tuesday 2026-12-01, 12:00 in Japan). Every test runs
on SQLite and on PostgreSQL; the races use real threads, each with its own session.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from accounts import events as ev
from accounts.audit import AuditEntry
from accounts.events import Event
from accounts.models import User
from billing import ledger
from core.db import TOKYO
from core.extensions import db as _db
from regions import (
    organise,
    organise_people,
    organise_sessions,
    places,
    programme_money,
    programmes,
)
from regions.models import (
    Programme,
    ProgrammeMessage,
    ProgrammeSession,
    ProgrammeSignup,
    SessionStatus,
    SignupStatus,
)
from tests.booking.test_race import race
from tests.conftest import NOW
from tests.regions.organise_fixtures import (
    FRIDAY,
    GRACE_DAYS,
    NAGANO,
    NOON,
    TEN,
    draft,
    join,
    make_organisers,
    new_programme,
    reload,
    signup_status,
)


@pytest.fixture
def organisers(db, make_operator, make_user, make_company):
    """The organisers' world (tests/regions/organise_fixtures.py)."""
    return make_organisers(make_operator, make_user, make_company)


def count(model) -> int:
    _db.session.rollback()
    return _db.session.scalar(select(func.count()).select_from(model))


def events_of(type_: str) -> list[Event]:
    _db.session.expire_all()
    return list(_db.session.scalars(select(Event).where(Event.type == type_).order_by(Event.id)))


def balance(company_id: int) -> int:
    _db.session.expire_all()
    return ledger.account_of(company_id).credit_balance


# --- a programme's facts ------------------------------------------------------------------


def test_a_good_programme_is_saved_with_its_prefecture_from_the_code(organisers):
    w = organisers
    programme = organise.create_programme(
        w.nagano.id, draft(title_en="", municipality_code=" 202011 "), NOW, actor=w.op
    )
    _db.session.commit()
    saved = reload(Programme, programme.id)
    assert (saved.municipality_code, saved.prefecture) == (NAGANO, 20)
    assert saved.title_en == "" and saved.title("en") == "雪かきボランティア"
    assert not saved.published and saved.operator_id == w.nagano.id
    entry = _db.session.scalars(select(AuditEntry)).one()
    assert (entry.action, entry.object_id, entry.operator_id) == (
        "programme.create",
        programme.id,
        w.nagano.id,
    )


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"title_ja": "  "}, {"title_ja"}),
        ({"title_ja": "雪" * 201}, {"title_ja"}),
        ({"kind": "party"}, {"kind"}),
        ({"municipality_code": "202012"}, {"municipality_code"}),  # wrong check digit
        ({"municipality_code": "999997"}, {"municipality_code"}),  # well formed, no such town
        ({"municipality_code": "20201"}, {"municipality_code"}),
        ({"latitude": 51.5, "longitude": -0.12}, {"latitude"}),  # London
        ({"latitude": None}, {"latitude"}),
        ({"capacity": 0}, {"capacity"}),
        ({"capacity": 501}, {"capacity"}),
        ({"capacity": 5, "min_participants": 6}, {"min_participants"}),
        ({"min_participants": 0}, {"min_participants"}),
        ({"price_kind": "free", "price": 1000}, {"price"}),
        ({"price_kind": "credit", "price": 0}, {"price"}),
        ({"price_kind": "local", "price": None}, {"price"}),
        ({"price_kind": "credit", "price": 100_001}, {"price"}),
        ({"price_kind": "barter"}, {"price_kind"}),
        ({"language": "fr"}, {"language"}),
        ({"title_ja": "", "capacity": 0, "latitude": 0.0}, {"title_ja", "capacity", "latitude"}),
    ],
)
def test_bad_facts_are_refused_field_by_field_and_nothing_is_saved(organisers, changes, fields):
    with pytest.raises(organise.ProgrammeInvalid) as refused:
        organise.create_programme(organisers.nagano.id, draft(**changes), NOW, actor=organisers.op)
    assert set(refused.value.errors) == fields
    assert count(Programme) == 0 and count(AuditEntry) == 0


def test_paid_programmes_keep_their_price_and_free_ones_are_zero(organisers):
    w = organisers
    credit = organise.create_programme(
        w.nagano.id, draft(price_kind="credit", price=3000), NOW, actor=w.op
    )
    free = organise.create_programme(w.nagano.id, draft(price=None), NOW, actor=w.op)
    _db.session.commit()
    assert (credit.price_kind, credit.price) == ("credit", 3000)
    assert (free.price_kind, free.price) == ("free", 0)


def test_an_organiser_edits_only_its_own_programmes(organisers):
    w = organisers
    programme, _ = new_programme(w.nagano.id, w.op)
    assert organise.own_programme(w.other.id, programme.id) is None
    assert organise.own_programme(w.nagano.id, 2**40) is None
    assert organise.own_programme(w.nagano.id, programme.id) is programme
    organise.edit_programme(
        programme, draft(title_ja="雪かき", capacity=8, min_participants=3), NOW, actor=w.op
    )
    _db.session.commit()
    saved = reload(Programme, programme.id)
    assert (saved.title_ja, saved.capacity) == ("雪かき", 8)
    update = _db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "programme.update")
    ).one()
    assert update.before_values == {
        "title_ja": "雪かきボランティア",
        "capacity": 5,
        "min_participants": 2,
    }
    with pytest.raises(organise.ProgrammeInvalid):
        organise.edit_programme(saved, draft(capacity=2, min_participants=3), NOW, actor=w.op)
    _db.session.rollback()
    assert reload(Programme, programme.id).capacity == 8


def test_publishing_needs_a_session_ahead_and_unpublishing_keeps_places(organisers):
    w = organisers
    programme, _ = new_programme(w.nagano.id, w.op, sessions=0)
    with pytest.raises(organise.SessionRefused) as refused:
        organise.publish(programme, NOW, actor=w.op)
    assert refused.value.code == "no_sessions"
    (session,) = organise_sessions.add_weekly_series(programme, FRIDAY, TEN, NOON, 1, NOW)
    organise.publish(programme, NOW, actor=w.op)
    _db.session.commit()
    signup = join(session, w.employees[0])
    organise.unpublish(reload(Programme, programme.id), NOW, actor=w.op)
    _db.session.commit()
    assert not reload(Programme, programme.id).published
    assert signup_status(signup.id) == SignupStatus.JOINED


# --- sessions -----------------------------------------------------------------------------


def test_a_one_off_session_is_stored_as_utc_from_japan_time(organisers):
    w = organisers
    programme, _ = new_programme(w.nagano.id, w.op, sessions=0, capacity=7)
    session = organise_sessions.add_session(programme, FRIDAY, time(9, 30), time(11, 45), NOW)
    _db.session.commit()
    saved = reload(ProgrammeSession, session.id)
    assert saved.starts_at == datetime(2026, 12, 11, 0, 30, tzinfo=UTC)
    assert saved.ends_at == datetime(2026, 12, 11, 2, 45, tzinfo=UTC)
    assert (saved.capacity, saved.seats_taken, saved.status) == (7, 0, "scheduled")


@pytest.mark.parametrize(
    ("day", "start", "end", "code"),
    [
        (FRIDAY, time(12), time(10), "times"),
        (FRIDAY, time(10), time(10), "times"),
        (date(2026, 12, 1), time(11), time(13), "past"),  # began an hour ago
        (date(2027, 12, 10), time(10), time(12), "too_far"),
        (date(9999, 12, 31), time(10), time(12), "too_far"),  # no overflow at the ends
        (date(1, 1, 1), time(5), time(6), "too_far"),
    ],
)
def test_a_session_must_be_ahead_and_end_after_it_starts(organisers, day, start, end, code):
    programme, _ = new_programme(organisers.nagano.id, organisers.op, sessions=0)
    with pytest.raises(organise.SessionRefused) as refused:
        organise_sessions.add_session(programme, day, start, end, NOW)
    assert refused.value.code == code
    assert count(ProgrammeSession) == 0


def test_a_weekly_series_keeps_the_weekday(organisers):
    programme, sessions = new_programme(organisers.nagano.id, organisers.op, sessions=4)
    days = [s.starts_at.astimezone(TOKYO).date() for s in sessions]
    assert days == [FRIDAY + timedelta(weeks=n) for n in range(4)]
    assert {d.weekday() for d in days} == {4}


def test_a_series_is_added_all_or_nothing(organisers):
    w = organisers
    programme, _ = new_programme(w.nagano.id, w.op, sessions=0)
    clash = organise_sessions.add_session(
        programme, FRIDAY + timedelta(weeks=2), time(11), time(13), NOW
    )
    _db.session.commit()
    with pytest.raises(organise.SessionRefused) as refused:
        organise_sessions.add_weekly_series(programme, FRIDAY, TEN, NOON, 4, NOW)
    assert refused.value.code == "overlap"
    assert "2026-12-25 10:00" in str(refused.value.message)
    _db.session.rollback()
    assert count(ProgrammeSession) == 1
    # A series running past the horizon is refused whole too.
    with pytest.raises(organise.SessionRefused) as refused:
        organise_sessions.add_weekly_series(
            reload(Programme, programme.id), date(2027, 10, 1), TEN, NOON, 26, NOW
        )
    assert refused.value.code == "too_far"
    _db.session.rollback()
    assert count(ProgrammeSession) == 1
    # A cancelled session no longer takes its time.
    organise_sessions.cancel_session(reload(ProgrammeSession, clash.id), "雨天", NOW, actor=w.op)
    organise_sessions.add_weekly_series(reload(Programme, programme.id), FRIDAY, TEN, NOON, 4, NOW)
    _db.session.commit()
    assert count(ProgrammeSession) == 5


@pytest.mark.parametrize("weeks", [0, 27, -1])
def test_a_series_runs_one_to_26_weeks(organisers, weeks):
    programme, _ = new_programme(organisers.nagano.id, organisers.op, sessions=0)
    with pytest.raises(organise.SessionRefused) as refused:
        organise_sessions.add_weekly_series(programme, FRIDAY, TEN, NOON, weeks, NOW)
    assert refused.value.code == "weeks"


# --- seats --------------------------------------------------------------------------------


def test_seats_never_fall_below_those_taken_and_a_rise_serves_the_waitlist(organisers):
    w = organisers
    _, (session,) = new_programme(w.nagano.id, w.op, capacity=3, min_participants=1)
    first = join(session, w.employees[0], 2)
    second = join(session, w.employees[1], 1)
    waiting = join(session, w.employees[2], 2, wait=True)
    assert waiting.status == SignupStatus.WAITLISTED
    with pytest.raises(organise.SessionRefused) as refused:
        organise_sessions.set_session_capacity(reload(ProgrammeSession, session.id), 2, NOW)
    assert refused.value.code == "below_taken"
    _db.session.rollback()
    for bad in (0, 501):
        with pytest.raises(organise.SessionRefused):
            organise_sessions.set_session_capacity(reload(ProgrammeSession, session.id), bad, NOW)
        _db.session.rollback()
    promoted = organise_sessions.set_session_capacity(reload(ProgrammeSession, session.id), 5, NOW)
    _db.session.commit()
    assert [s.id for s in promoted] == [waiting.id]
    saved = reload(ProgrammeSession, session.id)
    assert (saved.capacity, saved.seats_taken) == (5, 5)
    assert {signup_status(s.id) for s in (first, second, waiting)} == {SignupStatus.JOINED}
    assert [e.subject_id for e in events_of(ev.PROGRAMME_PROMOTED)] == [waiting.id]
    # Lowering to exactly what is taken is allowed, and promotes nobody.
    assert (
        organise_sessions.set_session_capacity(reload(ProgrammeSession, session.id), 5, NOW) == []
    )


def test_the_seats_of_a_cancelled_session_stay_as_they_were(organisers):
    w = organisers
    _, (session,) = new_programme(w.nagano.id, w.op)
    organise_sessions.cancel_session(session, "雨天のため", NOW, actor=w.op)
    _db.session.commit()
    with pytest.raises(organise.SessionRefused) as refused:
        organise_sessions.set_session_capacity(reload(ProgrammeSession, session.id), 9, NOW)
    assert refused.value.code == "cancelled"


# --- cancelling ---------------------------------------------------------------------------


def test_cancelling_refunds_every_credit_paid_place_and_tells_each_employee(organisers):
    w = organisers
    programme, (session, later) = new_programme(
        w.nagano.id,
        w.op,
        sessions=2,
        capacity=3,
        min_participants=1,
        price_kind="credit",
        price=2500,
    )
    before = balance(w.company.id)
    a = join(session, w.employees[0], 2)
    b = join(session, w.employees[1], 1)
    c = join(session, w.employees[2], 1, wait=True)
    other = join(later, w.employees[0], 1)
    assert balance(w.company.id) == before - 5000 - 2500 - 2500
    preview = organise_sessions.cancel_preview(reload(ProgrammeSession, session.id))
    assert (preview.signups, preview.participants, preview.refund) == (3, 4, 7500)

    done = organise_sessions.cancel_session(
        reload(ProgrammeSession, session.id), "  大雪のため中止します ", NOW, actor=w.op
    )
    _db.session.commit()
    assert (done.told, done.refunded) == (3, 7500)
    assert balance(w.company.id) == before - 2500  # only the later session's place is paid
    saved = reload(ProgrammeSession, session.id)
    assert (saved.status, saved.seats_taken, saved.cancel_reason) == (
        SessionStatus.CANCELLED,
        0,
        "大雪のため中止します",
    )
    assert {signup_status(s.id) for s in (a, b, c)} == {SignupStatus.CANCELLED}
    assert signup_status(other.id) == SignupStatus.JOINED
    told = events_of(ev.PROGRAMME_CANCELLED)
    assert sorted(e.subject_id for e in told) == sorted([a.id, b.id, c.id])
    by_signup = {e.subject_id: e for e in told}
    assert by_signup[a.id].facts["refund"] == 5000 and by_signup[c.id].facts["refund"] == 0
    for event in told:
        assert event.facts["reason"] == "大雪のため中止します"
        assert event.facts["programme_id"] == programme.id
        assert event.facts["session_id"] == session.id
        assert (event.operator_id, event.company_id, event.actor_id) == (
            w.nagano.id,
            w.company.id,
            w.op.id,
        )
    assert all(programme_money.paid(s.id) == 0 for s in (a, b, c))
    # Once only: a second cancellation is refused and moves no money.
    with pytest.raises(organise.SessionRefused) as refused:
        organise_sessions.cancel_session(
            reload(ProgrammeSession, session.id), "again", NOW, actor=w.op
        )
    assert refused.value.code == "cancelled"
    _db.session.rollback()
    assert balance(w.company.id) == before - 2500
    assert len(events_of(ev.PROGRAMME_CANCELLED)) == 3


@pytest.mark.parametrize("reason", ["", "   ", "理" * 301])
def test_a_cancellation_needs_a_reason(organisers, reason):
    _, (session,) = new_programme(organisers.nagano.id, organisers.op)
    with pytest.raises(organise.SessionRefused) as refused:
        organise_sessions.cancel_session(session, reason, NOW, actor=organisers.op)
    assert refused.value.field == "reason"
    assert reload(ProgrammeSession, session.id).status == SessionStatus.SCHEDULED


def test_a_session_that_has_ended_cannot_be_cancelled(organisers):
    _, (session,) = new_programme(organisers.nagano.id, organisers.op)
    after = session.ends_at + timedelta(minutes=1)
    with pytest.raises(organise.SessionRefused) as refused:
        organise_sessions.cancel_session(session, "遅すぎ", after, actor=organisers.op)
    assert refused.value.code == "ended"


def test_joins_racing_a_cancellation_end_cancelled_and_refunded(app, organisers, make_user):
    """Six employees join a credit-paid session while the organiser cancels it: every
    place either never was (refused: cancelled) or was cancelled and paid back; the
    company's credit ends where it began and nobody holds a seat."""
    w = organisers
    employees = [*w.employees, *(make_user(company=w.company) for _ in range(3))]
    _, (session,) = new_programme(
        w.nagano.id, w.op, capacity=10, min_participants=1, price_kind="credit", price=1000
    )
    company_id = w.company.id
    before = balance(company_id)
    session_id, op_id = session.id, w.op.id
    ids = [e.id for e in employees]
    _db.session.commit()
    _db.session.remove()

    def work(i: int, barrier):
        with app.app_context():
            try:
                barrier.wait()
                if i == len(ids):
                    done = organise_sessions.cancel_session(
                        _db.session.get(ProgrammeSession, session_id),
                        "中止",
                        NOW,
                        actor=_db.session.get(User, op_id),
                    )
                    _db.session.commit()
                    return ("cancel", done.told)
                places.join(
                    session_id,
                    _db.session.get(User, ids[i]),
                    1,
                    NOW,
                    booking_id=None,
                    has_stay=True,
                    waitlist=False,
                    grace_days=GRACE_DAYS,
                )
                _db.session.commit()
                return ("joined", None)
            except (organise.SessionRefused, programmes.ProgrammeError) as exc:
                _db.session.rollback()
                return (exc.code, None)
            finally:
                _db.session.remove()

    outcomes = race(len(ids) + 1, work)
    assert not [o for o in outcomes if o[0] == "error"], outcomes
    joined = sum(1 for o in outcomes if o[0] == "joined")
    (told,) = [o[1] for o in outcomes if o[0] == "cancel"]
    assert told == joined  # everyone who got in before the lock was told
    # The others came after it: refused, the session being cancelled.
    assert sorted(o[0] for o in outcomes if o[0] not in {"joined", "cancel"}) == ["cancelled"] * (
        len(ids) - joined
    )
    saved = reload(ProgrammeSession, session_id)
    assert (saved.status, saved.seats_taken) == (SessionStatus.CANCELLED, 0)
    statuses = set(
        _db.session.scalars(
            select(ProgrammeSignup.status).where(ProgrammeSignup.session_id == session_id)
        )
    )
    assert statuses <= {SignupStatus.CANCELLED}
    assert balance(company_id) == before
    assert len(events_of(ev.PROGRAMME_CANCELLED)) == told


# --- attendance ---------------------------------------------------------------------------


def test_attendance_is_marked_only_from_the_start(organisers):
    w = organisers
    _, (session,) = new_programme(w.nagano.id, w.op, capacity=3, min_participants=1)
    came = join(session, w.employees[0])
    absent = join(session, w.employees[1])
    with pytest.raises(organise.SessionRefused) as refused:
        organise_people.mark_attendance(
            session, {came.id: True}, session.starts_at - timedelta(seconds=1)
        )
    assert refused.value.code == "not_started"
    changed = organise_people.mark_attendance(
        reload(ProgrammeSession, session.id),
        {came.id: True, absent.id: False},
        session.starts_at,
    )
    _db.session.commit()
    assert changed == 2
    assert reload(ProgrammeSignup, came.id).attended is True
    assert reload(ProgrammeSignup, absent.id).attended is False
    assert reload(ProgrammeSignup, came.id).attendance_marked_at == session.starts_at
    # Unmarking, and marking again the same, count as they change.
    later = session.ends_at + timedelta(days=3)
    assert (
        organise_people.mark_attendance(
            reload(ProgrammeSession, session.id), {came.id: None, absent.id: False}, later
        )
        == 1
    )
    _db.session.commit()
    assert reload(ProgrammeSignup, came.id).attended is None


def test_attendance_refuses_anyone_who_did_not_join(organisers):
    w = organisers
    _, (session, other_session) = new_programme(
        w.nagano.id, w.op, sessions=2, capacity=1, min_participants=1
    )
    joined = join(session, w.employees[0])
    waiting = join(session, w.employees[1], wait=True)
    elsewhere = join(other_session, w.employees[2])
    started = session.starts_at + timedelta(minutes=5)
    for stranger in (waiting.id, elsewhere.id, 2**40):
        with pytest.raises(organise.SessionRefused) as refused:
            organise_people.mark_attendance(
                reload(ProgrammeSession, session.id), {joined.id: True, stranger: True}, started
            )
        assert refused.value.code == "unknown"
        _db.session.rollback()
    assert reload(ProgrammeSignup, joined.id).attended is None
    organise_sessions.cancel_session(
        reload(ProgrammeSession, other_session.id), "中止", NOW, actor=w.op
    )
    with pytest.raises(organise.SessionRefused) as refused:
        organise_people.mark_attendance(
            reload(ProgrammeSession, other_session.id),
            {},
            other_session.starts_at + timedelta(hours=1),
        )
    assert refused.value.code == "cancelled"


# --- messages -----------------------------------------------------------------------------


def test_a_message_reaches_each_joined_participant_once(organisers):
    w = organisers
    _, (session,) = new_programme(w.nagano.id, w.op, capacity=2, min_participants=1)
    a = join(session, w.employees[0])
    b = join(session, w.employees[1])
    join(session, w.employees[2], wait=True)  # waiting: not told
    message = organise_people.message_participants(
        reload(ProgrammeSession, session.id), "  長靴でお越しください。 ", NOW, sender=w.op
    )
    _db.session.commit()
    saved = reload(ProgrammeMessage, message.id)
    assert (saved.body, saved.recipients, saved.sender_id) == ("長靴でお越しください。", 2, w.op.id)
    sent = events_of(ev.PROGRAMME_MESSAGE)
    assert sorted(e.subject_id for e in sent) == sorted([a.id, b.id])
    assert {e.facts["message_id"] for e in sent} == {message.id}


@pytest.mark.parametrize(("body", "code"), [("", "empty"), ("  ", "empty"), ("あ" * 2001, "long")])
def test_a_message_must_say_something_short(organisers, body, code):
    w = organisers
    _, (session,) = new_programme(w.nagano.id, w.op)
    join(session, w.employees[0])
    with pytest.raises(organise.SessionRefused) as refused:
        organise_people.message_participants(
            reload(ProgrammeSession, session.id), body, NOW, sender=w.op
        )
    assert refused.value.code == code
    assert count(ProgrammeMessage) == 0


def test_a_message_needs_someone_to_read_it(organisers):
    _, (session,) = new_programme(organisers.nagano.id, organisers.op)
    with pytest.raises(organise.SessionRefused) as refused:
        organise_people.message_participants(session, "こんにちは", NOW, sender=organisers.op)
    assert refused.value.code == "nobody"


# --- participants -------------------------------------------------------------------------


def test_participants_are_the_organisers_own_joined_first_then_the_waitlist(organisers):
    w = organisers
    _, (session,) = new_programme(w.nagano.id, w.op, capacity=2, min_participants=1)
    join(session, w.employees[0], 2)
    join(session, w.employees[1], 1, wait=True)
    join(session, w.stranger, 1, wait=True)
    assert organise.own_session(w.other.id, session.id) is None
    people = organise_people.participants(organise.own_session(w.nagano.id, session.id))
    assert [(p.name, p.status, p.participants) for p in people] == [
        ("Participant 0", "joined", 2),
        ("Participant 1", "waitlisted", 1),
        ("Stranger", "waitlisted", 1),
    ]
    assert people[0].email == "participant0@example.com"
    assert people[0].company_name == "株式会社テスト"
    signup_id = people[0].signup_id
    assert organise.own_signup(w.other.id, signup_id) is None
    assert organise.own_signup(w.nagano.id, signup_id).id == signup_id


def test_the_list_counts_sessions_ahead_seats_and_the_next_date(organisers):
    w = organisers
    programme, (first, second, third) = new_programme(
        w.nagano.id, w.op, sessions=3, capacity=4, min_participants=1
    )
    new_programme(w.other.id, w.other_op)  # another organisation's: not listed
    join(second, w.employees[0], 3)
    organise_sessions.cancel_session(reload(ProgrammeSession, first.id), "中止", NOW, actor=w.op)
    _db.session.commit()
    (row,) = organise.programme_rows(w.nagano.id, NOW)
    assert row.programme.id == programme.id
    assert (row.upcoming, row.sessions, row.seats_taken, row.seats) == (2, 3, 3, 8)
    assert row.next_start == second.starts_at
    (later,) = organise.programme_rows(w.nagano.id, third.starts_at)
    assert (later.upcoming, later.next_start) == (0, None)


def test_the_way_of_paying_cannot_change_once_people_joined_or_wait(organisers):
    """A waitlisted place is charged by the programme's way of paying when it moves up:
    told "paid on the day", nobody is then charged from the credit instead."""
    w = organisers
    programme, sessions = new_programme(
        w.nagano.id, w.op, price_kind="local", price=3000, stay_required=False
    )
    join(sessions[0], w.employees[0])
    with pytest.raises(organise.ProgrammeInvalid) as refused:
        organise.edit_programme(
            programme,
            draft(price_kind="credit", price=3000, stay_required=False),
            NOW,
            actor=w.op,
        )
    assert "price_kind" in refused.value.errors
    _db.session.rollback()
    assert reload(Programme, programme.id).price_kind == "local"
    # The price itself may change: each place keeps the fee it was taken at.
    organise.edit_programme(
        programme, draft(price_kind="local", price=3500, stay_required=False), NOW, actor=w.op
    )
    _db.session.commit()
    assert reload(Programme, programme.id).price == 3500
