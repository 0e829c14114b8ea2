"""Stays that wait for approval (issue 18): approve, reject, withdraw, who may decide,
the approver's queue and pages, and what each outcome does to the nights, the credit,
the audit log and the people told. Every flow ends with the data's invariants holding
(``operations.invariants``)."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from accounts.audit import AuditEntry
from accounts.events import Event
from accounts.mail import OutgoingMail, body_of
from accounts.models import Role, User
from availability.models import Occupancy
from billing import ledger
from billing.models import CreditEntry, PaymentStatus, StayPayment, Subscription
from booking import approvals, copay, holds, services
from booking.approvals import ApprovalError
from booking.models import ApprovalDecision, Booking, BookingStatus, StayApproval
from hr.models import GroupPolicy, SubsidyKind
from notifications.dispatch import dispatch_events
from notifications.models import Notice
from operations import invariants
from tests.conftest import NOW, TODAY, days, signed_in

GRACE = services.DEFAULT_GRACE_DAYS
HOLD = timedelta(hours=48)  # GroupPolicy.approval_hours' default


# --- the world and its helpers ----------------------------------------------------------------


@pytest.fixture
def world(db, make_company, make_user, make_unit):
    return make_world(db, make_company, make_user, make_unit)


def make_world(db, make_company, make_user, make_unit) -> SimpleNamespace:
    """A company whose policy asks for approval of every stay: an employee whose manager
    approves, a deputy, a company admin; an outsider of another company (no policy) and
    that company's admin; one room."""
    company = make_company(name="株式会社承認")
    manager = make_user(Role.EMPLOYEE, company=company, locale="en", name="Manager Mori")
    deputy = make_user(Role.EMPLOYEE, company=company, locale="en", name="Deputy Ueda")
    admin = make_user(Role.COMPANY_ADMIN, company=company, locale="en", name="Admin Abe")
    employee = make_user(
        Role.EMPLOYEE, company=company, manager_id=manager.id, locale="en", name="Emi Employee"
    )
    colleague = make_user(Role.EMPLOYEE, company=company, name="Colleague Kato")
    policy = GroupPolicy(
        company_id=company.id, employee_group="", approval_all=True, deputy_id=deputy.id
    )
    db.session.add(policy)
    other_company = make_company()
    outsider = make_user(Role.EMPLOYEE, company=other_company)
    other_admin = make_user(Role.COMPANY_ADMIN, company=other_company)
    unit = make_unit(base_price=10_000, capacity=4)
    db.session.commit()
    return SimpleNamespace(
        company=company,
        policy=policy,
        manager=manager,
        deputy=deputy,
        admin=admin,
        employee=employee,
        colleague=colleague,
        outsider=outsider,
        other_admin=other_admin,
        operator=make_user(Role.OPERATOR, operator=unit.facility.operator),
        unit=unit,
    )


def book(db, user: User, unit_id: int, start: int = 10, end: int = 13, now=NOW) -> Booking:
    booking = services.book_stay(
        user, services.StayRequest(unit_id, days(start), days(end), 1), now
    )
    db.session.commit()
    return booking


def fresh(db, booking_id: int) -> Booking:
    db.session.rollback()  # read what is committed
    return db.session.get(Booking, booking_id)


def held_nights(db, booking_id: int) -> int:
    db.session.rollback()
    return db.session.scalar(
        select(func.count()).select_from(Occupancy).where(Occupancy.booking_id == booking_id)
    )


def entries_of(db, booking_id: int) -> list[tuple[str, int]]:
    db.session.rollback()
    return [
        (kind, amount)
        for kind, amount in db.session.execute(
            select(CreditEntry.kind, CreditEntry.amount)
            .where(CreditEntry.booking_id == booking_id)
            .order_by(CreditEntry.id)
        )
    ]


def events_of(db, booking_id: int) -> list[str]:
    db.session.rollback()
    return list(
        db.session.scalars(
            select(Event.type)
            .where(Event.subject_type == "booking", Event.subject_id == booking_id)
            .order_by(Event.id)
        )
    )


def audited(db, booking_id: int) -> list[tuple[str, int | None]]:
    db.session.rollback()
    return [
        (action, actor_id)
        for action, actor_id in db.session.execute(
            select(AuditEntry.action, AuditEntry.actor_id)
            .where(AuditEntry.object_type == "booking", AuditEntry.object_id == booking_id)
            .order_by(AuditEntry.id)
        )
    ]


