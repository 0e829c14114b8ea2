"""Hosts and proxies: a request for a host Engawa does not serve is refused before any
view runs, links follow BASE_URL whatever the request says, and X-Forwarded-* headers
count only as far as the configured proxies (PROXY_FIX_*) set them."""

from __future__ import annotations

import json
import re

import pytest
from flask import render_template_string, request
from sqlalchemy import func, select

from accounts import join_domains as domains
from accounts.mail import OutgoingMail, body_of
from accounts.models import Invitation, Role
from app import create_app
from billing import flows
from billing.models import LocalObject
from core.extensions import db as _db
from core.ratelimit import client_ip
from core.urls import public_url
from tests.conftest import NOW, app_config, plan_named, signed_in

BASE = "https://engawa.example"
FORGED = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}
UNTRUSTED = [
    "evil.example",
    "evil.example:5000",
    "engawa.example.evil.example",
    "evilengawa.example",
    "localhost.evil.example",
]


@pytest.fixture
def public(app):
    """The app as deployed at BASE (the test client still asks for "localhost",
    which outside production is trusted beside BASE_URL's host)."""
    app.config["BASE_URL"] = BASE
    app.config["TRUSTED_HOSTS"] = ["engawa.example", "localhost"]
    return app


@pytest.fixture
def join_domain(db, make_user, make_company):
    """Acme lets staff at acme.example join by themselves (approved by the platform)."""
    admin = make_user(Role.COMPANY_ADMIN, company=make_company(), email="boss@acme.example")
    root = make_user(Role.PLATFORM_ADMIN)
    domains.set_email_domain(admin.company_id, "acme.example", admin, NOW)
    domains.review_email_domain(admin.company_id, "acme.example", True, root, NOW)
    db.session.commit()
    return admin.company


def _count(db, model) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("host", UNTRUSTED)
def test_a_join_request_for_another_host_is_refused_and_queues_nothing(
    public, db, join_domain, host
):
    visitor = public.test_client()
    response = visitor.post(
        "/join", data={"email": "hanako@acme.example"}, headers={"Host": host, **FORGED}
    )

    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert f'<a href="{BASE}/">' in html  # the page points at the real site, and builds no URL
    assert "<form" not in html
    assert _count(db, OutgoingMail) == 0
    assert _count(db, Invitation) == 0

    # The same request for the real host goes through, and its link follows BASE_URL
    # even when the client forges forwarding headers (no proxy is configured).
    response = visitor.post("/join", data={"email": "hanako@acme.example"}, headers=FORGED)
    assert response.status_code == 303
    mail = db.session.scalars(select(OutgoingMail)).one()
    links = re.findall(r"https?://\S+", body_of(mail))
    assert links and all(link.startswith(f"{BASE}/join/") for link in links), links


