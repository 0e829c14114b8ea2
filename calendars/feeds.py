"""External calendar feeds of units: adding, removing, health and conflicts.

Caps: a room imports at most MAX_FEEDS_PER_UNIT (10) feeds, and the rooms of one
operator organisation together at most CALENDAR_MAX_FEEDS_PER_OPERATOR (200),
so that no organisation can fill the sync with its feeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select
from sqlalchemy.orm import joinedload

from accounts.models import OperatorOrg, User
from availability.blocks import delete_blocks, reconcile_unit
from availability.models import Block, DirectStay
from calendars.models import CalendarConflict, CalendarFeed
from calendars.sync import lodged
from core.errors import RuleError
from core.extensions import db
from core.input_guard import NAME_REFUSED
from facilities.models import Facility, Unit

MAX_FEEDS_PER_UNIT = 10
MAX_FEEDS_PER_OPERATOR = 200  # the default of CALENDAR_MAX_FEEDS_PER_OPERATOR
FEED_SCHEMES = ("http", "https", "webcal")


class FeedError(RuleError):
    """An external feed that cannot be added."""


def masked_url(url: str) -> str:
    """Scheme and host only: the path and query often hold the feed's secret."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "…"
    return f"{parts.scheme}://{host}/…" if host else "…"


def operator_cap(config) -> int:
    """CALENDAR_MAX_FEEDS_PER_OPERATOR, with its default."""
    return int(config.get("CALENDAR_MAX_FEEDS_PER_OPERATOR", MAX_FEEDS_PER_OPERATOR))


def check_feed_url(url: str) -> str:
    url = url.strip()
    if not url or len(url) > 2000 or any(c.isspace() for c in url):
        raise FeedError(_l("Enter the feed's full address (up to 2,000 characters)."), "url")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        host = None
        parts = None
    if parts is None or parts.scheme.lower() not in FEED_SCHEMES or not host:
        raise FeedError(_l("The address must start with https:// (or http://, webcal://)."), "url")
    return url


def add_feed(
    unit: Unit,
    url: str,
    label: str,
    now: datetime,
    *,
    operator_cap: int = MAX_FEEDS_PER_OPERATOR,
    counts_as_lodging: bool = False,
) -> CalendarFeed:
    """Import ``url`` into ``unit``. The address is checked again on every fetch.

    ``counts_as_lodging``: its events are stays booked on another channel, counted
    towards a 住宅宿泊事業 house's 180 nights a year (``availability.night_cap``).

    At most MAX_FEEDS_PER_UNIT feeds per room and ``operator_cap`` per operator
    organisation; the organisation's row is locked while counting, so two
    additions at once cannot both take the last place.
    """
    url = check_feed_url(url)
    # One line: the label goes into mail subjects (a line break there is unsendable).
    label = " ".join(label.split())
    if not label or len(label) > 60 or NAME_REFUSED.search(label):
        raise FeedError(_l("Give the feed a name of up to 60 characters."), "label")
    operator_id = unit.facility.operator_id
    db.session.execute(
        select(OperatorOrg.id).where(OperatorOrg.id == operator_id).with_for_update()
    )
    existing = db.session.scalars(select(CalendarFeed).where(CalendarFeed.unit_id == unit.id))
    existing = list(existing)
    if any(f.url == url for f in existing):
        raise FeedError(_l("This room already imports that calendar."), "duplicate")
    if len(existing) >= MAX_FEEDS_PER_UNIT:
        raise FeedError(
            _l("A room can import at most %(n)d calendars.", n=MAX_FEEDS_PER_UNIT), "too_many"
        )
    if operator_feed_count(operator_id) >= operator_cap:
        raise FeedError(
            _l(
                "Your organisation already imports %(n)d calendars, the most it can."
                " Remove one you no longer need first.",
                n=operator_cap,
            ),
            "too_many_for_operator",
        )
    feed = CalendarFeed(
        unit_id=unit.id,
        url=url,
        label=label,
        counts_as_lodging=counts_as_lodging,
        created_at=now,
    )
    db.session.add(feed)
    db.session.flush()
    return feed


def operator_feed_count(operator_id: int) -> int:
    """Feeds of every room of the organisation's facilities, paused ones included."""
    return db.session.scalar(
        select(func.count())
        .select_from(CalendarFeed)
        .join(Unit, Unit.id == CalendarFeed.unit_id)
        .join(Facility, Facility.id == Unit.facility_id)
        .where(Facility.operator_id == operator_id)
    )


