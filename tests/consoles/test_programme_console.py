"""The organiser's programme pages (``consoles.operator.programme_views``): the list,
the programme form, sessions added one-off or weekly, seats, the cancel confirm step,
the session page with its participants, attendance and a message; and the tenant walls:
another organisation's programme, session or sign-up answers 404 on every route, and
its participants are never shown.

The organiser reads the console in English, so the words checked are the msgids.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from accounts import events as ev
from accounts.audit import AuditEntry
from accounts.events import Event
from booking import services
from core.extensions import db as _db
from regions.models import (
    Programme,
    ProgrammeMessage,
    ProgrammeSession,
    ProgrammeSignup,
    SessionStatus,
    SignupStatus,
)
from tests.conftest import NOW, days, signed_in
from tests.regions.organise_fixtures import (
    NAGANO,
    join,
    make_organisers,
    new_programme,
    reload,
)

GOOD = {
    "kind": "experience",
    "title_ja": "そば打ち体験",
    "title_en": "Soba-making",
    "description_ja": "信州そばを打ちます。",
    "description_en": "",
    "municipality_code": NAGANO,
    "meeting_point": "公民館",
    "latitude": "36.65",
    "longitude": "138.19",
    "capacity": "8",
    "min_participants": "2",
    "price_kind": "local",
    "price": "2000",
    "language": "ja_en",
    "stay_required": "y",
}


@pytest.fixture
def organisers(db, make_operator, make_user, make_company):
    """The organisers' world (tests/regions/organise_fixtures.py)."""
    return make_organisers(make_operator, make_user, make_company)


def count(model) -> int:
    _db.session.rollback()
    return _db.session.scalar(select(func.count()).select_from(model))


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def console(app, organisers):
    """Nagano's operator signed in, and the Matsumoto association's with a programme and
    a participant of its own."""
    w = organisers
    w.client = signed_in(app, w.op)
    w.other_client = signed_in(app, w.other_op)
    w.foreign, (w.foreign_session,) = new_programme(
        w.other.id, w.other_op, title_ja="松本の朝市", title_en="Morning market"
    )
    w.foreign_signup = join(w.foreign_session, w.stranger)
    return w


# --- the list and the form ----------------------------------------------------------------


def test_the_list_shows_only_the_organisations_own_programmes(console):
    w = console
    page = w.client.get("/operator/programmes")
    assert page.status_code == 200
    assert 'data-testid="no-programmes"' in text(page)
    programme, (session, _later) = new_programme(
        w.nagano.id, w.op, sessions=2, capacity=4, min_participants=1
    )
    join(session, w.employees[0], 3)
    html = text(w.client.get("/operator/programmes"))
    row = re.search(rf'<tr data-programme-id="{programme.id}".*?</tr>', html, re.S)[0]
    assert "Snow-clearing volunteers" in row and "長野県長野市" in row
    assert "3 / 8" in row and "Published" in row
    assert "松本の朝市" not in html and f'data-programme-id="{w.foreign.id}"' not in html


def test_a_new_programme_from_the_form(console):
    w = console
    form = w.client.get("/operator/programmes/new")
    assert form.status_code == 200
    assert 'value="202011"' in text(form)  # a municipality's own code comes first
    done = w.client.post("/operator/programmes/new", data=GOOD)
    assert done.status_code == 303
    programme = _db.session.scalars(
        select(Programme).where(Programme.operator_id == w.nagano.id)
    ).one()
    assert done.location.endswith(f"/operator/programmes/{programme.id}")
    assert (programme.title_ja, programme.price_kind, programme.price, programme.prefecture) == (
        "そば打ち体験",
        "local",
        2000,
        20,
    )
    assert not programme.published


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"title_ja": ""}, "Enter the title in Japanese."),
        ({"municipality_code": "202012"}, "check digit"),
        ({"municipality_code": "999997"}, "No municipality has this code."),
        ({"latitude": "51.5", "longitude": "-0.1"}, "Put the pin in Japan."),
        ({"latitude": "nan"}, ""),
        ({"capacity": "0"}, ""),
        ({"capacity": "501"}, ""),
        ({"capacity": "3", "min_participants": "4"}, "no more than the seats"),
        ({"price_kind": "free", "price": "500"}, "A free programme has no price"),
        ({"price_kind": "credit", "price": "0"}, "A paid programme costs"),
        ({"kind": "party"}, ""),
    ],
)
def test_bad_input_is_shown_on_the_form_and_nothing_is_saved(console, changes, message):
    response = console.client.post("/operator/programmes/new", data={**GOOD, **changes})
    assert response.status_code == 400
    assert 'data-testid="form-error"' in text(response)
    assert message in text(response)
    assert count(Programme) == 1  # the other organisation's only


