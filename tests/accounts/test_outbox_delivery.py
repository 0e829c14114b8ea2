"""The outbox delivered as production needs it, against a real SMTP server (aiosmtpd on
127.0.0.1): text, HTML and a calendar in one message; STARTTLS and a login; retries
that wait longer each time and give up after five attempts (shown on /admin/jobs); and
each message sent once, whatever runs at the same time or dies half-way."""

from __future__ import annotations

import logging
import os
import smtplib
import subprocess
import sys
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from accounts import mail, mail_failures
from accounts.mail import OutgoingMail, deliver_outbox, queue_mail
from accounts.models import Role
from tests.conftest import NOW, database_url, signed_in
from tests.smtp import MailCatcher, body_text, free_port, self_signed_certificate

PROJECT = Path(__file__).resolve().parents[2]
ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Engawa//JA\r\nMETHOD:PUBLISH\r\n"
    "BEGIN:VEVENT\r\nUID:booking-1@engawa.example\r\nDTSTART;VALUE=DATE:20261210\r\n"
    "DTEND;VALUE=DATE:20261212\r\nSUMMARY:軽井沢の保養所\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)
# After failures 1..4 (5 min, 25 min, 1 h 30, 4 h): the instants of attempts 2..5.
ATTEMPT_TIMES = [
    NOW,
    NOW + timedelta(minutes=5),
    NOW + timedelta(minutes=30),
    NOW + timedelta(hours=2),
    NOW + timedelta(hours=6),
]


@pytest.fixture
def inbox(app):
    """A plain SMTP server the app sends to (tests.smtp's ``smtp_inbox``, kept here)."""
    with MailCatcher() as catcher:
        app.config.update(SMTP_HOST=catcher.host, SMTP_PORT=catcher.port)
        yield catcher


def text_of(message) -> str:
    return body_text(message).replace("\r\n", "\n")


def stored(db, mail_id: int) -> OutgoingMail:
    db.session.expire_all()
    return db.session.get(OutgoingMail, mail_id)


def app_log(caplog) -> str:
    """What the app logged (the test server's own log, "mail.log", is left out: it
    quotes the SMTP conversation, as a mail server's log does)."""
    return "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail."))


def queue_many(db, n: int, prefix: str = "Mail") -> list[int]:
    ids = [
        queue_mail(f"person{i}@example.com", f"{prefix} {i:03d}", f"body {i}", NOW).id
        for i in range(n)
    ]
    db.session.commit()
    return ids


def subjects(catcher: MailCatcher) -> Counter:
    return Counter(message["Subject"] for _rcpts, message in catcher.messages)


# --- the message ----------------------------------------------------------------------------


def test_text_html_and_a_calendar_arrive_as_one_multipart_message(app, db, inbox):
    queued = queue_mail(
        "hanako@example.com",
        "ご予約を承りました / Your stay is booked",
        "ご予約ありがとうございます。\nhttps://engawa.example/bookings/1\n",
        NOW,
        kind="booking_confirmed",
        html='<p>ご予約ありがとうございます。<a href="https://engawa.example/bookings/1">予約</a></p>',
        attachment=("stay.ics", "text/calendar", ICS),
    )
    db.session.commit()
    assert deliver_outbox(NOW) == "1 sent, 0 failed"

    [message] = inbox.to("hanako@example.com")
    assert message.get_content_type() == "multipart/mixed"
    assert message["From"] == "Engawa <no-reply@engawa.example>"
    assert message["Subject"] == "ご予約を承りました / Your stay is booked"
    assert message["Message-ID"].endswith("@engawa.example>")
    assert message["Auto-Submitted"] == "auto-generated"
    assert text_of(message) == "ご予約ありがとうございます。\nhttps://engawa.example/bookings/1\n"
    html = message.get_body(preferencelist=("html",))
    assert '<a href="https://engawa.example/bookings/1">予約</a>' in html.get_content()
    [calendar] = list(message.iter_attachments())
    assert calendar.get_content_type() == "text/calendar"
    assert calendar.get_param("method") == "PUBLISH"
    assert calendar.get_filename() == "stay.ics"
    assert "SUMMARY:軽井沢の保養所" in calendar.get_content()
    # Once sent, nothing it carried is kept (the HTML and the calendar hold links too).
    sent = stored(db, queued.id)
    assert (sent.body, sent.html_body, sent.attachment_body) == ("", "", "")
    assert sent.claim_token is None and sent.claimed_until is None
    assert mail.html_of(sent) == "" and mail.attachment_of(sent) == (
        "stay.ics",
        "text/calendar",
        "",
    )