def assert_books_straight(db, today=TODAY) -> None:
    db.session.rollback()
    assert invariants.check(db.session, today) == []
    db.session.rollback()


def decide(db, action, *args):
    """Run one decision as the edge does: commit, or roll back and re-raise."""
    try:
        result = action(*args)
    except Exception:
        db.session.rollback()
        raise
    db.session.commit()
    return result


def approve(db, who: User, booking_id: int, comment: str = "", now=NOW):
    return decide(db, approvals.approve, who, booking_id, comment, now, GRACE)


def reject(db, who: User, booking_id: int, comment: str = "", now=NOW):
    return decide(db, approvals.reject, who, booking_id, comment, now)


def mails_to(db, user: User) -> list[OutgoingMail]:
    db.session.rollback()
    return list(
        db.session.scalars(
            select(OutgoingMail).where(OutgoingMail.user_id == user.id).order_by(OutgoingMail.id)
        )
    )


# --- waiting ----------------------------------------------------------------------------------


def test_a_stay_that_needs_approval_holds_its_nights_and_charges_nothing(db, world):
    booking = book(db, world.employee, world.unit.id)
    booking = fresh(db, booking.id)
    assert booking.status == BookingStatus.PENDING_APPROVAL
    assert booking.hold_expires_at == NOW + HOLD
    assert held_nights(db, booking.id) == 3
    assert entries_of(db, booking.id) == []  # nothing charged while it waits
    approval = db.session.get(StayApproval, booking.id)
    assert (approval.approver_id, approval.deputy_id) == (world.manager.id, world.deputy.id)
    assert approval.reasons == "all"
    assert events_of(db, booking.id) == ["approval.requested"]
    assert_books_straight(db)

    # Nobody else gets those nights meanwhile.
    with pytest.raises(services.BookingConflict):
        services.book_stay(
            world.outsider, services.StayRequest(world.unit.id, days(12), days(14), 1), NOW
        )
    db.session.rollback()


# --- approve ----------------------------------------------------------------------------------


def test_approving_confirms_the_stay_and_charges_it_once(db, world):
    booking = book(db, world.employee, world.unit.id)
    approve(db, world.manager, booking.id, "  Enjoy the mountains.  ")
    booking = fresh(db, booking.id)
    assert booking.status == BookingStatus.CONFIRMED
    assert booking.hold_expires_at is None
    assert held_nights(db, booking.id) == 3
    assert entries_of(db, booking.id) == [("spend", -booking.total_price)]
    assert ledger.paid_for([booking.id])[booking.id] == booking.total_price
    approval = db.session.get(StayApproval, booking.id)
    assert approval.decision == ApprovalDecision.APPROVED
    assert approval.decided_by_id == world.manager.id
    assert approval.decided_at == NOW
    assert approval.comment == "Enjoy the mountains."
    assert audited(db, booking.id) == [("booking.approved", world.manager.id)]
    assert events_of(db, booking.id) == [
        "approval.requested",
        "booking.created",
        "booking.approved",
    ]
    assert_books_straight(db)

    # Once: a second approval (a double click, the deputy a moment later) is refused.
    with pytest.raises(ApprovalError) as refused:
        approve(db, world.admin, booking.id)
    assert refused.value.code == "not_pending"
    assert entries_of(db, booking.id) == [("spend", -booking.total_price)]
    with pytest.raises(ApprovalError) as refused:
        reject(db, world.manager, booking.id)
    assert refused.value.code == "not_pending"
    assert fresh(db, booking.id).status == BookingStatus.CONFIRMED


