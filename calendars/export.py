"""Export: each unit's and each facility's nights as an iCal feed at a secret URL.

The feed leaves the system (Airbnb, Booking.com, Google import it), so it says
only *that* a night is taken: a booking or a direct stay the operator recorded is
``Reserved``, a block ``Not available``; no guest names, e-mails or notes. Events are all-day, DTEND
exclusive, with opaque UIDs that never change (an HMAC of the booking or block,
so they reveal neither ids nor volume) and a DTSTAMP of the moment the body is
rendered (RFC 5545). The ETag is a digest of everything but the DTSTAMPs, so an
unchanged calendar keeps its ETag.

Each UID ends in a tag of its room (``<event>-<room tag>@<domain>``): a room that
imports a channel which re-publishes Engawa's events recognises its own (and
skips them) while another room's block its nights (``is_own_event``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from availability.models import Block, BlockSource
from booking.models import COUNTED_STATUSES, Booking
from calendars.models import CalendarExport
from core.db import tokyo_today
from core.extensions import db
from core.input_guard import TEXT_REFUSED
from core.keys import derive_key
from facilities.models import Facility, Unit

TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{32,64}")
HISTORY_DAYS = 90  # past stays stay visible for a while, then drop off the feed
BOOKED = "Reserved"
CLOSED = "Not available"
_EVENT_CHARS = 26  # base32 characters of the event's HMAC (130 bits)
_TAG_CHARS = 16  # … and of the room's tag (80 bits)
_STAMP = "\x00STAMP\x00"  # DTSTAMP placeholder: no TEXT value can hold a NUL


def uid_key(secret_key: str | bytes) -> bytes:
    """The HMAC key of export UIDs, derived from SECRET_KEY (never the key itself).

    A new SECRET_KEY gives every event a new UID: calendar apps replace them
    once, and echoes of the old UIDs are not recognised until the channels
    re-import.
    """
    return derive_key(secret_key, "calendar export uid v1")


def _mac(key: bytes, message: str, chars: int) -> str:
    digest = hmac.new(key, message.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower()[:chars]


def room_tag(key: bytes, unit_id: int) -> str:
    """The opaque tag every UID of the room's events ends in."""
    return _mac(key, f"unit:{unit_id}", _TAG_CHARS)


def event_uid(key: bytes, kind: str, row_id: int, unit_id: int, domain: str) -> str:
    """``kind`` is "booking" or "block"; stable for as long as the row exists."""
    return f"{_mac(key, f'{kind}:{row_id}', _EVENT_CHARS)}-{room_tag(key, unit_id)}@{domain}"


def _uid_pattern(domain: str) -> re.Pattern[str]:
    return re.compile(
        rf"[a-z2-7]{{{_EVENT_CHARS}}}-([a-z2-7]{{{_TAG_CHARS}}})@{re.escape(domain)}",
        re.IGNORECASE,
    )


def is_engawa_uid(uid: str, domain: str) -> bool:
    return _uid_pattern(domain).fullmatch(uid) is not None


def is_own_event(uid: str, key: bytes, unit_id: int, domain: str) -> bool:
    """An event this very room exported (through its own feed or its facility's),
    come back through a channel: an echo. Another room's event is not."""
    match = _uid_pattern(domain).fullmatch(uid)
    return match is not None and hmac.compare_digest(match.group(1).lower(), room_tag(key, unit_id))


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
    """The export at this address, if its room or facility is still active.

    A deactivated facility's feed and its rooms' feeds, and a deactivated room's
    feed, answer as if the address did not exist.
    """
    if not TOKEN_PATTERN.fullmatch(token):
        return None
    export = db.session.scalar(select(CalendarExport).where(CalendarExport.token == token))
    if export is None:
        return None
    if export.unit_id is not None:
        live = export.unit.active and export.unit.facility.active
    else:
        live = export.facility.active
    return export if live else None


def _units_of(export: CalendarExport) -> list[Unit]:
    if export.unit_id is not None:
        return [export.unit]
    return list(export.facility.units)


