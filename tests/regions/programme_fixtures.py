"""Programmes for tests (issue 20): ``make_programme`` and a stay to join them with.

The default meeting point lies about 1 km from the default test facility
(tests/conftest.py ``make_facility``: 36.34, 138.63), so its sessions are "near" it;
the default first session is on Friday 2026-12-11 from 10:00 to 12:00 Japan time, ten
days after the fixed ``NOW``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from accounts.models import OperatorOrg
from regions.models import Programme, ProgrammeSession

FIRST_START = datetime(2026, 12, 11, 1, 0, tzinfo=UTC)  # 10:00 in Japan
SESSION_LENGTH = timedelta(hours=2)
NEAR_LAT, NEAR_LNG = 36.345, 138.64


def make_programme(
    db,
    operator: OperatorOrg,
    *,
    municipality_code: str = "202011",
    prefecture: int = 20,
    capacity: int = 5,
    price_kind: str = "free",
    price: int = 0,
    stay_required: bool = True,
    starts_at: datetime = FIRST_START,
    sessions: int = 1,
    every: timedelta = timedelta(days=1),
    published: bool = True,
    kind: str = "local_work",
    title_ja: str = "雪かきボランティア",
    title_en: str = "Snow-clearing volunteers",
    latitude: float = NEAR_LAT,
    longitude: float = NEAR_LNG,
    language: str = "ja",
    min_participants: int = 1,
) -> Programme:
    """A programme of ``operator`` with ``sessions`` sessions of ``capacity`` seats,
    the first at ``starts_at`` and each next ``every`` later; committed."""
    programme = Programme(
        operator_id=operator.id,
        kind=kind,
        title_ja=title_ja,
        title_en=title_en,
        description_ja="地域の皆さんと一緒に作業します。",
        description_en="Work alongside the people of the town.",
        municipality_code=municipality_code,
        prefecture=prefecture,
        meeting_point="市役所前広場",
        latitude=latitude,
        longitude=longitude,
        capacity=capacity,
        min_participants=min_participants,
        price_kind=price_kind,
        price=price,
        language=language,
        stay_required=stay_required,
        published_at=starts_at - timedelta(days=30) if published else None,
    )
    db.session.add(programme)
    db.session.flush()
    for n in range(sessions):
        start = starts_at + n * every
        db.session.add(
            ProgrammeSession(
                programme_id=programme.id,
                starts_at=start,
                ends_at=start + SESSION_LENGTH,
                capacity=capacity,
            )
        )
    db.session.commit()
    return programme
