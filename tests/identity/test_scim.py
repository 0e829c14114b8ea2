"""SCIM 2.0 provisioning against the served app, with a small SCIM client on httpx.

The app is served by a real threaded WSGI server on 127.0.0.1 (``LoopbackServer``);
the client speaks as Entra ID and Okta do. The test's own session ends its
transaction before each request (on SQLite an open transaction holds the write lock).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import func, select

from accounts.audit import AuditEntry
from accounts.models import ApiToken, CompanySso, Role, SsoDomain, User
from billing import ledger
from booking import services as booking
from booking.models import Booking
from core.extensions import db as _db
from core.ratelimit import Limit
from identity import scim, scim_views
from identity.scim_schema import ENTERPRISE_SCHEMA, ERROR, LIST_RESPONSE, PATCH_OP, USER_SCHEMA
from tests.booking.test_race import race
from tests.conftest import NOW, TODAY, LoopbackServer, bearer, days, signed_in

SCIM_JSON = "application/scim+json"


class ScimClient:
    """What an identity provider does, over HTTP: bearer token, SCIM JSON."""

    def __init__(self, url: str, secret: str | None):
        headers = {"Accept": SCIM_JSON}
        if secret is not None:
            headers["Authorization"] = f"Bearer {secret}"
        self.http = httpx.Client(
            base_url=f"{url}/scim/v2", headers=headers, timeout=60, trust_env=False
        )

    def request(self, method: str, path: str, body=None, **kw) -> httpx.Response:
        _db.session.commit()  # the server writes: end the test's transaction first
        if body is not None:
            kw["content"] = body if isinstance(body, str | bytes) else json.dumps(body)
            kw.setdefault("headers", {}).setdefault("Content-Type", SCIM_JSON)
        return self.http.request(method, path, **kw)

    def create(self, body) -> httpx.Response:
        return self.request("POST", "/Users", body)

    def get(self, user_id) -> httpx.Response:
        return self.request("GET", f"/Users/{user_id}")

    def list(self, **params) -> httpx.Response:
        return self.request("GET", "/Users", params=params)

    def put(self, user_id, body) -> httpx.Response:
        return self.request("PUT", f"/Users/{user_id}", body)

    def patch(self, user_id, *operations) -> httpx.Response:
        return self.request(
            "PATCH", f"/Users/{user_id}", {"schemas": [PATCH_OP], "Operations": list(operations)}
        )

    def delete(self, user_id) -> httpx.Response:
        return self.request("DELETE", f"/Users/{user_id}")


@dataclass
class Directory:
    """A company with an admin and a SCIM token (and, unless told otherwise, the
    approved join domain acme.example, where SCIM may provision people)."""

    company_id: int
    admin_id: int
    secret: str


@pytest.fixture
def served(app) -> Iterator[str]:
    with LoopbackServer.wsgi(app, name="scim-server", join_timeout=60) as server:
        yield server.url


@pytest.fixture
def client_for(served):
    clients: list[ScimClient] = []

    def make(secret: str | None) -> ScimClient:
        clients.append(ScimClient(served, secret))
        return clients[-1]

    yield make
    for client in clients:
        client.http.close()


@pytest.fixture
def directory(db, make_company, make_user):
    def make(seats: int = 1000, domain: str | None = "acme.example", **kw) -> Directory:
        if domain is not None:
            kw.setdefault("email_domain", domain)
            kw.setdefault("email_domain_approved_at", NOW)
        company = make_company(seats=seats, **kw)
        admin = make_user(Role.COMPANY_ADMIN, company=company)
        _token, secret = scim.rotate_token(company.id, NOW, actor=admin)
        db.session.commit()
        return Directory(company.id, admin.id, secret)

    return make


def entra_user(email: str, external_id: str = "e1", **extra) -> dict:
    """A create as Entra ID sends it (its default attribute mapping)."""
    return {
        "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
        "externalId": external_id,
        "userName": email,
        "active": True,
        "displayName": "Hanako Sato",
        "emails": [{"primary": True, "type": "work", "value": email}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Hanako Sato", "familyName": "Sato", "givenName": "Hanako"},
        "title": "Engineer",
        ENTERPRISE_SCHEMA: {"department": "R&D", "costCenter": "CC-1"},
        **extra,
    }


def okta_user(email: str, given: str = "Taro", family: str = "Yamada", **extra) -> dict:
    """A create as Okta sends it."""
    return {
        "schemas": [USER_SCHEMA],
        "userName": email,
        "name": {"givenName": given, "familyName": family},
        "emails": [{"primary": True, "value": email, "type": "work"}],
        "displayName": f"{given} {family}",
        "locale": "en-US",
        "externalId": f"00u-{email}",
        "groups": [],
        "password": "not kept",
        "active": True,
        **extra,
    }


def assert_scim_error(response: httpx.Response, status: int, scim_type: str | None = None):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith(SCIM_JSON)
    body = response.json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    assert body["detail"]
    assert body.get("scimType") == scim_type
    return body


def user_count(company_id: int) -> int:
    return _db.session.scalar(
        select(func.count()).select_from(User).where(User.company_id == company_id)
    )


def audit_actions(company_id: int) -> list[str]:
    return list(
        _db.session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.company_id == company_id, AuditEntry.actor_kind == "scim")
            .order_by(AuditEntry.id)
        )
    )


# --- create, get, list ------------------------------------------------------------------


def test_create_get_and_list_as_entra_sends_them(app, db, directory, client_for):
    d = directory()
    client = client_for(d.secret)

    created = client.create(entra_user("Hanako.Sato@Acme.example", "entra-oid-1"))

    assert created.status_code == 201, created.text
    assert created.headers["Content-Type"].startswith(SCIM_JSON)
    body = created.json()
    assert isinstance(body["id"], str) and body["id"].isdigit()
    assert body["userName"] == "hanako.sato@acme.example"
    assert body["name"]["formatted"] == "Hanako Sato"
    assert body["externalId"] == "entra-oid-1"
    assert body["active"] is True
    assert body["schemas"] == [USER_SCHEMA, ENTERPRISE_SCHEMA]  # the department is kept
    assert body[ENTERPRISE_SCHEMA] == {"department": "R&D"}  # the cost centre is not
    meta = body["meta"]
    assert meta["resourceType"] == "User"
    assert meta["created"] == meta["lastModified"] == "2026-12-01T03:00:00Z"
    assert meta["location"] == created.headers["Location"]
    assert meta["location"].startswith(app.config["BASE_URL"].rstrip("/") + "/scim/v2/Users/")

    user = db.session.get(User, int(body["id"]))
    assert (user.role, user.company_id, user.provisioned_by) == ("employee", d.company_id, "scim")
    assert user.password_hash.startswith("!")  # no password signs in yet
    assert audit_actions(d.company_id) == ["scim.user.create", "hr.facts"]

    fetched = client.get(body["id"])
    assert fetched.status_code == 200 and fetched.json() == body
    listed = client.list().json()
    assert listed["schemas"] == [LIST_RESPONSE]
    assert listed["totalResults"] == 2  # the admin and the new employee
    assert [r["id"] for r in listed["Resources"]] == [str(d.admin_id), body["id"]]


def test_okta_create_and_a_japanese_name(app, db, directory, client_for):
    client = client_for(directory().secret)

    western = client.create(okta_user("taro@acme.example")).json()
    japanese = client.create(okta_user("yamada@acme.example", given="太郎", family="山田")).json()

    assert western["name"]["formatted"] == "Taro Yamada"
    assert japanese["name"]["formatted"] == "山田 太郎"
    assert japanese["externalId"] == "00u-yamada@acme.example"


def test_filter_and_paging(app, db, directory, client_for):
    d = directory()
    client = client_for(d.secret)
    ids = [
        client.create(okta_user(f"p{i}@acme.example", externalId=f"x{i}")).json()["id"]
        for i in range(5)
    ]

    found = client.list(filter='userName eq "P3@ACME.example"').json()
    assert (found["totalResults"], [r["id"] for r in found["Resources"]]) == (1, [ids[3]])
    by_external = client.list(filter='externalId eq "x2"').json()
    assert [r["id"] for r in by_external["Resources"]] == [ids[2]]
    assert client.list(filter='externalId eq "X2"').json()["totalResults"] == 0  # caseExact
    nobody = client.list(filter='userName eq "nobody@acme.example"').json()
    assert (nobody["totalResults"], nobody["Resources"], nobody["itemsPerPage"]) == (0, [], 0)

    page = client.list(startIndex=2, count=2).json()
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (6, 2, 2)
    assert [r["id"] for r in page["Resources"]] == ids[0:2]
    last = client.list(startIndex=6, count=10).json()
    assert [r["id"] for r in last["Resources"]] == ids[4:]
    assert client.list(count=0).json() == {
        "schemas": [LIST_RESPONSE],
        "totalResults": 6,
        "startIndex": 1,
        "itemsPerPage": 0,
        "Resources": [],
    }
    assert client.list(startIndex=0, count=-3).json()["startIndex"] == 1
    assert client.list(count=100000).json()["itemsPerPage"] == 6


@pytest.mark.parametrize(
    "bad_filter",
    [
        'displayName eq "x"',
        'userName sw "p"',
        'userName eq "a" and externalId eq "b"',
        "userName eq p@acme.example",
        'userName eq "unterminated',
        'userName eq "\\q"',
        "x" * 2000,
        'externalId eq "\\ud800"',  # a lone surrogate, once the escape is decoded
        'externalId eq "a\\u0000b"',  # a NUL (PostgreSQL cannot even compare it)
        'userName eq "a\\u001fb@acme.example"',
    ],
)
def test_a_filter_beyond_eq_is_refused(app, directory, client_for, bad_filter):
    client = client_for(directory().secret)
    assert_scim_error(client.list(filter=bad_filter), 400, "invalidFilter")


def test_paging_values_must_be_integers(app, directory, client_for):
    client = client_for(directory().secret)
    assert_scim_error(client.list(startIndex="two"), 400, "invalidValue")
    assert_scim_error(client.list(count="1.5"), 400, "invalidValue")


# --- replace and patch ------------------------------------------------------------------


def test_put_replaces_name_address_and_external_id(app, db, directory, client_for):
    d = directory()
    client = client_for(d.secret)
    user_id = client.create(okta_user("old@acme.example")).json()["id"]

    body = okta_user("new@acme.example", given="Jiro", family="Suzuki", externalId="e-9")
    replaced = client.put(user_id, body)

    assert replaced.status_code == 200, replaced.text
    answer = replaced.json()
    assert (answer["userName"], answer["name"]["formatted"], answer["externalId"]) == (
        "new@acme.example",
        "Jiro Suzuki",
        "e-9",
    )
    user = db.session.get(User, int(user_id))
    assert (user.email, user.name, user.external_id) == ("new@acme.example", "Jiro Suzuki", "e-9")
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "scim.user.update")
    ).one()
    assert entry.before_values["userName"] == "old@acme.example"
    assert entry.after_values["userName"] == "new@acme.example"
    # PUT needs the whole User: without userName nothing changes.
    assert_scim_error(client.put(user_id, {"schemas": [USER_SCHEMA]}), 400, "invalidValue")


def test_patch_as_entra_sends_it(app, db, directory, client_for):
    d = directory()
    client = client_for(d.secret)
    user_id = client.create(entra_user("hanako@acme.example", "oid-1")).json()["id"]

    changed = client.patch(
        user_id,
        {"op": "Replace", "path": "name.givenName", "value": "Hana"},
        {"op": "Replace", "path": "name.familyName", "value": "Kato"},
        {"op": "Add", "path": "externalId", "value": "oid-2"},
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "x@acme.example"},
        {"op": "Add", "path": f"{ENTERPRISE_SCHEMA}:department", "value": "Sales"},
        {"op": "Replace", "path": "title", "value": "Manager"},
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"]["formatted"], changed.json()["externalId"]) == (
        "Hana Kato",
        "oid-2",
    )

    off = client.patch(user_id, {"op": "Replace", "path": "active", "value": "False"})
    assert off.status_code == 200 and off.json()["active"] is False
    assert not db.session.get(User, int(user_id)).active

    on = client.patch(user_id, {"op": "Replace", "path": "active", "value": "True"})
    assert on.status_code == 200 and on.json()["active"] is True
    assert db.session.get(User, int(user_id)).active
    assert audit_actions(d.company_id) == [
        "scim.user.create",
        "hr.facts",  # the department R&D
        "scim.user.update",
        "hr.facts",  # the department Sales
        "scim.user.deactivate",
        "scim.user.reactivate",
    ]


def test_patch_as_okta_sends_it(app, db, directory, client_for):
    client = client_for(directory().secret)
    user_id = client.create(okta_user("taro@acme.example")).json()["id"]

    off = client.patch(user_id, {"op": "replace", "value": {"active": False}})
    assert off.status_code == 200 and off.json()["active"] is False
    renamed = client.patch(
        user_id,
        {
            "op": "replace",
            "value": {
                "userName": "taro.y@acme.example",
                "name": {"givenName": "Taro", "familyName": "Yamamoto"},
                "active": True,
            },
        },
    )
    assert renamed.status_code == 200, renamed.text
    answer = renamed.json()
    assert (answer["userName"], answer["name"]["formatted"], answer["active"]) == (
        "taro.y@acme.example",
        "Taro Yamamoto",
        True,
    )
    # A dotted key without a path (an Entra variant) and removing the externalId.
    dotted = client.patch(
        user_id,
        {"op": "Add", "value": {"name.familyName": "Ito"}},
        {"op": "remove", "path": "externalId"},
    )
    assert dotted.json()["name"]["formatted"] == "Taro Ito"
    assert "externalId" not in dotted.json()


def test_deactivation_ends_access_and_cancels_future_stays_with_a_refund(
    app, db, directory, client_for, make_employee, make_unit
):
    d = directory()
    employee = make_employee(company=db.session.get(User, d.admin_id).company)
    future = booking.book_stay(
        employee, booking.StayRequest(make_unit().id, days(20), days(23), 1), NOW
    )
    begun = booking.book_stay(employee, booking.StayRequest(make_unit().id, TODAY, days(2), 1), NOW)
    db.session.commit()
    future_id, begun_id, begun_price = future.id, begun.id, begun.total_price
    # Cancelling the future stay gives its credit back in full; the begun stay stays paid.
    expected_balance = ledger.account_of(d.company_id).credit_balance + future.total_price
    session = signed_in(app, employee)
    headers = bearer(db, employee)
    employee_id = employee.id

    response = client_for(d.secret).patch(
        employee_id, {"op": "replace", "value": {"active": False}}
    )

    assert response.status_code == 200, response.text
    db.session.expire_all()
    assert not db.session.get(User, employee_id).active
    assert db.session.get(Booking, future_id).status == "cancelled"
    assert db.session.get(Booking, begun_id).status == "confirmed"
    assert ledger.account_of(d.company_id).credit_balance == expected_balance
    assert db.session.get(Booking, begun_id).total_price == begun_price
    assert all(t.revoked_at == NOW for t in db.session.scalars(select(ApiToken)))
    assert session.get("/stays").status_code == 302
    assert app.test_client().get("/api/v1/bookings", headers=headers).status_code == 401
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "scim.user.deactivate")
    ).one()
    assert entry.after_values == {"active": False, "stays_cancelled": 1}
    assert (entry.actor_id, entry.object_id) == (None, employee_id)


def test_delete_deactivates_and_loses_nothing(app, db, directory, client_for, make_unit):
    d = directory()
    client = client_for(d.secret)
    user_id = client.create(okta_user("leaver@acme.example")).json()["id"]
    stay = booking.book_stay(
        db.session.get(User, int(user_id)),
        booking.StayRequest(make_unit().id, days(20), days(22), 1),
        NOW,
    )
    db.session.commit()
    stay_id = stay.id

    deleted = client.delete(user_id)

    assert deleted.status_code == 204 and deleted.content == b""
    fetched = client.get(user_id)
    assert fetched.status_code == 200 and fetched.json()["active"] is False
    assert db.session.get(User, int(user_id)) is not None
    assert db.session.get(Booking, stay_id).status == "cancelled"
    assert client.delete(user_id).status_code == 204  # again: nothing more happens
    assert audit_actions(d.company_id).count("scim.user.deactivate") == 1


def test_the_last_admin_cannot_be_deactivated(app, db, directory, client_for, make_user):
    d = directory()
    client = client_for(d.secret)

    refused = client.patch(d.admin_id, {"op": "replace", "value": {"active": False}})
    assert_scim_error(refused, 400, "mutability")
    assert_scim_error(client.delete(d.admin_id), 400, "mutability")
    assert db.session.get(User, d.admin_id).active

    make_user(Role.COMPANY_ADMIN, company=db.session.get(User, d.admin_id).company)
    assert client.delete(d.admin_id).status_code == 204


# --- seats and uniqueness -------------------------------------------------------------


def test_full_seats_refuse_a_create_with_409(app, db, directory, client_for):
    d = directory(seats=1)  # the admin holds the only seat
    client = client_for(d.secret)

    body = assert_scim_error(client.create(okta_user("one.more@acme.example")), 409)
    assert "seat" in body["detail"]
    assert user_count(d.company_id) == 1
    # An inactive person takes no seat; making them active needs one.
    inactive = client.create(okta_user("later@acme.example", active=False))
    assert inactive.status_code == 201 and inactive.json()["active"] is False
    user_id = inactive.json()["id"]
    assert_scim_error(client.patch(user_id, {"op": "replace", "value": {"active": True}}), 409)
    assert not db.session.get(User, int(user_id)).active


def test_a_taken_user_name_or_external_id_is_409_uniqueness(
    app, db, directory, client_for, make_employee
):
    d = directory()
    client = client_for(d.secret)
    # Another company's person at this company's own domain (say, from before the domain
    # was approved): telling the company so reveals nothing outside its own domain.
    make_employee(email="elsewhere@acme.example")
    first = client.create(okta_user("first@acme.example", externalId="same")).json()

    for body in (
        okta_user("FIRST@acme.example", externalId="other"),
        okta_user("elsewhere@acme.example", externalId="x"),
        okta_user("second@acme.example", externalId="same"),
    ):
        assert_scim_error(client.create(body), 409, "uniqueness")
    second = client.create(okta_user("second@acme.example", externalId="two")).json()
    taken = client.patch(
        second["id"], {"op": "replace", "path": "userName", "value": "first@acme.example"}
    )
    assert_scim_error(taken, 409, "uniqueness")
    assert_scim_error(
        client.patch(second["id"], {"op": "add", "path": "externalId", "value": "same"}),
        409,
        "uniqueness",
    )
    assert user_count(d.company_id) == 3
    assert db.session.get(User, int(first["id"])).external_id == "same"


# --- the company's own domains ---------------------------------------------------------


def give_sso_domains(db, company_id: int, *domains: str) -> None:
    db.session.add(
        CompanySso(
            company_id=company_id,
            issuer="https://idp.example",
            client_id="engawa",
            client_secret="not used here",
        )
    )
    db.session.flush()
    db.session.add_all(SsoDomain(domain=domain, company_id=company_id) for domain in domains)
    db.session.commit()


def assert_not_own_domain(response: httpx.Response) -> None:
    body = assert_scim_error(response, 400, "invalidValue")
    assert body["detail"] == scim.NOT_OWN_DOMAIN
    assert "join domain" in body["detail"] and "Engawa approves" in body["detail"]


def test_a_user_name_outside_the_companys_domains_is_400_and_makes_nobody(
    app, db, directory, client_for, make_user, make_employee
):
    d = directory(seats=1)  # full: refusing the domain comes before anything else
    b = directory(domain="b.example")
    directory(domain="jp.acme.example")  # a more specific domain is that company's
    make_employee(email="ceo@b.example", company=db.session.get(User, b.admin_id).company)
    make_user(Role.PLATFORM_ADMIN, email="root@engawa.example")
    client = client_for(d.secret)

    for email in (
        "ceo@b.example",  # another company's person: not told apart from ...
        "free@b.example",  # ... a free address there
        "root@engawa.example",
        "x@jp.acme.example",
        "x@acme.example.evil.example",
        "x@notacme.example",
        "x@gmail.com",
    ):
        assert_not_own_domain(client.create(okta_user(email)))
        assert_not_own_domain(client.create(okta_user(email, active=False)))  # no seat either
    assert user_count(d.company_id) == 1
    assert audit_actions(d.company_id) == []
    # At the company's own domain the seats decide; a subdomain is the company's too.
    assert_scim_error(client.create(okta_user("new@acme.example")), 409)
    sub = client.create(okta_user("new@tokyo.acme.example", active=False))
    assert sub.status_code == 201, sub.text


def test_sso_domains_are_the_companys_own_and_nothing_else_without_approval(
    app, db, directory, client_for
):
    pending = directory(domain=None, email_domain="pending.example")  # not yet approved
    nothing = directory(domain=None)
    sso_only = directory(domain=None)
    give_sso_domains(db, sso_only.company_id, "group.example")

    for d in (pending, nothing):
        client = client_for(d.secret)
        for email in ("a@pending.example", "a@acme.example", "a@group.example"):
            assert_not_own_domain(client.create(okta_user(email, active=False)))
        assert user_count(d.company_id) == 1
    client = client_for(sso_only.secret)
    assert client.create(okta_user("a@group.example")).status_code == 201
    assert_not_own_domain(client.create(okta_user("a@sub.group.example")))
    assert_not_own_domain(client.create(okta_user("a@pending.example")))


def test_renaming_to_an_address_outside_the_companys_domains_is_400_and_unchanged(
    app, db, directory, client_for, make_employee
):
    d = directory()
    other = directory(domain="b.example")
    make_employee(email="taken@b.example", company=db.session.get(User, other.admin_id).company)
    client = client_for(d.secret)
    user_id = client.create(okta_user("taro@acme.example")).json()["id"]
    admin_email = db.session.get(User, d.admin_id).email  # made before the domain rule
    admin_body = okta_user(admin_email, externalId="boss")

    for target, email in (
        (d.admin_id, "boss@evil.example"),  # a reset link would be mailed there
        (d.admin_id, "taken@b.example"),
        (user_id, "taken@b.example"),  # not told apart from a free address
        (user_id, "free@b.example"),
    ):
        assert_not_own_domain(client.put(target, okta_user(email)))
        assert_not_own_domain(
            client.patch(target, {"op": "replace", "path": "userName", "value": email})
        )
        assert_not_own_domain(client.patch(target, {"op": "replace", "value": {"userName": email}}))
    db.session.expire_all()
    assert db.session.get(User, d.admin_id).email == admin_email
    assert db.session.get(User, int(user_id)).email == "taro@acme.example"
    assert audit_actions(d.company_id) == ["scim.user.create"]
    # An address kept as it is is no rename, wherever it is; a rename at home is allowed.
    assert client.put(d.admin_id, admin_body).status_code == 200
    moved = client.patch(
        d.admin_id, {"op": "replace", "path": "userName", "value": "b@acme.example"}
    )
    assert moved.status_code == 200, moved.text
    assert db.session.get(User, d.admin_id).email == "b@acme.example"


# --- tenant walls and tokens ----------------------------------------------------------


def test_a_token_never_reaches_another_companys_people(app, db, directory, client_for):
    mine, theirs = directory(), directory(domain="theirs.example")
    client = client_for(mine.secret)
    other = client_for(theirs.secret)
    user_id = client.create(okta_user("private@acme.example")).json()["id"]

    for response in (
        other.get(user_id),
        other.get(mine.admin_id),
        other.put(user_id, okta_user("stolen@evil.example")),
        other.patch(user_id, {"op": "replace", "value": {"active": False}}),
        other.delete(user_id),
        other.delete(mine.admin_id),
        other.get("999999"),
        other.get("abc"),
        other.get(str(2**40)),
        other.get("-1"),
    ):
        assert_scim_error(response, 404)
    listed = other.list().json()
    assert [r["id"] for r in listed["Resources"]] == [str(theirs.admin_id)]
    assert other.list(filter='userName eq "private@acme.example"').json()["totalResults"] == 0
    user = db.session.get(User, int(user_id))
    assert (user.email, user.active) == ("private@acme.example", True)


def test_a_rotated_or_revoked_token_is_refused_with_401(app, db, directory, client_for):
    d = directory()
    old = client_for(d.secret)
    assert old.list().status_code == 200

    _token, new_secret = scim.rotate_token(d.company_id, NOW, actor=None)
    db.session.commit()
    refused = old.list()
    assert_scim_error(refused, 401)
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    new = client_for(new_secret)
    assert new.list().status_code == 200

    scim.revoke_token(d.company_id, NOW, actor=None)
    db.session.commit()
    assert_scim_error(new.list(), 401)
    for client in (client_for(None), client_for("scim_not-a-token"), client_for("x" * 500)):
        assert_scim_error(client.list(), 401)
        assert_scim_error(client.create(okta_user("a@acme.example")), 401)


def test_a_deactivated_companys_token_is_refused(app, db, directory, client_for):
    d = directory()
    user = db.session.get(User, d.admin_id)
    user.company.active = False
    db.session.commit()
    assert_scim_error(client_for(d.secret).list(), 401)


def test_wrong_tokens_are_limited_per_address(app, db, directory, client_for, monkeypatch):
    monkeypatch.setattr(scim_views, "BAD_TOKENS_PER_IP", Limit("scim-bad-token-ip", 3, 3600))
    d = directory()
    wrong = client_for("scim_wrong")
    assert [wrong.list().status_code for _ in range(3)] == [401] * 3
    limited = wrong.list()
    assert_scim_error(limited, 429)
    assert int(limited.headers["Retry-After"]) > 0
    assert_scim_error(client_for(None).list(), 429)  # no token counts as a wrong one
    assert client_for(d.secret).list().status_code == 200  # a valid token is never held up


def test_a_tenants_wrong_token_does_not_stop_other_companies_provisioning(
    app, db, directory, client_for
):
    """Identity providers provision every customer from the same addresses: one
    customer's wrong token must not hold up the others (the real limit, 20 an hour)."""
    d = directory()
    wrong = client_for("scim_wrong-token-of-another-tenant")
    statuses = [wrong.list().status_code for _ in range(25)]
    assert statuses == [401] * 20 + [429] * 5

    right = client_for(d.secret)
    assert right.list().status_code == 200
    created = right.create(okta_user("still.works@acme.example"))
    assert created.status_code == 201, created.text
    assert_scim_error(wrong.list(), 429)
    assert_scim_error(wrong.create(okta_user("x@acme.example")), 429)
    assert user_count(d.company_id) == 2


