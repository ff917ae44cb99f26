"""Talking to one portal process directly, on its unix socket, past the front door.

Behind the front door, requests take turns between the portal's replicas; a test that
must say "signed in on this one, used on that one" addresses each by its socket. A
:class:`ReplicaClient` is a tiny HTTP client over one socket (http.client), with a cookie
jar it may share with a client of another replica: one browser, two portal processes.
"""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

from tests.oidc_flow import LoginFormError, keycloak_form_action

__all__ = ["Answer", "ReplicaClient", "sign_in"]


class _UnixConnection(http.client.HTTPConnection):
    """HTTP/1.1 over a unix socket (the portal's gunicorn binds one per replica)."""

    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = str(path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


@dataclass(frozen=True)
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class ReplicaClient:
    """Requests to the portal process listening on ``socket``, as the front door sends them
    (Host is the public address); cookies set by answers are kept in ``cookies``."""

    socket: Path
    host: str
    cookies: dict[str, str] = field(default_factory=dict)
    timeout: float = 30

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
        form: dict[str, str] | None = None,
    ) -> Answer:
        sent = {"Host": self.host, **(headers or {})}
        body = None
        if json_body is not None:
            body, sent["Content-Type"] = json.dumps(json_body).encode(), "application/json"
        elif form is not None:
            body = urlencode(form).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        connection = _UnixConnection(self.socket, self.timeout)
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            answer = Answer(response.status, response.headers, response.read())
        finally:
            connection.close()
        for line in answer.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(line).items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return answer

    def get(self, path: str, **kwargs: Any) -> Answer:
        return self.request("GET", path, **kwargs)

    def csrf_headers(self) -> dict[str, str]:
        me = self.get("/api/me")
        assert me.status == 200, f"/api/me answered {me.status}: {me.body[:300]!r}"
        return {"X-CSRF-Token": me.json()["csrf_token"]}

    def with_socket(self, other: Path) -> ReplicaClient:
        """The same browser (this very cookie jar) talking to another replica."""
        return ReplicaClient(other, self.host, self.cookies, self.timeout)


def sign_in(replica: ReplicaClient, username: str) -> None:
    """The code flow with ``replica`` as the portal: /login and /auth/callback both go to
    this one process; Keycloak's login form is filled in over HTTP, as a browser would."""
    start = replica.get("/login?next=/api/me")
    assert start.status == 302, f"/login answered {start.status}"
    browser = requests.Session()
    page = browser.get(start.headers["Location"], timeout=30)
    answer = browser.post(
        keycloak_form_action(page.text),
        data={"username": username, "password": f"{username}-password"},
        allow_redirects=False,
        timeout=30,
    )
    if answer.status_code != 302:
        raise LoginFormError(f"Keycloak did not send {username} back: {answer.status_code}")
    callback = urlsplit(answer.headers["Location"])
    done = replica.get(f"{callback.path}?{callback.query}")
    assert done.status in (302, 303), f"/auth/callback answered {done.status}: {done.body[:300]!r}"
