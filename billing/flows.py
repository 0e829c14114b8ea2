"""Steps that alternate between our database and the payment provider.

No provider call may happen while a transaction of ours holds locks, so these
flows are the one place in billing that commits between steps: a short
transaction decides and records what we are about to ask (the row whose id
keys the provider's idempotency), commit, call the provider, then a second short
transaction stores the answer. A retry at any point repeats the same keys, so
the provider creates each object once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from billing import ledger, services, webhooks
from billing.models import (
    CheckoutAttempt,
    Plan,
    Subscription,
)
from billing.providers import gateway
from billing.providers.base import GatewayError, ObjectMissing
from billing.services import BillingError, is_live, plan_by_id, price_id_of, seats_used
from billing.settings import BillingSettings
from core.extensions import db

log = logging.getLogger(__name__)

PENDING_ATTEMPT_MINUTES = 30  # a second click within this reuses the first attempt's keys
CHECKOUT_LIFETIME_HOURS = 24  # Stripe's Checkout Sessions expire after this


def _provider_error(exc: GatewayError) -> BillingError:
    # The provider's message can quote customer details: the log gets its kind only.
    cause = exc.__cause__
    log.warning(
        "payment provider refused: %s (%s)",
        type(cause or exc).__name__,
        getattr(cause, "code", None) or "-",
    )
    return BillingError(
        _l(
            "The payment service could not be reached or refused the request."
            " Nothing was charged; please try again."
        ),
        "provider",
    )


def _expire_open_checkouts(company_id: int, now: datetime) -> None:
    """End the company's earlier Checkout sessions, so a forgotten tab paid later cannot
    start a second subscription next to the one being made now."""
    sessions = db.session.scalars(
        select(CheckoutAttempt.stripe_session_id).where(
            CheckoutAttempt.company_id == company_id,
            CheckoutAttempt.stripe_session_id.is_not(None),
            # Stripe's Checkout Sessions expire by themselves after 24 hours.
            CheckoutAttempt.created_at > now - timedelta(hours=CHECKOUT_LIFETIME_HOURS),
        )
    ).all()
    db.session.commit()
    gw = gateway()
    for session_id in sessions:
        try:
            if gw.checkout(session_id).status == "open":
                gw.expire_checkout(session_id)
        except ObjectMissing:
            continue  # gone at the provider (other keys, other backend): nothing to end
        except GatewayError as exc:
            raise _provider_error(exc) from None


def _ensure_customer(company_id: int) -> str:
    account = ledger.account_of(company_id)
    customer, name = account.stripe_customer_id, account.billing_name or account.company.name
    email = account.billing_email
    db.session.commit()
    if customer:
        return customer
    try:
        customer = gateway().create_customer(
            company_id=company_id,
            name=name,
            email=email,
            key=f"engawa-company-{company_id}-customer",
        )
    except GatewayError as exc:
        raise _provider_error(exc) from None
    account = ledger.account_of(company_id, lock=True)
    if account.stripe_customer_id is None:
        account.stripe_customer_id = customer
    customer = account.stripe_customer_id
    db.session.commit()
    return customer


def _refuse_if_subscribed(company_id: int) -> None:
    """A company has one live subscription: lock its account and refuse a second."""
    account = ledger.account_of(company_id, lock=True)
    if is_live(account.subscription):
        raise BillingError(_l("Your company already has a subscription."), "subscribed")


def _checked_plan(company_id: int, plan_id: int, seats: int, method: str) -> Plan:
    """The plan asked for, once the request is one we may start: no live subscription,
    a known way to pay, and no fewer seats than the people enrolled (at least one)."""
    _refuse_if_subscribed(company_id)
    plan = plan_by_id(plan_id)
    if method not in ("card", "invoice"):
        raise BillingError(_l("Please choose how to pay."), "method")
    used = seats_used(company_id)
    if seats < max(1, used):
        raise BillingError(
            _l(
                "You have %(used)d people enrolled, so at least %(used)d seats are needed.",
                used=used,
            ),
            "seats_too_few",
        )
    return plan


def _recent_attempt(
    company_id: int, plan_id: int, seats: int, method: str, now: datetime
) -> CheckoutAttempt | None:
    """The same request made a short while ago and not yet turned into a subscription."""
    # A double click or a retry within a short while reuses the first attempt, so
    # its idempotency keys make the provider answer with the same objects.
    attempt = db.session.scalar(
        select(CheckoutAttempt)
        .where(
            CheckoutAttempt.company_id == company_id,
            CheckoutAttempt.plan_id == plan_id,
            CheckoutAttempt.seats == seats,
            CheckoutAttempt.method == method,
            CheckoutAttempt.created_at > now - timedelta(minutes=PENDING_ATTEMPT_MINUTES),
        )
        .order_by(CheckoutAttempt.id.desc())
        .limit(1)
    )
    if attempt is not None and attempt.stripe_subscription_id is not None:
        return None  # it made its subscription, since ended: start afresh
    return attempt


def _open_checkout_url(session_id: str) -> str | None:
    """The Checkout's URL while it is still open (commits first: the provider is asked)."""
    db.session.commit()
    try:
        session = gateway().checkout(session_id)
    except GatewayError as exc:
        raise _provider_error(exc) from None
    if session.status == "open" and session.url:
        return session.url
    return None