def test_token_use_is_recorded(app, db, directory, client_for):
    d = directory()
    assert scim.live_token(d.company_id).last_used_at is None
    client_for(d.secret).list()
    assert scim.live_token(d.company_id).last_used_at == NOW


# --- bad input ---------------------------------------------------------------------------


def a_user(**extra) -> dict:
    return {"schemas": [USER_SCHEMA], "userName": "a@acme.example", **extra}


@pytest.mark.parametrize(
    ("body", "scim_type"),
    [
        ("{not json", "invalidSyntax"),
        ('{"userName": NaN}', "invalidSyntax"),
        ([], "invalidSyntax"),
        ({"userName": "a@acme.example"}, "invalidSyntax"),  # no schemas
        (a_user(shoeSize=42), "invalidSyntax"),
        (a_user(**{"urn:x:ext": {}}), "invalidSyntax"),
        (a_user(name={"nick": "a"}), "invalidSyntax"),
        (a_user(UserName="b@acme.example"), "invalidSyntax"),  # names are case-insensitive
        (a_user(userName="not an address"), "invalidValue"),
        (a_user(userName=7), "invalidValue"),
        ({"schemas": [USER_SCHEMA]}, "invalidValue"),
        (a_user(active="maybe"), "invalidValue"),
        (a_user(externalId=5), "invalidValue"),
        (a_user(name={"formatted": "x" * 201}), "invalidValue"),
        (a_user(name={"givenName": "x" * 150, "familyName": "y" * 150}), "invalidValue"),
    ],
)
def test_a_bad_create_is_400_and_makes_nobody(app, db, directory, client_for, body, scim_type):
    d = directory()
    assert_scim_error(client_for(d.secret).create(body), 400, scim_type)
    assert user_count(d.company_id) == 1


