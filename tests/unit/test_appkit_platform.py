"""dash_appkit.platform.record_event against a tiny local HTTP server standing in for the portal."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from dash_appkit.platform import EVENTS_PATH, TOKEN_HEADER, PlatformError, record_event

TOKEN = "app-token-for-tests"


class FakePortal(ThreadingHTTPServer):
    """Records every request; answers POSTs with ``status`` (and a redirect for 3xx)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.status = 204
        self.seen: list[dict] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: FakePortal

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.server.seen.append(
            {
                "method": self.command,
                "path": self.path,
                "headers": dict(self.headers),
                "body": self.rfile.read(length),
            }
        )
        status = self.server.status if self.command == "POST" else 200
        self.send_response(status)
        if 300 <= status < 400:
            self.send_header("Location", "/elsewhere")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_GET = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def portal(monkeypatch) -> Iterator[FakePortal]:
    server = FakePortal()
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    monkeypatch.setenv("DASH_PLATFORM_URL", server.url)
    monkeypatch.setenv("DASH_PLATFORM_APP_TOKEN", TOKEN)
    yield server
    server.shutdown()
    server.server_close()


def send() -> None:
    record_event("app.view_as", "user:bob", actor="admin", detail={"app": "sales", "rows": 3})


@pytest.mark.parametrize("status", [200, 201, 204])
def test_the_event_is_posted_with_the_apps_token(portal, status):
    portal.status = status
    send()
    (request,) = portal.seen
    assert request["method"] == "POST" and request["path"] == EVENTS_PATH == "/api/app-events"
    assert request["headers"][TOKEN_HEADER] == TOKEN
    assert request["headers"]["Content-Type"] == "application/json"
    assert json.loads(request["body"]) == {
        "actor": "admin",
        "action": "app.view_as",
        "target": "user:bob",
        "detail": {"app": "sales", "rows": 3},
    }


def test_a_trailing_slash_and_a_proxy_setting_change_nothing(portal, monkeypatch):
    monkeypatch.setenv("DASH_PLATFORM_URL", portal.url + "/")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # never used for the platform
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    send()
    assert [r["path"] for r in portal.seen] == ["/api/app-events"]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 500, 503])
def test_a_refusal_raises(portal, status):
    portal.status = status
    with pytest.raises(PlatformError, match=f"HTTP {status}"):
        send()
    assert len(portal.seen) == 1


@pytest.mark.parametrize("status", [301, 302, 303, 307])
def test_a_redirect_is_not_followed_and_raises(portal, status):
    portal.status = status
    with pytest.raises(PlatformError, match=f"HTTP {status}"):
        send()
    assert [r["method"] for r in portal.seen] == ["POST"]  # no GET to /elsewhere


@pytest.mark.parametrize("unset", ["DASH_PLATFORM_URL", "DASH_PLATFORM_APP_TOKEN"])
def test_unset_configuration_raises_without_sending(portal, monkeypatch, unset):
    monkeypatch.delenv(unset)
    with pytest.raises(PlatformError, match="must be set"):
        send()
    monkeypatch.setenv(unset, "  ")
    with pytest.raises(PlatformError, match="must be set"):
        send()
    assert portal.seen == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/", "127.0.0.1:8050"])
def test_only_http_urls_are_used(monkeypatch, url):
    monkeypatch.setenv("DASH_PLATFORM_URL", url)
    monkeypatch.setenv("DASH_PLATFORM_APP_TOKEN", TOKEN)
    with pytest.raises(PlatformError, match="http"):
        send()


def test_an_unreachable_platform_raises(monkeypatch):
    with socket.socket() as s:  # a port nobody listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("DASH_PLATFORM_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("DASH_PLATFORM_APP_TOKEN", TOKEN)
    with pytest.raises(PlatformError, match="could not be reached"):
        send()
