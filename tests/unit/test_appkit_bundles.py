"""The built-in apps as bundles: each folder served by dash_appkit.serve as the platform runs it.

Each bundle is loaded in a fresh interpreter whose working directory is the bundle (as
gunicorn's ``--chdir``), with the platform's environment, and called over WSGI with the
front door's identity header. The requirements files are checked against the platform's
pins. (tests/integration runs them under the real front door.)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ROOT / "app"
BUNDLES = ("hello", "public", "finance", "sales")

BOB = {"username": "bob", "email": None, "groups": ["/sales/east"], "roles": ["viewer"]}
ERIN = {"username": "erin", "groups": ["/finance"], "roles": ["licensed_user", "viewer"]}

# Runs inside the bundle: serves each request given on stdin, prints the answers as JSON.
_CLIENT = """
    import json, sys
    from werkzeug.test import Client
    from dash_appkit import serve

    client = Client(serve.application)
    out = []
    for method, path, user, body in json.load(sys.stdin):
        headers = {"Plotly-User-Data": json.dumps(user)} if user else {}
        answer = client.open(path, method=method, json=body, headers=headers)
        text = answer.get_data(as_text=True)
        out.append({"status": answer.status_code, "type": answer.mimetype, "text": text})
    print(json.dumps({"module": sys.modules["app"].__file__, "answers": out}))
"""


def serve_bundle(slug: str, requests: list[tuple], tmp_path: Path, **env: str) -> list[dict]:
    """Answers of the bundle ``app/<slug>`` under ``/apps/<slug>/`` to ``requests``."""
    prefix = f"/apps/{slug}/"
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DASH_", "SALES_", "PYTHON"))
    }
    environment |= {
        "DASH_ROUTES_PATHNAME_PREFIX": prefix,
        "DASH_REQUESTS_PATHNAME_PREFIX": prefix,
        "DASH_APP_ENTRYPOINT": "app:app",
        "DASH_APP_SLUG": slug,
        "DASH_APP_DATA_DIR": str(tmp_path),
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_CLIENT)],
        cwd=APPS / slug,
        env=environment,
        input=json.dumps([(m, prefix + p, u, b) for m, p, u, b in requests]),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["module"] == str(APPS / slug / "app.py")  # the bundle's app.py, nothing else
    return result["answers"]


def plain(answer: dict) -> str:
    """A JSON answer re-serialised without Dash's escapes (it writes "/" as \\u002f)."""
    return json.dumps(json.loads(answer["text"]))


def callback(output: str, inputs: list[dict[str, Any]], changed: list[str]) -> dict:
    """A /_dash-update-component body for a single-output callback."""
    component, prop = output.split(".")
    return {
        "output": output,
        "outputs": {"id": component, "property": prop},
        "inputs": inputs,
        "changedPropIds": changed,
        "state": [],
    }


def test_hello(tmp_path):
    whoami = callback(
        "whoami.children",
        [{"id": "whoami-button", "property": "n_clicks", "value": 1}],
        ["whoami-button.n_clicks"],
    )
    page, layout, anonymous, answer = serve_bundle(
        "hello",
        [
            ("GET", "", BOB, None),
            ("GET", "_dash-layout", BOB, None),
            ("GET", "_dash-layout", None, None),
            ("POST", "_dash-update-component", BOB, whoami),
        ],
        tmp_path,
    )
    assert page["status"] == 200 and "/apps/hello/_dash-component-suites/" in page["text"]
    assert "Hello, bob" in plain(layout) and "/sales/east" in plain(layout)
    assert '"href": "/logout"' in plain(layout)
    assert "Not signed in." in plain(anonymous)
    assert json.loads(answer["text"])["response"]["whoami"]["children"] == (
        "The server says you are bob."
    )


def test_public(tmp_path):
    curve = callback(
        "curve.figure",
        [{"id": "growth", "property": "value", "value": 10}],
        ["growth.value"],
    )
    signed_in, anonymous, answer = serve_bundle(
        "public",
        [
            ("GET", "_dash-layout", BOB, None),
            ("GET", "_dash-layout", None, None),
            ("POST", "_dash-update-component", None, curve),
        ],
        tmp_path,
    )
    assert "Signed in as bob." in plain(signed_in)
    assert "You are not signed in." in plain(anonymous)
    (trace,) = json.loads(answer["text"])["response"]["curve"]["figure"]["data"]
    assert trace["y"][-1] == pytest.approx(1.1**12)


def test_finance(tmp_path):
    (layout,) = serve_bundle("finance", [("GET", "_dash-layout", ERIN, None)], tmp_path)
    assert layout["status"] == 200 and "Signed in as erin." in plain(layout)
    assert plain(layout).count('"department": ') == 12  # every budget row


def test_sales(tmp_path):
    salesmen = {
        "output": "..salesman.options...salesman.value..",
        "outputs": [
            {"id": "salesman", "property": "options"},
            {"id": "salesman", "property": "value"},
        ],
        "inputs": [{"id": "view-as", "property": "value", "value": "user:frank"}],
        "changedPropIds": ["view-as.value"],
        "state": [],
    }
    page, layout, export, anonymous, options = serve_bundle(
        "sales",
        [
            ("GET", "", BOB, None),
            ("GET", "_dash-layout", BOB, None),
            ("GET", "export.csv?salesman=frank&region=west", BOB, None),
            ("GET", "export.csv", None, None),
            ("POST", "_dash-update-component", BOB, salesmen),
        ],
        tmp_path,
        SALES_ROWS="3000",
    )
    assert page["status"] == layout["status"] == 200
    assert "/apps/sales/assets/sales.css" in page["text"]  # the package's assets, served
    assert '"href": "/apps/sales/export.csv"' in plain(layout)
    assert export["status"] == 200 and export["type"] == "text/csv"
    assert export["text"].splitlines()[0] == "date,region,salesman,customer,product,units,amount"
    assert export["text"].count("\n") == 1  # bob narrowed to frank: nothing
    assert anonymous["status"] == 401
    answer = json.loads(options["text"])["response"]["salesman"]
    assert answer == {"options": [{"label": "bob", "value": "bob"}], "value": []}  # not frank's
    assert list((tmp_path / "sales").glob("sales-3000-*.parquet"))  # in DASH_APP_DATA_DIR


def _requirements(slug: str) -> list[str]:
    lines = (APPS / slug / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_requirements_pin_the_platforms_versions():
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    for slug in BUNDLES:
        lines = _requirements(slug)
        assert lines[-1] == "dash-platform-appkit", slug  # provided by the platform's builder
        assert "dash==4.4.1" in lines
        for line in lines[:-1]:
            name, _, version = re.sub(r"\[.*\]", "", line).partition("==")
            assert version == pins[re.sub(r"[-_.]+", "-", name).lower()], (slug, line)
    # One shared environment for the three small apps.
    texts = {(APPS / s / "requirements.txt").read_text() for s in ("hello", "public", "finance")}
    assert len(texts) == 1


@pytest.mark.parametrize("slug", BUNDLES)
def test_bundles_import_nothing_of_the_platform(slug):
    for path in (APPS / slug).rglob("*.py"):
        imports = re.findall(r"^\s*(?:from|import) ([\w.]+)", path.read_text(), re.M)
        assert not {i.split(".")[0] for i in imports} & {"portal", "roles", "app"}, path
