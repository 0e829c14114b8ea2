"""The simulated employees of ``benchmarks/surge.py``: a peak season opens and they come.

One thread per employee, each with its own keep-alive connection to nginx and its own
address (``surge_stack.CLIENT_HEADER``). An employee signs in through the sign-in form
(a browser's session cookie and CSRF token), then until the end: searches the peak
for a stay of their own (the HTML results page, a place anywhere in Japan, a region
or a prefecture), opens one or two of the facilities found (the facility page with
the stay chosen), and books one of its free rooms through the JSON API with their own
token and an ``Idempotency-Key``; after a booking they open it (``/stays/<id>``: what
they just wrote, which must be there). Someone holding a stay sometimes cancels it
(``DELETE /api/v1/bookings/<id>``) and books again later; the others keep browsing.
Between pages each pauses as a person reading would (``think`` seconds on average).

A booking or cancellation that got no answer (the connection broke, or nginx answered
502 because the node died under it) is sent once more with the same key, as a client
following the API's documentation does. Every request is recorded with its kind, its
start and end, its status, and the node(s) that served it.
"""

from __future__ import annotations

import html
import http.client
import json
import random
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.cookies import SimpleCookie
from urllib.parse import urlencode

from surge_stack import CLIENT_HEADER, LOOPBACK

NO_ANSWER = 0  # the status recorded when the connection failed
RETRYABLE = (NO_ANSWER, 502, 503, 504)
REQUEST_TIMEOUT = 90  # beyond nginx's 60 s read timeout: nginx answers first
# The pages and calls, in the order the report lists them.
KINDS = (
    "sign-in page",
    "sign-in",
    "search",
    "facility",
    "book",
    "stay page",
    "cancel",
)
_CSRF = re.compile(r'<input[^>]*name="csrf_token"[^>]*>')
_VALUE = re.compile(r'value="([^"]*)"')
_RESULT_LINK = re.compile(r'href="(/facilities/(\d+)\?unit_id=(\d+)[^"]*)"')
_ROOM = re.compile(r'<input type="radio" name="unit_id" value="(\d+)"[^>]*>')


@dataclass(frozen=True)
class Record:
    kind: str
    employee: int
    started: float  # time.monotonic()
    ended: float
    status: int  # NO_ANSWER when none came
    upstream: str  # nginx's $upstream_addr: the node(s) tried
    detail: str  # the API's error code, or the exception

    @property
    def seconds(self) -> float:
        return self.ended - self.started


@dataclass(frozen=True)
class Peak:
    """A peak season: its first and last nights."""

    name: str
    first_night: date
    last_night: date


def peaks_after(today: date) -> list[Peak]:
    out = []
    for year in (today.year, today.year + 1):
        out += [
            Peak("Golden Week", date(year, 4, 29), date(year, 5, 5)),
            Peak("Obon", date(year, 8, 12), date(year, 8, 16)),
            Peak("New Year", date(year, 12, 28), date(year + 1, 1, 3)),
        ]
    return [p for p in out if p.first_night > today]


def opening_peak(today: date, horizon_days: int) -> Peak:
    """The peak whose bookings opened most recently: the latest one that lies wholly
    inside the booking horizon (else the next one, cut at the horizon)."""
    last_check_in = today + timedelta(days=horizon_days)
    inside = [p for p in peaks_after(today) if p.last_night < last_check_in]
    if inside:
        return max(inside, key=lambda p: p.first_night)
    first = min(peaks_after(today), key=lambda p: p.first_night)
    return Peak(first.name, first.first_night, min(first.last_night, last_check_in))


@dataclass
class Plan:
    """What every employee does, and when the run ends."""

    port: int
    peak: Peak
    # The search form's place values, by kind (anywhere, regions, prefectures): an
    # employee picks a kind, then a value of it.
    places: list[list[str]]
    password: str
    think: float  # mean pause between pages, seconds
    ramp: float  # employees arrive spread over this many seconds
    cancel_share: float  # chance, per round, that someone holding a stay cancels it
    stop_at: float  # time.monotonic() when employees stop starting requests


@dataclass
class Outcome:
    """Everything the employees saw, shared by their threads."""

    records: list[Record] = field(default_factory=list)
    booked: dict[int, int] = field(default_factory=dict)  # booking id -> user id (201s)
    answered_201: int = 0
    cancelled: set[int] = field(default_factory=set)  # answered 204 (or already cancelled)
    unanswered_books: int = 0  # bookings whose retry got no answer either
    unanswered_cancels: set[int] = field(default_factory=set)
    signed_in: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, record: Record) -> None:
        with self.lock:
            self.records.append(record)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> dict:
        try:
            value = json.loads(self.body)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def error_code(self) -> str:
        error = self.json().get("error")
        return str(error.get("code", "")) if isinstance(error, dict) else ""


