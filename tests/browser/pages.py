"""Every GET page of every role in the demo network, with real demo ids.

The list is derived from the app's URL map: each endpoint that answers GET either has
an entry in ``PAGES`` (who opens it, and how its URL is built from the demo data) or a
reason in ``EXCLUDED`` (downloads, JSON, images, redirects). ``unlisted_endpoints``
names any other, so a new page without an entry fails a test
(tests/browser/test_every_page.py) instead of going unchecked.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from flask import Flask, url_for
from sqlalchemy import select

from accounts.models import User
from availability.blocks import BlockError
from availability.direct import record_direct_stay
from availability.models import Block, DirectStay
from billing.models import BillingAccount, LocalObject, Plan
from booking.match_booking import accept_proposal
from booking.models import Booking
from booking.search import SearchQuery, search
from booking.services import BookingError, StayRequest, book_stay
from booking.workspace import WorkspaceRequest, book_workspace
from booking.workspace_checkin import checkin_code
from booking.workspace_models import OPEN_WORKSPACE, WorkspaceBooking
from core.db import TOKYO, tokyo_today
from core.errors import RuleError
from core.extensions import db
from facilities.models import Facility, Unit
from facilities.workspace import WorkspaceUnit
from hr.models import GroupPolicy
from identity.models import Application, ApplicationKind
from lodging.models import AccommodationTaxRule
from notifications.models import WebhookEndpoint
from notifications.webhook_endpoints import new_secret, seal_secret
from regions import match_offer, matching, places, programmes
from regions.coupon_tokens import token_of
from regions.models import (
    Coupon,
    CouponFund,
    CouponRedemption,
    CouponStatus,
    LocalShop,
    MatchProposal,
    MatchRequest,
    MatchStatus,
    Programme,
    ProgrammeSignup,
    ProposalStatus,
    ShopMember,
)

# The demo accounts (demo/seed.py); each signs in with DEMO_PASSWORD.
ROLES: dict[str, str | None] = {
    "visitor": None,
    "employee": "employee@acme.example",
    "company_admin": "admin@acme.example",
    "operator": "operator@satoyama.example",
    "platform_admin": "root@engawa.example",
    # issue 20: a municipality's organisation (白馬村) and a local shop that takes coupons
    "region": "region@hakuba.example",
    "shop": "cafe@hakuba.example",
}

# GET endpoints that are not pages a person reads, and why.
EXCLUDED: dict[str, str] = {
    "static": "static files (stylesheets, scripts, icons)",
    "booking.photo": "an image file",
    "booking.stay_ics": "an .ics download",
    "calendars.feed": "an .ics feed for other calendar apps",
    "company.usage_csv": "a CSV download",
    "company_hr.people_template": "a CSV download (the HR import's template)",
    "company_hr.stays_csv": "a CSV download",
    "company_report.report_csv": "a CSV download",
    "copay.paid": "a redirect to the stay once the card payment is read",
    "local_billing.stay_checkout": (
        "the local backend's test-mode payment of a stay's co-pay: tests/browser/"
        "test_hr_workflow.py pays through it"
    ),
    "operator.bookings_csv": "a CSV download",
    "operator.dashboard_csv": "a CSV download",
    "accounts.set_language": "a redirect back to the page the switch was used on",
    "operator.postal_code": "JSON: the facility form's postal code look-up",
    "two_factor.code": "the second step of a sign-in: without a password first it redirects",
    "two_factor.enrol": "the second step of a sign-in: without a password first it redirects",
    "sso.start": "a redirect to the company's identity provider",
    "sso.callback": "the identity provider's answer: a redirect (its error pages: tests/identity)",
    "notifications.dev_mail": (
        "one mail of the development mailbox: tests/browser/test_notifications.py opens one"
        " at 390 and 1280 px"
    ),
    "notifications.dev_mail_html": "a mail's HTML part, shown in a sandboxed frame of its page",
    "notifications.dev_mail_attachment": "a mail's attachment: a download",
    "operator.register_csv": "a CSV download",
    "operator.tax_report_csv": "a CSV download",
    "booking.stay_register_passport": "an image of a guest's passport (sealed at rest)",
    "calendars.workspace_feed": "an .ics feed of a workspace unit for other calendar apps",
    "operator.booking_register_passport": "an image of a guest's passport (sealed at rest)",
    "operator.region_csv": "a CSV download (the region report's monthly figures)",
    "operator.coupon_fund_statement_csv": "a CSV download (a coupon fund's monthly statement)",
    "company.coupon_fund_statement_csv": "a CSV download (a coupon fund's monthly statement)",
    "shop.redemptions_csv": "a CSV download (the shop's redemptions of a month)",
}
EXCLUDED_PREFIXES: dict[str, str] = {
    "api.": "JSON API",
    "company_report_api.": "the company's JSON API (the outcome report)",
    "operator_api.": "the operator's JSON API",
    "region_api.": "the region report's JSON API",
    "scim.": "SCIM 2.0: JSON for identity providers",
    "health.": "JSON and Prometheus text for load balancers and monitoring",
}


@dataclass(frozen=True)
class DemoIds:
    """The demo records the pages are opened for, looked up in the live database."""

    stay_check_in: date
    stay_check_out: date
    facility_id: int  # the operator's first facility
    unit_id: int  # its first room on sale
    bookable_facility_id: int  # a facility with a room free for the stay
    bookable_unit_id: int
    booking_id: int  # the employee's first upcoming stay
    change_to: dict  # another stay of that room the change preview is opened for
    plan_id: int
    customer_id: str  # the local billing backend's record of Acme
    invoice_id: str
    checkout_id: str
    company_id: int  # Acme
    operator_org_id: int  # the operator's organisation
    employee_id: int  # the demo employee's account
    company_application_id: int  # the demo's pending applications
    operator_application_id: int
    past_booking_id: int  # a stay of the employee that has checked out (else booking_id)
    company_webhook_id: int  # a webhook endpoint of each organisation (off: never called)
    operator_webhook_id: int
    operator_booking_id: int  # an upcoming stay at the operator's facilities
    direct_stay_id: int  # a direct stay the operator recorded (made when the demo has none)
    tax_rule_id: int  # the first accommodation tax rule (seeded by migration 0010)
    group_policy_id: int  # Acme's policy for its contract employees (demo.seed)
    workspace_facility_id: int  # the operator's first facility with workspace units
    workspace_unit_id: int  # its first unit
    workspace_booking: Booked  # the employee's upcoming workspace booking
    checkin_code: str  # the check-in code (QR) of that booking's unit
    # issue 20: regions, programmes, local coupons, matching
    municipality_code: str  # the region's (白馬村)
    programme_id: int  # the region's first programme (the snow clearing)
    programme_session_id: int  # its first session ahead
    join_session_id: int  # a credit-paid session (神山町's workshop): the fee shown
    programme_signup_id: int  # the employee's place in a session (made when none)
    region_fund_id: int  # the region's coupon fund
    company_fund_id: int  # Acme's coupon fund
    coupon_token: str  # an open coupon of the region, as its QR code carries it
    shop_redemption_id: int  # a coupon the shop took
    match_request_id: int  # Acme's open request with an open proposal (made when none)
    match_proposal_id: int  # that proposal
    accepted_proposal_id: int  # a proposal Acme accepted into a stay (made when none)


@dataclass(frozen=True)
class Booked:
    """A workspace booking as the pages' URLs need it."""

    id: int
    unit_id: int
    facility_id: int
    starts_at: datetime
    ends_at: datetime

    @classmethod
    def of(cls, booking: WorkspaceBooking) -> Booked:
        return cls(
            booking.id,
            booking.unit_id,
            booking.unit.facility_id,
            booking.starts_at,
            booking.ends_at,
        )


