"""/login during a Keycloak outage: the portal's 503 page at every moment, never a redirect.

"Keycloak" here is a real HTTP server on a loopback port serving a realm's discovery
document; stopping it closes the port, as a stopped Keycloak does. No token is issued:
these tests are about where /login sends the browser, not about signing in.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from portal import create_app
from portal.auth.reachability import Reachability
from portal.settings import Settings
from tests.unit.conftest_registry import prepared

REALM_PATH = "/realms/dash/.well-known/openid-configuration"


class FakeKeycloak:
    """A discovery document on a loopback port that can stop, start, or be 'starting'."""

    def __init__(self) -> None:
        self.port = 0
        self.starting = False  # True: answers 404 for the realm, as during its import
        self.requests = 0
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def document(self) -> dict[str, str]:
        issuer = f"{self.url}/realms/dash"
        return {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/protocol/openid-connect/auth",
            "token_endpoint": f"{issuer}/protocol/openid-connect/token",
            "jwks_uri": f"{issuer}/protocol/openid-connect/certs",
            "end_session_endpoint": f"{issuer}/protocol/openid-connect/logout",
        }

    def start(self) -> None:
        keycloak = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                keycloak.requests += 1
                if keycloak.starting or self.path != REALM_PATH:
                    self.send_error(404)
                    return
                body = json.dumps(keycloak.document()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture()
def keycloak() -> Iterator[FakeKeycloak]:
    server = FakeKeycloak()
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def client(keycloak: FakeKeycloak, tmp_path: Path) -> FlaskClient:
    settings = Settings.from_env(
        data_dir=tmp_path,
        keycloak_url=keycloak.url,
        keycloak_internal_url=keycloak.url,
        public_url="http://localhost",  # the test client's host: /login starts here
    )
    app = prepared(create_app(settings))
    app.config["TESTING"] = True
    return app.test_client()


def _until(predicate, timeout: float = 5.0) -> float:
    """Seconds until ``predicate()`` holds; fails after ``timeout``."""
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, "condition not reached in time"
        time.sleep(0.05)
    return time.monotonic() - started


def _is_unavailable_page(answer) -> bool:
    text = answer.get_data(as_text=True)
    return answer.status_code == 503 and "Keycloak" in text and "unreachable" in text


def test_login_shows_503_soon_after_keycloak_stops_and_never_redirects_during_the_outage(
    keycloak: FakeKeycloak, client: FlaskClient
) -> None:
    first = client.get("/login")
    assert first.status_code == 302
    assert first.location.startswith(f"{keycloak.url}/realms/dash/protocol/openid-connect/auth")

    keycloak.stop()
    # Within the check's cache lifetime (1 s), then a 503 for every attempt of the outage.
    _until(lambda: client.get("/login").status_code != 302, timeout=3)
    outage_ends = time.monotonic() + 2.5
    while time.monotonic() < outage_ends:
        assert _is_unavailable_page(client.get("/login"))
        time.sleep(0.1)


def test_login_shows_503_while_keycloak_is_starting(
    keycloak: FakeKeycloak, client: FlaskClient
) -> None:
    keycloak.starting = True  # the port answers, the realm is not there yet
    assert _is_unavailable_page(client.get("/login"))
    keycloak.starting = False
    _until(lambda: client.get("/login").status_code == 302, timeout=3)


def test_login_redirects_again_once_keycloak_is_back(
    keycloak: FakeKeycloak, client: FlaskClient
) -> None:
    assert client.get("/login").status_code == 302
    keycloak.stop()
    _until(lambda: _is_unavailable_page(client.get("/login")), timeout=3)
    keycloak.start()  # same port
    _until(lambda: client.get("/login").status_code == 302, timeout=3)


def test_the_check_is_cached_and_shared(keycloak: FakeKeycloak) -> None:
    check = Reachability(keycloak.url + REALM_PATH, ttl=60)
    threads = [threading.Thread(target=check.problem) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert check.problem() is None
    assert keycloak.requests == 1


def test_the_check_names_what_is_wrong(keycloak: FakeKeycloak) -> None:
    check = Reachability(keycloak.url + REALM_PATH, ttl=0)
    assert check.problem() is None
    keycloak.starting = True
    assert "answered 404" in (check.problem() or "")
    keycloak.stop()
    assert "no answer" in (check.problem() or "")
