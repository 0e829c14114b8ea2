"""Reading the audit log a page at a time, for the platform admin's page and for a
company admin's or an operator's page of their own organisation's entries.

The filter comes from the query string: an action prefix, an object type, and a date
range in Japan's calendar (both ends included). Bad values narrow nothing rather than
fail, so a hand-edited address still shows a page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from accounts.audit import (
    ACTOR_CLI,
    ACTOR_SCIM,
    ACTOR_SYSTEM,
    AuditEntry,
    AuditFilter,
    entries_query,
)
from accounts.models import Role
from core.dates import parse_iso_date
from core.db import TOKYO
from core.extensions import db
from core.paging import Page

PER_PAGE = 50
MAX_ACTION = 60
MAX_PAGE = 100_000


@dataclass(frozen=True)
class Narrowed:
    """What the reader asked for, as typed (for the form) and as a filter."""

    action: str = ""
    object_type: str = ""
    since: date | None = None
    until: date | None = None
    company_id: int | None = None
    operator_id: int | None = None

    def as_filter(self) -> AuditFilter:
        return AuditFilter(
            action=self.action,
            object_type=self.object_type,
            company_id=self.company_id,
            operator_id=self.operator_id,
            # Days outside years 2000 … 9998 narrow nothing (the log holds none), and
            # midnight in Tokyo of year 1 would not fit in UTC.
            since=_tokyo_midnight(self.since) if self.since and self.since >= EARLIEST else None,
            until=(
                _tokyo_midnight(max(self.until, EARLIEST) + timedelta(days=1))
                if self.until and self.until <= LATEST
                else None
            ),
        )


EARLIEST, LATEST = date(2000, 1, 1), date(9998, 12, 31)


def _tokyo_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=TOKYO)


def positive_int(raw: str | None) -> int | None:
    """A positive id from the query string, or None."""
    raw = (raw or "").strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 10:
        return None
    value = int(raw)
    return value if 0 < value < 2**31 else None


def page_number(raw: str | None) -> int:
    value = positive_int(raw)
    return min(value, MAX_PAGE) if value else 1


def narrowed(args, *, organisation: bool) -> Narrowed:
    """The filter from query-string ``args``; ``organisation``: whether the reader may
    choose the company or operator (only the platform admin)."""
    action = (args.get("action") or "").strip()[:MAX_ACTION]
    object_type = (args.get("type") or "").strip()[:40]
    return Narrowed(
        action=action,
        object_type=object_type,
        since=parse_iso_date(args.get("since")),
        until=parse_iso_date(args.get("until")),
        company_id=positive_int(args.get("company")) if organisation else None,
        operator_id=positive_int(args.get("operator")) if organisation else None,
    )


def entries_page(where: AuditFilter, page: int, per_page: int = PER_PAGE) -> Page:
    """One page of entries, newest first, with who acted loaded."""
    query = entries_query(where)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    page = Page.number(page, total, per_page)
    items = db.session.scalars(
        query.options(joinedload(AuditEntry.actor)).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return Page(list(items), total, page, per_page)


def _distinct(column, company_id: int | None, operator_id: int | None) -> list[str]:
    query = select(column).distinct().order_by(column)
    if company_id is not None:
        query = query.where(AuditEntry.company_id == company_id)
    if operator_id is not None:
        query = query.where(AuditEntry.operator_id == operator_id)
    return list(db.session.scalars(query))


def actions(*, company_id: int | None = None, operator_id: int | None = None) -> list[str]:
    """The actions present in the log (of one organisation), for a filter's choices."""
    return _distinct(AuditEntry.action, company_id, operator_id)


def object_types(*, company_id: int | None = None, operator_id: int | None = None) -> list[str]:
    """The object types present in the log (of one organisation), for a filter's choices."""
    return _distinct(AuditEntry.object_type, company_id, operator_id)