class Browser:
    """One employee's connection, cookies and address."""

    def __init__(self, plan: Plan, outcome: Outcome, employee: int, address: str) -> None:
        self.plan, self.outcome, self.employee = plan, outcome, employee
        self.address = address
        self.cookies: dict[str, str] = {}
        self.conn: http.client.HTTPConnection | None = None

    def request(
        self, kind: str, method: str, path: str, body: bytes | None = None, **headers: str
    ) -> Answer:
        sent = {CLIENT_HEADER: self.address, "Accept-Language": "ja", **headers}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        started = time.monotonic()
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(LOOPBACK, self.plan.port, REQUEST_TIMEOUT)
            self.conn.request(method, path, body=body, headers=sent)
            response = self.conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            ended = time.monotonic()
            self._record(kind, started, ended, NO_ANSWER, "", type(exc).__name__)
            return Answer(NO_ANSWER, {}, b"")
        ended = time.monotonic()
        answer = Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, payload)
        for raw in response.headers.get_all("Set-Cookie") or []:
            cookie = SimpleCookie()
            cookie.load(raw)
            for name, morsel in cookie.items():
                self.cookies[name] = morsel.value
        if response.will_close:
            self.conn.close()
            self.conn = None
        detail = answer.error_code() if path.startswith("/api/") and answer.status >= 400 else ""
        self._record(
            kind, started, ended, answer.status, answer.headers.get("x-upstream", ""), detail
        )
        return answer

    def _record(self, kind, started, ended, status, upstream, detail) -> None:
        self.outcome.add(Record(kind, self.employee, started, ended, status, upstream, detail))

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


