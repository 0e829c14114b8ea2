"""The organiser's world for tests of ``regions.organise`` and its console pages.

Nagano City (長野市, 全国地方公共団体コード 202011) runs its own programmes as an operator
organisation; a second organisation (a local association in Matsumoto) has a programme
of its own, for the tenant walls. A company paying programmes from its credit sends
employees. Sessions lie ahead of the fixed ``NOW`` (Tuesday 2026-12-01, 12:00 in
Japan): the default one on Friday 2026-12-11, 10:00–12:00.
"""

from __future__ import annotations

from datetime import date, time
from types import SimpleNamespace

from accounts.models import Role, User
from core.extensions import db as _db
from regions import organise, organise_sessions, places
from regions.models import ProgrammeSession, ProgrammeSignup
from tests.conftest import NOW

NAGANO = "202011"
MATSUMOTO = "202029"
FRIDAY = date(2026, 12, 11)
TEN, NOON = time(10), time(12)
GRACE_DAYS = 7


def draft(**changes) -> organise.ProgrammeDraft:
    """A good programme: snow-clearing volunteers in Nagano, 5 seats, free."""
    values = {
        "kind": "local_work",
        "title_ja": "雪かきボランティア",
        "title_en": "Snow-clearing volunteers",
        "description_ja": "地域の皆さんと一緒に作業します。",
        "description_en": "Work alongside the people of the town.",
        "municipality_code": NAGANO,
        "meeting_point": "市役所前広場",
        "latitude": 36.6486,
        "longitude": 138.1948,
        "capacity": 5,
        "min_participants": 2,
        "price_kind": "free",
        "price": 0,
        "language": "ja",
        "stay_required": False,
    }
    values.update(changes)
    return organise.ProgrammeDraft(**values)


def new_programme(org_id: int, actor: User, *, sessions: int = 1, **changes):
    """A programme of the organisation with ``sessions`` weekly sessions from FRIDAY
    10:00–12:00, published when it has any; committed. The programme and its sessions."""
    programme = organise.create_programme(org_id, draft(**changes), NOW, actor=actor)
    made = []
    if sessions:
        made = organise_sessions.add_weekly_series(programme, FRIDAY, TEN, NOON, sessions, NOW)
        organise.publish(programme, NOW, actor=actor)
    _db.session.commit()
    return programme, made


def join(session: ProgrammeSession, employee: User, participants: int = 1, *, wait=False):
    """The employee joins (or waits for) the session; committed."""
    signup = places.join(
        session.id,
        employee,
        participants,
        NOW,
        booking_id=None,
        has_stay=True,
        waitlist=wait,
        grace_days=GRACE_DAYS,
    )
    _db.session.commit()
    return signup


def reload(model, ident):
    _db.session.expire_all()
    return _db.session.get(model, ident)


def signup_status(signup_id: int) -> str:
    return reload(ProgrammeSignup, signup_id).status


def make_organisers(make_operator, make_user, make_company) -> SimpleNamespace:
    """Nagano City with an operator (reading English) and one reading Japanese; a
    Matsumoto association with its operator; a company paying programmes from its
    credit with three employees, and another company's employee."""
    nagano = make_operator(name="長野市", kind="municipality", municipality_code=NAGANO)
    other = make_operator(name="松本まちづくり協会", kind="association")
    company = make_company(name="株式会社テスト", programmes_on_credit=True)
    other_company = make_company(name="別会社", programmes_on_credit=True)
    return SimpleNamespace(
        nagano=nagano,
        other=other,
        op=make_user(Role.OPERATOR, operator=nagano, locale="en", name="Nagano Operator"),
        op_ja=make_user(Role.OPERATOR, operator=nagano, name="長野の担当"),
        other_op=make_user(Role.OPERATOR, operator=other, locale="en", name="Other Operator"),
        company=company,
        employees=[
            make_user(
                Role.EMPLOYEE,
                company=company,
                locale="en" if n % 2 == 0 else "ja",
                name=f"Participant {n}",
                email=f"participant{n}@example.com",
            )
            for n in range(3)
        ],
        stranger=make_user(
            Role.EMPLOYEE, company=other_company, name="Stranger", email="stranger@example.com"
        ),
        admin=make_user(Role.COMPANY_ADMIN, company=company, locale="en"),
    )
