"""Bearer tokens of service accounts and of revoked sign-ins; Keycloak's admin events.

Tokens are signed with keys made here; the revocation table lives in a throwaway
portal database. The live behaviour (Keycloak's events, timings) is in
tests/integration/test_revocation_live.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from portal.auth import revocation
from portal.auth.jwks import JwksCache
from portal.auth.provider import Provider
from portal.auth.tokens import TokenError, TokenVerifier
from portal.identity import ClaimsError
from portal.services import services
from portal.settings import Settings
from tests.unit.conftest import AUDIENCE, ISSUER
from tests.unit.conftest_registry import make_app
from tests.unit.demo import DEMO_USERS
from tests.unit.portal_client import sign_in, whoami

BOB = DEMO_USERS["bob"]


@pytest.fixture
def provider(realm: Any) -> Provider:
    keys = JwksCache(jwks_uri=f"{ISSUER}/protocol/openid-connect/certs", fetch=realm.fetch)
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, keys=keys)
    return Provider(settings=Settings(client_id="dash"), client=None, verifier=verifier)


def test_a_person_token_is_a_user(realm: Any, provider: Provider) -> None:
    user = provider.verify_bearer(realm.sign(realm.access_claims()))
    assert user.username == "alice"


def test_an_unmapped_service_account_is_no_user(realm: Any, provider: Provider) -> None:
    token = realm.sign(
        realm.access_claims(preferred_username="service-account-dash-admin", azp="dash-admin")
    )
    with pytest.raises(ClaimsError, match="service accounts"):
        provider.verify_bearer(token)


def test_the_deployment_service_account_is_mapped_on_purpose(
    realm: Any, provider: Provider
) -> None:
    token = realm.sign(
        realm.access_claims(preferred_username="service-account-dash-deploy", azp="dash-deploy")
    )
    assert provider.verify_bearer(token).username == "service-account-dash-deploy"
    # Another client cannot borrow the mapped name.
    borrowed = realm.sign(
        realm.access_claims(preferred_username="service-account-dash-deploy", azp="dash-admin")
    )
    with pytest.raises(ClaimsError):
        provider.verify_bearer(borrowed)


def test_a_token_from_a_sign_in_before_the_revocation_is_refused(
    realm: Any, provider: Provider
) -> None:
    now = int(time.time())
    token = realm.sign(realm.access_claims(iat=now, auth_time=now - 100))
    with pytest.raises(TokenError, match="revoked"):
        provider.verify_bearer(token, not_before=lambda sub: now - 50)
    # auth_time has whole seconds: a sign-in in the second of the revocation is refused.
    with pytest.raises(TokenError, match="revoked"):
        provider.verify_bearer(token, not_before=lambda sub: now - 99.5)
    # A refreshed token keeps auth_time: still refused although issued after.
    assert provider.verify_bearer(token, not_before=lambda sub: now - 150).username == "alice"
    assert provider.verify_bearer(token, not_before=lambda sub: None).username == "alice"


def _event(path: str, operation: str, representation: dict | None = None) -> dict:
    return {
        "id": f"{operation}-{path}",
        "time": 1_800_000_000_000,
        "operationType": operation,
        "resourceType": "USER",
        "resourcePath": path,
        "representation": json.dumps(representation) if representation is not None else None,
    }


def test_which_admin_events_revoke_a_user() -> None:
    revoked = revocation.revoked_user
    assert revoked(_event("users/u-1", "UPDATE", {"enabled": False})) == ("u-1", 1_800_000_000)
    assert revoked(_event("users/u-1", "DELETE")) == ("u-1", 1_800_000_000)
    assert revoked(_event("users/u-1/logout", "ACTION")) == ("u-1", 1_800_000_000)
    assert revoked(_event("users/u-1", "UPDATE", {"enabled": True})) is None
    assert revoked(_event("users/u-1", "UPDATE", {"email": "x@example.com"})) is None
    assert revoked(_event("users/u-1/reset-password", "ACTION")) is None
    assert revoked(_event("groups/g-1", "DELETE")) is None
    assert revoked({**_event("users/u-1", "UPDATE"), "representation": "{not json"}) is None


class Directory:
    def __init__(self, events: list[dict]) -> None:
        self.events = events

    def user_admin_events(self) -> list[dict]:
        return list(self.events)


def test_the_watcher_revokes_once_and_ends_portal_sessions(app: Flask) -> None:
    now_ms = int(time.time() * 1000)
    old = {**_event("users/u-old", "DELETE"), "time": now_ms - 3_600_000}
    disabled = {**_event("users/u-1", "UPDATE", {"enabled": False}), "time": now_ms}
    directory = Directory([disabled, old])  # newest first, as Keycloak lists them
    services(app).directory = directory
    watcher = revocation.AdminEventWatcher(app, interval=5)
    ended: list[str] = []
    with app.app_context():
        revoked = watcher.poll_once(end_sessions=lambda sub: ended.append(sub) or 1)
        assert revoked == ["u-1"]  # the event from before the watcher started is ignored
        assert revocation.not_before("u-1") == pytest.approx(now_ms / 1000)
        assert revocation.not_before("u-old") is None
        assert watcher.poll_once(end_sessions=lambda sub: ended.append(sub) or 1) == []
        directory.events.insert(0, {**_event("users/u-2/logout", "ACTION"), "time": now_ms})
        assert watcher.poll_once(end_sessions=lambda sub: ended.append(sub) or 1) == ["u-2"]
    assert ended == ["u-1", "u-2"]


def test_revoking_never_moves_the_time_back(app: Flask) -> None:
    with app.app_context():
        revocation.revoke("u-1", at=2000.0)
        revocation.revoke("u-1", at=1000.0)
        assert revocation.not_before("u-1") == 2000.0
        revocation.revoke("u-1")
        assert revocation.not_before("u-1") == pytest.approx(time.time(), abs=5)


class Sessions:
    """Keycloak's live sessions of each user, as the directory reports them."""

    def __init__(self, alive: dict[str, frozenset[str] | None]) -> None:
        self.alive = alive
        self.asked: list[str] = []

    def session_ids(self, sub: str) -> frozenset[str] | None:
        self.asked.append(sub)
        return self.alive[sub]


def test_a_logout_token_ends_the_users_sessions_keycloak_no_longer_has(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    gone, kept = sign_in(app, BOB, sid="kc-gone"), sign_in(app, BOB, sid="kc-kept")
    services(app).directory = directory = Sessions({BOB.sub: frozenset({"kc-kept"})})
    revocation.end_sessions_gone_from_keycloak(app, BOB.sub, delay=0)
    deadline = time.monotonic() + 10
    while whoami(app, gone)[0] != 401:
        assert time.monotonic() < deadline, "the session Keycloak no longer has still works"
        time.sleep(0.05)
    assert whoami(app, kept)[0] == 200
    assert directory.asked == [BOB.sub]  # one question to Keycloak
    directory.alive[BOB.sub] = None  # the user is gone from Keycloak: every session ends
    revocation.end_sessions_gone_from_keycloak(app, BOB.sub, delay=0)
    while whoami(app, kept)[0] != 401:
        assert time.monotonic() < deadline, "a deleted user's session still works"
        time.sleep(0.05)