def test_a_plain_mail_stays_a_single_text_part(app, db, inbox):
    queue_mail("a@example.com", "s", "just text", NOW)
    db.session.commit()
    deliver_outbox(NOW)
    [message] = inbox.to("a@example.com")
    assert (
        message.get_content_type() == "text/plain"
        and message.get_content().replace("\r\n", "\n") == "just text\n"
    )


def test_a_subject_that_would_inject_headers_is_sent_on_one_line(app, db, inbox):
    # queue_mail makes the subject one line: the would-be header is words of it.
    queue_mail("a@example.com", "Hello\r\nBcc: victim@example.org", "b", NOW)
    db.session.commit()
    assert deliver_outbox(NOW) == "1 sent, 0 failed"
    assert [rcpts for rcpts, _m in inbox.messages] == [["a@example.com"]]
    [message] = inbox.to("a@example.com")
    assert str(message["Subject"]) == "Hello Bcc: victim@example.org" and message["Bcc"] is None


def test_an_address_that_would_inject_headers_is_not_sent_and_the_rest_go_on(app, db, inbox):
    bad = queue_mail("a@example.com\r\nBcc: victim@example.org", "Hello", "b", NOW)
    queue_mail("b@example.com", "fine", "b", NOW)
    db.session.commit()
    assert deliver_outbox(NOW) == "1 sent, 1 failed"
    assert [rcpts for rcpts, _m in inbox.messages] == [["b@example.com"]]
    assert (stored(db, bad.id).attempts, stored(db, bad.id).last_error) == (1, "ValueError")


def test_the_same_mail_keeps_its_message_id_from_one_attempt_to_the_next(app, db, inbox):
    """A mail sent twice (a crash between sending and recording it) is one message to the
    receiving system; two mails never share an id."""
    first = queue_mail("a@example.com", "one", "b", NOW)
    queue_mail("a@example.com", "two", "b", NOW)
    db.session.commit()
    deliver_outbox(NOW)
    again = stored(db, first.id)
    again.sent_at, again.body = None, mail._seal("b")  # as if its result had been lost
    db.session.commit()
    deliver_outbox(NOW)
    ids = [m["Message-ID"] for m in inbox.to("a@example.com")]
    assert len(ids) == 3 and ids[0] == ids[2] != ids[1]


# --- STARTTLS and a login -------------------------------------------------------------------


@pytest.fixture
def relay(app, tmp_path):
    """A server that requires STARTTLS, then a login, as a real relay does; the app is
    configured for it, trusting its certificate as a CA."""
    cert, key = self_signed_certificate(tmp_path / "tls")
    with MailCatcher(tls=(cert, key), login=("engawa", "right password")) as catcher:
        app.config.update(
            SMTP_HOST=catcher.host,
            SMTP_PORT=catcher.port,
            SMTP_STARTTLS=True,
            SMTP_USER="engawa",
            SMTP_PASSWORD="right password",
            SMTP_CA_FILE=str(cert),
        )
        yield catcher


def test_mail_goes_through_starttls_and_a_login(app, db, relay):
    queue_mail("hanako@example.com", "s", "body", NOW)
    db.session.commit()
    assert deliver_outbox(NOW) == "1 sent, 0 failed"
    assert relay.logins == ["engawa"]
    assert [text_of(m) for m in relay.to("hanako@example.com")] == ["body\n"]


