"""A stateful fake of Stripe's REST API for the billing tests.

``FakeStripe`` serves the v1 endpoints Engawa uses on 127.0.0.1 (a free port),
answering the form-encoded requests the official SDK sends with JSON in the
shapes of API version 2026-10-28 (periods on subscription items, an invoice's
subscription under ``parent.subscription_details``, a line's price under
``pricing.price_details``, prorations under ``parent.*_details.proration``).
Amounts are integer yen: JPY has no minor unit, so ¥500 is 500.

Point ``StripeGateway(api_base=fake.url)`` at it. Python helpers play the parts
that happen at Stripe without an API call: a customer paying at Checkout, a
period renewing, a bank transfer arriving. Every change records the events
Stripe would send (``fake.events``), each carrying a snapshot of its object as it
was then, so tests can deliver them late, twice or out of order.
``signed_event``/``sign_payload`` sign a body exactly as Stripe does.

Checkout in payment mode (a one-off card payment, lines with ``price_data``) makes a
PaymentIntent when ``complete_checkout`` pays it; ``POST /v1/refunds`` refunds part or
all of a PaymentIntent (never more than is left), ``GET /v1/refunds?payment_intent=``
lists them. A session's ``expires_at`` must be 30 minutes to 24 hours after it is made,
and a session past it cannot be paid.

Simplifications: ``expand`` is ignored; a ``charge_automatically`` invoice is
paid at once (a card on file that works) unless a helper says otherwise; an
unpaid ``send_invoice`` invoice leaves the subscription active, as at Stripe,
until a test calls ``set_status(..., "past_due")``; only 2xx answers are stored
for idempotency keys.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import secrets
import string
import sys
import threading
import time
from calendar import monthrange
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.conftest import LoopbackServer

API_VERSION = "2026-10-28.endive"
DAY = 86_400
_ALNUM = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 14) -> str:
    """A Stripe-looking id: ``sub_`` and random letters and digits."""
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(length))


def unix(moment: int | float | datetime | None) -> int | None:
    """Unix seconds from an int, a float or an aware datetime (None stays None)."""
    if moment is None:
        return None
    if isinstance(moment, datetime):
        return int(moment.timestamp())
    return int(moment)


def add_months(moment: int, months: int) -> int:
    """The same day and time ``months`` later, clamped to the month's end (as Stripe bills)."""
    dt = datetime.fromtimestamp(moment, UTC)
    years, index = divmod(dt.month - 1 + months, 12)
    year, month = dt.year + years, index + 1
    day = min(dt.day, monthrange(year, month)[1])
    return int(dt.replace(year=year, month=month, day=day).timestamp())


# --- Form encoding ---------------------------------------------------------------


def _key_parts(key: str) -> list[str]:
    head, bracket, rest = key.partition("[")
    if not bracket:
        return [key]
    return [head, *rest[:-1].split("][")] if rest.endswith("]") else [key]


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    node = {key: _listify(value) for key, value in node.items()}
    if node and all(key.isdigit() for key in node):
        return [node[key] for key in sorted(node, key=int)]
    return node


def parse_form(text: str) -> dict[str, Any]:
    """Stripe's form encoding into nested dicts and lists.

    ``items[0][price]=p&metadata[company_id]=7&expand[]=x`` becomes
    ``{"items": [{"price": "p"}], "metadata": {"company_id": "7"}, "expand": ["x"]}``.
    Values stay strings, as Stripe receives them.
    """
    root: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        parts = _key_parts(key)
        node = root
        for part in parts[:-1]:
            part = part or str(len(node))
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1] or str(len(node))] = value
    return _listify(root)


# --- Events and signatures ---------------------------------------------------------


def make_event(
    event_type: str,
    data_object: dict,
    *,
    event_id: str | None = None,
    created: int | datetime | None = None,
    previous_attributes: dict | None = None,
    idempotency_key: str | None = None,
) -> dict:
    """An event as Stripe sends it; ``data.object`` is a copy taken now (a snapshot)."""
    data: dict[str, Any] = {"object": copy.deepcopy(data_object)}
    if previous_attributes is not None:
        data["previous_attributes"] = copy.deepcopy(previous_attributes)
    return {
        "id": event_id or new_id("evt_", 24),
        "object": "event",
        "api_version": API_VERSION,
        "created": unix(created) if created is not None else int(time.time()),
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": idempotency_key},
        "type": event_type,
    }


def encode_event(event: dict) -> bytes:
    """The body Stripe posts: pretty-printed JSON in UTF-8."""
    return json.dumps(event, indent=2, ensure_ascii=False).encode("utf-8")


def sign_payload(payload: bytes, secret: str, timestamp: int | datetime | None = None) -> str:
    """The ``Stripe-Signature`` header: ``t=…,v1=hex(HMAC-SHA256(secret, "t.body"))``."""
    stamp = unix(timestamp) if timestamp is not None else int(time.time())
    signed = f"{stamp}.".encode() + payload
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def sign_event(
    event: dict, secret: str, *, timestamp: int | datetime | None = None
) -> tuple[bytes, str]:
    """``(body, Stripe-Signature header)`` for an event dict."""
    payload = encode_event(event)
    return payload, sign_payload(payload, secret, timestamp)


def signed_event(
    event_type: str,
    data_object: dict,
    secret: str,
    *,
    timestamp: int | datetime | None = None,
    event_id: str | None = None,
    created: int | datetime | None = None,
    previous_attributes: dict | None = None,
) -> tuple[bytes, str]:
    """A new event around ``data_object``, signed as Stripe signs: ``(body, header)``."""
    stamp = unix(timestamp) if timestamp is not None else int(time.time())
    event = make_event(
        event_type,
        data_object,
        event_id=event_id,
        created=created if created is not None else stamp,
        previous_attributes=previous_attributes,
    )
    return sign_event(event, secret, timestamp=stamp)


# --- The server ------------------------------------------------------------------


