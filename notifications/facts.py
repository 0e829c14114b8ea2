"""What one event's messages say (``notifications.mail_context`` loads it): the values
the mail templates show, the params a notice keeps, the page each audience opens."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from flask_babel import gettext, ngettext

from accounts import events as ev
from accounts.events import Event
from booking.models import Booking
from core.db import TOKYO
from core.extensions import db
from core.i18n import current_locale, format_day, format_yen, format_yen_plain
from facilities.models import Facility
from facilities.municipalities import by_code
from notifications.catalog import COMPANY_ADMINS, EMPLOYEE, OPERATORS
from regions import programme_money
from regions.models import (
    MatchProposal,
    MatchRequest,
    MatchStatus,
    PriceKind,
    ProgrammeMessage,
    ProgrammeSignup,
    SessionStatus,
    SignupStatus,
)

Page = tuple[str, dict[str, Any]]


@dataclass
class Facts:
    values: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    pages: dict[str, Page] = field(default_factory=dict)
    # Nothing to say to anyone by mail or notice (the webhooks still go): the news is told
    # by another message (a desk booked with a stay: the stay's confirmation lists it) or
    # by the first event of the same action (the bookings of one series, the desks ended
    # with one stay: ``notifications.workspace_context``).
    quiet: bool = False
    # Params only the employee's own notice keeps (the company's money of a workspace
    # change); the notices of anyone else leave them out.
    private: tuple[str, ...] = ()

    def page(self, audience: str) -> Page:
        return self.pages[audience]

    def params_for(self, audience: str) -> dict[str, Any]:
        """The params a notice for ``audience`` keeps."""
        if audience == EMPLOYEE or not self.private:
            return self.params
        return {key: value for key, value in self.params.items() if key not in self.private}


# --- issue 20: programmes, local coupons, matching ----------------------------------------
#
# What the events of regional programmes, local coupons and matching say (the kinds are
# in ``notifications.catalog``; the mail templates are ``templates/mail/programme_*``,
# ``coupons_issued`` and ``match_*``). ``REGION_LOADERS`` joins ``mail_context.LOADERS``,
# ``REGION_SUBJECTS`` ``mail_render.SUBJECTS`` and ``REGION_NOTICE_TEXTS``
# ``notices.TEXTS``.
#
# A programme event carries the session's title and times as they were
# (``accounts.events``); the mail reads the rest (the meeting point, the message) when it
# is sent. Notices keep ids, titles, ISO instants and yen, never a person's name:
#
# - ``programme_joined``, ``programme_waitlisted``, ``programme_promoted``,
#   ``programme_left``, ``programme_cancelled``, ``programme_message``,
#   ``programme_operator_joined``, ``programme_operator_left``: {"signup": id, "title":
#   the Japanese title, "title_en": the English one (may be ""), "starts_at", "ends_at":
#   ISO instants, "participants": n, "fee": yen}, and the employee's alone
#   (``Facts.private``) "refund": yen given back
# - ``coupons_issued``: {"booking": id, "count": n, "amount": yen each, "total": yen,
#   "municipality_code", "valid_from", "valid_until": ISO dates}
# - ``match_requested``, ``match_proposed``, ``match_accepted``: {"request": id, "title":
#   the request's title}, and "proposal": id, "org": the proposing organisation's name
#   where there is a proposal


def _instant(value: Any, fallback: datetime) -> datetime:
    try:
        return datetime.fromisoformat(str(value)) if value else fallback
    except ValueError:
        return fallback


@dataclass(frozen=True)
class SessionLine:
    """A place in a programme's session as a mail tells it (Japan wall-clock times; the
    title, times, fee and refund as the event keeps them)."""

    title_ja: str
    title_en: str
    day: date
    start: str
    end: str
    place: str  # the municipality's name
    meeting_point: str
    participants: int
    fee: int  # yen for all the participants
    refund: int  # yen this event gave back to the company's credit
    on_credit: bool  # the fee is paid from the company's credit (else locally, or free)
    refund_until: date  # leaving until then returns a credit-paid fee
    refund_until_time: str
    reason: str  # the organiser's, when the session was cancelled

    def title(self, locale: str) -> str:
        return self.title_en if locale == "en" and self.title_en else self.title_ja


def _signup_facts(event: Event) -> Facts | None:
    """A programme event's sign-up, session and programme, if they are still the event's
    (the same employee, company and organiser)."""
    if event.subject_type != "programme_signup" or event.subject_id is None:
        return None
    signup = db.session.get(ProgrammeSignup, event.subject_id)
    if signup is None:
        return None
    session = signup.session
    programme = session.programme
    if (signup.user_id, signup.company_id, programme.operator_id) != (
        event.user_id,
        event.company_id,
        event.operator_id,
    ):
        return None
    data = event.facts
    starts = _instant(data.get("starts_at"), session.starts_at).astimezone(TOKYO)
    ends = _instant(data.get("ends_at"), session.ends_at).astimezone(TOKYO)
    municipality = by_code(programme.municipality_code)
    deadline = programme_money.refund_deadline(session.starts_at).astimezone(TOKYO)
    line = SessionLine(
        title_ja=data.get("title_ja") or programme.title_ja,
        title_en=data.get("title_en", programme.title_en) or "",
        day=starts.date(),
        start=f"{starts:%H:%M}",
        end=f"{ends:%H:%M}",
        place=municipality.full_name if municipality else programme.municipality_code,
        meeting_point=programme.meeting_point,
        participants=int(data.get("participants", signup.participants) or 1),
        fee=int(data.get("fee", signup.fee) or 0),
        refund=int(data.get("refund") or 0),
        on_credit=programme.price_kind == PriceKind.CREDIT,
        refund_until=deadline.date(),
        refund_until_time=f"{deadline:%H:%M}",
        reason=data.get("reason") or session.cancel_reason or "",
    )
    values = {
        "line": line,
        "signup": signup,
        "session": session,
        "programme": programme,
        # The organiser's mails name who joined or left (their own programme's people).
        "employee": signup.user,
        "employee_company": signup.company,
    }
    params = {
        "signup": signup.id,
        "title": line.title_ja,
        "title_en": line.title_en,
        "starts_at": starts.isoformat(),
        "ends_at": ends.isoformat(),
        "participants": line.participants,
        "fee": line.fee,
        "refund": line.refund,
    }
    pages = {
        EMPLOYEE: PROGRAMME_EMPLOYEE_PAGE,
        OPERATORS: ("operator.programme_session", {"session_id": session.id}),
    }
    return Facts(values, params, pages, private=("refund",))


def _programme_message(event: Event) -> Facts | None:
    """The organiser's message, to a participant still in the session."""
    facts = _signup_facts(event)
    if facts is None:
        return None
    signup = facts.values["signup"]
    message_id = event.facts.get("message_id")
    message = db.session.get(ProgrammeMessage, int(message_id)) if message_id else None
    if (
        message is None
        or message.session_id != signup.session_id
        or signup.status != SignupStatus.JOINED
        or facts.values["session"].status != SessionStatus.SCHEDULED
    ):
        return None  # left or cancelled since: the message no longer concerns them
    facts.values["message"] = message
    facts.params["message"] = message.id
    return facts


