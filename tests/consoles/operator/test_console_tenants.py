"""Tenant walls of the operator console.

Operator B runs a facility; operator A, from another organisation, tries every door
of the console with B's facility, room, block and photo ids: each answers 404, like
an id that does not exist, and B's facility is left exactly as it was. Employees,
company admins and platform admins are refused (403) everywhere; strangers are
sent to sign in.
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import func, select

from accounts.models import Role
from availability import closing
from availability.models import Block, Occupancy
from booking import services as booking
from facilities import photos, services
from facilities.models import Facility, FacilityPhoto, Unit
from tests.conftest import NOW, days, signed_in

FACILITY_FORM = {
    "name_ja": "乗っ取り",
    "name_en": "Taken over",
    "kind": "stay",
    "prefecture": "13",
    "municipality": "千代田区",
    "address": "1-1",
    "latitude": "35.68",
    "longitude": "139.76",
    "wifi_mbps": "0",
    "work_desks": "0",
    "check_in_time": "15:00",
    "check_out_time": "10:00",
    "min_nights": "1",
    "max_nights": "30",
}
UNIT_FORM = {"name": "乗っ取り", "capacity": "9", "base_price": "100"}


def png() -> bytes:
    out = BytesIO()
    Image.new("RGB", (8, 8)).save(out, "PNG")
    return out.getvalue()


def close_form(unit_id) -> dict:
    return {
        "unit": str(unit_id),
        "first_night": days(20).isoformat(),
        "last_night": days(22).isoformat(),
        "reason": "maintenance",
    }


# (method, path, form) with {facility}, {unit}, {block}, {photo} standing for B's ids.
DOORS = [
    ("GET", "/operator/facilities/{facility}", None),
    ("GET", "/operator/facilities/{facility}/edit", None),
    ("POST", "/operator/facilities/{facility}/edit", FACILITY_FORM),
    ("POST", "/operator/facilities/{facility}/deactivate", {}),
    ("POST", "/operator/facilities/{facility}/reactivate", {}),
    ("GET", "/operator/facilities/{facility}/units/new", None),
    ("POST", "/operator/facilities/{facility}/units/new", UNIT_FORM),
    ("POST", "/operator/facilities/{facility}/photos", "photo"),
    ("GET", "/operator/facilities/{facility}/close", None),
    ("POST", "/operator/facilities/{facility}/close", "close-all"),
    ("GET", "/operator/facilities/{facility}/today", None),
    ("GET", "/operator/facilities/{facility}/housekeeping", None),
    ("GET", "/operator/facilities/{facility}/occupancy?month=2026-12", None),
    ("GET", "/operator/facilities/{facility}/bookings.csv?month=2026-12", None),
    ("GET", "/operator/facilities/{facility}/calendar?month=2026-12", None),
    (
        "GET",
        "/operator/facilities/{facility}/calendar/selection?unit_id={unit}&start=2026-12-20&end=2026-12-22",
        None,
    ),
    (
        "POST",
        "/operator/facilities/{facility}/calendar/selection?unit_id={unit}&start=2026-12-20&end=2026-12-22",
        {"reason": "maintenance"},
    ),
    ("GET", "/operator/units/{unit}/edit", None),
    ("POST", "/operator/units/{unit}/edit", UNIT_FORM),
    ("POST", "/operator/units/{unit}/deactivate", {}),
    ("POST", "/operator/units/{unit}/reactivate", {}),
    ("POST", "/operator/units/{unit}/housekeeping", {"status": "dirty"}),
    ("POST", "/operator/blocks/{block}/reopen", {}),
    ("POST", "/operator/photos/{photo}/delete", {}),
]
DOOR_IDS = [f"{m}-{p.split('/operator/')[1].split('?')[0]}" for m, p, _f in DOORS]


# --- helpers ------------------------------------------------------------------------------


def knock(browser: FlaskClient, method: str, path: str, form, world):
    url = path.format(facility=world.facility.id, unit=world.unit.id, block=world.block.id,
                      photo=world.photo.id)  # fmt: skip
    if form == "photo":
        return browser.post(
            url,
            data={"photo": (BytesIO(png()), "p.png")},
            content_type="multipart/form-data",
        )
    if form == "close-all":
        form = close_form("all")
    with browser.open(url, method=method, data=form) as response:
        response.get_data()
        return response


def snapshot(db, world) -> tuple:
    """Everything about B's facility that a door could change."""
    db.session.rollback()
    db.session.expire_all()
    facility = db.session.execute(
        select(Facility.name_ja, Facility.active, Facility.prefecture).where(
            Facility.id == world.facility.id
        )
    ).one()
    units = db.session.execute(
        select(
            Unit.id, Unit.name, Unit.capacity, Unit.base_price, Unit.active, Unit.housekeeping
        ).where(Unit.facility_id == world.facility.id)
    ).all()
    held = db.session.execute(
        select(Occupancy.unit_id, Occupancy.night, Occupancy.booking_id, Occupancy.block_id)
        .where(Occupancy.unit_id.in_([u.id for u in units]))
        .order_by(Occupancy.unit_id, Occupancy.night)
    ).all()
    blocks = db.session.scalars(select(Block.id).order_by(Block.id)).all()
    photos = db.session.scalars(select(FacilityPhoto.filename)).all()
    return (
        tuple(facility),
        [tuple(u) for u in units],
        [tuple(h) for h in held],
        blocks,
        photos,
        sorted(p.name for p in world.photo_dir.iterdir()),
        db.session.scalar(select(func.count()).select_from(Facility)),
        db.session.scalar(select(func.count()).select_from(Unit)),
    )


