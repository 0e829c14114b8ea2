"""The operator's workspace units through the console's pages: list, add, edit, take off
sale and back, and the printable sheet of check-in QR codes.

The operator reads the console in English (``locale="en"``), so the messages checked
are the English msgids whether or not the Japanese catalogue is compiled.
"""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from accounts.models import Role
from availability.workspace import WorkspaceBlock, WorkspaceBlockSource, claim
from booking.workspace_checkin import checkin_code
from facilities.workspace import WorkspaceUnit
from tests.conftest import NOW, signed_in

WEEKDAYS = {f"open_{day}": "y" for day in range(5)} | {
    **{f"opens_{day}": "09:00" for day in range(5)},
    **{f"closes_{day}": "18:00" for day in range(5)},
}
GOOD = {
    "name": "Booth A",
    "kind": "phone_booth",
    "capacity": "1",
    "has_monitor": "y",
    "has_web_meeting": "y",
    **WEEKDAYS,
    "holiday": "",
    "slot_minutes": "30",
    "min_minutes": "30",
    "max_minutes": "480",
    "hourly_price": "800",
    "day_price": "4000",
    "demand_pricing": "y",
    "release_after_minutes": "30",
}


def count_units(db) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(WorkspaceUnit))


def only_unit(db) -> WorkspaceUnit:
    db.session.rollback()
    return db.session.scalars(select(WorkspaceUnit)).one()


def make_workspace(db, facility, **kw) -> WorkspaceUnit:
    unit = WorkspaceUnit(
        facility_id=facility.id,
        name=kw.pop("name", "Desk 1"),
        kind=kw.pop("kind", "hot_desk"),
        hourly_price=kw.pop("hourly_price", 500),
        **kw,
    )
    db.session.add(unit)
    db.session.commit()
    return unit


def row_of(page: str, unit_id: int) -> str:
    match = re.search(rf'<tr data-workspace-unit-id="{unit_id}".*?</tr>', page, re.S)
    assert match, f"no row for unit {unit_id}"
    return re.sub(r"\s+", " ", match[0])


@pytest.fixture
def ws(app, db, make_user, make_facility):
    """An operator (reading English) signed in, with an office facility."""
    operator = make_user(Role.OPERATOR, locale="en")
    facility = make_facility(operator=operator.operator, kind="office", name_en="Desk Hub")
    return SimpleNamespace(
        operator=operator, facility=facility, client=signed_in(app, operator), db=db
    )


def new_url(ws) -> str:
    return f"/operator/facilities/{ws.facility.id}/workspace/new"


# --- add and list --------------------------------------------------------------------------


def test_an_added_unit_is_listed_with_its_settings(ws):
    form_page = ws.client.get(new_url(ws))
    assert form_page.status_code == 200
    page = form_page.get_data(as_text=True)
    # A new unit starts from the default hours: weekdays 09:00–20:00, weekends closed.
    assert 'name="opens_0"' in page and 'value="09:00"' in page and 'value="20:00"' in page
    assert 'type="time"' in page and 'step="1800"' in page
    assert re.search(r'<input checked [^>]*name="demand_pricing"', page)  # on unless switched off

    response = ws.client.post(new_url(ws), data=GOOD)
    assert response.status_code == 303
    assert response.location.endswith(f"/operator/facilities/{ws.facility.id}/workspace")

    unit = only_unit(ws.db)
    assert (unit.facility_id, unit.name, unit.kind, unit.capacity) == (
        ws.facility.id,
        "Booth A",
        "phone_booth",
        1,
    )
    assert unit.equipment == ["monitor", "web_meeting"]
    assert unit.hours == {"week": [[540, 1080]] * 5 + [None, None], "holiday": None}
    assert (unit.slot_minutes, unit.min_minutes, unit.max_minutes) == (30, 30, 480)
    assert (unit.hourly_price, unit.day_price, unit.demand_pricing) == (800, 4000, True)
    assert unit.release_after_minutes == 30 and unit.active

    listing = ws.client.get(response.location).get_data(as_text=True)
    assert "Workspace unit Booth A has been added." in listing
    row = row_of(listing, unit.id)
    for text in (
        "Booth A",
        "Phone booth",
        "Monitor, Web-meeting kit",
        "Mon – Fri 09:00–18:00",
        "Sat – Sun closed",
        "Holidays closed",
        "30-minute slots",
        "30 to 480 minutes",
        "¥800 (tax incl.)",
        "¥4,000 (tax incl.)",
        "Demand pricing",
        "On sale",
    ):
        assert text in row, text