def test_a_wrong_password_is_a_failed_attempt_that_logs_nothing_personal(app, db, relay, caplog):
    app.config["SMTP_PASSWORD"] = "wrong-password-42"
    queued = queue_mail("hanako@example.com", "Secret subject", "secret body text", NOW)
    db.session.commit()
    with caplog.at_level(logging.DEBUG):
        assert deliver_outbox(NOW) == "0 sent, 1 failed"
    kept = stored(db, queued.id)
    assert (kept.attempts, kept.last_error) == (1, "SMTPAuthenticationError 535")
    assert kept.next_attempt_at == NOW + timedelta(minutes=5)
    assert mail.body_of(kept) == "secret body text"  # kept for the next attempt
    # Refused (smtplib tries each mechanism the relay offers: PLAIN, then LOGIN).
    assert relay.failed_logins >= 1 and relay.logins == [] and relay.messages == []
    logged = app_log(caplog)
    assert "not sent: SMTPAuthenticationError 535" in logged
    for personal in ("hanako", "wrong-password-42", "right password", "engawa", "Secret", "secret"):
        assert personal not in logged


def test_the_relay_certificate_is_checked(app, db, relay):
    app.config["SMTP_CA_FILE"] = ""  # the system's CAs do not know this certificate
    queued = queue_mail("hanako@example.com", "s", "b", NOW)
    db.session.commit()
    assert deliver_outbox(NOW) == "0 sent, 1 failed"
    assert stored(db, queued.id).last_error == "SSLCertVerificationError"
    assert relay.logins == [] and relay.messages == []


def test_without_starttls_the_password_is_never_offered(app, db, relay):
    """The relay offers no login before STARTTLS; smtplib then sends no password."""
    app.config["SMTP_STARTTLS"] = False
    queued = queue_mail("hanako@example.com", "s", "b", NOW)
    db.session.commit()
    assert deliver_outbox(NOW) == "0 sent, 1 failed"
    assert stored(db, queued.id).last_error == "SMTPNotSupportedError"
    assert relay.logins == [] and relay.failed_logins == 0


# --- retries --------------------------------------------------------------------------------


def test_a_refused_mail_waits_for_its_next_attempt_then_goes_once(app, db, inbox):
    inbox.refuse("451 4.3.0 Try again later")
    queued = queue_mail("hanako@example.com", "Retry me", "b", NOW)
    db.session.commit()
    assert deliver_outbox(NOW) == "0 sent, 1 failed"
    kept = stored(db, queued.id)
    assert (kept.attempts, kept.last_error) == (1, "SMTPDataError 451")
    assert kept.next_attempt_at == NOW + timedelta(minutes=5) and kept.failed_at is None
    # Not tried again before then, even though the server is back.
    inbox.recover()
    app.config["FIXED_NOW"] = NOW + timedelta(minutes=4, seconds=59)
    assert not mail.outbox_pending()
    assert deliver_outbox(NOW + timedelta(minutes=4, seconds=59)) == "nothing to send"
    assert inbox.messages == [] and inbox.handler.refused == 1
    app.config["FIXED_NOW"] = NOW + timedelta(minutes=5)
    assert mail.outbox_pending()
    assert deliver_outbox(NOW + timedelta(minutes=5)) == "1 sent, 0 failed"
    assert deliver_outbox(NOW + timedelta(hours=1)) == "nothing to send"
    assert subjects(inbox) == {"Retry me": 1}
    sent = stored(db, queued.id)
    assert (sent.sent_at, sent.attempts, sent.next_attempt_at) == (
        NOW + timedelta(minutes=5),
        1,
        None,
    )