@dataclass(frozen=True)
class PageVisit:
    role: str
    endpoint: str
    url: str  # path and query
    status: int | None = None  # an error status the page answers on purpose

    @property
    def name(self) -> str:
        return f"{self.role}:{self.url}"


def _stay_query(ids: DemoIds, **extra) -> dict:
    return {
        "check_in": ids.stay_check_in.isoformat(),
        "check_out": ids.stay_check_out.isoformat(),
        "guests": 1,
        **extra,
    }


# endpoint -> [(role, values for url_for[, the status it answers when not 200])].
# Values may be a function of the demo ids.
Values = dict | Callable[[DemoIds], dict]
PAGES: dict[str, list[tuple]] = {
    # signed out
    "accounts.login": [("visitor", {})],
    "members.join_request": [("visitor", {})],
    # an invitation link that expired or never was: the page says so, with status 404
    "members.join": [("visitor", {"token": "not-a-valid-invitation"}, 404)],
    "recovery.forgot": [("visitor", {})],
    "recovery.forgot_sent": [("visitor", {})],
    # a link that was never sent: the page says so (410) and offers a new one
    "recovery.reset": [("visitor", {"token": "not-a-valid-link"}, 410)],
    "recovery.set_password": [("visitor", {"token": "not-a-valid-link"}, 410)],
    "signup.company": [("visitor", {})],
    "signup.operator": [("visitor", {})],
    "signup.check_mail": [("visitor", {})],
    "signup.confirm": [("visitor", {"token": "not-a-valid-link"}, 404)],
    # the employee (company admins book too)
    "booking.home": [
        ("employee", {}),
        ("employee", _stay_query),
        ("company_admin", {}),
    ],
    "booking.facility": [
        ("employee", lambda i: {"facility_id": i.bookable_facility_id}),
        ("employee", lambda i: _stay_query(i, facility_id=i.bookable_facility_id)),
    ],
    "booking.quote": [("employee", lambda i: _stay_query(i, unit_id=i.bookable_unit_id))],
    "booking.stays": [("employee", {}), ("company_admin", {})],
    "booking.stay": [("employee", lambda i: {"booking_id": i.booking_id})],
    "booking.stay_rating": [
        ("employee", lambda i: {"booking_id": i.past_booking_id}),
        ("employee", lambda i: {"booking_id": i.booking_id}),  # not open yet: says why
    ],
    "booking.change": [("employee", lambda i: {"booking_id": i.booking_id})],
    "booking.change_preview": [
        ("employee", lambda i: {"booking_id": i.booking_id, **i.change_to}),
    ],
    "booking.cancel_confirm": [("employee", lambda i: {"booking_id": i.booking_id})],
    "booking.stay_register": [("employee", lambda i: {"booking_id": i.booking_id})],
    # workspace by the slot
    "booking.workspace_search": [
        ("employee", {}),
        ("employee", lambda i: {"day": _workspace_day(i), "starts": "10:00", "ends": "12:00"}),
    ],
    "booking.workspace_day": [
        ("employee", lambda i: {"facility_id": i.workspace_booking.facility_id}),
        (
            "employee",
            lambda i: {
                "facility_id": i.workspace_booking.facility_id,
                "date": _workspace_day(i),
                **_workspace_time(i),
            },
        ),
    ],
    "booking.workspace_quote": [("employee", lambda i: _workspace_time(i))],
    "booking.workspace_bookings": [("employee", {})],
    "booking.workspace_booking": [
        ("employee", lambda i: {"booking_id": i.workspace_booking.id}),
    ],
    "booking.workspace_change": [
        ("employee", lambda i: {"booking_id": i.workspace_booking.id}),
        # the change shown before it is confirmed: an hour later at the same unit
        ("employee", lambda i: {"booking_id": i.workspace_booking.id, **_change_to(i)}),
    ],
    # the unit's QR code, opened before check-in opens: the page says when it does
    "booking.workspace_checkin": [
        (
            "employee",
            lambda i: {"unit_id": i.workspace_booking.unit_id, "code": i.checkin_code},
        ),
    ],
    "accounts.account": [
        ("employee", {}),
        ("company_admin", {}),
        ("operator", {}),
        ("platform_admin", {}),
    ],
    # the employee sees how to enrol (QR code); the operator, enrolled, its settings
    "two_factor.settings": [("employee", {}), ("operator", {})],
    # the company admin
    "company.billing": [("company_admin", {})],
    "company.cancel": [("company_admin", {})],
    "company.policy": [("company_admin", {})],
    "company.usage": [("company_admin", {})],
    "company.invoices": [("company_admin", {})],
    "members.employees": [("company_admin", {})],
    "company_hr.employee_hr": [("company_admin", lambda i: {"user_id": i.employee_id})],
    "company_hr.people_import": [("company_admin", {})],
    "company_hr.groups": [("company_admin", {})],
    "company_hr.default_settings": [("company_admin", {})],
    "company_hr.policy_settings": [("company_admin", lambda i: {"policy_id": i.group_policy_id})],
    "company_report.report": [("company_admin", {})],
    "company_report.report_print": [("company_admin", {})],
    "approvals.queue": [("company_admin", {}), ("employee", {})],
    # A stay that never asked for approval: nothing to decide (404).
    "approvals.decide": [("company_admin", lambda i: {"booking_id": i.booking_id}, 404)],
    "company_hr.stays_export": [("company_admin", {})],
    "company_sso.settings": [("company_admin", {})],
    "company_scim.index": [("company_admin", {})],
    "company_audit.audit": [("company_admin", {})],
    "local_billing.checkout": [("company_admin", lambda i: {"session_id": i.checkout_id})],
    "local_billing.invoice": [
        ("company_admin", lambda i: {"invoice_id": i.invoice_id}),
        ("company_admin", lambda i: {"invoice_id": i.invoice_id, "print": 1}),
    ],
    "local_billing.portal": [("company_admin", lambda i: {"customer_id": i.customer_id})],
    # the operator
    "operator.dashboard": [("operator", {})],
    "operator.calendar_sync": [("operator", {})],
    "operator.facility_new": [("operator", {})],
    **{
        endpoint: [("operator", lambda i: {"facility_id": i.facility_id})]
        for endpoint in (
            "operator.facility",
            "operator.facility_edit",
            "operator.today",
            "operator.housekeeping",
            "operator.calendar",
            "operator.close_dates",
            "operator.occupancy",
            "operator.pricing",
            "operator.pricing_history",
            "operator.facility_calendars",
            "operator.photos",
            "operator.unit_new",
            "operator.bookings",
            "operator.direct_stay_new",
            "operator.register",
            "operator.register_print",
            "operator.register_log",
        )
    },
    **{
        endpoint: [("operator", lambda i: {"facility_id": i.workspace_facility_id})]
        for endpoint in (
            "operator.workspace_timeline",
            "operator.workspace_units",
            "operator.workspace_unit_new",
            "operator.workspace_qr",
        )
    },
    **{
        endpoint: [("operator", lambda i: {"unit_id": i.workspace_unit_id})]
        for endpoint in ("operator.workspace_unit_edit", "operator.workspace_calendars")
    },
    "operator.register_index": [("operator", {})],
    "operator.tax_report": [("operator", {})],
    "operator.booking_register": [("operator", lambda i: {"booking_id": i.operator_booking_id})],
    "operator.calendar_selection": [
        (
            "operator",
            lambda i: {
                "facility_id": i.facility_id,
                "unit_id": i.unit_id,
                "start": i.stay_check_in.isoformat(),
                "end": i.stay_check_out.isoformat(),
            },
        )
    ],
    "operator.booking": [("operator", lambda i: {"booking_id": i.operator_booking_id})],
    "operator.booking_move": [("operator", lambda i: {"booking_id": i.operator_booking_id})],
    "operator.booking_cancel": [("operator", lambda i: {"booking_id": i.operator_booking_id})],
    "operator.direct_stay": [("operator", lambda i: {"direct_id": i.direct_stay_id})],
    "operator.unit_edit": [("operator", lambda i: {"unit_id": i.unit_id})],
    "operator.unit_prices": [("operator", lambda i: {"unit_id": i.unit_id})],
    "operator.audit": [("operator", {})],
    "operator.webhooks_index": [("operator", {})],
    "operator.webhooks_new": [("operator", {})],
    "operator.webhooks_detail": [("operator", lambda i: {"endpoint_id": i.operator_webhook_id})],
    "operator.webhooks_delete": [("operator", lambda i: {"endpoint_id": i.operator_webhook_id})],
    "company_webhooks.index": [("company_admin", {})],
    "company_webhooks.new": [("company_admin", {})],
    "company_webhooks.detail": [("company_admin", lambda i: {"endpoint_id": i.company_webhook_id})],
    "company_webhooks.delete": [("company_admin", lambda i: {"endpoint_id": i.company_webhook_id})],
    # the platform admin
    "admin.overview": [("platform_admin", {})],
    "admin.companies": [("platform_admin", {}), ("platform_admin", {"q": "Acme"})],
    "admin.new_company": [("platform_admin", {})],
    "admin.company": [("platform_admin", lambda i: {"company_id": i.company_id})],
    "admin.deactivate_company": [("platform_admin", lambda i: {"company_id": i.company_id})],
    "admin.reactivate_company": [("platform_admin", lambda i: {"company_id": i.company_id})],
    "admin.operators": [("platform_admin", {})],
    "admin.new_operator": [("platform_admin", {})],
    "admin.operator": [("platform_admin", lambda i: {"operator_id": i.operator_org_id})],
    "admin.suspend_operator": [("platform_admin", lambda i: {"operator_id": i.operator_org_id})],
    "admin.unsuspend_operator": [("platform_admin", lambda i: {"operator_id": i.operator_org_id})],
    "admin.unreview_facility": [("platform_admin", lambda i: {"facility_id": i.facility_id})],
    "admin.users": [("platform_admin", {}), ("platform_admin", {"q": "acme"})],
    "admin.user": [("platform_admin", lambda i: {"user_id": i.employee_id})],
    "admin.lock_user": [("platform_admin", lambda i: {"user_id": i.employee_id})],
    "admin.reset_two_factor": [("platform_admin", lambda i: {"user_id": i.employee_id})],
    "admin.audit": [("platform_admin", {})],
    "admin_applications.applications_list": [("platform_admin", {})],
    "admin_applications.detail": [
        ("platform_admin", lambda i: {"application_id": i.company_application_id}),
        ("platform_admin", lambda i: {"application_id": i.operator_application_id}),
    ],
    "admin_applications.approve": [
        ("platform_admin", lambda i: {"application_id": i.company_application_id}),
        ("platform_admin", lambda i: {"application_id": i.operator_application_id}),
    ],
    "admin.jobs": [("platform_admin", {})],
    "admin.calendars": [("platform_admin", {})],
    "admin.domains": [("platform_admin", {})],
    "admin.licences": [("platform_admin", {})],
    "admin.taxes": [("platform_admin", {})],
    "admin.new_tax_rule": [("platform_admin", {})],
    "admin.edit_tax_rule": [("platform_admin", lambda i: {"rule_id": i.tax_rule_id})],
    "admin.end_tax_rule": [("platform_admin", lambda i: {"rule_id": i.tax_rule_id})],
    "plans.plans": [("platform_admin", {})],
    "plans.edit": [("platform_admin", lambda i: {"plan_id": i.plan_id})],
    # regional programmes (issue 20): the employee's pages
    "booking.programmes_list": [
        ("employee", {}),
        ("employee", {"during_stays": "y"}),
        ("employee", lambda i: {"municipality": i.municipality_code}),
        # bad filters: the page says which (400)
        ("employee", {"municipality": "12345"}, 400),
    ],
    "booking.programme": [("employee", lambda i: {"programme_id": i.programme_id})],
    "booking.programme_join_confirm": [
        ("employee", lambda i: {"session_id": i.join_session_id, "participants": 1}),
    ],
    "booking.programme_leave_confirm": [
        ("employee", lambda i: {"signup_id": i.programme_signup_id}),
    ],
    "booking.my_programmes": [("employee", {})],
    "booking.region": [("employee", lambda i: {"code": i.municipality_code})],
    "booking.coupons_page": [("employee", {})],
    # the organiser: a municipality's organisation (the demo's other operator has none)
    "operator.programmes": [("region", {}), ("operator", {})],
    "operator.programme_new": [("region", {})],
    "operator.programme": [("region", lambda i: {"programme_id": i.programme_id})],
    "operator.programme_edit": [("region", lambda i: {"programme_id": i.programme_id})],
    "operator.programme_session": [
        ("region", lambda i: {"session_id": i.programme_session_id}),
    ],
    "operator.session_cancel_confirm": [
        ("region", lambda i: {"session_id": i.programme_session_id}),
    ],
    # local coupons: the municipality's funds and shops (any other operator: says so)
    "operator.coupon_funds": [("region", {}), ("operator", {})],
    "operator.coupon_fund_new": [("region", {})],
    "operator.coupon_fund": [("region", lambda i: {"fund_id": i.region_fund_id})],
    "operator.coupon_shops": [("region", {})],
    "company.coupon_funds": [("company_admin", {})],
    "company.coupon_fund_new": [("company_admin", {})],
    "company.coupon_fund": [("company_admin", lambda i: {"fund_id": i.company_fund_id})],
    # the shop's phone pages; registering is public
    "shop.register": [("visitor", {})],
    "shop.home": [("shop", {})],
    "shop.redeem_code": [("shop", {})],
    "shop.redeem": [("shop", lambda i: {"token": i.coupon_token})],
    "shop.redemptions": [("shop", {})],
    "shop.receipt": [("shop", lambda i: {"redemption_id": i.shop_redemption_id})],
    # the region report: the municipality's (any other operator: says it is not one)
    "operator.region_report": [("region", {}), ("operator", {})],
    "operator.region_summary": [
        ("region", {}),
        ("region", {"lang": "ja"}),
        ("region", {"lang": "en"}),
    ],
    # matching: the company asks, the regions and operators answer
    "company.match_requests": [("company_admin", {})],
    "company.match_request_new": [("company_admin", {})],
    "company.match_request": [
        ("company_admin", lambda i: {"request_id": i.match_request_id}),
    ],
    "company.match_accept": [
        ("company_admin", lambda i: {"proposal_id": i.match_proposal_id}),
    ],
    "company.match_done": [
        ("company_admin", lambda i: {"proposal_id": i.accepted_proposal_id}),
    ],
    "operator.match_requests": [("region", {}), ("operator", {})],
    "operator.match_proposals": [("region", {}), ("operator", {})],
    "operator.match_request": [
        ("region", lambda i: {"request_id": i.match_request_id}),
        ("operator", lambda i: {"request_id": i.match_request_id}),
    ],
    # notices, mail preferences and the development mailbox, for every role
    **{
        endpoint: [(role, {}) for role in ROLES if role != "visitor"]
        for endpoint in (
            "notifications.notices",
            "notifications.preferences",
            "notifications.dev_mailbox",
        )
    },
}


