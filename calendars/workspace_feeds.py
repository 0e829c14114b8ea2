"""Workspace units' external calendar feeds: adding, removing, their state and the
conflicts of their events, for the operator's page (``calendars.feeds`` for rooms).

Caps, counted apart from the rooms' feeds: a unit imports at most MAX_FEEDS_PER_UNIT
(10) feeds, and the units of one operator organisation together at most
CALENDAR_MAX_FEEDS_PER_OPERATOR (200).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from accounts.models import OperatorOrg, User
from availability.workspace import WorkspaceBlock, hold_span, holds_between, reconcile_unit
from calendars import feeds
from calendars.workspace_models import WorkspaceFeed
from calendars.workspace_sync import SYNC_NOW_GAP, delete_blocks
from core.extensions import db
from core.input_guard import NAME_REFUSED
from facilities.models import Facility
from facilities.services import owned
from facilities.workspace import WorkspaceUnit

MAX_FEEDS_PER_UNIT = feeds.MAX_FEEDS_PER_UNIT


# -- an operator's own units and feeds ---------------------------------------------------


def operator_unit(actor: User, unit_id: int) -> WorkspaceUnit | None:
    """A workspace unit of the actor's facilities; None for another's or an unknown id."""
    return owned(actor, WorkspaceUnit, unit_id, lambda u: u.facility, WorkspaceUnit.facility)


def operator_feed(actor: User, feed_id: int) -> WorkspaceFeed | None:
    return owned(
        actor,
        WorkspaceFeed,
        feed_id,
        lambda f: f.unit.facility,
        WorkspaceFeed.unit,
        WorkspaceUnit.facility,
    )


# -- adding and removing feeds -----------------------------------------------------------


def add_feed(
    unit: WorkspaceUnit,
    url: str,
    label: str,
    now: datetime,
    *,
    operator_cap: int = feeds.MAX_FEEDS_PER_OPERATOR,
) -> WorkspaceFeed:
    """Import ``url`` into ``unit`` (the address is checked again on every fetch).

    The caps of room feeds, counted for workspace apart: at most MAX_FEEDS_PER_UNIT per
    unit and ``operator_cap`` per operator organisation, counted under the
    organisation's row lock so two additions at once cannot both take the last place.
    """
    url = feeds.check_feed_url(url)
    label = " ".join(label.split())
    if not label or len(label) > 60 or NAME_REFUSED.search(label):
        raise feeds.FeedError(_l("Give the feed a name of up to 60 characters."), "label")
    operator_id = unit.facility.operator_id
    db.session.execute(
        select(OperatorOrg.id).where(OperatorOrg.id == operator_id).with_for_update()
    )
    existing = list(
        db.session.scalars(select(WorkspaceFeed).where(WorkspaceFeed.unit_id == unit.id))
    )
    if any(f.url == url for f in existing):
        raise feeds.FeedError(_l("This space already imports that calendar."), "duplicate")
    if len(existing) >= MAX_FEEDS_PER_UNIT:
        raise feeds.FeedError(
            _l("A space can import at most %(n)d calendars.", n=MAX_FEEDS_PER_UNIT), "too_many"
        )
    count = db.session.scalar(
        select(func.count())
        .select_from(WorkspaceFeed)
        .join(WorkspaceUnit, WorkspaceUnit.id == WorkspaceFeed.unit_id)
        .join(Facility, Facility.id == WorkspaceUnit.facility_id)
        .where(Facility.operator_id == operator_id)
    )
    if count >= operator_cap:
        raise feeds.FeedError(
            _l(
                "Your organisation already imports %(n)d calendars into its spaces, the most"
                " it can. Remove one you no longer need first.",
                n=operator_cap,
            ),
            "too_many_for_operator",
        )
    feed = WorkspaceFeed(unit_id=unit.id, url=url, label=label, created_at=now)
    db.session.add(feed)
    db.session.flush()
    return feed


def remove_feed(feed: WorkspaceFeed, now: datetime) -> None:
    """Stop importing: the feed's blocks go (past ones too) and their time opens, unless
    another feed's unheld block wants it."""
    unit = feed.unit
    delete_blocks(
        list(db.session.scalars(select(WorkspaceBlock).where(WorkspaceBlock.feed_id == feed.id)))
    )
    db.session.delete(feed)
    db.session.flush()
    reconcile_unit(unit, now)


