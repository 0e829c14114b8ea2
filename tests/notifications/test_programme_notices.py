"""Issue 20's news as people receive it: a place joined (the employee's mail in their
language and the organiser's notice), a session cancelled by the organiser (the reason
and the credit given back, a mail that cannot be switched off), a message from the
organiser (once to each participant who joined, a mail that can be), local coupons for
a stay, and the matching between companies and regions.

Mails are read off a real SMTP server (tests.smtp). The clock is tests.conftest.NOW
(Tuesday 2026-12-01, 12:00 in Japan); the session is on Friday 2026-12-11, 10:00–12:00
Japan time. Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from accounts import events as ev
from accounts.models import Role, User
from core.extensions import db as _db
from notifications import mail_context, mail_render, notices, preferences
from notifications.catalog import BY_NAME, kinds_for_event, kinds_for_role
from notifications.facts import REGION_LOADERS, REGION_NOTICE_TEXTS, REGION_SUBJECTS
from notifications.models import MailOptOut, Notice
from regions import organise_people, organise_sessions, places
from regions.models import MatchProposal, MatchRequest
from tests.conftest import NOW, days, signed_in
from tests.notifications.mailing import (
    assert_well_formed,
    book,
    html_of,
    run_outbox,
    text_of,
    yen_amounts,
)
from tests.regions.organise_fixtures import (
    join,
    make_organisers,
    new_programme,
    reload,
)
from tests.smtp import MailCatcher

# The kinds of issue 20, by event type.
REGION_TYPES = (
    ev.PROGRAMME_JOINED,
    ev.PROGRAMME_WAITLISTED,
    ev.PROGRAMME_PROMOTED,
    ev.PROGRAMME_LEFT,
    ev.PROGRAMME_CANCELLED,
    ev.PROGRAMME_MESSAGE,
    ev.COUPONS_ISSUED,
    ev.MATCH_REQUESTED,
    ev.MATCH_PROPOSED,
    ev.MATCH_ACCEPTED,
)

SESSION = {
    "signup": 7,
    "title": "雪かきボランティア",
    "title_en": "Snow-clearing volunteers",
    "starts_at": "2026-12-11T01:00:00+00:00",
    "ends_at": "2026-12-11T03:00:00+00:00",
    "participants": 2,
    "fee": 5000,
    "refund": 0,
}
# What each notice of issue 20 says in English (tests/notifications/test_notices.py's
# EXAMPLES takes these in).
NOTICE_EXAMPLES = {
    "programme_joined": (
        SESSION,
        "You joined Snow-clearing volunteers, Fri 11 Dec 10:00–12:00, 2 participants",
    ),
    "programme_waitlisted": (SESSION, "You are on the waitlist of Snow-clearing volunteers"),
    "programme_promoted": (SESSION, "A place came free: you joined Snow-clearing volunteers"),
    "programme_left": (
        {**SESSION, "refund": 5000},
        "You left Snow-clearing volunteers, Fri 11 Dec 10:00–12:00: ¥5,000 (tax incl.) back",
    ),
    "programme_cancelled": (
        {**SESSION, "refund": 5000},
        "The organiser cancelled Snow-clearing volunteers, Fri 11 Dec 10:00–12:00:"
        " ¥5,000 (tax incl.) back to your company's credit",
    ),
    "programme_message": (
        {**SESSION, "message": 3},
        "A message from the organiser of Snow-clearing volunteers, Fri 11 Dec",
    ),
    "programme_operator_joined": (
        SESSION,
        "2 participants joined Snow-clearing volunteers, Fri 11 Dec 10:00–12:00",
    ),
    "programme_operator_left": ({**SESSION, "participants": 1}, "1 participant left"),
    "coupons_issued": (
        {
            "booking": 4,
            "count": 3,
            "amount": 1000,
            "total": 3000,
            "municipality_code": "202011",
            "valid_from": "2026-12-10",
            "valid_until": "2026-12-13",
        },
        "3 local coupons of ¥1,000 each for 長野県長野市, to use from Thu 10 Dec to Sun 13 Dec",
    ),
    "match_requested": (
        {"request": 2, "title": "Team building in October"},
        "A company asks the regions: Team building in October",
    ),
    "match_proposed": (
        {"request": 2, "title": "Team building", "proposal": 5, "org": "長野市"},
        "長野市 proposed a plan for your request Team building",
    ),
    "match_accepted": (
        {"request": 2, "title": "Team building", "proposal": 5, "org": "長野市"},
        "Your proposal for Team building was accepted",
    ),
}


@pytest.fixture
def organisers(db, make_operator, make_user, make_company):
    """The organisers' world (tests/regions/organise_fixtures.py)."""
    return make_organisers(make_operator, make_user, make_company)


