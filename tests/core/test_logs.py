"""Logs: one JSON line per request and per job run, the request id on every line of a
request, no personal data or secret in any line; and error reports to Sentry scrubbed."""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import re
import socket
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app import create_app
from calendars import export as calendar_export
from calendars.jobs import sync_calendars
from calendars.models import CalendarFeed
from core import logs, sentry
from core.config import PROJECT_ROOT
from core.scheduler import run_recorded
from tests.conftest import NOW, LoopbackServer, app_config, days, post_sign_in

GIVEN_ID = "lb-7f3a9c0e-0001"


def closed_port() -> int:
    """A port of 127.0.0.1 nobody listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    werkzeug = logging.getLogger("werkzeug").level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)
    logging.getLogger("werkzeug").setLevel(werkzeug)


class Captured:
    """What ``core.logs``' own handler wrote (``configure`` with a stream)."""

    def __init__(self, log_format: str) -> None:
        self.stream = io.StringIO()
        logs.configure(log_format, "INFO", stream=self.stream)

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def records(self) -> list[dict]:
        return [json.loads(line) for line in self.text.splitlines()]

    def requests(self) -> list[dict]:
        return [r for r in self.records() if r["logger"] == "engawa.request"]


@pytest.fixture
def json_log(restore_logging):
    return Captured("json")


@pytest.fixture
def text_log(restore_logging):
    return Captured("text")


# --- The request line -----------------------------------------------------------------


def test_each_request_logs_one_json_line_with_the_proxys_request_id(app, client, json_log):
    response = client.get("/login", headers={"X-Request-ID": GIVEN_ID})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == GIVEN_ID
    (line,) = json_log.requests()
    assert line["request_id"] == GIVEN_ID
    assert {k: line[k] for k in ("method", "endpoint", "route", "status", "user_id")} == {
        "method": "GET",
        "endpoint": "accounts.login",
        "route": "/login",
        "status": 200,
        "user_id": None,
    }
    assert isinstance(line["duration_ms"], int | float) and line["duration_ms"] >= 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])
    assert line["level"] == "INFO"
    assert line["message"].startswith("GET /login 200 ")


@pytest.mark.parametrize(
    "given",
    [None, "", "short", "has space-12345", "x" * 129, "<script>alert(1)</script>", "ä" * 10],
)
def test_without_a_sane_request_id_one_is_made(app, client, json_log, given):
    headers = {} if given is None else {"X-Request-ID": given}
    response = client.get("/login", headers=headers)
    made = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert json_log.requests()[0]["request_id"] == made


