"""Apps written by others, deployed through the API, each served from its own processes.

The bundles under tests/apps/ are plain Dash apps (no platform import) in the styles people
write: global ``dash.callback``, Dash pages, Dash 1.x imports, a data file read by a bare
relative name, pattern-matching callbacks. Each is deployed once per module as alice.
"""

from __future__ import annotations

import csv
from statistics import mean

import pytest
import requests

from tests.hosting_client import (
    APPS,
    callback_body,
    component,
    deploy_app,
    multi_output_body,
    outputs_of,
    texts,
)
from tests.oidc_flow import login

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def alice(portal_url: str) -> requests.Session:
    return login(portal_url, "alice")


def _deployed(alice: requests.Session, portal_url: str, app: str) -> str:
    deploy_app(alice, portal_url, app, app)
    return f"{portal_url}/apps/{app}"


@pytest.fixture(scope="module")
def global_callback(alice: requests.Session, portal_url: str) -> str:
    return _deployed(alice, portal_url, "global-callback")


@pytest.fixture(scope="module")
def pages(alice: requests.Session, portal_url: str) -> dict[str, str]:
    """Both multi-page apps, deployed side by side."""
    return {app: _deployed(alice, portal_url, app) for app in ("pages-one", "pages-two")}


def _call(session: requests.Session, url: str, body: dict) -> dict:
    return outputs_of(session.post(f"{url}/_dash-update-component", json=body, timeout=30))


def _outputs(session: requests.Session, url: str) -> set[str]:
    answer = session.get(f"{url}/_dash-dependencies", timeout=30)
    assert answer.status_code == 200, answer.text[:300]
    return {dependency["output"] for dependency in answer.json()}


def _layout(session: requests.Session, url: str) -> dict:
    answer = session.get(f"{url}/_dash-layout", timeout=30)
    assert answer.status_code == 200, f"{url}/_dash-layout: {answer.status_code}"
    return answer.json()


def test_global_callbacks_answer_in_their_own_app_only(
    alice: requests.Session, global_callback: str, pages: dict[str, str]
) -> None:
    assert alice.get(f"{global_callback}/", timeout=30).status_code == 200
    assert component(_layout(alice, global_callback), "gc-title")["children"] == (
        "Global callback app"
    )
    assert _outputs(alice, global_callback) == {"gc-greeting.children", "gc-square.children"}
    greeting = _call(
        alice,
        global_callback,
        callback_body("gc-greeting", "children", [("gc-name", "value", "Ada")]),
    )
    assert greeting == {"gc-greeting": {"children": "Hello, Ada! (global-callback)"}}
    square = _call(
        alice, global_callback, callback_body("gc-square", "children", [("gc-number", "value", 12)])
    )
    assert square == {"gc-square": {"children": "12 squared is 144"}}
    # A global callback registry shared between apps would leak these into other apps.
    for url in pages.values():
        assert not {o for o in _outputs(alice, url) if o.startswith("gc-")}, url
        leaked = alice.post(
            f"{url}/_dash-update-component",
            json=callback_body("gc-greeting", "children", [("gc-name", "value", "Ada")]),
            timeout=30,
        )
        assert leaked.status_code != 200 and "Hello, Ada" not in leaked.text, url


def _route(session: requests.Session, url: str, pathname: str) -> list[str]:
    """The texts of the page Dash pages' router callback renders for ``pathname``."""
    body = multi_output_body(
        [("_pages_content", "children"), ("_pages_store", "data")],
        [("_pages_location", "pathname", pathname), ("_pages_location", "search", "")],
    )
    return texts(_call(session, url, body)["_pages_content"]["children"])


PAGE_HEADINGS = {
    ("pages-one", "/"): "Pages One home page",
    ("pages-one", "/report"): "Pages One quarterly report",
    ("pages-one", "/about"): "About Pages One",
    ("pages-two", "/"): "Pages Two start page",
    ("pages-two", "/report"): "Pages Two inventory report",
}


@pytest.mark.parametrize(("app", "path"), sorted(PAGE_HEADINGS))
def test_pages_apps_serve_their_own_pages(
    alice: requests.Session, pages: dict[str, str], app: str, path: str
) -> None:
    url = pages[app]
    brand = "Pages One" if app == "pages-one" else "Pages Two"
    other = "Pages Two" if app == "pages-one" else "Pages One"
    page = alice.get(url + path, timeout=30)
    assert page.status_code == 200, page.status_code
    assert f"<title>{brand}</title>" in page.text
    assert other not in page.text
    assert f'"requests_pathname_prefix":"\\u002fapps\\u002f{app}\\u002f"' in page.text
    assert brand in texts(_layout(alice, url))
    rendered = _route(alice, url, f"/apps/{app}{path}")
    assert PAGE_HEADINGS[app, path] in rendered, rendered
    assert not [text for text in rendered if other in text], rendered


