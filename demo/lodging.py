"""The demo's lodging law: each facility's licence, and the guest register (宿泊者名簿)
of a few stays at every lodging facility in a taxed place and at the 住宅宿泊事業 house,
filled in through ``lodging.register`` as a booker would (a companion living abroad
with a drawn stand-in for a passport page). Only adds and flushes, like ``demo.seed``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import cache
from io import BytesIO

from PIL import Image, ImageDraw
from sqlalchemy import func, select

from accounts.models import User
from booking.models import Booking
from core.extensions import db
from demo.data import (
    COMPANION_GIVEN_NAMES,
    FOREIGN_COMPANIONS,
    HOMES,
    HOTEL,
    MINPAKU,
    OFFICE,
    SIMPLE,
    Place,
)
from facilities.models import Facility
from facilities.regions import PREFECTURES_BY_CODE
from lodging.guests import GuestDetails, clean_guest
from lodging.models import AccommodationTaxRule
from lodging.rates import seed_rules
from lodging.register import save_guests, save_passport_image
from lodging.tax import TaxTable

# Stays of each facility whose register is filled in: the last ones before today, and
# the next ones after the first arrival (whose register is left for the guest or the
# front desk to fill in).
REGISTERED_PAST, REGISTERED_AHEAD = 2, 2


def ensure_tax_rules(now: datetime) -> None:
    """The accommodation tax rules, on an empty table: a migrated database has them
    (migration 0010); one built from the models (the tests) does not."""
    if not db.session.scalar(select(func.count()).select_from(AccommodationTaxRule)):
        seed_rules(now)


def licence_of(place: Place, index: int) -> tuple[str, str]:
    """The place's licence type and a plausible, fictional number from its authority: a
    Tokyo ward or a designated city's ward office, else the prefecture."""
    if place.kind == OFFICE:
        return "none", ""
    kind = place.licence or (SIMPLE if "kitchen" in place.has.split() else HOTEL)
    if kind == MINPAKU:  # 届出番号: M, then 9 digits
        return kind, f"M{place.pref:02d}{(index * 7919 + 1234) % 10_000_000:07d}"
    ward_of_city = "市" in place.municipality and place.municipality.endswith("区")
    if ward_of_city:
        authority = place.municipality.split("市")[0] + "市"
    elif place.pref == 13 and place.municipality.endswith("区"):
        authority = place.municipality
    else:
        authority = PREFECTURES_BY_CODE[place.pref].name_ja
    return kind, f"{authority}指令第{2015 + index % 9}-{1000 + index * 37}号"


def fill_registers(facilities: list[Facility], today: date, now: datetime) -> int:
    """Fill in the guest register of a few stays at each lodging facility in a taxed
    place and at the 住宅宿泊事業 house; how many stays got one."""
    table = TaxTable.load()
    chosen = [
        f
        for f in facilities
        if f.kind != OFFICE and (f.is_minpaku or table.levied_at(f.prefecture, f.municipality))
    ]
    registered = 0
    for facility in chosen:
        stays = db.session.execute(
            select(
                Booking.id, Booking.user_id, Booking.guests, Booking.check_in,
                Booking.created_at, User.name,
            )
            .join(User, User.id == Booking.user_id)
            .where(Booking.unit_id.in_([u.id for u in facility.units]))
            .order_by(Booking.check_in, Booking.id)
        ).all()  # fmt: skip
        past = [s for s in stays if s.check_in < today][-REGISTERED_PAST:]
        ahead = [s for s in stays if s.check_in >= today][1 : 1 + REGISTERED_AHEAD]
        for stay in past + ahead:
            _register(stay, registered, min(now, stay.created_at + timedelta(hours=2)))
            registered += 1
    return registered


def _register(stay, n: int, entered: datetime) -> None:
    """The booker's line, then their family; every second stay of several guests has a
    companion who lives abroad (passport number and an image of its page)."""
    address, phone = HOMES[n % len(HOMES)]
    family = stay.name.split()[0]
    givens = [g for g in COMPANION_GIVEN_NAMES if f"{family} {g}" != stay.name]
    lines = [{"name": stay.name, "address": address, "phone": phone}]
    for i in range(1, stay.guests):
        if i == 1 and n % 2 == 0:
            lines.append(
                {**FOREIGN_COMPANIONS[n // 2 % len(FOREIGN_COMPANIONS)], "lives_abroad": True}
            )
        else:
            name = f"{family} {givens[(n + i) % len(givens)]}"
            lines.append({"name": name, "address": address, "phone": phone})
    guests = [_guest(line) for line in lines]
    rows = save_guests(stay.id, guests, entered_by_id=stay.user_id, now=entered)
    for row, guest in zip(rows, guests, strict=True):
        if guest.needs_passport:
            save_passport_image(row.id, _passport_page(guest.name), entered)


def _guest(line: dict) -> GuestDetails:
    guest, errors = clean_guest(line)
    if guest is None:
        raise ValueError(f"demo register line {line['name']}: {sorted(errors)}")
    return guest


@cache
def _passport_page(name: str) -> bytes:
    """A drawn stand-in for a passport's photo page (SPECIMEN), as a PNG."""
    page = Image.new("RGB", (600, 420), (226, 232, 240))
    draw = ImageDraw.Draw(page)
    draw.rectangle((30, 90, 190, 300), fill=(160, 170, 185))  # the photo
    draw.text((30, 30), "PASSPORT  SPECIMEN (demo)", fill=(40, 50, 70))
    for row, text in enumerate((name.upper(), "NOT A REAL DOCUMENT")):
        draw.text((220, 110 + 40 * row), text, fill=(40, 50, 70))
    draw.rectangle((30, 340, 570, 390), fill=(200, 206, 216))  # the machine-readable zone
    out = BytesIO()
    page.save(out, "PNG")
    return out.getvalue()
