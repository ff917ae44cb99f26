"""The CLI round trip on one app: deploy, logs, environment, processes, scale, rollback, delete.

A CI job (the dash-deploy client) owns the app and drives it only through `dash-platform`;
alice, a signed-in visitor, checks what the front door serves.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.cli_client import CLI, ci_env, client_token, run_cli
from tests.hosting_client import APPS
from tests.live_stack import Stack
from tests.oidc_flow import login

pytestmark = pytest.mark.integration

SLUG = "cli-roundtrip"


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr[-3000:]
    return lines[0].removeprefix("error: ")


def deployments(env: dict[str, str], slug: str) -> dict[str, str]:
    """{id: status} from `dash-platform deployments`."""
    rows = ok(run_cli(env, "deployments", slug)).splitlines()
    return {row.split()[0]: row.split()[1] for row in rows if row.strip()}


def serves(session: requests.Session, url: str, marker: str, timeout: float = 90) -> None:
    """Wait until the app's layout at ``url`` contains ``marker``."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        answer = session.get(f"{url}_dash-layout", timeout=30)
        if answer.status_code == 200 and marker in answer.text:
            return
        last = f"{answer.status_code} {answer.text[:200]}"
        time.sleep(1)
    raise AssertionError(f"{url} does not serve {marker!r} after {timeout:.0f} s: {last}")


@pytest.fixture(scope="module")
def env(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return ci_env(stack, tmp_path_factory.mktemp("cli-home"))


@pytest.fixture(scope="module")
def alice(portal_url: str) -> requests.Session:
    return login(portal_url, "alice")


@pytest.fixture(scope="module")
def app_url(env: dict[str, str], stack: Stack, portal_url: str, alice: requests.Session) -> str:
    """SLUG deployed by the CLI from tests/apps/global-callback, open to signed-in users."""
    ok(run_cli(env, "create", SLUG, "--title", "CLI round trip"))
    url = ok(run_cli(env, "deploy", str(APPS / "global-callback"), "--app", SLUG)).split()[-1]
    assert url == f"{portal_url}/apps/{SLUG}/"
    opened = requests.patch(
        f"{portal_url}/api/apps/{SLUG}",
        json={"access": "authenticated"},
        headers={"Authorization": f"Bearer {client_token(stack)}"},
        timeout=30,
    )
    assert opened.status_code == 200, opened.text
    serves(alice, url, "gc-title")
    return url


def test_logs_tail_and_follow(env: dict[str, str], app_url: str, alice: requests.Session) -> None:
    alice.get(f"{app_url}_dash-layout", timeout=30)
    tail = ok(run_cli(env, "logs", SLUG, "--tail", "20"))
    assert tail.strip(), "the app's log is empty"
    assert len(tail.strip().splitlines()) <= 20

    follow = subprocess.Popen(
        [str(CLI), "logs", SLUG, "--follow", "--tail", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.extend(iter(follow.stdout.readline, "")),  # type: ignore[union-attr]
        daemon=True,
    )
    reader.start()
    deadline = time.monotonic() + 20
    while not lines and time.monotonic() < deadline and follow.poll() is None:
        alice.get(f"{app_url}_dash-layout", timeout=30)
        time.sleep(0.5)
    still_streaming = follow.poll() is None
    follow.send_signal(signal.SIGINT)
    _, err = follow.communicate(timeout=30)
    assert still_streaming, f"logs --follow ended by itself (exit {follow.returncode}): {err}"
    assert lines, "logs --follow printed nothing in 20 s"
    assert follow.returncode == 130, err
    assert "Traceback" not in err


def test_env_set_list_unset(env: dict[str, str], stack: Stack, app_url: str) -> None:
    secret_value = "value-from-the-cli-1234"
    ok(run_cli(env, "env", "set", SLUG, f"GREETING={secret_value}"))
    listing = ok(run_cli(env, "env", "list", SLUG))
    assert "GREETING" in listing.splitlines()
    assert secret_value not in listing
    api = requests.get(
        f"{stack.portal_url}/api/apps/{SLUG}/env",
        headers={"Authorization": f"Bearer {client_token(stack)}"},
        timeout=30,
    )
    assert api.status_code == 200 and "GREETING" in api.json()["names"]
    assert secret_value not in api.text
    ok(run_cli(env, "env", "unset", SLUG, "GREETING"))
    assert "GREETING" not in ok(run_cli(env, "env", "list", SLUG)).splitlines()


def test_restart_stop_start(env: dict[str, str], app_url: str, alice: requests.Session) -> None:
    ok(run_cli(env, "restart", SLUG))
    serves(alice, app_url, "gc-title")
    ok(run_cli(env, "stop", SLUG))
    ok(run_cli(env, "start", SLUG))
    serves(alice, app_url, "gc-title")


def test_scale(env: dict[str, str], stack: Stack, app_url: str, alice: requests.Session) -> None:
    assert "2 workers" in ok(run_cli(env, "scale", SLUG, "--workers", "2"))
    settings = requests.get(
        f"{stack.portal_url}/api/apps/{SLUG}",
        headers={"Authorization": f"Bearer {client_token(stack)}"},
        timeout=30,
    )
    assert settings.status_code == 200 and settings.json().get("workers") == 2, settings.text
    serves(alice, app_url, "gc-title")


def test_rollback(env: dict[str, str], app_url: str, alice: requests.Session) -> None:
    before = deployments(env, SLUG)
    first = next(i for i, status in before.items() if status == "active")
    ok(run_cli(env, "deploy", str(APPS / "pattern-matching"), "--app", SLUG))
    serves(alice, app_url, "pm-add")
    after = deployments(env, SLUG)
    second = next(i for i, status in after.items() if status == "active")
    assert second != first and after[first] == "inactive"

    ok(run_cli(env, "rollback", SLUG, first))
    serves(alice, app_url, "gc-title")
    rolled = deployments(env, SLUG)
    assert rolled[first] == "active" and rolled[second] == "inactive"


def _processes_of(stack: Stack, slug: str) -> list[str]:
    """Command lines of running processes that serve a bundle of ``slug``."""
    marker = f"{stack.apps_dir}/bundles/{slug}/"
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # ended meanwhile
        if marker in args:
            found.append(args)
    return found


def test_delete(
    env: dict[str, str], stack: Stack, portal_url: str, alice: requests.Session
) -> None:
    slug = "cli-doomed"
    ok(run_cli(env, "create", slug))
    ok(run_cli(env, "deploy", str(APPS / "global-callback"), "--app", slug))
    running = _processes_of(stack, slug)
    assert running, f"no process of {slug}; apps running: {_processes_of(stack, '')[:5]}"

    refused = run_cli(env, "delete", slug, stdin="not-the-slug\n")
    assert refused.returncode == 6 and "nothing deleted" in error_line(refused)
    assert deployments(env, slug)

    ok(run_cli(env, "delete", slug, stdin=f"{slug}\n"))
    gone = run_cli(env, "deployments", slug)
    assert gone.returncode == 5 and error_line(gone) == f"no such app: {slug}"
    assert alice.get(f"{portal_url}/apps/{slug}/", timeout=30).status_code == 404
    deadline = time.monotonic() + 20
    while _processes_of(stack, slug) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _processes_of(stack, slug)


def test_delete_with_yes(env: dict[str, str]) -> None:
    ok(run_cli(env, "create", "cli-doomed-too"))
    ok(run_cli(env, "delete", "cli-doomed-too", "--yes"))
    assert run_cli(env, "deployments", "cli-doomed-too").returncode == 5