def _start_attempt(
    company_id: int, user_id: int, plan_id: int, seats: int, method: str, now: datetime
) -> CheckoutAttempt:
    """A new attempt (new keys), once earlier Checkouts are ended."""
    _expire_open_checkouts(company_id, now)
    # Decide again under the lock: a checkout finished in another tab meanwhile wins.
    _refuse_if_subscribed(company_id)
    attempt = CheckoutAttempt(
        company_id=company_id,
        user_id=user_id,
        plan_id=plan_id,
        seats=seats,
        method=method,
        created_at=now,
    )
    db.session.add(attempt)
    db.session.flush()
    return attempt


def _create_checkout(
    company_id: int,
    attempt_id: int,
    customer: str,
    price_id: str,
    seats: int,
    success_url: str,
    cancel_url: str,
) -> str:
    """Ask the provider for the attempt's Checkout (keyed by the attempt); its URL."""
    gw = gateway()
    try:
        session = gw.create_checkout(
            customer=customer,
            price_id=price_id,
            seats=seats,
            company_id=company_id,
            success_url=success_url,
            cancel_url=cancel_url,
            key=f"engawa-checkout-{attempt_id}",
        )
    except GatewayError as exc:
        raise _provider_error(exc) from None
    attempt = db.session.get(CheckoutAttempt, attempt_id)
    attempt.stripe_session_id = session.id
    db.session.commit()
    return session.url


def _create_invoiced_subscription(
    company_id: int,
    attempt_id: int,
    customer: str,
    price_id: str,
    seats: int,
    now: datetime,
    *,
    settings: BillingSettings,
) -> None:
    """Ask the provider for the attempt's invoiced subscription (keyed by the attempt)."""
    gw = gateway()
    try:
        record = gw.create_invoiced_subscription(
            customer=customer,
            price_id=price_id,
            seats=seats,
            company_id=company_id,
            days_until_due=settings.invoice_days_until_due,
            key=f"engawa-subscription-{attempt_id}",
        )
    except GatewayError as exc:
        raise _provider_error(exc) from None
    attempt = db.session.get(CheckoutAttempt, attempt_id)
    attempt.stripe_subscription_id = record.id
    # Apply what we were answered now; the webhook that follows changes nothing more.
    account = ledger.account_of(company_id, lock=True)
    webhooks.apply_subscription(
        account, record, now, settings.price_ids, grace_days=settings.grace_days
    )
    db.session.commit()