# -- what the operator's page shows ------------------------------------------------------


@dataclass(frozen=True)
class FeedStatus:
    feed: WorkspaceFeed
    state: str  # "ok", "stale", "failing", "never", "paused" (as calendars.feeds)
    conflicts: int
    retry_at: datetime | None  # backing off after failures: not fetched before then


@dataclass(frozen=True)
class Conflict:
    """An imported block over time a booking or another block holds."""

    block: WorkspaceBlock
    feed: WorkspaceFeed
    booking_ids: list[int]  # the workspace bookings in its way
    blocks_in_way: int  # and the other blocks (closings, other feeds' events)


def feed_statuses(unit: WorkspaceUnit, now: datetime, interval_minutes: int) -> list[FeedStatus]:
    """The unit's feeds with their state. Stale: the last success is older than twice the
    sync interval."""
    unit_feeds = db.session.scalars(
        select(WorkspaceFeed).where(WorkspaceFeed.unit_id == unit.id).order_by(WorkspaceFeed.id)
    ).all()
    unheld = dict(
        db.session.execute(
            select(WorkspaceBlock.feed_id, func.count())
            .where(
                WorkspaceBlock.unit_id == unit.id,
                WorkspaceBlock.held.is_(False),
                WorkspaceBlock.ends_at > now,
                WorkspaceBlock.feed_id.is_not(None),
            )
            .group_by(WorkspaceBlock.feed_id)
        ).all()
    )
    stale_before = now - timedelta(minutes=2 * interval_minutes)
    live = unit.active and unit.facility.active
    rows = []
    for feed in unit_feeds:
        if not (feed.active and live):
            state = "paused"
        elif feed.last_success_at is None:
            state = "failing" if feed.last_error else "never"
        elif feed.last_error_at and feed.last_error_at > feed.last_success_at:
            state = "failing"
        elif feed.last_success_at < stale_before:
            state = "stale"
        else:
            state = "ok"
        retry_at = feed.next_attempt_at
        if state == "paused" or retry_at is None or retry_at <= now:
            retry_at = None
        rows.append(FeedStatus(feed, state, unheld.get(feed.id, 0), retry_at))
    return rows


def conflicts(unit: WorkspaceUnit, now: datetime) -> list[Conflict]:
    """The unit's imported blocks that could not take their time, soonest first, with
    what holds it."""
    rows = db.session.execute(
        select(WorkspaceBlock, WorkspaceFeed)
        .join(WorkspaceFeed, WorkspaceFeed.id == WorkspaceBlock.feed_id)
        .where(
            WorkspaceBlock.unit_id == unit.id,
            WorkspaceBlock.held.is_(False),
            WorkspaceBlock.ends_at > now,
        )
        .order_by(WorkspaceBlock.starts_at, WorkspaceBlock.id)
    ).all()
    found = []
    for block, feed in rows:
        start, end = hold_span(block, unit.slot_minutes, now)
        in_way = holds_between([unit.id], start, end)
        found.append(
            Conflict(
                block,
                feed,
                [h.booking_id for h in in_way if h.booking_id is not None],
                sum(1 for h in in_way if h.block_id is not None),
            )
        )
    return found


def synced_moments_ago(unit: WorkspaceUnit, now: datetime) -> bool:
    """A feed of the unit was fetched less than SYNC_NOW_GAP ago ("sync now" waits)."""
    latest = db.session.scalar(
        select(func.max(WorkspaceFeed.last_attempt_at)).where(WorkspaceFeed.unit_id == unit.id)
    )
    return latest is not None and latest > now - SYNC_NOW_GAP