def test_an_approved_stay_with_an_employee_part_waits_for_the_card(db, world):
    world.policy.subsidy_kind = SubsidyKind.PERCENT
    world.policy.subsidy_amount = 70  # the company pays 70% of each night
    db.session.commit()
    booking = book(db, world.employee, world.unit.id)
    booking = fresh(db, booking.id)
    assert booking.status == BookingStatus.PENDING_APPROVAL
    assert booking.employee_part == 9_000  # 30% of 3 × 10,000
    assert booking.company_part + booking.employee_part == booking.total_price

    approve(db, world.manager, booking.id)
    booking = fresh(db, booking.id)
    assert booking.status == BookingStatus.AWAITING_PAYMENT
    assert booking.hold_expires_at > NOW
    payment = db.session.scalar(select(StayPayment).where(StayPayment.booking_id == booking.id))
    assert (payment.amount, payment.status) == (9_000, PaymentStatus.OPEN)
    assert entries_of(db, booking.id) == []  # charged once paid, not before
    assert held_nights(db, booking.id) == 3
    assert_books_straight(db)
    dispatch_events(NOW)
    assert kinds_for(db, world.employee) == ["booking_approved"]  # no confirmation yet
    told = body_of(mails_to(db, world.employee)[-1])
    assert "To confirm it, pay your part, ¥9,000 (tax incl.), by card by" in told

    # Not paid in time: the stay expires, its payment can no longer be made.
    holds.expire_holds(booking.hold_expires_at)
    booking = fresh(db, booking.id)
    assert booking.status == BookingStatus.EXPIRED
    assert db.session.get(StayPayment, payment.id).status == PaymentStatus.EXPIRED
    assert db.session.get(StayApproval, booking.id).decision == ApprovalDecision.APPROVED
    assert held_nights(db, booking.id) == 0
    assert entries_of(db, booking.id) == []
    assert_books_straight(db)


def test_an_approval_the_credit_no_longer_covers_is_refused_and_the_stay_keeps_waiting(db, world):
    booking = book(db, world.employee, world.unit.id)
    subscription = db.session.scalar(
        select(Subscription).where(Subscription.company_id == world.company.id)
    )
    subscription.status = "canceled"  # the company ended its subscription meanwhile
    db.session.commit()
    with pytest.raises(services.BillingRefused):
        approve(db, world.manager, booking.id)
    booking = fresh(db, booking.id)
    assert booking.status == BookingStatus.PENDING_APPROVAL
    assert db.session.get(StayApproval, booking.id).decision == ApprovalDecision.PENDING
    assert held_nights(db, booking.id) == 3
    assert entries_of(db, booking.id) == []
    assert audited(db, booking.id) == []
    assert_books_straight(db)


# --- reject -----------------------------------------------------------------------------------


def test_rejecting_releases_the_nights_and_charges_nothing(db, world):
    booking = book(db, world.employee, world.unit.id)
    reject(db, world.manager, booking.id, "Not during the audit, please.")
    booking = fresh(db, booking.id)
    assert booking.status == BookingStatus.REJECTED
    assert held_nights(db, booking.id) == 0
    assert entries_of(db, booking.id) == []
    approval = db.session.get(StayApproval, booking.id)
    assert approval.decision == ApprovalDecision.REJECTED
    assert approval.comment == "Not during the audit, please."
    assert audited(db, booking.id) == [("booking.rejected", world.manager.id)]
    assert events_of(db, booking.id) == ["approval.requested", "booking.rejected"]
    assert_books_straight(db)

    # The nights are free again: somebody else books them.
    other = book(db, world.outsider, world.unit.id, 10, 13)
    assert fresh(db, other.id).status == BookingStatus.CONFIRMED
    assert_books_straight(db)


def test_rejecting_needs_no_comment(db, world):
    booking = book(db, world.employee, world.unit.id)
    reject(db, world.manager, booking.id)
    assert db.session.get(StayApproval, booking.id).comment == ""


def test_a_comment_longer_than_allowed_is_refused_and_nothing_changes(db, world):
    booking = book(db, world.employee, world.unit.id)
    with pytest.raises(ApprovalError) as refused:
        reject(db, world.manager, booking.id, "x" * (approvals.MAX_COMMENT + 1))
    assert refused.value.code == "comment_too_long"
    assert fresh(db, booking.id).status == BookingStatus.PENDING_APPROVAL
    approve(db, world.manager, booking.id, "y" * approvals.MAX_COMMENT)  # the limit itself
    assert fresh(db, booking.id).status == BookingStatus.CONFIRMED


# --- who may decide ---------------------------------------------------------------------------


