"""The webhook pages of the company and operator consoles: adding an endpoint (the URL
checked against our own network at entry, the secret shown once), its delivery log,
the test event, off and on, deleting, the audit entries, and the walls between
organisations and consoles."""

from __future__ import annotations

import html
import ipaddress
import logging
import re
import socket
from datetime import timedelta

import pytest
from sqlalchemy import select

from accounts.audit import AuditEntry
from accounts.models import Role
from notifications import webhook_endpoints as endpoints
from notifications import webhooks
from notifications.catalog import COMPANY_WEBHOOK_TYPES
from notifications.models import WebhookDelivery, WebhookEndpoint
from notifications.webhook_endpoints import Owner
from tests.conftest import NOW, PASSWORD, post_sign_in, signed_in
from tests.notifications.webhook_receiver import start_receiver, verify

PUBLIC_IP = "93.184.215.14"  # never connected: only returned by the fake resolver
SECRET_SHOWN = re.compile(r'data-testid="new-endpoint-secret"[^>]*>(whsec_[A-Za-z0-9_-]+)<')


@pytest.fixture
def dns(monkeypatch):
    """Stand in for DNS: ``dns[name] = [addresses]``; other names do not exist."""
    table: dict[str, list[str]] = {}
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if host not in table:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
            return [
                (
                    socket.AF_INET6 if ":" in ip else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (ip, port, 0, 0) if ":" in ip else (ip, port),
                )
                for ip in table[host]
            ]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


@pytest.fixture
def receiver(app):
    app.config["WEBHOOK_ALLOW_PRIVATE_HOSTS"] = True
    server = start_receiver()
    yield server
    server.server.stop()


CONSOLES = {
    "company": (Role.COMPANY_ADMIN, "/company/webhooks", ["invoice.issued", "booking.created"]),
    "operator": (Role.OPERATOR, "/operator/webhooks", ["calendar.conflict", "booking.created"]),
}


@pytest.fixture(params=sorted(CONSOLES))
def console(request, app, make_user):
    """A signed-in person of each console: (browser, user, base path, types it may choose)."""
    role, base, types = CONSOLES[request.param]
    user = make_user(role)
    return signed_in(app, user), user, base, types


def owner_of(user) -> Owner:
    if user.role == Role.COMPANY_ADMIN:
        return Owner(company_id=user.company_id)
    return Owner(operator_id=user.operator_id)