@pytest.mark.parametrize(
    ("operations", "scim_type"),
    [
        ([{"op": "replace", "path": "shoeSize", "value": 1}], "invalidPath"),
        ([{"op": "replace", "path": "name.nick", "value": "x"}], "invalidPath"),
        ([{"op": "replace", "value": {"shoeSize": 1}}], "invalidPath"),
        ([{"op": "move", "path": "active", "value": False}], "invalidSyntax"),
        ([{"op": "remove"}], "noTarget"),
        ([{"op": "remove", "path": "userName"}], "mutability"),
        ([{"op": "replace", "path": "id", "value": "5"}], "mutability"),
        ([{"op": "replace", "path": "active"}], "invalidSyntax"),
        ([{"op": "replace", "path": "active", "value": "nope"}], "invalidValue"),
        ([{"op": "replace", "value": "active"}], "invalidSyntax"),
        ([], "invalidSyntax"),
        ("not a list", "invalidSyntax"),
    ],
)
def test_a_bad_patch_is_400_and_changes_nothing(
    app, db, directory, client_for, operations, scim_type
):
    d = directory()
    client = client_for(d.secret)
    user_id = client.create(okta_user("keep@acme.example")).json()["id"]
    renamed_first = [{"op": "replace", "path": "name.formatted", "value": "Changed"}]
    ops = renamed_first + operations if isinstance(operations, list) and operations else operations
    body = {"schemas": [PATCH_OP], "Operations": ops}
    assert_scim_error(client.request("PATCH", f"/Users/{user_id}", body), 400, scim_type)
    assert db.session.get(User, int(user_id)).name == "Taro Yamada"