def _coupons_issued(event: Event) -> Facts | None:
    data = event.facts
    booking_id = data.get("booking_id")
    booking = db.session.get(Booking, int(booking_id)) if booking_id else None
    if booking is None or booking.user_id != event.user_id:
        return None
    code = str(data.get("municipality_code") or "")
    municipality = by_code(code)
    values = {
        "booking": booking,
        "facility": booking.unit.facility,
        "count": int(data["count"]),
        "amount": int(data["amount"]),
        "total": int(data["total"]),
        "place": municipality.full_name if municipality else code,
        "valid_from": date.fromisoformat(data["valid_from"]),
        "valid_until": date.fromisoformat(data["valid_until"]),
    }
    params = {
        "booking": booking.id,
        "count": values["count"],
        "amount": values["amount"],
        "total": values["total"],
        "municipality_code": code,
        "valid_from": data["valid_from"],
        "valid_until": data["valid_until"],
    }
    return Facts(values, params, {EMPLOYEE: ("booking.coupons_page", {})})


def _match_facts(event: Event) -> Facts | None:
    """A matching event's request and, where it names one, its proposal; each must still
    belong to the organisation the event is for."""
    if event.subject_type != "match_request" or event.subject_id is None:
        return None
    request = db.session.get(MatchRequest, event.subject_id)
    if request is None:
        return None
    proposal = None
    proposal_id = event.facts.get("proposal_id")
    if proposal_id is not None:
        proposal = db.session.get(MatchProposal, int(proposal_id))
        if proposal is None or proposal.request_id != request.id:
            return None
    if event.company_id is not None and request.company_id != event.company_id:
        return None
    if (
        proposal is not None
        and event.operator_id is not None
        and proposal.operator_id != event.operator_id
    ):
        return None
    values = {
        "request": request,
        "proposal": proposal,
        "proposal_facility": proposal and db.session.get(Facility, proposal.facility_id),
        "org_name": proposal.operator.name if proposal is not None else "",
    }
    params = {"request": request.id, "title": request.title}
    if proposal is not None:
        params.update(proposal=proposal.id, org=values["org_name"])
    pages = {
        # The request with its proposal form; once accepted, the organisation's proposals.
        OPERATORS: (
            ("operator.match_proposals", {})
            if event.type == ev.MATCH_ACCEPTED
            else ("operator.match_request", {"request_id": request.id})
        ),
        COMPANY_ADMINS: ("company.match_request", {"request_id": request.id}),
    }
    return Facts(values, params, pages)