def subscribe(
    company_id: int,
    user_id: int,
    plan_id: int,
    seats: int,
    method: str,
    now: datetime,
    *,
    success_url: str,
    cancel_url: str,
    settings: BillingSettings,
) -> str | None:
    """Start a subscription. Card: the Checkout URL to send the admin to. Invoice: None
    (the subscription exists at once and its first invoice is sent, due in 30 days)."""
    plan = _checked_plan(company_id, plan_id, seats, method)
    price_id = price_id_of(plan, settings.backend, settings.price_ids)
    attempt = _recent_attempt(company_id, plan.id, seats, method, now)
    if attempt is not None and attempt.stripe_session_id is not None:
        # Its Checkout is there already: send the admin back to it while it is open.
        url = _open_checkout_url(attempt.stripe_session_id)
        if url:
            return url
        attempt = None  # expired or completed: a new attempt, new keys
        _refuse_if_subscribed(company_id)
    if attempt is None:
        attempt = _start_attempt(company_id, user_id, plan.id, seats, method, now)
    attempt_id = attempt.id
    db.session.commit()

    customer = _ensure_customer(company_id)
    if method == "card":
        return _create_checkout(
            company_id, attempt_id, customer, price_id, seats, success_url, cancel_url
        )
    _create_invoiced_subscription(
        company_id, attempt_id, customer, price_id, seats, now, settings=settings
    )
    return None


def _live_subscription(company_id: int) -> Subscription:
    account = ledger.account_of(company_id)
    if not is_live(account.subscription):
        raise BillingError(_l("Your company has no active subscription."), "not_subscribed")
    return account.subscription


def _refresh_subscription(
    company_id: int, stripe_id: str, now: datetime, *, settings: BillingSettings
) -> None:
    """Re-read the subscription after a change so the page shows it at once."""
    record = gateway().subscription(stripe_id)
    account = ledger.account_of(company_id, lock=True)
    webhooks.apply_subscription(
        account, record, now, settings.price_ids, grace_days=settings.grace_days
    )
    db.session.commit()


def change_seats(company_id: int, seats: int, now: datetime, *, settings: BillingSettings) -> None:
    """Seats up or down (the provider prorates); never below the people enrolled."""
    sub = _live_subscription(company_id)
    used = seats_used(company_id)
    if seats < max(1, used):
        raise BillingError(
            _l(
                "%(used)d people are enrolled. Deactivate employees before going below"
                " %(used)d seats.",
                used=used,
            ),
            "seats_too_few",
        )
    if sub.cancel_at_period_end:
        raise BillingError(_l("The subscription ends at the end of this period."), "ending")
    if seats == sub.seats:
        return
    stripe_id, version = sub.stripe_subscription_id, sub.version
    db.session.commit()
    gw = gateway()
    try:
        record = gw.subscription(stripe_id)
        # Keyed by the change and the state it starts from: a double submit changes
        # once, while 10 → 12 → 10 → 12 later on is three changes.
        gw.change_seats(record, seats, key=f"engawa-seats-{stripe_id}-{version}-{seats}")
        _refresh_subscription(company_id, stripe_id, now, settings=settings)
    except GatewayError as exc:
        raise _provider_error(exc) from None


def cancel_at_period_end(company_id: int, now: datetime, *, settings: BillingSettings) -> None:
    sub = _live_subscription(company_id)
    if sub.cancel_at_period_end:
        return
    stripe_id, version = sub.stripe_subscription_id, sub.version
    db.session.commit()
    try:
        gateway().cancel_at_period_end(stripe_id, key=f"engawa-cancel-{stripe_id}-{version}")
        _refresh_subscription(company_id, stripe_id, now, settings=settings)
    except GatewayError as exc:
        raise _provider_error(exc) from None


def save_billing_details(company_id: int, *, name: str, address: str, email: str) -> None:
    """Save whom invoices name, then tell the provider (its invoices print the customer)."""
    services.save_billing_details(company_id, name=name, address=address, email=email)
    customer = ledger.account_of(company_id).stripe_customer_id
    db.session.commit()
    if customer:
        try:
            gateway().update_customer(customer, name=name, email=email, address=address)
        except GatewayError as exc:
            _provider_error(exc)
            raise BillingError(
                _l(
                    "The billing details were saved here, but the payment service could not"
                    " be updated, so invoices may still show the old ones. Please save again."
                ),
                "provider",
            ) from None


def portal_url(company_id: int, return_url: str) -> str:
    account = ledger.account_of(company_id)
    customer = account.stripe_customer_id
    db.session.commit()
    if not customer:
        raise BillingError(_l("Your company has no billing account yet."), "no_customer")
    try:
        return gateway().portal_url(customer=customer, return_url=return_url)
    except GatewayError as exc:
        raise _provider_error(exc) from None
