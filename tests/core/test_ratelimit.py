"""The shared rate limiter: counts per key and window, atomic under racing threads."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core import ratelimit
from core.extensions import db
from core.ratelimit import Limit, RateLimitWindow
from tests.conftest import NOW

LIMIT = Limit("test", 3, 60)


def test_hits_within_the_limit_pass_and_the_next_one_waits_for_the_window(app):
    with app.app_context():
        assert [ratelimit.hit(LIMIT, "a", NOW) for _ in range(3)] == [0, 0, 0]
        retry = ratelimit.hit(LIMIT, "a", NOW)
        assert 0 < retry <= 61
        assert ratelimit.hit(LIMIT, "b", NOW) == 0  # another subject has its own count
        assert ratelimit.hit(LIMIT, "a", NOW + timedelta(seconds=61)) == 0  # a new window
        db.session.commit()


def test_prune_forgets_ended_windows_only(app):
    with app.app_context():
        ratelimit.hit(LIMIT, "old", NOW - timedelta(minutes=5))
        ratelimit.hit(LIMIT, "now", NOW)
        db.session.commit()
        assert ratelimit.prune(NOW).startswith("1 ")
        keys = db.session.scalars(select(RateLimitWindow.key)).all()
        assert keys == ["test:now"]


def test_racing_threads_never_lose_a_count(app):
    threads_n, per_thread = 8, 10
    barrier = threading.Barrier(threads_n)

    def worker():
        with app.app_context():
            barrier.wait()
            for _ in range(per_thread):
                ratelimit.hit(Limit("race", 1000, 3600), "k", NOW)
                db.session.commit()

    threads = [threading.Thread(target=worker) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with app.app_context():
        total = db.session.scalar(
            select(func.sum(RateLimitWindow.count)).where(RateLimitWindow.key == "race:k")
        )
        assert total == threads_n * per_thread


def test_an_over_limit_request_answers_429_with_retry_after(app):
    from werkzeug.exceptions import TooManyRequests

    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "203.0.113.9"}):
        assert ratelimit.client_ip() == "203.0.113.9"
        for _ in range(3):
            ratelimit.enforce([(LIMIT, ratelimit.client_ip())], NOW)
        try:
            ratelimit.enforce([(LIMIT, ratelimit.client_ip())], NOW)
        except TooManyRequests as exc:
            assert int(exc.retry_after) > 0
        else:
            raise AssertionError("the fourth hit was not refused")


@pytest.mark.parametrize(
    ("remote", "network"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),  # the same subscriber
        ("::ffff:203.0.113.9", "203.0.113.9"),  # IPv4 seen through an IPv6 socket
        ("not-an-address", "unknown"),
    ],
)
def test_a_client_is_counted_by_its_address_or_its_ipv6_64(app, remote, network):
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": remote}):
        assert ratelimit.client_ip() == network