def test_the_facility_page_links_to_its_workspace(ws):
    page = ws.client.get(f"/operator/facilities/{ws.facility.id}").get_data(as_text=True)
    assert f'href="/operator/facilities/{ws.facility.id}/workspace"' in page


def test_midnight_closing_holiday_hours_and_no_day_price(ws):
    data = GOOD | {
        "open_6": "y",
        "opens_6": "10:00",
        "closes_6": "00:00",  # midnight
        "holiday": "6",
        "slot_minutes": "15",
        "min_minutes": "45",
        "max_minutes": "1440",
        "day_price": "",
        "demand_pricing": "",
        "release_after_minutes": "0",
        "opens_0": "08:45",
    }
    data.pop("demand_pricing")
    response = ws.client.post(new_url(ws), data=data)
    assert response.status_code == 303, response.get_data(as_text=True)

    unit = only_unit(ws.db)
    assert unit.hours["week"][0] == [525, 1080]
    assert unit.hours["week"][6] == [600, 1440]
    assert unit.hours["holiday"] == 6
    assert (unit.slot_minutes, unit.min_minutes, unit.max_minutes) == (15, 45, 1440)
    assert unit.day_price is None and not unit.demand_pricing
    assert unit.release_after_minutes == 0

    row = row_of(ws.client.get(response.location).get_data(as_text=True), unit.id)
    assert "Sun 10:00–24:00" in row and "Holidays: hours of Sunday" in row
    assert "No day price" in row


# --- bad input: the form comes back with its error, nothing is saved -------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"opens_0": "18:00", "closes_0": "09:00"},
            "The closing time must be after the opening time",
        ),
        ({"opens_2": "09:10"}, "Use times on the 30-minute slots"),
        ({"closes_4": "17:45"}, "Use times on the 30-minute slots"),
        ({"opens_0": ""}, "Enter the opening time, or mark the day closed."),
        ({"opens_0": "9 o'clock"}, "Not a valid time value."),
        (
            {"min_minutes": "240", "max_minutes": "120"},
            "The longest booking cannot be shorter than the shortest booking.",
        ),
        ({"min_minutes": "45"}, "Use a multiple of 30 minutes."),
        ({"max_minutes": "1500"}, "Number must be between 1 and 1440."),
        ({"hourly_price": "-1"}, "Number must be between 0 and"),
        ({"day_price": "-500"}, "Number must be between 0 and"),
        ({"hourly_price": "eight hundred"}, "Not a valid integer value."),
        ({"capacity": "abc"}, "Not a valid integer value."),
        ({"capacity": "0"}, "Number must be between 1 and 100."),
        ({"capacity": "101"}, "Number must be between 1 and 100."),
        ({"slot_minutes": "45"}, "Not a valid choice."),
        ({"kind": "sofa"}, "Not a valid choice."),
        ({"holiday": "9"}, "Not a valid choice."),
        ({"release_after_minutes": "5"}, "Enter 0 (never) or 15 to 120 minutes."),
        ({"release_after_minutes": "121"}, "Enter 0 (never) or 15 to 120 minutes."),
        ({"name": "  "}, "This field is required."),
    ],
)
def test_bad_input_is_refused_and_nothing_saved(ws, change, message):
    response = ws.client.post(new_url(ws), data=GOOD | change)

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Please check the highlighted fields." in page
    assert message in page
    assert 'aria-invalid="true"' in page
    assert count_units(ws.db) == 0


def test_a_name_is_used_once_per_facility(ws):
    make_workspace(ws.db, ws.facility, name="Booth A")
    response = ws.client.post(new_url(ws), data=GOOD | {"name": "booth a"})
    assert response.status_code == 400
    assert "already has a workspace unit of that name" in response.get_data(as_text=True)
    assert count_units(ws.db) == 1


