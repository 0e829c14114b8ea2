"""Sign-in throttling: per client IP before any hash, growing delays per address."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from accounts import services
from accounts.models import LoginThrottle
from tests.conftest import DEFAULTS, NOW, PASSWORD

IP_ATTEMPTS = DEFAULTS["LOGIN_IP_MAX_ATTEMPTS"]

SPRAYED = "Spring2026!"


@pytest.fixture
def hashes(monkeypatch):
    """Counts the password hashes the sign-in computes."""
    calls = []
    real = services.check_password_hash

    def counting(stored, password):
        calls.append(password)
        return real(stored, password)

    monkeypatch.setattr(services, "check_password_hash", counting)
    return calls


def from_ip(app, address: str, english: bool = True):
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = address
    if english:
        browser.get("/lang/en")
    return browser


def sign_in(browser, email: str, password: str = PASSWORD):
    return browser.post("/login", data={"email": email, "password": password})


def throttle_of(db, email: str, ip: str) -> LoginThrottle | None:
    db.session.expire_all()
    return db.session.get(LoginThrottle, services.throttle_key(email, ip))


# --- per client IP -------------------------------------------------------------------------


def test_spraying_one_password_over_many_addresses_is_refused_before_hashing(
    app, make_employee, hashes
):
    victims = [make_employee() for _ in range(3)]
    addresses = [v.email for v in victims] + [
        f"staff{n}@example.com" for n in range(IP_ATTEMPTS + 5)
    ]
    sprayer = from_ip(app, "203.0.113.9")
    answers = [sign_in(sprayer, email, SPRAYED) for email in addresses]
    assert [a.status_code for a in answers[:IP_ATTEMPTS]] == [401] * IP_ATTEMPTS
    refused = answers[IP_ATTEMPTS:]
    assert {a.status_code for a in refused} == {429}
    assert len(hashes) == IP_ATTEMPTS  # no hash ran for a refused attempt
    assert 0 < int(refused[0].headers["Retry-After"]) <= 601
    assert "Too many failed sign-ins from your network" in refused[0].get_data(as_text=True)
    # Even the right password waits: the client is slowed, whoever it claims to be.
    assert sign_in(sprayer, victims[0].email).status_code == 429
    assert len(hashes) == IP_ATTEMPTS

    # Everybody else carries on, and each sprayed address is far from its own delay.
    colleague = from_ip(app, "198.51.100.20")
    assert sign_in(colleague, victims[0].email).status_code == 302
    assert len(hashes) == IP_ATTEMPTS + 1


def test_successful_sign_ins_from_one_office_address_do_not_add_up(app, make_employee, hashes):
    """Only failures count: a whole office behind one address signs in as usual."""
    office = [make_employee() for _ in range(IP_ATTEMPTS + 5)]
    for person in office:
        assert sign_in(from_ip(app, "203.0.113.50", english=False), person.email).status_code == 302
    assert len(hashes) == len(office)


def test_the_ip_limit_ends_with_its_window_and_follows_the_config(app, make_employee, hashes):
    app.config.update(LOGIN_IP_MAX_ATTEMPTS=3, LOGIN_IP_WINDOW_SECONDS=60)
    user = make_employee()
    browser = from_ip(app, "203.0.113.10", english=False)
    assert [sign_in(browser, f"x{n}@example.com", "guess").status_code for n in range(4)] == [
        401,
        401,
        401,
        429,
    ]
    app.config["FIXED_NOW"] = NOW + timedelta(seconds=61)
    assert sign_in(browser, user.email).status_code == 302


# --- per address: growing delays -----------------------------------------------------------


def test_failures_for_an_address_bring_a_delay_that_doubles_and_is_capped(
    app, db, make_employee, hashes
):
    user = make_employee()
    max_failures = app.config["LOGIN_MAX_FAILURES"]
    cap = app.config["LOGIN_LOCKOUT_SECONDS"]
    ip = "192.0.2.1"
    guesser = from_ip(app, ip)
    for _ in range(max_failures - 1):
        assert sign_in(guesser, user.email, "guess").status_code == 401
    assert throttle_of(db, user.email, ip).locked_until is None  # no delay yet
    assert sign_in(guesser, user.email, "guess").status_code == 401

    moment, delays = NOW, []
    for _ in range(8):
        throttle = throttle_of(db, user.email, ip)
        delays.append(int((throttle.locked_until - moment).total_seconds()))
        # While it waits, the address is refused at once from this network, even with
        # the right password, and the refusal neither hashes nor makes the wait longer.
        before = len(hashes)
        waiting = sign_in(guesser, user.email)
        assert waiting.status_code == 429 and len(hashes) == before
        assert int(waiting.headers["Retry-After"]) == delays[-1] + 1
        assert throttle_of(db, user.email, ip).locked_until == throttle.locked_until
        moment = throttle.locked_until
        app.config["FIXED_NOW"] = moment
        assert sign_in(guesser, user.email, "guess").status_code == 401
    first = DEFAULTS["LOGIN_DELAY_SECONDS"]
    assert delays == [min(cap, first * 2**n) for n in range(8)]
    assert delays[-1] == cap

    # Once the wait is over, the right password works and the failures are forgotten.
    app.config["FIXED_NOW"] = throttle_of(db, user.email, ip).locked_until
    assert sign_in(guesser, user.email).status_code == 302
    assert throttle_of(db, user.email, ip) is None


def test_a_guesser_elsewhere_never_makes_the_owner_wait(app, db, make_employee, hashes):
    """The delays bind the address *and* the network the guesses come from: anyone can
    slow themself down, nobody can lock another person out of their account."""
    user = make_employee()
    guesser = from_ip(app, "203.0.113.50")
    for _ in range(app.config["LOGIN_MAX_FAILURES"] + 3):
        sign_in(guesser, user.email, "guess")
    assert sign_in(guesser, user.email).status_code == 429  # the guesser waits
    owner = from_ip(app, "198.51.100.7")
    assert sign_in(owner, user.email).status_code == 302  # the owner does not
    assert throttle_of(db, user.email, "198.51.100.7") is None


def test_an_ipv6_client_is_one_network_whatever_address_of_its_64_it_uses(
    app, db, make_employee, hashes
):
    user = make_employee()
    for n in range(app.config["LOGIN_MAX_FAILURES"]):
        sign_in(from_ip(app, f"2001:db8:1:2::{n + 1:x}"), user.email, "guess")
    hopped = from_ip(app, "2001:db8:1:2:ffff:ffff:ffff:fffe")
    assert sign_in(hopped, user.email).status_code == 429
    assert sign_in(from_ip(app, "2001:db8:1:3::1"), user.email).status_code == 302


def test_failures_are_forgotten_after_a_quiet_day(app, db, make_employee):
    user = make_employee()
    browser = from_ip(app, "192.0.2.200", english=False)
    for _ in range(app.config["LOGIN_MAX_FAILURES"] - 1):
        sign_in(browser, user.email, "guess")
    app.config["FIXED_NOW"] = NOW + services.FAILURE_MEMORY
    assert sign_in(browser, user.email, "guess").status_code == 401
    throttle = throttle_of(db, user.email, "192.0.2.200")
    assert throttle.failures == 1 and throttle.locked_until is None


def test_delays_follow_the_config(app, db, make_employee):
    app.config.update(LOGIN_MAX_FAILURES=2, LOGIN_DELAY_SECONDS=5, LOGIN_LOCKOUT_SECONDS=12)
    user = make_employee()
    browser = from_ip(app, "192.0.2.201", english=False)
    sign_in(browser, user.email, "guess")
    sign_in(browser, user.email, "guess")
    assert throttle_of(db, user.email, "192.0.2.201").locked_until == NOW + timedelta(seconds=5)
    app.config["FIXED_NOW"] = NOW + timedelta(seconds=5)
    sign_in(browser, user.email, "guess")
    assert throttle_of(db, user.email, "192.0.2.201").locked_until == NOW + timedelta(seconds=15)
    app.config["FIXED_NOW"] = NOW + timedelta(seconds=15)
    sign_in(browser, user.email, "guess")
    assert throttle_of(db, user.email, "192.0.2.201").locked_until == NOW + timedelta(
        seconds=27
    )  # capped


def test_racing_failures_for_a_new_address_all_count(app, db):
    """Parallel first failures for one address meet on one row (an upsert): none is
    lost and none ends in an error."""
    email = "nobody@example.com"
    attempts = 6
    barrier = threading.Barrier(attempts)
    codes = []

    def attempt(n: int) -> None:
        browser = from_ip(app, "192.0.2.100", english=False)
        barrier.wait()
        codes.append(sign_in(browser, email, "guess").status_code)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    throttle = throttle_of(db, email, "192.0.2.100")
    # No error; every failure counted once (an attempt that came after the fifth
    # failure was committed waits instead, as it should).
    assert len(codes) == attempts and set(codes) <= {401, 429}
    assert throttle.failures == codes.count(401) >= app.config["LOGIN_MAX_FAILURES"]
    assert throttle.locked_until is not None


def test_an_unknown_address_is_throttled_like_a_known_one(app, db, make_employee, hashes):
    user = make_employee()
    browser = from_ip(app, "192.0.2.202", english=False)
    for email in (user.email, "nobody@example.com"):
        for _ in range(app.config["LOGIN_MAX_FAILURES"]):
            assert sign_in(browser, email, "guess").status_code == 401
        assert sign_in(browser, email, "guess").status_code == 429
    # The dummy hash ran for the unknown address too: timing tells nothing.
    assert len(hashes) == 2 * app.config["LOGIN_MAX_FAILURES"]
    keys = db.session.scalars(select(LoginThrottle.key)).all()
    ip = "192.0.2.202"
    assert sorted(keys) == sorted(
        services.throttle_key(e, ip) for e in (user.email, "nobody@example.com")
    )
