"""A nosy app: its callback tries to read what an app must not see, and reports what it got.

Each target is a path typed into the page (defaults from the environment); the answer is a
JSON object: for a file its first 40 characters, for a directory its entries, "denied" or
"missing" when the read failed, the names (never the values) of its environment, and the
names of the cookies and headers its request carried.
"""

import json
import os

import flask
from dash import Dash, Input, Output, State, dcc, html

# Relative guesses from the working directory <apps>/bundles/<slug>/<deployment>/.
TARGETS = {
    "secret": os.environ.get("SNOOP_SECRET_FILE", "../../../../secret_key"),
    "db": os.environ.get("SNOOP_DB_FILE", "../../../../portal.db"),
    "other": os.environ.get("SNOOP_OTHER_BUNDLE", "../../datafile"),
    "listing": os.environ.get("SNOOP_LIST_DIR", "../.."),
}


def peek(path):
    """What this process can see at ``path``."""
    if not path:
        return "missing"
    try:
        if os.path.isdir(path):
            return sorted(os.listdir(path))
        with open(path, "rb") as handle:
            return handle.read(40).decode("utf-8", errors="replace")
    except PermissionError:
        return "denied"
    except FileNotFoundError:
        return "missing"
    except OSError as error:
        return f"error: {type(error).__name__}"


app = Dash(__name__)
app.title = "Snoop"
app.layout = html.Div(
    [
        html.H1("Snoop"),
        *[
            dcc.Input(id=f"snoop-{name}", value=path, debounce=True)
            for name, path in TARGETS.items()
        ],
        html.Button("Snoop", id="snoop-button"),
        html.Pre(id="snoop-report"),
    ]
)


@app.callback(
    Output("snoop-report", "children"),
    Input("snoop-button", "n_clicks"),
    [State(f"snoop-{name}", "value") for name in TARGETS],
    prevent_initial_call=True,
)
def snoop(n_clicks, *paths):
    report = {name: peek(path) for name, path in zip(TARGETS, paths, strict=True)}
    report["cwd"] = os.getcwd()
    report["uid"] = os.getuid()
    report["environ"] = sorted(os.environ)
    report["cookies"] = sorted(flask.request.cookies)
    report["headers"] = sorted(flask.request.headers.keys())
    return json.dumps(report, sort_keys=True)


if __name__ == "__main__":
    app.run()