# --- edit, off sale and back -----------------------------------------------------------------


def test_edit_shows_the_saved_settings_and_saves_changes(ws):
    unit = make_workspace(ws.db, ws.facility, name="Room 1", kind="meeting_room", capacity=6)
    url = f"/operator/workspace-units/{unit.id}/edit"

    page = ws.client.get(url).get_data(as_text=True)
    assert 'value="Room 1"' in page
    assert re.search(r'name="opens_0"[^>]*value="09:00"', page)
    assert re.search(r'name="closes_0"[^>]*value="20:00"', page)
    assert re.search(r'<input checked [^>]*name="open_0"', page)  # Monday open
    assert not re.search(r'<input checked [^>]*name="open_5"', page)  # Saturday closed

    data = GOOD | {"name": "Room 1", "kind": "meeting_room", "capacity": "8", "has_whiteboard": "y"}
    response = ws.client.post(url, data=data)
    assert response.status_code == 303

    unit = only_unit(ws.db)
    assert (unit.name, unit.capacity, unit.hourly_price) == ("Room 1", 8, 800)
    assert unit.equipment == ["monitor", "web_meeting", "whiteboard"]
    assert unit.hours["week"][0] == [540, 1080]
    listing = ws.client.get(response.location).get_data(as_text=True)
    assert "Workspace unit Room 1 has been saved." in listing


def test_a_bad_edit_changes_nothing(ws):
    unit = make_workspace(ws.db, ws.facility, name="Room 1")
    response = ws.client.post(
        f"/operator/workspace-units/{unit.id}/edit",
        data=GOOD | {"name": "Renamed", "opens_1": "09:10"},
    )
    assert response.status_code == 400
    unit = only_unit(ws.db)
    assert unit.name == "Room 1" and unit.hours["week"][1] == [540, 1200]


def test_the_slot_size_stays_while_time_is_held_ahead(ws):
    unit = make_workspace(ws.db, ws.facility, slot_minutes=30)
    start = NOW + timedelta(days=7)
    block = WorkspaceBlock(
        unit_id=unit.id,
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        source=WorkspaceBlockSource.MANUAL,
    )
    ws.db.session.add(block)
    ws.db.session.flush()
    claim(unit, block.starts_at, block.ends_at, block_id=block.id)
    block.held = True
    ws.db.session.commit()

    response = ws.client.post(
        f"/operator/workspace-units/{unit.id}/edit",
        data=GOOD | {"slot_minutes": "15", "min_minutes": "15"},
    )
    assert response.status_code == 409
    assert "The slot size cannot change while bookings or closed times lie ahead." in (
        response.get_data(as_text=True)
    )
    assert only_unit(ws.db).slot_minutes == 30
    # Other changes with the same slot size are fine.
    response = ws.client.post(f"/operator/workspace-units/{unit.id}/edit", data=GOOD)
    assert response.status_code == 303
    assert only_unit(ws.db).name == "Booth A"


def test_take_off_sale_and_back(ws):
    unit = make_workspace(ws.db, ws.facility, name="Desk 7")
    response = ws.client.post(f"/operator/workspace-units/{unit.id}/deactivate")
    assert response.status_code == 303
    assert not only_unit(ws.db).active
    listing = ws.client.get(response.location).get_data(as_text=True)
    assert "Workspace unit Desk 7 is off sale." in listing
    assert "Off sale" in row_of(listing, unit.id)

    response = ws.client.post(f"/operator/workspace-units/{unit.id}/reactivate")
    assert response.status_code == 303
    assert only_unit(ws.db).active
    assert "Workspace unit Desk 7 is on sale again." in ws.client.get(response.location).get_data(
        as_text=True
    )


def test_taking_off_sale_needs_the_csrf_token(app, ws):
    unit = make_workspace(ws.db, ws.facility)
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        response = ws.client.post(f"/operator/workspace-units/{unit.id}/deactivate")
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert response.status_code == 400
    assert only_unit(ws.db).active


# --- tenants and roles -----------------------------------------------------------------------


