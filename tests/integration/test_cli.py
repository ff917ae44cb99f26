"""`dash-platform` through the real Keycloak and the real front door.

A person signs in with the device grant (the test completes Keycloak's device page over
HTTP); a CI job deploys as the realm's dash-deploy client (client credentials), whose
service account is a licensed user and owns what it creates.
"""

from __future__ import annotations

import json
import re
import stat
import subprocess
from pathlib import Path

import pytest
import requests

from tests.cli_client import CLI, approve_device, ci_env, cli_env, client_token, run_cli
from tests.hosting_client import APPS
from tests.live_stack import Stack
from tests.oidc_flow import login

pytestmark = pytest.mark.integration


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The CLI's one error line (and never a traceback of its own)."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr.split(lines[0])[-1], result.stderr[-3000:]
    return lines[0].removeprefix("error: ")


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


# --------------------------------------------------------------------------- a person


def test_device_login_whoami_refresh_logout(stack: Stack, tmp_path: Path) -> None:
    env = cli_env(stack, tmp_path)
    anonymous = run_cli(env, "whoami")
    assert anonymous.returncode == 3
    assert error_line(anonymous) == "not signed in: run dash-platform login"

    login = subprocess.Popen(
        [str(CLI), "login"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert login.stderr is not None
        first = login.stderr.readline()
        found = re.search(r"(https?://\S+)", first)
        assert found, f"no verification URL in {first!r}"
        assert found.group(1).startswith(f"{stack.issuer}/device")
        approve_device(found.group(1), "alice")
        out, err = login.communicate(timeout=120)
    finally:
        if login.poll() is None:
            login.kill()
    assert login.returncode == 0, err
    assert "signed in as alice" in out

    token_file = tmp_path / "config" / "dash-platform" / "tokens.json"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert ok(run_cli(env, "whoami")).splitlines()[0] == "alice"

    # An expired access token is renewed with the refresh token, and the cache rewritten.
    cache = json.loads(token_file.read_text())
    login_entry = cache["logins"][stack.issuer]
    old_token = login_entry["access_token"]
    login_entry["expires_at"] = 0
    token_file.write_text(json.dumps(cache))
    me = json.loads(ok(run_cli(env, "whoami", "--json")))
    assert me["username"] == "alice" and "licensed_user" in me["roles"]
    assert json.loads(token_file.read_text())["logins"][stack.issuer]["access_token"] != old_token
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600

    assert "signed out" in ok(run_cli(env, "logout"))
    after = run_cli(env, "whoami")
    assert after.returncode == 3, after.stderr


# --------------------------------------------------------------------------- CI


def test_ci_creates_deploys_and_lists(stack: Stack, portal_url: str, tmp_path: Path) -> None:
    env = ci_env(stack, tmp_path)
    assert ok(run_cli(env, "whoami")).splitlines()[0] == "service-account-dash-deploy"
    slug = "ci-deployed"
    assert "created ci-deployed" in ok(run_cli(env, "create", slug, "--title", "From CI"))
    result = run_cli(env, "deploy", str(APPS / "global-callback"), "--app", slug)
    out = ok(result)
    assert out.strip().splitlines()[-1] == f"{portal_url}/apps/{slug}/"
    assert "uploading" in result.stderr and "(100%)" in result.stderr
    listing = ok(run_cli(env, "deployments", slug)).splitlines()
    assert listing and listing[0].split()[1] == "active", listing
    # A new app is hidden from the portal, so /api/apps (the apps one may open) omits it.
    ok(run_cli(env, "apps"))


def test_a_token_from_the_environment_is_used_as_is(stack: Stack, tmp_path: Path) -> None:
    env = cli_env(stack, tmp_path, DASH_PLATFORM_TOKEN=client_token(stack))
    assert ok(run_cli(env, "whoami")).splitlines()[0] == "service-account-dash-deploy"
    env["DASH_PLATFORM_TOKEN"] = "not-a-token"
    refused = run_cli(env, "whoami")
    assert refused.returncode == 3
    assert error_line(refused) == "not signed in: run dash-platform login"


def test_wrong_client_secret_is_one_line(stack: Stack, tmp_path: Path) -> None:
    env = ci_env(stack, tmp_path)
    env["DASH_PLATFORM_CLIENT_SECRET"] = "wrong"
    result = run_cli(env, "apps")
    assert result.returncode == 3
    assert error_line(result).startswith("Keycloak refused client dash-deploy")


# --------------------------------------------------------------------------- errors


def test_no_such_app_and_not_allowed(stack: Stack, tmp_path: Path) -> None:
    env = ci_env(stack, tmp_path)
    missing = run_cli(env, "deployments", "no-such-app")
    assert missing.returncode == 5
    assert error_line(missing) == "no such app: no-such-app"
    # sales belongs to alice: the CI account neither sees its deployments nor deploys to it.
    refused = run_cli(env, "deployments", "sales")
    assert refused.returncode == 4
    assert error_line(refused).startswith("not allowed: ")
    deploy = run_cli(env, "deploy", str(APPS / "global-callback"), "--app", "sales")
    assert deploy.returncode == 4
    assert error_line(deploy).startswith("not allowed: ")


def test_bundle_refused_and_build_failed(stack: Stack, tmp_path: Path) -> None:
    env = ci_env(stack, tmp_path / "home")
    slug = "ci-refused"
    ok(run_cli(env, "create", slug))
    no_requirements = tmp_path / "no-requirements"
    no_requirements.mkdir()
    (no_requirements / "app.py").write_text("app = None\n")
    refused = run_cli(env, "deploy", str(no_requirements), "--app", slug)
    assert refused.returncode == 6, refused.stderr
    assert error_line(refused).startswith("bundle refused: ")
    failed = run_cli(env, "deploy", str(APPS / "broken-import"), "--app", slug)
    assert failed.returncode == 7, failed.stderr
    assert error_line(failed).startswith("build failed: ")
    assert "module_that_does_not_exist" in failed.stderr
    listing = ok(run_cli(env, "deployments", slug)).splitlines()
    assert listing[0].split()[1] == "failed"


def test_cannot_reach_the_platform(stack: Stack, tmp_path: Path) -> None:
    env = ci_env(stack, tmp_path)
    env["DASH_PLATFORM_URL"] = "http://127.0.0.1:9"
    result = run_cli(env, "apps")
    assert result.returncode == 8
    assert error_line(result).startswith("cannot reach the platform at http://127.0.0.1:9")


def test_app_url_answers_after_a_cli_deploy(stack: Stack, portal_url: str, tmp_path: Path) -> None:
    """The URL the CLI prints serves the app once its owner opens it to signed-in users."""
    env = ci_env(stack, tmp_path)
    slug = "ci-opened"
    ok(run_cli(env, "create", slug))
    url = ok(run_cli(env, "deploy", str(APPS / "global-callback"), "--app", slug)).split()[-1]
    headers = {"Authorization": f"Bearer {client_token(stack)}"}
    opened = requests.patch(
        f"{portal_url}/api/apps/{slug}",
        json={"access": "authenticated"},
        headers=headers,
        timeout=30,
    )
    assert opened.status_code == 200, opened.text
    alice = login(portal_url, "alice")
    layout = alice.get(f"{url}_dash-layout", timeout=30)
    assert layout.status_code == 200 and "gc-title" in layout.text
