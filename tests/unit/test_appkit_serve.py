"""dash_appkit.serve: from DASH_APP_ENTRYPOINT in a bundle folder to the WSGI app gunicorn runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest
from dash_appkit import serve
from flask import Flask
from werkzeug.test import Client

PREFIX = "/apps/foo/"


@pytest.fixture
def bundle(tmp_path, monkeypatch):
    """A bundle folder as the working directory; returns a writer of uniquely named modules."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delenv("DASH_APP_ENTRYPOINT", raising=False)
    for var in ("DASH_ROUTES_PATHNAME_PREFIX", "DASH_REQUESTS_PATHNAME_PREFIX"):
        monkeypatch.setenv(var, PREFIX)
    written: list[str] = []

    def write(source: str, stem: str = "bundle") -> str:
        name = f"{stem}_{uuid.uuid4().hex[:8]}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        written.append(name)
        return name

    yield write
    for name in written:
        sys.modules.pop(name, None)


DASH_APP = """
    import dash
    from dash import Input, Output, html

    app = dash.Dash(__name__, title="Foo")
    app.layout = html.Div([html.Button(id="b"), html.P(id="out")])

    @app.callback(Output("out", "children"), Input("b", "n_clicks"))
    def echo(n):
        return f"clicked {n}"
"""

FLASK_APP = """
    from flask import Flask, request, url_for

    server = Flask(__name__)

    @server.get("/")
    @server.get("/<path:rest>")
    def where(rest=""):
        return f"{request.script_root}|{request.path}|{url_for('where', rest='x')}"
"""


def test_a_dash_app_is_served_through_its_flask_server_under_the_prefix(bundle):
    name = bundle(DASH_APP)
    app = serve.load(f"{name}:app")
    assert isinstance(app, serve.FirstRequestGate) and isinstance(app.app, Flask)
    client = Client(app)
    index = client.get(PREFIX)
    assert index.status_code == 200
    page = index.get_data(as_text=True)
    assert '"requests_pathname_prefix":"\\u002fapps\\u002ffoo\\u002f"' in page  # Dash's config
    assert "/apps/foo/_dash-component-suites/" in page
    assert client.get(f"{PREFIX}_dash-layout").status_code == 200
    body = {
        "output": "out.children",
        "outputs": {"id": "out", "property": "children"},
        "inputs": [{"id": "b", "property": "n_clicks", "value": 2}],
        "changedPropIds": ["b.n_clicks"],
        "state": [],
    }
    answer = client.post(f"{PREFIX}_dash-update-component", json=body)
    assert answer.status_code == 200
    assert answer.get_json()["response"]["out"]["children"] == "clicked 2"
    assert client.get("/_dash-layout").status_code == 404  # nothing outside the prefix


def test_a_plain_wsgi_app_sees_the_prefix_as_its_script_name(bundle):
    app = serve.load(f"{bundle(FLASK_APP)}:server")
    assert isinstance(app, serve.PrefixMiddleware)
    client = Client(app)
    assert client.get(PREFIX).get_data(as_text=True) == "/apps/foo|/|/apps/foo/x"
    assert client.get("/apps/foo").get_data(as_text=True) == "/apps/foo|/|/apps/foo/x"
    assert client.get(f"{PREFIX}a/b").get_data(as_text=True) == "/apps/foo|/a/b|/apps/foo/x"
    for outside in ("/", "/apps/foobar/", "/apps/", "/other/apps/foo/"):
        assert client.get(outside).status_code == 404, outside


def test_a_bare_wsgi_function_without_a_prefix_is_served_as_it_is(bundle, monkeypatch):
    monkeypatch.delenv("DASH_ROUTES_PATHNAME_PREFIX")
    name = bundle(
        """
        def application(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [(environ.get("SCRIPT_NAME", "") + "|" + environ["PATH_INFO"]).encode()]
        """
    )
    app = serve.load(f"{name}:application")
    assert app is sys.modules[name].application
    assert Client(app).get("/x").get_data(as_text=True) == "|/x"


def test_dotted_attributes_and_modules(bundle, tmp_path):
    name = bundle(
        """
        import types
        from flask import Flask

        inner = Flask(__name__)
        inner.get("/")(lambda: "deep")
        holder = types.SimpleNamespace(web=types.SimpleNamespace(app=inner))
        """
    )
    assert Client(serve.load(f"{name}:holder.web.app")).get(PREFIX).get_data() == b"deep"
    package = tmp_path / f"pkg_{uuid.uuid4().hex[:8]}"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "web.py").write_text(textwrap.dedent(FLASK_APP))
    try:
        app = serve.load(f"{package.name}.sub.web:server")
        assert Client(app).get(PREFIX).get_data(as_text=True).startswith("/apps/foo|/|")
    finally:
        for mod in [m for m in sys.modules if m.startswith(package.name)]:
            del sys.modules[mod]


