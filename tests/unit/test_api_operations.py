"""Operating an app through the API: who may, what is refused, what is never returned.

Processes are not started here (the integration tests run them through the supervisor);
these are the answers that need no process: permissions, environment variables, logs,
delete, and refusals of operations on apps with nothing deployed.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal import audit, registry
from portal.deploys.models import AppEnvVar, Deployment
from portal.deploys.pipeline import app_row
from portal.extensions import db
from portal.services import services


def call(client: FlaskClient, method: str, path: str, who: str | None, **kwargs):
    return client.open(path, method=method, user=who, **kwargs)


OPERATIONS = [
    ("GET", "/api/apps/sales/logs", {}),
    ("GET", "/api/apps/sales/env", {}),
    ("PUT", "/api/apps/sales/env/GREETING", {"json": {"value": "hi"}}),
    ("DELETE", "/api/apps/sales/env/NOT_SET", {}),
    ("POST", "/api/apps/sales/restart", {}),
    ("POST", "/api/apps/sales/stop", {}),
    ("POST", "/api/apps/sales/start", {}),
    ("POST", "/api/apps/sales/deployments/1/activate", {}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), OPERATIONS)
@pytest.mark.parametrize(
    ("who", "allowed"),
    [(None, 401), ("bob", 403), ("erin", 403), ("dave", 403), ("alice", True), ("root", True)],
)
def test_seed_002_who_operates_an_app(client, method, path, kwargs, who, allowed) -> None:
    """Owners and co-owners (alice owns sales) and admins (root: admin without a seat)."""
    status = call(client, method, path, who, **kwargs).status_code
    if allowed is True:
        assert status not in (401, 403), status
    else:
        assert status == allowed


def test_unknown_app_is_404(client: FlaskClient) -> None:
    for method, path, kwargs in OPERATIONS:
        answer = call(client, method, path.replace("sales", "nope"), "root", **kwargs)
        assert answer.status_code == 404, path


def test_environment_names_only_and_values_sealed(app: Flask, client: FlaskClient) -> None:
    put = call(client, "PUT", "/api/apps/sales/env/API_KEY", "alice", json={"value": "s3cr3t!"})
    assert put.status_code == 204
    listed = call(client, "GET", "/api/apps/sales/env", "alice")
    assert "API_KEY" in listed.json["names"] and "s3cr3t!" not in listed.get_data(as_text=True)
    system = listed.json["system"]
    assert system["DASH_APP_SLUG"] == "sales"
    assert system["DASH_ROUTES_PATHNAME_PREFIX"] == "/apps/sales/"
    assert "s3cr3t" not in str(system) and "sales." not in system["DASH_PLATFORM_APP_TOKEN"]
    with app.app_context():
        stored = db.session.execute(select(AppEnvVar.value).where(AppEnvVar.name == "API_KEY"))
        assert "s3cr3t!" not in stored.scalar_one()  # encrypted at rest
        from portal.deploys import env_vars

        app_id = db.session.execute(
            select(AppEnvVar.app_id).where(AppEnvVar.name == "API_KEY")
        ).scalar_one()
        assert env_vars.values(app_id)["API_KEY"] == "s3cr3t!"
        events = [e for e in audit.recent(5) if e["action"] == "app.env.set"]
        assert events and events[0]["detail"] == {"name": "API_KEY"}  # the name, never the value
    assert call(client, "DELETE", "/api/apps/sales/env/API_KEY", "alice").status_code == 204
    assert call(client, "DELETE", "/api/apps/sales/env/API_KEY", "alice").status_code == 404


@pytest.mark.parametrize(
    ("name", "body", "status"),
    [
        ("1BAD", {"value": "x"}, 422),
        ("DASH_APP_SLUG", {"value": "x"}, 422),  # the platform's own
        ("PATH", {"value": "/tmp"}, 422),
        ("OK_NAME", {"value": "two\nlines"}, 422),
        ("OK_NAME", {"value": "a ; comment"}, 422),
        ("OK_NAME", {"value": 7}, 422),
        ("OK_NAME", {"value": "x" * (32 * 1024 + 1)}, 422),
        ("OK_NAME", {"other": "x"}, 400),
        ("OK_NAME", ["x"], 400),
    ],
)
def test_bad_variables_are_refused(client: FlaskClient, name, body, status) -> None:
    answer = call(client, "PUT", f"/api/apps/sales/env/{name}", "alice", json=body)
    assert answer.status_code == status, answer.json
    assert answer.json["error"]


def test_logs_tail_newest_last(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        log = services().hosting.paths.app_log("sales")
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("".join(f"line {n}\n" for n in range(1, 501)))
    answer = call(client, "GET", "/api/apps/sales/logs?tail=3", "alice")
    assert answer.status_code == 200 and answer.mimetype == "text/plain"
    assert answer.get_data(as_text=True) == "line 498\nline 499\nline 500\n"
    assert call(client, "GET", "/api/apps/sales/logs?tail=x", "alice").status_code == 400


def test_operations_on_an_app_with_nothing_deployed_are_409(client: FlaskClient) -> None:
    for action in ("restart", "stop", "start"):
        assert call(client, "POST", f"/api/apps/sales/{action}", "alice").status_code == 409
    activate = call(client, "POST", "/api/apps/sales/deployments/1/activate", "alice")
    assert activate.status_code == 404


def test_delete_forgets_the_app_and_keeps_its_history(app: Flask, client: FlaskClient) -> None:
    assert call(client, "DELETE", "/api/apps/finance", "erin").status_code == 204
    assert call(client, "GET", "/api/apps/finance", "erin").status_code == 404
    assert call(client, "DELETE", "/api/apps/finance", "erin").status_code == 404
    with app.app_context():
        assert registry.get_app("finance") is None
        assert audit.recent(1)[0]["action"] == "app.delete"


def test_delete_frees_the_environments_no_other_app_uses(app: Flask, client: FlaskClient) -> None:
    """finance's own environment goes with it; one it shares with sales stays."""
    stopped: list[str] = []
    with app.app_context():
        hosting = services().hosting
        # No supervisor runs in unit tests: note which programs delete stops instead.
        hosting.__dict__["runner"] = SimpleNamespace(stop=stopped.append)
        envs = hosting.layout.envs_dir
        for key in ("shared", "finance-only"):
            (envs / key / "bin").mkdir(parents=True)
        ids = {slug: app_row(slug).id for slug in ("finance", "sales")}
        for slug, key in (("finance", "shared"), ("finance", "finance-only"), ("sales", "shared")):
            row = Deployment(
                app_id=ids[slug], status="inactive", entrypoint="app:app", created_by="erin"
            )
            row.environment = key
            db.session.add(row)
        db.session.commit()
    assert call(client, "DELETE", "/api/apps/finance", "erin").status_code == 204
    assert not (envs / "finance-only").exists()
    assert (envs / "shared" / "bin").is_dir()
    assert len(stopped) == 2 and all(name.startswith("app-finance-") for name in stopped)


def test_process_settings_follow_seed_002(client: FlaskClient) -> None:
    patch = "/api/apps/sales"
    assert call(client, "PATCH", patch, "alice", json={"workers": 4}).json["workers"] == 4
    assert call(client, "PATCH", patch, "alice", json={"idle_timeout_s": 600}).status_code == 200
    assert call(client, "PATCH", patch, "alice", json={"memory_limit_mb": 512}).status_code == 403
    assert call(client, "PATCH", patch, "root", json={"memory_limit_mb": 512}).status_code == 200
    for bad in ({"workers": 0}, {"workers": "2"}, {"idle_timeout_s": 5}, {"workers": True}):
        assert call(client, "PATCH", patch, "alice", json=bad).status_code == 422, bad
