"""Fetch operators' external iCal feeds (Airbnb, Booking.com, Google Calendar).

A feed URL is operator input, so fetching it must not become a way into our own
network (SSRF): every hop's host is resolved once, every address is checked, and
the connection goes to the checked address itself, so a DNS answer that changes
between check and connect (DNS rebinding) gains nothing. Redirects are followed
by hand for the same reason.

Feed URLs carry secret tokens in their path or query, so no message raised from
here ever contains the URL, and urllib3's own exceptions (which may) are not
chained onto ours.

One fetch holds at most one connection and closes it before returning, and no
state is shared between calls except a read-only TLS context: the sync job may
run many fetches at once in a thread pool.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import re
import socket
import ssl
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.client import HTTPException
from typing import Any, Literal
from urllib.parse import quote, unquote, urljoin, urlsplit

from urllib3 import BaseHTTPResponse, HTTPConnectionPool, Timeout
from urllib3.exceptions import (
    ConnectTimeoutError,
    DecodeError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    SSLError,
)
from urllib3.exceptions import TimeoutError as Urllib3TimeoutError

from calendars.fetch_deadline import Deadline, pinned_pool, system_tls_context


class _RedactRequestPaths(logging.Filter):
    """urllib3 logs every request line, path and query included, and feed URLs carry
    secret tokens: drop its DEBUG records and mask any path in the others."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno <= logging.DEBUG:
            return False
        if isinstance(record.args, tuple):
            record.args = tuple(
                "/…" if isinstance(a, str) and a.startswith("/") else a for a in record.args
            )
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_RedactRequestPaths())

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[..., Sequence[tuple[Any, ...]]]
FetchErrorCode = Literal[
    "bad_url",
    "forbidden_address",
    "dns",
    "network",
    "timeout",
    "http_status",
    "too_large",
    "too_many_redirects",
]

ACCEPT = "text/calendar, */*;q=0.1"
_CHUNK_BYTES = 64 * 1024
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Google and Apple publish calendars as webcal:// links; they mean https.
_SCHEME_ALIASES = {"http": "http", "https": "https", "webcal": "https", "webcals": "https"}
_HOST_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?", re.IGNORECASE)
# Numbers the C resolver reads as an IPv4 address: 2130706433, 0x7f.1, 127.1 ...
_NUMERIC_HOST = re.compile(r"(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}", re.IGNORECASE)
_NOT_URL_SAFE = re.compile(r"[^\x21-\x7e]")
_HEADER_VALUE = re.compile(r"[\x20-\x7e\x80-\xff]+")