@pytest.mark.parametrize("path", ["/login", "/", "/static/css/app.css", "/join"])
def test_every_page_refuses_an_untrusted_host(public, path):
    response = public.test_client().get(path, headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Set-Cookie" not in response.headers


def test_the_api_refuses_an_untrusted_host_in_json(public):
    response = public.test_client().get("/api/v1/bookings", headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_request"


def test_a_signed_in_user_on_an_untrusted_host_gets_the_plain_refusal(public, make_employee):
    browser = signed_in(public, make_employee())
    response = browser.get("/stays", headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert "<nav" not in response.get_data(as_text=True)  # no page of the site at all


def test_the_configured_trusted_hosts_are_served(public):
    public.config["TRUSTED_HOSTS"].append("health.internal")
    client = public.test_client()
    for host in ("engawa.example", "engawa.example:443", "health.internal"):
        assert client.get("/login", headers={"Host": host}).status_code == 200, host


def test_templates_build_addresses_to_copy_from_base_url(public):
    with public.test_request_context("/", headers={"Host": "localhost", **FORGED}):
        shown = render_template_string("{{ public_url('accounts.login') }}")
    assert shown == f"{BASE}/login"


# --- Stripe's return addresses ------------------------------------------------------------


@pytest.fixture
def newcomer(db, make_company, make_user):
    """An admin of a company without a subscription, with a plan on offer."""
    company = make_company(subscribed=False, name="Newco")
    plan_named("standard")
    db.session.commit()
    return make_user(Role.COMPANY_ADMIN, company=company, locale="en")


def test_checkout_return_addresses_follow_base_url(public, db, newcomer):
    browser = signed_in(public, newcomer)
    response = browser.post(
        "/company/billing/subscribe",
        data={"plan": plan_named("standard").id, "seats": "3", "method": "card"},
        headers=FORGED,
    )
    assert response.status_code == 303
    db.session.rollback()
    stored = db.session.scalars(select(LocalObject).where(LocalObject.kind == "checkout.session"))
    session = json.loads(stored.one().data)
    assert session["success_url"] == f"{BASE}/company/billing?checkout=done"
    assert session["cancel_url"] == f"{BASE}/company/billing?checkout=cancelled"


def test_the_billing_portal_returns_to_base_url(public, newcomer, monkeypatch):
    asked = []

    def portal_url(company_id: int, return_url: str) -> str:
        asked.append(return_url)
        return "/company/billing"

    monkeypatch.setattr(flows, "portal_url", portal_url)
    browser = signed_in(public, newcomer)
    response = browser.post("/company/billing/portal", headers=FORGED)
    assert response.status_code == 303
    assert asked == [f"{BASE}/company/billing"]


# --- proxies -------------------------------------------------------------------------------


def _proxied_app(tmp_path, **proxy_fix):
    trusted = ["engawa.example", "localhost"]  # as load_config makes them for BASE
    url = f"sqlite:///{tmp_path / 'proxy.db'}"
    app = create_app(app_config(url, BASE_URL=BASE, TRUSTED_HOSTS=trusted, **proxy_fix))

    @app.get("/_probe")
    def probe():
        return {
            "remote_addr": request.remote_addr,
            "client_ip": client_ip(),
            "scheme": request.scheme,
            "host": request.host,
            "link": public_url("accounts.login"),
        }

    with app.app_context():
        _db.create_all()
    yield app
    with app.app_context():
        _db.engine.dispose()


@pytest.fixture
def direct(tmp_path):
    """No proxy configured: the default."""
    yield from _proxied_app(tmp_path)


@pytest.fixture
def behind_one_proxy(tmp_path):
    """One proxy in front that sets X-Forwarded-For, -Proto and -Host."""
    yield from _proxied_app(tmp_path, PROXY_FIX_X_FOR=1, PROXY_FIX_X_PROTO=1, PROXY_FIX_X_HOST=1)


FORWARDED = {
    "X-Forwarded-For": "198.51.100.7, 203.0.113.9",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "engawa.example",
}


def test_forwarded_headers_are_ignored_without_a_configured_proxy(direct):
    seen = direct.test_client().get("/_probe", headers=FORWARDED).get_json()
    assert seen == {
        "remote_addr": "127.0.0.1",
        "client_ip": "127.0.0.1",
        "scheme": "http",
        "host": "localhost",
        "link": f"{BASE}/login",
    }


def test_forwarded_headers_count_as_far_as_the_configured_proxies(behind_one_proxy):
    seen = behind_one_proxy.test_client().get("/_probe", headers=FORWARDED).get_json()
    # One proxy: the address it appended is the client's; what came before is the
    # client's own claim, never believed.
    assert seen == {
        "remote_addr": "203.0.113.9",
        "client_ip": "203.0.113.9",
        "scheme": "https",
        "host": "engawa.example",
        "link": f"{BASE}/login",
    }


def test_a_forwarded_host_cannot_get_past_trusted_hosts(behind_one_proxy):
    client = behind_one_proxy.test_client()
    for host in ("evil.example", "evil.example:443"):
        response = client.get("/login", headers={**FORWARDED, "X-Forwarded-Host": host})
        assert response.status_code == 400, host
