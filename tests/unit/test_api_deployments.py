"""The deployment API's answers, for each demo user (the build itself runs in the
integration tests, through the real supervisor and front door)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.api import deployments as deployments_api
from portal.services import services
from tests.unit.conftest_registry import make_app

GZIP = "application/gzip"


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Flask:
    submitted: list[int] = []
    monkeypatch.setattr(deployments_api, "submit", submitted.append)
    app = make_app(tmp_path)
    app.extensions["test_submitted"] = submitted
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def bundle(files: dict[str, bytes], *, links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buffer.getvalue()


GOOD = bundle(
    {"app.py": b"import dash\napp = dash.Dash(__name__)\n", "requirements.txt": b"dash\n"}
)


def deploy(client: FlaskClient, who: str, body: bytes = GOOD, slug: str = "hello", **extra):
    return client.post(
        f"/api/apps/{slug}/deployments",
        data=body,
        content_type=extra.pop("content_type", GZIP),
        user=who,
        query_string=extra,
    )


def listed(client: FlaskClient, slug: str = "hello") -> list[dict]:
    answer = client.get(f"/api/apps/{slug}/deployments", user="admin")
    return answer.json["deployments"]


# --- POST /api/apps ---------------------------------------------------------------------


def test_a_licensed_user_creates_an_app_and_owns_it(client: FlaskClient) -> None:
    answer = client.post("/api/apps", json={"slug": "my-app", "title": "Mine"}, user="erin")
    assert answer.status_code == 201
    assert answer.json["owner"] == "erin"
    assert answer.json["access"] == "restricted" and answer.json["visible_in_portal"] is False
    assert answer.headers["Location"] == "/api/apps/my-app"


@pytest.mark.parametrize(
    ("who", "body", "status"),
    [
        (None, {"slug": "x"}, 401),
        ("bob", {"slug": "x"}, 403),
        ("root", {"slug": "x"}, 403),  # an admin without a seat owns nothing
        ("erin", {"slug": "hello"}, 409),
        ("erin", {"slug": "Bad Slug"}, 422),
        ("erin", {"slug": 7}, 422),
        ("erin", ["x"], 400),
        ("erin", {"slug": "x", "owner": "bob"}, 400),
    ],
)
def test_create_app_refusals(client: FlaskClient, who, body, status) -> None:
    assert client.post("/api/apps", json=body, user=who).status_code == status


# --- POST /api/apps/<slug>/deployments ----------------------------------------------------


def test_a_good_bundle_is_accepted_and_built_in_the_background(app, client) -> None:
    answer = deploy(client, "admin", entrypoint="app:app")
    assert answer.status_code == 202, answer.json
    assert answer.json["status"] == "building"
    assert app.extensions["test_submitted"] == [answer.json["id"]]
    assert [d["id"] for d in listed(client)] == [answer.json["id"]]
    with app.app_context():
        bundle_dir = services().hosting.paths.bundle("hello", answer.json["id"])
    assert (bundle_dir / "app.py").exists()
    # Apps live below the data folder the settings were given, never the checkout's var/.
    assert bundle_dir.is_relative_to(services(app).settings.data_dir)
    one = client.get(answer.headers["Location"], user="admin")
    assert one.json["created_by"] == "admin" and one.json["error"] is None
    log = client.get(answer.headers["Location"] + "/log", user="admin")
    assert log.status_code == 200 and log.mimetype == "text/plain"


@pytest.mark.parametrize(
    ("who", "slug", "status"),
    [
        (None, "hello", 401),
        ("dave", "hello", 403),  # a viewer
        ("root", "hello", 403),  # seed 002: an admin deploys only when also a licensed user
        ("erin", "sales", 403),  # a licensed user who does not own it
        ("alice", "nope", 404),
    ],
)
def test_who_may_deploy(client: FlaskClient, who, slug, status) -> None:
    answer = client.post(f"/api/apps/{slug}/deployments", data=GOOD, content_type=GZIP, user=who)
    assert answer.status_code == status


@pytest.mark.parametrize(
    ("body", "options", "status"),
    [
        (GOOD, {"content_type": "application/json"}, 400),
        (b"", {}, 400),
        (b"not a tarball", {}, 400),
        (bundle({"../evil.py": b"x", "requirements.txt": b""}), {}, 422),
        (bundle({"/etc/evil": b"x", "requirements.txt": b""}), {}, 422),
        (bundle({"requirements.txt": b""}, links={"link": "/etc/passwd"}), {}, 422),
        (bundle({"app.py": b""}), {}, 422),  # no requirements.txt
        (GOOD, {"entrypoint": "app:app; rm -rf /"}, 422),
    ],
)
def test_bad_bundles_change_nothing(app, client, body, options, status) -> None:
    answer = deploy(client, "alice", body, slug="sales", **options)
    assert answer.status_code == status, answer.json
    assert answer.json["error"]
    assert listed(client, "sales") == []
    assert app.extensions["test_submitted"] == []
    with app.app_context():
        bundles = services().hosting.paths.bundles("sales")
    assert not bundles.exists() or list(bundles.iterdir()) == []


def test_a_bundle_over_the_limit_is_413(client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deployments_api, "BUNDLE_LIMIT", 1024)
    answer = deploy(client, "alice", GOOD + b"\0" * 2048, slug="sales")
    assert answer.status_code == 413
    assert listed(client, "sales") == []


def test_deployments_are_for_owners_co_owners_and_admins(client: FlaskClient) -> None:
    for who, status in (("alice", 200), ("admin", 200), ("bob", 403), ("erin", 403)):
        answer = client.get("/api/apps/sales/deployments", user=who)
        assert answer.status_code == status, who
    missing = client.get("/api/apps/sales/deployments/99", user="alice")
    assert missing.status_code == 404
