"""Import external calendars into workspace units: timed events block slots.

The nights' pipeline (``calendars.sync``) with its pieces reused: due feeds fetched
concurrently with each operator organisation's fair share (``fetch_all``, the guarded
``fetch``), conditional requests, a body seen before on the same Tokyo day skipped by
its digest, a failure recorded on the feed (its message is the fetch's or the parser's
short English text, never the URL; an unexpected error is logged by its class only) and
backed off (15 min, 30, 1 h … 6 h), every block kept as it was.

A good feed's events (``calendars.workspace_parse``) become ``WorkspaceBlock`` rows of
source ``import``, keyed by (feed, event key), rounded outward to the unit's slot
boundaries. Events of one feed that overlap once rounded (meetings at 09:00–09:50 and
09:50–10:40 on 30-minute slots) are one block, keyed by the first: a feed never
conflicts with itself. A block claims its time (``availability.workspace.claim``) from
the current slot on (time already past is never claimed); when a booking or another
block holds any of it, the block stays unheld (``held=False``): a conflict the operator
sees on the unit's calendar page. Every sync, changed or not, re-tries the unit's
unheld imported blocks (``availability.workspace.reconcile_unit``, which a cancellation
also calls: the time it frees is blocked at once).
A changed event moves its block (its hold released and claimed again); a vanished one
deletes its block and releases its time. Blocks that ended stay as history; a block
whose event is in the feed but unreadable this time is kept.

Nothing here commits but the job (``sync_workspace_calendars``), once per feed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from flask import current_app
from sqlalchemy import func, select

from availability.workspace import (
    SlotHold,
    WorkspaceBlock,
    WorkspaceBlockSource,
    reconcile_unit,
    release,
    round_down,
    round_up,
)
from calendars import sync as calendar_sync
from calendars import workspace_export
from calendars.export import is_own_event
from calendars.fetch import FetchError, FetchResult
from calendars.parse import FeedParseError
from calendars.workspace_models import WorkspaceFeed
from calendars.workspace_parse import TimedEvent, read_timed_feed
from core import metrics
from core.db import TOKYO, tokyo_today
from core.extensions import db
from core.job_summary import N_, JobSummary, joined, summary
from facilities.models import Facility
from facilities.workspace import WorkspaceUnit

log = logging.getLogger(__name__)

HORIZON_DAYS = 180  # or CALENDAR_IMPORT_DAYS, when that is shorter
MAX_EVENT_DAYS = 31  # a longer event is left out (and counted)
SYNC_NOW_GAP = timedelta(minutes=1)  # "sync now" fetches a unit's feeds at most this often


@dataclass
class WorkspaceOutcome(calendar_sync.SyncOutcome):
    too_long: int = 0  # events left out for lasting longer than MAX_EVENT_DAYS


# -- holding and releasing the time ------------------------------------------------------


def delete_blocks(blocks: Sequence[WorkspaceBlock]) -> None:
    """Delete imported blocks, releasing the time they hold."""
    holds = _holds_of(blocks)
    for block in blocks:
        if block.id in holds:
            release(holds[block.id])
        db.session.delete(block)
    db.session.flush()


def _holds_of(blocks: Sequence[WorkspaceBlock]) -> dict[int, SlotHold]:
    ids = [b.id for b in blocks]
    if not ids:
        return {}
    return {
        h.block_id: h
        for h in db.session.scalars(select(SlotHold).where(SlotHold.block_id.in_(ids)))
    }


# -- the sync ----------------------------------------------------------------------------


def _feed_query(unit_id: int | None):
    query = (
        select(WorkspaceFeed)
        .join(WorkspaceUnit, WorkspaceUnit.id == WorkspaceFeed.unit_id)
        .join(Facility, Facility.id == WorkspaceUnit.facility_id)
        .where(WorkspaceFeed.active.is_(True))
        .order_by(WorkspaceFeed.id)
    )
    if unit_id is not None:
        return query.where(WorkspaceFeed.unit_id == unit_id)
    return query.where(WorkspaceUnit.active.is_(True), Facility.active.is_(True))


def due_targets(now: datetime, unit_id: int | None = None) -> tuple[list, int]:
    """What to fetch now, and how many feeds are left alone while they back off. One
    unit's feeds (its "sync now") are all fetched, backing off or not."""
    query = _feed_query(unit_id).with_only_columns(
        WorkspaceFeed.id,
        WorkspaceFeed.url,
        WorkspaceFeed.etag,
        WorkspaceFeed.last_modified,
        Facility.operator_id,
        WorkspaceFeed.next_attempt_at,
    )
    due, backing_off = [], 0
    for feed_id, url, etag, last_modified, operator_id, next_at in db.session.execute(query):
        if unit_id is None and next_at is not None and next_at > now + calendar_sync.BACKOFF_SLACK:
            backing_off += 1
            continue
        due.append(calendar_sync.FeedTarget(feed_id, url, etag, last_modified, operator_id))
    return due, backing_off


