"""The App Manager's operating sections: processes, environment, logs, delete."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal import registry
from portal.services import services


def page(client: FlaskClient, who: str, slug: str = "sales") -> str:
    answer = client.get(f"/manager/apps/{slug}", user=who)
    assert answer.status_code == 200
    return answer.get_data(as_text=True)


def post(client: FlaskClient, who: str, path: str, data: dict[str, str]):
    return client.post(path, data=data, user=who, follow_redirects=True)


def test_owner_sees_the_sections_and_only_an_admin_the_memory_limit(client) -> None:
    html = page(client, "alice")
    sections = ("overview", "processes", "environment", "logs", "delete", "deployments")
    for section in (f'id="{name}"' for name in sections):
        assert section in html
    assert 'name="memory_limit_mb"' not in html
    assert 'name="memory_limit_mb"' in page(client, "admin")


def test_environment_values_are_write_only(client) -> None:
    answer = post(client, "alice", "/manager/apps/sales/env", {"name": "TOKEN", "value": "abc123"})
    assert answer.status_code == 200 and "TOKEN is set" in answer.get_data(as_text=True)
    html = page(client, "alice")
    assert "<code>TOKEN</code>" in html and "abc123" not in html
    bad = post(client, "alice", "/manager/apps/sales/env", {"name": "DASH_X", "value": "1"})
    assert "set by the platform" in bad.get_data(as_text=True)
    removed = post(client, "alice", "/manager/apps/sales/env/TOKEN/delete", {})
    assert "TOKEN is unset" in removed.get_data(as_text=True)
    assert "<code>TOKEN</code>" not in page(client, "alice")


def test_the_log_tail_is_shown(app: Flask, client) -> None:
    with app.app_context():
        log = services().hosting.paths.app_log("sales")
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("started <b>ok</b>\n")
    html = page(client, "alice")
    assert "started &lt;b&gt;ok&lt;/b&gt;" in html  # escaped, as everything an app writes


def test_workers_are_saved_and_checked(app: Flask, client) -> None:
    ok = post(
        client, "alice", "/manager/apps/sales/processes", {"workers": "3", "idle_timeout_s": "30"}
    )
    assert "Saved" in ok.get_data(as_text=True)
    with app.app_context():
        assert registry.get_app("sales").workers == 3
        assert registry.get_app("sales").idle_timeout_s == 30
    bad = post(client, "alice", "/manager/apps/sales/processes", {"workers": "99"})
    assert "workers" in bad.get_data(as_text=True)
    refused = post(client, "alice", "/manager/apps/sales/processes", {"memory_limit_mb": "512"})
    assert "may not change memory_limit_mb" in refused.get_data(as_text=True)


def test_nothing_deployed_is_said_plainly(client) -> None:
    answer = post(client, "alice", "/manager/apps/sales/control/restart", {})
    assert "no active deployment" in answer.get_data(as_text=True)
    activate = post(client, "alice", "/manager/apps/sales/deployments/9/activate", {})
    assert "No deployment 9" in activate.get_data(as_text=True)
    assert "not deployed" in page(client, "alice")


def test_delete_needs_the_slug_typed(app: Flask, client) -> None:
    wrong = post(client, "erin", "/manager/apps/finance/delete", {"confirm": "Finance"})
    assert "Type finance to confirm" in wrong.get_data(as_text=True)
    done = post(client, "erin", "/manager/apps/finance/delete", {"confirm": "finance"})
    assert "finance is deleted" in done.get_data(as_text=True)
    with app.app_context():
        assert registry.get_app("finance") is None


@pytest.mark.parametrize(
    "path",
    [
        "/manager/apps/sales/control/restart",
        "/manager/apps/sales/env",
        "/manager/apps/sales/env/X/delete",
        "/manager/apps/sales/delete",
        "/manager/apps/sales/processes",
        "/manager/apps/sales/deployments/1/activate",
    ],
)
def test_others_may_not_operate(client, path: str) -> None:
    for who in ("erin", "bob"):  # a licensed user who does not own it; a viewer
        answer = client.post(path, data={"confirm": "sales"}, user=who)
        assert answer.status_code == 403, (who, path)
