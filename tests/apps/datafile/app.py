"""Reads prices.csv from the working directory, as a notebook or a laptop script would."""

import pandas as pd
import plotly.express as px
from dash import Dash, Input, Output, dcc, html

df = pd.read_csv("prices.csv")

app = Dash(__name__)
app.title = "Prices"
app.layout = html.Div(
    [
        html.H1("Prices from prices.csv"),
        html.Div(f"{len(df)} rows loaded", id="df-rows"),
        dcc.Dropdown(
            id="df-ticker",
            options=sorted(df["ticker"].unique()),
            value=sorted(df["ticker"].unique())[0],
        ),
        html.Div(id="df-summary"),
        dcc.Graph(id="df-graph", figure=px.line(df, x="date", y="price", color="ticker")),
    ]
)


@app.callback(
    Output("df-summary", "children"),
    Output("df-graph", "figure"),
    Input("df-ticker", "value"),
)
def filter_ticker(ticker):
    rows = df[df["ticker"] == ticker]
    summary = (
        f"{ticker}: {len(rows)} prices, mean {rows['price'].mean():.2f}, "
        f"max {rows['price'].max():.2f}"
    )
    figure = px.line(rows, x="date", y="price", title=f"{ticker} closing prices")
    return summary, figure


if __name__ == "__main__":
    app.run()
