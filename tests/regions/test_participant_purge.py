"""Programme participants' personal data goes 3 years after each session, as the guest
register does (regions.retention): the sign-ups no longer name the employee nor the
stay, the organiser's messages lose their text, and the figures of the region's and the
company's reports stay as they were."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from accounts.models import Role
from consoles.company.report import outcome_report
from consoles.company.report_scope import Period as CompanyPeriod
from consoles.company.report_scope import Scope
from consoles.operator.region_report import Period as RegionPeriod
from consoles.operator.region_report import region_report
from regions import places, retention
from regions.models import ProgrammeMessage, ProgrammeSession, ProgrammeSignup
from tests.conftest import NOW, PASSWORD
from tests.regions.programme_fixtures import make_programme

# NOW is 2026-12-01 in Japan: what ended before 2023-12-01 (Japan date) is due.
OLD_START = datetime(2023, 11, 30, 1, 0, tzinfo=UTC)  # 10:00 in Japan, 3 years and a day
EDGE_START = datetime(2023, 12, 1, 1, 0, tzinfo=UTC)  # exactly 3 years: one more day


@pytest.fixture
def organiser(make_operator):
    return make_operator(name="長野市", kind="municipality")


def _join(db, session: ProgrammeSession, user, participants: int = 1) -> ProgrammeSignup:
    signup = places.join(
        session.id,
        user,
        participants,
        session.starts_at - timedelta(days=2),
        booking_id=None,
        has_stay=True,
        waitlist=False,
        grace_days=7,
    )
    db.session.commit()
    return signup


def _message(db, session: ProgrammeSession, sender, body: str) -> None:
    db.session.add(
        ProgrammeMessage(session_id=session.id, sender_id=sender.id, body=body, recipients=2)
    )
    db.session.commit()


def _signups(db, session_id: int) -> list[ProgrammeSignup]:
    db.session.expire_all()
    return db.session.scalars(
        select(ProgrammeSignup)
        .where(ProgrammeSignup.session_id == session_id)
        .order_by(ProgrammeSignup.id)
    ).all()


def test_only_sessions_past_the_retention_period_lose_who_took_part(
    db, organiser, make_user, make_company
):
    company = make_company(name="Acme")
    staff = make_user(Role.OPERATOR, operator=organiser)
    old = make_programme(db, organiser, starts_at=OLD_START).sessions[0]
    edge = make_programme(db, organiser, starts_at=EDGE_START).sessions[0]
    ana = make_user(company=company, name="Ana")
    ben = make_user(company=company, name="Ben")
    for session in (old, edge):
        _join(db, session, ana, 2)
        _join(db, session, ben)
        _message(db, session, staff, "集合場所が変わりました。ベンさんへ: 長靴を。")
    old_signups = _signups(db, old.id)
    old_signups[0].attended = True
    db.session.commit()

    purged = retention.purge_participants(NOW)

    assert (purged.sessions, purged.signups, purged.messages) == (1, 2, 1)
    after = _signups(db, old.id)
    assert [(s.user_id, s.booking_id) for s in after] == [(None, None), (None, None)]
    # What the figures need stays: the company, how many people, whether they came.
    assert [(s.company_id, s.participants, s.attended) for s in after] == [
        (company.id, 2, True),
        (company.id, 1, None),
    ]
    assert (
        db.session.scalar(
            select(ProgrammeMessage.body).where(ProgrammeMessage.session_id == old.id)
        )
        == ""
    )
    assert db.session.get(ProgrammeSession, old.id).personal_data_purged_at == NOW
    # The session of exactly 3 years ago keeps its people one more day.
    assert {s.user_id for s in _signups(db, edge.id)} == {ana.id, ben.id}
    assert db.session.get(ProgrammeSession, edge.id).personal_data_purged_at is None

    next_day = retention.purge_participants(NOW + timedelta(days=1))
    assert (next_day.sessions, next_day.signups) == (1, 2)
    assert {s.user_id for s in _signups(db, edge.id)} == {None}


def test_the_job_says_what_went_and_a_second_run_finds_nothing(db, organiser, make_user):
    session = make_programme(db, organiser, starts_at=OLD_START).sessions[0]
    _join(db, session, make_user())

    first = retention.purge_job(NOW)
    again = retention.purge_job(NOW)

    assert first == "1 programme sessions purged: 1 sign-ups, 0 messages"
    assert again == ""


def test_a_run_goes_batch_by_batch_and_the_next_run_goes_on(db, organiser, make_user):
    programme = make_programme(db, organiser, starts_at=OLD_START - timedelta(days=30), sessions=3)
    for session in programme.sessions:
        _join(db, session, make_user())

    first = retention.purge_participants(NOW, batch=1, max_batches=2)
    second = retention.purge_participants(NOW, batch=1, max_batches=2)

    assert (first.sessions, second.sessions) == (2, 1)
    left = db.session.scalars(select(ProgrammeSignup.user_id)).all()
    assert left == [None, None, None]


def test_the_reports_count_the_same_after_the_purge(db, organiser, make_user, make_company):
    company = make_company(name="Acme")
    programme = make_programme(
        db, organiser, starts_at=OLD_START - timedelta(days=1), sessions=2, capacity=9
    )
    ana = make_user(company=company)
    ben = make_user(company=company)
    first, second = programme.sessions
    _join(db, first, ana, 3)
    _join(db, first, ben)
    _join(db, second, ana)
    for signup in _signups(db, first.id):
        signup.attended = True
    db.session.commit()
    region_period = RegionPeriod(date(2023, 11, 1), date(2023, 12, 1))
    company_period = CompanyPeriod(date(2023, 11, 1), date(2023, 12, 1))

    before_region = region_report("202011", region_period).programmes
    before_company = outcome_report(Scope(company.id), company_period).programmes
    retention.purge_participants(NOW)
    db.session.expire_all()
    after_region = region_report("202011", region_period).programmes
    after_company = outcome_report(Scope(company.id), company_period).programmes

    assert (before_region.participants, before_region.attended) == (5, 4)
    assert (after_region.signups, after_region.participants, after_region.attended) == (
        before_region.signups,
        before_region.participants,
        before_region.attended,
    )
    assert (before_company.signups, before_company.people) == (3, 2)
    assert after_company.signups == before_company.signups
    assert after_company.attended == before_company.attended
    # Nobody is named any more: each sign-up counts as one person.
    assert (before_region.people, after_region.people) == (2, 3)
    assert after_company.people == 3


def test_the_organiser_sees_the_numbers_but_no_one(db, organiser, make_user, client):
    staff = make_user(Role.OPERATOR, operator=organiser, email="staff@nagano.example")
    session = make_programme(db, organiser, starts_at=OLD_START).sessions[0]
    _join(db, session, make_user(name="山田花子", email="hanako@acme.example"), 2)
    _message(db, session, staff, "長靴をお持ちください")
    retention.purge_participants(NOW)
    client.post("/login", data={"email": "staff@nagano.example", "password": PASSWORD})

    page = client.get(f"/operator/programme-sessions/{session.id}")

    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'data-testid="participants-purged"' in html
    assert "山田花子" not in html
    assert "hanako@acme.example" not in html
    assert "長靴をお持ちください" not in html
    assert 'data-signup-id="' in html  # the place is still there, with its 2 people


def test_nothing_recent_is_touched(db, organiser, make_user):
    recent = make_programme(db, organiser, starts_at=NOW - timedelta(days=400)).sessions[0]
    coming = make_programme(db, organiser).sessions[0]
    user = make_user()
    _join(db, recent, user)
    _join(db, coming, user)

    assert retention.purge_participants(NOW).sessions == 0
    assert {s.user_id for s in db.session.scalars(select(ProgrammeSignup))} == {user.id}
