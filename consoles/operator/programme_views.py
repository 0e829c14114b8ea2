"""The organiser's programmes (issue 20): the list, a programme's form, its page with
its sessions (add one-off or weekly, seats, cancel with a confirm step, publish), and a
session's page with its participants, attendance and a message to them.

Any operator organisation may publish programmes (a municipality and a local
association are operator organisations). Pages hang on the console's blueprint
(``views.bp``: signed-in operators only, others 403). A programme, session or sign-up
of another organisation answers 404, like one that does not exist
(``regions.organise.own_*``). Every POST carries the CSRF token. The participants'
names and addresses are shown only on the session's page, and every showing is logged
(``organise_people.record_participants_read``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import select

from booking.models import Booking
from consoles.operator.programme_forms import (
    CancelSessionForm,
    CapacityForm,
    MessageForm,
    ProgrammeForm,
    SeriesForm,
    SessionForm,
    attendance_form,
    put_errors,
)
from consoles.operator.views import bp, require_post_form
from core.db import TOKYO, edge_now
from core.errors import RuleError
from core.extensions import db
from core.forms import EmptyForm
from core.i18n import format_yen
from facilities.municipalities import by_code
from regions import organise, organise_people, organise_sessions, programme_money
from regions.models import Programme, ProgrammeSession, SessionStatus

# --- lookups ------------------------------------------------------------------------------


def programme_or_404(programme_id: int) -> Programme:
    programme = organise.own_programme(current_user.operator_id, programme_id)
    if programme is None:
        abort(404)
    return programme


def session_or_404(session_id: int) -> ProgrammeSession:
    session = organise.own_session(current_user.operator_id, session_id)
    if session is None:
        abort(404)
    return session


def clock(moment: datetime) -> str:
    """Tokyo wall-clock time, 09:30."""
    return f"{moment.astimezone(TOKYO):%H:%M}"


def tokyo_day(moment: datetime) -> date:
    return moment.astimezone(TOKYO).date()


def _labels() -> dict:
    return {
        "kind_labels": organise.KIND_LABELS,
        "price_labels": organise.PRICE_LABELS,
        "language_labels": organise.LANGUAGE_LABELS,
        "clock": clock,
        "tokyo_day": tokyo_day,
    }


def _municipality_name(code: str) -> str:
    found = by_code(code)
    return found.full_name if found else code


# --- the list -----------------------------------------------------------------------------


@bp.get("/programmes")
def programmes():
    rows = organise.programme_rows(current_user.operator_id, edge_now())
    return render_template(
        "operator/programmes/list.html",
        rows=rows,
        municipality_name=_municipality_name,
        **_labels(),
    )


# --- a programme's facts ------------------------------------------------------------------


def _form_page(form: ProgrammeForm, programme: Programme | None = None, status: int = 200):
    return render_template(
        "operator/programmes/form.html", form=form, programme=programme, **_labels()
    ), status


@bp.route("/programmes/new", methods=["GET", "POST"])
def programme_new():
    form = ProgrammeForm()
    if not form.is_submitted():
        own_code = current_user.operator.municipality_code
        if own_code:  # a municipality's programmes are mostly its own
            form.municipality_code.data = own_code
    if not form.validate_on_submit():
        return _form_page(form, status=400 if form.is_submitted() else 200)
    try:
        programme = organise.create_programme(
            current_user.operator_id, form.draft(), edge_now(), actor=current_user
        )
    except organise.ProgrammeInvalid as refused:
        db.session.rollback()
        put_errors(form, refused.errors, "title_ja")
        return _form_page(form, status=400)
    db.session.commit()
    flash(_("The programme has been saved. Add its sessions, then publish it."), "success")
    return redirect(url_for("operator.programme", programme_id=programme.id), 303)


@bp.route("/programmes/<int:programme_id>/edit", methods=["GET", "POST"])
def programme_edit(programme_id: int):
    programme = programme_or_404(programme_id)
    form = ProgrammeForm(obj=programme)
    if not form.validate_on_submit():
        return _form_page(form, programme, status=400 if form.is_submitted() else 200)
    try:
        organise.edit_programme(programme, form.draft(), edge_now(), actor=current_user)
    except organise.ProgrammeInvalid as refused:
        db.session.rollback()
        put_errors(form, refused.errors, "title_ja")
        return _form_page(form, programme, status=400)
    db.session.commit()
    flash(_("The programme has been saved."), "success")
    return redirect(url_for("operator.programme", programme_id=programme.id), 303)


@bp.post("/programmes/<int:programme_id>/publish")
def programme_publish(programme_id: int):
    programme = programme_or_404(programme_id)
    require_post_form()
    try:
        organise.publish(programme, edge_now(), actor=current_user)
    except RuleError as refused:
        db.session.rollback()
        flash(str(refused.message), "error")
        return redirect(url_for("operator.programme", programme_id=programme_id), 303)
    db.session.commit()
    flash(_("The programme is published: employees can find and join it."), "success")
    return redirect(url_for("operator.programme", programme_id=programme_id), 303)


@bp.post("/programmes/<int:programme_id>/unpublish")
def programme_unpublish(programme_id: int):
    programme = programme_or_404(programme_id)
    require_post_form()
    organise.unpublish(programme, edge_now(), actor=current_user)
    db.session.commit()
    flash(
        _("The programme is hidden from employees. The places already taken are kept."),
        "success",
    )
    return redirect(url_for("operator.programme", programme_id=programme_id), 303)


# --- the programme's page and its sessions ------------------------------------------------


def _programme_page(
    programme: Programme,
    *,
    session_form: SessionForm | None = None,
    series_form: SeriesForm | None = None,
    error: str | None = None,
    status: int = 200,
):
    now = edge_now()
    sessions = organise.sessions_of(programme)
    return render_template(
        "operator/programmes/programme.html",
        programme=programme,
        municipality=_municipality_name(programme.municipality_code),
        sessions=sessions,
        now=now,
        session_form=session_form or SessionForm(formdata=None),
        series_form=series_form or SeriesForm(formdata=None),
        capacity_forms={
            s.id: CapacityForm(formdata=None, prefix=f"s{s.id}", capacity=s.capacity)
            for s in sessions
        },
        button=EmptyForm(),
        error=error,
        **_labels(),
    ), status


@bp.get("/programmes/<int:programme_id>")
def programme(programme_id: int):
    return _programme_page(programme_or_404(programme_id))


def _refused_on(form, refused: organise.SessionRefused, fallback: str) -> None:
    field = form._fields.get(refused.field or fallback) or form._fields[fallback]
    field.errors = [*field.errors, str(refused.message)]


@bp.post("/programmes/<int:programme_id>/sessions")
def session_add(programme_id: int):
    programme = programme_or_404(programme_id)
    form = SessionForm()
    if not form.validate_on_submit():
        return _programme_page(programme, session_form=form, status=400)
    try:
        session = organise_sessions.add_session(
            programme, form.day.data, form.start.data, form.end.data, edge_now()
        )
    except organise.SessionRefused as refused:
        db.session.rollback()
        _refused_on(form, refused, "day")
        return _programme_page(programme, session_form=form, status=409)
    db.session.commit()
    flash(
        _("A session on %(day)s has been added.", day=f"{tokyo_day(session.starts_at):%Y-%m-%d}"),
        "success",
    )
    return redirect(url_for("operator.programme", programme_id=programme_id), 303)


@bp.post("/programmes/<int:programme_id>/series")
def series_add(programme_id: int):
    programme = programme_or_404(programme_id)
    form = SeriesForm()
    if not form.validate_on_submit():
        return _programme_page(programme, series_form=form, status=400)
    try:
        sessions = organise_sessions.add_weekly_series(
            programme,
            form.first_day.data,
            form.start.data,
            form.end.data,
            form.weeks.data,
            edge_now(),
        )
    except organise.SessionRefused as refused:
        db.session.rollback()
        _refused_on(form, refused, "first_day")
        return _programme_page(programme, series_form=form, status=409)
    db.session.commit()
    flash(
        ngettext(
            "%(num)d weekly session has been added.",
            "%(num)d weekly sessions have been added.",
            len(sessions),
        ),
        "success",
    )
    return redirect(url_for("operator.programme", programme_id=programme_id), 303)


@bp.post("/programme-sessions/<int:session_id>/capacity")
def session_capacity(session_id: int):
    session = session_or_404(session_id)
    programme_id = session.programme_id
    form = CapacityForm(prefix=f"s{session.id}")
    if not form.validate_on_submit():
        message = "; ".join(str(e) for e in form.capacity.errors) or _("Enter the seats.")
        return _programme_page(session.programme, error=message, status=400)
    try:
        promoted = organise_sessions.set_session_capacity(session, form.capacity.data, edge_now())
    except organise.SessionRefused as refused:
        db.session.rollback()
        return _programme_page(
            db.session.get(Programme, programme_id), error=str(refused.message), status=409
        )
    db.session.commit()
    flash(_("The session's seats have been saved."), "success")
    if promoted:
        flash(
            ngettext(
                "%(num)d person on the waitlist got a place and is told.",
                "%(num)d people on the waitlist got a place and are told.",
                len(promoted),
            ),
            "info",
        )
    return redirect(url_for("operator.programme", programme_id=programme_id), 303)


# --- cancelling a session -----------------------------------------------------------------


def _cancel_page(session: ProgrammeSession, form: CancelSessionForm, error=None, status=200):
    return render_template(
        "operator/programmes/cancel.html",
        session=session,
        programme=session.programme,
        preview=organise_sessions.cancel_preview(session),
        cancellable=session.status == SessionStatus.SCHEDULED and session.ends_at > edge_now(),
        form=form,
        error=error,
        max_reason=organise_sessions.MAX_REASON,
        **_labels(),
    ), status


@bp.get("/programme-sessions/<int:session_id>/cancel")
def session_cancel_confirm(session_id: int):
    """The confirm step: how many people are told and how much credit goes back."""
    session = session_or_404(session_id)
    return _cancel_page(session, CancelSessionForm(formdata=None))


@bp.post("/programme-sessions/<int:session_id>/cancel")
def session_cancel(session_id: int):
    session = session_or_404(session_id)
    form = CancelSessionForm()
    if not form.validate_on_submit():
        return _cancel_page(session, form, status=400)
    programme_id = session.programme_id
    try:
        done = organise_sessions.cancel_session(
            session, form.reason.data, edge_now(), actor=current_user
        )
    except organise.SessionRefused as refused:
        db.session.rollback()
        return _cancel_page(
            db.session.get(ProgrammeSession, session_id), form, str(refused.message), 409
        )
    db.session.commit()
    flash(
        ngettext(
            "The session is cancelled. %(num)d person is told; %(amount)s goes back to the"
            " companies' credit.",
            "The session is cancelled. %(num)d people are told; %(amount)s goes back to the"
            " companies' credit.",
            done.told,
            amount=format_yen(done.refunded),
        ),
        "success",
    )
    return redirect(url_for("operator.programme", programme_id=programme_id), 303)


# --- a session's page: participants, attendance, messages ---------------------------------


@dataclass(frozen=True)
class ParticipantLine:
    """A participant as the organiser's page shows them, with their stay's dates."""

    person: organise_people.Participant
    check_in: date | None
    check_out: date | None
    paid: int  # yen the place took from the company's credit


def _stay_dates(booking_ids: list[int]) -> dict[int, tuple[date, date]]:
    if not booking_ids:
        return {}
    rows = db.session.execute(
        select(Booking.id, Booking.check_in, Booking.check_out).where(Booking.id.in_(booking_ids))
    )
    return {row.id: (row.check_in, row.check_out) for row in rows}


def _lines(session: ProgrammeSession) -> list[ParticipantLine]:
    people = organise_people.participants(session)
    stays = _stay_dates([p.booking_id for p in people if p.booking_id is not None])
    lines = []
    for person in people:
        check_in, check_out = stays.get(person.booking_id, (None, None))
        lines.append(
            ParticipantLine(person, check_in, check_out, programme_money.paid(person.signup_id))
        )
    return lines


def _session_page(
    session: ProgrammeSession,
    *,
    attendance=None,
    message_form: MessageForm | None = None,
    error: str | None = None,
    status: int = 200,
):
    now = edge_now()
    lines = _lines(session)
    organise_people.record_participants_read(session, now, actor=current_user)
    db.session.commit()  # the reading is logged whatever the page shows next
    joined = organise_people.joined_signups(session)
    return render_template(
        "operator/programmes/session.html",
        session=session,
        programme=session.programme,
        lines=lines,
        joined=[line for line in lines if line.person.status == "joined"],
        waiting=[line for line in lines if line.person.status == "waitlisted"],
        attendance=attendance or attendance_form(joined, formdata=None),
        may_mark=session.status == SessionStatus.SCHEDULED and now >= session.starts_at,
        message_form=message_form or MessageForm(formdata=None),
        messages=organise_people.messages_of(session),
        error=error,
        now=now,
        **_labels(),
    ), status


@bp.get("/programme-sessions/<int:session_id>")
def programme_session(session_id: int):
    return _session_page(session_or_404(session_id))


@bp.post("/programme-sessions/<int:session_id>/attendance")
def session_attendance(session_id: int):
    session = session_or_404(session_id)
    form = attendance_form(organise_people.joined_signups(session))
    if not form.validate_on_submit():
        return _session_page(session, attendance=form, status=400)
    try:
        changed = organise_people.mark_attendance(session, form.marks(), edge_now())
    except organise.SessionRefused as refused:
        db.session.rollback()
        return _session_page(
            db.session.get(ProgrammeSession, session_id), error=str(refused.message), status=409
        )
    db.session.commit()
    flash(
        ngettext(
            "Attendance saved: %(num)d mark changed.",
            "Attendance saved: %(num)d marks changed.",
            changed,
        ),
        "success",
    )
    return redirect(url_for("operator.programme_session", session_id=session_id), 303)


@bp.post("/programme-sessions/<int:session_id>/message")
def session_message(session_id: int):
    session = session_or_404(session_id)
    form = MessageForm()
    if not form.validate_on_submit():
        return _session_page(session, message_form=form, status=400)
    try:
        message = organise_people.message_participants(
            session, form.body.data, edge_now(), sender=current_user
        )
    except organise.SessionRefused as refused:
        db.session.rollback()
        return _session_page(
            db.session.get(ProgrammeSession, session_id),
            message_form=form,
            error=str(refused.message),
            status=409,
        )
    db.session.commit()
    flash(
        ngettext(
            "Your message goes to %(num)d participant.",
            "Your message goes to %(num)d participants.",
            message.recipients,
        ),
        "success",
    )
    return redirect(url_for("operator.programme_session", session_id=session_id), 303)