def _match_requested(event: Event) -> Facts | None:
    """Only while the request is open: one decided since needs no answer."""
    facts = _match_facts(event)
    if facts is None or facts.values["request"].status != MatchStatus.OPEN:
        return None
    return facts


# The employee's programmes: the page booking keeps of them.
PROGRAMME_EMPLOYEE_PAGE: Page = ("booking.my_programmes", {})

REGION_LOADERS = {
    ev.PROGRAMME_JOINED: _signup_facts,
    ev.PROGRAMME_WAITLISTED: _signup_facts,
    ev.PROGRAMME_PROMOTED: _signup_facts,
    ev.PROGRAMME_LEFT: _signup_facts,
    ev.PROGRAMME_CANCELLED: _signup_facts,
    ev.PROGRAMME_MESSAGE: _programme_message,
    ev.COUPONS_ISSUED: _coupons_issued,
    ev.MATCH_REQUESTED: _match_requested,
    ev.MATCH_PROPOSED: _match_facts,
    ev.MATCH_ACCEPTED: _match_facts,
}


# --- subjects (mail_render.SUBJECTS) --------------------------------------------------------


def _session_words(c: Mapping[str, Any]) -> dict[str, Any]:
    line: SessionLine = c["line"]
    return {
        "title": line.title(c["locale"]),
        "day": format_day(line.day),
        "start": line.start,
        "end": line.end,
    }


REGION_SUBJECTS: dict[str, Callable[[dict[str, Any]], str]] = {
    "programme_joined": lambda c: gettext(
        "You joined %(title)s: %(day)s %(start)s–%(end)s", **_session_words(c)
    ),
    "programme_waitlisted": lambda c: gettext(
        "On the waitlist: %(title)s, %(day)s %(start)s–%(end)s", **_session_words(c)
    ),
    "programme_promoted": lambda c: gettext(
        "A place came free, you joined %(title)s: %(day)s %(start)s–%(end)s",
        **_session_words(c),
    ),
    "programme_left": lambda c: gettext(
        "You left %(title)s: %(day)s %(start)s–%(end)s", **_session_words(c)
    ),
    "programme_cancelled": lambda c: gettext(
        "Cancelled by the organiser: %(title)s, %(day)s %(start)s–%(end)s", **_session_words(c)
    ),
    "programme_message": lambda c: gettext(
        "A message about %(title)s, %(day)s %(start)s–%(end)s", **_session_words(c)
    ),
    "programme_operator_joined": lambda c: gettext(
        "New participants: %(title)s, %(day)s %(start)s–%(end)s", **_session_words(c)
    ),
    "programme_operator_left": lambda c: gettext(
        "A participant left: %(title)s, %(day)s %(start)s–%(end)s", **_session_words(c)
    ),
    "coupons_issued": lambda c: gettext(
        "Local coupons for your stay: %(count)d × %(amount)s in %(place)s",
        count=c["count"],
        amount=format_yen_plain(c["amount"]),
        place=c["place"],
    ),
    "match_requested": lambda c: gettext(
        "A company asks the regions: %(title)s", title=c["request"].title
    ),
    "match_proposed": lambda c: gettext(
        "A proposal for your request %(title)s from %(org)s",
        title=c["request"].title,
        org=c["org_name"],
    ),
    "match_accepted": lambda c: gettext(
        "Your proposal was accepted: %(title)s", title=c["request"].title
    ),
}