def get_endpoints(app: Flask) -> set[str]:
    """Every endpoint of the app that answers GET."""
    return {rule.endpoint for rule in app.url_map.iter_rules() if "GET" in rule.methods}


def is_excluded(endpoint: str) -> bool:
    return endpoint in EXCLUDED or any(endpoint.startswith(p) for p in EXCLUDED_PREFIXES)


def unlisted_endpoints(app: Flask) -> list[str]:
    """GET endpoints with neither a page entry nor a reason to leave them out."""
    return sorted(e for e in get_endpoints(app) if e not in PAGES and not is_excluded(e))


def demo_ids(app: Flask, now: datetime) -> DemoIds:
    """Look the demo records up. The one thing added is an upcoming stay of the employee,
    when the demo has none: the change and cancel pages need one."""
    today = tokyo_today(now)
    check_in, check_out = today + timedelta(days=20), today + timedelta(days=23)
    with app.app_context():
        operator = db.session.scalar(select(User).where(User.email == ROLES["operator"]))
        facility = db.session.scalar(
            select(Facility)
            .where(Facility.operator_id == operator.operator_id)
            .order_by(Facility.id)
        )
        unit = next(u for u in sorted(facility.units, key=lambda u: u.id) if u.active)
        found = search(SearchQuery(check_in=check_in, check_out=check_out, guests=1))
        bookable = found[0]
        employee = db.session.scalar(select(User).where(User.email == ROLES["employee"]))
        booking, change_to = _upcoming_stay(app, employee, operator.operator_id, now)
        workspace_unit = db.session.scalar(
            select(WorkspaceUnit)
            .join(Facility, Facility.id == WorkspaceUnit.facility_id)
            .where(Facility.operator_id == operator.operator_id)
            .order_by(WorkspaceUnit.facility_id, WorkspaceUnit.id)
        )
        workspace_booking = _upcoming_workspace(app, employee, operator.operator_id, now)
        account = db.session.scalar(
            select(BillingAccount).where(BillingAccount.company_id == employee.company_id)
        )
        ids = DemoIds(
            stay_check_in=check_in,
            stay_check_out=check_out,
            facility_id=facility.id,
            unit_id=unit.id,
            bookable_facility_id=bookable.facility_id,
            bookable_unit_id=bookable.units[0].id,
            booking_id=booking.id,
            change_to=change_to,
            plan_id=db.session.scalar(select(Plan.id).order_by(Plan.id)),
            customer_id=account.stripe_customer_id,
            invoice_id=_local_object(account.stripe_customer_id, "invoice", "customer"),
            checkout_id=_local_object(account.stripe_customer_id, "checkout.session", "customer"),
            company_id=employee.company_id,
            operator_org_id=operator.operator_id,
            employee_id=employee.id,
            company_application_id=_application(ApplicationKind.COMPANY),
            operator_application_id=_application(ApplicationKind.OPERATOR),
            past_booking_id=_past_stay(employee, today) or booking.id,
            company_webhook_id=_webhook(company_id=employee.company_id),
            operator_webhook_id=_webhook(operator_id=operator.operator_id),
            operator_booking_id=_operator_stay(operator, today),
            direct_stay_id=_direct_stay(operator, facility, now),
            tax_rule_id=db.session.scalar(
                select(AccommodationTaxRule.id).order_by(AccommodationTaxRule.id)
            ),
            group_policy_id=db.session.scalar(
                select(GroupPolicy.id)
                .where(GroupPolicy.company_id == employee.company_id)
                .order_by(GroupPolicy.id)
            ),
            workspace_facility_id=workspace_unit.facility_id,
            workspace_unit_id=workspace_unit.id,
            workspace_booking=workspace_booking,
            checkin_code=checkin_code(app.config["SECRET_KEY"], workspace_booking.unit_id),
            **_region_ids(app, employee, operator, now),
        )
        db.session.remove()
    return ids


