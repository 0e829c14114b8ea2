"""The employee's pages of regional programmes (issue 20): what is on offer and where,
a programme and its sessions, join (the fee shown before the confirm button) and leave
(what comes back shown before), my programmes, and the regional page of a municipality.

Routes on the employee blueprint (``booking.views.bp``, signed-in members only). The
rules are ``regions.programmes``' (what is offered, a person's places) and
``regions.places``' (join, leave); this module decides only whether the employee has a
stay for a session (``stays_covering``: a live stay whose check-in to check-out days
cover the session's Tokyo date), which ``regions`` cannot see. Somebody else's sign-up
is 404; only people of a subscribing company join.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from accounts.models import User
from booking import lookups
from booking.models import OPEN_STATUSES, Booking
from booking.programme_forms import JoinForm, JoinQuery, LeaveForm, ProgrammeFilterForm
from booking.services import BookingNotFound
from booking.views import bp
from core import limits
from core.db import TOKYO, edge_now, in_id_range, tokyo_today
from core.errors import RuleError
from core.extensions import db
from core.i18n import current_locale, format_yen
from facilities import municipalities
from facilities.geo import facility_pins
from facilities.models import Facility, Unit
from facilities.regions import PREFECTURES, PREFECTURES_BY_CODE
from regions import places, programme_money, programmes
from regions.models import (
    PriceKind,
    Programme,
    ProgrammeKind,
    ProgrammeLanguage,
    ProgrammeSession,
    ProgrammeSignup,
    SignupStatus,
)

# How far ahead the list looks when no end date is given (at most: programme_forms).
LIST_DAYS = 180

KIND_LABELS = {
    ProgrammeKind.LOCAL_WORK: _l("Local work and volunteering"),
    ProgrammeKind.EXPERIENCE: _l("Experience"),
    ProgrammeKind.TOUR: _l("Guided tour"),
    ProgrammeKind.SKILLS: _l("Skills session or pro bono project"),
    ProgrammeKind.COMMUNITY: _l("Community event"),
}
LANGUAGE_LABELS = {
    ProgrammeLanguage.JA: _l("In Japanese"),
    ProgrammeLanguage.EN: _l("In English"),
    ProgrammeLanguage.BOTH: _l("In Japanese and English"),
}
SIGNUP_LABELS = {
    SignupStatus.JOINED: _l("Joined"),
    SignupStatus.WAITLISTED: _l("On the waitlist"),
    SignupStatus.LEFT: _l("Left"),
    SignupStatus.CANCELLED: _l("Cancelled by the organiser"),
}


# -- words for the templates -------------------------------------------------------------


@bp.app_template_filter("programme_time")
def programme_time(moment: datetime) -> str:
    """An instant as Japan's wall-clock time, ``10:00``."""
    return f"{moment.astimezone(TOKYO):%H:%M}"


@bp.app_template_filter("programme_price")
def programme_price(programme: Programme) -> str:
    """What a place costs a participant, and who pays it."""
    if programme.price_kind == PriceKind.CREDIT:
        return _(
            "%(price)s per person, from your company's credit", price=format_yen(programme.price)
        )
    if programme.price_kind == PriceKind.LOCAL:
        return _("%(price)s per person, paid on the day", price=format_yen(programme.price))
    return _("Free")


@bp.app_template_filter("municipality_name")
def municipality_name(code: str) -> str:
    found = municipalities.by_code(code)
    return found.full_name if found else code


def labels() -> dict:
    return {
        "kind_labels": KIND_LABELS,
        "language_labels": LANGUAGE_LABELS,
        "signup_labels": SIGNUP_LABELS,
    }


# -- whose stay covers a session -----------------------------------------------------------


def session_day(session: ProgrammeSession) -> date:
    return session.starts_at.astimezone(TOKYO).date()


def stays_covering(user: User, day: date) -> list[Booking]:
    """The person's live stays (confirmed or checked in) whose check-in to check-out days
    include ``day``, earliest first."""
    return list(
        db.session.scalars(
            select(Booking)
            .where(
                Booking.user_id == user.id,
                Booking.status.in_(OPEN_STATUSES),
                Booking.check_in <= day,
                Booking.check_out >= day,
            )
            .options(selectinload(Booking.unit).selectinload(Unit.facility))
            .order_by(Booking.check_in, Booking.id)
        )
    )