def test_the_deputy_decides_only_while_the_approver_is_away(db, world):
    booking = book(db, world.employee, world.unit.id)
    with pytest.raises(ApprovalError) as refused:
        approve(db, world.deputy, booking.id)
    assert refused.value.code == "not_found"  # not theirs to decide: nothing revealed
    assert approvals.approval_queue(world.deputy, TODAY).waiting == []

    world.manager.away_until = TODAY  # away today (the day included)
    db.session.commit()
    queue = approvals.approval_queue(world.deputy, TODAY)
    assert [a.booking_id for a in queue.waiting] == [booking.id]
    approve(db, world.deputy, booking.id, "Approved while Mori is away.")
    booking = fresh(db, booking.id)
    assert booking.status == BookingStatus.CONFIRMED
    assert db.session.get(StayApproval, booking.id).decided_by_id == world.deputy.id
    assert_books_straight(db)


def test_the_deputy_decides_for_an_approver_no_longer_active(db, world):
    booking = book(db, world.employee, world.unit.id)
    world.manager.active = False
    db.session.commit()
    reject(db, world.deputy, booking.id)
    assert fresh(db, booking.id).status == BookingStatus.REJECTED


def test_the_approver_away_yesterday_decides_again_today(db, world):
    booking = book(db, world.employee, world.unit.id)
    world.manager.away_until = TODAY - timedelta(days=1)
    db.session.commit()
    with pytest.raises(ApprovalError):
        approve(db, world.deputy, booking.id)
    approve(db, world.manager, booking.id)  # (an approver away may decide all the same)
    assert fresh(db, booking.id).status == BookingStatus.CONFIRMED


def test_a_company_admin_may_decide_any_stay_of_the_company(db, world):
    booking = book(db, world.employee, world.unit.id)
    assert [a.booking_id for a in approvals.approval_queue(world.admin, TODAY).waiting] == [
        booking.id
    ]
    approve(db, world.admin, booking.id)
    assert fresh(db, booking.id).status == BookingStatus.CONFIRMED
    assert audited(db, booking.id) == [("booking.approved", world.admin.id)]


def test_nobody_decides_on_their_own_stay(db, world):
    world.admin.manager_id = world.manager.id
    db.session.commit()
    own = book(db, world.admin, world.unit.id)  # the admin's own stay waits too
    assert fresh(db, own.id).status == BookingStatus.PENDING_APPROVAL
    for action in (approve, reject):
        with pytest.raises(ApprovalError) as refused:
            action(db, world.admin, own.id)
        assert refused.value.code == "not_found"
    assert approvals.approval_queue(world.admin, TODAY).waiting == []
    approve(db, world.manager, own.id)
    assert fresh(db, own.id).status == BookingStatus.CONFIRMED


def test_another_company_another_employee_or_an_operator_finds_no_such_stay(db, world):
    booking = book(db, world.employee, world.unit.id)
    for stranger in (world.other_admin, world.outsider, world.colleague, world.operator):
        for action in (approve, reject):
            with pytest.raises(ApprovalError) as refused:
                action(db, stranger, booking.id)
            assert refused.value.code == "not_found", stranger.role
        assert approvals.approval_queue(stranger, TODAY).waiting == []
    for impossible in (0, -1, 10**12):
        with pytest.raises(ApprovalError):
            approve(db, world.manager, impossible)
    booking = fresh(db, booking.id)
    assert booking.status == BookingStatus.PENDING_APPROVAL
    assert audited(db, booking.id) == []


# --- time up ----------------------------------------------------------------------------------


def test_a_decision_after_the_hold_ran_out_is_refused(db, world):
    booking = book(db, world.employee, world.unit.id)
    late = NOW + HOLD
    with pytest.raises(ApprovalError) as refused:
        approve(db, world.manager, booking.id, now=late)  # the job has not run yet
    assert refused.value.code == "expired"
    approve(db, world.manager, booking.id, now=late - timedelta(seconds=1))  # just in time
    assert fresh(db, booking.id).status == BookingStatus.CONFIRMED


def test_a_decision_after_the_job_expired_the_stay_is_refused(db, world):
    booking = book(db, world.employee, world.unit.id)
    holds.expire_holds(NOW + HOLD)
    assert fresh(db, booking.id).status == BookingStatus.EXPIRED
    for action in (approve, reject):
        with pytest.raises(ApprovalError) as refused:
            action(db, world.manager, booking.id)
        assert refused.value.code == "expired"
    assert entries_of(db, booking.id) == []
    assert audited(db, booking.id) == [("booking.approval_expired", None)]


