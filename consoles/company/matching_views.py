"""Matching on the company admin's console (issue 20): the company's requests, a new
request, a request's proposals from regions, and a proposal accepted into stays for
the employees chosen (choose → confirm with every yen shown → done).

On the company console's blueprint, so only signed-in company admins reach these pages,
and only their own company's requests and proposals: another company's id answers 404.
The rules are ``regions.matching`` and ``booking.match_booking``'s.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from accounts.models import COMPANY_ROLES, User
from booking import match_booking
from booking.services import PriceChanged
from consoles.company.views import bp
from core.db import edge_now
from core.errors import RuleError
from core.extensions import db
from core.forms import EmptyForm
from core.i18n import current_locale, format_yen
from facilities.regions import PREFECTURES_BY_CODE
from regions import matching
from regions.match_offer import MatchNotFound, NotEnoughRooms
from regions.matching_forms import (
    PRICE_KIND_LABELS,
    PROGRAMME_KIND_LABELS,
    PROPOSAL_STATUS_LABELS,
    REQUEST_STATUS_LABELS,
    EmployeesForm,
    RequestForm,
)
from regions.models import MatchStatus, ProposalStatus

MAX_MEMBERS_LISTED = 1000


@dataclass(frozen=True)
class Member:
    id: int
    label: str


def _labels() -> dict:
    return {
        "request_status_labels": REQUEST_STATUS_LABELS,
        "proposal_status_labels": PROPOSAL_STATUS_LABELS,
        "programme_kind_labels": PROGRAMME_KIND_LABELS,
        "price_kind_labels": PRICE_KIND_LABELS,
        "prefecture_name": _prefecture_name,
        "active": "matching",
        "test_mode": current_app.config["BILLING_BACKEND"] == "local",
        "loc": current_locale(),
    }


def _prefecture_name(code: int | None) -> str:
    if code is None:
        return _("Anywhere")
    pref = PREFECTURES_BY_CODE.get(code)
    if pref is None:
        return str(code)
    return pref.name_en if current_locale() == "en" else pref.name_ja


def _horizon() -> int:
    return current_app.config["BOOKING_HORIZON_DAYS"]


def _grace() -> int:
    return current_app.config["BILLING_GRACE_DAYS"]


def _request_or_404(request_id: int):
    try:
        return matching.request_of_company(current_user.company_id, request_id)
    except MatchNotFound:
        abort(404)


def _proposal_or_404(proposal_id: int):
    try:
        return matching.proposal_of_company(current_user.company_id, proposal_id)
    except MatchNotFound:
        abort(404)


def _require_button() -> None:
    if not EmptyForm().validate_on_submit():
        abort(400)


def _status_of(exc: RuleError) -> int:
    if isinstance(exc, MatchNotFound):
        return 404
    if exc.code in ("taken", "rooms", "request_decided", "proposal_decided", "price_changed"):
        return 409
    return 422


# --- requests ---------------------------------------------------------------------------


@bp.get("/matching")
def match_requests():
    requests = matching.requests_of_company(current_user.company_id)
    return render_template(
        "company/matching/requests.html",
        requests=requests,
        open_proposals=matching.proposal_count(r.id for r in requests),
        **_labels(),
    )


def _new_page(form: RequestForm, *, error=None, status: int = 200):
    return render_template("company/matching/new.html", form=form, error=error, **_labels()), status


@bp.route("/matching/new", methods=["GET", "POST"])
def match_request_new():
    form = RequestForm(locale=current_locale())
    if not form.is_submitted():
        return _new_page(RequestForm(formdata=None, locale=current_locale()))
    if not form.validate():
        return _new_page(form, status=400)
    try:
        made = matching.post_request(
            current_user, form.to_input(), edge_now(), horizon_days=_horizon()
        )
    except RuleError as exc:
        db.session.rollback()
        return _new_page(form, error=exc.message, status=422)
    db.session.commit()
    flash(_("Your request has been posted. Regions that can answer it have been told."), "success")
    return redirect(url_for("company.match_request", request_id=made.id), 303)


@bp.get("/matching/<int:request_id>")
def match_request(request_id: int):
    found = _request_or_404(request_id)
    proposals = matching.proposals_of(found)
    facilities = {p.id: matching.facility_of(p) for p in proposals}
    return render_template(
        "company/matching/request.html",
        match=found,
        proposals=proposals,
        facilities=facilities,
        button=EmptyForm(formdata=None),
        may_decide=found.status == MatchStatus.OPEN,
        **_labels(),
    )


@bp.post("/matching/<int:request_id>/close")
def match_request_close(request_id: int):
    _request_or_404(request_id)
    _require_button()
    try:
        matching.close_request(current_user, request_id, edge_now())
    except RuleError as exc:
        db.session.rollback()
        if isinstance(exc, MatchNotFound):
            abort(404)
        flash(str(exc.message), "error")
        return redirect(url_for("company.match_request", request_id=request_id), 303)
    db.session.commit()
    flash(_("The request has been closed; its open proposals were declined."), "success")
    return redirect(url_for("company.match_request", request_id=request_id), 303)


@bp.post("/matching/proposals/<int:proposal_id>/decline")
def match_decline(proposal_id: int):
    proposal = _proposal_or_404(proposal_id)
    _require_button()
    request_id = proposal.request_id
    try:
        matching.decline(current_user, proposal_id, edge_now())
    except RuleError as exc:
        db.session.rollback()
        if isinstance(exc, MatchNotFound):
            abort(404)
        flash(str(exc.message), "error")
        return redirect(url_for("company.match_request", request_id=request_id), 303)
    db.session.commit()
    flash(_("The proposal has been declined."), "success")
    return redirect(url_for("company.match_request", request_id=request_id), 303)


# --- accepting: choose the employees, confirm the money, done --------------------------


def _members() -> list[Member]:
    """The company's active members who can go (employees and admins), by name."""
    people = db.session.scalars(
        select(User)
        .where(
            User.company_id == current_user.company_id,
            User.active,
            User.role.in_(COMPANY_ROLES),
        )
        .order_by(User.name, User.id)
        .limit(MAX_MEMBERS_LISTED)
    )
    return [Member(u.id, f"{u.name} ({u.department})" if u.department else u.name) for u in people]


