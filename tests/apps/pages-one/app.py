"""A multi-page app (Dash pages): three pages, each with its own callback."""

import dash
from dash import Dash, dcc, html

app = Dash(__name__, use_pages=True)
app.title = "Pages One"
app.layout = html.Div(
    [
        html.H1("Pages One", id="p1-brand"),
        html.Nav(
            [
                dcc.Link(page["name"], href=page["relative_path"], style={"marginRight": "1em"})
                for page in dash.page_registry.values()
            ]
        ),
        dash.page_container,
    ]
)

if __name__ == "__main__":
    app.run()
