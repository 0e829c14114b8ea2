"""Matching through the pages (issue 20): a company admin posts a request, an operator
prices and sends a proposal, the admin chooses who goes, sees every yen and confirms,
and the stays appear on the employees' My stays. Tenant walls (another company's
request, another organisation's proposal: 404), roles, bad input and CSRF."""

# ruff: noqa: F811  (the ``world`` fixture is imported from tests/regions/test_matching.py)
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from accounts.models import Role
from booking.models import Booking, BookingStatus
from booking.services import StayRequest, book_stay
from regions.models import MatchProposal, MatchRequest, MatchStatus, ProposalStatus
from tests.conftest import NOW, days, signed_in
from tests.regions.test_matching import make_session, post, propose, world  # noqa: F401


@pytest.fixture(autouse=True)
def english(db, world):
    """The pages in English, so the tests read the messages as written."""
    for user in (world.admin, *world.employees, world.operator, world.tokyo_operator):
        user.locale = "en"
    world.town_operator.locale = "en"
    db.session.commit()


def text(response) -> str:
    return response.get_data(as_text=True)


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def request_form(**changes) -> dict:
    form = {
        "title": "秋の合宿",
        "description": "温泉の近くで",
        "people": "2",
        "nights": "2",
        "earliest": days(10).isoformat(),
        "latest": days(20).isoformat(),
        "prefecture": "20",
        "programme_kind": "",
        "wants_onsen": "y",
        "budget": "150000",
    }
    form.update(changes)
    return form


def proposal_form(world, match_sessions=(), **changes) -> dict:
    form = {
        "facility": str(world.facility.id),
        "check_in": days(12).isoformat(),
        "check_out": days(14).isoformat(),
        "sessions": [str(s) for s in match_sessions],
        "message": "ようこそ軽井沢へ",
    }
    form.update(changes)
    return form


def count(db, model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_the_whole_flow_through_the_pages(app, db, world):
    session = make_session(db, world.town, days(13), price_kind="local", price=2500)
    admin = signed_in(app, world.admin)

    # The admin posts a request.
    assert admin.get("/company/matching").status_code == 200
    assert admin.get("/company/matching/new").status_code == 200
    posted = admin.post("/company/matching/new", data=request_form())
    assert posted.status_code == 303, text(posted)[:2000]
    match = db.session.scalar(select(MatchRequest))
    assert posted.location.endswith(f"/company/matching/{match.id}")
    assert "秋の合宿" in text(admin.get("/company/matching"))
    assert 'data-testid="no-proposals"' in text(admin.get(posted.location))

    # The operator sees it with the company's name, prices a proposal, then sends it.
    operator = signed_in(app, world.operator)
    listing = text(operator.get("/operator/matching"))
    assert "秋の合宿" in listing and world.company.name in listing
    page = operator.get(f"/operator/matching/requests/{match.id}")
    assert page.status_code == 200
    assert f'value="{session.id}"' in text(page)
    preview = operator.post(
        f"/operator/matching/requests/{match.id}",
        data={**proposal_form(world, [session.id]), "action": "preview"},
    )
    assert preview.status_code == 200, text(preview)[:3000]
    assert count(db, MatchProposal) == 0  # shown, not sent
    total = (10_000 + 12_000) * 2 + 2500 * 2
    assert f'name="expected_price" type="hidden" value="{total}"' in text(preview)
    assert "¥49,000" in text(preview)
    sent = operator.post(
        f"/operator/matching/requests/{match.id}",
        data={
            **proposal_form(world, [session.id]),
            "action": "send",
            "expected_price": str(total),
        },
    )
    assert sent.status_code == 303, text(sent)[:3000]
    proposal = db.session.scalar(select(MatchProposal))
    assert proposal.price == total
    assert "秋の合宿" in text(operator.get("/operator/matching/proposals"))

    # The admin reads the proposal, chooses who goes, sees the money, confirms.
    page = text(admin.get(f"/company/matching/{match.id}"))
    assert "¥49,000" in page and "ようこそ軽井沢へ" in page and "Soba making" in page
    choose = admin.get(f"/company/matching/proposals/{proposal.id}/accept")
    assert choose.status_code == 200
    going = [world.employees[0].id, world.employees[1].id]
    confirm = admin.post(
        f"/company/matching/proposals/{proposal.id}/accept", data={"employees": going}
    )
    assert confirm.status_code == 200, text(confirm)[:3000]
    page = text(confirm)
    assert 'data-testid="grand-total">¥44,000<' in page
    assert page.count('data-testid="night-total">¥22,000<') == 2
    assert "¥5,000" in page  # the programme's fees, paid locally
    assert count(db, Booking) == 0  # nothing booked yet
    done = admin.post(
        f"/company/matching/proposals/{proposal.id}/confirm",
        data={"employees": going, "expected_total": "44000"},
    )
    assert done.status_code == 303, text(done)[:3000]
    listing = text(admin.get(done.location))
    assert world.employees[0].name in listing and world.employees[1].name in listing
    assert world.employees[2].name not in listing

    db.session.expire_all()
    assert db.session.get(MatchRequest, match.id).status == MatchStatus.ACCEPTED
    assert db.session.get(MatchProposal, proposal.id).status == ProposalStatus.ACCEPTED
    # Each employee chosen finds their stay under My stays; the third has none.
    for employee in world.employees[:2]:
        stays = text(signed_in(app, employee).get("/stays"))
        booking = db.session.scalar(select(Booking).where(Booking.user_id == employee.id))
        assert booking.status == BookingStatus.CONFIRMED
        assert f'data-booking-id="{booking.id}"' in stays
        assert world.facility.name_en in stays
    assert world.facility.name_en not in text(signed_in(app, world.employees[2]).get("/stays"))
    outcome = text(operator.get("/operator/matching/proposals"))
    assert re.search(r'data-testid="status">[^<]+<', outcome)


def test_a_moved_total_shows_the_new_amounts_again(app, db, world):
    match = post(db, world)
    proposal = propose(db, world, match)
    admin = signed_in(app, world.admin)
    response = admin.post(
        f"/company/matching/proposals/{proposal.id}/confirm",
        data={"employees": [world.employees[0].id], "expected_total": "1"},
    )
    assert response.status_code == 409
    assert 'data-testid="grand-total">¥20,000<' in text(response)
    assert count(db, Booking) == 0


def test_a_night_taken_meanwhile_is_named_on_the_page(app, db, world, make_employee):
    match = post(db, world, people=3)
    proposal = propose(db, world, match)
    book_stay(make_employee(), StayRequest(world.units[2].id, days(13), days(14), 1), NOW)
    db.session.commit()
    admin = signed_in(app, world.admin)
    response = admin.post(
        f"/company/matching/proposals/{proposal.id}/confirm",
        data={"employees": [e.id for e in world.employees], "expected_total": "70000"},
    )
    assert response.status_code == 409
    assert "Taken on" in text(response) and "Nothing has been booked" in text(response)
    assert count(db, Booking, Booking.company_id == world.company.id) == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"people": "0"}, "Number must be between 1 and 200."),
        ({"budget": "-1"}, "Number must be between 1"),
        ({"latest": days(11).isoformat()}, "The window must be at least as long"),
        ({"earliest": "not a date"}, "Not a valid date value."),
        ({"prefecture": "99"}, "Not a valid choice."),
    ],
)
def test_bad_requests_are_refused_on_the_page(app, db, world, changes, message):
    admin = signed_in(app, world.admin)
    response = admin.post("/company/matching/new", data=request_form(**changes))
    assert response.status_code == 400
    assert message in text(response)
    assert count(db, MatchRequest) == 0


