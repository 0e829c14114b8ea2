"""The guest register (宿泊者名簿) of stays, sealed at rest, its access log and purge.

Rules it keeps:

- Each guest's line is the JSON of their details sealed with Fernet under a key
  derived from ``SECRET_KEY`` for this purpose alone (``core.keys.derive_key``), and
  so is a passport image's bytes: the database never holds a name, an address or a
  passport number readable.
- Saving a stay's guests replaces its lines, position by position (1 is the booker's
  line). A line keeps its passport image while it still needs one and its passport
  number did not change; any other image goes with the line it belonged to.
- A stay changed to fewer guests keeps the lines of those who still stay: the lines
  above the new count go, their passport images first (``trim``), so no one who no
  longer stays is listed, exported or printed.
- A register is complete when every guest of the stay has a line and every guest who
  needs a passport has its image (``missing`` says what is not there, for people).
- Every read or write of an entry is recorded (``record_read``), by whoever did it;
  the purge (3 years after check-out, or a cancelled stay) deletes the passport
  images first, then the lines, and records what went, never who (``purge``).

This package knows stays only by id: the booking layer checks who may read or write
a stay's register, then calls these functions. Services flush, the edge commits.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app
from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, insert, select

from core.db import in_id_range
from core.extensions import db
from core.keys import derive_key
from lodging.guests import GuestDetails
from lodging.models import PassportImage, RegisteredGuest, RegisterPurge, RegisterRead
from lodging.passport import check_passport_image

RETENTION_YEARS = 3  # 旅館業法施行規則: kept 3 years
KEY_PURPOSE = "guest register v1"
ACTIONS = frozenset({"view", "edit", "print", "csv", "api", "passport", "check"})
PURGE_REASONS = frozenset({"retention", "cancelled"})
_CHUNK = 500  # ids per IN (…) list

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredGuest:
    id: int
    position: int
    details: GuestDetails
    has_passport_image: bool
    # False when the line cannot be unsealed (SECRET_KEY changed): it must be entered again.
    readable: bool = True

    @property
    def complete(self) -> bool:
        return self.readable and (not self.details.needs_passport or self.has_passport_image)


# --- sealing -----------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _fernet(secret_key: str | bytes) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(derive_key(secret_key, KEY_PURPOSE)))


def _cipher() -> Fernet:
    """The register's own key, derived from ``SECRET_KEY`` (made once per key: a busy
    month's register unseals thousands of lines)."""
    return _fernet(current_app.config["SECRET_KEY"])


def seal_details(details: GuestDetails) -> str:
    plain = json.dumps(details.as_json(), ensure_ascii=False, separators=(",", ":"))
    return _cipher().encrypt(plain.encode()).decode("ascii")


def open_details(sealed: str) -> GuestDetails | None:
    """The details of a stored line; None if they cannot be unsealed."""
    try:
        return GuestDetails.from_json(json.loads(_cipher().decrypt(sealed.encode("ascii"))))
    except (InvalidToken, ValueError, TypeError, AttributeError):
        return None


_UNREADABLE = GuestDetails(name="", address="", phone="")


# --- reading -----------------------------------------------------------------------------


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    wanted = sorted({i for i in ids if in_id_range(i)})
    for start in range(0, len(wanted), _CHUNK):
        yield wanted[start : start + _CHUNK]


def guests_by_booking(booking_ids: Iterable[int]) -> dict[int, list[StoredGuest]]:
    """Each stay's lines by position (stays without any are left out); the images'
    bytes are not read."""
    found: dict[int, list[StoredGuest]] = {}
    for chunk in _chunks(booking_ids):
        rows = db.session.execute(
            select(
                RegisteredGuest.id,
                RegisteredGuest.booking_id,
                RegisteredGuest.position,
                RegisteredGuest.details,
                PassportImage.id,
            )
            .outerjoin(PassportImage, PassportImage.guest_id == RegisteredGuest.id)
            .where(RegisteredGuest.booking_id.in_(chunk))
            .order_by(RegisteredGuest.booking_id, RegisteredGuest.position)
        )
        for guest_id, booking_id, position, sealed, image_id in rows:
            details = open_details(sealed)
            if details is None:
                log.warning("register line %s cannot be unsealed", guest_id)
            found.setdefault(booking_id, []).append(
                StoredGuest(
                    id=guest_id,
                    position=position,
                    details=details or _UNREADABLE,
                    has_passport_image=image_id is not None,
                    readable=details is not None,
                )
            )
    return found