# --- withdraw ---------------------------------------------------------------------------------


def test_the_employee_withdraws_a_waiting_stay_and_nothing_is_charged(db, world):
    booking = book(db, world.employee, world.unit.id)
    decide(db, approvals.withdraw, world.employee, booking.id, NOW)
    booking = fresh(db, booking.id)
    assert booking.status == BookingStatus.CANCELLED
    assert booking.cancelled_at == NOW
    assert held_nights(db, booking.id) == 0
    assert entries_of(db, booking.id) == []
    approval = db.session.get(StayApproval, booking.id)
    assert (approval.decision, approval.decided_by_id) == (
        ApprovalDecision.WITHDRAWN,
        world.employee.id,
    )
    assert events_of(db, booking.id) == ["approval.requested", "booking.withdrawn"]
    assert_books_straight(db)
    with pytest.raises(ApprovalError) as refused:
        approve(db, world.manager, booking.id)
    assert refused.value.code == "not_pending"


def test_only_the_employee_withdraws_and_only_while_it_waits(db, world):
    booking = book(db, world.employee, world.unit.id)
    with pytest.raises(services.BookingNotFound):
        decide(db, approvals.withdraw, world.manager, booking.id, NOW)
    approve(db, world.manager, booking.id)
    with pytest.raises(ApprovalError) as refused:
        decide(db, approvals.withdraw, world.employee, booking.id, NOW)
    assert refused.value.code == "not_waiting"
    assert fresh(db, booking.id).status == BookingStatus.CONFIRMED


# --- the queue --------------------------------------------------------------------------------


def test_the_queue_lists_what_waits_then_what_was_decided(db, world):
    first = book(db, world.employee, world.unit.id, 10, 12)
    second = book(db, world.employee, world.unit.id, 14, 16)
    theirs = book(db, world.colleague, world.unit.id, 20, 22)  # no manager: the admins'
    queue = approvals.approval_queue(world.manager, TODAY)
    assert [a.booking_id for a in queue.waiting] == [first.id, second.id]
    assert queue.decided == []
    assert approvals.waiting_count(world.manager, TODAY) == 2
    admin_queue = approvals.approval_queue(world.admin, TODAY)
    assert {a.booking_id for a in admin_queue.waiting} == {first.id, second.id, theirs.id}

    reject(db, world.manager, first.id, "Another time.")
    queue = approvals.approval_queue(world.manager, TODAY)
    assert [a.booking_id for a in queue.waiting] == [second.id]
    assert [(a.booking_id, a.decision) for a in queue.decided] == [(first.id, "rejected")]
    assert approvals.approval_queue(world.employee, TODAY).waiting == []


# --- away -------------------------------------------------------------------------------------


def test_an_approver_says_until_when_they_are_away_and_clears_it(db, world):
    decide(db, approvals.set_away, world.manager, days(7), NOW)
    assert db.session.get(User, world.manager.id).away_until == days(7)
    decide(db, approvals.set_away, world.manager, None, NOW)
    assert db.session.get(User, world.manager.id).away_until is None
    actions = db.session.scalars(
        select(AuditEntry.action).where(AuditEntry.object_id == world.manager.id)
    ).all()
    assert actions == ["user.away", "user.away"]
    for bad, code in ((days(-1), "away_past"), (days(400), "away_far")):
        with pytest.raises(ApprovalError) as refused:
            decide(db, approvals.set_away, world.manager, bad, NOW)
        assert refused.value.code == code
    assert db.session.get(User, world.manager.id).away_until is None


# --- who is told ------------------------------------------------------------------------------


def kinds_for(db, user: User) -> list[str]:
    return [mail.kind for mail in mails_to(db, user)]