@pytest.fixture(autouse=True)
def wired(monkeypatch):
    """Issue 20's facts, subjects and notice sentences in the dispatcher's tables.
    ``notifications.mail_context``, ``mail_render`` and ``notices`` take them in
    (``**REGION_LOADERS`` …); until they do, this puts them there for these tests only."""
    for table, extra in (
        (mail_context.LOADERS, REGION_LOADERS),
        (mail_render.SUBJECTS, REGION_SUBJECTS),
        (notices.TEXTS, REGION_NOTICE_TEXTS),
    ):
        for key, value in extra.items():
            if key not in table:
                monkeypatch.setitem(table, key, value)


@pytest.fixture
def inbox(app):
    with MailCatcher() as catcher:
        app.config.update(SMTP_HOST=catcher.host, SMTP_PORT=catcher.port)
        yield catcher


def everyone(w) -> list[User]:
    return [w.op, w.op_ja, w.other_op, *w.employees, w.stranger, w.admin]


def delivered(inbox, w) -> dict[str, list]:
    run_outbox(NOW)
    return {user.email: inbox.to(user.email) for user in everyone(w)}


def got(received) -> set[str]:
    return {email for email, mails in received.items() if mails}


def the_mail(received, user: User):
    (mail,) = received[user.email]
    assert_well_formed(mail)
    return mail


def subject_of(mail) -> str:
    return " ".join(str(mail["Subject"]).split())


def notices_of(user: User) -> list[Notice]:
    _db.session.rollback()
    return list(
        _db.session.scalars(select(Notice).where(Notice.user_id == user.id).order_by(Notice.id))
    )


def credit_programme(w, **kw):
    return new_programme(
        w.nagano.id, w.op, capacity=3, min_participants=1, price_kind="credit", price=2500, **kw
    )


# --- the catalogue ------------------------------------------------------------------------


def test_every_event_of_issue_20_has_its_kinds_mails_and_sentences(app):
    for type_ in REGION_TYPES:
        kinds = kinds_for_event(type_)
        assert kinds, type_
        assert type_ in REGION_LOADERS
        for kind in kinds:
            assert kind.name in REGION_SUBJECTS
            for suffix in ("txt", "html"):
                app.jinja_env.get_template(f"mail/{kind.name}.{suffix}")
            if kind.notice:
                assert kind.name in REGION_NOTICE_TEXTS
    assert set(NOTICE_EXAMPLES) == {
        k.name for t in REGION_TYPES for k in kinds_for_event(t) if k.notice
    }
    with force_locale("en"):
        for kind, (params, expected) in NOTICE_EXAMPLES.items():
            assert expected in notices.notice_text(kind, params), kind
        # A notice with its params missing reads as its kind.
        assert notices.notice_text("programme_cancelled", {}) == (
            "Programme session cancelled by the organiser"
        )


