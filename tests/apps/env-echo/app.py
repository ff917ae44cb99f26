"""Shows one environment variable its owner sets through the platform, and logs a line."""

import os

import dash
from dash import html

print("env-echo starting", flush=True)

app = dash.Dash(__name__)
app.layout = html.Div(f"GREETING={os.environ.get('GREETING', '(unset)')}", id="ee-greeting")

if __name__ == "__main__":
    app.run(debug=True)