@pytest.mark.parametrize(
    ("entrypoint", "message"),
    [
        ("app", "not of the form module:attribute"),
        ("app:app()", "not of the form module:attribute"),
        ("app:", "not of the form module:attribute"),
        ("../app:app", "not of the form module:attribute"),
        ("no_such_module_here:app", "no module 'no_such_module_here'"),
    ],
)
def test_bad_entrypoints_say_what_is_wrong(bundle, entrypoint, message):
    with pytest.raises(serve.EntrypointError, match=message):
        serve.load(entrypoint)


def test_a_missing_or_unservable_attribute_says_so(bundle):
    name = bundle("app = 42\nconfig = {'server': None}\n")
    with pytest.raises(serve.EntrypointError, match="has no 'server'"):
        serve.load(f"{name}:server")
    with pytest.raises(serve.EntrypointError, match=r"names a int, not a dash\.Dash app"):
        serve.load(f"{name}:app")
    with pytest.raises(serve.EntrypointError, match="names a dict"):
        serve.load(f"{name}:config")


def test_a_bundle_missing_its_own_dependency_shows_that_import_error(bundle):
    name = bundle("import surely_not_installed_anywhere\napp = None\n")
    with pytest.raises(ModuleNotFoundError, match="surely_not_installed_anywhere"):
        serve.load(f"{name}:app")


def test_application_is_resolved_from_the_environment_once(bundle, monkeypatch):
    name = bundle(FLASK_APP)
    monkeypatch.setenv("DASH_APP_ENTRYPOINT", f"{name}:server")
    monkeypatch.setattr(serve, "_application", None)
    app = serve.application
    assert isinstance(app, serve.PrefixMiddleware) and serve.application is app
    with pytest.raises(AttributeError):
        serve.no_such_thing  # noqa: B018


def run_in(bundle_dir: Path, code: str) -> dict:
    """Run ``code`` in a fresh interpreter inside ``bundle_dir`` with the platform's env."""
    env = {
        **os.environ,
        "DASH_ROUTES_PATHNAME_PREFIX": PREFIX,
        "DASH_REQUESTS_PATHNAME_PREFIX": PREFIX,
    }
    env.pop("DASH_APP_ENTRYPOINT", None)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=bundle_dir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_default_entrypoint_is_app_py_in_the_working_directory(tmp_path):
    # A fresh process, as under gunicorn: "app" is the bundle's app.py, whatever else is installed.
    (tmp_path / "app.py").write_text(textwrap.dedent(DASH_APP))
    got = run_in(
        tmp_path,
        """
        import json, sys
        sys.path = [p for p in sys.path if p not in ("", ".")]  # as gunicorn's own sys.path
        from werkzeug.test import Client
        from dash_appkit import serve
        client = Client(serve.application)
        print(json.dumps({
            "file": sys.modules["app"].__file__,
            "index": client.get("/apps/foo/").status_code,
            "layout": client.get("/apps/foo/_dash-layout").status_code,
        }))
        """,
    )
    assert got == {"file": str(tmp_path / "app.py"), "index": 200, "layout": 200}


def test_use_pages_apps_honour_the_prefix(tmp_path):
    (tmp_path / "pages").mkdir()
    (tmp_path / "app.py").write_text(
        "import dash\napp = dash.Dash(__name__, use_pages=True)\napp.layout = dash.page_container\n"
    )
    for path, text in (("/", "home page"), ("/other", "other page")):
        stem = path.strip("/") or "home"
        (tmp_path / "pages" / f"{stem}.py").write_text(
            f"import dash\nfrom dash import html\n"
            f"dash.register_page(__name__, path={path!r})\nlayout = html.P({text!r})\n"
        )
    got = run_in(
        tmp_path,
        """
        import json
        import dash
        from werkzeug.test import Client
        from dash_appkit import serve
        client = Client(serve.application)
        def page(pathname):
            body = {
                "output": ".._pages_content.children..._pages_store.data..",
                "outputs": [{"id": "_pages_content", "property": "children"},
                            {"id": "_pages_store", "property": "data"}],
                "inputs": [{"id": "_pages_location", "property": "pathname", "value": pathname},
                           {"id": "_pages_location", "property": "search", "value": ""}],
                "changedPropIds": ["_pages_location.pathname"],
                "state": [],
            }
            answer = client.post("/apps/foo/_dash-update-component", json=body)
            return answer.get_json()["response"]["_pages_content"]["children"]["props"]
        print(json.dumps({
            "index": client.get("/apps/foo/").status_code,
            "other": client.get("/apps/foo/other").status_code,
            "outside": client.get("/other").status_code,
            "relative": sorted(p["relative_path"] for p in dash.page_registry.values()),
            "home": page("/apps/foo/")["children"],
            "other_page": page("/apps/foo/other")["children"],
        }))
        """,
    )
    assert got == {
        "index": 200,
        "other": 200,
        "outside": 404,
        "relative": ["/apps/foo/", "/apps/foo/other"],
        "home": "home page",
        "other_page": "other page",
    }


