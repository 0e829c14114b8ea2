"""Matching on the operator console (issue 20): the companies' requests this
organisation may answer, a proposal priced and shown before it is sent, and the
organisation's proposals with their outcome (withdrawn while still open).

Requests show the company's name: a company posts a request to be answered, and a
region answers a company, not an anonymous group. On ``views.bp``: signed-in operators
only; a request the organisation may not answer, or another organisation's proposal,
answers 404. The rules are ``regions.matching``'s.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from consoles.operator.views import bp, require_post_form
from core.db import edge_now
from core.errors import RuleError
from core.extensions import db
from core.forms import EmptyForm
from core.i18n import current_locale, format_datetime_local, format_yen_plain
from facilities.regions import PREFECTURES_BY_CODE
from regions import match_offer, matching
from regions.match_offer import MatchNotFound
from regions.matching_forms import (
    PRICE_KIND_LABELS,
    PROGRAMME_KIND_LABELS,
    PROPOSAL_STATUS_LABELS,
    REQUEST_STATUS_LABELS,
    ProposalForm,
)
from regions.models import MatchRequest


@dataclass(frozen=True)
class Choice:
    id: int
    label: str


def _prefecture_name(code: int | None) -> str:
    if code is None:
        return _("Anywhere")
    pref = PREFECTURES_BY_CODE.get(code)
    if pref is None:
        return str(code)
    return pref.name_en if current_locale() == "en" else pref.name_ja


def _labels() -> dict:
    return {
        "request_status_labels": REQUEST_STATUS_LABELS,
        "proposal_status_labels": PROPOSAL_STATUS_LABELS,
        "programme_kind_labels": PROGRAMME_KIND_LABELS,
        "price_kind_labels": PRICE_KIND_LABELS,
        "prefecture_name": _prefecture_name,
        "active": "matching",
    }


def _horizon() -> int:
    return current_app.config["BOOKING_HORIZON_DAYS"]


@bp.get("/matching")
def match_requests():
    found = match_offer.open_requests_for(current_user.operator_id, edge_now())
    return render_template("operator/matching/requests.html", requests=found, **_labels())


def _request_or_404(request_id: int) -> MatchRequest:
    try:
        return match_offer.request_for_operator(current_user.operator_id, request_id, edge_now())
    except MatchNotFound:
        abort(404)


def _choices(match: MatchRequest) -> tuple[list[Choice], list[Choice]]:
    loc = current_locale()
    facilities = [
        Choice(f.id, f"{f.name_for(loc)} ({f.municipality})")
        for f in match_offer.own_stay_facilities(current_user.operator_id, match.prefecture)
    ]
    sessions = []
    for s in match_offer.offerable_sessions(current_user.operator_id, match, edge_now()):
        fee = match_offer.session_fee(s)
        sessions.append(
            Choice(
                s.id,
                _(
                    "%(title)s · %(when)s · %(left)d seats left · %(fee)s per person",
                    title=s.programme.title(loc),
                    when=format_datetime_local(s.starts_at),
                    left=s.seats_left,
                    fee=format_yen_plain(fee),
                ),
            )
        )
    return facilities, sessions


def _propose_page(match, form, *, price=None, error=None, status: int = 200):
    return render_template(
        "operator/matching/request.html",
        match=match,
        form=form,
        price=price,
        error=error,
        **_labels(),
    ), status


@bp.route("/matching/requests/<int:request_id>", methods=["GET", "POST"])
def match_request(request_id: int):
    """The request and the proposal form. "Show the price" prices it (nothing is sent);
    "Send" sends it at the price shown (a moved price is shown again)."""
    match = _request_or_404(request_id)
    facilities, sessions = _choices(match)
    form = ProposalForm(facilities=facilities, sessions=sessions)
    if not form.is_submitted():
        blank = ProposalForm(formdata=None, facilities=facilities, sessions=sessions)
        blank.check_in.data = max(match.earliest, match_offer.tokyo_day(edge_now()))
        blank.check_out.data = None
        return _propose_page(match, blank)
    if not form.validate():
        return _propose_page(match, form, status=400)
    now = edge_now()
    sending = request.form.get("action") == "send" and form.expected_price.data is not None
    try:
        if not sending:
            price = matching.price_proposal(
                current_user, request_id, form.to_input(), now, horizon_days=_horizon()
            )
            form.expected_price.data = price.total
            return _propose_page(match, form, price=price)
        matching.propose(
            current_user,
            request_id,
            form.to_input(),
            now,
            expected_price=form.expected_price.data,
            horizon_days=_horizon(),
        )
    except RuleError as exc:
        db.session.rollback()
        if isinstance(exc, MatchNotFound):
            abort(404)
        return _refused(match, form, exc, request_id)
    db.session.commit()
    flash(_("Your proposal has been sent to the company."), "success")
    return redirect(url_for("operator.match_proposals"), 303)


def _refused(match, form, exc: RuleError, request_id: int):
    """The form again with the reason; a moved price is shown afresh to send again."""
    if exc.code == "price_changed":
        try:
            price = matching.price_proposal(
                current_user, request_id, form.to_input(), edge_now(), horizon_days=_horizon()
            )
        except RuleError as again:
            return _propose_page(match, form, error=again.message, status=409)
        form.expected_price.data = price.total
        return _propose_page(match, form, price=price, error=exc.message, status=409)
    form.expected_price.data = None
    status = 409 if exc.code in ("rooms", "session_full") else 422
    return _propose_page(match, form, error=exc.message, status=status)


@bp.get("/matching/proposals")
def match_proposals():
    found = matching.proposals_of_operator(current_user.operator_id)
    facilities = {p.id: matching.facility_of(p) for p in found}
    return render_template(
        "operator/matching/proposals.html",
        proposals=found,
        facilities=facilities,
        button=EmptyForm(formdata=None),
        **_labels(),
    )


@bp.post("/matching/proposals/<int:proposal_id>/withdraw")
def match_withdraw(proposal_id: int):
    try:
        matching.proposal_of_operator(current_user.operator_id, proposal_id)
    except MatchNotFound:
        abort(404)
    require_post_form()
    try:
        matching.withdraw(current_user, proposal_id, edge_now())
    except RuleError as exc:
        db.session.rollback()
        if isinstance(exc, MatchNotFound):
            abort(404)
        flash(str(exc.message), "error")
        return redirect(url_for("operator.match_proposals"), 303)
    db.session.commit()
    flash(_("Your proposal has been withdrawn."), "success")
    return redirect(url_for("operator.match_proposals"), 303)
