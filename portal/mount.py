"""Find the installed Dash app packages and mount each at /apps/<slug>/.

An app package is a module with a factory
``create_app(*, server, url_base_pathname, settings) -> dash.Dash`` and optional
``TITLE``, ``DESCRIPTION`` and ``CREDENTIALS_HEADER`` attributes. Packages announce
themselves through the ``dash_platform.apps`` entry-point group (or ``PORTAL_APPS``).
Every mounted app shares the portal's Flask server, so the guard sees every request.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from flask import Flask

from portal.settings import Settings

__all__ = [
    "ENTRY_POINT_GROUP",
    "AppPackage",
    "MountedApp",
    "installed_apps",
    "mount_apps",
    "mounted_apps",
]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "dash_platform.apps"
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")

# When the session ends while an app is open, Dash's requests start getting 401/403;
# tell the person instead of leaving a page that silently stopped updating.
SESSION_WATCH = """<script>
(function () {
  var original = window.fetch;
  function notice(text, link) {
    if (document.getElementById("platform-session-notice")) return;
    var box = document.createElement("div");
    box.id = "platform-session-notice";
    box.setAttribute("role", "alert");
    box.style.cssText = "position:fixed;top:0;left:0;right:0;z-index:99999;padding:12px 16px;" +
      "background:#1f2937;color:#fff;font:15px system-ui,sans-serif;text-align:center";
    box.textContent = text + " ";
    if (link) {
      var a = document.createElement("a");
      a.href = link; a.textContent = "Sign in again"; a.style.color = "#93c5fd";
      box.appendChild(a);
    }
    document.body.appendChild(box);
  }
  window.fetch = function () {
    return original.apply(this, arguments).then(function (response) {
      if (String(response.url).indexOf("/_dash-") !== -1) {
        if (response.status === 401) {
          notice("You have been signed out.",
                 "/login?next=" + encodeURIComponent(location.pathname + location.search));
        } else if (response.status === 403) {
          notice("You no longer have access to this app.", null);
        }
      }
      return response;
    });
  };
})();
</script>"""


@dataclass(frozen=True, kw_only=True)
class AppPackage:
    """An installed app package that the platform can mount."""

    slug: str
    module: str
    factory: Callable[..., Any]
    title: str
    description: str = ""
    credentials_header: bool = False


@dataclass(frozen=True, kw_only=True)
class MountedApp:
    """An app package and the Dash app built from it on this server."""

    package: AppPackage
    dash: Any


def _package(slug: str, module_name: str) -> AppPackage | None:
    if not SLUG.match(slug):
        log.error("app %r ignored: slugs are lower-case letters, digits and dashes", slug)
        return None
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        log.exception("app %r ignored: module %s cannot be imported", slug, module_name)
        return None
    factory = getattr(module, "create_app", None)
    if not callable(factory):
        log.error("app %r ignored: %s has no create_app factory", slug, module_name)
        return None
    return AppPackage(
        slug=slug,
        module=module_name,
        factory=factory,
        title=getattr(module, "TITLE", slug.title()),
        description=getattr(module, "DESCRIPTION", ""),
        credentials_header=bool(getattr(module, "CREDENTIALS_HEADER", False)),
    )


@cache
def _discover(app_modules: str) -> dict[str, AppPackage]:
    found: dict[str, str] = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    for item in filter(None, (part.strip() for part in app_modules.split(","))):
        slug, _, module_name = item.partition("=")
        found[slug.strip()] = module_name.strip()
    packages = (_package(slug, module.split(":")[0]) for slug, module in sorted(found.items()))
    return {package.slug: package for package in packages if package}


def installed_apps(settings: Settings | None = None) -> dict[str, AppPackage]:
    """The app packages installed in this environment, by slug."""
    if settings is None:
        from portal.settings import current_settings

        settings = current_settings()
    return dict(_discover(settings.app_modules))


def mount_apps(server: Flask, settings: Settings) -> dict[str, MountedApp]:
    """Build every installed app on ``server`` under /apps/<slug>/."""
    mounted: dict[str, MountedApp] = {}
    for slug, package in installed_apps(settings).items():
        dash_app = package.factory(
            server=server, url_base_pathname=f"/apps/{slug}/", settings=settings
        )
        dash_app.index_string = dash_app.index_string.replace(
            "{%renderer%}", SESSION_WATCH + "\n{%renderer%}"
        )
        mounted[slug] = MountedApp(package=package, dash=dash_app)
    server.extensions["portal_mounted_apps"] = mounted
    return mounted


def mounted_apps(server: Flask) -> dict[str, MountedApp]:
    """The Dash apps mounted on ``server``, by slug."""
    return server.extensions.get("portal_mounted_apps", {})