# The reader's words for the actions this issue records; any other shows its code.
ACTION_LABELS = {
    "match.accepted": _l("Matching proposal accepted"),
    "operator.municipality": _l("Municipality code set"),
    "coupon_fund.create": _l("Coupon fund created"),
    "programme.create": _l("Programme created"),
    "programme.update": _l("Programme changed"),
    "programme.publish": _l("Programme published"),
    "programme.unpublish": _l("Programme unpublished"),
    "programme.session_cancel": _l("Programme session cancelled"),
    "programme.participants_read": _l("Programme participants viewed"),
    "local_shop.approve": _l("Registered shop approved"),
    "local_shop.suspend": _l("Registered shop suspended"),
    "local_shop.reactivate": _l("Registered shop reactivated"),
    "booking.approved": _l("Stay approved"),
    "booking.rejected": _l("Stay rejected"),
    "booking.approval_expired": _l("Approval request expired"),
    "user.away": _l("Approver away"),
    "company.create": _l("Company created"),
    "company.subscribe": _l("Subscription started"),
    "company.deactivate": _l("Company deactivated"),
    "company.reactivate": _l("Company reactivated"),
    "operator.create": _l("Operator organisation created"),
    "operator.suspend": _l("Operator organisation suspended"),
    "operator.unsuspend": _l("Operator organisation no longer suspended"),
    "facility.review": _l("Facility reviewed"),
    "facility.unreview": _l("Facility review taken back"),
    "user.lock": _l("Account locked"),
    "user.unlock": _l("Account unlocked"),
    "user.password_reset": _l("Password reset sent"),
    "user.two_factor_reset": _l("Two-factor sign-in reset"),
    "user.sso_unbind": _l("Unbound from single sign-on"),
    "user.password_chosen": _l("New password chosen through a link"),
    "user.two_factor_on": _l("Two-factor sign-in turned on"),
    "user.two_factor_off": _l("Two-factor sign-in turned off"),
    "application.approve": _l("Application approved"),
    "application.reject": _l("Application rejected"),
    "domain.approve": _l("Join domain approved"),
    "domain.reject": _l("Join domain rejected"),
    "plan.update": _l("Plan changed"),
    "company.policy": _l("Booking policy changed"),
    "company.join_domain": _l("Join domain set"),
    "member.invite": _l("Employee invited"),
    "member.invitation_revoke": _l("Invitation revoked"),
    "member.deactivate": _l("Employee deactivated"),
    "member.reactivate": _l("Employee reactivated"),
    "sso.update": _l("Single sign-on settings changed"),
    "webhook.create": _l("Webhook endpoint added"),
    "webhook.disable": _l("Webhook endpoint turned off"),
    "webhook.enable": _l("Webhook endpoint turned on"),
    "webhook.delete": _l("Webhook endpoint deleted"),
    "sso.user.create": _l("Account created at the first single sign-on"),
    "sso.user.bind": _l("Account bound to single sign-on"),
    "scim.token.create": _l("SCIM token created"),
    "scim.token.rotate": _l("SCIM token rotated"),
    "scim.token.revoke": _l("SCIM token revoked"),
    "scim.user.create": _l("Account created by the directory"),
    "scim.user.update": _l("Account changed by the directory"),
    "scim.user.deactivate": _l("Account deactivated by the directory"),
    "scim.user.reactivate": _l("Account reactivated by the directory"),
    "hr.facts": _l("HR details changed"),
    "hr.fiscal_year": _l("Fiscal year changed"),
    "hr.import": _l("HR details imported from a CSV file"),
    "hr.group_policy.create": _l("Group policy added"),
    "hr.group_policy.update": _l("Group policy changed"),
    "hr.group_policy.delete": _l("Group policy removed"),
}
ACTOR_KIND_LABELS = {
    ACTOR_CLI: _l("Command line"),
    ACTOR_SCIM: _l("Directory (SCIM)"),
    ACTOR_SYSTEM: _l("Engawa"),
}


def action_label(action: str) -> str:
    label = ACTION_LABELS.get(action)
    return str(label) if label is not None else action


def actor_label(entry: AuditEntry, *, full: bool) -> str:
    """Who acted. ``full`` (the Engawa team): the person's address. An organisation's
    own reader sees the names of their own people, and "Engawa team" for the platform."""
    person = entry.actor
    if person is None:
        return str(ACTOR_KIND_LABELS.get(entry.actor_kind, entry.actor_kind))
    if full:
        return person.email
    if person.role == Role.PLATFORM_ADMIN:
        return str(_l("Engawa team"))
    own = (entry.company_id is not None and person.company_id == entry.company_id) or (
        entry.operator_id is not None and person.operator_id == entry.operator_id
    )
    return person.name if own else str(_l("Engawa team"))
