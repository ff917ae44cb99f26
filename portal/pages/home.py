"""The Portal (/): cards of the apps the visitor may open.

Anonymous visitors see the Unauthenticated apps and a sign-in button; signed-in users
see every app shown in the portal that ``roles.can_view`` lets them open. Search and
the tag filter work without JavaScript (query parameters) and instantly with it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, render_template, request

from portal import registry
from portal.identity import current_user
from portal.pages import template_context
from portal.pages.charts import plotly_js_response

__all__ = ["bp", "matches"]

bp = Blueprint("home", __name__)
# Every page (and the error pages) gets the user and the permission helpers.
bp.app_context_processor(template_context)


def matches(app: Any, *, query: str = "", tag: str = "") -> bool:
    """Whether an app card passes the search box and the tag filter."""
    if tag and tag.lower() not in {t.lower() for t in app.tags}:
        return False
    if not query:
        return True
    haystack = " ".join([app.title, app.description, app.slug, app.owner or "", *app.tags])
    return all(word in haystack.lower() for word in query.lower().split())


@bp.get("/")
def portal() -> str:
    """The apps the visitor may open, as cards."""
    user = current_user()
    apps = registry.apps_visible_to(user)
    query = request.args.get("q", "").strip()
    tag = request.args.get("tag", "").strip()
    tags = sorted({t for app in apps for t in app.tags}, key=str.lower)
    # Every card is rendered; the filtered-out ones are hidden, so the script can show
    # them again as the search changes.
    shown = {app.slug for app in apps if matches(app, query=query, tag=tag)}
    return render_template("portal.html", apps=apps, shown=shown, tags=tags, query=query, tag=tag)


@bp.get("/vendor/plotly.min.js")
def plotly_js() -> Response:
    """Plotly's JavaScript, from the installed plotly package (never a CDN)."""
    return plotly_js_response()
