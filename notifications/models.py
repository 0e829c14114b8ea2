"""What the notifications package keeps: in-app notices, mail preferences, webhook
endpoints and their deliveries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.events import Event
from core.db import UTCDateTime, utcnow
from core.extensions import db


class Notice(db.Model):
    """One event as one person's in-app notice (the bell): read or not."""

    __tablename__ = "notice"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    event_id: Mapped[int] = mapped_column(ForeignKey("domain_event.id"))
    # The notifications kind (notifications.catalog), which says how it reads.
    kind: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The values its text needs (a JSON object: booking number, facility name, …;
    # never a person's name or address) and the page it opens (a path).
    params: Mapped[str] = mapped_column(Text, default="{}")
    link: Mapped[str | None] = mapped_column(String(300))

    event: Mapped[Event] = relationship()

    __table_args__ = (
        UniqueConstraint("user_id", "event_id", name="uq_notice_user_event"),
        # The bell: a person's unread count and newest first.
        Index("ix_notice_user_read_created", "user_id", "read_at", "created_at"),
        # The notices page: a person's notices newest first, without sorting them all.
        Index("ix_notice_user_created", "user_id", "created_at", "id"),
    )


class MailOptOut(db.Model):
    """A person does not want one optional kind of mail (the rest they get)."""

    __tablename__ = "mail_opt_out"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    kind: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("user_id", "kind", name="uq_mail_opt_out_user_kind"),)


class WebhookEndpoint(db.Model):
    """An HTTPS address of a company's or an operator's system that hears chosen events."""

    __tablename__ = "webhook_endpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int | None] = mapped_column(ForeignKey("company.id"), index=True)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operator_org.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    # Space-separated event types ("booking.created invoice.issued").
    event_types: Mapped[str] = mapped_column(String(500))
    # The signing secret, encrypted with a key derived from SECRET_KEY (it must be
    # read back to sign); shown to the organisation once, when made.
    secret: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    __table_args__ = (
        CheckConstraint("(company_id IS NULL) <> (operator_id IS NULL)", name="one_organisation"),
    )


class WebhookDelivery(db.Model):
    """One event for one endpoint: tried until delivered or given up."""

    __tablename__ = "webhook_delivery"

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoint.id"))
    # None for a test event sent from the endpoint's page.
    event_id: Mapped[int | None] = mapped_column(ForeignKey("domain_event.id"))
    # The event's public id ("evt_…") and type, and the JSON body as first built (the
    # same bytes on every attempt, so a receiver can dedupe on the id).
    public_id: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # pending, delivered or failed (given up after the last attempt).
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The receiver's HTTP status, or the kind of failure ("timeout", "refused_address").
    last_status: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(200))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    endpoint: Mapped[WebhookEndpoint] = relationship()

    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_delivery_endpoint_event"),
        CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status_known"),
        # The delivery job's queue, and an endpoint's log newest first.
        Index("ix_webhook_delivery_status_next", "status", "next_attempt_at"),
        Index("ix_webhook_delivery_endpoint_created", "endpoint_id", "created_at"),
        # The dispatcher's look-up of an event's deliveries.
        Index("ix_webhook_delivery_event", "event_id"),
    )
