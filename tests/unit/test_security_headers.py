"""The portal's security headers on pages, API answers and static files (issue 12).

Pages carry a Content-Security-Policy that allows scripts, styles and images from the
portal only and forbids framing, plus X-Frame-Options, nosniff and a Referrer-Policy;
answers that carry personal data are ``Cache-Control: no-store``. The pages themselves
must hold no inline script (the policy would block it): checked on every page kind.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask

from portal import registry
from tests.unit.conftest_registry import make_app

PAGES = [
    ("/", None),
    ("/", "bob"),
    ("/manager/", "alice"),
    ("/manager/apps/sales", "alice"),
    ("/admin/", "admin"),
    ("/admin/activity", "admin"),
    ("/admin/users", "admin"),
    ("/logout", "bob"),
    ("/no-such-page", "bob"),
]
#: JSON answers that say who someone is or what they may see.
PERSONAL_JSON = [
    ("/api/me", "bob"),
    ("/api/apps", "bob"),
    ("/api/apps/sales", "alice"),
    ("/manager/suggest?kind=user&q=b", "alice"),
    ("/manager/suggest?kind=group&q=east", "alice"),
]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    app = make_app(tmp_path_factory.mktemp("headers"))
    with app.app_context():
        registry.record_view("sales", "bob")  # so the analytics chart is drawn
    return app


def _get(app: Flask, path: str, who: str | None):
    return app.test_client().get(path, user=who)


def _directives(policy: str) -> dict[str, list[str]]:
    parts = (p.split() for p in policy.split(";") if p.strip())
    return {name: values for name, *values in parts}


@pytest.mark.parametrize(("path", "who"), PAGES)
def test_pages_forbid_framing_and_inline_scripts(app: Flask, path: str, who: str | None) -> None:
    response = _get(app, path, who)
    assert response.mimetype == "text/html"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"
    policy = _directives(response.headers["Content-Security-Policy"])
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'"]  # thumbnails are uploads the portal serves
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    assert policy["default-src"] == ["'self'"]
    # Forms post here, and signing out redirects the form to Keycloak.
    assert policy["form-action"] == ["'self'", "http://127.0.0.1:8080"]


class _InlineCode(HTMLParser):
    """Collects what the policy would block: inline scripts and event-handler attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        self.found += [f"{tag} {name}=" for name in names if name.startswith("on")]
        if tag == "script" and "src" not in names and names.get("type") != "application/json":
            self._in_script = True

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.found.append(f"inline script {data.strip()[:60]!r}")


@pytest.mark.parametrize(("path", "who"), PAGES)
def test_pages_hold_no_inline_script(app: Flask, path: str, who: str | None) -> None:
    parser = _InlineCode()
    parser.feed(_get(app, path, who).get_data(as_text=True))
    assert parser.found == []


def test_charts_are_drawn_by_a_portal_script_from_a_data_block(app: Flask) -> None:
    html = _get(app, "/manager/apps/sales", "alice").get_data(as_text=True)
    assert '<script type="application/json" class="plotly-figure">' in html
    assert 'src="/vendor/plotly.min.js"' in html and 'src="/static/charts.js"' in html
    assert _get(app, "/static/charts.js", None).status_code == 200


@pytest.mark.parametrize(("path", "who"), PERSONAL_JSON)
def test_personal_json_is_not_stored(app: Flask, path: str, who: str) -> None:
    response = _get(app, path, who)
    assert response.status_code == 200 and response.is_json
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_error_answers_are_not_stored_either(app: Flask) -> None:
    for path, who in (("/api/apps/finance", "bob"), ("/manager/suggest?kind=x", "alice")):
        response = _get(app, path, who)
        assert response.status_code in (400, 403)
        assert response.headers["Cache-Control"] == "no-store"


def test_static_files_keep_their_own_caching(app: Flask) -> None:
    response = _get(app, "/static/portal.css", None)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] != "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_sign_in_error_page_does_not_repeat_the_description(app: Flask) -> None:
    bait = "Your account is locked. Call +1 555 0100 at once"
    response = app.test_client().get(
        "/auth/callback", query_string={"error": "access_denied", "error_description": bait}
    )
    # What the page says (the header's sign-in link carries the URL, encoded, as ?next=).
    html = response.get_data(as_text=True).split('class="panel error-page"')[1]
    assert response.status_code == 400
    assert "Sign-in was cancelled or refused." in html
    assert "555" not in html and "locked" not in html
    response = app.test_client().get(
        "/auth/callback", query_string={"error": "made_up<b>", "error_description": bait}
    )
    html = response.get_data(as_text=True).split('class="panel error-page"')[1]
    assert response.status_code == 400 and "refused the sign-in request" in html
    assert "made_up" not in html and "555" not in html


def test_no_portal_template_has_inline_script_or_style() -> None:
    """Templates rendered by no test above (refusals, starting) follow the rule too."""
    folder = Path(__file__).resolve().parents[2] / "portal" / "templates"
    for template in folder.glob("*.html"):
        parser = _InlineCode()
        parser.feed(template.read_text())
        assert parser.found == [], template.name
        assert " style=" not in template.read_text(), template.name
