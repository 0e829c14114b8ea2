"""The time budget of one feed fetch, and the connections it watches.

Split from ``calendars.fetch``: urllib3 bounds each socket operation, not the
whole fetch, so a trickling server is cut off here instead.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from functools import cache
from typing import Any

from urllib3 import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.connection import HTTPConnection, HTTPSConnection


class Deadline:
    """The whole fetch's time budget.

    urllib3's timeouts apply to each socket operation, so a server that sends one
    byte every few seconds (of TLS handshake, headers or body) never trips them.
    Once a connection exists, a timer shuts its socket down when the budget runs
    out; the blocked read then fails and the failure is reported as a timeout.
    """

    def __init__(self, seconds: float):
        self._seconds = seconds
        self._end = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._watched: list[socket.socket] = []
        self._fired = False
        self._timer: threading.Timer | None = None

    def remaining(self) -> float:
        return self._end - time.monotonic()

    @property
    def expired(self) -> bool:
        return self._fired or self.remaining() <= 0

    def watch(self, sock: socket.socket) -> None:
        # A duplicate descriptor: shutting it down ends the connection even after
        # TLS has taken over the original socket object, and it is ours to close.
        with self._lock:
            handle = sock.dup()
            self._watched.append(handle)
            if self._fired:
                _shutdown(handle)
            elif self._timer is None:
                self._timer = threading.Timer(max(self.remaining(), 0), self._fire)
                self._timer.daemon = True
                self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            self._fired = True
            for handle in self._watched:
                _shutdown(handle)

    def close(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            for handle in self._watched:
                handle.close()
            self._watched.clear()


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed by the peer


class _Watched:
    """A connection whose socket the fetch's deadline may shut down (mixin)."""

    def __init__(self, *args: Any, deadline: Deadline, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline = deadline

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        try:
            self._deadline.watch(sock)
        except BaseException:
            sock.close()
            raise
        return sock


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


# Pools whose connections the deadline watches; ``pinned_pool`` pins each to one
# checked address (calendar feeds, outbound webhooks).
class PinnedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class PinnedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


def pinned_pool(
    scheme: str,
    host: str,
    port: int,
    address: str,
    deadline: Deadline,
    tls_context: ssl.SSLContext,
) -> HTTPConnectionPool:
    """A single-connection pool to ``address`` (already checked); over https the
    certificate is still checked against ``host``."""
    if scheme == "https":
        tls_name = host.rstrip(".")
        return PinnedHTTPSPool(
            address,
            port,
            maxsize=1,
            retries=False,
            cert_reqs="CERT_REQUIRED",
            ssl_context=tls_context,
            server_hostname=tls_name,
            assert_hostname=tls_name,
            deadline=deadline,
        )
    return PinnedHTTPPool(address, port, maxsize=1, retries=False, deadline=deadline)


@cache
def system_tls_context() -> ssl.SSLContext:
    """The system's CAs (no certifi). Names are matched by urllib3 against
    ``assert_hostname``, since the socket is opened to an IP address."""
    context = ssl.create_default_context()
    context.check_hostname = False  # urllib3 checks the name; set once, never mutated later
    context.hostname_checks_common_name = False
    return context
