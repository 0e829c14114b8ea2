"""The development mailbox: without a mail server, each person reads the mail queued
for them (the Engawa team reads all); a mail's HTML part never runs in Engawa's pages."""

from __future__ import annotations

import pytest

from accounts.mail import queue_mail
from accounts.models import Role
from tests.conftest import NOW, signed_in

HTML = '<p>Hello <b id="mail-marker">there</b></p><script>alert(1)</script>'
ICS = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"


@pytest.fixture
def people(make_user):
    employee = make_user(Role.EMPLOYEE, locale="en", email="hanako@acme.example")
    other = make_user(Role.EMPLOYEE, locale="en", email="taro@acme.example")
    admin = make_user(Role.PLATFORM_ADMIN, locale="en")
    return employee, other, admin


@pytest.fixture
def mails(db, people):
    employee, other, _admin = people
    own = queue_mail(
        employee.email,
        "Booking 7 confirmed",
        "Your stay is booked.\nhttps://engawa.example/stays/7\n",
        NOW,
        user_id=employee.id,
        kind="booking_confirmed",
        html=HTML,
        attachment=("stay-7.ics", "text/calendar", ICS),
    )
    # Queued before the account existed: found by its address (any case).
    by_address = queue_mail("Hanako@Acme.example", "Confirm your address", "Open the link", NOW)
    foreign = queue_mail(other.email, "Booking 8 confirmed", "Taro's stay", NOW, user_id=other.id)
    db.session.commit()
    return own, by_address, foreign


def test_each_person_reads_their_own_mail(app, db, people, mails):
    employee, _other, _admin = people
    own, by_address, foreign = mails
    page = signed_in(app, employee).get("/dev/mail")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'data-mail-id="{own.id}"' in html and f'data-mail-id="{by_address.id}"' in html
    assert f'data-mail-id="{foreign.id}"' not in html and "Taro" not in html
    assert html.index(f'data-mail-id="{by_address.id}"') < html.index(f'data-mail-id="{own.id}"')
    assert '<a href="https://engawa.example/stays/7">' in html  # links can be opened


def test_the_engawa_team_reads_all_mail(app, db, people, mails):
    _employee, _other, admin = people
    html = signed_in(app, admin).get("/dev/mail").get_data(as_text=True)
    assert all(f'data-mail-id="{m.id}"' in html for m in mails)


def test_a_mail_shows_its_text_its_html_in_a_sandbox_and_its_attachment(app, db, people, mails):
    employee, _other, _admin = people
    own = mails[0]
    browser = signed_in(app, employee)
    page = browser.get(f"/dev/mail/{own.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Booking 7 confirmed" in html and "hanako@acme.example" in html
    assert "Your stay is booked." in html
    # The HTML part is never put into the page itself: a sandboxed frame loads it.
    assert "mail-marker" not in html and "alert(1)" not in html
    frame = f'src="/dev/mail/{own.id}/html" sandbox="allow-popups allow-popups-to-escape-sandbox"'
    assert frame in html
    part = browser.get(f"/dev/mail/{own.id}/html")
    assert part.status_code == 200 and part.mimetype == "text/html"
    assert 'id="mail-marker"' in part.get_data(as_text=True)
    policy = part.headers["Content-Security-Policy"]
    assert policy.startswith("sandbox ") and "script-src" not in policy
    assert "default-src 'none'" in policy and "frame-ancestors 'self'" in policy
    assert part.headers["X-Frame-Options"] == "SAMEORIGIN"
    # The attachment downloads under its own name.
    assert f'href="/dev/mail/{own.id}/attachment/stay-7.ics"' in html
    download = browser.get(f"/dev/mail/{own.id}/attachment/stay-7.ics")
    assert download.status_code == 200 and download.mimetype == "text/calendar"
    assert download.headers["Content-Disposition"] == 'attachment; filename="stay-7.ics"'
    assert download.get_data(as_text=True) == ICS
    assert browser.get(f"/dev/mail/{own.id}/attachment/other.ics").status_code == 404


def test_a_plain_mail_has_no_html_part_nor_attachment(app, db, people, mails):
    employee, _other, _admin = people
    plain = mails[1]
    browser = signed_in(app, employee)
    html = browser.get(f"/dev/mail/{plain.id}").get_data(as_text=True)
    assert "Open the link" in html and "<iframe" not in html
    assert browser.get(f"/dev/mail/{plain.id}/html").status_code == 404
    assert browser.get(f"/dev/mail/{plain.id}/attachment/x.ics").status_code == 404


def test_someone_elses_mail_answers_404(app, db, people, mails):
    employee, _other, admin = people
    foreign = mails[2]
    browser = signed_in(app, employee)
    for path in ("", "/html", "/attachment/stay-7.ics"):
        assert browser.get(f"/dev/mail/{foreign.id}{path}").status_code == 404
    assert browser.get("/dev/mail/999999").status_code == 404
    assert signed_in(app, admin).get(f"/dev/mail/{foreign.id}").status_code == 200


def test_signed_out_people_are_sent_to_sign_in(app, db, mails):
    for path in ("/dev/mail", f"/dev/mail/{mails[0].id}"):
        answer = app.test_client().get(path)
        assert answer.status_code == 302 and "/login" in answer.location


@pytest.mark.parametrize(
    "settings",
    [{"SMTP_HOST": "smtp.example.com"}, {"DEV_MAILBOX": False}, {"ENGAWA_ENV": "production"}],
)
def test_no_mailbox_with_a_mail_server_or_when_switched_off(app, db, people, mails, settings):
    employee, _other, admin = people
    own = mails[0]
    browser = signed_in(app, employee)
    assert 'data-testid="dev-mailbox-link"' in browser.get("/account").get_data(as_text=True)
    app.config.update(settings)
    for path in ("/dev/mail", f"/dev/mail/{own.id}", f"/dev/mail/{own.id}/html"):
        assert browser.get(path).status_code == 404
        assert app.test_client().get(path).status_code == 404  # signed out: 404 too
    assert signed_in(app, admin).get("/dev/mail").status_code == 404
    assert 'data-testid="dev-mailbox-link"' not in browser.get("/account").get_data(as_text=True)


def test_an_empty_mailbox_says_so(app, db, people):
    employee, _other, _admin = people
    html = signed_in(app, employee).get("/dev/mail").get_data(as_text=True)
    assert 'data-testid="no-mail"' in html