# --- notices (notices.TEXTS) ----------------------------------------------------------------


def _notice_session(p: Mapping[str, Any]) -> dict[str, Any]:
    starts = datetime.fromisoformat(str(p["starts_at"]))
    ends = datetime.fromisoformat(str(p["ends_at"]))
    english = p.get("title_en") or ""
    return {
        "title": english if current_locale() == "en" and english else p["title"],
        "day": format_day(starts, "short"),
        "start": f"{starts.astimezone(TOKYO):%H:%M}",
        "end": f"{ends.astimezone(TOKYO):%H:%M}",
        "refund": format_yen(int(p.get("refund") or 0)),
    }


def _notice_left(p: Mapping[str, Any]) -> str:
    if int(p.get("refund") or 0):
        return gettext(
            "You left %(title)s, %(day)s %(start)s–%(end)s: %(refund)s back to your"
            " company's credit",
            **_notice_session(p),
        )
    return gettext("You left %(title)s, %(day)s %(start)s–%(end)s", **_notice_session(p))


def _notice_cancelled(p: Mapping[str, Any]) -> str:
    if int(p.get("refund") or 0):
        return gettext(
            "The organiser cancelled %(title)s, %(day)s %(start)s–%(end)s: %(refund)s back to"
            " your company's credit",
            **_notice_session(p),
        )
    return gettext(
        "The organiser cancelled %(title)s, %(day)s %(start)s–%(end)s", **_notice_session(p)
    )


def _notice_coupons(p: Mapping[str, Any]) -> str:
    municipality = by_code(str(p["municipality_code"]))
    return ngettext(
        "%(num)d local coupon of %(amount)s for %(place)s, to use from %(first)s to %(last)s",
        "%(num)d local coupons of %(amount)s each for %(place)s, to use from %(first)s to %(last)s",
        int(p["count"]),
        amount=format_yen_plain(int(p["amount"])),
        place=municipality.full_name if municipality else p["municipality_code"],
        first=format_day(date.fromisoformat(str(p["valid_from"])), "short"),
        last=format_day(date.fromisoformat(str(p["valid_until"])), "short"),
    )


REGION_NOTICE_TEXTS: dict[str, Callable[[dict], str]] = {
    "programme_joined": lambda p: ngettext(
        "You joined %(title)s, %(day)s %(start)s–%(end)s, %(num)d participant",
        "You joined %(title)s, %(day)s %(start)s–%(end)s, %(num)d participants",
        int(p.get("participants") or 1),
        **_notice_session(p),
    ),
    "programme_waitlisted": lambda p: gettext(
        "You are on the waitlist of %(title)s, %(day)s %(start)s–%(end)s", **_notice_session(p)
    ),
    "programme_promoted": lambda p: gettext(
        "A place came free: you joined %(title)s, %(day)s %(start)s–%(end)s",
        **_notice_session(p),
    ),
    "programme_left": _notice_left,
    "programme_cancelled": _notice_cancelled,
    "programme_message": lambda p: gettext(
        "A message from the organiser of %(title)s, %(day)s %(start)s–%(end)s",
        **_notice_session(p),
    ),
    "programme_operator_joined": lambda p: ngettext(
        "%(num)d participant joined %(title)s, %(day)s %(start)s–%(end)s",
        "%(num)d participants joined %(title)s, %(day)s %(start)s–%(end)s",
        int(p.get("participants") or 1),
        **_notice_session(p),
    ),
    "programme_operator_left": lambda p: ngettext(
        "%(num)d participant left %(title)s, %(day)s %(start)s–%(end)s",
        "%(num)d participants left %(title)s, %(day)s %(start)s–%(end)s",
        int(p.get("participants") or 1),
        **_notice_session(p),
    ),
    "coupons_issued": _notice_coupons,
    "match_requested": lambda p: gettext("A company asks the regions: %(title)s", title=p["title"]),
    "match_proposed": lambda p: gettext(
        "%(org)s proposed a plan for your request %(title)s", org=p["org"], title=p["title"]
    ),
    "match_accepted": lambda p: gettext(
        "Your proposal for %(title)s was accepted", title=p["title"]
    ),
}