def test_after_five_failures_over_six_hours_the_mail_is_given_up_and_shown_to_the_team(
    app, db, inbox, make_user
):
    inbox.refuse("451 4.3.0 Try again later")
    queued = queue_mail("taro.yamada@example.com", "s", "https://x/join/secret", NOW, kind="invite")
    db.session.commit()
    for attempt, at in enumerate(ATTEMPT_TIMES, start=1):
        # Just before its time nothing is tried; at its time, one more failure.
        if attempt > 1:
            assert deliver_outbox(at - timedelta(seconds=1)) == "nothing to send"
        result = deliver_outbox(at)
        assert result.startswith("0 sent, 1 failed")
        kept = stored(db, queued.id)
        assert kept.attempts == attempt
        if attempt < mail.MAX_ATTEMPTS:
            assert kept.failed_at is None and kept.next_attempt_at == ATTEMPT_TIMES[attempt]
    assert result == "0 sent, 1 failed; 1 given up after 5 attempts"
    given_up = stored(db, queued.id)
    assert given_up.failed_at == NOW + timedelta(hours=6) and given_up.next_attempt_at is None
    assert given_up.body == "" and given_up.claim_token is None  # its link is not kept
    # Never tried again, even with the server back.
    inbox.recover()
    app.config["FIXED_NOW"] = NOW + timedelta(days=2)
    assert not mail.outbox_pending()
    assert deliver_outbox(NOW + timedelta(days=2)) == "nothing to send"
    assert inbox.messages == [] and inbox.handler.refused == 5

    # /admin/jobs lists it for the Engawa team: masked, with its attempts and error.
    page = signed_in(app, make_user(Role.PLATFORM_ADMIN)).get("/admin/jobs")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    section = text[text.index('data-testid="failed-mail"') :]
    assert f'data-mail-id="{queued.id}"' in section
    assert "t***@example.com" in section and "taro.yamada" not in text
    assert "SMTPDataError 451" in section and ">invite<" in section
    assert '<td class="num">5</td>' in section
    for role in (Role.EMPLOYEE, Role.COMPANY_ADMIN, Role.OPERATOR):
        assert signed_in(app, make_user(role)).get("/admin/jobs").status_code == 403


def test_admin_jobs_says_when_no_mail_has_failed(app, db, make_user):
    page = signed_in(app, make_user(Role.PLATFORM_ADMIN)).get("/admin/jobs")
    assert 'data-testid="no-failed-mail"' in page.get_data(as_text=True)


def test_one_refused_recipient_is_an_attempt_and_the_batch_goes_on(app, db, inbox, caplog):
    inbox.refuse(recipients={"bounce@example.com"})
    first = queue_mail("ok1@example.com", "first", "b", NOW)
    bad = queue_mail("bounce@example.com", "bounced", "secret body text", NOW)
    last = queue_mail("ok2@example.com", "last", "b", NOW)
    db.session.commit()
    with caplog.at_level(logging.DEBUG):
        assert deliver_outbox(NOW) == "2 sent, 1 failed"
    assert subjects(inbox) == {"first": 1, "last": 1}
    assert stored(db, first.id).sent_at == NOW and stored(db, last.id).sent_at == NOW
    refused = stored(db, bad.id)
    assert (refused.attempts, refused.last_error) == (1, "SMTPRecipientsRefused")
    assert "bounce" not in app_log(caplog) and "secret body" not in app_log(caplog)


def test_a_closed_port_fails_the_whole_batch_once(app, db):
    with MailCatcher() as gone:
        port = gone.port
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port)
    ids = queue_many(db, 3)
    assert deliver_outbox(NOW) == "0 sent, 3 failed"
    assert {(stored(db, i).attempts, stored(db, i).last_error) for i in ids} == {
        (1, "ConnectionRefusedError")
    }


# --- at most once -----------------------------------------------------------------------------


class Interrupted(KeyboardInterrupt):
    """The scheduler process stopped (Ctrl-C, a deploy) in the middle of a batch."""