def _open_proposal_or_404(proposal_id: int):
    proposal = _proposal_or_404(proposal_id)
    if proposal.status != ProposalStatus.PROPOSED or proposal.request.status != MatchStatus.OPEN:
        flash(_("This proposal is no longer open."), "error")
        return proposal, redirect(
            url_for("company.match_request", request_id=proposal.request_id), 303
        )
    return proposal, None


def _choose_page(proposal, form: EmployeesForm, *, error=None, status: int = 200):
    return render_template(
        "company/matching/choose.html",
        proposal=proposal,
        match=proposal.request,
        facility=matching.facility_of(proposal),
        form=form,
        error=error,
        **_labels(),
    ), status


@bp.route("/matching/proposals/<int:proposal_id>/accept", methods=["GET", "POST"])
def match_accept(proposal_id: int):
    """Choose who goes (GET), then the confirm page with the money (POST: nothing is
    written yet)."""
    proposal, gone = _open_proposal_or_404(proposal_id)
    if gone is not None:
        return gone
    members = _members()
    form = EmployeesForm(members=members)
    if not form.is_submitted():
        return _choose_page(proposal, EmployeesForm(formdata=None, members=members))
    if not form.validate():
        return _choose_page(proposal, form, status=400)
    try:
        plan = match_booking.plan_acceptance(
            current_user,
            proposal_id,
            form.employees.data,
            edge_now(),
            horizon_days=_horizon(),
            grace_days=_grace(),
        )
    except RuleError as exc:
        db.session.rollback()
        if isinstance(exc, MatchNotFound):
            abort(404)
        return _choose_page(proposal, form, error=_refusal(exc), status=_status_of(exc))
    return _confirm_page(plan, form)


def _refusal(exc: RuleError) -> str:
    if isinstance(exc, NotEnoughRooms):
        return _(
            "%(reason)s Nothing has been booked. Choose fewer employees, or ask the region"
            " for other dates.",
            reason=exc.message,
        )
    return str(exc.message)


def _confirm_page(plan, form: EmployeesForm, *, error=None, status: int = 200):
    form.expected_total.data = plan.charged_total
    return render_template(
        "company/matching/confirm.html",
        plan=plan,
        proposal=plan.proposal,
        match=plan.request,
        facility=plan.facility,
        form=form,
        error=error,
        **_labels(),
    ), status


@bp.post("/matching/proposals/<int:proposal_id>/confirm")
def match_confirm(proposal_id: int):
    proposal, gone = _open_proposal_or_404(proposal_id)
    if gone is not None:
        return gone
    members = _members()
    form = EmployeesForm(members=members)
    if not form.validate_on_submit() or form.expected_total.data is None:
        if form.csrf_token.errors:
            abort(400)
        return _choose_page(proposal, form, status=400)
    try:
        accepted = match_booking.accept_proposal(
            current_user,
            proposal_id,
            form.employees.data,
            edge_now(),
            expected_total=form.expected_total.data,
            horizon_days=_horizon(),
            grace_days=_grace(),
        )
    except RuleError as exc:
        db.session.rollback()
        if isinstance(exc, MatchNotFound):
            abort(404)
        return _refused_at_confirm(proposal_id, form, exc)
    db.session.commit()
    flash(
        _(
            "The proposal has been accepted: %(n)d stays are booked and charged to your"
            " company's credit.",
            n=len(accepted.bookings),
        ),
        "success",
    )
    return redirect(url_for("company.match_done", proposal_id=proposal_id), 303)


def _refused_at_confirm(proposal_id: int, form: EmployeesForm, exc: RuleError):
    """The confirm page again with the reason, priced afresh when it still can be (a
    moved price shows the new amounts); else the choice of employees."""
    proposal = _proposal_or_404(proposal_id)
    if isinstance(exc, PriceChanged):
        try:
            plan = match_booking.plan_acceptance(
                current_user,
                proposal_id,
                form.employees.data,
                edge_now(),
                horizon_days=_horizon(),
                grace_days=_grace(),
            )
        except RuleError as again:
            return _choose_page(proposal, form, error=_refusal(again), status=_status_of(again))
        return _confirm_page(plan, form, error=str(exc.message), status=409)
    if proposal.status != ProposalStatus.PROPOSED or proposal.request.status != MatchStatus.OPEN:
        flash(str(exc.message), "error")
        return redirect(url_for("company.match_request", request_id=proposal.request_id), 303)
    return _choose_page(proposal, form, error=_refusal(exc), status=_status_of(exc))


@bp.get("/matching/proposals/<int:proposal_id>/done")
def match_done(proposal_id: int):
    proposal = _proposal_or_404(proposal_id)
    if proposal.status != ProposalStatus.ACCEPTED:
        abort(404)
    stays = match_booking.stays_of_proposal(proposal)
    return render_template(
        "company/matching/done.html",
        proposal=proposal,
        match=proposal.request,
        facility=matching.facility_of(proposal),
        stays=stays,
        charged=sum(s.total_price + s.accommodation_tax for s in stays),
        format_yen=format_yen,
        **_labels(),
    )