def stay_for_session(
    user: User, session: ProgrammeSession, booking_id: int | None
) -> tuple[int | None, bool]:
    """The stay a place goes with and whether the person has one for the session's day.

    A stay named must be the person's own (else ``BookingNotFound``) and cover the day
    (else a ``RuleError`` ``stay_dates``); none named, the first covering stay is taken.
    The stay chosen is locked, and checked again under its lock, before ``join`` takes
    the session's: a cancellation takes them in that order too, so a stay cancelled
    meanwhile never keeps a place (``regions.places.release_for_stay`` has run).
    """
    covering = stays_covering(user, session_day(session))
    if booking_id is None:
        chosen = covering[0].id if covering else None
    elif any(b.id == booking_id for b in covering):
        chosen = booking_id
    else:
        lookups.booking_of(user, booking_id)  # somebody else's stay: not found
        raise RuleError(
            _l("That stay does not cover the day of the session. Choose another stay."),
            "stay_dates",
        )
    if chosen is None:
        return None, False
    stay = lookups.booking_of(user, chosen, lock=True)
    if stay.status not in OPEN_STATUSES:
        raise RuleError(
            _l("That stay has just been cancelled or ended. Choose another stay."),
            "stay_dates",
        )
    return chosen, True


def _employee() -> None:
    """Joining is for the people of a subscribing company, as booking stays is."""
    if not current_user.books_stays:
        abort(403)


def _grace_days() -> int:
    return current_app.config["BILLING_GRACE_DAYS"]


# -- the list ------------------------------------------------------------------------------


def _filter_form(args) -> ProgrammeFilterForm:
    form = ProgrammeFilterForm(args)
    en = current_locale() == "en"
    form.prefecture.choices = [("", _l("Anywhere in Japan"))] + [
        (str(p.code), p.name_en if en else p.name_ja) for p in PREFECTURES
    ]
    form.kind.choices = [("", _l("Any kind"))] + [(k.value, v) for k, v in KIND_LABELS.items()]
    return form


def _during_stays(user: User, today: date, now: datetime) -> list[ProgrammeSession]:
    """Sessions near the person's live stays still ahead, within each stay's dates."""
    if not user.books_stays:
        return []
    upcoming, _past = lookups.bookings_of(user, today)
    found: dict[int, ProgrammeSession] = {}
    for stay in upcoming:
        if stay.status not in OPEN_STATUSES:
            continue
        f = stay.unit.facility
        for session in programmes.sessions_near(
            f.latitude, f.longitude, max(stay.check_in, today), stay.check_out, now
        ):
            found[session.id] = session
    return sorted(found.values(), key=lambda s: (s.starts_at, s.id))


def _filtered(form: ProgrammeFilterForm, now: datetime) -> list[ProgrammeSession]:
    today = tokyo_today(now)
    start = form.date_from.data or today
    end = form.date_to.data or start + timedelta(days=LIST_DAYS)
    prefecture = int(form.prefecture.data) if form.prefecture.data else None
    municipality = form.municipality.data or None
    kind = form.kind.data or None
    if not form.during_stays.data:
        return programmes.published_sessions(
            prefecture=prefecture,
            municipality_code=municipality,
            start=start,
            end=end,
            now=now,
            kind=kind,
        )
    return [
        s
        for s in _during_stays(current_user, today, now)
        if start <= session_day(s) <= end
        and (prefecture is None or s.programme.prefecture == prefecture)
        and (municipality is None or s.programme.municipality_code == municipality)
        and (kind is None or s.programme.kind == kind)
    ]


@bp.get("/programmes")
def programmes_list():
    """Sessions of the regions' programmes still ahead, soonest first, by place, dates,
    kind, or near the employee's stays."""
    form = _filter_form(request.args)
    now = edge_now()
    error = None
    sessions: list[ProgrammeSession] = []
    if form.validate():
        sessions = _filtered(form, now)
    else:
        error = _("Please check the filters.")
    return render_template(
        "booking/programmes/list.html",
        form=form,
        sessions=sessions,
        error=error,
        mine=programmes.signups_by_session(current_user.id, [s.id for s in sessions]),
        today=tokyo_today(now),
        **labels(),
    ), (400 if error else 200)


# -- one programme -------------------------------------------------------------------------


def _offered_programme(programme_id: int) -> Programme:
    programme = programmes.offered_programme(programme_id)
    if programme is None:
        abort(404)
    return programme


def _programme_pins(programme: Programme) -> list[dict]:
    """The meeting point as a map pin (``templates/_map.html``)."""
    return [
        {
            "id": programme.id,
            "lat": round(programme.latitude, 6),
            "lng": round(programme.longitude, 6),
            "title": programme.title(current_locale()),
            "place": programme.meeting_point,
            "url": url_for("booking.programme", programme_id=programme.id),
            "price": "",
        }
    ]