def guests_of(booking_id: int) -> list[StoredGuest]:
    return guests_by_booking([booking_id]).get(booking_id, [])


def missing_of(lines: Sequence[StoredGuest], guest_count: int) -> list[LazyString]:
    """What ``lines`` (a stay's register, read already) lack for ``guest_count`` guests."""
    counted = [g for g in lines if g.position <= guest_count]
    missing: list[LazyString] = []
    if len(counted) < guest_count:
        missing.append(
            _l(
                "%(registered)d of %(total)d guests registered",
                registered=len(counted),
                total=guest_count,
            )
        )
    for guest in counted:
        if not guest.readable:
            missing.append(_l("details of guest %(position)d", position=guest.position))
        elif not guest.complete:
            missing.append(_l("passport image of guest %(position)d", position=guest.position))
    return missing


def missing(booking_id: int, guest_count: int) -> list[LazyString]:
    """What the register of a stay still lacks, for people; [] when complete."""
    return missing_of(guests_of(booking_id), guest_count)


def is_complete(booking_id: int, guest_count: int) -> bool:
    return not missing(booking_id, guest_count)


def completeness(guest_counts: dict[int, int]) -> dict[int, bool]:
    """Whether each stay's register (booking id → its guest count) is complete."""
    lines = guests_by_booking(guest_counts)
    return {
        booking_id: not missing_of(lines.get(booking_id, []), count)
        for booking_id, count in guest_counts.items()
    }


# --- writing -----------------------------------------------------------------------------


def _keeps_image(row: RegisteredGuest, details: GuestDetails) -> bool:
    """An image stays with a line that still needs one for the same passport."""
    if not details.needs_passport:
        return False
    before = open_details(row.details)
    return before is not None and before.passport_number == details.passport_number


def save_guests(
    booking_id: int, guests: Sequence[GuestDetails], *, entered_by_id: int | None, now: datetime
) -> list[RegisteredGuest]:
    """Replace the stay's lines with ``guests`` (positions 1, 2, …), keeping the images
    the lines still need; the lines, flushed."""
    old = {
        row.position: row
        for row in db.session.scalars(
            select(RegisteredGuest).where(RegisteredGuest.booking_id == booking_id)
        )
    }
    images = dict(
        db.session.execute(
            select(PassportImage.guest_id, PassportImage.id).where(
                PassportImage.guest_id.in_([row.id for row in old.values()])
            )
        ).all()
    )
    dropped_images: list[int] = []
    saved: list[RegisteredGuest] = []
    for position, details in enumerate(guests, start=1):
        row = old.pop(position, None)
        if row is None:
            row = RegisteredGuest(booking_id=booking_id, position=position, created_at=now)
            db.session.add(row)
        elif row.id in images and not _keeps_image(row, details):
            dropped_images.append(images[row.id])
        row.details = seal_details(details)
        row.needs_passport = details.needs_passport
        row.entered_by_id = entered_by_id
        row.updated_at = now
        saved.append(row)
    gone = [row.id for row in old.values()]
    dropped_images += [images[guest_id] for guest_id in gone if guest_id in images]
    if dropped_images:
        db.session.execute(delete(PassportImage).where(PassportImage.id.in_(dropped_images)))
    if gone:
        db.session.execute(delete(RegisteredGuest).where(RegisteredGuest.id.in_(gone)))
    db.session.flush()
    return saved


def trim(booking_id: int, guest_count: int, now: datetime) -> int:
    """The stay now has ``guest_count`` guests (at least 1): delete the lines above that
    position, their passport images first. Records nothing else: no purge and no read
    (``now`` dates nothing; it is taken as every service takes it). The lines deleted."""
    if guest_count < 1:
        raise ValueError(f"a stay has at least one guest, not {guest_count}")
    if not in_id_range(booking_id):
        return 0
    guest_ids = list(
        db.session.scalars(
            select(RegisteredGuest.id).where(
                RegisteredGuest.booking_id == booking_id, RegisteredGuest.position > guest_count
            )
        )
    )
    if guest_ids:
        db.session.execute(delete(PassportImage).where(PassportImage.guest_id.in_(guest_ids)))
        db.session.execute(delete(RegisteredGuest).where(RegisteredGuest.id.in_(guest_ids)))
        db.session.flush()
    return len(guest_ids)


