"""Daily charts for Viewer Analytics and user activity, drawn with Plotly.

The figure is built with ``plotly.graph_objects`` and written into the page as a JSON
data block, which ``static/charts.js`` draws: no inline script, so the portal's
Content-Security-Policy allows scripts from the portal only (portal/security_headers.py).
Plotly's JavaScript comes from the portal itself (``plotly.min.js`` shipped inside the
plotly package, served by :func:`plotly_js_response`): the portal never loads anything
from a CDN, so it works offline and leaks no visitor to a third party.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path

import plotly
import plotly.graph_objects as go
from flask import Response, send_file, url_for
from markupsafe import Markup, escape

__all__ = ["PLOTLY_JS", "daily_chart", "plotly_js_response"]

PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"

_COLOURS = ("#4f46e5", "#22b8cf", "#f59e0b", "#10b981")


def plotly_js_response() -> Response:
    """plotly.min.js from the installed plotly package, cacheable for a day."""
    return send_file(PLOTLY_JS, mimetype="text/javascript", max_age=86400)


def daily_chart(
    days: Sequence[date],
    series: Mapping[str, Sequence[int]],
    *,
    title: str,
    bars: Sequence[str] = (),
    include_js: bool = True,
) -> Markup:
    """A chart of counts per day: ``series`` named lines, those named in ``bars`` as bars.

    ``include_js`` adds the ``<script>`` tags that load Plotly and draw the charts; pass
    ``False`` for the second chart of a page.
    """
    fig = go.Figure()
    for i, (name, values) in enumerate(series.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        if name in bars:
            fig.add_trace(go.Bar(x=list(days), y=list(values), name=name, marker_color=colour))
        else:
            fig.add_trace(
                go.Scatter(
                    x=list(days),
                    y=list(values),
                    name=name,
                    mode="lines+markers",
                    line={"color": colour, "width": 2.5},
                    marker={"size": 5},
                )
            )
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left", "font": {"size": 15}},
        template="plotly_white",
        height=320,
        margin={"l": 40, "r": 16, "t": 48, "b": 36},
        legend={"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"},
        font={"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"},
        hovermode="x unified",
        bargap=0.25,
    )
    fig.update_yaxes(rangemode="tozero", tickformat="d", gridcolor="#eef0f5")
    fig.update_xaxes(tickformat="%b %d", gridcolor="#f5f6fa")
    # In JSON "<" only occurs inside strings, where "\u003c" means the same; inside
    # <script> it could end the block early.
    figure = fig.to_json().replace("<", "\\u003c")
    scripts = ""
    if include_js:
        scripts = "".join(
            f'<script src="{escape(url)}" defer></script>'
            for url in (url_for("home.plotly_js"), url_for("static", filename="charts.js"))
        )
    return Markup(  # noqa: S704 - Plotly's JSON of our numbers, and our own URLs
        '<div class="plotly-chart"></div>'
        f'<script type="application/json" class="plotly-figure">{figure}</script>{scripts}'
    )