def test_a_past_window_is_refused_on_the_page(app, db, world):
    admin = signed_in(app, world.admin)
    response = admin.post("/company/matching/new", data=request_form(earliest=days(-2).isoformat()))
    assert response.status_code == 422
    assert count(db, MatchRequest) == 0


def test_a_bad_proposal_is_refused_on_the_page(app, db, world):
    match = post(db, world)
    operator = signed_in(app, world.operator)
    response = operator.post(
        f"/operator/matching/requests/{match.id}",
        data={**proposal_form(world, check_out=days(15).isoformat()), "action": "preview"},
    )
    assert response.status_code == 422
    assert "exactly 2 nights" in text(response)
    response = operator.post(
        f"/operator/matching/requests/{match.id}",
        data={**proposal_form(world, facility="999999"), "action": "preview"},
    )
    assert response.status_code == 400
    assert count(db, MatchProposal) == 0


# --- tenant walls and roles -------------------------------------------------------------


def test_another_companys_request_and_proposal_answer_404(
    app,
    db,
    world,
    make_company,
    make_user,
):
    match = post(db, world)
    proposal = propose(db, world, match)
    stranger = signed_in(app, make_user(Role.COMPANY_ADMIN, company=make_company()))
    doors = [
        ("GET", f"/company/matching/{match.id}"),
        ("POST", f"/company/matching/{match.id}/close"),
        ("POST", f"/company/matching/proposals/{proposal.id}/decline"),
        ("GET", f"/company/matching/proposals/{proposal.id}/accept"),
        ("POST", f"/company/matching/proposals/{proposal.id}/accept"),
        ("POST", f"/company/matching/proposals/{proposal.id}/confirm"),
        ("GET", f"/company/matching/proposals/{proposal.id}/done"),
    ]
    for method, url in doors:
        response = stranger.open(url, method=method, data={"employees": [world.employees[0].id]})
        assert response.status_code == 404, (method, url)
    assert "秋の合宿" not in text(stranger.get("/company/matching"))
    db.session.expire_all()
    assert db.session.get(MatchRequest, match.id).status == MatchStatus.OPEN
    assert db.session.get(MatchProposal, proposal.id).status == ProposalStatus.PROPOSED