def _region_ids(app: Flask, employee: User, operator: User, now: datetime) -> dict:
    """The issue-20 records of the demo the pages are opened for (demo/regions.py)."""
    region = db.session.scalar(select(User).where(User.email == ROLES["region"]))
    code = region.operator.municipality_code
    own = db.session.scalars(
        select(Programme).where(Programme.operator_id == region.operator_id).order_by(Programme.id)
    ).first()
    credit_paid = db.session.scalars(
        select(Programme).where(Programme.price_kind == "credit").order_by(Programme.id)
    ).first()
    admin = db.session.scalar(
        select(User).where(
            User.company_id == employee.company_id, User.email == ROLES["company_admin"]
        )
    )
    request_id, proposal_id = _open_proposal(app, admin, operator, now)
    return {
        "municipality_code": code,
        "programme_id": own.id,
        "programme_session_id": programmes.upcoming_sessions(own, now)[0].id,
        "join_session_id": programmes.upcoming_sessions(credit_paid, now)[0].id,
        "programme_signup_id": _programme_signup(app, employee, now),
        "region_fund_id": db.session.scalar(
            select(CouponFund.id)
            .where(CouponFund.operator_id == region.operator_id)
            .order_by(CouponFund.id)
        ),
        "company_fund_id": db.session.scalar(
            select(CouponFund.id)
            .where(CouponFund.company_id == employee.company_id)
            .order_by(CouponFund.id)
        ),
        "coupon_token": _open_coupon_token(code, now),
        "shop_redemption_id": _shop_redemption(),
        "match_request_id": request_id,
        "match_proposal_id": proposal_id,
        "accepted_proposal_id": _accepted_proposal(app, admin, operator, now),
    }