class Employee:
    """One person's session: sign in, then search, look, book, now and then cancel."""

    def __init__(self, plan: Plan, outcome: Outcome, index: int, user_id: int, email: str,
                 token: str, seed: int) -> None:  # fmt: skip
        self.plan, self.outcome = plan, outcome
        self.index, self.user_id, self.email, self.token = index, user_id, email, token
        self.rng = random.Random(seed)
        # 10.x.y.z: each employee reaches the service from an address of their own.
        address = f"10.{index // 62_500 % 250}.{index // 250 % 250}.{index % 250 + 1}"
        self.browser = Browser(plan, outcome, index, address)
        self.holding: int | None = None  # the booking id held, if any

    # -- the session ------------------------------------------------------------------

    def run(self, start_at: float) -> None:
        try:
            self._pause_until(start_at)
            if not self.sign_in():
                return
            while self._running():
                self.round()
        finally:
            self.browser.close()

    def round(self) -> None:
        check_in, check_out, guests = self._stay()
        place = self.rng.choice(self.rng.choice(self.plan.places))
        search = self.browser.request("search", "GET", "/?" + urlencode({
            "place": place, "check_in": check_in.isoformat(),
            "check_out": check_out.isoformat(), "guests": guests,
        }))  # fmt: skip
        self._think()
        links = [html.unescape(m.group(1)) for m in _RESULT_LINK.finditer(search.text)]
        if search.status != 200 or not links or not self._running():
            return
        # People look at the first results; the first is the cheapest room.
        looked = self.rng.sample(links[:6], min(len(links[:6]), 1 + (self.rng.random() < 0.3)))
        rooms: list[tuple[int, str]] = []
        for link in looked:
            page = self.browser.request("facility", "GET", link)
            rooms = [(int(u), link) for u in _offered_rooms(page.text)] or rooms
            self._think()
            if not self._running():
                return
        if self.holding is None:
            if rooms:
                unit_id = self.rng.choice(rooms)[0]
                self.book(unit_id, check_in, check_out, guests)
        elif self.rng.random() < self.plan.cancel_share:
            self.cancel(self.holding)
        self._think()

    # -- what they do -------------------------------------------------------------------

    def sign_in(self) -> bool:
        for _attempt in range(3):
            page = self.browser.request("sign-in page", "GET", "/login")
            match = _CSRF.search(page.text)
            token = _VALUE.search(match.group(0)) if match else None
            if page.status == 200 and token:
                form = urlencode({"csrf_token": html.unescape(token.group(1)),
                                  "email": self.email, "password": self.plan.password})  # fmt: skip
                answer = self.browser.request(
                    "sign-in", "POST", "/login", form.encode(),
                    **{"Content-Type": "application/x-www-form-urlencoded"},
                )  # fmt: skip
                if answer.status in (302, 303) and "/login" not in answer.headers.get(
                    "location", ""
                ):
                    with self.outcome.lock:
                        self.outcome.signed_in += 1
                    return True
            self._think()
            if not self._running():
                return False
        return False

    def book(self, unit_id: int, check_in: date, check_out: date, guests: int) -> None:
        stay = {"unit_id": unit_id, "check_in": check_in.isoformat(),
                "check_out": check_out.isoformat(), "guests": guests}  # fmt: skip
        body = json.dumps(stay).encode()
        headers = {**self._api_headers(), "Content-Type": "application/json",
                   "Idempotency-Key": uuid.uuid4().hex}  # fmt: skip
        answer = self._with_one_retry(
            lambda: self.browser.request("book", "POST", "/api/v1/bookings", body, **headers)
        )
        if answer.status == 201:
            booking_id = int(answer.json()["id"])
            with self.outcome.lock:
                self.outcome.answered_201 += 1
                self.outcome.booked[booking_id] = self.user_id
            self.holding = booking_id
            self._think()
            self.browser.request("stay page", "GET", f"/stays/{booking_id}")
        elif answer.status in RETRYABLE:
            with self.outcome.lock:
                self.outcome.unanswered_books += 1
        elif answer.status == 429:
            self._back_off(answer)

    def cancel(self, booking_id: int) -> None:
        path = f"/api/v1/bookings/{booking_id}"
        answer = self._with_one_retry(
            lambda: self.browser.request("cancel", "DELETE", path, **self._api_headers())
        )
        if answer.status == 204 or (
            answer.status == 409 and answer.error_code() == "not_cancellable"
        ):
            with self.outcome.lock:
                self.outcome.cancelled.add(booking_id)
            self.holding = None
        elif answer.status in RETRYABLE:
            with self.outcome.lock:
                self.outcome.unanswered_cancels.add(booking_id)
        elif answer.status == 429:
            self._back_off(answer)

    # -- helpers ----------------------------------------------------------------------

    def _with_one_retry(self, send: Callable[[], Answer]) -> Answer:
        answer = send()
        if answer.status in RETRYABLE:
            time.sleep(0.5)
            answer = send()
        return answer

    def _api_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}

    def _stay(self) -> tuple[date, date, int]:
        peak = self.plan.peak
        nights = self.rng.choice((2, 2, 3, 3, 4))
        span = (peak.last_night - peak.first_night).days + 1
        nights = min(nights, span)
        check_in = peak.first_night + timedelta(days=self.rng.randint(0, span - nights))
        return check_in, check_in + timedelta(days=nights), self.rng.choice((1, 1, 2, 2, 3, 4))

    def _running(self) -> bool:
        return time.monotonic() < self.plan.stop_at

    def _think(self) -> None:
        self._pause_until(time.monotonic() + self.plan.think * self.rng.uniform(0.25, 1.75))

    def _back_off(self, answer: Answer) -> None:
        retry = answer.headers.get("retry-after", "1")
        self._pause_until(time.monotonic() + (int(retry) if retry.isdigit() else 1))

    def _pause_until(self, moment: float) -> None:
        time.sleep(max(0.0, min(moment, self.plan.stop_at) - time.monotonic()))


def _offered_rooms(page: str) -> list[str]:
    """The facility page's rooms that can be chosen for the stay (not disabled)."""
    return [m.group(1) for m in _ROOM.finditer(page) if "disabled" not in m.group(0)]


def run_employees(
    plan: Plan, outcome: Outcome, employees: list, seed: int
) -> list[threading.Thread]:
    """Start one thread per employee (arriving over ``plan.ramp`` seconds); the threads."""
    rng = random.Random(seed)
    start = time.monotonic()
    threads = []
    for person in employees:
        employee = Employee(plan, outcome, person.index, person.user_id, person.email,
                            person.token, seed * 100_003 + person.index)  # fmt: skip
        thread = threading.Thread(
            target=employee.run,
            args=(start + rng.uniform(0, plan.ramp),),
            name=f"employee-{person.index}",
            daemon=True,
        )
        thread.start()
        threads.append(thread)
    return threads