def redirects_to_login(response) -> bool:
    return response.status_code in (302, 303) and (
        urlsplit(response.headers["Location"]).path == "/login"
    )


@pytest.fixture
def world(app, db, make_user, make_facility, make_unit, make_employee, tmp_path):
    """Operator B's facility with a room, a booking, a closed period and a photo."""
    app.instance_path = str(tmp_path / "instance")
    photo_dir = Path(app.instance_path) / "photos"
    owner = make_user(Role.OPERATOR)
    facility = make_facility(operator=owner.operator)
    unit = make_unit(facility=facility)
    make_unit(facility=facility)
    booking.book_stay(make_employee(), booking.StayRequest(unit.id, days(3), days(5), 1), NOW)
    [block] = closing.close_facility_dates(
        owner, facility, unit.id, days(10), days(12), "maintenance", "", NOW
    )
    photo = services.save_photo(facility, BytesIO(png()), "p.png", NOW, photo_dir, 10**6)
    db.session.commit()
    return SimpleNamespace(
        owner=owner, facility=facility, unit=unit, block=block, photo=photo, photo_dir=photo_dir
    )


# --- another organisation's operator --------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "form"), DOORS, ids=DOOR_IDS)
def test_another_operator_gets_404_on_every_door_and_changes_nothing(
    app, db, make_user, make_facility, make_unit, world, method, path, form
):
    stranger = make_user(Role.OPERATOR)
    own = make_facility(operator=stranger.operator)  # A runs a facility of their own
    make_unit(facility=own)
    before = snapshot(db, world)

    response = knock(signed_in(app, stranger), method, path, form, world)

    assert response.status_code == 404
    assert snapshot(db, world) == before


@pytest.mark.parametrize(("method", "path", "form"), DOORS, ids=DOOR_IDS)
def test_the_owner_gets_through_every_door(app, db, world, method, path, form):
    """The walls above are walls, not broken pages."""
    response = knock(signed_in(app, world.owner), method, path, form, world)
    assert response.status_code in (200, 303), response.get_data(as_text=True)[:1000]


