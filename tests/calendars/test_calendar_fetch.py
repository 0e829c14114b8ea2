"""Fetching external iCal feeds, against a real HTTP server on 127.0.0.1.

No test leaves the machine: host names resolve through fake resolvers, and the
autouse ``connections`` fixture fails any connection to a non-loopback address.
Tests that expect a refusal also check that nothing was connected at all.
"""

from __future__ import annotations

import gc
import gzip
import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
import time
import traceback
import tracemalloc
import warnings
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.message import Message
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calendars import fetch as calendar_fetch
from calendars.fetch import FetchError, FetchResult, check_address, fetch_feed
from tests.conftest import LoopbackServer

ICS = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nEND:VCALENDAR\r\n"
ETAG = '"v1"'
LAST_MODIFIED = "Tue, 01 Dec 2026 03:00:00 GMT"
MB = 1024 * 1024
PUBLIC_IP = "93.184.215.14"  # never connected: only returned by fake resolvers
SECRET_PATH = "/ical/secret-token-abc123.ics"

hypothesis_settings = settings(
    database=None,
    max_examples=300,
    # The autouse connection guard needs no reset between generated examples.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


# --- a feed server --------------------------------------------------------


@dataclass
class Seen:
    path: str
    headers: Message


ROUTES: dict[str, Callable[[FeedHandler], None]] = {}


def route(path: str):
    def register(handler):
        ROUTES[path] = handler
        return handler

    return register


class FeedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5

    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        parts = urlsplit(self.path)
        self.feed.requests.append(Seen(self.path, self.headers))
        self.query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        self.close_connection = True
        try:
            ROUTES.get(parts.path, not_found)(self)
        except OSError:
            pass  # the client hung up, as it should on a refused body

    @property
    def feed(self) -> FeedServer:
        return self.server.feed

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def start_unframed(self, headers: dict[str, str] | None = None) -> None:
        """Headers of a body without a length: it ends when the connection closes."""
        self.send_response(200)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()

    def log_message(self, format, *args) -> None:  # noqa: A002 - http.server's signature
        pass


class QuietServer(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins every handler thread
    block_on_close = True
    request_queue_size = 64  # the default 5 drops bursts of connections (1 s SYN retry)

    def handle_error(self, request, client_address) -> None:
        pass  # clients hanging up mid-body is the point of several tests


class FeedServer:
    def __init__(self, tls: ssl.SSLContext | None = None):
        self.requests: list[Seen] = []
        self.stop = threading.Event()  # wakes sleeping handlers at teardown

        def make(address: tuple[str, int]) -> QuietServer:
            httpd = QuietServer(address, FeedHandler)
            httpd.feed = self
            if tls is not None:
                httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
            return httpd

        self.loopback = LoopbackServer(make, name="fetch-feed-server").start()
        self.httpd = self.loopback.server
        self.port = self.loopback.port

    def url(self, path: str, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def paths(self) -> list[str]:
        return [seen.path for seen in self.requests]

    def close(self) -> None:
        self.stop.set()
        self.loopback.stop()


@pytest.fixture(scope="module")
def module_server():
    server = FeedServer()
    yield server
    server.close()


@pytest.fixture
def server(module_server):
    module_server.requests.clear()
    return module_server


@pytest.fixture(autouse=True)
def connections(monkeypatch):
    """Every address a socket connects to. Connections off this machine and real
    DNS look-ups of names are refused, and fail the test."""
    attempts: list[str] = []
    lookups: list[str] = []
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def guarded_connect(sock, address):
        attempts.append(address[0])
        if not ipaddress.ip_address(address[0]).is_loopback:
            raise OSError("test tried to leave the machine")
        return real_connect(sock, address)

    def guarded_getaddrinfo(host, *args, **kwargs):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            lookups.append(host)
            raise socket.gaierror(socket.EAI_NONAME, "test tried a real DNS look-up") from None
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    yield attempts
    assert all(ipaddress.ip_address(a).is_loopback for a in attempts), attempts
    assert lookups == []


def resolver_for(table: dict[str, list[str]], calls: list | None = None):
    """A fake getaddrinfo: host name → addresses; anything else does not exist."""

    def resolve(host, port, type=0):  # noqa: A002 - getaddrinfo's keyword
        if calls is not None:
            calls.append((host, port))
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (
                socket.AF_INET6 if ":" in ip else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (ip, port, 0, 0) if ":" in ip else (ip, port),
            )
            for ip in table[host]
        ]

    return resolve


def fetch(url: str, **kwargs) -> FetchResult:
    kwargs.setdefault("allow_private", True)
    kwargs.setdefault("timeout", 5.0)
    return fetch_feed(url, **kwargs)


def fetch_error(url: str, **kwargs) -> FetchError:
    with pytest.raises(FetchError) as caught:
        fetch(url, **kwargs)
    return caught.value


# --- routes -----------------------------------------------------------------


def not_found(h: FeedHandler) -> None:
    h.reply(404, b"not here")


@route("/feed.ics")
def feed_ics(h: FeedHandler) -> None:
    validators = {"ETag": ETAG, "Last-Modified": LAST_MODIFIED}
    if h.headers.get("If-None-Match") == ETAG or (
        h.headers.get("If-Modified-Since") == LAST_MODIFIED
    ):
        h.send_response(304)
        h.send_header("ETag", ETAG)
        h.send_header("Connection", "close")
        h.end_headers()
        return
    h.reply(200, ICS, {"Content-Type": "text/calendar", **validators})


@route("/status")
def status(h: FeedHandler) -> None:
    h.reply(int(h.query["code"]), b"error page")


@route(SECRET_PATH)
def secret_feed_fails(h: FeedHandler) -> None:
    h.reply(500, b"boom")


@route("/sized")
def sized(h: FeedHandler) -> None:
    h.reply(200, b"x" * int(h.query["n"]))


@route("/big-declared")
def big_declared(h: FeedHandler) -> None:
    """Announces 20 MB, then sends nothing: only an early refusal beats the timeout."""
    h.send_response(200)
    h.send_header("Content-Length", str(20 * MB))
    h.end_headers()
    h.feed.stop.wait(3)


@route("/big-chunked")
def big_chunked(h: FeedHandler) -> None:
    h.start_unframed({"Transfer-Encoding": "chunked"})
    block = b"x" * 65536
    for _ in range(20 * MB // len(block)):
        h.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
    h.wfile.write(b"0\r\n\r\n")


@route("/big-until-close")
def big_until_close(h: FeedHandler) -> None:
    h.start_unframed()
    block = b"x" * 65536
    for _ in range(20 * MB // len(block)):
        h.wfile.write(block)


@route("/compressed")
def compressed(h: FeedHandler) -> None:
    encoding = h.query["encoding"]
    body = gzip.compress(ICS) if encoding == "gzip" else zlib.compress(ICS)
    h.reply(200, body, {"Content-Encoding": encoding})


@cache
def gzip_bomb(inflated: int = 32 * MB) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip framing
    zeros = bytes(MB)
    return b"".join(packer.compress(zeros) for _ in range(inflated // MB)) + packer.flush()


@route("/gzip-bomb")
def bomb(h: FeedHandler) -> None:
    h.reply(200, gzip_bomb(), {"Content-Encoding": "gzip"})


@route("/slow")
def slow(h: FeedHandler) -> None:
    if not h.feed.stop.wait(3):
        h.reply(200, ICS)


@route("/ical/slow/secret-token-abc123.ics")
def slow_secret(h: FeedHandler) -> None:
    slow(h)


@route("/drip")
def drip(h: FeedHandler) -> None:
    """One byte every 0.2 s: no single read ever waits long enough to time out."""
    h.start_unframed()
    for _ in range(50):
        if h.feed.stop.wait(0.2):
            return
        h.wfile.write(b"x")


@route("/drip-headers")
def drip_headers(h: FeedHandler) -> None:
    h.wfile.write(b"HTTP/1.1 200 OK\r\n")
    for byte in b"X-Slow: y\r\n" * 20:
        if h.feed.stop.wait(0.05):
            return
        h.wfile.write(bytes([byte]))


@route("/to")
def redirect_to(h: FeedHandler) -> None:
    h.reply(int(h.query.get("status", "302")), b"", {"Location": h.query["location"]})


@route("/hops")
def hops(h: FeedHandler) -> None:
    """``/hops?n=3`` redirects three times, each with another status and a relative
    Location (``hops?n=2``), then serves the feed."""
    n = int(h.query["n"])
    if n == 0:
        h.reply(200, ICS)
        return
    h.reply([301, 302, 303, 307, 308][n % 5], b"", {"Location": f"hops?n={n - 1}"})


@route("/dir/redirect")
def redirect_relative_to_sibling(h: FeedHandler) -> None:
    h.reply(302, b"", {"Location": "feed.ics"})


@route("/dir/feed.ics")
def sibling_feed(h: FeedHandler) -> None:
    h.reply(200, b"sibling")


@route("/echo")
def echo(h: FeedHandler) -> None:
    h.reply(200, b"ok")


# --- successful fetches ----------------------------------------------------


def test_fetch_returns_body_and_validators_and_identifies_itself(server):
    result = fetch(server.url("/feed.ics"))

    assert result == FetchResult(
        not_modified=False, body=ICS, etag=ETAG, last_modified=LAST_MODIFIED
    )
    [seen] = server.requests
    assert seen.headers["User-Agent"] == "Engawa-Calendar-Sync/1.0"
    assert seen.headers["Accept"] == "text/calendar, */*;q=0.1"
    assert seen.headers["Host"] == f"127.0.0.1:{server.port}"
    assert seen.headers["If-None-Match"] is None
    assert seen.headers["If-Modified-Since"] is None


def test_custom_user_agent_is_sent(server):
    fetch(server.url("/feed.ics"), user_agent="Engawa-Test/2")

    assert server.requests[0].headers["User-Agent"] == "Engawa-Test/2"


@pytest.mark.parametrize(
    ("etag", "last_modified"),
    [(ETAG, None), (None, LAST_MODIFIED), (ETAG, LAST_MODIFIED)],
)
def test_conditional_request_gets_not_modified(server, etag, last_modified):
    result = fetch(server.url("/feed.ics"), etag=etag, last_modified=last_modified)

    assert result == FetchResult(not_modified=True, body=None, etag=ETAG, last_modified=None)
    [seen] = server.requests
    assert seen.headers["If-None-Match"] == etag
    assert seen.headers["If-Modified-Since"] == last_modified


def test_mangled_validator_is_dropped_not_injected(server):
    result = fetch(server.url("/feed.ics"), etag='"v1"\r\nX-Injected: 1')

    assert result.body == ICS
    assert server.requests[0].headers["If-None-Match"] is None
    assert server.requests[0].headers["X-Injected"] is None


def test_stale_validators_get_the_new_body(server):
    result = fetch(server.url("/feed.ics"), etag='"v0"')

    assert result.not_modified is False
    assert result.body == ICS
    assert result.etag == ETAG


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_body_is_decoded(server, encoding):
    result = fetch(server.url(f"/compressed?encoding={encoding}"))

    assert result.body == ICS
    assert "gzip" in server.requests[0].headers["Accept-Encoding"]


def test_userinfo_is_sent_as_basic_auth(server):
    fetch(server.url("/echo", host="feeder:p%40ss@127.0.0.1"))

    assert server.requests[0].headers["Authorization"] == "Basic ZmVlZGVyOnBAc3M="


# --- HTTP errors -------------------------------------------------------------


@pytest.mark.parametrize("code", [500, 404, 403, 410, 503])
def test_error_status_is_http_status(server, code):
    error = fetch_error(server.url(f"/status?code={code}"))

    assert (error.code, error.message) == ("http_status", f"HTTP {code}")


def test_redirect_without_location_is_http_status(server):
    error = fetch_error(server.url("/status?code=302"))

    assert error.code == "http_status"


# --- size limits -------------------------------------------------------------


def test_declared_oversized_body_is_refused_before_reading(server):
    """The server announces 20 MB and then stalls: reading would time out."""
    started = time.monotonic()
    error = fetch_error(server.url("/big-declared"), timeout=0.5)

    assert (error.code, error.message) == ("too_large", "body larger than 5 MB")
    assert time.monotonic() - started < 0.4


@pytest.mark.parametrize("path", ["/big-chunked", "/big-until-close"])
def test_oversized_body_without_length_stops_at_the_limit(server, path):
    error = fetch_error(server.url(path))

    assert (error.code, error.message) == ("too_large", "body larger than 5 MB")


def test_body_of_exactly_max_bytes_is_accepted(server):
    assert fetch(server.url("/sized?n=1000"), max_bytes=1000).body == b"x" * 1000
    assert fetch_error(server.url("/sized?n=1001"), max_bytes=1000).code == "too_large"


def test_gzip_bomb_is_refused_without_inflating_it(server):
    """32 MB of zeros in a 32 KB gzip body: the limit counts decoded bytes, and
    no more than about the limit is ever inflated in memory."""
    gzip_bomb()  # built before measuring
    tracemalloc.start()
    try:
        error = fetch_error(server.url("/gzip-bomb"), max_bytes=MB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (error.code, error.message) == ("too_large", "body larger than 1 MB")
    assert peak < 6 * MB


# --- time limits -------------------------------------------------------------


def test_slow_server_times_out(server):
    started = time.monotonic()
    error = fetch_error(server.url("/slow"), timeout=0.5)

    assert (error.code, error.message) == ("timeout", "timed out after 0.5 s")
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize("path", ["/drip", "/drip-headers"])
def test_dripping_server_hits_the_overall_deadline(server, path):
    """A byte every 0.2 s (body) or 0.05 s (headers) never trips the per-read
    timeout; the deadline for the whole fetch stops it."""
    started = time.monotonic()
    error = fetch_error(server.url(path), timeout=0.5)

    assert error.code == "timeout"
    assert time.monotonic() - started < 1.2


# --- redirects ---------------------------------------------------------------


@pytest.mark.parametrize("hops", [1, 2, 3])
def test_redirects_are_followed(server, hops):
    result = fetch(server.url(f"/hops?n={hops}"))

    assert result.body == ICS
    assert server.paths() == [f"/hops?n={n}" for n in range(hops, -1, -1)]


def test_fourth_redirect_is_too_many(server):
    error = fetch_error(server.url("/hops?n=4"))

    assert (error.code, error.message) == ("too_many_redirects", "more than 3 redirects")
    assert len(server.requests) == 4


def test_max_redirects_zero_refuses_any_redirect(server):
    assert fetch_error(server.url("/hops?n=1"), max_redirects=0).code == "too_many_redirects"


def test_relative_location_resolves_against_the_current_url(server):
    assert fetch(server.url("/dir/redirect")).body == b"sibling"
    assert server.paths() == ["/dir/redirect", "/dir/feed.ics"]


def test_absolute_location_is_followed(server):
    location = quote(server.url("/feed.ics"), safe="")

    assert fetch(server.url(f"/to?location={location}&status=301")).body == ICS


def test_credentials_are_not_forwarded_to_a_redirect_target(server):
    location = quote(server.url("/echo"), safe="")

    fetch(server.url(f"/to?location={location}", host="feeder:secret@127.0.0.1"))

    assert server.requests[0].headers["Authorization"] is not None
    assert server.requests[1].headers["Authorization"] is None


@pytest.fixture
def trusted_first_hop(monkeypatch):
    """Let the first address checked pass, and check every later one for real.

    The only server a test can reach is on 127.0.0.1, which the real check refuses
    when ``allow_private=False`` (see ``test_name_resolving_to_loopback_is_refused``),
    and ``allow_private=True`` would let the redirect through too. So the first hop's
    127.0.0.1 stands in for a public feed host, and what is under test is that the
    redirect target is checked again, before any connection to it.
    """
    real_check = calendar_fetch.check_address
    checked: list[str] = []

    def check(ip, allow_private=False):
        checked.append(str(ip))
        if len(checked) > 1:
            real_check(ip, allow_private)

    monkeypatch.setattr(calendar_fetch, "check_address", check)
    return checked


@pytest.mark.parametrize(
    ("location", "forbidden_ip"),
    [
        ("http://127.0.0.1:{port}/feed.ics", "127.0.0.1"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("http://[::1]:{port}/feed.ics", "::1"),
        ("http://10.0.0.1/", "10.0.0.1"),
        ("http://metadata.internal/computeMetadata/v1/", "169.254.169.254"),
    ],
)
def test_redirect_target_is_checked_again(
    server, trusted_first_hop, connections, location, forbidden_ip
):
    location = quote(location.format(port=server.port), safe="")
    resolver = resolver_for({"metadata.internal": ["169.254.169.254"]})

    error = fetch_error(
        server.url(f"/to?location={location}"), allow_private=False, resolver=resolver
    )

    assert error.code == "forbidden_address"
    assert trusted_first_hop == ["127.0.0.1", forbidden_ip]
    assert len(server.requests) == 1  # /feed.ics would have answered 200
    assert connections == ["127.0.0.1"]


def test_redirect_to_another_scheme_is_bad_url(server):
    location = quote("file:///etc/passwd", safe="")

    assert fetch_error(server.url(f"/to?location={location}")).code == "bad_url"


# --- pinning the connection to the checked address ---------------------------


def test_connects_to_the_resolved_address_with_the_original_host(server, connections):
    calls: list = []
    resolver = resolver_for({"feeds.example.test": ["127.0.0.1"]}, calls)

    result = fetch(server.url("/feed.ics", host="feeds.example.test"), resolver=resolver)

    assert result.body == ICS
    assert calls == [("feeds.example.test", server.port)]  # resolved once, not again
    assert connections == ["127.0.0.1"]
    assert server.requests[0].headers["Host"] == f"feeds.example.test:{server.port}"


def test_next_address_is_tried_when_one_refuses(server, connections):
    """The server listens on 127.0.0.1 only, so 127.0.0.2 refuses the connection."""
    resolver = resolver_for({"feeds.example.test": ["127.0.0.2", "127.0.0.1"]})

    result = fetch(server.url("/feed.ics", host="feeds.example.test"), resolver=resolver)

    assert result.body == ICS
    assert connections == ["127.0.0.2", "127.0.0.1"]


def test_name_resolving_to_loopback_is_refused(server, connections):
    resolver = resolver_for({"feeds.example.test": ["127.0.0.1"]})

    error = fetch_error(
        server.url("/feed.ics", host="feeds.example.test"), allow_private=False, resolver=resolver
    )

    assert (error.code, error.message) == ("forbidden_address", "address not allowed (loopback)")
    assert connections == []
    assert server.requests == []


# --- SSRF refusals (nothing is ever connected) -------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.1/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://100.64.0.1/",
        "http://[fd00::1]/",
        "http://[fe80::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[64:ff9b::a00:1]/",
        "http://0.0.0.0/",
        "http://[::]/",
        "http://224.0.0.1/",
        "http://240.0.0.1/",
        "https://127.0.0.1:8443/feed.ics",
    ],
)
def test_private_ip_literals_are_refused(url, connections):
    error = fetch_error(url, allow_private=False, resolver=resolver_for({}))

    assert error.code == "forbidden_address"
    assert connections == []


@pytest.mark.parametrize(
    "addresses",
    [
        ["10.0.0.7"],
        ["192.168.0.10"],
        ["fd12:3456::1"],
        [PUBLIC_IP, "10.0.0.7"],  # one bad answer spoils the lot
        ["2606:4700::1111", "::1"],
    ],
)
def test_names_resolving_to_private_addresses_are_refused(addresses, connections):
    resolver = resolver_for({"feeds.example.test": addresses})

    error = fetch_error(
        "https://feeds.example.test/ical/x.ics", allow_private=False, resolver=resolver
    )

    assert error.code == "forbidden_address"
    assert connections == []


@pytest.mark.parametrize(
    ("ip", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private network"),
        ("172.31.255.255", "private network"),
        ("192.168.0.1", "private network"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.255", "carrier-grade NAT"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 - an address under test, nothing binds
        ("224.0.0.251", "multicast"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "reserved"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fd00::1", "unique-local"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private network"),
        ("64:ff9b::7f00:1", "loopback"),
        ("2002:a00:1::", "private network"),
        ("2001:db8::1", "reserved"),
    ],
)
def test_check_address_refuses_non_public_addresses(ip, reason):
    with pytest.raises(FetchError) as caught:
        check_address(ip)

    assert (caught.value.code, caught.value.message) == (
        "forbidden_address",
        f"address not allowed ({reason})",
    )
    check_address(ip, allow_private=True)  # the escape hatch for development


@pytest.mark.parametrize(
    "ip", ["8.8.8.8", "100.63.255.255", "100.128.0.0", "2606:4700::1111", "::ffff:8.8.8.8"]
)
def test_check_address_allows_public_addresses(ip):
    check_address(ip)
    check_address(ipaddress.ip_address(ip))


FORBIDDEN_NETWORKS = [
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "100.64.0.0/10",
    "0.0.0.0/8",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::1/128",
    "fe80::/10",
    "fc00::/7",
    "ff00::/8",
]


def refused(ip) -> bool:
    try:
        check_address(ip)
    except FetchError:
        return True
    return False


@hypothesis_settings
@given(st.sampled_from(FORBIDDEN_NETWORKS).flatmap(lambda net: st.ip_addresses(network=net)))
def test_every_address_in_a_forbidden_network_is_refused(ip):
    assert refused(ip)


@hypothesis_settings
@given(st.ip_addresses(v=4))
def test_ipv4_mapped_address_gets_the_ipv4_verdict(ip):
    assert refused(ipaddress.IPv6Address(f"::ffff:{ip}")) == refused(ip)


@hypothesis_settings
@given(st.ip_addresses())
def test_allowed_addresses_are_global_unicast(ip):
    if not refused(ip):
        assert ip.is_global
        assert not ip.is_multicast


# --- bad URLs and name resolution --------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://x/",
        "gopher://x",
        "javascript:alert(1)",
        "data:text/calendar,BEGIN:VCALENDAR",
        "",
        "http://",
        "http:///feed.ics",
        "not a url",
        "//feeds.example.test/x.ics",
        "http://feeds.example.test:99999/",
        "http://feeds.example.test:0/",
        "http://feeds..example.test/",
        "http://feeds example.test/",
        "http://[fe80::1%25eth0]/",
        "http://999.999.999.999/",
    ],
)
def test_bad_urls_are_refused(url, connections):
    calls: list = []

    error = fetch_error(url, allow_private=False, resolver=resolver_for({}, calls))

    assert error.code == "bad_url"
    assert calls == []
    assert connections == []


def test_webcal_is_fetched_as_https(connections):
    calls: list = []
    resolver = resolver_for({"calendar.example.test": ["10.9.9.9"]}, calls)

    error = fetch_error(
        "webcal://calendar.example.test/calendar/ical/basic.ics",
        allow_private=False,
        resolver=resolver,
    )

    assert error.code == "forbidden_address"
    assert calls == [("calendar.example.test", 443)]
    assert connections == []


def test_unknown_host_is_dns_error(connections):
    error = fetch_error("https://nowhere.example.test/x.ics", resolver=resolver_for({}))

    assert (error.code, error.message) == ("dns", "host name could not be resolved")
    assert connections == []


def test_refused_connection_is_network_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]

    error = fetch_error(f"http://127.0.0.1:{closed_port}/feed.ics")

    assert (error.code, error.message) == ("network", "connection failed")


# --- secrets never leak into errors ------------------------------------------


@pytest.mark.parametrize(
    ("path", "code"),
    [(SECRET_PATH, "http_status"), ("/ical/slow/secret-token-abc123.ics", "timeout")],
)
def test_error_never_contains_the_secret_url(server, path, code):
    url = server.url(f"{path}?s=topsecret", host="feeder:hunter2@127.0.0.1")

    error = fetch_error(url, timeout=0.5)

    assert error.code == code
    printed = "".join(traceback.format_exception(error))
    for secret in ("secret-token-abc123", "topsecret", "hunter2", "feeder"):
        assert secret not in str(error)
        assert secret not in error.message
        assert secret not in repr(error)
        assert secret not in printed  # urllib3's own exception is not chained


# --- HTTPS: pinned to the address, verified against the name -----------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for feeds.example.test (trustme is not installed)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl command not available")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=feeds.example.test",
            "-addext",
            "subjectAltName=DNS:feeds.example.test",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture(scope="module")
def tls_server(certificate):
    cert, key = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = FeedServer(tls=context)
    yield server
    server.close()


@pytest.fixture
def trust_test_certificate(monkeypatch, certificate):
    context = ssl.create_default_context(cafile=str(certificate[0]))
    context.check_hostname = False
    monkeypatch.setattr(calendar_fetch, "_tls_context", lambda: context)


def test_https_connects_to_the_address_and_verifies_the_name(tls_server, trust_test_certificate):
    tls_server.requests.clear()
    resolver = resolver_for({"feeds.example.test": ["127.0.0.1"]})

    result = fetch(
        tls_server.url("/feed.ics", host="feeds.example.test", scheme="https"), resolver=resolver
    )

    assert result.body == ICS
    assert tls_server.requests[0].headers["Host"] == f"feeds.example.test:{tls_server.port}"


def test_https_certificate_for_another_name_is_network_error(tls_server, trust_test_certificate):
    resolver = resolver_for({"other.example.test": ["127.0.0.1"]})

    error = fetch_error(
        tls_server.url("/feed.ics", host="other.example.test", scheme="https"), resolver=resolver
    )

    assert (error.code, error.message) == ("network", "TLS error")


def test_https_untrusted_certificate_is_network_error(tls_server):
    resolver = resolver_for({"feeds.example.test": ["127.0.0.1"]})

    error = fetch_error(
        tls_server.url("/feed.ics", host="feeds.example.test", scheme="https"), resolver=resolver
    )

    assert (error.code, error.message) == ("network", "TLS error")


# --- many fetches at once ----------------------------------------------------


def test_concurrent_fetches_release_every_socket(server):
    urls = [
        server.url("/feed.ics"),
        server.url("/status?code=500"),
        server.url("/big-declared"),
        server.url("/hops?n=2"),
        "http://10.0.0.1/",
    ] * 8

    def attempt(url):
        try:
            return fetch(url, allow_private="10.0.0.1" not in url).body
        except FetchError as error:
            return error.code

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with ThreadPoolExecutor(max_workers=16) as pool:
            outcomes = list(pool.map(attempt, urls))
        gc.collect()

    assert outcomes == [ICS, "http_status", "too_large", ICS, "forbidden_address"] * 8
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
