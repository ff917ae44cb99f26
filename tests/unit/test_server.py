"""The portal's Flask class: request bodies keep their size limit, cookies parse as
werkzeug parses them, hooks still run, and database sessions end with the request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import text
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from portal.extensions import db
from portal.server import PortalFlask, PortalRequest
from tests.live_stack import HELLO_CALLBACK
from tests.unit.conftest_registry import TEST_USER_HEADER, make_app


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    return make_app(Path(tmp_path_factory.mktemp("server")))


def test_the_portal_uses_its_flask_and_request_classes(app: Flask) -> None:
    assert isinstance(app, PortalFlask)
    assert app.request_class is PortalRequest


def test_a_body_over_the_limit_is_refused_with_413(app: Flask) -> None:
    limit = app.config["MAX_CONTENT_LENGTH"]
    answer = app.test_client().post(
        "/apps/hello/_dash-update-component",
        data=b"{" + b" " * limit + b"}",
        content_type="application/json",
        headers={TEST_USER_HEADER: "dave"},
    )
    assert answer.status_code == 413
    assert answer.is_json and answer.get_json()["status"] == 413


@pytest.mark.parametrize(
    ("length", "terminated", "expected"),
    [
        (10, True, None),  # declared within the limit: the server stops at the length
        (10**9, True, 100),  # declared over it: the limit stays, werkzeug answers 413
        (None, True, 100),  # no length (chunked): the limit meters the stream
    ],
)
def test_limit_is_lifted_only_for_a_declared_length_within_it(
    app: Flask, length: int | None, terminated: bool, expected: int | None
) -> None:
    environ = EnvironBuilder(path="/", method="POST", data=b"x" * 10).get_environ()
    if length is None:
        environ.pop("CONTENT_LENGTH", None)
    else:
        environ["CONTENT_LENGTH"] = str(length)
    environ["wsgi.input_terminated"] = terminated
    with app.app_context():
        app.config["MAX_CONTENT_LENGTH"], saved = 100, app.config["MAX_CONTENT_LENGTH"]
        try:
            assert PortalRequest(environ).max_content_length == expected
        finally:
            app.config["MAX_CONTENT_LENGTH"] = saved


def test_a_limit_set_for_one_request_wins_and_none_applies_outside_an_app(app: Flask) -> None:
    environ = EnvironBuilder(path="/", method="POST", data=b"x" * 10).get_environ()
    assert PortalRequest(environ).max_content_length is None  # no app: werkzeug's default
    with app.app_context():
        request = PortalRequest(environ)
        request.max_content_length = 5
        assert request.max_content_length == 5


def test_a_body_within_the_limit_reaches_dash(app: Flask) -> None:
    answer = app.test_client().post(
        "/apps/hello/_dash-update-component",
        data=json.dumps(HELLO_CALLBACK),
        content_type="application/json",
        headers={TEST_USER_HEADER: "dave"},
    )
    assert answer.status_code == 200
    assert "dave" in answer.get_data(as_text=True)


def test_ensure_sync_still_tells_async_functions_apart() -> None:
    server = PortalFlask(__name__)

    def plain() -> str:
        return "sync"

    async def coroutine() -> str:
        return "async"

    assert server.ensure_sync(plain) is plain
    assert server.ensure_sync(plain) is plain  # the cached answer
    # Flask hands async functions to asgiref (not installed here): it must still try.
    with pytest.raises(RuntimeError, match="async"):
        server.ensure_sync(coroutine)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "dash_portal_session=abc.def",
        'a=1; b="quoted; value"; c=3',
        "a=1; a=2; =empty; flag",
        "dash_portal_session=x; other=%2Fslash",
    ],
)
def test_cookies_parse_as_werkzeug_parses_them(header: str | None) -> None:
    headers = {} if header is None else {"Cookie": header}
    environ = EnvironBuilder(path="/", headers=headers).get_environ()
    ours, werkzeugs = PortalRequest(environ).cookies, Request(environ).cookies
    assert list(ours.items(multi=True)) == list(werkzeugs.items(multi=True))


def test_a_repeated_cookie_header_is_parsed_once_and_cannot_be_changed() -> None:
    environ = EnvironBuilder(path="/", headers={"Cookie": "a=1; b=2"}).get_environ()
    first, second = PortalRequest(environ).cookies, PortalRequest(dict(environ)).cookies
    assert first is second  # the memo: one parse per distinct header
    with pytest.raises(TypeError):
        first["a"] = "changed"  # shared between requests, so it must stay immutable
    other = EnvironBuilder(path="/", headers={"Cookie": "a=9"}).get_environ()
    assert PortalRequest(other).cookies["a"] == "9"


def test_database_sessions_end_with_the_request_that_opened_them(app: Flask) -> None:
    scopes = db.session.registry.registry  # app context id -> its database session
    with app.app_context():
        pass  # most Dash callbacks: no database session to end
    assert not scopes
    with app.app_context():
        db.session.execute(text("SELECT 1"))
        assert db.session.registry.has()
    assert not scopes  # closed and forgotten at teardown
