"""Headers every answer carries: a content policy that allows no inline code, HSTS where
cookies are HTTPS-only, and no caching of anything a view did not mark cacheable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from calendars import export as calendar_export
from tests.conftest import NOW, signed_in

PROJECT = Path(__file__).resolve().parents[2]
CSP = (
    "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'; object-src 'none'"
)
HSTS = "max-age=31536000; includeSubDomains"


def test_every_page_carries_the_content_policy(app, client, make_employee):
    for response in (
        client.get("/login"),
        client.get("/no-such-page"),
        client.get("/static/css/app.css"),
        signed_in(app, make_employee()).get("/"),
    ):
        assert response.headers["Content-Security-Policy"] == CSP
        assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
        assert response.headers["X-Frame-Options"] == "DENY"
        response.close()


def test_with_stripe_the_checkout_and_portal_hosts_may_receive_the_redirected_forms(app, client):
    # A form posted to Engawa is answered with a redirect to Checkout or the billing
    # portal: form-action governs that redirect too.
    app.config["BILLING_BACKEND"] = "stripe"
    policy = client.get("/login").headers["Content-Security-Policy"]
    assert "form-action 'self' https://checkout.stripe.com https://billing.stripe.com;" in policy


def test_hsts_goes_with_https_only_cookies(app, client):
    assert "Strict-Transport-Security" not in client.get("/login").headers
    app.config["SESSION_COOKIE_SECURE"] = True
    assert client.get("/login").headers["Strict-Transport-Security"] == HSTS


def test_pages_are_never_stored(app, client, make_employee):
    """Every dynamic answer is personal or carries a CSRF token: no-store, signed in or not."""
    employee = signed_in(app, make_employee())
    for response in (
        client.get("/login"),
        client.get("/join"),
        client.get("/stays"),  # a redirect to sign in
        client.get("/no-such-page"),
        employee.get("/"),
        employee.get("/stays"),
        employee.get("/account"),
        employee.get("/api/v1/bookings"),
    ):
        assert response.headers["Cache-Control"] == "no-store", response.request.path


def test_static_files_keep_their_validators(client):
    with client.get("/static/js/app.js") as first:
        assert first.status_code == 200
        assert first.headers["Cache-Control"] == "no-cache"
        etag = first.headers["ETag"]
    with client.get("/static/js/app.js", headers={"If-None-Match": etag}) as again:
        assert again.status_code == 304


def test_calendar_feeds_keep_their_caching_and_304s(db, client, make_unit):
    path = calendar_export.export_for_unit(make_unit(), NOW).path
    db.session.commit()
    first = client.get(path)
    assert first.status_code == 200
    assert first.headers["Cache-Control"] == "private, no-cache"
    again = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.headers["Cache-Control"] == "private, no-cache"


# --- nothing inline for the policy to block ------------------------------------------------

# What a content policy without 'unsafe-inline' blocks. In Python only markup counts
# (an ``onsen=`` keyword or a docstring about ``javascript:`` links is no handler).
MARKUP = [
    (re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.IGNORECASE), "inline script"),
    (re.compile(r"<style[\s>]", re.IGNORECASE), "style element"),
    (re.compile(r"""\sstyle\s*=\s*\\?["'{]""", re.IGNORECASE), "style attribute"),
]
TEMPLATE_ONLY = [
    (re.compile(r"""\son[a-z]+\s*=\s*["'{]""", re.IGNORECASE), "event handler attribute"),
    (re.compile(r"""=\s*["']\s*javascript:""", re.IGNORECASE), "javascript: URL"),
]
# Mail is not a page: mail readers ignore style sheets, so templates/mail/ styles inline;
# it is never served under the site's policy (the development mailbox frames it with
# a sandbox policy of its own). No script or handler is allowed there either.
MAIL_TEMPLATES = sorted(PROJECT.glob("templates/mail/**/*.html"))
SOURCES = sorted(
    [path for path in PROJECT.glob("templates/**/*.html") if path not in MAIL_TEMPLATES]
    + [
        path
        for path in PROJECT.glob("*/**/*.py")
        if path.relative_to(PROJECT).parts[0]
        not in {".venv", "tests", "benchmarks", "migrations", "instance", "node_modules"}
    ]
)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PROJECT)))
def test_no_markup_needs_inline_code_or_styles(path):
    """The policy refuses inline scripts, handlers and style attributes: none are written,
    in templates or in HTML/SVG that Python draws."""
    text = path.read_text(encoding="utf-8")
    checks = MARKUP + (TEMPLATE_ONLY if path.suffix == ".html" else [])
    found = [f"{what}: {m.group(0)!r}" for pattern, what in checks for m in pattern.finditer(text)]
    assert not found, found


@pytest.mark.parametrize("path", MAIL_TEMPLATES, ids=lambda p: str(p.relative_to(PROJECT)))
def test_mail_has_no_scripts_or_handlers(path):
    text = path.read_text(encoding="utf-8")
    checks = [MARKUP[0], *TEMPLATE_ONLY]
    found = [f"{what}: {m.group(0)!r}" for pattern, what in checks for m in pattern.finditer(text)]
    assert not found, found
