"""Every kind of notification: who gets it, from which event, and whether it may be
switched off.

A *kind* is one message for one audience (the mail template ``templates/mail/<kind>``
and the bell's notice share its name). One event can make several kinds: a new
booking is ``booking_confirmed`` for the employee and ``operator_booking_created``
for the facility's operators. Kinds that carry legal or money facts (``optional`` is
False) cannot be switched off.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from accounts import events as ev

# Audiences: who among the event's people receives the kind.
EMPLOYEE = "employee"  # the event's user_id (the guest of the stay)
OPERATORS = "operators"  # active operator users of the event's operator_id
COMPANY_ADMINS = "company_admins"  # active company admins of the event's company_id
PLATFORM_ADMINS = "platform_admins"  # the Engawa team
# Who decides on a stay waiting for approval (notifications.recipients): its approver,
# else (away or inactive) its deputy, else the company's admins.
APPROVERS = "approvers"


@dataclass(frozen=True)
class Kind:
    name: str
    event_type: str
    audience: str
    optional: bool
    # What the preference checkbox and the notices list call it.
    label: object
    # Whether the kind is also a notice under the bell (operators and admins).
    notice: bool = True


KINDS: tuple[Kind, ...] = (
    # The employee's stay.
    Kind("booking_confirmed", ev.BOOKING_CREATED, EMPLOYEE, False, _l("Booking confirmed"), False),
    Kind(
        "booking_cancelled", ev.BOOKING_CANCELLED, EMPLOYEE, False, _l("Booking cancelled"), False
    ),
    Kind("booking_changed", ev.BOOKING_CHANGED, EMPLOYEE, False, _l("Stay changed"), False),
    # Not refunded: a money fact, so it cannot be switched off.
    Kind(
        "booking_no_show",
        ev.BOOKING_NO_SHOW,
        EMPLOYEE,
        False,
        _l("Stay marked as a no-show"),
        False,
    ),
    Kind(
        "stay_reminder",
        ev.STAY_REMINDER,
        EMPLOYEE,
        True,
        _l("Reminder 3 days before check-in"),
        False,
    ),
    Kind(
        "stay_thanks",
        ev.STAY_THANKS,
        EMPLOYEE,
        True,
        _l("Thank-you and rating after a stay"),
        False,
    ),
    # A stay that waits for approval: the employee's request, then its outcome. Each says
    # what is charged (nothing until approved), so none can be switched off.
    Kind(
        "approval_pending",
        ev.APPROVAL_REQUESTED,
        EMPLOYEE,
        False,
        _l("Stay waiting for approval"),
        False,
    ),
    Kind("booking_approved", ev.BOOKING_APPROVED, EMPLOYEE, False, _l("Stay approved"), False),
    Kind("booking_rejected", ev.BOOKING_REJECTED, EMPLOYEE, False, _l("Stay not approved"), False),
    Kind(
        "booking_expired",
        ev.BOOKING_EXPIRED,
        EMPLOYEE,
        False,
        _l("Stay expired before it was confirmed"),
        False,
    ),
    # The employee's workspace (issue 19): a desk, booth or meeting room for a time. Each
    # says what it costs or what came back, so none can be switched off; a notice too.
    # A desk booked with a stay is told by the stay's confirmation (workspace_context).
    Kind("workspace_booked", ev.WORKSPACE_BOOKED, EMPLOYEE, False, _l("Workspace booked")),
    Kind(
        "workspace_cancelled",
        ev.WORKSPACE_CANCELLED,
        EMPLOYEE,
        False,
        _l("Workspace booking cancelled"),
    ),
    Kind(
        "workspace_changed",
        ev.WORKSPACE_CHANGED,
        EMPLOYEE,
        False,
        _l("Workspace booking changed"),
    ),
    Kind(
        "workspace_no_show",
        ev.WORKSPACE_NO_SHOW,
        EMPLOYEE,
        False,
        _l("Workspace released: nobody checked in"),
    ),
    # Whoever decides on it: the request, with a link to the page where they decide.
    Kind(
        "approval_requested",
        ev.APPROVAL_REQUESTED,
        APPROVERS,
        False,
        _l("Stay waiting for your approval"),
    ),
    # The facility's operators.
    Kind("operator_booking_created", ev.BOOKING_CREATED, OPERATORS, True, _l("New booking")),
    Kind(
        "operator_booking_cancelled",
        ev.BOOKING_CANCELLED,
        OPERATORS,
        True,
        _l("Booking cancelled by the guest or company"),
    ),
    Kind("operator_booking_changed", ev.BOOKING_CHANGED, OPERATORS, True, _l("Stay changed")),
    # Named with the other workspace kinds (templates/mail/workspace_*); a stay's desks
    # ended with it are one notice (notifications.workspace_context).
    Kind(
        "workspace_operator_cancelled",
        ev.WORKSPACE_CANCELLED,
        OPERATORS,
        True,
        _l("Workspace booking cancelled"),
    ),
    # A booking moved to another time or unit: which time is taken now (no money).
    Kind(
        "workspace_operator_changed",
        ev.WORKSPACE_CHANGED,
        OPERATORS,
        True,
        _l("Workspace booking changed"),
    ),
    Kind("calendar_conflict", ev.CALENDAR_CONFLICT, OPERATORS, True, _l("Calendar conflict")),
    Kind("feed_failing", ev.FEED_FAILING, OPERATORS, True, _l("Calendar feed not syncing")),
    Kind(
        "operator_digest", ev.OPERATOR_DIGEST, OPERATORS, True, _l("Daily summary at 7:00"), False
    ),
    # The company's admins.
    Kind("invoice_issued", ev.INVOICE_ISSUED, COMPANY_ADMINS, False, _l("Invoice issued")),
    Kind("payment_failed", ev.PAYMENT_FAILED, COMPANY_ADMINS, False, _l("Payment failed")),
    Kind(
        "seats_full", ev.SEATS_FULL, COMPANY_ADMINS, True, _l("Seats full: someone could not join")
    ),
    Kind("credit_low", ev.CREDIT_LOW, COMPANY_ADMINS, True, _l("Stay credit below 10%")),
    Kind(
        "company_booking_no_show",
        ev.BOOKING_NO_SHOW,
        COMPANY_ADMINS,
        True,
        _l("An employee's stay marked as a no-show"),
    ),
    Kind(
        "refusals_many",
        ev.REFUSALS_MANY,
        COMPANY_ADMINS,
        True,
        _l("An employee's bookings refused repeatedly"),
    ),
    # Regional programmes (issue 20), for the employee whose place it is. Joining, the
    # waitlist, a place given from it and leaving each say what was charged or given back
    # of the company's credit (or that nothing was), and a cancellation by the organiser
    # says the session is off and what came back: none can be switched off. Nor can the
    # organiser's messages: they carry no money, but they are the session's own news
    # (the meeting point moved, what to bring, the weather), sent only to those who
    # joined it; leaving the session stops them.
    Kind("programme_joined", ev.PROGRAMME_JOINED, EMPLOYEE, False, _l("Programme joined")),
    Kind(
        "programme_waitlisted",
        ev.PROGRAMME_WAITLISTED,
        EMPLOYEE,
        False,
        _l("On a programme's waitlist"),
    ),
    Kind(
        "programme_promoted",
        ev.PROGRAMME_PROMOTED,
        EMPLOYEE,
        False,
        _l("A place came free in a programme"),
    ),
    Kind("programme_left", ev.PROGRAMME_LEFT, EMPLOYEE, False, _l("Programme left")),
    Kind(
        "programme_cancelled",
        ev.PROGRAMME_CANCELLED,
        EMPLOYEE,
        False,
        _l("Programme session cancelled by the organiser"),
    ),
    Kind(
        "programme_message",
        ev.PROGRAMME_MESSAGE,
        EMPLOYEE,
        False,
        _l("Messages from programme organisers"),
    ),
    # The organiser's operators: who joined or left their sessions (their page lists them).
    Kind(
        "programme_operator_joined",
        ev.PROGRAMME_JOINED,
        OPERATORS,
        True,
        _l("Someone joined your programme"),
    ),
    Kind(
        "programme_operator_left",
        ev.PROGRAMME_LEFT,
        OPERATORS,
        True,
        _l("Someone left your programme"),
    ),
    # Local coupons (地域クーポン) for a stay: money to spend in the town, so always sent.
    Kind("coupons_issued", ev.COUPONS_ISSUED, EMPLOYEE, False, _l("Local coupons for a stay")),
    # Matching: a company's request to the regions that may answer it, a region's
    # proposal to the company's admins, and the company's acceptance to the proposing
    # organisation (it becomes bookings, so it cannot be switched off).
    Kind(
        "match_requested",
        ev.MATCH_REQUESTED,
        OPERATORS,
        True,
        _l("A company's request for a programme"),
    ),
    Kind(
        "match_proposed",
        ev.MATCH_PROPOSED,
        COMPANY_ADMINS,
        True,
        _l("A region's proposal for your request"),
    ),
    Kind(
        "match_accepted",
        ev.MATCH_ACCEPTED,
        OPERATORS,
        False,
        _l("Your proposal was accepted"),
    ),
    # The Engawa team.
    Kind(
        "application_submitted",
        ev.APPLICATION_SUBMITTED,
        PLATFORM_ADMINS,
        True,
        _l("New sign-up application"),
    ),
)

BY_NAME = {kind.name: kind for kind in KINDS}
# ``booking.checked_in`` and ``booking.checked_out`` make no kind: the front desk's own
# doing, kept as the stay's history; the dispatcher marks them dispatched, sending nothing.
# Nor does ``booking.withdrawn``: the employee's own doing.


def kinds_for_event(event_type: str) -> list[Kind]:
    return [kind for kind in KINDS if kind.event_type == event_type]


def kinds_for_role(role: str) -> list[Kind]:
    """The kinds a person of ``role`` can receive (their preferences page lists the
    optional ones). A company admin books stays too, so gets the employee's kinds; an
    employee or a company admin may be asked to approve stays."""
    audiences = {
        "employee": {EMPLOYEE, APPROVERS},
        "company_admin": {EMPLOYEE, COMPANY_ADMINS, APPROVERS},
        "operator": {OPERATORS},
        "platform_admin": {PLATFORM_ADMINS},
    }.get(role, set())
    return [kind for kind in KINDS if kind.audience in audiences]


# The event types an organisation's webhook endpoint may choose, by organisation.
COMPANY_WEBHOOK_TYPES = (
    ev.BOOKING_CREATED,
    ev.BOOKING_CANCELLED,
    ev.BOOKING_CHANGED,
    # A stay's way through its company's approval and co-pay (the company's HR tools).
    ev.APPROVAL_REQUESTED,
    ev.BOOKING_APPROVED,
    ev.BOOKING_REJECTED,
    ev.BOOKING_EXPIRED,
    ev.BOOKING_WITHDRAWN,
    ev.INVOICE_ISSUED,
    ev.PAYMENT_FAILED,
)
OPERATOR_WEBHOOK_TYPES = (
    ev.BOOKING_CREATED,
    ev.BOOKING_CANCELLED,
    ev.BOOKING_CHANGED,
    ev.CALENDAR_CONFLICT,
    ev.FEED_FAILING,
    # Desks, booths and meeting rooms at their facilities (issue 19).
    ev.WORKSPACE_BOOKED,
    ev.WORKSPACE_CANCELLED,
    ev.WORKSPACE_CHANGED,
    ev.WORKSPACE_NO_SHOW,
)
WEBHOOK_TYPES = tuple(dict.fromkeys(COMPANY_WEBHOOK_TYPES + OPERATOR_WEBHOOK_TYPES))
