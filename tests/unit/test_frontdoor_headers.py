"""The headers the front door puts on app answers: real nginx, stand-in portal and app.

Only the platform may frame an app (``frame-ancestors 'self'``, X-Frame-Options
SAMEORIGIN) and nothing is sniffed (nosniff); otherwise an app keeps its own choices:
its Content-Security-Policy (a stylesheet from a CDN stays allowed), its Referrer-Policy
and its caching. Where it sets none, Referrer-Policy is same-origin and Cache-Control
no-store (app answers carry the viewer's data). Portal answers pass through untouched.
"""

from __future__ import annotations

import http.client
import socket
import socketserver
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from portal.hosting.frontdoor import FrontDoor, Routes

#: What the stand-in apps answer with, by path.
APP_HEADERS = {
    "/apps/plain/": {},
    "/apps/own/": {
        "Content-Security-Policy": "style-src 'self' https://cdn.example",
        "X-Frame-Options": "ALLOWALL",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "public, max-age=60",
    },
}
PORTAL_HEADERS = {"X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    headers_by_path: dict[str, dict[str, str]] = {}

    def do_GET(self) -> None:
        body = b"<html><body>hi</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        for name, value in self.headers_by_path.get(self.path, {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass

    def address_string(self) -> str:
        return "unix"


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def _serve(path: Path, headers: dict[str, dict[str, str]]) -> _Server:
    handler = type("Handler", (_Handler,), {"headers_by_path": headers})
    server = _Server(str(path), handler)
    path.chmod(0o666)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def door(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    root = tmp_path_factory.mktemp("door")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = root / "run"
    servers = [_serve(root / "portal.sock", {"/": PORTAL_HEADERS, "/_frontdoor/auth": {}})]
    for slug in ("plain", "own"):
        (run / slug).mkdir(parents=True)
        servers.append(
            _serve(run / slug / "app.sock", {f"/apps/{slug}/": APP_HEADERS[f"/apps/{slug}/"]})
        )
    door = FrontDoor(
        root=root / "frontdoor",
        listen=f"127.0.0.1:{port}",
        portal_servers=(f"unix:{root / 'portal.sock'}",),
        apps_run_dir=run,
        worker_user="root root",  # the sockets are in pytest's private temp folder
    )
    for slug in ("plain", "own"):
        Routes(run).publish(slug)
    door.check()
    nginx = subprocess.Popen(door.command(), stderr=subprocess.DEVNULL)  # as supervisord does
    try:
        _wait_listening(port, nginx)
        yield "127.0.0.1", port
    finally:
        door.stop()
        nginx.wait(timeout=10)
        for server in servers:
            server.shutdown()
            server.server_close()


def _wait_listening(port: int, nginx: subprocess.Popen) -> None:
    deadline = time.monotonic() + 10
    while True:
        assert nginx.poll() is None, "nginx exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline, "nginx does not listen"
            time.sleep(0.05)


def _get(door: tuple[str, int], path: str) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection(*door, timeout=10)
    connection.request("GET", path, headers={"Accept": "text/html"})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_an_app_without_headers_gets_the_platforms(door: tuple[str, int]) -> None:
    response = _get(door, "/apps/plain/")
    assert response.status == 200
    assert response.headers.get_all("Content-Security-Policy") == ["frame-ancestors 'self'"]
    assert response.headers.get_all("X-Frame-Options") == ["SAMEORIGIN"]
    assert response.headers.get_all("X-Content-Type-Options") == ["nosniff"]
    assert response.headers.get_all("Referrer-Policy") == ["same-origin"]
    assert response.headers.get_all("Cache-Control") == ["no-store"]
    assert response.headers["Server"] == "nginx"  # server_tokens off: no version


def test_an_app_keeps_its_own_policies_but_not_its_framing(door: tuple[str, int]) -> None:
    response = _get(door, "/apps/own/")
    assert response.status == 200
    # Both policies hold: the app's (its CDN stylesheet) and the platform's framing rule.
    assert sorted(response.headers.get_all("Content-Security-Policy")) == [
        "frame-ancestors 'self'",
        "style-src 'self' https://cdn.example",
    ]
    assert response.headers.get_all("X-Frame-Options") == ["SAMEORIGIN"]
    assert response.headers.get_all("Referrer-Policy") == ["no-referrer"]
    assert response.headers.get_all("Cache-Control") == ["public, max-age=60"]


def test_portal_answers_keep_the_portals_headers(door: tuple[str, int]) -> None:
    response = _get(door, "/")
    assert response.headers.get_all("X-Frame-Options") == ["DENY"]
    assert response.headers.get_all("Content-Security-Policy") == ["frame-ancestors 'none'"]
