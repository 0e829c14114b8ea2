"""The demo network's photos: drawn by the seed, stored like uploads (with copies)."""

from __future__ import annotations

from collections import Counter

import pytest
from PIL import Image
from sqlalchemy import select

from core.extensions import db
from demo.seed import seed_demo
from facilities import photos
from facilities.models import Facility, FacilityPhoto
from tests.demo.test_demo import NOW, _dispose, _make_app


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo-photos")
    app = _make_app(folder / "demo.db")
    app.instance_path = str(folder / "instance")
    photo_dir = photos.photo_dir(app.instance_path)
    with app.app_context():
        seed_demo(NOW, password_method=app.config["PASSWORD_HASH_METHOD"], photo_dir=photo_dir)
        db.session.commit()
    yield app, photo_dir
    _dispose(app)


def test_every_demo_facility_has_a_cover_and_three_more_photos(seeded):
    app, photo_dir = seeded
    with app.app_context():
        facilities = db.session.scalars(select(Facility)).all()
        every = db.session.scalars(select(FacilityPhoto)).all()
        covers = photos.cover_photos(f.id for f in facilities)

        assert Counter(p.facility_id for p in every) == dict.fromkeys((f.id for f in facilities), 4)
        chosen = {p.facility_id: p for p in every if p.is_cover}
        assert chosen == covers and len(chosen) == len(facilities)
        assert all(covers[f.id].caption == f"{f.name_ja}の外観" for f in facilities)
        # A room photo shows with the facility's first room (offices have none).
        for facility in (f for f in facilities if f.units):
            [room_photo] = [p for p in every if p.facility_id == facility.id and p.unit_id]
            assert room_photo.unit_id == facility.units[0].id


def test_demo_photos_are_stored_with_their_copies_in_the_given_folder(seeded):
    app, photo_dir = seeded
    with app.app_context():
        every = db.session.scalars(select(FacilityPhoto)).all()
        expected = set()
        for photo in every:
            assert photo.content_type == "image/jpeg" and photo.widths
            expected |= {photo.filename} | {name for _w, name in photos.photo_copies(photo)}
        assert {p.name for p in photo_dir.iterdir()} == expected
        sample = every[0]
        for width, name in photos.photo_copies(sample):
            with Image.open(photo_dir / name) as copy:
                assert (copy.format, copy.width) == ("WEBP", width)


def test_facilities_look_different_from_each_other(seeded):
    app, photo_dir = seeded
    with app.app_context():
        covers = photos.cover_photos(db.session.scalars(select(Facility.id)).all())
        pixels = set()
        for cover in covers.values():
            with Image.open(photo_dir / cover.filename) as image:
                pixels.add(image.resize((8, 8)).tobytes())
        assert len(pixels) == len(covers)
