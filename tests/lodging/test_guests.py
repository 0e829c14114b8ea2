"""One guest's line of the register, checked (lodging.guests): names, addresses, phone
numbers, nationalities and passport numbers, good and bad, field by field.

Pure rules: no database (the messages need only an app for their translation)."""

from __future__ import annotations

import pytest
from flask_babel import force_locale

from app import create_app
from lodging.guests import (
    GuestDetails,
    clean_guest,
    country_codes,
    format_phone,
    nationality_choices,
    nationality_name,
    sort_key,
)

GOOD = {
    "name": "山田 太郎",
    "address": "〒100-0001 東京都千代田区千代田1-1",
    "phone": "03-1234-5678",
}
ABROAD = {
    "name": "Jane O'Neil",
    "address": "221B Baker Street, London NW1 6XE, United Kingdom",
    "phone": "+44 20 7946 0958",
    "nationality": "gb",
    "passport_number": "12345 6789",
    "lives_abroad": True,
}


@pytest.fixture(scope="module")
def plain_app():
    """The application without a database: these rules never touch one."""
    return create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x"})


@pytest.fixture
def ctx(plain_app):
    with plain_app.test_request_context(), force_locale("en"):
        yield


def refused(raw: dict) -> dict[str, str]:
    details, errors = clean_guest(raw)
    assert details is None
    return {field: str(message) for field, message in errors.items()}


def cleaned(raw: dict) -> GuestDetails:
    details, errors = clean_guest(raw)
    assert errors == {}
    return details


# --- names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("山田 太郎", "山田 太郎"),
        ("山田\u3000太郎", "山田\u3000太郎"),  # the full-width space
        ("やまだ たろう", "やまだ たろう"),
        ("ヤマダ・タロウ", "ヤマダ・タロウ"),
        ("ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダ タロウ"),  # half-width kana read as full-width
        ("佐々木 𠮷男", "佐々木 𠮷男"),  # 々 and a kanji beyond the basic plane
        ("José Ñúñez-García", "José Ñúñez-García"),
        ("Jane O'Neil", "Jane O'Neil"),
        ("Dr. Nguyễn Văn An", "Dr. Nguyễn Văn An"),
        ("  Anna   Müller ", "Anna Müller"),  # trimmed, runs of spaces folded
        ("Ｊｏｈｎ Ｓｍｉｔｈ", "John Smith"),  # full-width letters read as ASCII
    ],
)
def test_names_in_japanese_and_latin_letters_are_accepted(ctx, typed, stored):
    assert cleaned({**GOOD, "name": typed}).name == stored


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("", "Enter the guest's name."),
        ("   ", "Enter the guest's name."),
        ("Taro 2", "cannot contain digits"),
        ("山田３郎", "cannot contain digits"),  # a full-width digit
        ("Robert'); DROP TABLE--", "Latin letters"),
        ("<script>", "Latin letters"),
        ("Иван Петров", "Latin letters"),  # Cyrillic: written in Latin letters on a passport
        ("---", "Latin letters"),
        ("a\x00b", "Latin letters"),
        ("x" * 101, "at most 100 characters"),
    ],
)
def test_bad_names_are_refused_with_a_reason(ctx, typed, says):
    assert says in refused({**GOOD, "name": typed})["name"]


def test_a_name_of_100_characters_is_the_longest(ctx):
    assert len(cleaned({**GOOD, "name": "あ" * 100}).name) == 100


# --- addresses ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("〒150-0001 東京都渋谷区神宮前1-2-3", "〒150-0001 東京都渋谷区神宮前1-2-3"),
        (
            "1600 Amphitheatre Pkwy\r\nMountain View, CA 94043\nUSA",
            "1600 Amphitheatre Pkwy Mountain View, CA 94043 USA",
        ),
        ("東京都\u3000港区", "東京都 港区"),
    ],
)
def test_postal_addresses_are_folded_onto_one_line(ctx, typed, stored):
    assert cleaned({**GOOD, "address": typed}).address == stored


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("", "Enter the guest's address."),
        ("東京", "full postal address"),  # under 5 characters
        ("12345-678", "full postal address"),  # no letter at all
        ("東京都\x07港区六本木", "not allowed"),
        ("東" * 301, "at most 300 characters"),
    ],
)
def test_bad_addresses_are_refused(ctx, typed, says):
    assert says in refused({**GOOD, "address": typed})["address"]


# --- phone numbers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("03-1234-5678", "+81312345678"),
        ("0312345678", "+81312345678"),
        ("090-1234-5678", "+819012345678"),
        ("０９０－１２３４－５６７８", "+819012345678"),  # full-width
        ("090ー1234ー5678", "+819012345678"),  # the IME's prolonged sound mark
        ("(03) 1234 5678", "+81312345678"),
        ("+81 90 1234 5678", "+819012345678"),
        ("+1 415 555 2671", "+14155552671"),
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
def test_phone_numbers_in_japanese_and_international_formats_are_stored_as_e164(ctx, typed, stored):
    assert cleaned({**GOOD, "phone": typed}).phone == stored


