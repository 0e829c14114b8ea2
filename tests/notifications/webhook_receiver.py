"""A webhook receiver for the tests: an HTTP server on 127.0.0.1 that records every
request and answers as told, and a receiver's signature check written from
docs/WEBHOOKS.md (not from the code that signs)."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.conftest import LoopbackServer

HOLD = "hold"  # an answer: wait until released (a receiver slower than the timeout)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers the n-th request with ``answers[n]`` (an HTTP status, ``(status,
    location)`` for a redirect, or ``HOLD``); 200 once the answers run out."""

    answers: list = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: LoopbackServer | None = None

    @property
    def port(self) -> int:
        return self.server.port

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def _next(self, request: Received):
        with self.lock:
            self.received.append(request)
            return self.answers.pop(0) if self.answers else 200


def start_receiver(answers: list | None = None) -> Receiver:
    receiver = Receiver(answers=list(answers or []))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            answer = receiver._next(Received(self.path, dict(self.headers.items()), body))
            if answer == HOLD:
                receiver.released.wait(10)
                answer = 200
            try:
                if isinstance(answer, tuple):
                    self.send_response(answer[0])
                    self.send_header("Location", answer[1])
                else:
                    self.send_response(answer)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:
                pass  # the sender gave up first (the timeout test)

        do_GET = do_POST  # a followed redirect would GET: recorded too

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        address_family = socket.AF_INET

    receiver.server = LoopbackServer(lambda address: Server(address, Handler)).start()
    return receiver


def verify(secret: str, header: str, body: bytes) -> int:
    """A receiver's check (docs/WEBHOOKS.md): the timestamp when the v1 signature is
    HMAC-SHA256 of "<t>.<body>" under the secret; raises ValueError otherwise."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    signed = parts["t"].encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, parts["v1"]):
        raise ValueError("bad signature")
    return int(parts["t"])
