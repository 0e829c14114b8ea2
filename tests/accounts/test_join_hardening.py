"""Joining, hardened: links from BASE_URL only, anonymous floods answered 429, a cap on
pending domain links, the common password rule, and no link in clear in the outbox."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from accounts import join_domains as domains
from accounts import mail
from accounts.mail import OutgoingMail
from accounts.models import Invitation, Role, User
from consoles.company.member_views import (
    JOIN_ACCEPTS_PER_IP,
    JOIN_REQUESTS_PER_DOMAIN,
    JOIN_REQUESTS_PER_IP,
)
from identity import members
from tests.conftest import NOW, signed_in

BASE = "https://engawa.example"
LINK = re.compile(r"https?://[^\s/]+/join/[A-Za-z0-9_-]+")
NEW_PASSWORD = "a long new password"


@pytest.fixture
def acme(app, db, make_user, make_company):
    """Acme's admin, with acme.example approved for joining, and BASE_URL configured."""
    app.config["BASE_URL"] = BASE
    admin = make_user(Role.COMPANY_ADMIN, company=make_company(), email="boss@acme.example")
    domains.set_email_domain(admin.company_id, "acme.example", admin, NOW)
    domains.review_email_domain(
        admin.company_id, "acme.example", True, make_user(Role.PLATFORM_ADMIN), NOW
    )
    db.session.commit()
    return admin


def visitor(app, ip: str = "198.51.100.7"):
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = ip
    browser.get("/lang/en")
    return browser


def mail_count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(OutgoingMail))


def bodies(db) -> list[str]:
    return [mail.body_of(m) for m in db.session.scalars(select(OutgoingMail))]


def links(db) -> list[str]:
    """The distinct links of the outbox (a mail carries its link in Japanese and English)."""
    return sorted({link for body in bodies(db) for link in LINK.findall(body)})


# --- item 1: every e-mailed link is built from BASE_URL ---------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Forwarded-Host": "evil.example"},
        {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"},
        {"X-Forwarded-Proto": "http", "X-Forwarded-Port": "8443"},
    ],
)
def test_a_join_link_points_at_base_url_whatever_the_forwarded_headers(app, db, acme, headers):
    response = visitor(app).post("/join", data={"email": "hanako@acme.example"}, headers=headers)
    assert response.status_code == 303
    [link] = links(db)
    assert link.startswith(BASE + "/join/")
    assert "evil" not in "".join(bodies(db))


def test_a_join_request_with_a_foreign_host_never_mails_that_host(app, db, acme):
    """Refused outright where the host is not trusted (400), else mailed with BASE_URL."""
    browser = app.test_client()
    response = browser.post(
        "/join", data={"email": "hanako@acme.example"}, base_url="http://evil.example"
    )
    assert response.status_code in (303, 400)
    assert all(link.startswith(BASE + "/join/") for link in links(db))
    assert "evil.example" not in "".join(bodies(db))
    if response.status_code == 303:
        assert len(links(db)) == 1


def test_an_invitation_link_points_at_base_url(app, db, acme):
    browser = signed_in(app, acme)
    response = browser.post(
        "/company/employees/invite",
        data={"email": "new@example.com"},
        headers={"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"},
    )
    assert response.status_code == 303
    [link] = links(db)
    assert link.startswith(BASE + "/join/")
    # The page shows the join address from BASE_URL too.
    page = browser.get("/company/employees").get_data(as_text=True)
    assert f"{BASE}/join" in page


# --- item 2: anonymous floods are answered 429 -------------------------------------------------


def test_a_burst_from_one_client_is_limited_and_another_client_carries_on(app, db, acme):
    flooder = visitor(app, "203.0.113.10")
    statuses = [
        flooder.post("/join", data={"email": f"staff{i}@acme.example"}).status_code
        for i in range(30)
    ]
    allowed = JOIN_REQUESTS_PER_IP.count
    assert statuses == [303] * allowed + [429] * (30 - allowed)
    assert mail_count(db) == allowed
    # The refusal is a page of the form saying how long to wait, with Retry-After.
    refused = flooder.post("/join", data={"email": "late@acme.example"})
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 3601
    assert "Please try again in" in refused.get_data(as_text=True)
    assert 'data-testid="join-request-error"' in refused.get_data(as_text=True)
    assert mail_count(db) == allowed
    # Somebody else, from another address, is not affected.
    other = visitor(app, "203.0.113.99").post("/join", data={"email": "hanako@acme.example"})
    assert other.status_code == 303
    assert mail_count(db) == allowed + 1
    # The next hour's window lets the first client in again.
    app.config["FIXED_NOW"] = NOW + timedelta(hours=1)
    assert flooder.post("/join", data={"email": "later@acme.example"}).status_code == 303