def test_editing_keeps_the_programme_and_refuses_bad_input(console):
    w = console
    programme, _ = new_programme(w.nagano.id, w.op)
    page = w.client.get(f"/operator/programmes/{programme.id}/edit")
    assert page.status_code == 200 and "雪かきボランティア" in text(page)
    bad = w.client.post(
        f"/operator/programmes/{programme.id}/edit", data={**GOOD, "min_participants": "9"}
    )
    assert bad.status_code == 400
    assert reload(Programme, programme.id).title_ja == "雪かきボランティア"
    done = w.client.post(f"/operator/programmes/{programme.id}/edit", data=GOOD)
    assert done.status_code == 303
    assert reload(Programme, programme.id).title_ja == "そば打ち体験"


# --- sessions, publishing, seats ----------------------------------------------------------


def test_sessions_are_added_one_off_and_weekly_then_published(console):
    w = console
    programme, _ = new_programme(w.nagano.id, w.op, sessions=0)
    url = f"/operator/programmes/{programme.id}"
    refused = w.client.post(f"{url}/publish")
    assert refused.status_code == 303
    assert "Add a session still to come before publishing." in text(w.client.get(url))
    one = w.client.post(
        f"{url}/sessions", data={"day": "2026-12-18", "start": "13:00", "end": "15:00"}
    )
    assert one.status_code == 303
    clash = w.client.post(
        f"{url}/series",
        data={"first_day": "2026-12-11", "start": "14:00", "end": "16:00", "weeks": "3"},
    )
    assert clash.status_code == 409
    assert "Nothing was added." in text(clash)
    assert count(ProgrammeSession) == 2  # the foreign one and the one-off
    series = w.client.post(
        f"{url}/series",
        data={"first_day": "2026-12-12", "start": "10:00", "end": "12:00", "weeks": "3"},
    )
    assert series.status_code == 303
    assert count(ProgrammeSession) == 5
    for bad in (
        {"first_day": "2026-12-12", "start": "10:00", "end": "12:00", "weeks": "27"},
        {"first_day": "not a day", "start": "10:00", "end": "12:00", "weeks": "2"},
    ):
        assert w.client.post(f"{url}/series", data=bad).status_code == 400
    past = w.client.post(
        f"{url}/sessions", data={"day": "2026-11-30", "start": "10:00", "end": "12:00"}
    )
    assert past.status_code == 409 and "must start in the future" in text(past)
    assert w.client.post(f"{url}/publish").status_code == 303
    assert reload(Programme, programme.id).published
    html = text(w.client.get(url))
    assert html.count("<tr data-session-id=") == 4
    assert w.client.post(f"{url}/unpublish").status_code == 303
    assert not reload(Programme, programme.id).published


