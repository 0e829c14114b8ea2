"""Plans, subscriptions, invoices, the credit ledger and the webhook log.

Money is integer yen everywhere, as in Stripe (JPY has no minor unit).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models import Company, User
from core.db import UTCDateTime, utcnow
from core.extensions import db


class Plan(db.Model):
    """What a seat costs a month and how much stay credit it brings (editable by the platform)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    fee_per_seat: Mapped[int]  # yen a month, tax included
    credit_per_seat: Mapped[int]  # yen of stay credit a month
    # The Stripe Price this plan is billed with (real backend); the local backend
    # makes up its own ids.
    stripe_price_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    active: Mapped[bool] = mapped_column(default=True)

    __table_args__ = (
        CheckConstraint("fee_per_seat >= 0", name="fee_not_negative"),
        CheckConstraint("credit_per_seat >= 0", name="credit_not_negative"),
    )


class SubscriptionStatus(StrEnum):
    """Stripe's subscription states, spelled as Stripe spells them."""

    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    UNPAID = "unpaid"
    PAUSED = "paused"


# Once here, a subscription never moves again (a late event cannot revive it).
TERMINAL_STATUSES = frozenset({SubscriptionStatus.CANCELED, SubscriptionStatus.INCOMPLETE_EXPIRED})


class BillingAccount(db.Model):
    """A company's side of billing: its Stripe customer, who the invoices name, policy, balance."""

    __tablename__ = "billing_account"

    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"), primary_key=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    billing_name: Mapped[str] = mapped_column(String(200), default="")
    billing_address: Mapped[str] = mapped_column(String(500), default="")
    billing_email: Mapped[str] = mapped_column(String(254), default="")
    # The sum of the company's ledger entries, kept with each entry under this row's lock.
    credit_balance: Mapped[int] = mapped_column(BigInteger, default=0)
    # Policy: per-employee credit per calendar month (None: no cap); overage.
    employee_monthly_cap: Mapped[int | None] = mapped_column(BigInteger)
    overage_allowed: Mapped[bool] = mapped_column(default=False)
    overage_monthly_limit: Mapped[int] = mapped_column(BigInteger, default=0)
    # The subscription that decides whether employees can book now.
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("subscription.id"))

    company: Mapped[Company] = relationship()
    subscription: Mapped[Subscription | None] = relationship(foreign_keys=[subscription_id])

    __table_args__ = (
        # Overage adds credit (billed later) instead of going below zero.
        CheckConstraint("credit_balance >= 0", name="balance_not_negative"),
        CheckConstraint(
            "employee_monthly_cap IS NULL OR employee_monthly_cap >= 0", name="cap_not_negative"
        ),
        CheckConstraint("overage_monthly_limit >= 0", name="overage_limit_not_negative"),
    )


class Subscription(db.Model):
    """Our copy of a Stripe subscription, always re-read from Stripe before it changes."""

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"), index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id"))
    stripe_subscription_id: Mapped[str] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(20))
    seats: Mapped[int]
    collection_method: Mapped[str] = mapped_column(String(30), default="charge_automatically")
    current_period_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    past_due_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Bumped whenever the provider's copy is applied: changes asked for from one
    # version share idempotency keys (a double submit), later ones do not.
    version: Mapped[int] = mapped_column(default=1)
    # When the provider's copy applied last was read: an older read never wins.
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    plan: Mapped[Plan] = relationship()

    __table_args__ = (CheckConstraint("seats > 0", name="seats_positive"),)


class CheckoutAttempt(db.Model):
    """A company admin's request to subscribe; its id keys the Stripe creates it causes."""

    __tablename__ = "checkout_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id"))
    seats: Mapped[int]
    method: Mapped[str] = mapped_column(String(10))  # card | invoice
    stripe_session_id: Mapped[str | None] = mapped_column(String(100), unique=True)  # card
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(100))  # invoice
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    plan: Mapped[Plan] = relationship()

    __table_args__ = (
        CheckConstraint("seats > 0", name="seats_positive"),
        CheckConstraint("method IN ('card', 'invoice')", name="method_known"),
    )


