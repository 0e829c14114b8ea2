"""The guest register (宿泊者名簿) of stays, sealed at rest, its access log and purge.

(SKELETON: the lead's signatures; the register helper fills in.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from flask_babel import LazyString

from lodging.guests import GuestDetails
from lodging.models import PassportImage, RegisteredGuest, RegisterPurge

RETENTION_YEARS = 3  # 旅館業法施行規則: kept 3 years


@dataclass(frozen=True)
class StoredGuest:
    id: int
    position: int
    details: GuestDetails
    has_passport_image: bool

    @property
    def complete(self) -> bool:
        return not self.details.needs_passport or self.has_passport_image


def guests_of(booking_id: int) -> list[StoredGuest]:
    raise NotImplementedError


def guests_by_booking(booking_ids: Iterable[int]) -> dict[int, list[StoredGuest]]:
    raise NotImplementedError


def save_guests(
    booking_id: int, guests: Sequence[GuestDetails], *, entered_by_id: int | None, now: datetime
) -> list[RegisteredGuest]:
    raise NotImplementedError


def missing(booking_id: int, guest_count: int) -> list[LazyString]:
    """What the register of a stay still lacks, for people; [] when complete."""
    raise NotImplementedError


def is_complete(booking_id: int, guest_count: int) -> bool:
    return not missing(booking_id, guest_count)


def completeness(guest_counts: dict[int, int]) -> dict[int, bool]:
    """Whether each stay's register (booking id → its guest count) is complete."""
    raise NotImplementedError


def save_passport_image(guest_id: int, data: bytes, now: datetime) -> PassportImage:
    raise NotImplementedError


def passport_image(guest_id: int) -> tuple[bytes, str] | None:
    """The image's bytes and content type, unsealed, or None."""
    raise NotImplementedError


def record_read(
    booking_ids: Iterable[int], facility_id: int, user_id: int | None, action: str, now: datetime
) -> None:
    raise NotImplementedError


def purge(booking_id: int, facility_id: int, reason: str, now: datetime) -> RegisterPurge | None:
    raise NotImplementedError