def test_the_approver_is_asked_and_the_employee_told_each_step(db, world):
    booking = book(db, world.employee, world.unit.id)
    dispatch_events(NOW)
    assert kinds_for(db, world.manager) == ["approval_requested"]
    assert kinds_for(db, world.employee) == ["approval_pending"]
    assert kinds_for(db, world.deputy) == kinds_for(db, world.admin) == []
    (asked,) = mails_to(db, world.manager)
    text = body_of(asked)
    assert "Emi Employee asks for your approval of a stay." in text
    assert f"/approvals/{booking.id}" in text  # the page where it is decided
    assert "Nothing is charged until the stay is approved." in text
    assert "Every stay needs approval" in text

    approve(db, world.manager, booking.id, "Have a good rest.")
    dispatch_events(NOW)
    assert kinds_for(db, world.employee) == [
        "approval_pending",
        "booking_confirmed",
        "booking_approved",
    ]
    approved = body_of(mails_to(db, world.employee)[-1])
    assert "Manager Mori approved your stay." in approved
    assert "Comment: Have a good rest." in approved


def test_a_rejection_tells_the_employee_with_the_comment(db, world):
    booking = book(db, world.employee, world.unit.id)
    reject(db, world.manager, booking.id, "Not in December.")
    dispatch_events(NOW)
    # Decided before the dispatcher came: nobody is asked any more.
    assert kinds_for(db, world.manager) == []
    assert kinds_for(db, world.employee) == ["booking_rejected"]
    text = body_of(mails_to(db, world.employee)[-1])
    assert "Manager Mori did not approve your stay." in text
    assert "Comment: Not in December." in text
    assert "Its nights were released and nothing was charged." in text


def test_an_expiry_tells_the_employee(db, world):
    book(db, world.employee, world.unit.id)
    dispatch_events(NOW)
    holds.expire_holds(NOW + HOLD)
    dispatch_events(NOW + HOLD)
    assert kinds_for(db, world.employee) == ["approval_pending", "booking_expired"]
    text = body_of(mails_to(db, world.employee)[-1])
    assert "Nobody approved this stay in time, so it expired." in text


def test_the_deputy_is_asked_while_the_approver_is_away(db, world):
    world.manager.away_until = days(3)
    db.session.commit()
    book(db, world.employee, world.unit.id)
    dispatch_events(NOW)
    assert kinds_for(db, world.deputy) == ["approval_requested"]
    assert kinds_for(db, world.manager) == []


def test_the_company_admins_are_asked_when_nobody_is_named(db, world):
    world.policy.deputy_id = None
    db.session.commit()
    booking = book(db, world.colleague, world.unit.id)  # no manager, no approver
    approval = db.session.get(StayApproval, booking.id)
    assert (approval.approver_id, approval.deputy_id) == (None, None)
    dispatch_events(NOW)
    assert kinds_for(db, world.admin) == ["approval_requested"]
    assert kinds_for(db, world.manager) == kinds_for(db, world.deputy) == []
    # The admin's bell has it too, linking to the approval page.
    notice = db.session.scalar(select(Notice).where(Notice.user_id == world.admin.id))
    assert (notice.kind, notice.link) == ("approval_requested", f"/approvals/{booking.id}")


# --- pages ------------------------------------------------------------------------------------


def test_the_approver_decides_on_the_page(app, db, world, make_user):
    booking = book(db, world.employee, world.unit.id)
    browser = signed_in(app, world.manager)
    page = browser.get("/approvals")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Emi Employee" in html
    assert f'data-booking-id="{booking.id}"' in html
    assert "Every stay needs approval" in html
    assert "48 hours left" in html

    detail = browser.get(f"/approvals/{booking.id}")
    assert detail.status_code == 200
    text = detail.get_data(as_text=True)
    assert 'data-testid="approve"' in text and 'data-testid="reject"' in text
    assert "the stay is confirmed at once and ¥30,000 (tax incl.) is paid" in text

    too_long = browser.post(
        f"/approvals/{booking.id}/reject", data={"comment": "x" * (approvals.MAX_COMMENT + 1)}
    )
    assert too_long.status_code == 422
    assert fresh(db, booking.id).status == BookingStatus.PENDING_APPROVAL

    done = browser.post(f"/approvals/{booking.id}/approve", data={"comment": "OK!"})
    assert done.status_code == 303
    after = browser.get(done.location).get_data(as_text=True)
    assert (
        "Approved. The stay is confirmed and ¥30,000 (tax incl.) was paid from the stay credit."
        in after
    )
    assert fresh(db, booking.id).status == BookingStatus.CONFIRMED

    again = browser.post(f"/approvals/{booking.id}/reject", data={})
    assert again.status_code == 303
    assert "no longer waiting for approval" in browser.get(again.location).get_data(as_text=True)
    assert fresh(db, booking.id).status == BookingStatus.CONFIRMED
    assert_books_straight(db)


