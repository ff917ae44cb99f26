"""Every failure of `dash-platform` is one line on stderr and a non-zero exit, never a traceback.

The CLI runs as a subprocess against a tiny local HTTP server that plays the platform.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.cli_fake_server import Answer, FakeServer, fake_server


def run_cli(
    server_url: str, tmp_path: Path, *args: str, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "DASH_PLATFORM_URL": server_url,
        "DASH_PLATFORM_KEYCLOAK_URL": server_url,
        "DASH_PLATFORM_TOKEN": "test-token",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "dash_platform_cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0].removeprefix("error: ")


@pytest.fixture
def platform() -> Iterator[FakeServer]:
    with fake_server() as server:
        yield server


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "my-app"
    folder.mkdir()
    (folder / "app.py").write_text("app = None\n")
    (folder / "requirements.txt").write_text("dash\n")
    return folder


def test_401_says_to_sign_in(platform: FakeServer, tmp_path: Path) -> None:
    platform.on("GET", "/api/me", Answer(401, {"error": "Bearer token refused: expired"}))
    result = run_cli(platform.url, tmp_path, "whoami")
    assert result.returncode == 3
    assert one_error_line(result) == "not signed in: run dash-platform login"
    assert platform.seen[0].headers["authorization"] == "Bearer test-token"


def test_403_quotes_the_server(platform: FakeServer, tmp_path: Path) -> None:
    message = "Only the owner, co-owners and admins manage 'sales'."
    platform.on("POST", "/api/apps/sales/restart", Answer(403, {"error": message}))
    result = run_cli(platform.url, tmp_path, "restart", "sales")
    assert result.returncode == 4
    assert one_error_line(result) == f"not allowed: {message}"


def test_404_names_the_app(platform: FakeServer, tmp_path: Path) -> None:
    platform.on("GET", "/api/apps/ghost/deployments", Answer(404, {"error": "No app 'ghost'."}))
    result = run_cli(platform.url, tmp_path, "deployments", "ghost")
    assert result.returncode == 5
    assert one_error_line(result) == "no such app: ghost"


def test_404_of_something_else_quotes_the_server(platform: FakeServer, tmp_path: Path) -> None:
    answer = Answer(404, {"error": "No deployment 99 of 'sales'."})
    platform.on("POST", "/api/apps/sales/deployments/99/activate", answer)
    result = run_cli(platform.url, tmp_path, "rollback", "sales", "99")
    assert result.returncode == 5
    assert one_error_line(result) == "not found: No deployment 99 of 'sales'."


@pytest.mark.parametrize("status", [400, 413, 422])
def test_bundle_refused(platform: FakeServer, tmp_path: Path, app_dir: Path, status: int) -> None:
    message = "The bundle has no requirements.txt at its root."
    platform.on("POST", "/api/apps/my-app/deployments", Answer(status, {"error": message}))
    result = run_cli(platform.url, tmp_path, "deploy", str(app_dir), "--app", "my-app")
    assert result.returncode == 6
    assert one_error_line(result) == f"bundle refused: {message}"


def test_413_from_the_front_door_is_not_json(
    platform: FakeServer, tmp_path: Path, app_dir: Path
) -> None:
    html = "<html><body><h1>413 Request Entity Too Large</h1></body></html>"
    platform.on("POST", "/api/apps/my-app/deployments", Answer(413, html, "text/html"))
    result = run_cli(platform.url, tmp_path, "deploy", str(app_dir), "--app", "my-app")
    assert result.returncode == 6
    assert one_error_line(result) == "bundle refused: the bundle is too large for the platform"


def test_409_slug_taken(platform: FakeServer, tmp_path: Path) -> None:
    platform.on("POST", "/api/apps", Answer(409, {"error": "The slug 'sales' is taken."}))
    result = run_cli(platform.url, tmp_path, "create", "sales")
    assert result.returncode == 6
    assert one_error_line(result) == "refused: The slug 'sales' is taken."


def test_500(platform: FakeServer, tmp_path: Path) -> None:
    platform.on("GET", "/api/apps", Answer(500, {"error": "Internal error."}))
    result = run_cli(platform.url, tmp_path, "apps")
    assert result.returncode == 1
    assert one_error_line(result) == "the platform answered 500: Internal error."


def test_405_says_the_platform_lacks_it(platform: FakeServer, tmp_path: Path) -> None:
    platform.on("PATCH", "/api/apps/sales", Answer(405, {"error": "Method not allowed."}))
    result = run_cli(platform.url, tmp_path, "scale", "sales", "--workers", "2")
    assert result.returncode == 1
    assert one_error_line(result) == (
        "the platform does not offer this (PATCH /api/apps/sales answered 405)"
    )


def test_build_failed(platform: FakeServer, tmp_path: Path, app_dir: Path) -> None:
    platform.on(
        "POST", "/api/apps/my-app/deployments", Answer(202, {"id": 4, "status": "building"})
    )
    failed = {"id": 4, "status": "failed", "error": "ModuleNotFoundError: No module named 'x'"}
    platform.on("GET", "/api/apps/my-app/deployments/4", Answer(body=failed))
    log = "installing dash\nTraceback (most recent call last):\n  ...\n"
    platform.on(
        "GET", "/api/apps/my-app/deployments/4/log", Answer(body=log, content_type="text/plain")
    )
    result = run_cli(platform.url, tmp_path, "deploy", str(app_dir), "--app", "my-app")
    assert result.returncode == 7
    # The build log is streamed as is (its own traceback included); the CLI's error is one line.
    assert "installing dash" in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert lines == ["error: build failed: ModuleNotFoundError: No module named 'x'"]
    assert result.stdout == ""


def test_cannot_reach_the_platform(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    result = run_cli(url, tmp_path, "apps")
    assert result.returncode == 8
    assert one_error_line(result).startswith(f"cannot reach the platform at {url}")


def test_cannot_reach_keycloak_for_client_credentials(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    result = run_cli(
        url,
        tmp_path,
        "apps",
        DASH_PLATFORM_TOKEN="",
        DASH_PLATFORM_CLIENT_ID="dash-deploy",
        DASH_PLATFORM_CLIENT_SECRET="s",
    )
    assert result.returncode == 8
    assert one_error_line(result).startswith(f"cannot reach Keycloak at {url}")


def test_half_configured_client_credentials(tmp_path: Path) -> None:
    result = run_cli("http://127.0.0.1:9", tmp_path, "apps", DASH_PLATFORM_CLIENT_ID="x")
    assert result.returncode == 1
    assert "DASH_PLATFORM_CLIENT_SECRET" in one_error_line(result)


def test_deploy_of_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("http://127.0.0.1:9", tmp_path, "deploy", str(tmp_path / "nope"), "--app", "a")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "does not exist" in result.stderr


def test_delete_needs_the_slug_typed(platform: FakeServer, tmp_path: Path) -> None:
    platform.on("DELETE", "/api/apps/my-app", Answer(204))
    result = run_cli(platform.url, tmp_path, "delete", "my-app", stdin="other\n")
    assert result.returncode == 6
    assert one_error_line(result) == "refused: 'other' is not 'my-app'; nothing deleted"
    result = run_cli(platform.url, tmp_path, "delete", "my-app")  # no answer at all
    assert result.returncode == 6
    assert one_error_line(result).startswith("refused: no confirmation")
    assert not [s for s in platform.seen if s.method == "DELETE"]
    result = run_cli(platform.url, tmp_path, "delete", "my-app", stdin="my-app\n")
    assert result.returncode == 0, result.stderr
    assert [s.path for s in platform.seen if s.method == "DELETE"] == ["/api/apps/my-app"]
