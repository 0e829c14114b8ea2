"""The catalogue's rules as operators change it: facilities and rooms (photos:
``facilities.photos``).

An operator works only on their own organisation's facilities: every lookup here
takes the actor and answers None for somebody else's id, which the console turns
into a 404 exactly like an id that does not exist. Services flush, never commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from accounts.models import User
from core.db import get_by_id
from core.errors import RuleError
from core.extensions import db
from facilities.licences import LicenceError, check_licence
from facilities.models import Facility, Unit

# The photo functions live in facilities.photos; these names stay importable from here.
from facilities.photos import (  # noqa: F401
    MAX_PHOTO_PIXELS,
    MAX_PHOTOS_PER_FACILITY,
    PHOTO_TYPES,
    PhotoError,
    delete_photo,
    discard_photo_file,
    facility_photos,
    operator_photo,
    photo_dir,
    photo_mb,
    photo_too_big,
    save_photo,
    visible_photo,
)

FACILITY_FIELDS = (
    "name_ja",
    "name_en",
    "kind",
    "prefecture",
    "municipality",
    "address",
    "postal_code",
    "latitude",
    "longitude",
    "wifi_mbps",
    "work_desks",
    "meeting_room",
    "parking",
    "kitchen",
    "onsen",
    "family_friendly",
    "check_in_time",
    "check_out_time",
    "min_nights",
    "max_nights",
    "description_ja",
    "description_en",
    "arrival_notes_ja",
    "arrival_notes_en",
    "licence_type",
    "licence_number",
)
# What a facility may be made without (one made from a sign-up application has no
# arrival notes and no licence yet): left out of ``values``, they keep what the
# facility has ("" when new; a facility offering stays is then not listed).
OPTIONAL_FACILITY_FIELDS = (
    "arrival_notes_ja",
    "arrival_notes_en",
    "licence_type",
    "licence_number",
)
UNIT_FIELDS = ("name", "capacity", "base_price")


class ConsoleError(RuleError):
    """An operator action refused by a rule; the message is for the operator."""


# --- lookups within the actor's organisation -------------------------------------------


def operator_facilities(actor: User) -> list[Facility]:
    """The actor's facilities, open ones first, with their rooms loaded."""
    if not actor.runs_facilities:
        return []
    return list(
        db.session.scalars(
            select(Facility)
            .where(Facility.operator_id == actor.operator_id)
            .options(selectinload(Facility.units))
            .order_by(Facility.active.desc(), Facility.name_ja, Facility.id)
        )
    )


def owned(actor: User, model, ident: int, facility_of, *path):
    """``model`` row ``ident`` if the actor's organisation runs its facility, else None.

    ``path`` are the relationships to load with it on the way to the facility.
    """
    if not actor.runs_facilities:
        return None
    options = []
    if path:
        load = joinedload(path[0])
        for step in path[1:]:
            load = load.joinedload(step)
        options.append(load)
    row = get_by_id(model, ident, options=options)
    if row is None or facility_of(row).operator_id != actor.operator_id:
        return None
    return row


def operator_facility(actor: User, facility_id: int) -> Facility | None:
    """The facility if the actor's organisation runs it; None for a foreign or unknown id."""
    return owned(actor, Facility, facility_id, lambda f: f)


def operator_unit(actor: User, unit_id: int) -> Unit | None:
    return owned(actor, Unit, unit_id, lambda u: u.facility, Unit.facility)


# --- facilities and rooms ---------------------------------------------------------------


def _assign(target, values: Mapping[str, Any], fields: tuple[str, ...]) -> None:
    for name in fields:
        if name in OPTIONAL_FACILITY_FIELDS and name not in values:
            continue
        setattr(target, name, values[name])


def _check_facility(values: Mapping[str, Any], facility: Facility | None = None) -> None:
    """The form checks these as well; the database would refuse some with a 500.

    The licence must fit the kind (``facilities.licences.check_licence``): a facility
    offering stays may have none yet (it is then not listed) but never ``none``; an
    office only has ``none`` or nothing. Values left out keep the facility's own."""
    if not 1 <= values["min_nights"] <= values["max_nights"]:
        raise ConsoleError(_l("The longest stay cannot be shorter than the shortest stay."))
    kept = {
        name: values[name] if name in values else getattr(facility, name, "") or ""
        for name in ("licence_type", "licence_number")
    }
    try:
        check_licence(values["kind"], kept["licence_type"], kept["licence_number"])
    except LicenceError as exc:
        raise ConsoleError(exc.message, "licence") from None


def create_facility(actor: User, values: Mapping[str, Any], now: datetime) -> Facility:
    """A new facility of the actor's organisation, open for booking once it has rooms
    (and, if it offers stays, a lodging licence)."""
    _check_facility(values)
    facility = Facility(operator_id=actor.operator_id, created_at=now, active=True)
    _assign(facility, values, FACILITY_FIELDS)
    db.session.add(facility)
    db.session.flush()
    return facility


def update_facility(facility: Facility, values: Mapping[str, Any]) -> None:
    _check_facility(values, facility)
    _assign(facility, values, FACILITY_FIELDS)
    db.session.flush()


def unlicensed_facilities() -> list[Facility]:
    """Open facilities offering stays without a lodging licence and its number: not
    listed for that reason (the platform admin's /admin/licences), by operator and name.
    A closed facility is left out: it is not listed anyway."""
    return list(
        db.session.scalars(
            select(Facility)
            .where(~Facility.licensed, Facility.active)
            .options(joinedload(Facility.operator))
            .order_by(Facility.operator_id, Facility.name_ja, Facility.id)
        )
    )


def unlicensed_count() -> int:
    """How many facilities offering stays are open without a lodging licence."""
    return db.session.scalar(
        select(func.count()).select_from(Facility).where(~Facility.licensed, Facility.active)
    )


def set_facility_active(facility: Facility, active: bool) -> None:
    """Close a facility to new bookings, or open it again.

    Booked stays are kept (guests hold confirmations): the console shows the
    operator how many are still to come (``booking.lookups.upcoming_stay_count``).
    """
    facility.active = active
    db.session.flush()


def _check_unit_name(facility: Facility, name: str, unit: Unit | None = None) -> None:
    taken = db.session.scalar(
        select(func.count())
        .select_from(Unit)
        .where(
            Unit.facility_id == facility.id,
            func.lower(Unit.name) == name.lower(),
            Unit.id != (unit.id if unit else 0),
        )
    )
    if taken:
        raise ConsoleError(_l("This facility already has a room with that name."), "name_taken")


def create_unit(facility: Facility, values: Mapping[str, Any]) -> Unit:
    _check_unit_name(facility, values["name"])
    unit = Unit(facility_id=facility.id, active=True, housekeeping="clean")
    _assign(unit, values, UNIT_FIELDS)
    db.session.add(unit)
    db.session.flush()
    return unit


def update_unit(unit: Unit, values: Mapping[str, Any]) -> None:
    """Name, size and base price; stays already booked keep the prices they were sold at."""
    _check_unit_name(unit.facility, values["name"], unit)
    _assign(unit, values, UNIT_FIELDS)
    db.session.flush()


def set_unit_active(unit: Unit, active: bool) -> None:
    """Take a room off sale (or back); its booked stays are kept."""
    unit.active = active
    db.session.flush()