def test_seats_never_below_those_taken_and_a_rise_fills_from_the_waitlist(console):
    w = console
    programme, (session,) = new_programme(w.nagano.id, w.op, capacity=2, min_participants=1)
    join(session, w.employees[0], 2)
    waiting = join(session, w.employees[1], 1, wait=True)
    url = f"/operator/programme-sessions/{session.id}/capacity"
    low = w.client.post(url, data={f"s{session.id}-capacity": "1"})
    assert low.status_code == 409 and "2 places are taken" in text(low)
    assert w.client.post(url, data={f"s{session.id}-capacity": "0"}).status_code == 400
    up = w.client.post(url, data={f"s{session.id}-capacity": "3"})
    assert up.status_code == 303
    assert reload(ProgrammeSession, session.id).capacity == 3
    assert reload(ProgrammeSignup, waiting.id).status == SignupStatus.JOINED


# --- cancelling ---------------------------------------------------------------------------


def test_cancel_asks_first_saying_who_is_told_and_what_goes_back(console):
    w = console
    programme, (session,) = new_programme(
        w.nagano.id, w.op, capacity=3, min_participants=1, price_kind="credit", price=2500
    )
    a = join(session, w.employees[0], 2)
    b = join(session, w.employees[1], 1)
    url = f"/operator/programme-sessions/{session.id}/cancel"
    confirm = w.client.get(url)
    assert confirm.status_code == 200
    html = text(confirm)
    assert "2 employees are told" in html
    assert "¥7,500 (tax incl.) goes back to the companies' credit, in full." in html
    assert reload(ProgrammeSession, session.id).status == SessionStatus.SCHEDULED
    assert w.client.post(url, data={"reason": ""}).status_code == 400
    assert reload(ProgrammeSession, session.id).status == SessionStatus.SCHEDULED
    done = w.client.post(url, data={"reason": "大雪のため"})
    assert done.status_code == 303
    assert done.location.endswith(f"/operator/programmes/{programme.id}")
    assert {reload(ProgrammeSignup, s.id).status for s in (a, b)} == {SignupStatus.CANCELLED}
    _db.session.rollback()
    assert (
        _db.session.scalar(
            select(func.count()).select_from(Event).where(Event.type == ev.PROGRAMME_CANCELLED)
        )
        == 2
    )
    again = w.client.get(url)
    assert 'data-testid="not-cancellable"' in text(again)
    assert w.client.post(url, data={"reason": "again"}).status_code == 409


# --- the session page ---------------------------------------------------------------------


def test_the_session_page_lists_participants_and_whether_they_stay(console, make_unit):
    w = console
    unit = make_unit()
    stay = services.book_stay(
        w.employees[0], services.StayRequest(unit.id, days(9), days(12), 1), NOW
    )
    _db.session.commit()
    _, (session,) = new_programme(w.nagano.id, w.op, capacity=2, min_participants=1)
    joined = join(session, w.employees[0], 2)
    _db.session.get(ProgrammeSignup, joined.id).booking_id = stay.id
    _db.session.commit()
    join(session, w.employees[1], 1, wait=True)
    page = w.client.get(f"/operator/programme-sessions/{session.id}")
    assert page.status_code == 200
    html = text(page)
    row = re.search(rf'<tr data-signup-id="{joined.id}".*?</tr>', html, re.S)[0]
    assert "Participant 0" in row and "株式会社テスト" in row
    assert "participant0@example.com" in row and ">2<" in row
    # Whether a stay goes with the place, never its dates or facility (which may be
    # another operator's): the organiser needs names and contact only.
    assert "With a stay" in row and "Dec 10" not in row and "10 Dec" not in row
    assert 'data-testid="waitlist"' in html and "participant1@example.com" in html
    assert 'data-testid="attendance-form"' not in html  # not begun yet
    # Every showing of the list is logged.
    _db.session.rollback()
    reads = _db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "programme.participants_read")
    ).all()
    assert [(r.object_id, r.actor_id, r.operator_id) for r in reads] == [
        (session.id, w.op.id, w.nagano.id)
    ]


