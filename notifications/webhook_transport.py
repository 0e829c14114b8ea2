"""Sending one webhook over HTTP, and the URL rules an endpoint must meet.

An endpoint's URL is an organisation's input and our server connects to it, so it must
not become a way into our own network (SSRF). The rules are the calendar import's
(``calendars.fetch.check_address``: loopback, private, link-local, carrier-grade NAT,
unique-local, reserved and cloud metadata addresses are refused):

- at entry (``check_url``): https only (http too when private hosts are allowed, for
  tests and local development), no user name or password, no fragment, at most 2000
  characters, and the host resolved with every address checked;
- at each delivery (``post``): resolved and checked again, and the connection goes to
  the checked address itself (TLS still checks the certificate against the host name),
  so a DNS answer that changed since entry, or changes between check and connect (DNS
  rebinding), reaches nothing inside. Redirects are never followed.

A delivery has one time budget (connect, send and the answer's status line), enforced
on the socket: a receiver that trickles bytes is cut off like one that never answers.
The answer's body is never read or stored. Nothing returned or raised from here carries
the URL (it may hold the receiver's own token), a header or a body: failures are a short
kind (``"timeout"``, ``"refused_address"``…).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
from dataclasses import dataclass
from http.client import HTTPException
from urllib.parse import quote, urlsplit

from urllib3 import HTTPConnectionPool, Timeout
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError, SSLError
from urllib3.exceptions import TimeoutError as Urllib3TimeoutError

from calendars.fetch import FetchError, check_address, normalise_host
from calendars.fetch_deadline import Deadline, pinned_pool, system_tls_context

MAX_URL_LENGTH = 2000
DEFAULT_TIMEOUT_SECONDS = 10.0
_DEFAULT_PORTS = {"http": 80, "https": 443}
_NOT_URL_SAFE = re.compile(r"[^\x21-\x7e]")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Why a URL is refused at entry (the form shows each in words: webhook_endpoints).
URL_REFUSALS = (
    "too_long",
    "not_https",
    "credentials",
    "fragment",
    "bad_url",
    "dns",
    "private_address",
)


class UrlRefused(Exception):
    """A URL an endpoint may not have; ``code`` is one of ``URL_REFUSALS``."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Target:
    scheme: str  # "http" or "https"
    host: str  # ASCII; an IPv6 literal without brackets
    port: int
    request_target: str  # path and query, ASCII only
    ip: IPAddress | None  # the host, when it is an IP literal

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: delivered (a 2xx), or why not."""

    delivered: bool
    status: int | None = None  # the receiver's HTTP status, when it answered
    error: str | None = None  # the kind of failure (see ``ERROR_KINDS``)


# The kinds of failed delivery the log shows (webhook_endpoints has their words).
ERROR_KINDS = (
    "http_status",  # the receiver answered, not with a 2xx
    "redirect",  # it answered 3xx: redirects are not followed
    "timeout",
    "connection",  # refused, reset, or not HTTP
    "tls",  # the certificate or the handshake failed
    "dns",  # the host name does not resolve (any more)
    "refused_address",  # it resolves to an address we do not connect to
    "bad_url",
    "secret",  # the signing secret cannot be read (SECRET_KEY changed)
    "undecryptable",  # the stored body cannot be read (SECRET_KEY changed)
)


def parse_url(url: str, allow_private: bool) -> Target:
    """The parts of an endpoint URL, or ``UrlRefused``; resolves nothing."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused("too_long")
    if not url.isprintable() or " " in url:
        raise UrlRefused("bad_url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UrlRefused("bad_url") from None
    scheme = parts.scheme.lower()
    if scheme not in (("https", "http") if allow_private else ("https",)):
        raise UrlRefused("not_https")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("credentials")
    if parts.fragment or url.endswith("#"):
        raise UrlRefused("fragment")
    if not parts.hostname or port == 0:
        raise UrlRefused("bad_url")
    try:
        host, ip = normalise_host(parts.hostname)
    except ValueError:
        raise UrlRefused("bad_url") from None
    request_target = parts.path or "/"
    if parts.query:
        request_target += "?" + parts.query
    return Target(
        scheme=scheme,
        host=host,
        port=port or _DEFAULT_PORTS[scheme],
        request_target=_NOT_URL_SAFE.sub(lambda m: quote(m.group()), request_target),
        ip=ip,
    )


def resolve(target: Target) -> list[IPAddress]:
    """Every address the host resolves to (``socket.getaddrinfo``, looked up at call
    time so tests can stand in for DNS), or ``UrlRefused("dns")``."""
    if target.ip is not None:
        return [target.ip]
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        addresses: list[IPAddress] = []
        for info in infos:
            ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if ip not in addresses:
                addresses.append(ip)
    except (OSError, UnicodeError, ValueError, IndexError, TypeError):
        raise UrlRefused("dns") from None
    if not addresses:
        raise UrlRefused("dns")
    return addresses


def checked_addresses(target: Target, allow_private: bool) -> list[IPAddress]:
    """The host's addresses once every one of them is allowed; ``UrlRefused`` if any is
    not (one internal address among public ones refuses the host)."""
    addresses = resolve(target)
    try:
        for address in addresses:
            check_address(address, allow_private)
    except FetchError:
        raise UrlRefused("private_address") from None
    return addresses


def check_url(url: str, allow_private: bool) -> None:
    """Refuse (``UrlRefused``) a URL an endpoint may not have, resolving its host."""
    checked_addresses(parse_url(url, allow_private), allow_private)


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    allow_private: bool,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> Outcome:
    """POST ``body`` to ``url`` once, to a checked address; never raises for the
    network's or the receiver's failures."""
    try:
        target = parse_url(url, allow_private)
        addresses = checked_addresses(target, allow_private)
    except UrlRefused as exc:
        kind = {"dns": "dns", "private_address": "refused_address"}.get(exc.code, "bad_url")
        return Outcome(False, error=kind)
    deadline = Deadline(timeout)
    try:
        status = _exchange(target, addresses, body, headers, deadline, timeout)
    except (HTTPError, HTTPException, OSError) as exc:
        return Outcome(False, error="timeout" if deadline.expired else _failure_kind(exc))
    finally:
        deadline.close()
    if 200 <= status < 300:
        return Outcome(True, status=status)
    if 300 <= status < 400:
        return Outcome(False, status=status, error="redirect")
    return Outcome(False, status=status, error="http_status")


def _exchange(
    target: Target,
    addresses: list[IPAddress],
    body: bytes,
    headers: dict[str, str],
    deadline: Deadline,
    timeout: float,
) -> int:
    """The status of the first of ``addresses`` that takes the connection."""
    headers = {"Host": target.host_header, **headers}
    for index, address in enumerate(addresses):
        remaining = min(timeout, deadline.remaining())
        if remaining <= 0:
            raise Urllib3TimeoutError("deadline")
        pool = _pool(target, address, deadline)
        try:
            response = pool.urlopen(
                "POST",
                target.request_target,
                body=body,
                headers=headers,
                retries=False,
                redirect=False,
                assert_same_host=False,
                timeout=Timeout(connect=remaining, read=remaining),
                preload_content=False,
            )
        except ConnectTimeoutError:  # refused or unreachable too: try the next address
            pool.close()
            if index == len(addresses) - 1:
                raise
            continue
        except BaseException:
            pool.close()
            raise
        status = response.status
        response.close()  # the body is the receiver's business: never read
        pool.close()
        return status
    raise NewConnectionError(None, "no address")  # pragma: no cover (addresses is never empty)


def _pool(target: Target, address: IPAddress, deadline: Deadline) -> HTTPConnectionPool:
    """A single-connection pool pinned to ``address``; TLS still checks the name."""
    return pinned_pool(
        target.scheme, target.host, target.port, str(address), deadline, _tls_context()
    )


# The system's CAs; a module attribute so a test can trust its own CA instead.
_tls_context = system_tls_context


def _failure_kind(exc: BaseException) -> str:
    if isinstance(exc, SSLError | ssl.SSLError):
        return "tls"
    if isinstance(exc, NewConnectionError):
        return "connection"
    if isinstance(exc, Urllib3TimeoutError | socket.timeout):
        return "timeout"
    return "connection"
