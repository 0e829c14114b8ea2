"""The OpenID Connect round trip with a company's identity provider (Authlib).

Authorization code flow with PKCE (S256), ``state`` and ``nonce``:

1. ``begin``: read the provider's discovery document (``/.well-known/openid-configuration``,
   whose ``issuer`` must equal the configured one exactly) and build the authorization
   URL. The caller keeps ``state``, ``nonce`` and the PKCE ``code_verifier`` (the
   browser's session) and sends the browser to the URL.
2. ``finish``: exchange the code for tokens at the token endpoint, authenticating
   with the client secret (``client_secret_basic``, or ``client_secret_post`` when that
   is all the provider offers), then validate the ID token: its signature against the
   provider's keys (JWKS; RS/PS/ES algorithms only, never ``none`` or HS), ``iss``,
   ``aud`` = our client id (``azp`` too when present), ``exp``/``iat`` with a small
   leeway, and ``nonce``. The subject (``sub``: the provider's own, stable id of the
   person, which ``identity.sso`` binds the account to) must be a non-empty string of
   at most 255 printable characters; the e-mail must be present and ``email_verified``
   true.

Discovery documents and key sets are cached for a few minutes per issuer; a token
signed with a key id the cache does not know fetches the key set once again (key
rotation). Every request goes through ``identity.sso_http`` (no private addresses
unless allowed, no redirects, short timeouts, size-limited answers). Failures raise
``SsoError`` with a message for people; the log gets the reason's kind, never a token,
secret, code or address.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from authlib.integrations.base_client import OAuthError
from authlib.oidc.core import CodeIDToken
from flask_babel import lazy_gettext as _l
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from accounts.models import CompanySso
from identity import sso_http
from identity.sso import Identity, SsoError, client_secret_of

log = logging.getLogger(__name__)

CACHE_SECONDS = 300
LEEWAY_SECONDS = 60
SCOPE = "openid email profile"
# Asymmetric signatures only: "none" and the HMAC family (keyed by the client secret)
# are never accepted.
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")
MAX_HINT_LENGTH = 254
MAX_SUBJECT_LENGTH = 255  # OpenID Connect Core 2: sub is at most 255 ASCII characters

_cache: dict[tuple[str, str, bool], tuple[float, dict[str, Any]]] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class Started:
    """Where to send the browser, and what its session keeps for the way back."""

    url: str
    state: str
    nonce: str
    code_verifier: str


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _cached(kind: str, url: str, allow_private: bool, *, refresh: bool = False) -> dict:
    key = (kind, url, allow_private)
    with _cache_lock:
        hit = _cache.get(key)
    if hit and not refresh and hit[0] > time.monotonic():
        return hit[1]
    data = sso_http.get_json(url, allow_private=allow_private)
    with _cache_lock:
        _cache[key] = (time.monotonic() + CACHE_SECONDS, data)
    return data


def _failed(reason: str) -> SsoError:
    log.warning("single sign-on failed: %s", reason)
    return SsoError(
        _l(
            "Single sign-on did not work: your company's identity provider could not be"
            " reached or its answer could not be verified. Please try again, or ask your"
            " company admin."
        ),
        "provider",
    )


def _usable(sso: CompanySso | None) -> CompanySso:
    if sso is None or not sso.enabled or not sso.company.active:
        raise SsoError(_l("Single sign-on is not available for your company."), "not_available")
    return sso


def _metadata(issuer: str, allow_private: bool) -> dict[str, Any]:
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        data = _cached("discovery", url, allow_private)
    except sso_http.SsoHttpError as exc:
        raise _failed(f"discovery: {exc.reason}") from None
    if data.get("issuer") != issuer:
        raise _failed("discovery: issuer does not match")
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        value = data.get(name)
        if not isinstance(value, str) or not sso_http.allowed_url(value, allow_private):
            raise _failed(f"discovery: {name} missing or not allowed")
    return data


def _auth_method(metadata: dict[str, Any]) -> str:
    offered = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    if "client_secret_basic" in offered or "client_secret_post" not in offered:
        return "client_secret_basic"
    return "client_secret_post"


def begin(
    sso: CompanySso | None, redirect_uri: str, login_hint: str, *, allow_private: bool
) -> Started:
    """The authorization URL for ``sso``'s provider, with fresh state, nonce and verifier."""
    sso = _usable(sso)
    metadata = _metadata(sso.issuer, allow_private)
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)  # 86 characters (RFC 7636: 43 to 128)
    extra = {"nonce": nonce}
    hint = login_hint.strip()
    if hint and len(hint) <= MAX_HINT_LENGTH and hint.isprintable():
        extra["login_hint"] = hint
    with sso_http.oauth_session(
        allow_private=allow_private,
        client_id=sso.client_id,
        redirect_uri=redirect_uri,
        scope=SCOPE,
        code_challenge_method="S256",
    ) as client:
        url, _state = client.create_authorization_url(
            metadata["authorization_endpoint"], state=state, code_verifier=verifier, **extra
        )
    return Started(url=url, state=state, nonce=nonce, code_verifier=verifier)