def test_a_patch_without_the_patch_schema_is_refused(app, directory, client_for):
    client = client_for(directory().secret)
    user_id = client.create(okta_user("a@acme.example")).json()["id"]
    body = {"Operations": [{"op": "replace", "value": {"active": False}}]}
    assert_scim_error(client.request("PATCH", f"/Users/{user_id}", body), 400, "invalidSyntax")


def test_body_types_and_control_characters(app, db, directory, client_for):
    d = directory()
    client = client_for(d.secret)
    as_json = client.request(
        "POST", "/Users", okta_user("j@acme.example"), headers={"Content-Type": "application/json"}
    )
    assert as_json.status_code == 201
    form = client.request(
        "POST",
        "/Users",
        "userName=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_scim_error(form, 415)
    nul = client.create(okta_user("n@acme.example", given="Ta\u0000ro"))
    assert_scim_error(nul, 400, "invalidSyntax")
    assert user_count(d.company_id) == 2


# --- routes, discovery, CSRF ------------------------------------------------------------


def test_unknown_routes_and_methods_answer_in_scim_shape(app, directory, client_for):
    client = client_for(directory().secret)
    assert_scim_error(client.request("GET", "/Groups"), 404)
    assert_scim_error(client.request("GET", ""), 404)
    assert_scim_error(client.request("GET", "/Users/1/extra"), 404)
    not_allowed = client.request("POST", "/Users/1", okta_user("a@acme.example"))
    assert_scim_error(not_allowed, 405)
    assert "PATCH" in not_allowed.headers["Allow"]
    assert_scim_error(client.request("DELETE", "/Users"), 405)
    assert_scim_error(client.request("GET", "/ResourceTypes/Group"), 404)
    assert_scim_error(client.request("GET", "/Schemas/urn:x"), 404)


def test_discovery_documents(app, directory, client_for):
    client = client_for(directory().secret)
    config = client.request("GET", "/ServiceProviderConfig").json()
    assert config["patch"]["supported"] is True
    assert config["filter"] == {"supported": True, "maxResults": 200}
    assert config["bulk"]["supported"] is False
    assert config["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    types = client.request("GET", "/ResourceTypes").json()
    assert [t["id"] for t in types["Resources"]] == ["User"]
    assert client.request("GET", "/ResourceTypes/User").json()["endpoint"] == "/Users"
    schemas = client.request("GET", "/Schemas").json()
    assert [s["id"] for s in schemas["Resources"]] == [USER_SCHEMA, ENTERPRISE_SCHEMA]
    one = client.request("GET", f"/Schemas/{USER_SCHEMA}").json()
    names = [a["name"] for a in one["attributes"]]
    assert {"userName", "name", "active", "externalId"} <= set(names)
    # Discovery needs the token too.
    assert_scim_error(client_for(None).request("GET", "/ServiceProviderConfig"), 401)


def test_no_csrf_token_is_needed(app, db, directory, client_for):
    app.config["WTF_CSRF_ENABLED"] = True
    client = client_for(directory().secret)
    assert client.create(okta_user("csrf@acme.example")).status_code == 201


# --- races ------------------------------------------------------------------------------

RACERS = 8


def test_racing_creates_for_the_last_seat_make_one_person(app, db, directory, client_for):
    d = directory(seats=2)  # the admin holds one: one seat is left
    clients = [client_for(d.secret) for _ in range(RACERS)]
    db.session.remove()  # release the connection (and, on SQLite, the write lock)

    def work(i: int, barrier: threading.Barrier):
        barrier.wait()
        body = json.dumps(okta_user(f"racer{i}@acme.example"))
        response = clients[i].http.post("/Users", content=body, headers={"Content-Type": SCIM_JSON})
        return response.status_code, response.json()[
            "detail"
        ] if response.status_code == 409 else ""

    outcomes = race(RACERS, work)

    assert Counter(status for status, _detail in outcomes) == {201: 1, 409: RACERS - 1}, outcomes
    assert all("seat" in detail for status, detail in outcomes if status == 409)
    assert user_count(d.company_id) == 2
    assert audit_actions(d.company_id) == ["scim.user.create"]
