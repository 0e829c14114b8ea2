"""A local HTTP server that plays Airbnb, Booking.com or Google for the sync tests.

Each path serves a ``FeedResponse`` the test sets and may change between syncs.
ETag/If-None-Match is honoured when the response has an etag; every request's
headers are kept so tests can check what the sync sent, in the order they
arrived (``started``), so tests can see the order of the sync's fetches (never
their wall-clock speed): a response may wait for a ``gate`` that another
request ``opens``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.conftest import LoopbackServer


@dataclass
class FeedResponse:
    body: bytes = b""
    status: int = 200
    etag: str | None = None
    delay: float = 0.0  # seconds before answering
    headers: dict[str, str] = field(default_factory=dict)
    chunked_bytes: int = 0  # stream this many filler bytes instead of ``body``
    gate: threading.Event | None = None  # answer only once this is set (at most 10 s)
    opens: threading.Event | None = None  # set this when the request arrives


class FeedServer:
    def __init__(self) -> None:
        self.responses: dict[str, FeedResponse] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._arrived: list[str] = []  # paths, in the order the requests came
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):  # noqa: N802 (http.server's naming)
                server.requests.append((self.path, dict(self.headers)))
                path = self.path.split("?")[0]
                with server._lock:
                    server._arrived.append(path)
                self.answer(server.responses.get(path))

            def answer(self, spec: FeedResponse | None):
                if spec is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if spec.opens is not None:
                    spec.opens.set()
                if spec.gate is not None:
                    spec.gate.wait(10)
                if spec.delay:
                    time.sleep(spec.delay)
                if spec.etag and self.headers.get("If-None-Match") == spec.etag:
                    self.send_response(304)
                    self.send_header("ETag", spec.etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(spec.status)
                self.send_header("Content-Type", spec.headers.get("Content-Type", "text/calendar"))
                for name, value in spec.headers.items():
                    if name != "Content-Type":
                        self.send_header(name, value)
                if spec.etag:
                    self.send_header("ETag", spec.etag)
                if spec.chunked_bytes:
                    self.send_header("Content-Length", str(spec.chunked_bytes))
                    self.end_headers()
                    chunk = b"X" * 65536
                    sent = 0
                    try:
                        while sent < spec.chunked_bytes:
                            self.wfile.write(chunk)
                            sent += len(chunk)
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                    return
                self.send_header("Content-Length", str(len(spec.body)))
                self.end_headers()
                self.wfile.write(spec.body)

        def make(address: tuple[str, int]) -> ThreadingHTTPServer:
            httpd = ThreadingHTTPServer(address, Handler)
            httpd.daemon_threads = True
            return httpd

        self.loopback = LoopbackServer(make, name="feed-server", join_timeout=5)
        self.httpd = self.loopback.server
        self.port = self.loopback.port

    def started(self) -> list[str]:
        """Paths requested so far, in the order the requests arrived."""
        with self._lock:
            return list(self._arrived)

    def url(self, path: str) -> str:
        return f"{self.loopback.url}{path}"

    def serve(self, path: str, body: bytes | str = b"", **kw) -> str:
        if isinstance(body, str):
            body = body.encode()
        self.responses[path] = FeedResponse(body=body, **kw)
        return self.url(path)

    def __enter__(self) -> FeedServer:
        self.loopback.start()
        return self

    def __exit__(self, *exc) -> None:
        self.loopback.stop()