def test_who_may_switch_what_off(app):
    employee = {k.name: k.optional for k in kinds_for_role(Role.EMPLOYEE)}
    # Money or the session itself: always sent, the organiser's messages too.
    for name in (
        "programme_joined",
        "programme_waitlisted",
        "programme_promoted",
        "programme_left",
        "programme_cancelled",
        "programme_message",
        "coupons_issued",
    ):
        assert employee[name] is False, name
    operator = {k.name: k.optional for k in kinds_for_role(Role.OPERATOR)}
    assert operator["programme_operator_joined"] and operator["programme_operator_left"]
    assert operator["match_requested"] and not operator["match_accepted"]
    admin = {k.name for k in kinds_for_role(Role.COMPANY_ADMIN)}
    assert "match_proposed" in admin and BY_NAME["match_proposed"].optional
    assert "programme_operator_joined" not in employee


# --- joined -------------------------------------------------------------------------------


def test_a_join_mails_the_employee_in_english_and_tells_the_organisers(app, inbox, organisers):
    w = organisers
    _, (session,) = credit_programme(w)
    signup = join(session, w.employees[0], 2)

    received = delivered(inbox, w)

    assert got(received) == {w.employees[0].email, w.op.email, w.op_ja.email}
    mail = the_mail(received, w.employees[0])
    subject, text, html = subject_of(mail), text_of(mail), html_of(mail)
    assert subject == "You joined Snow-clearing volunteers: Fri 11 Dec 2026 10:00–12:00"
    for part in (text, html):
        assert "10:00–12:00" in part and "Japan time" in part  # not 01:00 UTC
        assert "長野県長野市" in part and "市役所前広場" in part
        assert "¥5,000 (tax incl.) is paid from your company's credit." in part
        assert "If you leave by Thu 10 Dec 2026 10:00, all of it returns" in part
        assert "2 people" in part
    assert "You receive this because you signed up for a programme on Engawa." in text
    assert "cannot be switched off" in text
    assert yen_amounts(text) == [5000]
    assert "/my/programmes" in text
    # The organisers hear who joined (their own programme's participant).
    for operator in (w.op, w.op_ja):
        told = the_mail(received, operator)
        assert "Participant 0" in text_of(told) and "株式会社テスト" in text_of(told)
        assert f"/operator/programme-sessions/{session.id}" in text_of(told)
        (notice,) = notices_of(operator)
        assert notice.kind == "programme_operator_joined"
        assert "Participant" not in notice.params  # notices keep no names
    with force_locale("en"):
        assert notices.notice_text("programme_operator_joined", notices_of(w.op)[0]) == (
            "2 participants joined Snow-clearing volunteers, Fri 11 Dec 10:00–12:00"
        )
    (own,) = notices_of(w.employees[0])
    assert (own.kind, own.link) == ("programme_joined", "/my/programmes")
    assert '"refund"' not in notices_of(w.op)[0].params  # the company's money: its own
    # The pages the mails link to open for their readers.
    assert signed_in(app, w.employees[0]).get("/my/programmes").status_code == 200
    assert signed_in(app, w.op).get(f"/operator/programme-sessions/{session.id}").status_code == 200
    assert reload(type(signup), signup.id).status == "joined"


def test_a_japanese_reader_gets_the_japanese_title_and_dates(app, inbox, organisers):
    w = organisers
    _, (session,) = credit_programme(w)
    join(session, w.employees[1], 1)  # reads Japanese

    received = delivered(inbox, w)

    mail = the_mail(received, w.employees[1])
    assert "雪かきボランティア" in subject_of(mail)
    assert "Snow-clearing" not in subject_of(mail) + text_of(mail)
    assert "2026年12月11日" in text_of(mail)
    assert re.search("10:00[–〜]12:00", text_of(mail))
    assert yen_amounts(text_of(mail)) == [2500]


def test_an_organiser_who_switched_the_join_mail_off_keeps_the_notice(app, inbox, organisers):
    w = organisers
    preferences.set_preferences(w.op.id, [], NOW)
    _db.session.commit()
    _, (session,) = new_programme(w.nagano.id, w.op)
    join(session, w.employees[0])

    received = delivered(inbox, w)

    assert got(received) == {w.employees[0].email, w.op_ja.email}
    assert [n.kind for n in notices_of(w.op)] == ["programme_operator_joined"]
    assert "Free of charge." in text_of(the_mail(received, w.employees[0]))