@pytest.mark.parametrize("impossible", [0, 999_999, 2**31, 2**63, 10**30])
def test_impossible_ids_are_simply_not_found(app, db, world, impossible):
    browser = signed_in(app, world.owner)
    for method, path, form in DOORS:
        ids = SimpleNamespace(
            facility=SimpleNamespace(id=impossible),
            unit=SimpleNamespace(id=impossible),
            block=SimpleNamespace(id=impossible),
            photo=SimpleNamespace(id=impossible),
        )
        assert knock(browser, method, path, form, ids).status_code == 404, path


def test_a_foreign_room_cannot_be_slipped_into_the_close_form(
    app, db, make_user, make_facility, make_unit, world
):
    stranger = make_user(Role.OPERATOR)
    own = make_facility(operator=stranger.operator)
    make_unit(facility=own)
    before = snapshot(db, world)

    response = signed_in(app, stranger).post(
        f"/operator/facilities/{own.id}/close", data=close_form(world.unit.id)
    )

    assert response.status_code == 400
    assert snapshot(db, world) == before


def test_the_dashboard_lists_only_the_operators_own_facilities(app, db, make_user, world):
    stranger = make_user(Role.OPERATOR)
    page = signed_in(app, stranger).get("/operator/").get_data(as_text=True)
    assert f'data-facility-id="{world.facility.id}"' not in page
    assert world.facility.name_en not in page
    own = signed_in(app, world.owner).get("/operator/").get_data(as_text=True)
    assert f'data-facility-id="{world.facility.id}"' in own


# --- photos are for signed-in members while the facility is open -----------------------------


def test_photos_of_an_open_facility_are_seen_by_members_but_not_once_it_closes(
    app, db, make_user, world
):
    # Members see the resized copies; the original (with whatever metadata the camera
    # wrote) only its operator.
    url = f"/photos/{photos.photo_copies(world.photo)[-1][1]}"
    original = f"/photos/{world.photo.filename}"
    viewers = [make_user(Role.OPERATOR), make_user(Role.EMPLOYEE), make_user(Role.COMPANY_ADMIN)]
    for viewer in viewers:
        with signed_in(app, viewer).get(url) as response:
            assert response.status_code == 200 and response.mimetype == "image/webp"
        assert signed_in(app, viewer).get(original).status_code == 404
    with app.test_client().get(url) as anonymous:
        assert redirects_to_login(anonymous)
    with signed_in(app, world.owner).get(original) as own:
        assert own.status_code == 200

    world.facility.active = False
    db.session.commit()

    for viewer in viewers:
        assert signed_in(app, viewer).get(url).status_code == 404
    with signed_in(app, world.owner).get(url) as own:
        assert own.status_code == 200


# --- other roles and strangers --------------------------------------------------------------

OTHER_ROLES = [Role.EMPLOYEE, Role.COMPANY_ADMIN, Role.PLATFORM_ADMIN]
EVERY_DOOR = [
    ("GET", "/operator/", None),
    ("GET", "/operator/facilities/new", None),
    ("POST", "/operator/facilities/new", FACILITY_FORM),
    *DOORS,
]
EVERY_DOOR_IDS = ["GET-dashboard", "GET-facilities/new", "POST-facilities/new", *DOOR_IDS]


@pytest.mark.parametrize("role", OTHER_ROLES)
def test_other_roles_are_refused_everywhere(app, db, make_user, world, role):
    browser = signed_in(app, make_user(role))
    before = snapshot(db, world)

    answers = {
        f"{method} {path}": knock(browser, method, path, form, world).status_code
        for method, path, form in EVERY_DOOR
    }

    assert answers == dict.fromkeys(answers, 403)
    assert snapshot(db, world) == before


@pytest.mark.parametrize(("method", "path", "form"), EVERY_DOOR, ids=EVERY_DOOR_IDS)
def test_strangers_are_sent_to_sign_in(app, db, world, method, path, form):
    before = snapshot(db, world)
    response = knock(app.test_client(), method, path, form, world)
    assert redirects_to_login(response)
    assert snapshot(db, world) == before