@bp.get("/programmes/<int:programme_id>")
def programme(programme_id: int):
    """A programme: what, where (the meeting point on the map), the price, and each
    session ahead with its seats and the way to join it."""
    programme = _offered_programme(programme_id)
    now = edge_now()
    sessions = programmes.upcoming_sessions(programme, now)
    stays = (
        {s.id: stays_covering(current_user, session_day(s)) for s in sessions}
        if current_user.books_stays
        else {}
    )
    return render_template(
        "booking/programmes/detail.html",
        programme=programme,
        sessions=sessions,
        stays=stays,
        mine=programmes.signups_by_session(current_user.id, [s.id for s in sessions]),
        pins=_programme_pins(programme),
        max_participants=programmes.MAX_PARTICIPANTS,
        **labels(),
    )


# -- join: the fee first, then the confirm button ------------------------------------------


def _session_or_404(session_id: int) -> ProgrammeSession:
    session = db.session.get(ProgrammeSession, session_id) if in_id_range(session_id) else None
    if session is None or programmes.offered_programme(session.programme_id) is None:
        abort(404)
    return session


def _join_page(session, form, *, error=None, status=200):
    """The confirm page: the session, who comes, the stay, the fee in all, then the
    button; a refusal stated above it."""
    programme = session.programme
    participants = form.participants.data if not form.participants.errors else None
    fee = programmes.fee_for(programme, participants) if participants else None
    stays = stays_covering(current_user, session_day(session))
    chosen = form.booking_id.data if form.booking_id.data else (stays[0].id if stays else None)
    now = edge_now()
    return render_template(
        "booking/programmes/join.html",
        session=session,
        programme=programme,
        form=form,
        participants=participants,
        fee=fee,
        stays=stays,
        chosen_stay=chosen,
        full=session.seats_left < (participants or 1),
        error=error,
        refund_deadline=programme_money.refund_deadline(session.starts_at),
        started=session.starts_at <= now,
        **labels(),
    ), status


def refusal_status(exc: RuleError) -> int:
    """A refused join as an HTTP status: 403 not allowed, 404 not there, 409 the
    session's state (full, begun, cancelled, already in), 422 any other rule."""
    if isinstance(exc, programmes.ProgrammeForbidden):
        return 403
    if isinstance(exc, programmes.ProgrammeNotFound | BookingNotFound):
        return 404
    if exc.code in ("full", "already_joined", "started", "cancelled", "fee_changed"):
        return 409
    return 422


@bp.get("/programmes/sessions/<int:session_id>/join")
def programme_join_confirm(session_id: int):
    """What joining costs in all, before the confirm button."""
    _employee()
    session = _session_or_404(session_id)
    query = JoinQuery(request.args)
    if not query.validate():
        error = RuleError(_("Choose 1 to 20 participants: yourself and your companions."))
        return _join_page(session, query, error=error, status=400)
    form = JoinForm(formdata=None)
    form.participants.data = query.participants.data
    form.booking_id.data = query.booking_id.data
    form.waitlist.data = query.waitlist.data
    form.expected_fee.data = programmes.fee_for(session.programme, query.participants.data)
    return _join_page(session, form)


@bp.post("/programmes/sessions/<int:session_id>/join")
@limits.booking_action
def programme_join(session_id: int):
    _employee()
    session = _session_or_404(session_id)
    form = JoinForm()
    if not form.validate():
        error = RuleError(_("The form was incomplete or had expired. Please try again."))
        return _join_page(session, form, error=error, status=400)
    now = edge_now()
    participants = form.participants.data
    try:
        expected = form.expected_fee.data
        if expected is not None and expected != programmes.fee_for(session.programme, participants):
            raise RuleError(
                _l("The fee has changed since it was shown. Please check it and confirm again."),
                "fee_changed",
            )
        booking_id, has_stay = stay_for_session(current_user, session, form.booking_id.data)
        signup = places.join(
            session.id,
            current_user,
            participants,
            now,
            booking_id=booking_id,
            has_stay=has_stay,
            waitlist=form.waitlist.data,
            grace_days=_grace_days(),
        )
    except RuleError as exc:
        db.session.rollback()
        if isinstance(exc, BookingNotFound | programmes.ProgrammeNotFound):
            abort(404)
        return _join_page(
            db.session.get(ProgrammeSession, session_id),
            form,
            error=exc,
            status=refusal_status(exc),
        )
    waiting = signup.status == SignupStatus.WAITLISTED
    title = session.programme.title(current_locale())
    db.session.commit()
    if waiting:
        flash(
            _(
                "You are on the waitlist for %(title)s. We will tell you if a place frees up;"
                " nothing is charged until then.",
                title=title,
            ),
            "info",
        )
    else:
        flash(_("You have joined %(title)s.", title=title), "success")
    return redirect(url_for("booking.my_programmes"), 303)


