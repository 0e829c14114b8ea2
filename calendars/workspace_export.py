"""Export: each workspace unit's held time as an iCal feed at a secret URL.

The nights' export (``calendars.export``) with its rules, for time: the feed says only
*that* time is taken (a workspace booking is ``Reserved``, an operator's closed time
``Not available``), never who took it; its UIDs are opaque and stable (``event_uid``,
under a key of their own, so a workspace unit's tag never equals a room's of the same id);
the ETag leaves out the DTSTAMPs; rotating the token kills the old address.

Here the events are timed: one VEVENT per hold of the unit (``SlotHold``) that ends
after the Tokyo midnight ``HISTORY_DAYS`` ago, DTSTART and DTEND in UTC (``…Z``). An
imported block is never exported (WorkspaceExport has no ``include_imported``: the
nights' default, since re-exporting what was imported makes two systems echo each
other's blocks for ever), and neither is a block without a hold (a conflict).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from availability.workspace import SlotHold, WorkspaceBlock, WorkspaceBlockSource
from calendars import export as calendar_export
from calendars.export import BOOKED, CLOSED, TOKEN_PATTERN, event_uid
from calendars.workspace_models import WorkspaceExport
from core.db import TOKYO, tokyo_today
from core.extensions import db
from core.keys import derive_key
from facilities.workspace import WorkspaceUnit

HISTORY_DAYS = 7


def uid_key(secret_key: str | bytes) -> bytes:
    """The HMAC key of workspace export UIDs, derived from SECRET_KEY (never the key)."""
    return derive_key(secret_key, "workspace calendar export uid v1")


def export_for_unit(unit: WorkspaceUnit, now: datetime) -> WorkspaceExport:
    """The unit's export, made on first use. Two first views at once may both try to
    make it: the loser's savepoint rolls back and it reads the winner's."""

    def existing() -> WorkspaceExport | None:
        return db.session.scalar(select(WorkspaceExport).where(WorkspaceExport.unit_id == unit.id))

    found = existing()
    if found is None:
        try:
            with db.session.begin_nested():
                db.session.add(
                    WorkspaceExport(
                        token=calendar_export._new_token(), unit_id=unit.id, created_at=now
                    )
                )
        except IntegrityError:
            pass
        found = existing()
    assert found is not None
    return found


def rotate(export: WorkspaceExport, now: datetime) -> None:
    """A new secret address; the old one answers 404 from now on."""
    calendar_export.rotate(export, now)  # the same columns as CalendarExport


def export_by_token(token: str) -> WorkspaceExport | None:
    """The export at this address, if its unit and facility are still active."""
    if not TOKEN_PATTERN.fullmatch(token):
        return None
    export = db.session.scalar(select(WorkspaceExport).where(WorkspaceExport.token == token))
    if export is None or not (export.unit.active and export.unit.facility.active):
        return None
    return export


@dataclass(frozen=True)
class Rendered:
    body: bytes
    etag: str  # of everything but the DTSTAMPs


def render(export: WorkspaceExport, now: datetime, key: bytes, uid_domain: str) -> Rendered:
    """The feed's body: the unit's holds from ``HISTORY_DAYS`` ago on, as timed events."""
    unit = export.unit
    since = datetime.combine(
        tokyo_today(now) - timedelta(days=HISTORY_DAYS), time(0), TOKYO
    ).astimezone(UTC)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Engawa//Workspace//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "X-WR-CALNAME:" + calendar_export._text(f"Engawa: {unit.facility.name_en} {unit.name}"),
        "X-PUBLISHED-TTL:PT15M",
    ]
    for booking_id, block_id, start, end in _holds(unit.id, since):
        kind, row_id = ("booking", booking_id) if booking_id is not None else ("block", block_id)
        lines += [
            "BEGIN:VEVENT",
            "UID:" + calendar_export._text(event_uid(key, kind, row_id, unit.id, uid_domain)),
            "DTSTAMP:" + calendar_export._STAMP,
            f"DTSTART:{_utc(start)}",
            f"DTEND:{_utc(end)}",
            f"SUMMARY:{BOOKED if kind == 'booking' else CLOSED}",
            "TRANSP:OPAQUE",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    text = "".join(calendar_export._fold(line) + "\r\n" for line in lines)
    etag = hashlib.sha256(text.encode()).hexdigest()[:40]
    # RFC 5545: with METHOD, DTSTAMP is when this iCalendar object was made.
    return Rendered(text.replace(calendar_export._STAMP, _utc(now)).encode(), etag)


def _holds(unit_id: int, since: datetime) -> list:
    """(booking id, block id, start, end) of the unit's holds ending after ``since``: a
    booking's, or a block's that is not imported; by start."""
    return list(
        db.session.execute(
            select(SlotHold.booking_id, SlotHold.block_id, SlotHold.starts_at, SlotHold.ends_at)
            .outerjoin(WorkspaceBlock, WorkspaceBlock.id == SlotHold.block_id)
            .where(
                SlotHold.unit_id == unit_id,
                SlotHold.ends_at > since,
                or_(
                    SlotHold.booking_id.is_not(None),
                    WorkspaceBlock.source != WorkspaceBlockSource.IMPORT,
                ),
            )
            .order_by(SlotHold.starts_at, SlotHold.id)
        )
    )


def _utc(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def refresh_validators(export: WorkspaceExport, etag: str, now: datetime) -> None:
    """Remember the content's ETag; Last-Modified moves only when the content changed."""
    calendar_export.refresh_validators(export, etag, now)  # (the same columns)