def test_a_rejection_on_the_page_releases_the_nights(app, db, world):
    booking = book(db, world.employee, world.unit.id)
    browser = signed_in(app, world.admin)
    done = browser.post(f"/approvals/{booking.id}/reject", data={"comment": "Budget <spent>."})
    assert done.status_code == 303
    text = browser.get(done.location).get_data(as_text=True)
    assert "Rejected. The stay&#39;s nights were released and nothing was charged." in text
    assert "Budget &lt;spent&gt;." in text  # the comment, escaped
    assert fresh(db, booking.id).status == BookingStatus.REJECTED
    assert held_nights(db, booking.id) == 0
    # The employee's stay page says so, with the comment.
    stay = signed_in(app, world.employee).get(f"/stays/{booking.id}").get_data(as_text=True)
    assert 'data-status="rejected"' in stay
    assert "Comment: Budget &lt;spent&gt;." in stay
    assert 'data-testid="withdraw"' not in stay


def test_the_pages_reveal_nothing_to_those_who_may_not_decide(app, db, world):
    booking = book(db, world.employee, world.unit.id)
    for stranger in (world.deputy, world.other_admin, world.employee, world.colleague):
        browser = signed_in(app, stranger)
        assert browser.get(f"/approvals/{booking.id}").status_code == 404
        assert browser.post(f"/approvals/{booking.id}/approve").status_code == 404
        assert browser.post(f"/approvals/{booking.id}/reject").status_code == 404
        assert f'data-booking-id="{booking.id}"' not in browser.get("/approvals").get_data(
            as_text=True
        )
    operator = signed_in(app, world.operator)
    assert operator.get("/approvals").status_code == 404
    assert operator.get(f"/approvals/{booking.id}").status_code == 404
    assert signed_in(app, world.manager).get("/approvals/999999").status_code == 404
    assert app.test_client().get("/approvals").status_code == 302  # sign in first
    assert fresh(db, booking.id).status == BookingStatus.PENDING_APPROVAL


def test_away_on_the_approvals_page(app, db, world):
    browser = signed_in(app, world.manager)
    saved = browser.post("/approvals/away", data={"away_until": days(5).isoformat()})
    assert saved.status_code == 303
    assert db.session.get(User, world.manager.id).away_until == days(5)
    assert 'data-testid="away-status"' in browser.get("/approvals").get_data(as_text=True)
    past = browser.post("/approvals/away", data={"away_until": days(-2).isoformat()})
    assert past.status_code == 422
    bad = browser.post("/approvals/away", data={"away_until": "someday"})
    assert bad.status_code == 422
    db.session.rollback()
    assert db.session.get(User, world.manager.id).away_until == days(5)
    back = browser.post("/approvals/away/clear")
    assert back.status_code == 303
    db.session.rollback()
    assert db.session.get(User, world.manager.id).away_until is None


def test_the_employee_withdraws_from_the_stay_page(app, db, world):
    booking = book(db, world.employee, world.unit.id)
    browser = signed_in(app, world.employee)
    stay = browser.get(f"/stays/{booking.id}").get_data(as_text=True)
    assert 'data-testid="withdraw"' in stay
    assert signed_in(app, world.colleague).post(f"/stays/{booking.id}/withdraw").status_code == 404
    done = browser.post(f"/stays/{booking.id}/withdraw")
    assert done.status_code == 303
    assert fresh(db, booking.id).status == BookingStatus.CANCELLED
    page = browser.get(done.location).get_data(as_text=True)
    assert 'data-status="withdrawn"' in page
    assert held_nights(db, booking.id) == 0
    assert entries_of(db, booking.id) == []
    assert_books_straight(db)


# --- never past the check-in day ----------------------------------------------------------------

# NOW is 12:00 in Japan: a stay checking in today may wait at most until 00:00 there.
END_OF_TODAY = NOW + timedelta(hours=12)


