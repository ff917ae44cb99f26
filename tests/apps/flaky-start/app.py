"""Starts fine until a file named crash-on-start appears in its data folder; from then on
it fails at import, every time (a crash loop)."""

import os
from pathlib import Path

import dash
from dash import html

if (Path(os.environ.get("DASH_APP_DATA_DIR", ".")) / "crash-on-start").exists():
    raise RuntimeError("crash-on-start is set: refusing to start")

app = dash.Dash(__name__)
app.layout = html.Div("flaky-start is up", id="fs-up")

if __name__ == "__main__":
    app.run(debug=True)