def test_the_first_request_of_a_process_finishes_before_any_other_starts() -> None:
    """Dash prepares itself on a process's first request; others must not overtake it."""
    started, order = threading.Event(), []

    def slow_first(environ, start_response):
        if not order:
            order.append("first begins")
            started.set()
            time.sleep(0.3)
            order.append("first ends")
        else:
            order.append("second")
        start_response("200 OK", [])
        return [b""]

    gate = serve.FirstRequestGate(slow_first)
    first = threading.Thread(target=Client(gate).get, args=("/",))
    first.start()
    started.wait(5)
    Client(gate).get("/")
    first.join(5)
    assert order == ["first begins", "first ends", "second"]


def test_a_dash_page_names_no_versions(bundle):
    """Issue 12: an anonymous page showed the Dash, Python and Plotly versions."""
    import dash
    import plotly

    name = bundle(DASH_APP)
    page = Client(serve.load(f"{name}:app")).get(PREFIX).get_data(as_text=True)
    config = json.loads(page.split('id="_dash-config" type="application/json">')[1].split("<")[0])
    assert not set(serve.VERSION_KEYS) & set(config)
    assert config["requests_pathname_prefix"] == PREFIX  # the rest is as Dash wrote it
    assert "\\u002fapps\\u002ffoo\\u002f" in page  # and escaped as Dash escapes it
    for version in (sys.version, dash.__version__, plotly.__version__):
        assert version not in page
    assert "_favicon.ico" in page and "_favicon.ico?v=" not in page


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [1_100, 5_000, 100_000])
def test_json_nested_too_deeply_gets_400_from_a_dash_app(bundle, depth):
    client = Client(serve.load(f"{bundle(DASH_APP)}:app"))
    assert client.get(PREFIX).status_code == 200
    value = f'{{"id": "b", "property": "n_clicks", "value": {_nested(depth)}}}'
    for body in (
        _nested(depth),
        '{"output": "out.children", "outputs": {"id": "out", "property": "children"}, '
        f'"inputs": [{value}], "changedPropIds": [], "state": []}}',
    ):
        answer = client.post(
            f"{PREFIX}_dash-update-component", data=body, content_type="application/json"
        )
        assert answer.status_code == 400
        assert answer.get_json()["error"] == (
            "Malformed callback request: The JSON body is nested too deeply."
        )


def test_json_nested_too_deeply_gets_400_from_a_flask_app(bundle):
    name = bundle(
        """
        from flask import Flask, request

        server = Flask(__name__)

        @server.post("/echo")
        def echo():
            return {"silent": request.get_json(silent=True), "kind": str(type(request.json))}
        """
    )
    client = Client(serve.load(f"{name}:server"))
    deep = {"data": _nested(2_000), "content_type": "application/json"}
    answer = client.post(f"{PREFIX}echo", **deep)
    assert answer.status_code == 400
    assert "nested too deeply" in answer.get_data(as_text=True)
    assert client.post(f"{PREFIX}echo", json=[1]).get_json()["silent"] == [1]


@pytest.mark.parametrize(
    "path",
    [
        "dash/nope.js",
        "nope/x.js",
        "plotly/nope.v1_0_0m1.min.js",
        "dash/../../etc/passwd",
        "dash/dash-renderer/build/nope.js",
    ],
)
def test_a_file_a_dash_app_does_not_serve_is_a_404(bundle, path):
    client = Client(serve.load(f"{bundle(DASH_APP)}:app"))
    page = client.get(PREFIX).get_data(as_text=True)
    answer = client.get(f"{PREFIX}_dash-component-suites/{path}")
    assert answer.status_code == 404
    assert answer.get_json()["error"] == f"No file {path} in this app."
    served = page.split(f"{PREFIX}_dash-component-suites/")[1].split('"')[0]
    assert client.get(f"{PREFIX}_dash-component-suites/{served}").status_code == 200


def test_a_registered_file_missing_from_its_package_is_a_404(bundle, monkeypatch):
    client = Client(serve.load(f"{bundle(DASH_APP)}:app"))
    page = client.get(PREFIX).get_data(as_text=True)
    served = page.split(f"{PREFIX}_dash-component-suites/")[1].split('"')[0]

    def missing(package: str, resource: str) -> bytes:
        raise FileNotFoundError(resource)

    monkeypatch.setattr("pkgutil.get_data", missing)
    answer = client.get(f"{PREFIX}_dash-component-suites/{served}")
    assert answer.status_code == 404
