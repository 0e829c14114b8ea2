from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from flask_login import UserMixin
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import UTCDateTime, utcnow
from core.extensions import db


class Role(StrEnum):
    EMPLOYEE = "employee"  # 社員
    COMPANY_ADMIN = "company_admin"  # 企業管理者
    OPERATOR = "operator"  # 施設運営者
    PLATFORM_ADMIN = "platform_admin"
    SHOP = "shop"  # 地域クーポン取扱店: a local shop's staff (regions.models.ShopMember)


COMPANY_ROLES = (Role.EMPLOYEE, Role.COMPANY_ADMIN)


class Company(db.Model):
    """A subscribing company and its booking policy."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    # Booking policy: nights per stay, and nights per employee per calendar month.
    max_nights_per_stay: Mapped[int] = mapped_column(default=14)
    max_nights_per_month: Mapped[int] = mapped_column(default=20)
    # Workspace (desks, booths, meeting rooms) hours per employee per calendar month,
    # separate from the nights; None: no cap.
    max_workspace_hours_per_month: Mapped[int | None] = mapped_column(
        default=40, server_default=text("40")
    )
    # Staff with an address at this domain may join by themselves (a link to that address),
    # once the platform admin has approved it; a rejection is kept so the company sees it.
    email_domain: Mapped[str | None] = mapped_column(String(253))
    email_domain_approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    email_domain_rejected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # 法人番号: 13 digits with its check digit (checked by
    # identity.applications.normalise_corporate_number); None for companies that
    # joined before sign-up asked for it.
    corporate_number: Mapped[str | None] = mapped_column(String(13), unique=True)
    # When the platform admin deactivated it (``active`` False): nobody of it signs in.
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The month the company's fiscal year begins (4: April–March, as most Japanese
    # companies): the year of an employee's subsidy cap and the outcome report's default.
    fiscal_year_start_month: Mapped[int] = mapped_column(default=4, server_default=text("4"))
    # The company's industry (日本標準産業分類 大分類, one letter A–T; accounts.industries):
    # regions see the companies that sent visitors by industry, never by name.
    industry: Mapped[str | None] = mapped_column(String(1))
    # Whether employees may pay a regional programme's fee from the company's credit.
    programmes_on_credit: Mapped[bool] = mapped_column(default=False, server_default=false())

    __table_args__ = (
        CheckConstraint("max_nights_per_stay > 0", name="max_nights_per_stay_positive"),
        CheckConstraint(
            "fiscal_year_start_month BETWEEN 1 AND 12", name="fiscal_year_start_month_known"
        ),
        CheckConstraint("max_nights_per_month > 0", name="max_nights_per_month_positive"),
        CheckConstraint(
            "max_workspace_hours_per_month IS NULL OR max_workspace_hours_per_month >= 0",
            name="workspace_hours_not_negative",
        ),
        CheckConstraint(
            "email_domain_approved_at IS NULL OR email_domain_rejected_at IS NULL",
            name="email_domain_one_decision",
        ),
    )

    @property
    def email_domain_state(self) -> str | None:
        """None (no join domain), "pending", "approved" or "rejected"."""
        if not self.email_domain:
            return None
        if self.email_domain_approved_at is not None:
            return "approved"
        if self.email_domain_rejected_at is not None:
            return "rejected"
        return "pending"


class OperatorKind(StrEnum):
    """What kind of body runs the facilities (shown on the application and the console)."""

    COMPANY = "company"  # 株式会社・合同会社など
    MUNICIPALITY = "municipality"  # 地方公共団体
    ASSOCIATION = "association"  # 一般社団法人・一般財団法人
    NONPROFIT = "nonprofit"  # NPO法人
    OTHER = "other"


class OperatorOrg(db.Model):
    """An organisation that runs facilities (施設運営者)."""

    __tablename__ = "operator_org"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(
        String(20), default=OperatorKind.COMPANY, server_default=text("'company'")
    )
    # 全国地方公共団体コード (six digits with the check digit) of the municipality this
    # organisation is, set by the platform admin: it reads that region's report and funds
    # its local coupons. None for every other organisation.
    municipality_code: Mapped[str | None] = mapped_column(String(6), unique=True)
    # Suspended by the platform admin: its facilities leave search, bookings stay.
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint(
            "kind IN ('company', 'municipality', 'association', 'nonprofit', 'other')",
            name="kind_known",
        ),
    )


class User(UserMixin, db.Model):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    company_id: Mapped[int | None] = mapped_column(ForeignKey("company.id"), index=True)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operator_org.id"), index=True)
    locale: Mapped[str | None] = mapped_column(String(5))
    # Bumped on password change and deactivation: a second guard beside the
    # server-side session records (accounts.sessions), and part of get_id().
    session_version: Mapped[int] = mapped_column(default=1)
    # A deactivated employee cannot sign in; their sessions and tokens end at once.
    active: Mapped[bool] = mapped_column(default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Locked by a platform admin: cannot sign in (any way) until unlocked.
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Two-factor sign-in (accounts.two_factor): the TOTP secret, encrypted with a key
    # derived from SECRET_KEY; when it was confirmed; the last time step accepted (a
    # code is never accepted twice); when the person was first asked to enrol.
    totp_secret: Mapped[str | None] = mapped_column(Text)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    two_factor_prompted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set by the company's directory (SCIM externalId); unique within a company.
    external_id: Mapped[str | None] = mapped_column(String(255))
    # "scim" or "sso" when the directory created the account; None when a person did.
    provisioned_by: Mapped[str | None] = mapped_column(String(10))
    # The company's identity provider's subject (the ID token's ``sub``) this account is
    # bound to from its first single sign-on: later sign-ins must carry the same one,
    # so an e-mail address changed at the provider cannot take over another account.
    sso_subject: Mapped[str | None] = mapped_column(String(255))
    # The company's HR facts (the hr package): set by a company admin, a CSV import or
    # the directory (SCIM's enterprise extension and userType). ``employee_group``
    # names the policy that applies (hr.models.GroupPolicy; none: the company's
    # default); the manager approves the person's stays where the policy asks.
    employee_number: Mapped[str | None] = mapped_column(String(40))
    department: Mapped[str | None] = mapped_column(String(100))
    employee_group: Mapped[str | None] = mapped_column(String(40))
    manager_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    # An approver away through this day (included): stays waiting for their approval go
    # to the policy's deputy meanwhile (hr.models.GroupPolicy.deputy_id).
    away_until: Mapped[date | None] = mapped_column(Date)

    company: Mapped[Company | None] = relationship()
    operator: Mapped[OperatorOrg | None] = relationship()
    manager: Mapped[User | None] = relationship(remote_side=[id], foreign_keys=[manager_id])

    __table_args__ = (
        CheckConstraint(
            "role IN ('employee', 'company_admin', 'operator', 'platform_admin', 'shop')",
            name="role_known",
        ),
        CheckConstraint(
            "(role IN ('employee', 'company_admin') AND company_id IS NOT NULL"
            " AND operator_id IS NULL)"
            " OR (role = 'operator' AND operator_id IS NOT NULL AND company_id IS NULL)"
            " OR (role IN ('platform_admin', 'shop') AND company_id IS NULL"
            " AND operator_id IS NULL)",
            name="role_membership",
        ),
        UniqueConstraint("company_id", "external_id", name="uq_user_company_external_id"),
        UniqueConstraint("company_id", "sso_subject", name="uq_user_company_sso_subject"),
        UniqueConstraint("company_id", "employee_number", name="uq_user_company_employee_number"),
        CheckConstraint("manager_id IS NULL OR manager_id <> id", name="not_own_manager"),
    )

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def books_stays(self) -> bool:
        return self.role in COMPANY_ROLES

    @property
    def runs_facilities(self) -> bool:
        """An operator of an organisation: the only role the operator console serves."""
        return self.role == Role.OPERATOR and self.operator_id is not None

    @property
    def is_platform_admin(self) -> bool:
        return self.role == Role.PLATFORM_ADMIN


class LoginThrottle(db.Model):
    """Failed sign-ins in a row for one e-mail address from one client network, to slow
    password guessing.

    After ``LOGIN_MAX_FAILURES`` failures each attempt waits until ``locked_until``,
    a delay that doubles per further failure (capped); a success deletes the row.
    ``key`` is the SHA-256 of the address and the network (``accounts.services.
    throttle_key``): no address is stored, and a guesser elsewhere never makes the
    owner wait.
    """

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiToken(db.Model):
    """A bearer token for the JSON API; only its SHA-256 is stored."""

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # None: valid until revoked.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class Invitation(db.Model):
    """A one-time link to join a company as an employee; only its SHA-256 is stored."""

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # invite: sent by a company admin; domain: asked for by the employee (verified domain)
    kind: Mapped[str] = mapped_column(String(10), default="invite")
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    company: Mapped[Company] = relationship()

    __table_args__ = (CheckConstraint("kind IN ('invite', 'domain')", name="kind_known"),)


class UserSession(db.Model):
    """A signed-in browser. The cookie carries a random secret; only its SHA-256 is kept.

    Live while not ended, before ``expires_at`` (the absolute lifetime) and seen within
    the idle timeout; see ``accounts.sessions``.
    """

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # "Firefox · Windows": a summary of the User-Agent, never the whole header, no IP.
    device: Mapped[str] = mapped_column(String(60), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class PasswordToken(db.Model):
    """A single-use link to choose a password: ``reset`` (forgotten password, valid one
    hour) or ``set`` (a new account made by the platform admin, the CLI or an approved
    application). Only the SHA-256 of the link's secret is stored."""

    __tablename__ = "password_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(10))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    __table_args__ = (CheckConstraint("purpose IN ('reset', 'set')", name="purpose_known"),)


class RecoveryCode(db.Model):
    """One of ten one-time codes that sign in when the authenticator is lost; hashed."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CompanySso(db.Model):
    """A company's single sign-on through its OpenID Connect provider.

    The client secret is encrypted with a key derived from SECRET_KEY. ``mandatory``:
    people of the covered domains may not sign in with a password.
    """

    __tablename__ = "company_sso"

    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"), primary_key=True)
    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(255))
    client_secret: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(default=True)
    mandatory: Mapped[bool] = mapped_column(default=False, server_default=false())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    company: Mapped[Company] = relationship()
    domains: Mapped[list[SsoDomain]] = relationship(
        back_populates="sso", order_by="SsoDomain.domain", cascade="all, delete-orphan"
    )


class SsoDomain(db.Model):
    """An e-mail domain whose people sign in through one company's provider; a domain
    belongs to one company only."""

    __tablename__ = "sso_domain"

    domain: Mapped[str] = mapped_column(String(253), primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company_sso.company_id"), index=True)

    sso: Mapped[CompanySso] = relationship(back_populates="domains")