class ApiError(Exception):
    """An answer in Stripe's error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"type": type, "message": message}
        if code:
            self.body["code"] = code
            self.body["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
        if param:
            self.body["param"] = param


def _missing(kind: str, object_id: str, param: str = "id", status: int = 404) -> ApiError:
    return ApiError(status, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


@dataclass
class RecordedRequest:
    """One request as the fake received it."""

    method: str
    path: str
    params: dict[str, Any]  # the form body (POST) or the query string, parsed
    idempotency_key: str | None
    headers: dict[str, str]
    status: int = 0
    replayed: bool = False  # answered from the idempotency store


@dataclass
class _Stored:
    method: str
    path: str
    params: dict[str, Any]
    status: int
    body: dict[str, Any]


@dataclass
class _Delay:
    method: str
    path_prefix: str
    seconds: float


@dataclass
class _SubState:
    anchor: int
    cycle: int = 0
    interval: str = "month"


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # joined in server_close, so no thread outlives stop()
    block_on_close = True
    fake: FakeStripe

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # the client gave up (a timeout test); nothing to report
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "FakeStripe/1.0"
    timeout = 10  # a silent client cannot hold a handler thread (or stop()) for long

    def log_message(self, format, *args):
        pass

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self._answer("GET")

    def do_POST(self):  # noqa: N802
        self._answer("POST")

    def do_DELETE(self):  # noqa: N802
        self._answer("DELETE")

    def _answer(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8") if length else ""
        fake = self.server.fake
        status, content, content_type, headers, delay = fake._handle(
            method, self.path, self.headers, body
        )
        if delay and fake._stopping.wait(delay):
            self.close_connection = True
            return
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(content)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(content)
        except (ConnectionError, TimeoutError):
            self.close_connection = True


class FakeStripe:
    """Stripe's v1 API for one test, on ``self.url`` while started.

    ``api_key``: when set, any other Bearer key is refused with 401.
    ``clock``: unix seconds used as "now" for new objects; None follows real time.
    """

    def __init__(self, *, api_key: str | None = None, clock: int | datetime | None = None):
        self.api_key = api_key
        self.clock = unix(clock)
        self.url = ""
        self.lock = threading.RLock()
        self.requests: list[RecordedRequest] = []
        self.events: list[dict] = []  # what Stripe would have sent, in order
        self.customers: dict[str, dict] = {}
        self.prices: dict[str, dict] = {}
        self.checkout_sessions: dict[str, dict] = {}
        self.subscriptions: dict[str, dict] = {}
        self.invoices: dict[str, dict] = {}
        self.invoice_items: dict[str, dict] = {}
        self.portal_sessions: dict[str, dict] = {}
        self.payment_intents: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self._events_by_id: dict[str, dict] = {}
        self._idempotent: dict[str, _Stored] = {}
        self._delays: list[_Delay] = []
        self._checkout_lines: dict[str, dict[str, Any]] = {}
        self._sub_state: dict[str, _SubState] = {}
        self._product_names: dict[str, str] = {}
        self._request_key: str | None = None
        self._stopping = threading.Event()
        self._loopback: LoopbackServer | None = None

    # --- lifecycle ---

    def start(self) -> FakeStripe:
        self._stopping.clear()

        def make(address: tuple[str, int]) -> _Server:
            httpd = _Server(address, _Handler)
            httpd.fake = self
            return httpd

        self._loopback = LoopbackServer(make, name="fake-stripe", join_timeout=5).start()
        self.url = self._loopback.url
        return self

    def stop(self) -> None:
        if self._loopback is None:
            return
        self._stopping.set()  # wakes a handler sleeping in a delay
        self._loopback.stop()  # server_close joins the handler threads
        self._loopback = None

    def __enter__(self) -> FakeStripe:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # --- time ---

    def now(self) -> int:
        return self.clock if self.clock is not None else int(time.time())

    def advance(self, seconds: int) -> int:
        """Move the fake clock on (it starts following real time if unset)."""
        with self.lock:
            self.clock = self.now() + int(seconds)
            return self.clock

    # --- seeding and reading (Python, not HTTP) ---

    def add_price(
        self,
        price_id: str,
        unit_amount: int,
        currency: str = "jpy",
        interval: str = "month",
        *,
        product: str | None = None,
        product_name: str = "Engawa seat",
    ) -> dict:
        """A recurring per-seat price the API can use (``unit_amount`` in yen)."""
        with self.lock:
            product = product or new_id("prod_")
            self._product_names[product] = product_name
            price = {
                "id": price_id,
                "object": "price",
                "active": True,
                "billing_scheme": "per_unit",
                "created": self.now(),
                "currency": currency,
                "custom_unit_amount": None,
                "livemode": False,
                "lookup_key": None,
                "metadata": {},
                "nickname": None,
                "product": product,
                "recurring": {
                    "interval": interval,
                    "interval_count": 1,
                    "meter": None,
                    "usage_type": "licensed",
                },
                "tax_behavior": "unspecified",
                "tiers_mode": None,
                "transform_quantity": None,
                "type": "recurring",
                "unit_amount": int(unit_amount),
                "unit_amount_decimal": str(int(unit_amount)),
            }
            self.prices[price_id] = price
            return copy.deepcopy(price)

    def add_customer(self, customer_id: str | None = None, **fields: Any) -> dict:
        """A customer made outside Engawa (``name``, ``email``, ``metadata`` …)."""
        with self.lock:
            return copy.deepcopy(self._new_customer(fields, customer_id))

    def snapshot(self, object_id: str) -> dict:
        """A deep copy of any object the fake holds, found by its id."""
        with self.lock:
            return copy.deepcopy(self._find(object_id))

    def customer(self, customer_id: str) -> dict:
        return self._copy(self.customers, customer_id)

    def subscription(self, subscription_id: str) -> dict:
        return self._copy(self.subscriptions, subscription_id)

    def invoice(self, invoice_id: str) -> dict:
        return self._copy(self.invoices, invoice_id)

    def invoice_item(self, item_id: str) -> dict:
        return self._copy(self.invoice_items, item_id)

    def checkout_session(self, session_id: str) -> dict:
        return self._copy(self.checkout_sessions, session_id)

    def invoices_for(self, subscription_id: str) -> list[dict]:
        """The subscription's invoices, oldest first."""
        with self.lock:
            return [
                copy.deepcopy(invoice)
                for invoice in self.invoices.values()
                if _invoice_subscription(invoice) == subscription_id
            ]

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        """Requests with this method and exact path (no query string), oldest first."""
        with self.lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    def last_request(self, method: str, path: str) -> RecordedRequest:
        found = self.requests_to(method, path)
        if not found:
            raise AssertionError(f"no {method} {path} was received")
        return found[-1]

    # --- faults ---

    def fail_next_after_create(
        self, path_prefix: str, seconds: float = 1.5, *, method: str = "POST"
    ) -> None:
        """The next matching request does its work, then waits ``seconds`` before answering.

        With ``seconds`` longer than the client's timeout the SDK gives up and retries
        with the same Idempotency-Key; the retry is answered from the stored result.
        """
        with self.lock:
            self._delays.append(_Delay(method, path_prefix, seconds))

    # --- events ---

    def events_of(self, event_type: str | None = None, object_id: str | None = None) -> list[dict]:
        """Recorded events, oldest first, optionally of one type and/or one object."""
        with self.lock:
            return [
                event
                for event in self.events
                if (event_type is None or event["type"] == event_type)
                and (object_id is None or event["data"]["object"].get("id") == object_id)
            ]

    def event_for(
        self,
        event_type: str,
        object_id: str,
        *,
        previous_attributes: dict | None = None,
        created: int | datetime | None = None,
    ) -> dict:
        """A new event carrying the object as it is now (kept, so GET /v1/events/{id} finds it)."""
        with self.lock:
            event = make_event(
                event_type,
                self._find(object_id),
                created=created if created is not None else self.now(),
                previous_attributes=previous_attributes,
            )
            self._events_by_id[event["id"]] = event
            return copy.deepcopy(event)

    def signed_event_for(
        self,
        event_type: str,
        object_id: str,
        secret: str,
        *,
        timestamp: int | datetime | None = None,
        previous_attributes: dict | None = None,
    ) -> tuple[bytes, str]:
        """``event_for`` then ``sign_event``: ``(body, Stripe-Signature header)``."""
        event = self.event_for(event_type, object_id, previous_attributes=previous_attributes)
        return sign_event(event, secret, timestamp=timestamp)

    # --- what happens at Stripe without an API call ---

    def complete_checkout(self, session_id: str, now: int | datetime | None = None) -> dict:
        """The customer pays at Checkout: a subscription, its paid first invoice, the
        session complete; or, in payment mode (before its ``expires_at``), a PaymentIntent.
        Returns the session."""
        with self.lock:
            session = self._get(self.checkout_sessions, session_id, "checkout.session")
            if session["status"] != "open":
                raise ValueError(f"checkout session {session_id} is {session['status']}")
            stamp = unix(now) if now is not None else self.now()
            if session["mode"] == "payment":
                if stamp >= session["expires_at"]:
                    raise ValueError(f"checkout session {session_id} has expired")
                return self._pay_session(session, stamp)
            customer = session["customer"]
            if customer is None:
                customer = self._new_customer({}, None, stamp)["id"]
                session["customer"] = customer
            extra = self._checkout_lines[session_id]
            sub, invoice = self._new_subscription(
                customer=customer,
                lines=extra["line_items"],
                collection_method="charge_automatically",
                days_until_due=None,
                metadata=extra["subscription_metadata"],
                now=stamp,
                pay=True,
            )
            session.update(
                status="complete",
                payment_status="paid",
                subscription=sub["id"],
                invoice=invoice["id"],
                url=None,
            )
            self._emit("checkout.session.completed", session, now=stamp)
            return copy.deepcopy(session)

    def _pay_session(self, session: dict, now: int) -> dict:
        """A payment-mode session paid by card: its PaymentIntent and charge, the events."""
        amount = session["amount_total"]
        intent_id = new_id("pi_", 24)
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": amount,
            "canceled_at": None,
            "capture_method": "automatic_async",
            "created": now,
            "currency": session["currency"],
            "customer": session["customer"],
            "description": None,
            "latest_charge": new_id("ch_", 24),
            "livemode": False,
            "metadata": dict(self._checkout_lines[session["id"]]["payment_intent_metadata"]),
            "payment_method": new_id("pm_", 24),
            "payment_method_types": ["card"],
            "receipt_email": session["customer_email"],
            "status": "succeeded",
        }
        self.payment_intents[intent_id] = intent
        self._emit("payment_intent.succeeded", intent, now=now)
        session.update(
            status="complete",
            payment_status="paid",
            payment_intent=intent_id,
            customer_details={"email": session["customer_email"]},
            url=None,
        )
        self._emit("checkout.session.completed", session, now=now)
        return copy.deepcopy(session)

    def expire_checkout(self, session_id: str, now: int | datetime | None = None) -> dict:
        with self.lock:
            session = self._get(self.checkout_sessions, session_id, "checkout.session")
            self._expire(session, unix(now) if now is not None else self.now())
            return copy.deepcopy(session)

    def renew(
        self, subscription_id: str, paid: bool = True, now: int | datetime | None = None
    ) -> dict | None:
        """The period ends: the next one starts and its invoice (with pending invoice items,
        prorations and overage, as extra lines first) is made and, if ``paid``, paid.

        An unpaid ``charge_automatically`` invoice stays open and makes the subscription
        past_due. A subscription set to cancel at period end is canceled instead (None).
        ``now`` defaults to the end of the current period; the fake clock moves on to it.
        """
        with self.lock:
            sub = self._get(self.subscriptions, subscription_id, "subscription")
            if sub["status"] in ("canceled", "incomplete_expired"):
                raise ValueError(f"subscription {subscription_id} is {sub['status']}")
            state = self._sub_state[subscription_id]
            old_start, old_end = _period(sub)
            stamp = unix(now) if now is not None else old_end
            self.clock = max(self.now(), stamp)  # time has moved on to the renewal
            if sub["cancel_at_period_end"]:
                self._cancel(sub, stamp)
                return None
            previous = {"items": copy.deepcopy(sub["items"]), "latest_invoice": None}
            state.cycle += 1
            new_start, new_end = old_end, self._period_end(state, state.cycle + 1)
            for item in sub["items"]["data"]:
                item["current_period_start"], item["current_period_end"] = new_start, new_end
            invoice = self._new_invoice(
                sub,
                "subscription_cycle",
                now=stamp,
                period=(old_start, old_end),
                include_pending=True,
                include_subscription=True,
            )
            previous["latest_invoice"] = sub["latest_invoice"]
            sub["latest_invoice"] = invoice["id"]
            self._emit("customer.subscription.updated", sub, now=stamp, previous=previous)
            self._finalize(invoice, stamp)
            self._settle(sub, invoice, paid, stamp)
            return copy.deepcopy(invoice)

    def pay_invoice(self, invoice_id: str, now: int | datetime | None = None) -> dict:
        """The invoice is paid (a card retry works, a bank transfer arrives)."""
        with self.lock:
            invoice = self._get(self.invoices, invoice_id, "invoice")
            stamp = unix(now) if now is not None else self.now()
            self._pay(invoice, stamp)
            sub_id = _invoice_subscription(invoice)
            sub = self.subscriptions.get(sub_id) if sub_id else None
            if sub is not None and sub["status"] in ("past_due", "unpaid", "incomplete"):
                self._set_status(sub, "active", stamp)
            return copy.deepcopy(invoice)

    def fail_invoice_payment(self, invoice_id: str, now: int | datetime | None = None) -> dict:
        """A payment attempt on an open invoice fails (``invoice.payment_failed``)."""
        with self.lock:
            invoice = self._get(self.invoices, invoice_id, "invoice")
            stamp = unix(now) if now is not None else self.now()
            invoice["attempted"] = True
            invoice["attempt_count"] += 1
            invoice["next_payment_attempt"] = stamp + 3 * DAY
            self._emit("invoice.payment_failed", invoice, now=stamp)
            return copy.deepcopy(invoice)

    def set_status(
        self, subscription_id: str, status: str, now: int | datetime | None = None
    ) -> dict:
        """Move a subscription to ``status`` (``customer.subscription.updated``;
        ``canceled`` cancels it as ``delete_subscription`` does)."""
        with self.lock:
            sub = self._get(self.subscriptions, subscription_id, "subscription")
            stamp = unix(now) if now is not None else self.now()
            if status == "canceled":
                self._cancel(sub, stamp)
            else:
                self._set_status(sub, status, stamp)
            return copy.deepcopy(sub)

    def delete_subscription(self, subscription_id: str, now: int | datetime | None = None) -> dict:
        """Cancel now (``customer.subscription.deleted``), as the dashboard or dunning does."""
        return self.set_status(subscription_id, "canceled", now)

    def void_invoice(self, invoice_id: str, now: int | datetime | None = None) -> dict:
        with self.lock:
            invoice = self._get(self.invoices, invoice_id, "invoice")
            stamp = unix(now) if now is not None else self.now()
            invoice["status"] = "void"
            invoice["amount_remaining"] = 0
            invoice["status_transitions"]["voided_at"] = stamp
            self._emit("invoice.voided", invoice, now=stamp)
            return copy.deepcopy(invoice)

    # --- HTTP ---

    def _handle(self, method: str, raw_path: str, headers, body: str):
        """(status, content, content type, extra headers, seconds to wait first)."""
        parts = urlsplit(raw_path)
        path = parts.path
        if not path.startswith("/v1/"):
            return self._page(path)
        params = parse_form(parts.query)
        if body:
            params.update(parse_form(body))
        key = headers.get("Idempotency-Key") if method == "POST" else None
        record = RecordedRequest(
            method=method,
            path=path,
            params=params,
            idempotency_key=key,
            headers={name: value for name, value in headers.items()},
        )
        answer_headers = {"Request-Id": new_id("req_"), "Stripe-Version": API_VERSION}
        delay = 0.0
        with self.lock:
            self.requests.append(record)
            try:
                self._authenticate(headers.get("Authorization"))
                stored = self._idempotent.get(key) if key else None
                if stored is not None:
                    if (stored.method, stored.path, stored.params) != (method, path, params):
                        raise ApiError(
                            400,
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with. Try using a key other "
                            f"than '{key}' if you meant to execute a different request.",
                            type="idempotency_error",
                        )
                    record.replayed = True
                    answer_headers["Idempotent-Replayed"] = "true"
                    status, result = stored.status, stored.body
                else:
                    self._request_key = key
                    try:
                        status, result = 200, self._route(method, path, params)
                    finally:
                        self._request_key = None
                    if key:
                        self._idempotent[key] = _Stored(method, path, params, status, result)
                    delay = self._take_delay(method, path)
            except ApiError as exc:
                status, result = exc.status, {"error": exc.body}
            record.status = status
            if key:
                answer_headers["Idempotency-Key"] = key
            content = json.dumps(result, ensure_ascii=False).encode("utf-8")
        return status, content, "application/json", answer_headers, delay

    def _page(self, path: str):
        if re.fullmatch(r"/(pay|portal|invoice)/[^/]+(/pdf)?", path):
            content = f"<!doctype html><title>Fake Stripe</title><p>{path}</p>".encode()
            return 200, content, "text/html; charset=utf-8", {}, 0.0
        return 404, b"not found", "text/plain", {}, 0.0

    def _authenticate(self, header: str | None) -> None:
        scheme, _, key = (header or "").partition(" ")
        if scheme != "Bearer" or not key.strip():
            raise ApiError(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
            )
        if self.api_key is not None and key != self.api_key:
            raise ApiError(401, f"Invalid API Key provided: {key[:8]}***{key[-4:]}")

    def _take_delay(self, method: str, path: str) -> float:
        for delay in self._delays:
            if delay.method == method and path.startswith(delay.path_prefix):
                self._delays.remove(delay)
                return delay.seconds
        return 0.0

    _ROUTES: tuple[tuple[str, str, str], ...] = (
        ("POST", r"/v1/customers", "_api_create_customer"),
        ("GET", r"/v1/customers/(?P<id>[^/]+)", "_api_get_customer"),
        ("POST", r"/v1/customers/(?P<id>[^/]+)", "_api_update_customer"),
        ("GET", r"/v1/prices/(?P<id>[^/]+)", "_api_get_price"),
        ("POST", r"/v1/checkout/sessions", "_api_create_checkout"),
        ("GET", r"/v1/checkout/sessions/(?P<id>[^/]+)", "_api_get_checkout"),
        ("POST", r"/v1/checkout/sessions/(?P<id>[^/]+)/expire", "_api_expire_checkout"),
        ("POST", r"/v1/subscriptions", "_api_create_subscription"),
        ("GET", r"/v1/subscriptions", "_api_list_subscriptions"),
        ("GET", r"/v1/subscriptions/(?P<id>[^/]+)", "_api_get_subscription"),
        ("POST", r"/v1/subscriptions/(?P<id>[^/]+)", "_api_update_subscription"),
        ("DELETE", r"/v1/subscriptions/(?P<id>[^/]+)", "_api_cancel_subscription"),
        ("POST", r"/v1/billing_portal/sessions", "_api_create_portal_session"),
        ("POST", r"/v1/invoiceitems", "_api_create_invoice_item"),
        ("GET", r"/v1/invoiceitems/(?P<id>[^/]+)", "_api_get_invoice_item"),
        ("GET", r"/v1/invoices", "_api_list_invoices"),
        ("GET", r"/v1/invoices/(?P<id>[^/]+)", "_api_get_invoice"),
        ("POST", r"/v1/invoices/(?P<id>[^/]+)/pay", "_api_pay_invoice"),
        ("GET", r"/v1/payment_intents/(?P<id>[^/]+)", "_api_get_payment_intent"),
        ("POST", r"/v1/refunds", "_api_create_refund"),
        ("GET", r"/v1/refunds", "_api_list_refunds"),
        ("GET", r"/v1/refunds/(?P<id>[^/]+)", "_api_get_refund"),
        ("GET", r"/v1/events", "_api_list_events"),
        ("GET", r"/v1/events/(?P<id>[^/]+)", "_api_get_event"),
    )

    def _route(self, method: str, path: str, params: dict) -> dict:
        for route_method, pattern, name in self._ROUTES:
            found = re.fullmatch(pattern, path)
            if found and route_method == method:
                return getattr(self, name)(params, **found.groupdict())
        raise ApiError(
            404,
            f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
            "or we can help at https://support.stripe.com/.",
        )

    # --- customers, prices ---

    def _api_create_customer(self, params: dict) -> dict:
        return self._new_customer(params, None)

    def _api_get_customer(self, params: dict, id: str) -> dict:
        return self._get(self.customers, id, "customer")

    def _api_update_customer(self, params: dict, id: str) -> dict:
        customer = self._get(self.customers, id, "customer")
        previous = {name: customer.get(name) for name in params if name in customer}
        for name in ("name", "email", "description", "phone"):
            if name in params:
                customer[name] = params[name] or None
        _merge_metadata(customer, params.get("metadata"))
        self._emit("customer.updated", customer, previous=previous)
        return customer

    def _api_get_price(self, params: dict, id: str) -> dict:
        return self._get(self.prices, id, "price")

    def _new_customer(self, params: dict, customer_id: str | None, now: int | None = None):
        stamp = now if now is not None else self.now()
        customer = {
            "id": customer_id or new_id("cus_"),
            "object": "customer",
            "address": None,
            "balance": 0,
            "created": stamp,
            "currency": None,
            "default_source": None,
            "delinquent": False,
            "description": params.get("description"),
            "discount": None,
            "email": params.get("email") or None,
            "invoice_prefix": "".join(secrets.choice(string.ascii_uppercase) for _ in range(8)),
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": None,
                "footer": None,
                "rendering_options": None,
            },
            "livemode": False,
            "metadata": dict(params.get("metadata") or {}),
            "name": params.get("name") or None,
            "next_invoice_sequence": 1,
            "phone": params.get("phone") or None,
            "preferred_locales": list(params.get("preferred_locales") or []),
            "shipping": None,
            "tax_exempt": "none",
            "test_clock": None,
        }
        self.customers[customer["id"]] = customer
        self._emit("customer.created", customer, now=stamp)
        return customer

    # --- checkout ---

    def _api_create_checkout(self, params: dict) -> dict:
        mode = _require(params, "mode")
        if mode not in ("subscription", "payment"):
            raise ApiError(400, f"The fake supports mode=subscription or payment, not {mode!r}.")
        success_url = _require(params, "success_url")
        customer = params.get("customer")
        if customer and customer not in self.customers:
            raise _missing("customer", customer, "customer", 400)
        lines = self._line_items(params.get("line_items"), "line_items", mode)
        now = self.now()
        expires_at = now + DAY
        if "expires_at" in params:
            expires_at = _int(params["expires_at"], "expires_at")
            if not now + 30 * 60 <= expires_at <= now + DAY:
                raise ApiError(
                    400,
                    "The `expires_at` timestamp must be between 30 minutes and 24 hours from"
                    " Checkout Session creation.",
                    param="expires_at",
                )
        session_id = new_id("cs_test_a1", 48)
        session = {
            "id": session_id,
            "object": "checkout.session",
            "after_expiration": None,
            "allow_promotion_codes": None,
            "amount_subtotal": sum(line["amount"] for line in lines),
            "amount_total": sum(line["amount"] for line in lines),
            "billing_address_collection": None,
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": params.get("client_reference_id"),
            "client_secret": None,
            "created": now,
            "currency": lines[0]["price"]["currency"],
            "customer": customer or None,
            "customer_creation": None if customer else "always",
            "customer_details": None,
            "customer_email": params.get("customer_email"),
            "expires_at": expires_at,
            "invoice": None,
            "livemode": False,
            "locale": params.get("locale"),
            "metadata": dict(params.get("metadata") or {}),
            "mode": mode,
            "payment_intent": None,
            "payment_link": None,
            "payment_method_collection": "always",
            "payment_method_types": list(params.get("payment_method_types") or ["card"]),
            "payment_status": "unpaid",
            "status": "open",
            "subscription": None,
            "success_url": success_url,
            "ui_mode": "hosted",
            "url": f"{self.url}/pay/{session_id}",
        }
        self.checkout_sessions[session_id] = session
        subscription_data = params.get("subscription_data") or {}
        payment_intent_data = params.get("payment_intent_data") or {}
        self._checkout_lines[session_id] = {
            "line_items": lines,
            "subscription_metadata": dict(subscription_data.get("metadata") or {}),
            "payment_intent_metadata": dict(payment_intent_data.get("metadata") or {}),
        }
        return session

    def _api_get_checkout(self, params: dict, id: str) -> dict:
        return self._get(self.checkout_sessions, id, "checkout.session")

    def _api_expire_checkout(self, params: dict, id: str) -> dict:
        session = self._get(self.checkout_sessions, id, "checkout.session")
        if session["status"] != "open":
            raise ApiError(400, "Only Checkout Sessions with a status of open can be expired.")
        self._expire(session, self.now())
        return session

    def _expire(self, session: dict, now: int) -> None:
        session.update(status="expired", url=None)
        self._emit("checkout.session.expired", session, now=now)

    def _line_items(self, raw: Any, param: str, mode: str = "subscription") -> list[dict]:
        if not raw:
            raise ApiError(
                400, f"Missing required param: {param}.", code="parameter_missing", param=param
            )
        lines = []
        for index, entry in enumerate(raw):
            where = f"{param}[{index}]"
            if "price_data" in entry and mode == "payment":
                price = self._inline_price(entry["price_data"], f"{where}[price_data]")
            else:
                price_id = _require(entry, "price", f"{where}[price]")
                price = self.prices.get(price_id)
                if price is None:
                    raise _missing("price", price_id, f"{where}[price]", 400)
            quantity = _int(entry.get("quantity", "1"), f"{where}[quantity]")
            lines.append(
                {"price": price, "quantity": quantity, "amount": price["unit_amount"] * quantity}
            )
        return lines

    def _inline_price(self, data: Any, param: str) -> dict:
        """A one-time price made from a line's ``price_data`` (payment mode)."""
        if not isinstance(data, dict):
            raise ApiError(400, f"Invalid object: {param}.", param=param)
        currency = _require(data, "currency", f"{param}[currency]")
        amount = _int(_require(data, "unit_amount", f"{param}[unit_amount]"), param)
        if amount < 1:
            raise ApiError(400, "unit_amount must be at least 1.", param=f"{param}[unit_amount]")
        product = data.get("product_data") or {}
        name = _require(product, "name", f"{param}[product_data][name]")
        product_id = new_id("prod_")
        self._product_names[product_id] = name
        return {
            "id": new_id("price_"),
            "object": "price",
            "active": False,
            "currency": currency,
            "product": product_id,
            "product_description": product.get("description"),
            "recurring": None,
            "type": "one_time",
            "unit_amount": amount,
            "unit_amount_decimal": str(amount),
        }

    # --- payments and refunds ---

    def _api_get_payment_intent(self, params: dict, id: str) -> dict:
        return self._get(self.payment_intents, id, "payment_intent")

    def refunded_of(self, payment_intent: str) -> int:
        """What the fake has refunded of a PaymentIntent, in yen."""
        with self.lock:
            return sum(
                refund["amount"]
                for refund in self.refunds.values()
                if refund["payment_intent"] == payment_intent and refund["status"] == "succeeded"
            )

    def _api_create_refund(self, params: dict) -> dict:
        intent_id = _require(params, "payment_intent")
        intent = self.payment_intents.get(intent_id)
        if intent is None:
            raise _missing("payment_intent", intent_id, "payment_intent", 400)
        left = intent["amount_received"] - self.refunded_of(intent_id)
        if left <= 0:
            raise ApiError(
                400,
                f"Charge {intent['latest_charge']} has already been refunded.",
                code="charge_already_refunded",
            )
        amount = _int(params.get("amount", str(left)), "amount")
        if amount < 1 or amount > left:
            raise ApiError(
                400,
                f"Refund amount (¥{amount}) is greater than unrefunded amount on charge (¥{left})",
                param="amount",
            )
        now = self.now()
        refund = {
            "id": new_id("re_", 24),
            "object": "refund",
            "amount": amount,
            "balance_transaction": new_id("txn_", 24),
            "charge": intent["latest_charge"],
            "created": now,
            "currency": intent["currency"],
            "destination_details": {"card": {"type": "refund"}, "type": "card"},
            "metadata": dict(params.get("metadata") or {}),
            "payment_intent": intent_id,
            "reason": params.get("reason"),
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": "succeeded",
            "transfer_reversal": None,
        }
        self.refunds[refund["id"]] = refund
        self._emit("refund.created", refund, now=now)
        self._emit("charge.refunded", {"id": intent["latest_charge"], "object": "charge"}, now=now)
        return refund

    def _api_list_refunds(self, params: dict) -> dict:
        found = [
            refund
            for refund in reversed(self.refunds.values())
            if params.get("payment_intent") in (None, refund["payment_intent"])
        ]
        return self._page_of(found, params, "/v1/refunds")

    def _api_get_refund(self, params: dict, id: str) -> dict:
        return self._get(self.refunds, id, "refund")

    # --- subscriptions ---

    def _api_create_subscription(self, params: dict) -> dict:
        customer = _require(params, "customer")
        if customer not in self.customers:
            raise _missing("customer", customer, "customer", 400)
        lines = self._line_items(params.get("items"), "items")
        method = params.get("collection_method", "charge_automatically")
        days = params.get("days_until_due")
        if method == "send_invoice" and days is None:
            raise ApiError(
                400,
                "Missing required param: days_until_due.",
                code="parameter_missing",
                param="days_until_due",
            )
        sub, _ = self._new_subscription(
            customer=customer,
            lines=lines,
            collection_method=method,
            days_until_due=_int(days, "days_until_due") if days is not None else None,
            metadata=dict(params.get("metadata") or {}),
            now=self.now(),
            pay=method == "charge_automatically",
        )
        return sub

    def _api_list_subscriptions(self, params: dict) -> dict:
        found = [
            sub
            for sub in reversed(self.subscriptions.values())
            if params.get("customer") in (None, sub["customer"])
            and (params.get("status") in (None, "all") or params["status"] == sub["status"])
            and (params.get("status") or sub["status"] != "canceled")
        ]
        return self._page_of(found, params, "/v1/subscriptions")

    def _api_get_subscription(self, params: dict, id: str) -> dict:
        return self._get(self.subscriptions, id, "subscription")

    def _api_update_subscription(self, params: dict, id: str) -> dict:
        sub = self._get(self.subscriptions, id, "subscription")
        if sub["status"] == "canceled" and set(params) - {"metadata", "cancellation_details"}:
            raise ApiError(
                400,
                "A canceled subscription can only update its cancellation_details and metadata.",
            )
        now = self.now()
        previous: dict[str, Any] = {}
        old_items = copy.deepcopy(sub["items"])
        changes = []  # (item, old quantity, old price)
        for index, entry in enumerate(params.get("items") or []):
            where = f"items[{index}]"
            item_id = entry.get("id")
            if item_id:
                item = next((i for i in sub["items"]["data"] if i["id"] == item_id), None)
                if item is None:
                    raise _missing("subscription item", item_id, f"{where}[id]", 400)
            else:
                price_id = _require(entry, "price", f"{where}[price]")
                if price_id not in self.prices:
                    raise _missing("price", price_id, f"{where}[price]", 400)
                item = self._new_item(sub, self.prices[price_id], 0, now)
                sub["items"]["data"].append(item)
            old = (item["quantity"], item["price"])
            if "price" in entry and item_id:
                if entry["price"] not in self.prices:
                    raise _missing("price", entry["price"], f"{where}[price]", 400)
                item["price"] = copy.deepcopy(self.prices[entry["price"]])
                item["plan"] = _plan(item["price"])
            item["quantity"] = _int(entry.get("quantity", item["quantity"] or 1), where)
            if (item["quantity"], item["price"]["id"]) != (old[0], old[1]["id"]):
                changes.append((item, *old))
        if changes:
            sub["items"]["total_count"] = len(sub["items"]["data"])
            previous["items"] = old_items
            behavior = params.get("proration_behavior", "create_prorations")
            if behavior != "none" and sub["status"] in ("active", "past_due", "trialing"):
                for item, old_quantity, old_price in changes:
                    self._prorate(sub, item, old_quantity, old_price, now)
                if behavior == "always_invoice":
                    invoice = self._new_invoice(
                        sub,
                        "subscription_update",
                        now=now,
                        period=(now, now),
                        include_pending=True,
                        include_subscription=False,
                    )
                    previous["latest_invoice"] = sub["latest_invoice"]
                    sub["latest_invoice"] = invoice["id"]
                    self._finalize(invoice, now)
                    self._settle(sub, invoice, True, now)
        if "cancel_at_period_end" in params:
            flag = _bool(params["cancel_at_period_end"], "cancel_at_period_end")
            if flag != sub["cancel_at_period_end"]:
                previous["cancel_at_period_end"] = sub["cancel_at_period_end"]
                previous["cancel_at"] = sub["cancel_at"]
                sub["cancel_at_period_end"] = flag
                sub["cancel_at"] = _period(sub)[1] if flag else None
        for name in ("collection_method", "description"):
            if name in params and params[name] != sub[name]:
                previous[name] = sub[name]
                sub[name] = params[name]
        if "days_until_due" in params:
            previous["days_until_due"] = sub["days_until_due"]
            sub["days_until_due"] = _int(params["days_until_due"], "days_until_due")
        if params.get("metadata") is not None:
            previous["metadata"] = dict(sub["metadata"])
            _merge_metadata(sub, params["metadata"])
        self._emit("customer.subscription.updated", sub, now=now, previous=previous)
        return sub

    def _api_cancel_subscription(self, params: dict, id: str) -> dict:
        sub = self._get(self.subscriptions, id, "subscription")
        if sub["status"] != "canceled":
            self._cancel(sub, self.now())
        return sub

    def _new_item(self, sub: dict, price: dict, quantity: int, now: int) -> dict:
        start, end = _period(sub) if sub["items"]["data"] else (now, now)
        return {
            "id": new_id("si_"),
            "object": "subscription_item",
            "billing_thresholds": None,
            "created": now,
            "current_period_end": end,
            "current_period_start": start,
            "discounts": [],
            "metadata": {},
            "plan": _plan(price),
            "price": copy.deepcopy(price),
            "quantity": quantity,
            "subscription": sub["id"],
            "tax_rates": [],
        }

    def _new_subscription(
        self,
        *,
        customer: str,
        lines: list[dict],
        collection_method: str,
        days_until_due: int | None,
        metadata: dict,
        now: int,
        pay: bool,
    ) -> tuple[dict, dict]:
        sub_id = new_id("sub_")
        interval = lines[0]["price"]["recurring"]
        state = _SubState(anchor=now, interval=interval["interval"])
        self._sub_state[sub_id] = state
        sub = {
            "id": sub_id,
            "object": "subscription",
            "application": None,
            "application_fee_percent": None,
            "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
            "billing_cycle_anchor": now,
            "billing_cycle_anchor_config": None,
            "billing_mode": {"flexible": None, "type": "classic"},
            "billing_thresholds": None,
            "cancel_at": None,
            "cancel_at_period_end": False,
            "canceled_at": None,
            "cancellation_details": {"comment": None, "feedback": None, "reason": None},
            "collection_method": collection_method,
            "created": now,
            "currency": lines[0]["price"]["currency"],
            "customer": customer,
            "days_until_due": days_until_due,
            "default_payment_method": None,
            "default_source": None,
            "default_tax_rates": [],
            "description": None,
            "discounts": [],
            "ended_at": None,
            "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
            "items": {
                "object": "list",
                "data": [],
                "has_more": False,
                "total_count": len(lines),
                "url": f"/v1/subscription_items?subscription={sub_id}",
            },
            "latest_invoice": None,
            "livemode": False,
            "metadata": metadata,
            "next_pending_invoice_item_invoice": None,
            "on_behalf_of": None,
            "pause_collection": None,
            "payment_settings": {
                "payment_method_options": None,
                "payment_method_types": None,
                "save_default_payment_method": "off",
            },
            "pending_invoice_item_interval": None,
            "pending_setup_intent": None,
            "pending_update": None,
            "schedule": None,
            "start_date": now,
            "status": "active",
            "test_clock": None,
            "transfer_data": None,
            "trial_end": None,
            "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
            "trial_start": None,
        }
        end = self._period_end(state, 1)
        for line in lines:
            item = self._new_item(sub, line["price"], line["quantity"], now)
            item["current_period_start"], item["current_period_end"] = now, end
            sub["items"]["data"].append(item)
        self.subscriptions[sub_id] = sub
        invoice = self._new_invoice(
            sub,
            "subscription_create",
            now=now,
            period=(now, now),
            include_pending=False,
            include_subscription=True,
            emit=False,
        )
        sub["latest_invoice"] = invoice["id"]
        self._emit("customer.subscription.created", sub, now=now)
        self._emit("invoice.created", invoice, now=now)
        self._finalize(invoice, now)
        self._settle(sub, invoice, pay, now)
        return sub, invoice

    def _period_end(self, state: _SubState, cycle: int) -> int:
        if state.interval == "year":
            return add_months(state.anchor, 12 * cycle)
        if state.interval == "week":
            return state.anchor + 7 * DAY * cycle
        if state.interval == "day":
            return state.anchor + DAY * cycle
        return add_months(state.anchor, cycle)

    def _prorate(self, sub: dict, item: dict, old_quantity: int, old_price: dict, now: int):
        start, end = _period(sub)
        if end <= start or now >= end:
            return
        fraction = (end - max(now, start)) / (end - start)
        day = datetime.fromtimestamp(now, UTC).strftime("%d %b %Y")
        name = self._product_names.get(item["price"]["product"], "seat")
        for quantity, price, sign, words in (
            (old_quantity, old_price, -1, "Unused time on"),
            (item["quantity"], item["price"], 1, "Remaining time on"),
        ):
            if not quantity:
                continue
            amount = sign * round(price["unit_amount"] * quantity * fraction)
            self._new_invoice_item(
                customer=sub["customer"],
                sub=sub,
                amount=amount,
                currency=price["currency"],
                description=f"{words} {quantity} × {name} after {day}",
                now=now,
                price=price,
                quantity=quantity,
                proration=True,
                subscription_item=item["id"],
                period=(now, end),
            )

    def _cancel(self, sub: dict, now: int) -> None:
        previous = {"status": sub["status"], "canceled_at": None, "ended_at": None}
        sub.update(status="canceled", canceled_at=now, ended_at=now)
        sub["cancellation_details"]["reason"] = "cancellation_requested"
        self._emit("customer.subscription.deleted", sub, now=now, previous=previous)

    def _set_status(self, sub: dict, status: str, now: int) -> None:
        if sub["status"] == status:
            return
        previous = {"status": sub["status"]}
        sub["status"] = status
        self._emit("customer.subscription.updated", sub, now=now, previous=previous)

    # --- portal ---

    def _api_create_portal_session(self, params: dict) -> dict:
        customer = _require(params, "customer")
        if customer not in self.customers:
            raise _missing("customer", customer, "customer", 400)
        session_id = new_id("bps_", 24)
        session = {
            "id": session_id,
            "object": "billing_portal.session",
            "configuration": "bpc_fake",
            "created": self.now(),
            "customer": customer,
            "flow": None,
            "livemode": False,
            "locale": params.get("locale"),
            "on_behalf_of": None,
            "return_url": params.get("return_url"),
            "url": f"{self.url}/portal/{session_id}",
        }
        self.portal_sessions[session_id] = session
        return session

    # --- invoice items and invoices ---

    def _api_create_invoice_item(self, params: dict) -> dict:
        customer = _require(params, "customer")
        if customer not in self.customers:
            raise _missing("customer", customer, "customer", 400)
        sub = None
        if params.get("subscription"):
            sub = self.subscriptions.get(params["subscription"])
            if sub is None or sub["customer"] != customer:
                raise _missing("subscription", params["subscription"], "subscription", 400)
        amount = _int(_require(params, "amount"), "amount")
        currency = _require(params, "currency").lower()
        if sub is not None and currency != sub["currency"]:
            raise ApiError(
                400,
                f"The currency of this invoice item ({currency}) must match the currency of "
                f"the subscription ({sub['currency']}).",
                param="currency",
            )
        return self._new_invoice_item(
            customer=customer,
            sub=sub,
            amount=amount,
            currency=currency,
            description=params.get("description"),
            now=self.now(),
            metadata=dict(params.get("metadata") or {}),
        )

    def _api_get_invoice_item(self, params: dict, id: str) -> dict:
        return self._get(self.invoice_items, id, "invoiceitem")

    def _new_invoice_item(
        self,
        *,
        customer: str,
        sub: dict | None,
        amount: int,
        currency: str,
        description: str | None,
        now: int,
        metadata: dict | None = None,
        price: dict | None = None,
        quantity: int = 1,
        proration: bool = False,
        subscription_item: str | None = None,
        period: tuple[int, int] | None = None,
    ) -> dict:
        item_id = new_id("ii_")
        if price is None:  # Stripe makes a one-off price for an amount-only item
            price_id, product, unit = new_id("price_"), new_id("prod_"), amount
        else:
            price_id, product, unit = price["id"], price["product"], price["unit_amount"]
        start, end = period or (now, now)
        item = {
            "id": item_id,
            "object": "invoiceitem",
            "amount": amount,
            "currency": currency,
            "customer": customer,
            "date": now,
            "description": description,
            "discountable": not proration,
            "discounts": [],
            "invoice": None,
            "livemode": False,
            "metadata": metadata or {},
            "net_amount": amount,
            "parent": (
                {
                    "type": "subscription_details",
                    "subscription_details": {
                        "subscription": sub["id"],
                        "subscription_item": subscription_item,
                    },
                }
                if sub is not None
                else None
            ),
            "period": {"end": end, "start": start},
            "pricing": {
                "price_details": {"price": price_id, "product": product},
                "type": "price_details",
                "unit_amount_decimal": str(unit),
            },
            "proration": proration,
            "proration_details": {"credited_items": None},
            "quantity": quantity,
            "tax_rates": [],
            "test_clock": None,
        }
        self.invoice_items[item_id] = item
        self._emit("invoiceitem.created", item, now=now)
        return item

    def _api_get_invoice(self, params: dict, id: str) -> dict:
        return self._get(self.invoices, id, "invoice")

    def _api_list_invoices(self, params: dict) -> dict:
        found = [
            invoice
            for invoice in reversed(self.invoices.values())
            if params.get("customer") in (None, invoice["customer"])
            and params.get("subscription") in (None, _invoice_subscription(invoice))
            and params.get("status") in (None, invoice["status"])
            and params.get("collection_method") in (None, invoice["collection_method"])
        ]
        return self._page_of(found, params, "/v1/invoices")

    def _api_pay_invoice(self, params: dict, id: str) -> dict:
        invoice = self._get(self.invoices, id, "invoice")
        if invoice["status"] != "open":
            raise ApiError(
                400,
                f"You can only pay an open invoice, not a {invoice['status']} one.",
                code="invoice_not_open",
            )
        self.pay_invoice(id)
        return invoice

    def _new_invoice(
        self,
        sub: dict,
        reason: str,
        *,
        now: int,
        period: tuple[int, int],
        include_pending: bool,
        include_subscription: bool,
        emit: bool = True,
    ) -> dict:
        invoice_id = new_id("in_", 24)
        customer = self.customers[sub["customer"]]
        lines = []
        if include_pending:  # pending items come first, as on Stripe's invoices
            for item in self.invoice_items.values():
                item_sub = _get_path(item, "parent", "subscription_details", "subscription")
                if item["invoice"] is None and item["customer"] == sub["customer"]:
                    if item_sub in (None, sub["id"]):
                        item["invoice"] = invoice_id
                        lines.append(_item_line(invoice_id, item, sub["id"]))
        if include_subscription:
            for item in sub["items"]["data"]:
                lines.append(self._subscription_line(invoice_id, sub, item))
        total = sum(line["amount"] for line in lines)
        invoice = {
            "id": invoice_id,
            "object": "invoice",
            "account_country": "JP",
            "account_name": "Engawa (fake Stripe)",
            "amount_due": max(total, 0),
            "amount_overpaid": 0,
            "amount_paid": 0,
            "amount_remaining": max(total, 0),
            "amount_shipping": 0,
            "application": None,
            "attempt_count": 0,
            "attempted": False,
            "auto_advance": True,
            "automatic_tax": {
                "disabled_reason": None,
                "enabled": False,
                "liability": None,
                "provider": None,
                "status": None,
            },
            "automatically_finalizes_at": None,
            "billing_reason": reason,
            "collection_method": sub["collection_method"],
            "created": now,
            "currency": sub["currency"],
            "customer": sub["customer"],
            "customer_address": None,
            "customer_email": customer["email"],
            "customer_name": customer["name"],
            "customer_phone": None,
            "customer_shipping": None,
            "customer_tax_exempt": "none",
            "default_payment_method": None,
            "default_source": None,
            "default_tax_rates": [],
            "description": None,
            "discounts": [],
            "due_date": None,
            "effective_at": None,
            "ending_balance": None,
            "footer": None,
            "from_invoice": None,
            "hosted_invoice_url": None,
            "invoice_pdf": None,
            "issuer": {"type": "self"},
            "last_finalization_error": None,
            "latest_revision": None,
            "lines": {
                "object": "list",
                "data": lines,
                "has_more": False,
                "total_count": len(lines),
                "url": f"/v1/invoices/{invoice_id}/lines",
            },
            "livemode": False,
            "metadata": {},
            "next_payment_attempt": None,
            "number": None,
            "on_behalf_of": None,
            "parent": {
                "quote_details": None,
                "subscription_details": {
                    "metadata": dict(sub["metadata"]),
                    "subscription": sub["id"],
                },
                "type": "subscription_details",
            },
            "payment_settings": {
                "default_mandate": None,
                "payment_method_options": None,
                "payment_method_types": None,
            },
            "period_end": period[1],
            "period_start": period[0],
            "post_payment_credit_notes_amount": 0,
            "pre_payment_credit_notes_amount": 0,
            "receipt_number": None,
            "rendering": None,
            "starting_balance": 0,
            "statement_descriptor": None,
            "status": "draft",
            "status_transitions": {
                "finalized_at": None,
                "marked_uncollectible_at": None,
                "paid_at": None,
                "voided_at": None,
            },
            "subtotal": total,
            "subtotal_excluding_tax": total,
            "test_clock": None,
            "total": total,
            "total_discount_amounts": [],
            "total_excluding_tax": total,
            "total_pretax_credit_amounts": [],
            "total_taxes": [],
            "webhooks_delivered_at": now,
        }
        self.invoices[invoice_id] = invoice
        if emit:
            self._emit("invoice.created", invoice, now=now)
        return invoice

    def _subscription_line(self, invoice_id: str, sub: dict, item: dict) -> dict:
        price = item["price"]
        amount = price["unit_amount"] * item["quantity"]
        name = self._product_names.get(price["product"], "seat")
        return {
            "id": new_id("il_", 24),
            "object": "line_item",
            "amount": amount,
            "currency": price["currency"],
            "description": f"{item['quantity']} × {name} (at ¥{price['unit_amount']:,} / "
            f"{price['recurring']['interval']})",
            "discount_amounts": [],
            "discountable": True,
            "discounts": [],
            "invoice": invoice_id,
            "livemode": False,
            "metadata": dict(sub["metadata"]),
            "parent": {
                "invoice_item_details": None,
                "subscription_item_details": {
                    "invoice_item": None,
                    "proration": False,
                    "proration_details": {"credited_items": None},
                    "subscription": sub["id"],
                    "subscription_item": item["id"],
                },
                "type": "subscription_item_details",
            },
            "period": {
                "end": item["current_period_end"],
                "start": item["current_period_start"],
            },
            "pretax_credit_amounts": [],
            "pricing": {
                "price_details": {"price": price["id"], "product": price["product"]},
                "type": "price_details",
                "unit_amount_decimal": str(price["unit_amount"]),
            },
            "quantity": item["quantity"],
            "subscription": sub["id"],
            "subtotal": amount,
            "taxes": [],
        }

    def _finalize(self, invoice: dict, now: int) -> None:
        customer = self.customers[invoice["customer"]]
        sequence = customer["next_invoice_sequence"]
        customer["next_invoice_sequence"] = sequence + 1
        invoice.update(
            status="open",
            number=f"{customer['invoice_prefix']}-{sequence:04d}",
            effective_at=now,
            hosted_invoice_url=f"{self.url}/invoice/{invoice['id']}",
            invoice_pdf=f"{self.url}/invoice/{invoice['id']}/pdf",
            ending_balance=0,
        )
        invoice["status_transitions"]["finalized_at"] = now
        if invoice["collection_method"] == "send_invoice":
            sub = self.subscriptions[_invoice_subscription(invoice)]
            invoice["due_date"] = now + (sub["days_until_due"] or 0) * DAY
            invoice["auto_advance"] = False
        self._emit("invoice.finalized", invoice, now=now)

    def _settle(self, sub: dict, invoice: dict, paid: bool, now: int) -> None:
        """After finalizing: pay it, or (charging a card) fail and make the sub past_due."""
        if paid or invoice["amount_due"] == 0:
            self._pay(invoice, now)
        elif invoice["collection_method"] == "charge_automatically":
            invoice["attempted"] = True
            invoice["attempt_count"] = 1
            invoice["next_payment_attempt"] = now + 3 * DAY
            self._emit("invoice.payment_failed", invoice, now=now)
            self._set_status(sub, "past_due", now)

    def _pay(self, invoice: dict, now: int) -> None:
        if invoice["status"] == "paid":
            return
        if invoice["status"] != "open":
            raise ValueError(f"invoice {invoice['id']} is {invoice['status']}, not open")
        invoice.update(
            status="paid",
            amount_paid=invoice["amount_due"],
            amount_remaining=0,
            attempted=True,
            attempt_count=invoice["attempt_count"] + 1,
            next_payment_attempt=None,
        )
        invoice["status_transitions"]["paid_at"] = now
        self._emit("invoice.paid", invoice, now=now)
        self._emit("invoice.payment_succeeded", invoice, now=now)

    # --- events over HTTP ---

    def _api_list_events(self, params: dict) -> dict:
        found = [
            event for event in reversed(self.events) if params.get("type") in (None, event["type"])
        ]
        return self._page_of(found, params, "/v1/events")

    def _api_get_event(self, params: dict, id: str) -> dict:
        return self._get(self._events_by_id, id, "event")

    # --- plumbing ---

    def _emit(self, event_type: str, obj: dict, *, now: int | None = None, previous=None):
        event = make_event(
            event_type,
            obj,
            created=now if now is not None else self.now(),
            previous_attributes=previous,
            idempotency_key=self._request_key,
        )
        self.events.append(event)
        self._events_by_id[event["id"]] = event

    def _page_of(self, found: list[dict], params: dict, url: str) -> dict:
        after = params.get("starting_after")
        if after:
            ids = [obj["id"] for obj in found]
            found = found[ids.index(after) + 1 :] if after in ids else []
        limit = _int(params.get("limit", "10"), "limit")
        if not 1 <= limit <= 100:
            raise ApiError(400, "This value must be between 1 and 100.", param="limit")
        return {
            "object": "list",
            "data": found[:limit],
            "has_more": len(found) > limit,
            "url": url,
        }

    def _get(self, store: dict[str, dict], object_id: str, kind: str) -> dict:
        found = store.get(object_id)
        if found is None:
            raise _missing(kind, object_id)
        return found

    def _copy(self, store: dict[str, dict], object_id: str) -> dict:
        with self.lock:
            return copy.deepcopy(store[object_id])

    def _find(self, object_id: str) -> dict:
        for store in (
            self.customers,
            self.prices,
            self.checkout_sessions,
            self.subscriptions,
            self.invoices,
            self.invoice_items,
            self.portal_sessions,
            self.payment_intents,
            self.refunds,
        ):
            if object_id in store:
                return store[object_id]
        raise KeyError(object_id)


