"""A small real OpenID Connect provider for the tests, served on 127.0.0.1.

Discovery, a JWKS, ``/authorize`` (no page: it answers at once with a code for
``provider.user``, the person the test chose) and ``/token`` (client secret, code,
redirect URI and PKCE verifier all checked; an ID token signed RS256). Knobs in
``provider.knobs`` make it misbehave: a wrong audience, a wrong issuer (in the token,
or in the discovery document), an expired token, a bad nonce, a token signed by
another key, an unverified e-mail. ``provider.user["sub"]`` is the subject the token
carries; None leaves the claim out.

    with OidcProvider(now=NOW) as provider:
        provider.register("client-1", "s3cret", redirect_uri)
        ...
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import Flask, abort, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from tests.conftest import LoopbackServer

KID = "test-key-1"


class OidcProvider:
    def __init__(self, now: datetime, *, auth_method: str = "client_secret_basic"):
        self.now = now
        self.auth_method = auth_method
        self.key = RSAKey.generate_key(2048, parameters={"kid": KID, "use": "sig"})
        # Another key published under the same kid nowhere: a token it signs must fail.
        self.other_key = RSAKey.generate_key(2048, parameters={"kid": KID, "use": "sig"})
        self.clients: dict[str, tuple[str, str]] = {}  # client_id -> (secret, redirect_uri)
        self.codes: dict[str, dict[str, Any]] = {}
        self.user: dict[str, Any] = {
            "email": "",
            "email_verified": True,
            "name": "SSO Person",
            "sub": "sub-1",
        }
        self.knobs: dict[str, Any] = {}
        self.requests: list[str] = []  # "METHOD /path" of each request seen
        self.authorize_requests: list[dict[str, str]] = []  # their query parameters
        self.token_errors: list[str] = []
        self._lock = threading.Lock()
        self.server = LoopbackServer.wsgi(self._app(), name="oidc-provider")
        self.issuer = self.server.url + "/tenant"

    def register(self, client_id: str, secret: str, redirect_uri: str) -> None:
        self.clients[client_id] = (secret, redirect_uri)

    # --- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> OidcProvider:
        self.server.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.stop()

    # --- the ID token ------------------------------------------------------------------

    def id_token(self, client_id: str, nonce: str) -> str:
        knobs = self.knobs
        issued = self.now - timedelta(hours=2) if knobs.get("expired") else self.now
        claims = {
            "iss": knobs.get("token_issuer", self.issuer),
            "sub": self.user["sub"],
            "aud": knobs.get("audience", client_id),
            "iat": int(issued.timestamp()),
            "exp": int((issued + timedelta(minutes=5)).timestamp()),
            "nonce": knobs.get("nonce", nonce),
            "email": self.user["email"],
            "email_verified": knobs.get("email_verified", self.user["email_verified"]),
            "name": self.user["name"],
        }
        if claims["sub"] is None:
            del claims["sub"]
        key = self.other_key if knobs.get("wrong_key") else self.key
        return jwt.encode({"alg": "RS256", "kid": KID}, claims, key)

    # --- the app -----------------------------------------------------------------------

    def _app(self) -> Flask:
        app = Flask("oidc-provider")

        @app.before_request
        def _seen():
            self.requests.append(f"{request.method} {request.path}")

        @app.get("/tenant/.well-known/openid-configuration")
        def discovery():
            base = self.server.url + "/tenant"
            return jsonify(
                issuer=self.knobs.get("discovery_issuer", self.issuer),
                authorization_endpoint=base + "/authorize",
                token_endpoint=base + "/token",
                jwks_uri=base + "/jwks",
                response_types_supported=["code"],
                subject_types_supported=["public"],
                id_token_signing_alg_values_supported=["RS256"],
                token_endpoint_auth_methods_supported=[self.auth_method],
                code_challenge_methods_supported=["S256"],
            )

        @app.get("/tenant/jwks")
        def jwks():
            return jsonify(KeySet([self.key]).as_dict(private=False))

        @app.get("/tenant/authorize")
        def authorize():
            args = request.args
            self.authorize_requests.append(args.to_dict())
            client = self.clients.get(args.get("client_id", ""))
            if client is None or args.get("redirect_uri") != client[1]:
                abort(400)
            if args.get("response_type") != "code" or args.get("code_challenge_method") != "S256":
                abort(400)
            if "openid" not in args.get("scope", "").split():
                abort(400)
            code = secrets.token_urlsafe(16)
            with self._lock:
                self.codes[code] = {
                    "client_id": args["client_id"],
                    "redirect_uri": args["redirect_uri"],
                    "challenge": args.get("code_challenge", ""),
                    "nonce": args.get("nonce", ""),
                    "login_hint": args.get("login_hint"),
                }
            query = {"code": code, "state": args.get("state", "")}
            return redirect(args["redirect_uri"] + "?" + urlencode(query), 302)

        @app.post("/tenant/token")
        def token():
            client_id, secret = self._client_credentials()
            client = self.clients.get(client_id or "")
            if client is None or not secrets.compare_digest(client[0], secret or ""):
                return self._token_error("invalid_client", 401)
            form = request.form
            with self._lock:
                grant = self.codes.pop(form.get("code", ""), None)  # single use
            if grant is None or grant["client_id"] != client_id:
                return self._token_error("invalid_grant")
            if form.get("grant_type") != "authorization_code":
                return self._token_error("unsupported_grant_type")
            if form.get("redirect_uri") != grant["redirect_uri"]:
                return self._token_error("invalid_grant")
            verifier = form.get("code_verifier", "")
            digest = hashlib.sha256(verifier.encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if not verifier or challenge != grant["challenge"]:
                return self._token_error("invalid_grant")
            return jsonify(
                access_token=secrets.token_urlsafe(16),
                token_type="Bearer",
                expires_in=300,
                id_token=self.id_token(client_id, grant["nonce"]),
            )

        return app

    def _client_credentials(self) -> tuple[str | None, str | None]:
        if self.auth_method == "client_secret_basic":
            auth = request.authorization
            if auth is None or auth.type != "basic":
                return None, None
            return auth.username, auth.password
        return request.form.get("client_id"), request.form.get("client_secret")

    def _token_error(self, error: str, status: int = 400):
        self.token_errors.append(error)
        return jsonify(error=error), status