@pytest.mark.parametrize(
    "typed", ["12345", "phone", "03-1234", "+1 000", "090-1234-5678-9999-0000-1111-22", "0\x003"]
)
def test_bad_phone_numbers_are_refused(ctx, typed):
    assert "such as 03-1234-5678" in refused({**GOOD, "phone": typed})["phone"]


def test_a_missing_phone_number_is_asked_for(ctx):
    assert refused({**GOOD, "phone": ""})["phone"] == "Enter a phone number."


def test_stored_numbers_read_as_people_write_them(ctx):
    assert format_phone("+81312345678") == "03-1234-5678"
    assert format_phone("+14155552671") == "+1 415-555-2671"


# --- nationality and passport ------------------------------------------------------------


def test_a_foreign_guest_living_abroad_gives_nationality_and_passport(ctx):
    guest = cleaned(ABROAD)
    assert (guest.nationality, guest.passport_number, guest.needs_passport) == (
        "GB",
        "123456789",
        True,
    )


@pytest.mark.parametrize("number", ["TR1234567", "tr 123 4567", "ＴＲ１２３４５６７"])
def test_a_japanese_style_passport_number_is_accepted(ctx, number):
    guest = cleaned({**ABROAD, "nationality": "US", "passport_number": number})
    assert guest.passport_number == "TR1234567"


@pytest.mark.parametrize(
    ("number", "says"),
    [
        ("", "Enter the passport number."),
        ("12345", "6 to 9 letters and digits"),
        ("1234567890", "6 to 9 letters and digits"),
        ("AB-123456", "6 to 9 letters and digits"),
        ("TR12345６7x!", "6 to 9 letters and digits"),
    ],
)
def test_bad_passport_numbers_are_refused(ctx, number, says):
    assert says in refused({**ABROAD, "passport_number": number})["passport_number"]


def test_a_guest_living_abroad_names_a_nationality_from_the_list(ctx):
    assert "nationality" in refused({**ABROAD, "nationality": ""})["nationality"]
    assert "from the list" in refused({**ABROAD, "nationality": "XX"})["nationality"]
    assert "from the list" in refused({**ABROAD, "nationality": "EU"})["nationality"]


def test_residents_of_japan_and_japanese_abroad_keep_no_passport(ctx):
    resident = cleaned({**ABROAD, "lives_abroad": False})  # a foreigner living in Japan
    assert (resident.nationality, resident.passport_number) == ("GB", "")
    assert not resident.needs_passport
    japanese = cleaned({**ABROAD, "nationality": "JP", "passport_number": "?"})
    assert (japanese.passport_number, japanese.needs_passport) == ("", False)


def test_lives_abroad_reads_a_form_box_or_a_json_bool(ctx):
    assert cleaned({**ABROAD, "lives_abroad": "y"}).lives_abroad is True
    assert cleaned({**GOOD, "lives_abroad": ""}).lives_abroad is False
    assert refused({**GOOD, "lives_abroad": 3})["lives_abroad"] == "Answer yes or no."


def test_every_refused_field_is_named_at_once(ctx):
    errors = refused({"name": "1", "address": "", "phone": "x", "lives_abroad": True})
    assert set(errors) == {"name", "address", "phone", "nationality"}


def test_values_that_are_not_text_are_refused(ctx):
    errors = refused({**GOOD, "name": ["山田"], "phone": 312345678, "address": "x" * 5000})
    assert set(errors) == {"name", "phone", "address"}


def test_the_details_round_trip_through_json():
    guest = GuestDetails("山田 太郎", "東京都港区1-1", "+81312345678", "US", "X1234567", True)
    assert GuestDetails.from_json(guest.as_json()) == guest


# --- the nationality list ----------------------------------------------------------------


def test_nationalities_are_iso_alpha_2_codes_with_japan_first():
    english = nationality_choices("en")
    assert english[0] == ("JP", "Japan")
    codes = [code for code, _name in english]
    assert len(codes) == len(set(codes)) == len(country_codes())
    assert all(len(c) == 2 and c.isalpha() and c.isupper() for c in codes)
    assert {"EU", "UN", "ZZ", "QO"}.isdisjoint(codes)
    assert {"US", "GB", "CN", "KR", "TW", "FR"} <= set(codes)
    names = [name for _code, name in english[1:]]
    assert names == sorted(names, key=sort_key)
    assert names.index("Åland Islands") < names.index("Albania")


def test_nationalities_are_named_in_the_readers_language():
    assert nationality_choices("ja")[0] == ("JP", "日本")
    assert nationality_name("US", "ja") == "アメリカ合衆国"
    assert nationality_name("US", "en") == "United States"
    assert nationality_name("", "en") == ""
