"""Re-pricing after a booking, a cancellation or a block: the changed-nights queue
(``availability.changes``) read after the commit, one transaction per facility."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import delete, exists, select

from availability.models import ChangedNights
from core.db import tokyo_today
from core.extensions import db
from pricing.engine import (
    DEFAULT_HORIZON_DAYS,
    REFRESH_MARGIN,
    Counts,
    PriceCache,
    reprice_facility,
)


def refresh_pending() -> bool:
    return bool(db.session.scalar(select(exists().where(ChangedNights.id.is_not(None)))))


def refresh_queued(
    now: datetime, *, limit: int = 500, horizon_days: int = DEFAULT_HORIZON_DAYS
) -> Counts:
    """Re-price what bookings and cancellations queued; one transaction per facility.

    A facility's queued ranges are merged into one span and its queue rows are
    deleted in the same transaction as its new prices: a crash re-does the work,
    never loses it.
    """
    today = tokyo_today(now)
    queued = db.session.execute(
        select(
            ChangedNights.id,
            ChangedNights.facility_id,
            ChangedNights.start_date,
            ChangedNights.end_date,
        )
        .order_by(ChangedNights.id)
        .limit(limit)
    ).all()
    db.session.commit()
    spans: dict[int, tuple[list[int], date, date]] = {}
    # The nights around a change are re-priced too (gaps, pace): a margin each side.
    margin = timedelta(days=REFRESH_MARGIN)
    for row_id, fid, changed_start, changed_end in queued:
        start, end = changed_start - margin, changed_end + margin
        ids, first, stop = spans.get(fid, ([], start, end))
        ids.append(row_id)
        spans[fid] = (ids, min(first, start), max(stop, end))
    total = Counts()
    cache = PriceCache()
    for fid, (ids, start, end) in spans.items():
        total.add(
            reprice_facility(
                fid,
                today,
                now,
                start=start,
                end=end,
                cause="booking",
                cache=cache,
                horizon_days=horizon_days,
            )
        )
        db.session.execute(delete(ChangedNights).where(ChangedNights.id.in_(ids)))
        db.session.commit()
    return total
