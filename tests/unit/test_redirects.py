"""Open redirects through ``next``: only local paths survive."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask import Flask

from portal import create_app
from portal.auth.provider import AuthorizationRequest
from portal.auth.redirects import safe_next
from portal.services import services
from tests.unit.conftest_registry import make_settings, prepared

LOCAL = ["/", "/apps/sales/", "/manager/?tab=1", "/apps/sales/?q=a%20b", "/a/b#frag"]

HOSTILE = [
    "https://evil.example/",
    "http://evil.example",
    "//evil.example",
    "//evil.example/path",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "javascript:alert(1)",
    "data:text/html,hi",
    "evil.example",
    "%2F%2Fevil.example",
    "/%2F%2Fevil.example",
    "/%5Cevil.example",
    "/%252F%252Fevil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/%09/evil.example",
    "/\r/evil.example",
    "/\r\n/evil.example",
    "\t//evil.example",
    " //evil.example",
    "/%0d%0a/evil.example",
    "/%5C%5Cevil.example",
    "/\x00/evil.example",
    "//\tevil.example",
    "/\t\\evil.example",
    "https:evil.example",
    "",
    None,
]


@pytest.mark.parametrize("value", LOCAL)
def test_local_paths_are_kept(value: str) -> None:
    assert safe_next(value) == value


@pytest.mark.parametrize("value", HOSTILE)
def test_everything_else_becomes_home(value: str | None) -> None:
    assert safe_next(value) == "/"


def test_default_is_configurable() -> None:
    assert safe_next("//evil.example", default="/portal") == "/portal"


# --- sign-in's redirect_uri: from the configured public URL, never from the request --------

PUBLIC = "http://portal.test:8050"


class RecordingProvider:
    """Stands in for portal.auth.provider.Provider: records the redirect_uri it is given."""

    def __init__(self) -> None:
        self.redirect_uris: list[str] = []

    def authorization_request(
        self, *, redirect_uri: str, reauthenticate: bool = False
    ) -> AuthorizationRequest:
        self.redirect_uris.append(redirect_uri)
        return AuthorizationRequest(
            url="http://kc.test/auth?" + urlencode({"redirect_uri": redirect_uri}),
            state="s",
            code_verifier="v",
            nonce="n",
        )

    def end_session_url(self, *, id_token: str | None, post_logout_redirect_uri: str) -> str:
        return "http://kc.test/logout?" + urlencode({"redirect": post_logout_redirect_uri})


@pytest.fixture
def portal(tmp_path: Path) -> tuple[Flask, RecordingProvider]:
    app = prepared(create_app(make_settings(tmp_path, seed_apps=False, public_url=PUBLIC)))
    app.config["TESTING"] = True
    provider = RecordingProvider()
    services(app).provider = provider
    return app, provider


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"},
        {"Forwarded": "host=evil.example;proto=https", "X-Forwarded-Port": "443"},
    ],
)
def test_the_redirect_uri_comes_from_the_public_url(
    portal: tuple[Flask, RecordingProvider], headers: dict[str, str]
) -> None:
    app, provider = portal
    answer = app.test_client().get("/login?next=/apps/sales/", base_url=PUBLIC, headers=headers)
    assert answer.status_code == 302
    assert provider.redirect_uris == [f"{PUBLIC}/auth/callback"]


@pytest.mark.parametrize("host", ["evil.example", "portal.test:8051", "localhost:8050"])
def test_sign_in_on_another_host_name_starts_over_on_the_public_url(
    portal: tuple[Flask, RecordingProvider], host: str
) -> None:
    app, provider = portal
    answer = app.test_client().get(
        "/login?next=//evil.example", base_url=PUBLIC, headers={"Host": host}
    )
    assert answer.status_code == 302
    assert answer.headers["Location"] == f"{PUBLIC}/login?next=/&moved=1"
    assert provider.redirect_uris == []  # no sign-in begun for evil.example


def test_a_proxy_that_rewrites_host_gets_one_move_not_a_loop(
    portal: tuple[Flask, RecordingProvider],
) -> None:
    app, provider = portal
    answer = app.test_client().get(
        "/login?next=/manager/&moved=1", base_url=PUBLIC, headers={"Host": "frontdoor:8050"}
    )
    assert answer.status_code == 302 and answer.headers["Location"].startswith("http://kc.test/")
    assert provider.redirect_uris == [f"{PUBLIC}/auth/callback"]


@pytest.mark.parametrize(
    ("public", "host"),
    [
        ("http://portal.test", "portal.test:80"),
        ("http://portal.test:80", "portal.test"),
        ("https://portal.test", "PORTAL.test:443"),
        ("https://portal.test/", "portal.test"),
    ],
)
def test_default_ports_name_the_same_host(tmp_path: Path, public: str, host: str) -> None:
    app = prepared(create_app(make_settings(tmp_path, seed_apps=False, public_url=public)))
    provider = RecordingProvider()
    services(app).provider = provider
    answer = app.test_client().get("/login", headers={"Host": host})
    assert answer.status_code == 302
    assert provider.redirect_uris == [f"{public.rstrip('/')}/auth/callback"]


def test_sign_out_returns_to_the_public_url(portal: tuple[Flask, RecordingProvider]) -> None:
    app, _ = portal
    answer = app.test_client().post("/logout", headers={"Host": "evil.example"})
    assert answer.status_code == 303
    assert parse_qs(urlsplit(answer.headers["Location"]).query)["redirect"] == [f"{PUBLIC}/"]
