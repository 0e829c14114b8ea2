"""Import external calendars (Airbnb, Booking.com, Google…) as blocks.

A sync fetches every due feed (concurrently: the time goes in waiting for the
network; each operator organisation gets its fair share of the workers, so one
organisation's slow feeds cannot hold up everyone else's), then applies each
result on its own: the events of a good feed become blocks keyed by (feed,
event key) — new events block nights, changed ones move, vanished ones release
theirs. A bad fetch or a bad body changes no block, is recorded on the feed,
and backs the feed off (15 min, 30, 1 h … 6 h) until it succeeds again. An
event over nights a stay holds (an Engawa booking, or a direct stay the operator
recorded) becomes a ``CalendarConflict`` for the operator instead of failing the
feed, unless it is the channel's copy of that very stay (``_is_echo_of``).

Nothing here commits: ``calendars.jobs.sync_calendars`` commits once per feed,
so one broken feed never undoes another's work.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import insert, select

from accounts.events import CALENDAR_CONFLICT, emit
from availability.blocks import booked_nights, delete_blocks, queue_unit_refresh, reconcile_unit
from availability.models import Block, BlockReason, BlockSource, DirectStay, Occupancy
from booking.models import Booking
from calendars.export import is_own_event, uid_key
from calendars.fetch import FetchError, FetchResult, fetch_feed
from calendars.models import CalendarConflict, CalendarFeed
from calendars.parse import FeedParseError, ImportedEvent, read_feed
from core.dates import stay_nights
from core.db import TOKYO, tokyo_today
from core.extensions import db
from facilities.models import Facility, Unit

# Who holds a night an imported event wants: ("booking", id) or ("direct_stay", id).
Holder = tuple[str, int]
BOOKING = "booking"
DIRECT_STAY = "direct_stay"
# (event key, holder) → the event's block and the nights it shares with that stay.
Overlaps = dict[tuple[str, Holder], tuple[Block, list[date]]]

# Back-off of a failing feed: skipped for 15 min after a failure, then 30, 1 h,
# 2 h, 4 h, and 6 h after every further one; a success ends it. A sync that
# starts up to BACKOFF_SLACK early still tries (scheduled runs drift a little).
BACKOFF_FIRST = timedelta(minutes=15)
BACKOFF_MAX = timedelta(hours=6)
BACKOFF_SLACK = timedelta(minutes=1)
_HEADER_VALUE = re.compile(r"[\x20-\x7e\x80-\xff]+")


def backoff_delay(failures: int) -> timedelta:
    """How long a feed with ``failures`` failures in a row is left alone."""
    if failures <= 0:
        return timedelta(0)
    return min(BACKOFF_FIRST * 2 ** min(failures - 1, 16), BACKOFF_MAX)


@dataclass(frozen=True)
class FetchSettings:
    allow_private: bool
    timeout: float
    max_bytes: int
    import_days: int
    own_uid_domain: str
    own_uid_key: bytes = b""
    user_agent: str = "Engawa-Calendar-Sync/1.0 (+https://engawa.example/calendars)"

    @classmethod
    def from_config(cls, config) -> FetchSettings:
        return cls(
            allow_private=config["CALENDAR_ALLOW_PRIVATE_HOSTS"],
            timeout=float(config["CALENDAR_FETCH_TIMEOUT"]),
            max_bytes=config["CALENDAR_MAX_BYTES"],
            import_days=config["CALENDAR_IMPORT_DAYS"],
            own_uid_domain=config["CALENDAR_UID_DOMAIN"],
            own_uid_key=uid_key(config["SECRET_KEY"]),
        )


@dataclass(frozen=True)
class FeedTarget:
    """What a fetch needs, copied out of the session so threads never touch it."""

    feed_id: int
    url: str
    etag: str | None
    last_modified: str | None
    operator_id: int = 0  # whose share of the sync it is fetched in


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
    """Targets of these feeds (one query for their organisations)."""
    if not feeds:
        return []
    operator_of = dict(
        db.session.execute(
            select(Unit.id, Facility.operator_id)
            .join(Facility, Facility.id == Unit.facility_id)
            .where(Unit.id.in_({f.unit_id for f in feeds}))
        ).all()
    )
    return [FeedTarget(f.id, f.url, f.etag, f.last_modified, operator_of[f.unit_id]) for f in feeds]


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
    """Fetch concurrently, organisations taking turns; yield each result as it
    arrives (in the caller's thread).

    Fairness: the organisations with feeds still waiting take turns (round
    robin), and none has more than its share of the workers in flight — the
    workers divided by the organisations still waiting, rounded up. So an
    organisation whose 200 feeds all time out holds at most its share, while
    every other organisation's feeds go through the rest; once the others are
    done, the slow one gets every worker.
    """
    if not feed_targets:
        return
    waiting: dict[int, deque[FeedTarget]] = {}
    for target in feed_targets:
        waiting.setdefault(target.operator_id, deque()).append(target)
    turns = deque(waiting)  # organisations, in the order they take turns
    in_flight: Counter[int] = Counter()
    workers = max(1, min(workers, len(feed_targets)))
    running: dict[Future, FeedTarget] = {}

    def next_target() -> FeedTarget | None:
        share = math.ceil(workers / len(waiting)) if waiting else workers
        for _ in range(len(turns)):
            operator_id = turns[0]
            turns.rotate(-1)
            if in_flight[operator_id] < share:
                target = waiting[operator_id].popleft()
                if not waiting[operator_id]:
                    del waiting[operator_id]
                    turns.remove(operator_id)
                return target
        return None

    with ThreadPoolExecutor(max_workers=workers) as pool:

        def start_next() -> None:
            while len(running) < workers and (target := next_target()) is not None:
                running[pool.submit(fetcher, target, settings)] = target
                in_flight[target.operator_id] += 1

        start_next()
        while running:
            done, _pending = wait(running, return_when=FIRST_COMPLETED)
            finished = []
            for future in done:
                target = running.pop(future)
                in_flight[target.operator_id] -= 1
                finished.append((target, future.result()))
            # Start the next fetches before handing the results over: applying
            # them takes the caller a while, the network should not wait for it.
            start_next()
            yield from finished


def record_failure(feed: CalendarFeed, message: str, now: datetime) -> SyncOutcome:
    """Note a failed sync and back the feed off; every block it had stays as it was."""
    feed.last_attempt_at = now
    feed.last_error = message[:300]
    feed.last_error_at = now
    feed.failures = (feed.failures or 0) + 1
    feed.next_attempt_at = now + backoff_delay(feed.failures)
    return SyncOutcome(feed.id, "failed", events=feed.events_imported, error=feed.last_error)


def _record_success(feed: CalendarFeed, result: FetchResult, now: datetime) -> None:
    feed.last_attempt_at = now
    feed.last_success_at = now
    feed.last_error = None
    feed.failures = 0
    feed.next_attempt_at = None
    # Validators go back out as request headers: only what a header may hold.
    if result.etag and _HEADER_VALUE.fullmatch(result.etag):
        feed.etag = result.etag[:300]
    if result.last_modified and _HEADER_VALUE.fullmatch(result.last_modified):
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
    # This room's own bookings and blocks come back from a channel that imported
    # its feed (or its facility's): skip them. Other rooms' events block nights.
    events = [
        e
        for e in parsed.events
        if not is_own_event(e.uid, settings.own_uid_key, feed.unit_id, settings.own_uid_domain)
    ]

    outcome = _apply_events(feed, events, parsed.unreadable_uids, now, today)
    _record_success(feed, result, now)
    feed.body_digest = digest
    feed.events_imported = len(events)
    return outcome


def _unchanged(feed: CalendarFeed, now: datetime, today: date) -> SyncOutcome:
    """Same events as last time: nothing to do, unless a conflict may have gone away.

    A booking or a direct stay can never take a night a block holds, and a
    cancellation hands its nights to the blocks at once
    (``booking.cancellation.cancel_booking``, ``availability.direct.cancel_direct_stay``);
    so only open conflicts need a second look.
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
            new_blocks.append(_new_block_row(feed, event, now))
            outcome.added += 1
            spans.append((event.start, event.end))
            continue
        moved = _update_block(block, event, now, today)
        block.lodging = lodged(feed.counts_as_lodging, event.summary)
        if moved:
            outcome.moved += 1
            spans += moved
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


def _new_block_row(feed: CalendarFeed, event: ImportedEvent, now: datetime) -> dict:
    """The row of the block a new event claims its nights with."""
    return {
        "unit_id": feed.unit_id,
        # As listed, so a stay that has begun keeps its real first night
        # (nights before today are never claimed: reconcile_unit).
        "start_date": event.first_listed,
        "end_date": event.end,
        "source": BlockSource.IMPORT,
        "reason": BlockReason.EXTERNAL,
        "note": "",
        "feed_id": feed.id,
        "event_key": event.key,
        "summary": event.summary[:200],
        # A stay booked on another channel counts towards a 住宅宿泊事業 house's 180
        # nights a year; a closing on it does not (``lodged``).
        "lodging": lodged(feed.counts_as_lodging, event.summary),
        "created_at": now,
        "updated_at": now,
    }


def _update_block(
    block: Block, event: ImportedEvent, now: datetime, today: date
) -> list[tuple[date, date]]:
    """Bring a known event's block up to date; its old and new span if it moved."""
    # A block that began before today keeps its past nights as history, also
    # when the channel stops listing them.
    kept_past = event.first_listed == today and block.start_date < today
    start = block.start_date if kept_past else event.first_listed
    moved: list[tuple[date, date]] = []
    if (block.start_date, block.end_date, block.summary) != (start, event.end, event.summary):
        if (block.start_date, block.end_date) != (start, event.end):
            moved = [(block.start_date, block.end_date), (start, event.end)]
        block.start_date, block.end_date = start, event.end
        block.summary = event.summary[:200]
        block.updated_at = now
    return moved


def _record_conflicts(feed: CalendarFeed, now: datetime, today: date) -> int:
    """Open a conflict for each (event, stay) overlap; clear those that went away.

    A stay is a booking or a direct stay, each conflict keyed by its kind and id: the
    same rules for both. A conflict seen for the first time is news for the operator
    (a ``calendar.conflict`` event in the same transaction); one already open, seen
    again on the next sync, is not. Returns the number of open conflicts of this feed.
    """
    overlaps = _overlaps(feed, today)
    known = {
        (c.event_key, _holder_of(c)): c
        for c in db.session.scalars(
            select(CalendarConflict).where(CalendarConflict.feed_id == feed.id)
        )
    }
    open_count = 0
    new: list[CalendarConflict] = []
    for key, (block, nights) in overlaps.items():
        conflict = known.get(key)
        if conflict is None:
            kind, holder_id = key[1]
            conflict = CalendarConflict(
                feed_id=feed.id,
                unit_id=feed.unit_id,
                event_key=block.event_key,
                booking_id=holder_id if kind == BOOKING else None,
                direct_stay_id=holder_id if kind == DIRECT_STAY else None,
                detected_at=now,
            )
            db.session.add(conflict)
            new.append(conflict)
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
    if new:
        operator_id = db.session.scalar(
            select(Facility.operator_id)
            .join(Unit, Unit.facility_id == Facility.id)
            .where(Unit.id == feed.unit_id)
        )
        for conflict in new:
            emit(CALENDAR_CONFLICT, now, operator_id=operator_id, subject=("conflict", conflict.id))
    return open_count


def _holder_of(conflict: CalendarConflict) -> Holder:
    if conflict.direct_stay_id is not None:
        return DIRECT_STAY, conflict.direct_stay_id
    return BOOKING, conflict.booking_id


def _overlaps(feed: CalendarFeed, today: date) -> Overlaps:
    """The feed's current blocks over nights a stay holds, by (event key, holder), with
    the nights they share; the channel's echoes of our own stays left out."""
    blocks = db.session.scalars(
        select(Block).where(Block.feed_id == feed.id, Block.end_date > today)
    ).all()
    overlaps: Overlaps = {}
    if not blocks:
        return overlaps
    end = max(b.end_date for b in blocks)
    holders: dict[date, Holder] = {
        night: (BOOKING, booking_id)
        for (_unit, night), booking_id in booked_nights([feed.unit_id], today, end).items()
    }
    stays: dict[Holder, tuple[date, date]] = {}
    for night, direct_id, check_in, check_out in _direct_nights(feed.unit_id, today, end):
        holders[night] = (DIRECT_STAY, direct_id)
        stays[(DIRECT_STAY, direct_id)] = (check_in, check_out)
    for block in blocks:
        for night in stay_nights(max(block.start_date, today), block.end_date):
            holder = holders.get(night)
            if holder is not None:
                overlaps.setdefault((block.event_key, holder), (block, []))[1].append(night)
    booking_ids = {holder_id for _key, (kind, holder_id) in overlaps if kind == BOOKING}
    if booking_ids:
        stays.update(
            ((BOOKING, booking_id), (check_in, check_out))
            for booking_id, check_in, check_out in db.session.execute(
                select(Booking.id, Booking.check_in, Booking.check_out).where(
                    Booking.id.in_(booking_ids)
                )
            )
        )
    return {
        key: value for key, value in overlaps.items() if not _is_echo_of(value[0], stays[key[1]])
    }


def _direct_nights(unit_id: int, start: date, end: date):
    """(night, direct stay id, its check-in, its check-out) for the nights in [start, end)
    of the unit that direct stays hold."""
    return db.session.execute(
        select(Occupancy.night, DirectStay.id, Block.start_date, Block.end_date)
        .join(Block, Block.id == Occupancy.block_id)
        .join(DirectStay, DirectStay.block_id == Block.id)
        .where(Occupancy.unit_id == unit_id, Occupancy.night >= start, Occupancy.night < end)
    ).all()


def _is_echo_of(block: Block, stay: tuple[date, date]) -> bool:
    """The channel's copy of our own stay (a booking, or a direct stay: both are in our
    export), not a guest of theirs.

    A channel that imported our feed publishes our stay back under its own UID
    as a closed period ("Airbnb (Not available)", "CLOSED - Not available"). The
    rule, one for every stay, begun or not: the event's dates as the feed lists
    them are exactly the stay's check-in and check-out, and it does not call
    itself a reservation. A "Reserved" event is a guest of theirs: always a
    conflict; so is an event that starts or ends on another day than the stay.
    (A stay that has begun: a feed listing only from today on is a conflict.)
    """
    return (block.start_date, block.end_date) == stay and not is_reservation(block.summary)


def is_reservation(summary: str) -> bool:
    """The event calls itself a reservation ("Reserved"; Vrbo's "Reserved - <name>"):
    a guest of the channel. Anything else is a closed period: the host's closing
    ("Airbnb (Not available)", Booking.com's "CLOSED - Not available", "Blocked") or the
    channel's copy of one of our stays. The one rule for echoes and lodged nights."""
    return "reserved" in summary.lower()


def is_host_closing(summary: str) -> bool:
    """A closing the channel tells apart from its reservations: Airbnb writes its guests
    as "Reserved" and the host's own blocks as "Airbnb (Not available)", and a calendar
    may say "Blocked". (Booking.com writes guests and closings alike, "CLOSED - Not
    available": those are not told apart.)"""
    text = summary.lower()
    return "airbnb (not available)" in text or text.strip() == "blocked"


def lodged(counts_as_lodging: bool, summary: str) -> bool:
    """Whether an imported event's nights are lodged nights (``Block.lodging``, counted
    towards a 住宅宿泊事業 house's 180 nights a year), on a feed the operator marked as
    stays booked elsewhere: every event but a closing the channel tells apart from its
    reservations. An event that cannot be told apart counts: the 180 nights are a legal
    maximum, so a doubt counts against it rather than for it."""
    return counts_as_lodging and (is_reservation(summary) or not is_host_closing(summary))


def _feed_query(unit_id: int | None):
    query = (
        select(CalendarFeed)
        .join(Unit, Unit.id == CalendarFeed.unit_id)
        .join(Facility, Facility.id == Unit.facility_id)
        .where(CalendarFeed.active.is_(True))
        .order_by(CalendarFeed.id)
    )
    if unit_id is not None:
        return query.where(CalendarFeed.unit_id == unit_id)
    return query.where(Unit.active.is_(True), Facility.active.is_(True))


def feeds_to_sync(unit_id: int | None = None) -> list[CalendarFeed]:
    """Active feeds of active units of active facilities (or of one unit), by id,
    backing off or not."""
    return list(db.session.scalars(_feed_query(unit_id)))


def due_targets(now: datetime, unit_id: int | None = None) -> tuple[list[FeedTarget], int]:
    """What to fetch now, and how many feeds are left alone while they back off.

    One unit's feeds (a sync by hand for a room) are all fetched, backing off or not.
    """
    query = _feed_query(unit_id).with_only_columns(
        CalendarFeed.id,
        CalendarFeed.url,
        CalendarFeed.etag,
        CalendarFeed.last_modified,
        Facility.operator_id,
        CalendarFeed.next_attempt_at,
    )
    due, backing_off = [], 0
    for feed_id, url, etag, last_modified, operator_id, next_attempt_at in db.session.execute(
        query
    ):
        if (
            unit_id is None
            and next_attempt_at is not None
            and next_attempt_at > now + BACKOFF_SLACK
        ):
            backing_off += 1
            continue
        due.append(FeedTarget(feed_id, url, etag, last_modified, operator_id))
    return due, backing_off
