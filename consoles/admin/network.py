"""What the platform console shows of the whole network: the overview's figures and
the lists of companies, operator organisations and people, each searched and paged.
Reads only; the changes are in ``identity.orgs`` and ``identity.people``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import joinedload

from accounts.models import COMPANY_ROLES, Company, OperatorOrg, Role, User
from billing.models import TERMINAL_STATUSES, BillingAccount, Plan, Subscription
from billing.services import is_live
from booking.models import CHARGED_STATUSES, Booking
from calendars import feeds
from core.dates import month_bounds
from core.db import TOKYO, get_by_id, tokyo_today
from core.extensions import db
from core.models import JobRun
from core.paging import Page
from facilities.models import Facility

PER_PAGE = 50
MAX_QUERY = 100


# --- The overview ------------------------------------------------------------------------


@dataclass(frozen=True)
class Overview:
    companies: int
    companies_inactive: int
    seats_paid: int
    seats_used: int
    mrr: int  # yen a month: seats × fee per seat over the live subscriptions
    operators: int
    facilities_listed: int
    facilities_waiting: int  # open, not reviewed yet
    bookings_this_month: int
    month: datetime
    feeds_failing: int
    jobs_failing: list[str]


def _live_subscriptions():
    return (
        select(Subscription, Plan)
        .join(BillingAccount, BillingAccount.subscription_id == Subscription.id)
        .join(Plan, Plan.id == Subscription.plan_id)
        .join(Company, Company.id == BillingAccount.company_id)
        .where(Subscription.status.not_in(list(TERMINAL_STATUSES)), Company.active)
    )


def failing_jobs(job_names) -> list[str]:
    """The registered jobs whose latest run failed."""
    newest = (
        select(JobRun.job, func.max(JobRun.started_at).label("started_at"))
        .group_by(JobRun.job)
        .subquery()
    )
    failed = db.session.scalars(
        select(JobRun.job)
        .join(newest, (JobRun.job == newest.c.job) & (JobRun.started_at == newest.c.started_at))
        .where(JobRun.outcome == "failed")
    )
    return sorted(set(failed) & set(job_names))


def overview(now: datetime, *, sync_minutes: int, job_names) -> Overview:
    count = db.session.scalar
    live = db.session.execute(_live_subscriptions()).all()
    first, following = month_bounds(tokyo_today(now))
    month_start = datetime.combine(first, time(), tzinfo=TOKYO)
    month_end = datetime.combine(following, time(), tzinfo=TOKYO)
    return Overview(
        companies=count(select(func.count()).select_from(Company).where(Company.active)),
        companies_inactive=count(
            select(func.count()).select_from(Company).where(Company.active.is_(False))
        ),
        seats_paid=sum(sub.seats for sub, _plan in live),
        seats_used=count(
            select(func.count())
            .select_from(User)
            .join(Company, Company.id == User.company_id)
            .where(User.active, User.role.in_(COMPANY_ROLES), Company.active)
        ),
        mrr=sum(sub.seats * plan.fee_per_seat for sub, plan in live),
        operators=count(select(func.count()).select_from(OperatorOrg)),
        facilities_listed=count(select(func.count()).select_from(Facility).where(Facility.listed)),
        facilities_waiting=count(
            select(func.count())
            .select_from(Facility)
            .where(Facility.active, Facility.reviewed_at.is_(None))
        ),
        bookings_this_month=count(
            select(func.count())
            .select_from(Booking)
            .where(
                Booking.status.in_(CHARGED_STATUSES),
                Booking.created_at >= month_start,
                Booking.created_at < month_end,
            )
        ),
        month=month_start,
        feeds_failing=sum(
            1 for row in feeds.feed_health(None, now, sync_minutes) if row.state == "failing"
        ),
        jobs_failing=failing_jobs(job_names),
    )


# --- Companies ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CompanyRow:
    company: Company
    account: BillingAccount | None
    subscription: Subscription | None
    plan: Plan | None
    seats_used: int

    @property
    def seats_paid(self) -> int:
        return self.subscription.seats if is_live(self.subscription) else 0


def _contains(column, q: str):
    return func.lower(column).contains(q.lower(), autoescape=True)


def _page(query, page: int, per_page: int):
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    page = Page.number(page, total, per_page)
    return total, page, query.limit(per_page).offset((page - 1) * per_page)


def companies(q: str, state: str, page: int, per_page: int = PER_PAGE) -> Page:
    """Companies whose name holds ``q`` or whose corporate number starts with it;
    ``state`` "active" or "inactive" narrows; by name."""
    q = q.strip()[:MAX_QUERY]
    query = (
        select(Company, BillingAccount, Subscription, Plan)
        .outerjoin(BillingAccount, BillingAccount.company_id == Company.id)
        .outerjoin(Subscription, Subscription.id == BillingAccount.subscription_id)
        .outerjoin(Plan, Plan.id == Subscription.plan_id)
        .order_by(Company.name, Company.id)
    )
    if q:
        query = query.where(
            or_(_contains(Company.name, q), Company.corporate_number.startswith(q, autoescape=True))
        )
    if state == "active":
        query = query.where(Company.active)
    elif state == "inactive":
        query = query.where(Company.active.is_(False))
    total, page, query = _page(query, page, per_page)
    found = db.session.execute(query).all()
    used = _seats_used([company.id for company, *_rest in found])
    rows = [CompanyRow(*row, used.get(row[0].id, 0)) for row in found]
    return Page(rows, total, page, per_page)


def _seats_used(company_ids: list[int]) -> dict[int, int]:
    """Active people of each of these companies: counted for the page's companies only,
    so the list costs the same however many people the network has."""
    if not company_ids:
        return {}
    rows = db.session.execute(
        select(User.company_id, func.count())
        .where(User.company_id.in_(company_ids), User.active, User.role.in_(COMPANY_ROLES))
        .group_by(User.company_id)
    ).all()
    return dict(rows)


def company_row(company_id: int) -> CompanyRow | None:
    company = get_by_id(Company, company_id)
    if company is None:
        return None
    account = db.session.get(BillingAccount, company.id)
    subscription = account.subscription if account else None
    used = db.session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.company_id == company.id, User.active, User.role.in_(COMPANY_ROLES))
    )
    return CompanyRow(
        company, account, subscription, subscription.plan if subscription else None, used
    )


def admins_of_company(company_id: int) -> list[User]:
    return list(
        db.session.scalars(
            select(User)
            .where(User.company_id == company_id, User.role == Role.COMPANY_ADMIN)
            .order_by(User.name, User.id)
        )
    )


def people_count(company_id: int) -> int:
    return db.session.scalar(
        select(func.count()).select_from(User).where(User.company_id == company_id)
    )


# --- Operator organisations ----------------------------------------------------------------


@dataclass(frozen=True)
class OperatorRow:
    org: OperatorOrg
    facilities: int
    listed: int


def operators(q: str, state: str, page: int, per_page: int = PER_PAGE) -> Page:
    """Operator organisations whose name holds ``q``; ``state`` "active" or
    "suspended" narrows; by name; with how many facilities each has and lists."""
    q = q.strip()[:MAX_QUERY]
    counts = (
        select(
            Facility.operator_id,
            func.count().label("n"),
            func.sum(case((Facility.listed, 1), else_=0)).label("listed"),
        )
        .group_by(Facility.operator_id)
        .subquery()
    )
    query = (
        select(OperatorOrg, func.coalesce(counts.c.n, 0), func.coalesce(counts.c.listed, 0))
        .outerjoin(counts, counts.c.operator_id == OperatorOrg.id)
        .order_by(OperatorOrg.name, OperatorOrg.id)
    )
    if q:
        query = query.where(_contains(OperatorOrg.name, q))
    if state == "active":
        query = query.where(OperatorOrg.suspended_at.is_(None))
    elif state == "suspended":
        query = query.where(OperatorOrg.suspended_at.is_not(None))
    total, page, query = _page(query, page, per_page)
    rows = [OperatorRow(*row) for row in db.session.execute(query).all()]
    return Page(rows, total, page, per_page)


def facilities_of(operator_id: int) -> list[Facility]:
    return list(
        db.session.scalars(
            select(Facility)
            .where(Facility.operator_id == operator_id)
            .order_by(Facility.reviewed_at.is_not(None), Facility.name_en, Facility.id)
        )
    )


def operators_of(operator_id: int) -> list[User]:
    return list(
        db.session.scalars(
            select(User).where(User.operator_id == operator_id).order_by(User.name, User.id)
        )
    )


# --- People ----------------------------------------------------------------------------------


ROLES = tuple(role.value for role in Role)
STATES = ("active", "locked", "inactive")


def people(
    q: str,
    role: str,
    state: str,
    page: int,
    per_page: int = PER_PAGE,
    *,
    company_id: int | None = None,
    operator_id: int | None = None,
) -> Page:
    """Everyone whose e-mail address or name holds ``q``, across the network; ``role``,
    ``state`` (active, locked, inactive) and an organisation narrow; by e-mail address."""
    q = q.strip()[:MAX_QUERY]
    query = (
        select(User)
        .options(joinedload(User.company), joinedload(User.operator))
        .order_by(User.email, User.id)
    )
    if q:
        query = query.where(or_(_contains(User.email, q), _contains(User.name, q)))
    if role in ROLES:
        query = query.where(User.role == role)
    if company_id is not None:
        query = query.where(User.company_id == company_id)
    if operator_id is not None:
        query = query.where(User.operator_id == operator_id)
    if state == "active":
        query = query.where(User.active, User.locked_at.is_(None))
    elif state == "locked":
        query = query.where(User.locked_at.is_not(None))
    elif state == "inactive":
        query = query.where(User.active.is_(False))
    total, page, query = _page(query, page, per_page)
    return Page(list(db.session.scalars(query).unique()), total, page, per_page)