def set_counts_as_lodging(feed: CalendarFeed, counts: bool) -> int:
    """Mark whether the feed's events are stays booked on another channel; the blocks
    it imported follow at once: their nights count towards the 180-night cap of a
    住宅宿泊事業 house, or stop counting, and a closing the channel tells apart never
    counts (``calendars.sync.lodged``). Returns the blocks changed."""
    feed.counts_as_lodging = counts
    changed = 0
    for block in db.session.scalars(select(Block).where(Block.feed_id == feed.id)):
        lodging = lodged(counts, block.summary)
        if block.lodging != lodging:
            block.lodging = lodging
            changed += 1
    db.session.flush()
    return changed


def remove_feed(feed: CalendarFeed, today: date) -> None:
    """Stop importing: the feed's blocks go and their nights open (unless others want them)."""
    blocks = db.session.scalars(select(Block).where(Block.feed_id == feed.id)).all()
    delete_blocks(blocks)
    db.session.execute(delete(CalendarConflict).where(CalendarConflict.feed_id == feed.id))
    unit_id = feed.unit_id
    db.session.delete(feed)
    db.session.flush()
    reconcile_unit(unit_id, today)


@dataclass(frozen=True)
class FeedHealth:
    feed: CalendarFeed
    unit: Unit
    facility: Facility
    state: str  # "ok", "stale", "failing", "never", "paused"
    open_conflicts: int
    # Backing off after failures: the feed is not fetched again before then.
    retry_at: datetime | None = None


def feed_health(
    facility_ids: Sequence[int] | None, now: datetime, interval_minutes: int
) -> list[FeedHealth]:
    """Every feed (of these facilities, or all) with its state for the health page.

    Stale: the last success is older than twice the sync interval.
    """
    query = (
        select(CalendarFeed)
        .join(Unit, Unit.id == CalendarFeed.unit_id)
        .options(joinedload(CalendarFeed.unit).joinedload(Unit.facility))
        .order_by(Unit.facility_id, Unit.id, CalendarFeed.id)
    )
    if facility_ids is not None:
        query = query.where(Unit.facility_id.in_(list(facility_ids)) if facility_ids else False)
    feeds = db.session.scalars(query).all()
    open_by_feed = (
        select(CalendarConflict.feed_id, func.count())
        .where(CalendarConflict.resolved_at.is_(None))
        .group_by(CalendarConflict.feed_id)
    )
    if facility_ids is not None:
        open_by_feed = open_by_feed.where(CalendarConflict.feed_id.in_([f.id for f in feeds]))
    conflicts = dict(db.session.execute(open_by_feed).all())
    stale_before = now - timedelta(minutes=2 * interval_minutes)
    rows = []
    for feed in feeds:
        if not (feed.active and feed.unit.active and feed.unit.facility.active):
            state = "paused"  # not synced: the room or facility is off sale
        elif feed.last_success_at is None:
            state = "failing" if feed.last_error else "never"
        elif feed.last_success_at < stale_before:
            state = "stale"
        elif feed.last_error_at and feed.last_error_at > feed.last_success_at:
            state = "failing"
        else:
            state = "ok"
        retry_at = feed.next_attempt_at
        if state == "paused" or retry_at is None or retry_at <= now:
            retry_at = None
        rows.append(
            FeedHealth(
                feed, feed.unit, feed.unit.facility, state, conflicts.get(feed.id, 0), retry_at
            )
        )
    return rows


def open_conflicts(facility_ids: Sequence[int]) -> list[CalendarConflict]:
    """Open conflicts of these facilities, soonest first, with the stay each is over
    (a booking, or a direct stay and its block) loaded."""
    if not facility_ids:
        return []
    return list(
        db.session.scalars(
            select(CalendarConflict)
            .join(Unit, Unit.id == CalendarConflict.unit_id)
            .where(Unit.facility_id.in_(list(facility_ids)), CalendarConflict.resolved_at.is_(None))
            .options(
                joinedload(CalendarConflict.feed),
                joinedload(CalendarConflict.unit).joinedload(Unit.facility),
                joinedload(CalendarConflict.booking),
                joinedload(CalendarConflict.direct_stay).joinedload(DirectStay.block),
            )
            .order_by(CalendarConflict.first_night, CalendarConflict.id)
        )
    )


def resolve_conflict(conflict: CalendarConflict, actor: User, now: datetime) -> None:
    """The operator has dealt with it (moved the guest, cancelled elsewhere…), whether
    it is over a booking or a direct stay."""
    if conflict.resolved_at is None:
        conflict.resolved_at = now
        conflict.resolved_by_id = actor.id
        conflict.resolution = "operator"
        db.session.flush()