# --- cancelled ----------------------------------------------------------------------------


def test_a_cancellation_tells_each_employee_the_reason_and_the_refund(app, inbox, organisers):
    w = organisers
    _, (session,) = credit_programme(w)
    join(session, w.employees[0], 2)
    join(session, w.employees[1], 1)
    join(session, w.employees[2], 1, wait=True)
    run_outbox(NOW)
    before = {user.email: len(inbox.to(user.email)) for user in everyone(w)}
    organise_sessions.cancel_session(
        reload(type(session), session.id), "大雪のため中止します", NOW, actor=w.op
    )
    _db.session.commit()

    received = delivered(inbox, w)
    new = {email: mails[before[email] :] for email, mails in received.items()}

    assert got(new) == {e.email for e in w.employees}  # the organisers did it themselves
    english = the_mail(new, w.employees[0])
    assert subject_of(english) == (
        "Cancelled by the organiser: Snow-clearing volunteers, Fri 11 Dec 2026 10:00–12:00"
    )
    for part in (text_of(english), html_of(english)):
        assert "大雪のため中止します" in part
        assert "¥5,000 (tax incl.) returns to your company's credit, in full." in part
    assert "cannot be switched off" in text_of(english)
    waiting = the_mail(new, w.employees[2])
    assert "Nothing had been charged, so nothing is refunded." in text_of(waiting)
    japanese = the_mail(new, w.employees[1])
    assert "雪かきボランティア" in subject_of(japanese) and "大雪のため中止します" in text_of(
        japanese
    )
    assert yen_amounts(text_of(japanese)) == [2500]
    (notice,) = [n for n in notices_of(w.employees[0]) if n.kind == "programme_cancelled"]
    with force_locale("en"):
        assert notices.notice_text(notice.kind, notice) == (
            "The organiser cancelled Snow-clearing volunteers, Fri 11 Dec 10:00–12:00:"
            " ¥5,000 (tax incl.) back to your company's credit"
        )


def test_a_cancellation_cannot_be_switched_off(app, inbox, organisers):
    w = organisers
    _, (session,) = new_programme(w.nagano.id, w.op)
    join(session, w.employees[0])
    # A forged opt-out row changes nothing: the kind is not optional.
    _db.session.add(
        MailOptOut(user_id=w.employees[0].id, kind="programme_cancelled", created_at=NOW)
    )
    _db.session.commit()
    assert "programme_cancelled" not in preferences.set_preferences(w.employees[0].id, [], NOW)
    organise_sessions.cancel_session(reload(type(session), session.id), "雨", NOW, actor=w.op)
    _db.session.commit()

    received = delivered(inbox, w)

    subjects = [subject_of(m) for m in received[w.employees[0].email]]
    assert any(s.startswith("Cancelled by the organiser") for s in subjects)


# --- messages -----------------------------------------------------------------------------


def test_a_message_reaches_every_joined_participant_once(app, inbox, organisers):
    w = organisers
    _, (session,) = new_programme(w.nagano.id, w.op, capacity=2, min_participants=1)
    join(session, w.employees[0])
    join(session, w.employees[1])
    join(session, w.employees[2], wait=True)
    run_outbox(NOW)
    before = {user.email: len(inbox.to(user.email)) for user in everyone(w)}
    organise_people.message_participants(
        reload(type(session), session.id),
        "長靴でお越しください。\n集合は9:45です。",
        NOW,
        sender=w.op,
    )
    _db.session.commit()

    received = delivered(inbox, w)
    run_outbox(NOW)  # a second run sends nothing again
    received = {user.email: inbox.to(user.email)[before[user.email] :] for user in everyone(w)}

    assert got(received) == {w.employees[0].email, w.employees[1].email}
    for employee in w.employees[:2]:
        mail = the_mail(received, employee)  # exactly one each
        assert "長靴でお越しください。" in text_of(mail) and "集合は9:45です。" in text_of(mail)
        assert "長野市" in text_of(mail)  # who writes: the organiser
    english = the_mail(received, w.employees[0])
    assert subject_of(english) == (
        "A message about Snow-clearing volunteers, Fri 11 Dec 2026 10:00–12:00"
    )