class Invoice(db.Model):
    """Our copy of a Stripe invoice (amounts in yen, tax included)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"), index=True)
    stripe_invoice_id: Mapped[str] = mapped_column(String(100), unique=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(100))
    number: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))  # draft, open, paid, void, uncollectible
    billing_reason: Mapped[str | None] = mapped_column(String(40))
    collection_method: Mapped[str] = mapped_column(String(30), default="charge_automatically")
    total: Mapped[int] = mapped_column(BigInteger)
    amount_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_due: Mapped[int] = mapped_column(BigInteger, default=0)
    seats: Mapped[int | None]  # the subscription line's quantity
    period_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hosted_invoice_url: Mapped[str | None] = mapped_column(String(500))
    invoice_pdf: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_invoice_company_id_created_at", "company_id", "created_at"),)


class EntryKind(StrEnum):
    GRANT = "grant"  # a paid period's seats × credit per seat
    SPEND = "spend"  # a booked stay, at its frozen nightly prices (negative)
    REFUND = "refund"  # a cancelled stay, by the cancellation policy
    CARRY_OVER = "carry_over"  # closing (−) and opening (+) of one period's unused credit
    EXPIRY = "expiry"  # credit older than one carry-over (negative)
    OVERAGE = "overage"  # credit beyond the pool, billed on the next invoice
    CHANGE = "change"  # a stay changed: the difference charged (−) or refunded (+)
    # 宿泊税: a stay's municipal accommodation tax, charged (−) with the stay and given
    # back (+) for the nights not stayed (billing.tax_ledger)
    ACCOMMODATION_TAX = "accommodation_tax"
    # A regional programme's fee paid from the credit (−), and given back (+) when the
    # employee leaves in time or the organiser cancels (regions.programme_money)
    PROGRAMME = "programme"
    PROGRAMME_REFUND = "programme_refund"


class CreditEntry(db.Model):
    """One line of a company's credit ledger. Append-only: never updated, never deleted.

    The company's balance is the sum of ``amount``. A stay is spent and refunded
    at most once each (unique per booking and kind), a paid invoice granted once.
    """

    __tablename__ = "credit_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"))
    kind: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int] = mapped_column(BigInteger)  # signed yen
    balance_after: Mapped[int] = mapped_column(BigInteger)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("booking.id"))
    # A workspace booking's spend and refund (booking.workspace); never with booking_id.
    workspace_booking_id: Mapped[int | None] = mapped_column(ForeignKey("workspace_booking.id"))
    # A regional programme's sign-up (regions.models.ProgrammeSignup): its fee and refund.
    programme_signup_id: Mapped[int | None] = mapped_column(ForeignKey("programme_signup.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"))
    period_start: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Overage only: the Stripe invoice item it was billed with.
    stripe_invoice_item_id: Mapped[str | None] = mapped_column(String(100))

    user: Mapped[User | None] = relationship()

    __table_args__ = (
        CheckConstraint(
            "kind IN ('grant', 'spend', 'refund', 'carry_over', 'expiry', 'overage', 'change',"
            " 'accommodation_tax', 'programme', 'programme_refund')",
            name="kind_known",
        ),
        CheckConstraint(
            "(kind IN ('grant', 'refund', 'overage', 'programme_refund') AND amount > 0)"
            " OR (kind IN ('spend', 'expiry', 'programme') AND amount < 0) OR kind = 'carry_over'"
            " OR (kind IN ('change', 'accommodation_tax') AND amount <> 0)",
            name="amount_sign",
        ),
        # A stay is spent and refunded once; its changes and overage may come several times.
        Index(
            "uq_credit_entry_booking_once",
            "booking_id",
            "kind",
            unique=True,
            sqlite_where=text("kind IN ('spend', 'refund')"),
            postgresql_where=text("kind IN ('spend', 'refund')"),
        ),
        Index(
            "uq_credit_entry_workspace_booking_once",
            "workspace_booking_id",
            "kind",
            unique=True,
            sqlite_where=text("kind IN ('spend', 'refund')"),
            postgresql_where=text("kind IN ('spend', 'refund')"),
        ),
        # A programme sign-up is charged and refunded once each.
        Index(
            "uq_credit_entry_programme_signup_once",
            "programme_signup_id",
            "kind",
            unique=True,
            sqlite_where=text("programme_signup_id IS NOT NULL"),
            postgresql_where=text("programme_signup_id IS NOT NULL"),
        ),
        CheckConstraint("booking_id IS NULL OR workspace_booking_id IS NULL", name="one_booking"),
        UniqueConstraint("invoice_id", "kind"),
        Index("ix_credit_entry_company_id_created_at", "company_id", "created_at"),
        # An employee's spending this month (the monthly cap).
        Index("ix_credit_entry_user_id_created_at", "user_id", "created_at"),
    )


class PaymentStatus(StrEnum):
    OPEN = "open"  # a Checkout session waits for the card
    PAID = "paid"
    EXPIRED = "expired"  # abandoned: the stay's hold ran out first


class StayPayment(db.Model):
    """The employee's card payment of their part of a stay (``Booking.employee_part``):
    a Checkout session in payment mode on the company's Engawa account. ``refunded``
    grows with the employee's share of each refund (a cancellation, a change)."""

    __tablename__ = "stay_payment"

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("booking.id"), unique=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    amount: Mapped[int]  # yen
    status: Mapped[str] = mapped_column(String(10), default=PaymentStatus.OPEN)
    refunded: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    stripe_session_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("status IN ('open', 'paid', 'expired')", name="status_known"),
        CheckConstraint("refunded >= 0 AND refunded <= amount", name="refunded_range"),
    )


class StripeEvent(db.Model):
    """A webhook event already handled, recorded in the same transaction as its effect."""

    __tablename__ = "stripe_event"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LocalObject(db.Model):
    """The local billing backend's stand-in for Stripe's own records (test mode only)."""

    __tablename__ = "local_billing_object"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    data: Mapped[str] = mapped_column(Text)  # JSON, in Stripe's shapes
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LocalEvent(db.Model):
    """An event the local backend has to deliver to the webhook endpoint."""

    __tablename__ = "local_billing_event"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
