"""Fixtures shared by the integration tests (the stack itself is in tests/conftest.py)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from tests.live_stack import Stack
from tests.oidc_flow import admin_api


@pytest.fixture()
def temp_user(stack: Stack) -> Iterator[dict]:
    """A throw-away realm user, so changing roles does not disturb the demo users."""
    api = admin_api(stack.keycloak_url)
    name = f"temp-{secrets.token_hex(4)}"
    created = api.post(
        f"{api.base_url}/users",
        json={
            "username": name,
            "enabled": True,
            "email": f"{name}@example.com",
            "emailVerified": True,
            "firstName": "Temp",
            "lastName": "User",
            "credentials": [{"type": "password", "value": f"{name}-password", "temporary": False}],
        },
    )
    assert created.status_code == 201, created.text
    user_id = created.headers["Location"].rsplit("/", 1)[1]
    yield {"api": api, "id": user_id, "username": name}
    api.delete(f"{api.base_url}/users/{user_id}")