def test_a_run_killed_mid_batch_leaves_the_rest_claimed_for_a_later_run(
    app, db, inbox, monkeypatch
):
    ids = queue_many(db, 6)
    real_send = smtplib.SMTP.send_message
    calls = []

    def dies_at_the_third(self, message, *args, **kwargs):
        calls.append(message["Subject"])
        if len(calls) == 3:
            raise Interrupted
        return real_send(self, message, *args, **kwargs)

    monkeypatch.setattr(smtplib.SMTP, "send_message", dies_at_the_third)
    with pytest.raises(Interrupted):
        deliver_outbox(NOW)
    monkeypatch.undo()
    assert subjects(inbox) == {"Mail 000": 1, "Mail 001": 1}
    rows = [stored(db, i) for i in ids]
    assert [r.sent_at for r in rows[:2]] == [NOW, NOW]
    assert all(
        r.sent_at is None and r.claimed_until == NOW + timedelta(minutes=10) for r in rows[2:]
    )
    assert len({r.claim_token for r in rows[2:]}) == 1 and rows[2].claim_token
    # Nobody touches them while the claim lasts (the killed run might still be sending).
    app.config["FIXED_NOW"] = NOW + timedelta(minutes=9)
    assert not mail.outbox_pending()
    assert deliver_outbox(NOW + timedelta(minutes=9)) == "nothing to send"
    # Then a later run sends the rest, and none of the first two again.
    assert deliver_outbox(NOW + timedelta(minutes=10)) == "4 sent, 0 failed"
    assert subjects(inbox) == {f"Mail {i:03d}": 1 for i in range(6)}
    assert all(stored(db, i).claim_token is None for i in ids)


def test_a_claimed_mail_whose_link_expires_is_left_to_its_run(app, db, inbox):
    queued = queue_mail(
        "a@example.com", "s", "https://x/join/t", NOW, expires_at=NOW + timedelta(minutes=1)
    )
    db.session.commit()
    queued = stored(db, queued.id)
    queued.claim_token, queued.claimed_until = "another-run", NOW + timedelta(minutes=10)
    db.session.commit()
    assert mail.discard_expired(NOW + timedelta(minutes=2)) == 0
    assert mail.discard_expired(NOW + timedelta(minutes=10)) == 1


def test_a_run_that_takes_too_long_lets_go_of_what_it_has_not_sent(app, db, inbox, monkeypatch):
    """A run stops well inside its claim, so it never sends what another run may have
    taken after the claim passed; the next run sends the rest."""
    queue_many(db, 3)
    monkeypatch.setattr(mail, "SEND_WINDOW_SECONDS", -1)  # already past it
    assert deliver_outbox(NOW) == "0 sent, 0 failed; 3 left for the next run"
    assert db.session.scalar(select(func.count()).where(OutgoingMail.claim_token.is_not(None))) == 0
    monkeypatch.undo()
    assert deliver_outbox(NOW) == "3 sent, 0 failed"
    assert sum(subjects(inbox).values()) == 3


def test_one_run_sends_batch_after_batch_until_nothing_is_due(app, db, inbox, monkeypatch):
    """A surge leaves in one run (the job runs every minute), not a batch a minute."""
    monkeypatch.setattr(mail, "BATCH_SIZE", 7)
    queue_many(db, 30)

    assert deliver_outbox(NOW) == "30 sent, 0 failed"

    assert subjects(inbox) == {f"Mail {i:03d}": 1 for i in range(30)}
    assert deliver_outbox(NOW) == "nothing to send"


def test_a_run_stops_claiming_batches_when_the_server_is_unreachable(app, db, monkeypatch):
    monkeypatch.setattr(mail, "BATCH_SIZE", 7)
    ids = queue_many(db, 30)
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=free_port())  # nothing listens

    assert deliver_outbox(NOW).startswith("0 sent, 7 failed")

    tried = [stored(db, i).attempts for i in ids]
    assert tried == [1] * 7 + [0] * 23


def test_runs_in_several_threads_send_each_mail_once(app, db, inbox, monkeypatch):
    monkeypatch.setattr(mail, "BATCH_SIZE", 7)
    queue_many(db, 60)
    db.session.close()  # on SQLite an open transaction would hold the write lock
    racers = 4
    barrier = threading.Barrier(racers, timeout=20)
    results: list = [None] * racers

    def drain(i: int) -> None:
        try:
            with app.app_context():
                barrier.wait()
                runs = []
                while (result := deliver_outbox(NOW)) != "nothing to send":
                    runs.append(result)
                results[i] = runs
        except Exception as exc:
            barrier.abort()
            results[i] = repr(exc)

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(t.is_alive() for t in threads)
    assert all(isinstance(r, list) for r in results), results
    assert subjects(inbox) == {f"Mail {i:03d}": 1 for i in range(60)}
    assert sum(int(run.split()[0]) for runs in results for run in runs) == 60
    assert db.session.scalar(select(func.count()).where(OutgoingMail.sent_at.is_(None))) == 0


