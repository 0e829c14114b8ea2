"""Local shops that take coupons (地域クーポン取扱店) and the people who redeem for them.

A shop registers itself on a public page: its name, category and postal code (the
address and the municipality come from the postal code, ``facilities.postal`` and
``facilities.municipalities``; the shop adds the street number), and the person who
redeems: their name, e-mail and password. One transaction makes the ``LocalShop``, the
``User`` of role ``shop`` and the ``ShopMember`` joining them, or nothing.

A shop registers waiting for approval (``active=False``): anyone may fill in the form,
so it redeems nothing until the municipality whose coupons it takes approves it (else a
made-up shop could redeem its owner's own coupons and be paid from the fund's statement).
The municipality may then suspend it (it redeems nothing again) and reactivate it;
another municipality's shop is not found. Every change of status is audited, and a shop
is *waiting* exactly when it is inactive and has no such entry: a suspended shop was
approved (or made active, as the demo's) before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError

from accounts import audit
from accounts.membership import valid_email
from accounts.models import Role, User
from accounts.passwords import weak_password_reason
from accounts.services import hash_password, normalise_email, user_by_email
from core.db import in_id_range
from core.errors import RuleError
from core.extensions import db
from facilities import postal
from facilities.municipalities import by_code, code_of_postal
from facilities.regions import PREFECTURES_BY_CODE
from regions.models import LocalShop, ShopCategory, ShopMember

MAX_NAME = 200
MAX_ADDRESS_LINE = 200
MAX_ADDRESS = 300  # LocalShop.address

CATEGORY_LABELS = {
    ShopCategory.CAFE: _l("Café"),
    ShopCategory.RESTAURANT: _l("Restaurant"),
    ShopCategory.SHOP: _l("Shop or souvenirs"),
    ShopCategory.ONSEN: _l("Hot spring or bathhouse"),
    ShopCategory.ACTIVITY: _l("Activity"),
    ShopCategory.TRANSPORT: _l("Transport"),
    ShopCategory.OTHER: _l("Other"),
}


class ShopError(RuleError):
    """A shop's registration or status was refused; ``code`` names the form field."""


@dataclass(frozen=True)
class ShopApplication:
    """What the registration form gives."""

    name: str
    category: str
    postal_code: str
    address_line: str  # the street number and building, after the town
    person_name: str
    email: str
    password: str


def category_label(code: str) -> str:
    label = CATEGORY_LABELS.get(code)
    return str(label) if label is not None else code


def _line(value: str, limit: int, field: str, message) -> str:
    text = " ".join((value or "").split())
    if not text or len(text) > limit:
        raise ShopError(message, field)
    return text


def place_of(raw_postal_code: str) -> tuple[postal.PostalAddress, str]:
    """The postal code's place and its municipality code, or ``ShopError`` (field
    ``postal_code``)."""
    try:
        place = postal.lookup(raw_postal_code)
    except postal.PostalCodeError as exc:
        raise ShopError(exc.message, "postal_code") from None
    code = code_of_postal(place.postal_code) if place is not None else None
    if place is None or code is None or by_code(code) is None:
        raise ShopError(
            _l("Japan Post does not list this postal code. Please check it."), "postal_code"
        )
    return place, code


def register_shop(application: ShopApplication, now: datetime, *, hash_method: str) -> ShopMember:
    """Register a shop with the person who redeems for it, all or nothing (flushes). The
    shop waits for its municipality's approval (``approve_shop``) before it redeems.

    Refused (``ShopError`` naming the field): an empty or too long name, an unknown
    category, a postal code Japan Post does not list, an address line missing, a weak
    password, an e-mail address that already has an account, and a shop of the same
    name already registered at the same postal code."""
    name = _line(
        application.name, MAX_NAME, "name", _l("Enter the shop's name (up to 200 characters).")
    )
    if application.category not in set(ShopCategory):
        raise ShopError(_l("Choose what kind of shop it is."), "category")
    place, municipality_code = place_of(application.postal_code)
    line = _line(
        application.address_line,
        MAX_ADDRESS_LINE,
        "address_line",
        _l("Enter the street number and building (up to 200 characters)."),
    )
    prefecture = PREFECTURES_BY_CODE[place.prefecture]
    address = f"{prefecture.name_ja}{place.municipality}{place.town}{line}"[:MAX_ADDRESS]
    person = _line(
        application.person_name,
        MAX_NAME,
        "person_name",
        _l("Enter your name (up to 200 characters)."),
    )
    email = normalise_email(application.email or "")
    if not valid_email(email):
        raise ShopError(_l("Please enter a valid e-mail address."), "email")
    reason = weak_password_reason(application.password or "", email)
    if reason is not None:
        raise ShopError(reason, "password")
    if user_by_email(email) is not None:
        raise _address_taken()
    if _same_shop(name, place.postal_code) is not None:
        raise ShopError(
            _l(
                "A shop of this name is already registered at this postal code. If it is"
                " yours, please sign in with its account."
            ),
            "name",
        )
    shop = LocalShop(
        name=name,
        category=application.category,
        postal_code=place.postal_code,
        address=address,
        municipality_code=municipality_code,
        active=False,  # until its municipality approves it (``approve_shop``)
        created_at=now,
    )
    user = User(
        email=email,
        name=person,
        password_hash=hash_password(application.password, hash_method),
        role=Role.SHOP,
        created_at=now,
    )
    member = ShopMember(user=user, shop=shop)
    try:
        with db.session.begin_nested():
            db.session.add_all([shop, user, member])
            db.session.flush()
    except IntegrityError:
        raise _address_taken() from None  # the same address registered a moment ago
    return member


