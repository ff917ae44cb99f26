"""What each `dash-platform` command sends to the platform and prints (a local fake server)."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from dash_platform_cli.main import cli

from tests.unit.cli_fake_server import Answer, FakeServer, Seen, fake_server


@pytest.fixture
def platform() -> Iterator[FakeServer]:
    with fake_server() as server:
        yield server


def invoke(server: FakeServer, tmp_path: Path, *args: str, **env: str) -> Result:
    environment = {
        "DASH_PLATFORM_URL": server.url,
        "DASH_PLATFORM_KEYCLOAK_URL": server.url,
        "DASH_PLATFORM_TOKEN": "test-token",
        "DASH_PLATFORM_CLIENT_ID": "",
        "DASH_PLATFORM_CLIENT_SECRET": "",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        **env,
    }
    return CliRunner().invoke(cli, list(args), env=environment, catch_exceptions=False)


def only(server: FakeServer, method: str) -> Seen:
    found = [s for s in server.seen if s.method == method]
    assert len(found) == 1, [(s.method, s.path) for s in server.seen]
    return found[0]


def test_deploy_uploads_follows_the_build_and_prints_the_url(
    platform: FakeServer, tmp_path: Path
) -> None:
    folder = tmp_path / "my-app"
    (folder / "assets").mkdir(parents=True)
    (folder / "app.py").write_text("app = None\n")
    (folder / "requirements.txt").write_text("dash\n")
    (folder / "assets" / "style.css").write_text("body {}\n")
    (folder / "local.db").write_text("x")
    (folder / ".dashignore").write_text("*.db\n")
    platform.on(
        "POST", "/api/apps/my-app/deployments", Answer(202, {"id": 9, "status": "building"})
    )
    states = iter(["building", "building", "active"])
    logs = iter(["step 1\n", "step 1\nstep 2\n", "step 1\nstep 2\ndone\n"])
    platform.on(
        "GET",
        "/api/apps/my-app/deployments/9",
        lambda _: Answer(body={"id": 9, "status": next(states), "error": None}),
    )
    platform.on(
        "GET",
        "/api/apps/my-app/deployments/9/log",
        lambda _: Answer(body=next(logs), content_type="text/plain"),
    )
    result = invoke(
        platform, tmp_path, "deploy", str(folder), "--app", "my-app", "--entrypoint", "app:server"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{platform.url}/apps/my-app/\n"
    assert result.stderr.count("step 1") == 1 and result.stderr.count("step 2") == 1
    assert "done" in result.stderr
    assert "uploading" in result.stderr and "(100%)" in result.stderr
    upload = only(platform, "POST")
    assert upload.query == {"entrypoint": ["app:server"]}
    assert upload.headers["content-type"] == "application/gzip"
    assert upload.headers["authorization"] == "Bearer test-token"
    with tarfile.open(fileobj=io.BytesIO(upload.body), mode="r:gz") as archive:
        names = set(archive.getnames())
    assert names == {".dashignore", "app.py", "requirements.txt", "assets", "assets/style.css"}


def test_dry_run_uploads_nothing(platform: FakeServer, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "app.py").write_text("")
    result = invoke(platform, tmp_path, "deploy", str(tmp_path / "a"), "--app", "x", "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stdout == "app.py\n"
    assert "no requirements.txt" in result.stderr
    assert platform.seen == []


def test_whoami_apps_create(platform: FakeServer, tmp_path: Path) -> None:
    me = {
        "username": "alice",
        "roles": ["licensed_user"],
        "groups": ["/sales/east"],
        "csrf_token": "c",
    }
    platform.on("GET", "/api/me", Answer(body=me))
    platform.on(
        "GET",
        "/api/apps",
        Answer(
            body={
                "apps": [
                    {"slug": "sales", "title": "Sales", "access": "restricted", "can_manage": True}
                ]
            }
        ),
    )
    platform.on("POST", "/api/apps", Answer(201, {"slug": "new-app", "owner": "alice"}))
    assert invoke(platform, tmp_path, "whoami").stdout.splitlines()[0] == "alice"
    assert "csrf_token" not in invoke(platform, tmp_path, "whoami", "--json").stdout
    listing = invoke(platform, tmp_path, "apps").stdout
    assert listing.startswith("* sales") and "Sales" in listing
    result = invoke(platform, tmp_path, "create", "new-app", "--title", "New app")
    assert result.exit_code == 0 and "created new-app" in result.stdout
    assert json.loads(only(platform, "POST").body) == {"slug": "new-app", "title": "New app"}


def test_env_commands(platform: FakeServer, tmp_path: Path) -> None:
    platform.on(
        "GET",
        "/api/apps/my-app/env",
        Answer(body={"names": ["API_URL"], "system": {"DASH_APP_SLUG": "my-app"}}),
    )
    platform.on("PUT", "/api/apps/my-app/env/API_URL", Answer(204))
    platform.on("DELETE", "/api/apps/my-app/env/API_URL", Answer(204))
    listing = invoke(platform, tmp_path, "env", "list", "my-app")
    assert listing.stdout.splitlines()[0] == "API_URL"
    assert "DASH_APP_SLUG=my-app" in listing.stdout
    result = invoke(platform, tmp_path, "env", "set", "my-app", "API_URL=https://x.test/?a=b")
    assert result.exit_code == 0, result.output
    assert json.loads(only(platform, "PUT").body) == {"value": "https://x.test/?a=b"}
    result = invoke(platform, tmp_path, "env", "unset", "my-app", "API_URL")
    assert result.exit_code == 0, result.output
    assert only(platform, "DELETE").path == "/api/apps/my-app/env/API_URL"


@pytest.mark.parametrize("action", ["restart", "stop", "start"])
def test_process_commands(platform: FakeServer, tmp_path: Path, action: str) -> None:
    platform.on("POST", f"/api/apps/my-app/{action}", Answer(202, {"status": "accepted"}))
    result = invoke(platform, tmp_path, action, "my-app")
    assert result.exit_code == 0, result.output
    assert only(platform, "POST").path == f"/api/apps/my-app/{action}"


def test_scale_rollback_deployments_logs_delete(platform: FakeServer, tmp_path: Path) -> None:
    platform.on("PATCH", "/api/apps/my-app", Answer(body={"slug": "my-app", "workers": 3}))
    platform.on("POST", "/api/apps/my-app/deployments/2/activate", Answer(body={"id": 2}))
    rows = [
        {"id": 3, "status": "failed", "created_at": "t3", "created_by": "alice", "error": "boom"},
        {"id": 2, "status": "active", "created_at": "t2", "created_by": "alice", "error": None},
    ]
    platform.on("GET", "/api/apps/my-app/deployments", Answer(body={"deployments": rows}))
    platform.on(
        "GET", "/api/apps/my-app/logs", Answer(body="line 1\nline 2\n", content_type="text/plain")
    )
    platform.on("DELETE", "/api/apps/my-app", Answer(204))
    assert "3 workers" in invoke(platform, tmp_path, "scale", "my-app", "--workers", "3").stdout
    assert json.loads(only(platform, "PATCH").body) == {"workers": 3}
    assert invoke(platform, tmp_path, "rollback", "my-app", "2").exit_code == 0
    listing = invoke(platform, tmp_path, "deployments", "my-app").stdout.splitlines()
    assert listing[0].split()[:2] == ["3", "failed"] and "(boom)" in listing[0]
    assert listing[1].split()[:2] == ["2", "active"]
    assert invoke(platform, tmp_path, "logs", "my-app", "--tail", "5").stdout == "line 1\nline 2\n"
    logs = [s for s in platform.seen if s.path.endswith("/logs")]
    assert logs[0].query == {"tail": ["5"]}
    assert invoke(platform, tmp_path, "delete", "my-app", "--yes").exit_code == 0
    assert only(platform, "DELETE").path == "/api/apps/my-app"


def test_logs_follow_streams(platform: FakeServer, tmp_path: Path) -> None:
    platform.on("GET", "/api/apps/my-app/logs", Answer(body="a\nb\n", content_type="text/plain"))
    result = invoke(platform, tmp_path, "logs", "my-app", "--follow", "--tail", "10")
    assert result.exit_code == 0, result.output
    assert result.stdout == "a\nb\n"
    assert platform.seen[0].query == {"follow": ["1"], "tail": ["10"]}


def test_a_401_is_retried_once_with_a_new_client_token(
    platform: FakeServer, tmp_path: Path
) -> None:
    issuer = f"{platform.url}/realms/dash"
    platform.on(
        "GET",
        "/realms/dash/.well-known/openid-configuration",
        Answer(body={"token_endpoint": f"{issuer}/protocol/openid-connect/token"}),
    )
    tokens = iter(["first", "second"])
    platform.on(
        "POST",
        "/realms/dash/protocol/openid-connect/token",
        lambda _: Answer(body={"access_token": next(tokens), "expires_in": 300}),
    )

    def me(seen: Seen) -> Answer:
        if seen.headers.get("authorization") == "Bearer second":
            return Answer(body={"username": "service-account-dash-deploy"})
        return Answer(401, {"error": "Bearer token refused"})

    platform.on("GET", "/api/me", me)
    result = invoke(
        platform,
        tmp_path,
        "whoami",
        DASH_PLATFORM_TOKEN="",
        DASH_PLATFORM_CLIENT_ID="dash-deploy",
        DASH_PLATFORM_CLIENT_SECRET="s",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "service-account-dash-deploy"
    assert [s.path for s in platform.seen].count("/api/me") == 2
