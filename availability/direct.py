"""Direct stays: a stay that did not come through Engawa (a walk-in, a phone booking),
recorded by the operator so the tape chart is the whole truth. Its nights are held
by a ``Block`` of source ``direct``; see ``availability.models.DirectStay``."""

from __future__ import annotations

from datetime import date, datetime

from accounts.models import User
from availability.models import DirectStay
from facilities.models import Unit

MAX_GUEST_NAME = 100
MAX_NOTE = 300


def record_direct_stay(
    actor: User,
    unit: Unit,
    start: date,
    end: date,
    *,
    guest_name: str,
    guests: int,
    nightly_price: int,
    note: str,
    now: datetime,
) -> DirectStay:
    """Record a direct stay of ``unit`` over [start, end): every night must be free
    (a night held by a booking, a closing or another direct stay refuses it as
    ``taken``, nothing is recorded). Dates may start in the past (a walk-in recorded
    late) but not end before today. The unit must be the actor's."""
    raise NotImplementedError


def operator_direct_stay(actor: User, direct_id: int) -> DirectStay | None:
    """A direct stay in one of the actor's organisation's facilities, else None."""
    raise NotImplementedError


def cancel_direct_stay(direct: DirectStay, now: datetime) -> None:
    """Remove a direct stay and give its nights back (another block that wants them
    takes them, as when a closing is reopened)."""
    raise NotImplementedError