def _programme_signup(app: Flask, employee: User, now: datetime) -> int:
    """The employee's current place in a session; without one, a place is taken (one
    person) in the first session ahead of a free programme open to all (no stay needed),
    away from the small ones other tests fill."""
    found = db.session.scalar(
        select(ProgrammeSignup.id)
        .where(
            ProgrammeSignup.user_id == employee.id,
            ProgrammeSignup.status.in_(programmes.CURRENT),
        )
        .order_by(ProgrammeSignup.id)
    )
    if found is not None:
        return found
    open_to_all = db.session.scalars(
        select(Programme)
        .where(Programme.price_kind == "free", Programme.stay_required.is_(False))
        .order_by(Programme.capacity.desc(), Programme.id)
    ).first()
    session = programmes.upcoming_sessions(open_to_all, now)[0]
    signup = places.join(
        session.id,
        employee,
        1,
        now,
        booking_id=None,
        has_stay=False,
        waitlist=True,
        grace_days=app.config["BILLING_GRACE_DAYS"],
    )
    db.session.commit()
    return signup.id


def _open_coupon_token(code: str, now: datetime) -> str:
    """The token of an open coupon of the municipality, one good today if any (its page
    then offers the button), as the guest's QR code carries it."""
    today = tokyo_today(now)
    coupon = db.session.scalars(
        select(Coupon)
        .where(Coupon.municipality_code == code, Coupon.status == CouponStatus.OPEN)
        .order_by(((Coupon.valid_from <= today) & (Coupon.valid_until >= today)).desc(), Coupon.id)
    ).first()
    if coupon is None:
        raise LookupError(f"no open coupon in {code}")
    return token_of(coupon)


