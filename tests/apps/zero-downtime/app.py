"""Says which version it is: the version comes from its data file, VERSION."""

from pathlib import Path

import dash
from dash import html

VERSION = Path("VERSION").read_text().strip()

app = dash.Dash(__name__)
app.layout = html.Div(f"version {VERSION}", id="zd-version")

if __name__ == "__main__":
    app.run(debug=True)