def sync_workspace_calendars(
    now: datetime,
    *,
    unit_id: int | None = None,
    progress: Callable[[WorkspaceOutcome], None] | None = None,
    fetcher=calendar_sync.fetch,
) -> JobSummary:
    """Import every active workspace feed that is not backing off (or every feed of one
    unit). Each feed is its own transaction: one that fails, even unexpectedly, rolls
    back alone, keeps its blocks and has the failure recorded. Re-running with
    unchanged feeds changes nothing but the sync timestamps (and claims freed time)."""
    config = current_app.config
    settings = calendar_sync.FetchSettings.from_config(config)
    key = workspace_export.uid_key(config["SECRET_KEY"])
    targets, backing_off = due_targets(now, unit_id)
    db.session.commit()  # no transaction stays open while we wait for the network
    counts = {"changed": 0, "unchanged": 0, "failed": 0}
    conflicts = too_long = 0
    workers = config["CALENDAR_SYNC_WORKERS"]
    for target, result in calendar_sync.fetch_all(targets, settings, workers, fetcher):
        outcome = _apply_one(target.feed_id, result, now, settings, key)
        counts[outcome.status] += 1
        metrics.FEED_SYNCS.labels(outcome=outcome.status).inc()
        conflicts += outcome.conflicts
        too_long += outcome.too_long
        if progress is not None:
            progress(outcome)
    parts = [
        summary(
            N_(
                "%(feeds)d workspace feeds: %(changed)d changed, %(unchanged)d unchanged,"
                " %(failed)d failed"
            ),
            feeds=len(targets),
            **counts,
        ),
        summary(N_("%(n)d open conflicts"), n=conflicts),
    ]
    if too_long:
        parts.append(summary(N_("%(n)d events too long to import"), n=too_long))
    if backing_off:
        parts.append(summary(N_("%(n)d backing off after failures"), n=backing_off))
    return joined(*parts)


def _apply_one(feed_id: int, result, now: datetime, settings, key: bytes) -> WorkspaceOutcome:
    try:
        feed = db.session.get(WorkspaceFeed, feed_id)
        if feed is None:  # removed by its operator while we were fetching
            db.session.rollback()
            return WorkspaceOutcome(feed_id, "failed", error="feed removed")
        outcome = apply_result(feed, result, now, settings, key)
        db.session.commit()
        return outcome
    except Exception as exc:
        db.session.rollback()
        # The feed id and the error class only: a message could carry the feed URL's
        # secret token or an event's summary.
        log.error("workspace feed %s: sync failed (%s)", feed_id, type(exc).__name__)
        feed = db.session.get(WorkspaceFeed, feed_id)
        if feed is None:
            return WorkspaceOutcome(feed_id, "failed", error="feed removed")
        outcome = _failed(feed, "internal error while importing", now)
        db.session.commit()
        return outcome


def _failed(feed: WorkspaceFeed, message: str, now: datetime) -> WorkspaceOutcome:
    """A failed sync noted and backed off; every block stays as it was."""
    outcome = calendar_sync.record_failure(feed, message, now)  # the same columns
    return WorkspaceOutcome(**dataclasses.asdict(outcome))


def window_of(now: datetime, import_days: int) -> tuple[datetime, datetime]:
    """The import horizon: from today's Tokyo midnight, HORIZON_DAYS (or fewer) on."""
    start = datetime.combine(tokyo_today(now), time(0), TOKYO).astimezone(UTC)
    return start, start + timedelta(days=min(HORIZON_DAYS, import_days))


