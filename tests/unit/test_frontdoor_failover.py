"""The front door with two portal processes: a request moves on from one that fails, but a
POST that reached one is never sent to the other.

Real nginx with the rendered configuration, in front of two small HTTP servers on unix
sockets standing in for the portal's replicas: one answers, the other is down (nothing
listens) or dies with the request in hand (reads it, closes without an answer).
"""

from __future__ import annotations

import http.server
import shutil
import socket
import socketserver
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from portal.hosting.frontdoor import FrontDoor
from tests.live_stack import free_port

TRIES = 10


class Replica(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """A stand-in portal process; ``dies`` reads each request and hangs up unanswered."""

    daemon_threads = True

    def __init__(self, path: Path, *, dies: bool, status: int = 200) -> None:
        self.dies, self.status = dies, status
        self.received: Counter[str] = Counter()
        super().__init__(str(path), _Handler)
        path.chmod(0o777)  # nginx's workers (nobody) connect


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Replica

    def address_string(self) -> str:
        return "unix"

    def handle_one_request(self) -> None:
        self.raw_requestline = self.rfile.readline(65537)
        if not self.raw_requestline or not self.parse_request():
            self.close_connection = True
            return
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.received[self.command] += 1
        if self.server.dies:
            self.close_connection = True  # the process is gone before it answers
            return
        body = b"answered"
        self.send_response(self.server.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def folder() -> Iterator[Path]:
    # Not pytest's 0700 temp folder: nginx's workers (nobody) reach the sockets.
    path = Path(tempfile.mkdtemp(prefix="failover-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def front_door(folder: Path) -> tuple[FrontDoor, subprocess.Popen]:
    door = FrontDoor(
        root=folder / "frontdoor",
        listen=f"127.0.0.1:{free_port()}",
        portal_servers=(f"unix:{folder / 'one.sock'}", f"unix:{folder / 'two.sock'}"),
        apps_run_dir=folder / "apps-run",
        workers=1,  # one round-robin: the first request goes to the first replica
    )
    door.check()
    nginx = subprocess.Popen(door.command(), stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    host, port = door.listen.split(":")
    while time.monotonic() < deadline:
        try:  # listening (no request: the replicas count what they receive)
            socket.create_connection((host, int(port)), timeout=1).close()
            return door, nginx
        except OSError:
            time.sleep(0.05)
    nginx.kill()
    raise AssertionError("nginx did not listen")


def serve(folder: Path, name: str, *, dies: bool, status: int = 200) -> Replica:
    replica = Replica(folder / name, dies=dies, status=status)
    threading.Thread(target=replica.serve_forever, daemon=True).start()
    return replica


def send(door: FrontDoor, method: str) -> Counter[int]:
    url = f"http://{door.listen}/api/something"
    return Counter(
        requests.request(method, url, data=b"x" * 100, timeout=10).status_code for _ in range(TRIES)
    )


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_request_moves_on_from_a_replica_that_is_down(folder: Path, method: str) -> None:
    # Nothing listens on one.sock (the replica is restarting): nothing was sent there.
    (folder / "one.sock").touch(mode=0o777)
    two = serve(folder, "two.sock", dies=False)
    door, nginx = front_door(folder)
    try:
        assert send(door, method) == {200: TRIES}
        assert two.received[method] == TRIES
    finally:
        door.stop()
        nginx.wait(timeout=10)
        two.shutdown()


def test_a_get_that_a_dying_replica_took_is_answered_by_the_other(folder: Path) -> None:
    one, two = serve(folder, "one.sock", dies=True), serve(folder, "two.sock", dies=False)
    door, nginx = front_door(folder)
    try:
        assert send(door, "GET") == {200: TRIES}  # a GET may safely be sent again
        assert one.received["GET"] >= 1 and two.received["GET"] == TRIES
    finally:
        door.stop()
        nginx.wait(timeout=10)
        one.shutdown()
        two.shutdown()


def test_a_post_that_reached_a_dying_replica_is_not_sent_again(folder: Path) -> None:
    one, two = serve(folder, "one.sock", dies=True), serve(folder, "two.sock", dies=False)
    door, nginx = front_door(folder)
    try:
        answers = send(door, "POST")
        # Each POST reached exactly one replica: those the dying one took fail (502), the
        # caller decides whether to send them again; the rest are answered.
        assert one.received["POST"] >= 1
        assert answers == {502: one.received["POST"], 200: two.received["POST"]}
        assert one.received["POST"] + two.received["POST"] == TRIES
    finally:
        door.stop()
        nginx.wait(timeout=10)
        one.shutdown()
        two.shutdown()


def test_a_portal_that_cannot_decide_answers_itself_not_nginxs_500(folder: Path) -> None:
    """While the platform database restarts the portal answers 503. nginx's auth_request
    makes any answer but 2xx, 401 and 403 a 500 of its own: the front door asks the
    portal again instead, whose answer (a clear 503) reaches the caller."""
    one = serve(folder, "one.sock", dies=False, status=503)
    two = serve(folder, "two.sock", dies=False, status=503)
    door, nginx = front_door(folder)
    try:
        answer = requests.get(f"http://{door.listen}/apps/hello/_dash-layout", timeout=10)
        assert (answer.status_code, answer.text) == (503, "answered")
    finally:
        door.stop()
        nginx.wait(timeout=10)
        one.shutdown()
        two.shutdown()
