"""An app that cannot start: it imports a module that no requirement provides."""

from dash import Dash, html
from module_that_does_not_exist import make_banner

app = Dash(__name__)
app.layout = html.Div([make_banner(), html.P("never served")])

if __name__ == "__main__":
    app.run()