def _shop_redemption() -> int:
    """The first coupon the shop took (the demo's guests spent theirs in the town)."""
    found = db.session.scalar(
        select(CouponRedemption.id)
        .join(LocalShop, LocalShop.id == CouponRedemption.shop_id)
        .join(ShopMember, ShopMember.shop_id == LocalShop.id)
        .join(User, User.id == ShopMember.user_id)
        .where(User.email == ROLES["shop"])
        .order_by(CouponRedemption.id)
    )
    if found is None:
        raise LookupError("the demo's shop has taken no coupon")
    return found


# Matching requests made for the pages: one person, two nights 170–178 days out in
# Nagano (the demo's own request lies beyond the booking horizon, so nobody can propose
# for it yet), at the operator's facilities there but its first, which other tests use.
MATCH_PREFECTURE = 20
MATCH_WINDOW = (170, 178)


def _post_match_request(app: Flask, admin: User, now: datetime, title: str) -> MatchRequest:
    today = tokyo_today(now)
    return matching.post_request(
        admin,
        matching.RequestInput(
            title=title,
            description="",
            people=1,
            nights=2,
            earliest=today + timedelta(days=MATCH_WINDOW[0]),
            latest=today + timedelta(days=MATCH_WINDOW[1]),
            prefecture=MATCH_PREFECTURE,
            programme_kind=None,
            wants_onsen=False,
            budget=200_000,
        ),
        now,
        horizon_days=app.config["BOOKING_HORIZON_DAYS"],
    )


def _propose(app: Flask, operator: User, request: MatchRequest, now: datetime) -> MatchProposal:
    """The operator's proposal for ``request``: its first Nagano facility with stays but
    its first facility, and the first two nights of the window a room is free there."""
    first = db.session.scalar(
        select(Facility.id)
        .where(Facility.operator_id == operator.operator_id)
        .order_by(Facility.id)
    )
    for facility in match_offer.own_stay_facilities(operator.operator_id, request.prefecture):
        if facility.id == first:
            continue
        check_in = request.earliest
        while check_in + timedelta(days=request.nights) <= request.latest:
            check_out = check_in + timedelta(days=request.nights)
            if match_offer.free_rooms(facility.id, check_in, check_out):
                return matching.propose(
                    operator,
                    request.id,
                    matching.ProposalInput(facility.id, check_in, check_out),
                    now,
                    horizon_days=app.config["BOOKING_HORIZON_DAYS"],
                )
            check_in += timedelta(days=1)
    raise LookupError("no facility of the operator in Nagano has a room free to propose")


