"""The desks of a stay follow it (issue 19, a stay and a desk in one booking).

A desk booked with a stay (``WorkspaceBooking.stay_id``, ``booking.workspace_package``)
is held and charged as its stay is, and ends or moves with it:

- ``desks_follow_confirmed``: the stay is confirmed (``booking.services.confirm_stay``,
  after its approval or the employee's payment): its waiting desks are confirmed and
  charged to the company's stay credit with it (``billing.workspace_ledger``), all or
  none (``CreditRefused``: the caller rolls back, as for the stay).
- ``desks_follow_ended``: the stay ended before it began (cancelled, withdrawn, rejected,
  expired, a no-show): each desk still open gives its time back at once. A desk that was
  never charged (the stay waited) returns nothing; a charged one returns by the workspace
  policy (``billing.workspace_ledger``), or everything with ``full`` (the operator or the
  company ended the stay, not the employee). A charged desk whose time has begun is left
  to the desk's own check-in rules (``booking.workspace_checkin``) unless ``full``.
- ``desks_follow_changed``: the stay's dates changed: the desks on days no longer in the
  stay (check-in day to check-out day, both included) are cancelled as above; the others
  stay.
- ``desks_follow_departure``: the guest checked out early: the desks on the days after the
  departure day are cancelled by the workspace policy, as if the employee cancelled them
  when they left (leaving early is their choice; the departure day's own desk stays, as
  that day stays a working day, ``booking.purpose``).

Each of these has a preview that changes and locks nothing, for the pages that state the
money before the person confirms (``desks_refund_if_ended``, ``desks_dropped_by_change``,
``desks_refund_if_departed``): the same rule (``_ending``) decides which desks end and
what each returns, so what a page shows is what the action does at the same ``now``.

This module sits below ``booking.services`` and every stay flow (they import it), so it
knows stays only as models: it never imports ``booking.services`` or
``booking.workspace`` (which imports the services).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select

from accounts import events
from accounts.models import User
from availability.workspace import give_back, hold_of_booking
from billing.models import CreditEntry
from billing.workspace_ledger import refund_workspace, spend_for_workspace, workspace_terms
from booking.models import Booking
from booking.workspace_models import OPEN_WORKSPACE, WorkspaceBooking, WorkspaceStatus
from core.db import TOKYO
from core.extensions import db


def open_desks(stay_id: int, *, lock: bool = True) -> list[WorkspaceBooking]:
    """The stay's desks still waiting or confirmed, soonest first; locked unless a preview
    asks (``lock=False``)."""
    query = (
        select(WorkspaceBooking)
        .where(
            WorkspaceBooking.stay_id == stay_id,
            WorkspaceBooking.status.in_(OPEN_WORKSPACE),
        )
        .order_by(WorkspaceBooking.starts_at, WorkspaceBooking.id)
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return list(db.session.scalars(query))


@dataclass(frozen=True)
class DeskEnding:
    """One desk an action on its stay would cancel, and the yen it returns to the
    company's credit (0 for a desk never charged: ``charged`` is False)."""

    desk: WorkspaceBooking
    refund: int

    @property
    def charged(self) -> bool:
        return self.desk.status != WorkspaceStatus.WAITING


def total_refund(endings: list[DeskEnding]) -> int:
    return sum(e.refund for e in endings)


def desks_of_stay(stay_id: int) -> list[WorkspaceBooking]:
    """Every desk booked with the stay (any status), soonest first: for the stay's pages."""
    return list(
        db.session.scalars(
            select(WorkspaceBooking)
            .where(WorkspaceBooking.stay_id == stay_id)
            .order_by(WorkspaceBooking.starts_at, WorkspaceBooking.id)
        )
    )


def desks_follow_confirmed(stay: Booking, actor: User, now: datetime, grace_days: int) -> None:
    """The stay was confirmed: its waiting desks are confirmed and charged with it."""
    waiting = [desk for desk in open_desks(stay.id) if desk.status == WorkspaceStatus.WAITING]
    if not waiting:
        return
    for desk in waiting:
        desk.status = WorkspaceStatus.CONFIRMED
    db.session.flush()
    spend_for_workspace(waiting, actor, now, grace_days)


def desks_follow_ended(
    stay: Booking, now: datetime, actor: User | None, *, full: bool = False
) -> int:
    """The stay ended before it was lived: cancel each of its open desks (see the
    module); the yen returned to the company's credit."""
    return _cancel_all(_endings(open_desks(stay.id), now, full), now, actor)


def desks_follow_changed(
    stay: Booking, now: datetime, actor: User | None, *, full: bool = False
) -> int:
    """The stay's dates changed: cancel its open desks on days outside the new dates
    (``full``: an operator's move, everything back); the yen returned."""
    desks = _outside(open_desks(stay.id), stay.check_in, stay.check_out)
    return _cancel_all(_endings(desks, now, full), now, actor)


def desks_follow_departure(stay: Booking, day: date, now: datetime, actor: User | None) -> int:
    """The guest left on ``day``, before the stay's check-out: cancel its open desks on
    later days by the workspace policy (see the module); the yen returned."""
    desks = [desk for desk in open_desks(stay.id) if desk_day(desk) > day]
    return _cancel_all(_endings(desks, now, False), now, actor)


# --- Previews: what the same action would do at ``now``; nothing locked or changed ------


