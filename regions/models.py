"""What a region offers and what the network brings it (issue 20).

- **Programmes** an operator organisation (a municipality, a local association, a
  facility's operator) publishes: ``Programme`` with its ``ProgrammeSession``s (one-off
  or a series), the employees' ``ProgrammeSignup``s (joined or waitlisted, in order),
  the organiser's ``ProgrammeMessage``s.
- **Local coupons** (地域クーポン): a ``CouponFund`` of a municipality or a company pays
  a yen amount per guest-night of stays in a municipality; each guest-night is one
  ``Coupon`` of that value, spent whole at one registered ``LocalShop`` (its staff are
  ``ShopMember``s) and recorded once as a ``CouponRedemption`` (UNIQUE per coupon).
- **Matching**: a company's ``MatchRequest`` and the regions' ``MatchProposal``s.

Stays are known by id only (``booking.id``): this package sits below ``booking`` and
never imports it, as ``lodging`` does; the booking layer passes a stay's facts in.
Municipalities are 全国地方公共団体コード (``facilities.municipalities``).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models import Company, OperatorOrg, User
from core.db import UTCDateTime, utcnow
from core.extensions import db


class ProgrammeKind(StrEnum):
    LOCAL_WORK = (
        "local_work"  # 地域の仕事・ボランティア (harvest help, festival crew, snow clearing)
    )
    EXPERIENCE = "experience"  # 体験
    TOUR = "tour"  # ガイドツアー
    SKILLS = "skills"  # スキル講座・プロボノ (課題の見える化)
    COMMUNITY = "community"  # 地域のイベント


class PriceKind(StrEnum):
    FREE = "free"
    CREDIT = "credit"  # paid from the company's credit, when its policy allows
    LOCAL = "local"  # paid on the day to the organiser


class ProgrammeLanguage(StrEnum):
    JA = "ja"
    EN = "en"
    BOTH = "ja_en"


class Programme(db.Model):
    """An activity a region offers, published by an operator organisation."""

    id: Mapped[int] = mapped_column(primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operator_org.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    title_ja: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    description_ja: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    # Where: the municipality (全国地方公共団体コード) and its prefecture, the meeting
    # point in words and on the map.
    municipality_code: Mapped[str] = mapped_column(String(6), index=True)
    prefecture: Mapped[int] = mapped_column(index=True)
    meeting_point: Mapped[str] = mapped_column(String(300), default="")
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    # Seats per session, and the fewest participants it runs with (the organiser decides
    # to cancel below it; the page says how many more are needed).
    capacity: Mapped[int]
    min_participants: Mapped[int] = mapped_column(default=1)
    price_kind: Mapped[str] = mapped_column(String(10), default=PriceKind.FREE)
    price: Mapped[int] = mapped_column(default=0)  # yen per participant, tax included
    language: Mapped[str] = mapped_column(String(5), default=ProgrammeLanguage.JA)
    # Only employees with a stay in the network over the session's day may join.
    stay_required: Mapped[bool] = mapped_column(default=True, server_default=true())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    operator: Mapped[OperatorOrg] = relationship()
    sessions: Mapped[list[ProgrammeSession]] = relationship(
        back_populates="programme", order_by="ProgrammeSession.starts_at"
    )

    __table_args__ = (
        CheckConstraint(
            "kind IN ('local_work', 'experience', 'tour', 'skills', 'community')",
            name="kind_known",
        ),
        CheckConstraint("price_kind IN ('free', 'credit', 'local')", name="price_kind_known"),
        CheckConstraint("language IN ('ja', 'en', 'ja_en')", name="language_known"),
        CheckConstraint("capacity > 0", name="capacity_positive"),
        CheckConstraint(
            "min_participants >= 1 AND min_participants <= capacity", name="min_within_capacity"
        ),
        CheckConstraint(
            "(price_kind = 'free' AND price = 0) OR (price_kind <> 'free' AND price > 0)",
            name="price_matches_kind",
        ),
    )

    @property
    def published(self) -> bool:
        return self.published_at is not None

    def title(self, locale: str) -> str:
        return self.title_en if locale == "en" and self.title_en else self.title_ja

    def description(self, locale: str) -> str:
        return (
            self.description_en if locale == "en" and self.description_en else self.description_ja
        )


class SessionStatus(StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class ProgrammeSession(db.Model):
    """One occurrence of a programme: a one-off is one session, a series several.

    ``seats_taken`` counts the participants of joined sign-ups; it changes only under
    this row's lock, with the sign-ups, so it never exceeds the capacity.
    """

    __tablename__ = "programme_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    capacity: Mapped[int]
    seats_taken: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    status: Mapped[str] = mapped_column(String(10), default=SessionStatus.SCHEDULED)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str] = mapped_column(String(300), default="", server_default=text("''"))
    # When its participants' personal data went, the retention period after it ended
    # (``regions.retention``): sign-ups no longer name anyone, messages lost their text.
    personal_data_purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    programme: Mapped[Programme] = relationship(back_populates="sessions")

    __table_args__ = (
        CheckConstraint("status IN ('scheduled', 'cancelled')", name="status_known"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("capacity > 0", name="capacity_positive"),
        CheckConstraint("seats_taken >= 0 AND seats_taken <= capacity", name="seats_within"),
    )

    @property
    def seats_left(self) -> int:
        return max(self.capacity - self.seats_taken, 0)


class SignupStatus(StrEnum):
    JOINED = "joined"
    WAITLISTED = "waitlisted"  # waiting, in order of ``waitlisted_at``
    LEFT = "left"  # the employee left (or left the waitlist)
    CANCELLED = "cancelled"  # the organiser cancelled the session


class ProgrammeSignup(db.Model):
    """An employee's place in a session, for themselves and companions.

    One row per employee and session; leaving and joining again reuses it. The
    retention purge (``regions.retention``) unlinks the employee and the stay: the row
    stays, for the figures and the credit entries that name it.
    """

    __tablename__ = "programme_signup"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("programme_session.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"), index=True)
    # The stay this place goes with (booking.id), when there is one.
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("booking.id"), index=True)
    participants: Mapped[int]  # the employee and their companions
    status: Mapped[str] = mapped_column(String(12), default=SignupStatus.JOINED)
    # The fee in yen for all participants (0 when free); paid from the credit or locally.
    fee: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    waitlisted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # None until the organiser marks it; True attended, False did not come.
    attended: Mapped[bool | None]
    attendance_marked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    session: Mapped[ProgrammeSession] = relationship()
    user: Mapped[User | None] = relationship()
    company: Mapped[Company] = relationship()

    __table_args__ = (
        UniqueConstraint("session_id", "user_id"),
        CheckConstraint(
            "status IN ('joined', 'waitlisted', 'left', 'cancelled')", name="status_known"
        ),
        CheckConstraint("participants BETWEEN 1 AND 20", name="participants_range"),
        CheckConstraint("fee >= 0", name="fee_not_negative"),
        Index("ix_programme_signup_waitlist", "session_id", "status", "waitlisted_at"),
    )


class ProgrammeMessage(db.Model):
    """A message the organiser sent to a session's participants (told through
    notifications)."""

    __tablename__ = "programme_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("programme_session.id"), index=True)
    sender_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    body: Mapped[str] = mapped_column(Text)
    recipients: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    sender: Mapped[User] = relationship()


class ShopCategory(StrEnum):
    CAFE = "cafe"
    RESTAURANT = "restaurant"
    SHOP = "shop"  # 物販・土産
    ONSEN = "onsen"  # 温泉・銭湯
    ACTIVITY = "activity"
    TRANSPORT = "transport"
    OTHER = "other"


class LocalShop(db.Model):
    """A shop registered to take local coupons (地域クーポン取扱店) in its municipality."""

    __tablename__ = "local_shop"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(20))
    postal_code: Mapped[str] = mapped_column(String(7))
    address: Mapped[str] = mapped_column(String(300))
    municipality_code: Mapped[str] = mapped_column(String(6), index=True)
    active: Mapped[bool] = mapped_column(default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint(
            "category IN ('cafe', 'restaurant', 'shop', 'onsen', 'activity', 'transport', 'other')",
            name="category_known",
        ),
    )


class ShopMember(db.Model):
    """A person who redeems coupons for a shop (a user of role ``shop``)."""

    __tablename__ = "shop_member"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("local_shop.id"), index=True)

    user: Mapped[User] = relationship()
    shop: Mapped[LocalShop] = relationship()


class CouponFund(db.Model):
    """Money a municipality or a company (from its welfare budget) puts into local
    coupons: ``yen_per_guest_night`` for each guest-night of stays in the municipality
    checking in between ``starts_on`` and ``ends_on``, until ``budget`` is issued.

    ``issued`` grows only under this row's lock, never past ``budget``.
    """

    __tablename__ = "coupon_fund"

    id: Mapped[int] = mapped_column(primary_key=True)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operator_org.id"), index=True)
    company_id: Mapped[int | None] = mapped_column(ForeignKey("company.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    municipality_code: Mapped[str] = mapped_column(String(6), index=True)
    yen_per_guest_night: Mapped[int]
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    budget: Mapped[int]
    issued: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    active: Mapped[bool] = mapped_column(default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint("(operator_id IS NULL) <> (company_id IS NULL)", name="one_funder"),
        CheckConstraint("yen_per_guest_night > 0", name="amount_positive"),
        CheckConstraint("budget > 0 AND issued >= 0 AND issued <= budget", name="within_budget"),
        CheckConstraint("ends_on >= starts_on", name="ends_after_start"),
    )


class CouponStatus(StrEnum):
    OPEN = "open"
    REDEEMED = "redeemed"
    EXPIRED = "expired"  # its last day passed, or its stay was cancelled (``void_reason``)


class Coupon(db.Model):
    """One guest-night's coupon: spent whole, once, at one shop of its municipality
    between ``valid_from`` and ``valid_until`` (the stay's dates and a grace day).

    ``nonce`` is the random part of the signed token in its QR code; the token also
    binds the guest, the area and the dates (``regions.coupon_tokens``).
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    fund_id: Mapped[int] = mapped_column(ForeignKey("coupon_fund.id"), index=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("booking.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    seq: Mapped[int]  # 1 … guests × nights of the stay, per fund
    amount: Mapped[int]
    municipality_code: Mapped[str] = mapped_column(String(6), index=True)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    nonce: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(10), default=CouponStatus.OPEN)
    void_reason: Mapped[str] = mapped_column(String(20), default="", server_default=text("''"))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    fund: Mapped[CouponFund] = relationship()

    __table_args__ = (
        UniqueConstraint("fund_id", "booking_id", "seq"),
        CheckConstraint("status IN ('open', 'redeemed', 'expired')", name="status_known"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("valid_until >= valid_from", name="valid_range"),
    )


class CouponRedemption(db.Model):
    """A coupon spent at a shop: at most one per coupon (the database refuses a second)."""

    __tablename__ = "coupon_redemption"

    id: Mapped[int] = mapped_column(primary_key=True)
    coupon_id: Mapped[int] = mapped_column(ForeignKey("coupon.id"), unique=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("local_shop.id"), index=True)
    fund_id: Mapped[int] = mapped_column(ForeignKey("coupon_fund.id"), index=True)
    amount: Mapped[int]
    redeemed_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    redeemed_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

    coupon: Mapped[Coupon] = relationship()
    shop: Mapped[LocalShop] = relationship()


class MatchStatus(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    CLOSED = "closed"


class MatchRequest(db.Model):
    """A company's request regions may answer: people, nights, when, what kind of
    programme, where, and the budget (yen, tax included, for the whole group)."""

    __tablename__ = "match_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"), index=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    people: Mapped[int]
    nights: Mapped[int]
    earliest: Mapped[date] = mapped_column(Date)  # the first check-in it may start
    latest: Mapped[date] = mapped_column(Date)  # the last check-out it may end
    prefecture: Mapped[int | None]  # None: anywhere
    programme_kind: Mapped[str | None] = mapped_column(String(20))
    wants_onsen: Mapped[bool] = mapped_column(default=False, server_default=false())
    budget: Mapped[int]
    status: Mapped[str] = mapped_column(String(10), default=MatchStatus.OPEN)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    company: Mapped[Company] = relationship()

    __table_args__ = (
        CheckConstraint("status IN ('open', 'accepted', 'closed')", name="status_known"),
        CheckConstraint("people BETWEEN 1 AND 200", name="people_range"),
        CheckConstraint("nights BETWEEN 1 AND 30", name="nights_range"),
        CheckConstraint("budget > 0", name="budget_positive"),
        CheckConstraint("latest > earliest", name="window_order"),
    )


class ProposalStatus(StrEnum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


class MatchProposal(db.Model):
    """A region's answer to a request: a facility, dates, programme sessions and the
    price (the nights at today's prices and the programmes' fees, for the group)."""

    __tablename__ = "match_proposal"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("match_request.id"), index=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operator_org.id"), index=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facility.id"))
    check_in: Mapped[date] = mapped_column(Date)
    check_out: Mapped[date] = mapped_column(Date)
    price: Mapped[int]
    message: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default=ProposalStatus.PROPOSED)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    request: Mapped[MatchRequest] = relationship()
    operator: Mapped[OperatorOrg] = relationship()
    sessions: Mapped[list[ProgrammeSession]] = relationship(secondary="match_proposal_session")

    __table_args__ = (
        CheckConstraint(
            "status IN ('proposed', 'accepted', 'declined', 'withdrawn')", name="status_known"
        ),
        CheckConstraint("check_out > check_in", name="dates_order"),
        CheckConstraint("price >= 0", name="price_not_negative"),
    )


class MatchProposalSession(db.Model):
    __tablename__ = "match_proposal_session"

    proposal_id: Mapped[int] = mapped_column(ForeignKey("match_proposal.id"), primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("programme_session.id"), primary_key=True)
