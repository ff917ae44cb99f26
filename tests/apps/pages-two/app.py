"""Another multi-page app whose page paths ("/" and "/report") overlap Pages One's."""

import dash
from dash import Dash, html

app = Dash(__name__, use_pages=True)
app.title = "Pages Two"
app.layout = html.Div([html.H1("Pages Two", id="p2-brand"), dash.page_container])

if __name__ == "__main__":
    app.run()
