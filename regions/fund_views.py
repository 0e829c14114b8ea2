"""The coupon-fund pages both funders' consoles show (地域クーポン): the funds with what
each issued, what the shops redeemed, what expired and what is open (yen and coupons,
always adding up), a new fund (checked, then confirmed on a page showing the budget and
the amount per guest-night, then made), and a fund's figures with a month's statement
of the shops to pay, as a page and as CSV.

The consoles do not import each other, so each registers these pages on its own
blueprint (``register``, at ``/coupons``) with what differs between them (``Console``):
who funds (a municipality's organisation, a company) and the answer when the signed-in
person has none, the funder's funds, how a fund is made, the form's municipalities, the
templates and what more they show. The blueprint's own check (operators, company admins)
covers the pages; every fund is looked up within the funder's own, so another's id
answers 404.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, TypeVar

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from core.csv import csv_download
from core.dates import adjacent_months, parse_month
from core.db import edge_now, tokyo_today
from core.extensions import db
from facilities.municipalities import by_code
from regions import coupon_figures, coupons, shops
from regions.coupon_forms import FundForm, area_choices, draft_of
from regions.models import CouponFund

MONTHS_AROUND = 60

Funder = TypeVar("Funder")


def area_name(code: str) -> str:
    """A municipality's full name (prefecture and place), or its code when unknown."""
    place = by_code(code)
    return place.full_name if place else code


def _forbidden(status: int) -> ResponseReturnValue:
    abort(403)


def _nothing_more(funder: Any, page: str) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Console(Generic[Funder]):
    """What one console's coupon-fund pages need.

    ``templates``: the folder of its ``funds.html``, ``fund_form.html``,
    ``fund_confirm.html`` and ``fund.html``. ``funder``: who funds, for the signed-in
    person, or None; then ``no_funder(status)`` answers instead (200 on the list, 403
    elsewhere). ``funds_of`` and ``fund_of``: the funder's funds, and one of them or
    None (another's). ``create(funder, draft, actor, now)``: the fund made (flushed).
    ``places(funder)``: the form's municipality choices, ``(code, name)``; with
    ``fixed_place`` the only one, whatever is posted. ``context(funder, page)``: more
    values the templates show, ``page`` one of ``funds``, ``new``, ``fund``.
    """

    templates: str
    funder: Callable[[], Funder | None]
    funds_of: Callable[[Funder], list[CouponFund]]
    fund_of: Callable[[Funder, int], CouponFund | None]
    create: Callable[[Funder, coupons.FundDraft, Any, datetime], CouponFund]
    places: Callable[[Funder], list[tuple[str, str]]]
    fixed_place: bool = False
    no_funder: Callable[[int], ResponseReturnValue] = _forbidden
    context: Callable[[Funder, str], dict[str, Any]] = _nothing_more


def register(bp: Blueprint, console: Console) -> None:
    """Add the coupon-fund pages to ``bp`` at ``/coupons`` (the list is the endpoint
    ``bp.name + ".coupon_funds"``)."""
    pages = _Pages(bp.name + ".", console)
    rules = (
        ("", "coupon_funds", pages.funds, ["GET"]),
        ("/new", "coupon_fund_new", pages.new, ["GET", "POST"]),
        ("/<int:fund_id>", "coupon_fund", pages.fund, ["GET"]),
        ("/<int:fund_id>/statement.csv", "coupon_fund_statement_csv", pages.statement_csv, ["GET"]),
    )
    for rule, name, view, methods in rules:
        bp.add_url_rule("/coupons" + rule, name, view, methods=methods)


def _month() -> date:
    return parse_month(request.args.get("month"), tokyo_today(edge_now()), MONTHS_AROUND)


class _Pages:
    def __init__(self, endpoint_prefix: str, console: Console):
        self.ep = endpoint_prefix
        self.console = console

    # --- helpers ----------------------------------------------------------------------

    def _render(self, funder, page: str, template: str, **values) -> str:
        context = {**self.console.context(funder, page), **values}
        return render_template(
            f"{self.console.templates}/{template}", active="coupons", ep=self.ep, **context
        )

    def _fund_of_month(self, funder, fund_id: int) -> tuple[CouponFund, date]:
        """The funder's fund (another's answers 404) and the month asked for."""
        fund = self.console.fund_of(funder, fund_id)
        if fund is None:
            abort(404)
        return fund, _month()

    def _form(self, funder) -> FundForm:
        form = FundForm()
        places = self.console.places(funder)
        form.municipality_code.choices = area_choices(places)
        if self.console.fixed_place:
            form.municipality_code.data = places[0][0]  # always the funder's own
        return form

    # --- pages ------------------------------------------------------------------------

    def funds(self):
        """The funder's funds with their figures."""
        funder = self.console.funder()
        if funder is None:
            return self.console.no_funder(200)
        funds = self.console.funds_of(funder)
        return self._render(
            funder,
            "funds",
            "funds.html",
            funds=funds,
            figures=coupon_figures.totals_by_fund(f.id for f in funds),
        )

    def new(self):
        """A new fund: the form, then a page to confirm it, then the fund."""
        funder = self.console.funder()
        if funder is None:
            return self.console.no_funder(403)
        form = self._form(funder)

        def form_page(error: str | None = None, status: int = 400):
            return self._render(funder, "new", "fund_form.html", form=form, error=error), status

        if request.method == "GET" or request.form.get("edit"):
            return form_page(status=200)
        if not form.validate_on_submit():
            return form_page()
        now = edge_now()
        draft, error = draft_of(form, tokyo_today(now))
        if draft is None:
            return form_page(error)
        if form.confirmed.data != "1":
            return self._render(funder, "new", "fund_confirm.html", form=form, draft=draft)
        try:
            fund = self.console.create(funder, draft, current_user, now)
        except coupons.FundError as exc:
            db.session.rollback()
            return form_page(None if form.show(exc) else str(exc.message))
        db.session.commit()
        flash(_("The fund %(name)s was created.", name=fund.name), "success")
        return redirect(url_for(self.ep + "coupon_funds"), 303)

    def fund(self, fund_id: int):
        """A fund's figures and its statement of a month (``?month=YYYY-MM``)."""
        funder = self.console.funder()
        if funder is None:
            return self.console.no_funder(403)
        fund, month = self._fund_of_month(funder, fund_id)
        prev_month, next_month = adjacent_months(month)
        return self._render(
            funder,
            "fund",
            "fund.html",
            fund=fund,
            area=area_name(fund.municipality_code),
            figures=coupon_figures.totals(fund.id),
            month=month,
            prev_month=prev_month,
            next_month=next_month,
            rows=coupon_figures.monthly_statement(fund.id, month),
            category_label=shops.category_label,
        )

    def statement_csv(self, fund_id: int):
        """The month's statement as CSV: one row per shop, then the total."""
        funder = self.console.funder()
        if funder is None:
            return self.console.no_funder(403)
        fund, month = self._fund_of_month(funder, fund_id)
        body = coupon_figures.statement_csv(
            fund, month, coupon_figures.monthly_statement(fund.id, month)
        )
        return csv_download(body, f"engawa-coupon-statement-{fund.id}-{month:%Y-%m}.csv")
