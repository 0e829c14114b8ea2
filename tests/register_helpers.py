"""The guest register for tests: a complete register stored for a stay, so the front
desk may check it in (check-in waits for a complete register), and a small image to
upload as a passport's photo page."""

from __future__ import annotations

from datetime import UTC, datetime
from io import BytesIO

from PIL import Image

from core.extensions import db
from lodging import register
from lodging.guests import GuestDetails

FILLED_AT = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # conftest's NOW

# Fictional residents of Japan (no passport needed), the booker first.
RESIDENTS = (
    ("山田 太郎", "〒100-0001 東京都千代田区千代田1-1", "+81312345678"),
    ("山田 花子", "〒100-0001 東京都千代田区千代田1-1", "+819012345678"),
    ("Anna Müller", "〒150-0001 東京都渋谷区神宮前1-2-3", "+819087654321"),
    ("佐藤 健", "〒530-0001 大阪府大阪市北区梅田1-1-1", "+81612345678"),
)
VISITOR = GuestDetails(
    name="Jane O'Neil",
    address="221B Baker Street, London NW1 6XE, United Kingdom",
    phone="+442079460958",
    nationality="GB",
    passport_number="123456789",
    lives_abroad=True,
)


def resident(index: int) -> GuestDetails:
    """The ``index``-th fictional resident (0 is the booker's line)."""
    name, address, phone = RESIDENTS[index % len(RESIDENTS)]
    return GuestDetails(name=name, address=address, phone=phone)


def fill_register(booking, *, guests: int | None = None, now: datetime = FILLED_AT) -> None:
    """Store a complete register for ``booking`` (every guest a resident of Japan, or
    ``guests`` of them) and commit, as the employee's page would."""
    count = booking.guests if guests is None else guests
    register.save_guests(
        booking.id,
        [resident(i) for i in range(count)],
        entered_by_id=booking.user_id,
        now=now,
    )
    db.session.commit()


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (60, 40)) -> bytes:
    """A small picture in ``fmt`` (PNG, JPEG, WEBP, GIF…), standing in for a passport page."""
    out = BytesIO()
    Image.new("RGB", size, (200, 180, 150)).save(out, fmt)
    return out.getvalue()