# -- leave: what comes back first ----------------------------------------------------------


def _own_signup(signup_id: int) -> ProgrammeSignup:
    _employee()
    try:
        return programmes.signup_of_user(signup_id, current_user.id)
    except programmes.ProgrammeNotFound:
        abort(404)


@bp.get("/programmes/signups/<int:signup_id>/leave")
def programme_leave_confirm(signup_id: int):
    signup = _own_signup(signup_id)
    now = edge_now()
    return render_template(
        "booking/programmes/leave.html",
        signup=signup,
        session=signup.session,
        programme=signup.session.programme,
        may_leave=places.may_leave(signup, now),
        refund=places.leave_preview(signup, now),
        paid=programme_money.paid(signup.id),
        refund_deadline=programme_money.refund_deadline(signup.session.starts_at),
        form=LeaveForm(formdata=None),
        **labels(),
    )


@bp.post("/programmes/signups/<int:signup_id>/leave")
@limits.booking_action
def programme_leave(signup_id: int):
    form = LeaveForm()
    if not form.validate():
        abort(400)
    signup = _own_signup(signup_id)
    now = edge_now()
    back = redirect(url_for("booking.programme_leave_confirm", signup_id=signup_id), 303)
    expected = form.expected_refund.data
    if expected is not None and places.leave_preview(signup, now) != expected:
        flash(
            _(
                "Leaving now returns %(amount)s, not what was shown. Please check and confirm"
                " again.",
                amount=format_yen(places.leave_preview(signup, now)),
            ),
            "error",
        )
        return back
    title = signup.session.programme.title(current_locale())
    try:
        refund = places.leave(signup.id, current_user.id, now)
    except RuleError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return back
    db.session.commit()
    if refund:
        flash(
            _(
                "You have left %(title)s. %(amount)s was returned to your company's credit.",
                title=title,
                amount=format_yen(refund),
            ),
            "success",
        )
    else:
        flash(_("You have left %(title)s.", title=title), "success")
    return redirect(url_for("booking.my_programmes"), 303)


# -- my programmes -------------------------------------------------------------------------


@bp.get("/my/programmes")
def my_programmes():
    _employee()
    now = edge_now()
    rows = programmes.signups_of_user(current_user.id)
    upcoming = [
        s for s in reversed(rows) if s.status in programmes.CURRENT and s.session.starts_at > now
    ]
    other = [s for s in rows if s not in upcoming]
    return render_template(
        "booking/programmes/mine.html",
        upcoming=upcoming,
        other=other,
        positions={s.id: programmes.waitlist_position(s) for s in upcoming},
        leavable={s.id for s in upcoming if places.may_leave(s, now)},
        **labels(),
    )


# -- a municipality's page -----------------------------------------------------------------


def facilities_in(code: str) -> list[Facility]:
    """The network's listed facilities that lie in the municipality (``facility_code``)."""
    found = db.session.scalars(
        select(Facility)
        .where(Facility.prefecture == int(code[:2]), Facility.listed)
        .order_by(Facility.id)
    )
    return [f for f in found if municipalities.facility_code(f) == code]


@bp.get("/regions/<code>")
def region(code: str):
    """A municipality: its facilities in the network and its programmes ahead."""
    municipality = municipalities.by_code(code) if municipalities.is_valid_code(code) else None
    if municipality is None:
        abort(404)
    now = edge_now()
    facilities = facilities_in(municipality.code)
    locale = current_locale()
    sessions = programmes.published_sessions(
        municipality_code=municipality.code, now=now, limit=100
    )
    return render_template(
        "booking/programmes/region.html",
        municipality=municipality,
        prefecture=PREFECTURES_BY_CODE.get(municipality.prefecture),
        facilities=facilities,
        sessions=sessions,
        mine=programmes.signups_by_session(current_user.id, [s.id for s in sessions]),
        pins=facility_pins(
            facilities, locale, lambda f: url_for("booking.facility", facility_id=f.id)
        ),
        **labels(),
    )
