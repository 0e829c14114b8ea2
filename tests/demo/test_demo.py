"""The demo network that `flask seed-demo` builds."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from accounts.models import Company, User
from app import create_app
from availability import night_cap
from availability.models import Occupancy
from billing.models import CreditEntry
from billing.settings import BillingSettings
from booking.models import Booking, BookingNight, BookingStatus
from booking.stay_tax import night_taxes
from core.dates import stay_nights
from core.db import TOKYO, tokyo_today
from core.extensions import db
from demo import lodging as demo_lodging
from demo import photos as demo_photos
from demo.seed import seed_demo
from facilities.licences import LODGING_LICENCES
from facilities.models import Facility, FacilityPhoto, Unit
from facilities.photos import photo_dir
from facilities.regions import PREFECTURES_BY_CODE, REGIONS
from facilities.workspace import WorkspaceUnit
from lodging import register
from lodging.models import AccommodationTaxRule, PassportImage, RegisteredGuest
from lodging.tax import TaxTable

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # 12:00 on 1 December in Tokyo
TODAY = tokyo_today(NOW)
PASSWORD = "engawa-demo"
DEMO_ACCOUNTS = {
    "employee@acme.example": ("employee", "Acme 株式会社", None),
    "admin@acme.example": ("company_admin", "Acme 株式会社", None),
    "contract@acme.example": ("employee", "Acme 株式会社", None),
    "employee@globex.example": ("employee", "Globex 株式会社", None),
    "admin@globex.example": ("company_admin", "Globex 株式会社", None),
    "operator@satoyama.example": ("operator", None, "さとやま運営"),
    "operator@umibe.example": ("operator", None, "うみべリゾート運営"),
    "root@engawa.example": ("platform_admin", None, None),
}


def _make_app(path):
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": "sqlite:///" + str(path),
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        }
    )
    with app.app_context():
        db.create_all()
    return app


def _dispose(app):
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """One seeded database for the read-only checks below (seeding takes a second or two)."""
    app = _make_app(tmp_path_factory.mktemp("demo") / "demo.db")
    with app.app_context():
        summary = seed_demo(NOW, password_method=app.config["PASSWORD_HASH_METHOD"])
        db.session.commit()
    yield app, summary
    _dispose(app)


@pytest.fixture
def demo(seeded):
    app, summary = seeded
    with app.app_context():
        yield summary


@pytest.fixture
def fresh_app(tmp_path):
    app = _make_app(tmp_path / "cli.db")
    app.instance_path = str(tmp_path / "instance")  # the photos go here, not the repo's
    yield app
    _dispose(app)


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_summary_counts_what_was_added(demo):
    assert demo == {
        "facilities": _count(Facility),
        "units": _count(Unit),
        "bookings": _count(Booking),
        "users": _count(User),
    }
    assert demo["bookings"] > 1000


def test_facilities_span_every_region_of_japan(demo):
    facilities = db.session.scalars(select(Facility)).all()
    assert len(facilities) >= 35
    prefectures = {f.prefecture for f in facilities}
    assert len(prefectures) >= 20
    assert {1, 13, 14, 20, 26, 39, 44, 47} <= prefectures
    regions = {PREFECTURES_BY_CODE[code].region for code in prefectures}
    assert regions == {r.slug for r in REGIONS}
    assert len({f.name_ja for f in facilities}) == len({f.name_en for f in facilities})
    assert len({f.name_en for f in facilities}) == len(facilities)

    for f in facilities:
        assert f.kind in ("stay", "office", "both")
        assert 30 <= f.wifi_mbps <= 1000
        assert isinstance(f.check_in_time, time) and isinstance(f.check_out_time, time)
        assert f.min_nights in (1, 2) and 14 <= f.max_nights <= 30
        assert f.description_ja and f.description_en
        assert 24 <= f.latitude <= 46 and 122 <= f.longitude <= 146  # inside Japan
        if f.is_minpaku:  # a 住宅宿泊事業 house is let whole
            assert [(u.name, u.capacity) for u in f.units] == [("一棟貸し", 6)], f.name_en
        elif f.kind == "office":  # workspace by the slot, no rooms for the night
            assert f.units == [], f.name_en
            kinds = {u.kind for u in workspace_of(f)}
            assert {"hot_desk", "phone_booth", "meeting_room"} <= kinds, f.name_en
        else:
            assert 3 <= len(f.units) <= 12, f.name_en
        assert len({u.name for u in f.units}) == len(f.units), f.name_en
        for unit in f.units:
            assert 1 <= unit.capacity <= 6
            assert 6_000 <= unit.base_price <= 30_000 and unit.base_price % 100 == 0

    onsen = {f.name_en for f in facilities if f.onsen}
    assert {"Hakone Gora Onsen Retreat", "Kusatsu Yubatake Lodge"} <= onsen
    assert not any(f.onsen for f in facilities if f.kind == "office")


def test_two_operators_share_the_facilities(demo):
    per_operator = Counter(f.operator.name for f in db.session.scalars(select(Facility)))
    assert set(per_operator) == {"さとやま運営", "うみべリゾート運営"}
    assert min(per_operator.values()) >= 15


def test_demo_accounts_sign_in_with_the_demo_password(demo):
    for email, (role, company, operator) in DEMO_ACCOUNTS.items():
        user = db.session.scalar(select(User).where(User.email == email))
        assert user is not None, email
        assert user.role == role
        assert (user.company.name if user.company else None) == company
        assert (user.operator.name if user.operator else None) == operator
        assert check_password_hash(user.password_hash, PASSWORD)
        assert not check_password_hash(user.password_hash, "engawa-demo!")

    companies = db.session.scalars(select(Company)).all()
    assert {c.name for c in companies} == {"Acme 株式会社", "Globex 株式会社"}
    assert all(c.active and c.max_nights_per_month == 20 for c in companies)


def test_background_employees_hold_the_bookings(demo):
    holders = db.session.scalars(
        select(User).where(User.id.in_(select(Booking.user_id).distinct()))
    ).all()
    assert len(holders) > 40
    assert {u.role for u in holders} == {"employee"}
    assert {u.company.name for u in holders} == {"Acme 株式会社", "Globex 株式会社"}
    assert all(u.email.endswith(("@acme.example", "@globex.example")) for u in holders)


def test_no_unit_night_is_claimed_twice(demo):
    pairs = [(u, n) for u, n in db.session.execute(select(Occupancy.unit_id, Occupancy.night))]
    assert len(pairs) == len(set(pairs))

    by_unit = defaultdict(list)
    for unit_id, check_in, check_out in db.session.execute(
        select(Booking.unit_id, Booking.check_in, Booking.check_out)
    ):
        by_unit[unit_id].append((check_in, check_out))
    for stays in by_unit.values():
        stays.sort()
        for (_, previous_out), (next_in, _) in zip(stays, stays[1:], strict=False):
            assert previous_out <= next_in  # half-open: back to back is fine


def test_bookings_are_priced_and_claimed_night_by_night(demo):
    bookings = db.session.scalars(select(Booking)).all()
    nights = defaultdict(dict)
    for booking_id, night, price in db.session.execute(
        select(BookingNight.booking_id, BookingNight.night, BookingNight.price)
    ):
        nights[booking_id][night] = price
    claimed = defaultdict(set)
    for booking_id, unit_id, night in db.session.execute(
        select(Occupancy.booking_id, Occupancy.unit_id, Occupancy.night)
    ):
        claimed[booking_id].add((unit_id, night))

    for b in bookings:
        expected = stay_nights(b.check_in, b.check_out)
        assert 2 <= len(expected) <= 10
        assert sorted(nights[b.id]) == expected
        assert set(nights[b.id].values()) == {b.unit.base_price}
        assert b.total_price == sum(nights[b.id].values())
        assert claimed[b.id] == {(b.unit_id, night) for night in expected}
        assert b.status == BookingStatus.CONFIRMED
        assert 1 <= b.guests <= b.unit.capacity
        arrival = datetime.combine(b.check_in, time(), tzinfo=TOKYO)
        assert b.created_at.tzinfo is not None
        assert b.created_at < arrival and b.created_at <= NOW

    assert min(b.check_in for b in bookings) >= TODAY - timedelta(days=90)
    assert max(b.check_out for b in bookings) <= TODAY + timedelta(days=120)
    share = _count(Occupancy) / (_count(Unit) * 210)
    assert 0.35 <= share <= 0.55


def test_nobody_is_in_two_places_or_over_the_monthly_cap(demo):
    rows = db.session.execute(
        select(Booking.user_id, Booking.check_in, Booking.check_out, Company.max_nights_per_month)
        .join(Company, Company.id == Booking.company_id)
        .order_by(Booking.user_id, Booking.check_in)
    ).all()
    previous = {}
    per_month = Counter()
    for user_id, check_in, check_out, cap in rows:
        assert previous.get(user_id, date.min) <= check_in
        previous[user_id] = check_out
        for night in stay_nights(check_in, check_out):
            per_month[user_id, night.replace(day=1)] += 1
            assert per_month[user_id, night.replace(day=1)] <= cap


@pytest.mark.parametrize("email", ["employee@acme.example", "employee@globex.example"])
def test_demo_employees_have_only_past_stays(demo, email):
    user = db.session.scalar(select(User).where(User.email == email))
    stays = db.session.scalars(
        select(Booking).where(Booking.user_id == user.id, Booking.status == BookingStatus.CONFIRMED)
    ).all()
    assert 1 <= len(stays) <= 3
    horizon = TODAY + timedelta(days=60)
    assert not [b for b in stays if TODAY <= b.check_in <= horizon]
    # Nothing in this month either, so the whole monthly cap is free to try.
    assert all(b.check_out <= TODAY.replace(day=1) for b in stays)


def test_rooms_are_left_to_book_in_the_coming_weeks(demo):
    taken = {(u, n) for u, n in db.session.execute(select(Occupancy.unit_id, Occupancy.night))}
    units = defaultdict(list)
    for unit_id, facility_id in db.session.execute(select(Unit.id, Unit.facility_id)):
        units[facility_id].append(unit_id)

    def free(unit_id, start, nights):
        return all((unit_id, start + timedelta(days=i)) not in taken for i in range(nights))

    for facility_id, unit_ids in units.items():
        free_nights = sum(
            free(u, TODAY + timedelta(days=d), 1) for u in unit_ids for d in range(14)
        )
        assert free_nights >= 3, facility_id
    for d in range(60):
        start = TODAY + timedelta(days=d)
        open_facilities = [f for f, ids in units.items() if any(free(u, start, 2) for u in ids)]
        assert len(open_facilities) >= 5, start


# --- the lodging law ------------------------------------------------------------------------


def test_every_facility_carries_its_licence_and_is_listed(demo):
    facilities = db.session.scalars(select(Facility)).all()
    for f in facilities:
        if f.kind == "office":
            assert (f.licence_type, f.licence_number) == ("none", ""), f.name_en
        else:
            assert f.licence_type in LODGING_LICENCES and f.licence_number, f.name_en
        assert f.licensed and f.listed, f.name_en
    assert len({f.licence_number for f in facilities if f.licence_number}) == len(
        [f for f in facilities if f.kind != "office"]
    )
    kinds = Counter(f.licence_type for f in facilities)
    assert kinds["minpaku"] == 1 and kinds["special_zone"] >= 1
    assert kinds["hotel"] >= 5 and kinds["simple"] >= 5
    [house] = [f for f in facilities if f.is_minpaku]
    assert re.fullmatch(r"M\d{9}", house.licence_number)


def workspace_of(facility: Facility) -> list[WorkspaceUnit]:
    return list(
        db.session.scalars(select(WorkspaceUnit).where(WorkspaceUnit.facility_id == facility.id))
    )


def _lodging(pref: int, prefix: str) -> list[Facility]:
    return [
        f
        for f in db.session.scalars(select(Facility).where(Facility.prefecture == pref))
        if f.kind != "office" and f.municipality.startswith(prefix)
    ]


def test_the_five_taxed_places_and_a_private_lodging_house_are_there(demo):
    wards = [f for f in _lodging(13, "") if f.municipality.endswith("区")]
    assert [f.municipality for f in wards] == ["台東区"]  # one of Tokyo's 23 wards
    assert _lodging(27, "大阪市") and _lodging(26, "京都市東山区")
    assert _lodging(40, "福岡市") and _lodging(17, "金沢市")
    assert db.session.scalar(select(func.count()).select_from(AccommodationTaxRule)) == 6
    house = db.session.scalars(select(Facility).where(Facility.licence_type == "minpaku")).one()
    sold = night_cap.sold_nights([house.units[0].id], night_cap.lodging_year(TODAY))
    assert 0 < sold[house.units[0].id] <= night_cap.CAP_NIGHTS


def test_stays_pay_the_tax_of_their_place_and_night(demo):
    table = TaxTable.load()
    taxed_at = Counter()
    night_tax = defaultdict(int)
    for booking_id, tax in db.session.execute(
        select(BookingNight.booking_id, BookingNight.accommodation_tax)
    ):
        night_tax[booking_id] += tax
    for b in db.session.scalars(select(Booking)):
        f = b.unit.facility
        priced = [(n, b.unit.base_price) for n in stay_nights(b.check_in, b.check_out)]
        expected = sum(night_taxes(f, priced, b.guests, table))  # as booking freezes it
        assert b.accommodation_tax == night_tax[b.id] == expected, b.id
        if b.accommodation_tax:
            taxed_at[f.prefecture] += 1
    assert taxed_at[26] > 10 and taxed_at[13] > 0 and taxed_at[27] > 0
    assert taxed_at[40] > 0 and taxed_at[17] > 0
    assert set(taxed_at) <= {13, 17, 26, 27, 40}
    # The ledger holds each stay's tax as its own entry.
    entries = dict(
        db.session.execute(
            select(CreditEntry.booking_id, CreditEntry.amount).where(
                CreditEntry.kind == "accommodation_tax"
            )
        ).all()
    )
    taxes = dict(
        db.session.execute(
            select(Booking.id, Booking.accommodation_tax).where(Booking.accommodation_tax > 0)
        ).all()
    )
    assert entries == {booking_id: -tax for booking_id, tax in taxes.items()}


def test_some_stays_have_their_guest_register(demo):
    lines = db.session.scalars(select(RegisteredGuest)).all()
    by_booking = defaultdict(list)
    for line in lines:
        by_booking[line.booking_id].append(line)
    assert len(by_booking) >= 20
    for booking_id, rows in by_booking.items():
        booking = db.session.get(Booking, booking_id)
        assert sorted(r.position for r in rows) == list(range(1, booking.guests + 1))
        assert register.is_complete(booking_id, booking.guests), booking_id
        stored = register.guests_of(booking_id)
        assert stored[0].details.name == booking.user.name  # the booker's own line first
        assert booking.user.name not in rows[0].details  # sealed at rest
    foreign = [line for line in lines if line.needs_passport]
    assert foreign and len(foreign) == db.session.scalar(
        select(func.count()).select_from(PassportImage)
    )
    names = {g.details.name for booking_id in by_booking for g in register.guests_of(booking_id)}
    assert "Emily Clark" in names
    house = db.session.scalars(select(Facility).where(Facility.licence_type == "minpaku")).one()
    house_stays = db.session.scalars(
        select(Booking.id).where(Booking.unit_id == house.units[0].id)
    ).all()
    assert set(house_stays) & set(by_booking)
    # Each registered facility's next arrival is left for the guest or the front desk.
    for facility_id in {db.session.get(Booking, b).unit.facility_id for b in by_booking}:
        first = db.session.scalars(
            select(Booking.id)
            .join(Unit, Unit.id == Booking.unit_id)
            .where(Unit.facility_id == facility_id, Booking.check_in >= TODAY)
            .order_by(Booking.check_in, Booking.id)
            .limit(1)
        ).one()
        assert first not in by_booking
    assert demo_lodging.REGISTERED_PAST + demo_lodging.REGISTERED_AHEAD == 4


def test_same_now_gives_the_same_network(demo, tmp_path):
    app = _make_app(tmp_path / "again.db")
    try:
        with app.app_context():
            again = seed_demo(NOW, password_method=app.config["PASSWORD_HASH_METHOD"])
            first_stays = db.session.execute(
                select(Booking.unit_id, Booking.check_in, Booking.total_price)
                .order_by(Booking.id)
                .limit(50)
            ).all()
            db.session.rollback()
    finally:
        _dispose(app)
    assert again == demo
    assert (
        first_stays
        == db.session.execute(
            select(Booking.unit_id, Booking.check_in, Booking.total_price)
            .order_by(Booking.id)
            .limit(50)
        ).all()
    )


def test_cli_seeds_an_empty_database_once(fresh_app):
    runner = fresh_app.test_cli_runner()

    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    with fresh_app.app_context():
        counts = (_count(Facility), _count(Unit), _count(Booking), _count(User))
    assert counts[0] >= 35
    assert (
        f"{counts[0]} facilities, {counts[1]} units, {counts[2]} bookings, {counts[3]} accounts"
        in result.output
    )
    assert "engawa-demo" in result.output
    # Every facility gets its photos, stored with their copies in the instance folder.
    folder = photo_dir(fresh_app.instance_path)
    with fresh_app.app_context():
        photos = _count(FacilityPhoto)
        files = sorted(p.name for p in folder.iterdir())
    assert photos == 4 * counts[0]
    assert f"Photos: {photos}, stored in {folder}." in result.output
    assert len([name for name in files if not name.endswith(".webp")]) == photos

    again = runner.invoke(args=["seed-demo"])
    assert again.exit_code == 0, again.output
    assert "already has users" in again.output
    with fresh_app.app_context():
        assert (_count(Facility), _count(Booking), _count(User), _count(FacilityPhoto)) == (
            counts[0],
            counts[2],
            counts[3],
            photos,
        )
    assert sorted(p.name for p in folder.iterdir()) == files


def test_a_seed_that_fails_leaves_no_photo_files(fresh_app, monkeypatch):
    folder = photo_dir(fresh_app.instance_path)
    folder.mkdir(parents=True)
    (folder / "kept.jpg").write_bytes(b"a file that was there before")

    written = []

    def fail_once_files_are_written(photo):  # after the first facility's four photos
        written.extend(folder.iterdir())
        raise RuntimeError("the seed failed part-way")

    monkeypatch.setattr(demo_photos, "set_cover", fail_once_files_are_written)
    result = fresh_app.test_cli_runner().invoke(args=["seed-demo"])

    assert len(written) > 4  # the original kept, and photos with their copies

    assert result.exit_code == 1 and isinstance(result.exception, RuntimeError)
    assert [p.name for p in folder.iterdir()] == ["kept.jpg"]
    with fresh_app.app_context():
        assert (_count(FacilityPhoto), _count(User)) == (0, 0)


def test_demo_companies_subscribe_and_their_ledgers_reconcile_with_the_stays(tmp_path):
    from billing import ledger
    from billing.models import CreditEntry
    from billing.services import seats_used
    from demo.seed import subscribe_demo_companies

    app = _make_app(tmp_path / "demo.db")
    with app.app_context():
        seed_demo(NOW, password_method=app.config["PASSWORD_HASH_METHOD"])
        db.session.commit()
        lines = subscribe_demo_companies(NOW, settings=BillingSettings.from_config(app.config))
        assert len(lines) == 2
        for company in db.session.scalars(select(Company)).all():
            account = ledger.account_of(company.id)
            sub = account.subscription
            assert (sub.status, sub.plan.code) == ("active", "standard")
            assert sub.seats > seats_used(company.id)
            assert account.credit_balance == ledger.ledger_sum(company.id) == sub.seats * 15_000
            spent = dict(
                db.session.execute(
                    select(CreditEntry.booking_id, CreditEntry.amount).where(
                        CreditEntry.company_id == company.id, CreditEntry.kind == "spend"
                    )
                ).all()
            )
            totals = dict(
                db.session.execute(
                    select(Booking.id, Booking.total_price).where(Booking.company_id == company.id)
                ).all()
            )
            assert spent == {booking_id: -total for booking_id, total in totals.items()}
    _dispose(app)