# --- small helpers -------------------------------------------------------------------


def _period(sub: dict) -> tuple[int, int]:
    item = sub["items"]["data"][0]
    return item["current_period_start"], item["current_period_end"]


def _plan(price: dict) -> dict:
    return {
        "id": price["id"],
        "object": "plan",
        "active": True,
        "amount": price["unit_amount"],
        "amount_decimal": str(price["unit_amount"]),
        "billing_scheme": "per_unit",
        "created": price["created"],
        "currency": price["currency"],
        "interval": price["recurring"]["interval"],
        "interval_count": price["recurring"]["interval_count"],
        "livemode": False,
        "metadata": {},
        "meter": None,
        "nickname": None,
        "product": price["product"],
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": None,
        "usage_type": "licensed",
    }


def _item_line(invoice_id: str, item: dict, subscription_id: str) -> dict:
    """An invoice item's line: prorations point at their subscription item."""
    subscription_item = _get_path(item, "parent", "subscription_details", "subscription_item")
    details = {
        "invoice_item": item["id"],
        "proration": item["proration"],
        "proration_details": {"credited_items": None},
        "subscription": subscription_id,
    }
    if subscription_item:
        parent = {
            "invoice_item_details": None,
            "subscription_item_details": {**details, "subscription_item": subscription_item},
            "type": "subscription_item_details",
        }
    else:
        parent = {
            "invoice_item_details": details,
            "subscription_item_details": None,
            "type": "invoice_item_details",
        }
    return {
        "id": new_id("il_", 24),
        "object": "line_item",
        "amount": item["amount"],
        "currency": item["currency"],
        "description": item["description"],
        "discount_amounts": [],
        "discountable": item["discountable"],
        "discounts": [],
        "invoice": invoice_id,
        "livemode": False,
        "metadata": dict(item["metadata"]),
        "parent": parent,
        "period": dict(item["period"]),
        "pretax_credit_amounts": [],
        "pricing": copy.deepcopy(item["pricing"]),
        "quantity": item["quantity"],
        "subscription": subscription_id,
        "subtotal": item["amount"],
        "taxes": [],
    }


def _invoice_subscription(invoice: dict) -> str | None:
    return _get_path(invoice, "parent", "subscription_details", "subscription")


def _get_path(obj: Any, *path: str) -> Any:
    for name in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(name)
    return obj


def _merge_metadata(obj: dict, metadata: Any) -> None:
    if isinstance(metadata, dict):
        for key, value in metadata.items():
            if value == "":
                obj["metadata"].pop(key, None)  # Stripe unsets a key sent empty
            else:
                obj["metadata"][key] = value
    elif metadata == "":
        obj["metadata"] = {}


def _require(params: dict, name: str, param: str | None = None) -> Any:
    value = params.get(name)
    if value in (None, ""):
        raise ApiError(
            400,
            f"Missing required param: {param or name}.",
            code="parameter_missing",
            param=param or name,
        )
    return value


def _int(value: Any, param: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise ApiError(
            400, f"Invalid integer: {value}", code="parameter_invalid_integer", param=param
        ) from None


def _bool(value: Any, param: str) -> bool:
    if value in ("true", True):
        return True
    if value in ("false", False):
        return False
    raise ApiError(400, f"Invalid boolean: {value}", param=param)