def test_attendance_is_saved_from_the_start_on(console):
    w = console
    _, (session,) = new_programme(w.nagano.id, w.op, capacity=2, min_participants=1)
    a = join(session, w.employees[0])
    b = join(session, w.employees[1])
    url = f"/operator/programme-sessions/{session.id}/attendance"
    early = w.client.post(url, data={f"attended_{a.id}": "yes"})
    assert early.status_code == 409 and "from the session" in text(early)
    began = _db.session.get(ProgrammeSession, session.id)
    began.starts_at, began.ends_at = NOW - timedelta(minutes=10), NOW + timedelta(hours=2)
    _db.session.commit()
    page = text(w.client.get(f"/operator/programme-sessions/{session.id}"))
    assert 'data-testid="attendance-form"' in page
    bad = w.client.post(url, data={f"attended_{a.id}": "maybe"})
    assert bad.status_code == 400
    done = w.client.post(
        url,
        data={
            f"attended_{a.id}": "yes",
            f"attended_{b.id}": "no",
            f"attended_{w.foreign_signup.id}": "yes",
        },
    )
    assert done.status_code == 303
    assert (reload(ProgrammeSignup, a.id).attended, reload(ProgrammeSignup, b.id).attended) == (
        True,
        False,
    )
    assert reload(ProgrammeSignup, w.foreign_signup.id).attended is None  # not a field here


def test_a_message_goes_to_every_joined_participant(console):
    w = console
    _, (session,) = new_programme(w.nagano.id, w.op, capacity=2, min_participants=1)
    join(session, w.employees[0])
    join(session, w.employees[1])
    url = f"/operator/programme-sessions/{session.id}/message"
    assert w.client.post(url, data={"body": ""}).status_code == 400
    done = w.client.post(url, data={"body": "長靴でお越しください。"})
    assert done.status_code == 303
    assert count(ProgrammeMessage) == 1
    assert (
        _db.session.scalar(
            select(func.count()).select_from(Event).where(Event.type == ev.PROGRAMME_MESSAGE)
        )
        == 2
    )
    html = text(w.client.get(f"/operator/programme-sessions/{session.id}"))
    assert "長靴でお越しください。" in html and "2 recipients" in html


# --- tenant walls and CSRF ----------------------------------------------------------------


def foreign_routes(w) -> list[tuple[str, str, dict]]:
    p, s = w.foreign.id, w.foreign_session.id
    return [
        ("get", f"/operator/programmes/{p}", {}),
        ("get", f"/operator/programmes/{p}/edit", {}),
        ("post", f"/operator/programmes/{p}/edit", GOOD),
        ("post", f"/operator/programmes/{p}/publish", {}),
        ("post", f"/operator/programmes/{p}/unpublish", {}),
        (
            "post",
            f"/operator/programmes/{p}/sessions",
            {"day": "2026-12-20", "start": "10:00", "end": "11:00"},
        ),
        (
            "post",
            f"/operator/programmes/{p}/series",
            {"first_day": "2026-12-20", "start": "10:00", "end": "11:00", "weeks": "2"},
        ),
        ("post", f"/operator/programme-sessions/{s}/capacity", {f"s{s}-capacity": "9"}),
        ("get", f"/operator/programme-sessions/{s}/cancel", {}),
        ("post", f"/operator/programme-sessions/{s}/cancel", {"reason": "x"}),
        ("get", f"/operator/programme-sessions/{s}", {}),
        (
            "post",
            f"/operator/programme-sessions/{s}/attendance",
            {f"attended_{w.foreign_signup.id}": "yes"},
        ),
        ("post", f"/operator/programme-sessions/{s}/message", {"body": "hello"}),
        ("get", "/operator/programmes/99999999999", {}),
        ("get", "/operator/programme-sessions/99999999999", {}),
    ]