def desks_refund_if_ended(stay: Booking, now: datetime, *, full: bool = False) -> list[DeskEnding]:
    """The desks cancelling the stay at ``now`` would cancel, each with its yen back."""
    return _endings(open_desks(stay.id, lock=False), now, full)


def desks_dropped_by_change(
    stay: Booking, new_check_in: date, new_check_out: date, now: datetime, *, full: bool = False
) -> list[DeskEnding]:
    """The desks changing the stay to these dates at ``now`` would cancel (those on days
    outside them), each with its yen back; the others stay."""
    desks = _outside(open_desks(stay.id, lock=False), new_check_in, new_check_out)
    return _endings(desks, now, full)


def desks_refund_if_departed(stay: Booking, day: date, now: datetime) -> list[DeskEnding]:
    """The desks checking the guest out on ``day`` at ``now`` would cancel."""
    desks = [desk for desk in open_desks(stay.id, lock=False) if desk_day(desk) > day]
    return _endings(desks, now, False)


def desks_cancelled_at(stay_id: int, now: datetime) -> list[WorkspaceBooking]:
    """The stay's desks an action at ``now`` cancelled (their ``refunded`` is what that
    returned): what a page says after the action."""
    return list(
        db.session.scalars(
            select(WorkspaceBooking)
            .where(
                WorkspaceBooking.stay_id == stay_id,
                WorkspaceBooking.status == WorkspaceStatus.CANCELLED,
                WorkspaceBooking.cancelled_at == now,
            )
            .order_by(WorkspaceBooking.starts_at, WorkspaceBooking.id)
        )
    )


# --- The rule --------------------------------------------------------------------------


def _refund_on_ending(desk: WorkspaceBooking, now: datetime, full: bool) -> int | None:
    """The one rule of a desk ending with its stay: the yen it returns, or None when it is
    not ended. A waiting desk was never charged: always ended, nothing back. A charged one
    returns by the workspace policy (``billing.workspace_ledger.workspace_terms``), or
    what is left of its price with ``full``; once begun, it is left to its own check-in
    rules (``booking.workspace_checkin``) unless ``full``."""
    if desk.status == WorkspaceStatus.WAITING:
        return 0
    if not full and now >= desk.starts_at:
        return None
    terms = workspace_terms(desk.total_price, desk.starts_at)
    amount = desk.total_price if full else terms.refund_at(now)
    return max(0, min(amount, desk.total_price - (desk.refunded or 0)))


def _endings(desks: list[WorkspaceBooking], now: datetime, full: bool) -> list[DeskEnding]:
    endings = []
    for desk in desks:
        refund = _refund_on_ending(desk, now, full)
        if refund is not None:
            endings.append(DeskEnding(desk, refund))
    return endings


def _outside(desks: list[WorkspaceBooking], check_in: date, check_out: date):
    return [desk for desk in desks if not check_in <= desk_day(desk) <= check_out]


def _cancel_all(endings: list[DeskEnding], now: datetime, actor: User | None) -> int:
    return sum(_cancel_desk(e, now, actor) for e in endings)


def desk_day(desk: WorkspaceBooking):
    """The Tokyo date of a desk's time."""
    return desk.starts_at.astimezone(TOKYO).date()


def _cancel_desk(ending: DeskEnding, now: datetime, actor: User | None) -> int:
    """Cancel one locked open desk: its time back at once, its refund as the rule said
    (nothing if it was never charged); the yen returned. (``booking.workspace.
    cancel_workspace`` for a desk cancelled on its own.)"""
    desk = ending.desk
    refund = refund_workspace(desk, ending.refund, now) if ending.charged else 0
    desk.refunded = (desk.refunded or 0) + refund
    desk.status = WorkspaceStatus.CANCELLED
    desk.cancelled_at = now
    give_back(hold_of_booking(desk.id), desk.unit, now)  # free at once, or to a waiting event
    events.emit(
        events.WORKSPACE_CANCELLED,
        now,
        company_id=desk.company_id,
        operator_id=desk.unit.facility.operator_id,
        user_id=desk.user_id,
        actor_id=actor.id if actor is not None else None,
        subject=("workspace_booking", desk.id),
        data={"refund": refund, "with_stay": desk.stay_id},
    )
    return refund


def desks_credit(desks: Sequence[WorkspaceBooking]) -> int:
    """What the desks took from the company's stay credit, net of what came back (a desk
    still waiting took nothing): from the ledger's own entries."""
    ids = [desk.id for desk in desks]
    if not ids:
        return 0
    net = db.session.scalar(
        select(func.coalesce(func.sum(CreditEntry.amount), 0)).where(
            CreditEntry.workspace_booking_id.in_(ids)
        )
    )
    return -net


def desks_by_stay(stay_ids) -> dict[int, list[WorkspaceBooking]]:
    """Each stay's desks (any status), soonest first: for My stays."""
    ids = list(stay_ids)
    found: dict[int, list[WorkspaceBooking]] = {stay_id: [] for stay_id in ids}
    if not ids:
        return found
    for desk in db.session.scalars(
        select(WorkspaceBooking)
        .where(WorkspaceBooking.stay_id.in_(ids))
        .order_by(WorkspaceBooking.starts_at, WorkspaceBooking.id)
    ):
        found[desk.stay_id].append(desk)
    return found