def test_another_organisations_proposal_and_a_foreign_request_answer_404(
    app,
    db,
    world,
    make_operator,
    make_facility,
    make_user,
):
    match = post(db, world)
    proposal = propose(db, world, match)
    rival_org = make_operator(name="ライバル")
    make_facility(operator=rival_org)  # in Nagano too: it may answer the request
    rival = signed_in(app, make_user(Role.OPERATOR, operator=rival_org))
    assert rival.get(f"/operator/matching/requests/{match.id}").status_code == 200
    assert rival.post(f"/operator/matching/proposals/{proposal.id}/withdraw").status_code == 404
    assert "ようこそ" not in text(rival.get("/operator/matching/proposals"))

    tokyo = signed_in(app, world.tokyo_operator)  # may not answer a Nagano request
    assert tokyo.get(f"/operator/matching/requests/{match.id}").status_code == 404
    response = tokyo.post(
        f"/operator/matching/requests/{match.id}",
        data={**proposal_form(world), "action": "preview"},
    )
    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(MatchProposal, proposal.id).status == ProposalStatus.PROPOSED


def test_the_municipality_sees_the_request_but_has_no_facility_to_offer(app, db, world):
    match = post(db, world)
    town = signed_in(app, world.town_operator)
    assert "チームビルディング合宿" in text(town.get("/operator/matching"))
    assert 'data-testid="no-facilities"' in text(
        town.get(f"/operator/matching/requests/{match.id}")
    )


def test_roles_are_walled(app, db, world):
    employee = signed_in(app, world.employees[0])
    assert employee.get("/company/matching").status_code == 403
    assert employee.get("/operator/matching").status_code == 403
    admin = signed_in(app, world.admin)
    assert admin.get("/operator/matching").status_code == 403
    operator = signed_in(app, world.operator)
    assert operator.get("/company/matching").status_code == 403


def test_withdraw_and_decline_through_the_pages(app, db, world):
    match = post(db, world)
    first = propose(db, world, match)
    second = propose(db, world, match, check_in=days(15))
    operator = signed_in(app, world.operator)
    assert operator.post(f"/operator/matching/proposals/{first.id}/withdraw").status_code == 303
    admin = signed_in(app, world.admin)
    assert admin.post(f"/company/matching/proposals/{second.id}/decline").status_code == 303
    assert admin.post(f"/company/matching/{match.id}/close").status_code == 303
    db.session.expire_all()
    assert db.session.get(MatchProposal, first.id).status == ProposalStatus.WITHDRAWN
    assert db.session.get(MatchProposal, second.id).status == ProposalStatus.DECLINED
    assert db.session.get(MatchRequest, match.id).status == MatchStatus.CLOSED
    # A decided proposal can no longer be accepted: back to the request page.
    response = admin.get(f"/company/matching/proposals/{second.id}/accept")
    assert response.status_code == 303


# --- CSRF -------------------------------------------------------------------------------


def test_every_matching_form_needs_the_csrf_token(app, db, world):
    match = post(db, world)
    proposal = propose(db, world, match)
    later = propose(db, world, match, check_in=days(15))
    admin = signed_in(app, world.admin)
    operator = signed_in(app, world.operator)
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        refused = {
            "new": admin.post("/company/matching/new", data=request_form()),
            "close": admin.post(f"/company/matching/{match.id}/close"),
            "decline": admin.post(f"/company/matching/proposals/{proposal.id}/decline"),
            "accept": admin.post(
                f"/company/matching/proposals/{proposal.id}/accept",
                data={"employees": [world.employees[0].id]},
            ),
            "confirm": admin.post(
                f"/company/matching/proposals/{proposal.id}/confirm",
                data={"employees": [world.employees[0].id], "expected_total": "20000"},
            ),
            "propose": operator.post(
                f"/operator/matching/requests/{match.id}",
                data={
                    **proposal_form(
                        world, check_in=days(16).isoformat(), check_out=days(18).isoformat()
                    ),
                    "action": "send",
                    "expected_price": "44000",
                },
            ),
            "withdraw": operator.post(f"/operator/matching/proposals/{later.id}/withdraw"),
        }
        assert {k: r.status_code for k, r in refused.items()} == dict.fromkeys(refused, 400)
        # With the token the page gives, the button works.
        page = text(admin.get(f"/company/matching/{match.id}"))
        done = admin.post(
            f"/company/matching/proposals/{proposal.id}/decline",
            data={"csrf_token": csrf_of(page)},
        )
        assert done.status_code == 303
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    db.session.expire_all()
    assert count(db, MatchRequest) == 1
    assert count(db, Booking) == 0
    assert count(db, MatchProposal) == 2
    assert db.session.get(MatchProposal, later.id).status == ProposalStatus.PROPOSED
    assert db.session.get(MatchProposal, proposal.id).status == ProposalStatus.DECLINED
    assert db.session.get(MatchRequest, match.id).status == MatchStatus.OPEN
