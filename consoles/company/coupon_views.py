"""The company's welfare funds for local coupons (福利厚生の地域クーポン), at
``/company/coupons``: a fund pays a coupon for every guest-night of the company's own
employees' stays in a municipality; the list shows what each issued, what was redeemed,
what expired and what is open (yen and coupons, always adding up), and each fund's
monthly statement of the shops to pay comes as a page and as CSV.

The pages themselves are ``regions.fund_views``, shared with the operator console; this
registers them on ``views.bp`` for the admin's own company, choosing among the
municipalities where the network lists a facility.

For company admins (the console's own check, ``views._company_admins_only``); a fund is
looked up within the admin's own company, so another's id answers 404.
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from consoles.company.views import bp
from core.extensions import db
from facilities.models import Facility
from facilities.municipalities import facility_code
from regions import coupons, fund_views
from regions.fund_views import area_name


def network_municipalities() -> list[tuple[str, str]]:
    """(code, name) of the municipalities where the network lists a facility, by code:
    the places a company's employees can stay."""
    codes = {facility_code(f) for f in db.session.scalars(select(Facility).where(Facility.listed))}
    return sorted((code, area_name(code)) for code in codes if code)


def _company_id() -> int:
    return current_user.company_id


def _places(company_id: int) -> list[tuple[str, str]]:
    return [("", _("Choose a municipality")), *network_municipalities()]


def _context(company_id: int, page: str) -> dict:
    return {"area_name": area_name}


fund_views.register(
    bp,
    fund_views.Console(
        templates="company/coupons",
        funder=_company_id,
        funds_of=coupons.funds_of_company,
        fund_of=coupons.fund_of_company,
        create=coupons.create_company_fund,
        places=_places,
        context=_context,
    ),
)