def test_a_stay_for_tonight_cannot_be_approved_once_its_check_in_day_is_over(db, world):
    world.policy.approval_hours = 72
    db.session.commit()
    booking = book(db, world.employee, world.unit.id, 0, 1)
    assert copay.hold_cap(TODAY) == END_OF_TODAY
    booking = fresh(db, booking.id)
    assert booking.hold_expires_at == END_OF_TODAY  # not NOW + 72 hours
    assert db.session.get(StayApproval, booking.id).expires_at == END_OF_TODAY

    # 60 hours later the stay is over: approving it is refused and nothing is charged.
    for late in (NOW + timedelta(hours=60), END_OF_TODAY):
        with pytest.raises(ApprovalError) as refused:
            approve(db, world.manager, booking.id, now=late)
        assert refused.value.code == "expired"
    assert entries_of(db, booking.id) == []
    assert ledger.paid_for([booking.id]).get(booking.id, 0) == 0
    assert fresh(db, booking.id).status == BookingStatus.PENDING_APPROVAL
    assert audited(db, booking.id) == []
    assert_books_straight(db)


def test_a_stay_for_tonight_is_approved_until_the_last_moment_of_its_check_in_day(db, world):
    booking = book(db, world.employee, world.unit.id, 0, 1)
    approve(db, world.manager, booking.id, now=END_OF_TODAY - timedelta(seconds=1))
    booking = fresh(db, booking.id)
    assert booking.status == BookingStatus.CONFIRMED
    assert entries_of(db, booking.id) == [("spend", -booking.total_price)]
    assert_books_straight(db)


def test_a_co_paid_stay_for_tonight_leaves_time_to_pay_before_its_check_in_day_ends(db, world):
    world.policy.subsidy_kind = SubsidyKind.PERCENT
    world.policy.subsidy_amount = 70  # the employee pays 30%: ¥3,000
    db.session.commit()
    deadline = END_OF_TODAY - copay.CHECKOUT_MIN_LIFETIME  # the shortest Checkout still fits

    # Booked so late that it could not be approved and paid before the day ends: refused.
    with pytest.raises(services.BookingError) as refused:
        book(db, world.employee, world.unit.id, 0, 1, now=deadline)
    assert refused.value.code == "too_late_to_wait"
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Booking)) == 0

    booking = book(db, world.employee, world.unit.id, 0, 1)
    booking = fresh(db, booking.id)
    assert booking.employee_part == 3_000
    assert booking.hold_expires_at == deadline
    assert db.session.get(StayApproval, booking.id).expires_at == deadline
    with pytest.raises(ApprovalError) as refused:
        approve(db, world.manager, booking.id, now=deadline)
    assert refused.value.code == "expired"

    # Approved an hour before: the employee's part waits until the day ends, not 23 hours.
    approved_at = deadline - timedelta(hours=1)
    approve(db, world.manager, booking.id, now=approved_at)
    booking = fresh(db, booking.id)
    assert booking.status == BookingStatus.AWAITING_PAYMENT
    assert booking.hold_expires_at == END_OF_TODAY
    pay = {"success_url": "https://e.example/ok", "cancel_url": "https://e.example/no"}
    with pytest.raises(copay.PaymentRefused) as refused:
        copay.start_payment(world.employee, booking.id, END_OF_TODAY, **pay)
    assert refused.value.code == "hold_expired"
    db.session.rollback()

    # The job releases it at the end of the day; nothing was ever charged.
    assert holds.expire_holds(END_OF_TODAY) == "1 waiting stays expired and their nights released"
    booking = fresh(db, booking.id)
    assert booking.status == BookingStatus.EXPIRED
    payment = db.session.scalar(select(StayPayment).where(StayPayment.booking_id == booking.id))
    assert payment.status == PaymentStatus.EXPIRED
    assert held_nights(db, booking.id) == 0
    assert entries_of(db, booking.id) == []
    assert_books_straight(db)


def test_the_approver_sees_the_deadline_of_a_stay_for_tonight(app, db, world):
    world.policy.approval_hours = 72
    db.session.commit()
    booking = book(db, world.employee, world.unit.id, 0, 1)
    browser = signed_in(app, world.manager)

    queue = browser.get("/approvals").get_data(as_text=True)
    assert "12 hours left" in queue and "72 hours left" not in queue
    detail = browser.get(f"/approvals/{booking.id}").get_data(as_text=True)
    assert "2026/12/02 00:00 (12 hours left)" in detail  # Japan's midnight
