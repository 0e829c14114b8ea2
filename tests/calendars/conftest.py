"""Fixtures for the calendar import/export tests."""

from __future__ import annotations

import pytest

from tests.calendars.feedserver import FeedServer


@pytest.fixture
def feed_server():
    with FeedServer() as server:
        yield server


@pytest.fixture
def sync_config(app):
    """Allow the local feed server (a private address).

    The timeout is generous: a loaded CI machine (two test workers on two cores) can
    stall a local answer past a second. The test of a slow feed shortens it itself.
    """
    app.config.update(
        CALENDAR_ALLOW_PRIVATE_HOSTS=True,
        CALENDAR_FETCH_TIMEOUT=5,
        CALENDAR_SYNC_WORKERS=4,
    )
    return app.config
