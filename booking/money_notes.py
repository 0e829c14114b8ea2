"""What the employee's pages say beside the prices: who comes along on the quote page
(``Along``, the companions form), who pays what and who approves (``MoneyNotes``), and
what is left of the yearly subsidy on the stays page (``YearSubsidy``).

Helpers of ``booking.views``, for the signed-in employee (``current_user``); the rules
are ``hr``'s (policy, subsidy, approvers) and ``booking.subsidy_use``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask_login import current_user

from accounts.models import User
from booking.forms import CompanionQuoteForm
from booking.subsidy_use import remaining_subsidy
from core.db import get_by_id
from hr.approval import DEFAULT_APPROVAL_HOURS, REASON_LABELS, approvers_of
from hr.groups import cap_words, subsidy_words
from hr.policy import policy_for
from hr.subsidy import Companions, fiscal_year_label_year


@dataclass(frozen=True)
class Along:
    """Who comes along, on the quote page: the companions the confirm form carries (None:
    none named, the guests alone), and the small form that re-quotes with others."""

    companions: Companions | None
    form: CompanionQuoteForm
    error: str | None = None


def along_of(quote, companions, form=None, error=None) -> Along:
    """The companions form as typed (refused) or as quoted; with none named, the
    guests beyond the employee offered as adults."""
    if form is None or error is None:
        form = CompanionQuoteForm(formdata=None)
        shown = companions or Companions(adults=quote.guests - 1 if quote else 0)
        form.adults.data, form.children.data = shown.adults, shown.children
        form.infants.data = shown.infants
    return Along(companions, form, error)


@dataclass(frozen=True)
class MoneyNotes:
    """What the quote page says of who pays what beyond the prices: the subsidy rule in
    words, the fiscal year of the yearly cap, and who approves the stay."""

    subsidy_rule: object | None = None
    cap_rule: object | None = None
    fiscal_year: int | None = None
    approver: str | None = None  # None: the company's admins
    approval_hours: int = DEFAULT_APPROVAL_HOURS
    reasons: tuple = ()


def money_notes_of(quote) -> MoneyNotes:
    if quote is None or quote.split is None:
        return MoneyNotes()
    policy = policy_for(current_user)
    split, rule, cap, year, approver = quote.split, None, None, None, None
    if split.employee:
        rule, cap = subsidy_words(policy), cap_words(policy)
    if split.remaining is not None:
        start = current_user.company.fiscal_year_start_month
        year = fiscal_year_label_year(quote.check_in, start)
    if quote.approval_reasons:
        who = approvers_of(current_user)
        person = get_by_id(User, who.approver_id) if who.approver_id else None
        approver = person.name if person is not None else None
    return MoneyNotes(
        rule,
        cap,
        year,
        approver,
        policy.approval_hours if policy is not None else DEFAULT_APPROVAL_HOURS,
        tuple(REASON_LABELS[code] for code in quote.approval_reasons if code in REASON_LABELS),
    )


@dataclass(frozen=True)
class YearSubsidy:
    """The employee's yearly subsidy in this fiscal year (named by its first year)."""

    year: int
    cap: int
    remaining: int


def year_subsidy_of(today: date) -> YearSubsidy | None:
    """What is left of the employee's yearly subsidy (None: their policy has no cap)."""
    if not current_user.books_stays:
        return None
    policy = policy_for(current_user)
    if policy is None or policy.annual_cap is None:
        return None
    start = current_user.company.fiscal_year_start_month
    return YearSubsidy(
        fiscal_year_label_year(today, start),
        policy.annual_cap,
        remaining_subsidy(current_user, today, policy=policy),
    )
