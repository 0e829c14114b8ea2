"""Error answers: an unexpected error is a 500 page, and its log line names the route,
never a path that may carry a one-time secret."""

from __future__ import annotations

import logging

import pytest

from accounts import recovery

SECRET = "Zk3-one-time-secret-9Qx"


def _boom(*_args, **_kwargs):
    raise RuntimeError("the database went away")


@pytest.mark.parametrize("path", [f"/password/reset/{SECRET}", f"/password/set/{SECRET}"])
def test_a_500_on_a_link_with_a_secret_logs_the_route_not_the_secret(
    app, client, monkeypatch, caplog, path
):
    monkeypatch.setattr(recovery, "token_for", _boom)
    with caplog.at_level(logging.ERROR, logger="core.errors"):
        response = client.get(path)
    assert response.status_code == 500
    (record,) = [r for r in caplog.records if r.name == "core.errors"]
    pattern = path.removesuffix(SECRET) + "<token>"
    assert record.getMessage() == f"unhandled error on GET {pattern}"
    assert SECRET not in caplog.text


def test_a_500_without_a_matched_route_logs_the_first_segment_only(app, caplog):
    @app.before_request
    def _fail():
        raise RuntimeError("the database went away")

    with caplog.at_level(logging.ERROR, logger="core.errors"):
        response = app.test_client().get(f"/no-such-page/{SECRET}/more")
    assert response.status_code == 500
    (record,) = [r for r in caplog.records if r.name == "core.errors"]
    assert record.getMessage() == "unhandled error on GET /no-such-page/..."
    assert SECRET not in caplog.text
