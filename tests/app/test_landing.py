"""Where each role lands after signing in: its own home, unless it asked for a page."""

from __future__ import annotations

import pytest

from accounts.models import Role
from tests.conftest import PASSWORD

HOMES = {
    Role.EMPLOYEE: "/",
    Role.COMPANY_ADMIN: "/company/billing",
    Role.OPERATOR: "/operator/",
    Role.PLATFORM_ADMIN: "/admin/",
}


@pytest.mark.parametrize("role", list(HOMES))
def test_each_role_lands_on_its_own_home(client, make_user, role):
    user = make_user(role)
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == HOMES[role]
    assert client.get(HOMES[role]).status_code == 200  # a page the role may open
    # Signed in already, the sign-in page sends the person home too.
    assert client.get("/login").headers["Location"] == HOMES[role]


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.PLATFORM_ADMIN])
def test_a_safe_next_page_wins_over_the_home(client, make_user, role):
    user = make_user(role)
    response = client.post(
        "/login",
        query_string={"next": "/account"},
        data={"email": user.email, "password": PASSWORD},
    )
    assert response.headers["Location"] == "/account"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil"])
def test_an_unsafe_next_page_lands_on_the_home(client, make_user, target):
    user = make_user(Role.OPERATOR)
    response = client.post(
        "/login", query_string={"next": target}, data={"email": user.email, "password": PASSWORD}
    )
    assert response.headers["Location"] == "/operator/"


def test_the_sign_in_page_says_what_engawa_is(client):
    page = client.get("/login").get_data(as_text=True)
    assert 'data-testid="about"' in page
    assert "ワーケーション" in page and "保養所" in page and "運営者" in page