def endpoints_in(db) -> list[WebhookEndpoint]:
    db.session.expire_all()
    return list(db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def audit(db, action: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_an_endpoint_is_added_and_its_secret_shown_once_and_it_signs(
    app, db, console, receiver, caplog
):
    caplog.set_level(logging.DEBUG)
    browser, user, base, types = console
    assert 'data-testid="no-endpoints"' in browser.get(base).get_data(as_text=True)
    assert browser.get(base + "/new").status_code == 200

    response = browser.post(
        base + "/new",
        data={"url": receiver.url(), "description": "基幹システム", "event_types": types[:1]},
    )

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    secret = SECRET_SHOWN.search(page).group(1)
    assert len(secret) > 40
    (endpoint,) = endpoints_in(db)
    assert endpoint.url == receiver.url() and endpoint.event_types == types[0]
    assert (endpoint.company_id, endpoint.operator_id) == (
        (user.company_id, None) if user.role == Role.COMPANY_ADMIN else (None, user.operator_id)
    )
    assert secret not in endpoint.secret and endpoints.open_secret(endpoint.secret) == secret
    # Never again: not on the list, the endpoint's page or its log.
    for path in (base, f"{base}/{endpoint.id}"):
        assert secret not in browser.get(path).get_data(as_text=True)
    detail = browser.get(f"{base}/{endpoint.id}").get_data(as_text=True)
    assert 'data-testid="secret-note"' in detail

    # The test button queues an event the job sends, signed with the secret shown.
    response = browser.post(f"{base}/{endpoint.id}/test")
    assert response.status_code == 303
    assert "flash-success" in browser.get(response.location).get_data(as_text=True)
    webhooks.deliver_webhooks(NOW)
    (request,) = receiver.received
    verify(secret, request.headers["Engawa-Signature"], request.body)
    assert request.json["type"] == "webhook.test"
    (delivery,) = db.session.scalars(select(WebhookDelivery)).all()
    assert delivery.event_id is None and delivery.status == "delivered"
    log = browser.get(f"{base}/{endpoint.id}").get_data(as_text=True)
    assert 'data-status="delivered"' in log and delivery.public_id in log
    assert secret not in log

    (entry,) = audit(db, "webhook.create")
    assert (entry.actor_id, entry.object_id) == (user.id, endpoint.id)
    assert entry.after_values["url"] == receiver.url("/…")
    assert entry.after_values["event_types"] == types[:1]
    assert secret not in (entry.after or "") and secret not in caplog.text


def test_the_url_path_and_query_are_not_audited(db, console, receiver):
    browser, user, base, types = console
    url = receiver.url("/hook?token=receivers-own")
    assert browser.post(base + "/new", data={"url": url, "event_types": types}).status_code == 200
    (entry,) = audit(db, "webhook.create")
    assert entry.after_values["url"] == receiver.url("/…")


@pytest.mark.parametrize(
    "url, words",
    [
        ("http://127.0.0.1/hook", "must start with https://"),
        ("http://hooks.example.test/hook", "must start with https://"),
        ("https://127.0.0.1/hook", "private, local or reserved"),
        ("https://10.0.0.1/hook", "private, local or reserved"),
        ("https://169.254.169.254/latest/meta-data", "private, local or reserved"),
        ("https://[::1]/hook", "private, local or reserved"),
        ("https://2130706433/hook", "private, local or reserved"),  # 127.0.0.1 as a number
        ("https://internal.example.test/hook", "private, local or reserved"),
        ("https://mixed.example.test/hook", "private, local or reserved"),
        ("https://nowhere.example.test/hook", "could not be resolved"),
        ("https://user:pw@hooks.example.test/hook", "user name or password"),
        ("https://hooks.example.test/hook#part", "fragment"),
        ("https://hooks.example.test/" + "x" * 2000, "too long"),
        ("ftp://hooks.example.test/hook", "must start with https://"),
        ("not a url", "not a valid URL"),
        ("https://exa mple.test/hook", "not a valid URL"),
        ("https://hooks.example.test:0/hook", "not a valid URL"),
        ("", "Enter the endpoint"),
    ],
)
def test_urls_into_our_own_network_are_refused_at_entry(app, db, dns, make_user, url, words):
    app.config["WEBHOOK_ALLOW_PRIVATE_HOSTS"] = False
    dns["hooks.example.test"] = [PUBLIC_IP]
    dns["internal.example.test"] = ["10.1.2.3"]
    dns["mixed.example.test"] = [PUBLIC_IP, "fd00::1"]
    browser = signed_in(app, make_user(Role.COMPANY_ADMIN))
    browser.get("/lang/en")

    response = browser.post(
        "/company/webhooks/new", data={"url": url, "event_types": ["invoice.issued"]}
    )

    assert response.status_code == 422
    page = html.unescape(response.get_data(as_text=True))
    assert words in page and 'aria-invalid="true"' in page
    assert endpoints_in(db) == [] and audit(db, "webhook.create") == []


def test_the_operator_console_refuses_the_same_urls_and_accepts_public_ones(app, db, dns, console):
    app.config["WEBHOOK_ALLOW_PRIVATE_HOSTS"] = False
    dns["hooks.example.test"] = [PUBLIC_IP]
    dns["internal.example.test"] = ["192.168.1.20"]
    browser, _user, base, types = console
    for refused in ("https://internal.example.test/x", "https://169.254.169.254/", "http://x.test"):
        response = browser.post(base + "/new", data={"url": refused, "event_types": types})
        assert response.status_code == 422
    assert endpoints_in(db) == []
    url = "https://hooks.example.test/engawa"
    assert browser.post(base + "/new", data={"url": url, "event_types": types}).status_code == 200
    assert [e.url for e in endpoints_in(db)] == [url]


def test_event_types_must_be_chosen_among_the_organisation_s(app, db, console, receiver):
    browser, user, base, _types = console
    foreign = "calendar.conflict" if user.role == Role.COMPANY_ADMIN else "invoice.issued"
    for chosen in ([], [foreign], ["booking.created", "no.such"]):
        response = browser.post(base + "/new", data={"url": receiver.url(), "event_types": chosen})
        assert response.status_code == 422
    assert endpoints_in(db) == []


def test_off_on_and_delete_are_confirmed_and_audited(db, console, receiver):
    browser, user, base, types = console
    endpoint, _secret = endpoints.create_endpoint(
        owner_of(user), user, receiver.url(), "", types, NOW, allow_private=True
    )
    endpoints.send_test(endpoint, NOW)
    db.session.commit()
    endpoint_id = endpoint.id
    path = f"{base}/{endpoint_id}"

    response = browser.post(path + "/disable")
    assert response.status_code == 303 and response.location.endswith(path)
    page = browser.get(path).get_data(as_text=True)
    assert "flash-success" in page and 'data-testid="enable"' in page
    assert not endpoints_in(db)[0].active
    assert webhooks.deliver_webhooks(NOW) == "" and receiver.received == []  # nothing sent
    assert browser.post(path + "/test").status_code == 303  # refused while off
    assert len(db.session.scalars(select(WebhookDelivery)).all()) == 1

    assert browser.post(path + "/enable").status_code == 303
    assert endpoints_in(db)[0].active
    webhooks.deliver_webhooks(NOW)
    assert len(receiver.received) == 1  # the delivery queued before went out

    confirm = browser.get(path + "/delete")
    assert confirm.status_code == 200 and 'data-testid="confirm-delete"' in confirm.get_data(
        as_text=True
    )
    assert endpoints_in(db) != []  # asking is not deleting
    response = browser.post(path + "/delete")
    assert response.status_code == 303 and response.location.endswith(base)
    assert "flash-success" in browser.get(base).get_data(as_text=True)
    assert endpoints_in(db) == [] and db.session.scalars(select(WebhookDelivery)).all() == []
    assert browser.get(path).status_code == 404

    for action in ("webhook.disable", "webhook.enable", "webhook.delete"):
        (entry,) = audit(db, action)
        assert (entry.actor_id, entry.object_id) == (user.id, endpoint_id)
        assert (entry.company_id, entry.operator_id) == (user.company_id, user.operator_id)
    assert audit(db, "webhook.disable")[0].after_values == {"active": False}


def test_the_delivery_log_is_newest_first_paged_and_shows_failures(db, console, receiver):
    browser, user, base, types = console
    endpoint, _secret = endpoints.create_endpoint(
        owner_of(user), user, receiver.url(), "", types, NOW, allow_private=True
    )
    for n in range(30):
        db.session.add(
            WebhookDelivery(
                endpoint_id=endpoint.id,
                public_id=f"evt_test_{n:03d}",
                event_type="webhook.test",
                body="{}",
                created_at=NOW - timedelta(minutes=30 - n),
                status="failed" if n == 29 else "delivered",
                attempts=7 if n == 29 else 1,
                last_status=503 if n == 29 else 200,
                last_error="http_status" if n == 29 else None,
            )
        )
    db.session.commit()
    browser.get("/lang/en")

    first = browser.get(f"{base}/{endpoint.id}").get_data(as_text=True)
    second = browser.get(f"{base}/{endpoint.id}?page=2").get_data(as_text=True)

    shown = re.findall(r"evt_test_(\d{3})", first)
    assert shown == [f"{n:03d}" for n in range(29, 4, -1)]
    assert re.findall(r"evt_test_(\d{3})", second) == ["004", "003", "002", "001", "000"]
    newest = first[first.index('data-status="failed"') :]
    assert "Given up" in newest and "HTTP 503" in newest
    assert 'data-testid="pager"' in first
    assert browser.get(f"{base}/{endpoint.id}?page=x").status_code == 200


def test_another_organisation_s_endpoint_answers_404_on_every_route(
    db, console, make_user, receiver
):
    browser, user, base, types = console
    other = make_user(user.role)
    foreign, _secret = endpoints.create_endpoint(
        owner_of(other), other, receiver.url(), "", types, NOW, allow_private=True
    )
    db.session.commit()
    path = f"{base}/{foreign.id}"

    for method, suffix in (
        ("get", ""),
        ("get", "/delete"),
        ("post", "/delete"),
        ("post", "/test"),
        ("post", "/disable"),
        ("post", "/enable"),
    ):
        assert getattr(browser, method)(path + suffix).status_code == 404, (method, suffix)
    assert browser.get(f"{base}/99999").status_code == 404
    assert browser.get(f"{base}/{2**40}").status_code == 404
    assert receiver.url() not in browser.get(base).get_data(as_text=True)
    (kept,) = endpoints_in(db)
    assert kept.active and db.session.scalars(select(WebhookDelivery)).all() == []


def test_each_console_s_pages_are_for_its_own_people(app, db, make_user, client):
    company_admin = make_user(Role.COMPANY_ADMIN)
    operator = make_user(Role.OPERATOR)
    employee = make_user(Role.EMPLOYEE)
    for user, refused in (
        (company_admin, "/operator/webhooks"),
        (operator, "/company/webhooks"),
        (employee, "/company/webhooks"),
        (employee, "/operator/webhooks"),
    ):
        browser = signed_in(app, user)
        assert browser.get(refused).status_code == 403
        assert browser.get(refused + "/new").status_code == 403
        assert browser.post(refused + "/new", data={"url": "https://x.example"}).status_code == 403
    for path in ("/company/webhooks", "/operator/webhooks"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.location
    assert endpoints_in(db) == []


def test_the_forms_and_buttons_require_csrf(app, db, make_user, receiver):
    app.config["WTF_CSRF_ENABLED"] = True
    admin = make_user(Role.COMPANY_ADMIN)
    endpoint, _secret = endpoints.create_endpoint(
        owner_of(admin), admin, receiver.url(), "", ["invoice.issued"], NOW, allow_private=True
    )
    db.session.commit()
    browser = app.test_client()
    login_page = browser.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page).group(1)
    assert (
        post_sign_in(browser, admin.email, PASSWORD, data={"csrf_token": csrf}).status_code == 302
    )
    data = {"url": receiver.url(), "event_types": ["invoice.issued"]}

    assert browser.post("/company/webhooks/new", data=data).status_code == 400
    for suffix in ("/test", "/disable", "/delete"):
        assert browser.post(f"/company/webhooks/{endpoint.id}{suffix}").status_code == 400
    (kept,) = endpoints_in(db)
    assert kept.active and db.session.scalars(select(WebhookDelivery)).all() == []

    page = browser.get("/company/webhooks/new").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = browser.post("/company/webhooks/new", data={**data, "csrf_token": token})
    assert response.status_code == 200 and SECRET_SHOWN.search(response.get_data(as_text=True))


def test_the_consoles_link_to_their_webhooks(app, make_user):
    for role, home, link in (
        (Role.COMPANY_ADMIN, "/company/audit", 'href="/company/webhooks"'),
        (Role.OPERATOR, "/operator/audit", 'href="/operator/webhooks"'),
    ):
        browser = signed_in(app, make_user(role))
        assert link in browser.get(home).get_data(as_text=True)
        page = browser.get(home.rsplit("/", 1)[0] + "/webhooks").get_data(as_text=True)
        assert link + ' aria-current="page"' in page


def test_a_bad_url_and_no_event_type_are_both_named_at_once(app, db, make_user):
    browser = signed_in(app, make_user(Role.COMPANY_ADMIN))
    browser.get("/lang/en")
    response = browser.post("/company/webhooks/new", data={"url": "ftp://hooks.example.test/"})
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert "must start with https://" in page and "Choose at least one event type." in page
    # the URL field and each checkbox the company may choose
    assert page.count('aria-invalid="true"') == 1 + len(COMPANY_WEBHOOK_TYPES)
    assert endpoints_in(db) == []