def finish(
    sso: CompanySso | None,
    *,
    code: str,
    redirect_uri: str,
    nonce: str,
    code_verifier: str,
    now: datetime,
    allow_private: bool,
) -> Identity:
    """Exchange ``code`` and return who the valid ID token names (raises ``SsoError``)."""
    sso = _usable(sso)
    if not code or len(code) > 2048 or not code.isprintable():
        raise _failed("callback: no usable code")
    metadata = _metadata(sso.issuer, allow_private)
    token = _exchange(sso, metadata, code, redirect_uri, code_verifier, allow_private)
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise _failed("token: no id_token")
    claims = _verified_claims(sso, metadata, id_token, token, nonce, now, allow_private)
    subject = claims.get("sub")
    if (
        not isinstance(subject, str)
        or not subject
        or len(subject) > MAX_SUBJECT_LENGTH
        or not subject.isprintable()
    ):
        raise _failed("id_token: no usable sub claim")
    email, verified = claims.get("email"), claims.get("email_verified")
    if not isinstance(email, str) or not email:
        raise _failed("id_token: no email claim")
    if verified is not True and verified != "true":  # a few providers send a string
        raise SsoError(
            _l(
                "Your identity provider has not verified your e-mail address. Please ask"
                " your company admin."
            ),
            "email_unverified",
        )
    name = claims.get("name")
    if not isinstance(name, str):
        parts = [claims.get("given_name"), claims.get("family_name")]
        name = " ".join(p for p in parts if isinstance(p, str))
    return Identity(email=email, name=name, subject=subject)


def _exchange(
    sso: CompanySso,
    metadata: dict[str, Any],
    code: str,
    redirect_uri: str,
    code_verifier: str,
    allow_private: bool,
) -> dict[str, Any]:
    secret = client_secret_of(sso)
    try:
        with sso_http.oauth_session(
            allow_private=allow_private,
            client_id=sso.client_id,
            client_secret=secret,
            redirect_uri=redirect_uri,
            token_endpoint_auth_method=_auth_method(metadata),
        ) as client:
            token = client.fetch_token(
                metadata["token_endpoint"],
                grant_type="authorization_code",
                code=code,
                code_verifier=code_verifier,
                redirect_uri=redirect_uri,
            )
    except sso_http.SsoHttpError as exc:
        raise _failed(f"token: {exc.reason}") from None
    except OAuthError as exc:
        code = re.sub(r"[^a-z_]", "", str(exc.error))[:40]  # the provider's words: a code only
        raise _failed(f"token: provider error {code}") from None
    except requests.RequestException as exc:
        raise _failed(f"token: {sso_http.network_reason(exc)}") from None
    except (ValueError, TypeError, KeyError, OSError):
        raise _failed("token: answer not understood") from None
    return dict(token)


def _keys(metadata: dict[str, Any], allow_private: bool, *, refresh: bool = False) -> KeySet:
    try:
        data = _cached("jwks", metadata["jwks_uri"], allow_private, refresh=refresh)
        return KeySet.import_key_set(data)
    except sso_http.SsoHttpError as exc:
        raise _failed(f"jwks: {exc.reason}") from None
    except (JoseError, ValueError, TypeError, KeyError):
        raise _failed("jwks: key set not understood") from None


def _verified_claims(
    sso: CompanySso,
    metadata: dict[str, Any],
    id_token: str,
    token: dict[str, Any],
    nonce: str,
    now: datetime,
    allow_private: bool,
) -> CodeIDToken:
    offered = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = [a for a in SIGNING_ALGORITHMS if a in offered] or ["RS256"]
    registry = JWSRegistry(algorithms=algorithms)
    try:
        try:
            decoded = jwt.decode(id_token, _keys(metadata, allow_private), registry=registry)
        except InvalidKeyIdError:  # the provider rotated its keys since we cached them
            keys = _keys(metadata, allow_private, refresh=True)
            decoded = jwt.decode(id_token, keys, registry=registry)
        options = {
            "iss": {"essential": True, "value": sso.issuer},
            "aud": {"essential": True, "value": sso.client_id},
            "sub": {"essential": True},
            "exp": {"essential": True},
            "iat": {"essential": True},
            "nonce": {"essential": True, "value": nonce},
        }
        params = {"nonce": nonce, "client_id": sso.client_id}
        if isinstance(token.get("access_token"), str):
            params["access_token"] = token["access_token"]
        claims = CodeIDToken(decoded.claims, decoded.header, options, params)
        claims.validate(now=int(now.timestamp()), leeway=LEEWAY_SECONDS)
    except JoseError as exc:
        raise _failed(f"id_token: {type(exc).__name__}") from None
    except (ValueError, TypeError, KeyError):
        raise _failed("id_token: not understood") from None
    return claims