def test_another_operators_facility_and_units_answer_404(ws, make_facility):
    foreign = make_facility(kind="office")
    unit = make_workspace(ws.db, foreign, name="Theirs")
    doors = [
        ("GET", f"/operator/facilities/{foreign.id}/workspace"),
        ("GET", f"/operator/facilities/{foreign.id}/workspace/new"),
        ("POST", f"/operator/facilities/{foreign.id}/workspace/new"),
        ("GET", f"/operator/facilities/{foreign.id}/workspace/qr"),
        ("GET", f"/operator/workspace-units/{unit.id}/edit"),
        ("POST", f"/operator/workspace-units/{unit.id}/edit"),
        ("POST", f"/operator/workspace-units/{unit.id}/deactivate"),
        ("POST", f"/operator/workspace-units/{unit.id}/reactivate"),
        ("GET", "/operator/facilities/999999/workspace"),
        ("GET", "/operator/workspace-units/999999/edit"),
    ]
    for method, path in doors:
        response = ws.client.open(path, method=method, data=GOOD if method == "POST" else None)
        assert response.status_code == 404, (method, path)

    assert count_units(ws.db) == 1
    theirs = only_unit(ws.db)
    assert (theirs.name, theirs.active, theirs.facility_id) == ("Theirs", True, foreign.id)
    listing = ws.client.get(f"/operator/facilities/{ws.facility.id}/workspace")
    assert "Theirs" not in listing.get_data(as_text=True)


@pytest.mark.parametrize("role", [Role.EMPLOYEE, Role.COMPANY_ADMIN])
def test_other_roles_are_refused(app, ws, make_user, role):
    unit = make_workspace(ws.db, ws.facility)
    other = signed_in(app, make_user(role))
    for method, path in [
        ("GET", f"/operator/facilities/{ws.facility.id}/workspace"),
        ("POST", f"/operator/facilities/{ws.facility.id}/workspace/new"),
        ("GET", f"/operator/facilities/{ws.facility.id}/workspace/qr"),
        ("POST", f"/operator/workspace-units/{unit.id}/deactivate"),
    ]:
        response = other.open(path, method=method, data=GOOD if method == "POST" else None)
        assert response.status_code == 403, (method, path)
    assert count_units(ws.db) == 1 and only_unit(ws.db).active


def test_strangers_are_sent_to_sign_in(app, ws):
    response = app.test_client().get(f"/operator/facilities/{ws.facility.id}/workspace")
    assert response.status_code == 302
    assert "/login" in response.location


# --- the QR sheet ----------------------------------------------------------------------------


def test_the_qr_sheet_has_a_card_per_unit_on_sale(app, ws):
    desk = make_workspace(ws.db, ws.facility, name="Desk 1", kind="hot_desk")
    room = make_workspace(ws.db, ws.facility, name="Room 2", kind="meeting_room")
    closed = make_workspace(ws.db, ws.facility, name="Old booth", active=False)

    response = ws.client.get(f"/operator/facilities/{ws.facility.id}/workspace/qr")
    assert response.status_code == 200
    page = response.get_data(as_text=True)

    cards = re.findall(r'<li class="qr-card" data-workspace-unit-id="(\d+)">(.*?)</li>', page, re.S)
    assert [int(unit_id) for unit_id, _ in cards] == [desk.id, room.id]
    secret = app.config["SECRET_KEY"]
    for unit, (_, card) in zip((desk, room), cards, strict=True):
        assert unit.name in card
        assert card.count("<svg") == 1
        path = f"/workspace/check-in/{unit.id}/{checkin_code(secret, unit.id)}"
        assert f"{path}</p>" in card  # the absolute address, printed under the code
    assert "Hot desk" in cards[0][1] and "Meeting room" in cards[1][1]
    assert "Old booth" not in page
    assert f"/workspace/check-in/{closed.id}/" not in page
    assert "workspace_print.css" in page


def test_the_qr_sheet_says_when_nothing_is_on_sale(ws):
    make_workspace(ws.db, ws.facility, active=False)
    page = ws.client.get(f"/operator/facilities/{ws.facility.id}/workspace/qr")
    assert "No workspace unit is on sale" in page.get_data(as_text=True)
