"""The one place where the registry's domain errors become HTTP answers (portal.errors)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from portal import registry
from portal.errors import DATABASE_UNAVAILABLE, REGISTRY_STATUS
from portal.extensions import db
from tests.unit.conftest_registry import make_app

#: Each kind of refusal and the status it has always answered with.
STATUS = [
    (registry.Malformed, 400),
    (registry.Forbidden, 403),
    (registry.NotFound, 404),
    (registry.Conflict, 409),
    (registry.Invalid, 422),
]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    portal = make_app(Path(tmp_path_factory.mktemp("errors")), seed=False)

    @portal.get("/api/test-refusal/<int:index>")
    @portal.get("/test-refusal/<int:index>")
    def refuse(index: int) -> None:
        kind, _ = STATUS[index]
        raise kind(f"Refused as {kind.__name__}.", field="title")

    return portal


def test_every_kind_has_a_status() -> None:
    assert set(REGISTRY_STATUS) == set(registry.RegistryError.__subclasses__())
    assert [(kind, REGISTRY_STATUS[kind]) for kind, _ in STATUS] == STATUS


@pytest.mark.parametrize(("index", "status"), [(i, status) for i, (_, status) in enumerate(STATUS)])
def test_api_answers_json_with_the_status(app: Flask, index: int, status: int) -> None:
    kind, _ = STATUS[index]
    answer = app.test_client().get(f"/api/test-refusal/{index}")
    assert answer.status_code == status
    assert answer.get_json() == {
        "error": f"Refused as {kind.__name__}.",
        "status": status,
        "field": "title",
    }


def test_pages_answer_html_with_the_status(app: Flask) -> None:
    answer = app.test_client().get("/test-refusal/1", headers={"Accept": "text/html"})
    assert answer.status_code == 403
    assert answer.mimetype == "text/html"
    assert "Refused as Forbidden." in answer.get_data(as_text=True)


def test_an_unreachable_database_is_a_503_and_the_portal_recovers(tmp_path: Path) -> None:
    """No 500 while the platform database is away, and no restart needed once it is back."""
    portal = make_app(tmp_path)
    client = portal.test_client()
    assert client.get("/api/apps", user="alice").status_code == 200
    database = tmp_path / "portal.db"
    aside = tmp_path / "portal.db.away"
    database.rename(aside)
    database.mkdir()  # where the file was: SQLite cannot open it
    with portal.app_context():
        db.engine.dispose()
    answer = client.patch("/api/apps/sales", json={"description": "while away"}, user="alice")
    assert answer.status_code == 503
    assert answer.get_json()["error"] == DATABASE_UNAVAILABLE
    assert answer.headers["Retry-After"].isdigit()
    page = client.get("/manager/apps/sales", user="alice")
    assert page.status_code == 503 and DATABASE_UNAVAILABLE in page.get_data(as_text=True)
    database.rmdir()
    aside.rename(database)
    answer = client.patch("/api/apps/sales", json={"description": "back"}, user="alice")
    assert answer.status_code == 200, answer.get_json()
    assert client.get("/api/apps/sales", user="alice").get_json()["description"] == "back"
