"""How the company outcome report (``consoles.company.report``) rounds its figures: rates
are fractions 0–1 to 4 decimals, yen per participant or per night to the yen, half up.
Written once here for the report's figures and its regional figures
(``consoles.company.report_regions``)."""

from __future__ import annotations

RATE_DIGITS = 4  # fractions 0–1, as the operator API's occupancy


def ratio(part: int, whole: int) -> float:
    """``part / whole`` as a fraction rounded to 4 decimals; 0 when ``whole`` is 0."""
    return round(part / whole, RATE_DIGITS) if whole else 0.0


def per(yen: int, count: int) -> int:
    """``yen / count`` rounded to the yen, half up; 0 when ``count`` is 0."""
    return (2 * yen + count) // (2 * count) if count else 0
