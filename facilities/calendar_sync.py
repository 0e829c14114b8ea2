"""Import external calendars (Airbnb, Booking.com, Google…) as blocks.

A sync fetches every feed (concurrently: the time goes in waiting for the
network), then applies each result on its own: the events of a good feed become
blocks keyed by (feed, event key) — new events block nights, changed ones move,
vanished ones release theirs. A bad fetch or a bad body changes no block and is
recorded on the feed. An event over nights an Engawa booking holds becomes a
``CalendarConflict`` for the operator instead of failing the feed.

Nothing here commits: ``facilities.jobs.sync_calendars`` commits once per feed,
so one broken feed never undoes another's work.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import insert, select

from booking.dates import stay_nights
from booking.models import Booking
from core.db import TOKYO, tokyo_today
from core.extensions import db
from facilities.blocks import booked_nights, delete_blocks, queue_unit_refresh, reconcile_unit
from facilities.calendar_fetch import FetchError, FetchResult, fetch_feed
from facilities.calendar_parse import FeedParseError, ImportedEvent, read_feed
from facilities.models import (
    Block,
    BlockReason,
    BlockSource,
    CalendarConflict,
    CalendarFeed,
    Facility,
    Unit,
)


@dataclass(frozen=True)
class FetchSettings:
    allow_private: bool
    timeout: float
    max_bytes: int
    import_days: int
    own_uid_domain: str
    user_agent: str = "Engawa-Calendar-Sync/1.0 (+https://engawa.example/calendars)"

    @classmethod
    def from_config(cls, config) -> FetchSettings:
        return cls(
            allow_private=config["CALENDAR_ALLOW_PRIVATE_HOSTS"],
            timeout=float(config["CALENDAR_FETCH_TIMEOUT"]),
            max_bytes=config["CALENDAR_MAX_BYTES"],
            import_days=config["CALENDAR_IMPORT_DAYS"],
            own_uid_domain=config["CALENDAR_UID_DOMAIN"],
        )


@dataclass(frozen=True)
class FeedTarget:
    """What a fetch needs, copied out of the session so threads never touch it."""

    feed_id: int
    url: str
    etag: str | None
    last_modified: str | None


@dataclass
class SyncOutcome:
    feed_id: int
    status: str  # "changed", "unchanged" or "failed"
    events: int = 0
    added: int = 0
    moved: int = 0
    removed: int = 0
    conflicts: int = 0
    error: str | None = None


def targets(feeds: Sequence[CalendarFeed]) -> list[FeedTarget]:
    return [FeedTarget(f.id, f.url, f.etag, f.last_modified) for f in feeds]


def fetch(target: FeedTarget, settings: FetchSettings) -> FetchResult | FetchError:
    try:
        return fetch_feed(
            target.url,
            etag=target.etag,
            last_modified=target.last_modified,
            allow_private=settings.allow_private,
            timeout=settings.timeout,
            max_bytes=settings.max_bytes,
            user_agent=settings.user_agent,
        )
    except FetchError as exc:
        return exc


def fetch_all(
    feed_targets: Sequence[FeedTarget],
    settings: FetchSettings,
    workers: int,
    fetcher: Callable[[FeedTarget, FetchSettings], FetchResult | FetchError] = fetch,
) -> Iterator[tuple[FeedTarget, FetchResult | FetchError]]:
    """Fetch concurrently; yield each result as it arrives (in the caller's thread)."""
    if not feed_targets:
        return
    with ThreadPoolExecutor(max_workers=min(workers, len(feed_targets))) as pool:
        futures = {pool.submit(fetcher, t, settings): t for t in feed_targets}
        for future in as_completed(futures):
            yield futures[future], future.result()


def record_failure(feed: CalendarFeed, message: str, now: datetime) -> SyncOutcome:
    """Note a failed sync; every block the feed had stays as it was."""
    feed.last_attempt_at = now
    feed.last_error = message[:300]
    feed.last_error_at = now
    feed.failures = (feed.failures or 0) + 1
    return SyncOutcome(feed.id, "failed", events=feed.events_imported, error=feed.last_error)


def _record_success(feed: CalendarFeed, result: FetchResult, now: datetime) -> None:
    feed.last_attempt_at = now
    feed.last_success_at = now
    feed.last_error = None
    feed.failures = 0
    if result.etag:
        feed.etag = result.etag[:300]
    if result.last_modified:
        feed.last_modified = result.last_modified[:100]


def apply_result(
    feed: CalendarFeed, result: FetchResult | FetchError, now: datetime, settings: FetchSettings
) -> SyncOutcome:
    """Turn one fetch result into the feed's blocks and conflicts (flushes only)."""
    if isinstance(result, FetchError):
        return record_failure(feed, result.message, now)
    today = tokyo_today(now)
    if result.not_modified:
        _record_success(feed, result, now)
        return _unchanged(feed, now, today)

    body = result.body or b""
    digest = hashlib.sha256(body).hexdigest()
    same_day = feed.last_success_at is not None and tokyo_today(feed.last_success_at) == today
    if digest == feed.body_digest and same_day:
        # The server ignores conditional requests but sent the same bytes.
        _record_success(feed, result, now)
        return _unchanged(feed, now, today)

    facility = db.session.scalar(
        select(Facility).join(Unit, Unit.facility_id == Facility.id).where(Unit.id == feed.unit_id)
    )
    try:
        parsed = read_feed(
            body,
            tz=TOKYO,
            check_in=facility.check_in_time,
            check_out=facility.check_out_time,
            window_start=today,
            window_end=today + timedelta(days=settings.import_days),
        )
    except FeedParseError as exc:
        return record_failure(feed, str(exc), now)
    # Our own bookings come back from a channel that imported our feed: skip them.
    own = "@" + settings.own_uid_domain
    events = [e for e in parsed.events if not e.uid.endswith(own)]

    outcome = _apply_events(feed, events, parsed.unreadable_uids, now, today)
    _record_success(feed, result, now)
    feed.body_digest = digest
    feed.events_imported = len(events)
    return outcome


def _unchanged(feed: CalendarFeed, now: datetime, today: date) -> SyncOutcome:
    """Same events as last time: nothing to do, unless a conflict may have gone away.

    A booking can never take a night a block holds, and a cancellation hands its
    nights to the blocks at once (``booking.services.cancel_booking``); so only
    open conflicts need a second look.
    """
    open_conflict = db.session.scalar(
        select(CalendarConflict.id)
        .where(CalendarConflict.feed_id == feed.id, CalendarConflict.resolved_at.is_(None))
        .limit(1)
    )
    conflicts = 0
    if open_conflict is not None:
        reconcile_unit(feed.unit_id, today)
        conflicts = _record_conflicts(feed, now, today)
    return SyncOutcome(feed.id, "unchanged", events=feed.events_imported, conflicts=conflicts)


def _kept_for_unreadable(event_key: str, unreadable_uids: frozenset[str]) -> bool:
    """A block whose event is still in the feed but could not be read this time."""
    uid = event_key.split("/", 1)[0].split("#", 1)[0]
    return uid in unreadable_uids or event_key in unreadable_uids


def _apply_events(
    feed: CalendarFeed,
    events: list[ImportedEvent],
    unreadable_uids: frozenset[str],
    now: datetime,
    today: date,
) -> SyncOutcome:
    outcome = SyncOutcome(feed.id, "changed", events=len(events))
    # Past blocks too: an event that ended can come back (a stay extended).
    existing = {
        b.event_key: b for b in db.session.scalars(select(Block).where(Block.feed_id == feed.id))
    }
    seen: set[str] = set()
    new_blocks: list[dict] = []
    spans: list[tuple[date, date]] = []  # nights claimed or moved: re-priced after the commit
    for event in events:
        seen.add(event.key)
        block = existing.get(event.key)
        if block is None:
            new_blocks.append(
                {
                    "unit_id": feed.unit_id,
                    "start_date": event.start,
                    "end_date": event.end,
                    "source": BlockSource.IMPORT,
                    "reason": BlockReason.EXTERNAL,
                    "note": "",
                    "feed_id": feed.id,
                    "event_key": event.key,
                    "summary": event.summary[:200],
                    "created_at": now,
                    "updated_at": now,
                }
            )
            outcome.added += 1
            spans.append((event.start, event.end))
            continue
        # A block that began before today keeps its past nights as history.
        kept_past = event.start == today and block.start_date < today
        start = block.start_date if kept_past else event.start
        if (block.start_date, block.end_date, block.summary) != (start, event.end, event.summary):
            if (block.start_date, block.end_date) != (start, event.end):
                outcome.moved += 1
                spans += [(block.start_date, block.end_date), (start, event.end)]
            block.start_date, block.end_date = start, event.end
            block.summary = event.summary[:200]
            block.updated_at = now
    # Gone from the feed: release its nights. Past blocks stay as history, and a
    # block whose event is present but unreadable this time is kept.
    gone = [
        b
        for key, b in existing.items()
        if key not in seen and b.end_date > today and not _kept_for_unreadable(key, unreadable_uids)
    ]
    outcome.removed = len(gone)
    delete_blocks(gone)  # (queues the nights it releases for re-pricing)
    if new_blocks:  # one bulk insert, not an object per event (1,000 feeds × 50 events)
        db.session.execute(insert(Block), new_blocks)
    db.session.flush()
    reconcile_unit(feed.unit_id, today)
    queue_unit_refresh(feed.unit, spans)
    outcome.conflicts = _record_conflicts(feed, now, today)
    return outcome


def _record_conflicts(feed: CalendarFeed, now: datetime, today: date) -> int:
    """Open a conflict for each (event, booking) overlap; clear those that went away.

    Returns the number of open conflicts of this feed.
    """
    blocks = db.session.scalars(
        select(Block).where(Block.feed_id == feed.id, Block.end_date > today)
    ).all()
    overlaps: dict[tuple[str, int], tuple[Block, list[date]]] = {}
    if blocks:
        taken = booked_nights([feed.unit_id], today, max(b.end_date for b in blocks))
        for block in blocks:
            for night in stay_nights(max(block.start_date, today), block.end_date):
                booking_id = taken.get((feed.unit_id, night))
                if booking_id is not None:
                    overlaps.setdefault((block.event_key, booking_id), (block, []))[1].append(night)
    if overlaps:
        # A channel that imported our feed may publish our stay back under its own
        # UID as a closed period ("Airbnb (Not available)"): a block over exactly
        # the stay's dates that does not call itself a reservation is that echo.
        # A "Reserved" event is a guest of theirs: always a conflict.
        stays = {
            booking_id: (check_in, check_out)
            for booking_id, check_in, check_out in db.session.execute(
                select(Booking.id, Booking.check_in, Booking.check_out).where(
                    Booking.id.in_({booking_id for _key, booking_id in overlaps})
                )
            )
        }
        overlaps = {
            key: value
            for key, value in overlaps.items()
            if stays[key[1]] != (value[0].start_date, value[0].end_date)
            or "reserved" in value[0].summary.lower()
        }

    known = {
        (c.event_key, c.booking_id): c
        for c in db.session.scalars(
            select(CalendarConflict).where(CalendarConflict.feed_id == feed.id)
        )
    }
    open_count = 0
    for key, (block, nights) in overlaps.items():
        conflict = known.get(key)
        if conflict is None:
            conflict = CalendarConflict(
                feed_id=feed.id,
                unit_id=feed.unit_id,
                event_key=block.event_key,
                booking_id=key[1],
                detected_at=now,
            )
            db.session.add(conflict)
        elif conflict.resolution == "cleared":
            conflict.resolved_at = conflict.resolution = conflict.resolved_by_id = None
            conflict.detected_at = now
        conflict.event_summary = block.summary
        conflict.event_start, conflict.event_end = block.start_date, block.end_date
        conflict.first_night, conflict.nights = nights[0], len(nights)
        open_count += conflict.resolved_at is None
    for key, conflict in known.items():
        if key not in overlaps and conflict.resolved_at is None:
            conflict.resolved_at = now
            conflict.resolution = "cleared"
    db.session.flush()
    return open_count


def feeds_to_sync(unit_id: int | None = None) -> list[CalendarFeed]:
    """Active feeds of active units of active facilities (or of one unit), by id."""
    query = (
        select(CalendarFeed)
        .join(Unit, Unit.id == CalendarFeed.unit_id)
        .join(Facility, Facility.id == Unit.facility_id)
        .where(CalendarFeed.active.is_(True))
        .order_by(CalendarFeed.id)
    )
    if unit_id is not None:
        query = query.where(CalendarFeed.unit_id == unit_id)
    else:
        query = query.where(Unit.active.is_(True), Facility.active.is_(True))
    return list(db.session.scalars(query))
