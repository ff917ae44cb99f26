"""What the sign-in stores, and for how long (issue 12, findings 3, 9 and 19).

- An anonymous ``GET /login`` stores nothing on the server: its secrets travel in a
  sealed cookie that only the callback reads, once, within minutes.
- Tokens are sealed at rest: the database file holds none of them in clear text.
- Expired sessions and sign-in records are purged on a schedule, not at sign-in.

Keycloak's part is played by a stand-in provider here (the integration tests use the real
one): these tests are about what the portal stores.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from portal.auth import pending
from portal.auth.models import LoginRecord
from portal.auth.provider import AuthorizationRequest, SignInError, TokenSet
from portal.auth.purge import LOGIN_GRACE, LOGIN_RETENTION, purge_expired
from portal.auth.session_store import SESSION_COOKIE_NAME
from portal.extensions import db
from portal.generation import Generation
from portal.services import services
from tests.unit.conftest_registry import ON_BOTH_ENGINES, make_app
from tests.unit.demo import DEMO_USERS
from tests.unit.portal_client import sign_in, whoami

BOB = DEMO_USERS["bob"]

ACCESS = "eyJhbGciOiJSUzI1NiJ9.access-token-of-bob.signature-AAAA"
REFRESH = "eyJhbGciOiJIUzUxMiJ9.refresh-token-of-bob.signature-BBBB"
ID_TOKEN = "eyJhbGciOiJSUzI1NiJ9.id-token-of-bob.signature-CCCC"


class StandInProvider:
    """Answers like Keycloak's endpoints would, after the portal's own checks."""

    def __init__(self) -> None:
        self.issued = 0
        self.exchanged: list[dict[str, str]] = []

    def authorization_request(
        self, *, redirect_uri: str, reauthenticate: bool = False
    ) -> AuthorizationRequest:
        self.issued += 1
        state, nonce = f"state-{self.issued}", f"nonce-{self.issued}"
        return AuthorizationRequest(
            url=f"http://kc.test/auth?state={state}&redirect_uri={redirect_uri}",
            state=state,
            code_verifier=f"verifier-{self.issued}-" + "v" * 40,
            nonce=nonce,
        )

    def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str, nonce: str):
        if code != "good-code":
            raise SignInError("invalid_grant")
        self.exchanged.append({"code_verifier": code_verifier, "nonce": nonce})
        return TokenSet(
            user=BOB,
            access_token=ACCESS,
            refresh_token=REFRESH,
            id_token=ID_TOKEN,
            expires_at=time.time() + 300,
            refresh_expires_at=time.time() + 1800,
            keycloak_sid="kc-1",
        )


def portal(data_dir: Path, **settings: object) -> tuple[Flask, StandInProvider]:
    settings.setdefault("public_url", "http://localhost")  # the test client's host
    app = make_app(data_dir, **settings)
    provider = StandInProvider()
    services(app).provider = provider
    return app, provider


def session_rows(app: Flask) -> int:
    model = app.session_interface.sql_session_model
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def start_sign_in(client) -> str:
    """GET /login; the state Keycloak would be sent."""
    answer = client.get("/login?next=/apps/hello/")
    assert answer.status_code == 302
    return parse_qs(urlsplit(answer.location).query)["state"][0]


def test_anonymous_login_stores_nothing_and_leaves_every_cache_valid(tmp_path: Path) -> None:
    app, _ = portal(tmp_path)
    counter = Generation(tmp_path / "sessions.generation")
    before = counter.current()
    for _ in range(30):
        answer = app.test_client().get("/login")
        assert answer.status_code == 302
        cookies = answer.headers.getlist("Set-Cookie")
        assert not any(c.startswith(SESSION_COOKIE_NAME + "=") for c in cookies)
        (signin,) = [c for c in cookies if c.startswith(pending.COOKIE_NAME + "=")]
        assert "Path=/auth/callback" in signin and "HttpOnly" in signin
        assert "SameSite=Lax" in signin and "Max-Age=600" in signin
        assert "verifier" not in signin and "state-" not in signin  # sealed, not just signed
    assert session_rows(app) == 0
    assert counter.current() == before  # no worker's session cache was emptied


@ON_BOTH_ENGINES
def test_callback_finishes_the_sign_in_the_cookie_started_once(
    tmp_path: Path, database_url: str
) -> None:
    app, provider = portal(tmp_path, database_url=database_url)
    client = app.test_client()
    state = start_sign_in(client)
    answer = client.get(f"/auth/callback?state={state}&code=good-code")
    assert answer.status_code == 302 and answer.location == "/apps/hello/"
    assert provider.exchanged == [{"code_verifier": "verifier-1-" + "v" * 40, "nonce": "nonce-1"}]
    assert session_rows(app) == 1
    assert client.get("/api/me").json["username"] == "bob"
    assert client.get_cookie(pending.COOKIE_NAME, path="/auth/callback") is None  # dropped
    replay = client.get(f"/auth/callback?state={state}&code=good-code")
    assert replay.status_code == 400 and "no sign-in was in progress" in replay.text


@pytest.mark.parametrize("tamper", ["state", "cookie", "expired"])
def test_callback_refuses_a_wrong_state_a_forged_cookie_and_an_old_one(
    tmp_path: Path, tamper: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, provider = portal(tmp_path)
    client = app.test_client()
    state = start_sign_in(client)
    if tamper == "state":
        state = "forged"
    elif tamper == "cookie":
        value = client.get_cookie(pending.COOKIE_NAME, path="/auth/callback").value
        forged = value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB")
        client.set_cookie(pending.COOKIE_NAME, forged, path="/auth/callback")
    else:
        later = time.time() + pending.MAX_AGE + 5
        monkeypatch.setattr("cryptography.fernet.time.time", lambda: later)
    answer = client.get(f"/auth/callback?state={state}&code=good-code")
    assert answer.status_code == 400
    assert provider.exchanged == [] and session_rows(app) == 0


def test_the_database_file_holds_no_token_in_clear_text(tmp_path: Path) -> None:
    app, _ = portal(tmp_path)
    client = app.test_client()
    client.get(f"/auth/callback?state={start_sign_in(client)}&code=good-code")
    assert client.get("/api/me").status_code == 200
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("portal.db*"))
    assert stored and b"bob" in stored  # the session is there...
    for token in (ACCESS, REFRESH, ID_TOKEN):  # ...its tokens are not
        assert token.encode() not in stored
        assert token.split(".")[1].encode() not in stored
    with app.test_request_context("/"):  # and they are still usable where needed
        from portal.auth.sessions import _token

        data = app.session_interface.sql_session_model.query.one().data
        auth = app.session_interface._decode(data)["auth"]
        assert _token(auth, "refresh_token") == REFRESH and _token(auth, "id_token") == ID_TOKEN


def test_tokens_sealed_under_another_secret_key_are_unusable(tmp_path: Path) -> None:
    app, _ = portal(tmp_path)
    cookie = sign_in(app, BOB)
    other, _ = portal(tmp_path, secret_key="another-secret-key-" + "x" * 30)
    with other.test_request_context("/"):
        from portal.auth.sessions import _token

        auth = app.session_interface._decode(
            other.session_interface.sql_session_model.query.one().data
        )["auth"]
        assert auth["refresh_token"] and _token(auth, "refresh_token") is None
    assert whoami(app, cookie)[0] == 200


# --- purging ------------------------------------------------------------------------------


def _age_logins(app: Flask, by: timedelta) -> None:
    with app.app_context():
        db.session.execute(update(LoginRecord).values(created_at=datetime.now(UTC) - by))
        db.session.commit()


def _login_count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(LoginRecord))


@ON_BOTH_ENGINES
def test_expired_sessions_and_their_sign_in_records_are_purged_on_a_schedule(
    tmp_path: Path, database_url: str
) -> None:
    app = make_app(
        tmp_path,
        session_lifetime_seconds=1,
        purge_interval_seconds=0.3,
        database_url=database_url,
    )
    sign_in(app, BOB, sid="old")
    time.sleep(1.2)
    sign_in(app, BOB, sid="new")  # no longer purges: sign-in stays cheap
    assert session_rows(app) == 2 and _login_count(app) == 2
    _age_logins(app, LOGIN_GRACE + timedelta(minutes=1))
    app.test_client().get("/healthz")  # a first request starts this process's schedule
    deadline = time.monotonic() + 30
    while session_rows(app) > 1 or _login_count(app) > 1:
        assert time.monotonic() < deadline, "the schedule did not purge within 30 s"
        time.sleep(0.1)
    with app.app_context():
        assert db.session.scalars(select(LoginRecord.keycloak_sid)).all() == ["new"]


@ON_BOTH_ENGINES
def test_a_sign_in_record_is_kept_while_its_session_lives_and_never_past_the_retention(
    tmp_path: Path, database_url: str
) -> None:
    app = make_app(tmp_path, purge_interval_seconds=0, database_url=database_url)
    sign_in(app, BOB, sid="live")
    _age_logins(app, LOGIN_GRACE + timedelta(hours=1))
    with app.app_context():
        assert purge_expired()["logins"] == 0  # its session still exists
    _age_logins(app, LOGIN_RETENTION + timedelta(minutes=1))
    with app.app_context():
        assert purge_expired()["logins"] == 1
    assert _login_count(app) == 0


@ON_BOTH_ENGINES
def test_a_new_sign_in_record_survives_a_purge_before_its_session_row_is_written(
    tmp_path: Path, database_url: str
) -> None:
    app = make_app(tmp_path, purge_interval_seconds=0, database_url=database_url)
    with app.app_context():
        db.session.add(LoginRecord(session_id="not-yet-saved", sub="s", username="bob"))
        db.session.commit()
        assert purge_expired()["logins"] == 0
    assert _login_count(app) == 1
