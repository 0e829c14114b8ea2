"""Which stays a company's policy allows an employee, and a business stay's working
days (hr.policy)."""

from __future__ import annotations

from datetime import date

import jpholiday
import pytest

from accounts.models import Role
from hr.models import DEFAULT_GROUP, GroupPolicy, Purpose
from hr.policy import (
    BOTH,
    PolicyRefused,
    allowed_purposes,
    candidate_work_days,
    check_purpose,
    check_work_days,
    default_work_days,
    is_day_off,
    policy_for,
)

# Golden Week 2027: Wednesday 4/28 to Thursday 5/6.
GW_IN, GW_OUT = date(2027, 4, 28), date(2027, 5, 6)


@pytest.fixture
def company(make_company):
    return make_company(subscribed=False)


def policy(db, company, group: str, *, leisure: bool, business: bool) -> GroupPolicy:
    row = GroupPolicy(
        company_id=company.id,
        employee_group=group,
        leisure_allowed=leisure,
        business_allowed=business,
    )
    db.session.add(row)
    db.session.commit()
    return row


def test_a_company_that_set_nothing_allows_both(db, company, make_employee, make_user):
    person = make_employee(company=company, employee_group="正社員")
    assert policy_for(person) is None
    assert allowed_purposes(person) == BOTH
    assert allowed_purposes(person).default is Purpose.LEISURE
    # Someone of no company (an operator) has no policy either.
    assert allowed_purposes(make_user(Role.OPERATOR)) == BOTH


def test_the_company_default_applies_to_every_group_without_a_row(
    db, company, make_employee, make_company
):
    default = policy(db, company, DEFAULT_GROUP, leisure=False, business=True)
    policy(db, make_company(subscribed=False), "契約社員", leisure=True, business=False)
    for group in (None, "", "契約社員"):
        person = make_employee(company=company, employee_group=group)
        assert policy_for(person).id == default.id
        assert allowed_purposes(person).purposes == (Purpose.BUSINESS,)
        assert allowed_purposes(person).default is Purpose.BUSINESS


def test_a_groups_row_beats_the_default(db, company, make_employee):
    policy(db, company, DEFAULT_GROUP, leisure=True, business=False)
    row = policy(db, company, "役員", leisure=True, business=True)
    executive = make_employee(company=company, employee_group="役員")
    staff = make_employee(company=company, employee_group="正社員")

    assert policy_for(executive).id == row.id
    assert allowed_purposes(executive) == BOTH
    assert allowed_purposes(staff).purposes == (Purpose.LEISURE,)
    assert Purpose.BUSINESS in allowed_purposes(executive)
    assert Purpose.BUSINESS not in allowed_purposes(staff)


def test_check_purpose_answers_the_allowed_purpose(db, company, make_employee):
    policy(db, company, DEFAULT_GROUP, leisure=True, business=False)
    policy(db, company, "出向者", leisure=False, business=True)
    staff = make_employee(company=company)
    seconded = make_employee(company=company, employee_group="出向者")

    assert check_purpose(staff, None) is Purpose.LEISURE
    assert check_purpose(staff, "leisure") is Purpose.LEISURE
    assert check_purpose(seconded, None) is Purpose.BUSINESS
    assert check_purpose(seconded, "business") is Purpose.BUSINESS

    for person, purpose in ((staff, "business"), (seconded, "leisure")):
        with pytest.raises(PolicyRefused) as refused:
            check_purpose(person, purpose)
        assert refused.value.code == "purpose_not_allowed"
    for unknown in ("holiday", "", "LEISURE"):
        with pytest.raises(PolicyRefused) as refused:
            check_purpose(staff, unknown)
        assert refused.value.code == "purpose_unknown"


def test_golden_week_2027_holidays():
    holidays = [day for day in candidate_work_days(GW_IN, GW_OUT) if jpholiday.is_holiday(day)]
    assert holidays == [date(2027, 4, 29), date(2027, 5, 3), date(2027, 5, 4), date(2027, 5, 5)]
    assert is_day_off(date(2027, 5, 1)) and is_day_off(date(2027, 5, 2))  # the weekend
    assert not is_day_off(date(2027, 4, 30))


def test_candidate_days_run_from_check_in_to_check_out_both_included():
    days = candidate_work_days(GW_IN, GW_OUT)
    assert days[0] == GW_IN and days[-1] == GW_OUT and len(days) == 9
    assert candidate_work_days(date(2027, 6, 1), date(2027, 6, 2)) == [
        date(2027, 6, 1),
        date(2027, 6, 2),
    ]


def test_default_work_days_skip_weekends_and_holidays():
    assert default_work_days(GW_IN, GW_OUT) == [
        date(2027, 4, 28),
        date(2027, 4, 30),
        date(2027, 5, 6),
    ]
    # A weekend stay has no default working day.
    assert default_work_days(date(2027, 5, 1), date(2027, 5, 2)) == []


def test_a_leisure_stay_has_no_working_days():
    assert check_work_days(Purpose.LEISURE, None, GW_IN, GW_OUT) == []
    assert check_work_days(Purpose.LEISURE, [], GW_IN, GW_OUT) == []
    with pytest.raises(PolicyRefused) as refused:
        check_work_days(Purpose.LEISURE, [date(2027, 4, 30)], GW_IN, GW_OUT)
    assert refused.value.code == "work_days_for_leisure"


def test_a_business_stay_without_days_gets_the_defaults():
    assert check_work_days(Purpose.BUSINESS, None, GW_IN, GW_OUT) == default_work_days(
        GW_IN, GW_OUT
    )


def test_chosen_days_are_sorted_without_repeats_and_may_be_days_off():
    chosen = [GW_OUT, date(2027, 5, 1), GW_IN, GW_OUT, date(2027, 5, 1)]
    assert check_work_days(Purpose.BUSINESS, chosen, GW_IN, GW_OUT) == [
        GW_IN,
        date(2027, 5, 1),
        GW_OUT,
    ]


@pytest.mark.parametrize(
    "days",
    [
        [],  # none at all
        [date(2027, 4, 27)],  # the day before check-in
        [date(2027, 4, 30), date(2027, 5, 7)],  # one after check-out
    ],
)
def test_business_days_must_be_some_and_within_the_stay(days):
    with pytest.raises(PolicyRefused) as refused:
        check_work_days(Purpose.BUSINESS, days, GW_IN, GW_OUT)
    assert refused.value.code == "work_days"


def test_a_weekend_business_stay_without_days_is_refused():
    """The default days of a stay over a weekend are none: the form must ask."""
    with pytest.raises(PolicyRefused) as refused:
        check_work_days(Purpose.BUSINESS, None, date(2027, 5, 1), date(2027, 5, 2))
    assert refused.value.code == "work_days"