def _open_proposal(app: Flask, admin: User, operator: User, now: datetime) -> tuple[int, int]:
    """Acme's open request with an open proposal, posted and proposed when none is."""
    found = db.session.execute(
        select(MatchRequest.id, MatchProposal.id)
        .join(MatchProposal, MatchProposal.request_id == MatchRequest.id)
        .where(
            MatchRequest.company_id == admin.company_id,
            MatchRequest.status == MatchStatus.OPEN,
            MatchProposal.status == ProposalStatus.PROPOSED,
        )
        .order_by(MatchProposal.id)
    ).first()
    if found is not None:
        return found[0], found[1]
    request = _post_match_request(app, admin, now, "ページ確認用の依頼（1名・2泊）")
    proposal = _propose(app, operator, request, now)
    db.session.commit()
    return request.id, proposal.id


def _accepted_proposal(app: Flask, admin: User, operator: User, now: datetime) -> int:
    """A proposal Acme accepted; without one, a request is posted, proposed and accepted
    into one stay of the company admin (charged to the company's credit)."""
    found = db.session.scalar(
        select(MatchProposal.id)
        .join(MatchRequest, MatchRequest.id == MatchProposal.request_id)
        .where(
            MatchRequest.company_id == admin.company_id,
            MatchProposal.status == ProposalStatus.ACCEPTED,
        )
        .order_by(MatchProposal.id)
    )
    if found is not None:
        return found
    request = _post_match_request(app, admin, now, "ページ確認用の依頼（承諾済み）")
    proposal = _propose(app, operator, request, now)
    accept_proposal(
        admin,
        proposal.id,
        [admin.id],
        now,
        horizon_days=app.config["BOOKING_HORIZON_DAYS"],
        grace_days=app.config["BILLING_GRACE_DAYS"],
    )
    db.session.commit()
    return proposal.id


def _operator_stay(operator: User, today: date) -> int:
    """The first upcoming stay at the operator's facilities."""
    return db.session.scalar(
        select(Booking.id)
        .join(Unit, Unit.id == Booking.unit_id)
        .join(Facility, Facility.id == Unit.facility_id)
        .where(Facility.operator_id == operator.operator_id, Booking.status == "confirmed")
        .where(Booking.check_in > today)
        .order_by(Booking.check_in, Booking.id)
    )


def _direct_stay(operator: User, facility: Facility, now: datetime) -> int:
    """A direct stay of the operator's first facility, recorded (150 days out, in the
    first room free that night) when the demo has none: its page needs one."""
    existing = db.session.scalar(
        select(DirectStay.id)
        .join(Block, Block.id == DirectStay.block_id)
        .join(Unit, Unit.id == Block.unit_id)
        .where(Unit.facility_id == facility.id)
        .order_by(DirectStay.id)
    )
    if existing is not None:
        return existing
    night = tokyo_today(now) + timedelta(days=150)
    for unit in sorted(facility.units, key=lambda u: u.id):
        try:
            direct = record_direct_stay(
                operator,
                unit,
                night,
                night + timedelta(days=1),
                guest_name="直接 太郎",
                guests=1,
                nightly_price=0,
                note="",
                now=now,
            )
        except BlockError:
            db.session.rollback()
            continue
        db.session.commit()
        return direct.id
    raise LookupError("no room of the operator's first facility is free for a direct stay")


def _past_stay(employee: User, today: date) -> int | None:
    """The employee's latest stay that has checked out, if the demo has one."""
    return db.session.scalar(
        select(Booking.id)
        .where(Booking.user_id == employee.id, Booking.status == "confirmed")
        .where(Booking.check_out <= today)
        .order_by(Booking.check_out.desc())
    )


def _webhook(*, company_id: int | None = None, operator_id: int | None = None) -> int:
    """A webhook endpoint of the organisation, made (turned off, so no event is ever sent
    to it; at a reserved name) when the demo has none: its pages need one."""
    owned = (
        WebhookEndpoint.company_id == company_id
        if company_id is not None
        else WebhookEndpoint.operator_id == operator_id
    )
    found = db.session.scalar(select(WebhookEndpoint.id).where(owned).order_by(WebhookEndpoint.id))
    if found is not None:
        return found
    endpoint = WebhookEndpoint(
        company_id=company_id,
        operator_id=operator_id,
        url="https://hooks.engawa.invalid/events",
        description="Demo",
        event_types="invoice.issued" if company_id is not None else "feed.failing",
        secret=seal_secret(new_secret()),
        active=False,
    )
    db.session.add(endpoint)
    db.session.commit()
    return endpoint.id


def _application(kind: str) -> int:
    """The demo's pending application of ``kind`` (demo/seed.py)."""
    return db.session.scalar(
        select(Application.id).where(Application.kind == kind).order_by(Application.id)
    )