def test_each_request_gets_its_own_id(app, client, json_log):
    ids = {client.get("/login").headers["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3


def test_every_line_logged_during_a_request_carries_its_id(app, json_log):
    @app.get("/_test/logs")
    def logging_view():
        logging.getLogger("tests.view").warning("inside the view")
        return "ok"

    logging.getLogger("tests.outside").warning("before any request")
    app.test_client().get("/_test/logs", headers={"X-Request-ID": GIVEN_ID})
    by_logger = {r["logger"]: r for r in json_log.records()}
    assert by_logger["tests.view"]["request_id"] == GIVEN_ID
    assert by_logger["engawa.request"]["request_id"] == GIVEN_ID
    assert by_logger["tests.outside"]["request_id"] is None


def test_an_unexpected_errors_line_carries_the_request_id(app, json_log):
    @app.get("/_test/boom")
    def boom():
        raise RuntimeError("the database went away")

    response = app.test_client().get("/_test/boom", headers={"X-Request-ID": GIVEN_ID})
    assert response.status_code == 500
    assert response.headers["X-Request-ID"] == GIVEN_ID
    error = next(r for r in json_log.records() if r["logger"] == "core.errors")
    assert error["request_id"] == GIVEN_ID and error["level"] == "ERROR"
    assert "RuntimeError" in error["exc_info"]
    assert json_log.requests()[0]["status"] == 500


def test_a_refused_host_is_logged_with_its_id(app, client, json_log):
    response = client.get("/login", headers={"Host": "evil.example", "X-Request-ID": GIVEN_ID})
    assert response.status_code == 400
    assert response.headers["X-Request-ID"] == GIVEN_ID
    (line,) = json_log.requests()
    assert line["status"] == 400 and line["request_id"] == GIVEN_ID


def test_probes_answered_200_are_not_logged_at_info(app, client, json_log):
    for probe in ("/healthz", "/metrics"):
        assert client.get(probe).status_code == 200
    assert json_log.requests() == []
    assert client.get("/readyz").status_code == 503  # never migrated: worth a line
    assert [line["endpoint"] for line in json_log.requests()] == ["health.readyz"]
    logs.configure("json", "DEBUG", stream=json_log.stream)
    client.get("/healthz")
    assert json_log.requests()[-1]["endpoint"] == "health.healthz"


def test_the_text_format_is_one_readable_line(app, client, text_log):
    client.get("/login", headers={"X-Request-ID": GIVEN_ID})
    (line,) = [row for row in text_log.text.splitlines() if "engawa.request" in row]
    assert re.search(rf"INFO engawa\.request \[{GIVEN_ID}\] GET /login 200 [\d.]+ ms$", line)


def test_in_json_werkzeugs_own_request_lines_are_off(restore_logging):
    logs.configure("json", "INFO", stream=io.StringIO())
    assert not logging.getLogger("werkzeug").isEnabledFor(logging.INFO)
    assert logging.getLogger("werkzeug").isEnabledFor(logging.WARNING)


def test_outside_tests_the_factory_configures_the_logs(tmp_path, restore_logging):
    config = app_config(f"sqlite:///{tmp_path / 'x.db'}", TESTING=False, LOG_FORMAT="json")
    create_app(config)
    ours = [h for h in logging.getLogger().handlers if getattr(h, "engawa", False)]
    assert len(ours) == 1 and isinstance(ours[0].formatter, logs.JsonLines)
    create_app({**config, "LOG_FORMAT": "text"})  # again: replaced, never doubled
    ours = [h for h in logging.getLogger().handlers if getattr(h, "engawa", False)]
    assert len(ours) == 1 and isinstance(ours[0].formatter, logs.TextLines)


# --- Job runs ---------------------------------------------------------------------------


def test_a_job_run_logs_one_line_with_its_fields(app, db, json_log):
    run_recorded("log_test_job", lambda now: "all done", NOW, fire_time=NOW)

    def failing(now):
        raise ValueError("secret detail for hanako@acme.example")

    run_recorded("log_test_failing", failing, NOW, fire_time=NOW)
    lines = {r["job"]: r for r in json_log.records() if r.get("job")}
    ok, failed = lines["log_test_job"], lines["log_test_failing"]
    assert ok["outcome"] == "ok" and ok["level"] == "INFO"
    assert ok["fire_time"] == NOW.isoformat()
    assert isinstance(ok["duration_ms"], int) and ok["duration_ms"] >= 0
    assert failed["outcome"] == "failed" and failed["level"] == "ERROR"
    assert "hanako" not in json_log.text  # the error class only


# --- No personal data, no secrets ------------------------------------------------------

EMAIL = "hanako.yamada@acme.example"
NAME = "山田 花子"
FEED_SECRET = "s3cretFeedToken0123456789"


def test_a_signed_in_session_leaves_no_address_name_or_token_in_the_logs(
    app, db, client, json_log, make_employee, make_unit, monkeypatch
):
    employee = make_employee(email=EMAIL, name=NAME)
    unit = make_unit()
    export_path = calendar_export.export_for_unit(unit, NOW).path
    export_token = export_path.removeprefix("/calendars/").removesuffix(".ics")
    feed_url = f"http://127.0.0.1:{closed_port()}/ical/{FEED_SECRET}.ics?s={FEED_SECRET}"
    db.session.add(CalendarFeed(unit_id=unit.id, label="Airbnb", url=feed_url))
    db.session.commit()
    app.config.update(CALENDAR_ALLOW_PRIVATE_HOSTS=True, CALENDAR_FETCH_TIMEOUT=1)

    assert post_sign_in(client, EMAIL).status_code == 302
    stay = {
        "unit_id": unit.id,
        "check_in": days(20).isoformat(),
        "check_out": days(22).isoformat(),
        "guests": 1,
    }
    quote = client.get("/book", query_string={**stay, "note": EMAIL})
    key = re.search(r'name="request_key" type="hidden" value="([^"]+)"', quote.text).group(1)
    booked = client.post("/book", data={**stay, "request_key": key})
    assert booked.status_code == 303
    assert client.get(booked.headers["Location"]).status_code == 200
    assert client.get(export_path).status_code == 200
    assert client.get(f"/calendars/{FEED_SECRET}.ics").status_code == 404
    assert client.get("/no-such-page", query_string={"email": EMAIL}).status_code == 404
    logging.getLogger("tests.careless").warning("mail to %s failed (%s)", EMAIL, feed_url)
    sync_calendars(NOW)  # the feed's fetch fails: its line must not name the URL

    output = json_log.text
    for secret in (EMAIL, "hanako", NAME, export_token, FEED_SECRET, key):
        assert secret not in output, secret
    lines = json_log.requests()
    assert len(lines) >= 6
    signed_in = [line for line in lines if line["route"] in ("/book", "/stays/<int:booking_id>")]
    assert signed_in and {line["user_id"] for line in signed_in} == {employee.id}
    assert any(line["route"] == "/calendars/<token>.ics" for line in lines)
    assert "[email]" in output  # the careless line above, redacted by the handler


def test_redact_takes_out_addresses_url_paths_and_export_tokens():
    assert logs.redact(f"to {EMAIL}.") == "to [email]."
    assert (
        logs.redact(f"fetch https://www.airbnb.com/calendar/ical/1.ics?s={FEED_SECRET} failed")
        == "fetch https://www.airbnb.com/[redacted] failed"
    )
    assert logs.redact("GET /calendars/abcDEF123_-x.ics") == "GET /calendars/[token].ics"
    assert logs.redact("GET /calendars/<token>.ics 200") == "GET /calendars/<token>.ics 200"
    assert logs.redact("BASE_URL is https://engawa.example") == "BASE_URL is https://engawa.example"
    assert logs.redact("unit 12 synced: 3 changed") == "unit 12 synced: 3 changed"


# --- Sentry -------------------------------------------------------------------------------


def sentry_event() -> dict:
    """An event as sentry_sdk's Flask integration builds it, full of what must not leave."""
    return {
        "message": f"sync failed for {EMAIL}",
        "logentry": {"message": "mail to %s failed", "params": [EMAIL]},
        "request": {
            "url": f"https://engawa.example/password/reset/{FEED_SECRET}",
            "method": "GET",
            "query_string": f"email={EMAIL}",
            "cookies": {"session": "cookie-secret"},
            "data": {"password": "hunter2", "email": EMAIL},
            "headers": {
                "Authorization": "Bearer api-secret",
                "Cookie": "session=cookie-secret",
                "User-Agent": "Mozilla/5.0",
                "X-Forwarded-For": "203.0.113.9",
            },
            "env": {"REMOTE_ADDR": "203.0.113.9"},
        },
        "user": {"id": 42, "email": EMAIL, "username": NAME, "ip_address": "203.0.113.9"},
        "extra": {
            "feed": f"https://www.airbnb.com/calendar/ical/1.ics?s={FEED_SECRET}",
            "sys.argv": ["flask", "orgs", "create-company", "--admin-name", NAME],
        },
        "exception": {
            "values": [{"type": "RuntimeError", "value": f"{EMAIL} at /calendars/tok123.ics"}]
        },
        "breadcrumbs": {
            "values": [{"category": "httplib", "data": {"url": f"https://x.test/{FEED_SECRET}"}}]
        },
    }


def test_scrub_takes_out_personal_data_and_secrets():
    scrubbed = sentry.scrub(sentry_event(), {})
    request = scrubbed["request"]
    assert set(request) == {"url", "method", "headers"}
    assert request["headers"] == {"User-Agent": "Mozilla/5.0"}
    assert request["url"] == "https://engawa.example/password/reset/[token]"
    assert scrubbed["user"] == {"id": 42}
    flat = json.dumps(scrubbed, ensure_ascii=False)
    for secret in (EMAIL, NAME, FEED_SECRET, "cookie-secret", "api-secret", "hunter2", "203.0"):
        assert secret not in flat, secret
    assert scrubbed["exception"]["values"][0]["value"] == "[email] at /calendars/[token].ics"
    assert scrubbed["message"] == "sync failed for [email]"


def test_scrub_leaves_an_event_without_request_or_user_alone():
    event = {"message": "job calendar_sync failed (TimeoutError)", "level": "error"}
    assert sentry.scrub(dict(event), None) == event


def test_request_url_hides_token_like_segments_and_the_query():
    assert sentry.request_url("https://e.example/stays/12?x=1") == "https://e.example/stays/12"
    assert (
        sentry.request_url("https://e.example/calendars/abcdEFGH1234ijkl.ics")
        == "https://e.example/calendars/[token]"
    )


SENTRY_SCRIPT = """
import sys
import sentry_sdk
from app import create_app
from tests.conftest import app_config

app = create_app(app_config(sys.argv[1], SENTRY_DSN=sys.argv[2]))

@app.get("/_test/boom")
def boom():
    raise RuntimeError("sync failed for %s at https://www.airbnb.com/ical/1.ics?s=%s"
                       % (sys.argv[3], sys.argv[4]))

response = app.test_client().get(
    "/_test/boom",
    query_string={"email": sys.argv[3]},
    headers={
        "Authorization": "Bearer api-secret-xyz",
        "Cookie": "session=cookie-secret-xyz",
        "X-Request-ID": "req-sentry-0001",
    },
)
print(response.status_code)
sentry_sdk.flush(timeout=10)
"""


class _SentryIntake(BaseHTTPRequestHandler):
    received: list[bytes]

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.server.received.append(body)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def _intake(address):
    server = ThreadingHTTPServer(address, _SentryIntake)
    server.received = []  # type: ignore[attr-defined]
    return server


def test_a_real_error_report_reaches_the_dsn_scrubbed(tmp_path):
    with LoopbackServer(_intake, name="sentry-intake") as intake:
        dsn = f"http://public@127.0.0.1:{intake.port}/1"
        result = subprocess.run(  # noqa: S603  (our own interpreter and script)
            [
                sys.executable,
                "-c",
                SENTRY_SCRIPT,
                f"sqlite:///{tmp_path / 'x.db'}",
                dsn,
                EMAIL,
                FEED_SECRET,
            ],
            cwd=PROJECT_ROOT,
            env={**os.environ, "SENTRY_DSN": ""},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        received = list(intake.server.received)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "500"
    items = [json.loads(line) for body in received for line in body.decode().splitlines()]
    events = [item for item in items if "exception" in item]
    assert events, items
    event = events[0]
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    assert "[email]" in event["exception"]["values"][-1]["value"]
    assert event["tags"]["request_id"] == "req-sentry-0001"
    everything = b"\n".join(received).decode()
    for secret in (EMAIL, FEED_SECRET, "api-secret-xyz", "cookie-secret-xyz"):
        assert secret not in everything, secret
    request = event.get("request", {})
    assert not {"cookies", "query_string", "data", "env"} & set(request)