_CARRIER_GRADE_NAT = ipaddress.IPv4Network("100.64.0.0/10")
_RFC1918 = tuple(
    ipaddress.IPv4Network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


@dataclass(frozen=True)
class FetchResult:
    not_modified: bool  # True on HTTP 304
    body: bytes | None  # None when not_modified
    etag: str | None  # as the final response sent it (None if it sent none)
    last_modified: str | None


class FetchError(Exception):
    """A feed could not be fetched. ``message`` is short English text that never
    contains the URL, so it is safe to store on the feed and to log."""

    def __init__(self, code: FetchErrorCode, message: str):
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def fetch_feed(
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    allow_private: bool = False,
    timeout: float = 10.0,
    max_bytes: int = 5 * 1024 * 1024,
    max_redirects: int = 3,
    user_agent: str = "Engawa-Calendar-Sync/1.0",
    resolver: Resolver = socket.getaddrinfo,
) -> FetchResult:
    """GET a feed, conditionally when ``etag``/``last_modified`` are given.

    ``timeout`` bounds connecting, each read, and the whole fetch including
    redirects and the body (name resolution excepted: it cannot be interrupted).
    Raises :class:`FetchError` for anything but a 2xx or 304 final response.
    """
    headers = {"User-Agent": user_agent, "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"}
    # Validators come back from storage; a mangled one only costs a full download.
    if etag and _HEADER_VALUE.fullmatch(etag):
        headers["If-None-Match"] = etag
    if last_modified and _HEADER_VALUE.fullmatch(last_modified):
        headers["If-Modified-Since"] = last_modified

    deadline = Deadline(timeout)
    try:
        with _translated_errors(deadline, timeout):
            target = _parse_url(url)
            for hop in range(max_redirects + 1):
                addresses = _resolve(target, resolver)
                for address in addresses:
                    check_address(address, allow_private)
                with _exchange(target, addresses, headers, deadline, timeout) as response:
                    location = _redirect_location(response)
                    if location is None:
                        return _result(response, deadline, timeout, max_bytes)
                if hop == max_redirects:
                    break
                target = _parse_url(urljoin(target.url, location))
    finally:
        deadline.close()
    raise FetchError("too_many_redirects", f"more than {max_redirects} redirects")


def check_address(ip: str | IPAddress, allow_private: bool = False) -> None:
    """Refuse an address that is not on the public internet (unless ``allow_private``).

    IPv4 addresses embedded in IPv6 ones (IPv4-mapped ``::ffff:…``, NAT64 ``64:ff9b::…``,
    6to4 ``2002:…``) are judged by the IPv4 address they lead to.
    """
    address = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    if allow_private:
        return
    reason = _forbidden_reason(address)
    if reason:
        raise FetchError("forbidden_address", f"address not allowed ({reason})")


def _forbidden_reason(ip: IPAddress) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return _forbidden_reason(ip.ipv4_mapped)
        if ip in _NAT64:
            return _forbidden_reason(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip.sixtofour is not None and _forbidden_reason(ip.sixtofour):
            return _forbidden_reason(ip.sixtofour)
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, ipaddress.IPv4Address):
        if ip in _CARRIER_GRADE_NAT:
            return "carrier-grade NAT"
        if any(ip in net for net in _RFC1918):
            return "private network"
    else:
        if ip in _UNIQUE_LOCAL:
            return "unique-local"
        if ip.is_site_local:
            return "site-local"
    if ip.is_reserved or not ip.is_global:
        return "reserved"
    return None


# --- the URL of one hop ------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    url: str  # with webcal:// already rewritten, for resolving relative redirects
    scheme: str  # "http" or "https"
    host: str  # ASCII; an IPv6 literal without brackets
    port: int
    request_target: str  # path and query, ASCII only
    ip: IPAddress | None  # the host, when it is an IP literal
    basic_auth: str | None  # "user:password" from the URL's userinfo

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def _parse_url(url: str) -> _Target:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except (ValueError, AttributeError):
        raise _bad_url("not a valid URL") from None
    scheme = _SCHEME_ALIASES.get(parts.scheme.lower())
    if scheme is None:
        raise _bad_url("only http, https and webcal URLs are allowed")
    if not parts.hostname:
        raise _bad_url("URL has no host")
    if port == 0:
        raise _bad_url("invalid port")
    try:
        host, ip = normalise_host(parts.hostname)
    except ValueError:
        raise _bad_url("invalid host") from None
    request_target = parts.path or "/"
    if parts.query:
        request_target += "?" + parts.query
    basic_auth = None
    if parts.username is not None or parts.password is not None:
        basic_auth = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
    return _Target(
        url=parts._replace(scheme=scheme).geturl(),
        scheme=scheme,
        host=host,
        port=port or _DEFAULT_PORTS[scheme],
        request_target=_NOT_URL_SAFE.sub(lambda m: quote(m.group()), request_target),
        ip=ip,
        basic_auth=basic_auth,
    )


def normalise_host(host: str) -> tuple[str, IPAddress | None]:
    """The host of a URL as ASCII, and the address it names when it is an IP literal
    (numeric forms such as ``0x7f.1`` included); ``ValueError`` for a host no URL of
    ours may name (an IPv6 zone id, a bad IDNA name, odd characters)."""
    if "%" in host:
        raise ValueError("invalid host")  # IPv6 zone ids name an interface of ours
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return str(ip), ip
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ValueError("invalid host") from None
    if _NUMERIC_HOST.fullmatch(ascii_host):
        # What getaddrinfo would make of it anyway; decided here so the check
        # does not depend on the resolver.
        try:
            return ascii_host, ipaddress.IPv4Address(socket.inet_aton(ascii_host))
        except OSError:
            raise ValueError("invalid host") from None
    if not _HOST_NAME.fullmatch(ascii_host):
        raise ValueError("invalid host")
    return ascii_host, None


def _bad_url(message: str) -> FetchError:
    return FetchError("bad_url", message)


def _resolve(target: _Target, resolver: Resolver) -> list[IPAddress]:
    if target.ip is not None:
        return [target.ip]
    try:
        infos = resolver(target.host, target.port, type=socket.SOCK_STREAM)
        addresses: list[IPAddress] = []
        for info in infos:
            ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if ip not in addresses:
                addresses.append(ip)
    except (OSError, UnicodeError, ValueError, IndexError, TypeError):
        raise FetchError("dns", "host name could not be resolved") from None
    if not addresses:
        raise FetchError("dns", "host name could not be resolved")
    return addresses


# --- one request/response exchange ------------------------------------------


@contextmanager
def _exchange(
    target: _Target,
    addresses: list[IPAddress],
    headers: dict[str, str],
    deadline: Deadline,
    timeout: float,
) -> Iterator[BaseHTTPResponse]:
    """GET the target from the first of ``addresses`` that accepts a connection;
    the response (body unread) is closed, with its connection, on leaving."""
    headers = {"Host": target.host_header, **headers}
    if target.basic_auth is not None:
        token = base64.b64encode(target.basic_auth.encode()).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
    for index, address in enumerate(addresses):
        remaining = min(timeout, deadline.remaining())
        if remaining <= 0:
            raise _timed_out(timeout)
        pool = _pool(target, address, deadline)
        try:
            response = pool.urlopen(
                "GET",
                target.request_target,
                headers=headers,
                retries=False,
                redirect=False,
                assert_same_host=False,
                timeout=Timeout(connect=remaining, read=remaining),
                preload_content=False,
                decode_content=True,
            )
        except ConnectTimeoutError:  # includes refused/unreachable: try the next address
            pool.close()
            if index == len(addresses) - 1:
                raise
            continue
        except BaseException:
            pool.close()
            raise
        try:
            yield response
        finally:
            response.close()
            pool.close()
        return


def _pool(target: _Target, address: IPAddress, deadline: Deadline) -> HTTPConnectionPool:
    """A single-connection pool pinned to ``address``; TLS still checks the name."""
    return pinned_pool(
        target.scheme, target.host, target.port, str(address), deadline, _tls_context()
    )


# The system's CAs; a module attribute so a test can trust its own CA instead.
_tls_context = system_tls_context


def _redirect_location(response: BaseHTTPResponse) -> str | None:
    if response.status not in _REDIRECT_STATUSES:
        return None
    location = response.headers.get("Location")
    if not location:
        raise FetchError("http_status", f"HTTP {response.status} without Location")
    return location


def _result(
    response: BaseHTTPResponse, deadline: Deadline, timeout: float, max_bytes: int
) -> FetchResult:
    etag = response.headers.get("ETag")
    last_modified = response.headers.get("Last-Modified")
    if response.status == 304:
        return FetchResult(not_modified=True, body=None, etag=etag, last_modified=last_modified)
    if not 200 <= response.status < 300:
        raise FetchError("http_status", f"HTTP {response.status}")
    body = _read_body(response, deadline, timeout, max_bytes)
    return FetchResult(not_modified=False, body=body, etag=etag, last_modified=last_modified)


def _read_body(
    response: BaseHTTPResponse, deadline: Deadline, timeout: float, max_bytes: int
) -> bytes:
    """Read at most ``max_bytes`` of decoded body: a small gzip bomb is inflated
    only as far as the limit, never whole."""
    too_large = FetchError("too_large", f"body larger than {_size(max_bytes)}")
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    body = bytearray()
    while True:
        if deadline.expired:
            raise _timed_out(timeout)
        chunk = response.read1(min(_CHUNK_BYTES, max_bytes + 1 - len(body)))
        if not chunk:
            break
        body += chunk
        if len(body) > max_bytes:
            raise too_large
    if deadline.expired:  # the watchdog may have cut a body without a length short
        raise _timed_out(timeout)
    return bytes(body)


def _size(n: int) -> str:
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} bytes"


# --- error translation ---------------------------------------------------------


def _timed_out(timeout: float) -> FetchError:
    return FetchError("timeout", f"timed out after {timeout:g} s")


@contextmanager
def _translated_errors(deadline: Deadline, timeout: float) -> Iterator[None]:
    """urllib3 and socket errors become FetchError. Their text can name the host,
    path or query, so it is dropped (``from None``), not chained."""
    try:
        yield
    except FetchError:
        raise
    except (HTTPError, HTTPException, OSError) as exc:
        if deadline.expired:
            raise _timed_out(timeout) from None
        raise _network_error(exc, timeout) from None


def _network_error(exc: BaseException, timeout: float) -> FetchError:
    if isinstance(exc, NewConnectionError):
        return FetchError("network", "connection failed")
    if isinstance(exc, Urllib3TimeoutError | socket.timeout):
        return _timed_out(timeout)
    if isinstance(exc, SSLError | ssl.SSLError):
        return FetchError("network", "TLS error")
    if isinstance(exc, DecodeError):
        return FetchError("network", "body could not be decoded")
    if isinstance(exc, ProtocolError | HTTPException):
        return FetchError("network", "connection broken or invalid response")
    return FetchError("network", "network error")