def _upcoming_stay(app: Flask, employee: User, operator_id: int, now: datetime):
    """The employee's first upcoming stay, and a stay one night later in the same room.

    Without one in the demo, one is booked (and committed) 45 days out, in a room free for
    a night more and away from the operator's own facilities, which other tests close."""
    today = tokyo_today(now)
    booking = db.session.scalar(
        select(Booking)
        .where(Booking.user_id == employee.id, Booking.status == "confirmed")
        .where(Booking.check_in > today)
        .order_by(Booking.check_in)
    )
    if booking is not None:
        return booking, _another_party(booking)
    first = today + timedelta(days=45)
    found = search(SearchQuery(check_in=first, check_out=first + timedelta(days=3), guests=1))
    for result in found:
        if db.session.get(Facility, result.facility_id).operator_id == operator_id:
            continue
        for offer in result.units:
            try:
                booking = book_stay(
                    employee,
                    StayRequest(offer.id, first, first + timedelta(days=2), 1),
                    now,
                    horizon_days=app.config["BOOKING_HORIZON_DAYS"],
                    grace_days=app.config["BILLING_GRACE_DAYS"],
                )
            except BookingError:
                db.session.rollback()
                continue
            db.session.commit()
            later = first + timedelta(days=1)
            return booking, _stay_values(offer.id, later, later + timedelta(days=2))
    raise LookupError("no room free to book a stay for the employee")


def _upcoming_workspace(app: Flask, employee: User, operator_id: int, now: datetime):
    """The employee's first upcoming workspace booking; without one, an hour (10:00–11:00,
    the first open weekday a week out) is booked and committed at a unit away from the
    operator's facilities, which other tests change."""
    existing = db.session.scalar(
        select(WorkspaceBooking)
        .where(
            WorkspaceBooking.user_id == employee.id,
            WorkspaceBooking.status.in_(OPEN_WORKSPACE),
            WorkspaceBooking.starts_at > now,
        )
        .order_by(WorkspaceBooking.starts_at)
    )
    if existing is not None:
        return Booked.of(existing)
    units = db.session.scalars(
        select(WorkspaceUnit)
        .join(Facility, Facility.id == WorkspaceUnit.facility_id)
        .where(Facility.operator_id != operator_id, WorkspaceUnit.active.is_(True))
        .order_by(WorkspaceUnit.id)
    )
    for unit in units:
        for ahead in range(7, 14):
            day = tokyo_today(now) + timedelta(days=ahead)
            start = datetime.combine(day, time(10), tzinfo=TOKYO)
            try:
                (booked,) = book_workspace(
                    employee,
                    [WorkspaceRequest(unit.id, start, start + timedelta(hours=1))],
                    now,
                    grace_days=app.config["BILLING_GRACE_DAYS"],
                )
            except RuleError:
                db.session.rollback()
                continue
            db.session.commit()
            return Booked.of(booked)
    raise LookupError("no workspace free to book for the employee")


def _workspace_day(ids: DemoIds) -> str:
    return ids.workspace_booking.starts_at.astimezone(TOKYO).date().isoformat()


def _workspace_time(ids: DemoIds) -> dict:
    """An hour after the employee's workspace booking, at its unit: a quote to confirm."""
    booking = ids.workspace_booking
    start = booking.ends_at.astimezone(TOKYO)
    return {
        "unit_id": booking.unit_id,
        "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat(),
    }


def _change_to(ids: DemoIds) -> dict:
    """The change page's form values moving the workspace booking an hour later."""
    booking = ids.workspace_booking
    later = booking.starts_at.astimezone(TOKYO) + timedelta(hours=1)
    return {
        "unit_id": booking.unit_id,
        "day": later.date().isoformat(),
        "starts": later.strftime("%H:%M"),
        "minutes": (booking.ends_at - booking.starts_at) // timedelta(minutes=1),
    }


def _another_party(booking: Booking) -> dict:
    """A change of an existing stay that needs no other night: one guest more or fewer,
    else one night fewer (the preview must differ from the stay, or it answers 422)."""
    values = _stay_values(booking.unit_id, booking.check_in, booking.check_out)
    if booking.guests > 1 or booking.unit.capacity > 1:
        values["guests"] = 1 if booking.guests > 1 else 2
    else:
        values["check_out"] = (booking.check_out - timedelta(days=1)).isoformat()
    return values


def _stay_values(unit_id: int, check_in: date, check_out: date) -> dict:
    return {
        "unit_id": unit_id,
        "check_in": check_in.isoformat(),
        "check_out": check_out.isoformat(),
        "guests": 1,
    }


def _local_object(customer_id: str, kind: str, owner_key: str) -> str:
    """The first local billing record of one kind that belongs to the customer."""
    for obj in db.session.scalars(
        select(LocalObject).where(LocalObject.kind == kind).order_by(LocalObject.id)
    ):
        if json.loads(obj.data).get(owner_key) == customer_id:
            return obj.id
    raise LookupError(f"no local {kind} of {customer_id}")


def every_page(app: Flask, now: datetime) -> list[PageVisit]:
    """Every listed page of every role, its URL built from the demo ids."""
    ids = demo_ids(app, now)
    visits = []
    with app.test_request_context():
        for endpoint, entries in PAGES.items():
            if endpoint not in app.view_functions:
                continue  # listed ahead of the view that serves it
            for role, values, *status in entries:
                kwargs = values(ids) if callable(values) else values
                url = url_for(endpoint, **kwargs)
                visits.append(PageVisit(role, endpoint, url, status[0] if status else None))
    return visits


def pages_by_role(app: Flask, now: datetime) -> dict[str, list[PageVisit]]:
    by_role: dict[str, list[PageVisit]] = {role: [] for role in ROLES}
    for visit in every_page(app, now):
        by_role[visit.role].append(visit)
    return by_role
