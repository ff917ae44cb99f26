"""An app that imports and starts, but whose layout fails on every page load."""

import flask
from dash import Dash, html

app = Dash(__name__)


def layout():
    if flask.has_request_context():  # Dash also calls it once at import, to validate it
        raise RuntimeError("the layout needs a database that is not there")
    return html.Div("checked at import only")


app.layout = layout

if __name__ == "__main__":
    app.run()