def test_another_organisations_ids_answer_404_and_change_nothing(console):
    w = console
    for method, url, data in foreign_routes(w):
        response = getattr(w.client, method)(url, data=data)
        assert response.status_code == 404, (method, url)
        assert "stranger@example.com" not in text(response)
    foreign = reload(Programme, w.foreign.id)
    assert (foreign.title_ja, foreign.published) == ("松本の朝市", True)
    session = reload(ProgrammeSession, w.foreign_session.id)
    assert (session.capacity, session.status) == (5, SessionStatus.SCHEDULED)
    assert count(ProgrammeMessage) == 0
    assert reload(ProgrammeSignup, w.foreign_signup.id).status == SignupStatus.JOINED


def test_the_participants_are_shown_to_their_organiser_only(console):
    w = console
    _, (session,) = new_programme(w.nagano.id, w.op)
    join(session, w.employees[0])
    own = w.client.get(f"/operator/programme-sessions/{session.id}")
    assert "participant0@example.com" in text(own)
    other = w.other_client.get(f"/operator/programme-sessions/{session.id}")
    assert other.status_code == 404 and "participant0@example.com" not in text(other)
    mine = text(w.other_client.get(f"/operator/programme-sessions/{w.foreign_session.id}"))
    assert "stranger@example.com" in mine and "participant0@example.com" not in mine
    listing = text(w.other_client.get("/operator/programmes"))
    assert "Snow-clearing" not in listing


def test_only_operators_reach_the_pages(app, console):
    for person in (console.employees[0], console.admin):
        browser = signed_in(app, person)
        assert browser.get("/operator/programmes").status_code == 403
        session_page = f"/operator/programme-sessions/{console.foreign_session.id}"
        assert browser.get(session_page).status_code == 403
    assert app.test_client().get("/operator/programmes").status_code in (302, 401)


def test_every_form_needs_its_csrf_token(app, console):
    w = console
    programme, (session,) = new_programme(w.nagano.id, w.op)
    join(session, w.employees[0])
    app.config["WTF_CSRF_ENABLED"] = True
    posts = [
        ("/operator/programmes/new", GOOD),
        (f"/operator/programmes/{programme.id}/edit", GOOD),
        (f"/operator/programmes/{programme.id}/unpublish", {}),
        (
            f"/operator/programmes/{programme.id}/sessions",
            {"day": "2026-12-20", "start": "10:00", "end": "11:00"},
        ),
        (f"/operator/programme-sessions/{session.id}/capacity", {f"s{session.id}-capacity": "9"}),
        (f"/operator/programme-sessions/{session.id}/cancel", {"reason": "x"}),
        (f"/operator/programme-sessions/{session.id}/message", {"body": "hello"}),
    ]
    for url, data in posts:
        assert w.client.post(url, data=data).status_code in (400, 409), url
    assert count(Programme) == 2
    assert reload(Programme, programme.id).published
    saved = reload(ProgrammeSession, session.id)
    assert (saved.capacity, saved.status) == (5, SessionStatus.SCHEDULED)
    assert count(ProgrammeMessage) == 0
    # The pages carry the tokens their forms send, and a form sent with its token acts.
    page = text(w.client.get(f"/operator/programmes/{programme.id}"))
    assert page.count('name="csrf_token"') >= 3  # publish, one-off, series
    prefix = f"s{session.id}"
    token = re.search(rf'name="{prefix}-csrf_token" type="hidden" value="([^"]+)"', page)[1]
    saved = w.client.post(
        f"/operator/programme-sessions/{session.id}/capacity",
        data={f"{prefix}-capacity": "9", f"{prefix}-csrf_token": token},
    )
    assert saved.status_code == 303
    assert reload(ProgrammeSession, session.id).capacity == 9
    message_page = text(w.client.get(f"/operator/programme-sessions/{session.id}"))
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', message_page)[1]
    sent = w.client.post(
        f"/operator/programme-sessions/{session.id}/message",
        data={"body": "こんにちは", "csrf_token": token},
    )
    assert sent.status_code == 303 and count(ProgrammeMessage) == 1
