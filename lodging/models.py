"""The lodging law's records: municipal accommodation tax rates, the guest register
(宿泊者名簿) with its passport images, who read it, and what was purged.

The register rows point at a booking by id (``booking.id``); this package sits below
``booking`` and never imports it: the booking layer checks who may see a stay, then
calls ``lodging.register`` with the booking's id.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import UTCDateTime, utcnow
from core.extensions import db


class AccommodationTaxRule(db.Model):
    """One municipality's (or a whole prefecture's) 宿泊税 over a period of nights.

    ``brackets`` is a list of ``[from_price, tax]`` pairs, ascending from 0: a guest
    whose charge per person and night (before consumption tax) is at least
    ``from_price`` pays ``tax`` yen for that night, up to the next bracket. A bracket of
    tax 0 is an exemption ("below ¥10,000 none"). The rule of a night is the one in
    force that night for the most specific place (a municipality's rule over its
    prefecture's): ``lodging.tax``. Edited by the platform admin, every change audited.
    """

    __tablename__ = "accommodation_tax_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    prefecture: Mapped[int]  # JIS X 0401 code, 1–47
    # "" for the whole prefecture; else the municipality as facilities spell it
    # (京都市 matches 京都市東山区).
    municipality: Mapped[str] = mapped_column(String(100), default="", server_default=text("''"))
    effective_from: Mapped[date] = mapped_column(Date)  # the first night it taxes
    effective_until: Mapped[date | None] = mapped_column(Date)  # the last night, or open
    brackets: Mapped[list] = mapped_column(JSON)
    source_url: Mapped[str] = mapped_column(String(500), default="", server_default=text("''"))
    note: Mapped[str] = mapped_column(String(300), default="", server_default=text("''"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint("prefecture BETWEEN 1 AND 47", name="prefecture_jis"),
        CheckConstraint(
            "effective_until IS NULL OR effective_until >= effective_from", name="period_ordered"
        ),
        UniqueConstraint("prefecture", "municipality", "effective_from"),
    )


class RegisteredGuest(db.Model):
    """One guest of a stay in the register: who they are, sealed at rest.

    ``details`` is the Fernet token of the JSON of name, address, phone, nationality
    and passport number (``lodging.register``): the stored bytes never show them.
    ``needs_passport``: a foreign national without an address in Japan, who must also
    give a passport number and an image of its photo page.
    """

    __tablename__ = "register_guest"

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("booking.id"), index=True)
    position: Mapped[int]  # 1 is the booker's line, then the companions
    details: Mapped[str] = mapped_column(Text)
    needs_passport: Mapped[bool] = mapped_column(default=False)
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    passport_image: Mapped[PassportImage | None] = relationship(
        back_populates="guest", cascade="all, delete-orphan", uselist=False
    )

    __table_args__ = (
        CheckConstraint("position >= 1", name="position_positive"),
        UniqueConstraint("booking_id", "position"),
    )


class PassportImage(db.Model):
    """The photo page of a guest's passport: sniffed, size-capped, and sealed at rest
    (``data`` is the Fernet token of the bytes). Served only to the facility's operator
    and the booker, never cached."""

    __tablename__ = "register_passport_image"

    id: Mapped[int] = mapped_column(primary_key=True)
    guest_id: Mapped[int] = mapped_column(
        ForeignKey("register_guest.id", ondelete="CASCADE"), unique=True
    )
    content_type: Mapped[str] = mapped_column(String(30))
    size: Mapped[int]  # of the image, before sealing
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    guest: Mapped[RegisteredGuest] = relationship(back_populates="passport_image")


class RegisterRead(db.Model):
    """Someone read (or wrote) a stay's register entry: the access log the operator sees.

    ``action``: ``view`` (a page), ``edit``, ``print``, ``csv``, ``api``, ``passport``
    (an image), ``check`` (the identity check at check-in).
    """

    __tablename__ = "register_read"

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("booking.id"), index=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facility.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    action: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint(
            "action IN ('view', 'edit', 'print', 'csv', 'api', 'passport', 'check')",
            name="action_known",
        ),
        Index("ix_register_read_facility_id_created_at", "facility_id", "created_at"),
    )


class RegisterPurge(db.Model):
    """A stay's register entry was purged (3 years after check-out, or its stay was
    cancelled): what went, never who."""

    __tablename__ = "register_purge"

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("booking.id"), unique=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facility.id"), index=True)
    reason: Mapped[str] = mapped_column(String(10))  # retention | cancelled
    guests: Mapped[int]
    passport_images: Mapped[int]
    purged_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (CheckConstraint("reason IN ('retention', 'cancelled')", name="reason_known"),)
