"""Fixtures for the calendar import/export tests."""

from __future__ import annotations

import pytest

from accounts.models import Role
from tests.facilities.feedserver import FeedServer


@pytest.fixture
def feed_server():
    with FeedServer() as server:
        yield server


@pytest.fixture
def sync_config(app):
    """Allow the local feed server (a private address) and keep timeouts short."""
    app.config.update(
        CALENDAR_ALLOW_PRIVATE_HOSTS=True,
        CALENDAR_FETCH_TIMEOUT=1,
        CALENDAR_SYNC_WORKERS=4,
    )
    return app.config


@pytest.fixture
def unit(make_unit):
    return make_unit()


@pytest.fixture
def operator(make_user, unit):
    """An operator of ``unit``'s organisation."""
    return make_user(Role.OPERATOR, operator=unit.facility.operator)