def test_pages_callbacks_answer_per_app(alice: requests.Session, pages: dict[str, str]) -> None:
    one, two = pages["pages-one"], pages["pages-two"]
    one_outputs, two_outputs = _outputs(alice, one), _outputs(alice, two)
    assert {"p1-home-output.children", "p1-report-output.children"} <= one_outputs
    assert {"p2-start-output.children", "p2-report-output.children"} <= two_outputs
    assert not {o for o in one_outputs if o.startswith("p2-")}
    assert not {o for o in two_outputs if o.startswith("p1-")}
    report_one = callback_body(
        "p1-report-output", "children", [("p1-report-quarter", "value", "Q3")]
    )
    assert _call(alice, one, report_one) == {
        "p1-report-output": {"children": "pages-one report: Q3 revenue 150"}
    }
    report_two = callback_body(
        "p2-report-output", "children", [("p2-report-fruit", "value", "pears")]
    )
    assert _call(alice, two, report_two) == {
        "p2-report-output": {"children": "pages-two inventory: 7 pears in stock"}
    }
    home_one = callback_body("p1-home-output", "children", [("p1-home-input", "value", "abc")])
    assert _call(alice, one, home_one)["p1-home-output"]["children"] == (
        "pages-one home shouts ABC"
    )
    home_two = callback_body("p2-start-output", "children", [("p2-start-input", "value", "ABC")])
    assert _call(alice, two, home_two)["p2-start-output"]["children"] == (
        "pages-two start whispers abc"
    )


def test_dash1_style_app_runs_on_its_own_dash_2(alice: requests.Session, portal_url: str) -> None:
    url = _deployed(alice, portal_url, "dash1-style")
    pinned = next(
        line.split("==")[1]
        for line in (APPS / "dash1-style" / "requirements.txt").read_text().splitlines()
        if line.startswith("dash==")
    )
    layout = _layout(alice, url)
    assert component(layout, "d1-version")["children"] == f"Running on dash {pinned}"
    assert component(layout, "d1-city")["value"] == "MTL"
    page = alice.get(url, headers={"Accept": "text/html"}, timeout=30)
    assert page.status_code == 200 and "_dash-config" in page.text
    assert pinned not in page.text.split("_dash-config")[1].split("</script>")[0]  # no version
    body = callback_body(
        "d1-output", "children", [("d1-city", "value", "SF")], state=[("d1-suffix", "value", "?")]
    )
    assert _call(alice, url, body) == {
        "d1-output": {"children": "You have selected San Francisco?"}
    }


def test_datafile_callback_computes_from_its_csv(alice: requests.Session, portal_url: str) -> None:
    url = _deployed(alice, portal_url, "datafile")
    with (APPS / "datafile" / "prices.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert component(_layout(alice, url), "df-rows")["children"] == f"{len(rows)} rows loaded"
    for ticker in sorted({row["ticker"] for row in rows}):
        prices = [float(row["price"]) for row in rows if row["ticker"] == ticker]
        body = multi_output_body(
            [("df-summary", "children"), ("df-graph", "figure")], [("df-ticker", "value", ticker)]
        )
        answer = _call(alice, url, body)
        assert answer["df-summary"]["children"] == (
            f"{ticker}: {len(prices)} prices, mean {mean(prices):.2f}, max {max(prices):.2f}"
        )
        figure = answer["df-graph"]["figure"]
        assert figure["layout"]["title"]["text"] == f"{ticker} closing prices"
        assert len(figure["data"]) == 1


def test_pattern_matching_callbacks(alice: requests.Session, portal_url: str) -> None:
    url = _deployed(alice, portal_url, "pattern-matching")
    assert "pm-items.children" in _outputs(alice, url)
    added = _call(
        alice,
        url,
        callback_body(
            "pm-items",
            "children",
            [("pm-add", "n_clicks", 2)],
            state=[("pm-items", "children", [])],
        ),
    )
    item = component(added["pm-items"]["children"], {"type": "pm-input", "index": 2})
    assert item["value"] == "item 2"
    match_id = {"type": "pm-echo", "index": ["MATCH"]}
    echo = callback_body(
        match_id,
        "children",
        [({"type": "pm-input", "index": 2}, "value", "two")],
        state=[({"type": "pm-input", "index": 2}, "id", {"type": "pm-input", "index": 2})],
        instance_id={"type": "pm-echo", "index": 2},
    )
    assert _call(alice, url, echo) == {
        '{"index":2,"type":"pm-echo"}': {"children": "item #2 reads 'two'"}
    }
    every = callback_body(
        "pm-total",
        "children",
        [
            [
                ({"type": "pm-input", "index": 1}, "value", "one"),
                ({"type": "pm-input", "index": 2}, "value", "two"),
            ]
        ],
    )
    assert _call(alice, url, every) == {"pm-total": {"children": "2 items: one | two"}}
