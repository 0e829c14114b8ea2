"""The catalogue's rules as operators change it: facilities, rooms and photos.

An operator works only on their own organisation's facilities: every lookup here
takes the actor and answers None for somebody else's id, which the console turns
into a 404 exactly like an id that does not exist. Services flush, never commit.
"""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Mapping
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import Any, BinaryIO

from flask_babel import lazy_gettext as _l
from PIL import Image, UnidentifiedImageError
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from accounts.models import User
from core.db import get_by_id
from core.errors import RuleError
from core.extensions import db
from facilities.models import Facility, FacilityPhoto, Unit

FACILITY_FIELDS = (
    "name_ja",
    "name_en",
    "kind",
    "prefecture",
    "municipality",
    "address",
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
)
UNIT_FIELDS = ("name", "capacity", "base_price")

# Photos: what browsers show everywhere, identified by their bytes, never their name.
PHOTO_TYPES = {
    "JPEG": ("jpg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "WEBP": ("webp", "image/webp"),
}
# Pillow warns above this many pixels and refuses at twice as many; photos never
# need more, and the check below refuses anything between as well.
MAX_PHOTO_PIXELS = 40_000_000  # a 40-megapixel camera; more is a decompression bomb
MAX_PHOTOS_PER_FACILITY = 30


class ConsoleError(RuleError):
    """An operator action refused by a rule; the message is for the operator."""


class PhotoError(ConsoleError):
    pass


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


def operator_photo(actor: User, photo_id: int) -> FacilityPhoto | None:
    return owned(actor, FacilityPhoto, photo_id, lambda p: p.facility, FacilityPhoto.facility)


def visible_photo(actor: User, filename: str) -> FacilityPhoto | None:
    """A stored photo the actor may see: any of their own, or one of an open facility."""
    photo = db.session.scalar(
        select(FacilityPhoto)
        .where(FacilityPhoto.filename == filename)
        .options(joinedload(FacilityPhoto.facility))
    )
    if photo is None:
        return None
    own = actor.runs_facilities and photo.facility.operator_id == actor.operator_id
    return photo if own or photo.facility.active else None


# --- facilities and rooms ---------------------------------------------------------------


def _assign(target, values: Mapping[str, Any], fields: tuple[str, ...]) -> None:
    for name in fields:
        setattr(target, name, values[name])


def _check_facility(values: Mapping[str, Any]) -> None:
    # The form checks these as well; the database would refuse them with a 500.
    if not 1 <= values["min_nights"] <= values["max_nights"]:
        raise ConsoleError(_l("The longest stay cannot be shorter than the shortest stay."))


def create_facility(actor: User, values: Mapping[str, Any], now: datetime) -> Facility:
    """A new facility of the actor's organisation, open for booking once it has rooms."""
    _check_facility(values)
    facility = Facility(operator_id=actor.operator_id, created_at=now, active=True)
    _assign(facility, values, FACILITY_FIELDS)
    db.session.add(facility)
    db.session.flush()
    return facility


def update_facility(facility: Facility, values: Mapping[str, Any]) -> None:
    _check_facility(values)
    _assign(facility, values, FACILITY_FIELDS)
    db.session.flush()


def set_facility_active(facility: Facility, active: bool) -> None:
    """Close a facility to new bookings, or open it again.

    Booked stays are kept (guests hold confirmations): the console shows the
    operator how many are still to come (``booking.services.upcoming_stay_count``).
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


# --- photos ------------------------------------------------------------------------------


def _identify(data: bytes) -> tuple[str, int, int]:
    """(format, width, height) of an accepted image, judged by its content alone."""
    try:
        with warnings.catch_warnings():
            # Pillow only warns over its own pixel limit (below twice it): refuse those too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(BytesIO(data)) as image:
                image_format, (width, height) = image.format, image.size
                if width < 1 or height < 1 or width * height > MAX_PHOTO_PIXELS:
                    raise PhotoError(_l("This image has too many pixels."), "too_many_pixels")
                image.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PhotoError(_l("This image has too many pixels."), "too_many_pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError):
        raise PhotoError(
            _l("This file is not a JPEG, PNG or WebP image, or it is damaged."), "not_image"
        ) from None
    if image_format not in PHOTO_TYPES:
        raise PhotoError(_l("Upload a JPEG, PNG or WebP image."), "type")
    return image_format, width, height


def save_photo(
    facility: Facility,
    stream: BinaryIO,
    filename: str,
    now: datetime,
    photo_dir: Path,
    max_bytes: int,
    caption: str = "",
) -> FacilityPhoto:
    """Store an uploaded photo under a random name in ``photo_dir``.

    At most ``max_bytes`` are read; the type comes from the bytes (JPEG, PNG or
    WebP), never from ``filename``, which is not stored. The row is flushed first
    and the file written after it, so a refused row leaves no file; a failed write
    removes what it wrote. If the transaction then fails, the caller removes the
    file (``discard_photo_file``).
    """
    count = db.session.scalar(
        select(func.count())
        .select_from(FacilityPhoto)
        .where(FacilityPhoto.facility_id == facility.id)
    )
    if count >= MAX_PHOTOS_PER_FACILITY:
        raise PhotoError(
            _l("A facility can have at most %(n)d photos.", n=MAX_PHOTOS_PER_FACILITY), "too_many"
        )
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise PhotoError(photo_too_big(max_bytes), "too_big")
    if not data:
        raise PhotoError(_l("The file is empty."), "empty")
    image_format, width, height = _identify(data)
    extension, content_type = PHOTO_TYPES[image_format]

    stored_name = f"{secrets.token_hex(16)}.{extension}"
    photo = FacilityPhoto(
        facility_id=facility.id,
        filename=stored_name,
        content_type=content_type,
        size=len(data),
        width=width,
        height=height,
        caption=caption.strip()[:200],
        created_at=now,
    )
    db.session.add(photo)
    db.session.flush()
    _write_new_file(photo_dir, stored_name, data)
    return photo


def _write_new_file(photo_dir: Path, name: str, data: bytes) -> None:
    """Write a file that must not exist yet; on any failure, nothing is left behind."""
    photo_dir.mkdir(parents=True, exist_ok=True)
    path = photo_dir / name
    with open(path, "xb") as out:  # "x": never overwrite another photo's file
        try:
            out.write(data)
        except BaseException:
            out.close()
            path.unlink(missing_ok=True)
            raise


def delete_photo(photo: FacilityPhoto) -> str:
    """Delete the photo's row; returns the stored file name to discard after commit."""
    filename = photo.filename
    db.session.delete(photo)
    db.session.flush()
    return filename


def photo_mb(max_bytes: int) -> int:
    return max(1, max_bytes // (1024 * 1024))


def photo_too_big(max_bytes: int):
    return _l("Photos can be at most %(mb)d MB.", mb=photo_mb(max_bytes))


def photo_dir(instance_path: str) -> Path:
    """Where photos are stored: ``instance/photos``."""
    return Path(instance_path) / "photos"


def discard_photo_file(photo_dir: Path, filename: str) -> None:
    """Remove a stored photo file; a file already gone is fine."""
    (photo_dir / Path(filename).name).unlink(missing_ok=True)


def facility_photos(facility: Facility, limit: int | None = None) -> list[FacilityPhoto]:
    return list(
        db.session.scalars(
            select(FacilityPhoto)
            .where(FacilityPhoto.facility_id == facility.id)
            .order_by(FacilityPhoto.id)
            .limit(limit)
        )
    )