def test_a_message_cannot_be_switched_off_and_is_a_notice_too(app, inbox, organisers):
    w = organisers
    _, (session,) = new_programme(w.nagano.id, w.op)
    join(session, w.employees[0])
    run_outbox(NOW)
    before = len(inbox.to(w.employees[0].email))
    off = preferences.set_preferences(w.employees[0].id, [], NOW)
    assert "programme_message" not in off
    organise_people.message_participants(
        reload(type(session), session.id), "雨具を", NOW, sender=w.op
    )
    _db.session.commit()
    run_outbox(NOW)
    (mail,) = inbox.to(w.employees[0].email)[before:]
    assert "雨具を" in text_of(mail) and "cannot be switched off" in text_of(mail)
    assert [n.kind for n in notices_of(w.employees[0])][-1] == "programme_message"


# --- local coupons ------------------------------------------------------------------------


def test_coupons_for_a_stay_are_mailed_to_its_guest(app, inbox, organisers, make_unit):
    w = organisers
    stay = book(w.employees[0], make_unit(), 9, 12)
    run_outbox(NOW)
    before = len(inbox.to(w.employees[0].email))
    ev.emit(
        ev.COUPONS_ISSUED,
        NOW,
        company_id=w.company.id,
        user_id=w.employees[0].id,
        subject=("booking", stay.id),
        data={
            "booking_id": stay.id,
            "count": 3,
            "amount": 1000,
            "total": 3000,
            "municipality_code": "202011",
            "valid_from": days(9).isoformat(),
            "valid_until": days(13).isoformat(),
        },
    )
    _db.session.commit()
    run_outbox(NOW)
    (mail,) = inbox.to(w.employees[0].email)[before:]
    assert_well_formed(mail)
    assert subject_of(mail) == "Local coupons for your stay: 3 × ¥1,000 in 長野県長野市"
    assert "¥3,000" in text_of(mail) and "cannot be exchanged for cash" in text_of(mail)
    assert "/coupons" in text_of(mail)
    assert yen_amounts(text_of(mail)) == [1000, 1000, 3000]


# --- matching -----------------------------------------------------------------------------