def apply_result(
    feed: WorkspaceFeed,
    result: FetchResult | FetchError,
    now: datetime,
    settings: calendar_sync.FetchSettings,
    key: bytes,
) -> WorkspaceOutcome:
    """Turn one fetch result into the feed's blocks and their holds (flushes only)."""
    if isinstance(result, FetchError):
        return _failed(feed, result.message, now)
    unit = db.session.get(WorkspaceUnit, feed.unit_id)
    body = result.body or b""
    digest = hashlib.sha256(body).hexdigest()
    same_day = feed.last_success_at is not None and tokyo_today(
        feed.last_success_at
    ) == tokyo_today(now)
    if result.not_modified or (digest == feed.body_digest and same_day):
        calendar_sync._record_success(feed, result, now)
        return WorkspaceOutcome(
            feed.id, "unchanged", events=feed.events_imported, conflicts=_conflicts(unit, feed, now)
        )
    window_start, window_end = window_of(now, settings.import_days)
    try:
        parsed = read_timed_feed(
            body,
            now=now,
            window_start=window_start,
            window_end=window_end,
            max_length=timedelta(days=MAX_EVENT_DAYS),
        )
    except FeedParseError as exc:
        return _failed(feed, str(exc), now)
    # This unit's own bookings and closings come back from a calendar that imported its
    # export: skip them (another unit's are events like any other).
    events = [
        e
        for e in parsed.events
        if not is_own_event(e.uid, key, feed.unit_id, settings.own_uid_domain)
    ]
    outcome = _apply_events(feed, unit, events, parsed.unreadable_uids, now, window_start)
    outcome.too_long = parsed.too_long
    calendar_sync._record_success(feed, result, now)
    feed.body_digest = digest
    feed.events_imported = len(events)
    return outcome


def merged_spans(
    events: Sequence[TimedEvent], slot_minutes: int
) -> dict[str, tuple[datetime, datetime, str]]:
    """Each block the events make, by event key: ``(start, end, summary)`` on the slot
    boundaries; events that overlap once rounded make one block, keyed by the first."""
    spans = sorted(
        (
            (round_down(e.start, slot_minutes), round_up(e.end, slot_minutes), e.key, e.summary)
            for e in events
        ),
        key=lambda span: (span[0], span[2]),
    )
    blocks: dict[str, tuple[datetime, datetime, str]] = {}
    current: str | None = None
    for start, end, key, text in spans:
        if current is not None and start < blocks[current][1]:
            first_start, first_end, first_text = blocks[current]
            blocks[current] = (first_start, max(first_end, end), first_text)
            continue
        current = key
        blocks[key] = (start, end, text)
    return blocks


def _apply_events(
    feed: WorkspaceFeed,
    unit: WorkspaceUnit,
    events: list[TimedEvent],
    unreadable_uids: frozenset[str],
    now: datetime,
    window_start: datetime,
) -> WorkspaceOutcome:
    outcome = WorkspaceOutcome(feed.id, "changed", events=len(events))
    wanted = merged_spans(events, unit.slot_minutes)
    existing = {
        b.event_key: b
        for b in db.session.scalars(select(WorkspaceBlock).where(WorkspaceBlock.feed_id == feed.id))
    }
    holds = _holds_of(list(existing.values()))
    for key, (start, end, text) in wanted.items():
        block = existing.get(key)
        if block is None:
            db.session.add(_new_block(feed, key, start, end, text, now))
            outcome.added += 1
            continue
        # Clipped to today's midnight: a block that began earlier keeps its start.
        if start == window_start and block.starts_at < window_start:
            start = block.starts_at
        if (block.starts_at, block.ends_at) != (start, end):
            if block.id in holds:
                release(holds.pop(block.id))
            block.starts_at, block.ends_at, block.held = start, end, False
            outcome.moved += 1
        block.summary = text[:200]
    gone = [
        b
        for key, b in existing.items()
        if key not in wanted
        and b.ends_at > now
        and not calendar_sync._kept_for_unreadable(key, unreadable_uids)
    ]
    outcome.removed = len(gone)
    delete_blocks(gone)  # released before anything claims
    outcome.conflicts = _conflicts(unit, feed, now)
    return outcome


def _new_block(
    feed: WorkspaceFeed, key: str, start: datetime, end: datetime, text: str, now: datetime
) -> WorkspaceBlock:
    return WorkspaceBlock(
        unit_id=feed.unit_id,
        starts_at=start,
        ends_at=end,
        source=WorkspaceBlockSource.IMPORT,
        note="",
        feed_id=feed.id,
        event_key=key,
        summary=text[:200],
        held=False,
        created_at=now,
    )


def _conflicts(unit: WorkspaceUnit, feed: WorkspaceFeed, now: datetime) -> int:
    """Claim what is free (``reconcile_unit``); the feed's blocks still unheld."""
    reconcile_unit(unit, now)
    return db.session.scalar(
        select(func.count())
        .select_from(WorkspaceBlock)
        .where(
            WorkspaceBlock.feed_id == feed.id,
            WorkspaceBlock.held.is_(False),
            WorkspaceBlock.ends_at > now,
        )
    )
