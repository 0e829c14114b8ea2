"""The guarded HTTP client single sign-on fetches identity providers with."""

from __future__ import annotations

import socket

import pytest
from flask import Flask, jsonify, redirect

from identity import sso_http
from tests.conftest import LoopbackServer


@pytest.fixture(scope="module")
def server():
    app = Flask("tiny")

    @app.get("/ok")
    def ok():
        return jsonify(issuer="x")

    @app.get("/moved")
    def moved():
        return redirect("/ok", 302)

    @app.get("/huge")
    def huge():
        return "[" + "1," * (sso_http.MAX_BYTES // 2) + "1]"

    @app.get("/list")
    def listing():
        return jsonify([1, 2])

    with LoopbackServer.wsgi(app, name="tiny-idp") as running:
        yield running


def test_a_json_object_is_read(server):
    assert sso_http.get_json(server.url + "/ok", allow_private=True) == {"issuer": "x"}


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/moved", "redirects are not followed"),
        ("/huge", "answer too large"),
        ("/list", "not a JSON object"),
        ("/missing", "HTTP 404"),
    ],
)
def test_bad_answers_are_refused(server, path, reason):
    with pytest.raises(sso_http.SsoHttpError, match=reason):
        sso_http.get_json(server.url + path, allow_private=True)


def test_loopback_and_private_addresses_are_refused_unless_allowed(server):
    with pytest.raises(sso_http.SsoHttpError, match="URL not allowed"):  # http, and loopback
        sso_http.get_json(server.url + "/ok", allow_private=False)
    with pytest.raises(sso_http.SsoHttpError, match="loopback"):
        sso_http.get_json(f"https://127.0.0.1:{server.port}/ok", allow_private=False)

    def rebinding(host, port, **kw):  # a public-looking name that answers a private address
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port))]

    with pytest.raises(sso_http.SsoHttpError, match="private network"):
        sso_http.get_json("https://idp.example/x", allow_private=False, resolver=rebinding)


def test_the_connection_goes_to_the_checked_address(server):
    """The name is resolved once, by the guard; the request goes to that very address."""
    asked = []

    def resolver(host, port, **kw):
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    url = f"http://idp.test:{server.port}/ok"
    assert sso_http.get_json(url, allow_private=True, resolver=resolver) == {"issuer": "x"}
    assert asked == ["idp.test"]


@pytest.mark.parametrize(
    ("url", "allow_private", "ok"),
    [
        ("https://idp.example/tenant", False, True),
        ("http://idp.example/tenant", False, False),
        ("http://idp.example/tenant", True, True),
        ("https://user:pw@idp.example", False, False),
        ("https://idp.example/#frag", False, False),
        ("https://idp.example:99999/", False, False),
        ("https:///path", False, False),
        ("javascript:alert(1)", True, False),
        ("https://idp.example/a b", False, False),
    ],
)
def test_allowed_urls(url, allow_private, ok):
    assert sso_http.allowed_url(url, allow_private) is ok