def test_a_domain_is_limited_across_clients(app, db, acme):
    per_ip, per_domain = JOIN_REQUESTS_PER_IP.count, JOIN_REQUESTS_PER_DOMAIN.count
    statuses = []
    for n in range(per_domain // per_ip + 1):
        client = visitor(app, f"203.0.113.{n + 1}")
        statuses += [
            client.post("/join", data={"email": f"s{n}-{i}@acme.example"}).status_code
            for i in range(per_ip)
        ]
    assert statuses.count(303) == per_domain
    assert statuses[per_domain:] == [429] * per_ip
    assert mail_count(db) == per_domain
    # Another domain is counted on its own.
    fresh = visitor(app, "192.0.2.50").post("/join", data={"email": "x@other.example"})
    assert fresh.status_code == 303


def test_refused_requests_of_one_client_do_not_use_up_the_domain(app, db, acme):
    flooder = visitor(app, "203.0.113.10")
    for i in range(JOIN_REQUESTS_PER_DOMAIN.count + 5):
        flooder.post("/join", data={"email": f"f{i}@acme.example"})
    # Only the requests the client's own limit let through counted for the domain.
    other = visitor(app, "203.0.113.11").post("/join", data={"email": "real@acme.example"})
    assert other.status_code == 303


def test_the_accept_form_is_limited_per_client(app, db, acme):
    _invitation, secret = members.invite(acme.company_id, "new@example.com", acme, NOW, 14)
    db.session.commit()
    guesser = visitor(app, "203.0.113.20")
    weak = {"name": "X", "password": "1234567890", "confirm": "1234567890"}
    statuses = [guesser.post(f"/join/{secret}", data=weak).status_code for _ in range(25)]
    allowed = JOIN_ACCEPTS_PER_IP.count
    assert statuses == [400] * allowed + [429] * (25 - allowed)
    # Even a good password waits now; from another client it goes through.
    good = {"name": "X", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    refused = guesser.post(f"/join/{secret}", data=good)
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert members.invitation_for(secret, NOW) is not None
    assert visitor(app, "203.0.113.21").post(f"/join/{secret}", data=good).status_code == 303


def test_pending_domain_links_are_capped_per_company(app, db, acme, monkeypatch):
    monkeypatch.setattr(members, "MAX_PENDING_DOMAIN_INVITATIONS", 3)
    made = [members.request_domain_join(f"p{i}@acme.example", NOW, 14) for i in range(5)]
    db.session.commit()
    assert [m is not None for m in made] == [True, True, True, False, False]
    pending = select(func.count()).select_from(Invitation).where(Invitation.kind == "domain")
    assert db.session.scalar(pending) == 3
    # The public form answers exactly the same past the cap, and queues nothing.
    below = visitor(app, "198.51.100.1")
    answer = below.post("/join", data={"email": "q@acme.example"})
    assert answer.status_code == 303
    assert mail_count(db) == 0
    # Once a link is used (or expires) there is room again.
    _invitation, secret = made[0]
    members.accept(secret, "Used", NEW_PASSWORD, NOW, app.config["PASSWORD_HASH_METHOD"])
    db.session.commit()
    assert members.request_domain_join("r@acme.example", NOW, 14) is not None
    later = NOW + timedelta(days=15)
    assert members.request_domain_join("s@acme.example", later, 14) is not None


def test_racing_requests_cannot_pass_the_pending_cap_together(app, db, acme, monkeypatch):
    monkeypatch.setattr(members, "MAX_PENDING_DOMAIN_INVITATIONS", 3)
    db.session.commit()
    db.session.close()  # on SQLite an open transaction would hold the write lock
    racers = 8
    barrier = threading.Barrier(racers, timeout=20)
    outcomes: list = [None] * racers

    def run(i: int) -> None:
        with app.app_context():
            try:
                barrier.wait()
                made = members.request_domain_join(f"race{i}@acme.example", NOW, 14)
                db.session.commit()
                outcomes[i] = made is not None
            except Exception as exc:  # recorded, so the main thread sees it
                barrier.abort()
                outcomes[i] = repr(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes, key=str) == [False] * 5 + [True] * 3
    pending = select(func.count()).select_from(Invitation).where(Invitation.kind == "domain")
    assert db.session.scalar(pending) == 3


def test_a_flood_within_the_limits_never_fills_the_pending_cap():
    """Otherwise three clients could shut a company's self-joining for a link's lifetime."""
    lifetime = timedelta(days=members.DOMAIN_JOIN_LINK_DAYS).total_seconds()
    windows = lifetime / JOIN_REQUESTS_PER_DOMAIN.seconds
    assert JOIN_REQUESTS_PER_DOMAIN.count * windows < members.MAX_PENDING_DOMAIN_INVITATIONS
    assert JOIN_REQUESTS_PER_IP.count < JOIN_REQUESTS_PER_DOMAIN.count
    assert JOIN_ACCEPTS_PER_IP.seconds == 3600


def test_a_link_asked_for_on_the_public_form_lasts_a_day(app, db, acme):
    assert visitor(app).post("/join", data={"email": "kenta@acme.example"}).status_code == 303
    invitation = db.session.scalar(select(Invitation).where(Invitation.kind == "domain"))
    assert invitation.expires_at == NOW + timedelta(days=1)


# --- the password rule when joining ------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("1234567890", "one of the most commonly used"),
        ("PASSWORD123", "one of the most commonly used"),
        ("hanako.sato@acme.example", "must not contain your e-mail address"),
        ("my hanako.sato pass", "must not contain your e-mail address"),
        ("zzzzzzzzzzzz", "one character repeated"),
        ("short", "at least 10 characters"),
    ],
)
def test_the_join_page_refuses_a_weak_password_and_says_why(app, db, acme, password, reason):
    _invitation, secret = members.invite(acme.company_id, "hanako.sato@acme.example", acme, NOW, 14)
    db.session.commit()
    response = visitor(app).post(
        f"/join/{secret}", data={"name": "佐藤 花子", "password": password, "confirm": password}
    )
    assert response.status_code == 400
    assert reason in response.get_data(as_text=True)
    assert db.session.scalar(select(User).where(User.email == "hanako.sato@acme.example")) is None
    assert members.invitation_for(secret, NOW) is not None


