"""Export: each unit's and each facility's nights as an iCal feed at a secret URL.

The feed leaves the system (Airbnb, Booking.com, Google import it), so it says
only *that* a night is taken: a booking is ``Reserved``, a block ``Not
available``; no guest names, e-mails or notes. Events are all-day, DTEND
exclusive, with UIDs that never change, and DTSTAMPs taken from the rows
themselves so an unchanged calendar is byte-for-byte the same feed (ETag).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from booking.models import Booking, BookingStatus
from core.extensions import db
from facilities.models import Block, BlockSource, CalendarExport, Facility, Unit

TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{32,64}")
HISTORY_DAYS = 90  # past stays stay visible for a while, then drop off the feed
BOOKED = "Reserved"
CLOSED = "Not available"


def _new_token() -> str:
    return secrets.token_urlsafe(32)  # 43 characters, 256 bits


def export_for_unit(unit: Unit, now: datetime) -> CalendarExport:
    """The unit's export, made on first use."""
    return exports_for_units([unit], now)[unit.id]


def exports_for_units(units: list[Unit], now: datetime) -> dict[int, CalendarExport]:
    """Each unit's export in one query, making the missing ones."""
    return _get_or_make(CalendarExport.unit_id, [u.id for u in units], now)


def export_for_facility(facility: Facility, now: datetime) -> CalendarExport:
    """The facility's export, made on first use."""
    return _get_or_make(CalendarExport.facility_id, [facility.id], now)[facility.id]


def _get_or_make(column, ids: list[int], now: datetime) -> dict[int, CalendarExport]:
    """Exports by target id. Two first views at once may both try to make one:
    the loser's savepoint rolls back and it reads the winner's."""

    def existing() -> dict[int, CalendarExport]:
        rows = db.session.scalars(select(CalendarExport).where(column.in_(ids)))
        return {getattr(e, column.key): e for e in rows}

    found = existing()
    missing = [i for i in ids if i not in found]
    if missing:
        try:
            with db.session.begin_nested():
                db.session.add_all(
                    CalendarExport(token=_new_token(), created_at=now, **{column.key: i})
                    for i in missing
                )
        except IntegrityError:
            pass
        found = existing()
    return found


def rotate(export: CalendarExport, now: datetime) -> None:
    """A new secret address; the old one answers 404 from now on."""
    export.token = _new_token()
    export.rotated_at = now
    db.session.flush()


def export_by_token(token: str) -> CalendarExport | None:
    if not TOKEN_PATTERN.fullmatch(token):
        return None
    return db.session.scalar(select(CalendarExport).where(CalendarExport.token == token))


def _units_of(export: CalendarExport) -> list[Unit]:
    if export.unit_id is not None:
        return [export.unit]
    return list(export.facility.units)


def render(export: CalendarExport, today: date, uid_domain: str) -> bytes:
    """The feed's body: every current and future booking and block of its unit(s)."""
    units = _units_of(export)
    names = {u.id: u.name for u in units}
    facility = export.facility or export.unit.facility
    since = today - timedelta(days=HISTORY_DAYS)
    unit_ids = list(names)
    bookings = db.session.execute(
        select(Booking.id, Booking.unit_id, Booking.check_in, Booking.check_out, Booking.created_at)
        .where(
            Booking.unit_id.in_(unit_ids),
            Booking.status == BookingStatus.CONFIRMED,
            Booking.check_out > since,
        )
        .order_by(Booking.check_in, Booking.id)
    ).all()
    block_query = select(
        Block.id, Block.unit_id, Block.start_date, Block.end_date, Block.updated_at
    ).where(Block.unit_id.in_(unit_ids), Block.end_date > since)
    if not export.include_imported:
        block_query = block_query.where(Block.source == BlockSource.MANUAL)
    blocks = db.session.execute(block_query.order_by(Block.start_date, Block.id)).all()

    title = facility.name_en if export.unit_id is None else f"{facility.name_en} {units[0].name}"
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Engawa//Availability//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "X-WR-CALNAME:" + _text(f"Engawa: {title}"),
        "X-PUBLISHED-TTL:PT15M",
    ]
    for kind, summary, rows in (("booking", BOOKED, bookings), ("block", CLOSED, blocks)):
        for row_id, unit_id, start, end, stamp in rows:
            lines += [
                "BEGIN:VEVENT",
                f"UID:{kind}-{row_id}@{_text(uid_domain)}",
                f"DTSTAMP:{stamp.astimezone(UTC):%Y%m%dT%H%M%SZ}",
                f"DTSTART;VALUE=DATE:{start:%Y%m%d}",
                f"DTEND;VALUE=DATE:{end:%Y%m%d}",
                f"SUMMARY:{summary}",
            ]
            if export.unit_id is None:
                lines.append("DESCRIPTION:" + _text(names[unit_id]))
            lines += ["TRANSP:OPAQUE", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "".join(_fold(line) + "\r\n" for line in lines).encode()


def _text(value: str) -> str:
    """An RFC 5545 TEXT value: backslash, semicolon, comma and newlines escaped."""
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def _fold(line: str) -> str:
    """Fold at 75 octets without splitting a UTF-8 character (RFC 5545 3.1)."""
    if len(line.encode()) <= 75:
        return line
    parts, current, size = [], [], 0
    for char in line:
        width = len(char.encode())
        if size + width > (75 if not parts else 74):
            parts.append("".join(current))
            current, size = [], 0
        current.append(char)
        size += width
    parts.append("".join(current))
    return "\r\n ".join(parts)


def refresh_validators(export: CalendarExport, body: bytes, now: datetime) -> str:
    """ETag of ``body``; Last-Modified moves only when the body changed."""
    etag = hashlib.sha256(body).hexdigest()[:40]
    if export.etag != etag:
        export.etag = etag
        export.last_modified = now.replace(microsecond=0)
        db.session.flush()
    return etag