def test_matching_tells_the_regions_the_company_and_the_proposer(
    app, inbox, organisers, make_facility
):
    w = organisers
    request = MatchRequest(
        company_id=w.company.id,
        created_by_id=w.admin.id,
        title="Team building in October",
        description="20人、温泉の近く",
        people=20,
        nights=3,
        earliest=date(2027, 10, 1),
        latest=date(2027, 10, 31),
        prefecture=20,
        budget=1_500_000,
        created_at=NOW,
    )
    _db.session.add(request)
    _db.session.flush()
    for org in (w.nagano, w.other):
        ev.emit(
            ev.MATCH_REQUESTED,
            NOW,
            operator_id=org.id,
            actor_id=w.admin.id,
            subject=("match_request", request.id),
            data={"title": request.title},
        )
    _db.session.commit()
    received = delivered(inbox, w)
    assert got(received) == {w.op.email, w.op_ja.email, w.other_op.email}
    asked = the_mail(received, w.op)
    assert subject_of(asked) == "A company asks the regions: Team building in October"
    assert "¥1,500,000 (tax incl.)" in text_of(asked) and "20人、温泉の近く" in text_of(asked)
    assert f"/operator/matching/requests/{request.id}" in text_of(asked)

    hotel = make_facility(operator=w.nagano, name_en="Zenkoji Inn")
    proposal = MatchProposal(
        request_id=request.id,
        operator_id=w.nagano.id,
        facility_id=hotel.id,
        check_in=date(2027, 10, 12),
        check_out=date(2027, 10, 15),
        price=1_200_000,
        message="宿坊体験つき",
        created_at=NOW,
    )
    _db.session.add(proposal)
    _db.session.flush()
    ev.emit(
        ev.MATCH_PROPOSED,
        NOW,
        company_id=w.company.id,
        actor_id=w.op.id,
        subject=("match_request", request.id),
        data={"title": request.title, "proposal_id": proposal.id},
    )
    _db.session.commit()
    before = {user.email: len(inbox.to(user.email)) for user in everyone(w)}
    received = delivered(inbox, w)
    new = {email: mails[before[email] :] for email, mails in received.items()}
    assert got(new) == {w.admin.email}
    offered = the_mail(new, w.admin)
    assert subject_of(offered) == "A proposal for your request Team building in October from 長野市"
    assert "Zenkoji Inn" in text_of(offered) and "¥1,200,000 (tax incl.)" in text_of(offered)
    assert f"/company/matching/{request.id}" in text_of(offered)

    ev.emit(
        ev.MATCH_ACCEPTED,
        NOW,
        operator_id=w.nagano.id,
        actor_id=w.admin.id,
        subject=("match_request", request.id),
        data={"title": request.title, "proposal_id": proposal.id},
    )
    # An event naming another organisation's proposal tells nobody.
    ev.emit(
        ev.MATCH_ACCEPTED,
        NOW,
        operator_id=w.other.id,
        actor_id=w.admin.id,
        subject=("match_request", request.id),
        data={"title": request.title, "proposal_id": proposal.id},
    )
    _db.session.commit()
    before = {user.email: len(inbox.to(user.email)) for user in everyone(w)}
    received = delivered(inbox, w)
    new = {email: mails[before[email] :] for email, mails in received.items()}
    assert got(new) == {w.op.email, w.op_ja.email}
    accepted = the_mail(new, w.op)
    assert subject_of(accepted) == "Your proposal was accepted: Team building in October"
    assert "cannot be switched off" in text_of(accepted)
    assert "/operator/matching/proposals" in text_of(accepted)


# --- every kind renders -------------------------------------------------------------------


def test_every_programme_mail_renders_in_both_languages(app, organisers):
    """Each employee and organiser kind, rendered for a reader of each language, from
    real events: nothing of the templates is left over."""
    w = organisers
    _, (session, later) = credit_programme(w, sessions=2)
    a = join(session, w.employees[0], 1)
    join(session, w.employees[1], 2)
    join(session, w.employees[2], 1, wait=True)
    join(later, w.employees[1], 1)
    places.leave(a.id, w.employees[0].id, NOW)  # the waitlist's first gets the place
    organise_people.message_participants(
        reload(type(session), session.id), "こんにちは", NOW, sender=w.op
    )
    organise_sessions.cancel_session(reload(type(later), later.id), "中止", NOW, actor=w.op)
    _db.session.commit()
    events = _db.session.scalars(
        select(ev.Event).where(ev.Event.type.like("programme.%")).order_by(ev.Event.id)
    ).all()
    assert {e.type for e in events} >= {
        ev.PROGRAMME_JOINED,
        ev.PROGRAMME_WAITLISTED,
        ev.PROGRAMME_LEFT,
        ev.PROGRAMME_PROMOTED,
        ev.PROGRAMME_MESSAGE,
        ev.PROGRAMME_CANCELLED,
    }
    rendered = 0
    for event in events:
        facts = mail_context.load_facts(event)
        if facts is None:
            continue
        for kind in kinds_for_event(event.type):
            for reader in (w.employees[0], w.employees[1]):  # English, Japanese
                mail = mail_render.render_mail(kind, facts, reader, NOW)
                for piece in (mail.subject, mail.text, mail.html):
                    for leftover in ("%(", "{{", "}}", "None", "Undefined"):
                        assert leftover not in piece, (kind.name, leftover, piece)
                rendered += 1
    assert rendered >= 12