def test_two_scheduler_processes_draining_one_outbox_send_each_mail_once(
    app, db, backend, tmp_path, inbox
):
    """Two real processes, as two `flask scheduler run` would be, on one database."""
    total = 200
    queue_many(db, total)
    db.session.close()
    url = database_url(backend, tmp_path)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    workers = [
        subprocess.Popen(  # noqa: S603  (our own interpreter and module)
            [sys.executable, "-m", "tests.accounts.outbox_worker", url, str(inbox.port), "10"],
            cwd=PROJECT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for worker in workers:
            assert worker.stdout.readline().strip() == "ready", worker.stderr.read()
        for worker in workers:  # both start draining together
            worker.stdin.write("go\n")
            worker.stdin.flush()
        outputs = [worker.communicate(timeout=180) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
    for worker, (out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
        assert out.rstrip().endswith("done"), out
    runs = [line for out, _err in outputs for line in out.splitlines() if "sent" in line]
    assert sum(int(run.split()[0]) for run in runs) == total
    received = subjects(inbox)
    assert received == {f"Mail {i:03d}": 1 for i in range(total)}
    message_ids = Counter(m["Message-ID"] for _r, m in inbox.messages)
    assert len(message_ids) == total and set(message_ids.values()) == {1}
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).where(OutgoingMail.sent_at.is_(None))) == 0


# --- without a mail server: the development mailbox reads the outbox ---------------------------


def test_without_smtp_host_the_job_has_nothing_to_do_and_the_mail_stays_readable(
    app, db, make_user
):
    app.config["SMTP_HOST"] = ""
    hanako = make_user(Role.EMPLOYEE, email="hanako@example.com")
    for_her = queue_mail(
        "hanako@example.com",
        "Booked",
        "text",
        NOW,
        user_id=hanako.id,
        html="<p>html</p>",
        attachment=("stay.ics", "text/calendar", ICS),
    )
    queue_mail("Hanako@Example.com", "Confirm your address", "link", NOW)
    someone_else = queue_mail("taro@example.com", "Not hers", "x", NOW)
    db.session.commit()
    assert not mail.outbox_pending()
    assert deliver_outbox(NOW).startswith("SMTP_HOST is not set: 3 message(s) left")
    kept = stored(db, for_her.id)
    assert mail.body_of(kept) == "text" and mail.html_of(kept) == "<p>html</p>"
    assert mail.attachment_of(kept) == ("stay.ics", "text/calendar", ICS)
    plain = stored(db, someone_else.id)
    assert mail.html_of(plain) is None and mail.attachment_of(plain) is None
    # An expired link still gives the job work: its discard.
    queue_mail("a@example.com", "s", "https://x/join/t", NOW, expires_at=NOW)
    db.session.commit()
    assert mail.outbox_pending()
    assert "1 expired unsent" in deliver_outbox(NOW)
    assert not mail.outbox_pending()


def test_a_key_change_makes_html_and_attachments_unreadable_too(app, db):
    queued = queue_mail(
        "a@example.com", "s", "b", NOW, html="<p>h</p>", attachment=("a.ics", "text/calendar", ICS)
    )
    db.session.commit()
    app.config["SECRET_KEY"] = "another-secret-key-after-rotation"
    kept = stored(db, queued.id)
    assert mail.html_of(kept) is None and mail.attachment_of(kept) is None


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("taro@example.com", "t***@example.com"),
        ("t@example.com", "t***@example.com"),
        ("first.last+tag@sub.example.co.jp", "f***@sub.example.co.jp"),
        ("no-at-sign", "***"),
        ("@example.com", "***"),
    ],
)
def test_addresses_are_masked_for_pages(address, masked):
    assert mail_failures.masked_address(address) == masked