@dataclass(frozen=True)
class Rendered:
    body: bytes
    etag: str  # of everything but the DTSTAMPs


def render(export: CalendarExport, now: datetime, uid_key: bytes, uid_domain: str) -> Rendered:
    """The feed's body: every current and future booking and block of its unit(s)."""
    units = _units_of(export)
    names = {u.id: u.name for u in units}
    facility = export.facility or export.unit.facility
    since = tokyo_today(now) - timedelta(days=HISTORY_DAYS)
    bookings, blocks = _rows(export, list(names), since)

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
    seen: set[str] = set()
    for kind, rows in (("booking", bookings), ("block", blocks)):
        for row_id, unit_id, start, end, imported_key, source in rows:
            if end <= start:  # a no-show marked on its first day holds no night
                continue
            summary = CLOSED if kind == "block" and source != BlockSource.DIRECT else BOOKED
            if imported_key and is_engawa_uid(imported_key, uid_domain):
                # Another Engawa room's event passed on: keep its UID, so the room it
                # came from still knows it for its own (no loop between two rooms).
                uid = imported_key
            else:
                uid = event_uid(uid_key, kind, row_id, unit_id, uid_domain)
            if uid in seen:
                continue
            seen.add(uid)
            lines += [
                "BEGIN:VEVENT",
                "UID:" + _text(uid),
                "DTSTAMP:" + _STAMP,
                f"DTSTART;VALUE=DATE:{start:%Y%m%d}",
                f"DTEND;VALUE=DATE:{end:%Y%m%d}",
                f"SUMMARY:{summary}",
            ]
            if export.unit_id is None:
                lines.append("DESCRIPTION:" + _text(names[unit_id]))
            lines += ["TRANSP:OPAQUE", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    text = "".join(_fold(line) + "\r\n" for line in lines)
    etag = hashlib.sha256(text.encode()).hexdigest()[:40]
    # RFC 5545: with METHOD, DTSTAMP is when this iCalendar object was made.
    stamp = f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    return Rendered(text.replace(_STAMP, stamp).encode(), etag)


def _rows(export: CalendarExport, unit_ids: list[int], since: date) -> tuple[list, list]:
    """The bookings and blocks the feed shows, each row as (id, unit_id, start, end,
    imported event key or None, block source or None), in feed order. A stay ends
    where it stops holding nights (a no-show or an early check-out gave them back)."""
    held_until = func.coalesce(Booking.released_on, Booking.check_out)
    bookings = db.session.execute(
        select(Booking.id, Booking.unit_id, Booking.check_in, held_until)
        .where(
            Booking.unit_id.in_(unit_ids),
            Booking.status.in_(COUNTED_STATUSES),
            held_until > since,
        )
        .order_by(Booking.check_in, Booking.id)
    ).all()
    bookings = [(*row, None, None) for row in bookings]  # (no imported event key)
    block_query = select(
        Block.id, Block.unit_id, Block.start_date, Block.end_date, Block.event_key, Block.source
    ).where(Block.unit_id.in_(unit_ids), Block.end_date > since)
    if not export.include_imported:
        block_query = block_query.where(Block.source.in_((BlockSource.MANUAL, BlockSource.DIRECT)))
    blocks = db.session.execute(block_query.order_by(Block.start_date, Block.id)).all()
    return bookings, blocks


def _text(value: str) -> str:
    """An RFC 5545 TEXT value: backslash, semicolon, comma and newlines escaped."""
    return (
        TEXT_REFUSED.sub("", value)
        .replace("\\", "\\\\")
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


def refresh_validators(export: CalendarExport, etag: str, now: datetime) -> None:
    """Remember the content's ETag; Last-Modified moves only when the content changed.

    Last-Modified is therefore when Engawa first served this content, which is
    at or after the change itself (a booking, a block, a name) and moves
    exactly when the ETag does.
    """
    if export.etag != etag:
        export.etag = etag
        export.last_modified = now.replace(microsecond=0)
        db.session.flush()
