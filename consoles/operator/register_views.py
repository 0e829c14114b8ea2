"""The operator's guest register (宿泊者名簿): pick a facility that lodges guests, read
its stays' register entries by arrival date over a period (a page, a print view in the
usual layout, a CSV), and the register's access log.

On ``views.bp`` (operators only). A facility of another organisation, or a satellite
office (it keeps no register), answers 404. Every read of entries is recorded in the
access log (``lodging.register.record_read``) in the same transaction as nothing else:
the page is rendered first, then the read is recorded and committed. Filling the
register in is ``operator.booking_register`` (helper pages of ``lodging``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from flask import abort, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from booking import guest_register, register_listing
from booking.register_listing import MAX_ENTRIES, RegisterEntry
from consoles.operator.views import _today, bp
from core.csv import csv_download, write_csv
from core.dates import month_bounds, parse_iso_date
from core.db import edge_now
from core.extensions import db
from core.i18n import current_locale, format_datetime_local, status_label
from facilities.licences import LICENCE_LABELS
from facilities.models import Facility
from lodging.guests import format_phone, nationality_choices
from lodging.register import record_read

MAX_DAYS = 366  # a period of at most a year (a leap year's too)
YEARS_AROUND = 10  # dates further from today are typos


# --- the period -------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Arrival dates from ``first`` to ``last``, both included."""

    first: date
    last: date

    @property
    def end(self) -> date:
        return self.last + timedelta(days=1)

    @property
    def args(self) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}


def this_month(today: date) -> Period:
    first, following = month_bounds(today)
    return Period(first, following - timedelta(days=1))


def read_period(args, today: date) -> tuple[Period, str | None]:
    """The period asked for (``from``, ``to``: YYYY-MM-DD, both included), or this
    month; with what is wrong with it for people (then the period is this month)."""
    raw_first = (args.get("from") or "").strip()
    raw_last = (args.get("to") or "").strip()
    default = this_month(today)
    first = parse_iso_date(raw_first) if raw_first else default.first
    if first is None:
        return default, _("The start date is not a date. Enter it as YYYY-MM-DD.")
    last = parse_iso_date(raw_last) if raw_last else None
    if raw_last and last is None:
        return default, _("The end date is not a date. Enter it as YYYY-MM-DD.")
    lowest = today.replace(year=today.year - YEARS_AROUND, day=1)
    highest = today.replace(year=today.year + YEARS_AROUND, day=28)
    if not lowest <= first <= highest or (last is not None and not lowest <= last <= highest):
        return default, _(
            "Choose dates from %(first)s to %(last)s.",
            first=lowest.isoformat(),
            last=highest.isoformat(),
        )
    if last is None:
        last = this_month(first).last
    if last < first:
        return default, _("The end date cannot be before the start date.")
    if (last - first).days + 1 > MAX_DAYS:
        return default, _("Choose a period of at most %(n)d days.", n=MAX_DAYS)
    return Period(first, last), None


# --- helpers ------------------------------------------------------------------------------


def facility_with_register_or_404(facility_id: int) -> Facility:
    facility = register_listing.register_facility(current_user, facility_id)
    if facility is None:
        abort(404)
    return facility


def _nationalities() -> dict[str, str]:
    return dict(nationality_choices(current_locale()))


def _read(facility: Facility, period: Period) -> tuple[list[RegisterEntry], bool]:
    """The entries of the period, at most MAX_ENTRIES; whether there were more."""
    found = register_listing.entries(
        current_user, facility.id, period.first, period.end, limit=MAX_ENTRIES + 1
    )
    return found[:MAX_ENTRIES], len(found) > MAX_ENTRIES


def _record(facility: Facility, found: list[RegisterEntry], action: str) -> None:
    """The read goes into the access log, and the request's one commit."""
    if found:
        record_read([e.booking.id for e in found], facility.id, current_user.id, action, edge_now())
    db.session.commit()


def _page(facility: Facility, period: Period, *, error=None, found=(), capped=False, status=200):
    today = _today()
    return render_template(
        "operator/register.html",
        facility=facility,
        period=period,
        raw={"from": request.args.get("from", ""), "to": request.args.get("to", "")},
        error=error,
        entries=found,
        capped=capped,
        cap=MAX_ENTRIES,
        editable={e.booking.id for e in found if guest_register.editable(e.booking, today)},
        nationalities=_nationalities() if found else {},
        max_days=MAX_DAYS,
        active="facility_register",
    ), status