def save_passport_image(guest_id: int, data: bytes, now: datetime) -> PassportImage:
    """Seal the image of the line's passport, replacing any it had. An image that is not
    acceptable: ``lodging.passport.PassportImageError``, nothing stored."""
    content_type = check_passport_image(data)
    db.session.execute(delete(PassportImage).where(PassportImage.guest_id == guest_id))
    image = PassportImage(
        guest_id=guest_id,
        content_type=content_type,
        size=len(data),
        data=_cipher().encrypt(data),
        created_at=now,
    )
    db.session.add(image)
    db.session.flush()
    return image


def passport_image(guest_id: int) -> tuple[bytes, str] | None:
    """The image's bytes and content type, unsealed, or None."""
    if not in_id_range(guest_id):
        return None
    row = db.session.execute(
        select(PassportImage.data, PassportImage.content_type).where(
            PassportImage.guest_id == guest_id
        )
    ).first()
    if row is None:
        return None
    try:
        return _cipher().decrypt(bytes(row.data)), row.content_type
    except InvalidToken:
        log.warning("passport image of register line %s cannot be unsealed", guest_id)
        return None


# --- the access log and the purge --------------------------------------------------------


def retention_cutoff(today: date) -> date:
    """What ended before this date has been kept long enough: today, ``RETENTION_YEARS``
    years back (29 February goes back to the 28th: a day longer). The guest register
    keeps to it, and so do the participants of regional programmes (``regions.retention``).
    """
    year = today.year - RETENTION_YEARS
    try:
        return today.replace(year=year)
    except ValueError:  # 29 February in a year that has none
        return today.replace(year=year, day=28)


def record_read(
    booking_ids: Iterable[int], facility_id: int, user_id: int | None, action: str, now: datetime
) -> None:
    """One access-log row per stay for what ``user_id`` did with its register entry
    (``ACTIONS``: a page, an edit, a print, a CSV, the API, a passport image, the
    identity check)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown register action {action!r}")
    rows = [
        {
            "booking_id": booking_id,
            "facility_id": facility_id,
            "user_id": user_id,
            "action": action,
            "created_at": now,
        }
        for booking_id in sorted(set(booking_ids))
    ]
    if rows:  # one statement for a whole page of stays
        db.session.execute(insert(RegisterRead), rows)


def purge(booking_id: int, facility_id: int, reason: str, now: datetime) -> RegisterPurge | None:
    """Delete the stay's register entry: its passport images first, then its lines.

    The purge is recorded once per stay, with counts only (even when there was nothing
    to delete, so a job need not look at the stay again). Answers the record when
    something was deleted, None when nothing was."""
    if reason not in PURGE_REASONS:
        raise ValueError(f"unknown purge reason {reason!r}")
    guest_ids = list(
        db.session.scalars(
            select(RegisteredGuest.id).where(RegisteredGuest.booking_id == booking_id)
        )
    )
    image_count = 0
    if guest_ids:
        image_count = db.session.scalar(
            select(func.count())
            .select_from(PassportImage)
            .where(PassportImage.guest_id.in_(guest_ids))
        )
        db.session.execute(delete(PassportImage).where(PassportImage.guest_id.in_(guest_ids)))
        db.session.execute(delete(RegisteredGuest).where(RegisteredGuest.id.in_(guest_ids)))
    record = db.session.scalar(select(RegisterPurge).where(RegisterPurge.booking_id == booking_id))
    if record is None:
        record = RegisterPurge(
            booking_id=booking_id,
            facility_id=facility_id,
            reason=reason,
            guests=len(guest_ids),
            passport_images=image_count,
            purged_at=now,
        )
        db.session.add(record)
    elif guest_ids:  # lines written after an earlier purge: counted in with it
        record.guests += len(guest_ids)
        record.passport_images += image_count
        record.purged_at = now
    db.session.flush()
    return record if guest_ids else None
