"""The HTTP client single sign-on talks to identity providers with.

An issuer URL is a company admin's input, and the server fetches its discovery
document, its keys (JWKS) and its token endpoint: it must not become a way into our
own network (SSRF). Every request's host is resolved once, every address is checked
with the calendar fetcher's guard (``calendars.fetch.check_address``: loopback,
private, link-local… refused unless allowed), and the connection goes to the checked
address itself, so a DNS answer that changes between check and connect gains nothing.
TLS still checks the certificate against the host name. Redirects are not followed,
proxies from the environment are not used, every request has a short timeout, and an
answer larger than ``MAX_BYTES`` is refused.

Nothing raised from here carries the URL, a header or a body: ``SsoHttpError`` holds a
short English reason, safe to log.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.integrations.requests_client import OAuth2Session
from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool

from calendars.fetch import FetchError, check_address

TIMEOUT_SECONDS = 5.0
MAX_BYTES = 256 * 1024  # discovery, keys and token answers are a few kilobytes
_CHUNK = 16 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}

Resolver = Callable[..., Sequence[tuple[Any, ...]]]


class SsoHttpError(Exception):
    """A request to the identity provider failed; ``reason`` is short and safe to log."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def allowed_url(url: str, allow_private: bool) -> bool:
    """An https URL with a host (http too when private hosts are allowed: tests and local
    development), without credentials or a fragment."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a bad port
    except ValueError:
        return False
    schemes = ("https", "http") if allow_private else ("https",)
    return (
        parts.scheme in schemes
        and bool(parts.hostname)
        and parts.username is None
        and parts.password is None
        and not parts.fragment
        and url.isprintable()
        and " " not in url
    )


class _GuardedAdapter(HTTPAdapter):
    """Connects only to checked addresses, refuses redirects and oversized bodies."""

    def __init__(self, allow_private: bool, resolver: Resolver, timeout: float):
        super().__init__(max_retries=0)
        self._allow_private = allow_private
        self._resolver = resolver
        self._timeout = timeout
        self._pools: list[HTTPConnectionPool] = []

    def _address(self, host: str, port: int) -> str:
        """The first address ``host`` resolves to, once every one of them is checked."""
        try:
            addresses = [ipaddress.ip_address(host.strip("[]"))]
        except ValueError:
            addresses = self._resolve(host, port)
        try:
            for address in addresses:
                check_address(address, self._allow_private)
        except FetchError as exc:
            raise SsoHttpError(exc.message) from None
        return str(addresses[0])

    def _resolve(self, host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        try:
            infos = self._resolver(host, port, type=socket.SOCK_STREAM)
            addresses = [ipaddress.ip_address(str(i[4][0]).split("%", 1)[0]) for i in infos]
        except (OSError, UnicodeError, ValueError, IndexError, TypeError):
            raise SsoHttpError("host name could not be resolved") from None
        if not addresses:
            raise SsoHttpError("host name could not be resolved")
        return addresses

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        parts = urlsplit(request.url)
        if not allowed_url(request.url, self._allow_private) or parts.hostname is None:
            raise SsoHttpError("URL not allowed")
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
        address = self._address(parts.hostname, port)
        if parts.scheme == "https":
            name = parts.hostname.rstrip(".")
            pool: HTTPConnectionPool = HTTPSConnectionPool(
                address,
                port,
                maxsize=1,
                retries=False,
                cert_reqs="CERT_REQUIRED",
                server_hostname=name,
                assert_hostname=name,
            )
        else:
            pool = HTTPConnectionPool(address, port, maxsize=1, retries=False)
        self._pools.append(pool)
        return pool

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        parts = urlsplit(request.url)
        request.headers["Host"] = parts.netloc.rpartition("@")[2]
        response = super().send(
            request, stream=True, timeout=self._timeout, verify=True, cert=None, proxies=None
        )
        try:
            if response.is_redirect or 300 <= response.status_code < 400:
                raise SsoHttpError(f"HTTP {response.status_code}: redirects are not followed")
            body = bytearray()
            for chunk in response.iter_content(_CHUNK):
                body += chunk
                if len(body) > MAX_BYTES:
                    raise SsoHttpError("answer too large")
        finally:
            response.close()
        response._content = bytes(body)  # read here, within the limit
        response._content_consumed = True
        return response

    def close(self) -> None:
        for pool in self._pools:
            pool.close()
        self._pools.clear()
        super().close()


def _guard(session: requests.Session, allow_private: bool, resolver: Resolver, timeout: float):
    session.trust_env = False  # no proxy or .netrc from the environment
    session.max_redirects = 0
    adapter = _GuardedAdapter(allow_private, resolver, timeout)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def oauth_session(
    *,
    allow_private: bool,
    resolver: Resolver = socket.getaddrinfo,
    timeout: float = TIMEOUT_SECONDS,
    **kwargs: Any,
) -> OAuth2Session:
    """Authlib's OAuth 2 client on the guarded transport (close it after use)."""
    return _guard(OAuth2Session(**kwargs), allow_private, resolver, timeout)


def get_json(
    url: str,
    *,
    allow_private: bool,
    resolver: Resolver = socket.getaddrinfo,
    timeout: float = TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """GET a JSON object (a discovery document, a key set)."""
    with _guard(requests.Session(), allow_private, resolver, timeout) as session:
        try:
            response = session.get(url, headers={"Accept": "application/json"})
        except SsoHttpError:
            raise
        except requests.RequestException as exc:
            raise SsoHttpError(network_reason(exc)) from None
        except (ValueError, OSError):
            raise SsoHttpError("network error") from None
    if response.status_code != 200:
        raise SsoHttpError(f"HTTP {response.status_code}")
    try:
        data = response.json()
    except ValueError:
        raise SsoHttpError("answer is not JSON") from None
    if not isinstance(data, dict):
        raise SsoHttpError("answer is not a JSON object")
    return data


def network_reason(exc: BaseException) -> str:
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS error"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    return "network error"