# --- item 5: no link in clear in the outbox ------------------------------------------------------


def test_queued_links_are_stored_encrypted_and_expire_unsent(app, db, acme, make_user):
    app.config.pop("SMTP_HOST", None)
    visitor(app).post("/join", data={"email": "hanako@acme.example"})
    stored = db.session.scalars(select(OutgoingMail)).one()
    [link] = links(db)
    token = link.rsplit("/", 1)[1]
    # At rest: neither the link nor its token, nor any readable text.
    assert token not in stored.body and "/join/" not in stored.body
    assert stored.body.startswith(mail.ENCRYPTED_PREFIX)
    invitation = db.session.scalars(select(Invitation)).one()
    assert stored.expires_at == invitation.expires_at
    # The development outbox still shows the link to the developer.
    app.config["ENGAWA_ENV"] = "development"
    developer = make_user(Role.PLATFORM_ADMIN)
    page = signed_in(app, developer).get("/dev/mail").get_data(as_text=True)
    assert f'<a href="{link}">' in page and '<pre class="mail-body">' in page
    # Unsent when the link expires: the body goes, whether or not a mail server is set.
    before = invitation.expires_at - timedelta(seconds=1)
    assert "expired" not in mail.deliver_outbox(before)
    assert not mail.outbox_pending()  # no mail server: nothing to do until the link expires
    app.config["FIXED_NOW"] = invitation.expires_at
    assert mail.outbox_pending()  # the job has work: the discard
    summary = mail.deliver_outbox(invitation.expires_at)
    assert "1 expired unsent" in summary
    db.session.expire_all()
    dropped = db.session.get(OutgoingMail, stored.id)
    assert (dropped.body, dropped.discarded_at, dropped.sent_at) == (
        "",
        invitation.expires_at,
        None,
    )
    assert not mail.outbox_pending()
    page = signed_in(app, developer).get("/dev/mail").get_data(as_text=True)  # weeks later
    assert 'data-testid="discarded"' in page and "/join/" not in page


def test_an_expired_link_is_never_sent_late(app, db):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=1)  # nothing listens: tries fail
    expired = mail.queue_mail("a@example.com", "s", "https://x/join/t", NOW, expires_at=NOW)
    mail.queue_mail("b@example.com", "s", "no link", NOW)
    db.session.commit()
    summary = mail.deliver_outbox(NOW)
    # Only the mail without an expired link was tried.
    assert summary.startswith("0 sent, 1 failed") and "1 expired unsent" in summary
    db.session.expire_all()
    assert db.session.get(OutgoingMail, expired.id).attempts == 0


def test_a_body_that_no_longer_decrypts_is_discarded(app, db):
    queued = mail.queue_mail("a@example.com", "s", "https://x/join/secret-token", NOW)
    db.session.commit()
    app.config["SECRET_KEY"] = "another-secret-key-after-rotation"
    assert mail.body_of(queued) is None
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=1)
    assert "1 undecryptable" in mail.deliver_outbox(NOW)
    db.session.expire_all()
    dropped = db.session.get(OutgoingMail, queued.id)
    assert (dropped.body, dropped.discarded_at, dropped.last_error) == ("", NOW, "undecryptable")