def _too_many() -> str:
    return _(
        "More than %(num)d stays arrive in this period. Choose a shorter one.", num=MAX_ENTRIES
    )


# --- the pages ----------------------------------------------------------------------------


@bp.get("/register")
def register_index():
    """The facilities whose register the operator keeps."""
    return render_template(
        "operator/register.html",
        facility=None,
        facilities=register_listing.register_facilities(current_user),
        active="register",
    )


@bp.get("/facilities/<int:facility_id>/register")
def register(facility_id: int):
    facility = facility_with_register_or_404(facility_id)
    period, error = read_period(request.args, _today())
    if error:
        return _page(facility, period, error=error, status=400)
    found, capped = _read(facility, period)
    page = _page(facility, period, found=found, capped=capped)
    _record(facility, found, "view")
    return page


@bp.get("/facilities/<int:facility_id>/register/print")
def register_print(facility_id: int):
    facility = facility_with_register_or_404(facility_id)
    period, error = read_period(request.args, _today())
    if error:
        return _page(facility, period, error=error, status=400)
    found, capped = _read(facility, period)
    if capped:  # a printed register is never silently partial
        return _page(facility, period, error=_too_many(), status=400)
    page = render_template(
        "operator/register_print.html",
        facility=facility,
        period=period,
        entries=found,
        nationalities=_nationalities() if found else {},
        licence_label=LICENCE_LABELS.get(facility.licence_type, ""),
        printed_on=_today(),
    )
    _record(facility, found, "print")
    return page


@bp.get("/facilities/<int:facility_id>/register.csv")
def register_csv(facility_id: int):
    facility = facility_with_register_or_404(facility_id)
    period, error = read_period(request.args, _today())
    if error:
        return _page(facility, period, error=error, status=400)
    found, capped = _read(facility, period)
    if capped:
        return _page(facility, period, error=_too_many(), status=400)
    text = write_csv(_csv_header(), _csv_rows(found, _nationalities() if found else {}))
    filename = (
        f"engawa-register-{facility.id}-{period.first.isoformat()}-{period.last.isoformat()}.csv"
    )
    _record(facility, found, "csv")
    return csv_download(text, filename)


def _csv_header() -> list[str]:
    return [
        _("Booking number"),
        _("Arrival"),
        _("Departure"),
        _("Room"),
        _("Status"),
        _("Guest"),
        _("Name"),
        _("Address"),
        _("Phone"),
        _("Nationality"),
        _("Passport number"),
        _("Passport image on file"),
        _("Identity checked by"),
        _("Identity checked at"),
        _("Register complete"),
    ]


def _csv_rows(found: list[RegisterEntry], nationalities: dict[str, str]):
    """One row per guest; a stay nobody is registered for yet has one row without a
    guest, so every stay of the period appears."""
    yes, no = _("Yes"), _("No")
    for entry in found:
        b = entry.booking
        stay = [
            b.id,
            b.check_in.isoformat(),
            b.check_out.isoformat(),
            b.unit.name,
            status_label("operator_booking", b.status),
        ]
        checked = [
            entry.checked_by or "",
            format_datetime_local(entry.checked_at) if entry.checked_at else "",
            yes if entry.complete else no,
        ]
        if not entry.guests:
            yield [*stay, "", "", "", "", "", "", "", *checked]
        for guest in entry.guests:
            d = guest.details
            yield [
                *stay,
                guest.position,
                d.name,
                d.address,
                format_phone(d.phone) if d.phone else "",
                nationalities.get(d.nationality, d.nationality),
                d.passport_number,
                yes if guest.has_passport_image else no,
                *checked,
            ]


@bp.get("/facilities/<int:facility_id>/register/log")
def register_log(facility_id: int):
    """Who read or wrote which stay's entry, when and how: newest first."""
    facility = facility_with_register_or_404(facility_id)
    page = register_listing.access_log(facility, request.args.get("page", 1, type=int) or 1)
    return render_template(
        "operator/register_log.html",
        facility=facility,
        page=page,
        active="facility_register",
    )
