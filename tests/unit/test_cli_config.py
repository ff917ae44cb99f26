"""The CLI's configuration from the environment, its token cache and token renewal."""

from __future__ import annotations

import base64
import json
import stat
import time
from pathlib import Path

import pytest
from dash_platform_cli.auth import TokenSource
from dash_platform_cli.config import Config
from dash_platform_cli.errors import EXIT_NOT_SIGNED_IN, CliError
from dash_platform_cli.tokens import TokenStore

from tests.unit.cli_fake_server import Answer, FakeServer, Seen, fake_server


def fake_jwt(**claims: object) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"e30.{payload}.sig"


# --------------------------------------------------------------------------- configuration


def test_defaults(tmp_path: Path) -> None:
    config = Config.from_env({"HOME": str(tmp_path)})
    assert config.url == "http://127.0.0.1:8050"
    assert config.keycloak_url == "http://127.0.0.1:8080"
    assert config.issuer == "http://127.0.0.1:8080/realms/dash"
    assert config.auth_mode == "login"
    assert config.token_file == tmp_path / ".config" / "dash-platform" / "tokens.json"
    assert config.app_url("my-app") == "http://127.0.0.1:8050/apps/my-app/"


def test_environment_wins(tmp_path: Path) -> None:
    config = Config.from_env(
        {
            "DASH_PLATFORM_URL": "https://dash.example.org/",
            "DASH_PLATFORM_KEYCLOAK_URL": "https://sso.example.org",
            "DASH_PLATFORM_REALM": "other",
            "XDG_CONFIG_HOME": str(tmp_path),
        }
    )
    assert config.url == "https://dash.example.org"
    assert config.issuer == "https://sso.example.org/realms/other"
    assert config.token_file == tmp_path / "dash-platform" / "tokens.json"


def test_token_wins_over_client_credentials() -> None:
    env = {"DASH_PLATFORM_TOKEN": "t", "DASH_PLATFORM_CLIENT_ID": "c"}
    config = Config.from_env({**env, "DASH_PLATFORM_CLIENT_SECRET": "s"})
    assert config.auth_mode == "token"
    config = Config.from_env({"DASH_PLATFORM_CLIENT_ID": "c", "DASH_PLATFORM_CLIENT_SECRET": "s"})
    assert config.auth_mode == "client"


@pytest.mark.parametrize(
    "env",
    [
        {"DASH_PLATFORM_CLIENT_ID": "dash-deploy"},
        {"DASH_PLATFORM_CLIENT_SECRET": "s"},
        {"DASH_PLATFORM_URL": "127.0.0.1:8050"},
    ],
)
def test_bad_configuration_is_one_clear_error(env: dict[str, str]) -> None:
    with pytest.raises(CliError) as raised:
        Config.from_env(env)
    assert "DASH_PLATFORM_" in raised.value.message


# --------------------------------------------------------------------------- token cache


def test_token_file_is_private(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "cfg" / "dash-platform" / "tokens.json")
    token = fake_jwt(preferred_username="alice")
    entry = store.save("http://kc/realms/dash", {"access_token": token, "expires_in": 60})
    assert entry["username"] == "alice"
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    assert store.get("http://kc/realms/dash")["access_token"] == token
    assert store.get("http://other/realms/dash") is None
    assert store.forget("http://kc/realms/dash") is not None
    assert not store.path.exists()


def keycloak(server: FakeServer, token_answer: Answer | None = None) -> None:
    issuer = f"{server.url}/realms/dash"
    server.on(
        "GET",
        "/realms/dash/.well-known/openid-configuration",
        Answer(
            body={"issuer": issuer, "token_endpoint": f"{issuer}/protocol/openid-connect/token"}
        ),
    )

    def token(seen: Seen) -> Answer:
        form = seen.form()
        n = len([s for s in server.seen if s.path.endswith("/token")])
        return Answer(
            body={
                "access_token": fake_jwt(preferred_username="alice", n=n, grant=form["grant_type"]),
                "refresh_token": f"refresh-{n}",
                "expires_in": 30,
                "refresh_expires_in": 1800,
            }
        )

    server.on("POST", "/realms/dash/protocol/openid-connect/token", token_answer or token)


def config_for(server: FakeServer, tmp_path: Path, **env: str) -> Config:
    return Config.from_env(
        {"DASH_PLATFORM_KEYCLOAK_URL": server.url, "XDG_CONFIG_HOME": str(tmp_path), **env}
    )


def test_expired_access_token_is_refreshed_and_saved(tmp_path: Path) -> None:
    with fake_server() as server:
        keycloak(server)
        config = config_for(server, tmp_path)
        store = TokenStore(config.token_file)
        store.save(
            config.issuer,
            {
                "access_token": "old",
                "refresh_token": "r0",
                "expires_in": 60,
                "refresh_expires_in": 600,
            },
            now=time.time() - 120,
        )
        source = TokenSource(config)
        token = source.get()
        assert token != "old"
        refresh = [s.form() for s in server.seen if s.method == "POST"]
        assert refresh == [
            {"grant_type": "refresh_token", "client_id": "dash-cli", "refresh_token": "r0"}
        ]
        saved = store.get(config.issuer)
        assert saved["access_token"] == token and saved["refresh_token"] == "refresh-1"
        assert stat.S_IMODE(config.token_file.stat().st_mode) == 0o600
        assert source.get() == token  # still fresh: no second refresh
        assert len([s for s in server.seen if s.method == "POST"]) == 1


def test_fresh_access_token_is_used_as_is(tmp_path: Path) -> None:
    with fake_server() as server:
        keycloak(server)
        config = config_for(server, tmp_path)
        TokenStore(config.token_file).save(
            config.issuer, {"access_token": "fresh", "refresh_token": "r", "expires_in": 300}
        )
        assert TokenSource(config).get() == "fresh"
        assert server.seen == []


def test_refused_refresh_forgets_the_login(tmp_path: Path) -> None:
    refused = Answer(400, {"error": "invalid_grant", "error_description": "Session not active"})
    with fake_server() as server:
        keycloak(server, refused)
        config = config_for(server, tmp_path)
        store = TokenStore(config.token_file)
        store.save(config.issuer, {"access_token": "old", "refresh_token": "r", "expires_in": 0})
        with pytest.raises(CliError) as raised:
            TokenSource(config).get()
        assert raised.value.exit_code == EXIT_NOT_SIGNED_IN
        assert raised.value.message.startswith("not signed in: run dash-platform login")
        assert "Session not active" in raised.value.message
        assert store.get(config.issuer) is None


def test_no_login_means_anonymous(tmp_path: Path) -> None:
    config = Config.from_env({"XDG_CONFIG_HOME": str(tmp_path)})
    assert TokenSource(config).get() is None


def test_client_credentials(tmp_path: Path) -> None:
    with fake_server() as server:
        keycloak(server)
        config = config_for(
            server,
            tmp_path,
            DASH_PLATFORM_CLIENT_ID="dash-deploy",
            DASH_PLATFORM_CLIENT_SECRET="sekrit",
        )
        source = TokenSource(config)
        first = source.get()
        assert source.get() == first  # reused while fresh
        assert source.get(force=True) != first
        forms = [s.form() for s in server.seen if s.method == "POST"]
        assert forms[0] == {
            "grant_type": "client_credentials",
            "client_id": "dash-deploy",
            "client_secret": "sekrit",
        }
        assert len(forms) == 2
        assert not config.token_file.exists()  # CI logins are never written to disk