def _address_taken() -> ShopError:
    return ShopError(
        _l("This e-mail address already has an Engawa account. Please sign in instead."),
        "email",
    )


def _same_shop(name: str, postal_code: str) -> LocalShop | None:
    return db.session.scalar(
        select(LocalShop)
        .where(func.lower(LocalShop.name) == name.lower(), LocalShop.postal_code == postal_code)
        .limit(1)
    )


def shop_of_user(user_id: int) -> LocalShop | None:
    """The shop a person redeems for, or None (not a shop's staff)."""
    return db.session.scalar(
        select(LocalShop)
        .join(ShopMember, ShopMember.shop_id == LocalShop.id)
        .where(ShopMember.user_id == user_id)
    )


def shops_in(municipality_code: str) -> list[LocalShop]:
    """The shops registered in a municipality, by name."""
    return list(
        db.session.scalars(
            select(LocalShop)
            .where(LocalShop.municipality_code == municipality_code)
            .order_by(LocalShop.name, LocalShop.id)
        )
    )


def shop_in(municipality_code: str, shop_id: int, *, lock: bool = False) -> LocalShop | None:
    """One shop of the municipality; another municipality's is not found."""
    if not in_id_range(shop_id):
        return None
    query = select(LocalShop).where(
        LocalShop.id == shop_id, LocalShop.municipality_code == municipality_code
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return db.session.scalar(query)


APPROVE = "local_shop.approve"
SUSPEND = "local_shop.suspend"
REACTIVATE = "local_shop.reactivate"
STATUS_ACTIONS = (APPROVE, SUSPEND, REACTIVATE)


def _status_changed():
    """Whether the shop's status was ever changed (a correlated EXISTS on LocalShop)."""
    return exists().where(
        audit.AuditEntry.object_type == "local_shop",
        audit.AuditEntry.object_id == LocalShop.id,
        audit.AuditEntry.action.in_(STATUS_ACTIONS),
    )


def awaiting_approval(shop: LocalShop) -> bool:
    """Whether the shop registered and was never approved (it redeems nothing yet), as
    opposed to suspended after taking coupons."""
    if shop.active:
        return False
    return not db.session.scalar(select(_status_changed()).where(LocalShop.id == shop.id))


def awaiting_ids(municipality_code: str) -> set[int]:
    """The ids of the municipality's shops waiting for its approval."""
    return set(
        db.session.scalars(
            select(LocalShop.id).where(
                LocalShop.municipality_code == municipality_code,
                LocalShop.active.is_(False),
                ~_status_changed(),
            )
        )
    )


def _set_status(shop: LocalShop, active: bool, action: str, actor: User | None, now) -> None:
    audit.record(
        action,
        now,
        actor=actor,
        object_type="local_shop",
        object_id=shop.id,
        operator_id=actor.operator_id if actor is not None else None,
        before={"active": shop.active},
        after={"active": active},
    )
    shop.active = active
    db.session.flush()


def approve_shop(
    municipality_code: str, shop_id: int, actor: User | None, now: datetime
) -> LocalShop | None:
    """Approve a shop of the municipality waiting for it: it takes coupons from now on,
    audited (``local_shop.approve``; ``actor`` None: the platform itself, as the demo).
    None when the shop is not the municipality's. A shop already approved, or suspended
    since, is left as it is (checked again under the row's lock: two approvals at once
    make one entry)."""
    shop = shop_in(municipality_code, shop_id, lock=True)
    if shop is None:
        return None
    if awaiting_approval(shop):
        _set_status(shop, True, APPROVE, actor, now)
    return shop


def set_shop_active(
    municipality_code: str, shop_id: int, active: bool, actor: User, now: datetime
) -> LocalShop | None:
    """Suspend (``active=False``) or reactivate a shop of the municipality, audited;
    None when the shop is not the municipality's. A suspended shop redeems nothing
    (``regions.coupon_redeem.redeem``); its redemptions so far stay on the statements.
    Activating a shop waiting for approval approves it (``local_shop.approve``); a
    waiting shop is already inactive, so suspending it changes nothing."""
    shop = shop_in(municipality_code, shop_id, lock=True)
    if shop is None:
        return None
    if shop.active != active:
        if active:
            action = APPROVE if awaiting_approval(shop) else REACTIVATE
        else:
            action = SUSPEND
        _set_status(shop, active, action, actor, now)
    return shop
